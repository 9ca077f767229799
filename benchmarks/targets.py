"""The performance targets of the issue and their PASS/MISS verdicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from benchmarks.model import HVBALLOOND, Scale
from benchmarks.results import MetricSummary

__all__ = ["Status", "Target", "TargetKind", "Verdict", "evaluate", "targets_for"]

# The issue sets the creation target at 4,096 backends because QEMU's cost per object-add
# grows with the number of backends; at the quick run's size both sides are dominated by the
# round trip, so a smaller run does not judge it.
CREATION_TARGET_BACKENDS = 4096


class TargetKind(StrEnum):
    """How a target's value is computed and compared."""

    RATIO_AT_LEAST = "ratio_at_least"  # median hvballoond/QEMU pair ratio >= threshold
    RATIO_AT_MOST = "ratio_at_most"
    AT_LEAST = "at_least"  # hvballoond median >= threshold
    AT_MOST = "at_most"
    QUOTIENT_AT_MOST = "quotient_at_most"  # hvballoond median of metric / of other <= threshold


class Status(StrEnum):
    """A target's verdict."""

    PASS = "PASS"
    MISS = "MISS"
    NA = "n/a"  # not measured in this run


@dataclass(frozen=True, slots=True)
class Target:
    """One target.

    Attributes:
        metric: the metric key the target reads.
        kind: the comparison.
        threshold: the bound.
        text: how the target reads in the table (``≥ 1.5× QEMU``).
        other: for :attr:`TargetKind.QUOTIENT_AT_MOST`, the denominator's metric key.
        label: for quotient targets, the row label (they get a row of their own).
    """

    metric: str
    kind: TargetKind
    threshold: float
    text: str
    other: str | None = None
    label: str = ""

    @property
    def is_quotient(self) -> bool:
        """True for targets shown on a derived row of their own."""
        return self.kind is TargetKind.QUOTIENT_AT_MOST


@dataclass(frozen=True, slots=True)
class Verdict:
    """A target with the value it was judged on (None when not measured)."""

    target: Target
    value: float | None
    status: Status


def targets_for(scale: Scale) -> list[Target]:
    """The issue's targets, keyed to the metric names of ``scale``'s sizes."""
    ratio = TargetKind.RATIO_AT_LEAST
    ratio_max = TargetKind.RATIO_AT_MOST
    small, large = scale.address_space_sizes
    out = [
        Target("startup.first_reply_ms", ratio_max, 2.0, "≤ 2× QEMU"),
        Target("startup.rss_mib", ratio_max, 1.0, "≤ 1× QEMU"),
        Target("rtt.ops_per_s", ratio, 1.5, "≥ 1.5× QEMU"),
    ]
    out += [
        Target(f"pipelined.{size}.req_per_s", ratio, 10.0, "≥ 10× QEMU")
        for size in scale.pipelined_sizes
    ]
    out += [
        Target("concurrent.ops_per_s", ratio, 2.0, "≥ 2× QEMU"),
        Target(f"dimms.qmd_at_{max(scale.dimm_checkpoints)}_us", ratio_max, 0.2, "≤ 0.2× QEMU"),
    ]
    if scale.backends >= CREATION_TARGET_BACKENDS:
        out.append(Target("backends.create_total_ms", ratio_max, 0.05, "≤ 0.05× QEMU"))
    out += [
        Target("backends.query_memdev_ms", ratio_max, 0.1, "≤ 0.1× QEMU"),
        Target("schema.median_ms", ratio_max, 0.25, "≤ 0.25× QEMU"),
        Target("hv_ranges.ranges_per_s", TargetKind.AT_LEAST, 1e6, "≥ 1,000,000/s"),
        Target(
            "hv_ranges.peak_mib", TargetKind.QUOTIENT_AT_MOST, 1.5, "≤ 1.5",
            other="hv_ranges.small_pages_peak_mib",
            label="memory follows ranges, not pages: 2 MiB / 4 KiB blocks, same ranges",
        ),
        Target("hv_ranges.contiguous_peak_kib", TargetKind.AT_MOST, 64.0, "≤ 64 KiB"),
        Target(
            f"address_space.plug_{large}_us", TargetKind.QUOTIENT_AT_MOST, 3.0, "≤ 3",
            other=f"address_space.plug_{small}_us",
            label=f"{large:,}th plug / {small:,}th plug",
        ),
        Target(
            "validation.query_status_us", TargetKind.QUOTIENT_AT_MOST, 0.2, "≤ 20%",
            other="rtt.p50_us", label="validation share of the query-status round trip (p50)",
        ),
        Target(
            "validation.balloon_us", TargetKind.QUOTIENT_AT_MOST, 0.2, "≤ 20%",
            other="balloon.balloon_p50_us",
            label="validation share of the balloon round trip (p50)",
        ),
    ]
    return out


def _judge(value: float, kind: TargetKind, threshold: float) -> Status:
    if kind in (TargetKind.RATIO_AT_LEAST, TargetKind.AT_LEAST):
        return Status.PASS if value >= threshold else Status.MISS
    return Status.PASS if value <= threshold else Status.MISS


def evaluate(targets: list[Target], summaries: Mapping[str, MetricSummary]) -> list[Verdict]:
    """Judge every target on the summaries (keyed by metric key)."""
    verdicts: list[Verdict] = []
    for target in targets:
        summary = summaries.get(target.metric)
        value: float | None = None
        if summary is not None:
            if target.kind in (TargetKind.RATIO_AT_LEAST, TargetKind.RATIO_AT_MOST):
                value = summary.ratio.median if summary.ratio is not None else None
            else:
                value = summary.median(HVBALLOOND)
                if target.other is not None and value is not None:
                    other = summaries.get(target.other)
                    denominator = other.median(HVBALLOOND) if other is not None else None
                    value = value / denominator if denominator else None
        status = Status.NA if value is None else _judge(value, target.kind, target.threshold)
        verdicts.append(Verdict(target, value, status))
    return verdicts
