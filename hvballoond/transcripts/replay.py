"""Replay transcripts against a server and compare, or rewrite their expectations.

Command line (``hvballoond replay`` / ``python -m hvballoond.transcripts replay``)::

    hvballoond replay [--emulator CMD | --socket PATH] [--update] [--junit FILE]
                      [--strict-version] [--timeout S] [--quiet-period S]
                      TRANSCRIPT_OR_DIR...

Prints ``PASS``/``FAIL`` per transcript, the first mismatch of each failure
(``file:line``, expected vs got, key by key), a summary ``N passed, M failed``
and exits 1 when anything failed. With ``--update`` the expectations are
rewritten from what the server said (and ``# recorded-from:`` from
``CMD --version`` when the server is QEMU).

How a step's output is read:

- replaying: exactly as many messages as the step has ``<-`` lines (each
  within ``--timeout``), then nothing more during ``--quiet-period``;
- updating: until every request of the step has its reply (a ``->`` line
  holding N JSON values gets N replies; ``-x`` input, directives and
  connections not yet greeted wait for quiescence), then until nothing
  arrives for ``--quiet-period``.

Messages that arrive later belong to the next step on that connection.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import enum
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hvballoond.transcripts.compare import (
    Mismatch,
    Received,
    differences,
    is_reply,
    matches,
)
from hvballoond.transcripts.format import (
    Directive,
    DirectiveKind,
    Send,
    Start,
    Step,
    Transcript,
    TranscriptError,
    count_json_values,
    load,
    parse,
    rewrite,
)
from hvballoond.transcripts.runner import (
    EOF,
    Connection,
    EmulatorTarget,
    Flavor,
    ServerExited,
    ServerSession,
    SocketTarget,
    Target,
    emulator_version,
    parse_emulator,
)
from hvballoond.wire.values import JSONValue

__all__ = [
    "CLOCK_COMMAND",
    "CLOCK_ID",
    "Outcome",
    "ReplayOptions",
    "ReplayResult",
    "collect_paths",
    "main",
    "replay_paths",
    "replay_transcript",
]

CLOCK_COMMAND = "x-hvb-advance-clock"
CLOCK_ID = "__hvb_clock__"
_STDERR_TAIL = 10


class Outcome(enum.StrEnum):
    """What happened to one transcript."""

    PASSED = "PASS"
    FAILED = "FAIL"
    UPDATED = "UPDATED"
    SKIPPED = "SKIP"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """Timing and comparison knobs.

    Attributes:
        timeout: How long to wait for each expected message (seconds).
        quiet_period: How long nothing more may arrive after a step.
        strict_version: Compare the greeting's ``version`` too.
        startup_timeout: How long a server may take to open its socket or,
            for ``@ exit``, to end.
    """

    timeout: float = 5.0
    quiet_period: float = 0.2
    strict_version: bool = False
    startup_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The outcome of replaying one transcript.

    Attributes:
        transcript: What was replayed (``None`` when it did not parse).
        path: Its file.
        outcome: PASS, FAIL, UPDATED, SKIP or ERROR.
        mismatch: For FAIL: the first difference.
        reason: For SKIP/ERROR (and unparsable files): why.
        new_text: With ``update``: the rewritten transcript (``None`` if unchanged).
        warnings: Things an update could not express (replies that never came...).
        duration: Seconds spent.
    """

    transcript: Transcript | None
    path: Path | None
    outcome: Outcome
    mismatch: Mismatch | None = None
    reason: str | None = None
    new_text: str | None = None
    warnings: tuple[str, ...] = field(default=())
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """Not a failure (PASS, UPDATED or SKIP)."""
        return self.outcome in (Outcome.PASSED, Outcome.UPDATED, Outcome.SKIPPED)

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else "<transcript>"

    def report(self) -> str:
        """The explanation printed under a FAIL/ERROR/SKIP line (may be empty)."""
        lines: list[str] = []
        if self.mismatch is not None:
            where = (
                self.transcript.where(self.mismatch.lineno)
                if self.transcript is not None
                else f"{self.name}:{self.mismatch.lineno}"
            )
            lines.append(self.mismatch.render(where))
        if self.reason:
            lines.append(self.reason)
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)


class _Failed(Exception):
    def __init__(self, mismatch: Mismatch) -> None:
        self.mismatch = mismatch
        super().__init__(mismatch.summary)


