#!/bin/bash
# Benchmark of vmsnapd's HTTP layer, in one run:
#   1. requests per second (wrk, loopback) for token validation (GET
#      /identity/v3/auth/tokens with X-Subject-Token), for the token check
#      in front of a cheap authenticated GET, and for an unauthenticated
#      version document (the HTTP layer alone);
#   2. throughput of a SIZE file (default 1 GiB): cp of the file, upload
#      (PUT, streamed through daemon/upload.c with MD5 and SHA-512 on the
#      way and an fsync at the end), download from a descriptor (sendfile)
#      and through a reader (pread), each the best of REPEAT runs, with
#      its ratio to cp (goal: >= 0.9); curl is the client, and again a raw
#      socket (bash's /dev/tcp with cat), to tell the client's share.
#      The upload is also set against the fair baseline: what Glance must
#      do, done with the tools, "cp + fsync + MD5 + SHA-512": cp, md5sum
#      and sha512sum of the file at once (the digests beside the copy, as
#      in the daemon), then fsync.  The daemon's CPU seconds of each
#      transfer are shown: on a loaded machine the wall time follows them.
#   3. the real daemon (build/daemon/vmsnapd, the catalog identity, a data
#      directory of its own): requests per second for GET
#      /image/v2/images with 1,000 images in the catalog (Glance's default
#      page of 25, and the whole list with limit=1000), and the Glance
#      upload (PUT .../file of a raw image: hashed, checked, committed to
#      the image store) and download (GET .../file) of the SIZE file
#      against cp.
# Parts 1 and 2 run the test build of the daemon (tests/api/vmsnapd-test:
# in-memory identity, test routes) from ./build; only loopback traffic;
# every loop is bounded.
#
#   bench/api.sh            SIZE=256M DURATION=5 REPEAT=3 bench/api.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VMSNAPD=${VMSNAPD:-build/tests/api/vmsnapd-test}
VMSNAPD_REAL=${VMSNAPD_REAL:-build/daemon/vmsnapd}
VMSNAP_CLI=${VMSNAP_CLI:-build/cli/vmsnap}
IMAGES=${IMAGES:-1000}
SIZE=${SIZE:-1G}
DURATION=${DURATION:-10}
REPEAT=${REPEAT:-3}
CONNS=${CONNS:-8}

for tool in wrk curl; do
    command -v $tool >/dev/null || { echo "bench: $tool is missing (scripts/setup.sh)" >&2; exit 1; }
done
[ -x "$VMSNAPD" ] || { echo "bench: build first: ninja -C build" >&2; exit 1; }

# The files live on the same file system as the daemon's data directory,
# so cp and the daemon write to the same disk.
W=$(mktemp -d /var/tmp/vmsnap-bench.XXXXXX)
PID=
RPID=
cleanup() {
    [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    [ -n "$RPID" ] && kill -TERM "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT

mkdir -p "$W/data/blobs"
echo "bench secret bench admin" >"$W/data/identity"
"$VMSNAPD" --quiet --listen 127.0.0.1:0 --port-file "$W/port" \
    --data-dir "$W/data" 2>"$W/log" &
PID=$!
for ((i = 0; i < 600; i++)); do
    [ -s "$W/port" ] && curl -s -o /dev/null "http://127.0.0.1:$(cat "$W/port")/identity/v3" && break
    sleep 0.1
done
B=http://127.0.0.1:$(cat "$W/port")
T=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
    -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"bench","domain":{"name":"Default"},"password":"secret"}}},"scope":{"project":{"name":"bench","domain":{"name":"Default"}}}}}' \
    "$B/identity/v3/auth/tokens" | awk -F': ' 'tolower($1) == "x-subject-token" {print $2}' | tr -d '\r')
