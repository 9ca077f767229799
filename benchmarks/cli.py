"""Command line of ``python -m benchmarks``."""

from __future__ import annotations

import argparse
import asyncio
import compileall
import datetime
import json
import os
import shlex
import sys
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import Harness
from benchmarks.machine_info import MachineInfo, collect, load_average
from benchmarks.model import QEMU, Metric, Sample, Scale
from benchmarks.report import (
    RunInfo,
    performance_doc,
    readme_summary,
    result_markdown,
    with_readme_summary,
)
from benchmarks.results import MetricSummary, ResultLog, Results, RunError
from benchmarks.servers import ServerKind, benchmark_environment, find_hvballoond, find_qemu
from benchmarks.targets import Verdict, evaluate, targets_for
from benchmarks.workloads import ALL, Workload, by_name

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results"
DEFAULT_DOC = ROOT / "docs" / "performance.md"
README = ROOT / "README.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark hvballoond side by side with real QEMU (qemu-system-x86_64).",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (under a minute)")
    parser.add_argument(
        "--scale", choices=("full", "quick", "tiny"), help="sizes by name (overrides --quick)"
    )
    parser.add_argument("--only", default="", help="comma-separated workloads to run")
    parser.add_argument("--skip", default="", help="comma-separated workloads to leave out")
    parser.add_argument("--pairs", type=int, help="pairs (and in-process repeats) per workload")
    parser.add_argument("--no-qemu", action="store_true", help="measure hvballoond only")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results directory")
    parser.add_argument("--tag", default="", help="suffix for the result file names")
    parser.add_argument(
        "--docs", type=Path, default=None,
        help=f"write the performance page here (default for complete full runs: {DEFAULT_DOC})",
    )
    parser.add_argument("--no-docs", action="store_true", help="never write the page")
    parser.add_argument(
        "--loop", choices=("uvloop", "asyncio"), default="uvloop",
        help="the client's event loop (uvloop when installed: the cheaper client)",
    )
    parser.add_argument(
        "--render", type=Path, metavar="RESULTS.jsonl",
        help="measure nothing: rebuild the Markdown summary (and page) of a saved run",
    )
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    return parser


@dataclass(slots=True)
class _Run:
    """One run's measurements and what the reports say about it."""

    info: RunInfo
    scale: Scale
    workloads: list[Workload]
    results: Results
    complete: bool
    with_qemu: bool

    def metrics(self) -> list[tuple[str, Metric]]:
        return [(w.name, metric) for w in self.workloads for metric in w.metrics(self.scale)]

    def judge(self) -> tuple[dict[str, MetricSummary], list[Verdict]]:
        summaries = self.results.summarize(self.metrics())
        return summaries, evaluate(targets_for(self.scale), summaries)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _run_loop(coro: Coroutine[Any, Any, None], loop: str) -> None:
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(coro)
            return
    asyncio.run(coro)


def _run_info(
    machine: MachineInfo,
    *,
    date: str,
    mode: str,
    command: str,
    load_start: tuple[float, float, float],
    load_end: tuple[float, float, float],
    duration_s: float,
) -> RunInfo:
    return RunInfo(
        date=date,
        mode=mode,
        machine=machine.one_line(),
        cpu=machine.cpu_model,
        logical_cpus=machine.logical_cpus,
        memory_gib=machine.memory_gib,
        kernel=machine.kernel,
        python=machine.python,
        hvballoond=machine.hvballoond,
        qemu=machine.qemu,
        load_start=load_start,
        load_end=load_end,
        duration_s=duration_s,
        command=command,
    )


def _measure(
    args: argparse.Namespace, workloads: list[Workload], scale: Scale, command: str
) -> tuple[_Run, Path]:
    """Run the workloads, logging results as they come; the run and its JSON-lines file."""
    qemu = None if args.no_qemu else find_qemu()
    servers: list[ServerKind] = [kind for kind in (qemu, find_hvballoond()) if kind is not None]
    # Measure hvballoond as an installed package runs: with its bytecode compiled (pip does
    # that at install; an editable checkout under PYTHONDONTWRITEBYTECODE=1 never would, and
    # every start-up would then compile ~80 modules).
    compileall.compile_dir(str(ROOT / "hvballoond"), quiet=1)
    if qemu is None and not args.no_qemu:
        print("qemu-system-x86_64 not found: measuring hvballoond only", file=sys.stderr)
    machine = collect(qemu.argv[0] if qemu else None)
    complete = len(workloads) == len(ALL)
    date = datetime.date.today().isoformat()
    stem = f"{date}-{scale.name}" + ("" if complete else "-partial")
    stem += f"-{args.tag}" if args.tag else ""
    log = ResultLog(args.out / f"{stem}.jsonl")
    load_start = load_average()
    log.write(
        {
            "type": "run",
            "date": date,
            "mode": scale.name,
            "command": command,
            "machine": machine.as_json(),
            "servers": [
                {"name": kind.name, "argv": [_portable(arg) for arg in kind.argv]}
                for kind in servers
            ],
            "workloads": [workload.name for workload in workloads],
            "load_average": list(load_start),
        }
    )
    print(f"{machine.one_line()}\nload average {load_start}; results → {log.path}")
    results = Results()
    harness = Harness(
        scale=scale,
        servers=servers,
        results=results,
        log=log,
        echo=lambda line: print(line, flush=True),
        env=benchmark_environment(),
        pairs=args.pairs,
    )
    started = time.monotonic()
    try:
        _run_loop(harness.run(workloads), args.loop)
    finally:
        duration = time.monotonic() - started
        load_end = load_average()
        run = _Run(
            _run_info(
                machine, date=date, mode=scale.name, command=command, load_start=load_start,
                load_end=load_end, duration_s=duration,
            ),
            scale, workloads, results, complete, qemu is not None,
        )  # fmt: skip
        summaries, verdicts = run.judge()
        for summary in summaries.values():
            log.write(summary.as_json())
        for verdict in verdicts:
            log.write(
                {
                    "type": "target",
                    "metric": verdict.target.metric,
                    "other": verdict.target.other,
                    "target": verdict.target.text,
                    "value": verdict.value,
                    "status": str(verdict.status),
                }
            )
        log.write({"type": "end", "duration_s": duration, "load_average": list(load_end)})
        log.close()
    return run, log.path


