"""The machine's character devices: ``/chardevs``, frontends, and the devices' ``chardev``.

Expected texts and orders are QEMU 10.0.2's (tests/transcripts/chardev/, recorded).
"""

from __future__ import annotations

from hvballoond.clock import FakeClock
from hvballoond.machine.chardev import (
    Chardev,
    ChardevBackend,
    ChardevConfig,
    Chardevs,
)
from hvballoond.machine.config import HostFacts, MachineConfig
from hvballoond.machine.machine import Machine
from hvballoond.machine.units import GiB
from hvballoond.wire.values import JSONObject
from tests.machine.devices.rig import vm


def _machine(*configs: ChardevConfig) -> Machine:
    machine = Machine(MachineConfig(ram_size=GiB, maxram_size=GiB), host=HostFacts(),
                      now=FakeClock().now())
    for config in configs:
        machine.component(Chardevs).add(config)
    return machine


def test_chardevs_are_qom_objects_in_qemus_order() -> None:
    machine = _machine(
        ChardevConfig("charchannel0", ChardevBackend.SOCKET,
                      address={"type": "unix", "path": "/run/ga.sock"}),
        ChardevConfig("charconsole0", ChardevBackend.NULL),
        ChardevConfig("charserial0", ChardevBackend.FILE),
        ChardevConfig("spare", ChardevBackend.NULL),
        ChardevConfig("compat_monitor0", ChardevBackend.SOCKET, monitor=True),
    )
    registry = machine.component(Chardevs)
    # Recorded (chardev-query.qmp, same labels, the monitor created last there too).
    assert [c.label for c in registry.in_query_order()] == [
        "compat_monitor0", "charserial0", "charchannel0", "spare", "charconsole0"]
    assert [c.label for c in registry.all()] == [
        "charchannel0", "charconsole0", "charserial0", "spare", "compat_monitor0"]
    root = machine.qom.root
    channel = root.child("chardevs")
    assert channel is not None
    socket = channel.child("charchannel0")
    assert isinstance(socket, Chardev) and socket.qom_type == "chardev-socket"
    assert [p.name for p in socket.properties()] == ["type", "connected", "addr"]
    assert socket.get("addr") == {"type": "unix", "path": "/run/ga.sock"}
    assert socket.get("connected") is False
    serial = channel.child("charserial0")
    assert serial is not None and serial.qom_type == "chardev-file"
    assert [p.name for p in serial.properties()] == ["type"]
    assert machine.types.is_a("chardev-file", "chardev")
    assert machine.types.get("chardev-fd") is not None
    assert machine.types.get("chardev-fd").abstract  # type: ignore[union-attr]


def test_what_a_chardev_nobody_opened_reports() -> None:
    machine = _machine(ChardevConfig("s", ChardevBackend.SOCKET),
                       ChardevConfig("p", ChardevBackend.PTY),
                       ChardevConfig("f", ChardevBackend.FILE),
                       ChardevConfig("n", ChardevBackend.NULL),
                       ChardevConfig("m", ChardevBackend.SOCKET, monitor=True))
    registry = machine.component(Chardevs)
    filenames = {c.label: (c.status.filename(), c.frontend_open) for c in registry.all()}
    assert filenames == {"s": ("disconnected:socket", False), "p": ("pty:", False),
                         "f": ("file", False), "n": ("null", False),
                         "m": ("disconnected:socket", True)}


class _Live:
    def __init__(self) -> None:
        self.is_connected = False

    def filename(self) -> str:
        return "unix:/x.sock,server=on" if self.is_connected else "disconnected:unix:/x.sock"

    def connected(self) -> bool:
        return self.is_connected

    def address(self) -> JSONObject | None:
        return {"type": "unix", "path": "/x.sock"}


def test_the_runtime_provides_the_live_side() -> None:
    machine = _machine(ChardevConfig("s", ChardevBackend.SOCKET))
    live = _Live()
    machine.component(Chardevs).attach_status("s", live)
    chardev = machine.component(Chardevs).find("s")
    assert chardev is not None
    assert chardev.get("connected") is False
    live.is_connected = True
    assert chardev.get("connected") is True
    assert chardev.status.filename() == "unix:/x.sock,server=on"


def test_device_chardev_property() -> None:
    v = vm("-machine q35 -m 1G -chardev null,id=c0 -chardev null,id=c1 "
           "-chardev socket,id=m0,path=/tmp/m0.sock,server=on,wait=off "
           "-mon chardev=m0,mode=control "
           "-device pcie-root-port,id=rp1,chassis=1 -device virtio-serial-pci,id=vs,bus=rp1 "
           "-device virtserialport,id=p0,chardev=c0")
    registry = v.machine.component(Chardevs)
    c0, c1, m0 = (registry.find(label) for label in ("c0", "c1", "m0"))
    assert c0 is not None and c1 is not None and m0 is not None
    assert c0.frontend is not None and not c0.frontend_open  # a port waits for its guest
    assert c1.frontend is None and m0.frontend_open
    assert v.error("device_add", {"driver": "virtserialport", "chardev": "m0"}) == (
        "Property 'virtserialport.chardev' can't take value 'm0': chardev 'm0' is already in use")
    assert v.error("device_add", {"driver": "virtserialport", "chardev": 7}) == (
        "Invalid parameter type for 'chardev', expected: string")
    # An empty name means no chardev.
    v.ok("device_add", {"driver": "virtserialport", "id": "p1", "chardev": ""})
    assert v.ok("qom-get", {"path": "p1", "property": "chardev"}) == ""
    # A console opens its chardev; unplugging frees it.
    v.ok("device_add", {"driver": "virtconsole", "id": "con", "chardev": "c1"})
    assert c1.frontend_open
    v.ok("device_del", {"id": "con"})
    v.advance(0)
    assert c1.frontend is None and not c1.frontend_open
    v.ok("device_add", {"driver": "virtserialport", "id": "p2", "chardev": "c1"})
    assert c1.frontend is not None and not c1.frontend_open


def test_a_device_whose_realize_fails_leaves_the_chardev_free() -> None:
    v = vm("-machine q35 -m 1G -chardev null,id=c0 -device pcie-root-port,id=rp1,chassis=1 "
           "-device virtio-serial-pci,id=vs,bus=rp1")
    assert v.error("device_add", {"driver": "virtserialport", "chardev": "c0", "nr": 0}) == (
        "Port number 0 on virtio-serial devices reserved for virtconsole devices for backward "
        "compatibility.")
    chardev = v.machine.component(Chardevs).find("c0")
    assert chardev is not None and chardev.frontend is None
    v.ok("device_add", {"driver": "virtserialport", "chardev": "c0"})
    assert chardev.frontend is not None
