#!/bin/bash
# Benchmark of uploads into the object store (a script, not a test: this
# machine is shared and noisy, so it prints numbers and a ratio, it does
# not judge).
#
# The same file of SIZE_MIB (default 1024) random bytes is uploaded, in
# turn, REPS times each (default 3):
#   A  by vmsnap's S3 client (bench/s3-upload: lib/storage/s3.c), a
#      multipart upload in parts of PART_MIB (default 32), each part's
#      MD5 checked against its ETag, the object's size checked after;
#   B  by curl 7.88 (--aws-sigv4, one PUT of the whole file, -T), the
#      closest curl comes: it has no multipart upload.
# Both send the body unsigned (x-amz-content-sha256: UNSIGNED-PAYLOAD), to
# the Swift s3api endpoint of scripts/services.sh, which this script
# starts if it is not running and then stops again.  The file is read
# once before, so both read it from the page cache.
#
# Prints each run's seconds and MiB/s, the medians, and the ratio of the
# medians' throughputs A/B (goal: >= 0.9).
#
# Usage: bench/s3.sh [REPS] [SIZE_MIB].  As root; builds ./build first.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
size_mib=${2:-1024}

if [ ! -d build ]; then
    meson setup build >&2
fi
ninja -C build bench/s3-upload >&2
tool=$PWD/build/bench/s3-upload

started=false
if ! scripts/services.sh status s3 >/dev/null; then
    started=true
fi
eval "$(scripts/services.sh up s3)"
work=$(mktemp -d /tmp/vmsnap-bench-s3.XXXXXX)
s3_req() {  # s3_req METHOD KEY [CURL-ARGS...]: prints the HTTP status
    local method=$1 key=$2 ak sk
    shift 2
    ak=$(sed -n 's/^access_key *= *//p' "$VMSNAP_S3_CREDENTIALS")
    sk=$(sed -n 's/^secret_key *= *//p' "$VMSNAP_S3_CREDENTIALS")
    # Credentials on stdin, never on the command line; tempauth's access
    # key holds a ':', which only the URL's user part can carry.
    printf 'url = "%s://%s:%s@%s/%s/%s"\n' "${VMSNAP_S3_ENDPOINT%%://*}" \
        "${ak//:/%3A}" "$sk" "${VMSNAP_S3_ENDPOINT#*://}" \
        "$VMSNAP_S3_BUCKET" "$key" |
        curl -K - -s -o /dev/null -w '%{http_code}' -X "$method" \
            -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
            --aws-sigv4 "aws:amz:$VMSNAP_S3_REGION:s3" "$@"
}
cleanup() {
    s3_req DELETE bench-a >/dev/null 2>&1 || true
    s3_req DELETE bench-b >/dev/null 2>&1 || true
    rm -rf "$work"
    if $started; then
        scripts/services.sh down s3 >&2
    fi
}
trap cleanup EXIT

file=$work/data
head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$file"
cat "$file" >/dev/null
bytes=$(stat -c %s "$file")

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

: >"$work/a"
: >"$work/b"
for i in $(seq 1 "$reps"); do
    t0=$(now)
    "$tool" "$file" bench-a >/dev/null
    t1=$(now)
    secs=$(echo "$t1 - $t0" | bc -l)
    echo "$secs" >>"$work/a"
    printf 'A run %d: %.2f s, %.0f MiB/s\n' "$i" "$secs" \
        "$(echo "$bytes / 1048576 / $secs" | bc -l)"
    s3_req DELETE bench-a >/dev/null

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
mb=$(median <"$work/b")
printf 'median A (vmsnap s3 client, %s MiB parts): %.2f s, %.0f MiB/s\n' \
    "${PART_MIB:-32}" "$ma" "$(echo "$bytes / 1048576 / $ma" | bc -l)"
printf 'median B (curl single PUT): %.2f s, %.0f MiB/s\n' "$mb" \
    "$(echo "$bytes / 1048576 / $mb" | bc -l)"
printf 'throughput ratio A/B: %.2f (goal >= 0.9)\n' \
    "$(echo "$mb / $ma" | bc -l)"
