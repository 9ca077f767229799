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


def _first_per_area(paths: list[Path]) -> list[Path]:
    seen: dict[str, Path] = {}
    for path in paths:
        seen.setdefault(path.parent.name, path)
    return list(seen.values())


def test_corpus_is_not_empty() -> None:
    assert len(TRANSCRIPTS) >= 8


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=_ids)
async def test_transcript_in_process(path: Path) -> None:
    result = await replay_transcript(load(path), InProcessTarget(), options=IN_PROCESS)
    assert result.outcome is Outcome.PASSED, result.report()


@pytest.mark.socket
@pytest.mark.parametrize("path", _first_per_area(TRANSCRIPTS), ids=_ids)
async def test_transcript_against_a_daemon_process(path: Path) -> None:
    target = EmulatorTarget(("hvballoond",))
    result = await replay_transcript(load(path), target, options=SUBPROCESS)
    assert result.outcome is Outcome.PASSED, result.report()
