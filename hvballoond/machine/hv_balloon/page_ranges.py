"""Sets of guest pages kept as sorted, merged, disjoint ranges (balloon.md §3.10).

The hv-balloon host remembers which pages the guest returned in such sets. QEMU keeps them in
a GLib balanced tree (``hw/hyperv/hv-balloon-page_range_tree.c``); we keep the same ordered
``start -> count`` map in a chunked sorted list: a list of short sorted lists, located with
``bisect`` first over the chunks and then inside one. Every operation costs O(log n) plus a
memmove of at most one chunk, and memory grows with the number of ranges, never with pages.

Invariant: stored ranges are non-empty, sorted by start, and no two of them overlap or touch
(an insert merges its new range with every neighbour it overlaps or touches).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from operator import add, lt
from typing import Final

__all__ = ["DEFAULT_LOAD", "PageRange", "PageRangeTree"]

# Default chunk size: a chunk is cut into pieces of this many ranges when it grows past twice
# that. Large enough that bisecting over chunk heads is cheap, small enough that inserting into
# one chunk is a short memmove.
DEFAULT_LOAD: Final = 512


@dataclass(frozen=True, slots=True)
class PageRange:
    """``count`` guest pages starting at page number ``start`` (a PFN)."""

    start: int
    count: int

    @property
    def end(self) -> int:
        """The first page after the range."""
        return self.start + self.count


class PageRangeTree:
    """An ordered set of disjoint, non-touching page ranges (QEMU's ``PageRangeTree``)."""

    __slots__ = ("_counts", "_firsts", "_load", "_nranges", "_pages", "_starts")

    def __init__(self, ranges: Iterable[tuple[int, int]] = (), *, load: int = DEFAULT_LOAD) -> None:
        """Start with ``ranges`` inserted; ``load`` sets the chunk size (tests use tiny ones)."""
        self._load = load
        # _starts[i] / _counts[i] are the parallel sorted chunk lists; _firsts[i] is
        # _starts[i][0], the key bisected to find a chunk. No chunk is ever empty.
        self._starts: list[list[int]] = []
        self._counts: list[list[int]] = []
        self._firsts: list[int] = []
        self._nranges = 0
        self._pages = 0
        for start, count in ranges:
            self.insert(start, count)

    # ------------------------------------------------------------------ queries

    def __len__(self) -> int:
        """Number of stored ranges (not pages)."""
        return self._nranges

    def __bool__(self) -> bool:
        return self._nranges > 0

    def __iter__(self) -> Iterator[PageRange]:
        for starts, counts in zip(self._starts, self._counts, strict=True):
            for start, count in zip(starts, counts, strict=True):
                yield PageRange(start, count)

    def __repr__(self) -> str:
        inner = ", ".join(f"{r.start}:{r.count}" for r in self)
        return f"PageRangeTree({{{inner}}})"

    @property
    def page_count(self) -> int:
        """Total number of pages in the set."""
        return self._pages

    def as_dict(self) -> dict[int, int]:
        """The ``start -> count`` map, in ascending order (for tests and debugging)."""
        return {r.start: r.count for r in self}

    def intersects_any(self, start: int, count: int) -> bool:
        """True if any stored range shares a page with ``[start, start + count)``."""
        if count <= 0 or not self._nranges:
            return False
        end = start + count
        ci = bisect_right(self._firsts, start) - 1
        if ci >= 0:
            starts = self._starts[ci]
            j = bisect_right(starts, start) - 1
            if starts[j] + self._counts[ci][j] > start:
                return True
            # The next stored range is the first one that starts after ``start``.
            if j + 1 < len(starts):
                return starts[j + 1] < end
            ci += 1
        else:
            ci = 0
        return ci < len(self._firsts) and self._firsts[ci] < end

    def bounds(self) -> tuple[int, int] | None:
        """``(first page, page after the last)`` of the set, or None when it is empty."""
        if not self._nranges:
            return None
        return self._firsts[0], self._starts[-1][-1] + self._counts[-1][-1]

    def last_below(self, pfn: int) -> PageRange | None:
        """The highest part of the set below ``pfn``: the top stored range that starts
        below ``pfn``, cut off at ``pfn``; None if there is none."""
        ci = bisect_left(self._firsts, pfn) - 1
        if ci < 0:
            return None
        starts = self._starts[ci]
        j = bisect_left(starts, pfn) - 1
        start = starts[j]
        return PageRange(start, min(self._counts[ci][j], pfn - start))

    # ---------------------------------------------------------------- mutations

    def clear(self) -> None:
        """Forget every range."""
        self._starts.clear()
        self._counts.clear()
        self._firsts.clear()
        self._nranges = 0
        self._pages = 0

    def insert(self, start: int, count: int) -> int:
        """Add ``[start, start + count)`` and merge it with its neighbours.

        Returns:
            The number of pages that were already present (QEMU's ``dupcount``).
        """
        if count <= 0:
            return 0
        end = start + count
        firsts = self._firsts
        ci = bisect_right(firsts, start) - 1
        replaced = 0  # pages of the stored range the new one grows, if any
        if ci >= 0:
            starts = self._starts[ci]
            j = bisect_right(starts, start) - 1
            p_start = starts[j]
            replaced = self._counts[ci][j]
            p_end = p_start + replaced
            if p_end >= start:
                # The previous range overlaps the new one or ends where it starts: grow it.
                cur_start, cur_end = p_start, max(p_end, end)
            else:
                replaced = 0
                j += 1
                starts.insert(j, start)
                self._counts[ci].insert(j, count)
                self._nranges += 1
                cur_start, cur_end = start, end
        else:
            # Before every stored range, or the set is empty.
            ci = j = 0
            if firsts:
                self._starts[0].insert(0, start)
                self._counts[0].insert(0, count)
                firsts[0] = start
            else:
                self._starts.append([start])
                self._counts.append([count])
                firsts.append(start)
            self._nranges += 1
            cur_start, cur_end = start, end
        absorbed, cur_end = self._absorb_following(ci, j, cur_end)
        new_count = cur_end - cur_start
        self._counts[ci][j] = new_count
        # The set grew by the pages of the new range that were not stored before, so the
        # rest of the new range were duplicates (this equals QEMU's overlap sums).
        growth = new_count - replaced - absorbed
        self._pages += growth
        self._maybe_split(ci)
        return count - growth

    def insert_many(self, ranges: Iterable[tuple[int, int]]) -> int:
        """Insert several ``(start, count)`` ranges; same result as inserting them one by one.

        Returns:
            The total number of duplicate pages, as the sum of the single inserts would give.
        """
        starts: list[int] = []
        counts: list[int] = []
        for start, count in ranges:
            if count > 0:
                starts.append(start)
                counts.append(count)
        return self.insert_arrays(starts, counts)

    def insert_arrays(self, starts: list[int], counts: list[int]) -> int:
        """:meth:`insert_many` for ranges given as parallel lists of starts and counts.

        The balloon host commits many ranges per guest response. A batch that is sorted (either
        way), has no two ranges touching, and falls into one gap between stored ranges (a guest
        hands pages out from the top of memory down) is spliced in with list operations only.
        Otherwise the stored ranges the batch can touch are taken out, merged with it in one
        sorted pass and put back; a batch scattered thinly over many stored ranges is inserted
        range by range.

        Returns:
            The total number of duplicate pages, as the sum of the single inserts would give.
        """
        if not starts:
            return 0
        if 0 in counts or min(counts) < 0:
            kept = [(s, c) for s, c in zip(starts, counts, strict=True) if c > 0]
            starts = [s for s, _ in kept]
            counts = [c for _, c in kept]
            if not starts:
                return 0
        n = len(starts)
        if n > 1 and starts[0] > starts[-1]:
            starts = starts[::-1]
            counts = counts[::-1]
        ends = list(map(add, starts, counts))
        if all(map(lt, ends, starts[1:])):
            # Sorted, and no two ranges overlap or touch: try the splice.
            lo_ci, lo_j = self._first_joining(starts[0])
            hi_ci, hi_j = self._after_last_starting_by(ends[-1])
            if not self._span_length(lo_ci, lo_j, hi_ci, hi_j):
                total = sum(counts)
                self._replace_span(lo_ci, lo_j, hi_ci, hi_j, 0, starts, counts)
                self._pages += total
                self._nranges += n
                return 0
        return self._merge_batch(sorted(zip(starts, counts, strict=True)))

    def _merge_batch(self, items: list[tuple[int, int]]) -> int:
        """The general :meth:`insert_arrays` path: ``items`` sorted, counts > 0."""
        total = 0
        hi_end = 0
        for start, count in items:
            total += count
            if start + count > hi_end:
                hi_end = start + count
        lo_ci, lo_j = self._first_joining(items[0][0])
        hi_ci, hi_j = self._after_last_starting_by(hi_end)
        span = self._span_length(lo_ci, lo_j, hi_ci, hi_j)
        if span > 8 * len(items) + 16:
            return sum(self.insert(start, count) for start, count in items)
        stored: list[tuple[int, int]] = []
        if span:
            stored = self._span_items(lo_ci, lo_j, hi_ci, hi_j)
            items += stored
            items.sort()  # two sorted runs: Timsort merges them in linear time
        res_starts: list[int] = []
        res_counts: list[int] = []
        cur_start, cur_end = items[0][0], items[0][0]
        for start, count in items:
            end = start + count
            if start <= cur_end:
                if end > cur_end:
                    cur_end = end
            else:
                res_starts.append(cur_start)
                res_counts.append(cur_end - cur_start)
                cur_start, cur_end = start, end
        res_starts.append(cur_start)
        res_counts.append(cur_end - cur_start)
        old_pages = sum(c for _, c in stored)
        self._replace_span(lo_ci, lo_j, hi_ci, hi_j, span, res_starts, res_counts)
        growth = sum(res_counts) - old_pages
        self._pages += growth
        self._nranges += len(res_starts) - span
        return total - growth

    def remove_many(self, ranges: Iterable[tuple[int, int]]) -> list[PageRange]:
        """Take ``(start, count)`` ranges out of the set (pages not in the set are skipped).

        Returns:
            The pieces that were actually removed, in ascending order and merged.
        """
        items = sorted(r for r in ranges if r[1] > 0)
        if not items or not self._nranges:
            return []
        # Coalesce what is to be removed.
        cut_starts: list[int] = []
        cut_ends: list[int] = []
        for start, count in items:
            end = start + count
            if cut_ends and start <= cut_ends[-1]:
                cut_ends[-1] = max(cut_ends[-1], end)
            else:
                cut_starts.append(start)
                cut_ends.append(end)
        lo_ci, lo_j = self._first_ending_after(cut_starts[0])
        hi_ci, hi_j = self._after_last_starting_before(cut_ends[-1])
        span = self._span_length(lo_ci, lo_j, hi_ci, hi_j)
        if not span:
            return []
        stored = self._span_items(lo_ci, lo_j, hi_ci, hi_j)
        keep_starts: list[int] = []
        keep_counts: list[int] = []
        removed: list[PageRange] = []
        k = 0
        for start, count in stored:
            end = start + count
            pos = start
            # Cuts entirely before ``pos`` are done with.
            while k < len(cut_ends) and cut_ends[k] <= pos:
                k += 1
            m = k
            while pos < end:
                if m >= len(cut_starts) or cut_starts[m] >= end:
                    keep_starts.append(pos)
                    keep_counts.append(end - pos)
                    break
                c_lo, c_hi = max(cut_starts[m], pos), min(cut_ends[m], end)
                if c_lo > pos:
                    keep_starts.append(pos)
                    keep_counts.append(c_lo - pos)
                removed.append(PageRange(c_lo, c_hi - c_lo))
                pos = c_hi
                if cut_ends[m] <= end:
                    m += 1
        taken = sum(r.count for r in removed)
        if not taken:
            return []
        self._replace_span(lo_ci, lo_j, hi_ci, hi_j, span, keep_starts, keep_counts)
        self._pages -= taken
        self._nranges += len(keep_starts) - span
        return removed

    def pop(self, max_count: int) -> PageRange | None:
        """Take up to ``max_count`` pages from the top of the highest range.

        Returns:
            ``(start + count - max_count, max_count)`` when the highest range is longer than
            ``max_count`` (the range shrinks), the whole highest range otherwise (it is
            removed), or None when the set is empty.
        """
        if not self._nranges or max_count <= 0:
            return None
        starts = self._starts[-1]
        counts = self._counts[-1]
        start, count = starts[-1], counts[-1]
        if count > max_count:
            counts[-1] = count - max_count
            self._pages -= max_count
            return PageRange(start + count - max_count, max_count)
        starts.pop()
        counts.pop()
        if not starts:
            self._starts.pop()
            self._counts.pop()
            self._firsts.pop()
        self._nranges -= 1
        self._pages -= count
        return PageRange(start, count)

    def pop_many(self, max_pages: int, max_ranges: int, max_each: int) -> list[tuple[int, int]]:
        """Repeated :meth:`pop`: ``(start, count)`` pieces from the top down.

        Each piece has at most ``max_each`` pages; stops after ``max_ranges`` pieces, after
        ``max_pages`` pages in total, or when the set is empty. Same result as calling
        ``pop(min(remaining, max_each))`` that many times.
        """
        out: list[tuple[int, int]] = []
        taken = 0
        while max_pages > 0 and len(out) < max_ranges and self._nranges:
            starts = self._starts[-1]
            counts = self._counts[-1]
            # Whole ranges off the end of the last chunk, in bulk while none needs cutting.
            k = min(max_ranges - len(out), len(counts))
            tail = counts[-k:]
            if max(tail) <= max_each:
                sums = list(accumulate(reversed(tail)))
                whole = bisect_right(sums, max_pages)
                if whole:
                    out.extend(
                        zip(reversed(starts[-whole:]), reversed(counts[-whole:]), strict=True)
                    )
                    del starts[-whole:]
                    del counts[-whole:]
                    self._nranges -= whole
                    max_pages -= sums[whole - 1]
                    taken += sums[whole - 1]
            if starts and max_pages > 0 and len(out) < max_ranges:
                # The top range must be cut (too long for max_each or for max_pages).
                count = counts[-1]
                take = min(count, max_pages, max_each)
                if take < count:
                    counts[-1] = count - take
                    out.append((starts[-1] + count - take, take))
                else:
                    out.append((starts.pop(), counts.pop()))
                    self._nranges -= 1
                max_pages -= take
                taken += take
            if not starts:
                self._starts.pop()
                self._counts.pop()
                self._firsts.pop()
        self._pages -= taken
        return out

    # ---------------------------------------------------------------- internals

    def _absorb_following(self, ci: int, j: int, cur_end: int) -> tuple[int, int]:
        """Delete the ranges after position (ci, j) that start at or before ``cur_end``.

        Returns:
            (total pages of the deleted ranges, the end of the merged range).
        """
        absorbed = 0
        starts = self._starts[ci]
        counts = self._counts[ci]
        k = bisect_right(starts, cur_end, j + 1)
        if k > j + 1:
            last_end = starts[k - 1] + counts[k - 1]
            absorbed += sum(counts[j + 1 : k])
            self._nranges -= k - (j + 1)
            del starts[j + 1 : k]
            del counts[j + 1 : k]
            if last_end > cur_end:
                # Stored ranges never touch, so nothing after this one can join.
                return absorbed, last_end
        if j + 1 < len(starts):
            return absorbed, cur_end
        # This chunk is exhausted: the following chunks may still hold joining ranges.
        firsts = self._firsts
        nxt = ci + 1
        while nxt < len(firsts) and firsts[nxt] <= cur_end:
            n_starts = self._starts[nxt]
            n_counts = self._counts[nxt]
            k = bisect_right(n_starts, cur_end)
            last_end = n_starts[k - 1] + n_counts[k - 1]
            absorbed += sum(n_counts[:k])
            self._nranges -= k
            del n_starts[:k]
            del n_counts[:k]
            if n_starts:
                firsts[nxt] = n_starts[0]
            else:
                del self._starts[nxt]
                del self._counts[nxt]
                del firsts[nxt]
            if last_end > cur_end:
                return absorbed, last_end
            if n_starts:
                break
        return absorbed, cur_end

    def _first_joining(self, start: int) -> tuple[int, int]:
        """Position of the first stored range that ends at or after ``start``.

        That is the range a new range at ``start`` would merge with first (the previous range
        if it overlaps or touches ``start``, else the one after it); it may be one past the end
        of a chunk.
        """
        ci = bisect_right(self._firsts, start) - 1
        if ci < 0:
            return 0, 0
        starts = self._starts[ci]
        j = bisect_right(starts, start) - 1
        if starts[j] + self._counts[ci][j] >= start:
            return ci, j
        return ci, j + 1

    def _after_last_starting_by(self, end: int) -> tuple[int, int]:
        """Position just after the last stored range that starts at or before ``end``."""
        ci = bisect_right(self._firsts, end) - 1
        if ci < 0:
            return -1, 0
        return ci, bisect_right(self._starts[ci], end)

    def _first_ending_after(self, start: int) -> tuple[int, int]:
        """Position of the first stored range that ends after ``start`` (shares a page
        with ``[start, ...)``)."""
        ci = bisect_right(self._firsts, start) - 1
        if ci < 0:
            return 0, 0
        starts = self._starts[ci]
        j = bisect_right(starts, start) - 1
        if starts[j] + self._counts[ci][j] > start:
            return ci, j
        return ci, j + 1

    def _after_last_starting_before(self, end: int) -> tuple[int, int]:
        """Position just after the last stored range that starts before ``end``."""
        ci = bisect_left(self._firsts, end) - 1
        if ci < 0:
            return -1, 0
        return ci, bisect_left(self._starts[ci], end)

    def _span_items(self, lo_ci: int, lo_j: int, hi_ci: int, hi_j: int) -> list[tuple[int, int]]:
        """The stored ``(start, count)`` pairs from position lo (inclusive) to hi (exclusive)."""
        out: list[tuple[int, int]] = []
        for ci in range(lo_ci, hi_ci + 1):
            first = lo_j if ci == lo_ci else 0
            last = hi_j if ci == hi_ci else len(self._starts[ci])
            out.extend(zip(self._starts[ci][first:last], self._counts[ci][first:last], strict=True))
        return out

    def _span_length(self, lo_ci: int, lo_j: int, hi_ci: int, hi_j: int) -> int:
        """Number of stored ranges from position lo (inclusive) to hi (exclusive)."""
        if hi_ci < lo_ci:
            return 0
        if hi_ci == lo_ci:
            return max(0, hi_j - lo_j)
        middle = sum(len(self._starts[ci]) for ci in range(lo_ci + 1, hi_ci))
        return len(self._starts[lo_ci]) - lo_j + middle + hi_j

    def _replace_span(
        self,
        lo_ci: int,
        lo_j: int,
        hi_ci: int,
        hi_j: int,
        span: int,
        new_starts: list[int],
        new_counts: list[int],
    ) -> None:
        """Put ``new_*`` in place of the ``span`` stored ranges from position lo to hi."""
        if not self._firsts:
            if not new_starts:
                return
            self._starts.append(list(new_starts))
            self._counts.append(list(new_counts))
            self._firsts.append(new_starts[0])
            self._maybe_split(0)
            return
        if not span:
            hi_ci, hi_j = lo_ci, lo_j
        starts = self._starts[lo_ci][:lo_j] + new_starts + self._starts[hi_ci][hi_j:]
        counts = self._counts[lo_ci][:lo_j] + new_counts + self._counts[hi_ci][hi_j:]
        if not starts:  # everything in these chunks went away
            del self._starts[lo_ci : hi_ci + 1]
            del self._counts[lo_ci : hi_ci + 1]
            del self._firsts[lo_ci : hi_ci + 1]
            return
        self._starts[lo_ci : hi_ci + 1] = [starts]
        self._counts[lo_ci : hi_ci + 1] = [counts]
        self._firsts[lo_ci : hi_ci + 1] = [starts[0]]
        self._maybe_split(lo_ci)

    def _maybe_split(self, ci: int) -> None:
        """Cut chunk ``ci`` into pieces of ``load`` ranges if it grew past twice that."""
        starts = self._starts[ci]
        load = self._load
        if len(starts) <= 2 * load:
            return
        counts = self._counts[ci]
        cuts = range(0, len(starts), load)
        self._starts[ci : ci + 1] = [starts[c : c + load] for c in cuts]
        self._counts[ci : ci + 1] = [counts[c : c + load] for c in cuts]
        self._firsts[ci : ci + 1] = [starts[c] for c in cuts]
