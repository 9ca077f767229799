"""PCI devices: the ``addr`` (devfn) property, slot allocation on a bus, common properties.

QEMU's ``do_pci_register_device`` (hw/pci/pci.c) picks or checks the device/function number
when a PCI device is realized; its refusals are the ones clients see when a root port is
already taken (``PCI: slot 0 function 0 already occupied by ...``). The chipset devices that
sit on the root bus of a ``-nodefaults`` machine are accounted for so that the first free
slot is the one QEMU picks (q35: 01.0; pc: 02.0).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, TypeVar

from hvballoond.clock import Instant
from hvballoond.machine.config import MachineKind
from hvballoond.machine.devices.common import warn
from hvballoond.machine.devices.guest import device_guest
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import MachineEvent
from hvballoond.machine.qdev import Bus, Device
from hvballoond.machine.qom import (
    BoolCodec,
    Codec,
    EnumCodec,
    InputStyle,
    IntCodec,
    Property,
    SizeCodec,
    StrCodec,
)
from hvballoond.wire.values import JSONValue

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = [
    "BOOL",
    "SIZE",
    "STR",
    "PciDevice",
    "PciSlots",
    "PropSpec",
    "StaticProps",
    "format_devfn",
    "is_downstream_port_bus",
    "parse_devfn",
]

_SLOTS: Final = 32
_FUNCS: Final = 8

# Chipset devices of a -nodefaults machine, as (devfn, QOM type) on the root bus.
_CHIPSET: Final[dict[MachineKind, tuple[tuple[int, str], ...]]] = {
    MachineKind.Q35: ((0x00, "mch"), (0xF8, "ICH9-LPC"), (0xFA, "ich9-ahci"), (0xFB, "ICH9-SMB")),
    MachineKind.PC: ((0x00, "i440FX"), (0x08, "PIIX3"), (0x09, "piix3-ide"), (0x0B, "PIIX4_PM")),
}

# sscanf("%x.%x"): each number may have blanks, a '+' and a 0x prefix before its digits.
_HEX: Final = r"\s*\+?(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)"
_DEVFN_TEXT: Final = re.compile(_HEX + r"(?:\." + _HEX + ")?")


def format_devfn(devfn: int) -> str:
    """``legacy-addr``: ``SS.F`` in hex (``01.0``)."""
    return f"{devfn >> 3:02x}.{devfn & 7:x}"


def parse_devfn(owner_type: str, value: JSONValue | str) -> int:
    """The ``addr`` property setter (hw/core/qdev-properties-system.c ``set_pci_devfn``).

    Raises:
        MachineError: QEMU's messages for bad strings, out-of-range numbers and other types.
    """
    if isinstance(value, str):
        # sscanf("%x.%x") then "%x": hex numbers, optional leading blanks, nothing after.
        match = _DEVFN_TEXT.fullmatch(value)
        if match is None:
            raise MachineError(f"Property '{owner_type}.addr' doesn't take value '{value}'")
        slot = int(match.group(1), 16)
        fn = int(match.group(2), 16) if match.group(2) is not None else 0
        if fn > 7 or slot > 31:
            raise MachineError(f"Property '{owner_type}.addr' doesn't take value '{value}'")
        return slot << 3 | fn
    if isinstance(value, int) and not isinstance(value, bool):
        if not -(1 << 31) <= value < (1 << 31):
            raise MachineError("Parameter 'addr' expects int32_t")
        if value < -1 or value > 255:
            raise MachineError("Parameter 'addr' expects a value between -1 and 255")
        return value
    raise MachineError("Invalid parameter type for 'addr', expected int or str")


#: (name, codec, default) of a plain static property.
PropSpec = tuple[str, "BoolCodec | IntCodec | SizeCodec | StrCodec | EnumCodec", JSONValue]
Scalar = TypeVar("Scalar", bool, int, str)


class StaticProps:
    """qdev static properties with plain values: stored in a dict, settable until realize."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.values: dict[str, JSONValue] = {}

    def add(self, name: str, codec: Codec[Scalar], default: JSONValue) -> None:
        """Declare property ``name`` with ``default``."""
        self.values[name] = default

        def store(value: Scalar) -> None:
            self.values[name] = value

        self.device.add_property(
            Property.typed(
                name,
                codec,
                getter=lambda: self.values[name],
                setter=self.device.static_setter(name, store),
            )
        )

    def add_all(self, table: Sequence[PropSpec]) -> None:
        """Declare several properties (name, codec, default) in order."""
        for name, codec, default in table:
            match codec:
                case BoolCodec():
                    self.add(name, codec, default)
                case IntCodec() | SizeCodec():
                    self.add(name, codec, default)
                case StrCodec() | EnumCodec():
                    self.add(name, codec, default)

    def __getitem__(self, name: str) -> JSONValue:
        return self.values[name]


