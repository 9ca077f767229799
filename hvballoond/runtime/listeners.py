"""Open socket chardevs (QMP monitors and inert ones): listening UNIX/TCP sockets, inherited
fds, outgoing connections."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import structlog

from hvballoond.cli.monitors import EndpointKind, MonitorEndpoint
from hvballoond.runtime.chardevs import SocketEnd, socket_address
from hvballoond.wire.values import JSONObject

__all__ = ["EndpointError", "Listeners"]

log = structlog.get_logger(__name__)


class EndpointError(Exception):
    """An endpoint cannot be opened; the text is QEMU's (printed after the program name)."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress  # only TCP endpoints need it: spare start-up the import

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bound(server: asyncio.AbstractServer) -> JSONObject | None:
    """The listening socket's own address (chardev/char-socket.c names a disconnected
    listening chardev after it; for an inherited fd that is the socket's path)."""
    sockets = list(getattr(server, "sockets", ()) or ())
    if not sockets:
        return None
    return socket_address(cast(socket.socket, sockets[0]))


@dataclass(slots=True)
class Listeners:
    """Every server and outgoing connection the daemon opened; closes and unlinks them."""

    socket_mode: int = 0o600
    allow_remote_tcp: bool = False
    servers: list[asyncio.AbstractServer] = field(default_factory=list)
    created_paths: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)

    async def open(self, endpoint: MonitorEndpoint, owner: SocketEnd) -> None:
        """Listen or connect for ``owner`` (a monitor, or an inert socket chardev).

        Raises:
            EndpointError: QEMU's message.
        """
        loop = asyncio.get_running_loop()
        factory = owner.new_connection
        prefix = endpoint.option
        owner.endpoint = endpoint  # query-chardev shows its address
        if endpoint.kind is EndpointKind.UNIX and not endpoint.server:
            assert endpoint.path is not None
            try:
                await loop.create_unix_connection(factory, endpoint.path)
            except OSError as err:
                raise EndpointError(
                    f"{prefix}: Failed to connect to '{endpoint.path}': {err.strerror}"
                ) from None
            self.addresses.append(f"unix:{endpoint.path} (client)")
            return
        if endpoint.kind is EndpointKind.UNIX:
            assert endpoint.path is not None
            server = await self._unix_server(factory, endpoint.path, prefix)
            self.servers.append(server)
            self.addresses.append(f"unix:{endpoint.path}")
            owner.local_address = _bound(server)
        elif endpoint.kind is EndpointKind.FD:
            assert endpoint.fd is not None
            sock = self._inherited(endpoint.fd, prefix)
            if sock.family == socket.AF_UNIX:
                server = await loop.create_unix_server(factory, sock=sock)
            else:
                server = await loop.create_server(factory, sock=sock)
            self.servers.append(server)
            self.addresses.append(f"fd:{endpoint.fd} ({sock.getsockname()!r})")
            owner.local_address = _bound(server)
        else:
            assert endpoint.host is not None and endpoint.port is not None
            if not (self.allow_remote_tcp or _is_loopback(endpoint.host)):
                raise EndpointError(
                    f"{prefix}: refusing to listen on non-loopback address {endpoint.host} "
                    "(hvballoond needs --allow-remote-tcp for that)"
                )
            if not endpoint.server:
                try:
                    await loop.create_connection(factory, endpoint.host, endpoint.port)
                except OSError as err:
                    raise EndpointError(f"{prefix}: Failed to connect to '{endpoint.host}:"
                                        f"{endpoint.port}': {err.strerror}") from None
                self.addresses.append(f"tcp:{endpoint.host}:{endpoint.port} (client)")
                return
            try:
                server = await loop.create_server(factory, endpoint.host, endpoint.port,
                                                  reuse_address=True)
            except OSError as err:
                raise EndpointError(f"{prefix}: Failed to bind socket: {err.strerror}") from None
            self.servers.append(server)
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                self.addresses.append(f"tcp:{host}:{port}")
            owner.local_address = _bound(server)

    async def _unix_server(
        self, factory: Callable[[], asyncio.Protocol], path: str, prefix: str
    ) -> asyncio.AbstractServer:
        loop = asyncio.get_running_loop()
        # QEMU replaces a stale socket file at the same path.
        try:
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
        except FileNotFoundError:
            pass
        old_umask = os.umask(0o777 & ~self.socket_mode)
        try:
            server = await loop.create_unix_server(factory, path)
        except OSError as err:
            raise EndpointError(
                f"{prefix}: Failed to bind socket to {path}: {err.strerror}"
            ) from None
        finally:
            os.umask(old_umask)
        os.chmod(path, self.socket_mode)  # whatever the umask said
        self.created_paths.append(path)
        return server

    @staticmethod
    def _inherited(fd: int, prefix: str) -> socket.socket:
        try:
            mode = os.fstat(fd).st_mode
        except OSError as err:
            raise EndpointError(f"{prefix}: {err.strerror}") from None
        if not stat.S_ISSOCK(mode):
            raise EndpointError(f"{prefix}: File descriptor '{fd}' is not a socket")
        sock = socket.socket(fileno=fd)
        sock.setblocking(False)
        return sock

    def close(self) -> None:
        for server in self.servers:
            server.close()
        for path in self.created_paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self.servers.clear()
        self.created_paths.clear()
