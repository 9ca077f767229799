"""The generic device framework (qdev.py) with test device types.

Expected strings: tests/machine/recorded/qdev-generic.txt, startup.txt, qmp-protocol.md §10.10
and memory-devices.md §8 (all observed on QEMU 10.0.2).
"""

from __future__ import annotations

import pytest

from hvballoond.clock import FakeClock, Instant
from hvballoond.machine.backends import MemoryBackend
from hvballoond.machine.config import HostFacts, MachineConfig, MachineKind
from hvballoond.machine.errors import MachineError, NotFoundError
from hvballoond.machine.events import DeviceDeleted, MachineEvent
from hvballoond.machine.machine import Machine
from hvballoond.machine.qdev import Bus, Device, DeviceOptions, qdict_order
from hvballoond.machine.qom import InputStyle, IntCodec, Property, QomObject, QomType
from hvballoond.machine.units import GiB, MiB

# -- test device types --------------------------------------------------------------------


class Dimm(Device):
    """A minimal pc-dimm: memdev link, node, slot, addr; refuses busy backends."""

    TYPE = "pc-dimm"
    PARENT = "device"
    ABSTRACT = False
    USES_MACHINE_HOTPLUG_HANDLER = True

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.memdev: MemoryBackend | None = None
        self.node = 0
        self.slot = -1
        self.addr = 0
        self.unplug_requests = 0
        self.add_property(
            machine.qom.link_property(
                "memdev",
                "memory-backend",
                getter=lambda: self.memdev,
                setter=self.link_before_realize("memdev", self._set_memdev),
            )
        )
        for name, codec in (
            ("node", IntCodec.UINT32),
            ("addr", IntCodec.UINT64),
            ("slot", IntCodec.INT32),
        ):
            self.add_property(
                Property.typed(
                    name,
                    codec,
                    getter=lambda n=name: getattr(self, n),  # type: ignore[misc]
                    setter=self.static_setter(name, lambda v, n=name: setattr(self, n, v)),  # type: ignore[misc]
                )
            )
        self.add_property(
            Property.read_only("size", "uint64", lambda: self.memdev.size if self.memdev else 0)
        )

    def _set_memdev(self, target: QomObject | None) -> None:
        assert target is None or isinstance(target, MemoryBackend)
        self.memdev = target

    def realize(self) -> None:
        if self.memdev is None:
            raise MachineError("'memdev' property must be set")
        if self.memdev.is_mapped:
            raise MachineError(f"can't use already busy memdev: {self.memdev.id}")

    def plug(self, now: Instant) -> list[MachineEvent]:
        assert self.memdev is not None
        self.memdev.set_mapped(True)
        return []

    def unplug_request(self, now: Instant) -> list[MachineEvent]:
        self.unplug_requests += 1  # ACPI: the guest decides
        return []

    def unplug(self, now: Instant) -> list[MachineEvent]:
        assert self.memdev is not None
        self.memdev.set_mapped(False)
        return []

    def plugged_memory_size(self) -> int | None:
        return self.memdev.size if self.memdev else None


class Inner(Device):
    TYPE = "virtio-test"
    PARENT = "virtio-device"
    ABSTRACT = False
    USER_CREATABLE = False


class Proxy(Device):
    """A virtio-pci proxy with an inner device and an asynchronous PCI unplug."""

    TYPE = "virtio-test-pci"
    PARENT = "virtio-pci"
    ABSTRACT = False
    BUS_TYPE = "PCI"

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.inner = Inner(machine)
        self.add_child("virtio-backend", self.inner)

    def plug(self, now: Instant) -> list[MachineEvent]:
        self.inner.realized = True
        return []

    def unplug_request(self, now: Instant) -> list[MachineEvent]:
        self.pending_deleted_event = True
        return []


class RootPort(Device):
    TYPE = "pcie-root-port"
    PARENT = "pci-device"
    ABSTRACT = False
    BUS_TYPE = "PCI"

    def plug(self, now: Instant) -> list[MachineEvent]:
        assert self.id is not None
        self.machine.qdev.add_bus(Bus(self.id, "PCIE", hotpluggable=True, owner=self), parent=self)
        return []


