#!/bin/bash
# Start or stop the libvirt daemons the libvirt tests (and a developer)
# need, on a Debian 12 machine without systemd (see GUIDE.md):
#
#   scripts/libvirt.sh up [--owner PID]     install what is missing, set
#                                           up, start virtlogd and libvirtd
#                                           unless they run, wait until
#                                           qemu:///system answers
#   scripts/libvirt.sh down [--owner PID]   stop what "up" started, once no
#                                           other owner still uses it
#   scripts/libvirt.sh restart-libvirtd     stop libvirtd and start it
#                                           again (tests of a restart)
#   scripts/libvirt.sh stop-libvirtd        stop it, leaving the domains
#   scripts/libvirt.sh start-libvirtd       start it again
#                                           (these three only act on a
#                                           libvirtd that "up" started)
#   scripts/libvirt.sh status               print what runs and who uses it
#
# Each "up" registers an owner (default: the calling process, $PPID) in
# $STATE/owners; "down" removes it, forgets owners that died, and stops the
# daemons only when none is left and only those "up" itself started: a
# libvirtd that ran before (the host's own) is never stopped.  Running
# domains are not touched: stopping libvirtd leaves their QEMUs running.
#
# Environment: VMSNAP_LIBVIRT_URI (default qemu:///system) is the
# connection probed for readiness; VMSNAP_LIBVIRT_WAIT_S (default 60) how
# long to wait for it.
set -euo pipefail

STATE=/run/vmsnap-libvirt
URI=${VMSNAP_LIBVIRT_URI:-qemu:///system}
WAIT_S=${VMSNAP_LIBVIRT_WAIT_S:-60}
PACKAGES=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)

say() {
    echo "libvirt.sh: $*" >&2
}

die() {
    say "$*"
    exit 1
}

# The pid in pid file $1 if that process runs, else nothing.
running_pid() {
    local pid
    [ -f "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# The pid of the running daemon named $1 (virtlogd, libvirtd), else nothing.
daemon_pid() {
    local pid
    pid=$(running_pid "/run/$1.pid") && {
        echo "$pid"
        return 0
    }
    # A daemon started without its default pid file: find it by its exact
    # executable, not by a pattern.
    for pid in $(pidof "/usr/sbin/$1" 2>/dev/null); do
        echo "$pid"
        return 0
    done
    return 1
}

install_packages() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
                grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} (run as root)"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Other users of this machine may be running apt: wait for its lock.
    local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
    if ! "${apt[@]}" install --no-install-recommends "${missing[@]}" >&2; then
        "${apt[@]}" update >&2
        "${apt[@]}" install --no-install-recommends "${missing[@]}" >&2
    fi
}

# What libvirt needs here and Debian's libvirt-daemon-system would make:
# the libvirt-qemu user and group, its directories, and QEMU running as
# root (no dynamic ownership games with files other tools made).
configure() {
    local conf=/etc/libvirt/qemu.conf tmp
    getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
    getent passwd libvirt-qemu >/dev/null ||
        useradd -r -g libvirt-qemu -d /var/lib/libvirt \
            -s /usr/sbin/nologin libvirt-qemu
    mkdir -p /etc/libvirt /var/log/libvirt /var/lib/libvirt \
        /var/cache/libvirt /run/libvirt
    if ! grep -qx 'user = "root"' "$conf" 2>/dev/null ||
            ! grep -qx 'group = "root"' "$conf" 2>/dev/null; then
        tmp=$(mktemp "$conf.XXXXXX")
        if [ -f "$conf" ]; then
            grep -v -E '^[[:space:]]*(user|group)[[:space:]]*=' "$conf" \
                >"$tmp" || true
        fi
        printf 'user = "root"\ngroup = "root"\n' >>"$tmp"
        chmod 0644 "$tmp"
        mv "$tmp" "$conf"
        say "set user and group root in $conf"
    fi
}

ready() {
    virsh -c "$URI" version >/dev/null 2>&1
}

