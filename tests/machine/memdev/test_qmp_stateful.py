"""Random QMP sequences against a plain reference model, through the real dispatcher.

object-add, device_add (pc-dimm and virtio-mem-pci, with and without ``addr``/``memaddr``
hints), qom-set of virtio-mem's requested-size, device_del (the simulated Linux guest ejects
or unplugs) and object-del, on a booted q35 machine. The model places devices with a literal
transcription of QEMU's first-fit walk (fakes.reference_place) and predicts every refusal in
QEMU's order. After every step: the same devices at the same addresses as the model, no two
devices overlap, everything lies in the device-memory region, ``query-memory-size-summary``
and the manager's counters equal the sums over the devices, memslots equal what the devices
hold; once everything is removed nothing is left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from hvballoond.machine.devices.common import memory_devices
from hvballoond.machine.devices.guest import DeviceGuestPolicy, set_device_guest_policy
from hvballoond.machine.errors import MachineError
from hvballoond.machine.units import GiB, MiB
from tests.machine.devices.rig import Vm, vm
from tests.machine.memdev.fakes import Placed, reference_place

RAM, MAXMEM, SLOTS, ROOT_PORTS = 1 * GiB, 9 * GiB, 4, 3
ARGS = f"-machine q35 -m 1G,slots={SLOTS},maxmem=9G " + " ".join(
    f"-device pcie-root-port,id=rp{n},chassis={n}" for n in range(1, ROOT_PORTS + 1)
)
BACKEND_ALIGN = 2 * MiB  # memory-backend-ram: QEMU_VMALLOC_ALIGN on x86-64
GUEST_SETTLE_MS = 30_000  # enough for the simulated guest to eject, unplug or (un)plug blocks


@dataclass
class Backend:
    ident: str
    size: int
    user: str | None = None
    deleted: bool = False


@dataclass
class Device:
    ident: str
    backend: Backend
    addr: int
    virtio_mem: bool
    block_size: int = 0
    requested: int = 0


class QmpMemoryMachine(RuleBasedStateMachine):
    backends = Bundle("backends")
    devices = Bundle("devices")

    def __init__(self) -> None:
        super().__init__()
        self.vm: Vm = vm(ARGS)
        set_device_guest_policy(self.vm.machine, DeviceGuestPolicy.linux())
        self.vm.ok("cont")
        self.vm.advance(1000)
        self.manager = memory_devices(self.vm.machine)
        region = self.manager.region
        assert region is not None
        self.base, self.region_size = region.base, region.size
        # q35, 1 GiB below 4 GiB: the region starts at 4 GiB and adds 1 GiB per slot.
        assert (self.base, self.region_size) == (4 * GiB, MAXMEM - RAM + SLOTS * GiB)
        self.memdev_before = self.vm.ok("query-memdev")
        self.plugged: dict[str, Device] = {}
        self.free_ports = [f"rp{n}" for n in range(1, ROOT_PORTS + 1)]
        self.port_of: dict[str, str] = {}
        self.serial = 0

    def _name(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    # -- the reference model ----------------------------------------------------------------

    def _expected_placement(self, backend: Backend, hint: int | None, align: int) -> int | str:
        """QEMU's memory_device_pre_plug: space, size alignment, then the first-fit walk."""
        used = sum(d.backend.size for d in self.plugged.values())
        if used + backend.size > MAXMEM - RAM:
            return (
                f"not enough space, currently {used:#x} in use of total space for memory "
                f"devices {MAXMEM - RAM:#x}"
            )
        placed = [Placed(d.addr, d.backend.size, d.ident) for d in self.plugged.values()]
        try:
            return reference_place(placed, base=self.base, region_size=self.region_size,
                                   hint=hint, align=align, size=backend.size)
        except MachineError as err:
            return str(err)

    def _outcome(self, command: str, arguments: dict[str, object]) -> int | str:
        reply = self.vm.qmp(command, dict(arguments))  # type: ignore[arg-type]
        if "error" in reply:
            error = reply["error"]
            assert isinstance(error, dict)
            return str(error["desc"])
        return 0

    def _address_of(self, ident: str) -> int:
        for kind, data in self.vm.memory_devices():
            if data.get("id") == ident:
                addr = data["memaddr" if kind == "virtio-mem" else "addr"]
                assert isinstance(addr, int)
                return addr
        raise AssertionError(f"{ident} is not in query-memory-devices")

    # -- rules ------------------------------------------------------------------------------

    @initialize(target=backends, size=st.sampled_from([128, 1024]))
    def first_backend(self, size: int) -> Backend:
        return self._new_backend(size)

    @rule(target=backends, size=st.sampled_from([128, 256, 512, 1024, 2048]))
    def object_add(self, size: int) -> Backend:
        return self._new_backend(size)

    def _new_backend(self, size: int) -> Backend:
        backend = Backend(self._name("m"), size * MiB)
        self.vm.ok("object-add", {"qom-type": "memory-backend-ram", "id": backend.ident,
                                  "size": backend.size})
        return backend

    @rule(target=devices, backend=backends,
          hint=st.one_of(st.none(), st.integers(0, 140).map(lambda n: 4 * GiB + n * 128 * MiB)))
    def add_dimm(self, backend: Backend, hint: int | None) -> str:
        name = self._name("d")
        args: dict[str, object] = {"driver": "pc-dimm", "id": name, "memdev": backend.ident}
        if hint is not None:
            args["addr"] = hint
        dimms = sum(1 for d in self.plugged.values() if not d.virtio_mem)
        expected: int | str
        if backend.deleted:
            expected = f"Device 'memdev' property could not find object '{backend.ident}'"
        elif dimms == SLOTS:
            expected = "no free slots available"
        else:
            expected = self._expected_placement(backend, hint, BACKEND_ALIGN)
            if isinstance(expected, int) and backend.user is not None:
                expected = f"can't use already busy memdev: {backend.ident}"
        got = self._outcome("device_add", args)
        if backend.deleted and isinstance(got, str):
            return name  # the exact text of a dangling link is covered by recorded tests
        if isinstance(expected, int):
            assert got == 0, got
            assert self._address_of(name) == expected
            self._plugged(Device(name, backend, expected, virtio_mem=False))
        else:
            assert got == expected
        return name

    @rule(target=devices, backend=backends,
          block=st.sampled_from([2 * MiB, 128 * MiB, 1 * GiB]),
          hint=st.one_of(st.none(), st.integers(0, 140).map(lambda n: 4 * GiB + n * 128 * MiB)))
    def add_virtio_mem(self, backend: Backend, block: int, hint: int | None) -> str:
        name = self._name("vm")
        if backend.deleted or not self.free_ports or backend.size % block:
            return name  # refused before placement; the strings are covered elsewhere
        args: dict[str, object] = {"driver": "virtio-mem-pci", "id": name,
                                   "memdev": backend.ident, "bus": self.free_ports[0],
                                   "block-size": block}
        if hint is not None:
            args["memaddr"] = hint
        expected = self._expected_placement(backend, hint, max(BACKEND_ALIGN, block))
        if isinstance(expected, int) and backend.user is not None:
            expected = f"'memdev' property specifies a busy memdev: {backend.ident}"
        got = self._outcome("device_add", args)
        if isinstance(expected, int):
            assert got == 0, got
            assert self._address_of(name) == expected
            self.port_of[name] = self.free_ports.pop(0)
            self._plugged(Device(name, backend, expected, virtio_mem=True, block_size=block))
        else:
            assert got == expected
        return name

    def _plugged(self, device: Device) -> None:
        device.backend.user = device.ident
        self.plugged[device.ident] = device

    @rule(name=devices, blocks=st.integers(0, 16))
    def set_requested_size(self, name: str, blocks: int) -> None:
        device = self.plugged.get(name)
        if device is None or not device.virtio_mem:
            return
        requested = min(blocks * device.block_size, device.backend.size)
        self.vm.ok("qom-set", {"path": name, "property": "requested-size", "value": requested})
        device.requested = requested
        self.vm.advance(GUEST_SETTLE_MS)
        assert self.vm.ok("qom-get", {"path": name, "property": "size"}) == requested

    @rule(name=devices)
    def device_del(self, name: str) -> None:
        device = self.plugged.get(name)
        if device is None:
            return
        if device.virtio_mem and device.requested:
            assert self.vm.error("device_del", {"id": name}) == (
                "virtio-mem device cannot get unplugged while some of its memory is still "
                "plugged"
            )
            return
        self.vm.take_events()
        self.vm.ok("device_del", {"id": name})
        self.vm.advance(GUEST_SETTLE_MS)
        deleted = [e for e in self.vm.take_events() if e["event"] == "DEVICE_DELETED"]
        assert any(e["data"].get("device") == name for e in deleted  # type: ignore[union-attr]
                   ), deleted
        del self.plugged[name]
        device.backend.user = None
        if name in self.port_of:
            self.free_ports.append(self.port_of.pop(name))

    @rule(backend=backends)
    def object_del(self, backend: Backend) -> None:
        if backend.deleted:
            assert self.vm.error("object-del", {"id": backend.ident}) == (
                f"object '{backend.ident}' not found")
        elif backend.user is not None:
            assert self.vm.error("object-del", {"id": backend.ident}) == (
                f"object '{backend.ident}' is in use, can not be deleted")
        else:
            self.vm.ok("object-del", {"id": backend.ident})
            backend.deleted = True

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def same_devices_at_the_same_addresses(self) -> None:
        shown = {}
        for kind, data in self.vm.memory_devices():
            addr = data["memaddr" if kind == "virtio-mem" else "addr"]
            shown[data["id"]] = addr
        assert shown == {d.ident: d.addr for d in self.plugged.values()}

    @invariant()
    def no_overlap_and_inside_the_region(self) -> None:
        spans = sorted((d.addr, d.addr + d.backend.size) for d in self.plugged.values())
        assert all(a[1] <= b[0] for a, b in pairwise(spans))
        assert all(self.base <= s and e <= self.base + self.region_size for s, e in spans)

    @invariant()
    def sizes_and_memslots_equal_the_sums(self) -> None:
        devices = list(self.plugged.values())
        assert self.manager.used_region_size == sum(d.backend.size for d in devices)
        summary = self.vm.ok("query-memory-size-summary")
        assert isinstance(summary, dict)
        plugged = sum(d.requested if d.virtio_mem else d.backend.size for d in devices)
        assert summary.get("plugged-memory", 0) == plugged
        assert summary["base-memory"] == RAM
        md = self.manager.devices()
        assert self.manager.memslots.required == sum(d.md_memslots() for d in md)
        assert self.manager.memslots.used == len(self.manager.sections())

    def teardown(self) -> None:
        for name, device in list(self.plugged.items()):
            if device.virtio_mem and device.requested:
                self.set_requested_size(name, 0)
            self.device_del(name)
        assert self.vm.ok("query-memory-devices") == []
        assert self.manager.used_region_size == 0 and self.manager.sections() == []
        assert (self.manager.memslots.required, self.manager.memslots.used) == (0, 0)
        summary = self.vm.ok("query-memory-size-summary")
        assert isinstance(summary, dict) and summary.get("plugged-memory", 0) == 0
        for kind, data in self.vm.memory_devices():
            raise AssertionError(f"left behind: {kind} {data}")


QmpMemoryMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, derandomize=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_qmp_sequences_follow_the_reference_model = QmpMemoryMachine.TestCase
