"""Workload 1: start-up to greeting and to the first reply, and memory after the greeting."""

from __future__ import annotations

import time

from benchmarks.model import Better, Metric, Scale
from benchmarks.servers import RunningServer, read_memory_kib
from benchmarks.workloads.base import QmpWorkload

__all__ = ["StartupWorkload"]

_CAPABILITIES = b'{"execute":"qmp_capabilities"}\n'


class StartupWorkload(QmpWorkload):
    """Process start to greeting, to the ``qmp_capabilities`` reply; RSS/PSS at the greeting.

    The clock starts just before the process is created and the client polls the socket
    every 0.5 ms until it listens. Memory is read from ``/proc/PID/smaps_rollup`` right after
    the greeting, and the time that read takes is left out of "first reply".
    """

    name = "startup"
    title = "Start-up"

    def pairs(self, scale: Scale) -> int:
        return scale.startup_pairs

    def metrics(self, scale: Scale) -> tuple[Metric, ...]:
        return (
            Metric("startup.greeting_ms", "process start → greeting", "ms", Better.LOWER),
            Metric(
                "startup.first_reply_ms", "process start → first reply (qmp_capabilities)",
                "ms", Better.LOWER,
            ),
            Metric("startup.cpu_ms", "server CPU time until the greeting", "ms", Better.LOWER),
            Metric("startup.rss_mib", "RSS after the greeting", "MiB", Better.LOWER),
            Metric("startup.pss_mib", "PSS after the greeting", "MiB", Better.LOWER),
        )

    async def run(self, server: RunningServer, scale: Scale) -> dict[str, float]:
        client = await server.connect()
        try:
            await client.greeting()
            greeted = time.perf_counter_ns()
            cpu = server.cpu_ns()
            memory = read_memory_kib(server.pid)
            sent = time.perf_counter_ns()
            await client.execute(_CAPABILITIES)
            answered = time.perf_counter_ns()
        finally:
            await client.close()
        return {
            "startup.greeting_ms": (greeted - server.spawned_ns) / 1e6,
            "startup.first_reply_ms": (greeted - server.spawned_ns + answered - sent) / 1e6,
            "startup.cpu_ms": cpu / 1e6,
            "startup.rss_mib": memory["Rss"] / 1024,
            "startup.pss_mib": memory["Pss"] / 1024,
        }
