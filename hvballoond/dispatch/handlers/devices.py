"""QMP ``device_add`` and ``device_del`` (system/qdev-monitor.c).

The generic parts (driver and bus lookup, hotplug permission, ids, property setting, the
unplug-in-progress guard) are the machine's :class:`~hvballoond.machine.qdev.Qdev`; the
device types supply their pre-plug/realize/plug and unplug hooks.
"""

from __future__ import annotations

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.registry import command
from hvballoond.machine.qdev import DeviceOptions
from hvballoond.machine.qom import InputStyle
from hvballoond.wire.values import JSONObject, JSONValue

__all__: list[str] = []


@command("device_add")
def device_add(ctx: CommandContext, args: JSONObject) -> JSONValue:
    # qdev_device_add_from_qdict() reads driver, bus and id with qdict_get_try_str(): a
    # non-string bus or id is as good as absent (a numeric id gives an anonymous device).
    values = {
        key: value
        for key, value in args.items()
        if key not in ("bus", "id") or isinstance(value, str)
    }
    _device, events = ctx.machine.device_add(DeviceOptions(values, InputStyle.JSON), ctx.now)
    ctx.events.extend(events)
    return {}


@command("device_del")
def device_del(ctx: CommandContext, args: JSONObject) -> JSONValue:
    device_id = args["id"]
    assert isinstance(device_id, str)
    ctx.events.extend(ctx.machine.device_del(device_id, ctx.now))
    return {}
