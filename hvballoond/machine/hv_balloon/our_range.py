"""The hot-add area of an hv-balloon device: "our range" (balloon.md §3.8).

An our range covers a whole memory backend in guest pages. The host hot-adds it to the guest
from its start, in order; ``added`` pages have been accepted so far and ``unusable_tail``
pages at the end were written off after the guest refused or took only part of a hot-add. It
also keeps the pages the guest later returned from inside the range, in two trees (the same
*guest* / *both* classes as the global trees, §3.9).

Mapping the backend's memslots is the device's business; an our range only tells its
:class:`MemslotMapper` how much must be mapped before the next hot-add request goes out
(QEMU: ``hw/hyperv/hv-balloon-our_range_memslots.c``).
"""

from __future__ import annotations

from typing import Protocol

from hvballoond.machine.hv_balloon.page_ranges import PageRange, PageRangeTree
from hvballoond.machine.units import PAGE_SIZE

__all__ = ["MemslotMapper", "OurRange"]


class MemslotMapper(Protocol):
    """Maps the memory behind an our range into the guest (the device implements it)."""

    def ensure_mapped_prefix(self, size: int) -> None:
        """Map every memslot that starts below ``size`` bytes into the backend."""
        ...

    def release(self) -> None:
        """Unmap every memslot and discard the backend's contents (system reset)."""
        ...


class OurRange:
    """One hot-add area and its bookkeeping.

    Args:
        start: first page (PFN) of the area.
        count: pages in the area (the backend size in pages).
        mapper: maps memslots on demand; None when nothing needs mapping (tests).
        backend_id: the backend's id, for the v3 design's per-backend ranges.
    """

    __slots__ = (
        "added",
        "backend_id",
        "count",
        "mapper",
        "removed_both",
        "removed_guest",
        "start",
        "unusable_tail",
    )

    def __init__(
        self,
        *,
        start: int,
        count: int,
        mapper: MemslotMapper | None = None,
        backend_id: str | None = None,
    ) -> None:
        self.start = start
        self.count = count
        self.mapper = mapper
        self.backend_id = backend_id
        self.added = 0
        self.unusable_tail = 0
        self.removed_guest = PageRangeTree()
        self.removed_both = PageRangeTree()

    @property
    def end(self) -> int:
        """The first page after the area."""
        return self.start + self.count

    @property
    def range(self) -> PageRange:
        """The whole area, including the parts not (yet) hot-added and the unusable tail."""
        return PageRange(self.start, self.count)

    @property
    def remaining_start(self) -> int:
        """Where the next hot-add starts."""
        return self.start + self.added

    @property
    def remaining(self) -> int:
        """Pages that may still be hot-added."""
        return self.count - self.added - self.unusable_tail

    def removed_tree(self, *, both: bool) -> PageRangeTree:
        """The tree of returned pages of one class."""
        return self.removed_both if both else self.removed_guest

    def mark_added(self, pages: int) -> None:
        """The guest accepted ``pages`` more pages at :attr:`remaining_start`."""
        self.added += pages
        assert self.added + self.unusable_tail <= self.count, "hot-added past the range"

    def mark_remaining_unusable(self) -> None:
        """Write off everything not hot-added yet (until the range is freed)."""
        self.unusable_tail = self.count - self.added

    def clear_removed_trees(self) -> None:
        """Forget the returned pages (device reset)."""
        self.removed_guest.clear()
        self.removed_both.clear()

    def ensure_mapped_additional(self, pages: int) -> None:
        """Map the memslots needed to hot-add ``pages`` more pages."""
        if self.mapper is not None:
            self.mapper.ensure_mapped_prefix((self.added + pages) * PAGE_SIZE)

    def free(self) -> None:
        """Unmap everything and discard the contents (the range is being dropped)."""
        if self.mapper is not None:
            self.mapper.release()
        self.clear_removed_trees()
