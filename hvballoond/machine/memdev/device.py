"""What the memory-device manager needs from a device (QEMU's ``MemoryDeviceClass``).

pc-dimm, nvdimm, virtio-mem-pci, virtio-pmem-pci and hv-balloon derive from
:class:`MemoryDevice` (next to their qdev base class) and override what differs from the
defaults, exactly like the class hooks of hw/mem/memory-device.h.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from hvballoond.machine.errors import MachineError
from hvballoond.wire.values import JSONObject

if TYPE_CHECKING:
    from hvballoond.machine.backends import MemoryBackend

__all__ = ["BackendRegionDevice", "DeviceRegion", "MemoryDevice", "display_id"]


@dataclass(frozen=True, slots=True)
class DeviceRegion:
    """The memory region a device maps: its size and its alignment ``A`` (the backend's,
    machine-memory.md §5.5)."""

    size: int
    align: int


class MemoryDevice:
    """Hooks of one memory device. Subclasses override the ``md_*`` methods they need.

    Class attributes:
        md_decides_memslots: the device picks its memslot count at pre-plug (G3).
        md_counts_as_dimm_ram: the region counts as "DIMM RAM" for the balloons
            (``device_memory->dimm_size``; only plain pc-dimm).
    """

    md_decides_memslots: ClassVar[bool] = False
    md_counts_as_dimm_ram: ClassVar[bool] = False

    def md_maps_whole_region(self) -> bool:
        """Plugging maps the region as a single RAM section (one used memslot).

        Container devices (virtio-mem with dynamic memslots, hv-balloon) return False and
        map pieces themselves through the manager (:class:`MemslotContainer`).
        """
        return True

    def md_id(self) -> str | None:
        """The device id (None for anonymous devices)."""
        raise NotImplementedError

    def md_region(self) -> DeviceRegion | None:
        """The region to map; None for an *empty* device (G0).

        Raises:
            MachineError: the region cannot be built (G2, e.g. ``'memdev' property must be
                set``).
        """
        raise NotImplementedError

    def md_addr(self) -> int:
        """The address property (0 = not chosen yet / no hint)."""
        raise NotImplementedError

    def md_set_addr(self, addr: int) -> None:
        """Store the chosen address in the address property (G14)."""
        raise NotImplementedError

    def md_min_alignment(self) -> int:
        """Extra address alignment the device needs (0: only the region's)."""
        return 0

    def md_decide_memslots(self, limit: int) -> None:
        """Pick a memslot count of at most ``limit`` (only if ``md_decides_memslots``)."""

    def md_memslots(self) -> int:
        """Memslots the device requires once plugged."""
        return 1

    def md_plugged_size(self) -> int:
        """Bytes counted by ``query-memory-size-summary`` ``plugged-memory``."""
        region = self.md_region()
        return 0 if region is None else region.size

    def md_info(self) -> JSONObject:
        """The ``query-memory-devices`` element (``{"type": ..., "data": {...}}``), with
        members in QAPI schema order."""
        raise NotImplementedError

    def md_info_key(self) -> Hashable:
        """A value that changes whenever :meth:`md_info` would (with the device's type).

        The query caches encoded elements by it; under test every cached element is
        checked against a fresh one, so a key that misses a member fails loudly.
        """
        raise NotImplementedError


class BackendRegionDevice(MemoryDevice):
    """Hooks of the DIMM-like devices whose region is their whole ``memdev`` and whose
    address property is ``addr`` (pc-dimm, nvdimm, the seed's mem-hapvdimm)."""

    id: str | None
    memdev: MemoryBackend | None
    addr: int

    def md_id(self) -> str | None:
        return self.id

    def md_region(self) -> DeviceRegion | None:
        if self.memdev is None:
            raise MachineError("'memdev' property must be set")
        return DeviceRegion(self.memdev.size, self.memdev.alignment)

    def md_addr(self) -> int:
        return self.addr

    def md_set_addr(self, addr: int) -> None:
        self.addr = addr


def display_id(device: MemoryDevice) -> str:
    """How QEMU names a device in placement conflicts: its id or ``(unnamed)``."""
    ident = device.md_id()
    return "(unnamed)" if ident is None else ident
