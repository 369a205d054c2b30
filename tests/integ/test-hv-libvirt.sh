#!/bin/bash
# The libvirt driver against a real libvirtd and the test guest, defined
# by hand with virsh as an administrator's existing VM would be:
#   A  qcow2 overlay root (a backing chain) + a qcow2 data disk, agent:
#      list, agent, quiesced backups of both disks under a writer, abort,
#      a failing copy, a checkpoint, libvirtd restarted or gone mid-copy,
#      the process killed mid-copy (reap), killed while the guest is
#      frozen (a child on its own connection thaws), destroy refused,
#      per-domain properties, clean and forced stops;
#   B  raw root + raw data disk + an empty CD-ROM: backup, a live-only
#      hot-plug;
#   C  a domain the driver defines itself: start, hot-plug, pause,
#      resume, clean stop, start, destroy;
#   E  a foreign domain never started: destroy refused, then forced.
# One guest runs at a time.
. "$SRCDIR/tests/integ/lib.sh"
. "$SRCDIR/tests/integ/lib-libvirt.sh"

need qemu-img mke2fs dumpe2fs e2fsck debugfs python3 truncate
lv_up || lv_bail "libvirtd does not start (scripts/libvirt.sh up)"
need virsh
G=$(guest_dir) || lv_bail "the test guest cannot be built"
D=$T_DIR
S=$D/state          # the state directory the driver gets for A
mkdir -p "$S"

# ext4 image of SIZE at PATH in FORMAT (raw or qcow2).
mkfs_disk() {  # mkfs_disk PATH SIZE FORMAT
    truncate -s "$2" "$1.raw" && mke2fs -q -t ext4 -F "$1.raw" || return 1
    if [ "$3" = qcow2 ]; then
        qemu-img convert -O qcow2 "$1.raw" "$1" && rm -f "$1.raw"
    else
        mv "$1.raw" "$1"
    fi
}

# The integer in the progress file $1, or -1.
progress_of() {
    local v
    v=$(cat "$1" 2>/dev/null)
    echo "${v:--1}"
}

