"""QEMU's view of Unicode: modified UTF-8 in, lossy text out.

QEMU keeps strings as modified UTF-8 (U+0000 is stored as ``C0 80``) and rejects
noncharacters and surrogates wherever it decodes or encodes [source: util/unicode.c].
Python strings hold code points, so this module converts at the two places where the
difference is visible:

* :func:`decode_mod_utf8` checks the raw bytes of a JSON string token the way the
  parser does (§5.6) and returns the text, or ``None`` when QEMU would reject it;
* :func:`writer_text` turns raw bytes that QEMU would print inside an error message
  (a stray token, a bad ``\\u`` escape) into the text its JSON writer would show:
  invalid sequences become U+FFFD, ``C0 80`` becomes U+0000, and a NUL byte ends the
  text (QEMU formats these messages with ``%s``).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "NONCHARACTER",
    "decode_mod_utf8",
    "is_valid_codepoint",
    "writer_text",
]

# U+FDD0..U+FDEF and the last two code points of every plane.
NONCHARACTER: Final = re.compile(
    "[\ufdd0-\ufdef"
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
    + "]"
)

_REPLACEMENT: Final = "\ufffd"
# Smallest code point that needs a sequence of 2..6 bytes (anything below is overlong).
_MIN_CODEPOINT: Final = (0x80, 0x800, 0x10000, 0x200000, 0x4000000)


def is_valid_codepoint(cp: int) -> bool:
    """Whether QEMU accepts ``cp`` as a character (util/unicode.c ``is_valid_codepoint``).

    Args:
        cp: A code point; negative values mean "no code point" and are invalid.

    Returns:
        False for values outside U+0000..U+10FFFF, surrogates and the 66 noncharacters.
    """
    if cp < 0 or cp > 0x10FFFF:
        return False
    if 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE:
        return False
    return not 0xD800 <= cp <= 0xDFFF


def decode_mod_utf8(raw: bytes) -> str | None:
    """Decode the body of a JSON string token as QEMU's parser does (§5.6).

    Args:
        raw: Bytes between the quotes, with no backslash escapes in them.

    Returns:
        The text, or ``None`` if QEMU reports ``invalid UTF-8 sequence in string``.
    """
    if raw.isascii():
        return raw.decode("ascii")
    # C0 80 is the one overlong form QEMU accepts. C0 is never a continuation byte,
    # so each C0 80 pair stands on its own and can be swapped for a real NUL before
    # Python's strict decoder (which rejects every overlong form) runs.
    if b"\xc0\x80" in raw:
        raw = raw.replace(b"\xc0\x80", b"\x00")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # Python accepts noncharacters; QEMU does not.
    if NONCHARACTER.search(text):
        return None
    return text


def writer_text(raw: bytes) -> str:
    """Return what QEMU's JSON writer shows for the C string ``raw``.

    Mirrors util/unicode.c ``mod_utf8_codepoint`` as used by qobject/json-writer.c
    ``quoted_str``: each invalid or incomplete sequence becomes one U+FFFD (a lead
    byte swallows the continuation bytes that follow it), ``C0 80`` is U+0000, and the
    text ends at the first NUL byte.

    Args:
        raw: Bytes that QEMU would have formatted into a message with ``%s``.

    Returns:
        The text; the encoder prints it exactly as QEMU would.
    """
    nul = raw.find(b"\x00")
    if nul >= 0:
        raw = raw[:nul]
    if raw.isascii():
        return raw.decode("ascii")
    out: list[str] = []
    i = 0
    n = len(raw)
    while i < n:
        byte = raw[i]
        i += 1
        if byte < 0x80:
            out.append(chr(byte))
            continue
        if byte >= 0xFE or not byte & 0x40:
            # Impossible byte or a continuation byte without a lead.
            out.append(_REPLACEMENT)
            continue
        length = 2
        while byte & (0x80 >> length):
            length += 1
        cp = byte & ((0x80 >> length) - 1)
        complete = True
        for _ in range(length - 1):
            # Past the end QEMU reads the terminating NUL, which is no continuation byte.
            if i >= n or raw[i] & 0xC0 != 0x80:
                complete = False
                break
            cp = cp << 6 | raw[i] & 0x3F
            i += 1
        overlong = cp < _MIN_CODEPOINT[length - 2] and not (cp == 0 and length == 2)
        if not complete or not is_valid_codepoint(cp) or overlong:
            out.append(_REPLACEMENT)
        else:
            out.append(chr(cp))
    return "".join(out)
