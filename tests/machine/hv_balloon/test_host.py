"""The hv-balloon host state machine with the simulated guest (balloon.md §3, §5)."""

from __future__ import annotations

import struct
from collections.abc import MutableMapping, Sequence
from typing import Any

import pytest

from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import HvBalloonStatusReported
from hvballoond.machine.hv_balloon import dm
from hvballoond.machine.hv_balloon.guest_sim import (
    GuestPhase,
    GuestPolicy,
    HostileReports,
    HotAddReply,
    PageOrder,
    guest_policy_from_options,
)
from hvballoond.machine.hv_balloon.host import HostState, HvBalloonHost
from hvballoond.machine.units import GiB, MiB

from .rig import NS, Rig, capture_warnings

G = GiB


def warnings(logs: Sequence[MutableMapping[str, Any]]) -> list[object]:
    return [
        e["text"]
        for e in logs
        if e["event"] in ("hv_balloon.warn_report", "hv_balloon.error_report")
    ]


# ----------------------------------------------------------------------------- lifecycle


def test_startup_sequence_and_post_init_wait() -> None:
    rig = Rig()
    assert rig.state() is HostState.POST_RESET_CLOSED
    assert rig.host.actual_bytes() == 4 * G
    rig.advance(1.9)
    assert rig.state() is HostState.POST_RESET_CLOSED  # connects after 2 s
    rig.advance(0.1)
    assert rig.state() is HostState.POST_INIT_WAIT
    assert rig.host.caps.hot_add and rig.host.caps.balloon and rig.host.caps.hot_add_alignment == 7
    rig.advance(49.9)
    assert rig.state() is HostState.POST_INIT_WAIT
    rig.advance(0.1)
    assert rig.state() is HostState.IDLE


def test_worked_example_of_spec_3_14() -> None:
    rig = Rig(ram_size=4 * G, memdev_size=8 * G)
    assert rig.host.total_ram_pages() == 1048576
    rig.boot()
    rig.balloon(3 * G)
    assert rig.host.removed_both_ctr == 262144
    assert rig.host.removed_guest_ctr == 0
    assert rig.host.actual_bytes() == 3221225472
    assert rig.host.trans_id == 1
    assert rig.state() is HostState.IDLE

    rig.balloon(6 * G)
    our = rig.host.our_range
    assert our is not None
    assert (our.start, our.count) == (8388608, 2097152)
    assert our.added == 524288
    assert rig.host.removed_both_ctr == 0
    assert rig.host.actual_bytes() == 6442450944
    assert rig.mapper is not None and rig.mapper.mapped == list(range(8))  # first 2 GiB
    # 1 balloon transaction, 1 unballoon, 1 hot-add response.
    assert rig.host.trans_id == 3
    assert rig.guest is not None
    assert rig.guest.visible_pages == 6 * G // 4096 - 64  # minus the option-ROM hole

    rig.reboot()
    assert rig.host.actual_bytes() == 4294967296
    assert rig.host.our_range is None
    assert rig.mapper.mapped == [] and rig.mapper.released == 1
    rig.boot()
    assert rig.host.actual_bytes() == 4294967296  # processed targets are not re-applied
    rig.balloon(6 * G)
    assert rig.host.actual_bytes() == 6442450944


def test_targets_wait_for_idle_and_zero_is_ignored() -> None:
    rig = Rig(memdev_size=8 * G)
    rig.balloon(4095)
    assert not rig.host.target_changed and rig.host.target == 0
    rig.balloon(5 * G)
    assert rig.host.target_changed  # kept: no guest yet
    rig.advance(2)
    assert rig.state() is HostState.POST_INIT_WAIT
    assert rig.host.actual_bytes() == 4 * G
    rig.advance(50)
    assert rig.host.actual_bytes() == 5 * G
    assert not rig.host.target_changed


def test_same_target_is_retried() -> None:
    rig = Rig(memdev_size=8 * G, policy=GuestPolicy(hot_add_reply=HotAddReply.REJECT))
    rig.boot()
    rig.balloon(5 * G)
    assert rig.host.actual_bytes() == 4 * G
    our = rig.host.our_range
    assert our is not None and our.unusable_tail == our.count
    rig.balloon(3 * G)
    assert rig.host.actual_bytes() == 3 * G
    rig.balloon(3 * G)  # unchanged target: evaluated again, nothing to do
    assert rig.state() is HostState.IDLE and not rig.host.target_changed


