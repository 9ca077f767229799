"""libvirt 11.3 drives the emulator through a domain's memory life cycle (issue 8).

The steps run in file order and build on each other (a step whose prerequisite failed is
skipped). Each checks virsh's output and the live XML. "guest" steps depend on a guest OS
answering: hvballoond's simulated guest, or the tiny real guest real QEMU boots when run.sh is
given one; without a guest they are checked as QEMU behaves with no guest OS.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.interop.libvirt.conftest import Suite
from tests.interop.libvirt.domains import (
    DOMAIN,
    HV_DOMAIN,
    DomainSpec,
    dimm_xml,
    domain_xml,
    virtio_mem_xml,
    virtio_pmem_xml,
)
from tests.interop.libvirt.virsh import kib, memory_devices, poll

GiB_KiB = 1024 * 1024


def _spec(suite: Suite, name: str = DOMAIN, *, hv_balloon: bool = False) -> DomainSpec:
    guest = suite.real_guest
    return DomainSpec(
        name=name, emulator=suite.binary, hvballoond=suite.hvballoond, workdir=suite.workdir,
        simulated_guest=suite.simulated_guest,
        kernel=guest / "vmlinuz" if guest else None,
        initrd=guest / "initrd.img" if guest else None, hv_balloon=hv_balloon)


def _write(suite: Suite, name: str, text: str) -> Path:
    path = suite.workdir / name
    path.write_text(text)
    return path


def _device(root: ET.Element, model: str) -> ET.Element | None:
    for dev in memory_devices(root):
        if dev.get("model") == model:
            return dev
    return None


def _alias(dev: ET.Element) -> str | None:
    alias = dev.find("alias")
    return alias.get("name") if alias is not None else None


def _target_kib(dev: ET.Element, what: str) -> int | None:
    node = dev.find(f"target/{what}")
    if node is None or node.text is None:
        return None
    assert node.get("unit", "KiB") == "KiB"
    return int(node.text)


def _wait_for_guest(suite: Suite) -> None:
    """Real guest: wait until its drivers are loaded (it prints this on its serial port)."""
    if suite.real_guest is None or suite.hvballoond:
        return
    log = suite.workdir / f"{DOMAIN}-serial.log"
    text = poll(lambda: log.read_text(errors="replace") if log.exists() else "",
                lambda t: "HVB-GUEST: MemTotal" in t, timeout=60)
    assert "HVB-GUEST: MemTotal" in text, "the real guest did not boot"


# --- define and start -------------------------------------------------------------------------


def test_define(suite: Suite) -> None:
    v = suite.virsh
    for name in (DOMAIN, HV_DOMAIN):  # left over from an interrupted run
        if v.run("domstate", name, quiet=True).ok:
            v.run("destroy", name, quiet=True)
            v.run("undefine", name, quiet=True)
    path = _write(suite, "domain.xml", domain_xml(_spec(suite)))
    assert v.ok("define", str(path)).strip() == f"Domain '{DOMAIN}' defined from {path}"
    root = v.xml(DOMAIN, inactive=True)
    assert root.findtext("devices/emulator") == suite.binary
    max_memory = root.find("maxMemory")
    assert max_memory is not None and max_memory.get("slots") == "4"
    assert kib(root, "maxMemory") == 16 * GiB_KiB
    assert kib(root, "memory") == GiB_KiB
    assert root.find("cpu/numa/cell[@id='0']") is not None
    balloon = root.find("devices/memballoon")
    assert balloon is not None and balloon.get("model") == "virtio"


def test_start(suite: Suite) -> None:
    suite.requires("define")
    v = suite.virsh
    assert v.ok("start", DOMAIN).strip() == f"Domain '{DOMAIN}' started"
    assert v.state(DOMAIN) == "running"
    root = v.xml(DOMAIN)
    assert root.get("id") is not None
    assert kib(root, "memory") == GiB_KiB
    assert kib(root, "currentMemory") == GiB_KiB
    balloon = root.find("devices/memballoon")
    assert balloon is not None and _alias(balloon) == "balloon0"
    stats = balloon.find("stats")
    assert stats is not None and stats.get("period") == "5"
    assert memory_devices(root) == []
    _wait_for_guest(suite)


# --- balloon ----------------------------------------------------------------------------------


def test_setmem(suite: Suite) -> None:
    suite.requires("start")
    v = suite.virsh
    assert v.ok("setmem", DOMAIN, "786432", "--live").strip() == ""
    stats = poll(lambda: v.memstats(DOMAIN, quiet=True), lambda s: s.get("actual") == 786432)
    if suite.guest:
        assert stats["actual"] == 786432
        # libvirt updates currentMemory from BALLOON_CHANGE
        root = poll(lambda: v.xml(DOMAIN), lambda r: kib(r, "currentMemory") == 786432)
        assert kib(root, "currentMemory") == 786432
    else:
        assert stats["actual"] == GiB_KiB  # no balloon driver: nothing moves
    assert kib(v.xml(DOMAIN), "memory") == GiB_KiB


def test_dommemstat(suite: Suite) -> None:
    suite.requires("start")
    v = suite.virsh
    stats = v.memstats(DOMAIN)
    assert "actual" in stats and "rss" in stats
    if suite.guest:
        # the guest's statistics arrive every <stats period='5'/> seconds
        stats = poll(lambda: v.memstats(DOMAIN, quiet=True), lambda s: "unused" in s,
                     timeout=15)
        for key in ("swap_in", "swap_out", "major_fault", "minor_fault", "unused",
                    "available", "usable", "last_update", "disk_caches"):
            assert key in stats, f"{key} missing from dommemstat: {stats}"
        assert 0 < stats["unused"] <= stats["available"]
    v.memstats(DOMAIN)


def test_setmem_back(suite: Suite) -> None:
    suite.requires("setmem")
    v = suite.virsh
    v.ok("setmem", DOMAIN, str(GiB_KiB), "--live")
    stats = poll(lambda: v.memstats(DOMAIN, quiet=True), lambda s: s["actual"] == GiB_KiB)
    assert stats["actual"] == GiB_KiB


# --- DIMM -------------------------------------------------------------------------------------


def test_attach_dimm(suite: Suite) -> None:
    suite.requires("start")
    v = suite.virsh
    path = _write(suite, "dimm.xml", dimm_xml(512))
    assert v.ok("attach-device", DOMAIN, str(path), "--live").strip() == (
        "Device attached successfully")
    root = v.xml(DOMAIN)
    dimm = _device(root, "dimm")
    assert dimm is not None
    assert _alias(dimm) == "dimm0"
    assert _target_kib(dimm, "size") == 524288
    assert dimm.findtext("target/node") == "0"
    address = dimm.find("address")
    assert address is not None
    assert (address.get("type"), address.get("slot"), address.get("base")) == (
        "dimm", "0", "0x100000000")
    assert kib(root, "memory") == GiB_KiB + 524288


def test_detach_dimm(suite: Suite) -> None:
    suite.requires("attach_dimm")
    v = suite.virsh
    dimm = _device(v.xml(DOMAIN), "dimm")
    assert dimm is not None
    path = _write(suite, "dimm-live.xml", ET.tostring(dimm, encoding="unicode"))
    result = v.run("detach-device", DOMAIN, str(path), "--live")
    assert result.ok, str(result)
    # libvirt says so whether or not the guest ejected the DIMM within its 5 s wait
    assert result.out.strip() == "Device detached successfully"
    root = v.xml(DOMAIN)
    if suite.guest:
        assert _device(root, "dimm") is None
        assert kib(root, "memory") == GiB_KiB
    else:
        # no guest OS ejects the DIMM: it stays
        assert _device(root, "dimm") is not None


# --- virtio-mem -------------------------------------------------------------------------------


def test_attach_virtio_mem(suite: Suite) -> None:
    suite.requires("start")
    v = suite.virsh
    path = _write(suite, "virtio-mem.xml", virtio_mem_xml(1024, 256))
    assert v.ok("attach-device", DOMAIN, str(path), "--live").strip() == (
        "Device attached successfully")
    root = v.xml(DOMAIN)
    dev = _device(root, "virtio-mem")
    assert dev is not None and _alias(dev) == "virtiomem0"
    assert _target_kib(dev, "size") == GiB_KiB
    assert _target_kib(dev, "block") == 2048
    assert _target_kib(dev, "requested") == 262144
    address = dev.find("address")
    assert address is not None and address.get("type") == "pci"
    if suite.guest:
        dev = poll(lambda: _device(v.xml(DOMAIN), "virtio-mem"),
                   lambda d: d is not None and _target_kib(d, "current") == 262144)
        assert dev is not None and _target_kib(dev, "current") == 262144
    else:
        assert _target_kib(dev, "current") in (None, 0)


def _update_virtio_mem(suite: Suite, requested_mib: int) -> None:
    v = suite.virsh
    out = v.ok("update-memory-device", DOMAIN, "--alias", "virtiomem0", "--requested-size",
               f"{requested_mib}MiB", "--live")
    assert out.strip() == ""
    dev = _device(v.xml(DOMAIN), "virtio-mem")
    assert dev is not None and _target_kib(dev, "requested") == requested_mib * 1024
    if suite.guest:
        dev = poll(lambda: _device(v.xml(DOMAIN), "virtio-mem"),
                   lambda d: d is not None and _target_kib(d, "current") == requested_mib * 1024)
        assert dev is not None and _target_kib(dev, "current") == requested_mib * 1024


def test_update_virtio_mem_grow(suite: Suite) -> None:
    suite.requires("attach_virtio_mem")
    _update_virtio_mem(suite, 512)


def test_update_virtio_mem_shrink(suite: Suite) -> None:
    suite.requires("attach_virtio_mem")
    _update_virtio_mem(suite, 128)


def test_detach_virtio_mem_while_plugged_is_refused(suite: Suite) -> None:
    suite.requires("attach_virtio_mem")
    if not suite.guest:
        pytest.skip("needs a guest: without one no virtio-mem memory is ever plugged")
    v = suite.virsh
    dev = _device(v.xml(DOMAIN), "virtio-mem")
    assert dev is not None
    path = _write(suite, "virtio-mem-live.xml", ET.tostring(dev, encoding="unicode"))
    result = v.run("detach-device", DOMAIN, str(path), "--live")
    assert not result.ok
    assert result.err.strip().splitlines()[-1] == (
        "error: internal error: unable to execute QEMU command 'device_del': virtio-mem device "
        "cannot get unplugged while some of its memory is still plugged")
    assert _device(v.xml(DOMAIN), "virtio-mem") is not None


def test_update_virtio_mem_empty(suite: Suite) -> None:
    suite.requires("attach_virtio_mem")
    _update_virtio_mem(suite, 0)


def test_detach_virtio_mem(suite: Suite) -> None:
    # QEMU refuses to unplug a virtio-mem device while some of its memory is plugged: the
    # step before shrinks it to 0 first
    suite.requires("attach_virtio_mem", "update_virtio_mem_empty")
    v = suite.virsh
    dev = _device(v.xml(DOMAIN), "virtio-mem")
    assert dev is not None
    path = _write(suite, "virtio-mem-live.xml", ET.tostring(dev, encoding="unicode"))
    result = v.run("detach-device", DOMAIN, str(path), "--live")
    assert result.ok, str(result)
    assert result.out.strip() == "Device detached successfully"
    if suite.guest:
        assert _device(v.xml(DOMAIN), "virtio-mem") is None
    else:
        # no guest OS answers the PCIe unplug request: the device stays
        assert _device(v.xml(DOMAIN), "virtio-mem") is not None


# --- virtio-pmem ------------------------------------------------------------------------------


def test_attach_virtio_pmem(suite: Suite) -> None:
    suite.requires("start")
    v = suite.virsh
    image = suite.workdir / "pmem.img"
    with image.open("wb") as handle:
        handle.truncate(256 * 1024 * 1024)
    path = _write(suite, "virtio-pmem.xml", virtio_pmem_xml(image, 256))
    assert v.ok("attach-device", DOMAIN, str(path), "--live").strip() == (
        "Device attached successfully")
    dev = _device(v.xml(DOMAIN), "virtio-pmem")
    assert dev is not None and _alias(dev) == "virtiopmem0"
    assert dev.findtext("source/path") == str(image)
    assert _target_kib(dev, "size") == 262144


def test_detach_virtio_pmem_is_refused(suite: Suite) -> None:
    suite.requires("attach_virtio_pmem")
    v = suite.virsh
    dev = _device(v.xml(DOMAIN), "virtio-pmem")
    assert dev is not None
    path = _write(suite, "virtio-pmem-live.xml", ET.tostring(dev, encoding="unicode"))
    result = v.run("detach-device", DOMAIN, str(path), "--live")
    assert not result.ok
    assert "virtio-pmem" in result.err or "not supported" in result.err, result.err
    assert _device(v.xml(DOMAIN), "virtio-pmem") is not None


# --- the monitor, passed through --------------------------------------------------------------


def test_qemu_monitor_command(suite: Suite) -> None:
    suite.requires("start")
    v = suite.virsh
    reply = v.qmp(DOMAIN, "query-memory-devices")
    devices = reply["return"]
    assert isinstance(devices, list)
    kinds = {d["type"] for d in devices if isinstance(d, dict)}
    if "attach_virtio_pmem" in suite.passed:
        assert "virtio-pmem" in kinds
    balloon = v.qmp(DOMAIN, "query-balloon")
    assert isinstance(balloon["return"], dict) and "actual" in balloon["return"]
    hmp = v.ok("qemu-monitor-command", DOMAIN, "--hmp", "info memory-devices")
    if "attach_virtio_pmem" in suite.passed:
        assert "virtio-pmem" in hmp


# --- libvirtd restart -------------------------------------------------------------------------


def test_libvirtd_restart_reconnects(suite: Suite) -> None:
    suite.requires("start")
    v = suite.virsh
    before = v.xml(DOMAIN)
    suite.restart_libvirtd()
    assert v.state(DOMAIN) == "running"
    after = v.xml(DOMAIN)
    assert after.get("id") == before.get("id")
    assert [(d.get("model"), _alias(d)) for d in memory_devices(after)] == [
        (d.get("model"), _alias(d)) for d in memory_devices(before)]
    assert kib(after, "memory") == kib(before, "memory")
    assert "actual" in v.memstats(DOMAIN)


# --- destroy, undefine ------------------------------------------------------------------------


def test_destroy(suite: Suite) -> None:
    suite.requires("start")
    v = suite.virsh
    pid_file = Path(f"{os.environ.get('HVB_LIBVIRT_PREFIX', '/tmp/hvb-libvirt')}"
                    f"/run/qemu/{DOMAIN}.pid")
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    assert v.ok("destroy", DOMAIN).strip() == f"Domain '{DOMAIN}' destroyed"
    assert v.state(DOMAIN) == "shut off"
    reason = v.run("domstate", DOMAIN, "--reason", quiet=True).out.strip()
    assert reason == "shut off (destroyed)"
    if pid is not None:
        assert not Path(f"/proc/{pid}").exists(), "the emulator process is still there"


def test_undefine(suite: Suite) -> None:
    suite.requires("define")
    v = suite.virsh
    assert v.ok("undefine", DOMAIN).strip() == f"Domain '{DOMAIN}' has been undefined"
    assert not v.run("domstate", DOMAIN, quiet=True).ok


# --- hv-balloon (hvballoond only: no libvirt XML model, reached through the monitor) ---------


def test_hv_balloon_domain(suite: Suite) -> None:
    if not suite.hvballoond:
        pytest.skip("hv-balloon needs Hyper-V enlightenments (KVM); this suite runs QEMU on TCG")
    v = suite.virsh
    path = _write(suite, "domain-hv.xml", domain_xml(_spec(suite, HV_DOMAIN, hv_balloon=True)))
    v.ok("define", str(path))
    try:
        assert v.ok("start", HV_DOMAIN).strip() == f"Domain '{HV_DOMAIN}' started"
        devices = v.qmp(HV_DOMAIN, "query-memory-devices")["return"]
        assert isinstance(devices, list)
        assert [d["type"] for d in devices if isinstance(d, dict)] == ["hv-balloon"]
        assert v.qmp(HV_DOMAIN, "balloon", {"value": 768 * 1024 * 1024})["return"] == {}
        balloon = v.qmp(HV_DOMAIN, "query-balloon")["return"]
        assert isinstance(balloon, dict) and "actual" in balloon
        # libvirt tolerates the hv-balloon entry among the memory devices
        root = v.xml(HV_DOMAIN)
        assert memory_devices(root) == []
        assert json.loads(v.ok("qemu-monitor-command", HV_DOMAIN,
                               '{"execute":"query-status"}'))["return"]["running"] is True
        assert v.ok("destroy", HV_DOMAIN).strip() == f"Domain '{HV_DOMAIN}' destroyed"
    finally:
        v.run("destroy", HV_DOMAIN, quiet=True)
        v.run("undefine", HV_DOMAIN, quiet=True)
