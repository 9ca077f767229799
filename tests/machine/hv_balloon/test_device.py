"""hv-balloon and vmbus-bridge on a whole machine (memory-devices.md §6.5, balloon.md §3)."""

from __future__ import annotations

import uuid

import pytest

from hvballoond.machine.balloon.core import set_balloon_guest_policy
from hvballoond.machine.errors import StartupError
from hvballoond.machine.events import HvBalloonBackendUnused
from hvballoond.machine.hv_balloon.device import HvBalloon, find_hv_balloon
from hvballoond.machine.hv_balloon.guest_sim import GuestPolicy, HotAddReply
from hvballoond.machine.hv_balloon.host import HostState
from hvballoond.machine.memdev.machine_manager import memory_devices
from hvballoond.machine.units import GiB, MiB
from tests.machine.devices.rig import Vm, vm

G = GiB
HVB_4G = (
    "-machine q35 -m 4G,maxmem=40G -object memory-backend-ram,id=hvmem,size=8G "
    "-device vmbus-bridge -device hv-balloon,id=hvb,memdev=hvmem"
)


def hv(machine: Vm) -> HvBalloon:
    device = find_hv_balloon(machine.machine)
    assert device is not None
    return device


def with_guest(args: str, policy: GuestPolicy | None = None) -> Vm:
    machine = vm(args)
    set_balloon_guest_policy(machine.machine, dm=policy or GuestPolicy(), virtio=None)
    return machine


def status_for(visible_bytes: int) -> dict[str, int]:
    """What the default simulated guest reports: 25 % committed, the rest available; the
    64-page option-ROM hole is never the guest's."""
    pages = visible_bytes // 4096 - 64
    committed = pages * 25 // 100
    return {"committed": committed * 4096, "available": (pages - committed) * 4096}


def events(machine: Vm, name: str) -> list[object]:
    return [e.get("data") for e in machine.take_events() if e["event"] == name]


# ----------------------------------------------------------------------------- plumbing


def test_bus_rules() -> None:
    with pytest.raises(StartupError, match="No 'vmbus' bus found for device 'hv-balloon'"):
        vm("-machine q35 -m 1G -device hv-balloon")
    with pytest.raises(StartupError, match="there can be at most one vmbus-bridge in the system"):
        vm("-machine q35 -m 1G -device vmbus-bridge -device vmbus-bridge")
    machine = vm("-machine q35 -m 1G -device vmbus-bridge -device hv-balloon,id=hvb")
    assert machine.error("device_add", {"driver": "hv-balloon", "id": "x"}) == (
        "Bus 'vmbus' does not support hotplugging"
    )
    assert machine.error("device_del", {"id": "hvb"}) == "Bus 'vmbus' does not support hotplugging"
    assert machine.error("device_add", {"driver": "vmbus-bridge"}) == (
        "Bus 'main-system-bus' does not support hotplugging"
    )
    plain = vm("-machine q35 -m 1G")
    assert plain.error("device_add", {"driver": "hv-balloon"}) == (
        "No 'vmbus' bus found for device 'hv-balloon'"
    )
    # The hv-balloon sits on the bridge's "vmbus" bus.
    assert (
        machine.ok("qom-get", {"path": "/machine/peripheral/hvb", "property": "parent_bus"})
        == "/machine/peripheral-anon/device[0]/vmbus"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            "-machine q35 -m 1G -device pcie-root-port,id=rp,chassis=1 -device vmbus-bridge "
            "-device virtio-balloon-pci,bus=rp -device hv-balloon",
            "Only one balloon device is supported",
        ),
        (
            "-machine q35 -m 1G -device vmbus-bridge -device hv-balloon -device hv-balloon",
            "Only one balloon device is supported",
        ),
        (
            "-machine q35 -m 1G,slots=2,maxmem=40G -object memory-backend-ram,id=m,size=1G "
            "-device pc-dimm,memdev=m -device vmbus-bridge -device hv-balloon,memdev=m",
            "'memdev' property specifies a busy memdev: m",
        ),
        (
            "-machine q35 -m 1G -device vmbus-bridge -device hv-balloon,addr=34359738368",
            "'memdev' property must not be set without a memdev",
        ),
        (
            "-machine q35 -m 1G,maxmem=40G -object memory-backend-ram,id=m,size=1G "
            "-device vmbus-bridge -device hv-balloon,memdev=m,addr=1073741824",
            "address must be aligned to 0x800000000 bytes",
        ),
        (
            "-machine q35 -m 4G,maxmem=36G -object memory-backend-ram,id=m,size=8G "
            "-device vmbus-bridge -device hv-balloon,memdev=m",
            "could not find position in guest address space for memory device - memory "
            "fragmented due to alignments",
        ),
        (
            "-machine q35 -m 4G -object memory-backend-ram,id=m,size=8G "
            "-device vmbus-bridge -device hv-balloon,memdev=m",
            "the configuration is not prepared for memory devices",
        ),
    ],
)
def test_startup_refusals(args: str, message: str) -> None:
    with pytest.raises(StartupError, match=message.replace("(", r"\(").replace(")", r"\)")):
        vm(args)