def _step_text(t: Transcript, step: Step) -> str | None:
    if step.lineno <= 0:
        return None
    return t.lines[step.lineno - 1]


class _Run:
    """One transcript against one server session."""

    def __init__(
        self, t: Transcript, server: ServerSession, options: ReplayOptions, *, update: bool
    ) -> None:
        self.t = t
        self.server = server
        self.options = options
        self.update = update
        self.new_expected: dict[int, list[str]] = {}
        self.new_exits: dict[int, tuple[int, list[str]]] = {}
        self.warnings: list[str] = []
        self.eof_seen: set[str] = set()

    # --- helpers ---------------------------------------------------------------

    def fail(
        self,
        step: Step,
        lineno: int | None,
        summary: str,
        *,
        expected: str | None = None,
        got: str | None = None,
        details: Sequence[str] = (),
    ) -> _Failed:
        mismatch = Mismatch(
            lineno=lineno if lineno is not None else max(step.lineno, 1),
            summary=summary,
            step_lineno=step.lineno,
            step_text=_step_text(self.t, step),
            expected=expected,
            got=got,
            details=tuple(details),
        )
        return _Failed(mismatch)

    def conn(self, name: str | None) -> Connection | None:
        return self.server.connections.get(name) if name is not None else None

    # --- steps -------------------------------------------------------------------

    async def run(self) -> None:
        for step in self.t.steps:
            await self.step(step)
        self.finish()

    async def step(self, step: Step) -> None:
        action = step.action
        if isinstance(action, Start):
            await self.start(step)
        elif isinstance(action, Send):
            await self.send(step, action)
        else:
            await self.directive(step, action)

    async def start(self, step: Step) -> None:
        if self.t.startup_fails:
            return  # the server is expected to refuse its command line: nothing to greet
        conn = await self.open(step, "c1")
        await self.output(step, conn, replies=1)

    async def open(self, step: Step, name: str) -> Connection:
        lineno = step.expected[0].lineno if step.expected else None
        try:
            return await self.server.connect(name)
        except ServerExited as exc:
            hint: tuple[str, ...] = ()
            if step.index == 0:
                hint = ("(a refused command line is written '@ exit 1' + '@ stderr TEXT')",)
            raise self.fail(
                step,
                lineno,
                f"the server {exc.status.describe()} before serving",
                details=hint,
            ) from None
        except (OSError, TimeoutError) as exc:
            raise self.fail(
                step, lineno, f"cannot connect to {self.server.socket_path}: {exc}"
            ) from None

    async def send(self, step: Step, action: Send) -> None:
        conn = self.conn(step.conn)
        assert conn is not None  # the parser guarantees a current connection
        replies: int | None = None
        if not action.raw and conn.greeted:
            replies = count_json_values(action.text)
        try:
            await conn.send(action.data)
        except (ConnectionError, OSError) as exc:
            raise self.fail(step, step.lineno, f"cannot send: {exc}") from None
        await self.output(step, conn, replies=replies)

    async def directive(self, step: Step, action: Directive) -> None:
        kind = action.kind
        if kind is DirectiveKind.CONNECT:
            assert action.name is not None
            alone = not any(not c.closed and not c.at_eof for c in self.server.connections.values())
            conn = await self.open(step, action.name)
            await self.output(step, conn, replies=1 if alone else None)
        elif kind is DirectiveKind.CONN:
            switched = self.conn(action.name)
            assert switched is not None
            await self.output(step, switched, replies=None)
        elif kind is DirectiveKind.CLOSE:
            closing = self.conn(action.name)
            assert closing is not None
            await closing.close()
            if (current := self.conn(step.conn)) is not None:
                await self.output(step, current, replies=None)
        elif kind is DirectiveKind.WAIT:
            await self.wait(step, action)
        elif kind is DirectiveKind.EOF:
            await self.eof(step, action)
        elif kind is DirectiveKind.EXIT:
            await self.exit(step, action)

    async def wait(self, step: Step, action: Directive) -> None:
        assert action.seconds is not None
        conn = self.conn(step.conn)
        if self.server.virtual_clock:
            if conn is None:
                raise self.fail(step, step.lineno, "'@ wait' on a virtual clock needs a connection")
            seconds: JSONValue = (
                int(action.seconds) if action.seconds.is_integer() else action.seconds
            )
            request: JSONValue = {
                "execute": CLOCK_COMMAND,
                "arguments": {"seconds": seconds},
                "id": CLOCK_ID,
            }
            try:
                reply = await conn.request_private(request, CLOCK_ID, self.options.timeout)
            except (TimeoutError, ConnectionError, OSError) as exc:
                raise self.fail(step, step.lineno, f"{CLOCK_COMMAND} got no reply: {exc}") from None
            if isinstance(reply, dict) and "error" in reply:
                raise self.fail(step, step.lineno, f"{CLOCK_COMMAND} failed", got=str(reply))
        else:
            await asyncio.sleep(action.seconds)
        if conn is not None:
            await self.output(step, conn, replies=None)

    async def eof(self, step: Step, action: Directive) -> None:
        assert action.name is not None
        conn = self.conn(action.name)
        assert conn is not None
        item = await conn.next(self.options.timeout)
        if item is EOF:
            self.eof_seen.add(action.name)
            await conn.close()
            return
        if item is None:
            raise self.fail(
                step,
                step.lineno,
                "the server did not close the connection",
                got=f"still open after {self.options.timeout} s",
            )
        assert isinstance(item, Received)
        raise self.fail(
            step,
            step.lineno,
            "expected the server to close the connection, got a message",
            got=item.text,
        )

    async def exit(self, step: Step, action: Directive) -> None:
        assert action.code is not None
        timeout = self.options.startup_timeout
        status = await self.server.wait_exit(timeout)
        if status is None:
            raise self.fail(
                step,
                step.lineno,
                f"the server did not exit (expected exit {action.code})",
                got=f"still running after {timeout} s",
            )
        if self.update:
            old = [s.text for s in step.stderr]
            new = list(status.stderr) if (status.code != 0 or step.stderr) else []
            if (status.code != 0) != (action.code != 0) or new != old:
                self.new_exits[step.index] = (status.code, new)
            return
        # docs/transcript-format.md: "exited non-zero" + the text.
        if (status.code != 0) != (action.code != 0):
            raise self.fail(
                step,
                step.lineno,
                "exit status differs",
                expected=f"exit {action.code}",
                got=f"exit {status.code}",
                details=_stderr_details(status.stderr),
            )
        if action.code == 0 and not step.stderr:
            return
        expected = [s.text for s in step.stderr]
        if list(status.stderr) != expected:
            first = next(
                (
                    i
                    for i, (e, g) in enumerate(zip(expected, status.stderr, strict=False))
                    if e != g
                ),
                min(len(expected), len(status.stderr)),
            )
            lineno = step.stderr[first].lineno if first < len(step.stderr) else step.last_lineno
            raise self.fail(
                step,
                lineno,
                "stderr differs",
                expected=expected[first] if first < len(expected) else "(no more lines)",
                got=status.stderr[first] if first < len(status.stderr) else "(no more lines)",
                details=_stderr_details(status.stderr),
            )

    # --- output of a step ---------------------------------------------------------------

    async def output(self, step: Step, conn: Connection, *, replies: int | None) -> None:
        if self.update:
            received = await self.collect(step, conn, replies)
            self.record(step, received)
        else:
            await self.check(step, conn)

    async def check(self, step: Step, conn: Connection) -> None:
        strict = self.options.strict_version
        for expected in step.expected:
            item = await conn.next(self.options.timeout)
            if item is None:
                raise self.fail(
                    step,
                    expected.lineno,
                    "expected message did not arrive",
                    expected=expected.text,
                    got=f"nothing within {self.options.timeout} s",
                )
            if item is EOF:
                raise self.fail(
                    step,
                    expected.lineno,
                    "the server closed the connection",
                    expected=expected.text,
                    got="end of file",
                )
            assert isinstance(item, Received)
            diffs = differences(expected.value, item, strict_version=strict)
            if diffs:
                raise self.fail(
                    step,
                    expected.lineno,
                    "server message differs",
                    expected=expected.text,
                    got=item.text,
                    details=diffs,
                )
        item = await conn.next(self.options.quiet_period)
        if isinstance(item, Received):
            where = "after the step" if not step.expected else "after the last expected message"
            raise self.fail(
                step,
                step.last_lineno,
                f"unexpected message from the server on {conn.name}",
                got=item.text,
                details=(f"nothing more was expected {where} (line {step.last_lineno})",),
            )

    async def collect(self, step: Step, conn: Connection, replies: int | None) -> list[Received]:
        """Read a step's output for ``--update`` (see the module docstring).

        ``replies`` counts replies (``return``/``error``); for the start and
        ``@ connect`` steps it counts greetings.
        """
        received: list[Received] = []
        greeting = isinstance(step.action, Start) or (
            isinstance(step.action, Directive) and step.action.kind is DirectiveKind.CONNECT
        )
        if replies:
            count = 0
            while count < replies:
                item = await conn.next(self.options.timeout)
                if not isinstance(item, Received):
                    if item is None:
                        what = "greeting" if greeting else f"{replies} replies"
                        self.warnings.append(
                            f"{self.t.where(max(step.lineno, 1))}: only {count} of {what} "
                            f"arrived within {self.options.timeout} s"
                        )
                    break
                received.append(item)
                value = item.value
                if greeting:
                    count += isinstance(value, dict) and "QMP" in value
                else:
                    count += is_reply(value)
        while isinstance(item := await conn.next(self.options.quiet_period), Received):
            received.append(item)
        return received

    def record(self, step: Step, received: list[Received]) -> None:
        texts: list[str] = []
        for i, item in enumerate(received):
            if not item.valid:
                raise self.fail(
                    step,
                    step.last_lineno,
                    "the server sent a line that is not JSON; a transcript cannot hold it",
                    got=item.text,
                )
            old = step.expected[i] if i < len(step.expected) else None
            keep = old is not None and matches(
                old.value, item, strict_version=self.options.strict_version
            )
            texts.append(old.text if keep and old is not None else item.text)
        if texts != [e.text for e in step.expected]:
            self.new_expected[step.index] = texts

    def finish(self) -> None:
        last = self.t.steps[-1]
        for name, conn in self.server.connections.items():
            if conn.closed:
                continue
            left = conn.pending()
            if left:
                summary = f"messages on {name} that no step of the transcript reads"
                hint = f"add '@ conn {name}' where they arrive"
                raise self.fail(
                    last,
                    last.last_lineno,
                    summary,
                    got=left[0].text,
                    details=(*(f"also: {x.text}" for x in left[1:4]), hint),
                )
            if conn.at_eof and name not in self.eof_seen:
                raise self.fail(
                    last,
                    last.last_lineno,
                    f"the server closed connection {name} but the transcript has no '@ eof'",
                )


