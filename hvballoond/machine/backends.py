"""Memory backends (``memory-backend-ram/file/memfd/shm``) and the ``/objects`` container.

Spec: machine-memory.md §5. A backend is a QOM object under ``/objects/<id>``; memory
devices (and the machine's main RAM) *map* it, after which it is busy and cannot be
deleted. hvballoond never allocates or touches host memory: allocation failure (§5.3 #11) is
decided by a host commit model (:class:`HostMemory`), and ``memory-backend-file`` only looks
at ``mem-path`` through an injected :class:`FileProbe` (no file is ever created or written).

Public surface for the devices/balloon engineers:

* ``machine.backends.get(id)`` / ``backend_at(path)`` -> :class:`MemoryBackend`
* ``MemoryBackend.size``, ``.id``, ``.path`` (``/objects/<id>``), ``.alignment`` (region
  alignment A, §5.5), ``.page_size``, ``.is_mapped``, ``.set_mapped(bool)``,
  ``.is_ram``, ``.readonly``, ``.prealloc``, ``.share``
* ``machine.backends.object_add(...)`` / ``object_del(id)`` / ``query_memdev()``
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Final, Protocol

import structlog

from hvballoond.machine.errors import MachineError
from hvballoond.machine.qdev import qdict_order
from hvballoond.machine.qom import (
    BoolCodec,
    EnumCodec,
    HashOrderedContainer,
    InputStyle,
    IntCodec,
    Property,
    QomObject,
    QomTree,
    SizeCodec,
    StrCodec,
)
from hvballoond.machine.units import MiB, align_up, hx
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = [
    "BACKEND_TYPES",
    "ID_HINT",
    "BackendKind",
    "Backends",
    "FileProbe",
    "HostMemory",
    "MemoryBackend",
    "NoFileAccess",
    "ObjectFactory",
    "ObjectsContainer",
    "PathInfo",
    "UserObjectType",
    "check_id",
]

log = structlog.get_logger(__name__)

MAX_NODES: Final = 128
#: QEMU_VMALLOC_ALIGN on x86_64 Linux: the region alignment of anonymous RAM (§5.5).
VMALLOC_ALIGN: Final = 2 * MiB
HOST_MEM_POLICIES: Final = ("default", "preferred", "bind", "interleave")
ID_HINT: Final = "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter."
_ID_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9\-._]*")


class BackendKind(StrEnum):
    """The backend QOM types hvballoond implements."""

    RAM = "memory-backend-ram"
    FILE = "memory-backend-file"
    MEMFD = "memory-backend-memfd"
    SHM = "memory-backend-shm"


#: (name, parent, abstract) in the order ``qom-list-types implements=memory-backend``
#: printed them on the reference binary (§10.8 example).
BACKEND_TYPES: Final = (
    ("memory-backend-ram", "memory-backend", False),
    ("memory-backend-file", "memory-backend", False),
    ("memory-backend-memfd", "memory-backend", False),
    ("memory-backend", "object", True),
    ("memory-backend-shm", "memory-backend", False),
)

# Schema order of each branch's members (qapi/qom.json): the QDict object-add builds from
# them is iterated in hash order when the properties are set (qom/object_interfaces.c).
_COMMON_MEMBERS: Final = (
    "dump",
    "host-nodes",
    "merge",
    "policy",
    "prealloc",
    "prealloc-threads",
    "prealloc-context",
    "share",
    "reserve",
    "size",
    "x-use-canonical-path-for-ramblock-id",
)
_EXTRA_MEMBERS: Final[Mapping[BackendKind, tuple[str, ...]]] = {
    BackendKind.RAM: (),
    BackendKind.SHM: (),
    BackendKind.FILE: ("align", "offset", "discard-data", "mem-path", "readonly", "rom"),
    BackendKind.MEMFD: ("hugetlb", "hugetlbsize", "seal"),
}


#: hostmem.c property descriptions (qom-list-properties).
_DESCRIPTIONS: Final = {
    "share": "Mark the memory as private to QEMU or shared",
    "size": "Size of the memory region (ex: 500M)",
    "dump": "Set to 'off' to exclude from core dump",
    "prealloc-threads": "Number of CPU threads to use for prealloc",
    "policy": "Set the NUMA policy",
    "prealloc-context": "Context to use for creating CPU threads for preallocation",
    "prealloc": "Preallocate memory",
    "reserve": "Reserve swap space (or huge pages) if applicable",
    "host-nodes": "Binds memory to the list of NUMA host nodes",
    "merge": "Mark memory as mergeable",
}


def check_id(obj_id: str) -> None:
    """``id_wellformed``: a letter, then letters, digits, ``-``, ``.``, ``_``.

    Raises:
        MachineError: ``Parameter 'id' expects an identifier`` (with the hint HMP prints).
    """
    if not _ID_RE.fullmatch(obj_id) or not obj_id.isascii():
        raise MachineError("Parameter 'id' expects an identifier", hint=ID_HINT)


# --------------------------------------------------------------------------------------------
# Host facts used by the allocation model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostMemory:
    """What the allocation model knows about the host.

    Attributes:
        commit_limit: bytes that ``reserve=on`` backends may commit in total (default: host
            RAM + swap, read once at startup by the caller).
        page_size: host base page size.
        default_hugetlb_size: the default huge page size (memfd ``hugetlb=on``).
    """

    commit_limit: int
    page_size: int = 4096
    default_hugetlb_size: int = 2 * MiB


@dataclass(frozen=True, slots=True)
class PathInfo:
    """What opening ``mem-path`` read-write would find, as reported by a :class:`FileProbe`.

    Attributes:
        error: ``strerror`` text if the open would fail (``No such file or directory``,
            ``Permission denied``); None if it would succeed (QEMU creates missing files in
            an existing directory, and a temporary file inside a directory).
        size: current size of an existing regular file (0 for new/temporary files).
        page_size: page size of the file system (huge page size on hugetlbfs).
    """

    error: str | None = None
    size: int = 0
    page_size: int = 4096


class FileProbe(Protocol):
    """Looks at a ``mem-path`` without creating or changing anything."""

    def probe(self, path: str, *, readonly: bool) -> PathInfo:
        """Report what opening ``path`` (read-only or read-write) would find."""
        ...

    def note_allocated(self, path: str, size: int) -> None:
        """QEMU created ``path`` (or grew it) to ``size`` bytes; later probes must see that."""
        ...


class NoFileAccess:
    """A probe that refuses every path (the default when no directory is configured)."""

    def probe(self, path: str, *, readonly: bool) -> PathInfo:
        """Every path is reported as missing."""
        return PathInfo(error="No such file or directory")

    def note_allocated(self, path: str, size: int) -> None:
        """Nothing to remember: no path is ever usable."""


# --------------------------------------------------------------------------------------------
# The backend object
# --------------------------------------------------------------------------------------------


class MemoryBackend(QomObject):
    """One memory backend object.

    Attributes:
        id: the object id (``pc.ram`` for the default RAM backend).
        kind: its :class:`BackendKind`.
        size: ``size`` in bytes (the region size devices see, unrounded).
        alignment: region alignment A (§5.5), known once created.
        page_size: page size of the RAM block (host page, or huge page size).
        readonly: the region is read-only (file ``readonly=on`` with ``rom`` on/auto).
    """

    # Property writes to every backend of the process (see Backends.listing_token).
    writes_everywhere: ClassVar[int] = 0

    def __init__(self, kind: BackendKind, obj_id: str, *, defaults: BackendDefaults) -> None:
        super().__init__(kind.value)
        self.kind = kind
        self.id = obj_id
        self.property_writes = 0  # see memdev_key()
        self.size = 0
        self.merge = defaults.merge
        self.dump = defaults.dump
        self.prealloc = False
        self.prealloc_threads = defaults.cpus
        self.prealloc_context: str | None = None
        self.share = kind in (BackendKind.MEMFD, BackendKind.SHM)
        self.reserve = True
        self.host_nodes: set[int] = set()
        self.policy = "default"
        self.use_canonical_path = False
        # memory-backend-file
        self.mem_path: str | None = None
        self.align = 0
        self.offset = 0
        self.discard_data = False
        self.file_readonly = False
        self.rom = "auto"
        # memory-backend-memfd
        self.hugetlb = False
        self.hugetlbsize = 0
        self.seal = True
        # state
        self.created = False
        self.alignment = VMALLOC_ALIGN
        self.page_size = 4096
        self.readonly = False
        self._mapped = False
        self._declare_properties()

    # -- properties -------------------------------------------------------------------------

    def _declare_properties(self) -> None:
        # The order qom-list showed on the reference binary for memory-backend-ram.
        add = self.add_property
        add(Property.typed("share", BoolCodec(), getter=lambda: self.share, setter=self._set_share))
        add(
            Property.typed(
                "size",
                SizeCodec("int"),
                getter=lambda: self.size,
                setter=self._set_size,
                check=self._check_size_mutable,
            )
        )
        add(Property.typed("dump", BoolCodec(), getter=lambda: self.dump, setter=self._set_dump))
        add(
            Property.typed(
                "prealloc-threads",
                IntCodec.UINT32.with_qom_type("int"),
                getter=lambda: self.prealloc_threads,
                setter=self._set_prealloc_threads,
            )
        )
        add(
            Property.typed(
                "x-use-canonical-path-for-ramblock-id",
                BoolCodec(),
                getter=lambda: self.use_canonical_path,
                setter=self._set_canonical,
            )
        )
        add(
            Property.typed(
                "policy",
                EnumCodec("HostMemPolicy", HOST_MEM_POLICIES),
                getter=lambda: self.policy,
                setter=self._set_policy,
            )
        )
        add(Property("prealloc-context", "link<thread-context>", link=lambda: None))
        add(
            Property.typed(
                "prealloc", BoolCodec(), getter=lambda: self.prealloc, setter=self._set_prealloc
            )
        )
        add(
            Property.typed(
                "reserve", BoolCodec(), getter=lambda: self.reserve, setter=self._set_reserve
            )
        )
        add(
            Property(
                "host-nodes",
                "int",
                getter=self._host_nodes_json,
                set_json=self._set_host_nodes_json,
            )
        )
        add(Property.typed("merge", BoolCodec(), getter=lambda: self.merge, setter=self._set_merge))
        if self.kind is BackendKind.FILE:
            add(
                Property.typed(
                    "discard-data",
                    BoolCodec(),
                    getter=lambda: self.discard_data,
                    setter=self._set_discard,
                )
            )
            add(
                Property.typed(
                    "mem-path",
                    StrCodec("string"),
                    getter=lambda: self.mem_path or "",
                    setter=self._set_mem_path,
                )
            )
            add(
                Property.typed(
                    "align",
                    SizeCodec("int"),
                    getter=lambda: self.align,
                    setter=self._set_align,
                    check=self._file_check("'align'"),
                )
            )
            add(
                Property.typed(
                    "offset",
                    SizeCodec("int"),
                    getter=lambda: self.offset,
                    setter=self._set_offset,
                    check=self._file_check("'offset'"),
                )
            )
            add(
                Property.typed(
                    "readonly",
                    BoolCodec(),
                    getter=lambda: self.file_readonly,
                    setter=self._set_file_readonly,
                )
            )
            add(
                Property.typed(
                    "rom",
                    EnumCodec("OnOffAuto", ("auto", "on", "off")),
                    getter=lambda: self.rom,
                    setter=self._set_rom,
                    check=self._file_check("'rom'", suffix="."),
                )
            )
        if self.kind is BackendKind.MEMFD:
            add(
                Property.typed(
                    "hugetlb",
                    BoolCodec(),
                    getter=lambda: self.hugetlb,
                    setter=self._set_hugetlb,
                )
            )
            add(
                Property.typed(
                    "hugetlbsize",
                    SizeCodec("int"),
                    getter=lambda: self.hugetlbsize,
                    setter=self._set_hugetlbsize,
                    check=self._check_hugetlbsize_mutable,
                )
            )
            add(
                Property.typed(
                    "seal",
                    BoolCodec(),
                    getter=lambda: self.seal,
                    setter=self._set_seal,
                )
            )
        for name, text in _DESCRIPTIONS.items():
            prop = self.find_property(name)
            if prop is not None:
                prop.description = text

    # Setters of properties QEMU visits itself (size, hugetlbsize, align, offset, rom) test
    # the state before the value: these checks run before the value is converted.

    def _check_size_mutable(self) -> None:
        if self.created:
            # hostmem.c host_memory_backend_set_size: note the trailing space.
            raise MachineError(f"cannot change property size of {self.qom_type} ")

    def _check_hugetlbsize_mutable(self) -> None:
        if self.created:
            raise MachineError("cannot change property value")

    def _file_check(self, quoted_name: str, *, suffix: str = "") -> Callable[[], None]:
        # hostmem-file.c: "'align'"/"'offset'" without a full stop, "'rom'" with one.
        def check() -> None:
            if self.created:
                raise MachineError(
                    f"cannot change property {quoted_name} of {self.qom_type}{suffix}"
                )

        return check

    def _set_size(self, value: int) -> None:
        if value == 0:
            raise MachineError(f"property 'size' of {self.qom_type} doesn't take value '0'")
        self.size = value

    def _set_share(self, value: bool) -> None:
        if self.created:
            raise MachineError("cannot change property value")
        self.share = value

    def _set_reserve(self, value: bool) -> None:
        if self.created:
            raise MachineError("cannot change property value")
        if self.prealloc and not value:
            raise MachineError("'prealloc=on' and 'reserve=off' are incompatible")
        self.reserve = value

    def _set_prealloc(self, value: bool) -> None:
        if not self.reserve and value:
            raise MachineError("'prealloc=on' and 'reserve=off' are incompatible")
        if not self.created:
            self.prealloc = value
        elif value and not self.prealloc:
            # Turning it on later preallocates at once; switching it off is ignored.
            self.prealloc = True

    def _set_prealloc_threads(self, value: int) -> None:
        if value <= 0:
            raise MachineError(
                f"property 'prealloc-threads' of {self.qom_type} doesn't take value '{value}'"
            )
        self.prealloc_threads = value

    def _set_merge(self, value: bool) -> None:
        self.merge = value

    def _set_dump(self, value: bool) -> None:
        self.dump = value

    def _set_canonical(self, value: bool) -> None:
        self.use_canonical_path = value

    def _set_policy(self, value: str) -> None:
        self.policy = value

    def set_host_nodes(self, nodes: Sequence[int]) -> None:
        """``host-nodes`` setter: every entry must be below MAX_NODES; bits accumulate."""
        for node in nodes:
            if node >= MAX_NODES:
                raise MachineError(f"Invalid host-nodes value: {node}")
        self.host_nodes.update(nodes)

    def memdev_info(self) -> JSONObject:
        """The ``query-memdev`` element, members inserted in schema order (§5.8)."""
        return {
            "id": self.id,
            "size": self.size,
            "merge": self.merge,
            "dump": self.dump,
            "prealloc": self.prealloc,
            "share": self.share,
            "reserve": self.reserve,
            "host-nodes": self._host_nodes_json(),
            "policy": self.policy,
        }

    def memdev_key(self) -> Hashable:
        """A value that changes whenever :meth:`memdev_info` would (see ``md_info_key``).

        Every member query-memdev shows changes only through a property setter, so the
        count of property writes is such a value; it is much cheaper than a tuple of the
        members when thousands of backends are listed.
        """
        return self.property_writes

    def set_json(self, name: str, value: JSONValue) -> None:
        """``qom-set`` with a JSON value (counted, see :meth:`memdev_key`)."""
        self._count_write()
        super().set_json(name, value)

    def set_text(self, name: str, text: str, style: InputStyle) -> None:
        """Set a property from an option string (counted, see :meth:`memdev_key`)."""
        self._count_write()
        super().set_text(name, text, style)

    def _count_write(self) -> None:
        self.property_writes += 1
        MemoryBackend.writes_everywhere += 1

    def _host_nodes_json(self) -> JSONValue:
        return [int(n) for n in sorted(self.host_nodes)]

    def _set_host_nodes_json(self, value: JSONValue) -> None:
        if not isinstance(value, list):
            raise MachineError("Invalid parameter type for 'host-nodes', expected: array")
        nodes = [IntCodec.UINT16.from_json("null", item) for item in value]
        self.set_host_nodes(nodes)

    def _set_align(self, value: int) -> None:
        self.align = value

    def _set_offset(self, value: int) -> None:
        self.offset = value

    def _set_discard(self, value: bool) -> None:
        self.discard_data = value

    def _set_mem_path(self, value: str) -> None:
        if self.created:
            raise MachineError(f"cannot change property 'mem-path' of {self.qom_type}")
        self.mem_path = value

    def _set_file_readonly(self, value: bool) -> None:
        if self.created:
            raise MachineError(f"cannot change property 'readonly' of {self.qom_type}.")
        self.file_readonly = value

    def _set_rom(self, value: str) -> None:
        self.rom = value

    # hostmem-memfd.c: ``hugetlb`` and ``seal`` may change at any time (the value is only
    # read when the memory is allocated); ``hugetlbsize`` is fixed once allocated.

    def _set_hugetlb(self, value: bool) -> None:
        self.hugetlb = value

    def _set_hugetlbsize(self, value: int) -> None:
        if value == 0:
            raise MachineError(
                f"Property '{self.qom_type}.hugetlbsize' doesn't take value '{value}'"
            )
        self.hugetlbsize = value

    def _set_seal(self, value: bool) -> None:
        self.seal = value

    # -- state ------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """``/objects/<id>`` (the ``memdev`` string query-memory-devices shows)."""
        return self.canonical_path()

    @property
    def is_mapped(self) -> bool:
        """True while a device or the machine uses the backend (busy, §5.6)."""
        return self._mapped

    def set_mapped(self, mapped: bool) -> None:
        """Mark the backend mapped (at a device's plug) or unmapped (at its removal)."""
        self._mapped = mapped

    @property
    def is_ram(self) -> bool:
        """``memory_region_is_ram``: every backend we model is RAM."""
        return True

    @property
    def committed_bytes(self) -> int:
        """Bytes this backend commits in the host model (0 with ``reserve=off``)."""
        if not self.created or not self.reserve or self.kind is BackendKind.FILE:
            return 0
        return self.size


@dataclass(frozen=True, slots=True)
class BackendDefaults:
    """Machine-derived defaults (hostmem.c host_memory_backend_init).

    Attributes:
        merge: machine ``mem-merge``.
        dump: machine ``dump-guest-core``.
        cpus: ``-smp`` CPU count (the prealloc-threads default).
    """

    merge: bool = True
    dump: bool = True
    cpus: int = 1


#: Creates a user object from its id and schema-validated properties (raise MachineError).
ObjectFactory = Callable[[str, Mapping[str, JSONValue]], QomObject]


@dataclass(frozen=True, slots=True)
class UserObjectType:
    """A non-backend ``-object``/``object-add`` type contributed by another package.

    Packages export ``OBJECT_TYPES: tuple[UserObjectType, ...]`` next to ``DEVICE_TYPES``
    (see ``catalog.py``). The created object may define ``can_be_deleted() -> bool``
    (``object-del`` then says ``object '<id>' is in use, can not be deleted`` when False).

    Attributes:
        name: the QOM type (``hvb-guest``).
        parent: its parent type (usually ``object``).
        factory: builds the object; its checks run before the object is added to
            ``/objects`` (so a duplicate id is reported after property errors, as in QEMU).
    """

    name: str
    parent: str
    factory: ObjectFactory


class ObjectsContainer(HashOrderedContainer):
    """``/objects``: lists its children in GLib hash order, like QEMU (§5.8, §6)."""


# --------------------------------------------------------------------------------------------
# The registry: object-add / object-del / query-memdev
# --------------------------------------------------------------------------------------------


class Backends:
    """The memory backends of one machine.

    Args:
        qom: the machine's object tree (``/objects`` is created and attached here).
        host: the host allocation model.
        probe: how ``mem-path`` is inspected.
        defaults: machine-derived property defaults.
    """

    def __init__(
        self,
        qom: QomTree,
        *,
        host: HostMemory,
        probe: FileProbe,
        defaults: BackendDefaults,
    ) -> None:
        self.qom = qom
        self.host = host
        self.probe = probe
        # Called with (object, added) when a user object (not a backend) comes or goes: the
        # machine lets objects that act on it (hvb-guest) attach themselves.
        self.object_hooks: list[Callable[[QomObject, bool], None]] = []
        self.defaults = defaults
        self.objects = ObjectsContainer()
        self._committed = 0  # see committed()
        self._user_types: dict[str, UserObjectType] = {}
        for name, parent, abstract in BACKEND_TYPES:
            qom.types.add(name, parent, abstract=abstract, interfaces=("user-creatable",))

    def register_object_type(self, spec: UserObjectType) -> None:
        """Accept ``spec.name`` in ``object-add``/``-object`` (and register its QOM type)."""
        self.qom.types.add(spec.name, spec.parent, interfaces=("user-creatable",))
        self._user_types[spec.name] = spec

    # -- lookup -----------------------------------------------------------------------------

    def get(self, obj_id: str) -> MemoryBackend | None:
        """The backend with id ``obj_id``."""
        found = self.objects.child(obj_id)
        return found if isinstance(found, MemoryBackend) else None

    def listing_token(self) -> Hashable:
        """A value that changes whenever :meth:`all` or an entry of ``query-memdev`` may
        have: the ``/objects`` listing's version and the count of backend property writes."""
        return (self.objects.order.version, MemoryBackend.writes_everywhere)

    def all(self) -> list[MemoryBackend]:
        """Every backend, in ``query-memdev`` order."""
        return [
            kid for kid in self.objects.children_in_query_order() if isinstance(kid, MemoryBackend)
        ]

    def committed(self) -> int:
        """Bytes committed by all backends in the host model.

        Kept as a running total (a backend's share is fixed once it is created, and only
        creation and object-del change the set): summing per object-add made creating n
        backends cost O(n^2).
        """
        return self._committed

    # -- object-add -------------------------------------------------------------------------

    def object_add(
        self,
        qom_type: str,
        obj_id: str,
        props: Mapping[str, JSONValue],
        *,
        style: InputStyle = InputStyle.JSON,
    ) -> QomObject:
        """Create a backend (§5.3 checks #4-#13 in QEMU's order) or a registered user object.

        ``props`` are the schema-validated branch members (``qom-type``/``id`` excluded),
        JSON-typed. ``style`` is only used for members given as text.

        Raises:
            MachineError: QEMU's message; nothing is left behind on failure.
        """
        check_id(obj_id)
        user_type = self._user_types.get(qom_type)
        if user_type is not None:
            return self._add_user_object(user_type, obj_id, props)
        if qom_type not in {kind.value for kind in BackendKind}:
            # qom/object_interfaces.c user_creatable_add_type: no such object type here.
            raise MachineError(f"invalid object type: {qom_type}")
        kind = BackendKind(qom_type)
        backend = MemoryBackend(kind, obj_id, defaults=self.defaults)
        schema_order = [m for m in (*_COMMON_MEMBERS, *_EXTRA_MEMBERS[kind]) if m in props]
        schema_order += [m for m in props if m not in schema_order]
        for key in qdict_order(schema_order):
            value = props[key]
            if isinstance(value, str) and style is not InputStyle.JSON:
                backend.set_text(key, value, style)
            else:
                backend.set_json(key, value)
        self.objects.add_child(obj_id, backend)
        try:
            self._complete(backend)
        except MachineError:
            self.objects.remove_child(obj_id)
            raise
        log.info("machine.backend.created", id=obj_id, qom_type=qom_type, size_bytes=backend.size)
        return backend

    def _add_user_object(
        self, spec: UserObjectType, obj_id: str, props: Mapping[str, JSONValue]
    ) -> QomObject:
        obj = spec.factory(obj_id, props)
        self.objects.add_child(obj_id, obj)
        for hook in self.object_hooks:
            hook(obj, True)
        log.info("machine.object.created", id=obj_id, qom_type=spec.name)
        return obj

    def _complete(self, backend: MemoryBackend) -> None:
        # backends/hostmem.c host_memory_backend_memory_complete and the type's alloc().
        if backend.size == 0:
            raise MachineError("can't create backend with size 0")
        page = self.host.page_size
        kind = backend.kind
        if kind is BackendKind.SHM and not backend.share:
            raise MachineError("can't create shm backend with `share=off`")
        if kind is BackendKind.FILE:
            self._complete_file(backend)
        elif kind is BackendKind.MEMFD:
            if backend.hugetlb:
                page = backend.hugetlbsize or self.host.default_hugetlb_size
            backend.page_size = page
            padded = align_up(backend.size, page)
            if padded != backend.size:
                raise MachineError(
                    f"{backend.id} backing store size {hx(backend.size)} is too small for "
                    f"'size' option {hx(padded)} plus 'offset' option 0x0"
                )
            backend.alignment = page
        else:
            backend.page_size = page
            backend.alignment = VMALLOC_ALIGN
        self._commit(backend)
        self._check_policy(backend)
        backend.created = True
        self._committed += backend.committed_bytes
        # The RAM block's memory region, as qom-list shows it (``m0[0]``).
        backend.add_child(f"{backend.id}[0]", QomObject("memory-region"))

    def _complete_file(self, backend: MemoryBackend) -> None:
        if backend.mem_path is None:
            raise MachineError("mem-path property not set")
        if backend.rom == "on" and not backend.file_readonly:
            raise MachineError("property 'rom' = 'on' is not supported with 'readonly' = 'off'")
        if backend.rom == "off" and backend.file_readonly and backend.share:
            raise MachineError(
                "property 'rom' = 'off' is incompatible with 'readonly' = 'on' and 'share' = 'on'"
            )
        info = self.probe.probe(backend.mem_path, readonly=backend.file_readonly)
        if info.error is not None:
            raise MachineError(
                f"can't open backing store {backend.mem_path} for guest RAM: {info.error}"
            )
        page = info.page_size
        if backend.align % page:
            raise MachineError(
                f"alignment {hx(backend.align)} must be multiples of page size {hx(page)}"
            )
        if backend.align and backend.align & (backend.align - 1):
            raise MachineError(f"alignment {hx(backend.align)} must be a power of two")
        if backend.offset % page:
            raise MachineError(
                f"offset {hx(backend.offset)} must be multiples of page size {hx(page)}"
            )
        padded = align_up(backend.size, page)
        if info.size and info.size < backend.offset + padded:
            raise MachineError(
                f"{backend.id} backing store size {hx(info.size)} is too small for 'size' "
                f"option {hx(padded)} plus 'offset' option {hx(backend.offset)}"
            )
        if padded < page:
            raise MachineError(
                f"memory size {hx(padded)} must be equal to or larger than page size {hx(page)}"
            )
        backend.page_size = page
        backend.alignment = max(page, backend.align)
        # QEMU resolves rom=auto at allocation; qom-get shows the resolved value afterwards.
        backend.rom = backend.rom if backend.rom != "auto" else (
            "on" if backend.file_readonly else "off")
        backend.readonly = backend.rom == "on"
        if not backend.file_readonly:
            # QEMU creates a missing file and grows a short one to offset + size.
            self.probe.note_allocated(backend.mem_path, backend.offset + padded)

    def _commit(self, backend: MemoryBackend) -> None:
        # §5.3 #11 (proposal): reserve=on backends are committed against the host limit;
        # absurd sizes (QEMU 10.0.2 aborts on them) always fail.
        size = backend.size
        counts = backend.reserve and backend.kind is not BackendKind.FILE
        if size >= 1 << 63 or (counts and self.committed() + size > self.host.commit_limit):
            raise MachineError(f"cannot set up guest memory '{backend.id}': Cannot allocate memory")

    @staticmethod
    def _check_policy(backend: MemoryBackend) -> None:
        if backend.host_nodes and backend.policy == "default":
            raise MachineError(
                "host-nodes must be empty for policy default, or you should explicitly "
                "specify a policy other than default"
            )
        if not backend.host_nodes and backend.policy != "default":
            raise MachineError(f"host-nodes must be set for policy {backend.policy}")

    # -- object-del -------------------------------------------------------------------------

    def object_del(self, obj_id: str) -> None:
        """``object-del`` (§5.4): only ids, never paths; mapped backends are in use."""
        obj = self.objects.child(obj_id)
        if obj is None:
            raise MachineError(f"object '{obj_id}' not found")
        can_be_deleted = getattr(obj, "can_be_deleted", None)
        busy = (
            obj.is_mapped
            if isinstance(obj, MemoryBackend)
            else (callable(can_be_deleted) and not can_be_deleted())
        )
        if busy:
            raise MachineError(f"object '{obj_id}' is in use, can not be deleted")
        self.objects.remove_child(obj_id)
        if isinstance(obj, MemoryBackend):
            self._committed -= obj.committed_bytes
        if not isinstance(obj, MemoryBackend):
            for hook in self.object_hooks:
                hook(obj, False)
        log.info("machine.backend.deleted", id=obj_id)

    # -- query-memdev -----------------------------------------------------------------------

    def query_memdev(self) -> list[JSONObject]:
        """``query-memdev`` elements, members inserted in schema order (§5.8)."""
        return [backend.memdev_info() for backend in self.all()]
