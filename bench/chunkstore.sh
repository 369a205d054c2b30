#!/bin/bash
# Benchmark of the chunk store (issue 12), a script, not a test: this
# machine is shared and noisy, so it prints figures and ratios against
# their goals and does not judge.
#
# The disk: a 4 GiB sparse raw image holding an ext4 file system made by
# mke2fs -d from real files (/usr/share, /usr/bin, ... hard-linked into a
# staging directory, no copy: three quarters of the data) topped up to
# about 2 GiB with a file of random and repeated blocks.
#
#  1. Full backup: time and bytes stored, per chunk size.
#  2. 1 % of the data changed, written as (a) random writes of $WRITE
#     bytes spread over the whole disk and (b) one sequential file; the
#     incremental reads only the chunks its dirty extents touch (as a
#     backup reading a dirty bitmap does) and writes them with the full
#     as parent: time and bytes stored against the full's
#     (goals: bytes <= 3 %, time <= 5 %).
#  3. zstd level: full backup time and bytes at levels $LEVELS.
#  4. Throughput: full backup against qemu-img convert -O qcow2 of the same
#     disk, in pairs, median ratio (goal >= 1.0, compression included).
#  5. Five instances booted from one base, each changed by 1 % on its
#     own: one store holding a full backup of each, against one full
#     (goal: store <= 1.3 x one full).
#  6. Restore: materialise the full as a sparse raw file, time, compare.
#
# Usage: bench/chunkstore.sh   (as root or not; needs mke2fs, qemu-img,
# python3).  Knobs in the environment: DISK (4G), DATA_MB (2048),
# CHUNK_SIZES ("262144 1048576 4194304"), DEFAULT_CHUNK (262144), LEVELS
# ("-1 1 3"), WRITE (65536: size of each random write), REPS (3), WORK
# (directory for the images, /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
DISK=${DISK:-4G}
DATA_MB=${DATA_MB:-2048}
CHUNK_SIZES=${CHUNK_SIZES:-"262144 1048576 4194304"}
DEFAULT_CHUNK=${DEFAULT_CHUNK:-262144}
LEVELS=${LEVELS:-"-1 1 3"}
WRITE=${WRITE:-65536}
REPS=${REPS:-3}