def _skip_reason(t: Transcript, target: Target) -> str | None:
    if isinstance(target, SocketTarget) and t.uses_exit:
        return "needs its own server process ('@ exit'); skipped with --socket"
    return None


async def replay_transcript(
    t: Transcript,
    target: Target,
    *,
    update: bool = False,
    options: ReplayOptions | None = None,
    recorded_from: str | None = None,
) -> ReplayResult:
    """Replay one transcript against ``target``.

    Args:
        t: The parsed transcript.
        target: Where the server comes from.
        update: Instead of comparing, rewrite the expectations from what the
            server says (:attr:`ReplayResult.new_text`; the file is not written).
        options: Timeouts and comparison switches.
        recorded_from: With ``update``: the new ``# recorded-from:`` value. By
            default, against QEMU, the first line of ``CMD --version``.

    Returns:
        The result; never raises for server misbehaviour.
    """
    options = options or ReplayOptions()
    started = time.monotonic()
    if (
        update
        and recorded_from is None
        and isinstance(target, EmulatorTarget)
        and target.flavor is Flavor.QEMU
    ):
        recorded_from = await emulator_version(target)
    skip = _skip_reason(t, target)
    if skip is not None:
        return ReplayResult(t, t.path, Outcome.SKIPPED, reason=skip)
    server = ServerSession(target, t, startup_timeout=options.startup_timeout)
    run = _Run(t, server, options, update=update)
    mismatch: Mismatch | None = None
    try:
        async with server:
            try:
                await run.run()
            except _Failed as failed:
                mismatch = await _with_server_state(failed.mismatch, server)
    except OSError as exc:
        return ReplayResult(
            t,
            t.path,
            Outcome.ERROR,
            reason=f"cannot start {target.describe()}: {exc}",
            duration=time.monotonic() - started,
        )
    duration = time.monotonic() - started
    warnings = tuple(run.warnings)
    if mismatch is not None:
        return ReplayResult(
            t, t.path, Outcome.FAILED, mismatch, warnings=warnings, duration=duration
        )
    if not update:
        return ReplayResult(t, t.path, Outcome.PASSED, duration=duration)
    headers: dict[str, str] = {}
    if recorded_from is not None and t.header("recorded-from") != recorded_from:
        headers["recorded-from"] = recorded_from
    new_text = rewrite(t, expected=run.new_expected, exits=run.new_exits, headers=headers)
    if new_text == t.text():
        return ReplayResult(t, t.path, Outcome.PASSED, warnings=warnings, duration=duration)
    parse(new_text, path=t.path)  # what we write must read back
    return ReplayResult(
        t, t.path, Outcome.UPDATED, new_text=new_text, warnings=warnings, duration=duration
    )


