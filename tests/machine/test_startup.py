"""Command-line startup (startup.py): phase order, prefixes, messages.

Every expected message is from tests/machine/recorded/startup.txt.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from hvballoond.clock import FakeClock
from hvballoond.machine.config import Accel, HostFacts, MachineKind
from hvballoond.machine.errors import MachineError, StartupError
from hvballoond.machine.machine import Machine
from hvballoond.machine.runstate import RunState
from hvballoond.machine.startup import (
    GlobalProperty,
    StartupOption,
    create_machine,
    parse_global,
    parse_qemu_opts,
    select_machine_type,
)
from hvballoond.machine.strconv import ConversionError, strtosz
from hvballoond.machine.units import GiB, MiB
from hvballoond.wire.values import JSONObject
from tests.machine.test_qdev import TYPES

_BOOLS = {"merge", "dump", "prealloc", "share", "reserve"}
_KNOWN = {"qom-type", "id", "size", "policy", "prealloc-threads", "mem-path", *_BOOLS}


def fake_validator(options: dict[str, str] | JSONObject, *, keyval: bool) -> JSONObject:
    """Enough of ObjectOptions for memory-backend-ram (the real one is the QAPI runtime's)."""
    out: JSONObject = {}
    for key, value in options.items():
        if keyval:
            assert isinstance(value, str)
            if key.split(".")[0] == "host-nodes":
                nodes = out.setdefault("host-nodes", [])
                assert isinstance(nodes, list)
                nodes.append(int(value))
                continue
            if key not in _KNOWN:
                raise MachineError(f"Invalid parameter '{key}'")
            if key == "size":
                try:
                    out[key] = strtosz(value)
                except ConversionError:
                    raise MachineError("Parameter 'size' expects size") from None
            elif key in _BOOLS:
                out[key] = value in ("on", "yes", "true", "y")
            elif key == "prealloc-threads":
                out[key] = int(value)
            else:
                out[key] = value
        else:
            if key == "size" and not isinstance(value, int):
                raise MachineError("Parameter 'size' expects uint64")
            out[key] = value
    if "size" not in out:
        raise MachineError("Parameter 'size' is missing")
    return out


def options_from(command_line: str) -> list[StartupOption]:
    words = shlex.split(command_line)
    out: list[StartupOption] = []
    index = 0
    while index < len(words):
        flag = words[index]
        if flag in ("-S", "-no-shutdown"):
            out.append(StartupOption(flag, ""))
            index += 1
        else:
            out.append(StartupOption(flag, words[index + 1]))
            index += 2
    return out


def start(command_line: str, *, host: HostFacts | None = None) -> Machine:
    return create_machine(
        options_from(command_line),
        object_validator=fake_validator,
        host=host or HostFacts(ram_bytes=23 * GiB),
        now=FakeClock().now(),
        device_types=TYPES,
        object_types=(),
    )


def failure(command_line: str, *, host: HostFacts | None = None) -> StartupError:
    with pytest.raises(StartupError) as err:
        start(command_line, host=host)
    return err.value


RECORDED = Path(__file__).parent / "recorded"
PROGRAM = "qemu-system-x86_64: "


@dataclass(frozen=True)
class Case:
    command_line: str
    stderr: list[str]
    started: bool


def recorded_cases() -> list[Case]:
    cases: list[Case] = []
    current: tuple[str, list[str]] | None = None
    for line in (RECORDED / "startup.txt").read_text().splitlines():
        if line.startswith("== "):
            current = (line[3:], [])
        elif current is not None and line.startswith("rc="):
            started = "(started)" in current[1]
            stderr = [entry for entry in current[1] if entry != "(started)"]
            cases.append(Case(current[0], stderr, started))
            current = None
        elif current is not None:
            current[1].append(line)
    return cases


# Recorded cases outside this module's scope: real device types (virtio-mem-pci), a host
# with KVM (-accel kvm), a deprecation warning on stderr.
OUT_OF_SCOPE = ("virtio-mem-pci", "-accel kvm", "pc-q35-2.4", "addr=4096")
# What every recorded run had in front of the case's options.
BASE = "-accel tcg -S "


@pytest.mark.parametrize(
    "case",
    [c for c in recorded_cases() if not any(s in c.command_line for s in OUT_OF_SCOPE)],
    ids=lambda c: c.command_line,
)
def test_recorded_startup(case: Case) -> None:
    if case.started:
        start(BASE + case.command_line)
        return
    err = failure(BASE + case.command_line)
    first, *rest = case.stderr
    assert PROGRAM + err.message == first
    assert (err.hint or "").splitlines() == rest


def test_recorded_file_has_the_expected_number_of_cases() -> None:
    assert len(recorded_cases()) == 77


def test_hints() -> None:
    err = failure("-m 1G -object memory-backend-ram,id=pc.ram,size=1G")
    assert err.message == (
        "object's id 'pc.ram' is reserved for the default RAM backend, it can't be used for any "
        "other purposes"
    )
    assert err.hint == (
        "Change the object's 'id' to something else or disable automatic creation of the "
        "default RAM backend by setting 'memory-backend=pc.ram' with '-machine'."
    )
    assert failure("-m 1G -machine nonexist").hint == (
        "Use -machine help to list supported machines"
    )
    assert failure("-m 1G -object memory-backend-ram,id=1m,size=1G").hint == (
        "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter."
    )


def test_parse_errors_come_before_creation_errors() -> None:
    # The first -object has size=0 (a creation error) but the second fails to parse.
    err = failure(
        "-M q35 -m 2G -object memory-backend-ram,id=m0,size=0,policy=bind "
        "-object memory-backend-ram,id=m1"
    )
    assert err.message == "-object memory-backend-ram,id=m1: Parameter 'size' is missing"


def test_default_machine_is_pc_and_state_prelaunch_with_dash_s() -> None:
    machine = start("-m 1G -S")
    assert machine.kind is MachineKind.PC
    assert machine.config.type_name == "pc-i440fx-10.0-machine"
    assert machine.runstate is RunState.PRELAUNCH
    assert [b.id for b in machine.backends.all()] == ["pc.ram"]
    assert machine.is_ready


def test_running_without_dash_s() -> None:
    machine = start("-M q35 -m 1G")
    assert machine.runstate is RunState.RUNNING and machine.guest_booted


def test_memory_backend_option_maps_the_backend_and_skips_pc_ram() -> None:
    machine = start("-M q35 -object memory-backend-ram,id=m0,size=1G -machine memory-backend=m0")
    assert machine.config.ram_size == GiB
    backend = machine.backends.get("m0")
    assert backend is not None and backend.is_mapped
    assert machine.backends.get("pc.ram") is None
    assert machine.machine_object.get("memory-backend") == "/objects/m0"


def test_numa_memdevs_replace_pc_ram() -> None:
    machine = start(
        "-M q35 -m 1G -object memory-backend-ram,id=n0,size=512M "
        "-object memory-backend-ram,id=n1,size=512M -numa node,memdev=n0 -numa node,memdev=n1"
    )
    assert machine.numa_node_count == 2
    assert machine.backends.get("pc.ram") is None
    for name in ("n0", "n1"):
        backend = machine.backends.get(name)
        assert backend is not None and backend.is_mapped


def test_machine_none() -> None:
    machine = start("-machine none -m 1G,slots=4,maxmem=16G")
    assert [b.id for b in machine.backends.all()] == ["ram"]
    assert machine.device_memory is None
    assert machine.memory_size_summary() == {"base-memory": GiB, "plugged-memory": 0}
    empty = start("-machine none")
    assert empty.backends.all() == []


def test_cold_plugged_devices_are_not_hotplugged() -> None:
    machine = start(
        "-M q35 -m 1G,slots=4,maxmem=16G -object memory-backend-ram,id=m0,size=1G "
        "-device pc-dimm,id=d1,memdev=m0"
    )
    device = machine.qdev.find("d1")
    assert device is not None and device.hotplugged is False


def test_json_devices_are_created_after_option_string_devices() -> None:
    machine = start(
        '-M q35 -m 1G,slots=4,maxmem=16G -device \'{"driver":"sync-dev"}\' -device sync-dev'
    )
    first = machine.qdev.peripheral_anon.child("device[0]")
    assert first is not None


def test_accelerators() -> None:
    assert start("-M q35 -m 1G -accel kvm:tcg").config.accel is Accel.TCG
    kvm_host = HostFacts(kvm_available=True)
    assert start("-M q35 -m 1G -accel kvm", host=kvm_host).config.accel is Accel.KVM
    assert failure("-M q35 -m 1G -accel kvm").message == (
        "-accel kvm: failed to initialize kvm: No such file or directory"
    )


def test_commit_limit_from_host_facts() -> None:
    host = HostFacts(ram_bytes=2 * GiB, swap_bytes=0)
    assert failure("-M q35 -m 1G -object memory-backend-ram,id=m64,size=3G", host=host).message == (
        "cannot set up guest memory 'm64': Cannot allocate memory"
    )
    # Backends are created before the board allocates pc.ram.
    assert failure("-M q35 -m 1G -object memory-backend-ram,id=m2,size=2G", host=host).message == (
        "cannot set up guest memory 'pc.ram': Cannot allocate memory"
    )
    start("-M q35 -m 1G -object memory-backend-ram,id=m1,size=512M", host=host)


def test_option_string_parsing() -> None:
    assert parse_qemu_opts("pc-dimm,id=a,,b,memdev=m", "driver") == [
        ("driver", "pc-dimm"),
        ("id", "a,b"),
        ("memdev", "m"),
    ]
    assert parse_qemu_opts("q35,nvdimm", "type") == [("type", "q35"), ("nvdimm", "on")]
    assert select_machine_type("pc-i440fx-9.2") == (MachineKind.PC, "pc-i440fx-9.2-machine")
    assert select_machine_type("q35")[1] == "pc-q35-10.0-machine"
    assert MiB < GiB


# -- -global and -overcommit ------------------------------------------------------------------


def test_global_forms() -> None:
    assert parse_global("PIIX4_PM.memory-hotplug-support=off") == GlobalProperty(
        "PIIX4_PM", "memory-hotplug-support", "off"
    )
    assert parse_global("driver=PIIX4_PM,property=memory-hotplug-support,value=off") == (
        GlobalProperty("PIIX4_PM", "memory-hotplug-support", "off")
    )
    # The value may contain anything after the first '='.
    assert parse_global("a.b=c=d,e") == GlobalProperty("a", "b", "c=d,e")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Observed on QEMU 10.0.2 (it also warns about the short-form boolean first).
        ("foo", "-global foo: Invalid parameter 'foo'"),
        ("PIIX4_PM.memory-hotplug-support",
         "-global PIIX4_PM.memory-hotplug-support: Invalid parameter "
         "'PIIX4_PM.memory-hotplug-support'"),
        ("driver=PIIX4_PM,value=off",
         "-global driver=PIIX4_PM,value=off: options 'driver', 'property', and 'value' are "
         "required"),
    ],
)
def test_global_syntax_errors(text: str, message: str) -> None:
    assert failure(f"-machine pc -global {text}").message == message


