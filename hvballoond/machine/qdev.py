"""The device framework (QEMU's qdev core): device types, buses, device_add / device_del.

Device types are Python subclasses of :class:`Device`; class attributes carry the QOM type
data and instance methods are the hook points the framework calls. A device engineer writes::

    class PcDimm(Device):
        TYPE = "pc-dimm"
        PARENT = "device"
        INTERFACES = ("memory-device",)
        USES_MACHINE_HOTPLUG_HANDLER = True      # pc.c pc_get_hotplug_handler()

        def __init__(self, machine: Machine) -> None:
            super().__init__(machine)
            self.node = 0
            self.add_property(Property.typed("node", IntCodec.UINT32,
                                             getter=lambda: self.node,
                                             setter=self.static_setter("node", self._set_node)))

        def pre_plug(self) -> None: ...          # checks; may raise MachineError
        def realize(self) -> None: ...           # checks; may raise MachineError
        def plug(self, now: Instant) -> list[MachineEvent]: ...   # commit; must not raise

and lists the class in its package's ``DEVICE_TYPES`` tuple (see ``catalog.py``).

Lifecycle, in QEMU's order (system/qdev-monitor.c qdev_device_add_from_qdict,
hw/core/qdev.c device_set_realized):

1. ``device_add`` looks up the driver, then the bus, checks hotplug permission (only once
   the machine is ready), registers the id (``/machine/peripheral/<id>`` or
   ``/machine/peripheral-anon/device[N]``; N is used up even if a later step fails), sets
   the properties (in QDict hash order, like QEMU), then calls
   :meth:`Device.pre_plug` -> :meth:`Device.realize` -> :meth:`Device.plug`.
   If ``pre_plug`` or ``realize`` raise, the device is detached again and nothing else has
   changed: **those two hooks must not change machine state**. ``plug`` commits (claims the
   backend, accounts space, maps the region) and must not fail.
2. ``device_del`` resolves the id (relative to ``/machine/peripheral`` or absolute),
   refuses an unplug already in progress, checks hotplug permission, then calls
   :meth:`Device.unplug_request`. Synchronous types remove the device there (the default);
   asynchronous ones (ACPI DIMMs, PCI) mark it pending and later -- when the simulated guest
   ejects it, or at reset -- call :meth:`Qdev.finalize`.
3. :meth:`Qdev.finalize` removes a device: devices on its child buses first, then
   :meth:`Device.unplug` (undo ``plug``) and :meth:`Device.unrealize`, detaches it, and
   returns DEVICE_DELETED events (inner QOM-child devices such as a virtio proxy's
   ``virtio-backend`` first, then the device itself).

Other hooks: :meth:`Device.reset` (system reset), :meth:`Device.guest_booted` (the simulated
guest finished booting), :meth:`Device.plugged_memory_size` (query-memory-size-summary).
What a memory device maps into guest-physical space is known to the memory-device manager
(``Machine.classify_page``).

Constructors must not change machine state: ``qom-list-properties`` builds a throw-away
instance of a type to list its properties.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypeVar

import structlog

from hvballoond.clock import Instant
from hvballoond.machine.errors import MachineError, NotFoundError
from hvballoond.machine.events import DeviceDeleted, MachineEvent
from hvballoond.machine.qom import (
    HashOrderedContainer,
    HashOrderedObject,
    InputStyle,
    Property,
    QomObject,
    QomType,
    container,
    resolve_path_at,
)
from hvballoond.wire.values import JSONValue

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = [
    "BUS_TYPES",
    "Bus",
    "Device",
    "DeviceOptions",
    "Qdev",
    "qdict_order",
]

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: QOM bus types: (name, parent, abstract). "PCIE" is-a "PCI", so PCI devices go on both.
BUS_TYPES: tuple[QomType, ...] = (
    QomType("bus", "object", abstract=True),
    QomType("System", "bus"),
    QomType("PCI", "bus"),
    QomType("PCIE", "PCI"),
    QomType("virtio-bus", "bus", abstract=True),
    QomType("virtio-pci-bus", "virtio-bus"),
    QomType("vmbus", "bus"),
    QomType("ISA", "bus"),
    QomType("usb-bus", "bus"),
    QomType("virtio-serial-bus", "bus"),
)


def _tdb_hash(key: str) -> int:
    # qobject/qdict.c tdb_hash (machine-memory.md §0.2).
    data = key.encode()
    value = (0x238F13AF * len(data)) & 0xFFFFFFFF
    for i, byte in enumerate(data):
        value = (value + (byte << (i * 5 % 24))) & 0xFFFFFFFF
    return (1103515243 * value + 12345) & 0xFFFFFFFF


def qdict_order(keys: list[str]) -> list[str]:
    """The order in which QEMU iterates a QDict holding ``keys`` (inserted in this order).

    Ascending bucket (``tdb_hash % 512``); within a bucket the later-inserted key first.
    ``device_add`` sets properties in this order, which decides which of several bad
    properties is reported.
    """
    indexed = list(enumerate(keys))
    indexed.sort(key=lambda item: (_tdb_hash(item[1]) % 512, -item[0]))
    return [key for _, key in indexed]


# --------------------------------------------------------------------------------------------
# Buses
# --------------------------------------------------------------------------------------------


class Bus(HashOrderedObject):
    """A qdev bus (``pcie.0``, a root port's ``rp1``, ``vmbus.0``).

    Its properties (``hotplug-handler``, ``realized``, the ``child[N]`` links of the plugged
    devices, ``acpi-pcihp-bsel``) are instance properties, so ``qom-list`` shows them in
    GLib hash order of their names and insertion history (:class:`HashOrderedObject`).

    Attributes:
        name: the bus name used by ``bus=`` and in messages.
        hotpluggable: whether devices may be hot-(un)plugged here (``qbus_is_hotpluggable``).
        owner: the device that provides the bus (None for the main system bus).
        max_devices: capacity (None: unlimited); a full bus is skipped by type lookup.
        has_hotplug_handler: list the ``hotplug-handler`` link (QEMU has it on every bus).
        hotplug_handler: what that link points to (default: nothing).
        devices: the devices plugged into this bus, in plug order.
    """

    def __init__(
        self,
        name: str,
        bus_type: str,
        *,
        hotpluggable: bool,
        owner: Device | None = None,
        max_devices: int | None = None,
        has_hotplug_handler: bool = True,
        hotplug_handler: Callable[[], QomObject | None] | None = None,
    ) -> None:
        super().__init__(bus_type)
        self.name = name
        self.hotpluggable = hotpluggable
        self.owner = owner
        self.max_devices = max_devices
        self.devices: list[Device] = []
        self._link_seq = 0
        # hw/core/bus.c bus_initfn adds the link (on every bus) first, then "realized".
        if has_hotplug_handler:
            self.add_property(
                Property(
                    "hotplug-handler",
                    "link<hotplug-handler>",
                    link=hotplug_handler or (lambda: None),
                )
            )
        self.add_property(Property.read_only("realized", "bool", lambda: True))

    def is_full(self) -> bool:
        """True when no further device fits."""
        return self.max_devices is not None and len(self.devices) >= self.max_devices

    def attach(self, device: Device) -> None:
        """Plug ``device`` into this bus (adds the ``child[N]`` link QEMU shows)."""
        self.devices.append(device)
        device.parent_bus = self
        name = f"child[{self._link_seq}]"
        self._link_seq += 1
        device.bus_link_name = name
        self.add_property(Property(name, f"link<{device.qom_type}>", link=lambda: device))

    def detach(self, device: Device) -> None:
        """Remove ``device`` from this bus."""
        if device in self.devices:
            self.devices.remove(device)
        if device.bus_link_name is not None:
            self.remove_property(device.bus_link_name)
            device.bus_link_name = None
        device.parent_bus = None


# --------------------------------------------------------------------------------------------
# Devices
# --------------------------------------------------------------------------------------------


class Device(QomObject):
    """Base class of every device type. Subclass it; override class data and hooks.

    Class attributes (the QOM type and DeviceClass data):
        TYPE: QOM type name, also the ``driver`` name (``pc-dimm``).
        PARENT: parent QOM type (``device``, ``pci-device``, ``virtio-md-pci``, ...).
        ABSTRACT: abstract types are registered for ``qom-list-types`` but cannot be created.
        INTERFACES: QOM interfaces the type implements (``memory-device``, ...).
        USER_CREATABLE: ``-device``/``device_add`` may create it.
        HOTPLUGGABLE: ``dc->hotpluggable``.
        BUS_TYPE: the bus type the device needs (``PCI``, ``vmbus``), None for bus-less ones.
        USES_MACHINE_HOTPLUG_HANDLER: the machine is its hotplug handler
            (pc.c ``pc_get_hotplug_handler``: DIMMs, virtio-md-pci, ...); a bus-less device
            without it "can not be hotplugged on this machine".
        EXTRA_TYPES: further (usually abstract) QOM types to register with this one, e.g.
            intermediate parents such as ``virtio-md-pci``.

    Instance attributes set by the framework:
        machine: the owning :class:`~hvballoond.machine.machine.Machine`.
        id: the device id, or None for anonymous devices.
        realized: True between a successful plug and finalize.
        hotplugged: created after the machine was ready (every ``device_add``).
        parent_bus: the bus it sits on, if any.
        child_buses: buses this device provides (create them in ``__init__`` or
            ``realize``/``plug`` with :meth:`Qdev.add_bus`).
        pending_deleted_event / pending_deleted_expires_ms: an unplug request is pending
            (``Device <id> is already in the process of unplug`` while the expiry, in
            virtual ms, is 0 or in the future).
    """

    TYPE: ClassVar[str] = "device"
    PARENT: ClassVar[str | None] = "object"
    ABSTRACT: ClassVar[bool] = True
    INTERFACES: ClassVar[tuple[str, ...]] = ()
    USER_CREATABLE: ClassVar[bool] = True
    HOTPLUGGABLE: ClassVar[bool] = True
    BUS_TYPE: ClassVar[str | None] = None
    USES_MACHINE_HOTPLUG_HANDLER: ClassVar[bool] = False
    EXTRA_TYPES: ClassVar[tuple[QomType, ...]] = ()

    def __init__(self, machine: Machine) -> None:
        super().__init__(self.TYPE)
        self.machine = machine
        self.id: str | None = None
        self.realized = False
        self.hotplugged = machine.is_ready
        self.parent_bus: Bus | None = None
        self.bus_link_name: str | None = None
        self.child_buses: list[Bus] = []
        self.pending_deleted_event = False
        self.pending_deleted_expires_ms = 0
        self.add_property(
            Property(
                "parent_bus",
                "link<bus>",
                link=lambda: self.parent_bus,
            )
        )
        self.add_property(Property.read_only("realized", "bool", lambda: self.realized))
        self.add_property(Property.read_only("hotplugged", "bool", lambda: self.hotplugged))
        self.add_property(Property.read_only("hotpluggable", "bool", lambda: self.hotpluggable))

    @classmethod
    def qom_type_info(cls) -> QomType:
        """This class's :class:`QomType`."""
        return QomType(cls.TYPE, cls.PARENT, cls.ABSTRACT, cls.INTERFACES)

    @property
    def hotpluggable(self) -> bool:
        """The ``hotpluggable`` property (hw/core/qdev.c ``device_get_hotpluggable``): the
        class allows hotplug and so does the parent bus (q35's ``pcie.0`` does not)."""
        bus = self.parent_bus
        return type(self).HOTPLUGGABLE and (bus is None or bus.hotpluggable)

    # -- property helpers -------------------------------------------------------------------

    def static_setter(self, name: str, apply: Callable[[T], None]) -> Callable[[T], None]:
        """Wrap a setter so it refuses after realize, as qdev static properties do.

        Message: ``Attempt to set property 'node' on device 'd1' (type 'pc-dimm') after it
        was realized`` (hw/core/qdev-properties.c).
        """

        def guarded(value: T) -> None:
            if self.realized:
                if self.id is not None:
                    raise MachineError(
                        f"Attempt to set property '{name}' on device '{self.id}' "
                        f"(type '{self.qom_type}') after it was realized"
                    )
                raise MachineError(
                    f"Attempt to set property '{name}' on anonymous device "
                    f"(type '{self.qom_type}') after it was realized"
                )
            apply(value)

        return guarded

    def link_before_realize(
        self, name: str, apply: Callable[[QomObject | None], None]
    ) -> Callable[[QomObject | None], None]:
        """Wrap a link setter with ``qdev_prop_allow_set_link_before_realize``."""

        def guarded(target: QomObject | None) -> None:
            if self.realized:
                # QEMU prints the id with %s, so an anonymous device shows "(null)".
                shown = "(null)" if self.id is None else self.id
                raise MachineError(
                    f"Attempt to set link property '{name}' on device '{shown}' "
                    f"(type '{self.qom_type}') after it was realized"
                )
            apply(target)

        return guarded

    # -- hooks (override in device types) ---------------------------------------------------

    def pre_plug(self) -> None:
        """Machine/bus pre-plug checks (hotplug handler ``pre_plug``). Raise to refuse.

        Must not change machine state; may compute and remember values on ``self``
        (an assigned address or slot) for :meth:`plug` to commit.
        """

    def realize(self) -> None:
        """Type-specific realize checks (``DeviceClass.realize``). Raise to refuse.

        Must not change machine state (the framework gives no rollback for this hook).
        """

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Commit the device: claim resources, account, map, notify. Must not raise."""
        return []

    def unplug_request(self, now: Instant) -> list[MachineEvent]:
        """``device_del`` after the generic checks. Raise MachineError to refuse.

        Default: synchronous removal (:meth:`Qdev.finalize`). Asynchronous types mark the
        request (``pending_deleted_event``) and finalize later.
        """
        return self.machine.qdev.finalize(self, now)

    def unplug(self, now: Instant) -> list[MachineEvent]:
        """Undo :meth:`plug` (release backend, space, slot) when the device goes away."""
        return []

    def unrealize(self) -> None:
        """Device-level teardown after :meth:`unplug` (rarely needed)."""

    def reset(self, now: Instant) -> list[MachineEvent]:
        """System reset of this device (called for every realized device, tree order)."""
        return []

    def guest_booted(self, now: Instant) -> list[MachineEvent]:
        """The simulated guest has (re)booted (first ``cont``, reset while running)."""
        return []

    def plugged_memory_size(self) -> int | None:
        """Memory devices: plugged size for query-memory-size-summary; None otherwise."""
        return None

    # -- convenience ------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The canonical QOM path."""
        return self.canonical_path()

    def descendant_devices(self) -> Iterator[Device]:
        """Devices that are QOM descendants of this one (e.g. ``virtio-backend``)."""
        for kid in self.children():
            for node in kid.walk():
                if isinstance(node, Device):
                    yield node


# --------------------------------------------------------------------------------------------
# The manager
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceOptions:
    """One ``device_add`` / ``-device`` request.

    Attributes:
        values: all members, ``driver``/``bus``/``id`` included, in the order given.
        style: ``JSON`` for QMP and JSON ``-device``; ``KEYVAL`` for option strings
            (values are then strings).
    """

    values: Mapping[str, JSONValue]
    style: InputStyle = InputStyle.JSON


class Qdev:
    """A machine's device registry and its device_add / device_del logic."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._classes: dict[str, type[Device]] = {}
        # Declared device types whose classes are imported on first use (see declare()).
        self._deferred: dict[str, Callable[[], Iterable[type[Device]]]] = {}
        self._anon_count = 0
        self.buses: list[Bus] = []
        self.peripheral = HashOrderedContainer()
        self.peripheral_anon = HashOrderedContainer()
        self.unattached = container()

    # -- registry ---------------------------------------------------------------------------

    def register(self, cls: type[Device]) -> None:
        """Make device type ``cls`` known (also registers its QOM types)."""
        for extra in cls.EXTRA_TYPES:
            self.machine.types.register(extra)
        self.machine.types.register(cls.qom_type_info())
        self._classes[cls.TYPE] = cls

    def declare(
        self,
        qom_types: Iterable[QomType],
        drivers: Iterable[str],
        load: Callable[[], Iterable[type[Device]]],
    ) -> None:
        """Make device types known before their classes are imported.

        ``qom_types`` are registered at once; ``load`` is called the first time the class
        of one of ``drivers`` is needed and returns the classes, which are then registered
        like :meth:`register` does (a QOM type that differs from the declared one raises).
        """
        for qom_type in qom_types:
            self.machine.types.register(qom_type)
        for driver in drivers:
            self._deferred[driver] = load

    def device_class(self, driver: str) -> type[Device] | None:
        """The class registered (or declared) for ``driver``."""
        cls = self._classes.get(driver)
        if cls is None and driver in self._deferred:
            for loaded in self._deferred.pop(driver)():
                self._deferred.pop(loaded.TYPE, None)
                self.register(loaded)
            cls = self._classes.get(driver)
        return cls

    # -- buses ------------------------------------------------------------------------------

    def add_bus(self, bus: Bus, *, parent: QomObject) -> Bus:
        """Register ``bus`` and make it a QOM child of ``parent`` named after the bus.

        For a device-provided bus, ``parent`` is the device (a root port ``rp1`` gets the
        child ``/machine/peripheral/rp1/rp1``) and ``bus.owner`` should be that device.
        """
        parent.add_child(bus.name, bus)
        self.buses.append(bus)
        if isinstance(parent, Device):
            parent.child_buses.append(bus)
        return bus

    def remove_bus(self, bus: Bus) -> None:
        """Forget ``bus`` (its devices must be gone already)."""
        if bus in self.buses:
            self.buses.remove(bus)
        if bus.owner is not None and bus in bus.owner.child_buses:
            bus.owner.child_buses.remove(bus)
        if bus.parent is not None and bus.component is not None:
            bus.parent.remove_child(bus.component)

    def find_bus(self, name: str) -> Bus | None:
        """The first bus called ``name``, preferring one that is not full."""
        pick: Bus | None = None
        for bus in self.buses:
            if bus.name == name:
                if not bus.is_full():
                    return bus
                pick = pick or bus
        return pick

    def find_bus_of_type(self, bus_type: str) -> Bus | None:
        """``qbus_find_recursive(NULL, type)``: the first matching bus that is not full."""
        for bus in self.buses:
            if self.machine.types.is_a(bus.qom_type, bus_type) and not bus.is_full():
                return bus
        return None

    def _find_bus_path(self, path: str) -> Bus:
        # system/qdev-monitor.c qbus_find, for the forms clients use: "name", "name/dev/bus".
        parts = [p for p in path.split("/")]
        if path.startswith("/"):
            raise MachineError(f"Bus '{path}' not found")
        first = parts[0]
        bus = self.find_bus(first)
        if bus is None:
            raise MachineError(f"Bus '{first}' not found")
        rest = [p for p in parts[1:] if p]
        while rest:
            dev_name = rest.pop(0)
            dev = next((d for d in bus.devices if d.id == dev_name), None)
            if dev is None:
                dev = next((d for d in bus.devices if d.qom_type == dev_name), None)
            if dev is None:
                raise NotFoundError(f"Device '{dev_name}' not found")
            if not rest:
                if len(dev.child_buses) == 1:
                    bus = dev.child_buses[0]
                    break
                if dev.child_buses:
                    raise MachineError(f"Device '{dev_name}' has multiple child buses")
                raise MachineError(f"Device '{dev_name}' has no child bus")
            bus_name = rest.pop(0)
            child = next((b for b in dev.child_buses if b.name == bus_name), None)
            if child is None:
                raise MachineError(f"Bus '{bus_name}' not found")
            bus = child
        if bus.is_full():
            raise MachineError(f"Bus '{path}' is full")
        return bus

    # -- queries ----------------------------------------------------------------------------

    def devices(self) -> list[Device]:
        """Realized user-visible devices in tree order (peripheral, then anonymous)."""
        out: list[Device] = []
        for root in (self.peripheral, self.peripheral_anon, self.unattached):
            for node in root.walk():
                if isinstance(node, Device) and node.realized:
                    out.append(node)
        return out

    def all_devices(self) -> list[Device]:
        """Every realized device in the machine's tree (inner devices included)."""
        return [
            node
            for node in self.machine.qom.root.walk()
            if isinstance(node, Device) and node.realized
        ]

    def find(self, device_id: str) -> Device | None:
        """The device with id ``device_id``."""
        found = self.peripheral.child(device_id)
        return found if isinstance(found, Device) else None

    # -- device_add -------------------------------------------------------------------------

    def _device_class_for(self, driver: str) -> type[Device]:
        # system/qdev-monitor.c qdev_get_device_class(): unknown or not a device, abstract,
        # not user-creatable (types known only to QOM, such as host bridges, are the last).
        types = self.machine.types
        known = types.get(driver)
        if known is None or not types.is_a(driver, "device"):
            raise MachineError(f"'{driver}' is not a valid device model name")
        if known.abstract:
            raise MachineError("Parameter 'driver' expects a non-abstract device type")
        cls = self.device_class(driver)
        if cls is None or not cls.USER_CREATABLE:
            raise MachineError("Parameter 'driver' expects a pluggable device type")
        return cls

    def check_hotplug_allowed(self, cls: type[Device], bus: Bus | None) -> None:
        """``qdev_hotplug_unplug_allowed_common`` (hw/core/qdev-hotplug.c)."""
        if not cls.HOTPLUGGABLE:
            raise MachineError(f"Device '{cls.TYPE}' does not support hotplugging")
        if bus is not None:
            if not bus.hotpluggable:
                raise MachineError(f"Bus '{bus.name}' does not support hotplugging")
        elif not (cls.USES_MACHINE_HOTPLUG_HANDLER and self.machine.has_hotplug_handler):
            raise MachineError(f"Device '{cls.TYPE}' can not be hotplugged on this machine")

    def device_add(self, options: DeviceOptions, now: Instant) -> tuple[Device, list[MachineEvent]]:
        """Create, realize and plug a device (cold-plug before the machine is ready).

        Raises:
            MachineError / NotFoundError: QEMU's message; nothing changed except that an
                anonymous device number may have been used up.
        """
        values = options.values
        driver = values.get("driver")
        if not isinstance(driver, str):
            raise MachineError("Parameter 'driver' is missing")
        cls = self._device_class_for(driver)
        bus: Bus | None = None
        bus_path = values.get("bus")
        if isinstance(bus_path, str):
            bus = self._find_bus_path(bus_path)
            if cls.BUS_TYPE is None or not self.machine.types.is_a(bus.qom_type, cls.BUS_TYPE):
                raise MachineError(f"Device '{driver}' can't go on {bus.qom_type} bus")
        elif cls.BUS_TYPE is not None:
            bus = self.find_bus_of_type(cls.BUS_TYPE)
            if bus is None:
                raise MachineError(f"No '{cls.BUS_TYPE}' bus found for device '{driver}'")
        if self.machine.is_ready:
            self.check_hotplug_allowed(cls, bus)
        device = cls(self.machine)
        device_id = values.get("id")
        self._set_id(device, device_id if isinstance(device_id, str) else None)
        try:
            props = [k for k in values if k not in ("driver", "bus", "id")]
            for key in qdict_order(props):
                self._set_option(device, key, values[key], options.style)
            if bus is not None:
                bus.attach(device)
            device.pre_plug()
            device.realize()
        except MachineError:
            if device.parent_bus is not None:
                device.parent_bus.detach(device)
            self._unparent(device)
            raise
        device.realized = True
        events = device.plug(now)
        log.info("machine.device.added", driver=driver, path=device.path)
        return device, events

    def _set_id(self, device: Device, device_id: str | None) -> None:
        if device_id is not None:
            if self.peripheral.find_property(device_id) is not None:
                raise MachineError(f"Duplicate device ID '{device_id}'")
            self.peripheral.add_child(device_id, device)
            device.id = device_id
        else:
            name = f"device[{self._anon_count}]"
            self._anon_count += 1
            self.peripheral_anon.add_child(name, device)

    @staticmethod
    def _set_option(device: Device, key: str, value: JSONValue, style: InputStyle) -> None:
        if style is InputStyle.JSON:
            device.set_json(key, value)
        elif isinstance(value, str):
            device.set_text(key, value, style)
        else:
            device.set_json(key, value)

    @staticmethod
    def _unparent(device: Device) -> None:
        parent = device.parent
        if parent is not None and device.component is not None:
            parent.remove_child(device.component)

    # -- device_del -------------------------------------------------------------------------

    def device_del(self, device_id: str, now: Instant) -> list[MachineEvent]:
        """``device_del``: generic checks, then the type's :meth:`Device.unplug_request`."""
        obj = resolve_path_at(self.machine.qom.root, self.peripheral, device_id)
        if obj is None:
            raise NotFoundError(f"Device '{device_id}' not found")
        if not isinstance(obj, Device):
            raise MachineError(f"{device_id} is not a device")
        if obj.pending_deleted_event and (
            obj.pending_deleted_expires_ms == 0
            or obj.pending_deleted_expires_ms > self.machine.virtual_ms(now)
        ):
            raise MachineError(f"Device {device_id} is already in the process of unplug")
        self.check_hotplug_allowed(type(obj), obj.parent_bus)
        return obj.unplug_request(now)

    # -- removal ----------------------------------------------------------------------------

    def finalize(self, device: Device, now: Instant) -> list[MachineEvent]:
        """Remove a realized device for good and report DEVICE_DELETED.

        Call this when an unplug completes (guest ejected it, reset executed a pending PCI
        removal, or a synchronous unplug). Devices on the device's child buses go first.
        """
        if not device.realized:
            return []
        events: list[MachineEvent] = []
        for bus in list(device.child_buses):
            for child in list(bus.devices):
                events += self.finalize(child, now)
        path = device.path
        events += device.unplug(now)
        inner = [d for d in device.descendant_devices() if d.realized]
        for node in inner:
            node.unrealize()
            node.realized = False
        device.unrealize()
        device.realized = False
        for bus in list(device.child_buses):
            self.remove_bus(bus)
        if device.parent_bus is not None:
            device.parent_bus.detach(device)
        # Deepest devices are finalized first (their parent holds the last reference).
        for node in reversed(inner):
            events.append(DeviceDeleted(node.id, node.path))
        self._unparent(device)
        events.append(DeviceDeleted(device.id, path))
        log.info("machine.device.deleted", path=path)
        return events
