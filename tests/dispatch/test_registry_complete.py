"""Every schema command has exactly one handler, and every handler a schema command."""

from __future__ import annotations

from hvballoond.dispatch import schema_glue
from hvballoond.qapi.generated.specs import COMMANDS


def test_every_schema_command_has_a_handler() -> None:
    missing = [name for name in COMMANDS if name not in schema_glue.handlers()]
    assert missing == []


def test_every_handler_has_a_schema_command() -> None:
    extra = [name for name in schema_glue.handlers() if name not in COMMANDS]
    assert extra == []


def test_oob_commands_are_the_schema_allow_oob_ones() -> None:
    assert sorted(schema_glue.oob_commands()) == ["query-yank", "yank"]
