"""The QOM tree a fresh machine has: ``/``, ``/machine`` with its properties, containers,
the PCI host bridge with its root bus, and ``/objects``.

What is reproduced (checked against ``qom-list`` on the reference binary, recorded in
tests/machine/recorded/qom-tree.txt): the root's children; every ``/machine`` property name
and type, in QEMU's listing order, with QEMU's default values; the containers
``peripheral``, ``peripheral-anon``, ``unattached`` (with ``sysbus``); ``fw_cfg``; the host
bridge (``q35`` / ``i440fx``) and its root bus (``pcie.0`` / ``pci.0``);
``device-memory[0]`` when device memory exists.

What is omitted: the on-board devices under ``/machine/unattached`` (CPU, timers, IRQ objects,
memory regions; of the LPC/PIIX3 bridge only its ``isa.0`` bus exists), the host bridge's many
properties and memory-region children, and the chipset devices on the root bus (their
``child[N]`` links).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from hvballoond.machine.config import MachineKind
from hvballoond.machine.qdev import Bus, Device
from hvballoond.machine.qom import (
    ON_OFF_AUTO,
    BoolCodec,
    HashOrderedContainer,
    Property,
    QomObject,
    container,
)
from hvballoond.wire.values import JSONValue

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["HostBridge", "MachineObject", "build_machine_tree"]

_CHILD = "<child>"

# (name, QOM type, default value) in qom-list order; _CHILD marks where a child goes.
_COMMON_PROPS: Final[tuple[tuple[str, str, JSONValue], ...]] = (
    ("kernel", "string", ""),
    ("dt-compatible", "string", ""),
    ("boot", "BootConfiguration", {"order": "cad"}),
    ("memory", "MemorySizeConfiguration", None),
    ("initrd", "string", ""),
    ("confidential-guest-support", "link<confidential-guest-support>", ""),
    ("aux-ram-share", "bool", False),
    ("graphics", "bool", True),
    ("usb", "bool", False),
    ("firmware", "string", "bios-256k.bin"),
    ("memory-encryption", "string", ""),
    ("dump-guest-core", "bool", None),
    ("smp", "SMPConfiguration", None),
    ("shim", "string", ""),
    (
        "smp-cache",
        "SmpCachePropertiesWrapper",
        [{"cache": c, "topology": "default"} for c in ("l1d", "l1i", "l2", "l3")],
    ),
    ("dumpdtb", "string", ""),
    ("phandle-start", "int", 0),
    ("memory-backend", "link<memory-backend>", None),
    ("mem-merge", "bool", None),
    ("dtb", "string", ""),
    ("append", "string", ""),
    ("suppress-vmdesc", "bool", False),
)

_PC_PROPS: Final[tuple[tuple[str, str, JSONValue], ...]] = (
    ("smm", "OnOffAuto", "auto"),
    ("acpi", "OnOffAuto", None),
    ("pit", "OnOffAuto", "auto"),
    ("pic", "OnOffAuto", "auto"),
    ("x-oem-table-id", "string", "BXPC    "),
    ("bus-lock-ratelimit", "uint64_t", 0),
    ("sgx-epc", "SgxEPC", []),
    ("x-oem-id", "string", "BOCHS "),
    ("max-fw-size", "size", 8388608),
    ("default-bus-bypass-iommu", "bool", False),
    ("sata", "bool", True),
    ("vmport", "OnOffAuto", "on"),
    ("i8042", "bool", True),
    ("hpet", "bool", True),
    ("smbios-entry-point-type", "str", "auto"),
    ("max-ram-below-4g", "size", None),
    ("fd-bootchk", "bool", True),
    ("smbus", "bool", True),
)

_Q35_TAIL: Final[tuple[tuple[str, str, JSONValue], ...]] = (
    ("unattached", _CHILD, None),
    ("fw_cfg", _CHILD, None),
    ("peripheral-anon", _CHILD, None),
    ("nvdimm", "bool", None),
    ("peripheral", _CHILD, None),
    ("q35", _CHILD, None),
    ("nvdimm-persistence", "string", ""),
    ("device-memory[0]", _CHILD, None),
    ("smram", "link<memory-region>", ""),
    ("cxl-fmw", "CXLFixedMemoryWindow", []),
    ("rtc-time", "struct tm", None),
    ("acpi-device", "link<hotplug-handler>", "/machine/unattached/device[2]"),
    ("cxl", "bool", False),
    ("pcspk-audiodev", "str", ""),
    ("hmat", "bool", False),
)

_PC_TAIL: Final[tuple[tuple[str, str, JSONValue], ...]] = (
    ("x-south-bridge", "PCSouthBridgeOption", "piix3"),
    ("unattached", _CHILD, None),
    ("fw_cfg", _CHILD, None),
    ("peripheral-anon", _CHILD, None),
    ("nvdimm", "bool", None),
    ("peripheral", _CHILD, None),
    ("nvdimm-persistence", "string", ""),
    ("smram", "link<memory-region>", ""),
    ("device-memory[0]", _CHILD, None),
    ("cxl-fmw", "CXLFixedMemoryWindow", []),
    ("rtc-time", "struct tm", None),
    ("acpi-device", "link<hotplug-handler>", "/machine/unattached/device[3]/pm"),
    ("cxl", "bool", False),
    ("pcspk-audiodev", "str", ""),
    ("hmat", "bool", False),
    ("i440fx", _CHILD, None),
)

_NONE_TAIL: Final[tuple[tuple[str, str, JSONValue], ...]] = (
    ("peripheral-anon", _CHILD, None),
    ("peripheral", _CHILD, None),
    ("unattached", _CHILD, None),
)


class HostBridge(Device):
    """The PCI host bridge (``/machine/q35`` or ``/machine/i440fx``); not user-creatable."""

    TYPE = "q35-pcihost"
    PARENT = "pcie-host-bridge"
    ABSTRACT = False
    USER_CREATABLE = False


class _I440fxHost(HostBridge):
    TYPE = "i440FX-pcihost"
    PARENT = "pci-host-bridge"


class MachineObject(QomObject):
    """``/machine``: the machine's QOM object with QEMU's property set.

    Writable here: ``nvdimm``, ``mem-merge``, ``dump-guest-core`` (plain flags). The other
    properties are read-only in hvballoond (QEMU lets some be changed after startup with
    odd effects; clients of a memory control plane do not do that).
    """

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine.config.type_name)
        self.machine = machine
        self.nvdimm = machine.config.nvdimm
        self.mem_merge = machine.config.mem_merge
        self.dump_guest_core = machine.config.dump_guest_core

    def value_of(self, name: str, default: JSONValue) -> Callable[[], JSONValue]:
        """The getter for property ``name`` (live values for the memory-related ones)."""
        machine = self.machine
        live: dict[str, Callable[[], JSONValue]] = {
            "memory": lambda: machine.memory_map.memory_property(),
            "dump-guest-core": lambda: self.dump_guest_core,
            "mem-merge": lambda: self.mem_merge,
            "nvdimm": lambda: self.nvdimm,
            "acpi": lambda: machine.config.acpi,
            "max-ram-below-4g": lambda: self._max_ram_below_4g(),
            "smp": lambda: self._smp(),
            "rtc-time": lambda: self._rtc_time(),
        }
        return live.get(name, lambda: default)

    def _max_ram_below_4g(self) -> JSONValue:
        config = self.machine.config
        if config.max_ram_below_4g is not None:
            return config.max_ram_below_4g
        return 4 << 30 if config.kind is MachineKind.Q35 else 0xE0000000

    def _rtc_time(self) -> JSONValue:
        # The guest RTC starts at the host's UTC time when the machine was created; the
        # machine has no clock of its own, so this is that start time.
        moment = datetime.fromtimestamp(self.machine.created_at.wall_ns / 1e9, tz=UTC)
        return {
            "tm_year": moment.year - 1900,
            "tm_mon": moment.month - 1,
            "tm_mday": moment.day,
            "tm_hour": moment.hour,
            "tm_min": moment.minute,
            "tm_sec": moment.second,
        }

    def _smp(self) -> JSONValue:
        cpus = self.machine.config.cpus
        # SMPConfiguration members in schema order.
        return {
            "cpus": cpus,
            "drawers": 1,
            "books": 1,
            "sockets": cpus,
            "dies": 1,
            "clusters": 1,
            "modules": 1,
            "cores": 1,
            "threads": 1,
            "maxcpus": cpus,
        }


def _set_flag(target: MachineObject, attr: str) -> Callable[[bool], None]:
    def apply(value: bool) -> None:
        setattr(target, attr, value)

    return apply


def build_machine_tree(machine: Machine) -> MachineObject:
    """Create ``/``, ``/machine`` and ``/objects`` for ``machine`` and return ``/machine``."""
    root = machine.qom.root
    root.add_child("backend", container())
    mobj = MachineObject(machine)
    root.add_child("machine", mobj)
    root.add_child("objects", machine.backends.objects)
    root.add_child("chardevs", HashOrderedContainer())  # filled by chardev.Chardevs
    kind = machine.config.kind
    if kind is MachineKind.Q35:
        props = (*_COMMON_PROPS, *_PC_PROPS, *_Q35_TAIL)
    elif kind is MachineKind.PC:
        props = (*_COMMON_PROPS, *_PC_PROPS, *_PC_TAIL)
    else:
        props = (*_COMMON_PROPS, *_NONE_TAIL)
    qdev = machine.qdev
    flags = {"nvdimm": "nvdimm", "mem-merge": "mem_merge", "dump-guest-core": "dump_guest_core"}
    for name, qom_type, default in props:
        if qom_type == _CHILD:
            _add_machine_child(machine, mobj, name)
        elif name == "memory-backend":
            mobj.add_property(
                Property("memory-backend", qom_type, link=lambda: machine.ram_backend)
            )
        elif name in flags:
            mobj.add_property(
                Property.typed(
                    name,
                    BoolCodec(),
                    getter=mobj.value_of(name, default),
                    setter=_set_flag(mobj, flags[name]),
                )
            )
        elif qom_type == "OnOffAuto":
            mobj.add_property(
                Property(name, ON_OFF_AUTO.qom_type, getter=mobj.value_of(name, default))
            )
        else:
            mobj.add_property(Property(name, qom_type, getter=mobj.value_of(name, default)))
    if kind is MachineKind.NONE:
        # No chipset: device_add on pc-dimm fails as "can not be hotplugged".
        qdev.unattached.add_child(
            "sysbus", Bus("main-system-bus", "System", hotpluggable=False), qom_type="System"
        )
    return mobj


def _add_isa_bridge(machine: Machine) -> None:
    """The chipset's PCI-ISA bridge as far as ISA devices need it: its ``isa.0`` bus.

    The bridge (q35 ``ICH9-LPC``, pc ``PIIX3``) is otherwise not modelled; it sits at the
    place QEMU creates it, after the CPUs (``/machine/unattached/device[N]``).
    """
    cpus = machine.config.cpus
    if machine.config.kind is MachineKind.Q35:
        bridge, index = QomObject("ICH9-LPC"), cpus + 1
    else:
        bridge, index = QomObject("PIIX3"), cpus + 2
    machine.qdev.unattached.add_child(f"device[{index}]", bridge)
    machine.qdev.add_bus(Bus("isa.0", "ISA", hotpluggable=False), parent=bridge)


def _add_machine_child(machine: Machine, mobj: MachineObject, name: str) -> None:
    qdev = machine.qdev
    if name == "unattached":
        mobj.add_child(name, qdev.unattached)
        if machine.config.kind is not MachineKind.NONE:
            sysbus = Bus("main-system-bus", "System", hotpluggable=False)
            qdev.unattached.add_child("sysbus", sysbus)
            qdev.buses.append(sysbus)
            _add_isa_bridge(machine)
    elif name == "peripheral":
        mobj.add_child(name, qdev.peripheral)
    elif name == "peripheral-anon":
        mobj.add_child(name, qdev.peripheral_anon)
    elif name == "fw_cfg":
        fw_cfg = QomObject("fw_cfg_io")
        mobj.add_child(name, fw_cfg)
    elif name == "device-memory[0]":
        if machine.memory_map.device_memory is not None:
            mobj.add_child(name, QomObject("memory-region"))
    elif name in ("q35", "i440fx"):
        bridge: HostBridge = HostBridge(machine) if name == "q35" else _I440fxHost(machine)
        bridge.realized = True
        mobj.add_child(name, bridge)
        main_bus = qdev.find_bus("main-system-bus")
        if main_bus is not None:
            main_bus.attach(bridge)
        if name == "q35":
            # ich9 ACPI reports the root bus as not hotpluggable (hw/acpi/ich9.c).
            bus = Bus("pcie.0", "PCIE", hotpluggable=False, owner=bridge)
        else:
            bus = Bus("pci.0", "PCI", hotpluggable=True, owner=bridge)
        qdev.add_bus(bus, parent=bridge)
