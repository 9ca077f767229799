"""QEMU's string-to-number conversions (util/cutils.c), for command-line and HMP input.

QMP values arrive as JSON; the command line, ``-device``/``-object`` option strings and HMP
arrive as text and go through these. Each function returns the value or raises
:class:`ConversionError` carrying the C error kind (``EINVAL``/``ERANGE``), because several
callers word their messages differently for the two.
"""

from __future__ import annotations

import math
from enum import Enum

from hvballoond.machine.units import U64_MAX

__all__ = [
    "ConversionError",
    "Failure",
    "parse_bool",
    "strtoi64",
    "strtosz",
    "strtou64",
]

_I64_MIN = -(1 << 63)
_I64_MAX = (1 << 63) - 1
_SPACE = " \t\n\v\f\r"


class Failure(Enum):
    """Why a conversion failed (the errno QEMU would return)."""

    EINVAL = "EINVAL"
    ERANGE = "ERANGE"


class ConversionError(ValueError):
    """A string is not a valid number of the requested kind."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.value)
        self.failure = failure


def _digits(text: str, pos: int, base: int) -> tuple[int, int, int]:
    """Parse digits of ``base`` from ``pos``; return (value, end, base actually used)."""
    if base == 0:
        if text[pos : pos + 2].lower() == "0x" and _digit_value(text, pos + 2) < 16:
            base, pos = 16, pos + 2
        elif text[pos : pos + 1] == "0":
            base = 8
        else:
            base = 10
    elif base == 16 and text[pos : pos + 2].lower() == "0x" and _digit_value(text, pos + 2) < 16:
        pos += 2
    value = 0
    start = pos
    while pos < len(text) and _digit_value(text, pos) < base:
        value = value * base + _digit_value(text, pos)
        pos += 1
    if pos == start:
        return 0, -1, base
    return value, pos, base


def _digit_value(text: str, pos: int) -> int:
    if pos >= len(text):
        return 99
    ch = text[pos]
    if "0" <= ch <= "9":
        return ord(ch) - ord("0")
    if "a" <= ch.lower() <= "z":
        return ord(ch.lower()) - ord("a") + 10
    return 99


def _strtox(text: str, base: int) -> tuple[int, int, bool]:
    """C ``strtoull``/``strtoll`` core: (magnitude with sign applied, end index, negative)."""
    pos = 0
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    negative = False
    if pos < len(text) and text[pos] in "+-":
        negative = text[pos] == "-"
        pos += 1
    value, end, _ = _digits(text, pos, base)
    if end < 0:
        raise ConversionError(Failure.EINVAL)
    return (-value if negative else value), end, negative


def strtoi64(text: str, *, base: int = 0) -> int:
    """``qemu_strtoi64(text, NULL, base)``: the whole string must be a signed 64-bit integer.

    Raises:
        ConversionError: EINVAL for junk, ERANGE for out-of-range values.
    """
    value, end, _ = _strtox(text, base)
    if end != len(text):
        raise ConversionError(Failure.EINVAL)
    if not _I64_MIN <= value <= _I64_MAX:
        raise ConversionError(Failure.ERANGE)
    return value


def strtou64(text: str, *, base: int = 0) -> int:
    """``qemu_strtou64(text, NULL, base)``: like C ``strtoull``, so ``-1`` wraps to 2^64-1.

    Raises:
        ConversionError: EINVAL for junk, ERANGE when the magnitude exceeds 64 bits.
    """
    value, end, _negative = _strtox(text, base)
    if end != len(text):
        raise ConversionError(Failure.EINVAL)
    if abs(value) > U64_MAX:
        raise ConversionError(Failure.ERANGE)
    return value & U64_MAX


_SUFFIX_POWER = {"B": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def _suffix_mul(ch: str, unit: int) -> int:
    power = _SUFFIX_POWER.get(ch.upper()) if ch else None
    return -1 if power is None else unit**power


def strtosz(text: str, *, default_suffix: str = "B", unit: int = 1024) -> int:
    """``qemu_strtosz`` (``default_suffix="M"`` gives ``qemu_strtosz_MiB``, used by ``-m``).

    Decimal with an optional fraction and suffix (``1.5M``), or ``0x`` hex without suffix.
    Negative numbers are refused.

    Raises:
        ConversionError: EINVAL for junk, ERANGE for negative or too large values.
    """
    pos = 0
    # parse_uint(): strtoull after optional whitespace; a '-' sign is ERANGE.
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    sign_neg = pos < len(text) and text[pos] == "-"
    int_pos = pos + 1 if pos < len(text) and text[pos] in "+-" else pos
    val, end, _ = _digits(text, int_pos, 10)
    got_int = end >= 0
    if got_int and sign_neg:
        raise ConversionError(Failure.ERANGE)
    if got_int and val > U64_MAX:
        raise ConversionError(Failure.ERANGE)
    if not got_int:
        end = 0
    fraction_fixed = 0
    next_ch = text[end : end + 1]
    if got_int and val == 0 and next_ch in ("x", "X"):
        hex_val, hex_end, _ = _digits(text, int_pos, 16)
        if hex_end < 0:
            raise ConversionError(Failure.EINVAL)
        if hex_val > U64_MAX:
            raise ConversionError(Failure.ERANGE)
        tail = text[hex_end : hex_end + 1]
        if tail == "." or _suffix_mul(tail, unit) > 0:
            raise ConversionError(Failure.EINVAL)
        val, end = hex_val, hex_end
    elif next_ch == "." or (not got_int and "." in text):
        if got_int and next_ch == "." and not text[end + 1 : end + 2].isdigit():
            end += 1
        else:
            copy = text[end:]
            for marker in ("e", "E"):
                cut = copy.find(marker)
                if cut >= 0:
                    copy = copy[:cut]
            fraction, consumed = _strtod_prefix(copy)
            if consumed == 0:
                raise ConversionError(Failure.EINVAL)
            end += consumed
            if math.copysign(1.0, fraction) < 0:
                raise ConversionError(Failure.ERANGE)
            if fraction == 1.0:
                val += 1
            else:
                fraction_fixed = int(fraction * 2.0**64)
                if fraction_fixed == 0 and fraction > 0.0:
                    fraction_fixed = 1
    elif not got_int:
        raise ConversionError(Failure.EINVAL)
    ch = text[end : end + 1]
    mul = _suffix_mul(ch, unit)
    if mul > 0:
        end += 1
    else:
        mul = _suffix_mul(default_suffix, unit)
    if mul == 1:
        if fraction_fixed:
            raise ConversionError(Failure.EINVAL)
        result = val
    else:
        total = val * mul + ((fraction_fixed * mul) >> 64)
        # Round 0.5 upward (bit 63 of the 64.64 fraction part).
        total += ((fraction_fixed * mul) >> 63) & 1
        if total > U64_MAX:
            raise ConversionError(Failure.ERANGE)
        result = total
    if end != len(text):
        raise ConversionError(Failure.EINVAL)
    return result


def _strtod_prefix(text: str) -> tuple[float, int]:
    """Longest prefix of ``text`` that parses as a float (no exponent: it was cut off)."""
    best: tuple[float, int] = (0.0, 0)
    for stop in range(1, len(text) + 1):
        chunk = text[:stop]
        if chunk.strip() != chunk.lstrip():
            break
        try:
            value = float(chunk)
        except ValueError:
            continue
        if chunk.strip().lower() in ("inf", "nan", "infinity", "+inf", "-inf"):
            continue
        best = (value, stop)
    return best


def parse_bool(text: str) -> bool:
    """``qapi_bool_parse``: on/yes/true/y and off/no/false/n.

    Raises:
        ConversionError: EINVAL for anything else.
    """
    if text in ("on", "yes", "true", "y"):
        return True
    if text in ("off", "no", "false", "n"):
        return False
    raise ConversionError(Failure.EINVAL)