[ ${#T} -eq 43 ] || { echo "bench: no token" >&2; exit 1; }

echo "vmsnapd bench: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), wrk ${DURATION}s x $CONNS connections, file $SIZE"

rps() {  # rps NAME URL [HEADERS...]: wrk's requests/sec
    local name=$1 url=$2
    shift 2
    local args=()
    for h in "$@"; do args+=(-H "$h"); done
    local out
    out=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" "${args[@]}" "$url")
    local r lat
    r=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    lat=$(awk '/^ +Latency/ {print $2}' <<<"$out")
    if grep -q 'Non-2xx' <<<"$out"; then
        echo "bench: $name answered errors" >&2
        exit 1
    fi
    printf '  %-44s %10s req/s  (mean latency %s)\n' "$name" "$r" "$lat"
}

echo "Requests per second:"
rps "token validation (GET auth/tokens)" "$B/identity/v3/auth/tokens?nocatalog" \
    "X-Auth-Token: $T" "X-Subject-Token: $T"
rps "token check + small GET (/test/whoami)" "$B/test/whoami" "X-Auth-Token: $T"
rps "no token: version document (/identity/v3)" "$B/identity/v3"

head -c "$SIZE" /dev/urandom >"$W/src"
BYTES=$(stat -c %s "$W/src")

now() { date +%s.%N; }
# best NAME COMMAND...: the shortest of REPEAT runs, in seconds.
best() {
    local b="" t0 t1 d i
    for ((i = 0; i < REPEAT; i++)); do
        sync
        t0=$(now)
        "$@"
        t1=$(now)
        d=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}')
        if [ -z "$b" ] || awk -v d="$d" -v b="$b" 'BEGIN {exit !(d < b)}'; then
            b=$d
        fi
    done
    echo "$b"
}

do_cp() { rm -f "$W/cp"; cp "$W/src" "$W/cp"; }
do_cp_sync() { rm -f "$W/cp"; cp "$W/src" "$W/cp"; sync -f "$W/cp"; }
# The fair baseline of an upload: a durable copy and Glance's checksums,
# each tool at its best: cp (copy_file_range), md5sum and sha512sum of
# the source all at once (three processes on the 2 cores), then fsync.
do_cp_hash() {
    rm -f "$W/cp"
    cp "$W/src" "$W/cp" &
    md5sum "$W/src" >"$W/md5" &
    sha512sum "$W/src" >"$W/sha" &
    wait
    sync -f "$W/cp"
}
# cpu PID: the process's user and system time so far, in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# cpu_per_run PID TICKS-BEFORE: CPU seconds of one of REPEAT runs.
cpu_per_run() {
    awk -v a="$2" -v b="$(cpu "$1")" -v n="$REPEAT" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "%.2f", (b - a) / hz / n}'
}
do_up() {
    rm -f "$W/data/blobs/up" "$W/data/blobs/.up.md5"
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "X-Auth-Token: $T" \
        -T "$W/src" "$B/test/blobs/up")
    [ "$code" = 200 ] || { echo "bench: upload gave $code" >&2; exit 1; }
}
do_down() {
    curl -s -o "$W/down" -H "X-Auth-Token: $T" "$B/test/blobs/up$1"
    [ "$(stat -c %s "$W/down")" = "$BYTES" ] || { echo "bench: short download" >&2; exit 1; }
}
# The same transfers with a raw socket as the client (bash's /dev/tcp and
# cat, 128 KiB reads and writes): what the daemon can do when the
# client is not curl (16 KiB pieces).
raw_request() {  # raw_request REQUEST-HEAD: the socket on descriptor 3
    exec 3<>"/dev/tcp/127.0.0.1/${B##*:}"
    printf '%s\r\nHost: bench\r\nX-Auth-Token: %s\r\nConnection: close\r\n%s\r\n' \
        "$1" "$T" "$2" >&3
}
do_up_raw() {
    rm -f "$W/data/blobs/up" "$W/data/blobs/.up.md5"
    raw_request "PUT /test/blobs/up HTTP/1.1" "Content-Length: $BYTES"$'\r\n'
    cat "$W/src" >&3
    head -1 <&3 | grep -q ' 200 ' || { echo "bench: raw upload failed" >&2; exit 1; }
    exec 3>&-
}
do_down_raw() {
    raw_request "GET /test/blobs/up HTTP/1.1" ""
    cat <&3 >"$W/down"
    exec 3>&-
}
do_down_fd() { do_down ""; }
do_down_reader() { do_down /reader; }

