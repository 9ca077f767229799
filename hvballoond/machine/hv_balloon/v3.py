"""The seed's v3 design of hv-balloon (balloon.md §4): ``hv-balloon-add-memory`` and the
hidden ``mem-hapvdimm`` memory devices.

The manager creates a memory backend and calls ``hv-balloon-add-memory {"id": backend}``. The
device wraps the backend in a ``mem-hapvdimm`` (a bus-less memory device, one memslot) and
hot-adds its range to the guest once the host is idle. A user cannot create such a device:
its realize refuses unless the protocol driver opened the gate around its own device_add
(``hapvdimm_allow_adding`` / ``hapvdimm_disallow_adding`` in the seed patch). At a system
reset every such device is removed again and HV_BALLOON_MEMORY_BACKEND_UNUSED tells the
manager the backend may be deleted (or added again once the guest reconnects).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Final

import structlog

from hvballoond.clock import Instant
from hvballoond.machine.backends import MemoryBackend
from hvballoond.machine.devices.common import add_memdev_property, warn
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import MachineEvent
from hvballoond.machine.hv_balloon.device import HvBalloon, find_hv_balloon
from hvballoond.machine.hv_balloon.our_range import OurRange
from hvballoond.machine.memdev.device import BackendRegionDevice
from hvballoond.machine.memdev.machine_manager import memory_devices
from hvballoond.machine.memory_map import FlatRange, RegionKind
from hvballoond.machine.qdev import Device
from hvballoond.machine.qom import IntCodec, Property
from hvballoond.machine.units import PAGE_SIZE, MiB
from hvballoond.wire.values import JSONObject

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["HapvdimmGate", "MemHapvdimm", "add_memory"]

log = structlog.get_logger(__name__)

NO_DEVICE: Final = "no hv-balloon device present"
NO_GUEST: Final = "no guest attached to the DM protocol yet"
NO_HOT_ADD: Final = "the current DM protocol guest has no support for memory hot add"
ALREADY_RETURNED: Final = (
    "some of the device new pages were already returned by the guest. this should not "
    "happen, please reboot the guest and try again"
)


class HapvdimmGate:
    """The seed's allow/disallow flag, per machine (a machine component)."""

    def __init__(self, machine: Machine) -> None:
        self.allowed = False


