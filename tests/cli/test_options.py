"""QEMU-style command-line parsing: what is accepted, ignored and refused (with QEMU's texts)."""

from __future__ import annotations

import pytest

from hvballoond.cli.monitors import EndpointKind, parse_monitors
from hvballoond.cli.options import OptionError, parse_command_line


def test_machine_options_keep_their_order() -> None:
    line = parse_command_line(
        ["-machine", "q35", "-m", "1G", "-object", "memory-backend-ram,id=m0,size=1G",
         "-device", "pc-dimm,memdev=m0", "-S"]
    )
    assert [(o.name, o.value) for o in line.machine] == [
        ("machine", "q35"), ("m", "1G"), ("object", "memory-backend-ram,id=m0,size=1G"),
        ("device", "pc-dimm,memdev=m0"),
    ]
    assert line.process == {"S": None}


def test_double_dash_spelling_is_accepted_like_qemu() -> None:
    line = parse_command_line(["--machine", "pc", "--nodefaults"])
    assert line.machine[0].value == "pc"
    assert [o.name for o in line.ignored] == ["nodefaults"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-foo"], "-foo: invalid option"),
        (["-machine", "q35", "-bogus"], "-bogus: invalid option"),
        (["-name"], "-name: requires an argument"),
        (["disk.img"], "disk.img: invalid option"),
    ],
)
def test_refused_command_lines(argv: list[str], message: str) -> None:
    with pytest.raises(OptionError) as err:
        parse_command_line(argv)
    assert str(err.value) == message


def test_option_value_may_look_like_an_option() -> None:
    # QEMU takes the next word as the value whatever it looks like (`-m -display` -> size error).
    line = parse_command_line(["-m", "-display"])
    assert line.machine[0].value == "-display"


def test_own_options_and_empty_command_line() -> None:
    line = parse_command_line(["--virtual-clock", "--run-dir", "/tmp/x", "--log-level=debug"])
    assert line.own == {"virtual-clock": None, "run-dir": "/tmp/x", "log-level": "debug"}
    assert line.empty


def test_qmp_unix_server_and_client_endpoints() -> None:
    line = parse_command_line(
        ["-qmp", "unix:/tmp/a.sock,server=on,wait=off", "-qmp", "unix:/tmp/b.sock"]
    )
    first, second = parse_monitors(line.monitors)
    assert (first.chardev_id, first.kind, first.server, first.path) == (
        "compat_monitor0", EndpointKind.UNIX, True, "/tmp/a.sock")
    assert (second.chardev_id, second.server) == ("compat_monitor1", False)


def test_chardev_and_mon_with_inherited_fd() -> None:
    line = parse_command_line(
        ["-chardev", "socket,id=charmonitor,fd=7,server=on,wait=off",
         "-mon", "chardev=charmonitor,id=monitor,mode=control"]
    )
    (endpoint,) = parse_monitors(line.monitors)
    assert (endpoint.chardev_id, endpoint.kind, endpoint.fd) == ("charmonitor", EndpointKind.FD, 7)


def test_tcp_endpoint() -> None:
    line = parse_command_line(["-qmp", "tcp:127.0.0.1:4444,server=on,wait=off"])
    (endpoint,) = parse_monitors(line.monitors)
    assert (endpoint.kind, endpoint.host, endpoint.port) == (EndpointKind.TCP, "127.0.0.1", 4444)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-qmp", "bogus:x"],
         "-qmp bogus:x: 'bogus:x' is not a valid char driver\n-qmp bogus:x: parse error: bogus:x"),
        (["-qmp", "unix:/tmp/a.sock,server=on,wait=off,bogus=1"],
         "-qmp unix:/tmp/a.sock,server=on,wait=off,bogus=1: Invalid parameter 'bogus'\n"
         "-qmp unix:/tmp/a.sock,server=on,wait=off,bogus=1: parse error: "
         "unix:/tmp/a.sock,server=on,wait=off,bogus=1"),
        (["-mon", "chardev=nope,mode=control"],
         '-mon chardev=nope,mode=control: chardev "nope" not found'),
        (["-chardev", "socket,id=c"], "-chardev socket,id=c: Unable to parse FD number "),
        (["-chardev", "bogus,id=c"],
         "-chardev bogus,id=c: 'bogus' is not a valid char driver name"),
        (["-chardev", "socket,path=/tmp/q.sock,server=on,wait=off"],
         "-chardev socket,path=/tmp/q.sock,server=on,wait=off: chardev: no id specified"),
    ],
)
def test_refused_monitor_options(argv: list[str], message: str) -> None:
    line = parse_command_line(argv)
    with pytest.raises(OptionError) as err:
        parse_monitors(line.monitors)
    assert str(err.value) == message
