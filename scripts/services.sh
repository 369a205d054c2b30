#!/bin/bash
# The shared services of a multi-host vmsnap, on this one machine, from
# Debian's packages: a PostgreSQL 15 cluster for the catalog and an
# OpenStack Swift 2.30 with its S3 API (s3api middleware) for image data.
#
# Usage: scripts/services.sh up|down|status|env [pg|s3|all]
#   up      start what is not running (idempotent), wait until each one
#           answers, create the bucket, and print the settings a vmsnap
#           host needs as "export VMSNAP_...=..." lines on stdout (so
#           eval "$(scripts/services.sh up)" works); progress on stderr;
#   down    stop what this script started (its own PostgreSQL cluster and
#           the Swift servers of its pid files), nothing else;
#   status  one line per service, "running" or "stopped"; exit 0 when all
#           asked for run;
#   env     print the export lines without starting anything.
# The printed settings: VMSNAP_CATALOG (a libpq connection string whose
# password is in a passfile), VMSNAP_STORE=s3, VMSNAP_S3_ENDPOINT,
# VMSNAP_S3_BUCKET, VMSNAP_S3_REGION and VMSNAP_S3_CREDENTIALS (a 0600
# file of "access_key = ..." and "secret_key = ..." lines).  No secret is
# ever put on a command line: curl reads its credentials from stdin.
#
# Where things are (all under one directory, $VMSNAP_SERVICES_DIR, default
# /var/lib/vmsnap-services):
#   pg/data        the PostgreSQL cluster (initdb'd on first up), its
#                  sockets in pg/run, its log in pg/log
#   pgpass         the libpq passfile (0600)
#   swift/etc      swift.conf, the four servers' configs and the one-node
#                  rings; swift/srv/d1 the one device (a plain directory:
#                  mount_check = false); swift/run pid files; swift/log
#   s3-credentials the S3 access key and secret (0600)
#   secrets        generated once: passwords and Swift's hash path salts
# Ports on 127.0.0.1: PostgreSQL $VMSNAP_SERVICES_PG_PORT (15432); the Swift
# proxy (the S3 endpoint) $VMSNAP_SERVICES_S3_PORT (16080) and its object,
# container and account servers on the three ports after it.
#
# Swift runs as one process per server (workers = 0), without replicators,
# auditors or updaters: one node, one replica, just what an S3 client
# needs.  Auth is tempauth: the S3 access key is "vmsnap:vmsnap" (tempauth
# names a key account:user) with a generated secret.
#
# On a fresh Debian 12, as root, it installs the packages it needs with
# apt-get.  As root the servers run as the "postgres" and "swift" users the
# packages create; as another user they run as that user.
set -euo pipefail

dir=${VMSNAP_SERVICES_DIR:-/var/lib/vmsnap-services}
pg_port=${VMSNAP_SERVICES_PG_PORT:-15432}
s3_port=${VMSNAP_SERVICES_S3_PORT:-16080}
bucket=${VMSNAP_SERVICES_BUCKET:-vmsnap}
region=us-east-1
pg_bin=/usr/lib/postgresql/15/bin
swift_servers=(object container account proxy)

log() { echo "services: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
    echo "usage: $0 up|down|status|env [pg|s3|all]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
what=${2:-all}
case $what in pg|s3|all) ;; *) usage ;; esac
want() { [ "$what" = all ] || [ "$what" = "$1" ]; }

if [ "$(id -u)" -eq 0 ]; then
    pg_user=postgres
    swift_user=swift
else
    pg_user=$(id -un)
    swift_user=$pg_user
fi

as_user() {  # as_user USER COMMAND...: run as USER (no switch if it is us)
    local u=$1
    shift
    if [ "$u" = "$(id -un)" ]; then
        "$@"
    else
        runuser -u "$u" -- "$@"
    fi
}

# A deadline-bounded probe loop: wait_for SECONDS DESCRIPTION COMMAND...
# runs COMMAND until it succeeds; fails after SECONDS.
wait_for() {
    local secs=$1 desc=$2 end
    shift 2
    end=$(( $(date +%s) + secs ))
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$end" ]; then
            log "$desc did not come up within ${secs}s"
            return 1
        fi
        sleep 0.2
    done
}

