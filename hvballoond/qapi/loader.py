"""Reading schema files: the root, its includes and its pragmas (the compiler's only I/O).

Includes are processed where they stand, relative to the including file; a file already
included anywhere is skipped; a file that (indirectly) includes itself is an error
(qapi-schema-language.md §3, scripts/qapi/parser.py ``_include``). Pragmas apply to the
whole schema.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hvballoond.qapi.doc import Doc
from hvballoond.qapi.errors import SchemaError
from hvballoond.qapi.parser import Include, PragmaSetting, RawExpr, parse
from hvballoond.qapi.source import SourceInfo

__all__ = ["LoadedSchema", "Pragmas", "load_schema"]


@dataclass(frozen=True, slots=True)
class Pragmas:
    """The schema-wide settings of ``pragma`` directives."""

    doc_required: bool = False
    command_name_exceptions: frozenset[str] = frozenset()
    command_returns_exceptions: frozenset[str] = frozenset()
    documentation_exceptions: frozenset[str] = frozenset()
    member_name_exceptions: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class LoadedSchema:
    """Every definition of a schema, before any checking.

    ``exprs`` are in text order with includes expanded where they stand. ``modules`` are
    the displayed file names in QEMU's module order: the root first, then each included
    file when it is first included. Definitions are visited module by module in this
    order (scripts/qapi/schema.py ``QAPISchema.visit``).
    """

    exprs: tuple[RawExpr, ...]
    modules: tuple[str, ...]
    docs: tuple[Doc, ...]
    pragmas: Pragmas


@dataclass(slots=True)
class _State:
    read_text: Callable[[Path], str]
    exprs: list[RawExpr] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)
    docs: list[Doc] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    pragma: dict[str, bool | tuple[str, ...]] = field(default_factory=dict)


def _read_path(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def load_schema(
    root: Path,
    *,
    display_name: str | None = None,
    read_text: Callable[[Path], str] = _read_path,
) -> LoadedSchema:
    """Read ``root`` and everything it includes.

    Args:
        root: the root schema file.
        display_name: how to name the root in diagnostics (default: ``str(root)``);
            included files are named relative to it, as QEMU does.
        read_text: reads a file (tests substitute an in-memory file system).

    Raises:
        SchemaError: a file cannot be read or has an error.
    """
    state = _State(read_text)
    shown = display_name if display_name is not None else str(root)
    try:
        text = read_text(root)
    except OSError as err:
        raise SchemaError(None, f"can't read schema file '{shown}': {err.strerror}") from err
    _load_file(state, text, root, SourceInfo(shown, 1), ())
    pragma = state.pragma
    return LoadedSchema(
        exprs=tuple(state.exprs),
        modules=tuple(state.modules),
        docs=tuple(state.docs),
        pragmas=Pragmas(
            doc_required=bool(pragma.get("doc-required", False)),
            command_name_exceptions=_names(pragma, "command-name-exceptions"),
            command_returns_exceptions=_names(pragma, "command-returns-exceptions"),
            documentation_exceptions=_names(pragma, "documentation-exceptions"),
            member_name_exceptions=_names(pragma, "member-name-exceptions"),
        ),
    )


def _names(pragma: dict[str, bool | tuple[str, ...]], key: str) -> frozenset[str]:
    value = pragma.get(key, ())
    return frozenset(value) if isinstance(value, tuple) else frozenset()


def _load_file(
    state: _State, text: str, path: Path, info: SourceInfo, chain: tuple[str, ...]
) -> None:
    key = os.path.abspath(path)
    state.seen.add(key)
    state.modules.append(info.fname)
    chain = (*chain, key)
    parsed = parse(text, info=info)
    state.docs.extend(parsed.docs)
    for item in parsed.items:
        if isinstance(item, RawExpr):
            state.exprs.append(item)
        elif isinstance(item, PragmaSetting):
            state.pragma[item.name] = item.value
        else:
            _include(state, item, path, chain)


def _include(state: _State, item: Include, includer: Path, chain: tuple[str, ...]) -> None:
    shown = os.path.join(os.path.dirname(item.info.fname), item.path)
    path = includer.parent / item.path
    key = os.path.abspath(path)
    if key in chain:
        raise SchemaError(item.info, f"inclusion loop for {item.path}")
    if key in state.seen:
        return
    try:
        text = state.read_text(path)
    except OSError as err:
        raise SchemaError(item.info, f"can't read include file '{shown}': {err.strerror}") from err
    _load_file(state, text, path, SourceInfo(shown, 1, parent=item.info), chain)
