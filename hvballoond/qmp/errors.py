"""QMP error classes (qapi/error.json) and the one exception that carries them."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ErrorClass", "QmpError"]


class ErrorClass(StrEnum):
    GENERIC_ERROR = "GenericError"
    COMMAND_NOT_FOUND = "CommandNotFound"
    DEVICE_NOT_ACTIVE = "DeviceNotActive"
    DEVICE_NOT_FOUND = "DeviceNotFound"
    KVM_MISSING_CAP = "KVMMissingCap"


class QmpError(Exception):
    """An error reply: ``{"error": {"class": ..., "desc": ...}}``."""

    def __init__(self, desc: str, error_class: ErrorClass = ErrorClass.GENERIC_ERROR) -> None:
        super().__init__(desc)
        self.desc = desc
        self.error_class = error_class

    def __repr__(self) -> str:
        return f"QmpError({self.desc!r}, {self.error_class.value})"
