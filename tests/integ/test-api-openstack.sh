#!/bin/bash
# The seed's whole flow through vmsnapd with Debian's openstack client
# (python3-openstackclient), a real vmsnapd on the data directory the
# vmsnap command uses, real QEMU guests, real ext4: images with
# properties, servers, a live snapshot while the guest writes, a server
# booted from it, backups with rotation, volumes attached, a download
# byte for byte; then two projects apart, logout, and bad input.
. "$SRCDIR/tests/integ/lib.sh"
need qemu-system-x86_64 qemu-img python3 curl openstack dumpe2fs e2fsck
: "${VMSNAPD:?VMSNAPD must name the vmsnapd binary}"

# The guest first: its cache is under the caller's HOME.
g=$(guest_dir)
# No clouds.yaml or OS_* of the caller may steer the client.
unset $(env | awk -F= '/^OS_/ {print $1}')
export HOME=$T_DIR

# --- The daemon, two projects, three users --------------------------------
vmsnap project create demo >/dev/null &&
    vmsnap project create other >/dev/null &&
    echo secret1 >"$T_DIR/pw1" && echo secret2 >"$T_DIR/pw2" &&
    echo secret3 >"$T_DIR/pw3" &&
    vmsnap user create alice --project demo --admin \
        --password-file "$T_DIR/pw1" >/dev/null &&
    vmsnap user create bob --project demo --password-file "$T_DIR/pw2" \
        >/dev/null &&
    vmsnap user create carol --project other --password-file "$T_DIR/pw3" \
        >/dev/null
ok $? "vmsnap project create, user create (an admin, two members)"

DLOG=$T_DIR/vmsnapd.log
"$VMSNAPD" --listen 127.0.0.1:0 --port-file "$T_DIR/port" \
    --max-body 65536 >"$DLOG" 2>&1 &
DPID=$!
for i in $(seq 1 600); do
    [ -s "$T_DIR/port" ] && break
    sleep 0.1
done
PORT=$(cat "$T_DIR/port" 2>/dev/null)
BASE=http://127.0.0.1:$PORT
curl -s -o /dev/null "$BASE/identity/v3"
ok $? "vmsnapd starts on the data directory of vmsnap"
stop_vmsnapd() {
    kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
}
trap 'stop_vmsnapd; cleanup' EXIT

# The openrc vmsnap prints, with the password in the environment.
vmsnap openrc bob --url "$BASE" >"$T_DIR/openrc-bob"
ok $? "vmsnap openrc bob"
# osc USER: the openstack client as USER through that user's openrc.
osc() {
    local u=$1 pw
    shift
    case $u in alice) pw=secret1 ;; bob) pw=secret2 ;; carol) pw=secret3 ;; esac
    [ -f "$T_DIR/openrc-$u" ] || vmsnap openrc "$u" --url "$BASE" \
        >"$T_DIR/openrc-$u"
    (export OS_PASSWORD=$pw && . "$T_DIR/openrc-$u" && openstack "$@")
}
O=$T_DIR/out
# json FILE EXPR: Python expression EXPR over the JSON in FILE (as d).
json() {
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"
}
fail_diag() {  # show the client's output when a step failed
    [ "$1" = 0 ] || diag "$(tail -5 "$O")"
}

osc bob token issue -f json >"$O" 2>&1
ok $(test $? = 0 && [ "$(json "$O" "len(d['id'])")" = 43 ]; echo $?) "openstack token issue through the openrc"

# --- Images: the guest as kernel, ramdisk and root with properties --------
osc bob image create guest-kernel --file "$g/vmlinuz" --disk-format aki \
    --container-format aki -f value -c id >"$O" 2>&1
rc=$?; kid=$(cat "$O"); fail_diag $rc
ok $rc "image create --disk-format aki --container-format aki"
osc bob image create guest-ramdisk --file "$g/initrd.img" --disk-format ari \
    --container-format ari -f value -c id >"$O" 2>&1
rc=$?; rid=$(cat "$O"); fail_diag $rc
ok $rc "image create --disk-format ari"
osc bob image create guest --file "$g/root.qcow2" --disk-format qcow2 \
    --container-format bare --property kernel_id="$kid" \
    --property ramdisk_id="$rid" --property hw_qemu_guest_agent=yes \
    --property os_distro=vmsnap-test -f json >"$O" 2>&1
