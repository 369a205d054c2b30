# vmsnap integration tests: shared shell functions.  Source it from a test
# script.  Tests speak TAP: ok/not ok lines, a plan at the end (done_testing).
#
# Environment (set by meson): VMSNAP (the vmsnap binary), VMSNAP_GUEST_DIR
# (the test guest; built by guest/build-guest.sh when unset), SRCDIR.
set -u

: "${VMSNAP:?VMSNAP must name the vmsnap binary}"
: "${SRCDIR:?SRCDIR must name the source tree}"

. "$SRCDIR/tests/tap.sh"

# The statuses of all images, one a line; fails (and prints nothing) if
# vmsnap fails or lists nothing, so that checks on it cannot pass
# vacuously.
statuses() {
    local out
    out=$(vmsnap image list -f value -c Status) && test -n "$out" &&
        echo "$out"
}

need() {  # need TOOL...: a missing tool fails the test, never skips it
    local t
    for t in "$@"; do
        if ! command -v "$t" >/dev/null 2>&1; then
            echo "not ok 1 - required tool '$t' is missing"
            echo "1..1"
            exit 1
        fi
    done
}

# A private data directory per test; every QEMU started in it is killed
# on exit.
T_DIR=$(mktemp -d /tmp/vmsnap-test.XXXXXX)
export VMSNAP_DATA_DIR=$T_DIR/data

