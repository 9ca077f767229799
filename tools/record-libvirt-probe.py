#!/usr/bin/env python3
"""Record libvirt 11.3's capability probe of the real QEMU and rebuild hvballoond's probe store.

    sudo .venv/bin/python tools/record-libvirt-probe.py            # re-record, rewrite the store
    sudo .venv/bin/python tools/record-libvirt-probe.py --check    # re-record, compare only
    .venv/bin/python tools/record-libvirt-probe.py --from-log FILE  # rebuild from a saved log
    .venv/bin/python tools/record-libvirt-probe.py --cpus-only     # re-record the CPU tables

What it does:

1. Starts a private libvirtd + virtlogd (tests/interop/libvirt/libvirt-env.sh, prefix
   ``--prefix``, default /tmp/hvb-libvirt-probe, wiped first so the capabilities cache is empty)
   with the QMP traffic in its debug log (``log_filters`` ``1:qemu.qemu_monitor``...).
2. Makes libvirt probe the emulator twice, through two small wrapper scripts that log the exact
   command line libvirt runs and exec the real binary:

   * ``kvm/qemu-system-x86_64``: unchanged. On a KVM host libvirt runs its full probe with
     ``-machine none,accel=kvm:tcg`` (KVM answers) and then a short second probe with
     ``accel=tcg``.
   * ``nokvm/qemu-system-x86_64``: turns ``accel=kvm:tcg`` into ``accel=tcg``, which is what
     QEMU falls back to on a host without KVM: libvirt sees ``query-kvm`` report KVM disabled
     and runs the full probe with TCG answers, as it would on such a host.

3. Reads the conversations out of the log (hvballoond.probe.libvirt_log), writes them as
   transcripts (``--transcripts``, default tests/interop/libvirt/recorded/probe-*.qmp) and
   builds the store (``--store``, default hvballoond/probe/data/qemu-10.0.2-x86_64.json.gz).
4. Records the QOM properties of the boot CPU of each ``--cpu-model`` (default qemu64) under
   TCG and, when /dev/kvm is usable, KVM, straight from QEMU (no libvirt involved): QEMU is
   started as ``-machine q35 -accel ACCEL -cpu MODEL -m 1G,slots=4,maxmem=16G -smp 1 -S``,
   then every property of ``/machine/unattached/device[0]`` is read with ``qom-get`` and
   written back with ``qom-set`` (the outcome tells which ones can be changed), and once more
   with ``-smp 2`` to find the values that depend on there being several CPUs
   (hvballoond.probe.cpus), and writes them (``--cpus``, default
   hvballoond/probe/data/qemu-10.0.2-x86_64-cpus.json.gz). ``--cpus-only`` does only this
   step; ``--from-log`` skips it. A model or accelerator not recorded again is kept.
5. Stops everything it started.

Needs root (libvirtd in system mode), libvirt 11.3 (tests/interop/libvirt/install.sh), the
real QEMU 10.0.2 and /dev/kvm (the KVM answers cannot be recorded without it).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hvballoond.probe.build import build_store, to_transcript  # noqa: E402
from hvballoond.probe.cpus import (  # noqa: E402
    CPU_DATA_FILE,
    CpuTables,
    PropertyRecord,
    build_cpu_table,
    dump_cpu_tables,
    load_cpu_tables,
)
from hvballoond.probe.libvirt_log import Conversation, conversations  # noqa: E402
from hvballoond.probe.store import DATA_FILE, Accel, ProbeStore, dump, load  # noqa: E402
from hvballoond.wire.values import JSONObject, JSONValue  # noqa: E402

ENV_SCRIPT = REPO / "tests/interop/libvirt/libvirt-env.sh"
INSTALL_SCRIPT = REPO / "tests/interop/libvirt/install.sh"
DEFAULT_STORE = REPO / "hvballoond/probe/data" / DATA_FILE
DEFAULT_CPUS = REPO / "hvballoond/probe/data" / CPU_DATA_FILE
DEFAULT_TRANSCRIPTS = REPO / "tests/interop/libvirt/recorded"

# The wrappers: log the command line libvirt runs (one shell-quoted line per run), then exec
# the emulator. $1 of the template is the log file, $2 the real binary.
_WRAPPER = """#!/bin/bash
# Written by tools/record-libvirt-probe.py: log libvirt's command line, then run the emulator.
args=()
for a in "$@"; do args+=("{rewrite}"); done
printf '%q ' "$0" "$@" >> {log}
echo >> {log}
exec {binary} "${{args[@]}}"
"""


def _run(cmd: Sequence[str], *, env: dict[str, str] | None = None, check: bool = True,
         capture: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), env=env, check=check, text=True,
                          stdout=subprocess.PIPE if capture else None)


def _write_wrapper(path: Path, binary: str, log: Path, *, no_kvm: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rewrite = "${a/accel=kvm:tcg/accel=tcg}" if no_kvm else "$a"
    path.write_text(_WRAPPER.format(rewrite=rewrite, log=shlex.quote(str(log)),
                                    binary=shlex.quote(binary)))
    path.chmod(0o755)


def _command_lines(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [shlex.split(line) for line in log.read_text().splitlines() if line.strip()]


def record(emulator: str, prefix: Path) -> tuple[Path, dict[str, list[list[str]]]]:
    """Run libvirtd, make it probe through both wrappers; return its log and the command lines."""
    env = dict(os.environ, HVB_LIBVIRT_PREFIX=str(prefix))
    _run(["bash", str(ENV_SCRIPT), "clean"], env=env)
    prefix.mkdir(parents=True)
    wrappers = {"kvm": prefix / "wrap/kvm/qemu-system-x86_64",
                "nokvm": prefix / "wrap/nokvm/qemu-system-x86_64"}
    logs = {name: path.parent / "argv.log" for name, path in wrappers.items()}
    for name, path in wrappers.items():
        _write_wrapper(path, emulator, logs[name], no_kvm=name == "nokvm")
    uri = _run(["bash", str(ENV_SCRIPT), "uri"], env=env, capture=True).stdout.strip()
    try:
        _run(["bash", str(ENV_SCRIPT), "start"], env=env)
        for name, virttype in (("kvm", "kvm"), ("nokvm", "qemu")):
            _run(["virsh", "-q", "-c", uri, "domcapabilities", "--emulatorbin",
                  str(wrappers[name]), "--virttype", virttype, "--arch", "x86_64"],
                 env=env, capture=True)
    finally:
        _run(["bash", str(ENV_SCRIPT), "stop"], env=env, check=False)
    return prefix / "libvirtd.log", {name: _command_lines(log) for name, log in logs.items()}


def _strip_runner_options(argv: Sequence[str]) -> list[str]:
    """The transcript's ``# args:``: without the program, ``-qmp``, ``-pidfile``,
    ``-daemonize`` and the ``-S``/``-nodefaults`` every replay adds."""
    out: list[str] = []
    skip = False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg in ("-qmp", "-pidfile"):
            skip = True
        elif arg not in ("-daemonize", "-S", "-nodefaults"):
            out.append(arg)
    return out


def classify(convs: Sequence[Conversation], wrappers: dict[str, str]) -> dict[str, Conversation]:
    """Name the probe conversations: ``kvm`` (full probe, KVM), ``kvm-tcg`` (libvirt's second
    probe, TCG) and ``nokvm`` (full probe on a host without KVM)."""
    named: dict[str, Conversation] = {}
    for conv in convs:
        if conv.probe is None:
            continue
        tcg_only = conv.probe.machine.endswith("accel=tcg")
        if conv.probe.binary == wrappers["kvm"]:
            named["kvm-tcg" if tcg_only else "kvm"] = conv
        elif conv.probe.binary == wrappers["nokvm"] and not tcg_only:
            named["nokvm"] = conv
    missing = {"kvm", "kvm-tcg", "nokvm"} - set(named)
    if missing:
        raise SystemExit(f"record-libvirt-probe: no {', '.join(sorted(missing))} probe in the "
                         "log (is /dev/kvm usable? see the libvirtd log)")
    return named


def _argv_for(lines: Sequence[list[str]], conv: Conversation) -> list[str]:
    """The logged command line whose ``-machine`` is the conversation's (as libvirt ran it)."""
    machine = conv.probe.machine if conv.probe else ""
    for argv in lines:
        if any(a == "-machine" and b == machine for a, b in itertools.pairwise(argv)):
            return argv
    return []


