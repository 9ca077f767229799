"""A typical domain (virt-install's devices, minus disks and network interfaces) starts, runs
and stops under libvirt 11.3: a serial console on a pseudo-terminal, the guest-agent channel,
a USB tablet, virtio video with VNC, a virtio RNG and a virtio balloon.

hvballoond keeps these devices inert (they exist in the QOM tree, on their buses, with their
properties, and in the queries libvirt makes) and must answer as QEMU 10.0.2 does: the steps
check the live XML libvirt builds from those answers and ``query-chardev`` passed through
``virsh qemu-monitor-command``. Steps are prefixed ``typical_`` so that they do not share names
with the main domain's. This file runs before test_libvirt.py, so that the domain gets the same
id from libvirtd with either emulator (the hv-balloon domain there is hvballoond's only).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from tests.interop.libvirt.conftest import Suite
from tests.interop.libvirt.domains import TYPICAL_DOMAIN, DomainSpec, typical_domain_xml
from tests.interop.libvirt.virsh import kib, poll

#: The conftest snapshots this domain's live XML after every step.
SNAPSHOT_DOMAIN = TYPICAL_DOMAIN

GiB_KiB = 1024 * 1024
PTY = re.compile(r"^/dev/pts/\d+$")


def _spec(suite: Suite) -> DomainSpec:
    return DomainSpec(name=TYPICAL_DOMAIN, emulator=suite.binary, hvballoond=suite.hvballoond,
                      workdir=suite.workdir, simulated_guest=suite.simulated_guest)


def _guest(suite: Suite) -> bool:
    """Only hvballoond's simulated guest drives the balloon here (no guest OS is booted)."""
    return suite.hvballoond and suite.simulated_guest


def _alias(dev: ET.Element | None) -> str | None:
    alias = None if dev is None else dev.find("alias")
    return None if alias is None else alias.get("name")


def test_typical_define(suite: Suite) -> None:
    v = suite.virsh
    if v.run("domstate", TYPICAL_DOMAIN, quiet=True).ok:  # left over from an interrupted run
        v.run("destroy", TYPICAL_DOMAIN, quiet=True)
        v.run("undefine", TYPICAL_DOMAIN, quiet=True)
    path = suite.workdir / "domain-typical.xml"
    path.write_text(typical_domain_xml(_spec(suite)))
    assert v.ok("define", str(path)).strip() == (
        f"Domain '{TYPICAL_DOMAIN}' defined from {path}")
    root = v.xml(TYPICAL_DOMAIN, inactive=True)
    assert root.find("devices/serial[@type='pty']") is not None
    assert root.find("devices/channel[@type='unix']/target[@type='virtio']") is not None


def test_typical_start(suite: Suite) -> None:
    suite.requires("typical_define")
    v = suite.virsh
    assert v.ok("start", TYPICAL_DOMAIN).strip() == f"Domain '{TYPICAL_DOMAIN}' started"
    assert v.state(TYPICAL_DOMAIN) == "running"


def test_typical_live_xml(suite: Suite) -> None:
    suite.requires("typical_start")
    root = suite.virsh.xml(TYPICAL_DOMAIN)
    devices = root.find("devices")
    assert devices is not None
    # The serial console: libvirt learnt the terminal from query-chardev.
    serial = devices.find("serial[@type='pty']")
    assert serial is not None and _alias(serial) == "serial0"
    source = serial.find("source")
    assert source is not None and PTY.match(source.get("path") or ""), ET.tostring(serial)
    console = devices.find("console[@type='pty']")
    assert console is not None and console.get("tty") == source.get("path")
    # The guest agent's channel: no guest agent runs, so it is disconnected.
    channel = devices.find("channel[@type='unix']")
    assert channel is not None and _alias(channel) == "channel0"
    target = channel.find("target")
    assert target is not None and target.get("state") == "disconnected"
    address = channel.find("address")
    assert address is not None and (address.get("type"), address.get("port")) == (
        "virtio-serial", "1")
    channel_source = channel.find("source")
    assert channel_source is not None and channel_source.get("mode") == "bind"
    tablet = devices.find("input[@type='tablet']")
    assert tablet is not None and _alias(tablet) == "input0"
    usb = tablet.find("address")
    assert usb is not None and (usb.get("type"), usb.get("port")) == ("usb", "1")
    video = devices.find("video")
    assert video is not None and _alias(video) == "video0"
    graphics = devices.find("graphics[@type='vnc']")
    assert graphics is not None and int(graphics.get("port") or "0") >= 5900
    assert _alias(devices.find("rng")) == "rng0"
    assert _alias(devices.find("memballoon")) == "balloon0"
    assert _alias(devices.find("controller[@type='usb']")) == "usb"
    assert _alias(devices.find("controller[@type='virtio-serial']")) == "virtio-serial0"


