# Shared functions of the backup tests (test-backup*.sh): backups of
# server "vm" into the chunk store, their properties, the data a disk
# holds.  Source it after lib.sh; it uses $T_DIR.

backup() {  # backup NAME [ROTATION [SERVER]]: an incremental backup of vm
    vmsnap server backup create --incremental --backup-type daily \
        --rotation "${2:-10}" --name "$1" "${3:-vm}" -f json >"$T_DIR/$1.json" 2>"$T_DIR/$1.err"
}
bprop() {  # bprop NAME KEY: a property recorded on backup NAME
    python3 -c 'import json,sys
d=json.load(open(sys.argv[1])); p=d.get("properties", d)
print(p.get(sys.argv[2], ""))' "$T_DIR/$1.json" "$2"
}
# Write COUNT MiB of random data to FILE in the guest; print its sha256.
guest_write() {  # guest_write FILE MIB
    guest_sh vm "dd if=/dev/urandom of=$1 bs=1M count=$2 2>/dev/null && sync && sha256sum $1" | cut -d' ' -f1
}
# The volume snapshot of volume N (0: the first) of an image's set, and a
# metadata item of a volume snapshot.
vsnap_of() {  # vsnap_of IMAGE [N]
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])[int(sys.argv[2])]["snapshot_id"])' \
        "$(prop "$1" block_device_mapping)" "${2:-0}"
}
vmeta() {  # vmeta VSNAP KEY
    vmsnap volume snapshot show "$1" -f json | python3 -c 'import json,sys
print(json.load(sys.stdin)["metadata"].get(sys.argv[1], ""))' "$2"
}
# The raw data of a qcow2 file, hashed: what a disk holds, whatever the
# layout of its file.
disk_sum() {  # disk_sum QCOW2
    local raw
    raw=$(mktemp "$T_DIR/raw.XXXXXX")
    qemu-img convert -U -O raw "$1" "$raw" && sha256sum <"$raw" | cut -d' ' -f1
    rm -f "$raw"
}
# Back up and snapshot VM at one instant: paused, nothing moves.
pair() {  # pair BACKUP SNAPSHOT
    vmsnap server pause vm &&
        backup "$1" &&
        vmsnap server image create --name "$2" vm >/dev/null 2>&1
    local r=$?
    vmsnap server unpause vm
    return $r
}
# Restore backup NAME (image save materialises it) and compare the disk
# with snapshot SNAP's.
restores_as() {  # restores_as BACKUP SNAP
    rm -f "$T_DIR/restored.qcow2"
    vmsnap image save "$1" --file "$T_DIR/restored.qcow2" 2>"$T_DIR/save.err" &&
        test "$(disk_sum "$T_DIR/restored.qcow2")" = \
             "$(disk_sum "$(vmsnap image show "$2" -f value -c file)")"
}
# Register the test guest and boot server "vm" from it (one check); set
# $vid (its id).  The chunk store is reached through the cs_* functions
# of lib.sh, whichever store holds it.
boot_vm() {
    register_guest guest yes >/dev/null
    vmsnap server create vm --image guest >/dev/null && wait_agent vm
    ok $? "server boots"
    vid=$(vmsnap server show vm -f value -c id)
}
# store gc --grace 0, once no lease blocks it: on S3 a writer killed a
# moment ago keeps its lease until the lease expires (its TTL plus 2 s
# after its last renewal) and gc is refused meanwhile, naming the lease;
# a local store's writer lock dies with its holder.  Any other failure,
# or a lease still there after SECONDS, fails.
gc_past_leases() {  # gc_past_leases SECONDS
    local i err
    for ((i = 0; i <= $1; i++)); do
        err=$(vmsnap store gc --grace 0 2>&1 >/dev/null) && return 0
        grep -q "holds lease" <<<"$err" || break
        sleep 1
    done
    echo "$err" | sed 's/^/# /'
    return 1
}
# Wait for FILE (a test hook's mark) while the process PID lives.
until_exists() {  # until_exists FILE PID: wait for FILE while PID lives
    while [ ! -e "$1" ] && kill -0 "$2" 2>/dev/null; do
        sleep 0.1
    done
    [ -e "$1" ]
}
gcval() {  # gcval KEY: a member of the last gc report, $T_DIR/gc.json
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$T_DIR/gc.json" "$1"
}
