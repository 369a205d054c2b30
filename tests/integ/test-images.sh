#!/bin/bash
# Image catalog life cycle through the vmsnap command, and bad input.
. "$SRCDIR/tests/integ/lib.sh"
need qemu-img python3

W=$T_DIR/work
mkdir -p "$W"
qemu-img create -q -f qcow2 "$W/a.qcow2" 64M
qemu-img create -q -f raw "$W/a.raw" 16M
printf 'not a disk image at all' >"$W/junk"

id=$(vmsnap image create alpha --file "$W/a.qcow2" --disk-format qcow2 \
     --property os_distro=debian --min-ram 128 -f value -c id)
ok $? "image create prints the new ID"
check "ID is a UUID" -- grep -Eq '^[0-9a-f-]{36}$' <<<"$id"

json=$(vmsnap image show alpha -f json)
python3 - "$json" "$W/a.qcow2" <<'PY'
import hashlib, json, sys
img = json.loads(sys.argv[1])
data = open(sys.argv[2], "rb").read()
assert img["status"] == "active", img
assert img["disk_format"] == "qcow2" and img["container_format"] == "bare"
assert img["virtual_size"] == 64 * 1024 * 1024
assert img["size"] == len(data)
assert img["checksum"] == hashlib.md5(data).hexdigest()
assert img["os_hash_algo"] == "sha512"
assert img["os_hash_value"] == hashlib.sha512(data).hexdigest()
assert img["min_ram"] == 128 and img["min_disk"] == 0
assert img["properties"] == {"os_distro": "debian"}, img["properties"]
assert img["created_at"] and img["updated_at"]
PY
ok $? "image show -f json: status, formats, sizes, MD5 and SHA-512, properties"

props=$(vmsnap image show alpha -f value -c properties)
check "show -f value -c properties" -- grep -q "os_distro='debian'" <<<"$props"

vmsnap image set --property hw_qemu_guest_agent=yes --min-ram 256 alpha
ok $? "image set --property"
check "property is set" -- test "$(vmsnap image show alpha -f json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["properties"]["hw_qemu_guest_agent"])')" = yes
check "min_ram changed" -- test "$(vmsnap image show alpha -f value -c min_ram)" = 256
vmsnap image unset --property os_distro alpha
ok $? "image unset --property"
check "property is gone" -- test "$(vmsnap image show alpha -f json |
    python3 -c 'import json,sys; print(sorted(json.load(sys.stdin)["properties"]))')" = "['hw_qemu_guest_agent']"
vmsnap image set --name alpha2 alpha && vmsnap image set --name alpha alpha2
ok $? "image set --name renames"

vmsnap image create beta --file "$W/a.raw" --disk-format raw >/dev/null
ok $? "raw image create"
list=$(vmsnap image list -f value -c Name)
check "image list is newest first" -- test "$(echo $list)" = "beta alpha"
check "image list --property filters" -- test \
    "$(vmsnap image list --property hw_qemu_guest_agent=yes -f value -c Name)" = alpha
check "image list --name filters" -- test \
    "$(vmsnap image list --name beta -f value -c Name)" = beta
check "image list --status filters" -- test \
    "$(vmsnap image list --status queued -f value -c Name)" = ""
check "image list -f json is an array" -- python3 -c '
import json, sys; l = json.loads(sys.argv[1]); assert len(l) == 2 and l[0]["Name"] == "beta"' \
    "$(vmsnap image list -f json)"
check "shell format" -- grep -q '^status="active"$' <<<"$(vmsnap image show beta -f shell)"

vmsnap image save --file "$W/saved.qcow2" alpha
check "image save copies the data" -- cmp "$W/a.qcow2" "$W/saved.qcow2"

