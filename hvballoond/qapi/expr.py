"""Context-free checks of each definition, and its normalised form.

One function per definition kind turns a :class:`~hvballoond.qapi.parser.RawExpr` into a
typed definition (:data:`Definition`), applying QEMU's naming and shape rules
(qapi-schema-language.md §2, §4, §5, §7; scripts/qapi/expr.py). Name resolution and the
rules that need other definitions are in ``check.py``.

Unsupported constructs are rejected explicitly: ``if`` conditions (hvballoond builds no
conditional parts, qapi-schema-language.md §6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TypeAlias

from hvballoond.qapi.doc import Doc, SectionKind
from hvballoond.qapi.errors import SchemaError
from hvballoond.qapi.loader import Pragmas
from hvballoond.qapi.parser import RawExpr, RawValue
from hvballoond.qapi.source import SourceInfo

__all__ = [
    "AlternateDef",
    "CommandDef",
    "Definition",
    "EnumDef",
    "EventDef",
    "MemberDef",
    "StructDef",
    "TypeRef",
    "UnionDef",
    "c_name",
    "check_expr",
]

_META_KEYS = ("enum", "struct", "union", "alternate", "command", "event")
_VALID_NAME = re.compile(r"(__[a-z0-9.-]+_)?(x-)?([a-z][a-z0-9_-]*)$", re.IGNORECASE)
_CAMEL = re.compile(r"[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$")
_NOT_C = re.compile(r"[^A-Za-z0-9_]")

UNSUPPORTED_IF = "'if' conditions are not supported by hvballoond's schema compiler"


@dataclass(frozen=True, slots=True)
class TypeRef:
    """A reference to a type by name; ``array`` means ``['name']``."""

    name: str
    array: bool = False

    def __str__(self) -> str:
        return f"['{self.name}']" if self.array else self.name


@dataclass(frozen=True, slots=True)
class MemberDef:
    """An object member as written (``'*name'`` sets ``optional``)."""

    name: str
    type: TypeRef
    optional: bool
    features: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EnumDef:
    """An ``enum`` definition: values with their features."""

    name: str
    info: SourceInfo
    doc: Doc | None
    values: tuple[tuple[str, tuple[str, ...]], ...]  # (value, features)
    features: tuple[str, ...]
    prefix: str | None


@dataclass(frozen=True, slots=True)
class StructDef:
    """A ``struct`` definition."""

    name: str
    info: SourceInfo
    doc: Doc | None
    base: str | None
    members: tuple[MemberDef, ...]
    features: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnionDef:
    """A flat ``union``: a base (type name or inline members) and branches."""

    name: str
    info: SourceInfo
    doc: Doc | None
    base: str | tuple[MemberDef, ...]
    discriminator: str
    branches: tuple[tuple[str, str], ...]  # (case, type name)
    features: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AlternateDef:
    """An ``alternate`` definition."""

    name: str
    info: SourceInfo
    doc: Doc | None
    branches: tuple[tuple[str, TypeRef], ...]
    features: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CommandDef:
    """A ``command``; ``data`` is None, a type name, or inline members."""

    name: str
    info: SourceInfo
    doc: Doc | None
    data: str | tuple[MemberDef, ...] | None
    returns: TypeRef | None
    boxed: bool
    allow_oob: bool
    allow_preconfig: bool
    coroutine: bool
    gen: bool
    success_response: bool
    features: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventDef:
    """An ``event``; ``data`` as for commands."""

    name: str
    info: SourceInfo
    doc: Doc | None
    data: str | tuple[MemberDef, ...] | None
    boxed: bool
    features: tuple[str, ...]


Definition: TypeAlias = EnumDef | StructDef | UnionDef | AlternateDef | CommandDef | EventDef


def c_name(name: str) -> str:
    """The C-identifier form used for clash and reserved-name checks (no keyword escape)."""
    return _NOT_C.sub("_", name)


def _quoted(names: set[str]) -> str:
    return ", ".join(f"'{n}'" for n in sorted(names))


def _check_keys(
    value: dict[str, RawValue],
    info: SourceInfo,
    source: str,
    required: tuple[str, ...],
    optional: tuple[str, ...],
) -> None:
    missing = set(required) - set(value)
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise SchemaError(info, f"{source} misses key{plural} {_quoted(missing)}")
    allowed = set(required) | set(optional)
    unknown = set(value) - allowed
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise SchemaError(
            info,
            f"{source} has unknown key{plural} {_quoted(unknown)}\n"
            f"Valid keys are {_quoted(allowed)}.",
        )


def _check_name_str(name: str, info: SourceInfo, source: str) -> str:
    """The name's stem (without ``__RFQDN_`` and ``x-`` prefixes) if the name is valid."""
    match = _VALID_NAME.match(name)
    if not match or c_name(name).startswith("q_"):
        raise SchemaError(info, f"{source} has an invalid name")
    return match.group(3)


