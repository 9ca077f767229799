"""QEMU 10.0.2's CPU objects as recorded: one table per CPU model and accelerator.

libvirt reads the boot CPU's QOM object (``qom-list /machine/unattached/device[0]`` and a
``qom-get`` of every feature flag) each time it starts a domain. Like the probe answers, the
properties of a CPU model are static facts of the QEMU binary (for KVM, of the binary and the
host's CPU), so ``tools/record-libvirt-probe.py`` records them from the real QEMU and ships
them next to the probe answers, in a file of their own (``data/*-cpus.json.gz``: every
machine needs them at start-up, while the much larger probe answers are only read in probe
mode); :mod:`hvballoond.machine.cpu` builds the CPU objects from them.

Runtime API::

    from hvballoond.probe.cpus import cpu_table
    table = cpu_table("qemu64", Accel.TCG)  # -> the table (shared: do not modify) | None

The file holds ``{"format": 1, "meta": {...}, "tables": [TABLE, ...]}``. A table::

    {"model": "qemu64", "accel": "tcg", "type": "qemu64-x86_64-cpu",
     "recorded-with": "-machine q35 -accel tcg -cpu qemu64 -smp 1 ...",
     "properties": [
        {"name": "family", "type": "int", "value": 15, "writable": true},
        {"name": "popcnt", "type": "bool", "value": false,
         "set-error": "Attempt to set property 'popcnt' on anonymous device ..."},
        {"name": "legacy-memory", "type": "str",
         "get-error": "Property 'qemu64-x86_64-cpu.legacy-memory' is not readable"},
        {"name": "lapic", "type": "child<apic>"}, ...],
     "several-cpus": {"ht": true, ...}}

``properties`` is the ``qom-list`` of the boot CPU of a one-CPU machine, in QEMU's order
(``type`` first); ``value`` is what ``qom-get`` returned (as QEMU printed it), ``get-error``
its error instead. Writing each value back with ``qom-set`` either worked (``writable``) or
failed with ``set-error``; neither is recorded for children (never writable). ``several-cpus``
holds the values that differ when the machine has more than one CPU (QEMU then sets the
hyper-threading bits of CPUID). Values that depend on the CPU's place in the topology
(``apic-id``, ``core-id``, ``node-id``...) and children's paths are computed by the machine.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Final

from hvballoond.probe.store import Accel, StoreError, insertion_order
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = [
    "CPU_DATA_FILE",
    "CpuTables",
    "PropertyRecord",
    "build_cpu_table",
    "check_cpu_table",
    "cpu_table",
    "default_cpu_tables",
    "dump_cpu_tables",
    "load_cpu_tables",
    "table_key",
]

CPU_DATA_FILE: Final = "qemu-10.0.2-x86_64-cpus.json.gz"
_FORMAT: Final = 1

_KEYS: Final = frozenset({"name", "type", "value", "get-error", "set-error", "writable"})

#: ``(name, type, value or get-error text, writable or set-error text)`` as recorded:
#: ``value`` is a ``("value", v)`` or ``("error", text)`` pair; the write outcome is
#: True (worked), an error text, or None (not tried).
PropertyRecord = tuple[str, str, tuple[str, JSONValue], bool | str | None]


def table_key(table: Mapping[str, JSONValue]) -> tuple[str, Accel]:
    """``(model, accel)`` of a table."""
    return str(table["model"]), Accel(str(table["accel"]))


def build_cpu_table(
    *,
    model: str,
    accel: Accel,
    type_name: str,
    recorded_with: str,
    properties: Sequence[PropertyRecord],
    several_cpus: Mapping[str, JSONValue],
) -> JSONObject:
    """A table from what the recorder read (see the module docstring for the layout)."""
    rows: list[JSONValue] = []
    for name, qom_type, (kind, value), write in properties:
        row: JSONObject = {"name": name, "type": qom_type}
        if not qom_type.startswith("child<"):
            if kind == "value":
                row["value"] = value
            else:
                row["get-error"] = value
            if write is True:
                row["writable"] = True
            elif isinstance(write, str):
                row["set-error"] = write
        rows.append(row)
    table: JSONObject = {
        "model": model,
        "accel": accel.value,
        "type": type_name,
        "recorded-with": recorded_with,
        "properties": rows,
        "several-cpus": dict(several_cpus),
    }
    check_cpu_table(table)
    return table


def check_cpu_table(table: JSONValue) -> None:
    """Check a table's layout.

    Raises:
        StoreError: It is malformed.
    """
    if not isinstance(table, dict):
        raise StoreError("a CPU table must be an object")
    for key in ("model", "accel", "type", "recorded-with"):
        if not isinstance(table.get(key), str):
            raise StoreError(f"CPU table: {key} must be a string")
    try:
        Accel(str(table["accel"]))
    except ValueError:
        raise StoreError(f"CPU table: unknown accel {table['accel']!r}") from None
    rows = table.get("properties")
    several = table.get("several-cpus")
    if not isinstance(rows, list) or not isinstance(several, dict):
        raise StoreError("CPU table: properties must be a list, several-cpus an object")
    names: set[str] = set()
    for row in rows:
        if not isinstance(row, dict) or not set(row) <= _KEYS:
            raise StoreError(f"CPU table: malformed property {str(row)[:80]}")
        name, qom_type = row.get("name"), row.get("type")
        if not isinstance(name, str) or not isinstance(qom_type, str) or name in names:
            raise StoreError(f"CPU table: bad or repeated property name {name!r}")
        names.add(name)
        if not qom_type.startswith("child<") and ("value" in row) == ("get-error" in row):
            raise StoreError(f"CPU table: {name} needs exactly one of value and get-error")
        if "writable" in row and "set-error" in row:
            raise StoreError(f"CPU table: {name} is both writable and not")
    first = rows[0] if rows else None
    if not isinstance(first, dict) or first.get("name") != "type":
        raise StoreError("CPU table: the first property must be type")
    unknown = set(several) - names
    if unknown:
        raise StoreError(f"CPU table: several-cpus names unknown properties {sorted(unknown)}")


@dataclass(frozen=True, slots=True)
class CpuTables:
    """The recorded CPU tables, looked up by model and accelerator.

    Attributes:
        meta: Where they come from (``qemu``, ``recorded``...).
        tables: Every table, as stored (QEMU's printed member order).
    """

    meta: Mapping[str, JSONValue]
    tables: tuple[JSONObject, ...]
    _index: dict[tuple[str, Accel], JSONObject] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, Accel], JSONObject] = {}
        for table in self.tables:
            check_cpu_table(table)
            key = table_key(table)
            if key in index:
                raise StoreError(f"two CPU tables for {key[0]} under {key[1]}")
            converted = insertion_order(table)
            assert isinstance(converted, dict)
            index[key] = converted
        object.__setattr__(self, "_index", index)

    def table(self, model: str, accel: Accel | str) -> JSONObject | None:
        """The table of ``model`` under ``accel``, or None.

        Values come with their members in insertion order for the encoder (see
        :func:`hvballoond.probe.store.insertion_order`); the table is shared: do not modify it.
        """
        try:
            key = (model, Accel(accel))
        except ValueError:
            return None
        return self._index.get(key)

    def to_json(self) -> JSONObject:
        """The data-file document."""
        return {"format": _FORMAT, "meta": dict(self.meta), "tables": list(self.tables)}

    @classmethod
    def from_json(cls, document: JSONValue) -> CpuTables:
        """Read a data-file document.

        Raises:
            StoreError: It is malformed.
        """
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            raise StoreError(f"not a CPU table file of format {_FORMAT}")
        meta, tables = document.get("meta"), document.get("tables")
        if not isinstance(meta, dict) or not isinstance(tables, list):
            raise StoreError("a CPU table file needs meta and tables")
        return cls(meta, tuple(t for t in tables if isinstance(t, dict)))


def load_cpu_tables(source: Path | bytes) -> CpuTables:
    """Read the tables from a gzip'd JSON file (a path, or its bytes).

    Raises:
        StoreError: The content is not valid.
        OSError: The file cannot be read.
    """
    data = source.read_bytes() if isinstance(source, Path) else source
    try:
        document = json.loads(gzip.decompress(data))
    except (OSError, EOFError, ValueError) as exc:
        raise StoreError(f"not a gzip'd JSON document: {exc}") from None
    return CpuTables.from_json(document)


def dump_cpu_tables(tables: CpuTables) -> bytes:
    """The gzip'd JSON bytes of the tables (deterministic)."""
    text = json.dumps(tables.to_json(), ensure_ascii=False, separators=(",", ":"))
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


@cache
def default_cpu_tables() -> CpuTables:
    """The tables shipped with the package (loaded once, on first use)."""
    data = resources.files("hvballoond.probe").joinpath("data", CPU_DATA_FILE).read_bytes()
    return load_cpu_tables(data)


def cpu_table(model: str, accel: Accel | str) -> JSONObject | None:
    """:meth:`CpuTables.table` on the shipped tables."""
    return default_cpu_tables().table(model, accel)
