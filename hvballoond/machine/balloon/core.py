"""The balloon core: one balloon handler per VM, and the ``balloon`` / ``query-balloon`` logic.

balloon.md §1 (QEMU: ``system/balloon.c``). A balloon device (virtio-balloon-pci or
hv-balloon) registers itself as the machine's handler when it is realized and unregisters when
it goes away; at most one may be registered. The QMP commands talk to whichever is there.

Also here: :class:`BalloonGuestConfig`, the per-machine choice of simulated guest drivers for
the balloon devices (balloon.md §5). By default there is no guest at all, as with QEMU and no
guest OS: the corpus recorded from such a QEMU is replayed against hvballoond.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import structlog

from hvballoond.clock import Instant
from hvballoond.machine.errors import MachineError, NotActiveError
from hvballoond.machine.events import MachineEvent
from hvballoond.wire.values import JSONObject

if TYPE_CHECKING:
    from hvballoond.machine.balloon.driver import VirtioBalloonDriverPolicy
    from hvballoond.machine.hv_balloon.guest_sim import GuestPolicy
    from hvballoond.machine.machine import Machine

__all__ = [
    "NO_BALLOON",
    "BalloonCore",
    "BalloonGuestConfig",
    "BalloonHandler",
    "balloon_core",
    "balloon_guest_config",
    "set_balloon_guest_policy",
]

log = structlog.get_logger(__name__)

NO_BALLOON = "No balloon device has been activated"


class BalloonHandler(Protocol):
    """What a balloon device gives the core (QEMU's ``QEMUBalloonEvent`` / ``Status``)."""

    def balloon_to_target(self, target: int, now: Instant) -> list[MachineEvent]:
        """A new target (bytes, > 0), as ``balloon`` gave it."""
        ...

    def balloon_actual(self) -> int:
        """``query-balloon`` ``actual`` in bytes."""
        ...


class BalloonCore:
    """The machine's balloon handler slot (a machine component)."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.handler: BalloonHandler | None = None

    def can_register(self) -> bool:
        """False while another balloon device holds the slot."""
        return self.handler is None

    def register(self, handler: BalloonHandler) -> None:
        """``qemu_add_balloon_handler``; the caller checked :meth:`can_register` at realize.

        Raises:
            MachineError: ``Only one balloon device is supported``.
        """
        if self.handler is not None:
            raise MachineError("Only one balloon device is supported")
        self.handler = handler
        log.info("balloon.handler.registered", handler=type(handler).__name__)

    def unregister(self, handler: BalloonHandler) -> None:
        """``qemu_remove_balloon_handler``: only the registered handler can leave."""
        if self.handler is handler:
            self.handler = None
            log.info("balloon.handler.unregistered", handler=type(handler).__name__)

    def _active(self) -> BalloonHandler:
        # have_balloon(): KVM without a synchronous MMU (KVMMissingCap) cannot happen with any
        # KVM of the last decade, and never under TCG, so only the handler check remains.
        if self.handler is None:
            raise NotActiveError(NO_BALLOON)
        return self.handler

    def balloon(self, value: int, now: Instant) -> list[MachineEvent]:
        """``balloon``: checks in QEMU's order, then hand the target to the device.

        Raises:
            NotActiveError: no balloon device (checked before the value).
            MachineError: ``Parameter 'value' expects a size`` for ``value <= 0``.
        """
        handler = self._active()
        if value <= 0:
            raise MachineError("Parameter 'value' expects a size")
        log.info("balloon.target.requested", size_bytes=value)
        return handler.balloon_to_target(value, now)

    def query(self) -> JSONObject:
        """``query-balloon``: ``{"actual": bytes}``.

        Raises:
            NotActiveError: no balloon device.
        """
        return {"actual": self._active().balloon_actual()}


def balloon_core(machine: Machine) -> BalloonCore:
    """The machine's balloon core."""
    return machine.component(BalloonCore)


class BalloonGuestConfig:
    """Which simulated balloon drivers the guest has (a machine component).

    Attributes:
        dm: the Hyper-V DM guest for hv-balloon; None: no DM driver ever connects.
        virtio: the virtio-balloon driver; None: no driver, ``actual`` never moves.
        seed: seed of the guests' random generators.
        post_init_wait_ns: hv-balloon's post-boot delay before its first request (QEMU:
            50 s of virtual time; tests may shorten it, balloon.md §5 row 4).
    """

    def __init__(self, machine: Machine) -> None:
        self.dm: GuestPolicy | None = None
        self.virtio: VirtioBalloonDriverPolicy | None = None
        self.seed = 0
        self.post_init_wait_ns = 50 * 1_000_000_000


def balloon_guest_config(machine: Machine) -> BalloonGuestConfig:
    """The machine's balloon guest configuration."""
    return machine.component(BalloonGuestConfig)


def set_balloon_guest_policy(
    machine: Machine,
    *,
    dm: GuestPolicy | None,
    virtio: VirtioBalloonDriverPolicy | None,
    seed: int = 0,
    post_init_wait_ns: int | None = None,
) -> None:
    """Choose the simulated balloon drivers of ``machine`` (``-object hvb-guest``).

    Takes effect at the next guest boot (a driver that is already running keeps going).
    ``post_init_wait_ns`` overrides hv-balloon's 50 s post-boot delay (tests only).
    """
    config = balloon_guest_config(machine)
    config.dm = dm
    config.virtio = virtio
    config.seed = seed
    if post_init_wait_ns is not None:
        config.post_init_wait_ns = post_init_wait_ns
    log.info("balloon.guest.policy", dm=dm is not None, virtio=virtio is not None)
