"""nvdimm sizing and properties, DIMM slot choice, and PCI ``addr`` parsing."""

from __future__ import annotations

import pytest

from hvballoond.machine.devices.pci import format_devfn, parse_devfn
from hvballoond.machine.errors import MachineError
from hvballoond.machine.units import KiB, MiB
from tests.machine.devices.rig import vm


def test_nvdimm_region_is_the_backend_minus_the_label_aligned_down() -> None:
    # memory-devices.md §6.2: 512 MiB with a 128 KiB label gives 534773760 [observed].
    machine = vm("-machine q35,nvdimm=on -m 1G,slots=2,maxmem=4G")
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": 512 * MiB})
    machine.ok("device_add", {"driver": "nvdimm", "id": "nv", "memdev": "m1",
                              "label-size": 128 * KiB})
    assert machine.ok("qom-get", {"path": "nv", "property": "size"}) == 534773760
    assert machine.ok("query-memory-size-summary") == {
        "base-memory": 1024 * MiB, "plugged-memory": 534773760,
    }
    # Not a memory-hotplug slot user: query-acpi-ospm-status shows no device for it.
    assert machine.ok("query-acpi-ospm-status") == [
        {"slot": str(n), "slot-type": "DIMM", "source": 0, "status": 0} for n in (0, 1)
    ]


def test_nvdimm_uuid_takes_only_the_canonical_form() -> None:
    machine = vm("-machine q35,nvdimm=on -m 1G,slots=2,maxmem=4G")
    machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": "m1", "size": 128 * MiB})
    assert machine.error("device_add", {"driver": "nvdimm", "memdev": "m1",
                                        "uuid": "{12345678-1234-1234-1234-123456789abc}"}) == (
        "Property 'nvdimm.uuid' has invalid value"
    )
    machine.ok("device_add", {"driver": "nvdimm", "id": "nv", "memdev": "m1",
                              "uuid": "12345678-1234-1234-1234-123456789ABC"})
    assert machine.ok("qom-get", {"path": "nv", "property": "uuid"}) == (
        "12345678-1234-1234-1234-123456789abc"
    )


def test_slot_choice_skips_explicit_slots_and_reuses_freed_ones() -> None:
    machine = vm("-machine q35 -m 1G,slots=3,maxmem=4G")
    for name in ("m0", "m1", "m2"):
        machine.ok("object-add", {"qom-type": "memory-backend-ram", "id": name,
                                  "size": 128 * MiB})
    machine.ok("device_add", {"driver": "pc-dimm", "id": "d1", "memdev": "m1", "slot": 0})
    machine.ok("device_add", {"driver": "pc-dimm", "id": "d0", "memdev": "m0"})
    assert [data["slot"] for _, data in machine.memory_devices()] == [0, 1]


@pytest.mark.parametrize(
    ("text", "devfn"),
    [("0x1", 8), ("0x1.0", 8), ("00.3", 3), ("1f.7", 255), (" 2", 16), ("0x0", 0), (8, 8)],
)
def test_pci_addr_forms(text: str | int, devfn: int) -> None:
    assert parse_devfn("virtio-mem-pci", text) == devfn


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("zz", "Property 'virtio-mem-pci.addr' doesn't take value 'zz'"),
        ("2.8", "Property 'virtio-mem-pci.addr' doesn't take value '2.8'"),
        ("20", "Property 'virtio-mem-pci.addr' doesn't take value '20'"),
        (300, "Parameter 'addr' expects a value between -1 and 255"),
        (True, "Invalid parameter type for 'addr', expected int or str"),
    ],
)
def test_pci_addr_refusals(value: str | int, message: str) -> None:
    with pytest.raises(MachineError) as err:
        parse_devfn("virtio-mem-pci", value)
    assert str(err.value) == message


def test_legacy_addr_format() -> None:
    assert format_devfn(8) == "01.0"
    assert format_devfn(0xFB) == "1f.3"
