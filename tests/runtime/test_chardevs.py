"""Chardevs of devices over real pseudo-terminals, sockets and files: what query-chardev, the
chardev QOM objects and query-yank show while clients come and go, and what each backend
does on the host.

Expected texts were observed on QEMU 10.0.2 (tests/transcripts/chardev/ and the libvirt
recordings): a pty is ``pty:/dev/pts/N`` and the UART has it open; a listening socket is named
after the address it is bound to, ``disconnected:`` while it has no client; a client-mode
socket shows the peer's path; every socket chardev is a yank instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hvballoond.cli import build_settings
from hvballoond.cli.options import parse_command_line
from hvballoond.runtime.daemon import StartupFailure, serve
from hvballoond.wire.values import JSONObject, JSONValue
from tests.runtime.conftest import DaemonFactory

pytestmark = pytest.mark.socket

MACHINE = ["-machine", "q35", "-m", "1G", "-S", "--virtual-clock"]
SERIAL = ["-device", "isa-serial,id=serial0,chardev=charserial0"]
CHANNEL = ["-device", "virtio-serial-pci,id=virtio-serial0",
           "-device", "virtserialport,id=channel0,bus=virtio-serial0.0,chardev=charchannel0,"
                      "name=org.qemu.guest_agent.0"]


class Qmp:
    """A negotiated QMP client."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def run(self, command: str, arguments: JSONObject | None = None) -> JSONObject:
        message: JSONObject = {"execute": command}
        if arguments is not None:
            message["arguments"] = arguments
        self.writer.write(json.dumps(message).encode())
        while True:
            reply = json.loads(await asyncio.wait_for(self.reader.readline(), 5))
            assert isinstance(reply, dict)
            if "event" not in reply:
                return reply

    async def ok(self, command: str, arguments: JSONObject | None = None) -> JSONValue:
        reply = await self.run(command, arguments)
        assert "return" in reply, reply
        return reply["return"]

    async def chardevs(self) -> dict[str, JSONObject]:
        reply = await self.ok("query-chardev")
        assert isinstance(reply, list)
        return {str(item["label"]): item for item in reply if isinstance(item, dict)}


@contextlib.asynccontextmanager
async def daemon(tmp_path: Path, *args: str) -> AsyncIterator[Qmp]:
    """The daemon in this event loop (its chardevs close when the task is cancelled)."""
    sock = tmp_path / "qmp.sock"
    ready = asyncio.Event()
    settings = build_settings(parse_command_line(
        [*MACHINE, *args, "-qmp", f"unix:{sock},server=on,wait=off"]))
    task = asyncio.create_task(serve(settings, on_ready=lambda _a: ready.set(),
                                     handle_signals=False))
    await asyncio.wait_for(ready.wait(), 10)
    reader, writer = await asyncio.open_unix_connection(str(sock))
    try:
        await reader.readline()
        qmp = Qmp(reader, writer)
        await qmp.ok("qmp_capabilities")
        yield qmp
    finally:
        writer.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def refused(tmp_path: Path, *args: str) -> str:
    settings = build_settings(parse_command_line(
        [*MACHINE, *args, "-qmp", f"unix:{tmp_path / 'qmp.sock'},server=on,wait=off"]))
    with pytest.raises(StartupFailure) as err:
        await serve(settings, handle_signals=False)
    return err.value.message


# --- pty ---------------------------------------------------------------------------------------


