"""The commands management stacks send besides memory (handlers/manager.py).

Expected replies and error texts are QEMU 10.0.2's (checked against the real binary on
``-machine q35 -accel tcg -m 1G,slots=4,maxmem=16G -S``, and the libvirt recordings in
tests/interop/libvirt/recorded/).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvballoond.clock import FakeClock
from hvballoond.dispatch import schema_glue
from hvballoond.dispatch.context import VmIdentity
from hvballoond.dispatch.dispatcher import Dispatcher
from hvballoond.dispatch.handlers.manager import MIGRATION_CAPABILITIES, MigrationCapabilities
from hvballoond.machine.chardev import ChardevBackend, ChardevConfig, Chardevs
from hvballoond.machine.config import HostFacts, MachineConfig
from hvballoond.machine.machine import Machine
from hvballoond.machine.units import GiB
from hvballoond.qmp.errors import QmpError
from hvballoond.wire.values import JSONObject, JSONValue
from tests.fakes import NullMonitor


class FixedStatus:
    """A chardev's live side as the runtime would report it, fixed."""

    def __init__(self, filename: str) -> None:
        self._filename = filename

    def filename(self) -> str:
        return self._filename

    def connected(self) -> bool:
        return not self._filename.startswith("disconnected:")

    def address(self) -> JSONObject | None:
        return None


def dispatcher(chardevs: list[tuple[ChardevConfig, str | None]] | None = None) -> Dispatcher:
    """A machine with these chardevs (each with a fixed filename, or none: never opened)."""
    clock = FakeClock()
    config = MachineConfig(ram_size=GiB, maxram_size=16 * GiB, ram_slots=4, start_paused=True)
    machine = Machine(config, host=HostFacts(), now=clock.now(), device_types=())
    registry = machine.component(Chardevs)
    for chardev, filename in chardevs or []:
        registry.add(chardev)
        if filename is not None:
            registry.attach_status(chardev.label, FixedStatus(filename))
    machine.create_default_ram()
    machine.mark_ready()
    return Dispatcher(machine=machine, vm=VmIdentity(), handlers=schema_glue.handlers(),
                      validate=schema_glue.validate_arguments)


def monitor(label: str) -> ChardevConfig:
    return ChardevConfig(label, ChardevBackend.SOCKET, monitor=True)


def run(d: Dispatcher, command: str, arguments: JSONObject | None = None,
        monitor: NullMonitor | None = None) -> JSONValue:
    outcome = d.execute(command, arguments or {}, monitor=monitor or NullMonitor(),
                        now=FakeClock().now())
    if isinstance(outcome.result, QmpError):
        return {"error": {"class": outcome.result.error_class.value,
                          "desc": outcome.result.desc}}
    return outcome.result


def caps(*pairs: tuple[str, bool]) -> JSONObject:
    return {"capabilities": [{"capability": c, "state": s} for c, s in pairs]}


def states(d: Dispatcher) -> dict[str, bool]:
    reply = run(d, "query-migrate-capabilities")
    assert isinstance(reply, list)
    out: dict[str, bool] = {}
    for item in reply:
        assert isinstance(item, dict)
        name, state = item["capability"], item["state"]
        assert isinstance(name, str) and isinstance(state, bool)
        out[name] = state
    return out


def test_every_capability_is_off_at_start_in_schema_order() -> None:
    reply = run(dispatcher(), "query-migrate-capabilities")
    assert reply == [{"capability": name, "state": False} for name in MIGRATION_CAPABILITIES]
    assert len(MIGRATION_CAPABILITIES) == 22


def test_events_follow_migrate_set_capabilities() -> None:
    # What libvirt does at every domain start (recorded start conversation).
    d = dispatcher()
    assert run(d, "migrate-set-capabilities", caps(("events", True))) == {}
    assert states(d) == {name: name == "events" for name in MIGRATION_CAPABILITIES}
    assert run(d, "migrate-set-capabilities", caps(("events", False))) == {}
    assert not any(states(d).values())


def test_the_last_entry_for_a_capability_wins() -> None:
    d = dispatcher()
    assert run(d, "migrate-set-capabilities", caps(("events", True), ("events", False))) == {}
    assert states(d)["events"] is False
    assert run(d, "migrate-set-capabilities", {"capabilities": []}) == {}


