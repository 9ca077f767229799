"""``isa-serial``: a 16550A UART on the chipset's ISA bus (hw/char/serial-isa.c, serial.c).

libvirt's ``<serial type='pty'>`` becomes ``-chardev pty,id=charserial0 -device
isa-serial,chardev=charserial0,id=serial0,index=0``. Inert: no byte moves. What is kept:
the inner ``serial`` device that holds the ``chardev`` (so errors name type ``serial``), the
port index with QEMU's I/O base and IRQ per index, and the limit of four ports. Like QEMU,
the index counter counts every realized port, also those given an explicit ``index``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from hvballoond.clock import Instant
from hvballoond.machine.chardev import ChardevSlot
from hvballoond.machine.devices.pci import BOOL, StaticProps
from hvballoond.machine.devices.peripherals.common import add_layout
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import MachineEvent
from hvballoond.machine.qdev import Device
from hvballoond.machine.qom import IntCodec, QomType

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["IsaSerial", "SerialCore"]

_UNSET: Final = 0xFFFFFFFF  # -1 in a uint32 property: "pick from the index"
#: MAX_ISA_SERIAL_PORTS, and each index's I/O base and IRQ (isa_serial_io/isa_serial_irq).
_MAX_PORTS: Final = 4
_IOBASE: Final = (0x3F8, 0x2F8, 0x3E8, 0x2E8)
_IRQ: Final = (4, 3, 4, 3)

#: The instance entries in qom-list order (recorded on the reference binary).
_LAYOUT: Final = ("mr:serial[0]", "alias:wakeup", "alias:chardev", "alias:baudbase", "serial")


class SerialCore(Device):
    """``serial``: the UART, ``isa-serial``'s child ``serial``; it owns the chardev."""

    TYPE = "serial"
    PARENT = "device"
    ABSTRACT = False
    USER_CREATABLE = False

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.props = StaticProps(self)
        self.props.add("wakeup", BOOL, False)
        # serial_realize: the UART always opens its chardev.
        self.chardev = ChardevSlot(self, opens=True)
        self.props.add("baudbase", IntCodec.UINT32, 115200)


class _IsaSerialIndex:
    """serial-isa.c's ``static int index``: ports realized so far (a machine component)."""

    def __init__(self, machine: Machine) -> None:
        self.next = 0


class IsaSerial(Device):
    """``isa-serial``."""

    TYPE = "isa-serial"
    PARENT = "isa-device"
    ABSTRACT = False
    BUS_TYPE = "ISA"
    EXTRA_TYPES = (
        QomType("isa-device", "device", abstract=True),
        QomType("serial", "device"),
    )

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.props = StaticProps(self)
        self.props.add("irq", IntCodec.UINT32, _UNSET)
        self.props.add("index", IntCodec.UINT32, _UNSET)
        self.props.add("iobase", IntCodec.UINT32, _UNSET)
        self.uart = SerialCore(machine)
        self.uart.hotplugged = self.hotplugged
        add_layout(self, _LAYOUT, alias_of=self.uart,
                   special={"serial": lambda: self.add_child("serial", self.uart)})
        self._index: int | None = None

    def realize(self) -> None:
        """``serial_isa_realizefn``: the index (the next one unless given) must be < 4."""
        index = self.props["index"]
        assert isinstance(index, int)
        if index == _UNSET:
            index = self.machine.component(_IsaSerialIndex).next
        if index >= _MAX_PORTS:
            raise MachineError(
                f"Max. supported number of ISA serial ports is {_MAX_PORTS}."
            )
        self._index = index

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Fix index, I/O base and IRQ; the UART takes its chardev."""
        assert self._index is not None
        values = self.props.values
        values["index"] = self._index
        if values["iobase"] == _UNSET:
            values["iobase"] = _IOBASE[self._index]
        if values["irq"] == _UNSET:
            values["irq"] = _IRQ[self._index]
        self.machine.component(_IsaSerialIndex).next += 1
        self.uart.realized = True
        self.uart.chardev.attach()
        return []

    def unplug(self, now: Instant) -> list[MachineEvent]:
        """The chardev is free again."""
        self.uart.chardev.detach()
        return []
