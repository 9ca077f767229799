"""The simulated guest against what a real Linux guest did on QEMU 10.0.2
(tests/machine/recorded/devices-guest-*.txt), and the no-guest default."""

from __future__ import annotations

from dataclasses import replace

from hvballoond.machine.devices.guest import DeviceGuestPolicy, DimmOspm, set_device_guest_policy
from hvballoond.machine.units import MiB
from hvballoond.wire.values import JSONObject
from tests.machine.devices.rig import Vm, vm

DIMM_ARGS = "-machine q35 -m 1G,slots=4,maxmem=8G"
VMEM_ARGS = (
    "-machine q35 -m 1G,maxmem=8G -device pcie-root-port,id=rp1,chassis=1 "
    "-object memory-backend-ram,id=vmem0,size=2G "
    "-device virtio-mem-pci,id=vm0,memdev=vmem0,requested-size=256M,bus=rp1"
)


def booted(args: str, policy: DeviceGuestPolicy) -> Vm:
    machine = vm(args)
    set_device_guest_policy(machine.machine, policy)
    machine.ok("cont")
    machine.advance(0)
    machine.take_events()
    return machine


def ost(source: int, status: int, slot: str = "0", device: str | None = None) -> JSONObject:
    info: JSONObject = {} if device is None else {"device": device}
    info.update({"slot": slot, "slot-type": "DIMM", "source": source, "status": status})
    return {"event": "ACPI_DEVICE_OST", "data": {"info": info}}


def size_change(size: int) -> JSONObject:
    return {
        "event": "MEMORY_DEVICE_SIZE_CHANGE",
        "data": {"id": "vm0", "size": size, "qom-path": "/machine/peripheral/vm0"},
    }


def add_dimm(machine: Vm, dimm: str = "d1", backend: str = "m1") -> None:
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": backend,
                              "size": 128 * MiB})
    machine.ok("device_add", {"driver": "pc-dimm", "id": dimm, "memdev": backend})


def test_no_guest_never_answers() -> None:
    machine = vm(DIMM_ARGS)
    machine.ok("cont")
    add_dimm(machine)
    machine.advance(1000)
    assert machine.ok("device_del", {"id": "d1"}) == {}
    machine.advance(5000)
    machine.ok("system_reset")
    machine.advance(5000)
    assert [e["event"] for e in machine.take_events()] == ["RESUME", "RESET"]
    assert len(machine.memory_devices()) == 1
    assert machine.ok("query-acpi-ospm-status") == [
        {"device": "d1", "slot": "0", "slot-type": "DIMM", "source": 0, "status": 0},
        *({"slot": str(n), "slot-type": "DIMM", "source": 0, "status": 0} for n in (1, 2, 3)),
    ]


def test_linux_guest_acknowledges_a_hot_added_dimm() -> None:
    machine = booted(DIMM_ARGS, DeviceGuestPolicy.linux())
    add_dimm(machine)
    machine.advance(36)
    assert machine.take_events() == []
    machine.advance(1)
    assert machine.take_events() == [ost(1, 0, device="d1")]


def test_linux_guest_ejects_a_dimm_like_the_recording() -> None:
    machine = booted(DIMM_ARGS, DeviceGuestPolicy.linux())
    add_dimm(machine)
    machine.advance(100)
    machine.take_events()
    machine.ok("device_del", {"id": "d1"})
    assert machine.take_events() == []
    machine.advance(3)
    assert machine.take_events() == [ost(3, 132, device="d1")]
    machine.advance(26)
    assert machine.take_events() == [
        {"event": "DEVICE_DELETED", "data": {"device": "d1", "path": "/machine/peripheral/d1"}}
    ]
    machine.advance(1)
    assert machine.take_events() == [ost(3, 0)]
    assert machine.ok("query-memory-devices") == []
    assert machine.ok("object-del", {"id": "m1"}) == {}
    status = machine.ok("query-acpi-ospm-status")
    assert isinstance(status, list)
    assert status[0] == {"slot": "0", "slot-type": "DIMM", "source": 3, "status": 0}
    # The booted ACPI guest switched CPU hotplug to the modern interface.
    assert status[-1] == {"slot": "0", "slot-type": "CPU", "source": 0, "status": 0}


