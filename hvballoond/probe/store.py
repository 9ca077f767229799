"""QEMU 10.0.2's answers to libvirt's capability probe, replayed from a recorded store.

libvirt learns what an emulator can do by starting it with ``-machine none`` and asking about
fifty questions over QMP (the schema, every device's properties, the machine types, the CPU
models...). Those answers are static facts of the QEMU binary, not of a VM, so hvballoond does
not model them: it answers from this store, recorded from the real QEMU 10.0.2 through libvirt
11.3 by ``tools/record-libvirt-probe.py`` (see docs/libvirt.md).

A few answers depend on the accelerator QEMU runs with (the CPU definitions and expansions, the
SEV capabilities): the store holds them once per :class:`Accel`, and the rest once for both.

The data file (``data/*.json.gz``) keeps each reply as QEMU printed it; loading turns every
object's member order into an insertion order from which :mod:`hvballoond.wire.encode` prints
QEMU's order again (see :func:`insertion_order`). Values returned by :meth:`ProbeStore.lookup`
are shared: callers must not change them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Final

from hvballoond.qmp.errors import ErrorClass, QmpError
from hvballoond.wire.values import JSONObject, JSONValue

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DATA_FILE",
    "FORMAT",
    "Accel",
    "ProbeEntry",
    "ProbeStore",
    "StoreError",
    "canonical_arguments",
    "default_store",
    "dump",
    "gzipped_json",
    "insertion_order",
    "load",
    "lookup",
    "merge_entries",
    "miss_error",
    "package_data",
    "read_gzipped_json",
]

FORMAT: Final = 1
DATA_FILE: Final = "qemu-10.0.2-x86_64.json.gz"


class StoreError(Exception):
    """The store file is malformed or inconsistent."""


class Accel(StrEnum):
    """The accelerator the probed QEMU ran with (``query-kvm``'s ``enabled``)."""

    KVM = "kvm"
    TCG = "tcg"


def canonical_arguments(arguments: JSONObject | None) -> str:
    """The store key of a command's arguments: compact JSON with sorted member names.

    QEMU treats absent ``arguments`` as ``{}``, so both give ``"{}"``.
    """
    return json.dumps(arguments or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def insertion_order(value: JSONValue) -> JSONValue:
    """A copy of a value as QEMU printed it, with every object's members inserted in reverse.

    QEMU prints an object's members by ascending hash bucket, the later-inserted member first
    within a bucket (qobject/qdict.c); the encoder reproduces that from insertion order. Members
    of one bucket appear in reverse insertion order, so inserting them in reverse printed order
    makes the encoder print exactly what QEMU printed.
    """
    if isinstance(value, dict):
        return {key: insertion_order(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [insertion_order(item) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class ProbeEntry:
    """One recorded answer.

    Attributes:
        command: The QMP command name.
        arguments: :func:`canonical_arguments` of its arguments.
        accel: The accelerator it was recorded under, or None when it does not depend on it.
        result: The ``return`` value in QEMU's printed member order, or None for an error.
        error: ``(class, desc)`` of an error reply.
    """

    command: str
    arguments: str
    accel: Accel | None
    result: JSONValue = None
    error: tuple[str, str] | None = None

    def to_json(self) -> JSONObject:
        """The entry as stored in the data file."""
        entry: JSONObject = {"execute": self.command, "arguments": json.loads(self.arguments)}
        if self.accel is not None:
            entry["accel"] = self.accel.value
        if self.error is not None:
            entry["error"] = {"class": self.error[0], "desc": self.error[1]}
        else:
            entry["return"] = self.result
        return entry

    @classmethod
    def from_json(cls, raw: JSONValue) -> ProbeEntry:
        """Parse one data-file entry.

        Raises:
            StoreError: It is malformed.
        """
        if not isinstance(raw, dict) or not isinstance(raw.get("execute"), str):
            raise StoreError(f"malformed entry: {str(raw)[:80]}")
        command = raw["execute"]
        assert isinstance(command, str)
        arguments = raw.get("arguments")
        if not isinstance(arguments, dict):
            raise StoreError(f"{command}: arguments must be an object")
        accel_text = raw.get("accel")
        try:
            accel = Accel(str(accel_text)) if accel_text is not None else None
        except ValueError:
            raise StoreError(f"{command}: unknown accel {accel_text!r}") from None
        error = raw.get("error")
        if error is not None:
            if (not isinstance(error, dict) or not isinstance(error.get("class"), str)
                    or not isinstance(error.get("desc"), str)):
                raise StoreError(f"{command}: malformed error")
            cls_name, desc = error["class"], error["desc"]
            assert isinstance(cls_name, str) and isinstance(desc, str)
            try:
                ErrorClass(cls_name)
            except ValueError:
                raise StoreError(f"{command}: unknown error class {cls_name!r}") from None
            return cls(command, canonical_arguments(arguments), accel, None, (cls_name, desc))
        if "return" not in raw:
            raise StoreError(f"{command}: neither return nor error")
        return cls(command, canonical_arguments(arguments), accel, raw["return"])


@dataclass(frozen=True, slots=True)
class ProbeStore:
    """Recorded probe answers, looked up by command, arguments and accelerator.

    Attributes:
        meta: Where the answers come from (``qemu``, ``libvirt``, ``recorded`` ...).
        entries: Every entry, in recording order.
    """

    meta: Mapping[str, JSONValue]
    entries: tuple[ProbeEntry, ...]
    _index: dict[tuple[str, str, Accel | None], JSONValue | QmpError] = field(
        init=False, repr=False, compare=False
    )
    _commands: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, str, Accel | None], JSONValue | QmpError] = {}
        for entry in self.entries:
            key = (entry.command, entry.arguments, entry.accel)
            if key in index:
                raise StoreError(f"two answers for {entry.command} {entry.arguments}")
            if entry.error is not None:
                index[key] = QmpError(entry.error[1], ErrorClass(entry.error[0]))
            else:
                index[key] = insertion_order(entry.result)
        for command, arguments, accel in index:
            if accel is not None and (command, arguments, None) in index:
                raise StoreError(f"{command} {arguments}: both a shared and a {accel} answer")
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_commands", frozenset(e.command for e in self.entries))

    def lookup(
        self, command: str, arguments: JSONObject | None, *, accel: Accel = Accel.TCG
    ) -> JSONValue | QmpError | None:
        """QEMU's answer to ``command`` with ``arguments`` under ``accel``.

        Returns:
            The ``return`` value (members in insertion order for the encoder; do not modify
            it), the error QEMU answered (to be sent as the reply, not raised), or None when
            the store has no answer for these arguments.
        """
        key = canonical_arguments(arguments)
        found = self._index.get((command, key, accel))
        if found is None:
            found = self._index.get((command, key, None))
        return found

    def commands(self) -> frozenset[str]:
        """The command names the store answers (for some arguments)."""
        return self._commands

    def reply(
        self,
        command: str,
        arguments: JSONObject | None,
        *,
        accel: Accel = Accel.TCG,
        has_handler: bool,
    ) -> JSONValue | QmpError | None:
        """What probe mode answers: the recorded answer, else what to do on a miss.

        Args:
            command: The command.
            arguments: Its arguments as received.
            accel: The accelerator the emulator runs with.
            has_handler: hvballoond has its own handler for the command.

        Returns:
            The recorded answer (a return value, or QEMU's error as a :class:`QmpError` to
            send); None when hvballoond's own handler (or its "command not found") should
            answer: the store does not know the command, or does not know these arguments
            and a handler exists; :func:`miss_error` for a store-only command with arguments
            that were not recorded.
        """
        found = self.lookup(command, arguments, accel=accel)
        if found is not None:
            return found
        if has_handler or command not in self._commands:
            return None
        return miss_error(command, arguments)

    def to_json(self) -> JSONObject:
        """The data-file document."""
        return {"format": FORMAT, "meta": dict(self.meta),
                "entries": [entry.to_json() for entry in self.entries]}

    @classmethod
    def from_json(cls, document: JSONValue) -> ProbeStore:
        """Build a store from a data-file document.

        Raises:
            StoreError: The document is malformed or has another format number.
        """
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise StoreError(f"not a probe store of format {FORMAT}")
        meta = document.get("meta")
        entries = document.get("entries")
        if not isinstance(meta, dict) or not isinstance(entries, list):
            raise StoreError("a probe store needs meta and entries")
        return cls(meta, tuple(ProbeEntry.from_json(raw) for raw in entries))


def load(source: Path | bytes) -> ProbeStore:
    """Read a store from a gzip'd JSON file (a path, or the file's bytes).

    Raises:
        StoreError: The content is not a valid store.
        OSError: The file cannot be read.
    """
    return ProbeStore.from_json(read_gzipped_json(source))


def dump(store: ProbeStore) -> bytes:
    """The gzip'd JSON bytes of a store (deterministic: no file name or time in the header)."""
    return gzipped_json(store.to_json())


@cache
def default_store() -> ProbeStore:
    """The store shipped with the package (loaded once, on first use)."""
    return load(package_data(DATA_FILE))


def package_data(name: str) -> bytes:
    """The bytes of ``data/<name>``, shipped with this package."""
    # Imported here: importlib.resources costs start-up time, and only probe mode (and the
    # tools) read the data files.
    from importlib import resources

    return resources.files("hvballoond.probe").joinpath("data", name).read_bytes()


def read_gzipped_json(source: Path | bytes) -> JSONValue:
    """The JSON document in a gzip'd file (a path, or its bytes).

    Raises:
        StoreError: The content is not gzip'd JSON.
        OSError: The file cannot be read.
    """
    import gzip

    data = source if isinstance(source, bytes) else source.read_bytes()
    try:
        document: JSONValue = json.loads(gzip.decompress(data))
    except (OSError, EOFError, ValueError) as exc:
        raise StoreError(f"not a gzip'd JSON document: {exc}") from None
    return document


def gzipped_json(document: JSONValue) -> bytes:
    """``document`` as compact, gzip'd JSON (deterministic: no file name or time in the header)."""
    import gzip

    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def lookup(
    command: str, arguments: JSONObject | None, *, accel: Accel = Accel.TCG
) -> JSONValue | QmpError | None:
    """:meth:`ProbeStore.lookup` on the shipped store."""
    return default_store().lookup(command, arguments, accel=accel)


def merge_entries(entries: Iterable[ProbeEntry]) -> list[ProbeEntry]:
    """Fold per-accelerator entries into shared ones where both accelerators agree.

    Entries recorded under one accelerator only stay tagged with it (a command libvirt asks
    only with KVM is not known to be accelerator-independent).
    """
    by_key: dict[tuple[str, str], dict[Accel | None, ProbeEntry]] = {}
    for entry in entries:
        slot = by_key.setdefault((entry.command, entry.arguments), {})
        if entry.accel in slot:
            if _answer_text(slot[entry.accel]) != _answer_text(entry):
                raise StoreError(f"{entry.command} {entry.arguments}: two different answers "
                                 f"under {entry.accel}")
            continue
        slot[entry.accel] = entry
    merged: list[ProbeEntry] = []
    for slot in by_key.values():
        kvm, tcg = slot.get(Accel.KVM), slot.get(Accel.TCG)
        if kvm is not None and tcg is not None and _answer_text(kvm) == _answer_text(tcg):
            merged.append(ProbeEntry(kvm.command, kvm.arguments, None, kvm.result, kvm.error))
        else:
            merged.extend(slot.values())
    return merged


def miss_error(command: str, arguments: JSONObject | None) -> QmpError:
    """The error for a store-only command whose arguments were not recorded.

    ``device-list-properties`` answers as QEMU does for a type it does not have (libvirt skips
    such devices: qemuMonitorJSONGetDeviceProps treats DeviceNotFound as "no properties");
    anything else gets a GenericError naming the gap, which libvirt reports as it is.
    """
    if command == "device-list-properties":
        typename = (arguments or {}).get("typename")
        return QmpError(f"Device '{typename}' not found", ErrorClass.DEVICE_NOT_FOUND)
    return QmpError(f"hvballoond has no recorded QEMU 10.0.2 answer to {command} with "
                    f"arguments {canonical_arguments(arguments)}")


def _answer_text(entry: ProbeEntry) -> str:
    """The answer as JSON text, member order included (== on dicts ignores it)."""
    return json.dumps([entry.result, entry.error])
