"""hv-balloon scenarios end to end: a real hvballoond process, qemu.qmp, the simulated guest.

The daemon runs on its virtual clock; the test moves it with ``x-hvb-advance-clock`` (events
the clock causes arrive before that command's reply).
"""

from __future__ import annotations

from typing import Any

import pytest
from qemu.qmp import QMPClient
from qemu.qmp.events import EventListener

from tests.runtime.conftest import DaemonFactory

pytestmark = pytest.mark.socket

GiB = 1 << 30
# memory-devices.md §5 example D: region [6G, 42G), the 8 GiB memdev at ALIGN_UP(6G, 32G).
UPSTREAM = ["-machine", "q35", "-m", "4G,maxmem=40G", "--virtual-clock",
            "-object", "memory-backend-ram,id=hvmem,size=8G,reserve=off",
            "-device", "vmbus-bridge", "-device", "hv-balloon,id=hvb,memdev=hvmem,status-report=on",
            "-object", "hvb-guest,id=guest"]


def drain(listener: EventListener) -> list[dict[str, Any]]:
    """The events received so far (the reply to the last command came after them)."""
    return [dict(event) for event in listener.clear()]


async def advance(client: QMPClient, seconds: float) -> None:
    await client.execute("x-hvb-advance-clock", {"seconds": seconds})


async def test_grow_to_boot_plus_memdev_then_shrink_to_2g(start_daemon: DaemonFactory) -> None:
    daemon = await start_daemon(*UPSTREAM)
    client = QMPClient("scenario")
    await client.connect(str(daemon.socket))
    try:
        with client.listener(("HV_BALLOON_STATUS_REPORT", "BALLOON_CHANGE")) as listener:
            assert await client.execute("query-memory-devices") == [{"type": "hv-balloon", "data": {
                "memdev": "/objects/hvmem", "memaddr": 32 * GiB, "max-size": 8 * GiB,
                "id": "hvb"}}]
            summary = {"base-memory": 4 * GiB, "plugged-memory": 8 * GiB}
            assert await client.execute("query-memory-size-summary") == summary
            # Targets wait for the guest to connect and for the 50 s post-boot delay.
            await client.execute("balloon", {"value": 12 * GiB})
            await advance(client, 10)
            assert await client.execute("query-balloon") == {"actual": 4 * GiB}
            await advance(client, 50)
            # Grown by hot-adding the whole memdev: boot RAM + memdev.
            assert await client.execute("query-balloon") == {"actual": 12 * GiB}
            assert await client.execute("query-memory-size-summary") == summary
            reports = [e for e in drain(listener) if e["event"] == "HV_BALLOON_STATUS_REPORT"]
            assert reports, "status reports arrive once the guest is connected"
            assert set(reports[-1]["data"]) == {"committed", "available"}
            # Shrink to 2 GiB: the guest balloons pages out.
            await client.execute("balloon", {"value": 2 * GiB})
            await advance(client, 10)
            assert await client.execute("query-balloon") == {"actual": 2 * GiB}
            status = await client.execute("query-hv-balloon-status-report")
            assert isinstance(status, dict)
            assert status["committed"] + status["available"] <= 2 * GiB
            assert not [e for e in drain(listener) if e["event"] == "BALLOON_CHANGE"], (
                "hv-balloon never emits BALLOON_CHANGE (balloon.md §1.3)")
            # A reboot returns the VM to its boot size; the old target is not re-applied.
            await client.execute("system_reset")
            await advance(client, 70)
            assert await client.execute("query-balloon") == {"actual": 4 * GiB}
    finally:
        await client.disconnect()


async def test_v3_backends_released_at_reboot_then_added_again(
    start_daemon: DaemonFactory,
) -> None:
    daemon = await start_daemon(
        "-machine", "q35", "-m", "4G,slots=4,maxmem=40G", "--virtual-clock",
        "-device", "vmbus-bridge", "-device", "hv-balloon,id=hvb", "-object", "hvb-guest,id=g",
        "-object", "memory-backend-ram,id=b1,size=1G",
        "-object", "memory-backend-ram,id=b2,size=1G",
    )
    client = QMPClient("v3")
    await client.connect(str(daemon.socket))
    try:
        with client.listener("HV_BALLOON_MEMORY_BACKEND_UNUSED") as listener:
            await advance(client, 60)  # guest connected, post-boot delay over
            await client.execute("hv-balloon-add-memory", {"id": "b1"})
            await client.execute("hv-balloon-add-memory", {"id": "b2"})
            await advance(client, 5)
            assert await client.execute("query-balloon") == {"actual": 6 * GiB}
            devices = await client.execute("query-memory-devices")
            assert isinstance(devices, list)
            assert [d["data"].get("memdev") for d in devices if d["type"] == "dimm"] == [
                "/objects/b1", "/objects/b2"]
            await client.execute("system_reset")
            unused = [e["data"]["id"] for e in drain(listener)]
            assert unused == ["b1", "b2"]  # exactly once each, in the order they were added
            await client.execute("object-del", {"id": "b1"})
            await client.execute("object-del", {"id": "b2"})
            await client.execute("object-add", {"qom-type": "memory-backend-ram", "id": "b1",
                                                "size": GiB})
            await advance(client, 60)  # the guest reconnects after the reboot
            await client.execute("hv-balloon-add-memory", {"id": "b1"})
            await advance(client, 5)
            assert await client.execute("query-balloon") == {"actual": 5 * GiB}
            assert drain(listener) == []
    finally:
        await client.disconnect()
