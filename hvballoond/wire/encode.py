"""Print JSON values exactly as QEMU's QMP monitor does (spec §1.2, §1.3).

* Layout: ``{"a": 1, "b": [1, 2]}``; pure ASCII; ``\\uXXXX`` escapes in upper case,
  surrogate pairs above U+FFFF, ``/`` left alone [source: qobject/json-writer.c].
* Integers in decimal; doubles as C ``%.17g`` (``1.0`` -> ``1``, ``inf``, ``-0``).
* Object members in qdict order: ascending ``tdb_hash(key) % 512`` bucket, and the
  member inserted later first inside one bucket [source: qobject/qdict.c]. Callers
  therefore insert members in QAPI schema order and let the encoder reorder them.
* Each message ends with ``\\r\\n`` (QEMU writes ``\\n``; the monitor turns it into
  ``\\r\\n``, monitor/monitor.c).

Text that QEMU could not hold (surrogate code points, noncharacters) is printed as
``\\uFFFD``, which is what QEMU's writer prints for the equivalent invalid UTF-8.
"""

from __future__ import annotations

import json.encoder
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Final

from hvballoond.wire.values import JSONObject, JSONValue

__all__ = [
    "PreEncoded",
    "encode",
    "encode_error",
    "encode_pretty",
    "encode_return",
    "ordered_keys",
    "qdict_bucket",
    "qdict_order",
]

QDICT_BUCKETS: Final = 512
_CACHE_MAX: Final = 1 << 14
# Beyond this nesting the recursive encoder hands over to the iterative one, so
# echoing a deeply nested id (up to the parser's 1024 levels) never hits Python's
# recursion limit.
_RECURSION_MAX: Final = 200

_encode_ascii: Final[Callable[[str], str]] = json.encoder.encode_basestring_ascii
_LOWER_HEX_ESCAPE: Final = re.compile(r"\\\\|\\u[0-9a-f]{4}")
# C0 controls, '"', backslash and everything from U+007F up, spelled as the complement (the
# rest of printable ASCII): a class listing every code point up to U+10FFFF takes milliseconds
# of start-up to compile, its complement next to nothing.
_NEEDS_ESCAPE: Final = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
_SHORT_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}

_buckets: dict[str, int] = {}
_orders: dict[tuple[str, ...], tuple[str, ...]] = {}
_quoted_keys: dict[str, str] = {}
_heads: dict[str, tuple[str, str]] = {}


class _TooDeep(Exception):
    pass


class PreEncoded(dict[str, JSONValue]):
    """A read-only JSON object that carries its own compact text.

    Query replies repeat the same entries many times (``query-memdev`` with thousands of
    backends); callers keep one of these per unchanged entry so that encoding a reply only
    joins strings. It still is a dict for every other reader (schema checks, HMP, tests);
    mutating it would leave the text stale, so mutation is refused.
    """

    __slots__ = ("text",)

    def __init__(self, value: JSONObject) -> None:
        super().__init__(value)
        self.text = _compact(value)

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError("a PreEncoded object is read-only")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = __ior__ = _refuse  # type: ignore[assignment]


# ------------------------------------------------------------------ key order


def _tdb_hash(data: bytes) -> int:
    """qobject/qdict.c ``tdb_hash`` in 32-bit unsigned arithmetic."""
    value = (0x238F13AF * len(data)) & 0xFFFFFFFF
    for i, byte in enumerate(data):
        value = (value + (byte << (i * 5 % 24))) & 0xFFFFFFFF
    return (1103515243 * value + 12345) & 0xFFFFFFFF


def qdict_bucket(key: str) -> int:
    """The qdict hash bucket (0..511) of an object member name.

    The hash runs over the key as QEMU stores it: modified UTF-8, with U+0000 as
    ``C0 80``.

    Args:
        key: Member name.

    Returns:
        ``tdb_hash(key) % 512``.
    """
    bucket = _buckets.get(key)
    if bucket is None:
        data = key.encode("utf-8", "surrogatepass").replace(b"\x00", b"\xc0\x80")
        bucket = _tdb_hash(data) % QDICT_BUCKETS
        if len(_buckets) >= _CACHE_MAX:
            _buckets.clear()
        _buckets[key] = bucket
    return bucket


