"""The daemon end to end over real UNIX sockets, driven by qemu.qmp and by raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import stat
from pathlib import Path

import pytest
from qemu.qmp import QMPClient

from tests.runtime.conftest import DaemonFactory, spawn, wait_for_path

pytestmark = pytest.mark.socket

VM = ["-machine", "q35", "-m", "1G,slots=4,maxmem=8G", "-S", "--virtual-clock"]


async def read_message(reader: asyncio.StreamReader) -> dict[str, object]:
    line = await asyncio.wait_for(reader.readline(), timeout=10)
    assert line.endswith(b"\r\n"), line
    message = json.loads(line)
    assert isinstance(message, dict)
    return message


async def test_qemu_qmp_client_negotiates_oob_and_executes(start_daemon: DaemonFactory) -> None:
    daemon = await start_daemon(*VM)
    client = QMPClient("test")
    await client.connect(str(daemon.socket))
    try:
        assert client.greeting is not None
        assert list(client.greeting.QMP.capabilities) == ["oob"]
        assert await client.execute("query-status") == {"status": "prelaunch", "running": False}
        version = await client.execute("query-version")
        assert isinstance(version, dict)
        assert version["qemu"] == {"major": 10, "minor": 0, "micro": 2}
    finally:
        await client.disconnect()


async def test_raw_client_without_oob(start_daemon: DaemonFactory) -> None:
    daemon = await start_daemon(*VM)
    reader, writer = await asyncio.open_unix_connection(str(daemon.socket))
    greeting = await read_message(reader)
    assert "QMP" in greeting
    writer.write(b'{"execute": "query-status"}')
    assert await read_message(reader) == {"error": {
        "class": "CommandNotFound",
        "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}
    writer.write(b'{"execute": "qmp_capabilities", "id": 1}{"execute": "query-name", "id": 2}')
    assert await read_message(reader) == {"return": {}, "id": 1}
    assert await read_message(reader) == {"return": {}, "id": 2}
    writer.close()


async def test_socket_is_private_whatever_the_umask(start_daemon: DaemonFactory) -> None:
    old = os.umask(0)
    try:
        daemon = await start_daemon(*VM)
    finally:
        os.umask(old)
    assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o600


async def test_sigterm_announces_shutdown_and_removes_socket(start_daemon: DaemonFactory) -> None:
    daemon = await start_daemon(*VM)
    events: list[dict[str, object]] = []
    client = QMPClient("test")
    await client.connect(str(daemon.socket))
    with client.listener() as listener:
        daemon.proc.send_signal(signal.SIGTERM)
        event = await asyncio.wait_for(listener.get(), 10)
        events.append(dict(event))
    assert events[0]["event"] == "SHUTDOWN"
    assert events[0]["data"] == {"guest": False, "reason": "host-signal"}
    assert await asyncio.wait_for(daemon.proc.wait(), 10) == 0
    assert not daemon.socket.exists()
    with contextlib.suppress(EOFError):  # the server hung up first, as QEMU does
        await client.disconnect()


async def test_quit_sends_shutdown_then_reply_then_closes(start_daemon: DaemonFactory) -> None:
    daemon = await start_daemon(*VM)
    reader, writer = await asyncio.open_unix_connection(str(daemon.socket))
    await read_message(reader)
    writer.write(b'{"execute": "qmp_capabilities"}{"execute": "quit", "id": "q"}')
    assert await read_message(reader) == {"return": {}}
    event = await read_message(reader)
    assert (event["event"], event["data"]) == (
        "SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})
    assert list(event) == ["timestamp", "event", "data"]
    assert await read_message(reader) == {"return": {}, "id": "q"}
    assert await asyncio.wait_for(reader.read(), 10) == b""
    assert await asyncio.wait_for(daemon.proc.wait(), 10) == 0
    writer.close()
    await writer.wait_closed()


async def test_second_client_waits_until_the_first_leaves(start_daemon: DaemonFactory) -> None:
    daemon = await start_daemon(*VM)
    r1, w1 = await asyncio.open_unix_connection(str(daemon.socket))
    await read_message(r1)
    r2, w2 = await asyncio.open_unix_connection(str(daemon.socket))
    w2.write(b'{"execute": "qmp_capabilities", "id": "b1"}')
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(r2.readline(), timeout=0.3)
    w1.close()
    assert "QMP" in await read_message(r2)
    assert await read_message(r2) == {"return": {}, "id": "b1"}
    w2.close()


async def test_startup_error_is_printed_and_exits_1(tmp_path: Path) -> None:
    proc = await spawn(["-machine", "q35", "-m", "1G,maxmem=512M",
                        "-qmp", f"unix:{tmp_path}/s.sock,server=on,wait=off"])
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 1
    assert err.decode().strip() == (
        "hvballoond: invalid value of maxmem: maximum memory size (0x20000000) must be at "
        "least the initial memory size (0x40000000)")


async def test_unknown_option_exits_1(tmp_path: Path) -> None:
    proc = await spawn(["-bogus"])
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 1
    assert err.decode() == "hvballoond: -bogus: invalid option\n"


async def test_daemonize_exits_once_listening_with_pidfile(tmp_path: Path) -> None:
    sock, pidfile = tmp_path / "d.sock", tmp_path / "d.pid"
    proc = await spawn([*VM, "-qmp", f"unix:{sock},server=on,wait=off",
                        "-pidfile", str(pidfile), "-daemonize"])
    await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0
    assert sock.exists()
    pid = int(pidfile.read_text())
    assert pid != proc.pid
    client = QMPClient("test")
    await client.connect(str(sock))
    assert await client.execute("query-status") == {"status": "prelaunch", "running": False}
    await client.disconnect()
    os.kill(pid, signal.SIGTERM)
    for _ in range(500):
        if not pidfile.exists():
            break
        await asyncio.sleep(0.02)
    assert not pidfile.exists()


async def test_inherited_listening_fd_like_libvirt(tmp_path: Path) -> None:
    path = tmp_path / "libvirt.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()
    fd = listener.fileno()
    proc = await spawn([*VM, "-chardev", f"socket,id=charmonitor,fd={fd},server=on,wait=off",
                        "-mon", "chardev=charmonitor,id=monitor,mode=control"], pass_fds=(fd,))
    listener.close()
    try:
        for _round in range(2):  # libvirtd restarting reconnects to the same socket
            client = QMPClient("libvirt")
            await client.connect(str(path))
            assert await client.execute("query-status") == {"status": "prelaunch",
                                                            "running": False}
            await client.disconnect()
    finally:
        proc.terminate()
        await proc.wait()


async def test_client_mode_monitor_connects_out(tmp_path: Path) -> None:
    path = tmp_path / "wrap.sock"
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await accepted.put((r, w))

    server = await asyncio.start_unix_server(on_client, str(path))
    proc = await spawn([*VM, "-qmp", f"unix:{path}"])
    try:
        reader, writer = await asyncio.wait_for(accepted.get(), 20)
        assert "QMP" in await read_message(reader)
        writer.write(b'{"execute":"qmp_capabilities"}{"execute":"query-status"}')
        assert await read_message(reader) == {"return": {}}
        assert await read_message(reader) == {"return": {"status": "prelaunch",
                                                          "running": False}}
        writer.close()
    finally:
        proc.terminate()
        await proc.wait()
        server.close()


async def test_many_clients_and_a_stuck_one_do_not_stall_others(tmp_path: Path) -> None:
    a, b = tmp_path / "a.sock", tmp_path / "b.sock"
    proc = await spawn([*VM, "-qmp", f"unix:{a},server=on,wait=off",
                        "-qmp", f"unix:{b},server=on,wait=off"])
    await wait_for_path(a, proc)
    await wait_for_path(b, proc)
    try:
        # 100 clients queue up on monitor A; the first one floods requests and never reads.
        crowd = [await asyncio.open_unix_connection(str(a)) for _ in range(100)]
        flood = b'{"execute":"qmp_capabilities"}' + b'{"execute":"query-status"}' * 20000
        crowd[0][1].write(flood)
        client = QMPClient("b")
        await client.connect(str(b))
        for _ in range(50):
            assert await client.execute("query-status") == {"status": "prelaunch",
                                                            "running": False}
        await client.disconnect()
        # A client that disconnects mid-request leaves the monitor usable for the next one.
        crowd[0][1].write(b'{"execute": "query-')
        crowd[0][1].close()
        reader, writer = crowd[1]
        assert "QMP" in await read_message(reader)
        writer.write(b'{"execute":"qmp_capabilities"}')
        assert await read_message(reader) == {"return": {}}
        for _, w in crowd[1:]:
            w.close()
    finally:
        proc.terminate()
        await proc.wait()
