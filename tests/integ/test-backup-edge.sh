#!/bin/bash
# Backups into the chunk store at their edges (issue 12), with real QEMU,
# the real guest and real ext4: gc run while a backup has written its
# chunks and not yet its index (the backup held there by the test hook
# test.backup_pause, no timing involved); a disk resized between two
# backups; an index whose checksum does not match.
. "$SRCDIR/tests/integ/lib.sh"
. "$SRCDIR/tests/integ/lib-backup.sh"
need qemu-system-x86_64 qemu-img python3 mkfifo

boot_vm
root=$VMSNAP_DATA_DIR/instances/$vid/root.qcow2

# ---- gc while a backup runs ----------------------------------------------
backup g1
ok $? "a first backup"
guest_write /root/g1 8 >/dev/null
vmsnap image delete g1 >/dev/null
ok $? "the guest writes 8 MiB; the backup is deleted (its index in trash)"
vmsnap server pause vm
fifo=$T_DIR/pause
mkfifo "$fifo"
VMSNAP_TEST_BACKUP_PAUSE=$fifo backup g2 &
bpid=$!
until_exists "$fifo.paused" "$bpid"
ok $? "a full backup has written its chunks and waits before its index"
w=$(cs_writer_pid)
check "  it is a registered writer" -- test -n "$w"
check "  it stored chunks of its own, not yet indexed" -- eval \
    'cs_writer_stored "$w" &&
    ! cs_exists "indexes/$(vmsnap image show g2 -f value -c id).0.idx"'
# The copy runs at snapshot.copy_nice (default 10), the thread waiting in
# the hook with it; the guest's QEMU keeps its own.
copy_nice=$(for p in $(pgrep -f -- "--name g2 vm"); do
    ps -L -o nice= -p "$p"; done | sort -n | tail -1 | tr -d ' ')
qemu_nice=$(ps -o nice= -p "$(cat "$VMSNAP_DATA_DIR/instances/$vid/qemu.pid")" |
    tr -d ' ')
check "  its copy runs at nice 10 (got ${copy_nice:-none}), QEMU at 0 ($qemu_nice)" \
    -- test "$copy_nice" = 10 -a "$qemu_nice" = 0
if [ -z "$T_BUCKET" ]; then
    vmsnap store gc --grace 0 -f json >"$T_DIR/gc.json"
    ok $? "store gc with no grace meanwhile"
    diag "gc: $(cat "$T_DIR/gc.json")"
    check "  kept the unindexed chunks of the running backup" -- \
        test "$(gcval chunks_recent)" -gt 0
else
    # On S3 a gc never runs beside a writer (docs/internals/chunkstore.md):
    # it is refused while the backup's lease lives, which keeps its
    # unindexed chunks as surely.
    err=$(vmsnap store gc --grace 0 2>&1)
    ok $((! $?)) "store gc with no grace meanwhile is refused"
    diag "gc: $err"
    check "  naming the running backup's lease" -- \
        grep -q "backup.*holds lease .*_$w-" <<<"$err"
fi
echo go >"$fifo"
wait "$bpid"
ok $? "the backup goes on and commits"
vmsnap server image create --name gs vm >/dev/null
ok $? "a snapshot at the backup's instant (the server still paused)"
vmsnap server unpause vm
check "  the backup is full" -- test "$(bprop g2 vmsnap_backup_mode)" = full
vmsnap store verify -f json >"$T_DIR/verify1.json"
ok $? "verify: no chunk of it is missing or damaged"
restores_as g2 gs
ok $? "it restores to exactly the disk at its instant"
vmsnap store gc --grace 0 >/dev/null && vmsnap store verify >/dev/null
ok $? "gc again after it committed: still sound"

# ---- a disk resized between two backups ---------------------------------
backup r1
ok $? "a backup before the resize"
check "  incremental on g2" -- test "$(bprop r1 vmsnap_backup_mode)" = incremental
size1=$(qemu-img info -U --output=json "$root" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
vmsnap server stop vm >/dev/null &&
    qemu-img resize -q "$root" +64M &&
    vmsnap server start vm >/dev/null && wait_agent vm
ok $? "the disk grown by 64 MiB while the server was stopped"
sumr=$(guest_write /root/r2 3)
pair r2 rs2
ok $? "a backup and a snapshot at one instant after the resize"
diag "mode $(bprop r2 vmsnap_backup_mode), reason: $(bprop r2 vmsnap_backup_full_reason)"
check "  is full, and says the disk was resized" -- \
    grep -q "resized" <<<"$(bprop r2 vmsnap_backup_full_reason)"
restores_as r2 rs2
ok $? "  it restores to exactly the disk at its instant"
check "  at the new size" -- test \
    "$(qemu-img info --output=json "$T_DIR/restored.qcow2" |
       python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')" \
    = $((size1 + (64 << 20)))
guest_write /root/r3 2 >/dev/null
pair r3 rs3
ok $? "the next backup"
check "  is incremental on the resized full" -- test \
    "$(bprop r3 vmsnap_backup_mode)/$(bprop r3 vmsnap_backup_parent)" = \
    "incremental/$(vmsnap image show r2 -f value -c id)"
restores_as r3 rs3
ok $? "  it restores to exactly the disk at its instant"
vmsnap server create rr --image r3 >/dev/null && wait_agent rr
ok $? "a server boots from it"
check "  it holds the data written after the resize" -- test \
    "$(vmsnap agent exec rr -- /bin/sh -c 'sha256sum /root/r2' | cut -d' ' -f1)" = "$sumr"
vmsnap server delete rr >/dev/null

# ---- an index whose checksum does not match ------------------------------
backup d1
ok $? "a backup whose index will be damaged"
did=$(vmsnap image show d1 -f value -c id)
cs_damage "indexes/$did.0.idx" 100 '\x01'
ok $? "one byte of its index changed"
vmsnap store verify -f json >"$T_DIR/verify2.json" 2>/dev/null
ok $((! $?)) "store verify fails"
python3 - "$T_DIR/verify2.json" "$did" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
assert rep["indexes_bad"] == 1, rep
p = [p for p in rep["problems"] if p["what"] == "index"]
assert p and p[0]["backups"] == [sys.argv[2]], rep
assert "checksum" in p[0]["error"], rep
PY
ok $? "  it names the damaged index, its backup and the checksum"
vmsnap image save d1 --file "$T_DIR/d1.qcow2" 2>"$T_DIR/d1.err"
ok $((! $?)) "restoring the backup is refused"
diag "$(cat "$T_DIR/d1.err")"
check "  with a clear error" -- grep -q "index .* is damaged: index checksum mismatch" "$T_DIR/d1.err"
check "  and no file left" -- test ! -e "$T_DIR/d1.qcow2"
backup d2
ok $? "the next backup"
diag "mode $(bprop d2 vmsnap_backup_mode), reason: $(bprop d2 vmsnap_backup_full_reason)"
check "  is full, and says its parent is damaged" -- test \
    "$(bprop d2 vmsnap_backup_mode)" = full -a -n \
    "$(grep "damaged" <<<"$(bprop d2 vmsnap_backup_full_reason)")"
vmsnap image delete d1 >/dev/null
ok $? "the damaged backup deleted"
vmsnap store gc -f json >"$T_DIR/gc.json"
ok $? "  gc runs (the damaged index held nothing it could trust)"
vmsnap store verify >/dev/null
ok $? "  verify finds the store sound again"
restores_as r3 rs3
ok $? "  an older backup still restores exactly"
done_testing
