"""The generic memory-device pre-plug, checks G0-G14 in QEMU's order.

memory-devices.md §3; hw/mem/memory-device.c ``memory_device_pre_plug`` and
``memory_device_check_addable``. Type-specific checks (DIMM slots, virtio bus rules) run
before this in the device's own pre-plug hook; realize-time checks run after.
"""

from __future__ import annotations

from hvballoond.machine.errors import MachineError
from hvballoond.machine.memdev.address_space import AddressSpace
from hvballoond.machine.memdev.device import DeviceRegion, MemoryDevice, display_id
from hvballoond.machine.memdev.memslots import MemslotAccounting
from hvballoond.machine.units import U64_MAX, hx

__all__ = ["NO_DEVICE_MEMORY", "pre_plug"]

NO_DEVICE_MEMORY = (
    "the configuration is not prepared for memory devices (e.g., for memory hotplug), "
    "consider specifying the maxmem option"
)


def _region_or_error(device: MemoryDevice) -> tuple[DeviceRegion | None, MachineError | None]:
    # memory_device_is_empty(): a device whose region lookup fails is *not* empty; the error
    # is reported later (G2), after the device-memory check (G1).
    try:
        return device.md_region(), None
    except MachineError as err:
        return None, err


def pre_plug(
    device: MemoryDevice,
    *,
    space: AddressSpace[MemoryDevice] | None,
    capacity: int,
    used_region_size: int,
    memslots: MemslotAccounting,
    warnings: list[str],
) -> None:
    """Check that ``device`` can be plugged and give it its address.

    Args:
        device: the device being plugged (not plugged yet).
        space: the device-memory address space, None when the machine has none.
        capacity: ``maxram_size - ram_size``, the bytes memory devices may use in total.
        used_region_size: bytes already used by plugged devices.
        memslots: the machine's memslot counters.
        warnings: receives stderr-only warnings (G8).

    Raises:
        MachineError: the first failing check, with QEMU's message.
    """
    region, region_error = _region_or_error(device)
    if region is None and region_error is None:
        return  # G0: empty devices need nothing, not even device memory
    if space is None:
        raise MachineError(NO_DEVICE_MEMORY)  # G1
    if region_error is not None:
        raise region_error  # G2
    assert region is not None
    size = region.size

    if device.md_decides_memslots:  # G3
        device.md_decide_memslots(
            memslots.decision_limit(
                size=size, space=capacity, used_region_size=used_region_size
            )
        )
    refusal = memslots.check_addable(device.md_memslots())  # G4, G5
    if refusal is not None:
        raise MachineError(refusal)

    if used_region_size + size > U64_MAX or used_region_size + size > capacity:  # G6
        raise MachineError(
            f"not enough space, currently {hx(used_region_size)} in use of total space for "
            f"memory devices {hx(capacity)}"
        )
    if size % region.align:  # G7
        raise MachineError(f"backend memory size must be multiple of {hx(region.align)}")

    align = max(device.md_min_alignment(), region.align)
    hint = device.md_addr() or None  # address 0 always means "no hint"
    addr = space.place(  # G8-G13
        hint=hint, align=align, size=size, describe=display_id, warnings=warnings
    )
    device.md_set_addr(addr)  # G14
