"""Static configuration of one machine: what the command line decided, plus host facts.

:class:`MachineConfig` is built by ``startup.py`` from the command line (or directly by
tests) and never changes afterwards. :class:`HostFacts` carries what the runtime read from
the host once at startup (the machine model never reads ``/proc`` itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from hvballoond.machine.units import GiB, MiB

__all__ = [
    "Accel",
    "HostFacts",
    "MachineConfig",
    "MachineKind",
    "NumaNode",
]


class MachineKind(StrEnum):
    """Board families hvballoond models."""

    Q35 = "q35"
    PC = "pc"
    NONE = "none"


class Accel(StrEnum):
    """The accelerator whose behaviour is simulated (memslot limits differ)."""

    TCG = "tcg"
    KVM = "kvm"


@dataclass(frozen=True, slots=True)
class HostFacts:
    """Host facts, read once by the caller.

    Attributes:
        ram_bytes: host RAM (``MemTotal``).
        swap_bytes: host swap (``SwapTotal``).
        commit_limit: override of the backend commit limit (default RAM + swap).
        kvm_available: whether ``/dev/kvm`` is usable (``accel=kvm`` simulation allowed).
        page_size: host base page size.
        thp_size: transparent huge page size (virtio-mem's default block size).
        default_hugetlb_size: default huge page size.
        kvm_max_memslots: ``KVM_CAP_NR_MEMSLOTS`` for the KVM simulation.
    """

    ram_bytes: int = 16 * GiB
    swap_bytes: int = 0
    commit_limit: int | None = None
    kvm_available: bool = False
    page_size: int = 4096
    thp_size: int = 2 * MiB
    default_hugetlb_size: int = 2 * MiB
    kvm_max_memslots: int = 32764

    @property
    def effective_commit_limit(self) -> int:
        """The backend commit limit: the override, or RAM + swap."""
        if self.commit_limit is not None:
            return self.commit_limit
        return self.ram_bytes + self.swap_bytes


@dataclass(frozen=True, slots=True)
class NumaNode:
    """One ``-numa node``: its id and memory backend (if any)."""

    nodeid: int
    memdev: str | None = None
    mem: int | None = None


@dataclass(frozen=True, slots=True)
class MachineConfig:
    """Everything memory-relevant the command line decided.

    Attributes:
        kind: board family.
        type_name: QOM machine type (``pc-q35-10.0-machine``).
        ram_size / maxram_size / ram_slots: the ``-m`` result (machine-memory.md §1).
        nvdimm: ``-machine nvdimm=on``.
        max_ram_below_4g: ``-machine max-ram-below-4g`` (None: board default).
        memory_backend: ``-machine memory-backend=ID``.
        accel: simulated accelerator.
        phys_bits: guest CPU physical address bits (TCG default 40).
        amd_cpu: the CPU vendor is AMD (TCG ``qemu64`` is), for the 1 TiB relocation.
        cpus: ``-smp`` CPU count.
        numa_nodes: ``-numa node`` entries.
        mem_merge / dump_guest_core: machine defaults inherited by backends.
        acpi: ``-machine acpi`` (OnOffAuto).
        start_paused: ``-S``.
        no_shutdown: ``-no-shutdown``.
        pci_hole64_size: size of the 64-bit PCI hole (q35 32 GiB, pc 2 GiB).
        piix4_memory_hotplug_support: ``-global PIIX4_PM.memory-hotplug-support`` (pc only:
            without it pc-dimm hot-plug is refused).
        kvm_boot_memslots: memslots the emulated host's boot memory uses (the vhost/KVM
            budget left to memory devices, memory-devices.md §4.3).
        vhost_memslots: the memslot limit of the most restrictive vhost backend, None when
            the VM has none.
        mem_lock: ``-overcommit mem-lock=on|on-fault`` (virtio-mem refuses to work then).
    """

    kind: MachineKind = MachineKind.Q35
    type_name: str = "pc-q35-10.0-machine"
    ram_size: int = 128 * MiB
    maxram_size: int = 128 * MiB
    ram_slots: int = 0
    nvdimm: bool = False
    max_ram_below_4g: int | None = None
    memory_backend: str | None = None
    accel: Accel = Accel.TCG
    phys_bits: int = 40
    amd_cpu: bool = True
    cpus: int = 1
    numa_nodes: tuple[NumaNode, ...] = field(default_factory=tuple)
    mem_merge: bool = True
    dump_guest_core: bool = True
    acpi: str = "auto"
    start_paused: bool = False
    no_shutdown: bool = False
    pci_hole64_size: int | None = None
    piix4_memory_hotplug_support: bool = True
    kvm_boot_memslots: int = 8
    vhost_memslots: int | None = None
    mem_lock: bool = False

    @property
    def has_device_memory(self) -> bool:
        """A device-memory region exists (``ram_size < maxram_size``, §3.1)."""
        return self.kind is not MachineKind.NONE and self.ram_size < self.maxram_size

    @property
    def numa_node_count(self) -> int:
        """NUMA nodes as QEMU counts them, including the implicit node with memory hotplug.

        pc/q35 add one node when slots or maxmem are given and no ``-numa`` was used
        (hw/core/numa.c numa_complete_configuration).
        """
        if self.numa_nodes:
            return len(self.numa_nodes)
        if self.kind is not MachineKind.NONE and (
            self.ram_slots or self.maxram_size > self.ram_size
        ):
            return 1
        return 0

    @property
    def hole64_size(self) -> int:
        """The 64-bit PCI hole size (explicit, or the board default)."""
        if self.pci_hole64_size is not None:
            return self.pci_hole64_size
        return 32 * GiB if self.kind is MachineKind.Q35 else 2 * GiB

    @property
    def acpi_enabled(self) -> bool:
        """ACPI is on (``auto`` means on for pc/q35)."""
        return self.acpi != "off" and self.kind is not MachineKind.NONE
