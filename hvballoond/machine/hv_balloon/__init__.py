"""hv-balloon: the Hyper-V Dynamic Memory protocol device (balloon.md §3, §4, §5).

Layers, bottom up: :mod:`.page_ranges` (sets of guest pages), :mod:`.dm` (the protocol's
messages), :mod:`.our_range` (the hot-add area), :mod:`.host` (QEMU's host state machine),
:mod:`.channel` (the in-memory VMBus channel), :mod:`.guest_sim` (a scripted DM guest),
:mod:`.engine` (all of them for one device), :mod:`.device` (``vmbus-bridge`` and
``hv-balloon``) and :mod:`.v3` (the seed's ``hv-balloon-add-memory`` and ``mem-hapvdimm``).

``DEVICE_TYPES`` is what :mod:`hvballoond.machine.catalog` registers with every machine.
"""

from __future__ import annotations

from hvballoond.machine.hv_balloon.device import HvBalloon, VmbusBridge, find_hv_balloon
from hvballoond.machine.hv_balloon.guest_sim import (
    GuestPolicy,
    HostileReports,
    HotAddReply,
    PageOrder,
)
from hvballoond.machine.hv_balloon.v3 import MemHapvdimm, add_memory
from hvballoond.machine.qdev import Device

__all__ = [
    "DEVICE_TYPES",
    "GuestPolicy",
    "HostileReports",
    "HotAddReply",
    "HvBalloon",
    "MemHapvdimm",
    "PageOrder",
    "VmbusBridge",
    "add_memory",
    "find_hv_balloon",
]

DEVICE_TYPES: tuple[type[Device], ...] = (VmbusBridge, HvBalloon, MemHapvdimm)
