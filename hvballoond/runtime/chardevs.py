"""The character devices the daemon opens that carry no monitor: inert backends.

A device's chardev in hvballoond carries no data, but its host side exists as QEMU's does, so
that what libvirt and users look at is there:

* ``pty``: a real pseudo-terminal (``os.openpty``), both ends kept open for the daemon's life
  so that whoever opens ``/dev/pts/N`` never sees a hang-up; whatever they type is read and
  dropped. Like QEMU, the daemon prints ``char device redirected to /dev/pts/N (label X)`` on
  its standard output, and ``path=`` makes a symlink to the terminal (removed at exit).
* ``socket``: listening (UNIX path, TCP, or an inherited listening fd, as libvirt passes the
  guest-agent channel) or connecting out. One client is served at a time, as QEMU serves one;
  its bytes are read and dropped and nothing is ever sent. Later clients wait, unread, until
  it leaves.
* ``file``: QEMU opens the file for writing, creating it and (without ``append=on``)
  truncating it. hvballoond creates a missing file, as QEMU does, but never truncates or
  writes one (there is no guest output to write). With ``--file-backend-dir`` only files
  below that directory are touched, as for ``memory-backend-file``; ``/dev/fdset/N`` paths
  (libvirt's, with ``-add-fd``, which hvballoond ignores) are not opened.
* ``null``: nothing.

Each object here is the chardev's live side for the machine
(:class:`hvballoond.machine.chardev.ChardevStatus`). The socket helpers are shared with the
QMP monitors (:mod:`hvballoond.runtime.monitor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import sys
from collections import deque
from typing import TYPE_CHECKING, Protocol, cast

import structlog

from hvballoond.cli.monitors import ChardevSpec, MonitorEndpoint
from hvballoond.machine.chardev import ChardevBackend
from hvballoond.wire.values import JSONObject

if TYPE_CHECKING:
    from hvballoond.runtime.listeners import Listeners

__all__ = [
    "ChardevOpenError",
    "FileChardev",
    "InertChardev",
    "NullChardev",
    "PtyChardev",
    "SocketChardev",
    "SocketEnd",
    "address_text",
    "connected_filename",
    "open_chardev",
    "socket_address",
]

log = structlog.get_logger(__name__)

_FDSET_PREFIX = "/dev/fdset/"
_READ_CHUNK = 65536


class ChardevOpenError(Exception):
    """A chardev's backend cannot be opened; the text is QEMU's (after the program name)."""


# --------------------------------------------------------------------------------------------
# Socket names, as chardev/char-socket.c prints them
# --------------------------------------------------------------------------------------------


def _sun_path(address: str | bytes) -> str:
    # QEMU prints sun_path as a C string: an abstract address (leading NUL) prints empty.
    if isinstance(address, bytes):
        return address.split(b"\0", 1)[0].decode(errors="replace")
    return address.split("\0", 1)[0]


def socket_address(sock: socket.socket) -> JSONObject | None:
    """``socket_local_address``: a bound socket's own address as a ``SocketAddress``."""
    try:
        local = sock.getsockname()
    except OSError:
        return None
    if sock.family == socket.AF_UNIX:
        return {"type": "unix", "path": _sun_path(local)}
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        return {"type": "inet", "host": local[0], "port": str(local[1])}
    return None


def address_text(address: JSONObject, *, server: bool) -> str:
    """``qemu_chr_socket_address`` without its prefix: ``unix:PATH,server=on``..."""
    suffix = ",server=on" if server else ""
    kind = address.get("type")
    if kind == "inet":
        return f"tcp:{address.get('host')}:{address.get('port')}{suffix}"
    if kind == "fd":
        return f"fd:{address.get('str')}{suffix}"
    return f"unix:{address.get('path')}{suffix}"


def connected_filename(endpoint: MonitorEndpoint, sock: socket.socket | None) -> str:
    """``qemu_chr_compute_filename``: the connected socket's addresses."""
    if sock is None:
        return "unknown"
    try:
        local, peer = sock.getsockname(), sock.getpeername()
    except OSError:
        return "unknown"
    if sock.family == socket.AF_UNIX:
        if endpoint.server:
            return f"unix:{_sun_path(local)},server=on"
        return f"unix:{_sun_path(peer)}"
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        left, right = ("[", "]") if sock.family == socket.AF_INET6 else ("", "")
        server = ",server=on" if endpoint.server else ""
        return (f"tcp:{left}{local[0]}{right}:{local[1]}{server} <-> "
                f"{left}{peer[0]}{right}:{peer[1]}")
    return "unknown"


