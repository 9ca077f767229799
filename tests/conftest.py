"""Suite-wide set-up: quiet structured logging (tests assert logs with capture_logs)."""

from __future__ import annotations

import logging
import os

import structlog

structlog.configure(
    processors=[structlog.contextvars.merge_contextvars, structlog.processors.add_log_level,
                structlog.dev.ConsoleRenderer(colors=False)],
    wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR),
    cache_logger_on_first_use=False,
)

# Every reply and event the daemon sends is checked against the schema; a mismatch fails.
os.environ["HVB_SCHEMA_CHECK"] = "strict"
