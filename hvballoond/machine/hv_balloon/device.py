"""The ``vmbus-bridge`` and ``hv-balloon`` device types (balloon.md §3, memory-devices.md §6.5).

``vmbus-bridge`` provides the ``vmbus`` bus. QEMU refuses it without Hyper-V SynIC
(``VMBus requires usable Hyper-V SynIC and VP_INDEX``); hvballoond accepts it and simulates
the guest side (proposal).

``hv-balloon`` sits on that bus, is the machine's balloon handler, and is a memory device
whose region is its optional ``memdev`` (32 GiB aligned, N memslots mapped as memory is
hot-added). The protocol work is done by an :class:`~.engine.HvBalloonEngine`; this module
wires it to the machine: commands, resets, the guest's boot, the virtual clock, the RAM map
the host classifies returned pages with, and the memslots.
"""

from __future__ import annotations

import random
import uuid
from bisect import bisect_right
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, ClassVar, Final

import structlog

from hvballoond.clock import Instant
from hvballoond.machine.backends import MemoryBackend
from hvballoond.machine.balloon.core import balloon_core, balloon_guest_config
from hvballoond.machine.devices.common import add_memdev_property, legacy_memdev_property, warn
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import HvBalloonBackendUnused, MachineEvent
from hvballoond.machine.hv_balloon.engine import HvBalloonEngine
from hvballoond.machine.hv_balloon.guest_sim import GuestLayout, GuestPolicy
from hvballoond.machine.hv_balloon.host import MemdevArea, PageKind
from hvballoond.machine.hv_balloon.our_range import OurRange
from hvballoond.machine.memdev.device import DeviceRegion, MemoryDevice
from hvballoond.machine.memdev.machine_manager import memory_devices
from hvballoond.machine.memdev.manager import MemslotContainer
from hvballoond.machine.memdev.memslots import MemslotSplit, hv_balloon_memslots
from hvballoond.machine.memory_map import FlatRange, RegionKind
from hvballoond.machine.qdev import Bus, Device
from hvballoond.machine.qom import BoolCodec, IntCodec, Property, StrCodec
from hvballoond.machine.units import PAGE_SIZE, GiB
from hvballoond.wire.values import JSONObject

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = [
    "HV_BALLOON_GUID",
    "HvBalloon",
    "MachineRamMap",
    "VmbusBridge",
    "find_hv_balloon",
]

log = structlog.get_logger(__name__)

#: The DM device's VMBus class id (hw/hyperv/hv-balloon.c).
HV_BALLOON_GUID: Final = "525074DC-8985-46e2-8057-A307DC18A502"
#: hv_balloon_md_get_min_alignment(): the largest alignment a guest may ask for.
HV_BALLOON_ALIGN: Final = 32 * GiB
_INSTANCEID_AUTO: Final = "auto"
_STATUS_SPELLINGS: Final = ("committed", "commited")


# --------------------------------------------------------------------------------------------
# vmbus-bridge
# --------------------------------------------------------------------------------------------


