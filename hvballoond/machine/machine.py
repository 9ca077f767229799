"""The :class:`Machine` facade: one emulated VM's whole state.

A Machine owns the QOM tree (``/machine``, ``/objects``), the memory layout, the memory
backends, the device registry and bus tree (:class:`~hvballoond.machine.qdev.Qdev`), the run
state and the timers. Every mutator takes ``now`` and returns the events it caused; nothing
is emitted behind the caller's back. Several machines may live in one process: there is no
module-level mutable state.

Extension points for device packages:

* :meth:`Machine.component` -- a per-machine singleton of any class taking the machine
  (the memory-device manager, the balloon core...).
* :meth:`Machine.on_guest_boot` / :meth:`Machine.on_reset` -- callbacks.
* :meth:`Machine.schedule_host` / :meth:`Machine.schedule_guest` / :meth:`Machine.call_soon`
  -- timers; guest timers only advance while the VM runs.
* :meth:`Machine.add_stepper` -- a function run after timers in :meth:`advance` until no
  stepper reports progress (channel pumps, state machines).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

import structlog

from hvballoond.clock import Instant
from hvballoond.machine.backends import (
    BackendDefaults,
    Backends,
    FileProbe,
    HostMemory,
    MemoryBackend,
    NoFileAccess,
    UserObjectType,
)
from hvballoond.machine.config import HostFacts, MachineConfig, MachineKind
from hvballoond.machine.events import MachineEvent, ShutdownCause
from hvballoond.machine.machine_object import build_machine_tree
from hvballoond.machine.memdev.device import MemoryDevice
from hvballoond.machine.memdev.machine_manager import memory_devices
from hvballoond.machine.memory_map import (
    DeviceMemoryRegion,
    FlatRange,
    MemoryMap,
    RegionKind,
    build_layout,
)
from hvballoond.machine.qdev import Bus, Device, DeviceOptions, Qdev
from hvballoond.machine.qom import Property, QomObject, QomTree, TypeRegistry
from hvballoond.machine.qom_type_order import QEMU_TYPE_ORDER
from hvballoond.machine.qom_types import register_core_types
from hvballoond.machine.runstate import RunControl, RunState
from hvballoond.machine.timers import Deadlines, TimerCallback
from hvballoond.wire.values import JSONObject, JSONValue

__all__ = ["Machine", "Stepper"]

log = structlog.get_logger(__name__)

C = TypeVar("C")

#: A stepper returns the events it caused; an empty list means "no progress".
Stepper = Callable[[Instant], list[MachineEvent]]
BootListener = Callable[[Instant], list[MachineEvent]]
ResetListener = Callable[[ShutdownCause, Instant], list[MachineEvent]]

_MAX_STEP_ROUNDS = 10_000


def _owner_name(owner: MemoryDevice) -> str:
    # Memory devices are QOM objects; name a range after the owner's type.
    return owner.qom_type if isinstance(owner, QomObject) else type(owner).__name__


class Machine:
    """One emulated VM.

    Build it with :func:`hvballoond.machine.startup.create_machine` (the command-line
    path) or directly for tests::

        machine = Machine(MachineConfig(ram_size=GiB, maxram_size=16 * GiB, ram_slots=4),
                          host=HostFacts(), now=clock.now())
        machine.create_default_ram()      # /objects/pc.ram (startup does this for you)
        machine.mark_ready()

    Args:
        config: the static configuration (layout checks run here and may raise
            :class:`~hvballoond.machine.errors.StartupError`).
        host: host facts (commit limit, page sizes, KVM).
        now: creation time.
        device_types: device classes to register (default: the installed packages').
        object_types: non-backend user object types (default: the installed packages').
        file_probe: how memory-backend-file looks at ``mem-path``.
    """

    def __init__(
        self,
        config: MachineConfig,
        *,
        host: HostFacts,
        now: Instant,
        device_types: Iterable[type[Device]] | None = None,
        object_types: Iterable[UserObjectType] | None = None,
        file_probe: FileProbe | None = None,
        check_layout: bool = True,
    ) -> None:
        self.config = config
        self.host = host
        self.created_at = now
        self.types = TypeRegistry(QEMU_TYPE_ORDER)
        register_core_types(self.types, config)
        self.qom = QomTree(self.types)
        layout, region = build_layout(config, check=check_layout)
        self.memory_map = MemoryMap(config, layout, region)
        self.backends = Backends(
            self.qom,
            host=HostMemory(
                commit_limit=host.effective_commit_limit,
                page_size=host.page_size,
                default_hugetlb_size=host.default_hugetlb_size,
            ),
            probe=file_probe or NoFileAccess(),
            defaults=BackendDefaults(
                merge=config.mem_merge, dump=config.dump_guest_core, cpus=config.cpus
            ),
        )
        self.backends.object_hooks.append(self._user_object_changed)
        self.is_ready = False
        self.run = RunControl(
            start_paused=config.start_paused, no_shutdown=config.no_shutdown, now=now
        )
        self.host_timers = Deadlines()
        self.guest_timers = Deadlines()
        self.guest_booted = False
        self.ram_backend: MemoryBackend | None = None
        self._components: dict[type[object], object] = {}
        self._steppers: list[Stepper] = []
        self._boot_listeners: list[BootListener] = []
        self._reset_listeners: list[ResetListener] = []
        self.qdev = Qdev(self)
        self.machine_object = build_machine_tree(self)
        for cls in device_types or ():
            self.qdev.register(cls)
        if device_types is None or object_types is None:
            # The device packages are imported when first used (catalog.py).
            from hvballoond.machine.catalog import declare_types

            declare_types(
                self.qdev if device_types is None else None,
                self.backends if object_types is None else None,
            )
        for spec in object_types or ():
            self.backends.register_object_type(spec)

    # -- facts ------------------------------------------------------------------------------

    @property
    def kind(self) -> MachineKind:
        """Board family."""
        return self.config.kind

    @property
    def has_hotplug_handler(self) -> bool:
        """pc/q35 act as hotplug handler for DIMMs and virtio-md-pci; ``none`` does not."""
        return self.config.kind is not MachineKind.NONE

    @property
    def device_memory(self) -> DeviceMemoryRegion | None:
        """The device-memory region, or None (§3.1)."""
        return self.memory_map.device_memory

    @property
    def numa_node_count(self) -> int:
        """NUMA nodes as device ``node`` checks count them (0 is treated as 1 by callers)."""
        return self.config.numa_node_count

    @property
    def pci_root_bus(self) -> Bus | None:
        """``pcie.0`` (q35) or ``pci.0`` (pc); None for ``none``."""
        return self.qdev.find_bus("pcie.0") or self.qdev.find_bus("pci.0")

    def finish_layout(self, config: MachineConfig | None = None) -> None:
        """Run the board's layout checks (§1.2 #8, #6, #7), optionally with a new config.

        ``startup`` builds the machine with ``check_layout=False`` so that object errors
        come first, as in QEMU, then calls this at board-init time.

        Raises:
            StartupError: QEMU's message.
        """
        if config is not None:
            self.config = config
        layout, region = build_layout(self.config)
        self.memory_map = MemoryMap(self.config, layout, region)

    def mark_ready(self) -> None:
        """Startup is over: from now on every device_add is a hot-plug."""
        self.is_ready = True

    # -- components and listeners -----------------------------------------------------------

    def component(self, cls: type[C]) -> C:
        """The machine's single instance of ``cls``, created as ``cls(self)`` on first use."""
        found = self._components.get(cls)
        if found is None:
            found = cls(self)  # type: ignore[call-arg]  # components take the machine
            self._components[cls] = found
        assert isinstance(found, cls)
        return found

    def has_component(self, cls: type[object]) -> bool:
        """True if :meth:`component` already created ``cls``."""
        return cls in self._components

    def add_stepper(self, stepper: Stepper) -> None:
        """Run ``stepper`` in :meth:`advance` until no stepper makes progress."""
        self._steppers.append(stepper)

    def on_guest_boot(self, listener: BootListener) -> None:
        """Call ``listener(now)`` each time the simulated guest boots."""
        self._boot_listeners.append(listener)

    def on_reset(self, listener: ResetListener) -> None:
        """Call ``listener(reason, now)`` at every system reset (after device resets)."""
        self._reset_listeners.append(listener)

    # -- time -------------------------------------------------------------------------------

    def virtual_ns(self, now: Instant) -> int:
        """Guest virtual time (advances only while running)."""
        return self.run.clock.now_ns(now)

    def virtual_ms(self, now: Instant) -> int:
        """Guest virtual time in ms (``qemu_clock_get_ms(QEMU_CLOCK_VIRTUAL)``)."""
        return self.run.clock.now_ms(now)

    def schedule_host(self, at_ns: int, key: Hashable, callback: TimerCallback) -> None:
        """Arm a host-time timer (``now.mono_ns`` base) that fires even while paused."""
        self.host_timers.schedule(at_ns, key, callback)

    def schedule_guest(self, at_virtual_ns: int, key: Hashable, callback: TimerCallback) -> None:
        """Arm a guest-time timer (virtual ns base); it waits while the VM is not running."""
        self.guest_timers.schedule(at_virtual_ns, key, callback)

    def call_soon(self, key: Hashable, callback: TimerCallback, now: Instant) -> None:
        """Run ``callback`` at the next :meth:`advance` (after the current reply is sent).

        Use it for what QEMU does in a bottom half, e.g. DEVICE_DELETED after a reset.
        """
        self.host_timers.schedule(now.mono_ns, key, callback)

    def cancel_timer(self, key: Hashable) -> None:
        """Disarm ``key`` in both time bases."""
        self.host_timers.cancel(key)
        self.guest_timers.cancel(key)

    def next_deadline(self) -> int | None:
        """The earliest host monotonic ns at which :meth:`advance` has work, or None."""
        candidates: list[int] = []
        host_next = self.host_timers.next_deadline()
        if host_next is not None:
            candidates.append(host_next)
        guest_next = self.guest_timers.next_deadline()
        if guest_next is not None:
            at = self.run.clock.to_host_ns(guest_next)
            if at is not None:
                candidates.append(at)
        return min(candidates) if candidates else None

    def advance(self, now: Instant) -> list[MachineEvent]:
        """Fire every due timer in deadline order (both time bases), then run steppers.

        A callback may change the run state (and so whether guest time flows); due times
        are re-evaluated after each callback.
        """
        events: list[MachineEvent] = []
        for _ in range(_MAX_STEP_ROUNDS):
            host_at = self.host_timers.next_deadline()
            guest_at: int | None = None
            guest_next = self.guest_timers.next_deadline()
            if guest_next is not None and guest_next <= self.virtual_ns(now):
                guest_at = self.run.clock.to_host_ns(guest_next)
            host_due = host_at is not None and host_at <= now.mono_ns
            if guest_at is not None and (not host_due or guest_at < (host_at or 0)):
                timer = self.guest_timers.pop_due(self.virtual_ns(now))
            elif host_due:
                timer = self.host_timers.pop_due(now.mono_ns)
            else:
                break
            if timer is None:
                break
            events += timer.callback(now)
        events += self.step(now)
        return events

    def step(self, now: Instant) -> list[MachineEvent]:
        """Run the steppers until none reports progress."""
        events: list[MachineEvent] = []
        for _ in range(_MAX_STEP_ROUNDS):
            progress = False
            for stepper in list(self._steppers):
                produced = stepper(now)
                if produced:
                    progress = True
                    events += produced
            if not progress:
                break
        return events

    # -- run control ------------------------------------------------------------------------

    @property
    def runstate(self) -> RunState:
        """The current run state."""
        return self.run.state

    def query_status(self) -> JSONObject:
        """``query-status``: ``{"status", "running"}`` in schema order."""
        return {"running": self.run.running, "status": self.run.state.value}

    def _maybe_boot(self, now: Instant) -> list[MachineEvent]:
        if self.guest_booted or not self.run.running:
            return []
        self.guest_booted = True
        log.info("machine.guest.booted")
        events: list[MachineEvent] = []
        for device in self.qdev.all_devices():
            events += device.guest_booted(now)
        for listener in list(self._boot_listeners):
            events += listener(now)
        return events

    def start(self, now: Instant) -> list[MachineEvent]:
        """Called once when startup completes: a VM started without ``-S`` boots now."""
        return self._maybe_boot(now)

    def stop(self, now: Instant) -> list[MachineEvent]:
        """``stop``."""
        return self.run.stop(now)

    def cont(self, now: Instant) -> list[MachineEvent]:
        """``cont`` (boots the guest when leaving prelaunch)."""
        events = self.run.cont(now)
        return events + self._maybe_boot(now)

    def system_reset(
        self, now: Instant, reason: ShutdownCause = ShutdownCause.HOST_QMP_SYSTEM_RESET
    ) -> list[MachineEvent]:
        """A system reset: device resets, reset listeners, RESET, run-state change, reboot."""
        events: list[MachineEvent] = []
        self.guest_booted = False
        for device in self.qdev.all_devices():
            if device.realized:
                events += device.reset(now)
        for listener in list(self._reset_listeners):
            events += listener(reason, now)
        events += self.run.reset(reason, now)
        return events + self._maybe_boot(now)

    def system_powerdown(self, now: Instant) -> list[MachineEvent]:
        """``system_powerdown``: POWERDOWN; the simulated guest decides what follows."""
        return self.run.powerdown()

    def guest_shutdown(self, now: Instant) -> list[MachineEvent]:
        """The guest powered off (for guest simulations)."""
        events = self.run.shutdown(ShutdownCause.GUEST_SHUTDOWN, now)
        self.guest_booted = False
        return events

    def guest_reset(self, now: Instant) -> list[MachineEvent]:
        """The guest rebooted itself (``RESET`` with ``guest: true``)."""
        return self.system_reset(now, ShutdownCause.GUEST_RESET)

    def quit(self, now: Instant) -> list[MachineEvent]:
        """``quit``: SHUTDOWN (host-qmp-quit); the runtime then exits."""
        return self.run.shutdown(ShutdownCause.HOST_QMP_QUIT, now)

    @property
    def exit_requested(self) -> bool:
        """The process should exit (quit, or a guest shutdown without ``-no-shutdown``)."""
        return self.run.exit_requested

    # -- memory -----------------------------------------------------------------------------

    def create_default_ram(self) -> MemoryBackend | None:
        """Create and map ``/objects/pc.ram`` (or ``ram`` for ``none``) of ``ram_size``.

        Raises:
            StartupError: an object already uses the reserved id.
        """
        from hvballoond.machine.errors import StartupError

        ram_id = "ram" if self.kind is MachineKind.NONE else "pc.ram"
        if self.config.ram_size == 0:
            return None
        if self.backends.objects.child(ram_id) is not None:
            raise StartupError(
                f"object's id '{ram_id}' is reserved for the default RAM backend, it can't "
                "be used for any other purposes",
                hint="Change the object's 'id' to something else or disable automatic "
                f"creation of the default RAM backend by setting 'memory-backend={ram_id}' "
                "with '-machine'.",
            )
        backend = self.backends.object_add(
            "memory-backend-ram", ram_id, {"size": self.config.ram_size}
        )
        assert isinstance(backend, MemoryBackend)
        self.use_as_ram(backend)
        return backend

    def use_as_ram(self, backend: MemoryBackend) -> None:
        """Map ``backend`` as the machine's main RAM (``-machine memory-backend``)."""
        backend.set_mapped(True)
        self.ram_backend = backend

    def memory_size_summary(self) -> JSONObject:
        """``query-memory-size-summary`` (§4), members in schema order."""
        plugged = 0
        for device in self.qdev.all_devices():
            size = device.plugged_memory_size()
            if size:
                plugged += size
        return {"base-memory": self.config.ram_size, "plugged-memory": plugged}

    def mapped_ranges(self) -> list[FlatRange]:
        """RAM sections memory devices have mapped into guest-physical space, ascending.

        Every memory device maps through the memory-device manager (whole regions for
        DIMMs, NVDIMMs and virtio-pmem; memslots for hv-balloon and virtio-mem with
        dynamic memslots), so the manager's sections are the device part of the flat view.
        """
        return [
            FlatRange(section.start, section.end, RegionKind.RAM, _owner_name(section.owner))
            for section in memory_devices(self).sections()
        ]

    def classify_page(self, address: int) -> FlatRange | None:
        """The flat-view range at guest-physical ``address`` (None: not found in RAM).

        hv-balloon calls this for every page range the guest returns, so the device part is
        a bisection over the manager's sections rather than a walk over the devices.
        """
        found = self.memory_map.lookup(address)
        if found is not None:
            return found
        section = memory_devices(self).section_at(address)
        if section is None:
            return None
        return FlatRange(section.start, section.end, RegionKind.RAM, _owner_name(section.owner))

    # -- QOM introspection ------------------------------------------------------------------

    def type_properties(self, typename: str) -> list[Property]:
        """``qom-list-properties``: the properties an object of ``typename`` has.

        Raises:
            NotFoundError: ``Class 'nope' not found``.
            MachineError: ``Parameter 'typename' expects a QOM type`` (interfaces).
        """
        from hvballoond.machine.backends import BackendKind
        from hvballoond.machine.errors import MachineError, NotFoundError

        if typename not in self.types:
            raise NotFoundError(f"Class '{typename}' not found")
        if not self.types.is_a(typename, "object"):
            raise MachineError("Parameter 'typename' expects a QOM type")
        sample: QomObject
        if typename == "memory-backend":
            typename = BackendKind.RAM.value
        if typename in {kind.value for kind in BackendKind}:
            sample = MemoryBackend(BackendKind(typename), "", defaults=self.backends.defaults)
        elif (cls := self.qdev.device_class(typename)) is not None:
            # Device constructors must not touch machine state (qdev.py), so a throw-away
            # instance is safe.
            sample = cls(self)
        elif typename == self.config.type_name:
            sample = self.machine_object
        else:
            sample = QomObject(typename)
        return [p for p in sample.properties() if p.child is None]

    # -- objects and devices ----------------------------------------------------------------

    def _user_object_changed(self, obj: QomObject, added: bool) -> None:
        hook = getattr(obj, "attach_to_machine" if added else "detach_from_machine", None)
        if callable(hook):
            hook(self)

    def object_add(self, qom_type: str, obj_id: str, props: JSONObject) -> QomObject:
        """``object-add`` of a memory backend or user object (props schema-validated)."""
        return self.backends.object_add(qom_type, obj_id, props)

    def object_del(self, obj_id: str) -> None:
        """``object-del``."""
        self.backends.object_del(obj_id)

    def device_add(
        self, options: DeviceOptions | dict[str, JSONValue], now: Instant
    ) -> tuple[Device, list[MachineEvent]]:
        """``device_add`` / ``-device``; see :meth:`Qdev.device_add`."""
        if not isinstance(options, DeviceOptions):
            options = DeviceOptions(options)
        return self.qdev.device_add(options, now)

    def device_del(self, device_id: str, now: Instant) -> list[MachineEvent]:
        """``device_del``; see :meth:`Qdev.device_del`."""
        return self.qdev.device_del(device_id, now)
