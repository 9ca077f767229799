"""``virtio-balloon-pci`` and its backend ``virtio-balloon-device`` (balloon.md §2;
hw/virtio/virtio-balloon.c, virtio-balloon-pci.c).

The backend is the machine's balloon handler. The logical size it works with is
``vm_ram_size`` = ``ram_size`` plus realized plain pc-dimms. ``balloon`` sets the number of
pages the guest should hand over (``num_pages`` in config space); ``actual`` is what the guest
driver last wrote back. Without a guest driver (the default), ``actual`` never moves.

``device_del`` is an ACPI PCI unplug: the request is recorded, the simulated guest may
acknowledge it, and a system reset completes it (QEMU 10.0.2 aborts there; we remove the
device, memory-devices.md §6.3 item 7).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, ClassVar, Final

import structlog

from hvballoond.clock import NS_PER_S, Instant
from hvballoond.machine.balloon.core import balloon_core, balloon_guest_config
from hvballoond.machine.balloon.driver import (
    STAT_NAMES,
    VirtioBalloonDriver,
    VirtioBalloonDriverPolicy,
)
from hvballoond.machine.devices.common import memory_devices
from hvballoond.machine.devices.guest import device_guest
from hvballoond.machine.devices.pci import BOOL, PropSpec, is_downstream_port_bus
from hvballoond.machine.devices.virtio import VirtioDevice, VirtioPciProxy
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import BalloonChanged, MachineEvent
from hvballoond.machine.qom import IntCodec, Property, QomObject, QomType
from hvballoond.machine.units import PAGE_SIZE, U64_MAX
from hvballoond.wire.values import JSONObject, JSONValue

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = [
    "VirtioBalloon",
    "VirtioBalloonPci",
    "VirtioBalloonPciNonTransitional",
    "VirtioBalloonPciTransitional",
]

log = structlog.get_logger(__name__)

_U32_MAX: Final = 0xFFFF_FFFF

#: virtio-balloon's own qdev properties, after the VirtIODevice ones (qom-list order).
_BALLOON_FLAGS: Final[tuple[PropSpec, ...]] = (
    ("deflate-on-oom", BOOL, False),
    ("free-page-hint", BOOL, False),
    ("page-poison", BOOL, True),
    ("qemu-4-0-config-size", BOOL, False),
    ("free-page-reporting", BOOL, False),
)


class VirtioBalloon(VirtioDevice):
    """``virtio-balloon-device``: the balloon itself (the proxy's ``virtio-backend``)."""

    TYPE = "virtio-balloon-device"
    PARENT = "virtio-device"
    ABSTRACT = False

    def __init__(self, machine: Machine, proxy: VirtioPciProxy) -> None:
        super().__init__(machine, proxy)
        self.num_pages = 0  # config space: what the host wants ballooned
        self.actual = 0  # config space: what the guest last said it has ballooned
        self.stats: dict[str, int] = dict.fromkeys(STAT_NAMES, U64_MAX)
        self.stats_last_update = 0
        self.stats_poll_interval = 0
        self.iothread: QomObject | None = None
        self.driver: VirtioBalloonDriver | None = None
        self._step_pending = False
        self.add_property(Property("legacy-iothread", "str"))
        self.add_property(
            machine.qom.link_property(
                "iothread",
                "iothread",
                getter=lambda: self.iothread,
                setter=self.link_before_realize("iothread", self._set_iothread),
            )
        )
        self.props.add_all(_BALLOON_FLAGS)
        self.add_property(
            Property.typed(
                "guest-stats-polling-interval",
                IntCodec.INT64.with_qom_type("int"),
                getter=lambda: self.stats_poll_interval,
                setter=self._set_poll_interval,
            )
        )
        self.add_property(Property.read_only("guest-stats", "guest statistics", self._guest_stats))

    def _set_iothread(self, target: QomObject | None) -> None:
        self.iothread = target

    # -- properties -------------------------------------------------------------------------

    def _guest_stats(self) -> JSONValue:
        # balloon_stats_get_all() visits last-update, then the stats in table order.
        stats: JSONObject = {name: self.stats[name] for name in STAT_NAMES}
        return {"last-update": self.stats_last_update, "stats": stats}

    def _set_poll_interval(self, value: int) -> None:
        """balloon_stats_set_poll_interval()."""
        if value < 0:
            raise MachineError("timer value must be greater than zero")
        if value > _U32_MAX:
            raise MachineError("timer value is too big")
        if value == self.stats_poll_interval:
            return
        self.stats_poll_interval = value
        self.machine.cancel_timer(self._key("stats"))
        if value:
            # A new timer fires at once (balloon_stats_change_timer(s, 0)); virtual time 0 is
            # always due, so it runs at the next advance in which the VM runs.
            self._arm_stats(0)

    # -- balloon handler --------------------------------------------------------------------

    def vm_ram_size(self) -> int:
        """``ram_size`` plus realized plain pc-dimms (nvdimm, virtio-mem, hv-balloon not)."""
        return self.machine.config.ram_size + memory_devices(self.machine).dimm_size

    def balloon_to_target(self, target: int, now: Instant) -> list[MachineEvent]:
        """virtio_balloon_to_target(): values above the VM size are clamped."""
        vm_ram_size = self.vm_ram_size()
        target = min(target, vm_ram_size)
        if target:
            self.num_pages = ((vm_ram_size - target) >> 12) & _U32_MAX
            log.info("virtio_balloon.target.set", num_pages=self.num_pages)
            self._config_changed(now)
        return []

    def balloon_actual(self) -> int:
        """virtio_balloon_stat(): the VM size minus what the guest reports ballooned."""
        return self.vm_ram_size() - self.actual * PAGE_SIZE

    # -- the guest driver -------------------------------------------------------------------

    def _key(self, what: str) -> Hashable:
        return ("virtio-balloon", id(self), what)

    def _config_changed(self, now: Instant) -> None:
        if self.driver is not None and not self._step_pending:
            self._schedule_step(now, self.driver.policy.step_delay_ns)

    def _schedule_step(self, now: Instant, delay_ns: int) -> None:
        self._step_pending = True
        at = self.machine.virtual_ns(now) + delay_ns
        self.machine.schedule_guest(at, self._key("step"), self._driver_step)

    def _driver_step(self, now: Instant) -> list[MachineEvent]:
        self._step_pending = False
        driver = self.driver
        if driver is None or not self.realized:
            return []
        if not driver.step(self.num_pages):
            return []
        events = self._guest_writes_actual(driver.pages)
        if driver.pages != self.num_pages:
            self._schedule_step(now, driver.policy.step_delay_ns)
        return events

    def _guest_writes_actual(self, pages: int) -> list[MachineEvent]:
        """virtio_balloon_set_config(): BALLOON_CHANGE when the value changes."""
        old, self.actual = self.actual, pages & _U32_MAX
        if self.actual == old:
            return []
        return [BalloonChanged(self.vm_ram_size() - self.actual * PAGE_SIZE)]

    def start_driver(self, policy: VirtioBalloonDriverPolicy, now: Instant) -> None:
        """The guest booted with a virtio-balloon driver: it binds after its delay.

        The new driver's balloon is empty; QEMU keeps the old ``actual`` until the driver
        writes a new one, and the driver only does when the target is not 0.
        """
        self.driver = VirtioBalloonDriver(policy)
        self._schedule_step(now, policy.start_delay_ns)

    def stop_driver(self) -> None:
        """The guest went away (reset): its driver does nothing more."""
        self.driver = None
        self._step_pending = False
        self.machine.cancel_timer(self._key("step"))

    def _arm_stats(self, at_virtual_ns: int) -> None:
        self.machine.schedule_guest(at_virtual_ns, self._key("stats"), self._poll_stats)

    def _poll_stats(self, now: Instant) -> list[MachineEvent]:
        """balloon_stats_poll_cb(): ask the guest; a driver that answers updates the stats."""
        if not self.stats_poll_interval or not self.realized:
            return []
        driver = self.driver
        if driver is not None and driver.policy.report_stats:
            self.stats.update(driver.stats(self.vm_ram_size()))
            self.stats_last_update = now.wall_ns // NS_PER_S
        self._arm_stats(self.machine.virtual_ns(now) + self.stats_poll_interval * NS_PER_S)
        return []

    # -- lifecycle --------------------------------------------------------------------------

    def realize(self) -> None:
        """virtio_balloon_device_realize() checks, in order."""
        if not balloon_core(self.machine).can_register():
            raise MachineError("Only one balloon device is supported")
        if self.props["free-page-hint"] and self.iothread is None:
            raise MachineError("'free-page-hint' requires 'iothread' to be set")

    def unrealize(self) -> None:
        """Leave the balloon slot; stop the driver and the statistics timer."""
        self.stop_driver()
        self.machine.cancel_timer(self._key("stats"))
        balloon_core(self.machine).unregister(self)


class VirtioBalloonPci(VirtioPciProxy):
    """``virtio-balloon-pci``."""

    TYPE = "virtio-balloon-pci"
    PARENT = "virtio-balloon-pci-base"
    ABSTRACT = False
    BACKEND = VirtioBalloon
    EXTRA_TYPES = (
        QomType("virtio-balloon-pci-base", "virtio-pci", abstract=True),
        QomType("virtio-balloon-device", "virtio-device"),
    )
    #: What "disable-legacy" starts as (virtio_pci_types_register's variants differ here).
    LEGACY_DEFAULT: ClassVar[str] = "auto"
    CLASS_PROPS = (("vectors", IntCodec.UINT32, 0xFFFFFFFF), ("ioeventfd", BOOL, True))
    # qom-list order on the reference binary (tests/machine/recorded/balloon-virtio.txt).
    LAYOUT = (
        "mr:msix-pba[0]",
        "alias:notify_on_empty",
        "alias:page-poison",
        "mr:virtio-balloon-pci-msix[0]",
        "alias:legacy-iothread",
        "alias:iothread",
        "alias:qemu-4-0-config-size",
        "bus",
        "mr:virtio-pci-common-virtio-balloon[0]",
        "alias:in_order",
        "backend",
        "alias:packed",
        "alias:guest-stats-polling-interval",
        "alias:guest-stats",
        "mr:virtio-pci-device-virtio-balloon[0]",
        "alias:use-started",
        "mr:bus master container[0]",
        "alias:use-disabled-flag",
        "alias:iommu_platform",
        "alias:x-disable-legacy-check",
        "mr:virtio-pci-isr-virtio-balloon[0]",
        "alias:any_layout",
        "alias:free-page-hint",
        "alias:free-page-reporting",
        "mr:bus master[0]",
        "mr:virtio-pci-notify-virtio-balloon[0]",
        "mr:virtio-pci-notify-pio-virtio-balloon[0]",
        "mr:virtio-pci[0]",
        "mr:msix-table[0]",
        "alias:queue_reset",
        "alias:deflate-on-oom",
        "alias:event_idx",
        "alias:indirect_desc",
    )
    vdev: VirtioBalloon

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        # Legacy is not forced off as for the modern-only virtio devices.
        self.props.values["disable-legacy"] = self.LEGACY_DEFAULT

    @property
    def balloon(self) -> VirtioBalloon:
        """The backend (the balloon handler)."""
        return self.vdev

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Commit the PCI slot and take the balloon slot."""
        if self.props["disable-legacy"] == "auto":
            # virtio_pci_realize(): "auto" turns legacy off behind a PCIe port only.
            bus = self.parent_bus
            on_port = bus is not None and is_downstream_port_bus(bus)
            self.props.values["disable-legacy"] = "on" if on_port else "off"
        events = super().plug(now)
        balloon_core(self.machine).register(self.vdev)
        if self.machine.guest_booted:
            self._start_guest_driver(now)
        return events

    def _start_guest_driver(self, now: Instant) -> None:
        policy = balloon_guest_config(self.machine).virtio
        if policy is not None:
            self.vdev.start_driver(policy, now)

    def guest_booted(self, now: Instant) -> list[MachineEvent]:
        """The guest (re)booted: its driver binds if it has one."""
        self._start_guest_driver(now)
        return []

    def unplug_request(self, now: Instant) -> list[MachineEvent]:
        """ACPI PCI hotplug: record the request; the guest or a reset completes it."""
        self.pending_deleted_event = True
        self.pending_deleted_expires_ms = self.machine.virtual_ms(now)
        device_guest(self.machine).pci_unplug_requested(self, now)
        return []

    def reset(self, now: Instant) -> list[MachineEvent]:
        """System reset: the guest driver is gone; a pending unplug completes.

        QEMU 10.0.2 aborts when a virtio-balloon-pci unplug is pending at reset; we remove
        the device instead, and its DEVICE_DELETED events follow the reply.
        """
        self.vdev.stop_driver()
        if not self.pending_deleted_event:
            return []
        events = self.machine.qdev.finalize(self, now)

        def deliver(_: Instant) -> list[MachineEvent]:
            return events

        self.machine.call_soon(("pcihp-removed", id(self)), deliver, now)
        return []


class VirtioBalloonPciTransitional(VirtioBalloonPci):
    """``virtio-balloon-pci-transitional``: legacy and modern interfaces both on."""

    TYPE = "virtio-balloon-pci-transitional"
    LEGACY_DEFAULT = "off"


class VirtioBalloonPciNonTransitional(VirtioBalloonPci):
    """``virtio-balloon-pci-non-transitional``: modern interface only."""

    TYPE = "virtio-balloon-pci-non-transitional"
    LEGACY_DEFAULT = "on"
