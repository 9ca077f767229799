"""USB: the ``qemu-xhci`` controller with its ``usb-bus``, and the HID devices on it
(``usb-tablet``, ``usb-kbd``, ``usb-mouse``) -- hw/usb/hcd-xhci-pci.c, hcd-xhci.c, bus.c,
dev-hid.c.

Inert: no USB traffic. What is kept is what clients see: the controller's inner
``xhci-core`` device and its properties, a bus named ``<id>.0`` with one port per pair of
USB 2/USB 3 ports (``max(p2, p3)``, each at most 15), port assignment (``port=`` names a
free port, otherwise the first free one is taken) and QEMU's refusals. QEMU chains a
``usb-hub`` on when a device without ``port=`` takes the last free port; hvballoond does not
(the device takes that port). Ports only USB 3 (beyond ``p2``) refuse the HID devices, which
are USB 2 at most.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final

from hvballoond.clock import Instant
from hvballoond.machine.devices.common import alias_property
from hvballoond.machine.devices.pci import BOOL, STR, PciDevice, PropSpec, StaticProps
from hvballoond.machine.devices.peripherals.common import (
    AutomaticBusIds,
    InstanceOrder,
    unplug_at_once,
)
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import MachineEvent
from hvballoond.machine.qdev import Bus, Device
from hvballoond.machine.qom import ON_OFF_AUTO, IntCodec, Property, QomObject, QomType

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["QemuXhci", "UsbBus", "UsbKbd", "UsbMouse", "UsbTablet", "XhciCore", "speed_text"]

#: XHCI_MAXPORTS_2 / XHCI_MAXPORTS_3: larger p2/p3 values are clamped.
_MAX_PORTS: Final = 15
#: USB_SPEED_MASK_* and the names QEMU prints for them (hw/usb/bus.c usb_mask_to_str).
_SPEEDS: Final = (("low", 1), ("full", 2), ("high", 4), ("super", 8))
_USB2: Final = 1 | 2 | 4
_USB3: Final = 8


def speed_text(mask: int) -> str:
    """``full+high``, ``super``... as QEMU names a speed mask."""
    return "+".join(name for name, bit in _SPEEDS if mask & bit) or "unknown"


class UsbBus(Bus):
    """A ``usb-bus``: its ports are named ``"1"``..``"N"`` and hold one device each.

    Attributes:
        speeds: each port's speed mask (an XHCI port is USB 2 below ``p2``, USB 3 below
            ``p3``).
    """

    def __init__(self, name: str, *, owner: Device, speeds: list[int]) -> None:
        super().__init__(name, "usb-bus", hotpluggable=True, owner=owner,
                         hotplug_handler=lambda: self)
        self.ports = [str(number) for number in range(1, len(speeds) + 1)]
        self.speeds = dict(zip(self.ports, speeds, strict=True))
        self.used: dict[str, Device] = {}

    def free_port(self, wanted: str | None) -> str | None:
        """``usb_claim_port``: the named port if it is free, else the first free one."""
        free = [port for port in self.ports if port not in self.used]
        if wanted is not None:
            return wanted if wanted in free else None
        return free[0] if free else None


class XhciCore(Device):
    """``base-xhci``: the controller proper, the PCI device's ``xhci-core`` child."""

    TYPE = "base-xhci"
    PARENT = "device"
    ABSTRACT = False
    USER_CREATABLE = False

    def __init__(self, machine: Machine, host: Device) -> None:
        super().__init__(machine)
        self.hotplugged = host.hotplugged
        self.host: Device | None = None
        self.props = StaticProps(self)
        # Class properties in qom-list order; "host" is set when the controller is realized.
        self.add_property(Property("host", "link<device>", link=lambda: self.host))
        self.props.add("p3", IntCodec.UINT32, 4)
        self.props.add("streams", BOOL, True)
        self.add_property(Property("legacy-host", "str"))  # write-only in QEMU
        self.props.add("p2", IntCodec.UINT32, 4)
        self.instances = InstanceOrder()

    def listing_order(self, props: list[Property]) -> list[Property]:
        """Class properties, then the memory regions in QEMU's hash order."""
        return self.instances.arrange(props)

    def realize_ports(self) -> list[int]:
        """``usb_xhci_init``: clamp p2/p3 (the properties keep the clamped values) and
        return the speed mask of each USB port of the bus (``max(p2, p3)`` of them)."""
        for name in ("p2", "p3"):
            value = self.props[name]
            assert isinstance(value, int)
            self.props.values[name] = min(value, _MAX_PORTS)
        p2, p3 = self.props["p2"], self.props["p3"]
        assert isinstance(p2, int) and isinstance(p3, int)
        return [(_USB2 if index < p2 else 0) | (_USB3 if index < p3 else 0)
                for index in range(max(p2, p3))]

    def add_regions(self) -> None:
        """The controller's memory regions, in the order ``usb_xhci_realize`` creates them."""
        p2, p3 = self.props["p2"], self.props["p3"]
        assert isinstance(p2, int) and isinstance(p3, int)
        names = ["xhci[0]", "capabilities[0]", "operational[0]", "runtime[0]", "doorbell[0]"]
        names += [f"usb3 port #{n}[0]" for n in range(1, p3 + 1)]
        names += [f"usb2 port #{n}[0]" for n in range(1, p2 + 1)]
        for name in names:
            self.add_child(name, QomObject("memory-region"))
            self.instances.note(name)


