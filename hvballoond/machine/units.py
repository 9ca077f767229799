"""Sizes, alignment helpers and QEMU's number formatting.

Everything in the machine model is an ``int`` of bytes (or guest-physical addresses). The
helpers here are the handful of arithmetic idioms QEMU uses everywhere (``QEMU_ALIGN_UP``,
``ROUND_UP``, ``0x%" PRIx64``) so each module spells them the same way.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "PAGE_SIZE",
    "U64_MAX",
    "EiB",
    "GiB",
    "KiB",
    "MiB",
    "PiB",
    "TiB",
    "align_down",
    "align_up",
    "hx",
    "is_aligned",
    "is_power_of_2",
    "u64",
]

KiB: Final = 1 << 10
MiB: Final = 1 << 20
GiB: Final = 1 << 30
TiB: Final = 1 << 40
PiB: Final = 1 << 50
EiB: Final = 1 << 60

#: The host (and x86 guest) base page size.
PAGE_SIZE: Final = 4096

U64_MAX: Final = (1 << 64) - 1


def align_up(value: int, alignment: int) -> int:
    """Round ``value`` up to a multiple of ``alignment`` (``QEMU_ALIGN_UP``)."""
    return -(-value // alignment) * alignment


def align_down(value: int, alignment: int) -> int:
    """Round ``value`` down to a multiple of ``alignment`` (``QEMU_ALIGN_DOWN``)."""
    return (value // alignment) * alignment


def is_aligned(value: int, alignment: int) -> bool:
    """True if ``value`` is a multiple of ``alignment``."""
    return value % alignment == 0


def is_power_of_2(value: int) -> bool:
    """True for 1, 2, 4, ...; False for 0 and negatives."""
    return value > 0 and value & (value - 1) == 0


def u64(value: int) -> int:
    """``value`` as C's ``uint64_t`` would hold it (negative numbers wrap)."""
    return value & U64_MAX


def hx(value: int) -> str:
    """QEMU's ``0x%" PRIx64`` rendering: ``0x`` + lowercase hex, no padding (spec §0.1)."""
    return f"0x{u64(value):x}"
