"""Workload 9 (hvballoond only): hv-balloon's page-range bookkeeping at 1 TiB.

QEMU cannot run hv-balloon here (it needs KVM with Hyper-V SynIC), so this drives
:class:`hvballoond.machine.hv_balloon.page_ranges.PageRangeTree` in-process the way the
hv-balloon host does (``host.py``): every guest balloon response (up to 1,024 ranges, top of
memory first) is committed with ``insert_arrays``; every unballoon pass takes what fits in the
16 KiB ring with ``pop_many`` in pieces of at most ``HOT_ADD_CHUNK_PAGES``.

Worst-case fragmentation, as the simulated guest's ``PageOrder.FRAGMENTED`` gives it: the
guest returns every other 2 MiB block of the balloonable memory first (the tree peaks at one
range per 4 MiB), then the blocks in between (each one merges two neighbours):

1. *inflate, fragmented*: the even blocks (1 TiB guest → about 514 GiB);
2. *deflate, fragmented*: the host hands them all back (one range per block);
3. *inflate to the floor*: even blocks, then odd blocks (1 TiB → 4 GiB);
4. *deflate*: back to 1 TiB from the merged range.

"Ranges processed" counts every range inserted and every piece popped. Memory is measured
in a separate pass under ``tracemalloc`` (which slows allocation down): the peak of phase 1
at 2 MiB blocks is compared with the same number of ranges at 4 KiB blocks (512 times fewer
pages: equal memory means memory follows ranges, not pages) and with the same pages
returned in a few long ranges.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable, Iterator

from benchmarks.model import Better, Metric, Scale, WorkloadError
from benchmarks.workloads.base import InProcessWorkload
from hvballoond.machine.hv_balloon.channel import DEFAULT_RING_BYTES
from hvballoond.machine.hv_balloon.host import HOT_ADD_CHUNK_PAGES
from hvballoond.machine.hv_balloon.page_ranges import PageRangeTree

__all__ = ["HvRangesWorkload", "fragmented_batches"]

_PAGES_PER_GIB = (1 << 30) // 4096
_BLOCK_PAGES = 512  # 2 MiB
_RESPONSE_RANGES = 1024  # GuestPolicy.balloon_chunk_ranges
# Bytes of one unballoon request (dm.UnballoonRequest with one range): host.py's
# _UNBALLOON_SIZE; the host posts as many as fit in the ring.
_UNBALLOON_REQUEST_BYTES = 24
_RING_FIT = DEFAULT_RING_BYTES // _UNBALLOON_REQUEST_BYTES
# Longest range one guest report carries (24-bit page count).
_MAX_RANGE_PAGES = (1 << 24) - 1

Batch = tuple[list[int], list[int]]


def fragmented_batches(floor: int, top: int, block: int, *, odd: bool) -> Iterator[Batch]:
    """Guest responses returning every other ``block``-page block of ``[floor, top)``.

    Blocks are numbered from page 0; ``odd`` selects the odd ones. Ranges come top down, at
    most :data:`_RESPONSE_RANGES` per response, as parallel ``starts``/``counts`` lists.
    """
    if floor % (2 * block) or top % (2 * block):
        raise ValueError("floor and top must be multiples of two blocks")
    first = top - (block if odd else 2 * block)  # the highest block of the wanted parity
    step = 2 * block * _RESPONSE_RANGES
    for hi in range(first, floor - 1, -step):
        starts = list(range(hi, max(hi - step, floor - 1), -2 * block))
        yield starts, [block] * len(starts)


def _contiguous_batches(floor: int, top: int) -> Iterator[Batch]:
    """The same pages as ``[floor, top)`` returned in as few ranges as a report allows."""
    starts: list[int] = []
    counts: list[int] = []
    hi = top
    while hi > floor:
        count = min(_MAX_RANGE_PAGES, hi - floor)
        starts.append(hi - count)
        counts.append(count)
        hi -= count
        if len(starts) == _RESPONSE_RANGES:
            yield starts, counts
            starts, counts = [], []
    if starts:
        yield starts, counts


def _drain(tree: PageRangeTree) -> int:
    """Unballoon everything as the host does; the number of pieces handed back."""
    pieces = 0
    while tree:
        popped = tree.pop_many(tree.page_count, _RING_FIT, HOT_ADD_CHUNK_PAGES)
        pieces += len(popped)
    return pieces


class HvRangesWorkload(InProcessWorkload):
    """Ranges per second through the whole cycle, and peak memory (see the module doc)."""

    name = "hv_ranges"
    title = "hv-balloon page ranges (hvballoond only)"

    def metrics(self, scale: Scale) -> tuple[Metric, ...]:
        size = f"{scale.hv_guest_gib:,} GiB ↔ {scale.hv_floor_gib} GiB"
        return (
            Metric("hv_ranges.ranges_per_s", f"ranges processed, {size} fragmented",
                   "ranges/s", Better.HIGHER),
            Metric("hv_ranges.inflate_ranges_per_s", "… of which inflating (insert_arrays)",
                   "ranges/s", Better.HIGHER),
            Metric("hv_ranges.deflate_ranges_per_s", "… of which deflating (pop_many)",
                   "ranges/s", Better.HIGHER),
            Metric("hv_ranges.peak_ranges", "ranges held at peak fragmentation", "ranges",
                   Better.LOWER),
            Metric("hv_ranges.peak_mib", "peak memory at peak fragmentation (2 MiB blocks)",
                   "MiB", Better.LOWER),
            Metric("hv_ranges.bytes_per_range", "peak memory per range", "B", Better.LOWER),
            Metric("hv_ranges.small_pages_peak_mib",
                   "same number of ranges at 4 KiB blocks (512× fewer pages)", "MiB",
                   Better.LOWER),
            Metric("hv_ranges.contiguous_peak_kib", "same pages as a few long ranges", "KiB",
                   Better.LOWER),
        )

    def run(self, scale: Scale) -> dict[str, float]:
        floor = scale.hv_floor_gib * _PAGES_PER_GIB
        top = scale.hv_guest_gib * _PAGES_PER_GIB
        if top <= floor:
            raise WorkloadError("the guest must be larger than the floor")
        values = self._throughput(floor, top)
        peak_bytes, peak_ranges = self._peak(floor, top, _BLOCK_PAGES)
        # Same range count with 1-page blocks: the region is 512 times smaller.
        small_top = floor + (top - floor) // _BLOCK_PAGES
        small_top -= small_top % 2
        small_bytes, small_ranges = self._peak(floor, small_top, 1)
        if small_ranges != peak_ranges:
            raise WorkloadError(f"range counts differ: {small_ranges} vs {peak_ranges}")
        contiguous = self._measure_peak(
            lambda tree: self._fill(tree, _contiguous_batches(floor, top))
        )
        values |= {
            "hv_ranges.peak_ranges": float(peak_ranges),
            "hv_ranges.peak_mib": peak_bytes / (1 << 20),
            "hv_ranges.bytes_per_range": peak_bytes / peak_ranges,
            "hv_ranges.small_pages_peak_mib": small_bytes / (1 << 20),
            "hv_ranges.contiguous_peak_kib": contiguous / 1024,
        }
        return values

    @staticmethod
    def _fill(tree: PageRangeTree, batches: Iterator[Batch]) -> int:
        ranges = 0
        for starts, counts in batches:
            ranges += len(starts)
            tree.insert_arrays(starts, counts)
        return ranges

    def _throughput(self, floor: int, top: int) -> dict[str, float]:
        # The guest's reports are built before the clock starts (insert_arrays takes them
        # over, so every phase gets fresh lists).
        evens = list(fragmented_batches(floor, top, _BLOCK_PAGES, odd=False))
        evens_again = list(fragmented_batches(floor, top, _BLOCK_PAGES, odd=False))
        odds = list(fragmented_batches(floor, top, _BLOCK_PAGES, odd=True))
        expected = top - floor
        tree = PageRangeTree()
        clock = time.perf_counter_ns
        gc.collect()
        t0 = clock()
        inserted = self._fill(tree, iter(evens))
        t1 = clock()
        popped = _drain(tree)
        t2 = clock()
        inserted += self._fill(tree, iter(evens_again))
        inserted += self._fill(tree, iter(odds))
        t3 = clock()
        if tree.page_count != expected or len(tree) != 1:
            raise WorkloadError(f"inflate left {len(tree)} ranges, {tree.page_count} pages")
        popped += _drain(tree)
        t4 = clock()
        inflate_ns = (t1 - t0) + (t3 - t2)
        deflate_ns = (t2 - t1) + (t4 - t3)
        return {
            "hv_ranges.ranges_per_s": (inserted + popped) / ((t4 - t0) / 1e9),
            "hv_ranges.inflate_ranges_per_s": inserted / (inflate_ns / 1e9),
            "hv_ranges.deflate_ranges_per_s": popped / (deflate_ns / 1e9),
        }

    def _peak(self, floor: int, top: int, block: int) -> tuple[int, int]:
        """Peak traced bytes and ranges after the guest returned the even blocks."""
        held = 0

        def phase_one(tree: PageRangeTree) -> None:
            nonlocal held
            self._fill(tree, fragmented_batches(floor, top, block, odd=False))
            held = len(tree)

        return self._measure_peak(phase_one), held

    @staticmethod
    def _measure_peak(action: Callable[[PageRangeTree], object]) -> int:
        """Peak bytes allocated while ``action(tree)`` runs on a new tree (and the tree)."""
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            tree = PageRangeTree()
            action(tree)
            peak = tracemalloc.get_traced_memory()[1] - base
            del tree
        finally:
            tracemalloc.stop()
        return peak
