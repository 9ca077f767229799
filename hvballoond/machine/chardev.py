"""Character devices as the machine sees them: ``/chardevs``, their frontends, ``chardev=``.

QEMU creates every ``-chardev`` (and the chardev behind each ``-qmp``) as a QOM object under
``/chardevs`` before any device exists; a device's ``chardev`` property then names one, and
each chardev has at most one frontend (a monitor or a device). The machine keeps that part:
which chardevs exist (:class:`ChardevConfig`, in creation order), their QOM objects, who uses
each, and whether that frontend has it open. What only the process that owns the sockets and
pseudo-terminals knows (the ``filename`` query-chardev shows, whether a socket has a client, a
listening socket's address) comes from a :class:`ChardevStatus` the runtime attaches
(:meth:`Chardevs.attach_status`); until then a chardev reports what QEMU reports for one that
was never opened.

Error texts are QEMU's (hw/core/qdev-properties-system.c ``set_chr``, chardev/char-fe.c
``qemu_chr_fe_init``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final, Protocol

from hvballoond.machine.errors import MachineError
from hvballoond.machine.qom import HashOrderedContainer, Property, QomObject, QomType, StrCodec
from hvballoond.wire.values import JSONObject

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine
    from hvballoond.machine.qdev import Device

__all__ = [
    "CHARDEV_TYPES",
    "Chardev",
    "ChardevBackend",
    "ChardevConfig",
    "ChardevSlot",
    "ChardevStatus",
    "Chardevs",
]

#: The chardev QOM types hvballoond creates objects of (and their abstract parents).
CHARDEV_TYPES: Final = (
    QomType("chardev", "object", abstract=True),
    QomType("chardev-socket", "chardev"),
    QomType("chardev-pty", "chardev"),
    QomType("chardev-fd", "chardev", abstract=True),
    QomType("chardev-file", "chardev-fd"),
    QomType("chardev-null", "chardev"),
)


class ChardevBackend(StrEnum):
    """The ``-chardev`` backends hvballoond provides (the QOM type is ``chardev-<value>``)."""

    SOCKET = "socket"
    PTY = "pty"
    FILE = "file"
    NULL = "null"


@dataclass(frozen=True, slots=True)
class ChardevConfig:
    """One character device of the command line.

    Attributes:
        label: its id (``charserial0``; ``compat_monitor0`` for a ``-qmp``).
        backend: what it is.
        monitor: a monitor (``-qmp``, ``-mon``) is its frontend from the start.
        address: a socket's ``SocketAddress`` as configured (``addr`` until the runtime
            knows the bound one); None for the other backends.
    """

    label: str
    backend: ChardevBackend
    monitor: bool = False
    address: JSONObject | None = None

    @property
    def qom_type(self) -> str:
        """``chardev-socket``, ``chardev-pty``..."""
        return f"chardev-{self.backend.value}"


class ChardevStatus(Protocol):
    """The live side of a chardev, provided by whoever opened it (the runtime)."""

    def filename(self) -> str:
        """query-chardev's ``filename`` (``pty:/dev/pts/3``, ``unix:PATH,server=on``...)."""
        ...

    def connected(self) -> bool:
        """A socket chardev has a client (the ``connected`` QOM property)."""
        ...

    def address(self) -> JSONObject | None:
        """A socket chardev's ``addr`` (the bound address of a listening socket)."""
        ...


class _Unopened:
    """The status of a chardev nobody opened: what QEMU shows before a backend is open."""

    def __init__(self, config: ChardevConfig) -> None:
        self._config = config

    def filename(self) -> str:
        backend = self._config.backend
        if backend is ChardevBackend.SOCKET:
            return "disconnected:socket"
        if backend is ChardevBackend.PTY:
            return "pty:"
        return backend.value  # chardev/char.c: the driver name when the backend sets none

    def connected(self) -> bool:
        return False

    def address(self) -> JSONObject | None:
        return self._config.address


class _MonitorFrontend:
    """A monitor uses the chardev; it always has it open."""

    frontend_open = True


class ChardevFrontend(Protocol):
    """A chardev's user: a monitor, or a device (through its :class:`ChardevSlot`)."""

    @property
    def frontend_open(self) -> bool:
        """query-chardev's ``frontend-open``."""
        ...


