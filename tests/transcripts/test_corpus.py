"""Replays the golden corpus (tests/transcripts/<area>/*.qmp) against hvballoond.

Every transcript runs in-process (the daemon in this test's event loop, on its virtual clock,
over a real UNIX socket); a sample per area also runs against a separate ``hvballoond``
process, exactly as ``hvballoond replay`` would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hvballoond.transcripts.format import load
from hvballoond.transcripts.replay import Outcome, ReplayOptions, replay_transcript
from hvballoond.transcripts.runner import EmulatorTarget, InProcessTarget

CORPUS = Path(__file__).resolve().parent
TRANSCRIPTS = sorted(CORPUS.glob("*/*.qmp"))
# In-process replies are synchronous: a short quiet period is enough to catch extra output.
IN_PROCESS = ReplayOptions(timeout=5.0, quiet_period=0.03)
SUBPROCESS = ReplayOptions(timeout=10.0, quiet_period=0.1, startup_timeout=20.0)


def _ids(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def _known_differences() -> dict[str, str]:
    """``area/name: reason`` lines: recorded QEMU behaviour hvballoond deliberately differs from.

    Each is also listed in the README; the test fails if such a transcript starts passing.
    """
    out: dict[str, str] = {}
    for line in (CORPUS / "known-differences.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition(":")
            out[name.strip()] = reason.strip()
    return out


KNOWN_DIFFERENCES = _known_differences()


def _params(paths: list[Path]) -> list[object]:
    return [
        pytest.param(
            path,
            id=_ids(path),
            marks=[pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[_ids(path)])]
            if _ids(path) in KNOWN_DIFFERENCES else [],
        )
        for path in paths
    ]


def _first_per_area(paths: list[Path]) -> list[Path]:
    seen: dict[str, Path] = {}
    for path in paths:
        seen.setdefault(path.parent.name, path)
    return list(seen.values())


def test_corpus_is_not_empty() -> None:
    assert len(TRANSCRIPTS) >= 8


def test_known_differences_exist() -> None:
    names = {_ids(path) for path in TRANSCRIPTS}
    assert sorted(set(KNOWN_DIFFERENCES) - names) == []


@pytest.mark.parametrize("path", _params(TRANSCRIPTS))
async def test_transcript_in_process(path: Path) -> None:
    result = await replay_transcript(load(path), InProcessTarget(), options=IN_PROCESS)
    assert result.outcome is Outcome.PASSED, result.report()


@pytest.mark.socket
@pytest.mark.parametrize("path", _params(_first_per_area(TRANSCRIPTS)))
async def test_transcript_against_a_daemon_process(path: Path) -> None:
    target = EmulatorTarget(("hvballoond",))
    result = await replay_transcript(load(path), target, options=SUBPROCESS)
    assert result.outcome is Outcome.PASSED, result.report()
