"""Runs one QMP command: validate the arguments, call the handler, map refusals to errors.

The dispatcher is synchronous and owns no I/O: the runtime gives it a request and the monitor it
came from, and gets back the reply (or error) plus the events the command caused, which must be
delivered before the reply (qmp-protocol.md §8.3).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from hvballoond.clock import Instant
from hvballoond.dispatch.context import CommandContext, MonitorControl, VmIdentity
from hvballoond.dispatch.errors import to_qmp_error
from hvballoond.dispatch.registry import Handler
from hvballoond.dispatch.schema_check import OutgoingChecker
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import MachineEvent
from hvballoond.probe.store import Accel, ProbeStore
from hvballoond.qmp.errors import QmpError
from hvballoond.wire.values import JSONObject, JSONValue

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["ArgumentValidator", "Dispatcher", "Outcome"]

log = structlog.get_logger(__name__)

# (command, arguments) -> validated arguments; raises QmpError with QEMU's validation message.
ArgumentValidator = Callable[[str, JSONObject], JSONObject]


@dataclass(slots=True)
class Outcome:
    result: JSONValue | QmpError
    events: list[MachineEvent] = field(default_factory=list)


class Dispatcher:
    """Executes validated commands against one machine."""

    def __init__(
        self,
        *,
        machine: Machine,
        vm: VmIdentity,
        handlers: Mapping[str, Handler],
        validate: ArgumentValidator,
        probe: ProbeStore | None = None,
    ) -> None:
        self.machine = machine
        self.vm = vm
        self._handlers = handlers
        self._validate = validate
        self.outgoing = OutgoingChecker()
        # Capability-probe mode (-machine none, as libvirt probes an emulator): the static
        # facts of QEMU 10.0.2 that libvirt asks for come from the recorded store.
        self._probe = probe
        self._probe_accel = Accel.KVM if vm.kvm_enabled else Accel.TCG

    def knows(self, command: str) -> bool:
        return command in self._handlers or (
            self._probe is not None and command in self._probe.commands()
        )

    def commands(self) -> set[str]:
        """Every command this dispatcher answers (the session's catalog)."""
        names = set(self._handlers)
        if self._probe is not None:
            names |= self._probe.commands()
        return names

    def execute(
        self, command: str, arguments: JSONObject, *, monitor: MonitorControl, now: Instant
    ) -> Outcome:
        if self._probe is not None:
            answer = self._probe.reply(
                command, arguments, accel=self._probe_accel, has_handler=command in self._handlers
            )
            if answer is not None:
                # QEMU's own replies: neither validated nor schema-checked against ours.
                return Outcome(answer)
        handler = self._handlers.get(command)
        if handler is None:
            return Outcome(QmpError(f"The command {command} has not been found"))
        ctx = CommandContext(machine=self.machine, now=now, monitor=monitor, vm=self.vm)
        try:
            args = self._validate(command, arguments)
            result = handler(ctx, args)
        except QmpError as err:
            return Outcome(err, ctx.events)
        except MachineError as err:
            return Outcome(to_qmp_error(err), ctx.events)
        except Exception as err:  # a bug of ours must not take the monitor down
            log.exception("qmp.command.crashed", command=command)
            return Outcome(QmpError(f"internal error in {command}: {err!r}"), ctx.events)
        problem = self.outgoing.check_return(command, result)
        if problem is not None:
            # Only under test (strict checking): make the bug visible in the reply itself.
            return Outcome(QmpError(f"hvballoond schema violation: {problem}"), ctx.events)
        return Outcome(result, ctx.events)
