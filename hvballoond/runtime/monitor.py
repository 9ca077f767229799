"""A QMP monitor: one endpoint, one served client at a time (qmp-protocol.md §1.1)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

import structlog

from hvballoond.cli.monitors import MonitorEndpoint
from hvballoond.runtime.chardevs import SocketEnd
from hvballoond.wire.values import JSONObject

if TYPE_CHECKING:
    from hvballoond.runtime.connection import QmpConnection
    from hvballoond.runtime.vm import VmRuntime

__all__ = ["Monitor"]

log = structlog.get_logger(__name__)


class Monitor(SocketEnd):
    """Clients that connect while another is served wait, unread and ungreeted, in order.

    As a :class:`SocketEnd` it is its chardev's live side (query-chardev's ``filename``).
    """

    yankable = True

    def __init__(self, name: str, vm: VmRuntime, *, pretty: bool = False) -> None:
        self.name = name
        self.vm = vm
        self.pretty = pretty
        # Where the monitor listens or connects (set when its endpoint is opened).
        self.endpoint: MonitorEndpoint | None = None
        self.local_address: JSONObject | None = None
        self._clients: deque[QmpConnection] = deque()

    @property
    def label(self) -> str:
        """The chardev's id."""
        return self.name

    @property
    def active(self) -> QmpConnection | None:
        return self._clients[0] if self._clients else None

    def new_connection(self) -> asyncio.Protocol:
        from hvballoond.runtime.connection import QmpConnection

        return QmpConnection(self)

    def active_transport(self) -> asyncio.BaseTransport | None:
        conn = self.active
        return conn.transport if conn is not None else None

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

    def yank(self) -> None:
        """``yank``: drop the served client at once."""
        if self.active is not None:
            self.active.yank()
