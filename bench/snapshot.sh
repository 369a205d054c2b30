#!/bin/bash
# Benchmark of the live snapshot (a script, not a test: this machine is
# shared and noisy, so it prints numbers and ratios, it does not judge).
#
# One instance; a 1 GiB and then an 8 GiB ext4 data volume attached to it,
# holding the same data; quiesced --all-volumes snapshots of each.
#  1. Freeze window against disk size: the median vmsnap_freeze_ms with
#     each volume and their ratio (goal: <= 1.2, and under 150 ms here
#     under TCG), and vmsnap_hold_ms, the part of it vmsnap controls.
#  2. Copy time against qemu-img convert of the same disks (root and data
#     volume, one after the other), measured in the same run (goal: ratio
#     <= 1.1).
#
# Usage: bench/snapshot.sh [REPS] [DATA_MB] (defaults 5 and 128).  As root.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
data_mb=${2:-128}

scripts/setup.sh
guest=$(guest/build-guest.sh --print-dir)
export VMSNAP_DATA_DIR
VMSNAP_DATA_DIR=$(mktemp -d /tmp/vmsnap-bench.XXXXXX)
work=$VMSNAP_DATA_DIR/work
mkdir -p "$work"
vmsnap() { ./build/cli/vmsnap "$@"; }
cleanup() {
    vmsnap server delete bench >/dev/null 2>&1 || true
    rm -rf "$VMSNAP_DATA_DIR"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
propval() {
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])["properties"][sys.argv[2]])' "$1" "$2"
}

kid=$(vmsnap image create b-kernel --file "$guest/vmlinuz" --disk-format aki -f value -c id)
rid=$(vmsnap image create b-ramdisk --file "$guest/initrd.img" --disk-format ari -f value -c id)
vmsnap image create b-root --file "$guest/root.qcow2" --disk-format qcow2 \
    --property kernel_id="$kid" --property ramdisk_id="$rid" \
    --property hw_qemu_guest_agent=yes --property os_require_quiesce=yes >/dev/null
vmsnap server create bench --image b-root >/dev/null
for i in $(seq 1 120); do
    vmsnap agent ping bench >/dev/null 2>&1 && break
    sleep 1
done
id=$(vmsnap server show bench -f value -c id)
root=$VMSNAP_DATA_DIR/instances/$id/root.qcow2

declare -A freeze hold copy convert
for size in 1G 8G; do
    truncate -s "$size" "$work/data-$size.raw"
    mke2fs -q -t ext4 -F "$work/data-$size.raw"
    qemu-img convert -O qcow2 "$work/data-$size.raw" "$work/data-$size.qcow2"
    rm -f "$work/data-$size.raw"
    vmsnap image create "data-$size" --file "$work/data-$size.qcow2" \
        --disk-format qcow2 >/dev/null
    vmsnap volume create "vol-$size" --image "data-$size" >/dev/null
    vmsnap server add volume bench "vol-$size"
    vid=$(vmsnap volume show "vol-$size" -f value -c id)
    vfile=$(vmsnap volume show "vol-$size" -f value -c file)
    # The same data on both volumes.
    vmsnap agent exec --timeout 600 bench -- /bin/sh -c "
        for d in /sys/block/vd*; do
            [ \"\$(cat \$d/serial)\" = ${vid:0:20} ] && mount /dev/\${d##*/} /mnt/b
        done
        dd if=/dev/urandom of=/mnt/b/data bs=1M count=$data_mb 2>/dev/null && sync"
    f=() h=() c=() v=()
    for r in $(seq 1 "$reps"); do
        out=$(vmsnap server image create --all-volumes --name "s-$size-$r" bench -f json)
        f+=("$(propval "$out" vmsnap_freeze_ms)")
        h+=("$(propval "$out" vmsnap_hold_ms)")
        c+=("$(propval "$out" vmsnap_copy_ms)")
        vmsnap image delete "s-$size-$r"
        t0=$(ms_now)
        qemu-img convert -U -f qcow2 -O qcow2 "$root" "$work/c-root.qcow2"
        qemu-img convert -U -f qcow2 -O qcow2 "$vfile" "$work/c-vol.qcow2"
        v+=($(( $(ms_now) - t0 )))
        rm -f "$work/c-root.qcow2" "$work/c-vol.qcow2"
    done
    freeze[$size]=$(printf '%s\n' "${f[@]}" | median)
    hold[$size]=$(printf '%s\n' "${h[@]}" | median)
    copy[$size]=$(printf '%s\n' "${c[@]}" | median)
    convert[$size]=$(printf '%s\n' "${v[@]}" | median)
    echo "data volume $size: freeze ms ${f[*]}; hold ms ${h[*]};" \
         "copy ms ${c[*]};" \
         "qemu-img convert ms ${v[*]}"
    vmsnap agent exec bench -- /bin/umount /mnt/b
    vmsnap server remove volume bench "vol-$size"
done

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1]) / max(float(sys.argv[2]), 1):.2f}')" "$1" "$2"; }
echo
echo "median freeze window: 1 GiB ${freeze[1G]} ms, 8 GiB ${freeze[8G]} ms;" \
     "ratio 8G/1G $(ratio "${freeze[8G]}" "${freeze[1G]}") (goal <= 1.2, each < 150 ms)"
echo "  of which vmsnap holds (freeze reply to thaw request, the transaction" \
     "inside): 1 GiB ${hold[1G]} ms, 8 GiB ${hold[8G]} ms;" \
     "the rest is the agent's hooks and FIFREEZE/FITHAW in the guest"
for size in 1G 8G; do
    echo "copy with the $size volume: snapshot ${copy[$size]} ms," \
         "qemu-img convert ${convert[$size]} ms;" \
         "ratio $(ratio "${copy[$size]}" "${convert[$size]}") (goal <= 1.1)"
done
