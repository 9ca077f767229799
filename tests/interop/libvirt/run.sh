#!/usr/bin/env bash
# The libvirt end-to-end suite (make interop): libvirt 11.3 drives a domain whose <emulator> is
# hvballoond (default) or the real QEMU 10.0.2, through virsh's memory operations.
#
#   run.sh [--emulator qemu|hvballoond] [--binary PATH] [--real-guest DIR | --no-guest]
#          [--record DIR] [--keep] [-- PYTEST_ARGS...]
#
#   --emulator     which emulator the domains use (default hvballoond)
#   --binary       its path (default: .venv/bin/hvballoond, or /usr/bin/qemu-system-x86_64)
#   --real-guest   with --emulator qemu: a folder holding vmlinuz + initrd.img from
#                  ../shared/tools/real-guest/build.sh; the domain boots it so that the
#                  guest-driven steps (balloon, DIMM eject, virtio-mem plug) complete
#   --no-guest     no guest at all: hvballoond runs without its simulated guest (-object
#                  hvb-guest), QEMU without a guest OS; both must then answer alike
#   --record DIR   afterwards, write the QMP conversations libvirt had with the emulator
#                  (from libvirtd's debug log) as transcripts into DIR, with the virsh steps
#                  as comments (see tools/libvirt-log-to-transcript.py)
#   --keep         leave libvirtd running (HVB_LIBVIRT_PREFIX, default /tmp/hvb-libvirt-e2e)
#
# Without --keep everything started here is stopped at the end, and after a run where every
# step passed the prefix (libvirt's state and logs) is deleted too; after a failure it stays
# for the logs. The steps get HVB_LIBVIRT_TIMEOUT seconds in all (default 480).
#
# Needs root: installs libvirt when missing (install.sh) and runs libvirtd in system mode, in a
# private mount namespace (libvirt-env.sh). The virsh outputs land in $HVB_LIBVIRT_RESULTS
# (default /tmp/hvb-libvirt-results) as virsh-EMULATOR-GUEST.json, to compare two runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)

emulator=hvballoond
binary=""
real_guest=""
record=""
keep=0
no_guest=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --emulator) emulator=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --real-guest) real_guest=$(cd "$2" && pwd); shift 2 ;;
    --record) mkdir -p "$2"; record=$(cd "$2" && pwd); shift 2 ;;
    --keep) keep=1; shift ;;
    --no-guest) no_guest=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
case "$emulator" in
  hvballoond) binary=${binary:-$repo/.venv/bin/hvballoond} ;;
  qemu) binary=${binary:-$(command -v qemu-system-x86_64 || echo /usr/bin/qemu-system-x86_64)} ;;
  *) echo "run.sh: --emulator is qemu or hvballoond" >&2; exit 2 ;;
esac
[[ -x $binary ]] || { echo "run.sh: no emulator at $binary" >&2; exit 1; }
if [[ $no_guest == 1 ]]; then guest_mode=no-guest
elif [[ $emulator == hvballoond ]]; then guest_mode=simulated-guest
elif [[ -n $real_guest ]]; then guest_mode=real-guest
else guest_mode=no-guest; fi

[[ $(id -u) == 0 ]] || { echo "run.sh: needs root (libvirtd in system mode)" >&2; exit 1; }
bash "$here/install.sh" >/dev/null

export HVB_LIBVIRT_PREFIX=${HVB_LIBVIRT_PREFIX:-/tmp/hvb-libvirt-e2e}
env_script="$here/libvirt-env.sh"
bash "$env_script" clean
bash "$env_script" start
if [[ $keep == 0 ]]; then trap 'bash "$env_script" stop' EXIT; fi

results=${HVB_LIBVIRT_RESULTS:-/tmp/hvb-libvirt-results}
mkdir -p "$results" "$HVB_LIBVIRT_PREFIX/work"
status=0
HVB_LIBVIRT_URI=$(bash "$env_script" uri) \
HVB_LIBVIRT_EMULATOR=$emulator \
HVB_LIBVIRT_EMULATOR_BINARY=$binary \
HVB_LIBVIRT_ENV=$env_script \
HVB_LIBVIRT_WORKDIR=$HVB_LIBVIRT_PREFIX/work \
HVB_LIBVIRT_RESULTS=$results \
HVB_REAL_GUEST=$real_guest \
HVB_LIBVIRT_NO_GUEST=$no_guest \
HVB_LIBVIRT_RUN_NAME=$emulator-$guest_mode \
  timeout --kill-after=30 "${HVB_LIBVIRT_TIMEOUT:-480}" \
  "$repo/.venv/bin/python" -m pytest -p no:cacheprovider -v -o console_output_style=classic \
    --rootdir "$repo" "$here" "$@" || status=$?

if [[ -n $record ]]; then
  "$repo/.venv/bin/python" "$repo/tools/libvirt-log-to-transcript.py" \
    --log "$HVB_LIBVIRT_PREFIX/libvirtd.log" --steps "$results/steps-$emulator-$guest_mode.json" \
    --qemu-log-dir "$HVB_LIBVIRT_PREFIX/log/qemu" --emulator "$binary" \
    --prefix "domain-$emulator-$guest_mode" --out "$record"
fi
if [[ $keep == 0 && $status == 0 ]]; then
  trap - EXIT
  bash "$env_script" clean
  echo "run.sh: every step passed; virsh outputs in $results"
else
  [[ $status == 124 ]] && echo "run.sh: the steps took longer than ${HVB_LIBVIRT_TIMEOUT:-480} s" >&2
  echo "run.sh: virsh outputs in $results; libvirtd log $HVB_LIBVIRT_PREFIX/libvirtd.log"
fi
exit $status
