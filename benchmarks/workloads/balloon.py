"""Workload 8: ``balloon`` and virtio-mem ``requested-size`` round trips."""

from __future__ import annotations

from benchmarks.client import request
from benchmarks.model import Better, Metric, Scale
from benchmarks.servers import Launch, RunningServer
from benchmarks.workloads.base import QmpWorkload, round_trips, throughput_metrics

__all__ = ["BalloonWorkload"]

_MiB = 1 << 20


class BalloonWorkload(QmpWorkload):
    """virtio-balloon-pci and a virtio-mem-pci (hot-plugged first, behind a root port):
    ``balloon`` targets and ``qom-set requested-size`` alternate between two values."""

    name = "balloon"
    title = "Balloon and virtio-mem"

    def pairs(self, scale: Scale) -> int:
        return scale.pairs

    def launch(self, scale: Scale) -> Launch:
        extra = (
            "-device", "virtio-balloon-pci",
            "-device", "pcie-root-port,id=rp1,chassis=1",
            "-object", "memory-backend-ram,id=vmem0,size=4G,reserve=off",
        )  # fmt: skip
        return Launch(extra=extra)

    def metrics(self, scale: Scale) -> tuple[Metric, ...]:
        n = f"{scale.balloon_requests:,}"
        return (
            Metric("balloon.balloon_ops_per_s", f"{n} balloon round trips", "ops/s",
                   Better.HIGHER),
            Metric("balloon.balloon_p50_us", "balloon round trip p50", "µs", Better.LOWER),
            Metric("balloon.balloon_p99_us", "balloon round trip p99", "µs", Better.LOWER),
            Metric("balloon.vmem_ops_per_s", f"{n} qom-set requested-size round trips",
                   "ops/s", Better.HIGHER),
            Metric("balloon.vmem_p50_us", "qom-set requested-size p50", "µs", Better.LOWER),
            Metric("balloon.vmem_p99_us", "qom-set requested-size p99", "µs", Better.LOWER),
        )

    async def run(self, server: RunningServer, scale: Scale) -> dict[str, float]:
        n = scale.balloon_requests
        balloons = [
            request("balloon", {"value": (512 if i % 2 else 768) * _MiB}) for i in range(2)
        ]
        resizes = [
            request(
                "qom-set",
                {"path": "vm0", "property": "requested-size", "value": (2 if i % 2 else 4) * _MiB},
            )
            for i in range(2)
        ]
        client = await server.connect()
        try:
            await client.handshake()
            await client.execute(
                request(
                    "device_add",
                    {"driver": "virtio-mem-pci", "id": "vm0", "memdev": "vmem0", "bus": "rp1"},
                )
            )
            await round_trips(client, balloons * 20)
            balloon = await round_trips(client, balloons * (n // 2))
            await round_trips(client, resizes * 20)
            vmem = await round_trips(client, resizes * (n // 2))
        finally:
            await client.close()
        return throughput_metrics("balloon.balloon_", balloon) | throughput_metrics(
            "balloon.vmem_", vmem
        )
