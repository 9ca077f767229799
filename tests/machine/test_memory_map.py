"""``-m``, the RAM split, the device-memory region, startup layout checks, the flat view.

Expected values: machine-memory.md §1-§3 (observed) and tests/machine/recorded/startup.txt.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvballoond.machine.config import MachineConfig, MachineKind
from hvballoond.machine.errors import StartupError
from hvballoond.machine.memory_map import (
    MemoryMap,
    MemoryOption,
    RegionKind,
    build_layout,
    check_memory_size,
    parse_memory_options,
    split_ram,
)
from hvballoond.machine.strconv import ConversionError, strtosz
from hvballoond.machine.units import GiB, MiB, TiB


def sizes(*texts: str) -> tuple[int, int, int]:
    result = check_memory_size(parse_memory_options(list(texts)))
    return result.ram_size, result.maxram_size, result.ram_slots


def startup_error(*texts: str, kind: MachineKind = MachineKind.Q35) -> str:
    with pytest.raises(StartupError) as err:
        option = parse_memory_options(list(texts))
        size = check_memory_size(option)
        build_layout(
            MachineConfig(
                kind=kind,
                ram_size=size.ram_size,
                maxram_size=size.maxram_size,
                ram_slots=size.ram_slots,
            )
        )
    return err.value.message


# -- -m -----------------------------------------------------------------------------------


def test_m_option_units_and_rounding() -> None:
    assert sizes("1000") == (1048576000, 1048576000, 0)
    assert sizes("1G") == (GiB, GiB, 0)
    assert sizes("1048577k")[0] == 1073750016
    assert sizes("0")[0] == 128 * MiB
    assert sizes("1.5G")[0] == 1610612736
    assert sizes("1G,maxmem=4097M")[1] == 4097 * MiB
    assert sizes("1G,maxmem=1073741824") == (GiB, GiB, 0)  # maxmem: bare number = bytes
    assert sizes("1G,slots=4,maxmem=16G") == (GiB, 16 * GiB, 4)
    assert sizes("size=2G") == (2 * GiB, 2 * GiB, 0)
    assert sizes()[0] == 128 * MiB


def test_m_options_merge() -> None:
    assert sizes("1G", "maxmem=2G,slots=2") == (GiB, 2 * GiB, 2)


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (
            ["1G,maxmem=512M,slots=abc"],
            "-m 1G,maxmem=512M,slots=abc: Parameter 'slots' expects a number",
        ),
        (["size=abc"], "-m size=abc: Parameter 'size' expects a non-negative number below 2^64"),
        (["1G,bogus=1"], "-m 1G,bogus=1: Invalid parameter 'bogus'"),
        (["0x100"], "Parameter 'memory.size' expects size"),
        (
            ["1G,maxmem=4097"],
            "invalid value of maxmem: maximum memory size (0x1001) must be at least the "
            "initial memory size (0x40000000)",
        ),
        (
            ["1G,maxmem=1G,slots=2"],
            "invalid value of maxmem: memory slots were specified but maximum memory size "
            "(0x40000000) is equal to the initial memory size (0x40000000)",
        ),
        (["1G,slots=4"], "slots specified but no max-size"),
        (["1G,slots=0"], "slots specified but no max-size"),
        (["1G,slots=300,maxmem=16G"], "unsupported amount of memory slots: 300"),
        (["1G,maxmem=16G,slots=257"], "unsupported amount of memory slots: 257"),
        (
            ["1G,slots=-1,maxmem=2G"],
            "unsupported amount of memory slots: 18446744073709551615",
        ),
        (
            ["1G,slots=4,maxmem=975G"],
            "Address space limit 0xffffffffff < 0x1fc7fffffff phys-bits too low (40)",
        ),
        (
            ["1G,maxmem=4097"],
            "invalid value of maxmem: maximum memory size (0x1001) must be at least the "
            "initial memory size (0x40000000)",
        ),
        (
            ["1G,maxmem=2147487744,slots=1"],
            None,
        ),
        (
            ["1G,maxmem=2147483649"],
            "maximum memory size must by aligned to multiple of 4096 bytes",
        ),
    ],
)
def test_startup_messages_q35(texts: list[str], message: str | None) -> None:
    if message is None:
        option = parse_memory_options(texts)
        size = check_memory_size(option)
        build_layout(
            MachineConfig(
                ram_size=size.ram_size, maxram_size=size.maxram_size, ram_slots=size.ram_slots
            )
        )
        return
    assert startup_error(*texts) == message


def test_size_hint_is_kept() -> None:
    with pytest.raises(StartupError) as err:
        parse_memory_options(["size=abc"])
    assert err.value.hint == (
        "Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
        "and exabytes, respectively."
    )


def test_address_space_check_comes_before_the_slot_check() -> None:
    # Recorded on pc and q35: both conditions hold, the address-space error wins.
    assert startup_error("1G,slots=300,maxmem=900G", kind=MachineKind.PC) == (
        "Address space limit 0xffffffffff < 0x22c3fffffff phys-bits too low (40)"
    )


def test_970g_starts_without_relocation() -> None:
    option = parse_memory_options(["1G,slots=4,maxmem=970G"])
    size = check_memory_size(option)
    layout, region = build_layout(
        MachineConfig(ram_size=size.ram_size, maxram_size=size.maxram_size, ram_slots=4)
    )
    assert layout.above_4g_start == 4 * GiB
    assert region is not None and region.base == 4 * GiB


def test_amd_relocation_above_1tib_with_more_phys_bits() -> None:
    option = parse_memory_options(["1G,slots=4,maxmem=975G"])
    size = check_memory_size(option)
    config = MachineConfig(
        ram_size=size.ram_size, maxram_size=size.maxram_size, ram_slots=4, phys_bits=48
    )
    layout, region = build_layout(config)
    assert layout.above_4g_start == TiB
    assert region is not None and region.base == TiB
    intel = MachineConfig(
        ram_size=size.ram_size, maxram_size=size.maxram_size, ram_slots=4, amd_cpu=False
    )
    assert build_layout(intel)[0].above_4g_start == 4 * GiB


def test_pc_975g_starts_with_the_smaller_hole() -> None:
    option = parse_memory_options(["1G,slots=4,maxmem=975G"])
    size = check_memory_size(option)
    build_layout(
        MachineConfig(
            kind=MachineKind.PC, ram_size=size.ram_size, maxram_size=size.maxram_size, ram_slots=4
        )
    )


# -- split and region (§3.3 table) --------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "ram", "below", "above", "base", "size"),
    [
        (MachineKind.Q35, GiB, GiB, 0, 0x100000000, 0x4C0000000),
        (MachineKind.Q35, 2815 * MiB, 2815 * MiB, 0, 0x100000000, 0x450100000),
        (MachineKind.Q35, 2816 * MiB, 2 * GiB, 768 * MiB, 0x140000000, 0x450000000),
        (MachineKind.Q35, 3584 * MiB, 2 * GiB, 1536 * MiB, 0x180000000, 0x420000000),
        (MachineKind.Q35, 4 * GiB, 2 * GiB, 2 * GiB, 0x180000000, 0x400000000),
        (MachineKind.PC, GiB, GiB, 0, 0x100000000, 0x4C0000000),
        (MachineKind.PC, 2816 * MiB, 2816 * MiB, 0, 0x100000000, 0x450000000),
        (MachineKind.PC, 3584 * MiB, 3 * GiB, 512 * MiB, 0x140000000, 0x420000000),
        (MachineKind.PC, 4 * GiB, 3 * GiB, GiB, 0x140000000, 0x400000000),
    ],
)
def test_split_and_region(
    kind: MachineKind, ram: int, below: int, above: int, base: int, size: int
) -> None:
    layout, region = build_layout(
        MachineConfig(kind=kind, ram_size=ram, maxram_size=16 * GiB, ram_slots=4)
    )
    assert (layout.below_4g, layout.above_4g) == (below, above)
    assert region is not None
    assert (region.base, region.size, region.space) == (base, size, 16 * GiB - ram)


def test_max_ram_below_4g() -> None:
    assert split_ram(MachineKind.Q35, 2 * GiB, GiB).below_4g == GiB
    assert split_ram(MachineKind.PC, 2 * GiB, GiB) == split_ram(MachineKind.PC, 2 * GiB, GiB)
    assert split_ram(MachineKind.PC, 4 * GiB, None).below_4g == 3 * GiB


def test_no_device_memory_without_maxmem() -> None:
    _, region = build_layout(MachineConfig(ram_size=GiB, maxram_size=GiB))
    assert region is None


def test_memory_property() -> None:
    layout, region = build_layout(MachineConfig(ram_size=GiB, maxram_size=16 * GiB, ram_slots=4))
    mmap = MemoryMap(MachineConfig(ram_size=GiB, maxram_size=16 * GiB, ram_slots=4), layout, region)
    assert mmap.memory_property() == {"size": GiB, "max-size": 16 * GiB, "slots": 4}


# -- flat view ----------------------------------------------------------------------------


def test_flat_view_q35_1g() -> None:
    config = MachineConfig(ram_size=GiB, maxram_size=GiB)
    layout, region = build_layout(config)
    mmap = MemoryMap(config, layout, region)
    ranges = [(r.start, r.end, r.kind) for r in mmap.boot_ranges()]
    assert ranges == [
        (0, 0xC0000, RegionKind.RAM),
        (0xC0000, 0xE0000, RegionKind.ROM_OR_MMIO),
        (0xE0000, 0x100000, RegionKind.ROM_OR_MMIO),
        (0x100000, GiB, RegionKind.RAM),
        (0xFFFC0000, 4 * GiB, RegionKind.ROM_OR_MMIO),
    ]
    assert mmap.lookup(0x1000) is not None
    assert mmap.lookup(GiB) is None  # the PCI hole
    found = mmap.lookup(0xC1000)
    assert found is not None and found.name == "pc.rom"


def test_flat_view_high_ram() -> None:
    config = MachineConfig(ram_size=4 * GiB, maxram_size=4 * GiB)
    layout, region = build_layout(config)
    mmap = MemoryMap(config, layout, region)
    high = mmap.lookup(5 * GiB)
    assert high is not None and high.kind is RegionKind.RAM and high.end == 6 * GiB
    assert mmap.lookup(6 * GiB) is None


# -- qemu_strtosz -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("1k", 1024),
        ("1K", 1024),
        ("2M", 2 * MiB),
        ("1.5M", 1572864),
        ("0x10", 16),
        ("1G", GiB),
        ("1T", TiB),
        ("12345", 12345),
        ("1.k", 1024),
        ("1B", 1),
        (".5M", 512 * 1024),
    ],
)
def test_strtosz_accepts(text: str, value: int) -> None:
    assert strtosz(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1MiB", "-1", "0x10M", "1.5", "1 M", "16E"])
def test_strtosz_refuses(text: str) -> None:
    with pytest.raises(ConversionError):
        strtosz(text)


@settings(max_examples=80, derandomize=True)
@given(st.integers(0, 1 << 30), st.sampled_from(["", "k", "M", "G"]))
def test_strtosz_integer_suffix(number: int, suffix: str) -> None:
    scale = {"": 1, "k": 1 << 10, "M": 1 << 20, "G": 1 << 30}[suffix]
    assert strtosz(f"{number}{suffix}") == number * scale


def test_memory_option_dataclass_defaults() -> None:
    assert MemoryOption() == MemoryOption(None, None, None)
