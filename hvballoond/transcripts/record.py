"""Record a QMP conversation as a transcript through a transparent proxy.

Command line (``hvballoond record`` / ``python -m hvballoond.transcripts record``)::

    hvballoond record -o FILE [--listen PATH] [--once] (--connect PATH | -- SERVER_CMD...)

The proxy listens on a UNIX socket; for every client connection it opens one
to the server and copies bytes both ways unchanged, while writing down, in
order:

- client bytes: ``->`` when a chunk is one clean text line ending in a newline,
  ``-x`` (escaped, exact bytes) otherwise; bytes that arrive in pieces are
  grouped until a newline, a server message or a short pause;
- each server message as ``<-``;
- a second client connection as ``@ connect cN``, switches as ``@ conn cN``;
- a client closing as ``@ close cN``, the server closing as ``@ eof``;
- a pause of at least ``--wait-threshold`` seconds before a message nobody
  asked for (an event) as ``@ wait S``;
- the server process ending (when launched by ``-- CMD``) as ``@ exit CODE``
  (+ ``@ stderr`` lines when it failed).

With ``-- CMD...`` the server is started by the recorder with the options
every replay adds (``-display none -nodefaults -S``, ``-accel tcg`` for QEMU)
and ``-qmp unix:...``; ``# args:`` is written from CMD. The file is written
when the recorder stops: with ``--once`` after the last client leaves,
otherwise on SIGINT/SIGTERM or when the server ends.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hvballoond.transcripts.format import (
    MAGIC,
    TranscriptError,
    count_json_values,
    format_send,
    loads_json,
    parse,
)
from hvballoond.transcripts.runner import (
    EmulatorTarget,
    Flavor,
    build_argv,
    emulator_version,
    strip_fixed_options,
    strip_program_prefix,
)
from hvballoond.wire.values import JSONObject

__all__ = ["Recorder", "main", "record"]

_FLUSH_DELAY = 0.05


@dataclass(slots=True)
class _Pending:
    conn: str
    data: bytearray
    since: float


@dataclass(slots=True)
class Recorder:
    """Turns proxy events into transcript lines (sans-I/O: times are passed in).

    Attributes:
        wait_threshold: A gap (s) before an unrequested server message that
            becomes ``@ wait``.
        flush_delay: How long partial client bytes may wait for more.
        tmpdir: A scratch folder path written as ``{tmpdir}``.
    """

    wait_threshold: float = 1.0
    flush_delay: float = _FLUSH_DELAY
    tmpdir: str | None = None
    lines: list[str] = field(default_factory=list)
    current: str | None = None
    greeting: JSONObject | None = None
    _pending: _Pending | None = None
    _seen_first: bool = False
    _last: float | None = None
    _outstanding: int = 0

    # --- events ----------------------------------------------------------------------

    def connected(self, conn: str, now: float) -> None:
        """A client connected (the proxy names connections ``c1``, ``c2``...)."""
        self.flush()
        if self._seen_first:
            self.lines.append(f"@ connect {conn}")
        self._seen_first = True
        self.current = conn
        self._last = now

    def client_data(self, conn: str, data: bytes, now: float) -> None:
        """Bytes from a client, before they are forwarded."""
        if self._pending is not None and self._pending.conn != conn:
            self.flush()
        if self._pending is None:
            self._pending = _Pending(conn, bytearray(), now)
        self._pending.data += data
        if data.endswith(b"\n"):
            self.flush()

    def server_line(self, conn: str, text: str, now: float) -> None:
        """One message from the server (without its line terminator)."""
        self.flush()
        if self.tmpdir:
            text = text.replace(self.tmpdir, "{tmpdir}")
        try:
            value = loads_json(text)
        except ValueError:
            value = None
        is_reply = isinstance(value, dict) and ("return" in value or "error" in value)
        gap = now - self._last if self._last is not None else 0.0
        if not is_reply and self._outstanding <= 0 and gap >= self.wait_threshold:
            self.lines.append(f"@ wait {math.floor(gap * 10) / 10:.1f}")
        self._switch(conn)
        self.lines.append(f"<- {text}")
        if is_reply and self._outstanding > 0:
            self._outstanding -= 1
        if isinstance(value, dict) and "QMP" in value and self.greeting is None:
            self.greeting = value
        self._last = now

    def client_closed(self, conn: str, now: float) -> None:
        """A client closed its connection."""
        self.flush()
        self.lines.append(f"@ close {conn}")
        if self.current == conn:
            self.current = None
        self._last = now

    def server_closed(self, conn: str, now: float) -> None:
        """The server closed a connection first."""
        self.flush()
        self._switch(conn)
        self.lines.append("@ eof")
        self.current = None
        self._last = now

    def exited(self, code: int, stderr: Sequence[str]) -> None:
        """The server process ended by itself."""
        self.flush()
        self.lines.append(f"@ exit {code}")
        if code != 0:
            self.lines.extend(f"@ stderr {line}".rstrip() for line in stderr)

    def tick(self, now: float) -> None:
        """Flush client bytes that have waited long enough for more."""
        if self._pending is not None and now - self._pending.since >= self.flush_delay:
            self.flush()

    # --- helpers ---------------------------------------------------------------------------

    def _switch(self, conn: str) -> None:
        if self.current != conn:
            self.lines.append(f"@ conn {conn}")
            self.current = conn

    def flush(self) -> None:
        """Write pending client bytes as one ``->``/``-x`` line."""
        pending, self._pending = self._pending, None
        if pending is None or not pending.data:
            return
        data = bytes(pending.data)
        if self.tmpdir:
            data = data.replace(self.tmpdir.encode(), b"{tmpdir}")
        self._switch(pending.conn)
        line = format_send(data)
        self.lines.append(line)
        text = data.decode("utf-8", "replace")
        self._outstanding = count_json_values(text) or 0
        self._last = pending.since

    def transcript(self, headers: Sequence[tuple[str, str]]) -> str:
        """The transcript text: magic line, headers, blank line, body."""
        self.flush()
        head = [MAGIC, *(f"# {k}: {v}" for k, v in headers)]
        return "\n".join([*head, "", *self.lines]) + "\n"


def _recorded_from_greeting(greeting: JSONObject | None) -> str | None:
    if greeting is None:
        return None
    qmp = greeting.get("QMP")
    version = qmp.get("version") if isinstance(qmp, dict) else None
    if not isinstance(version, dict):
        return None
    package = version.get("package")
    if isinstance(package, str) and "hvballoond" in package:
        return "hvballoond"
    triple = version.get("qemu")
    if not isinstance(triple, dict):
        return None
    numbers = ".".join(str(triple.get(k)) for k in ("major", "minor", "micro"))
    text = f"QEMU emulator version {numbers}"
    return f"{text} ({package})" if isinstance(package, str) and package else text


# --- the proxy ----------------------------------------------------------------------------


class _Proxy:
    def __init__(
        self,
        recorder: Recorder,
        listen: Path,
        upstream: Path,
        *,
        once: bool,
    ) -> None:
        self.recorder = recorder
        self.listen = listen
        self.upstream = upstream
        self.once = once
        self.stop = asyncio.Event()
        self.count = 0
        self.open = 0
        self.sessions: set[asyncio.Task[None]] = set()
        self.loop = asyncio.get_running_loop()

    def now(self) -> float:
        return self.loop.time()

    async def handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.sessions.add(task)
        self.count += 1
        self.open += 1
        name = f"c{self.count}"
        try:
            await self._session(name, creader, cwriter)
        finally:
            self.open -= 1
            self.sessions.discard(task)
            if self.once and self.open == 0:
                self.stop.set()

    async def _session(
        self, name: str, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter
    ) -> None:
        try:
            sreader, swriter = await asyncio.open_unix_connection(str(self.upstream))
        except OSError as exc:
            print(f"record: cannot reach the server at {self.upstream}: {exc}", file=sys.stderr)
            cwriter.close()
            return
        self.recorder.connected(name, self.now())
        closed_by: list[str] = []

        async def client_to_server() -> None:
            try:
                while chunk := await creader.read(65536):
                    self.recorder.client_data(name, chunk, self.now())
                    swriter.write(chunk)
                    await swriter.drain()
            except OSError:
                pass
            if not closed_by:
                closed_by.append("client")
                self.recorder.client_closed(name, self.now())
            swriter.close()

        async def server_to_client() -> None:
            buf = b""
            try:
                while chunk := await sreader.read(65536):
                    buf += chunk
                    while (end := buf.find(b"\n")) >= 0:
                        line, buf = buf[:end], buf[end + 1 :]
                        text = line.removesuffix(b"\r").decode("utf-8", "replace")
                        self.recorder.server_line(name, text, self.now())
                    cwriter.write(chunk)
                    await cwriter.drain()
            except OSError:
                pass
            if not closed_by:
                closed_by.append("server")
                self.recorder.server_closed(name, self.now())
            cwriter.close()

        tasks = [asyncio.create_task(client_to_server()), asyncio.create_task(server_to_client())]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for writer in (cwriter, swriter):
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()

    async def ticker(self) -> None:
        while True:
            await asyncio.sleep(self.recorder.flush_delay / 2)
            self.recorder.tick(self.now())


async def record(
    output: Path,
    *,
    listen: Path | None = None,
    connect: Path | None = None,
    command: Sequence[str] = (),
    once: bool = False,
    wait_threshold: float = 1.0,
    ready: asyncio.Event | None = None,
    startup_timeout: float = 10.0,
) -> int:
    """Run the recording proxy until it is told to stop; write ``output``.

    Args:
        output: The transcript file to write.
        listen: Where clients connect (default: a fresh temporary socket).
        connect: An already running server's QMP socket, or ...
        command: ... a server command line to launch (without ``-qmp``).
        once: Stop after the last client connection closes.
        wait_threshold: Minimum gap recorded as ``@ wait``.
        ready: Set once the proxy accepts connections (for callers in-process).
        startup_timeout: How long a launched server may take to open its socket.

    Returns:
        0 on success, 1 if the transcript could not be parsed back (it is
        written anyway).

    Raises:
        OSError: The server cannot be started or the socket cannot be bound.
        TimeoutError: A launched server did not create its socket in time.
    """
    if (connect is None) == (not command):
        raise ValueError("give exactly one of connect= or command=")
    scratch = Path(tempfile.mkdtemp(prefix="hvb-record-"))
    listen = listen or scratch / "proxy.sock"
    headers: list[tuple[str, str]] = []
    process: asyncio.subprocess.Process | None = None
    recorder = Recorder(wait_threshold=wait_threshold)
    stderr = bytearray()
    stopping_ourselves = False
    try:
        if connect is not None:
            upstream = connect
        else:
            target = EmulatorTarget(tuple(command[:1]))
            args = strip_fixed_options(command[1:], flavor=target.flavor)
            headers.append(("args", shlex.join(args)))
            if target.flavor is Flavor.QEMU:
                version = await emulator_version(target)
                if version:
                    headers.append(("recorded-from", version))
            else:
                headers.append(("recorded-from", "hvballoond"))
            upstream = scratch / "qmp.sock"
            recorder.tmpdir = str(scratch)
            argv = build_argv(
                target.resolved(), args, flavor=target.flavor, socket=upstream, tmpdir=scratch
            )
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            stderr_task = asyncio.create_task(_drain(process, stderr))
            if not await _wait_socket(upstream, process, startup_timeout):
                await process.wait()
                await stderr_task
                code = process.returncode
                assert code is not None
                recorder.exited(code, _stderr_lines(stderr, Path(command[0]).name, str(scratch)))
                _write(output, recorder.transcript(headers))
                print(f"record: the server exited with code {code}", file=sys.stderr)
                return 0

        proxy = _Proxy(recorder, listen, upstream, once=once)
        server = await asyncio.start_unix_server(proxy.handle, path=str(listen))
        print(f"record: listening on {listen}", file=sys.stderr, flush=True)
        if ready is not None:
            ready.set()
        ticker = asyncio.create_task(proxy.ticker())
        waiters: list[asyncio.Task[object]] = [asyncio.create_task(_wait_event(proxy.stop))]
        if process is not None:
            waiters.append(asyncio.create_task(_wait_process(process)))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, proxy.stop.set)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            for waiter in waiters:
                waiter.cancel()
        server.close()
        with contextlib.suppress(OSError):
            listen.unlink()
        if process is not None and process.returncode is not None:
            # The server ended by itself: let the sessions see their EOFs first.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_sessions_done(proxy), 1.0)
        for task in list(proxy.sessions):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*proxy.sessions, return_exceptions=True)
        ticker.cancel()
        if process is not None:
            if process.returncode is None:
                stopping_ourselves = True
                await _terminate(process)
            await stderr_task
            if not stopping_ourselves:
                assert process.returncode is not None
                recorder.exited(
                    process.returncode,
                    _stderr_lines(stderr, Path(command[0]).name, str(scratch)),
                )
        if connect is not None:
            recorded_from = _recorded_from_greeting(recorder.greeting)
            if recorded_from:
                headers.append(("recorded-from", recorded_from))
        text = recorder.transcript(headers)
        _write(output, text)
        try:
            parse(text, path=output)
        except TranscriptError as exc:
            print(f"record: warning: the transcript does not parse back: {exc}", file=sys.stderr)
            return 1
        return 0
    finally:
        if process is not None and process.returncode is None:
            await _terminate(process)
        shutil.rmtree(scratch, ignore_errors=True)


async def _wait_event(event: asyncio.Event) -> object:
    return await event.wait()


async def _wait_process(process: asyncio.subprocess.Process) -> object:
    return await process.wait()


async def _sessions_done(proxy: _Proxy) -> None:
    while proxy.sessions:
        await asyncio.sleep(0.01)


async def _drain(process: asyncio.subprocess.Process, into: bytearray) -> None:
    assert process.stderr is not None
    while chunk := await process.stderr.read(65536):
        into += chunk


def _stderr_lines(data: bytearray, program: str, tmpdir: str) -> list[str]:
    text = data.decode("utf-8", "replace").replace(tmpdir, "{tmpdir}")
    return [strip_program_prefix(line, program) for line in text.splitlines() if line.strip()]


async def _wait_socket(path: Path, process: asyncio.subprocess.Process, timeout: float) -> bool:
    """Wait until the server created ``path``; False if the process ended first.

    Only the file is awaited: a probing connection would be a client too.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not path.exists():
        if process.returncode is not None:
            return False
        if loop.time() > deadline:
            raise TimeoutError(f"the server did not open {path} within {timeout} s")
        await asyncio.sleep(0.01)
    return True