class Sync(Device):
    TYPE = "sync-dev"
    PARENT = "device"
    ABSTRACT = False
    USES_MACHINE_HOTPLUG_HANDLER = True


TYPES: tuple[type[Device], ...] = (Dimm, Inner, Proxy, RootPort, Sync)


def make_machine(
    kind: MachineKind = MachineKind.Q35, *, ready: bool = True
) -> tuple[Machine, Instant]:
    type_name = {
        MachineKind.Q35: "pc-q35-10.0-machine",
        MachineKind.PC: "pc-i440fx-10.0-machine",
        MachineKind.NONE: "none-machine",
    }[kind]
    clock = FakeClock()
    config = MachineConfig(
        kind=kind, type_name=type_name, ram_size=GiB, maxram_size=16 * GiB, ram_slots=4
    )
    machine = Machine(config, host=HostFacts(), now=clock.now(), device_types=TYPES)
    machine.types.register(QomType("virtio-test", "virtio-device"))
    machine.create_default_ram()
    for name in ("m1", "m2"):
        machine.object_add("memory-backend-ram", name, {"size": GiB})
    if ready:
        machine.mark_ready()
    return machine, clock.now()


def add(machine: Machine, now: Instant, **values: object) -> Device:
    device, _ = machine.device_add(dict(values), now)  # type: ignore[arg-type]
    return device


def add_error(machine: Machine, now: Instant, **values: object) -> MachineError:
    with pytest.raises(MachineError) as err:
        machine.device_add(dict(values), now)  # type: ignore[arg-type]
    return err.value


# -- device_add: lookups ------------------------------------------------------------------


def test_driver_checks() -> None:
    machine, now = make_machine()
    assert add_error(machine, now, driver="nonexistent-dev", id="d1").message == (
        "'nonexistent-dev' is not a valid device model name"
    )
    assert add_error(machine, now, driver="memory-backend-ram").message == (
        "'memory-backend-ram' is not a valid device model name"
    )
    assert add_error(machine, now, driver="device").message == (
        "Parameter 'driver' expects a non-abstract device type"
    )
    assert add_error(machine, now, driver="pci-device").message == (
        "Parameter 'driver' expects a non-abstract device type"
    )
    assert add_error(machine, now, driver="q35-pcihost").message == (
        "Parameter 'driver' expects a pluggable device type"
    )
    assert add_error(machine, now, driver="virtio-test").message == (
        "Parameter 'driver' expects a pluggable device type"
    )
    assert add_error(machine, now, id="d1").message == "Parameter 'driver' is missing"
    assert add_error(machine, now, driver=5).message == "Parameter 'driver' is missing"


def test_bus_checks() -> None:
    machine, now = make_machine()
    assert add_error(machine, now, driver="pc-dimm", memdev="m1", bus="nope").message == (
        "Bus 'nope' not found"
    )
    assert add_error(machine, now, driver="pc-dimm", bus="pcie.0").message == (
        "Device 'pc-dimm' can't go on PCIE bus"
    )
    assert add_error(machine, now, driver="pcie-root-port", id="rpx").message == (
        "Bus 'pcie.0' does not support hotplugging"
    )
    assert add_error(machine, now, driver="pcie-root-port", id="rpx", bus="pcie.0").message == (
        "Bus 'pcie.0' does not support hotplugging"
    )


def test_machine_none_has_no_hotplug_handler_and_no_pci_bus() -> None:
    machine, now = make_machine(MachineKind.NONE)
    assert add_error(machine, now, driver="pc-dimm", id="d0", memdev="m1").message == (
        "Device 'pc-dimm' can not be hotplugged on this machine"
    )
    assert add_error(machine, now, driver="pcie-root-port", id="rp").message == (
        "No 'PCI' bus found for device 'pcie-root-port'"
    )


def test_pc_root_bus_is_hotpluggable() -> None:
    machine, now = make_machine(MachineKind.PC)
    proxy = add(machine, now, driver="virtio-test-pci", id="v")
    assert proxy.parent_bus is not None and proxy.parent_bus.name == "pci.0"
    assert proxy.get("parent_bus") == "/machine/i440fx/pci.0"


