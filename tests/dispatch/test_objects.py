"""object-add / object-del / query-memdev / query-memory-size-summary handlers.

Replies from tests/machine/recorded/qom-backends-hmp.txt and machine-memory.md §5 (observed).
"""

from __future__ import annotations

import pytest

from hvballoond.clock import FakeClock
from hvballoond.dispatch.context import CommandContext, VmIdentity
from hvballoond.dispatch.errors import to_qmp_error
from hvballoond.dispatch.handlers import objects
from hvballoond.machine.config import HostFacts, MachineConfig
from hvballoond.machine.errors import MachineError
from hvballoond.machine.machine import Machine
from hvballoond.machine.units import GiB, MiB
from hvballoond.qmp.errors import ErrorClass
from hvballoond.wire.values import JSONObject, JSONValue
from tests.fakes import NullMonitor


def context() -> CommandContext:
    clock = FakeClock()
    config = MachineConfig(ram_size=GiB, maxram_size=16 * GiB, ram_slots=4, start_paused=True)
    machine = Machine(config, host=HostFacts(ram_bytes=23 * GiB), now=clock.now(), device_types=())
    machine.create_default_ram()
    machine.mark_ready()
    return CommandContext(machine=machine, now=clock.now(), monitor=NullMonitor(), vm=VmIdentity())


def error_of(call: object, ctx: CommandContext, args: JSONObject) -> tuple[str, str]:
    with pytest.raises(MachineError) as err:
        call(ctx, args)  # type: ignore[operator]
    qmp = to_qmp_error(err.value)
    return qmp.error_class.value, qmp.desc


def test_object_add_and_query_memdev() -> None:
    ctx = context()
    args: JSONObject = {
        "qom-type": "memory-backend-ram",
        "id": "hm1",
        "size": 128 * MiB,
        "host-nodes": [0],
        "policy": "bind",
    }
    assert objects.object_add(ctx, args) == {}
    assert (
        objects.object_add(
            ctx, {"qom-type": "memory-backend-ram", "id": "hm2", "size": 1572864, "merge": False}
        )
        == {}
    )
    reply: JSONValue = objects.query_memdev(ctx, {})
    assert reply == [
        {
            "id": "hm2",
            "size": 1572864,
            "merge": False,
            "dump": True,
            "prealloc": False,
            "share": False,
            "reserve": True,
            "host-nodes": [],
            "policy": "default",
        },
        {
            "id": "hm1",
            "size": 134217728,
            "merge": True,
            "dump": True,
            "prealloc": False,
            "share": False,
            "reserve": True,
            "host-nodes": [0],
            "policy": "bind",
        },
        {
            "id": "pc.ram",
            "size": 1073741824,
            "merge": True,
            "dump": True,
            "prealloc": False,
            "share": False,
            "reserve": True,
            "host-nodes": [],
            "policy": "default",
        },
    ]


def test_object_add_errors() -> None:
    ctx = context()
    ok: JSONObject = {"qom-type": "memory-backend-ram", "id": "mq", "size": MiB}
    objects.object_add(ctx, ok)
    assert error_of(objects.object_add, ctx, ok) == (
        "GenericError",
        "attempt to add duplicate property 'mq' to object (type 'container')",
    )
    assert error_of(objects.object_add, ctx, {**ok, "id": "1bad"}) == (
        "GenericError",
        "Parameter 'id' expects an identifier",
    )
    assert error_of(objects.object_add, ctx, {**ok, "id": "m64", "size": 64 * GiB}) == (
        "GenericError",
        "cannot set up guest memory 'm64': Cannot allocate memory",
    )
    assert objects.object_add(ctx, {**ok, "id": "huge", "size": 1 << 40, "reserve": False}) == {}


def test_object_del() -> None:
    ctx = context()
    objects.object_add(ctx, {"qom-type": "memory-backend-ram", "id": "b3", "size": MiB})
    assert error_of(objects.object_del, ctx, {"id": "nope"}) == (
        "GenericError",
        "object 'nope' not found",
    )
    assert error_of(objects.object_del, ctx, {"id": "/objects/b3"}) == (
        "GenericError",
        "object '/objects/b3' not found",
    )
    assert error_of(objects.object_del, ctx, {"id": "pc.ram"}) == (
        "GenericError",
        "object 'pc.ram' is in use, can not be deleted",
    )
    assert objects.object_del(ctx, {"id": "b3"}) == {}


def test_memory_size_summary() -> None:
    ctx = context()
    assert objects.query_memory_size_summary(ctx, {}) == {
        "base-memory": 1073741824,
        "plugged-memory": 0,
    }


def test_error_class_mapping_is_generic_for_backends() -> None:
    assert ErrorClass.GENERIC_ERROR.value == "GenericError"
