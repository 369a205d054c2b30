#!/bin/bash
# Two hosts sharing one catalog (a real PostgreSQL) and one image store (a
# real Swift through its S3 API), both started here by scripts/services.sh:
# two data directories, two host names, real QEMU on each.
#   - a snapshot made on host A under guest write load is listed on B and
#     boots there, its ext4 clean and the data in it;
#   - each server shows its host; B cannot act on A's server;
#   - an image is never deleted while a server of any host uses it;
#   - A and B snapshotting at the same moment do not collide;
#   - an incremental backup made on A (full, then incremental after the
#     guest wrote) is listed on B, restores there byte-identical to a
#     snapshot of its instant, and boots there with the data;
#   - A's vmsnap killed (SIGKILL) mid-snapshot: B leaves the record alone
#     while A's lease lasts, and its recovery removes it once the lease
#     expired; A reaps what the dead snapshot left in its QEMU and the next
#     snapshot works;
#   - PostgreSQL stopped: a snapshot fails with a clear error in bounded
#     time, the guest runs on, thawed, and once PostgreSQL is back the next
#     snapshot works without repair; PostgreSQL restarted in the middle of
#     a snapshot: the catalog connects again and the snapshot is made, the
#     guest thawed.
#
# Environment (set by meson): VMSNAP, SRCDIR.
. "$SRCDIR/tests/integ/lib.sh"
. "$SRCDIR/tests/integ/lib-services.sh"
need qemu-system-x86_64 qemu-img dumpe2fs e2fsck python3 psql

trap 'cleanup; services_cleanup' EXIT
services_up all
# Long enough that B surely looks before it expires, even on a loaded
# machine.
export VMSNAP_LEASE_TTL_S=15

# Act as host A or B: its own data directory and name; the catalog and the
# store are the shared ones services_up exported.
use_host() {  # use_host a|b
    export VMSNAP_DATA_DIR=$T_DIR/data-$1 VMSNAP_HOST_NAME=host-$1
}
on() {  # on a|b vmsnap-args...: one command on that host
    local h=$1
    shift
    (use_host "$h" && "$VMSNAP" "$@")
}

# Is SERVER's QEMU (on host H) running, not paused?  Asks QEMU itself over
# QMP, without the catalog.
qemu_running() {  # qemu_running H SERVER-ID
    python3 - "$T_DIR/data-$1/instances/$2/qmp.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", "query-status"):
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while True:
        msg = json.loads(f.readline())
        if "return" in msg or "error" in msg:
            break
sys.exit(0 if msg["return"].get("status") == "running" else 1)
PY
}

thawed() {  # thawed H SERVER
    on "$1" agent command "$2" '{"execute":"guest-fsfreeze-status"}' 2>/dev/null |
        grep -q thawed
}

wait_status() {  # wait_status H IMAGE STATUS SECONDS
    local i
    for i in $(seq 1 "$4"); do
        [ "$(on "$1" image show "$2" -f value -c status 2>/dev/null)" = "$3" ] &&
            return 0
        sleep 1
    done
    return 1
}

use_host a
gid=$(register_guest guest yes)
ok $? "host A registers the test guest (into the object store)"
vmsnap server create src --image guest >/dev/null && wait_agent src
ok $? "host A boots a server"
src_id=$(vmsnap server show src -f value -c id)
check "  its host is host-a" -- test \
    "$(on b server show src -f value -c host)" = host-a
guest_sh src 'echo made-on-a > /root/marker && sync' >/dev/null
start_writer src
ok $? "a guest process on A writes continuously"
sleep 2
vmsnap server image create --name snap1 src >/dev/null
ok $? "host A snapshots it under write load"
loc=$(psql "$VMSNAP_CATALOG" -XAtc \
      "select location from images where name = 'snap1'" 2>/dev/null)
check "  its data is an object in the store (${loc%%:*})" -- \
    grep -q '^s3:' <<<"$loc"

use_host b
check "host B lists the snapshot, active" -- test \
    "$(vmsnap image show snap1 -f value -c status)" = active
check "  its ext4 is clean, read on B" -- test "$(ext4_state snap1)" = clean
vmsnap server create dst --image snap1 >/dev/null && wait_agent dst
ok $? "host B boots a server from A's snapshot"
check "  the data written on A is there" -- test \
    "$(guest_sh dst 'cat /root/marker')" = made-on-a
check "  its host is host-b" -- test \
    "$(on a server show dst -f value -c host)" = host-b
check "server list on A shows both hosts' servers" -- test "$(on a server list \
    -f value -c Host | sort | tr '\n' ' ')" = "host-a host-b "
