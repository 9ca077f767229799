"""Small, dependency-free statistics: medians, spreads, percentiles and pair ratios."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Spread", "pair_ratios", "percentile", "spread"]


@dataclass(frozen=True, slots=True)
class Spread:
    """Median, minimum and maximum of a set of values, and how many there were."""

    median: float
    low: float
    high: float
    count: int

    def as_json(self) -> dict[str, float | int]:
        """The spread as a JSON object."""
        return {"median": self.median, "min": self.low, "max": self.high, "n": self.count}


def spread(values: Sequence[float]) -> Spread:
    """The :class:`Spread` of ``values`` (which must not be empty)."""
    if not values:
        raise ValueError("no values")
    return Spread(statistics.median(values), min(values), max(values), len(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in (0, 1]) of ``values``.

    Nearest rank returns an observed value, which is what a latency percentile should be.
    """
    if not values:
        raise ValueError("no values")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction {fraction} outside (0, 1]")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil(n * fraction), at least 1
    return ordered[int(rank) - 1]


def pair_ratios(
    numerators: dict[int, float], denominators: dict[int, float]
) -> list[float]:
    """``numerator / denominator`` for every pair index present on both sides, in pair order.

    Pairs whose denominator is zero are left out (a ratio would be meaningless).
    """
    return [
        numerators[pair] / denominators[pair]
        for pair in sorted(numerators.keys() & denominators.keys())
        if denominators[pair] != 0
    ]
