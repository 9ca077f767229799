"""Start a QMP server for a transcript and talk to it over real UNIX sockets.

Raw bytes on purpose (no QMP client library): transcripts send malformed
input verbatim and look at the server's framing.

Targets:

- :class:`EmulatorTarget`: a subprocess per transcript (``hvballoond`` or
  ``qemu-system-x86_64``) started with the transcript's ``args`` plus
  ``-display none -nodefaults -S -qmp unix:SOCK,server=on,wait=off``.
- :class:`SocketTarget`: a server that is already running.
- :class:`InProcessTarget`: hvballoond served from this process's event loop on its virtual
  clock (fast: no process start-up, no real waiting), for the test suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import re
import shlex
import shutil
import signal
import sys
import tempfile
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from hvballoond.transcripts.compare import Received, is_reply
from hvballoond.transcripts.format import Transcript, loads_json
from hvballoond.wire.values import JSONValue

__all__ = [
    "EOF",
    "Connection",
    "EmulatorTarget",
    "Eof",
    "ExitStatus",
    "Flavor",
    "InProcessTarget",
    "ServerExited",
    "ServerSession",
    "SocketTarget",
    "Target",
    "build_argv",
    "emulator_version",
    "parse_emulator",
    "server_argv",
    "strip_fixed_options",
    "strip_program_prefix",
]

# Options every replay adds (docs/transcript-format.md "args").
FIXED_OPTIONS = ("-display", "none", "-nodefaults", "-S")
_PREFIX_RE = re.compile(r"^(?:qemu-system-[A-Za-z0-9_-]+|hvballoond): ")
_TERMINATE_GRACE = 3.0


class Flavor(enum.StrEnum):
    """Which kind of server an emulator command starts."""

    QEMU = "qemu"
    HVBALLOOND = "hvballoond"


@dataclass(frozen=True, slots=True)
class EmulatorTarget:
    """Start one server process per transcript.

    Attributes:
        command: The program and its leading arguments, e.g.
            ``("qemu-system-x86_64",)`` or ``(".venv/bin/python", "-m", "hvballoond")``.
    """

    command: tuple[str, ...] = ("hvballoond",)

    @property
    def flavor(self) -> Flavor:
        """QEMU when the program is a ``qemu-system-*`` binary, else hvballoond."""
        return Flavor.QEMU if "qemu-system" in Path(self.command[0]).name else Flavor.HVBALLOOND

    def resolved(self) -> tuple[str, ...]:
        """The command with ``hvballoond`` resolved even outside an activated venv."""
        if self.command == ("hvballoond",) and shutil.which("hvballoond") is None:
            sibling = Path(sys.executable).with_name("hvballoond")
            if sibling.exists():
                return (str(sibling),)
            return (sys.executable, "-m", "hvballoond")
        return self.command

    def describe(self) -> str:
        return shlex.join(self.command)


@dataclass(frozen=True, slots=True)
class SocketTarget:
    """Talk to an already running server (one fresh connection per transcript).

    Attributes:
        path: The server's QMP UNIX socket.
        virtual_clock: The server is hvballoond with ``--virtual-clock``:
            ``@ wait`` advances its clock instead of sleeping.
    """

    path: Path
    virtual_clock: bool = False

    def describe(self) -> str:
        return f"socket {self.path}"


@dataclass(frozen=True, slots=True)
class InProcessTarget:
    """Run hvballoond inside this process's event loop, one daemon per transcript.

    The daemon always runs on its virtual clock, so ``@ wait`` costs no real time.
    """

    def describe(self) -> str:
        return "hvballoond (in-process, virtual clock)"


Target = EmulatorTarget | SocketTarget | InProcessTarget


def parse_emulator(spec: str) -> EmulatorTarget:
    """An :class:`EmulatorTarget` from a shell-quoted command (``--emulator``)."""
    command = tuple(shlex.split(spec))
    if not command:
        raise ValueError("empty emulator command")
    return EmulatorTarget(command)


def build_argv(
    command: Sequence[str],
    args: Sequence[str],
    *,
    flavor: Flavor,
    socket: Path,
    tmpdir: Path,
    virtual_clock: bool = False,
) -> list[str]:
    """``command`` + ``args`` (``{tmpdir}`` substituted) + the options every run adds.

    Added: ``-display none -nodefaults -S``; for QEMU ``-accel tcg`` unless
    ``args`` choose an accelerator; for hvballoond ``--virtual-clock`` when
    asked; and last ``-qmp unix:SOCKET,server=on,wait=off``.
    """
    args = [a.replace("{tmpdir}", str(tmpdir)) for a in args]
    argv = [*command, *args, *FIXED_OPTIONS]
    if flavor is Flavor.QEMU:
        if not any(a in ("-accel", "--accel") or "accel=" in a for a in args):
            argv += ["-accel", "tcg"]
    elif virtual_clock:
        argv.append("--virtual-clock")
    argv += ["-qmp", f"unix:{socket},server=on,wait=off"]
    return argv


def strip_fixed_options(args: Sequence[str], *, flavor: Flavor) -> list[str]:
    """Remove what :func:`build_argv` adds anyway (for a ``# args:`` header)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        pair = tuple(args[i : i + 2])
        if pair == ("-display", "none") or (flavor is Flavor.QEMU and pair == ("-accel", "tcg")):
            i += 2
            continue
        clock = flavor is Flavor.HVBALLOOND and arg == "--virtual-clock"
        if arg in ("-nodefaults", "-S") or clock:
            i += 1
            continue
        out.append(arg)
        i += 1
    return out


def recorded_package(transcript: Transcript) -> str | None:
    """The greeting's ``package`` as recorded (the first ``<-`` of the transcript), if any.

    hvballoond is started with ``--package`` set to it, so ``query-version`` and
    ``info version`` replay against a recording made from another build.
    """
    for step in transcript.steps:
        for expected in step.expected:
            value = expected.value
            if isinstance(value, dict) and isinstance(value.get("QMP"), dict):
                version = value["QMP"].get("version")  # type: ignore[union-attr]
                if isinstance(version, dict) and isinstance(version.get("package"), str):
                    return str(version["package"])
            return None
    return None


def server_argv(
    target: EmulatorTarget, transcript: Transcript, *, tmpdir: Path, socket: Path
) -> list[str]:
    """The full command line that starts the server for ``transcript``."""
    argv = build_argv(
        target.resolved(),
        transcript.args,
        flavor=target.flavor,
        socket=socket,
        tmpdir=tmpdir,
        virtual_clock=transcript.virtual_clock,
    )
    package = recorded_package(transcript)
    if target.flavor is Flavor.HVBALLOOND and package is not None:
        argv[-2:-2] = ["--package", package]
    return argv


async def emulator_version(target: EmulatorTarget) -> str | None:
    """The first line of ``CMD --version`` (for ``# recorded-from:``)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *target.resolved(),
            "--version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return None
    out, _ = await proc.communicate()
    lines = out.decode("utf-8", "replace").splitlines()
    return lines[0].strip() if lines and proc.returncode == 0 else None


def strip_program_prefix(line: str, program: str | None = None) -> str:
    """Remove ``qemu-system-x86_64: `` / ``hvballoond: `` (or ``program: ``)."""
    if program and line.startswith(program + ": "):
        return line[len(program) + 2 :]
    return _PREFIX_RE.sub("", line, count=1)


# --- connections -----------------------------------------------------------------


class Eof:
    """The server closed the connection."""

    _instance: Eof | None = None

    def __new__(cls) -> Eof:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EOF"


EOF = Eof()


class Connection:
    """One client connection: bytes out, server messages (lines) in.

    A background task splits the server's output into lines as they come, so
    the arrival order is kept even while nobody is reading.
    """

    def __init__(
        self,
        name: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        tmpdir: Path | None = None,
    ) -> None:
        self.name = name
        self.greeted = False
        self.closed = False
        self._reader = reader
        self._writer = writer
        self._tmpdir = str(tmpdir) if tmpdir is not None else None
        self._items: deque[Received] = deque()
        self._eof = False
        self._changed = asyncio.Event()
        self._private: dict[str, asyncio.Future[JSONValue]] = {}
        self._task = asyncio.create_task(self._read_loop(), name=f"qmp-reader-{name}")

    @property
    def at_eof(self) -> bool:
        """The server closed the connection and every message was taken."""
        return self._eof and not self._items

    def _deliver(self, line: bytes, *, crlf: bool) -> None:
        text = line.decode("utf-8", "replace")
        if self._tmpdir:
            text = text.replace(self._tmpdir, "{tmpdir}")
        try:
            value = loads_json(text)
        except ValueError:
            self._items.append(Received(text, None, valid=False, crlf=crlf))
            self._changed.set()
            return
        if isinstance(value, dict):
            if "QMP" in value:
                self.greeted = True
            ident = value.get("id")
            if isinstance(ident, str) and ident in self._private and is_reply(value):
                future = self._private.pop(ident)
                if not future.done():
                    future.set_result(value)
                return
        self._items.append(Received(text, value, crlf=crlf))
        self._changed.set()

    async def _read_loop(self) -> None:
        buf = b""
        try:
            while True:
                chunk = await self._reader.read(65536)
                if not chunk:
                    break
                buf += chunk
                while (end := buf.find(b"\n")) >= 0:
                    line, buf = buf[:end], buf[end + 1 :]
                    crlf = line.endswith(b"\r")
                    self._deliver(line[:-1] if crlf else line, crlf=crlf)
        except OSError:
            pass
        finally:
            if buf:
                self._deliver(buf, crlf=False)
            self._eof = True
            self._changed.set()
            for future in self._private.values():
                if not future.done():
                    future.set_exception(ConnectionResetError("server closed the connection"))
            self._private.clear()

    async def send(self, data: bytes) -> None:
        """Write client bytes (``{tmpdir}`` replaced by the scratch folder).

        Raises:
            ConnectionError: The server is gone.
        """
        if self._tmpdir:
            data = data.replace(b"{tmpdir}", self._tmpdir.encode())
        self._writer.write(data)
        await self._writer.drain()

    async def next(self, timeout: float) -> Received | Eof | None:
        """The next server message, :data:`EOF`, or ``None`` after ``timeout`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._items:
            if self._eof:
                return EOF
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return None
        return self._items.popleft()

    def pending(self) -> list[Received]:
        """Take every message that has arrived and not been read."""
        items = list(self._items)
        self._items.clear()
        return items

    def unread(self, item: Received) -> None:
        """Put a message back in front of the others."""
        self._items.appendleft(item)
        self._changed.set()

    async def request_private(self, payload: JSONValue, ident: str, timeout: float) -> JSONValue:
        """Send a request whose reply (matched by ``id``) is kept out of the stream.

        Raises:
            TimeoutError: No reply within ``timeout``.
            ConnectionError: The server is gone.
        """
        future: asyncio.Future[JSONValue] = asyncio.get_running_loop().create_future()
        self._private[ident] = future
        await self.send(json.dumps(payload).encode() + b"\n")
        return await asyncio.wait_for(future, timeout)

    async def close(self) -> None:
        """Close the client side."""
        if self.closed:
            return
        self.closed = True
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


# --- the server ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExitStatus:
    """How the server process ended.

    Attributes:
        code: The exit status (negative: killed by that signal).
        stderr: Its stderr lines, program prefix removed, ``{tmpdir}`` restored.
    """

    code: int
    stderr: tuple[str, ...]

    def describe(self) -> str:
        return f"exited with code {self.code}"


class ServerExited(Exception):
    """The server process ended before it could be talked to."""

    def __init__(self, status: ExitStatus) -> None:
        self.status = status
        super().__init__(f"server {status.describe()}")


class ServerSession:
    """The server side of one replay: process (if any), scratch folder, connections.

    Use as ``async with ServerSession(target, transcript) as server:``.
    """

    def __init__(
        self,
        target: Target,
        transcript: Transcript,
        *,
        startup_timeout: float = 10.0,
    ) -> None:
        self.target = target
        self.transcript = transcript
        self.startup_timeout = startup_timeout
        self.tmpdir = Path(tempfile.mkdtemp(prefix="hvb-replay-"))
        if isinstance(target, SocketTarget):
            self.socket_path = target.path
        else:
            self.socket_path = self.tmpdir / "qmp.sock"
        self.process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[int] | None = None
        self._ready = asyncio.Event()
        self.argv: list[str] = []
        self.connections: dict[str, Connection] = {}
        self._stderr = bytearray()
        self._stderr_task: asyncio.Task[None] | None = None
        self._status: ExitStatus | None = None

    @property
    def virtual_clock(self) -> bool:
        """Whether ``@ wait`` advances the server's clock instead of sleeping."""
        if isinstance(self.target, SocketTarget):
            return self.target.virtual_clock
        if isinstance(self.target, InProcessTarget):
            return True
        return self.target.flavor is Flavor.HVBALLOOND and self.transcript.virtual_clock

    async def __aenter__(self) -> ServerSession:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Start the server process (emulator targets only).

        Raises:
            OSError: The program cannot be started.
        """
        if isinstance(self.target, InProcessTarget):
            self._start_in_process()
            return
        if not isinstance(self.target, EmulatorTarget):
            return
        self.argv = server_argv(
            self.target, self.transcript, tmpdir=self.tmpdir, socket=self.socket_path
        )
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.tmpdir,
        )
        self._stderr_task = asyncio.create_task(self._drain_stderr())

    def _start_in_process(self) -> None:
        from hvballoond.cli import build_settings
        from hvballoond.cli.options import OptionError, parse_command_line
        from hvballoond.runtime.daemon import StartupFailure, serve

        self.argv = build_argv(
            (), self.transcript.args, flavor=Flavor.HVBALLOOND, socket=self.socket_path,
            tmpdir=self.tmpdir, virtual_clock=True,
        )
        package = recorded_package(self.transcript)
        if package is not None:
            self.argv[-2:-2] = ["--package", package]

        async def run() -> int:  # the daemon's main, with `hvballoond`'s exit status
            try:
                settings = build_settings(parse_command_line(self.argv))
                return await serve(
                    settings, on_ready=lambda _addresses: self._ready.set(), handle_signals=False
                )
            except OptionError as err:
                self._stderr += StartupFailure(str(err), err.hint).stderr_text().encode()
            except StartupFailure as err:
                self._stderr += err.stderr_text().encode()
            return 1

        self._task = asyncio.create_task(run())

    async def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while chunk := await self.process.stderr.read(65536):
            self._stderr += chunk

    def _program(self) -> str | None:
        if isinstance(self.target, EmulatorTarget):
            return Path(self.target.command[0]).name
        if isinstance(self.target, InProcessTarget):
            return "hvballoond"
        return None

    def stderr_lines(self) -> tuple[str, ...]:
        """What the server wrote on stderr so far, prefix stripped."""
        text = self._stderr.decode("utf-8", "replace").replace(str(self.tmpdir), "{tmpdir}")
        program = self._program()
        lines = [strip_program_prefix(line, program) for line in text.splitlines()]
        while lines and not lines[-1].strip():
            lines.pop()
        return tuple(lines)

    @property
    def exited(self) -> bool:
        """The server process has ended."""
        if self._task is not None:
            return self._task.done()
        return self.process is not None and self.process.returncode is not None

    async def wait_exit(self, timeout: float) -> ExitStatus | None:
        """Wait for the server process to end; ``None`` if it is still running."""
        if self._task is not None:
            if self._status is None:
                done, _ = await asyncio.wait({self._task}, timeout=timeout)
                if not done:
                    return None
                self._status = ExitStatus(self._task.result(), self.stderr_lines())
            return self._status
        if self.process is None:
            return None
        if self._status is None:
            try:
                code = await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                return None
            if self._stderr_task is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._stderr_task), 2.0)
            self._status = ExitStatus(code, self.stderr_lines())
        return self._status

    async def connect(self, name: str) -> Connection:
        """Open a connection to the server's QMP socket.

        While the server is starting, retry until the socket accepts.

        Raises:
            ServerExited: The process ended first.
            TimeoutError: The socket did not accept in time.
            OSError: The socket does not accept (socket targets).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.startup_timeout
        if self._task is not None:
            ready = asyncio.ensure_future(self._ready.wait())
            await asyncio.wait({ready, self._task}, timeout=self.startup_timeout,
                               return_when=asyncio.FIRST_COMPLETED)
            ready.cancel()
            if self._task.done():
                status = await self.wait_exit(0)
                assert status is not None
                raise ServerExited(status)
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(str(self.socket_path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if self.process is None:
                    raise
                if self.process.returncode is not None:
                    status = await self.wait_exit(1.0)
                    assert status is not None
                    raise ServerExited(status) from None
                if loop.time() > deadline:
                    raise TimeoutError(
                        f"the server did not open {self.socket_path} "
                        f"within {self.startup_timeout} s"
                    ) from None
                await asyncio.sleep(0.01)
        conn = Connection(name, reader, writer, tmpdir=self.tmpdir)
        self.connections[name] = conn
        return conn

    async def close(self) -> None:
        """Close every connection, stop the process, remove the scratch folder."""
        for conn in self.connections.values():
            await conn.close()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), _TERMINATE_GRACE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        if self._stderr_task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._stderr_task, 2.0)
        shutil.rmtree(self.tmpdir, ignore_errors=True)
