"""Memslot accounting for memory devices and the per-device memslot decision.

Every RAM section mapped into the device-memory region costs one memslot in KVM and in each
vhost backend. QEMU tracks what memory devices *require* (promised at plug) and what they
*use* (mapped right now), refuses a device that would not fit (G4/G5), and lets devices that
can split their memory (virtio-mem with ``dynamic-memslots=on``, hv-balloon) pick a memslot
count from a limit (memory-devices.md §4; hw/mem/memory-device.c,
``memory_device_memslot_decision_limit``).

hvballoond runs no hypervisor: under the default TCG semantics there are no KVM memslots at
all, and ``-accel kvm`` only *emulates* a KVM host's memslot budget (spec §4.3 proposal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hvballoond.machine.config import Accel
from hvballoond.machine.units import GiB, MiB, align_up

__all__ = [
    "HV_BALLOON_MEMSLOT_ALIGN",
    "SAFE_MAX_MEMSLOTS",
    "SOFT_MEMSLOT_LIMIT",
    "VIRTIO_MEM_MIN_MEMSLOT_SIZE",
    "MemslotAccounting",
    "MemslotLimits",
    "MemslotSplit",
    "hv_balloon_memslots",
    "virtio_mem_memslots",
]

#: ``MEMORY_DEVICES_SOFT_MEMSLOT_LIMIT``: the memslots all deciding devices may share.
SOFT_MEMSLOT_LIMIT: Final = 256
#: ``MEMORY_DEVICES_SAFE_MAX_MEMSLOTS``: below this many memslots, devices get only one.
SAFE_MAX_MEMSLOTS: Final = 509
#: virtio-mem: every memslot but the last is at least this big (hw/virtio/virtio-mem.c).
VIRTIO_MEM_MIN_MEMSLOT_SIZE: Final = 1 * GiB
#: hv-balloon: memslot sizes are multiples of this (``HV_BALLOON_HA_MEMSLOT_SIZE_ALIGN``).
HV_BALLOON_MEMSLOT_ALIGN: Final = 128 * MiB

_UINT_MAX: Final = (1 << 32) - 1


@dataclass(frozen=True, slots=True)
class MemslotLimits:
    """The memslot budget of the emulated host (spec §4.3, proposal).

    Attributes:
        accel: TCG (no KVM memslots; G4 never applies) or emulated KVM.
        kvm_max_memslots: ``KVM_CAP_NR_MEMSLOTS`` of the emulated host (modern x86: 32764;
            0 means "the kernel reported nothing", which KVM treats as 32).
        boot_memslots: memslots already taken by boot RAM, ROMs and the like, both in KVM
            and in a vhost backend.
        vhost_memslots: the memslot limit of the most restrictive vhost backend, or None
            when the VM has no vhost device (then G5 never applies).
    """

    accel: Accel = Accel.TCG
    kvm_max_memslots: int = 32764
    boot_memslots: int = 8
    vhost_memslots: int | None = None

    @property
    def kvm_max(self) -> int:
        """``kvm_get_max_memslots()``: a reported 0 means 32 (accel/kvm/kvm-all.c)."""
        return self.kvm_max_memslots or 32


@dataclass(frozen=True, slots=True)
class MemslotSplit:
    """How a deciding device splits its region: ``count`` memslots of ``size`` bytes each
    (the last one may be smaller)."""

    count: int
    size: int


@dataclass(slots=True)
class MemslotAccounting:
    """The machine-wide counters (``DeviceMemoryState``'s memslot fields).

    Attributes:
        limits: the emulated host's budget.
        required: sum of the memslot counts of plugged devices.
        used: RAM sections currently mapped inside the device-memory region.
        auto_decision_active: plugged deciding devices that took more than one memslot.
    """

    limits: MemslotLimits
    required: int = 0
    used: int = 0
    auto_decision_active: int = 0

    @property
    def reserved(self) -> int:
        """Memslots promised to devices but not mapped yet (never negative)."""
        return max(self.required - self.used, 0)

    def kvm_free(self) -> int | None:
        """Free KVM memslots, or None under TCG."""
        if self.limits.accel is not Accel.KVM:
            return None
        return max(self.limits.kvm_max - self.limits.boot_memslots - self.used, 0)

    def vhost_free(self) -> int | None:
        """Free memslots of the most restrictive vhost backend, or None without vhost."""
        if self.limits.vhost_memslots is None:
            return None
        return max(self.limits.vhost_memslots - self.limits.boot_memslots - self.used, 0)

    def check_addable(self, required: int) -> str | None:
        """G4/G5: the refusal message for a device needing ``required`` memslots, or None."""
        needed = required + self.reserved
        kvm_free = self.kvm_free()
        if kvm_free is not None and kvm_free < needed:
            return "hypervisor has not enough free memory slots left"
        vhost_free = self.vhost_free()
        if vhost_free is not None and vhost_free < needed:
            return "a used vhost backend has not enough free memory slots left"
        return None

    def decision_limit(self, *, size: int, space: int, used_region_size: int) -> int:
        """The most memslots a deciding device of ``size`` bytes may use (spec §4.2).

        Args:
            size: the device's region size.
            space: ``maxram_size - ram_size``.
            used_region_size: bytes already taken by plugged memory devices.
        """
        reserved = self.reserved
        most = _UINT_MAX if self.limits.vhost_memslots is None else self.limits.vhost_memslots
        free = self.vhost_free()
        free_count = _UINT_MAX if free is None else free
        kvm_free = self.kvm_free()
        if kvm_free is not None:
            most = min(most, self.limits.kvm_max)
            free_count = min(free_count, kvm_free)
        if most < SAFE_MAX_MEMSLOTS or self.required >= SOFT_MEMSLOT_LIMIT:
            return 1
        if free_count < reserved:
            return 1
        memslots = min(SOFT_MEMSLOT_LIMIT - self.required, free_count - reserved)
        if memslots < 1:
            return 1
        if size == space:
            return memslots  # this device takes all the space there is
        available = space - used_region_size
        if available <= 0:
            # QEMU divides by zero here; pre-plug refuses the device (G6) right after.
            return memslots
        # QEMU computes this in double precision and truncates to unsigned int.
        share = int(float(memslots) * size / available)
        return max(share, 1)


def virtio_mem_memslots(*, region_size: int, block_size: int, limit: int) -> MemslotSplit:
    """virtio-mem with ``dynamic-memslots=on`` (``virtio_mem_decide_memslots``).

    ``block_size`` is the effective block size (the default already applied); the caller
    gives a single memslot when realize is going to fail anyway.
    """
    if limit <= 1:
        return MemslotSplit(1, region_size)
    memslot_size = max(
        align_up(region_size // limit, block_size),
        max(block_size, VIRTIO_MEM_MIN_MEMSLOT_SIZE),
    )
    count = -(-region_size // memslot_size)
    return MemslotSplit(count, memslot_size if count != 1 else region_size)


def hv_balloon_memslots(*, region_size: int, limit: int) -> MemslotSplit:
    """hv-balloon (``hv_balloon_decide_memslots``): 128 MiB-aligned memslots."""
    memslot_size = align_up(region_size // limit, HV_BALLOON_MEMSLOT_ALIGN)
    count = -(-region_size // memslot_size)
    return MemslotSplit(count, memslot_size if count > 1 else region_size)
