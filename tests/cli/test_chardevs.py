"""``-chardev``/``-qmp``/``-mon``: which character devices a command line makes, in which order,
and what each bad input gets (QEMU 10.0.2's texts, observed on the reference binary; see
also tests/transcripts/chardev/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hvballoond.cli.monitors import ChardevSpec, EndpointKind, MonitorMode, parse_chardevs
from hvballoond.cli.options import IGNORED_OPTIONS, OptionError, parse_command_line
from hvballoond.machine.chardev import ChardevBackend, ChardevConfig

README = Path(__file__).resolve().parents[2] / "README.md"


def chardevs(*argv: str) -> list[ChardevSpec]:
    return parse_chardevs(parse_command_line(list(argv)).monitors)


def refusal(*argv: str) -> OptionError:
    with pytest.raises(OptionError) as err:
        chardevs(*argv)
    return err.value


def test_libvirts_chardevs_in_creation_order() -> None:
    specs = chardevs(
        "-chardev", "socket,id=charmonitor,fd=21,server=on,wait=off",
        "-mon", "chardev=charmonitor,id=monitor,mode=control",
        "-chardev", "pty,id=charserial0",
        "-chardev", "socket,id=charchannel0,fd=20,server=on,wait=off",
    )
    assert [(s.label, s.backend, s.monitor) for s in specs] == [
        ("charmonitor", ChardevBackend.SOCKET, MonitorMode.QMP),
        ("charserial0", ChardevBackend.PTY, MonitorMode.NONE),
        ("charchannel0", ChardevBackend.SOCKET, MonitorMode.NONE),
    ]
    channel = specs[2]
    assert channel.endpoint is not None
    assert (channel.endpoint.kind, channel.endpoint.fd, channel.qmp) == (EndpointKind.FD, 20, False)
    assert specs[0].qmp and specs[0].config() == ChardevConfig(
        "charmonitor", ChardevBackend.SOCKET, monitor=True, address={"type": "fd", "str": "21"})


def test_qmp_chardevs_take_their_place_among_the_others() -> None:
    specs = chardevs("-qmp", "unix:/tmp/a.sock,server=on,wait=off", "-chardev", "null,id=n0",
                     "-qmp-pretty", "tcp:127.0.0.1:4444,server=on,wait=off")
    assert [s.label for s in specs] == ["compat_monitor0", "n0", "compat_monitor1"]
    assert specs[2].endpoint is not None and specs[2].endpoint.pretty
    assert specs[2].config().address == {"type": "inet", "host": "127.0.0.1", "port": "4444"}


def test_backend_parameters() -> None:
    pty, log, appended, null = chardevs(
        "-chardev", "pty,id=p0,path=/tmp/p0-link",
        "-chardev", "file,id=f0,path=/tmp/f0.log",
        "-chardev", "file,id=f1,path=/tmp/f1.log,append=on",
        "-chardev", "null,id=n0,path=/ignored,mux=off",  # any chardev parameter is accepted
    )
    assert (pty.backend, pty.path) == (ChardevBackend.PTY, "/tmp/p0-link")
    assert (log.backend, log.path, log.append) == (ChardevBackend.FILE, "/tmp/f0.log", False)
    assert appended.append
    assert (null.backend, null.path, null.config().address) == (ChardevBackend.NULL, None, None)


def test_socket_chardevs_for_devices() -> None:
    listening, client, tcp = chardevs(
        "-chardev", "socket,id=s0,path=/tmp/s0.sock,server=on,wait=off,name=x,localaddr=y",
        "-chardev", "socket,id=s1,path=/tmp/s1.sock",
        "-chardev", "socket,id=s2,host=127.0.0.1,port=5555,server=on,nowait",
    )
    assert listening.endpoint is not None and listening.endpoint.server
    assert listening.config().address == {"type": "unix", "path": "/tmp/s0.sock"}
    assert client.endpoint is not None and not client.endpoint.server
    assert tcp.endpoint is not None and (tcp.endpoint.kind, tcp.endpoint.port) == (
        EndpointKind.TCP, 5555)


def test_a_readline_monitor_makes_its_chardev_a_monitors() -> None:
    (spec,) = chardevs("-chardev", "socket,id=hmp,path=/tmp/hmp.sock,server=on,wait=off",
                       "-mon", "chardev=hmp,mode=readline")
    assert spec.monitor is MonitorMode.HMP and not spec.qmp and spec.config().monitor
    # -mon may come before its chardev: monitors are set up once every chardev exists.
    (spec,) = chardevs("-mon", "chardev=n0", "-chardev", "null,id=n0")
    assert spec.monitor is MonitorMode.HMP


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-chardev", "null,id=c0", "-chardev", "pty,id=c0"],
         "-chardev pty,id=c0: Duplicate ID 'c0' for chardev"),
        (["-qmp", "unix:/tmp/a.sock,server=on,wait=off", "-chardev", "null,id=compat_monitor0"],
         "-chardev null,id=compat_monitor0: Duplicate ID 'compat_monitor0' for chardev"),
        (["-chardev", "null,id=c0,bogus=1"],
         "-chardev null,id=c0,bogus=1: Invalid parameter 'bogus'"),
        (["-chardev", "socket,id=s0,path=/tmp/s.sock,server=maybe"],
         "-chardev socket,id=s0,path=/tmp/s.sock,server=maybe: Parameter 'server' expects 'on' or "
         "'off'"),
        (["-chardev", "null,id=n0,append=maybe"],
         "-chardev null,id=n0,append=maybe: Parameter 'append' expects 'on' or 'off'"),
        (["-chardev", "bogus,id=c0"],
         "-chardev bogus,id=c0: 'bogus' is not a valid char driver name"),
        (["-chardev", ",id=c0"], "-chardev ,id=c0: '' is not a valid char driver name"),
        (["-chardev", "id=c0"], '-chardev id=c0: chardev: "c0" missing backend'),
        (["-chardev", "null"], "-chardev null: chardev: no id specified"),
        (["-chardev", "file,id=f0"], "-chardev file,id=f0: chardev: file: no filename given"),
        (["-chardev", "socket,id=s0"], "-chardev socket,id=s0: Unable to parse FD number "),
        (["-chardev", "socket,id=s0,fd=x"],
         "-chardev socket,id=s0,fd=x: Unable to parse FD number x"),
        (["-chardev", "socket,id=m,path=/tmp/m.sock,server=on,wait=off",
          "-mon", "chardev=m,mode=control", "-mon", "chardev=m,mode=control"],
         "-mon chardev=m,mode=control: chardev 'm' is already in use"),
        (["-chardev", "socket,id=m,path=/tmp/m.sock,server=on,wait=off",
          "-mon", "chardev=m,mode=x"],
         "-mon chardev=m,mode=x: Parameter 'mode' does not accept value 'x'"),
        (["-mon", "chardev=nope,mode=control"],
         '-mon chardev=nope,mode=control: chardev "nope" not found'),
        # Deliberate differences: backends hvballoond does not provide, QMP off sockets.
        (["-chardev", "stdio,id=c0"],
         "-chardev stdio,id=c0: hvballoond provides the chardev backends socket, pty, file and "
         "null, not 'stdio'"),
        (["-chardev", "pty,id=p0", "-mon", "chardev=p0,mode=control"],
         "-mon chardev=p0,mode=control: hvballoond serves QMP on socket chardevs only, not on "
         "'pty'"),
    ],
)
def test_refusals(argv: list[str], message: str) -> None:
    assert str(refusal(*argv)) == message


def test_checks_run_in_qemus_phases() -> None:
    # The option syntax of every chardev is checked before any backend: a later duplicate id
    # wins over an earlier unknown backend; monitors come last.
    assert str(refusal("-chardev", "bogus,id=a", "-chardev", "null,id=b,x=1")) == (
        "-chardev null,id=b,x=1: Invalid parameter 'x'")
    assert str(refusal("-mon", "chardev=nope", "-chardev", "file,id=f")) == (
        "-chardev file,id=f: chardev: file: no filename given")


def test_an_id_that_is_no_identifier_carries_qemus_hint() -> None:
    err = refusal("-chardev", "null,id=0c")
    assert str(err) == "-chardev null,id=0c: Parameter 'id' expects an identifier"
    assert err.hint == (
        "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.")


def test_the_readme_lists_exactly_the_ignored_options() -> None:
    text = README.read_text()
    start = text.index("**Accepted and ignored**")
    end = text.index("The list lives in", start)
    listed = re.findall(r"`-([A-Za-z0-9_-]+)`", text[start:end])
    assert sorted(listed) == sorted(IGNORED_OPTIONS)
    # What libvirt adds for a typical domain is among them (or handled elsewhere).
    for option in ("vnc", "spice", "audiodev", "watchdog-action", "sandbox", "boot", "rtc",
                   "msg"):
        assert option in IGNORED_OPTIONS