# Bad input: a clear error, a non-zero exit, nothing half-made.
count() { vmsnap image list -f value -c ID | wc -l; }
before=$(count)
err=$(vmsnap image create bad --file "$W/junk" --disk-format qcow2 2>&1)
rc=$?
ok $((rc == 0)) "raw data claimed as qcow2 is refused (exit $rc)"
check "  error says why" -- grep -qi "not.*qcow2\|qcow2.*not" <<<"$err"
err=$(vmsnap image create bad --file "$W/a.qcow2" --disk-format raw 2>&1)
ok $(( $? == 0 )) "a qcow2 file claimed as raw is refused"
check "  error names the real format" -- grep -q "qcow2" <<<"$err"
printf 'host secret' >"$W/secret.raw"
qemu-img create -q -f qcow2 -o data_file="$W/secret.raw" "$W/df.qcow2" 16M
err=$(vmsnap image create bad --file "$W/df.qcow2" --disk-format qcow2 2>&1)
ok $(( $? == 0 )) "a qcow2 that reads an external data file is refused"
check "  error says it is not self-contained" -- grep -q "other files" <<<"$err"
err=$(vmsnap image create bad --file "$W/missing" --disk-format raw 2>&1)
ok $(( $? == 0 )) "missing file is refused"
check "  error names the file" -- grep -q "missing" <<<"$err"
err=$(vmsnap image create bad --file "$W/a.raw" --disk-format vhdx 2>&1)
ok $(( $? == 0 )) "unknown disk format is refused"
err=$(vmsnap image create bad --file "$W/a.raw" --disk-format raw --property novalue 2>&1)
ok $(( $? == 0 )) "bad property syntax is refused"
check "  error says KEY=VALUE" -- grep -q "KEY=VALUE" <<<"$err"
err=$(vmsnap image create bad --file "$W/a.raw" --disk-format raw --property =v 2>&1)
ok $(( $? == 0 )) "empty property key is refused"
check "nothing half-made: same image count" -- test "$(count)" = "$before"
check "nothing half-made: no stray data files" -- test \
    "$(stored_images | wc -l)" = "$before"

err=$(vmsnap image show nosuch 2>&1)
ok $(( $? == 0 )) "unknown image name is an error"
check "  error names it" -- grep -q "nosuch" <<<"$err"
vmsnap image create beta --file "$W/a.raw" --disk-format raw >/dev/null
err=$(vmsnap image show beta 2>&1)
ok $(( $? == 0 )) "ambiguous name is an error"
check "  error lists the candidates" -- test \
    "$(grep -oE '[0-9a-f]{8}-[0-9a-f-]{27}' <<<"$err" | wc -l)" = 2
err=$(vmsnap image frobnicate 2>&1)
ok $(( $? == 0 )) "unknown command is an error"

# Dependencies: an image used as kernel_id cannot be deleted.
kid=$(vmsnap image create k --file "$W/a.raw" --disk-format aki -f value -c id)
vmsnap image set --property kernel_id="$kid" alpha
err=$(vmsnap image delete "$kid" 2>&1)
ok $(( $? == 0 )) "deleting an image used as kernel_id is refused"
check "  error says who uses it" -- grep -q "alpha" <<<"$err"
vmsnap image unset --property kernel_id alpha
vmsnap image delete "$kid"
ok $? "image delete once unused"
stored_images >"$W/stored"
check "deleted image is gone with its file" -- test -s "$W/stored" -a \
    "$(grep -c "^$kid\." "$W/stored")" = 0

# Two processes racing on create, set and delete keep the catalog sane.
race() {
    local i id
    for i in $(seq 1 8); do
        id=$(vmsnap image create "race-$1-$i" --file "$W/a.raw" \
             --disk-format raw -f value -c id) || return 1
        vmsnap image set --property "n=$i" "$id" || return 1
        vmsnap image set --property "m=$1" "$id" || return 1
        if [ $((i % 2)) = 0 ]; then
            vmsnap image delete "$id" || return 1
        fi
    done
}
race a & pa=$!
race b & pb=$!
wait $pa; ra=$?
wait $pb; rb=$?
ok $((ra + rb)) "two racing processes: every command succeeded"
check "racing: the expected images remain" -- test \
    "$(vmsnap image list -f value -c Name | grep -c '^race-')" = 8
check "racing: each kept both properties" -- test \
    "$(vmsnap image list --property m=a -f value -c Name | wc -l)" = 4
if [ -n "$T_SCHEMA" ]; then
    # PostgreSQL checks its pages itself; no index left invalid.
    check "racing: the database is intact" -- test "$(psql \
        "$VMSNAP_CATALOG" -XAtc "select count(*) from pg_index i join \
        pg_class c on c.oid = i.indexrelid join pg_namespace n on \
        n.oid = c.relnamespace where n.nspname = '$T_SCHEMA' and \
        not (i.indisvalid and i.indisready)")" = 0
else
    check "racing: the database is intact" -- test \
        "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("pragma integrity_check").fetchone()[0])' "$VMSNAP_DATA_DIR/catalog.db")" = ok
fi

done_testing