packages=(postgresql-15 postgresql-client-15 python3-swift swift
          swift-proxy swift-object swift-container swift-account curl
          openssl util-linux)
missing=()

find_missing() {  # sets missing to the packages not installed
    local p
    missing=()
    for p in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
                grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
}

# Several "up"s may start at once on a fresh machine (the tests start
# services of their own in parallel): the first installs under an
# exclusive lock, the others wait for it and find the packages there.
# apt-get itself waits for the dpkg lock of any other apt user.
install_packages() {
    find_missing
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] ||
        die "missing packages: ${missing[*]} (run as root to install)"
    exec 8>/run/lock/vmsnap-services-install.lock ||
        die "cannot open /run/lock/vmsnap-services-install.lock"
    flock 8
    find_missing
    if [ ${#missing[@]} -eq 0 ]; then
        exec 8>&-
        return 0
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q >&2
    # policy-rc.d keeps the packages' own services (the system's default
    # PostgreSQL cluster, Swift on /etc/swift) from being started.
    local prc=/usr/sbin/policy-rc.d added=false
    if [ ! -e $prc ]; then
        printf '#!/bin/sh\nexit 101\n' >$prc
        chmod 755 $prc
        added=true
    fi
    apt-get -o DPkg::Lock::Timeout=600 install -y -q \
        --no-install-recommends "${missing[@]}" >&2 ||
        { $added && rm -f $prc; die "apt-get install failed"; }
    $added && rm -f $prc
    exec 8>&-
    return 0
}

# Secrets made once and kept: changing Swift's hash salts would lose the
# stored objects.
secret() {  # secret NAME: print the value of NAME, making it if missing
    local f=$dir/secrets v
    touch "$f"
    chmod 600 "$f"
    v=$(sed -n "s/^$1=//p" "$f")
    if [ -z "$v" ]; then
        v=$(openssl rand -hex 16)
        echo "$1=$v" >>"$f"
    fi
    echo "$v"
}

# --- PostgreSQL ------------------------------------------------------------

pg_data=$dir/pg/data

pg_running() {
    [ -f "$pg_data/PG_VERSION" ] &&
        as_user "$pg_user" "$pg_bin/pg_ctl" -D "$pg_data" status >/dev/null 2>&1
}

pg_psql() {  # pg_psql SQL: run SQL as the cluster's superuser
    as_user "$pg_user" "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 \
        -h "$dir/pg/run" -p "$pg_port" -U postgres -d postgres -At -c "$1"
}

pg_up() {
    local pw
    pw=$(secret pg_password)
    mkdir -p "$dir/pg/run"
    chown "$pg_user" "$dir/pg" "$dir/pg/run"
    if [ ! -f "$pg_data/PG_VERSION" ]; then
        log "initdb $pg_data"
        as_user "$pg_user" "$pg_bin/initdb" -D "$pg_data" -U postgres \
            -E UTF8 --no-locale --auth-local=peer \
            --auth-host=scram-sha-256 >"$dir/pg/initdb.log" 2>&1 ||
            die "initdb failed (see $dir/pg/initdb.log)"
        echo "include_if_exists = 'vmsnap-services.conf'" \
            >>"$pg_data/postgresql.conf"
    fi
    # Small: a test server on a shared 2-core machine.
    cat >"$pg_data/vmsnap-services.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$dir/pg/run'
max_connections = 50
shared_buffers = 32MB
EOF
    chown "$pg_user" "$pg_data/vmsnap-services.conf"
    if ! pg_running; then
        log "starting PostgreSQL on 127.0.0.1:$pg_port"
        as_user "$pg_user" "$pg_bin/pg_ctl" -D "$pg_data" -l "$dir/pg/log" \
            -w -t 60 start >/dev/null ||
            die "PostgreSQL did not start (see $dir/pg/log)"
    fi
    wait_for 60 "PostgreSQL" "$pg_bin/pg_isready" -q -h 127.0.0.1 \
        -p "$pg_port" || exit 1
    # The role and database vmsnap uses; the password is (re)set from the
    # secrets file so that the passfile always matches.  PW is hex.
    pg_psql "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vmsnap') THEN
            CREATE ROLE vmsnap LOGIN;
        END IF;
        ALTER ROLE vmsnap PASSWORD '$pw';
        END \$\$;" >/dev/null
    if [ "$(pg_psql "SELECT 1 FROM pg_database WHERE datname = 'vmsnap'")" \
            != 1 ]; then
        pg_psql "CREATE DATABASE vmsnap OWNER vmsnap" >/dev/null
    fi
    ( umask 077; echo "127.0.0.1:$pg_port:vmsnap:vmsnap:$pw" \
        >"$dir/pgpass" )
}

pg_down() {
    if pg_running; then
        log "stopping PostgreSQL"
        as_user "$pg_user" "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w -t 60 \
            stop >/dev/null
    fi
}

# --- Swift -----------------------------------------------------------------

sw=$dir/swift

sw_port() {  # sw_port SERVER
    case $1 in
        proxy) echo "$s3_port" ;;
        object) echo $((s3_port + 1)) ;;
        container) echo $((s3_port + 2)) ;;
        account) echo $((s3_port + 3)) ;;
    esac
}

