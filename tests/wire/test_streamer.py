"""JsonStreamer against spec §4.3 and §5: every example, the error texts and the limits."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from hvballoond.wire.items import (
    MAX_NESTING,
    MAX_TOKEN_COUNT,
    MAX_TOKEN_SIZE,
    Item,
    Parsed,
    WireError,
)
from hvballoond.wire.parser import parse_tokens
from hvballoond.wire.reference import ReferenceStreamer
from hvballoond.wire.streamer import JsonStreamer
from hvballoond.wire.values import JSONValue
from tests.wire.support import Streamer, bytewise, drain

MAKERS: dict[str, Callable[[], Streamer]] = {
    "fast": JsonStreamer,
    "general": lambda: JsonStreamer(shortcuts=False),
    "reference": ReferenceStreamer,
}


def err(text: str) -> WireError:
    return WireError("JSON parse error, " + text)


def ok(value: JSONValue) -> Parsed:
    return Parsed(value)


EXPECTING = err("expecting value")

# (input, expected items), spec §5.4 table and friends; every row is [observed] on QEMU.
ERROR_TEXTS: list[tuple[bytes, list[Item]]] = [
    (b'{"execute": }', [EXPECTING]),
    (b"[1,]", [EXPECTING]),
    (b"}", [EXPECTING]),
    (b"]", [EXPECTING]),
    (b'{"execute":"query-status",}', [EXPECTING]),
    (b'{"execute" "query-status"}', [err("missing : in object pair")]),
    (b'{"execute":"query-status" "id": 1}', [err("expected separator in dict")]),
    (b"[1 2]", [err("expected separator in list")]),
    (b"{1: 2}", [err("key is not a string in object")]),
    (b'{"a": tru}', [err("invalid keyword 'tru'")]),
    (b'{"a": 1, "a": 2}', [err("duplicate key")]),
    (b'"\\x"', [err("invalid escape sequence in string")]),
    (b'"\\ud800"', [err("\\ud800 is not a valid Unicode character")]),
    (b'"\\udc00"', [err("\\udc00 is not a valid Unicode character")]),
    (b'"\\u12"', [err('\\u12" is not a valid Unicode character')]),
    (b'"\\u12zz"', [err("\\u12zz is not a valid Unicode character")]),
    (b'"\xc3"', [err("invalid UTF-8 sequence in string")]),
    (b'"\xe9"', [err("invalid UTF-8 sequence in string")]),
    (b'"\xed\xa0\x80"', [err("invalid UTF-8 sequence in string")]),
    (b"X", [err("stray 'X'")]),
    (b"TRUE", [err("stray 'T'")]),
    (b"01", [err("stray '01'")]),
    (b"1.{", [err("stray '1.{'")]),
    (b"-{", [err("stray '-{'")]),
    (b"1e+{", [err("stray '1e+{'")]),
    (b"+1", [err("stray '+'")]),
    (b".5", [err("stray '.'")]),
    (b'"a\tb"', [err("stray '\"a\t'")]),
    (b'"unterminated\n', [err("stray '\"unterminated\n'")]),
    (b"\x01", [err("stray '\x01'")]),
    (b"\xff", [err("stray '\ufffd'")]),
    (b"\xc3\xa9", [err("stray '\ufffd'")]),
    # [observed] while writing this module: the stray text is the C string (it
    # ends at a NUL byte), and the writer shows non-UTF-8 bytes as U+FFFD.
    (b'"ab\x00', [err("stray '\"ab'")]),
    (b'"\xc3\xa9\t', [err("stray '\"\u00e9\t'")]),
    (b'"a\xfe', [err("stray '\"a\ufffd'")]),
    (b'"\\u12\xc3\xa9"', [err("\\u12\u00e9 is not a valid Unicode character")]),
    (b'"\\u12\xe2\x82\xac"', [err("\\u12\ufffd is not a valid Unicode character")]),
    (b"0e5 ", [ok(0), err("invalid keyword 'e'"), ok(5)]),
    (b"-}", [err("stray '-}'")]),
]


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
@pytest.mark.parametrize(("data", "expected"), ERROR_TEXTS, ids=[repr(d) for d, _ in ERROR_TEXTS])
def test_error_texts(maker: Callable[[], Streamer], data: bytes, expected: list[Item]) -> None:
    assert drain(maker(), [data]) == expected
    assert drain(maker(), bytewise(data)) == expected


def test_invalid_keyword_message_is_cut_at_1023_bytes() -> None:
    # [observed]: json-parser.c formats into a 1024-byte buffer.
    data = b'{"a": ' + b"x" * 1100 + b"}"
    [item] = drain(JsonStreamer(), [data])
    assert item == WireError("JSON parse error, invalid keyword '" + "x" * 1006)
    assert drain(ReferenceStreamer(), [data]) == [item]


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
def test_messages_need_no_separator(maker: Callable[[], Streamer]) -> None:
    data = (
        b'{"execute":"query-status","id":1}{"execute":"query-status","id":2}'
        b' {"execute":"query-status","id":3}\n'
        b'{"execute":\n"query-status",\r\n\t"id"\n:\n4\n}'
    )
    expected = [ok({"execute": "query-status", "id": i}) for i in (1, 2, 3, 4)]
    assert drain(maker(), [data]) == expected
    assert drain(maker(), bytewise(data)) == expected


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
def test_top_level_scalar_completes_with_the_next_byte(maker: Callable[[], Streamer]) -> None:
    streamer = maker()
    assert drain(streamer, [b"42"]) == []
    assert drain(streamer, [b"null"]) == [ok(42)]
    assert drain(streamer, [b"{}"]) == [ok(None), ok({})]


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
def test_one_byte_can_finish_two_items_in_order(maker: Callable[[], Streamer]) -> None:
    streamer = maker()
    streamer.feed(b"42}")
    assert streamer.next_item() == ok(42)
    assert streamer.next_item() == EXPECTING
    assert streamer.next_item() is None


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
def test_cascade_after_error_in_a_message(maker: Callable[[], Streamer]) -> None:
    data = b'{"execute": @ "query-status", "id": 2}'
    expected = [err("stray '@'"), EXPECTING, ok("id"), EXPECTING, ok(2), EXPECTING]
    assert drain(maker(), [data]) == expected
    assert drain(maker(), bytewise(data)) == expected


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
def test_mismatch_swallows_messages_until_resync(maker: Callable[[], Streamer]) -> None:
    streamer = maker()
    assert drain(streamer, [b'{"execute":"query-status","id":[1,2}']) == []
    assert drain(streamer, [b'{"execute":"query-status","id":10}']) == []
    assert drain(streamer, [b"\x01"]) == [err("stray '\x01'")]
    assert drain(streamer, [b'{"execute":"query-status","id":11}']) == [
        ok({"execute": "query-status", "id": 11})
    ]


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
def test_swallowed_input_ends_at_balance_or_negative_count(maker: Callable[[], Streamer]) -> None:
    # Counts balance at the last ']' (brace 0, bracket 0): parsed as one message.
    assert drain(maker(), [b'{"a":[1}, {"b": 2}]']) == [err("expected separator in list")]
    # A stray closer makes a count negative: parsed at once.
    assert drain(maker(), [b'{"a":1]']) == [err("expected separator in dict")]


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
def test_recovery_skips_to_structural_or_control_bytes(maker: Callable[[], Streamer]) -> None:
    # TAB does not end recovery, LF does; the quote is skipped while recovering.
    assert drain(maker(), [b'@ \t"x" 1 ']) == [err("stray '@'")]
    assert drain(maker(), [b'@\n"x"']) == [err("stray '@'"), ok("x")]
    # Another control byte (or 0xFE/0xFF) is a new error of its own.
    assert drain(maker(), [b"@abc\x02\xfe"]) == [
        err("stray '@'"),
        err("stray '\x02'"),
        err("stray '\ufffd'"),
    ]
    # A structural byte ends recovery and is itself lexed.
    assert drain(maker(), [b"@ x]"]) == [err("stray '@'"), EXPECTING]


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
def test_reset_drops_partial_input(maker: Callable[[], Streamer]) -> None:
    streamer = maker()
    assert drain(streamer, [b'{"execute":"query-status"', b"@"]) == [err("stray '@'")]
    streamer.feed(b'{"a": [1, 2')
    assert streamer.next_item() is None
    streamer.reset()
    assert drain(streamer, [b'{"b": 1}']) == [ok({"b": 1})]


# ------------------------------------------------------------------ values

NUMBERS: list[tuple[bytes, JSONValue]] = [
    (b"0", 0),
    (b"-0", 0),
    (b"1.0", 1.0),
    (b"1e2", 100.0),
    (b"1E+2", 100.0),
    (b"-1.5e-3", -0.0015),
    (b"0.1", 0.1),
    (b"9223372036854775807", 9223372036854775807),
    (b"-9223372036854775808", -9223372036854775808),
    (b"9223372036854775808", 9223372036854775808),  # uint64
    (b"18446744073709551615", 18446744073709551615),
    (b"18446744073709551616", 18446744073709551616.0),  # double
    (b"-9223372036854775809", -9223372036854775809.0),
    (b"1" * 5000, math.inf),
    (b"1e400", math.inf),
    (b"-1e400", -math.inf),
]


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
@pytest.mark.parametrize(("text", "value"), NUMBERS, ids=[n[:24].decode() for n, _ in NUMBERS])
def test_number_conversion(maker: Callable[[], Streamer], text: bytes, value: JSONValue) -> None:
    [item] = drain(maker(), [b'{"n": ' + text + b"}"])
    assert isinstance(item, Parsed)
    assert isinstance(item.value, dict)
    got = item.value["n"]
    assert type(got) is type(value)
    assert got == value
    if isinstance(got, float) and isinstance(value, float) and value == 0:
        assert math.copysign(1, got) == math.copysign(1, value)


STRINGS: list[tuple[bytes, JSONValue]] = [
    (b'"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"', 'a"b\\c/d\b\f\n\r\t'),
    (b"'it\\'s \"q\"'", 'it\'s "q"'),
    (b'"it\\\'s"', "it's"),
    (b'"\'"', "'"),
    (b'"\\u00e9\\u00E9"', "\u00e9\u00e9"),
    (b'"\xc3\xa9"', "\u00e9"),
    (b'"\\ud83d\\ude00"', "\U0001f600"),
    (b'"\\uD83D\\uDE00"', "\U0001f600"),
    (b'"\xf0\x9f\x98\x80"', "\U0001f600"),
    (b'"\\u0000"', "\x00"),
    (b'"\xc0\x80"', "\x00"),
    (b'"\x7f"', "\x7f"),
]


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
@pytest.mark.parametrize(("text", "value"), STRINGS, ids=[repr(t) for t, _ in STRINGS])
def test_string_decoding(maker: Callable[[], Streamer], text: bytes, value: JSONValue) -> None:
    assert drain(maker(), [b"[" + text + b"]"]) == [ok([value])]


BAD_STRINGS: list[tuple[bytes, str]] = [
    (b'"\\udc00\\ud800"', "\\udc00 is not a valid Unicode character"),
    (b'"\\ud800\\u0041"', "\\ud800 is not a valid Unicode character"),
    (b'"\\ud800x"', "\\ud800 is not a valid Unicode character"),
    (b'"\\ufdd0"', "\\ufdd0 is not a valid Unicode character"),
    (b'"\\uFFFE"', "\\uFFFE is not a valid Unicode character"),
    (b'"\\ud83f\\udffe"', "\\ud83f\\udffe is not a valid Unicode character"),
    (b'"\\u"', '\\u" is not a valid Unicode character'),
    (b'"\xef\xbf\xbe"', "invalid UTF-8 sequence in string"),  # U+FFFE
    (b'"\xef\xb7\x90"', "invalid UTF-8 sequence in string"),  # U+FDD0
    (b'"\xe0\x80\x80"', "invalid UTF-8 sequence in string"),  # overlong
    (b'"\xc1\xbf"', "invalid UTF-8 sequence in string"),  # overlong
    (b'"\xf4\x90\x80\x80"', "invalid UTF-8 sequence in string"),  # > U+10FFFF
    (b'"\xc3(x"', "invalid UTF-8 sequence in string"),
    (b'"\xc3\\n"', "invalid UTF-8 sequence in string"),
    (b'"\\q\xc3"', "invalid escape sequence in string"),
    (b'"\xc3\\q"', "invalid UTF-8 sequence in string"),
    (b'"\\\xc3\xa9"', "invalid escape sequence in string"),
]


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
@pytest.mark.parametrize(("text", "message"), BAD_STRINGS, ids=[repr(t) for t, _ in BAD_STRINGS])
def test_string_errors(maker: Callable[[], Streamer], text: bytes, message: str) -> None:
    assert drain(maker(), [b"[" + text + b"]"]) == [err(message)]


def test_members_keep_input_order() -> None:
    [item] = drain(JsonStreamer(), [b'{"c": 3, "b": 1, "a": {"z": 1, "y": 2}}'])
    assert isinstance(item, Parsed)
    assert isinstance(item.value, dict)
    assert list(item.value) == ["c", "b", "a"]
    assert list(item.value["a"]) == ["z", "y"]  # type: ignore[arg-type]


# ------------------------------------------------------------------ limits


def test_nesting_limit_1024_is_allowed() -> None:
    data = b"[" * MAX_NESTING + b"]" * MAX_NESTING
    [item] = drain(JsonStreamer(), [data])
    assert isinstance(item, Parsed)
    depth = 0
    value = item.value
    while isinstance(value, list) and value:
        value = value[0]
        depth += 1
    assert depth == MAX_NESTING - 1


@pytest.mark.parametrize("maker", MAKERS.values(), ids=MAKERS.keys())
def test_nesting_limit_exceeded_then_cascade(maker: Callable[[], Streamer]) -> None:
    data = b"[" * (MAX_NESTING + 1) + b"]" * (MAX_NESTING + 1)
    items = drain(maker(), [data])
    assert items == [WireError("JSON nesting depth limit exceeded")] + [EXPECTING] * 1025


def test_nesting_counts_braces_and_brackets_together() -> None:
    data = b'{"a":' * 512 + b"[" * 513
    assert drain(JsonStreamer(), [data]) == [WireError("JSON nesting depth limit exceeded")]


def test_token_count_limit() -> None:
    data = b"[" + b"1," * (MAX_TOKEN_COUNT // 2) + b"1]"
    expected = [WireError("JSON token count limit exceeded"), ok(1), EXPECTING]
    assert drain(JsonStreamer(), [data]) == expected
    # The same with the limit hit inside a later chunk.
    half = len(data) // 2 + 1
    assert drain(JsonStreamer(), [data[:half], data[half:]]) == expected


def test_token_count_just_below_limit() -> None:
    # 1 + 2 * (2^20 - 2) + 3 tokens = exactly 2^21.
    data = b"[" + b"1," * (MAX_TOKEN_COUNT // 2 - 2) + b"[]]"
    [item] = drain(JsonStreamer(), [data])
    assert isinstance(item, Parsed)
    assert isinstance(item.value, list)
    assert len(item.value) == MAX_TOKEN_COUNT // 2 - 1


def _big_request(filler: int) -> bytes:
    return b'{"execute":"query-status","id":"' + b"x" * filler + b'"}'


def test_total_size_just_below_limit() -> None:
    [item] = drain(JsonStreamer(), [_big_request(MAX_TOKEN_SIZE - 40)])
    assert isinstance(item, Parsed)
    assert isinstance(item.value, dict)
    assert len(item.value["id"]) == MAX_TOKEN_SIZE - 40  # type: ignore[arg-type]


def test_total_size_limit_in_chunks() -> None:
    data = _big_request(MAX_TOKEN_SIZE - 20)
    chunks = [data[i : i + (1 << 16)] for i in range(0, len(data), 1 << 16)]
    assert drain(JsonStreamer(), chunks) == [
        WireError("JSON token size limit exceeded"),
        EXPECTING,
    ]


def test_total_size_limit_boundary() -> None:
    # The tokens before the id string sum to 31 bytes, the closing brace is one more;
    # a token fails when (bytes kept so far) + (its length) + 1 > 64 MiB.
    largest = MAX_TOKEN_SIZE - 31 - 2 - 1 - 1
    [item] = drain(JsonStreamer(), [_big_request(largest)])
    assert isinstance(item, Parsed)
    # One byte more and the closing brace is the token that fails (it is consumed).
    assert drain(JsonStreamer(), [_big_request(largest + 1)]) == [
        WireError("JSON token size limit exceeded")
    ]
    # Two more and the string fails; the brace is then a message of its own.
    assert drain(JsonStreamer(), [_big_request(largest + 2)]) == [
        WireError("JSON token size limit exceeded"),
        EXPECTING,
    ]


def test_single_token_is_cut_at_the_limit() -> None:
    # The lexer hands on the first 64 MiB + 1 bytes of the string, which fail the size
    # check; lexing restarts inside the string, where "bc" is a keyword.
    data = b'"' + b"a" * MAX_TOKEN_SIZE + b'bc"\n\x01'
    expected = [
        WireError("JSON token size limit exceeded"),
        err("invalid keyword 'bc'"),
        err("stray '\"\n'"),
        err("stray '\x01'"),
    ]
    assert drain(JsonStreamer(), [data]) == expected
    chunks = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
    assert drain(JsonStreamer(), chunks) == expected


def test_string_of_exactly_the_cut_length_is_a_token() -> None:
    # 64 MiB + 1 bytes including the closing quote: the string is complete before the
    # cut check runs, so the quote does not start a new string.
    data = b'"' + b"a" * (MAX_TOKEN_SIZE - 1) + b'"x"'
    assert drain(JsonStreamer(), [data]) == [
        WireError("JSON token size limit exceeded"),
        err("invalid keyword 'x'"),
    ]


def test_plain_requests_take_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pipelined plain requests never reach the token parser (the performance path)."""
    import hvballoond.wire.streamer as streamer_module

    calls: list[int] = []

    def counting_parse(tokens: list[bytes]) -> Item:
        calls.append(len(tokens))
        return parse_tokens(tokens)

    monkeypatch.setattr(streamer_module, "parse_tokens", counting_parse)
    data = b"".join(b'{"execute":"query-status","id":%d}\n' % i for i in range(5000))
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    items = drain(JsonStreamer(), chunks)
    assert items == [ok({"execute": "query-status", "id": i}) for i in range(5000)]
    # Only the few messages split across reads go through the general path.
    assert len(calls) <= len(chunks)
    calls.clear()
    drain(JsonStreamer(), [b'{"execute": "x", "arguments": {"a": [1, {"b": null}]}, "id": "k:v"}'])
    assert calls == []


def test_zero_with_exponent_is_lexed_as_qemu_does_on_the_fast_path() -> None:
    # spec §5.1: "0e5" is the integer 0 followed by the keyword "e5", even inside an
    # otherwise plain message that the C-scanner shortcut would accept.
    from hvballoond.wire.streamer import JsonStreamer, WireError

    streamer = JsonStreamer()
    streamer.feed(b'{"execute":"query-status","id":0e5}\n')
    first = streamer.next_item()
    assert isinstance(first, WireError)
    assert first.desc == "JSON parse error, expected separator in dict"
