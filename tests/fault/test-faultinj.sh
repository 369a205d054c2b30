#!/bin/bash
# Tests of the fault-injection shim (tests/fault/faultinj.c) on a small
# victim program (tests/fault/test-faultinj.c) that prints one line per
# call: "CALL RESULT ERRNO".  Speaks TAP.
#
# Environment (set by meson): FAULTINJ (the shim), VICTIM (the program).
set -u
: "${FAULTINJ:?FAULTINJ must name faultinj.so}"
: "${VICTIM:?VICTIM must name the test-faultinj program}"

n=0 failed=0
ok() {  # ok STATUS DESCRIPTION
    local rc=$1
    shift
    n=$((n + 1))
    if [ "$rc" -eq 0 ]; then
        echo "ok $n - $*"
    else
        echo "not ok $n - $*"
        failed=$((failed + 1))
    fi
}

T=$(mktemp -d /tmp/faultinj-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
D=$T/data
mkdir "$D"
D=$(realpath "$D")

# run SPEC: run the victim under the shim with VMSNAP_FAULT=SPEC; its
# output goes to $T/out, its exit status to $rc (128+N for signal N).
run() {
    rm -f "$D"/* "$T/out"
    rmdir "$D/c" 2>/dev/null
    VMSNAP_FAULT=$1 LD_PRELOAD=$FAULTINJ "$VICTIM" "$D" >"$T/out" 2>"$T/err"
    rc=$?
}

line() {  # line CALL: the victim's line for CALL
    grep -m1 "^$1 " "$T/out"
}

# Without VMSNAP_FAULT the shim changes nothing.
LD_PRELOAD=$FAULTINJ "$VICTIM" "$D" >"$T/out" 2>&1
ok $? "no rule: the victim runs"
ok "$(grep -vc ' - *$' "$T/out")" "no rule: every call succeeds"
ok "$(test "$(line stat-size)" = "stat-size 110 -"; echo $?)" \
    "no rule: the file ends at 110 (pwrite at 100)"

# The 3rd write fails with the errno, once.
run "op=write,n=3,action=errno:ENOSPC"
ok $rc "errno once: the victim finishes"
ok "$(test "$(line write3)" = "write3 -1 ENOSPC"; echo $?)" \
    "errno once: the 3rd write fails with ENOSPC"
ok "$(test "$(line write2)/$(line write4)" = "write2 10 -/write4 10 -"
      echo $?)" "errno once: the 2nd and 4th succeed"

# From N on (once=0), and a run of K (count=K).
run "op=write,n=4,action=errno:EIO,once=0"
ok "$(test "$(line write3)/$(line write4)/$(line write5)" = \
      "write3 10 -/write4 -1 EIO/write5 -1 EIO"; echo $?)" \
    "once=0: every write from the 4th fails"
run "op=write,n=2,action=errno:EINTR,count=2"
ok "$(test "$(line write2)/$(line write3)/$(line write4)" = \
      "write2 -1 EINTR/write3 -1 EINTR/write4 10 -"; echo $?)" \
    "count=2: an EINTR storm of two calls, then success"

# SIGKILL at the Nth call: nothing after it runs.
run "op=fsync,n=1,action=kill"
ok "$(test $rc = 137; echo $?)" "kill: the victim dies of SIGKILL"
ok "$(test "$(line writev)" = "writev 10 -"; echo $?)" \
    "kill: it got as far as the writev before the fsync"
ok "$(! grep -q '^fsync\|^fdatasync' "$T/out"; echo $?)" \
    "kill: the fsync never returned"

# The path filter: writes to /dev/null are not counted, so the 6th write
# under the data directory is none (there are five) and nothing fails;
# without the filter, the 6th write is the first to /dev/null.
run "op=write,n=6,action=errno:EIO,path=$D/"
ok "$(grep -q ' -1 ' "$T/out"; test $? = 1; echo $?)" \
    "path filter: calls outside the prefix are not counted"
run "op=write,n=6,action=errno:EIO"
ok "$(grep -c '^write-null -1 EIO' "$T/out" | grep -qx 1; echo $?)" \
    "no path filter: the 6th write is the first to /dev/null"
run "op=write,n=1,action=errno:EIO,path=/nonexistent/"
ok "$(grep -q ' -1 ' "$T/out"; test $? = 1; echo $?)" \
    "path filter elsewhere: nothing fails"

# Each kind of call can be the one that faults.
for spec in "pwrite:pwrite" "writev:writev" "fdatasync:fdatasync" \
        "rename:rename" "unlink:unlink" "mkdir:mkdir" "creat:creat"; do
    op=${spec%%:*} call=${spec#*:}
    run "op=$op,n=1,action=errno:EROFS,path=$D/"
    ok "$(test "$(line "$call")" = "$call -1 EROFS"; echo $?)" \
        "op=$op: the first $call fails with EROFS"
done
run "op=open,n=2,action=errno:EACCES,path=$D/"
ok "$(test "$(line creat)/$(line open-ro)" = "creat 3 -/open-ro -1 EACCES"
      echo $?)" "op=open: the 2nd open under the prefix fails"
run "op=exec,n=1,action=errno:ENOENT"
ok "$(test "$(line exec)" = "exec 127 -"; echo $?)" \
    "op=exec: the helper's exec fails (counted in the forked child)"
run "op=anywrite,n=6,action=errno:EIO,path=$D/"
ok "$(test "$(line pwrite)" = "pwrite -1 EIO"; echo $?)" \
    "op=anywrite: write, pwrite and writev share one count"

# Sockets: path=socket: selects the writes and sends to sockets.
run "op=send+write,n=1,action=errno:EIO,path=socket:"
ok "$(test "$(line send)/$(line write-socket)/$(line write1)" = \
      "send -1 EIO/write-socket 3 -/write1 10 -"; echo $?)" \
    "op=send: a send to a socket fails; file writes are not counted"
run "op=send+write,n=2,action=errno:EPERM,path=socket:"
ok "$(test "$(line send)/$(line write-socket)" = \
      "send 3 -/write-socket -1 EPERM"; echo $?)" \
    "op=send+write: a write to a socket counts with the sends"

# A short write writes half.
run "op=write,n=1,action=short,path=$D/"
ok "$(test "$(line write1)/$(line stat-size)" = "write1 5 -/stat-size 110 -"
      echo $?)" "action=short: the write writes half of its bytes"

# prog= limits the shim to programs of that name.
run "op=write,n=1,action=errno:EIO,prog=no-such-program"
ok "$(grep -q ' -1 ' "$T/out"; test $? = 1; echo $?)" \
    "prog=: another program is left alone"
run "op=write,n=1,action=errno:EIO,prog=$(basename "$VICTIM")"
ok "$(test "$(line write1)" = "write1 -1 EIO"; echo $?)" \
    "prog=: the named program is hit"

# Counting mode: totals per op at exit, and a log of every fault.
run "counts=$T/counts,path=$D/"
ok $rc "counting: the victim finishes"
victim=$(basename "$VICTIM")
counts=$(awk -v p="$victim" '$1 == p {print $3 "=" $4}' "$T/counts" |
         sort | tr '\n' ' ')
ok "$(test "$counts" = "creat=1 exec=1 fdatasync=1 fsync=1 ftruncate=0 \
mkdir=1 open=2 pwrite=1 rename=1 send=0 unlink=1 write=5 writev=1 "
      echo $?)" \
    "counting: the counts of each op under the prefix"
[ "$(awk '$1 == "true"' "$T/counts" | grep -c .)" = 13 ]
ok $? "counting: the exec'd helper writes its own counts (13 ops)"
run "op=sync,n=2,action=errno:EIO,count=0,log=$T/log,path=$D/"
ok "$(test "$(cut -d' ' -f3- "$T/log")" = \
      "fdatasync #2 EIO $D/a"; echo $?)" "log: one line per injected fault"
ok "$(test "$(line fsync)/$(line fdatasync)" = "fsync 0 -/fdatasync -1 EIO"
      echo $?)" "op=sync: fsync and fdatasync share one count"

# killparent: the helper's call kills its parent and goes on.
sh -c 'echo $$ >"$1/sh.pid"; VMSNAP_FAULT=op=write,n=1,action=killparent \
    LD_PRELOAD=$2 "$3" "$1" >/dev/null; echo survived >"$1/sh.out"' \
    sh "$T" "$FAULTINJ" "$VICTIM"
rc=$?
ok "$(test $rc = 137 -a ! -e "$T/sh.out"; echo $?)" \
    "killparent: the parent dies of SIGKILL"
rm -f "$T/sh.pid" "$T/sh.out"

# A bad rule stops the program at load, loudly.
run "op=wirte,n=1"
ok "$(test $rc = 125 && grep -q "unknown op 'wirte'" "$T/err"; echo $?)" \
    "a bad rule exits 125 with a message"
run "op=write"
ok "$(test $rc = 125; echo $?)" "op without n is refused"
run "op=fsync,n=1,action=short"
ok "$(test $rc = 125; echo $?)" "short on a non-write is refused"

echo "1..$n"
[ "$failed" -eq 0 ]
