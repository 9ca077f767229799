"""Memslot budget, the per-device decision limit and the virtio-mem / hv-balloon splits."""

from __future__ import annotations

import pytest

from hvballoond.machine.config import Accel
from hvballoond.machine.errors import MachineError
from hvballoond.machine.memdev.manager import MemoryDeviceManager, MemslotContainer
from hvballoond.machine.memdev.memslots import (
    MemslotAccounting,
    MemslotLimits,
    MemslotSplit,
    hv_balloon_memslots,
    virtio_mem_memslots,
)
from hvballoond.machine.memory_map import DeviceMemoryRegion
from hvballoond.machine.units import GiB, MiB
from tests.machine.memdev.fakes import FakeContainer, FakeDevice

TCG = MemslotLimits()


def test_virtio_mem_worked_example_takes_16_memslots() -> None:
    # 16 GiB memdev, block 2 MiB, -m 1G,maxmem=17G: the device takes all the space.
    acct = MemslotAccounting(TCG)
    limit = acct.decision_limit(size=16 * GiB, space=16 * GiB, used_region_size=0)
    assert limit == 256
    assert virtio_mem_memslots(region_size=16 * GiB, block_size=2 * MiB, limit=limit) == (
        MemslotSplit(16, 1 * GiB)
    )


def test_hv_balloon_worked_example_takes_32_memslots() -> None:
    # 8 GiB memdev, -m 1G,maxmem=41G: 256 * 8/40 = 51.2 -> 51; 8G/51 -> 256 MiB memslots.
    acct = MemslotAccounting(TCG)
    limit = acct.decision_limit(size=8 * GiB, space=40 * GiB, used_region_size=0)
    assert limit == 51
    assert hv_balloon_memslots(region_size=8 * GiB, limit=limit) == MemslotSplit(32, 256 * MiB)


def test_single_memslot_splits_cover_the_region() -> None:
    assert hv_balloon_memslots(region_size=3 * GiB, limit=1) == MemslotSplit(1, 3 * GiB)
    assert virtio_mem_memslots(region_size=3 * GiB, block_size=2 * MiB, limit=1) == (
        MemslotSplit(1, 3 * GiB)
    )
    # Small devices: the 1 GiB minimum memslot size wins.
    assert virtio_mem_memslots(region_size=512 * MiB, block_size=2 * MiB, limit=200) == (
        MemslotSplit(1, 512 * MiB)
    )
    # Last memslot smaller: 2.5 GiB in 1 GiB memslots is 3 memslots.
    assert virtio_mem_memslots(region_size=2560 * MiB, block_size=2 * MiB, limit=256) == (
        MemslotSplit(3, 1 * GiB)
    )


def test_limit_is_one_past_the_soft_limit_and_with_few_kvm_memslots() -> None:
    acct = MemslotAccounting(TCG, required=256, used=256)
    assert acct.decision_limit(size=1 * GiB, space=2 * GiB, used_region_size=0) == 1
    old_kernel = MemslotAccounting(MemslotLimits(accel=Accel.KVM, kvm_max_memslots=509))
    assert old_kernel.decision_limit(size=1 * GiB, space=1 * GiB, used_region_size=0) == 256
    tiny = MemslotAccounting(MemslotLimits(accel=Accel.KVM, kvm_max_memslots=508))
    assert tiny.decision_limit(size=1 * GiB, space=1 * GiB, used_region_size=0) == 1
    # A kernel reporting 0 memslots means 32 (accel/kvm/kvm-all.c): again below 509.
    assert MemslotLimits(accel=Accel.KVM, kvm_max_memslots=0).kvm_max == 32


def test_limit_uses_floating_point_like_qemu() -> None:
    # 96 * size / available is exactly 78 in rational arithmetic, but QEMU's double
    # computation gives 77.999...; truncation keeps 77.
    acct = MemslotAccounting(TCG, required=160, used=160)
    size, available = 3516941860082199588, 4328543827793476416
    assert 96 * size // available == 78
    assert acct.decision_limit(size=size, space=available, used_region_size=0) == 77