def _version(cmd: Sequence[str]) -> str:
    try:
        return _run(cmd, capture=True).stdout.splitlines()[0].strip()
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def _host_cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


# --- CPU tables ---------------------------------------------------------------------------------

CPU_PATH = "/machine/unattached/device[0]"
CPU_MACHINE = ["-machine", "q35", "-m", "1G,slots=4,maxmem=16G", "-display", "none",
               "-nodefaults", "-S"]

QmpCall = Callable[..., JSONObject]


def _qmp_session(path: Path, process: subprocess.Popen[bytes]) -> tuple[socket.socket, QmpCall]:
    """Connect to a QEMU's QMP socket and negotiate; returns the socket and a caller."""
    deadline = time.monotonic() + 30
    sock = socket.socket(socket.AF_UNIX)
    while True:
        try:
            sock.connect(str(path))
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"record-libvirt-probe: QEMU did not start ({process.args!r})") from None
            time.sleep(0.05)
    stream = sock.makefile("rw", encoding="utf-8")
    stream.readline()  # greeting

    def call(command: str, **arguments: JSONValue) -> JSONObject:
        message: JSONObject = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        stream.write(json.dumps(message))
        stream.flush()
        while True:
            reply = json.loads(stream.readline())
            if "event" not in reply:
                assert isinstance(reply, dict)
                return reply

    call("qmp_capabilities")
    return sock, call


