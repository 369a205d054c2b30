#!/bin/bash
# The vmsnap command with the libvirt driver (VMSNAP_COMPUTE_DRIVER=
# libvirt) on an administrator's domain, defined by hand with virsh:
#   P  a qcow2 root overlaid on the test guest (a backing chain), a raw
#      data file and a raw block device (a loop device), the agent
#      channel: server list/show, quiesced live snapshots of every disk
#      under a writer, paused (crash-consistent, refused with the
#      domain's os_require_quiesce), SIGKILL while frozen, libvirtd
#      restarted mid-copy and stopped while frozen, stop/start/pause/
#      unpause, a cold snapshot, delete refused;
#   the snapshot booted by server create under libvirt (a domain vmsnap
#   defines) and under the qemu driver;
#   E  a domain never started: listed, delete --force (its disk stays);
#   F  a domain undefined behind vmsnap's back: gone from the list.
# Every check of a domain goes through virsh or the files.  One guest runs
# at a time.
. "$SRCDIR/tests/integ/lib.sh"
. "$SRCDIR/tests/integ/lib-libvirt.sh"
. "$SRCDIR/tests/integ/lib-backup.sh"

need qemu-img mke2fs dumpe2fs e2fsck debugfs python3 truncate losetup
lv_up || lv_bail "libvirtd does not start (scripts/libvirt.sh up)"
need virsh
: "${KILLTHAW:?KILLTHAW must name the lv-kill-thaw program}"
G=$(guest_dir) || lv_bail "the test guest cannot be built"
D=$T_DIR
export VMSNAP_COMPUTE_DRIVER=libvirt
LOOP=""

