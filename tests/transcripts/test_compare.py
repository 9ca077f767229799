"""Comparison rules and explanations (hvballoond.transcripts.compare)."""

from __future__ import annotations

from hvballoond.transcripts.compare import (
    Mismatch,
    Received,
    align,
    differences,
    explain,
    is_reply,
    matches,
    values_equal,
)
from hvballoond.transcripts.format import loads_json
from hvballoond.wire.values import JSONValue


def got(text: str, *, crlf: bool = True) -> Received:
    return Received(text, loads_json(text), crlf=crlf)


def j(text: str) -> JSONValue:
    return loads_json(text)


GREETING = (
    '{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, '
    '"package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"}, "capabilities": ["oob"]}}'
)


def test_equal_messages_match() -> None:
    text = '{"return": {"status": "prelaunch", "running": false}, "id": 1}'
    assert differences(j(text), got(text)) == []
    assert matches(j(text), got(text))


def test_member_order_is_compared() -> None:
    exp = j('{"return": {"running": false, "status": "prelaunch"}}')
    diffs = differences(exp, got('{"return": {"status": "prelaunch", "running": false}}'))
    assert diffs == [
        "member order differs in return: expected running, status; got status, running"
    ]


def test_top_level_order_is_compared() -> None:
    diffs = differences(j('{"id": 1, "return": {}}'), got('{"return": {}, "id": 1}'))
    assert diffs == ["member order differs in message: expected id, return; got return, id"]


def test_desc_differs_is_named_by_path() -> None:
    exp = j('{"error": {"class": "GenericError", "desc": "object \'r0\' not found"}}')
    diffs = differences(exp, got('{"error": {"class": "GenericError", "desc": "nope"}}'))
    assert diffs == ['error.desc differs: expected "object \'r0\' not found", got "nope"']


def test_missing_and_unexpected_members() -> None:
    diffs = explain(j('{"a": 1, "b": 2}'), j('{"a": 1, "c": 3}'))
    assert diffs == ["missing member b = 2", "unexpected member c = 3"]


def test_arrays() -> None:
    diffs = explain(j('{"return": [{"id": "a"}, {"id": "b"}]}'), j('{"return": [{"id": "x"}]}'))
    assert diffs == [
        "return has 1 elements, expected 2",
        'return[0].id differs: expected "a", got "x"',
    ]
    assert not values_equal(j("[1, 2]"), j("[2, 1]"))


def test_types_are_compared_strictly() -> None:
    assert explain(j("1"), j("1.0")) == ["message differs: expected integer 1, got number 1.0"]
    assert explain(j("true"), j("1")) == ["message differs: expected boolean true, got integer 1"]
    assert explain(j("null"), j("{}")) == ["message differs: expected null null, got object {}"]
    assert values_equal(j("[inf, -inf]"), j("[inf, -inf]"))
    assert values_equal(j("nan"), j("nan"))


STAMP = '"timestamp": {"seconds": 1, "microseconds": 2}'


def test_event_timestamps_are_ignored_but_their_place_is_not() -> None:
    exp = j(f'{{{STAMP}, "event": "STOP"}}')
    other = '"timestamp": {"seconds": 1795690169, "microseconds": 75064}'
    assert matches(exp, got(f'{{{other}, "event": "STOP"}}'))
    diffs = differences(exp, got(f'{{"event": "STOP", {STAMP}}}'))
    assert diffs == [
        "member order differs in message: expected timestamp, event; got event, timestamp"
    ]
    diffs = differences(exp, got(f'{{{STAMP}, "event": "RESUME"}}'))
    assert diffs == ['event differs: expected "STOP", got "RESUME"']


def test_timestamps_of_non_events_are_compared() -> None:
    exp = j('{"return": {"timestamp": {"seconds": 1, "microseconds": 2}}}')
    assert not matches(exp, got('{"return": {"timestamp": {"seconds": 9, "microseconds": 2}}}'))


def test_greeting_version_is_ignored_unless_strict() -> None:
    other = (
        '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 1, "major": 9}, '
        '"package": "hvballoond 0.1"}, "capabilities": ["oob"]}}'
    )
    assert matches(j(GREETING), got(other))
    diffs = differences(j(GREETING), got(other), strict_version=True)
    assert "QMP.version.qemu.micro differs: expected 2, got 0" in diffs
    assert any(d.startswith("QMP.version.package differs") for d in diffs)
    no_oob = GREETING.replace('["oob"]', "[]")
    assert differences(j(GREETING), got(no_oob)) == ["QMP.capabilities has 0 elements, expected 1"]


def test_framing_is_checked() -> None:
    text = '{"return": {}}'
    assert differences(j(text), got(text, crlf=False)) == [
        "line ending differs: expected \\r\\n, got \\n"
    ]
    bad = Received("{oops", None, valid=False)
    assert differences(j(text), bad) == ["the server sent a line that is not JSON"]


def test_align_copies_ignored_values_and_keeps_inputs() -> None:
    exp = j('{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "X"}')
    value = j('{"timestamp": {"microseconds": 7, "seconds": 9}, "event": "X"}')
    aligned = align(exp, value)
    assert aligned == {"timestamp": {"microseconds": 2, "seconds": 1}, "event": "X"}
    assert isinstance(aligned, dict)
    stamp = aligned["timestamp"]
    assert isinstance(stamp, dict) and list(stamp) == ["microseconds", "seconds"]
    assert value == {"timestamp": {"microseconds": 7, "seconds": 9}, "event": "X"}
    # An event where a reply was expected keeps its real timestamp in the explanation.
    diffs = differences(j('{"return": {}}'), got(f'{{{STAMP}, "event": "X"}}'))
    assert 'unexpected member timestamp = {"seconds": 1, "microseconds": 2}' in diffs


def test_is_reply() -> None:
    assert is_reply(j('{"return": {}}')) and is_reply(j('{"id": 1, "error": {}}'))
    assert not is_reply(j('{"event": "STOP"}')) and not is_reply(j("[1]"))


def test_explanations_are_capped() -> None:
    exp: dict[str, JSONValue] = {f"k{i}": i for i in range(30)}
    other: dict[str, JSONValue] = {f"k{i}": -i - 1 for i in range(30)}
    out = explain(exp, other)
    assert len(out) == 13 and out[-1] == "... and 18 more differences"


def test_mismatch_render() -> None:
    mismatch = Mismatch(
        lineno=12,
        summary="server message differs",
        step_lineno=11,
        step_text='-> {"execute": "x"}',
        expected='{"return": 1}',
        got='{"return": 2}',
        details=("return differs: expected 1, got 2",),
    )
    assert mismatch.render("t.qmp:12") == (
        "t.qmp:12: server message differs\n"
        '  step (line 11): -> {"execute": "x"}\n'
        '  expected: {"return": 1}\n'
        '  got:      {"return": 2}\n'
        "  return differs: expected 1, got 2"
    )
