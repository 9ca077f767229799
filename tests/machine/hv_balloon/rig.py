"""A self-contained hv-balloon test bench: a q35-like RAM map, memslots, engine and guest."""

from __future__ import annotations

import logging
import random
from bisect import bisect_right
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from structlog.testing import capture_logs

from hvballoond.machine.events import MachineEvent
from hvballoond.machine.hv_balloon.engine import HvBalloonEngine
from hvballoond.machine.hv_balloon.guest_sim import GuestLayout, GuestPolicy, SimulatedDmGuest
from hvballoond.machine.hv_balloon.host import Classifier, HostState, MemdevArea, PageKind
from hvballoond.machine.units import GiB, MiB

NS = 1_000_000_000
PAGE = 4096


def q35_split(ram_size: int) -> tuple[int, int]:
    """(below_4g, above_4g) as q35 splits boot RAM (machine-memory.md §2)."""
    lowmem = 0x80000000 if ram_size >= 0xB0000000 else 0xB0000000
    if ram_size >= lowmem:
        return lowmem, ram_size - lowmem
    return ram_size, 0


DEFAULT_POLICY = GuestPolicy()


@contextmanager
def capture_warnings() -> Iterator[list[MutableMapping[str, Any]]]:
    """``capture_logs`` with warnings let through (the suite only lets errors through)."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        with capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(**saved)


class FakeRamMap:
    """Boot RAM, BIOS/option ROMs and whatever memslots get mapped, in pages."""

    def __init__(self, ram_size: int) -> None:
        below, above = q35_split(ram_size)
        self.spans: list[tuple[int, int, PageKind]] = [
            (0, 0xC0, PageKind.RAM),
            (0xC0, 0x100, PageKind.NOT_RAM),
            (0x100, below // PAGE, PageKind.RAM),
            (0xFFFC0, 0x100000, PageKind.NOT_RAM),
        ]
        if above:
            self.spans.append((0x100000, 0x100000 + above // PAGE, PageKind.RAM))
        self.spans.sort()

    def add(self, start: int, end: int, kind: PageKind = PageKind.RAM) -> None:
        self.spans.append((start, end, kind))
        self.spans.sort()

    def remove(self, start: int) -> None:
        self.spans = [s for s in self.spans if s[0] != start]

    def classifier(self) -> Classifier:
        return self.classify

    def classify(self, pfn: int) -> tuple[PageKind, int, int]:
        starts = [s[0] for s in self.spans]
        idx = bisect_right(starts, pfn) - 1
        if idx >= 0 and pfn < self.spans[idx][1]:
            start, end, kind = self.spans[idx]
            return kind, start, end
        gap_lo = self.spans[idx][1] if idx >= 0 else 0
        gap_hi = self.spans[idx + 1][0] if idx + 1 < len(self.spans) else 1 << 52
        return PageKind.NOT_FOUND, gap_lo, gap_hi


@dataclass
class FakeMapper:
    """Maps an hv-balloon backend's memslots into the fake RAM map."""

    ram_map: FakeRamMap
    addr: int
    size: int
    slot_size: int
    mapped: list[int] = field(default_factory=list)
    released: int = 0

    def ensure_mapped_prefix(self, size: int) -> None:
        count = -(-self.size // self.slot_size)
        for index in range(count):
            offset = index * self.slot_size
            if offset >= size:
                break
            if index in self.mapped:
                continue
            length = min(self.slot_size, self.size - offset)
            start = (self.addr + offset) // PAGE
            self.ram_map.add(start, start + length // PAGE)
            self.mapped.append(index)

    def release(self) -> None:
        for index in self.mapped:
            self.ram_map.remove((self.addr + index * self.slot_size) // PAGE)
        self.mapped.clear()
        self.released += 1


class Rig:
    """An hv-balloon with (by default) a cooperating guest, driven on a virtual clock."""

    def __init__(
        self,
        *,
        ram_size: int = 4 * GiB,
        memdev_addr: int = 32 * GiB,
        memdev_size: int = 0,
        slot_size: int = 256 * MiB,
        dimm_bytes: int = 0,
        policy: GuestPolicy | None = DEFAULT_POLICY,
        status_report: bool = False,
        post_init_wait_ns: int = 50 * NS,
        v3_status_spelling: bool = False,
        ring_bytes: int = 16 * 1024,
        seed: int = 1,
    ) -> None:
        self.vnow = 0
        self.ram_size = ram_size
        self.dimm_bytes = dimm_bytes
        self.ram_map = FakeRamMap(ram_size)
        self.mapper: FakeMapper | None = None
        memdev = None
        if memdev_size:
            self.mapper = FakeMapper(self.ram_map, memdev_addr, memdev_size, slot_size)
            memdev = MemdevArea(memdev_addr // PAGE, memdev_size // PAGE, self.mapper)
        self.engine = HvBalloonEngine(
            ram_map=self.ram_map,
            boot_ram_bytes=lambda: self.ram_size + self.dimm_bytes,
            memdev=memdev,
            status_report=status_report,
            post_init_wait_ns=post_init_wait_ns,
            v3_status_spelling=v3_status_spelling,
            ring_bytes=ring_bytes,
        )
        self.host = self.engine.host
        self.events: list[MachineEvent] = []
        self.guest: SimulatedDmGuest | None = None
        self.policy = policy
        self.seed = seed
        self.memdev_span = (memdev_addr // PAGE, memdev_size // PAGE) if memdev_size else None
        # QEMU resets every device once after creating the machine.
        self.events += self.engine.device_reset(self.vnow)
        self.start_guest()

    def start_guest(self) -> None:
        """Boot a guest OS with :attr:`policy` (none if the policy is None)."""
        if self.policy is None:
            return
        below, above = q35_split(self.ram_size)
        boot = [(0, 0xC0), (0x100, below // PAGE - 0x100)]
        if above:
            boot.append((0x100000, above // PAGE))
        layout = GuestLayout(
            boot_ram=tuple(boot),
            rom=((0xC0, 0x40), (0xFFFC0, 0x40)),
            memdev=self.memdev_span,
        )
        self.guest = self.engine.attach_guest(
            policy=self.policy, layout=layout, rng=random.Random(self.seed), vnow_ns=self.vnow
        )

    def advance(self, seconds: float) -> list[MachineEvent]:
        """Let ``seconds`` of virtual time pass, firing timers in order."""
        target = self.vnow + int(seconds * NS)
        out: list[MachineEvent] = []
        while (deadline := self.engine.next_deadline()) is not None and deadline <= target:
            self.vnow = max(self.vnow, deadline)
            out += self.engine.advance(self.vnow)
        self.vnow = target
        out += self.engine.advance(self.vnow)
        self.events += out
        return out

    def state(self) -> HostState:
        """The host state (a call, so mypy does not narrow it across steps)."""
        return self.host.state

    def boot(self) -> None:
        """Connect the guest and wait out the post-init delay."""
        self.advance(2)
        self.advance(50)

    def balloon(self, value: int) -> list[MachineEvent]:
        out = self.engine.set_target(value, self.vnow)
        self.events += out
        return out

    def reboot(self) -> None:
        """A system reset; the guest OS boots again right away."""
        events, _ = self.engine.system_reset(self.vnow)
        self.events += events
        self.start_guest()