def test_memory_device_side_example_d() -> None:
    machine = vm(HVB_4G)
    assert machine.memory_devices() == [
        (
            "hv-balloon",
            {"id": "hvb", "memaddr": 34359738368, "max-size": 8 * G, "memdev": "/objects/hvmem"},
        )
    ]
    assert machine.ok("query-memory-size-summary") == {
        "base-memory": 4 * G,
        "plugged-memory": 8 * G,
    }
    assert machine.ok("query-balloon") == {"actual": 4 * G}
    manager = memory_devices(machine.machine)
    assert (manager.memslots.required, manager.memslots.used) == (32, 0)
    assert machine.error("object-del", {"id": "hvmem"}) == (
        "object 'hvmem' is in use, can not be deleted"
    )


def test_empty_device_sorts_first_and_needs_no_device_memory() -> None:
    machine = vm(
        "-machine q35 -m 1G,slots=2,maxmem=4G -object memory-backend-ram,id=m,size=1G "
        "-device pc-dimm,id=d,memdev=m -device vmbus-bridge -device hv-balloon,id=hvb"
    )
    kinds = [(kind, data.get("id")) for kind, data in machine.memory_devices()]
    assert kinds == [("hv-balloon", "hvb"), ("dimm", "d")]
    assert machine.memory_devices()[0][1] == {"id": "hvb", "max-size": 0}
    assert machine.ok("query-memory-size-summary") == {
        "base-memory": 1 * G,
        "plugged-memory": 1 * G,
    }
    # The balloon counts the pc-dimm as VM RAM.
    assert machine.ok("query-balloon") == {"actual": 2 * G}
    no_maxmem = vm("-machine q35 -m 1G -device vmbus-bridge -device hv-balloon,id=hvb")
    assert no_maxmem.memory_devices() == [("hv-balloon", {"id": "hvb", "max-size": 0})]


def test_properties() -> None:
    machine = vm(
        "-machine q35 -m 1G -device vmbus-bridge "
        "-device hv-balloon,id=hvb,status-report=on,instanceid=auto"
    )
    path = "/machine/peripheral/hvb"
    instance = machine.ok("qom-get", {"path": path, "property": "instanceid"})
    assert isinstance(instance, str) and uuid.UUID(instance)
    assert machine.ok("qom-get", {"path": path, "property": "status-report"}) is True
    assert machine.ok("qom-get", {"path": path, "property": "addr"}) == 0
    assert machine.ok("qom-get", {"path": path, "property": "memdev"}) == ""
    assert machine.ok("qom-get", {"path": path, "property": "v3-status-field"}) == "committed"
    assert (
        machine.ok("qom-get", {"path": "/machine/peripheral-anon/device[0]", "property": "irq"})
        == 7
    )
    with pytest.raises(StartupError, match=r"Property 'hv-balloon\.instanceid' doesn't take"):
        vm("-machine q35 -m 1G -device vmbus-bridge -device hv-balloon,instanceid=xyz")
    with pytest.raises(StartupError, match=r"Property 'hv-balloon\.v3-status-field' doesn't"):
        vm("-machine q35 -m 1G -device vmbus-bridge -device hv-balloon,v3-status-field=x")
    fixed = "1f0e6e2a-8d3c-4c57-9b0e-2f7a0c1d2e3f"
    other = vm(
        f"-machine q35 -m 1G -device vmbus-bridge -device hv-balloon,id=h,instanceid={fixed}"
    )
    assert other.ok("qom-get", {"path": "/machine/peripheral/h", "property": "instanceid"}) == fixed


