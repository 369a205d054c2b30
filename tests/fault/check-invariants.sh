#!/bin/bash
# Check what must hold in a vmsnap data directory once no vmsnap command
# runs in it: the invariants of the fault matrix (docs/internals/faults.md),
# checked directly on the files and on catalog.db (read-only), and then
# by `vmsnap verify` (invariant 12).
#
# usage: check-invariants.sh [--no-reap] [--returned] [--left FILE]
#                            [--server NAME] [--procs-only] DATA_DIR
#   --returned    the last command returned (it was not killed): no record
#                 may be left in a transitional state even before reaping
#   --left FILE   FILE holds that command's output, and its catalog could
#                 not be written from some point on (a full disk): a
#                 record may stay transitional if the command said so
#                 ("ID is left in the catalog for the next command to
#                 finish"); reaping must still finish it (invariant 4)
#   --no-reap     do not run `vmsnap image list` (which reaps) first
#   --server NAME also check that NAME's guest is thawed
#   --procs-only  only check for leftover processes
#
# Prints one line per broken invariant, "FAIL <invariant>: <detail>", and
# exits 1 if there was any, 0 if all held.  Needs VMSNAP (the binary),
# sqlite3, qemu-img, md5sum, pgrep, flock.
set -u
reap=1 returned=0 server="" procs_only=0 left_file=""
while [ $# -gt 1 ]; do
    case $1 in
    --no-reap) reap=0 ;;
    --returned) returned=1 ;;
    --left) left_file=$2; shift ;;
    --server) server=$2; shift ;;
    --procs-only) procs_only=1 ;;
    *) echo "check-invariants: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[ $# -eq 1 ] || { echo "usage: check-invariants.sh [options] DATA_DIR" >&2
                  exit 2; }
D=$(realpath "$1")
: "${VMSNAP:?VMSNAP must name the vmsnap binary}"
bad=0

fail() {  # fail INVARIANT DETAIL
    echo "FAIL $1: $2"
    bad=1
}

sql() {  # sql QUERY: run QUERY on the catalog, read-only
    sqlite3 -batch -noheader -separator ' ' \
        "file:$D/catalog.db?mode=ro" "$1"
}

# The pids of processes working on D: a vmsnap whose environment or
# command line names it, and any qemu-img whose command line does.
# QEMU itself (qemu-system-*) is a server and may run.
our_procs() {
    local p comm
    for p in $(pgrep -x 'vmsnap|qemu-img'); do
        comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
        if tr '\0' '\n' 2>/dev/null <"/proc/$p/cmdline" | grep -qF "$D" ||
           tr '\0' '\n' 2>/dev/null <"/proc/$p/environ" |
               grep -qxF "VMSNAP_DATA_DIR=$D"; then
            echo "$p $comm"
        fi
    done
}

# 1. No helper or vmsnap left behind (audit M5).
left=$(our_procs)
if [ -n "$left" ]; then
    fail "no process left" "$(echo $left)"
fi
[ "$procs_only" = 1 ] && exit $bad

# 2. A command that returned left nothing transitional (audit M4): checked
#    before any reaping, on the catalog as the command left it.
if [ "$returned" = 1 ] && [ -f "$D/catalog.db" ]; then
    st=$(sql "SELECT 'image', id, status FROM images WHERE status IN
              ('queued','saving','importing','uploading','pending_delete')
              UNION ALL SELECT 'volume', id, status FROM volumes
              WHERE status IN ('creating','deleting')
              UNION ALL SELECT 'volume-snapshot', id, status
              FROM volume_snapshots WHERE status IN ('creating','deleting')"
         2>&1)
    if [ -n "$left_file" ] && [ -n "$st" ]; then
        pat="is left in the catalog for the next command to finish"
        said=$(sed -n "s/.* \([0-9a-f-]\{36\}\) $pat.*/\1/p" "$left_file")
        st=$(grep -vwFf <(echo "${said:-none}") <<<"$st")
    fi
    [ -z "$st" ] || fail "returned command left no transitional record" \
        "$(echo $st)"
fi

# Reap as every command does today when it opens the store.
if [ "$reap" = 1 ]; then
    out=$(VMSNAP_DATA_DIR=$D "$VMSNAP" image list -f value -c ID 2>&1) ||
        fail "vmsnap image list runs" "$out"
fi
[ -f "$D/catalog.db" ] || { echo "no catalog (nothing was made)"
                            exit $bad; }

