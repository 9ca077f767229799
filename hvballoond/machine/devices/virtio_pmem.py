"""``virtio-pmem-pci`` and its backend ``virtio-pmem`` (memory-devices.md §6.4;
hw/virtio/virtio-pmem.c, virtio-pmem-pci.c).

A persistent-memory device: the whole memdev is mapped at ``memaddr``. It cannot be
unplugged (it has no unplug-request check, so virtio-md-pci refuses).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

from hvballoond.machine.backends import MemoryBackend
from hvballoond.machine.devices.common import add_memdev_property, legacy_memdev_property
from hvballoond.machine.devices.virtio import VirtioMdDevice, VirtioMdPci
from hvballoond.machine.errors import MachineError
from hvballoond.machine.qom import IntCodec, Property, QomType
from hvballoond.wire.values import JSONObject

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["VirtioPmem", "VirtioPmemPci"]


class VirtioPmem(VirtioMdDevice):
    """The ``virtio-pmem`` device (the proxy's ``virtio-backend``)."""

    TYPE = "virtio-pmem"
    PARENT = "virtio-device"

    def __init__(self, machine: Machine, proxy: VirtioPmemPci) -> None:
        super().__init__(machine, proxy)
        add_memdev_property(self, lambda: self.memdev, self._set_memdev)
        self.add_property(Property.typed("memaddr", IntCodec.UINT64, getter=lambda: self.addr,
                                         setter=self.static_setter("memaddr", self._set_addr)))
        self.add_property(legacy_memdev_property())

    def _set_memdev(self, backend: MemoryBackend | None) -> None:
        self.memdev = backend

    def _set_addr(self, value: int) -> None:
        self.addr = value

    def realize(self) -> None:
        """``virtio_pmem_realize``: the memdev must be free (any backend type works)."""
        if self.memdev is None:
            raise MachineError("virtio-pmem memdev not set")
        if self.memdev.is_mapped:
            raise MachineError(f"can't use already busy memdev: {self.memdev.id}")


class VirtioPmemPci(VirtioMdPci):
    """``virtio-pmem-pci``."""

    TYPE = "virtio-pmem-pci"
    PARENT = "virtio-pmem-pci-base"
    ABSTRACT = False
    BACKEND = VirtioPmem
    EXTRA_TYPES = (
        *VirtioMdPci.EXTRA_TYPES,
        QomType("virtio-pmem-pci-base", "virtio-md-pci", abstract=True),
        QomType("virtio-pmem", "virtio-device"),
    )
    LAYOUT = (
        "alias:memaddr", "alias:indirect_desc", "mr:virtio-pci-device-virtio-pmem[0]",
        "mr:virtio-pci-isr-virtio-pmem[0]", "alias:iommu_platform", "alias:memdev",
        "alias:use-disabled-flag", "alias:event_idx", "mr:virtio-pci-notify-pio-virtio-pmem[0]",
        "mr:virtio-pci-common-virtio-pmem[0]", "mr:virtio-pci[0]",
        "alias:x-disable-legacy-check", "alias:any_layout", "mr:bus master container[0]",
        "alias:notify_on_empty", "alias:packed", "alias:queue_reset", "alias:use-started",
        "alias:in_order", "alias:legacy-memdev", "mr:virtio-pci-notify-virtio-pmem[0]",
        "mr:bus master[0]", "bus", "backend",
    )

    def md_info(self) -> JSONObject:
        """VirtioPMEMDeviceInfo, members in schema order."""
        vdev = self.vdev
        assert vdev.memdev is not None
        data: JSONObject = {}
        if self.id is not None:
            data["id"] = self.id
        data["memaddr"] = vdev.addr
        data["size"] = vdev.memdev.size
        data["memdev"] = vdev.memdev.path
        return {"type": "virtio-pmem", "data": data}

    def md_info_key(self) -> Hashable:
        vdev = self.vdev
        assert vdev.memdev is not None
        return (self.id, vdev.addr, vdev.memdev.size, vdev.memdev)
