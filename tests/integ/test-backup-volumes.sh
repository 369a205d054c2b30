#!/bin/bash
# Incremental backups of every disk of a server (issue 12: --incremental
# with --all-volumes), with real QEMU, the real guest and real ext4: each
# volume gets its own dirty bitmap and its own index in the chunk store,
# recorded on the volume snapshot of the set; an incremental of the set
# restores each volume to exactly what it held at its instant, and a
# server boots from the set with the data; a volume the previous backup
# did not hold is backed up whole and says why; deleting a backup removes
# every index of its set; `vmsnap verify` checks the indexes without
# making files.
. "$SRCDIR/tests/integ/lib.sh"
. "$SRCDIR/tests/integ/lib-backup.sh"
need qemu-system-x86_64 qemu-img mke2fs debugfs python3

vbackup() {  # vbackup NAME: an incremental backup of all of vm's disks
    vmsnap server backup create --incremental --all-volumes \
        --backup-type daily --rotation 10 --name "$1" vm -f json \
        >"$T_DIR/$1.json" 2>"$T_DIR/$1.err"
}

boot_vm
ext4_image volbase >/dev/null &&
    vmsnap volume create A --image volbase >/dev/null &&
    vmsnap server add volume vm A && mount_volumes vm A:/mnt/b &&
    guest_sh vm 'dd if=/dev/urandom of=/mnt/b/base bs=1M count=24 2>/dev/null && sync'
ok $? "a volume (qcow2, ext4) attached and mounted, 24 MiB written to it"

# ---- the set, full then incremental -------------------------------------
vbackup v1
ok $? "first --incremental --all-volumes backup: $(cat "$T_DIR/v1.err")"
v1a=$(vsnap_of v1)
check "  the image and its volume snapshot are full" -- test \
    "$(bprop v1 vmsnap_backup_mode)/$(vmeta "$v1a" vmsnap_backup_mode)" = full/full
check "  the volume's says why: first backup" -- \
    grep -q "first backup" <<<"$(vmeta "$v1a" vmsnap_backup_full_reason)"
check "  the volume snapshot is available, held in the store, no file yet" -- test \
    "$(vmsnap volume snapshot show "$v1a" -f value -c status)/$(vmeta "$v1a" vmsnap_backup_store)/$(vmsnap volume snapshot show "$v1a" -f value -c file)" = available/chunks/None
v1id=$(vmsnap image show v1 -f value -c id)
check "  one index per disk in the store: $v1id.0 and $v1id.1" -- \
    eval 'test -n "$v1id" && cs_exists "indexes/$v1id.0.idx" && cs_exists "indexes/$v1id.1.idx"'

sum=$(guest_sh vm 'dd if=/dev/urandom of=/mnt/b/data bs=1M count=4 2>/dev/null && sync && sha256sum /mnt/b/data' | cut -d' ' -f1)
ok $? "the guest writes 4 MiB of known data to the volume"
vmsnap server pause vm &&
    vbackup v2 &&
    vmsnap server image create --all-volumes --name s2 vm >/dev/null 2>&1
ok $? "incremental backup and snapshot of the set at the same instant"
vmsnap server unpause vm
v2a=$(vsnap_of v2)
check "  both disks incremental" -- test \
    "$(bprop v2 vmsnap_backup_mode)/$(vmeta "$v2a" vmsnap_backup_mode)" = incremental/incremental
check "  the volume's on the volume snapshot of the last backup" -- test \
    -n "$v1a" -a "$(vmeta "$v2a" vmsnap_backup_parent)" = "$v1a"
read1=$(vmeta "$v1a" vmsnap_backup_bytes_read)
read2=$(vmeta "$v2a" vmsnap_backup_bytes_read)
diag "volume: full read $read1 bytes, incremental read $read2 bytes"
check "  the volume's read only what changed (less than its full, at least the data)" -- \
    test "$read2" -lt "$read1" -a "$read2" -ge $((4 << 20))
