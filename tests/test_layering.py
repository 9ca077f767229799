"""The import contract between layers (STYLE.md §1.3), checked by walking every module's AST."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hvballoond"

# package -> project packages it must not import, and third-party/stdlib modules it must not use
FORBIDDEN: dict[str, tuple[set[str], set[str]]] = {
    "wire": ({"qmp", "qapi", "dispatch", "machine", "runtime", "cli", "transcripts"},
             {"asyncio", "socket", "pydantic", "structlog"}),
    "qmp": ({"qapi", "dispatch", "machine", "runtime", "cli", "transcripts"},
            {"asyncio", "socket", "pydantic"}),
    "machine": ({"qmp", "qapi", "dispatch", "runtime", "cli", "transcripts", "wire"},
                {"asyncio", "pydantic", "time", "socket"}),
    "dispatch": ({"runtime", "cli", "transcripts"}, {"asyncio", "socket"}),
    "probe": ({"dispatch", "machine", "runtime", "cli", "transcripts", "qapi"},
              {"asyncio", "socket", "pydantic"}),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _cases() -> list[tuple[str, Path]]:
    return [
        (layer, path) for layer in FORBIDDEN for path in sorted((PACKAGE / layer).rglob("*.py"))
    ]


@pytest.mark.parametrize(("layer", "path"), _cases(), ids=lambda v: str(v).split("hvballoond/")[-1])
def test_layer_imports(layer: str, path: Path) -> None:
    project_forbidden, external_forbidden = FORBIDDEN[layer]
    for name in _imports(path):
        parts = name.split(".")
        if name == "hvballoond.wire.values":
            continue  # the JSON value type is shared by every layer
        if parts[0] == "hvballoond" and len(parts) > 1:
            assert parts[1] not in project_forbidden, f"{path.name} imports {name}"
        else:
            assert parts[0] not in external_forbidden, f"{path.name} imports {name}"


def test_machine_and_core_never_read_the_clock() -> None:
    offenders = []
    for layer in ("wire", "qmp", "machine", "dispatch"):
        for path in (PACKAGE / layer).rglob("*.py"):
            text = path.read_text()
            for needle in ("time.time(", "time.monotonic(", "asyncio.sleep(", "datetime.now(",
                           "random.random(", "random.randint("):
                if needle in text:
                    offenders.append(f"{path.relative_to(PACKAGE)}: {needle}")
    assert offenders == []
