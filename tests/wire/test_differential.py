"""JsonStreamer (all shortcuts on, and off) must agree with ReferenceStreamer item for item."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hvballoond.wire.lexer
import hvballoond.wire.reference
import hvballoond.wire.streamer
from hvballoond.wire.items import Item, WireError
from hvballoond.wire.reference import ReferenceStreamer
from hvballoond.wire.streamer import JsonStreamer
from tests.wire.support import bytewise, drain

SETTINGS = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Fragments that steer random input into the interesting corners of the lexer.
FRAGMENTS = [
    b"{", b"}", b"[", b"]", b":", b",", b'"', b"'", b"\\", b"u", b"0", b"1", b"9", b"-",
    b"+", b".", b"e", b"E", b"true", b"null", b"fals", b" ", b"\n", b"\r", b"\t", b"\x01",
    b"\x00", b"\xff", b"\xfe", b"\xc3\xa9", b"\xc0\x80", b"\xed\xa0\x80", b"\xef\xbf\xbe",
    b"\xf4\x90\x80\x80", b"\\ud83d\\ude00", b"\\ud800", b"\\u0000", b"\\uFFFE", b"\\u00e9",
    b'"id"', b'"execute"', b'"a"', b"a", b"x", b"@", b"12345678901234567890",
    b"1234567890123456789", b"-9223372036854775809", b"18446744073709551615", b"1e400",
    b'\\"', b"\\'", b"\\/", b"NaN", b"Infinity", b"1.5", b"0.0e-1", b'"k:"',
]  # fmt: skip

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """Valid JSON (often a QMP-like object), serialized in varied ways, then mutated."""
    value = draw(json_values)
    if draw(st.booleans()):
        value = {"execute": draw(st.sampled_from(["query-status", "x"])), "id": value}
    spaced = draw(st.booleans())
    text = json.dumps(
        value,
        ensure_ascii=draw(st.booleans()),
        separators=(", ", ": ") if spaced else (",", ":"),
        allow_nan=True,
    )
    data = bytearray(text.encode("utf-8", "surrogatepass"))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        op = draw(st.integers(min_value=0, max_value=2))
        at = draw(st.integers(min_value=0, max_value=len(data)))
        if op == 0 and data:
            del data[min(at, len(data) - 1)]
        elif op == 1:
            data[at:at] = draw(st.sampled_from(FRAGMENTS))
        elif data:
            data[min(at, len(data) - 1)] = draw(st.integers(min_value=0, max_value=255))
    return bytes(data)


streams = st.lists(
    messages()
    | st.sampled_from(FRAGMENTS)
    | st.binary(max_size=12)
    | st.builds(lambda n: b"[" + b"1, " * n, st.integers(min_value=0, max_value=40)),
    min_size=1,
    max_size=8,
).map(b"".join)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def check(data: bytes, cuts: list[int]) -> list[Item]:
    expected = drain(ReferenceStreamer(), [data])
    for shortcuts in (True, False):
        assert drain(JsonStreamer(shortcuts=shortcuts), [data]) == expected
        assert drain(JsonStreamer(shortcuts=shortcuts), bytewise(data)) == expected
        assert drain(JsonStreamer(shortcuts=shortcuts), chunked(data, cuts)) == expected
    return expected


@SETTINGS
@given(data=streams, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=4))
def test_streams_agree_with_reference(data: bytes, cuts: list[int]) -> None:
    check(data, cuts)


@SETTINGS
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(min_value=0), max_size=4))
def test_random_bytes_agree_with_reference(data: bytes, cuts: list[int]) -> None:
    check(data, cuts)


@contextmanager
def small_limits(*, size: int, count: int, nesting: int) -> Iterator[None]:
    """Shrink the per-message limits in every module that uses them."""
    with pytest.MonkeyPatch.context() as patch:
        for module in (hvballoond.wire.lexer, hvballoond.wire.streamer, hvballoond.wire.reference):
            if hasattr(module, "MAX_TOKEN_SIZE"):
                patch.setattr(module, "MAX_TOKEN_SIZE", size)
            if hasattr(module, "MAX_TOKEN_COUNT"):
                patch.setattr(module, "MAX_TOKEN_COUNT", count)
            if hasattr(module, "MAX_NESTING"):
                patch.setattr(module, "MAX_NESTING", nesting)
        # The whole-message shortcut relies on short messages being far from the limits.
        fast_max = min(count, size - 1)
        patch.setattr(hvballoond.wire.streamer, "_FAST_MAX", fast_max)
        patch.setattr(hvballoond.wire.streamer, "_SHALLOW", min(2 * nesting, fast_max))
        yield


@SETTINGS
@given(
    data=streams,
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=4),
    size=st.integers(min_value=4, max_value=60),
    count=st.integers(min_value=2, max_value=30),
    nesting=st.integers(min_value=1, max_value=4),
)
def test_limits_agree_with_reference(
    data: bytes, cuts: list[int], size: int, count: int, nesting: int
) -> None:
    with small_limits(size=size, count=count, nesting=nesting):
        check(data, cuts)


def test_small_limits_are_reached() -> None:
    """The patched limits really apply, so the property above explores them."""
    with small_limits(size=10, count=5, nesting=2):
        assert check(b'"abcdefghijkl"', []) == [
            WireError("JSON token size limit exceeded"),
            WireError("JSON parse error, invalid keyword 'kl'"),
        ]
        assert check(b"[1,2,3]", [3]) == [
            WireError("JSON token count limit exceeded"),
            WireError("JSON parse error, expecting value"),
        ]
        assert check(b"[[[]]]", []) == [
            WireError("JSON nesting depth limit exceeded"),
            WireError("JSON parse error, expecting value"),
            WireError("JSON parse error, expecting value"),
            WireError("JSON parse error, expecting value"),
        ]
