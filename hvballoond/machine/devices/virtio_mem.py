"""``virtio-mem-pci`` and its backend ``virtio-mem`` (memory-devices.md §6.3;
hw/virtio/virtio-mem.c, virtio-mem-pci.c).

The device offers up to ``max-size`` (the memdev size) of memory in ``block-size`` units;
the host sets ``requested-size`` and the guest driver plugs or unplugs blocks inside the
*usable region* until ``size`` matches. The host side here is QEMU's request handling
(:meth:`VirtioMem.state_change_request`); the driver lives in :mod:`.guest`.
"""

from __future__ import annotations

from collections.abc import Hashable
from enum import IntEnum
from typing import TYPE_CHECKING, Final

from hvballoond.clock import Instant
from hvballoond.machine.backends import BackendKind, MemoryBackend
from hvballoond.machine.devices.common import (
    add_memdev_property,
    legacy_memdev_property,
    memory_devices,
    warn,
)
from hvballoond.machine.devices.guest import device_guest
from hvballoond.machine.devices.pci import BOOL, PropSpec
from hvballoond.machine.devices.virtio import VirtioMdDevice, VirtioMdPci
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import MachineEvent, MemoryDeviceSizeChanged
from hvballoond.machine.memdev.manager import MemslotContainer
from hvballoond.machine.memdev.memslots import MemslotSplit, virtio_mem_memslots
from hvballoond.machine.qom import (
    ON_OFF_AUTO,
    InputStyle,
    IntCodec,
    Property,
    QomType,
    SizeCodec,
)
from hvballoond.machine.units import MiB, align_up, hx, is_power_of_2
from hvballoond.wire.values import JSONObject, JSONValue

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["MIN_BLOCK_SIZE", "USABLE_EXTENT", "Response", "VirtioMem", "VirtioMemPci"]

#: ``VIRTIO_MEM_MIN_BLOCK_SIZE``.
MIN_BLOCK_SIZE: Final = 1 * MiB
#: ``VIRTIO_MEM_USABLE_EXTENT``: the usable region reaches this far beyond requested-size.
USABLE_EXTENT: Final = 256 * MiB


class Response(IntEnum):
    """virtio-mem request responses (``VIRTIO_MEM_RESP_*``)."""

    ACK = 0
    NACK = 1
    BUSY = 2
    ERROR = 3


