# vmsnap multi-host tests: the shared services (PostgreSQL, Swift's S3)
# started by scripts/services.sh in a private directory on free ports, so
# that a user's own services are never touched, and stopped on exit (only
# what the test started).  Source it, then call services_up.
#
# Environment (set by meson): SRCDIR.  For a quicker run by hand,
# VMSNAP_TEST_SERVICES_DIR may name the directory of services already up
# (scripts/services.sh up with VMSNAP_SERVICES_DIR and the ports set, as
# exported when the test runs): they are used, stopped and started as the
# test needs, and left running; the catalog is emptied first.
: "${SRCDIR:?SRCDIR must name the source tree}"

SERVICES=$SRCDIR/scripts/services.sh
SV_DIR=$(mktemp -d /tmp/vmsnap-services.XXXXXX)
chmod 755 "$SV_DIR"
SV_REUSE=${VMSNAP_TEST_SERVICES_DIR:-}
export VMSNAP_SERVICES_DIR=${SV_REUSE:-$SV_DIR/services}

sv_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

sv_free_base() {  # sv_free_base COUNT: the first of COUNT free ports in a row
    local b i busy
    for _ in $(seq 1 50); do
        # Below Linux's ephemeral ports (32768 up): a port found free
        # there can be taken by any outgoing connection before the
        # server binds it (a Swift server then never came up).
        b=$((20000 + (RANDOM % 3000) * 4))
        busy=false
        for i in $(seq 0 $(($1 - 1))); do
            sv_port_busy $((b + i)) && busy=true
        done
        $busy || { echo $b; return 0; }
    done
    return 1
}

services_cleanup() {
    [ -n "$SV_REUSE" ] || bash "$SERVICES" down >/dev/null 2>&1
    rm -rf "$SV_DIR"
}

# Start WHAT (pg, s3 or all) and export the settings it prints.  On
# failure, print one failed check with the log and exit.
services_up() {  # services_up WHAT
    local env_lines
    if [ -n "$SV_REUSE" ]; then
        bash "$SERVICES" up "$1" 2>"$SV_DIR/up.log" >"$SV_DIR/env" &&
            eval "$(cat "$SV_DIR/env")" && {
            # A fresh catalog (the objects' keys are UUIDs: no clash).
            [ "$1" = s3 ] || psql "$VMSNAP_CATALOG" -qXc \
                'drop owned by current_user' >/dev/null
        } && return 0
        echo "not ok 1 - the services in $SV_REUSE"
        echo "1..1"
        exit 1
    fi
    VMSNAP_SERVICES_PG_PORT=$(sv_free_base 1) &&
        VMSNAP_SERVICES_S3_PORT=$(sv_free_base 4) || {
        echo "not ok 1 - free ports for the services"
        echo "1..1"
        exit 1
    }
    export VMSNAP_SERVICES_PG_PORT VMSNAP_SERVICES_S3_PORT
    if ! env_lines=$(bash "$SERVICES" up "$1" 2>"$SV_DIR/up.log"); then
        echo "not ok 1 - scripts/services.sh up $1"
        sed 's/^/# /' "$SV_DIR/up.log"
        echo "1..1"
        exit 1
    fi
    eval "$env_lines"
}

# Stop and start again (WHAT: pg or s3), as an outage would.
services_stop() { bash "$SERVICES" down "$1" >/dev/null 2>&1; }
services_start() { bash "$SERVICES" up "$1" >/dev/null 2>>"$SV_DIR/up.log"; }
