"""Start a real hvballoond process on a UNIX socket for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

STARTUP_TIMEOUT = 20.0


@dataclass
class Daemon:
    proc: asyncio.subprocess.Process
    socket: Path

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.terminate()
        return await asyncio.wait_for(self.proc.wait(), timeout=10)

    async def stderr_text(self) -> str:
        assert self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode()


async def wait_for_path(path: Path, proc: asyncio.subprocess.Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT
    while not path.exists():
        if proc.returncode is not None:
            raise AssertionError(f"hvballoond exited with {proc.returncode} before listening")
        if loop.time() > deadline:
            raise AssertionError("hvballoond did not create its socket in time")
        # Polling a subprocess's file system side effect: there is no event to wait on.
        await asyncio.sleep(0.02)


async def spawn(args: list[str], **kwargs: Any) -> asyncio.subprocess.Process:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hvballoond", "--log-level", "warning", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, **kwargs,
    )


DaemonFactory = Callable[..., Coroutine[Any, Any, Daemon]]


@pytest.fixture
async def start_daemon(tmp_path: Path) -> AsyncIterator[DaemonFactory]:
    started: list[Daemon] = []

    async def start(*args: str, name: str = "qmp.sock") -> Daemon:
        sock = tmp_path / name
        proc = await spawn([*args, "-qmp", f"unix:{sock},server=on,wait=off"])
        await wait_for_path(sock, proc)
        daemon = Daemon(proc, sock)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.returncode is None:
            daemon.proc.kill()
            await daemon.proc.wait()
