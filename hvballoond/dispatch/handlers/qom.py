"""QOM introspection and access: qom-list, qom-get, qom-set, qom-list-types,
qom-list-properties (qmp-protocol.md §10.8; qom/qom-qmp-cmds.c)."""

from __future__ import annotations

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.registry import command
from hvballoond.machine.qom import find_object, list_target
from hvballoond.wire.values import JSONObject, JSONValue

__all__: list[str] = []


def _str_arg(args: JSONObject, name: str) -> str:
    value = args[name]
    assert isinstance(value, str)
    return value


@command("qom-list")
def qom_list(ctx: CommandContext, args: JSONObject) -> JSONValue:
    obj = list_target(ctx.machine.qom.root, _str_arg(args, "path"))
    return [{"name": prop.name, "type": prop.type} for prop in obj.properties()]


@command("qom-get")
def qom_get(ctx: CommandContext, args: JSONObject) -> JSONValue:
    obj = find_object(ctx.machine.qom.root, _str_arg(args, "path"))
    return obj.get(_str_arg(args, "property"))


@command("qom-set")
def qom_set(ctx: CommandContext, args: JSONObject) -> JSONValue:
    obj = find_object(ctx.machine.qom.root, _str_arg(args, "path"))
    obj.set_json(_str_arg(args, "property"), args.get("value"))
    return {}


@command("qom-list-types")
def qom_list_types(ctx: CommandContext, args: JSONObject) -> JSONValue:
    implements = args.get("implements")
    abstract = args.get("abstract", False)
    assert implements is None or isinstance(implements, str)
    assert isinstance(abstract, bool)
    out: list[JSONValue] = []
    for qom_type in ctx.machine.types.list_types(implements=implements, abstract=abstract):
        # ObjectTypeInfo members in schema order: name, abstract (only when true), parent.
        info: JSONObject = {"name": qom_type.name}
        if qom_type.abstract:
            info["abstract"] = True
        if qom_type.parent is not None:
            info["parent"] = qom_type.parent
        out.append(info)
    return out


@command("qom-list-properties")
def qom_list_properties(ctx: CommandContext, args: JSONObject) -> JSONValue:
    out: list[JSONValue] = []
    for prop in ctx.machine.type_properties(_str_arg(args, "typename")):
        info: JSONObject = {"name": prop.name, "type": prop.type}
        if prop.description is not None:
            info["description"] = prop.description
        if prop.default is not None:
            info["default-value"] = prop.default[0]
        out.append(info)
    return out
