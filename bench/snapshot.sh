#!/bin/bash
# Benchmark of the live snapshot: the freeze window and the copy (issue
# 15).  A script, not a test: this machine is shared and noisy, so it
# prints figures and ratios against baselines measured in the same run,
# each with its goal, and judges nothing.
#
# One server (the test guest plus bench/guest-writer.c); an ext4 data
# volume of 1 GiB, then 8 GiB, holding the same DATA_MB of data, attached
# and snapshotted with the root disk (--all-volumes, quiesced):
#  1. the freeze window as the guest sees it: the guest's fsfreeze hook
#     stamps the time (from /proc/uptime) as it starts before FIFREEZE and
#     as it runs after FITHAW; with a writer running in the guest (goal:
#     <= 250 ms with two file systems, 8 GiB / 1 GiB <= 1.2), and its
#     breakdown from vmsnap's side: the agent's freeze call (round trip,
#     hook, FIFREEZE), the transaction, the thaw call;
#  2. the copy against qemu-img convert of the same disks, and against
#     qemu-img convert followed by md5sum + sha512sum (Glance's hashes),
#     in the same run (goal: copy / convert <= 1.0; the copy hashes in
#     the same pass);
#  3. a 64 GiB volume holding the same data against the 8 GiB one (goal:
#     copy time ratio about 1: it grows with the data, not the size);
#  4. the guest's writes over a whole snapshot with a 2 GiB volume
#     holding DATA_MB: longest stall (goal <= 150 ms) and throughput
#     against idle (goal >= 70 %), with the copy at nice 0 and at
#     snapshot.copy_nice's default, 10;
#  5. a cold snapshot (server stopped) against qemu-img convert (goal:
#     ratio <= 1.0).
#
# Usage: bench/snapshot.sh [REPS] [DATA_MB] (defaults 3 and 512).  As root.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
reps=${1:-3}
data_mb=${2:-512}

scripts/setup.sh
export VMSNAP_DATA_DIR
VMSNAP_DATA_DIR=$(mktemp -d /tmp/vmsnap-bench.XXXXXX)
work=$VMSNAP_DATA_DIR/work
mkdir -p "$work"
cleanup() {
    vmsnap server delete bench >/dev/null 2>&1 || true
    rm -rf "$VMSNAP_DATA_DIR"
}
trap cleanup EXIT

make_bench_root "$work/root.qcow2" 1G 0 "$work"
register_root broot "$work/root.qcow2"
vmsnap server create bench --image broot >/dev/null
wait_agent bench
id=$(vmsnap server show bench -f value -c id)
root=$VMSNAP_DATA_DIR/instances/$id/root.qcow2

# The guest's window of the last freeze, in ms, from the hook's log.
guest_window() {
    gsh bench 'cat /var/log/fsfreeze-hook.log' | python3 -c '
import re, sys
f = t = None
for line in sys.stdin:
    m = re.match(r"\[([0-9.]+)\] (freeze|thaw)$", line.strip())
    if m and m.group(2) == "freeze":
        f, t = float(m.group(1)), None
    elif m and f is not None:
        t = float(m.group(1))
print(round((t - f) * 1000) if f is not None and t is not None else -1)'
}