async def test_a_serial_console_on_a_pty(tmp_path: Path) -> None:
    link = tmp_path / "console"
    async with daemon(tmp_path, "-chardev", f"pty,id=charserial0,path={link}", *SERIAL) as qmp:
        serial = (await qmp.chardevs())["charserial0"]
        filename = str(serial["filename"])
        assert filename.startswith("pty:/dev/pts/") and serial["frontend-open"] is True
        terminal = filename.removeprefix("pty:")
        assert os.readlink(link) == terminal
        fd = os.open(terminal, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            assert os.isatty(fd)
            # Far more than a pty buffers: the daemon reads and drops what is typed.
            written, rounds = 0, 0
            while written < 1 << 20:
                try:
                    written += os.write(fd, b"x" * 4096)
                except BlockingIOError:
                    rounds += 1
                    assert rounds < 10_000, "nobody reads the terminal"
                    await qmp.ok("query-status")  # lets the daemon run
            assert (await qmp.chardevs())["charserial0"]["filename"] == filename
        finally:
            os.close(fd)
        assert await qmp.ok("query-yank") == [{"type": "chardev", "id": "compat_monitor0"}]
    assert not os.path.lexists(link)  # the symlink goes with the daemon


async def test_the_terminal_name_is_printed_on_stdout(start_daemon: DaemonFactory) -> None:
    d = await start_daemon("-machine", "q35", "-chardev", "pty,id=charserial0", *SERIAL)
    assert d.proc.stdout is not None
    line = (await asyncio.wait_for(d.proc.stdout.readline(), 10)).decode()
    name = line.removeprefix("char device redirected to ").removesuffix(" (label charserial0)\n")
    assert name.startswith("/dev/pts/") and line.endswith(" (label charserial0)\n"), line


async def test_a_pty_symlink_that_cannot_be_made(tmp_path: Path) -> None:
    link = tmp_path / "missing" / "console"
    assert await refused(tmp_path, "-chardev", f"pty,id=p0,path={link}") == (
        f"-chardev pty,id=p0,path={link}: Failed to create PTY symlink: No such file or "
        "directory")


# --- sockets -----------------------------------------------------------------------------------


async def test_the_guest_agent_channel_accepts_and_drops(tmp_path: Path) -> None:
    path = tmp_path / "ga.sock"
    async with daemon(tmp_path, "-chardev",
                      f"socket,id=charchannel0,path={path},server=on,wait=off", *CHANNEL) as qmp:
        idle = {"frontend-open": False, "filename": f"disconnected:unix:{path},server=on",
                "label": "charchannel0"}
        assert (await qmp.chardevs())["charchannel0"] == idle
        assert await qmp.ok("qom-get", {"path": "/chardevs/charchannel0",
                                        "property": "addr"}) == {"path": str(path),
                                                                 "type": "unix"}
        first_reader, first = await asyncio.open_unix_connection(str(path))
        first.write(b'{"execute":"guest-ping"}\n' * 1000)  # no guest agent answers
        await first.drain()
        second_reader, second = await asyncio.open_unix_connection(str(path))
        await qmp.ok("query-status")
        connected = (await qmp.chardevs())["charchannel0"]
        assert connected["filename"] == f"unix:{path},server=on"
        assert connected["frontend-open"] is False  # the port waits for its guest
        assert await qmp.ok("qom-get", {"path": "/chardevs/charchannel0",
                                        "property": "connected"}) is True
        # The first client leaves; the second one (waiting) is served.
        first.close()
        await first.wait_closed()
        assert await first_reader.read() == b""  # nothing was ever sent
        await qmp.ok("query-status")
        assert (await qmp.chardevs())["charchannel0"]["filename"] == (
            f"unix:{path},server=on")
        # query-yank lists socket chardevs in creation order; yank drops the client.
        assert await qmp.ok("query-yank") == [{"type": "chardev", "id": "charchannel0"},
                                              {"type": "chardev", "id": "compat_monitor0"}]
        assert await qmp.ok("yank", {"instances": [{"type": "chardev",
                                                    "id": "charchannel0"}]}) == {}
        assert await asyncio.wait_for(second_reader.read(), 5) == b""
        second.close()
        await qmp.ok("query-status")
        assert (await qmp.chardevs())["charchannel0"] == idle


async def test_libvirts_channel_fd_is_named_after_its_path(tmp_path: Path) -> None:
    path = tmp_path / "org.qemu.guest_agent.0"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(1)
    fd = os.dup(listener.fileno())  # the daemon takes ownership of this one
    listener.close()
    async with daemon(tmp_path, "-chardev", f"socket,id=charchannel0,fd={fd},server=on,wait=off",
                      *CHANNEL) as qmp:
        assert (await qmp.chardevs())["charchannel0"] == {
            "frontend-open": False, "filename": f"disconnected:unix:{path},server=on",
            "label": "charchannel0"}
        assert await qmp.ok("qom-get", {"path": "/chardevs/charchannel0",
                                        "property": "addr"}) == {"path": str(path),
                                                                 "type": "unix"}


async def test_a_device_socket_that_connects_out(tmp_path: Path) -> None:
    path = tmp_path / "peer.sock"
    accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def on_client(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(writer)

    server = await asyncio.start_unix_server(on_client, str(path))
    try:
        async with daemon(tmp_path, "-chardev", f"socket,id=charchannel0,path={path}",
                          *CHANNEL) as qmp:
            peer = await asyncio.wait_for(accepted.get(), 5)
            assert (await qmp.chardevs())["charchannel0"]["filename"] == f"unix:{path}"
            peer.write(b"hello")  # dropped
            await peer.drain()
            peer.close()
            await qmp.ok("query-status")
            assert (await qmp.chardevs())["charchannel0"]["filename"] == (
                f"disconnected:unix:{path}")
    finally:
        server.close()


async def test_socket_chardevs_that_cannot_be_opened(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "ga.sock"
    assert await refused(
        tmp_path, "-chardev", f"socket,id=c0,path={missing},server=on,wait=off") == (
        f"-chardev socket,id=c0,path={missing},server=on,wait=off: Failed to bind socket to "
        f"{missing}: No such file or directory")
    nobody = tmp_path / "nobody.sock"
    assert await refused(tmp_path, "-chardev", f"socket,id=c0,path={nobody}") == (
        f"-chardev socket,id=c0,path={nobody}: Failed to connect to '{nobody}': No such file "
        "or directory")


# --- file and null -----------------------------------------------------------------------------


async def test_a_file_chardev_is_created_but_never_written(tmp_path: Path) -> None:
    new, old = tmp_path / "new.log", tmp_path / "old.log"
    old.write_text("earlier output\n")
    async with daemon(tmp_path, "-chardev", f"file,id=charserial0,path={new}",
                      "-chardev", f"file,id=f1,path={old}", "-chardev", "null,id=n0",
                      "-chardev", "file,id=f2,path=/dev/fdset/3", *SERIAL) as qmp:
        chardevs = await qmp.chardevs()
        assert chardevs["charserial0"] == {"frontend-open": True, "filename": "file",
                                           "label": "charserial0"}
        assert chardevs["n0"] == {"frontend-open": False, "filename": "null", "label": "n0"}
        assert chardevs["f2"]["filename"] == "file"
        assert new.read_text() == ""
        assert old.read_text() == "earlier output\n"  # QEMU would truncate it; we never do
    assert new.exists()


async def test_file_chardevs_outside_the_allowed_directory(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    outside = tmp_path / "serial.log"
    assert await refused(tmp_path, "--file-backend-dir", str(allowed),
                         "-chardev", f"file,id=f0,path={outside}") == (
        f"-chardev file,id=f0,path={outside}: Could not open '{outside}': "
        f"{os.strerror(errno.EACCES)}")
    assert not outside.exists()
    inside = allowed / "serial.log"
    async with daemon(tmp_path, "--file-backend-dir", str(allowed),
                      "-chardev", f"file,id=f0,path={inside}"):
        assert inside.exists()
    missing = tmp_path / "missing" / "serial.log"
    assert await refused(tmp_path, "-chardev", f"file,id=f0,path={missing}") == (
        f"-chardev file,id=f0,path={missing}: Could not open '{missing}': No such file or "
        "directory")
