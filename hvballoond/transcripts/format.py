"""Parse and serialize QMP transcripts (``*.qmp``, docs/transcript-format.md).

The parser keeps every line of the file, so :meth:`Transcript.text` gives the
input back byte for byte, and :func:`rewrite` changes only expectation lines
(``<-``, ``@ exit``, ``@ stderr``) and header values, leaving comments,
blank lines and client input untouched.

On top of the lines the parser builds the *steps*: each client action
(``->``, ``-x`` or a directive) together with the server output expected
after it. Step 0 is always the implicit start (server started, connection
``c1`` opened); its expectations are the ``<-`` lines before the first action
(the greeting).
"""

from __future__ import annotations

import enum
import json
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hvballoond.wire.values import JSONValue

__all__ = [
    "FIRST_CONNECTION",
    "MAGIC",
    "Directive",
    "DirectiveKind",
    "Expected",
    "Header",
    "Send",
    "Start",
    "StderrLine",
    "Step",
    "Transcript",
    "TranscriptError",
    "count_json_values",
    "escape_raw",
    "format_send",
    "load",
    "loads_json",
    "parse",
    "rewrite",
    "unescape_raw",
]

MAGIC = "# hvballoond transcript v1"
FIRST_CONNECTION = "c1"

_HEADER_RE = re.compile(r"# ([a-z][a-z0-9-]*): ?(.*)\Z")
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
# Python's json module spells the non-finite doubles Infinity/NaN; QEMU writes
# inf/-inf/nan (qmp-protocol.md §4.4). Only bare words outside strings match.
_NONFINITE_RE = re.compile(r'"(?:[^"\\]|\\.)*"|(-?inf|nan)\b', re.DOTALL)


class TranscriptError(Exception):
    """A malformed transcript, reported as ``file:line: message``."""

    def __init__(self, path: Path | None, lineno: int, message: str) -> None:
        self.path = path
        self.lineno = lineno
        self.message = message
        where = str(path) if path is not None else "<transcript>"
        super().__init__(f"{where}:{lineno}: {message}")


class DirectiveKind(enum.StrEnum):
    """The ``@`` directives."""

    CONNECT = "connect"
    CONN = "conn"
    CLOSE = "close"
    WAIT = "wait"
    EOF = "eof"
    EXIT = "exit"
    STDERR = "stderr"


@dataclass(frozen=True, slots=True)
class Header:
    """A ``# key: value`` line of the leading comment block."""

    lineno: int
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Start:
    """The implicit first step: start the server and open connection ``c1``."""


@dataclass(frozen=True, slots=True)
class Send:
    """Client bytes: ``->`` (text plus a newline) or ``-x`` (escaped, as is)."""

    data: bytes
    raw: bool
    text: str  # the line's text after the marker, as written


@dataclass(frozen=True, slots=True)
class Directive:
    """An ``@`` line other than ``@ stderr`` (which is an expectation)."""

    kind: DirectiveKind
    name: str | None = None  # connect/conn/close
    seconds: float | None = None  # wait
    code: int | None = None  # exit


Action = Start | Send | Directive


@dataclass(frozen=True, slots=True)
class Expected:
    """One ``<-`` line: a server message expected on the step's connection."""

    lineno: int
    text: str
    value: JSONValue


@dataclass(frozen=True, slots=True)
class StderrLine:
    """One ``@ stderr`` line following ``@ exit``."""

    lineno: int
    text: str


@dataclass(frozen=True, slots=True)
class Step:
    """A client action and the server output expected after it.

    Attributes:
        index: Position in :attr:`Transcript.steps` (0 is the start).
        lineno: 1-based line of the action (0 for the implicit start).
        action: What the client does.
        conn: The current connection after the action: where ``->``/``-x``
            bytes go and where the expected messages are read. ``None`` once
            the current connection is closed.
        expected: The ``<-`` lines of this step, in order.
        stderr: For ``@ exit``: the expected stderr lines.
    """

    index: int
    lineno: int
    action: Action
    conn: str | None
    expected: tuple[Expected, ...] = ()
    stderr: tuple[StderrLine, ...] = ()

    @property
    def last_lineno(self) -> int:
        """The last line that belongs to this step (action or expectation)."""
        linenos = [self.lineno] + [e.lineno for e in self.expected]
        linenos += [s.lineno for s in self.stderr]
        return max(linenos)


