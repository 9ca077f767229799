"""Every ``.. qmp-example::`` in schema/ runs against hvballoond.

Each example gets a fresh in-process daemon started as the examples' default test machine
(``-machine q35 -m 1G,slots=4,maxmem=16G -S``, virtual clock) and talks to it over a real
UNIX socket. Server messages must match the example's as parsed JSON (member order and event
timestamps ignored; partial messages only count).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest

from hvballoond.cli import build_settings
from hvballoond.cli.options import parse_command_line
from hvballoond.qapi.examples import Direction, Example, iter_examples
from hvballoond.runtime.daemon import serve
from hvballoond.wire.values import JSONValue

MACHINE = ["-machine", "q35", "-m", "1G,slots=4,maxmem=16G", "-S", "--virtual-clock"]
# Answers that depend on the host hvballoond runs on (query-kvm follows /dev/kvm).
HOST_DEPENDENT = frozenset({"query-kvm"})
EXAMPLES = [e for e in iter_examples() if e.requests]


def _comparable(message: JSONValue) -> JSONValue:
    if isinstance(message, dict):
        return {k: v for k, v in message.items() if k != "timestamp"}
    return message


async def _read(reader: asyncio.StreamReader) -> JSONValue:
    line = await asyncio.wait_for(reader.readline(), timeout=5)
    value: JSONValue = json.loads(line)
    return value


def test_every_command_has_an_example() -> None:
    from hvballoond.qapi.generated.specs import COMMANDS

    shown = {
        m.value.get("execute")
        for e in EXAMPLES for m in e.requests if isinstance(m.value, dict)
    }
    assert sorted(set(COMMANDS) - shown) == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: f"{e.definition}:{e.info.line}")
async def test_example_runs_against_hvballoond(example: Example, tmp_path: Path) -> None:
    sock = tmp_path / "qmp.sock"
    ready = asyncio.Event()
    settings = build_settings(
        parse_command_line([*MACHINE, "-qmp", f"unix:{sock},server=on,wait=off"])
    )
    task = asyncio.create_task(serve(settings, on_ready=lambda _a: ready.set(),
                                     handle_signals=False))
    await asyncio.wait_for(ready.wait(), 10)
    reader, writer = await asyncio.open_unix_connection(str(sock))
    try:
        await _read(reader)  # greeting
        if example.negotiated:
            writer.write(b'{"execute": "qmp_capabilities"}')
            assert await _read(reader) == {"return": {}}
        messages = list(example.messages)
        i = 0
        while i < len(messages):
            request = messages[i]
            assert request.direction is Direction.REQUEST, request.text
            assert request.value is not None, f"example request is partial: {request.text}"
            i += 1
            expected = []
            while i < len(messages) and messages[i].direction is Direction.REPLY:
                expected.append(messages[i])
                i += 1
            writer.write(json.dumps(request.value).encode())
            got = [await _read(reader) for _ in expected]
            command = request.value.get("execute") if isinstance(request.value, dict) else None
            if command in HOST_DEPENDENT:
                continue
            for want, have in zip(expected, got, strict=True):
                if not want.partial:
                    assert _comparable(have) == _comparable(want.value), want.text
    finally:
        writer.close()
        task.cancel()  # the daemon may have ended already (the quit example)
        with contextlib.suppress(asyncio.CancelledError):
            await task
