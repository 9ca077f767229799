"""The replay engine against an in-process scripted QMP server (no QEMU needed).

The fake server answers at once, so these tests only spend the (tiny) quiet
periods; ``@ wait`` goes through the virtual-clock extension command.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hvballoond.transcripts.format import parse
from hvballoond.transcripts.replay import (
    CLOCK_COMMAND,
    CLOCK_ID,
    Outcome,
    ReplayOptions,
    ReplayResult,
    replay_transcript,
)
from hvballoond.transcripts.runner import (
    EmulatorTarget,
    Flavor,
    SocketTarget,
    build_argv,
    parse_emulator,
    server_argv,
    strip_fixed_options,
    strip_program_prefix,
)
from hvballoond.wire.values import JSONObject, JSONValue

FAST = ReplayOptions(timeout=0.5, quiet_period=0.05)
GREETING = (
    '{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "fake"}, '
    '"capabilities": ["oob"]}}'
)
KNOWN = ("qmp_capabilities", "emit", "later", "bye", "silent", "lf", "broadcast", CLOCK_COMMAND)


def dumps(value: JSONValue) -> bytes:
    return json.dumps(value).encode() + b"\r\n"


class FakeQmp:
    """A tiny QMP server: greets every client and understands a few commands.

    - ``echo``: returns its arguments;
    - ``emit``: sends event ``EMITTED`` before the reply; ``later``: after it;
    - ``bye``: replies, then closes the connection;
    - ``silent``: no reply;
    - ``lf``: reply framed with a bare ``\\n``;
    - ``broadcast``: event ``BCAST`` to every client, then the reply;
    - the virtual-clock command: event ``TICK`` then the reply.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.requests: list[JSONObject] = []
        self.clients: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self.handle, path=str(self.path))

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @staticmethod
    def event(name: str, data: JSONValue = None) -> JSONObject:
        out: JSONObject = {"timestamp": {"seconds": 1700000000, "microseconds": 5}, "event": name}
        if data is not None:
            out["data"] = data
        return out

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(GREETING.encode() + b"\r\n")
        self.clients.add(writer)
        decoder = json.JSONDecoder()
        buf = ""
        try:
            while chunk := await reader.read(4096):
                buf += chunk.decode()
                while True:
                    stripped = buf.lstrip()
                    if not stripped:
                        buf = ""
                        break
                    try:
                        request, end = decoder.raw_decode(stripped)
                    except ValueError:
                        buf = stripped
                        break
                    buf = stripped[end:]
                    if not await self.answer(request, writer):
                        return
        finally:
            self.clients.discard(writer)
            writer.close()

    async def answer(self, request: JSONObject, writer: asyncio.StreamWriter) -> bool:
        self.requests.append(request)
        name = request.get("execute")
        reply: JSONObject = {"return": {}}
        if name == "echo":
            reply = {"return": request.get("arguments", {})}
        elif name not in KNOWN:
            desc = f"The command {name} has not been found"
            reply = {"error": {"class": "CommandNotFound", "desc": desc}}
        if "id" in request:
            reply["id"] = request["id"]
        if name == "silent":
            return True
        if name in ("emit", CLOCK_COMMAND):
            writer.write(dumps(self.event("EMITTED" if name == "emit" else "TICK")))
        if name == "broadcast":
            for client in self.clients:
                client.write(dumps(self.event("BCAST")))
        if name == "lf":
            writer.write(json.dumps(reply).encode() + b"\n")
        else:
            writer.write(dumps(reply))
        if name == "later":
            writer.write(dumps(self.event("LATER")))
        await writer.drain()
        return name != "bye"


