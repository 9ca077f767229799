"""Workload 7: query-qmp-schema latency."""

from __future__ import annotations

import statistics
import time

from benchmarks.client import request
from benchmarks.model import Better, Metric, Scale
from benchmarks.servers import RunningServer
from benchmarks.workloads.base import QmpWorkload, round_trips

__all__ = ["SchemaWorkload"]


class SchemaWorkload(QmpWorkload):
    """The first ``query-qmp-schema`` (cold) and the median of the following ones."""

    name = "schema"
    title = "Schema introspection"

    def pairs(self, scale: Scale) -> int:
        return scale.pairs

    def metrics(self, scale: Scale) -> tuple[Metric, ...]:
        return (
            Metric("schema.first_ms", "first query-qmp-schema", "ms", Better.LOWER),
            Metric(
                "schema.median_ms", f"query-qmp-schema (median of {scale.schema_queries})",
                "ms", Better.LOWER,
            ),
            Metric("schema.cpu_ms", "server CPU time per query-qmp-schema", "ms", Better.LOWER),
            Metric("schema.reply_kib", "query-qmp-schema reply size", "KiB", Better.LOWER),
        )

    async def run(self, server: RunningServer, scale: Scale) -> dict[str, float]:
        query = request("query-qmp-schema")
        client = await server.connect()
        try:
            await client.handshake()
            started = time.perf_counter_ns()
            reply = await client.execute(query)
            first = time.perf_counter_ns() - started
            cpu = server.cpu_ns()
            latencies = await round_trips(client, [query] * scale.schema_queries)
            cpu = server.cpu_ns() - cpu
        finally:
            await client.close()
        return {
            "schema.first_ms": first / 1e6,
            "schema.median_ms": statistics.median(latencies) / 1e6,
            "schema.cpu_ms": cpu / scale.schema_queries / 1e6,
            "schema.reply_kib": len(reply) / 1024,
        }
