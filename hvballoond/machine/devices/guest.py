"""The simulated guest OS, as far as memory devices are concerned (memory-devices.md §8).

The default policy is *no guest OS*: nothing ever answers, exactly like QEMU without a guest
(the corpus of real-QEMU transcripts is replayed against that default). With a cooperating
policy the guest behaves like the Linux guest the timings below were measured on (QEMU
10.0.2, TCG, Debian 6.1 kernel; tests/machine/recorded/devices-guest-*.txt):

* ACPI memory hotplug (pc-dimm): a hot-added DIMM gets ``_OST`` (device check, success)
  ~37 ms later; ``device_del`` gets ``_OST`` (eject request, 0x84 "in progress") after
  ~3 ms, the eject (DEVICE_DELETED) at ~29 ms, and ``_OST`` (eject request, success) for the
  now empty slot right after. ``ospm-refuse`` answers the eject request with an error status
  and keeps the DIMM.
* ACPI PCI hotplug: the guest acknowledges a PCI unplug request ~115 ms later.
* virtio-mem driver: after boot (or after a hot-plug) it plugs ``block-size`` units toward
  ``requested-size`` in 128 MiB steps ~20 ms apart, and unplugs in 128 MiB steps ~300 ms
  apart; every change is a MEMORY_DEVICE_SIZE_CHANGE.
* An ACPI-aware OS switches CPU hotplug to the modern interface at boot, after which
  ``query-acpi-ospm-status`` also lists the CPU slots.

Every delay runs on the VM's virtual clock (guest timers): nothing happens while the VM is
paused or before it first runs. A system reset reboots the guest: pending guest work is
dropped and the guest starts again at the next boot.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

import structlog

from hvballoond.clock import NS_PER_MS, Instant
from hvballoond.machine.devices.acpi_memory import AcpiMemoryHotplug, OstEvent, OstStatus
from hvballoond.machine.events import MachineEvent, ShutdownCause
from hvballoond.machine.qdev import Device
from hvballoond.machine.units import MiB

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = [
    "DeviceGuest",
    "DeviceGuestPolicy",
    "DimmOspm",
    "VirtioMemDriverPort",
    "device_guest",
    "set_device_guest_policy",
]

log = structlog.get_logger(__name__)


class DimmOspm(StrEnum):
    """How the guest's ACPI OSPM treats DIMM hotplug requests."""

    NONE = "none"  # no OSPM: nothing answers (QEMU without a guest OS)
    OSPM = "ospm"  # eject after a delay, with _OST reports
    OSPM_REFUSE = "ospm-refuse"  # answer eject requests with an error status


@dataclass(frozen=True, slots=True)
class DeviceGuestPolicy:
    """How the simulated guest OS handles memory devices; all delays in virtual ms.

    The default is "no guest OS". :meth:`linux` is a cooperating Linux guest.

    Attributes:
        acpi: the OS is ACPI-aware (switches CPU hotplug to the modern interface at boot).
        dimm: ACPI OSPM behaviour for DIMM hot-add and eject.
        dimm_insert_ost_ms: hot-add to ``_OST(device check, success)``.
        dimm_eject_ost_ms: eject request to ``_OST(eject request, in progress)``.
        dimm_eject_ms: eject request to the eject itself (DEVICE_DELETED).
        dimm_eject_done_ms: eject request to ``_OST(eject request, success)``.
        dimm_refuse_status: the ``_OST`` status ``ospm-refuse`` reports.
        pci_eject: the guest acknowledges ACPI PCI unplug requests (virtio-mem-pci).
        pci_eject_ms: unplug request to acknowledgement.
        virtio_mem: a virtio-mem driver is loaded.
        virtio_mem_start_ms: boot (or hot-plug) to the driver's first request.
        virtio_mem_chunk: bytes the driver plugs or unplugs per step.
        virtio_mem_plug_ms: delay between plug steps (and from a config change to the first).
        virtio_mem_unplug_ms: delay between unplug steps (and from a config change to the first).
    """

    acpi: bool = False
    dimm: DimmOspm = DimmOspm.NONE
    dimm_insert_ost_ms: int = 37
    dimm_eject_ost_ms: int = 3
    dimm_eject_ms: int = 29
    dimm_eject_done_ms: int = 30
    dimm_refuse_status: int = int(OstStatus.FAILURE)
    pci_eject: bool = False
    pci_eject_ms: int = 115
    virtio_mem: bool = False
    virtio_mem_start_ms: int = 100
    virtio_mem_chunk: int = 128 * MiB
    virtio_mem_plug_ms: int = 20
    virtio_mem_unplug_ms: int = 300

    @classmethod
    def linux(cls) -> DeviceGuestPolicy:
        """A cooperating Linux guest (the measured behaviour); adjust with ``replace()``."""
        return cls(acpi=True, dimm=DimmOspm.OSPM, pci_eject=True, virtio_mem=True)


