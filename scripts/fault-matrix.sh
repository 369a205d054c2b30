#!/bin/bash
# The fault matrix: operation x fault point x fault type, each case
# followed by the invariant checks of tests/fault/check-invariants.sh.
# Speaks TAP, one line per case.  docs/internals/faults.md explains it.
#
#   scripts/fault-matrix.sh [--sample K] [--seed S]  K cases picked from
#                                     the full matrix by seed S (default:
#                                     --sample 40 --seed 1); what the
#                                     test suite runs
#   scripts/fault-matrix.sh --full    every case (long)
#   scripts/fault-matrix.sh --case 'op=image-create,at=sync,n=3,fault=kill'
#                                     one case, as printed by a failure
#                                     (--case again: several)
#   scripts/fault-matrix.sh --list    print the cases, run none
# Options: --ops A,B (only these operations), --faults A,B (only these
# fault types), --points A,B (only these fault points), --live K (K
# live-snapshot cases, default 3; they need the test guest), --engine
# strace (with --case: inject with strace instead of the shim), --keep
# (keep the work directory), --workdir DIR (where to make it; default
# /dev/shm, else /tmp), -v (print each command's output).
#
# Fault points ("at"): the Nth call of a kind in vmsnap (anywrite, sync,
# rename, unlink, creat, exec) or in its qemu-img helper (anywrite, sync),
# counted by tests/fault/faultinj.so under the work directory; for live
# snapshots also vmsnap's Nth write to a socket (sockwrite: QMP, agent).
# Fault types: kill (SIGKILL vmsnap), enospc (ENOSPC from the Nth call
# on), eio (EIO once), helper-kill (SIGKILL qemu-img), helper-enospc,
# parent-kill (qemu-img's Nth call SIGKILLs vmsnap: the helper is left).
#
# Environment: VMSNAP (default build/cli/vmsnap), FAULTINJ (default
# build/tests/fault/faultinj.so), VMSNAP_GUEST_DIR (the test guest, for
# live cases; built by guest/build-guest.sh when unset).
set -u
SRCDIR=$(cd "$(dirname "$0")/.." && pwd)
: "${VMSNAP:=$SRCDIR/build/cli/vmsnap}"
: "${FAULTINJ:=$SRCDIR/build/tests/fault/faultinj.so}"
export VMSNAP

mode=sample sample=40 seed=1 only_case="" ops_filter="" faults_filter=""
points_filter=""
live=3 engine=shim keep=0 verbose=0 workdir=""
while [ $# -gt 0 ]; do
    case $1 in
    --sample) mode=sample; sample=$2; shift ;;
    --seed) seed=$2; shift ;;
    --full) mode=full ;;
    --case) mode=case; only_case+=$2$'\n'; shift ;;
    --list) mode=list ;;
    --ops) ops_filter=$2; shift ;;
    --faults) faults_filter=$2; shift ;;
    --points) points_filter=$2; shift ;;
    --live) live=$2; shift ;;
    --engine) engine=$2; shift ;;
    --keep) keep=1 ;;
    --workdir) workdir=$2; shift ;;
    -v) verbose=1 ;;
    *) echo "fault-matrix: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

for t in "$VMSNAP" "$FAULTINJ"; do
    [ -e "$t" ] || { echo "not ok 1 - $t is missing (build first)"
                     echo "1..1"; exit 1; }
done
for t in sqlite3 qemu-img qemu-io md5sum flock pgrep python3 timeout; do
    command -v $t >/dev/null ||
        { echo "not ok 1 - required tool '$t' is missing"; echo "1..1"
          exit 1; }
done

# The cases' data directories live on a tmpfs when there is one: no case
# needs durability (power loss is test-powerloss.sh), and the catalog's
# fsyncs on a busy shared disk would cost more than the rest of a case.
if [ -z "$workdir" ]; then
    workdir=/tmp
    [ -d /dev/shm ] && [ -w /dev/shm ] && workdir=/dev/shm
fi
W=$(mktemp -d "$workdir/vmsnap-fault.XXXXXX")
W=$(realpath "$W")
D=$W/data
export VMSNAP_DATA_DIR=$D
LIVE_D=$W/live