def test_no_guest_keeps_target_and_boot_size() -> None:
    rig = Rig(memdev_size=8 * G, policy=GuestPolicy(connect_delay_ns=None))
    rig.advance(100)
    rig.balloon(2 * G)
    assert rig.state() is HostState.POST_RESET_CLOSED
    assert rig.host.actual_bytes() == 4 * G
    assert rig.host.target == 2 * G // 4096


def test_balloon_with_multiple_responses_and_minimum() -> None:
    policy = GuestPolicy(
        balloon_chunk_ranges=3, min_page_cnt=(3 * G) // 4096, page_order=PageOrder.FRAGMENTED
    )
    rig = Rig(policy=policy)
    rig.boot()
    rig.balloon(2 * G)
    # The guest stops at its minimum of 3 GiB (minus nothing: min counts visible pages).
    assert rig.guest is not None
    assert rig.guest.visible_pages == 3 * G // 4096
    assert rig.host.removed_both_ctr == 262144 - 64
    assert rig.state() is HostState.IDLE
    assert rig.host.balloon_diff == 0
    # Fragmented: one stored range per 2 MiB block.
    assert len(rig.host.removed_both) > 100


def test_inflate_larger_than_one_request_takes_several_transactions() -> None:
    rig = Rig(ram_size=8 * G)
    rig.boot()
    rig.balloon(2 * G)
    assert rig.host.actual_bytes() == 2 * G
    # 6 GiB = 1572864 pages: requests of 585728, 585728 and 401408 pages.
    assert rig.host.trans_id == 3


def test_deflate_comes_from_trees_in_order() -> None:
    rig = Rig(ram_size=4 * G, memdev_size=8 * G)
    rig.boot()
    rig.balloon(6 * G)
    assert rig.host.actual_bytes() == 6 * G
    rig.balloon(5 * G)  # the guest returns 1 GiB from the top of boot RAM
    assert rig.host.actual_bytes() == 5 * G
    assert rig.host.our_range is not None
    assert not rig.host.our_range.removed_both
    rig.balloon(7 * G)  # 1 GiB back, then 1 GiB hot-added
    assert rig.host.actual_bytes() == 7 * G
    assert rig.host.our_range.added == 3 * G // 4096


def test_hot_added_first_pages_go_to_our_range_trees() -> None:
    rig = Rig(memdev_size=8 * G, policy=GuestPolicy(page_order=PageOrder.HOT_ADDED_FIRST))
    rig.boot()
    rig.balloon(6 * G)
    rig.balloon(5 * G)
    our = rig.host.our_range
    assert our is not None
    assert our.removed_both.page_count == 262144
    assert not rig.host.removed_both
    assert rig.host.actual_bytes() == 5 * G
    rig.balloon(6 * G)  # unballoon from the our-range tree
    assert not our.removed_both
    assert rig.host.actual_bytes() == 6 * G


def test_hot_add_without_memdev_or_capability_stops_at_deflation() -> None:
    rig = Rig()
    rig.boot()
    rig.balloon(3 * G)
    rig.balloon(8 * G)
    assert rig.host.actual_bytes() == 4 * G
    rig = Rig(memdev_size=8 * G, policy=GuestPolicy(hot_add=False))
    rig.boot()
    rig.balloon(8 * G)
    assert rig.host.actual_bytes() == 4 * G and rig.host.our_range is None


def test_hot_add_chunks_and_alignment() -> None:
    # 8 GiB in 2 GiB chunks; a 100 MiB remainder below the 128 MiB alignment is dropped.
    rig = Rig(ram_size=1 * G, memdev_size=16 * G)
    rig.boot()
    before = rig.host.trans_id
    rig.balloon(9 * G + 100 * MiB)
    assert rig.host.actual_bytes() == 9 * G
    assert rig.host.trans_id - before == 4


def test_huge_alignment_overrides_chunk() -> None:
    rig = Rig(ram_size=1 * G, memdev_size=16 * G, policy=GuestPolicy(hot_add_alignment=12))
    rig.boot()
    before = rig.host.trans_id
    rig.balloon(8 * G)  # 7 GiB wanted: aligned down to one 4 GiB request
    assert rig.host.actual_bytes() == 5 * G
    assert rig.host.trans_id - before == 1
    rig.balloon(13 * G)  # 8 GiB more: two 4 GiB requests, each bigger than 2 GiB
    assert rig.host.actual_bytes() == 13 * G
    assert rig.host.trans_id - before == 3