@dataclass(frozen=True, slots=True)
class Transcript:
    """A parsed transcript: the raw lines plus the derived headers and steps."""

    path: Path | None
    lines: tuple[str, ...]
    final_newline: bool
    headers: tuple[Header, ...]
    steps: tuple[Step, ...]

    @property
    def name(self) -> str:
        """The file name without ``.qmp`` (or ``<transcript>``)."""
        return self.path.stem if self.path is not None else "<transcript>"

    def header(self, key: str) -> str | None:
        """The value of header ``key``, or ``None``."""
        for header in self.headers:
            if header.key == key:
                return header.value
        return None

    @property
    def args(self) -> list[str]:
        """The server's command line (``# args:``), split like a shell would."""
        value = self.header("args")
        return shlex.split(value) if value else []

    @property
    def virtual_clock(self) -> bool:
        """Whether ``# clock: virtual`` asks for hvballoond's virtual clock."""
        return (self.header("clock") or "").strip() == "virtual"

    @property
    def startup_fails(self) -> bool:
        """The server is expected to refuse its command line (``@ exit`` first)."""
        return (
            len(self.steps) > 1
            and not self.steps[0].expected
            and isinstance(self.steps[1].action, Directive)
            and self.steps[1].action.kind is DirectiveKind.EXIT
        )

    @property
    def uses_exit(self) -> bool:
        """Whether any step checks the server process's exit."""
        return any(
            isinstance(s.action, Directive) and s.action.kind is DirectiveKind.EXIT
            for s in self.steps
        )

    def text(self) -> str:
        """The transcript as text, identical to what was parsed."""
        body = "\n".join(self.lines)
        return body + "\n" if self.final_newline and self.lines else body

    def where(self, lineno: int) -> str:
        """``path:line`` for messages."""
        return f"{self.path if self.path is not None else '<transcript>'}:{lineno}"


# --- JSON helpers -------------------------------------------------------------


