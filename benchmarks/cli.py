"""Command line of ``python -m benchmarks``."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import shlex
import sys
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import Harness
from benchmarks.machine_info import collect, load_average
from benchmarks.model import Metric, Scale
from benchmarks.report import RunInfo, performance_doc, result_markdown
from benchmarks.results import ResultLog, Results
from benchmarks.servers import ServerKind, benchmark_environment, find_hvballoond, find_qemu
from benchmarks.targets import evaluate, targets_for
from benchmarks.workloads import ALL, by_name

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results"
DEFAULT_DOC = ROOT / "docs" / "performance.md"


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
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    return parser


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _run(coro: Coroutine[Any, Any, None], loop: str) -> None:
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(coro)
            return
    asyncio.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; returns the exit status (1 if a run failed)."""
    args = _parser().parse_args(argv)
    if args.list:
        for workload in ALL:
            print(f"{workload.name:<14} {workload.title}")
        return 0
    scale = Scale.named(args.scale or ("quick" if args.quick else "full"))
    try:
        workloads = by_name(_names(args.only)) if args.only else list(ALL)
        skipped = set(_names(args.skip))
        by_name(sorted(skipped))  # reject unknown names
    except KeyError as err:
        print(f"unknown workload(s): {err.args[0]}", file=sys.stderr)
        return 2
    workloads = [workload for workload in workloads if workload.name not in skipped]
    complete = len(workloads) == len(ALL)

    qemu = None if args.no_qemu else find_qemu()
    servers: list[ServerKind] = [kind for kind in (qemu, find_hvballoond()) if kind is not None]
    if qemu is None and not args.no_qemu:
        print("qemu-system-x86_64 not found: measuring hvballoond only", file=sys.stderr)
    machine = collect(qemu.argv[0] if qemu else None)

    date = datetime.date.today().isoformat()
    stem = f"{date}-{scale.name}" + ("" if complete else "-partial") + (
        f"-{args.tag}" if args.tag else ""
    )
    log = ResultLog(args.out / f"{stem}.jsonl")
    given = list(argv) if argv is not None else sys.argv[1:]
    command = shlex.join(["python", "-m", "benchmarks", *given])
    load_start = load_average()
    log.write(
        {
            "type": "run",
            "date": date,
            "mode": scale.name,
            "command": command,
            "machine": machine.as_json(),
            "servers": [{"name": kind.name, "argv": list(kind.argv)} for kind in servers],
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
        _run(harness.run(workloads), args.loop)
    finally:
        duration = time.monotonic() - started
        load_end = load_average()
        metrics: list[tuple[str, Metric]] = [
            (workload.name, metric) for workload in workloads for metric in workload.metrics(scale)
        ]
        summaries = results.summarize(metrics)
        verdicts = evaluate(targets_for(scale), summaries)
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

    info = RunInfo(
        date=date,
        mode=scale.name,
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
        duration_s=duration,
        command=command,
    )
    titles = {workload.name: workload.title for workload in workloads}
    markdown = result_markdown(info, titles, metrics, summaries, verdicts, results.errors)
    summary_path = args.out / f"{stem}.md"
    summary_path.write_text(markdown, encoding="utf-8")
    print()
    print(markdown)
    print(f"results: {log.path}\nsummary: {summary_path}")

    doc = args.docs
    if doc is None and complete and scale.name == "full" and qemu is not None:
        doc = DEFAULT_DOC
    if doc is not None and not args.no_docs:
        doc.write_text(
            performance_doc(info, titles, metrics, summaries, verdicts, results.errors),
            encoding="utf-8",
        )
        print(f"performance page: {doc}")
    return 1 if results.errors else 0