@pytest.mark.parametrize(
    ("policy", "added", "unusable", "warns"),
    [
        (GuestPolicy(hot_add_reply=HotAddReply.PARTIAL, hot_add_pages=1000), 1000, True, []),
        (GuestPolicy(hot_add_reply=HotAddReply.REJECT), 0, True, []),
        (
            GuestPolicy(hot_add_reply=HotAddReply.OVER, hot_add_pages=7),
            262144,
            False,
            ["DM_HOT_ADD_RESPONSE page count higher than requested (262151 vs 262144)"],
        ),
    ],
)
def test_hot_add_replies(policy: GuestPolicy, added: int, unusable: bool, warns: list[str]) -> None:
    rig = Rig(memdev_size=8 * G, policy=policy)
    rig.boot()
    with capture_warnings() as logs:
        rig.balloon(5 * G)
    our = rig.host.our_range
    assert our is not None
    assert our.added == added
    assert (our.unusable_tail > 0) is unusable
    assert warnings(logs) == warns
    assert rig.host.actual_bytes() == 4 * G + added * 4096
    if unusable:
        rig.balloon(6 * G)  # no further hot-add until a system reset
        assert our.added == added
        rig.reboot()
        rig.boot()
        rig.balloon(5 * G)  # a fresh our range after the reset
        assert rig.host.our_range is not our
        assert rig.host.our_range is not None and rig.host.our_range.added == added


def test_delayed_replies_freeze_the_operation() -> None:
    rig = Rig(memdev_size=8 * G, policy=GuestPolicy(hot_add_delay_ns=5 * NS))
    rig.boot()
    rig.balloon(5 * G)
    assert rig.state() is HostState.HOT_ADD_REPLY_WAIT
    assert rig.host.actual_bytes() == 4 * G
    rig.advance(5)
    assert rig.state() is HostState.IDLE
    assert rig.host.actual_bytes() == 5 * G


def test_unballoon_delay() -> None:
    rig = Rig(policy=GuestPolicy(unballoon_delay_ns=3 * NS))
    rig.boot()
    rig.balloon(3 * G)
    rig.balloon(4 * G)
    assert rig.state() is HostState.UNBALLOON_REPLY_WAIT
    # The counters already dropped when the requests went out.
    assert rig.host.actual_bytes() == 4 * G
    rig.advance(3)
    assert rig.state() is HostState.IDLE


def test_stall_mid_transaction_then_new_target_waits() -> None:
    rig = Rig(policy=GuestPolicy(stall_after=2))  # reads the version and caps responses only
    rig.boot()
    rig.balloon(3 * G)
    assert rig.state() is HostState.BALLOON_REPLY_WAIT
    rig.balloon(2 * G)
    assert rig.state() is HostState.BALLOON_REPLY_WAIT
    assert rig.host.target_changed
    assert rig.host.actual_bytes() == 4 * G


def test_unballoon_with_full_ring_waits_in_rb_wait() -> None:
    # A stalled guest stops reading: unballoon requests (24 bytes each) fill a 48-byte ring.
    rig = Rig(policy=GuestPolicy(page_order=PageOrder.FRAGMENTED), ring_bytes=48)
    rig.boot()
    rig.balloon(3 * G)
    assert len(rig.host.removed_both) > 3
    assert rig.guest is not None
    rig.guest.policy = GuestPolicy(stall_after=rig.guest.messages_read)
    rig.balloon(4 * G)
    assert rig.state() is HostState.UNBALLOON_RB_WAIT


def test_versions_rejected_then_accepted_or_given_up() -> None:
    rig = Rig(policy=GuestPolicy(versions=(0x30000, 0x2, 0x10000)))
    rig.advance(2)
    assert rig.state() is HostState.POST_INIT_WAIT
    assert rig.host.version == 0x10000
    rig = Rig(policy=GuestPolicy(versions=(0x30000,)))
    rig.advance(2)
    assert rig.state() is HostState.VERSION
    assert rig.guest is not None and rig.guest.phase is GuestPhase.GAVE_UP


def test_status_reports() -> None:
    rig = Rig(status_report=True)
    with pytest.raises(MachineError, match="no guest memory status report received yet"):
        rig.host.status()
    rig.advance(2)
    events = rig.advance(1)
    assert events == [HvBalloonStatusReported(committed=1073676288, available=3221028864)]
    assert rig.host.status() == (1073676288, 3221028864)
    assert len(rig.advance(3)) == 3  # one per second
    rig.reboot()
    with pytest.raises(MachineError, match="no guest memory status report received yet"):
        rig.host.status()