cleanup() {
    local f
    for f in "$W"/*/instances/*/qemu.pid "$W"/tpl/*/instances/*/qemu.pid; do
        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    done
    kill_ours "$D"
    kill_ours "$LIVE_D"
    [ "$keep" = 1 ] && { echo "# work directory kept: $W"; return; }
    rm -rf "$W"
}
trap cleanup EXIT

# Every vmsnap command goes through vm, so that a case can wrap it (a
# time limit; strace for --engine strace).
VM_WRAP=(timeout -s KILL 300)
vm() {
    "${VM_WRAP[@]}" "$VMSNAP" "$@"
}

log() {
    [ "$verbose" = 1 ] && printf '%s\n' "$*" | sed 's/^/# /'
    return 0
}

# The pids of vmsnap and qemu-img processes working in data dir $1.
ours() {
    VMSNAP=$VMSNAP "$SRCDIR/tests/fault/check-invariants.sh" --procs-only \
        "$1" | sed -n 's/^FAIL [^:]*: //p' | tr ' ' '\n' | grep -E '^[0-9]+$'
}

kill_ours() {
    local p
    [ -d "$1" ] || return 0
    for p in $(ours "$1"); do
        kill -9 "$p" 2>/dev/null
    done
}

# ---- Operations --------------------------------------------------------
# Each operation OP has setup_OP (makes the state it starts from, in $D,
# once) and run_OP (the command under test, run in a copy of that state).

mkqcow2() {  # mkqcow2 FILE SIZE DATA_MIB: a qcow2 with DATA_MIB of data
    qemu-img create -q -f qcow2 "$1" "$2" &&
        qemu-io -f qcow2 -c "write -P 0x5a 0 ${3}M" \
            -c "write -P 0xa5 $(($3 * 2))M 1M" "$1" >/dev/null
}

src() {  # the file the images are made from
    [ -f "$W/src.qcow2" ] || mkqcow2 "$W/src.qcow2" 32M 4
}

setup_image_create() {
    src && vm image list >/dev/null
}
run_image_create() {
    vm image create new --file "$W/src.qcow2" --disk-format qcow2
}

setup_image_delete() {
    src && vm image create base --file "$W/src.qcow2" --disk-format qcow2
}
run_image_delete() {
    vm image delete base
}

setup_image_save() {
    setup_image_delete
}
run_image_save() {
    vm image save --file "$W/out/saved.qcow2" base
}

setup_image_export() {
    setup_image_delete
}
run_image_export() {
    vm image export base --file "$W/out/base.ova"
}

setup_image_import() {
    setup_image_delete >/dev/null &&
        vm image export base --file "$W/pkg.ova" >/dev/null &&
        vm image delete base
}
run_image_import() {
    vm image import "$W/pkg.ova" --name imported
}

setup_volume_create() {
    setup_image_delete
}
run_volume_create() {
    vm volume create vol1 --image base
}

setup_volume_delete() {
    setup_image_delete >/dev/null && vm volume create vol1 --size 16M
}
run_volume_delete() {
    vm volume delete vol1
}

# A stopped instance: a blank disk with some data, booted (no guest OS is
# needed: the BIOS finds nothing and waits) and stopped by force.
setup_server_image_create() {
    mkqcow2 "$W/disk.qcow2" 64M 8 &&
        vm image create disk --file "$W/disk.qcow2" --disk-format qcow2 \
            >/dev/null &&
        vm server create s1 --image disk --memory 64 --accel tcg >/dev/null &&
        vm server stop --timeout 1 s1 >/dev/null
}
run_server_image_create() {
    vm server image create --name snap1 s1
}

# The same stopped instance with a volume, and one backup of both disks
# in the chunk store already: the case makes the next, whose rotation
# deletes the first (its indexes leave the store).
setup_server_backup_store() {
    setup_server_image_create >/dev/null &&
        vm volume create v1 --size 16M >/dev/null &&
        vm server add volume s1 v1 >/dev/null &&
        run_server_backup_store b0 >/dev/null
}
run_server_backup_store() {
    vm server backup create --incremental --all-volumes --backup-type daily \
        --rotation 1 --name "${1:-b1}" s1
}

ALL_OPS="image-create image-delete image-save image-export image-import
volume-create volume-delete server-image-create server-backup-store"
VM_POINTS="anywrite sync rename unlink creat exec"
HELPER_POINTS="anywrite sync"
VM_FAULTS="kill enospc eio"
HELPER_FAULTS="helper-kill helper-enospc parent-kill"

