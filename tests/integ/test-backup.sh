#!/bin/bash
# Incremental backups into the chunk store with real QEMU, the real guest
# and real ext4 (issue 12): full then incremental, restored to exactly the
# disk at its point in time and booted; a chain with its middle deleted;
# QEMU killed between two backups; the parent deleted; the disk replaced;
# a corrupted chunk found by verify and refused at restore; gc after
# rotation; dedup across servers; a backup killed mid-copy; a stopped
# server.
. "$SRCDIR/tests/integ/lib.sh"
. "$SRCDIR/tests/integ/lib-backup.sh"
need qemu-system-x86_64 qemu-img python3 cmp

boot_vm

# ---- full, then incremental --------------------------------------------
backup b1
ok $? "first --incremental backup"
check "  is full" -- test "$(bprop b1 vmsnap_backup_mode)" = full
check "  says why: first backup" -- grep -q "first backup" <<<"$(bprop b1 vmsnap_backup_full_reason)"
check "  active, in the store, no file yet" -- test \
    "$(vmsnap image show b1 -f value -c status)/$(bprop b1 vmsnap_backup_store)" = active/chunks
full_read=$(bprop b1 vmsnap_backup_bytes_read)

sum1=$(guest_write /root/data1 6)
ok $? "the guest writes 6 MiB of known data"
pair b2 s2
ok $? "incremental backup and snapshot at the same instant"
check "  is incremental on b1" -- test \
    "$(bprop b2 vmsnap_backup_mode)/$(bprop b2 vmsnap_backup_parent)" = \
    "incremental/$(vmsnap image show b1 -f value -c id)"
read2=$(bprop b2 vmsnap_backup_bytes_read)
diag "full read $full_read bytes, incremental read $read2 bytes"
check "  read only what changed (less than the full read, at least the data)" -- \
    test "$read2" -lt "$full_read" -a "$read2" -ge $((6 << 20))
bitmaps() {  # the dirty bitmaps on vm's root disk, sorted
    qmp_cmd vm query-named-block-nodes | python3 -c 'import json,sys
for n in json.load(sys.stdin):
    if n["node-name"] == "root":
        print(" ".join(sorted(b["name"] for b in n.get("dirty-bitmaps", []))))'
}
check "  the chain moved on: only b2's bitmap is on the disk" -- test \
    "$(bitmaps)" = "vmsnap-$(vmsnap image show b2 -f value -c id)"
restores_as b2 s2
ok $? "the incremental restores to exactly the disk at its point in time"
check "  restore recorded the image's checksum of its file" -- test \
    "$(vmsnap image show b2 -f value -c checksum)" = "$(md5sum <"$T_DIR/restored.qcow2" | cut -d' ' -f1)"
vmsnap server create r2 --image b2 >/dev/null && wait_agent r2
ok $? "a server boots from the incremental backup"
check "  it holds the data written before it" -- test \
    "$(vmsnap agent exec r2 -- /bin/sh -c 'sha256sum /root/data1' | cut -d' ' -f1)" = "$sum1"
vmsnap server delete r2 >/dev/null

# ---- a chain: full -> inc -> inc -> inc, the middle ones deleted ---------
guest_write /root/data2 2 >/dev/null
backup b3
ok $? "second incremental"
guest_write /root/data1 1 >/dev/null
pair b4 s4
ok $? "third incremental, with a snapshot at its instant"
check "  b3 and b4 incremental" -- test \
    "$(bprop b3 vmsnap_backup_mode)/$(bprop b4 vmsnap_backup_mode)" = incremental/incremental
vmsnap image delete b2 && vmsnap image delete b3
ok $? "the middle backups are deleted"
restores_as b4 s4
ok $? "the last one still restores to exactly its point in time"

# ---- rotation, then gc ---------------------------------------------------
guest_sh vm 'rm -f /root/data2 && sync'
for i in 1 2 3; do
    guest_write /root/rot$i 3 >/dev/null
    backup "rot$i" 2 || break
done
ok $? "three more backups with rotation 2"
check "  rotation kept the 2 newest daily backups" -- test \
    "$(vmsnap image list -f value -c Name | grep -c -E '^(b[0-9]|rot[0-9])$')" = 2