class VirtioMemDriverPort(Protocol):
    """What the guest's virtio-mem driver sees of a device (its config space and queue)."""

    @property
    def realized(self) -> bool: ...

    def driver_step(self, chunk: int, now: Instant) -> tuple[bool, list[MachineEvent]]:
        """Send the driver's next plug/unplug request of at most ``chunk`` bytes.

        Returns (more work remains, events)."""
        ...

    def driver_unplugging(self) -> bool:
        """True when the next step would unplug (``size > requested-size``)."""
        ...


_TimerCallback = Callable[[Instant], list[MachineEvent]]


class DeviceGuest:
    """The machine's simulated guest for memory devices (a machine component)."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.policy = DeviceGuestPolicy()
        #: Set once an ACPI-aware guest booted; never cleared (the switch is one-way).
        self.cpu_hotplug_modern = False
        self._drivers: dict[int, VirtioMemDriverPort] = {}
        self._timers: set[Hashable] = set()
        machine.on_guest_boot(self._booted)
        machine.on_reset(self._reset)

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def running_os(self) -> bool:
        """The guest OS has booted (since the last reset)."""
        return self.machine.guest_booted

    def _after(self, now: Instant, delay_ms: int, key: Hashable, callback: _TimerCallback) -> None:
        full_key = ("device-guest", key)
        self._timers.add(full_key)

        def fire(at: Instant) -> list[MachineEvent]:
            self._timers.discard(full_key)
            return callback(at)

        at_ns = self.machine.virtual_ns(now) + delay_ms * NS_PER_MS
        self.machine.schedule_guest(at_ns, full_key, fire)

    def _cancel_all(self) -> None:
        for key in self._timers:
            self.machine.cancel_timer(key)
        self._timers.clear()

    def _booted(self, now: Instant) -> list[MachineEvent]:
        if self.policy.acpi:
            self.cpu_hotplug_modern = True
        for port in list(self._drivers.values()):
            self._start_driver(port, now)
        return []

    def _reset(self, reason: ShutdownCause, now: Instant) -> list[MachineEvent]:
        # The guest OS is gone: whatever it was about to do will not happen.
        self._cancel_all()
        return []

    # -- ACPI memory hotplug (DIMMs) --------------------------------------------------------

    def dimm_inserted(self, dimm: Device, slot: int, now: Instant) -> None:
        """A DIMM was hot-added into ``slot``: the OSPM reports the device check."""
        if self.policy.dimm is DimmOspm.NONE or not self.running_os:
            return

        def report(at: Instant) -> list[MachineEvent]:
            if not dimm.realized:
                return []
            acpi = self.machine.component(AcpiMemoryHotplug)
            acpi.slots[slot].is_inserting = False
            return [acpi.write_ost(slot, OstEvent.DEVICE_CHECK, OstStatus.SUCCESS)]

        self._after(now, self.policy.dimm_insert_ost_ms, ("dimm-insert", id(dimm)), report)

    def dimm_eject_requested(self, dimm: Device, slot: int, now: Instant) -> None:
        """``device_del`` of the DIMM in ``slot``: the OSPM ejects it or refuses (or, without
        an OSPM, nothing happens)."""
        policy = self.policy
        if policy.dimm is DimmOspm.NONE or not self.running_os:
            return
        key = ("dimm-eject", id(dimm))
        if ("device-guest", (*key, "ost")) in self._timers:
            return  # already handling an eject request for this DIMM
        acpi = self.machine.component(AcpiMemoryHotplug)

        def ost(status: int) -> _TimerCallback:
            def write(at: Instant) -> list[MachineEvent]:
                return [acpi.write_ost(slot, OstEvent.EJECT_REQUEST, status)]

            return write

        if policy.dimm is DimmOspm.OSPM_REFUSE:
            self._after(now, policy.dimm_eject_ost_ms, (*key, "ost"),
                        ost(policy.dimm_refuse_status))
            return

        def eject(at: Instant) -> list[MachineEvent]:
            if not dimm.realized:
                return []
            acpi.slots[slot].is_removing = False
            return self.machine.qdev.finalize(dimm, at)

        self._after(now, policy.dimm_eject_ost_ms, (*key, "ost"),
                    ost(OstStatus.EJECT_IN_PROGRESS))
        self._after(now, policy.dimm_eject_ms, (*key, "eject"), eject)
        self._after(now, policy.dimm_eject_done_ms, (*key, "done"), ost(OstStatus.SUCCESS))

    # -- ACPI PCI hotplug -------------------------------------------------------------------

    def pci_unplug_requested(self, device: Device, now: Instant) -> None:
        """A PCI unplug request: the guest releases the device after a delay."""
        if not self.policy.pci_eject or not self.running_os:
            return

        def eject(at: Instant) -> list[MachineEvent]:
            if not device.realized or not device.pending_deleted_event:
                return []
            return self.machine.qdev.finalize(device, at)

        self._after(now, self.policy.pci_eject_ms, ("pci-eject", id(device)), eject)

    # -- virtio-mem driver ------------------------------------------------------------------

    def virtio_mem_added(self, port: VirtioMemDriverPort, now: Instant) -> None:
        """A virtio-mem device appeared (cold or hot): the driver binds to it once the OS
        runs."""
        self._drivers[id(port)] = port
        if self.running_os:
            self._start_driver(port, now)

    def virtio_mem_removed(self, port: VirtioMemDriverPort) -> None:
        """The device is gone."""
        self._drivers.pop(id(port), None)
        self.machine.cancel_timer(("device-guest", ("virtio-mem", id(port))))

    def virtio_mem_config_changed(self, port: VirtioMemDriverPort, now: Instant) -> None:
        """``requested-size`` was set: the driver reacts if it is running."""
        if not self.policy.virtio_mem or not self.running_os or id(port) not in self._drivers:
            return
        delay = (
            self.policy.virtio_mem_unplug_ms
            if port.driver_unplugging()
            else self.policy.virtio_mem_plug_ms
        )
        self._schedule_step(port, now, delay)

    def _start_driver(self, port: VirtioMemDriverPort, now: Instant) -> None:
        if self.policy.virtio_mem:
            self._schedule_step(port, now, self.policy.virtio_mem_start_ms)

    def _schedule_step(self, port: VirtioMemDriverPort, now: Instant, delay_ms: int) -> None:
        def step(at: Instant) -> list[MachineEvent]:
            if not port.realized or id(port) not in self._drivers:
                return []
            more, events = port.driver_step(self.policy.virtio_mem_chunk, at)
            if more:
                pause = (
                    self.policy.virtio_mem_unplug_ms
                    if port.driver_unplugging()
                    else self.policy.virtio_mem_plug_ms
                )
                self._schedule_step(port, at, pause)
            return events

        self._after(now, delay_ms, ("virtio-mem", id(port)), step)


def device_guest(machine: Machine) -> DeviceGuest:
    """The machine's simulated guest for memory devices."""
    return machine.component(DeviceGuest)


def set_device_guest_policy(machine: Machine, policy: DeviceGuestPolicy) -> None:
    """Configure the simulated guest of ``machine`` (command line ``-object hvb-guest`` or
    ``qom-set``); takes effect for what happens from now on."""
    guest = device_guest(machine)
    guest.policy = policy
    log.info("machine.guest.policy", policy=str(policy))
