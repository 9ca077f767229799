"""virtio-serial: ``virtio-serial-pci`` (backend ``virtio-serial-device`` with its
``virtio-serial-bus``) and the ports on that bus, ``virtserialport`` and ``virtconsole``
(hw/char/virtio-serial-bus.c, virtio-console.c, hw/virtio/virtio-serial-pci.c).

libvirt's guest-agent ``<channel type='unix'>`` is a ``virtserialport`` named
``org.qemu.guest_agent.0`` on ``virtio-serial0.0``, its chardev a listening socket. Inert: no
guest opens a port, so a ``virtserialport``'s chardev reports ``frontend-open`` false (a
``virtconsole`` opens its chardev itself). What is kept: port numbers (``nr``: free ones are
handed out from 1; 0 is a console's), names unique across every virtio-serial device, the
``max_ports`` limit and QEMU's refusals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final

from hvballoond.clock import Instant
from hvballoond.machine.chardev import ChardevSlot
from hvballoond.machine.devices.pci import BOOL, StaticProps
from hvballoond.machine.devices.peripherals.common import AutomaticBusIds, unplug_at_once
from hvballoond.machine.devices.virtio import VirtioDevice, VirtioPciProxy
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import MachineEvent
from hvballoond.machine.qdev import Bus, Device
from hvballoond.machine.qom import IntCodec, Property, QomType, StrCodec

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["VirtConsole", "VirtSerialPort", "VirtioSerial", "VirtioSerialBus", "VirtioSerialPci"]

#: VIRTIO_CONSOLE_BAD_ID: ``nr`` not given.
_NO_ID: Final = 0xFFFFFFFF
#: VIRTIO_QUEUE_MAX / 2 - 1: each port takes two queues, one pair is the control queue.
_MAX_SUPPORTED_PORTS: Final = 511
#: virtio-serial-pci ``class``: anything but these becomes PCI_CLASS_COMMUNICATION_OTHER.
_CLASS_CODES: Final = (0x0780, 0x0380, 0x00FF)


class VirtioSerialBus(Bus):
    """A ``virtio-serial-bus``: the ports of one virtio-serial device."""

    def __init__(self, name: str, backend: VirtioSerial) -> None:
        super().__init__(name, "virtio-serial-bus", hotpluggable=True, owner=backend,
                         hotplug_handler=lambda: backend)
        self.backend = backend

    def ports(self) -> list[VirtSerialPort]:
        """The ports on this bus."""
        return [dev for dev in self.devices if isinstance(dev, VirtSerialPort) and dev.realized]


class VirtioSerial(VirtioDevice):
    """``virtio-serial-device``, the proxy's ``virtio-backend``; it provides the bus."""

    TYPE = "virtio-serial-device"
    PARENT = "virtio-device"

    def __init__(self, machine: Machine, proxy: VirtioPciProxy) -> None:
        super().__init__(machine, proxy)
        self.props.add("max_ports", IntCodec.UINT32, 31)
        self.props.add("emergency-write", BOOL, True)
        self.bus: VirtioSerialBus | None = None

    @property
    def max_ports(self) -> int:
        """``max_ports``."""
        value = self.props["max_ports"]
        assert isinstance(value, int)
        return value

    def realize(self) -> None:
        """``virtio_serial_device_realize``'s checks."""
        if not self.max_ports:
            raise MachineError("Maximum number of serial ports not specified")
        if self.max_ports > _MAX_SUPPORTED_PORTS:
            raise MachineError(f"maximum ports supported: {_MAX_SUPPORTED_PORTS}")

    def add_bus(self) -> None:
        """The bus: ``<proxy id>.0``, or ``virtio-serial-bus.N`` for an id-less proxy."""
        if self.proxy.id is not None:
            name = f"{self.proxy.id}.0"
        else:
            number = self.machine.component(AutomaticBusIds).take("virtio-serial-bus")
            name = f"virtio-serial-bus.{number}"
        self.bus = VirtioSerialBus(name, self)
        self.machine.qdev.add_bus(self.bus, parent=self)


