"""QOM tree, types, properties and path resolution (qom.py, machine_object.py).

Expected strings come from tests/machine/recorded/qom-tree.txt and qom-backends-hmp.txt.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hvballoond.clock import FakeClock
from hvballoond.machine.config import HostFacts, MachineConfig, MachineKind
from hvballoond.machine.errors import MachineError, NotFoundError
from hvballoond.machine.machine import Machine
from hvballoond.machine.qom import (
    BoolCodec,
    EnumCodec,
    InputStyle,
    IntCodec,
    Property,
    QomObject,
    SizeCodec,
    StrCodec,
    TypeRegistry,
    container,
    find_object,
    list_target,
    resolve_path,
)
from hvballoond.machine.qom_type_order import QEMU_TYPE_ORDER
from hvballoond.machine.units import GiB

RECORDED = Path(__file__).parent / "recorded"


def make_machine(kind: MachineKind = MachineKind.Q35) -> Machine:
    type_name = {
        MachineKind.Q35: "pc-q35-10.0-machine",
        MachineKind.PC: "pc-i440fx-10.0-machine",
        MachineKind.NONE: "none-machine",
    }[kind]
    config = MachineConfig(
        kind=kind,
        type_name=type_name,
        ram_size=GiB,
        maxram_size=16 * GiB,
        ram_slots=4,
        start_paused=True,
    )
    machine = Machine(config, host=HostFacts(), now=FakeClock().now(), device_types=())
    machine.create_default_ram()
    machine.mark_ready()
    return machine


def recorded_reply(name: str, request_fragment: str) -> object:
    """The reply recorded right after the first request containing ``request_fragment``."""
    lines = (RECORDED / name).read_text().splitlines()
    for index, line in enumerate(lines):
        if line.startswith("-> ") and request_fragment in line.replace(" ", ""):
            reply = json.loads(lines[index + 1][3:])
            return reply.get("return", reply.get("error"))
    raise AssertionError(f"{request_fragment!r} not recorded in {name}")


def names_and_types(obj: QomObject) -> list[dict[str, str]]:
    return [{"name": p.name, "type": p.type} for p in obj.properties()]


# -- the tree -----------------------------------------------------------------------------


def test_root_lists_the_recorded_children() -> None:
    machine = make_machine()
    expected = recorded_reply("qom-tree.txt", '"path":"/"}')
    assert names_and_types(machine.qom.root) == expected


@pytest.mark.parametrize("kind", [MachineKind.Q35, MachineKind.PC])
def test_machine_property_list_matches_reference(kind: MachineKind) -> None:
    machine = make_machine(kind)
    lines = (RECORDED / "qom-tree.txt").read_text().splitlines()
    # The pc listing is the one that contains the i440fx child.
    candidates = [
        json.loads(lines[i + 1][3:])["return"]
        for i, line in enumerate(lines)
        if line.startswith("-> ") and '"path":"/machine"}' in line.replace(" ", "")
    ]
    bridge = "q35" if kind is MachineKind.Q35 else "i440fx"
    wanted = next(c for c in candidates if any(p["name"] == bridge for p in c))
    assert names_and_types(machine.machine_object) == wanted


def test_machine_none_lists_generic_properties_and_containers() -> None:
    machine = make_machine(MachineKind.NONE)
    names = [p.name for p in machine.machine_object.properties()]
    assert names[-3:] == ["peripheral-anon", "peripheral", "unattached"]
    assert "nvdimm" not in names


def test_machine_values_match_reference() -> None:
    machine = make_machine()
    mobj = machine.machine_object
    assert mobj.get("memory") == {"size": GiB, "max-size": 16 * GiB, "slots": 4}
    assert mobj.get("type") == "pc-q35-10.0-machine"
    assert mobj.get("nvdimm") is False
    assert mobj.get("max-ram-below-4g") == 4294967296
    assert mobj.get("memory-backend") == "/objects/pc.ram"
    assert mobj.get("acpi") == "auto"
    assert mobj.get("boot") == {"order": "cad"}
    assert mobj.get("unattached") == "/machine/unattached"
    assert mobj.get("device-memory[0]") == "/machine/device-memory[0]"
    assert mobj.get("firmware") == "bios-256k.bin"


def test_memory_property_without_slots_has_only_size() -> None:
    config = MachineConfig(ram_size=GiB, maxram_size=16 * GiB)
    machine = Machine(config, host=HostFacts(), now=FakeClock().now(), device_types=())
    assert machine.machine_object.get("memory") == {"size": GiB}


def test_machine_type_is_not_writable() -> None:
    machine = make_machine()
    with pytest.raises(MachineError) as err:
        machine.machine_object.set_json("type", None)
    assert err.value.message == "Property 'pc-q35-10.0-machine.type' is not writable"


def test_machine_nvdimm_flag_is_writable() -> None:
    machine = make_machine()
    machine.machine_object.set_json("nvdimm", True)
    assert machine.machine_object.get("nvdimm") is True


def test_pcie_root_bus_listing() -> None:
    machine = make_machine()
    bus = list_target(machine.qom.root, "/machine/q35/pcie.0")
    names = [p.name for p in bus.properties()]
    assert names[0] == "type"
    assert "realized" in names and "hotplug-handler" in names
    assert machine.qom.root.resolve_component("machine") is machine.machine_object


def test_container_type_and_child_values() -> None:
    machine = make_machine()
    objects = find_object(machine.qom.root, "/objects")
    assert objects.get("type") == "container"
    assert objects.get("pc.ram") == "/objects/pc.ram"
    with pytest.raises(MachineError) as err:
        objects.set_json("pc.ram", "x")
    assert err.value.message == "Property 'container.pc.ram' is not writable"


# -- path resolution ----------------------------------------------------------------------


def tree() -> QomObject:
    root = container()
    machine = QomObject("machine")
    root.add_child("machine", machine)
    peripheral = container()
    machine.add_child("peripheral", peripheral)
    rp1 = QomObject("pcie-root-port")
    peripheral.add_child("rp1", rp1)
    rp1.add_child("rp1", QomObject("PCIE"))
    d1 = QomObject("pc-dimm")
    peripheral.add_child("d1", d1)
    objects = container()
    root.add_child("objects", objects)
    b3 = QomObject("memory-backend-ram")
    objects.add_child("b3", b3)
    d1.add_property(Property("memdev", "link<memory-backend>", link=lambda: b3))
    return root


def test_absolute_path() -> None:
    root = tree()
    found = resolve_path(root, "/objects/b3").obj
    assert found is not None and found.qom_type == "memory-backend-ram"
    assert resolve_path(root, "/").obj is root
    assert resolve_path(root, "//objects//b3").obj is found


def test_partial_path_suffix_unique() -> None:
    root = tree()
    assert resolve_path(root, "b3").obj is resolve_path(root, "/objects/b3").obj
    assert resolve_path(root, "peripheral/d1").obj is not None


def test_partial_path_ambiguous_when_a_device_and_its_bus_share_a_name() -> None:
    root = tree()
    result = resolve_path(root, "rp1")
    assert result.obj is None and result.ambiguous
    with pytest.raises(MachineError) as err:
        list_target(root, "rp1")
    assert err.value.message == "Path 'rp1' is ambiguous"


def test_empty_path_is_ambiguous_for_list_and_not_found_for_get() -> None:
    root = tree()
    with pytest.raises(MachineError) as err:
        list_target(root, "")
    assert err.value.message == "Path '' is ambiguous"
    with pytest.raises(NotFoundError) as nf:
        find_object(root, "")
    assert nf.value.message == "Device '' not found"


def test_missing_paths_are_device_not_found() -> None:
    root = tree()
    with pytest.raises(NotFoundError) as err:
        list_target(root, "/nope")
    assert err.value.message == "Device '/nope' not found"
    with pytest.raises(NotFoundError) as err2:
        find_object(root, "/objects/nope")
    assert err2.value.message == "Device '/objects/nope' not found"


def test_paths_follow_links() -> None:
    root = tree()
    assert (
        resolve_path(root, "/machine/peripheral/d1/memdev").obj
        is resolve_path(root, "/objects/b3").obj
    )


def test_canonical_path() -> None:
    root = tree()
    found = resolve_path(root, "d1").obj
    assert found is not None
    assert found.canonical_path() == "/machine/peripheral/d1"


# -- properties and codecs ----------------------------------------------------------------


def test_unknown_property_message_uses_the_type_name() -> None:
    machine = make_machine()
    ram = find_object(machine.qom.root, "/objects/pc.ram")
    with pytest.raises(MachineError) as err:
        ram.get("nope")
    assert err.value.message == "Property 'memory-backend-ram.nope' not found"


def test_duplicate_property() -> None:
    obj = container()
    obj.add_child("x", container())
    with pytest.raises(MachineError) as err:
        obj.add_child("x", container())
    assert err.value.message == "attempt to add duplicate property 'x' to object (type 'container')"


@pytest.mark.parametrize(
    ("codec", "value", "message"),
    [
        (BoolCodec(), "x", "Invalid parameter type for 'p', expected: boolean"),
        (IntCodec.INT32, "x", "Invalid parameter type for 'p', expected: integer"),
        (IntCodec.INT32, 1 << 40, "Parameter 'p' expects int32_t"),
        (IntCodec.UINT64, "x", "Parameter 'p' expects uint64"),
        (IntCodec.UINT64, 1.5, "Parameter 'p' expects uint64"),
        (IntCodec.UINT32, -1, "Parameter 'p' expects uint32_t"),
        (SizeCodec(), "1G", "Parameter 'p' expects uint64"),
        (StrCodec(), 5, "Invalid parameter type for 'p', expected: string"),
        (
            EnumCodec("HostMemPolicy", ("default",)),
            5,
            "Invalid parameter type for 'p', expected: string",
        ),
        (
            EnumCodec("HostMemPolicy", ("default",)),
            "bogus",
            "Parameter 'p' does not accept value 'bogus'",
        ),
    ],
)
def test_json_codec_messages(codec: object, value: object, message: str) -> None:
    with pytest.raises(MachineError) as err:
        codec.from_json("p", value)  # type: ignore[attr-defined]
    assert err.value.message == message


def test_json_uint64_wraps_negative_values() -> None:
    assert IntCodec.UINT64.from_json("p", -1) == (1 << 64) - 1


@pytest.mark.parametrize(
    ("codec", "text", "style", "message"),
    [
        (BoolCodec(), "x", InputStyle.KEYVAL, "Parameter 'p' expects 'on' or 'off'"),
        (BoolCodec(), "x", InputStyle.STRING, "Parameter 'p' expects 'on' or 'off'"),
        (IntCodec.INT32, "x", InputStyle.KEYVAL, "Parameter 'p' expects integer"),
        (IntCodec.INT32, "99999999999", InputStyle.KEYVAL, "Parameter 'p' expects int32_t"),
        (IntCodec.UINT32, "x", InputStyle.KEYVAL, "Parameter 'p' expects integer"),
        (IntCodec.UINT64, "x", InputStyle.KEYVAL, "Parameter 'p' expects integer"),
        (IntCodec.UINT32, "x", InputStyle.STRING, "Parameter 'p' expects uint64"),
        (IntCodec.INT64, "x", InputStyle.STRING, "Parameter 'p' expects int64"),
        (SizeCodec(), "x", InputStyle.KEYVAL, "Parameter 'p' expects size"),
        (
            SizeCodec(),
            "x",
            InputStyle.STRING,
            "Parameter 'p' expects a non-negative number below 2^64",
        ),
    ],
)
def test_text_codec_messages(codec: object, text: str, style: InputStyle, message: str) -> None:
    with pytest.raises(MachineError) as err:
        codec.from_text("p", text, style)  # type: ignore[attr-defined]
    assert err.value.message == message


def test_text_codecs_accept_qemu_spellings() -> None:
    assert BoolCodec().from_text("p", "yes", InputStyle.KEYVAL) is True
    assert BoolCodec().from_text("p", "n", InputStyle.KEYVAL) is False
    assert IntCodec.INT32.from_text("p", "0x10", InputStyle.KEYVAL) == 16
    assert IntCodec.INT32.from_text("p", "-1", InputStyle.KEYVAL) == -1
    assert SizeCodec().from_text("p", "1.5M", InputStyle.KEYVAL) == 1572864


# -- types --------------------------------------------------------------------------------


def test_list_types_implements_and_abstract() -> None:
    types = TypeRegistry()
    types.add("object", None)
    types.add("interface", None, abstract=True)
    types.add("memory-device", "interface", abstract=True)
    types.add("device", "object", abstract=True)
    types.add("pc-dimm", "device", interfaces=("memory-device",))
    types.add("nvdimm", "pc-dimm")
    assert [t.name for t in types.list_types(implements="pc-dimm")] == ["pc-dimm", "nvdimm"]
    assert [t.name for t in types.list_types(implements="memory-device")] == ["pc-dimm", "nvdimm"]
    assert [t.name for t in types.list_types(implements="memory-device", abstract=True)] == [
        "memory-device",
        "pc-dimm",
        "nvdimm",
    ]
    assert types.list_types(implements="nope") == []
    assert types.is_a("nvdimm", "memory-device")
    assert not types.is_a("device", "pc-dimm")


def test_machine_registers_backend_types_for_qom_list_types() -> None:
    machine = make_machine()
    got = {t.name for t in machine.types.list_types(implements="memory-backend")}
    expected = recorded_reply("qom-backends-hmp.txt", '"implements":"memory-backend"}')
    assert isinstance(expected, list)
    assert got == {e["name"] for e in expected}


def test_typed_property_check_runs_before_the_conversion() -> None:
    calls: list[str] = []

    def check() -> None:
        calls.append("check")
        raise MachineError("cannot change property size of memory-backend-ram ")

    prop = Property.typed(
        "size", SizeCodec(), getter=lambda: 0, setter=lambda value: None, check=check
    )
    assert prop.set_json is not None and prop.set_text is not None
    set_json, set_text = prop.set_json, prop.set_text
    with pytest.raises(MachineError) as err:
        set_json("not a size")
    assert err.value.message == "cannot change property size of memory-backend-ram "
    with pytest.raises(MachineError) as err:
        set_text("x", InputStyle.STRING)
    assert err.value.message == "cannot change property size of memory-backend-ram "
    assert calls == ["check", "check"]


def test_list_types_follows_the_given_listing_order() -> None:
    types = TypeRegistry(["b", "object", "a"])
    for name in ("object", "a", "b", "ours"):
        types.add(name, None if name == "object" else "object")
    assert [t.name for t in types.list_types()] == ["b", "object", "a", "ours"]


@pytest.mark.parametrize(
    "fragment",
    [
        '"implements":"pc-dimm"}',
        '"implements":"memory-device","abstract":true}',
        '"implements":"virtio-md-pci","abstract":true}',
        '"implements":"bus","abstract":true}',
    ],
)
def test_qom_list_types_order_is_the_reference_binarys(fragment: str) -> None:
    # The recorded lists hold types hvballoond does not model (sgx-epc, floppy-bus...):
    # those we do model must come in the same relative order, with the same parents.
    machine = Machine(
        MachineConfig(ram_size=GiB, maxram_size=16 * GiB, ram_slots=4),
        host=HostFacts(),
        now=FakeClock().now(),
    )
    expected = recorded_reply("qom-tree.txt", fragment)
    assert isinstance(expected, list)
    implements = json.loads("{" + fragment)["implements"]
    abstract = '"abstract":true' in fragment
    got = [
        {"name": t.name, "parent": t.parent, **({"abstract": True} if t.abstract else {})}
        for t in machine.types.list_types(implements=implements, abstract=abstract)
    ]
    # hvballoond's own types (mem-hapvdimm) are not in QEMU's table: they come last.
    ours = [entry for entry in got if entry["name"] not in QEMU_TYPE_ORDER]
    assert got[len(got) - len(ours):] == ours
    qemus = got[: len(got) - len(ours)]
    known = {entry["name"] for entry in qemus}
    assert qemus == [e for e in expected if isinstance(e, dict) and e["name"] in known]
    assert len(qemus) >= 2


def test_object_is_abstract() -> None:
    types = make_machine().types
    assert "object" not in {t.name for t in types.list_types()}
    assert "object" in {t.name for t in types.list_types(abstract=True)}
