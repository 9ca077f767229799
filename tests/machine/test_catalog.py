"""The device catalog: the families index matches the packages, and a machine that declares
the families (imports nothing) knows exactly what one registering every class knows."""

from __future__ import annotations

import importlib

import pytest

from hvballoond.clock import FakeClock
from hvballoond.machine import catalog
from hvballoond.machine.catalog import (
    FAMILIES,
    DeviceFamily,
    builtin_device_types,
    builtin_object_types,
    declare_types,
)
from hvballoond.machine.config import HostFacts, MachineConfig
from hvballoond.machine.errors import MachineError
from hvballoond.machine.machine import Machine
from hvballoond.machine.qdev import Device
from hvballoond.machine.qom import QomType
from hvballoond.machine.units import GiB


def _family_of(package: str) -> DeviceFamily:
    module = importlib.import_module(package)
    qom_types: list[QomType] = []
    for cls in getattr(module, "DEVICE_TYPES", ()):
        for qom_type in (*cls.EXTRA_TYPES, cls.qom_type_info()):
            if qom_type not in qom_types:
                qom_types.append(qom_type)
    return DeviceFamily(
        package,
        qom_types=tuple(qom_types),
        devices=tuple(cls.TYPE for cls in getattr(module, "DEVICE_TYPES", ())),
        objects=tuple((spec.name, spec.parent) for spec in getattr(module, "OBJECT_TYPES", ())),
    )


def test_the_families_are_what_the_packages_export() -> None:
    exported = [_family_of(package) for package in catalog.DEVICE_PACKAGES]
    expected = tuple(f for f in exported if f.qom_types or f.devices or f.objects)
    assert expected == FAMILIES, (
        "update FAMILIES in hvballoond/machine/catalog.py to:\n"
        + "\n".join(repr(family) for family in expected)
    )


def _machine(*, eager: bool) -> Machine:
    config = MachineConfig(ram_size=GiB, maxram_size=16 * GiB, ram_slots=4)
    if eager:
        return Machine(config, host=HostFacts(), now=FakeClock().now(),
                       device_types=builtin_device_types(), object_types=builtin_object_types())
    return Machine(config, host=HostFacts(), now=FakeClock().now())


def test_a_declaring_machine_registers_the_same_types_in_the_same_order() -> None:
    eager, lazy = _machine(eager=True), _machine(eager=False)
    assert list(lazy.types) == list(eager.types)
    assert lazy.types.list_types(abstract=True) == eager.types.list_types(abstract=True)
    # Looking at every class (what device_add does) changes nothing in the registry.
    for cls in builtin_device_types():
        assert lazy.qdev.device_class(cls.TYPE) is cls
    assert list(lazy.types) == list(eager.types)


def test_classes_and_object_factories_are_imported_on_first_use() -> None:
    loads: list[str] = []

    class Widget(Device):
        TYPE = "x-widget"
        PARENT = "device"
        ABSTRACT = False

    def load() -> tuple[type[Device], ...]:
        loads.append("x-widget")
        return (Widget,)

    machine = Machine(MachineConfig(), host=HostFacts(), now=FakeClock().now(),
                      device_types=(), object_types=())
    widget_type = QomType("x-widget", "device")
    machine.qdev.declare((widget_type,), ("x-widget",), load)
    assert machine.types.get("x-widget") == widget_type and loads == []
    assert machine.qdev.device_class("x-widget") is Widget
    assert machine.qdev.device_class("x-widget") is Widget
    assert loads == ["x-widget"]

    family = DeviceFamily("hvballoond.machine.guest", objects=(("hvb-guest", "object"),))
    declare_types(None, machine.backends, (family,))
    assert machine.types.get("hvb-guest") == QomType("hvb-guest", "object",
                                                     interfaces=("user-creatable",))
    guest = machine.object_add("hvb-guest", "g0", {})  # the package's own factory builds it
    assert type(guest).__module__ == "hvballoond.machine.guest.hvb_guest"
    assert machine.backends.objects.child("g0") is guest


def test_a_declared_type_that_differs_from_its_class_is_refused() -> None:
    class Widget(Device):
        TYPE = "x-widget"
        PARENT = "device"
        ABSTRACT = False

    machine = Machine(MachineConfig(), host=HostFacts(), now=FakeClock().now(),
                      device_types=(), object_types=())
    machine.qdev.declare((QomType("x-widget", "pci-device"),), ("x-widget",), lambda: (Widget,))
    with pytest.raises(ValueError, match="registered twice, differently"):
        machine.qdev.device_class("x-widget")


def test_a_family_that_does_not_export_an_object_type_is_reported() -> None:
    machine = Machine(MachineConfig(), host=HostFacts(), now=FakeClock().now(),
                      device_types=(), object_types=())
    declare_types(None, machine.backends,
                  (DeviceFamily("hvballoond.machine.guest", objects=(("x-none", "object"),)),))
    with pytest.raises(LookupError, match="does not export object type 'x-none'"):
        machine.object_add("x-none", "n0", {})


def test_unknown_drivers_are_still_refused() -> None:
    machine = _machine(eager=False)
    with pytest.raises(MachineError, match="'x-nope' is not a valid device model name"):
        machine.device_add({"driver": "x-nope"}, FakeClock().now())
