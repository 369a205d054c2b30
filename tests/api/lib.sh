# vmsnap API tests: shared shell functions.  Source it from a test script.
# Tests speak TAP: ok/not ok lines, a plan at the end (done_testing).
#
# Environment (set by meson): VMSNAPD (the test build of the daemon, with
# the in-memory identity backend and the test routes), SRCDIR.
set -u

: "${VMSNAPD:?VMSNAPD must name the vmsnapd-test binary}"
: "${SRCDIR:?SRCDIR must name the source tree}"

. "$SRCDIR/tests/tap.sh"
T_DIR=$(mktemp -d /tmp/vmsnap-api.XXXXXX)
T_PIDS=()

cleanup() {
    local p
    for p in "${T_PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$T_DIR"
}
trap cleanup EXIT

# wait_for SECONDS COMMAND...: poll COMMAND every 50 ms until it succeeds;
# fails after SECONDS.
wait_for() {
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 20; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}

# refused URL: true when nothing accepts a connection at URL.
refused() {
    ! curl -s -o /dev/null "$1"
}

# The users of the in-memory backend: USER PASSWORD PROJECT ROLE.
write_identity() {  # write_identity DATA-DIR
    mkdir -p "$1/blobs"
    cat >"$1/identity" <<'ID'
alice secret1 demo admin
bob secret2 demo member
bob secret2 other member
carol secret3 other member
ID
}

# start_daemon NAME [OPTIONS...]: start vmsnapd-test with its own data
# directory $T_DIR/NAME and port file; sets PORT, PID, BASE (http URL),
# LOG.  Waits until it answers.  Fails if it does not start.
start_daemon() {
    local name=$1 scheme=http
    shift
    local dd=$T_DIR/$name
    write_identity "$dd"
    rm -f "$dd/port"
    LOG=$dd/log
    "$VMSNAPD" --listen 127.0.0.1:0 --port-file "$dd/port" \
        --data-dir "$dd" "$@" >"$LOG" 2>&1 &
    PID=$!
    T_PIDS+=("$PID")
    case " $* " in *" --tls-cert "*) scheme=https ;; esac
    wait_for 60 test -s "$dd/port" || return 1
    PORT=$(cat "$dd/port")
    BASE=$scheme://127.0.0.1:$PORT
    DATA=$dd
    wait_for 20 curl -sk -o /dev/null "$BASE/identity/v3"
}

# stop_daemon [SIGNAL]: signal PID (TERM) and wait; returns its exit
# status.  Not in a subshell: only this shell can wait for it.
stop_daemon() {
    kill -"${1:-TERM}" "$PID" 2>/dev/null
    wait "$PID"
}

# The body of a password login as USER PASSWORD to PROJECT ("" for none).
auth_body() {
    local scope=""
    [ -n "$3" ] && scope=",\"scope\":{\"project\":{\"name\":\"$3\",\"domain\":{\"name\":\"Default\"}}}"
    printf '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"%s","domain":{"name":"Default"},"password":"%s"}}}%s}}' "$1" "$2" "$scope"
}

# token USER PASSWORD PROJECT: log in at $BASE; prints the token.
token() {
    curl -sk -D - -o /dev/null -H 'Content-Type: application/json' \
        -d "$(auth_body "$1" "$2" "$3")" "$BASE/identity/v3/auth/tokens" |
        awk -F': ' 'tolower($1) == "x-subject-token" {print $2}' |
        tr -d '\r'
}

# json FILE EXPR: print the Python expression EXPR over the JSON in FILE
# (bound to d).
json() {
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}

# status METHOD URL [CURL-ARGS...]: the HTTP status; the body goes to
# $T_DIR/body and the headers to $T_DIR/headers.
status() {
    local m=$1 u=$2
    shift 2
    curl -sk -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' \
        -X "$m" "$@" "$u"
}

# header NAME: the value of header NAME in $T_DIR/headers.
header() {
    awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' \
        'tolower($1) == n {sub(/\r$/, "", $2); print $2}' "$T_DIR/headers"
}