[ -d build ] || meson setup build >&2
ninja -C build bench/chunkstore-tool >&2
T=$PWD/build/bench/chunkstore-tool
work=$(mktemp -d "${WORK:-/var/tmp}/vmsnap-chunkbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
jget() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { python3 -c "import sys; print('%.4f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
pct() { python3 -c "import sys; print('%.2f%%' % (100 * float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
mib() { python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) / 1048576))" "$1"; }

# ---- the disk ----
echo "== making a $DISK ext4 disk with about $DATA_MB MiB of real files" >&2
# Three quarters real files (hard links, nothing copied), one quarter
# random blocks and blocks repeated from a small set (VM images hold
# both), made by python so that it is the same every run.
python3 - "$DATA_MB" stage <<'EOF'
import os, random, sys
mb, stage = int(sys.argv[1]), sys.argv[2]
budget, used = mb * 3 // 4 << 20, 0
for top in ('/usr/share', '/usr/bin', '/usr/include', '/usr/libexec',
            '/usr/sbin', '/usr/lib'):
    for d, dirs, files in os.walk(top):
        dirs.sort()
        for f in sorted(files):
            src = os.path.join(d, f)
            if used >= budget or os.path.islink(src) or \
                    not os.path.isfile(src):
                continue
            dst = os.path.join(stage, src.lstrip('/'))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                continue
            used += os.path.getsize(src)
rnd = random.Random(12)
pool = [rnd.randbytes(65536) for _ in range(16)]
with open(os.path.join(stage, 'filler'), 'wb') as f:
    for i in range(max(0, (mb << 20) - used) >> 16):
        f.write(rnd.randbytes(65536) if i % 2 else pool[rnd.randrange(16)])
EOF
truncate -s "$DISK" base.raw
mke2fs -q -F -t ext4 -d stage base.raw
rm -rf stage
disk_bytes=$(stat -c %s base.raw)
alloc_bytes=$(( $(stat -c %b base.raw) * 512 ))
echo "disk: $(mib "$disk_bytes") MiB virtual, $(mib "$alloc_bytes") MiB allocated" >&2

# change.py BASE OUT EXTENTS MODE SEED: copy BASE to OUT and change 1 % of
# the allocated data there: MODE random = writes of $WRITE bytes at random
# aligned offsets anywhere on the disk; sequential = one run.  Writes the
# changed extents, sorted, to EXTENTS.
cat > change.py <<'EOF'
import os, random, shutil, subprocess, sys
base, out, ext, mode, seed = sys.argv[1:6]
write = int(os.environ.get('WRITE', '65536'))
subprocess.run(['cp', '--sparse=always', base, out], check=True)
size = os.path.getsize(out)
alloc = os.stat(out).st_blocks * 512
total = alloc // 100
rnd = random.Random(int(seed))
extents = []
if mode == 'random':
    for _ in range(max(1, total // write)):
        extents.append((rnd.randrange(size // write) * write, write))
else:
    start = rnd.randrange((size - total) // 4096) * 4096
    extents.append((start, total))
fd = os.open(out, os.O_WRONLY)
for off, n in extents:
    os.pwrite(fd, rnd.randbytes(n), off)
os.close(fd)
with open(ext, 'w') as f:
    for off, n in sorted(extents):
        f.write('%d %d\n' % (off, n))
print(sum(n for _, n in extents))
EOF
WRITE=$WRITE python3 change.py base.raw rand.raw rand.ext random 1 > rand.bytes
WRITE=$WRITE python3 change.py base.raw seq.raw seq.ext sequential 2 > seq.bytes
echo "changes: random $(mib "$(cat rand.bytes)") MiB in $(wc -l < rand.ext)" \
     "writes of $WRITE bytes; sequential $(mib "$(cat seq.bytes)") MiB" >&2

# Warm the page cache so that the first run does not pay for the disk.
cat base.raw rand.raw seq.raw > /dev/null

declare -A full_s full_b rand_s rand_b seq_s seq_b

# ---- 1, 2: per chunk size ----
for cs in $CHUNK_SIZES; do
    echo "== chunk size $cs" >&2
    rm -rf "st-$cs"
    $T create "st-$cs" "$cs"
    out=$($T backup "st-$cs" full base.raw)
    full_s[$cs]=$(jget "$out" seconds)
    full_b[$cs]=$(jget "$out" bytes_stored)
    out=$($T backup "st-$cs" inc-rand rand.raw -p full -e rand.ext)
    rand_s[$cs]=$(jget "$out" seconds)
    rand_b[$cs]=$(jget "$out" bytes_stored)
    out=$($T backup "st-$cs" inc-seq seq.raw -p full -e seq.ext)
    seq_s[$cs]=$(jget "$out" seconds)
    seq_b[$cs]=$(jget "$out" bytes_stored)
    # The incrementals must be the changed disks, byte for byte.
    for n in rand seq; do
        $T restore "st-$cs" "inc-$n" "r-$n.raw" >/dev/null
        cmp -s "r-$n.raw" "$n.raw" || { echo "inc-$n differs!" >&2; exit 1; }
        rm -f "r-$n.raw"
    done
    [ "$cs" = "$DEFAULT_CHUNK" ] || rm -rf "st-$cs"
done

# ---- 3: zstd levels ----
declare -A lvl_s lvl_b
for l in $LEVELS; do
    rm -rf st-l
    $T create st-l "$DEFAULT_CHUNK" "$l"
    out=$($T backup st-l full base.raw)
    lvl_s[$l]=$(jget "$out" seconds)
    lvl_b[$l]=$(jget "$out" bytes_stored)
done
rm -rf st-l

# ---- 4: throughput against qemu-img convert, in pairs ----
ratios=()
cpu_b=() cpu_c=()
TIMEFORMAT='%R %U %S'
for r in $(seq 1 "$REPS"); do
    rm -rf st-t c.qcow2
    $T create st-t "$DEFAULT_CHUNK"
    { time $T backup st-t full base.raw > /dev/null; } 2> time-b
    { time qemu-img convert -O qcow2 base.raw c.qcow2; } 2> time-c
    read -r wb ub sb < time-b
    read -r wc uc sc < time-c
    ratios+=("$(ratio "$wc" "$wb")")
    cpu_b+=("$(python3 -c "print('%.1f' % ($ub + $sb))")")
    cpu_c+=("$(python3 -c "print('%.1f' % ($uc + $sc))")")
    echo "pair $r: backup ${wb}s (cpu ${cpu_b[-1]}s), qemu-img convert" \
         "${wc}s (cpu ${cpu_c[-1]}s)" >&2
done
rm -rf st-t c.qcow2
tput=$(printf '%s\n' "${ratios[@]}" | median)

# ---- 5: five instances from one base ----
rm -rf st-5
$T create st-5 "$DEFAULT_CHUNK"
for i in 1 2 3 4 5; do
    WRITE=$WRITE python3 change.py base.raw "vm$i.raw" "vm$i.ext" random \
        $((100 + i)) > /dev/null
    out=$($T backup st-5 "vm$i" "vm$i.raw")
    rm -f "vm$i.raw"
done
five_b=$(jget "$out" store_bytes)

# ---- 6: restore ----
out=$($T restore "st-$DEFAULT_CHUNK" full restored.raw)
rest_s=$(jget "$out" seconds)
cmp -s restored.raw base.raw && rest_ok=identical || rest_ok=DIFFERENT
rest_alloc=$(( $(stat -c %b restored.raw) * 512 ))
rm -f restored.raw

# ---- report ----
echo
echo "disk $(mib "$disk_bytes") MiB, data $(mib "$alloc_bytes") MiB;" \
     "change: $(mib "$(cat rand.bytes)") MiB random ($WRITE-byte writes)," \
     "$(mib "$(cat seq.bytes)") MiB sequential"
printf '%-9s %9s %10s %22s %22s %22s %22s\n' chunk full_s full_MiB \
    "rand bytes (<=3%)" "rand time (<=5%)" "seq bytes (<=3%)" \
    "seq time (<=5%)"
for cs in $CHUNK_SIZES; do
    printf '%-9s %9s %10s %22s %22s %22s %22s\n' "$cs" "${full_s[$cs]}" \
        "$(mib "${full_b[$cs]}")" \
        "$(mib "${rand_b[$cs]}") MiB $(pct "${rand_b[$cs]}" "${full_b[$cs]}")" \
        "${rand_s[$cs]}s $(pct "${rand_s[$cs]}" "${full_s[$cs]}")" \
        "$(mib "${seq_b[$cs]}") MiB $(pct "${seq_b[$cs]}" "${full_b[$cs]}")" \
        "${seq_s[$cs]}s $(pct "${seq_s[$cs]}" "${full_s[$cs]}")"
done
echo
echo "zstd level (chunk $DEFAULT_CHUNK): full backup seconds, MiB stored"
for l in $LEVELS; do
    echo "  level $l: ${lvl_s[$l]} s, $(mib "${lvl_b[$l]}") MiB"
done
echo
echo "throughput: qemu-img convert time / full backup time, median of" \
     "$REPS pairs: $tput (goal >= 1.0) [${ratios[*]}]; cpu seconds:" \
     "backup ${cpu_b[*]}, qemu-img ${cpu_c[*]}; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "5 instances from one base: store $(mib "$five_b") MiB against one" \
     "full $(mib "${full_b[$DEFAULT_CHUNK]}") MiB:" \
     "$(ratio "$five_b" "${full_b[$DEFAULT_CHUNK]}")x (goal <= 1.3);" \
     "against 5 fulls: $(ratio "$five_b" "$(( ${full_b[$DEFAULT_CHUNK]} * 5 ))")x"
echo "restore of the full to a sparse raw file: ${rest_s} s, $rest_ok," \
     "$(mib "$rest_alloc") MiB allocated"
