"""Machine refusals -> QMP error classes."""

from __future__ import annotations

from hvballoond.machine.errors import (
    KvmMissingCapError,
    MachineError,
    NotActiveError,
    NotFoundError,
)
from hvballoond.qmp.errors import ErrorClass, QmpError

__all__ = ["to_qmp_error"]

_CLASS_OF: tuple[tuple[type[MachineError], ErrorClass], ...] = (
    (NotFoundError, ErrorClass.DEVICE_NOT_FOUND),
    (NotActiveError, ErrorClass.DEVICE_NOT_ACTIVE),
    (KvmMissingCapError, ErrorClass.KVM_MISSING_CAP),
)


def to_qmp_error(err: MachineError) -> QmpError:
    for machine_class, error_class in _CLASS_OF:
        if isinstance(err, machine_class):
            return QmpError(err.message, error_class)
    return QmpError(err.message)