class VmbusBridge(Device):
    """``vmbus-bridge``: the VMBus host bridge (a sysbus device providing bus ``vmbus``)."""

    TYPE = "vmbus-bridge"
    PARENT = "sys-bus-device"
    ABSTRACT = False
    BUS_TYPE = "System"

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.irq = 7
        self.add_property(
            Property.typed(
                "irq",
                IntCodec.UINT8,
                getter=lambda: self.irq,
                setter=self.static_setter("irq", self._set_irq),
                default=(7,),
            )
        )
        self.vmbus: Bus | None = None

    def _set_irq(self, value: int) -> None:
        self.irq = value

    def realize(self) -> None:
        """vmbus_bridge_realize(); the SynIC requirement is not simulated (proposal)."""
        others = [d for d in self.machine.qdev.all_devices() if isinstance(d, VmbusBridge)]
        if others:
            raise MachineError("there can be at most one vmbus-bridge in the system")

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Create the ``vmbus`` bus (no hotplug handler: nothing is hot-pluggable there)."""
        bus = Bus("vmbus", "vmbus", hotpluggable=False, owner=self, has_hotplug_handler=False)
        self.vmbus = self.machine.qdev.add_bus(bus, parent=self)
        return []


# --------------------------------------------------------------------------------------------
# What the host sees of the machine
# --------------------------------------------------------------------------------------------


class MachineRamMap:
    """The machine's flat view as the host's :class:`~.host.RamMap`, in pages.

    Boot RAM and firmware come from the memory map; everything memory devices map (DIMMs,
    virtio-mem blocks, hv-balloon memslots, v3 vDIMMs) from the devices themselves.
    """

    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    def classifier(self) -> Callable[[int], tuple[PageKind, int, int]]:
        """A classification function over a snapshot of the current flat view."""
        ranges = sorted(
            [*self.machine.memory_map.boot_ranges(), *self.machine.mapped_ranges()],
            key=lambda r: r.start,
        )
        starts = [r.start for r in ranges]

        def classify(pfn: int) -> tuple[PageKind, int, int]:
            addr = pfn * PAGE_SIZE
            idx = bisect_right(starts, addr) - 1
            if idx >= 0 and addr < ranges[idx].end:
                found = ranges[idx]
                if (found.end - addr) < PAGE_SIZE:
                    return PageKind.SUBPAGE, pfn, pfn + 1
                kind = PageKind.RAM if found.kind is RegionKind.RAM else PageKind.NOT_RAM
                first = -(-found.start // PAGE_SIZE)
                return kind, min(first, pfn), found.end // PAGE_SIZE
            gap_lo = ranges[idx].end if idx >= 0 else 0
            gap_hi = ranges[idx + 1].start if idx + 1 < len(ranges) else 1 << 52
            return PageKind.NOT_FOUND, gap_lo // PAGE_SIZE, -(-gap_hi // PAGE_SIZE)

        return classify


class _ContainerMapper:
    """Maps an hv-balloon's memslots through the memory-device manager."""

    def __init__(self, container: MemslotContainer) -> None:
        self.container = container

    def ensure_mapped_prefix(self, size: int) -> None:
        self.container.ensure_mapped_prefix(size)

    def release(self) -> None:
        # hvb_our_range_memslots_free(): discard the backend (nothing to do here: hvballoond
        # holds no guest memory) and unmap every memslot.
        self.container.unmap_all()