# Wait until background backup PID (progress file $1) is copying:
# 1..99 %.  Fails at once when it has ended.
wait_copying() {  # wait_copying FILE PID
    local i p
    for ((i = 0; i < 1200; i++)); do
        p=$(progress_of "$1")
        [ "$p" -ge 1 ] && [ "$p" -lt 100 ] && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- A ---
A=$LV_PREFIX-a
qemu-img create -q -f qcow2 -F qcow2 -b "$G/root.qcow2" "$D/a-root.qcow2" ||
    lv_bail "cannot make A's root overlay"
mkfs_disk "$D/a-data.qcow2" 256M qcow2 || lv_bail "cannot make A's data disk"
lv_admin_xml "$A" "$D/a-console.log" "$D/a-root.qcow2:qcow2" \
    "$D/a-data.qcow2:qcow2" >"$D/a.xml"
lv_define "$A" "$D/a.xml" || lv_bail "virsh cannot define and start A"
UA=$(lv_uuid "$A")
lv_wait_agent "$A" || lv_bail "the agent of A does not answer"
lv_guest_sh "$A" 'mount /dev/vdb /mnt/b &&
    dd if=/dev/urandom of=/mnt/b/big bs=1M count=16 2>/dev/null && sync' ||
    lv_bail "cannot mount and fill A's data disk"

hvtool list >"$D/list" 2>"$D/list.err"
python3 - "$D/list" "$UA" "$A" "$D" <<'PY'
import json, sys
path, uuid, name, d = sys.argv[1:]
doms = [json.loads(l) for l in open(path)]
a = [x for x in doms if x["id"] == uuid]
assert len(a) == 1, doms
a = a[0]
assert a["name"] == name and a["status"] == "ACTIVE", a
assert a["power"] == "running" and a["cpus"] == 1, a
assert a["memory_mb"] == 256 and a["agent"] is True, a
assert [(x["target"], x["path"], x["format"]) for x in a["disks"]] == [
    ("vda", d + "/a-root.qcow2", "qcow2"),
    ("vdb", d + "/a-data.qcow2", "qcow2")], a["disks"]
PY
ok $? "list: the domain virsh defined, running, 1 vCPU, 256 MiB, agent, root then data disk"

hvtool state "$UA" >"$D/out"
[ "$(kv status "$D/out")" = ACTIVE ] && [ "$(kv power "$D/out")" = running ]
ok $? "state: ACTIVE, running"

hvtool props "$UA" >"$D/out"
[ "$(kv managed "$D/out")" = no ]
ok $? "props: a domain vmsnap did not define is not managed"

check "agent: guest-ping through libvirt" -- hvtool agent "$UA" ping
hvtool agent "$UA" freeze >"$D/out"
[ "$(kv frozen "$D/out")" = 2 ] && [ "$(lv_freeze_status "$A")" = frozen ]
ok $? "agent: virDomainFSFreeze froze both filesystems (virsh agrees)"
hvtool agent "$UA" status >"$D/out"
[ "$(kv status "$D/out")" = frozen ]
ok $? "agent: status says frozen"
hvtool agent "$UA" thaw >"$D/out"
[ "$(kv thawed "$D/out")" = 2 ] && [ "$(lv_freeze_status "$A")" = thawed ]
ok $? "agent: virDomainFSThaw thawed both (virsh agrees)"
out=$(hvtool agent "$UA" exec /bin/sh -c 'echo hello; cat /etc/hostname')
[ "$out" = "hello
vmsnap-guest" ]
ok $? "agent: exec through qemu-agent-command returns the output"

lv_start_writer "$A" || lv_bail "cannot start the writer in A"
V dumpxml --inactive "$A" >"$D/a-before.xml"
V domblklist "$A" --details >"$D/a-blk-before"
qemu-img info -U --backing-chain "$D/a-root.qcow2" |
    grep -E '^(image|backing file):' >"$D/a-chain-before"

# A full quiesced backup of both disks while the writer runs.
hvtool backup "$UA" t1 "$S" "$D/a-root.qcow2=$D/t1-root.qcow2" \
    "$D/a-data.qcow2=$D/t1-data.qcow2" >"$D/b1" 2>&1
[ "$(kv result "$D/b1")" = ok ]
ok $? "backup of root and data disk under a writer: $(tail -n 1 "$D/b1")"
[ "$(ext4_file_state "$D/t1-root.qcow2")" = clean ]
ok $? "backup: the root disk's copy is a clean ext4 (quiesced)"
[ "$(ext4_file_state "$D/t1-data.qcow2")" = clean ]
ok $? "backup: the data disk's copy is a clean ext4 (quiesced)"
r=$(read_ext4_file "$D/t1-root.qcow2" /root/seq)
b=$(read_ext4_file "$D/t1-data.qcow2" /seq)
[ -n "$r" ] && [ -n "$b" ] && [ $((r - b)) -ge 0 ] && [ $((r - b)) -le 1 ]
ok $? "backup: both disks at one write step of the writer (root $r, data $b)"
win=$(lv_hook_window "$A")
[ -n "$win" ]
ok $? "the guest's fsfreeze hook stamped the freeze window"
diag "freeze window seen by the guest: ${win} ms; by us: freeze" \
    "$(kv freeze_ms "$D/b1") + fix $(kv fix_ms "$D/b1") + thaw" \
    "$(kv thaw_ms "$D/b1") = $(kv window_ms "$D/b1") ms; copy" \
    "$(kv copy_ms "$D/b1") ms"
[ "$(lv_job_and_checkpoints "$A")" = "none none" ]
ok $? "backup: no job and no checkpoint left in libvirt"
[ -z "$(lv_leftovers "$S" t1)" ]
ok $? "backup: no scratch file or socket left"
V dumpxml --inactive "$A" | cmp -s - "$D/a-before.xml"
ok $? "backup: virsh dumpxml --inactive identical before and after"
V domblklist "$A" --details | cmp -s - "$D/a-blk-before" &&
    qemu-img info -U --backing-chain "$D/a-root.qcow2" |
    grep -E '^(image|backing file):' | cmp -s - "$D/a-chain-before"
ok $? "backup: the running disks and the root's backing chain are unchanged"

hvtool backup --no-freeze "$UA" t2 "$S" "$D/a-root.qcow2=$D/t2-root.qcow2" \
    >"$D/b2" 2>&1
[ "$(kv result "$D/b2")" = ok ]
ok $? "a crash-consistent backup (no freeze) works too"
diag "its root disk: $(ext4_file_state "$D/t2-root.qcow2")" \
    "(a cut without a freeze usually needs journal recovery)"

hvtool backup --abort-after-fix "$UA" t3 "$S" \
    "$D/a-root.qcow2=$D/t3-root.qcow2" "$D/a-data.qcow2=$D/t3-data.qcow2" \
    >"$D/b3" 2>&1
[ "$(kv result "$D/b3")" = aborted ] && [ ! -e "$D/t3-root.qcow2" ] &&
    [ ! -e "$D/t3-data.qcow2" ] && [ -z "$(lv_leftovers "$S" t3)" ] &&
    [ "$(lv_job_and_checkpoints "$A")" = "none none" ] &&
    V dumpxml --inactive "$A" | cmp -s - "$D/a-before.xml"
ok $? "abort after the point in time: no job, no targets, no scratch files, XML unchanged"

hvtool backup --break 1 "$UA" t4 "$S" "$D/a-root.qcow2=$D/t4-root.qcow2" \
    "$D/a-data.qcow2=$D/t4-data.qcow2" >"$D/b4" 2>&1
grep -q '^error=.*copy of disk vdb' "$D/b4"
ok $? "a copy that fails fails the backup, naming the disk: $(grep ^error= "$D/b4")"
[ ! -e "$D/t4-root.qcow2" ] && [ ! -e "$D/t4-data.qcow2" ] &&
    [ -z "$(lv_leftovers "$S" t4)" ] &&
    [ "$(lv_job_and_checkpoints "$A")" = "none none" ]
ok $? "after the failed copy nothing is left"

hvtool backup --checkpoint vmsnap-c5 "$UA" t5 "$S" \
    "$D/a-root.qcow2=$D/t5-root.qcow2" "$D/a-data.qcow2=$D/t5-data.qcow2" \
    >"$D/b5" 2>&1
[ "$(kv result "$D/b5")" = ok ] &&
    [ "$(lv_job_and_checkpoints "$A")" = "none vmsnap-c5" ]
ok $? "bitmap_new: the backup leaves exactly the checkpoint asked for"
V checkpoint-delete "$A" vmsnap-c5 >/dev/null
hvtool backup --checkpoint vmsnap-c6 --abort-after-fix "$UA" t6 "$S" \
    "$D/a-root.qcow2=$D/t6-root.qcow2" >"$D/b6" 2>&1
[ "$(kv result "$D/b6")" = aborted ] &&
    [ "$(lv_job_and_checkpoints "$A")" = "none none" ]
ok $? "bitmap_new: an aborted backup removes its checkpoint"

# Incremental through libvirt checkpoints, into the chunk store: a full
# that starts checkpoint vmsnap-i1; the guest writes; then, the domain
# paused so that both see one instant, an incremental on vmsnap-i1 that
# starts vmsnap-i2, and a plain full copy to compare it with.
hvtool backup --store "$D/store" --checkpoint vmsnap-i1 "$UA" i1 "$S" \
    "$D/a-root.qcow2=i1-root" >"$D/bi1" 2>&1
[ "$(kv result "$D/bi1")" = ok ] &&
    [ "$(lv_job_and_checkpoints "$A")" = "none vmsnap-i1" ]
ok $? "incremental: a full into the store starts checkpoint vmsnap-i1"
[ "$(kv result "$D/bi1")" = ok ] || diag "$(tail -n 5 "$D/bi1")"
hvtool agent "$UA" exec /bin/sh -c \
    'dd if=/dev/urandom of=/root/inc bs=1M count=4 2>/dev/null && sync' >/dev/null
V suspend "$A" >/dev/null
hvtool backup --no-freeze --store "$D/store" --since vmsnap-i1 \
    --checkpoint vmsnap-i2 "$UA" i2 "$S" "$D/a-root.qcow2=i2-root:i1-root" \
    >"$D/bi2" 2>&1
hvtool backup --no-freeze "$UA" i3 "$S" "$D/a-root.qcow2=$D/i3-root.qcow2" \
    >"$D/bi3" 2>&1
V resume "$A" >/dev/null
[ "$(kv result "$D/bi2")" = ok ] && [ "$(kv result "$D/bi3")" = ok ] &&
    [ "$(kv read_0 "$D/bi2")" -lt "$(kv read_0 "$D/bi1")" ] &&
    [ "$(kv read_0 "$D/bi2")" -ge $((4 << 20)) ]
ok $? "incremental: reads only what changed ($(kv read_0 "$D/bi2") of $(kv read_0 "$D/bi1") bytes)"
[ "$(lv_job_and_checkpoints "$A")" = "none vmsnap-i2" ]
ok $? "incremental: the chain moved on to vmsnap-i2 (vmsnap-i1 deleted)"
hvtool restore "$D/store" i2-root "$D/i2.qcow2" >/dev/null &&
    qemu-img compare -q "$D/i2.qcow2" "$D/i3-root.qcow2"
ok $? "incremental: restored, it is exactly the disk at its point in time"
V checkpoint-delete "$A" vmsnap-i2 >/dev/null
rm -rf "$D/store" "$D/i2.qcow2" "$D/i3-root.qcow2"

# libvirtd restarted while the copy runs: the export lives in QEMU, the
# copy goes on, finish reaches the new libvirtd.
"$HVTOOL" backup --rate 1M --progress "$D/p7" "$UA" t7 "$S" \
    "$D/a-root.qcow2=$D/t7-root.qcow2" "$D/a-data.qcow2=$D/t7-data.qcow2" \
    >"$D/b7" 2>&1 &
pid=$!
LV_PIDS="$LV_PIDS $pid"
wait_copying "$D/p7" $pid
ok $? "a rate-limited backup is copying ($(progress_of "$D/p7") %)"
"$SRCDIR/scripts/libvirt.sh" restart-libvirtd 2>/dev/null
ok $? "libvirtd restarted mid-copy"
wait $pid
st=$?
[ "$st" = 0 ] && [ "$(kv result "$D/b7")" = ok ] &&
    [ "$(ext4_file_state "$D/t7-root.qcow2")" = clean ] &&
    [ "$(ext4_file_state "$D/t7-data.qcow2")" = clean ]
ok $? "the backup completes across the restart, both copies clean: $(tail -n 1 "$D/b7")"
[ "$(lv_job_and_checkpoints "$A")" = "none none" ] &&
    [ -z "$(lv_leftovers "$S" t7)" ] &&
    V dumpxml --inactive "$A" | cmp -s - "$D/a-before.xml"
ok $? "after it: no job, no scratch files, XML unchanged"

# libvirtd gone at the end of the copy and not back in time: a clear
# error, the targets removed; the job is left to reap once it is back.
"$HVTOOL" backup --rate 1M --progress "$D/p8" --reconnect-ms 2000 "$UA" t8 \
    "$S" "$D/a-data.qcow2=$D/t8-data.qcow2" >"$D/b8" 2>&1 &
pid=$!
LV_PIDS="$LV_PIDS $pid"
wait_copying "$D/p8" $pid && "$SRCDIR/scripts/libvirt.sh" stop-libvirtd 2>/dev/null
ok $? "libvirtd stopped mid-copy"
wait $pid
st=$?
[ "$st" = 1 ] && grep -q '^error=IO: .*libvirt' "$D/b8" &&
    [ ! -e "$D/t8-data.qcow2" ]
ok $? "finish fails with a clear error, the target removed: $(grep ^error= "$D/b8")"
"$SRCDIR/scripts/libvirt.sh" start-libvirtd 2>/dev/null
ok $? "libvirtd started again"
V domjobinfo "$A" | grep -q 'Operation: *Backup'
ok $? "the backup job is still there, for the next backup to find"
hvtool backup --no-freeze "$UA" t8b "$S" "$D/a-data.qcow2=$D/t8b-data.qcow2" \
    >"$D/out" 2>&1 && [ "$(kv result "$D/out")" = ok ] &&
    [ "$(lv_job_and_checkpoints "$A")" = "none none" ] &&
    [ -z "$(lv_leftovers "$S" t8)" ] && [ -z "$(lv_leftovers "$S" t8b)" ]
ok $? "the next backup ends the job t8 left and its scratch files, and succeeds"

# The process killed mid-copy: reap finds its job by the tag.
"$HVTOOL" backup --rate 1M --progress "$D/p9" "$UA" t9 "$S" \
    "$D/a-data.qcow2=$D/t9-data.qcow2" >"$D/b9" 2>&1 &
pid=$!
LV_PIDS="$LV_PIDS $pid"
wait_copying "$D/p9" $pid && kill -9 $pid
ok $? "the process running a backup killed mid-copy"
wait $pid 2>/dev/null
hvtool reap "$UA" other "$S" >/dev/null 2>&1 &&
    V domjobinfo "$A" | grep -q 'Operation: *Backup'
ok $? "reap with another tag leaves the job alone"
hvtool reap "$UA" t9 "$S" >"$D/out" 2>&1 &&
    [ "$(lv_job_and_checkpoints "$A")" = "none none" ] &&
    [ -z "$(lv_leftovers "$S" t9)" ] &&
    V dumpxml --inactive "$A" | cmp -s - "$D/a-before.xml"
ok $? "reap with its tag ends it: no job, no scratch files, XML unchanged"

# Killed while the guest is frozen: the watchdog child, on a connection
# of its own (reopen_in_child), thaws.
"$HVTOOL" freeze-hold "$UA" >"$D/hold" 2>"$D/hold.err" &
pid=$!
LV_PIDS="$LV_PIDS $pid"
for ((i = 0; i < 1200; i++)); do
    grep -q '^frozen' "$D/hold" 2>/dev/null && break
    sleep 0.1
done
[ "$(lv_freeze_status "$A")" = frozen ]
ok $? "freeze-hold froze the guest"
t0=$(date +%s%N)
kill -9 $pid
for ((i = 0; i < 600; i++)); do
    grep -q '^thawed_at_ms=' "$D/hold.err" && break
    sleep 0.05
done
# The child's own stamp of the thaw; none means it never thawed.
th=$(sed -n 's/^thawed_at_ms=//p' "$D/hold.err")
ms=$((${th:-0} - t0 / 1000000))
[ -n "$th" ] && [ "$(lv_freeze_status "$A")" = thawed ] &&
    [ "$ms" -ge 0 ] && [ "$ms" -le 2000 ]
ok $? "SIGKILL while frozen: the child thawed through libvirt $ms ms after (<= 2000)"
# Whatever happened, the guest must not stay frozen for the rest.
[ "$(lv_freeze_status "$A")" = thawed ] || V domfsthaw "$A" >/dev/null

# Killed while frozen and libvirtd away: the child keeps trying, and
# thaws once libvirtd is back.
"$HVTOOL" freeze-hold "$UA" >"$D/hold2" 2>"$D/hold2.err" &
pid=$!
LV_PIDS="$LV_PIDS $pid"
for ((i = 0; i < 1200; i++)); do
    grep -q '^frozen' "$D/hold2" 2>/dev/null && break
    sleep 0.1
done
"$SRCDIR/scripts/libvirt.sh" stop-libvirtd 2>/dev/null && kill -9 $pid
ok $? "frozen, libvirtd stopped, the process killed"
"$SRCDIR/scripts/libvirt.sh" start-libvirtd 2>/dev/null
for ((i = 0; i < 600; i++)); do
    grep -q '^thawed_at_ms=' "$D/hold2.err" && break
    sleep 0.05
done
[ "$(lv_freeze_status "$A")" = thawed ]
ok $? "the child thawed the guest once libvirtd was back"
[ "$(lv_freeze_status "$A")" = thawed ] || V domfsthaw "$A" >/dev/null

hvtool destroy "$UA" >"$D/out" 2>&1
grep -q '^error=CONFLICT' "$D/out" && [ "$(V domstate "$A")" = running ]
ok $? "destroy refuses a domain vmsnap did not create: $(cat "$D/out")"

V metadata "$A" --uri http://vmsnap.invalid/xmlns/libvirt/instance/1 \
    --key vmsnap --config \
    --set '<instance><property name="os_require_quiesce">yes</property></instance>' \
    >/dev/null
hvtool props "$UA" >"$D/out"
[ "$(kv managed "$D/out")" = no ] &&
    [ "$(kv prop.os_require_quiesce "$D/out")" = yes ]
ok $? "props: os_require_quiesce set by the administrator with virsh metadata"

hvtool stop "$UA" 120 >"$D/out" 2>&1
[ "$(kv stopped "$D/out")" = clean ] && [ "$(V domstate "$A")" = "shut off" ]
ok $? "stop: a clean shutdown (agent, then ACPI)"
hvtool state "$UA" >"$D/out"
[ "$(kv status "$D/out")" = SHUTOFF ]
ok $? "state: SHUTOFF"
hvtool backup --no-freeze "$UA" t10 "$S" \
    "$D/a-root.qcow2=$D/t10-root.qcow2" >"$D/out" 2>&1
grep -q '^error=CONFLICT' "$D/out" && [ ! -e "$D/t10-root.qcow2" ]
ok $? "no hypervisor backup of a shut-off domain (its disks are copied cold)"
hvtool start "$UA" "$A" "$S" tcg "" "" "" no "$D/a-root.qcow2:qcow2" \
    >"$D/out" 2>&1 && lv_wait_state "$A" running
ok $? "start: an existing domain is started as it is defined"
hvtool stop "$UA" 0 >"$D/out" 2>&1
[ "$(kv stopped "$D/out")" = forced ] && [ "$(V domstate "$A")" = "shut off" ]
ok $? "stop with no time for a clean shutdown: forced"
V dumpxml --inactive "$A" | grep -v '<vmsnap:\|</vmsnap:\|<metadata\|</metadata' |
    cmp -s - <(grep -v '<metadata\|</metadata' "$D/a-before.xml")
ok $? "the administrator's definition is unchanged (but for their metadata)"

# ---------------------------------------------------------------- B ---
B=$LV_PREFIX-b
qemu-img convert -O raw "$G/root.qcow2" "$D/b-root.raw" &&
    mkfs_disk "$D/b-data.raw" 128M raw || lv_bail "cannot make B's disks"
lv_admin_xml "$B" "$D/b-console.log" "$D/b-root.raw:raw" \
    "$D/b-data.raw:raw" cdrom >"$D/b.xml"
lv_define "$B" "$D/b.xml" || lv_bail "virsh cannot define and start B"
UB=$(lv_uuid "$B")
lv_wait_agent "$B" || lv_bail "the agent of B does not answer"
lv_guest_sh "$B" 'mount /dev/vdb /mnt/b' && lv_start_writer "$B" ||
    lv_bail "cannot start the writer in B"
V dumpxml --inactive "$B" >"$D/b-before.xml"
hvtool list >"$D/list"
python3 - "$D/list" "$UB" "$D" <<'PY'
import json, sys
path, uuid, d = sys.argv[1:]
b = [json.loads(l) for l in open(path) if json.loads(l)["id"] == uuid][0]
assert [(x["target"], x["path"], x["format"]) for x in b["disks"]] == [
    ("vda", d + "/b-root.raw", "raw"), ("vdb", d + "/b-data.raw", "raw")], b
PY
ok $? "list: B's two raw disks (its empty CD-ROM is not a disk to copy)"
hvtool backup "$UB" r1 "$S" "$D/b-root.raw=$D/r1-root.qcow2" \
    "$D/b-data.raw=$D/r1-data.qcow2" >"$D/r1" 2>&1
[ "$(kv result "$D/r1")" = ok ] &&
    [ "$(ext4_file_state "$D/r1-root.qcow2")" = clean ] &&
    [ "$(ext4_file_state "$D/r1-data.qcow2")" = clean ]
ok $? "raw disks (and an empty CD-ROM): quiesced backup, both copies clean ($(kv window_ms "$D/r1") ms window)"
[ "$(lv_job_and_checkpoints "$B")" = "none none" ] &&
    [ -z "$(lv_leftovers "$S" r1)" ] &&
    V dumpxml --inactive "$B" | cmp -s - "$D/b-before.xml"
ok $? "raw disks: nothing left, XML unchanged"
mkfs_disk "$D/b-vol.raw" 32M raw
hvtool attach "$UB" "$D/b-vol.raw" raw >"$D/out" 2>&1 &&
    V domblklist "$B" | grep -q b-vol.raw &&
    ! V dumpxml --inactive "$B" | grep -q b-vol.raw
ok $? "hot-plug into an administrator's domain: live only, the definition unchanged"
hvtool detach "$UB" "$D/b-vol.raw" raw >"$D/out" 2>&1 &&
    ! V domblklist "$B" | grep -q b-vol.raw
ok $? "hot-unplug: the guest let go of the disk: $(cat "$D/out")"
V destroy "$B" >/dev/null

# ---------------------------------------------------------------- C ---
C=$LV_PREFIX-c
UC=$(python3 -c 'import uuid; print(uuid.uuid4())')
mkdir -p "$D/c-state"
qemu-img create -q -f qcow2 -F qcow2 -b "$G/root.qcow2" "$D/c-root.qcow2" &&
    mkfs_disk "$D/c-data.raw" 64M raw && mkfs_disk "$D/c-vol.raw" 32M raw ||
    lv_bail "cannot make C's disks"
hvtool start "$UC" "$C" "$D/c-state" tcg "$G/vmlinuz" "$G/initrd.img" \
    'console=ttyS0 root=/dev/vda rw quiet' yes "$D/c-root.qcow2:qcow2" \
    "$D/c-data.raw:raw:vmsnapdata01" >"$D/out" 2>&1
ok $? "start: define and start a domain from an hv_domain: $(cat "$D/out")"
lv_wait_agent "$C"
ok $? "its guest boots and its agent answers"
V dumpxml --inactive "$C" >"$D/c.xml"
grep -q "<domain type='qemu'" "$D/c.xml" && grep -q '>qemu64<' "$D/c.xml" &&
    ! grep -q '<graphics' "$D/c.xml" &&
    grep -q "vmsnap:instance xmlns:vmsnap=\"http://vmsnap.invalid/xmlns/libvirt/instance/1\" managed=\"yes\"" "$D/c.xml" &&
    grep -q "$D/c-state/console.log" "$D/c.xml"
ok $? "its definition: TCG, qemu64, no graphics, console to its state dir, marked managed"
hvtool props "$UC" >"$D/out"
[ "$(kv managed "$D/out")" = yes ]
ok $? "props: managed"
[ "$(lv_guest_sh "$C" 'cat /sys/block/vdb/serial')" = vmsnapdata01 ]
ok $? "the guest sees the disk serial"
hvtool attach "$UC" "$D/c-vol.raw" raw vmsnapvol2 >"$D/out" 2>&1
ok $? "hot-plug into a domain vmsnap defined: $(cat "$D/out")"
for ((i = 0; i < 120; i++)); do
    lv_guest_sh "$C" 'cat /sys/block/vd*/serial' 2>/dev/null |
        grep -q vmsnapvol2 && break
    sleep 0.5
done
lv_guest_sh "$C" 'cat /sys/block/vd*/serial' | grep -q vmsnapvol2 &&
    V dumpxml --inactive "$C" | grep -q c-vol.raw
ok $? "the guest sees it, and the persistent definition keeps it"
hvtool detach "$UC" "$D/c-vol.raw" raw >"$D/out" 2>&1 &&
    ! V domblklist "$C" | grep -q c-vol.raw &&
    ! V dumpxml --inactive "$C" | grep -q c-vol.raw
ok $? "hot-unplug: gone from the running and the persistent domain"
hvtool pause "$UC" >/dev/null && hvtool state "$UC" >"$D/out" &&
    [ "$(kv status "$D/out")" = PAUSED ] && [ "$(V domstate "$C")" = paused ]
ok $? "pause: PAUSED"
hvtool resume "$UC" >/dev/null && hvtool state "$UC" >"$D/out" &&
    [ "$(kv status "$D/out")" = ACTIVE ] && [ "$(V domstate "$C")" = running ]
ok $? "resume: ACTIVE"
hvtool stop "$UC" 120 >"$D/out" 2>&1
[ "$(kv stopped "$D/out")" = clean ] && [ "$(V domstate "$C")" = "shut off" ]
ok $? "stop: clean"
hvtool pause "$UC" >"$D/out" 2>&1
grep -q '^error=CONFLICT' "$D/out"
ok $? "pause of a shut-off domain: $(cat "$D/out")"
hvtool start "$UC" "$C" "$D/c-state" tcg "" "" "" yes \
    "$D/c-root.qcow2:qcow2" >"$D/out" 2>&1 && lv_wait_agent "$C"
ok $? "start again: the existing definition boots"
hvtool destroy "$UC" >"$D/out" 2>&1 && ! V dominfo "$C" >/dev/null 2>&1 &&
    [ -f "$D/c-root.qcow2" ] && [ -f "$D/c-data.raw" ]
ok $? "destroy: powered off and undefined, the disks untouched"
hvtool destroy "$UC" >"$D/out" 2>&1
ok $? "destroy of a domain that is gone is not an error"

# ---------------------------------------------------------------- E ---
E=$LV_PREFIX-e
lv_admin_xml "$E" "$D/e-console.log" "$D/c-root.qcow2:qcow2" >"$D/e.xml"
lv_define "$E" "$D/e.xml" no || lv_bail "virsh cannot define E"
UE=$(lv_uuid "$E")
hvtool destroy "$UE" >"$D/out" 2>&1
grep -q '^error=CONFLICT' "$D/out" && V dominfo "$E" >/dev/null 2>&1
ok $? "destroy refuses a shut-off domain vmsnap did not create"
hvtool destroy --force "$UE" >"$D/out" 2>&1 &&
    ! V dominfo "$E" >/dev/null 2>&1 && [ -f "$D/c-root.qcow2" ]
ok $? "destroy forced: undefined, its disk untouched"

done_testing
