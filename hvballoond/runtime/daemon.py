"""The composition root: command line -> machine, dispatcher, monitors; then serve until exit."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from hvballoond import __version__, logs
from hvballoond.cli.monitors import ChardevSpec, EndpointKind, MonitorEndpoint
from hvballoond.clock import Clock, FakeClock, SystemClock
from hvballoond.dispatch import schema_glue
from hvballoond.dispatch.catalog import Catalog
from hvballoond.dispatch.context import VmIdentity
from hvballoond.dispatch.dispatcher import Dispatcher
from hvballoond.machine.chardev import Chardevs
from hvballoond.machine.config import MachineKind
from hvballoond.machine.cpu import add_boot_cpus
from hvballoond.machine.errors import MachineError
from hvballoond.machine.startup import StartupOption, create_machine
from hvballoond.probe.cpus import cpu_table
from hvballoond.probe.store import default_store
from hvballoond.runtime import systemd
from hvballoond.runtime.chardevs import ChardevOpenError, open_chardev
from hvballoond.runtime.host import DirectoryFileProbe, probe_host
from hvballoond.runtime.listeners import EndpointError, Listeners
from hvballoond.runtime.monitor import Monitor
from hvballoond.runtime.vm import VmRuntime

__all__ = ["DaemonSettings", "StartupFailure", "serve"]

log = structlog.get_logger(__name__)


class StartupFailure(Exception):
    """Start-up refused (exit 1): QEMU's message, and the hint lines it prints after it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def stderr_text(self, program: str = "hvballoond") -> str:
        """What QEMU prints: each message line after the program name, hint lines as-is."""
        lines = [f"{program}: {line}" for line in self.message.splitlines() or [""]]
        if self.hint:
            lines += self.hint.splitlines()
        return "".join(f"{line}\n" for line in lines)


@dataclass(slots=True)
class DaemonSettings:
    """Everything :func:`serve` needs, decided from the command line."""

    startup_options: list[StartupOption]
    chardevs: list[ChardevSpec]  # QMP monitors and the others, in creation order
    identity: VmIdentity
    pidfile: str | None = None
    virtual_clock: bool = False
    socket_mode: int = 0o600
    allow_remote_tcp: bool = False
    file_backend_dir: str | None = None
    host_commit_limit: int | None = None
    banner: list[str] = field(default_factory=list)


async def serve(
    settings: DaemonSettings,
    *,
    on_ready: Callable[[list[str]], None] | None = None,
    handle_signals: bool = True,
) -> int:
    """Build the VM and serve its monitors until quit or a signal; returns the exit status.

    Raises:
        StartupFailure: the configuration or an endpoint was refused before serving began.
    """
    loop = asyncio.get_running_loop()
    clock: Clock = FakeClock(epoch_ns=time.time_ns()) if settings.virtual_clock else SystemClock()
    schema_glue.load_handlers()
    try:
        machine = create_machine(
            settings.startup_options,
            object_validator=schema_glue.object_validator,
            host=probe_host(commit_limit=settings.host_commit_limit),
            now=clock.now(),
            file_probe=DirectoryFileProbe(settings.file_backend_dir),
            chardevs=[spec.config() for spec in settings.chardevs],
        )
    except MachineError as err:
        raise StartupFailure(err.message, err.hint) from None
    # The CPU objects managers read; -cpu is not modelled: always QEMU's default qemu64.
    add_boot_cpus(machine, cpu_table("qemu64", machine.config.accel.value))
    dispatcher = Dispatcher(
        machine=machine,
        vm=settings.identity,
        handlers=schema_glue.handlers(),
        validate=schema_glue.validate_arguments,
        probe=default_store() if machine.kind is MachineKind.NONE else None,
    )
    catalog = Catalog(dispatcher.commands(), oob_commands=schema_glue.oob_commands())
    exit_future: asyncio.Future[int] = loop.create_future()

    def on_exit(code: int) -> None:
        if not exit_future.done():
            exit_future.set_result(code)

    vm = VmRuntime(
        dispatcher=dispatcher,
        catalog=catalog,
        clock=clock,
        version=settings.identity.version,
        on_exit=on_exit,
    )
    listeners = Listeners(
        socket_mode=settings.socket_mode, allow_remote_tcp=settings.allow_remote_tcp
    )
    registry = machine.component(Chardevs)
    try:
        for spec in settings.chardevs:
            if spec.qmp:
                assert spec.endpoint is not None
                monitor = vm.add_monitor(spec.label, pretty=spec.endpoint.pretty)
                await listeners.open(spec.endpoint, monitor)
                registry.attach_status(spec.label, monitor)
            else:
                chardev = await open_chardev(spec, listeners,
                                             file_dir=settings.file_backend_dir)
                vm.add_chardev(chardev)
                registry.attach_status(spec.label, chardev)
        if settings.pidfile:
            _write_pidfile(settings.pidfile)
    except (EndpointError, ChardevOpenError, StartupFailure) as err:
        listeners.close()
        _close_chardevs(vm)
        raise StartupFailure(str(err)) from None

    logs.release_startup_logs()
    for address in listeners.addresses:
        log.info("daemon.listening", address=address)
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP) if handle_signals else ()
    for signum in signals:
        loop.add_signal_handler(signum, vm.shutdown_by_signal)
    systemd.notify(f"READY=1\nSTATUS=serving QMP on {', '.join(listeners.addresses)}")
    log.info("daemon.ready", version=__version__, pid=os.getpid())
    if on_ready is not None:
        on_ready(listeners.addresses)
    vm.rearm_timers()
    # Everything built so far lives as long as the VM: keep it out of the collector's way
    # (garbage collection was a third of object-add's cost with thousands of backends).
    # No collection first: start-up leaves next to no cyclic garbage (a full collection here
    # found 5 unreachable objects among ~28,000, and took 6-14 ms before the greeting).
    gc.freeze()
    gc.enable()  # the command line turns it off for start-up (cli.main)
    try:
        code = await exit_future
    finally:
        systemd.notify("STOPPING=1")
        listeners.close()
        _close_chardevs(vm)
        if settings.pidfile:
            _remove_pidfile(settings.pidfile)
        for signum in signals:
            loop.remove_signal_handler(signum)
    # Let the transports flush their last bytes (SHUTDOWN event, quit reply).
    await asyncio.sleep(0)
    return code


def _close_chardevs(vm: VmRuntime) -> None:
    for chardev in vm.chardevs:
        if not isinstance(chardev, Monitor):
            chardev.close()


def _write_pidfile(path: str) -> None:
    try:
        with open(path, "w") as pidfile:
            pidfile.write(f"{os.getpid()}\n")
    except OSError as err:
        raise StartupFailure(
            f"cannot create PID file: Could not create '{path}': {err.strerror}"
        ) from None


def _remove_pidfile(path: str) -> None:
    try:
        with open(path) as pidfile:
            text = pidfile.read()
        if text.strip() == str(os.getpid()):
            os.unlink(path)
    except OSError:
        pass


def default_endpoint(run_dir: str) -> MonitorEndpoint:
    """The documented socket used when no monitor option is given: RUN_DIR/qmp.sock."""
    path = os.path.join(run_dir, "qmp.sock")
    return MonitorEndpoint("compat_monitor0", EndpointKind.UNIX, server=True, pretty=False,
                           option=f"-qmp unix:{path},server=on,wait=off", path=path)


def print_failure(failure: StartupFailure | str) -> None:
    logs.discard_startup_logs()
    if isinstance(failure, str):
        failure = StartupFailure(failure)
    sys.stderr.write(failure.stderr_text())
    sys.stderr.flush()
