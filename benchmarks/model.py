"""The vocabulary of the suite: metrics, samples, run sizes and server names."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "HVBALLOOND",
    "QEMU",
    "Better",
    "Metric",
    "Sample",
    "Scale",
    "WorkloadError",
]

# Server names as they appear in results.
QEMU = "qemu"
HVBALLOOND = "hvballoond"


class WorkloadError(RuntimeError):
    """A workload could not complete (a server refused a command, died, or timed out)."""


class Better(StrEnum):
    """Which direction of a metric is an improvement."""

    HIGHER = "higher"
    LOWER = "lower"


@dataclass(frozen=True, slots=True)
class Metric:
    """One number a workload reports.

    Attributes:
        key: stable identifier, ``<workload>.<name>`` (used in results and targets).
        label: what the table shows.
        unit: the unit of every value of the metric (``ops/s``, ``µs``, ``ms``, ``MiB``...).
        better: the direction of improvement.
    """

    key: str
    label: str
    unit: str
    better: Better


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured value: one metric of one run of a workload on one server."""

    workload: str
    metric: str
    server: str
    pair: int
    value: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(f"{self.metric}: non-finite value {self.value!r}")


@dataclass(frozen=True, slots=True)
class Scale:
    """How big and how often: one instance per mode (full, quick, and tiny for the tests).

    The ``*_pairs`` fields are how many QEMU/hvballoond pairs a workload runs; the
    in-process workloads (hvballoond only) repeat ``inproc_repeats`` times.
    """

    name: str
    startup_pairs: int
    pairs: int
    dimm_pairs: int
    backend_pairs: int
    inproc_repeats: int
    rtt_requests: int
    pipelined_sizes: tuple[int, ...]
    concurrent_clients: int
    concurrent_requests: int
    dimms: int
    dimm_checkpoints: tuple[int, ...]
    latency_repeats: int
    backends: int
    schema_queries: int
    balloon_requests: int
    hv_guest_gib: int
    hv_floor_gib: int
    address_space_sizes: tuple[int, int]
    address_space_probes: int
    validation_calls: int

    @classmethod
    def full(cls) -> Scale:
        """The sizes of the issue (``make bench``)."""
        return cls(
            name="full",
            startup_pairs=10,
            pairs=5,
            dimm_pairs=3,
            # QEMU needs about four minutes for 4,096 backends: two pairs are all we can afford.
            backend_pairs=2,
            inproc_repeats=5,
            rtt_requests=5_000,
            pipelined_sizes=(1_000, 20_000),
            concurrent_clients=4,
            concurrent_requests=2_500,
            dimms=256,
            dimm_checkpoints=(0, 16, 64, 256),
            latency_repeats=20,
            backends=4_096,
            schema_queries=30,
            balloon_requests=2_000,
            hv_guest_gib=1024,
            hv_floor_gib=4,
            address_space_sizes=(10, 10_000),
            address_space_probes=400,
            validation_calls=20_000,
        )

    @classmethod
    def quick(cls) -> Scale:
        """Small sizes for development (``make bench-quick``, under a minute)."""
        return cls(
            name="quick",
            startup_pairs=3,
            pairs=2,
            dimm_pairs=2,
            backend_pairs=2,
            inproc_repeats=3,
            rtt_requests=1_000,
            pipelined_sizes=(1_000, 5_000),
            concurrent_clients=4,
            concurrent_requests=500,
            dimms=64,
            dimm_checkpoints=(0, 16, 64),
            latency_repeats=10,
            backends=256,
            schema_queries=10,
            balloon_requests=500,
            hv_guest_gib=64,
            hv_floor_gib=4,
            address_space_sizes=(10, 2_000),
            address_space_probes=200,
            validation_calls=5_000,
        )

    @classmethod
    def tiny(cls) -> Scale:
        """Each workload once at toy sizes: a correctness smoke test, not a measurement."""
        return cls(
            name="tiny",
            startup_pairs=1,
            pairs=1,
            dimm_pairs=1,
            backend_pairs=1,
            inproc_repeats=1,
            rtt_requests=20,
            pipelined_sizes=(10, 50),
            concurrent_clients=4,
            concurrent_requests=10,
            dimms=4,
            dimm_checkpoints=(0, 2, 4),
            latency_repeats=2,
            backends=8,
            schema_queries=2,
            balloon_requests=6,
            hv_guest_gib=6,
            hv_floor_gib=4,
            address_space_sizes=(10, 40),
            address_space_probes=5,
            validation_calls=50,
        )

    @classmethod
    def named(cls, name: str) -> Scale:
        """The scale called ``name`` (``full``, ``quick`` or ``tiny``)."""
        factories = {"full": cls.full, "quick": cls.quick, "tiny": cls.tiny}
        return factories[name]()
