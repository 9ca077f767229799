"""HMP for memory devices: ``info memory-devices``, ``info numa``, ``device_add``,
``device_del`` (hmp.md §4.2, §4.3, §4.6, §4.11; hw/core/machine-hmp-cmds.c,
machine-qmp-cmds.c ``qmp_x_query_numa``)."""

from __future__ import annotations

import re

import structlog

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.hmp.memdev import parse_keyval
from hvballoond.dispatch.hmp.registry import ArgKind, HmpUsageError, hmp_command, hmp_info
from hvballoond.machine.backends import ID_HINT
from hvballoond.machine.devices.common import memory_devices
from hvballoond.machine.qdev import DeviceOptions
from hvballoond.machine.qom import InputStyle
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = ["memory_devices_text", "numa_text"]

log = structlog.get_logger(__name__)

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9\-._]*")


def _bool(value: JSONValue) -> str:
    return "true" if value is True else "false"


def memory_devices_text(infos: list[JSONObject]) -> str:
    """``hmp_info_memory_devices``: one block per query-memory-devices element."""
    lines: list[str] = []
    for info in infos:
        kind, data = info["type"], info["data"]
        assert isinstance(data, dict)
        lines.append(f'Memory device [{kind}]: "{data.get("id", "")}"')
        if kind in ("dimm", "nvdimm"):
            lines += [
                f"  addr: {_hex(data['addr'])}",
                f"  slot: {data['slot']}",
                f"  node: {data['node']}",
                f"  size: {data['size']}",
                f"  memdev: {data['memdev']}",
                f"  hotplugged: {_bool(data['hotplugged'])}",
                f"  hotpluggable: {_bool(data['hotpluggable'])}",
            ]
        elif kind == "virtio-pmem":
            lines += [
                f"  memaddr: {_hex(data['memaddr'])}",
                f"  size: {data['size']}",
                f"  memdev: {data['memdev']}",
            ]
        elif kind == "virtio-mem":
            lines += [
                f"  memaddr: {_hex(data['memaddr'])}",
                f"  node: {data['node']}",
                f"  requested-size: {data['requested-size']}",
                f"  size: {data['size']}",
                f"  max-size: {data['max-size']}",
                f"  block-size: {data['block-size']}",
                f"  memdev: {data['memdev']}",
            ]
        elif kind == "sgx-epc":
            lines += [
                f"  memaddr: {_hex(data['memaddr'])}",
                f"  size: {data['size']}",
                f"  node: {data['node']}",
                f"  memdev: {data['memdev']}",
            ]
        elif kind == "hv-balloon":
            if "memaddr" in data:
                lines.append(f"  memaddr: {_hex(data['memaddr'])}")
            lines.append(f"  max-size: {data['max-size']}")
            if "memdev" in data:
                lines.append(f"  memdev: {data['memdev']}")
    return "".join(line + "\n" for line in lines)


def _hex(value: JSONValue) -> str:
    assert isinstance(value, int)
    return f"0x{value:x}"


@hmp_info("memory-devices", help="show memory devices")
def info_memory_devices(ctx: CommandContext, arg: str | int | None) -> str:
    infos = [dev.md_info() for dev in memory_devices(ctx.machine).devices()]
    return memory_devices_text(infos)


def numa_text(ctx: CommandContext) -> str:
    """``qmp_x_query_numa``: nodes, their CPUs, and memory including memory devices."""
    machine = ctx.machine
    config = machine.config
    nodes = machine.numa_node_count
    out = [f"{nodes} nodes"]
    if not nodes:
        return out[0] + "\n"
    size = [0] * nodes
    plugged = [0] * nodes
    for device in memory_devices(machine).devices():
        info = device.md_info()
        kind, data = info["type"], info["data"]
        assert isinstance(data, dict)
        if kind in ("dimm", "nvdimm", "virtio-mem", "virtio-pmem"):
            node = data.get("node", 0)  # virtio-pmem always counts on node 0
            amount = data["size"]
            assert isinstance(node, int) and isinstance(amount, int)
            if node < nodes:
                size[node] += amount
                plugged[node] += amount
        # QEMU 10.0.2 has no case for hv-balloon here and aborts; it is left out (proposal).
    node_ram = _node_ram(ctx, nodes)
    for index in range(nodes):
        # With the default topology every CPU sits in socket 0, which maps to node 0.
        cpus = "".join(f" {cpu}" for cpu in range(config.cpus)) if index == 0 else ""
        out.append(f"node {index} cpus:{cpus}")
        out.append(f"node {index} size: {(size[index] + node_ram[index]) >> 20} MB")
        out.append(f"node {index} plugged: {plugged[index] >> 20} MB")
    return "".join(line + "\n" for line in out)


def _node_ram(ctx: CommandContext, nodes: int) -> list[int]:
    config = ctx.machine.config
    if not config.numa_nodes:
        return [config.ram_size] + [0] * (nodes - 1)
    ram = [0] * nodes
    for node in config.numa_nodes:
        if node.nodeid >= nodes:
            continue
        if node.memdev is not None:
            backend = ctx.machine.backends.get(node.memdev)
            ram[node.nodeid] = backend.size if backend is not None else 0
        elif node.mem is not None:
            ram[node.nodeid] = node.mem
    return ram


@hmp_info("numa", help="show NUMA information")
def info_numa(ctx: CommandContext, arg: str | int | None) -> str:
    return numa_text(ctx)


@hmp_command(
    "device_add",
    params="driver[,prop=value][,...]",
    help="add device, like -device on the command line",
    arg=ArgKind.OPTIONS,
)
def device_add(ctx: CommandContext, arg: str | int | None) -> str:
    assert isinstance(arg, str)
    options: dict[str, JSONValue] = dict(parse_keyval(arg, "driver")) if arg else {}
    device_id = options.get("id")
    if isinstance(device_id, str) and not _IDENTIFIER.fullmatch(device_id):
        # QemuOpts rejects the id while parsing and prints to QEMU's stderr; the reply only
        # carries the "Try" line (hmp.md §4.3).
        log.warning("qemu.error", text="Parameter 'id' expects an identifier", hint=ID_HINT)
        raise HmpUsageError("")
    _device, events = ctx.machine.device_add(DeviceOptions(options, InputStyle.KEYVAL), ctx.now)
    ctx.events.extend(events)
    return ""


@hmp_command("device_del", params="device", help="remove device", arg=ArgKind.STRING)
def device_del(ctx: CommandContext, arg: str | int | None) -> str:
    assert isinstance(arg, str)
    ctx.events.extend(ctx.machine.device_del(arg, ctx.now))
    return ""
