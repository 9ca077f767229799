"""The machine's memory devices: plug/unplug accounting, listing and mapped RAM sections.

One :class:`MemoryDeviceManager` per machine holds QEMU's ``DeviceMemoryState`` (region,
``used_region_size``, memslot counters, ``dimm_size``) and the plugged devices. Device types
call :meth:`~MemoryDeviceManager.pre_plug` from their pre-plug hook and
:meth:`~MemoryDeviceManager.plug` / :meth:`~MemoryDeviceManager.unplug` from plug/unplug;
queries (``query-memory-devices``, ``plugged-memory``) read :meth:`devices` and
:meth:`plugged_size`.

Container devices (virtio-mem with ``dynamic-memslots=on``, hv-balloon) map their memslots
one by one with :class:`MemslotContainer`; every mapped piece is one RAM section (one used
memslot), which is also what hv-balloon's page classification looks up with
:meth:`~MemoryDeviceManager.section_at`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

import structlog

from hvballoond.machine.memdev.address_space import AddressSpace
from hvballoond.machine.memdev.device import MemoryDevice
from hvballoond.machine.memdev.memslots import MemslotAccounting, MemslotLimits, MemslotSplit
from hvballoond.machine.memdev.preplug import pre_plug
from hvballoond.machine.memory_map import DeviceMemoryRegion

__all__ = ["MappedSection", "MemoryDeviceManager", "MemslotContainer"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class MappedSection:
    """A RAM section mapped inside the device-memory region (guest-physical bytes)."""

    start: int
    size: int
    owner: MemoryDevice

    @property
    def end(self) -> int:
        """First address after the section."""
        return self.start + self.size


@dataclass(slots=True)
class _Plugged:
    device: MemoryDevice
    size: int  # region size at plug time (0 for empty devices)
    memslots: int
    sections: set[int] = field(default_factory=set)  # starts of the sections it has mapped


class MemoryDeviceManager:
    """Memory devices of one machine (hw/mem/memory-device.c state and bookkeeping).

    Attributes:
        region: the device-memory region, None when ``ram_size == maxram_size``.
        capacity: ``maxram_size - ram_size``: bytes memory devices may use in total.
        used_region_size: bytes used by plugged devices.
        memslots: memslot counters (required / used / reserved).
        dimm_size: bytes of plugged plain pc-dimms (``device_memory->dimm_size``).
    """

    def __init__(
        self,
        *,
        ram_size: int,
        maxram_size: int,
        region: DeviceMemoryRegion | None,
        limits: MemslotLimits | None = None,
    ) -> None:
        self.region = region
        self.capacity = maxram_size - ram_size
        self.used_region_size = 0
        self.dimm_size = 0
        self.memslots = MemslotAccounting(limits or MemslotLimits())
        self._space: AddressSpace[MemoryDevice] | None = (
            AddressSpace(region) if region is not None else None
        )
        # Keyed by id(): device classes need not be hashable.
        self._plugged: dict[int, _Plugged] = {}
        self._sec_starts: list[int] = []
        self._sec_ends: list[int] = []
        self._sec_owners: list[MemoryDevice] = []

    # -- plug pipeline ---------------------------------------------------------------------

    def pre_plug(self, device: MemoryDevice, *, warnings: list[str]) -> None:
        """Generic pre-plug G0-G14: checks, memslot decision and address (spec §3).

        Raises:
            MachineError: with QEMU's message; nothing is changed.
        """
        pre_plug(
            device,
            space=self._space,
            capacity=self.capacity,
            used_region_size=self.used_region_size,
            memslots=self.memslots,
            warnings=warnings,
        )

    def plug(self, device: MemoryDevice) -> None:
        """Account for a realized device that passed :meth:`pre_plug` and map its region.

        Empty devices are only listed. Devices whose ``md_maps_whole_region()`` is true get
        their whole region mapped as one RAM section; container devices map pieces later.
        """
        if id(device) in self._plugged:
            raise ValueError("device plugged twice")
        region = device.md_region()
        if region is None:
            self._plugged[id(device)] = _Plugged(device, size=0, memslots=0)
            return
        assert self._space is not None, "pre_plug guarantees device memory"
        count = device.md_memslots()
        addr = device.md_addr()
        self._space.occupy(addr, region.size, device)
        self._plugged[id(device)] = _Plugged(device, size=region.size, memslots=count)
        self.used_region_size += region.size
        self.memslots.required += count
        if device.md_decides_memslots and count > 1:
            self.memslots.auto_decision_active += 1
        if device.md_counts_as_dimm_ram:
            self.dimm_size += region.size
        if device.md_maps_whole_region():
            self.map_section(device, addr, region.size)

    def unplug(self, device: MemoryDevice) -> None:
        """Undo :meth:`plug`: unmap whatever the device still has mapped, free its range."""
        record = self._plugged.pop(id(device))
        if record.size == 0:
            return
        assert self._space is not None
        for start in sorted(record.sections):
            self._remove_section(start)
        self.memslots.used -= len(record.sections)
        record.sections.clear()
        self._space.release(device.md_addr())
        self.used_region_size -= record.size
        self.memslots.required -= record.memslots
        if device.md_decides_memslots and record.memslots > 1:
            self.memslots.auto_decision_active -= 1
        if device.md_counts_as_dimm_ram:
            self.dimm_size -= record.size

    # -- queries ---------------------------------------------------------------------------

    def is_plugged(self, device: MemoryDevice) -> bool:
        """True between :meth:`plug` and :meth:`unplug`."""
        return id(device) in self._plugged

    def devices(self) -> list[MemoryDevice]:
        """Plugged devices sorted by address, as QEMU lists them (empty devices, address 0,
        come first)."""
        empties = [rec.device for rec in self._plugged.values() if rec.size == 0]
        placed = [owner for _, _, owner in self._space] if self._space is not None else []
        return empties + placed

    def plugged_size(self) -> int:
        """``plugged-memory``: the sum of every non-empty device's plugged size."""
        return sum(rec.device.md_plugged_size() for rec in self._plugged.values() if rec.size)

    def device_at(self, addr: int) -> MemoryDevice | None:
        """The plugged device whose region contains guest-physical ``addr``."""
        return self._space.owner_at(addr) if self._space is not None else None

    # -- mapped RAM sections ---------------------------------------------------------------

    def map_section(self, device: MemoryDevice, start: int, size: int) -> None:
        """Map ``[start, start+size)`` of ``device`` as a RAM section (one more used
        memslot)."""
        record = self._plugged[id(device)]
        idx = bisect_left(self._sec_starts, start)
        if (idx > 0 and self._sec_ends[idx - 1] > start) or (
            idx < len(self._sec_starts) and self._sec_starts[idx] < start + size
        ):
            raise ValueError("RAM sections overlap")
        self._sec_starts.insert(idx, start)
        self._sec_ends.insert(idx, start + size)
        self._sec_owners.insert(idx, device)
        record.sections.add(start)
        self.memslots.used += 1
        if self.memslots.used > self.memslots.required:
            # memory_devices_region_mod(): QEMU only warns.
            log.warning("memdev.memslots.overcommitted", used=self.memslots.used,
                        required=self.memslots.required)

    def unmap_section(self, device: MemoryDevice, start: int) -> None:
        """Unmap the section of ``device`` that starts at ``start``."""
        idx = bisect_left(self._sec_starts, start)
        if idx == len(self._sec_starts) or self._sec_starts[idx] != start:
            raise KeyError(start)
        if self._sec_owners[idx] is not device:
            raise ValueError("section belongs to another device")
        self._remove_section(start)
        self._plugged[id(device)].sections.discard(start)
        self.memslots.used -= 1

    def section_at(self, addr: int) -> MappedSection | None:
        """The mapped RAM section containing ``addr``, or None."""
        idx = bisect_right(self._sec_starts, addr) - 1
        if idx >= 0 and addr < self._sec_ends[idx]:
            start = self._sec_starts[idx]
            return MappedSection(start, self._sec_ends[idx] - start, self._sec_owners[idx])
        return None

    def sections_of(self, device: MemoryDevice) -> list[MappedSection]:
        """The RAM sections ``device`` has mapped, in address order."""
        record = self._plugged.get(id(device))
        if record is None:
            return []
        out: list[MappedSection] = []
        for start in sorted(record.sections):
            idx = bisect_left(self._sec_starts, start)
            out.append(MappedSection(start, self._sec_ends[idx] - start, device))
        return out

    def sections(self) -> list[MappedSection]:
        """All mapped RAM sections in address order."""
        return [
            MappedSection(start, end - start, owner)
            for start, end, owner in zip(
                self._sec_starts, self._sec_ends, self._sec_owners, strict=True
            )
        ]

    def _remove_section(self, start: int) -> None:
        idx = bisect_left(self._sec_starts, start)
        del self._sec_starts[idx], self._sec_ends[idx], self._sec_owners[idx]