def _triple(values: list[float]) -> tuple[float, float, float]:
    return (values[0], values[1], values[2])


def _load(path: Path) -> _Run:
    """A run back from its JSON-lines file."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    head = next(record for record in records if record["type"] == "run")
    end: dict[str, Any] = next((record for record in records if record["type"] == "end"), {})
    results = Results()
    for record in records:
        if record["type"] == "sample":
            results.samples.append(
                Sample(record["workload"], record["metric"], record["server"], record["pair"],
                       record["value"])
            )
        elif record["type"] == "error":
            results.errors.append(
                RunError(record["workload"], record["server"], record["pair"], record["message"])
            )
    machine = MachineInfo(**head["machine"])
    scale = Scale.named(head["mode"])
    workloads = by_name(head["workloads"])
    load_start = head["load_average"]
    info = _run_info(
        machine,
        date=head["date"],
        mode=head["mode"],
        command=head["command"],
        load_start=_triple(load_start),
        load_end=_triple(end.get("load_average", load_start)),
        duration_s=end.get("duration_s", 0.0),
    )
    with_qemu = any(server["name"] == QEMU for server in head["servers"])
    return _Run(info, scale, workloads, results, len(workloads) == len(ALL), with_qemu)


def _report(run: _Run, summary_path: Path, doc: Path | None) -> None:
    """Write the Markdown summary (and the performance page) and print the summary."""
    summaries, verdicts = run.judge()
    titles = {workload.name: workload.title for workload in run.workloads}
    metrics = run.metrics()
    errors = run.results.errors
    markdown = result_markdown(run.info, titles, metrics, summaries, verdicts, errors)
    summary_path.write_text(markdown, encoding="utf-8")
    print()
    print(markdown)
    print(f"summary: {summary_path}")
    if doc is not None:
        doc.write_text(
            performance_doc(run.info, titles, metrics, summaries, verdicts, errors),
            encoding="utf-8",
        )
        print(f"performance page: {doc}")
        if doc.resolve() == DEFAULT_DOC:
            summary = readme_summary(run.info, titles, metrics, summaries, verdicts)
            README.write_text(
                with_readme_summary(README.read_text(encoding="utf-8"), summary),
                encoding="utf-8",
            )
            print(f"README performance summary: {README}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks (or re-render a saved run); returns the exit status (1 if a run
    failed, 2 for a usage error)."""
    args = _parser().parse_args(argv)
    if args.list:
        for workload in ALL:
            print(f"{workload.name:<14} {workload.title}")
        return 0
    if args.render is not None:
        run = _load(args.render)
        results_path = args.render
    else:
        scale = Scale.named(args.scale or ("quick" if args.quick else "full"))
        try:
            workloads = by_name(_names(args.only)) if args.only else list(ALL)
            skipped = set(_names(args.skip))
            by_name(sorted(skipped))  # reject unknown names
        except KeyError as err:
            print(f"unknown workload(s): {err.args[0]}", file=sys.stderr)
            return 2
        workloads = [workload for workload in workloads if workload.name not in skipped]
        given = list(argv) if argv is not None else sys.argv[1:]
        command = shlex.join(["python", "-m", "benchmarks", *given])
        run, results_path = _measure(args, workloads, scale, command)
        print(f"results: {results_path}")
    doc = args.docs
    if doc is None and run.complete and run.scale.name == "full" and run.with_qemu:
        doc = DEFAULT_DOC
    _report(run, results_path.with_suffix(".md"), None if args.no_docs else doc)
    return 1 if run.results.errors else 0


def _portable(arg: str) -> str:
    """A path inside the checkout, relative to it (results carry no machine paths)."""
    cwd = os.getcwd()
    return os.path.relpath(arg, cwd) if arg.startswith(cwd + os.sep) else arg
