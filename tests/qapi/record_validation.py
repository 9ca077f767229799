"""Record argument-validation replies from a real QEMU 10.0.2.

Run ``.venv/bin/python -m tests.qapi.record_validation`` to rewrite
``tests/qapi/recorded/validation-errors.txt``; ``test_recorded_validation.py`` replays the
file against :mod:`hvballoond.qapi.validation`.

Each request's ``id`` says what the test expects from hvballoond's validator:

* ``v-*``: rejected by argument validation with exactly the recorded ``desc``;
* ``ok-*``: accepted by argument validation (QEMU's reply comes from the command);
* ``kv-*``: an HMP ``object_add`` whose output is the keyval validator's error;
* ``kvok-*``: an HMP ``object_add`` the keyval validator accepts;
* ``qs-<type>-*``: a ``qom-set`` whose error is the property visitor's, for a property
  of QAPI type ``<type>``.

Requests run in order on one QEMU started like the default test machine, so later
cases may rely on objects earlier ones created (``mem0``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hvballoond.wire.values import JSONObject
from tests.qapi.qemu_oracle import MACHINE, QemuOracle, qemu_version

OUTPUT = Path(__file__).parent / "recorded" / "validation-errors.txt"
RAM: JSONObject = {"qom-type": "memory-backend-ram", "id": "mp", "size": 1048576}


def _hmp(line: str) -> JSONObject:
    return {"command-line": line}


# (id, command, arguments); arguments None means no "arguments" member.
CASES: list[tuple[str, str, JSONObject | None]] = [
    # qmp_capabilities is recorded during negotiation (the first requests).
    ("v-cap-enum", "qmp_capabilities", {"enable": ["foo"]}),
    ("v-cap-type", "qmp_capabilities", {"enable": "oob"}),
    ("v-cap-elem", "qmp_capabilities", {"enable": [1]}),
    ("v-cap-null", "qmp_capabilities", {"enable": None}),
    ("v-cap-extra", "qmp_capabilities", {"foo": 1}),
    ("ok-cap", "qmp_capabilities", {"enable": []}),
    # no-argument commands
    ("v-status-extra", "query-status", {"a": 1}),
    ("ok-status", "query-status", None),
    ("v-version-extra", "query-version", {"x": None}),
    # balloon: int
    ("v-balloon-missing", "balloon", None),
    ("v-balloon-unexp-missing", "balloon", {"x": 2}),
    ("v-balloon-unexp", "balloon", {"value": 1, "x": 2}),
    ("v-balloon-float", "balloon", {"value": 1.0}),
    ("v-balloon-big", "balloon", {"value": 9223372036854775808}),
    ("v-balloon-str", "balloon", {"value": "1G"}),
    ("v-balloon-bool", "balloon", {"value": True}),
    ("v-balloon-null", "balloon", {"value": None}),
    ("ok-balloon-neg", "balloon", {"value": -1}),
    ("ok-balloon-min", "balloon", {"value": -9223372036854775808}),
    # object-add: union, sizes, sized integers, enums, lists
    ("v-oa-no-type", "object-add", {"id": "my", "size": 1048576}),
    ("v-oa-type-int", "object-add", {"qom-type": 5, "id": "mz"}),
    ("v-oa-type-bad", "object-add", {"qom-type": "nonexistent-type", "id": "mz"}),
    ("v-oa-no-id", "object-add", {"qom-type": "memory-backend-ram", "size": 1048576}),
    ("v-oa-id-int", "object-add", {"qom-type": "memory-backend-ram", "id": 5}),
    ("v-oa-no-size", "object-add", {"qom-type": "memory-backend-ram", "id": "mp"}),
    ("v-oa-size-huge", "object-add", {**RAM, "size": 18446744073709551616}),
    ("v-oa-size-str", "object-add", {**RAM, "size": "1G"}),
    ("v-oa-size-float", "object-add", {**RAM, "size": 1048576.0}),
    ("v-oa-nodes-range", "object-add", {**RAM, "host-nodes": [70000]}),
    ("v-oa-nodes-neg", "object-add", {**RAM, "host-nodes": [-1]}),
    ("v-oa-nodes-str", "object-add", {**RAM, "host-nodes": ["a"]}),
    ("v-oa-nodes-null", "object-add", {**RAM, "host-nodes": [None]}),
    ("v-oa-nodes-scalar", "object-add", {**RAM, "host-nodes": 0}),
    ("v-oa-threads", "object-add", {**RAM, "prealloc-threads": 4294967296}),
    ("v-oa-threads-neg", "object-add", {**RAM, "prealloc-threads": -1}),
    ("v-oa-policy", "object-add", {**RAM, "policy": "bogus"}),
    ("v-oa-policy-int", "object-add", {**RAM, "policy": 1}),
    ("v-oa-share-str", "object-add", {**RAM, "share": "on"}),
    ("v-oa-share-null", "object-add", {**RAM, "share": None}),
    ("v-oa-extra", "object-add", {**RAM, "bogus": 1}),
    ("v-oa-file-path", "object-add", {"qom-type": "memory-backend-file", "id": "f", "size": 1}),
    (
        "v-oa-file-rom",
        "object-add",
        {**RAM, "qom-type": "memory-backend-file", "mem-path": "/tmp", "rom": "maybe"},
    ),
    (
        "v-oa-memfd-extra",
        "object-add",
        {**RAM, "qom-type": "memory-backend-memfd", "mem-path": "/tmp"},
    ),
    ("v-oa-ram-file-member", "object-add", {**RAM, "mem-path": "/tmp"}),
    ("ok-oa-id-syntax", "object-add", {**RAM, "id": "1bad"}),
    (
        "ok-oa-mem0",
        "object-add",
        {"qom-type": "memory-backend-ram", "id": "mem0", "size": 134217728},
    ),
    # object-del, qom-*
    ("v-od-missing", "object-del", None),
    ("v-od-int", "object-del", {"id": 1}),
    ("v-qg-missing", "qom-get", {"path": "/machine"}),
    ("v-qs-missing-value", "qom-set", {"path": "/objects/mem0", "property": "merge"}),
    ("ok-qs-null-value", "qom-set", {"path": "/objects/mem0", "property": "nope", "value": None}),
    ("v-qlt-abstract", "qom-list-types", {"abstract": "yes"}),
    ("ok-qlt-null-impl", "qom-list-types", {"implements": "nope", "abstract": False}),
    # property visitors of qom-set (the value is visited under the property name)
    ("qs-bool-merge", "qom-set", {"path": "/objects/mem0", "property": "merge", "value": "x"}),
    (
        "qs-uint32-threads",
        "qom-set",
        {"path": "/objects/mem0", "property": "prealloc-threads", "value": 4294967296},
    ),
    (
        "qs-uint32-threads-str",
        "qom-set",
        {"path": "/objects/mem0", "property": "prealloc-threads", "value": "4"},
    ),
    (
        "qs-HostMemPolicy-policy",
        "qom-set",
        {"path": "/objects/mem0", "property": "policy", "value": "bogus"},
    ),
    (
        "qs-HostMemPolicy-policy-int",
        "qom-set",
        {"path": "/objects/mem0", "property": "policy", "value": 3},
    ),
    (
        "qs-uint16List-nodes",
        "qom-set",
        {"path": "/objects/mem0", "property": "host-nodes", "value": [1, 70000]},
    ),
    (
        "qs-uint16List-nodes-scalar",
        "qom-set",
        {"path": "/objects/mem0", "property": "host-nodes", "value": 1},
    ),
    # device_add: gen false
    ("v-da-missing", "device_add", {"id": "d1"}),
    ("v-da-int", "device_add", {"driver": 5}),
    ("v-da-null", "device_add", {"driver": None}),
    ("ok-da-unknown", "device_add", {"driver": "nonexistent-dev", "id": "d1"}),
    ("ok-da-id-int", "device_add", {"driver": "nonexistent-dev", "id": 5, "bus": 7}),
    ("ok-da-prop", "device_add", {"driver": "pc-dimm", "id": "d2", "memdev": "nope", "bogus": [1]}),
    # device_del
    ("v-dd-int", "device_del", {"id": []}),
    # human-monitor-command
    ("v-hmc-missing", "human-monitor-command", None),
    ("v-hmc-int", "human-monitor-command", {"command-line": 1}),
    ("v-hmc-cpu", "human-monitor-command", {"command-line": "info name", "cpu-index": "0"}),
    ("v-hmc-extra", "human-monitor-command", {"command-line": "info name", "cpu": 0}),
    ("ok-hmc-cpu", "human-monitor-command", {"command-line": "info name", "cpu-index": 5}),
    # query-machines: optional bool with a feature
    ("v-qm-str", "query-machines", {"compat-props": "yes"}),
    ("v-qm-null", "query-machines", {"compat-props": None}),
    ("v-qm-extra", "query-machines", {"compat": True}),
    # yank: list of unions
    ("v-yank-missing", "yank", None),
    ("v-yank-scalar", "yank", {"instances": {"type": "chardev"}}),
    ("v-yank-elem", "yank", {"instances": [5]}),
    ("v-yank-type", "yank", {"instances": [{"type": "bogus"}]}),
    ("v-yank-id", "yank", {"instances": [{"type": "chardev"}]}),
    ("v-yank-extra", "yank", {"instances": [{"type": "chardev", "id": "x", "foo": 1}]}),
    (
        "v-yank-second",
        "yank",
        {"instances": [{"type": "migration"}, {"type": "block-node", "node-name": 1}]},
    ),
    ("v-yank-mig-extra", "yank", {"instances": [{"type": "migration", "id": "x"}]}),
    ("ok-yank-empty", "yank", {"instances": []}),
    # HMP object_add: the keyval visitor
    ("kv-size", "human-monitor-command", _hmp("object_add memory-backend-ram,id=h1,size=abc")),
    ("kv-size-neg", "human-monitor-command", _hmp("object_add memory-backend-ram,id=h1,size=-1")),
    ("kv-size-frac", "human-monitor-command", _hmp("object_add memory-backend-ram,id=h1,size=1.5")),
    ("kv-size-mib", "human-monitor-command", _hmp("object_add memory-backend-ram,id=h1,size=1MiB")),
    (
        "kv-bool",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=h1,size=1M,share=maybe"),
    ),
    (
        "kv-int",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=h1,size=1M,prealloc-threads=x"),
    ),
    (
        "kv-uint32",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=h1,size=1M,prealloc-threads=4294967296"),
    ),
    (
        "kv-enum",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=h1,size=1M,policy=bogus"),
    ),
    (
        "kv-list",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=h1,size=1M,host-nodes=0"),
    ),
    (
        "kv-list-gap",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=h1,size=1M,host-nodes.1=0"),
    ),
    (
        "kv-list-elem",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=h1,size=1M,host-nodes.0=x"),
    ),
    (
        "kv-list-range",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=h1,size=1M,host-nodes.0=70000"),
    ),
    (
        "kv-extra",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=h1,size=1M,bogus=1"),
    ),
    ("kv-missing-size", "human-monitor-command", _hmp("object_add memory-backend-ram,id=h1")),
    ("kv-missing-id", "human-monitor-command", _hmp("object_add memory-backend-ram,size=1M")),
    ("kv-missing-type", "human-monitor-command", _hmp("object_add id=h1,size=2M")),
    ("kv-type", "human-monitor-command", _hmp("object_add nonexist,id=h1")),
    ("kv-nested", "human-monitor-command", _hmp("object_add memory-backend-ram,id=h1,size.x=1")),
    (
        "kv-mixed",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=h1,size=1M,host-nodes.0=0,host-nodes.x=1"),
    ),
    ("kv-parse-eq", "human-monitor-command", _hmp("object_add memory-backend-ram,id")),
    ("kv-parse-space", "human-monitor-command", _hmp("object_add memory-backend-ram,a b=1")),
    ("kv-parse-empty", "human-monitor-command", _hmp("object_add memory-backend-ram,,id=x")),
    (
        "kv-parse-index",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=m,size=1M,x.0y=1"),
    ),
    (
        "kv-parse-long",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=m,size=1M," + "a" * 128 + "=1"),
    ),
    (
        "kv-parse-mixed",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=m,size=1M,host-nodes.0=0,host-nodes=1"),
    ),
    (
        "kvok-all",
        "human-monitor-command",
        _hmp(
            "object_add memory-backend-ram,id=h2,size=1.5M,"
            "share=on,merge=no,policy=default,"
            "prealloc-threads=0x2,dump=y"
        ),
    ),
    (
        "kvok-hex",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=h3,size=0x100000"),
    ),
    (
        "kvok-suffix",
        "human-monitor-command",
        _hmp("object_add memory-backend-ram,id=h4,size=2k,size=4K"),
    ),
]


def record() -> str:
    """Run every case on one fresh QEMU; return the transcript text."""
    lines = [
        f"# recorded-from: {qemu_version()}",
        "# machine: " + " ".join(MACHINE) + " -display none -nodefaults -S",
        "# See tests/qapi/record_validation.py for what each id prefix means.",
        "",
    ]
    with QemuOracle() as qemu:
        for case_id, command, arguments in CASES:
            request: JSONObject = {"execute": command}
            if arguments is not None:
                request["arguments"] = arguments
            request["id"] = case_id
            text = json.dumps(request)
            qemu.send_text(text)
            lines.append(f"-> {text}")
            while True:
                reply = qemu.read()
                lines.append(f"<- {json.dumps(reply)}")
                if "event" not in reply:
                    break
    return "\n".join(lines) + "\n"


def main() -> int:
    OUTPUT.write_text(record(), encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