def _stderr_details(lines: Sequence[str]) -> tuple[str, ...]:
    tail = list(lines[-_STDERR_TAIL:])
    if not tail:
        return ("server stderr: (empty)",)
    head = "server stderr:"
    if len(lines) > len(tail):
        head = f"server stderr (last {len(tail)} of {len(lines)} lines):"
    return (head, *(f"  {line}" for line in tail))


async def _with_server_state(mismatch: Mismatch, server: ServerSession) -> Mismatch:
    """Add the server's exit status and stderr tail to a mismatch."""
    extra: list[str] = []
    if server.process is not None and not mismatch.summary.startswith(("stderr", "exit")):
        if any(c.at_eof for c in server.connections.values()):
            # A closed connection often means the server died: give it a moment to be reaped.
            await server.wait_exit(0.5)
        code = server.process.returncode
        if code is not None and "exited with code" not in mismatch.summary:
            extra.append(f"the server exited with code {code}")
        if server.stderr_lines():
            extra.extend(_stderr_details(server.stderr_lines()))
    if not extra:
        return mismatch
    return Mismatch(
        lineno=mismatch.lineno,
        summary=mismatch.summary,
        step_lineno=mismatch.step_lineno,
        step_text=mismatch.step_text,
        expected=mismatch.expected,
        got=mismatch.got,
        details=(*mismatch.details, *extra),
    )


