"""``python -m benchmarks.profile WORKLOAD``: where hvballoond's time goes during a workload.

Two profilers:

``--profiler py-spy`` (default; ``pip install py-spy``) samples hvballoond while one workload
runs against it and prints the functions with the most samples, by *self* time (the function
was running) and by *total* time (it was on the stack), as ``file:function`` with their share
of the samples. Time inside uvloop's C event loop (socket I/O, and waiting that py-spy cannot
tell from work) shows as self time of ``asyncio/runners.py:Runner.run``; the summary also
gives shares of the samples *outside* it, which is the Python work. Empty stacks (interpreter
start-up and shutdown) are left out. The raw collapsed stacks are kept next to the summary in
``benchmarks/results/profiles/`` (feed them to flamegraph.pl or speedscope).

``--profiler cprofile`` runs hvballoond under the standard library's deterministic profiler
from its start, timed with the process's *CPU* clock (wall time would charge a function for
the time the process waited for a core on a busy machine): exact call counts (``--per N``
divides them by the workload's request count) and, with cProfile's own overhead, CPU time
per function.

QMP workloads: hvballoond is started and its greeting awaited, then py-spy attaches, the
workload runs, and a ``quit`` ends the process (and the sampling). ``startup``,
``--from-start`` and cProfile run hvballoond under the profiler from its first instruction
instead. In-process workloads run once in a child process under the profiler.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime
import pstats
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.model import Scale, WorkloadError
from benchmarks.servers import RunningServer, ServerKind, benchmark_environment, find_hvballoond
from benchmarks.workloads import ALL, InProcessWorkload, QmpWorkload, by_name

__all__ = ["Profile", "main", "parse_collapsed", "short_frame"]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "profiles"
# Path prefixes cut from file names: installed packages, the standard library, this tree.
_PATH_MARKERS = (
    "/site-packages/",
    f"/lib/python{sys.version_info.major}.{sys.version_info.minor}/",
    f"{ROOT}/",
)


def short_frame(frame: str) -> str:
    """``function (path)`` from py-spy as ``path:function`` with the path shortened to the
    package (``hvballoond/wire/encode.py``, ``asyncio/streams.py``, ``pydantic/main.py``)."""
    name, _, rest = frame.partition(" (")
    path = rest.rstrip(")")
    for marker in _PATH_MARKERS:
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        if "/hvballoond/" in path:
            path = "hvballoond/" + path.split("/hvballoond/", 1)[1]
    return f"{path}:{name}"


# The frame whose self time is uvloop's C core (the loop runs inside Runner.run).
EVENT_LOOP_FRAME = "asyncio/runners.py:Runner.run"


@dataclass(frozen=True, slots=True)
class Profile:
    """Sample counts per frame."""

    total: int
    self_samples: Counter[str]
    inclusive: Counter[str]
    by_file: Counter[str]
    # As ``inclusive``, counting only samples outside uvloop's C core.
    inclusive_work: Counter[str]

    @property
    def python_work(self) -> int:
        """Samples outside uvloop's C core (:data:`EVENT_LOOP_FRAME` self time)."""
        return self.total - self.self_samples.get(EVENT_LOOP_FRAME, 0)

    def top(self, counter: Counter[str], limit: int) -> list[tuple[str, int, float]]:
        """The ``limit`` largest entries of ``counter`` with their share of all samples."""
        return [
            (name, count, 100.0 * count / self.total if self.total else 0.0)
            for name, count in counter.most_common(limit)
        ]


def parse_collapsed(lines: Sequence[str]) -> Profile:
    """Aggregate py-spy's raw (collapsed-stack) output."""
    self_samples: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    inclusive_work: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    total = 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        if not stack.strip():
            continue  # no Python frame: interpreter start-up or shutdown
        frames = [short_frame(frame) for frame in stack.split(";")]
        total += count
        leaf = frames[-1]
        self_samples[leaf] += count
        by_file[leaf.rsplit(":", 1)[0]] += count
        for frame in set(frames):
            inclusive[frame] += count
            if leaf != EVENT_LOOP_FRAME:
                inclusive_work[frame] += count
    return Profile(total, self_samples, inclusive, by_file, inclusive_work)


