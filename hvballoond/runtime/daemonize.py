"""``-daemonize``: the first process exits 0 only once the daemon listens and wrote its pidfile."""

from __future__ import annotations

import asyncio
import os
import sys

from hvballoond.runtime.daemon import DaemonSettings, StartupFailure, print_failure, serve

__all__ = ["run_daemonized"]


def run_daemonized(settings: DaemonSettings) -> int:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            message = pipe.read()
        if message.startswith(b"OK"):
            return 0
        text = message.decode(errors="replace").removeprefix("ERR")
        if text:
            sys.stderr.write(text)
        else:
            print_failure("the daemon exited during start-up")
        return 1
    os.close(read_end)
    os.setsid()

    def ready(addresses: list[str]) -> None:
        os.write(write_end, b"OK")
        os.close(write_end)
        _detach_stdio()

    try:
        code = asyncio.run(serve(settings, on_ready=ready))
    except StartupFailure as err:
        os.write(write_end, b"ERR" + err.stderr_text().encode())
        os.close(write_end)
        code = 1
    os._exit(code)


def _detach_stdio() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
