"""ACPI memory hotplug: the per-slot state behind ``query-acpi-ospm-status`` (hw/acpi/
memory_hotplug.c).

One entry per DIMM slot (``-m slots=N``). A plugged pc-dimm occupies its slot (nvdimms do
not: they use the NVDIMM ACPI interface). The guest's OSPM writes ``_OST`` (source event and
status) for a slot; each write gives ACPI_DEVICE_OST with the slot's current device.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from hvballoond.machine.events import AcpiDeviceOst
from hvballoond.machine.qdev import Device
from hvballoond.wire.values import JSONObject, JSONValue

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["AcpiMemoryHotplug", "OstEvent", "OstStatus", "SlotState"]


class OstEvent(IntEnum):
    """ACPI _OST source events used for memory devices."""

    NONE = 0
    DEVICE_CHECK = 1  # hot-add
    EJECT_REQUEST = 3  # device_del


class OstStatus(IntEnum):
    """ACPI _OST status codes a Linux guest writes for memory hotplug."""

    SUCCESS = 0
    FAILURE = 1
    EJECT_IN_PROGRESS = 0x84  # 132: "ejection in progress"


@dataclass(slots=True)
class SlotState:
    """``MemStatus``: one DIMM slot."""

    dimm: Device | None = None
    is_enabled: bool = False
    is_inserting: bool = False
    is_removing: bool = False
    ost_event: int = 0
    ost_status: int = 0


class AcpiMemoryHotplug:
    """The machine's ACPI memory-hotplug slots (a component)."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        # pc without PIIX4_PM.memory-hotplug-support never sets the slots up.
        enabled = machine.config.piix4_memory_hotplug_support
        self.slots = [SlotState() for _ in range(machine.config.ram_slots if enabled else 0)]

    def plug(self, dimm: Device, slot: int) -> None:
        """``acpi_memory_plug_cb``: the slot now holds ``dimm``."""
        state = self.slots[slot]
        state.dimm = dimm
        state.is_enabled = True
        if dimm.hotplugged:
            state.is_inserting = True

    def unplug_request(self, slot: int) -> None:
        """``acpi_memory_unplug_request_cb``: ask the guest to eject."""
        self.slots[slot].is_removing = True

    def unplug(self, slot: int) -> None:
        """``acpi_memory_unplug_cb``: the DIMM left the slot."""
        state = self.slots[slot]
        state.is_enabled = False
        state.dimm = None

    def write_ost(self, slot: int, event: int, status: int) -> AcpiDeviceOst:
        """The guest wrote ``_OST`` for ``slot``: returns ACPI_DEVICE_OST."""
        state = self.slots[slot]
        state.ost_event = event
        state.ost_status = status
        return AcpiDeviceOst(
            device=state.dimm.id if state.dimm is not None else None,
            slot=str(slot),
            slot_type="DIMM",
            source=event,
            status=status,
        )

    def ospm_status(self) -> list[JSONValue]:
        """``query-acpi-ospm-status``: one ACPIOSTInfo per slot (schema member order)."""
        out: list[JSONValue] = []
        for index, state in enumerate(self.slots):
            info: JSONObject = {}
            if state.dimm is not None and state.dimm.id is not None:
                info["device"] = state.dimm.id
            info["slot"] = str(index)
            info["slot-type"] = "DIMM"
            info["source"] = state.ost_event
            info["status"] = state.ost_status
            out.append(info)
        return out
