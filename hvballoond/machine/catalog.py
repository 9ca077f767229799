"""Which device types a machine knows.

Each device package exports a ``DEVICE_TYPES: tuple[type[Device], ...]`` (and optionally
``OBJECT_TYPES: tuple[UserObjectType, ...]`` for non-backend ``-object`` types such as
``hvb-guest``) from its ``__init__``; :func:`builtin_device_types` /
:func:`builtin_object_types` collect them. The packages are owned by other
people and may not exist yet while the tree is being built, so a missing package (or a
package without ``DEVICE_TYPES``) is skipped.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from hvballoond.machine.backends import UserObjectType
from hvballoond.machine.qdev import Device

__all__ = ["DEVICE_PACKAGES", "builtin_device_types", "builtin_object_types"]

#: Packages that contribute device types, in registration order.
DEVICE_PACKAGES: tuple[str, ...] = (
    "hvballoond.machine.devices",
    "hvballoond.machine.memdev",
    "hvballoond.machine.balloon",
    "hvballoond.machine.hv_balloon",
    "hvballoond.machine.guest",
)


def _packages() -> list[ModuleType]:
    modules: list[ModuleType] = []
    for name in DEVICE_PACKAGES:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as err:
            if err.name is not None and name.startswith(err.name):
                continue
            raise
    return modules


def builtin_object_types() -> tuple[UserObjectType, ...]:
    """Every non-backend user object type the packages export (``OBJECT_TYPES``)."""
    out: list[UserObjectType] = []
    for module in _packages():
        for spec in getattr(module, "OBJECT_TYPES", ()):
            if isinstance(spec, UserObjectType) and spec not in out:
                out.append(spec)
    return tuple(out)


def builtin_device_types() -> tuple[type[Device], ...]:
    """Every device class the installed device packages export, without duplicates."""
    out: list[type[Device]] = []
    for module in _packages():
        for cls in getattr(module, "DEVICE_TYPES", ()):
            if isinstance(cls, type) and issubclass(cls, Device) and cls not in out:
                out.append(cls)
    return tuple(out)
