"""QEMU's rate limit for guest-triggerable events (spec §8.2, monitor/monitor.c).

Per throttle key (the event name, plus one ``data`` member for some events):

1. no window open: the event is sent now and a 1 s window opens;
2. window open: the event is remembered, replacing any event remembered before;
3. window end: a remembered event is sent then, with its original timestamp, and a
   new window opens at that moment; with nothing remembered the window closes.

The caller stamps events, calls :meth:`EventThrottle.offer` for each, and calls
:meth:`EventThrottle.due` whenever :meth:`EventThrottle.next_deadline` has passed.
Time is the caller's monotonic clock in nanoseconds.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from hvballoond.wire.values import JSONObject

__all__ = ["THROTTLED_EVENTS", "THROTTLE_WINDOW_NS", "EventThrottle"]

THROTTLE_WINDOW_NS: Final = 1_000_000_000

# Event name -> the ``data`` member that tells instances apart (None: one per event).
THROTTLED_EVENTS: Final[Mapping[str, str | None]] = {
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

_Key = tuple[str, str | None]


@dataclass(slots=True)
class _Window:
    deadline_ns: int
    pending: JSONObject | None = None
    sequence: int = field(default=0)


class EventThrottle:
    """Per-key 1 s last-event-wins rate limiting.

    Args:
        window_ns: Window length (QEMU: 1 s for every throttled event).
        throttled: Event name -> key member, as :data:`THROTTLED_EVENTS`.
    """

    def __init__(
        self,
        *,
        window_ns: int = THROTTLE_WINDOW_NS,
        throttled: Mapping[str, str | None] = THROTTLED_EVENTS,
    ) -> None:
        self._window_ns = window_ns
        self._throttled = throttled
        self._windows: dict[_Key, _Window] = {}
        # (deadline, sequence, key); entries whose window moved on are skipped.
        self._heap: list[tuple[int, int, _Key]] = []
        self._sequence = itertools.count()

    def offer(self, event: JSONObject, now_ns: int) -> list[JSONObject]:
        """Submit a stamped event.

        Args:
            event: ``{"timestamp": ..., "event": name, "data": ...}``.
            now_ns: Current monotonic time.

        Returns:
            The events to send now: ``[event]``, or ``[]`` if it was held back.
        """
        name = event.get("event")
        if not isinstance(name, str) or name not in self._throttled:
            return [event]
        key = self._key(name, event)
        window = self._windows.get(key)
        if window is not None:
            window.pending = event
            return []
        self._open(key, now_ns + self._window_ns)
        return [event]

    def due(self, now_ns: int) -> list[JSONObject]:
        """Close the windows that ended by ``now_ns``.

        Args:
            now_ns: Current monotonic time.

        Returns:
            Remembered events whose window ended, in window-end order.
        """
        out: list[JSONObject] = []
        heap = self._heap
        while heap and heap[0][0] <= now_ns:
            _, sequence, key = heapq.heappop(heap)
            window = self._windows.get(key)
            if window is None or window.sequence != sequence:
                continue
            if window.pending is None:
                del self._windows[key]
                continue
            out.append(window.pending)
            self._open(key, now_ns + self._window_ns)
        return out

    def next_deadline(self) -> int | None:
        """When the earliest open window ends (monotonic ns), or ``None``."""
        heap = self._heap
        while heap:
            deadline, sequence, key = heap[0]
            window = self._windows.get(key)
            if window is not None and window.sequence == sequence:
                return deadline
            heapq.heappop(heap)
        return None

    def _key(self, name: str, event: JSONObject) -> _Key:
        member = self._throttled[name]
        if member is None:
            return (name, None)
        data = event.get("data")
        value = data.get(member) if isinstance(data, dict) else None
        return (name, value if isinstance(value, str) else None)

    def _open(self, key: _Key, deadline_ns: int) -> None:
        sequence = next(self._sequence)
        self._windows[key] = _Window(deadline_ns, None, sequence)
        heapq.heappush(self._heap, (deadline_ns, sequence, key))
