"""``secret`` objects: libvirt passes its master key as one to every domain it starts.

A secret holds a password or key for other objects (encrypted disks, TLS). hvballoond has
nothing that uses one, so the object only needs to be created, checked as QEMU checks it
(crypto/secret.c ``qcrypto_secret_load_data``, crypto/secret_common.c
``qcrypto_secret_complete``), listed under ``/objects``, read back and deleted. What is not
reproduced: the ``file`` is not read (the machine model touches no host files, so a missing
file is not an error here), and data encrypted with ``keyid`` is not decrypted (the key is
neither looked up nor checked).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from hvballoond.machine.backends import UserObjectType
from hvballoond.machine.errors import MachineError
from hvballoond.machine.qdev import qdict_order
from hvballoond.machine.qom import EnumCodec, Property, QomObject, StrCodec
from hvballoond.wire.values import JSONValue

__all__ = ["SECRET", "SECRET_FORMAT", "Secret"]

#: QCryptoSecretFormat.
SECRET_FORMAT: Final = EnumCodec("QCryptoSecretFormat", ("raw", "base64"))

# util/base64.c qbase64_decode: the characters it accepts before handing over to GLib.
_BASE64_CHARS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\n"
)


class Secret(QomObject):
    """A ``secret`` object: its data given inline (``data``) or in a host file (``file``).

    Attributes:
        values: the string properties (``iv``, ``keyid``, ``file``, ``data``); unset ones
            read as ``""``, as QEMU's string getters give.
        format: ``raw`` or ``base64``.
    """

    def __init__(self) -> None:
        super().__init__("secret")
        self.values: dict[str, str | None] = dict.fromkeys(("iv", "keyid", "file", "data"))
        self.format = "raw"
        # In qom-list order (QEMU 10.0.2): iv, keyid, format, then file and data.
        for name in ("iv", "keyid"):
            self._add_str(name)
        self.add_property(Property.typed("format", SECRET_FORMAT,
                                         getter=lambda: self.format, setter=self._set_format))
        for name in ("file", "data"):
            self._add_str(name)

    def _add_str(self, name: str) -> None:
        def setter(value: str) -> None:
            self.values[name] = value

        self.add_property(Property.typed(name, StrCodec("string"),
                                         getter=lambda: self.values[name] or "", setter=setter))

    def _set_format(self, value: str) -> None:
        self.format = value

    def complete(self) -> None:
        """``user_creatable_complete``: check that the secret's data can be loaded.

        Raises:
            MachineError: QEMU's message.
        """
        data, file = self.values["data"], self.values["file"]
        if file is not None and data is not None:
            raise MachineError("'file' and 'data' are mutually exclusive")
        if file is None and data is None:
            raise MachineError("Either 'file' or 'data' must be provided")
        if self.values["keyid"] is None and self.format == "base64" and data is not None:
            if "\0" in data:
                raise MachineError("Base64 data contains embedded NUL characters")
            if not set(data) <= _BASE64_CHARS:
                raise MachineError("Base64 data contains invalid characters")


def _create_secret(obj_id: str, props: Mapping[str, JSONValue]) -> QomObject:
    # object-add sets the members in QDict order, then completes the object.
    obj = Secret()
    for key in qdict_order(list(props)):
        obj.set_json(key, props[key])
    obj.complete()
    return obj


#: ``-object secret`` / ``object-add qom-type=secret``.
SECRET: Final = UserObjectType("secret", "secret_common", _create_secret)