# -- device_add: id and properties --------------------------------------------------------


def test_ids_and_anonymous_numbering() -> None:
    machine, now = make_machine()
    first = add(machine, now, driver="pc-dimm", memdev="m1")
    assert first.path == "/machine/peripheral-anon/device[0]"
    err = add_error(machine, now, driver="pc-dimm", memdev="nope")
    assert isinstance(err, NotFoundError) and err.message == "Device 'nope' not found"
    second = add(machine, now, driver="pc-dimm", memdev="m2", id=5)  # non-string id: anonymous
    assert second.path == "/machine/peripheral-anon/device[2]"
    assert second.id is None
    names = [p.name for p in machine.qdev.peripheral_anon.properties()]
    assert names == ["type", "device[0]", "device[2]"]


def test_duplicate_id() -> None:
    machine, now = make_machine()
    add(machine, now, driver="sync-dev", id="d1")
    assert add_error(machine, now, driver="sync-dev", id="d1").message == (
        "Duplicate device ID 'd1'"
    )


def test_qmp_does_not_check_id_syntax() -> None:
    machine, now = make_machine()
    assert add(machine, now, driver="sync-dev", id="1bad").path == "/machine/peripheral/1bad"


def test_property_errors_follow_qdict_order() -> None:
    machine, now = make_machine()
    assert (
        add_error(machine, now, driver="pc-dimm", id="dd", memdev="m2", bogus=1, slot="x").message
        == "Property 'pc-dimm.bogus' not found"
    )
    assert add_error(machine, now, driver="pc-dimm", id="dd", slot="x", node="y").message == (
        "Invalid parameter type for 'slot', expected: integer"
    )
    assert add_error(machine, now, driver="pc-dimm", id="dd", addr="x", node="y").message == (
        "Parameter 'addr' expects uint64"
    )
    order = qdict_order(["memdev", "bogus", "slot"])
    assert order.index("bogus") < order.index("slot")


def test_link_property_inputs() -> None:
    machine, now = make_machine()
    assert add_error(machine, now, driver="pc-dimm", id="dd", memdev="/machine").message == (
        "Invalid parameter type for 'memdev', expected: memory-backend"
    )
    assert add_error(machine, now, driver="pc-dimm", id="dd", memdev=5).message == (
        "Invalid parameter type for 'memdev', expected: string"
    )
    assert add_error(machine, now, driver="pc-dimm", id="dd", memdev="pc.ram").message == (
        "can't use already busy memdev: pc.ram"
    )
    dimm = add(machine, now, driver="pc-dimm", id="dd", memdev="/objects/m1")
    assert dimm.get("memdev") == "/objects/m1"


def test_keyval_style_messages() -> None:
    machine, now = make_machine()
    options = DeviceOptions({"driver": "pc-dimm", "id": "d1", "slot": "x"}, InputStyle.KEYVAL)
    with pytest.raises(MachineError) as err:
        machine.device_add(options, now)
    assert err.value.message == "Parameter 'slot' expects integer"
    options = DeviceOptions(
        {"driver": "pc-dimm", "id": "d1", "slot": "99999999999"}, InputStyle.KEYVAL
    )
    with pytest.raises(MachineError) as err:
        machine.device_add(options, now)
    assert err.value.message == "Parameter 'slot' expects int32_t"


def test_failure_rolls_back_and_keeps_nothing() -> None:
    machine, now = make_machine()
    add(machine, now, driver="pc-dimm", id="d1", memdev="m1")
    err = add_error(machine, now, driver="pc-dimm", id="d2", memdev="m1")
    assert err.message == "can't use already busy memdev: m1"
    assert machine.qdev.find("d2") is None
    assert add(machine, now, driver="pc-dimm", id="d2", memdev="m2").path == (
        "/machine/peripheral/d2"
    )