t_cp=$(best do_cp)
t_cps=$(best do_cp_sync)
t_cph=$(best do_cp_hash)
c0=$(cpu "$PID")
t_up=$(best do_up)
c_up=$(cpu_per_run "$PID" "$c0")
c0=$(cpu "$PID")
t_dfd=$(best do_down_fd)
c_dfd=$(cpu_per_run "$PID" "$c0")
t_drd=$(best do_down_reader)
t_upr=$(best do_up_raw)
t_dr=$(best do_down_raw)
# The raw download has the response head before the data.
tail -c "$BYTES" "$W/down" | cmp -s "$W/src" - ||
    { echo "bench: download differs" >&2; exit 1; }

line() {  # line NAME SECONDS REF-SECONDS [DAEMON-CPU-SECONDS]
    awk -v n="$1" -v t="$2" -v r="$3" -v b="$BYTES" -v c="${4:-}" 'BEGIN {
        printf "  %-44s %7.2f s %8.1f MB/s   ratio to cp %.2f%s\n", n, t,
               b / t / 1000000, r / t,
               c == "" ? "" : sprintf("   (daemon CPU %.2f s)", c) }'
}
echo "Throughput of $BYTES bytes (best of $REPEAT):"
line "cp" "$t_cp" "$t_cp"
line "cp + fsync" "$t_cps" "$t_cp"
line "cp + fsync + MD5 + SHA-512 (all at once)" "$t_cph" "$t_cp"
line "upload (PUT, MD5+SHA-512, fsync)" "$t_up" "$t_cp" "$c_up"
line "download from a descriptor (sendfile)" "$t_dfd" "$t_cp" "$c_dfd"
line "download through a reader (pread)" "$t_drd" "$t_cp"
line "upload, raw socket client" "$t_upr" "$t_cp"
line "download (sendfile), raw socket client" "$t_dr" "$t_cp"
awk -v a="$t_cps" -v b="$t_up" \
    'BEGIN {printf "  upload against cp + fsync: ratio %.2f\n", a / b}'
awk -v a="$t_cph" -v b="$t_up" 'BEGIN {
    printf "  upload against cp + fsync + MD5 + SHA-512 (the fair baseline): ratio %.2f\n", a / b}'

# --- 3. The real daemon: Glance with IMAGES images, a Glance upload ------
[ -x "$VMSNAPD_REAL" ] && [ -x "$VMSNAP_CLI" ] ||
    { echo "bench: no $VMSNAPD_REAL or $VMSNAP_CLI: part 3 skipped" >&2; exit 0; }
rm -f "$W/cp" "$W/down" "$W/data/blobs/up"
export VMSNAP_DATA_DIR=$W/real
echo secret >"$W/pw"
"$VMSNAP_CLI" project create bench >/dev/null
"$VMSNAP_CLI" user create bench --project bench --password-file "$W/pw" >/dev/null
"$VMSNAPD_REAL" --quiet --listen 127.0.0.1:0 --port-file "$W/rport" \
    2>"$W/rlog" &
RPID=$!
for ((i = 0; i < 600; i++)); do
    [ -s "$W/rport" ] && curl -s -o /dev/null "http://127.0.0.1:$(cat "$W/rport")/identity/v3" && break
    sleep 0.1
done
B=http://127.0.0.1:$(cat "$W/rport")
T=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' \
    -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"bench","domain":{"name":"Default"},"password":"secret"}}},"scope":{"project":{"name":"bench","domain":{"name":"Default"}}}}}' \
    "$B/identity/v3/auth/tokens" | awk -F': ' 'tolower($1) == "x-subject-token" {print $2}' | tr -d '\r')
