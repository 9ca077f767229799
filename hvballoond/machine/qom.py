"""A QOM-like object model: types, objects, properties and path resolution.

QEMU exposes its internals as a tree of objects (``/machine/peripheral/d1``,
``/objects/mem1``) whose named, typed properties clients read and write with ``qom-get`` /
``qom-set`` / ``qom-list``. This module reproduces the parts clients can observe:

* :class:`TypeRegistry` -- type names, parents, abstract flags and interfaces, for
  ``qom-list-types`` and for "is-a" checks (``link<memory-backend>`` accepts any backend).
* :class:`QomObject` -- a tree node with properties. Children are properties too
  (``child<pc-dimm>``), and so are links (``link<memory-backend>``), which paths may follow.
* :class:`Property` and the value codecs (:class:`BoolCodec`, :class:`IntCodec`, ...) that
  turn client input into Python values with QEMU's exact error texts, for the three input
  paths QEMU has (:class:`InputStyle`).
* :func:`resolve_path` -- absolute and partial ("suffix") path lookup exactly like
  ``object_resolve_path_type`` (qom/object.c), including ambiguity.

Nothing here knows about machines or devices; ``qdev.py`` and ``backends.py`` build on it.

How another module declares properties (the common case)::

    obj.add_property(Property.typed("node", IntCodec.UINT32, getter=lambda: dev.node,
                                    setter=dev.set_node))
    obj.add_property(Property.read_only("size", "uint64", lambda: dev.size))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Generic, TypeVar

from hvballoond.machine.errors import MachineError, NotFoundError
from hvballoond.machine.glib_hash import ChildOrder
from hvballoond.machine.strconv import ConversionError, parse_bool, strtoi64, strtosz, strtou64
from hvballoond.wire.values import JSONValue

__all__ = [
    "BoolCodec",
    "Codec",
    "EnumCodec",
    "HashOrderedContainer",
    "HashOrderedObject",
    "InputStyle",
    "IntCodec",
    "Property",
    "QomObject",
    "QomType",
    "Resolution",
    "SizeCodec",
    "StrCodec",
    "TypeRegistry",
    "container",
    "resolve_path",
    "resolve_path_at",
]

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QomType:
    """A QOM type: its name, parent type, abstract flag and implemented interfaces."""

    name: str
    parent: str | None
    abstract: bool = False
    interfaces: tuple[str, ...] = ()


class TypeRegistry:
    """The set of QOM type names a machine knows (one instance per machine; no globals).

    ``qom-list-types`` walks QEMU's type table, a GLib hash table holding every type of the
    binary, so its order is a property of the whole binary rather than of the types listed
    (see ``qom_type_order.py``). ``listing_order`` gives that order; types it does not name
    (hvballoond's own) follow in registration order.

    Args:
        listing_order: type names in the order ``qom-list-types`` prints them.
    """

    def __init__(self, listing_order: Sequence[str] = ()) -> None:
        self._types: dict[str, QomType] = {}
        self._rank = {name: index for index, name in enumerate(listing_order)}

    def register(self, qom_type: QomType) -> None:
        """Add a type (re-registering the same name with the same data is a no-op)."""
        known = self._types.get(qom_type.name)
        if known is not None and known != qom_type:
            raise ValueError(f"QOM type {qom_type.name!r} registered twice, differently")
        self._types[qom_type.name] = qom_type

    def add(
        self,
        name: str,
        parent: str | None,
        *,
        abstract: bool = False,
        interfaces: Sequence[str] = (),
    ) -> None:
        """Shorthand for ``register(QomType(...))``."""
        self.register(QomType(name, parent, abstract, tuple(interfaces)))

    def get(self, name: str) -> QomType | None:
        """The type called ``name``, or None."""
        return self._types.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[QomType]:
        return iter(self._types.values())

    def ancestry(self, name: str) -> list[str]:
        """``name`` and its parents up to the root, nearest first."""
        chain: list[str] = []
        current: str | None = name
        while current is not None and current not in chain:
            chain.append(current)
            known = self._types.get(current)
            current = known.parent if known else None
        return chain

    def is_a(self, name: str, ancestor: str) -> bool:
        """True if ``name`` is ``ancestor``, derives from it, or implements it (interface)."""
        for step in self.ancestry(name):
            if step == ancestor:
                return True
            known = self._types.get(step)
            if known is not None and ancestor in known.interfaces:
                return True
        return False

    def list_types(self, *, implements: str | None = None, abstract: bool = False) -> list[QomType]:
        """``qom-list-types``: types that are-a ``implements``; abstract ones only if asked.

        An unknown ``implements`` gives ``[]`` (qom/qom-qmp-cmds.c).
        """
        if implements is not None and implements not in self._types:
            return []
        out: list[QomType] = []
        for qom_type in self._types.values():
            if qom_type.abstract and not abstract:
                continue
            if implements is not None and not self.is_a(qom_type.name, implements):
                continue
            out.append(qom_type)
        unranked = len(self._rank)
        # sorted() is stable: unranked types keep their registration order.
        return sorted(out, key=lambda qom_type: self._rank.get(qom_type.name, unranked))


# --------------------------------------------------------------------------------------------
# Value codecs: client input -> Python value, with QEMU's visitor messages
# --------------------------------------------------------------------------------------------


class InputStyle(Enum):
    """Which QEMU visitor reads a value; each words its errors differently.

    * ``JSON``: QMP (``qom-set``, ``device_add``, ``object-add``, ``qom-set -j``) --
      qobject input visitor.
    * ``KEYVAL``: ``-device``/``-object``/HMP ``device_add`` option strings -- the keyval
      flavour of the qobject input visitor.
    * ``STRING``: HMP ``qom-set`` without ``-j``, ``-global`` -- the string input visitor.
    """

    JSON = "json"
    KEYVAL = "keyval"
    STRING = "string"


def _expects(name: str, what: str) -> MachineError:
    return MachineError(f"Parameter '{name}' expects {what}")


def _invalid_type(name: str, what: str) -> MachineError:
    return MachineError(f"Invalid parameter type for '{name}', expected: {what}")


class Codec(Generic[T]):
    """Converts client input for one property type; subclasses implement both paths.

    Attributes:
        qom_type: the type string ``qom-list`` shows (``bool``, ``uint64``, ``size``, ...).
    """

    qom_type: str = "any"

    def from_json(self, name: str, value: JSONValue) -> T:
        """Convert a QMP JSON value (``name`` is the property name used in messages)."""
        raise NotImplementedError

    def from_text(self, name: str, text: str, style: InputStyle) -> T:
        """Convert an option-string value (``style`` is KEYVAL or STRING)."""
        raise NotImplementedError


class BoolCodec(Codec[bool]):
    """``bool``."""

    qom_type = "bool"

    def from_json(self, name: str, value: JSONValue) -> bool:
        if not isinstance(value, bool):
            raise _invalid_type(name, "boolean")
        return value

    def from_text(self, name: str, text: str, style: InputStyle) -> bool:
        try:
            return parse_bool(text)
        except ConversionError:
            raise _expects(name, "'on' or 'off'") from None


@dataclass(frozen=True, slots=True)
class _IntSpec:
    signed: bool
    bits: int
    qom_type: str


class IntCodec(Codec[int]):
    """Fixed-width integers: ``int8``..``int64``, ``uint8``..``uint64``.

    Use the class attributes: ``IntCodec.INT32``, ``IntCodec.UINT64``, ...
    ``qom_type`` may be overridden (backends show ``int`` for their uint64 ``size``).
    """

    INT8: IntCodec
    INT16: IntCodec
    INT32: IntCodec
    INT64: IntCodec
    UINT8: IntCodec
    UINT16: IntCodec
    UINT32: IntCodec
    UINT64: IntCodec

    def __init__(self, *, signed: bool, bits: int, qom_type: str | None = None) -> None:
        self.signed = signed
        self.bits = bits
        self.qom_type = qom_type or f"{'' if signed else 'u'}int{bits}"

    def with_qom_type(self, qom_type: str) -> IntCodec:
        """The same conversion, listed under another type string."""
        return IntCodec(signed=self.signed, bits=self.bits, qom_type=qom_type)

    @property
    def _c_name(self) -> str:
        return f"{'' if self.signed else 'u'}int{self.bits}_t"

    def _range_check(self, name: str, value: int) -> int:
        if self.signed:
            low, high = -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        else:
            low, high = 0, (1 << self.bits) - 1
        if not low <= value <= high:
            # qapi-visit-core.c visit_type_intN/uintN: the bare name, or "null".
            raise _expects(name or "null", self._c_name)
        return value

    def from_json(self, name: str, value: JSONValue) -> int:
        if self.signed:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _invalid_type(name, "integer")
            if not -(1 << 63) <= value < (1 << 63):
                raise _invalid_type(name, "integer")
        else:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _expects(name, "uint64")
            if not -(1 << 63) <= value < (1 << 64):
                raise _expects(name, "uint64")
            value &= (1 << 64) - 1
        return value if self.bits == 64 else self._range_check(name, value)

    def from_text(self, name: str, text: str, style: InputStyle) -> int:
        try:
            value = strtoi64(text) if self.signed else strtou64(text)
        except ConversionError:
            if style is InputStyle.KEYVAL:
                raise _expects(name, "integer") from None
            raise _expects(name or "null", "int64" if self.signed else "uint64") from None
        return value if self.bits == 64 else self._range_check(name, value)


IntCodec.INT8 = IntCodec(signed=True, bits=8)
IntCodec.INT16 = IntCodec(signed=True, bits=16)
IntCodec.INT32 = IntCodec(signed=True, bits=32)
IntCodec.INT64 = IntCodec(signed=True, bits=64)
IntCodec.UINT8 = IntCodec(signed=False, bits=8)
IntCodec.UINT16 = IntCodec(signed=False, bits=16)
IntCodec.UINT32 = IntCodec(signed=False, bits=32)
IntCodec.UINT64 = IntCodec(signed=False, bits=64)


class SizeCodec(Codec[int]):
    """``size``: JSON like uint64; text with suffixes (``128M``)."""

    qom_type = "size"

    def __init__(self, qom_type: str = "size") -> None:
        self.qom_type = qom_type

    def from_json(self, name: str, value: JSONValue) -> int:
        return IntCodec.UINT64.from_json(name, value)

    def from_text(self, name: str, text: str, style: InputStyle) -> int:
        try:
            return strtosz(text)
        except ConversionError as err:
            if style is InputStyle.KEYVAL:
                raise _expects(name, "size") from None
            # util/qemu-option.c parse_option_size (string input visitor).
            if err.failure.value == "ERANGE":
                raise MachineError(
                    f"Value '{text}' is out of range for parameter '{name}'"
                ) from None
            raise MachineError(
                f"Parameter '{name}' expects a non-negative number below 2^64",
                hint="Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                "and exabytes, respectively.",
            ) from None


class StrCodec(Codec[str]):
    """``str``/``string`` (and link targets, which are resolved by the setter)."""

    def __init__(self, qom_type: str = "str") -> None:
        self.qom_type = qom_type

    def from_json(self, name: str, value: JSONValue) -> str:
        if not isinstance(value, str):
            raise _invalid_type(name, "string")
        return value

    def from_text(self, name: str, text: str, style: InputStyle) -> str:
        return text


class EnumCodec(Codec[str]):
    """A QAPI enum such as ``OnOffAuto`` or ``HostMemPolicy``; the value is the enum string."""

    def __init__(self, qom_type: str, values: Sequence[str]) -> None:
        self.qom_type = qom_type
        self.values = tuple(values)

    def from_json(self, name: str, value: JSONValue) -> str:
        if not isinstance(value, str):
            raise _invalid_type(name, "string")
        return self._check(name, value)

    def from_text(self, name: str, text: str, style: InputStyle) -> str:
        return self._check(name, text)

    def _check(self, name: str, value: str) -> str:
        if value not in self.values:
            raise MachineError(f"Parameter '{name}' does not accept value '{value}'")
        return value


ON_OFF_AUTO: Final = EnumCodec("OnOffAuto", ("auto", "on", "off"))


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

Getter = Callable[[], JSONValue]
JsonSetter = Callable[[JSONValue], None]
TextSetter = Callable[[str, InputStyle], None]


def _no_check() -> None:
    return None


@dataclass(slots=True)
class Property:
    """A named, typed property of one object.

    Attributes:
        name: property name.
        type: QOM type string shown by ``qom-list`` (``bool``, ``child<pc-dimm>``, ...).
        getter: returns the current value as JSON (None: "not readable").
        set_json: applies a QMP JSON value (None: "not writable").
        set_text: applies an option-string value (None: "not writable").
        child: for ``child<...>`` properties, the child object.
        link: for ``link<...>`` properties, returns the target object (or None when unset);
            path resolution follows links like QEMU does.
        description: optional text (``qom-list-properties``).
        default: the class default shown by ``qom-list-properties`` as ``default-value``,
            boxed in a 1-tuple (None: no default is advertised).
    """

    name: str
    type: str
    getter: Getter | None = None
    set_json: JsonSetter | None = None
    set_text: TextSetter | None = None
    child: QomObject | None = None
    link: Callable[[], QomObject | None] | None = None
    description: str | None = None
    default: tuple[JSONValue] | None = None

    @staticmethod
    def typed(
        name: str,
        codec: Codec[T],
        *,
        getter: Callable[[], JSONValue] | None,
        setter: Callable[[T], None] | None = None,
        description: str | None = None,
        default: tuple[JSONValue] | None = None,
        check: Callable[[], None] | None = None,
    ) -> Property:
        """A property whose input goes through ``codec`` and then ``setter``.

        ``setter`` receives the converted Python value and may raise
        :class:`~hvballoond.machine.errors.MachineError` with QEMU's text. ``check`` runs
        before the value is converted: QEMU setters that visit the value themselves test
        the object's state first (hostmem.c ``host_memory_backend_set_size`` refuses with
        "cannot change property size of ..." whatever the value), while ``bool``/``str``
        properties convert first and their setter checks afterwards.
        """
        if setter is None:
            return Property(
                name, codec.qom_type, getter=getter, description=description, default=default
            )
        apply = setter
        guard = check if check is not None else _no_check

        def set_json(value: JSONValue) -> None:
            guard()
            apply(codec.from_json(name, value))

        def set_text(text: str, style: InputStyle) -> None:
            guard()
            apply(codec.from_text(name, text, style))

        return Property(
            name,
            codec.qom_type,
            getter=getter,
            set_json=set_json,
            set_text=set_text,
            description=description,
            default=default,
        )

    @staticmethod
    def read_only(name: str, qom_type: str, getter: Getter) -> Property:
        """A property that can be read but not written."""
        return Property(name, qom_type, getter=getter)

    @property
    def is_child(self) -> bool:
        """True for ``child<...>`` properties."""
        return self.child is not None


# --------------------------------------------------------------------------------------------
# Objects
# --------------------------------------------------------------------------------------------


class QomObject:
    """A node of the composition tree.

    Attributes:
        qom_type: the object's QOM type name (what the ``type`` property returns).
        parent: the parent object, None for the root and for detached objects.
        component: the name of the ``child<>`` property in the parent that holds this object.
    """

    def __init__(self, qom_type: str) -> None:
        self.qom_type = qom_type
        self.parent: QomObject | None = None
        self.component: str | None = None
        self._properties: dict[str, Property] = {}
        self.add_property(Property.read_only("type", "string", lambda: self.qom_type))

    # -- properties -------------------------------------------------------------------------

    def add_property(self, prop: Property) -> Property:
        """Add ``prop``; a clash gives QEMU's duplicate-property error."""
        if prop.name in self._properties:
            raise MachineError(
                f"attempt to add duplicate property '{prop.name}' to object "
                f"(type '{self.qom_type}')"
            )
        self._properties[prop.name] = prop
        return prop

    def remove_property(self, name: str) -> None:
        """Drop a property (and, for a child, detach it)."""
        prop = self._properties.pop(name)
        if prop.child is not None:
            prop.child.parent = None
            prop.child.component = None

    def find_property(self, name: str) -> Property | None:
        """The property ``name`` or None."""
        return self._properties.get(name)

    def property(self, name: str) -> Property:
        """The property ``name``; otherwise ``Property '<type>.<name>' not found``."""
        prop = self._properties.get(name)
        if prop is None:
            raise MachineError(f"Property '{self.qom_type}.{name}' not found")
        return prop

    def properties(self) -> list[Property]:
        """Properties in ``qom-list`` order: ``type`` first, then :meth:`listing_order`."""
        return self.listing_order(list(self._properties.values()))

    def listing_order(self, props: list[Property]) -> list[Property]:
        """Hook: reorder the property list for ``qom-list`` (default: insertion order).

        QEMU's order comes from hash tables; subclasses that know the observed order
        (``/objects``) override this. ``type`` must stay first.
        """
        return props

    def get(self, name: str) -> JSONValue:
        """``qom-get``: the value of property ``name``."""
        prop = self.property(name)
        if prop.child is not None:
            return prop.child.canonical_path()
        if prop.link is not None and prop.getter is None:
            target = prop.link()
            return "" if target is None else target.canonical_path()
        if prop.getter is None:
            raise MachineError(f"Property '{self.qom_type}.{name}' is not readable")
        return prop.getter()

    def set_json(self, name: str, value: JSONValue) -> None:
        """``qom-set`` with a JSON value."""
        prop = self.property(name)
        if prop.set_json is None:
            raise MachineError(f"Property '{self.qom_type}.{name}' is not writable")
        prop.set_json(value)

    def set_text(self, name: str, text: str, style: InputStyle) -> None:
        """Set a property from an option string (``-device``, HMP ``qom-set``)."""
        prop = self.property(name)
        if prop.set_text is None:
            raise MachineError(f"Property '{self.qom_type}.{name}' is not writable")
        prop.set_text(text, style)

    # -- children ---------------------------------------------------------------------------

    def add_child(self, name: str, child: QomObject, *, qom_type: str | None = None) -> None:
        """Attach ``child`` as ``child<type>`` property ``name`` (duplicate -> MachineError)."""
        if child.parent is not None:
            raise ValueError(f"{child.qom_type} already has a parent")
        self.add_property(Property(name, f"child<{qom_type or child.qom_type}>", child=child))
        child.parent = self
        child.component = name

    def remove_child(self, name: str) -> QomObject:
        """Detach and return the child ``name``."""
        prop = self._properties.get(name)
        if prop is None or prop.child is None:
            raise KeyError(name)
        child = prop.child
        self.remove_property(name)
        return child

    def child(self, name: str) -> QomObject | None:
        """The child called ``name``, or None."""
        prop = self._properties.get(name)
        return prop.child if prop is not None else None

    def children(self) -> list[QomObject]:
        """Children in insertion order."""
        return [p.child for p in self._properties.values() if p.child is not None]

    def child_names(self) -> list[str]:
        """Names of the children in insertion order."""
        return [p.name for p in self._properties.values() if p.child is not None]

    def walk(self) -> Iterator[QomObject]:
        """This object and every descendant, depth first, parents before children."""
        yield self
        for kid in self.children():
            yield from kid.walk()

    # -- paths ------------------------------------------------------------------------------

    def root(self) -> QomObject:
        """The root of the tree this object is in."""
        node = self
        while node.parent is not None:
            node = node.parent
        return node

    def canonical_path(self) -> str:
        """``/machine/peripheral/d1``; ``/`` for the root (detached objects give ``""``)."""
        parts: list[str] = []
        node = self
        while node.parent is not None:
            assert node.component is not None
            parts.append(node.component)
            node = node.parent
        if not parts:
            return "/"
        return "/" + "/".join(reversed(parts))

    def resolve_component(self, part: str) -> QomObject | None:
        """``object_resolve_path_component``: follow a child or link property."""
        prop = self._properties.get(part)
        if prop is None:
            return None
        if prop.child is not None:
            return prop.child
        if prop.link is not None:
            return prop.link()
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.qom_type} {self.canonical_path()}>"


