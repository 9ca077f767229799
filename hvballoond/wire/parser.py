"""Build one JSON value from the tokens of one message, as qobject/json-parser.c does.

Tokens are the raw bytes the lexer cut (``b'{'``, ``b'"id"'``, ``b'-1.5e3'``,
``b'true'``); their kind follows from the first byte. The parser is iterative so
that the nesting the framer allows (1024 levels) needs no deep Python recursion.
The first problem met, in token order, decides the error text (spec §5.4).
"""

from __future__ import annotations

from typing import Final

from hvballoond.wire.items import Item, Parsed, WireError
from hvballoond.wire.unicode import decode_mod_utf8, is_valid_codepoint, writer_text
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = ["parse_tokens"]

_PREFIX: Final = "JSON parse error, "
# qobject/json-parser.c formats its messages into a 1024-byte buffer.
_MESSAGE_MAX: Final = 1023

_INT64_MIN: Final = -(1 << 63)
_UINT64_MAX: Final = (1 << 64) - 1

_SIMPLE_ESCAPES: Final = {
    ord('"'): '"',
    ord("'"): "'",
    ord("\\"): "\\",
    ord("/"): "/",
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
}
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")

_COLON: Final = b":"
_COMMA: Final = b","
_STRING_STARTS: Final = frozenset(b"\"'")
_NUMBER_STARTS: Final = frozenset(b"-0123456789")


class _ParseError(Exception):
    """Internal: carries the parse error text (without the common prefix)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _error(message: str) -> WireError:
    return WireError(_PREFIX + message[:_MESSAGE_MAX])


def _convert_number(token: bytes) -> int | float:
    """Convert a number token (spec §5.7).

    Integers become int64 if they fit, else uint64 if non-negative and they fit,
    else a double; a token with ``.`` or an exponent is always a double.

    Args:
        token: A number token as cut by the lexer.

    Returns:
        The Python ``int`` or ``float``.
    """
    if b"." in token or b"e" in token or b"E" in token:
        return float(token)
    if len(token) <= 18:
        return int(token)
    # Anything longer than 21 characters cannot be a 64-bit integer; skipping int()
    # also keeps Python's limit on long integer strings out of the way.
    if len(token) <= 21:
        value = int(token)
        if _INT64_MIN <= value <= _UINT64_MAX:
            return value
    return float(token)


def _hex4(token: bytes, start: int) -> int:
    """qobject/json-parser.c ``cvt4hex``: four hex digits, or -1."""
    digits = token[start : start + 4]
    if len(digits) < 4 or not all(b in _HEX for b in digits):
        return -1
    return int(digits, 16)


def _decode_string(token: bytes) -> str:
    """Decode a string token, quotes included, as qobject/json-parser.c ``parse_string``.

    Args:
        token: The token; it starts and ends with the same quote character.

    Returns:
        The string value.

    Raises:
        _ParseError: With QEMU's message if an escape or the UTF-8 is invalid.
    """
    end = len(token) - 1
    if token.find(b"\\", 1, end) < 0:
        text = decode_mod_utf8(token[1:end])
        if text is None:
            raise _ParseError("invalid UTF-8 sequence in string")
        return text
    out: list[str] = []
    pos = 1
    while pos < end:
        slash = token.find(b"\\", pos, end)
        if slash < 0:
            slash = end
        if slash > pos:
            text = decode_mod_utf8(token[pos:slash])
            if text is None:
                raise _ParseError("invalid UTF-8 sequence in string")
            out.append(text)
        if slash == end:
            break
        code = token[slash + 1]
        simple = _SIMPLE_ESCAPES.get(code)
        if simple is not None:
            out.append(simple)
            pos = slash + 2
            continue
        if code != ord("u"):
            raise _ParseError("invalid escape sequence in string")
        cp = _hex4(token, slash + 2)
        pos = slash + 6
        if 0xD800 <= cp <= 0xDBFF and token[pos : pos + 2] == b"\\u":
            trailing = _hex4(token, pos + 2)
            if 0xDC00 <= trailing <= 0xDFFF:
                cp = 0x10000 + ((cp & 0x3FF) << 10) | (trailing & 0x3FF)
                pos += 6
            else:
                cp = -1
        if not is_valid_codepoint(cp):
            # The message quotes the escape as written, up to where parsing stopped
            # (even past the closing quote: the C string ends with its NUL).
            shown = writer_text(token[slash:pos])
            raise _ParseError(f"{shown} is not a valid Unicode character")
        out.append(chr(cp))
    return "".join(out)


def _scalar(token: bytes) -> JSONValue:
    """Value of a string, number or keyword token; raises _ParseError otherwise."""
    first = token[0]
    if first in _STRING_STARTS:
        return _decode_string(token)
    if first in _NUMBER_STARTS:
        return _convert_number(token)
    if token == b"true":
        return True
    if token == b"false":
        return False
    if token == b"null":
        return None
    if 0x61 <= first <= 0x7A:
        raise _ParseError(f"invalid keyword '{token.decode('ascii')}'")
    # '}', ']', ':' or ','.
    raise _ParseError("expecting value")


class _Object:
    __slots__ = ("key", "members", "want_key")

    def __init__(self) -> None:
        self.members: JSONObject = {}
        self.key = ""
        self.want_key = True


def parse_tokens(tokens: list[bytes]) -> Item:
    """Parse the tokens of one framed message.

    Args:
        tokens: Tokens as cut by the lexer; never empty.

    Returns:
        ``Parsed`` with the value, or ``WireError`` with QEMU's text.
    """
    try:
        return Parsed(_parse(tokens))
    except _ParseError as exc:
        return _error(exc.message)


def _parse(tokens: list[bytes]) -> JSONValue:
    n = len(tokens)
    i = 0
    stack: list[_Object | list[JSONValue]] = []
    value: JSONValue
    while True:
        # --- parse_value() at tokens[i] ---
        if i >= n:
            raise _ParseError("premature EOI")
        token = tokens[i]
        i += 1
        if token == b"{":
            if i >= n:
                raise _ParseError("premature EOI")
            if tokens[i] == b"}":
                i += 1
                value = {}
            else:
                stack.append(_Object())
                continue
        elif token == b"[":
            if i >= n:
                raise _ParseError("premature EOI")
            if tokens[i] == b"]":
                i += 1
                value = []
            else:
                stack.append([])
                continue
        else:
            value = _scalar(token)
        # --- hand the finished value to the enclosing containers ---
        while True:
            if not stack:
                return value
            frame = stack[-1]
            if isinstance(frame, list):
                frame.append(value)
                if i >= n:
                    raise _ParseError("premature EOI")
                token = tokens[i]
                i += 1
                if token == b"]":
                    value = frame
                    stack.pop()
                    continue
                if token != _COMMA:
                    raise _ParseError("expected separator in list")
                break
            if frame.want_key:
                if not isinstance(value, str):
                    raise _ParseError("key is not a string in object")
                if i >= n:
                    raise _ParseError("premature EOI")
                if tokens[i] != _COLON:
                    raise _ParseError("missing : in object pair")
                i += 1
                frame.key = value
                frame.want_key = False
                break
            # The duplicate check comes after the value parsed (parse_pair).
            if frame.key in frame.members:
                raise _ParseError("duplicate key")
            frame.members[frame.key] = value
            if i >= n:
                raise _ParseError("premature EOI")
            token = tokens[i]
            i += 1
            if token == b"}":
                value = frame.members
                stack.pop()
                continue
            if token != _COMMA:
                raise _ParseError("expected separator in dict")
            frame.want_key = True
            break
