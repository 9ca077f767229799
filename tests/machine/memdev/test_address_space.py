"""First-fit placement: the spec's worked examples, each message, and QEMU's walk as oracle."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvballoond.machine.errors import MachineError
from hvballoond.machine.memdev.address_space import AddressSpace
from hvballoond.machine.memdev.manager import MemoryDeviceManager
from hvballoond.machine.memdev.memslots import MemslotLimits
from hvballoond.machine.memory_map import DeviceMemoryRegion
from hvballoond.machine.units import GiB, MiB
from tests.machine.memdev.fakes import FakeContainer, FakeDevice, Placed, reference_place

FRAGMENTED = (
    "could not find position in guest address space for memory device - memory fragmented "
    "due to alignments"
)


def manager(*, ram: int, maxmem: int, slots: int, base: int) -> MemoryDeviceManager:
    region = DeviceMemoryRegion(base, (maxmem - ram) + slots * GiB, 0)
    return MemoryDeviceManager(ram_size=ram, maxram_size=maxmem, region=region)


def plug(mgr: MemoryDeviceManager, dev: FakeDevice, warnings: list[str] | None = None) -> int:
    mgr.pre_plug(dev, warnings=[] if warnings is None else warnings)
    mgr.plug(dev)
    return dev.addr


def test_worked_example_a() -> None:
    # q35 -m 1G,slots=8,maxmem=4G: region [4G, 4G + 3G + 8G); recorded in
    # tests/machine/recorded/devices-first-fit.txt.
    mgr = manager(ram=1 * GiB, maxmem=4 * GiB, slots=8, base=4 * GiB)
    assert plug(mgr, FakeDevice("d1", 1 * GiB, addr=5368709120)) == 5368709120
    assert plug(mgr, FakeDevice("d2", 1 * GiB)) == 4294967296
    assert plug(mgr, FakeDevice(None, 2 * MiB)) == 6442450944
    with pytest.raises(MachineError) as err:
        plug(mgr, FakeDevice("d3", 2 * GiB))
    assert str(err.value) == (
        "not enough space, currently 0x80200000 in use of total space for memory devices "
        "0xc0000000"
    )
    # The recorded hint checks that followed.
    with pytest.raises(MachineError, match=r"^address range conflicts with memory device "
                       r"id='d1'$"):
        plug(mgr, FakeDevice("d6", 2 * MiB, addr=5370806272))
    with pytest.raises(MachineError, match=r"^address must be aligned to 0x200000 bytes$"):
        plug(mgr, FakeDevice("d6", 2 * MiB, addr=5369757696))
    assert plug(mgr, FakeDevice("d6", 2 * MiB, addr=7516192768)) == 7516192768
    assert [d.md_id() for d in mgr.devices()] == ["d2", "d1", None, "d6"]
    assert mgr.used_region_size == 2 * GiB + 4 * MiB
    assert mgr.plugged_size() == 2 * GiB + 4 * MiB


def test_worked_example_b_fragmentation() -> None:
    # q35 -m 1G,maxmem=3G (no slots): region [4G, 6G).
    mgr = manager(ram=1 * GiB, maxmem=3 * GiB, slots=0, base=4 * GiB)
    assert plug(mgr, FakeDevice("vp1", 512 * MiB, addr=0x130000000)) == 0x130000000
    with pytest.raises(MachineError) as err:
        plug(mgr, FakeDevice("vm1", 1 * GiB))
    assert str(err.value) == FRAGMENTED
    with pytest.raises(MachineError) as err:
        plug(mgr, FakeDevice("vm2", 256 * MiB, addr=6308233216))
    assert str(err.value) == (
        "can't add memory device [0x178000000:0x10000000], usable range for memory devices "
        "[0x100000000:0x80000000]"
    )
    assert plug(mgr, FakeDevice("vm2", 256 * MiB, addr=4294967296)) == 4294967296
    assert [d.md_id() for d in mgr.devices()] == ["vm2", "vp1"]


def test_worked_example_c_large_alignment_warns() -> None:
    # q35 -m 1G,maxmem=20G: region [4G, 27G); block-size 8G makes the alignment 8 GiB.
    mgr = manager(ram=1 * GiB, maxmem=20 * GiB, slots=0, base=4 * GiB)
    assert plug(mgr, FakeDevice("vm0", 1 * GiB, min_align=2 * MiB)) == 4 * GiB
    warnings: list[str] = []
    assert plug(mgr, FakeDevice("vm1", 8 * GiB, min_align=8 * GiB), warnings) == 8589934592
    assert warnings == [
        "the alignment (0x200000000) exceeds the expected maximum alignment, memory will get "
        "fragmented and not all 'maxmem' might be usable for memory devices."
    ]


def test_worked_example_d_hv_balloon_alignment() -> None:
    # q35 -m 4G,maxmem=40G: below 2G + above 2G, region [6G, 42G).
    mgr = manager(ram=4 * GiB, maxmem=40 * GiB, slots=0, base=6 * GiB)
    hvb = FakeContainer("hvb", 8 * GiB, min_align=32 * GiB)
    assert plug(mgr, hvb) == 34359738368
    small = manager(ram=4 * GiB, maxmem=36 * GiB, slots=0, base=6 * GiB)
    with pytest.raises(MachineError) as err:
        plug(small, FakeContainer("hvb", 8 * GiB, min_align=32 * GiB))
    assert str(err.value) == FRAGMENTED


def test_hint_outside_region_reports_hint_and_size() -> None:
    mgr = manager(ram=1 * GiB, maxmem=2 * GiB, slots=0, base=4 * GiB)
    with pytest.raises(MachineError) as err:
        plug(mgr, FakeDevice("d", 1 * GiB, addr=1 * GiB))
    assert str(err.value) == (
        "can't add memory device [0x40000000:0x40000000], usable range for memory devices "
        "[0x100000000:0x40000000]"
    )


def test_conflict_names_unnamed_devices() -> None:
    mgr = manager(ram=1 * GiB, maxmem=4 * GiB, slots=0, base=4 * GiB)
    plug(mgr, FakeDevice(None, 1 * GiB))
    with pytest.raises(MachineError) as err:
        plug(mgr, FakeDevice("x", 2 * MiB, addr=4 * GiB + 2 * MiB))
    assert str(err.value) == "address range conflicts with memory device id='(unnamed)'"


def test_device_too_big_when_the_aligned_start_overflows() -> None:
    space: AddressSpace[str] = AddressSpace(DeviceMemoryRegion(4 * GiB, 1 * GiB, 0))
    with pytest.raises(MachineError) as err:
        space.place(hint=None, align=2 * MiB, size=(1 << 64) - 4 * GiB, describe=str,
                    warnings=[])
    assert str(err.value) == "can't add memory device, device too big"


def test_release_merges_free_extents_back() -> None:
    space: AddressSpace[str] = AddressSpace(DeviceMemoryRegion(4 * GiB, 4 * GiB, 0))
    for i in range(4):
        space.occupy(4 * GiB + i * GiB, 1 * GiB, f"d{i}")
    for start in (5 * GiB, 7 * GiB, 4 * GiB, 6 * GiB):
        space.release(start)
    assert space.free_extents() == [(0, 1 << 64)]
    assert len(space) == 0


def test_occupy_refuses_used_ranges() -> None:
    space: AddressSpace[str] = AddressSpace(DeviceMemoryRegion(4 * GiB, 4 * GiB, 0))
    space.occupy(4 * GiB, 1 * GiB, "a")
    with pytest.raises(ValueError):
        space.occupy(4 * GiB + 2 * MiB, 2 * MiB, "b")


_ALIGNS = st.sampled_from([4096, 2 * MiB, 4 * MiB, 1 * GiB, 8 * GiB])


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=64).map(lambda n: n * 2 * MiB),
            _ALIGNS,
            st.one_of(st.none(), st.integers(min_value=0, max_value=96).map(
                lambda n: 4 * GiB + n * 32 * MiB)),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_placement_matches_qemus_walk(ops: list[tuple[int, int, int | None, bool]]) -> None:
    """Every placement (address or error text) equals QEMU's literal list walk."""
    region = DeviceMemoryRegion(4 * GiB, 3 * GiB, 0)
    space: AddressSpace[str] = AddressSpace(region)
    placed: list[Placed] = []
    for n, (size, align, hint, remove_first) in enumerate(ops):
        if remove_first and placed:
            victim = placed.pop(n % len(placed))
            space.release(victim.start)
        try:
            expected: int | str = reference_place(
                placed, base=region.base, region_size=region.size, hint=hint,
                align=align, size=size)
        except MachineError as err:
            expected = str(err)
        try:
            got: int | str = space.place(hint=hint, align=align, size=size,
                                         describe=str, warnings=[])
        except MachineError as err:
            got = str(err)
        assert got == expected
        if isinstance(got, int):
            name = f"d{n}"
            space.occupy(got, size, name)
            placed.append(Placed(got, size, name))
    spans = sorted((p.start, p.start + p.size) for p in placed)
    assert all(a[1] <= b[0] for a, b in pairwise(spans))
    assert [(s, s + sz) for s, sz, _ in space] == spans


def test_limits_default_is_tcg() -> None:
    assert MemslotLimits().accel.value == "tcg"
