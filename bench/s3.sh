#!/bin/bash
# Benchmark of uploads into the object store (a script, not a test: this
# machine is shared and noisy, so it prints numbers and ratios, it does
# not judge).  Issue 13: "snapshot copy throughput into the object store
# against curl uploading the same bytes to it in one run (goal >= 0.9)".
#
# Part 1, the S3 client alone.  The same file of SIZE_MIB (default 1024)
# random bytes is uploaded, in turn, REPS times each (default 3):
#   A  by vmsnap's S3 client (bench/s3-upload: lib/storage/s3.c) as the
#      image store sends an image file: one PUT up to 2 GiB
#      (S3_IMAGE_MULTIPART_THRESHOLD), a multipart upload above; the
#      ETag checked against the MD5 of what was sent;
#   M  the same client forced into a multipart upload (parts of PART_MIB,
#      default 32, 3 at once, each part's MD5 checked against its ETag,
#      the object's size checked after): what a file over 2 GiB gets;
#   B  by curl 7.88 (--aws-sigv4, one PUT of the whole file, -T).
# All send the body unsigned (x-amz-content-sha256: UNSIGNED-PAYLOAD), to
# the Swift s3api endpoint of scripts/services.sh, which this script
# starts if it is not running and then stops again.  The file is read
# once before, so all read it from the page cache.  Prints each run's
# seconds and MiB/s, the medians, and the ratios of the medians'
# throughputs A/B and M/B (goal: >= 0.9).
#
# Part 2, the snapshot copy (SNAP_MB, default 512; 0 skips it): a server
# booted from the test guest's root file system grown to 2 GiB holding
# SNAP_MB MiB of data (bench/lib.sh make_bench_root), then stopped, is
# snapshotted REPS times with store.driver = s3 (a bucket of its own,
# removed after; the catalog is the data directory's SQLite: the store is
# what is measured).  A snapshot into S3 copies the disk into a local
# qcow2 file (the store's staging file in its cache, hashed as it is
# written) and uploads that file as it is written (blob-s3.c's
# send_early): timed are the whole `vmsnap server image create`, its copy
# (vmsnap_copy_ms) and its upload (from the S3 client's debug log; it
# starts with the copy), and after each, curl uploads the resulting image
# file, the same bytes, to the same endpoint.  Prints the image size, the
# throughputs (image bytes / time) and the ratios whole/curl and
# upload/curl (goal: >= 0.9).  Needs the test guest (scripts/setup.sh)
# and a few minutes to boot it under TCG.
#
# Usage: bench/s3.sh [REPS] [SIZE_MIB].  As root.  SIZE_MIB 0 skips part
# 1.  Builds ./build (or $BUILD) first.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
reps=${1:-3}
size_mib=${2:-1024}
snap_mb=${SNAP_MB:-512}
build=${BUILD:-build}
export BUILD=$build

if [ ! -d "$build" ]; then
    meson setup "$build" >&2
fi
if [ "$snap_mb" -gt 0 ]; then
    scripts/setup.sh >&2
    ninja -C "$build" >&2
else
    ninja -C "$build" bench/s3-upload >&2
fi
tool=$(realpath "$build")/bench/s3-upload

started=false
if ! scripts/services.sh status s3 >/dev/null; then
    started=true
fi
eval "$(scripts/services.sh up s3)"
work=$(mktemp -d /tmp/vmsnap-bench-s3.XXXXXX)
s3_req() {  # s3_req METHOD KEY [CURL-ARGS...]: prints the HTTP status
    # (KEY "": the bucket itself)
    local method=$1 key=$2 ak sk
    shift 2
    ak=$(sed -n 's/^access_key *= *//p' "$VMSNAP_S3_CREDENTIALS")
    sk=$(sed -n 's/^secret_key *= *//p' "$VMSNAP_S3_CREDENTIALS")
    # Credentials on stdin, never on the command line; tempauth's access
    # key holds a ':', which only the URL's user part can carry.
    printf 'url = "%s://%s:%s@%s/%s%s"\n' "${VMSNAP_S3_ENDPOINT%%://*}" \
        "${ak//:/%3A}" "$sk" "${VMSNAP_S3_ENDPOINT#*://}" \
        "$VMSNAP_S3_BUCKET" "${key:+/$key}" |
        curl -K - -s -o /dev/null -w '%{http_code}' -X "$method" \
            -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
            --aws-sigv4 "aws:amz:$VMSNAP_S3_REGION:s3" "$@"
}
snap_bucket=
cleanup() {
    s3_req DELETE bench-a >/dev/null 2>&1 || true
    s3_req DELETE bench-b >/dev/null 2>&1 || true
    s3_req DELETE bench-m >/dev/null 2>&1 || true
    if [ -n "$snap_bucket" ]; then
        snap_cleanup || true
    fi
    rm -rf "$work"
    if $started; then
        scripts/services.sh down s3 >&2
    fi
}
trap cleanup EXIT

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

