"""Random targets, hot-adds, reboots, reconnects and hostile guests never corrupt the host's
bookkeeping (balloon.md §3.2, §3.9, §3.13)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hvballoond.machine.hv_balloon.guest_sim import (
    GuestPolicy,
    HostileReports,
    HotAddReply,
    PageOrder,
)
from hvballoond.machine.hv_balloon.host import PageKind
from hvballoond.machine.hv_balloon.page_ranges import PageRangeTree
from hvballoond.machine.units import GiB, MiB

from .rig import NS, Rig

PAGE = 4096

hostile = st.builds(
    HostileReports,
    beyond_ram_pages=st.sampled_from([0, 0, 3, 5000]),
    rom_pages=st.sampled_from([0, 2]),
    duplicate=st.booleans(),
    extra_pages=st.sampled_from([0, 0, 17]),
    memdev_pages=st.sampled_from([0, 0, 4]),
)

policies = st.builds(
    GuestPolicy,
    hot_add_reply=st.sampled_from(list(HotAddReply)),
    hot_add_pages=st.sampled_from([0, 1000, 32768]),
    hot_add_alignment=st.sampled_from([0, 7, 9]),
    balloon_chunk_ranges=st.sampled_from([1, 7, 1024]),
    page_order=st.sampled_from(list(PageOrder)),
    fragment_pages=st.sampled_from([64, 512]),
    min_page_cnt=st.sampled_from([0, 100_000]),
    balloon_delay_ns=st.sampled_from([0, NS]),
    unballoon_delay_ns=st.sampled_from([0, NS // 2]),
    hot_add_delay_ns=st.sampled_from([0, 2 * NS]),
    stall_after=st.sampled_from([None, None, None, 6]),
    status_interval_ns=st.just(None),
    hostile=hostile,
)


class HostBookkeeping(RuleBasedStateMachine):
    """Drive one hv-balloon with a (sometimes hostile) guest and check the counters."""

    def __init__(self) -> None:
        super().__init__()
        self.rig = Rig(
            ram_size=1 * GiB,
            memdev_addr=32 * GiB,
            memdev_size=2 * GiB,
            slot_size=256 * MiB,
            post_init_wait_ns=NS,
            policy=GuestPolicy(connect_delay_ns=NS // 2),
        )
        self.rig.advance(2)

    @rule(size=st.integers(1, 4 * GiB))
    def set_target(self, size: int) -> None:
        self.rig.balloon(size)

    @rule(seconds=st.sampled_from([0.1, 1, 3]))
    def wait(self, seconds: float) -> None:
        self.rig.advance(seconds)

    @rule(policy=policies)
    def reboot_with(self, policy: GuestPolicy) -> None:
        self.rig.policy = policy
        self.rig.reboot()
        self.rig.advance(2)

    @rule()
    def reload_vmbus(self) -> None:
        guest = self.rig.guest
        if guest is not None:
            guest.reload_vmbus(self.rig.vnow)
            self.rig.advance(2)

    @invariant()
    def counters_match_the_trees(self) -> None:
        host = self.rig.host
        both = [host.removed_both] + [o.removed_both for o in host._our_ranges()]
        guest = [host.removed_guest] + [o.removed_guest for o in host._our_ranges()]
        # Every returned page is counted exactly once, in the counter of its class.
        assert host.removed_both_ctr == sum(t.page_count for t in both)
        assert host.removed_guest_ctr == sum(t.page_count for t in guest)
        for trees in (both, guest):
            union = PageRangeTree()
            for tree in trees:
                assert union.insert_many((r.start, r.count) for r in tree) == 0

    @invariant()
    def both_pages_are_ram(self) -> None:
        host = self.rig.host
        classify = self.rig.ram_map.classify
        for tree in [host.removed_both] + [o.removed_both for o in host._our_ranges()]:
            for r in tree:
                pfn = r.start
                while pfn < r.end:
                    kind, _, end = classify(pfn)
                    assert kind is PageKind.RAM, (pfn, kind)
                    pfn = end

    @invariant()
    def actual_stays_within_the_vm(self) -> None:
        host = self.rig.host
        total = host.total_ram_pages()
        boot = self.rig.ram_size // PAGE
        our = host.our_range
        assert total == boot + (our.added if our is not None else 0)
        assert 0 <= host.actual_bytes() <= total * PAGE
        assert 0 <= host.current_pages() <= total
        if our is not None:
            assert 0 <= our.added + our.unusable_tail <= our.count


TestHostBookkeeping = HostBookkeeping.TestCase
TestHostBookkeeping.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
