"""One client connection on one monitor: bytes <-> QmpSession <-> the VM's dispatcher.

Execution follows QEMU's monitor (qmp-protocol.md §9): without OOB the monitor handles one
in-band request per turn of the event loop (QEMU stops reading after each complete message until
it has replied), with OOB up to 8. Between turns the loop sees a client's EOF, so requests still
queued when a client goes away are dropped, as QEMU drops them (§9.4).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import TYPE_CHECKING, cast

import structlog

from hvballoond.qmp.errors import QmpError
from hvballoond.qmp.session import QmpSession, SessionState
from hvballoond.wire.values import JSONObject

if TYPE_CHECKING:
    from hvballoond.runtime.monitor import Monitor

__all__ = ["QmpConnection"]

log = structlog.get_logger(__name__)

INBAND_BATCH_WITHOUT_OOB = 1
INBAND_BATCH_WITH_OOB = 8
# A client that never reads its replies is cut off once this much output is waiting for it.
MAX_PENDING_OUTPUT = 64 * 1024 * 1024
# While a client pipelines, at most this many replies wait to be written together.
FLUSH_EVERY = 256

_connection_ids = iter(range(1, 1 << 62))


class QmpConnection(asyncio.Protocol):
    """asyncio protocol for one QMP client."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.conn_id = next(_connection_ids)
        self.transport: asyncio.Transport | None = None
        self.session: QmpSession | None = None
        self._early_input: list[bytes] = []
        self._scheduled = False
        self._closed = False
        self._write_paused = False
        self._quit_after_flush = False
        self._yanked = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)
        self._loop = asyncio.get_running_loop()
        log.info("qmp.connection.opened", conn=self.conn_id, monitor=self.monitor.name,
                 **_peer_info(self.transport))
        self.monitor.attach(self)

    def data_received(self, data: bytes) -> None:
        if self.session is None:
            self._early_input.append(data)  # arrived before pause_reading() took effect
            return
        log.debug("qmp.wire.in", conn=self.conn_id, data=data[:512])
        self.session.receive_data(data)
        if len(data) <= _INLINE_MAX and not self._scheduled:
            # A lone request (not a pipelining burst) is served at once, saving a loop turn
            # of latency; bursts are served on the next turn so that their replies batch.
            self._process()
        else:
            self._schedule()

    def eof_received(self) -> bool:
        self._flush()  # replies held back by _process still go out, as QEMU's would
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        log.info("qmp.connection.closed", conn=self.conn_id, monitor=self.monitor.name)
        self.monitor.detach(self)

    def pause_writing(self) -> None:
        self._write_paused = True
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.transport is not None and self.session is not None:
            self.transport.resume_reading()
        self._schedule()

    # driven by the monitor ------------------------------------------------------------

    def wait_turn(self) -> None:
        """Another client is being served on this monitor: read nothing, send nothing."""
        if self.transport is not None:
            self.transport.pause_reading()

    def activate(self) -> None:
        """Become the monitor's served client: greet, then handle what was already sent."""
        if self._closed or self.transport is None:
            return
        self.session = QmpSession(catalog=self.monitor.vm.catalog,
                                  greeting=self.monitor.vm.greeting(),
                                  pretty=self.monitor.pretty)
        self.monitor.vm.hub.subscribe(self)
        for chunk in self._early_input:
            self.session.receive_data(chunk)
        self._early_input.clear()
        self._flush()
        self.transport.resume_reading()
        self._schedule()

    def yank(self) -> None:
        """``yank`` of our chardev: shut the socket down now; nothing more is sent."""
        self._yanked = True
        if self.transport is not None and not self._closed:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None and not self._closed:
            self._flush()
            self.transport.close()

    # events and execution ---------------------------------------------------------------

    def deliver_event(self, event: JSONObject) -> None:
        if self.session is None or self._closed:
            return
        self.session.send_event(event)
        self._flush()

    @property
    def negotiated(self) -> bool:
        return self.session is not None and self.session.state is SessionState.COMMAND_MODE

    def _schedule(self) -> None:
        if not self._scheduled and not self._closed:
            self._scheduled = True
            loop = self._loop or asyncio.get_running_loop()
            loop.call_soon(self._process)

    def _process(self) -> None:
        self._scheduled = False
        session = self.session
        if session is None or self._closed or self._write_paused:
            return
        budget = INBAND_BATCH_WITH_OOB if session.oob_enabled else INBAND_BATCH_WITHOUT_OOB
        more = False
        for _ in range(budget):
            request = session.next_request()
            if request is None:
                break
            self.monitor.vm.execute(self, request)
            if self._closed or self._yanked or self._quit_after_flush:
                break
        else:
            more = session.has_unread_input
        # While a client pipelines, replies pile up and go out in one write when its input
        # runs dry (or every FLUSH_EVERY replies): the same bytes, far fewer syscalls.
        if not more or self._quit_after_flush or session.pending_output >= FLUSH_EVERY:
            self._flush()
        if self._quit_after_flush:
            self.monitor.vm.quit()
        elif more:
            self._schedule()

    def request_quit(self) -> None:
        self._quit_after_flush = True

    def enable_capabilities(self, capabilities: list[str]) -> None:
        if self.session is None:
            raise QmpError("no session")
        self.session.enable_capabilities(capabilities)

    def _flush(self) -> None:
        if self.session is None or self.transport is None or self._closed or self._yanked:
            return
        data = self.session.data_to_send()
        if not data:
            return
        log.debug("qmp.wire.out", conn=self.conn_id, data=data[:512])
        self.transport.write(data)
        if self.transport.get_write_buffer_size() > MAX_PENDING_OUTPUT:
            log.warning("qmp.connection.output_overflow", conn=self.conn_id)
            self.transport.abort()


_INLINE_MAX = 512


def _peer_info(transport: asyncio.Transport) -> dict[str, object]:
    sock = transport.get_extra_info("socket")
    if sock is None:
        return {}
    if sock.family == socket.AF_UNIX:
        try:
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                    struct.calcsize("3i"))
        except OSError:
            return {}
        pid, uid, gid = struct.unpack("3i", creds)
        return {"peer_pid": pid, "peer_uid": uid, "peer_gid": gid}
    peer = transport.get_extra_info("peername")
    return {"peer": str(peer)}
