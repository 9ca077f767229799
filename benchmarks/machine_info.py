"""A description of the machine a run happened on (for the report)."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

import hvballoond

__all__ = ["MachineInfo", "collect", "load_average", "qemu_version"]


@dataclass(frozen=True, slots=True)
class MachineInfo:
    """CPU, memory, software versions."""

    cpu_model: str
    logical_cpus: int
    memory_gib: float
    kernel: str
    python: str
    hvballoond: str
    qemu: str | None

    def as_json(self) -> dict[str, Any]:
        """The description as a JSON object."""
        return asdict(self)

    def one_line(self) -> str:
        """A one-line summary."""
        qemu = self.qemu or "QEMU not installed"
        return (
            f"{self.cpu_model}, {self.logical_cpus} logical CPUs, {self.memory_gib:.1f} GiB RAM, "
            f"Linux {self.kernel}, Python {self.python}, hvballoond {self.hvballoond}, {qemu}"
        )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                name, _, value = line.partition(":")
                if name.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1 << 20)
    except OSError:
        pass
    return 0.0


def qemu_version(executable: str) -> str | None:
    """The first line of ``executable --version`` (None if it cannot run)."""
    try:
        out = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.splitlines()[0].strip() if out.stdout else None


def collect(qemu_executable: str | None) -> MachineInfo:
    """Describe this machine; ``qemu_executable`` is asked for its version."""
    return MachineInfo(
        cpu_model=_cpu_model(),
        logical_cpus=os.cpu_count() or 0,
        memory_gib=_memory_gib(),
        kernel=platform.release(),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        hvballoond=hvballoond.__version__,
        qemu=qemu_version(qemu_executable) if qemu_executable else None,
    )


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    return os.getloadavg()