# --- many transcripts -------------------------------------------------------------


def collect_paths(items: Sequence[str | Path]) -> list[Path]:
    """Expand directories to their ``*.qmp`` files (sorted), keep files as given.

    Raises:
        FileNotFoundError: An item does not exist.
    """
    paths: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            paths.extend(sorted(path.rglob("*.qmp")))
        elif path.exists():
            paths.append(path)
        else:
            raise FileNotFoundError(f"no such transcript or folder: {path}")
    return paths


async def _replay_path(
    path: Path,
    target: Target,
    *,
    update: bool,
    options: ReplayOptions,
    recorded_from: str | None,
) -> ReplayResult:
    try:
        t = load(path)
    except TranscriptError as exc:
        mismatch = Mismatch(lineno=exc.lineno, summary=f"malformed transcript: {exc.message}")
        return ReplayResult(None, path, Outcome.FAILED, mismatch)
    except OSError as exc:
        return ReplayResult(None, path, Outcome.ERROR, reason=str(exc))
    try:
        return await replay_transcript(
            t, target, update=update, options=options, recorded_from=recorded_from
        )
    except Exception as exc:  # a bug in the tool must not hide the other results
        detail = "".join(traceback.format_exception(exc)).rstrip()
        return ReplayResult(t, path, Outcome.ERROR, reason=f"internal error:\n{detail}")


async def replay_paths(
    paths: Sequence[Path],
    target: Target,
    *,
    update: bool = False,
    options: ReplayOptions | None = None,
    jobs: int = 1,
    on_result: Callable[[ReplayResult], None] | None = None,
) -> list[ReplayResult]:
    """Replay many transcripts (``jobs`` at a time), results in input order.

    With ``update`` against QEMU, ``# recorded-from:`` is set from
    ``CMD --version``. Files are not written here.
    """
    options = options or ReplayOptions()
    recorded_from: str | None = None
    if update and isinstance(target, EmulatorTarget) and target.flavor is Flavor.QEMU:
        recorded_from = await emulator_version(target)
    limit = asyncio.Semaphore(max(1, jobs))

    async def one(path: Path) -> ReplayResult:
        async with limit:
            return await _replay_path(
                path, target, update=update, options=options, recorded_from=recorded_from
            )

    tasks = [asyncio.create_task(one(p)) for p in paths]
    results: list[ReplayResult] = []
    try:
        for task in tasks:
            result = await task
            results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        for task in tasks:
            task.cancel()
    return results


