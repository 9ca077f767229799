"""Runs workloads: QMP workloads alternate QEMU and hvballoond pair by pair.

Every run starts a fresh server process, so one run cannot warm the next, and the two
servers take turns (QEMU, hvballoond, QEMU, hvballoond, ...) so that a slow patch of the
machine (other people's test suites on the shared cores) hits both sides alike. Ratios are
taken within a pair.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from benchmarks.model import HVBALLOOND, Metric, Sample, Scale, WorkloadError
from benchmarks.report import format_value
from benchmarks.results import ResultLog, Results, RunError
from benchmarks.servers import RunningServer, ServerKind
from benchmarks.workloads import InProcessWorkload, QmpWorkload, Workload

__all__ = ["Harness", "run_order", "run_qmp_once"]


def run_order(servers: Sequence[ServerKind], pairs: int) -> list[tuple[int, ServerKind]]:
    """``(pair, server)`` in the order they run: each pair runs every server in turn."""
    return [(pair, kind) for pair in range(pairs) for kind in servers]


async def run_qmp_once(
    workload: QmpWorkload,
    kind: ServerKind,
    scale: Scale,
    *,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 1800.0,
) -> dict[str, float]:
    """Start ``kind``, run ``workload`` on it once, stop it; the metric values.

    Raises:
        WorkloadError: the workload failed, timed out, or reported other metrics than it
            declares.
    """
    server = RunningServer.start(kind, workload.launch(scale), env=env)
    try:
        try:
            values = await asyncio.wait_for(workload.run(server, scale), timeout_s)
        except TimeoutError:
            raise WorkloadError(f"{workload.name} timed out after {timeout_s}s") from None
        except (ConnectionError, OSError) as err:
            raise WorkloadError(f"{err!r}; {kind.name} said: {server.log_tail(600)}") from None
    finally:
        server.stop()
    _check_keys(workload, scale, values)
    return values


def _check_keys(workload: Workload, scale: Scale, values: Mapping[str, float]) -> None:
    expected = workload.metric_keys(scale)
    if values.keys() != expected:
        raise WorkloadError(
            f"{workload.name} reported {sorted(values)}, declares {sorted(expected)}"
        )


class Harness:
    """Runs workloads and records their samples.

    Args:
        scale: sizes and repetition counts.
        servers: the servers to compare, in the order each pair runs them (QEMU first).
        results: where samples and errors are collected.
        log: the JSON-lines file, if any.
        echo: prints one progress line.
        env: the servers' environment.
        pairs: overrides every workload's pair (and repeat) count.
    """

    def __init__(
        self,
        *,
        scale: Scale,
        servers: Sequence[ServerKind],
        results: Results,
        log: ResultLog | None,
        echo: Callable[[str], None],
        env: Mapping[str, str] | None = None,
        pairs: int | None = None,
    ) -> None:
        self.scale = scale
        self.servers = list(servers)
        self.results = results
        self.log = log
        self.echo = echo
        self.env = env
        self.pairs = pairs

    async def run(self, workloads: Sequence[Workload]) -> None:
        """Run ``workloads`` in order."""
        for workload in workloads:
            if isinstance(workload, QmpWorkload):
                await self._run_qmp(workload)
            else:
                self._run_inprocess(workload)

    def _record(self, workload: Workload, server: str, pair: int, values: dict[str, float]) -> None:
        units = {metric.key: metric.unit for metric in workload.metrics(self.scale)}
        for key, value in values.items():
            sample = Sample(workload.name, key, server, pair, value)
            self.results.samples.append(sample)
            if self.log is not None:
                self.log.sample(sample, units[key])

    def _fail(self, workload: Workload, server: str, pair: int, err: Exception) -> None:
        error = RunError(workload.name, server, pair, str(err))
        self.results.errors.append(error)
        if self.log is not None:
            self.log.error(error)
        self.echo(f"    ! {workload.name} on {server}, pair {pair + 1}: {err}")

    async def _run_qmp(self, workload: QmpWorkload) -> None:
        pairs = self.pairs or workload.pairs(self.scale)
        names = " vs ".join(kind.name for kind in self.servers)
        self.echo(f"{workload.name}: {workload.title} — {pairs} pair(s), {names}")
        metrics = workload.metrics(self.scale)
        by_pair: dict[int, dict[str, dict[str, float]]] = {}
        for pair, kind in run_order(self.servers, pairs):
            try:
                values = await run_qmp_once(workload, kind, self.scale, env=self.env)
            except WorkloadError as err:
                self._fail(workload, kind.name, pair, err)
                continue
            self._record(workload, kind.name, pair, values)
            by_pair.setdefault(pair, {})[kind.name] = values
            if kind is self.servers[-1]:
                self._echo_pair(pair, pairs, metrics, by_pair.get(pair, {}))

    def _echo_pair(
        self,
        pair: int,
        pairs: int,
        metrics: Sequence[Metric],
        values: Mapping[str, Mapping[str, float]],
    ) -> None:
        self.echo(f"  pair {pair + 1}/{pairs}")
        for metric in metrics:
            parts = []
            for kind in self.servers:
                value = values.get(kind.name, {}).get(metric.key)
                if value is not None:
                    parts.append(f"{kind.name} {format_value(value, metric.unit)}")
            line = f"    {metric.key:<34} " + " | ".join(parts)
            # The ratio of the pair: the last server (hvballoond) over the first (QEMU).
            base, other = self.servers[0].name, self.servers[-1].name
            denominator = values.get(base, {}).get(metric.key)
            numerator = values.get(other, {}).get(metric.key)
            if base != other and denominator and numerator is not None:
                line += f" | {other}/{base} {numerator / denominator:.3g}"
            self.echo(line)

    def _run_inprocess(self, workload: InProcessWorkload) -> None:
        repeats = self.pairs or workload.repeats(self.scale)
        self.echo(f"{workload.name}: {workload.title} — {repeats} run(s), in-process")
        units = {metric.key: metric.unit for metric in workload.metrics(self.scale)}
        for repeat in range(repeats):
            try:
                values = workload.run(self.scale)
                _check_keys(workload, self.scale, values)
            except WorkloadError as err:
                self._fail(workload, HVBALLOOND, repeat, err)
                continue
            self._record(workload, HVBALLOOND, repeat, values)
            shown = ", ".join(
                f"{key.split('.', 1)[1]} {format_value(value, units[key])}"
                for key, value in values.items()
            )
            self.echo(f"  run {repeat + 1}/{repeats}: {shown}")
