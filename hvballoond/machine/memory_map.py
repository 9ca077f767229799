"""Guest-physical memory layout: ``-m``, the RAM split, the device-memory region.

Spec: machine-memory.md §1-§4. Pure functions compute the layout; :class:`MemoryMap` holds
the result for one machine and answers "what is at this guest address" (the flat view
hv-balloon needs for pages the guest returns, balloon.md §3.9).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final

from hvballoond.machine.config import MachineConfig, MachineKind
from hvballoond.machine.errors import StartupError
from hvballoond.machine.strconv import ConversionError, Failure, strtosz, strtou64
from hvballoond.machine.units import GiB, MiB, align_up, hx, u64
from hvballoond.wire.values import JSONObject

__all__ = [
    "ACPI_MAX_RAM_SLOTS",
    "AMD_ABOVE_1TB_START",
    "AMD_HT_START",
    "DeviceMemoryRegion",
    "FlatRange",
    "MemoryMap",
    "MemoryOption",
    "RamLayout",
    "RegionKind",
    "build_layout",
    "check_memory_size",
    "device_memory_region",
    "parse_memory_options",
    "split_ram",
]

ACPI_MAX_RAM_SLOTS: Final = 256
AMD_HT_START: Final = 0xFD00000000
AMD_ABOVE_1TB_START: Final = 0x10000000000
FOUR_GIB: Final = 4 * GiB
#: Board default RAM size (``mc->default_ram_size``) for pc/q35; ``none`` has 0.
DEFAULT_RAM_SIZE: Final = 128 * MiB

# Low-memory ROM/MMIO layout (machine-memory.md §2, observed flat view).
PC_ROM_START: Final = 0xC0000
BIOS_LOW_START: Final = 0xE0000
LOW_RAM_RESUME: Final = 0x100000
BIOS_HIGH_START: Final = 0xFFFC0000


# --------------------------------------------------------------------------------------------
# -m
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemoryOption:
    """``-m`` as given: raw strings after QemuOpts validation (None when absent)."""

    size: str | None = None
    maxmem: str | None = None
    slots: int | None = None


def _size_opt(option_text: str, name: str, value: str) -> None:
    # util/qemu-option.c parse_option_size; the error echoes the whole option.
    try:
        strtosz(value)
    except ConversionError as err:
        if err.failure is Failure.ERANGE:
            raise StartupError(
                f"-m {option_text}: Value '{value}' is out of range for parameter '{name}'"
            ) from None
        raise StartupError(
            f"-m {option_text}: Parameter '{name}' expects a non-negative number below 2^64",
            hint="Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
            "and exabytes, respectively.",
        ) from None


def parse_memory_options(texts: Sequence[str]) -> MemoryOption:
    """Parse every ``-m`` option (they merge; a later key wins), with QemuOpts' checks.

    Raises:
        StartupError: ``-m <text>: Parameter 'slots' expects a number`` and friends.
    """
    size: str | None = None
    maxmem: str | None = None
    slots: int | None = None
    for text in texts:
        for index, item in enumerate(text.split(",")):
            if "=" in item:
                key, value = item.split("=", 1)
            elif index == 0:
                key, value = "size", item
            else:
                key, value = item, "on"
            if key == "size":
                _size_opt(text, "size", value)
                size = value
            elif key == "maxmem":
                _size_opt(text, "maxmem", value)
                maxmem = value
            elif key == "slots":
                try:
                    slots = strtou64(value)
                except ConversionError:
                    raise StartupError(f"-m {text}: Parameter 'slots' expects a number") from None
            else:
                raise StartupError(f"-m {text}: Invalid parameter '{key}'")
    return MemoryOption(size, maxmem, slots)


@dataclass(frozen=True, slots=True)
class MemorySize:
    """The machine's ``memory`` property after validation."""

    ram_size: int
    maxram_size: int
    ram_slots: int
    slots_given: bool = False