def test_status_report_query_errors() -> None:
    off = vm("-machine q35 -m 1G -device vmbus-bridge -device hv-balloon")
    assert off.error("query-hv-balloon-status-report") == (
        "guest memory status reporting not enabled"
    )
    on = with_guest("-machine q35 -m 1G -device vmbus-bridge -device hv-balloon,status-report=on")
    assert on.error("query-hv-balloon-status-report") == (
        "no guest memory status report received yet"
    )
    on.ok("cont")
    on.advance(3000)
    assert on.ok("query-hv-balloon-status-report") == status_for(G)
    assert events(on, "HV_BALLOON_STATUS_REPORT") == [status_for(G)]  # connected at 2 s
    on.ok("system_reset")
    assert on.error("query-hv-balloon-status-report") == (
        "no guest memory status report received yet"
    )


def test_no_guest_by_default() -> None:
    machine = vm(HVB_4G)
    machine.ok("cont")
    machine.advance(60_000)
    device = hv(machine)
    assert device.engine is not None
    assert device.engine.host.state is HostState.POST_RESET_CLOSED
    assert machine.ok("balloon", {"value": 2 * G}) == {}
    machine.advance(60_000)
    assert machine.ok("query-balloon") == {"actual": 4 * G}
    assert machine.hmp("info balloon") == "balloon: actual=4096\r\n"
    assert machine.hmp("balloon 2048") == ""


# ----------------------------------------------------------------------------- scenario


def test_grow_to_boot_plus_memdev_then_shrink_to_2g() -> None:
    machine = with_guest(HVB_4G.replace("memdev=hvmem", "memdev=hvmem,status-report=on"))
    manager = memory_devices(machine.machine)
    expected_device = (
        "hv-balloon",
        {"id": "hvb", "memaddr": 34359738368, "max-size": 8 * G, "memdev": "/objects/hvmem"},
    )
    summary = {"base-memory": 4 * G, "plugged-memory": 8 * G}

    def check(actual: int, memslots_used: int) -> None:
        assert machine.ok("query-balloon") == {"actual": actual}
        assert machine.memory_devices() == [expected_device]
        assert machine.ok("query-memory-size-summary") == summary
        assert manager.memslots.used == memslots_used

    machine.ok("balloon", {"value": 12 * G})  # stored: no guest yet (prelaunch)
    check(4 * G, 0)
    machine.ok("cont")
    machine.advance(2_000)  # the guest connects; the 50 s post-init wait starts
    check(4 * G, 0)
    status = events(machine, "HV_BALLOON_STATUS_REPORT")
    assert status == []
    machine.advance(1_000)
    assert events(machine, "HV_BALLOON_STATUS_REPORT") == [status_for(4 * G)]
    machine.advance(49_000)  # IDLE: the stored target is applied, 8 GiB hot-added
    check(12 * G, 32)
    machine.advance(1_000)
    reports = events(machine, "HV_BALLOON_STATUS_REPORT")
    assert reports[-1] == status_for(12 * G)
    assert machine.hmp("info balloon") == "balloon: actual=12288\r\n"

    machine.ok("balloon", {"value": 2 * G})
    machine.advance(100)
    check(2 * G, 32)  # memslots stay mapped; ballooning never unmaps them
    machine.advance(1_000)
    reports = events(machine, "HV_BALLOON_STATUS_REPORT")
    assert reports[-1] == status_for(2 * G)

    machine.ok("balloon", {"value": 6 * G})
    machine.advance(100)
    check(6 * G, 32)

    machine.ok("system_reset")  # the reboot drops the hot-added memory
    check(4 * G, 0)
    machine.advance(60_000)
    check(4 * G, 0)  # not re-applied until the next balloon command
    machine.ok("balloon", {"value": 5 * G})
    machine.advance(100)
    check(5 * G, 4)


