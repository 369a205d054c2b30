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
# Runs the test build of the daemon (tests/api/vmsnapd-test: in-memory
# identity, test routes) from ./build; only loopback traffic; every loop
# is bounded.
#
#   bench/api.sh            SIZE=256M DURATION=5 REPEAT=3 bench/api.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VMSNAPD=${VMSNAPD:-build/tests/api/vmsnapd-test}
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
cleanup() {
    [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
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
t_up=$(best do_up)
t_dfd=$(best do_down_fd)
t_drd=$(best do_down_reader)
t_upr=$(best do_up_raw)
t_dr=$(best do_down_raw)
# The raw download has the response head before the data.
tail -c "$BYTES" "$W/down" | cmp -s "$W/src" - ||
    { echo "bench: download differs" >&2; exit 1; }

line() {  # line NAME SECONDS REF-SECONDS
    awk -v n="$1" -v t="$2" -v r="$3" -v b="$BYTES" 'BEGIN {
        printf "  %-44s %7.2f s %8.1f MB/s   ratio to cp %.2f\n", n, t,
               b / t / 1000000, r / t }'
}
echo "Throughput of $BYTES bytes (best of $REPEAT):"
line "cp" "$t_cp" "$t_cp"
line "cp + fsync" "$t_cps" "$t_cp"
line "upload (PUT, MD5+SHA-512, fsync)" "$t_up" "$t_cp"
line "download from a descriptor (sendfile)" "$t_dfd" "$t_cp"
line "download through a reader (pread)" "$t_drd" "$t_cp"
line "upload, raw socket client" "$t_upr" "$t_cp"
line "download (sendfile), raw socket client" "$t_dr" "$t_cp"
awk -v a="$t_cps" -v b="$t_up" \
    'BEGIN {printf "  upload against cp + fsync: ratio %.2f\n", a / b}'
