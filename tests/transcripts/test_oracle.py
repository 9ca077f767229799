"""The transcript tools against a real QEMU (``qemu-system-x86_64``).

These use real time (QEMU is a real-time server), so they are marked
``oracle`` and skipped when the binary is absent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hvballoond.transcripts.compare import Received, matches
from hvballoond.transcripts.format import Send, load, parse
from hvballoond.transcripts.import_sample import convert_files
from hvballoond.transcripts.record import record
from hvballoond.transcripts.replay import (
    Outcome,
    ReplayOptions,
    replay_paths,
    replay_transcript,
)
from hvballoond.transcripts.runner import EmulatorTarget

QEMU = "qemu-system-x86_64"
# The shared material sits beside the repository (../shared), in a checkout as in CI.
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "transcripts-sample"
QMP_SHELL = Path(sys.executable).with_name("qmp-shell")

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"{QEMU} is not installed"),
    pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared sample not available"),
]
TARGET = EmulatorTarget((QEMU,))


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hvbo-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("samples")
    paths = {}
    for source in sorted(SAMPLES.glob("*.json")):
        path = out / f"{source.stem}.qmp"
        path.write_text(convert_files(source), encoding="utf-8")
        paths[source.stem] = path
    return paths


async def test_shared_samples_replay_green_against_qemu(samples: dict[str, Path]) -> None:
    results = await replay_paths(sorted(samples.values()), TARGET, jobs=2)
    assert len(results) == 8
    failures = [r.report() for r in results if r.outcome is not Outcome.PASSED]
    assert not failures, "\n\n".join(failures)


async def test_one_changed_expectation_fails_with_a_diff(
    samples: dict[str, Path], tmp_path: Path
) -> None:
    text = samples["backends-ram-lifecycle"].read_text()
    old = '"desc": "object \'r0\' not found"'
    assert text.count(old) == 1
    path = tmp_path / "changed.qmp"
    path.write_text(text.replace(old, '"desc": "Object \'r0\' not found"'))
    lineno = next(i for i, line in enumerate(path.read_text().splitlines(), 1) if "Object" in line)
    result = await replay_transcript(load(path), TARGET)
    assert result.outcome is Outcome.FAILED
    assert result.mismatch is not None and result.mismatch.lineno == lineno
    report = result.report()
    assert report.startswith(f"{path}:{lineno}: server message differs\n")
    assert (
        "  error.desc differs: expected \"Object 'r0' not found\", got \"object 'r0' not found\""
        in report
    )


async def test_update_records_the_same_conversation(
    samples: dict[str, Path], tmp_path: Path
) -> None:
    for name in ("backends-ram-lifecycle", "protocol-second-client-waits", "startup-busy-memdev"):
        original = load(samples[name])
        stripped = "".join(
            line + "\n"
            for line in original.lines
            if not line.startswith(("<- ", "@ stderr", "# recorded-from"))
        )
        path = tmp_path / f"{name}.qmp"
        path.write_text(stripped)
        result = await replay_transcript(
            load(path), TARGET, update=True, recorded_from="QEMU emulator version X"
        )
        assert result.outcome is Outcome.UPDATED, result.report()
        assert result.new_text is not None
        updated = parse(result.new_text)
        assert updated.header("recorded-from") == "QEMU emulator version X"
        for before, after in zip(original.steps, updated.steps, strict=True):
            assert len(before.expected) == len(after.expected), (name, before.lineno)
            for exp, new in zip(before.expected, after.expected, strict=True):
                assert matches(exp.value, Received(new.text, new.value)), (name, exp.text)
            assert [s.text for s in before.stderr] == [s.text for s in after.stderr]


def test_cli_against_qemu(samples: dict[str, Path], tmp_path: Path) -> None:
    good = samples["runstate-prelaunch"]
    bad = tmp_path / "bad.qmp"
    bad.write_text(good.read_text().replace('"status": "paused"', '"status": "running"'))
    junit = tmp_path / "junit.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hvballoond.transcripts",
            "replay",
            "--emulator",
            QEMU,
            "--junit",
            str(junit),
            str(good),
            str(bad),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"PASS {good}" in proc.stdout
    assert f"FAIL {bad}" in proc.stdout
    assert 'return.status differs: expected "running", got "paused"' in proc.stdout
    assert proc.stdout.rstrip().endswith("1 passed, 1 failed")
    assert 'failures="1"' in junit.read_text()


async def test_recorded_qmp_shell_session_replays_green(scratch: Path) -> None:
    if not QMP_SHELL.exists():
        pytest.skip("qmp-shell is not installed in the virtualenv")
    listen = scratch / "proxy.sock"
    output = scratch / "session.qmp"
    ready = asyncio.Event()
    recorder = asyncio.create_task(
        record(
            output,
            listen=listen,
            command=[QEMU, "-machine", "q35", "-m", "1G,slots=4,maxmem=8G"],
            once=True,
            ready=ready,
        )
    )
    await asyncio.wait_for(ready.wait(), 20)
    commands = (
        "query-status\n"
        "object-add qom-type=memory-backend-ram id=m0 size=268435456\n"
        "device_add driver=pc-dimm id=d0 memdev=m0\n"
        "query-memory-devices\n"
        "object-del id=nope\n"
        "cont\n"
        "query-status\n"
    )
    shell = await asyncio.create_subprocess_exec(
        str(QMP_SHELL),
        str(listen),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(shell.communicate(commands.encode()), 60)
    assert shell.returncode == 0, out.decode()
    assert b'"status": "running"' in out
    assert await asyncio.wait_for(recorder, 30) == 0
    t = load(output)
    assert t.args == ["-machine", "q35", "-m", "1G,slots=4,maxmem=8G"]
    assert (t.header("recorded-from") or "").startswith("QEMU emulator version")
    sent = [s.action.data for s in t.steps if isinstance(s.action, Send)]
    assert any(b'"device_add"' in data for data in sent)
    assert t.lines[-1] == "@ close c1"
    result = await replay_transcript(t, TARGET)
    assert result.outcome is Outcome.PASSED, result.report()


async def test_recorded_raw_clients_with_two_connections_and_quit(scratch: Path) -> None:
    listen = scratch / "proxy.sock"
    output = scratch / "raw.qmp"
    ready = asyncio.Event()
    recorder = asyncio.create_task(
        record(output, listen=listen, command=[QEMU, "-machine", "q35", "-m", "1G"], ready=ready)
    )
    await asyncio.wait_for(ready.wait(), 20)

    async def line(reader: asyncio.StreamReader) -> object:
        return json.loads(await asyncio.wait_for(reader.readline(), 10))

    r1, w1 = await asyncio.open_unix_connection(str(listen))
    r2, w2 = None, None
    try:
        assert "QMP" in str(await line(r1))
        w1.write(b'{"execute": "qmp_capabilities"}\n')
        assert await line(r1) == {"return": {}}
        # Two requests in one write, and one split over two writes.
        w1.write(b'{"execute": "query-name"}{"execute": "query-kvm"}')
        assert await line(r1) == {"return": {}}
        assert await line(r1) == {"return": {"enabled": False, "present": True}}
        w1.write(b'{"execute": "query-')
        await w1.drain()
        await asyncio.sleep(0.3)
        w1.write(b'status"}\n')
        assert await line(r1) == {"return": {"status": "prelaunch", "running": False}}
        # A second client waits until the first one leaves.
        r2, w2 = await asyncio.open_unix_connection(str(listen))
        await asyncio.sleep(0.3)
        w1.close()
        assert "QMP" in str(await line(r2))
        w2.write(b'{"execute": "qmp_capabilities"}\n')
        assert await line(r2) == {"return": {}}
        w2.write(b'{"execute": "quit"}\n')
        shutdown = await line(r2)
        assert isinstance(shutdown, dict) and shutdown["event"] == "SHUTDOWN"
        assert await line(r2) == {"return": {}}
        assert await asyncio.wait_for(recorder, 30) == 0
    finally:
        for writer in (w1, w2):
            if writer is not None:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
        if not recorder.done():
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder
    t = load(output)
    directives = [line for line in t.lines if line.startswith("@")]
    assert directives == ["@ connect c2", "@ close c1", "@ eof", "@ exit 0"]
    assert '-x {"execute": "query-name"}{"execute": "query-kvm"}' in t.lines
    assert '-x {"execute": "query-' in t.lines and '-> status"}' in t.lines
    result = await replay_transcript(t, TARGET, options=ReplayOptions())
    assert result.outcome is Outcome.PASSED, result.report()


async def test_recorded_refused_command_line_replays_green(scratch: Path) -> None:
    output = scratch / "refused.qmp"
    status = await record(output, command=[QEMU, "-machine", "q35", "-m", "1G,slots=2", "-m", "x"])
    assert status == 0
    t = load(output)
    assert t.startup_fails
    assert t.steps[1].stderr and t.steps[1].stderr[0].text.startswith("-m x:")
    result = await replay_transcript(t, TARGET)
    assert result.outcome is Outcome.PASSED, result.report()


async def test_recording_through_connect_to_a_running_qemu(scratch: Path) -> None:
    server_socket = scratch / "qemu.sock"
    qemu = await asyncio.create_subprocess_exec(
        QEMU,
        *("-display", "none", "-nodefaults", "-S", "-accel", "tcg"),
        *("-qmp", f"unix:{server_socket},server=on,wait=off"),
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(500):
            if server_socket.exists():
                break
            await asyncio.sleep(0.01)
        listen = scratch / "proxy.sock"
        output = scratch / "connect.qmp"
        ready = asyncio.Event()
        recorder = asyncio.create_task(
            record(output, listen=listen, connect=server_socket, once=True, ready=ready)
        )
        await asyncio.wait_for(ready.wait(), 20)
        reader, writer = await asyncio.open_unix_connection(str(listen))
        await asyncio.wait_for(reader.readline(), 10)
        writer.write(b'{"execute": "qmp_capabilities"}\n')
        await asyncio.wait_for(reader.readline(), 10)
        writer.write(b'{"execute": "query-status", "id": {"c": 3, "b": 1, "a": 2}}\n')
        await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert await asyncio.wait_for(recorder, 30) == 0
    finally:
        qemu.terminate()
        await qemu.wait()
    t = load(output)
    assert t.args == []
    assert (t.header("recorded-from") or "").startswith("QEMU emulator version 10.")
    assert t.lines[-2] == (
        '<- {"return": {"status": "prelaunch", "running": false}, "id": {"a": 2, "b": 1, "c": 3}}'
    )
    result = await replay_transcript(t, TARGET)
    assert result.outcome is Outcome.PASSED, result.report()
