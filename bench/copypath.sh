#!/bin/bash
# How the copy path was chosen (issue 15): ways to turn the NBD export of
# a disk's point in time into a qcow2 image file whose MD5 and SHA-512
# are known, measured in one run on the same disk, alternating, with no
# guest (qemu-nbd serves the disk, as QEMU's export would):
#   convert       qemu-img convert of the file itself (the baseline)
#   nbd+hash      qemu-img convert from the export into a qcow2, then
#                 md5sum and sha512sum of the file (a second read)
#   vmsnap        the copy path: one sequential pass, hashing as it
#                 writes (bench/copy-tool.c), with 1, 4 and 8 requests
#                 in flight
#   store         the copy path into the chunk store (a full backup)
#   untuned4      vmsnap4 from a qemu-nbd started without the malloc
#                 thresholds vmsnap gives it (run.h RUN_ENV_NBD_MALLOC):
#                 what they save
# Each prints its median seconds and its ratio to convert.
#
# Usage: bench/copypath.sh [REPS] [DATA_MB] (defaults 3 and 2048).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
reps=${1:-3}
data_mb=${2:-2048}

[ -x build/bench/copy-tool ] || ninja -C build bench/copy-tool >&2
w=$(mktemp -d /tmp/vmsnap-copypath.XXXXXX)
nbd_pid=
cleanup() {
    [ -n "$nbd_pid" ] && kill $nbd_pid 2>/dev/null
    rm -rf "$w"
}
trap cleanup EXIT

echo "making a 4 GiB disk holding $data_mb MiB..." >&2
make_bench_root "$w/disk.qcow2" 4G "$data_mb" "$w"
# As vmsnap starts it (lib/base/run.h RUN_ENV_NBD_MALLOC), and without.
GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=33554432 \
    qemu-nbd -r -f qcow2 -t -k "$w/nbd.sock" -x disk "$w/disk.qcow2" &
nbd_pid=$!
qemu-nbd -r -f qcow2 -t -k "$w/nbd0.sock" -x disk "$w/disk.qcow2" &
nbd_pid="$nbd_pid $!"
for i in $(seq 1 50); do
    [ -S "$w/nbd.sock" ] && [ -S "$w/nbd0.sock" ] && break
    sleep 0.1
done
uri="nbd+unix:///disk?socket=$w/nbd.sock"

secs() {  # secs CMD...: run it, print seconds
    local t0
    t0=$(date +%s%N)
    "$@" >/dev/null
    python3 -c "import sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / 1e9:.3f}')" "$t0" "$(date +%s%N)"
}
declare -A T
for r in $(seq 1 "$reps"); do
    T[convert]+="$(secs qemu-img convert -O qcow2 "$w/disk.qcow2" "$w/o.qcow2") "
    rm -f "$w/o.qcow2"
    T[nbdhash]+="$(secs sh -c "qemu-img convert -O qcow2 '$uri' '$w/o.qcow2' && md5sum '$w/o.qcow2' && sha512sum '$w/o.qcow2'") "
    rm -f "$w/o.qcow2"
    for n in 1 4 8; do
        T[vmsnap$n]+="$(secs build/bench/copy-tool qcow2 "$w/nbd.sock" disk "$w/o.qcow2" -n $n) "
        rm -f "$w/o.qcow2"
    done
    T[store]+="$(secs build/bench/copy-tool chunks "$w/nbd.sock" disk "$w/store" "full$r") "
    T[untuned4]+="$(secs build/bench/copy-tool qcow2 "$w/nbd0.sock" disk "$w/o.qcow2" -n 4) "
    rm -f "$w/o.qcow2"
done
base=$(printf '%s\n' ${T[convert]} | median)
echo
echo "== the copy path, 4 GiB disk holding $data_mb MiB ($(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg))"
for k in convert nbdhash vmsnap1 vmsnap4 vmsnap8 store untuned4; do
    m=$(printf '%s\n' ${T[$k]} | median)
    echo "$k: ${T[$k]}s; median $m s; ratio to convert $(ratio "$m" "$base")"
done
echo "(goal: vmsnap <= 1.0 x convert, with both hashes of the file; nbd+hash is the same copy by QEMU hashed after)"
