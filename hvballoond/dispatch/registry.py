"""Binds QMP command names to handler functions.

A handler is ``def handler(ctx: CommandContext, args: JSONObject) -> JSONValue``. ``args``
has already been validated against the command's schema by the dispatcher (absent optional
members are absent, values have their schema types), so a handler only does the checks QEMU
does after argument validation. A handler returns the ``return`` value with object members
in schema order (the wire encoder derives QEMU's printed order from it), raises
:class:`~hvballoond.machine.errors.MachineError` or :class:`~hvballoond.qmp.errors.QmpError`
to refuse, and appends the events it causes to ``ctx.events`` (they are sent before the reply).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from hvballoond.wire.values import JSONObject, JSONValue

if TYPE_CHECKING:
    from hvballoond.dispatch.context import CommandContext

__all__ = ["HANDLERS", "Handler", "command"]

Handler = Callable[["CommandContext", JSONObject], JSONValue]
H = TypeVar("H", bound=Handler)

HANDLERS: dict[str, Handler] = {}


def command(name: str) -> Callable[[H], H]:
    """Register ``handler`` for QMP command ``name`` (exactly one handler per command)."""

    def register(handler: H) -> H:
        if name in HANDLERS:
            raise RuntimeError(f"two handlers for QMP command {name!r}")
        HANDLERS[name] = handler
        return handler

    return register
