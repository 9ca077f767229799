"""Workload 6: thousands of memory backends; creation time and query-memdev latency."""

from __future__ import annotations

import json
import statistics
import time

from benchmarks.client import request
from benchmarks.model import Better, Metric, Scale, WorkloadError
from benchmarks.servers import RunningServer
from benchmarks.workloads.base import QmpWorkload, round_trips

__all__ = ["BackendsWorkload"]

_BACKEND_BYTES = 1 << 20


def _edge(scale: Scale) -> int:
    return max(1, scale.backends // 16)


class BackendsWorkload(QmpWorkload):
    """``object-add memory-backend-ram`` (1 MiB, reserve off) one after another, then
    ``query-memdev`` over all of them."""

    name = "backends"
    title = "Memory backends"

    def pairs(self, scale: Scale) -> int:
        return scale.backend_pairs

    def metrics(self, scale: Scale) -> tuple[Metric, ...]:
        n = scale.backends
        edge = _edge(scale)
        return (
            Metric("backends.create_total_ms", f"create {n:,} backends (total)", "ms",
                   Better.LOWER),
            Metric("backends.create_first_us", f"object-add, first {edge:,} (mean)", "µs",
                   Better.LOWER),
            Metric("backends.create_last_us", f"object-add, last {edge:,} (mean)", "µs",
                   Better.LOWER),
            Metric("backends.create_cpu_us", "server CPU time per object-add", "µs",
                   Better.LOWER),
            Metric("backends.query_memdev_ms", f"query-memdev with {n:,} backends", "ms",
                   Better.LOWER),
            Metric("backends.query_memdev_cpu_ms", "server CPU time per query-memdev", "ms",
                   Better.LOWER),
        )

    async def run(self, server: RunningServer, scale: Scale) -> dict[str, float]:
        n = scale.backends
        creates = [
            request(
                "object-add",
                {"qom-type": "memory-backend-ram", "id": f"be{i}", "size": _BACKEND_BYTES,
                 "reserve": False},
            )
            for i in range(n)
        ]
        query = request("query-memdev")
        client = await server.connect()
        try:
            await client.handshake()
            cpu = server.cpu_ns()
            started = time.perf_counter_ns()
            latencies = await round_trips(client, creates)
            total = time.perf_counter_ns() - started
            create_cpu = server.cpu_ns() - cpu
            listed = json.loads(await client.execute(query))["return"]
            if len(listed) < n:
                raise WorkloadError(f"query-memdev lists {len(listed)} backends, expected {n}")
            cpu = server.cpu_ns()
            queries = await round_trips(client, [query] * scale.latency_repeats)
            query_cpu = server.cpu_ns() - cpu
        finally:
            await client.close()
        edge = _edge(scale)
        return {
            "backends.create_total_ms": total / 1e6,
            "backends.create_first_us": statistics.fmean(latencies[:edge]) / 1e3,
            "backends.create_last_us": statistics.fmean(latencies[-edge:]) / 1e3,
            "backends.create_cpu_us": create_cpu / n / 1e3,
            "backends.query_memdev_ms": statistics.median(queries) / 1e6,
            "backends.query_memdev_cpu_ms": query_cpu / len(queries) / 1e6,
        }