def check_memory_size(
    option: MemoryOption, *, default_ram_size: int = DEFAULT_RAM_SIZE
) -> MemorySize:
    """Turn ``-m`` into sizes with the machine's ``memory`` setter checks (§1.2 #3-#5).

    A bare number means MiB, 0 means the board default, and the size is rounded up to
    8 KiB (hw/core/machine.c machine_set_mem; system/vl.c parse_memory_options).

    Raises:
        StartupError: the setter's message (no option prefix).
    """
    size: int | None = None
    if option.size is not None and strtosz(option.size) != 0:
        text = option.size
        if text[-1:].isdigit():
            text += "M"
        try:
            size = strtosz(text)
        except ConversionError:
            raise StartupError("Parameter 'memory.size' expects size") from None
    max_size = strtosz(option.maxmem) if option.maxmem is not None else None
    ram = align_up(default_ram_size if size is None else size, 8192)
    if max_size is not None:
        if max_size < ram:
            raise StartupError(
                f"invalid value of maxmem: maximum memory size ({hx(max_size)}) must be at "
                f"least the initial memory size ({hx(ram)})"
            )
        if option.slots and max_size == ram:
            raise StartupError(
                "invalid value of maxmem: memory slots were specified but maximum memory "
                f"size ({hx(max_size)}) is equal to the initial memory size ({hx(ram)})"
            )
        maxram = max_size
    else:
        if option.slots is not None:
            raise StartupError("slots specified but no max-size")
        maxram = ram
    return MemorySize(ram, maxram, option.slots or 0, option.slots is not None)


# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RamLayout:
    """Boot RAM split around the 32-bit PCI hole (§2)."""

    below_4g: int
    above_4g: int
    above_4g_start: int = FOUR_GIB

    @property
    def above_4g_end(self) -> int:
        """First byte after the high RAM."""
        return self.above_4g_start + self.above_4g


@dataclass(frozen=True, slots=True)
class DeviceMemoryRegion:
    """Where memory devices live (§3.2). ``space`` is what they may use in total."""

    base: int
    size: int
    space: int

    @property
    def end(self) -> int:
        """First byte after the region."""
        return self.base + self.size


def split_ram(kind: MachineKind, ram_size: int, max_ram_below_4g: int | None) -> RamLayout:
    """The q35/pc split of ``ram_size`` (hw/i386/pc_q35.c, pc_piix.c)."""
    if kind is MachineKind.NONE:
        return RamLayout(ram_size, 0, 0)
    if kind is MachineKind.Q35:
        lowmem = 0x80000000 if ram_size >= 0xB0000000 else 0xB0000000
        if max_ram_below_4g is not None:
            lowmem = min(lowmem, max_ram_below_4g)
    else:
        lowmem = 0xE0000000 if max_ram_below_4g is None else max_ram_below_4g
        if ram_size >= lowmem:
            lowmem = min(lowmem, 0xC0000000)
    if ram_size >= lowmem:
        return RamLayout(lowmem, ram_size - lowmem)
    return RamLayout(ram_size, 0)


def device_memory_region(
    layout: RamLayout, *, ram_size: int, maxram_size: int, ram_slots: int
) -> DeviceMemoryRegion:
    """``pc_get_device_memory_range`` (64-bit wrap-around kept, as in C)."""
    base = align_up(layout.above_4g_end, GiB)
    size = u64((maxram_size - ram_size) + GiB * ram_slots)
    return DeviceMemoryRegion(base, size, maxram_size - ram_size)


def _max_used_gpa(layout: RamLayout, config: MachineConfig, ram_slots: int, hole64: int) -> int:
    # hw/i386/pc.c pc_max_used_gpa / pc_pci_hole64_start (64-bit CPU).
    if config.ram_size < config.maxram_size:
        region = device_memory_region(
            layout, ram_size=config.ram_size, maxram_size=config.maxram_size, ram_slots=ram_slots
        )
        start = u64(region.base + region.size)
    else:
        start = layout.above_4g_end
    return align_up(start, GiB) + hole64 - 1


