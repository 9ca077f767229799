"""QOM handlers (qom-list/get/set, qom-list-types, qom-list-properties) and the HMP QOM and
memory-backend commands.

Replies from tests/machine/recorded/qom-backends-hmp.txt and qom-tree.txt.
"""

from __future__ import annotations

import pytest

from hvballoond.clock import FakeClock
from hvballoond.dispatch.context import CommandContext, VmIdentity
from hvballoond.dispatch.errors import to_qmp_error
from hvballoond.dispatch.handlers import qom
from hvballoond.dispatch.hmp.memdev import host_nodes_text, parse_keyval
from hvballoond.dispatch.hmp.registry import HmpUsageError
from hvballoond.dispatch.hmp.status import pretty_json, split_args
from hvballoond.machine.config import HostFacts, MachineConfig
from hvballoond.machine.errors import MachineError
from hvballoond.machine.machine import Machine
from hvballoond.machine.units import GiB
from hvballoond.wire.values import JSONObject
from tests.fakes import NullMonitor


def context() -> CommandContext:
    clock = FakeClock()
    config = MachineConfig(ram_size=GiB, maxram_size=16 * GiB, ram_slots=4, start_paused=True)
    machine = Machine(config, host=HostFacts(), now=clock.now(), device_types=())
    machine.create_default_ram()
    machine.mark_ready()
    return CommandContext(machine=machine, now=clock.now(), monitor=NullMonitor(), vm=VmIdentity())


def error_of(call: object, ctx: CommandContext, args: JSONObject) -> tuple[str, str]:
    with pytest.raises(MachineError) as err:
        call(ctx, args)  # type: ignore[operator]
    qmp = to_qmp_error(err.value)
    return qmp.error_class.value, qmp.desc


def test_qom_list() -> None:
    ctx = context()
    assert qom.qom_list(ctx, {"path": "/objects"}) == [
        {"name": "type", "type": "string"},
        {"name": "pc.ram", "type": "child<memory-backend-ram>"},
    ]
    assert qom.qom_list(ctx, {"path": "/machine/peripheral"}) == [
        {"name": "type", "type": "string"}
    ]
    assert error_of(qom.qom_list, ctx, {"path": "/nope"}) == (
        "DeviceNotFound",
        "Device '/nope' not found",
    )
    assert error_of(qom.qom_list, ctx, {"path": ""}) == ("GenericError", "Path '' is ambiguous")


def test_qom_get_and_set() -> None:
    ctx = context()
    assert qom.qom_get(ctx, {"path": "/machine", "property": "memory"}) == {
        "size": 1073741824,
        "max-size": 17179869184,
        "slots": 4,
    }
    assert qom.qom_get(ctx, {"path": "pc.ram", "property": "size"}) == 1073741824
    assert error_of(qom.qom_get, ctx, {"path": "/objects/nope", "property": "size"}) == (
        "DeviceNotFound",
        "Device '/objects/nope' not found",
    )
    assert error_of(qom.qom_get, ctx, {"path": "", "property": "type"}) == (
        "DeviceNotFound",
        "Device '' not found",
    )
    assert error_of(qom.qom_get, ctx, {"path": "/objects/pc.ram", "property": "nope"}) == (
        "GenericError",
        "Property 'memory-backend-ram.nope' not found",
    )
    assert error_of(
        qom.qom_set, ctx, {"path": "/objects/pc.ram", "property": "nope", "value": 1}
    ) == (
        "GenericError",
        "Property 'memory-backend-ram.nope' not found",
    )
    assert error_of(qom.qom_set, ctx, {"path": "/machine", "property": "type", "value": None}) == (
        "GenericError",
        "Property 'pc-q35-10.0-machine.type' is not writable",
    )
    assert error_of(
        qom.qom_set, ctx, {"path": "/objects/pc.ram", "property": "merge", "value": "x"}
    ) == (
        "GenericError",
        "Invalid parameter type for 'merge', expected: boolean",
    )
    assert qom.qom_set(ctx, {"path": "/objects/pc.ram", "property": "merge", "value": False}) == {}
    assert qom.qom_get(ctx, {"path": "/objects/pc.ram", "property": "merge"}) is False


