"""Workload 3: many requests written at once, distinct ids; time until the last reply."""

from __future__ import annotations

import json
import time

from benchmarks.client import request
from benchmarks.model import Better, Metric, Scale, WorkloadError
from benchmarks.servers import RunningServer
from benchmarks.workloads.base import QmpWorkload, round_trips

__all__ = ["PipelinedWorkload"]


class PipelinedWorkload(QmpWorkload):
    """For each batch size: every ``query-status`` (ids 0..n-1) written in one go; the clock
    stops at the last reply, whose id is checked."""

    name = "pipelined"
    title = "Pipelined requests"

    def pairs(self, scale: Scale) -> int:
        return scale.pairs

    def metrics(self, scale: Scale) -> tuple[Metric, ...]:
        out: list[Metric] = []
        for size in scale.pipelined_sizes:
            out.append(
                Metric(
                    f"pipelined.{size}.ms", f"{size:,} pipelined query-status: last reply",
                    "ms", Better.LOWER,
                )
            )
            out.append(
                Metric(
                    f"pipelined.{size}.req_per_s", f"{size:,} pipelined query-status",
                    "req/s", Better.HIGHER,
                )
            )
            out.append(
                Metric(
                    f"pipelined.{size}.server_cpu_us",
                    f"{size:,} pipelined: server CPU time per request", "µs", Better.LOWER,
                )
            )
        return tuple(out)

    async def run(self, server: RunningServer, scale: Scale) -> dict[str, float]:
        values: dict[str, float] = {}
        client = await server.connect()
        try:
            await client.handshake()
            await round_trips(client, [request("query-status")] * 20)
            for size in scale.pipelined_sizes:
                batch = b"".join(request("query-status", ident=i) for i in range(size))
                cpu = server.cpu_ns()
                started = time.perf_counter_ns()
                client.send(batch)
                last = await client.read_replies(size)
                elapsed = time.perf_counter_ns() - started
                cpu = server.cpu_ns() - cpu
                if json.loads(last).get("id") != size - 1:
                    raise WorkloadError(f"last pipelined reply is {last[:200]!r}")
                values[f"pipelined.{size}.ms"] = elapsed / 1e6
                values[f"pipelined.{size}.req_per_s"] = size / (elapsed / 1e9)
                values[f"pipelined.{size}.server_cpu_us"] = cpu / size / 1e3
        finally:
            await client.close()
        return values