def test_piix4_memory_hotplug_support_global() -> None:
    assert start("-machine pc -m 1G,slots=2,maxmem=4G").config.piix4_memory_hotplug_support
    for text in ("PIIX4_PM.memory-hotplug-support=off",
                 "driver=PIIX4_PM,property=memory-hotplug-support,value=off"):
        machine = start(f"-machine pc -m 1G,slots=2,maxmem=4G -global {text}")
        assert machine.config.piix4_memory_hotplug_support is False
    # q35 has no PIIX4_PM: the global is not used (QEMU only warns); other PIIX4_PM
    # properties and unknown types are accepted too.
    machine = start("-machine q35 -m 1G -global PIIX4_PM.memory-hotplug-support=off "
                    "-global PIIX4_PM.disable_s3=1 -global nope.x=1")
    assert machine.config.piix4_memory_hotplug_support is True
    assert failure("-machine pc -global PIIX4_PM.memory-hotplug-support=xyz").message == (
        "can't apply global PIIX4_PM.memory-hotplug-support=xyz: Parameter "
        "'memory-hotplug-support' expects 'on' or 'off'"
    )


def test_overcommit_mem_lock() -> None:
    assert start("-machine q35 -m 1G").config.mem_lock is False
    assert start("-machine q35 -m 1G -overcommit mem-lock=on").config.mem_lock is True
    assert start("-machine q35 -m 1G -overcommit mem-lock=on-fault").config.mem_lock is True
    assert start("-machine q35 -m 1G -overcommit mem-lock=off").config.mem_lock is False
    assert failure("-overcommit mem-lock=x").message == (
        "-overcommit mem-lock=x: parameter 'mem-lock' expects one of 'on', 'off', 'on-fault'"
    )