[ ${#T} -eq 43 ] || { echo "bench: no token from vmsnapd" >&2; exit 1; }
# IMAGES images (queued: records without data), made by one curl.
for ((i = 0; i < IMAGES; i++)); do
    [ "$i" = 0 ] || echo next
    printf 'url = "%s/image/v2/images"\nheader = "X-Auth-Token: %s"\nheader = "Content-Type: application/json"\ndata = "{\\"name\\": \\"img-%04d\\", \\"disk_format\\": \\"raw\\", \\"container_format\\": \\"bare\\"}"\noutput = /dev/null\n' \
        "$B" "$T" "$i"
done >"$W/curlrc"
t0=$(now)
curl -s -K "$W/curlrc"
t1=$(now)
n=$(curl -s -H "X-Auth-Token: $T" "$B/image/v2/images?limit=1000" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["images"]))')
[ "$n" -ge "$IMAGES" ] || [ "$n" -eq 1000 ] ||
    { echo "bench: only $n images listed" >&2; exit 1; }
awk -v n="$IMAGES" -v a="$t0" -v b="$t1" 'BEGIN {
    printf "vmsnapd (real daemon, catalog identity): %d images made in %.1f s (%.0f POST/s, one client)\n", n, b - a, n / (b - a) }'
echo "Requests per second:"
rps "token validation (GET auth/tokens)" "$B/identity/v3/auth/tokens?nocatalog" \
    "X-Auth-Token: $T" "X-Subject-Token: $T"
rps "GET /image/v2/images (25 of $IMAGES)" "$B/image/v2/images" "X-Auth-Token: $T"
rps "GET /image/v2/images?limit=1000" "$B/image/v2/images?limit=1000" \
    "X-Auth-Token: $T"

# Glance upload and download of the SIZE file as a raw image.
mkimg() {
    curl -s -H "X-Auth-Token: $T" -H 'Content-Type: application/json' \
        -d '{"name": "big", "disk_format": "raw", "container_format": "bare"}' \
        "$B/image/v2/images" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
# best runs each in a subshell: the image's ID is kept in a file.
do_gup() {
    local code IMG
    IMG=$(cat "$W/img" 2>/dev/null || true)
    [ -n "$IMG" ] && curl -s -o /dev/null -X DELETE -H "X-Auth-Token: $T" \
        "$B/image/v2/images/$IMG"
    IMG=$(mkimg)
    echo "$IMG" >"$W/img"
    sync
    code=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -X PUT \
        -H "X-Auth-Token: $T" -H 'Content-Type: application/octet-stream' \
        -T "$W/src" "$B/image/v2/images/$IMG/file")
    [ "${code% *}" = 204 ] || { echo "bench: Glance upload gave $code" >&2; exit 1; }
    # The PUT alone: the delete and create around it (a python3 each)
    # are not the upload's time.
    echo "${code#* }" >>"$W/gup-times"
}
do_gdown() {
    local IMG
    IMG=$(cat "$W/img")
    curl -s -o "$W/down" -H "X-Auth-Token: $T" "$B/image/v2/images/$IMG/file"
}
rm -f "$W/gup-times"
c0=$(cpu "$RPID")
best do_gup >/dev/null
c_gup=$(cpu_per_run "$RPID" "$c0")
t_gup=$(sort -g "$W/gup-times" | head -1)
c0=$(cpu "$RPID")
t_gdown=$(best do_gdown)
c_gdown=$(cpu_per_run "$RPID" "$c0")
cmp -s "$W/src" "$W/down" || { echo "bench: Glance download differs" >&2; exit 1; }
echo "Glance throughput of $BYTES bytes (best of $REPEAT; same cp as above):"
line "cp" "$t_cp" "$t_cp"
line "cp + fsync + MD5 + SHA-512 (all at once)" "$t_cph" "$t_cp"
line "Glance upload (PUT .../file, raw image)" "$t_gup" "$t_cp" "$c_gup"
line "Glance download (GET .../file)" "$t_gdown" "$t_cp" "$c_gdown"
awk -v a="$t_cps" -v b="$t_gup" \
    'BEGIN {printf "  Glance upload against cp + fsync: ratio %.2f\n", a / b}'
awk -v a="$t_cph" -v b="$t_gup" 'BEGIN {
    printf "  Glance upload against cp + fsync + MD5 + SHA-512 (the fair baseline): ratio %.2f\n", a / b}'
