"""An in-process VM for device tests: a machine built from a QEMU command line, the real
dispatcher, and a fake clock. Also reads the request/reply files recorded from real QEMU
(tests/machine/recorded/devices-*.txt)."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from hvballoond.cli.monitors import parse_chardevs
from hvballoond.cli.options import parse_command_line
from hvballoond.clock import NS_PER_MS, FakeClock
from hvballoond.dispatch import schema_glue
from hvballoond.dispatch.context import VmIdentity
from hvballoond.dispatch.dispatcher import Dispatcher
from hvballoond.dispatch.events import to_qapi_event
from hvballoond.machine.backends import PathInfo
from hvballoond.machine.config import HostFacts
from hvballoond.machine.events import MachineEvent
from hvballoond.machine.machine import Machine
from hvballoond.machine.startup import StartupOption, create_machine
from hvballoond.machine.units import GiB
from hvballoond.qmp.errors import QmpError
from hvballoond.wire.values import JSONObject, JSONValue
from tests.fakes import NullMonitor

RECORDED = Path(__file__).resolve().parent.parent / "recorded"



@dataclass(frozen=True)
class _Files:
    """memory-backend-file sees exactly these files (path -> size); nothing else exists."""

    files: dict[str, int]

    def probe(self, path: str, *, readonly: bool) -> PathInfo:
        if path in self.files:
            return PathInfo(size=self.files[path])
        return PathInfo(error="No such file or directory")

    def note_allocated(self, path: str, size: int) -> None:
        """The fixture's files are fixed; QEMU's file creation is not modelled here."""


@dataclass
class Vm:
    """One machine plus its dispatcher."""

    machine: Machine
    dispatcher: Dispatcher
    clock: FakeClock
    events: list[JSONObject] = field(default_factory=list)

    def qmp(self, command: str, arguments: JSONObject | None = None) -> JSONObject:
        """Run a command; returns ``{"return": ...}`` or ``{"error": {...}}``. Events the
        command caused are appended to :attr:`events`."""
        outcome = self.dispatcher.execute(
            command, arguments or {}, monitor=NullMonitor(["monitor0"]), now=self.clock.now()
        )
        self._collect(outcome.events)
        if isinstance(outcome.result, QmpError):
            return {"error": {"class": outcome.result.error_class.value,
                              "desc": outcome.result.desc}}
        return {"return": outcome.result}

    def ok(self, command: str, arguments: JSONObject | None = None) -> JSONValue:
        """Run a command that must succeed; returns its value."""
        reply = self.qmp(command, arguments)
        assert "return" in reply, reply
        return reply["return"]

    def error(self, command: str, arguments: JSONObject | None = None) -> str:
        """Run a command that must fail; returns the error description."""
        reply = self.qmp(command, arguments)
        assert "error" in reply, reply
        error = reply["error"]
        assert isinstance(error, dict)
        desc = error["desc"]
        assert isinstance(desc, str)
        return desc

    def memory_devices(self) -> list[tuple[str, JSONObject]]:
        """``query-memory-devices`` as (type, data) pairs."""
        out: list[tuple[str, JSONObject]] = []
        result = self.ok("query-memory-devices")
        assert isinstance(result, list)
        for info in result:
            assert isinstance(info, dict)
            kind, data = info["type"], info["data"]
            assert isinstance(kind, str) and isinstance(data, dict)
            out.append((kind, data))
        return out

    def hmp(self, line: str) -> str:
        """``human-monitor-command``."""
        result = self.ok("human-monitor-command", {"command-line": line})
        assert isinstance(result, str)
        return result

    def advance(self, ms: int) -> None:
        """Let ``ms`` of host time pass (guest time too while the VM runs)."""
        step = max(1, ms)
        target = self.clock.mono_ns + ms * NS_PER_MS
        while True:
            self._collect(self.machine.advance(self.clock.now()))
            deadline = self.machine.next_deadline()
            if deadline is None or deadline > target:
                break
            self.clock.mono_ns = max(self.clock.mono_ns, deadline)
        self.clock.mono_ns = target
        self._collect(self.machine.advance(self.clock.now()))
        del step

    def take_events(self) -> list[JSONObject]:
        """The events since the last call (``{"event": name, "data": {...}}``)."""
        out, self.events = self.events, []
        return out

    def _collect(self, events: list[MachineEvent]) -> None:
        for event in events:
            qapi = to_qapi_event(event)
            entry: JSONObject = {"event": qapi.name}
            if qapi.data:
                entry["data"] = qapi.data
            self.events.append(entry)


def vm(
    args: str,
    *,
    paused: bool = True,
    files: dict[str, int] | None = None,
    host: HostFacts | None = None,
) -> Vm:
    """Start a machine as ``hvballoond <args> -S`` would (``-S`` unless ``paused=False``);
    ``files`` are the existing files memory-backend-file may open. Chardevs (``-chardev``)
    exist in the machine but are not opened: no runtime owns them here."""
    line = parse_command_line(shlex.split(args) + (["-S"] if paused else []))
    options = [StartupOption(flag=f"-{o.name}", text=o.value or "") for o in line.machine]
    for flag in ("S", "no-shutdown"):
        if flag in line.process:
            options.append(StartupOption(flag=f"-{flag}", text=""))
    clock = FakeClock()
    machine = create_machine(
        options,
        object_validator=schema_glue.object_validator,
        host=host or HostFacts(ram_bytes=64 * GiB),
        now=clock.now(),
        file_probe=_Files(files or {}),
        chardevs=[spec.config() for spec in parse_chardevs(line.monitors)],
    )
    dispatcher = Dispatcher(
        machine=machine,
        vm=VmIdentity(),
        handlers=schema_glue.handlers(),
        validate=schema_glue.validate_arguments,
    )
    return Vm(machine, dispatcher, clock)


@dataclass(frozen=True)
class Exchange:
    """One recorded request and what real QEMU sent back for it."""

    request: JSONObject
    reply: JSONObject
    events: list[JSONObject]


@dataclass(frozen=True)
class Recording:
    """A recorded file: its header and its exchanges (``@ wait S`` becomes an exchange
    whose request is ``{"wait": S}``)."""

    args: str
    exchanges: list[Exchange]


def load(name: str) -> Recording:
    """Read tests/machine/recorded/<name>."""
    args = ""
    exchanges: list[Exchange] = []
    request: JSONObject | None = None
    reply: JSONObject = {}
    events: list[JSONObject] = []

    def flush() -> None:
        nonlocal request, reply, events
        if request is not None:
            exchanges.append(Exchange(request, reply, events))
        request, reply, events = None, {}, []

    for line in (RECORDED / name).read_text().splitlines():
        if line.startswith("# args: "):
            args = line[len("# args: "):]
        elif line.startswith("-> "):
            flush()
            request = json.loads(line[3:])
        elif line.startswith(("@ wait ", "## wait ")):
            flush()
            request = {"wait": float(line.split()[-1])}
        elif line.startswith("<- "):
            message = json.loads(line[3:])
            if "event" in message:
                message.pop("timestamp", None)
                events.append(message)
            else:
                reply = message
    flush()
    return Recording(args, exchanges)


def replay(recording: Recording, target: Vm) -> list[tuple[JSONObject, JSONObject, JSONObject]]:
    """Run every recorded request; return the (request, expected, got) pairs that differ.

    Replies are compared as JSON values; events by name and data, in order."""
    mismatches: list[tuple[JSONObject, JSONObject, JSONObject]] = []
    for exchange in recording.exchanges:
        request = exchange.request
        if "wait" in request:
            seconds = request["wait"]
            assert isinstance(seconds, float)
            target.advance(int(seconds * 1000))
            got: JSONObject = {}
        else:
            command = request["execute"]
            arguments = request.get("arguments", {})
            assert isinstance(command, str) and isinstance(arguments, dict)
            got = target.qmp(command, arguments)
            target.advance(0)
        events = target.take_events()
        if got != exchange.reply or events != exchange.events:
            mismatches.append(
                (request, {**exchange.reply, "events": list(exchange.events)},
                 {**got, "events": list(events)})
            )
    return mismatches
