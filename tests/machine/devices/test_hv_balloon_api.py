"""How a hv-balloon-like device uses the memory-device manager (the API the balloon side
builds on): an optional memdev (empty device without it), 32 GiB minimum alignment, a
memslot count decided at pre-plug, memslots mapped progressively, RAM sections for page
classification. memory-devices.md §4.2, §5 example D, §6.5."""

from __future__ import annotations

from typing import ClassVar

from hvballoond.clock import Instant
from hvballoond.machine.backends import MemoryBackend
from hvballoond.machine.devices.common import add_memdev_property
from hvballoond.machine.events import MachineEvent
from hvballoond.machine.memdev.device import DeviceRegion, MemoryDevice
from hvballoond.machine.memdev.machine_manager import memory_devices
from hvballoond.machine.memdev.manager import MemslotContainer
from hvballoond.machine.memdev.memslots import MemslotSplit, hv_balloon_memslots
from hvballoond.machine.qdev import Device
from hvballoond.machine.units import GiB, MiB
from hvballoond.wire.values import JSONObject
from tests.machine.devices.rig import vm


class SketchBalloon(Device, MemoryDevice):
    """Just the memory-device side of hv-balloon (the real one is the balloon engineer's)."""

    TYPE = "sketch-balloon"
    PARENT = "device"
    ABSTRACT = False
    USES_MACHINE_HOTPLUG_HANDLER = True
    md_decides_memslots: ClassVar[bool] = True

    def __init__(self, machine: object) -> None:
        super().__init__(machine)  # type: ignore[arg-type]  # the test passes a Machine
        self.memdev: MemoryBackend | None = None
        self.addr = 0
        self.split = MemslotSplit(0, 0)
        self.slots: MemslotContainer | None = None
        add_memdev_property(self, lambda: self.memdev, self._set_memdev)

    def _set_memdev(self, backend: MemoryBackend | None) -> None:
        self.memdev = backend

    # memory-device hooks
    def md_id(self) -> str | None:
        return self.id

    def md_region(self) -> DeviceRegion | None:
        if self.memdev is None:
            return None  # an empty device (G0)
        return DeviceRegion(self.memdev.size, self.memdev.alignment)

    def md_addr(self) -> int:
        return self.addr

    def md_set_addr(self, addr: int) -> None:
        self.addr = addr

    def md_min_alignment(self) -> int:
        return 32 * GiB

    def md_decide_memslots(self, limit: int) -> None:
        assert self.memdev is not None
        self.split = hv_balloon_memslots(region_size=self.memdev.size, limit=limit)

    def md_memslots(self) -> int:
        return self.split.count

    def md_maps_whole_region(self) -> bool:
        return False

    def md_info(self) -> JSONObject:
        return {"type": "hv-balloon", "data": {"max-size": 0}}

    # qdev hooks
    def pre_plug(self) -> None:
        memory_devices(self.machine).pre_plug(self, warnings=[])

    def plug(self, now: Instant) -> list[MachineEvent]:
        manager = memory_devices(self.machine)
        manager.plug(self)
        if self.memdev is not None:
            self.memdev.set_mapped(True)
            self.slots = MemslotContainer(manager, self, self.split, self.memdev.size)
        return []


def test_a_balloon_memdev_sits_32_gib_aligned_with_decided_memslots() -> None:
    machine = vm("-machine q35 -m 4G,maxmem=40G")
    machine.machine.qdev.register(SketchBalloon)
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "hvmem", "size": 8 * GiB})
    device, _ = machine.machine.device_add(
        {"driver": "sketch-balloon", "id": "hvb", "memdev": "hvmem"}, machine.clock.now()
    )
    assert isinstance(device, SketchBalloon) and device.slots is not None
    assert device.addr == 34359738368  # example D
    # limit = floor(256 * 8/36) = 56 -> 8 GiB/56 rounded up to 128 MiB = 256 MiB memslots
    assert device.split == MemslotSplit(32, 256 * MiB)
    manager = memory_devices(machine.machine)
    assert (manager.memslots.required, manager.memslots.used) == (32, 0)
    # Hot-adding 1 GiB maps the memslots covering it, in order.
    device.slots.ensure_mapped_prefix(1 * GiB)
    assert (device.slots.mapped_count, manager.memslots.used) == (4, 4)
    section = manager.section_at(device.addr + GiB - 1)
    assert section is not None and section.owner is device
    assert manager.section_at(device.addr + GiB) is None
    assert [(s.start, s.size) for s in manager.sections_of(device)][-1] == (
        device.addr + 768 * MiB, 256 * MiB
    )
    # A reboot frees the hot-added range: every memslot is unmapped again.
    device.slots.unmap_all()
    assert manager.memslots.used == 0 and manager.memslots.reserved == 32
    assert manager.plugged_size() == 8 * GiB  # the whole memdev counts as plugged


def test_a_balloon_without_memdev_needs_no_device_memory() -> None:
    machine = vm("-machine q35 -m 4G")
    machine.machine.qdev.register(SketchBalloon)
    device, _ = machine.machine.device_add(
        {"driver": "sketch-balloon", "id": "hvb"}, machine.clock.now()
    )
    manager = memory_devices(machine.machine)
    assert [id(d) for d in manager.devices()] == [id(device)]
    assert manager.plugged_size() == 0
