"""Serving a VM from a QEMU command line: parse it, build the daemon's settings, run the daemon.

Imported by :func:`hvballoond.cli.main` once it has turned the garbage collector off for
start-up (see there).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from hvballoond import __version__
from hvballoond.cli.defaults import DEFAULT_ARGS, default_run_dir
from hvballoond.cli.monitors import (
    ChardevSpec,
    EndpointKind,
    MonitorEndpoint,
    MonitorMode,
    parse_chardevs,
)
from hvballoond.cli.options import CommandLine, OptionError, parse_command_line
from hvballoond.dispatch.context import VmIdentity
from hvballoond.machine.chardev import ChardevBackend

if TYPE_CHECKING:
    from hvballoond.runtime.daemon import DaemonSettings

__all__ = ["QEMU_VERSION", "USAGE", "build_settings", "serve"]

QEMU_VERSION = {"major": 10, "minor": 0, "micro": 2}
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

USAGE = """\
usage: hvballoond [QEMU options...]        serve QMP like qemu-system-x86_64 10.0.2
       hvballoond replay [options] FILE...  replay QMP transcripts (see --help there)
       hvballoond record [options] ...      record a QMP conversation through a proxy

With no QEMU option, hvballoond serves its embedded default VM on RUN_DIR/qmp.sock.
hvballoond's own options: --run-dir DIR, --virtual-clock, --log-level LEVEL,
--log-format json|console, --socket-mode OCTAL, --allow-remote-tcp, --file-backend-dir DIR,
--host-commit-limit BYTES, --package TEXT, --socket-activation.
See README.md for the supported QEMU options.
"""


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a Linux dependency
        return asyncio.run(coro)
    result: int = uvloop.run(coro)
    return result


def _name(value: str) -> str:
    name = None
    for item in value.split(","):
        key, sep, val = item.partition("=")
        if not sep and name is None:
            name = item
        elif key == "guest":
            name = val
        elif key in ("debug-threads", "process"):
            pass
        else:
            raise OptionError(f"-name {value}: Invalid parameter '{key}'")
    return name or ""


def _identity(line: CommandLine, package: str) -> VmIdentity:
    name = line.process.get("name")
    uuid = line.process.get("uuid")
    if uuid is not None and not _UUID.match(uuid):
        raise OptionError(f"-uuid {uuid}: failed to parse UUID string: wrong format")
    kvm_present = os.access("/dev/kvm", os.R_OK | os.W_OK)
    return VmIdentity(
        name=_name(name) if name is not None else None,
        uuid=(uuid or "00000000-0000-0000-0000-000000000000").lower(),
        version={"qemu": dict(QEMU_VERSION), "package": package},
        kvm_present=kvm_present,
        kvm_enabled=kvm_present and _accelerator(line) == "kvm",
    )


def _accelerator(line: CommandLine) -> str:
    """The accelerator QEMU would pick: the first of -accel / -enable-kvm / -machine accel=."""
    for option in line.machine:
        if option.name == "enable-kvm":
            return "kvm"
        if option.name == "accel" and option.value:
            return option.value.split(",", 1)[0].removeprefix("accel=")
        if option.name in ("machine", "M") and option.value and "accel=" in option.value:
            wanted = option.value.split("accel=", 1)[1].split(",", 1)[0]
            return wanted.split(":", 1)[0]
    return "tcg"


def _own_int(own: dict[str, str | None], name: str, *, base: int = 10) -> int | None:
    text = own.get(name)
    if text is None:
        return None
    try:
        return int(text, base)
    except ValueError:
        raise OptionError(f"--{name} {text}: not a number") from None


def _monitor(endpoint: MonitorEndpoint) -> ChardevSpec:
    """The chardev of a QMP monitor hvballoond adds (socket activation, the default one)."""
    return ChardevSpec(endpoint.chardev_id, ChardevBackend.SOCKET, endpoint.option,
                       endpoint=endpoint, monitor=MonitorMode.QMP)


def build_settings(line: CommandLine) -> DaemonSettings:
    """Turn a parsed command line into the daemon's settings.

    Raises:
        OptionError: a refused option value (QEMU's message).
    """
    from hvballoond.machine.startup import StartupOption
    from hvballoond.runtime import daemon, systemd

    if line.empty:
        own = line.own
        line = parse_command_line(DEFAULT_ARGS)
        line.own = own
    own = line.own
    package = own.get("package") or f"hvballoond {__version__}"
    identity = _identity(line, package)
    chardevs = parse_chardevs(line.monitors)
    served = any(spec.qmp for spec in chardevs)
    activated = not served and systemd.listen_fds(unset_environment=False)
    if "socket-activation" in own or activated:
        for index, fd in enumerate(systemd.listen_fds()):
            chardevs.append(_monitor(MonitorEndpoint(
                f"compat_monitor{index}", EndpointKind.FD, server=True, pretty=False,
                option=f"LISTEN_FDS fd {fd}", fd=fd)))
    if not any(spec.qmp for spec in chardevs):
        run_dir = own.get("run-dir") or default_run_dir()
        os.makedirs(run_dir, mode=0o700, exist_ok=True)
        chardevs.append(_monitor(daemon.default_endpoint(run_dir)))
    options = [StartupOption(flag=f"-{o.name}", text=o.value or "") for o in line.machine]
    for flag in ("S", "no-shutdown"):
        if flag in line.process:
            options.append(StartupOption(flag=f"-{flag}", text=""))
    return daemon.DaemonSettings(
        startup_options=options,
        chardevs=chardevs,
        identity=identity,
        pidfile=line.process.get("pidfile"),
        virtual_clock="virtual-clock" in own,
        socket_mode=_own_int(own, "socket-mode", base=8) or 0o600,
        allow_remote_tcp="allow-remote-tcp" in own,
        file_backend_dir=own.get("file-backend-dir"),
        host_commit_limit=_own_int(own, "host-commit-limit"),
    )


def serve(argv: list[str]) -> int:
    """Serve the VM ``argv`` describes until it exits; returns the exit status.

    Raises:
        OptionError: a refused option (QEMU's message).
    """
    from hvballoond import logs
    from hvballoond.runtime import daemon
    from hvballoond.runtime.daemonize import run_daemonized

    line = parse_command_line(argv)
    if "version" in line.process:
        print(f"QEMU emulator version 10.0.2 (hvballoond {__version__})")
        return 0
    if "h" in line.process or "help" in line.process:
        print(USAGE, end="")
        return 0
    logs.configure(level=line.own.get("log-level") or "info", fmt=line.own.get("log-format"))
    settings = build_settings(line)
    if "daemonize" in line.process:
        return run_daemonized(settings)
    try:
        return _run(daemon.serve(settings))
    except daemon.StartupFailure as err:
        daemon.print_failure(err)
        return 1
