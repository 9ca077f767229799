"""virtio-balloon-pci with and without its simulated guest driver (balloon.md §1, §2, §5)."""

from __future__ import annotations

from hvballoond.machine.balloon.core import balloon_core, set_balloon_guest_policy
from hvballoond.machine.balloon.driver import (
    STAT_NAMES,
    VirtioBalloonDriver,
    VirtioBalloonDriverPolicy,
)
from hvballoond.machine.devices.guest import DeviceGuestPolicy, set_device_guest_policy
from hvballoond.machine.units import GiB, MiB
from tests.machine.devices.rig import Vm, vm

G = GiB
ARGS = (
    "-machine q35 -m 1G,slots=2,maxmem=4G -device pcie-root-port,id=rp1,chassis=1 "
    "-object memory-backend-ram,id=m1,size=512M"
)
U64_MAX = 2**64 - 1


def machine_with_driver(policy: VirtioBalloonDriverPolicy | None = None) -> Vm:
    machine = vm(ARGS)
    set_balloon_guest_policy(machine.machine, dm=None, virtio=policy or VirtioBalloonDriverPolicy())
    machine.ok("device_add", {"driver": "virtio-balloon-pci", "id": "b1", "bus": "rp1"})
    return machine


def changes(machine: Vm) -> list[int]:
    out = []
    for event in machine.take_events():
        if event["event"] == "BALLOON_CHANGE":
            data = event["data"]
            assert isinstance(data, dict)
            actual = data["actual"]
            assert isinstance(actual, int)
            out.append(actual)
    return out


def test_driver_steps() -> None:
    driver = VirtioBalloonDriver(VirtioBalloonDriverPolicy(step_bytes=4 * 4096))
    assert not driver.step(0)
    assert driver.step(10) and driver.pages == 4
    assert driver.step(10) and driver.pages == 8
    assert driver.step(10) and driver.pages == 10
    assert not driver.step(10)
    assert driver.step(3) and driver.pages == 6
    stats = driver.stats(1 * G)
    assert set(stats) < set(STAT_NAMES)
    assert stats["stat-total-memory"] == G - 6 * 4096


def test_without_driver_actual_never_moves() -> None:
    machine = vm(ARGS)
    machine.ok("device_add", {"driver": "virtio-balloon-pci", "id": "b1", "bus": "rp1"})
    machine.ok("cont")
    machine.ok("balloon", {"value": 512 * MiB})
    machine.advance(10_000)
    assert machine.ok("query-balloon") == {"actual": G}
    assert changes(machine) == []


def test_driver_inflates_in_chunks_and_reports_each() -> None:
    machine = machine_with_driver()
    machine.ok("cont")
    machine.ok("balloon", {"value": 512 * MiB})
    machine.advance(400)
    assert machine.ok("query-balloon") == {"actual": G}  # the driver binds after 500 ms
    machine.advance(200)
    # 512 MiB in 128 MiB chunks, 20 ms apart.
    assert changes(machine) == [896 * MiB, 768 * MiB, 640 * MiB, 512 * MiB]
    assert machine.ok("query-balloon") == {"actual": 512 * MiB}
    machine.ok("balloon", {"value": 800 * MiB})
    machine.advance(100)
    assert changes(machine) == [640 * MiB, 768 * MiB, 800 * MiB]
    # Targets above the VM size are clamped: the balloon empties.
    machine.ok("balloon", {"value": 100 * G})
    machine.advance(100)
    assert changes(machine)[-1] == G


def test_vm_ram_counts_plain_dimms() -> None:
    machine = machine_with_driver()
    machine.ok("cont")
    machine.advance(1_000)
    machine.ok("device_add", {"driver": "pc-dimm", "id": "d1", "memdev": "m1"})
    assert machine.ok("query-balloon") == {"actual": 1536 * MiB}
    machine.ok("balloon", {"value": G})
    machine.advance(200)
    assert machine.ok("query-balloon") == {"actual": G}


def test_reset_keeps_actual_until_the_new_driver_writes() -> None:
    machine = machine_with_driver()
    machine.ok("cont")
    machine.ok("balloon", {"value": 768 * MiB})
    machine.advance(1_000)
    assert machine.ok("query-balloon") == {"actual": 768 * MiB}
    machine.take_events()
    machine.ok("system_reset")
    # QEMU keeps the config values over a reset; the new driver starts empty and inflates
    # to the same target again.
    assert machine.ok("query-balloon") == {"actual": 768 * MiB}
    machine.advance(499)
    assert changes(machine) == []
    machine.advance(100)
    assert changes(machine) == [896 * MiB, 768 * MiB]


def test_guest_stats_polling() -> None:
    machine = machine_with_driver()
    path = "/machine/peripheral/b1"
    machine.ok("qom-set", {"path": path, "property": "guest-stats-polling-interval", "value": 2})
    stats = machine.ok("qom-get", {"path": path, "property": "guest-stats"})
    assert stats == {"last-update": 0, "stats": dict.fromkeys(STAT_NAMES, U64_MAX)}
    machine.ok("cont")
    machine.advance(2_600)  # the driver binds at 0.5 s; the poll at 2 s gets an answer
    stats = machine.ok("qom-get", {"path": path, "property": "guest-stats"})
    assert isinstance(stats, dict)
    assert stats["last-update"] == 1_700_000_002
    values = stats["stats"]
    assert isinstance(values, dict)
    assert values["stat-total-memory"] == G
    assert values["stat-oom-kills"] == U64_MAX
    machine.ok("qom-set", {"path": path, "property": "guest-stats-polling-interval", "value": 0})
    assert machine.ok("qom-get", {"path": path, "property": "guest-stats-polling-interval"}) == 0


def test_unplug_with_a_cooperating_guest_releases_the_slot() -> None:
    machine = machine_with_driver()
    set_device_guest_policy(machine.machine, DeviceGuestPolicy.linux())
    machine.ok("cont")
    machine.advance(100)
    machine.ok("device_del", {"id": "b1"})
    assert machine.ok("query-balloon") == {"actual": G}
    machine.advance(200)
    deleted = [e for e in machine.take_events() if e["event"] == "DEVICE_DELETED"]
    assert len(deleted) == 2
    assert balloon_core(machine.machine).handler is None
    reply = machine.qmp("query-balloon")
    assert reply == {
        "error": {"class": "DeviceNotActive", "desc": "No balloon device has been activated"}
    }
    machine.ok("device_add", {"driver": "virtio-balloon-pci", "id": "b2", "bus": "rp1"})
    assert machine.ok("query-balloon") == {"actual": G}


def test_free_page_hint_needs_an_iothread() -> None:
    machine = vm(ARGS)
    error = machine.error(
        "device_add",
        {"driver": "virtio-balloon-pci", "bus": "rp1", "free-page-hint": True},
    )
    assert error == "'free-page-hint' requires 'iothread' to be set"
