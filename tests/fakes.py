"""Stand-ins shared by tests that run handlers without the runtime."""

from __future__ import annotations

__all__ = ["NullMonitor"]


class NullMonitor:
    """A monitor without sockets (dispatch's MonitorControl); lists the given chardevs."""

    def __init__(self, chardevs: list[str] | None = None) -> None:
        self.chardevs = chardevs or []

    def enable_capabilities(self, capabilities: list[str]) -> None: ...
    def request_quit(self) -> None: ...
    def advance_virtual_clock(self, ns: int) -> None: ...

    def monitor_chardevs(self) -> list[str]:
        return self.chardevs

    def yank_chardev(self, chardev_id: str) -> None: ...
