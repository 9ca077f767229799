"""``replay`` from the command line, JUnit output and ``python -m hvballoond.transcripts``.

A one-line shell script stands in for a server that refuses its command line,
so these run without QEMU.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hvballoond.transcripts import replay
from hvballoond.transcripts.__main__ import main as tools_main
from hvballoond.transcripts.compare import Mismatch
from hvballoond.transcripts.format import parse
from hvballoond.transcripts.junit import junit_xml
from hvballoond.transcripts.replay import Outcome, ReplayResult, summary_line

REFUSING = "sh -c 'echo \"hvballoond: -m 0: bad size\" >&2; exit 1' sh"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_replay_main_pass_fail_and_junit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path / "good.qmp", "# args: -m 0\n@ exit 1\n@ stderr -m 0: bad size\n")
    bad = write(tmp_path / "bad.qmp", "# args: -m 0\n@ exit 1\n@ stderr -m 0: other\n")
    broken = write(tmp_path / "broken.qmp", "# args: -m 0\n<- {nope\n")
    junit = tmp_path / "out.xml"
    status = replay.main(
        ["--emulator", REFUSING, "--junit", str(junit), str(good), str(bad), str(broken)]
    )
    out = capsys.readouterr().out
    assert status == 1
    assert f"PASS {good} (" in out
    assert f"FAIL {bad} (" in out
    assert f"{bad}:3: stderr differs\n" in out
    assert "  expected: -m 0: other\n  got:      -m 0: bad size\n" in out
    assert f"{broken}:2: malformed transcript: '<-' is not one JSON value" in out
    assert out.rstrip().endswith("1 passed, 2 failed")
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "0")
    failure = suite.find("testcase[@name='bad']/failure")
    assert failure is not None and failure.get("message") == "stderr differs"
    assert failure.text is not None and f"{bad}:3:" in failure.text


def test_replay_main_all_green_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path / "good.qmp", "# args: -m 0\n@ exit 1\n@ stderr -m 0: bad size\n")
    assert replay.main(["--emulator", REFUSING, "-q", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert str(good) not in out  # --quiet hides passes
    assert out.strip() == "1 passed, 0 failed"


def test_replay_main_update_rewrites_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "u.qmp", "# hvballoond transcript v1\n# args: -m 0\n\n@ exit 1\n")
    assert replay.main(["--emulator", REFUSING, "--update", str(path)]) == 0
    assert path.read_text() == (
        "# hvballoond transcript v1\n# args: -m 0\n\n@ exit 1\n@ stderr -m 0: bad size\n"
    )
    out = capsys.readouterr().out
    assert f"UPDATED {path}" in out
    assert "+@ stderr -m 0: bad size\n" in out
    assert out.rstrip().endswith("0 passed, 0 failed, 1 updated")


def test_replay_main_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert replay.main([str(tmp_path / "missing.qmp")]) == 2
    assert "no such transcript" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        replay.main(["--socket", "/s", "--emulator", "x", "t.qmp"])
    assert info.value.code == 2


def test_tools_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    assert tools_main([]) == 2
    assert tools_main(["frobnicate"]) == 2
    assert "unknown tool" in capsys.readouterr().err
    assert tools_main(["--help"]) == 0


def test_python_dash_m_runs(tmp_path: Path) -> None:
    good = write(tmp_path / "good.qmp", "# args: -m 0\n@ exit 1\n@ stderr -m 0: bad size\n")
    command = [sys.executable, "-m", "hvballoond.transcripts", "replay"]
    proc = subprocess.run(
        [*command, "--emulator", REFUSING, str(good)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed, 0 failed" in proc.stdout


def test_junit_outcomes() -> None:
    t = parse("<- {}\n", path=Path("tests/transcripts/dimm/a.qmp"))
    results = [
        ReplayResult(t, t.path, Outcome.PASSED, duration=0.25),
        ReplayResult(
            t, Path("tests/transcripts/dimm/b.qmp"), Outcome.FAILED, Mismatch(1, "differs")
        ),
        ReplayResult(t, Path("c.qmp"), Outcome.SKIPPED, reason="needs a process"),
        ReplayResult(None, Path("d.qmp"), Outcome.ERROR, reason="cannot start"),
    ]
    root = ET.fromstring(junit_xml(results))
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "4"
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("1", "1", "1")
    cases = suite.findall("testcase")
    assert [c.get("classname") for c in cases] == [
        "transcripts.dimm",
        "transcripts.dimm",
        "transcripts",
        "transcripts",
    ]
    assert cases[0].get("time") == "0.250"
    skipped = cases[2].find("skipped")
    assert skipped is not None and skipped.get("message") == "needs a process"
    assert summary_line(results) == "1 passed, 1 failed, 1 skipped, 1 errors"
