"""HMP ``info balloon`` and ``balloon <target-MiB>`` (hmp.md §4.4, §4.5), with the monitor's
integer-expression parser (monitor/hmp.c ``get_expr``)."""

from __future__ import annotations

from typing import Final

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.hmp.registry import ArgKind, HmpUsageError, hmp_command, hmp_info
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = ["X86_RESET_REGISTERS", "evaluate_expression"]

_SPACE: Final = " \t\n\r\v\f"
_MIB: Final = 1 << 20
_REGISTER_CHARS: Final = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_."
)
_U64: Final = (1 << 64) - 1

#: ``$name`` values of an x86-64 CPU just after reset, as the reference binary shows them in
#: prelaunch (``p $edx``...). hvballoond runs no CPU, so these never change (target/i386
#: monitor_defs; names are case-sensitive; ``esp|sp`` and ``ebp|fp`` are aliases).
X86_RESET_REGISTERS: Final[dict[str, int]] = {
    "eax": 0,
    "ecx": 0,
    "edx": 0x60FB1,
    "ebx": 0,
    "esp": 0,
    "sp": 0,
    "ebp": 0,
    "fp": 0,
    "esi": 0,
    "edi": 0,
    **{f"r{n}": 0 for n in range(8, 16)},
    "eflags": 0x2,
    "eip": 0xFFF0,
    "cs": 0xF000,
    "cs.base": 0xFFFF0000,
    "cs.limit": 0xFFFF,
    **{seg: 0 for seg in ("ds", "es", "ss", "fs", "gs")},
    **{f"{seg}.base": 0 for seg in ("ds", "es", "ss", "fs", "gs")},
    **{f"{seg}.limit": 0xFFFF for seg in ("ds", "es", "ss", "fs", "gs")},
    "pc": 0xFFFFFFF0,
}


def _int64(value: int) -> int:
    value &= _U64
    return value - (1 << 64) if value >= 1 << 63 else value


class _Parser:
    """A recursive-descent evaluator over the bytes of the command line (C ``char``s)."""

    def __init__(self, text: str) -> None:
        self.data = text.encode()
        self.pos = 0

    def peek(self) -> int:
        return self.data[self.pos] if self.pos < len(self.data) else 0

    def skip_space(self) -> None:
        while self.pos < len(self.data) and chr(self.data[self.pos]) in _SPACE:
            self.pos += 1

    def next(self) -> None:
        """``next()``: step over the current character, then over blanks."""
        if self.peek():
            self.pos += 1
            self.skip_space()

    def sum(self) -> int:
        value = self.logic()
        while (op := self.peek()) in (ord("+"), ord("-")):
            self.next()
            rhs = self.logic()
            value = _int64(value + rhs if op == ord("+") else value - rhs)
        return value

    def logic(self) -> int:
        value = self.prod()
        while (op := self.peek()) in (ord("&"), ord("|"), ord("^")):
            self.next()
            rhs = self.prod()
            if op == ord("&"):
                value &= rhs
            elif op == ord("|"):
                value |= rhs
            else:
                value ^= rhs
        return value

    def prod(self) -> int:
        value = self.unary()
        while (op := self.peek()) in (ord("*"), ord("/"), ord("%")):
            self.next()
            rhs = self.unary()
            if op == ord("*"):
                value = _int64(value * rhs)
                continue
            if rhs == 0:
                raise HmpUsageError("division by zero")
            # C division truncates towards zero; the remainder takes the dividend's sign.
            quotient = abs(value) // abs(rhs) * (1 if (value < 0) == (rhs < 0) else -1)
            value = _int64(quotient) if op == ord("/") else value - rhs * quotient
        return value

    def unary(self) -> int:
        ch = self.peek()
        if ch == ord("+"):
            self.next()
            return self.unary()
        if ch == ord("-"):
            self.next()
            return _int64(-self.unary())
        if ch == ord("~"):
            self.next()
            return ~self.unary()
        if ch == ord("("):
            self.next()
            value = self.sum()
            if self.peek() != ord(")"):
                raise HmpUsageError("')' expected")
            self.next()
            return value
        if ch == ord("'"):
            self.pos += 1
            if not self.peek():
                raise HmpUsageError("character constant expected")
            value = self.peek()
            value = value - 256 if value >= 128 else value  # a signed char
            self.pos += 1
            if self.peek() != ord("'"):
                raise HmpUsageError("missing terminating ' character")
            self.next()
            return value
        if ch == ord("$"):
            self.pos += 1
            start = self.pos
            while self.peek() and self.peek() in _REGISTER_CHARS:
                self.pos += 1
            name = self.data[start : self.pos][:127].decode(errors="replace")
            self.skip_space()
            if name not in X86_RESET_REGISTERS:
                raise HmpUsageError("unknown register")
            return X86_RESET_REGISTERS[name]
        if not ch:
            raise HmpUsageError("unexpected end of expression")
        return self.number()

    def number(self) -> int:
        """``strtoull(pch, &p, 0)`` followed by skipping blanks."""
        data, pos = self.data, self.pos
        base = 10
        if data[pos : pos + 2].lower() == b"0x" and _digit(data, pos + 2) < 16:
            base, pos = 16, pos + 2
        elif data[pos : pos + 1] == b"0":
            base = 8
        start = pos
        value = 0
        while (digit := _digit(data, pos)) < base:
            value = value * base + digit
            pos += 1
        if pos == start:
            raise HmpUsageError(f"invalid char '{chr(self.peek())}' in expression")
        if value > _U64:
            raise HmpUsageError("number too large")
        self.pos = pos
        self.skip_space()
        return _int64(value)


