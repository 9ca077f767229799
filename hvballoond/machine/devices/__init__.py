"""Memory device types and their companions: pc-dimm, nvdimm, virtio-mem-pci,
virtio-pmem-pci, pcie-root-port, and the simulated guest that drives them.

``DEVICE_TYPES`` is what :mod:`hvballoond.machine.catalog` registers with every machine.
"""

from __future__ import annotations

from hvballoond.machine.devices.dimm import Nvdimm, PcDimm
from hvballoond.machine.devices.guest import DeviceGuestPolicy, DimmOspm, set_device_guest_policy
from hvballoond.machine.devices.pcie_root_port import PcieRootPort
from hvballoond.machine.devices.virtio_mem import VirtioMemPci
from hvballoond.machine.devices.virtio_pmem import VirtioPmemPci
from hvballoond.machine.qdev import Device

__all__ = [
    "DEVICE_TYPES",
    "DeviceGuestPolicy",
    "DimmOspm",
    "Nvdimm",
    "PcDimm",
    "PcieRootPort",
    "VirtioMemPci",
    "VirtioPmemPci",
    "set_device_guest_policy",
]

DEVICE_TYPES: tuple[type[Device], ...] = (
    PcDimm,
    Nvdimm,
    VirtioMemPci,
    VirtioPmemPci,
    PcieRootPort,
)