fn() {  # fn PREFIX OP: the function name for an operation
    echo "${1}_${2//-/_}"
}

want() {  # want ITEM LIST: is ITEM in the comma list (or the list empty)?
    [ -z "$2" ] || [[ ",$2," == *",$1,"* ]]
}

# The rule for VMSNAP_FAULT of fault type $1 at point $2, call $3.
# The point sockwrite is vmsnap's Nth write to a socket (QMP, the guest
# agent): the shim's path filter sees an fd's link, "socket:[INODE]".
rule() {
    local base="op=$2,n=$3,path=$W/,log=$W/fired"
    [ "$2" = sockwrite ] &&
        base="op=anywrite+send,n=$3,path=socket:,log=$W/fired"
    case $1 in
    kill) echo "prog=vmsnap,$base,action=kill" ;;
    enospc) echo "prog=vmsnap,$base,action=errno:ENOSPC,once=0" ;;
    eio) echo "prog=vmsnap,$base,action=errno:EIO,once=1" ;;
    helper-kill) echo "prog=qemu-img,$base,action=kill" ;;
    helper-enospc) echo "prog=qemu-img,$base,action=errno:ENOSPC,once=0" ;;
    parent-kill) echo "prog=qemu-img,$base,action=killparent" ;;
    *) return 1 ;;
    esac
}

# ---- Templates and counts ----------------------------------------------

restore() {  # restore OP: $D becomes a copy of OP's starting state
    rm -rf "$D" "$W/out"
    cp -a "$W/tpl/$1" "$D" && mkdir -p "$W/out"
}

# Make the starting state of OP once, then count its calls: the range of
# N for each point.  Writes $W/counts/OP as lines "PROG POINT MAX".
prepare() {
    local op=$1 f
    [ -d "$W/tpl/$op" ] && return 0
    rm -rf "$D"
    mkdir -p "$W/tpl" "$W/counts" "$W/out"
    if ! out=$("$(fn setup "$op")" 2>&1); then
        echo "# setup of $op failed: $out"
        return 1
    fi
    # The template must not hold a running QEMU: s1 was stopped.
    cp -a "$D" "$W/tpl/$op"
    restore "$op"
    f=$W/counts/$op.raw
    rm -f "$f"
    VMSNAP_FAULT="counts=$f,path=$W/" LD_PRELOAD=$FAULTINJ \
        "$(fn run "$op")" >"$W/cmd.out" 2>&1
    summarize "$f" >"$W/counts/$op"
}

# Read the shim's counts file: per process, the sum over each point's
# ops; per program, the largest.  Prints "PROG POINT MAX" lines.
summarize() {
    python3 - "$1" <<'PY'
import sys
points = {"anywrite": ("write", "pwrite", "writev"),
          "sockwrite": ("write", "pwrite", "writev", "send"),
          "sync": ("fsync", "fdatasync"), "rename": ("rename",),
          "unlink": ("unlink",), "creat": ("creat",), "exec": ("exec",),
          "open": ("open",), "mkdir": ("mkdir",)}
per = {}
try:
    lines = open(sys.argv[1]).readlines()
except OSError:
    lines = []
for line in lines:
    prog, pid, op, n = line.split()
    per.setdefault((prog, pid), {})[op] = int(n)
best = {}
for (prog, pid), ops in per.items():
    for p, members in points.items():
        v = sum(ops.get(m, 0) for m in members)
        best[(prog, p)] = max(best.get((prog, p), 0), v)
for (prog, p), v in sorted(best.items()):
    print(prog, p, v)
PY
}

count_of() {  # count_of OP PROG POINT
    awk -v p="$2" -v q="$3" '$1 == p && $2 == q {print $3}' "$W/counts/$1"
}

# ENOSPC is what writes, creates, syncs and renames can fail with, not
# unlink or exec; every point can fail with EIO or be killed at.
realistic() {  # realistic FAULT POINT
    case $1/$2 in
    enospc/unlink|enospc/exec|enospc/sockwrite) return 1 ;;
    esac
    return 0
}