vbitmaps() {  # the dirty bitmaps on vm's first volume
    qmp_cmd vm query-named-block-nodes | python3 -c 'import json,sys
names = set()
for n in json.load(sys.stdin):
    if n["node-name"] != "root" and n.get("drv") == "qcow2" and "instances" not in n["file"]:
        names.update(b["name"] for b in n.get("dirty-bitmaps", []))
print(" ".join(sorted(names)))'
}
check "  the volume's chain moved on: only v2's bitmap on it" -- test \
    "$(vbitmaps)" = "vmsnap-$(vmsnap image show v2 -f value -c id)"

# ---- restore -------------------------------------------------------------
s2a=$(vsnap_of s2)
vmsnap volume create R --snapshot "$v2a" >/dev/null 2>"$T_DIR/R.err"
ok $? "a volume made from the backup's volume snapshot: $(cat "$T_DIR/R.err")"
vfile=$(vmsnap volume snapshot show "$v2a" -f value -c file)
check "  the volume snapshot has a file now" -- test -f "$vfile"
restored=$(disk_sum "$(vmsnap volume show R -f value -c file)")
snapped=$(disk_sum "$(vmsnap volume snapshot show "$s2a" -f value -c file)")
check "  the volume holds exactly what the snapshot at the same instant holds" -- \
    test -n "$restored" -a "$restored" = "$snapped"
vmsnap server create r2 --image v2 >/dev/null && wait_agent r2
ok $? "a server boots from the incremental backup of the set"
mount_volumes r2 r2-vol1:/mnt/b
ok $? "  its guest mounts the restored volume"
check "  which holds the data written before the backup" -- test \
    -n "$sum" -a "$(guest_sh r2 'sha256sum /mnt/b/data' | cut -d' ' -f1)" = "$sum"
vmsnap server delete r2 >/dev/null &&
    vmsnap volume delete R r2-vol1 >/dev/null
ok $? "the restored server and volumes deleted"

# ---- delete, and a volume the last backup did not hold -------------------
v2id=$(vmsnap image show v2 -f value -c id)
vmsnap image delete v2 s2 >/dev/null
ok $? "the incremental backup deleted"
check "  every index of its set left the store" -- test \
    "$(cs_exists "indexes/$v2id.0.idx" && echo 0)$(cs_exists "indexes/$v2id.1.idx" && echo 1)" = ""
check "  its volume snapshot went with it" -- test -n "$v2a" -a -z \
    "$(vmsnap volume snapshot list -f value -c ID | grep -x "$v2a")"
backup r3
ok $? "a backup of the root disk alone"
vbackup v4
ok $? "then a backup of the set"
v4a=$(vsnap_of v4)
check "  the root disk incremental, on r3" -- test \
    "$(bprop v4 vmsnap_backup_mode)" = incremental
check "  the volume full" -- test "$(vmeta "$v4a" vmsnap_backup_mode)" = full
diag "reason: $(vmeta "$v4a" vmsnap_backup_full_reason)"
check "  says the last backup did not hold it" -- \
    grep -q "did not back up volume" <<<"$(vmeta "$v4a" vmsnap_backup_full_reason)"
vbackup v5
check "  and the next one is incremental on it" -- test \
    "$(vmeta "$(vsnap_of v5)" vmsnap_backup_mode)/$(vmeta "$(vsnap_of v5)" vmsnap_backup_parent)" = "incremental/$v4a"

# ---- killed between its disks' indexes ----------------------------------
# The test hook holds the backup before the last disk's index: the root
# disk's index is committed, the volume's not, nothing recorded yet.
fifo=$T_DIR/pause
mkfifo "$fifo"
VMSNAP_TEST_BACKUP_PAUSE=$fifo vbackup k1 &
bpid=$!
until_exists "$fifo.paused" "$bpid"
ok $? "a backup of the set waits before its last index"
kid=$(vmsnap image show k1 -f value -c id)
check "  the root disk's index is committed" -- \
    eval 'test -n "$kid" && cs_exists "indexes/$kid.0.idx"'
pkill -9 -f -- "--name k1 vm"
wait "$bpid"
check "  killed there: the next command finds the backup killed" -- test \
    "$(vmsnap image show k1 -f value -c status)" = killed
