"""Event fan-out: stamp, throttle (qmp-protocol.md §8.2) and deliver to negotiated clients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import structlog

from hvballoond.clock import Instant
from hvballoond.dispatch.events import to_qapi_event
from hvballoond.dispatch.schema_check import OutgoingChecker
from hvballoond.machine.events import MachineEvent
from hvballoond.qmp.throttle import EventThrottle
from hvballoond.wire.values import JSONObject

__all__ = ["EventHub", "EventSink"]

log = structlog.get_logger(__name__)


class EventSink(Protocol):
    def deliver_event(self, event: JSONObject) -> None: ...


def stamp(name: str, data: JSONObject | None, now: Instant) -> JSONObject:
    seconds, rest_ns = divmod(now.wall_ns, 1_000_000_000)
    event: JSONObject = {
        "event": name,
        "timestamp": {"seconds": seconds, "microseconds": rest_ns // 1000},
    }
    if data is not None:
        event["data"] = data
    return event


class EventHub:
    """One per VM: every monitor of the VM subscribes its active client."""

    def __init__(self, *, checker: OutgoingChecker | None = None) -> None:
        self._checker = checker or OutgoingChecker()
        self._throttle = EventThrottle()
        self._sinks: list[EventSink] = []

    def subscribe(self, sink: EventSink) -> None:
        self._sinks.append(sink)

    def unsubscribe(self, sink: EventSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    def publish(self, events: Iterable[MachineEvent], now: Instant) -> None:
        for machine_event in events:
            qapi = to_qapi_event(machine_event)
            if qapi.data is None or "commited" not in qapi.data:  # v3 spelling: not in schema
                self._checker.check_event(qapi.name, qapi.data)
            event = stamp(qapi.name, qapi.data, now)
            for ready in self._throttle.offer(event, now.mono_ns):
                self._deliver(ready)

    def flush_due(self, now: Instant) -> None:
        for ready in self._throttle.due(now.mono_ns):
            self._deliver(ready)

    def next_deadline(self) -> int | None:
        return self._throttle.next_deadline()

    def _deliver(self, event: JSONObject) -> None:
        log.debug("qmp.event.sent", event_name=event["event"])
        for sink in list(self._sinks):
            sink.deliver_event(event)
