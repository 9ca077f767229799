"""``pcie-root-port``: a PCIe slot with a hotpluggable secondary bus (hw/pci-bridge/
pcie_root_port.c, gen_pcie_root_port.c).

On q35 the root bus ``pcie.0`` is not hotpluggable, so virtio memory devices added at run
time go onto root ports (``bus=<root port id>``). A root port's bus holds one device (at
slot 0); it is hotpluggable unless ``hotplug=off``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from hvballoond.clock import Instant
from hvballoond.machine.devices.common import memory_region_child
from hvballoond.machine.devices.pci import BOOL, SIZE, PciDevice, PropSpec
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import MachineEvent
from hvballoond.machine.qdev import Bus
from hvballoond.machine.qom import EnumCodec, IntCodec, Property, QomType
from hvballoond.machine.units import U64_MAX

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["ChassisSlots", "PcieRootPort"]

_EBUSY: Final = 16

_ROOT_PORT_PROPS: Final[tuple[PropSpec, ...]] = (
    ("x-pci-express-writeable-slt-bug", BOOL, False),
    ("port", IntCodec.UINT8, 0),
    ("aer_log_max", IntCodec.UINT16, 8),
    ("x-do-not-expose-native-hotplug-cap", BOOL, False),
    ("hotplug", BOOL, True),
    ("slot", IntCodec.UINT16, 0),
    ("chassis", IntCodec.UINT8, 0),
    ("power_controller_present", BOOL, True),
    ("disable-acs", BOOL, False),
    ("mem-reserve", SIZE, U64_MAX),
    ("pref64-reserve", SIZE, U64_MAX),
    ("bus-reserve", IntCodec.UINT32, 0xFFFFFFFF),
    ("x-width", EnumCodec("PCIELinkWidth", ("1", "2", "4", "8", "12", "16", "32")), "32"),
    ("x-migrate-msix", BOOL, True),
    ("io-reserve", SIZE, U64_MAX),
    ("x-speed", EnumCodec("PCIELinkSpeed", ("2_5", "5", "8", "16", "32", "64")), "16"),
    ("pref32-reserve", SIZE, U64_MAX),
)

# Instance entries in qom-list order; "<bus>" is the secondary bus (named after the id).
_LAYOUT: Final = (
    "pci_bridge_pci[0]", "bus master container[0]", "pci_bridge_io[1]", "bus master[0]",
    "pci_bridge_vga_mem[0]", "msix-pba[0]", "msix-table[0]", "pcie-root-port-msix[0]",
    "pci_bridge_vga_io_hi[0]", "pci_bridge_pref_mem[0]", "<bus>", "pci_bridge_mem[0]",
    "pci_bridge_vga_io_lo[0]", "pci_bridge_io[0]",
)


class ChassisSlots:
    """PCIe (chassis, slot) pairs in use (``pcie_chassis_add_slot``), a machine component."""

    def __init__(self, machine: Machine) -> None:
        self.taken: set[tuple[int, int]] = set()
        self.buses = 0  # root-port buses created so far (ACPI PCI hotplug bsel numbers)


class PcieRootPort(PciDevice):
    """``pcie-root-port``."""

    TYPE = "pcie-root-port"
    PARENT = "pcie-root-port-base"
    ABSTRACT = False
    EXTRA_TYPES = (
        QomType("base-pci-bridge", "pci-device", abstract=True),
        QomType("pcie-port", "base-pci-bridge", abstract=True),
        QomType("pcie-slot", "pcie-port", abstract=True),
        QomType("pcie-root-port-base", "pcie-slot", abstract=True),
    )
    #: Its secondary bus has one slot (``pcie_has_upstream_port``).
    DOWNSTREAM_PORT = True

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.add_pci_properties()
        self.props.add_all(_ROOT_PORT_PROPS)
        self.secondary: Bus | None = None

    @property
    def chassis_slot(self) -> tuple[int, int]:
        """The (chassis, slot) pair."""
        chassis, slot = self.props["chassis"], self.props["slot"]
        assert isinstance(chassis, int) and isinstance(slot, int)
        return chassis, slot

    def _build_layout(self) -> Bus:
        """Memory-region children and the secondary bus, in QEMU's listing order."""
        slots = self.machine.component(ChassisSlots)
        name = self.id if self.id is not None else f"pcie.{slots.buses + 1}"
        hotplug = bool(self.props["hotplug"])
        bus = Bus(name, "PCIE", hotpluggable=hotplug, owner=self)
        for entry in _LAYOUT:
            if entry == "<bus>":
                self.add_child(bus.name, bus, qom_type="PCIE")
            else:
                memory_region_child(self, entry)
        return bus

    def realize(self) -> None:
        """PCI slot checks, then the chassis/slot pair must be free."""
        self.pci_realize()
        if self.chassis_slot in self.machine.component(ChassisSlots).taken:
            raise MachineError(f"Can't add chassis slot, error -{_EBUSY}")

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Take the PCI and chassis slots and bring up the secondary bus."""
        self.pci_plug()
        slots = self.machine.component(ChassisSlots)
        slots.taken.add(self.chassis_slot)
        slots.buses += 1
        bsel = slots.buses
        bus = self._build_layout()
        bus.add_property(Property.read_only("acpi-pcihp-bsel", "uint32", lambda: bsel))
        self.machine.qdev.buses.append(bus)
        self.child_buses.append(bus)
        self.secondary = bus
        return []

    def unplug(self, now: Instant) -> list[MachineEvent]:
        """Release the chassis slot (the secondary bus goes with the device)."""
        self.machine.component(ChassisSlots).taken.discard(self.chassis_slot)
        return super().unplug(now)