check "  and its committed index removed from the store" -- \
    eval '! cs_exists "indexes/$kid.0.idx" && ! cs_exists "indexes/$kid.1.idx"'
check "  and no volume snapshot of it left" -- test -z \
    "$(vmsnap volume snapshot list -f json | python3 -c 'import json,sys
print(" ".join(s["ID"] for s in json.load(sys.stdin) if s["Instance snapshot"] == sys.argv[1]))' "$kid")"
vbackup k2
ok $? "the next backup of the set works"
check "  incremental on v5 for both disks: the dead one broke no chain" -- test \
    "$(bprop k2 vmsnap_backup_mode)/$(vmeta "$(vsnap_of k2)" vmsnap_backup_parent)" = \
    "incremental/$(vsnap_of v5)"

# ---- the host's policy --------------------------------------------------
VMSNAP_BACKUP_INCREMENTAL=1 vmsnap server backup create --all-volumes \
    --backup-type daily --rotation 10 --name pol vm -f json \
    >"$T_DIR/pol.json" 2>"$T_DIR/pol.err"
ok $? "a backup without --incremental, with backup.incremental=1"
check "  goes into the chunk store, incremental on k2" -- test \
    "$(bprop pol vmsnap_backup_store)/$(bprop pol vmsnap_backup_mode)/$(bprop pol vmsnap_backup_parent)" = \
    "chunks/incremental/$(vmsnap image show k2 -f value -c id)"

# ---- export -----------------------------------------------------------------
vmsnap image export pol --file "$T_DIR/pol.ova" >/dev/null 2>"$T_DIR/pol-export.err"
ok $? "the backup of the set exports as one OVA: $(cat "$T_DIR/pol-export.err")"
check "  with both disks (its chunks made into files on the way)" -- python3 -c '
import sys, tarfile
names = [m.name for m in tarfile.open(sys.argv[1]).getmembers()]
assert [n for n in names if n.endswith(".vmdk")] == ["pol-disk1.vmdk", "pol-disk2.vmdk"], names' \
    "$T_DIR/pol.ova"

# ---- checks ---------------------------------------------------------------
vmsnap verify >"$T_DIR/verify.out" 2>&1
ok $? "vmsnap verify: the catalog and every backup's index sound"
check "  without making the backups' files" -- test \
    "$(vmsnap volume snapshot show "$v4a" -f value -c status -c file | tr '\n' ' ')" = "available None "
vmsnap store verify >/dev/null
ok $? "store verify: every chunk there and sound"
# An index whose backup is gone (a deletion cut short between the
# catalog and the store) is gc's to remove; one not named by a backup ID
# is not vmsnap's.
v5id=$(vmsnap image show v5 -f value -c id)
orphan=$(python3 -c 'import uuid; print(uuid.uuid4())').1
cs_get "indexes/$v5id.1.idx" >"$T_DIR/idx" &&
    cs_put "indexes/$orphan.idx" "$T_DIR/idx" &&
    cs_put "indexes/manual.idx" "$T_DIR/idx"
ok $? "an index of a backup the catalog does not know, and one of no backup"
vmsnap store gc --grace 0 -f json >"$T_DIR/gc.json"
ok $? "store gc"
orphaned=$(gcval indexes_orphaned)
check "  removed the orphan, only it" -- \
    eval '! cs_exists "indexes/$orphan.idx" && test "$orphaned" = 1'
check "  kept the index of no backup and the backups' own" -- \
    eval 'cs_exists indexes/manual.idx && cs_exists "indexes/$v5id.1.idx"'
vmsnap store verify >/dev/null
ok $? "  store verify still sound"

v5a=$(vsnap_of v5)
cs_damage "indexes/$v5id.1.idx" 200
vmsnap verify >"$T_DIR/verify2.out" 2>&1
ok $((! $?)) "a damaged volume index fails vmsnap verify"
check "  naming the volume snapshot" -- grep -q "volume snapshot ${v5a:-none}" "$T_DIR/verify2.out"
done_testing
