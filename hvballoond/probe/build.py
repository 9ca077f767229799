"""Build the probe store from recorded libvirt conversations (used by the recording tool).

Input: the capability-probe conversations of a libvirtd debug log (:mod:`.libvirt_log`).
Each command libvirt sent is paired with its reply by ``id``; the answer is filed under the
accelerator the probed QEMU ran with (``query-kvm``'s ``enabled`` in the same conversation, or
the ``accel=`` of a probe that did not ask). Commands whose answer is a fact of the running
process rather than of the binary are left out: :data:`LIVE_COMMANDS`.

The module also writes conversations as transcripts (docs/transcript-format.md), so that a
recording can be read, diffed and replayed.
"""

from __future__ import annotations

import itertools
import json
import math
import shlex
from collections.abc import Iterable, Mapping, Sequence

from hvballoond.probe.libvirt_log import Conversation, Direction, LogMessage, ProbeLaunch
from hvballoond.probe.store import (
    Accel,
    ProbeEntry,
    ProbeStore,
    StoreError,
    canonical_arguments,
    merge_entries,
)
from hvballoond.wire.values import JSONValue

__all__ = [
    "LIVE_COMMANDS",
    "build_store",
    "conversation_accel",
    "entries_from_conversation",
    "from_transcript",
    "to_transcript",
]

# Answered by hvballoond itself, never from the store: the session handshake, the version
# (the package string names hvballoond), and query-kvm (must follow the host's /dev/kvm, or
# libvirt's capability cache is invalidated on every lookup: virQEMUCapsKVMUsable).
LIVE_COMMANDS = frozenset({"qmp_capabilities", "query-version", "query-kvm"})


def _objects(conv: Conversation) -> tuple[list[dict[str, JSONValue]], dict[str, JSONValue]]:
    """The commands libvirt sent, and the replies by id."""
    sent: list[dict[str, JSONValue]] = []
    replies: dict[str, JSONValue] = {}
    for message in conv.messages:
        value = json.loads(message.text)
        if not isinstance(value, dict):
            raise StoreError(f"monitor {conv.mon}: not a JSON object: {message.text[:80]}")
        if message.direction is Direction.SEND:
            sent.append(value)
        elif "id" in value and ("return" in value or "error" in value):
            replies[json.dumps(value["id"])] = value
    return sent, replies


def conversation_accel(conv: Conversation) -> Accel:
    """The accelerator the probed QEMU ran with."""
    sent, replies = _objects(conv)
    for command in sent:
        if command.get("execute") == "query-kvm":
            reply = replies.get(json.dumps(command.get("id")))
            result = reply.get("return") if isinstance(reply, dict) else None
            if isinstance(result, dict):
                return Accel.KVM if result.get("enabled") is True else Accel.TCG
    machine = conv.probe.machine if conv.probe else ""
    for item in machine.split(","):
        if item.startswith("accel="):
            return Accel.KVM if item.removeprefix("accel=").split(":")[0] == "kvm" else Accel.TCG
    return Accel.TCG


def entries_from_conversation(conv: Conversation) -> list[ProbeEntry]:
    """The store entries of one probe conversation, tagged with its accelerator.

    Raises:
        StoreError: A command got no reply.
    """
    accel = conversation_accel(conv)
    sent, replies = _objects(conv)
    entries: list[ProbeEntry] = []
    for command in sent:
        name = command.get("execute")
        if not isinstance(name, str) or name in LIVE_COMMANDS:
            continue
        reply = replies.get(json.dumps(command.get("id")))
        if not isinstance(reply, dict):
            raise StoreError(f"monitor {conv.mon}: no reply to {name}")
        arguments = command.get("arguments")
        key = canonical_arguments(arguments if isinstance(arguments, dict) else None)
        error = reply.get("error")
        if isinstance(error, dict):
            cls_name, desc = error.get("class"), error.get("desc")
            if not isinstance(cls_name, str) or not isinstance(desc, str):
                raise StoreError(f"monitor {conv.mon}: malformed error reply to {name}")
            entries.append(ProbeEntry(name, key, accel, None, (cls_name, desc)))
        else:
            entries.append(ProbeEntry(name, key, accel, reply.get("return")))
    return entries


