"""virtio-rng-pci and rng-random: hot-plug on a root port, the pending unplug that a system
reset completes, and the rng-random object.

Expected values were observed on QEMU 10.0.2 (q35, TCG, -nodefaults, no guest OS); see also
tests/transcripts/events/events-device-deleted-*.qmp.
"""

from __future__ import annotations

from hvballoond.wire.values import JSONValue
from tests.machine.devices.rig import vm

ROOT_PORTS = "-device pcie-root-port,id=rp1,chassis=1 -device pcie-root-port,id=rp2,chassis=2"


def _names(listing: object) -> list[object]:
    assert isinstance(listing, list)
    return [entry["name"] for entry in listing if isinstance(entry, dict)]


def test_hotplug_on_a_root_port() -> None:
    machine = vm(f"-machine q35 -m 1G {ROOT_PORTS}")
    machine.ok("device_add", {"driver": "virtio-rng-pci", "id": "r1", "bus": "rp1"})

    def get(path: str, prop: str) -> JSONValue:
        return machine.ok("qom-get", {"path": path, "property": prop})

    assert get("r1", "hotpluggable") is True
    assert get("/machine/peripheral/r1/virtio-backend", "hotpluggable") is False
    # pcie.0 does not support hotplug ("rp1" alone is ambiguous: the port and its bus).
    assert get("/machine/peripheral/rp1", "hotpluggable") is False
    assert get("r1", "rng") == "/machine/peripheral/r1/virtio-backend/default-backend"
    assert get("r1", "vectors") == 2
    assert get("r1", "disable-legacy") == "on"
    assert get("r1", "period") == 65536
    assert get("r1", "max-bytes") == (1 << 63) - 1
    assert machine.error("qom-get", {"path": "r1", "property": "legacy-rng"}) == (
        "Property 'virtio-rng-device.legacy-rng' is not readable"
    )
    assert get("/machine/peripheral/r1/virtio-backend", "parent_bus") == (
        "/machine/peripheral/r1/virtio-bus"
    )
    listing = machine.ok("qom-list", {"path": "r1"})
    names = _names(listing)
    assert names[:5] == ["type", "parent_bus", "realized", "hotplugged", "hotpluggable"]
    assert names[names.index("x-disable-pcie") + 1:][:5] == [
        "vectors", "ioeventfd", "disable-legacy", "disable-modern", "virtio-bus",
    ]
    assert names[-1] == "virtio-backend"
    assert _names(machine.ok("qom-list", {"path": "r1/virtio-backend"}))[-5:] == [
        "rng", "period", "max-bytes", "legacy-rng", "default-backend",
    ]
    # The buses list their properties in QEMU's (hash) order.
    assert _names(machine.ok("qom-list", {"path": "/machine/peripheral/rp1/rp1"})) == [
        "type", "realized", "child[0]", "acpi-pcihp-bsel", "hotplug-handler",
    ]
    assert _names(machine.ok("qom-list", {"path": "/machine/peripheral/r1/virtio-bus"})) == [
        "type", "realized", "child[0]", "hotplug-handler",
    ]
    # A second device does not fit on the port; pcie.0 refuses hotplug.
    assert machine.error("device_add", {"driver": "virtio-rng-pci", "bus": "pcie.0"}) == (
        "Bus 'pcie.0' does not support hotplugging"
    )


