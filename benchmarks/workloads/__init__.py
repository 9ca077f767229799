"""The workloads, in the order they run."""

from __future__ import annotations

from benchmarks.workloads.address_space import AddressSpaceWorkload
from benchmarks.workloads.backends import BackendsWorkload
from benchmarks.workloads.balloon import BalloonWorkload
from benchmarks.workloads.base import InProcessWorkload, QmpWorkload, Workload
from benchmarks.workloads.concurrent import ConcurrentWorkload
from benchmarks.workloads.dimms import DimmsWorkload
from benchmarks.workloads.hv_ranges import HvRangesWorkload
from benchmarks.workloads.pipelined import PipelinedWorkload
from benchmarks.workloads.rtt import RttWorkload
from benchmarks.workloads.schema import SchemaWorkload
from benchmarks.workloads.startup import StartupWorkload
from benchmarks.workloads.validation import ValidationWorkload

__all__ = ["ALL", "InProcessWorkload", "QmpWorkload", "Workload", "by_name"]

ALL: tuple[Workload, ...] = (
    StartupWorkload(),
    RttWorkload(),
    PipelinedWorkload(),
    ConcurrentWorkload(),
    DimmsWorkload(),
    BackendsWorkload(),
    SchemaWorkload(),
    BalloonWorkload(),
    HvRangesWorkload(),
    AddressSpaceWorkload(),
    ValidationWorkload(),
)


def by_name(names: list[str]) -> list[Workload]:
    """The workloads called ``names``, in suite order.

    Raises:
        KeyError: an unknown name.
    """
    known = {workload.name: workload for workload in ALL}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise KeyError(", ".join(unknown))
    return [workload for workload in ALL if workload.name in names]