def container() -> QomObject:
    """A plain ``container`` object (``/``, ``/machine/unattached``...)."""
    return QomObject("container")


class HashOrderedObject(QomObject):
    """An object whose ``qom-list`` shows its own properties in QEMU's order.

    QEMU keeps an object's instance properties in a GLib hash table and ``qom-list``
    prepends while iterating (qom/qom-qmp-cmds.c ``qmp_qom_list``), so clients see the
    reverse of GLib's bucket order, which depends on the names and on the history of
    insertions and removals (see ``glib_hash.py``). ``type`` is a class property and comes
    first. Used for buses and for the containers clients list.
    """

    def __init__(self, qom_type: str) -> None:
        self.order = ChildOrder()
        super().__init__(qom_type)

    def add_property(self, prop: Property) -> Property:
        """Add ``prop`` and record it for the listing order."""
        added = super().add_property(prop)
        if prop.name != "type":
            self.order.insert(prop.name)
        return added

    def remove_property(self, name: str) -> None:
        """Drop a property and record the removal."""
        super().remove_property(name)
        self.order.remove(name)

    def listing_order(self, props: list[Property]) -> list[Property]:
        """``type`` first, then the instance properties in QEMU's order."""
        by_name = {p.name: p for p in props}
        head = [by_name.pop("type")] if "type" in by_name else []
        return head + [by_name[name] for name in reversed(self.order.order()) if name in by_name]


