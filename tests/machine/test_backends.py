"""Memory backends: object-add checks and order, mutability, object-del, query-memdev.

Strings from tests/machine/recorded/startup.txt, qom-backends-hmp.txt, objects-order.txt and
machine-memory.md §5 (observed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvballoond.machine.backends import (
    BackendDefaults,
    BackendKind,
    Backends,
    HostMemory,
    MemoryBackend,
    NoFileAccess,
    PathInfo,
    UserObjectType,
)
from hvballoond.machine.errors import MachineError
from hvballoond.machine.glib_hash import ChildOrder
from hvballoond.machine.qom import InputStyle, QomObject, QomTree, TypeRegistry
from hvballoond.machine.units import GiB, MiB
from hvballoond.wire.values import JSONValue

RECORDED = Path(__file__).parent / "recorded"


class FakeProbe:
    """mem-path answers from a dict; unknown paths are missing."""

    def __init__(self, paths: Mapping[str, PathInfo]) -> None:
        self.paths = dict(paths)
        self.asked: list[tuple[str, bool]] = []

    def probe(self, path: str, *, readonly: bool) -> PathInfo:
        self.asked.append((path, readonly))
        return self.paths.get(path, PathInfo(error="No such file or directory"))

    def note_allocated(self, path: str, size: int) -> None:
        self.paths[path] = PathInfo(size=size)


def make_backends(*, commit_limit: int = 23 * GiB, probe: FakeProbe | None = None) -> Backends:
    types = TypeRegistry()
    types.add("object", None)
    tree = QomTree(types)
    backends = Backends(
        tree,
        host=HostMemory(commit_limit=commit_limit),
        probe=probe or FakeProbe({}),
        defaults=BackendDefaults(),
    )
    tree.root.add_child("objects", backends.objects)
    return backends


def add(
    backends: Backends, obj_id: str, qom_type: str = "memory-backend-ram", **props: JSONValue
) -> MemoryBackend:
    members = {key.replace("_", "-"): value for key, value in props.items()}
    obj = backends.object_add(qom_type, obj_id, members)
    assert isinstance(obj, MemoryBackend)
    return obj


def refused(
    backends: Backends, obj_id: str, qom_type: str = "memory-backend-ram", **props: JSONValue
) -> MachineError:
    with pytest.raises(MachineError) as err:
        add(backends, obj_id, qom_type, **props)
    return err.value


# -- object-add ---------------------------------------------------------------------------


def test_defaults_and_region_alignment() -> None:
    backends = make_backends()
    ram = add(backends, "m1", size=GiB)
    assert (ram.merge, ram.dump, ram.prealloc, ram.share, ram.reserve) == (
        True,
        True,
        False,
        False,
        True,
    )
    assert ram.policy == "default" and ram.host_nodes == set()
    assert ram.alignment == 2 * MiB
    assert ram.path == "/objects/m1"
    memfd = add(backends, "mf", "memory-backend-memfd", size=3 * MiB)
    assert memfd.share is True and memfd.seal is True and memfd.alignment == 4096


def test_unaligned_ram_size_is_accepted() -> None:
    backends = make_backends()
    assert add(backends, "mr", size=1000).size == 1000


@pytest.mark.parametrize("bad_id", ["1bad", "", "a/b", "a b", "é"])
def test_bad_id(bad_id: str) -> None:
    err = refused(make_backends(), bad_id, size=MiB)
    assert err.message == "Parameter 'id' expects an identifier"
    assert (
        err.hint == "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter."
    )


def test_id_characters_allowed() -> None:
    add(make_backends(), "a-b.c_d9", size=MiB)


def test_size_zero() -> None:
    err = refused(make_backends(), "m0", size=0)
    assert err.message == "property 'size' of memory-backend-ram doesn't take value '0'"
    err = refused(make_backends(), "m0", "memory-backend-memfd", size=0)
    assert err.message == "property 'size' of memory-backend-memfd doesn't take value '0'"


def test_prealloc_with_reserve_off() -> None:
    err = refused(make_backends(), "m0", size=GiB, prealloc=True, reserve=False)
    assert err.message == "'prealloc=on' and 'reserve=off' are incompatible"


def test_host_nodes_value_out_of_range() -> None:
    err = refused(make_backends(), "m0", size=MiB, host_nodes=[5000], policy="bind")
    assert err.message == "Invalid host-nodes value: 5000"


def test_duplicate_id_comes_after_property_checks() -> None:
    backends = make_backends()
    add(backends, "mq", size=MiB)
    assert refused(backends, "mq", size=MiB).message == (
        "attempt to add duplicate property 'mq' to object (type 'container')"
    )
    # Property errors are found first (QEMU sets properties before adding the child).
    assert refused(backends, "mq", size=0).message.startswith("property 'size'")


def test_memfd_size_must_be_page_multiple() -> None:
    err = refused(make_backends(), "mf1", "memory-backend-memfd", size=6000)
    assert err.message == (
        "mf1 backing store size 0x1770 is too small for 'size' option 0x2000 plus "
        "'offset' option 0x0"
    )


def test_failed_add_leaves_nothing_behind_and_same_id_can_be_retried() -> None:
    backends = make_backends()
    refused(backends, "mf1", "memory-backend-memfd", size=6000)
    assert backends.get("mf1") is None
    add(backends, "mf1", "memory-backend-memfd", size=8192)


def test_file_backend_open_error() -> None:
    err = refused(make_backends(), "f0", "memory-backend-file", size=GiB, mem_path="/tmp/x/y")
    assert err.message == (
        "can't open backing store /tmp/x/y for guest RAM: No such file or directory"
    )


def test_default_probe_refuses_every_path() -> None:
    backends = Backends(
        QomTree(TypeRegistry()),
        host=HostMemory(commit_limit=GiB),
        probe=NoFileAccess(),
        defaults=BackendDefaults(),
    )
    with pytest.raises(MachineError, match="No such file or directory"):
        backends.object_add("memory-backend-file", "f", {"size": MiB, "mem-path": "/x"})


def test_file_backend_alignment_and_size_checks() -> None:
    probe = FakeProbe(
        {
            "/hp/f": PathInfo(page_size=2 * MiB),
            "/d/small": PathInfo(size=MiB),
            "/d/new": PathInfo(),
        }
    )
    backends = make_backends(probe=probe)
    huge = add(backends, "h", "memory-backend-file", size=4 * MiB, mem_path="/hp/f")
    assert huge.alignment == 2 * MiB and huge.page_size == 2 * MiB
    aligned = add(
        backends, "a", "memory-backend-file", size=3 * MiB, mem_path="/d/new", align=4 * MiB
    )
    assert aligned.alignment == 4 * MiB
    err = refused(backends, "s", "memory-backend-file", size=2 * MiB, mem_path="/d/small")
    assert err.message == (
        "s backing store size 0x100000 is too small for 'size' option 0x200000 plus "
        "'offset' option 0x0"
    )
    err = refused(backends, "o", "memory-backend-file", size=2 * MiB, mem_path="/d/new", align=4097)
    assert err.message == "alignment 0x1001 must be multiples of page size 0x1000"
    assert probe.asked[0] == ("/hp/f", False)


def test_file_backend_readonly_rom() -> None:
    backends = make_backends(probe=FakeProbe({"/d/f": PathInfo()}))
    ro = add(backends, "ro", "memory-backend-file", size=MiB, mem_path="/d/f", readonly=True)
    assert ro.readonly is True
    err = refused(backends, "x", "memory-backend-file", size=MiB, mem_path="/d/f", rom="on")
    assert err.message == "property 'rom' = 'on' is not supported with 'readonly' = 'off'"


def test_commit_limit() -> None:
    backends = make_backends(commit_limit=23 * GiB)
    err = refused(backends, "m64", size=64 * GiB)
    assert err.message == "cannot set up guest memory 'm64': Cannot allocate memory"
    add(backends, "big", size=1 << 40, reserve=False)
    add(backends, "m20", size=20 * GiB)
    assert refused(backends, "m4", size=4 * GiB).message.endswith("Cannot allocate memory")
    # QEMU aborts on size 2^64-1; we refuse it even without reservation.
    assert refused(backends, "mm", size=(1 << 64) - 1, reserve=False).message == (
        "cannot set up guest memory 'mm': Cannot allocate memory"
    )


def test_policy_checks_come_after_allocation() -> None:
    backends = make_backends()
    assert refused(backends, "m0", size=GiB, policy="bind").message == (
        "host-nodes must be set for policy bind"
    )
    assert refused(backends, "m0", size=GiB, host_nodes=[0]).message == (
        "host-nodes must be empty for policy default, or you should explicitly specify a "
        "policy other than default"
    )
    assert refused(backends, "m0", size=64 * GiB, policy="bind").message.endswith(
        "Cannot allocate memory"
    )


def test_properties_are_set_in_qdict_order() -> None:
    # Recorded: size=1G,policy=bind,size=0 -> the size error, not the policy one.
    backends = make_backends()
    err = refused(backends, "m0", size=0, policy="bind")
    assert err.message == "property 'size' of memory-backend-ram doesn't take value '0'"


# -- after creation -----------------------------------------------------------------------


def test_mutability_rules() -> None:
    backends = make_backends()
    ram = add(backends, "pc_ram", size=GiB)
    with pytest.raises(MachineError) as err:
        ram.set_json("size", 5)
    assert err.value.message == "cannot change property size of memory-backend-ram "
    for name in ("share", "reserve"):
        with pytest.raises(MachineError) as err:
            ram.set_json(name, True)
        assert err.value.message == "cannot change property value"
    with pytest.raises(MachineError) as err:
        ram.set_json("prealloc-threads", 0)
    assert err.value.message == (
        "property 'prealloc-threads' of memory-backend-ram doesn't take value '0'"
    )
    with pytest.raises(MachineError) as err:
        ram.set_json("prealloc-threads", -1)
    assert err.value.message == "Parameter 'prealloc-threads' expects uint32_t"
    with pytest.raises(MachineError) as err:
        ram.set_text("prealloc-threads", "x", InputStyle.STRING)
    assert err.value.message == "Parameter 'prealloc-threads' expects uint64"
    with pytest.raises(MachineError) as err:
        ram.set_json("policy", "bogus")
    assert err.value.message == "Parameter 'policy' does not accept value 'bogus'"
    with pytest.raises(MachineError) as err:
        ram.set_json("type", "x")
    assert err.value.message == "Property 'memory-backend-ram.type' is not writable"
    ram.set_json("merge", False)
    ram.set_text("dump", "off", InputStyle.STRING)
    assert (ram.get("merge"), ram.get("dump")) == (False, False)
    ram.set_json("host-nodes", [1])
    ram.set_json("host-nodes", [0])
    assert ram.get("host-nodes") == [0, 1]
    ram.set_json("prealloc", True)
    ram.set_json("prealloc", False)
    assert ram.get("prealloc") is True


def test_state_checks_come_before_the_value_check() -> None:
    # hostmem.c/hostmem-file.c/hostmem-memfd.c: setters that visit the value themselves
    # refuse a created backend whatever the value; bool/str properties convert first.
    backends = make_backends(probe=FakeProbe({"/dev/hugepages": PathInfo(page_size=2 * MiB)}))
    ram = add(backends, "r", size=GiB)
    memfd = add(backends, "mf", "memory-backend-memfd", size=2 * MiB)
    file = add(backends, "f", "memory-backend-file", size=2 * MiB, mem_path="/dev/hugepages")
    cases: list[tuple[MemoryBackend, str, JSONValue, str]] = [
        (ram, "size", "1G", "cannot change property size of memory-backend-ram "),
        (memfd, "hugetlbsize", "x", "cannot change property value"),
        (file, "align", "x", "cannot change property 'align' of memory-backend-file"),
        (file, "offset", -1, "cannot change property 'offset' of memory-backend-file"),
        (file, "rom", 1, "cannot change property 'rom' of memory-backend-file."),
        (ram, "share", "x", "Invalid parameter type for 'share', expected: boolean"),
        (file, "readonly", 1, "Invalid parameter type for 'readonly', expected: boolean"),
        (file, "mem-path", 1, "Invalid parameter type for 'mem-path', expected: string"),
    ]
    for backend, name, value, message in cases:
        with pytest.raises(MachineError) as err:
            backend.set_json(name, value)
        assert err.value.message == message, name
    with pytest.raises(MachineError) as err:
        ram.set_text("size", "x", InputStyle.STRING)
    assert err.value.message == "cannot change property size of memory-backend-ram "
    # Before creation the value is checked as usual.
    fresh = MemoryBackend(BackendKind.RAM, "n", defaults=BackendDefaults())
    with pytest.raises(MachineError) as err:
        fresh.set_json("size", "1G")
    assert err.value.message == "Parameter 'size' expects uint64"


def test_memfd_hugetlb_and_seal_stay_writable() -> None:
    # hostmem-memfd.c: only hugetlbsize is fixed once the memory exists.
    memfd = add(make_backends(), "mf", "memory-backend-memfd", size=2 * MiB)
    memfd.set_json("hugetlb", True)
    memfd.set_json("seal", False)
    assert (memfd.get("hugetlb"), memfd.get("seal")) == (True, False)
    with pytest.raises(MachineError) as err:
        memfd.set_json("hugetlbsize", 2 * MiB)
    assert err.value.message == "cannot change property value"


def test_shm_backend_is_shared_only() -> None:
    backends = make_backends()
    shm = add(backends, "s0", "memory-backend-shm", size=2 * MiB)
    assert shm.get("share") is True
    assert refused(backends, "s1", "memory-backend-shm", size=2 * MiB, share=False).message == (
        "can't create shm backend with `share=off`"
    )
    with pytest.raises(MachineError) as err:
        shm.set_json("share", False)
    assert err.value.message == "cannot change property value"


def test_qom_listing_of_a_backend() -> None:
    backends = make_backends()
    ram = add(backends, "pc.ram", size=GiB)
    lines = (RECORDED / "qom-tree.txt").read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if '"path":"/objects/pc.ram"}' in line)
    expected = json.loads(lines[index + 1][3:])["return"]
    assert [{"name": p.name, "type": p.type} for p in ram.properties()] == expected


# -- object-del ---------------------------------------------------------------------------


def test_object_del() -> None:
    backends = make_backends()
    b3 = add(backends, "b3", size=MiB)
    with pytest.raises(MachineError) as err:
        backends.object_del("nope")
    assert err.value.message == "object 'nope' not found"
    with pytest.raises(MachineError) as err:
        backends.object_del("/objects/b3")
    assert err.value.message == "object '/objects/b3' not found"
    b3.set_mapped(True)
    with pytest.raises(MachineError) as err:
        backends.object_del("b3")
    assert err.value.message == "object 'b3' is in use, can not be deleted"
    b3.set_mapped(False)
    backends.object_del("b3")
    assert backends.get("b3") is None
    assert backends.query_memdev() == []


# -- query-memdev -------------------------------------------------------------------------


def test_query_memdev_members_in_schema_order() -> None:
    backends = make_backends()
    add(backends, "mx", size=MiB, host_nodes=[0], policy="bind")
    (entry,) = backends.query_memdev()
    assert list(entry) == [
        "id",
        "size",
        "merge",
        "dump",
        "prealloc",
        "share",
        "reserve",
        "host-nodes",
        "policy",
    ]
    assert entry == {
        "id": "mx",
        "size": MiB,
        "merge": True,
        "dump": True,
        "prealloc": False,
        "share": False,
        "reserve": True,
        "host-nodes": [0],
        "policy": "bind",
    }


def test_query_memdev_order_replays_the_recorded_sessions() -> None:
    """Every query-memdev / qom-list of /objects in objects-order.txt, in order."""
    text = (RECORDED / "objects-order.txt").read_text()
    checked = 0
    for part in text.split("# A longer"):
        backends = make_backends()
        add(backends, "pc.ram", size=GiB)
        lines = part.splitlines()
        for index, line in enumerate(lines):
            if not line.startswith("-> "):
                continue
            request = json.loads(line[3:])
            reply = json.loads(lines[index + 1][3:])
            args = request.get("arguments", {})
            if request["execute"] == "object-add":
                add(backends, args["id"], size=args["size"])
            elif request["execute"] == "object-del":
                backends.object_del(args["id"])
            elif request["execute"] == "query-memdev":
                got = [e["id"] for e in backends.query_memdev()]
                assert got == [e["id"] for e in reply["return"]]
                checked += 1
            else:
                names = [p.name for p in backends.objects.properties()]
                assert names == [e["name"] for e in reply["return"]]
                checked += 1
    assert checked == 98


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=80))
def test_child_order_is_a_permutation_of_the_live_keys(ops: list[tuple[bool, int]]) -> None:
    order = ChildOrder()
    live: set[str] = set()
    for is_add, number in ops:
        key = f"k{number}"
        if is_add:
            order.insert(key)
            live.add(key)
        else:
            order.remove(key)
            live.discard(key)
        got = order.order()
        assert sorted(got) == sorted(live) and len(got) == len(set(got))


_KINDS = st.sampled_from(["memory-backend-ram", "memory-backend-memfd", "memory-backend-file"])


@settings(max_examples=60, derandomize=True, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 12), st.integers(1, 8), _KINDS,
                          st.booleans()), max_size=60))
def test_committed_total_follows_adds_deletes_and_refusals(
    ops: list[tuple[bool, int, int, str, bool]],
) -> None:
    """The running commit total equals the sum over live backends after every step,
    whether the step succeeded or was refused (over the limit, duplicate id, bad path)."""
    backends = make_backends(commit_limit=20 * GiB, probe=FakeProbe({"/d/f": PathInfo()}))
    for is_add, number, gib, kind, reserve in ops:
        obj_id = f"m{number}"
        try:
            if is_add:
                # file backends without mem-path (every third id) are refused
                path: dict[str, JSONValue] = (
                    {"mem_path": "/d/f"} if kind.endswith("file") and number % 3 else {}
                )
                add(backends, obj_id, kind, size=gib * GiB, reserve=reserve, **path)
            else:
                backends.object_del(obj_id)
        except MachineError:
            pass
        live = [b for b in backends.objects.children() if isinstance(b, MemoryBackend)]
        assert backends.committed() == sum(b.committed_bytes for b in live)
        assert backends.committed() <= 20 * GiB
    for backend in backends.all():
        backends.object_del(backend.id)
    assert backends.committed() == 0


# -- user objects -------------------------------------------------------------------------


class Guest(QomObject):
    def __init__(self, props: Mapping[str, JSONValue]) -> None:
        super().__init__("hvb-guest")
        self.props = dict(props)
        self.busy = False

    def can_be_deleted(self) -> bool:
        return not self.busy


def test_registered_user_object_types() -> None:
    backends = make_backends()
    created: list[Guest] = []

    def factory(obj_id: str, props: Mapping[str, JSONValue]) -> QomObject:
        if props.get("bad"):
            raise MachineError("bad guest")
        guest = Guest(props)
        created.append(guest)
        return guest

    backends.register_object_type(UserObjectType("hvb-guest", "object", factory))
    backends.object_add("hvb-guest", "g", {"mode": "ospm"})
    assert created[0].props == {"mode": "ospm"}
    assert backends.query_memdev() == []
    with pytest.raises(MachineError, match="bad guest"):
        backends.object_add("hvb-guest", "g2", {"bad": True})
    with pytest.raises(MachineError, match="duplicate property 'g'"):
        backends.object_add("hvb-guest", "g", {})
    created[0].busy = True
    with pytest.raises(MachineError) as err:
        backends.object_del("g")
    assert err.value.message == "object 'g' is in use, can not be deleted"
    created[0].busy = False
    backends.object_del("g")
    assert backends.qom.types.is_a("hvb-guest", "user-creatable")


def test_backend_kinds_are_registered_types() -> None:
    backends = make_backends()
    names = [
        t.name for t in backends.qom.types.list_types(implements="memory-backend", abstract=True)
    ]
    assert names == [
        "memory-backend-ram",
        "memory-backend-file",
        "memory-backend-memfd",
        "memory-backend",
        "memory-backend-shm",
    ]
    assert {k.value for k in BackendKind} < set(names)


def test_unregistered_object_type() -> None:
    with pytest.raises(MachineError) as err:
        make_backends().object_add("hvb-guest", "guest", {})
    assert err.value.message == "invalid object type: hvb-guest"