# VMSNAP_TEST_CATALOG (a PostgreSQL connection string, e.g. the
# VMSNAP_CATALOG that scripts/services.sh up prints): the test's catalog is
# a fresh schema of its own in that database, dropped on exit, instead of
# SQLite in the data directory; locks are then catalog leases.  The same
# tests thus run on both backends.
T_SCHEMA=
T_SCHEMAS=
# Make schema NAME in VMSNAP_TEST_CATALOG (dropped on exit) and set
# variable VAR to the connection string whose search path is that schema.
t_schema_make() {  # t_schema_make NAME VAR
    local c
    psql "$VMSNAP_TEST_CATALOG" -qXc "create schema $1" >/dev/null ||
        return 1
    T_SCHEMAS="$T_SCHEMAS $1"
    case $VMSNAP_TEST_CATALOG in
    postgres://*\?* | postgresql://*\?*)
        c="$VMSNAP_TEST_CATALOG&options=-csearch_path%3D$1" ;;
    postgres://* | postgresql://*)
        c="$VMSNAP_TEST_CATALOG?options=-csearch_path%3D$1" ;;
    *)
        c="$VMSNAP_TEST_CATALOG options='-csearch_path=$1'" ;;
    esac
    printf -v "$2" '%s' "$c"
}
if [ -n "${VMSNAP_TEST_CATALOG:-}" ]; then
    T_SCHEMA=t_$(basename "$T_DIR" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')_$$
    if ! t_schema_make "$T_SCHEMA" VMSNAP_CATALOG; then
        echo "not ok 1 - a schema in VMSNAP_TEST_CATALOG"
        echo "1..1"
        exit 1
    fi
    export VMSNAP_CATALOG
else
    # The VMSNAP_CATALOG of an "eval $(scripts/services.sh up)" in the
    # caller's shell is the shared catalog: never the test's.
    unset VMSNAP_CATALOG
fi

# A signed request to the object store of the VMSNAP_S3_* settings (those
# scripts/services.sh up prints), by curl: its body on stdout.
s3_req() {  # s3_req METHOD PATH-AND-QUERY [CURL-ARGS...]
    local key secret
    key=$(sed -n 's/^access_key *= *//p' "$VMSNAP_S3_CREDENTIALS")
    secret=$(sed -n 's/^secret_key *= *//p' "$VMSNAP_S3_CREDENTIALS")
    printf 'url = "http://%s:%s@%s%s"\n' "${key//:/%3A}" "$secret" \
        "${VMSNAP_S3_ENDPOINT#http://}" "$2" |
        curl -K - -s -f -X "$1" -m 30 \
            -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
            --aws-sigv4 "aws:amz:${VMSNAP_S3_REGION:-us-east-1}:s3" "${@:3}"
}
s3_keys() {  # s3_keys PREFIX: the keys under PREFIX (at most 1000)
    s3_req GET "/$VMSNAP_S3_BUCKET?list-type=2&prefix=${1//\//%2F}" |
        grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g'
}

# VMSNAP_TEST_STORE=s3, with the settings scripts/services.sh up prints in
# the environment: the test's image data and chunk store are objects in a
# bucket of its own, emptied and removed on exit, instead of files in the
# data directory.  The same tests thus run on both stores.
T_BUCKET=
T_BUCKETS=
# Make bucket NAME (emptied and removed on exit).
t_bucket_make() {  # t_bucket_make NAME
    [ -n "${VMSNAP_S3_ENDPOINT:-}" ] && s3_req PUT "/$1" >/dev/null &&
        T_BUCKETS="$T_BUCKETS $1"
}
if [ "${VMSNAP_TEST_STORE:-file}" = s3 ]; then
    T_BUCKET=t-$(basename "$T_DIR" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')-$$
    export VMSNAP_STORE=s3 VMSNAP_S3_BUCKET=$T_BUCKET
    if ! t_bucket_make "$T_BUCKET"; then
        echo "not ok 1 - a bucket in the store of VMSNAP_S3_ENDPOINT"
        echo "1..1"
        exit 1
    fi
else
    unset VMSNAP_STORE   # the file store, not the shared bucket
fi
# The objects the store keeps under PREFIX (images, volume-snapshots),
# one name ("<id>.<format>") per line: the files in PREFIX/ of the data
# directory, or the objects under PREFIX/ in the test's bucket.
stored_objects() {  # stored_objects PREFIX
    if [ -n "$T_BUCKET" ]; then
        s3_keys "$1/" | sed "s|^$1/||"
    else
        ls -A "$VMSNAP_DATA_DIR/$1"
    fi
}
stored_images() { stored_objects images; }
# The local directory in which the store makes a new object under PREFIX,
# made if missing: PREFIX/ of the data directory, where the file store
# writes it in place; for s3 PREFIX/ of its cache's staging/, where the
# object is written before its upload.  Making it immutable (chattr +i)
# makes the creation of such an object fail on either store.
store_new_dir() {  # store_new_dir PREFIX
    local d=$VMSNAP_DATA_DIR/$1
    [ -z "$T_BUCKET" ] ||
        d=${VMSNAP_S3_CACHE_DIR:-$VMSNAP_DATA_DIR/cache/s3}/staging/$1
    mkdir -p "$d" && echo "$d"
}
# The files of objects being made now or left by a maker that died: none
# on files (they are made in place, see stored_objects); for s3 the files
# and locks in its cache's staging/.
store_staged() {
    [ -z "$T_BUCKET" ] ||
        find "${VMSNAP_S3_CACHE_DIR:-$VMSNAP_DATA_DIR/cache/s3}/staging" \
            -type f 2>/dev/null
}

# Every object under PREFIX in the test's bucket, all pages of the
# listing: "KEY LAST-MODIFIED" a line (the time as the store prints it,
# ISO 8601 in UTC, so that two compare as strings).
s3_list() {  # s3_list PREFIX
    local q tok="" page line
    while :; do
        q="list-type=2&prefix=${1//\//%2F}${tok:+&continuation-token=$tok}"
        page=$(s3_req GET "/$VMSNAP_S3_BUCKET?$q") || return 1
        tok=
        while read -r line; do
            case $line in
            "+ "*) tok=${line#+ } ;;
            *) echo "$line" ;;
            esac
        done < <(python3 -c '
import sys, urllib.parse, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
ns = {"s": root.tag[1:root.tag.index("}")]} if root.tag[0] == "{" else {}
p = "s:" if ns else ""
for c in root.findall(p + "Contents", ns):
    print(c.findtext(p + "Key", "", ns), c.findtext(p + "LastModified", "", ns))
if root.findtext(p + "IsTruncated", "", ns) == "true":
    print("+", urllib.parse.quote(
        root.findtext(p + "NextContinuationToken", "", ns), safe=""))
' <<<"$page")
        [ -n "$tok" ] || return 0
    done
}

# The backup chunk store, in either store: the directory chunkstore/ of
# the data directory, or the objects under chunkstore/ in the test's
# bucket.  A KEY is a store key, "indexes/<name>.idx" or "chunks/<3
# hex>/<64 hex>" (docs/internals/chunkstore.md).
cs_get() {  # cs_get KEY: the bytes of one entry of the chunk store
    if [ -n "$T_BUCKET" ]; then
        s3_req GET "/$VMSNAP_S3_BUCKET/chunkstore/$1"
    else
        cat "$VMSNAP_DATA_DIR/chunkstore/$1"
    fi
}
# Put FILE's bytes as entry KEY.
cs_put() {  # cs_put KEY FILE
    if [ -n "$T_BUCKET" ]; then
        s3_req PUT "/$VMSNAP_S3_BUCKET/chunkstore/$1" --data-binary "@$2" \
            >/dev/null
    else
        cp "$2" "$VMSNAP_DATA_DIR/chunkstore/$1"
    fi
}
# Whether an entry exists.
cs_exists() {  # cs_exists KEY
    if [ -n "$T_BUCKET" ]; then
        s3_req HEAD "/$VMSNAP_S3_BUCKET/chunkstore/$1" -I >/dev/null
    else
        test -e "$VMSNAP_DATA_DIR/chunkstore/$1"
    fi
}
# Where chunk KEY of the directory store is: "PACK_FILE OFFSET" from its
# pack map (packs.db, see lib/storage/chunk-pack.h); fails if the map has
# no row for it.
cs_pack_locate() {  # cs_pack_locate KEY
    python3 - "$VMSNAP_DATA_DIR/chunkstore" "$1" <<'PY'
import sqlite3, sys
root, key = sys.argv[1:3]
db = sqlite3.connect(f"file:{root}/packs.db?mode=ro", uri=True)
row = db.execute("SELECT pack, off FROM chunk WHERE key = ?", (key,)).fetchone()
if row is None:
    sys.exit(1)
print(f"{root}/packs/{row[0]:016x}.pack {row[1]}")
PY
}
# Damage one entry: BYTES (a printf format, default the two bytes 0x55
# 0xaa) written at OFFSET, in the file in place (for a chunk of the
# directory store, in its pack); on S3 the object is read, changed and
# put back whole.
cs_damage() {  # cs_damage KEY OFFSET [BYTES]
    local f bytes=${3:-'\x55\xaa'} r loc
    if [ -n "$T_BUCKET" ]; then
        f=$(mktemp "$T_DIR/damage.XXXXXX") &&
            s3_req GET "/$VMSNAP_S3_BUCKET/chunkstore/$1" >"$f" &&
            printf "$bytes" | dd of="$f" bs=1 seek="$2" conv=notrunc \
                2>/dev/null &&
            s3_req PUT "/$VMSNAP_S3_BUCKET/chunkstore/$1" \
                --data-binary "@$f" >/dev/null
        r=$?
        rm -f "$f"
        return $r
    fi
    if [[ $1 == chunks/* ]]; then
        loc=$(cs_pack_locate "$1") || return 1
        printf "$bytes" | dd of="${loc% *}" bs=1 seek=$((${loc#* } + $2)) \
            conv=notrunc 2>/dev/null
        return
    fi
    printf "$bytes" | dd of="$VMSNAP_DATA_DIR/chunkstore/$1" bs=1 \
        seek="$2" conv=notrunc 2>/dev/null
}
# The pid of a backup writer registered in the chunk store now (its
# writers/<pid>-<n>.w file; on S3 its lease
# leases/w-<ttl>-<host>_<pid>-<random>); fails when there is none.
cs_writer_pid() {
    local w
    if [ -n "$T_BUCKET" ]; then
        w=$(s3_keys chunkstore/leases/ | grep -m1 '/w-') || return 1
        w=${w##*_}
        echo "${w%%-*}"
    else
        w=$(ls "$VMSNAP_DATA_DIR/chunkstore/writers" 2>/dev/null |
            grep -m1 '\.w$') || return 1
        echo "${w%%-*}"
    fi
}
# Whether writer PID has stored a chunk since it registered: a chunk in
# the pack map put after its writer file's time; on S3 a chunk object no older than its
# lease's Last-Modified (which its renewals move on: never earlier than
# its start).
cs_writer_stored() {  # cs_writer_stored PID
    local d=$VMSNAP_DATA_DIR/chunkstore w t
    if [ -n "$T_BUCKET" ]; then
        t=$(s3_list chunkstore/leases/ | grep -m1 "/w-[0-9]*-.*_$1-") ||
            return 1
        t=${t##* }
        s3_list chunkstore/chunks/ | while read -r _ m; do
            [[ "$m" < "$t" ]] || { echo "$m"; break; }
        done | grep -q .
    else
        w=$(ls "$d/writers" 2>/dev/null | grep -m1 "^$1-.*\.w$") || return 1
        python3 - "$d" "$d/writers/$w" <<'PY'
import os, sqlite3, sys
root, w = sys.argv[1:3]
start = os.stat(w).st_mtime_ns
db = sqlite3.connect(f"file:{root}/packs.db?mode=ro", uri=True)
(newest,) = db.execute("SELECT max(mtime) FROM chunk").fetchone()
sys.exit(0 if newest is not None and newest > start else 1)
PY
    fi
}
# Empty BUCKET, a thousand keys a request (DeleteObjects), and remove
# it.
t_bucket_remove() {  # t_bucket_remove BUCKET
    local keys i f=$T_DIR.delete md5 VMSNAP_S3_BUCKET=$1
    for ((i = 0; i < 100; i++)); do
        keys=$(s3_keys "") && [ -n "$keys" ] || break
        { echo "<Delete><Quiet>true</Quiet>"
          sed 's|.*|<Object><Key>&</Key></Object>|' <<<"$keys"
          echo "</Delete>"; } >"$f"
        md5=$(python3 -c 'import base64, hashlib, sys
print(base64.b64encode(hashlib.md5(sys.stdin.buffer.read()).digest())
      .decode())' <"$f")
        s3_req POST "/$1?delete=" --data-binary "@$f" \
            -H "Content-MD5: $md5" -H "Content-Type: application/xml" \
            >/dev/null || break
    done
    rm -f "$f"
    s3_req DELETE "/$1" >/dev/null
}

# A second installation beside the test's own, as a fresh host that shares
# nothing with it: data directory $T_DIR/NAME and, when the test runs on
# them, a bucket and a PostgreSQL schema of its own (removed on exit).
# Run a command in it with "in_install NAME COMMAND..."; the command may
# be a function of the test.
install_make() {  # install_make NAME
    local v=${1//[^a-zA-Z0-9]/_} b
    if [ -n "$T_BUCKET" ]; then
        b=$T_BUCKET-$v
        t_bucket_make "$b" || return 1
        eval "T_BUCKET_$v=\$b"
    fi
    if [ -n "$T_SCHEMA" ]; then
        t_schema_make "${T_SCHEMA}_$v" "T_CATALOG_$v" || return 1
    fi
}
in_install() {  # in_install NAME COMMAND...
    local _iv=${1//[^a-zA-Z0-9]/_} _ib= _ic=
    shift
    [ -z "$T_BUCKET" ] || eval "_ib=\$T_BUCKET_$_iv"
    [ -z "$T_SCHEMA" ] || eval "_ic=\$T_CATALOG_$_iv"
    if [ -n "$_ib" ] && [ -n "$_ic" ]; then
        VMSNAP_DATA_DIR=$T_DIR/$_iv VMSNAP_S3_BUCKET=$_ib \
            VMSNAP_CATALOG=$_ic "$@"
    elif [ -n "$_ib" ]; then
        VMSNAP_DATA_DIR=$T_DIR/$_iv VMSNAP_S3_BUCKET=$_ib "$@"
    elif [ -n "$_ic" ]; then
        VMSNAP_DATA_DIR=$T_DIR/$_iv VMSNAP_CATALOG=$_ic "$@"
    else
        VMSNAP_DATA_DIR=$T_DIR/$_iv "$@"
    fi
}

cleanup() {
    local pidfile b s
    for pidfile in "$T_DIR"/data*/instances/*/qemu.pid; do
        [ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null
    done
    # A test that made a directory immutable and died before undoing it.
    chattr -R -i "$T_DIR" 2>/dev/null
    rm -rf "$T_DIR"
    for b in $T_BUCKETS; do
        t_bucket_remove "$b" 2>/dev/null
    done
    for s in $T_SCHEMAS; do
        psql "$VMSNAP_TEST_CATALOG" -qXc \
            "drop schema if exists $s cascade" >/dev/null 2>&1
    done
}
trap cleanup EXIT

vmsnap() {
    "$VMSNAP" "$@"
}

guest_dir() {
    if [ -z "${VMSNAP_GUEST_DIR:-}" ]; then
        VMSNAP_GUEST_DIR=$("$SRCDIR/guest/build-guest.sh" --print-dir)
    fi
    echo "$VMSNAP_GUEST_DIR"
}

# Register the test guest as three images, as OpenStack does: a kernel,
# a ramdisk and a root disk whose kernel_id/ramdisk_id point at them.
# Prints the root image's ID.  AGENT is yes or no.
register_guest() {  # register_guest NAME [AGENT] [extra image create args]
    local name=$1 agent=${2:-yes} g kid rid
    shift 2 || shift $#
    g=$(guest_dir)
    kid=$(vmsnap image create "$name-kernel" --file "$g/vmlinuz" \
          --disk-format aki -f value -c id) || return 1
    rid=$(vmsnap image create "$name-ramdisk" --file "$g/initrd.img" \
          --disk-format ari -f value -c id) || return 1
    vmsnap image create "$name" --file "$g/root.qcow2" --disk-format qcow2 \
        --property kernel_id="$kid" --property ramdisk_id="$rid" \
        --property hw_qemu_guest_agent="$agent" "$@" -f value -c id
}

# Wait until the agent of SERVER answers (up to $2 seconds, default 90).
wait_agent() {
    local i
    for i in $(seq 1 "${2:-90}"); do
        vmsnap agent ping "$1" >/dev/null 2>&1 && return 0
        sleep 1
    done
    return 1
}

# Wait until SERVER's console says the guest is up (for guests without an
# agent to ping).
wait_console() {  # wait_console SERVER [SECONDS]
    local i
    for i in $(seq 1 "${2:-90}"); do
        vmsnap server console "$1" 2>/dev/null | grep -q "vmsnap-guest: ready" && return 0
        sleep 1
    done
    return 1
}

# Run a shell command line inside SERVER through the agent; print its
# stdout.  Fails if the command exits non-zero.
guest_sh() {  # guest_sh SERVER 'command line'
    vmsnap agent exec "$1" -- /bin/sh -c "$2"
}

# The ext4 state of an image's root filesystem, read off a raw copy:
# prints "clean" when the journal needs no recovery and e2fsck -fn finds
# nothing, "needs_recovery" when ext4 was cut while mounted and busy, else
# "damaged".
ext4_state() {  # ext4_state IMAGE
    local file
    file=$(vmsnap image show "$1" -f value -c file) || return 1
    ext4_file_state "$file"
}

prop() {  # prop IMAGE KEY: print one property of an image
    vmsnap image show "$1" -f json | python3 -c '
import json, sys
print(json.load(sys.stdin)["properties"].get(sys.argv[1], ""))' "$2"
}

# Start a process in the guest that keeps writing to its root filesystem
# until the guest stops.
start_writer() {  # start_writer SERVER
    guest_sh "$1" 'sh -c "i=0; while :; do i=\$((i+1)); echo \$i > /root/seq.tmp; mv /root/seq.tmp /root/seq; dd if=/dev/zero of=/root/blob.\$((i % 4)) bs=4k count=8 2>/dev/null; done" </dev/null >/dev/null 2>&1 &'
}

# Make an image holding an empty ext4 filesystem of SIZE (default 64M), for
# volumes the guest can mount.  Prints its ID.
ext4_image() {  # ext4_image NAME [SIZE]
    local f=$T_DIR/$1.raw
    truncate -s "${2:-64M}" "$f" && mke2fs -q -t ext4 -F "$f" >/dev/null 2>&1 &&
        vmsnap image create "$1" --file "$f" --disk-format raw -f value -c id
}

# Mount, in SERVER, each volume given as VOLUME:MOUNTPOINT, finding its
# disk by the serial number (the start of the volume ID).  A hot-plugged
# disk takes the guest a moment to appear: retry for up to 60 s.
mount_volumes() {  # mount_volumes SERVER VOLUME:DIR...
    local server=$1 spec vol dir id script="" check="" i
    shift
    for spec in "$@"; do
        vol=${spec%%:*} dir=${spec#*:}
        id=$(vmsnap volume show "$vol" -f value -c id) || return 1
        script="$script grep -q ' $dir ' /proc/mounts || for d in /sys/block/vd*; do [ \"\$(cat \$d/serial 2>/dev/null)\" = ${id:0:20} ] && mount /dev/\${d##*/} $dir; done;"
        check="$check grep -q ' $dir ' /proc/mounts &&"
    done
    for i in $(seq 1 60); do
        guest_sh "$server" "$script $check true" >/dev/null 2>&1 && return 0
        sleep 1
    done
    return 1
}

# Read FILE from the ext4 filesystem in qcow2 file QCOW2 (host side).
read_ext4_file() {  # read_ext4_file QCOW2 PATH
    local raw
    raw=$(mktemp "$T_DIR/read.XXXXXX")
    qemu-img convert -U -O raw "$1" "$raw" && debugfs -R "cat $2" "$raw" 2>/dev/null
    rm -f "$raw"
}

# The ext4 state of a qcow2 file: clean, needs_recovery or damaged.
ext4_file_state() {  # ext4_file_state QCOW2
    local raw state
    raw=$(mktemp "$T_DIR/fsck.XXXXXX")
    qemu-img convert -U -O raw "$1" "$raw" || return 1
    if dumpe2fs -h "$raw" 2>/dev/null | grep -q '^Filesystem features:.*needs_recovery'; then
        state=needs_recovery
    elif e2fsck -fn "$raw" >/dev/null 2>&1; then
        state=clean
    else
        state=damaged
    fi
    rm -f "$raw"
    echo $state
}

# Run one QMP command on SERVER's operations monitor (host side, for tests
# that look inside QEMU); print the "return" value as JSON.
qmp_cmd() {  # qmp_cmd SERVER COMMAND
    local id
    id=$(vmsnap server show "$1" -f value -c id) || return 1
    python3 - "$VMSNAP_DATA_DIR/instances/$id/qmp.sock" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", sys.argv[2]):
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while True:
        msg = json.loads(f.readline())
        if "return" in msg or "error" in msg:
            break
print(json.dumps(msg.get("return", msg)))
PY
}