def test_qom_list_types() -> None:
    ctx = context()
    assert qom.qom_list_types(ctx, {"implements": "memory-backend", "abstract": True}) == [
        {"name": "memory-backend-ram", "parent": "memory-backend"},
        {"name": "memory-backend-file", "parent": "memory-backend"},
        {"name": "memory-backend-memfd", "parent": "memory-backend"},
        {"name": "memory-backend", "abstract": True, "parent": "object"},
        {"name": "memory-backend-shm", "parent": "memory-backend"},
    ]
    assert qom.qom_list_types(ctx, {"implements": "nope"}) == []
    everything = qom.qom_list_types(ctx, {})
    assert isinstance(everything, list)
    # TYPE_OBJECT is abstract in QEMU.
    assert not [entry for entry in everything if entry == {"name": "object"}]
    assert all("abstract" not in entry for entry in everything if isinstance(entry, dict))
    with_abstract = qom.qom_list_types(ctx, {"abstract": True})
    assert isinstance(with_abstract, list)
    assert {"name": "object", "abstract": True} in with_abstract


def test_qom_list_properties() -> None:
    ctx = context()
    reply = qom.qom_list_properties(ctx, {"typename": "memory-backend-ram"})
    assert isinstance(reply, list)
    assert reply[:3] == [
        {"name": "type", "type": "string"},
        {
            "name": "share",
            "type": "bool",
            "description": "Mark the memory as private to QEMU or shared",
        },
        {"name": "size", "type": "int", "description": "Size of the memory region (ex: 500M)"},
    ]
    assert {"name": "x-use-canonical-path-for-ramblock-id", "type": "bool"} in reply
    assert error_of(qom.qom_list_properties, ctx, {"typename": "nope"}) == (
        "DeviceNotFound",
        "Class 'nope' not found",
    )
    assert qom.qom_list_properties(ctx, {"typename": "bus"}) == [{"name": "type", "type": "string"}]


def test_qom_list_types_and_properties_of_the_dimm_types() -> None:
    # Observed on QEMU 10.0.2 (tests/transcripts/qom/qom-list-types-devices.qmp).
    clock = FakeClock()
    config = MachineConfig(ram_size=GiB, maxram_size=16 * GiB, ram_slots=4)
    machine = Machine(config, host=HostFacts(), now=clock.now())
    ctx = CommandContext(machine=machine, now=clock.now(), monitor=NullMonitor(), vm=VmIdentity())
    for abstract in (False, True):
        assert qom.qom_list_types(ctx, {"implements": "pc-dimm", "abstract": abstract}) == [
            {"name": "nvdimm", "parent": "pc-dimm"},
            {"name": "pc-dimm", "parent": "device"},
        ]
    assert qom.qom_list_types(ctx, {"implements": "virtio-mem-pci"}) == [
        {"name": "virtio-mem-pci", "parent": "virtio-mem-pci-base"},
    ]
    reply = qom.qom_list_properties(ctx, {"typename": "pc-dimm"})
    assert isinstance(reply, list)
    assert [entry for entry in reply if isinstance(entry, dict) and "default-value" in entry] == [
        {"name": "node", "type": "uint32", "default-value": 0},
        {"name": "addr", "type": "uint64", "default-value": 0},
        {"name": "slot", "type": "int32", "default-value": -1},
    ]
    nvdimm = qom.qom_list_properties(ctx, {"typename": "nvdimm"})
    assert isinstance(nvdimm, list)
    assert {"name": "unarmed", "type": "bool", "description": "on/off",
            "default-value": False} in nvdimm


# -- HMP helpers --------------------------------------------------------------------------


def test_pretty_json_matches_qemu() -> None:
    assert pretty_json({"size": 1073741824, "max-size": 17179869184, "slots": 4}) == (
        '{\n    "size": 1073741824,\n    "slots": 4,\n    "max-size": 17179869184\n}'
    )
    assert pretty_json([]) == "[\n]"
    assert pretty_json("container") == '"container"'
    assert pretty_json(True) == "true"
    assert pretty_json([1, {"a": None}]) == '[\n    1,\n    {\n        "a": null\n    }\n]'
    assert pretty_json("é\n") == '"\\u00E9\\n"'


def test_host_nodes_text() -> None:
    assert host_nodes_text([]) == ""
    assert host_nodes_text([0]) == "0"
    assert host_nodes_text([5, 0, 1, 2]) == "0-2,5"


def test_parse_keyval() -> None:
    assert parse_keyval("memory-backend-ram,id=hm1,size=2M,size=4M", "qom-type") == {
        "qom-type": "memory-backend-ram",
        "id": "hm1",
        "size": "4M",
    }
    assert parse_keyval("id=s14,size=2M", "qom-type") == {"id": "s14", "size": "2M"}
    assert parse_keyval("x,a=b,,c", "qom-type") == {"qom-type": "x", "a": "b,c"}
    with pytest.raises(MachineError):
        parse_keyval("x,flag", "qom-type")


