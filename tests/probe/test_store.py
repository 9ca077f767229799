"""The shipped probe store answers exactly as QEMU 10.0.2 answered libvirt's probe."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvballoond.probe.build import from_transcript
from hvballoond.probe.store import (
    Accel,
    ProbeEntry,
    ProbeStore,
    StoreError,
    canonical_arguments,
    default_store,
    dump,
    insertion_order,
    load,
    lookup,
    merge_entries,
)
from hvballoond.qmp.errors import ErrorClass, QmpError
from hvballoond.wire.encode import encode, encode_error, encode_return
from hvballoond.wire.values import JSONValue

RECORDED = Path(__file__).resolve().parents[1] / "interop/libvirt/recorded"
PROBES = {"kvm": Accel.KVM, "kvm-tcg": Accel.TCG, "nokvm": Accel.TCG}


def _exchanges(name: str) -> list[tuple[dict[str, JSONValue], str]]:
    """(command, reply line) pairs of a recorded probe transcript."""
    conv = from_transcript((RECORDED / f"probe-{name}.qmp").read_text())
    sent: list[dict[str, JSONValue]] = []
    replies: dict[str, str] = {}
    for message in conv.messages:
        value = json.loads(message.text)
        if message.direction == "->":
            sent.append(value)
        elif "id" in value:
            replies[value["id"]] = message.text
    return [(command, replies[str(command["id"])]) for command in sent]


@pytest.mark.parametrize("name", sorted(PROBES))
def test_every_recorded_answer_is_reproduced_byte_for_byte(name: str) -> None:
    checked = 0
    for command, line in _exchanges(name):
        execute = str(command["execute"])
        arguments = command.get("arguments")
        assert arguments is None or isinstance(arguments, dict)
        answer = lookup(execute, arguments, accel=PROBES[name])
        if execute in ("qmp_capabilities", "query-version", "query-kvm"):
            assert answer is None, f"{execute} must be answered live, not from the store"
            continue
        reply_id = (command["id"],)
        if isinstance(answer, QmpError):
            wire = encode_error(answer.error_class.value, answer.desc, reply_id)
        else:
            assert answer is not None, f"no answer for {execute} {arguments}"
            wire = encode_return(answer, reply_id)
        assert wire == line.encode() + b"\r\n", execute
        checked += 1
    assert checked >= 4


def test_the_store_is_what_the_recorded_transcripts_give() -> None:
    from hvballoond.probe.build import build_store

    convs = [from_transcript((RECORDED / f"probe-{n}.qmp").read_text()) for n in PROBES]
    rebuilt = build_store(convs, {})
    assert [e.to_json() for e in rebuilt.entries] == [e.to_json() for e in
                                                      default_store().entries]


def test_meta_names_the_recorded_qemu() -> None:
    meta = default_store().meta
    assert str(meta["qemu"]).startswith("QEMU emulator version 10.0.2")
    assert str(meta["libvirt"]).endswith("11.3.0")


def test_static_facts() -> None:
    assert lookup("query-target", {}) == {"arch": "x86_64"}
    schema = lookup("query-qmp-schema", None)
    assert isinstance(schema, list)
    names = {item["name"] for item in schema if isinstance(item, dict)
             and item.get("meta-type") == "command"}
    assert {"device_add", "query-cpus-fast", "blockdev-add", "qom-set"} <= names
    props = lookup("device-list-properties", {"typename": "virtio-mem-pci"})
    assert isinstance(props, list)
    assert "requested-size" in {p["name"] for p in props if isinstance(p, dict)}


def test_argument_member_order_and_absent_arguments_do_not_matter() -> None:
    a = lookup("query-cpu-model-expansion",
               {"type": "static", "model": {"name": "host", "props": {"migratable": False}}},
               accel=Accel.KVM)
    b = lookup("query-cpu-model-expansion",
               {"model": {"props": {"migratable": False}, "name": "host"}, "type": "static"},
               accel=Accel.KVM)
    assert a is b and isinstance(a, dict)
    assert lookup("query-machines", None) is lookup("query-machines", {})


def test_accelerator_dependent_answers() -> None:
    kvm = lookup("query-sev-capabilities", None, accel=Accel.KVM)
    tcg = lookup("query-sev-capabilities", None, accel=Accel.TCG)
    assert isinstance(kvm, QmpError) and isinstance(tcg, QmpError)
    assert (kvm.error_class, kvm.desc) == (ErrorClass.GENERIC_ERROR, "SEV is not enabled in KVM")
    assert tcg.desc == "KVM not enabled"
    assert lookup("query-cpu-definitions", None, accel=Accel.KVM) != lookup(
        "query-cpu-definitions", None, accel=Accel.TCG)
    # asked only by libvirt's second (TCG) probe
    assert lookup("query-cpu-model-expansion", {"type": "static", "model": {"name": "max"}},
                  accel=Accel.TCG) is not None
    assert lookup("query-cpu-model-expansion", {"type": "static", "model": {"name": "max"}},
                  accel=Accel.KVM) is None


def test_misses() -> None:
    assert lookup("device-list-properties", {"typename": "no-such-device"}) is None
    assert lookup("query-balloon", None) is None
    assert lookup("query-kvm", None) is None


def test_dump_is_deterministic_and_loads_back() -> None:
    store = default_store()
    data = dump(store)
    assert data == dump(store)
    again = load(data)
    assert [e.to_json() for e in again.entries] == [e.to_json() for e in store.entries]
    assert len(data) < 512 * 1024


def _store(*entries: ProbeEntry) -> ProbeStore:
    return ProbeStore({}, entries)


def test_two_answers_for_one_question_are_refused() -> None:
    e = ProbeEntry("query-target", "{}", None, {"arch": "x86_64"})
    with pytest.raises(StoreError, match="two answers"):
        _store(e, e)
    with pytest.raises(StoreError, match="both a shared and a kvm answer"):
        _store(e, ProbeEntry("query-target", "{}", Accel.KVM, {"arch": "i386"}))


@pytest.mark.parametrize("document", [
    {"format": 2, "meta": {}, "entries": []},
    {"format": 1, "entries": []},
    {"format": 1, "meta": {}, "entries": [{"execute": "x", "arguments": {}}]},
    {"format": 1, "meta": {}, "entries": [{"execute": "x", "arguments": []}]},
    {"format": 1, "meta": {}, "entries": [{"execute": "x", "arguments": {}, "accel": "hvf",
                                           "return": 1}]},
    {"format": 1, "meta": {}, "entries": [{"execute": "x", "arguments": {},
                                           "error": {"class": "Nope", "desc": "d"}}]},
])
def test_malformed_documents_are_refused(document: JSONValue) -> None:
    with pytest.raises(StoreError):
        load(gzip.compress(json.dumps(document).encode()))


def test_not_gzip_is_refused() -> None:
    with pytest.raises(StoreError, match="gzip"):
        load(b"{}")


def test_merge_folds_agreeing_accelerators_only() -> None:
    same_k = ProbeEntry("a", "{}", Accel.KVM, {"x": 1, "y": 2})
    same_t = ProbeEntry("a", "{}", Accel.TCG, {"x": 1, "y": 2})
    order_t = ProbeEntry("b", "{}", Accel.TCG, {"y": 2, "x": 1})
    order_k = ProbeEntry("b", "{}", Accel.KVM, {"x": 1, "y": 2})
    only_k = ProbeEntry("c", "{}", Accel.KVM, 3)
    merged = merge_entries([same_k, order_k, only_k, same_t, order_t])
    assert [(e.command, e.accel) for e in merged] == [
        ("a", None), ("b", Accel.KVM), ("b", Accel.TCG), ("c", Accel.KVM)]
    with pytest.raises(StoreError, match="two different answers"):
        merge_entries([same_k, ProbeEntry("a", "{}", Accel.KVM, {"x": 2})])


def test_canonical_arguments() -> None:
    assert canonical_arguments(None) == canonical_arguments({}) == "{}"
    assert canonical_arguments({"b": 1, "a": {"d": [1, "é"], "c": None}}) == (
        '{"a":{"c":null,"d":[1,"é"]},"b":1}')


_keys = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=6)
_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=6),
    max_leaves=20,
)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(_values)
def test_insertion_order_reproduces_any_printed_order(value: JSONValue) -> None:
    printed = encode(value)
    as_read: JSONValue = json.loads(printed)  # members in printed order
    assert encode(insertion_order(as_read)) == printed


def test_reply_in_probe_mode() -> None:
    store = default_store()
    recorded = store.reply("device-list-properties", {"typename": "virtio-mem-pci"},
                           has_handler=False)
    assert isinstance(recorded, list)
    # recorded answers win over hvballoond's own handlers
    assert store.reply("qom-list-types", None, has_handler=True) is lookup("qom-list-types", None)
    missing = store.reply("device-list-properties", {"typename": "no-such"}, has_handler=False)
    assert isinstance(missing, QmpError)
    assert (missing.error_class, missing.desc) == (ErrorClass.DEVICE_NOT_FOUND,
                                                   "Device 'no-such' not found")
    other = store.reply("query-cpu-model-expansion", {"type": "full", "model": {"name": "x"}},
                        has_handler=False)
    assert isinstance(other, QmpError) and other.error_class is ErrorClass.GENERIC_ERROR
    assert "query-cpu-model-expansion" in other.desc
    # a miss on a command hvballoond serves, or one the store never saw: the handler answers
    assert store.reply("qom-list-properties", {"typename": "no-such"}, has_handler=True) is None
    assert store.reply("query-kvm", None, has_handler=True) is None
    assert store.reply("query-balloon", None, has_handler=False) is None
