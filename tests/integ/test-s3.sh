#!/bin/bash
# The S3 client and the s3 store against a real object store: OpenStack
# Swift with its S3 API, started here by scripts/services.sh in a private
# directory on free ports (so a user's own services are never touched),
# and stopped at the end.  The checks are in test-s3-client.c (TAP); it
# stops and restarts the object store itself for the mid-upload cases.
#
# Environment (set by meson): SRCDIR, S3_TEST_PROG (test-s3-client).
set -u
: "${SRCDIR:?SRCDIR must name the source tree}"
: "${S3_TEST_PROG:?S3_TEST_PROG must name test-s3-client}"

services=$SRCDIR/scripts/services.sh
T_DIR=$(mktemp -d /tmp/vmsnap-s3-test.XXXXXX)
chmod 755 "$T_DIR"
export VMSNAP_SERVICES_DIR=$T_DIR/services

bail() {  # bail REASON: one failed check and the plan
    echo "not ok 1 - $1"
    [ -f "$T_DIR/up.log" ] && sed 's/^/# /' "$T_DIR/up.log"
    echo "1..1"
    exit 1
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Four free ports in a row (the proxy and the three storage servers).
base=
for _ in $(seq 1 50); do
    # Below Linux's ephemeral ports (32768 up): a port found free
    # there can be taken by any outgoing connection before the server
    # binds it (a Swift server then never came up).
    b=$((20000 + (RANDOM % 3000) * 4))
    if ! port_busy $b && ! port_busy $((b + 1)) && ! port_busy $((b + 2)) &&
            ! port_busy $((b + 3)); then
        base=$b
        break
    fi
done
[ -n "$base" ] || bail "no free ports"
export VMSNAP_SERVICES_S3_PORT=$base

cleanup() {
    bash "$services" down s3 >/dev/null 2>&1
    rm -rf "$T_DIR"
}
trap cleanup EXIT

env_lines=$(bash "$services" up s3 2>"$T_DIR/up.log") ||
    bail "scripts/services.sh up s3 starts Swift"
eval "$env_lines"
export SERVICES=$services
export TEST_DIR=$T_DIR/scratch
mkdir -p "$TEST_DIR"
"$S3_TEST_PROG"