def _check_name_upper(name: str, info: SourceInfo, source: str) -> None:
    stem = _check_name_str(name, info, source)
    if re.search(r"[a-z-]", stem):
        raise SchemaError(info, f"name of {source} must not use lowercase or '-'")


def _check_name_lower(
    name: str, info: SourceInfo, source: str, *, permit_upper: bool, permit_underscore: bool
) -> None:
    stem = _check_name_str(name, info, source)
    if (not permit_upper and re.search(r"[A-Z]", stem)) or (not permit_underscore and "_" in stem):
        raise SchemaError(info, f"name of {source} must not use uppercase or '_'")


def _check_name_camel(name: str, info: SourceInfo, source: str) -> None:
    stem = _check_name_str(name, info, source)
    if not _CAMEL.match(stem):
        raise SchemaError(info, f"name of {source} must use CamelCase")


def _require_str(value: RawValue, info: SourceInfo, source: str) -> str:
    if not isinstance(value, str):
        raise SchemaError(info, f"{source} requires a string name")
    return value


def _reject_if(value: dict[str, RawValue], info: SourceInfo) -> None:
    if "if" in value:
        raise SchemaError(info, UNSUPPORTED_IF)


def _features(value: RawValue | None, info: SourceInfo) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise SchemaError(info, "'features' must be an array")
    out: list[str] = []
    for feat in value:
        entry: dict[str, RawValue] = feat if isinstance(feat, dict) else {"name": feat}
        source = "'features' member"
        _check_keys(entry, info, source, ("name",), ("if",))
        name = _require_str(entry["name"], info, source)
        source = f"{source} '{name}'"
        _check_name_lower(name, info, source, permit_upper=False, permit_underscore=False)
        _reject_if(entry, info)
        out.append(name)
    return tuple(out)


