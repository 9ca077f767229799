"""Machine events -> QAPI events (name and ``data`` with members in schema order)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from hvballoond.machine.events import (
    AcpiDeviceOst,
    BalloonChanged,
    DeviceDeleted,
    DeviceUnplugGuestError,
    HvBalloonBackendUnused,
    HvBalloonStatusReported,
    MachineEvent,
    MemoryDeviceSizeChanged,
    Powerdown,
    Reset,
    Resumed,
    Shutdown,
    Stopped,
)
from hvballoond.wire.values import JSONObject

__all__ = ["QapiEvent", "to_qapi_event"]


@dataclass(frozen=True, slots=True)
class QapiEvent:
    name: str
    data: JSONObject | None  # None: the event has no members (no "data" on the wire)


def _device_and_path(device: str | None, path: str) -> JSONObject:
    data: JSONObject = {}
    if device is not None:
        data["device"] = device
    data["path"] = path
    return data


def to_qapi_event(event: MachineEvent) -> QapiEvent:
    match event:
        case Shutdown(reason=reason):
            return QapiEvent("SHUTDOWN", {"guest": reason.by_guest, "reason": reason.value})
        case Reset(reason=reason):
            return QapiEvent("RESET", {"guest": reason.by_guest, "reason": reason.value})
        case Stopped():
            return QapiEvent("STOP", None)
        case Resumed():
            return QapiEvent("RESUME", None)
        case Powerdown():
            return QapiEvent("POWERDOWN", None)
        case DeviceDeleted(device=device, path=path):
            return QapiEvent("DEVICE_DELETED", _device_and_path(device, path))
        case DeviceUnplugGuestError(device=device, path=path):
            return QapiEvent("DEVICE_UNPLUG_GUEST_ERROR", _device_and_path(device, path))
        case AcpiDeviceOst():
            info: JSONObject = {}
            if event.device is not None:
                info["device"] = event.device
            info["slot"] = event.slot
            info["slot-type"] = event.slot_type
            info["source"] = event.source
            info["status"] = event.status
            return QapiEvent("ACPI_DEVICE_OST", {"info": info})
        case MemoryDeviceSizeChanged(id=dev_id, size=size, qom_path=qom_path):
            data: JSONObject = {}
            if dev_id is not None:
                data["id"] = dev_id
            data["size"] = size
            data["qom-path"] = qom_path
            return QapiEvent("MEMORY_DEVICE_SIZE_CHANGE", data)
        case BalloonChanged(actual=actual):
            return QapiEvent("BALLOON_CHANGE", {"actual": actual})
        case HvBalloonStatusReported(committed=committed, available=available, v3_spelling=v3):
            if v3:
                return QapiEvent(
                    "HV_BALLOON_STATUS_REPORT", {"commited": committed, "available": available}
                )
            return QapiEvent(
                "HV_BALLOON_STATUS_REPORT", {"committed": committed, "available": available}
            )
        case HvBalloonBackendUnused(id=backend_id):
            return QapiEvent("HV_BALLOON_MEMORY_BACKEND_UNUSED", {"id": backend_id})
        case _:
            assert_never(event)