class SocketEnd:
    """What a socket chardev reports (a QMP monitor's, or an inert one's).

    Attributes:
        endpoint: where it listens or connects (set when it is opened).
        local_address: a listening socket's bound address (QEMU names a disconnected
            listening chardev after it: an inherited fd shows its socket's path).
    """

    endpoint: MonitorEndpoint | None
    local_address: JSONObject | None

    def active_transport(self) -> asyncio.BaseTransport | None:
        """The served client's transport, if one is connected."""
        raise NotImplementedError

    def new_connection(self) -> asyncio.Protocol:
        """The protocol for a new client (the listener's factory)."""
        raise NotImplementedError

    def filename(self) -> str:
        """query-chardev's ``filename`` (chardev/char-socket.c)."""
        endpoint = self.endpoint
        if endpoint is None:
            return "disconnected:socket"
        transport = self.active_transport()
        if transport is None or transport.is_closing():
            address = self.address()
            assert address is not None
            return "disconnected:" + address_text(address, server=endpoint.server)
        return connected_filename(endpoint, transport.get_extra_info("socket"))

    def connected(self) -> bool:
        """A client is connected (the ``connected`` QOM property)."""
        transport = self.active_transport()
        return transport is not None and not transport.is_closing()

    def address(self) -> JSONObject | None:
        """The ``addr`` QOM property: the bound address, else the configured one."""
        if self.local_address is not None:
            return self.local_address
        return self.endpoint.address() if self.endpoint is not None else None


# --------------------------------------------------------------------------------------------
# Inert backends
# --------------------------------------------------------------------------------------------


class InertChardev(Protocol):
    """A chardev the runtime opened for a device (or nothing): its status, yank, close."""

    label: str

    def filename(self) -> str: ...
    def connected(self) -> bool: ...
    def address(self) -> JSONObject | None: ...

    @property
    def yankable(self) -> bool:
        """Socket chardevs register a yank instance (query-yank lists them)."""
        ...

    def yank(self) -> None:
        """Drop the client at once (``yank``)."""
        ...

    def close(self) -> None:
        """Release what it holds (daemon exit)."""
        ...


class _Sink(asyncio.Protocol):
    """One client of an inert socket chardev: read and dropped."""

    def __init__(self, owner: SocketChardev) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.owner.attach(self)

    def data_received(self, data: bytes) -> None:
        log.debug("chardev.dropped", label=self.owner.label, bytes=len(data))

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.detach(self)


class SocketChardev(SocketEnd):
    """An inert socket chardev (a device's, or a monitor hvballoond does not serve)."""

    yankable = True

    def __init__(self, label: str) -> None:
        self.label = label
        self.endpoint: MonitorEndpoint | None = None
        self.local_address: JSONObject | None = None
        self._clients: deque[_Sink] = deque()

    def new_connection(self) -> asyncio.Protocol:
        return _Sink(self)

    def active_transport(self) -> asyncio.BaseTransport | None:
        return self._clients[0].transport if self._clients else None

    def attach(self, sink: _Sink) -> None:
        """A client connected: served at once, or waits unread behind the served one."""
        self._clients.append(sink)
        if len(self._clients) > 1 and sink.transport is not None:
            sink.transport.pause_reading()

    def detach(self, sink: _Sink) -> None:
        """A client left; the next waiting one is served."""
        was_active = bool(self._clients) and self._clients[0] is sink
        with contextlib.suppress(ValueError):
            self._clients.remove(sink)
        if was_active and self._clients:
            transport = self._clients[0].transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()

    def yank(self) -> None:
        transport = self.active_transport()
        if transport is not None:
            cast(asyncio.Transport, transport).abort()

    def close(self) -> None:
        for sink in list(self._clients):
            if sink.transport is not None:
                sink.transport.close()