# The pid of our SERVER if it runs: the pid file's process must still be
# the server started on our config (never someone else's process that got
# the pid).
sw_pid() {
    local pf=$sw/run/$1.pid pid
    [ -f "$pf" ] || return 1
    pid=$(cat "$pf")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$sw/etc/$1-server.conf" ||
        return 1
    echo "$pid"
}

sw_answers() {  # sw_answers SERVER: any HTTP answer on its port
    local code
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' \
        "http://127.0.0.1:$(sw_port "$1")/healthcheck") || true
    [ -n "$code" ] && [ "$code" != 000 ]
}

sw_configure() {
    local suffix prefix s3secret s
    suffix=$(secret swift_hash_suffix)
    prefix=$(secret swift_hash_prefix)
    s3secret=$(secret s3_secret)
    mkdir -p "$sw/etc" "$sw/srv/d1" "$sw/run" "$sw/log"
    cat >"$sw/etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_suffix = $suffix
swift_hash_path_prefix = $prefix

[storage-policy:0]
name = Policy-0
default = yes

[swift-constraints]
EOF
    for s in object container account; do
        cat >"$sw/etc/$s-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $(sw_port $s)
workers = 0
user = $swift_user
swift_dir = $sw/etc
devices = $sw/srv
mount_check = false
log_name = $s-server

[pipeline:main]
pipeline = healthcheck $s-server

[filter:healthcheck]
use = egg:swift#healthcheck

[app:$s-server]
use = egg:swift#$s
EOF
    done
    # tempauth's key is only in this file (mode 0600, owned by the user
    # the proxy runs as).
    ( umask 077; cat >"$sw/etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $s3_port
workers = 0
user = $swift_user
swift_dir = $sw/etc
log_name = proxy-server

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:1

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:s3api]
use = egg:swift#s3api
location = $region

[filter:tempauth]
use = egg:swift#tempauth
user_vmsnap_vmsnap = $s3secret .admin

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
EOF
    )
    # One-node rings: one device, one replica.  Rebuilt when the ports
    # changed; with one device every partition maps to it, so the data
    # stays where it is.
    local stamp="ports $s3_port"
    if [ "$(cat "$sw/etc/rings.stamp" 2>/dev/null)" = "$stamp" ]; then
        chown -R "$swift_user" "$sw"
        return 0
    fi
    for s in object container account; do
        rm -f "$sw/etc/$s.builder" "$sw/etc/$s.ring.gz"
        swift-ring-builder "$sw/etc/$s.builder" create 6 1 1 >/dev/null
        swift-ring-builder "$sw/etc/$s.builder" add --region 1 --zone 1 \
            --ip 127.0.0.1 --port "$(sw_port $s)" --device d1 \
            --weight 100 >/dev/null
        swift-ring-builder "$sw/etc/$s.builder" rebalance >/dev/null 2>&1 ||
            true
        [ -f "$sw/etc/$s.ring.gz" ] || die "could not build the $s ring"
    done
    rm -rf "$sw/etc/backups"
    echo "$stamp" >"$sw/etc/rings.stamp"
    chown -R "$swift_user" "$sw"
}

