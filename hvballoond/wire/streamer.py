"""QEMU's JSON message streamer: bytes in, one value or error per message out.

This is qobject/json-streamer.c on top of :mod:`~hvballoond.wire.lexer` and
:mod:`~hvballoond.wire.parser`: the framer counts braces and brackets over the tokens
of the current message, enforces the per-message limits and hands a finished message
to the parser (spec §5.2-§5.5).

Two shortcuts keep the common case fast without changing what comes out (they are
tested item for item against :mod:`hvballoond.wire.reference`):

* at a message boundary, a message that starts with ``{`` is offered to Python's C
  JSON scanner; the result is kept only when the message is plain ASCII with no
  ``\\u`` escapes, no integer of 19 or more digits and no duplicate key, because on
  such input the scanner and QEMU agree exactly (same grammar, same whitespace, same
  escapes, correctly rounded doubles, NaN and Infinity refused);
* a message framed from tokens is offered to the same scanner with its tokens
  joined by spaces (which Python then reads as the very same tokens), under the
  same conditions;
* inside a message, runs of tokens other than brackets are lexed with one regex
  and accounted in bulk.
"""

from __future__ import annotations

import itertools
import json
import json.scanner
import re
from bisect import bisect_right
from collections.abc import Callable
from typing import Final, NoReturn

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
from hvballoond.wire.lexer import Lexer, Stray
from hvballoond.wire.parser import parse_tokens
from hvballoond.wire.unicode import writer_text
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = ["Item", "JsonStreamer", "Parsed", "WireError"]

# Messages longer than this are never taken by the C-scanner shortcut, which keeps
# them far below every limit (a token is at least one byte).
_FAST_MAX: Final = 1 << 16
# Bytes decoded at a time for the shortcut.
_WINDOW: Final = 1 << 18
# A message of up to this length cannot nest deeper than MAX_NESTING (and it is
# no longer than _FAST_MAX).
_SHALLOW: Final = 2 * MAX_NESTING

_WHITESPACE: Final = frozenset(b" \t\r\n")
# Python's scanner and QEMU may disagree on non-ASCII bytes, on \u escapes (lone
# surrogates, noncharacters), on integers that may not fit in 64 bits, and on a zero
# followed by an exponent: QEMU's lexer ends the number at "0" ("0e5" is 0, then the
# keyword "e5"; spec §5.1), Python reads 0e5 as a float. Either declines the shortcut.
_LONG_DIGITS: Final = re.compile(r"[0-9]{19}|(?<![0-9.])0[eE]")

_BRACKETS: Final = {b"{": (1, 0), b"}": (-1, 0), b"[": (0, 1), b"]": (0, -1)}


class _DuplicateKey(Exception):
    pass


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(name)


def _unique_members(pairs: list[tuple[str, JSONValue]]) -> JSONObject:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise _DuplicateKey
    return members


# The C scanners of two decoders that refuse NaN and Infinity; the second one also
# refuses duplicate keys. A scanner reads its settings from the decoder it is made
# from, which typeshed does not model.
_scan_plain: Final[Callable[[str, int], tuple[JSONValue, int]]] = json.scanner.make_scanner(
    json.JSONDecoder(parse_constant=_reject_constant)  # type: ignore[arg-type]
)
_scan_checked: Final[Callable[[str, int], tuple[JSONValue, int]]] = json.scanner.make_scanner(
    json.JSONDecoder(  # type: ignore[arg-type]
        parse_constant=_reject_constant, object_pairs_hook=_unique_members
    )
)


_LONG_DIGIT_BYTES: Final = re.compile(rb"[0-9]{19}|(?<![0-9.])0[eE]")


