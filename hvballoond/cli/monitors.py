"""Monitor endpoints from ``-qmp``, ``-qmp-pretty``, ``-chardev`` and ``-mon``.

Only socket chardevs carry QMP here: UNIX (listening, connecting out, or an inherited listening
fd) and TCP (loopback unless explicitly allowed). Error texts are QEMU's (chardev/char.c,
chardev/char-socket.c, monitor/monitor.c).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hvballoond.cli.options import Option, OptionError

__all__ = ["EndpointKind", "MonitorEndpoint", "parse_monitors"]


class EndpointKind(StrEnum):
    UNIX = "unix"
    TCP = "tcp"
    FD = "fd"


@dataclass(frozen=True, slots=True)
class MonitorEndpoint:
    """One QMP monitor's socket: listening or connecting, UNIX, TCP or an inherited fd."""

    chardev_id: str  # "compat_monitor0" for -qmp; the -chardev id otherwise
    kind: EndpointKind
    server: bool
    pretty: bool
    option: str  # "-qmp unix:..." as given, for error prefixes
    path: str | None = None
    host: str | None = None
    port: int | None = None
    fd: int | None = None


_BOOL_WORDS = {"on": True, "yes": True, "true": True, "y": True, "off": False, "no": False,
               "false": False, "n": False}


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
    """The socket chardev options a monitor endpoint is built from."""

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


def _parse_qmp(option: Option, index: int) -> MonitorEndpoint:
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
        return _endpoint(prefix, chardev_id, opts, pretty=pretty)
    except OptionError as err:
        raise OptionError(f"{err}\n{prefix}: parse error: {text}") from None


def parse_monitors(options: list[Option]) -> list[MonitorEndpoint]:
    """Turn the monitor options into endpoints, in command-line order.

    Raises:
        OptionError: with QEMU's message.
    """
    chardevs: dict[str, tuple[str, _SocketOpts]] = {}
    endpoints: list[MonitorEndpoint] = []
    compat_index = 0
    for option in options:
        text = option.value or ""
        prefix = f"-{option.name} {text}"
        if option.name in ("qmp", "qmp-pretty"):
            endpoints.append(_parse_qmp(option, compat_index))
            compat_index += 1
        elif option.name == "chardev":
            backend, _, rest = text.partition(",")
            items = _split_opts(rest) if rest else []
            if backend != "socket":
                raise OptionError(f"{prefix}: '{backend}' is not a valid char driver name")
            opts = _socket_opts(prefix, items)
            if not opts.chardev_id:
                raise OptionError(f"{prefix}: chardev: no id specified")
            if opts.fd is None and opts.path is None and opts.host is None and opts.port is None:
                raise OptionError(f"{prefix}: Unable to parse FD number ")
            chardevs[opts.chardev_id] = (prefix, opts)
        elif option.name == "mon":
            items = _split_opts(text)
            values = dict(items)
            for key, _ in items:
                if key not in ("chardev", "mode", "pretty", "id", "default"):
                    raise OptionError(f"{prefix}: Invalid parameter '{key}'")
            name = values.get("chardev") or ""
            if name not in chardevs:
                raise OptionError(f'{prefix}: chardev "{name}" not found')
            if values.get("mode", "readline") != "control":
                continue  # an HMP (readline) monitor: not served by hvballoond
            pretty = _bool(prefix, "pretty", values["pretty"]) if "pretty" in values else False
            chardev_prefix, opts = chardevs[name]
            endpoints.append(_endpoint(chardev_prefix, name, opts, pretty=pretty))
    return endpoints
