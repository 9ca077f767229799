"""``virtio-rng-pci`` and its backend ``virtio-rng-device`` (hw/virtio/virtio-rng.c,
virtio-rng-pci.c).

Not a memory device: it is here because it is the virtio PCI device clients hot-plug and
unplug to exercise the generic paths (a proxy with a ``virtio-backend`` child, an unplug
that stays pending until the guest or a system reset completes it, two DEVICE_DELETED
events). It moves no entropy. Without ``rng=`` the backend creates its own ``rng-builtin``
object as the child ``default-backend``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from hvballoond.clock import Instant
from hvballoond.machine.devices.pci import BOOL
from hvballoond.machine.devices.virtio import VirtioDevice, VirtioPciProxy
from hvballoond.machine.errors import MachineError
from hvballoond.machine.events import MachineEvent
from hvballoond.machine.qom import IntCodec, Property, QomObject, QomType
from hvballoond.machine.rng import RngBackend

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["VirtioRng", "VirtioRngPci"]

_INT64_MAX: Final = (1 << 63) - 1
#: DEV_NVECTORS_UNSPECIFIED: realize picks 2 MSI-X vectors (virtio-rng-pci.c).
_VECTORS_UNSPECIFIED: Final = 0xFFFFFFFF
_DEFAULT_VECTORS: Final = 2


class VirtioRng(VirtioDevice):
    """The ``virtio-rng-device`` backend (the proxy's ``virtio-backend``)."""

    TYPE = "virtio-rng-device"
    PARENT = "virtio-device"

    def __init__(self, machine: Machine, proxy: VirtioPciProxy) -> None:
        super().__init__(machine, proxy)
        self.rng: QomObject | None = None
        self.add_property(
            machine.qom.link_property(
                "rng",
                "rng-backend",
                getter=lambda: self.rng,
                setter=self.link_before_realize("rng", self._set_rng),
            )
        )
        self.props.add("period", IntCodec.UINT32, 1 << 16)
        self.props.add("max-bytes", IntCodec.UINT64, _INT64_MAX)
        # The link's legacy twin: listed, neither readable nor writable.
        self.add_property(Property("legacy-rng", "str"))

    def _set_rng(self, target: QomObject | None) -> None:
        self.rng = target

    def realize(self) -> None:
        """``virtio_rng_device_realize``: the rate-limit parameters."""
        period = self.props["period"]
        max_bytes = self.props["max-bytes"]
        assert isinstance(period, int) and isinstance(max_bytes, int)
        if period <= 0:
            raise MachineError("'period' parameter expects a positive integer")
        if max_bytes == 0 or max_bytes > _INT64_MAX:
            raise MachineError("'max-bytes' parameter must be positive, and less than 2^63")

    def attach_default_backend(self) -> None:
        """Without ``rng=``, create and link the ``rng-builtin`` child ``default-backend``."""
        if self.rng is not None:
            return
        builtin = RngBackend("rng-builtin")
        builtin.complete()
        self.add_child("default-backend", builtin)
        self.rng = builtin


class VirtioRngPci(VirtioPciProxy):
    """``virtio-rng-pci`` (the transitional generic name)."""

    TYPE = "virtio-rng-pci"
    PARENT = "virtio-rng-pci-base"
    ABSTRACT = False
    BACKEND = VirtioRng
    TRANSITIONAL = True
    EXTRA_TYPES = (
        QomType("virtio-rng-pci-base", "virtio-pci", abstract=True),
        QomType("virtio-rng-device", "virtio-device"),
    )
    CLASS_PROPS = (
        ("vectors", IntCodec.UINT32, _VECTORS_UNSPECIFIED),
        ("ioeventfd", BOOL, True),
    )
    # qom-list order on the reference binary (a hot-plugged virtio-rng-pci on a root port).
    LAYOUT = (
        "bus", "alias:indirect_desc", "alias:period", "alias:iommu_platform",
        "mr:virtio-rng-pci-msix[0]", "alias:legacy-rng", "alias:event_idx", "mr:virtio-pci[0]",
        "mr:virtio-pci-common-virtio-rng[0]", "alias:x-disable-legacy-check",
        "mr:bus master container[0]", "alias:max-bytes", "alias:any_layout", "alias:rng",
        "alias:notify_on_empty", "mr:msix-pba[0]", "alias:queue_reset",
        "mr:virtio-pci-isr-virtio-rng[0]", "alias:packed", "alias:use-started",
        "mr:virtio-pci-notify-pio-virtio-rng[0]", "alias:in_order", "mr:bus master[0]",
        "mr:virtio-pci-device-virtio-rng[0]", "mr:msix-table[0]", "alias:use-disabled-flag",
        "mr:virtio-pci-notify-virtio-rng[0]", "backend",
    )  # fmt: skip
    vdev: VirtioRng

    def plug(self, now: Instant) -> list[MachineEvent]:
        """Pick the MSI-X vector count, give the backend its default RNG, then the PCI side."""
        if self.props["vectors"] == _VECTORS_UNSPECIFIED:
            self.props.values["vectors"] = _DEFAULT_VECTORS
        self.vdev.attach_default_backend()
        return super().plug(now)