def test_status_reports_off_and_v3_spelling() -> None:
    rig = Rig(status_report=False)
    rig.advance(10)
    assert rig.events == []  # the guest was told to suppress them
    with pytest.raises(MachineError, match="guest memory status reporting not enabled"):
        rig.host.status()
    rig = Rig(status_report=True, v3_status_spelling=True)
    rig.advance(3)
    assert rig.events[0] == HvBalloonStatusReported(
        committed=1073676288, available=3221028864, v3_spelling=True
    )


def test_status_report_from_guest_that_ignores_suppression_is_dropped() -> None:
    rig = Rig(policy=GuestPolicy(honour_suppress=False))
    rig.advance(10)
    assert rig.events == []


def test_vmbus_reload_keeps_hot_added_memory() -> None:
    rig = Rig(memdev_size=8 * G)
    rig.boot()
    rig.balloon(3 * G)
    rig.balloon(6 * G)
    rig.balloon(5 * G)
    assert rig.host.removed_both_ctr == 262144
    assert rig.guest is not None
    rig.guest.reload_vmbus(rig.vnow)
    rig.advance(0)
    assert rig.state() is HostState.POST_RESET_CLOSED
    assert rig.host.removed_both_ctr == 0 and rig.host.trans_id == 0
    assert rig.host.our_range is not None and rig.host.our_range.added == 524288
    assert rig.host.actual_bytes() == 6 * G
    assert rig.guest.visible_pages == 6 * G // 4096 - 64
    rig.boot()
    assert rig.state() is HostState.IDLE


# ----------------------------------------------------------------------------- misbehaviour


def test_returned_pages_outside_ram() -> None:
    policy = GuestPolicy(hostile=HostileReports(beyond_ram_pages=3, rom_pages=2))
    rig = Rig(policy=policy)
    rig.boot()
    with capture_warnings() as logs:
        rig.balloon(4 * G - 40960)
    top = 0x100000 + (2 * G) // 4096
    assert warnings(logs) == [
        f"guest reported removed page {top} not found in RAM",
        f"guest reported removed page {top + 1} not found in RAM",
        f"guest reported removed page {top + 2} not found in RAM",
        "guest reported removed page 1048512 in a section that is not an ordinary RAM",
        "guest reported more pages removed than currently pending (15 vs 10)",
    ]
    assert rig.host.removed_guest_ctr == 5
    assert rig.host.removed_both_ctr == 10
    assert rig.host.actual_bytes() == 4 * G - 40960  # guest-class pages never lower actual
    rig.balloon(4 * G - 20480)  # 10 pages back: the 5 guest-class ones first
    assert rig.host.removed_guest_ctr == 0 and rig.host.removed_both_ctr == 5


def test_duplicates_are_not_counted() -> None:
    rig = Rig(policy=GuestPolicy(hostile=HostileReports(duplicate=True)))
    rig.boot()
    with capture_warnings() as logs:
        rig.balloon(3 * G)
    assert warnings(logs) == []
    assert rig.host.removed_both_ctr == 262144
    assert rig.host.actual_bytes() == 3 * G


def test_more_than_requested() -> None:
    rig = Rig(policy=GuestPolicy(hostile=HostileReports(extra_pages=100)))
    rig.boot()
    with capture_warnings() as logs:
        rig.balloon(3 * G)
    assert warnings(logs) == [
        "guest reported more pages removed than currently pending (262244 vs 262144)"
    ]
    assert rig.host.balloon_diff == 0 and rig.state() is HostState.IDLE


