"""Run-control handlers (qmp-protocol.md §10.4), plus the HMP wrappers when the schema is built."""

from __future__ import annotations

import pytest

from hvballoond.clock import FakeClock
from hvballoond.dispatch.context import CommandContext, VmIdentity
from hvballoond.dispatch.errors import to_qmp_error
from hvballoond.dispatch.handlers import runstate
from hvballoond.machine.config import HostFacts, MachineConfig
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import (
    MachineEvent,
    Powerdown,
    Reset,
    Resumed,
    ShutdownCause,
    Stopped,
)
from hvballoond.machine.machine import Machine
from hvballoond.machine.units import GiB
from tests.fakes import NullMonitor


def context(*, no_shutdown: bool = False) -> CommandContext:
    clock = FakeClock()
    config = MachineConfig(
        ram_size=GiB, maxram_size=GiB, start_paused=True, no_shutdown=no_shutdown
    )
    machine = Machine(config, host=HostFacts(), now=clock.now(), device_types=())
    machine.create_default_ram()
    machine.mark_ready()
    return CommandContext(machine=machine, now=clock.now(), monitor=NullMonitor(), vm=VmIdentity())


def last(ctx: CommandContext) -> MachineEvent:
    return ctx.events[-1]


def test_recorded_qmp_sequence() -> None:
    ctx = context()
    assert runstate.query_status(ctx, {}) == {"status": "prelaunch", "running": False}
    assert runstate.cont(ctx, {}) == {} and ctx.events == [Resumed()]
    assert runstate.stop(ctx, {}) == {} and last(ctx) == Stopped()
    assert runstate.query_status(ctx, {}) == {"status": "paused", "running": False}
    assert runstate.system_reset(ctx, {}) == {}
    assert last(ctx) == Reset(ShutdownCause.HOST_QMP_SYSTEM_RESET)
    assert runstate.query_status(ctx, {}) == {"status": "prelaunch", "running": False}
    assert runstate.system_powerdown(ctx, {}) == {} and last(ctx) == Powerdown()


def test_stop_in_prelaunch_has_no_event() -> None:
    ctx = context()
    runstate.stop(ctx, {})
    assert ctx.events == []


def test_cont_after_guest_shutdown_needs_reset() -> None:
    ctx = context(no_shutdown=True)
    runstate.cont(ctx, {})
    ctx.machine.guest_shutdown(ctx.now)
    with pytest.raises(MachineError) as err:
        runstate.cont(ctx, {})
    qmp = to_qmp_error(err.value)
    assert (qmp.error_class.value, qmp.desc) == (
        "GenericError",
        "Resetting the Virtual Machine is required",
    )


def test_hmp_status_and_run_control() -> None:
    pytest.importorskip("hvballoond.qapi.generated.commands")
    from hvballoond.dispatch import schema_glue
    from hvballoond.dispatch.hmp.interpreter import run_hmp

    schema_glue.load_handlers()
    ctx = context()
    assert run_hmp(ctx, "info status") == "VM status: paused (prelaunch)\r\n"
    assert run_hmp(ctx, "stop") == "" and ctx.events == []
    assert run_hmp(ctx, "c") == "" and ctx.events == [Resumed()]
    assert run_hmp(ctx, "info status") == "VM status: running\r\n"
    assert run_hmp(ctx, "s") == ""
    assert run_hmp(ctx, "info status") == "VM status: paused\r\n"
    assert run_hmp(ctx, "system_reset") == ""
    assert run_hmp(ctx, "info status") == "VM status: paused (prelaunch)\r\n"
    assert run_hmp(ctx, "stop now") == (
        'stop|s: extraneous characters at the end of line\r\nTry "help stop" for more '
        "information\r\n"
    )