def _type_name(value: RawValue | None, info: SourceInfo, source: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise SchemaError(info, f"{source} should be a type name")
    return value


def _type_ref(value: RawValue, info: SourceInfo, source: str) -> TypeRef:
    if isinstance(value, str):
        return TypeRef(value)
    if not isinstance(value, list):
        raise SchemaError(info, f"{source} should be a type name or array")
    if len(value) != 1 or not isinstance(value[0], str):
        raise SchemaError(info, f"{source}: array type must contain single type name")
    return TypeRef(value[0], array=True)


def _members(
    value: RawValue, info: SourceInfo, source: str, *, permissive: bool
) -> tuple[MemberDef, ...]:
    """An implicit object type's members (``{'name': TYPE, '*opt': {...}}``)."""
    if not isinstance(value, dict):
        raise SchemaError(info, f"{source} should be an object or type name")
    out: list[MemberDef] = []
    for key, arg in value.items():
        key_source = f"{source} member '{key}'"
        name = key[1:] if key.startswith("*") else key
        _check_name_lower(
            name, info, key_source, permit_upper=permissive, permit_underscore=permissive
        )
        cname = c_name(name)
        if cname == "u" or cname.startswith("has_"):
            raise SchemaError(info, f"{key_source} uses reserved name")
        entry: dict[str, RawValue] = arg if isinstance(arg, dict) else {"type": arg}
        _check_keys(entry, info, key_source, ("type",), ("if", "features"))
        _reject_if(entry, info)
        features = _features(entry.get("features"), info)
        out.append(
            MemberDef(
                name, _type_ref(entry["type"], info, key_source), key.startswith("*"), features
            )
        )
    return tuple(out)


def _flag(expr: dict[str, RawValue], info: SourceInfo, key: str, *, default: bool) -> bool:
    """``gen``/``success-response`` may only be false, the other flags only true."""
    if key not in expr:
        return default
    if expr[key] is not (not default):
        word = "false" if default else "true"
        raise SchemaError(info, f"flag '{key}' may only use {word} value")
    return not default


def check_expr(raw: RawExpr, pragmas: Pragmas) -> Definition:
    """Check one definition and return its normalised form.

    Raises:
        SchemaError: the definition breaks a naming or shape rule.
    """
    expr = raw.value
    metas = [k for k in _META_KEYS if k in expr]
    if len(metas) != 1:
        raise SchemaError(
            raw.info,
            "expression must have exactly one key"
            " 'enum', 'struct', 'union', 'alternate', 'command', 'event'",
        )
    meta = metas[0]
    name = _require_str(expr[meta], raw.info, f"'{meta}'")
    info = raw.info.with_defn(meta, name)
    if meta == "event":
        _check_name_upper(name, info, meta)
    elif meta == "command":
        _check_name_lower(
            name,
            info,
            meta,
            permit_upper=False,
            permit_underscore=name in pragmas.command_name_exceptions,
        )
    else:
        _check_name_camel(name, info, meta)
        if name.endswith("List"):
            raise SchemaError(info, f"{meta} name should not end in 'List'")

    doc = raw.doc
    if doc is not None:
        if doc.symbol != name:
            raise SchemaError(info, f"documentation comment is for '{doc.symbol}'")
        _check_doc_sections(doc, meta, has_returns="returns" in expr)
    elif pragmas.doc_required:
        raise SchemaError(info, "documentation comment required")

    permissive = name in pragmas.member_name_exceptions
    definition: Definition
    if meta == "enum":
        _check_keys(expr, info, meta, ("enum", "data"), ("if", "features", "prefix"))
        definition = _enum(expr, info, doc, name, permissive=permissive)
    elif meta == "struct":
        _check_keys(expr, info, meta, ("struct", "data"), ("base", "if", "features"))
        definition = StructDef(
            name,
            info,
            doc,
            _type_name(expr.get("base"), info, "'base'"),
            _members(expr["data"], info, "'data'", permissive=permissive),
            (),
        )
    elif meta == "union":
        _check_keys(
            expr, info, meta, ("union", "base", "discriminator", "data"), ("if", "features")
        )
        definition = _union(expr, info, doc, name, permissive=permissive)
    elif meta == "alternate":
        _check_keys(expr, info, meta, ("alternate", "data"), ("if", "features"))
        definition = _alternate(expr, info, doc, name)
    elif meta == "command":
        _check_keys(
            expr,
            info,
            meta,
            ("command",),
            (
                "data",
                "returns",
                "boxed",
                "if",
                "features",
                "gen",
                "success-response",
                "allow-oob",
                "allow-preconfig",
                "coroutine",
            ),
        )
        definition = _command(expr, info, doc, name)
    else:
        _check_keys(expr, info, meta, ("event",), ("data", "boxed", "if", "features"))
        boxed = _flag(expr, info, "boxed", default=False)
        definition = EventDef(name, info, doc, _data(expr, info, boxed=boxed), boxed, ())

    _reject_if(expr, info)
    return replace(definition, features=_features(expr.get("features"), info))


def _check_doc_sections(doc: Doc, meta: str, *, has_returns: bool) -> None:
    returns = doc.section(SectionKind.RETURNS)
    errors = doc.section(SectionKind.ERRORS)
    if meta == "command":
        if returns is not None and not has_returns:
            raise SchemaError(
                returns.info, "'Returns' section, but command doesn't return anything"
            )
    else:
        if returns is not None:
            raise SchemaError(returns.info, "'Returns' section is only valid for commands")
        if errors is not None:
            raise SchemaError(errors.info, "'Errors' section is only valid for commands")


def _enum(
    expr: dict[str, RawValue], info: SourceInfo, doc: Doc | None, name: str, *, permissive: bool
) -> EnumDef:
    data = expr["data"]
    prefix = expr.get("prefix")
    if not isinstance(data, list):
        raise SchemaError(info, "'data' must be an array")
    if prefix is not None and not isinstance(prefix, str):
        raise SchemaError(info, "'prefix' must be a string")
    values: list[tuple[str, tuple[str, ...]]] = []
    for member in data:
        entry: dict[str, RawValue] = member if isinstance(member, dict) else {"name": member}
        source = "'data' member"
        _check_keys(entry, info, source, ("name",), ("if", "features"))
        value = _require_str(entry["name"], info, source)
        source = f"{source} '{value}'"
        # Enum values may start with a digit (scripts/qapi/expr.py check_enum).
        checked = "d" + value if value[:1].isdigit() else value
        _check_name_lower(
            checked, info, source, permit_upper=permissive, permit_underscore=permissive
        )
        _reject_if(entry, info)
        values.append((value, _features(entry.get("features"), info)))
    return EnumDef(name, info, doc, tuple(values), (), prefix)


def _union(
    expr: dict[str, RawValue], info: SourceInfo, doc: Doc | None, name: str, *, permissive: bool
) -> UnionDef:
    base_raw = expr["base"]
    base: str | tuple[MemberDef, ...]
    if isinstance(base_raw, str):
        base = base_raw
    else:
        base = _members(base_raw, info, "'base'", permissive=permissive)
    discriminator = expr["discriminator"]
    if not isinstance(discriminator, str):
        raise SchemaError(info, "'discriminator' requires a string name")
    data = expr["data"]
    if not isinstance(data, dict):
        raise SchemaError(info, "'data' must be an object")
    branches: list[tuple[str, str]] = []
    for key, value in data.items():
        source = f"'data' member '{key}'"
        entry: dict[str, RawValue] = value if isinstance(value, dict) else {"type": value}
        _check_keys(entry, info, source, ("type",), ("if",))
        _reject_if(entry, info)
        type_name = _type_name(entry["type"], info, source)
        assert type_name is not None
        branches.append((key, type_name))
    return UnionDef(name, info, doc, base, discriminator, tuple(branches), ())


def _alternate(
    expr: dict[str, RawValue], info: SourceInfo, doc: Doc | None, name: str
) -> AlternateDef:
    data = expr["data"]
    if not data:
        raise SchemaError(info, "'data' must not be empty")
    if not isinstance(data, dict):
        raise SchemaError(info, "'data' must be an object")
    branches: list[tuple[str, TypeRef]] = []
    for key, value in data.items():
        source = f"'data' member '{key}'"
        _check_name_lower(key, info, source, permit_upper=False, permit_underscore=False)
        entry: dict[str, RawValue] = value if isinstance(value, dict) else {"type": value}
        _check_keys(entry, info, source, ("type",), ("if",))
        _reject_if(entry, info)
        branches.append((key, _type_ref(entry["type"], info, source)))
    return AlternateDef(name, info, doc, tuple(branches), ())


def _data(
    expr: dict[str, RawValue], info: SourceInfo, *, boxed: bool
) -> str | tuple[MemberDef, ...] | None:
    """A command's or event's ``data``: None, a type name, or inline members."""
    data = expr.get("data")
    if boxed:
        if data is None:
            raise SchemaError(info, "'boxed': true requires 'data'")
        return _type_name(data, info, "'data'")
    if data is None or isinstance(data, str):
        return data
    return _members(data, info, "'data'", permissive=False)


def _command(expr: dict[str, RawValue], info: SourceInfo, doc: Doc | None, name: str) -> CommandDef:
    gen = _flag(expr, info, "gen", default=True)
    success_response = _flag(expr, info, "success-response", default=True)
    boxed = _flag(expr, info, "boxed", default=False)
    allow_oob = _flag(expr, info, "allow-oob", default=False)
    allow_preconfig = _flag(expr, info, "allow-preconfig", default=False)
    coroutine = _flag(expr, info, "coroutine", default=False)
    if allow_oob and coroutine:
        raise SchemaError(info, "flags 'allow-oob' and 'coroutine' are incompatible")
    data = _data(expr, info, boxed=boxed)
    returns_raw = expr.get("returns")
    returns = None if returns_raw is None else _type_ref(returns_raw, info, "'returns'")
    return CommandDef(
        name,
        info,
        doc,
        data,
        returns,
        boxed,
        allow_oob,
        allow_preconfig,
        coroutine,
        gen,
        success_response,
        (),
    )