T = TypeVar("T")
Reading = tuple[str, str, tuple[str, JSONValue]]  # name, type, ("value", v) | ("error", text)


def _with_cpu(emulator: str, args: Sequence[str], work: Callable[[QmpCall], T]) -> T:
    with tempfile.TemporaryDirectory(prefix="hvb-cpu-") as tmp:
        path = Path(tmp) / "qmp.sock"
        process = subprocess.Popen([emulator, *args, "-qmp", f"unix:{path},server=on,wait=off"],
                                   stdin=subprocess.DEVNULL)
        try:
            sock, call = _qmp_session(path, process)
            with sock:
                return work(call)
        finally:
            process.kill()
            process.wait()


def _read_cpu(call: QmpCall) -> list[Reading]:
    listing = call("qom-list", path=CPU_PATH)["return"]
    assert isinstance(listing, list)
    rows: list[Reading] = []
    for item in listing:
        assert isinstance(item, dict)
        name, qom_type = item["name"], item["type"]
        assert isinstance(name, str) and isinstance(qom_type, str)
        reply = call("qom-get", path=CPU_PATH, property=name)
        error = reply.get("error")
        if isinstance(error, dict):
            rows.append((name, qom_type, ("error", error["desc"])))
        else:
            rows.append((name, qom_type, ("value", reply.get("return"))))
    return rows


def _read_and_write_cpu(call: QmpCall) -> list[PropertyRecord]:
    # Write every value back once all are read: the outcome says whether it can be changed
    # (QEMU refuses its qdev properties once the CPU is realized). Unreadable strings are
    # written as ""; children cannot be written at all.
    records: list[PropertyRecord] = []
    for name, qom_type, (kind, value) in _read_cpu(call):
        write: bool | str | None = None
        writable = not qom_type.startswith("child<") and name != "type"
        if writable and (kind == "value" or qom_type in ("str", "string")):
            reply = call("qom-set", path=CPU_PATH, property=name,
                         value=value if kind == "value" else "")
            error = reply.get("error")
            write = str(error["desc"]) if isinstance(error, dict) else True
        records.append((name, qom_type, (kind, value), write))
    return records


