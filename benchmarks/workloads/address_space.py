"""Workload 10 (hvballoond only): plugging into a crowded memory-device manager.

:class:`hvballoond.machine.memdev.manager.MemoryDeviceManager` in-process, as
``tests/machine/memdev`` drives it: a machine with ``n - 1`` DIMM-like devices of 2 MiB
plugged, then the ``n``-th device pre-plugged (generic checks and QEMU's first-fit
placement) and plugged, and unplugged again, many times. Compared: the 10th plug against the
10,000th. A second layout removes every other device first, leaving holes too small for a
4 MiB probe, which the placement must skip.
"""

from __future__ import annotations

import statistics
import time

from benchmarks.model import Better, Metric, Scale
from benchmarks.workloads.base import InProcessWorkload
from hvballoond.machine.memdev.device import DeviceRegion, MemoryDevice
from hvballoond.machine.memdev.manager import MemoryDeviceManager
from hvballoond.machine.memory_map import DeviceMemoryRegion
from hvballoond.wire.values import JSONObject

__all__ = ["AddressSpaceWorkload"]

_MiB = 1 << 20
_GiB = 1 << 30


class _Dimm(MemoryDevice):
    """The smallest MemoryDevice that plugs like a pc-dimm."""

    def __init__(self, ident: str, size: int) -> None:
        self.ident = ident
        self.size = size
        self.addr = 0

    def md_id(self) -> str | None:
        return self.ident

    def md_region(self) -> DeviceRegion | None:
        return DeviceRegion(self.size, 2 * _MiB)

    def md_addr(self) -> int:
        return self.addr

    def md_set_addr(self, addr: int) -> None:
        self.addr = addr

    def md_info(self) -> JSONObject:
        return {"type": "dimm", "data": {"id": self.ident, "addr": self.addr}}


def _crowded(plugged: int, *, holes: bool) -> MemoryDeviceManager:
    """A manager with ``plugged`` 2 MiB devices (every other one removed if ``holes``)."""
    size = 2 * _MiB
    span = 4 * (plugged + 1) * size + 64 * _GiB
    manager = MemoryDeviceManager(
        ram_size=_GiB, maxram_size=_GiB + span, region=DeviceMemoryRegion(4 * _GiB, span, 0)
    )
    devices = []
    for n in range(plugged):
        device = _Dimm(f"d{n}", size)
        manager.pre_plug(device, warnings=[])
        manager.plug(device)
        devices.append(device)
    if holes:
        for device in devices[::2]:
            manager.unplug(device)
    return manager


def _plug_ns(manager: MemoryDeviceManager, size: int, probes: int) -> float:
    """Median ns of pre_plug + plug of one more device (unplugged after each probe)."""
    clock = time.perf_counter_ns
    costs: list[int] = []
    for _ in range(probes):
        probe = _Dimm("probe", size)
        started = clock()
        manager.pre_plug(probe, warnings=[])
        manager.plug(probe)
        costs.append(clock() - started)
        manager.unplug(probe)
    return statistics.median(costs)


class AddressSpaceWorkload(InProcessWorkload):
    """The n-th plug for the two sizes of ``scale.address_space_sizes``."""

    name = "address_space"
    title = "Memory-device manager (hvballoond only)"

    def metrics(self, scale: Scale) -> tuple[Metric, ...]:
        small, large = scale.address_space_sizes
        return (
            Metric(f"address_space.plug_{small}_us", f"plug the {small:,}th device", "µs",
                   Better.LOWER),
            Metric(f"address_space.plug_{large}_us", f"plug the {large:,}th device", "µs",
                   Better.LOWER),
            Metric(f"address_space.holes_{small}_us",
                   f"plug past {small // 2:,} too-small holes", "µs", Better.LOWER),
            Metric(f"address_space.holes_{large}_us",
                   f"plug past {large // 2:,} too-small holes", "µs", Better.LOWER),
        )

    def run(self, scale: Scale) -> dict[str, float]:
        values: dict[str, float] = {}
        probes = scale.address_space_probes
        for count in scale.address_space_sizes:
            manager = _crowded(count - 1, holes=False)
            values[f"address_space.plug_{count}_us"] = _plug_ns(manager, 2 * _MiB, probes) / 1e3
            manager = _crowded(count, holes=True)
            values[f"address_space.holes_{count}_us"] = _plug_ns(manager, 4 * _MiB, probes) / 1e3
        return values