def _order(keys: tuple[str, ...]) -> tuple[str, ...]:
    order = _orders.get(keys)
    if order is None:
        ranked = sorted(range(len(keys)), key=lambda i: (qdict_bucket(keys[i]), -i))
        order = tuple(keys[i] for i in ranked)
        if len(_orders) >= _CACHE_MAX:
            _orders.clear()
        _orders[keys] = order
    return order


def ordered_keys(members: Mapping[str, object]) -> tuple[str, ...]:
    """The keys of ``members`` in the order QEMU prints them (see :func:`qdict_order`).

    Args:
        members: An object whose keys were inserted in QAPI schema or input order.

    Returns:
        The keys, as a cached tuple.
    """
    return _order(tuple(members))


def qdict_order(keys: Sequence[str]) -> list[str]:
    """The order in which QEMU prints (and iterates) members inserted in ``keys`` order.

    Args:
        keys: Member names in insertion order, without duplicates.

    Returns:
        The names by ascending bucket, later-inserted first within a bucket.
    """
    return list(_order(tuple(keys)))


# ------------------------------------------------------------------- strings


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    cp = ord(char)
    if 0xD800 <= cp <= 0xDFFF or 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE:
        return "\\uFFFD"
    if cp > 0xFFFF:
        cp -= 0x10000
        return f"\\u{0xD800 + (cp >> 10):04X}\\u{0xDC00 + (cp & 0x3FF):04X}"
    return f"\\u{cp:04X}"


def _upper_hex(match: re.Match[str]) -> str:
    text = match.group()
    return text if text == "\\\\" else "\\u" + text[2:].upper()


def _quote(text: str) -> str:
    """A JSON string literal as qobject/json-writer.c ``quoted_str`` prints it."""
    if text.isascii():
        # The C escaper matches QEMU except for the case of its hex digits.
        quoted = _encode_ascii(text)
        if "\\u" in quoted:
            quoted = _LOWER_HEX_ESCAPE.sub(_upper_hex, quoted)
        return quoted
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"'


def _quote_key(key: str) -> str:
    quoted = _quoted_keys.get(key)
    if quoted is None:
        quoted = _quote(key)
        if len(_quoted_keys) >= _CACHE_MAX:
            _quoted_keys.clear()
        _quoted_keys[key] = quoted
    return quoted