def record_cpu_tables(emulator: str, models: Sequence[str], accels: Sequence[Accel]
                      ) -> list[JSONObject]:
    """Record the CPU tables of ``models`` under ``accels`` from the real QEMU."""
    tables: list[JSONObject] = []
    for model in models:
        for accel in accels:
            base = [*CPU_MACHINE, "-accel", accel.value, "-cpu", model]
            records = _with_cpu(emulator, [*base, "-smp", "1"], _read_and_write_cpu)
            several = _with_cpu(emulator, [*base, "-smp", "2"], _read_cpu)
            single = {name: reading for name, _, reading, _ in records}
            # Children's paths and the topology ids are computed by the machine.
            differs: dict[str, JSONValue] = {
                name: value for name, qom_type, (kind, value) in several
                if kind == "value" and not qom_type.startswith("child<")
                and single.get(name) != ("value", value)
            }
            type_name = single["type"][1]
            assert isinstance(type_name, str)
            tables.append(build_cpu_table(
                model=model, accel=accel, type_name=type_name,
                recorded_with=shlex.join([*base, "-smp", "1"]), properties=records,
                several_cpus=differs))
            print(f"recorded CPU {model} under {accel.value}: {len(records)} properties, "
                  f"{len(differs)} differ with several CPUs")
    return tables


def describe(store: ProbeStore) -> str:
    counts: dict[str, int] = {}
    for entry in store.entries:
        counts[entry.command] = counts.get(entry.command, 0) + 1
    listed = ", ".join(f"{name} x{n}" if n > 1 else name for name, n in counts.items())
    return f"{len(store.entries)} answers: {listed}"


def compare(old: ProbeStore, new: ProbeStore) -> list[str]:
    """Differences between two stores' answers (meta ignored)."""
    def table(store: ProbeStore) -> dict[tuple[str, str, str], str]:
        return {(e.command, e.arguments, str(e.accel)): repr((e.result, e.error))
                for e in store.entries}
    a, b = table(old), table(new)
    out = [f"only in the shipped store: {k}" for k in a.keys() - b.keys()]
    out += [f"only in the new recording: {k}" for k in b.keys() - a.keys()]
    out += [f"different answer: {k}" for k in a.keys() & b.keys() if a[k] != b[k]]
    return sorted(out)


def compare_cpus(old: CpuTables, new: CpuTables) -> list[str]:
    """Differences between two sets of CPU tables (member order included; meta ignored)."""
    def table(tables: CpuTables) -> dict[tuple[str, str], str]:
        return {(str(t["model"]), str(t["accel"])): json.dumps(t) for t in tables.tables}
    a, b = table(old), table(new)
    out = [f"CPU table only in the shipped file: {k}" for k in a.keys() - b.keys()]
    out += [f"CPU table only in the new recording: {k}" for k in b.keys() - a.keys()]
    out += [f"different CPU table: {k}" for k in a.keys() & b.keys() if a[k] != b[k]]
    return sorted(out)


def _report(differences: list[str]) -> int:
    for line in differences:
        print(line)
    print("no drift" if not differences else f"{len(differences)} differences")
    return 1 if differences else 0


