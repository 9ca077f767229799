"""``secret`` objects (machine/secret.py): created, checked, listed, read and deleted.

Expected texts and listings are QEMU 10.0.2's (object-add on the reference binary).
"""

from __future__ import annotations

import pytest

from hvballoond.clock import FakeClock
from hvballoond.machine.config import HostFacts, MachineConfig
from hvballoond.machine.errors import MachineError
from hvballoond.machine.machine import Machine
from hvballoond.machine.units import GiB
from hvballoond.wire.values import JSONValue


def machine() -> Machine:
    config = MachineConfig(ram_size=GiB, maxram_size=16 * GiB, ram_slots=4)
    m = Machine(config, host=HostFacts(), now=FakeClock().now())
    m.create_default_ram()
    m.mark_ready()
    return m


def add(m: Machine, obj_id: str, **props: JSONValue) -> None:
    m.backends.object_add("secret", obj_id, props)


def test_a_secret_lists_and_reads_as_in_qemu() -> None:
    m = machine()
    add(m, "masterKey0", format="raw", file="/var/lib/libvirt/qemu/domain-1-x/master-key.aes")
    obj = m.backends.objects.child("masterKey0")
    assert obj is not None
    assert [(p.name, p.type) for p in obj.properties()] == [
        ("type", "string"), ("iv", "string"), ("keyid", "string"),
        ("format", "QCryptoSecretFormat"), ("file", "string"), ("data", "string")]
    assert obj.get("type") == "secret"
    assert obj.get("format") == "raw"
    assert obj.get("file") == "/var/lib/libvirt/qemu/domain-1-x/master-key.aes"
    assert obj.get("data") == ""  # unset strings read as empty
    assert obj.get("keyid") == ""
    assert "masterKey0" in m.backends.objects.child_names()
    # a secret is not a memory backend
    assert [b.id for b in m.backends.all()] == ["pc.ram"]


def test_data_can_be_changed_and_the_secret_deleted() -> None:
    m = machine()
    add(m, "s1", data="YWJj", format="base64")
    obj = m.backends.objects.child("s1")
    assert obj is not None
    obj.set_json("data", "x")
    assert obj.get("data") == "x"
    m.backends.object_del("s1")
    assert m.backends.objects.child("s1") is None


@pytest.mark.parametrize(("props", "message"), [
    ({"data": "abc", "file": "/x"}, "'file' and 'data' are mutually exclusive"),
    ({}, "Either 'file' or 'data' must be provided"),
    ({"format": "base64"}, "Either 'file' or 'data' must be provided"),
    ({"data": "a!bc", "format": "base64"}, "Base64 data contains invalid characters"),
    ({"data": "a\0bc", "format": "base64"}, "Base64 data contains embedded NUL characters"),
])  # fmt: skip
def test_refused_secrets_leave_nothing_behind(props: dict[str, JSONValue], message: str) -> None:
    m = machine()
    with pytest.raises(MachineError) as err:
        add(m, "s1", **props)
    assert err.value.message == message
    assert m.backends.objects.child("s1") is None


def test_raw_data_and_encrypted_data_are_not_decoded() -> None:
    m = machine()
    add(m, "s1", data="not base64!")  # raw: anything goes
    # with keyid the data is decrypted by QEMU; hvballoond does not check it
    add(m, "s2", data="a!bc", format="base64", keyid="s1", iv="AAAAAAAAAAAAAAAAAAAAAA==")
    assert m.backends.objects.child("s2") is not None


def test_duplicate_id_is_refused_as_for_any_object() -> None:
    m = machine()
    add(m, "s1", data="a")
    with pytest.raises(MachineError) as err:
        add(m, "s1", data="a")
    assert err.value.message == (
        "attempt to add duplicate property 's1' to object (type 'container')")