def _scalar(value: JSONValue) -> str:
    """Text of a non-container value (also accepts str/int/float subclasses)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _quote(str(value))
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return "%.17g" % value  # noqa: UP031  # C printf semantics, as QEMU
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


# ----------------------------------------------------------- compact, fast


def _member_heads(key: str) -> tuple[str, str]:
    """``{"key": `` and ``, "key": ``, cached: what precedes a member's value."""
    heads = _heads.get(key)
    if heads is None:
        quoted = _quote(key)
        heads = ("{" + quoted + ": ", ", " + quoted + ": ")
        if len(_heads) >= _CACHE_MAX:
            _heads.clear()
        _heads[key] = heads
    return heads


def _write(value: JSONValue, out: list[str], depth: int) -> None:
    kind = type(value)
    if kind is str:
        out.append(_quote(value))  # type: ignore[arg-type]  # kind is str
    elif kind is int:
        out.append(str(value))
    elif kind is PreEncoded:
        out.append(value.text)  # type: ignore[union-attr]  # kind is PreEncoded
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        if depth > _RECURSION_MAX:
            raise _TooDeep
        index = 0
        for key in _order(tuple(value)):
            out.append(_member_heads(key)[index])
            index = 1
            member = value[key]
            if type(member) is str:
                out.append(_quote(member))
            elif type(member) is int:
                out.append(str(member))
            elif type(member) is PreEncoded:
                out.append(member.text)
            else:
                _write(member, out, depth + 1)
        out.append("}")
    elif isinstance(value, list):
        if not value:
            out.append("[]")
            return
        if depth > _RECURSION_MAX:
            raise _TooDeep
        separator = "["
        for element in value:
            out.append(separator)
            if type(element) is PreEncoded:
                out.append(element.text)
            else:
                _write(element, out, depth + 1)
            separator = ", "
        out.append("]")
    else:
        out.append(_scalar(value))


# ------------------------------------------------- general, QEMU's writer


def _walk(value: JSONValue) -> Iterator[tuple[str, str | None, str]]:
    """Writer calls for ``value``: (``start``/``end``/``scalar``, member name, text).

    ``start``/``end`` carry ``{``/``}`` or ``[``/``]``; the walk keeps its own
    stack, so any nesting depth works.
    """
    stack: list[Iterator[tuple[str | None, JSONValue]]] = []
    closers: list[str] = []
    pending: tuple[str | None, JSONValue] | None = (None, value)
    while True:
        if pending is None:
            if not stack:
                return
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                yield "end", None, closers.pop()
                continue
            pending = nxt
        name, item = pending
        pending = None
        if isinstance(item, dict):
            yield "start", name, "{"
            stack.append(iter([(key, item[key]) for key in _order(tuple(item))]))
            closers.append("}")
        elif isinstance(item, list):
            yield "start", name, "["
            stack.append(iter([(None, element) for element in item]))
            closers.append("]")
        else:
            yield "scalar", name, _scalar(item)


def _write_general(value: JSONValue, *, pretty: bool) -> str:
    """qobject/json-writer.c, compact or pretty, without recursion."""
    out: list[str] = []
    depth = 0
    need_comma = False

    def newline() -> None:
        if pretty:
            out.append("\n" + " " * (4 * depth))

    for call, name, text in _walk(value):
        if call == "end":
            depth -= 1
            need_comma = True
            newline()
            out.append(text)
            continue
        if need_comma:
            out.append(",")
            if pretty:
                newline()
            else:
                out.append(" ")
        else:
            if out:
                newline()
            need_comma = True
        if name is not None:
            out.append(_quote_key(name))
            out.append(": ")
        out.append(text)
        if call == "start":
            depth += 1
            need_comma = False
    return "".join(out)


def _compact(value: JSONValue) -> str:
    """Compact text of ``value``: the fast writer, or QEMU's own for very deep nesting."""
    out: list[str] = []
    try:
        _write(value, out, 0)
    except _TooDeep:
        return _write_general(value, pretty=False)
    return "".join(out)


# --------------------------------------------------------------------- API


def encode(value: JSONValue) -> bytes:
    """Encode one QMP message in QEMU's compact form.

    Args:
        value: The message (normally an object).

    Returns:
        ASCII bytes ending with ``\\r\\n``.
    """
    return (_compact(value) + "\r\n").encode("ascii")


def encode_return(result: JSONValue, reply_id: tuple[JSONValue] | None) -> bytes:
    """``encode({"return": result, "id": reply_id[0]})``, without building the message.

    QEMU prints ``return`` (bucket 401) before ``id`` (bucket 486).

    Args:
        result: The command's return value.
        reply_id: ``(id,)`` to echo, or ``None`` when the request had no id.

    Returns:
        The same bytes as :func:`encode` gives for the message.
    """
    out = ['{"return": ']
    try:
        _write(result, out, 1)
        if reply_id is not None:
            out.append(', "id": ')
            _write(reply_id[0], out, 1)
    except _TooDeep:
        message: JSONObject = {"return": result}
        if reply_id is not None:
            message["id"] = reply_id[0]
        return encode(message)
    out.append("}\r\n")
    return "".join(out).encode("ascii")


def encode_error(error_class: str, desc: str, reply_id: tuple[JSONValue] | None) -> bytes:
    """``encode({"error": {"class": ..., "desc": ...}, "id": reply_id[0]})``, directly.

    QEMU prints ``id`` (486) before ``error`` (489), and ``class`` (211) before
    ``desc`` (377).

    Args:
        error_class: The error class name.
        desc: The error text.
        reply_id: ``(id,)`` to echo, or ``None``.

    Returns:
        The same bytes as :func:`encode` gives for the message.
    """
    tail = '"error": {"class": ' + _quote(error_class) + ', "desc": ' + _quote(desc) + "}}\r\n"
    if reply_id is None:
        return ("{" + tail).encode("ascii")
    out = ['{"id": ']
    try:
        _write(reply_id[0], out, 1)
    except _TooDeep:
        message: JSONObject = {"error": {"class": error_class, "desc": desc}, "id": reply_id[0]}
        return encode(message)
    out.append(", ")
    out.append(tail)
    return "".join(out).encode("ascii")


def encode_pretty(value: JSONValue) -> bytes:
    """Encode one QMP message as QEMU's ``-qmp-pretty`` does.

    Args:
        value: The message.

    Returns:
        ASCII bytes, one member or element per line, 4-space indent, ``\\r\\n``
        line ends, ending with ``\\r\\n``.
    """
    text = _write_general(value, pretty=True)
    return (text.replace("\n", "\r\n") + "\r\n").encode("ascii")
