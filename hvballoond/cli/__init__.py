"""``hvballoond``: a QEMU-compatible command line, plus the ``replay`` and ``record`` tools.

This module imports nothing itself: :func:`main` first turns the garbage collector off, then
imports what the command needs (:mod:`hvballoond.cli.serve` for a VM). Start-up creates
objects that live as long as the process (modules, classes, the machine), so collecting during
start-up only walks them again and again; the daemon freezes them and turns the collector back
on once it serves (:func:`hvballoond.runtime.daemon.serve`).
"""

from __future__ import annotations

import gc
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hvballoond.cli.options import CommandLine
    from hvballoond.runtime.daemon import DaemonSettings

__all__ = ["build_settings", "main"]


def build_settings(line: CommandLine) -> DaemonSettings:
    """Turn a parsed command line into the daemon's settings (:mod:`hvballoond.cli.serve`).

    Raises:
        OptionError: a refused option value (QEMU's message).
    """
    from hvballoond.cli import serve

    return serve.build_settings(line)


def main(argv: list[str] | None = None) -> int:
    """The ``hvballoond`` command: serve a VM, or run the ``replay``/``record`` tools."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "replay":
        from hvballoond.transcripts.replay import main as replay_main

        return replay_main(args[1:])
    if args and args[0] == "record":
        from hvballoond.transcripts.record import main as record_main

        return record_main(args[1:])
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _serve(args)
    finally:
        if collecting:
            gc.enable()  # serving turned it on already; a refused start-up did not


def _serve(args: list[str]) -> int:
    from hvballoond.cli import serve
    from hvballoond.cli.options import OptionError

    try:
        return serve.serve(args)
    except OptionError as err:
        for text in str(err).splitlines():
            print(f"hvballoond: {text}", file=sys.stderr)
        if err.hint:
            print(err.hint, file=sys.stderr)
        return 1
