"""Convert the shared sample conversations (``NAME.json`` + ``NAME.txt``) to ``*.qmp``.

The sample format (see its README): ``NAME.json`` holds the scenario (``args``,
and ``steps``: ``send`` an object, ``raw`` text, ``connect``/``close`` a
connection, ``wait`` seconds; a step's ``conn`` names its connection, default
``c1``); ``NAME.txt`` holds what happened in blocks separated by one empty
line: block 0 is the greeting, block N the server output of step N, with
``## `` directives (``connect``, ``conn``, ``close``, ``wait``, ``eof``,
``exit``, ``stderr``).

Differences handled here: in the sample a ``## conn`` only lasts for its
block, ours lasts until the next one; and ``send`` steps are written as
``->`` lines (JSON text plus newline) while ``raw`` text keeps its exact bytes.

Command line::

    python -m hvballoond.transcripts import-sample [-o OUTDIR] SAMPLE.json|SAMPLE_DIR...
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hvballoond.transcripts.format import FIRST_CONNECTION, MAGIC, format_send, parse

__all__ = ["SampleError", "convert_sample", "main"]


class SampleError(Exception):
    """The sample files are inconsistent."""


def _blocks(text: str) -> tuple[list[str], list[list[str]]]:
    """Split a sample ``.txt`` into its comment header and its blocks."""
    lines = text.splitlines()
    header: list[str] = []
    i = 0
    while i < len(lines) and lines[i].startswith("# "):
        header.append(lines[i])
        i += 1
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in lines[i:]:
        if line == "":
            if current:
                blocks.append(current)
                current = []
            continue
        current.append(line)
    if current:
        blocks.append(current)
    return header, blocks


def _send_bytes(step: dict[str, Any]) -> bytes:
    if "send" in step:
        return json.dumps(step["send"]).encode("utf-8") + b"\n"
    raw = step["raw"]
    if not isinstance(raw, str):
        raise SampleError(f"'raw' must be text, got {raw!r}")
    return raw.encode("utf-8")


def convert_sample(scenario: dict[str, Any], conversation: str) -> str:
    """Build our transcript text from a sample's scenario and conversation.

    Raises:
        SampleError: The two files do not agree.
    """
    header, blocks = _blocks(conversation)
    comments = {}
    for line in header:
        key, sep, value = line[2:].partition(": ")
        if sep:
            comments[key] = value
    steps: list[dict[str, Any]] = list(scenario.get("steps", []))
    startup_failure = scenario.get("expect") == "startup-failure"

    out = [MAGIC]
    if scenario.get("name"):
        out.append(f"# Imported from the shared sample {scenario['name']}.")
    if scenario.get("category"):
        out.append(f"# category: {scenario['category']}")
    if scenario.get("description"):
        out.append(f"# description: {scenario['description']}")
    out.append(f"# args: {shlex.join(scenario.get('args', []))}")
    if "recorded-from" in comments:
        out.append(f"# recorded-from: {comments['recorded-from']}")
    out.append("")

    current: str | None = FIRST_CONNECTION
    open_conns = {FIRST_CONNECTION}

    def switch(name: str) -> None:
        nonlocal current
        if current != name:
            if name not in open_conns:
                raise SampleError(f"lines for connection {name}, which is not open")
            out.append(f"@ conn {name}")
            current = name

    if startup_failure:
        for block in blocks:
            for line in block:
                if line.startswith("## "):
                    out.append("@ " + line[3:])
                else:
                    raise SampleError(f"unexpected line in a startup failure: {line!r}")
        return "\n".join(out) + "\n"

    if len(blocks) != len(steps) + 1:
        raise SampleError(f"{len(blocks)} blocks for {len(steps)} steps (+ greeting)")
    for line in blocks[0]:
        if not line.startswith("<- "):
            raise SampleError(f"greeting block holds {line!r}")
        out.append(line)

    for step, block in zip(steps, blocks[1:], strict=True):
        if len(out) > 1 and out[-1] != "":
            out.append("")
        block_conn = step.get("conn", FIRST_CONNECTION)
        sent = False
        for line in block:
            if line.startswith("## "):
                word, _, arg = line[3:].partition(" ")
                if word == "connect":
                    out.append(f"@ connect {arg}")
                    open_conns.add(arg)
                    current = block_conn = arg
                elif word == "conn":
                    block_conn = arg
                elif word == "close":
                    out.append(f"@ close {arg}")
                    open_conns.discard(arg)
                    if current == arg:
                        current = None
                elif word == "eof":
                    switch(block_conn)
                    out.append("@ eof")
                    open_conns.discard(block_conn)
                    current = None
                elif word in ("wait", "exit", "stderr"):
                    out.append(f"@ {word} {arg}".rstrip())
                else:
                    raise SampleError(f"unknown directive {line!r}")
            elif line.startswith("-> "):
                if sent or ("send" not in step and "raw" not in step):
                    raise SampleError(f"client line {line!r} does not match step {step!r}")
                switch(block_conn)
                data = _send_bytes(step)
                if "send" in step and line[3:] != json.dumps(step["send"]):
                    raise SampleError(f"client line {line!r} differs from the scenario")
                out.append(format_send(data))
                sent = True
            elif line.startswith("<- "):
                switch(block_conn)
                out.append(line)
            else:
                raise SampleError(f"unrecognised line {line!r}")
        if ("send" in step or "raw" in step) and not sent:
            raise SampleError(f"step {step!r} has no client line in its block")
    text = "\n".join(out) + "\n"
    parse(text)  # must be a valid transcript
    return text


def convert_files(json_path: Path) -> str:
    """Convert ``NAME.json`` and the ``NAME.txt`` next to it."""
    scenario = json.loads(json_path.read_text(encoding="utf-8"))
    conversation = json_path.with_suffix(".txt").read_text(encoding="utf-8")
    return convert_sample(scenario, conversation)


def main(argv: Sequence[str] | None = None, *, prog: str = "import-sample") -> int:
    """Entry point: write one ``NAME.qmp`` per sample into ``-o`` (default: cwd)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Convert shared-sample conversations to transcripts."
    )
    parser.add_argument("-o", "--output", default=".", metavar="OUTDIR")
    parser.add_argument("samples", nargs="+", metavar="SAMPLE.json|DIR")
    args = parser.parse_args(argv)
    outdir = Path(args.output)
    outdir.mkdir(parents=True, exist_ok=True)
    sources: list[Path] = []
    for item in args.samples:
        path = Path(item)
        sources.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    status = 0
    for source in sources:
        try:
            text = convert_files(source)
        except (OSError, ValueError, KeyError, SampleError) as exc:
            print(f"{prog}: {source}: {exc}", file=sys.stderr)
            status = 1
            continue
        target = outdir / (source.stem + ".qmp")
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    return status
