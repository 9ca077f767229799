"""HMP memory-backend commands: ``info memdev``, ``info memory_size_summary``,
``object_add``, ``object_del`` (hmp.md §4.1, §4.7, §4.8)."""

from __future__ import annotations

import json

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.hmp.registry import ArgKind, hmp_command, hmp_info
from hvballoond.machine.errors import MachineError
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = ["host_nodes_text", "parse_keyval"]


def call_command(
    ctx: CommandContext, command: str, arguments: JSONObject | None = None
) -> JSONValue:
    """Run a QMP command's handler (imported lazily: it needs the generated schema)."""
    from hvballoond.dispatch.invoke import call_command as invoke

    return invoke(ctx, command, arguments)


def host_nodes_text(nodes: list[int]) -> str:
    """``0-2,5``: runs of consecutive node numbers (hw/core/machine-hmp-cmds.c)."""
    runs: list[str] = []
    index = 0
    ordered = sorted(nodes)
    while index < len(ordered):
        start = end = ordered[index]
        while index + 1 < len(ordered) and ordered[index + 1] == end + 1:
            index += 1
            end = ordered[index]
        runs.append(str(start) if start == end else f"{start}-{end}")
        index += 1
    return ",".join(runs)


@hmp_info("memdev", help="show memory backends")
def info_memdev(ctx: CommandContext, arg: str | int | None) -> str:
    result = call_command(ctx, "query-memdev")
    assert isinstance(result, list)
    lines: list[str] = []
    for entry in result:
        assert isinstance(entry, dict)
        nodes = entry.get("host-nodes", [])
        assert isinstance(nodes, list)
        lines += [
            f"memory backend: {entry['id']}",
            f"  size:  {entry['size']}",
            f"  merge: {_bool(entry['merge'])}",
            f"  dump: {_bool(entry['dump'])}",
            f"  prealloc: {_bool(entry['prealloc'])}",
            f"  share: {_bool(entry['share'])}",
        ]
        if "reserve" in entry:
            lines.append(f"  reserve: {_bool(entry['reserve'])}")
        lines.append(f"  policy: {entry['policy']}")
        lines.append(f"  host nodes: {host_nodes_text([n for n in nodes if isinstance(n, int)])}")
    return "".join(line + "\n" for line in lines) + "\n"


def _bool(value: JSONValue) -> str:
    return "true" if value is True else "false"


@hmp_info(
    "memory_size_summary",
    help="show the amount of initially allocated and present hotpluggable (if enabled) "
    "memory in bytes.",
)
def info_memory_size_summary(ctx: CommandContext, arg: str | int | None) -> str:
    result = call_command(ctx, "query-memory-size-summary")
    assert isinstance(result, dict)
    text = f"base memory: {result['base-memory']}\n"
    if "plugged-memory" in result:
        text += f"plugged memory: {result['plugged-memory']}\n"
    return text


def parse_keyval(text: str, implied: str) -> dict[str, str]:
    """util/keyval.c for the flat case: ``a=1,b=2``; the first bare value is ``implied``;
    ``,,`` is a literal comma; a repeated key keeps its last value.

    Raises:
        MachineError: a key without ``=`` after the first position.
    """
    out: dict[str, str] = {}
    items: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "," and text[index + 1 : index + 2] == ",":
            current.append(",")
            index += 2
            continue
        if char == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    items.append("".join(current))
    for position, item in enumerate(items):
        if "=" in item:
            key, value = item.split("=", 1)
        elif position == 0:
            key, value = implied, item
        else:
            raise MachineError(f"Expected '=' after parameter '{item}'")
        out.pop(key, None)
        out[key] = value
    return out


def _json_object(text: str) -> JSONObject:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        if err.pos >= len(text.rstrip()):
            raise MachineError("JSON parse error, premature EOI") from None
        raise MachineError(f"JSON parse error, invalid keyword '{text[err.pos :]}'") from None
    if not isinstance(value, dict):
        raise MachineError("Invalid parameter type, expected: object")
    return value


@hmp_command(
    "object_add",
    params="[qom-type=]type,id=str[,prop=value][,...]",
    help="create QOM object",
    arg=ArgKind.REST,
)
def object_add(ctx: CommandContext, arg: str | int | None) -> str:
    # qom/object_interfaces.c user_creatable_add_from_str: JSON if it starts with '{'.
    from hvballoond.dispatch import schema_glue

    assert isinstance(arg, str)
    if arg.startswith("{"):
        options = schema_glue.object_validator(_json_object(arg), keyval=False)
    else:
        options = schema_glue.object_validator(parse_keyval(arg, "qom-type"), keyval=True)
    qom_type = options["qom-type"]
    obj_id = options["id"]
    assert isinstance(qom_type, str) and isinstance(obj_id, str)
    props = {key: value for key, value in options.items() if key not in ("qom-type", "id")}
    ctx.machine.object_add(qom_type, obj_id, props)
    return ""


@hmp_command("object_del", params="id", help="destroy QOM object", arg=ArgKind.STRING)
def object_del(ctx: CommandContext, arg: str | int | None) -> str:
    assert isinstance(arg, str)
    call_command(ctx, "object-del", {"id": arg})
    return ""
