"""Tables and documents made from summaries: the Markdown result file and
``docs/performance.md``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from benchmarks.model import HVBALLOOND, QEMU, Metric
from benchmarks.results import MetricSummary, RunError
from benchmarks.stats import Spread
from benchmarks.targets import Status, Target, Verdict

__all__ = ["RunInfo", "format_value", "markdown_table", "performance_doc", "result_markdown"]

_RATES = {"ops/s", "req/s", "ranges/s"}


def format_value(value: float, unit: str) -> str:
    """``value`` with a sensible number of digits, followed by ``unit``."""
    magnitude = abs(value)
    if unit in _RATES or magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}" if unit else text


def _number(value: float, unit: str) -> str:
    return format_value(value, unit).removesuffix(f" {unit}") if unit else format_value(value, "")


def _spread(found: Spread | None, unit: str) -> str:
    if found is None:
        return "—"
    median = format_value(found.median, unit)
    if found.count == 1:
        return median
    return f"{median} ({_number(found.low, unit)}–{_number(found.high, unit)})"


def _ratio(found: Spread | None) -> str:
    if found is None:
        return "—"
    if found.count == 1:
        return f"{found.median:.3g}×"
    return f"{found.median:.3g}× ({found.low:.3g}–{found.high:.3g})"


def _derived_value(verdict: Verdict) -> str:
    if verdict.value is None:
        return "—"
    if verdict.target.text.endswith("%"):
        return f"{verdict.value * 100:.1f}%"
    return f"{verdict.value:.3g}×"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(
    titles: Mapping[str, str],
    metrics: Sequence[tuple[str, Metric]],
    summaries: Mapping[str, MetricSummary],
    verdicts: Sequence[Verdict],
    *,
    only_targets: bool = False,
) -> str:
    """The results table: one row per metric measured, plus a row per derived target.

    Args:
        titles: workload titles by workload name (table order follows ``metrics``).
        metrics: ``(workload name, metric)`` in display order.
        summaries: by metric key.
        verdicts: the targets' verdicts.
        only_targets: leave out the rows that carry no target.
    """
    direct: dict[str, Verdict] = {}
    derived: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        if verdict.target.is_quotient:
            workload = verdict.target.metric.split(".", 1)[0]
            derived.setdefault(workload, []).append(verdict)
        else:
            direct[verdict.target.metric] = verdict
    lines = [
        "| Workload | Metric | QEMU 10.0.2 median (min–max) | hvballoond median (min–max) "
        "| hvballoond/QEMU (pairs) | Target | Result |",
        "|---|---|---|---|---|---|---|",
    ]
    workloads: list[str] = []
    for workload, _ in metrics:
        if workload not in workloads:
            workloads.append(workload)
    for workload in workloads:
        title = titles.get(workload, workload)
        for owner, metric in metrics:
            summary = summaries.get(metric.key)
            if owner != workload or summary is None:
                continue
            judged = direct.get(metric.key)
            if only_targets and judged is None:
                continue
            cells = [
                title,
                metric.label,
                _spread(summary.servers.get(QEMU), metric.unit),
                _spread(summary.servers.get(HVBALLOOND), metric.unit),
                _ratio(summary.ratio),
                judged.target.text if judged else "",
                f"**{judged.status}**" if judged else "",
            ]
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        for quotient in derived.get(workload, []):
            cells = [
                title,
                quotient.target.label,
                "—",
                _derived_value(quotient),
                "—",
                quotient.target.text,
                f"**{quotient.status}**",
            ]
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _tally(verdicts: Sequence[Verdict]) -> str:
    judged = [v for v in verdicts if v.status is not Status.NA]
    passed = sum(v.status is Status.PASS for v in judged)
    missed = [v.target for v in judged if v.status is Status.MISS]
    text = f"Targets met: **{passed} of {len(judged)}**"
    if len(judged) != len(verdicts):
        text += f" ({len(verdicts) - len(judged)} not measured in this run)"
    if missed:
        text += ". Missed: " + "; ".join(_target_name(target) for target in missed)
    return text + "."


def _target_name(target: Target) -> str:
    return target.label or f"`{target.metric}` {target.text}"


def _pair_details(
    metrics: Sequence[tuple[str, Metric]], summaries: Mapping[str, MetricSummary]
) -> str:
    lines = []
    for _, metric in metrics:
        summary = summaries.get(metric.key)
        if summary is None or not summary.ratios:
            continue
        ratios = ", ".join(f"{ratio:.3g}" for ratio in summary.ratios)
        lines.append(f"- `{metric.key}`: {ratios}")
    return "\n".join(lines) + "\n" if lines else "(no QEMU pairs in this run)\n"


def _errors(errors: Sequence[RunError]) -> str:
    if not errors:
        return ""
    lines = ["", "## Failed runs", ""]
    for error in errors:
        lines.append(
            f"- {error.workload} on {error.server}, pair {error.pair + 1}: "
            f"{error.message[:300]}"
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the documents say about the run itself."""

    date: str
    mode: str
    machine: str
    cpu: str
    logical_cpus: int
    memory_gib: float
    kernel: str
    python: str
    hvballoond: str
    qemu: str | None
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float]
    duration_s: float
    command: str


def result_markdown(
    info: RunInfo,
    titles: Mapping[str, str],
    metrics: Sequence[tuple[str, Metric]],
    summaries: Mapping[str, MetricSummary],
    verdicts: Sequence[Verdict],
    errors: Sequence[RunError],
) -> str:
    """The Markdown summary written next to the JSON-lines results."""
    return (
        f"# Benchmark results, {info.date} ({info.mode})\n\n"
        f"{info.machine}\n\n`{info.command}`, {info.duration_s:.0f} s, load average "
        f"{_load(info.load_start)} → {_load(info.load_end)}\n\n"
        + markdown_table(titles, metrics, summaries, verdicts)
        + "\n"
        + _tally(verdicts)
        + "\n\n## hvballoond/QEMU pair by pair\n\n"
        + _pair_details(metrics, summaries)
        + _errors(errors)
    )


