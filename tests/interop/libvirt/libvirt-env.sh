#!/usr/bin/env bash
# A private libvirtd (system mode, as root) + virtlogd, without systemd, that leaves the host's
# libvirt state alone.
#
#   libvirt-env.sh start      start virtlogd and libvirtd (no-op if already running)
#   libvirt-env.sh restart    restart libvirtd only (running domains survive; libvirtd reconnects)
#   libvirt-env.sh stop       destroy running domains, stop everything started here, keep files
#   libvirt-env.sh clean      stop, then delete the prefix
#   libvirt-env.sh status     exit 0 if libvirtd answers
#   libvirt-env.sh uri        print the connection URI (for virsh -c / LIBVIRT_DEFAULT_URI)
#   libvirt-env.sh exec CMD   run CMD inside the private mount namespace
#
# Environment: HVB_LIBVIRT_PREFIX (default /tmp/hvb-libvirt) holds everything:
#   etc/  lib/  cache/  run/  log/   bind-mounted over /etc/libvirt, /var/lib/libvirt,
#                                    /var/cache/libvirt, /run/libvirt, /var/log/libvirt inside a
#                                    private mount namespace (kept alive by a "holder" process),
#                                    so domain definitions, the capabilities cache, monitor
#                                    sockets and logs never touch the host's directories;
#   sock/                            libvirtd's unix_sock_dir (reachable from outside);
#   libvirtd.log                     libvirtd's debug log: QMP traffic (qemu.qemu_monitor*);
#   *.pid                            holder, virtlogd, libvirtd.
# HVB_LIBVIRT_LOG_FILTERS overrides libvirtd's log_filters.
#
# libvirtd's own configuration directory cannot be moved (qemu.conf is always read from
# /etc/libvirt), hence the mount namespace. qemu.conf runs the emulator as root with no security
# driver, cgroups or namespaces: the machine has no systemd, and the emulator under test
# (hvballoond in a virtualenv below /root) must be reachable.
set -euo pipefail

P=${HVB_LIBVIRT_PREFIX:-/tmp/hvb-libvirt}
URI="qemu:///system?socket=$P/sock/libvirt-sock"
LOG_FILTERS=${HVB_LIBVIRT_LOG_FILTERS:-"1:qemu.qemu_monitor 1:qemu.qemu_monitor_json 1:qemu.qemu_process 3:*"}
MOUNTS=("etc:/etc/libvirt" "lib:/var/lib/libvirt" "cache:/var/cache/libvirt" "run:/run/libvirt"
        "log:/var/log/libvirt")

die() { echo "libvirt-env: $*" >&2; exit 1; }

alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

holder_alive() {
  alive "$P/holder.pid" \
    && [[ $(readlink "/proc/$(cat "$P/holder.pid")/ns/mnt") != $(readlink /proc/self/ns/mnt) ]]
}

in_ns() { nsenter -t "$(cat "$P/holder.pid")" -m -- "$@"; }

write_config() {
  mkdir -p "$P"/{etc/qemu,etc/hooks,lib,cache,run,log,sock}
  chmod 700 "$P"
  cat > "$P/etc/libvirtd.conf" <<CONF
unix_sock_dir = "$P/sock"
unix_sock_group = "root"
unix_sock_ro_perms = "0700"
unix_sock_rw_perms = "0700"
unix_sock_admin_perms = "0700"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_filters = "$LOG_FILTERS"
log_outputs = "1:file:$P/libvirtd.log"
CONF
  cat > "$P/etc/virtlogd.conf" <<CONF
log_outputs = "3:file:$P/virtlogd.log"
CONF
  cat > "$P/etc/qemu.conf" <<CONF
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "logd"
CONF
  : > "$P/etc/libvirt.conf"
  touch "$P/etc/.hvb-private"
}

start_holder() {
  holder_alive && return 0
  local target dir spec script=""
  for spec in "${MOUNTS[@]}"; do
    dir=${spec%%:*} target=${spec#*:}
    mkdir -p "$target"   # /run/libvirt may not exist without systemd-tmpfiles
    script+="mount --bind '$P/$dir' '$target' && "
  done
  setsid unshare --mount --propagation private -- \
    sh -c "${script}exec sleep infinity" </dev/null >"$P/holder.log" 2>&1 &
  echo $! > "$P/holder.pid"
  for _ in $(seq 100); do
    if holder_alive && in_ns test -e /etc/libvirt/.hvb-private; then return 0; fi
    alive "$P/holder.pid" || die "could not create the mount namespace: $(cat "$P/holder.log")"
    sleep 0.05
  done
  die "the mount namespace did not come up"
}

wait_for_libvirtd() {
  for _ in $(seq 200); do
    if virsh -q -c "$URI" uri >/dev/null 2>&1; then return 0; fi
    alive "$P/libvirtd.pid" || [[ $_ -lt 20 ]] || die "libvirtd died: see $P/libvirtd.log"
    sleep 0.1
  done
  die "libvirtd does not answer on $P/sock (see $P/libvirtd.log)"
}

start_libvirtd() {
  alive "$P/libvirtd.pid" && return 0
  rm -f "$P/libvirtd.pid"
  in_ns libvirtd --daemon --config "$P/etc/libvirtd.conf" --pid-file "$P/libvirtd.pid"
  wait_for_libvirtd
}

start() {
  command -v libvirtd >/dev/null || die "libvirt is not installed (run install.sh)"
  [[ $(id -u) == 0 ]] || die "needs root (libvirtd in system mode)"
  write_config
  start_holder
  if ! alive "$P/virtlogd.pid"; then
    in_ns virtlogd --daemon --config "$P/etc/virtlogd.conf" --pid-file "$P/virtlogd.pid"
    for _ in $(seq 100); do [[ -S $P/run/virtlogd-sock ]] && break; sleep 0.05; done
  fi
  start_libvirtd
}

stop_pid() {  # stop_pid FILE: SIGTERM, wait up to 10 s, then SIGKILL
  local pid
  [[ -s "$1" ]] || return 0
  pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

namespace_pids() {  # every process in the holder's mount namespace, except the holder
  local ns pid holder
  holder=$(cat "$P/holder.pid")
  ns=$(readlink "/proc/$holder/ns/mnt")
  for pid in /proc/[0-9]*; do
    pid=${pid#/proc/}
    [[ $pid != "$holder" ]] || continue
    [[ $(readlink "/proc/$pid/ns/mnt" 2>/dev/null) == "$ns" ]] && echo "$pid"
  done
  return 0
}

stop() {
  local dom pid
  if alive "$P/libvirtd.pid"; then
    for dom in $(virsh -q -c "$URI" list --name 2>/dev/null); do
      virsh -q -c "$URI" destroy "$dom" >/dev/null 2>&1 || true
    done
  fi
  stop_pid "$P/libvirtd.pid"
  stop_pid "$P/virtlogd.pid"
  if holder_alive; then
    # emulators (and probe processes) libvirtd left behind; they all live in our namespace
    for pid in $(namespace_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  stop_pid "$P/holder.pid"
}

case "${1:-}" in
  start) start ;;
  restart)
    holder_alive || die "not running"
    stop_pid "$P/libvirtd.pid"
    start_libvirtd ;;
  stop) [[ -d $P ]] && stop ;;
  clean) if [[ -d $P ]]; then stop; rm -rf "$P"; fi ;;
  status) alive "$P/libvirtd.pid" && virsh -q -c "$URI" uri >/dev/null ;;
  uri) echo "$URI" ;;
  exec) shift; holder_alive || die "not running"; in_ns "$@" ;;
  *) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
