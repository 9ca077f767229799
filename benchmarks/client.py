"""A deliberately thin QMP client on raw asyncio UNIX streams.

Both servers are driven by exactly this code, so its cost is the same on both sides and
small: requests are pre-encoded bytes, replies are lines classified by their first bytes
(QEMU and hvballoond print ``{"return"`` / ``{"error"`` / ``{"timestamp"`` first), and JSON
is decoded only where a workload needs a value or a check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from benchmarks.model import WorkloadError

__all__ = ["QmpClient", "request"]

# Replies (query-qmp-schema, query-memdev with 4,096 backends) are single lines of up to a
# few MiB.
_LINE_LIMIT = 1 << 27
_RETURN = b'{"return"'
_EVENT = b'{"timestamp"'


def request(
    command: str, arguments: dict[str, Any] | None = None, *, ident: int | None = None
) -> bytes:
    """One encoded QMP request line."""
    message: dict[str, Any] = {"execute": command}
    if arguments is not None:
        message["arguments"] = arguments
    if ident is not None:
        message["id"] = ident
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class QmpClient:
    """One QMP connection. Create it with :meth:`connect`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.events = 0  # events skipped while waiting for replies

    @classmethod
    async def connect(
        cls,
        path: str,
        *,
        timeout_s: float = 30.0,
        alive: Callable[[], bool] | None = None,
    ) -> QmpClient:
        """Connect to the monitor at ``path``, retrying until it listens.

        Args:
            path: the UNIX socket path.
            timeout_s: give up after this long.
            alive: optional callable returning False once the server process died (stops
                the retries early).

        Raises:
            WorkloadError: timed out, or the server died first.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(path, limit=_LINE_LIMIT)
            except (FileNotFoundError, ConnectionRefusedError):
                if alive is not None and not alive():
                    raise WorkloadError(f"server exited before listening on {path}") from None
                if time.monotonic() > deadline:
                    raise WorkloadError(f"nothing listens on {path} after {timeout_s}s") from None
                # Half a millisecond between attempts: small against any start-up time
                # measured, and a failed connect() costs the server nothing.
                await asyncio.sleep(0.0005)
                continue
            return cls(reader, writer)

    async def greeting(self) -> bytes:
        """Read the greeting line."""
        line = await self._reader.readline()
        if not line.startswith(b'{"QMP"'):
            raise WorkloadError(f"unexpected greeting {line[:200]!r}")
        return line

    async def handshake(self) -> None:
        """Read the greeting and negotiate capabilities."""
        await self.greeting()
        await self.execute(b'{"execute":"qmp_capabilities"}\n')

    def send(self, data: bytes) -> None:
        """Queue request bytes (one or many lines) for sending."""
        self._writer.write(data)

    async def drain(self) -> None:
        """Wait until the queued bytes are flushed to the socket buffer."""
        await self._writer.drain()

    async def reply(self) -> bytes:
        """The next reply line, skipping events.

        Raises:
            WorkloadError: the connection closed.
        """
        reader = self._reader
        while True:
            line = await reader.readline()
            if not line:
                raise WorkloadError("connection closed while waiting for a reply")
            if line.startswith(_EVENT):
                self.events += 1
                continue
            return line

    async def read_replies(self, count: int) -> bytes:
        """Read ``count`` successful reply lines in bulk and return the last one.

        For pipelined requests: data is read in large chunks and lines are counted with
        ``bytes.count`` rather than read one by one, so the client keeps up with a fast
        server. Events are skipped.

        Raises:
            WorkloadError: an error reply, more replies than ``count``, or the connection
                closed.
        """
        reader = self._reader
        pending = b""
        seen = 0
        last = b""
        while seen < count:
            chunk = await reader.read(1 << 18)
            if not chunk:
                raise WorkloadError(f"connection closed after {seen} of {count} replies")
            data = pending + chunk if pending else chunk
            cut = data.rfind(b"\n") + 1
            if not cut:
                pending = data
                continue
            complete, pending = data[:cut], data[cut:]
            if b'{"error"' in complete:
                at = complete.find(b'{"error"')
                raise WorkloadError(f"error reply: {complete[at : at + 300]!r}")
            events = complete.count(b'\n{"timestamp"') + complete.startswith(_EVENT)
            self.events += events
            seen += complete.count(b"\n") - events
            last = complete[complete.rfind(b"\n", 0, cut - 1) + 1 :]
        if seen != count or pending:
            raise WorkloadError(f"expected {count} replies, got more")
        return last

    async def execute(self, data: bytes) -> bytes:
        """Send one request line and return its successful reply line.

        Raises:
            WorkloadError: the reply is an error.
        """
        self._writer.write(data)
        line = await self.reply()
        if not line.startswith(_RETURN):
            raise WorkloadError(f"{data.strip()[:120]!r} failed: {line.strip()[:300]!r}")
        return line

    async def execute_json(self, data: bytes) -> Any:
        """:meth:`execute`, returning the decoded ``return`` value."""
        return json.loads(await self.execute(data))["return"]

    async def close(self) -> None:
        """Close the connection (errors of a server that already went away are ignored)."""
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