# Every case of the matrix, one a line: op=...,at=...,n=...,fault=...
enumerate() {
    local op at n f max
    for op in $ALL_OPS; do
        want "$op" "$ops_filter" || continue
        prepare "$op" >&2 || continue
        for at in $VM_POINTS; do
            want "$at" "$points_filter" || continue
            max=$(count_of "$op" vmsnap "$at")
            for n in $(seq 1 "${max:-0}"); do
                for f in $VM_FAULTS; do
                    realistic "$f" "$at" && want "$f" "$faults_filter" &&
                        echo "op=$op,at=$at,n=$n,fault=$f"
                done
            done
        done
        for at in $HELPER_POINTS; do
            want "$at" "$points_filter" || continue
            max=$(count_of "$op" qemu-img "$at")
            for n in $(seq 1 "${max:-0}"); do
                for f in $HELPER_FAULTS; do
                    [ "$f" = parent-kill ] && [ "$at" != anywrite ] &&
                        continue
                    want "$f" "$faults_filter" &&
                        echo "op=$op,at=$at,n=$n,fault=$f"
                done
            done
        done
    done
}

# K cases out of the list on stdin, chosen by SEED: each case is ranked by
# a hash of the seed and its own spec, so that its rank does not depend on
# which other cases exist (qemu-img's counts vary by a few from run to
# run); the operations then take turns, so that every one is represented.
pick() {  # pick K SEED
    python3 -c '
import hashlib, sys
k, seed = int(sys.argv[1]), sys.argv[2]
def rank(case):
    return hashlib.sha256((seed + ":" + case).encode()).hexdigest()
by_op = {}
for line in sys.stdin:
    line = line.strip()
    if line:
        by_op.setdefault(line.split(",")[0], []).append(line)
for op in by_op:
    by_op[op].sort(key=rank, reverse=True)
out = []
while len(out) < k and any(by_op.values()):
    for op in sorted(by_op):
        if by_op[op] and len(out) < k:
            out.append(by_op[op].pop())
print("\n".join(out))' "$1" "$2"
}

# ---- One case ----------------------------------------------------------

T_COUNT=0
T_FAILED=0
declare -A FAILED_BY

field() {  # field NAME CASE
    sed -n "s/.*\\b$1=\\([^,]*\\).*/\\1/p" <<<"$2"
}