def cpu_step(args: argparse.Namespace, models: Sequence[str]) -> int:
    """Record the CPU tables; compare them (``--check``) or write them."""
    accels = [Accel.TCG]
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        accels.append(Accel.KVM)
    else:
        print("/dev/kvm is not usable: the KVM CPU tables are not recorded again")
    fresh = record_cpu_tables(args.emulator, models, accels)
    shipped = load_cpu_tables(args.cpus) if args.cpus.exists() else None
    keys = {(t["model"], t["accel"]) for t in fresh}
    kept = [t for t in shipped.tables if (t["model"], t["accel"]) not in keys] if shipped else []
    meta: dict[str, JSONValue] = {
        "qemu": _version([args.emulator, "--version"]),
        "recorded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "recorded-by": "tools/record-libvirt-probe.py",
        "kvm-host-cpu": _host_cpu(),
    }
    tables = CpuTables(meta, (*fresh, *kept))
    if args.check:
        return _report(compare_cpus(shipped, tables) if shipped else ["no shipped CPU tables"])
    args.cpus.parent.mkdir(parents=True, exist_ok=True)
    args.cpus.write_bytes(dump_cpu_tables(tables))
    print(f"wrote {args.cpus} ({args.cpus.stat().st_size} bytes)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/record-libvirt-probe.py",
        description="Record libvirt's capability probe of QEMU; rebuild hvballoond's probe store.")
    parser.add_argument("--emulator", default="/usr/bin/qemu-system-x86_64")
    parser.add_argument("--prefix", type=Path, default=Path("/tmp/hvb-libvirt-probe"),
                        help="private libvirt state (wiped first)")
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE)
    parser.add_argument("--cpus", type=Path, default=DEFAULT_CPUS, help="the CPU tables file")
    parser.add_argument("--transcripts", type=Path, default=DEFAULT_TRANSCRIPTS,
                        help="where probe-*.qmp go ('' for nowhere)")
    parser.add_argument("--from-log", type=Path, metavar="LOG",
                        help="use this libvirtd debug log of an earlier run of this tool "
                             "(the prefix must still hold the wrappers' argv.log files)")
    parser.add_argument("--check", action="store_true",
                        help="compare with the shipped store instead of writing anything")
    parser.add_argument("--cpus-only", action="store_true",
                        help="re-record only the CPU tables (no libvirt, no root needed)")
    parser.add_argument("--cpu-model", action="append", dest="cpu_models", metavar="MODEL",
                        help="a CPU model to record (repeatable; default qemu64)")
    args = parser.parse_args(argv)
    models = args.cpu_models or ["qemu64"]
    if args.cpus_only:
        return cpu_step(args, models)

    prefix: Path = args.prefix
    wrappers = {"kvm": str(prefix / "wrap/kvm/qemu-system-x86_64"),
                "nokvm": str(prefix / "wrap/nokvm/qemu-system-x86_64")}
    if args.from_log is not None:
        log = args.from_log
        argvs = {name: _command_lines(Path(path).parent / "argv.log")
                 for name, path in wrappers.items()}
    else:
        if os.geteuid() != 0:
            parser.error("needs root (libvirtd runs in system mode); or use --from-log")
        _run(["bash", str(INSTALL_SCRIPT), "--check"])
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            parser.error("/dev/kvm is not usable: the KVM answers cannot be recorded")
        log, argvs = record(args.emulator, prefix)
    with log.open(encoding="utf-8", errors="replace") as handle:
        named = classify(conversations(handle), wrappers)

    recorded_from = _version([args.emulator, "--version"])
    meta: dict[str, JSONValue] = {
        "qemu": recorded_from,
        "libvirt": _version(["libvirtd", "--version"]),
        "recorded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "recorded-by": "tools/record-libvirt-probe.py",
        "kvm-host-cpu": _host_cpu(),
    }
    store = build_store([named["kvm"], named["kvm-tcg"], named["nokvm"]], meta)
    print(describe(store))
    cpus_code = 0 if args.from_log is not None else cpu_step(args, models)
    if args.check:
        return _report(compare(load(args.store), store)) or cpus_code

    args.store.parent.mkdir(parents=True, exist_ok=True)
    args.store.write_bytes(dump(store))
    print(f"wrote {args.store} ({args.store.stat().st_size} bytes)")
    if str(args.transcripts):
        args.transcripts.mkdir(parents=True, exist_ok=True)
        descriptions = {
            "kvm": "libvirt 11.3's capability probe on a KVM host (first, full probe)",
            "kvm-tcg": "libvirt 11.3's second probe on a KVM host (TCG CPU models)",
            "nokvm": "libvirt 11.3's capability probe on a host without KVM (QEMU run with "
                     "accel=tcg in place of kvm:tcg)",
        }
        for name, conv in named.items():
            argv = _argv_for(argvs["nokvm" if name == "nokvm" else "kvm"], conv)
            run = [a.replace("accel=kvm:tcg", "accel=tcg") if name == "nokvm" else a
                   for a in argv]
            headers = [("recorded-from", recorded_from), ("description", descriptions[name]),
                       ("libvirt-command-line", shlex.join([args.emulator, *argv[1:]]))]
            path = args.transcripts / f"probe-{name}.qmp"
            path.write_text(to_transcript(conv, args=_strip_runner_options(run),
                                          headers=headers))
            print(f"wrote {path}")
    return cpus_code


if __name__ == "__main__":
    raise SystemExit(main())