def _digit(data: bytes, pos: int) -> int:
    if pos >= len(data):
        return 99
    ch = chr(data[pos]).lower()
    if "0" <= ch <= "9":
        return ord(ch) - ord("0")
    if "a" <= ch <= "z":
        return ord(ch) - ord("a") + 10
    return 99


def evaluate_expression(text: str) -> tuple[int, str]:
    """Evaluate the integer expression at the start of ``text`` (``get_expr``).

    Returns:
        The value (wrapped to int64, as in C) and the text after it.

    Raises:
        HmpUsageError: the parser's message (``unexpected end of expression``, ...).
    """
    parser = _Parser(text)
    parser.skip_space()
    value = parser.sum()
    return value, parser.data[parser.pos :].decode(errors="replace")


def call_command(
    ctx: CommandContext, command: str, arguments: JSONObject | None = None
) -> JSONValue:
    """Run a QMP command's handler (imported lazily: it needs the generated schema)."""
    from hvballoond.dispatch.invoke import call_command as invoke

    return invoke(ctx, command, arguments)


@hmp_info("balloon", help="show balloon information")
def info_balloon(ctx: CommandContext, arg: str | int | None) -> str:
    """``balloon: actual=<MiB>`` (hw/core/machine-hmp-cmds.c hmp_info_balloon)."""
    result = call_command(ctx, "query-balloon")
    assert isinstance(result, dict)
    actual = result["actual"]
    assert isinstance(actual, int)
    return f"balloon: actual={actual >> 20}\n"


@hmp_command(
    "balloon",
    params="target",
    help="request VM to change its memory allocation (in MB)",
    arg=ArgKind.EXPR,
)
def balloon(ctx: CommandContext, arg: str | int | None) -> str:
    """``balloon <MiB>``: an expression in MiB (argument type ``M``), then QMP ``balloon``."""
    assert isinstance(arg, str)
    value, rest = evaluate_expression(arg)
    if value < 0:
        raise HmpUsageError("enter a positive value")
    if rest.strip(_SPACE):
        raise HmpUsageError("balloon: extraneous characters at the end of line")
    call_command(ctx, "balloon", {"value": _int64(value * _MIB)})
    return ""