def build_store(conversations: Iterable[Conversation], meta: Mapping[str, JSONValue]) -> ProbeStore:
    """One store from several probe conversations (KVM and TCG).

    Raises:
        StoreError: Two conversations disagree about the same question under one accelerator.
    """
    entries: list[ProbeEntry] = []
    for conv in conversations:
        entries.extend(entries_from_conversation(conv))
    return ProbeStore(meta, tuple(merge_entries(entries)))


def to_transcript(
    conv: Conversation,
    *,
    args: Sequence[str] = (),
    headers: Sequence[tuple[str, str]] = (),
    markers: Sequence[tuple[float, str]] = (),
    wait_threshold: float = 1.0,
) -> str:
    """A conversation as a transcript (docs/transcript-format.md).

    Args:
        conv: The conversation.
        args: The emulator's command line (without the program), for the ``# args:`` header.
        headers: More ``# key: value`` headers.
        markers: ``(time, text)`` comments to place among the messages by time (what the
            manager was doing: ``virsh setmem ...``).
        wait_threshold: A gap (s) before a message nobody asked for (an event) becomes
            ``@ wait``.

    libvirt ends each command with ``\\r\\n``; the ``->`` lines (which stand for the text plus
    ``\\n``) leave the ``\\r`` out, which QMP ignores.
    """
    lines = ["# hvballoond transcript v1"]
    if args:
        lines.append(f"# args: {shlex.join(args)}")
    lines.extend(f"# {key}: {value}" for key, value in headers)
    lines.append("")
    if conv.greeting is not None:
        lines.append(f"<- {conv.greeting}")
    pending = sorted(markers)
    outstanding = 0
    last = conv.opened
    for message in conv.messages:
        while pending and pending[0][0] <= message.time:
            lines.append(f"# {pending.pop(0)[1]}")
        if message.direction is Direction.SEND:
            lines.append(f"-> {message.text}")
            outstanding += 1
        else:
            value = json.loads(message.text)
            is_reply = isinstance(value, dict) and ("return" in value or "error" in value)
            gap = message.time - last
            if not is_reply and outstanding <= 0 and gap >= wait_threshold:
                lines.append(f"@ wait {math.floor(gap * 10) / 10:.1f}")
            lines.append(f"<- {message.text}")
            if is_reply:
                outstanding -= 1
        last = message.time
    lines.extend(f"# {text}" for _, text in pending)
    if conv.closed is not None:
        lines.append("@ close c1")
    return "\n".join(lines) + "\n"


def from_transcript(text: str, *, binary: str = "qemu-system-x86_64") -> Conversation:
    """Read back a transcript written by :func:`to_transcript` (times are not kept).

    The probe's ``-machine`` value comes from the ``# args:`` header.

    Raises:
        StoreError: A line this module does not write.
    """
    conv = Conversation("transcript", 0.0)
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("# args: "):
            argv = shlex.split(line[len("# args: "):])
            for option, value in itertools.pairwise(argv):
                if option == "-machine":
                    conv.probe = ProbeLaunch(binary, value)
        elif line.startswith("-> "):
            conv.messages.append(LogMessage(0.0, Direction.SEND, line[3:]))
        elif line.startswith("<- "):
            if conv.greeting is None and not conv.messages and line.startswith('<- {"QMP"'):
                conv.greeting = line[3:]
            else:
                conv.messages.append(LogMessage(0.0, Direction.RECEIVE, line[3:]))
        elif line == "@ close c1":
            conv.closed = 0.0
        elif line and not line.startswith(("#", "@ wait ")):
            raise StoreError(f"line {lineno}: not a line of a recorded libvirt conversation")
    return conv