err=$(vmsnap server stop src 2>&1)
ok $((! $?)) "B cannot stop A's server"
check "  the error names its host" -- grep -q "runs on host host-a" <<<"$err"
err=$(vmsnap server image create --name nope src 2>&1)
ok $((! $?)) "B cannot snapshot A's server"
check "  the error names its host" -- grep -q "host-a" <<<"$err"

# An image in use by any host's server stays.
err=$(on b image delete guest 2>&1)
ok $((! $?)) "B cannot delete the image A's server booted from"
check "  it is in use" -- grep -q "in use" <<<"$err"
err=$(on a image delete snap1 2>&1)
ok $((! $?)) "A cannot delete the snapshot B's server booted from"
check "  it is in use" -- grep -q "in use" <<<"$err"
check "  both still active" -- test \
    "$(on a image show guest -f value -c status)$(on b image show snap1 \
       -f value -c status)" = activeactive

# Both hosts at the same moment.
(use_host a && "$VMSNAP" server image create --name both-a src \
    >"$T_DIR/both-a.out" 2>&1) &
pa=$!
(use_host b && "$VMSNAP" server image create --name both-b dst \
    >"$T_DIR/both-b.out" 2>&1) &
pb=$!
wait $pa
ra=$?
wait $pb
rb=$?
ok $((ra || rb)) "A and B snapshot at the same moment: both succeed"
[ $ra -eq 0 ] || sed 's/^/# A: /' "$T_DIR/both-a.out"
[ $rb -eq 0 ] || sed 's/^/# B: /' "$T_DIR/both-b.out"
check "  two distinct active images" -- test \
    "$(on b image show both-a -f value -c status)$(on a image show both-b \
       -f value -c status)" = activeactive
check "  A's snapshot has A's data" -- test "$(ext4_state both-a)" = clean

# Incremental backups made on A land in the object store's chunk store;
# B lists them, restores them byte for byte and boots them.
use_host a
bk() {  # bk NAME: a backup of src on A, --incremental, its JSON kept
    vmsnap server backup create --incremental --backup-type daily \
        --rotation 10 --name "$1" src -f json >"$T_DIR/$1.json" \
        2>"$T_DIR/$1.err"
}
bmode() {  # bmode NAME: full or incremental
    python3 -c 'import json,sys
d=json.load(open(sys.argv[1])); print(d.get("properties", d).get("vmsnap_backup_mode", ""))' \
        "$T_DIR/$1.json"
}
bk hb1
ok $? "host A backs up src into the chunk store in the bucket"
check "  full" -- test "$(bmode hb1)" = full
inc_sum=$(guest_sh src 'dd if=/dev/urandom of=/root/inc bs=1M count=3 \
    2>/dev/null && sync && sha256sum /root/inc' | cut -d' ' -f1)
vmsnap server pause src && bk hb2 &&
    vmsnap server image create --name hb2-snap src >/dev/null
ok $? "the guest writes 3 MiB; an incremental backup and a snapshot at one instant"
vmsnap server unpause src
check "  incremental" -- test "$(bmode hb2)" = incremental
[ "$(bmode hb2)" = incremental ] || sed 's/^/# /' "$T_DIR/hb2.err"
use_host b
check "host B lists A's incremental backup, active" -- test \
    "$(vmsnap image show hb2 -f value -c status)" = active
vmsnap image save hb2 --file "$T_DIR/hb2.qcow2" 2>"$T_DIR/hb2-save.err"
ok $? "  B restores it"
[ -s "$T_DIR/hb2.qcow2" ] || sed 's/^/# /' "$T_DIR/hb2-save.err"
raw_sum() {  # raw_sum QCOW2: the disk's bytes, hashed
    qemu-img convert -U -O raw "$1" "$T_DIR/raw.img" &&
        sha256sum <"$T_DIR/raw.img" | cut -d' ' -f1
    rm -f "$T_DIR/raw.img"
}
check "  byte-identical to the snapshot of the same instant" -- test \
    "$(raw_sum "$T_DIR/hb2.qcow2")" = \
    "$(raw_sum "$(vmsnap image show hb2-snap -f value -c file)")"
rm -f "$T_DIR/hb2.qcow2"
vmsnap server create hbvm --image hb2 >/dev/null && wait_agent hbvm
ok $? "  B boots a server from it"
check "  the data written on A before the incremental is there" -- test \
    "$(guest_sh hbvm 'sha256sum /root/inc' | cut -d' ' -f1)" = "$inc_sum"
vmsnap server delete hbvm >/dev/null
vmsnap store verify >/dev/null
ok $? "  store verify from B: sound"

