"""Refusals raised by the machine model.

The message of every error is QEMU's exact text; the subclass tells the dispatch layer
which QMP error class to use (``dispatch/errors.py``).
"""

from __future__ import annotations

__all__ = [
    "KvmMissingCapError",
    "MachineError",
    "NotActiveError",
    "NotFoundError",
    "StartupError",
]


class MachineError(Exception):
    """An operation the machine refuses; ``str(err)`` is QEMU's message (GenericError)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # QEMU's error_append_hint() text (HMP prints it on its own line); never sent over QMP.
        self.hint = hint


class NotFoundError(MachineError):
    """Something named does not exist (QMP class DeviceNotFound)."""


class NotActiveError(MachineError):
    """The device a command needs is missing (QMP class DeviceNotActive)."""


class KvmMissingCapError(MachineError):
    """KVM lacks a capability (QMP class KVMMissingCap)."""


class StartupError(MachineError):
    """The command line cannot be turned into a machine; printed to stderr, exit 1."""