def test_properties_after_realize() -> None:
    machine, now = make_machine()
    anon = add(machine, now, driver="pc-dimm", memdev="m1")
    with pytest.raises(MachineError) as err:
        anon.set_json("node", 1)
    assert err.value.message == (
        "Attempt to set property 'node' on anonymous device (type 'pc-dimm') after it was realized"
    )
    with pytest.raises(MachineError) as err:
        anon.set_json("memdev", "m2")
    assert err.value.message == (
        "Attempt to set link property 'memdev' on device '(null)' (type 'pc-dimm') after it "
        "was realized"
    )
    with pytest.raises(MachineError) as err:
        anon.set_json("size", 1)
    assert err.value.message == "Property 'pc-dimm.size' is not writable"
    named = add(machine, now, driver="pc-dimm", id="d9", memdev="m2")
    with pytest.raises(MachineError) as err:
        named.set_json("node", 1)
    assert "on device 'd9' (type 'pc-dimm')" in err.value.message


def test_device_qom_listing_and_flags() -> None:
    machine, now = make_machine()
    dimm = add(machine, now, driver="pc-dimm", memdev="m1")
    names = [p.name for p in dimm.properties()][:5]
    assert names == ["type", "parent_bus", "realized", "hotplugged", "hotpluggable"]
    assert dimm.get("hotplugged") is True and dimm.get("realized") is True
    assert dimm.get("parent_bus") == ""


def test_cold_plug_is_not_hotplugged_and_skips_bus_checks() -> None:
    machine, now = make_machine(ready=False)
    port = add(machine, now, driver="pcie-root-port", id="rp1")
    assert port.hotplugged is False
    assert port.parent_bus is not None and port.parent_bus.name == "pcie.0"


def test_memory_size_summary_sums_memory_devices() -> None:
    machine, now = make_machine()
    add(machine, now, driver="pc-dimm", memdev="m1")
    add(machine, now, driver="sync-dev", id="s")
    assert machine.memory_size_summary() == {"base-memory": GiB, "plugged-memory": GiB}


# -- buses provided by devices ------------------------------------------------------------


def test_root_port_bus_named_after_its_id() -> None:
    machine, now = make_machine(ready=False)
    add(machine, now, driver="pcie-root-port", id="rp1")
    machine.mark_ready()
    proxy = add(machine, now, driver="virtio-test-pci", id="vm1", bus="rp1")
    assert proxy.get("parent_bus") == "/machine/peripheral/rp1/rp1"
    bus = machine.qdev.find_bus("rp1")
    assert bus is not None and bus.get("child[0]") == "/machine/peripheral/vm1"
    assert machine.qom.resolve("rp1").ambiguous


# -- device_del and finalize --------------------------------------------------------------


def test_device_del_lookup_errors() -> None:
    machine, now = make_machine()
    add(machine, now, driver="pc-dimm", memdev="m1")
    with pytest.raises(NotFoundError) as nf:
        machine.device_del("nope", now)
    assert nf.value.message == "Device 'nope' not found"
    with pytest.raises(NotFoundError):
        machine.device_del("device[0]", now)
    with pytest.raises(MachineError) as err:
        machine.device_del("/objects/m1", now)
    assert err.value.message == "/objects/m1 is not a device"
    with pytest.raises(MachineError) as err:
        machine.device_del("/machine/unattached/sysbus", now)
    assert err.value.message == "/machine/unattached/sysbus is not a device"
    with pytest.raises(MachineError) as err:
        machine.device_del("/machine/q35", now)
    assert err.value.message == "Bus 'main-system-bus' does not support hotplugging"


def test_device_del_absolute_path_reaches_the_type_hook() -> None:
    machine, now = make_machine()
    dimm = add(machine, now, driver="pc-dimm", memdev="m1")
    assert machine.device_del("/machine/peripheral-anon/device[0]", now) == []
    assert machine.device_del("/machine/peripheral-anon/device[0]", now) == []
    assert isinstance(dimm, Dimm) and dimm.unplug_requests == 2
    assert dimm.realized


def test_cold_plugged_pci_device_on_root_bus_cannot_be_unplugged() -> None:
    machine, now = make_machine(ready=False)
    add(machine, now, driver="virtio-test-pci", id="v0")
    machine.mark_ready()
    with pytest.raises(MachineError) as err:
        machine.device_del("v0", now)
    assert err.value.message == "Bus 'pcie.0' does not support hotplugging"


