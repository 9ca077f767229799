"""The CPU queries managers send at start-up (libvirt: query-cpus-fast, query-hotpluggable-cpus).

hvballoond emulates no CPU; it reports the -smp CPUs as QEMU 10.0.2's x86 machines do: one core
per CPU on socket 0, ``node-id`` only when the machine has NUMA nodes (the implicit one of a
machine with memory hot-plug included), the boot CPU at
/machine/unattached/device[0] and the others after the on-board device QEMU creates in between.
"""

from __future__ import annotations

import os

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.registry import command
from hvballoond.wire.values import JSONObject, JSONValue

__all__: list[str] = []

CPU_TYPE = "qemu64-x86_64-cpu"


def _cpu_path(index: int) -> str:
    return f"/machine/unattached/device[{0 if index == 0 else index + 1}]"


def _props(ctx: CommandContext, index: int) -> JSONObject:
    props: JSONObject = {}
    # numa_node_count includes the node QEMU adds for memory hot-plug (slots/maxmem, no -numa).
    if ctx.machine.config.numa_node_count:
        props["node-id"] = 0
    props["socket-id"] = 0
    props["core-id"] = index
    props["thread-id"] = 0
    return props


@command("query-cpus-fast")
def query_cpus_fast(ctx: CommandContext, args: JSONObject) -> JSONValue:
    # thread-id is a host thread id in QEMU; ours are stand-ins derived from our pid.
    return [
        {"cpu-index": i, "qom-path": _cpu_path(i), "thread-id": os.getpid() + i,
         "props": _props(ctx, i), "target": "x86_64"}
        for i in range(ctx.machine.config.cpus)
    ]


@command("query-hotpluggable-cpus")
def query_hotpluggable_cpus(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return [
        {"type": CPU_TYPE, "vcpus-count": 1, "props": _props(ctx, i), "qom-path": _cpu_path(i)}
        for i in reversed(range(ctx.machine.config.cpus))
    ]