def _scan_tokens(tokens: list[bytes]) -> tuple[JSONValue] | None:
    """Parse a framed message with the C scanner if that gives QEMU's value.

    Joined with spaces, the tokens read the same to Python as to QEMU; the checks
    are those of the whole-message shortcut (see the module docstring).

    Returns:
        ``(value,)``, or ``None`` to leave the message to the token parser.
    """
    text = b" ".join(tokens)
    if not text.isascii() or b"\\u" in text or _LONG_DIGIT_BYTES.search(text):
        return None
    source = text.decode("ascii")
    try:
        value, end = _scan_plain(source, 0)
        if end != len(source):
            return None
        # Each member has its own ':' token.
        colons = tokens.count(b":")
        if colons and not (isinstance(value, dict) and len(value) == colons):
            value, end = _scan_checked(source, 0)
    except (ValueError, StopIteration, RecursionError, _DuplicateKey):
        return None
    return (value,)


def _stray(text: bytes) -> WireError:
    return WireError(f"JSON parse error, stray '{writer_text(text)}'")


class JsonStreamer:
    """Splits a QMP input byte stream into JSON values and errors, exactly as QEMU.

    Items come out in the order QEMU would queue them, and each call does only the
    work needed for the next item, so the caller may stop pulling at any item.

    Args:
        shortcuts: Use the fast paths described in the module docstring (tests turn
            them off to exercise the general path on its own).
    """

    __slots__ = (
        "_braces",
        "_brackets",
        "_lexer",
        "_shortcuts",
        "_size",
        "_tokens",
        "_window",
        "_window_at",
    )

    def __init__(self, *, shortcuts: bool = True) -> None:
        self._lexer = Lexer()
        self._shortcuts = shortcuts
        self._tokens: list[bytes] = []
        self._braces = 0
        self._brackets = 0
        self._size = 0
        self._window = ""
        self._window_at = 0

    def feed(self, data: bytes) -> None:
        """Buffer more input.

        Args:
            data: Bytes read from the client.
        """
        self._lexer.feed(data)

    @property
    def has_unread_input(self) -> bool:
        """Whether bytes are buffered that :meth:`next_item` has not consumed yet."""
        return self._lexer.pos < len(self._lexer.buf)

    def reset(self) -> None:
        """Forget all input, as QEMU does when the client disconnects (§9.4)."""
        self._lexer.reset()
        self._drop_message()
        self._window = ""
        self._window_at = 0

    def next_item(self) -> Item | None:
        """Consume input up to the end of the next item.

        Returns:
            The next :class:`Parsed` value or :class:`WireError`, or ``None`` if the
            buffered input holds no further complete item.
        """
        lexer = self._lexer
        if self._shortcuts and not self._tokens and lexer.at_rest:
            parsed = self._whole_message()
            if parsed is not None:
                return parsed
        while True:
            if self._shortcuts and self._tokens and lexer.at_rest:
                error = self._bulk_tokens()
                if error is not None:
                    return error
            token = lexer.next_token()
            if token is None:
                return None
            item = self._frame(token)
            if item is not None:
                return item

    def _drop_message(self) -> None:
        self._tokens = []
        self._braces = 0
        self._brackets = 0
        self._size = 0

    def _frame(self, token: bytes | Stray) -> Item | None:
        """json-streamer.c ``json_message_process_token`` for one token."""
        if isinstance(token, Stray):
            self._drop_message()
            return _stray(token.text)
        delta = _BRACKETS.get(token)
        if delta is not None:
            self._braces += delta[0]
            self._brackets += delta[1]
        length = len(token)
        # The limits are checked in this order, before the token is kept.
        if self._size + length + 1 > MAX_TOKEN_SIZE:
            self._drop_message()
            return WireError(TOKEN_SIZE_LIMIT_EXCEEDED)
        if len(self._tokens) + 1 > MAX_TOKEN_COUNT:
            self._drop_message()
            return WireError(TOKEN_COUNT_LIMIT_EXCEEDED)
        if self._braces + self._brackets > MAX_NESTING:
            self._drop_message()
            return WireError(NESTING_LIMIT_EXCEEDED)
        self._tokens.append(token)
        self._size += length
        braces = self._braces
        brackets = self._brackets
        if (braces > 0 or brackets > 0) and braces >= 0 and brackets >= 0:
            return None
        tokens = self._tokens
        self._drop_message()
        if self._shortcuts and len(tokens) > 1:
            value = _scan_tokens(tokens)
            if value is not None:
                return Parsed(value[0])
        return parse_tokens(tokens)

    def _bulk_tokens(self) -> WireError | None:
        """Take a run of non-bracket tokens in one go while a message is open.

        Such tokens change no counter, so they cannot end the message; only the size
        and count limits can stop the run part-way.
        """
        pairs, length = self._lexer.simple_run()
        if not pairs:
            return None
        tokens = [token for _, token in pairs]
        sizes = list(itertools.accumulate(map(len, tokens), initial=self._size))
        # Index of the first token that breaks each limit (len(tokens) if none).
        size_fail = bisect_right(sizes, MAX_TOKEN_SIZE - 1, lo=1) - 1
        count_fail = MAX_TOKEN_COUNT - len(self._tokens)
        fail = min(size_fail, count_fail)
        if fail >= len(tokens):
            self._tokens.extend(tokens)
            self._size = sizes[-1]
            self._lexer.skip(length)
            return None
        if len(tokens[fail]) > MAX_TOKEN_SIZE:
            # The lexer cuts such a token part-way: keep what precedes it and let
            # next_token() deal with it.
            self._tokens.extend(tokens[:fail])
            self._size = sizes[fail]
            self._lexer.skip(sum(map(len, [ws for ws, _ in pairs[:fail]])) + sizes[fail] - sizes[0])
            return None
        spaces = sum(map(len, [ws for ws, _ in pairs[: fail + 1]]))
        self._lexer.skip(spaces + sizes[fail + 1] - sizes[0])
        self._drop_message()
        # The size check comes first for the same token.
        return WireError(
            TOKEN_SIZE_LIMIT_EXCEEDED if size_fail <= count_fail else TOKEN_COUNT_LIMIT_EXCEEDED
        )

    def _whole_message(self) -> Parsed | None:
        """Parse one plain ``{...}`` message with Python's C scanner, if it is safe."""
        lexer = self._lexer
        buf = lexer.buf
        n = len(buf)
        pos = lexer.pos
        if pos >= n:
            return None
        if buf[pos] != 0x7B:
            while pos < n and buf[pos] in _WHITESPACE:
                pos += 1
            lexer.pos = pos
            if pos >= n or buf[pos] != 0x7B:
                return None
        window = self._window
        offset = lexer.base + pos - self._window_at
        left = len(window) - offset
        # Rebuild the window unless it holds everything buffered from here on, or
        # at least as much as the longest message taken here.
        stale = left < _FAST_MAX and lexer.base + n > self._window_at + len(window)
        if offset < 0 or left <= 0 or stale:
            window = self._window = buf[pos : pos + _WINDOW].decode("latin-1")
            self._window_at = lexer.base + pos
            offset = 0
        try:
            value, end = _scan_plain(window, offset)
        except (ValueError, StopIteration, RecursionError):
            return None
        text = window[offset:end]
        if not text.isascii() or "\\u" in text or _LONG_DIGITS.search(text):
            return None
        length = end - offset
        if length > _SHALLOW and (
            length > _FAST_MAX or text.count("{") + text.count("[") > MAX_NESTING
        ):
            return None
        # Every member costs one ':' outside strings, so as many colons as top-level
        # members proves there is no nested member and no duplicate at all.
        if text.count(":") != len(value):  # type: ignore[arg-type]  # '{' gives a dict
            try:
                value, end = _scan_checked(window, offset)
            except (ValueError, StopIteration, RecursionError, _DuplicateKey):
                return None
        lexer.pos = pos + length
        return Parsed(value)