class PtyChardev:
    """A pseudo-terminal; its slave end stays open too, so that readers never see a hang-up."""

    yankable = False

    def __init__(self, label: str, *, symlink: str | None = None) -> None:
        self.label = label
        try:
            self.master, self.slave = os.openpty()
        except OSError as err:
            raise ChardevOpenError(f"Failed to create PTY: {err.strerror}") from None
        self.name = os.ttyname(self.slave)
        self._loop: asyncio.AbstractEventLoop | None = None
        import tty  # only a pty needs it

        tty.setraw(self.slave)  # qemu_openpty_raw: no echo, no line discipline
        os.set_blocking(self.master, False)
        self._reading = False
        self.symlink: str | None = None
        if symlink is not None:
            try:
                os.symlink(self.name, symlink)
            except OSError as err:
                self.close()
                raise ChardevOpenError(f"Failed to create PTY symlink: {err.strerror}") from None
            self.symlink = symlink

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read and drop what is typed into the terminal."""
        loop.add_reader(self.master, self._drain)
        self._reading = True
        self._loop = loop

    def _drain(self) -> None:
        try:
            data = os.read(self.master, _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # cannot happen while the slave is open; never spin on it
            self._stop_reading()
            return
        log.debug("chardev.dropped", label=self.label, bytes=len(data))

    def _stop_reading(self) -> None:
        if self._reading and self._loop is not None:
            self._loop.remove_reader(self.master)
        self._reading = False

    def filename(self) -> str:
        return f"pty:{self.name}"

    def connected(self) -> bool:
        return False

    def address(self) -> JSONObject | None:
        return None

    def yank(self) -> None:
        """Not a socket: nothing to yank."""

    def close(self) -> None:
        self._stop_reading()
        if self.master < 0:
            return
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self.slave = -1
        if self.symlink is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.symlink)
            self.symlink = None


class _Named:
    """A chardev whose filename is its driver's name (chardev/char.c)."""

    yankable = False

    def __init__(self, label: str, name: str) -> None:
        self.label = label
        self._name = name

    def filename(self) -> str:
        return self._name

    def connected(self) -> bool:
        return False

    def address(self) -> JSONObject | None:
        return None

    def yank(self) -> None:
        """Not a socket: nothing to yank."""

    def close(self) -> None:
        """Holds nothing."""


class NullChardev(_Named):
    """``-chardev null``."""

    def __init__(self, label: str) -> None:
        super().__init__(label, "null")


class FileChardev(_Named):
    """``-chardev file``: the file exists afterwards, as with QEMU; nothing is written."""

    def __init__(self, label: str, path: str, *, base_dir: str | None) -> None:
        super().__init__(label, "file")
        if path.startswith(_FDSET_PREFIX):
            return
        if base_dir is not None and not _below(path, base_dir):
            raise ChardevOpenError(f"Could not open '{path}': {os.strerror(errno.EACCES)}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        except OSError as err:
            raise ChardevOpenError(f"Could not open '{path}': {err.strerror}") from None
        os.close(fd)


def _below(path: str, base_dir: str) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(base_dir)
    return real == base or real.startswith(base + os.sep)


async def open_chardev(
    spec: ChardevSpec, listeners: Listeners, *, file_dir: str | None
) -> InertChardev:
    """Open an inert chardev's backend (sockets through ``listeners``).

    Raises:
        ChardevOpenError: QEMU's message, prefixed with the option.
    """
    try:
        if spec.backend is ChardevBackend.PTY:
            pty = PtyChardev(spec.label, symlink=spec.path)
            pty.start(asyncio.get_running_loop())
            sys.stdout.write(f"char device redirected to {pty.name} (label {spec.label})\n")
            sys.stdout.flush()
            return pty
        if spec.backend is ChardevBackend.FILE:
            assert spec.path is not None
            return FileChardev(spec.label, spec.path, base_dir=file_dir)
        if spec.backend is ChardevBackend.NULL:
            return NullChardev(spec.label)
    except ChardevOpenError as err:
        raise ChardevOpenError(f"{spec.option}: {err}") from None
    assert spec.endpoint is not None
    chardev = SocketChardev(spec.label)
    await listeners.open(spec.endpoint, chardev)
    return chardev