def test_pending_unplug_refusal_uses_virtual_time() -> None:
    machine, now = make_machine(ready=False)
    add(machine, now, driver="pcie-root-port", id="rp1")
    machine.mark_ready()
    proxy = add(machine, now, driver="virtio-test-pci", id="vm1", bus="rp1")
    machine.device_del("vm1", now)
    assert proxy.pending_deleted_event
    with pytest.raises(MachineError) as err:
        machine.device_del("vm1", now)
    assert err.value.message == "Device vm1 is already in the process of unplug"
    proxy.pending_deleted_expires_ms = 1
    machine.cont(now)
    later = Instant(now.mono_ns + 2_000_000, now.wall_ns)
    assert machine.device_del("vm1", later) == []


def test_finalize_reports_inner_device_first_and_frees_everything() -> None:
    machine, now = make_machine(ready=False)
    add(machine, now, driver="pcie-root-port", id="r1")
    machine.mark_ready()
    proxy = add(machine, now, driver="virtio-test-pci", id="vm1", bus="r1")
    events = machine.qdev.finalize(proxy, now)
    assert events == [
        DeviceDeleted(None, "/machine/peripheral/vm1/virtio-backend"),
        DeviceDeleted("vm1", "/machine/peripheral/vm1"),
    ]
    assert machine.qdev.find("vm1") is None
    bus = machine.qdev.find_bus("r1")
    assert bus is not None and bus.devices == []
    assert machine.qdev.finalize(proxy, now) == []


def test_finalizing_a_root_port_removes_its_children_first() -> None:
    machine, now = make_machine(ready=False)
    port = add(machine, now, driver="pcie-root-port", id="r1")
    machine.mark_ready()
    add(machine, now, driver="virtio-test-pci", id="vm1", bus="r1")
    events = machine.qdev.finalize(port, now)
    assert [e.path for e in events if isinstance(e, DeviceDeleted)] == [
        "/machine/peripheral/vm1/virtio-backend",
        "/machine/peripheral/vm1",
        "/machine/peripheral/r1",
    ]
    assert machine.qdev.find_bus("r1") is None


def test_synchronous_unplug_default() -> None:
    machine, now = make_machine()
    add(machine, now, driver="sync-dev", id="s1")
    assert machine.device_del("s1", now) == [DeviceDeleted("s1", "/machine/peripheral/s1")]
    assert machine.qdev.find("s1") is None


def test_unplug_releases_the_backend() -> None:
    machine, now = make_machine()
    dimm = add(machine, now, driver="pc-dimm", id="d1", memdev="m1")
    backend = machine.backends.get("m1")
    assert backend is not None and backend.is_mapped
    with pytest.raises(MachineError, match="is in use"):
        machine.object_del("m1")
    machine.qdev.finalize(dimm, now)
    assert not backend.is_mapped
    machine.object_del("m1")


def test_reset_hook_called_for_realized_devices() -> None:
    calls: list[str] = []

    class Resettable(Sync):
        TYPE = "resettable"

        def reset(self, now: Instant) -> list[MachineEvent]:
            calls.append(self.path)
            return []

    clock = FakeClock()
    machine = Machine(
        MachineConfig(ram_size=GiB, maxram_size=GiB),
        host=HostFacts(),
        now=clock.now(),
        device_types=(Resettable,),
    )
    machine.mark_ready()
    machine.device_add({"driver": "resettable", "id": "r"}, clock.now())
    machine.system_reset(clock.now())
    assert calls == ["/machine/peripheral/r"]


