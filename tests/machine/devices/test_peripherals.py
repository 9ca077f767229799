"""The inert peripherals (USB, serial, virtio-serial, display): what QEMU 10.0.2 shows of them.

The recorded conversations (tests/machine/recorded/peripherals-*.txt) replay through the real
dispatcher: every qom-list and qom-get of a typical libvirt domain's devices, and hot-plug,
unplug and the refusals. The other tests pin what the recordings cannot show on their own.
"""

from __future__ import annotations

import json

import pytest

from hvballoond.machine.chardev import Chardevs
from hvballoond.machine.errors import StartupError
from tests.machine.devices.rig import load, replay, vm


@pytest.mark.parametrize(
    "name", ["peripherals-qom.txt", "peripherals-hotplug.txt", "peripherals-anonymous.txt"]
)
def test_recorded_conversation(name: str) -> None:
    recording = load(name)
    mismatches = replay(recording, vm(recording.args))
    assert not mismatches, json.dumps(mismatches[0], indent=1)[:4000]


@pytest.mark.parametrize(("args", "bridge"), [
    ("-machine q35 -m 1G", "/machine/unattached/device[2]"),
    ("-machine q35 -m 1G -smp 4", "/machine/unattached/device[5]"),
    ("-machine pc -m 1G", "/machine/unattached/device[3]"),
    ("-machine pc -m 1G -smp 2", "/machine/unattached/device[4]"),
])
def test_the_isa_bus_sits_on_the_chipsets_bridge(args: str, bridge: str) -> None:
    # Observed on QEMU 10.0.2: the LPC/PIIX3 bridge is created after the CPUs.
    v = vm(f"{args} -device isa-serial,id=serial0")
    assert v.ok("qom-get", {"path": "serial0", "property": "parent_bus"}) == f"{bridge}/isa.0"
    assert v.ok("qom-get", {"path": f"{bridge}/isa.0", "property": "realized"}) is True


def test_no_isa_bus_without_a_chipset() -> None:
    with pytest.raises(StartupError, match="No 'ISA' bus found for device 'isa-serial'"):
        vm("-machine none -device isa-serial")


def test_a_full_usb_bus_has_no_hub_to_chain_on() -> None:
    # QEMU chains a usb-hub on when a device takes the last free port without port=;
    # hvballoond gives the device that port, and a later one finds none.
    v = vm("-machine q35 -m 1G -device qemu-xhci,id=usb,p2=1,p3=0 -device usb-tablet,id=t0")
    assert v.ok("qom-list", {"path": "/machine/peripheral/usb/usb.0"}) == [
        {"name": "type", "type": "string"}, {"name": "realized", "type": "bool"},
        {"name": "child[0]", "type": "link<usb-tablet>"},
        {"name": "hotplug-handler", "type": "link<hotplug-handler>"}]
    assert v.error("device_add", {"driver": "usb-kbd"}) == (
        "tried to attach usb device QEMU USB Keyboard to a bus with no free ports")


def test_peripherals_take_their_chardev_when_plugged() -> None:
    v = vm("-machine q35 -m 1G -chardev null,id=c0 -chardev null,id=c1 "
           "-device isa-serial,id=serial0,chardev=c0")
    chardevs = v.machine.component(Chardevs)
    serial = chardevs.find("c0")
    assert serial is not None and serial.frontend_open
    free = chardevs.find("c1")
    assert free is not None and free.frontend is None and not free.frontend_open
