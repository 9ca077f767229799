"""The recorder's bookkeeping (sans-I/O: events and times in, transcript lines out)."""

from __future__ import annotations

from hvballoond.transcripts.format import parse
from hvballoond.transcripts.record import Recorder, _recorded_from_greeting
from hvballoond.wire.values import JSONObject

GREETING = (
    '{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""}, '
    '"capabilities": ["oob"]}}'
)
OK = '{"return": {}}'


def test_one_client_session() -> None:
    r = Recorder()
    r.connected("c1", 0.0)
    r.server_line("c1", GREETING, 0.01)
    r.client_data("c1", b'{"execute": "qmp_capabilities"}\n', 0.5)
    r.server_line("c1", OK, 0.51)
    r.client_data("c1", b'{"execute":"cont"}', 0.6)
    r.server_line("c1", '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}', 0.61)
    r.server_line("c1", OK, 0.62)
    r.client_closed("c1", 0.7)
    assert r.lines == [
        f"<- {GREETING}",
        '-> {"execute": "qmp_capabilities"}',
        f"<- {OK}",
        '-x {"execute":"cont"}',
        '<- {"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}',
        f"<- {OK}",
        "@ close c1",
    ]
    text = r.transcript([("args", "-m 1G")])
    assert text.startswith("# hvballoond transcript v1\n# args: -m 1G\n\n<- ")
    t = parse(text)
    assert t.args == ["-m", "1G"] and len(t.steps) == 4
    assert r.greeting is not None and "QMP" in r.greeting


def test_pieces_of_client_input_are_grouped() -> None:
    r = Recorder(flush_delay=0.05)
    r.connected("c1", 0.0)
    r.client_data("c1", b'{"execute":', 1.0)
    r.client_data("c1", b' "x"}', 1.01)
    r.tick(1.02)
    assert r.lines == []
    r.tick(1.06)
    assert r.lines == ['-x {"execute": "x"}']
    # A piece ending in a newline completes the line at once.
    r.client_data("c1", b'{"execute":', 2.0)
    r.client_data("c1", b' "y"}\n', 2.01)
    assert r.lines[-1] == '-> {"execute": "y"}'
    # A server message flushes what the client sent before it.
    r.client_data("c1", b"{", 3.0)
    r.server_line("c1", OK, 3.001)
    assert r.lines[-2:] == ["-x {", f"<- {OK}"]


def test_chunks_that_are_not_one_clean_line_stay_exact() -> None:
    r = Recorder()
    r.connected("c1", 0.0)
    r.client_data("c1", b'{"execute": "a"}\n{"execute": "b"}\n', 0.1)
    r.client_data("c1", b"\x01\xff\r\n", 0.2)
    assert r.lines == [r'-x {"execute": "a"}\n{"execute": "b"}\n', r"-x \x01\xff\r\n"]


def test_connections_are_named_and_switched() -> None:
    r = Recorder()
    r.connected("c1", 0.0)
    r.server_line("c1", GREETING, 0.0)
    r.connected("c2", 0.1)
    r.client_data("c2", b'{"execute": "query-status"}\n', 0.2)
    r.client_data("c1", b'{"execute": "query-name"}\n', 0.3)
    r.server_line("c1", OK, 0.31)
    r.client_closed("c1", 0.4)
    r.server_line("c2", GREETING, 0.41)
    r.client_data("c2", b'{"execute": "quit"}\n', 0.5)
    r.server_line("c2", OK, 0.51)
    r.server_closed("c2", 0.52)
    r.exited(0, [])
    assert r.lines == [
        f"<- {GREETING}",
        "@ connect c2",
        '-> {"execute": "query-status"}',
        "@ conn c1",
        '-> {"execute": "query-name"}',
        f"<- {OK}",
        "@ close c1",
        "@ conn c2",
        f"<- {GREETING}",
        '-> {"execute": "quit"}',
        f"<- {OK}",
        "@ eof",
        "@ exit 0",
    ]
    parse(r.transcript([]))


def test_pauses_before_unrequested_messages_become_waits() -> None:
    event = '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "BALLOON_CHANGE"}'
    r = Recorder(wait_threshold=1.0)
    r.connected("c1", 0.0)
    r.client_data("c1", b'{"execute": "balloon"}\n', 10.0)
    r.server_line("c1", OK, 10.1)
    r.server_line("c1", event, 10.5)  # soon after: part of the step
    r.server_line("c1", event, 12.79)  # 2.29 s later: a wait
    assert r.lines[2:] == [f"<- {event}", "@ wait 2.2", f"<- {event}"]
    # A slow reply is not a pause: the request is still outstanding.
    r.client_data("c1", b'{"execute": "device_add"}\n', 20.0)
    r.server_line("c1", event, 23.0)
    r.server_line("c1", OK, 23.1)
    assert r.lines[-3:] == ['-> {"execute": "device_add"}', f"<- {event}", f"<- {OK}"]


def test_scratch_folder_is_written_as_tmpdir() -> None:
    r = Recorder(tmpdir="/tmp/hvb-record-x")
    r.connected("c1", 0.0)
    r.client_data("c1", b'{"mem-path": "/tmp/hvb-record-x/f"}\n', 0.1)
    r.server_line("c1", '{"return": "/tmp/hvb-record-x/f"}', 0.2)
    assert r.lines == ['-> {"mem-path": "{tmpdir}/f"}', '<- {"return": "{tmpdir}/f"}']


def test_exit_with_stderr() -> None:
    r = Recorder()
    r.exited(1, ["-m 0: bad size", "second"])
    text = r.transcript([("args", "-m 0")])
    t = parse(text)
    assert t.startup_fails
    assert [s.text for s in t.steps[1].stderr] == ["-m 0: bad size", "second"]


def test_recorded_from_greeting() -> None:
    value: JSONObject = {
        "QMP": {
            "version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "Debian 1:10"},
            "capabilities": ["oob"],
        }
    }
    assert _recorded_from_greeting(value) == "QEMU emulator version 10.0.2 (Debian 1:10)"
    version: JSONObject = {"qemu": {}, "package": "hvballoond 0.1.0"}
    hvb: JSONObject = {"QMP": {"version": version, "capabilities": []}}
    assert _recorded_from_greeting(hvb) == "hvballoond"
    assert _recorded_from_greeting(None) is None