wait_ready() {
    local i
    for ((i = 0; i < WAIT_S * 5; i++)); do
        ready && return 0
        sleep 0.2
    done
    return 1
}

# Start daemon $1 (virtlogd, libvirtd) unless it runs; remember that we
# did.
start_daemon() {
    local name=$1 pid i
    if pid=$(daemon_pid "$name"); then
        return 0
    fi
    rm -f "$STATE/started-$name"
    # The daemon must not inherit our lock or a caller's pipe (a test
    # harness would wait for its EOF forever).
    (
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
        done
        exec "/usr/sbin/$name" -d </dev/null >/dev/null 2>&1
    )
    for ((i = 0; i < 100; i++)); do
        pid=$(running_pid "/run/$name.pid") && break
        sleep 0.1
    done
    [ -n "${pid:-}" ] || die "$name did not start (see /var/log/libvirt)"
    echo "$pid" >"$STATE/started-$name"
    say "started $name (pid $pid)"
}

# Stop daemon $1 if "up" started it and it still runs.
stop_daemon() {
    local name=$1 pid i
    pid=$(running_pid "$STATE/started-$name") || {
        rm -f "$STATE/started-$name"
        return 0
    }
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name (pid $pid) ignores SIGTERM: killing it"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$STATE/started-$name"
    say "stopped $name (pid $pid)"
}

# Forget owners whose process is gone.
prune_owners() {
    local f
    for f in "$STATE"/owners/*; do
        [ -e "$f" ] || continue
        kill -0 "${f##*/}" 2>/dev/null || rm -f "$f"
    done
}

owner=$PPID
cmd=${1:-}
shift || true
while [ $# -gt 0 ]; do
    case $1 in
    --owner) owner=${2:?--owner needs a pid}; shift 2 ;;
    *) die "unknown argument: $1" ;;
    esac
done

mkdir -p "$STATE/owners"
exec 9>"$STATE/lock"
flock 9

case $cmd in
up)
    install_packages
    configure
    # virtlogd first: libvirtd hands it every QEMU's log.
    start_daemon virtlogd
    start_daemon libvirtd
    wait_ready || die "libvirtd does not answer on $URI after ${WAIT_S}s"
    # We may stop and start again a libvirtd we started ourselves.
    [ -f "$STATE/started-libvirtd" ] && : >"$STATE/manages-libvirtd"
    : >"$STATE/owners/$owner"
    ;;
down)
    rm -f "$STATE/owners/$owner"
    prune_owners
    if compgen -G "$STATE/owners/*" >/dev/null; then
        say "still used by $(ls "$STATE/owners" | tr '\n' ' ')"
        exit 0
    fi
    stop_daemon libvirtd
    stop_daemon virtlogd
    rm -f "$STATE/manages-libvirtd"
    ;;
restart-libvirtd|stop-libvirtd|start-libvirtd)
    [ -f "$STATE/manages-libvirtd" ] ||
        die "libvirtd was not started by libvirt.sh up: leaving it alone"
    if [ "$cmd" != start-libvirtd ]; then
        stop_daemon libvirtd
    fi
    if [ "$cmd" != stop-libvirtd ]; then
        start_daemon libvirtd
        wait_ready || die "libvirtd does not answer on $URI after ${WAIT_S}s"
    fi
    ;;
status)
    for d in virtlogd libvirtd; do
        if pid=$(daemon_pid $d); then
            if [ "$(running_pid "$STATE/started-$d" || true)" = "$pid" ]; then
                echo "$d: running (pid $pid, started by libvirt.sh)"
            else
                echo "$d: running (pid $pid)"
            fi
        else
            echo "$d: not running"
        fi
    done
    prune_owners
    echo "owners: $(ls "$STATE/owners" | tr '\n' ' ')"
    ;;
*)
    die "usage: libvirt.sh up|down [--owner PID] |" \
        "restart-libvirtd|stop-libvirtd|start-libvirtd | status"
    ;;
esac
