"""Binds QMP command names to handler functions.

A handler is ``def handler(ctx: CommandContext, args: JSONObject) -> JSONValue``. ``args``
has already been validated against the command's schema by the dispatcher (absent optional
members are absent, values have their schema types), so a handler only does the checks QEMU
does after argument validation. A handler returns the ``return`` value with object members
in schema order (the wire encoder derives QEMU's printed order from it), raises
:class:`~hvballoond.machine.errors.MachineError` or :class:`~hvballoond.qmp.errors.QmpError`
to refuse, and appends the events it causes to ``ctx.events`` (they are sent before the reply).

Handler modules are imported when first needed, not at start-up (a module pulls in the machine
areas it serves): :data:`HANDLERS` knows every command by name from the index its package
declares (:func:`hvballoond.dispatch.handlers.declare`) and imports a command's module the
first time its handler is looked up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, TypeVar

from hvballoond.wire.values import JSONObject, JSONValue

if TYPE_CHECKING:
    from hvballoond.dispatch.context import CommandContext

__all__ = ["HANDLERS", "Handler", "HandlerTable", "command"]

Handler = Callable[["CommandContext", JSONObject], JSONValue]
H = TypeVar("H", bound=Handler)


class HandlerTable(Mapping[str, Handler]):
    """Command name -> handler, importing a declared command's module on first lookup.

    Iteration gives the declared commands in declaration order, then commands registered
    without a declaration; ``in``, ``len`` and iteration import nothing.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        # Every known command -> the module that registers it (None: registered, undeclared).
        self._modules: dict[str, str | None] = {}

    def declare(self, modules: Mapping[str, str]) -> None:
        """Know each command of ``modules`` (command -> module name) before it is imported."""
        merged: dict[str, str | None] = dict(modules)
        for name, known in self._modules.items():
            if name not in merged:
                merged[name] = known
            elif known is not None and known != merged[name]:
                raise RuntimeError(f"QMP command {name!r} declared in {known} and {merged[name]}")
        self._modules = merged

    def add(self, name: str, handler: Handler) -> None:
        """Register ``handler`` for ``name`` (exactly one handler per command)."""
        if name in self._handlers:
            raise RuntimeError(f"two handlers for QMP command {name!r}")
        self._handlers[name] = handler
        self._modules.setdefault(name, None)

    def loaded(self) -> dict[str, Handler]:
        """The handlers registered so far (whose modules were imported), for checks."""
        return dict(self._handlers)

    def __getitem__(self, name: str) -> Handler:
        handler = self._handlers.get(name)
        if handler is not None:
            return handler
        module = self._modules.get(name)
        if module is None:
            raise KeyError(name)
        importlib.import_module(module)
        handler = self._handlers.get(name)
        if handler is None:
            raise LookupError(f"{module} does not register QMP command {name!r}")
        return handler

    def __contains__(self, name: object) -> bool:
        return name in self._modules

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._modules))

    def __len__(self) -> int:
        return len(self._modules)


HANDLERS = HandlerTable()


def command(name: str) -> Callable[[H], H]:
    """Register ``handler`` for QMP command ``name`` (exactly one handler per command)."""

    def register(handler: H) -> H:
        HANDLERS.add(name, handler)
        return handler

    return register
