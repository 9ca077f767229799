"""tests.oracle.record_corpus: the drift report over the golden corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hvballoond.transcripts.replay import Outcome, ReplayResult
from tests.oracle.record_corpus import CORPUS, main, prepare, report

QEMU = "qemu-system-x86_64"
SAMPLE = CORPUS / "core" / "core-query-target.qmp"
needs_qemu = pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"{QEMU} is not installed")

HAND_WRITTEN = """\
# hvballoond transcript v1
# args: -machine q35 -m 1G
# recorded-from: hand-written from the spec (qmp-protocol.md 10.6)
# description: not recorded from QEMU
-> {"execute": "qmp_capabilities"}
<- {"return": {}}
"""


def test_missing_emulator_is_not_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--emulator", "no-such-qemu-binary", str(SAMPLE)]) == 0
    assert "not installed" in capsys.readouterr().out


def test_only_qemu_recorded_transcripts_are_replayed(tmp_path: Path) -> None:
    hand = tmp_path / "hand.qmp"
    hand.write_text(HAND_WRITTEN, encoding="utf-8")
    entries, problems = prepare([SAMPLE, hand], CORPUS, tmp_path / "scratch")
    assert problems == []
    assert [e.rel for e in entries] == [Path("core/core-query-target.qmp")]
    assert entries[0].copy.read_text(encoding="utf-8") == SAMPLE.read_text(encoding="utf-8")


def test_unreadable_transcript_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.qmp"
    bad.write_text("# hvballoond transcript v1\nnonsense\n", encoding="utf-8")
    entries, problems = prepare([bad], CORPUS, tmp_path / "scratch")
    assert entries == []
    assert len(problems) == 1 and "bad.qmp" in problems[0]


def test_drift_diff_names_the_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entries, _ = prepare([SAMPLE], CORPUS, tmp_path)
    entry = entries[0]
    result = ReplayResult(entry.transcript, entry.copy, Outcome.UPDATED, new_text="changed\n")
    assert report(entry, result)
    out = capsys.readouterr().out
    assert "--- corpus/core/core-query-target.qmp" in out
    assert "+changed" in out
    assert entry.copy.read_text(encoding="utf-8") == "changed\n"
    assert SAMPLE.read_text(encoding="utf-8") != "changed\n"


@pytest.mark.oracle
@needs_qemu
def test_recorded_transcript_does_not_drift(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(SAMPLE)]) == 0
    assert "0 drifted" in capsys.readouterr().out


@pytest.mark.oracle
@needs_qemu
def test_changed_expectation_is_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    changed = tmp_path / "core-query-target.qmp"
    changed.write_text(
        SAMPLE.read_text(encoding="utf-8").replace('"arch": "x86_64"', '"arch": "i386"'),
        encoding="utf-8",
    )
    assert main([str(changed)]) == 1
    out = capsys.readouterr().out
    assert '-<- {"return": {"arch": "i386"}, "id": "t"}' in out
    assert '+<- {"return": {"arch": "x86_64"}, "id": "t"}' in out
    assert "1 drifted" in out
    assert '"i386"' in changed.read_text(encoding="utf-8")  # the corpus file is left alone
