"""Core QMP commands: negotiation, identity, introspection, quit, yank, HMP, virtual clock."""

from __future__ import annotations

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.registry import HANDLERS, command
from hvballoond.machine.events import Shutdown, ShutdownCause
from hvballoond.probe.store import Accel
from hvballoond.probe.store import lookup as probe_lookup
from hvballoond.qapi.generated.specs import COMMANDS
from hvballoond.qmp.errors import ErrorClass, QmpError
from hvballoond.wire.values import JSONObject, JSONValue

__all__: list[str] = []


@command("qmp_capabilities")
def qmp_capabilities(ctx: CommandContext, args: JSONObject) -> JSONValue:
    enable = args.get("enable", [])
    assert isinstance(enable, list)
    ctx.monitor.enable_capabilities([str(cap) for cap in enable])
    return {}


@command("query-version")
def query_version(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return ctx.vm.version


@command("query-commands")
def query_commands(ctx: CommandContext, args: JSONObject) -> JSONValue:
    # QEMU lists commands in reverse registration order; we use reverse schema order.
    return [{"name": name} for name in reversed(list(COMMANDS)) if name in HANDLERS]


@command("query-qmp-schema")
def query_qmp_schema(ctx: CommandContext, args: JSONObject) -> JSONValue:
    # Imported on first use, like HMP below: this module answers the first command of every
    # connection (qmp_capabilities), so what it imports up front delays the first reply.
    from hvballoond.qapi.generated.introspection import INTROSPECTION

    return INTROSPECTION


@command("query-name")
def query_name(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return {} if ctx.vm.name is None else {"name": ctx.vm.name}


@command("query-uuid")
def query_uuid(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return {"UUID": ctx.vm.uuid}


@command("query-kvm")
def query_kvm(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return {"enabled": ctx.vm.kvm_enabled, "present": ctx.vm.kvm_present}


@command("query-target")
def query_target(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return {"arch": "x86_64"}


@command("quit")
def quit_(ctx: CommandContext, args: JSONObject) -> JSONValue:
    ctx.events.append(Shutdown(ShutdownCause.HOST_QMP_QUIT))
    ctx.monitor.request_quit()
    return {}


@command("query-yank")
def query_yank(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return [{"type": "chardev", "id": name} for name in ctx.monitor.monitor_chardevs()]


@command("yank")
def yank(ctx: CommandContext, args: JSONObject) -> JSONValue:
    instances = args.get("instances", [])
    assert isinstance(instances, list)
    chardevs = set(ctx.monitor.monitor_chardevs())
    # util/yank.c qmp_yank: every instance must exist before anything is yanked.
    for instance in instances:
        assert isinstance(instance, dict)
        if not (instance.get("type") == "chardev" and instance.get("id") in chardevs):
            raise QmpError("Instance not found", ErrorClass.DEVICE_NOT_FOUND)
    for instance in instances:
        assert isinstance(instance, dict)
        ctx.monitor.yank_chardev(str(instance["id"]))
    return {}


@command("human-monitor-command")
def human_monitor_command(ctx: CommandContext, args: JSONObject) -> JSONValue:
    cpu_index = args.get("cpu-index")
    if cpu_index is not None and cpu_index != 0:
        raise QmpError("Parameter 'cpu-index' expects a CPU number")
    line = args["command-line"]
    assert isinstance(line, str)
    from hvballoond.dispatch.hmp.interpreter import run_hmp

    return run_hmp(ctx, line)


@command("x-hvb-advance-clock")
def advance_clock(ctx: CommandContext, args: JSONObject) -> JSONValue:
    seconds = args["seconds"]
    assert isinstance(seconds, int | float)
    if seconds < 0:
        raise QmpError("Parameter 'seconds' expects a non-negative number")
    ctx.monitor.advance_virtual_clock(round(seconds * 1_000_000_000))
    return {}


@command("query-machines")
def query_machines(ctx: CommandContext, args: JSONObject) -> JSONValue:
    # The machine list is a static fact of QEMU 10.0.2, recorded with the probe store.
    accel = Accel.KVM if ctx.vm.kvm_enabled else Accel.TCG
    answer = probe_lookup("query-machines", args, accel=accel)
    if answer is None:
        answer = probe_lookup("query-machines", {}, accel=accel)
    if isinstance(answer, QmpError):
        raise answer
    assert answer is not None, "the probe store always holds query-machines"
    return answer
