"""virtio-mem's host side: the guest's plug/unplug requests and the usable region
(memory-devices.md §6.3; hw/virtio/virtio-mem.c)."""

from __future__ import annotations

from hvballoond.machine.devices.virtio_mem import Response, VirtioMem, VirtioMemPci
from hvballoond.machine.units import GiB, MiB
from tests.machine.devices.rig import Vm, vm

ARGS = "-machine q35 -m 1G,maxmem=8G -device pcie-root-port,id=rp1,chassis=1"


def device(requested: int = 0, size: int = GiB) -> tuple[Vm, VirtioMem]:
    machine = vm(ARGS)
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": size})
    machine.ok("device_add", {"driver": "virtio-mem-pci", "id": "vm1", "memdev": "m1",
                              "bus": "rp1", "requested-size": requested})
    proxy = machine.machine.qdev.find("vm1")
    assert isinstance(proxy, VirtioMemPci)
    return machine, proxy.vdev


def test_usable_region_is_requested_plus_256_mib_capped_at_max_size() -> None:
    _, vmem = device(requested=128 * MiB)
    assert vmem.usable_region_size == 384 * MiB
    _, big = device(requested=900 * MiB)
    assert big.usable_region_size == GiB
    _, idle = device(requested=0)
    assert idle.usable_region_size == 0


def test_usable_region_grows_but_never_shrinks_at_run_time() -> None:
    machine, vmem = device(requested=128 * MiB)
    machine.ok("qom-set", {"path": "vm1", "property": "requested-size", "value": 512 * MiB})
    assert vmem.usable_region_size == 768 * MiB
    machine.ok("qom-set", {"path": "vm1", "property": "requested-size", "value": 2 * MiB})
    assert vmem.usable_region_size == 768 * MiB
    machine.ok("system_reset")  # unplug-all recomputes it
    assert vmem.usable_region_size == 258 * MiB


def test_requests_are_checked_like_qemu() -> None:
    _, vmem = device(requested=8 * MiB)
    base, block = vmem.addr, vmem.block_size
    assert vmem.state_change_request(base + 1, 1, plug=True)[0] is Response.ERROR  # unaligned
    assert vmem.state_change_request(base + 264 * MiB, 1, plug=True)[0] is Response.ERROR
    assert vmem.state_change_request(base, 5, plug=True)[0] is Response.NACK  # > requested
    response, events = vmem.state_change_request(base, 2, plug=True)
    assert response is Response.ACK and vmem.size == 2 * block
    assert [type(e).__name__ for e in events] == ["MemoryDeviceSizeChanged"]
    assert vmem.state_change_request(base + block, 2, plug=True)[0] is Response.ERROR  # mixed
    assert vmem.state_change_request(base + 2 * block, 2, plug=False)[0] is Response.ERROR
    assert vmem.state_change_request(base, 2, plug=False)[0] is Response.ACK
    assert vmem.size == 0


def test_size_may_stay_above_a_lowered_request_until_the_guest_unplugs() -> None:
    machine, vmem = device(requested=8 * MiB)
    vmem.state_change_request(vmem.addr, 4, plug=True)
    machine.ok("qom-set", {"path": "vm1", "property": "requested-size", "value": 2 * MiB})
    data = machine.memory_devices()[0][1]
    assert (data["size"], data["requested-size"]) == (8 * MiB, 2 * MiB)
    assert machine.error("device_del", {"id": "vm1"}) == (
        "virtio-mem device cannot get unplugged while some of its memory is still plugged"
    )


def test_block_size_default_follows_the_host_thp_size() -> None:
    _, vmem = device()
    assert vmem.block_size == 2 * MiB
    machine = vm(ARGS)
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": GiB})
    machine.ok("device_add", {"driver": "virtio-mem-pci", "id": "vm1", "memdev": "m1",
                              "bus": "rp1", "block-size": 8 * MiB})
    assert machine.ok("qom-get", {"path": "vm1", "property": "block-size"}) == 8 * MiB
    assert machine.ok("qom-get", {"path": "vm1", "property": "memaddr"}) == 4 * GiB
