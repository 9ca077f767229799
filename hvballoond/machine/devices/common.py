"""Helpers shared by the memory device types: the machine's memory-device manager, the
``memdev`` link, NUMA node checks, property aliases and QEMU's stderr warnings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from hvballoond.machine.backends import MemoryBackend
from hvballoond.machine.memdev.machine_manager import memory_devices
from hvballoond.machine.qdev import Device
from hvballoond.machine.qom import InputStyle, Property, QomObject
from hvballoond.wire.values import JSONValue

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = [
    "add_memdev_property",
    "alias_property",
    "legacy_memdev_property",
    "memory_devices",
    "memory_region_child",
    "numa_node_count",
    "warn",
]

log = structlog.get_logger(__name__)


def numa_node_count(machine: Machine) -> int:
    """NUMA nodes as device ``node`` checks count them: 0 counts as 1."""
    return machine.numa_node_count or 1


def warn(machine: Machine, text: str) -> None:
    """A QEMU ``warn_report``: QEMU prints ``qemu-system-x86_64: warning: <text>`` on stderr;
    we log it (the daemon's stderr)."""
    log.warning("qemu.warning", text=text, machine=machine.config.type_name)


def add_memdev_property(
    device: Device,
    get: Callable[[], MemoryBackend | None],
    put: Callable[[MemoryBackend | None], None],
) -> None:
    """The ``memdev`` link (``link<memory-backend>``), settable until realize."""

    def apply(target: QomObject | None) -> None:
        assert target is None or isinstance(target, MemoryBackend)
        put(target)

    device.add_property(
        device.machine.qom.link_property(
            "memdev",
            "memory-backend",
            getter=get,
            setter=device.link_before_realize("memdev", apply),
        )
    )


def legacy_memdev_property() -> Property:
    """``legacy-memdev``: listed by ``qom-list`` but neither readable nor writable."""
    return Property("legacy-memdev", "str")


def alias_property(name: str, qom_type: str, target: QomObject) -> Property:
    """``object_property_add_alias``: reads and writes go to ``target``'s property of the
    same name (whose type then appears in error messages, e.g. ``Property 'virtio-mem.size'
    is not writable``)."""
    other = name

    def set_json(value: JSONValue) -> None:
        target.set_json(other, value)

    def set_text(text: str, style: InputStyle) -> None:
        target.set_text(other, text, style)

    def get() -> JSONValue:
        return target.get(other)

    prop = Property(name, qom_type, getter=get, set_json=set_json, set_text=set_text)
    source = target.find_property(other)
    if source is not None and source.link is not None:
        prop.link = source.link
    return prop


def memory_region_child(owner: QomObject, name: str) -> None:
    """A ``child<memory-region>`` entry as QEMU lists them (the region itself is opaque)."""
    owner.add_child(name, QomObject("memory-region"))

