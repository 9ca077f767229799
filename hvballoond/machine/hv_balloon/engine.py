"""One hv-balloon's protocol machinery: host, channel, link and (optionally) simulated guest.

The device (``device.py``) owns one :class:`HvBalloonEngine` and forwards the machine's
commands, resets and clock ticks to it; tests drive an engine directly with a fake RAM map.
All times are the VM's virtual clock in nanoseconds.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from hvballoond.machine.events import MachineEvent
from hvballoond.machine.hv_balloon.channel import DEFAULT_RING_BYTES, DmChannel, DmLink
from hvballoond.machine.hv_balloon.guest_sim import GuestLayout, GuestPolicy, SimulatedDmGuest
from hvballoond.machine.hv_balloon.host import (
    POST_INIT_WAIT_NS,
    HvBalloonHost,
    MemdevArea,
    RamMap,
)
from hvballoond.machine.hv_balloon.our_range import OurRange

__all__ = ["HvBalloonEngine"]


class HvBalloonEngine:
    """Host + channel + guest of one hv-balloon device.

    Args:
        ram_map: classifies returned pages.
        boot_ram_bytes: ``ram_size`` plus realized plain pc-dimms.
        memdev: the hot-add backend area, if any.
        status_report: the device's ``status-report`` property.
        post_init_wait_ns: the host's post-caps delay.
        v3_status_spelling: status events use the v3 member name ``commited``.
        ring_bytes: host -> guest ring capacity.
    """

    def __init__(
        self,
        *,
        ram_map: RamMap,
        boot_ram_bytes: Callable[[], int],
        memdev: MemdevArea | None = None,
        status_report: bool = False,
        post_init_wait_ns: int = POST_INIT_WAIT_NS,
        v3_status_spelling: bool = False,
        ring_bytes: int = DEFAULT_RING_BYTES,
    ) -> None:
        self.channel = DmChannel(ring_bytes=ring_bytes)
        self.host = HvBalloonHost(
            channel=self.channel,
            ram_map=ram_map,
            boot_ram_bytes=boot_ram_bytes,
            memdev=memdev,
            status_report=status_report,
            post_init_wait_ns=post_init_wait_ns,
            v3_status_spelling=v3_status_spelling,
        )
        self.link = DmLink(host=self.host, channel=self.channel, on_vmbus_reset=self._vmbus_reset)
        self.guest: SimulatedDmGuest | None = None

    def attach_guest(
        self, *, policy: GuestPolicy, layout: GuestLayout, rng: random.Random, vnow_ns: int
    ) -> SimulatedDmGuest:
        """Boot a simulated guest on the channel (it connects after its delay)."""
        self.guest = SimulatedDmGuest(
            channel=self.channel, policy=policy, layout=layout, rng=rng, vnow_ns=vnow_ns
        )
        self.link.attach(self.guest)
        return self.guest

    def next_deadline(self) -> int | None:
        """The earliest host or guest timer (virtual ns), or None."""
        times = [t for t in (self.host.next_deadline(), self.link.next_deadline()) if t is not None]
        return min(times, default=None)

    def advance(self, vnow_ns: int) -> list[MachineEvent]:
        """Fire whatever is due at ``vnow_ns`` and let both sides settle."""
        events = self.host.advance(vnow_ns)
        return events + self.link.pump(vnow_ns)

    def pump(self, vnow_ns: int) -> list[MachineEvent]:
        """Let both sides exchange queued messages."""
        return self.link.pump(vnow_ns)

    def set_target(self, value_bytes: int, vnow_ns: int) -> list[MachineEvent]:
        """The ``balloon`` command (§3.5)."""
        events = self.host.set_target(value_bytes, vnow_ns)
        return events + self.link.pump(vnow_ns)

    def device_reset(self, vnow_ns: int) -> list[MachineEvent]:
        """VMBus device reset only (no reboot of the guest)."""
        return self.host.device_reset(vnow_ns) + self.link.pump(vnow_ns)

    def system_reset(self, vnow_ns: int) -> tuple[list[MachineEvent], list[OurRange]]:
        """A VM reset: device reset, hot-added memory dropped, the guest gone (§3.11).

        The guest OS is not running after a reset; attach a new guest when it boots again.

        Returns:
            The events, and the v3 backend areas that were dropped (in the order added).
        """
        events = self.host.device_reset(vnow_ns)
        dropped = self.host.system_reset()
        self.guest = None
        self.link.attach(None)
        return events + self.link.pump(vnow_ns), dropped

    def add_v3_range(self, our: OurRange, vnow_ns: int) -> list[MachineEvent]:
        """v3: hot-add a whole backend as soon as the host is idle."""
        return self.host.add_v3_range(our, vnow_ns) + self.link.pump(vnow_ns)

    def _vmbus_reset(self, vnow_ns: int) -> list[MachineEvent]:
        # A guest unloading VMBus resets every VMBus device: here, just ours.
        return self.host.device_reset(vnow_ns)
