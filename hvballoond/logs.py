"""The only place structlog is configured: JSON lines when not on a tty, console otherwise."""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["configure"]


def configure(*, level: str = "info", fmt: str | None = None) -> None:
    """Configure structlog for the daemon (logs go to stderr)."""
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    if fmt is None:
        fmt = "console" if sys.stderr.isatty() else "json"
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