before=$(vmsnap store show -f value -c stored_bytes)
vmsnap store gc --grace 0 -f json >"$T_DIR/gc.json"
ok $? "store gc"
removed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chunks_removed"])' "$T_DIR/gc.json")
after=$(vmsnap store show -f value -c stored_bytes)
diag "gc removed $removed chunks: $before -> $after bytes"
check "  freed space" -- test "$removed" -gt 0 -a "$after" -lt "$before"
vmsnap store verify -f json >"$T_DIR/verify.json"
ok $? "  verify after gc: nothing missing or damaged"
pair rot4 s5
check "  an incremental on a kept backup after gc restores exactly" -- restores_as rot4 s5

# ---- a corrupted chunk ---------------------------------------------------
guest_write /root/data3 2 >/dev/null
backup c1
ok $? "a backup whose chunk will be damaged"
cid=$(vmsnap image show c1 -f value -c id)
chunk=$(cs_get "indexes/$cid.0.idx" | python3 -c '
import sys
data = sys.stdin.buffer.read()
n = int.from_bytes(data[32:40], "little")
for i in range(n):
    d = data[96 + 32 * i:128 + 32 * i]
    if any(d):
        h = d.hex()
        print(f"chunks/{h[:3]}/{h}")
        break
')
test -n "$chunk" && cs_damage "$chunk" 40
ok $? "one of its chunks is damaged in the store"
vmsnap store verify -f json >"$T_DIR/verify2.json" 2>/dev/null
ok $((! $?)) "store verify fails"
python3 - "$T_DIR/verify2.json" "${chunk##*/}" "$cid" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
assert rep["chunks_bad"] == 1, rep
p = [p for p in rep["problems"] if p.get("digest") == sys.argv[2]]
assert p and sys.argv[3] in p[0]["backups"], rep
PY
ok $? "  it names the damaged chunk and the backups it touches"
vmsnap image save c1 --file "$T_DIR/c1.qcow2" 2>"$T_DIR/c1.err"
ok $((! $?)) "restoring the damaged backup is refused"
check "  with a clear error naming the chunk" -- grep -q "corrupt" "$T_DIR/c1.err"
check "  and no file left" -- test ! -e "$T_DIR/c1.qcow2"
vmsnap store verify --repair >/dev/null 2>&1
backup c2
ok $? "a backup after verify --repair"
check "  is full: its parent is damaged" -- test "$(bprop c2 vmsnap_backup_mode)" = full
check "  says so" -- grep -q "damaged" <<<"$(bprop c2 vmsnap_backup_full_reason)"
vmsnap image delete c1 >/dev/null && vmsnap store verify >/dev/null
ok $? "the damaged backup deleted, verify finds the store sound again"

# ---- QEMU killed between two backups ------------------------------------
backup k1
ok $? "a backup before QEMU dies"
check "  incremental (c2 started a new chain)" -- test "$(bprop k1 vmsnap_backup_mode)" = incremental
kill -9 "$(cat "$VMSNAP_DATA_DIR/instances/$vid/qemu.pid")"
for i in $(seq 1 30); do
    [ "$(vmsnap server show vm -f value -c status)" != ACTIVE ] && break
    sleep 1
done
vmsnap server start vm >/dev/null && wait_agent vm
ok $? "QEMU killed, the server started again"
backup k2
ok $? "the next backup"
check "  is full" -- test "$(bprop k2 vmsnap_backup_mode)" = full
diag "reason: $(bprop k2 vmsnap_backup_full_reason)"
check "  says the bitmap was lost" -- grep -qE "missing|inconsistent" <<<"$(bprop k2 vmsnap_backup_full_reason)"
backup k3
check "  and the one after is incremental again" -- test "$(bprop k3 vmsnap_backup_mode)" = incremental

# ---- broken chains: the parent deleted, the disk replaced ---------------
vmsnap image delete k3 >/dev/null
backup p1
ok $? "a backup after the newest one (k3) is deleted"
check "  is full: k2's bitmap went when k3 was made" -- test \
    "$(bprop p1 vmsnap_backup_mode)" = full
diag "reason: $(bprop p1 vmsnap_backup_full_reason)"
check "  says why" -- grep -q "missing" <<<"$(bprop p1 vmsnap_backup_full_reason)"
vmsnap server stop vm >/dev/null
root=$VMSNAP_DATA_DIR/instances/$vid/root.qcow2
cp --sparse=always "$root" "$root.new" && mv "$root.new" "$root" &&
    vmsnap server start vm >/dev/null && wait_agent vm
ok $? "the disk replaced by a copy of itself (its bitmaps too) while stopped"
backup p2
ok $? "the next backup"
check "  is full" -- test "$(bprop p2 vmsnap_backup_mode)" = full
diag "reason: $(bprop p2 vmsnap_backup_full_reason)"
check "  says the disk was replaced" -- grep -q "replaced" <<<"$(bprop p2 vmsnap_backup_full_reason)"

# ---- dedup across servers ------------------------------------------------
vmsnap server create vm2 --image guest >/dev/null &&
    vmsnap server stop vm2 >/dev/null
ok $? "a second server from the same image, stopped"
backup o1 10 vm2
ok $? "its first backup"
check "  is full: first of vm2, stopped" -- test "$(bprop o1 vmsnap_backup_mode)" = full
diag "vm2's full: read $(bprop o1 vmsnap_backup_bytes_read) bytes, new in the store $(bprop o1 vmsnap_backup_bytes_new)"
# Without dedup it would store about all it read.  What vm2 wrote itself
# while it booted is new: a quarter of the read in 64 KiB chunks (files),
# more in the s3 store's 1 MiB ones, under half in both.
check "  stores little: the image's data is in the store already (vm's)" -- \
    test "$(bprop o1 vmsnap_backup_bytes_new)" -lt \
    "$(( $(bprop o1 vmsnap_backup_bytes_read) / 2 ))"
vmsnap server delete vm2 >/dev/null

# ---- a backup killed in the middle of its copy ---------------------------
guest_write /root/data4 16 >/dev/null
# (On S3 its writer lease outlives it by up to 20 s + 2 s, blocking gc.)
VMSNAP_STORE_LEASE_TTL_S=20 VMSNAP_COPY_RATE_LIMIT=1048576 \
    vmsnap server backup create --incremental --backup-type daily \
    --rotation 10 --name x1 vm >/dev/null 2>&1 &
w=
for i in $(seq 1 600); do
    w=$(cs_writer_pid) && break
    sleep 0.1
done
for i in $(seq 1 600); do  # until it has stored a chunk of its own
    cs_writer_stored "$w" && break
    sleep 0.1
done
ok $([ -n "$w" ] && [ "$i" -lt 600 ]; echo $?) "a backup slowed to 1 MiB/s is storing chunks"
kill -9 "$w"
wait
vmsnap store verify -f json >"$T_DIR/verify3.json"
ok $? "  killed: store verify finds no index pointing at a missing chunk"
check "  the killed backup is not active" -- test \
    "$(vmsnap image show x1 -f value -c status 2>/dev/null || echo gone)" != active
backup x2
ok $? "  the next backup works"
check "  incremental on p2: the killed one broke no chain" -- test \
    "$(bprop x2 vmsnap_backup_mode)/$(bprop x2 vmsnap_backup_parent)" = \
    "incremental/$(vmsnap image show p2 -f value -c id)"
gc_past_leases 60 && vmsnap store verify >/dev/null
ok $? "  gc cleans what the killed writer left; verify still sound"

# ---- a stopped server ----------------------------------------------------
vmsnap server stop vm >/dev/null
backup cold1
ok $? "a backup of the stopped server"
check "  is full, and says why" -- grep -q "stopped" <<<"$(bprop cold1 vmsnap_backup_full_reason)"
vmsnap server image create --name coldsnap vm >/dev/null
ok $? "a cold snapshot through the copy path"
f=$(vmsnap image show coldsnap -f value -c file)
check "  its checksum is its file's" -- test \
    "$(vmsnap image show coldsnap -f value -c checksum)" = "$(md5sum <"$f" | cut -d' ' -f1)"
check "  identical to the disk" -- qemu-img compare -U "$f" \
    "$VMSNAP_DATA_DIR/instances/$vid/root.qcow2"
check "  and to the cold backup restored" -- restores_as cold1 coldsnap

check "no scratch file or NBD socket left in the instance" -- test -z \
    "$(ls "$VMSNAP_DATA_DIR/instances/$vid" | grep -E 'scratch|nbd-')"
done_testing
