"""Memory backends and the machine's memory totals: object-add, object-del, query-memdev,
query-memory-size-summary (machine-memory.md §4, §5; qmp-protocol.md §10.9)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from operator import methodcaller

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.entry_cache import EntryCache
from hvballoond.dispatch.registry import command
from hvballoond.machine.backends import MemoryBackend
from hvballoond.wire.values import JSONObject, JSONValue

__all__: list[str] = []


@command("object-add")
def object_add(ctx: CommandContext, args: JSONObject) -> JSONValue:
    qom_type = args["qom-type"]
    obj_id = args["id"]
    assert isinstance(qom_type, str) and isinstance(obj_id, str)
    props = {key: value for key, value in args.items() if key not in ("qom-type", "id")}
    ctx.machine.object_add(qom_type, obj_id, props)
    return {}


@command("object-del")
def object_del(ctx: CommandContext, args: JSONObject) -> JSONValue:
    obj_id = args["id"]
    assert isinstance(obj_id, str)
    ctx.machine.object_del(obj_id)
    return {}


# Late-bound, so a backend class's own override runs.
_MEMDEV_KEY: Callable[[MemoryBackend], Hashable] = methodcaller("memdev_key")
_MEMDEV_INFO: Callable[[MemoryBackend], JSONObject] = methodcaller("memdev_info")


class MemdevEntries(EntryCache):
    """The machine's encoded ``query-memdev`` elements."""


@command("query-memdev")
def query_memdev(ctx: CommandContext, args: JSONObject) -> JSONValue:
    backends = ctx.machine.backends
    return ctx.machine.component(MemdevEntries).encode_all(
        backends.all, _MEMDEV_KEY, _MEMDEV_INFO, token=backends.listing_token()
    )


@command("query-memory-size-summary")
def query_memory_size_summary(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return ctx.machine.memory_size_summary()