def test_a_paused_guest_ejects_after_cont() -> None:
    machine = booted(DIMM_ARGS, DeviceGuestPolicy.linux())
    add_dimm(machine)
    machine.advance(100)
    machine.ok("stop")
    machine.ok("device_del", {"id": "d1"})
    machine.advance(2000)
    assert [e["event"] for e in machine.take_events()] == ["ACPI_DEVICE_OST", "STOP"]
    machine.ok("cont")
    machine.advance(30)
    assert [e["event"] for e in machine.take_events()] == [
        "RESUME", "ACPI_DEVICE_OST", "DEVICE_DELETED", "ACPI_DEVICE_OST",
    ]


def test_refusing_ospm_reports_the_status_and_keeps_the_dimm() -> None:
    policy = replace(DeviceGuestPolicy.linux(), dimm=DimmOspm.OSPM_REFUSE, dimm_refuse_status=2)
    machine = booted(DIMM_ARGS, policy)
    add_dimm(machine)
    machine.advance(100)
    machine.take_events()
    machine.ok("device_del", {"id": "d1"})
    machine.advance(1000)
    assert machine.take_events() == [ost(3, 2, device="d1")]
    assert len(machine.memory_devices()) == 1


def test_virtio_mem_driver_follows_requested_size() -> None:
    machine = booted(VMEM_ARGS, DeviceGuestPolicy.linux())
    machine.advance(99)
    assert machine.take_events() == []
    machine.advance(1)
    assert machine.take_events() == [size_change(128 * MiB)]
    machine.advance(20)
    assert machine.take_events() == [size_change(256 * MiB)]
    machine.advance(1000)
    assert machine.take_events() == []
    machine.ok("qom-set", {"path": "vm0", "property": "requested-size", "value": 512 * MiB})
    machine.advance(100)
    assert machine.take_events() == [size_change(384 * MiB), size_change(512 * MiB)]
    machine.ok("qom-set", {"path": "vm0", "property": "requested-size", "value": 128 * MiB})
    machine.advance(1000)
    assert machine.take_events() == [
        size_change(384 * MiB), size_change(256 * MiB), size_change(128 * MiB)
    ]
    assert machine.memory_devices()[0][1]["size"] == 128 * MiB
    assert machine.ok("query-memory-size-summary") == {
        "base-memory": 1024 * MiB, "plugged-memory": 128 * MiB,
    }


def test_reset_unplugs_virtio_mem_and_the_driver_plugs_again() -> None:
    machine = booted(VMEM_ARGS, DeviceGuestPolicy.linux())
    machine.advance(1000)
    machine.take_events()
    machine.ok("system_reset")
    # The device's reset comes before RESET (recorded), and only then does the guest boot.
    assert [e["event"] for e in machine.take_events()] == ["MEMORY_DEVICE_SIZE_CHANGE", "RESET"]
    machine.advance(1000)
    assert machine.take_events() == [size_change(128 * MiB), size_change(256 * MiB)]


def test_virtio_mem_unplug_is_acknowledged_by_the_guest() -> None:
    machine = booted(VMEM_ARGS, DeviceGuestPolicy.linux())
    machine.advance(1000)
    machine.ok("qom-set", {"path": "vm0", "property": "requested-size", "value": 0})
    machine.advance(1000)
    machine.take_events()
    machine.ok("device_del", {"id": "vm0"})
    machine.advance(114)
    assert machine.take_events() == []
    machine.advance(1)
    assert machine.take_events() == [
        {"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral/vm0/virtio-backend"}},
        {"event": "DEVICE_DELETED", "data": {"device": "vm0", "path": "/machine/peripheral/vm0"}},
    ]
    assert machine.ok("query-memory-devices") == []
    assert machine.ok("object-del", {"id": "vmem0"}) == {}
