"""Replay the balloon conversations recorded from real QEMU 10.0.2 without a guest OS
(tests/machine/recorded/balloon-*.txt) and check the monitor's expression evaluator against
the values real QEMU printed for the same expressions."""

from __future__ import annotations

import json

import pytest

from hvballoond.dispatch.hmp.balloon import evaluate_expression
from hvballoond.dispatch.hmp.registry import HmpUsageError
from tests.machine.devices.rig import load, replay, vm


@pytest.mark.parametrize(
    "name",
    [
        "balloon-no-device.txt",
        "balloon-virtio.txt",
        "balloon-virtio-cold.txt",
        "balloon-virtio-pc.txt",
    ],
)
def test_recorded_conversation(name: str) -> None:
    recording = load(name)
    mismatches = replay(recording, vm(recording.args))
    assert not mismatches, json.dumps(mismatches[0], indent=1)[:4000]


def test_expressions_evaluate_like_qemu_print() -> None:
    recording = load("balloon-expr.txt")
    checked = 0
    for exchange in recording.exchanges:
        line = exchange.request["arguments"]
        assert isinstance(line, dict)
        command = line["command-line"]
        assert isinstance(command, str) and command.startswith("p ")
        printed = exchange.reply["return"]
        assert isinstance(printed, str)
        value, rest = evaluate_expression(command[2:])
        if printed.startswith("print|p: extraneous"):
            assert rest.strip()
        else:
            assert not rest.strip(), command
            assert value & (2**64 - 1) == int(printed.strip(), 16), command
        checked += 1
    assert checked == 30


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "unexpected end of expression"),
        ("1 +", "unexpected end of expression"),
        ("abc", "invalid char 'a' in expression"),
        (")", "invalid char ')' in expression"),
        ("(1", "')' expected"),
        ("'", "character constant expected"),
        ("'ab'", "missing terminating ' character"),
        ("$nope", "unknown register"),
        ("$", "unknown register"),
        ("1/0", "division by zero"),
        ("5 % 0", "division by zero"),
        ("99999999999999999999", "number too large"),
    ],
)
def test_expression_errors(text: str, message: str) -> None:
    with pytest.raises(HmpUsageError) as err:
        evaluate_expression(text)
    assert err.value.message == message
