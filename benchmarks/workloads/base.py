"""The two kinds of workload: over QMP against a server process, and in-process."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import ClassVar

from benchmarks.client import QmpClient
from benchmarks.model import Metric, Scale, WorkloadError
from benchmarks.servers import Launch, RunningServer
from benchmarks.stats import percentile

__all__ = [
    "InProcessWorkload",
    "QmpWorkload",
    "Workload",
    "round_trips",
    "throughput_metrics",
    "time_calls_ns",
    "timed",
]


class _WorkloadBase(ABC):
    """What both kinds share: a name, a title and the metrics reported."""

    name: ClassVar[str]
    title: ClassVar[str]

    @abstractmethod
    def metrics(self, scale: Scale) -> tuple[Metric, ...]:
        """The metrics a run reports at ``scale`` (labels name the sizes)."""

    def metric_keys(self, scale: Scale) -> set[str]:
        """The keys of :meth:`metrics`."""
        return {metric.key for metric in self.metrics(scale)}


class QmpWorkload(_WorkloadBase):
    """A workload run against a freshly started server, once per server per pair."""

    @abstractmethod
    def pairs(self, scale: Scale) -> int:
        """How many QEMU/hvballoond pairs to run."""

    def launch(self, scale: Scale) -> Launch:
        """How the server is started (default: ``-m 1G,slots=4,maxmem=16G``, one monitor)."""
        return Launch()

    @abstractmethod
    async def run(self, server: RunningServer, scale: Scale) -> dict[str, float]:
        """Drive ``server`` (just started: connect first) and return metric values by key."""


class InProcessWorkload(_WorkloadBase):
    """A workload on hvballoond's own modules, in this process (no QEMU counterpart)."""

    def repeats(self, scale: Scale) -> int:
        """How many times to run."""
        return scale.inproc_repeats

    @abstractmethod
    def run(self, scale: Scale) -> dict[str, float]:
        """Run once and return metric values by key."""


Workload = QmpWorkload | InProcessWorkload


async def round_trips(client: QmpClient, requests: list[bytes]) -> list[int]:
    """Send ``requests`` one at a time, each after the previous reply; the latencies in ns.

    Raises:
        WorkloadError: a reply was an error.
    """
    clock = time.perf_counter_ns
    latencies: list[int] = []
    append = latencies.append
    execute = client.execute
    for data in requests:
        started = clock()
        await execute(data)
        append(clock() - started)
    return latencies


def throughput_metrics(prefix: str, latencies: list[int]) -> dict[str, float]:
    """``ops_per_s``, ``p50_us`` and ``p99_us`` of sequential round trips."""
    if not latencies:
        raise WorkloadError(f"{prefix}: no round trips")
    total = sum(latencies)
    return {
        f"{prefix}ops_per_s": len(latencies) / (total / 1e9),
        f"{prefix}p50_us": percentile(latencies, 0.50) / 1e3,
        f"{prefix}p99_us": percentile(latencies, 0.99) / 1e3,
    }


def time_calls_ns(call: Callable[[], object], count: int) -> float:
    """Mean wall time of ``call()`` over ``count`` calls, in ns."""
    clock = time.perf_counter_ns
    started = clock()
    for _ in range(count):
        call()
    return (clock() - started) / count


async def timed(awaitable: Awaitable[object]) -> int:
    """Wall time of awaiting ``awaitable``, in ns."""
    started = time.perf_counter_ns()
    await awaitable
    return time.perf_counter_ns() - started
