"""Suite-wide set-up: quiet structured logging (tests assert logs with capture_logs)."""

from __future__ import annotations

import logging
import os
from typing import NoReturn

import structlog


def _discard(logger: object, method: str, event_dict: structlog.typing.EventDict) -> NoReturn:
    raise structlog.DropEvent


# Warnings are kept (tests assert them with structlog.testing.capture_logs, which swaps the
# processors) but nothing is rendered: a hostile simulated guest makes many of them.
structlog.configure(
    processors=[_discard],
    wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    cache_logger_on_first_use=False,
)

# Every reply and event the daemon sends is checked against the schema; a mismatch fails.
os.environ["HVB_SCHEMA_CHECK"] = "strict"
