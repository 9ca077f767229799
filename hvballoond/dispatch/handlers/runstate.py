"""Run control: query-status, stop, cont, system_reset, system_powerdown
(qmp-protocol.md §10.4). ``quit`` lives with the monitor commands in control.py."""

from __future__ import annotations

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.registry import command
from hvballoond.wire.values import JSONObject, JSONValue

__all__: list[str] = []


@command("query-status")
def query_status(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return ctx.machine.query_status()


@command("stop")
def stop(ctx: CommandContext, args: JSONObject) -> JSONValue:
    ctx.events += ctx.machine.stop(ctx.now)
    return {}


@command("cont")
def cont(ctx: CommandContext, args: JSONObject) -> JSONValue:
    ctx.events += ctx.machine.cont(ctx.now)
    return {}


@command("system_reset")
def system_reset(ctx: CommandContext, args: JSONObject) -> JSONValue:
    ctx.events += ctx.machine.system_reset(ctx.now)
    return {}


@command("system_powerdown")
def system_powerdown(ctx: CommandContext, args: JSONObject) -> JSONValue:
    ctx.events += ctx.machine.system_powerdown(ctx.now)
    return {}
