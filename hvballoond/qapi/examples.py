"""QMP examples from doc comments (``.. qmp-example::`` blocks).

Layout (qapi-schema-language.md §9.3): a directive line, optional ``:title: ...`` and
``:annotated:`` option lines, then a body indented deeper than the directive. A message
starts at a line beginning with ``-> `` (client to server) or ``<- `` (server to client)
and continues on the following lines indented deeper than the arrow, up to a blank line,
the next arrow or a dedent. A message that is not JSON, or contains ``...``, is partial
(it elides something); its ``value`` is None.

hvballoond's own examples are written for the default test machine
(``-machine q35 -m 1G,slots=4,maxmem=16G``, started paused in ``prelaunch``), each
replayed on a fresh machine: see :attr:`Example.negotiated`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hvballoond.qapi.doc import Doc, DocLine
from hvballoond.qapi.loader import load_schema
from hvballoond.qapi.source import SourceInfo
from hvballoond.wire.values import JSONValue

__all__ = [
    "DEFAULT_SCHEMA",
    "Direction",
    "Example",
    "ExampleMessage",
    "examples_of",
    "iter_examples",
]

DEFAULT_SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "hvballoond.json"

_DIRECTIVE = ".. qmp-example::"


class Direction(StrEnum):
    """Who sends a message: ``->`` the client, ``<-`` the server."""

    REQUEST = "->"
    REPLY = "<-"


@dataclass(frozen=True, slots=True)
class ExampleMessage:
    """One message of an example.

    ``text`` is the message without its arrow, continuation lines joined with newlines;
    ``value`` its JSON value, or None when the message is partial. A server message is a
    reply or an event (``"event"`` member).
    """

    direction: Direction
    text: str
    value: JSONValue | None
    info: SourceInfo

    @property
    def partial(self) -> bool:
        return self.value is None

    @property
    def is_event(self) -> bool:
        return isinstance(self.value, dict) and "event" in self.value


@dataclass(frozen=True, slots=True)
class Example:
    """A ``.. qmp-example::`` block of the doc comment of ``definition``."""

    definition: str | None
    title: str | None
    annotated: bool
    messages: tuple[ExampleMessage, ...]
    info: SourceInfo

    @property
    def requests(self) -> tuple[ExampleMessage, ...]:
        return tuple(m for m in self.messages if m.direction is Direction.REQUEST)

    @property
    def negotiated(self) -> bool:
        """Whether the replay starts after ``qmp_capabilities`` (command mode).

        False when the example's first request is ``qmp_capabilities`` itself: it shows
        the negotiation, so it is replayed on a fresh connection.
        """
        first = next(iter(self.requests), None)
        return not (
            first is not None
            and isinstance(first.value, dict)
            and first.value.get("execute") == "qmp_capabilities"
        )


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def examples_of(doc: Doc) -> list[Example]:
    """Every qmp-example block of a doc comment, in text order."""
    lines = doc.lines
    out: list[Example] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.text.strip() != _DIRECTIVE:
            i += 1
            continue
        depth = _indent(line.text)
        title: str | None = None
        annotated = False
        j = i + 1
        while j < len(lines) and _indent(lines[j].text) > depth:
            option = lines[j].text.strip()
            if option == ":annotated:":
                annotated = True
            elif option.startswith(":title:"):
                title = option[len(":title:") :].strip()
            else:
                break
            j += 1
        body: list[DocLine] = []
        while j < len(lines) and (not lines[j].text.strip() or _indent(lines[j].text) > depth):
            body.append(lines[j])
            j += 1
        out.append(Example(doc.symbol, title, annotated, _messages(body), line.info))
        i = j
    return out


def _arrow(text: str) -> Direction | None:
    stripped = text.lstrip()
    for direction in Direction:
        if stripped.startswith(direction.value + " "):
            return direction
    return None


def _messages(body: list[DocLine]) -> tuple[ExampleMessage, ...]:
    out: list[ExampleMessage] = []
    i = 0
    while i < len(body):
        direction = _arrow(body[i].text)
        if direction is None:
            i += 1
            continue
        start = body[i]
        depth = _indent(start.text)
        parts = [start.text.lstrip()[3:].strip()]
        i += 1
        while i < len(body):
            text = body[i].text
            if not text.strip() or _arrow(text) is not None or _indent(text) <= depth:
                break
            parts.append(text.strip())
            i += 1
        joined = "\n".join(parts)
        value: JSONValue | None = None
        if "..." not in joined:
            try:
                value = json.loads(joined)
            except ValueError:
                value = None
        out.append(ExampleMessage(direction, joined, value, start.info))
    return tuple(out)


def iter_examples(schema: Path = DEFAULT_SCHEMA) -> Iterator[Example]:
    """Every qmp-example of a schema and the files it includes, in file order.

    Args:
        schema: the root schema file (default: hvballoond's ``schema/hvballoond.json``).

    Raises:
        SchemaError: the schema cannot be read or parsed.
    """
    loaded = load_schema(schema, display_name=schema.name)
    for doc in loaded.docs:
        yield from examples_of(doc)
