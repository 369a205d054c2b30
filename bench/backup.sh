#!/bin/bash
# Benchmark of incremental backups into the chunk store (issue 12).  A
# script, not a test: it prints figures, ratios against baselines
# measured in the same run, and each goal.
#
# One server on a 4 GiB root disk holding 2 GiB of data (half random,
# half shared libraries):
#  1. full backup: time and bytes stored; the copy's throughput against
#     qemu-img convert of the same disk, plain and compressed (-c), in
#     the same run (goal: >= 1.0, compression included), once for the
#     full made beside the guest's writer of part 2 (the one that never
#     gives way: it copies as fast as it can) and once for a full
#     made with the guest idle, as convert runs (the first of part 4's);
#  2. the guest's own write throughput (bench/guest-writer.c, 4 KiB
#     records, fdatasync every 8th) during the full backup against idle
#     (the mean of a run before and one after it; goal: >= 70 %), and its
#     longest stall, with the copy giving way to the guest as by default
#     (snapshot.copy_yield_pct=5); then the same during a full that never
#     gives way (0), and one that does not but is limited to RATE per
#     second per disk (snapshot.copy_rate_limit; default 64M);
#  3. 1 % of the data changed by random 64 KiB writes spread over it, and
#     1 % as one new sequential file: each incremental's time and bytes
#     against the full's (goals: bytes <= 3 %, time <= 5 %), the copy's
#     (vmsnap_copy_ms) and the whole command's, which adds the chain's
#     check, the guest's freeze and the catalog;
#  4. in a second data directory, five servers booted from one base image,
#     each changed 1 % at random and backed up: the store's size against
#     one full's (goal: <= 1.3; five full copies would be 5).
#
# Usage: [RATE=64M] bench/backup.sh [DATA_MB] (default 2048).  As root.  About 30 min
# here under TCG.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
data_mb=${1:-2048}
change_mb=$((data_mb / 100))

scripts/setup.sh
export VMSNAP_DATA_DIR
base=$(mktemp -d /tmp/vmsnap-bench-backup.XXXXXX)
work=$base/work
mkdir -p "$work"
VMSNAP_DATA_DIR=$base/d1
cleanup() {
    for d in "$base"/d*; do
        VMSNAP_DATA_DIR=$d
        for s in $(vmsnap server list -f value -c Name 2>/dev/null); do
            vmsnap server delete "$s" >/dev/null 2>&1 || true
        done
    done
    rm -rf "$base"
}
trap cleanup EXIT

echo "building the bench image (4 GiB disk, $data_mb MiB of data)..." >&2
make_bench_root "$work/root.qcow2" 4G "$data_mb" "$work"
register_root broot "$work/root.qcow2"
vmsnap server create b --image broot >/dev/null
wait_agent b
id=$(vmsnap server show b -f value -c id)
disk=$VMSNAP_DATA_DIR/instances/$id/root.qcow2

backup() {  # backup NAME: prints the image's JSON; the command's wall
    local t0       # time (ms) goes to $work/wall.NAME
    t0=$(ms_now)
    vmsnap server backup create --incremental --backup-type bench \
        --rotation 100 --name "$1" b -f json
    echo $(( $(ms_now) - t0 )) > "$work/wall.$1"
}
wall() { cat "$work/wall.$1"; }

# 2. Idle writes first, then the full backup with the writer running.
idle=$(writer_idle b 15)
writer_start b
full=$(backup full)
during=$(writer_stop b)
idle2=$(writer_idle b 15)
full_stored=$(propval "$full" vmsnap_backup_bytes_stored)
full_read=$(propval "$full" vmsnap_backup_bytes_read)

# 2b. Again never giving way, then rate-limited instead (snapshot.
# copy_rate_limit=RATE), each time with the previous full deleted and its
# chunks collected, so that this one is full too and stores every chunk
# anew (a full finding its chunks in the store only reads and hashes).
# The full that never gives way is the one the copy's throughput and the
# incrementals' time are measured against: it runs as fast as it can
# beside the writer.
rate=${RATE:-64M}
vmsnap image delete full >/dev/null
vmsnap store gc --grace 0 >/dev/null
writer_start b
full0=$(VMSNAP_COPY_YIELD_PCT=0 backup full0)
during0=$(writer_stop b)
full_ms=$(propval "$full0" vmsnap_copy_ms)
vmsnap image delete full0 >/dev/null
vmsnap store gc --grace 0 >/dev/null
writer_start b
full_rl=$(VMSNAP_COPY_YIELD_PCT=0 VMSNAP_COPY_RATE_LIMIT=$rate backup full-rl)
during_rl=$(writer_stop b)

# 1. The same disk through qemu-img convert, plain and compressed, now
# (the guest idle, as it was not during the backup: the baseline is kind).
t0=$(ms_now)
qemu-img convert -U -O qcow2 "$disk" "$work/conv.qcow2"
conv_ms=$(( $(ms_now) - t0 ))
rm -f "$work/conv.qcow2"
t0=$(ms_now)
qemu-img convert -U -c -O qcow2 "$disk" "$work/conv.qcow2"
convc_ms=$(( $(ms_now) - t0 ))
rm -f "$work/conv.qcow2"

