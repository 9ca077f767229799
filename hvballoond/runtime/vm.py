"""Everything one emulated VM needs at run time: its machine, dispatcher, events and timers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from hvballoond.clock import Clock, FakeClock, Instant
from hvballoond.dispatch.catalog import Catalog
from hvballoond.dispatch.dispatcher import Dispatcher
from hvballoond.machine.events import MachineEvent, Shutdown, ShutdownCause
from hvballoond.qmp.errors import QmpError
from hvballoond.qmp.session import Request
from hvballoond.runtime.chardevs import InertChardev
from hvballoond.runtime.connection import QmpConnection
from hvballoond.runtime.hub import EventHub
from hvballoond.runtime.monitor import Monitor
from hvballoond.wire.values import JSONObject

__all__ = ["VmRuntime"]

log = structlog.get_logger(__name__)


class _MonitorControl:
    """What a handler may ask of the monitor a command arrived on (dispatch MonitorControl)."""

    def __init__(self, vm: VmRuntime, conn: QmpConnection) -> None:
        self._vm = vm
        self._conn = conn

    def enable_capabilities(self, capabilities: list[str]) -> None:
        self._conn.enable_capabilities(capabilities)

    def request_quit(self) -> None:
        self._conn.request_quit()

    def advance_virtual_clock(self, ns: int) -> None:
        self._vm.advance_virtual_clock(ns)

    def monitor_chardevs(self) -> list[str]:
        # query-yank: every socket chardev registers a yank instance (chardev/char-socket.c),
        # in creation order, whether a monitor or a device uses it.
        return [chardev.label for chardev in self._vm.chardevs if chardev.yankable]

    def yank_chardev(self, chardev_id: str) -> None:
        for chardev in self._vm.chardevs:
            if chardev.label == chardev_id and chardev.yankable:
                chardev.yank()


class VmRuntime:
    """The run-time side of one VM (no sockets: those belong to the daemon's listeners)."""

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        catalog: Catalog,
        clock: Clock,
        version: JSONObject,
        on_exit: Callable[[int], None],
    ) -> None:
        self.dispatcher = dispatcher
        self.machine = dispatcher.machine
        self.catalog = catalog
        self.clock = clock
        self.version = version
        self.hub = EventHub(checker=dispatcher.outgoing)
        self.monitors: list[Monitor] = []
        # Every chardev the runtime opened (monitors included), in creation order.
        self.chardevs: list[Monitor | InertChardev] = []
        self._on_exit = on_exit
        self._timer: asyncio.TimerHandle | None = None
        self._exiting = False

    def add_monitor(self, name: str, *, pretty: bool = False) -> Monitor:
        monitor = Monitor(name, self, pretty=pretty)
        self.monitors.append(monitor)
        self.chardevs.append(monitor)
        return monitor

    def add_chardev(self, chardev: InertChardev) -> None:
        """Keep an inert chardev (a device's) for query-yank, yank and exit."""
        self.chardevs.append(chardev)

    def greeting(self) -> JSONObject:
        return {"QMP": {"version": self.version, "capabilities": ["oob"]}}

    # commands --------------------------------------------------------------------------

    def execute(self, conn: QmpConnection, request: Request) -> None:
        now = self.clock.now()
        outcome = self.dispatcher.execute(
            request.command, request.arguments, monitor=_MonitorControl(self, conn), now=now
        )
        self.publish(outcome.events, now)
        assert conn.session is not None
        if isinstance(outcome.result, QmpError):
            conn.session.send_error(request, outcome.result)
        else:
            conn.session.send_reply(request, outcome.result)
        self.rearm_timers()

    def publish(self, events: list[MachineEvent], now: Instant) -> None:
        if events:
            self.hub.publish(events, now)

    # time ------------------------------------------------------------------------------

    def _next_deadline(self) -> int | None:
        deadlines = [d for d in (self.machine.next_deadline(), self.hub.next_deadline())
                     if d is not None]
        return min(deadlines) if deadlines else None

    def _fire(self, now: Instant) -> None:
        self.publish(self.machine.advance(now), now)
        self.hub.flush_due(now)

    def rearm_timers(self) -> None:
        """Wake up at the next machine or throttle deadline (real clock only)."""
        if self._exiting:
            return
        if isinstance(self.clock, FakeClock):
            # Virtual time only moves on request, but what the machine scheduled for "now"
            # (events that follow a reply, e.g. DEVICE_DELETED after system_reset) is due.
            deadline = self._next_deadline()
            if deadline is not None and deadline <= self.clock.mono_ns:
                self._fire(self.clock.now())
            return
        deadline = self._next_deadline()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        # SystemClock's mono_ns is time.monotonic_ns(), the event loop's time base.
        self._timer = loop.call_at(deadline / 1e9, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._fire(self.clock.now())
        self.rearm_timers()

    def advance_virtual_clock(self, ns: int) -> None:
        clock = self.clock
        if not isinstance(clock, FakeClock):
            raise QmpError(
                "the virtual clock is not enabled (start hvballoond with --virtual-clock)"
            )
        target = clock.mono_ns + ns
        while True:
            deadline = self._next_deadline()
            if deadline is None or deadline > target:
                break
            if deadline > clock.mono_ns:
                clock.advance(deadline - clock.mono_ns)
            self._fire(clock.now())
        clock.advance(target - clock.mono_ns)
        self._fire(clock.now())

    # shutdown --------------------------------------------------------------------------

    def shutdown_by_signal(self) -> None:
        """SIGTERM/SIGINT: QEMU announces SHUTDOWN (host-signal) and exits."""
        now = self.clock.now()
        self.publish([Shutdown(ShutdownCause.HOST_SIGNAL)], now)
        self._exit(0)

    def quit(self) -> None:
        self._exit(0)

    def _exit(self, code: int) -> None:
        if self._exiting:
            return
        self._exiting = True
        if self._timer is not None:
            self._timer.cancel()
        for monitor in self.monitors:
            monitor.close_all()
        log.info("vm.exiting", code=code)
        self._on_exit(code)
