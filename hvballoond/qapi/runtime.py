"""What the generated code and its users need at run time.

* :class:`QapiModel`, the base of the generated pydantic models, and the integer aliases
  (``Int8`` ... ``Uint64``, ``Size``) their fields use;
* :class:`CommandSpec` and :class:`EventSpec`, the entries of the generated
  ``COMMANDS``/``EVENTS`` tables;
* :func:`check_return` and :func:`check_event`, which the test suite uses to hold
  outgoing values to the schema;
* a re-export of the argument validators of :mod:`hvballoond.qapi.validation` (which
  does not use pydantic: it is on the request path and must match QEMU's messages) and
  of :func:`hvballoond.qapi.keyval.parse_keyval`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from hvballoond.qapi.keyval import parse_keyval
from hvballoond.qapi.specs import CommandSpec, EventSpec
from hvballoond.qapi.validation import (
    ArgumentError,
    SchemaViolation,
    check_value,
    validate_arguments,
    validate_keyval,
    validate_value,
)
from hvballoond.wire.values import JSONValue

__all__ = [
    "ArgumentError",
    "CommandSpec",
    "EmptyObject",
    "EventSpec",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "JSONValue",
    "JsonAny",
    "QapiModel",
    "SchemaViolation",
    "Size",
    "Uint8",
    "Uint16",
    "Uint32",
    "Uint64",
    "check_event",
    "check_return",
    "parse_keyval",
    "validate_arguments",
    "validate_keyval",
    "validate_value",
]


class QapiModel(BaseModel):
    """Base of every generated model: strict, closed, immutable.

    Fields are named in snake_case with the QAPI name as alias; both are accepted on
    input. Dump with ``model_dump(mode="json", by_alias=True, exclude_unset=True)`` so
    that absent optional members stay absent.
    """

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
    )


class EmptyObject(QapiModel):
    """The empty object: arguments of commands without any, replies of commands
    without ``returns``, data of events without members."""


Int8 = Annotated[int, Field(ge=-(2**7), le=2**7 - 1)]
Int16 = Annotated[int, Field(ge=-(2**15), le=2**15 - 1)]
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Uint8 = Annotated[int, Field(ge=0, le=2**8 - 1)]
Uint16 = Annotated[int, Field(ge=0, le=2**16 - 1)]
Uint32 = Annotated[int, Field(ge=0, le=2**32 - 1)]
Uint64 = Annotated[int, Field(ge=0, le=2**64 - 1)]
Size = Annotated[int, Field(ge=0, le=2**64 - 1)]
# QAPI 'any': any JSON value (pydantic treats ``object`` as "anything").
JsonAny: TypeAlias = object




@cache
def _return_adapter(command: str) -> TypeAdapter[Any]:
    from hvballoond.qapi.generated.commands import RETURN_TYPES

    return TypeAdapter[Any](RETURN_TYPES[command])  # type: ignore[arg-type]  # a type form


@cache
def _event_adapter(event: str) -> TypeAdapter[Any]:
    from hvballoond.qapi.generated.events import DATA_TYPES

    return TypeAdapter[Any](DATA_TYPES[event])  # type: ignore[arg-type]  # a type form


def _pydantic_check(adapter: TypeAdapter[Any], value: JSONValue, what: str) -> None:
    try:
        adapter.validate_python(value)
    except ValidationError as err:
        raise SchemaViolation(f"{what}: {err}") from None


def check_return(command: str, value: JSONValue, *, check_order: bool = True) -> None:
    """Raise :class:`SchemaViolation` unless ``value`` is a valid return of ``command``.

    Checks the value with the generated pydantic model, that no member is ``null``
    unless its type allows it, and (``check_order``) that every object's members are
    inserted in schema order, as the wire encoder needs.

    Raises:
        KeyError: ``command`` is not in the schema.
        SchemaViolation: the value does not match.
    """
    from hvballoond.qapi.generated.commands import COMMANDS

    spec = COMMANDS[command]
    _pydantic_check(_return_adapter(command), value, f"return of {command}")
    check_value(spec.ret_type, value, what=f"return of {command}", check_order=check_order)


def check_event(
    name: str, data: Mapping[str, JSONValue] | None, *, check_order: bool = True
) -> None:
    """Raise :class:`SchemaViolation` unless ``data`` is valid data of event ``name``.

    ``data`` is the event's ``data`` member, None when the message has none. QEMU leaves
    ``data`` out when no member is present, so an empty ``data`` is a violation. Checks
    as :func:`check_return` does.

    Raises:
        KeyError: ``name`` is not in the schema.
        SchemaViolation: the data does not match.
    """
    from hvballoond.qapi.generated.events import EVENTS

    spec = EVENTS[name]
    if data is not None and not data:
        raise SchemaViolation(f"data of {name}: QEMU omits an empty data member")
    value: JSONValue = {} if data is None else dict(data)
    _pydantic_check(_event_adapter(name), value, f"data of {name}")
    check_value(spec.arg_type, value, what=f"data of {name}", check_order=check_order)