# 3. 1 % random, then 1 % sequential.  First a backup that takes in
# what the writer of part 2 wrote after full-rl's point in time (up to
# 450 MiB): the incrementals below then hold the 1 % change alone.
gsh b sync >/dev/null
backup settle >/dev/null
gsh b "/usr/local/bin/guest-writer --random /data/random.bin $((change_mb / 2)) &&
       /usr/local/bin/guest-writer --random /data/lib.bin $((change_mb - change_mb / 2))" >/dev/null
rnd=$(backup rnd)
gsh b "dd if=/dev/urandom of=/root/seq.bin bs=1M count=$change_mb 2>/dev/null && sync" >/dev/null
seq=$(backup seq)
store1=$(vmsnap store show -f json)
vmsnap server delete b >/dev/null

# 4. Five servers from one base, in a store of their own.
VMSNAP_DATA_DIR=$base/d2
register_root broot "$work/root.qcow2"
five_ms=()
five_yield=()
for i in 1 2 3 4 5; do
    vmsnap server create "i$i" --image broot >/dev/null
    wait_agent "i$i"
    gsh "i$i" "/usr/local/bin/guest-writer --random /data/random.bin $((change_mb / 2)) &&
               /usr/local/bin/guest-writer --random /data/lib.bin $((change_mb - change_mb / 2))" >/dev/null
    out=$(vmsnap server backup create --incremental --backup-type bench \
          --rotation 10 --name "i$i-b" "i$i" -f json)
    five_ms+=("$(propval "$out" vmsnap_copy_ms)")
    five_yield+=("$(propval "$out" vmsnap_copy_yield_ms)")
    vmsnap server delete "i$i" >/dev/null
done
store5=$(vmsnap store show -f json)

echo
echo "== issue 12: incremental backups into the chunk store ($(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "disk 4 GiB, data $data_mb MiB; change $change_mb MiB (1 %)"
echo "full backup beside the guest's writer, never giving way: ${full_ms} ms (the whole command: $(wall full0) ms), read $(mib "$full_read") MiB, stored $(mib "$full_stored") MiB"
echo "qemu-img convert of the same disk: ${conv_ms} ms; with -c: ${convc_ms} ms"
echo "  copy throughput against convert: $(ratio "$conv_ms" "$full_ms")," \
     "against convert -c: $(ratio "$convc_ms" "$full_ms") (goal >= 1.0, compression included)"
echo "full backup with the guest idle, as convert ran (the first of the five below," \
     "into an empty store): ${five_ms[0]} ms, of which giving way to the guest ${five_yield[0]} ms"
echo "  copy throughput against convert: $(ratio "$conv_ms" "${five_ms[0]}")," \
     "against convert -c: $(ratio "$convc_ms" "${five_ms[0]}") (goal >= 1.0, compression included)"
for c in rnd seq; do
    j=${!c}
    ms=$(propval "$j" vmsnap_copy_ms)
    st=$(propval "$j" vmsnap_backup_bytes_stored)
    rd=$(propval "$j" vmsnap_backup_bytes_read)
    echo "incremental after 1 % $( [ $c = rnd ] && echo random || echo sequential) change ($(propval "$j" vmsnap_backup_mode)):" \
         "${ms} ms, read $(mib "$rd") MiB, stored $(mib "$st") MiB;" \
         "bytes $(ratio "$st" "$full_stored") of the full's (goal <= 0.03)," \
         "time $(ratio "$ms" "$full_ms") (goal <= 0.05);" \
         "the whole command $(wall $c) ms, $(ratio "$(wall $c)" "$(wall full0)") of the full's"
done
echo "guest writes idle, before and after the full backup: $(wsum "$idle") $(wsum "$idle2")"
idle_rate=$(python3 -c 'import json, sys; print(sum(json.loads(a)["bytes_per_s"] for a in sys.argv[1:]) / 2)' "$idle" "$idle2")
echo "guest writes during the full backup giving way past 5 % (the default; $(propval "$full" vmsnap_copy_ms) ms," \
     "of which giving way $(propval "$full" vmsnap_copy_yield_ms) ms): $(wsum "$during")"
echo "  throughput during/idle: $(ratio "$(jval "$during" bytes_per_s)" "$idle_rate") (goal >= 0.70; idle: the mean of the two);" \
     "longest stall $(jval "$during" max_gap_ms) ms (idle $(jval "$idle" max_gap_ms) ms)"
echo "guest writes during a full backup never giving way ($full_ms ms): $(wsum "$during0")"
echo "  throughput during/idle: $(ratio "$(jval "$during0" bytes_per_s)" "$idle_rate") (goal >= 0.70);" \
     "longest stall $(jval "$during0" max_gap_ms) ms"
echo "guest writes during a full backup never giving way, limited to $rate/s per disk ($(propval "$full_rl" vmsnap_copy_ms) ms): $(wsum "$during_rl")"
echo "  throughput during/idle: $(ratio "$(jval "$during_rl" bytes_per_s)" "$idle_rate") (goal >= 0.70);" \
     "longest stall $(jval "$during_rl" max_gap_ms) ms"
s5=$(jval "$store5" stored_bytes)
echo "five servers from one base, each changed 1 %, backed up (${five_ms[*]} ms):" \
     "store $(mib "$s5") MiB, one full $(mib "$full_stored") MiB:" \
     "$(ratio "$s5" "$full_stored") x one full (goal <= 1.3; five fulls without dedup would be 5.0)"
echo "store of the first server: $(jval "$store1" stored_bytes) bytes, dedup ratio $(jval "$store1" dedup_ratio)"