rc=$?; fail_diag $rc
# OSC 6.0 prints the image as created (queued), not after the upload.
osc bob image show guest -f json >"$O" 2>&1
ok $(test $rc = 0 && [ "$(json "$O" "d['status']")" = active ]; echo $?) "image create --file with --property: active"
gid=$(json "$O" "d['id']" 2>/dev/null)
ok $(test "$(json "$O" "d['checksum']")" = "$(md5sum <"$g/root.qcow2" | cut -d' ' -f1)"; echo $?) "  its checksum is the file's MD5"
check "the CLI sees the image the API made, same ID" -- \
    test "$(vmsnap image show guest -f value -c id)" = "$gid"

osc bob image set --property color=blue --property purpose=test guest >"$O" 2>&1
ok $? "image set --property"
osc bob image unset --property purpose guest >"$O" 2>&1
ok $? "image unset --property"
osc bob image show guest -f json >"$O" 2>&1
ok $(json "$O" "(d['properties'].get('color'), 'purpose' in d['properties'], d['properties'].get('os_distro'))" | grep -qx "('blue', False, 'vmsnap-test')"; echo $?) "image show: the set property is there, the unset one gone"
check "the CLI reads the same property" -- test "$(prop guest color)" = blue

osc bob flavor list -f value -c Name >"$O" 2>&1
ok $(grep -qx m1.tiny "$O"; echo $?) "flavor list has m1.tiny"

# --- A server, a live snapshot while the guest writes ---------------------
osc bob server create --image guest --flavor m1.tiny --wait vm1 -f json \
    >"$O" 2>&1
rc=$?; fail_diag $rc
ok $(test $rc = 0 && [ "$(json "$O" "d['status']")" = ACTIVE ]; echo $?) "server create --image --flavor --wait: ACTIVE"
sid=$(json "$O" "d['id']" 2>/dev/null)
wait_agent vm1 120
ok $? "the guest agent of vm1 answers"
guest_sh vm1 'echo from-api > /root/marker && sync' >/dev/null
start_writer vm1
ok $? "a process in the guest keeps writing"

osc bob server image create --name SNAP --wait vm1 -f json >"$O" 2>&1
rc=$?; fail_diag $rc
ok $(test $rc = 0 && [ "$(json "$O" "d['status']")" = active ]; echo $?) "server image create --name SNAP --wait while the guest writes: active"
osc bob image show -f value -c properties SNAP >"$O" 2>&1
ok $? "image show -f value -c properties SNAP"
diag "$(cut -c1-300 "$O")"
for want in "instance_uuid': '$sid'" "base_image_ref': '$gid'" \
    "image_type': 'snapshot'" "vmsnap_"; do
    ok $(grep -qF "$want" "$O"; echo $?) "  the properties show $want"
done
check "the snapshot's ext4 is clean (frozen by the agent)" -- \
    test "$(ext4_state SNAP)" = clean
osc bob server event list vm1 -f value -c Action >"$O" 2>&1
ok $(grep -qx createImage "$O" && grep -qx create "$O"; echo $?) "server event list shows create and createImage"

osc bob server create --image SNAP --flavor m1.tiny --wait vm2 -f value \
    -c status >"$O" 2>&1
rc=$?; fail_diag $rc
ok $(test $rc = 0 && grep -qx ACTIVE "$O"; echo $?) "server create --image SNAP --wait"
wait_agent vm2 120
ok $? "the server booted from SNAP answers"
check "  and has the data written before the snapshot" -- \
    test "$(guest_sh vm2 'cat /root/marker')" = from-api
osc bob server delete --wait vm2 >"$O" 2>&1
ok $? "server delete --wait vm2"

# --- Backups with rotation ------------------------------------------------
for n in 1 2 3; do
    osc bob server backup create --name "daily-$n" --type daily --rotate 2 \
        --wait vm1 >"$O" 2>&1
    rc=$?; fail_diag $rc
    ok $rc "server backup create --type daily --rotate 2 (#$n)"
done
osc bob image list -f value -c Name >"$O" 2>&1
ok $(test "$(grep -c '^daily-' "$O")" = 2 && grep -qx daily-3 "$O" && ! grep -qx daily-1 "$O"; echo $?) "rotation keeps the 2 newest backups"