BOOL: Final = BoolCodec()
STR: Final = StrCodec("str")
SIZE: Final = SizeCodec()

#: PCIDevice properties listed before the ``addr``/``legacy-addr`` pair and between them.
_PCI_HEAD: Final = (
    ("failover_pair_id", STR, ""),
    ("romfile", STR, ""),
    ("x-pcie-ext-tag", BOOL, True),
)
_PCI_MIDDLE: Final = (
    ("romsize", IntCodec.UINT32, 0xFFFFFFFF),
    ("x-pcie-lnksta-dllla", BOOL, True),
    ("rombar", IntCodec.INT32, -1),
    ("x-max-bounce-buffer-size", SIZE, 4096),
    ("x-pcie-ari-nextfn-1", BOOL, False),
    ("x-pcie-err-unc-mask", BOOL, True),
    ("x-pcie-extcap-init", BOOL, True),
    ("busnr", IntCodec.UINT8.with_qom_type("busnr"), 0),
    ("acpi-index", IntCodec.UINT32, 0),
    ("multifunction", BOOL, False),
)


class PciSlots:
    """Which device/function numbers are taken on each PCI bus of a machine (a component)."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._taken: dict[int, dict[int, tuple[str, str | None]]] = {}

    def _bus_map(self, bus: Bus) -> dict[int, tuple[str, str | None]]:
        taken = self._taken.get(id(bus))
        if taken is None:
            taken = {}
            if bus is self.machine.pci_root_bus:
                for devfn, qom_type in _CHIPSET.get(self.machine.kind, ()):
                    taken[devfn] = (qom_type, None)
            self._taken[id(bus)] = taken
        return taken

    def occupant(self, bus: Bus, devfn: int) -> tuple[str, str | None] | None:
        """(QOM type, id) of what sits at ``devfn``, or None."""
        return self._bus_map(bus).get(devfn)

    def choose(self, bus: Bus, device: PciDevice) -> int:
        """The devfn ``device`` gets on ``bus`` (``do_pci_register_device`` checks).

        Raises:
            MachineError: no free slot, slot in use, or function 0 already populated.
        """
        taken = self._bus_map(bus)
        name = device.qom_type
        devfn = device.devfn
        if devfn < 0:
            free = [d for d in range(0, _SLOTS * _FUNCS, _FUNCS) if d not in taken]
            if not free:
                raise MachineError(
                    f"PCI: no slot/function available for {name}, all in use or reserved"
                )
            chosen = free[0]
        else:
            occupant = taken.get(devfn)
            if occupant is not None:
                raise MachineError(
                    f"PCI: slot {devfn >> 3} function {devfn & 7} not available for {name}, "
                    f"in use by {occupant[0]},id={occupant[1] or '(null)'}"
                )
            chosen = devfn
        if device.hotplugged:
            # pci_get_function_0() runs on the *property* value (-1 means slot 31).
            if is_downstream_port_bus(bus):
                function0 = taken.get(0)
                slot0 = 0
            else:
                slot0 = ((devfn & 0xFF) >> 3) << 3
                function0 = taken.get(slot0)
            if function0 is not None:
                raise MachineError(
                    f"PCI: slot {slot0 >> 3} function 0 already occupied by {function0[0]}, "
                    f"new func {name} cannot be exposed to guest."
                )
        return chosen

    def take(self, bus: Bus, devfn: int, device: PciDevice) -> None:
        """Record ``device`` at ``devfn``."""
        self._bus_map(bus)[devfn] = (device.qom_type, device.id)

    def release(self, bus: Bus, devfn: int) -> None:
        """Free ``devfn``."""
        self._bus_map(bus).pop(devfn, None)


def is_downstream_port_bus(bus: Bus) -> bool:
    """True for the secondary bus of a PCIe root/downstream port (one slot only)."""
    return bool(getattr(type(bus.owner), "DOWNSTREAM_PORT", False))


class PciDevice(Device):
    """Base of the PCI devices hvballoond implements (``pci-device``).

    Subclasses call :meth:`add_pci_properties` where QEMU lists the PCIDevice properties
    (right after the DeviceState ones) and then add their own.
    """

    TYPE = "pci-device"
    PARENT = "device"
    ABSTRACT = True
    BUS_TYPE = "PCI"

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.devfn = -1  # the ``addr`` property (-1: automatic)
        self.assigned_devfn: int | None = None
        self._devfn_choice: int | None = None
        self.props = StaticProps(self)

    def add_pci_properties(self) -> None:
        """The PCIDevice properties in QEMU's ``qom-list`` order."""
        self.props.add_all(_PCI_HEAD)
        self.add_property(
            Property(
                "addr",
                "str",
                getter=lambda: self.devfn,
                set_json=self.static_setter("addr", self._set_addr_json),
                set_text=self._set_addr_text,
            )
        )
        self.props.add_all(_PCI_MIDDLE)
        self.add_property(
            Property.read_only("legacy-addr", "str", lambda: format_devfn(max(self.devfn, 0)))
        )

    def _set_addr_json(self, value: JSONValue) -> None:
        self.devfn = parse_devfn(self.qom_type, value)

    def _set_addr_text(self, text: str, style: InputStyle) -> None:
        self.static_setter("addr", self._set_addr_json)(text)

    # -- hooks ------------------------------------------------------------------------------

    def pci_realize(self) -> None:
        """``pci_qdev_realize``'s slot checks; call first in ``realize``."""
        assert self.parent_bus is not None
        self._devfn_choice = self.machine.component(PciSlots).choose(self.parent_bus, self)

    def pci_plug(self) -> None:
        """Commit the devfn chosen in :meth:`pci_realize` (call from ``plug``)."""
        assert self.parent_bus is not None and self._devfn_choice is not None
        self.devfn = self.assigned_devfn = self._devfn_choice
        self.machine.component(PciSlots).take(self.parent_bus, self.devfn, self)
        if is_downstream_port_bus(self.parent_bus) and self.devfn >> 3:
            warn(
                self.machine,
                f"PCI: slot {self.devfn >> 3} is not valid for {self.qom_type}, parent device "
                "only allows plugging into slot 0.",
            )

    def unplug_request(self, now: Instant) -> list[MachineEvent]:
        """An unplug through the bus's hotplug controller (ACPI PCI hotplug,
        hw/acpi/pcihp.c ``acpi_pcihp_device_unplug_request_cb``): the request is recorded and
        the guest ejects the device later, or a system reset completes the removal.

        The request is stamped with the current virtual time: a repeated ``device_del`` is
        refused while the stamp is 0 (requested before the VM ever ran) or in the future.
        """
        self.pending_deleted_event = True
        self.pending_deleted_expires_ms = self.machine.virtual_ms(now)
        device_guest(self.machine).pci_unplug_requested(self, now)
        return []

    def reset(self, now: Instant) -> list[MachineEvent]:
        """System reset carries out a pending removal (``acpi_pcihp_reset``).

        The DEVICE_DELETED events (the device's inner devices first) follow the reply, as
        the deferred finalization does in QEMU.
        """
        if not self.pending_deleted_event:
            return []
        events = self.machine.qdev.finalize(self, now)

        def deliver(_: Instant) -> list[MachineEvent]:
            return events

        self.machine.call_soon(("pcihp-removed", id(self)), deliver, now)
        return []

    def unplug(self, now: Instant) -> list[MachineEvent]:
        """Free the devfn."""
        if self.parent_bus is not None and self.assigned_devfn is not None:
            self.machine.component(PciSlots).release(self.parent_bus, self.assigned_devfn)
            self.assigned_devfn = None
        return []