class Chardev(QomObject):
    """``/chardevs/<label>``: a chardev's QOM object.

    ``chardev-socket`` objects have ``connected`` and ``addr`` (chardev/char-socket.c); the
    other types list only ``type``.

    Attributes:
        config: what the command line said.
        status: its live side (see :class:`ChardevStatus`).
        frontend: who uses it, or None.
    """

    def __init__(self, config: ChardevConfig) -> None:
        super().__init__(config.qom_type)
        self.config = config
        self.status: ChardevStatus = _Unopened(config)
        self.frontend: ChardevFrontend | None = _MonitorFrontend() if config.monitor else None
        if config.backend is ChardevBackend.SOCKET:
            self.add_property(Property.read_only("connected", "bool", self._connected))
            self.add_property(Property.read_only("addr", "SocketAddress", self._address))

    @property
    def label(self) -> str:
        """The chardev's id."""
        return self.config.label

    @property
    def frontend_open(self) -> bool:
        """query-chardev's ``frontend-open``: the frontend has the chardev open."""
        return self.frontend is not None and self.frontend.frontend_open

    def _connected(self) -> bool:
        return self.status.connected()

    def _address(self) -> JSONObject | None:
        return self.status.address()


class Chardevs:
    """The machine's chardevs (a machine component): ``/chardevs`` and their frontends."""

    def __init__(self, machine: Machine) -> None:
        found = machine.qom.root.child("chardevs")
        assert isinstance(found, HashOrderedContainer), "machine_object.py creates /chardevs"
        self.container = found
        self._by_label: dict[str, Chardev] = {}

    def add(self, config: ChardevConfig) -> Chardev:
        """Create the chardev (command-line order; the caller has refused duplicates)."""
        chardev = Chardev(config)
        self.container.add_child(config.label, chardev)
        self._by_label[config.label] = chardev
        return chardev

    def find(self, label: str) -> Chardev | None:
        """The chardev called ``label``."""
        return self._by_label.get(label)

    def all(self) -> list[Chardev]:
        """Every chardev, in creation order."""
        return list(self._by_label.values())

    def in_query_order(self) -> list[Chardev]:
        """The chardevs as query-chardev (and ``qom-list /chardevs``) list them.

        chardev/char.c ``qmp_query_chardev`` prepends while walking ``/chardevs``, a GLib
        hash table: the reverse of its bucket order.
        """
        return [kid for kid in self.container.children_in_query_order()
                if isinstance(kid, Chardev)]

    def attach_status(self, label: str, status: ChardevStatus) -> None:
        """Give the chardev ``label`` its live side."""
        self._by_label[label].status = status


class ChardevSlot:
    """A device's ``chardev`` property (qdev ``DEFINE_PROP_CHR``), settable until realize.

    Setting it checks that the chardev exists and has no frontend yet; the device becomes its
    frontend when it is plugged (:meth:`attach`) and stops being it when it goes away
    (:meth:`detach`). QEMU takes the chardev as soon as the property is set and gives it back
    if the device is never realized; between the two there is nothing to tell them apart.

    Attributes:
        chardev: the chardev named, or None.
        frontend_open: query-chardev's ``frontend-open`` while this device uses it.
    """

    def __init__(self, device: Device, name: str = "chardev", *, opens: bool) -> None:
        self.device = device
        self.name = name
        self.chardev: Chardev | None = None
        self.frontend_open = False
        self._opens = opens
        device.add_property(
            Property.typed(
                name,
                StrCodec("str"),
                getter=self.label,
                setter=device.static_setter(name, self._set),
            )
        )

    def label(self) -> str:
        """The chardev's label, or ``""`` (what ``qom-get`` returns)."""
        return self.chardev.label if self.chardev is not None else ""

    def _set(self, label: str) -> None:
        owner = f"Property '{self.device.qom_type}.{self.name}'"
        if self.chardev is not None:
            # hw/core/qdev-properties-system.c check_prop_still_unset
            raise MachineError(f"{self.name}={label} conflicts, and override is not implemented")
        if not label:
            return
        chardev = self.device.machine.component(Chardevs).find(label)
        if chardev is None:
            raise MachineError(f"{owner} can't find value '{label}'")
        if chardev.frontend is not None:
            raise MachineError(
                f"{owner} can't take value '{label}': chardev '{label}' is already in use"
            )
        self.chardev = chardev

    def attach(self) -> None:
        """The device is plugged: it becomes the chardev's frontend."""
        if self.chardev is not None:
            self.frontend_open = self._opens
            self.chardev.frontend = self

    def detach(self) -> None:
        """The device goes away: the chardev is free again."""
        if self.chardev is not None and self.chardev.frontend is self:
            self.chardev.frontend = None
        self.frontend_open = False
