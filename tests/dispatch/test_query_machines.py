"""query-machines on a running VM: QEMU 10.0.2's recorded answer, served as recorded."""

from __future__ import annotations

import json
from pathlib import Path

from hvballoond.wire.encode import encode_return
from tests.machine.devices.rig import vm

# A domain-mode conversation libvirt had with real QEMU 10.0.2 (tests/interop/libvirt).
RECORDED = (
    Path(__file__).resolve().parent.parent
    / "interop/libvirt/recorded/domain-qemu-no-guest-hvb-e2e-reconnect.txt"
)


def _recorded_reply() -> str:
    lines = RECORDED.read_text().splitlines()
    request = next(i for i, line in enumerate(lines) if '"query-machines"' in line)
    return lines[request + 1].removeprefix("<- ")


def test_query_machines_is_qemus_reply_byte_for_byte() -> None:
    # Under test every return is checked strictly; this one keeps QEMU's printed member
    # order, which is exempt from the schema-order rule (see dispatch/schema_check.py).
    reply = vm("-machine q35 -m 1G").qmp("query-machines")
    assert "return" in reply, reply
    recorded = json.loads(_recorded_reply())
    ours = encode_return(reply["return"], (recorded["id"],)).decode().rstrip("\r\n")
    assert ours == _recorded_reply()