# createBackup with "vmsnap:incremental": into the chunk store, the
# second on the first.
ibackup() {  # ibackup NAME: an incremental backup of vm1 by the API; its status
    local t p s
    t=$(osc bob token issue -f value -c id 2>/dev/null)
    s=$(curl -s -o "$O" -w '%{http_code}' -H "X-Auth-Token: $t" \
        -H 'Content-Type: application/json' -d '{"createBackup": {"name": "'"$1"'",
        "backup_type": "inc", "rotation": 2, "vmsnap:incremental": true}}' \
        "$BASE/compute/v2.1/servers/$(osc bob server show vm1 -f value -c id)/action")
    [ "$s" = 202 ] || { echo "createBackup: $s $(cat "$O")"; return 1; }
    for i in $(seq 1 600); do
        osc bob image show "$1" -f value -c status >"$O" 2>&1
        grep -qx -e active -e killed "$O" && break
        sleep 1
    done
    cat "$O"
}
st1=$(ibackup inc-1) && st2=$(ibackup inc-2)
ok $(test "$st1/$st2" = active/active; echo $?) "createBackup with vmsnap:incremental twice: $st1/$st2"
osc bob image show inc-2 -f json >"$O" 2>&1
ok $(test "$(json "$O" "d['properties']['vmsnap_backup_store']")/$(json "$O" "d['properties']['vmsnap_backup_mode']")" = chunks/incremental; echo $?) "  the second is incremental, in the chunk store"

# --- Volumes --------------------------------------------------------------
osc bob volume create --size 1 vol1 -f json >"$O" 2>&1
rc=$?; fail_diag $rc
ok $(test $rc = 0 && [ "$(json "$O" "d['size']")" = 1 ]; echo $?) "volume create --size 1"
vid=$(json "$O" "d['id']" 2>/dev/null)
osc bob volume create --image guest --size 1 vol-img -f value -c status >"$O" 2>&1
ok $(test $? = 0 && grep -qx available "$O"; echo $?) "volume create --image"
osc bob server add volume vm1 vol1 >"$O" 2>&1
rc=$?; fail_diag $rc
ok $rc "server add volume vm1 vol1"
osc bob volume list -f json >"$O" 2>&1
ok $(json "$O" "sorted((v['Name'], v['Status']) for v in d)" | grep -qF "[('vol-img', 'available'), ('vol1', 'in-use')]"; echo $?) "volume list: vol1 in-use, vol-img available"
ok $(json "$O" "[v['Attached to'] for v in d if v['Name'] == 'vol1'][0]" | grep -q "vm1\|$sid"; echo $?) "  vol1 attached to vm1"
osc bob volume show vol1 -f json >"$O" 2>&1
ok $(json "$O" "d['attachments'][0]['server_id']" | grep -qx "$sid"; echo $?) "volume show: the attachment names the server"
osc bob server remove volume vm1 vol1 >"$O" 2>&1
ok $? "server remove volume"
osc bob volume snapshot create --volume vol1 vsnap1 -f value -c id >"$O" 2>&1
rc=$?; fail_diag $rc
ok $rc "volume snapshot create of the detached volume"
for i in $(seq 1 300); do
    osc bob volume snapshot show vsnap1 -f value -c status >"$O" 2>&1
    grep -qx 'available\|error' "$O" && break
    sleep 1
done
ok $(grep -qx available "$O"; echo $?) "  it becomes available (a task copied it)"
osc bob volume create --snapshot vsnap1 vol-from-snap -f value -c status \
    >"$O" 2>&1
ok $(test $? = 0 && grep -qx available "$O"; echo $?) "volume create --snapshot"

# --- Download byte for byte -----------------------------------------------
osc bob image save --file "$T_DIR/saved.qcow2" guest >"$O" 2>&1
ok $(test $? = 0 && cmp -s "$T_DIR/saved.qcow2" "$g/root.qcow2"; echo $?) "image save: byte for byte what was uploaded"
rm -f "$T_DIR/saved.qcow2"

# --- Two projects ----------------------------------------------------------
osc carol server list -f value -c Name >"$O" 2>&1
ok $(test $? = 0 && ! grep -q vm1 "$O"; echo $?) "carol (project other) does not list demo's servers"
osc carol image list -f value -c Name >"$O" 2>&1
ok $(test $? = 0 && ! grep -qx guest "$O" && ! grep -qx SNAP "$O"; echo $?) "  nor its private images"
osc carol volume list -f value -c Name >"$O" 2>&1
ok $(test $? = 0 && ! grep -q vol1 "$O"; echo $?) "  nor its volumes"
osc carol server stop "$sid" >"$O" 2>&1
ok $(test $? != 0 && grep -q '404\|No server' "$O"; echo $?) "carol cannot stop demo's server by ID (404)"
CT=$(osc carol token issue -f value -c id 2>/dev/null)
s=$(curl -s -o "$O" -w '%{http_code}' -H "X-Auth-Token: $CT" \
    "$BASE/compute/v2.1/servers/$sid")