# Run one case in $D (or $LIVE_D for live ones); print its TAP line.
run_case() {
    local c=$1 op at n fault r rc killed=0 out why="" fired i dir
    op=$(field op "$c") at=$(field at "$c") n=$(field n "$c")
    fault=$(field fault "$c")
    r=$(rule "$fault" "$at" "$n") || { echo "# bad case $c"; return 1; }
    if [ "$op" = server-image-create-live ]; then
        dir=$LIVE_D
    else
        dir=$D
        if ! prepare "$op" || ! restore "$op"; then
            T_COUNT=$((T_COUNT + 1)) T_FAILED=$((T_FAILED + 1))
            echo "not ok $T_COUNT - $c: set-up of $op failed"
            return 1
        fi
    fi
    rm -f "$W/fired"
    # Output to a file, not a pipe: a helper that outlives vmsnap would
    # hold a pipe open and make the shell wait for it.
    if [ "$engine" = strace ]; then
        strace_run "$op" "$at" "$n" "$fault" >"$W/cmd.out" 2>&1
        rc=$?
    else
        VMSNAP_DATA_DIR=$dir VMSNAP_FAULT=$r LD_PRELOAD=$FAULTINJ \
            "$(fn run "$op")" >"$W/cmd.out" 2>&1
        rc=$?
    fi
    out=$(head -c 2000 "$W/cmd.out")
    log "$c: rc $rc: $out"
    fired=$(cat "$W/fired" 2>/dev/null)
    # strace keeps no log of what it injected; a kill shows in the status.
    if [ "$engine" = strace ]; then
        fired="strace inject (exit status $rc)"
    fi
    case $fault in
    kill|parent-kill) [ -n "$fired" ] && killed=1 ;;
    esac
    [ $rc = 137 ] && killed=1
    # SIGKILL without a kill fault is VM_WRAP's timeout: the command hung.
    local hung=""
    case $fault in
    kill|parent-kill) ;;
    *) [ $rc = 137 ] && hung="FAIL ended on its own: it hung until the harness killed it" ;;
    esac
    # A helper that dies with its parent (PR_SET_PDEATHSIG) is gone within
    # milliseconds; one that outlives it is held for 2 s by the shim's
    # killparent: look once, 0.3 s on.  A live snapshot's watchdog may
    # take a while to thaw: give it 15 s.
    if [ "$dir" = "$LIVE_D" ]; then
        for i in $(seq 1 150); do
            [ -z "$(ours "$dir")" ] && break
            sleep 0.1
        done
    else
        sleep 0.3
    fi
    why=$hung$'\n'$(VMSNAP=$VMSNAP "$SRCDIR/tests/fault/check-invariants.sh" \
          --procs-only "$dir")
    kill_ours "$dir"
    # Past the reaper's grace for temporary directories.
    find "$dir/tmp" -mindepth 1 -maxdepth 1 \
        -exec touch -h -d "@$(($(date +%s) - 3600))" {} + 2>/dev/null
    why+=$(VMSNAP=$VMSNAP "$SRCDIR/tests/fault/check-invariants.sh" \
           $([ $killed = 0 ] && echo --returned) \
           $([ "$fault" = enospc ] && echo --left "$W/cmd.out") \
           $([ "$dir" = "$LIVE_D" ] && echo --server live1) "$dir" |
           grep '^FAIL' | sed 's/^/\n/')
    # A partial output left where the user asked for the file.
    for f in "$W"/out/*; do
        [ -e "$f" ] || continue
        case $f in
        *.part*) why+=$'\n'"FAIL no partial output left: ${f#"$W"/}" ;;
        esac
    done
    why=$(sed '/^$/d' <<<"$why")
    T_COUNT=$((T_COUNT + 1))
    if [ -z "$why" ]; then
        echo "ok $T_COUNT - $c seed=$seed${fired:+ (fired)}"
    else
        T_FAILED=$((T_FAILED + 1))
        echo "not ok $T_COUNT - $c seed=$seed"
        echo "# replay: scripts/fault-matrix.sh --case '$c'"
        [ -n "$fired" ] && sed 's/^/# fault: /' <<<"$fired"
        echo "# command exit status $rc: $(head -c 300 <<<"$out" | tr '\n' ' ')"
        sed 's/^/#   /' <<<"$why"
        while read -r inv; do
            FAILED_BY[$inv]=$((${FAILED_BY[$inv]:-0} + 1))
        done < <(sed -n 's/^FAIL \([^:]*\):.*/\1/p' <<<"$why")
    fi
    [ -z "$fired" ] && echo "# $c: the fault was not reached"
    if [ "$dir" = "$LIVE_D" ]; then
        live_reset
    fi
}

# The same case injected with strace: per-syscall counts, no path prefix
# (strace -P takes exact paths), the qemu-img faults not at all.
strace_run() {  # strace_run OP AT N FAULT
    local calls act
    case $2 in
    anywrite) calls=write,pwrite64,writev,pwritev,pwritev2 ;;
    sync) calls=fsync,fdatasync ;;
    rename) calls=rename,renameat,renameat2 ;;
    unlink) calls=unlink,unlinkat ;;
    creat) calls=open,openat,creat ;;
    exec) calls=execve ;;
    esac
    case $4 in
    kill) act="signal=KILL:when=$3" ;;
    enospc) act="error=ENOSPC:when=$3+" ;;
    eio) act="error=EIO:when=$3" ;;
    *) echo "strace engine: no helper faults" >&2; return 2 ;;
    esac
    VM_WRAP=(timeout -s KILL 300 strace -f -qq -o /dev/null
             -e "inject=$calls:$act")
    "$(fn run "$1")"
}

# ---- Live snapshots ----------------------------------------------------
# A running guest with its agent, shared by the live cases: each case
# snapshots it once, then the image is deleted.

live_setup() {
    local g i
    [ -d "$LIVE_D" ] && return 0
    g=${VMSNAP_GUEST_DIR:-$("$SRCDIR/guest/build-guest.sh" --print-dir)} ||
        return 1
    (
        export VMSNAP_DATA_DIR=$LIVE_D
        kid=$(vm image create k --file "$g/vmlinuz" --disk-format aki \
              -f value -c id) &&
        rid=$(vm image create r --file "$g/initrd.img" --disk-format ari \
              -f value -c id) &&
        vm image create guest --file "$g/root.qcow2" --disk-format qcow2 \
            --property kernel_id="$kid" --property ramdisk_id="$rid" \
            --property hw_qemu_guest_agent=yes >/dev/null &&
        vm server create live1 --image guest >/dev/null || exit 1
        for i in $(seq 1 120); do
            vm agent ping live1 >/dev/null 2>&1 && exit 0
            sleep 1
        done
        exit 1
    )
}

