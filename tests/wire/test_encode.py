"""The encoder against spec §1.2/§1.3 and the key orders of machine-memory.md §0.2."""

from __future__ import annotations

import math
from enum import StrEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvballoond.wire import encode as encode_module
from hvballoond.wire.encode import (
    PreEncoded,
    encode,
    encode_error,
    encode_pretty,
    encode_return,
    ordered_keys,
    qdict_bucket,
    qdict_order,
)
from hvballoond.wire.values import JSONObject, JSONValue

# Spec §1.2 bucket table.
BUCKETS = {
    "seconds": 5, "QMP": 99, "capabilities": 216, "timestamp": 26, "version": 184,
    "micro": 225, "minor": 225, "name": 39, "class": 211, "qemu": 232, "event": 361,
    "package": 326, "running": 246, "microseconds": 374, "desc": 377, "status": 202,
    "return": 401, "reason": 401, "guest": 223, "id": 486, "error": 489, "data": 505,
    "exec-oob": 162, "execute": 299, "arguments": 447, "aa": 110, "aq": 110,
    "bar": 254, "foo": 490,
}  # fmt: skip


@pytest.mark.parametrize(("key", "bucket"), BUCKETS.items())
def test_bucket_table(key: str, bucket: int) -> None:
    assert qdict_bucket(key) == bucket


def test_bucket_hashes_modified_utf8() -> None:
    # The hash runs over QEMU's bytes: U+0000 is C0 80, other text is UTF-8.
    assert qdict_bucket("\x00") == encode_module._tdb_hash(b"\xc0\x80") % 512
    assert qdict_bucket("\u00e9") == encode_module._tdb_hash(b"\xc3\xa9") % 512


# Insertion (schema) order -> printed order, machine-memory.md §0.2 [observed] rows.
ORDERS = [
    (
        ["id", "size", "merge", "dump", "prealloc", "share", "reserve", "host-nodes", "policy"],
        ["share", "reserve", "prealloc", "host-nodes", "size", "merge", "dump", "policy", "id"],
    ),
    (
        ["id", "addr", "size", "slot", "node", "memdev", "hotplugged", "hotpluggable"],
        ["memdev", "hotplugged", "addr", "hotpluggable", "size", "slot", "node", "id"],
    ),
    (["id", "memaddr", "size", "memdev"], ["memdev", "memaddr", "size", "id"]),
    (["major", "minor", "micro"], ["micro", "minor", "major"]),
    (["timestamp", "event", "data"], ["timestamp", "event", "data"]),
    (["error", "id"], ["id", "error"]),
    (["return", "id"], ["return", "id"]),
    (["class", "desc"], ["class", "desc"]),
    (["c", "b", "a"], ["a", "b", "c"]),
    (["aa", "aq"], ["aq", "aa"]),
    (["aq", "aa"], ["aa", "aq"]),
    (["id", "foo", "bar", "execute"], ["bar", "execute", "id", "foo"]),
]


@pytest.mark.parametrize(("inserted", "printed"), ORDERS)
def test_member_order(inserted: list[str], printed: list[str]) -> None:
    assert qdict_order(inserted) == printed
    assert qdict_order(tuple(inserted)) == printed  # cached path
    message = encode(dict.fromkeys(inserted, 0))
    assert message == ("{" + ", ".join(f'"{k}": 0' for k in printed) + "}\r\n").encode()


def test_greeting_bytes() -> None:
    greeting: JSONValue = {
        "QMP": {
            "version": {
                "qemu": {"major": 10, "minor": 0, "micro": 2},
                "package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1",
            },
            "capabilities": ["oob"],
        }
    }
    assert encode(greeting) == (
        b'{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, '
        b'"package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"}, "capabilities": ["oob"]}}\r\n'
    )


def test_layout() -> None:
    assert qdict_order(["b", "a"]) == ["a", "b"]
    assert encode({"b": [1, 2], "a": 1}) == b'{"a": 1, "b": [1, 2]}\r\n'
    assert encode([{}, [], [[]], {"a": {}}]) == b'[{}, [], [[]], {"a": {}}]\r\n'
    assert encode("x") == b'"x"\r\n'

    assert encode({"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}) == (
        b'{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}\r\n'
    )


ESCAPES: list[tuple[str, bytes]] = [
    ('"', b'"\\""'),
    ("\\", b'"\\\\"'),
    ("\b\f\n\r\t", b'"\\b\\f\\n\\r\\t"'),
    ("\x00\x01\x1b\x1f", b'"\\u0000\\u0001\\u001B\\u001F"'),
    ("\x7f", b'"\\u007F"'),
    ("/", b'"/"'),
    ("\u00e9\u00e9", b'"\\u00E9\\u00E9"'),
    ("\uabcd", b'"\\uABCD"'),
    ("\U0001f600", b'"\\uD83D\\uDE00"'),
    ("\U0010fffd", b'"\\uDBFF\\uDFFD"'),
    ("\ud800", b'"\\uFFFD"'),  # no such text in QEMU: its writer prints U+FFFD
    ("\ufdd0\ufffe\U0001ffff", b'"\\uFFFD\\uFFFD\\uFFFD"'),
    ("\\u00ab", b'"\\\\u00ab"'),  # a literal backslash-u stays as written
    ("a\\\x1bb", b'"a\\\\\\u001Bb"'),
    ("\\\u00e9", b'"\\\\\\u00E9"'),
    ('it\'s "q"', b'"it\'s \\"q\\""'),
]


@pytest.mark.parametrize(("text", "expected"), ESCAPES, ids=[repr(t) for t, _ in ESCAPES])
def test_string_escapes(text: str, expected: bytes) -> None:
    assert encode([text]) == b"[" + expected + b"]\r\n"
    assert encode({text: 1}) == b"{" + expected + b": 1}\r\n"


NUMBERS: list[tuple[JSONValue, bytes]] = [
    (0, b"0"),
    (-9223372036854775808, b"-9223372036854775808"),
    (18446744073709551615, b"18446744073709551615"),
    (1.0, b"1"),
    (1.5, b"1.5"),
    (100.0, b"100"),
    (0.1, b"0.10000000000000001"),
    (-0.0, b"-0"),
    (2.0**64, b"1.8446744073709552e+19"),
    (-9223372036854775809.0, b"-9.2233720368547758e+18"),
    (1e-7, b"9.9999999999999995e-08"),
    (math.inf, b"inf"),
    (-math.inf, b"-inf"),
    (True, b"true"),
    (False, b"false"),
    (None, b"null"),
]


@pytest.mark.parametrize(("value", "expected"), NUMBERS, ids=[repr(v) for v, _ in NUMBERS])
def test_scalars(value: JSONValue, expected: bytes) -> None:
    assert encode({"v": value}) == b'{"v": ' + expected + b"}\r\n"
    assert encode([value]) == b"[" + expected + b"]\r\n"


class Color(StrEnum):
    RED = "red"


def test_str_subclass_encodes_as_its_value() -> None:
    assert encode({"d": [Color.RED], "c": Color.RED}) == b'{"d": ["red"], "c": "red"}\r\n'


def test_unencodable_value_is_refused() -> None:
    with pytest.raises(TypeError):
        encode({"x": object()})  # type: ignore[dict-item]


def test_deep_nesting_does_not_recurse() -> None:
    depth = 1100
    value: JSONValue = 1
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    expected = ""
    for i in reversed(range(depth)):
        expected += "[" if i % 2 else '{"k": '
    expected += "1"
    for i in range(depth):
        expected += "]" if i % 2 else "}"
    assert encode(value) == (expected + "\r\n").encode()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=200, derandomize=True)
