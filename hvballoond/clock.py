"""Time as a value: the only place that reads the host clock.

Everything below ``runtime/`` receives an :class:`Instant` instead of reading time,
so tests and transcript replays drive it with a :class:`FakeClock`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

__all__ = ["NS_PER_MS", "NS_PER_S", "Clock", "FakeClock", "Instant", "SystemClock"]

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Instant:
    """A moment: ``mono_ns`` drives timers, ``wall_ns`` only stamps QMP events."""

    mono_ns: int
    wall_ns: int


class Clock(Protocol):
    def now(self) -> Instant: ...


class SystemClock:
    """The host's clocks."""

    def now(self) -> Instant:
        return Instant(time.monotonic_ns(), time.time_ns())


@dataclass(slots=True)
class FakeClock:
    """A clock that moves only when told to (tests, ``--virtual-clock``)."""

    mono_ns: int = 0
    epoch_ns: int = 1_700_000_000 * NS_PER_S

    def now(self) -> Instant:
        return Instant(self.mono_ns, self.epoch_ns + self.mono_ns)

    def advance(self, ns: int) -> None:
        if ns < 0:
            raise ValueError("a clock cannot go backwards")
        self.mono_ns += ns