def test_partial_hot_add_leaves_memslots_mapped_until_reset() -> None:
    policy = GuestPolicy(hot_add_reply=HotAddReply.PARTIAL, hot_add_pages=65536)
    machine = with_guest(HVB_4G, policy)
    machine.ok("cont")
    machine.advance(52_000)
    machine.ok("balloon", {"value": 8 * G})
    machine.advance(100)
    assert machine.ok("query-balloon") == {"actual": 4 * G + 256 * MiB}
    assert memory_devices(machine.machine).memslots.used == 16  # 4 GiB planned
    machine.ok("balloon", {"value": 9 * G})
    machine.advance(100)
    assert machine.ok("query-balloon") == {"actual": 4 * G + 256 * MiB}
    machine.ok("system_reset")
    assert memory_devices(machine.machine).memslots.used == 0


def test_pause_stops_the_guest_clock() -> None:
    machine = with_guest(HVB_4G)
    machine.ok("cont")
    machine.advance(30_000)
    machine.ok("stop")
    machine.advance(600_000)
    machine.ok("balloon", {"value": 3 * G})
    machine.advance(10_000)
    assert machine.ok("query-balloon") == {"actual": 4 * G}  # still in the post-init wait
    machine.ok("cont")
    machine.advance(22_000)
    assert machine.ok("query-balloon") == {"actual": 3 * G}


# ----------------------------------------------------------------------------- v3 design


V3 = "-machine q35 -m 4G,slots=4,maxmem=40G -device vmbus-bridge -device hv-balloon,id=hvb"


def test_v3_errors_and_hidden_vdimm_rules() -> None:
    machine = vm("-machine q35 -m 1G")
    assert machine.error("hv-balloon-add-memory", {"id": "m"}) == "no hv-balloon device present"
    machine = with_guest(V3, GuestPolicy(hot_add=False))
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": G})
    assert machine.error("hv-balloon-add-memory", {"id": "m1"}) == (
        "no guest attached to the DM protocol yet"
    )
    machine.ok("cont")
    machine.advance(2_000)
    assert machine.error("hv-balloon-add-memory", {"id": "m1"}) == (
        "the current DM protocol guest has no support for memory hot add"
    )
    assert machine.error("device_add", {"driver": "mem-hapvdimm", "memdev": "m1"}) == (
        "direct adding not allowed"
    )
    machine = with_guest(V3)
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": G})
    machine.ok("cont")
    machine.advance(2_000)
    reply = machine.qmp("hv-balloon-add-memory", {"id": "nope"})
    assert reply == {"error": {"class": "DeviceNotFound", "desc": "Device 'nope' not found"}}
    machine.ok("hv-balloon-add-memory", {"id": "m1"})
    assert machine.error("hv-balloon-add-memory", {"id": "m1"}) == (
        "can't use already busy memdev: m1"
    )
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "big", "size": 40 * G})
    assert machine.error("hv-balloon-add-memory", {"id": "big"}) == (
        "not enough space, currently 0x40000000 in use of total space for memory devices "
        "0x900000000"
    )


