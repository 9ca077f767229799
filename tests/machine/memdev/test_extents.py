"""FreeExtents against a naive model: a sorted list of merged intervals."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hvballoond.machine.memdev.extents import FreeExtents

TOP = 1 << 20


def naive_fit(free: list[tuple[int, int]], start: int, align: int, size: int) -> int | None:
    for lo, hi in free:
        candidate = max(start, -(-lo // align) * align)
        if candidate + size <= hi:
            return candidate
    return None


def merged(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if out and out[-1][1] >= lo:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


@settings(max_examples=60, derandomize=True, deadline=None)
@given(
    cells=st.lists(st.integers(min_value=0, max_value=1023), min_size=1, max_size=600,
                   unique=True),
    freed=st.lists(st.integers(min_value=0, max_value=599), max_size=400),
    queries=st.lists(st.tuples(st.integers(0, 1 << 19), st.sampled_from([1, 2, 8, 64]),
                               st.integers(1, 4096)), max_size=20),
)
def test_extents_match_a_naive_model(
    cells: list[int], freed: list[int], queries: list[tuple[int, int, int]]
) -> None:
    # Occupy up to 600 cells of 1 KiB (hundreds of holes: several blocks and splits), give
    # some back, and compare the extents and first-fit answers with the naive model.
    extents = FreeExtents(0, TOP)
    used: set[int] = set()
    for cell in cells:
        extents.carve(cell * 1024, cell * 1024 + 1024)
        used.add(cell)
    for pick in freed:
        cell = cells[pick % len(cells)]
        if cell in used:
            extents.add(cell * 1024, cell * 1024 + 1024)
            used.discard(cell)
    occupied = merged([(c * 1024, c * 1024 + 1024) for c in used])
    model: list[tuple[int, int]] = []
    cursor = 0
    for lo, hi in occupied:
        if lo > cursor:
            model.append((cursor, lo))
        cursor = hi
    if cursor < TOP:
        model.append((cursor, TOP))
    assert list(extents) == model
    assert len(extents) == len(model)
    for start, align, size in queries:
        start = start // align * align
        assert extents.lowest_fit(start, align, size) == naive_fit(model, start, align, size)
        inside = next(((lo, hi) for lo, hi in model if lo <= start < hi), None)
        assert extents.containing(start) == inside