# 3. The catalog is sound.
ic=$(sql "PRAGMA integrity_check" 2>&1)
# On one line: the run's TAP output keeps only the FAIL lines.
[ "$ic" = ok ] || fail "integrity_check" "$(echo $ic)"
fk=$(sql "PRAGMA foreign_key_check" 2>&1)
[ -z "$fk" ] || fail "foreign_key_check" "$(echo $fk)"

# 4. No record in a transitional state once no process owns it.
st=$(sql "SELECT 'image', id, status FROM images WHERE status IN
          ('queued','saving','importing','uploading','pending_delete')
          UNION ALL SELECT 'volume', id, status FROM volumes
          WHERE status IN ('creating','deleting')
          UNION ALL SELECT 'volume-snapshot', id, status
          FROM volume_snapshots WHERE status IN ('creating','deleting')"
     2>&1)
[ -z "$st" ] || fail "no transitional record after reaping" "$(echo $st)"
# An instance's task_state left by a dead process is cleared by the next
# operation on that instance, which takes its lock (by design): it is a
# fault only if something still holds the lock.
while read -r id task; do
    [ -n "$id" ] || continue
    [ ! -e "$D/instances/$id/lock" ] ||
        flock -n -x "$D/instances/$id/lock" true 2>/dev/null ||
        fail "no instance task without an owner" "$id $task (lock held)"
