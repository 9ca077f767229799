"""QEMU's JSON lexer (qobject/json-lexer.c), cut into tokens with compiled regexes.

The lexer is the state machine of spec §5.1. Each call to :meth:`Lexer.next_token`
first tries one regex that recognises a whole token in the start state (a structural
character, a complete string, or a number or keyword whose end is proven by the byte
after it). Everything else - tokens split across reads, lexical errors, recovery and
the 64 MiB per-token cut - goes through the same state machine one transition at a
time, with regexes skipping over runs of bytes that keep the state unchanged.
:mod:`hvballoond.wire.reference` holds the plain byte-by-byte version that this one
is tested against.

Tokens are returned as the raw bytes QEMU would have collected; a lexical error
comes back as :class:`Stray` holding the text of the error token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from hvballoond.wire.items import MAX_TOKEN_SIZE

__all__ = ["Lexer", "Stray"]

# Lexer states (the IN_* states of qobject/json-lexer.c, minus interpolation).
_START: Final = 0
_RECOVERY: Final = 1
_DQ: Final = 2
_DQ_ESC: Final = 3
_SQ: Final = 4
_SQ_ESC: Final = 5
_ZERO: Final = 6
_SIGN: Final = 7
_DIGITS: Final = 8
_MANTISSA: Final = 9
_MANTISSA_DIGITS: Final = 10
_EXP_E: Final = 11
_EXP_SIGN: Final = 12
_EXP_DIGITS: Final = 13
_KEYWORD: Final = 14

# Drop consumed input from the front of the buffer once this much has piled up.
_COMPACT_AT: Final = 1 << 16
# Upper bound of one bulk run (see Lexer.simple_run); keeps every token in it short.
_RUN_WINDOW: Final = 4 << 20

_WS: Final = rb"[ \t\r\n]*"
_DQ_STRING: Final = rb'"[^"\\\x00-\x1f\xfe\xff]*(?:\\[\x20-\xfd][^"\\\x00-\x1f\xfe\xff]*)*"'
_SQ_STRING: Final = rb"'[^'\\\x00-\x1f\xfe\xff]*(?:\\[\x20-\xfd][^'\\\x00-\x1f\xfe\xff]*)*'"
# A number or keyword is complete only once the byte after it shows that the state
# machine leaves its state there: hence the positive lookaheads, which also fail at
# the end of the buffer. Note ``0e5`` is the integer 0 then the keyword ``e`` (the
# ZERO state has no exponent transition).
_NUMBER: Final = (
    rb"-?(?:0\.[0-9]+|[1-9][0-9]*(?:\.[0-9]+)?)[eE][-+]?[0-9]+(?=[^0-9])"
    rb"|-?(?:0|[1-9][0-9]*)\.[0-9]+(?=[^0-9eE])"
    rb"|-?0(?=[^0-9.])"
    rb"|-?[1-9][0-9]*(?=[^0-9eE.])"
)
_KEYWORD_TOKEN: Final = rb"[a-z]+(?=[^a-z])"

_START_TOKEN: Final = re.compile(
    _WS
    + rb"(?:([{}\[\]:,])|("
    + _DQ_STRING
    + rb"|"
    + _SQ_STRING
    + rb")|("
    + _NUMBER
    + rb"|"
    + _KEYWORD_TOKEN
    + rb"))?"
)
# Plain integers followed by a separator come first: they are the common case.
_COMMON_INTEGER: Final = rb"-?[1-9][0-9]*(?=[,\] \t\r\n}])"
_SIMPLE_TOKEN: Final = (
    rb"(?:"
    + rb"|".join((rb"[:,]", _COMMON_INTEGER, _DQ_STRING, _SQ_STRING, _NUMBER, _KEYWORD_TOKEN))
    + rb")"
)
_SIMPLE_RUN: Final = re.compile(rb"(?:" + _WS + _SIMPLE_TOKEN + rb")+")
_SIMPLE_PAIRS: Final = re.compile(rb"(" + _WS + rb")(" + _SIMPLE_TOKEN + rb")")

# Runs of bytes that leave a state unchanged.
_RUNS: Final[dict[int, re.Pattern[bytes]]] = {
    _DQ: re.compile(rb'[^"\\\x00-\x1f\xfe\xff]*'),
    _SQ: re.compile(rb"[^'\\\x00-\x1f\xfe\xff]*"),
    _DIGITS: re.compile(rb"[0-9]*"),
    _MANTISSA_DIGITS: re.compile(rb"[0-9]*"),
    _EXP_DIGITS: re.compile(rb"[0-9]*"),
    _KEYWORD: re.compile(rb"[a-z]*"),
}
# Recovery skips everything but structural characters, control characters other
# than TAB, and the impossible bytes 0xFE/0xFF (json-lexer.c IN_RECOVERY).
_RECOVERY_RUN: Final = re.compile(rb"[^{}\[\]:,\x00-\x08\x0a-\x1f\xfe\xff]*")

_DIGIT: Final = frozenset(b"0123456789")
_LOWER: Final = frozenset(b"abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class Stray:
    """A lexical error: the bytes collected for the token, offending byte included."""

    text: bytes


class Lexer:
    """Incremental QEMU JSON lexer over a growing byte buffer.

    Attributes:
        buf: Buffered input; bytes before ``pos`` are consumed.
        pos: Index of the next byte to lex.
        base: Stream offset of ``buf[0]`` (input dropped from the front so far).
    """

    __slots__ = ("_start", "_state", "base", "buf", "pos")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.pos = 0
        self.base = 0
        self._state = _START
        self._start = 0

    def reset(self) -> None:
        """Drop all input and return to the start state."""
        self.buf = bytearray()
        self.pos = 0
        self.base = 0
        self._state = _START
        self._start = 0

    @property
    def at_rest(self) -> bool:
        """Whether the lexer is in its start state (no token begun, not recovering)."""
        return self._state == _START

    def feed(self, data: bytes) -> None:
        """Append input.

        Args:
            data: More bytes from the client.
        """
        keep = self.pos if self._state <= _RECOVERY else self._start
        if keep >= _COMPACT_AT:
            del self.buf[:keep]
            self.pos -= keep
            self._start -= keep
            self.base += keep
        self.buf += data

    def simple_run(self) -> tuple[list[tuple[bytes, bytes]], int]:
        """Look ahead over a run of complete tokens other than brackets and braces.

        Only valid in the start state. Nothing is consumed: the caller accepts a
        prefix of the run and calls :meth:`skip` with its length.

        Returns:
            ``(whitespace, token)`` pairs (possibly none) and their total length.
        """
        buf = self.buf
        pos = self.pos
        limit = min(len(buf), pos + _RUN_WINDOW)
        match = _SIMPLE_RUN.match(buf, pos, limit)
        if match is None:
            return [], 0
        # A number or keyword at the end of the run was proven complete by the byte
        # after it, which lies inside the window; one byte past the run is enough to
        # find it again, and no further token fits in that one byte.
        pairs: list[tuple[bytes, bytes]] = _SIMPLE_PAIRS.findall(
            buf, pos, min(match.end() + 1, limit)
        )
        return pairs, match.end() - pos

    def skip(self, count: int) -> None:
        """Consume ``count`` bytes already lexed by :meth:`simple_run`."""
        self.pos += count

    def next_token(self) -> bytes | Stray | None:
        """Lex up to the end of the next token.

        Returns:
            The token's bytes (a token longer than 64 MiB is cut and returned as it
            stands, for the framer to reject), a :class:`Stray` for a lexical error,
            or ``None`` when more input is needed.
        """
        buf = self.buf
        n = len(buf)
        while True:
            state = self._state
            pos = self.pos
            if state == _START:
                match = _START_TOKEN.match(buf, pos)
                assert match is not None  # the pattern also matches the empty string
                group = match.lastindex
                if group is not None:
                    start = match.start(group)
                    end = match.end()
                    if end - start <= MAX_TOKEN_SIZE:
                        self.pos = end
                        return bytes(buf[start:end])
                    pos = start  # too long: cut it below, byte by byte
                else:
                    pos = match.end()
                self.pos = pos
                if pos >= n:
                    return None
                byte = buf[pos]
                self._start = pos
                self.pos = pos + 1
                if byte == 0x22:
                    self._state = _DQ
                elif byte == 0x27:
                    self._state = _SQ
                elif byte == 0x30:
                    self._state = _ZERO
                elif byte in _DIGIT:
                    self._state = _DIGITS
                elif byte == 0x2D:
                    self._state = _SIGN
                elif byte in _LOWER:
                    self._state = _KEYWORD
                elif byte in b"{}[]:,":
                    return bytes((byte,))
                else:
                    self._state = _RECOVERY
                    return Stray(bytes((byte,)))
                continue
            if state == _RECOVERY:
                match = _RECOVERY_RUN.match(buf, pos)
                assert match is not None
                self.pos = pos = match.end()
                if pos >= n:
                    return None
                self._state = _START  # the byte is looked at again in the start state
                continue
            start = self._start
            run = _RUNS.get(state)
            if run is not None:
                match = run.match(buf, pos, min(n, start + MAX_TOKEN_SIZE + 1))
                assert match is not None
                self.pos = pos = match.end()
            if pos - start > MAX_TOKEN_SIZE:
                # json-lexer.c: a token that outgrows the limit is handed on as it
                # stands and lexing restarts in the start state, mid-token.
                self._state = _START
                return bytes(buf[start:pos])
            if pos >= n:
                return None
            token = self._step(state, buf[pos], start, pos)
            if token is not None:
                return token

    def _step(self, state: int, byte: int, start: int, pos: int) -> bytes | Stray | None:
        """One transition inside a token; returns a finished token or error, if any."""
        nxt = -1  # next state when the byte is consumed; -1: the token ends before it
        if state in (_DQ, _SQ):
            if byte == (0x22 if state == _DQ else 0x27):
                self.pos = pos + 1
                self._state = _START
                return bytes(self.buf[start : pos + 1])
            if byte != 0x5C:
                return self._error(start, pos)
            nxt = state + 1  # the matching *_ESC state
        elif state in (_DQ_ESC, _SQ_ESC):
            if not 0x20 <= byte <= 0xFD:
                return self._error(start, pos)
            nxt = state - 1
        elif state == _ZERO:
            if byte in _DIGIT:
                return self._error(start, pos)
            if byte == 0x2E:
                nxt = _MANTISSA
        elif state == _SIGN:
            if byte == 0x30:
                nxt = _ZERO
            elif byte in _DIGIT:
                nxt = _DIGITS
            else:
                return self._error(start, pos)
        elif state == _DIGITS:
            if byte == 0x65 or byte == 0x45:
                nxt = _EXP_E
            elif byte == 0x2E:
                nxt = _MANTISSA
        elif state == _MANTISSA:
            if byte not in _DIGIT:
                return self._error(start, pos)
            nxt = _MANTISSA_DIGITS
        elif state == _MANTISSA_DIGITS:
            if byte == 0x65 or byte == 0x45:
                nxt = _EXP_E
        elif state == _EXP_E:
            if byte == 0x2B or byte == 0x2D:
                nxt = _EXP_SIGN
            elif byte in _DIGIT:
                nxt = _EXP_DIGITS
            else:
                return self._error(start, pos)
        elif state == _EXP_SIGN:
            if byte not in _DIGIT:
                return self._error(start, pos)
            nxt = _EXP_DIGITS
        # _EXP_DIGITS and _KEYWORD end at any byte their run did not take.
        if nxt < 0:
            self._state = _START  # the byte is looked at again in the start state
            return bytes(self.buf[start:pos])
        self._state = nxt
        self.pos = pos + 1
        return None

    def _error(self, start: int, pos: int) -> Stray:
        """The byte at ``pos`` is invalid here: it ends the token as an error."""
        self.pos = pos + 1
        self._state = _RECOVERY
        return Stray(bytes(self.buf[start : pos + 1]))