file=$work/data
if [ "$size_mib" -gt 0 ]; then
    head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$file"
    cat "$file" >/dev/null
    bytes=$(stat -c %s "$file")

    : >"$work/a"
    : >"$work/m"
    : >"$work/b"
    # client_run LABEL NAME RUN [VAR=VALUE...]: one upload of $file by our
    # client (with those variables set) as object bench-NAME, its seconds
    # added to $work/NAME and printed; the object is then deleted.
    client_run() {
        local label=$1 name=$2 run=$3 t0 t1 secs
        shift 3
        t0=$(now)
        env "$@" "$tool" "$file" "bench-$name" >/dev/null
        t1=$(now)
        secs=$(echo "$t1 - $t0" | bc -l)
        echo "$secs" >>"$work/$name"
        printf '%s run %d: %.2f s, %.0f MiB/s\n' "$label" "$run" "$secs" \
            "$(echo "$bytes / 1048576 / $secs" | bc -l)"
        s3_req DELETE "bench-$name" >/dev/null
    }

    echo "== part 1: the S3 client, $size_mib MiB ($(date -u +%FT%TZ)," \
         "load $(cut -d' ' -f1-3 /proc/loadavg))"
    for i in $(seq 1 "$reps"); do
        client_run A a "$i"
        client_run M m "$i" MULTIPART_MIB=0

        t0=$(now)
        code=$(s3_req PUT bench-b -T "$file")
        t1=$(now)
        [ "$code" = 200 ] || { echo "curl PUT failed: HTTP $code" >&2; exit 1; }
        secs=$(echo "$t1 - $t0" | bc -l)
        echo "$secs" >>"$work/b"
        printf 'B run %d: %.2f s, %.0f MiB/s\n' "$i" "$secs" \
            "$(echo "$bytes / 1048576 / $secs" | bc -l)"
        s3_req DELETE bench-b >/dev/null
    done

    ma=$(median <"$work/a")
    mm=$(median <"$work/m")
    mb=$(median <"$work/b")
    printf 'median A (vmsnap s3 client, as for an image): %.2f s, %.0f MiB/s\n' \
        "$ma" "$(echo "$bytes / 1048576 / $ma" | bc -l)"
    printf 'median M (vmsnap s3 client, multipart, %s MiB parts): %.2f s, %.0f MiB/s\n' \
        "${PART_MIB:-32}" "$mm" "$(echo "$bytes / 1048576 / $mm" | bc -l)"
    printf 'median B (curl single PUT): %.2f s, %.0f MiB/s\n' "$mb" \
        "$(echo "$bytes / 1048576 / $mb" | bc -l)"
    printf 'throughput ratio A/B: %.2f (goal >= 0.9), M/B: %.2f\n' \
        "$(echo "$mb / $ma" | bc -l)" "$(echo "$mb / $mm" | bc -l)"
fi

[ "$snap_mb" -gt 0 ] || exit 0

# Part 2: the snapshot copy into the object store.
snap_cleanup() {
    vmsnap server delete sbench >/dev/null 2>&1 || true
    local ids k
    ids=$(vmsnap image list -f value -c id 2>/dev/null) || true
    for k in $ids; do
        vmsnap image delete "$k" >/dev/null 2>&1 || true
    done
    s3_req DELETE bench-c >/dev/null 2>&1 || true
    # Whatever is left (at most a page of keys), then the bucket.
    for k in $(s3_list); do
        s3_req DELETE "$k" >/dev/null 2>&1 || true
    done
    s3_req DELETE "" >/dev/null
}
s3_list() {  # the bucket's keys (a page)
    local ak sk
    ak=$(sed -n 's/^access_key *= *//p' "$VMSNAP_S3_CREDENTIALS")
    sk=$(sed -n 's/^secret_key *= *//p' "$VMSNAP_S3_CREDENTIALS")
    printf 'url = "%s://%s:%s@%s/%s?list-type=2"\n' \
        "${VMSNAP_S3_ENDPOINT%%://*}" "${ak//:/%3A}" "$sk" \
        "${VMSNAP_S3_ENDPOINT#*://}" "$VMSNAP_S3_BUCKET" |
        curl -K - -s -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
            --aws-sigv4 "aws:amz:$VMSNAP_S3_REGION:s3" |
        grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g'
}

