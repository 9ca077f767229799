"""``pc-dimm`` and ``nvdimm`` (memory-devices.md §6.1, §6.2; hw/mem/pc-dimm.c, nvdimm.c,
hw/i386/pc.c ``pc_memory_pre_plug``/``pc_memory_unplug_request``).

A DIMM takes a slot of ``-m slots=N`` and a range of the device-memory region, maps its
backend at plug, and on ``device_del`` asks the guest's ACPI OSPM to eject it: without a
cooperating guest nothing happens (the DIMM stays; QEMU with no guest), with one the guest
ejects it and DEVICE_DELETED follows (see :mod:`.guest`).
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import TYPE_CHECKING, ClassVar

from hvballoond.clock import Instant
from hvballoond.machine.backends import MemoryBackend
from hvballoond.machine.config import MachineKind
from hvballoond.machine.devices.acpi_memory import AcpiMemoryHotplug
from hvballoond.machine.devices.common import (
    add_memdev_property,
    legacy_memdev_property,
    memory_devices,
    memory_region_child,
    numa_node_count,
    warn,
)
from hvballoond.machine.devices.guest import device_guest
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import MachineEvent
from hvballoond.machine.memdev.device import BackendRegionDevice, DeviceRegion
from hvballoond.machine.qdev import Device
from hvballoond.machine.qom import BoolCodec, IntCodec, Property, SizeCodec, StrCodec
from hvballoond.machine.units import align_down, hx, u64
from hvballoond.wire.values import JSONObject

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["MIN_NAMESPACE_LABEL_SIZE", "DimmSlots", "Nvdimm", "PcDimm"]

#: The smallest nvdimm ``label-size`` (hw/mem/nvdimm.c ``MIN_NAMESPACE_LABEL_SIZE``).
MIN_NAMESPACE_LABEL_SIZE = 128 * 1024
_UNASSIGNED_SLOT = -1
_NO_ACPI = "memory hotplug is not enabled: missing acpi device or acpi disabled"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class DimmSlots:
    """Which DIMM slots realized pc-dimms and nvdimms hold (``pc_dimm_slot2bitmap``)."""

    def __init__(self, machine: Machine) -> None:
        self.taken: dict[int, PcDimm] = {}


class PcDimm(Device, BackendRegionDevice):
    """``pc-dimm``: a DIMM memory module."""

    TYPE = "pc-dimm"
    PARENT = "device"
    ABSTRACT = False
    INTERFACES = ("memory-device",)
    USES_MACHINE_HOTPLUG_HANDLER = True
    KIND: ClassVar[str] = "dimm"  # query-memory-devices tag
    md_counts_as_dimm_ram = True

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.memdev: MemoryBackend | None = None
        self.addr = 0
        self.slot = _UNASSIGNED_SLOT
        self.node = 0
        self._declare_properties()

    def _declare_properties(self) -> None:
        # qom-list order on the reference binary (tests/machine/recorded/devices-qom.txt).
        add_memdev_property(self, lambda: self.memdev, self._set_memdev)
        # The defaults are what qom-list-properties shows as default-value.
        self.add_property(Property.typed("node", IntCodec.UINT32, getter=lambda: self.node,
                                         setter=self.static_setter("node", self._set_node),
                                         default=(0,)))
        self.add_property(Property.typed("addr", IntCodec.UINT64, getter=lambda: self.addr,
                                         setter=self.static_setter("addr", self._set_addr),
                                         default=(0,)))
        self.add_property(legacy_memdev_property())
        self.add_property(Property.typed("slot", IntCodec.INT32, getter=lambda: self.slot,
                                         setter=self.static_setter("slot", self._set_slot),
                                         default=(_UNASSIGNED_SLOT,)))
        self._declare_type_properties()
        self.add_property(Property.read_only("size", "uint64", self._size_property))

    def _declare_type_properties(self) -> None:
        """nvdimm adds its own properties here (between ``slot`` and ``size``)."""

    def _set_memdev(self, backend: MemoryBackend | None) -> None:
        self.memdev = backend

    def _set_node(self, value: int) -> None:
        self.node = value

    def _set_addr(self, value: int) -> None:
        self.addr = value

    def _set_slot(self, value: int) -> None:
        self.slot = value

    def _size_property(self) -> int:
        region = self.md_region()
        assert region is not None
        return region.size

    # -- memory-device hooks ----------------------------------------------------------------

    def md_info(self) -> JSONObject:
        assert self.memdev is not None
        data: JSONObject = {}
        if self.id is not None:
            data["id"] = self.id
        data["addr"] = self.addr
        data["size"] = self._size_property()
        data["slot"] = self.slot
        data["node"] = self.node
        data["memdev"] = self.memdev.path
        data["hotplugged"] = self.hotplugged
        data["hotpluggable"] = type(self).HOTPLUGGABLE
        return {"type": self.KIND, "data": data}

    def md_info_key(self) -> Hashable:
        # The backend object stands for its path (its id and parent never change).
        memdev = self.memdev
        assert memdev is not None
        return (self.id, self.addr, memdev.size, self.slot, self.node, memdev, self.hotplugged)

    # -- qdev hooks -------------------------------------------------------------------------

    def pre_plug(self) -> None:
        """``pc_memory_pre_plug`` then ``pc_dimm_pre_plug`` (D1-D8)."""
        config = self.machine.config
        if not config.acpi_enabled:
            raise MachineError(_NO_ACPI)  # D1
        self._check_enabled()  # D2 (nvdimm)
        if config.kind is MachineKind.PC and not config.piix4_memory_hotplug_support:
            raise MachineError(  # D3
                "memory hotplug is not enabled: PIIX4_PM.memory-hotplug-support is not set"
            )
        # pc_dimm_pre_plug() stores the chosen slot before the generic checks run.
        previous_slot, self.slot = self.slot, self._pick_slot(config.ram_slots)
        warnings: list[str] = []
        try:
            memory_devices(self.machine).pre_plug(self, warnings=warnings)  # D8
        except MachineError:
            self.slot = previous_slot
            raise
        finally:
            for text in warnings:
                warn(self.machine, text)

    def _check_enabled(self) -> None:
        """nvdimm refuses unless ``-machine nvdimm=on``."""

    def _pick_slot(self, slots: int) -> int:
        """D4-D7: the requested slot if free, else the lowest free one."""
        if self.slot != _UNASSIGNED_SLOT and not 0 <= self.slot < slots:
            raise MachineError(
                f"invalid slot number {self.slot}, valid range is [0-{u64(slots - 1)}]"
            )
        if slots <= 0:
            raise MachineError("no slots where allocated, please specify the 'slots' option")
        taken = self.machine.component(DimmSlots).taken
        if self.slot != _UNASSIGNED_SLOT:
            if self.slot in taken:
                raise MachineError(f"slot {self.slot} is busy")
            return self.slot
        for slot in range(slots):
            if slot not in taken:
                return slot
        raise MachineError("no free slots available")

    def realize(self) -> None:
        """``pc_dimm_realize`` (D9, D10)."""
        nodes = self.machine.numa_node_count
        if (nodes > 0 and self.node >= nodes) or (nodes == 0 and self.node):
            raise MachineError(
                f"'DIMM property node has value {self.node}' which exceeds the number of numa "
                f"nodes: {numa_node_count(self.machine)}"
            )
        if self.memdev is None:
            raise MachineError("'memdev' property is not set")
        if self.memdev.is_mapped:
            raise MachineError(f"can't use already busy memdev: {self.memdev.id}")

    def plug(self, now: Instant) -> list[MachineEvent]:
        """``pc_dimm_plug`` + the ACPI insert notification."""
        assert self.memdev is not None
        self.memdev.set_mapped(True)
        self.machine.component(DimmSlots).taken[self.slot] = self
        memory_devices(self.machine).plug(self)
        return self._acpi_plug(now)

    def _acpi_plug(self, now: Instant) -> list[MachineEvent]:
        self.machine.component(AcpiMemoryHotplug).plug(self, self.slot)
        if self.hotplugged:
            device_guest(self.machine).dimm_inserted(self, self.slot, now)
        return []

    def unplug_request(self, now: Instant) -> list[MachineEvent]:
        """``pc_memory_unplug_request``: ask the guest to eject (asynchronous)."""
        if not self.machine.config.acpi_enabled:
            raise MachineError(_NO_ACPI)
        self.machine.component(AcpiMemoryHotplug).unplug_request(self.slot)
        device_guest(self.machine).dimm_eject_requested(self, self.slot, now)
        return []

    def unplug(self, now: Instant) -> list[MachineEvent]:
        """``pc_memory_unplug``: the slot, the range and the backend are free again."""
        self.machine.component(AcpiMemoryHotplug).unplug(self.slot)
        self._release()
        return []

    def _release(self) -> None:
        self.machine.component(DimmSlots).taken.pop(self.slot, None)
        memory_devices(self.machine).unplug(self)
        if self.memdev is not None:
            self.memdev.set_mapped(False)

    def plugged_memory_size(self) -> int | None:
        """query-memory-size-summary: the whole region."""
        return self.md_plugged_size()


class Nvdimm(PcDimm):
    """``nvdimm``: a pc-dimm whose last ``label-size`` bytes hold namespace labels."""

    TYPE = "nvdimm"
    PARENT = "pc-dimm"
    KIND = "nvdimm"
    md_counts_as_dimm_ram = False

    def __init__(self, machine: Machine) -> None:
        self.label_size = 0
        self.uuid = "00000000-0000-0000-0000-000000000000"
        self.unarmed = False
        self._region: DeviceRegion | None = None
        super().__init__(machine)

    def _declare_type_properties(self) -> None:
        self.add_property(Property.typed("unarmed", BoolCodec(), getter=lambda: self.unarmed,
                                         setter=self.static_setter("unarmed", self._set_unarmed),
                                         description="on/off", default=(False,)))
        self.add_property(Property.typed("uuid", StrCodec("QemuUUID"), getter=lambda: self.uuid,
                                         setter=self._set_uuid))
        self.add_property(Property.typed("label-size", SizeCodec("int"),
                                         getter=lambda: self.label_size,
                                         setter=self._set_label_size))

    def _set_unarmed(self, value: bool) -> None:
        self.unarmed = value

    def _set_uuid(self, value: str) -> None:
        # qemu_uuid_parse(): exactly the 8-4-4-4-12 hex form; shown in lower case.
        if not _UUID.fullmatch(value):
            raise MachineError(f"Property '{self.qom_type}.uuid' has invalid value")
        self.uuid = value.lower()

    def _set_label_size(self, value: int) -> None:
        if self._region is not None:
            raise MachineError("cannot change property value")
        if value < MIN_NAMESPACE_LABEL_SIZE:
            raise MachineError(
                f"Property '{self.qom_type}.label-size' ({hx(value)}) is required at least "
                f"{hx(MIN_NAMESPACE_LABEL_SIZE)}"
            )
        self.label_size = value

    def _check_enabled(self) -> None:
        if not self.machine.config.nvdimm:
            raise MachineError("nvdimm is not enabled: missing 'nvdimm' in '-M'")

    def md_region(self) -> DeviceRegion | None:
        """``nvdimm_prepare_memory_region``: the backend minus the label, aligned down."""
        if self._region is not None:
            return self._region
        if self.memdev is None:
            raise MachineError("'memdev' property must be set")
        align = self.memdev.alignment
        size = self.memdev.size
        pmem_size = align_down(size - self.label_size, align) if size > self.label_size else 0
        if size <= self.label_size or not pmem_size:
            raise MachineError(
                f"the size of memdev {self.memdev.id} ({hx(size)}) is too small to contain "
                f"nvdimm label ({hx(self.label_size)}) and aligned PMEM ({hx(align)})"
            )
        if not self.unarmed and self.memdev.readonly:
            raise MachineError(
                f"'unarmed' property must be 'on' since memdev {self.memdev.id} is read-only"
            )
        self._region = DeviceRegion(pmem_size, align)
        return self._region

    def pre_plug(self) -> None:
        """As pc-dimm; the region prepared at G2 shows up as a memory-region child."""
        super().pre_plug()
        if self.child("nvdimm-memory[0]") is None:
            memory_region_child(self, "nvdimm-memory[0]")

    def _acpi_plug(self, now: Instant) -> list[MachineEvent]:
        # nvdimm_acpi_plug_cb: the NVDIMM ACPI interface, not a memory-hotplug slot.
        return []

    def unplug_request(self, now: Instant) -> list[MachineEvent]:
        """NVDIMMs cannot be hot-unplugged."""
        if not self.machine.config.acpi_enabled:
            raise MachineError(_NO_ACPI)
        raise MachineError("nvdimm device hot unplug is not supported yet.")

    def unplug(self, now: Instant) -> list[MachineEvent]:
        """Never reached through device_del (kept symmetric for machine teardown)."""
        self._release()
        return []
