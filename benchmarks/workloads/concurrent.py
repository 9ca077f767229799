"""Workload 4: several clients on as many monitors at once; aggregate throughput."""

from __future__ import annotations

import asyncio
import time

from benchmarks.client import QmpClient, request
from benchmarks.model import Better, Metric, Scale
from benchmarks.servers import Launch, RunningServer
from benchmarks.workloads.base import QmpWorkload, round_trips

__all__ = ["ConcurrentWorkload"]


class ConcurrentWorkload(QmpWorkload):
    """``-qmp`` once per client; every client runs sequential ``query-status`` round trips
    at the same time. The clock runs from the common start to the last client's end."""

    name = "concurrent"
    title = "Concurrent monitors"

    def pairs(self, scale: Scale) -> int:
        return scale.pairs

    def launch(self, scale: Scale) -> Launch:
        return Launch(monitors=scale.concurrent_clients)

    def metrics(self, scale: Scale) -> tuple[Metric, ...]:
        label = (
            f"{scale.concurrent_clients} clients × {scale.concurrent_requests:,} query-status"
            " on separate monitors"
        )
        return (
            Metric("concurrent.ops_per_s", label, "ops/s", Better.HIGHER),
            Metric("concurrent.server_cpu_us", "server CPU time per request", "µs", Better.LOWER),
        )

    async def run(self, server: RunningServer, scale: Scale) -> dict[str, float]:
        clients = await server.connect_all()
        query = request("query-status")
        try:
            for client in clients:
                await round_trips(client, [query] * 20)

            async def one(client: QmpClient) -> None:
                await round_trips(client, [query] * scale.concurrent_requests)

            cpu = server.cpu_ns()
            started = time.perf_counter_ns()
            await asyncio.gather(*(one(client) for client in clients))
            elapsed = time.perf_counter_ns() - started
            cpu = server.cpu_ns() - cpu
        finally:
            for client in clients:
                await client.close()
        total = scale.concurrent_requests * len(clients)
        return {
            "concurrent.ops_per_s": total / (elapsed / 1e9),
            "concurrent.server_cpu_us": cpu / total / 1e3,
        }
