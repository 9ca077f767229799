"""QEMU's ``key=value,...`` syntax (util/keyval.c keyval_parse), as used by HMP
``object_add`` and the ``-object`` option.

:func:`parse_keyval` only splits the text; :func:`hvballoond.qapi.validation.validate_keyval`
builds the nested value (``host-nodes.0=...``) and checks it against a schema type.

Syntax: ``key=value`` pairs separated by ``,``; a ``,,`` inside a value stands for one
comma; keys are dotted fragments, each a QAPI name (a letter, then letters, digits, ``-``
and ``_``, optionally after a ``__RFQDN_`` prefix) or, after the first, a list index;
with an implied key the first pair may be a bare value (``memory-backend-ram,id=m``);
``help`` or ``?`` alone asks for help.
"""

from __future__ import annotations

import re

from hvballoond.qapi.validation import ArgumentError

__all__ = ["parse_keyval"]

_NAME = re.compile(r"(?:__[A-Za-z0-9.-]*_)?[A-Za-z][A-Za-z0-9_-]*")
_INDEX = re.compile(r"[0-9]+")
_MAX_FRAGMENT = 127


def parse_keyval(text: str, *, implied_key: str | None = None) -> tuple[dict[str, str], bool]:
    """Split ``key=value,...`` text into its pairs.

    Args:
        text: the option text.
        implied_key: the key a leading bare value belongs to (``qom-type`` for
            ``object_add``).

    Returns:
        The values by dotted key (a repeated key keeps its first position and its last
        value), and whether ``help``/``?`` appeared.

    Raises:
        ArgumentError: QEMU's message for a malformed key.
    """
    values: dict[str, str] = {}
    help_requested = False
    pos = 0
    first = True
    while pos < len(text):
        key_end = _span(text, pos)
        key = text[pos:key_end]
        after = text[key_end : key_end + 1]
        if key and after != "=" and (key in ("help", "?") or (first and implied_key)):
            # "help" alone asks for help; else a bare first value has the implied key.
            if key in ("help", "?"):
                help_requested = True
            else:
                assert implied_key is not None
                values[implied_key] = key
            pos = key_end + (1 if after == "," else 0)
            first = False
            continue
        first = False
        _check_key(key)
        if text[key_end : key_end + 1] != "=":
            raise ArgumentError(f"Expected '=' after parameter '{key}'")
        value, pos = _value(text, key_end + 1)
        values[key] = value
    return values, help_requested


def _span(text: str, pos: int) -> int:
    """Where the key starting at ``pos`` ends: at the first ``=`` or ``,`` (strcspn)."""
    end = pos
    while end < len(text) and text[end] not in "=,":
        end += 1
    return end


def _check_key(key: str) -> None:
    """Each fragment is a QAPI name (or, after the first, an index) of < 128 chars."""
    start = 0
    while True:
        fragment_re = _INDEX if start and _INDEX.match(key, start) else _NAME
        match = fragment_re.match(key, start)
        end = match.end() if match else start
        if end == start or (end < len(key) and key[end] != "."):
            raise ArgumentError(f"Invalid parameter '{key}'")
        if end - start > _MAX_FRAGMENT:
            whole = start == 0 and end == len(key)
            fragment = "" if whole else " fragment"
            raise ArgumentError(f"Parameter{fragment} '{key[start:end]}' is too long")
        if end == len(key):
            return
        start = end + 1


def _value(text: str, pos: int) -> tuple[str, int]:
    """The value starting at ``pos`` (``,,`` is a comma) and where the next pair starts."""
    out: list[str] = []
    while pos < len(text):
        if text[pos] == ",":
            if text[pos + 1 : pos + 2] != ",":
                return "".join(out), pos + 1
            pos += 1
        out.append(text[pos])
        pos += 1
    return "".join(out), pos
