"""Interop tests start real daemons with the runtime tests' fixture."""

from tests.runtime.conftest import start_daemon

__all__ = ["start_daemon"]
