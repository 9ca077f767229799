"""qmp-shell (from qemu.qmp) against a real hvballoond process: connect, run commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.conftest import DaemonFactory

pytestmark = pytest.mark.socket

QMP_SHELL = Path(sys.executable).with_name("qmp-shell")


async def test_qmp_shell_connects_and_runs_query_status(start_daemon: DaemonFactory) -> None:
    daemon = await start_daemon("-machine", "q35", "-m", "1G,slots=4,maxmem=8G", "-S")
    result = subprocess.run(
        [str(QMP_SHELL), str(daemon.socket)],
        input="query-status\nobject-add qom-type=memory-backend-ram id=m1 size=1073741824\n"
        "device_add driver=pc-dimm id=d1 memdev=m1\nquery-memory-size-summary\n",
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Connected to QEMU 10.0.2" in result.stdout
    assert '"status": "prelaunch"' in result.stdout
    assert '"plugged-memory": 1073741824' in result.stdout


async def test_qmp_shell_hmp_mode(start_daemon: DaemonFactory) -> None:
    daemon = await start_daemon("-machine", "q35", "-m", "1G", "-S")
    result = subprocess.run(
        [str(QMP_SHELL), "-H", str(daemon.socket)],
        input="info status\ninfo memdev\n",
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "VM status: paused (prelaunch)" in result.stdout
    assert "memory backend: pc.ram" in result.stdout
