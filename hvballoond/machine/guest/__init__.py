"""The ``hvb-guest`` object: one place to configure every simulated guest driver of a VM."""

from hvballoond.machine.guest.hvb_guest import HVB_GUEST, HvbGuest

__all__ = ["HVB_GUEST", "OBJECT_TYPES", "HvbGuest"]

OBJECT_TYPES = (HVB_GUEST,)
