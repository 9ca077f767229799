"""hvballoond/qapi/generated/ must be what the compiler makes of schema/ now."""

from __future__ import annotations

from pathlib import Path

from hvballoond.qapi.__main__ import main
from hvballoond.qapi.codegen import GENERATED_FILES
from hvballoond.qapi.examples import DEFAULT_SCHEMA

GENERATED = Path(__file__).resolve().parents[2] / "hvballoond" / "qapi" / "generated"
SOURCE = "schema/hvballoond.json"


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    status = main([str(DEFAULT_SCHEMA), "-o", str(tmp_path), "--source-name", SOURCE])
    assert status == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(GENERATED_FILES)
    stale = [
        name
        for name in GENERATED_FILES
        if (tmp_path / name).read_text(encoding="utf-8")
        != (GENERATED / name).read_text(encoding="utf-8")
    ]
    assert stale == [], f"stale: {stale}; run `make schema`"


def test_generated_files_say_do_not_edit() -> None:
    for name in GENERATED_FILES:
        head = (GENERATED / name).read_text(encoding="utf-8")[:300]
        assert "do not edit" in head
        assert SOURCE in head


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        assert main([str(DEFAULT_SCHEMA), "-o", str(out), "--source-name", SOURCE]) == 0
    for name in GENERATED_FILES:
        assert (first / name).read_bytes() == (second / name).read_bytes()