def build_layout(
    config: MachineConfig, *, check: bool = True
) -> tuple[RamLayout, DeviceMemoryRegion | None]:
    """The board's memory init checks (§1.2 #8, #6, #7 in QEMU's order) and layout.

    With ``check=False`` the layout is computed without refusing anything.

    Raises:
        StartupError: address-space limit, slot count or maxmem alignment.
    """
    layout = split_ram(config.kind, config.ram_size, config.max_ram_below_4g)
    if config.kind is MachineKind.NONE:
        return layout, None
    hole64 = config.hole64_size
    slots = config.ram_slots
    if config.amd_cpu and _max_used_gpa(layout, config, slots, hole64) >= AMD_HT_START:
        layout = RamLayout(layout.below_4g, layout.above_4g, AMD_ABOVE_1TB_START)
    max_used = _max_used_gpa(layout, config, slots, hole64)
    max_phys = (1 << config.phys_bits) - 1
    if check and max_phys < max_used:
        raise StartupError(
            f"Address space limit {hx(max_phys)} < {hx(max_used)} "
            f"phys-bits too low ({config.phys_bits})"
        )
    if not config.has_device_memory:
        return layout, None
    if check and slots > ACPI_MAX_RAM_SLOTS:
        raise StartupError(f"unsupported amount of memory slots: {slots}")
    if check and align_up(config.maxram_size, 4096) != config.maxram_size:
        raise StartupError("maximum memory size must by aligned to multiple of 4096 bytes")
    region = device_memory_region(
        layout, ram_size=config.ram_size, maxram_size=config.maxram_size, ram_slots=slots
    )
    return layout, region


# --------------------------------------------------------------------------------------------
# The flat view
# --------------------------------------------------------------------------------------------


class RegionKind(Enum):
    """What a guest-physical range is, for hv-balloon's page classification."""

    RAM = "ram"
    ROM_OR_MMIO = "rom-or-mmio"


@dataclass(frozen=True, slots=True)
class FlatRange:
    """One range of the flat view: ``[start, end)``."""

    start: int
    end: int
    kind: RegionKind
    name: str

    def __contains__(self, address: object) -> bool:
        return isinstance(address, int) and self.start <= address < self.end


class MemoryMap:
    """One machine's memory layout.

    Attributes:
        config: the machine configuration.
        layout: the RAM split.
        device_memory: the device-memory region, or None.
    """

    def __init__(
        self, config: MachineConfig, layout: RamLayout, device_memory: DeviceMemoryRegion | None
    ) -> None:
        self.config = config
        self.layout = layout
        self.device_memory = device_memory

    @property
    def ram_size(self) -> int:
        """Boot RAM (``base-memory``)."""
        return self.config.ram_size

    @property
    def maxram_size(self) -> int:
        """``maxmem``."""
        return self.config.maxram_size

    @property
    def ram_slots(self) -> int:
        """``slots``."""
        return self.config.ram_slots

    def memory_property(self) -> JSONObject:
        """The machine's ``memory`` QOM property (§1.3), members in schema order."""
        value: JSONObject = {"size": self.ram_size}
        if self.ram_slots > 0:
            value["max-size"] = self.maxram_size
            value["slots"] = self.ram_slots
        return value

    def boot_ranges(self) -> list[FlatRange]:
        """Boot RAM and firmware ranges, ascending (§2)."""
        if self.config.kind is MachineKind.NONE:
            if self.ram_size:
                return [FlatRange(0, self.ram_size, RegionKind.RAM, "ram")]
            return []
        below = self.layout.below_4g
        out = [
            FlatRange(0, min(PC_ROM_START, below), RegionKind.RAM, "ram-below-4g"),
            FlatRange(PC_ROM_START, BIOS_LOW_START, RegionKind.ROM_OR_MMIO, "pc.rom"),
            FlatRange(BIOS_LOW_START, LOW_RAM_RESUME, RegionKind.ROM_OR_MMIO, "isa-bios"),
        ]
        if below > LOW_RAM_RESUME:
            out.append(FlatRange(LOW_RAM_RESUME, below, RegionKind.RAM, "ram-below-4g"))
        out.append(FlatRange(BIOS_HIGH_START, FOUR_GIB, RegionKind.ROM_OR_MMIO, "pc.bios"))
        if self.layout.above_4g:
            out.append(
                FlatRange(
                    self.layout.above_4g_start,
                    self.layout.above_4g_end,
                    RegionKind.RAM,
                    "ram-above-4g",
                )
            )
        return out

    def lookup(self, address: int, extra: Iterable[FlatRange] = ()) -> FlatRange | None:
        """The flat-view range containing ``address`` (None: not found in any region).

        ``extra`` are ranges mapped by memory devices (DIMMs, hv-balloon memslots...).
        """
        for candidate in (*self.boot_ranges(), *extra):
            if address in candidate:
                return candidate
        return None


__all__ += ["DEFAULT_RAM_SIZE", "MemorySize"]
