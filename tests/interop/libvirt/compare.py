"""Compare two runs of the libvirt suite (virsh outputs and live XML), ignoring what must differ.

    .venv/bin/python -m tests.interop.libvirt.compare RESULTS/virsh-qemu-no-guest.json \\
        RESULTS/virsh-hvballoond-no-guest.json

Ignored: the emulator path and ``<qemu:commandline>`` (they name the emulator), the values of
process- or guest-specific statistics (rss, last_update and the guest's counters: dommemstat
is compared by key for those), QMP ids and thread ids in qemu-monitor-command replies, the
pseudo-terminal a serial console got (``/dev/pts/N``, in the live XML and in query-chardev),
and the hv-balloon domain (hvballoond only). Exit status 1 when the runs differ.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from tests.interop.libvirt.domains import HV_DOMAIN

QEMU_NS = "{http://libvirt.org/schemas/domain/qemu/1.0}"
VOLATILE_STATS = {"rss", "last_update", "minor_fault", "major_fault", "unused", "available",
                  "usable", "disk_caches", "swap_in", "swap_out", "hugetlb_pgalloc",
                  "hugetlb_pgfail"}


def normalize_xml(text: str) -> str:
    """The live XML without what names the emulator."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return text
    for parent in root.iter():
        for child in list(parent):
            if child.tag in ("emulator", f"{QEMU_NS}commandline"):
                parent.remove(child)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


PTY = re.compile(r"/dev/pts/\d+")


def normalize(command: str, out: str) -> str:
    """One virsh output, made comparable."""
    words = command.split()
    out = PTY.sub("/dev/pts/N", out)
    if "dumpxml" in words[:2]:
        return normalize_xml(out)
    if "dommemstat" in words[:2]:
        keys = []
        for line in out.splitlines():
            if line.strip():
                key, value = line.split()
                keys.append(key if key in VOLATILE_STATS else f"{key} {value}")
        return "\n".join(keys)
    if "qemu-monitor-command" in words[:2]:
        out = re.sub(r'"thread-id": ?\d+', '"thread-id": N', out)
        return re.sub(r'"id": ?"libvirt-\d+"', '"id": "libvirt-N"', out)
    return out


def load(path: Path) -> list[tuple[str, int, str, str]]:
    """A run's outputs, normalized; the hv-balloon domain (hvballoond only) is left out."""
    return [(e["command"], e["code"], normalize(e["command"], e["stdout"]), e["stderr"])
            for e in json.loads(path.read_text())
            if HV_DOMAIN not in e["command"].split() and "domain-hv.xml" not in e["command"]
            and "hv_balloon_domain" not in e["command"]]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = (load(Path(p)) for p in args)
    differences = 0
    for index in range(max(len(a), len(b))):
        left = a[index] if index < len(a) else ("(missing)", 0, "", "")
        right = b[index] if index < len(b) else ("(missing)", 0, "", "")
        if left == right:
            continue
        differences += 1
        print(f"=== step {index}: {left[0]}  |  {right[0]}")
        if left[1] != right[1]:
            print(f"exit status {left[1]} != {right[1]}")
        for old, new in ((left[2], right[2]), (left[3], right[3])):
            if old != new:
                sys.stdout.writelines(difflib.unified_diff(
                    old.splitlines(keepends=True), new.splitlines(keepends=True),
                    args[0], args[1], n=2))
    print(f"{differences} differences" if differences else "same virsh outputs and live XML")
    return 1 if differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