class HashOrderedContainer(HashOrderedObject):
    """A ``container`` whose ``qom-list`` shows children in QEMU's order.

    Used for ``/objects`` and ``/machine/peripheral[-anon]``, the containers clients list
    (``query-memdev`` walks ``/objects`` the same way).
    """

    def __init__(self) -> None:
        super().__init__("container")
        # (order version, children): query-memdev lists thousands of backends per call.
        self._listing: tuple[int, list[QomObject]] | None = None

    def children_in_query_order(self) -> list[QomObject]:
        """Children as ``qom-list`` (and ``query-memdev`` for ``/objects``) list them."""
        version = self.order.version
        if self._listing is None or self._listing[0] != version:
            out: list[QomObject] = []
            for name in reversed(self.order.order()):
                kid = self.child(name)
                if kid is not None:
                    out.append(kid)
            self._listing = (version, out)
        return list(self._listing[1])


# --------------------------------------------------------------------------------------------
# Path resolution (qom/object.c object_resolve_path_type and friends)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolution:
    """The outcome of a path lookup: the object, or None with ``ambiguous`` telling why."""

    obj: QomObject | None
    ambiguous: bool = False


@dataclass(slots=True)
class _Partial:
    ambiguous: bool = field(default=False)


TypeFilter = Callable[[QomObject], bool]