def _guest_layout(machine: Machine, memdev: tuple[int, int] | None) -> GuestLayout:
    boot: list[tuple[int, int]] = []
    rom: list[tuple[int, int]] = []
    for flat in machine.memory_map.boot_ranges():
        start = -(-flat.start // PAGE_SIZE)
        count = flat.end // PAGE_SIZE - start
        if count > 0:
            (boot if flat.kind is RegionKind.RAM else rom).append((start, count))
    return GuestLayout(boot_ram=tuple(boot), rom=tuple(rom), memdev=memdev)


def find_hv_balloon(machine: Machine) -> HvBalloon | None:
    """``object_resolve_path_type("", TYPE_HV_BALLOON)``: the machine's hv-balloon."""
    for device in machine.qdev.all_devices():
        if isinstance(device, HvBalloon):
            return device
    return None


# --------------------------------------------------------------------------------------------
# hv-balloon
# --------------------------------------------------------------------------------------------


class HvBalloon(Device, MemoryDevice):
    """``hv-balloon``: the Hyper-V Dynamic Memory protocol device."""

    TYPE = "hv-balloon"
    PARENT = "vmbus-dev"
    ABSTRACT = False
    BUS_TYPE = "vmbus"
    INTERFACES = ("memory-device",)
    USES_MACHINE_HOTPLUG_HANDLER = True
    md_decides_memslots: ClassVar[bool] = True

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.instanceid = _INSTANCEID_AUTO
        self.status_report = False
        self.memdev: MemoryBackend | None = None
        self.addr = 0
        self.v3_status_field = "committed"
        self.split = MemslotSplit(0, 0)
        self.slots: MemslotContainer | None = None
        self.engine: HvBalloonEngine | None = None
        #: v3: the hidden vDIMMs added with hv-balloon-add-memory, in the order added.
        self.v3_dimms: list[tuple[Device, OurRange]] = []
        self._last_vnow = 0
        self._declare_properties()

    def _declare_properties(self) -> None:
        self.add_property(
            Property(
                "instanceid",
                "str",
                getter=lambda: self.instanceid,
                set_json=lambda v: self.static_setter("instanceid", self._set_instanceid)(
                    StrCodec().from_json("instanceid", v)
                ),
                set_text=lambda t, _s: self.static_setter("instanceid", self._set_instanceid)(t),
                description='UUID (aka GUID) or "auto" for random value (default)',
                default=(_INSTANCEID_AUTO,),
            )
        )
        self.add_property(
            Property.typed(
                "status-report",
                BoolCodec(),
                getter=lambda: self.status_report,
                setter=self.static_setter("status-report", self._set_status_report),
                description="on/off",
                default=(False,),
            )
        )
        add_memdev_property(self, lambda: self.memdev, self._set_memdev)
        self.add_property(
            Property.typed(
                "addr",
                IntCodec.UINT64,
                getter=lambda: self.addr,
                setter=self.static_setter("addr", self._set_addr),
                default=(0,),
            )
        )
        self.add_property(legacy_memdev_property())
        # hvballoond extension: the member name of the v3 status event (balloon.md §4).
        self.add_property(
            Property(
                "v3-status-field",
                "str",
                getter=lambda: self.v3_status_field,
                set_json=lambda v: self.static_setter("v3-status-field", self._set_spelling)(
                    StrCodec().from_json("v3-status-field", v)
                ),
                set_text=lambda t, _s: self.static_setter("v3-status-field", self._set_spelling)(t),
                default=("committed",),
            )
        )

    # -- property setters -------------------------------------------------------------------

    def _set_instanceid(self, value: str) -> None:
        if value != _INSTANCEID_AUTO:
            try:
                uuid.UUID(value)
            except ValueError:
                raise MachineError(
                    f"Property '{self.qom_type}.instanceid' doesn't take value '{value}'"
                ) from None
        self.instanceid = value

    def _set_status_report(self, value: bool) -> None:
        self.status_report = value

    def _set_memdev(self, backend: MemoryBackend | None) -> None:
        self.memdev = backend

    def _set_addr(self, value: int) -> None:
        self.addr = value

    def _set_spelling(self, value: str) -> None:
        if value not in _STATUS_SPELLINGS:
            raise MachineError(
                f"Property '{self.qom_type}.v3-status-field' doesn't take value '{value}'"
            )
        self.v3_status_field = value

    # -- memory-device hooks ----------------------------------------------------------------

    def md_id(self) -> str | None:
        return self.id

    def md_region(self) -> DeviceRegion | None:
        """The memdev, or None: without one the device is *empty* (G0)."""
        if self.memdev is None:
            return None
        return DeviceRegion(self.memdev.size, self.memdev.alignment)

    def md_addr(self) -> int:
        return self.addr

    def md_set_addr(self, addr: int) -> None:
        self.addr = addr

    def md_maps_whole_region(self) -> bool:
        """No: memslots are mapped one by one as memory is hot-added."""
        return False

    def md_min_alignment(self) -> int:
        """A guest may ask for up to 32 GiB of hot-add alignment."""
        return HV_BALLOON_ALIGN

    def md_decide_memslots(self, limit: int) -> None:
        """hv_balloon_decide_memslots(): 128 MiB-aligned memslots."""
        assert self.memdev is not None
        self.split = hv_balloon_memslots(region_size=self.memdev.size, limit=limit)

    def md_memslots(self) -> int:
        return self.split.count

    def md_info(self) -> JSONObject:
        """HvBalloonDeviceInfo, members in schema order."""
        data: JSONObject = {}
        if self.id is not None:
            data["id"] = self.id
        if self.memdev is not None:
            data["memaddr"] = self.addr
            data["max-size"] = self.memdev.size
            data["memdev"] = self.memdev.path
        else:
            data["max-size"] = 0
        return {"type": "hv-balloon", "data": data}

    def md_info_key(self) -> Hashable:
        if self.memdev is None:
            return (self.id,)
        return (self.id, self.addr, self.memdev.size, self.memdev)

    def plugged_memory_size(self) -> int | None:
        """query-memory-size-summary: the whole memdev, whatever was hot-added."""
        return self.md_plugged_size()

    def mapped_ranges(self) -> list[FlatRange]:
        """The memslots mapped so far (each is ordinary RAM)."""
        return [
            FlatRange(sec.start, sec.end, RegionKind.RAM, self.TYPE)
            for sec in memory_devices(self.machine).sections_of(self)
        ]

    # -- qdev hooks -------------------------------------------------------------------------

    def pre_plug(self) -> None:
        """pc_hv_balloon_pre_plug(): the memory-device checks (skipped when empty)."""
        warnings: list[str] = []
        try:
            memory_devices(self.machine).pre_plug(self, warnings=warnings)
        finally:
            for text in warnings:
                warn(self.machine, text)

    def realize(self) -> None:
        """hv_balloon_vmdev_realize() checks, in order."""
        if not balloon_core(self.machine).can_register():
            raise MachineError("Only one balloon device is supported")
        if self.memdev is not None:
            if self.memdev.is_mapped:
                raise MachineError(f"'memdev' property specifies a busy memdev: {self.memdev.id}")
            if self.memdev.size % PAGE_SIZE:
                raise MachineError("'memdev' property memdev size has to be a multiple of 0x1000")
        elif self.addr:
            raise MachineError("'memdev' property must not be set without a memdev")

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Take the balloon slot, map the backend, account it, and reset the protocol."""
        machine = self.machine
        if self.instanceid == _INSTANCEID_AUTO:
            # QEMU draws a random UUID; ours is derived from the device path (reproducible).
            self.instanceid = str(uuid.UUID(int=random.Random(self.path).getrandbits(128)))
        manager = memory_devices(machine)
        memdev_area: MemdevArea | None = None
        if self.memdev is not None:
            self.memdev.set_mapped(True)
        manager.plug(self)
        if self.memdev is not None:
            self.slots = MemslotContainer(manager, self, self.split, self.memdev.size)
            memdev_area = MemdevArea(
                self.addr // PAGE_SIZE, self.memdev.size // PAGE_SIZE, _ContainerMapper(self.slots)
            )
        ram_map = MachineRamMap(machine)
        self.engine = HvBalloonEngine(
            ram_map=ram_map,
            boot_ram_bytes=lambda: machine.config.ram_size + manager.dimm_size,
            memdev=memdev_area,
            status_report=self.status_report,
            v3_status_spelling=self.v3_status_field == "commited",
        )
        balloon_core(machine).register(self)
        # QEMU resets every device once the machine is built: the host waits for a guest.
        events = self.engine.device_reset(self._vnow(now))
        if machine.guest_booted:
            events += self.guest_booted(now)
        return events

    def unplug(self, now: Instant) -> list[MachineEvent]:
        """The device goes away: give every backend back (v3: one event each)."""
        events = self._drop_v3(now, dropped=[our for _, our in self.v3_dimms])
        engine = self.engine
        if engine is not None:
            engine.host.system_reset()
            engine.link.attach(None)
        self.machine.cancel_timer(self._timer_key)
        balloon_core(self.machine).unregister(self)
        memory_devices(self.machine).unplug(self)
        if self.memdev is not None:
            self.memdev.set_mapped(False)
        return events

    def reset(self, now: Instant) -> list[MachineEvent]:
        """System reset: device reset, hot-added memory dropped, the guest is gone (§3.11)."""
        engine = self.engine
        if engine is None:
            return []
        events, dropped = engine.system_reset(self._vnow(now))
        events += self._drop_v3(now, dropped=dropped)
        return self._settle(events)

    def guest_booted(self, now: Instant) -> list[MachineEvent]:
        """The guest OS booted: its DM driver (if it has one) starts and will connect."""
        engine = self.engine
        if engine is None:
            return []
        config = balloon_guest_config(self.machine)
        engine.host.post_init_wait_ns = config.post_init_wait_ns
        policy: GuestPolicy | None = config.dm
        if policy is None:
            return []
        memdev = None
        if self.memdev is not None:
            memdev = (self.addr // PAGE_SIZE, self.memdev.size // PAGE_SIZE)
        engine.attach_guest(
            policy=policy,
            layout=_guest_layout(self.machine, memdev),
            rng=random.Random(config.seed),
            vnow_ns=self._vnow(now),
        )
        return self._settle(engine.pump(self._vnow(now)))

    # -- balloon handler --------------------------------------------------------------------

    def balloon_to_target(self, target: int, now: Instant) -> list[MachineEvent]:
        """hv_balloon_to_target(): a new logical VM size (§3.5)."""
        assert self.engine is not None
        return self._settle(self.engine.set_target(target, self._vnow(now)))

    def balloon_actual(self) -> int:
        """hv_balloon_stat(): ``(T - Rb) * 4096`` (§3.2)."""
        assert self.engine is not None
        return self.engine.host.actual_bytes()

    # -- status report ----------------------------------------------------------------------

    def status_report_info(self) -> JSONObject:
        """``query-hv-balloon-status-report`` (HvBalloonInfo members in schema order).

        Raises:
            MachineError: reporting off, or no report since the channel opened.
        """
        assert self.engine is not None
        committed, available = self.engine.host.status()
        return {"committed": committed, "available": available}

    # -- the virtual clock ------------------------------------------------------------------

    def _vnow(self, now: Instant, *, at: int | None = None) -> int:
        """Virtual time for the engine: ``at`` (a timer's own deadline) or the clock, never
        earlier than what the engine has already seen."""
        vnow = self.machine.virtual_ns(now) if at is None else at
        self._last_vnow = max(self._last_vnow, vnow)
        return self._last_vnow

    @property
    def _timer_key(self) -> tuple[str, int]:
        return ("hv-balloon", id(self))

    def _settle(self, events: list[MachineEvent]) -> list[MachineEvent]:
        """Re-arm the machine timer for the engine's next deadline; pass ``events`` on."""
        engine = self.engine
        deadline = None if engine is None else engine.next_deadline()
        if deadline is None:
            self.machine.cancel_timer(self._timer_key)
            return events

        def fire(now: Instant) -> list[MachineEvent]:
            # Run the engine at its own deadline, so periodic guest actions keep their
            # cadence even when the clock jumped; the machine calls us again for the next.
            assert self.engine is not None
            out = self._settle(self.engine.advance(self._vnow(now, at=deadline)))
            guest = self.engine.guest
            if guest is not None and guest.take_reset_request():
                out += self.machine.guest_reset(now)
            return out

        self.machine.schedule_guest(deadline, self._timer_key, fire)
        return events

    # -- v3 design --------------------------------------------------------------------------

    def _drop_v3(self, now: Instant, *, dropped: list[OurRange]) -> list[MachineEvent]:
        """Remove the vDIMMs of dropped v3 areas; one BACKEND_UNUSED per backend, in order."""
        events: list[MachineEvent] = []
        gone = {id(our) for our in dropped}
        keep: list[tuple[Device, OurRange]] = []
        for dimm, our in self.v3_dimms:
            if id(our) not in gone:
                keep.append((dimm, our))
                continue
            if self.engine is not None:
                self.engine.host.remove_v3_range(our)
            events += self.machine.qdev.finalize(dimm, now)
            assert our.backend_id is not None
            events.append(HvBalloonBackendUnused(our.backend_id))
        self.v3_dimms = keep
        return events

    def add_v3_dimm(self, dimm: Device, our: OurRange, now: Instant) -> list[MachineEvent]:
        """Hand a realized v3 vDIMM's range to the host for hot-adding."""
        assert self.engine is not None
        self.v3_dimms.append((dimm, our))
        return self._settle(self.engine.add_v3_range(our, self._vnow(now)))