# A qcow2 image holding an empty ext4 of SIZE, registered as NAME.
ext4_volume() {  # ext4_volume NAME SIZE
    truncate -s "$2" "$work/$1.raw"
    mke2fs -q -t ext4 -F -E lazy_itable_init=0,lazy_journal_init=0 "$work/$1.raw"
    qemu-img convert -O qcow2 "$work/$1.raw" "$work/$1.qcow2"
    rm -f "$work/$1.raw"
    vmsnap image create "$1" --file "$work/$1.qcow2" --disk-format qcow2 >/dev/null
    rm -f "$work/$1.qcow2"
    vmsnap volume create "$1" --image "$1" >/dev/null
}
attach_mount() {  # attach_mount VOLUME: attached and mounted on /mnt/b
    local vid i
    vmsnap server add volume bench "$1"
    vid=$(vmsnap volume show "$1" -f value -c id)
    for i in $(seq 1 60); do
        gsh bench "for d in /sys/block/vd*; do
            [ \"\$(cat \$d/serial)\" = ${vid:0:20} ] && mount /dev/\${d##*/} /mnt/b
        done; grep -q ' /mnt/b ' /proc/mounts" >/dev/null 2>&1 && return 0
        sleep 1
    done
    return 1
}
detach() {  # detach VOLUME
    gsh bench 'umount /mnt/b' >/dev/null 2>&1 || true
    vmsnap server remove volume bench "$1"
}

declare -A R
run_size() {  # run_size SIZE: snapshots with a SIZE volume of data
    local size=$1 vfile f=() h=() c=() x=() g=() k=() t=() cp=() cv=() ch=() r out
    ext4_volume "vol-$size" "$size"
    attach_mount "vol-$size"
    vfile=$(vmsnap volume show "vol-$size" -f value -c file)
    gsh bench "dd if=/dev/urandom of=/mnt/b/data bs=1M count=$data_mb 2>/dev/null && sync" >/dev/null
    writer_start bench
    for r in $(seq 1 "$reps"); do
        out=$(vmsnap server image create --all-volumes --name "s-$size-$r" bench -f json)
        f+=("$(propval "$out" vmsnap_freeze_ms)")
        h+=("$(propval "$out" vmsnap_hold_ms)")
        k+=("$(propval "$out" vmsnap_freeze_call_ms)")
        x+=("$(propval "$out" vmsnap_fix_ms)")
        t+=($(( $(propval "$out" vmsnap_freeze_ms) - $(propval "$out" vmsnap_freeze_call_ms) - $(propval "$out" vmsnap_hold_ms) )))
        c+=("$(propval "$out" vmsnap_copy_ms)")
        g+=("$(guest_window)")
        vmsnap image delete "s-$size-$r"
        # The baselines, alternating with the snapshots.
        local t0
        t0=$(ms_now)
        qemu-img convert -U -O qcow2 "$root" "$work/c-root.qcow2"
        qemu-img convert -U -O qcow2 "$vfile" "$work/c-vol.qcow2"
        cv+=($(( $(ms_now) - t0 )))
        md5sum "$work/c-root.qcow2" "$work/c-vol.qcow2" >/dev/null
        sha512sum "$work/c-root.qcow2" "$work/c-vol.qcow2" >/dev/null
        ch+=($(( $(ms_now) - t0 )))
        rm -f "$work/c-root.qcow2" "$work/c-vol.qcow2"
    done
    writer_stop bench >/dev/null
    R[$size.freeze]=$(printf '%s\n' "${f[@]}" | median)
    R[$size.hold]=$(printf '%s\n' "${h[@]}" | median)
    R[$size.call]=$(printf '%s\n' "${k[@]}" | median)
    R[$size.fix]=$(printf '%s\n' "${x[@]}" | median)
    R[$size.thaw]=$(printf '%s\n' "${t[@]}" | median)
    R[$size.guest]=$(printf '%s\n' "${g[@]}" | median)
    R[$size.copy]=$(printf '%s\n' "${c[@]}" | median)
    R[$size.convert]=$(printf '%s\n' "${cv[@]}" | median)
    R[$size.converthash]=$(printf '%s\n' "${ch[@]}" | median)
    echo "volume $size: guest window ms ${g[*]}; freeze ms ${f[*]}; agent freeze call ${k[*]};" \
         "transaction ${x[*]}; hold ${h[*]}; thaw ${t[*]}; copy ${c[*]};" \
         "convert ${cv[*]}; convert+hash ${ch[*]}" >&2
    detach "vol-$size"
}

for size in 1G 8G 64G; do
    run_size "$size"
done

# 4. Stalls and throughput with a 2 GiB volume holding DATA_MB, mounted,
# with the copy's threads at nice 0 and at snapshot.copy_nice's default
# (10), alternating.
ext4_volume vol-2G 2G
attach_mount vol-2G
gsh bench "dd if=/dev/urandom of=/mnt/b/data bs=1M count=$data_mb 2>/dev/null && sync" >/dev/null
idle=$(writer_idle bench 15)
declare -A D
for r in $(seq 1 "$reps"); do
    for n in 0 10; do
        writer_start bench
        VMSNAP_COPY_NICE=$n vmsnap server image create --all-volumes \
            --name "s-2g-$n-$r" bench >/dev/null
        D[$n]+="$(writer_stop bench | tr -d '\n')"$'\n'
        vmsnap image delete "s-2g-$n-$r"
    done
done
detach vol-2G

# 5. Cold.
vmsnap server stop bench >/dev/null
cold=()
ccv=()
for r in $(seq 1 "$reps"); do
    out=$(vmsnap server image create --name "cold-$r" bench -f json)
    cold+=("$(propval "$out" vmsnap_copy_ms)")
    vmsnap image delete "cold-$r"
    t0=$(ms_now)
    qemu-img convert -O qcow2 "$root" "$work/c-root.qcow2"
    ccv+=($(( $(ms_now) - t0 )))
    rm -f "$work/c-root.qcow2"
done

echo
echo "== issue 15: the freeze window and the copy ($(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg))"
echo "reps $reps, $data_mb MiB of data on the volume, root + volume frozen together, a writer running"
for size in 1G 8G; do
    echo "volume $size: freeze window as the guest sees it ${R[$size.guest]} ms (goal <= 250 ms, two file systems);" \
         "vmsnap's side: ${R[$size.freeze]} ms = agent freeze call ${R[$size.call]}" \
         "+ hold ${R[$size.hold]} (of which the transaction ${R[$size.fix]}) + thaw call ${R[$size.thaw]}"
done
echo "  window 8 GiB / 1 GiB: guest $(ratio "${R[8G.guest]}" "${R[1G.guest]}"), vmsnap $(ratio "${R[8G.freeze]}" "${R[1G.freeze]}") (goal <= 1.2)"
for size in 1G 8G 64G; do
    echo "copy with the $size volume: ${R[$size.copy]} ms (image file hashed in the same pass);" \
         "qemu-img convert ${R[$size.convert]} ms, convert + md5sum + sha512sum ${R[$size.converthash]} ms;" \
         "ratio copy/convert $(ratio "${R[$size.copy]}" "${R[$size.convert]}") (goal <= 1.0)," \
         "copy/(convert+hash) $(ratio "${R[$size.copy]}" "${R[$size.converthash]}")"
done
echo "  64 GiB / 8 GiB volume, same data: copy $(ratio "${R[64G.copy]}" "${R[8G.copy]}") (goal about 1)"
echo "guest writes idle: $idle"
for n in 0 10; do
    gaps=() rates=()
    while read -r line; do
        [ -n "$line" ] || continue
        gaps+=("$(jval "$line" max_gap_ms)")
        rates+=("$(jval "$line" bytes_per_s)")
    done <<<"${D[$n]}"
    echo "guest writes over a whole --all-volumes snapshot, 2 GiB volume holding $data_mb MiB, copy at nice $n:" \
         "longest stall ${gaps[*]} ms, median $(printf '%s\n' "${gaps[@]}" | median) (goal <= 150; idle $(jval "$idle" max_gap_ms));" \
         "throughput $(ratio "$(printf '%s\n' "${rates[@]}" | median)" "$(jval "$idle" bytes_per_s)") of idle (goal >= 0.70)"
done
c=$(printf '%s\n' "${cold[@]}" | median)
v=$(printf '%s\n' "${ccv[@]}" | median)
echo "cold snapshot (root disk): ${cold[*]} ms; qemu-img convert ${ccv[*]} ms; ratio $(ratio "$c" "$v") (goal <= 1.0)"
echo "copy rate limit: snapshot.copy_rate_limit, default 0 (none); requests in flight: snapshot.copy_inflight, default 4;" \
     "the copy's nice value: snapshot.copy_nice, default 10"
