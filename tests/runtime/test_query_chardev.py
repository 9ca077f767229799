"""query-chardev over real sockets: the monitors' chardevs as QEMU 10.0.2 names them.

Expected values were observed on the reference binary: three ``-qmp`` monitors list as
compat_monitor1, compat_monitor2, compat_monitor0, the one asked through as connected; and
libvirt's inherited listening fd shows the socket's own path, connected or not (a listening
chardev is named after the address it is bound to: chardev/char-socket.c).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hvballoond.cli import build_settings
from hvballoond.cli.options import parse_command_line
from hvballoond.runtime.daemon import serve
from hvballoond.wire.values import JSONValue

pytestmark = pytest.mark.socket

MACHINE = ["-machine", "q35", "-m", "1G,slots=4,maxmem=16G", "-S", "--virtual-clock"]


@contextlib.asynccontextmanager
async def daemon(args: list[str]) -> AsyncIterator[None]:
    ready = asyncio.Event()
    settings = build_settings(parse_command_line([*MACHINE, *args]))
    task = asyncio.create_task(serve(settings, on_ready=lambda _a: ready.set(),
                                     handle_signals=False))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def query_chardev(path: Path) -> JSONValue:
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        await reader.readline()
        writer.write(b'{"execute": "qmp_capabilities"}{"execute": "query-chardev"}')
        assert json.loads(await reader.readline()) == {"return": {}}
        reply: JSONValue = json.loads(await asyncio.wait_for(reader.readline(), 5))
        assert isinstance(reply, dict)
        return reply["return"]
    finally:
        writer.close()
        await writer.wait_closed()


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_three_qmp_monitors(tmp_path: Path) -> None:
    a, b, port = tmp_path / "a.sock", tmp_path / "b.sock", free_tcp_port()
    async with daemon(["-qmp", f"unix:{a},server=on,wait=off",
                       "-qmp", f"unix:{b},server=on,wait=off",
                       "-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off"]):
        assert await query_chardev(a) == [
            {"frontend-open": True, "filename": f"disconnected:unix:{b},server=on",
             "label": "compat_monitor1"},
            {"frontend-open": True, "filename": f"disconnected:tcp:127.0.0.1:{port},server=on",
             "label": "compat_monitor2"},
            {"frontend-open": True, "filename": f"unix:{a},server=on",
             "label": "compat_monitor0"},
        ]
        reply = await query_chardev(b)
        assert isinstance(reply, list)
        # the first client is gone: its monitor is disconnected again
        assert [item["filename"] for item in reply if isinstance(item, dict)] == [
            f"unix:{b},server=on", f"disconnected:tcp:127.0.0.1:{port},server=on",
            f"disconnected:unix:{a},server=on"]


async def test_libvirts_inherited_listening_fd(tmp_path: Path) -> None:
    path, other = tmp_path / "monitor.sock", tmp_path / "other.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(1)
    fd = os.dup(listener.fileno())  # the daemon takes ownership of this one
    listener.close()
    async with daemon(["-chardev", f"socket,id=charmonitor,fd={fd},server=on,wait=off",
                       "-mon", "chardev=charmonitor,id=monitor,mode=control",
                       "-qmp", f"unix:{other},server=on,wait=off"]):
        reply = await query_chardev(path)
        assert isinstance(reply, list)
        assert {"frontend-open": True, "filename": f"unix:{path},server=on",
                "label": "charmonitor"} in reply
        reply = await query_chardev(other)
        assert isinstance(reply, list)
        assert {"frontend-open": True, "filename": f"disconnected:unix:{path},server=on",
                "label": "charmonitor"} in reply


async def test_a_connected_tcp_monitor_shows_both_ends(tmp_path: Path) -> None:
    port = free_tcp_port()
    async with daemon(["-qmp", f"tcp:127.0.0.1:{port},server=on,wait=off"]):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await reader.readline()
            writer.write(b'{"execute": "qmp_capabilities"}{"execute": "query-chardev"}')
            await reader.readline()
            reply = json.loads(await asyncio.wait_for(reader.readline(), 5))
            local_port = writer.get_extra_info("sockname")[1]
        finally:
            writer.close()
            await writer.wait_closed()
    # chardev/char-socket.c qemu_chr_compute_filename: local address, then the peer's
    assert reply == {"return": [{
        "frontend-open": True, "label": "compat_monitor0",
        "filename": f"tcp:127.0.0.1:{port},server=on <-> 127.0.0.1:{local_port}"}]}
