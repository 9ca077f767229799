"""Character devices and monitors from ``-chardev``, ``-qmp``, ``-qmp-pretty`` and ``-mon``.

Every ``-chardev`` and the chardev behind each ``-qmp`` (``compat_monitorN``) becomes a
:class:`ChardevSpec`, in QEMU's creation order (command-line order). hvballoond provides the
backends a libvirt domain uses: ``socket`` (UNIX or TCP, listening, connecting out, or an
inherited listening fd), ``pty``, ``file`` and ``null``. QMP is served on socket chardevs only;
the others, and sockets without a QMP monitor, are opened but inert (the runtime discards what
arrives). Error texts are QEMU's (util/qemu-option.c, chardev/char.c, chardev/char-socket.c,
chardev/char-file.c, monitor/monitor.c); checks run in QEMU's phases: the option syntax of
every chardev first (ids, duplicates, unknown parameters, booleans), then each chardev's
backend in order, then the monitors.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from hvballoond.cli.options import Option, OptionError
from hvballoond.machine.chardev import ChardevBackend, ChardevConfig
from hvballoond.wire.values import JSONObject

__all__ = [
    "ChardevSpec",
    "EndpointKind",
    "MonitorEndpoint",
    "MonitorMode",
    "parse_chardevs",
    "parse_monitors",
]


class EndpointKind(StrEnum):
    UNIX = "unix"
    TCP = "tcp"
    FD = "fd"


@dataclass(frozen=True, slots=True)
class MonitorEndpoint:
    """A socket chardev's socket: listening or connecting, UNIX, TCP or an inherited fd.

    (Named for its first use: the QMP monitors. Socket chardevs of devices use it too.)
    """

    chardev_id: str  # "compat_monitor0" for -qmp; the -chardev id otherwise
    kind: EndpointKind
    server: bool
    pretty: bool
    option: str  # "-qmp unix:..." as given, for error prefixes
    path: str | None = None
    host: str | None = None
    port: int | None = None
    fd: int | None = None

    def address(self) -> JSONObject:
        """The configured ``SocketAddress`` (the chardev's ``addr`` before it listens)."""
        if self.kind is EndpointKind.FD:
            return {"type": "fd", "str": str(self.fd)}
        if self.kind is EndpointKind.TCP:
            return {"type": "inet", "host": self.host, "port": str(self.port)}
        return {"type": "unix", "path": self.path}


class MonitorMode(StrEnum):
    """Which monitor, if any, uses a chardev."""

    NONE = "none"
    QMP = "control"  # served
    HMP = "readline"  # accepted, not served: the chardev stays inert


@dataclass(frozen=True, slots=True)
class ChardevSpec:
    """One character device, as the command line configures it.

    Attributes:
        label: its id.
        backend: socket, pty, file or null.
        option: the option as given (``-chardev pty,id=x``), for error prefixes.
        endpoint: a socket's endpoint (with the QMP monitor's ``pretty`` when it has one).
        path: ``file``: the output file; ``pty``: the symlink QEMU makes to the terminal.
        append: ``file``: ``append=on``.
        monitor: the monitor that uses it.
    """

    label: str
    backend: ChardevBackend
    option: str
    endpoint: MonitorEndpoint | None = None
    path: str | None = None
    append: bool = False
    monitor: MonitorMode = MonitorMode.NONE

    @property
    def qmp(self) -> bool:
        """A QMP monitor is served on it."""
        return self.monitor is MonitorMode.QMP

    def config(self) -> ChardevConfig:
        """What the machine keeps of it (:mod:`hvballoond.machine.chardev`)."""
        return ChardevConfig(
            label=self.label,
            backend=self.backend,
            monitor=self.monitor is not MonitorMode.NONE,
            address=self.endpoint.address() if self.endpoint is not None else None,
        )


_BOOL_WORDS = {"on": True, "yes": True, "true": True, "y": True, "off": False, "no": False,
               "false": False, "n": False}

#: chardev/char.c qemu_chardev_opts: every parameter any backend takes (each backend ignores
#: the ones it does not use), and which of them are booleans.
_CHARDEV_KEYS: Final = frozenset({
    "id", "backend", "path", "input-path", "host", "port", "fd", "localaddr", "localport", "to",
    "ipv4", "ipv6", "wait", "server", "delay", "nodelay", "reconnect", "reconnect-ms",
    "telnet", "tn3270", "tls-creds", "tls-authz", "websocket", "width", "height", "cols",
    "rows", "mux", "signal", "name", "debug", "size", "chardev", "chardevs.0", "chardevs.1",
    "chardevs.2", "chardevs.3", "append", "logfile", "logappend", "mouse", "clipboard",
    "tight", "abstract",
})  # fmt: skip
_CHARDEV_BOOLS: Final = frozenset({
    "ipv4", "ipv6", "wait", "server", "delay", "nodelay", "telnet", "tn3270", "websocket",
    "mux", "signal", "append", "logappend", "mouse", "clipboard", "tight", "abstract",
})  # fmt: skip
#: Backends QEMU 10.0.2 has (``-chardev help``) that hvballoond does not provide.
_OTHER_QEMU_BACKENDS: Final = frozenset({
    "stdio", "ringbuf", "mux", "pipe", "qemu-vdagent", "hub", "msmouse", "vc", "parallel",
    "memory", "udp", "wctablet", "serial", "testdev",
})  # fmt: skip
# util/cutils.c id_wellformed.
_ID: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_ID_HINT: Final = "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter."


def _split_opts(text: str) -> list[tuple[str, str | None]]:
    """QemuOpts syntax: comma-separated ``key=value`` (``,,`` escapes a comma)."""
    items: list[tuple[str, str | None]] = []
    cur = ""
    i = 0
    while i <= len(text):
        ch = text[i] if i < len(text) else ","
        if ch == "," and text[i + 1 : i + 2] == ",":
            cur += ","
            i += 2
            continue
        if ch == ",":
            if "=" in cur:
                key, value = cur.split("=", 1)
                items.append((key, value))
            else:
                items.append((cur, None))
            cur = ""
        else:
            cur += ch
        i += 1
    return items


def _bool(prefix: str, key: str, value: str | None) -> bool:
    if value is None:
        return True
    if value not in _BOOL_WORDS:
        raise OptionError(f"{prefix}: Parameter '{key}' expects 'on' or 'off'")
    return _BOOL_WORDS[value]


@dataclass(slots=True)
class _SocketOpts:
    """The socket chardev options an endpoint is built from."""

    path: str | None = None
    host: str | None = None
    port: str | None = None
    fd: str | None = None
    server: bool = False
    chardev_id: str | None = None


_SOCKET_KEYS = {"path", "host", "port", "fd", "server", "wait", "nowait", "id", "to", "ipv4",
                "ipv6", "nodelay", "telnet", "tn3270", "websocket", "reconnect", "reconnect-ms",
                "logfile", "logappend", "mux", "abstract", "tight", "tls-creds", "tls-authz"}


def _socket_opts(prefix: str, items: list[tuple[str, str | None]]) -> _SocketOpts:
    opts = _SocketOpts()
    for key, value in items:
        if key not in _SOCKET_KEYS:
            raise OptionError(f"{prefix}: Invalid parameter '{key}'")
        if key == "server":
            opts.server = _bool(prefix, key, value)
        elif key in ("wait", "nowait"):
            pass  # a control plane never blocks start-up on its first client
        elif key in ("path", "host", "port", "fd"):
            setattr(opts, key, value or "")
        elif key == "id":
            opts.chardev_id = value
    return opts


def _endpoint(prefix: str, chardev_id: str, opts: _SocketOpts, *, pretty: bool) -> MonitorEndpoint:
    if opts.fd is not None:
        if not opts.fd.isdigit():
            raise OptionError(f"{prefix}: Unable to parse FD number {opts.fd}")
        return MonitorEndpoint(chardev_id, EndpointKind.FD, server=True, pretty=pretty,
                               option=prefix, fd=int(opts.fd))
    if opts.path is not None:
        return MonitorEndpoint(chardev_id, EndpointKind.UNIX, server=opts.server, pretty=pretty,
                               option=prefix, path=opts.path)
    if opts.host is not None or opts.port is not None:
        port = opts.port or ""
        if not port.isdigit():
            raise OptionError(f'{prefix}: chardev: socket: no port given')
        return MonitorEndpoint(chardev_id, EndpointKind.TCP, server=opts.server, pretty=pretty,
                               option=prefix, host=opts.host or "127.0.0.1", port=int(port))
    raise OptionError(f"{prefix}: Unable to parse FD number ")


def _parse_qmp(option: Option, index: int) -> ChardevSpec:
    text = option.value or ""
    prefix = f"-{option.name} {text}"
    head, _, rest = text.partition(",")
    items = _split_opts(rest) if rest else []
    chardev_id = f"compat_monitor{index}"
    pretty = option.name == "qmp-pretty"
    try:
        if head.startswith("unix:"):
            opts = _socket_opts(prefix, items)
            opts.path = head[len("unix:"):]
            opts.host = opts.port = opts.fd = None
        elif head.startswith("tcp:"):
            opts = _socket_opts(prefix, items)
            host, _, port = head[len("tcp:"):].rpartition(":")
            opts.host, opts.port = host or "127.0.0.1", port
        else:
            raise OptionError(f"{prefix}: '{text}' is not a valid char driver")
        endpoint = _endpoint(prefix, chardev_id, opts, pretty=pretty)
    except OptionError as err:
        raise OptionError(f"{err}\n{prefix}: parse error: {text}") from None
    return ChardevSpec(chardev_id, ChardevBackend.SOCKET, prefix, endpoint=endpoint,
                       monitor=MonitorMode.QMP)


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A ``-chardev`` after the option syntax checks (``backend`` None: not given)."""

    prefix: str
    backend: str | None
    items: list[tuple[str, str | None]]
    values: dict[str, str | None]


def _short_form(key: str) -> tuple[str, str]:
    """A bare ``key`` is ``key=on``; ``nokey`` is ``key=off`` for a boolean (QEMU warns that
    both spellings are deprecated)."""
    if key not in _CHARDEV_KEYS and key.startswith("no") and key[2:] in _CHARDEV_BOOLS:
        return key[2:], "off"
    return key, "on"


def _check_syntax(prefix: str, text: str, seen: set[str]) -> _Parsed:
    """QemuOpts parsing (util/qemu-option.c): the id, duplicates, unknown parameters and
    booleans, in that order."""
    raw = _split_opts(text)
    backend: str | None = None
    if raw and raw[0][1] is None:  # the implied "backend" parameter
        backend = raw[0][0]
        raw = raw[1:]
    items: list[tuple[str, str | None]] = [
        (key, value) if value is not None else _short_form(key) for key, value in raw
    ]
    values: dict[str, str | None] = dict(items)
    chardev_id = values.get("id")
    if chardev_id is not None:
        if not _ID.fullmatch(chardev_id):
            raise OptionError(f"{prefix}: Parameter 'id' expects an identifier", hint=_ID_HINT)
        if chardev_id in seen:
            raise OptionError(f"{prefix}: Duplicate ID '{chardev_id}' for chardev")
        seen.add(chardev_id)
    for key, value in items:
        if key not in _CHARDEV_KEYS:
            raise OptionError(f"{prefix}: Invalid parameter '{key}'")
        if key in _CHARDEV_BOOLS:
            _bool(prefix, key, value)
    if "backend" in values:
        backend = values["backend"] or ""
    return _Parsed(prefix, backend, items, values)


def _create(parsed: _Parsed) -> ChardevSpec:
    """``qemu_chr_new_from_opts``: the id, the backend, the backend's own parameters."""
    prefix, backend, values = parsed.prefix, parsed.backend, parsed.values
    label = values.get("id")
    if not label:
        raise OptionError(f"{prefix}: chardev: no id specified")
    if backend is None:
        raise OptionError(f'{prefix}: chardev: "{label}" missing backend')
    if backend in _OTHER_QEMU_BACKENDS:
        raise OptionError(
            f"{prefix}: hvballoond provides the chardev backends socket, pty, file and null, "
            f"not '{backend}'"
        )
    if backend == "socket":
        items = [(key, value) for key, value in parsed.items if key in _SOCKET_KEYS]
        endpoint = _endpoint(prefix, label, _socket_opts(prefix, items), pretty=False)
        return ChardevSpec(label, ChardevBackend.SOCKET, prefix, endpoint=endpoint)
    if backend == "pty":
        return ChardevSpec(label, ChardevBackend.PTY, prefix, path=values.get("path"))
    if backend == "file":
        path = values.get("path")
        if path is None:
            raise OptionError(f"{prefix}: chardev: file: no filename given")
        append = _bool(prefix, "append", values["append"]) if "append" in values else False
        return ChardevSpec(label, ChardevBackend.FILE, prefix, path=path, append=append)
    if backend == "null":
        return ChardevSpec(label, ChardevBackend.NULL, prefix)
    raise OptionError(f"{prefix}: '{backend}' is not a valid char driver name")


def _attach_monitor(option: Option, specs: dict[str, ChardevSpec]) -> None:
    """``-mon``: the chardev must exist and be free; QMP needs a socket here."""
    text = option.value or ""
    prefix = f"-{option.name} {text}"
    items = _split_opts(text)
    values = dict(items)
    for key, _ in items:
        if key not in ("chardev", "mode", "pretty", "id", "default"):
            raise OptionError(f"{prefix}: Invalid parameter '{key}'")
    name = values.get("chardev") or ""
    spec = specs.get(name)
    if spec is None:
        raise OptionError(f'{prefix}: chardev "{name}" not found')
    if spec.monitor is not MonitorMode.NONE:
        raise OptionError(f"{prefix}: chardev '{name}' is already in use")
    mode = values.get("mode") or "readline"
    if mode not in ("readline", "control"):
        raise OptionError(f"{prefix}: Parameter 'mode' does not accept value '{mode}'")
    pretty = _bool(prefix, "pretty", values["pretty"]) if "pretty" in values else False
    if mode == "readline":
        specs[name] = dataclasses.replace(spec, monitor=MonitorMode.HMP)
        return
    if spec.endpoint is None:
        raise OptionError(
            f"{prefix}: hvballoond serves QMP on socket chardevs only, not on "
            f"'{spec.backend.value}'"
        )
    endpoint = dataclasses.replace(spec.endpoint, pretty=pretty)
    specs[name] = dataclasses.replace(spec, endpoint=endpoint, monitor=MonitorMode.QMP)


def parse_chardevs(options: list[Option]) -> list[ChardevSpec]:
    """Every character device of the command line, in creation order.

    Raises:
        OptionError: with QEMU's message.
    """
    seen: set[str] = set()
    steps: list[_Parsed | ChardevSpec] = []
    compat_index = 0
    # Phase 1, while QEMU reads the command line: the option syntax.
    for option in options:
        text = option.value or ""
        if option.name in ("qmp", "qmp-pretty"):
            spec = _parse_qmp(option, compat_index)
            compat_index += 1
            seen.add(spec.label)
            steps.append(spec)
        elif option.name == "chardev":
            steps.append(_check_syntax(f"-chardev {text}", text, seen))
    # Phase 2, qemu_create_early_backends: each chardev's backend, in order.
    specs: dict[str, ChardevSpec] = {}
    for step in steps:
        spec = step if isinstance(step, ChardevSpec) else _create(step)
        specs[spec.label] = spec
    # Phase 3, qemu_create_late_backends: the monitors.
    for option in options:
        if option.name == "mon":
            _attach_monitor(option, specs)
    return list(specs.values())


def parse_monitors(options: list[Option]) -> list[MonitorEndpoint]:
    """The QMP monitors' endpoints, in creation order (see :func:`parse_chardevs`).

    Raises:
        OptionError: with QEMU's message.
    """
    return [spec.endpoint for spec in parse_chardevs(options)
            if spec.qmp and spec.endpoint is not None]
