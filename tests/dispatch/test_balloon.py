"""The balloon commands through the dispatcher and HMP, with a simulated hv-balloon guest."""

from __future__ import annotations

from hvballoond.machine.balloon.core import set_balloon_guest_policy
from hvballoond.machine.hv_balloon.device import find_hv_balloon
from hvballoond.machine.hv_balloon.guest_sim import GuestPolicy
from hvballoond.machine.units import GiB
from tests.machine.devices.rig import vm

ARGS = (
    "-machine q35 -m 4G,maxmem=40G -object memory-backend-ram,id=hvmem,size=8G "
    "-device vmbus-bridge -device hv-balloon,id=hvb,memdev=hvmem,status-report=on"
)


def test_hmp_and_qmp_reach_the_same_device() -> None:
    machine = vm(ARGS)
    set_balloon_guest_policy(machine.machine, dm=GuestPolicy(), virtio=None)
    machine.ok("cont")
    machine.advance(52_000)
    assert machine.hmp("info balloon") == "balloon: actual=4096\r\n"
    assert machine.hmp("balloon 3*1024") == ""
    machine.advance(10)
    assert machine.ok("query-balloon") == {"actual": 3 * GiB}
    assert machine.hmp("info balloon") == "balloon: actual=3072\r\n"
    assert machine.hmp("balloon 0x1800") == ""  # 6 GiB: deflate, then hot-add 2 GiB
    machine.advance(10)
    assert machine.hmp("info balloon") == "balloon: actual=6144\r\n"
    assert machine.hmp("balloon 0") == "Error: Parameter 'value' expects a size\r\n"
    assert machine.hmp("balloon -1") == (
        'enter a positive value\r\nTry "help balloon" for more information\r\n'
    )
    status = machine.ok("query-hv-balloon-status-report")
    assert isinstance(status, dict) and list(status) == ["committed", "available"]


def test_target_below_one_page_is_ignored_by_hv_balloon() -> None:
    machine = vm(ARGS)
    assert machine.ok("balloon", {"value": 4095}) == {}
    device = find_hv_balloon(machine.machine)
    assert device is not None and device.engine is not None
    assert device.engine.host.target == 0 and not device.engine.host.target_changed
    assert machine.ok("balloon", {"value": 4096}) == {}
    assert device.engine.host.target == 1 and device.engine.host.target_changed


def test_hv_balloon_never_sends_balloon_change() -> None:
    machine = vm(ARGS)
    set_balloon_guest_policy(machine.machine, dm=GuestPolicy(status_interval_ns=None), virtio=None)
    machine.ok("cont")
    machine.advance(52_000)
    machine.ok("balloon", {"value": 2 * GiB})
    machine.advance(1_000)
    assert machine.ok("query-balloon") == {"actual": 2 * GiB}
    assert [e["event"] for e in machine.take_events()] == ["RESUME"]
