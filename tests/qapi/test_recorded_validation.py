"""hvballoond's validators against the replies recorded from real QEMU 10.0.2.

The recording (``recorded/validation-errors.txt``) is made by ``record_validation.py``;
the request ids say what each case expects (see that module).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from hvballoond.qapi.keyval import parse_keyval
from hvballoond.qapi.validation import ArgumentError, validate_arguments, validate_keyval
from hvballoond.qapi.validation import validate_value as check_property
from hvballoond.wire.values import JSONObject, JSONValue

RECORDING = Path(__file__).parent / "recorded" / "validation-errors.txt"


@dataclass(frozen=True)
class Case:
    case_id: str
    request: JSONObject
    reply: JSONObject

    @property
    def command(self) -> str:
        command = self.request["execute"]
        assert isinstance(command, str)
        return command

    @property
    def arguments(self) -> JSONObject:
        arguments = self.request.get("arguments", {})
        assert isinstance(arguments, dict)
        return arguments

    @property
    def desc(self) -> str:
        error = self.reply["error"]
        assert isinstance(error, dict)
        desc = error["desc"]
        assert isinstance(desc, str)
        return desc


def _load() -> list[Case]:
    cases: list[Case] = []
    request: JSONObject | None = None
    for line in RECORDING.read_text(encoding="utf-8").splitlines():
        if line.startswith("-> "):
            request = json.loads(line[3:])
        elif line.startswith("<- "):
            reply: JSONObject = json.loads(line[3:])
            if "event" in reply:
                continue
            assert request is not None
            case_id = request["id"]
            assert isinstance(case_id, str)
            cases.append(Case(case_id, request, reply))
            request = None
    return cases


CASES = _load()


def _ids(prefix: str) -> list[Case]:
    return [c for c in CASES if c.case_id.startswith(prefix)]


def test_recording_header_names_qemu_10_0_2() -> None:
    first = RECORDING.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# recorded-from: QEMU emulator version 10.0.2")


def test_recording_covers_every_kind() -> None:
    for prefix in ("v-", "ok-", "kv-", "kvok-", "qs-"):
        assert _ids(prefix), prefix


@pytest.mark.parametrize("case", _ids("v-"), ids=lambda c: c.case_id)
def test_rejected_like_qemu(case: Case) -> None:
    with pytest.raises(ArgumentError) as err:
        validate_arguments(case.command, case.arguments)
    assert err.value.desc == case.desc


@pytest.mark.parametrize("case", _ids("ok-"), ids=lambda c: c.case_id)
def test_accepted_like_qemu(case: Case) -> None:
    # QEMU got past argument validation: the reply came from the command itself.
    validate_arguments(case.command, case.arguments)


def _object_add_keyval(command_line: str) -> dict[str, str]:
    """The key=value pairs of an HMP ``object_add`` line."""
    assert command_line.startswith("object_add ")
    values, help_requested = parse_keyval(
        command_line[len("object_add ") :], implied_key="qom-type"
    )
    assert not help_requested
    return values


def _command_line(case: Case) -> str:
    line = case.arguments["command-line"]
    assert isinstance(line, str)
    return line


@pytest.mark.parametrize("case", _ids("kv-"), ids=lambda c: c.case_id)
def test_keyval_rejected_like_qemu(case: Case) -> None:
    output = case.reply["return"]
    assert isinstance(output, str) and output.startswith("Error: ")
    with pytest.raises(ArgumentError) as err:
        validate_keyval("ObjectOptions", _object_add_keyval(_command_line(case)))
    assert err.value.desc == output[len("Error: ") :].removesuffix("\r\n")
    assert output.count("\r\n") == 1


@pytest.mark.parametrize("case", _ids("kvok-"), ids=lambda c: c.case_id)
def test_keyval_accepted_like_qemu(case: Case) -> None:
    assert case.reply["return"] == ""
    validate_keyval("ObjectOptions", _object_add_keyval(_command_line(case)))


def test_keyval_converts_values() -> None:
    case = next(c for c in CASES if c.case_id == "kvok-all")
    assert validate_keyval("ObjectOptions", _object_add_keyval(_command_line(case))) == {
        "qom-type": "memory-backend-ram",
        "id": "h2",
        "dump": True,
        "merge": False,
        "policy": "default",
        "prealloc-threads": 2,
        "share": True,
        "size": 1572864,
    }


@pytest.mark.parametrize("case", _ids("qs-"), ids=lambda c: c.case_id)
def test_property_values_rejected_like_qemu(case: Case) -> None:
    # qom-set visits the value under the property's name at the root of the visit.
    type_name = case.case_id.split("-")[1]
    prop = case.arguments["property"]
    assert isinstance(prop, str)
    value: JSONValue = case.arguments["value"]
    with pytest.raises(ArgumentError) as err:
        check_property(type_name, value, name=prop)
    assert err.value.desc == case.desc