class QemuXhci(PciDevice):
    """``qemu-xhci``: the XHCI controller libvirt uses by default on q35."""

    TYPE = "qemu-xhci"
    PARENT = "pci-xhci"
    ABSTRACT = False
    EXTRA_TYPES = (
        QomType("pci-xhci", "pci-device", abstract=True),
        QomType("base-xhci", "device"),
    )
    _OWN_PROPS: ClassVar[tuple[PropSpec, ...]] = (
        ("msi", ON_OFF_AUTO, "off"),
        ("msix", ON_OFF_AUTO, "auto"),
        ("conditional-intr-mapping", BOOL, False),
    )

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.add_pci_properties()
        self.props.add_all(self._OWN_PROPS)
        self.instances = InstanceOrder()
        self.core = XhciCore(machine, self)
        self.usb_bus: UsbBus | None = None
        # xhci_instance_init: the core, then its properties as aliases (in the order QEMU
        # iterates its class properties: the reverse of their qom-list order).
        self.add_child("xhci-core", self.core)
        self.instances.note("xhci-core")
        for name in ("p2", "legacy-host", "streams", "p3", "host"):
            self.instances.add(self, alias_property(name, self.core.property(name).type,
                                                    self.core))

    def listing_order(self, props: list[Property]) -> list[Property]:
        """Class properties, then the instance ones in QEMU's hash order."""
        return self.instances.arrange(props)

    def realize(self) -> None:
        """PCI slot checks (the port counts are clamped when the bus comes up)."""
        self.pci_realize()

    def _bus_name(self) -> str:
        if self.id is not None:
            return f"{self.id}.0"
        return f"usb-bus.{self.machine.component(AutomaticBusIds).take('usb-bus')}"

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Take the PCI slot, bring up the core and its bus, then the MSI-X regions.

        The bus-master regions come first when the device is hot-plugged; a cold-plugged
        device gets them when the machine is done (hw/pci/pci.c ``pcibus_machine_done``),
        after everything else.
        """
        self.pci_plug()
        if self.hotplugged:
            self._add_bus_master_regions()
        speeds = self.core.realize_ports()
        self.core.host = self
        self.core.realized = True
        self.core.add_regions()
        bus = UsbBus(self._bus_name(), owner=self, speeds=speeds)
        self.machine.qdev.add_bus(bus, parent=self)
        self.instances.note(bus.name)
        self.usb_bus = bus
        for name in ("msix-table[0]", "msix-pba[0]"):
            self.add_child(name, QomObject("memory-region"))
            self.instances.note(name)
        if not self.hotplugged:
            self._add_bus_master_regions()
        return []

    def _add_bus_master_regions(self) -> None:
        for name in ("bus master container[0]", "bus master[0]"):
            self.add_child(name, QomObject("memory-region"))
            self.instances.note(name)


#: The usb-device properties, in qom-list order.
_USB_DEVICE_PROPS: Final[tuple[PropSpec, ...]] = (
    ("pcap", STR, ""),
    ("port", STR, ""),
    ("msos-desc", BOOL, True),
    ("serial", STR, ""),
)


class UsbHid(Device):
    """``usb-hid``: an input device on a USB port (``usb-device`` with HID class data).

    Class attributes:
        DESCRIPTION: the product description QEMU names the device by in errors.
        HID_PROPS: the type's own properties after ``usb_version``.
    """

    TYPE = "usb-hid"
    PARENT = "usb-device"
    ABSTRACT = True
    BUS_TYPE = "usb-bus"
    EXTRA_TYPES = (
        QomType("usb-device", "device", abstract=True),
        QomType("usb-hid", "usb-device", abstract=True),
    )
    DESCRIPTION: ClassVar[str] = ""
    HID_PROPS: ClassVar[tuple[PropSpec, ...]] = ()

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.props = StaticProps(self)
        self.props.add_all(_USB_DEVICE_PROPS)
        self.props.add("usb_version", IntCodec.UINT32, 2)
        self.props.add_all(self.HID_PROPS)
        self.add_property(Property.read_only("attached", "bool", lambda: self.realized))
        self._port: str | None = None

    def realize(self) -> None:
        """``usb_qdev_realize``: claim a port, the HID checks, then the port's speed."""
        bus = self.parent_bus
        assert isinstance(bus, UsbBus)
        wanted = self.props["port"]
        assert isinstance(wanted, str)
        port = bus.free_port(wanted or None)
        if port is None:
            if wanted:
                raise MachineError(f"usb port {wanted} (bus {bus.name}) not found (in use?)")
            raise MachineError(
                f"tried to attach usb device {self.DESCRIPTION} to a bus with no free ports"
            )
        version = self.props["usb_version"]
        if version not in (1, 2):
            raise MachineError(f"Invalid usb version {version} for usb hid device")
        # The USB 1.1 descriptors are full speed only, the USB 2 ones full and high speed.
        speed = 2 if version == 1 else 2 | 4
        if not bus.speeds[port] & speed:
            raise MachineError(
                f'Warning: speed mismatch trying to attach usb device "{self.DESCRIPTION}" '
                f'({speed_text(speed)} speed) to bus "{bus.name}", port "{port}" '
                f"({speed_text(bus.speeds[port])} speed)"
            )
        self._port = port

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Occupy the port."""
        bus = self.parent_bus
        assert isinstance(bus, UsbBus) and self._port is not None
        bus.used[self._port] = self
        return []

    def unplug_request(self, now: Instant) -> list[MachineEvent]:
        """Removed at once; DEVICE_DELETED follows the reply."""
        return unplug_at_once(self, now)

    def unplug(self, now: Instant) -> list[MachineEvent]:
        """Free the port."""
        bus = self.parent_bus
        if isinstance(bus, UsbBus) and self._port is not None:
            bus.used.pop(self._port, None)
        return []


class UsbTablet(UsbHid):
    """``usb-tablet``: absolute pointer (libvirt's ``<input type='tablet' bus='usb'/>``)."""

    TYPE = "usb-tablet"
    PARENT = "usb-hid"
    ABSTRACT = False
    DESCRIPTION = "QEMU USB Tablet"
    HID_PROPS = (("display", STR, ""), ("head", IntCodec.UINT32, 0))


class UsbKbd(UsbHid):
    """``usb-kbd``."""

    TYPE = "usb-kbd"
    PARENT = "usb-hid"
    ABSTRACT = False
    DESCRIPTION = "QEMU USB Keyboard"
    HID_PROPS = (("display", STR, ""),)


class UsbMouse(UsbHid):
    """``usb-mouse``."""

    TYPE = "usb-mouse"
    PARENT = "usb-hid"
    ABSTRACT = False
    DESCRIPTION = "QEMU USB Mouse"
