"""The embedded default VM that ``hvballoond`` (and ``make run``) serves with no options.

q35 with 4 GiB of boot RAM, four DIMM slots, and an hv-balloon whose 32 GiB memdev sits at the
first 32 GiB-aligned address of the device-memory region (memory-devices.md §5, worked example
D): the region starts at 6 GiB (q35 puts 2 GiB above 4 GiB), so ALIGN_UP(6G, 32G) = 32G and the
memdev needs base + (maxmem - ram) + slots x 1G >= 32G + 32G, i.e. maxmem >= 58G; 64G leaves room
for DIMMs. The memdev does not reserve host memory (reserve=off), like a real sparse setup.
A cooperative simulated guest drives the devices.
"""

from __future__ import annotations

import os

__all__ = ["DEFAULT_ARGS", "default_run_dir"]

DEFAULT_ARGS: list[str] = [
    "-name", "hvballoond-default",
    "-machine", "q35",
    "-m", "4G,slots=4,maxmem=64G",
    "-object", "memory-backend-ram,id=hvmem,size=32G,reserve=off",
    "-device", "vmbus-bridge",
    "-device", "hv-balloon,id=hvb,memdev=hvmem,status-report=on",
    "-object", "hvb-guest,id=guest",
]


def default_run_dir() -> str:
    """Where the default monitor socket lives: $XDG_RUNTIME_DIR/hvballoond, else /tmp."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base:
        return os.path.join(base, "hvballoond")
    return f"/tmp/hvballoond-{os.getuid()}"
