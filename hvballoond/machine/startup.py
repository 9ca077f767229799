"""Build a :class:`Machine` from the memory-relevant part of a QEMU command line.

QEMU processes the command line in phases (system/vl.c qemu_init), and which error a bad
command line reports depends on them, so :func:`create_machine` follows the same order:

1. **Parse** every option left to right: ``-m`` (QemuOpts checks), ``-object`` (syntax,
   id, duplicate id, then schema validation through the injected validator), ``-device``
   (syntax, id, duplicate id), ``-numa``, ``-machine``, ``-accel``, ``-smp``, ``-global``,
   ``-overcommit``, ``-S``, ``-no-shutdown``. Errors carry the ``<flag> <text>: `` prefix.
2. **Machine**: type selection, ``-m`` (§1.2 #3-#5), machine properties.
3. **Accelerator**.
4. **Backends** (``-object``), in command-line order; creation errors have no prefix. The
   character devices (``chardevs=``, parsed and checked by the command line) are registered
   before them, as QEMU creates chardevs before memory backends.
5. ``-machine memory-backend`` resolution, ``-numa`` nodes.
6. **Board init**: memory-backend size, the default RAM backend, layout checks, the
   chipset's ``-global`` properties (``PIIX4_PM.memory-hotplug-support`` on pc).
7. **Devices** (``-device``): option-string ones first, then JSON ones (prefix again).

Messages are what QEMU prints after ``qemu-system-x86_64: ``; :class:`StartupError` carries
the message and, like QEMU's ``error_append_hint``, an optional hint.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import structlog

from hvballoond.clock import Instant
from hvballoond.machine.backends import FileProbe, MemoryBackend, UserObjectType, check_id
from hvballoond.machine.chardev import ChardevConfig, Chardevs
from hvballoond.machine.config import Accel, HostFacts, MachineConfig, MachineKind, NumaNode
from hvballoond.machine.errors import MachineError, StartupError
from hvballoond.machine.machine import Machine
from hvballoond.machine.memory_map import (
    DEFAULT_RAM_SIZE,
    check_memory_size,
    parse_memory_options,
)
from hvballoond.machine.qdev import Device, DeviceOptions, qdict_order
from hvballoond.machine.qom import InputStyle
from hvballoond.machine.qom_type_order import QEMU_TYPE_ORDER
from hvballoond.machine.qom_types import MACHINE_VERSIONS, machine_type_name
from hvballoond.machine.strconv import ConversionError, parse_bool, strtosz, strtou64
from hvballoond.wire.values import JSONObject

__all__ = [
    "GlobalProperty",
    "HostFacts",
    "ObjectValidator",
    "StartupOption",
    "create_machine",
    "parse_qemu_opts",
    "select_machine_type",
]


log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class StartupOption:
    """One command-line option: its flag (``-m``, ``-object``...) and its value text."""

    flag: str
    text: str


class ObjectValidator(Protocol):
    """Validates ``-object`` options against the QAPI ``ObjectOptions`` schema.

    Called with the option-string members (``keyval=True``; values are strings, dotted
    keys such as ``host-nodes.0`` as given) or the parsed JSON object (``keyval=False``).
    Returns the members with their schema types (``qom-type`` and ``id`` included) or raises
    :class:`MachineError` (or any exception with a ``desc``/``message``) with QEMU's text.
    """

    def __call__(self, options: dict[str, str] | JSONObject, /, *, keyval: bool) -> JSONObject: ...


# --------------------------------------------------------------------------------------------
# Option-string parsing (util/qemu-option.c)
# --------------------------------------------------------------------------------------------


def _split_escaped(text: str) -> list[str]:
    """Split on ``,`` where ``,,`` stands for a literal comma."""
    parts: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == ",":
            if text[index + 1 : index + 2] == ",":
                current.append(",")
                index += 2
                continue
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def parse_qemu_opts(text: str, implied: str | None) -> list[tuple[str, str]]:
    """``key=value,...`` pairs in order; a leading bare value belongs to ``implied``.

    A later bare ``flag`` means ``flag=on`` (QemuOpts); repeated keys are all returned, the
    caller keeps the last.
    """
    pairs: list[tuple[str, str]] = []
    if text == "":
        return pairs
    for index, item in enumerate(_split_escaped(text)):
        if "=" in item:
            key, value = item.split("=", 1)
        elif index == 0 and implied is not None:
            key, value = implied, item
        else:
            key, value = item, "on"
        pairs.append((key, value))
    return pairs


def _last_wins(pairs: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in pairs:
        out.pop(key, None)
        out[key] = value
    return out


# --------------------------------------------------------------------------------------------
# Machine type
# --------------------------------------------------------------------------------------------


def select_machine_type(name: str) -> tuple[MachineKind, str]:
    """Map ``-machine`` type names to (kind, QOM type name).

    Raises:
        StartupError: ``unsupported machine type: "<name>"``.
    """
    aliases = {"q35": (MachineKind.Q35, "10.0"), "pc": (MachineKind.PC, "10.0")}
    if name in aliases:
        kind, version = aliases[name]
        return kind, machine_type_name(kind, version)
    if name == "none":
        return MachineKind.NONE, machine_type_name(MachineKind.NONE)
    for prefix, kind in (("pc-q35-", MachineKind.Q35), ("pc-i440fx-", MachineKind.PC)):
        if name.startswith(prefix) and name[len(prefix) :] in MACHINE_VERSIONS:
            return kind, machine_type_name(kind, name[len(prefix) :])
    raise StartupError(
        f'unsupported machine type: "{name}"',
        hint="Use -machine help to list supported machines",
    )


# --------------------------------------------------------------------------------------------
# -global (system/qdev-monitor.c qemu_global_option)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GlobalProperty:
    """One ``-global``: a default for property ``prop`` of every ``driver`` object.

    Attributes:
        driver: the QOM type it applies to.
        prop: the property name.
        value: the value text (applied with the string input visitor).
    """

    driver: str
    prop: str
    value: str

    def __str__(self) -> str:
        return f"{self.driver}.{self.prop}={self.value}"


# sscanf("%63[^.=].%63[^=]%n") followed by '=': the short form DRIVER.PROP=VALUE.
_GLOBAL_SHORT: Final = re.compile(r"([^.=]{1,63})\.([^=]{1,63})=")
_GLOBAL_KEYS: Final = ("driver", "property", "value")


def parse_global(text: str) -> GlobalProperty:
    """Parse a ``-global`` option: ``DRIVER.PROP=VALUE`` or ``driver=,property=,value=``.

    Raises:
        StartupError: QEMU's message, prefixed with the option.
    """
    short = _GLOBAL_SHORT.match(text)
    if short is not None:
        return GlobalProperty(short.group(1), short.group(2), text[short.end() :])
    prefix = f"-global {text}: "
    members: dict[str, str] = {}
    for key, value in parse_qemu_opts(text, None):
        if key not in _GLOBAL_KEYS:
            raise StartupError(f"{prefix}Invalid parameter '{key}'")
        members[key] = value
    if any(key not in members for key in _GLOBAL_KEYS):
        raise StartupError(f"{prefix}options 'driver', 'property', and 'value' are required")
    return GlobalProperty(members["driver"], members["property"], members["value"])


def _parse_overcommit(text: str) -> bool | None:
    """``-overcommit``: the ``mem-lock`` setting (True for ``on``/``on-fault``), if given."""
    prefix = f"-overcommit {text}: "
    mem_lock: bool | None = None
    for key, value in parse_qemu_opts(text, None):
        if key == "mem-lock":
            if value not in ("on", "off", "on-fault"):
                raise StartupError(
                    f"{prefix}parameter 'mem-lock' expects one of 'on', 'off', 'on-fault'"
                )
            mem_lock = value != "off"
        elif key == "cpu-pm":
            try:
                parse_bool(value)
            except ConversionError:
                raise StartupError(f"{prefix}Parameter '{key}' expects 'on' or 'off'") from None
        else:
            raise StartupError(f"{prefix}Invalid parameter '{key}'")
    return mem_lock


# --------------------------------------------------------------------------------------------
# The parse phase
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Parsed:
    """What the parse phase collected, in command-line order."""

    memory: list[str] = dataclasses.field(default_factory=list)
    machine: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    objects: list[tuple[str, JSONObject]] = dataclasses.field(default_factory=list)
    object_ids: set[str] = dataclasses.field(default_factory=set)
    devices: list[tuple[str, dict[str, str]]] = dataclasses.field(default_factory=list)
    device_ids: set[str] = dataclasses.field(default_factory=set)
    json_devices: list[tuple[str, JSONObject]] = dataclasses.field(default_factory=list)
    numa: list[tuple[str, dict[str, str]]] = dataclasses.field(default_factory=list)
    accel: list[str] = dataclasses.field(default_factory=list)
    globals: list[GlobalProperty] = dataclasses.field(default_factory=list)
    mem_lock: bool = False
    cpus: int = 1
    start_paused: bool = False
    no_shutdown: bool = False


def _error_text(err: Exception) -> tuple[str, str | None]:
    if isinstance(err, MachineError):
        return err.message, err.hint
    desc = getattr(err, "desc", None)
    if isinstance(desc, str):
        return desc, None
    return str(err), None


def _parse_object(parsed: _Parsed, text: str, validator: ObjectValidator) -> None:
    prefix = f"-object {text}: "
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            raise StartupError(f"{prefix}JSON parse error") from None
        if not isinstance(value, dict):
            raise StartupError(f"{prefix}Invalid parameter type, expected: object")
        raw: dict[str, str] | JSONObject = value
        keyval = False
    else:
        pairs = parse_qemu_opts(text, "qom-type")
        members = _last_wins(pairs)
        obj_id = members.get("id")
        if obj_id is not None:
            try:
                check_id(obj_id)
            except MachineError as err:
                raise StartupError(prefix + err.message, hint=err.hint) from None
            if obj_id in parsed.object_ids:
                raise StartupError(f"{prefix}Duplicate ID '{obj_id}' for object")
            parsed.object_ids.add(obj_id)
        if "qom-type" not in members:
            raise StartupError(f"{prefix}Parameter 'qom-type' is missing")
        raw = members
        keyval = True
    try:
        validated = validator(raw, keyval=keyval)
    except Exception as err:  # the validator's own error type carries QEMU's text
        message, hint = _error_text(err)
        raise StartupError(prefix + message, hint=hint) from None
    parsed.objects.append((text, validated))


def _parse_device(parsed: _Parsed, text: str) -> None:
    prefix = f"-device {text}: "
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            raise StartupError(f"{prefix}JSON parse error") from None
        if not isinstance(value, dict):
            raise StartupError(f"{prefix}Invalid parameter type, expected: object")
        parsed.json_devices.append((text, value))
        return
    members = _last_wins(parse_qemu_opts(text, "driver"))
    dev_id = members.get("id")
    if dev_id is not None:
        try:
            check_id(dev_id)
        except MachineError as err:
            raise StartupError(prefix + err.message, hint=err.hint) from None
        if dev_id in parsed.device_ids:
            raise StartupError(f"{prefix}Duplicate ID '{dev_id}' for device")
        parsed.device_ids.add(dev_id)
    parsed.devices.append((text, members))


def _parse_smp(text: str) -> int:
    members = _last_wins(parse_qemu_opts(text, "cpus"))
    try:
        return max(1, strtou64(members.get("cpus", "1")))
    except ConversionError:
        raise StartupError(f"-smp {text}: Parameter 'cpus' expects a number") from None


def _parse(options: Sequence[StartupOption], validator: ObjectValidator) -> _Parsed:
    parsed = _Parsed()
    for option in options:
        flag, text = option.flag, option.text
        if flag == "-m":
            parsed.memory.append(text)
            parse_memory_options([text])
        elif flag in ("-machine", "-M"):
            parsed.machine += parse_qemu_opts(text, "type")
        elif flag == "-object":
            _parse_object(parsed, text, validator)
        elif flag == "-device":
            _parse_device(parsed, text)
        elif flag == "-numa":
            parsed.numa.append((text, _last_wins(parse_qemu_opts(text, "type"))))
        elif flag == "-accel":
            parsed.accel.append(_last_wins(parse_qemu_opts(text, "accel")).get("accel", ""))
        elif flag == "-smp":
            parsed.cpus = _parse_smp(text)
        elif flag == "-global":
            parsed.globals.append(parse_global(text))
        elif flag == "-overcommit":
            mem_lock = _parse_overcommit(text)
            if mem_lock is not None:
                parsed.mem_lock = mem_lock
        elif flag == "-S":
            parsed.start_paused = True
        elif flag == "-no-shutdown":
            parsed.no_shutdown = True
    return parsed


# --------------------------------------------------------------------------------------------
# Machine properties
# --------------------------------------------------------------------------------------------

#: ``-machine`` properties accepted and ignored (they do not affect the memory model).
_PASSIVE_MACHINE_PROPS = frozenset(
    {
        "kernel", "initrd", "append", "dtb", "dumpdtb", "firmware", "graphics", "usb",
        "smm", "pit", "pic", "vmport", "hpet", "sata", "i8042", "smbus", "fd-bootchk",
        "suppress-vmdesc", "kernel-irqchip", "dump-guest-core", "mem-merge", "aux-ram-share",
        "x-oem-id", "x-oem-table-id", "default-bus-bypass-iommu", "hmat", "cxl",
        "nvdimm-persistence", "max-fw-size", "smbios-entry-point-type", "bus-lock-ratelimit",
        "pcspk-audiodev", "phandle-start", "memory-encryption", "confidential-guest-support",
        "shim", "sgx-epc", "x-south-bridge",
    }
)  # fmt: skip


def _bool_prop(name: str, value: str) -> bool:
    try:
        return parse_bool(value)
    except ConversionError:
        raise StartupError(f"Parameter '{name}' expects 'on' or 'off'") from None


def _apply_machine_props(
    config: MachineConfig, props: dict[str, str], *, accel_option_given: bool
) -> MachineConfig:
    changes: dict[str, object] = {}
    for key in qdict_order(list(props)):
        value = props[key]
        if key == "nvdimm":
            changes["nvdimm"] = _bool_prop(key, value)
        elif key == "mem-merge":
            changes["mem_merge"] = _bool_prop(key, value)
        elif key == "dump-guest-core":
            changes["dump_guest_core"] = _bool_prop(key, value)
        elif key == "max-ram-below-4g":
            try:
                size = strtosz(value)
            except ConversionError:
                raise StartupError(f"Parameter '{key}' expects size") from None
            if size > 4 << 30:
                raise StartupError(
                    f"Machine option 'max-ram-below-4g={size}' expects size less than or "
                    "equal to 4G"
                )
            changes["max_ram_below_4g"] = size
        elif key == "memory-backend":
            changes["memory_backend"] = value
        elif key == "acpi":
            if value not in ("on", "off", "auto"):
                raise StartupError(f"Parameter '{key}' does not accept value '{value}'")
            changes["acpi"] = value
        elif key == "accel":
            if accel_option_given:
                raise StartupError('The -accel and "-machine accel=" options are incompatible')
        elif key == "type":
            continue
        elif key not in _PASSIVE_MACHINE_PROPS or config.kind is MachineKind.NONE:
            raise StartupError(f"Property '{config.type_name}.{key}' not found")
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]  # typed above


def _select_accel(accels: list[str], machine_accel: str | None, host: HostFacts) -> Accel:
    wanted: list[str] = []
    for item in [*accels, *([machine_accel] if machine_accel else [])]:
        wanted += item.split(":")
    if not wanted:
        return Accel.TCG
    for name in wanted:
        if name == "tcg":
            return Accel.TCG
        if name == "kvm":
            if host.kvm_available:
                return Accel.KVM
            continue
        raise StartupError(f"invalid accelerator {name}")
    raise StartupError("-accel kvm: failed to initialize kvm: No such file or directory")


# --------------------------------------------------------------------------------------------
# The whole sequence
# --------------------------------------------------------------------------------------------


def create_machine(
    options: Sequence[StartupOption],
    *,
    object_validator: ObjectValidator,
    host: HostFacts,
    now: Instant,
    device_types: Sequence[type[Device]] | None = None,
    object_types: Sequence[UserObjectType] | None = None,
    file_probe: FileProbe | None = None,
    chardevs: Sequence[ChardevConfig] = (),
) -> Machine:
    """Build a ready machine from the command line, or raise :class:`StartupError`.

    Args:
        options: the memory-relevant options in command-line order.
        chardevs: the character devices (``-chardev``, ``-qmp``) in creation order, parsed
            and checked by the command line (devices' ``chardev=`` name them).
        object_validator: ``-object`` schema validation (the QAPI runtime's).
        host: host facts (read once by the caller).
        now: creation time.
        device_types: override the device classes (tests).
        object_types: override the non-backend object types (tests).
        file_probe: ``mem-path`` inspection for memory-backend-file.
    """
    parsed = _parse(options, object_validator)
    machine_props = _last_wins(parsed.machine)
    kind, type_name = select_machine_type(machine_props.get("type", "pc"))
    memory_option = parse_memory_options(parsed.memory)
    default_ram = 0 if kind is MachineKind.NONE else DEFAULT_RAM_SIZE
    size = check_memory_size(memory_option, default_ram_size=default_ram)
    config = MachineConfig(
        kind=kind,
        type_name=type_name,
        ram_size=size.ram_size,
        maxram_size=size.maxram_size,
        ram_slots=size.ram_slots,
        cpus=parsed.cpus,
        start_paused=parsed.start_paused,
        no_shutdown=parsed.no_shutdown,
        mem_lock=parsed.mem_lock,
    )
    config = _apply_machine_props(config, machine_props, accel_option_given=bool(parsed.accel))
    accel = _select_accel(parsed.accel, machine_props.get("accel"), host)
    config = dataclasses.replace(config, accel=accel)
    machine = Machine(
        config,
        host=host,
        now=now,
        device_types=device_types,
        object_types=object_types,
        file_probe=file_probe,
        check_layout=False,
    )
    if chardevs:
        registry = machine.component(Chardevs)
        for chardev in chardevs:
            registry.add(chardev)
    _create_objects(machine, parsed)
    config = _resolve_memdev(machine, config, custom_ram_size=memory_option.size is not None)
    config = _numa(machine, config, parsed)
    _board_init(machine, config)
    # pc_init1 creates PIIX4_PM (and applies its globals) after the memory layout checks.
    machine.config = _apply_globals(machine.config, parsed.globals)
    _create_devices(machine, parsed, now)
    machine.mark_ready()
    machine.start(now)
    return machine


def _create_objects(machine: Machine, parsed: _Parsed) -> None:
    for _text, members in parsed.objects:
        props = {k: v for k, v in members.items() if k not in ("qom-type", "id")}
        qom_type = members.get("qom-type")
        obj_id = members.get("id")
        if not isinstance(qom_type, str) or not isinstance(obj_id, str):
            raise StartupError("Parameter 'id' is missing")
        try:
            machine.backends.object_add(qom_type, obj_id, props)
        except MachineError as err:
            raise StartupError(err.message, hint=err.hint) from None


def _resolve_memdev(
    machine: Machine, config: MachineConfig, *, custom_ram_size: bool
) -> MachineConfig:
    if config.memory_backend is None:
        return config
    backend = machine.qom.resolve(config.memory_backend, "memory-backend").obj
    if backend is None:
        raise StartupError(f"Memory backend '{config.memory_backend}' not found")
    assert isinstance(backend, MemoryBackend)
    if not custom_ram_size:
        config = dataclasses.replace(
            config, ram_size=backend.size, maxram_size=max(config.maxram_size, backend.size)
        )
    return config


def _numa(machine: Machine, config: MachineConfig, parsed: _Parsed) -> MachineConfig:
    nodes: list[NumaNode] = []
    for text, members in parsed.numa:
        if members.get("type", "node") != "node":
            continue
        memdev = members.get("memdev")
        if memdev is not None and machine.qom.resolve(memdev, "memory-backend").obj is None:
            raise StartupError(f"-numa {text}: memdev={memdev} is ambiguous")
        nodeid_text = members.get("nodeid")
        nodeid = len(nodes) if nodeid_text is None else strtou64(nodeid_text)
        nodes.append(NumaNode(nodeid=nodeid, memdev=memdev))
    if not nodes:
        return config
    present = {node.nodeid for node in nodes}
    for index in range(max(present), -1, -1):
        if index not in present:
            raise StartupError(f"numa: Node ID missing: {index}")
    total = 0
    for node in nodes:
        if node.memdev is not None:
            backend = machine.backends.get(node.memdev)
            total += backend.size if backend is not None else 0
    if total != config.ram_size:
        raise StartupError(
            f"total memory for NUMA nodes (0x{total:x}) should equal RAM size "
            f"(0x{config.ram_size:x})"
        )
    return dataclasses.replace(config, numa_nodes=tuple(nodes))


#: The chipset device whose ``-global`` properties the memory model honours, per board.
_PIIX4_PM: Final = "PIIX4_PM"
_KNOWN_TYPES: Final = frozenset(QEMU_TYPE_ORDER)


def _apply_globals(config: MachineConfig, globals_: list[GlobalProperty]) -> MachineConfig:
    """Apply the ``-global`` defaults the memory model depends on (board init).

    QEMU applies a global when an object of that type is created (qom/object.c
    ``object_apply_global_props``). pc creates ``PIIX4_PM``, whose
    ``memory-hotplug-support`` decides whether DIMMs can be hot-plugged; its other
    properties, and other types' globals, do not affect the memory model and are accepted
    as they are. QEMU warns, at the end of startup, about globals for unknown types and
    globals no object used (hw/core/qdev-properties.c ``qdev_prop_check_globals``); we log
    those warnings.

    Raises:
        StartupError: ``can't apply global PIIX4_PM.memory-hotplug-support=x: ...``.
    """
    for item in globals_:
        if item.driver not in _KNOWN_TYPES:
            text = f"global {item.driver}.{item.prop} has invalid class name"
            log.warning("qemu.warning", text=text)
        elif item.driver == _PIIX4_PM and config.kind is not MachineKind.PC:
            log.warning("qemu.warning", text=f"global {item} not used")
        elif item.driver == _PIIX4_PM and item.prop == "memory-hotplug-support":
            try:
                enabled = parse_bool(item.value)
            except ConversionError:
                raise StartupError(
                    f"can't apply global {item}: Parameter '{item.prop}' expects 'on' or 'off'"
                ) from None
            config = dataclasses.replace(config, piix4_memory_hotplug_support=enabled)
    return config


def _board_init(machine: Machine, config: MachineConfig) -> None:
    node_memdevs = [n.memdev for n in config.numa_nodes if n.memdev is not None]
    if config.memory_backend is not None:
        backend = machine.qom.resolve(config.memory_backend, "memory-backend").obj
        assert isinstance(backend, MemoryBackend)
        if backend.size != config.ram_size:
            raise StartupError("Machine memory size does not match the size of the memory backend")
        machine.finish_layout(config)
        machine.use_as_ram(backend)
        return
    if node_memdevs:
        machine.finish_layout(config)
        for memdev in node_memdevs:
            node_backend = machine.backends.get(memdev)
            if node_backend is not None:
                node_backend.set_mapped(True)
        return
    machine.config = config
    try:
        machine.create_default_ram()
    except StartupError:
        raise
    except MachineError as err:
        raise StartupError(err.message, hint=err.hint) from None
    machine.finish_layout(config)


def _create_devices(machine: Machine, parsed: _Parsed, now: Instant) -> None:
    work: list[tuple[str, DeviceOptions]] = [
        (text, DeviceOptions(dict(members), InputStyle.KEYVAL)) for text, members in parsed.devices
    ]
    work += [
        (text, DeviceOptions(members, InputStyle.JSON)) for text, members in parsed.json_devices
    ]
    for text, options in work:
        try:
            machine.device_add(options, now)
        except MachineError as err:
            raise StartupError(f"-device {text}: {err.message}", hint=err.hint) from None
