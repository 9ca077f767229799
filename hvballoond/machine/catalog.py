"""Which device and object types a machine knows, and which package provides each.

Each device package exports a ``DEVICE_TYPES: tuple[type[Device], ...]`` (and optionally
``OBJECT_TYPES: tuple[UserObjectType, ...]`` for non-backend ``-object`` types such as
``hvb-guest``) from its ``__init__``; :func:`builtin_device_types` /
:func:`builtin_object_types` collect them.

A machine does not import the packages when it is created (hv-balloon alone is a sizeable
share of start-up, and most VMs never use it): :data:`FAMILIES` says, per package, which QOM
types its classes register and which device and object types it provides. :func:`declare_types`
registers every QOM type at once, so that what ``qom-list-types`` and friends report does not
depend on what has been used, and leaves the classes to be imported the first time one of the
package's devices or objects is created or its class is looked at (``qom-list-properties``).
``tests/machine/test_catalog.py`` keeps :data:`FAMILIES` equal to what the packages export: a
new device or object type needs its line here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final, NamedTuple

from hvballoond.machine.backends import UserObjectType
from hvballoond.machine.qdev import Device
from hvballoond.machine.qom import QomObject, QomType
from hvballoond.wire.values import JSONValue

if TYPE_CHECKING:
    from hvballoond.machine.backends import Backends
    from hvballoond.machine.qdev import Qdev

__all__ = [
    "DEVICE_PACKAGES",
    "FAMILIES",
    "DeviceFamily",
    "builtin_device_types",
    "builtin_object_types",
    "declare_types",
]

#: Packages that contribute device types, in registration order.
DEVICE_PACKAGES: tuple[str, ...] = (
    "hvballoond.machine.devices",
    "hvballoond.machine.devices.peripherals",
    "hvballoond.machine.memdev",
    "hvballoond.machine.balloon",
    "hvballoond.machine.hv_balloon",
    "hvballoond.machine.guest",
)


class DeviceFamily(NamedTuple):
    """What one device package provides, known without importing it.

    Attributes:
        package: the package (one of :data:`DEVICE_PACKAGES`).
        qom_types: the QOM types its device classes register (``EXTRA_TYPES``, then the
            class's own), in registration order, without repeats.
        devices: the ``TYPE`` (driver name) of each class in its ``DEVICE_TYPES``.
        objects: ``(name, parent)`` of each type in its ``OBJECT_TYPES``.
    """

    package: str
    qom_types: tuple[QomType, ...] = ()
    devices: tuple[str, ...] = ()
    objects: tuple[tuple[str, str], ...] = ()


def _t(name: str, parent: str, *interfaces: str, abstract: bool = False) -> QomType:
    return QomType(name, parent, abstract, interfaces)


_MD: Final = "memory-device"

#: Every package of :data:`DEVICE_PACKAGES` that provides types, in the same order.
FAMILIES: Final[tuple[DeviceFamily, ...]] = (
    DeviceFamily(
        "hvballoond.machine.devices",
        qom_types=(
            _t("pc-dimm", "device", _MD),
            _t("nvdimm", "pc-dimm", _MD),
            _t("virtio-device", "device", abstract=True),
            _t("virtio-pci", "pci-device", abstract=True),
            _t("virtio-md-pci", "virtio-pci", _MD, abstract=True),
            _t("virtio-mem-pci-base", "virtio-md-pci", abstract=True),
            _t("virtio-mem", "virtio-device"),
            _t("virtio-mem-pci", "virtio-mem-pci-base", _MD),
            _t("virtio-pmem-pci-base", "virtio-md-pci", abstract=True),
            _t("virtio-pmem", "virtio-device"),
            _t("virtio-pmem-pci", "virtio-pmem-pci-base", _MD),
            _t("base-pci-bridge", "pci-device", abstract=True),
            _t("pcie-port", "base-pci-bridge", abstract=True),
            _t("pcie-slot", "pcie-port", abstract=True),
            _t("pcie-root-port-base", "pcie-slot", abstract=True),
            _t("pcie-root-port", "pcie-root-port-base"),
            _t("virtio-rng-pci-base", "virtio-pci", abstract=True),
            _t("virtio-rng-device", "virtio-device"),
            _t("virtio-rng-pci", "virtio-rng-pci-base"),
        ),
        devices=(
            "pc-dimm", "nvdimm", "virtio-mem-pci", "virtio-pmem-pci", "pcie-root-port",
            "virtio-rng-pci",
        ),
        objects=(("rng-random", "rng-backend"), ("secret", "secret_common")),
    ),
    DeviceFamily(
        "hvballoond.machine.devices.peripherals",
        qom_types=(
            _t("pci-xhci", "pci-device", abstract=True),
            _t("base-xhci", "device"),
            _t("qemu-xhci", "pci-xhci"),
            _t("usb-device", "device", abstract=True),
            _t("usb-hid", "usb-device", abstract=True),
            _t("usb-tablet", "usb-hid"),
            _t("usb-kbd", "usb-hid"),
            _t("usb-mouse", "usb-hid"),
            _t("isa-device", "device", abstract=True),
            _t("serial", "device"),
            _t("isa-serial", "isa-device"),
            _t("virtio-serial-pci-base", "virtio-pci", abstract=True),
            _t("virtio-serial-device", "virtio-device"),
            _t("virtio-serial-pci", "virtio-serial-pci-base"),
            _t("virtio-serial-port", "device", abstract=True),
            _t("virtserialport", "virtio-serial-port"),
            _t("virtconsole", "virtserialport"),
            _t("virtio-vga-base", "virtio-pci", abstract=True),
            _t("virtio-vga-base-type", "virtio-vga-base", abstract=True),
            _t("virtio-gpu-base", "virtio-device", abstract=True),
            _t("virtio-gpu-device", "virtio-gpu-base"),
            _t("virtio-vga", "virtio-vga-base-type"),
            _t("virtio-gpu-pci-base", "virtio-pci", abstract=True),
            _t("virtio-gpu-pci-base-type", "virtio-gpu-pci-base", abstract=True),
            _t("virtio-gpu-pci", "virtio-gpu-pci-base-type"),
            _t("pci-vga", "pci-device", abstract=True),
            _t("VGA", "pci-vga"),
            _t("bochs-display", "pci-device"),
        ),
        devices=(
            "qemu-xhci", "usb-tablet", "usb-kbd", "usb-mouse", "isa-serial",
            "virtio-serial-pci", "virtserialport", "virtconsole", "virtio-vga",
            "virtio-gpu-pci", "VGA", "bochs-display",
        ),
    ),
    DeviceFamily(
        "hvballoond.machine.balloon",
        qom_types=(
            _t("virtio-balloon-pci-base", "virtio-pci", abstract=True),
            _t("virtio-balloon-device", "virtio-device"),
            _t("virtio-balloon-pci", "virtio-balloon-pci-base"),
            _t("virtio-balloon-pci-transitional", "virtio-balloon-pci-base"),
            _t("virtio-balloon-pci-non-transitional", "virtio-balloon-pci-base"),
        ),
        devices=(
            "virtio-balloon-pci", "virtio-balloon-pci-transitional",
            "virtio-balloon-pci-non-transitional",
        ),
    ),
    DeviceFamily(
        "hvballoond.machine.hv_balloon",
        qom_types=(
            _t("vmbus-bridge", "sys-bus-device"),
            _t("hv-balloon", "vmbus-dev", _MD),
            _t("mem-hapvdimm", "device", _MD),
        ),
        devices=("vmbus-bridge", "hv-balloon", "mem-hapvdimm"),
    ),
    DeviceFamily("hvballoond.machine.guest", objects=(("hvb-guest", "object"),)),
)  # fmt: skip


def _import(package: str) -> object | None:
    try:
        return importlib.import_module(package)
    except ModuleNotFoundError as err:
        # A package that is not there (yet) contributes nothing.
        if err.name is not None and package.startswith(err.name):
            return None
        raise


def _device_classes(package: str) -> tuple[type[Device], ...]:
    module = _import(package)
    return tuple(
        cls
        for cls in getattr(module, "DEVICE_TYPES", ())
        if isinstance(cls, type) and issubclass(cls, Device)
    )


def _object_types(package: str) -> tuple[UserObjectType, ...]:
    module = _import(package)
    return tuple(
        spec for spec in getattr(module, "OBJECT_TYPES", ()) if isinstance(spec, UserObjectType)
    )


def builtin_object_types() -> tuple[UserObjectType, ...]:
    """Every non-backend user object type the packages export (``OBJECT_TYPES``)."""
    out: list[UserObjectType] = []
    for package in DEVICE_PACKAGES:
        for spec in _object_types(package):
            if spec not in out:
                out.append(spec)
    return tuple(out)


def builtin_device_types() -> tuple[type[Device], ...]:
    """Every device class the installed device packages export, without duplicates."""
    out: list[type[Device]] = []
    for package in DEVICE_PACKAGES:
        for cls in _device_classes(package):
            if cls not in out:
                out.append(cls)
    return tuple(out)


def declare_types(
    qdev: Qdev | None,
    backends: Backends | None,
    families: tuple[DeviceFamily, ...] = FAMILIES,
) -> None:
    """Make the families' device types known to ``qdev`` and their object types to
    ``backends`` (either may be None: not wanted), importing no package.

    Registers the same QOM types, in the same order, as registering the classes and object
    types of :func:`builtin_device_types` and :func:`builtin_object_types` would (all device
    types first). A package is imported the first time one of its classes or object
    factories is needed.
    """
    if qdev is not None:
        for family in families:
            if family.devices:
                qdev.declare(family.qom_types, family.devices, _loader(family.package))
    if backends is not None:
        for family in families:
            for name, parent in family.objects:
                backends.register_object_type(
                    UserObjectType(name, parent, _DeferredFactory(family.package, name))
                )


def _loader(package: str) -> Callable[[], tuple[type[Device], ...]]:
    def load() -> tuple[type[Device], ...]:
        return _device_classes(package)

    return load


class _DeferredFactory:
    """An object type's factory that imports the type's package on first use."""

    def __init__(self, package: str, name: str) -> None:
        self._package = package
        self._name = name

    def __call__(self, obj_id: str, props: Mapping[str, JSONValue]) -> QomObject:
        for spec in _object_types(self._package):
            if spec.name == self._name:
                return spec.factory(obj_id, props)
        raise LookupError(f"{self._package} does not export object type {self._name!r}")
