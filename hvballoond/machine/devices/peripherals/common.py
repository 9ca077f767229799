"""What the peripherals share: how they list their instance properties, bus numbering, ROMs.

``qom-list`` shows an object's class properties first (a fixed order per type), then its
instance properties -- children, memory regions, aliases of an inner device's properties --
in the reverse of GLib's bucket order of the object's own property table (qom/qom-qmp-cmds.c
``qmp_qom_list`` prepends while iterating). Where that part does not depend on the
configuration it is recorded as a fixed layout (``mr:NAME``, ``alias:NAME``, ``child:NAME``);
where it does (a bus named after the device's id, one memory region per USB port),
:class:`InstanceOrder` replays QEMU's insertion order through the GLib table model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Final

from hvballoond.clock import Instant
from hvballoond.machine.devices.common import alias_property, memory_region_child
from hvballoond.machine.devices.pci import PciDevice
from hvballoond.machine.events import MachineEvent
from hvballoond.machine.glib_hash import ChildOrder
from hvballoond.machine.qdev import Device
from hvballoond.machine.qom import Property, QomObject

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["AutomaticBusIds", "InstanceOrder", "OptionRom", "add_layout", "unplug_at_once"]

_ROMSIZE_UNSET: Final = 0xFFFFFFFF


class InstanceOrder:
    """The instance part of one object's ``qom-list``, in GLib hash order."""

    def __init__(self) -> None:
        self._order = ChildOrder()
        self._names: set[str] = set()

    def note(self, name: str) -> None:
        """Record that the instance property ``name`` was added (in QEMU's order)."""
        self._order.insert(name)
        self._names.add(name)

    def add(self, owner: QomObject, prop: Property) -> None:
        """Add an instance property to ``owner`` and record it."""
        owner.add_property(prop)
        self.note(prop.name)

    def arrange(self, props: list[Property]) -> list[Property]:
        """``props`` (insertion order) as qom-list shows them: class part, then instances."""
        head = [prop for prop in props if prop.name not in self._names]
        by_name = {prop.name: prop for prop in props}
        tail = [by_name[name] for name in reversed(self._order.order()) if name in by_name]
        return head + tail


def add_layout(
    owner: QomObject,
    entries: Iterable[str],
    *,
    alias_of: QomObject | None = None,
    special: Mapping[str, Callable[[], None]] | None = None,
) -> None:
    """Add a recorded layout's entries to ``owner`` in order.

    ``mr:NAME`` is a memory-region child, ``alias:NAME`` an alias of ``alias_of``'s property
    of the same name; any other entry is looked up in ``special``.
    """
    for entry in entries:
        kind, _, name = entry.partition(":")
        if kind == "mr":
            memory_region_child(owner, name)
        elif kind == "alias":
            assert alias_of is not None
            owner.add_property(alias_property(name, alias_of.property(name).type, alias_of))
        elif special is not None and entry in special:
            special[entry]()
        else:
            raise ValueError(f"unknown layout entry {entry!r}")


class AutomaticBusIds:
    """``bc->automatic_ids`` (hw/core/bus.c): the number of the next bus of a type whose
    device has no id (``usb-bus.0``, ``virtio-serial-bus.1``); a machine component."""

    def __init__(self, machine: Machine) -> None:
        self._next: dict[str, int] = {}

    def take(self, bus_type: str) -> int:
        """Take the next number for ``bus_type``."""
        number = self._next.get(bus_type, 0)
        self._next[bus_type] = number + 1
        return number


class OptionRom:
    """A PCI device's option ROM (hw/pci/pci.c ``pci_add_option_rom``): the class names a
    firmware file, and realize sizes ``romsize`` from it unless ``romfile`` was changed or
    ``romsize`` given. hvballoond reads no file: the size is QEMU's for its shipped ROM."""

    def __init__(self, device: PciDevice, romfile: str, size: int) -> None:
        self._device = device
        self._romfile = romfile
        self._size = size
        device.props.values["romfile"] = romfile

    def load(self) -> None:
        """At realize: size the ROM."""
        values = self._device.props.values
        if values["romfile"] == self._romfile and values["romsize"] == _ROMSIZE_UNSET:
            values["romsize"] = self._size


def unplug_at_once(device: Device, now: Instant) -> list[MachineEvent]:
    """``device_del`` of a device whose bus removes it synchronously (USB, virtio-serial).

    The device is gone when the reply is sent, but QEMU's DEVICE_DELETED comes after the
    reply (the object is finalized once the last reference goes), as recorded.
    """
    events = device.machine.qdev.finalize(device, now)

    def deliver(_: Instant) -> list[MachineEvent]:
        return events

    device.machine.call_soon(("device-deleted", id(device)), deliver, now)
    return []
