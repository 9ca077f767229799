"""A QMP monitor: one endpoint, one served client at a time (qmp-protocol.md §1.1)."""

from __future__ import annotations

import socket
from collections import deque
from typing import TYPE_CHECKING

import structlog

from hvballoond.cli.monitors import EndpointKind, MonitorEndpoint

if TYPE_CHECKING:
    from hvballoond.runtime.connection import QmpConnection
    from hvballoond.runtime.vm import VmRuntime

__all__ = ["Monitor"]

log = structlog.get_logger(__name__)


class Monitor:
    """Clients that connect while another is served wait, unread and ungreeted, in order."""

    def __init__(self, name: str, vm: VmRuntime, *, pretty: bool = False) -> None:
        self.name = name
        self.vm = vm
        self.pretty = pretty
        # Where the monitor listens or connects (set when its endpoint is opened).
        self.endpoint: MonitorEndpoint | None = None
        self._clients: deque[QmpConnection] = deque()

    @property
    def active(self) -> QmpConnection | None:
        return self._clients[0] if self._clients else None

    def attach(self, conn: QmpConnection) -> None:
        self._clients.append(conn)
        if len(self._clients) == 1:
            conn.activate()
        else:
            conn.wait_turn()

    def detach(self, conn: QmpConnection) -> None:
        was_active = self.active is conn
        if conn in self._clients:
            self._clients.remove(conn)
        self.vm.hub.unsubscribe(conn)
        if was_active and self._clients:
            self._clients[0].activate()

    def close_all(self) -> None:
        for conn in list(self._clients):
            conn.close()

    def chardev_filename(self) -> str:
        """The chardev's ``filename`` as query-chardev shows it (chardev/char-socket.c)."""
        endpoint = self.endpoint
        conn = self.active
        transport = conn.transport if conn is not None else None
        if endpoint is None:
            return "disconnected:socket"
        if transport is None or transport.is_closing():
            return "disconnected:" + _configured_address(endpoint)
        return _connected_address(endpoint, transport.get_extra_info("socket"))


def _configured_address(endpoint: MonitorEndpoint) -> str:
    """qemu_chr_socket_address: the address as given."""
    server = ",server=on" if endpoint.server else ""
    if endpoint.kind is EndpointKind.FD:
        return f"fd:{endpoint.fd}{server}"
    if endpoint.kind is EndpointKind.TCP:
        return f"tcp:{endpoint.host}:{endpoint.port}{server}"
    return f"unix:{endpoint.path}{server}"


def _connected_address(endpoint: MonitorEndpoint, sock: socket.socket | None) -> str:
    """qemu_chr_compute_filename: the connected socket's addresses."""
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


def _sun_path(address: str | bytes) -> str:
    # QEMU prints sun_path as a C string: an abstract address (leading NUL) prints empty.
    if isinstance(address, bytes):
        return address.split(b"\0", 1)[0].decode(errors="replace")
    return address.split("\0", 1)[0]
