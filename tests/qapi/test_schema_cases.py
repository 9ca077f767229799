"""Golden cases for the schema compiler (QEMU's tests/qapi-schema layout).

Each ``schema_cases/NAME.json`` is compiled with its own name as the root's display
name. A schema with an error must produce exactly ``NAME.err``; a good one must dump
(``irdump.dump_schema``) exactly as ``NAME.out``. ``schema_cases/include/`` holds files
the cases include. ``HVB_UPDATE_GOLDEN=1`` rewrites the expected files from what the
compiler does now (review the diff like code).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hvballoond.qapi.compiler import compile_schema
from hvballoond.qapi.errors import SchemaError
from tests.qapi.irdump import dump_schema

CASES_DIR = Path(__file__).parent / "schema_cases"
CASES = sorted(p.stem for p in CASES_DIR.glob("*.json"))
UPDATE = os.environ.get("HVB_UPDATE_GOLDEN") == "1"


def _run(name: str) -> tuple[str, str]:
    """(suffix, text): ``.err`` and the diagnostic, or ``.out`` and the IR dump."""
    cwd = Path.cwd()
    os.chdir(CASES_DIR)  # diagnostics name files relative to the case directory
    try:
        schema = compile_schema(Path(f"{name}.json"), display_name=f"{name}.json")
    except SchemaError as err:
        return ".err", f"{err}\n"
    finally:
        os.chdir(cwd)
    return ".out", dump_schema(schema)


def test_there_are_cases() -> None:
    assert len(CASES) > 40


@pytest.mark.parametrize("name", CASES)
def test_schema_case(name: str) -> None:
    suffix, text = _run(name)
    expected = CASES_DIR / f"{name}{suffix}"
    other = CASES_DIR / f"{name}{'.out' if suffix == '.err' else '.err'}"
    if UPDATE:
        expected.write_text(text, encoding="utf-8")
        other.unlink(missing_ok=True)
        return
    assert not other.exists(), f"{name}: expected {other.name}, compiler gives {suffix}"
    assert expected.exists(), f"{name}: no {expected.name}; run with HVB_UPDATE_GOLDEN=1"
    assert text == expected.read_text(encoding="utf-8")
