"""``-object hvb-guest`` / ``object-add qom-type=hvb-guest`` (an hvballoond extension).

QEMU runs a real guest OS; hvballoond simulates the parts of one that a memory control plane
sees: the ACPI OSPM that ejects DIMMs, the virtio-mem and virtio-balloon drivers and the Hyper-V
Dynamic Memory driver. Without an ``hvb-guest`` object there is no guest at all, exactly like
QEMU booting nothing (the recorded corpus relies on that). With one, the guest behaves like the
Linux guest hvballoond's timings were measured on, adjusted by the properties:

- ``mode``: ``linux`` (default: cooperates), ``ospm-refuse`` (refuses DIMM ejects with an
  ACPI _OST error), ``none`` (no guest, as without the object);
- ``connect-delay``: seconds of virtual time from boot to the Dynamic Memory guest connecting
  (negative: never connects);
- ``hot-add``: how the Dynamic Memory guest answers hot-add requests (``full``,
  ``partial:N``, ``reject``, ``over:N``, ``delay:S``);
- ``balloon-chunk``: the most page ranges in one Dynamic Memory balloon response.

Every property can be changed at run time with ``qom-set``; a change applies to what the guest
does from then on (the drivers already running keep their settings until the next boot).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from hvballoond.machine.backends import UserObjectType
from hvballoond.machine.balloon.core import set_balloon_guest_policy
from hvballoond.machine.balloon.driver import VirtioBalloonDriverPolicy
from hvballoond.machine.devices.guest import DeviceGuestPolicy, DimmOspm, set_device_guest_policy
from hvballoond.machine.errors import MachineError
from hvballoond.machine.hv_balloon.guest_sim import guest_policy_from_options
from hvballoond.machine.qdev import qdict_order
from hvballoond.machine.qom import Codec, InputStyle, IntCodec, Property, QomObject, StrCodec
from hvballoond.wire.values import JSONValue

if TYPE_CHECKING:
    from hvballoond.machine.machine import Machine

__all__ = ["HVB_GUEST", "MODES", "HvbGuest"]

MODES: Final = ("linux", "ospm", "ospm-refuse", "none")


class _NumberCodec(Codec[float]):
    """QAPI ``number``: any JSON number; text as a decimal number."""

    qom_type = "number"

    def from_json(self, name: str, value: JSONValue) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MachineError(f"Invalid parameter type for '{name}', expected: number")
        return float(value)

    def from_text(self, name: str, text: str, style: InputStyle) -> float:
        try:
            return float(text)
        except ValueError:
            raise MachineError(f"Parameter '{name}' expects a number") from None


class HvbGuest(QomObject):
    """The simulated guest's settings; attached to its machine while it exists."""

    def __init__(self) -> None:
        super().__init__("hvb-guest")
        self.mode = "linux"
        self.connect_delay: float | None = None
        self.hot_add: str | None = None
        self.balloon_chunk: int | None = None
        self._machine: Machine | None = None
        self.add_property(Property.typed(
            "mode", StrCodec(), getter=lambda: self.mode, setter=self._set_mode))
        self.add_property(Property.typed(
            "connect-delay", _NumberCodec(),
            getter=lambda: self.connect_delay if self.connect_delay is not None else 2.0,
            setter=self._set_connect_delay))
        self.add_property(Property.typed(
            "hot-add", StrCodec(), getter=lambda: self.hot_add or "full",
            setter=self._set_hot_add))
        self.add_property(Property.typed(
            "balloon-chunk", IntCodec.UINT32,
            getter=lambda: self.balloon_chunk if self.balloon_chunk is not None else 0,
            setter=self._set_balloon_chunk))

    # -- properties -----------------------------------------------------------------------

    def _set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise MachineError(
                f"Parameter 'mode' does not accept value '{mode}' "
                f"(expected one of: {', '.join(MODES)})"
            )
        self.mode = mode
        self._apply()

    def _set_connect_delay(self, seconds: float) -> None:
        self.connect_delay = seconds
        self._apply()

    def _set_hot_add(self, reply: str) -> None:
        self._dm_policy(hot_add=reply)  # validate before storing
        self.hot_add = reply
        self._apply()

    def _set_balloon_chunk(self, chunk: int) -> None:
        self.balloon_chunk = chunk
        self._apply()

    # -- the machine ------------------------------------------------------------------------

    def attach_to_machine(self, machine: Machine) -> None:
        self._machine = machine
        self._apply()

    def detach_from_machine(self, machine: Machine) -> None:
        self._machine = None
        set_device_guest_policy(machine, DeviceGuestPolicy())
        set_balloon_guest_policy(machine, dm=None, virtio=None)

    def _dm_policy(self, *, hot_add: str | None) -> object:
        try:
            return guest_policy_from_options(
                connect_delay_s=self.connect_delay,
                hot_add=hot_add,
                balloon_chunk=self.balloon_chunk or None,
            )
        except ValueError as err:
            raise MachineError(f"Parameter 'hot-add' does not accept value '{hot_add}'") from err

    def _apply(self) -> None:
        machine = self._machine
        if machine is None:
            return
        if self.mode == "none":
            set_device_guest_policy(machine, DeviceGuestPolicy())
            set_balloon_guest_policy(machine, dm=None, virtio=None)
            return
        devices = DeviceGuestPolicy.linux()
        if self.mode == "ospm-refuse":
            devices = dataclasses.replace(devices, dimm=DimmOspm.OSPM_REFUSE)
        set_device_guest_policy(machine, devices)
        dm = guest_policy_from_options(
            connect_delay_s=self.connect_delay,
            hot_add=self.hot_add,
            balloon_chunk=self.balloon_chunk or None,
        )
        set_balloon_guest_policy(machine, dm=dm, virtio=VirtioBalloonDriverPolicy())


def _create(obj_id: str, props: Mapping[str, JSONValue]) -> QomObject:
    guest = HvbGuest()
    for key in qdict_order(list(props)):
        guest.set_json(key, props[key])
    return guest


#: ``-object hvb-guest`` / ``object-add qom-type=hvb-guest``.
HVB_GUEST: Final = UserObjectType("hvb-guest", "object", _create)