class MemslotContainer:
    """The memslots of a container device (virtio-mem dynamic memslots, hv-balloon).

    The device's region is split into ``split.count`` memslots of ``split.size`` bytes (the
    last one may be smaller); each can be mapped and unmapped on its own and counts as one
    used memslot while mapped.
    """

    def __init__(
        self,
        manager: MemoryDeviceManager,
        device: MemoryDevice,
        split: MemslotSplit,
        region_size: int,
    ) -> None:
        self.manager = manager
        self.device = device
        self.split = split
        self.region_size = region_size
        self._mapped: set[int] = set()

    @property
    def mapped_count(self) -> int:
        """How many memslots are mapped now."""
        return len(self._mapped)

    def is_mapped(self, index: int) -> bool:
        """True if memslot ``index`` is mapped."""
        return index in self._mapped

    def bounds(self, index: int) -> tuple[int, int]:
        """``(offset, size)`` of memslot ``index`` inside the region."""
        offset = index * self.split.size
        if index == self.split.count - 1:
            return offset, self.region_size - offset
        return offset, self.split.size

    def indexes_covering(self, offset: int, size: int) -> range:
        """Memslots that intersect ``[offset, offset+size)`` of the region."""
        first = offset // self.split.size
        last = -(-(offset + size) // self.split.size)
        return range(first, min(last, self.split.count))

    def map(self, index: int) -> None:
        """Map memslot ``index`` (no-op if it already is)."""
        if index in self._mapped:
            return
        offset, size = self.bounds(index)
        self.manager.map_section(self.device, self.device.md_addr() + offset, size)
        self._mapped.add(index)

    def unmap(self, index: int) -> None:
        """Unmap memslot ``index`` (no-op if it is not mapped)."""
        if index not in self._mapped:
            return
        offset, _ = self.bounds(index)
        self.manager.unmap_section(self.device, self.device.md_addr() + offset)
        self._mapped.discard(index)

    def ensure_mapped_prefix(self, size: int) -> None:
        """Map, in address order, every memslot that starts below ``size`` bytes into the
        region (hv-balloon maps the memory it is about to hot-add this way)."""
        for index in range(self.split.count):
            offset, _ = self.bounds(index)
            if offset >= size:
                break
            self.map(index)

    def unmap_all(self) -> None:
        """Unmap every memslot."""
        for index in sorted(self._mapped):
            self.unmap(index)
