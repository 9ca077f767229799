"""A plain, byte-at-a-time model of QEMU's JSON input stage, for tests.

:class:`ReferenceStreamer` feeds one byte at a time through the lexer state machine
of spec §5.1, frames tokens as in §5.2, and parses with a recursive descent that
follows the shape of qobject/json-parser.c. It is written for clarity, not speed, and
shares no lexing, parsing or decoding code with :class:`~hvballoond.wire.streamer.JsonStreamer`,
which must produce exactly the same items (see tests/wire/test_differential.py).
"""

from __future__ import annotations

import sys
from collections import deque
from enum import Enum, auto
from typing import Final

from hvballoond.wire.items import (
    MAX_NESTING,
    MAX_TOKEN_COUNT,
    MAX_TOKEN_SIZE,
    NESTING_LIMIT_EXCEEDED,
    TOKEN_COUNT_LIMIT_EXCEEDED,
    TOKEN_SIZE_LIMIT_EXCEEDED,
    Item,
    Parsed,
    WireError,
)
from hvballoond.wire.unicode import writer_text
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = ["ReferenceStreamer"]


class _State(Enum):
    START = auto()
    RECOVERY = auto()
    DQ = auto()
    DQ_ESCAPE = auto()
    SQ = auto()
    SQ_ESCAPE = auto()
    ZERO = auto()
    SIGN = auto()
    DIGITS = auto()
    MANTISSA = auto()
    MANTISSA_DIGITS = auto()
    EXPONENT = auto()
    EXPONENT_SIGN = auto()
    EXPONENT_DIGITS = auto()
    KEYWORD = auto()


class _Kind(Enum):
    LCURLY = auto()
    RCURLY = auto()
    LSQUARE = auto()
    RSQUARE = auto()
    COLON = auto()
    COMMA = auto()
    INTEGER = auto()
    FLOAT = auto()
    KEYWORD = auto()
    STRING = auto()
    OVERSIZED = auto()  # a token cut at the size limit


class _Action(Enum):
    KEEP = auto()  # append the byte, move to the new state
    DROP = auto()  # consume the byte without keeping it
    TOKEN_WITH = auto()  # append the byte, the token is complete
    TOKEN_BEFORE = auto()  # the token ended before this byte; look at the byte again
    ERROR = auto()  # append the byte, report a lexical error, then recover
    RESYNC = auto()  # leave recovery; look at the byte again in the start state


_STRUCTURAL: Final = {
    ord("{"): _Kind.LCURLY,
    ord("}"): _Kind.RCURLY,
    ord("["): _Kind.LSQUARE,
    ord("]"): _Kind.RSQUARE,
    ord(":"): _Kind.COLON,
    ord(","): _Kind.COMMA,
}
_ENDS: Final = {
    _State.ZERO: _Kind.INTEGER,
    _State.DIGITS: _Kind.INTEGER,
    _State.MANTISSA_DIGITS: _Kind.FLOAT,
    _State.EXPONENT_DIGITS: _Kind.FLOAT,
    _State.KEYWORD: _Kind.KEYWORD,
}


def _is_digit(byte: int) -> bool:
    return 0x30 <= byte <= 0x39


