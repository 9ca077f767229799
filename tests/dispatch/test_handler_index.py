"""The handler index (handlers/__init__.py) matches what the handler modules register, and the
handler table imports a module only when one of its commands is looked up."""

from __future__ import annotations

import importlib

import pytest

from hvballoond.dispatch import handlers as handler_modules
from hvballoond.dispatch import schema_glue
from hvballoond.dispatch.registry import HANDLERS, HandlerTable, command


def _registered_by_module() -> dict[str, tuple[str, ...]]:
    handler_modules.load_all()
    by_module: dict[str, list[str]] = {}
    for name, handler in HANDLERS.loaded().items():
        module = handler.__module__.removeprefix(f"{handler_modules.__name__}.")
        by_module.setdefault(module, []).append(name)
    return {module: tuple(names) for module, names in sorted(by_module.items())}


def test_the_index_lists_every_command_of_every_module() -> None:
    registered = _registered_by_module()
    assert dict(handler_modules.COMMAND_MODULES) == registered, (
        "update COMMAND_MODULES in hvballoond/dispatch/handlers/__init__.py to:\n"
        + "\n".join(f"    {module!r}: {names!r}," for module, names in registered.items())
    )


def test_the_table_knows_every_command_by_name() -> None:
    names = [name for names in handler_modules.COMMAND_MODULES.values() for name in names]
    table = schema_glue.handlers()
    assert list(table) == names
    assert len(table) == len(names)
    assert all(name in table for name in names)
    assert "no-such-command" not in table


def test_a_lookup_imports_the_declared_module_once(monkeypatch: pytest.MonkeyPatch) -> None:
    table = HandlerTable()
    table.declare({"qom-list": "some.module", "qom-get": "some.module"})
    imported: list[str] = []

    def handler(ctx: object, args: object) -> None:
        return None

    def import_module(name: str) -> None:  # what importing a handler module does
        imported.append(name)
        table.add("qom-list", handler)
        table.add("qom-get", handler)

    monkeypatch.setattr(importlib, "import_module", import_module)
    assert "qom-list" in table and table.loaded() == {} and imported == []
    assert table["qom-list"] is handler
    assert table.get("qom-get") is handler
    assert imported == ["some.module"]


def test_a_stale_index_entry_is_reported() -> None:
    table = HandlerTable()
    table.declare({"no-such-command": "hvballoond.dispatch.handlers.qom"})
    with pytest.raises(LookupError, match="does not register QMP command 'no-such-command'"):
        table["no-such-command"]
    assert table.get("unknown") is None


def test_a_command_cannot_be_declared_in_two_modules_or_registered_twice() -> None:
    table = HandlerTable()
    table.declare({"a": "m1"})
    with pytest.raises(RuntimeError, match="declared in m1 and m2"):
        table.declare({"a": "m2"})
    with pytest.raises(RuntimeError, match="two handlers for QMP command 'quit'"):
        command("quit")(HANDLERS["quit"])
