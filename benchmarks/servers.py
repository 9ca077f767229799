"""Starting and stopping the servers under test (real QEMU and hvballoond).

Both get the same command line: QEMU's common options below, the workload's ``-m`` and
devices, and one ``-qmp unix:...,server=on,wait=off`` per monitor. hvballoond accepts and
ignores ``-accel tcg``, ``-display none`` and ``-nodefaults``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.client import QmpClient
from benchmarks.model import HVBALLOOND, QEMU, WorkloadError

__all__ = [
    "COMMON_ARGS",
    "Launch",
    "RunningServer",
    "ServerKind",
    "benchmark_environment",
    "cpu_time_ns",
    "find_hvballoond",
    "find_qemu",
    "read_memory_kib",
]

COMMON_ARGS: tuple[str, ...] = (
    "-machine", "q35", "-accel", "tcg", "-display", "none", "-nodefaults", "-S",
)  # fmt: skip

# Environment variables that turn on test-only work in hvballoond (the suite's strict schema
# check of every reply): a benchmark measures the production configuration.
_TEST_ONLY_ENV = ("HVB_SCHEMA_CHECK",)


@dataclass(frozen=True, slots=True)
class ServerKind:
    """A server program: its result name and the argv prefix that starts it."""

    name: str
    argv: tuple[str, ...]


def find_qemu() -> ServerKind | None:
    """``qemu-system-x86_64`` on ``PATH``, or None."""
    path = shutil.which("qemu-system-x86_64")
    return ServerKind(QEMU, (path,)) if path else None


def find_hvballoond() -> ServerKind:
    """The ``hvballoond`` console script next to this interpreter (the virtualenv's), else
    ``python -m hvballoond``."""
    script = Path(sys.executable).with_name("hvballoond")
    if script.exists():
        return ServerKind(HVBALLOOND, (str(script),))
    return ServerKind(HVBALLOOND, (sys.executable, "-m", "hvballoond"))


def benchmark_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) without test-only switches."""
    env = dict(os.environ if base is None else base)
    for name in _TEST_ONLY_ENV:
        env.pop(name, None)
    return env


@dataclass(frozen=True, slots=True)
class Launch:
    """What a workload needs started: ``-m`` value, extra arguments, monitor count."""

    memory: str = "1G,slots=4,maxmem=16G"
    extra: tuple[str, ...] = ()
    monitors: int = 1


def cpu_time_ns(pid: int) -> int:
    """CPU time process ``pid`` has used so far, all threads, in ns (``schedstat``).

    Unlike wall time this does not include waiting for a core, so it shows what a request
    costs the server even on a busy machine. Threads that already exited are not counted.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # the thread just exited
    return total


def read_memory_kib(pid: int) -> dict[str, int]:
    """``Rss`` and ``Pss`` (KiB) of process ``pid`` from ``/proc/PID/smaps_rollup``."""
    wanted = {"Rss", "Pss"}
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
        for line in rollup:
            name, _, rest = line.partition(":")
            if name in wanted:
                out[name] = int(rest.split()[0])
    if out.keys() != wanted:
        raise WorkloadError(f"smaps_rollup of {pid} lacks {wanted - out.keys()}")
    return out


@dataclass(slots=True)
class RunningServer:
    """A started server process. Use :meth:`start`, then :meth:`stop` (always).

    Attributes:
        kind: which program.
        process: the child process.
        spawned_ns: ``time.perf_counter_ns()`` just before the process was created.
        sockets: the monitor socket paths, in ``-qmp`` order.
    """

    kind: ServerKind
    process: subprocess.Popen[bytes]
    spawned_ns: int
    sockets: list[str]
    workdir: Path
    argv: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls, kind: ServerKind, launch: Launch, *, env: Mapping[str, str] | None = None
    ) -> RunningServer:
        """Start ``kind`` with the common arguments and ``launch``; returns at once (the
        monitors may not listen yet: :meth:`connect` waits for them)."""
        workdir = Path(tempfile.mkdtemp(prefix="hvb-bench-"))
        sockets = [str(workdir / f"qmp{n}.sock") for n in range(launch.monitors)]
        argv = [*kind.argv, *COMMON_ARGS, "-m", launch.memory, *launch.extra]
        for path in sockets:
            argv += ["-qmp", f"unix:{path},server=on,wait=off"]
        # The server's log goes to a file: a pipe nobody reads would block it once full.
        with open(workdir / "stderr.log", "wb") as log:
            spawned = time.perf_counter_ns()
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=dict(env) if env is not None else None,
                cwd=workdir,
            )
        return cls(kind, process, spawned, sockets, workdir, argv)

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    def cpu_ns(self) -> int:
        """CPU time the server has used so far (see :func:`cpu_time_ns`)."""
        return cpu_time_ns(self.pid)

    def alive(self) -> bool:
        """True while the process runs."""
        return self.process.poll() is None

    def log_tail(self, limit: int = 2000) -> str:
        """The last ``limit`` characters the server wrote on stderr."""
        try:
            text = (self.workdir / "stderr.log").read_text(errors="replace")
        except OSError:
            return ""
        return text[-limit:]

    async def connect(self, monitor: int = 0, *, timeout_s: float = 60.0) -> QmpClient:
        """Connect to monitor number ``monitor`` (waiting until it listens)."""
        try:
            return await QmpClient.connect(
                self.sockets[monitor], timeout_s=timeout_s, alive=self.alive
            )
        except WorkloadError as err:
            raise WorkloadError(f"{err}; {self.kind.name} said: {self.log_tail(600)}") from None

    async def connect_all(self) -> list[QmpClient]:
        """One handshaken client per monitor."""
        clients = []
        for monitor in range(len(self.sockets)):
            client = await self.connect(monitor)
            await client.handshake()
            clients.append(client)
        return clients

    def stop(self, *, timeout_s: float = 15.0) -> None:
        """Terminate the process, wait for it, and remove the work directory."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def describe(self) -> str:
        """The command line, shell-quoted (for reports)."""
        return shlex.join(self.argv)