done < <(sql "SELECT id, task_state FROM instances
              WHERE task_state IS NOT NULL")

# 5. A killed image says why.
st=$(sql "SELECT id FROM images WHERE status = 'killed' AND
          (fail_reason IS NULL OR fail_reason = '')" 2>&1)
[ -z "$st" ] || fail "killed image has a reason" "$(echo $st)"

# The local file of a record: images and volume snapshots name their data
# by a store location ("file:KEY", KEY under D); older rows by path.
DATA="(CASE WHEN location LIKE 'file:%' THEN '$D/' || substr(location, 6)
       ELSE file END)"

# 6. No file without a record (audit H3).  A lock still held would make a
#    file legitimate, but no process is left (1), so none is.
files=$(sql "SELECT $DATA FROM images WHERE $DATA IS NOT NULL
             UNION SELECT file FROM volumes WHERE file IS NOT NULL
             UNION SELECT $DATA FROM volume_snapshots
                   WHERE $DATA IS NOT NULL")
for f in "$D"/images/* "$D"/volumes/* "$D"/volume-snapshots/*; do
    [ -e "$f" ] || continue
    grep -qxF "$f" <<<"$files" ||
        fail "no file without a record" "${f#"$D"/} ($(stat -c %s "$f") bytes)"
done
for f in "$D"/instances/*; do
    [ -e "$f" ] || continue
    id=${f##*/}
    [ -n "$(sql "SELECT id FROM instances WHERE id = '$id'")" ] ||
        fail "no instance directory without a record" "${f#"$D"/}"
done

# 7. Nothing stale in tmp/ (the harness ages tmp/ past the reaper's grace
#    before the reaping command, so whatever is left will stay).
for f in "$D"/tmp/*; do
    [ -e "$f" ] || continue
    if [ -f "$f" ] && flock -n -x "$f" true 2>/dev/null; then
        fail "no stale tmp entry" "${f#"$D"/} (lock not held)"
    elif [ ! -f "$f" ]; then
        fail "no stale tmp entry" "${f#"$D"/}"
    fi
done

# A backup held in the chunk store has no file until it is needed: its
# data is its indexes (12).
INSTORE_IMG="(location IS NULL AND EXISTS (SELECT 1 FROM image_properties
              AS p WHERE p.image_id = images.id AND
              p.key = 'vmsnap_backup_store' AND p.value = 'chunks'))"
INSTORE_VS="(location IS NULL AND EXISTS (SELECT 1 FROM
             volume_snapshot_metadata AS m WHERE
             m.snapshot_id = volume_snapshots.id AND
             m.key = 'vmsnap_backup_store' AND m.value = 'chunks'))"

# 8. Every active image is intact: its file has the recorded size and MD5
#    (and SHA-512), qcow2 checks clean and has the recorded virtual size.
while read -r id fmt size vsize md5 algo hash file; do
    [ -n "$id" ] || continue
    if [ ! -f "$file" ]; then
        fail "active image has its data" "$id: $file missing"
        continue
    fi
    real=$(stat -c %s "$file")
    [ "$real" = "$size" ] ||
        fail "active image size" "$id: catalog $size, file $real"
    sum=$(md5sum <"$file" | cut -d' ' -f1)
    [ "$sum" = "$md5" ] ||
        fail "active image MD5" "$id: catalog $md5, file $sum"
    if [ "$algo" = sha512 ]; then
        sum=$(sha512sum <"$file" | cut -d' ' -f1)
        [ "$sum" = "$hash" ] || fail "active image SHA-512" "$id"
    fi
    case $fmt in
    qcow2|vmdk)
        out=$(qemu-img check -U -q -f "$fmt" "$file" 2>&1) ||
            fail "active image qemu-img check" "$id: $(echo $out | head -c 200)"
        ;;
    esac
    case $fmt in
    qcow2|raw|vmdk)
        v=$(qemu-img info -U -f "$fmt" --output=json "$file" 2>/dev/null |
            sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')
        [ "$vsize" = "" ] || [ "$v" = "$vsize" ] ||
            fail "active image virtual size" "$id: catalog $vsize, file $v"
        ;;
    esac
done < <(sql "SELECT id, disk_format, size, coalesce(virtual_size, ''),
                     coalesce(checksum, '-'), coalesce(os_hash_algo, '-'),
                     coalesce(os_hash_value, '-'), $DATA
              FROM images WHERE status = 'active' AND NOT $INSTORE_IMG")

# 9. Every usable volume and volume snapshot has a sound file.
while read -r kind id file; do
    [ -n "$id" ] || continue
    if [ ! -f "$file" ]; then
        fail "$kind has its data" "$id: $file missing"
        continue
    fi
    out=$(qemu-img check -U -q "$file" 2>&1)
    rc=$?
    # 63: the format (raw) has nothing to check.
    [ $rc = 0 ] || [ $rc = 63 ] ||
        fail "$kind qemu-img check" "$id: $(echo $out | head -c 200)"
done < <(sql "SELECT 'volume', id, file FROM volumes
              WHERE status IN ('available','in-use')
              UNION ALL SELECT 'volume-snapshot', id, $DATA
              FROM volume_snapshots WHERE status = 'available'
              AND NOT $INSTORE_VS")

# 10. The chunk store holds an index for each backup disk the catalog
#     names and no other, once `store gc` ran (the recovery of a dead
#     backup removes its indexes; gc those of a deletion cut short), and
#     no index names a missing or damaged chunk.
if [ -d "$D/chunkstore/indexes" ]; then
    out=$(VMSNAP_DATA_DIR=$D "$VMSNAP" store gc --grace 0 -f value 2>&1) ||
        fail "store gc runs" "$(tr '\n' ';' <<<"$out" | head -c 300)"
    named=$(sql "SELECT p.value FROM image_properties AS p JOIN images AS i
                 ON i.id = p.image_id WHERE p.key = 'vmsnap_backup_index'
                 AND i.status = 'active'
                 UNION SELECT m.value FROM volume_snapshot_metadata AS m
                 JOIN volume_snapshots AS v ON v.id = m.snapshot_id
                 WHERE m.key = 'vmsnap_backup_index'
                 AND v.status = 'available'")
    for f in "$D"/chunkstore/indexes/*.idx; do
        [ -e "$f" ] || continue
        n=${f##*/}
        grep -qxF "${n%.idx}" <<<"$named" ||
            fail "no index without a backup" "$n"
    done
    for n in $named; do
        [ -f "$D/chunkstore/indexes/$n.idx" ] ||
            fail "every backup disk has its index" "$n"
    done
    out=$(VMSNAP_DATA_DIR=$D "$VMSNAP" store verify -f value 2>&1) ||
        fail "store verify is clean" "$(tr '\n' ';' <<<"$out" | head -c 300)"
fi

# 11. The guest is thawed.
if [ -n "$server" ]; then
    st=$(VMSNAP_DATA_DIR=$D "$VMSNAP" agent command "$server" \
         '{"execute":"guest-fsfreeze-status"}' 2>&1)
    grep -q thawed <<<"$st" || fail "guest thawed" "$server: $st"
fi

# 12. vmsnap verify agrees (its own checks of the same invariants; the
#     guest is checked above).  Only when the checks above all held, so
#     that one fault is not reported twice.
if [ "$bad" = 0 ] && [ "$reap" = 1 ]; then
    out=$(VMSNAP_DATA_DIR=$D "$VMSNAP" verify --no-guests -f value 2>&1) ||
        fail "vmsnap verify is clean" "$(tr '\n' ';' <<<"$out")"
fi
exit $bad
