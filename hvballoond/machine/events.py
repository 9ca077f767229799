"""What the machine reports back: one frozen dataclass per QMP event it can cause.

The machine never emits anything itself; every mutator and ``advance()`` returns a list of
these, and ``dispatch/events.py`` turns each into its QAPI event. Field names are the QAPI
member names in snake_case, in schema order.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "AcpiDeviceOst",
    "BalloonChanged",
    "DeviceDeleted",
    "DeviceUnplugGuestError",
    "HvBalloonBackendUnused",
    "HvBalloonStatusReported",
    "MachineEvent",
    "MemoryDeviceSizeChanged",
    "Powerdown",
    "Reset",
    "Resumed",
    "Shutdown",
    "ShutdownCause",
    "Stopped",
]


class ShutdownCause(StrEnum):
    """qapi/run-state.json ShutdownCause."""

    NONE = "none"
    HOST_ERROR = "host-error"
    HOST_QMP_QUIT = "host-qmp-quit"
    HOST_QMP_SYSTEM_RESET = "host-qmp-system-reset"
    HOST_SIGNAL = "host-signal"
    HOST_UI = "host-ui"
    GUEST_SHUTDOWN = "guest-shutdown"
    GUEST_RESET = "guest-reset"
    GUEST_PANIC = "guest-panic"
    SUBSYSTEM_RESET = "subsystem-reset"
    SNAPSHOT_LOAD = "snapshot-load"

    @property
    def by_guest(self) -> bool:
        return self.value.startswith("guest-")


@dataclass(frozen=True, slots=True)
class Shutdown:
    """SHUTDOWN: the VM shut down (or is about to exit), and why."""

    reason: ShutdownCause


@dataclass(frozen=True, slots=True)
class Reset:
    """RESET: a system reset happened, and why."""

    reason: ShutdownCause


@dataclass(frozen=True, slots=True)
class Stopped:
    """STOP: the VM stopped running."""


@dataclass(frozen=True, slots=True)
class Resumed:
    """RESUME: the VM runs again."""


@dataclass(frozen=True, slots=True)
class Powerdown:
    """POWERDOWN: an ACPI power button press was sent to the guest."""


@dataclass(frozen=True, slots=True)
class DeviceDeleted:
    """A device was finalized; ``device`` is its id (None for anonymous or inner devices)."""

    device: str | None
    path: str


@dataclass(frozen=True, slots=True)
class DeviceUnplugGuestError:
    """The guest refused to release a device; ``device`` as in :class:`DeviceDeleted`."""

    device: str | None
    path: str


@dataclass(frozen=True, slots=True)
class AcpiDeviceOst:
    """The guest wrote _OST for a DIMM slot (ACPIOSTInfo members in schema order)."""

    device: str | None
    slot: str
    slot_type: str
    source: int
    status: int


@dataclass(frozen=True, slots=True)
class MemoryDeviceSizeChanged:
    """A virtio-mem device's plugged size changed (throttled per ``qom_path``)."""

    id: str | None
    size: int
    qom_path: str


@dataclass(frozen=True, slots=True)
class BalloonChanged:
    """virtio-balloon: the guest reported a new logical size (throttled)."""

    actual: int


@dataclass(frozen=True, slots=True)
class HvBalloonStatusReported:
    """hv-balloon DM_STATUS_REPORT, in bytes (throttled).

    ``v3_spelling`` selects the seed's v3 data members (``commited``, ``available``).
    """

    committed: int
    available: int
    v3_spelling: bool = False


@dataclass(frozen=True, slots=True)
class HvBalloonBackendUnused:
    """Seed v3: a backend added with hv-balloon-add-memory is no longer used."""

    id: str


MachineEvent = (
    Shutdown
    | Reset
    | Stopped
    | Resumed
    | Powerdown
    | DeviceDeleted
    | DeviceUnplugGuestError
    | AcpiDeviceOst
    | MemoryDeviceSizeChanged
    | BalloonChanged
    | HvBalloonStatusReported
    | HvBalloonBackendUnused
)
