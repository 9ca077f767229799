#!/usr/bin/env bash
# Installs libvirt 11.3 from Debian's bookworm-backports for the libvirt interop suite, without
# upgrading the system's systemd/udev. Idempotent; needs root (apt-get). Used by run.sh.
#
#   install.sh            install (no-op when libvirtd 11.3 and virsh are already there)
#   install.sh --check    only report whether the right libvirt is installed (exit 0/1)
#
# Only the libvirt packages are taken from bookworm-backports (pkg/bookworm-backports, not -t,
# so their dependencies come from bookworm). libvirt-daemon-driver-qemu needs
# "systemd-container | sysvinit-core": systemd-container is pinned to the version of the
# installed systemd, otherwise apt would pull the newest one and upgrade systemd with it.
# No recommends: the network/storage/nodedev drivers, passt, swtpm are not needed.
# The install is simulated first and refused if it would still upgrade systemd or udev.
# Without QEMU on the machine, the suite's QEMU (10.0.x) is installed first, as
# ../../../../shared/tools/install-qemu-oracle.sh would (which .ci/run runs when it is there).
set -euo pipefail

suite=bookworm-backports
want_version=11.3
packages=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)
protected='^(systemd|systemd-sysv|systemd-timesyncd|libsystemd0|libsystemd-shared|udev|libudev1|libnss-systemd|libpam-systemd)$'

version_of() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

installed() {
  local p
  for p in "${packages[@]}"; do
    [[ $(version_of "$p") == "$want_version".* ]] || return 1
  done
  command -v libvirtd >/dev/null && command -v virtlogd >/dev/null && command -v virsh >/dev/null
}

if [[ "${1:-}" == "--check" ]]; then
  installed && { libvirtd --version; exit 0; }
  echo "libvirt $want_version is not installed (run $0 as root)" >&2
  exit 1
fi
if installed; then
  libvirtd --version
  exit 0
fi
[[ $(id -u) == 0 ]] || { echo "install.sh: needs root (apt-get)" >&2; exit 1; }

mirror() {
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -n "$uri" ]] || uri=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [[ -n "$uri" ]] || { echo "install.sh: no Debian mirror in the apt configuration" >&2; exit 1; }
  echo "$uri"
}
if ! grep -rqs "^deb .* $suite " /etc/apt/sources.list /etc/apt/sources.list.d/ \
   && ! grep -rqs "Suites:.*$suite" /etc/apt/sources.list.d/; then
  echo "deb $(mirror) $suite main" > /etc/apt/sources.list.d/hvb-backports.list
fi
apt-get update -qq

# apt-get install with the given arguments, simulated first and refused if it would upgrade
# systemd or udev. The maintainer scripts must not try to start services (no systemd runs).
safe_install() {
  local plan upgrades bad
  plan=$(apt-get install --simulate "$@" 2>&1) || { echo "$plan" >&2; exit 1; }
  # "Inst NAME [OLD] (NEW ...)" is an upgrade of an installed package.
  upgrades=$(awk '$1 == "Inst" && $3 ~ /^\[/ {print $2}' <<<"$plan")
  if bad=$(grep -E "$protected" <<<"$upgrades"); then
    echo "install.sh: the install would upgrade: $bad; refusing" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq "$@" >/dev/null
}

# libvirt-daemon-driver-qemu depends on "qemu-kvm | qemu-system": without QEMU installed apt
# would pick bookworm's QEMU 7.2. Install the suite's QEMU (10.0.x) first, as
# ../../../../shared/tools/install-qemu-oracle.sh does; its libraries (seabios,
# qemu-system-common...) must come from the suite too, hence -t rather than pkg/suite.
if [[ -z $(version_of qemu-system-x86) ]]; then
  safe_install --no-install-recommends -t "$suite" qemu-system-x86
fi

args=(--no-install-recommends)
for p in "${packages[@]}"; do args+=("$p/$suite"); done
if systemd_version=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null) && [[ -n "$systemd_version" ]]; then
  if apt-cache madison systemd-container | awk -F'|' '{gsub(/ /, "", $2); print $2}' \
      | grep -qxF "$systemd_version"; then
    args+=("systemd-container=$systemd_version")
  else
    echo "install.sh: systemd-container $systemd_version (the installed systemd's version) is not" \
         "available from apt; refusing to upgrade systemd" >&2
    exit 1
  fi
fi
safe_install "${args[@]}"
installed || { echo "install.sh: libvirt $want_version did not install" >&2; exit 1; }
libvirtd --version
