"""Importers: the shared sample format and libvirt's ``.replies`` files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hvballoond.transcripts import import_libvirt, import_sample
from hvballoond.transcripts.format import Directive, DirectiveKind, Send, parse
from hvballoond.transcripts.import_libvirt import LibvirtError, convert_replies, read_objects
from hvballoond.transcripts.import_sample import SampleError, convert_files, convert_sample

# The shared material sits beside the repository (../shared), in a checkout as in CI.
SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "transcripts-sample"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared sample not available")


@needs_samples
@pytest.mark.parametrize("source", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_sample_converts_and_keeps_every_message(source: Path) -> None:
    text = convert_files(source)
    t = parse(text)
    scenario = json.loads(source.read_text())
    assert t.args == scenario["args"]
    assert t.header("description") == scenario["description"]
    assert t.header("category") == scenario["category"]
    assert (t.header("recorded-from") or "").startswith("QEMU emulator version 10.0.2")
    conversation = source.with_suffix(".txt").read_text().splitlines()
    server = [line[3:] for line in conversation if line.startswith("<- ")]
    assert [e.text for s in t.steps for e in s.expected] == server
    sends = [s.action for s in t.steps if isinstance(s.action, Send)]
    wanted = [step for step in scenario["steps"] if "send" in step or "raw" in step]
    assert len(sends) == len(wanted)
    for send, step in zip(sends, wanted, strict=True):
        if "send" in step:
            assert json.loads(send.data) == step["send"]
        else:
            assert send.data == step["raw"].encode()


@needs_samples
def test_per_step_connections_become_sticky_switches() -> None:
    t = parse(convert_files(SAMPLES / "protocol-second-client-waits.json"))
    lines = [line for line in t.lines if line.startswith(("@", "->"))]
    assert lines == [
        '-> {"execute": "qmp_capabilities"}',
        "@ connect c2",
        '-> {"execute": "query-status"}',
        "@ conn c1",
        '-> {"execute": "query-name"}',
        "@ close c1",
        "@ conn c2",
        '-> {"execute": "qmp_capabilities"}',
        '-> {"execute": "query-status"}',
    ]
    conn_step = next(
        s
        for s in t.steps
        if isinstance(s.action, Directive)
        and s.action.kind is DirectiveKind.CONN
        and s.action.name == "c2"
    )
    assert len(conn_step.expected) == 2  # greeting + the queued query-status error


@needs_samples
def test_startup_failure_sample() -> None:
    t = parse(convert_files(SAMPLES / "startup-busy-memdev.json"))
    assert t.startup_fails
    assert [s.text for s in t.steps[1].stderr] == [
        "-device pc-dimm,id=d1,memdev=m0: can't use already busy memdev: m0"
    ]


def test_raw_steps_keep_their_bytes() -> None:
    scenario = {"name": "raw", "args": ["-m", "1G"], "steps": [{"raw": '{"execute": 1}'}]}
    conversation = (
        '# qmp-oracle transcript v1\n\n<- {}\n\n-> {"execute": 1}\n'
        '<- {"error": {"class": "GenericError", "desc": "x"}}\n'
    )
    text = convert_sample(scenario, conversation)
    assert '-x {"execute": 1}\n' in text


def test_inconsistent_sample_is_refused() -> None:
    scenario = {"args": [], "steps": [{"send": {"execute": "a"}}]}
    with pytest.raises(SampleError, match="blocks"):
        convert_sample(scenario, "<- {}\n")
    with pytest.raises(SampleError, match="differs from the scenario"):
        convert_sample(scenario, '<- {}\n\n-> {"execute": "b"}\n')


def test_import_sample_main(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    scenario = {"name": "s", "args": ["-m", "1G"], "steps": [{"send": {"execute": "x"}}]}
    (tmp_path / "in" / "s.json").write_text(json.dumps(scenario))
    (tmp_path / "in" / "s.txt").write_text('<- {}\n\n-> {"execute": "x"}\n<- {"return": {}}\n')
    assert import_sample.main(["-o", str(tmp_path / "out"), str(tmp_path / "in")]) == 0
    t = parse((tmp_path / "out" / "s.qmp").read_text())
    assert [len(s.expected) for s in t.steps] == [1, 1]


# --- libvirt -------------------------------------------------------------------------------

REPLIES = """\
{
  "execute": "qmp_capabilities",
  "id": "libvirt-1"
}

{
  "return": {
  },
  "id": "libvirt-1"
}

{
  "execute": "query-version",
  "id": "libvirt-2"
}

{
  "return": {
    "qemu": {
      "micro": 2,
      "minor": 0,
      "major": 10
    },
    "package": "v10.0.2"
  },
  "id": "libvirt-2"
}

{
  "execute": "stop",
  "id": "libvirt-3"
}

{
  "timestamp": {
    "seconds": 1,
    "microseconds": 2
  },
  "event": "STOP"
}

{
  "return": {
  },
  "id": "libvirt-3"
}
"""


def test_libvirt_replies_become_a_transcript() -> None:
    text = convert_replies(REPLIES, name="caps_10.0.2_x86_64.replies")
    assert text == (
        "# hvballoond transcript v1\n"
        "# args: -machine none\n"
        "# recorded-from: libvirt tests/qemucapabilitiesdata/caps_10.0.2_x86_64.replies"
        " (QEMU 10.0.2)\n"
        "# description: libvirt capability probe caps_10.0.2_x86_64.replies\n"
        "\n"
        '<- {"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, '
        '"package": "v10.0.2"}, "capabilities": ["oob"]}}\n'
        "\n"
        '-> {"execute": "qmp_capabilities", "id": "libvirt-1"}\n'
        '<- {"return": {}, "id": "libvirt-1"}\n'
        "\n"
        '-> {"execute": "query-version", "id": "libvirt-2"}\n'
        '<- {"return": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "v10.0.2"}, '
        '"id": "libvirt-2"}\n'
        "\n"
        '-> {"execute": "stop", "id": "libvirt-3"}\n'
        '<- {"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}\n'
        '<- {"return": {}, "id": "libvirt-3"}\n'
    )


def test_libvirt_without_query_version_gets_a_default_greeting() -> None:
    text = convert_replies('{"execute": "x", "id": 1}\n\n{"return": "\\u00e9", "id": 1}\n')
    t = parse(text)
    assert t.steps[0].expected[0].value == {
        "QMP": {
            "version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""},
            "capabilities": ["oob"],
        }
    }
    assert '<- {"return": "\\u00e9", "id": 1}' in text


def test_libvirt_errors() -> None:
    with pytest.raises(LibvirtError, match="line 3: not JSON"):
        read_objects('{"execute": "x"}\n\n{oops\n')
    with pytest.raises(LibvirtError, match="expected a JSON object"):
        read_objects("[1]\n")
    with pytest.raises(LibvirtError, match="neither a request"):
        convert_replies('{"foo": 1}\n')


def test_import_libvirt_main(tmp_path: Path) -> None:
    source = tmp_path / "caps.replies"
    source.write_text(REPLIES)
    out = tmp_path / "caps.qmp"
    assert import_libvirt.main(["-o", str(out), "--args", "-machine q35", str(source)]) == 0
    assert parse(out.read_text()).args == ["-machine", "q35"]
    assert import_libvirt.main(["--outdir", str(tmp_path / "d"), str(source)]) == 0
    assert (tmp_path / "d" / "caps.qmp").exists()
