"""Random number generator backends: ``rng-random`` objects and the ``rng-builtin`` default.

Only as much as memory control-plane clients meet: an ``rng-random`` object can be created,
listed under ``/objects``, read and deleted, it is *not* a memory backend (``memdev=rng0``
is refused with ``Invalid parameter type for 'memdev', expected: memory-backend``), and
``virtio-rng-pci`` links to it. No entropy is ever read: QEMU opens ``filename`` when the
object is created (backends/rng-random.c ``rng_random_opened``); hvballoond does not touch
host files from the machine model, so every file name is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from hvballoond.machine.backends import UserObjectType
from hvballoond.machine.errors import MachineError
from hvballoond.machine.qdev import qdict_order
from hvballoond.machine.qom import Property, QomObject, QomType, StrCodec
from hvballoond.wire.values import JSONValue

__all__ = ["RNG_BACKEND_TYPES", "RNG_RANDOM", "RngBackend", "RngRandom"]

#: The abstract parent and the built-in backend (virtio-rng's ``default-backend``).
RNG_BACKEND_TYPES: Final = (
    QomType("rng-backend", "object", abstract=True, interfaces=("user-creatable",)),
    QomType("rng-builtin", "rng-backend", interfaces=("user-creatable",)),
)


class RngBackend(QomObject):
    """An ``rng-backend`` object: ``opened`` (read-only) becomes true once it is complete.

    Attributes:
        opened: the backend is complete (backends/rng.c ``rng_backend_complete``).
    """

    def __init__(self, qom_type: str) -> None:
        super().__init__(qom_type)
        self.opened = False
        self.add_property(Property.read_only("opened", "bool", lambda: self.opened))

    def complete(self) -> None:
        """``user_creatable_complete``: open the backend."""
        self.opened = True


class RngRandom(RngBackend):
    """``rng-random``: entropy from a host file (``filename``, default ``/dev/urandom``)."""

    def __init__(self) -> None:
        super().__init__("rng-random")
        self.filename = "/dev/urandom"
        self.add_property(
            Property.typed(
                "filename",
                StrCodec("string"),
                getter=lambda: self.filename,
                setter=self._set_filename,
            )
        )

    def _set_filename(self, value: str) -> None:
        if self.opened:
            raise MachineError("Property 'filename' can no longer be set")
        self.filename = value


def _create_rng_random(obj_id: str, props: Mapping[str, JSONValue]) -> QomObject:
    # object-add sets the members in QDict order, then completes the object. ``opened``
    # (RngProperties) is read-only, so giving it fails as qom-set does.
    obj = RngRandom()
    for key in qdict_order(list(props)):
        obj.set_json(key, props[key])
    obj.complete()
    return obj


#: ``-object rng-random`` / ``object-add qom-type=rng-random``.
RNG_RANDOM: Final = UserObjectType("rng-random", "rng-backend", _create_rng_random)
