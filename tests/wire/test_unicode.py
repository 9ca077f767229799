"""QEMU's modified UTF-8 rules (util/unicode.c) as seen by the parser and the writer."""

from __future__ import annotations

import pytest

from hvballoond.wire.unicode import decode_mod_utf8, is_valid_codepoint, writer_text

REPLACEMENT = "\ufffd"

WRITER: list[tuple[bytes, str]] = [
    (b"plain", "plain"),
    (b"ab\x00cd", "ab"),  # a C string ends at NUL
    (b"\xc3\xa9", "\u00e9"),
    (b"\xc0\x80", "\x00"),  # the one overlong form QEMU accepts
    (b"\x80", REPLACEMENT),  # continuation byte without a lead
    (b"\xfe\xff", REPLACEMENT * 2),
    (b"\xc3", REPLACEMENT),
    (b"\xe2\x82", REPLACEMENT),  # truncated: one replacement for the whole sequence
    (b"\xe2\x82A", REPLACEMENT + "A"),
    (b"\xe2(\xa1", REPLACEMENT + "(" + REPLACEMENT),
    (b"\xc1\xbf", REPLACEMENT),  # overlong
    (b"\xe0\x80\x80", REPLACEMENT),
    (b"\xed\xa0\x80", REPLACEMENT),  # surrogate
    (b"\xef\xbf\xbe", REPLACEMENT),  # noncharacter
    (b"\xf4\x90\x80\x80", REPLACEMENT),  # above U+10FFFF
    (b"\xf8\x88\x80\x80\x80", REPLACEMENT),  # five-byte form
    (b"\xfc\x84\x80\x80\x80\x80", REPLACEMENT),  # six-byte form
    (b"\xf0\x9f\x98\x80", "\U0001f600"),
]


@pytest.mark.parametrize(("raw", "text"), WRITER, ids=[repr(r) for r, _ in WRITER])
def test_writer_text(raw: bytes, text: str) -> None:
    assert writer_text(raw) == text


PARSER: list[tuple[bytes, str | None]] = [
    (b"abc", "abc"),
    (b"\xc3\xa9", "\u00e9"),
    (b"\xc0\x80", "\x00"),
    (b"a\xc0\x80b", "a\x00b"),
    (b"\xc0\x81", None),
    (b"\xc0\x80\x80", None),
    (b"\xe0\xc0\x80", None),
    (b"\xed\xa0\x80", None),
    (b"\xef\xbf\xbe", None),
    (b"\xef\xb7\x90", None),
    (b"\xf0\x9f\xbf\xbf", None),  # U+1FFFF
    (b"\xf4\x8f\xbf\xbd", "\U0010fffd"),
    (b"\xf4\x90\x80\x80", None),
    (b"\xc3", None),
]


@pytest.mark.parametrize(("raw", "text"), PARSER, ids=[repr(r) for r, _ in PARSER])
def test_decode_mod_utf8(raw: bytes, text: str | None) -> None:
    assert decode_mod_utf8(raw) == text


def test_valid_codepoints() -> None:
    assert is_valid_codepoint(0)
    assert is_valid_codepoint(0x10FFFD)
    for cp in (-1, 0xD800, 0xDFFF, 0xFDD0, 0xFDEF, 0xFFFE, 0x1FFFF, 0x10FFFF, 0x110000):
        assert not is_valid_codepoint(cp)
