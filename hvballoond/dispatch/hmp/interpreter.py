"""Parses and runs one HMP command line (hmp.md §2), returning the text QEMU would print.

Every line of the result ends with ``\\r\\n`` (qmp-shell splits help output on it). Failures of
the underlying QMP logic print ``Error: <desc>`` (plus the hint line, if any); argument errors
print the parser's line and ``Try "help <cmd>" for more information``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hvballoond.dispatch.hmp import load_all
from hvballoond.dispatch.hmp.registry import (
    HMP_COMMANDS,
    HMP_INFO,
    ArgKind,
    HmpCommand,
    HmpUsageError,
)
from hvballoond.machine.errors import MachineError
from hvballoond.qmp.errors import QmpError

if TYPE_CHECKING:
    from hvballoond.dispatch.context import CommandContext

__all__ = ["help_text", "run_hmp"]

_SPACE = " \t\n\r\v\f"


class _Usage(Exception):
    """An argument error: ``message`` then the Try line for ``typed``."""

    def __init__(self, message: str, typed: str) -> None:
        super().__init__(message)
        self.message = message
        self.typed = typed


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos


def _word(text: str, pos: int) -> tuple[str, int]:
    """A command name runs to the next whitespace or '/' (monitor/hmp.c get_command_name)."""
    end = pos
    while end < len(text) and text[end] not in _SPACE and text[end] != "/":
        end += 1
    return text[pos:end], end


def _string_arg(text: str, pos: int) -> tuple[str | None, int]:
    """One word, or a double-quoted string with C escapes (monitor/hmp.c get_str)."""
    pos = _skip_space(text, pos)
    if pos >= len(text):
        return None, pos
    if text[pos] == '"':
        out = []
        pos += 1
        while pos < len(text) and text[pos] != '"':
            ch: str | None = text[pos]
            if ch == "\\" and pos + 1 < len(text):
                pos += 1
                ch = {"n": "\n", "r": "\r", "\\": "\\", "'": "'", '"': '"'}.get(text[pos])
            if ch is None:
                return None, len(text)
            out.append(ch)
            pos += 1
        if pos >= len(text):
            return None, pos
        return "".join(out), pos + 1
    end = pos
    while end < len(text) and text[end] not in _SPACE:
        end += 1
    return text[pos:end], end


def help_text(entries: list[HmpCommand], prefix: str = "") -> str:
    seen: set[int] = set()
    lines = []
    for entry in sorted(entries, key=lambda e: e.names.encode()):
        if id(entry) in seen:
            continue
        seen.add(id(entry))
        lines.append(entry.help_line(prefix) + "\n")
    return "".join(lines)


def _unique(table: dict[str, HmpCommand]) -> list[HmpCommand]:
    out: list[HmpCommand] = []
    for entry in table.values():
        if entry not in out:
            out.append(entry)
    return out


def _help(ctx: CommandContext, rest: str) -> str:
    topic, pos = _word(rest, _skip_space(rest, 0))
    if not topic:
        return help_text(_unique(HMP_COMMANDS))
    if topic == "info":
        sub, _ = _word(rest, _skip_space(rest, pos))
        if not sub:
            return help_text(_unique(HMP_INFO), "info ")
        entry = HMP_INFO.get(sub)
        if entry is None:
            return f"unknown command: '{sub}'\n"
        return entry.help_line("info ") + "\n"
    entry = HMP_COMMANDS.get(topic)
    if entry is None:
        return f"unknown command: '{topic}'\n"
    return entry.help_line() + "\n"


def _invoke(ctx: CommandContext, entry: HmpCommand, rest: str, typed: str) -> str:
    value: str | int | None = None
    kind = entry.arg
    if kind is ArgKind.NONE:
        if rest.strip(_SPACE):
            raise _Usage(f"{entry.names}: extraneous characters at the end of line", typed)
    elif kind is ArgKind.STRING:
        value, pos = _string_arg(rest, 0)
        if value is None:
            raise _Usage(f"{entry.names}: string expected", typed)
        if rest[pos:].strip(_SPACE):
            raise _Usage(f"{entry.names}: extraneous characters at the end of line", typed)
    elif kind is ArgKind.REST:
        value = rest.lstrip(_SPACE)
        if not value:
            raise _Usage(f"{entry.names}: string expected", typed)
    else:
        value = rest.lstrip(_SPACE)
    try:
        return entry.handler(ctx, value)
    except HmpUsageError as err:
        raise _Usage(err.message, typed) from None


def run_hmp(ctx: CommandContext, command_line: str) -> str:
    """Run one HMP command line; never raises for anything the user typed."""
    load_all()
    text = command_line
    pos = _skip_space(text, 0)
    if pos >= len(text):
        return ""
    name, pos = _word(text, pos)
    typed = name
    try:
        if name in ("help", "?"):
            return _crlf(_help(ctx, text[pos:]))
        if name == "info":
            sub_start = _skip_space(text, pos)
            sub, pos = _word(text, sub_start)
            if not sub:
                if text[sub_start:].strip(_SPACE):  # "info/status": an empty sub-command name
                    return f"unknown command: '{text[:sub_start].lstrip(_SPACE)}'\r\n"
                return _crlf(help_text(_unique(HMP_INFO), "info "))
            entry = HMP_INFO.get(sub)
            if entry is None:
                return f"unknown command: '{text[:pos].lstrip(_SPACE)}'\r\n"
            return _crlf(_invoke(ctx, entry, text[pos:], f"info {sub}"))
        command = HMP_COMMANDS.get(name)
        if command is None:
            return f"unknown command: '{text[:pos].lstrip(_SPACE)}'\r\n"
        return _crlf(_invoke(ctx, command, text[pos:], typed))
    except _Usage as usage:
        # An empty message: the parser already reported on QEMU's stderr (hmp.md §4.3).
        first = f"{usage.message}\n" if usage.message else ""
        return _crlf(f'{first}Try "help {usage.typed}" for more information\n')
    except (QmpError, MachineError) as err:
        desc = err.desc if isinstance(err, QmpError) else err.message
        hint = err.hint if isinstance(err, MachineError) else None
        return _crlf(f"Error: {desc}\n" + (f"{hint}\n" if hint else ""))
