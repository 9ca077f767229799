"""Read QMP conversations out of libvirtd's debug log.

libvirtd logs every monitor it opens and every message on it when its ``log_filters`` include
``1:qemu.qemu_monitor 1:qemu.qemu_monitor_json`` (and ``1:qemu.qemu_process`` for the
capability probe's command line). The records used here (libvirt 11.3, src/qemu/qemu_monitor.c,
qemu_monitor_json.c, qemu_process.c)::

    TIME: TID: debug : qemuProcessQMPLaunch:N : Try to probe capabilities of 'BIN' via QMP,
     machine M                                                (one line in the log)
    TIME: TID: info : qemuMonitorOpenInternal:N : QEMU_MONITOR_NEW: mon=0x... fd=N
    TIME: TID: debug : qemuMonitorJSONIOProcessLine:N : Line [TEXT]          (every line read)
    TIME: TID: info : qemuMonitorIOWrite:N : QEMU_MONITOR_IO_WRITE: mon=0x... buf=TEXT\\r
     len=N ret=N errno=N                                                      (bytes written)
    TIME: TID: info : qemuMonitorJSONIOProcessLine:N : QEMU_MONITOR_RECV_REPLY: mon=0x...
     reply=TEXT                                               (one line in the log)
    TIME: TID: info : qemuMonitorJSONIOProcessEvent:N : QEMU_MONITOR_RECV_EVENT: mon=0x...
     event=TEXT                                               (one line in the log)
    TIME: TID: info : qemuMonitorClose:N : QEMU_MONITOR_CLOSE: mon=0x...

A record may span several lines (the written buffer ends in ``\\r\\n``); continuation lines do
not start with a timestamp. Every line that does starts a record, including the banner lines
without a function (``TIME: TID: info : libvirt version: ...``) a restarted libvirtd writes.
The greeting is only in a ``Line [...]`` record (no monitor named): it belongs to the most
recently opened monitor that has not been greeted yet.

Monitor pointers are reused after a monitor closes, so a conversation is one NEW..CLOSE span.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "Conversation",
    "Direction",
    "LogMessage",
    "ProbeLaunch",
    "conversations",
    "records",
]

_RECORD_START = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d{4}): (?P<tid>\d+): "
    r"(?:(?P<level>\w+) : (?:(?P<func>[\w.]+):(?P<line>\d+) : )?)?"
)
_PROBE = re.compile(
    r"^Try to probe capabilities of '(?P<binary>[^']*)' via QMP, machine (?P<machine>\S+)"
)
_MON = re.compile(
    r"^(?P<what>QEMU_MONITOR_\w+): mon=(?P<mon>0x[0-9a-f]+|\(nil\))(?: (?P<rest>.*))?$",
    re.DOTALL,
)
_WRITE = re.compile(r"^buf=(?P<buf>.*) len=(?P<len>\d+) ret=(?P<ret>-?\d+) errno=\d+$", re.DOTALL)


class Direction(StrEnum):
    """Who sent a message: libvirt (the client) or the emulator (the server)."""

    SEND = "->"
    RECEIVE = "<-"


@dataclass(frozen=True, slots=True)
class Record:
    """One log record: its time (seconds since the epoch), function and message text."""

    time: float
    tid: int
    function: str
    message: str


@dataclass(frozen=True, slots=True)
class LogMessage:
    """One QMP message: ``text`` is the JSON text without its line terminator."""

    time: float
    direction: Direction
    text: str


@dataclass(frozen=True, slots=True)
class ProbeLaunch:
    """A capability probe process: the emulator binary and its ``-machine`` value."""

    binary: str
    machine: str


@dataclass(slots=True)
class Conversation:
    """Everything exchanged on one monitor, from QEMU_MONITOR_NEW to QEMU_MONITOR_CLOSE.

    Attributes:
        mon: libvirt's monitor pointer (only unique while the monitor is open).
        opened: When libvirt opened the monitor.
        probe: The probe launch that preceded it, for a capability probe.
        greeting: The greeting's JSON text, if it was logged.
        messages: Messages after the greeting, in log order.
        closed: When libvirt closed the monitor (None if the log ends first).
    """

    mon: str
    opened: float
    probe: ProbeLaunch | None = None
    greeting: str | None = None
    messages: list[LogMessage] = field(default_factory=list)
    closed: float | None = None
    _partial: str = ""

    @property
    def commands(self) -> list[str]:
        """The JSON texts libvirt sent, in order."""
        return [m.text for m in self.messages if m.direction is Direction.SEND]


def _seconds(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f%z").timestamp()


def records(lines: Iterable[str]) -> Iterator[Record]:
    """Group log lines into records (continuation lines join the record before them)."""
    head: re.Match[str] | None = None
    body: list[str] = []
    for raw in lines:
        line = raw.removesuffix("\n")
        match = _RECORD_START.match(line)
        if match is None:
            if head is not None:
                body.append(line)
            continue
        if head is not None:
            yield _record(head, body)
        head, body = match, [line[match.end():]]
    if head is not None:
        yield _record(head, body)


def _record(head: re.Match[str], body: Sequence[str]) -> Record:
    return Record(_seconds(head["time"]), int(head["tid"]), head["func"] or "", "\n".join(body))


def conversations(lines: Iterable[str]) -> list[Conversation]:
    """Every monitor conversation in a libvirtd debug log, in the order they were opened."""
    done: list[Conversation] = []
    open_: dict[str, Conversation] = {}
    ungreeted: list[Conversation] = []
    probe: ProbeLaunch | None = None
    for rec in records(lines):
        text = rec.message
        if rec.function == "qemuProcessQMPLaunch" and (m := _PROBE.match(text)):
            probe = ProbeLaunch(m["binary"], m["machine"])
            continue
        if rec.function == "qemuMonitorJSONIOProcessLine" and text.startswith("Line ["):
            line = text[len("Line ["):].removesuffix("]")
            if line.startswith('{"QMP"') and ungreeted:
                ungreeted.pop().greeting = line
            continue
        m = _MON.match(text)
        if m is None:
            continue
        what, mon, rest = m["what"], m["mon"], m["rest"] or ""
        if what == "QEMU_MONITOR_NEW":
            conv = Conversation(mon, rec.time, probe=probe)
            probe = None
            open_[mon] = conv
            done.append(conv)
            ungreeted.append(conv)
            continue
        conv_or_none = open_.get(mon)
        if conv_or_none is None:
            continue
        conv = conv_or_none
        if what == "QEMU_MONITOR_IO_WRITE" and (w := _WRITE.match(rest)):
            _written(conv, rec.time, w["buf"], int(w["ret"]))
        elif what == "QEMU_MONITOR_RECV_REPLY" and rest.startswith("reply="):
            conv.messages.append(LogMessage(rec.time, Direction.RECEIVE, rest[len("reply="):]))
        elif what == "QEMU_MONITOR_RECV_EVENT" and rest.startswith("event="):
            conv.messages.append(LogMessage(rec.time, Direction.RECEIVE, rest[len("event="):]))
        elif what == "QEMU_MONITOR_CLOSE":
            conv.closed = rec.time
            del open_[mon]
            if conv in ungreeted:
                ungreeted.remove(conv)
    return done


def _written(conv: Conversation, time: float, buf: str, ret: int) -> None:
    """Account for one write(2): ``buf`` is what was pending, ``ret`` bytes of it went out.

    A message is complete once its ``\\n`` has been written; a short write leaves the rest
    pending, and the next IO_WRITE record shows that rest again.
    """
    if ret <= 0:
        return
    sent = buf.encode("utf-8")[:ret].decode("utf-8", "replace")
    conv._partial += sent
    while "\n" in conv._partial:
        message, conv._partial = conv._partial.split("\n", 1)
        conv.messages.append(LogMessage(time, Direction.SEND, message.removesuffix("\r")))
