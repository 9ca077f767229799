"""What a command handler may touch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from hvballoond.clock import Instant
from hvballoond.machine.events import MachineEvent
from hvballoond.wire.values import JSONObject

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["CommandContext", "MonitorControl", "VmIdentity"]


class MonitorControl(Protocol):
    """The monitor a command arrived on (qmp_capabilities, quit, query-yank)."""

    def enable_capabilities(self, capabilities: list[str]) -> None:
        """Leave negotiation with these capabilities, or raise QmpError as QEMU does."""
        ...

    def request_quit(self) -> None:
        """Exit the process once the current reply has been sent."""
        ...

    def advance_virtual_clock(self, ns: int) -> None:
        """Move the VM's virtual clock (``--virtual-clock``); raise QmpError otherwise."""
        ...

    def monitor_chardevs(self) -> list[str]:
        """Ids of the VM's socket chardevs (monitors' and devices'), in creation order: the
        chardev yank instances (query-yank, yank)."""
        ...

    def yank_chardev(self, chardev_id: str) -> None:
        """Drop the client of that monitor at once (its pending output is lost)."""
        ...


@dataclass(frozen=True, slots=True)
class VmIdentity:
    """Facts a handful of core commands report; fixed for the life of the process."""

    name: str | None = None
    uuid: str = "00000000-0000-0000-0000-000000000000"
    version: JSONObject = field(
        default_factory=lambda: {"qemu": {"major": 10, "minor": 0, "micro": 2}, "package": ""}
    )
    kvm_present: bool = False
    kvm_enabled: bool = False


@dataclass(slots=True)
class CommandContext:
    machine: Machine
    now: Instant
    monitor: MonitorControl
    vm: VmIdentity
    # Events the command causes, in order; the dispatcher sends them before the reply.
    events: list[MachineEvent] = field(default_factory=list)
