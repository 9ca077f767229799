"""Compare server messages with ``<-`` expectations, and explain differences.

Rules (docs/transcript-format.md):

- Messages are compared as JSON values *including* the order of object
  members (QEMU prints members in hash order, and byte-exact clients see it).
  Types are compared too: ``1`` is not ``1.0`` and ``true`` is not ``1``.
- An event's ``timestamp`` members may have any value.
- The greeting's ``version`` (the ``qemu`` triple and ``package``) is only
  compared with ``strict_version``; its ``capabilities`` always are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from hvballoond.wire.values import JSONValue

__all__ = [
    "Mismatch",
    "Received",
    "align",
    "describe_value",
    "differences",
    "explain",
    "is_reply",
    "matches",
    "values_equal",
]

_MAX_EXPLANATIONS = 12


@dataclass(frozen=True, slots=True)
class Received:
    """One message read from the server.

    Attributes:
        text: The line as received, without its line terminator.
        value: The parsed JSON value, or ``None`` when ``valid`` is false.
        valid: Whether ``text`` is one JSON value.
        crlf: Whether the line ended in ``\\r\\n`` (QEMU's framing).
    """

    text: str
    value: JSONValue
    valid: bool = True
    crlf: bool = True


def is_reply(value: JSONValue) -> bool:
    """Whether a message answers a request (``return`` or ``error``)."""
    return isinstance(value, dict) and ("return" in value or "error" in value)


def align(expected: JSONValue, got: JSONValue, *, strict_version: bool = False) -> JSONValue:
    """``got`` with what the comparison ignores copied over from ``expected``.

    Ignored: the values inside an event's ``timestamp``, and the greeting's
    ``version`` unless ``strict_version``. Member order and presence stay
    ``got``'s own, so they are still compared; inputs are not modified.
    """
    if not isinstance(expected, dict) or not isinstance(got, dict):
        return got
    exp_stamp, got_stamp = expected.get("timestamp"), got.get("timestamp")
    if (
        "event" in expected
        and "event" in got
        and isinstance(exp_stamp, dict)
        and isinstance(got_stamp, dict)
    ):
        out = dict(got)
        out["timestamp"] = {k: exp_stamp.get(k, v) for k, v in got_stamp.items()}
        return out
    exp_qmp, got_qmp = expected.get("QMP"), got.get("QMP")
    if (
        not strict_version
        and isinstance(exp_qmp, dict)
        and isinstance(got_qmp, dict)
        and "version" in exp_qmp
        and "version" in got_qmp
    ):
        out = dict(got)
        inner = dict(got_qmp)
        inner["version"] = exp_qmp["version"]
        out["QMP"] = inner
        return out
    return got


def _kind(value: JSONValue) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _same_scalar(a: JSONValue, b: JSONValue) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # nan
    return a == b


def values_equal(a: JSONValue, b: JSONValue) -> bool:
    """Strict JSON equality: types, values, array order and member order."""
    if _kind(a) != _kind(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        if list(a) != list(b):
            return False
        return all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    return _same_scalar(a, b)


def describe_value(value: JSONValue, limit: int = 80) -> str:
    """Short JSON text of a value, for explanations."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _explain(expected: JSONValue, got: JSONValue, path: str, out: list[str]) -> None:
    where = path or "message"
    kind_e, kind_g = _kind(expected), _kind(got)
    if kind_e != kind_g:
        out.append(
            f"{where} differs: expected {kind_e} {describe_value(expected)}, "
            f"got {kind_g} {describe_value(got)}"
        )
        return
    if isinstance(expected, dict):
        assert isinstance(got, dict)
        for key in expected:
            if key not in got:
                out.append(f"missing member {_join(path, key)} = {describe_value(expected[key])}")
        for key in got:
            if key not in expected:
                out.append(f"unexpected member {_join(path, key)} = {describe_value(got[key])}")
        for key in expected:
            if key in got:
                _explain(expected[key], got[key], _join(path, key), out)
        common_e = [k for k in expected if k in got]
        common_g = [k for k in got if k in expected]
        if common_e != common_g:
            out.append(
                f"member order differs in {where}: expected {', '.join(common_e)}; "
                f"got {', '.join(common_g)}"
            )
        return
    if isinstance(expected, list):
        assert isinstance(got, list)
        if len(expected) != len(got):
            out.append(f"{where} has {len(got)} elements, expected {len(expected)}")
        for i, (e, g) in enumerate(zip(expected, got, strict=False)):
            _explain(e, g, f"{path}[{i}]", out)
        return
    if not _same_scalar(expected, got):
        out.append(
            f"{where} differs: expected {describe_value(expected)}, got {describe_value(got)}"
        )


def explain(expected: JSONValue, got: JSONValue) -> list[str]:
    """Key-by-key reasons why two (aligned) values differ; empty if equal."""
    out: list[str] = []
    _explain(expected, got, "", out)
    if len(out) > _MAX_EXPLANATIONS:
        more = len(out) - _MAX_EXPLANATIONS
        out = [*out[:_MAX_EXPLANATIONS], f"... and {more} more differences"]
    return out


def differences(expected: JSONValue, got: Received, *, strict_version: bool = False) -> list[str]:
    """Why ``got`` does not match the expected value; empty when it matches.

    Besides the value, the framing is checked: QEMU ends every message with
    ``\\r\\n`` (qmp-protocol.md §1.2).
    """
    if not got.valid:
        return ["the server sent a line that is not JSON"]
    val = align(expected, got.value, strict_version=strict_version)
    if not values_equal(expected, val):
        return explain(expected, val) or ["message differs"]
    if not got.crlf:
        return ["line ending differs: expected \\r\\n, got \\n"]
    return []


def matches(expected: JSONValue, got: Received, *, strict_version: bool = False) -> bool:
    """Whether ``got`` satisfies the expectation."""
    return not differences(expected, got, strict_version=strict_version)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The first place where the server did not do what the transcript says.

    Attributes:
        lineno: The transcript line to look at.
        summary: One line, e.g. ``server message differs``.
        step_lineno: The line of the client action this output belongs to.
        step_text: That line's text (for context), if any.
        expected: The expected line's text, if any.
        got: What the server sent instead, if anything.
        details: Further explanation lines (key-by-key differences...).
    """

    lineno: int
    summary: str
    step_lineno: int = 0
    step_text: str | None = None
    expected: str | None = None
    got: str | None = None
    details: tuple[str, ...] = field(default=())

    def render(self, where: str) -> str:
        """The mismatch as text; ``where`` is ``path:line`` of :attr:`lineno`."""
        lines = [f"{where}: {self.summary}"]
        if self.step_text is not None:
            lines.append(f"  step (line {self.step_lineno}): {self.step_text}")
        if self.expected is not None:
            lines.append(f"  expected: {self.expected}")
        if self.got is not None:
            lines.append(f"  got:      {self.got}")
        lines.extend(f"  {d}" for d in self.details)
        return "\n".join(lines)
