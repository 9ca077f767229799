"""The only place structlog is configured: JSON lines when not on a tty, console otherwise.

Log lines written before the daemon serves are held back: if start-up fails, stderr carries
only QEMU's one-line error (managers and transcript replays compare it); once serving, the held
lines are written out.
"""

from __future__ import annotations

import io
import logging
import sys
from typing import TextIO, cast

import structlog

__all__ = ["configure", "discard_startup_logs", "release_startup_logs"]


class _HeldBackStream(io.TextIOBase):
    """A stderr stand-in that holds lines until released."""

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._held: list[str] | None = []

    def write(self, text: str) -> int:
        if self._held is None:
            return self._target.write(text)
        self._held.append(text)
        return len(text)

    def flush(self) -> None:
        if self._held is None:
            self._target.flush()

    def release(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            self._target.write("".join(held))
            self._target.flush()

    def discard(self) -> None:
        self._held = None


_stream: _HeldBackStream | None = None


def _qemu_warnings_to_stderr(
    logger: object, method: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """QEMU prints warn_report() text on stderr as-is; so do we (``qemu.warning`` events)."""
    if event_dict.get("event") == "qemu.warning":
        print(f"hvballoond: warning: {event_dict.get('text', '')}", file=sys.stderr, flush=True)
        raise structlog.DropEvent
    return event_dict


def configure(*, level: str = "info", fmt: str | None = None) -> None:
    """Configure structlog for the daemon (logs go to stderr once start-up succeeded)."""
    global _stream
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    if fmt is None:
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    _stream = _HeldBackStream(sys.stderr)
    structlog.configure(
        processors=[
            _qemu_warnings_to_stderr,
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _stream)),
        cache_logger_on_first_use=True,
    )


def release_startup_logs() -> None:
    """The daemon serves: write the held lines and log directly from now on."""
    if _stream is not None:
        _stream.release()


def discard_startup_logs() -> None:
    """Start-up failed: drop the held lines (stderr carries only the error)."""
    if _stream is not None:
        _stream.discard()
