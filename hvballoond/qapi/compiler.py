"""The schema compiler's entry point: schema file -> checked IR -> Python sources."""

from __future__ import annotations

from pathlib import Path

from hvballoond.qapi import ir
from hvballoond.qapi.check import check_schema
from hvballoond.qapi.codegen import generate
from hvballoond.qapi.loader import load_schema

__all__ = ["compile_schema", "generate"]


def compile_schema(root: Path, *, display_name: str | None = None) -> ir.Schema:
    """Load, check and return the schema rooted at ``root``.

    Args:
        root: the root schema file.
        display_name: how diagnostics name the root (default: ``str(root)``).

    Raises:
        SchemaError: the schema has an error (printed QAPI-style by ``str()``).
    """
    return check_schema(load_schema(root, display_name=display_name))
