"""CPU objects built from a recorded table (machine/cpu.py), with a small hand-made table.

The shipped tables and the byte-for-byte comparison with QEMU 10.0.2 are in
tests/probe/test_cpus.py.
"""

from __future__ import annotations

import pytest

from hvballoond.clock import FakeClock
from hvballoond.machine.config import HostFacts, MachineConfig, MachineKind
from hvballoond.machine.cpu import CpuModel, X86Cpu, add_boot_cpus, cpu_path
from hvballoond.machine.errors import MachineError
from hvballoond.machine.machine import Machine
from hvballoond.machine.qom import find_object
from hvballoond.machine.units import GiB
from hvballoond.wire.values import JSONObject

REALIZED = "Attempt to set property '{}' on anonymous device (type 'qemu64-x86_64-cpu') after it " \
           "was realized"
TABLE: JSONObject = {
    "model": "qemu64", "accel": "tcg", "type": "qemu64-x86_64-cpu", "recorded-with": "",
    "properties": [
        {"name": "type", "type": "string", "value": "qemu64-x86_64-cpu"},
        {"name": "realized", "type": "bool", "value": True, "writable": True},
        {"name": "popcnt", "type": "bool", "value": False,
         "set-error": REALIZED.format("popcnt")},
        {"name": "ht", "type": "bool", "value": False, "set-error": REALIZED.format("ht")},
        {"name": "family", "type": "int", "value": 15, "writable": True},
        {"name": "model-id", "type": "string", "value": "QEMU Virtual CPU version 2.5+",
         "writable": True},
        {"name": "apic-id", "type": "uint32", "value": 0, "set-error": REALIZED.format("apic-id")},
        {"name": "core-id", "type": "int32", "value": 0, "set-error": REALIZED.format("core-id")},
        {"name": "node-id", "type": "int32", "value": 0, "set-error": REALIZED.format("node-id")},
        {"name": "crash-information", "type": "GuestPanicInformation",
         "get-error": "No crash occurred"},
        {"name": "unavailable-features", "type": "strList", "value": [],
         "set-error": "Property 'qemu64-x86_64-cpu.unavailable-features' is not writable"},
        {"name": "memory", "type": "link<memory-region>",
         "value": "/machine/unattached/system[0]",
         "set-error": "Attempt to set link property 'memory' on device 'x' after it was realized"},
        {"name": "lapic", "type": "child<apic>"},
    ],
    "several-cpus": {"ht": True},
}  # fmt: skip


def machine(*, cpus: int = 1, slots: int = 4, kind: MachineKind = MachineKind.Q35) -> Machine:
    """A machine with memory hot-plug (``slots``: it then has an implicit NUMA node)."""
    if kind is MachineKind.NONE:
        config = MachineConfig(kind=kind, ram_size=0, maxram_size=0)
    else:
        maxram = 16 * GiB if slots else GiB
        config = MachineConfig(ram_size=GiB, maxram_size=maxram, ram_slots=slots, cpus=cpus)
    return Machine(config, host=HostFacts(), now=FakeClock().now(), device_types=())


def cpu(m: Machine, index: int = 0) -> X86Cpu:
    found = find_object(m.qom.root, cpu_path(index))
    assert isinstance(found, X86Cpu)
    return found


def test_the_boot_cpu_lists_its_recorded_properties_in_order() -> None:
    m = machine()
    assert len(add_boot_cpus(m, TABLE)) == 1
    obj = cpu(m)
    rows = TABLE["properties"]
    assert isinstance(rows, list)
    assert [(p.name, p.type) for p in obj.properties()] == [
        (r["name"], r["type"]) for r in rows if isinstance(r, dict)]
    assert obj.get("type") == "qemu64-x86_64-cpu"
    assert obj.get("model-id") == "QEMU Virtual CPU version 2.5+"
    assert obj.get("unavailable-features") == []
    assert obj.get("memory") == "/machine/unattached/system[0]"
    assert obj.get("lapic") == "/machine/unattached/device[0]/lapic"
    assert find_object(m.qom.root, "/machine/unattached/device[0]/lapic").qom_type == "apic"


def test_unreadable_and_refused_properties_give_the_recorded_errors() -> None:
    obj_m = machine()
    add_boot_cpus(obj_m, TABLE)
    obj = cpu(obj_m)
    with pytest.raises(MachineError) as err:
        obj.get("crash-information")
    assert err.value.message == "No crash occurred"
    # the realized check comes before the value is looked at
    with pytest.raises(MachineError) as err:
        obj.set_json("popcnt", 5)
    assert err.value.message == REALIZED.format("popcnt")
    with pytest.raises(MachineError) as err:
        obj.set_json("lapic", "x")
    assert err.value.message == "Property 'qemu64-x86_64-cpu.lapic' is not writable"
    with pytest.raises(MachineError) as err:
        obj.set_json("crash-information", {})
    assert err.value.message == "Property 'qemu64-x86_64-cpu.crash-information' is not writable"
    with pytest.raises(MachineError) as err:
        obj.get("nope")
    assert err.value.message == "Property 'qemu64-x86_64-cpu.nope' not found"


def test_writable_properties_keep_new_values_after_type_checks() -> None:
    m = machine()
    add_boot_cpus(m, TABLE)
    obj = cpu(m)
    obj.set_json("family", 6)
    obj.set_json("model-id", "x")
    assert (obj.get("family"), obj.get("model-id")) == (6, "x")
    with pytest.raises(MachineError) as err:
        obj.set_json("family", "x")
    assert err.value.message == "Invalid parameter type for 'family', expected: integer"
    assert obj.get("family") == 6


def test_topology_and_numa_come_from_the_machine() -> None:
    m = machine(cpus=3)
    add_boot_cpus(m, TABLE)
    assert [c.component for c in m.qdev.unattached.children() if isinstance(c, X86Cpu)] == [
        "device[0]", "device[2]", "device[3]"]
    assert [(cpu(m, i).get("apic-id"), cpu(m, i).get("core-id")) for i in range(3)] == [
        (0, 0), (1, 1), (2, 2)]
    assert cpu(m, 2).get("lapic") == "/machine/unattached/device[3]/lapic"
    # several CPUs: QEMU sets the hyper-threading flags
    assert cpu(m, 0).get("ht") is True
    assert cpu(m, 0).get("node-id") == 0  # the implicit node of a machine with slots
    one = machine(slots=0)
    add_boot_cpus(one, TABLE)
    assert cpu(one).get("ht") is False
    assert cpu(one).get("node-id") == -1


def test_no_cpu_without_a_table_or_on_machine_none() -> None:
    m = machine()
    assert add_boot_cpus(m, None) == []
    assert m.qdev.unattached.child("device[0]") is None
    none = machine(kind=MachineKind.NONE, slots=0)
    assert add_boot_cpus(none, TABLE) == []


@pytest.mark.parametrize("table", [
    [], {"model": "qemu64"}, {"model": "qemu64", "type": "t", "properties": [1]},
    {"model": "qemu64", "type": "t", "properties": [{"name": "x"}]},
    {"model": "qemu64", "type": "t", "properties": [
        {"name": "x", "type": "bool", "get-error": 5}]},
])  # fmt: skip
def test_malformed_tables_are_refused(table: object) -> None:
    with pytest.raises(ValueError):
        CpuModel.from_json(table)  # type: ignore[arg-type]