def test_qom_list_properties_of_a_device_type() -> None:
    machine, _ = make_machine()
    names = [p.name for p in machine.type_properties("pc-dimm")]
    assert names == [
        "type",
        "parent_bus",
        "realized",
        "hotplugged",
        "hotpluggable",
        "memdev",
        "node",
        "addr",
        "slot",
        "size",
    ]
    assert machine.qdev.find("x") is None  # the sample instance was not attached
    with pytest.raises(NotFoundError) as err:
        machine.type_properties("nope")
    assert err.value.message == "Class 'nope' not found"
    with pytest.raises(MachineError) as err2:
        machine.type_properties("memory-device")
    assert err2.value.message == "Parameter 'typename' expects a QOM type"
    backend_props = machine.type_properties("memory-backend")
    assert [p.name for p in backend_props][:3] == ["type", "share", "size"]
    assert backend_props[1].description == "Mark the memory as private to QEMU or shared"


def test_units_used_by_fixtures() -> None:
    assert MiB * 1024 == GiB


def test_peripheral_lists_children_in_qemu_order() -> None:
    # Recorded (qom-tree.txt): d0, rp1, vm1 created in that order list as rp1, d0, vm1.
    machine, now = make_machine(ready=False)
    add(machine, now, driver="pc-dimm", id="d0", memdev="m1")
    add(machine, now, driver="pcie-root-port", id="rp1")
    add(machine, now, driver="virtio-test-pci", id="vm1", bus="rp1")
    names = [p.name for p in machine.qdev.peripheral.properties()]
    assert names == ["type", "rp1", "d0", "vm1"]


def _qemu_bus(name: str, children: int, *, bsel_after: int | None = None) -> Bus:
    # hw/core/bus.c bus_initfn, then one child[N] link per plugged device; ACPI PCI hotplug
    # adds acpi-pcihp-bsel when it numbers the bus.
    bus = Bus(name, "PCI", hotpluggable=True)
    for index in range(children):
        if index == bsel_after:
            bus.add_property(Property.read_only("acpi-pcihp-bsel", "uint32", lambda: 0))
        bus.add_property(Property(f"child[{index}]", "link<device>", link=lambda: None))
    if bsel_after == children:
        bus.add_property(Property.read_only("acpi-pcihp-bsel", "uint32", lambda: 0))
    return bus


@pytest.mark.parametrize(
    ("children", "bsel_after", "expected"),
    [
        # q35 pcie.0 with 4 chipset devices and 3 root ports (observed on QEMU 10.0.2).
        (7, None, ["child[6]", "child[2]", "realized", "child[0]", "child[1]", "child[3]",
                   "hotplug-handler", "child[4]", "child[5]"]),
        # pc pci.0 (tests/machine/recorded/qom-tree.txt).
        (4, 4, ["child[2]", "realized", "child[3]", "acpi-pcihp-bsel", "child[0]",
                "hotplug-handler", "child[1]"]),
        # A cold-plugged root port's bus before and after a device is hot-plugged on it.
        (0, 0, ["realized", "acpi-pcihp-bsel", "hotplug-handler"]),
        (1, 0, ["realized", "child[0]", "acpi-pcihp-bsel", "hotplug-handler"]),
        # A virtio proxy's virtio-bus.
        (1, None, ["realized", "child[0]", "hotplug-handler"]),
    ],
)
def test_bus_properties_are_listed_in_glib_hash_order(
    children: int, bsel_after: int | None, expected: list[str]
) -> None:
    bus = _qemu_bus("b", children, bsel_after=bsel_after)
    assert [p.name for p in bus.properties()] == ["type", *expected]


def test_device_hotpluggable_follows_the_parent_bus() -> None:
    # hw/core/qdev.c device_get_hotpluggable: the class flag and the parent bus.
    machine, now = make_machine(ready=False)
    rigid = Bus("rigid", "PCI", hotpluggable=False, has_hotplug_handler=True)
    machine.qdev.add_bus(rigid, parent=machine.qdev.unattached)
    cold = add(machine, now, driver="virtio-test-pci", id="v0", bus="rigid")
    add(machine, now, driver="pcie-root-port", id="rp1", bus="rigid")
    on_port = add(machine, now, driver="virtio-test-pci", id="v1", bus="rp1")
    sync = add(machine, now, driver="sync-dev", id="s")
    assert [d.get("hotpluggable") for d in (cold, on_port, sync)] == [False, True, True]
    assert cold.hotpluggable is False