def test_pages_in_memdev_before_hot_add_block_the_hot_add() -> None:
    # Unballoon hands the highest returned pages back first, so the bogus memdev pages stay
    # in the tree only when more pages were "returned" than the VM has (R is capped at T).
    hostile = HostileReports(memdev_pages=4, beyond_ram_pages=1 << 20)
    rig = Rig(memdev_size=8 * G, policy=GuestPolicy(hostile=hostile))
    rig.boot()
    with capture_warnings() as logs:
        rig.balloon(3 * G)
    assert len(warnings(logs)) == 32 + 1  # capped per-page warnings, then "more than pending"
    assert [e["count"] for e in logs if e["event"] == "hv_balloon.warn_report.suppressed"] == [
        (1 << 20) + 4 - 32
    ]
    assert rig.host.removed_guest_ctr == (1 << 20) + 4
    assert rig.host.current_pages() == 0
    assert rig.host.actual_bytes() == 3 * G
    with capture_warnings() as logs:
        rig.balloon(6 * G)
    assert warnings(logs) == [
        "some parts of the memory backend were already returned by the guest. this should "
        "not happen, please reboot the guest and try again"
    ]
    assert rig.host.our_range is None
    assert rig.host.removed_guest_ctr == 4
    # Retrying hands the 4 remaining bogus pages back first; then the hot-add goes through.
    rig.balloon(6 * G)
    assert rig.host.our_range is not None
    assert rig.host.actual_bytes() == 6 * G


def test_protocol_abuse() -> None:
    rig = Rig()
    rig.advance(2)
    guest = rig.guest
    assert guest is not None
    with capture_warnings() as logs:
        guest.inject(b"\x05\x00")  # shorter than a header: silent
        guest.inject(struct.pack("<HHI", 99, 8, 0))
        guest.inject(struct.pack("<HHI", 12, 8, 0))  # DM_INFO_MESSAGE is not handled
        guest.inject(dm.encode(dm.VersionRequest(version=dm.VERSION_WIN10)))
        guest.inject(dm.encode(dm.BalloonResponse.of_ranges([(1000, 1)])))
        guest.inject(dm.encode(dm.UnballoonResponse()))
        guest.inject(dm.encode(dm.HotAddResponse(page_count=1)))
        guest.inject(dm.encode(dm.StatusReport(num_avail=1, num_committed=1))[:40])
        guest.inject(dm.encode(dm.CapsReport())[:20])
        guest.request_open()
        rig.advance(0)
    assert warnings(logs) == [
        "guest trying to open a DM channel in invalid 5 state",  # control requests go first
        "unknown DM message 99",
        "unknown DM message 12",
        "unexpected DM_VERSION_REQUEST in 5 state",
        "unexpected DM_BALLOON_RESPONSE in 5 state",
        "unexpected DM_UNBALLOON_RESPONSE in 5 state",
        "unexpected DM_HOT_ADD_RESPONSE in 5 state",
        "DM_STATUS_REPORT message too short (40 vs 48), ignoring",
        "unexpected DM_CAPABILITIES_REPORT in 5 state",
    ]
    assert rig.state() is HostState.POST_INIT_WAIT


def test_short_messages_in_the_right_state_and_short_range_count() -> None:
    rig = Rig(policy=GuestPolicy(connect_delay_ns=None))
    guest = rig.guest
    assert guest is not None
    guest.request_open()
    rig.advance(0)
    assert rig.state() is HostState.VERSION  # the guest sim ignores a result it did not ask
    with capture_warnings() as logs:
        guest.inject(dm.encode(dm.VersionRequest(version=dm.VERSION_WIN10))[:12])
        guest.inject(dm.encode(dm.VersionRequest(version=dm.VERSION_WIN10)))
        guest.inject(dm.encode(dm.CapsReport())[:31])
        guest.inject(dm.encode(dm.CapsReport(balloon=True, hot_add=False)))
        rig.advance(0)
    assert warnings(logs) == [
        "DM_VERSION_REQUEST message too short (12 vs 16), ignoring",
        "DM_CAPABILITIES_REPORT message too short (31 vs 32), ignoring",
    ]
    assert rig.state() is HostState.POST_INIT_WAIT
    rig.advance(50)
    rig.balloon(3 * G)
    assert rig.state() is HostState.BALLOON_REPLY_WAIT
    with capture_warnings() as logs:
        guest.inject(
            dm.encode(dm.BalloonResponse(packed_ranges=(dm.pack_range(5000, 1),), range_count=2))
        )
        guest.inject(dm.encode(dm.BalloonResponse.of_ranges([(5000, 1)], more_pages=True)))
        guest.inject(dm.encode(dm.BalloonResponse()))
        rig.advance(0)
    assert warnings(logs) == ["DM_BALLOON_RESPONSE too short for the range count"]
    assert rig.host.removed_both_ctr == 1
    assert rig.state() is HostState.IDLE  # range_count 0 ended the transaction
    assert rig.host.balloon_diff == 0


