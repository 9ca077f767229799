"""The memory-device manager of a :class:`~hvballoond.machine.machine.Machine`.

Every memory device type (and hv-balloon) reaches the manager through
:func:`memory_devices`; it is created on first use, after the board's memory layout is
final, with the machine's RAM sizes, device-memory region and memslot budget.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hvballoond.machine.memdev.manager import MemoryDeviceManager
from hvballoond.machine.memdev.memslots import MemslotLimits

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["MachineMemoryDevices", "memory_devices"]


class MachineMemoryDevices(MemoryDeviceManager):
    """The machine's :class:`MemoryDeviceManager` (a machine component)."""

    def __init__(self, machine: Machine) -> None:
        config = machine.config
        limits = MemslotLimits(
            accel=config.accel,
            kvm_max_memslots=machine.host.kvm_max_memslots,
            # The emulated host's boot memslots and vhost limit (memory-devices.md §4.3).
            boot_memslots=config.kvm_boot_memslots,
            vhost_memslots=config.vhost_memslots,
        )
        super().__init__(
            ram_size=config.ram_size,
            maxram_size=config.maxram_size,
            region=machine.device_memory,
            limits=limits,
        )


def memory_devices(machine: Machine) -> MemoryDeviceManager:
    """The machine's memory-device manager (one per machine)."""
    return machine.component(MachineMemoryDevices)
