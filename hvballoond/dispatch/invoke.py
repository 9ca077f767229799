"""Calling a QMP command from inside another command (HMP commands are built on QMP ones)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hvballoond.dispatch import schema_glue
from hvballoond.dispatch.registry import HANDLERS
from hvballoond.wire.values import JSONObject, JSONValue

if TYPE_CHECKING:
    from hvballoond.dispatch.context import CommandContext

__all__ = ["call_command"]


def call_command(
    ctx: CommandContext, command: str, arguments: JSONObject | None = None
) -> JSONValue:
    """Validate ``arguments`` against the schema and run ``command``'s handler in ``ctx``.

    Events the command causes are appended to ``ctx.events``; refusals propagate as
    MachineError or QmpError.
    """
    args = schema_glue.validate_arguments(command, arguments or {})
    return HANDLERS[command](ctx, args)