def _pairs_hook(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    result: dict[str, JSONValue] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate member {key!r}")
        result[key] = value
    return result


def _nonfinite(match: re.Match[str]) -> str:
    word = match.group(1)
    if word is None:
        return match.group(0)
    return {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}[word]


def loads_json(text: str) -> JSONValue:
    """Parse one JSON value as QEMU prints it (``inf``/``nan`` allowed).

    Member order is kept; duplicate members are an error.

    Raises:
        ValueError: The text is not one JSON value.
    """
    if "inf" in text or "nan" in text:
        text = _NONFINITE_RE.sub(_nonfinite, text)
    value: JSONValue = json.loads(text, object_pairs_hook=_pairs_hook)
    return value


def count_json_values(text: str) -> int | None:
    """How many JSON values ``text`` holds, or ``None`` if it is not a clean stream.

    Used to know how many replies a ``->`` line asks for: QEMU answers every
    complete top-level JSON value once (qmp-protocol.md §4.2, §4.3).
    """
    decoder = json.JSONDecoder()
    count = 0
    pos = 0
    end = len(text)
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos == end:
            return count
        try:
            _, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return None
        count += 1


# --- -x escapes ---------------------------------------------------------------

_ESCAPES = {"n": 0x0A, "r": 0x0D, "t": 0x09, "\\": 0x5C}
_HEX = "0123456789abcdefABCDEF"


def unescape_raw(text: str) -> bytes:
    """Decode the text of a ``-x`` line into bytes.

    Raises:
        ValueError: An unknown or incomplete escape.
    """
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "x":
            digits = text[i + 2 : i + 4]
            if len(digits) != 2 or any(d not in _HEX for d in digits):
                raise ValueError(f"bad escape {text[i : i + 4]!r}: \\x needs two hex digits")
            out.append(int(digits, 16))
            i += 4
        else:
            raise ValueError(
                f"unknown escape {text[i : i + 2]!r} (use \\xNN, \\n, \\r, \\t or \\\\)"
            )
    return bytes(out)


def escape_raw(data: bytes) -> str:
    """Encode bytes as the text of a ``-x`` line (inverse of :func:`unescape_raw`).

    Printable ASCII stays as is, except a trailing space (editors strip it).
    """
    parts: list[str] = []
    last = len(data) - 1
    for i, byte in enumerate(data):
        if byte == 0x5C:
            parts.append("\\\\")
        elif byte == 0x0A:
            parts.append("\\n")
        elif byte == 0x0D:
            parts.append("\\r")
        elif byte == 0x09:
            parts.append("\\t")
        elif 0x20 <= byte < 0x7F and not (byte == 0x20 and i == last):
            parts.append(chr(byte))
        else:
            parts.append(f"\\x{byte:02x}")
    return "".join(parts)


def format_send(data: bytes) -> str:
    """The transcript line for client bytes: ``-> TEXT`` when ``data`` is one
    clean text line ending in a newline, ``-x ESCAPED`` otherwise."""
    if data.endswith(b"\n") and data.count(b"\n") == 1:
        try:
            text = data[:-1].decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if (
            text is not None
            and not any(ord(c) < 0x20 and c != "\t" for c in text)
            and "\x7f" not in text
            and text == text.rstrip()
        ):
            return f"-> {text}" if text else "->"
    return f"-x {escape_raw(data)}"


# --- parsing -------------------------------------------------------------------


def load(path: str | Path) -> Transcript:
    """Read and parse a transcript file.

    Raises:
        TranscriptError: The file is malformed.
        OSError: The file cannot be read.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TranscriptError(path, 1, f"not UTF-8: {exc}") from None
    return parse(text, path=path)


def _marker(line: str, marker: str) -> str | None:
    """The text after ``marker`` + one space (or ``""`` for a bare marker)."""
    if line == marker:
        return ""
    if line.startswith(marker + " "):
        return line[len(marker) + 1 :]
    return None


class _Parser:
    def __init__(self, text: str, path: Path | None) -> None:
        self.path = path
        self.final_newline = text.endswith("\n")
        body = text[:-1] if self.final_newline else text
        self.lines: list[str] = body.split("\n") if text else []
        self.headers: list[Header] = []
        self.steps: list[Step] = []
        self.open: set[str] = {FIRST_CONNECTION}
        self.current: str | None = FIRST_CONNECTION
        # The step being collected.
        self.lineno = 0
        self.action: Action = Start()
        self.conn: str | None = FIRST_CONNECTION
        self.expected: list[Expected] = []
        self.stderr: list[StderrLine] = []
        self.exited = False

    def error(self, lineno: int, message: str) -> TranscriptError:
        return TranscriptError(self.path, lineno, message)

    def flush(self) -> None:
        self.steps.append(
            Step(
                index=len(self.steps),
                lineno=self.lineno,
                action=self.action,
                conn=self.conn,
                expected=tuple(self.expected),
                stderr=tuple(self.stderr),
            )
        )
        self.expected = []
        self.stderr = []

    def begin(self, lineno: int, action: Action) -> None:
        if self.exited:
            raise self.error(lineno, "nothing but '@ stderr' lines may follow '@ exit'")
        self.flush()
        self.lineno = lineno
        self.action = action
        self.conn = self.current

    def parse(self) -> Transcript:
        in_header = True
        for lineno, line in enumerate(self.lines, start=1):
            if line.startswith("#"):
                if in_header:
                    match = _HEADER_RE.match(line)
                    if match:
                        self.headers.append(Header(lineno, match.group(1), match.group(2)))
                continue
            if not line.strip():
                continue
            in_header = False
            self.line(lineno, line)
        self.flush()
        return Transcript(
            path=self.path,
            lines=tuple(self.lines),
            final_newline=self.final_newline,
            headers=tuple(self.headers),
            steps=tuple(self.steps),
        )

    def line(self, lineno: int, line: str) -> None:
        if (text := _marker(line, "<-")) is not None:
            self.expect(lineno, text)
        elif (text := _marker(line, "->")) is not None:
            if "\r" in text:
                raise self.error(lineno, "'->' text holds a carriage return; use '-x'")
            self.send(lineno, Send((text + "\n").encode("utf-8"), raw=False, text=text))
        elif (text := _marker(line, "-x")) is not None:
            try:
                data = unescape_raw(text)
            except ValueError as exc:
                raise self.error(lineno, str(exc)) from None
            if not data:
                raise self.error(lineno, "'-x' line without bytes")
            self.send(lineno, Send(data, raw=True, text=text))
        elif (text := _marker(line, "@")) is not None:
            self.directive(lineno, text)
        else:
            raise self.error(
                lineno, f"unrecognised line {line[:40]!r} (expected #, ->, -x, <- or @)"
            )

    def expect(self, lineno: int, text: str) -> None:
        if self.exited:
            raise self.error(lineno, "'<-' after '@ exit'")
        if self.conn is None:
            raise self.error(lineno, "'<-' without a current connection (use '@ conn NAME')")
        try:
            value = loads_json(text)
        except ValueError as exc:
            raise self.error(lineno, f"'<-' is not one JSON value: {exc}") from None
        self.expected.append(Expected(lineno, text, value))

    def send(self, lineno: int, send: Send) -> None:
        if self.current is None:
            raise self.error(
                lineno, "client input without a current connection (use '@ conn NAME')"
            )
        self.begin(lineno, send)

    def directive(self, lineno: int, text: str) -> None:
        word, _, rest = text.partition(" ")
        try:
            kind = DirectiveKind(word)
        except ValueError:
            known = ", ".join(k.value for k in DirectiveKind)
            raise self.error(lineno, f"unknown directive '@ {word}' (known: {known})") from None
        if kind is DirectiveKind.STDERR:
            if not self.exited:
                raise self.error(lineno, "'@ stderr' must follow '@ exit'")
            self.stderr.append(StderrLine(lineno, rest))
            return
        rest = rest.strip()
        if kind in (DirectiveKind.CONNECT, DirectiveKind.CONN, DirectiveKind.CLOSE):
            self.connection_directive(lineno, kind, rest)
        elif kind is DirectiveKind.WAIT:
            try:
                seconds = float(rest)
            except ValueError:
                seconds = math.nan
            if not math.isfinite(seconds) or seconds < 0:
                raise self.error(lineno, f"'@ wait' needs a number of seconds, got {rest!r}")
            self.begin(lineno, Directive(kind, seconds=seconds))
        elif kind is DirectiveKind.EOF:
            if rest:
                raise self.error(lineno, "'@ eof' takes no argument")
            if self.current is None:
                raise self.error(lineno, "'@ eof' without a current connection")
            self.begin(lineno, Directive(kind, name=self.current))
            self.open.discard(self.current)
            self.current = None
            self.conn = None
        else:  # EXIT
            try:
                code = int(rest)
            except ValueError:
                raise self.error(lineno, f"'@ exit' needs an exit code, got {rest!r}") from None
            self.begin(lineno, Directive(kind, code=code))
            self.conn = None
            self.exited = True

    def connection_directive(self, lineno: int, kind: DirectiveKind, name: str) -> None:
        if not _NAME_RE.match(name):
            raise self.error(lineno, f"'@ {kind.value}' needs a connection name, got {name!r}")
        if kind is DirectiveKind.CONNECT:
            if name in self.open:
                raise self.error(lineno, f"connection {name} is already open")
            self.open.add(name)
            self.current = name
        elif name not in self.open:
            raise self.error(lineno, f"no open connection {name}")
        elif kind is DirectiveKind.CONN:
            self.current = name
        else:  # CLOSE
            self.open.discard(name)
            if self.current == name:
                self.current = None
        self.begin(lineno, Directive(kind, name=name))


def parse(text: str, *, path: Path | None = None) -> Transcript:
    """Parse transcript text.

    Raises:
        TranscriptError: The text is malformed (message names the line).
    """
    return _Parser(text, path).parse()


# --- rewriting -----------------------------------------------------------------


def _start_insertion(t: Transcript) -> int:
    """0-based line index where the greeting's ``<-`` lines go when there are none.

    Right before the first action, but above the plain comments that sit
    directly on top of it (they describe that action); never above a header.
    """
    if len(t.steps) < 2:
        # No action at all: after the last line.
        return len(t.lines)
    index = t.steps[1].lineno - 1
    header_lines = {h.lineno - 1 for h in t.headers}
    while index > 0:
        above = t.lines[index - 1]
        if above.startswith("#") and above != MAGIC and (index - 1) not in header_lines:
            index -= 1
        else:
            break
    return index


def rewrite(
    t: Transcript,
    *,
    expected: Mapping[int, Sequence[str]] | None = None,
    exits: Mapping[int, tuple[int, Sequence[str]]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> str:
    """Return the transcript text with some expectations and headers replaced.

    Args:
        t: The transcript.
        expected: Step index -> the new ``<-`` texts (JSON) for that step. The
            old ``<-`` lines of the step are removed; the new ones go where
            the first old one was, or right after the action line.
        exits: Step index of an ``@ exit`` step -> (exit code, stderr lines).
        headers: Header key -> new value; a missing header is added after
            the last header line.

    Only the named lines change; comments, blank lines and client input
    stay byte for byte.
    """
    expected = expected or {}
    exits = exits or {}
    headers = dict(headers or {})
    replace: dict[int, str] = {}  # 0-based index -> new text
    delete: set[int] = set()
    insert: dict[int, list[str]] = {}  # insert before 0-based index

    def put(old: Sequence[int], default_at: int, new: list[str]) -> None:
        delete.update(i - 1 for i in old)
        at = old[0] - 1 if old else default_at
        insert.setdefault(at, []).extend(new)

    for index, texts in expected.items():
        step = t.steps[index]
        new = [f"<- {x}" for x in texts]
        if index == 0:
            default_at = _start_insertion(t)
            if new and not step.expected and default_at > 0 and not t.lines[default_at - 1]:
                new.append("")  # keep the greeting apart from the first step, like above it
        else:
            default_at = step.lineno
        put([e.lineno for e in step.expected], default_at, new)
    for index, (code, stderr) in exits.items():
        step = t.steps[index]
        assert isinstance(step.action, Directive) and step.action.kind is DirectiveKind.EXIT
        replace[step.lineno - 1] = f"@ exit {code}"
        put(
            [s.lineno for s in step.stderr],
            step.lineno,
            [f"@ stderr {x}" if x else "@ stderr" for x in stderr],
        )
    for header in t.headers:
        if header.key in headers:
            replace[header.lineno - 1] = f"# {header.key}: {headers.pop(header.key)}"
    if headers:
        if t.headers:
            at = t.headers[-1].lineno
        elif t.lines and t.lines[0] == MAGIC:
            at = 1
        else:
            at = 0
        insert.setdefault(at, [])[0:0] = [f"# {k}: {v}" for k, v in headers.items()]

    out: list[str] = []
    for i, line in enumerate(t.lines):
        out.extend(insert.get(i, []))
        if i in delete:
            continue
        out.append(replace.get(i, line))
    out.extend(insert.get(len(t.lines), []))
    text = "\n".join(out)
    return text + "\n" if out and (t.final_newline or not t.lines) else text
