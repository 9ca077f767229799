"""Reading QMP conversations out of libvirtd's debug log."""

from __future__ import annotations

from hvballoond.probe.libvirt_log import Direction, ProbeLaunch, conversations, records

T = "2026-11-26 11:45:55.{ms:03d}+0000: 729: "
GREETING = '{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""}, "capabilities": ["oob"]}}'  # noqa: E501


def _line(ms: int, level: str, func: str, message: str) -> str:
    return T.format(ms=ms) + f"{level} : {func}:1 : {message}\n"


def _write(ms: int, mon: str, buf: str, ret: int | None = None) -> str:
    length = len(buf.encode()) + 2
    done = length if ret is None else ret
    return (_line(ms, "info", "qemuMonitorIOWrite",
                  f"QEMU_MONITOR_IO_WRITE: mon={mon} buf={buf}\r")
            + f" len={length} ret={done} errno=0\n")


def _probe_log() -> list[str]:
    text = (
        _line(1, "debug", "qemuProcessQMPLaunch",
              "Try to probe capabilities of '/usr/bin/qemu-system-x86_64' via QMP, machine "
              "none,accel=kvm:tcg")
        + _line(2, "info", "qemuMonitorOpenInternal", "QEMU_MONITOR_NEW: mon=0x10 fd=19")
        + _line(3, "info", "qemuMonitorSend",
                'QEMU_MONITOR_SEND_MSG: mon=0x10 msg={"execute":"qmp_capabilities","id":"libvirt-1"}\r')  # noqa: E501
        + " fd=-1\n"
        + _line(4, "debug", "qemuMonitorJSONIOProcessLine", f"Line [{GREETING}]")
        + _write(5, "0x10", '{"execute":"qmp_capabilities","id":"libvirt-1"}')
        + _line(6, "info", "qemuMonitorJSONIOProcessLine",
                'QEMU_MONITOR_RECV_REPLY: mon=0x10 reply={"return": {}, "id": "libvirt-1"}')
        + _line(7, "info", "qemuMonitorClose", "QEMU_MONITOR_CLOSE: mon=0x10")
        # the pointer is reused by the next monitor (a domain: no probe line before it)
        + _line(8, "info", "qemuMonitorOpenInternal", "QEMU_MONITOR_NEW: mon=0x10 fd=20")
        + _line(9, "debug", "qemuMonitorJSONIOProcessLine", f"Line [{GREETING}]")
        # a short write: 10 bytes, then the rest
        + _write(10, "0x10", '{"execute":"cont","id":"libvirt-2"}', ret=10)
        + _write(11, "0x10", ':"cont","id":"libvirt-2"}')
        + _line(12, "info", "qemuMonitorJSONIOProcessEvent",
                'QEMU_MONITOR_RECV_EVENT: mon=0x10 event={"timestamp": {"seconds": 1, '
                '"microseconds": 2}, "event": "RESUME"}')
        + _line(13, "info", "qemuMonitorJSONIOProcessLine",
                'QEMU_MONITOR_RECV_REPLY: mon=0x10 reply={"return": {}, "id": "libvirt-2"}')
        # traffic of a monitor this log never saw open is ignored
        + _line(14, "info", "qemuMonitorJSONIOProcessLine",
                'QEMU_MONITOR_RECV_REPLY: mon=0x99 reply={"return": {}}')
    )
    return text.splitlines(keepends=True)


def test_records_join_continuation_lines() -> None:
    recs = list(records(_probe_log()))
    assert recs[2].function == "qemuMonitorSend"
    assert recs[2].message.endswith("\r\n fd=-1")
    assert recs[0].time == 1795693555.001
    assert recs[0].tid == 729


def test_conversations() -> None:
    probe, domain = conversations(_probe_log())
    assert probe.probe == ProbeLaunch("/usr/bin/qemu-system-x86_64", "none,accel=kvm:tcg")
    assert probe.greeting == GREETING
    assert [(m.direction, m.text) for m in probe.messages] == [
        (Direction.SEND, '{"execute":"qmp_capabilities","id":"libvirt-1"}'),
        (Direction.RECEIVE, '{"return": {}, "id": "libvirt-1"}'),
    ]
    assert probe.closed is not None
    assert domain.probe is None
    assert domain.greeting == GREETING
    assert domain.closed is None
    assert domain.commands == ['{"execute":"cont","id":"libvirt-2"}']
    assert [m.direction for m in domain.messages] == [
        Direction.SEND, Direction.RECEIVE, Direction.RECEIVE]
    assert domain.messages[1].text.endswith('"event": "RESUME"}')


def test_an_empty_log_has_no_conversations() -> None:
    assert conversations(["garbage\n", "\n"]) == []


def test_a_banner_line_ends_the_record_before_it() -> None:
    log = [
        T.format(ms=1) + "info : qemuMonitorJSONIOProcessLine:1 : QEMU_MONITOR_RECV_REPLY: "
        'mon=0x10 reply={"return": {}, "id": "libvirt-9"}\n',
        T.format(ms=2) + "info : libvirt version: 11.3.0, package: 11.3.0-2~bpo12+1 (Debian)\n",
        T.format(ms=3) + "info : hostname: vm\n",
    ]
    recs = list(records(log))
    assert [r.function for r in recs] == ["qemuMonitorJSONIOProcessLine", "", ""]
    assert recs[0].message.endswith('"id": "libvirt-9"}')
    assert recs[1].message == "libvirt version: 11.3.0, package: 11.3.0-2~bpo12+1 (Debian)"
