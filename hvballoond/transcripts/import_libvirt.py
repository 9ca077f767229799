"""Convert libvirt's QMP test data (``tests/qemucapabilitiesdata/*.replies``).

A ``.replies`` file is a sequence of pretty-printed JSON objects separated by
blank lines: each request (``execute``) is followed by its reply
(``return``/``error``, with the same ``id``), and events may sit in between.
It has no greeting, so one is made from the ``query-version`` reply (or a
plain 10.0.2 one), with ``capabilities: ["oob"]``.

Member order is kept as in the file: libvirt stores QEMU's output, so the
order is QEMU's hash order.

Command line::

    python -m hvballoond.transcripts import-libvirt [-o OUT.qmp | --outdir DIR]
        [--args ARGS] FILE.replies...
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from hvballoond.transcripts.format import MAGIC, parse
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = ["LibvirtError", "convert_replies", "main", "read_objects"]

DEFAULT_ARGS = "-machine none"
_DEFAULT_VERSION: JSONObject = {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""}


class LibvirtError(Exception):
    """The ``.replies`` file is not what we expect."""


def read_objects(text: str) -> list[JSONObject]:
    """The JSON objects of a ``.replies`` file, in order.

    Raises:
        LibvirtError: Something other than JSON objects and whitespace.
    """
    decoder = json.JSONDecoder()
    objects: list[JSONObject] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return objects
        try:
            value, end = decoder.raw_decode(text, pos)
        except ValueError as exc:
            line = text.count("\n", 0, pos) + 1
            raise LibvirtError(f"line {line}: not JSON: {exc}") from None
        if not isinstance(value, dict):
            line = text.count("\n", 0, pos) + 1
            raise LibvirtError(f"line {line}: expected a JSON object")
        objects.append(value)
        pos = end


def _compact(value: JSONValue) -> str:
    # QEMU's compact layout (qmp-protocol.md §1.2): ", " and ": ", ASCII only.
    return json.dumps(value, ensure_ascii=True, separators=(", ", ": "))


def _greeting(objects: Sequence[JSONObject]) -> JSONObject:
    for i, obj in enumerate(objects):
        if obj.get("execute") != "query-version":
            continue
        for reply in objects[i + 1 :]:
            if "return" in reply and reply.get("id") == obj.get("id"):
                version = reply["return"]
                if isinstance(version, dict):
                    return {"QMP": {"version": version, "capabilities": ["oob"]}}
                break
    return {"QMP": {"version": dict(_DEFAULT_VERSION), "capabilities": ["oob"]}}


def convert_replies(
    text: str,
    *,
    name: str = "replies",
    args: str = DEFAULT_ARGS,
    description: str | None = None,
) -> str:
    """Transcript text for the contents of a libvirt ``.replies`` file.

    Raises:
        LibvirtError: The file cannot be read as request/reply objects.
    """
    objects = read_objects(text)
    body: list[str] = []
    greeting: JSONObject | None = None
    if objects and "QMP" in objects[0]:
        greeting = objects.pop(0)
    if greeting is None:
        greeting = _greeting(objects)
    body.append(f"<- {_compact(greeting)}")
    for obj in objects:
        if "execute" in obj or "exec-oob" in obj:
            body.append("")
            body.append(f"-> {_compact(obj)}")
        elif "return" in obj or "error" in obj or "event" in obj:
            body.append(f"<- {_compact(obj)}")
        else:
            raise LibvirtError(f"neither a request, a reply nor an event: {_compact(obj)[:80]}")
    version = greeting.get("QMP")
    source = f"libvirt tests/qemucapabilitiesdata/{name}"
    if isinstance(version, dict) and isinstance(version.get("version"), dict):
        inner = version["version"]
        assert isinstance(inner, dict)
        triple = inner.get("qemu")
        if isinstance(triple, dict):
            numbers = ".".join(str(triple.get(k)) for k in ("major", "minor", "micro"))
            source += f" (QEMU {numbers})"
    head = [MAGIC, f"# args: {args}", f"# recorded-from: {source}"]
    head.append(f"# description: {description or f'libvirt capability probe {name}'}")
    out = "\n".join([*head, "", *body]) + "\n"
    parse(out)
    return out


def main(argv: Sequence[str] | None = None, *, prog: str = "import-libvirt") -> int:
    """Entry point: convert each ``.replies`` file to a ``.qmp`` transcript."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Convert libvirt .replies files to transcripts."
    )
    parser.add_argument("-o", "--output", metavar="OUT.qmp", help="output file (one input only)")
    parser.add_argument("--outdir", default=".", metavar="DIR", help="output folder (default: .)")
    parser.add_argument(
        "--args", default=DEFAULT_ARGS, help=f"server command line for '# args:' ({DEFAULT_ARGS})"
    )
    parser.add_argument("replies", nargs="+", metavar="FILE.replies")
    args = parser.parse_args(argv)
    if args.output and len(args.replies) != 1:
        parser.error("-o takes exactly one input file; use --outdir for several")
    status = 0
    for item in args.replies:
        source = Path(item)
        try:
            text = convert_replies(
                source.read_text(encoding="utf-8"), name=source.name, args=args.args
            )
        except (OSError, LibvirtError) as exc:
            print(f"{prog}: {source}: {exc}", file=sys.stderr)
            status = 1
            continue
        target = Path(args.output) if args.output else Path(args.outdir) / f"{source.stem}.qmp"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    return status
