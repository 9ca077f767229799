"""A minimal memory device and a literal transcription of QEMU's first-fit walk, for tests."""

from __future__ import annotations

from dataclasses import dataclass

from hvballoond.machine.errors import MachineError
from hvballoond.machine.memdev.address_space import u64_align_up
from hvballoond.machine.memdev.device import DeviceRegion, MemoryDevice
from hvballoond.machine.memdev.memslots import MemslotSplit, hv_balloon_memslots
from hvballoond.machine.units import U64_MAX, MiB, hx
from hvballoond.wire.values import JSONObject


class FakeDevice(MemoryDevice):
    """A DIMM-like device: a region of ``size`` bytes with backend alignment ``align``."""

    def __init__(
        self,
        ident: str | None,
        size: int | None,
        *,
        align: int = 2 * MiB,
        addr: int = 0,
        min_align: int = 0,
        region_error: str | None = None,
    ) -> None:
        self.ident = ident
        self.size = size
        self.align = align
        self.addr = addr
        self.min_align = min_align
        self.region_error = region_error

    def md_id(self) -> str | None:
        return self.ident

    def md_region(self) -> DeviceRegion | None:
        if self.region_error is not None:
            raise MachineError(self.region_error)
        return None if self.size is None else DeviceRegion(self.size, self.align)

    def md_addr(self) -> int:
        return self.addr

    def md_set_addr(self, addr: int) -> None:
        self.addr = addr

    def md_min_alignment(self) -> int:
        return self.min_align

    def md_info(self) -> JSONObject:
        return {"type": "fake", "data": {"addr": self.addr}}


class FakeContainer(FakeDevice):
    """A device that decides its memslots like hv-balloon and maps them itself."""

    md_decides_memslots = True

    def md_maps_whole_region(self) -> bool:
        return False

    def __init__(
        self, ident: str | None, size: int, *, align: int = 2 * MiB, addr: int = 0,
        min_align: int = 0,
    ) -> None:
        super().__init__(ident, size, align=align, addr=addr, min_align=min_align)
        self.limit: int | None = None
        self.split: MemslotSplit | None = None

    def md_decide_memslots(self, limit: int) -> None:
        self.limit = limit
        assert self.size is not None
        self.split = hv_balloon_memslots(region_size=self.size, limit=limit)

    def md_memslots(self) -> int:
        assert self.split is not None
        return self.split.count


@dataclass(frozen=True)
class Placed:
    start: int
    size: int
    name: str


def reference_place(
    placed: list[Placed], *, base: int, region_size: int, hint: int | None, align: int,
    size: int,
) -> int:
    """QEMU's ``memory_device_get_free_addr``, transcribed literally (a list walk)."""
    as_lob, as_upb = base, base + region_size - 1

    def contains(lob: int, upb: int) -> bool:
        return lob <= upb and as_lob <= lob and upb <= as_upb

    if hint is not None and hint % align:
        raise MachineError(f"address must be aligned to {hx(align)} bytes")
    if hint is not None:
        if hint + size - 1 >= U64_MAX or not contains(hint, hint + size - 1):
            raise MachineError(
                f"can't add memory device [{hx(hint)}:{hx(size)}], usable range for memory "
                f"devices [{hx(base)}:{hx(region_size)}]"
            )
        lob = hint
    else:
        lob = u64_align_up(base, align)
        if lob + size - 1 >= U64_MAX:
            raise MachineError("can't add memory device, device too big")
    upb: int | None = lob + size - 1
    for dev in sorted(placed, key=lambda p: p.start):
        assert upb is not None
        d_lob, d_upb = dev.start, dev.start + dev.size - 1
        if d_lob <= upb and lob <= d_upb:
            if hint is not None:
                raise MachineError(f"address range conflicts with memory device id='{dev.name}'")
            nxt = u64_align_up(d_upb + 1, align)
            if not nxt or nxt + size - 1 >= U64_MAX:
                upb = None
                break
            lob, upb = nxt, nxt + size - 1
        elif d_lob > upb:
            break
    if upb is None or not contains(lob, upb):
        raise MachineError(
            "could not find position in guest address space for memory device - memory "
            "fragmented due to alignments"
        )
    return lob