class VirtioSerialPci(VirtioPciProxy):
    """``virtio-serial-pci`` (the transitional generic name)."""

    TYPE = "virtio-serial-pci"
    PARENT = "virtio-serial-pci-base"
    ABSTRACT = False
    BACKEND = VirtioSerial
    TRANSITIONAL = True
    EXTRA_TYPES = (
        QomType("virtio-serial-pci-base", "virtio-pci", abstract=True),
        QomType("virtio-serial-device", "virtio-device"),
    )
    CLASS_PROPS = (
        ("vectors", IntCodec.UINT32, 2),
        ("class", IntCodec.UINT32, 0),
        ("ioeventfd", BOOL, True),
    )
    # qom-list order on the reference binary.
    LAYOUT = (
        "bus", "alias:indirect_desc", "mr:virtio-pci-device-virtio-serial[0]",
        "alias:iommu_platform", "mr:virtio-pci-isr-virtio-serial[0]", "alias:event_idx",
        "alias:max_ports", "mr:msix-table[0]", "mr:virtio-pci-notify-pio-virtio-serial[0]",
        "alias:emergency-write", "mr:virtio-pci[0]", "alias:any_layout",
        "alias:x-disable-legacy-check", "mr:bus master container[0]", "alias:notify_on_empty",
        "alias:queue_reset", "mr:bus master[0]", "alias:packed", "alias:use-started",
        "mr:virtio-pci-common-virtio-serial[0]", "alias:in_order", "mr:msix-pba[0]",
        "mr:virtio-serial-pci-msix[0]", "alias:use-disabled-flag",
        "mr:virtio-pci-notify-virtio-serial[0]", "backend",
    )  # fmt: skip
    vdev: VirtioSerial

    def plug(self, now: Instant) -> list[MachineEvent]:
        """``virtio_serial_pci_realize``: the class code, then the PCI side and the bus."""
        if self.props["class"] not in _CLASS_CODES:
            self.props.values["class"] = 0x0780
        events = super().plug(now)
        self.vdev.add_bus()
        return events


class VirtSerialPort(Device):
    """``virtserialport``: a named port (libvirt's guest-agent channel)."""

    TYPE = "virtserialport"
    PARENT = "virtio-serial-port"
    ABSTRACT = False
    BUS_TYPE = "virtio-serial-bus"
    EXTRA_TYPES = (QomType("virtio-serial-port", "device", abstract=True),)
    #: A console takes port 0 when it is free and opens its chardev itself.
    IS_CONSOLE: ClassVar[bool] = False

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.props = StaticProps(self)
        self.props.add("nr", IntCodec.UINT32, _NO_ID)
        self.port_name: str | None = None
        self.add_property(
            Property.typed("name", StrCodec("str"), getter=lambda: self.port_name or "",
                           setter=self.static_setter("name", self._set_name))
        )
        self.chardev = ChardevSlot(self, opens=self.IS_CONSOLE)
        self._id: int | None = None

    def _set_name(self, name: str) -> None:
        self.port_name = name

    @property
    def port_id(self) -> int:
        """The port number (``nr``)."""
        value = self.props["nr"]
        assert isinstance(value, int)
        return value

    def realize(self) -> None:
        """``virtser_port_device_realize`` then ``virtconsole_realize``."""
        bus = self.parent_bus
        assert isinstance(bus, VirtioSerialBus)
        taken = {port.port_id for port in bus.ports()}
        wanted = self.port_id
        if wanted in taken:
            raise MachineError(f"virtio-serial-bus: A port already exists at id {wanted}")
        if self.port_name is not None and self._name_in_use(self.port_name):
            raise MachineError(
                f"virtio-serial-bus: A port already exists by name {self.port_name}"
            )
        max_ports = bus.backend.max_ports
        if wanted == _NO_ID:
            if self.IS_CONSOLE and 0 not in taken:
                wanted = 0
            else:
                # find_free_port_id: the lowest number not taken in the 32-bit words that
                # cover max_ports (0 is always taken: it is left to consoles), so it may be
                # out of range.
                words = (max_ports + 31) // 32
                free = [n for n in range(1, words * 32) if n not in taken]
                if not free:
                    raise MachineError(
                        "virtio-serial-bus: Maximum port limit for this device reached"
                    )
                wanted = free[0]
        if wanted >= max_ports:
            raise MachineError(
                "virtio-serial-bus: Out-of-range port id specified, max. allowed: "
                f"{max_ports - 1}"
            )
        if wanted == 0 and not self.IS_CONSOLE:
            raise MachineError(
                "Port number 0 on virtio-serial devices reserved for virtconsole devices for "
                "backward compatibility."
            )
        self._id = wanted

    def _name_in_use(self, name: str) -> bool:
        # find_port_by_name looks at the ports of every virtio-serial device.
        return any(
            port.port_name == name
            for bus in self.machine.qdev.buses if isinstance(bus, VirtioSerialBus)
            for port in bus.ports()
        )

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Take the port number; the port becomes its chardev's frontend."""
        assert self._id is not None
        self.props.values["nr"] = self._id
        self.chardev.attach()
        return []

    def unplug_request(self, now: Instant) -> list[MachineEvent]:
        """Removed at once; DEVICE_DELETED follows the reply."""
        return unplug_at_once(self, now)

    def unplug(self, now: Instant) -> list[MachineEvent]:
        """The chardev is free again."""
        self.chardev.detach()
        return []


class VirtConsole(VirtSerialPort):
    """``virtconsole``: a console port (``hvc0`` in a Linux guest)."""

    TYPE = "virtconsole"
    PARENT = "virtserialport"
    IS_CONSOLE = True