@pytest.mark.parametrize(("wanted", "desc"), [
    ([("postcopy-preempt", True)], "Postcopy preempt requires postcopy-ram"),
    ([("switchover-ack", True)],
     "Capability 'switchover-ack' requires capability 'return-path'"),
    ([("dirty-limit", True)],
     "dirty-limit requires KVM with accelerator property 'dirty-ring-size' set"),
    ([("zero-copy-send", True)],
     "Zero copy only available for non-compressed non-TLS multifd migration"),
    ([("postcopy-ram", True), ("multifd", True)],
     "Postcopy is not yet compatible with multifd"),
    ([("postcopy-ram", True), ("x-ignore-shared", True)],
     "Postcopy is not compatible with ignore-shared"),
    ([("background-snapshot", True), ("xbzrle", True)],
     "Background-snapshot is not compatible with xbzrle"),
    ([("background-snapshot", True), ("x-colo", True)],
     "Background-snapshot is not compatible with x-colo"),
    ([("mapped-ram", True), ("xbzrle", True)],
     "Mapped-ram migration is incompatible with xbzrle"),
])  # fmt: skip
def test_refused_combinations_change_nothing(wanted: list[tuple[str, bool]], desc: str) -> None:
    d = dispatcher()
    assert run(d, "migrate-set-capabilities", caps(("events", True), *wanted)) == {
        "error": {"class": "GenericError", "desc": desc}}
    assert states(d) == {name: False for name in MIGRATION_CAPABILITIES}


def test_accepted_alone_on_this_build() -> None:
    # x-colo needs QEMU's replication module, which the reference build has; background
    # snapshots need userfaultfd write protection, which hvballoond assumes.
    d = dispatcher()
    for name in ("x-colo", "zero-blocks", "background-snapshot", "multifd"):
        assert run(d, "migrate-set-capabilities", caps((name, True))) == {}, name
        assert run(d, "migrate-set-capabilities", caps((name, False))) == {}


def test_unknown_capability_is_a_validation_error() -> None:
    assert run(dispatcher(), "migrate-set-capabilities", caps(("bogus", True))) == {
        "error": {"class": "GenericError",
                  "desc": "Parameter 'capability' does not accept value 'bogus'"}}


@settings(max_examples=40, derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(MIGRATION_CAPABILITIES), st.booleans()),
                max_size=6))
def test_state_is_either_all_applied_or_unchanged(changes: list[tuple[str, bool]]) -> None:
    d = dispatcher()
    before = states(d)
    reply = run(d, "migrate-set-capabilities", caps(*changes))
    after = states(d)
    if reply == {}:
        expected = dict(before)
        expected.update(dict(changes))
        assert after == expected
        assert MigrationCapabilities(d.machine).check(after) is None
    else:
        assert after == before


@pytest.mark.parametrize(("command", "arguments"), [
    ("query-iothreads", {}), ("query-jobs", {}), ("query-block", {}),
    ("query-named-block-nodes", {}), ("query-named-block-nodes", {"flat": True}),
])  # fmt: skip
def test_what_hvballoond_has_none_of(command: str, arguments: JSONObject) -> None:
    assert run(dispatcher(), command, arguments) == []


def test_query_chardev_lists_in_qemus_hash_order() -> None:
    # QEMU 10.0.2 with three -qmp monitors lists compat_monitor1, 2, then 0.
    d = dispatcher([
        (monitor("compat_monitor0"), "unix:/tmp/a.sock,server=on"),
        (monitor("compat_monitor1"), "disconnected:unix:/tmp/b.sock,server=on"),
        (monitor("compat_monitor2"), "disconnected:tcp:127.0.0.1:4444,server=on"),
    ])
    assert run(d, "query-chardev") == [
        {"label": "compat_monitor1", "filename": "disconnected:unix:/tmp/b.sock,server=on",
         "frontend-open": True},
        {"label": "compat_monitor2", "filename": "disconnected:tcp:127.0.0.1:4444,server=on",
         "frontend-open": True},
        {"label": "compat_monitor0", "filename": "unix:/tmp/a.sock,server=on",
         "frontend-open": True},
    ]


def test_query_chardev_of_chardevs_nobody_opened() -> None:
    # Without the runtime's live side, what QEMU shows for a backend not opened yet.
    d = dispatcher([(monitor("charmonitor"), None),
                    (ChardevConfig("n0", ChardevBackend.NULL), None)])
    assert run(d, "query-chardev") == [
        {"label": "n0", "filename": "null", "frontend-open": False},
        {"label": "charmonitor", "filename": "disconnected:socket", "frontend-open": True}]
