"""Workload 2: sequential ``query-status`` round trips on one connection."""

from __future__ import annotations

from benchmarks.client import request
from benchmarks.model import Better, Metric, Scale
from benchmarks.servers import RunningServer
from benchmarks.workloads.base import QmpWorkload, round_trips, throughput_metrics

__all__ = ["RttWorkload"]

_WARM_UP = 100


class RttWorkload(QmpWorkload):
    """``query-status``, each request sent when the previous reply arrived."""

    name = "rtt"
    title = "Round trips"

    def pairs(self, scale: Scale) -> int:
        return scale.pairs

    def metrics(self, scale: Scale) -> tuple[Metric, ...]:
        n = f"{scale.rtt_requests:,}"
        return (
            Metric("rtt.ops_per_s", f"{n} query-status round trips", "ops/s", Better.HIGHER),
            Metric("rtt.p50_us", "query-status round trip p50", "µs", Better.LOWER),
            Metric("rtt.p99_us", "query-status round trip p99", "µs", Better.LOWER),
            Metric("rtt.server_cpu_us", "server CPU time per query-status", "µs", Better.LOWER),
        )

    async def run(self, server: RunningServer, scale: Scale) -> dict[str, float]:
        client = await server.connect()
        try:
            await client.handshake()
            query = request("query-status")
            await round_trips(client, [query] * min(_WARM_UP, scale.rtt_requests))
            cpu = server.cpu_ns()
            latencies = await round_trips(client, [query] * scale.rtt_requests)
            cpu = server.cpu_ns() - cpu
        finally:
            await client.close()
        return throughput_metrics("rtt.", latencies) | {
            "rtt.server_cpu_us": cpu / scale.rtt_requests / 1e3
        }
