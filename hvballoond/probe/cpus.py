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

Every machine builds its boot CPU, QEMU's default ``qemu64``, at start-up: that model's tables
come from :mod:`hvballoond.probe.qemu64_tables`, a copy generated from the data file in the
form lookups return (``python -m hvballoond.probe.cpus`` rewrites it; a test checks that it
matches), so that start-up neither decompresses nor converts the file.

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Final

from hvballoond.probe.store import (
    Accel,
    StoreError,
    gzipped_json,
    insertion_order,
    package_data,
    read_gzipped_json,
)
from hvballoond.wire.values import JSONObject, JSONValue

if TYPE_CHECKING:
    from pathlib import Path

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
    "qemu64_module_source",
    "table_key",
    "write_qemu64_module",
]

CPU_DATA_FILE: Final = "qemu-10.0.2-x86_64-cpus.json.gz"
_FORMAT: Final = 1
#: The model whose tables :mod:`hvballoond.probe.qemu64_tables` holds.
_BOOT_MODEL: Final = "qemu64"

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
    return CpuTables.from_json(read_gzipped_json(source))


def dump_cpu_tables(tables: CpuTables) -> bytes:
    """The gzip'd JSON bytes of the tables (deterministic)."""
    return gzipped_json(tables.to_json())


@cache
def default_cpu_tables() -> CpuTables:
    """The tables shipped with the package (loaded once, on first use)."""
    return load_cpu_tables(package_data(CPU_DATA_FILE))


def cpu_table(model: str, accel: Accel | str) -> JSONObject | None:
    """:meth:`CpuTables.table` on the shipped tables (qemu64's from their generated copy)."""
    if model == _BOOT_MODEL:
        from hvballoond.probe.qemu64_tables import TABLES

        return TABLES.get(str(accel))
    return default_cpu_tables().table(model, accel)


def qemu64_module_source(tables: CpuTables) -> str:
    """The source of :mod:`hvballoond.probe.qemu64_tables` for ``tables``: qemu64's table
    under each accelerator, exactly as :meth:`CpuTables.table` returns it (one property per
    line)."""
    lines = [
        '"""qemu64\'s CPU tables as :func:`hvballoond.probe.cpus.cpu_table` returns them.',
        "",
        f"Generated from data/{CPU_DATA_FILE}: do not edit.",
        "``python -m hvballoond.probe.cpus`` rewrites this file from the data file",
        "(tests/probe/test_qemu64_tables.py checks that they agree). Object members are in",
        "insertion order (see :func:`hvballoond.probe.store.insertion_order`); the tables are",
        "shared: do not modify them.",
        '"""',
        "# ruff: noqa: E501",
        "",
        "from typing import Final",
        "",
        "from hvballoond.wire.values import JSONObject",
        "",
        "TABLES: Final[dict[str, JSONObject]] = {",
    ]
    for accel in Accel:
        table = tables.table(_BOOT_MODEL, accel)
        if table is None:
            continue
        lines.append(f"    {accel.value!r}: {{")
        for key, value in table.items():
            if key == "properties" and isinstance(value, list):
                lines.append(f"        {key!r}: [")
                lines += [f"            {_literal(row)}," for row in value]
                lines.append("        ],")
            else:
                lines.append(f"        {key!r}: {_literal(value)},")
        lines.append("    },")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _literal(value: JSONValue) -> str:
    """``value`` as a Python literal that builds it again, member order included."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: {_literal(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    return repr(value)


def write_qemu64_module() -> Path:
    """Rewrite :mod:`hvballoond.probe.qemu64_tables` from the shipped data file."""
    from pathlib import Path

    target = Path(__file__).with_name("qemu64_tables.py")
    target.write_text(qemu64_module_source(default_cpu_tables()))
    return target


if __name__ == "__main__":
    print(f"wrote {write_qemu64_module()}")