# --- command line ----------------------------------------------------------------------


def build_parser(prog: str = "hvballoond replay") -> argparse.ArgumentParser:
    """The ``replay`` argument parser."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Replay QMP transcripts against a server and compare what it says.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--emulator",
        metavar="CMD",
        default="hvballoond",
        help="server program, shell-quoted (default: hvballoond; e.g. qemu-system-x86_64)",
    )
    where.add_argument("--socket", metavar="PATH", help="an already running server's QMP socket")
    parser.add_argument(
        "--virtual-clock",
        action="store_true",
        help="with --socket: the server runs with --virtual-clock ('@ wait' advances it)",
    )
    parser.add_argument(
        "--update", action="store_true", help="rewrite the expectations from the server's answers"
    )
    parser.add_argument("--junit", metavar="FILE", help="also write JUnit XML to FILE")
    parser.add_argument(
        "--strict-version", action="store_true", help="compare the greeting's version/package too"
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="wait per expected message (5)"
    )
    parser.add_argument(
        "--quiet-period",
        type=float,
        default=0.2,
        metavar="S",
        help="silence required after each step (0.2)",
    )
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="wait for the server's socket or exit (10)",
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=1, metavar="N", help="transcripts run at once (1)"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print only failures and the summary"
    )
    parser.add_argument("transcripts", nargs="+", metavar="TRANSCRIPT_OR_DIR")
    return parser


def _print_result(result: ReplayResult, *, quiet: bool, update: bool) -> None:
    out = sys.stdout
    if result.outcome is Outcome.PASSED and quiet:
        return
    print(f"{result.outcome.value} {result.name} ({result.duration:.1f} s)", file=out)
    report = result.report()
    if report and (result.outcome is not Outcome.PASSED or not quiet):
        print(report, file=out)
    if update and result.new_text is not None and result.transcript is not None:
        diff = difflib.unified_diff(
            result.transcript.text().splitlines(keepends=True),
            result.new_text.splitlines(keepends=True),
            fromfile=f"a/{result.name}",
            tofile=f"b/{result.name}",
        )
        out.writelines(diff)
    out.flush()


def summary_line(results: Sequence[ReplayResult]) -> str:
    """``N passed, M failed`` (+ updated/skipped/errors when there are any)."""
    count = {o: sum(1 for r in results if r.outcome is o) for o in Outcome}
    text = f"{count[Outcome.PASSED]} passed, {count[Outcome.FAILED]} failed"
    if count[Outcome.UPDATED]:
        text += f", {count[Outcome.UPDATED]} updated"
    if count[Outcome.SKIPPED]:
        text += f", {count[Outcome.SKIPPED]} skipped"
    if count[Outcome.ERROR]:
        text += f", {count[Outcome.ERROR]} errors"
    return text


def main(argv: Sequence[str] | None = None, *, prog: str = "hvballoond replay") -> int:
    """Entry point of ``hvballoond replay``; returns the exit status (0, 1, or 2)."""
    args = build_parser(prog).parse_args(argv)
    target: Target
    if args.socket:
        target = SocketTarget(Path(args.socket), virtual_clock=args.virtual_clock)
    else:
        try:
            target = parse_emulator(args.emulator)
        except ValueError as exc:
            print(f"{prog}: {exc}", file=sys.stderr)
            return 2
    try:
        paths = collect_paths(args.transcripts)
    except FileNotFoundError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    options = ReplayOptions(
        timeout=args.timeout,
        quiet_period=args.quiet_period,
        strict_version=args.strict_version,
        startup_timeout=args.startup_timeout,
    )

    def show(result: ReplayResult) -> None:
        if args.update and result.new_text is not None and result.path is not None:
            result.path.write_text(result.new_text, encoding="utf-8")
        _print_result(result, quiet=args.quiet, update=args.update)

    results = asyncio.run(
        replay_paths(
            paths, target, update=args.update, options=options, jobs=args.jobs, on_result=show
        )
    )
    print(summary_line(results))
    if args.junit:
        from hvballoond.transcripts.junit import write_junit

        write_junit(results, Path(args.junit))
    return 0 if all(r.ok for r in results) else 1
