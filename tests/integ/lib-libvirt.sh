# vmsnap libvirt tests: shared shell functions.  Source it after lib.sh.
#
# Environment (set by meson): HVTOOL (tests/integ/test-hv-libvirt, which
# drives the driver), SRCDIR.  VMSNAP_LIBVIRT_URI (default qemu:///system)
# is the connection.  Everything here that prepares or checks a domain
# goes through virsh, never through the driver under test.
: "${HVTOOL:?HVTOOL must name the test-hv-libvirt program}"

LV_URI=${VMSNAP_LIBVIRT_URI:-qemu:///system}
export VMSNAP_LIBVIRT_URI=$LV_URI
# Every domain this run defines is named with this prefix, so cleanup
# removes them all and nothing else.
LV_PREFIX=vmsnap-test-$$
LV_PIDS=""

V() {
    virsh -q -c "$LV_URI" "$@"
}

hvtool() {
    "$HVTOOL" "$@"
}

lv_up() {
    "$SRCDIR/scripts/libvirt.sh" up --owner $$ >&2
}

lv_cleanup() {
    local d pid
    for pid in $LV_PIDS; do
        kill -9 "$pid" 2>/dev/null
    done
    if virsh -c "$LV_URI" version >/dev/null 2>&1; then
        for d in $(V list --all --name | grep "^$LV_PREFIX"); do
            V destroy "$d" >/dev/null 2>&1
            V undefine "$d" --checkpoints-metadata --snapshots-metadata \
                >/dev/null 2>&1
        done
    fi
    "$SRCDIR/scripts/libvirt.sh" down --owner $$ >&2
    cleanup
}
trap lv_cleanup EXIT

# Bail out: a setup step failed.  The test fails, it never skips.
lv_bail() {
    ok 1 "setup: $*"
    done_testing
    exit 1
}

# The XML of a domain as an administrator writes it for the test guest:
# TCG, q35, direct kernel boot, the agent channel, a serial console to a
# file.  Each DISK is PATH:FORMAT, the first the root, or "cdrom" for an
# empty CD-ROM drive (sata).
lv_admin_xml() {  # lv_admin_xml NAME CONSOLE DISK...
    local name=$1 console=$2 g spec path fmt i=0 letters=(a b c d e f)
    shift 2
    g=$(guest_dir)
    cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$g/vmlinuz</kernel>
    <initrd>$g/initrd.img</initrd>
    <cmdline>console=ttyS0 root=/dev/vda rw quiet</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='custom' match='exact'><model fallback='allow'>qemu64</model></cpu>
  <on_poweroff>destroy</on_poweroff>
  <devices>
EOF
    for spec in "$@"; do
        if [ "$spec" = cdrom ]; then
            cat <<EOF
    <disk type='file' device='cdrom'>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
EOF
            continue
        fi
        path=${spec%%:*} fmt=${spec#*:}
        cat <<EOF
    <disk type='file' device='disk'>
      <driver name='qemu' type='$fmt'/>
      <source file='$path'/>
      <target dev='vd${letters[i]}' bus='virtio'/>
    </disk>
EOF
        i=$((i + 1))
    done
    cat <<EOF
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <serial type='file'><source path='$console'/><target port='0'/></serial>
    <video><model type='none'/></video>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# Define domain NAME from XML file $2 and start it unless $3 is "no".
lv_define() {  # lv_define NAME XMLFILE [START]
    V define "$2" >/dev/null || return 1
    [ "${3:-yes}" = no ] || V start "$1" >/dev/null
}

lv_uuid() {
    V domuuid "$1"
}

# Wait until the agent of domain NAME answers (up to $2 s, default 120).
lv_wait_agent() {
    local i
    for ((i = 0; i < ${2:-120} * 2; i++)); do
        V qemu-agent-command "$1" '{"execute":"guest-ping"}' \
            >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    return 1
}

# Wait until domain NAME is in STATE (virsh domstate words).
lv_wait_state() {  # lv_wait_state NAME STATE [SECONDS]
    local i
    for ((i = 0; i < ${3:-120} * 5; i++)); do
        [ "$(V domstate "$1" 2>/dev/null)" = "$2" ] && return 0
        sleep 0.2
    done
    return 1
}

# Run a shell command line in domain NAME through the agent (virsh);
# print its stdout; fail when it exits non-zero.
lv_guest_sh() {  # lv_guest_sh NAME 'command line'
    local req pid out i
    req=$(python3 -c 'import json, sys
print(json.dumps({"execute": "guest-exec", "arguments": {
    "path": "/bin/sh", "arg": ["-c", sys.argv[1]],
    "capture-output": True}}))' "$2")
    out=$(V qemu-agent-command "$1" "$req") || return 1
    pid=$(python3 -c 'import json, sys
print(json.load(sys.stdin)["return"]["pid"])' <<<"$out") || return 1
    for ((i = 0; i < 600; i++)); do
        out=$(V qemu-agent-command "$1" \
            "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}") ||
            return 1
        python3 -c 'import base64, json, sys
r = json.load(sys.stdin)["return"]
if not r["exited"]:
    sys.exit(3)
sys.stdout.write(base64.b64decode(r.get("out-data", "")).decode())
sys.exit(0 if r.get("exitcode") == 0 else 1)' <<<"$out"
        case $? in
        0) return 0 ;;
        1) return 1 ;;
        esac
        sleep 0.1
    done
    return 1
}

# frozen or thawed, as the agent of NAME says (through virsh).
lv_freeze_status() {
    V qemu-agent-command "$1" '{"execute":"guest-fsfreeze-status"}' |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["return"])'
}

# The last freeze window of NAME as its fsfreeze hook stamped it (from
# the freeze hook's start to the thaw hook's start), in milliseconds.
lv_hook_window() {
    lv_guest_sh "$1" 'cat /var/log/fsfreeze-hook.log' | python3 -c '
import re, sys
freeze = thaw = None
for line in sys.stdin:
    m = re.match(r"\[([0-9.]+)\] (freeze|thaw)$", line.strip())
    if m and m.group(2) == "freeze":
        freeze, thaw = float(m.group(1)), None
    elif m and freeze is not None:
        thaw = float(m.group(1))
if freeze is None or thaw is None:
    sys.exit(1)
print(int(round((thaw - freeze) * 1000)))'
}

# Start a writer in NAME: each step writes the step number to /root/seq
# and /mnt/b/seq (both filesystems) and rewrites some blocks of each.
# The numbers are renamed into place: a freeze that falls between a
# truncation and its write would otherwise copy an empty file.
lv_start_writer() {
    lv_guest_sh "$1" 'sh -c "i=0; while :; do i=\$((i+1)); for f in /root/seq /mnt/b/seq; do echo \$i > \$f.t; mv \$f.t \$f; done; dd if=/dev/zero of=/root/blob.\$((i % 4)) bs=4k count=8 2>/dev/null; dd if=/dev/zero of=/mnt/b/blob.\$((i % 4)) bs=4k count=8 2>/dev/null; done" </dev/null >/dev/null 2>&1 &'
}

# Value of KEY in the key=value output of the test program, file $2.
kv() {  # kv KEY FILE
    sed -n "s/^$1=//p" "$2" | tail -n 1
}

# Files whose names hold backup tag TAG in directory DIR (none: empty).
lv_leftovers() {  # lv_leftovers DIR TAG
    ls "$1" 2>/dev/null | grep -F "backup-$2" || true
}

# What libvirt says about NAME's jobs and checkpoints: "none none" when
# it runs no job and has no checkpoint.
lv_job_and_checkpoints() {
    local job cps
    job=$(V domjobinfo "$1" | sed -n 's/^Job type: *//p' | tr -d ' ')
    cps=$(V checkpoint-list "$1" --name | tr '\n' ' ' | sed 's/ *$//')
    [ "$job" = None ] && job=none
    echo "${job:-?} ${cps:-none}"
}