def test_pending_unplug_completes_after_the_reset_reply() -> None:
    machine = vm(f"-machine q35 -m 1G {ROOT_PORTS}")
    machine.ok("device_add", {"driver": "virtio-rng-pci", "id": "r1", "bus": "rp1"})
    machine.ok("device_add", {"driver": "virtio-rng-pci", "bus": "rp2"})
    machine.ok("device_del", {"id": "r1"})
    machine.ok("device_del", {"id": "/machine/peripheral-anon/device[0]"})
    assert machine.error("device_del", {"id": "r1"}) == (
        "Device r1 is already in the process of unplug"
    )
    assert machine.take_events() == []
    machine.ok("system_reset")
    # Only RESET comes with the command; the removals follow the reply.
    assert [event["event"] for event in machine.take_events()] == ["RESET"]
    machine.advance(0)
    events = machine.take_events()
    # Per device: the backend first, then the proxy (an anonymous one without "device").
    assert [e for e in events if "/r1" in str(e)] == [
        {"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral/r1/virtio-backend"}},
        {"event": "DEVICE_DELETED", "data": {"device": "r1", "path": "/machine/peripheral/r1"}},
    ]
    assert [e for e in events if "anon" in str(e)] == [
        {"event": "DEVICE_DELETED",
         "data": {"path": "/machine/peripheral-anon/device[0]/virtio-backend"}},
        {"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral-anon/device[0]"}},
    ]
    assert len(events) == 4
    assert machine.error("device_del", {"id": "r1"}) == "Device 'r1' not found"
    assert _names(machine.ok("qom-list", {"path": "/machine/peripheral/rp1/rp1"})) == [
        "type", "realized", "acpi-pcihp-bsel", "hotplug-handler",
    ]
    # The slot is free again.
    machine.ok("device_add", {"driver": "virtio-rng-pci", "id": "r1", "bus": "rp1"})


def test_rng_random_object() -> None:
    machine = vm(
        "-machine q35 -m 1G,slots=2,maxmem=4G -object rng-random,id=rng0,filename=/dev/urandom "
        f"-object memory-backend-ram,id=m1,size=128M {ROOT_PORTS}"
    )
    assert machine.error("device_add", {"driver": "pc-dimm", "id": "d1", "memdev": "rng0"}) == (
        "Invalid parameter type for 'memdev', expected: memory-backend"
    )
    assert _names(machine.ok("qom-list", {"path": "/objects/rng0"})) == [
        "type", "opened", "filename",
    ]
    assert machine.ok("qom-get", {"path": "rng0", "property": "opened"}) is True
    assert machine.error(
        "qom-set", {"path": "rng0", "property": "filename", "value": "/dev/random"}
    ) == "Property 'filename' can no longer be set"
    assert machine.error(
        "qom-set", {"path": "rng0", "property": "opened", "value": False}
    ) == "Property 'rng-random.opened' is not writable"
    machine.ok("object-add", {"qom-type": "rng-random", "id": "rng1"})
    assert machine.ok("qom-get", {"path": "rng1", "property": "filename"}) == "/dev/urandom"
    memdevs = machine.ok("query-memdev")
    assert isinstance(memdevs, list)
    assert sorted(str(e["id"]) for e in memdevs if isinstance(e, dict)) == ["m1", "pc.ram"]
    machine.ok("device_add", {"driver": "virtio-rng-pci", "id": "r1", "bus": "rp1",
                              "rng": "rng0"})
    assert machine.ok("qom-get", {"path": "r1", "property": "rng"}) == "/objects/rng0"
    assert machine.error("device_add", {"driver": "virtio-rng-pci", "bus": "rp2",
                                        "rng": "m1"}) == (
        "Invalid parameter type for 'rng', expected: rng-backend"
    )
    machine.ok("object-del", {"id": "rng1"})
    assert machine.ok("qom-list-types", {"implements": "virtio-rng-pci-base",
                                         "abstract": True}) == [
        {"abstract": True, "name": "virtio-rng-pci-base", "parent": "virtio-pci"},
        {"name": "virtio-rng-pci", "parent": "virtio-rng-pci-base"},
    ]


def test_period_and_max_bytes_are_checked_at_realize() -> None:
    machine = vm(f"-machine q35 -m 1G {ROOT_PORTS}")
    assert machine.error("device_add", {"driver": "virtio-rng-pci", "bus": "rp1",
                                        "period": 0}) == (
        "'period' parameter expects a positive integer"
    )
    assert machine.error("device_add", {"driver": "virtio-rng-pci", "bus": "rp1",
                                        "max-bytes": 0}) == (
        "'max-bytes' parameter must be positive, and less than 2^63"
    )