@pytest.fixture
def scratch() -> Iterator[Path]:
    # Short paths: UNIX socket names are limited to 107 bytes.
    path = Path(tempfile.mkdtemp(prefix="hvbt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def fake(scratch: Path) -> AsyncIterator[FakeQmp]:
    server = FakeQmp(scratch / "fake.sock")
    await server.start()
    yield server
    await server.stop()


HEAD = f"# hvballoond transcript v1\n\n<- {GREETING}\n"


async def replay(fake: FakeQmp, body: str, *, virtual_clock: bool = False) -> ReplayResult:
    t = parse(HEAD + body, path=Path("t.qmp"))
    target = SocketTarget(fake.path, virtual_clock=virtual_clock)
    return await replay_transcript(t, target, options=FAST)


async def test_pass(fake: FakeQmp) -> None:
    result = await replay(
        fake,
        '-> {"execute": "qmp_capabilities"}\n<- {"return": {}}\n'
        '-> {"execute": "echo", "arguments": {"b": 1, "a": 2}, "id": 7}\n'
        '<- {"return": {"b": 1, "a": 2}, "id": 7}\n',
    )
    assert result.outcome is Outcome.PASSED, result.report()
    assert fake.requests[1] == {"execute": "echo", "arguments": {"b": 1, "a": 2}, "id": 7}


async def test_changed_value_fails_naming_the_line(fake: FakeQmp) -> None:
    body = (
        '-> {"execute": "qmp_capabilities"}\n<- {"return": {}}\n'
        '-> {"execute": "nope"}\n'
        '<- {"error": {"class": "CommandNotFound", "desc": "The command nope was not found"}}\n'
    )
    result = await replay(fake, body)
    assert result.outcome is Outcome.FAILED
    assert result.mismatch is not None
    assert result.mismatch.lineno == 7
    report = result.report()
    assert report.startswith("t.qmp:7: server message differs\n")
    assert '  step (line 6): -> {"execute": "nope"}' in report
    assert (
        '  error.desc differs: expected "The command nope was not found", '
        'got "The command nope has not been found"'
    ) in report


async def test_member_order_mismatch(fake: FakeQmp) -> None:
    body = (
        '-> {"execute": "echo", "arguments": {"b": 1, "a": 2}}\n<- {"return": {"a": 2, "b": 1}}\n'
    )
    result = await replay(fake, body)
    assert result.mismatch is not None
    assert "member order differs in return: expected a, b; got b, a" in result.mismatch.details


async def test_events_before_and_after_the_reply(fake: FakeQmp) -> None:
    body = (
        '-> {"execute": "emit"}\n'
        '<- {"timestamp": {"seconds": 1, "microseconds": 0}, "event": "EMITTED"}\n'
        '<- {"return": {}}\n'
        '-> {"execute": "later"}\n'
        '<- {"return": {}}\n'
        '<- {"timestamp": {"seconds": 1, "microseconds": 0}, "event": "LATER"}\n'
    )
    result = await replay(fake, body)
    assert result.outcome is Outcome.PASSED, result.report()


async def test_wrong_event_placement_fails(fake: FakeQmp) -> None:
    body = (
        '-> {"execute": "emit"}\n'
        '<- {"return": {}}\n'
        '<- {"timestamp": {"seconds": 1, "microseconds": 0}, "event": "EMITTED"}\n'
    )
    result = await replay(fake, body)
    assert result.mismatch is not None and result.mismatch.lineno == 5
    assert 'unexpected member event = "EMITTED"' in result.mismatch.details


async def test_unexpected_message(fake: FakeQmp) -> None:
    result = await replay(fake, '-> {"execute": "later"}\n<- {"return": {}}\n')
    assert result.outcome is Outcome.FAILED
    assert result.mismatch is not None
    assert result.mismatch.lineno == 5
    assert result.mismatch.summary == "unexpected message from the server on c1"
    assert result.mismatch.got is not None and '"LATER"' in result.mismatch.got


async def test_missing_message(fake: FakeQmp) -> None:
    result = await replay(fake, '-> {"execute": "silent"}\n<- {"return": {}}\n')
    assert result.mismatch is not None
    assert result.mismatch.summary == "expected message did not arrive"
    assert result.mismatch.lineno == 5


async def test_raw_bytes_are_sent_verbatim(fake: FakeQmp) -> None:
    body = '-x {"execute":\\n "echo", "arguments": {"x": "\\\\n"}}\n<- {"return": {"x": "\\n"}}\n'
    result = await replay(fake, body)
    assert result.outcome is Outcome.PASSED, result.report()
    assert fake.requests == [{"execute": "echo", "arguments": {"x": "\n"}}]


async def test_crlf_framing_is_checked(fake: FakeQmp) -> None:
    result = await replay(fake, '-> {"execute": "lf"}\n<- {"return": {}}\n')
    assert result.mismatch is not None
    assert result.mismatch.details[0] == "line ending differs: expected \\r\\n, got \\n"


async def test_connections(fake: FakeQmp) -> None:
    body = (
        "@ connect c2\n"
        f"<- {GREETING}\n"
        '-> {"execute": "echo", "arguments": {"on": 2}}\n'
        '<- {"return": {"on": 2}}\n'
        "@ conn c1\n"
        '-> {"execute": "echo", "arguments": {"on": 1}}\n'
        '<- {"return": {"on": 1}}\n'
        "@ close c2\n"
        '-> {"execute": "qmp_capabilities"}\n'
        '<- {"return": {}}\n'
    )
    result = await replay(fake, body)
    assert result.outcome is Outcome.PASSED, result.report()


async def test_messages_on_another_connection_wait_for_conn(fake: FakeQmp) -> None:
    event = '{"timestamp": {"seconds": 1, "microseconds": 0}, "event": "BCAST"}'
    body = (
        "@ connect c2\n"
        f"<- {GREETING}\n"
        "@ conn c1\n"
        '-> {"execute": "broadcast"}\n'
        f"<- {event}\n"
        '<- {"return": {}}\n'
        "@ conn c2\n"
        f"<- {event}\n"
    )
    result = await replay(fake, body)
    assert result.outcome is Outcome.PASSED, result.report()
    unread = body.replace(f"@ conn c2\n<- {event}\n", "")
    result = await replay(fake, unread)
    assert result.mismatch is not None
    assert result.mismatch.summary == "messages on c2 that no step of the transcript reads"
    assert result.mismatch.got is not None and "BCAST" in result.mismatch.got


async def test_eof(fake: FakeQmp) -> None:
    body = '-> {"execute": "bye"}\n<- {"return": {}}\n@ eof\n'
    result = await replay(fake, body)
    assert result.outcome is Outcome.PASSED, result.report()
    result = await replay(fake, '-> {"execute": "bye"}\n<- {"return": {}}\n')
    assert result.mismatch is not None
    assert "has no '@ eof'" in result.mismatch.summary
    result = await replay(fake, '-> {"execute": "qmp_capabilities"}\n<- {"return": {}}\n@ eof\n')
    assert result.mismatch is not None
    assert result.mismatch.summary == "the server did not close the connection"
    assert result.mismatch.lineno == 6


async def test_virtual_clock_wait(fake: FakeQmp) -> None:
    body = (
        '-> {"execute": "qmp_capabilities"}\n<- {"return": {}}\n'
        "@ wait 50\n"
        '<- {"timestamp": {"seconds": 1700000050, "microseconds": 0}, "event": "TICK"}\n'
        "@ wait 0.5\n"
        '<- {"timestamp": {"seconds": 1700000050, "microseconds": 0}, "event": "TICK"}\n'
    )
    result = await replay(fake, body, virtual_clock=True)
    assert result.outcome is Outcome.PASSED, result.report()
    clock = [r for r in fake.requests if r.get("execute") == CLOCK_COMMAND]
    assert clock == [
        {"execute": CLOCK_COMMAND, "arguments": {"seconds": 50}, "id": CLOCK_ID},
        {"execute": CLOCK_COMMAND, "arguments": {"seconds": 0.5}, "id": CLOCK_ID},
    ]


async def test_update_rewrites_only_server_lines(fake: FakeQmp) -> None:
    body = (
        "# negotiate\n"
        '-> {"execute": "qmp_capabilities"}\n'
        "\n"
        '-> {"execute": "emit"}\n'
        "# stale expectation, kept as a comment\n"
        '<- {"return": {"stale": true}}\n'
        '-> {"execute": "echo", "arguments": {"a": 1}}{"execute": "echo", "arguments": {"a": 2}}\n'
        '-x {"execute": "later"}\n'
    )
    t = parse(f"# hvballoond transcript v1\n# args: -m 1G\n\n{body}", path=Path("u.qmp"))
    result = await replay_transcript(t, SocketTarget(fake.path), update=True, options=FAST)
    assert result.outcome is Outcome.UPDATED, result.report()
    assert result.new_text == (
        "# hvballoond transcript v1\n# args: -m 1G\n\n"
        f"<- {GREETING}\n\n"
        "# negotiate\n"
        '-> {"execute": "qmp_capabilities"}\n'
        '<- {"return": {}}\n'
        "\n"
        '-> {"execute": "emit"}\n'
        "# stale expectation, kept as a comment\n"
        '<- {"timestamp": {"seconds": 1700000000, "microseconds": 5}, "event": "EMITTED"}\n'
        '<- {"return": {}}\n'
        '-> {"execute": "echo", "arguments": {"a": 1}}{"execute": "echo", "arguments": {"a": 2}}\n'
        '<- {"return": {"a": 1}}\n'
        '<- {"return": {"a": 2}}\n'
        '-x {"execute": "later"}\n'
        '<- {"return": {}}\n'
        '<- {"timestamp": {"seconds": 1700000000, "microseconds": 5}, "event": "LATER"}\n'
    )
    # The updated transcript replays green, and a second update changes nothing.
    again = parse(result.new_text, path=Path("u.qmp"))
    assert (await replay_transcript(again, SocketTarget(fake.path), options=FAST)).ok
    same = await replay_transcript(again, SocketTarget(fake.path), update=True, options=FAST)
    assert same.outcome is Outcome.PASSED and same.new_text is None


async def test_update_keeps_equal_lines_verbatim(fake: FakeQmp) -> None:
    # Different timestamps and greeting version: same under the rules, so kept.
    old_greeting = GREETING.replace('"fake"', '"something else"')
    text = (
        f"<- {old_greeting}\n"
        '-> {"execute": "emit"}\n'
        '<- {"timestamp": {"seconds": 1, "microseconds": 2}, "event": "EMITTED"}\n'
        '<- {"return": {}}\n'
    )
    t = parse(text)
    result = await replay_transcript(t, SocketTarget(fake.path), update=True, options=FAST)
    assert result.outcome is Outcome.PASSED and result.new_text is None


async def test_socket_target_skips_exit_transcripts(fake: FakeQmp) -> None:
    t = parse("# args: -m 0\n@ exit 1\n@ stderr bad\n")
    result = await replay_transcript(t, SocketTarget(fake.path), options=FAST)
    assert result.outcome is Outcome.SKIPPED and result.ok


# --- subprocess targets without QEMU: a shell script stands in for a refusing server ---------


def refusing(message: str, code: int = 1) -> EmulatorTarget:
    return EmulatorTarget(("sh", "-c", f"echo '{message}' >&2; exit {code}", "sh"))


async def test_refused_command_line_passes() -> None:
    t = parse("# args: -m 0\n@ exit 1\n@ stderr -m 0: invalid size\n")
    target = refusing("hvballoond: -m 0: invalid size")
    result = await replay_transcript(t, target, options=FAST)
    assert result.outcome is Outcome.PASSED, result.report()


async def test_refused_command_line_with_other_text_fails() -> None:
    t = parse("# args: -m 0\n@ exit 1\n@ stderr -m 0: invalid size\n", path=Path("s.qmp"))
    result = await replay_transcript(t, refusing("qemu-system-x86_64: other"), options=FAST)
    assert result.mismatch is not None
    assert result.mismatch.lineno == 3
    assert result.mismatch.expected == "-m 0: invalid size" and result.mismatch.got == "other"
    result = await replay_transcript(t, refusing("-m 0: invalid size", code=0), options=FAST)
    assert result.mismatch is not None and result.mismatch.summary == "exit status differs"


async def test_server_exiting_instead_of_greeting_fails() -> None:
    t = parse(f"<- {GREETING}\n", path=Path("g.qmp"))
    result = await replay_transcript(t, refusing("hvballoond: boom"), options=FAST)
    assert result.mismatch is not None
    assert result.mismatch.summary == "the server exited with code 1 before serving"
    assert result.mismatch.lineno == 1
    assert result.mismatch.details[-2:] == ("server stderr:", "  boom")


async def test_update_fills_in_stderr() -> None:
    t = parse("# args: -m 0\n@ exit 1\n")
    result = await replay_transcript(t, refusing("hvballoond: nope", 3), update=True, options=FAST)
    assert result.outcome is Outcome.UPDATED
    assert result.new_text == "# args: -m 0\n@ exit 3\n@ stderr nope\n"


async def test_missing_program_is_an_error() -> None:
    t = parse(f"<- {GREETING}\n")
    target = EmulatorTarget(("/nonexistent/hvb-emulator",))
    result = await replay_transcript(t, target, options=FAST)
    assert result.outcome is Outcome.ERROR and not result.ok
    assert result.reason is not None and "cannot start" in result.reason


# --- command lines ---------------------------------------------------------------------------


def test_server_argv_for_qemu(tmp_path: Path) -> None:
    t = parse("# args: -machine q35 -object 'memory-backend-file,id=f,mem-path={tmpdir}/f'\n")
    argv = server_argv(
        parse_emulator("qemu-system-x86_64"), t, tmpdir=Path("/t"), socket=Path("/t/s")
    )
    assert argv == [
        "qemu-system-x86_64",
        "-machine",
        "q35",
        "-object",
        "memory-backend-file,id=f,mem-path=/t/f",
        "-display",
        "none",
        "-nodefaults",
        "-S",
        "-accel",
        "tcg",
        "-qmp",
        "unix:/t/s,server=on,wait=off",
    ]
    kvm = build_argv(
        ["qemu-system-x86_64"],
        ["-accel", "kvm"],
        flavor=Flavor.QEMU,
        socket=Path("/s"),
        tmpdir=Path("/t"),
    )
    assert "tcg" not in kvm


def test_server_argv_for_hvballoond() -> None:
    t = parse("# args: -m 1G\n# clock: virtual\n")
    target = parse_emulator(".venv/bin/python -m hvballoond")
    assert target.flavor is Flavor.HVBALLOOND
    argv = server_argv(target, t, tmpdir=Path("/t"), socket=Path("/t/s"))
    assert argv == [
        ".venv/bin/python",
        "-m",
        "hvballoond",
        "-m",
        "1G",
        "-display",
        "none",
        "-nodefaults",
        "-S",
        "--virtual-clock",
        "-qmp",
        "unix:/t/s,server=on,wait=off",
    ]
    plain = server_argv(target, parse("# args: -m 1G\n"), tmpdir=Path("/t"), socket=Path("/t/s"))
    assert "--virtual-clock" not in plain


def test_strip_fixed_options() -> None:
    args = ["-machine", "q35", "-display", "none", "-nodefaults", "-S", "-accel", "tcg", "-m", "1G"]
    assert strip_fixed_options(args, flavor=Flavor.QEMU) == ["-machine", "q35", "-m", "1G"]


def test_strip_program_prefix() -> None:
    assert strip_program_prefix("qemu-system-x86_64: -m 0: bad") == "-m 0: bad"
    assert strip_program_prefix("hvballoond: -m 0: bad") == "-m 0: bad"
    assert strip_program_prefix("qemu-kvm: x", "qemu-kvm") == "x"
    assert strip_program_prefix("warning: x") == "warning: x"
