"""A QmpSession with a tiny in-test dispatcher, driven synchronously."""

from __future__ import annotations

from collections.abc import Iterable

from hvballoond.qmp.errors import QmpError
from hvballoond.qmp.session import QmpSession, Request
from hvballoond.wire.values import JSONObject, JSONValue

GREETING: JSONObject = {
    "QMP": {
        "version": {
            "qemu": {"major": 10, "minor": 0, "micro": 2},
            "package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1",
        },
        "capabilities": ["oob"],
    }
}
GREETING_LINE = (
    '{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, '
    '"package": "Debian 1:10.0.2+ds-2+deb13u1~bpo12+1"}, "capabilities": ["oob"]}}'
)
STATUS = '{"status": "prelaunch", "running": false}'

RESULTS: dict[str, JSONValue] = {
    "query-status": {"status": "prelaunch", "running": False},
    "query-kvm": {"enabled": False, "present": True},
    "query-yank": [
        {"type": "chardev", "id": "compat_monitor0"},
        {"type": "chardev", "id": "compat_monitor1"},
    ],
    "cont": {},
}


class Catalog:
    """The commands known in command mode; ``query-yank`` allows OOB (as on QEMU)."""

    def __init__(self, known: Iterable[str] = (*RESULTS, "qmp_capabilities")) -> None:
        self.known = set(known)

    def is_known(self, name: str) -> bool:
        return name in self.known

    def allows_oob(self, name: str) -> bool:
        return name == "query-yank"


def execute(session: QmpSession, request: Request) -> None:
    """Run ``request`` at once, as a dispatcher would."""
    if request.command == "qmp_capabilities":
        enable = request.arguments.get("enable", [])
        assert isinstance(enable, list)
        try:
            session.enable_capabilities([str(name) for name in enable])
        except QmpError as error:
            session.send_error(request, error)
            return
        session.send_reply(request, {})
        return
    session.send_reply(request, RESULTS[request.command])


def pump(session: QmpSession) -> None:
    """Execute every request the session hands out."""
    while (request := session.next_request()) is not None:
        execute(session, request)


def lines(data: bytes) -> list[str]:
    """Split output into messages, checking the CRLF framing and ASCII-only output."""
    text = data.decode("ascii")
    assert text == "" or text.endswith("\r\n")
    return text.split("\r\n")[:-1]


class Client:
    """Talks to a session as a client would; returns the server's lines."""

    def __init__(self, *, negotiate: bool = False, oob: bool = False) -> None:
        self.session = QmpSession(catalog=Catalog(), greeting=GREETING)
        self.greeting = lines(self.session.data_to_send())
        if negotiate or oob:
            enable = b', "arguments": {"enable": ["oob"]}' if oob else b""
            assert self.send(b'{"execute": "qmp_capabilities"' + enable + b"}") == [
                '{"return": {}}'
            ]

    def send(self, data: bytes) -> list[str]:
        self.session.receive_data(data)
        pump(self.session)
        return lines(self.session.data_to_send())
