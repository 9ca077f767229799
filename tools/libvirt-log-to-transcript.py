#!/usr/bin/env python3
"""Turn libvirtd's debug log into transcripts of the QMP conversations it had with domains.

    .venv/bin/python tools/libvirt-log-to-transcript.py --log PREFIX/libvirtd.log \\
        --qemu-log-dir PREFIX/log/qemu [--steps STEPS.json] [--emulator PATH] \\
        --prefix NAME --out DIR

tests/interop/libvirt/run.sh --record DIR calls it after the suite. For every domain monitor
(capability probes are left out) it writes ``DIR/NAME-DOMAIN-start.txt`` (the monitor opened
when libvirt started the domain) and ``DIR/NAME-DOMAIN-reconnect.txt`` (the monitor a restarted
libvirtd opened), in the transcript format (docs/transcript-format.md) with:

- ``# libvirt-command-line:`` the emulator command line libvirt ran, from the domain's log in
  ``--qemu-log-dir`` (environment variables left out);
- ``# virsh ...`` comments where each step of the suite began (``--steps``: the JSON list of
  ``[unix time, text]`` the suite writes), so every command can be traced to the virsh
  operation that caused it;
- ``@ wait`` before an event that came after a pause of a second or more.

It also writes ``DIR/NAME-commands.txt``: per virsh step, the QMP commands libvirt sent, with
their arguments.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hvballoond.probe.build import to_transcript  # noqa: E402
from hvballoond.probe.libvirt_log import Conversation, Direction, conversations  # noqa: E402

_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}[+-]\d{4}): ")


@dataclass(slots=True)
class Run:
    """One start of a domain, from its log: when, the command line, when it ended."""

    domain: str
    started: float
    argv: list[str]
    ended: float | None = None


def _time(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f%z").timestamp()


def domain_runs(log_dir: Path) -> list[Run]:
    """Every start recorded in the per-domain logs (``/var/log/libvirt/qemu/NAME.log``)."""
    runs: list[Run] = []
    for path in sorted(log_dir.glob("*.log")):
        domain = path.stem
        current: Run | None = None
        collecting = False
        words: list[str] = []
        for line in path.read_text(errors="replace").splitlines():
            stamp = _STAMP.match(line)
            if stamp and "starting up" in line:
                current = Run(domain, _time(stamp.group(1)), [])
                runs.append(current)
                collecting, words = True, []
                continue
            if stamp and "shutting down" in line and current is not None:
                current.ended = _time(stamp.group(1))
                continue
            if collecting and current is not None:
                text = line.removesuffix(" \\")
                words.append(text)
                if not line.endswith(" \\"):
                    collecting = False
                    argv = shlex.split(" ".join(words))
                    # leading NAME=value words are the environment
                    while argv and re.match(r"^[A-Z_][A-Z0-9_]*=", argv[0]):
                        argv.pop(0)
                    current.argv = argv
    return sorted(runs, key=lambda r: r.started)


def _run_of(conv: Conversation, runs: Sequence[Run]) -> Run | None:
    candidates = [r for r in runs if r.started <= conv.opened
                  and (r.ended is None or conv.opened <= r.ended)]
    return candidates[-1] if candidates else None


def _commands_by_step(convs: Sequence[Conversation], steps: Sequence[tuple[float, str]]
                      ) -> list[str]:
    """Per step, the commands sent; a run of ``qom-get`` on one path is one line."""
    messages = sorted(((m.time, m.text) for c in convs for m in c.messages
                       if m.direction is Direction.SEND), key=lambda item: item[0])
    marks = sorted(steps)
    out: list[str] = []
    index = 0
    run_path: str | None = None
    run_props: list[str] = []

    def flush() -> None:
        nonlocal run_path, run_props
        if run_path is not None:
            shown = ", ".join(run_props[:3]) + (", ..." if len(run_props) > 3 else "")
            times = f" x{len(run_props)}" if len(run_props) > 1 else ""
            out.append(f'qom-get {{"path": "{run_path}", "property": {shown}}}{times}')
        run_path, run_props = None, []

    for when, text in messages:
        while index < len(marks) and marks[index][0] <= when:
            flush()
            out.append(f"\n## {marks[index][1]}")
            index += 1
        command = json.loads(text)
        args = command.get("arguments")
        if command.get("execute") == "qom-get" and isinstance(args, dict):
            if args.get("path") != run_path:
                flush()
                run_path = str(args.get("path"))
            run_props.append(json.dumps(args.get("property")))
            continue
        flush()
        out.append(f"{command.get('execute')}" + (f" {json.dumps(args)}" if args else ""))
    flush()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/libvirt-log-to-transcript.py",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--log", type=Path, required=True, help="libvirtd's debug log")
    parser.add_argument("--qemu-log-dir", type=Path, required=True,
                        help="libvirt's per-domain logs (command lines)")
    parser.add_argument("--steps", type=Path, help="the suite's [time, text] step list (JSON)")
    parser.add_argument("--emulator", help="keep only domains run with this emulator binary")
    parser.add_argument("--prefix", default="domain", help="file name prefix")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    steps: list[tuple[float, str]] = []
    if args.steps is not None and args.steps.exists():
        steps = [(float(t), str(s)) for t, s in json.loads(args.steps.read_text())]
    runs = domain_runs(args.qemu_log_dir)
    with args.log.open(encoding="utf-8", errors="replace") as handle:
        convs = [c for c in conversations(handle) if c.probe is None]
    args.out.mkdir(parents=True, exist_ok=True)
    kept: list[Conversation] = []
    seen: dict[tuple[str, float], int] = {}
    for conv in convs:
        run = _run_of(conv, runs)
        if run is None or (args.emulator and (not run.argv or run.argv[0] != args.emulator)):
            continue
        kept.append(conv)
        n = seen.get((run.domain, run.started), 0)
        seen[(run.domain, run.started)] = n + 1
        kind = "start" if n == 0 else "reconnect" if n == 1 else f"reconnect{n}"
        end = conv.closed if conv.closed is not None else (run.ended or float("inf"))
        before = [(t, s) for t, s in steps if t <= conv.opened]
        marks = before[-1:] + [(t, s) for t, s in steps if conv.opened < t <= end]
        package = "unknown"
        if conv.greeting:
            version = json.loads(conv.greeting).get("QMP", {}).get("version", {})
            triple = version.get("qemu", {})
            numbers = ".".join(str(triple.get(k)) for k in ("major", "minor", "micro"))
            package = (str(version.get("package")) if "hvballoond" in str(version.get("package"))
                       else f"QEMU emulator version {numbers} ({version.get('package')})")
        headers = [
            ("description", f"libvirt 11.3 and domain {run.domain}: the monitor libvirt "
                            f"opened at its {'start' if n == 0 else 'restart'}"),
            ("recorded-from", package),
            ("libvirt-command-line", shlex.join(run.argv)),
        ]
        path = args.out / f"{args.prefix}-{run.domain}-{kind}.txt"
        path.write_text(to_transcript(conv, headers=headers, markers=marks))
        print(f"wrote {path}")
    summary = args.out / f"{args.prefix}-commands.txt"
    summary.write_text("# QMP commands libvirt sent, by virsh step (from libvirtd's log)\n"
                       + "\n".join(_commands_by_step(kept, steps)) + "\n")
    print(f"wrote {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
