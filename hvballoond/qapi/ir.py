"""The checked schema: frozen values that code generation and introspection walk.

Type references are type names. Arrays are named ``<element>List`` (``uint16List``);
implicit object types keep QEMU's internal names (``q_empty``, ``q_obj_balloon-arg``,
``q_obj_ObjectOptions-base``, qapi-schema-language.md §8), which never reach the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from hvballoond.qapi.doc import Doc
from hvballoond.qapi.loader import Pragmas
from hvballoond.qapi.source import SourceInfo

__all__ = [
    "EMPTY_OBJECT",
    "INT_TYPES",
    "AlternateType",
    "ArrayType",
    "Branches",
    "BuiltinType",
    "Command",
    "Definition",
    "EnumType",
    "EnumValue",
    "Event",
    "Member",
    "ObjectType",
    "Schema",
    "SchemaType",
    "Variant",
]

EMPTY_OBJECT = "q_empty"

# Builtin integer types: (name, minimum, maximum). QEMU's C type names appear in the
# range errors of qapi/qapi-visit-core.c ("expects uint16_t").
INT_TYPES: Mapping[str, tuple[int, int]] = {
    "int": (-(2**63), 2**63 - 1),
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "size": (0, 2**64 - 1),
}


@dataclass(frozen=True, slots=True)
class BuiltinType:
    """``str``, ``int``..., ``bool``, ``null``, ``any``; ``json_type`` as introspected."""

    name: str
    json_type: str


@dataclass(frozen=True, slots=True)
class EnumValue:
    """A value of an enumeration, with its features."""

    name: str
    features: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EnumType:
    """An enumeration; ``values`` in schema order."""

    name: str
    values: tuple[EnumValue, ...]
    features: tuple[str, ...] = ()
    info: SourceInfo | None = None
    doc: Doc | None = None
    prefix: str | None = None

    @property
    def value_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.values)


@dataclass(frozen=True, slots=True)
class ArrayType:
    """``[element]``, named ``<element>List``."""

    name: str
    element: str


@dataclass(frozen=True, slots=True)
class Member:
    """An object member; ``defined_in`` is the type that declares it (base or own)."""

    name: str
    type: str
    optional: bool
    features: tuple[str, ...]
    defined_in: str


@dataclass(frozen=True, slots=True)
class Variant:
    """A union branch (``name`` is the tag value) or an alternate branch."""

    name: str
    type: str


@dataclass(frozen=True, slots=True)
class Branches:
    """A union's variants: listed branches in schema order, then the enum values without
    a branch (type ``q_empty``) in enum order (scripts/qapi/schema.py)."""

    tag: str
    variants: tuple[Variant, ...]


@dataclass(frozen=True, slots=True)
class ObjectType:
    """A struct, a union, or an implicit object type.

    ``members`` is flattened: base members first, then the type's own. ``base`` names the
    base type (implicit for inline union bases). ``implicit`` types have no definition of
    their own (command/event arguments, inline union bases, ``q_empty``).
    """

    name: str
    members: tuple[Member, ...]
    base: str | None = None
    branches: Branches | None = None
    features: tuple[str, ...] = ()
    info: SourceInfo | None = None
    doc: Doc | None = None
    implicit: bool = False

    @property
    def is_union(self) -> bool:
        return self.branches is not None


@dataclass(frozen=True, slots=True)
class AlternateType:
    """A type that takes one of several JSON types (one variant per type)."""

    name: str
    variants: tuple[Variant, ...]
    features: tuple[str, ...] = ()
    info: SourceInfo | None = None
    doc: Doc | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """A command. ``arg_type``/``ret_type`` are None when absent (meaning ``q_empty``)."""

    name: str
    arg_type: str | None
    ret_type: str | None
    boxed: bool
    allow_oob: bool
    allow_preconfig: bool
    coroutine: bool
    gen: bool
    success_response: bool
    features: tuple[str, ...]
    info: SourceInfo
    doc: Doc | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """An event. ``arg_type`` is None when the event has no data."""

    name: str
    arg_type: str | None
    boxed: bool
    features: tuple[str, ...]
    info: SourceInfo
    doc: Doc | None = None


SchemaType: TypeAlias = BuiltinType | EnumType | ArrayType | ObjectType | AlternateType
Definition: TypeAlias = EnumType | ObjectType | AlternateType | Command | Event


@dataclass(frozen=True, slots=True)
class Schema:
    """A checked schema.

    ``definitions`` are the user's definitions (no implicit types) in QEMU's visiting
    order: module by module (``modules``), each in definition order. ``types`` holds every
    type, implicit ones, arrays and builtins included.
    """

    definitions: tuple[Definition, ...]
    types: Mapping[str, SchemaType]
    modules: tuple[str, ...]
    pragmas: Pragmas
    docs: tuple[Doc, ...]

    @property
    def commands(self) -> tuple[Command, ...]:
        return tuple(d for d in self.definitions if isinstance(d, Command))

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(d for d in self.definitions if isinstance(d, Event))

    def type(self, name: str) -> SchemaType:
        return self.types[name]

    def object(self, name: str) -> ObjectType:
        found = self.types[name]
        assert isinstance(found, ObjectType), name
        return found