class MemHapvdimm(Device, BackendRegionDevice):
    """``mem-hapvdimm``: "vDIMM for a hot add protocol" (seed patch 1/3)."""

    TYPE = "mem-hapvdimm"
    PARENT = "device"
    ABSTRACT = False
    INTERFACES = ("memory-device",)
    # pc.c pc_get_hotplug_handler() with the seed's hunk: the machine handles it.
    USES_MACHINE_HOTPLUG_HANDLER = True

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.addr = 0
        self.align = 0
        self.memdev: MemoryBackend | None = None
        self.ever_realized = False
        self.add_property(
            Property.typed(
                "addr",
                IntCodec.UINT64,
                getter=lambda: self.addr,
                setter=self.static_setter("addr", self._set_addr),
                default=(0,),
            )
        )
        self.add_property(
            Property.typed(
                "align",
                IntCodec.UINT64,
                getter=lambda: self.align,
                setter=self.static_setter("align", self._set_align),
                default=(0,),
            )
        )
        add_memdev_property(self, lambda: self.memdev, self._set_memdev)
        self.add_property(Property.read_only("size", "uint64", self._size))

    def _set_addr(self, value: int) -> None:
        self.addr = value

    def _set_align(self, value: int) -> None:
        self.align = value

    def _set_memdev(self, backend: MemoryBackend | None) -> None:
        self.memdev = backend

    def _size(self) -> int:
        region = self.md_region()
        assert region is not None
        return region.size

    # -- memory-device hooks ----------------------------------------------------------------

    def md_min_alignment(self) -> int:
        # memory_device_pre_plug() with the ``align`` property when it is not 0.
        return self.align

    def md_info(self) -> JSONObject:
        """Reported as a DIMM with slot -1 and node 0 (PCDIMMDeviceInfo, schema order)."""
        assert self.memdev is not None
        data: JSONObject = {}
        if self.id is not None:
            data["id"] = self.id
        data["addr"] = self.addr
        data["size"] = self.memdev.size
        data["slot"] = -1
        data["node"] = 0  # the seed marks this FIXME
        data["memdev"] = self.memdev.path
        data["hotplugged"] = self.hotplugged
        data["hotpluggable"] = type(self).HOTPLUGGABLE
        return {"type": "dimm", "data": data}

    def md_info_key(self) -> Hashable:
        assert self.memdev is not None
        return (self.id, self.addr, self.memdev.size, self.memdev, self.hotplugged)

    def plugged_memory_size(self) -> int | None:
        """query-memory-size-summary: the whole backend."""
        return self.md_plugged_size()

    def mapped_ranges(self) -> list[FlatRange]:
        """The backend, mapped whole."""
        if self.memdev is None:
            return []
        return [FlatRange(self.addr, self.addr + self.memdev.size, RegionKind.RAM, self.TYPE)]

    # -- qdev hooks -------------------------------------------------------------------------

    def realize(self) -> None:
        """hapvdimm_realize(): the gate, then memory-device pre-plug, then the memdev."""
        if not self.ever_realized and not self.machine.component(HapvdimmGate).allowed:
            raise MachineError("direct adding not allowed")
        warnings: list[str] = []
        try:
            memory_devices(self.machine).pre_plug(self, warnings=warnings)
        finally:
            for text in warnings:
                warn(self.machine, text)
        if self.memdev is None:
            raise MachineError("'memdev' property is not set")
        if self.memdev.is_mapped:
            raise MachineError(f"can't use already busy memdev: {self.memdev.id}")

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Mark the backend used and plug the region (one memslot, mapped whole)."""
        self.ever_realized = True
        assert self.memdev is not None
        self.memdev.set_mapped(True)
        memory_devices(self.machine).plug(self)
        return []

    def unplug(self, now: Instant) -> list[MachineEvent]:
        """Unplug the region and let the backend go."""
        memory_devices(self.machine).unplug(self)
        if self.memdev is not None:
            self.memdev.set_mapped(False)
        return []


def _placement(machine: Machine, backend: MemoryBackend, align: int) -> int | None:
    """Where a vDIMM for ``backend`` would go (a dry run of the pre-plug); None if nowhere."""
    probe = MemHapvdimm(machine)
    probe.memdev = backend
    probe.align = align
    try:
        memory_devices(machine).pre_plug(probe, warnings=[])
    except MachineError:
        return None
    return probe.addr


def add_memory(machine: Machine, backend_id: str, now: Instant) -> list[MachineEvent]:
    """``hv-balloon-add-memory``: give the backend ``backend_id`` to the hv-balloon device.

    Checks, in the order of balloon.md §4: the device, an attached guest, the guest's hot-add
    capability, pages already "returned" in the new range; then the vDIMM's realize rules
    (placement, busy backend). The hot-add itself happens once the host is idle.

    Raises:
        MachineError: the first failing check (``NotFoundError`` for an unknown backend).
    """
    device = find_hv_balloon(machine)
    if device is None or device.engine is None:
        raise MachineError(NO_DEVICE)
    host = device.engine.host
    if not host.guest_attached:
        raise MachineError(NO_GUEST)
    if not host.caps.hot_add:
        raise MachineError(NO_HOT_ADD)
    align = host.caps.alignment_pages * PAGE_SIZE
    found = machine.backends.objects.child(backend_id)
    if isinstance(found, MemoryBackend):
        align = max(align, found.alignment)
        addr = _placement(machine, found, align)
        if addr is not None and host.returned_before(addr // PAGE_SIZE, found.size // PAGE_SIZE):
            raise MachineError(ALREADY_RETURNED)
    gate = machine.component(HapvdimmGate)
    gate.allowed = True
    try:
        dimm, events = machine.device_add(
            {"driver": MemHapvdimm.TYPE, "memdev": backend_id, "align": align}, now
        )
    finally:
        gate.allowed = False
    assert isinstance(dimm, MemHapvdimm) and dimm.memdev is not None
    our = OurRange(
        start=dimm.addr // PAGE_SIZE,
        count=dimm.memdev.size // PAGE_SIZE,
        backend_id=dimm.memdev.id,
    )
    log.info(
        "hv_balloon.v3.memory_added",
        backend=dimm.memdev.id,
        addr=dimm.addr,
        size_bytes=dimm.memdev.size,
        align=align // MiB,
    )
    return events + device.add_v3_dimm(dimm, our, now)


def v3_backends(device: HvBalloon) -> list[str]:
    """The backends added with hv-balloon-add-memory that are still in use, in order."""
    return [our.backend_id for _, our in device.v3_dimms if our.backend_id is not None]


__all__ += ["v3_backends"]
