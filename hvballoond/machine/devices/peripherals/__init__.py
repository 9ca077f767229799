"""Inert peripherals a typical libvirt domain has besides memory: USB (``qemu-xhci`` and HID
devices), serial ports (``isa-serial``), virtio-serial (``virtio-serial-pci``,
``virtserialport``, ``virtconsole``) and display adapters (``virtio-vga``,
``virtio-gpu-pci``, ``VGA``, ``bochs-display``).

None of them moves data. They exist in the QOM tree with their ids, buses, PCI addresses and
properties as QEMU 10.0.2 shows them, refuse what QEMU refuses, and take the character devices
they name (``chardev=``, see :mod:`hvballoond.machine.chardev`). ``DEVICE_TYPES`` is what
:mod:`hvballoond.machine.catalog` declares; the package is imported the first time one of
them is used.
"""

from __future__ import annotations

from hvballoond.machine.devices.peripherals.display import (
    BochsDisplay,
    Vga,
    VirtioGpuPci,
    VirtioVga,
)
from hvballoond.machine.devices.peripherals.serial import IsaSerial
from hvballoond.machine.devices.peripherals.usb import QemuXhci, UsbKbd, UsbMouse, UsbTablet
from hvballoond.machine.devices.peripherals.virtio_serial import (
    VirtConsole,
    VirtioSerialPci,
    VirtSerialPort,
)
from hvballoond.machine.qdev import Device

__all__ = [
    "DEVICE_TYPES",
    "BochsDisplay",
    "IsaSerial",
    "QemuXhci",
    "UsbKbd",
    "UsbMouse",
    "UsbTablet",
    "Vga",
    "VirtConsole",
    "VirtSerialPort",
    "VirtioGpuPci",
    "VirtioSerialPci",
    "VirtioVga",
]

DEVICE_TYPES: tuple[type[Device], ...] = (
    QemuXhci,
    UsbTablet,
    UsbKbd,
    UsbMouse,
    IsaSerial,
    VirtioSerialPci,
    VirtSerialPort,
    VirtConsole,
    VirtioVga,
    VirtioGpuPci,
    Vga,
    BochsDisplay,
)
