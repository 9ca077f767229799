"""Start-up stays lean: what a plain VM's start-up imports and loads (benchmark issue 7).

The daemon is started with the benchmark's command line through a small driver that records
``sys.modules`` when the greeting is built and again after each reply; no timing is asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from tests.runtime.conftest import wait_for_path

# Records what is loaded at the greeting and after each command (one JSON object per line).
_DRIVER = """
import gc, json, os, sys

from hvballoond.runtime import vm

def record(point):
    cpus = sys.modules.get("hvballoond.probe.cpus")
    store = sys.modules.get("hvballoond.probe.store")
    with open(os.environ["HVB_TEST_RECORD"], "a") as out:
        out.write(json.dumps({
            "point": point,
            "modules": sorted(sys.modules),
            "cpu_file_read": bool(cpus and cpus.default_cpu_tables.cache_info().currsize),
            "store_read": bool(store and store.default_store.cache_info().currsize),
            "gc": [gc.isenabled(), gc.get_freeze_count() > 0],
        }) + "\\n")

greeting = vm.VmRuntime.greeting
execute = vm.VmRuntime.execute

def recording_greeting(self):
    record("greeting")
    return greeting(self)

def recording_execute(self, conn, request):
    execute(self, conn, request)
    record(request.command)

vm.VmRuntime.greeting = recording_greeting
vm.VmRuntime.execute = recording_execute

from hvballoond.cli import main

sys.exit(main(sys.argv[1:]))
"""

# What a machine without these devices must not import at start-up (catalog.py, handlers).
_LAZY_PACKAGES = (
    "hvballoond.machine.hv_balloon",
    "hvballoond.machine.balloon",
    "hvballoond.machine.devices",
    "hvballoond.machine.guest",
    "hvballoond.transcripts",
)
# Stdlib modules a plain VM has no use for at start-up: reading the probe data files (gzip,
# importlib.resources), pathlib (with urllib.parse and ipaddress, ~3 ms), TCP host checks,
# pseudo-terminals (tty, termios: only a -chardev pty needs them).
_HEAVY_STDLIB = ("gzip", "importlib.resources", "pathlib", "ipaddress", "tty", "termios")


async def _run(tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    record = tmp_path / "record.jsonl"
    sock = tmp_path / "qmp.sock"
    env = dict(os.environ, HVB_TEST_RECORD=str(record))
    # Production configuration, as the benchmark runs it: no strict schema check of replies.
    env.pop("HVB_SCHEMA_CHECK", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _DRIVER, "--log-level", "warning", *args,
        "-qmp", f"unix:{sock},server=on,wait=off",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
    )
    try:
        await wait_for_path(sock, proc)
        reader, writer = await asyncio.open_unix_connection(str(sock))
        assert b'"QMP"' in await reader.readline()
        writer.write(b'{"execute": "qmp_capabilities"}\n')
        assert await reader.readline() == b'{"return": {}}\r\n'
        writer.write(b'{"execute": "quit"}\n')
        await reader.read()
        writer.close()
        assert await asyncio.wait_for(proc.wait(), timeout=20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return [json.loads(line) for line in record.read_text().splitlines()]


def _loaded(modules: list[str], packages: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)]


async def test_a_plain_vm_imports_no_device_family_handler_or_probe_data(tmp_path: Path) -> None:
    # The benchmark's command line (benchmarks/servers.py): no -device, not probe mode.
    records = await _run(tmp_path, "-machine", "q35", "-accel", "tcg", "-display", "none",
                         "-nodefaults", "-S", "-m", "1G,slots=4,maxmem=16G")
    assert [r["point"] for r in records] == ["greeting", "qmp_capabilities", "quit"]
    greeting, first_reply = records[0], records[1]
    for point in (greeting, first_reply):
        assert _loaded(point["modules"], _LAZY_PACKAGES) == []
        assert _loaded(point["modules"], _HEAVY_STDLIB) == []
        assert not point["cpu_file_read"] and not point["store_read"]
        # Off during start-up only: once serving, what start-up built is frozen, GC is on.
        assert point["gc"] == [True, True]
    # Handler modules come when their commands first run; HMP with human-monitor-command.
    assert _loaded(greeting["modules"], ("hvballoond.dispatch.handlers",)) == [
        "hvballoond.dispatch.handlers"
    ]
    assert _loaded(first_reply["modules"], ("hvballoond.dispatch.handlers",)) == [
        "hvballoond.dispatch.handlers", "hvballoond.dispatch.handlers.control"
    ]
    assert _loaded(first_reply["modules"], ("hvballoond.dispatch.hmp",)) == []


async def test_a_device_on_the_command_line_imports_its_family(tmp_path: Path) -> None:
    records = await _run(tmp_path, "-machine", "q35", "-S", "-m", "1G,slots=4,maxmem=16G",
                         "-object", "memory-backend-ram,id=m0,size=1G",
                         "-device", "virtio-balloon-pci,id=b0")
    loaded = _loaded(records[0]["modules"], _LAZY_PACKAGES)
    assert "hvballoond.machine.balloon.virtio" in loaded
    assert "hvballoond.machine.hv_balloon" not in loaded


async def test_a_peripheral_imports_its_family_only(tmp_path: Path) -> None:
    records = await _run(tmp_path, "-machine", "q35", "-S", "-m", "1G",
                         "-device", "qemu-xhci,id=usb", "-device", "usb-tablet,bus=usb.0")
    loaded = _loaded(records[0]["modules"], _LAZY_PACKAGES)
    assert "hvballoond.machine.devices.peripherals.usb" in loaded
    assert not [m for m in loaded if m.startswith(("hvballoond.machine.hv_balloon",
                                                   "hvballoond.machine.balloon",
                                                   "hvballoond.machine.guest"))]
    assert _loaded(records[0]["modules"], ("tty", "termios")) == []
