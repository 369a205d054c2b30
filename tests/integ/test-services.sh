#!/bin/bash
# scripts/services.sh itself: both services up in a private directory on
# free ports, the catalog reachable with the printed connection string,
# "up" twice is harmless, "down" stops what it started and only that.
#
# Environment (set by meson): SRCDIR.
set -u
: "${SRCDIR:?SRCDIR must name the source tree}"

services=$SRCDIR/scripts/services.sh
T_DIR=$(mktemp -d /tmp/vmsnap-services-test.XXXXXX)
chmod 755 "$T_DIR"
export VMSNAP_SERVICES_DIR=$T_DIR/services
. "$SRCDIR/tests/tap.sh"

alive() {  # alive PID: running (a zombie does not count)
    local state
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' \
        "/proc/$1/status" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ]
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_base() {  # free_base COUNT: the first of COUNT free ports in a row
    local b i busy
    for _ in $(seq 1 50); do
        # Below Linux's ephemeral ports (32768 up): a port found free
        # there can be taken by any outgoing connection before the
        # server binds it (a Swift server then never came up).
        b=$((20000 + (RANDOM % 3000) * 4))
        busy=false
        for i in $(seq 0 $(($1 - 1))); do
            port_busy $((b + i)) && busy=true
        done
        $busy || { echo $b; return 0; }
    done
    return 1
}

cleanup() {
    bash "$services" down >/dev/null 2>&1
    rm -rf "$T_DIR"
}
trap cleanup EXIT

VMSNAP_SERVICES_S3_PORT=$(free_base 4) && VMSNAP_SERVICES_PG_PORT=$(free_base 1)
ok $? "free ports"
export VMSNAP_SERVICES_S3_PORT VMSNAP_SERVICES_PG_PORT

out1=$(bash "$services" up 2>"$T_DIR/up1.log")
ok $? "up starts PostgreSQL and Swift"
[ $? -eq 0 ] || sed 's/^/# /' "$T_DIR/up1.log"
eval "$out1"
echo "$out1" | grep -q "^export VMSNAP_CATALOG='host=127.0.0.1 port=$VMSNAP_SERVICES_PG_PORT " &&
    echo "$out1" | grep -q "^export VMSNAP_STORE=s3$" &&
    echo "$out1" | grep -q "^export VMSNAP_S3_ENDPOINT='http://127.0.0.1:$VMSNAP_SERVICES_S3_PORT'$" &&
    [ -n "${VMSNAP_S3_BUCKET:-}" ] && [ -n "${VMSNAP_S3_REGION:-}" ]
ok $? "it prints the settings as export lines"
[ "$(stat -c %a "$VMSNAP_S3_CREDENTIALS" 2>/dev/null)" = 600 ] &&
    grep -q '^access_key = ' "$VMSNAP_S3_CREDENTIALS" &&
    grep -q '^secret_key = ' "$VMSNAP_S3_CREDENTIALS"
ok $? "the credentials file is 0600 and holds the key and secret"
secret=$(sed -n 's/^secret_key = //p' "$VMSNAP_S3_CREDENTIALS")
! echo "$out1" | grep -qF "$secret" && ! grep -rqF "$secret" /proc/[0-9]*/cmdline 2>/dev/null
ok $? "the secret is on no command line and not printed"
[ "$(psql "$VMSNAP_CATALOG" -XAtc 'select 1' 2>&1)" = 1 ]
ok $? "psql \"\$VMSNAP_CATALOG\" -c 'select 1' works"
psql "$VMSNAP_CATALOG" -XAtc 'create table t (x int); insert into t values (7)' \
    >/dev/null 2>&1
ok $? "the vmsnap role can create tables in its database"

pids1=$(cat "$VMSNAP_SERVICES_DIR"/swift/run/*.pid | sort | tr '\n' ' ')
pg1=$(head -1 "$VMSNAP_SERVICES_DIR/pg/data/postmaster.pid")
out2=$(bash "$services" up 2>/dev/null)
ok $? "up again succeeds"
[ "$out1" = "$out2" ]
ok $? "and prints the same settings"
pids2=$(cat "$VMSNAP_SERVICES_DIR"/swift/run/*.pid | sort | tr '\n' ' ')
pg2=$(head -1 "$VMSNAP_SERVICES_DIR/pg/data/postmaster.pid")
[ "$pids1" = "$pids2" ] && [ "$pg1" = "$pg2" ]
ok $? "without restarting anything"
bash "$services" status >/dev/null
ok $? "status: both running"

# A process that is not ours, in a pid file of ours, must survive down.
sleep 300 &
decoy=$!
bash "$services" down s3 >/dev/null 2>&1
ok $? "down s3"
left=0
for p in $pids1; do
    if alive "$p"; then left=$((left + 1)); fi
done
[ $left -eq 0 ]
ok $? "the Swift servers are gone"
bash "$services" status pg >/dev/null && ! bash "$services" status s3 >/dev/null
ok $? "PostgreSQL still runs, Swift does not"
echo $decoy >"$VMSNAP_SERVICES_DIR/swift/run/proxy.pid"
bash "$services" down >/dev/null 2>&1
alive $decoy
ok $? "down never kills a process that is not its server"
kill $decoy 2>/dev/null
! alive "$pg1" && ! bash "$services" status pg >/dev/null
ok $? "down stops PostgreSQL"

out3=$(bash "$services" up pg 2>/dev/null) && eval "$out3" &&
    [ "$(psql "$VMSNAP_CATALOG" -XAtc 'select x from t' 2>&1)" = 7 ]
ok $? "up again: the same cluster, its data kept"

done_testing
