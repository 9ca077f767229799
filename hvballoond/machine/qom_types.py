"""The QOM types every machine registers before its device packages add theirs.

Only types a memory control-plane client can meet are listed: the object/device roots, the
machine types, buses, host bridges, containers, chardevs, interfaces used by ``qom-list-types
implements=...`` and the abstract parents the device packages share. Device packages add
their own types (and any further abstract parents) through ``Device.EXTRA_TYPES``.
"""

from __future__ import annotations

from typing import Final

from hvballoond.machine.chardev import CHARDEV_TYPES
from hvballoond.machine.config import MachineConfig, MachineKind
from hvballoond.machine.qdev import BUS_TYPES
from hvballoond.machine.qom import QomType, TypeRegistry
from hvballoond.machine.rng import RNG_BACKEND_TYPES

__all__ = ["CORE_TYPES", "MACHINE_VERSIONS", "machine_type_name", "register_core_types"]

#: Machine type versions the reference binary accepts for pc-q35-X.Y / pc-i440fx-X.Y.
MACHINE_VERSIONS: Final = (
    "2.4", "2.5", "2.6", "2.7", "2.8", "2.9", "2.10", "2.11", "2.12",
    "3.0", "3.1", "4.0", "4.0.1", "4.1", "4.2", "5.0", "5.1", "5.2",
    "6.0", "6.1", "6.2", "7.0", "7.1", "7.2", "8.0", "8.1", "8.2",
    "9.0", "9.1", "9.2", "10.0",
)  # fmt: skip

CORE_TYPES: Final = (
    QomType("object", None, abstract=True),
    QomType("interface", None, abstract=True),
    QomType("user-creatable", "interface", abstract=True),
    QomType("hotplug-handler", "interface", abstract=True),
    QomType("memory-device", "interface", abstract=True),
    QomType("container", "object"),
    QomType("memory-region", "object"),
    QomType("thread-context", "object", interfaces=("user-creatable",)),
    QomType("device", "object", abstract=True),
    QomType("sys-bus-device", "device", abstract=True),
    QomType("pci-device", "device", abstract=True),
    QomType("virtio-device", "device", abstract=True),
    QomType("virtio-pci", "pci-device", abstract=True),
    QomType("vmbus-dev", "device", abstract=True),
    QomType("fw_cfg", "sys-bus-device", abstract=True),
    QomType("fw_cfg_io", "fw_cfg"),
    QomType("pci-host-bridge", "sys-bus-device", abstract=True),
    QomType("pcie-host-bridge", "pci-host-bridge", abstract=True),
    QomType("q35-pcihost", "pcie-host-bridge"),
    QomType("i440FX-pcihost", "pci-host-bridge"),
    QomType("machine", "object", abstract=True),
    QomType("x86-machine", "machine", abstract=True, interfaces=("hotplug-handler",)),
    QomType("generic-pc-machine", "x86-machine", abstract=True),
    QomType("none-machine", "machine"),
)


def machine_type_name(kind: MachineKind, version: str = "10.0") -> str:
    """``pc-q35-10.0-machine``, ``pc-i440fx-9.2-machine``, ``none-machine``."""
    if kind is MachineKind.NONE:
        return "none-machine"
    family = "pc-q35" if kind is MachineKind.Q35 else "pc-i440fx"
    return f"{family}-{version}-machine"


def register_core_types(types: TypeRegistry, config: MachineConfig) -> None:
    """Register the core types, the bus types and every pc/q35 machine type."""
    for qom_type in (*CORE_TYPES, *RNG_BACKEND_TYPES, *CHARDEV_TYPES):
        types.register(qom_type)
    for bus_type in BUS_TYPES:
        types.register(bus_type)
    for version in MACHINE_VERSIONS:
        for kind in (MachineKind.Q35, MachineKind.PC):
            types.register(QomType(machine_type_name(kind, version), "generic-pc-machine"))
    if config.type_name not in types:
        types.register(QomType(config.type_name, "generic-pc-machine"))
