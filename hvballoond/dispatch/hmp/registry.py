"""The HMP command table.

An HMP handler gets the parsed argument and returns the text QEMU would print, with ``\\n``
line ends (the framework turns them into ``\\r\\n``). To report an underlying QMP failure it
raises :class:`~hvballoond.machine.errors.MachineError` or
:class:`~hvballoond.qmp.errors.QmpError`; the framework prints ``Error: <desc>``.

Argument kinds (hmp.md §2): ``NONE`` (trailing text is an error), ``STRING`` (one word or a
quoted string, required), ``REST`` (the rest of the line, required), ``OPTIONS`` (the rest of
the line, may be empty), and ``EXPR``/``PARAMS`` (the handler gets the raw rest of the line and
parses it itself, e.g. balloon's integer expression, hmp.md §4.5). A handler that finds its
argument malformed raises :class:`HmpUsageError` with the parser's line (e.g.
``enter a positive value``); the framework adds ``Try "help <cmd>" for more information``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from hvballoond.dispatch.context import CommandContext

__all__ = [
    "HMP_COMMANDS",
    "HMP_INFO",
    "ArgKind",
    "HmpCommand",
    "HmpUsageError",
    "hmp_command",
    "hmp_info",
]


class HmpUsageError(Exception):
    """A malformed HMP argument: the message line, followed by the framework's Try line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ArgKind(Enum):
    NONE = auto()
    STRING = auto()
    REST = auto()
    OPTIONS = auto()
    EXPR = auto()
    PARAMS = auto()


HmpHandler = Callable[["CommandContext", "str | int | None"], str]
F = TypeVar("F", bound=HmpHandler)


@dataclass(frozen=True, slots=True)
class HmpCommand:
    """One entry of QEMU's HMP command table (top-level or ``info``)."""

    names: str  # as in QEMU's table, aliases included: "stop|s"
    params: str  # the help's parameter text: "target", "[subcommand]", ""
    help: str
    arg: ArgKind
    handler: HmpHandler

    @property
    def aliases(self) -> tuple[str, ...]:
        return tuple(self.names.split("|"))

    def help_line(self, prefix: str = "") -> str:
        return f"{prefix}{self.names} {self.params} -- {self.help}"


HMP_COMMANDS: dict[str, HmpCommand] = {}  # every alias -> its entry
HMP_INFO: dict[str, HmpCommand] = {}


def _register(table: dict[str, HmpCommand], entry: HmpCommand) -> None:
    for alias in entry.aliases:
        if alias in table:
            raise RuntimeError(f"two HMP handlers for {alias!r}")
        table[alias] = entry


def hmp_command(
    names: str, *, params: str = "", help: str, arg: ArgKind = ArgKind.NONE
) -> Callable[[F], F]:
    """Register a top-level HMP command such as ``balloon`` or ``stop|s``."""

    def register(handler: F) -> F:
        _register(HMP_COMMANDS, HmpCommand(names, params, help, arg, handler))
        return handler

    return register


def hmp_info(
    name: str, *, params: str = "", help: str, arg: ArgKind = ArgKind.NONE
) -> Callable[[F], F]:
    """Register an ``info`` sub-command such as ``info memdev``."""

    def register(handler: F) -> F:
        _register(HMP_INFO, HmpCommand(name, params, help, arg, handler))
        return handler

    return register
