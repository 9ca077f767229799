"""``query-hv-balloon-status-report`` (balloon.md §3.12) and the v3 ``hv-balloon-add-memory``
(balloon.md §4)."""

from __future__ import annotations

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.registry import command
from hvballoond.machine.errors import MachineError
from hvballoond.machine.hv_balloon.device import find_hv_balloon
from hvballoond.machine.hv_balloon.v3 import NO_DEVICE, add_memory
from hvballoond.wire.values import JSONObject, JSONValue

__all__: list[str] = []


@command("query-hv-balloon-status-report")
def query_hv_balloon_status_report(ctx: CommandContext, args: JSONObject) -> JSONValue:
    """The guest's last memory status report, as HvBalloonInfo."""
    device = find_hv_balloon(ctx.machine)
    if device is None:
        raise MachineError(NO_DEVICE)
    return device.status_report_info()


@command("hv-balloon-add-memory")
def hv_balloon_add_memory(ctx: CommandContext, args: JSONObject) -> JSONValue:
    """Hot-add a whole memory backend through a hidden vDIMM (hvballoond extension)."""
    backend_id = args["id"]
    assert isinstance(backend_id, str)
    ctx.events += add_memory(ctx.machine, backend_id, ctx.now)
    return {}