run_server_image_create_live() {
    vm server image create --name live-snap live1
}

# After a live case has been checked: thaw, delete its image, and remove
# what it left (already reported), so that the next case starts clean.
live_reset() {
    local id f
    VMSNAP_DATA_DIR=$LIVE_D vm agent command live1 \
        '{"execute":"guest-fsfreeze-thaw"}' >/dev/null 2>&1
    VMSNAP=$VMSNAP "$SRCDIR/tests/fault/check-invariants.sh" --no-reap \
        "$LIVE_D" |
        sed -n 's/^FAIL no stale tmp entry: \([^ ]*\).*/\1/p
                s/^FAIL no file without a record: \([^ ]*\).*/\1/p' |
        while read -r f; do
            rm -rf "${LIVE_D:?}/$f"
        done
    id=$(VMSNAP_DATA_DIR=$LIVE_D vm image show live-snap -f value -c id \
         2>/dev/null) && VMSNAP_DATA_DIR=$LIVE_D vm image delete "$id" \
         >/dev/null 2>&1
}

live_cases() {  # live_cases K: K seeded live cases from the counted range
    local f max
    live_setup >&2 || { echo "# live setup failed" >&2; return 1; }
    mkdir -p "$W/counts"
    f=$W/counts/live.raw
    VMSNAP_DATA_DIR=$LIVE_D VMSNAP_FAULT="counts=$f,path=$W/" \
        LD_PRELOAD=$FAULTINJ run_server_image_create_live >/dev/null 2>&1
    live_reset
    summarize "$f" | grep -v " sockwrite " \
        >"$W/counts/server-image-create-live"
    f=$W/counts/live-sock.raw
    VMSNAP_DATA_DIR=$LIVE_D VMSNAP_FAULT="counts=$f,path=socket:" \
        LD_PRELOAD=$FAULTINJ run_server_image_create_live >/dev/null 2>&1
    live_reset
    summarize "$f" | grep '^vmsnap sockwrite ' \
        >>"$W/counts/server-image-create-live"
    for at in $VM_POINTS sockwrite; do
        want "$at" "$points_filter" || continue
        max=$(count_of server-image-create-live vmsnap "$at")
        for n in $(seq 1 "${max:-0}"); do
            for fault in $VM_FAULTS; do
                realistic "$fault" "$at" && want "$fault" "$faults_filter" &&
                    echo "op=server-image-create-live,at=$at,n=$n,fault=$fault"
            done
        done
    done | pick "$1" "$seed"
}

# ---- Main --------------------------------------------------------------

case $mode in
list)
    enumerate
    exit 0
    ;;
case)
    if grep -q '^op=server-image-create-live,' <<<"$only_case"; then
        live_setup || { echo "not ok 1 - live setup"; echo "1..1"; exit 1; }
    fi
    while read -r c; do
        [ -n "$c" ] && run_case "$c"
    done <<<"$only_case"
    ;;
full|sample)
    cases=$(enumerate)
    total=$(grep -c . <<<"$cases")
    if [ "$mode" = sample ]; then
        cases=$(pick "$sample" "$seed" <<<"$cases")
    fi
    echo "# $(grep -c . <<<"$cases") of $total cases (seed $seed)"
    while read -r c; do
        [ -n "$c" ] && run_case "$c"
    done <<<"$cases"
    if [ "$live" -gt 0 ] && want server-image-create-live "$ops_filter"; then
        if lc=$(live_cases "$live") && [ -n "$lc" ]; then
            while read -r c; do
                [ -n "$c" ] && run_case "$c"
            done <<<"$lc"
        else
            T_COUNT=$((T_COUNT + 1)) T_FAILED=$((T_FAILED + 1))
            echo "not ok $T_COUNT - live snapshot set-up (guest and agent)"
        fi
    fi
    ;;
esac

for inv in "${!FAILED_BY[@]}"; do
    echo "# failed invariant: $inv: ${FAILED_BY[$inv]} cases"
done
echo "# $T_COUNT cases, $T_FAILED failing"
echo "1..$T_COUNT"
[ "$T_FAILED" -eq 0 ]
