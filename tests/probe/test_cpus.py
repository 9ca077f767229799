"""The recorded CPU tables: shipped in the store, and what the CPU objects built from them say.

The strongest check replays what libvirt read from QEMU 10.0.2's boot CPU at a domain start
(tests/interop/libvirt/recorded/domain-qemu-*-start.txt: a qom-list and ~460 qom-gets) and
requires hvballoond's answers to be the same bytes.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from hvballoond.clock import FakeClock
from hvballoond.machine.config import HostFacts, MachineConfig
from hvballoond.machine.cpu import CpuModel, X86Cpu, add_boot_cpus, cpu_path
from hvballoond.machine.errors import MachineError
from hvballoond.machine.machine import Machine
from hvballoond.machine.qom import QomObject, find_object
from hvballoond.machine.units import GiB
from hvballoond.probe.cpus import (
    CpuTables,
    build_cpu_table,
    check_cpu_table,
    cpu_table,
    default_cpu_tables,
    dump_cpu_tables,
    load_cpu_tables,
)
from hvballoond.probe.store import Accel, StoreError
from hvballoond.wire.encode import encode_error, encode_return
from hvballoond.wire.values import JSONObject, JSONValue

RECORDED = Path(__file__).resolve().parents[1] / "interop/libvirt/recorded"
STARTS = sorted(RECORDED.glob("domain-qemu-*-hvb-e2e-start.txt"))


def machine(cpus: int = 1) -> Machine:
    # libvirt's domain: q35, 1 GiB, 4 slots up to 16 GiB, one NUMA node.
    config = MachineConfig(ram_size=GiB, maxram_size=16 * GiB, ram_slots=4, cpus=cpus)
    m = Machine(config, host=HostFacts(), now=FakeClock().now(), device_types=())
    add_boot_cpus(m, cpu_table("qemu64", Accel.TCG))
    return m


def cpu_exchanges(path: Path) -> list[tuple[JSONObject, str]]:
    """(command, reply line) of every command libvirt sent about the boot CPU."""
    sent: dict[str, JSONObject] = {}
    out: list[tuple[JSONObject, str]] = []
    for line in path.read_text().splitlines():
        if line.startswith("-> "):
            command = json.loads(line[3:])
            arguments = command.get("arguments", {})
            if arguments.get("path") == "/machine/unattached/device[0]":
                sent[command["id"]] = command
        elif line.startswith("<- "):
            reply = json.loads(line[3:])
            if reply.get("id") in sent:
                out.append((sent.pop(reply["id"]), line[3:]))
    return out


def answer(m: Machine, command: JSONObject) -> bytes:
    arguments = command["arguments"]
    assert isinstance(arguments, dict)
    obj = find_object(m.qom.root, str(arguments["path"]))
    reply_id = (command["id"],)
    try:
        if command["execute"] == "qom-list":
            value: JSONValue = [{"name": p.name, "type": p.type} for p in obj.properties()]
        else:
            value = obj.get(str(arguments["property"]))
    except MachineError as err:
        return encode_error("GenericError", err.message, reply_id)
    return encode_return(value, reply_id)


def test_the_package_ships_qemu64_under_tcg_and_kvm() -> None:
    for accel in (Accel.TCG, Accel.KVM):
        table = cpu_table("qemu64", accel)
        assert table is not None, accel
        model = CpuModel.from_json(table)
        assert model.type_name == "qemu64-x86_64-cpu"
        assert model.properties[0].name == "type"
        assert f"-accel {accel.value} -cpu qemu64" in str(table["recorded-with"])
    assert cpu_table("qemu64", "hvf") is None
    assert cpu_table("max", Accel.TCG) is None
    assert "10.0.2" in str(default_cpu_tables().meta["qemu"])


@pytest.mark.parametrize("path", STARTS, ids=lambda p: p.name)
def test_libvirts_reads_of_the_boot_cpu_are_reproduced_byte_for_byte(path: Path) -> None:
    m = machine()
    exchanges = cpu_exchanges(path)
    assert len(exchanges) > 400
    for command, line in exchanges:
        assert answer(m, command) == line.encode() + b"\r\n", command


def test_a_two_cpu_machine_has_the_hyper_threading_flags() -> None:
    one, two = machine(1), machine(2)
    boot_one, boot_two = find_object(one.qom.root, cpu_path(0)), find_object(two.qom.root,
                                                                               cpu_path(0))
    assert (boot_one.get("ht"), boot_two.get("ht")) == (False, True)
    assert (boot_one.get("cmp-legacy"), boot_two.get("cmp-legacy")) == (False, True)
    second = find_object(two.qom.root, cpu_path(1))
    assert isinstance(second, X86Cpu)
    assert (second.get("apic-id"), second.get("core-id"), second.get("socket-id")) == (1, 1, 0)


def _qemu_cpu_values(args: list[str], path: str) -> tuple[list[JSONValue], dict[str, str]]:
    """qom-list and every qom-get (as reply text) of a CPU of a real QEMU."""
    with tempfile.TemporaryDirectory() as tmp:
        sock_path = os.path.join(tmp, "qmp.sock")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(sock_path)
        listener.listen(1)
        proc = subprocess.Popen(
            ["qemu-system-x86_64", *args, "-display", "none", "-nodefaults", "-S",
             "-chardev", f"socket,id=mon,fd={listener.fileno()},server=on,wait=off",
             "-mon", "chardev=mon,mode=control"],
            pass_fds=[listener.fileno()], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        listener.close()
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(sock_path)
                stream = sock.makefile("rwb")
                stream.readline()

                def call(message: JSONObject) -> bytes:
                    stream.write(json.dumps(message).encode())
                    stream.flush()
                    return stream.readline()

                call({"execute": "qmp_capabilities"})
                listing = json.loads(call({"execute": "qom-list", "arguments": {"path": path}}))
                values = {
                    str(item["name"]): call({"execute": "qom-get", "arguments": {
                        "path": path, "property": item["name"]}}).decode()
                    for item in listing["return"]
                }
                return listing["return"], values
        finally:
            proc.kill()
            proc.wait()


@pytest.mark.oracle
@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="no QEMU 10.0.2")
def test_the_second_cpu_of_a_two_cpu_machine_matches_qemu() -> None:
    listing, values = _qemu_cpu_values(
        ["-machine", "q35", "-accel", "tcg", "-m", "1G,slots=4,maxmem=16G", "-smp", "2"],
        "/machine/unattached/device[2]")
    second: QomObject = find_object(machine(2).qom.root, cpu_path(1))
    assert [{"name": p.name, "type": p.type} for p in second.properties()] == listing
    for name, text in values.items():
        try:
            ours = encode_return(second.get(name), None)
        except MachineError as err:
            ours = encode_error("GenericError", err.message, None)
        assert ours == text.encode(), name


def test_round_trip_keeps_the_tables_and_their_member_order() -> None:
    tables = default_cpu_tables()
    again = load_cpu_tables(dump_cpu_tables(tables))
    assert json.dumps(again.to_json()) == json.dumps(tables.to_json())
    assert dump_cpu_tables(again) == dump_cpu_tables(tables)


def test_two_tables_for_one_model_and_accel_are_refused() -> None:
    tcg = next(t for t in default_cpu_tables().tables if t["accel"] == "tcg")
    with pytest.raises(StoreError, match="two CPU tables"):
        CpuTables({}, (tcg, copy.deepcopy(tcg)))


@pytest.mark.parametrize("data", [b"not gzip", dump_cpu_tables(CpuTables({}, ()))[:-4]])
def test_damaged_files_are_refused(data: bytes) -> None:
    with pytest.raises(StoreError):
        load_cpu_tables(data)


def test_other_formats_are_refused() -> None:
    with pytest.raises(StoreError):
        CpuTables.from_json({"format": 2, "meta": {}, "tables": []})


@pytest.mark.parametrize("damage", [
    lambda t: t.pop("model"),
    lambda t: t.__setitem__("accel", "hvf"),
    lambda t: t["properties"].pop(0),
    lambda t: t["properties"].append({"name": "x", "type": "bool"}),
    lambda t: t["properties"].append({"name": "type", "type": "string", "value": "x"}),
    lambda t: t["properties"].append({"name": "y", "type": "bool", "value": True,
                                      "writable": True, "set-error": "no"}),
    lambda t: t["several-cpus"].__setitem__("nope", 1),
])  # fmt: skip
def test_malformed_tables_are_refused(damage: object) -> None:
    table = copy.deepcopy(next(t for t in default_cpu_tables().tables if t["accel"] == "tcg"))
    damage(table)  # type: ignore[operator]
    with pytest.raises(StoreError):
        check_cpu_table(table)


def test_build_cpu_table_lays_out_what_the_recorder_read() -> None:
    table = build_cpu_table(
        model="qemu64", accel=Accel.TCG, type_name="qemu64-x86_64-cpu", recorded_with="-smp 1",
        properties=[("type", "string", ("value", "qemu64-x86_64-cpu"), None),
                    ("family", "int", ("value", 15), True),
                    ("pni", "bool", ("value", True), "Attempt to set property 'pni'"),
                    ("crash-information", "GuestPanicInformation", ("error", "No crash"), None),
                    ("lapic", "child<apic>", ("value", "/machine/unattached/device[0]/lapic"),
                     None)],
        several_cpus={"family": 16})
    assert table["properties"] == [
        {"name": "type", "type": "string", "value": "qemu64-x86_64-cpu"},
        {"name": "family", "type": "int", "value": 15, "writable": True},
        {"name": "pni", "type": "bool", "value": True,
         "set-error": "Attempt to set property 'pni'"},
        {"name": "crash-information", "type": "GuestPanicInformation", "get-error": "No crash"},
        {"name": "lapic", "type": "child<apic>"},
    ]
    assert table["several-cpus"] == {"family": 16}
