"""The command catalog a QMP session consults: which commands exist, which allow OOB."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Catalog"]


class Catalog:
    """Commands that have both a schema entry and a handler (a test keeps the two equal)."""

    def __init__(self, commands: Iterable[str], *, oob_commands: Iterable[str]) -> None:
        self._commands = frozenset(commands)
        self._oob = frozenset(oob_commands)

    def is_known(self, name: str) -> bool:
        return name in self._commands

    def allows_oob(self, name: str) -> bool:
        return name in self._oob
