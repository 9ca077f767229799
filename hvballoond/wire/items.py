"""What the JSON streamer hands to the QMP layer: one value or one error per message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hvballoond.wire.values import JSONValue

__all__ = [
    "MAX_NESTING",
    "MAX_TOKEN_COUNT",
    "MAX_TOKEN_SIZE",
    "NESTING_LIMIT_EXCEEDED",
    "TOKEN_COUNT_LIMIT_EXCEEDED",
    "TOKEN_SIZE_LIMIT_EXCEEDED",
    "Item",
    "Parsed",
    "WireError",
]

# Limits per message [source: qobject/json-streamer.c, json-lexer.c] (spec §5.5).
MAX_TOKEN_SIZE: Final = 64 << 20
MAX_TOKEN_COUNT: Final = 2 << 20
MAX_NESTING: Final = 1 << 10

TOKEN_SIZE_LIMIT_EXCEEDED: Final = "JSON token size limit exceeded"
TOKEN_COUNT_LIMIT_EXCEEDED: Final = "JSON token count limit exceeded"
NESTING_LIMIT_EXCEEDED: Final = "JSON nesting depth limit exceeded"


@dataclass(frozen=True, slots=True)
class Parsed:
    """One complete top-level JSON value."""

    value: JSONValue


@dataclass(frozen=True, slots=True)
class WireError:
    """One lexical, parse or limit error; ``desc`` is QEMU's text (spec §5.4, §5.5)."""

    desc: str


Item = Parsed | WireError
