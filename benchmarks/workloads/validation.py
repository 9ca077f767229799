"""Workload 11 (hvballoond only): what argument validation costs per command."""

from __future__ import annotations

from benchmarks.model import Better, Metric, Scale
from benchmarks.workloads.base import InProcessWorkload, time_calls_ns
from hvballoond.qapi.runtime import validate_arguments
from hvballoond.wire.values import JSONObject

__all__ = ["VALIDATED", "ValidationWorkload"]

# The commands measured and their arguments, as a client sends them.
VALIDATED: dict[str, tuple[str, JSONObject]] = {
    "query_status": ("query-status", {}),
    "balloon": ("balloon", {"value": 1 << 30}),
}


class ValidationWorkload(InProcessWorkload):
    """``hvballoond.qapi.runtime.validate_arguments`` called in a loop (after a warm-up);
    the report sets it against the hvballoond round trip of the same command."""

    name = "validation"
    title = "Argument validation (hvballoond only)"

    def metrics(self, scale: Scale) -> tuple[Metric, ...]:
        return tuple(
            Metric(f"validation.{key}_us", f"validate_arguments({command!r})", "µs",
                   Better.LOWER)
            for key, (command, _) in VALIDATED.items()
        )

    def run(self, scale: Scale) -> dict[str, float]:
        values: dict[str, float] = {}
        for key, (command, arguments) in VALIDATED.items():

            def call(command: str = command, arguments: JSONObject = arguments) -> object:
                return validate_arguments(command, arguments)

            time_calls_ns(call, min(100, scale.validation_calls))
            values[f"validation.{key}_us"] = time_calls_ns(call, scale.validation_calls) / 1e3
        return values
