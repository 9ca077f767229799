"""Display adapters: ``virtio-vga`` and ``virtio-gpu-pci`` (backend ``virtio-gpu-device``),
``VGA`` and ``bochs-display`` (hw/display/virtio-gpu*.c, virtio-vga.c, vga-pci.c,
bochs-display.c).

libvirt's ``<video><model type='virtio'/>`` is ``virtio-vga`` (the primary adapter) or
``virtio-gpu-pci``; ``type='vga'`` is ``VGA`` (libvirt reads its ``vgamem_mb`` back) and
``type='bochs'`` is ``bochs-display``. Inert: nothing is ever drawn. What is kept: the
properties with QEMU's values after realize (video memory rounded as QEMU rounds it, the
option ROM sizes), none of them hot-pluggable but ``bochs-display``, and QEMU's refusals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Final

from hvballoond.clock import Instant
from hvballoond.machine.devices.pci import BOOL, SIZE, PciDevice, PropSpec
from hvballoond.machine.devices.peripherals.common import OptionRom, add_layout
from hvballoond.machine.devices.virtio import VirtioDevice, VirtioPciProxy
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import MachineEvent
from hvballoond.machine.qom import IntCodec, QomType

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["BochsDisplay", "Vga", "VirtioGpu", "VirtioGpuPci", "VirtioVga"]

_MiB: Final = 1 << 20
#: VIRTIO_GPU_MAX_SCANOUTS.
_MAX_OUTPUTS: Final = 16

_VIRTIO_GPU_TYPES: Final = (
    QomType("virtio-gpu-base", "virtio-device", abstract=True),
    QomType("virtio-gpu-device", "virtio-gpu-base"),
)


def _pow2ceil(value: int) -> int:
    return 1 << (value - 1).bit_length() if value > 1 else max(value, 1)


class VirtioGpu(VirtioDevice):
    """``virtio-gpu-device``, the proxy's ``virtio-backend``."""

    TYPE = "virtio-gpu-device"
    PARENT = "virtio-gpu-base"

    def __init__(self, machine: Machine, proxy: VirtioPciProxy) -> None:
        super().__init__(machine, proxy)
        self.props.add_all((
            ("max_outputs", IntCodec.UINT32, 1),
            ("xres", IntCodec.UINT32, 1280),
            ("x-scanout-vmstate-version", IntCodec.UINT8, 2),
            ("yres", IntCodec.UINT32, 800),
            ("max_hostmem", SIZE, 256 * _MiB),
            ("edid", BOOL, True),
            ("blob", BOOL, False),
            ("hostmem", SIZE, 0),
        ))  # fmt: skip

    def realize(self) -> None:
        """``virtio_gpu_base_device_realize``: at most 16 outputs."""
        outputs = self.props["max_outputs"]
        assert isinstance(outputs, int)
        if outputs > _MAX_OUTPUTS:
            raise MachineError(f"invalid max_outputs > {_MAX_OUTPUTS}")


