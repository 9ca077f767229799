"""Ballooning: the balloon core (one handler per VM, ``balloon``/``query-balloon``) and
``virtio-balloon-pci`` with its simulated guest driver. hv-balloon lives in
:mod:`hvballoond.machine.hv_balloon` and registers with the same core.

``DEVICE_TYPES`` is what :mod:`hvballoond.machine.catalog` registers with every machine.
"""

from __future__ import annotations

from hvballoond.machine.balloon.core import (
    BalloonCore,
    BalloonGuestConfig,
    BalloonHandler,
    balloon_core,
    balloon_guest_config,
    set_balloon_guest_policy,
)
from hvballoond.machine.balloon.driver import VirtioBalloonDriverPolicy
from hvballoond.machine.balloon.virtio import (
    VirtioBalloon,
    VirtioBalloonPci,
    VirtioBalloonPciNonTransitional,
    VirtioBalloonPciTransitional,
)
from hvballoond.machine.qdev import Device

__all__ = [
    "DEVICE_TYPES",
    "BalloonCore",
    "BalloonGuestConfig",
    "BalloonHandler",
    "VirtioBalloon",
    "VirtioBalloonDriverPolicy",
    "VirtioBalloonPci",
    "VirtioBalloonPciNonTransitional",
    "VirtioBalloonPciTransitional",
    "balloon_core",
    "balloon_guest_config",
    "set_balloon_guest_policy",
]

DEVICE_TYPES: tuple[type[Device], ...] = (
    VirtioBalloonPci,
    VirtioBalloonPciTransitional,
    VirtioBalloonPciNonTransitional,
)
