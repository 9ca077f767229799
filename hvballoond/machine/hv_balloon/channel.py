"""The in-memory VMBus channel between the hv-balloon host and the simulated guest.

:class:`DmChannel` is the pair of ring buffers of one VMBus channel: encoded DM messages go
host -> guest and guest -> host, and the guest's channel-level requests (open, close, VMBus
unload) wait in a control queue. The host -> guest ring has a capacity, so a guest that stops
reading (policy ``stall``) eventually leaves the host waiting in a ``*_RB_WAIT`` state, as a
full VMBus ring does (balloon.md §3.4).

:class:`DmLink` pumps host and guest until neither has anything left to do (both are
synchronous; nothing here knows about time except passing the virtual clock along).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import Final, Protocol

import structlog

from hvballoond.machine.events import MachineEvent

__all__ = [
    "BACKLOG_DELAY_NS",
    "DEFAULT_RING_BYTES",
    "MAX_PUMP_ROUNDS",
    "ControlRequest",
    "DmChannel",
    "DmLink",
    "GuestEndpoint",
]

log = structlog.get_logger(__name__)

#: Host -> guest ring capacity. Linux's hv_balloon asks for 16 KiB rings.
DEFAULT_RING_BYTES: Final = 16 * 1024


class ControlRequest(Enum):
    """What a guest asks of the VMBus rather than of the DM protocol."""

    OPEN = "open"  # open the DM channel
    CLOSE = "close"  # close the DM channel
    VMBUS_RESET = "vmbus-reset"  # unload VMBus: every VMBus device is reset


class DmChannel:
    """Both ring buffers of the DM channel, plus the guest's control requests."""

    def __init__(self, *, ring_bytes: int = DEFAULT_RING_BYTES) -> None:
        self.ring_bytes = ring_bytes
        #: Set by the host when it accepts an open; cleared when the channel closes.
        self.is_open = False
        self._to_guest: deque[bytes] = deque()
        self._to_guest_bytes = 0
        self._to_host: deque[bytes] = deque()
        self._control: deque[ControlRequest] = deque()

    # -- host side -------------------------------------------------------------------------

    def has_room(self, size: int) -> bool:
        """``vmbus_channel_reserve``: True if ``size`` more bytes fit in the host->guest ring."""
        return self._to_guest_bytes + size <= self.ring_bytes

    @property
    def free_bytes(self) -> int:
        """Free space in the host->guest ring."""
        return self.ring_bytes - self._to_guest_bytes

    def send_many_to_guest(self, messages: list[bytes]) -> None:
        """Queue several encoded messages (the caller checked the room)."""
        self._to_guest.extend(messages)
        self._to_guest_bytes += sum(map(len, messages))

    def send_to_guest(self, data: bytes) -> None:
        """Queue one encoded message for the guest (the caller checked :meth:`has_room`)."""
        self._to_guest.append(data)
        self._to_guest_bytes += len(data)

    def receive_from_guest(self) -> bytes | None:
        """Take the oldest message the guest sent, or None."""
        return self._to_host.popleft() if self._to_host else None

    @property
    def host_has_input(self) -> bool:
        """True if guest messages wait for the host."""
        return bool(self._to_host)

    def drop_all(self) -> None:
        """Forget queued messages in both directions (the rings are torn down at close)."""
        self._to_guest.clear()
        self._to_guest_bytes = 0
        self._to_host.clear()

    # -- guest side ------------------------------------------------------------------------

    def send_to_host(self, data: bytes) -> None:
        """Queue one encoded message for the host."""
        self._to_host.append(data)

    def receive_from_host(self) -> bytes | None:
        """Take the oldest message the host sent, or None."""
        if not self._to_guest:
            return None
        data = self._to_guest.popleft()
        self._to_guest_bytes -= len(data)
        return data

    @property
    def guest_has_input(self) -> bool:
        """True if host messages wait for the guest."""
        return bool(self._to_guest)

    def request(self, what: ControlRequest) -> None:
        """Queue a channel-level request from the guest."""
        self._control.append(what)

    def take_request(self) -> ControlRequest | None:
        """The oldest pending control request, or None."""
        return self._control.popleft() if self._control else None