def _accept_all(_obj: QomObject) -> bool:
    return True


def _resolve_abs(node: QomObject, parts: Sequence[str], accept: TypeFilter) -> QomObject | None:
    current: QomObject | None = node
    for part in parts:
        if current is None:
            return None
        if part == "":
            continue
        current = current.resolve_component(part)
    if current is None or not accept(current):
        return None
    return current


def _resolve_partial(
    node: QomObject, parts: Sequence[str], accept: TypeFilter, state: _Partial
) -> QomObject | None:
    found = _resolve_abs(node, parts, accept)
    for kid in node.children():
        hit = _resolve_partial(kid, parts, accept, state)
        if hit is not None:
            if found is not None:
                state.ambiguous = True
                return None
            found = hit
        if state.ambiguous:
            return None
    return found


def _split(path: str) -> list[str]:
    # g_strsplit("", "/") is an empty vector; otherwise a plain split.
    return [] if path == "" else path.split("/")


def resolve_path(root: QomObject, path: str, accept: TypeFilter = _accept_all) -> Resolution:
    """Resolve an absolute (``/objects/m1``) or partial (``m1``, ``peripheral/d1``) path.

    A partial path is looked up below every object in the tree; it must match exactly one
    (``""`` matches everything and is ambiguous). ``accept`` is the type filter
    (``object_resolve_path_type``): objects it rejects do not count as matches.
    """
    parts = _split(path)
    if parts and parts[0] == "":
        return Resolution(_resolve_abs(root, parts[1:], accept))
    state = _Partial()
    obj = _resolve_partial(root, parts, accept, state)
    return Resolution(None if state.ambiguous else obj, state.ambiguous)