def test_split_args() -> None:
    assert split_args("qom-get", ' /objects "a b" rest', 2) == (["/objects", "a b"], " rest")
    with pytest.raises(HmpUsageError) as err:
        split_args("qom-get", "/objects/pc.ram", 2)
    assert err.value.message == "qom-get: string expected"


# -- HMP end to end (needs the generated schema) ------------------------------------------


def test_hmp_qom_and_memdev_commands() -> None:
    pytest.importorskip("hvballoond.qapi.generated.commands")
    from hvballoond.dispatch import schema_glue
    from hvballoond.dispatch.hmp.interpreter import run_hmp

    schema_glue.load_handlers()
    ctx = context()
    assert run_hmp(ctx, "info memdev") == (
        "memory backend: pc.ram\r\n  size:  1073741824\r\n  merge: true\r\n  dump: true\r\n"
        "  prealloc: false\r\n  share: false\r\n  reserve: true\r\n  policy: default\r\n"
        "  host nodes: \r\n\r\n"
    )
    assert run_hmp(ctx, "info memory_size_summary") == (
        "base memory: 1073741824\r\nplugged memory: 0\r\n"
    )
    assert run_hmp(ctx, "qom-list") == "/\r\n"
    assert run_hmp(ctx, "qom-list /objects") == (
        "type (string)\r\npc.ram (child<memory-backend-ram>)\r\n"
    )
    assert run_hmp(ctx, "qom-list /nope") == "Error: Device '/nope' not found\r\n"
    assert run_hmp(ctx, 'qom-list ""') == "Error: Path '' is ambiguous\r\n"
    assert run_hmp(ctx, "qom-get /machine memory") == (
        '{\r\n    "size": 1073741824,\r\n    "slots": 4,\r\n    "max-size": 17179869184\r\n}\r\n'
    )
    assert run_hmp(ctx, "qom-get /objects/pc.ram host-nodes") == "[\r\n]\r\n"
    assert run_hmp(ctx, "qom-get /objects/pc.ram") == (
        'qom-get: string expected\r\nTry "help qom-get" for more information\r\n'
    )
    assert run_hmp(ctx, "qom-set /objects/pc.ram merge off") == ""
    assert run_hmp(ctx, "qom-set /objects/pc.ram merge x") == (
        "Error: Parameter 'merge' expects 'on' or 'off'\r\n"
    )
    assert run_hmp(ctx, "qom-set -j /objects/pc.ram merge true") == ""
    assert run_hmp(ctx, 'qom-set -j /objects/pc.ram merge "x"') == (
        "Error: Invalid parameter type for 'merge', expected: boolean\r\n"
    )
    assert run_hmp(ctx, "qom-set -j /objects/pc.ram merge {") == (
        "Error: JSON parse error, premature EOI\r\n"
    )
    assert run_hmp(ctx, "qom-set /objects/pc.ram size 1G") == (
        "Error: cannot change property size of memory-backend-ram \r\n"
    )
    assert run_hmp(ctx, "qom-set /objects/pc.ram prealloc-threads x") == (
        "Error: Parameter 'prealloc-threads' expects uint64\r\n"
    )
    assert run_hmp(ctx, "qom-set /objects/pc.ram merge on extra") == (
        "Error: Parameter 'merge' expects 'on' or 'off'\r\n"
    )
    assert (
        run_hmp(ctx, "object_add memory-backend-ram,id=hm1,size=128M,host-nodes.0=0,policy=bind")
        == ""
    )
    assert run_hmp(ctx, "object_add memory-backend-ram,id=hm1,size=128M") == (
        "Error: attempt to add duplicate property 'hm1' to object (type 'container')\r\n"
    )
    assert run_hmp(ctx, "object_add memory-backend-ram,id=1bad,size=1M") == (
        "Error: Parameter 'id' expects an identifier\r\nIdentifiers consist of letters, "
        "digits, '-', '.', '_', starting with a letter.\r\n"
    )
    assert run_hmp(ctx, "object_del hm1") == ""
    assert run_hmp(ctx, "object_del hm1") == "Error: object 'hm1' not found\r\n"
    assert run_hmp(ctx, "object_del pc.ram") == (
        "Error: object 'pc.ram' is in use, can not be deleted\r\n"
    )
    assert run_hmp(ctx, "object_del") == (
        'object_del: string expected\r\nTry "help object_del" for more information\r\n'
    )