def _transition(state: _State, byte: int) -> tuple[_Action, _State | _Kind | None]:
    """The lexer table of spec §5.1."""
    if state is _State.START:
        if byte in b" \t\r\n":
            return _Action.DROP, None
        if byte in _STRUCTURAL:
            return _Action.TOKEN_WITH, _STRUCTURAL[byte]
        if byte == ord('"'):
            return _Action.KEEP, _State.DQ
        if byte == ord("'"):
            return _Action.KEEP, _State.SQ
        if byte == ord("0"):
            return _Action.KEEP, _State.ZERO
        if _is_digit(byte):
            return _Action.KEEP, _State.DIGITS
        if byte == ord("-"):
            return _Action.KEEP, _State.SIGN
        if ord("a") <= byte <= ord("z"):
            return _Action.KEEP, _State.KEYWORD
        return _Action.ERROR, None
    if state is _State.RECOVERY:
        if byte in _STRUCTURAL or byte >= 0xFE or (byte < 0x20 and byte != ord("\t")):
            return _Action.RESYNC, None
        return _Action.DROP, None
    if state in (_State.DQ, _State.SQ):
        quote = ord('"') if state is _State.DQ else ord("'")
        if byte == quote:
            return _Action.TOKEN_WITH, _Kind.STRING
        if byte == ord("\\"):
            return _Action.KEEP, _State.DQ_ESCAPE if state is _State.DQ else _State.SQ_ESCAPE
        if 0x20 <= byte <= 0xFD:
            return _Action.KEEP, state
        return _Action.ERROR, None
    if state in (_State.DQ_ESCAPE, _State.SQ_ESCAPE):
        if 0x20 <= byte <= 0xFD:
            return _Action.KEEP, _State.DQ if state is _State.DQ_ESCAPE else _State.SQ
        return _Action.ERROR, None
    if state is _State.ZERO:
        if _is_digit(byte):
            return _Action.ERROR, None
        if byte == ord("."):
            return _Action.KEEP, _State.MANTISSA
        return _Action.TOKEN_BEFORE, _Kind.INTEGER
    if state is _State.SIGN:
        if byte == ord("0"):
            return _Action.KEEP, _State.ZERO
        if _is_digit(byte):
            return _Action.KEEP, _State.DIGITS
        return _Action.ERROR, None
    if state is _State.DIGITS:
        if _is_digit(byte):
            return _Action.KEEP, state
        if byte in b"eE":
            return _Action.KEEP, _State.EXPONENT
        if byte == ord("."):
            return _Action.KEEP, _State.MANTISSA
        return _Action.TOKEN_BEFORE, _Kind.INTEGER
    if state is _State.MANTISSA:
        if _is_digit(byte):
            return _Action.KEEP, _State.MANTISSA_DIGITS
        return _Action.ERROR, None
    if state is _State.MANTISSA_DIGITS:
        if _is_digit(byte):
            return _Action.KEEP, state
        if byte in b"eE":
            return _Action.KEEP, _State.EXPONENT
        return _Action.TOKEN_BEFORE, _Kind.FLOAT
    if state is _State.EXPONENT:
        if byte in b"+-":
            return _Action.KEEP, _State.EXPONENT_SIGN
        if _is_digit(byte):
            return _Action.KEEP, _State.EXPONENT_DIGITS
        return _Action.ERROR, None
    if state is _State.EXPONENT_SIGN:
        if _is_digit(byte):
            return _Action.KEEP, _State.EXPONENT_DIGITS
        return _Action.ERROR, None
    if state is _State.EXPONENT_DIGITS:
        if _is_digit(byte):
            return _Action.KEEP, state
        return _Action.TOKEN_BEFORE, _Kind.FLOAT
    # KEYWORD
    if ord("a") <= byte <= ord("z"):
        return _Action.KEEP, state
    return _Action.TOKEN_BEFORE, _Kind.KEYWORD


