#!/bin/bash
# Tests of replay-log on a write log made by hand: entries, flushes, a
# discard, and a last entry cut off by the end of the log.  Speaks TAP.
# Environment (set by meson): REPLAY_LOG.
set -u
: "${REPLAY_LOG:?REPLAY_LOG must name the replay-log program}"
n=0 failed=0
ok() {
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
T=$(mktemp -d /tmp/replay-log-test.XXXXXX)
trap 'rm -rf "$T"' EXIT

# The log: 0 writes 'A' to sector 2; 1 flushes; 2 writes 'B' to sectors
# 0-1; 3 discards sector 2; 4 claims two sectors of 'C' but has one.
python3 - "$T/log" <<'PY'
import struct, sys
ss = 512
def entry(sector, nr, flags, data=b""):
    e = struct.pack("<QQQQ", sector, nr, flags, 0)
    return e + bytes(ss - len(e)) + data
log = struct.pack("<QQQI", 0x6a736677736872, 1, 2, ss)
log += bytes(ss - len(log))
log += entry(2, 1, 0, b"A" * ss)
log += entry(0, 0, 1)
log += entry(0, 2, 0, b"B" * 2 * ss)
log += entry(2, 1, 4)
log += entry(3, 2, 0, b"C" * ss)
open(sys.argv[1], "wb").write(log)
PY

out=$("$REPLAY_LOG" "$T/log")
ok $? "list: runs"
ok "$(test "$out" = $'flush 1\nentries 4 sectorsize 512'; echo $?)" \
    "list: one flush (entry 1), four whole entries"

head -c 4096 /dev/zero | tr '\0' 'x' >"$T/dev"
"$REPLAY_LOG" "$T/log" "$T/dev" 0 2
ok $? "replay to the flush"
ok "$(test "$(head -c 1024 "$T/dev" | tr -d x)$(dd if="$T/dev" bs=512 \
      skip=2 count=1 2>/dev/null | tr -d A)" = ""; echo $?)" \
    "  sector 2 holds A, sectors 0-1 are untouched"
"$REPLAY_LOG" "$T/log" "$T/dev" 2 4
ok $? "replay the rest, step by step"
ok "$(test "$(head -c 1024 "$T/dev" | tr -d B)$(dd if="$T/dev" bs=512 \
      skip=2 count=1 2>/dev/null | tr -d '\0')$(dd if="$T/dev" bs=512 \
      skip=3 count=5 2>/dev/null | tr -d x)" = ""; echo $?)" \
    "  B in 0-1, the discarded sector 2 zeroed, the cut entry not applied"
"$REPLAY_LOG" "$T/log" "$T/dev" 0 5 2>/dev/null
ok $((! $?)) "a range past the last whole entry is refused"
printf 'garbage' >"$T/bad"
"$REPLAY_LOG" "$T/bad" 2>/dev/null
ok $((! $?)) "a file that is not a log is refused"
echo "1..$n"
[ "$failed" -eq 0 ]