ok $(test "$s" = 404 && grep -q itemNotFound "$O"; echo $?) "GET another project's server: 404 itemNotFound"
# A community image: carol sees it, but only its project may change it.
kid=$(osc bob image show guest-kernel -f value -c id 2>/dev/null)
osc bob image set --community "$kid" >"$O" 2>&1
ok $? "bob makes guest-kernel a community image"
osc carol image show "$kid" -f value -c name >"$O" 2>&1
ok $(test $? = 0 && grep -qx guest-kernel "$O"; echo $?) "  carol sees it by ID"
osc carol image set --property owner_note=mine "$kid" >"$O" 2>&1
ok $(test $? != 0 && grep -q '403' "$O"; echo $?) "  carol cannot change it (403)"
osc carol image delete "$kid" >"$O" 2>&1
ok $(test $? != 0 && osc bob image show "$kid" -f value -c status 2>/dev/null |
    grep -qx active; echo $?) "  nor delete it: it stays, active"
osc bob image set --private "$kid" >/dev/null 2>&1
s=$(curl -s -o "$O" -w '%{http_code}' -H "X-Auth-Token: $CT" \
    "$BASE/image/v2/images/$gid")
ok $(test "$s" = 404; echo $?) "GET another project's private image: 404"
s=$(curl -s -o "$O" -w '%{http_code}' -X DELETE -H "X-Auth-Token: $CT" \
    "$BASE/volume/v3/$(osc carol token issue -f value -c project_id)/volumes/$vid")
ok $(test "$s" = 404; echo $?) "DELETE another project's volume: 404"
osc alice server list --all-projects -f value -c Name >"$O" 2>&1
ok $(grep -qx vm1 "$O"; echo $?) "alice (admin) lists every project's servers"
osc alice token revoke "$CT" >"$O" 2>&1
s=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $CT" \
    "$BASE/compute/v2.1/servers")
ok $(test "$s" = 401; echo $?) "a token after logout (revoke): 401"

# --- Bad input --------------------------------------------------------------
BT=$(osc bob token issue -f value -c id 2>/dev/null)
BP=$(osc bob token issue -f value -c project_id 2>/dev/null)
H=(-H "X-Auth-Token: $BT" -H 'Content-Type: application/json')
cpost() {  # cpost URL BODY: the status; the body in $O
    curl -s -o "$O" -w '%{http_code}' "${H[@]}" -d "$2" "$BASE$1"
}
s=$(cpost /compute/v2.1/servers '{"server": {"name": "x",')
ok $(test "$s" = 400; echo $?) "malformed JSON: 400"
s=$(cpost /compute/v2.1/servers '{"server": {"name": 5, "imageRef": "'"$gid"'", "flavorRef": "1"}}')
ok $(test "$s" = 400 && grep -q badRequest "$O"; echo $?) "a wrong type: 400 badRequest"
s=$(cpost /compute/v2.1/servers '{"server": {"name": "x", "imageRef": "'"$(cat /proc/sys/kernel/random/uuid)"'", "flavorRef": "1"}}')
ok $(test "$s" = 400 && grep -qi 'image' "$O"; echo $?) "an unknown image: 400 naming the image"
s=$(cpost /compute/v2.1/servers '{"server": {"name": "x", "imageRef": "'"$gid"'", "flavorRef": "nosuch"}}')
ok $(test "$s" = 400 && grep -qi 'flavor' "$O"; echo $?) "an unknown flavor: 400 naming the flavor"
head -c 200000 /dev/zero | tr '\0' x >"$T_DIR/huge"
s=$(curl -s -o "$O" -w '%{http_code}' "${H[@]}" \
    --data-binary "@$T_DIR/huge" "$BASE/compute/v2.1/servers")
ok $(test "$s" = 413; echo $?) "a body over --max-body: 413"
osc bob server create --image nosuch --flavor m1.tiny vm-bad >"$O" 2>&1
ok $(test $? != 0 && grep -qi 'no.*image.*nosuch\|nosuch' "$O"; echo $?) "openstack server create --image nosuch fails"

# A second snapshot while one runs: 409.  The first runs in a worker: the
# second is asked for before it can end.
act() {  # act BODY: POST a server action to vm1
    cpost "/compute/v2.1/servers/$sid/action" "$1"
}
s1=$(act '{"createImage": {"name": "SNAP-a"}}')
s2=$(act '{"createImage": {"name": "SNAP-b"}}')
ok $(test "$s1" = 202 && test "$s2" = 409 && grep -q conflictingRequest "$O"; echo $?) "a second snapshot at once: 409 conflictingRequest"
[ "$s1/$s2" = 202/409 ] || diag "first $s1, second $s2: $(cat "$O")"
for i in $(seq 1 300); do
    osc bob image show SNAP-a -f value -c status >"$O" 2>&1
    grep -qx 'active\|killed' "$O" && break
    sleep 1
