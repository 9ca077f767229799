"""PageRangeTree against the spec's worked example and two naive models (balloon.md §3.10)."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hvballoond.machine.hv_balloon.page_ranges import PageRange, PageRangeTree


class LiteralTree:
    """The §3.10 algorithm spelled out step by step over a plain dict (slow, obviously right)."""

    def __init__(self) -> None:
        self.ranges: dict[int, int] = {}

    def insert(self, start: int, count: int) -> int:
        if count == 0:
            return 0
        dup = 0
        end = start + count
        below = [s for s in self.ranges if s <= start]
        cur: int
        if below and (p := max(below)) + self.ranges[p] >= start:
            p_end = p + self.ranges[p]
            dup += max(0, min(p_end, end) - max(p, start))
            self.ranges[p] = max(p_end, end) - p
            cur = p
        else:
            self.ranges[start] = count
            cur = start
        while True:
            after = sorted(s for s in self.ranges if s > cur)
            if not after:
                break
            n = after[0]
            cur_end = cur + self.ranges[cur]
            if n > cur_end:
                break
            n_end = n + self.ranges[n]
            dup += max(0, min(n_end, cur_end) - max(n, cur))
            self.ranges[cur] = max(cur_end, n_end) - cur
            del self.ranges[n]
        return dup

    def pop(self, max_count: int) -> tuple[int, int] | None:
        if not self.ranges:
            return None
        top = max(self.ranges)
        count = self.ranges[top]
        if count > max_count:
            self.ranges[top] = count - max_count
            return (top + count - max_count, max_count)
        del self.ranges[top]
        return (top, count)


def pages_of(tree: PageRangeTree) -> set[int]:
    return {p for r in tree for p in range(r.start, r.end)}


def check_invariants(tree: PageRangeTree) -> None:
    ranges = list(tree)
    assert len(ranges) == len(tree)
    assert all(r.count > 0 for r in ranges)
    for a, b in itertools.pairwise(ranges):
        assert a.end < b.start, f"{a} and {b} overlap or touch"
    assert tree.page_count == sum(r.count for r in ranges)


def test_worked_example_table() -> None:
    tree = PageRangeTree()
    assert tree.insert(100, 10) == 0
    assert tree.as_dict() == {100: 10}
    assert tree.insert(110, 5) == 0
    assert tree.as_dict() == {100: 15}
    assert tree.insert(90, 10) == 0
    assert tree.as_dict() == {90: 25}
    assert tree.insert(95, 10) == 10
    assert tree.as_dict() == {90: 25}
    assert tree.insert(200, 1) == 0
    assert tree.as_dict() == {90: 25, 200: 1}
    assert tree.pop(5) == PageRange(200, 1)
    assert tree.as_dict() == {90: 25}
    assert tree.pop(5) == PageRange(110, 5)
    assert tree.as_dict() == {90: 20}


def test_empty_tree() -> None:
    tree = PageRangeTree()
    assert not tree
    assert tree.pop(10) is None
    assert not tree.intersects_any(0, 100)
    assert tree.insert(5, 0) == 0
    assert len(tree) == 0


def test_insert_spanning_many_ranges_merges_them_all() -> None:
    tree = PageRangeTree((s, 1) for s in range(0, 100, 2))
    assert len(tree) == 50
    assert tree.insert(1, 98) == 49  # covers pages 1..98: 49 even pages were there
    assert tree.as_dict() == {0: 99}


def test_intersects_any_boundaries() -> None:
    tree = PageRangeTree([(10, 5), (30, 5)])
    assert not tree.intersects_any(0, 10)  # ends where the first range starts
    assert tree.intersects_any(0, 11)
    assert tree.intersects_any(14, 1)
    assert not tree.intersects_any(15, 15)  # the gap between the ranges, exactly
    assert tree.intersects_any(15, 16)
    assert not tree.intersects_any(35, 100)
    assert not tree.intersects_any(12, 0)


def test_chunk_splits_and_cross_chunk_merges() -> None:
    tree = PageRangeTree(load=2)
    for s in range(100, 0, -2):  # descending, the guest's usual order
        tree.insert(s, 1)
    check_invariants(tree)
    assert len(tree._firsts) > 5  # really split into many chunks
    assert tree.insert(3, 60) == 30
    check_invariants(tree)
    assert tree.intersects_any(80, 1)
    assert not tree.intersects_any(81, 1)


ops = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.integers(0, 300), st.integers(0, 40)),
        st.tuples(st.just("pop"), st.integers(1, 50), st.just(0)),
        st.tuples(st.just("probe"), st.integers(0, 300), st.integers(0, 40)),
    ),
    max_size=80,
)


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, load=st.sampled_from([1, 2, 3, 512]))
def test_matches_naive_models(ops: list[tuple[str, int, int]], load: int) -> None:
    tree = PageRangeTree(load=load)
    literal = LiteralTree()
    pages: set[int] = set()
    for op, a, b in ops:
        if op == "insert":
            new = set(range(a, a + b))
            expected_dup = len(new & pages)
            assert tree.insert(a, b) == literal.insert(a, b) == expected_dup
            pages |= new
        elif op == "pop":
            got = tree.pop(a)
            want = literal.pop(a)
            assert ((got.start, got.count) if got else None) == want
            if got:
                pages -= set(range(got.start, got.end))
        else:
            assert tree.intersects_any(a, b) == bool(pages & set(range(a, a + b)))
        check_invariants(tree)
        assert tree.as_dict() == dict(sorted(literal.ranges.items()))
        assert pages_of(tree) == pages


batches = st.lists(
    st.lists(st.tuples(st.integers(0, 400), st.integers(0, 30)), max_size=25), max_size=8
)


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(batches=batches, load=st.sampled_from([1, 2, 4, 512]))
def test_insert_many_equals_single_inserts(batches: list[list[tuple[int, int]]], load: int) -> None:
    bulk = PageRangeTree(load=load)
    single = PageRangeTree(load=load)
    for batch in batches:
        expected = sum(single.insert(s, c) for s, c in batch)
        assert bulk.insert_many(batch) == expected
        check_invariants(bulk)
        assert bulk.as_dict() == single.as_dict()
        assert bulk.page_count == single.page_count


def test_insert_many_splices_descending_batches() -> None:
    tree = PageRangeTree(load=64)
    starts = list(range(1 << 28, (1 << 28) - 200_000, -4))  # every other pair of pages
    for b in range(0, len(starts), 1000):
        assert tree.insert_many((s, 2) for s in starts[b : b + 1000]) == 0
    check_invariants(tree)
    assert len(tree) == len(starts)
    assert tree.insert_many((s, 2) for s in starts[:10]) == 20
    # The complementary pages join everything into one range.
    assert tree.insert_many((s + 2, 2) for s in starts) == 0
    assert tree.as_dict() == {starts[-1]: 4 * len(starts)}


removals = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.lists(st.tuples(st.integers(0, 300), st.integers(0, 30)))),
        st.tuples(st.just("remove"), st.lists(st.tuples(st.integers(0, 300), st.integers(0, 30)))),
    ),
    max_size=12,
)


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(steps=removals, load=st.sampled_from([1, 2, 512]))
def test_remove_many_matches_page_set(
    steps: list[tuple[str, list[tuple[int, int]]]], load: int
) -> None:
    tree = PageRangeTree(load=load)
    pages: set[int] = set()
    for op, batch in steps:
        wanted = {p for s, c in batch for p in range(s, s + c)}
        if op == "insert":
            tree.insert_many(batch)
            pages |= wanted
        else:
            removed = tree.remove_many(batch)
            got = {p for r in removed for p in range(r.start, r.end)}
            assert got == pages & wanted
            assert all(a.end < b.start for a, b in itertools.pairwise(removed))
            pages -= wanted
        check_invariants(tree)
        assert pages_of(tree) == pages


@settings(max_examples=200, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 30)), max_size=30),
    max_pages=st.integers(0, 500),
    max_ranges=st.integers(0, 20),
    max_each=st.integers(1, 40),
    load=st.sampled_from([1, 2, 512]),
)
def test_pop_many_equals_repeated_pop(
    initial: list[tuple[int, int]], max_pages: int, max_ranges: int, max_each: int, load: int
) -> None:
    bulk = PageRangeTree(initial, load=load)
    single = PageRangeTree(initial, load=load)
    expected: list[tuple[int, int]] = []
    left = max_pages
    while left > 0 and len(expected) < max_ranges:
        got = single.pop(min(left, max_each))
        if got is None:
            break
        expected.append((got.start, got.count))
        left -= got.count
    assert bulk.pop_many(max_pages, max_ranges, max_each) == expected
    check_invariants(bulk)
    assert bulk.as_dict() == single.as_dict()


def test_bounds_and_last_below() -> None:
    tree = PageRangeTree([(10, 5), (30, 5)], load=1)
    assert tree.bounds() == (10, 35)
    assert tree.last_below(10) is None
    assert tree.last_below(11) == PageRange(10, 1)
    assert tree.last_below(25) == PageRange(10, 5)
    assert tree.last_below(32) == PageRange(30, 2)
    assert tree.last_below(1000) == PageRange(30, 5)
    assert PageRangeTree().bounds() is None