def render(profile: Profile, title: str, limit: int) -> str:
    """A Markdown summary of ``profile``."""
    work = profile.python_work
    out = [
        f"## {title}",
        "",
        f"{profile.total:,} samples; {work:,} outside uvloop's C core (`{EVENT_LOOP_FRAME}`"
        " self time: socket I/O, callbacks' C part and waits py-spy counts as busy). The last"
        " column is the share of those.",
        "",
    ]
    for heading, counter, work_counter in (
        ("Self time (function running)", profile.self_samples, profile.self_samples),
        ("Total time (function on the stack)", profile.inclusive, profile.inclusive_work),
        ("Self time by file", profile.by_file, profile.by_file),
    ):
        out += [
            f"### {heading}",
            "",
            "| % of all | samples | where | % of Python work |",
            "|---:|---:|---|---:|",
        ]
        for name, count, share in profile.top(counter, limit):
            of_work = ""
            if work and name != EVENT_LOOP_FRAME and name.rsplit(":", 1)[0] != "asyncio/runners.py":
                of_work = f"{100.0 * work_counter[name] / work:.1f}"
            out.append(f"| {share:.1f} | {count:,} | `{name}` | {of_work} |")
        out.append("")
    return "\n".join(out)


def render_pstats(path: Path, title: str, limit: int, per: int) -> str:
    """A summary of a cProfile dump: top functions by own time and by cumulative time."""
    stats = pstats.Stats(str(path))
    rows: list[tuple[str, int, float, float]] = [
        (short_frame(f"{func} ({file})"), entry[1], entry[2], entry[3])
        for (file, _, func), entry in stats.stats.items()  # type: ignore[attr-defined]
    ]
    total = sum(row[2] for row in rows)
    out = [f"## {title}", "", f"{total:.3f} s of CPU time in total (with cProfile's overhead).", ""]
    orders: tuple[tuple[str, Callable[[tuple[str, int, float, float]], float]], ...] = (
        ("Own time", lambda row: row[2]),
        ("Cumulative time", lambda row: row[3]),
    )
    for heading, key in orders:
        out += [
            f"### {heading}",
            "",
            f"| % own | own s | cumulative s | calls | calls / {per:,} | where |",
            "|---:|---:|---:|---:|---:|---|",
        ]
        for name, calls, own, cumulative in sorted(rows, key=key, reverse=True)[:limit]:
            out.append(
                f"| {100 * own / total:.1f} | {own:.3f} | {cumulative:.3f} | {calls:,} | "
                f"{calls / per:.2f} | `{name}` |"
            )
        out.append("")
    return "\n".join(out)


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def _record_args(output: Path, rate: int) -> list[str]:
    return [_py_spy(), "record", "--rate", str(rate), "--format", "raw", "--nolineno",
            "--output", str(output)]  # fmt: skip


async def _quit(server: RunningServer) -> None:
    client = await server.connect()
    try:
        await client.handshake()
        client.send(b'{"execute":"quit"}\n')
        await client.reply()
    except WorkloadError:
        pass  # the connection may close before the reply arrives
    finally:
        await client.close()


def _wait_for_text(path: Path, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.01)  # polling another process's log: there is nothing to wait on
    raise WorkloadError(f"py-spy did not start: {path.read_text(errors='replace')[-500:]}")