def _load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{value:.2f}" for value in load)


def performance_doc(
    info: RunInfo,
    titles: Mapping[str, str],
    metrics: Sequence[tuple[str, Metric]],
    summaries: Mapping[str, MetricSummary],
    verdicts: Sequence[Verdict],
    errors: Sequence[RunError],
) -> str:
    """``docs/performance.md``: the machine, the method and the results of one run."""
    qemu = info.qemu or "not installed (hvballoond only)"
    load = f"{_load(info.load_start)} at the start, {_load(info.load_end)} at the end"
    return f"""# Performance

This page is generated by `make bench` (`python -m benchmarks`); the numbers below come from
one {info.mode} run on the machine described here. Re-run it to refresh the page.

| | |
|---|---|
| Date | {info.date} |
| CPU | {info.cpu} ({info.logical_cpus} logical CPUs) |
| RAM | {info.memory_gib:.1f} GiB |
| Kernel | Linux {info.kernel} |
| Python | {info.python} |
| hvballoond | {info.hvballoond} |
| Compared with | {qemu} |
| Load average (1/5/15 min) | {load} |
| Duration | {info.duration_s / 60:.1f} min |

## Method

- Both servers get the same command line: `-machine q35 -accel tcg -display none -nodefaults
  -S`, the workload's `-m` and devices, and one `-qmp unix:PATH,server=on,wait=off` per
  monitor (hvballoond ignores `-accel tcg`, `-display` and `-nodefaults`). Every run starts a
  fresh process.
- Runs alternate: QEMU, hvballoond, QEMU, hvballoond, ... Each QEMU run and the hvballoond run
  after it form a *pair*; the hvballoond/QEMU column is the median (and range) of the
  per-pair ratios, so a busy moment on the machine affects both sides of a ratio.
- The client is the same few lines of raw asyncio for both servers (pre-encoded requests,
  replies recognised by their first bytes); wall time is `time.perf_counter_ns`.
- Values are medians over the runs, with the minimum and maximum in brackets. A ratio below 1
  means hvballoond took less time (latencies) or did less (throughputs).
- hv-balloon page ranges, the memory-device manager and argument validation are measured
  in-process on hvballoond's own modules: QEMU cannot run hv-balloon on this machine, and
  the other two have no QEMU counterpart to time separately.
- "Server CPU time" rows read the server's own CPU use (all threads,
  `/proc/PID/task/*/schedstat`) around the measured requests. Unlike wall time they hardly
  depend on how busy the machine is: they show what a request costs each server.
- hvballoond runs in its production configuration: test-only switches such as
  `HVB_SCHEMA_CHECK` are removed from its environment. Its log goes to a file, as QEMU's
  stderr does.
- The machine is shared: the load average above says how busy it was. Wall-time ratios of
  short requests move with it (see the pair-by-pair list); CPU-time ratios much less.

## Reproducing

- `make bench`: this page and the README's summary (about a quarter of an hour here, most of
  it QEMU creating 4,096 backends); `make bench-quick`: small sizes, under a minute, no page.
  hvballoond's bytecode is compiled first, as an installed package has it. Results land in
  `benchmarks/results/` (`DATE-MODE.jsonl`, one record per sample, and `DATE-MODE.md`).
- `python -m benchmarks --only rtt,pipelined --pairs 3` runs a subset;
  `python -m benchmarks --render benchmarks/results/DATE-full.jsonl` rebuilds the tables
  (and, with `--docs docs/performance.md`, this page) from a saved run.
- `python -m benchmarks.profile WORKLOAD` shows where hvballoond's time goes during a
  workload (py-spy sampling; `--profiler cprofile` for exact call counts).

## Results

{markdown_table(titles, metrics, summaries, verdicts)}
{_tally(verdicts)}

### hvballoond/QEMU pair by pair

{_pair_details(metrics, summaries)}{_errors(errors)}"""


README_BEGIN = "<!-- benchmark summary: written by `make bench` (benchmarks/report.py) -->"
README_END = "<!-- end of benchmark summary -->"


def readme_summary(
    info: RunInfo,
    titles: Mapping[str, str],
    metrics: Sequence[tuple[str, Metric]],
    summaries: Mapping[str, MetricSummary],
    verdicts: Sequence[Verdict],
) -> str:
    """The README's generated part of the performance section: the run and its targets."""
    against = "" if info.qemu else "; no QEMU (hvballoond only)"
    return (
        f"Latest {info.mode} run (`{info.command}`, {info.date}, {info.duration_s / 60:.0f} min): "
        f"{info.machine}{against}; load average {_load(info.load_start)} at the start. "
        "The rows that carry a target:\n\n"
        + markdown_table(titles, metrics, summaries, verdicts, only_targets=True)
        + "\n"
        + _tally(verdicts)
        + "\n"
    )


def with_readme_summary(readme: str, summary: str) -> str:
    """``readme`` with the text between :data:`README_BEGIN` and :data:`README_END` replaced.

    Raises:
        ValueError: the markers are missing.
    """
    start = readme.find(README_BEGIN)
    end = readme.find(README_END, start)
    if start < 0 or end < 0:
        raise ValueError("the README has no benchmark summary markers")
    return readme[: start + len(README_BEGIN)] + "\n" + summary + readme[end:]