async def _terminate(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 3.0)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    print(f"record: wrote {path}", file=sys.stderr)


def build_parser(prog: str = "hvballoond record") -> argparse.ArgumentParser:
    """The ``record`` argument parser."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Record a QMP conversation through a transparent proxy.",
        usage=f"{prog} -o FILE [--listen PATH] [--once] (--connect PATH | -- SERVER_CMD...)",
    )
    parser.add_argument("-o", "--output", required=True, metavar="FILE")
    parser.add_argument("--listen", metavar="PATH", help="socket for clients (default: temporary)")
    parser.add_argument("--connect", metavar="PATH", help="an already running server's QMP socket")
    parser.add_argument(
        "--once", action="store_true", help="stop when the last client connection closes"
    )
    parser.add_argument(
        "--wait-threshold",
        type=float,
        default=1.0,
        metavar="S",
        help="record pauses this long before an event as '@ wait' (1.0)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- SERVER_CMD...")
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "hvballoond record") -> int:
    """Entry point of ``hvballoond record``; returns the exit status."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if (args.connect is None) == (not command):
        parser.error("give either --connect PATH or -- SERVER_CMD...")
    try:
        return asyncio.run(
            record(
                Path(args.output),
                listen=Path(args.listen) if args.listen else None,
                connect=Path(args.connect) if args.connect else None,
                command=command,
                once=args.once,
                wait_threshold=args.wait_threshold,
            )
        )
    except (OSError, TimeoutError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
