"""Run states (qmp-protocol.md §10.4) and guest virtual time.

:class:`RunControl` is the state machine behind ``query-status``, ``stop``, ``cont``,
``system_reset`` and ``system_powerdown``; every transition goes through
:meth:`RunControl._enter`, which also starts and stops the guest's virtual clock.

:class:`VirtualClock` is QEMU's ``QEMU_CLOCK_VIRTUAL``: it advances only while the VM is
running, so guest timers (the simulated guest's delays, virtio-mem's unplug windows) freeze
while the VM is paused, exactly as a real guest's would.
"""

from __future__ import annotations

from enum import StrEnum

import structlog

from hvballoond.clock import Instant
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import (
    MachineEvent,
    Powerdown,
    Reset,
    Resumed,
    Shutdown,
    ShutdownCause,
    Stopped,
)

__all__ = ["RunControl", "RunState", "VirtualClock"]

log = structlog.get_logger(__name__)


class RunState(StrEnum):
    """qapi/run-state.json RunState."""

    DEBUG = "debug"
    INMIGRATE = "inmigrate"
    INTERNAL_ERROR = "internal-error"
    IO_ERROR = "io-error"
    PAUSED = "paused"
    POSTMIGRATE = "postmigrate"
    PRELAUNCH = "prelaunch"
    FINISH_MIGRATE = "finish-migrate"
    RESTORE_VM = "restore-vm"
    RUNNING = "running"
    SAVE_VM = "save-vm"
    SHUTDOWN = "shutdown"
    SUSPENDED = "suspended"
    WATCHDOG = "watchdog"
    GUEST_PANICKED = "guest-panicked"
    COLO = "colo"


class VirtualClock:
    """Guest virtual nanoseconds: host monotonic time counted only while running."""

    def __init__(self) -> None:
        self._accumulated_ns = 0
        self._running_since_ns: int | None = None

    @property
    def running(self) -> bool:
        """True while the clock advances."""
        return self._running_since_ns is not None

    def now_ns(self, now: Instant) -> int:
        """Virtual time at host instant ``now``."""
        if self._running_since_ns is None:
            return self._accumulated_ns
        return self._accumulated_ns + max(0, now.mono_ns - self._running_since_ns)

    def now_ms(self, now: Instant) -> int:
        """``qemu_clock_get_ms(QEMU_CLOCK_VIRTUAL)``."""
        return self.now_ns(now) // 1_000_000

    def start(self, now: Instant) -> None:
        """Let virtual time flow from ``now`` (no-op if already running)."""
        if self._running_since_ns is None:
            self._running_since_ns = now.mono_ns

    def stop(self, now: Instant) -> None:
        """Freeze virtual time at ``now`` (no-op if already stopped)."""
        if self._running_since_ns is not None:
            self._accumulated_ns = self.now_ns(now)
            self._running_since_ns = None

    def to_host_ns(self, virtual_ns: int) -> int | None:
        """The host monotonic time at which virtual time reaches ``virtual_ns``.

        None while stopped (the moment is not known yet).
        """
        if self._running_since_ns is None:
            return None
        return self._running_since_ns + max(0, virtual_ns - self._accumulated_ns)


class RunControl:
    """The VM run state and the host-side run-control commands.

    Args:
        start_paused: ``-S`` (start in ``prelaunch``); otherwise the VM starts running.
        no_shutdown: ``-no-shutdown`` (a guest shutdown stops the VM instead of exiting).
        now: creation time (the virtual clock starts here when not ``-S``).
    """

    def __init__(self, *, start_paused: bool, no_shutdown: bool, now: Instant) -> None:
        self.clock = VirtualClock()
        self.no_shutdown = no_shutdown
        self.state = RunState.PRELAUNCH if start_paused else RunState.RUNNING
        #: Set when the process should exit (guest shutdown without -no-shutdown, quit).
        self.exit_requested = False
        if self.state is RunState.RUNNING:
            self.clock.start(now)

    @property
    def running(self) -> bool:
        """``query-status`` ``running``: true only in ``running``."""
        return self.state is RunState.RUNNING

    def needs_reset(self) -> bool:
        """``runstate_needs_reset()``: only a reset leaves these states."""
        return self.state in (RunState.INTERNAL_ERROR, RunState.SHUTDOWN)

    def _enter(self, new: RunState, now: Instant) -> None:
        if new is self.state:
            return
        log.info("machine.runstate.changed", state_old=self.state.value, state_new=new.value)
        self.state = new
        if new is RunState.RUNNING:
            self.clock.start(now)
        else:
            self.clock.stop(now)

    def stop(self, now: Instant) -> list[MachineEvent]:
        """``stop``: running -> paused with STOP; any other state is left alone, no event."""
        if self.state is not RunState.RUNNING:
            return []
        self._enter(RunState.PAUSED, now)
        return [Stopped()]

    def cont(self, now: Instant) -> list[MachineEvent]:
        """``cont`` (monitor/qmp-cmds.c qmp_cont).

        Raises:
            MachineError: ``Resetting the Virtual Machine is required`` in shutdown or
                internal-error.
        """
        if self.needs_reset():
            raise MachineError("Resetting the Virtual Machine is required")
        if self.state in (RunState.SUSPENDED, RunState.RUNNING):
            return []
        self._enter(RunState.RUNNING, now)
        return [Resumed()]

    def reset(self, reason: ShutdownCause, now: Instant) -> list[MachineEvent]:
        """The run-state side of a system reset: RESET, and prelaunch unless running.

        (system/runstate.c qemu_system_reset + main_loop_should_exit.) The devices are
        reset by the machine before this event is produced.
        """
        events: list[MachineEvent] = []
        if reason is not ShutdownCause.SUBSYSTEM_RESET:
            events.append(Reset(reason))
        if self.state not in (
            RunState.RUNNING,
            RunState.INMIGRATE,
            RunState.FINISH_MIGRATE,
        ):
            self._enter(RunState.PRELAUNCH, now)
        return events

    def powerdown(self) -> list[MachineEvent]:
        """``system_powerdown``: POWERDOWN; what happens next is the guest's decision."""
        return [Powerdown()]

    def shutdown(self, reason: ShutdownCause, now: Instant) -> list[MachineEvent]:
        """A shutdown request (guest power-off, ``quit``).

        SHUTDOWN is always reported. ``quit`` and a shutdown without ``-no-shutdown`` set
        :attr:`exit_requested`; with ``-no-shutdown`` a guest shutdown stops the VM in the
        ``shutdown`` state (STOP follows SHUTDOWN, as in main_loop_should_exit).
        """
        events: list[MachineEvent] = [Shutdown(reason)]
        if reason is ShutdownCause.HOST_QMP_QUIT or not self.no_shutdown:
            self.exit_requested = True
            return events
        if self.state is RunState.RUNNING:
            self._enter(RunState.SHUTDOWN, now)
            events.append(Stopped())
        return events

    def suspend(self, now: Instant) -> list[MachineEvent]:
        """The guest suspended to RAM (running -> suspended); no event is modelled."""
        if self.state is RunState.RUNNING:
            self._enter(RunState.SUSPENDED, now)
        return []
