"""QMP command handlers, one module per area.

Each module registers its commands with :func:`hvballoond.dispatch.registry.command` when it
is imported. Start-up imports none of them (each pulls in the machine areas it serves, the
hv-balloon handlers all of hv-balloon): :func:`declare` tells the handler table which module
handles which command (:data:`COMMAND_MODULES`), and a module is imported the first time one of
its commands runs. ``tests/dispatch/test_handler_index.py`` keeps the index equal to what the
modules register: a new module or command needs its line here. ``load_all()`` imports every
module of the package.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Final

from hvballoond.dispatch.registry import HANDLERS

__all__ = ["COMMAND_MODULES", "declare", "load_all"]

#: Module of this package -> the QMP commands it registers, in registration order.
COMMAND_MODULES: Final[Mapping[str, tuple[str, ...]]] = {
    "balloon": ("balloon", "query-balloon"),
    "control": (
        "qmp_capabilities", "query-version", "query-commands", "query-qmp-schema",
        "query-name", "query-uuid", "query-kvm", "query-target", "quit", "query-yank", "yank",
        "human-monitor-command", "x-hvb-advance-clock", "query-machines",
    ),
    "cpus": ("query-cpus-fast", "query-hotpluggable-cpus"),
    "devices": ("device_add", "device_del"),
    "hv_balloon": ("query-hv-balloon-status-report", "hv-balloon-add-memory"),
    "manager": (
        "query-migrate-capabilities", "migrate-set-capabilities", "query-chardev",
        "query-iothreads", "query-jobs", "query-block", "query-named-block-nodes",
    ),
    "memory_devices": ("query-memory-devices", "query-acpi-ospm-status"),
    "objects": ("object-add", "object-del", "query-memdev", "query-memory-size-summary"),
    "qom": ("qom-list", "qom-get", "qom-set", "qom-list-types", "qom-list-properties"),
    "runstate": ("query-status", "stop", "cont", "system_reset", "system_powerdown"),
}  # fmt: skip


def declare() -> None:
    """Make every command known to :data:`~hvballoond.dispatch.registry.HANDLERS` by name."""
    HANDLERS.declare(
        {
            name: f"{__name__}.{module}"
            for module, names in COMMAND_MODULES.items()
            for name in names
        }
    )


def load_all() -> None:
    """Import every module of this package (each registers its commands)."""
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
