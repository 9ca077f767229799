"""device_add / device_del and the memory-device queries through the dispatcher, for what
real QEMU cannot show (it aborts, or it needs a guest)."""

from __future__ import annotations

from hvballoond.machine.config import HostFacts
from hvballoond.machine.devices.common import memory_devices
from hvballoond.machine.devices.guest import DeviceGuestPolicy, set_device_guest_policy
from hvballoond.machine.units import GiB, MiB
from tests.machine.devices.rig import vm

ROOT_PORTS = "-device pcie-root-port,id=rp1,chassis=1 -device pcie-root-port,id=rp2,chassis=2"


def test_system_reset_completes_a_pending_virtio_mem_unplug() -> None:
    # QEMU 10.0.2 aborts here (memory-devices.md §6.3); we finish the removal. The two
    # DEVICE_DELETED follow the reply, backend first.
    machine = vm(f"-machine q35 -m 1G,maxmem=8G {ROOT_PORTS}")
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": GiB})
    machine.ok("device_add", {"driver": "virtio-mem-pci", "id": "vm1", "memdev": "m1",
                              "bus": "rp1"})
    machine.ok("device_del", {"id": "vm1"})
    machine.ok("system_reset")
    assert [e["event"] for e in machine.take_events()] == ["RESET"]
    machine.advance(0)
    assert machine.take_events() == [
        {"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral/vm1/virtio-backend"}},
        {"event": "DEVICE_DELETED", "data": {"device": "vm1", "path": "/machine/peripheral/vm1"}},
    ]
    assert machine.ok("query-memory-devices") == []
    assert machine.ok("object-del", {"id": "m1"}) == {}
    manager = memory_devices(machine.machine)
    assert (manager.used_region_size, manager.memslots.required, manager.memslots.used) == (
        0, 0, 0
    )
    # The root port is free again, and so is the address range.
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m2", "size": GiB})
    machine.ok("device_add", {"driver": "virtio-mem-pci", "id": "vm1", "memdev": "m2",
                              "bus": "rp1"})
    assert machine.memory_devices()[0][1]["memaddr"] == 4 * GiB


def test_a_refused_device_add_changes_nothing() -> None:
    machine = vm("-machine q35 -m 1G,slots=2,maxmem=2G")
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "big", "size": 2 * GiB})
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": GiB})
    assert machine.error("device_add", {"driver": "pc-dimm", "id": "d0", "memdev": "big"}) == (
        "not enough space, currently 0x0 in use of total space for memory devices 0x40000000"
    )
    # The slot and the address were not used up, and the backend is not busy.
    machine.ok("device_add", {"driver": "pc-dimm", "id": "d0", "memdev": "m1"})
    data = machine.memory_devices()[0][1]
    assert (data["slot"], data["addr"]) == (0, 4 * GiB)
    assert machine.ok("object-del", {"id": "big"}) == {}


def test_dynamic_memslots_are_mapped_as_the_guest_plugs() -> None:
    # The worked example: 16 GiB memdev, -m 1G,maxmem=17G: 16 memslots of 1 GiB.
    machine = vm(f"-machine q35 -m 1G,maxmem=17G {ROOT_PORTS}")
    set_device_guest_policy(machine.machine, DeviceGuestPolicy.linux())
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": 16 * GiB})
    machine.ok("device_add", {"driver": "virtio-mem-pci", "id": "vm1", "memdev": "m1",
                              "bus": "rp1", "dynamic-memslots": True,
                              "requested-size": 2 * GiB + 512 * MiB})
    manager = memory_devices(machine.machine)
    assert (manager.memslots.required, manager.memslots.used) == (16, 0)
    assert manager.memslots.auto_decision_active == 1
    machine.ok("cont")
    machine.advance(5000)
    assert machine.memory_devices()[0][1]["size"] == 2 * GiB + 512 * MiB
    assert manager.memslots.used == 3  # [0, 2.5 GiB) touches three 1 GiB memslots
    machine.ok("qom-set", {"path": "vm1", "property": "requested-size", "value": GiB})
    machine.advance(10_000)
    assert manager.memslots.used == 1
    machine.ok("system_reset")
    assert manager.memslots.used == 0


def test_memory_devices_list_empty_devices_first_and_sorted() -> None:
    machine = vm(f"-machine q35 -m 1G,slots=4,maxmem=8G {ROOT_PORTS}")
    for name, size in (("a", GiB), ("b", 512 * MiB), ("c", 256 * MiB)):
        machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": name, "size": size})
    machine.ok("device_add", {"driver": "pc-dimm", "id": "da", "memdev": "a",
                              "addr": 6 * GiB})
    machine.ok("device_add", {"driver": "virtio-pmem-pci", "id": "pb", "memdev": "b",
                              "bus": "rp1"})
    machine.ok("device_add", {"driver": "virtio-mem-pci", "id": "mc", "memdev": "c",
                              "bus": "rp2", "requested-size": 128 * MiB})
    assert [(kind, data.get("memaddr", data.get("addr"))) for kind, data in
            machine.memory_devices()] == [
        ("virtio-pmem", 4 * GiB), ("virtio-mem", 4 * GiB + 512 * MiB), ("dimm", 6 * GiB),
    ]
    assert machine.ok("query-memory-size-summary") == {
        "base-memory": GiB, "plugged-memory": GiB + 512 * MiB,  # virtio-mem counts size 0
    }


def test_query_acpi_ospm_status_needs_the_acpi_device_on_pc() -> None:
    machine = vm("-machine pc,acpi=off -m 1G,slots=2,maxmem=2G")
    assert machine.error("query-acpi-ospm-status") == (
        "command is not supported, missing ACPI device"
    )
    assert machine.error("device_add", {"driver": "pc-dimm", "memdev": "nope"}) == (
        "Device 'nope' not found"
    )


def test_emulated_kvm_runs_out_of_memslots() -> None:
    # -accel kvm on a host whose KVM reports 12 memslots; 8 are taken by boot memory.
    host = HostFacts(ram_bytes=64 * GiB, kvm_available=True, kvm_max_memslots=12)
    machine = vm("-machine q35 -accel kvm -m 1G,slots=8,maxmem=8G", host=host)
    for n in range(5):
        machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": f"m{n}",
                                  "size": 128 * MiB})
    for n in range(4):
        machine.ok("device_add", {"driver": "pc-dimm", "id": f"d{n}", "memdev": f"m{n}"})
    assert machine.error("device_add", {"driver": "pc-dimm", "id": "d4", "memdev": "m4"}) == (
        "hypervisor has not enough free memory slots left"
    )
    # Fewer than 509 KVM memslots: a deciding device gets a single memslot.
    manager = memory_devices(machine.machine)
    assert manager.memslots.decision_limit(size=GiB, space=7 * GiB, used_region_size=0) == 1