def test_v3_pages_already_returned() -> None:
    machine = with_guest(V3)
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": G})
    machine.ok("cont")
    machine.advance(52_000)
    device = hv(machine)
    assert device.engine is not None and device.engine.guest is not None
    # A hostile guest "returns" pages where the vDIMM is going to be placed (6 GiB).
    device.engine.host.removed_guest.insert(6 * G // 4096, 1)
    assert machine.error("hv-balloon-add-memory", {"id": "m1"}) == (
        "some of the device new pages were already returned by the guest. this should not "
        "happen, please reboot the guest and try again"
    )
    assert machine.memory_devices() == [("hv-balloon", {"id": "hvb", "max-size": 0})]


def test_v3_scenario_add_reboot_unused_delete_readd() -> None:
    machine = with_guest(V3.replace("id=hvb", "id=hvb,status-report=on,v3-status-field=commited"))
    for name, size in (("m1", G), ("m2", 2 * G)):
        machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": name, "size": size})
    machine.ok("cont")
    machine.advance(2_000)
    machine.ok("hv-balloon-add-memory", {"id": "m1"})
    machine.ok("hv-balloon-add-memory", {"id": "m2"})
    assert machine.ok("query-balloon") == {"actual": 4 * G}  # hot-added once idle
    machine.take_events()
    machine.advance(50_000)
    assert machine.ok("query-balloon") == {"actual": 7 * G}
    status = events(machine, "HV_BALLOON_STATUS_REPORT")
    last = status[-1]
    assert isinstance(last, dict) and list(last) == ["commited", "available"]
    dimms = [(kind, data) for kind, data in machine.memory_devices() if kind == "dimm"]
    assert dimms == [
        (
            "dimm",
            {
                "addr": 6 * G,
                "size": G,
                "slot": -1,
                "node": 0,
                "memdev": "/objects/m1",
                "hotplugged": True,
                "hotpluggable": True,
            },
        ),
        (
            "dimm",
            {
                "addr": 7 * G,
                "size": 2 * G,
                "slot": -1,
                "node": 0,
                "memdev": "/objects/m2",
                "hotplugged": True,
                "hotpluggable": True,
            },
        ),
    ]
    assert machine.ok("query-memory-size-summary") == {
        "base-memory": 4 * G,
        "plugged-memory": 3 * G,
    }
    assert machine.error("object-del", {"id": "m1"}) == "object 'm1' is in use, can not be deleted"
    # Deflate with balloon, then shrink below boot size: v3 pages count like any other RAM.
    machine.ok("balloon", {"value": 3 * G})
    machine.advance(100)
    assert machine.ok("query-balloon") == {"actual": 3 * G}

    machine.ok("system_reset")
    sent = machine.take_events()
    unused = [e["data"] for e in sent if e["event"] == "HV_BALLOON_MEMORY_BACKEND_UNUSED"]
    assert unused == [{"id": "m1"}, {"id": "m2"}]
    assert [e["event"] for e in sent][-1] == "RESET"
    assert machine.memory_devices() == [("hv-balloon", {"id": "hvb", "max-size": 0})]
    assert machine.ok("query-balloon") == {"actual": 4 * G}
    machine.ok("object-del", {"id": "m1"})
    machine.ok("object-del", {"id": "m2"})
    # Re-add once the rebooted guest reconnected.
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": G})
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m2", "size": 2 * G})
    assert machine.error("hv-balloon-add-memory", {"id": "m1"}) == (
        "no guest attached to the DM protocol yet"
    )
    machine.advance(2_000)
    machine.ok("hv-balloon-add-memory", {"id": "m1"})
    machine.ok("hv-balloon-add-memory", {"id": "m2"})
    machine.advance(50_000)
    assert machine.ok("query-balloon") == {"actual": 7 * G}
    assert len([k for k, _ in machine.memory_devices() if k == "dimm"]) == 2


def test_guest_initiated_reboot() -> None:
    machine = with_guest(HVB_4G, GuestPolicy(reboot_after_ns=10 * 10**9))
    machine.ok("cont")
    machine.advance(9_000)
    assert [e["event"] for e in machine.take_events()] == ["RESUME"]
    machine.advance(1_000)
    assert [e for e in machine.take_events() if e["event"] == "RESET"] == [
        {"event": "RESET", "data": {"guest": True, "reason": "guest-reset"}}
    ]
    device = hv(machine)
    assert device.engine is not None and device.engine.guest is not None  # booted again


def test_removing_the_device_releases_every_backend() -> None:
    machine = with_guest(V3)
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": G})
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m2", "size": G})
    machine.ok("cont")
    machine.advance(2_000)
    machine.ok("hv-balloon-add-memory", {"id": "m1"})
    machine.ok("hv-balloon-add-memory", {"id": "m2"})
    machine.take_events()
    removed = machine.machine.qdev.finalize(hv(machine), machine.clock.now())
    unused = [e.id for e in removed if isinstance(e, HvBalloonBackendUnused)]
    assert unused == ["m1", "m2"]
    machine.ok("object-del", {"id": "m1"})
    machine.ok("object-del", {"id": "m2"})
    assert machine.memory_devices() == []
    assert machine.qmp("query-balloon") == {
        "error": {"class": "DeviceNotActive", "desc": "No balloon device has been activated"}
    }