def test_limit_considers_free_kvm_memslots_minus_reserved() -> None:
    limits = MemslotLimits(accel=Accel.KVM, kvm_max_memslots=600, boot_memslots=500)
    # 90 free (600 - 500 boot - 10 used), 40 reserved (required 50, used 10): 50 left.
    acct = MemslotAccounting(limits, required=50, used=10)
    assert acct.decision_limit(size=8 * GiB, space=8 * GiB, used_region_size=0) == 50
    # More reserved than free: a single memslot.
    starved = MemslotAccounting(limits, required=200, used=95)
    assert starved.decision_limit(size=8 * GiB, space=8 * GiB, used_region_size=0) == 1


def test_tcg_never_refuses_memslots() -> None:
    acct = MemslotAccounting(TCG, required=10_000_000)
    assert acct.check_addable(10_000_000) is None
    assert acct.kvm_free() is None
    assert acct.vhost_free() is None


def _manager(limits: MemslotLimits) -> MemoryDeviceManager:
    return MemoryDeviceManager(
        ram_size=1 * GiB, maxram_size=64 * GiB,
        region=DeviceMemoryRegion(4 * GiB, 63 * GiB + 32 * GiB, 0), limits=limits)


def test_g4_emulated_kvm_runs_out_of_memslots() -> None:
    mgr = _manager(MemslotLimits(accel=Accel.KVM, kvm_max_memslots=12, boot_memslots=8))
    for n in range(4):
        mgr.pre_plug(dimm := FakeDevice(f"d{n}", 2 * MiB), warnings=[])
        mgr.plug(dimm)
    assert mgr.memslots.used == 4
    with pytest.raises(MachineError) as err:
        mgr.pre_plug(FakeDevice("d4", 2 * MiB), warnings=[])
    assert str(err.value) == "hypervisor has not enough free memory slots left"


def test_g5_vhost_limit() -> None:
    mgr = _manager(MemslotLimits(vhost_memslots=9, boot_memslots=8))
    mgr.pre_plug(dimm := FakeDevice("d0", 2 * MiB), warnings=[])
    mgr.plug(dimm)
    with pytest.raises(MachineError) as err:
        mgr.pre_plug(FakeDevice("d1", 2 * MiB), warnings=[])
    assert str(err.value) == "a used vhost backend has not enough free memory slots left"


def test_reserved_memslots_count_against_the_budget() -> None:
    # A container promises 4 memslots but maps none yet: they stay reserved.
    limits = MemslotLimits(accel=Accel.KVM, kvm_max_memslots=520, boot_memslots=12)
    mgr = _manager(limits)
    hvb = FakeContainer("hvb", 4 * GiB, min_align=32 * GiB)
    mgr.pre_plug(hvb, warnings=[])
    mgr.plug(hvb)
    assert hvb.split is not None
    assert (mgr.memslots.required, mgr.memslots.used) == (hvb.split.count, 0)
    assert mgr.memslots.reserved == hvb.split.count
    assert mgr.memslots.auto_decision_active == 1


def test_container_maps_memslots_progressively() -> None:
    mgr = _manager(TCG)
    hvb = FakeContainer("hvb", 8 * GiB, min_align=32 * GiB)
    mgr.pre_plug(hvb, warnings=[])
    mgr.plug(hvb)
    assert hvb.split is not None
    slots = MemslotContainer(mgr, hvb, hvb.split, 8 * GiB)
    slots.ensure_mapped_prefix(1 * GiB + 1)
    mapped = 1 * GiB // hvb.split.size + 1
    assert (slots.mapped_count, mgr.memslots.used) == (mapped, mapped)
    section = mgr.section_at(hvb.addr + 1 * GiB)
    assert section is not None and section.owner is hvb
    assert mgr.section_at(hvb.addr + 4 * GiB) is None
    mgr.unplug(hvb)
    assert (mgr.memslots.used, mgr.memslots.required, mgr.used_region_size) == (0, 0, 0)
    assert mgr.sections() == []
