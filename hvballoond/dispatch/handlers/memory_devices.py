"""``query-memory-devices`` and ``query-acpi-ospm-status`` (memory-devices.md §7, §8)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from operator import methodcaller

from hvballoond.dispatch.context import CommandContext
from hvballoond.dispatch.entry_cache import EntryCache
from hvballoond.dispatch.registry import command
from hvballoond.machine.config import MachineKind
from hvballoond.machine.devices.acpi_memory import AcpiMemoryHotplug
from hvballoond.machine.devices.common import memory_devices
from hvballoond.machine.devices.guest import device_guest
from hvballoond.machine.errors import MachineError
from hvballoond.machine.memdev.device import MemoryDevice
from hvballoond.wire.values import JSONObject, JSONValue

__all__: list[str] = []


# Late-bound, so each device class's own override runs.
_MD_INFO_KEY: Callable[[MemoryDevice], Hashable] = methodcaller("md_info_key")
_MD_INFO: Callable[[MemoryDevice], JSONObject] = methodcaller("md_info")


class MemoryDeviceEntries(EntryCache):
    """The machine's encoded ``query-memory-devices`` elements."""


@command("query-memory-devices")
def query_memory_devices(ctx: CommandContext, args: JSONObject) -> JSONValue:
    return ctx.machine.component(MemoryDeviceEntries).encode_all(
        memory_devices(ctx.machine).devices, _MD_INFO_KEY, _MD_INFO
    )


@command("query-acpi-ospm-status")
def query_acpi_ospm_status(ctx: CommandContext, args: JSONObject) -> JSONValue:
    machine = ctx.machine
    # q35 always has its ACPI device (ICH9 LPC); pc creates PIIX4_PM only with ACPI on.
    has_acpi_device = machine.kind is MachineKind.Q35 or (
        machine.kind is MachineKind.PC and machine.config.acpi_enabled
    )
    if not has_acpi_device:
        raise MachineError("command is not supported, missing ACPI device")
    status = machine.component(AcpiMemoryHotplug).ospm_status()
    # A booted ACPI guest switched CPU hotplug to the modern interface: CPU slots follow.
    if device_guest(machine).cpu_hotplug_modern:
        for index in range(machine.config.cpus):
            status.append(
                {"slot": str(index), "slot-type": "CPU", "source": 0, "status": 0}
            )
    return status