cli_cleanup() {
    lv_cleanup
    [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
}
trap cli_cleanup EXIT

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# Field FIELD of server SERVER.
sfield() {  # sfield SERVER FIELD
    vmsnap server show "$1" -f value -c "$2"
}

# The file of volume snapshot NAME.
vsfile() {
    vmsnap volume snapshot show "$1" -f value -c file
}

# Files vmsnap's backups left for P: scratch files and sockets in its
# state directory, and sockets of our images in /run/vmsnap (where those
# whose path is too long go).  None: empty.
leftovers() {
    local id
    ls "$VMSNAP_DATA_DIR/instances/$UP" 2>/dev/null | grep -E '^backup-'
    for id in $(vmsnap image list -f value -c ID); do
        ls /run/vmsnap 2>/dev/null | grep -F "backup-$id"
    done
    true
}

# P's persistent definition is what it was (file $1).
same_xml() {
    V dumpxml --inactive "$P" | cmp -s - "$1"
}

# Start a writer in P: each step writes its number to the three
# filesystems (renamed into place, as lv_start_writer does), then
# rewrites some blocks of each.
start_writer3() {
    lv_guest_sh "$P" 'sh -c "echo \$\$ >/run/writer.pid; i=0; while :; do i=\$((i+1)); for m in /root /mnt/b /mnt/c; do echo \$i > \$m/seq.t; mv \$m/seq.t \$m/seq; done; for m in /root /mnt/b /mnt/c; do dd if=/dev/zero of=\$m/blob.\$((i % 4)) bs=4k count=8 2>/dev/null; done; done" </dev/null >/dev/null 2>&1 &'
}

# Stop that writer (the test guest's init does not kill processes before
# it remounts / read-only at shutdown: a writer left running would keep
# the root dirty).
stop_writer3() {
    lv_guest_sh "$P" 'kill $(cat /run/writer.pid)'
}

# "ROOT DATA BLOCK" steps of the writer in the copies of snapshot S.
steps_of() {  # steps_of S
    echo "$(read_ext4_file "$(vmsnap image show "$1" -f value -c file)" \
        /root/seq) $(read_ext4_file "$(vsfile "$1-vdb")" /seq)" \
        "$(read_ext4_file "$(vsfile "$1-vdc")" /seq)"
}

# Every copy of snapshot S (the root and the two data disks) is a clean
# ext4: prints the three states.
states_of() {  # states_of S
    echo "$(ext4_file_state "$(vmsnap image show "$1" -f value -c file)")" \
        "$(ext4_file_state "$(vsfile "$1-vdb")")" \
        "$(ext4_file_state "$(vsfile "$1-vdc")")"
}

# The statuses of every image (killed, active...), one line.
image_states() {
    vmsnap image list -f value -c Name -c Status | sort | tr '\n' ' '
}

# ------------------------------------------------------------ setup ---
P=$LV_PREFIX-p
qemu-img create -q -f qcow2 -F qcow2 -b "$G/root.qcow2" "$D/p-root.qcow2" &&
    truncate -s 64M "$D/p-data.raw" && mke2fs -q -t ext4 -F "$D/p-data.raw" &&
    truncate -s 64M "$D/p-block.img" &&
    mke2fs -q -t ext4 -F "$D/p-block.img" ||
    lv_bail "cannot make P's disks"
LOOP=$(losetup -f --show "$D/p-block.img") || lv_bail "no loop device"
lv_admin_xml "$P" "$D/p-console.log" "$D/p-root.qcow2:qcow2" \
    "$D/p-data.raw:raw" "$LOOP:raw" >"$D/p.xml"
lv_define "$P" "$D/p.xml" || lv_bail "virsh cannot define and start P"
UP=$(lv_uuid "$P")
E=$LV_PREFIX-e
cp "$D/p-data.raw" "$D/e-disk.raw"
lv_admin_xml "$E" "$D/e-console.log" "$D/e-disk.raw:raw" >"$D/e.xml"
lv_define "$E" "$D/e.xml" no || lv_bail "virsh cannot define E"
UE=$(lv_uuid "$E")
lv_wait_agent "$P" || lv_bail "the agent of P does not answer"
lv_guest_sh "$P" 'mount /dev/vdb /mnt/b && mount /dev/vdc /mnt/c' ||
    lv_bail "cannot mount P's data disks"

# ------------------------------------------------------ list, show ---
vmsnap server list -f json >"$D/list" 2>"$D/list.err"
python3 - "$D/list" "$UP" "$P" "$UE" "$E" <<'PY'
import json, sys
path, up, p, ue, e = sys.argv[1:]
rows = {r["ID"]: r for r in json.load(open(path))}
assert rows[up]["Name"] == p and rows[up]["Status"] == "ACTIVE", rows
assert rows[up]["Power State"] == "running" and rows[up]["Image"] is None
assert rows[ue]["Name"] == e and rows[ue]["Status"] == "SHUTOFF", rows
assert rows[ue]["Power State"] == "shut off", rows
PY
ok $? "server list: the domains virsh defined, by UUID and name, P running, E shut off"
[ "$(sfield "$P" managed)" = no ] && [ "$(sfield "$UP" agent)" = yes ] &&
    [ "$(sfield "$P" cpus)" = 1 ] && [ "$(sfield "$P" memory_mb)" = 256 ]
ok $? "server show: not managed by vmsnap, agent channel, 1 vCPU, 256 MiB"

# ------------------------------------------ quiesced live snapshot ---
V dumpxml --inactive "$P" >"$D/p-before.xml"
start_writer3 || lv_bail "cannot start the writer in P"
for ((i = 0; i < 600; i++)); do
    [ "$(lv_guest_sh "$P" 'cat /mnt/c/seq 2>/dev/null || echo 0')" -ge 3 ] &&
        break
    sleep 0.1
done
vmsnap server image create "$P" --name s1 --all-volumes >/dev/null \
    2>"$D/s1.err"
ok $? "server image create --all-volumes under a writer: $(tr '\n' ' ' <"$D/s1.err")"
[ "$(prop s1 vmsnap_mode)" = live ] && [ "$(prop s1 vmsnap_quiesced)" = yes ]
ok $? "live and quiesced through the agent via libvirt"
# The copy watches the vCPUs' waiting for a core (libvirt's vcpu.N.delay)
# to give way to the guest: libvirt must give it.
! grep -q "gives no vCPU delay" "$D/s1.err" &&
    [ "$(prop s1 vmsnap_copy_yield_ms)" -ge 0 ]
ok $? "the copy can give way to the guest: libvirt gives the vCPUs' delay" \
    "(gave way $(prop s1 vmsnap_copy_yield_ms) ms)"
[ "$(prop s1 instance_uuid)" = "$UP" ] &&
    [ -z "$(prop s1 base_image_ref)" ] &&
    [ "$(prop s1 hw_qemu_guest_agent)" = yes ]
ok $? "instance_uuid is the domain's UUID, no base_image_ref, hw_qemu_guest_agent=yes"
python3 -c '
import json, sys
m = json.loads(sys.argv[1])
assert [(x["device_index"], x["volume_name"]) for x in m] == [
    (1, "vdb"), (2, "vdc")], m
assert all(x["size"] == 64 << 20 for x in m), m' \
    "$(prop s1 block_device_mapping)"
ok $? "block_device_mapping: the raw file vdb and the block device vdc, 64 MiB each"
[ "$(states_of s1)" = "clean clean clean" ]
ok $? "every copy is a clean ext4 (no needs_recovery, e2fsck -fn): $(states_of s1)"
read -r r b c <<<"$(steps_of s1)"
[ -n "$r" ] && [ -n "$b" ] && [ -n "$c" ] &&
    [ $((r - b)) -ge 0 ] && [ $((r - b)) -le 1 ] &&
    [ $((b - c)) -ge 0 ] && [ $((b - c)) -le 1 ] && [ $((r - c)) -le 1 ]
ok $? "all disks at one write step of the writer (root $r, vdb $b, vdc $c)"
win=$(lv_hook_window "$P")
diag "freeze window through libvirt: guest hook stamps ${win:-?} ms;" \
    "vmsnap_freeze_ms $(prop s1 vmsnap_freeze_ms) (freeze request to" \
    "confirmed thaw), vmsnap_hold_ms $(prop s1 vmsnap_hold_ms)" \
    "(BackupBegin); copy $(prop s1 vmsnap_copy_ms) ms"
same_xml "$D/p-before.xml"
ok $? "virsh dumpxml --inactive identical before and after"
[ "$(lv_job_and_checkpoints "$P")" = "none none" ] && [ -z "$(leftovers)" ] &&
    V domblklist "$P" | grep -q p-root.qcow2 &&
    qemu-img info -U "$D/p-root.qcow2" | grep -q "backing file: $G/root.qcow2" &&
    ! qemu-img info -U "$D/p-root.qcow2" | grep -q bitmaps
ok $? "no job, no checkpoint, no scratch file, no bitmap; the root's chain as it was"

# ------------------------------------------- backups, rotation ---
vmsnap server backup create "$P" --name b1 --backup-type daily \
    --rotation 1 >/dev/null 2>"$D/b1.err" &&
    vmsnap server backup create "$P" --name b2 --backup-type daily \
        --rotation 1 >/dev/null 2>"$D/b2.err"
ok $? "two live daily backups with --rotation 1: $(cat "$D/b1.err" "$D/b2.err" | tr '\n' ' ')"
[ "$(prop b2 image_type)" = backup ] && [ "$(prop b2 backup_type)" = daily ] &&
    [ "$(prop b2 vmsnap_quiesced)" = yes ] &&
    [ "$(prop b2 instance_uuid)" = "$UP" ] &&
    ! vmsnap image show b1 >/dev/null 2>&1 &&
    [ "$(vmsnap image show s1 -f value -c status)" = active ]
ok $? "the newest backup kept (image_type=backup, backup_type=daily, quiesced), the older deleted, the snapshot s1 untouched"
[ "$(ext4_file_state "$(vmsnap image show b2 -f value -c file)")" = clean ]
ok $? "the backup's root is a clean ext4"
[ "$(lv_job_and_checkpoints "$P")" = "none none" ] && [ -z "$(leftovers)" ] &&
    same_xml "$D/p-before.xml"
ok $? "no job, nothing left, the definition unchanged"

# ------------------------------------------------------ paused ---
vmsnap server pause "$P" && lv_wait_state "$P" paused &&
    [ "$(sfield "$P" status)" = PAUSED ]
ok $? "server pause: libvirt says paused, vmsnap PAUSED"
vmsnap server image create "$P" --name s-paused >/dev/null 2>"$D/sp.err"
ok $? "a snapshot of the paused domain is made"
[ "$(prop s-paused vmsnap_quiesced)" = no ] && grep -q "crash-consistent" "$D/sp.err"
ok $? "crash-consistent, and it says so"
vmsnap server set --property os_require_quiesce=yes "$P" &&
    V dumpxml --inactive "$P" | grep -q '<vmsnap:property name="os_require_quiesce">yes</vmsnap:property>'
ok $? "server set --property os_require_quiesce=yes: written into the domain's metadata"
V dumpxml --inactive "$P" | grep -v 'vmsnap:\|metadata>' |
    cmp -s - <(grep -v 'vmsnap:\|metadata>' "$D/p-before.xml")
ok $? "and nothing else of its definition changed"
V dumpxml --inactive "$P" >"$D/p-before.xml"
err=$(vmsnap server image create "$P" --name s-must 2>&1 >/dev/null)
ok $((! $?)) "with os_require_quiesce=yes the paused domain is not snapshotted: $err"
! vmsnap image show s-must >/dev/null 2>&1 && [ -z "$(leftovers)" ] &&
    [ "$(lv_job_and_checkpoints "$P")" = "none none" ]
ok $? "no image, no job, nothing left"
vmsnap server unpause "$P" && lv_wait_state "$P" running &&
    [ "$(sfield "$P" status)" = ACTIVE ]
ok $? "server unpause: running, ACTIVE"

# ---------------------------------------- SIGKILL while frozen ---
VMSNAP_TEST_HOLD_FROZEN_MS=30000 "$VMSNAP" server image create "$P" \
    --name s-kill >/dev/null 2>"$D/kill.err" &
kpid=$!
LV_PIDS="$LV_PIDS $kpid"
for ((i = 0; i < 1200; i++)); do
    grep -q "guest frozen" "$D/kill.err" && break
    sleep 0.05
done
[ "$(lv_freeze_status "$P")" = frozen ]
ok $? "the snapshot holds the guest frozen (test hook)"
# lv-kill-thaw kills vmsnap and asks the guest's agent every 10 ms, on a
# libvirt connection of its own, until it says thawed.
out=$("$KILLTHAW" "$LV_URI" "$P" $kpid 10000)
ms=$(sed -n 's/^thawed_ms=//p' <<<"$out")
[ -n "$ms" ] && [ "$ms" -le 2000 ]
ok $? "SIGKILL while frozen: thawed through libvirt within 2 s (${ms:-$out} ms from the kill; vmsnap's $(grep -o 'watchdog: .*' "$D/kill.err"))"
[ "$(lv_freeze_status "$P")" = thawed ] || V domfsthaw "$P" >/dev/null
st=$(image_states)
[[ "$st" == *"s-kill killed"* ]] && [[ "$st" != *saving* ]] &&
    [[ "$st" != *queued* ]]
ok $? "the next command finds the image killed, nothing queued or saving ($st)"
[ "$(lv_job_and_checkpoints "$P")" = "none none" ] && [ -z "$(leftovers)" ] &&
    same_xml "$D/p-before.xml"
ok $? "no job, nothing left, the definition unchanged"

# -------------------------------------- libvirtd restarted mid-copy ---
VMSNAP_COPY_RATE_LIMIT=1M "$VMSNAP" server image create "$P" --name s2 \
    --all-volumes >/dev/null 2>"$D/s2.err" &
spid=$!
LV_PIDS="$LV_PIDS $spid"
for ((i = 0; i < 1200; i++)); do
    [ "$(vmsnap image show s2 -f value -c status 2>/dev/null)" = saving ] &&
        break
    kill -0 $spid 2>/dev/null || break
    sleep 0.1
done
[ "$(vmsnap image show s2 -f value -c status)" = saving ]
ok $? "a rate-limited snapshot is copying (saving)"
"$SRCDIR/scripts/libvirt.sh" restart-libvirtd 2>/dev/null
ok $? "libvirtd restarted mid-copy"
wait $spid
ok $? "the snapshot completes across the restart: $(tr '\n' ' ' <"$D/s2.err")"
[ "$(vmsnap image show s2 -f value -c status)" = active ] &&
    [ "$(states_of s2)" = "clean clean clean" ]
ok $? "its image active, every copy clean: $(states_of s2)"
[ "$(lv_job_and_checkpoints "$P")" = "none none" ] && [ -z "$(leftovers)" ] &&
    same_xml "$D/p-before.xml"
ok $? "no job, nothing left, the definition unchanged"

# ------------------------------------- libvirtd stopped while frozen ---
VMSNAP_DEBUG=quiesce VMSNAP_TEST_HOLD_FROZEN_MS=3000 "$VMSNAP" server image \
    create "$P" --name s3 >/dev/null 2>"$D/s3.err" &
spid=$!
LV_PIDS="$LV_PIDS $spid"
for ((i = 0; i < 1200; i++)); do
    grep -q "guest frozen" "$D/s3.err" && break
    sleep 0.05
done
"$SRCDIR/scripts/libvirt.sh" stop-libvirtd 2>/dev/null
ok $? "libvirtd stopped while the guest is frozen"
# The point in time cannot be fixed, the thaw cannot reach the guest:
# vmsnap retries it.
for ((i = 0; i < 600; i++)); do
    grep -q "thaw: " "$D/s3.err" && break
    kill -0 $spid 2>/dev/null || break
    sleep 0.05
done
"$SRCDIR/scripts/libvirt.sh" start-libvirtd 2>/dev/null
t0=$(now_ms)
for ((i = 0; i < 300; i++)); do
    [ "$(lv_freeze_status "$P" 2>/dev/null)" = thawed ] && break
    sleep 0.1
done
ms=$(($(now_ms) - t0))
[ "$(lv_freeze_status "$P")" = thawed ]
ok $? "the guest is thawed once libvirtd answers again ($ms ms)"
wait $spid
rc=$?
[ "$rc" = 1 ] &&
    grep -q "cannot start the backup of $P: the connection to libvirt at .* was lost" "$D/s3.err"
ok $? "the snapshot fails with a clear error: $(grep -v debug "$D/s3.err" | tail -n 1)"
st=$(image_states)
[[ "$st" != *s3* ]] && [[ "$st" != *saving* ]] && [[ "$st" != *queued* ]] &&
    [ "$(lv_job_and_checkpoints "$P")" = "none none" ] && [ -z "$(leftovers)" ] &&
    same_xml "$D/p-before.xml"
ok $? "no image, none saving, no job, nothing left, the definition unchanged"

# ------------------------------------------ stop, cold snapshot ---
stop_writer3 || lv_bail "cannot stop the writer in P"
vmsnap server stop "$P" && lv_wait_state "$P" "shut off" 5 &&
    [ "$(sfield "$P" status)" = SHUTOFF ]
ok $? "server stop: a clean shutdown, shut off"
vmsnap server image create "$P" --name s-cold --all-volumes >/dev/null \
    2>"$D/sc.err"
ok $? "a snapshot of the shut-off domain: $(tr '\n' ' ' <"$D/sc.err")"
[ "$(prop s-cold vmsnap_mode)" = cold ] &&
    [ "$(prop s-cold vmsnap_quiesced)" = yes ] &&
    [ "$(states_of s-cold)" = "clean clean clean" ]
ok $? "cold copies of the chain, the raw file and the block device, consistent (the guest shut down): $(states_of s-cold)"
same_xml "$D/p-before.xml"
ok $? "the definition unchanged"

# ------------------------------------------- boot the snapshot ---
kid=$(vmsnap image create k --file "$G/vmlinuz" --disk-format aki -f value -c id) &&
    rid=$(vmsnap image create r --file "$G/initrd.img" --disk-format ari \
        -f value -c id) &&
    vmsnap image set s1 --property kernel_id="$kid" --property ramdisk_id="$rid"
ok $? "the snapshot gets the guest's kernel and ramdisk (kernel_id, ramdisk_id)"
B=$LV_PREFIX-b
vmsnap server create "$B" --image s1 >/dev/null 2>"$D/b.err"
ok $? "server create --image s1 with the libvirt driver: $(tr '\n' ' ' <"$D/b.err")"
UB=$(sfield "$B" id)
V dumpxml --inactive "$B" >"$D/b.xml"
grep -q 'managed="yes"' "$D/b.xml" && grep -q "<kernel>" "$D/b.xml" &&
    grep -q "org.qemu.guest_agent.0" "$D/b.xml" &&
    grep -q "instances/$UB/root.qcow2" "$D/b.xml" &&
    [ "$(V domstate "$B")" = running ] && [ "$(sfield "$B" managed)" = yes ]
ok $? "a persistent domain marked vmsnap's: direct kernel boot, agent channel, root.qcow2, running"
lv_wait_agent "$B" &&
    out=$(vmsnap agent exec "$B" -- /bin/sh -c 'mount /dev/vdb /mnt/b && mount /dev/vdc /mnt/c && cat /root/seq /mnt/b/seq /mnt/c/seq | tr "\n" " "')
ok $? "it boots, its agent answers, it has the three disks at the snapshot's steps ($out)"

# B's disks are all vmsnap's qcow2 files: each backup's one checkpoint
# holds a bitmap on every disk, so the second backup of the set is
# incremental on each, and restores to the set at its instant.
bset() {  # bset NAME: an incremental backup of all of B's disks
    vmsnap server backup create "$B" --incremental --all-volumes \
        --backup-type set --rotation 5 --name "$1" -f json \
        >"$D/$1.json" 2>"$D/$1.err"
}
bset bi1
ok $? "B: a first --incremental --all-volumes backup: $(cat "$D/bi1.err")"
lv_guest_sh "$B" 'for m in /root /mnt/b /mnt/c; do dd if=/dev/urandom of=$m/inc bs=1M count=2 2>/dev/null; done; sync'
ok $? "B's guest writes 2 MiB to each of its three filesystems"
vmsnap server pause "$B" && bset bi2 &&
    vmsnap server image create --all-volumes --name bs2 "$B" >/dev/null \
        2>"$D/bs2.err"
ok $? "an incremental backup and a snapshot of the set at one instant: $(cat "$D/bi2.err" "$D/bs2.err")"
vmsnap server unpause "$B"
modes="$(prop bi2 vmsnap_backup_mode)"
for n in 0 1; do
    modes="$modes $(vmeta "$(vsnap_of bi2 $n)" vmsnap_backup_mode)"
done
diag "modes: $modes; root: $(prop bi2 vmsnap_backup_full_reason)"
[ "$modes" = "incremental incremental incremental" ]
ok $? "the second backup is incremental on all three disks"
r1=$(vmeta "$(vsnap_of bi1 1)" vmsnap_backup_bytes_read)
r2=$(vmeta "$(vsnap_of bi2 1)" vmsnap_backup_bytes_read)
[ -n "$r2" ] && [ "$r2" -lt "$r1" ] && [ "$r2" -ge $((2 << 20)) ]
ok $? "the second volume's read what changed: $r2 bytes (its full $r1)"
[ "$(lv_job_and_checkpoints "$B")" = "none vmsnap-$(vmsnap image show bi2 -f value -c id)" ]
ok $? "no job, one checkpoint: bi2's"
vmsnap image save bi2 --file "$D/bi2.qcow2" &&
    [ "$(disk_sum "$D/bi2.qcow2")" = "$(disk_sum "$(vmsnap image show bs2 -f value -c file)")" ]
ok $? "the root disk restores to what the snapshot at the same instant holds"
for n in 0 1; do
    vmsnap volume create "bv$n" --snapshot "$(vsnap_of bi2 $n)" >/dev/null &&
        [ "$(disk_sum "$(vmsnap volume show "bv$n" -f value -c file)")" = \
          "$(disk_sum "$(vsfile "$(vsnap_of bs2 $n)")")" ]
    ok $? "volume $((n + 1)) too"
done
vmsnap volume delete bv0 bv1 >/dev/null && vmsnap image delete bi1 bi2 bs2 >/dev/null
ok $? "the restored volumes, the backups and the snapshot deleted"
vmsnap server delete "$B" && ! V dominfo "$B" >/dev/null 2>&1 &&
    [ ! -e "$VMSNAP_DATA_DIR/instances/$UB" ]
ok $? "server delete: the domain vmsnap defined is undefined, its root disk gone"
VMSNAP_COMPUTE_DRIVER=qemu vmsnap server create q1 --image s1 --accel tcg \
    >/dev/null 2>"$D/q.err" && VMSNAP_COMPUTE_DRIVER=qemu wait_agent q1 &&
    out=$(VMSNAP_COMPUTE_DRIVER=qemu vmsnap agent exec q1 -- /bin/sh -c 'mount /dev/vdb /mnt/b && cat /root/seq /mnt/b/seq | tr "\n" " "')
ok $? "the same snapshot boots under the qemu driver ($out)"
VMSNAP_COMPUTE_DRIVER=qemu vmsnap server delete q1
ok $? "and goes"

# ---------------------------------------------- start, delete ---
vmsnap server start "$P" && lv_wait_state "$P" running &&
    [ "$(sfield "$P" status)" = ACTIVE ]
ok $? "server start: running as defined"

# ---------------------------- incremental backups of every disk ---
# libvirt's checkpoint is one for all the disks of a backup: vdb and vdc
# are raw (no bitmap), so the whole set is backed up in full, each disk
# saying why, and the backup works.
lv_wait_agent "$P" &&
    vmsnap server backup create "$P" --name i1 --incremental --all-volumes \
    --backup-type inc --rotation 2 >/dev/null 2>"$D/i1.err" &&
    vmsnap server backup create "$P" --name i2 --incremental \
        --all-volumes --backup-type inc --rotation 2 >/dev/null \
        2>"$D/i2.err"
ok $? "two --incremental --all-volumes backups: $(cat "$D/i1.err" "$D/i2.err" | tr '\n' ' ')"
why=$(prop i2 vmsnap_backup_full_reason)
diag "root disk: $(prop i2 vmsnap_backup_mode): $why"
[ "$(prop i2 vmsnap_backup_mode)" = full ] &&
    grep -q "one checkpoint, and disk 1 is backed up whole (disk .* is raw" <<<"$why"
ok $? "the root disk is full too: the set reads one checkpoint, and vdb is raw"
[ "$(lv_job_and_checkpoints "$P")" = "none vmsnap-$(vmsnap image show i2 -f value -c id)" ] &&
    [ -z "$(leftovers)" ]
ok $? "no job, nothing left, the chain on i2's checkpoint"
vmsnap server backup create "$P" --backup-type inc --rotation 0 >/dev/null
ok $? "rotation 0 deletes them"

err=$(vmsnap server delete "$P" 2>&1)
ok $((! $?)) "server delete refuses a domain vmsnap did not create: $err"
[ "$(V domstate "$P")" = running ] && [ "$(sfield "$P" status)" = ACTIVE ]
ok $? "it still runs, still listed"
vmsnap server delete --force "$E" && ! V dominfo "$E" >/dev/null 2>&1 &&
    [ -f "$D/e-disk.raw" ] && ! vmsnap server show "$UE" >/dev/null 2>&1
ok $? "delete --force: undefined, gone from vmsnap, its disk file still there"

F=$LV_PREFIX-f
lv_admin_xml "$F" "$D/f-console.log" "$D/e-disk.raw:raw" >"$D/f.xml"
lv_define "$F" "$D/f.xml" no && vmsnap server list -f value -c Name |
    grep -qx "$F"
ok $? "a domain defined later shows up"
V undefine "$F" >/dev/null && ! vmsnap server list -f value -c Name |
    grep -qx "$F"
ok $? "undefined behind vmsnap's back: gone from the list"
same_xml "$D/p-before.xml"
ok $? "P's definition unchanged at the end"

done_testing
