"""Binds the generated schema (qapi/) to the handlers: validation, catalog, object options."""

from __future__ import annotations

from collections.abc import Mapping

from hvballoond.dispatch import handlers as handler_modules
from hvballoond.dispatch.registry import HANDLERS, Handler
from hvballoond.qapi import validation as qapi_validation  # pydantic-free: lean start-up
from hvballoond.qapi.generated.specs import COMMANDS
from hvballoond.qmp.errors import QmpError
from hvballoond.wire.values import JSONObject

__all__ = [
    "handlers",
    "load_handlers",
    "object_validator",
    "oob_commands",
    "validate_arguments",
]

_loaded = False


def load_handlers() -> None:
    """Make every command's handler known (its module is imported when it first runs)."""
    global _loaded
    if not _loaded:
        handler_modules.declare()
        _loaded = True


def handlers() -> Mapping[str, Handler]:
    """Every command's handler (a handler's module is imported on its first lookup)."""
    load_handlers()
    return HANDLERS


def oob_commands() -> list[str]:
    return [name for name, spec in COMMANDS.items() if spec.allow_oob]


def validate_arguments(command: str, arguments: JSONObject) -> JSONObject:
    try:
        return qapi_validation.validate_arguments(command, arguments)
    except qapi_validation.ArgumentError as err:
        raise QmpError(err.desc) from None


def object_validator(options: JSONObject | dict[str, str], *, keyval: bool) -> JSONObject:
    """Validate ObjectOptions (``-object``/``object-add``) from JSON or ``key=value`` strings.

    Raises:
        QmpError: with QEMU's validation message.
    """
    try:
        if keyval:
            strings = {key: str(value) for key, value in options.items()}
            return qapi_validation.validate_keyval("ObjectOptions", strings)
        validated = qapi_validation.validate_value("ObjectOptions", dict(options))
        assert isinstance(validated, dict)
        return validated
    except qapi_validation.ArgumentError as err:
        raise QmpError(err.desc) from None
