"""The generated qemu64 tables (probe/qemu64_tables.py) agree with the shipped CPU data file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hvballoond.probe import cpus
from hvballoond.probe.cpus import cpu_table, default_cpu_tables, qemu64_module_source
from hvballoond.probe.store import Accel


def test_the_generated_module_is_up_to_date() -> None:
    generated = Path(cpus.__file__).with_name("qemu64_tables.py").read_text()
    assert generated == qemu64_module_source(default_cpu_tables()), (
        "run `python -m hvballoond.probe.cpus` to regenerate hvballoond/probe/qemu64_tables.py"
    )


@pytest.mark.parametrize("accel", list(Accel))
def test_qemu64_lookups_equal_the_data_file_member_order_included(accel: Accel) -> None:
    fast = cpu_table("qemu64", accel)
    stored = default_cpu_tables().table("qemu64", accel)
    assert fast is not None and fast == stored
    assert json.dumps(fast) == json.dumps(stored)
    assert cpu_table("qemu64", accel.value) is fast


def test_unknown_accelerators_and_models_have_no_table() -> None:
    assert cpu_table("qemu64", "hvf") is None
    assert cpu_table("max", Accel.TCG) is None
