"""A real QEMU 10.0.2 to compare against, driven over QMP without sleeping.

The listening socket is created here and handed to QEMU as an open descriptor, so the
client can connect at once (the connection waits in the listen queue). The chardev is
named ``compat_monitor0``, as ``-qmp`` would name it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
from types import TracebackType

from hvballoond.wire.values import JSONObject, JSONValue

QEMU = "qemu-system-x86_64"
# The default test machine (team brief), paused in prelaunch.
MACHINE = ["-machine", "q35", "-accel", "tcg", "-m", "1G,slots=4,maxmem=16G"]


def qemu_version() -> str:
    """The first line of ``qemu-system-x86_64 --version``."""
    out = subprocess.run([QEMU, "--version"], check=True, capture_output=True, text=True)
    return out.stdout.splitlines()[0]


class QemuOracle:
    """A fresh QEMU with one QMP client connected (greeting already read)."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory()
        path = os.path.join(self._dir.name, "qmp.sock")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen(1)
        fd = listener.fileno()
        self._proc = subprocess.Popen(
            [
                QEMU,
                *MACHINE,
                "-display",
                "none",
                "-nodefaults",
                "-S",
                "-chardev",
                f"socket,id=compat_monitor0,fd={fd},server=on,wait=off",
                "-mon",
                "chardev=compat_monitor0,mode=control",
            ],
            pass_fds=[fd],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        listener.close()
        self._sock = socket.socket(socket.AF_UNIX)
        self._sock.connect(path)
        self._reader = self._sock.makefile("rb")
        self.greeting = self.read()

    def read(self) -> JSONObject:
        line = self._reader.readline()
        if not line:
            raise EOFError("QEMU closed the QMP connection")
        message = json.loads(line)
        assert isinstance(message, dict)
        return message

    def send_text(self, text: str) -> None:
        self._sock.sendall(text.encode())

    def execute(self, request: JSONValue) -> list[JSONObject]:
        """Send one request; return the events that came before its reply, then the reply."""
        self.send_text(json.dumps(request))
        messages = [self.read()]
        while "event" in messages[-1]:
            messages.append(self.read())
        return messages

    def close(self) -> None:
        self._reader.close()
        self._sock.close()
        self._proc.kill()
        self._proc.wait()
        self._dir.cleanup()

    def __enter__(self) -> QemuOracle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
