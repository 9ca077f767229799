"""Memory device types and their companions: pc-dimm, nvdimm, virtio-mem-pci,
virtio-pmem-pci, pcie-root-port, virtio-rng-pci (with its ``rng-random`` object), and the
simulated guest that drives them.

``DEVICE_TYPES`` and ``OBJECT_TYPES`` are what :mod:`hvballoond.machine.catalog` registers
with every machine.
"""

from __future__ import annotations

from hvballoond.machine.backends import UserObjectType
from hvballoond.machine.devices.dimm import Nvdimm, PcDimm
from hvballoond.machine.devices.guest import DeviceGuestPolicy, DimmOspm, set_device_guest_policy
from hvballoond.machine.devices.pcie_root_port import PcieRootPort
from hvballoond.machine.devices.virtio_mem import VirtioMemPci
from hvballoond.machine.devices.virtio_pmem import VirtioPmemPci
from hvballoond.machine.devices.virtio_rng import VirtioRngPci
from hvballoond.machine.qdev import Device
from hvballoond.machine.rng import RNG_RANDOM
from hvballoond.machine.secret import SECRET

__all__ = [
    "DEVICE_TYPES",
    "OBJECT_TYPES",
    "DeviceGuestPolicy",
    "DimmOspm",
    "Nvdimm",
    "PcDimm",
    "PcieRootPort",
    "VirtioMemPci",
    "VirtioPmemPci",
    "VirtioRngPci",
    "set_device_guest_policy",
]

DEVICE_TYPES: tuple[type[Device], ...] = (
    PcDimm,
    Nvdimm,
    VirtioMemPci,
    VirtioPmemPci,
    PcieRootPort,
    VirtioRngPci,
)

OBJECT_TYPES: tuple[UserObjectType, ...] = (RNG_RANDOM, SECRET)
