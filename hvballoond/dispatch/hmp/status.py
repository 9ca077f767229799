"""HMP run control and QOM access: ``info status``, ``stop|s``, ``cont|c``,
``system_reset``, ``system_powerdown`` (hmp.md §4.9-§4.10) and ``qom-list``, ``qom-get``,
``qom-set`` (qom/qom-hmp-cmds.c)."""

from __future__ import annotations

import json

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.hmp.registry import ArgKind, HmpUsageError, hmp_command, hmp_info
from hvballoond.machine.errors import MachineError
from hvballoond.machine.qdev import qdict_order
from hvballoond.machine.qom import InputStyle, find_object
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = ["pretty_json", "split_args"]


def call_command(
    ctx: CommandContext, command: str, arguments: JSONObject | None = None
) -> JSONValue:
    """Run a QMP command's handler (imported lazily: it needs the generated schema)."""
    from hvballoond.dispatch.invoke import call_command as invoke

    return invoke(ctx, command, arguments)


_SPACE = " \t\n\r\v\f"


# --------------------------------------------------------------------------------------------
# Run control
# --------------------------------------------------------------------------------------------


@hmp_info("status", help="show the current VM status (running|paused)")
def info_status(ctx: CommandContext, arg: str | int | None) -> str:
    # system/runstate-hmp-cmds.c hmp_info_status.
    result = call_command(ctx, "query-status")
    assert isinstance(result, dict)
    if result["running"] is True:
        return "VM status: running\n"
    status = result["status"]
    return "VM status: paused\n" if status == "paused" else f"VM status: paused ({status})\n"


@hmp_command("stop|s", help="stop emulation")
def stop(ctx: CommandContext, arg: str | int | None) -> str:
    call_command(ctx, "stop")
    return ""


@hmp_command("cont|c", help="resume emulation")
def cont(ctx: CommandContext, arg: str | int | None) -> str:
    call_command(ctx, "cont")
    return ""


@hmp_command("system_reset", help="reset the system")
def system_reset(ctx: CommandContext, arg: str | int | None) -> str:
    call_command(ctx, "system_reset")
    return ""


@hmp_command("system_powerdown", help="send system power down event")
def system_powerdown(ctx: CommandContext, arg: str | int | None) -> str:
    call_command(ctx, "system_powerdown")
    return ""


# --------------------------------------------------------------------------------------------
# Argument parsing for the multi-argument QOM commands (monitor/hmp.c get_str)
# --------------------------------------------------------------------------------------------