done
ok $(grep -qx active "$O"; echo $?) "  the first one completes"

# A snapshot of a paused and of a stopped server works.
osc bob server pause vm1 >"$O" 2>&1 &&
    osc bob server image create --name SNAP-paused --wait vm1 >"$O" 2>&1
ok $? "server image create of a paused server"
osc bob server unpause vm1 >"$O" 2>&1 &&
    osc bob server stop vm1 >"$O" 2>&1
ok $? "server unpause, stop"
for i in $(seq 1 120); do
    [ "$(osc bob server show vm1 -f value -c status 2>/dev/null)" = SHUTOFF ] && break
    sleep 1
done
osc bob server image create --name SNAP-cold --wait vm1 >"$O" 2>&1
ok $? "server image create of a stopped server (cold)"
# Clean when the guest shut down in time; a stop that had to cut the
# power (a loaded machine) leaves a journal to replay, never damage.
st=$(ext4_state SNAP-cold)
ok $(test "$st" = clean -o "$st" = needs_recovery; echo $?) "  its ext4 is consistent ($st)"
osc bob server start vm1 >"$O" 2>&1
ok $? "server start"
for i in $(seq 1 120); do
    st=$(osc bob server show vm1 -f value -c status 2>/dev/null)
    [ "$st" = ACTIVE ] && break
    sleep 1
done
ok $(test "$st" = ACTIVE; echo $?) "  ACTIVE again"

# A client that goes away in the middle of an upload leaves no data.
# (Not made by the client: without --file and a terminal, OSC uploads its
# standard input.)
cpost /image/v2/images '{"name": "partial", "disk_format": "raw", "container_format": "bare"}' >/dev/null
pid_img=$(json "$O" "d['id']")
head -c 64M /dev/urandom >"$T_DIR/big.raw"
curl -s -o /dev/null -X PUT -H "X-Auth-Token: $BT" \
    -H 'Content-Type: application/octet-stream' --limit-rate 4M \
    -T "$T_DIR/big.raw" "$BASE/image/v2/images/$pid_img/file" &
cpid=$!
for i in $(seq 1 100); do
    st=$(vmsnap image show "$pid_img" -f value -c status 2>/dev/null)
    [ "$st" = saving ] && break
    sleep 0.1
done
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
for i in $(seq 1 100); do
    st=$(vmsnap image show "$pid_img" -f value -c status 2>/dev/null)
    [ "$st" != saving ] && break
    sleep 0.1
done
ok $(test "$st" = killed; echo $?) "an upload cut by the client: the image is killed"
check "  and no file of its data is left" -- test -z "$(find "$VMSNAP_DATA_DIR" -name "*$pid_img*" -type f -size +0)" \
    -a -z "$(stored_images | grep "^$pid_img\.")"
osc bob image delete partial >"$O" 2>&1
ok $? "  it can be deleted"

# --- Delete everything -------------------------------------------------------
osc bob server delete --wait vm1 >"$O" 2>&1
ok $? "server delete --wait vm1"
# A volume made from a snapshot holds it, a snapshot its volume: in order.
rc=0
for v in vol-from-snap vol-img; do
    osc bob volume delete "$v" >"$O" 2>&1 || rc=1
done
ok $rc "volume delete of the volumes made from an image and a snapshot"
osc bob volume snapshot delete vsnap1 >"$O" 2>&1
ok $? "volume snapshot delete"
osc bob volume delete vol1 >"$O" 2>&1
ok $? "volume delete of its volume"
# Twice: a kernel or ramdisk goes once the images naming it are gone.
for pass in 1 2; do
    osc bob image list -f value -c ID >"$T_DIR/ids" 2>&1
    [ -s "$T_DIR/ids" ] && osc bob image delete $(cat "$T_DIR/ids") >"$O" 2>&1
done
osc bob image list -f value -c ID >"$O" 2>&1
ok $(test $? = 0 && ! test -s "$O"; echo $?) "image delete of every image: none left"
osc bob volume list -f value -c ID >"$O" 2>&1
ok $(test $? = 0 && ! test -s "$O"; echo $?) "no volume left"
check "the CLI sees no server either" -- test -z "$(vmsnap server list -f value -c id)"

stop_vmsnapd
ok $? "vmsnapd stops with 0 on SIGTERM"
done_testing
