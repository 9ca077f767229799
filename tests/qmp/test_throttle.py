"""EventThrottle: QEMU's 1 s last-event-wins rate limit (spec §8.2)."""

from __future__ import annotations

from hvballoond.clock import NS_PER_MS, NS_PER_S
from hvballoond.qmp.throttle import THROTTLED_EVENTS, EventThrottle
from hvballoond.wire.values import JSONObject


def event(name: str, seconds: int, **data: str | int) -> JSONObject:
    message: JSONObject = {"timestamp": {"seconds": seconds, "microseconds": 0}, "event": name}
    if data:
        message["data"] = dict(data)
    return message


def test_table_matches_qemu() -> None:
    assert THROTTLED_EVENTS == {
        "RTC_CHANGE": None,
        "BLOCK_IO_ERROR": "qom-path",
        "WATCHDOG": None,
        "BALLOON_CHANGE": None,
        "QUORUM_REPORT_BAD": "node-name",
        "QUORUM_FAILURE": None,
        "VSERPORT_CHANGE": "id",
        "MEMORY_DEVICE_SIZE_CHANGE": "qom-path",
        "HV_BALLOON_STATUS_REPORT": None,
    }


def test_unthrottled_events_pass() -> None:
    throttle = EventThrottle()
    stop = event("STOP", 1)
    assert throttle.offer(stop, 0) == [stop]
    assert throttle.offer(stop, 1) == [stop]
    assert throttle.next_deadline() is None


def test_first_now_last_at_window_end_then_new_window() -> None:
    throttle = EventThrottle()
    first = event("BALLOON_CHANGE", 100, actual=1)
    second = event("BALLOON_CHANGE", 100, actual=2)
    third = event("BALLOON_CHANGE", 100, actual=3)
    assert throttle.offer(first, 0) == [first]
    assert throttle.next_deadline() == NS_PER_S
    assert throttle.offer(second, 200 * NS_PER_MS) == []
    assert throttle.offer(third, 300 * NS_PER_MS) == []
    assert throttle.due(NS_PER_S - 1) == []
    # The last one wins and keeps its own timestamp.
    assert throttle.due(NS_PER_S) == [third]
    # A new window opened when it was sent.
    assert throttle.next_deadline() == 2 * NS_PER_S
    fourth = event("BALLOON_CHANGE", 101, actual=4)
    assert throttle.offer(fourth, 1500 * NS_PER_MS) == []
    assert throttle.due(2 * NS_PER_S) == [fourth]
    # Nothing came during the third window: it closes and the next event is immediate.
    assert throttle.due(3 * NS_PER_S) == []
    assert throttle.next_deadline() is None
    fifth = event("BALLOON_CHANGE", 103, actual=5)
    assert throttle.offer(fifth, 3 * NS_PER_S + 1) == [fifth]


def test_new_window_starts_when_the_timer_fires() -> None:
    throttle = EventThrottle()
    throttle.offer(event("RTC_CHANGE", 0, offset=1), 0)
    throttle.offer(event("RTC_CHANGE", 0, offset=2), 10)
    late = NS_PER_S + 250 * NS_PER_MS
    assert len(throttle.due(late)) == 1
    assert throttle.next_deadline() == late + NS_PER_S


def test_keyed_by_qom_path() -> None:
    throttle = EventThrottle()
    a1 = event("MEMORY_DEVICE_SIZE_CHANGE", 1, size=1, **{"qom-path": "/machine/peripheral/a"})
    a2 = event("MEMORY_DEVICE_SIZE_CHANGE", 1, size=2, **{"qom-path": "/machine/peripheral/a"})
    b1 = event("MEMORY_DEVICE_SIZE_CHANGE", 1, size=3, **{"qom-path": "/machine/peripheral/b"})
    assert throttle.offer(a1, 0) == [a1]
    assert throttle.offer(b1, 10) == [b1]
    assert throttle.offer(a2, 20) == []
    assert throttle.next_deadline() == NS_PER_S
    assert throttle.due(NS_PER_S) == [a2]
    assert throttle.due(NS_PER_S + 10) == []  # b's window closes empty
    assert throttle.next_deadline() == 2 * NS_PER_S


def test_global_events_ignore_data() -> None:
    throttle = EventThrottle()
    one = event("HV_BALLOON_STATUS_REPORT", 1, committed=1, available=2)
    two = event("HV_BALLOON_STATUS_REPORT", 1, committed=3, available=4)
    assert throttle.offer(one, 0) == [one]
    assert throttle.offer(two, 1) == []


def test_due_returns_windows_in_deadline_order() -> None:
    throttle = EventThrottle()
    for name, at in (("WATCHDOG", 5), ("RTC_CHANGE", 1), ("BALLOON_CHANGE", 3)):
        throttle.offer(event(name, 0), at)
    later = {name: event(name, 1) for name in ("WATCHDOG", "RTC_CHANGE", "BALLOON_CHANGE")}
    for message in later.values():
        assert throttle.offer(message, 10) == []
    assert throttle.due(2 * NS_PER_S) == [
        later["RTC_CHANGE"],
        later["BALLOON_CHANGE"],
        later["WATCHDOG"],
    ]
