"""Collected samples and their per-metric summaries; the JSON-lines result file."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from benchmarks.model import HVBALLOOND, QEMU, Metric, Sample
from benchmarks.stats import Spread, pair_ratios, spread

__all__ = ["MetricSummary", "ResultLog", "Results", "RunError"]


@dataclass(frozen=True, slots=True)
class RunError:
    """A run that failed (its samples are missing)."""

    workload: str
    server: str
    pair: int
    message: str


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """Everything measured for one metric.

    Attributes:
        workload: the workload's name.
        metric: the metric.
        servers: the spread of each server's values, by server name.
        ratios: hvballoond / QEMU for each pair both completed, in pair order.
        ratio: the spread of :attr:`ratios` (None without QEMU).
    """

    workload: str
    metric: Metric
    servers: dict[str, Spread]
    ratios: tuple[float, ...]
    ratio: Spread | None

    def median(self, server: str) -> float | None:
        """The median of ``server``'s values, None if it has none."""
        found = self.servers.get(server)
        return found.median if found is not None else None

    def as_json(self) -> dict[str, Any]:
        """The summary as a JSON object."""
        return {
            "type": "summary",
            "workload": self.workload,
            "metric": self.metric.key,
            "label": self.metric.label,
            "unit": self.metric.unit,
            "better": str(self.metric.better),
            **{name: found.as_json() for name, found in self.servers.items()},
            "ratios": list(self.ratios),
            "ratio": self.ratio.as_json() if self.ratio is not None else None,
        }


class Results:
    """Samples and errors of one benchmark run."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.errors: list[RunError] = []

    def summarize(self, metrics: Iterable[tuple[str, Metric]]) -> dict[str, MetricSummary]:
        """Summaries of the ``(workload, metric)`` pairs that have samples, by metric key
        (in the order given)."""
        by_key: dict[str, dict[str, dict[int, float]]] = {}
        for sample in self.samples:
            by_key.setdefault(sample.metric, {}).setdefault(sample.server, {})[sample.pair] = (
                sample.value
            )
        out: dict[str, MetricSummary] = {}
        for workload, metric in metrics:
            per_server = by_key.get(metric.key)
            if not per_server:
                continue
            ratios: list[float] = []
            if QEMU in per_server and HVBALLOOND in per_server:
                ratios = pair_ratios(per_server[HVBALLOOND], per_server[QEMU])
            out[metric.key] = MetricSummary(
                workload=workload,
                metric=metric,
                servers={
                    name: spread(list(values.values()))
                    for name, values in sorted(per_server.items(), key=lambda item: item[0] != QEMU)
                },
                ratios=tuple(ratios),
                ratio=spread(ratios) if ratios else None,
            )
        return out


class ResultLog:
    """The JSON-lines result file, written as results come in (a crash keeps them)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        """Append one record."""
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def sample(self, sample: Sample, unit: str) -> None:
        """Append a sample record."""
        self.write({"type": "sample", **asdict(sample), "unit": unit})

    def error(self, error: RunError) -> None:
        """Append an error record."""
        self.write({"type": "error", **asdict(error)})

    def close(self) -> None:
        """Close the file."""
        self._file.close()
