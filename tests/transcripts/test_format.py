"""Transcript parsing, serialization and rewriting (hvballoond.transcripts.format)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvballoond.transcripts.format import (
    Directive,
    Send,
    Start,
    TranscriptError,
    count_json_values,
    escape_raw,
    format_send,
    load,
    loads_json,
    parse,
    rewrite,
    unescape_raw,
)

SAMPLE = """\
# hvballoond transcript v1
# args: -machine q35 -m 1G,maxmem=8G -object 'memory-backend-file,id=n0,mem-path={tmpdir}/n0'
# recorded-from: QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)
# description: Hot-plug one DIMM.
# a plain comment in the header block

<- {"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}}, "capabilities": ["oob"]}}

# negotiate first
-> {"execute": "qmp_capabilities"}
<- {"return": {}}
-x {"execute":"query-kvm"}\\r\\n\\x01
<- {"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\u0001'"}}
<- {"return": {"enabled": false, "present": true}}

@ connect c2
-> {"execute": "query-status"}
@ conn c1
@ close c1
@ conn c2
<- {"QMP": {"version": {}, "capabilities": ["oob"]}}
@ wait 1.5
<- {"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}
-> {"execute": "quit"}
<- {"return": {}}
@ eof
@ exit 0
"""


def test_round_trip_is_byte_exact() -> None:
    t = parse(SAMPLE)
    assert t.text() == SAMPLE
    no_newline = SAMPLE.rstrip("\n")
    assert parse(no_newline).text() == no_newline


def test_round_trip_of_blank_lines_and_crlf_text() -> None:
    text = "# hvballoond transcript v1\n\n\n<- {}\n\n"
    assert parse(text).text() == text


def test_headers() -> None:
    t = parse(SAMPLE)
    assert [h.key for h in t.headers] == ["args", "recorded-from", "description"]
    assert t.args == [
        "-machine",
        "q35",
        "-m",
        "1G,maxmem=8G",
        "-object",
        "memory-backend-file,id=n0,mem-path={tmpdir}/n0",
    ]
    assert t.header("description") == "Hot-plug one DIMM."
    assert t.header("category") is None
    assert not t.virtual_clock
    assert parse("# clock: virtual\n").virtual_clock


def test_header_lines_after_the_first_step_are_comments() -> None:
    t = parse("<- {}\n# args: -m 2G\n")
    assert t.headers == ()


def test_steps_and_connections() -> None:
    t = parse(SAMPLE)
    steps = t.steps
    assert isinstance(steps[0].action, Start)
    assert [e.lineno for e in steps[0].expected] == [7]
    send = steps[1].action
    assert isinstance(send, Send)
    assert send.data == b'{"execute": "qmp_capabilities"}\n'
    assert not send.raw
    assert steps[1].lineno == 10
    raw = steps[2].action
    assert isinstance(raw, Send)
    assert raw.raw
    assert raw.data == b'{"execute":"query-kvm"}\r\n\x01'
    assert len(steps[2].expected) == 2
    kinds = [
        (s.action.kind.value, s.action.name, s.conn)
        for s in steps[3:]
        if isinstance(s.action, Directive)
    ]
    assert kinds == [
        ("connect", "c2", "c2"),
        ("conn", "c1", "c1"),
        ("close", "c1", None),
        ("conn", "c2", "c2"),
        ("wait", None, "c2"),
        ("eof", "c2", None),
        ("exit", None, None),
    ]
    query = steps[4]
    assert isinstance(query.action, Send) and query.conn == "c2" and not query.expected
    wait = next(s for s in steps if isinstance(s.action, Directive) and s.action.seconds)
    assert isinstance(wait.action, Directive) and wait.action.seconds == 1.5
    assert t.uses_exit and not t.startup_fails


def test_startup_failure() -> None:
    t = parse("# args: -m 0\n@ exit 1\n@ stderr -m 0: bad\n@ stderr\n")
    assert t.startup_fails
    exit_step = t.steps[1]
    assert isinstance(exit_step.action, Directive)
    assert exit_step.action.code == 1
    assert [s.text for s in exit_step.stderr] == ["-m 0: bad", ""]


@pytest.mark.parametrize(
    ("text", "lineno", "message"),
    [
        ("<- {}\n-> x\n<- {nope}\n", 3, "not one JSON value"),
        ('<- {}\n<- {"a": 1, "a": 2}\n', 2, "duplicate member"),
        ("hello\n", 1, "unrecognised line"),
        ("->x\n", 1, "unrecognised line"),
        ("-x \\q\n", 1, "unknown escape"),
        ("-x \\x4\n", 1, "two hex digits"),
        ("@ conn c2\n", 1, "no open connection c2"),
        ("@ connect c1\n", 1, "already open"),
        ("@ close c1\n<- {}\n", 2, "without a current connection"),
        ("@ close c1\n-> {}\n", 2, "without a current connection"),
        ("@ wait soon\n", 1, "needs a number"),
        ("@ wait -1\n", 1, "needs a number"),
        ("@ exit one\n", 1, "needs an exit code"),
        ("@ stderr boom\n", 1, "must follow '@ exit'"),
        ("@ exit 1\n-> {}\n", 2, "may follow '@ exit'"),
        ("@ frobnicate\n", 1, "unknown directive"),
        ("@ eof\n<- {}\n", 2, "without a current connection"),
    ],
)
def test_errors_name_the_line(text: str, lineno: int, message: str) -> None:
    with pytest.raises(TranscriptError) as info:
        parse(text, path=Path("x/y.qmp"))
    assert info.value.lineno == lineno
    assert message in str(info.value)
    assert str(info.value).startswith(f"x/y.qmp:{lineno}: ")


def test_load_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "a.qmp"
    path.write_text(SAMPLE, encoding="utf-8")
    t = load(path)
    assert t.path == path and t.name == "a"
    assert t.where(3) == f"{path}:3"


def test_loads_json_keeps_order_and_accepts_qemu_infinity() -> None:
    value = loads_json('{"b": 1, "a": [1.5, inf, -inf], "s": "inf nan"}')
    assert isinstance(value, dict)
    assert list(value) == ["b", "a", "s"]
    items = value["a"]
    assert isinstance(items, list)
    assert items[1] == math.inf and items[2] == -math.inf
    assert value["s"] == "inf nan"


def test_count_json_values() -> None:
    assert count_json_values('{"execute": "a"}') == 1
    assert count_json_values('{"a": 1}{"b": 2} [1]\n42 ') == 4
    assert count_json_values("") == 0
    assert count_json_values("{'single': 'quotes'}") is None
    assert count_json_values('{"execute": @}') is None


def test_escapes() -> None:
    assert unescape_raw(r"a\\b\n\r\t\x00\xFFé") == b"a\\b\n\r\t\x00\xff\xc3\xa9"
    assert escape_raw(b"a\\b\n\r\t\x00\xff ") == r"a\\b\n\r\t\x00\xff\x20"
    assert escape_raw(b"a b") == "a b"


@settings(max_examples=200, derandomize=True)
@given(st.binary(max_size=64))
def test_escape_round_trip(data: bytes) -> None:
    text = escape_raw(data)
    assert "\n" not in text and "\r" not in text
    assert unescape_raw(text) == data
    line = format_send(data) if data else "-x "
    if data:
        t = parse(line + "\n")
        send = t.steps[1].action
        assert isinstance(send, Send)
        assert send.data == data


def test_format_send_prefers_clean_lines() -> None:
    assert format_send(b'{"execute": "x"}\n') == '-> {"execute": "x"}'
    assert format_send(b"\n") == "->"
    assert format_send(b'{"execute": "x"}') == '-x {"execute": "x"}'
    assert format_send(b"a\nb\n") == r"-x a\nb\n"
    assert format_send(b"a\r\n") == r"-x a\r\n"
    assert format_send(b"a \n") == r"-x a \n"
    assert format_send(b"a ") == r"-x a\x20"
    assert format_send(b"\xc3\n") == r"-x \xc3\n"
    assert format_send("é\n".encode()) == "-> é"


# --- rewrite -------------------------------------------------------------------------------

BASE = """\
# hvballoond transcript v1
# args: -m 1G

# greet
-> {"execute": "qmp_capabilities"}
# the reply
<- {"return": {"old": 1}}
# between
<- {"return": {"old": 2}}

-> {"execute": "query-status"}

@ exit 0
"""


def test_rewrite_changes_only_expectations() -> None:
    t = parse(BASE)
    greeting = '{"QMP": {"version": {}, "capabilities": ["oob"]}}'
    new = rewrite(
        t,
        expected={
            0: [greeting],
            1: ['{"return": {}}'],
            2: ['{"return": {"status": "prelaunch", "running": false}}'],
        },
        exits={3: (1, ["boom"])},
        headers={"recorded-from": "QEMU emulator version 10.0.2", "args": "-m 2G"},
    )
    assert (
        new
        == f"""\
# hvballoond transcript v1
# args: -m 2G
# recorded-from: QEMU emulator version 10.0.2

<- {greeting}

# greet
-> {{"execute": "qmp_capabilities"}}
# the reply
<- {{"return": {{}}}}
# between

-> {{"execute": "query-status"}}
<- {{"return": {{"status": "prelaunch", "running": false}}}}

@ exit 1
@ stderr boom
"""
    )
    reparsed = parse(new)
    assert [len(s.expected) for s in reparsed.steps] == [1, 1, 1, 0]


def test_rewrite_without_changes_is_identity() -> None:
    t = parse(SAMPLE)
    assert rewrite(t) == SAMPLE


def test_rewrite_keeps_a_blank_line_after_an_inserted_greeting() -> None:
    text = "# hvballoond transcript v1\n# args: -m 1G\n\n-> {}\n"
    new = rewrite(parse(text), expected={0: ["{}"]})
    assert new == "# hvballoond transcript v1\n# args: -m 1G\n\n<- {}\n\n-> {}\n"
    text = "# args: -m 1G\n-> {}\n"
    assert rewrite(parse(text), expected={0: ["{}"]}) == "# args: -m 1G\n<- {}\n-> {}\n"


def test_rewrite_can_empty_a_step() -> None:
    t = parse(BASE)
    new = rewrite(t, expected={1: []})
    assert "old" not in new
    assert "# the reply\n# between\n" in new
