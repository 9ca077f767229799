"""The machine's CPUs as QOM objects (``/machine/unattached/device[0]``...).

hvballoond runs no guest code, but managers read the boot CPU's object: libvirt lists
``/machine/unattached/device[0]`` and reads every feature flag of it (and
``unavailable-features``) at each domain start to learn which CPU features the guest got.
A CPU model's properties are facts of the QEMU binary, recorded per model and accelerator
(:mod:`hvballoond.probe.cpus`, shipped in the probe store); this module turns such a table
into objects. The caller (the runtime, which may read the store) passes the table in:
:func:`add_boot_cpus`.

What each CPU computes itself: the ids of its place in the topology (QEMU 10.0.2 puts the
-smp CPUs on one socket, one core each: ``core-id`` and ``apic-id`` are the CPU index),
``node-id`` (0 when the machine has NUMA nodes, implicit ones included, else -1), its
children's paths, and, on machines with several CPUs, the hyper-threading flags QEMU sets
then (recorded separately). Properties QEMU lets one change after start-up (``model-id``,
``family``...) keep the new value; the others refuse as recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from hvballoond.machine.config import MachineKind
from hvballoond.machine.errors import MachineError
from hvballoond.machine.qom import (
    ON_OFF_AUTO,
    BoolCodec,
    Codec,
    IntCodec,
    Property,
    QomObject,
    StrCodec,
)
from hvballoond.wire.values import JSONValue

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["CpuModel", "CpuPropertySpec", "X86Cpu", "add_boot_cpus", "cpu_path"]

# Property types whose values qom-set converts (the writable ones are among these).
_CODECS: Final[Mapping[str, Codec[bool] | Codec[int] | Codec[str]]] = {
    "bool": BoolCodec(),
    "int": IntCodec.INT64.with_qom_type("int"),
    "int32": IntCodec.INT32,
    "uint8": IntCodec.UINT8,
    "uint16": IntCodec.UINT16,
    "uint32": IntCodec.UINT32,
    "uint64": IntCodec.UINT64,
    "str": StrCodec("str"),
    "string": StrCodec("string"),
    "OnOffAuto": ON_OFF_AUTO,
}

#: Topology ids every CPU computes from its index (the others are 0 for -smp CPUs).
_TOPOLOGY: Final = ("apic-id", "core-id", "socket-id", "die-id", "module-id", "thread-id")


@dataclass(frozen=True, slots=True)
class CpuPropertySpec:
    """One recorded property of a CPU model.

    Attributes:
        name: the property name.
        type: its QOM type string (``bool``, ``child<apic>``...).
        value: what ``qom-get`` returned (None for children and unreadable properties).
        get_error: the error ``qom-get`` gave instead, if any.
        writable: ``qom-set`` accepts a new value.
        set_error: the error ``qom-set`` gives, if it refuses (None when writable or when
            the property has no setter at all).
    """

    name: str
    type: str
    value: JSONValue = None
    get_error: str | None = None
    writable: bool = False
    set_error: str | None = None

    @property
    def is_child(self) -> bool:
        return self.type.startswith("child<")


@dataclass(frozen=True, slots=True)
class CpuModel:
    """A CPU model's QOM object as recorded.

    Attributes:
        model: the -cpu name (``qemu64``).
        type_name: the QOM type (``qemu64-x86_64-cpu``).
        properties: every property in ``qom-list`` order, ``type`` first.
        several_cpus: values that differ on a machine with more than one CPU.
    """

    model: str
    type_name: str
    properties: tuple[CpuPropertySpec, ...]
    several_cpus: Mapping[str, JSONValue]

    @classmethod
    def from_json(cls, table: JSONValue) -> CpuModel:
        """Read a table in the probe store's layout (:mod:`hvballoond.probe.cpus`).

        Raises:
            ValueError: The table is malformed.
        """
        if not isinstance(table, dict):
            raise ValueError("a CPU table must be an object")
        model, type_name = table.get("model"), table.get("type")
        rows, several = table.get("properties"), table.get("several-cpus", {})
        if not isinstance(model, str) or not isinstance(type_name, str):
            raise ValueError("a CPU table needs a model and a type")
        if not isinstance(rows, list) or not isinstance(several, dict):
            raise ValueError("a CPU table needs a list of properties")
        specs: list[CpuPropertySpec] = []
        for row in rows:
            if not isinstance(row, dict):
                raise ValueError("a CPU property must be an object")
            name, qom_type = row.get("name"), row.get("type")
            get_error, set_error = row.get("get-error"), row.get("set-error")
            if not isinstance(name, str) or not isinstance(qom_type, str):
                raise ValueError("a CPU property needs a name and a type")
            if get_error is not None and not isinstance(get_error, str):
                raise ValueError(f"{name}: get-error must be a string")
            if set_error is not None and not isinstance(set_error, str):
                raise ValueError(f"{name}: set-error must be a string")
            specs.append(CpuPropertySpec(name, qom_type, row.get("value"), get_error,
                                         row.get("writable") is True, set_error))
        return cls(model, type_name, tuple(specs), dict(several))


def cpu_path(index: int) -> str:
    """The QOM path of CPU ``index``: QEMU creates an on-board device after the boot CPU."""
    return f"/machine/unattached/device[{0 if index == 0 else index + 1}]"


class X86Cpu(QomObject):
    """One CPU of the machine, with its model's recorded properties.

    Args:
        model: the recorded model.
        index: the CPU index (``cpu-index`` of query-cpus-fast).
        machine: the machine (for its CPU count and NUMA nodes, read when asked).
    """

    def __init__(self, model: CpuModel, *, index: int, machine: Machine) -> None:
        super().__init__(model.type_name)
        self.model = model
        self.index = index
        self._machine = machine
        self._changed: dict[str, JSONValue] = {}
        self._recorded = {spec.name: spec.value for spec in model.properties}
        for spec in model.properties:
            if spec.name == "type":
                continue
            if spec.is_child:
                self.add_child(spec.name, QomObject(spec.type[len("child<"):-1]))
            else:
                self.add_property(Property(spec.name, spec.type, getter=self._getter(spec),
                                           set_json=self._setter(spec)))

    def value(self, name: str) -> JSONValue:
        """The current value of a readable, non-child property."""
        if name in self._changed:
            return self._changed[name]
        if name == "node-id":
            return 0 if self._machine.config.numa_node_count else -1
        if name in _TOPOLOGY:
            return self.index if name in ("apic-id", "core-id") else 0
        if self._machine.config.cpus > 1 and name in self.model.several_cpus:
            return self.model.several_cpus[name]
        return self._recorded[name]

    def _getter(self, spec: CpuPropertySpec) -> Callable[[], JSONValue]:
        def get() -> JSONValue:
            if spec.get_error is not None:
                raise MachineError(spec.get_error)
            return self.value(spec.name)

        return get

    def _setter(self, spec: CpuPropertySpec) -> Callable[[JSONValue], None] | None:
        codec = _CODECS.get(spec.type)
        if spec.set_error is not None:
            message = spec.set_error

            def refuse(value: JSONValue) -> None:
                # QEMU refuses before it looks at the value (realized device, qdev property).
                raise MachineError(message)

            return refuse
        if not spec.writable or codec is None:
            return None

        def accept(value: JSONValue) -> None:
            self._changed[spec.name] = codec.from_json(spec.name, value)

        return accept


def add_boot_cpus(machine: Machine, table: JSONValue | None) -> list[X86Cpu]:
    """Create the machine's -smp CPUs under ``/machine/unattached`` from a recorded table.

    Nothing is created for ``-machine none`` (QEMU's has no CPU either) or without a table
    (a model that was not recorded: libvirt tolerates a missing CPU object).

    Raises:
        ValueError: The table is malformed.
    """
    if table is None or machine.kind is MachineKind.NONE:
        return []
    model = CpuModel.from_json(table)
    cpus = [X86Cpu(model, index=index, machine=machine) for index in range(machine.config.cpus)]
    for index, cpu in enumerate(cpus):
        machine.qdev.unattached.add_child(cpu_path(index).rsplit("/", 1)[1], cpu)
    return cpus
