"""A small virsh driver for the libvirt suite: run commands, read the live XML, poll."""

from __future__ import annotations

import json
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

__all__ = ["Result", "Virsh", "poll"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Result:
    """A finished virsh command."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str
    started: float

    @property
    def ok(self) -> bool:
        return self.code == 0

    def __str__(self) -> str:
        return f"virsh {' '.join(self.args)} -> {self.code}\n{self.out}{self.err}"


@dataclass(slots=True)
class Virsh:
    """virsh bound to one libvirtd, noting what it ran (for the recordings' step markers).

    Attributes:
        uri: The connection URI.
        log: ``(start time, command line)`` of every command, in order.
        outputs: ``(command line, exit code, stdout, stderr)`` of every command (the suite's
            results file; lets two emulators' runs be compared).
    """

    uri: str
    timeout: float = 60.0
    log: list[tuple[float, str]] = field(default_factory=list)
    outputs: list[tuple[str, int, str, str]] = field(default_factory=list)

    def run(self, *args: str, quiet: bool = False) -> Result:
        """Run ``virsh -c URI ARGS``; never raises on a non-zero exit."""
        started = time.time()
        line = "virsh " + " ".join(args)
        if not quiet:
            self.log.append((started, line))
        proc = subprocess.run(["virsh", "-c", self.uri, *args], capture_output=True, text=True,
                              timeout=self.timeout, check=False)
        if not quiet:
            self.outputs.append((line, proc.returncode, proc.stdout, proc.stderr))
        return Result(tuple(args), proc.returncode, proc.stdout, proc.stderr, started)

    def ok(self, *args: str) -> str:
        """Run and require success; returns stdout."""
        result = self.run(*args)
        assert result.ok, str(result)
        return result.out

    def xml(self, domain: str, *, inactive: bool = False, quiet: bool = True) -> ET.Element:
        """The domain's XML (live unless ``inactive``), parsed."""
        args = ["dumpxml", domain] + (["--inactive"] if inactive else [])
        result = self.run(*args, quiet=quiet)
        assert result.ok, str(result)
        return ET.fromstring(result.out)

    def qmp(self, domain: str, command: str, arguments: dict[str, object] | None = None
            ) -> dict[str, object]:
        """``virsh qemu-monitor-command`` with a QMP command; the parsed reply."""
        message: dict[str, object] = {"execute": command}
        if arguments is not None:
            message["arguments"] = arguments
        out = self.ok("qemu-monitor-command", domain, json.dumps(message))
        reply = json.loads(out)
        assert isinstance(reply, dict)
        return reply

    def state(self, domain: str) -> str:
        return self.run("domstate", domain, quiet=True).out.strip()

    def memstats(self, domain: str, *, quiet: bool = False) -> dict[str, int]:
        """``virsh dommemstat`` as a dict."""
        result = self.run("dommemstat", domain, quiet=quiet)
        assert result.ok, str(result)
        stats: dict[str, int] = {}
        for line in result.out.splitlines():
            if line.strip():
                key, value = line.split()
                stats[key] = int(value)
        return stats

    def snapshot(self, domain: str, label: str) -> None:
        """Note the domain's live XML (or its absence) in :attr:`outputs` under ``label``."""
        result = self.run("dumpxml", domain, quiet=True)
        self.outputs.append((f"dumpxml {domain} after {label}", result.code, result.out, ""))

    def write(self, path: Path) -> None:
        """Save the commands and their outputs as JSON."""
        path.write_text(json.dumps([{"command": c, "code": k, "stdout": o, "stderr": e}
                                    for c, k, o, e in self.outputs], indent=1) + "\n")


def poll(probe: Callable[[], T], done: Callable[[T], bool], *, timeout: float = 15.0,
         interval: float = 0.25) -> T:
    """Call ``probe`` until ``done`` accepts its value or ``timeout`` passes; the last value."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(interval)
        value = probe()
    return value


def memory_devices(root: ET.Element) -> list[ET.Element]:
    """The ``<memory model=...>`` devices of a domain XML."""
    devices = root.find("devices")
    return [] if devices is None else devices.findall("memory")


def kib(root: ET.Element, path: str) -> int | None:
    """An integer element (KiB) of the domain XML, or None."""
    node = root.find(path)
    return int(node.text) if node is not None and node.text else None