export VMSNAP_DATA_DIR=$work/data-dir VMSNAP_STORE=s3
export VMSNAP_S3_BUCKET=vmsnap-bench-$$
unset VMSNAP_CATALOG
mkdir -p "$VMSNAP_DATA_DIR"
code=$(s3_req PUT "")
[ "$code" = 200 ] || { echo "bucket $VMSNAP_S3_BUCKET: HTTP $code" >&2; exit 1; }
snap_bucket=$VMSNAP_S3_BUCKET
rm -f "$file"           # part 1's file: no longer needed
make_bench_root "$work/root.qcow2" 2G "$snap_mb" "$work"
register_root sroot "$work/root.qcow2"
rm -f "$work/root.qcow2"
vmsnap server create sbench --image sroot >/dev/null
wait_agent sbench
vmsnap server stop sbench >/dev/null

: >"$work/w"
: >"$work/u"
: >"$work/c"
echo
echo "== part 2: a snapshot into the object store, $snap_mb MiB of data" \
     "($(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg))"
for i in $(seq 1 "$reps"); do
    t0=$(now)
    out=$(VMSNAP_DEBUG=s3 vmsnap server image create --name "s3-$i" sbench \
              -f json 2>"$work/snap.err")
    t1=$(now)
    whole=$(echo "$t1 - $t0" | bc -l)
    copy_ms=$(propval "$out" vmsnap_copy_ms)
    id=$(jval "$out" id)
    up=$(sed -n 's|.*upload of images/.*: done in \([0-9.]*\) s$|\1|p' \
             "$work/snap.err" | tail -1)
    how=$(sed -n -E 's#.*upload of images/[^:]*: (one PUT|multipart)$#\1#p' \
              "$work/snap.err" | tail -1)
    img=$(ls "$VMSNAP_DATA_DIR"/cache/s3/objects/images/"$id".*)
    ibytes=$(stat -c %s "$img")
    cat "$img" >/dev/null
    t0=$(now)
    code=$(s3_req PUT bench-c -T "$img")
    t1=$(now)
    [ "$code" = 200 ] || { echo "curl PUT failed: HTTP $code" >&2; exit 1; }
    csecs=$(echo "$t1 - $t0" | bc -l)
    s3_req DELETE bench-c >/dev/null
    vmsnap image delete "s3-$i" >/dev/null
    echo "$whole" >>"$work/w"
    echo "$up" >>"$work/u"
    echo "$csecs" >>"$work/c"
    printf 'run %d: image %.0f MiB; snapshot %.2f s (%.0f MiB/s) = ' \
        "$i" "$(echo "$ibytes / 1048576" | bc -l)" "$whole" \
        "$(echo "$ibytes / 1048576 / $whole" | bc -l)"
    printf 'copy %.2f s, upload beside it %.2f s (%s, %.0f MiB/s);' \
        "$(echo "$copy_ms / 1000" | bc -l)" "$up" "$how" \
        "$(echo "$ibytes / 1048576 / $up" | bc -l)"
    printf ' curl %.2f s (%.0f MiB/s)\n' "$csecs" \
        "$(echo "$ibytes / 1048576 / $csecs" | bc -l)"
done
mw=$(median <"$work/w")
mu=$(median <"$work/u")
mc=$(median <"$work/c")
printf 'medians: snapshot %.2f s, its upload %.2f s, curl %.2f s\n' \
    "$mw" "$mu" "$mc"
printf 'throughput ratio snapshot/curl: %.2f (goal >= 0.9); upload/curl: %.2f\n' \
    "$(echo "$mc / $mw" | bc -l)" "$(echo "$mc / $mu" | bc -l)"