# Host A's vmsnap dies mid-snapshot (held with the guest frozen by a
# test hook, so that it is caught in it).
use_host a
VMSNAP_DEBUG=quiesce VMSNAP_TEST_HOLD_FROZEN_MS=60000 "$VMSNAP" server \
    image create --name dying src >/dev/null 2>"$T_DIR/dying.err" &
kpid=$!
for i in $(seq 1 600); do
    grep -q "guest frozen" "$T_DIR/dying.err" && break
    sleep 0.1
done
check "a snapshot on A is under way, the guest frozen" -- \
    grep -q "guest frozen" "$T_DIR/dying.err"
grep -q "guest frozen" "$T_DIR/dying.err" || sed 's/^/# /' "$T_DIR/dying.err"
kill -9 $kpid
wait $kpid 2>/dev/null
t0=$(date +%s)
st=$(on b image show dying -f value -c status)
check "  right after A's vmsnap died, B leaves it alone (lease held): $st" -- \
    test -n "$st" -a "$st" != killed -a "$st" != active
gone=1
for i in $(seq 1 90); do
    st=$(on b image list -f value -c Name -c Status 2>/dev/null |
         awk '$1 == "dying" {print $2}')
    case $st in
    "" | killed) gone=0; break ;;
    esac
    sleep 1
done
took=$(( $(date +%s) - t0 ))
ok $gone "  once the lease expired, B's recovery removed it (${took} s, status '${st:-gone}')"
# Its last renewal was at most a third of the lease's time before the kill.
check "  not before the lease expired" -- \
    test "$took" -ge $((VMSNAP_LEASE_TTL_S * 2 / 3 - 1))
ts=$(on b server show src -f value -c task_state)
check "  src is no longer busy (seen from B): '$ts'" -- test -z "$ts" -o "$ts" = None
for i in $(seq 1 30); do thawed a src && break; sleep 1; done
check "  its guest runs on A, thawed" -- thawed a src
vmsnap server image create --name after-kill src >/dev/null
ok $? "A's next snapshot works (A reaped what the dead one left in QEMU)"
check "  and is active" -- test \
    "$(on b image show after-kill -f value -c status)" = active

# PostgreSQL stopped.
services_stop pg
t0=$(date +%s)
err=$(vmsnap server image create --name no-catalog src 2>&1)
rc=$?
took=$(( $(date +%s) - t0 ))
ok $((! rc)) "PostgreSQL stopped: a snapshot on A fails"
check "  in bounded time (${took} s)" -- test "$took" -lt 60
check "  with a clear error" -- grep -Eqi "catalog|connect|postgres" <<<"$err"
diag "error: $err"
check "  the guest runs on (QEMU asked directly)" -- qemu_running a "$src_id"
services_start pg
check "PostgreSQL back" -- psql "$VMSNAP_CATALOG" -XAtc 'select 1'
check "  the guest is thawed" -- thawed a src
check "  nothing was half-made" -- test -z \
    "$(vmsnap image list -f value -c Name | grep no-catalog)"
vmsnap server image create --name after-pg src >/dev/null
ok $? "  the next snapshot works without repair"
check "  and is active, seen from B" -- test \
    "$(on b image show after-pg -f value -c status)" = active

# PostgreSQL restarted in the middle of a snapshot (while the guest is held
# frozen by the test hook): the snapshot either completes or fails with a
# clear error, the guest is thawed, nothing is half-made, the next works.
VMSNAP_DEBUG=quiesce VMSNAP_TEST_HOLD_FROZEN_MS=3000 "$VMSNAP" server \
    image create --name mid-restart src >"$T_DIR/mid.out" 2>"$T_DIR/mid.err" &
mpid=$!
for i in $(seq 1 600); do
    grep -q "guest frozen" "$T_DIR/mid.err" && break
    sleep 0.1
done
services_stop pg
services_start pg
wait $mpid
rc=$?
diag "snapshot across a PostgreSQL restart: exit $rc: $(grep -v '^vmsnap:.*test:' "$T_DIR/mid.err" | tail -1)"
st=$(vmsnap image list -f value -c Name -c Status | awk '$1 == "mid-restart" {print $2}')
# The catalog connects again (bounded retries while the server is away),
# so the snapshot goes on once PostgreSQL is back.
check "  PostgreSQL restarted mid-snapshot: the snapshot is made (rc $rc, '${st:-gone}')" -- \
    test $rc -eq 0 -a "$st" = active
for i in $(seq 1 30); do thawed a src && break; sleep 1; done
check "  the guest is thawed" -- thawed a src
vmsnap server image create --name after-restart src >/dev/null
ok $? "  the next snapshot works"

done_testing
