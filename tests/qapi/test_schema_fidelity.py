"""hvballoond's schema against QEMU 10.0.2's qapi/*.json (when the source is unpacked).

Every definition that is not an hvballoond extension must have QEMU's shape: the same
members with the same types, optionality, features and order, the same enum values in
the same order, the same flags. The only differences allowed are listed in ``SUBSETS``
(QEMU parts hvballoond does not implement, or that a Linux x86_64 build leaves out).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hvballoond.qapi.compiler import compile_schema
from hvballoond.qapi.examples import DEFAULT_SCHEMA
from hvballoond.qapi.parser import RawExpr, RawValue, parse
from hvballoond.qapi.source import SourceInfo

# A QEMU 10.0.2 source tree (../shared/tools/install-qemu-oracle.sh --source DIR unpacks one);
# the comparison is skipped without it.
QEMU_QAPI = Path(os.environ.get("HVB_QEMU_SOURCE", "qemu-source-not-configured")) / "qapi"
META = ("enum", "struct", "union", "alternate", "command", "event")

# hvballoond's own definitions (documented as extensions in the schema).
EXTENSIONS = frozenset(
    {
        "hv-balloon-add-memory",
        "HV_BALLOON_MEMORY_BACKEND_UNUSED",
        "x-hvb-advance-clock",
        "HvbGuestProperties",
    }
)
# Definitions that list a subset of QEMU's values, branches or members.
SUBSETS = frozenset({"ObjectType", "ObjectOptions", "MemoryBackendFileProperties"})


def _raw(path: Path) -> list[RawExpr]:
    text = path.read_text(encoding="utf-8")
    parsed = parse(text, info=SourceInfo(path.name, 1))
    return [item for item in parsed.items if isinstance(item, RawExpr)]


def _definitions(directory: Path) -> dict[str, dict[str, RawValue]]:
    out: dict[str, dict[str, RawValue]] = {}
    for path in sorted(directory.glob("*.json")):
        for expr in _raw(path):
            meta = next(k for k in META if k in expr.value)
            name = expr.value[meta]
            assert isinstance(name, str)
            out[name] = expr.value
    return out


@pytest.fixture(scope="module")
def qemu() -> dict[str, dict[str, RawValue]]:
    if not QEMU_QAPI.is_dir():
        pytest.skip("QEMU 10.0.2 source not unpacked")
    return _definitions(QEMU_QAPI)


OURS = _definitions(DEFAULT_SCHEMA.parent)


def _normal_members(value: RawValue | None) -> dict[str, RawValue]:
    """Members as {'name' or '*name': {'type': ..., 'features': [...], 'if': ...}}."""
    if not isinstance(value, dict):
        return {}
    return {k: v if isinstance(v, dict) else {"type": v} for k, v in value.items()}


def _enum_values(value: RawValue) -> list[dict[str, RawValue]]:
    assert isinstance(value, list)
    return [v if isinstance(v, dict) else {"name": v} for v in value]


def _unconditional(entries: dict[str, RawValue]) -> dict[str, RawValue]:
    return {k: v for k, v in entries.items() if not (isinstance(v, dict) and "if" in v)}


@pytest.mark.parametrize("name", sorted(set(OURS) - EXTENSIONS))
def test_definition_matches_qemu(name: str, qemu: dict[str, dict[str, RawValue]]) -> None:
    ours, theirs = OURS[name], qemu[name]
    assert [k for k in META if k in ours] == [k for k in META if k in theirs]
    flags = (
        "returns",
        "boxed",
        "gen",
        "success-response",
        "allow-oob",
        "allow-preconfig",
        "coroutine",
        "features",
        "base",
        "discriminator",
        "prefix",
    )
    for key in flags:
        if name in SUBSETS and key == "features":
            continue
        assert ours.get(key) == theirs.get(key), key
    if "enum" in ours:
        values = _enum_values(ours["data"])
        qemu_values = [v for v in _enum_values(theirs["data"]) if "if" not in v]
        if name in SUBSETS:
            names = [v["name"] for v in qemu_values]
            assert [v["name"] for v in values if v["name"] in names] == [
                n for n in names if n in {v["name"] for v in values}
            ]
        else:
            assert values == qemu_values
        return
    members = _normal_members(ours.get("data"))
    qemu_members = _unconditional(_normal_members(theirs.get("data")))
    base = _normal_members(ours.get("base"))
    # Lists, not dicts: member order matters.
    assert list(base.items()) == list(_unconditional(_normal_members(theirs.get("base"))).items())
    if name in SUBSETS:
        assert all(qemu_members.get(k) == v for k, v in members.items() if k in qemu_members)
        assert [k for k in members if k in qemu_members] == [
            k for k in qemu_members if k in members
        ]
    else:
        assert list(members.items()) == list(qemu_members.items())
    if isinstance(ours.get("data"), str) or isinstance(theirs.get("data"), str):
        assert ours.get("data") == theirs.get("data")


def test_extensions_are_marked_in_their_docs() -> None:
    schema = compile_schema(DEFAULT_SCHEMA, display_name=DEFAULT_SCHEMA.name)
    for d in schema.definitions:
        if d.name in EXTENSIONS:
            assert d.doc is not None
            assert "hvballoond extension" in d.doc.body.text, d.name


def test_schema_holds_the_required_commands_and_events() -> None:
    schema = compile_schema(DEFAULT_SCHEMA, display_name=DEFAULT_SCHEMA.name)
    commands = {c.name for c in schema.commands}
    assert commands == {
        "qmp_capabilities", "query-version", "query-commands", "query-qmp-schema",
        "query-status", "stop", "cont", "system_reset", "system_powerdown", "quit",
        "query-name", "query-uuid", "query-kvm", "query-target", "human-monitor-command",
        "yank", "query-yank", "qom-list", "qom-get", "qom-set", "qom-list-types",
        "qom-list-properties", "object-add", "object-del", "device_add", "device_del",
        "query-memdev", "query-memory-devices", "query-memory-size-summary",
        "query-acpi-ospm-status", "query-machines", "query-hotpluggable-cpus",
        "query-cpus-fast", "balloon", "query-balloon", "query-hv-balloon-status-report",
        "hv-balloon-add-memory", "x-hvb-advance-clock",
        "query-migrate-capabilities", "migrate-set-capabilities", "query-chardev",
        "query-iothreads", "query-jobs", "query-block", "query-named-block-nodes",
    }  # fmt: skip
    assert {e.name for e in schema.events} == {
        "SHUTDOWN", "RESET", "STOP", "RESUME", "POWERDOWN", "DEVICE_DELETED",
        "DEVICE_UNPLUG_GUEST_ERROR", "ACPI_DEVICE_OST", "MEMORY_DEVICE_SIZE_CHANGE",
        "BALLOON_CHANGE", "HV_BALLOON_STATUS_REPORT", "HV_BALLOON_MEMORY_BACKEND_UNUSED",
    }  # fmt: skip
    object_type = schema.type("ObjectType")
    assert getattr(object_type, "value_names", None) == (
        "hvb-guest",
        "memory-backend-file",
        "memory-backend-memfd",
        "memory-backend-ram",
        "memory-backend-shm",
        "rng-random",
        "secret",
    )
