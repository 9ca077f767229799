"""Random object-add / device_add / device_del / object-del sequences against a plain model.

The model keeps a list of plugged devices and places new ones with a literal transcription
of QEMU's walk (fakes.reference_place). The manager must choose the same address (or the
same refusal), never overlap devices, keep its counters equal to the sums over devices, and
leave nothing behind once everything is removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from hvballoond.machine.errors import MachineError
from hvballoond.machine.memdev.manager import MemoryDeviceManager, MemslotContainer
from hvballoond.machine.memory_map import DeviceMemoryRegion
from hvballoond.machine.units import GiB, MiB
from tests.machine.memdev.fakes import FakeContainer, FakeDevice, Placed, reference_place

RAM, MAXMEM, SLOTS, BASE = 1 * GiB, 5 * GiB, 4, 4 * GiB
REGION = DeviceMemoryRegion(BASE, (MAXMEM - RAM) + SLOTS * GiB, 0)


@dataclass
class Backend:
    ident: str
    size: int
    align: int
    user: FakeDevice | None = None
    deleted: bool = False


class MemoryDeviceMachine(RuleBasedStateMachine):
    backends = Bundle("backends")
    devices = Bundle("devices")

    def __init__(self) -> None:
        super().__init__()
        self.mgr = MemoryDeviceManager(ram_size=RAM, maxram_size=MAXMEM, region=REGION)
        self.plugged: dict[str, tuple[FakeDevice, Backend]] = {}
        self.slots: dict[str, MemslotContainer] = {}
        self.serial = 0

    def _name(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    @rule(
        target=backends,
        size=st.integers(min_value=1, max_value=48).map(lambda n: n * 64 * MiB),
        align=st.sampled_from([4096, 2 * MiB, 2 * MiB, 1 * GiB]),
    )
    def object_add(self, size: int, align: int) -> Backend:
        return Backend(self._name("m"), size, align)

    @rule(
        target=devices,
        backend=backends,
        hint=st.one_of(st.none(), st.integers(min_value=0, max_value=80).map(
            lambda n: BASE + n * 64 * MiB)),
        min_align=st.sampled_from([0, 0, 4 * MiB, 1 * GiB]),
        container=st.booleans(),
    )
    def device_add(
        self, backend: Backend, hint: int | None, min_align: int, container: bool
    ) -> str:
        name = self._name("d")
        if backend.user is not None or backend.deleted:
            return name  # refused before pre-plug (busy memdev / no such object)
        kind = FakeContainer if container else FakeDevice
        dev = kind(name, backend.size, align=backend.align, addr=hint or 0,
                   min_align=min_align)
        placed = [Placed(d.addr, b.size, d.ident or "") for d, b in self.plugged.values()]
        used = sum(b.size for _, b in self.plugged.values())
        expected: int | str
        if used + backend.size > MAXMEM - RAM:
            expected = (
                f"not enough space, currently {used:#x} in use of total space for "
                f"memory devices {MAXMEM - RAM:#x}"
            )
        elif backend.size % backend.align:
            expected = f"backend memory size must be multiple of {backend.align:#x}"
        else:
            try:
                expected = reference_place(
                    placed, base=REGION.base, region_size=REGION.size, hint=hint,
                    align=max(min_align, backend.align), size=backend.size)
            except MachineError as err:
                expected = str(err)
        try:
            self.mgr.pre_plug(dev, warnings=[])
            got: int | str = dev.addr
        except MachineError as err:
            got = str(err)
        assert got == expected
        if isinstance(got, int):
            self.mgr.plug(dev)
            backend.user = dev
            self.plugged[name] = (dev, backend)
            if isinstance(dev, FakeContainer):
                assert dev.split is not None
                self.slots[name] = MemslotContainer(self.mgr, dev, dev.split, backend.size)
        return name

    @rule(name=devices, fraction=st.floats(min_value=0, max_value=1))
    def map_memslots(self, name: str, fraction: float) -> None:
        container = self.slots.get(name)
        if container is not None and name in self.plugged:
            container.ensure_mapped_prefix(int(container.region_size * fraction))

    @rule(name=consumes(devices))
    def device_del(self, name: str) -> None:
        entry = self.plugged.pop(name, None)
        if entry is None:
            return
        dev, backend = entry
        self.mgr.unplug(dev)
        self.slots.pop(name, None)
        backend.user = None

    @rule(backend=backends)
    def object_del(self, backend: Backend) -> None:
        # A backend is deletable exactly when no plugged device maps it any more.
        mapped_by_manager = any(
            sec.owner is backend.user for sec in self.mgr.sections()
        ) or (backend.user is not None and self.mgr.is_plugged(backend.user))
        assert mapped_by_manager == (backend.user is not None)
        if backend.user is None:
            backend.deleted = True

    @invariant()
    def counters_equal_sums(self) -> None:
        devs = [d for d, _ in self.plugged.values()]
        assert self.mgr.used_region_size == sum(b.size for _, b in self.plugged.values())
        assert self.mgr.memslots.required == sum(d.md_memslots() for d in devs)
        whole = sum(1 for d in devs if d.md_maps_whole_region())
        mapped = sum(c.mapped_count for c in self.slots.values())
        assert self.mgr.memslots.used == whole + mapped == len(self.mgr.sections())
        assert self.mgr.plugged_size() == self.mgr.used_region_size
        assert {id(d) for d in self.mgr.devices()} == {id(d) for d in devs}

    @invariant()
    def no_overlap_and_inside_region(self) -> None:
        spans = sorted((d.addr, d.addr + b.size) for d, b in self.plugged.values())
        assert all(a[1] <= b[0] for a, b in pairwise(spans))
        assert all(REGION.base <= s and e <= REGION.end for s, e in spans)
        assert [d.md_addr() for d in self.mgr.devices()] == [s for s, _ in spans]

    def teardown(self) -> None:
        for name in list(self.plugged):
            self.device_del(name)
        assert self.mgr.used_region_size == 0
        assert (self.mgr.memslots.required, self.mgr.memslots.used) == (0, 0)
        assert self.mgr.sections() == [] and self.mgr.devices() == []
        assert self.mgr.memslots.auto_decision_active == 0
        space = self.mgr._space
        assert space is not None and space.free_extents() == [(0, 1 << 64)]


MemoryDeviceMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, derandomize=True, deadline=None
)
TestMemoryDevices = MemoryDeviceMachine.TestCase
