"""query-qmp-schema: numbering, entry shapes, and the closure clients rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvballoond.qapi.compiler import compile_schema
from hvballoond.qapi.generated.introspection import INTROSPECTION
from hvballoond.qapi.generated.specs import COMMANDS, EVENTS
from hvballoond.qapi.introspect import build_introspection
from hvballoond.wire.values import JSONObject, JSONValue

CASES = Path(__file__).parent / "schema_cases"

# introspection.md §3.1, transcribed from the spec text (not generated).
WORKED_EXAMPLE: list[JSONValue] = [
    {"name": "query-status", "meta-type": "command", "arg-type": "0", "ret-type": "1"},
    {"name": "STOP", "meta-type": "event", "arg-type": "0"},
    {"name": "balloon", "meta-type": "command", "arg-type": "2", "ret-type": "0"},
    {"name": "BALLOON_CHANGE", "meta-type": "event", "arg-type": "3"},
    {"name": "query-commands", "meta-type": "command", "arg-type": "0", "ret-type": "[4]"},
    {
        "name": "object-add",
        "meta-type": "command",
        "arg-type": "5",
        "ret-type": "0",
        "allow-oob": True,
    },
    {"name": "0", "meta-type": "object", "members": []},
    {
        "name": "1",
        "meta-type": "object",
        "members": [{"name": "running", "type": "bool"}, {"name": "status", "type": "6"}],
    },
    {"name": "2", "meta-type": "object", "members": [{"name": "value", "type": "int"}]},
    {"name": "3", "meta-type": "object", "members": [{"name": "actual", "type": "int"}]},
    {"name": "[4]", "meta-type": "array", "element-type": "4"},
    {"name": "4", "meta-type": "object", "members": [{"name": "name", "type": "str"}]},
    {
        "name": "5",
        "meta-type": "object",
        "members": [{"name": "qom-type", "type": "7"}, {"name": "id", "type": "str"}],
        "tag": "qom-type",
        "variants": [
            {"case": "a", "type": "8"},
            {"case": "b", "type": "0"},
            {"case": "c", "type": "0"},
        ],
    },
    {"name": "bool", "meta-type": "builtin", "json-type": "boolean"},
    {
        "name": "6",
        "meta-type": "enum",
        "members": [{"name": "prelaunch"}, {"name": "running"}, {"name": "paused"}],
        "values": ["prelaunch", "running", "paused"],
    },
    {"name": "int", "meta-type": "builtin", "json-type": "int"},
    {"name": "str", "meta-type": "builtin", "json-type": "string"},
    {
        "name": "7",
        "meta-type": "enum",
        "members": [{"name": "a"}, {"name": "b", "features": ["deprecated"]}, {"name": "c"}],
        "values": ["a", "b", "c"],
    },
    {
        "name": "8",
        "meta-type": "object",
        "members": [
            {"name": "size", "type": "int", "default": None},
            {"name": "nodes", "type": "[int]", "default": None},
            {"name": "x", "type": "9", "features": ["unstable"]},
        ],
    },
    {"name": "[int]", "meta-type": "array", "element-type": "int"},
    {"name": "9", "meta-type": "alternate", "members": [{"type": "str"}, {"type": "null"}]},
    {"name": "null", "meta-type": "builtin", "json-type": "null"},
]


def _entries(entries: list[JSONValue]) -> list[JSONObject]:
    out = []
    for entry in entries:
        assert isinstance(entry, dict)
        out.append(entry)
    return out


def _items(entry: JSONObject, key: str) -> list[JSONObject]:
    value = entry.get(key, [])
    assert isinstance(value, list)
    return [item for item in value if isinstance(item, dict)]


def test_worked_example_numbering() -> None:
    schema = compile_schema(CASES / "introspect-worked-example.json")
    assert build_introspection(schema) == WORKED_EXAMPLE


def test_members_are_inserted_in_schema_info_order() -> None:
    # SchemaInfo's base (name, meta-type, features) comes first, then the branch members
    # in qapi/introspect.json order; the wire encoder works from insertion order.
    schema = compile_schema(CASES / "good-union-alternate.json")
    orders = {tuple(e) for e in _entries(build_introspection(schema))}
    assert ("name", "meta-type", "features", "arg-type", "ret-type", "allow-oob") in orders
    assert ("name", "meta-type", "members", "tag", "variants") in orders
    assert ("name", "meta-type", "element-type") in orders
    assert ("name", "meta-type", "json-type") in orders
    member_orders = {
        tuple(m) for e in _entries(build_introspection(schema)) for m in _items(e, "members")
    }
    assert ("name", "type", "default") in member_orders


def test_unmask_shows_real_names() -> None:
    schema = compile_schema(CASES / "introspect-worked-example.json")
    names = [e["name"] for e in _entries(build_introspection(schema, unmask=True))]
    assert names[6:8] == ["q_empty", "StatusInfo"]
    assert "[CommandInfo]" in names


# -- hvballoond's schema ----------------------------------------------------------------

ENTRIES = _entries(INTROSPECTION)
BY_NAME = {e["name"]: e for e in ENTRIES}


def _referenced(entry: JSONObject) -> list[str]:
    refs: list[str] = []
    for key in ("arg-type", "ret-type", "element-type"):
        value = entry.get(key)
        if isinstance(value, str):
            refs.append(value)
    for item in _items(entry, "members") + _items(entry, "variants"):
        if "type" in item:
            refs.append(str(item["type"]))
    return refs


def test_every_command_and_event_is_listed_in_schema_order() -> None:
    commands = [e["name"] for e in ENTRIES if e["meta-type"] == "command"]
    events = [e["name"] for e in ENTRIES if e["meta-type"] == "event"]
    assert commands == list(COMMANDS)
    assert events == list(EVENTS)
    assert ENTRIES[0] == {
        "name": "query-status",
        "meta-type": "command",
        "arg-type": "0",
        "ret-type": "1",
    }


def test_closure_every_reference_is_an_entry() -> None:
    missing = {ref for e in ENTRIES for ref in _referenced(e) if ref not in BY_NAME}
    assert missing == set()


def test_every_type_entry_is_referenced() -> None:
    referenced = {ref for e in ENTRIES for ref in _referenced(e)}
    types = {e["name"] for e in ENTRIES if e["meta-type"] not in ("command", "event")}
    assert types == referenced


def test_numbers_are_dense() -> None:
    numbers = sorted(int(str(n)) for n in BY_NAME if str(n).isdigit())
    assert numbers == list(range(len(numbers)))


def test_only_the_six_builtins_used_by_qemu_appear() -> None:
    builtins = {e["name"] for e in ENTRIES if e["meta-type"] == "builtin"}
    assert builtins <= {"str", "int", "number", "bool", "null", "any"}


@pytest.mark.parametrize(
    ("command", "features"),
    [
        ("device_add", ["json-cli", "json-cli-hotplug"]),
        ("human-monitor-command", ["savevm-monitor-nodes"]),
        ("x-hvb-advance-clock", ["unstable"]),
    ],
)
def test_command_features(command: str, features: list[str]) -> None:
    assert BY_NAME[command]["features"] == features


def test_oob_commands() -> None:
    oob = {e["name"] for e in ENTRIES if e.get("allow-oob") is True}
    assert oob == {"yank", "query-yank"}
    assert BY_NAME["query-yank"]["ret-type"] == "[" + _resolve("yank", "instances") + "]"


def _object(name: JSONValue) -> JSONObject:
    entry = BY_NAME[str(name)]
    assert entry["meta-type"] == "object"
    return entry


def _members(name: JSONValue) -> dict[str, JSONObject]:
    members = _object(name)["members"]
    assert isinstance(members, list)
    return {str(m["name"]): m for m in members if isinstance(m, dict)}


def _resolve(command: str, member: str) -> str:
    """The element type name of a list-typed argument member."""
    ref = str(_members(BY_NAME[command]["arg-type"])[member]["type"])
    assert ref.startswith("[") and ref.endswith("]")
    return ref[1:-1]


def test_device_add_arguments_match_qemu() -> None:
    # introspection.md §5.3: {driver: str, *bus: str, *id: str}
    assert list(_members(BY_NAME["device_add"]["arg-type"]).values()) == [
        {"name": "driver", "type": "str"},
        {"name": "bus", "type": "str", "default": None},
        {"name": "id", "type": "str", "default": None},
    ]


def test_object_add_is_a_union_on_qom_type() -> None:
    args = _object(BY_NAME["object-add"]["arg-type"])
    assert args["tag"] == "qom-type"
    assert list(_members(args["name"])) == ["qom-type", "id"]
    variants = args["variants"]
    assert isinstance(variants, list)
    cases = [v["case"] for v in variants if isinstance(v, dict)]
    assert cases == [
        "hvb-guest",
        "memory-backend-file",
        "memory-backend-memfd",
        "memory-backend-ram",
        "memory-backend-shm",
        "rng-random",
        "secret",
    ]
    ram = next(v for v in variants if isinstance(v, dict) and v["case"] == "memory-backend-ram")
    members = _members(ram["type"])
    assert members["size"] == {"name": "size", "type": "int"}
    assert members["host-nodes"] == {"name": "host-nodes", "type": "[int]", "default": None}
    assert members["policy"]["default"] is None


def test_query_machines_member_feature() -> None:
    # introspection.md §5.3 entry 199
    assert list(_members(BY_NAME["query-machines"]["arg-type"]).values()) == [
        {"name": "compat-props", "type": "bool", "default": None, "features": ["unstable"]}
    ]


def test_status_report_event_and_query_share_hvballooninfo() -> None:
    event_type = BY_NAME["HV_BALLOON_STATUS_REPORT"]["arg-type"]
    assert BY_NAME["query-hv-balloon-status-report"]["ret-type"] == event_type
    assert list(_members(event_type)) == ["committed", "available"]
    # BALLOON_CHANGE has its own implicit type, although it looks like BalloonInfo.
    assert BY_NAME["BALLOON_CHANGE"]["arg-type"] != BY_NAME["query-balloon"]["ret-type"]


def test_memory_device_info_union() -> None:
    ret = str(BY_NAME["query-memory-devices"]["ret-type"])
    info = _object(ret[1:-1])
    assert info["tag"] == "type"
    variants = info["variants"]
    assert isinstance(variants, list)
    assert [v["case"] for v in variants if isinstance(v, dict)] == [
        "dimm",
        "nvdimm",
        "virtio-pmem",
        "virtio-mem",
        "sgx-epc",
        "hv-balloon",
    ]
