"""Run states, virtual time, guest boot, timers (runstate.py, timers.py, machine.py).

Transitions: qmp-protocol.md §10.4 and tests/machine/recorded/qom-backends-hmp.txt (the HMP
stop/cont/system_reset sequence).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvballoond.clock import NS_PER_S, FakeClock, Instant
from hvballoond.machine.config import HostFacts, MachineConfig
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
from hvballoond.machine.machine import Machine
from hvballoond.machine.runstate import RunControl, RunState, VirtualClock
from hvballoond.machine.timers import Deadlines
from hvballoond.machine.units import GiB


def state(machine: Machine) -> RunState:
    """The run state, read through a call so mypy does not narrow it between steps."""
    return machine.runstate


def make_machine(*, paused: bool = True, no_shutdown: bool = False) -> tuple[Machine, FakeClock]:
    clock = FakeClock()
    config = MachineConfig(
        ram_size=GiB, maxram_size=GiB, start_paused=paused, no_shutdown=no_shutdown
    )
    machine = Machine(config, host=HostFacts(), now=clock.now(), device_types=())
    machine.create_default_ram()
    machine.mark_ready()
    machine.start(clock.now())
    return machine, clock


# -- transitions --------------------------------------------------------------------------


def test_recorded_sequence() -> None:
    machine, clock = make_machine()
    now = clock.now()
    assert machine.query_status() == {"status": "prelaunch", "running": False}
    assert machine.stop(now) == []
    assert state(machine) is RunState.PRELAUNCH
    assert machine.cont(now) == [Resumed()]
    assert machine.query_status() == {"status": "running", "running": True}
    assert machine.cont(now) == []
    assert machine.stop(now) == [Stopped()]
    assert machine.query_status() == {"status": "paused", "running": False}
    assert machine.system_reset(now) == [Reset(ShutdownCause.HOST_QMP_SYSTEM_RESET)]
    assert state(machine) is RunState.PRELAUNCH
    assert machine.system_powerdown(now) == [Powerdown()]
    assert state(machine) is RunState.PRELAUNCH
    assert machine.cont(now) == [Resumed()]
    assert machine.system_reset(now) == [Reset(ShutdownCause.HOST_QMP_SYSTEM_RESET)]
    assert state(machine) is RunState.RUNNING


def test_started_without_dash_s_is_running() -> None:
    machine, _ = make_machine(paused=False)
    assert machine.query_status() == {"status": "running", "running": True}
    assert machine.guest_booted


def test_reset_event_reason_and_guest_flag() -> None:
    machine, clock = make_machine(paused=False)
    (event,) = machine.guest_reset(clock.now())
    assert event == Reset(ShutdownCause.GUEST_RESET) and event.reason.by_guest


def test_guest_shutdown_with_no_shutdown_stops_and_needs_reset() -> None:
    machine, clock = make_machine(paused=False, no_shutdown=True)
    now = clock.now()
    assert machine.guest_shutdown(now) == [Shutdown(ShutdownCause.GUEST_SHUTDOWN), Stopped()]
    assert machine.query_status() == {"status": "shutdown", "running": False}
    assert not machine.exit_requested
    with pytest.raises(MachineError) as err:
        machine.cont(now)
    assert err.value.message == "Resetting the Virtual Machine is required"
    machine.system_reset(now)
    assert state(machine) is RunState.PRELAUNCH
    assert machine.cont(now) == [Resumed()]


def test_guest_shutdown_without_no_shutdown_exits() -> None:
    machine, clock = make_machine(paused=False)
    assert machine.guest_shutdown(clock.now()) == [Shutdown(ShutdownCause.GUEST_SHUTDOWN)]
    assert machine.exit_requested


def test_quit() -> None:
    machine, clock = make_machine(no_shutdown=True)
    assert machine.quit(clock.now()) == [Shutdown(ShutdownCause.HOST_QMP_QUIT)]
    assert machine.exit_requested


def test_cont_in_suspended_is_a_no_op() -> None:
    run = RunControl(start_paused=False, no_shutdown=False, now=Instant(0, 0))
    run.suspend(Instant(0, 0))
    assert run.state is RunState.SUSPENDED
    assert run.cont(Instant(0, 0)) == []
    assert run.state is RunState.SUSPENDED


# -- guest boot ---------------------------------------------------------------------------


def test_guest_boots_on_first_cont_and_after_reset_while_running() -> None:
    machine, clock = make_machine()
    boots: list[int] = []

    def on_boot(now: Instant) -> list[MachineEvent]:
        boots.append(now.mono_ns)
        return []

    machine.on_guest_boot(on_boot)
    machine.stop(clock.now())
    assert boots == []
    clock.advance(5)
    machine.cont(clock.now())
    assert boots == [5]
    machine.stop(clock.now())
    machine.cont(clock.now())  # resume, not a boot
    assert boots == [5]
    clock.advance(5)
    machine.system_reset(clock.now())  # running: reboots at once
    assert boots == [5, 10]
    machine.stop(clock.now())
    machine.system_reset(clock.now())  # paused -> prelaunch, boots on the next cont
    assert boots == [5, 10]
    machine.cont(clock.now())
    assert boots == [5, 10, 10]


def test_reset_listeners_run_before_the_reset_event() -> None:
    machine, clock = make_machine(paused=False)
    machine.on_reset(lambda reason, now: [Powerdown()])
    assert machine.system_reset(clock.now()) == [
        Powerdown(),
        Reset(ShutdownCause.HOST_QMP_SYSTEM_RESET),
    ]


# -- virtual time and timers --------------------------------------------------------------


def test_virtual_clock_runs_only_while_running() -> None:
    vclock = VirtualClock()
    assert vclock.now_ns(Instant(100, 0)) == 0
    vclock.start(Instant(100, 0))
    assert vclock.now_ns(Instant(150, 0)) == 50
    assert vclock.to_host_ns(80) == 180
    vclock.stop(Instant(160, 0))
    assert vclock.now_ns(Instant(500, 0)) == 60
    assert vclock.to_host_ns(80) is None
    vclock.start(Instant(1000, 0))
    assert vclock.now_ns(Instant(1010, 0)) == 70
    assert vclock.now_ms(Instant(1000 + 2_000_000, 0)) == 2


def test_guest_timers_wait_while_paused() -> None:
    machine, clock = make_machine()
    fired: list[int] = []

    def fire(now: Instant) -> list[MachineEvent]:
        fired.append(now.mono_ns)
        return [Powerdown()]

    machine.schedule_guest(2 * NS_PER_S, "guest", fire)
    assert machine.next_deadline() is None  # prelaunch: virtual time stands still
    clock.advance(10 * NS_PER_S)
    assert machine.advance(clock.now()) == []
    machine.cont(clock.now())  # virtual 0 at host 10 s
    assert machine.next_deadline() == 12 * NS_PER_S
    clock.advance(NS_PER_S)
    machine.stop(clock.now())  # virtual 1 s
    clock.advance(100 * NS_PER_S)
    assert machine.advance(clock.now()) == []
    machine.cont(clock.now())
    assert machine.next_deadline() == clock.mono_ns + NS_PER_S
    clock.advance(NS_PER_S)
    assert machine.advance(clock.now()) == [Powerdown()]
    assert fired == [clock.mono_ns]
    assert machine.next_deadline() is None


def test_host_timers_and_call_soon() -> None:
    machine, clock = make_machine()
    order: list[str] = []

    def make(name: str) -> object:
        def callback(now: Instant) -> list[MachineEvent]:
            order.append(name)
            if name == "a":
                machine.call_soon("c", make("c"), now)  # type: ignore[arg-type]
            return []

        return callback

    machine.schedule_host(5, "b", make("b"))  # type: ignore[arg-type]
    machine.schedule_host(3, "a", make("a"))  # type: ignore[arg-type]
    assert machine.next_deadline() == 3
    clock.advance(5)
    machine.advance(clock.now())
    assert order == ["a", "b", "c"]


def test_steppers_run_until_quiescent() -> None:
    machine, clock = make_machine()
    budget = [3]

    def stepper(now: Instant) -> list[MachineEvent]:
        if budget[0]:
            budget[0] -= 1
            return [Powerdown()]
        return []

    machine.add_stepper(stepper)
    assert machine.advance(clock.now()) == [Powerdown()] * 3


def test_deadlines_rearm_and_cancel() -> None:
    deadlines = Deadlines()
    deadlines.schedule(10, "k", lambda now: [])
    deadlines.schedule(20, "k", lambda now: [])
    assert deadlines.next_deadline() == 20 and len(deadlines) == 1
    assert deadlines.deadline_of("k") == 20
    assert deadlines.cancel("k") and not deadlines.cancel("k")
    assert deadlines.next_deadline() is None
    assert deadlines.due(100) == []


@settings(max_examples=60, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 9)), max_size=40))
def test_deadlines_fire_in_deadline_then_schedule_order(
    entries: list[tuple[int, int]],
) -> None:
    deadlines = Deadlines()
    expected: dict[int, tuple[int, int]] = {}
    for seq, (at, key) in enumerate(entries):
        deadlines.schedule(at, key, lambda now: [])
        expected[key] = (at, seq)
    fired = [(t.at_ns, t.key) for t in deadlines.due(1000)]
    wanted = sorted(expected.items(), key=lambda item: item[1])
    assert fired == [(at, key) for key, (at, _) in wanted]


def test_host_and_guest_timers_interleave_by_deadline() -> None:
    machine, clock = make_machine(paused=False)
    order: list[str] = []

    def note(name: str) -> object:
        def callback(now: Instant) -> list[MachineEvent]:
            order.append(name)
            return []

        return callback

    machine.schedule_host(2 * NS_PER_S, "h2", note("h2"))  # type: ignore[arg-type]
    machine.schedule_guest(NS_PER_S, "g1", note("g1"))  # type: ignore[arg-type]
    machine.schedule_guest(3 * NS_PER_S, "g3", note("g3"))  # type: ignore[arg-type]
    machine.schedule_host(4 * NS_PER_S, "h4", note("h4"))  # type: ignore[arg-type]
    clock.advance(5 * NS_PER_S)
    machine.advance(clock.now())
    assert order == ["g1", "h2", "g3", "h4"]
