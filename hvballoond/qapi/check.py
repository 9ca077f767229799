"""Name resolution and the semantic rules of the schema language -> :class:`ir.Schema`.

The order of work follows scripts/qapi/schema.py, so that the first error reported for a
broken schema is the one QEMU would report: every definition is checked on its own
(``expr.py``), then all are defined (duplicates), then each is resolved and checked and
its doc comment connected, then doc comments are checked for members that do not exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from enum import Enum, auto

from hvballoond.qapi import expr as ex
from hvballoond.qapi import ir
from hvballoond.qapi.doc import Doc, SectionKind
from hvballoond.qapi.errors import SchemaError
from hvballoond.qapi.examples import examples_of
from hvballoond.qapi.loader import LoadedSchema, Pragmas
from hvballoond.qapi.source import SourceInfo

__all__ = ["SPECIAL_FEATURES", "check_schema"]

SPECIAL_FEATURES = frozenset({"deprecated", "unstable"})
_MAX_FEATURES = 64

_BUILTINS: tuple[tuple[str, str], ...] = (
    ("str", "string"),
    ("number", "number"),
    ("int", "int"),
    ("int8", "int"),
    ("int16", "int"),
    ("int32", "int"),
    ("int64", "int"),
    ("uint8", "int"),
    ("uint16", "int"),
    ("uint32", "int"),
    ("uint64", "int"),
    ("size", "int"),
    ("bool", "boolean"),
    ("null", "null"),
    ("any", "value"),
)
_QTYPE_VALUES = ("none", "qnull", "qnum", "qstring", "qdict", "qlist", "qbool")
# JSON type -> the QObject type an alternate dispatches on (scripts/qapi/schema.py).
_ALTERNATE_QTYPE = {
    "null": "QTYPE_QNULL",
    "string": "QTYPE_QSTRING",
    "number": "QTYPE_QNUM",
    "int": "QTYPE_QNUM",
    "boolean": "QTYPE_QBOOL",
    "array": "QTYPE_QLIST",
    "object": "QTYPE_QDICT",
}


class _State(Enum):
    NEW = auto()
    CHECKING = auto()
    DONE = auto()


@dataclass(slots=True)
class _Member:
    name: str
    type_name: str
    optional: bool
    features: tuple[str, ...]
    defined_in: str
    role: str = "member"


@dataclass(slots=True)
class _Object:
    name: str
    info: SourceInfo | None
    doc: Doc | None
    base_name: str | None
    local: list[_Member]
    features: tuple[str, ...]
    tag: str | None = None
    variants: list[_Member] = field(default_factory=list)  # role "branch"
    members: list[_Member] = field(default_factory=list)  # flattened, after check
    state: _State = _State.NEW

    @property
    def implicit(self) -> bool:
        return self.name.startswith("q_")

    @property
    def meta(self) -> str:
        return "union" if self.tag is not None else "struct"


@dataclass(slots=True)
class _Array:
    name: str
    element: str
    info: SourceInfo | None
    checked: bool = False


@dataclass(slots=True)
class _Alternate:
    name: str
    info: SourceInfo
    doc: Doc | None
    variants: list[_Member]
    features: tuple[str, ...]


_Type = ir.BuiltinType | ir.EnumType | _Object | _Array | _Alternate
_Entity = _Type | ex.CommandDef | ex.EventDef


def _json_type(t: _Type) -> str:
    if isinstance(t, ir.BuiltinType):
        return t.json_type
    if isinstance(t, ir.EnumType):
        return "string"
    if isinstance(t, _Object):
        return "object"
    if isinstance(t, _Array):
        return "array"
    return "value"


def _describe_type(t: _Type) -> str:
    if isinstance(t, ir.BuiltinType):
        return f"built-in type '{t.name}'"
    if isinstance(t, ir.EnumType):
        return f"enum type '{t.name}'"
    if isinstance(t, _Object):
        return f"{t.meta} type '{t.name}'"
    if isinstance(t, _Array):
        return f"array type ['{t.element}']"
    return f"alternate type '{t.name}'"


def _describe_member(m: _Member, info: SourceInfo | None) -> str:
    """How QEMU names a member in a diagnostic (scripts/qapi/schema.py ``describe``)."""
    role, meta, defined_in = m.role, "type", m.defined_in
    if defined_in.startswith("q_obj_"):
        defined_in = defined_in[len("q_obj_") :]
        if defined_in.endswith("-arg"):
            role, meta, defined_in = "parameter", "command", defined_in[: -len("-arg")]
        elif defined_in.endswith("-base"):
            role, defined_in = "base " + role, defined_in[: -len("-base")]
    if info is None or defined_in != info.defn_name:
        return f"{role} '{m.name}' of {meta} '{defined_in}'"
    return f"{role} '{m.name}'"


class _Checker:
    """Definitions while they are defined and checked (scripts/qapi/schema.py's order)."""

    def __init__(self, pragmas: Pragmas) -> None:
        self.pragmas = pragmas
        self.entities: list[_Entity] = []
        self.types: dict[str, _Type] = {}
        self.names: dict[str, _Entity] = {}
        self.connected: dict[int, set[str]] = {}  # id(doc) -> documented names connected
        # Feature names in order of first use; QEMU counts its two special ones first.
        self.feature_infos: dict[str, SourceInfo | None] = dict.fromkeys(("deprecated", "unstable"))
        self._define_builtins()

    # -- definitions -------------------------------------------------------------

    def _define_builtins(self) -> None:
        for name, json_type in _BUILTINS:
            self._define(ir.BuiltinType(name, json_type), None)
            self._array(name, None)
        self._define(ir.EnumType("QType", tuple(ir.EnumValue(v) for v in _QTYPE_VALUES)), None)
        self._define(_Object(ir.EMPTY_OBJECT, None, None, None, [], ()), None)

    def _define(self, entity: _Entity, info: SourceInfo | None) -> None:
        name = entity.name
        other = self.names.get(name)
        if other is not None:
            other_info = _entity_info(other)
            if other_info is not None:
                where = SchemaError(other_info, "previous definition")
                raise SchemaError(info, f"'{name}' is already defined\n{where}")
            assert not isinstance(other, ex.CommandDef | ex.EventDef)
            raise SchemaError(info, f"{_describe_type(other)} is already defined")
        self.names[name] = entity
        self.entities.append(entity)
        if not isinstance(entity, ex.CommandDef | ex.EventDef):
            self.types[name] = entity

    def _array(self, element: str, info: SourceInfo | None) -> str:
        name = element + "List"
        if name not in self.names:
            self._define(_Array(name, element, info), info)
        return name

    def _ref(self, ref: ex.TypeRef, info: SourceInfo) -> str:
        return self._array(ref.name, info) if ref.array else ref.name

    def _members(
        self, defs: tuple[ex.MemberDef, ...], owner: str, info: SourceInfo
    ) -> list[_Member]:
        return [
            _Member(m.name, self._ref(m.type, info), m.optional, m.features, owner) for m in defs
        ]

    def _implicit(
        self, name: str, defs: tuple[ex.MemberDef, ...], info: SourceInfo, doc: Doc | None
    ) -> str | None:
        if not defs:
            return None
        if name in self.types:  # already made (QEMU reuses it; a clash surfaces later)
            return name
        self._define(_Object(name, info, doc, None, self._members(defs, name, info), ()), info)
        return name

    def _record_features(self, d: ex.Definition) -> None:
        lists: list[tuple[str, ...]] = [d.features]
        if isinstance(d, ex.EnumDef):
            lists += [f for _, f in d.values]
        elif isinstance(d, ex.StructDef):
            lists += [m.features for m in d.members]
        elif isinstance(d, ex.UnionDef) and not isinstance(d.base, str):
            lists += [m.features for m in d.base]
        elif isinstance(d, ex.CommandDef | ex.EventDef) and isinstance(d.data, tuple):
            lists += [m.features for m in d.data]
        for features in lists:
            for name in features:
                self.feature_infos.setdefault(name, d.info)

    def define(self, d: ex.Definition) -> None:
        info = d.info
        self._record_features(d)
        if isinstance(d, ex.EnumDef):
            values = tuple(ir.EnumValue(v, f) for v, f in d.values)
            self._define(ir.EnumType(d.name, values, d.features, info, d.doc, d.prefix), info)
        elif isinstance(d, ex.StructDef):
            members = self._members(d.members, d.name, info)
            self._define(_Object(d.name, info, d.doc, d.base, members, d.features), info)
        elif isinstance(d, ex.UnionDef):
            if isinstance(d.base, str):
                base: str | None = d.base
            else:
                base = self._implicit(f"q_obj_{d.name}-base", d.base, info, None)
            variants = [_Member(c, t, False, (), d.name, "branch") for c, t in d.branches]
            obj = _Object(d.name, info, d.doc, base, [], d.features, d.discriminator, variants)
            self._define(obj, info)
        elif isinstance(d, ex.AlternateDef):
            variants = [
                _Member(n, self._ref(t, info), False, (), d.name, "branch") for n, t in d.branches
            ]
            self._define(_Alternate(d.name, info, d.doc, variants, d.features), info)
        elif isinstance(d, ex.CommandDef):
            data = d.data
            if isinstance(data, tuple):
                data = self._implicit(f"q_obj_{d.name}-arg", data, info, None)
            ret = None if d.returns is None else self._ref(d.returns, info)
            returns = None if ret is None else ex.TypeRef(ret)
            self._define(replace(d, data=data, returns=returns), info)
        else:
            data = d.data
            if isinstance(data, tuple):
                data = self._implicit(f"q_obj_{d.name}-arg", data, info, None)
            self._define(replace(d, data=data), info)

    # -- checks --------------------------------------------------------------------

    def resolve(self, name: str, info: SourceInfo | None, what: str) -> _Type:
        found = self.types.get(name)
        if found is None:
            raise SchemaError(info, f"{what} uses unknown type '{name}'")
        return found

    def check_all(self) -> None:
        for entity in list(self.entities):
            self.check(entity)
            self.connect_doc(entity)

    def check(self, entity: _Entity) -> None:
        if isinstance(entity, _Object):
            self.check_object(entity)
        elif isinstance(entity, _Array):
            self.check_array(entity)
        elif isinstance(entity, _Alternate):
            self.check_alternate(entity)
        elif isinstance(entity, ex.CommandDef):
            self.check_command(entity)
        elif isinstance(entity, ex.EventDef):
            self.check_event(entity)
        elif isinstance(entity, ir.EnumType):
            self.check_type_features(entity.info, entity.name, entity.features)
            seen: dict[str, _Member] = {}
            for value in entity.values:
                self.clash(
                    _Member(value.name, "", False, (), entity.name, "value"), entity.info, seen
                )
                self.clash_features(entity.info, entity.name, value.features)

    def clash_features(
        self, info: SourceInfo | None, owner: str, features: tuple[str, ...]
    ) -> None:
        seen: dict[str, _Member] = {}
        for name in features:
            self.clash(_Member(name, "", False, (), owner, "feature"), info, seen)

    def check_type_features(
        self, info: SourceInfo | None, owner: str, features: tuple[str, ...]
    ) -> None:
        self.clash_features(info, owner, features)
        for name in features:
            if name in SPECIAL_FEATURES:
                raise SchemaError(info, f"feature '{name}' is not supported for types")

    def check_array(self, array: _Array) -> None:
        if array.checked:
            return
        what = array.info.defn_meta if array.info is not None else None
        self.resolve(array.element, array.info, what or "array")
        array.checked = True

    def check_member_type(self, m: _Member, info: SourceInfo | None) -> _Type:
        t = self.resolve(m.type_name, info, _describe_member(m, info))
        self.clash_features(info, m.defined_in, m.features)
        if isinstance(t, _Array):
            self.check_array(t)
        return t

    def clash(self, m: _Member, info: SourceInfo | None, seen: dict[str, _Member]) -> None:
        cname = ex.c_name(m.name)
        if cname in seen:
            raise SchemaError(
                info,
                f"{_describe_member(m, info)} collides with {_describe_member(seen[cname], info)}",
            )
        seen[cname] = m

    def check_object(self, obj: _Object) -> None:
        if obj.state is _State.DONE:
            return
        if obj.state is _State.CHECKING:
            raise SchemaError(obj.info, f"object {obj.name} contains itself")
        obj.state = _State.CHECKING
        info = obj.info
        self.check_type_features(info, obj.name, obj.features)
        seen: dict[str, _Member] = {}
        if obj.base_name is not None:
            base = self.resolve(obj.base_name, info, "'base'")
            if not isinstance(base, _Object) or base.tag is not None:
                raise SchemaError(
                    info, f"'base' requires a struct type, {_describe_type(base)} isn't"
                )
            self.check_object(base)
            for m in base.members:
                self.clash(m, info, seen)
        for m in obj.local:
            self.check_member_type(m, info)
            self.clash(m, info, seen)
        obj.members = list(seen.values())
        if obj.tag is not None:
            self.check_branches(obj, seen)
        obj.state = _State.DONE

    def check_branches(self, obj: _Object, seen: dict[str, _Member]) -> None:
        info, tag_name = obj.info, obj.tag
        assert tag_name is not None
        tag = seen.get(ex.c_name(tag_name))
        if tag is None or tag.name != tag_name:
            raise SchemaError(info, f"discriminator '{tag_name}' is not a member of 'base'")
        base_type = self.types[tag.defined_in]
        where = "'base'"
        if isinstance(base_type, _Object) and not base_type.implicit:
            where = f"base type '{tag.defined_in}'"
        enum = self.types[tag.type_name]
        if not isinstance(enum, ir.EnumType):
            raise SchemaError(
                info, f"discriminator member '{tag_name}' of {where} must be of enum type"
            )
        if tag.optional:
            raise SchemaError(
                info, f"discriminator member '{tag_name}' of {where} must not be optional"
            )
        cases = {v.name for v in obj.variants}
        for value in enum.values:
            if value.name not in cases:
                obj.variants.append(
                    _Member(value.name, ir.EMPTY_OBJECT, False, (), tag.defined_in, "branch")
                )
        if not obj.variants:
            raise SchemaError(info, "union has no branches")
        for v in obj.variants:
            t = self.resolve(v.type_name, info, _describe_member(v, info))
            if v.name not in enum.value_names:
                raise SchemaError(
                    info, f"branch '{v.name}' is not a value of {_describe_type(enum)}"
                )
            if not isinstance(t, _Object):
                raise SchemaError(
                    info, f"{_describe_member(v, info)} cannot use {_describe_type(t)}"
                )
            self.check_object(t)
        self.clash_branches(obj, info, seen)

    def clash_branches(
        self, obj: _Object, info: SourceInfo | None, seen: dict[str, _Member]
    ) -> None:
        """Each branch's members (and, recursively, its branches') against ``seen``."""
        for v in obj.variants:
            branch = self.types[v.type_name]
            assert isinstance(branch, _Object)
            branch_seen = dict(seen)
            for m in branch.members:
                self.clash(m, info, branch_seen)
            if branch.tag is not None:
                self.clash_branches(branch, info, branch_seen)

    def check_alternate(self, alt: _Alternate) -> None:
        info = alt.info
        self.check_type_features(info, alt.name, alt.features)
        seen: dict[str, _Member] = {}
        types_seen: dict[str, str] = {}
        for v in alt.variants:
            t = self.check_member_type(v, info)
            self.clash(v, info, seen)
            qtype = _ALTERNATE_QTYPE.get(_json_type(t))
            if qtype is None:
                raise SchemaError(
                    info, f"{_describe_member(v, info)} cannot use {_describe_type(t)}"
                )
            conflicting = {qtype}
            if qtype == "QTYPE_QSTRING":
                if isinstance(t, ir.EnumType):
                    for value in t.values:
                        if value.name in ("on", "off"):
                            conflicting.add("QTYPE_QBOOL")
                        if value.name[:1] in "-+0123456789." and value.name:
                            conflicting.add("QTYPE_QNUM")
                else:
                    conflicting |= {"QTYPE_QNUM", "QTYPE_QBOOL"}
            for qt in sorted(conflicting):
                if qt in types_seen:
                    raise SchemaError(
                        info,
                        f"{_describe_member(v, info)} can't be distinguished "
                        f"from '{types_seen[qt]}'",
                    )
                types_seen[qt] = v.name

    def check_arg_type(self, name: str | None, info: SourceInfo, meta: str, *, boxed: bool) -> None:
        if name is None:
            return
        t = self.resolve(name, info, f"{meta}'s 'data'")
        if not isinstance(t, _Object):
            raise SchemaError(info, f"{meta}'s 'data' cannot take {_describe_type(t)}")
        if t.tag is not None and not boxed:
            raise SchemaError(
                info, f"{meta}'s 'data' can take {_describe_type(t)} only with 'boxed': true"
            )
        self.check_object(t)

    def check_command(self, cmd: ex.CommandDef) -> None:
        assert not isinstance(cmd.data, tuple)
        self.clash_features(cmd.info, cmd.name, cmd.features)
        self.check_arg_type(cmd.data, cmd.info, "command", boxed=cmd.boxed)
        if cmd.returns is None:
            return
        ret = self.resolve(cmd.returns.name, cmd.info, "command's 'returns'")
        if isinstance(ret, _Array):
            self.check_array(ret)
        if cmd.name not in self.pragmas.command_returns_exceptions:
            element = self.types[ret.element] if isinstance(ret, _Array) else ret
            if not isinstance(element, _Object):
                raise SchemaError(
                    cmd.info, f"command's 'returns' cannot take {_describe_type(ret)}"
                )

    def check_event(self, event: ex.EventDef) -> None:
        assert not isinstance(event.data, tuple)
        self.clash_features(event.info, event.name, event.features)
        self.check_arg_type(event.data, event.info, "event", boxed=event.boxed)

    # -- documentation ---------------------------------------------------------------

    def connect_doc(self, entity: _Entity) -> None:
        if isinstance(entity, ir.BuiltinType | _Array):
            return
        doc = entity.doc
        info = entity.info
        if doc is None or info is None:
            return
        connected = self.connected.setdefault(id(doc), set())
        features = doc.features()

        def feature(name: str) -> None:
            if name not in features:
                raise SchemaError(info, f"feature '{name}' lacks documentation")
            connected.add("feature:" + name)

        def member(name: str, role: str, member_features: tuple[str, ...]) -> None:
            exempt = doc.symbol in self.pragmas.documentation_exceptions
            if name not in doc.members() and not exempt:
                raise SchemaError(info, f"{role} '{name}' lacks documentation")
            connected.add("member:" + name)
            for f in member_features:
                feature(f)

        for f in entity.features:
            feature(f)
        if isinstance(entity, ir.EnumType):
            for value in entity.values:
                member(value.name, "value", value.features)
        elif isinstance(entity, _Object):
            if entity.base_name is not None:
                base = self.types[entity.base_name]
                assert isinstance(base, _Object)
                if base.implicit:
                    for m in base.local:
                        member(m.name, "member", m.features)
            for m in entity.local:
                member(m.name, "member", m.features)
        elif isinstance(entity, _Alternate):
            for v in entity.variants:
                member(v.name, "branch", ())
        else:
            data = entity.data
            assert not isinstance(data, tuple)
            if data is not None:
                arg = self.types[data]
                if isinstance(arg, _Object) and arg.implicit:
                    for m in arg.local:
                        member(m.name, "member", m.features)

    def check_docs(self, docs: tuple[Doc, ...]) -> None:
        for doc in docs:
            if doc.symbol is None:
                continue
            connected = self.connected.get(id(doc), set())
            for kind, prefix, what in (
                (SectionKind.MEMBER, "member:", "member"),
                (SectionKind.FEATURE, "feature:", "feature"),
            ):
                sections = [s for s in doc.sections if s.kind is kind]
                bogus = [s for s in sections if prefix + str(s.name) not in connected]
                if bogus:
                    names = "', '".join(str(s.name) for s in bogus)
                    plural = len(bogus) > 1
                    raise SchemaError(
                        bogus[0].info,
                        f"documented {what}{'s' if plural else ''} '{names}' "
                        f"{'do' if plural else 'does'} not exist",
                    )

    def check_examples(self, docs: tuple[Doc, ...]) -> None:
        """hvballoond rule: a qmp-example message is JSON unless it shows an elision."""
        for doc in docs:
            for example in examples_of(doc):
                for message in example.messages:
                    if message.value is None and "..." not in message.text:
                        try:
                            json.loads(message.text)
                        except ValueError as err:
                            raise SchemaError(
                                message.info, f"qmp-example message is not valid JSON: {err}"
                            ) from None

    def check_feature_count(self) -> None:
        if len(self.feature_infos) > _MAX_FEATURES:
            name = list(self.feature_infos)[_MAX_FEATURES]
            raise SchemaError(
                self.feature_infos[name], "Maximum of 64 schema features is permitted"
            )


def _entity_info(entity: _Entity) -> SourceInfo | None:
    if isinstance(entity, ir.BuiltinType):
        return None
    return entity.info


def check_schema(loaded: LoadedSchema) -> ir.Schema:
    """Check a loaded schema and build its IR.

    Raises:
        SchemaError: the first error, as QEMU's generator would report it.
    """
    defs = [ex.check_expr(raw, loaded.pragmas) for raw in loaded.exprs]
    checker = _Checker(loaded.pragmas)
    for d in defs:
        checker.define(d)
    checker.check_all()
    checker.check_docs(loaded.docs)
    checker.check_examples(loaded.docs)
    checker.check_feature_count()
    return _freeze(checker, defs, loaded)


def _freeze(checker: _Checker, defs: list[ex.Definition], loaded: LoadedSchema) -> ir.Schema:
    types: dict[str, ir.SchemaType] = {}
    for name, t in checker.types.items():
        types[name] = _freeze_type(t)
    definitions: list[ir.Definition] = []
    for d in defs:
        entity = checker.names[d.name]
        if isinstance(entity, ex.CommandDef):
            assert not isinstance(entity.data, tuple)
            definitions.append(
                ir.Command(
                    entity.name,
                    entity.data,
                    None if entity.returns is None else entity.returns.name,
                    entity.boxed,
                    entity.allow_oob,
                    entity.allow_preconfig,
                    entity.coroutine,
                    entity.gen,
                    entity.success_response,
                    entity.features,
                    entity.info,
                    entity.doc,
                )
            )
        elif isinstance(entity, ex.EventDef):
            assert not isinstance(entity.data, tuple)
            definitions.append(
                ir.Event(
                    entity.name, entity.data, entity.boxed, entity.features, entity.info, entity.doc
                )
            )
        else:
            frozen = types[d.name]
            assert isinstance(frozen, ir.EnumType | ir.ObjectType | ir.AlternateType)
            definitions.append(frozen)
    order = {name: i for i, name in enumerate(loaded.modules)}

    def module_index(d: ir.Definition) -> int:
        assert d.info is not None
        return order[d.info.fname]

    definitions.sort(key=module_index)
    return ir.Schema(
        definitions=tuple(definitions),
        types=types,
        modules=loaded.modules,
        pragmas=loaded.pragmas,
        docs=loaded.docs,
    )


def _freeze_member(m: _Member) -> ir.Member:
    return ir.Member(m.name, m.type_name, m.optional, m.features, m.defined_in)


def _freeze_type(t: _Type) -> ir.SchemaType:
    if isinstance(t, ir.BuiltinType | ir.EnumType):
        return t
    if isinstance(t, _Array):
        return ir.ArrayType(t.name, t.element)
    if isinstance(t, _Alternate):
        return ir.AlternateType(
            t.name,
            tuple(ir.Variant(v.name, v.type_name) for v in t.variants),
            t.features,
            t.info,
            t.doc,
        )
    branches = None
    if t.tag is not None:
        branches = ir.Branches(t.tag, tuple(ir.Variant(v.name, v.type_name) for v in t.variants))
    return ir.ObjectType(
        t.name,
        tuple(_freeze_member(m) for m in t.members),
        t.base_name,
        branches,
        t.features,
        t.info,
        t.doc,
        t.implicit,
    )
