"""``balloon`` and ``query-balloon`` (balloon.md §1)."""

from __future__ import annotations

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.registry import command
from hvballoond.machine.balloon.core import balloon_core
from hvballoond.wire.values import JSONObject, JSONValue

__all__: list[str] = []


@command("balloon")
def balloon(ctx: CommandContext, args: JSONObject) -> JSONValue:
    """Set the logical VM size; the device works towards it after the reply."""
    value = args["value"]
    assert isinstance(value, int)
    ctx.events += balloon_core(ctx.machine).balloon(value, ctx.now)
    return {}


@command("query-balloon")
def query_balloon(ctx: CommandContext, args: JSONObject) -> JSONValue:
    """``{"actual": bytes}`` from the balloon device."""
    return balloon_core(ctx.machine).query()