_ESCAPES = {"n": "\n", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


def _get_str(text: str, pos: int) -> tuple[str | None, int]:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    if pos >= len(text):
        return None, pos
    if text[pos] == '"':
        pos += 1
        out: list[str] = []
        while pos < len(text) and text[pos] != '"':
            if text[pos] == "\\" and pos + 1 < len(text):
                escaped = _ESCAPES.get(text[pos + 1])
                if escaped is None:
                    return None, pos
                out.append(escaped)
                pos += 2
            else:
                out.append(text[pos])
                pos += 1
        if pos >= len(text):
            return None, pos
        return "".join(out), pos + 1
    start = pos
    while pos < len(text) and text[pos] not in _SPACE:
        pos += 1
    return text[start:pos], pos


def split_args(name: str, text: str, count: int) -> tuple[list[str], str]:
    """Read ``count`` string arguments; return them and the unparsed rest.

    Raises:
        HmpUsageError: ``<name>: string expected``.
    """
    values: list[str] = []
    pos = 0
    for _ in range(count):
        value, pos = _get_str(text, pos)
        if value is None:
            raise HmpUsageError(f"{name}: string expected")
        values.append(value)
    return values, text[pos:]


def _no_trailing(name: str, rest: str) -> None:
    if rest.strip(_SPACE):
        raise HmpUsageError(f"{name}: extraneous characters at the end of line")


# --------------------------------------------------------------------------------------------
# QEMU's pretty JSON (qobject/json-writer.c), keys in QDict order
# --------------------------------------------------------------------------------------------


def _quote(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
        elif code < 0x20 or code >= 0x7F:
            if code > 0xFFFF:
                code -= 0x10000
                out.append(f"\\u{0xD800 | (code >> 10):04X}\\u{0xDC00 | (code & 0x3FF):04X}")
            else:
                out.append(f"\\u{code:04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def pretty_json(value: JSONValue) -> str:
    """``qobject_to_json_pretty``: 4-space indent, ``{`` / ``}`` on their own lines."""
    out: list[str] = []
    _pretty(value, out, 0)
    return "".join(out)


def _pretty(value: JSONValue, out: list[str], depth: int) -> None:
    if isinstance(value, dict):
        out.append("{")
        for index, key in enumerate(qdict_order(list(value))):
            out.append("," if index else "")
            out.append("\n" + " " * ((depth + 1) * 4) + _quote(key) + ": ")
            _pretty(value[key], out, depth + 1)
        out.append("\n" + " " * (depth * 4) + "}")
    elif isinstance(value, list):
        out.append("[")
        for index, item in enumerate(value):
            out.append("," if index else "")
            out.append("\n" + " " * ((depth + 1) * 4))
            _pretty(item, out, depth + 1)
        out.append("\n" + " " * (depth * 4) + "]")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(f"{value:.17g}")
    else:
        out.append(_quote(value))


# --------------------------------------------------------------------------------------------
# qom-list / qom-get / qom-set
# --------------------------------------------------------------------------------------------


@hmp_command("qom-list", params="path", help="list QOM properties", arg=ArgKind.PARAMS)
def qom_list(ctx: CommandContext, arg: str | int | None) -> str:
    assert isinstance(arg, str)
    path, pos = _get_str(arg, 0)
    _no_trailing("qom-list", arg[pos:])
    if path is None:
        return "/\n"
    result = call_command(ctx, "qom-list", {"path": path})
    assert isinstance(result, list)
    lines = []
    for entry in result:
        assert isinstance(entry, dict)
        lines.append(f"{entry['name']} ({entry['type']})\n")
    return "".join(lines)


@hmp_command("qom-get", params="path property", help="print QOM property", arg=ArgKind.PARAMS)
def qom_get(ctx: CommandContext, arg: str | int | None) -> str:
    assert isinstance(arg, str)
    (path, prop), rest = split_args("qom-get", arg, 2)
    _no_trailing("qom-get", rest)
    value = call_command(ctx, "qom-get", {"path": path, "property": prop})
    return pretty_json(value) + "\n"


def _json_value(text: str) -> JSONValue:
    try:
        value: JSONValue = json.loads(text)
    except json.JSONDecodeError as err:
        if err.pos >= len(text.rstrip()):
            raise MachineError("JSON parse error, premature EOI") from None
        raise MachineError(f"JSON parse error, invalid keyword '{text[err.pos :]}'") from None
    return value


@hmp_command(
    "qom-set",
    params="[-j] path property value",
    help="set QOM property.\n\t\t\t-j: the value is specified in json format.",
    arg=ArgKind.PARAMS,
)
def qom_set(ctx: CommandContext, arg: str | int | None) -> str:
    assert isinstance(arg, str)
    text = arg.lstrip(_SPACE)
    as_json = False
    if text.startswith("-j") and (len(text) == 2 or text[2] in _SPACE):
        as_json = True
        text = text[2:]
    (path, prop), rest = split_args("qom-set", text, 2)
    value = rest.lstrip(_SPACE)
    if not value:
        raise HmpUsageError("qom-set: string expected")
    if as_json:
        call_command(ctx, "qom-set", {"path": path, "property": prop, "value": _json_value(value)})
        return ""
    # Without -j the value goes through the string input visitor (object_property_parse).
    obj = find_object(ctx.machine.qom.root, path)
    obj.set_text(prop, value, InputStyle.STRING)
    return ""