def resolve_path_at(root: QomObject, base: QomObject, path: str) -> QomObject | None:
    """``object_resolve_path_at``: absolute from ``root`` or relative to ``base``."""
    parts = path.split("/")
    if path.startswith("/"):
        return _resolve_abs(root, parts[1:], _accept_all)
    return _resolve_abs(base, parts, _accept_all)


def find_object(root: QomObject, path: str) -> QomObject:
    """``qom-get``/``qom-set`` lookup: ambiguous and missing both give DeviceNotFound."""
    found = resolve_path(root, path).obj
    if found is None:
        raise NotFoundError(f"Device '{path}' not found")
    return found


def list_target(root: QomObject, path: str) -> QomObject:
    """``qom-list`` lookup: ``Path '...' is ambiguous`` or DeviceNotFound."""
    result = resolve_path(root, path)
    if result.obj is None:
        if result.ambiguous:
            raise MachineError(f"Path '{path}' is ambiguous")
        raise NotFoundError(f"Device '{path}' not found")
    return result.obj


class QomTree:
    """A machine's object tree plus its type registry (one per machine).

    Attributes:
        root: the ``/`` container.
        types: the machine's :class:`TypeRegistry`.
    """

    def __init__(self, types: TypeRegistry) -> None:
        self.types = types
        self.root = container()

    def is_a(self, obj: QomObject, type_name: str) -> bool:
        """True if ``obj``'s type is-a ``type_name``."""
        return self.types.is_a(obj.qom_type, type_name)

    def resolve(self, path: str, type_name: str | None = None) -> Resolution:
        """:func:`resolve_path` from this tree's root, optionally filtered by type."""
        if type_name is None:
            return resolve_path(self.root, path)
        return resolve_path(self.root, path, lambda obj: self.is_a(obj, type_name))

    def resolve_link(self, prop_name: str, target_type: str, path: str) -> QomObject:
        """Resolve the value of a ``link<target_type>`` property (``object_resolve_link``).

        Raises:
            MachineError: ``Path '...' does not uniquely identify an object``, or
                ``Invalid parameter type for 'memdev', expected: memory-backend``.
            NotFoundError: ``Device 'nope' not found``.
        """
        typed = self.resolve(path, target_type)
        if typed.ambiguous:
            raise MachineError(f"Path '{path}' does not uniquely identify an object")
        if typed.obj is not None:
            return typed.obj
        untyped = self.resolve(path)
        if untyped.obj is not None or untyped.ambiguous:
            raise MachineError(f"Invalid parameter type for '{prop_name}', expected: {target_type}")
        raise NotFoundError(f"Device '{path}' not found")

    def link_property(
        self,
        name: str,
        target_type: str,
        *,
        getter: Callable[[], QomObject | None],
        setter: Callable[[QomObject | None], None] | None,
        description: str | None = None,
    ) -> Property:
        """A ``link<target_type>`` property.

        Input is a path (absolute or partial, so a bare backend id works); ``""`` clears the
        link. ``setter`` gets the resolved object (or None) and may refuse with
        MachineError. ``qom-get`` returns the target's canonical path or ``""``.
        """
        if setter is None:
            return Property(name, f"link<{target_type}>", link=getter, description=description)
        apply = setter

        def set_path(path: str) -> None:
            apply(None if path == "" else self.resolve_link(name, target_type, path))

        def set_json(value: JSONValue) -> None:
            set_path(StrCodec().from_json(name, value))

        def set_text(text: str, style: InputStyle) -> None:
            set_path(text)

        return Property(
            name,
            f"link<{target_type}>",
            set_json=set_json,
            set_text=set_text,
            link=getter,
            description=description,
        )


__all__ += ["ON_OFF_AUTO", "QomTree", "find_object", "list_target"]