async def _profile_qmp(
    workload: QmpWorkload,
    scale: Scale,
    output: Path,
    rate: int,
    *,
    from_start: bool,
    cprofile: bool,
) -> None:
    hvb = find_hvballoond()
    env = benchmark_environment()
    spy_log = output.with_suffix(".log")
    if from_start or cprofile:
        argv: tuple[str, ...]
        if cprofile:
            argv = (sys.executable, "-m", "benchmarks.profile", _CPU_SERVER, str(output), "--")
        else:
            argv = (*_record_args(output, rate), "--", *hvb.argv)
        kind = ServerKind(hvb.name, argv)
        server = RunningServer.start(kind, workload.launch(scale), env=env)
        try:
            await workload.run(server, scale)
            await _quit(server)
            server.process.wait(timeout=120)
        finally:
            server.stop()
        return
    server = RunningServer.start(hvb, workload.launch(scale), env=env)
    try:
        ready = await server.connect()
        await ready.greeting()
        await ready.close()
        with spy_log.open("wb") as log:
            spy = subprocess.Popen(
                [*_record_args(output, rate), "--pid", str(server.pid)],
                stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            _wait_for_text(spy_log, "Sampling process", 30)
            await workload.run(server, scale)
            await _quit(server)
            spy.wait(timeout=120)
        finally:
            if spy.poll() is None:
                spy.kill()
                spy.wait()
    finally:
        server.stop()


def _profile_inprocess(
    workload: InProcessWorkload, scale: Scale, output: Path, rate: int, *, cprofile: bool
) -> None:
    if cprofile:
        profiler = _cpu_profiler()
        profiler.runcall(workload.run, scale)
        profiler.dump_stats(str(output))
        return
    child = [sys.executable, "-m", "benchmarks.profile", "--child", workload.name,
             "--scale", scale.name]  # fmt: skip
    subprocess.run([*_record_args(output, rate), "--", *child], check=True, cwd=ROOT)


_CPU_SERVER = "--cpu-profiled-server"


def _cpu_profiler() -> cProfile.Profile:
    return cProfile.Profile(time.process_time_ns, 1e-9)


def _cpu_profiled_server(output: str, args: Sequence[str]) -> int:
    """Run ``hvballoond ARGS`` in this process under a CPU-time cProfile; dump at exit."""
    sys.argv = ["hvballoond", *args]
    profiler = _cpu_profiler()

    def serve() -> object:
        from hvballoond.cli import main as hvballoond_main

        return hvballoond_main()

    status: object = 0
    try:
        status = profiler.runcall(serve)
    except SystemExit as exit_:
        status = exit_.code
    finally:
        profiler.dump_stats(output)
    return status if isinstance(status, int) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Profile one workload; prints the summary and writes it with the raw stacks."""
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == [_CPU_SERVER]:
        return _cpu_profiled_server(given[1], given[3:])  # OUT, "--", hvballoond's args
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("workload", choices=[workload.name for workload in ALL])
    parser.add_argument("--scale", choices=("full", "quick", "tiny"), default="quick")
    parser.add_argument("--rate", type=int, default=500, help="samples per second")
    parser.add_argument("--top", type=int, default=25, help="rows per table")
    parser.add_argument("--from-start", action="store_true", help="sample from process start")
    parser.add_argument("--profiler", choices=("py-spy", "cprofile"), default="py-spy")
    parser.add_argument(
        "--per", type=int, default=1, help="cProfile: show call counts divided by this"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(given)
    scale = Scale.named(args.scale)
    [workload] = by_name([args.workload])
    if args.child:
        assert isinstance(workload, InProcessWorkload)
        workload.run(scale)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    cprofile = args.profiler == "cprofile"
    stem = f"{datetime.date.today().isoformat()}-{workload.name}-{scale.name}"
    if cprofile:
        stem += "-cprofile"
    output = args.out / (f"{stem}.prof" if cprofile else f"{stem}.txt")
    if isinstance(workload, QmpWorkload):
        from_start = args.from_start or workload.name == "startup"
        asyncio.run(
            _profile_qmp(
                workload, scale, output, args.rate, from_start=from_start, cprofile=cprofile
            )
        )
    else:
        _profile_inprocess(workload, scale, output, args.rate, cprofile=cprofile)
    if cprofile:
        title = f"{workload.name} ({scale.name}), cProfile"
        summary = render_pstats(output, title, args.top, args.per)
    else:
        profile = parse_collapsed(output.read_text().splitlines())
        title = f"{workload.name} ({scale.name}), {args.rate} samples/s"
        summary = render(profile, title, args.top)
    (args.out / f"{stem}.md").write_text(summary + "\n", encoding="utf-8")
    print(summary)
    print(f"\nraw profile: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