class ReferenceStreamer:
    """Byte-at-a-time equivalent of :class:`~hvballoond.wire.streamer.JsonStreamer`."""

    def __init__(self) -> None:
        self._input: deque[int] = deque()
        self._items: deque[Item] = deque()
        self._state = _State.START
        self._token = bytearray()
        self._tokens: list[tuple[_Kind, bytes]] = []
        self._braces = 0
        self._brackets = 0
        self._size = 0

    def feed(self, data: bytes) -> None:
        """Buffer more input."""
        self._input.extend(data)

    def reset(self) -> None:
        """Forget everything."""
        self._input.clear()
        self._items.clear()
        self._state = _State.START
        self._token.clear()
        self._reset_message()

    def next_item(self) -> Item | None:
        """Process bytes until an item is ready; ``None`` if input runs out first."""
        while not self._items:
            if not self._input:
                return None
            self._lex(self._input.popleft())
        return self._items.popleft()

    # ----------------------------------------------------------------- lexer

    def _lex(self, byte: int) -> None:
        while True:
            action, target = _transition(self._state, byte)
            if action is _Action.KEEP:
                assert isinstance(target, _State)
                self._token.append(byte)
                self._state = target
                break
            if action is _Action.DROP:
                break
            if action is _Action.TOKEN_WITH:
                assert isinstance(target, _Kind)
                self._token.append(byte)
                self._emit(target)
                break
            if action is _Action.TOKEN_BEFORE:
                assert isinstance(target, _Kind)
                self._emit(target)
                continue
            if action is _Action.ERROR:
                self._token.append(byte)
                self._stray(bytes(self._token))
                self._token.clear()
                self._state = _State.RECOVERY
                break
            self._state = _State.START  # RESYNC
        if len(self._token) > MAX_TOKEN_SIZE:
            self._emit(_Kind.OVERSIZED)

    def _emit(self, kind: _Kind) -> None:
        text = bytes(self._token)
        self._token.clear()
        self._state = _State.START
        self._frame(kind, text)

    # ---------------------------------------------------------------- framer

    def _reset_message(self) -> None:
        self._tokens = []
        self._braces = 0
        self._brackets = 0
        self._size = 0

    def _stray(self, text: bytes) -> None:
        self._reset_message()
        self._items.append(WireError(f"JSON parse error, stray '{writer_text(text)}'"))

    def _frame(self, kind: _Kind, text: bytes) -> None:
        if kind is _Kind.LCURLY:
            self._braces += 1
        elif kind is _Kind.RCURLY:
            self._braces -= 1
        elif kind is _Kind.LSQUARE:
            self._brackets += 1
        elif kind is _Kind.RSQUARE:
            self._brackets -= 1
        error = None
        if self._size + len(text) + 1 > MAX_TOKEN_SIZE:
            error = TOKEN_SIZE_LIMIT_EXCEEDED
        elif len(self._tokens) + 1 > MAX_TOKEN_COUNT:
            error = TOKEN_COUNT_LIMIT_EXCEEDED
        elif self._braces + self._brackets > MAX_NESTING:
            error = NESTING_LIMIT_EXCEEDED
        if error is not None:
            self._reset_message()
            self._items.append(WireError(error))
            return
        self._tokens.append((kind, text))
        self._size += len(text)
        if (self._braces > 0 or self._brackets > 0) and self._braces >= 0 and self._brackets >= 0:
            return
        tokens = self._tokens
        self._reset_message()
        self._items.append(_Parser(tokens).run())


# -------------------------------------------------------------------- parser


class _Failed(Exception):
    pass


def _codepoint(data: bytes, pos: int) -> tuple[int, int]:
    """Modified UTF-8 sequence at ``pos``: (code point or -1, position after it)."""
    byte = data[pos]
    if byte < 0x80:
        return byte, pos + 1
    if byte >= 0xFE or byte & 0xC0 == 0x80:
        return -1, pos + 1
    length = 0
    mask = 0x80
    while byte & mask:
        length += 1
        mask >>= 1
    cp = byte & (mask - 1)
    pos += 1
    for _ in range(length - 1):
        if pos >= len(data) or data[pos] & 0xC0 != 0x80:
            return -1, pos
        cp = (cp << 6) | (data[pos] & 0x3F)
        pos += 1
    smallest = {2: 0x80, 3: 0x800, 4: 0x10000, 5: 0x200000, 6: 0x4000000}[length]
    if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF or 0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE:
        return -1, pos
    if cp < smallest and not (cp == 0 and length == 2):
        return -1, pos
    return cp, pos


def _encodable(cp: int) -> bool:
    return (
        0 <= cp <= 0x10FFFF
        and not 0xD800 <= cp <= 0xDFFF
        and not 0xFDD0 <= cp <= 0xFDEF
        and cp & 0xFFFE != 0xFFFE
    )


def _hex4(data: bytes, pos: int) -> int:
    value = 0
    for i in range(4):
        if pos + i >= len(data):
            return -1
        char = chr(data[pos + i])
        if char not in "0123456789abcdefABCDEF":
            return -1
        value = value * 16 + int(char, 16)
    return value


