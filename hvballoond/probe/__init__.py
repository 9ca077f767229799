"""QEMU 10.0.2's answers to libvirt's capability probe (``-machine none``), replayed.

Runtime API (stdlib, :mod:`hvballoond.qmp.errors` and :mod:`hvballoond.wire.values` only)::

    from hvballoond.probe import Accel, lookup
    answer = lookup("device-list-properties", {"typename": "virtio-mem-pci"}, accel=Accel.TCG)
    # -> the return value | QmpError (QEMU's error reply) | None (not recorded)
    default_store().reply(command, arguments, accel=..., has_handler=...)
    # -> what probe mode answers, misses included (see ProbeStore.reply)

    from hvballoond.probe.cpus import cpu_table
    cpu_table("qemu64", Accel.TCG)
    # -> the recorded QOM properties of a CPU model (hvballoond.machine.cpu builds on them)

Recording and building (tools only): :mod:`hvballoond.probe.libvirt_log` and
:mod:`hvballoond.probe.build`, driven by ``tools/record-libvirt-probe.py``.
"""

from hvballoond.probe.store import (
    Accel,
    ProbeEntry,
    ProbeStore,
    StoreError,
    canonical_arguments,
    default_store,
    lookup,
    miss_error,
)

__all__ = [
    "Accel",
    "ProbeEntry",
    "ProbeStore",
    "StoreError",
    "canonical_arguments",
    "default_store",
    "lookup",
    "miss_error",
]
