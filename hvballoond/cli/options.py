"""QEMU-style command-line options: which ones exist, which take a value, which we honour.

QEMU accepts ``-opt`` and ``--opt`` alike and rejects unknown options with
``<opt>: invalid option``; a missing value gives ``<opt>: requires an argument``
(system/vl.c). hvballoond's own options are spelled ``--hvb-...`` style long options and listed in
``OWN_OPTIONS``; they never collide with QEMU's names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, auto

__all__ = [
    "IGNORED_OPTIONS",
    "MACHINE_OPTIONS",
    "OWN_OPTIONS",
    "CommandLine",
    "OptionError",
    "parse_command_line",
]


class OptionError(Exception):
    """A refused command line; the text is printed after the program name, exit 1.

    Attributes:
        hint: lines QEMU prints after the message without the program name, or None.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class Kind(Enum):
    MACHINE = auto()  # handed to the machine model in order (-machine, -m, -object, -device, ...)
    MONITOR = auto()  # -qmp, -qmp-pretty, -chardev, -mon
    PROCESS = auto()  # -S, -name, -uuid, -pidfile, -daemonize, -no-shutdown, ...
    IGNORED = auto()  # accepted and ignored: not part of a memory control plane
    OWN = auto()  # hvballoond's own


# Options whose values the machine model interprets, in command-line order.
MACHINE_OPTIONS: dict[str, bool] = {
    "machine": True,
    "M": True,
    "m": True,
    "object": True,
    "device": True,
    "numa": True,
    "accel": True,
    "enable-kvm": False,
    "global": True,
    "smp": True,
    "overcommit": True,  # mem-lock=on matters to virtio-mem
}

# Accepted and ignored (documented in the README): name -> takes a value.
IGNORED_OPTIONS: dict[str, bool] = {
    "display": True,
    "nodefaults": False,
    "no-user-config": False,
    "nographic": False,
    "cpu": True,
    "rtc": True,
    "boot": True,
    "msg": True,
    "sandbox": True,
    "serial": True,
    "parallel": True,
    "monitor": True,
    "vga": True,
    "k": True,
    "usb": False,
    "no-hpet": False,
    "no-acpi": False,
    "kernel": True,
    "initrd": True,
    "append": True,
    "dtb": True,
    "bios": True,
    "drive": True,
    "blockdev": True,
    "netdev": True,
    "nic": True,
    "audiodev": True,
    "add-fd": True,
    "compat": True,
    "snapshot": False,
    "D": True,
    "d": True,
    "trace": True,
    "L": True,
    "vnc": True,
    "spice": True,
    "fw_cfg": True,
    "smbios": True,
    "action": True,
    "watchdog-action": True,
    "no-reboot": False,
    "incoming": True,
    "loadvm": True,
    "icount": True,
    "mem-prealloc": False,
    "mem-path": True,
    "run-with": True,
    "chroot": True,
    "runas": True,
    "seed": True,
    "iothread": True,
    "fsdev": True,
    "virtfs": True,
    "tpmdev": True,
    "set": True,
    "readconfig": True,
    "no-fd-bootchk": False,
    "full-screen": False,
    "g": True,
    "enable-sync-profile": False,
    "preconfig": False,
    "qtest": True,
    "qtest-log": True,
    "semihosting": False,
    "plugin": True,
    "rtc-td-hack": False,
    "win2k-hack": False,
}

PROCESS_OPTIONS: dict[str, bool] = {
    "S": False,
    "name": True,
    "uuid": True,
    "pidfile": True,
    "daemonize": False,
    "no-shutdown": False,
    "version": False,
    "h": False,
    "help": False,
}

MONITOR_OPTIONS: dict[str, bool] = {
    "qmp": True,
    "qmp-pretty": True,
    "chardev": True,
    "mon": True,
}

# hvballoond's own options (long form only); documented in the README.
OWN_OPTIONS: dict[str, bool] = {
    "run-dir": True,  # where the default monitor socket lives when no monitor is configured
    "virtual-clock": False,  # time moves only with x-hvb-advance-clock (deterministic replay)
    "log-level": True,
    "log-format": True,  # json | console (default: console on a tty, json otherwise)
    "socket-mode": True,  # octal mode of created UNIX sockets (default 0600)
    "allow-remote-tcp": False,  # let tcp monitors listen on non-loopback addresses
    "file-backend-dir": True,  # memory-backend-file may only look at paths below this directory
    "host-commit-limit": True,  # bytes of reserve=on backends the emulated host can commit
    "package": True,  # the greeting's "package" string
    "socket-activation": False,  # take the monitor from systemd (LISTEN_FDS)
}


@dataclass(frozen=True, slots=True)
class Option:
    """One command-line option and its value (None for a flag)."""

    name: str  # without dashes
    value: str | None


@dataclass(slots=True)
class CommandLine:
    """The command line sorted by what each option is for."""

    machine: list[Option] = field(default_factory=list)
    monitors: list[Option] = field(default_factory=list)
    process: dict[str, str | None] = field(default_factory=dict)
    own: dict[str, str | None] = field(default_factory=dict)
    ignored: list[Option] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """No QEMU option at all (only hvballoond's own): serve the embedded default VM."""
        return not (self.machine or self.monitors or self.process or self.ignored)


def _lookup(name: str) -> tuple[Kind, bool] | None:
    for kind, table in (
        (Kind.MACHINE, MACHINE_OPTIONS),
        (Kind.MONITOR, MONITOR_OPTIONS),
        (Kind.PROCESS, PROCESS_OPTIONS),
        (Kind.IGNORED, IGNORED_OPTIONS),
    ):
        if name in table:
            return kind, table[name]
    return None


def parse_command_line(argv: list[str]) -> CommandLine:
    """Split ``argv`` (without the program name) into QEMU's option groups.

    Raises:
        OptionError: an unknown option, a missing value, or a non-option argument.
    """
    line = CommandLine()
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            # QEMU would take a bare word as the disk image (-hda); there are no disks here.
            raise OptionError(f"{arg}: invalid option")
        name = arg[2:] if arg.startswith("--") else arg[1:]
        if arg.startswith("--") and name in OWN_OPTIONS:
            own_value: str | None = None
            if "=" in name:
                name, own_value = name.split("=", 1)
            if OWN_OPTIONS[name] and own_value is None:
                if i >= len(argv):
                    raise OptionError(f"{arg}: requires an argument")
                own_value = argv[i]
                i += 1
            line.own[name] = own_value
            continue
        if arg.startswith("--") and "=" in name and name.split("=", 1)[0] in OWN_OPTIONS:
            own_name, own_value = name.split("=", 1)
            line.own[own_name] = own_value
            continue
        found = _lookup(name)
        if found is None:
            raise OptionError(f"{arg}: invalid option")
        kind, takes_value = found
        value: str | None = None
        if takes_value:
            if i >= len(argv):
                raise OptionError(f"{arg}: requires an argument")
            value = argv[i]
            i += 1
        option = Option(name, value)
        if kind is Kind.MACHINE:
            line.machine.append(option)
        elif kind is Kind.MONITOR:
            line.monitors.append(option)
        elif kind is Kind.PROCESS:
            line.process[name] = value
        else:
            line.ignored.append(option)
    return line