@given(json_values)
def test_fast_and_general_writers_agree(value: JSONValue) -> None:
    general = encode_module._write_general(value, pretty=False)
    assert encode(value) == (general + "\r\n").encode("ascii")


def test_pretty_matches_qemu() -> None:
    # [observed] spec §1.3
    assert encode_pretty({"return": {}, "id": 1}) == (
        b'{\r\n    "return": {\r\n    },\r\n    "id": 1\r\n}\r\n'
    )
    assert encode_pretty({"return": [1, {"a": []}, "x"]}) == (
        b'{\r\n    "return": [\r\n        1,\r\n        {\r\n            "a": [\r\n'
        b'            ]\r\n        },\r\n        "x"\r\n    ]\r\n}\r\n'
    )
    assert encode_pretty({}) == b"{\r\n}\r\n"


@settings(max_examples=200, derandomize=True)
@given(
    result=json_values,
    reply_id=st.none() | json_values.map(lambda v: (v,)),
    error_class=st.text(max_size=12),
    desc=st.text(max_size=30),
)
def test_reply_shortcuts_match_encode(
    result: JSONValue, reply_id: tuple[JSONValue] | None, error_class: str, desc: str
) -> None:
    success: JSONObject = {"return": result}
    error: JSONObject = {"error": {"class": error_class, "desc": desc}}
    if reply_id is not None:
        success["id"] = error["id"] = reply_id[0]
    assert encode_return(result, reply_id) == encode(success)
    assert encode_error(error_class, desc, reply_id) == encode(error)


def test_reply_shortcuts_with_deep_ids() -> None:
    deep: JSONValue = [[]]
    for _ in range(600):
        deep = [deep]
    assert encode_return({}, (deep,)) == encode({"return": {}, "id": deep})
    assert encode_return(deep, None) == encode({"return": deep})
    assert encode_error("GenericError", "x", (deep,)) == encode(
        {"error": {"class": "GenericError", "desc": "x"}, "id": deep}
    )


json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=5)


@settings(max_examples=200, derandomize=True)
@given(entries=st.lists(json_objects, max_size=4), reply_id=st.none() | st.just((7,)))
def test_pre_encoded_objects_encode_like_plain_ones(
    entries: list[JSONObject], reply_id: tuple[JSONValue] | None
) -> None:
    cached: list[JSONValue] = [PreEncoded(entry) for entry in entries]
    plain: list[JSONValue] = list(entries)
    assert cached == plain
    assert encode_return(cached, reply_id) == encode_return(plain, reply_id)
    assert encode({"return": cached}) == encode({"return": plain})
    assert encode_pretty({"return": cached}) == encode_pretty({"return": plain})
    for entry in cached:
        assert isinstance(entry, PreEncoded)
        assert encode(entry) == encode(dict(entry))


def test_pre_encoded_deep_object_and_deep_surroundings() -> None:
    deep: JSONValue = [[]]
    for _ in range(600):
        deep = [deep]
    entry = PreEncoded({"k": deep})
    assert encode(entry) == encode({"k": deep})
    assert encode({"return": [entry], "id": deep}) == encode({"return": [{"k": deep}], "id": deep})


def test_pre_encoded_object_is_read_only() -> None:
    entry = PreEncoded({"a": 1})
    with pytest.raises(TypeError):
        entry["b"] = 2
    with pytest.raises(TypeError):
        del entry["a"]
    with pytest.raises(TypeError):
        entry.update(b=2)
    with pytest.raises(TypeError):
        entry.pop("a")
    assert entry == {"a": 1} and encode(entry) == b'{"a": 1}\r\n'


def test_ordered_keys() -> None:
    assert ordered_keys({"id": 1, "execute": "x", "arguments": {}}) == (
        "execute",
        "arguments",
        "id",
    )