# S3 requests from the shell: the credentials go to curl on stdin as a
# config file, in the URL's user part (tempauth's access key holds a ':',
# which curl's --user cannot carry).
s3_curl() {  # s3_curl METHOD PATH [CURL-ARGS...]: prints the HTTP status
    local method=$1 path=$2 key secret
    shift 2
    key=$(sed -n 's/^access_key *= *//p' "$dir/s3-credentials")
    secret=$(sed -n 's/^secret_key *= *//p' "$dir/s3-credentials")
    key=${key//:/%3A}
    printf 'url = "http://%s:%s@127.0.0.1:%s%s"\n' "$key" "$secret" \
        "$s3_port" "$path" |
        curl -K - -s -o /dev/null -w '%{http_code}' -X "$method" -m 30 \
            -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
            --aws-sigv4 "aws:amz:$region:s3" "$@"
}

s3_up() {
    local s pid code
    sw_configure
    ( umask 077; printf 'access_key = vmsnap:vmsnap\nsecret_key = %s\n' \
        "$(secret s3_secret)" >"$dir/s3-credentials" )
    for s in "${swift_servers[@]}"; do
        if pid=$(sw_pid $s); then
            continue
        fi
        log "starting swift-$s-server on 127.0.0.1:$(sw_port $s)"
        # -v: log to stdout (no syslog needed), kept in swift/log.
        setsid /usr/bin/swift-$s-server "$sw/etc/$s-server.conf" -v \
            </dev/null >>"$sw/log/$s.log" 2>&1 &
        echo $! >"$sw/run/$s.pid"
    done
    for s in "${swift_servers[@]}"; do
        wait_for 90 "swift-$s-server" sw_answers $s ||
            die "see $sw/log/$s.log"
    done
    # The bucket; 409 BucketAlreadyOwnedByYou when it exists.  The first
    # request after start may meet servers still warming up: probe.
    wait_for 60 "the S3 API" s3_ready || die "see $sw/log/proxy.log"
    code=$(s3_curl PUT "/$bucket")
    case $code in
        200|409) ;;
        *) die "creating bucket $bucket: HTTP $code" ;;
    esac
}

s3_ready() {
    local code
    code=$(s3_curl GET "/?max-keys=1") || return 1
    [ "$code" = 200 ]
}

gone() {  # gone PID: it exited (a zombie not yet reaped counts)
    local state
    state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' \
        "/proc/$1/status" 2>/dev/null) || true
    [ -z "$state" ] || [ "$state" = Z ]
}

s3_down() {
    local s pid pids=()
    for s in "${swift_servers[@]}"; do
        if pid=$(sw_pid $s); then
            log "stopping swift-$s-server"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
        rm -f "$sw/run/$s.pid"
    done
    for pid in "${pids[@]}"; do
        if ! wait_for 20 "exit of $pid" gone "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

# --- commands --------------------------------------------------------------

print_env() {
    local catalog="host=127.0.0.1 port=$pg_port dbname=vmsnap user=vmsnap"
    catalog="$catalog passfile=$dir/pgpass connect_timeout=10"
    cat <<EOF
export VMSNAP_CATALOG='$catalog'
export VMSNAP_STORE=s3
export VMSNAP_S3_ENDPOINT='http://127.0.0.1:$s3_port'
export VMSNAP_S3_BUCKET='$bucket'
export VMSNAP_S3_REGION='$region'
export VMSNAP_S3_CREDENTIALS='$dir/s3-credentials'
EOF
}

status() {
    local rc=0 s line
    if want pg; then
        if pg_running; then
            echo "pg running 127.0.0.1:$pg_port"
        else
            echo "pg stopped"
            rc=1
        fi
    fi
    if want s3; then
        line="s3 running http://127.0.0.1:$s3_port"
        for s in "${swift_servers[@]}"; do
            sw_pid $s >/dev/null || line="s3 stopped"
        done
        echo "$line"
        [ "$line" = "s3 stopped" ] && rc=1
    fi
    return $rc
}

case $cmd in
    up)
        install_packages
        mkdir -p "$dir"
        chmod 755 "$dir"
        if want pg; then pg_up; fi
        if want s3; then s3_up; fi
        print_env
        ;;
    down)
        if want s3; then s3_down; fi
        if want pg; then pg_down; fi
        ;;
    status) status ;;
    env) print_env ;;
    *) usage ;;
esac
