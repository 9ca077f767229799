"""Deadlines: keyed one-shot timers for sans-I/O code.

The machine never sleeps; it records *when* something should happen and the runtime's pacer
calls :meth:`Machine.advance` once that time has come. A :class:`Deadlines` holds the
pending timers of one time base (host monotonic time or guest virtual time, see
``runstate.py``). Keys make re-arming idempotent: scheduling an existing key replaces it,
like ``timer_mod`` on an already armed QEMU timer.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from hvballoond.clock import Instant
from hvballoond.machine.events import MachineEvent

__all__ = ["Deadlines", "Timer", "TimerCallback"]

#: What a timer runs when it fires: gets the current instant, returns the events it caused.
TimerCallback = Callable[[Instant], list[MachineEvent]]


@dataclass(frozen=True, slots=True)
class Timer:
    """One armed timer."""

    at_ns: int
    key: Hashable
    callback: TimerCallback


@dataclass(order=True, slots=True)
class _Entry:
    at_ns: int
    seq: int
    key: Hashable = field(compare=False)
    callback: TimerCallback = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class Deadlines:
    """Pending one-shot timers, fired in deadline order (ties: scheduling order)."""

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._by_key: dict[Hashable, _Entry] = {}
        self._seq = itertools.count()

    def schedule(self, at_ns: int, key: Hashable, callback: TimerCallback) -> None:
        """Arm (or re-arm) timer ``key`` to fire at ``at_ns``."""
        self.cancel(key)
        entry = _Entry(at_ns, next(self._seq), key, callback)
        self._by_key[key] = entry
        heapq.heappush(self._heap, entry)

    def cancel(self, key: Hashable) -> bool:
        """Disarm ``key``; True if it was armed."""
        entry = self._by_key.pop(key, None)
        if entry is None:
            return False
        entry.cancelled = True
        return True

    def is_armed(self, key: Hashable) -> bool:
        """True if ``key`` is armed."""
        return key in self._by_key

    def deadline_of(self, key: Hashable) -> int | None:
        """When ``key`` fires, or None if it is not armed."""
        entry = self._by_key.get(key)
        return None if entry is None else entry.at_ns

    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)

    def next_deadline(self) -> int | None:
        """The earliest armed deadline, or None."""
        self._drop_cancelled()
        return self._heap[0].at_ns if self._heap else None

    def pop_due(self, now_ns: int) -> Timer | None:
        """Disarm and return the earliest timer due at ``now_ns``, or None.

        Callers loop on this so a callback that arms a new, already-due timer still runs
        in the same ``advance``.
        """
        self._drop_cancelled()
        if not self._heap or self._heap[0].at_ns > now_ns:
            return None
        entry = heapq.heappop(self._heap)
        del self._by_key[entry.key]
        return Timer(entry.at_ns, entry.key, entry.callback)

    def due(self, now_ns: int) -> list[Timer]:
        """Disarm and return every timer due at ``now_ns``, earliest first."""
        out: list[Timer] = []
        while (timer := self.pop_due(now_ns)) is not None:
            out.append(timer)
        return out

    def __len__(self) -> int:
        return len(self._by_key)