class _VirtioGpuProxy(VirtioPciProxy):
    """A virtio-gpu PCI proxy: modern-only, not hot-pluggable."""

    HOTPLUGGABLE = False
    BACKEND = VirtioGpu
    ROM: ClassVar[tuple[str, int] | None] = None
    vdev: VirtioGpu

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.rom = OptionRom(self, *self.ROM) if self.ROM is not None else None

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Size the option ROM, then the PCI side."""
        if self.rom is not None:
            self.rom.load()
        return super().plug(now)


class VirtioVga(_VirtioGpuProxy):
    """``virtio-vga``: virtio-gpu with a legacy VGA front (libvirt's primary virtio video)."""

    TYPE = "virtio-vga"
    PARENT = "virtio-vga-base-type"
    ABSTRACT = False
    EXTRA_TYPES = (
        QomType("virtio-vga-base", "virtio-pci", abstract=True),
        QomType("virtio-vga-base-type", "virtio-vga-base", abstract=True),
        *_VIRTIO_GPU_TYPES,
    )
    CLASS_PROPS = (
        ("big-endian-framebuffer", BOOL, False),
        ("vectors", IntCodec.UINT32, 3),
        ("ioeventfd", BOOL, False),
    )
    ROM = ("vgabios-virtio.bin", 65536)
    # qom-list order on the reference binary.
    LAYOUT = (
        "mr:virtio-pci-notify-virtio-gpu[0]", "mr:msix-pba[0]", "alias:hostmem", "mr:vga[0]",
        "alias:notify_on_empty", "mr:bochs dispi interface[0]", "mr:virtio-vga.rom[0]",
        "mr:vga[1]", "bus", "mr:vga-lowmem[0]", "mr:vga[2]", "alias:max_outputs",
        "mr:virtio-pci-notify-pio-virtio-gpu[0]", "mr:vga[3]", "alias:xres", "mr:vga[4]",
        "alias:in_order", "backend", "alias:packed", "mr:vbe[0]",
        "mr:vga ioports remapped[0]", "alias:iommu_platform", "alias:x-scanout-vmstate-version",
        "mr:vga.vram[0]", "mr:bus master container[0]", "alias:use-started",
        "alias:use-disabled-flag", "alias:any_layout", "alias:x-disable-legacy-check",
        "mr:virtio-pci-device-virtio-gpu[0]", "mr:virtio-pci-isr-virtio-gpu[0]",
        "mr:bus master[0]", "mr:virtio-vga-msix[0]", "mr:virtio-pci-common-virtio-gpu[0]",
        "alias:yres", "alias:blob", "alias:edid", "alias:max_hostmem", "mr:virtio-pci[0]",
        "mr:msix-table[0]", "alias:queue_reset", "mr:qemu extended regs[0]",
        "alias:event_idx", "alias:indirect_desc",
    )  # fmt: skip


class VirtioGpuPci(_VirtioGpuProxy):
    """``virtio-gpu-pci``: virtio-gpu without VGA (a secondary virtio video)."""

    TYPE = "virtio-gpu-pci"
    PARENT = "virtio-gpu-pci-base-type"
    ABSTRACT = False
    EXTRA_TYPES = (
        QomType("virtio-gpu-pci-base", "virtio-pci", abstract=True),
        QomType("virtio-gpu-pci-base-type", "virtio-gpu-pci-base", abstract=True),
        *_VIRTIO_GPU_TYPES,
    )
    CLASS_PROPS = (
        ("vectors", IntCodec.UINT32, 3),
        ("ioeventfd", BOOL, False),
    )
    # qom-list order on the reference binary.
    LAYOUT = (
        "mr:virtio-pci-notify-virtio-gpu[0]", "alias:notify_on_empty", "mr:msix-pba[0]",
        "alias:hostmem", "bus", "alias:max_outputs", "alias:xres",
        "mr:virtio-pci-notify-pio-virtio-gpu[0]", "alias:in_order", "backend", "alias:packed",
        "mr:bus master container[0]", "alias:iommu_platform",
        "alias:x-scanout-vmstate-version", "alias:use-started", "alias:use-disabled-flag",
        "alias:any_layout", "alias:x-disable-legacy-check",
        "mr:virtio-pci-device-virtio-gpu[0]", "mr:virtio-pci-isr-virtio-gpu[0]", "alias:yres",
        "mr:bus master[0]", "mr:virtio-pci-common-virtio-gpu[0]",
        "mr:virtio-gpu-pci-msix[0]", "alias:blob", "alias:edid", "alias:max_hostmem",
        "mr:virtio-pci[0]", "alias:queue_reset", "mr:msix-table[0]", "alias:event_idx",
        "alias:indirect_desc",
    )  # fmt: skip


class _DisplayPci(PciDevice):
    """A plain PCI display adapter: its properties, then recorded memory regions."""

    PROPS: ClassVar[tuple[PropSpec, ...]] = ()
    REGIONS: ClassVar[tuple[str, ...]] = ()
    ROM: ClassVar[tuple[str, int]]

    def __init__(self, machine: Machine) -> None:
        super().__init__(machine)
        self.add_pci_properties()
        self.rom = OptionRom(self, *self.ROM)
        self.props.add_all(self.PROPS)
        add_layout(self, (f"mr:{name}" for name in self.REGIONS))

    def realize(self) -> None:
        """PCI slot checks."""
        self.pci_realize()

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Size the option ROM and take the PCI slot."""
        self.rom.load()
        self.pci_plug()
        return []


class Vga(_DisplayPci):
    """``VGA``: the standard VGA with Bochs VBE extensions (libvirt's ``type='vga'``)."""

    TYPE = "VGA"
    PARENT = "pci-vga"
    ABSTRACT = False
    HOTPLUGGABLE = False
    EXTRA_TYPES = (QomType("pci-vga", "pci-device", abstract=True),)
    ROM = ("vgabios-stdvga.bin", 65536)
    PROPS = (
        ("refresh_rate", IntCodec.UINT32, 0),
        ("global-vmstate", BOOL, False),
        ("big-endian-framebuffer", BOOL, False),
        ("vgamem_mb", IntCodec.UINT32, 16),
        ("qemu-extended-regs", BOOL, True),
        ("mmio", BOOL, True),
        ("ymax", IntCodec.UINT32, 0),
        ("yres", IntCodec.UINT32, 800),
        ("xmax", IntCodec.UINT32, 0),
        ("edid", BOOL, True),
        ("xres", IntCodec.UINT32, 1280),
    )
    REGIONS = (
        "vga[0]", "vga.mmio[0]", "vbe[0]", "vga[4]", "vga-lowmem[0]", "bus master[0]",
        "vga[1]", "bus master container[0]", "bochs dispi interface[0]",
        "vga ioports remapped[0]", "vga.rom[0]", "vga[2]", "qemu extended regs[0]",
        "vga.vram[0]", "edid[0]", "vga[3]",
    )  # fmt: skip

    def plug(self, now: Instant) -> list[MachineEvent]:
        """``vga_common_init``: video memory between 1 and 512 MiB, a power of two."""
        vgamem = self.props["vgamem_mb"]
        assert isinstance(vgamem, int)
        self.props.values["vgamem_mb"] = _pow2ceil(min(max(vgamem, 1), 512))
        return super().plug(now)


class BochsDisplay(_DisplayPci):
    """``bochs-display``: a VGA-less Bochs framebuffer (libvirt's ``type='bochs'``)."""

    TYPE = "bochs-display"
    PARENT = "pci-device"
    ABSTRACT = False
    ROM = ("vgabios-bochs-display.bin", 32768)
    PROPS = (
        ("xmax", IntCodec.UINT32, 0),
        ("xres", IntCodec.UINT32, 1280),
        ("ymax", IntCodec.UINT32, 0),
        ("edid", BOOL, True),
        ("yres", IntCodec.UINT32, 800),
        ("vgamem", SIZE, 16 * _MiB),
        ("refresh_rate", IntCodec.UINT32, 0),
        ("big-endian-framebuffer", BOOL, False),
    )
    REGIONS = (
        "bus master container[0]", "bochs dispi interface[0]", "bus master[0]",
        "qemu extended regs[0]", "bochs-display.rom[0]", "edid[0]", "bochs-display-mmio[0]",
        "bochs-display-vram[0]",
    )  # fmt: skip

    def realize(self) -> None:
        """PCI slot checks, then ``bochs_display_realize``: video memory of 4 to 256 MiB."""
        super().realize()
        vgamem = self.props["vgamem"]
        assert isinstance(vgamem, int)
        if vgamem < 4 * _MiB:
            raise MachineError("bochs-display: video memory too small")
        if vgamem > 256 * _MiB:
            raise MachineError("bochs-display: video memory too big")

    def plug(self, now: Instant) -> list[MachineEvent]:
        """The video memory is rounded up to a power of two."""
        vgamem = self.props["vgamem"]
        assert isinstance(vgamem, int)
        self.props.values["vgamem"] = _pow2ceil(vgamem)
        return super().plug(now)