def test_typical_query_chardev(suite: Suite) -> None:
    suite.requires("typical_start")
    reply = suite.virsh.qmp(TYPICAL_DOMAIN, "query-chardev")
    chardevs = reply["return"]
    assert isinstance(chardevs, list)
    by_label = {c["label"]: c for c in chardevs if isinstance(c, dict)}
    # QEMU's order: /chardevs is a GLib hash table.
    assert list(by_label) == ["charchannel0", "charserial0", "charmonitor"]
    serial, channel, monitor = (by_label[k] for k in ("charserial0", "charchannel0",
                                                       "charmonitor"))
    assert serial["frontend-open"] is True
    assert str(serial["filename"]).startswith("pty:/dev/pts/")
    root = suite.virsh.xml(TYPICAL_DOMAIN)
    path = root.find("devices/channel/source")
    assert path is not None
    # libvirt hands the channel over as a listening fd; QEMU names it after its path.
    assert channel == {"frontend-open": False, "label": "charchannel0",
                       "filename": f"disconnected:unix:{path.get('path')},server=on"}
    assert monitor["frontend-open"] is True
    assert re.fullmatch(r"unix:.*/monitor\.sock,server=on", str(monitor["filename"]))


def test_typical_setmem(suite: Suite) -> None:
    suite.requires("typical_start")
    v = suite.virsh
    assert v.ok("setmem", TYPICAL_DOMAIN, "786432", "--live").strip() == ""
    stats = poll(lambda: v.memstats(TYPICAL_DOMAIN, quiet=True),
                 lambda s: s.get("actual") == 786432, timeout=5 if not _guest(suite) else 15)
    assert stats["actual"] == (786432 if _guest(suite) else GiB_KiB)
    assert kib(v.xml(TYPICAL_DOMAIN), "memory") == GiB_KiB


def test_typical_libvirtd_restart(suite: Suite) -> None:
    suite.requires("typical_start")
    v = suite.virsh
    before = v.xml(TYPICAL_DOMAIN)
    suite.restart_libvirtd()  # libvirtd reconnects and asks about the chardevs again
    assert v.state(TYPICAL_DOMAIN) == "running"
    after = v.xml(TYPICAL_DOMAIN)
    assert after.get("id") == before.get("id")
    for path in ("devices/serial/source", "devices/channel/target"):
        old, new = before.find(path), after.find(path)
        assert old is not None and new is not None and old.attrib == new.attrib


def test_typical_destroy(suite: Suite) -> None:
    suite.requires("typical_start")
    v = suite.virsh
    assert v.ok("destroy", TYPICAL_DOMAIN).strip() == f"Domain '{TYPICAL_DOMAIN}' destroyed"
    assert v.state(TYPICAL_DOMAIN) == "shut off"


def test_typical_undefine(suite: Suite) -> None:
    suite.requires("typical_define")
    v = suite.virsh
    assert v.ok("undefine", TYPICAL_DOMAIN).strip() == (
        f"Domain '{TYPICAL_DOMAIN}' has been undefined")
    assert not v.run("domstate", TYPICAL_DOMAIN, quiet=True).ok