def test_guest_closing_the_channel() -> None:
    rig = Rig(status_report=True)
    rig.advance(5)
    assert rig.host.status()
    assert rig.guest is not None
    rig.guest.close()
    rig.advance(0)
    assert rig.state() is HostState.WAIT_RESET
    assert rig.host.next_deadline() is None
    with pytest.raises(MachineError, match="no guest memory status report received yet"):
        rig.host.status()


# ----------------------------------------------------------------------------- coverage


def test_every_state_is_reached_and_left(monkeypatch: pytest.MonkeyPatch) -> None:
    entered: list[HostState] = []
    original = HvBalloonHost._enter

    def spy(host: HvBalloonHost, new: HostState, vnow_ns: int) -> bool:
        changed = original(host, new, vnow_ns)
        if changed:
            entered.append(new)
        return changed

    monkeypatch.setattr(HvBalloonHost, "_enter", spy)
    rig = Rig(memdev_size=8 * G)
    rig.boot()
    rig.balloon(3 * G)
    rig.balloon(6 * G)
    assert rig.host.actual_bytes() == 6 * G
    assert rig.guest is not None
    rig.guest.close()
    rig.advance(0)
    assert set(entered) | {HostState.WAIT_RESET} == set(HostState)
    assert entered[-1] is HostState.WAIT_RESET
    # QEMU's numbers, which warnings print.
    assert [s.value for s in HostState] == list(range(1, 17))


def test_policy_from_hvb_guest_options() -> None:
    policy = guest_policy_from_options(connect_delay_s=0.5, hot_add="partial:64", balloon_chunk=3)
    assert policy.connect_delay_ns == NS // 2
    assert (policy.hot_add_reply, policy.hot_add_pages) == (HotAddReply.PARTIAL, 64)
    assert policy.balloon_chunk_ranges == 3
    assert guest_policy_from_options(connect_delay_s=-1).connect_delay_ns is None
    delayed = guest_policy_from_options(hot_add="delay:1.5")
    assert (delayed.hot_add_reply, delayed.hot_add_delay_ns) == (HotAddReply.FULL, 3 * NS // 2)
    assert guest_policy_from_options(hot_add="over:9").hot_add_reply is HotAddReply.OVER
    assert guest_policy_from_options(hot_add="reject").hot_add_reply is HotAddReply.REJECT
    for bad in ("partial", "partial:x", "full:1", "nope", "delay:-1"):
        with pytest.raises(ValueError, match="invalid hot-add reply"):
            guest_policy_from_options(hot_add=bad)
    with pytest.raises(ValueError, match="invalid balloon chunk"):
        guest_policy_from_options(balloon_chunk=0)


class EchoingGuest:
    """A broken guest that answers every balloon request with the same page again."""

    def __init__(self, rig: Rig) -> None:
        self.channel = rig.engine.channel

    def step(self, vnow_ns: int) -> bool:
        did = False
        while (data := self.channel.receive_from_host()) is not None:
            msg = dm.decode(data)
            if isinstance(msg, dm.BalloonRequest):
                self.channel.send_to_host(dm.encode(dm.BalloonResponse.of_ranges([(5000, 1)])))
            did = True
        return did

    def on_open_result(self, accepted: bool, vnow_ns: int) -> None: ...

    def next_deadline(self) -> int | None:
        return None


def test_a_guest_that_never_settles_cannot_block_the_machine() -> None:
    rig = Rig()
    rig.boot()
    rig.engine.link.attach(EchoingGuest(rig))
    with capture_warnings() as logs:
        rig.balloon(3 * G)
    assert [e["event"] for e in logs if e["event"] == "hv_balloon.channel.busy"] == [
        "hv_balloon.channel.busy"
    ]
    assert rig.engine.next_deadline() == rig.vnow + 1_000_000  # continued 1 ms later
    assert rig.host.removed_both_ctr == 1
    assert rig.state() is HostState.BALLOON_REPLY_WAIT


def test_random_page_order_is_reproducible() -> None:
    def returned(seed: int) -> dict[int, int]:
        rig = Rig(policy=GuestPolicy(page_order=PageOrder.RANDOM, fragment_pages=256), seed=seed)
        rig.boot()
        rig.balloon(3 * G)
        assert rig.host.actual_bytes() == 3 * G
        return rig.host.removed_both.as_dict()

    first = returned(7)
    assert len(first) > 100  # scattered, not one block from the top
    assert returned(7) == first
    assert returned(8) != first
