"""The machine's flat view as hv-balloon sees it: Machine.classify_page / mapped_ranges."""

from __future__ import annotations

from hvballoond.machine.memory_map import FlatRange, RegionKind
from hvballoond.machine.units import GiB, MiB
from tests.machine.devices.rig import vm


def test_classify_page_finds_boot_ram_and_every_memory_device() -> None:
    machine = vm("-machine q35 -m 1G,slots=2,maxmem=4G -object memory-backend-ram,id=m1,"
                 "size=128M -object memory-backend-ram,id=m2,size=256M "
                 "-device pcie-root-port,id=rp1,chassis=1")
    machine.ok("device_add", {"driver": "pc-dimm", "id": "d1", "memdev": "m1"})
    machine.ok("device_add", {"driver": "virtio-pmem-pci", "id": "p1", "memdev": "m2",
                              "bus": "rp1"})
    vm_ = machine.machine
    dimm_at = 4 * GiB
    pmem_at = dimm_at + 128 * MiB
    boot = vm_.classify_page(0x1000)
    assert boot is not None and (boot.start, boot.name) == (0, "ram-below-4g")
    assert vm_.classify_page(dimm_at + 5) == FlatRange(
        dimm_at, dimm_at + 128 * MiB, RegionKind.RAM, "pc-dimm"
    )
    assert vm_.classify_page(pmem_at + 256 * MiB - 1) == FlatRange(
        pmem_at, pmem_at + 256 * MiB, RegionKind.RAM, "virtio-pmem-pci"
    )
    assert vm_.classify_page(pmem_at + 256 * MiB) is None
    assert vm_.mapped_ranges() == [
        FlatRange(dimm_at, dimm_at + 128 * MiB, RegionKind.RAM, "pc-dimm"),
        FlatRange(pmem_at, pmem_at + 256 * MiB, RegionKind.RAM, "virtio-pmem-pci"),
    ]
    machine.ok("device_del", {"id": "d1"})  # pending: the DIMM stays mapped
    assert vm_.classify_page(dimm_at) is not None
