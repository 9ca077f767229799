"""Free extents of an address space, searchable for "the first gap big enough".

The free space between plugged memory devices is a sorted list of disjoint ``[start, end)``
extents. A first-fit search must skip every extent that is too small; with thousands of
small holes (devices unplugged here and there) visiting them one by one would make a plug
cost grow with the number of devices. The extents are therefore kept in blocks of bounded
length, each remembering its longest extent, so whole blocks of small holes are skipped at
once (the same layout as a "sorted list of lists").
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from operator import sub

from hvballoond.machine.units import U64_MAX

__all__ = ["FreeExtents", "u64_align_up"]

# A block is split when it grows past twice this many extents.
_BLOCK = 64


def u64_align_up(value: int, alignment: int) -> int:
    """``QEMU_ALIGN_UP`` on ``uint64_t``: wraps (usually to 0) when it overflows."""
    return ((value + alignment - 1) & U64_MAX) // alignment * alignment


class FreeExtents:
    """Disjoint, non-touching ``[start, end)`` extents in address order."""

    def __init__(self, start: int, end: int) -> None:
        self._starts: list[list[int]] = [[start]]
        self._ends: list[list[int]] = [[end]]
        self._longest: list[int] = [end - start]
        self._firsts: list[int] = [start]  # first start of each block, for bisection

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for starts, ends in zip(self._starts, self._ends, strict=True):
            yield from zip(starts, ends, strict=True)

    def __len__(self) -> int:
        return sum(len(starts) for starts in self._starts)

    # -- lookup ----------------------------------------------------------------------------

    def _locate(self, addr: int) -> tuple[int, int]:
        """(block, index) of the extent with the greatest start <= ``addr``; (0, -1) if none."""
        block = bisect_right(self._firsts, addr) - 1
        if block < 0:
            return 0, -1
        return block, bisect_right(self._starts[block], addr) - 1

    def containing(self, addr: int) -> tuple[int, int] | None:
        """The extent that contains ``addr``, or None."""
        block, idx = self._locate(addr)
        if idx >= 0 and addr < self._ends[block][idx]:
            return self._starts[block][idx], self._ends[block][idx]
        return None

    def lowest_fit(self, start: int, align: int, size: int) -> int | None:
        """The lowest multiple of ``align`` >= ``start`` (``start`` is itself aligned) such that
        ``[addr, addr+size)`` lies in one extent and below 2^64; None if there is none."""
        block, idx = self._locate(start)
        if idx < 0:
            idx = 0
        elif self._ends[block][idx] <= start:
            idx += 1
        while block < len(self._starts):
            if self._longest[block] >= size:
                starts, ends = self._starts[block], self._ends[block]
                for pos in range(idx, len(starts)):
                    extent_start, extent_end = starts[pos], ends[pos]
                    if extent_end - extent_start < size:
                        continue
                    if extent_start <= start:
                        candidate = start
                    else:
                        candidate = u64_align_up(extent_start, align)
                        if candidate < extent_start:
                            return None  # the alignment wrapped past 2^64
                    if candidate + size <= extent_end and candidate + size <= U64_MAX:
                        return candidate
            block += 1
            idx = 0
        return None

    # -- mutation --------------------------------------------------------------------------

    def carve(self, start: int, end: int) -> None:
        """Remove ``[start, end)``, which must lie inside a single extent."""
        block, idx = self._locate(start)
        if idx < 0 or end > self._ends[block][idx] or end <= start:
            raise ValueError("range is not free")
        extent_start, extent_end = self._starts[block][idx], self._ends[block][idx]
        pieces = [(s, e) for s, e in ((extent_start, start), (end, extent_end)) if e > s]
        self._starts[block][idx : idx + 1] = [s for s, _ in pieces]
        self._ends[block][idx : idx + 1] = [e for _, e in pieces]
        self._refresh(block)

    def add(self, start: int, end: int) -> None:
        """Give ``[start, end)`` back, merging it with the extents it touches."""
        block, idx = self._locate(start)
        if idx >= 0 and self._ends[block][idx] == start:
            start = self._starts[block][idx]
            self._delete(block, idx)
        successor = self._locate(end)
        if successor[1] >= 0 and self._starts[successor[0]][successor[1]] == end:
            end = self._ends[successor[0]][successor[1]]
            self._delete(*successor)
        self._insert(start, end)

    def _delete(self, block: int, idx: int) -> None:
        del self._starts[block][idx], self._ends[block][idx]
        self._refresh(block)

    def _insert(self, start: int, end: int) -> None:
        if not self._starts:
            self._starts, self._ends = [[start]], [[end]]
            self._longest, self._firsts = [end - start], [start]
            return
        block = max(bisect_right(self._firsts, start) - 1, 0)
        idx = bisect_left(self._starts[block], start)
        self._starts[block].insert(idx, start)
        self._ends[block].insert(idx, end)
        self._refresh(block)

    def _refresh(self, block: int) -> None:
        """Recompute a block's summary after a change; drop it if empty, split it if big."""
        starts, ends = self._starts[block], self._ends[block]
        if not starts:
            del self._starts[block], self._ends[block]
            del self._longest[block], self._firsts[block]
            return
        if len(starts) > 2 * _BLOCK:
            self._starts[block + 1 : block + 1] = [starts[_BLOCK:]]
            self._ends[block + 1 : block + 1] = [ends[_BLOCK:]]
            del starts[_BLOCK:], ends[_BLOCK:]
            self._longest.insert(block + 1, 0)
            self._firsts.insert(block + 1, 0)
            self._summarise(block + 1)
        self._summarise(block)

    def _summarise(self, block: int) -> None:
        self._longest[block] = max(map(sub, self._ends[block], self._starts[block]))
        self._firsts[block] = self._starts[block][0]
