"""The simulated guest driver of virtio-balloon (balloon.md §5, "virtio-balloon driver").

Like Linux's virtio_balloon, the driver reads the target page count from the device's config
space and inflates or deflates towards it in chunks, writing the new ``actual`` page count
back after each chunk (which is what makes QEMU send BALLOON_CHANGE). It starts with an empty
balloon after every boot, and answers statistics requests when the host polls for them.

This module holds only the guest's side as a value-level state machine; the device
(``virtio.py``) runs it on the VM's virtual clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hvballoond.machine.units import PAGE_SIZE, MiB

__all__ = ["STAT_NAMES", "VirtioBalloonDriver", "VirtioBalloonDriverPolicy"]

NS_PER_MS: Final = 1_000_000

#: ``balloon_stat_names`` of hw/virtio/virtio-balloon.c, in its order (the visit order).
STAT_NAMES: Final = (
    "stat-swap-in",
    "stat-swap-out",
    "stat-major-faults",
    "stat-minor-faults",
    "stat-free-memory",
    "stat-total-memory",
    "stat-available-memory",
    "stat-disk-caches",
    "stat-htlb-pgalloc",
    "stat-htlb-pgfail",
    "stat-oom-kills",
    "stat-alloc-stalls",
    "stat-async-scans",
    "stat-direct-scans",
    "stat-async-reclaims",
    "stat-direct-reclaims",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class VirtioBalloonDriverPolicy:
    """How the simulated virtio-balloon driver behaves (all times are virtual ns).

    Attributes:
        start_delay_ns: boot to the driver binding to the device.
        step_bytes: the most the balloon changes per chunk (then ``actual`` is written).
        step_delay_ns: the time one chunk takes; also the delay from a new target to the
            first chunk.
        report_stats: the driver answers statistics requests.
        free_percent: how much of its memory the guest reports as free.
    """

    start_delay_ns: int = 500 * NS_PER_MS
    step_bytes: int = 128 * MiB
    step_delay_ns: int = 20 * NS_PER_MS
    report_stats: bool = True
    free_percent: int = 60


class VirtioBalloonDriver:
    """The guest's balloon: how many pages it holds now."""

    def __init__(self, policy: VirtioBalloonDriverPolicy) -> None:
        self.policy = policy
        self.pages = 0

    def step(self, target_pages: int) -> bool:
        """Move one chunk towards ``target_pages``; False if already there (no write)."""
        diff = target_pages - self.pages
        if diff == 0:
            return False
        chunk = max(self.policy.step_bytes // PAGE_SIZE, 1)
        self.pages += max(min(diff, chunk), -chunk)
        return True

    def stats(self, vm_ram_size: int) -> dict[str, int]:
        """The statistics the driver reports (Linux fills these; the others stay unset)."""
        total = max(vm_ram_size - self.pages * PAGE_SIZE, 0)
        free = total * self.policy.free_percent // 100
        return {
            "stat-swap-in": 0,
            "stat-swap-out": 0,
            "stat-major-faults": 0,
            "stat-minor-faults": total // PAGE_SIZE // 64,
            "stat-free-memory": free,
            "stat-total-memory": total,
            "stat-available-memory": free + total // 16,
            "stat-disk-caches": total // 16,
            "stat-htlb-pgalloc": 0,
            "stat-htlb-pgfail": 0,
        }
