"""Probe conversations -> store entries and transcripts."""

from __future__ import annotations

import pytest

from hvballoond.probe.build import (
    build_store,
    conversation_accel,
    entries_from_conversation,
    from_transcript,
    to_transcript,
)
from hvballoond.probe.libvirt_log import Conversation, Direction, LogMessage, ProbeLaunch
from hvballoond.probe.store import Accel, StoreError
from hvballoond.transcripts.format import parse

GREETING = '{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}}}}'


def _conv(machine: str, *pairs: tuple[str, str], events: tuple[tuple[float, str], ...] = ()
          ) -> Conversation:
    conv = Conversation("0x1", 100.0, probe=ProbeLaunch("/usr/bin/qemu", machine),
                        greeting=GREETING)
    t = 100.0
    for sent, reply in pairs:
        t += 0.01
        conv.messages.append(LogMessage(t, Direction.SEND, sent))
        conv.messages.append(LogMessage(t, Direction.RECEIVE, reply))
    for when, text in events:
        conv.messages.append(LogMessage(when, Direction.RECEIVE, text))
    conv.closed = t + 10
    return conv


KVM_ON = ('{"execute":"query-kvm","id":"libvirt-1"}',
          '{"return": {"enabled": true, "present": true}, "id": "libvirt-1"}')
KVM_OFF = ('{"execute":"query-kvm","id":"libvirt-1"}',
           '{"return": {"enabled": false, "present": true}, "id": "libvirt-1"}')
TARGET = ('{"execute":"query-target","id":"libvirt-2"}',
          '{"return": {"arch": "x86_64"}, "id": "libvirt-2"}')
SEV = ('{"execute":"query-sev-capabilities","id":"libvirt-3"}',
       '{"id": "libvirt-3", "error": {"class": "GenericError", "desc": "KVM not enabled"}}')
PROPS = ('{"execute":"device-list-properties","arguments":{"typename":"x"},"id":"libvirt-4"}',
         '{"return": [], "id": "libvirt-4"}')


def test_accel_follows_query_kvm_then_the_machine_option() -> None:
    assert conversation_accel(_conv("none,accel=kvm:tcg", KVM_ON)) is Accel.KVM
    assert conversation_accel(_conv("none,accel=kvm:tcg", KVM_OFF)) is Accel.TCG
    assert conversation_accel(_conv("none,accel=tcg")) is Accel.TCG
    assert conversation_accel(_conv("none,accel=kvm:tcg")) is Accel.KVM


def test_entries_pair_replies_by_id_and_leave_live_commands_out() -> None:
    entries = entries_from_conversation(_conv("none,accel=kvm:tcg", KVM_OFF, TARGET, SEV, PROPS))
    assert [(e.command, e.arguments, e.accel, e.result, e.error) for e in entries] == [
        ("query-target", "{}", Accel.TCG, {"arch": "x86_64"}, None),
        ("query-sev-capabilities", "{}", Accel.TCG, None, ("GenericError", "KVM not enabled")),
        ("device-list-properties", '{"typename":"x"}', Accel.TCG, [], None),
    ]


def test_a_command_without_reply_is_an_error() -> None:
    conv = _conv("none,accel=tcg")
    conv.messages.append(LogMessage(1.0, Direction.SEND, '{"execute":"x","id":"libvirt-9"}'))
    with pytest.raises(StoreError, match="no reply to x"):
        entries_from_conversation(conv)


def test_build_store_merges_the_accelerators() -> None:
    kvm = _conv("none,accel=kvm:tcg", KVM_ON, TARGET, (SEV[0], SEV[1].replace(
        "KVM not enabled", "SEV is not enabled in KVM")))
    tcg = _conv("none,accel=kvm:tcg", KVM_OFF, TARGET, SEV)
    store = build_store([kvm, tcg], {"qemu": "test"})
    assert [(e.command, e.accel) for e in store.entries] == [
        ("query-target", None), ("query-sev-capabilities", Accel.KVM),
        ("query-sev-capabilities", Accel.TCG)]


def test_transcripts_parse_and_read_back() -> None:
    event = '{"timestamp": {"seconds": 1, "microseconds": 0}, "event": "RESUME"}'
    conv = _conv("none,accel=tcg", TARGET, events=((103.0, event),))
    text = to_transcript(conv, args=["-machine", "none,accel=tcg"],
                         headers=[("description", "d")], markers=[(100.0, "virsh start")])
    lines = text.splitlines()
    assert lines[:3] == ["# hvballoond transcript v1", "# args: -machine none,accel=tcg",
                         "# description: d"]
    assert "# virsh start" in lines
    assert lines[-3:] == ["@ wait 2.9", f"<- {event}", "@ close c1"]
    transcript = parse(text)
    assert len(transcript.steps) == 4  # start, ->, @ wait, @ close
    back = from_transcript(text)
    assert back.probe is not None and back.probe.machine == "none,accel=tcg"
    assert back.greeting == GREETING
    assert [m.text for m in back.messages] == [m.text for m in conv.messages]


def test_from_transcript_refuses_foreign_lines() -> None:
    with pytest.raises(StoreError, match="line 2"):
        from_transcript("# x\n-x \\x00\n")