class VirtioMem(VirtioMdDevice):
    """The ``virtio-mem`` device (the proxy's ``virtio-backend``)."""

    TYPE = "virtio-mem"
    PARENT = "virtio-device"
    proxy: VirtioMemPci

    def __init__(self, machine: Machine, proxy: VirtioMemPci) -> None:
        super().__init__(machine, proxy)
        self.node = 0
        self.prealloc = False
        self.early_migration = True
        self.dynamic_memslots = False
        self.unplugged_inaccessible = "on"
        self.block_size = 0  # 0: not set (the default applies)
        self.requested_size = 0
        self.size = 0
        self.usable_region_size = 0
        self.bitmap = bytearray()
        self.memslots: MemslotContainer | None = None
        self.nb_memslots = 0
        self.memslot_size = 0
        self._declare_properties()

    def _declare_properties(self) -> None:
        static = self.static_setter
        add = self.add_property
        add(Property.typed("dynamic-memslots", BOOL, getter=lambda: self.dynamic_memslots,
                           setter=static("dynamic-memslots", self._set_dynamic)))
        add(Property.typed("memaddr", IntCodec.UINT64, getter=lambda: self.addr,
                           setter=static("memaddr", self._set_addr)))
        add(legacy_memdev_property())
        add(Property.typed("node", IntCodec.UINT32, getter=lambda: self.node,
                           setter=static("node", self._set_node)))
        add_memdev_property(self, lambda: self.memdev, self._set_memdev)
        add(Property.typed("prealloc", BOOL, getter=lambda: self.prealloc,
                           setter=static("prealloc", self._set_prealloc)))
        add(Property.typed("x-early-migration", BOOL, getter=lambda: self.early_migration,
                           setter=static("x-early-migration", self._set_early)))
        add(Property.typed("unplugged-inaccessible", ON_OFF_AUTO,
                           getter=lambda: self.unplugged_inaccessible,
                           setter=static("unplugged-inaccessible", self._set_inaccessible)))
        add(Property("block-size", "size", getter=self.effective_block_size,
                     set_json=self._set_block_size_json, set_text=self._set_block_size_text))
        add(Property.read_only("size", "size", lambda: self.size))
        add(Property.typed("requested-size", SizeCodec(), getter=lambda: self.requested_size,
                           setter=self.set_requested_size))

    # -- plain setters ----------------------------------------------------------------------

    def _set_dynamic(self, value: bool) -> None:
        self.dynamic_memslots = value

    def _set_addr(self, value: int) -> None:
        self.addr = value

    def _set_node(self, value: int) -> None:
        self.node = value

    def _set_memdev(self, backend: MemoryBackend | None) -> None:
        self.memdev = backend

    def _set_prealloc(self, value: bool) -> None:
        self.prealloc = value

    def _set_early(self, value: bool) -> None:
        self.early_migration = value

    def _set_inaccessible(self, value: str) -> None:
        self.unplugged_inaccessible = value

    # -- block-size -------------------------------------------------------------------------

    def default_block_size(self, backend: MemoryBackend) -> int:
        """``virtio_mem_default_block_size``: THP size for normal pages, else >= 1 MiB."""
        host = self.machine.host
        if backend.page_size == host.page_size:
            return max(backend.page_size, host.thp_size)
        return max(backend.page_size, MIN_BLOCK_SIZE)

    def effective_block_size(self) -> int:
        """The ``block-size`` property: the configured value or the default for the memdev."""
        if self.block_size:
            return self.block_size
        if self.memdev is not None and self.memdev.is_ram:
            return self.default_block_size(self.memdev)
        return self.machine.host.thp_size

    def _set_block_size_json(self, value: JSONValue) -> None:
        # virtio_mem_set_block_size(): "cannot be changed" comes before the value is read.
        if self.realized:
            raise MachineError("'block-size' cannot be changed")
        self._check_block_size(SizeCodec().from_json("block-size", value))

    def _set_block_size_text(self, text: str, style: InputStyle) -> None:
        if self.realized:
            raise MachineError("'block-size' cannot be changed")
        self._check_block_size(SizeCodec().from_text("block-size", text, style))

    def _check_block_size(self, value: int) -> None:
        if value < MIN_BLOCK_SIZE:
            raise MachineError(f"'block-size' property has to be at least {hx(MIN_BLOCK_SIZE)}")
        if not is_power_of_2(value):
            raise MachineError("'block-size' property has to be a power of two")
        self.block_size = value

    # -- requested-size ---------------------------------------------------------------------

    def set_requested_size(self, value: int) -> None:
        """``virtio_mem_set_requested_size``: checked against the device once realized."""
        if not self.realized:
            self.requested_size = value
            return
        assert self.memdev is not None
        if value % self.block_size:
            raise MachineError(
                f"'requested-size' has to be multiples of 'block-size' ({hx(self.block_size)})"
            )
        if value > self.memdev.size:
            raise MachineError(
                f"'requested-size' cannot exceed the memory backend size({hx(self.memdev.size)})"
            )
        if value != self.requested_size:
            self._resize_usable_region(value, can_shrink=False)
            self.requested_size = value
        # The guest is notified even when nothing changed (virtio_notify_config). Setters
        # get no time, so a simulated driver hears of it at the next advance().
        if device_guest(self.machine).policy.virtio_mem:
            self.machine.schedule_host(0, ("virtio-mem-config", id(self)), self._notify_guest)

    def _notify_guest(self, now: Instant) -> list[MachineEvent]:
        device_guest(self.machine).virtio_mem_config_changed(self, now)
        return []

    def _resize_usable_region(self, requested: int, *, can_shrink: bool) -> None:
        assert self.memdev is not None
        new_size = align_up(min(self.memdev.size, requested + USABLE_EXTENT), self.block_size)
        if not requested:
            new_size = 0
        if new_size < self.usable_region_size and not can_shrink:
            return
        self.usable_region_size = new_size

    # -- memslots (dynamic-memslots=on) -----------------------------------------------------

    def decide_memslots(self, limit: int) -> None:
        """``virtio_mem_decide_memslots`` (memory-devices.md §4.2)."""
        if not self.dynamic_memslots:
            return
        backend = self.memdev
        if limit <= 1 or backend is None or not backend.is_ram:
            self.nb_memslots = 1
            return
        if not self.block_size:
            self.block_size = self.default_block_size(backend)
        if self.block_size < backend.page_size or backend.size % self.block_size:
            self.nb_memslots = 1  # realize is going to fail anyway
            return
        split = virtio_mem_memslots(
            region_size=backend.size, block_size=self.block_size, limit=limit
        )
        self.nb_memslots = split.count
        if split.count != 1:
            self.memslot_size = split.size

    # -- realize ----------------------------------------------------------------------------

    def realize(self) -> None:
        """``virtio_mem_device_realize`` checks 1-10 (memory-devices.md §6.3)."""
        backend = self.memdev
        if backend is None:
            raise MachineError("'memdev' property is not set")
        if backend.is_mapped:
            raise MachineError(f"'memdev' property specifies a busy memdev: {backend.id}")
        if not backend.is_ram or backend.readonly:
            raise MachineError("'memdev' property specifies an unsupported memdev")
        if backend.prealloc:
            raise MachineError(
                f"'memdev' property specifies a memdev with preallocation enabled: {backend.id}"
                ". Instead, specify 'prealloc=on' for the virtio-mem device. "
            )
        nodes = self.machine.numa_node_count
        if (nodes and self.node >= nodes) or (not nodes and self.node):
            raise MachineError(
                f"'node' property has value '{self.node}', which exceedsthe number of numa "
                f"nodes: {nodes or 1}"
            )
        if self.machine.config.mem_lock:
            raise MachineError("Incompatible with mlock")
        # virtio_mem_has_shared_zeropage(): private anonymous RAM with base pages only.
        shared_zeropage = (
            backend.kind is BackendKind.RAM
            and not backend.share
            and backend.page_size == self.machine.host.page_size
        )
        if self.unplugged_inaccessible == "auto":
            self.unplugged_inaccessible = "off" if shared_zeropage else "on"
        elif self.unplugged_inaccessible == "off" and not shared_zeropage:
            warn(self.machine, "'unplugged-inaccessible' property set to 'off' with a memdev "
                 "that does not support the shared zeropage.")
        if self.dynamic_memslots and self.unplugged_inaccessible != "on":
            raise MachineError(
                "'dynamic-memslots' property set to 'on' requires 'unplugged-inaccessible' to "
                "be 'on'"
            )
        if not self.block_size:
            self.block_size = self.default_block_size(backend)
        default = self.default_block_size(backend)
        if self.block_size < backend.page_size:
            raise MachineError(
                f"'block-size' property has to be at least the page size ({hx(backend.page_size)})"
            )
        if self.block_size < default:
            warn(self.machine, f"'block-size' property is smaller than the default block size "
                 f"({default // MiB:x} MiB)")
        if self.requested_size % self.block_size:
            raise MachineError(
                f"'requested-size' property has to be multiples of 'block-size' "
                f"({hx(self.block_size)})"
            )
        if self.addr % self.block_size:
            raise MachineError(
                f"'memaddr' property has to be multiples of 'block-size' ({hx(self.block_size)})"
            )
        if backend.size % self.block_size:
            raise MachineError(
                "'memdev' property memdev size has to be multiples of'block-size' "
                f"({hx(self.block_size)})"
            )
        self._resize_usable_region(self.requested_size, can_shrink=True)
        self.bitmap = bytearray(backend.size // self.block_size)
        if self.dynamic_memslots and self.nb_memslots <= 1:
            self.nb_memslots = 1
            self.memslot_size = backend.size

    # -- the guest's requests (virtio-mem request queue) -------------------------------------

    def _valid_range(self, gpa: int, size: int) -> bool:
        # virtio_mem_valid_range()
        return (
            gpa % self.block_size == 0
            and size > 0
            and self.addr <= gpa < self.addr + self.usable_region_size
            and gpa + size <= self.addr + self.usable_region_size
        )

    def state_change_request(
        self, gpa: int, nb_blocks: int, *, plug: bool
    ) -> tuple[Response, list[MachineEvent]]:
        """A guest plug/unplug request (``virtio_mem_state_change_request``)."""
        size = nb_blocks * self.block_size
        if not self._valid_range(gpa, size):
            return Response.ERROR, []
        if plug and self.size + size > self.requested_size:
            return Response.NACK, []
        first = (gpa - self.addr) // self.block_size
        blocks = self.bitmap[first : first + nb_blocks]
        # Every block must be in the opposite state.
        opposite = not any(blocks) if plug else all(blocks)
        if not opposite:
            return Response.ERROR, []
        self.bitmap[first : first + nb_blocks] = (b"\x01" if plug else b"\x00") * nb_blocks
        self._update_memslots(first, nb_blocks, plug=plug)
        self.size += size if plug else -size
        return Response.ACK, [self._size_changed()]

    def _update_memslots(self, first: int, count: int, *, plug: bool) -> None:
        if self.memslots is None:
            return
        offset, length = first * self.block_size, count * self.block_size
        for index in self.memslots.indexes_covering(offset, length):
            if plug:
                self.memslots.map(index)
                continue
            start, size = self.memslots.bounds(index)
            lo, hi = start // self.block_size, (start + size) // self.block_size
            if not any(self.bitmap[lo:hi]):
                self.memslots.unmap(index)

    def _size_changed(self) -> MemoryDeviceSizeChanged:
        return MemoryDeviceSizeChanged(id=self.proxy.id, size=self.size, qom_path=self.proxy.path)

    def unplug_all(self) -> list[MachineEvent]:
        """``virtio_mem_unplug_all``: everything unplugged, usable region recomputed."""
        events: list[MachineEvent] = []
        if self.size:
            self.bitmap = bytearray(len(self.bitmap))
            self.size = 0
            events.append(self._size_changed())
            if self.memslots is not None:
                self.memslots.unmap_all()
        self._resize_usable_region(self.requested_size, can_shrink=True)
        return events

    def reset(self, now: Instant) -> list[MachineEvent]:
        """System reset (not wake-up): unplug everything (``virtio_mem_system_reset_hold``)."""
        return self.unplug_all()

    # -- the guest driver's view (guest.VirtioMemDriverPort) --------------------------------

    def driver_unplugging(self) -> bool:
        return self.size > self.requested_size

    def driver_step(self, chunk: int, now: Instant) -> tuple[bool, list[MachineEvent]]:
        """One request of the simulated Linux driver, toward ``requested-size``."""
        block = self.block_size
        # Linux plugs one memory block (``chunk``) per request, or one device block when
        # those are bigger (its "big block mode").
        chunk = max(chunk, block)
        if self.size < self.requested_size:
            want = min(chunk, self.requested_size - self.size) // block
            usable = self.usable_region_size // block
            start = self.bitmap.find(0, 0, usable)
            if want == 0 or start < 0:
                return False, []
            end = self.bitmap.find(1, start, min(start + want, usable))
            count = (end if end >= 0 else min(start + want, usable)) - start
            response, events = self.state_change_request(
                self.addr + start * block, count, plug=True
            )
        elif self.size > self.requested_size:
            want = min(chunk, self.size - self.requested_size) // block
            last = self.bitmap.rfind(1)
            if want == 0 or last < 0:
                return False, []
            gap = self.bitmap.rfind(0, max(last + 1 - want, 0), last + 1)
            start = gap + 1 if gap >= 0 else max(last + 1 - want, 0)
            response, events = self.state_change_request(
                self.addr + start * block, last + 1 - start, plug=False
            )
        else:
            return False, []
        if response is not Response.ACK:
            return False, []
        return self.size != self.requested_size, events


_VIRTIO_MEM_PCI_PROPS: Final[tuple[PropSpec, ...]] = (
    ("vectors", IntCodec.UINT32, 2),
    ("ioeventfd", BOOL, True),
)


class VirtioMemPci(VirtioMdPci):
    """``virtio-mem-pci``."""

    TYPE = "virtio-mem-pci"
    PARENT = "virtio-mem-pci-base"
    ABSTRACT = False
    BACKEND = VirtioMem
    EXTRA_TYPES = (
        *VirtioMdPci.EXTRA_TYPES,
        QomType("virtio-mem-pci-base", "virtio-md-pci", abstract=True),
        QomType("virtio-mem", "virtio-device"),
    )
    CLASS_PROPS = _VIRTIO_MEM_PCI_PROPS
    UNPLUGGABLE = True
    md_decides_memslots = True
    vdev: VirtioMem
    LAYOUT = (
        "mr:msix-pba[0]", "alias:notify_on_empty", "mr:virtio-pci-notify-virtio-mem[0]",
        "alias:memaddr", "bus", "alias:node", "alias:in_order", "backend", "alias:packed",
        "mr:virtio-mem-pci-msix[0]", "alias:prealloc", "alias:dynamic-memslots", "alias:size",
        "mr:virtio-pci-notify-pio-virtio-mem[0]", "alias:x-early-migration",
        "alias:iommu_platform", "mr:bus master container[0]", "alias:use-started",
        "alias:use-disabled-flag", "alias:any_layout", "alias:x-disable-legacy-check",
        "mr:virtio-pci-isr-virtio-mem[0]", "mr:virtio-pci-device-virtio-mem[0]",
        "alias:unplugged-inaccessible", "mr:bus master[0]", "alias:legacy-memdev",
        "mr:msix-table[0]", "mr:virtio-pci[0]", "mr:virtio-pci-common-virtio-mem[0]",
        "alias:queue_reset", "alias:memdev", "alias:block-size", "requested-size",
        "alias:event_idx", "alias:indirect_desc",
    )

    def add_layout_entry(self, name: str) -> None:
        """``requested-size``: the proxy's own property, frozen during an unplug."""
        if name != "requested-size":
            super().add_layout_entry(name)
            return

        def set_json(value: JSONValue) -> None:
            self._check_not_unplugging()
            self.vdev.set_json("requested-size", value)

        def set_text(text: str, style: InputStyle) -> None:
            self._check_not_unplugging()
            self.vdev.set_text("requested-size", text, style)

        self.add_property(Property("requested-size", "size",
                                   getter=lambda: self.vdev.requested_size,
                                   set_json=set_json, set_text=set_text))

    def _check_not_unplugging(self) -> None:
        if self.pending_deleted_event:
            raise MachineError(
                "'requested-size' cannot be changed if the device is in the process of unplug"
            )

    # -- memory-device hooks ----------------------------------------------------------------

    def md_min_alignment(self) -> int:
        return self.vdev.effective_block_size()

    def md_decide_memslots(self, limit: int) -> None:
        self.vdev.decide_memslots(limit)

    def md_memslots(self) -> int:
        return self.vdev.nb_memslots if self.vdev.dynamic_memslots else 1

    def md_maps_whole_region(self) -> bool:
        return not self.vdev.dynamic_memslots

    def md_plugged_size(self) -> int:
        return self.vdev.size

    def md_info(self) -> JSONObject:
        vdev = self.vdev
        assert vdev.memdev is not None
        data: JSONObject = {}
        if self.id is not None:
            data["id"] = self.id
        data["memaddr"] = vdev.addr
        data["requested-size"] = vdev.requested_size
        data["size"] = vdev.size
        data["max-size"] = vdev.memdev.size
        data["block-size"] = vdev.block_size
        data["node"] = vdev.node
        data["memdev"] = vdev.memdev.path
        return {"type": "virtio-mem", "data": data}

    def md_info_key(self) -> Hashable:
        vdev = self.vdev
        assert vdev.memdev is not None
        return (self.id, vdev.addr, vdev.requested_size, vdev.size, vdev.memdev.size,
                vdev.block_size, vdev.node, vdev.memdev)

    # -- qdev hooks -------------------------------------------------------------------------

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Plug, prepare the memslots, and let the guest driver bind."""
        events = super().plug(now)
        vdev = self.vdev
        if vdev.dynamic_memslots:
            assert vdev.memdev is not None
            vdev.memslots = MemslotContainer(
                memory_devices(self.machine), self,
                MemslotSplit(vdev.nb_memslots, vdev.memslot_size), vdev.memdev.size,
            )
        device_guest(self.machine).virtio_mem_added(vdev, now)
        return events

    def unplug_request_check(self) -> None:
        """``virtio_mem_unplug_request_check`` (device_del rules 4-6)."""
        vdev = self.vdev
        if vdev.unplugged_inaccessible == "off":
            raise MachineError(
                "virtio-mem device cannot get unplugged while 'unplugged-inaccessible' != 'on'"
            )
        if vdev.size:
            raise MachineError(
                "virtio-mem device cannot get unplugged while some of its memory is still "
                "plugged"
            )
        if vdev.requested_size:
            raise MachineError(
                "virtio-mem device cannot get unplugged while 'requested-size' != '0'"
            )

    def unplug(self, now: Instant) -> list[MachineEvent]:
        """The driver unbinds; then the memory-device and PCI teardown."""
        device_guest(self.machine).virtio_mem_removed(self.vdev)
        return super().unplug(now)

