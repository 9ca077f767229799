"""The ``query-qmp-schema`` value of a schema (introspection.md).

Type names other than builtins are masked as decimal strings, numbered in order of first
reference (§3.1): commands and events are walked in visiting order (a command's
``arg-type`` then its ``ret-type``), then the queue of referenced types while it grows
(an object's member types, then its variants' types; an alternate's member types; an
array's element type). Referencing an array queues the array before its element type.
All integer types show as ``int`` and arrays of them as ``[int]``.

Each entry is built with its members inserted in the schema order of ``SchemaInfo``
(qapi/introspect.json: ``name``, ``meta-type``, ``features``, then the branch members);
the wire encoder derives QEMU's printed order from that.
"""

from __future__ import annotations

from hvballoond.qapi import ir
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = ["build_introspection"]


class _Builder:
    def __init__(self, schema: ir.Schema, *, unmask: bool) -> None:
        self.schema = schema
        self.unmask = unmask
        self.numbers: dict[str, str] = {}
        self.queue: list[str] = []
        self.queued: set[str] = set()

    def json_type(self, name: str) -> str:
        t = self.schema.types[name]
        if isinstance(t, ir.BuiltinType):
            return t.json_type
        if isinstance(t, ir.EnumType):
            return "string"
        if isinstance(t, ir.ObjectType):
            return "object"
        if isinstance(t, ir.ArrayType):
            return "array"
        return "value"

    def mask(self, name: str) -> str:
        if self.unmask:
            return name
        if name not in self.numbers:
            self.numbers[name] = str(len(self.numbers))
        return self.numbers[name]

    def use(self, name: str) -> str:
        """Reference a type: queue it if new, return its introspected name."""
        t = self.schema.types[name]
        if self.json_type(name) == "int":
            name = "int"
        elif isinstance(t, ir.ArrayType) and self.json_type(t.element) == "int":
            name = "intList"
        if name not in self.queued:
            self.queued.add(name)
            self.queue.append(name)
        t = self.schema.types[name]
        if isinstance(t, ir.BuiltinType):
            return name
        if isinstance(t, ir.ArrayType):
            return "[" + self.use(t.element) + "]"
        return self.mask(name)

    def definition(self, d: ir.Command | ir.Event) -> JSONObject:
        arg = self.use(d.arg_type or ir.EMPTY_OBJECT)
        entry: JSONObject = {"name": d.name}
        if isinstance(d, ir.Command):
            ret = self.use(d.ret_type or ir.EMPTY_OBJECT)
            entry["meta-type"] = "command"
            _features(entry, d.features)
            entry["arg-type"] = arg
            entry["ret-type"] = ret
            if d.allow_oob:
                entry["allow-oob"] = True
        else:
            entry["meta-type"] = "event"
            _features(entry, d.features)
            entry["arg-type"] = arg
        return entry

    def type_entry(self, name: str) -> JSONObject:
        t = self.schema.types[name]
        if isinstance(t, ir.BuiltinType):
            return {"name": name, "meta-type": "builtin", "json-type": t.json_type}
        if isinstance(t, ir.ArrayType):
            element = self.use(t.element)
            return {"name": f"[{element}]", "meta-type": "array", "element-type": element}
        entry: JSONObject = {"name": self.mask(name)}
        if isinstance(t, ir.EnumType):
            entry["meta-type"] = "enum"
            _features(entry, t.features)
            members: list[JSONValue] = []
            for value in t.values:
                member: JSONObject = {"name": value.name}
                _features(member, value.features)
                members.append(member)
            entry["members"] = members
            entry["values"] = [v.name for v in t.values]
        elif isinstance(t, ir.ObjectType):
            entry["meta-type"] = "object"
            _features(entry, t.features)
            entry["members"] = [self.member(m) for m in t.members]
            if t.branches is not None:
                entry["tag"] = t.branches.tag
                entry["variants"] = [
                    {"case": v.name, "type": self.use(v.type)} for v in t.branches.variants
                ]
        else:
            entry["meta-type"] = "alternate"
            _features(entry, t.features)
            entry["members"] = [{"type": self.use(v.type)} for v in t.variants]
        return entry

    def member(self, m: ir.Member) -> JSONObject:
        out: JSONObject = {"name": m.name, "type": self.use(m.type)}
        if m.optional:
            out["default"] = None
        _features(out, m.features)
        return out

    def build(self) -> list[JSONValue]:
        out: list[JSONValue] = []
        for d in self.schema.definitions:
            if isinstance(d, ir.Command | ir.Event):
                out.append(self.definition(d))
        i = 0
        while i < len(self.queue):
            out.append(self.type_entry(self.queue[i]))
            i += 1
        return out


def _features(entry: JSONObject, features: tuple[str, ...]) -> None:
    if features:
        entry["features"] = list(features)


def build_introspection(schema: ir.Schema, *, unmask: bool = False) -> list[JSONValue]:
    """The SchemaInfo list QEMU would return for ``schema``.

    Args:
        schema: a checked schema.
        unmask: show real type names instead of numbers (for debugging).
    """
    return _Builder(schema, unmask=unmask).build()
