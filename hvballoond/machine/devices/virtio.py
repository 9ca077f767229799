"""virtio PCI proxies and the virtio-based memory devices (hw/virtio/virtio-pci.c,
virtio-md-pci.c).

A ``virtio-*-pci`` device is a PCI *proxy* with the actual virtio device as its QOM child
``virtio-backend`` (on the proxy's ``virtio-bus``). The proxy re-exports the backend's
properties as aliases, so errors name the backend type (``Property 'virtio-mem.size' is
not writable``). Removing the proxy gives two DEVICE_DELETED events, backend first.

:class:`VirtioMdPci` is the memory-device proxy (virtio-mem-pci, virtio-pmem-pci): pre-plug
runs the memory-device checks, and an unplug goes through ACPI PCI hotplug: the request is
recorded (``pending_deleted_event``), the guest acknowledges it (or not), and a system reset
carries out pending removals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final

from hvballoond.clock import Instant
from hvballoond.machine.backends import MemoryBackend
from hvballoond.machine.devices.common import (
    alias_property,
    memory_devices,
    memory_region_child,
    warn,
)
from hvballoond.machine.devices.pci import (
    BOOL,
    PciDevice,
    PropSpec,
    StaticProps,
    is_downstream_port_bus,
)
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import MachineEvent
from hvballoond.machine.memdev.device import DeviceRegion, MemoryDevice
from hvballoond.machine.qdev import Bus, Device
from hvballoond.machine.qom import ON_OFF_AUTO, QomType

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = [
    "VIRTIO_DEVICE_PROPS",
    "VIRTIO_PCI_PROPS",
    "VIRTIO_TYPES",
    "VirtioDevice",
    "VirtioMdDevice",
    "VirtioMdPci",
    "VirtioPciProxy",
]

#: VirtIODevice properties, in the backend's qom-list order.
VIRTIO_DEVICE_PROPS: Final[tuple[PropSpec, ...]] = (
    ("use-disabled-flag", BOOL, True),
    ("queue_reset", BOOL, True),
    ("packed", BOOL, False),
    ("in_order", BOOL, False),
    ("iommu_platform", BOOL, False),
    ("event_idx", BOOL, True),
    ("x-disable-legacy-check", BOOL, False),
    ("notify_on_empty", BOOL, True),
    ("any_layout", BOOL, True),
    ("use-started", BOOL, True),
    ("indirect_desc", BOOL, True),
)

#: VirtIOPCIProxy properties listed after the PCIDevice ones.
VIRTIO_PCI_PROPS: Final[tuple[PropSpec, ...]] = (
    ("aer", BOOL, False),
    ("migrate-extra", BOOL, True),
    ("ats", BOOL, False),
    ("x-ignore-backend-features", BOOL, False),
    ("x-pcie-pm-init", BOOL, True),
    ("x-pcie-pm-no-soft-reset", BOOL, False),
    ("x-pcie-flr-init", BOOL, True),
    ("x-pcie-lnkctl-init", BOOL, True),
    ("x-ats-page-aligned", BOOL, True),
    ("page-per-vq", BOOL, False),
    ("x-pcie-deverr-init", BOOL, True),
    ("virtio-pci-bus-master-bug-migration", BOOL, False),
    ("modern-pio-notify", BOOL, False),
    ("x-disable-pcie", BOOL, False),
)

#: Abstract parents registered with the concrete types (qom-list-types).
VIRTIO_TYPES: Final = (
    QomType("virtio-device", "device", abstract=True),
    QomType("virtio-pci", "pci-device", abstract=True),
    QomType("virtio-md-pci", "virtio-pci", abstract=True, interfaces=("memory-device",)),
)


class VirtioDevice(Device):
    """A virtio device living inside a PCI proxy (``virtio-backend``)."""

    TYPE = "virtio-device"
    PARENT = "device"
    ABSTRACT = True
    USER_CREATABLE = False
    HOTPLUGGABLE = False
    BUS_TYPE = "virtio-bus"

    def __init__(self, machine: Machine, proxy: VirtioPciProxy) -> None:
        super().__init__(machine)
        self.proxy = proxy
        self.hotplugged = proxy.hotplugged
        self.props = StaticProps(self)
        self.props.add_all(VIRTIO_DEVICE_PROPS)


class VirtioMdDevice(VirtioDevice):
    """A virtio device that maps a memory backend at an address (virtio-mem, virtio-pmem)."""

    TYPE = "virtio-md-device"
    ABSTRACT = True

    def __init__(self, machine: Machine, proxy: VirtioPciProxy) -> None:
        super().__init__(machine, proxy)
        self.memdev: MemoryBackend | None = None
        self.addr = 0


class VirtioPciProxy(PciDevice):
    """Base of the ``virtio-*-pci`` proxies.

    Class attributes:
        BACKEND: the virtio device class the proxy wraps.
        CLASS_PROPS: the proxy type's own static properties (after the virtio-pci ones).
        LAYOUT: the instance entries in qom-list order: ``alias:<name>``, ``mr:<name>``
            (memory-region child), ``bus`` (``virtio-bus``), ``backend``
            (``virtio-backend``), or a name the subclass adds in :meth:`add_layout_entry`.
        TRANSITIONAL: the generic name of a device that also speaks legacy virtio
            (``virtio-rng-pci``): ``disable-legacy`` is ``auto`` until realize, which turns
            legacy off behind a PCIe port only. Modern-only proxies show ``on``.
    """

    TYPE = "virtio-pci"
    PARENT = "pci-device"
    BACKEND: ClassVar[type[VirtioDevice]]
    CLASS_PROPS: ClassVar[tuple[PropSpec, ...]] = ()
    LAYOUT: ClassVar[tuple[str, ...]] = ()
    TRANSITIONAL: ClassVar[bool] = False

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.vdev = self.BACKEND(machine, self)
        self.virtio_bus = Bus("virtio-bus", "virtio-pci-bus", hotpluggable=False, owner=self)
        self.add_pci_properties()
        self.props.add_all(VIRTIO_PCI_PROPS)
        self.props.add_all(self.CLASS_PROPS)
        # virtio_pci_force_virtio_1(): modern-only proxies show disable-legacy=on.
        self.props.add("disable-legacy", ON_OFF_AUTO, "auto" if self.TRANSITIONAL else "on")
        self.props.add("disable-modern", BOOL, False)
        for entry in self.LAYOUT:
            kind, _, name = entry.partition(":")
            if kind == "alias":
                source = self.vdev.property(name)
                self.add_property(alias_property(name, source.type, self.vdev))
            elif kind == "mr":
                memory_region_child(self, name)
            elif entry == "bus":
                self.add_child("virtio-bus", self.virtio_bus, qom_type="virtio-pci-bus")
                self.child_buses.append(self.virtio_bus)
                self.virtio_bus.attach(self.vdev)
            elif entry == "backend":
                self.add_child("virtio-backend", self.vdev)
            else:
                self.add_layout_entry(entry)

    def add_layout_entry(self, name: str) -> None:
        """Subclasses add the special instance properties their LAYOUT names."""
        raise ValueError(f"unknown layout entry {name!r}")

    def realize(self) -> None:
        """PCI slot checks, then the backend's realize checks."""
        self.pci_realize()
        self.vdev.realize()

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Commit the PCI slot; the backend is realized together with the proxy."""
        if self.TRANSITIONAL and self.props["disable-legacy"] == "auto":
            # virtio_pci_realize(): "auto" turns legacy off behind a PCIe port only.
            bus = self.parent_bus
            on_port = bus is not None and is_downstream_port_bus(bus)
            self.props.values["disable-legacy"] = "on" if on_port else "off"
        self.pci_plug()
        self.vdev.realized = True
        return []


class VirtioMdPci(VirtioPciProxy, MemoryDevice):
    """``virtio-md-pci``: a virtio proxy that is also a memory device.

    Subclasses set UNPLUGGABLE and implement :meth:`unplug_request_check` when they can be
    removed (virtio-mem-pci); the backend must expose ``memdev`` and ``addr``.
    """

    TYPE = "virtio-md-pci"
    PARENT = "virtio-pci"
    INTERFACES = ("memory-device",)
    USES_MACHINE_HOTPLUG_HANDLER = True
    EXTRA_TYPES: ClassVar[tuple[QomType, ...]] = VIRTIO_TYPES
    UNPLUGGABLE: ClassVar[bool] = False
    BACKEND: ClassVar[type[VirtioMdDevice]]
    vdev: VirtioMdDevice

    @property
    def memdev(self) -> MemoryBackend | None:
        """The backend's ``memdev``."""
        return self.vdev.memdev

    # -- memory-device hooks (the backend holds the state) ----------------------------------

    def md_id(self) -> str | None:
        return self.id

    def md_region(self) -> DeviceRegion | None:
        backend = self.memdev
        if backend is None:
            raise MachineError("'memdev' property must be set")
        return DeviceRegion(backend.size, backend.alignment)

    def md_addr(self) -> int:
        return self.vdev.addr

    def md_set_addr(self, addr: int) -> None:
        self.vdev.addr = addr

    def plugged_memory_size(self) -> int | None:
        """query-memory-size-summary."""
        return self.md_plugged_size()

    # -- qdev hooks -------------------------------------------------------------------------

    def pre_plug(self) -> None:
        """``virtio_md_pci_pre_plug``: bus check, then the generic memory-device pre-plug."""
        bus = self.parent_bus
        if self.hotplugged and (bus is None or not bus.hotpluggable):
            raise MachineError(
                "hotplug of virtio based memory devices not supported on this bus."
            )
        warnings: list[str] = []
        try:
            memory_devices(self.machine).pre_plug(self, warnings=warnings)
        finally:
            for text in warnings:
                warn(self.machine, text)

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Map the backend, account the region, then the PCI side."""
        events = super().plug(now)
        backend = self.memdev
        assert backend is not None
        backend.set_mapped(True)
        memory_devices(self.machine).plug(self)
        return events

    def unplug_request_check(self) -> None:
        """Type-specific refusals before an unplug request (virtio-mem)."""

    def unplug_request(self, now: Instant) -> list[MachineEvent]:
        """``virtio_md_pci_unplug_request`` + ACPI PCI hotplug's request."""
        if not self.UNPLUGGABLE:
            raise MachineError("this virtio based memory devices cannot be unplugged")
        bus = self.parent_bus
        if bus is None or not bus.hotpluggable:
            raise MachineError(
                "hotunplug of virtio based memory devices notsupported on this bus"
            )
        self.unplug_request_check()
        return super().unplug_request(now)

    def unplug(self, now: Instant) -> list[MachineEvent]:
        """Release the region and the backend, then the PCI slot."""
        memory_devices(self.machine).unplug(self)
        backend = self.memdev
        if backend is not None:
            backend.set_mapped(False)
        return super().unplug(now)

    def reset(self, now: Instant) -> list[MachineEvent]:
        """System reset carries out a pending PCI removal.

        QEMU 10.0.2 aborts here for virtio-mem-pci (memory-devices.md §6.3); we complete the
        removal like for any other PCI device.
        """
        return super().reset(now)
