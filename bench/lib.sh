# Shared functions of the benchmark scripts (bench/*.sh).  Source it from
# the repository's root after `set -euo pipefail`.  Benchmarks print
# numbers and ratios against baselines measured in the same run, each with
# its goal; they judge nothing (this machine is shared and noisy).

vmsnap() { "${BUILD:-build}/cli/vmsnap" "$@"; }  # BUILD: the build dir
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() {
    python3 -c "import sys; print(f'{float(sys.argv[1]) / max(float(sys.argv[2]), 1e-9):.3f}')" "$1" "$2"
}
propval() {  # propval JSON KEY: a property of an image shown with -f json
    python3 -c 'import json,sys
d=json.loads(sys.argv[1]); p=d.get("properties", d)
print(p.get(sys.argv[2], ""))' "$1" "$2"
}
jval() {  # jval JSON KEY: a member of a JSON object
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}
wsum() {  # wsum WRITER_JSON: the writer's line without its per_100ms
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.pop("per_100ms", None); print(json.dumps(d))' "$1"
}
mib() { python3 -c "import sys; print(f'{int(sys.argv[1]) / 1048576:.1f}')" "$1"; }

# The guest program that measures writes from inside (bench/guest-writer.c),
# built static for the test guest.
build_writer() {  # build_writer OUT
    gcc -static -O2 -o "$1" bench/guest-writer.c
}

# A bench root image: the test guest's root file system grown to SIZE,
# with the writer in /usr/local/bin and, if DATA_MB > 0, a directory
# /data holding DATA_MB MiB: half random (incompressible), half the host's
# shared libraries (real, compressible).  Prints nothing; makes OUT (qcow2).
make_bench_root() {  # make_bench_root OUT SIZE DATA_MB WORKDIR
    local out=$1 size=$2 data_mb=$3 w=$4 g half
    g=$(guest/build-guest.sh --print-dir)
    qemu-img convert -O raw "$g/root.qcow2" "$w/root.raw"
    truncate -s "$size" "$w/root.raw"
    e2fsck -fy "$w/root.raw" >/dev/null 2>&1 || true
    resize2fs "$w/root.raw" >/dev/null 2>&1
    build_writer "$w/guest-writer"
    debugfs -w -R "mkdir /usr/local" "$w/root.raw" >/dev/null 2>&1 || true
    debugfs -w -R "mkdir /usr/local/bin" "$w/root.raw" >/dev/null 2>&1 || true
    debugfs -w -R "write $w/guest-writer /usr/local/bin/guest-writer" \
        "$w/root.raw" >/dev/null 2>&1
    if [ "$data_mb" -gt 0 ]; then
        half=$((data_mb / 2))
        head -c $((half << 20)) /dev/urandom >"$w/random.bin"
        find /usr/lib /usr/share -type f -size +64k 2>/dev/null |
            xargs cat 2>/dev/null | head -c $((half << 20)) >"$w/lib.bin" || true
        debugfs -w -R "mkdir /data" "$w/root.raw" >/dev/null 2>&1
        debugfs -w -R "write $w/random.bin /data/random.bin" "$w/root.raw" >/dev/null 2>&1
        debugfs -w -R "write $w/lib.bin /data/lib.bin" "$w/root.raw" >/dev/null 2>&1
        rm -f "$w/random.bin" "$w/lib.bin"
    fi
    debugfs -w -R "sif /usr/local/bin/guest-writer mode 0100755" "$w/root.raw" >/dev/null 2>&1
    qemu-img convert -O qcow2 "$w/root.raw" "$out"
    rm -f "$w/root.raw"
}

# Register the kernel, the ramdisk and ROOT (a qcow2 file) as image NAME.
register_root() {  # register_root NAME ROOT
    local g kid rid
    g=$(guest/build-guest.sh --print-dir)
    kid=$(vmsnap image create "$1-kernel" --file "$g/vmlinuz" --disk-format aki -f value -c id)
    rid=$(vmsnap image create "$1-ramdisk" --file "$g/initrd.img" --disk-format ari -f value -c id)
    vmsnap image create "$1" --file "$2" --disk-format qcow2 \
        --property kernel_id="$kid" --property ramdisk_id="$rid" \
        --property hw_qemu_guest_agent=yes --property os_require_quiesce=yes >/dev/null
}

wait_agent() {  # wait_agent SERVER
    local i
    for i in $(seq 1 180); do
        vmsnap agent ping "$1" >/dev/null 2>&1 && return 0
        sleep 1
    done
    echo "bench: the agent of $1 never answered" >&2
    return 1
}

gsh() {  # gsh SERVER 'command line' [TIMEOUT_S]
    vmsnap agent exec --timeout "${3:-600}" "$1" -- /bin/sh -c "$2"
}

# Start the writer in SERVER until /root/w.stop exists.
writer_start() {  # writer_start SERVER
    gsh "$1" 'rm -f /root/w.stop /root/w.out; (/usr/local/bin/guest-writer /root/w.log 3600 /root/w.stop >/root/w.out 2>&1 &) </dev/null >/dev/null 2>&1'
    sleep 2
}
# Stop it; print its JSON line.
writer_stop() {  # writer_stop SERVER
    local i
    gsh "$1" 'touch /root/w.stop' >/dev/null
    for i in $(seq 1 60); do
        gsh "$1" 'cat /root/w.out' 2>/dev/null | grep -q bytes_per_s && break
        sleep 1
    done
    gsh "$1" 'cat /root/w.out'
}
# Run the writer alone for SECONDS: the idle baseline.  Not before the
# guest has been up 30 s (a guest just booted is still busy: gaps of
# 0.5-1 s 13-15 s after boot were seen), and after a first run of 3 s
# thrown away (its first writes allocate).
writer_idle() {  # writer_idle SERVER SECONDS
    gsh "$1" "while [ \$(cut -d. -f1 /proc/uptime) -lt 30 ]; do sleep 1; done
              /usr/local/bin/guest-writer /root/w.log 3 >/dev/null &&
              /usr/local/bin/guest-writer /root/w.log $2"
}

# The catalog benches' setup: build bench/catalog-ops of ./build (or
# $BUILD), bring up the PostgreSQL of scripts/services.sh (exporting
# VMSNAP_CATALOG) and make a work directory; on exit, drop SCHEMA, remove
# the directory and stop PostgreSQL again if this started it.  Sets
# `tool` (the program) and `work`.
catalog_bench_setup() {  # catalog_bench_setup SCHEMA
    local build=${BUILD:-build}
    [ -d "$build" ] || meson setup "$build" >&2
    ninja -C "$build" bench/catalog-ops >&2
    tool=$(realpath "$build")/bench/catalog-ops
    catalog_bench_started=false
    scripts/services.sh status pg >/dev/null || catalog_bench_started=true
    eval "$(scripts/services.sh up pg)"
    work=$(mktemp -d /tmp/vmsnap-bench-catalog.XXXXXX)
    catalog_bench_schema=$1
    trap catalog_bench_cleanup EXIT
}
catalog_bench_cleanup() {
    psql "$VMSNAP_CATALOG" -qXc \
        "drop schema if exists $catalog_bench_schema cascade" \
        >/dev/null 2>&1 || true
    rm -rf "$work"
    if $catalog_bench_started; then
        scripts/services.sh down pg >/dev/null 2>&1 || true
    fi
}
