"""``python -m hvballoond.qapi``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hvballoond.qapi.__main__ import main

CASES = Path(__file__).parent / "schema_cases"


def test_schema_error_exits_1_with_a_qapi_diagnostic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{ 'struct': 'Foo', 'data': { 'x': 'Nope' } }\n", encoding="utf-8")
    assert main([str(bad), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"{bad.as_posix()}: In struct 'Foo':\n"
        f"{bad.as_posix()}:1: member 'x' uses unknown type 'Nope'\n"
    )
    assert not (tmp_path / "out").exists()


def test_unreadable_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.json"
    assert main([str(missing), "-o", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"can't read schema file '{missing.as_posix()}': No such file or directory\n"
    )


def test_unmask_prints_real_type_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(CASES / "introspect-worked-example.json"), "--unmask"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {
        "name": "query-status",
        "meta-type": "command",
        "arg-type": "q_empty",
        "ret-type": "StatusInfo",
    }


def test_output_dir_is_required_without_unmask(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main([str(CASES / "introspect-worked-example.json")])
