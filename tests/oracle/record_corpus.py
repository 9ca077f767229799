"""Re-record the golden corpus against the installed QEMU and report drift.

``python -m tests.oracle.record_corpus`` (``make oracle``) replays every transcript
under ``tests/transcripts/`` that was recorded from real QEMU
(``# recorded-from: QEMU emulator version ...``) with ``--update`` semantics, in a
temporary copy of the corpus, and prints a unified diff for every transcript whose
expectations changed. Exit status: 0 when nothing drifted (or when
``qemu-system-x86_64`` is not installed: nothing to compare against), 1 on drift or
on a transcript that could not be replayed, 2 on bad usage.

This is a thin wrapper over :mod:`hvballoond.transcripts.replay`; to re-record on
purpose, pass ``--write`` (or run ``python -m hvballoond.transcripts replay
--emulator qemu-system-x86_64 --update FILES``).
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hvballoond.transcripts.format import Transcript, TranscriptError, load
from hvballoond.transcripts.replay import (
    Outcome,
    ReplayOptions,
    ReplayResult,
    collect_paths,
    replay_transcript,
)
from hvballoond.transcripts.runner import EmulatorTarget

CORPUS = Path(__file__).resolve().parent.parent / "transcripts"
EMULATOR = "qemu-system-x86_64"
QEMU_PREFIX = "QEMU emulator version"


@dataclass(frozen=True, slots=True)
class Entry:
    """One corpus transcript and its scratch copy.

    Attributes:
        original: The file in the corpus.
        rel: Its path relative to the corpus (its name when outside it).
        copy: Its copy in the temporary folder (what gets re-recorded).
        transcript: The parsed copy.
    """

    original: Path
    rel: Path
    copy: Path
    transcript: Transcript


def recorded_from_qemu(t: Transcript) -> bool:
    """Whether the transcript's expectations came from real QEMU."""
    return (t.header("recorded-from") or "").startswith(QEMU_PREFIX)


def installed_version(emulator: str) -> str:
    """The first line of ``EMULATOR --version``."""
    out = subprocess.run([emulator, "--version"], capture_output=True, text=True, check=False)
    lines = out.stdout.splitlines()
    return lines[0].strip() if lines else ""


def prepare(paths: Sequence[Path], root: Path, scratch: Path) -> tuple[list[Entry], list[str]]:
    """Copy the QEMU-recorded transcripts among ``paths`` under ``scratch``.

    Returns:
        The entries to replay and the problems found (unparsable files).
    """
    entries: list[Entry] = []
    problems: list[str] = []
    for path in paths:
        try:
            rel = path.resolve().relative_to(root)
        except ValueError:
            rel = Path(path.name)
        copy = scratch / rel
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy)
        try:
            t = load(copy)
        except TranscriptError as exc:
            problems.append(f"{path}: {exc.message} (line {exc.lineno})")
            continue
        if recorded_from_qemu(t):
            entries.append(Entry(path, rel, copy, t))
    return entries, problems


async def rerecord(
    entries: Sequence[Entry], target: EmulatorTarget, options: ReplayOptions, jobs: int
) -> list[ReplayResult]:
    """Re-record every entry (``jobs`` at a time); results in entry order."""
    limit = asyncio.Semaphore(max(1, jobs))

    async def one(entry: Entry) -> ReplayResult:
        async with limit:
            # recorded_from=None: a different QEMU build alone is not drift (reported apart).
            return await replay_transcript(entry.transcript, target, update=True, options=options)

    return list(await asyncio.gather(*(one(e) for e in entries)))


def report(entry: Entry, result: ReplayResult) -> bool:
    """Print what drifted for one entry; return True when it drifted."""
    if result.outcome is Outcome.UPDATED and result.new_text is not None:
        entry.copy.write_text(result.new_text, encoding="utf-8")
        sys.stdout.writelines(
            difflib.unified_diff(
                entry.transcript.text().splitlines(keepends=True),
                result.new_text.splitlines(keepends=True),
                fromfile=f"corpus/{entry.rel}",
                tofile=f"qemu/{entry.rel}",
            )
        )
        for warning in result.warnings:
            print(f"warning: {warning}")
        return True
    if result.outcome in (Outcome.FAILED, Outcome.ERROR):
        print(f"{result.outcome.value} {entry.original}")
        text = result.report()
        if text:
            print(text)
        return True
    return False


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.oracle.record_corpus",
        description="Re-record the QEMU golden corpus into a temporary copy and report drift.",
    )
    parser.add_argument("--emulator", default=EMULATOR, help=f"QEMU binary ({EMULATOR})")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="transcripts at once (1)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per reply (5)")
    parser.add_argument(
        "--quiet-period", type=float, default=0.3, help="silence that ends a step (0.3)"
    )
    parser.add_argument(
        "--write", action="store_true", help="copy drifted transcripts back into the corpus"
    )
    parser.add_argument(
        "paths", nargs="*", type=Path, help="transcripts or folders (default: the whole corpus)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    emulator = shutil.which(args.emulator)
    if emulator is None:
        print(f"{args.emulator} is not installed: nothing to re-record, corpus not checked.")
        return 0
    try:
        paths = collect_paths(args.paths or [CORPUS])
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    version = installed_version(emulator)
    options = ReplayOptions(timeout=args.timeout, quiet_period=args.quiet_period)
    with tempfile.TemporaryDirectory(prefix="hvb-oracle-") as scratch:
        entries, problems = prepare(paths, CORPUS, Path(scratch))
        for problem in problems:
            print(f"cannot read {problem}")
        others = {e.transcript.header("recorded-from") for e in entries} - {version}
        if others:
            recorded = ", ".join(sorted(o or "?" for o in others))
            print(f"note: corpus recorded from {recorded}; installed: {version}")
        results = asyncio.run(rerecord(entries, EmulatorTarget((emulator,)), options, args.jobs))
        drifted = [e for e, r in zip(entries, results, strict=True) if report(e, r)]
        if args.write:
            for entry in drifted:
                if entry.copy.read_text(encoding="utf-8") != entry.transcript.text():
                    shutil.copyfile(entry.copy, entry.original)
    print(
        f"{len(entries)} transcripts re-recorded against {version}: "
        f"{len(drifted)} drifted, {len(problems)} unreadable"
    )
    return 1 if drifted or problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
