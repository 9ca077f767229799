"""Where memory devices sit in the device-memory region, and QEMU's first-fit placement.

QEMU (``memory_device_get_free_addr`` in hw/mem/memory-device.c) rebuilds a sorted list of
every plugged memory device on each plug and walks it from the start. We keep the occupied
ranges sorted all the time and also keep the *free extents* between them, so a placement
costs a couple of bisections instead of a walk over every device (memory-devices.md §5),
while choosing exactly the address QEMU's walk chooses:

Without a hint QEMU starts at ``ALIGN_UP(base, align)`` and, each time the candidate
overlaps a device, moves to ``ALIGN_UP(device end, align)``. Devices never overlap each
other, so the candidate can never jump over a position that would have fitted: the result is
the *lowest* aligned address at or above ``ALIGN_UP(base, align)`` whose range is free (the
property test in tests/machine/memdev pins this against a literal transcription of the
walk). That address is found by visiting the free extents in address order
(:class:`~hvballoond.machine.memdev.extents.FreeExtents` skips runs of too-small holes).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from hvballoond.machine.errors import MachineError
from hvballoond.machine.memdev.extents import FreeExtents, u64_align_up
from hvballoond.machine.memory_map import DeviceMemoryRegion
from hvballoond.machine.units import U64_MAX, hx

__all__ = ["AddressSpace", "u64_align_up"]

T = TypeVar("T")

# Exclusive upper bound of the guest-physical address space (uint64_t).
_TOP = U64_MAX + 1


def _range_fits(lob: int, size: int) -> bool:
    """``range_init`` succeeds: ``[lob, lob+size)`` does not wrap around 2^64 (qemu/range.h)."""
    return lob + size <= U64_MAX


def _contains(region: DeviceMemoryRegion, start: int, size: int) -> bool:
    """``range_contains_range``: ``[start, start+size)`` lies inside the region."""
    return size > 0 and region.base <= start and start + size <= region.base + region.size


class AddressSpace(Generic[T]):
    """The occupied ranges of the device-memory region, each tagged with its owner.

    Ranges never overlap. ``T`` is whatever the caller wants back from a conflict lookup
    (the manager stores its device record).
    """

    def __init__(self, region: DeviceMemoryRegion) -> None:
        self.region = region
        # Occupied ranges, sorted by start; disjoint, so ends are sorted too.
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._owners: list[T] = []
        # Maximal free extents of [0, 2^64): the complement of the above.
        self._free = FreeExtents(0, _TOP)

    # -- queries ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._starts)

    def __iter__(self) -> Iterator[tuple[int, int, T]]:
        """``(start, size, owner)`` in address order."""
        for start, end, owner in zip(self._starts, self._ends, self._owners, strict=True):
            yield start, end - start, owner

    def first_conflict(self, start: int, size: int) -> T | None:
        """The lowest-addressed occupant overlapping ``[start, start+size)``, or None."""
        idx = bisect_right(self._ends, start)  # first range ending after ``start``
        if idx < len(self._starts) and self._starts[idx] < start + size:
            return self._owners[idx]
        return None

    def owner_at(self, addr: int) -> T | None:
        """The occupant whose range contains ``addr``, or None."""
        idx = bisect_right(self._starts, addr) - 1
        if idx >= 0 and addr < self._ends[idx]:
            return self._owners[idx]
        return None

    # -- QEMU's placement (G8-G13) ---------------------------------------------------------

    def place(
        self,
        *,
        hint: int | None,
        align: int,
        size: int,
        describe: Callable[[T], str],
        warnings: list[str],
    ) -> int:
        """Choose the address of a new device of ``size`` bytes, as QEMU does.

        Args:
            hint: the requested address (the device's address property), or None.
            align: ``max(device minimum alignment, region alignment)``.
            size: the device's region size.
            describe: how an occupant is named in the conflict message (its id or
                ``(unnamed)``).
            warnings: receives the G8 fragmentation warning (QEMU prints it on stderr).

        Returns:
            The address (G14 stores it in the device).

        Raises:
            MachineError: G9-G13 with QEMU's messages (memory-devices.md §3).
        """
        region = self.region
        if region.base % align:
            warnings.append(
                f"the alignment ({hx(align)}) exceeds the expected maximum alignment, memory "
                "will get fragmented and not all 'maxmem' might be usable for memory devices."
            )
        if hint is not None:
            if hint % align:
                raise MachineError(f"address must be aligned to {hx(align)} bytes")
            if not _range_fits(hint, size) or not _contains(region, hint, size):
                raise MachineError(
                    f"can't add memory device [{hx(hint)}:{hx(size)}], usable range for "
                    f"memory devices [{hx(region.base)}:{hx(region.size)}]"
                )
            occupant = self.first_conflict(hint, size)
            if occupant is not None:
                raise MachineError(
                    f"address range conflicts with memory device id='{describe(occupant)}'"
                )
            return hint
        first = u64_align_up(region.base, align)
        if not _range_fits(first, size):
            raise MachineError("can't add memory device, device too big")
        addr = self._free.lowest_fit(first, align, size)
        if addr is None or not _contains(region, addr, size):
            raise MachineError(
                "could not find position in guest address space for memory device - "
                "memory fragmented due to alignments"
            )
        return addr

    # -- mutation --------------------------------------------------------------------------

    def occupy(self, start: int, size: int, owner: T) -> None:
        """Record ``[start, start+size)`` as used by ``owner`` (it must be free)."""
        self._free.carve(start, start + size)
        idx = bisect_left(self._starts, start)
        self._starts.insert(idx, start)
        self._ends.insert(idx, start + size)
        self._owners.insert(idx, owner)

    def release(self, start: int) -> T:
        """Free the range that starts at ``start`` and return its owner."""
        idx = bisect_left(self._starts, start)
        if idx == len(self._starts) or self._starts[idx] != start:
            raise KeyError(hx(start))
        end = self._ends[idx]
        owner = self._owners[idx]
        del self._starts[idx], self._ends[idx], self._owners[idx]
        self._free.add(start, end)
        return owner

    def free_extents(self) -> list[tuple[int, int]]:
        """The free extents as ``(start, end)`` pairs (for tests and debugging)."""
        return list(self._free)
