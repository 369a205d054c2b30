#!/bin/bash
# Backups into the chunk store kept in the object store (issue 13): with
# store.driver s3 the chunks, indexes and leases are objects under
# chunkstore/ in the bucket of a real Swift (S3 API) that
# scripts/services.sh starts here.  Full, incremental, restore and boot,
# verify, gc (unreferenced chunks removed, referenced kept), a gc refused
# while a backup holds its writer lease, and the lease of a backup killed
# mid-way (SIGKILL) blocking gc only until it expires.
#
# Environment (set by meson): VMSNAP, SRCDIR.
. "$SRCDIR/tests/integ/lib.sh"
. "$SRCDIR/tests/integ/lib-services.sh"
. "$SRCDIR/tests/integ/lib-backup.sh"
need qemu-system-x86_64 qemu-img python3 curl mkfifo

trap 'cleanup; services_cleanup' EXIT
services_up s3
unset VMSNAP_CATALOG   # printed by services.sh; the catalog stays SQLite

boot_vm

# ---- full, incremental, restore, boot ------------------------------------
backup b1
ok $? "a first backup into the s3 chunk store"
check "  is full, active, in the chunk store" -- test \
    "$(bprop b1 vmsnap_backup_mode)/$(vmsnap image show b1 -f value -c status)/$(bprop b1 vmsnap_backup_store)" = full/active/chunks
b1id=$(vmsnap image show b1 -f value -c id)
check "  its index is an object in the bucket" -- \
    grep -qx "chunkstore/indexes/$b1id.0.idx" <<<"$(s3_keys chunkstore/indexes/)"
nchunks=$(s3_keys chunkstore/chunks/ | wc -l)
check "  its chunks are objects ($nchunks)" -- test "$nchunks" -gt 10
check "  nothing of the store in the data directory" -- test ! -e \
    "$VMSNAP_DATA_DIR/chunkstore"
check "  no lease left behind" -- test -z "$(s3_keys chunkstore/leases/)"

sum1=$(guest_write /root/data1 6)
ok $? "the guest writes 6 MiB of known data"
pair b2 s2
ok $? "incremental backup and snapshot at the same instant"
check "  is incremental on b1" -- test \
    "$(bprop b2 vmsnap_backup_mode)/$(bprop b2 vmsnap_backup_parent)" = \
    "incremental/$b1id"
diag "full read $(bprop b1 vmsnap_backup_bytes_read) bytes, incremental $(bprop b2 vmsnap_backup_bytes_read)"
restores_as b2 s2
ok $? "the incremental restores to exactly the disk at its instant"
vmsnap server create r2 --image b2 >/dev/null && wait_agent r2
ok $? "a server boots from the incremental backup"
check "  it holds the data written before it" -- test \
    "$(guest_sh r2 'sha256sum /root/data1' | cut -d' ' -f1)" = "$sum1"
vmsnap server delete r2 >/dev/null
vmsnap store verify -f json >"$T_DIR/verify1.json"
ok $? "store verify: every chunk read back and sound"
vmsnap store show -f json >"$T_DIR/show.json"
ok $? "store show"
diag "store: $(tr -d '\n' <"$T_DIR/show.json")"

# ---- delete, gc: what no backup references goes, the rest stays ---------
# In place (the same blocks): b2's chunks of data1 are then in no later
# backup.
guest_sh vm 'dd if=/dev/urandom of=/root/data1 bs=1M count=6 conv=notrunc \
    2>/dev/null && sync' >/dev/null
pair b3 s3
ok $? "the guest overwrites its data in place; a third backup with a snapshot"
check "  incremental" -- test "$(bprop b3 vmsnap_backup_mode)" = incremental
vmsnap image delete b1 >/dev/null && vmsnap image delete b2 >/dev/null
ok $? "the first two backups deleted"
before=$(s3_keys chunkstore/chunks/ | wc -l)
vmsnap store gc --grace 0 -f json >"$T_DIR/gc.json"
ok $? "store gc"
after=$(s3_keys chunkstore/chunks/ | wc -l)
diag "gc: $(tr -d '\n' <"$T_DIR/gc.json"); chunk objects $before -> $after"
check "  removed the chunks only the deleted backups held" -- test \
    "$(gcval chunks_removed)" -gt 0 -a "$after" -lt "$before"
check "  no lease left behind" -- test -z "$(s3_keys chunkstore/leases/)"
vmsnap store verify >/dev/null
ok $? "  verify after gc: nothing missing or damaged"
restores_as b3 s3
ok $? "  the kept backup still restores exactly"

# ---- gc against a running backup, and a backup killed mid-way -----------
guest_write /root/data2 4 >/dev/null
fifo=$T_DIR/pause
mkfifo "$fifo"
VMSNAP_STORE_LEASE_TTL_S=4 VMSNAP_TEST_BACKUP_PAUSE=$fifo backup g1 &
bpid=$!
until_exists "$fifo.paused" "$bpid"
ok $? "a backup has stored its chunks and waits before its index"
lease=$(s3_keys chunkstore/leases/ | grep -m1 '/w-4-')
check "  it holds a writer lease ($lease)" -- test -n "$lease"
err=$(vmsnap store gc --grace 0 2>&1)
ok $((! $?)) "store gc meanwhile is refused"
diag "gc: $err"
check "  with a clear error naming the backup's lease" -- \
    grep -q "backup.*holds lease .*$lease" <<<"$err"
# The lease names its holder: host_pid.
wpid=${lease##*_}
wpid=${wpid%%-*}
check "  the lease names the backup's process ($wpid)" -- \
    grep -q vmsnap "/proc/$wpid/comm"
# Never hang on the paused backup, whatever the checks above found.
kill -9 "${wpid:-0}" $(pgrep -P "$bpid") 2>/dev/null
wait "$bpid" 2>/dev/null
t0=$(date +%s)
vmsnap store gc --grace 0 >/dev/null 2>&1
ok $((! $?)) "the backup killed: right after, gc is still refused (its lease lives)"
done=1
for i in $(seq 1 60); do
    vmsnap store gc --grace 0 -f json >"$T_DIR/gc.json" 2>"$T_DIR/gc.err" &&
        { done=0; break; }
    sleep 1
done
took=$(( $(date +%s) - t0 ))
ok $done "  once the dead backup's lease expired, gc runs (${took} s)"
[ $done -eq 0 ] || sed 's/^/# /' "$T_DIR/gc.err"
check "  not before its time (4 s)" -- test "$took" -ge 3
check "  the expired lease is removed" -- test -z "$(s3_keys chunkstore/leases/)"
diag "gc: $(tr -d '\n' <"$T_DIR/gc.json")"
check "  and the killed backup's chunks with it" -- test \
    "$(gcval chunks_removed)" -gt 0
check "  the killed backup is not active" -- test \
    "$(vmsnap image show g1 -f value -c status 2>/dev/null || echo gone)" != active
vmsnap store verify >/dev/null
ok $? "  verify: sound"
pair b4 s4
ok $? "the next backup works"
check "  incremental on b3" -- test \
    "$(bprop b4 vmsnap_backup_mode)/$(bprop b4 vmsnap_backup_parent)" = \
    "incremental/$(vmsnap image show b3 -f value -c id)"
restores_as b4 s4
ok $? "  and restores exactly"

done_testing