class _Parser:
    """Recursive descent over the tokens of one message; the first error wins."""

    def __init__(self, tokens: list[tuple[_Kind, bytes]]) -> None:
        self._tokens: deque[tuple[_Kind, bytes]] = deque(tokens)
        self._error: str | None = None

    def run(self) -> Item:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20 * MAX_NESTING))
        try:
            value = self._value()
        except _Failed:
            assert self._error is not None
            return WireError("JSON parse error, " + self._error[:1023])
        finally:
            sys.setrecursionlimit(limit)
        return Parsed(value)

    def _fail(self, message: str) -> _Failed:
        if self._error is None:
            self._error = message
        return _Failed()

    def _peek(self) -> tuple[_Kind, bytes] | None:
        return self._tokens[0] if self._tokens else None

    def _pop(self) -> tuple[_Kind, bytes]:
        if not self._tokens:
            raise self._fail("premature EOI")
        return self._tokens.popleft()

    def _value(self) -> JSONValue:
        token = self._peek()
        if token is None:
            raise self._fail("premature EOI")
        kind, text = token
        if kind is _Kind.LCURLY:
            return self._object()
        if kind is _Kind.LSQUARE:
            return self._array()
        if kind is _Kind.STRING:
            self._pop()
            return self._string(text)
        if kind is _Kind.INTEGER:
            self._pop()
            return self._integer(text)
        if kind is _Kind.FLOAT:
            self._pop()
            return float(text)
        if kind is _Kind.KEYWORD:
            self._pop()
            keywords: dict[bytes, JSONValue] = {b"true": True, b"false": False, b"null": None}
            if text in keywords:
                return keywords[text]
            raise self._fail(f"invalid keyword '{text.decode('ascii')}'")
        raise self._fail("expecting value")

    def _object(self) -> JSONObject:
        self._pop()
        members: JSONObject = {}
        peek = self._peek()
        if peek is None:
            raise self._fail("premature EOI")
        if peek[0] is _Kind.RCURLY:
            self._pop()
            return members
        self._pair(members)
        kind, _ = self._pop()
        while kind is not _Kind.RCURLY:
            if kind is not _Kind.COMMA:
                raise self._fail("expected separator in dict")
            self._pair(members)
            kind, _ = self._pop()
        return members

    def _pair(self, members: JSONObject) -> None:
        if self._peek() is None:
            raise self._fail("premature EOI")
        key = self._value()
        if not isinstance(key, str):
            raise self._fail("key is not a string in object")
        kind, _ = self._pop()
        if kind is not _Kind.COLON:
            raise self._fail("missing : in object pair")
        value = self._value()
        if key in members:
            raise self._fail("duplicate key")
        members[key] = value

    def _array(self) -> list[JSONValue]:
        self._pop()
        elements: list[JSONValue] = []
        peek = self._peek()
        if peek is None:
            raise self._fail("premature EOI")
        if peek[0] is _Kind.RSQUARE:
            self._pop()
            return elements
        elements.append(self._value())
        kind, _ = self._pop()
        while kind is not _Kind.RSQUARE:
            if kind is not _Kind.COMMA:
                raise self._fail("expected separator in list")
            elements.append(self._value())
            kind, _ = self._pop()
        return elements

    @staticmethod
    def _integer(text: bytes) -> int | float:
        digits = text.lstrip(b"-")
        if len(digits) <= 20:
            value = int(text)
            if -(2**63) <= value < 2**63:
                return value
            if not text.startswith(b"-") and value < 2**64:
                return value
        return float(text)

    def _string(self, text: bytes) -> str:
        out: list[str] = []
        pos = 1
        end = len(text) - 1  # the closing quote
        escapes = {
            ord('"'): '"', ord("'"): "'", ord("\\"): "\\", ord("/"): "/",
            ord("b"): "\b", ord("f"): "\f", ord("n"): "\n", ord("r"): "\r", ord("t"): "\t",
        }  # fmt: skip
        while pos < end:
            if text[pos] != ord("\\"):
                cp, nxt = _codepoint(text, pos)
                if cp < 0:
                    raise self._fail("invalid UTF-8 sequence in string")
                out.append(chr(cp))
                pos = nxt
                continue
            begin = pos
            code = text[pos + 1]
            pos += 2
            if code in escapes:
                out.append(escapes[code])
                continue
            if code != ord("u"):
                raise self._fail("invalid escape sequence in string")
            cp = _hex4(text, pos)
            pos += 4
            if 0xD800 <= cp <= 0xDBFF and text[pos : pos + 2] == b"\\u":
                low = _hex4(text, pos + 2)
                if 0xDC00 <= low <= 0xDFFF:
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
                    pos += 6
                else:
                    cp = -1
            if not _encodable(cp):
                raise self._fail(f"{writer_text(text[begin:pos])} is not a valid Unicode character")
            out.append(chr(cp))
        return "".join(out)
