"""Workload 5: hot-plugging pc-dimms; plug latency and query-memory-devices as they add up."""

from __future__ import annotations

import json
import statistics
import time

from benchmarks.client import QmpClient, request
from benchmarks.model import Better, Metric, Scale, WorkloadError
from benchmarks.servers import Launch, RunningServer
from benchmarks.workloads.base import QmpWorkload, round_trips

__all__ = ["DimmsWorkload"]

_DIMM_BYTES = 128 << 20
_EDGE = 16  # plugs compared at the start and at the end


def _edge(scale: Scale) -> int:
    return min(_EDGE, scale.dimms)


class DimmsWorkload(QmpWorkload):
    """Each plug is ``object-add memory-backend-ram`` (128 MiB, reserve off) plus
    ``device_add pc-dimm``; ``query-memory-devices`` is timed at the checkpoints."""

    name = "dimms"
    title = "pc-dimm hot-plug"

    def pairs(self, scale: Scale) -> int:
        return scale.dimm_pairs

    def launch(self, scale: Scale) -> Launch:
        return Launch(memory="1G,slots=256,maxmem=300G")

    def metrics(self, scale: Scale) -> tuple[Metric, ...]:
        edge = _edge(scale)
        out = [
            Metric(
                "dimms.plug_first_ms", f"plug latency, first {edge} DIMMs (median)", "ms",
                Better.LOWER,
            ),
            Metric(
                "dimms.plug_last_ms", f"plug latency, last {edge} of {scale.dimms} (median)",
                "ms", Better.LOWER,
            ),
        ]
        out += [
            Metric(
                f"dimms.qmd_at_{count}_us", f"query-memory-devices with {count} DIMMs", "µs",
                Better.LOWER,
            )
            for count in scale.dimm_checkpoints
        ]
        out.append(
            Metric(
                "dimms.qmd_cpu_us",
                f"server CPU time per query-memory-devices with {scale.dimms} DIMMs", "µs",
                Better.LOWER,
            )
        )
        return tuple(out)

    async def run(self, server: RunningServer, scale: Scale) -> dict[str, float]:
        values: dict[str, float] = {}
        client = await server.connect()
        try:
            await client.handshake()
            plugs: list[int] = []
            if 0 in scale.dimm_checkpoints:
                values["dimms.qmd_at_0_us"] = await self._query(client, 0, scale)
            for n in range(scale.dimms):
                backend = request(
                    "object-add",
                    {
                        "qom-type": "memory-backend-ram",
                        "id": f"dm{n}",
                        "size": _DIMM_BYTES,
                        "reserve": False,
                    },
                )
                dimm = request("device_add", {"driver": "pc-dimm", "id": f"dimm{n}",
                                              "memdev": f"dm{n}"})
                started = time.perf_counter_ns()
                await client.execute(backend)
                await client.execute(dimm)
                plugs.append(time.perf_counter_ns() - started)
                if n + 1 in scale.dimm_checkpoints:
                    values[f"dimms.qmd_at_{n + 1}_us"] = await self._query(client, n + 1, scale)
            query = request("query-memory-devices")
            cpu = server.cpu_ns()
            await round_trips(client, [query] * scale.latency_repeats)
            values["dimms.qmd_cpu_us"] = (server.cpu_ns() - cpu) / scale.latency_repeats / 1e3
        finally:
            await client.close()
        edge = _edge(scale)
        values["dimms.plug_first_ms"] = statistics.median(plugs[:edge]) / 1e6
        values["dimms.plug_last_ms"] = statistics.median(plugs[-edge:]) / 1e6
        return values

    @staticmethod
    async def _query(client: QmpClient, expected: int, scale: Scale) -> float:
        """Median ``query-memory-devices`` latency (µs), after checking the device count."""
        query = request("query-memory-devices")
        listed = json.loads(await client.execute(query))["return"]
        if len(listed) != expected:
            raise WorkloadError(f"query-memory-devices lists {len(listed)}, expected {expected}")
        latencies = await round_trips(client, [query] * scale.latency_repeats)
        return statistics.median(latencies) / 1e3
