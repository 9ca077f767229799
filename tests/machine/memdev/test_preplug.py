"""The order of the generic pre-plug checks G0-G14 (memory-devices.md §3)."""

from __future__ import annotations

import pytest

from hvballoond.machine.errors import MachineError
from hvballoond.machine.memdev.manager import MemoryDeviceManager
from hvballoond.machine.memdev.preplug import NO_DEVICE_MEMORY
from hvballoond.machine.memory_map import DeviceMemoryRegion
from hvballoond.machine.units import GiB, MiB
from tests.machine.memdev.fakes import FakeContainer, FakeDevice

NO_MEMDEV = "'memdev' property must be set"


def no_device_memory() -> MemoryDeviceManager:
    return MemoryDeviceManager(ram_size=1 * GiB, maxram_size=1 * GiB, region=None)


def with_device_memory(space: int = 3 * GiB) -> MemoryDeviceManager:
    return MemoryDeviceManager(
        ram_size=1 * GiB, maxram_size=1 * GiB + space,
        region=DeviceMemoryRegion(4 * GiB, space + 4 * GiB, 0))


def refusal(mgr: MemoryDeviceManager, dev: FakeDevice) -> str:
    with pytest.raises(MachineError) as err:
        mgr.pre_plug(dev, warnings=[])
    return str(err.value)


def test_g0_empty_device_needs_no_device_memory() -> None:
    mgr = no_device_memory()
    empty = FakeDevice("hvb", None)
    mgr.pre_plug(empty, warnings=[])
    mgr.plug(empty)
    assert mgr.devices() == [empty]
    assert mgr.plugged_size() == 0
    assert mgr.used_region_size == 0 and mgr.memslots.required == 0
    mgr.unplug(empty)
    assert mgr.devices() == []


def test_empty_devices_are_listed_first() -> None:
    mgr = with_device_memory()
    dimm = FakeDevice("d0", 1 * GiB)
    for dev in (dimm, empty := FakeDevice("hvb", None)):
        mgr.pre_plug(dev, warnings=[])
        mgr.plug(dev)
    assert mgr.devices() == [empty, dimm]


def test_g1_comes_before_the_device_region_error() -> None:
    assert refusal(no_device_memory(), FakeDevice("d", None, region_error=NO_MEMDEV)) == (
        NO_DEVICE_MEMORY
    )
    assert refusal(with_device_memory(), FakeDevice("d", None, region_error=NO_MEMDEV)) == (
        NO_MEMDEV
    )
    assert NO_DEVICE_MEMORY == (
        "the configuration is not prepared for memory devices (e.g., for memory hotplug), "
        "consider specifying the maxmem option"
    )


def test_g3_decides_before_the_space_check_fails() -> None:
    mgr = with_device_memory(space=1 * GiB)
    hvb = FakeContainer("hvb", 2 * GiB)
    assert refusal(mgr, hvb).startswith("not enough space, currently 0x0 in use")
    assert hvb.limit is not None


def test_g6_before_g7_before_g9() -> None:
    mgr = with_device_memory(space=1 * GiB)
    assert refusal(mgr, FakeDevice("d", 1 * GiB + 1 * MiB)) == (
        "not enough space, currently 0x0 in use of total space for memory devices 0x40000000"
    )
    assert refusal(mgr, FakeDevice("d", 3 * MiB, addr=4 * GiB + 1)) == (
        "backend memory size must be multiple of 0x200000"
    )
    assert refusal(mgr, FakeDevice("d", 4 * MiB, addr=4 * GiB + 1)) == (
        "address must be aligned to 0x200000 bytes"
    )


def test_g6_counts_used_space() -> None:
    mgr = with_device_memory(space=1 * GiB)
    mgr.pre_plug(first := FakeDevice("a", 512 * MiB), warnings=[])
    mgr.plug(first)
    assert refusal(mgr, FakeDevice("b", 514 * MiB)) == (
        "not enough space, currently 0x20000000 in use of total space for memory devices "
        "0x40000000"
    )


def test_min_alignment_raises_the_hint_alignment() -> None:
    mgr = with_device_memory()
    assert refusal(mgr, FakeDevice("vm", 8 * MiB, addr=4 * GiB + 2 * MiB,
                                   min_align=4 * MiB)) == (
        "address must be aligned to 0x400000 bytes"
    )


def test_failed_pre_plug_changes_nothing() -> None:
    mgr = with_device_memory(space=1 * GiB)
    before = (mgr.used_region_size, mgr.memslots.required, mgr.memslots.used)
    refusal(mgr, FakeDevice("d", 2 * GiB))
    assert (mgr.used_region_size, mgr.memslots.required, mgr.memslots.used) == before
    assert mgr.devices() == []


def test_g14_stores_the_address() -> None:
    mgr = with_device_memory()
    dev = FakeDevice("d", 1 * GiB)
    mgr.pre_plug(dev, warnings=[])
    assert dev.addr == 4 * GiB
