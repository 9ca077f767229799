"""Generated tables and models, and the return/event checks built on them."""

from __future__ import annotations

import pytest

from hvballoond.qapi.generated import commands, events, types
from hvballoond.qapi.generated.specs import COMMANDS, EVENTS
from hvballoond.qapi.runtime import SchemaViolation, check_event, check_return
from hvballoond.wire.values import JSONObject, JSONValue

DIMM: JSONObject = {
    "id": "dimm0",
    "addr": 4294967296,
    "size": 134217728,
    "slot": 0,
    "node": 0,
    "memdev": "/objects/mem0",
    "hotplugged": True,
    "hotpluggable": True,
}


def test_command_specs() -> None:
    assert next(iter(COMMANDS)) == "query-status"
    spec = COMMANDS["device_add"]
    assert (spec.gen, spec.arg_type, spec.has_returns) == (False, "q_obj_device_add-arg", False)
    assert spec.features == ("json-cli", "json-cli-hotplug")
    assert COMMANDS["object-add"].boxed and COMMANDS["object-add"].arg_type == "ObjectOptions"
    assert COMMANDS["query-yank"].allow_oob and COMMANDS["yank"].allow_oob
    assert not COMMANDS["query-status"].allow_oob
    assert COMMANDS["query-commands"].ret_type == "CommandInfoList"
    assert COMMANDS["qom-get"].ret_type == "any"
    assert COMMANDS["stop"].ret_type is None and not COMMANDS["stop"].has_returns
    assert COMMANDS["query-status"].allow_preconfig


def test_event_specs() -> None:
    assert EVENTS["STOP"].arg_type is None
    assert EVENTS["HV_BALLOON_STATUS_REPORT"].arg_type == "HvBalloonInfo"
    assert EVENTS["BALLOON_CHANGE"].arg_type == "q_obj_BALLOON_CHANGE-arg"


def test_models_use_aliases_and_dump_back() -> None:
    data = events.MemoryDeviceSizeChangeData(id="vm0", size=1, qom_path="/machine/peripheral/vm0")
    assert data.model_dump(mode="json", by_alias=True, exclude_unset=True) == {
        "id": "vm0",
        "size": 1,
        "qom-path": "/machine/peripheral/vm0",
    }
    args = commands.QmpCapabilitiesArgs.model_validate({"enable": ["oob"]})
    assert args.enable == [types.QMPCapability.OOB]


def test_enum_names() -> None:
    assert types.MemoryDeviceInfoKind.HV_BALLOON.value == "hv-balloon"
    assert types.QapiErrorClass.KVM_MISSING_CAP.value == "KVMMissingCap"
    assert types.SysEmuTarget.X86_64.value == "x86_64"


def test_check_return_accepts_good_values() -> None:
    check_return("query-status", {"running": False, "status": "prelaunch"})
    check_return("query-memory-devices", [{"type": "dimm", "data": DIMM}])
    check_return("query-commands", [{"name": "query-status"}])
    check_return("qom-get", {"anything": [1, None]})
    check_return("human-monitor-command", "")
    check_return("stop", {})
    check_return(
        "query-yank", [{"type": "chardev", "id": "compat_monitor0"}, {"type": "migration"}]
    )


@pytest.mark.parametrize(
    ("command", "value"),
    [
        ("query-status", {"running": 0, "status": "prelaunch"}),
        ("query-status", {"running": False, "status": "nope"}),
        ("query-status", {"running": False}),
        ("query-status", {"running": False, "status": "paused", "extra": 1}),
        # Schema order is running, then status.
        ("query-status", {"status": "paused", "running": False}),
        ("query-memory-devices", [{"type": "dimm", "data": {**DIMM, "slot": 1.0}}]),
        ("query-memory-devices", [{"type": "dimm", "data": {**DIMM, "id": None}}]),
        ("query-memory-devices", [{"data": DIMM, "type": "dimm"}]),
        ("query-memory-size-summary", {"base-memory": -1}),
        ("human-monitor-command", None),
        ("stop", {"x": 1}),
        ("stop", None),
    ],
)
def test_check_return_rejects(command: str, value: JSONValue) -> None:
    with pytest.raises(SchemaViolation):
        check_return(command, value)


def test_member_order_check_can_be_skipped() -> None:
    check_return("query-status", {"status": "paused", "running": False}, check_order=False)


def test_check_event() -> None:
    check_event("STOP", None)
    check_event("RESET", {"guest": False, "reason": "host-qmp-system-reset"})
    check_event("DEVICE_DELETED", {"path": "/machine/peripheral/d1"})
    check_event("HV_BALLOON_STATUS_REPORT", {"committed": 1, "available": 2})
    cases: list[tuple[str, JSONObject | None]] = [
        ("STOP", {}),  # QEMU leaves out an empty data member
        ("RESET", {"reason": "host-qmp-system-reset", "guest": False}),
        ("RESET", {"guest": False, "reason": "bogus"}),
        ("HV_BALLOON_STATUS_REPORT", {"commited": 1, "available": 2}),
        ("DEVICE_DELETED", None),
    ]
    for name, data in cases:
        with pytest.raises(SchemaViolation):
            check_event(name, data)


def test_unknown_names_are_key_errors() -> None:
    with pytest.raises(KeyError):
        check_return("nope", {})
    with pytest.raises(KeyError):
        check_event("NOPE", None)