class GuestEndpoint(Protocol):
    """The guest side of a :class:`DmLink` (the simulated DM guest)."""

    def step(self, vnow_ns: int) -> bool:
        """Handle queued host messages and due actions; True if anything happened."""
        ...

    def on_open_result(self, accepted: bool, vnow_ns: int) -> None:
        """The host accepted (or refused) the guest's last open request."""
        ...

    def next_deadline(self) -> int | None:
        """The guest's next timed action (virtual ns), or None."""
        ...


class HostEndpoint(Protocol):
    """The host side of a :class:`DmLink` (:class:`~.host.HvBalloonHost`)."""

    #: Bumped whenever the host changes state or reads a message.
    progress: int

    def open_channel(self, vnow_ns: int) -> list[MachineEvent]:
        """The guest opens the channel (the host sets ``is_open`` if it agrees)."""
        ...

    def close_channel(self, vnow_ns: int) -> list[MachineEvent]:
        """The guest closes the channel."""
        ...

    def notify(self, vnow_ns: int) -> list[MachineEvent]:
        """Something arrived or ring space was freed: run the host's event loop."""
        ...


#: Rounds (host pass + guest pass) one pump may run. A legitimate operation needs a few
#: hundred even on a 1 TiB guest; more means host and guest keep feeding each other (a
#: misbehaving guest), and the rest is deferred so the machine stays responsive.
MAX_PUMP_ROUNDS: Final = 10_000
#: How long (virtual ns) a deferred exchange waits before the next pump.
BACKLOG_DELAY_NS: Final = 1_000_000


class DmLink:
    """Connects the host to a guest (or to nobody) over one channel and runs them.

    Args:
        host: the hv-balloon host.
        channel: the channel both ends use.
        on_vmbus_reset: what a guest's VMBus unload does (resets every VMBus device; the
            device wires this to the host's device reset).
    """

    def __init__(
        self,
        *,
        host: HostEndpoint,
        channel: DmChannel,
        on_vmbus_reset: Callable[[int], list[MachineEvent]],
    ) -> None:
        self.host = host
        self.channel = channel
        self.guest: GuestEndpoint | None = None
        self.backlog_at: int | None = None
        self._on_vmbus_reset = on_vmbus_reset

    def attach(self, guest: GuestEndpoint | None) -> None:
        """Put ``guest`` on the other end of the channel (None: no guest at all)."""
        self.guest = guest

    def pump(self, vnow_ns: int) -> list[MachineEvent]:
        """Let host and guest exchange messages until both are idle (or the round limit)."""
        events: list[MachineEvent] = []
        self.backlog_at = None
        for _ in range(MAX_PUMP_ROUNDS):
            progressed = False
            while (req := self.channel.take_request()) is not None:
                progressed = True
                match req:
                    case ControlRequest.OPEN:
                        events += self.host.open_channel(vnow_ns)
                        if self.guest is not None:
                            self.guest.on_open_result(self.channel.is_open, vnow_ns)
                    case ControlRequest.CLOSE:
                        events += self.host.close_channel(vnow_ns)
                    case ControlRequest.VMBUS_RESET:
                        events += self._on_vmbus_reset(vnow_ns)
            # Run the host every round, not only when it has input: the guest reading the ring
            # also wakes it (a host in *_RB_WAIT is waiting for exactly that).
            before = self.host.progress
            events += self.host.notify(vnow_ns)
            progressed = progressed or self.host.progress != before
            if self.guest is not None and self.guest.step(vnow_ns):
                progressed = True
            if not progressed:
                return events
        self.backlog_at = vnow_ns + BACKLOG_DELAY_NS
        log.warning("hv_balloon.channel.busy", rounds=MAX_PUMP_ROUNDS)
        return events

    def next_deadline(self) -> int | None:
        """The guest's next timed action, or when a deferred exchange continues."""
        guest = None if self.guest is None else self.guest.next_deadline()
        times = [t for t in (self.backlog_at, guest) if t is not None]
        return min(times, default=None)
