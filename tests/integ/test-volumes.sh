#!/bin/bash
# Volumes, instance-level snapshots of all volumes at one instant, booting
# a set, all-or-nothing on failure, backups with rotation.
. "$SRCDIR/tests/integ/lib.sh"
need qemu-system-x86_64 qemu-img mke2fs debugfs dumpe2fs e2fsck chattr python3

register_guest guest yes >/dev/null
ext4_image volbase >/dev/null
ok $? "an ext4 image for volumes"
vmsnap volume create A --image volbase >/dev/null &&
    vmsnap volume create B --image volbase >/dev/null
ok $? "two volumes from it"
vmsnap volume create C --size 32M >/dev/null
ok $? "an empty volume by size"
check "  32 MiB" -- test "$(vmsnap volume show C -f value -c size)" = 33554432

vmsnap server create vm --image guest >/dev/null && wait_agent vm
ok $? "server boots"
vmsnap server add volume vm A && vmsnap server add volume vm B
ok $? "two volumes hot-plugged into the running server"
check "A is in-use as device 1" -- test \
    "$(vmsnap volume show A -f value -c status -c device_index | tr '\n' ' ')" = "in-use 1 "
check "B is device 2" -- test "$(vmsnap volume show B -f value -c device_index)" = 2
mount_volumes vm A:/mnt/b B:/mnt/c
ok $? "the guest sees both disks (by serial) and mounts them"

# A guest process writes a sequence number to root, then A, then B.
guest_sh vm 'sh -c "i=0; while :; do i=\$((i+1)); for f in /root/seq /mnt/b/seq /mnt/c/seq; do echo \$i > \$f.t; mv \$f.t \$f; done; done" </dev/null >/dev/null 2>&1 &'
sleep 3
vmsnap server image create --all-volumes --name set1 vm >/dev/null
ok $? "instance-level snapshot --all-volumes of the writing guest"
python3 - "$(vmsnap image show set1 -f json)" \
    "$(vmsnap volume show A -f value -c id)" "$(vmsnap volume show B -f value -c id)" <<'PY'
import json, sys
img = json.loads(sys.argv[1])
bdm = json.loads(img["properties"]["block_device_mapping"])
assert [e["volume_id"] for e in bdm] == sys.argv[2:4], bdm
assert [e["device_index"] for e in bdm] == [1, 2], bdm
assert all(e["snapshot_id"] and e["size"] == 64 << 20 for e in bdm), bdm
PY
ok $? "block_device_mapping: both volumes, in order, with snapshot IDs"
imgid=$(vmsnap image show set1 -f value -c id)
vsnaps=$(vmsnap volume snapshot list -f json | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["Instance snapshot"] == sys.argv[1]:
        print(s["ID"])' "$imgid")
check "two volume snapshots tagged with the image ID" -- test "$(wc -w <<<"$vsnaps")" = 2
for vs in $vsnaps; do
    check "volume snapshot $vs: metadata instance_snapshot_id and instance_uuid" -- \
        python3 -c 'import json, sys; m = json.loads(sys.argv[1])["metadata"]; assert m["instance_snapshot_id"] == sys.argv[2] and m["instance_uuid"] == sys.argv[3]' \
        "$(vmsnap volume snapshot show "$vs" -f json)" "$imgid" "$(vmsnap server show vm -f value -c id)"
done

# The three copies are at most one write apart: root >= A >= B >= root - 1.
sa=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["snapshot_id"])' "$(prop set1 block_device_mapping)")
sb=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[1]["snapshot_id"])' "$(prop set1 block_device_mapping)")
fa=$(vmsnap volume snapshot show "$sa" -f value -c file)
fb=$(vmsnap volume snapshot show "$sb" -f value -c file)
r=$(read_ext4_file "$(vmsnap image show set1 -f value -c file)" /root/seq)
a=$(read_ext4_file "$fa" /seq)
b=$(read_ext4_file "$fb" /seq)
diag "sequence numbers: root=$r A=$a B=$b"
check "all three disks at one instant: root >= A >= B >= root - 1" -- \
    test -n "$r" -a -n "$a" -a -n "$b" -a "$r" -ge "$a" -a "$a" -ge "$b" -a "$b" -ge $((r - 1))
check "root filesystem clean" -- test "$(ext4_state set1)" = clean
check "volume A filesystem clean" -- test "$(ext4_file_state "$fa")" = clean
check "volume B filesystem clean" -- test "$(ext4_file_state "$fb")" = clean

# Booting the set brings up all three disks.
vmsnap server create vm2 --image set1 >/dev/null && wait_agent vm2
ok $? "a server boots from the instance-level snapshot"
check "  with two new volumes attached" -- test \
    "$(vmsnap volume list -f json | python3 -c 'import json,sys; print(sum(1 for v in json.load(sys.stdin) if v["Attached to"] == sys.argv[1]))' "$(vmsnap server show vm2 -f value -c id)")" = 2
check "  made from the volume snapshots" -- test -n "$sa" -a \
    "$(vmsnap volume show vm2-vol1 -f value -c source_snapshot_id)" = "$sa"
mount_volumes vm2 vm2-vol1:/mnt/b vm2-vol2:/mnt/c
ok $? "  the guest mounts them"
check "  root data there" -- test "$(guest_sh vm2 'cat /root/seq')" = "$r"
check "  volume A data there, in order" -- test "$(guest_sh vm2 'cat /mnt/b/seq')" = "$a"
check "  volume B data there, in order" -- test "$(guest_sh vm2 'cat /mnt/c/seq')" = "$b"

# A failure on one disk leaves no part of the set, and the guest thawed.
n_img=$(vmsnap image list -f value -c ID | wc -l)
n_vs=$(vmsnap volume snapshot list -f value -c ID | wc -l)
vsdir=$(store_new_dir volume-snapshots)
chattr +i "$vsdir"
err=$(vmsnap server image create --all-volumes --name broken vm 2>&1)
rc=$?
chattr -i "$vsdir"
ok $((! rc)) "a snapshot whose volume target cannot be written fails"
diag "$err"
check "  no image left" -- test "$(vmsnap image list -f value -c ID | wc -l)" = "$n_img"
check "  no volume snapshot left" -- test "$(vmsnap volume snapshot list -f value -c ID | wc -l)" = "$n_vs"
check "  no stray data file" -- test "$(stored_images | wc -l)" = "$n_img"
check "  guest thawed" -- grep -q thawed <<<"$(vmsnap agent command vm '{"execute":"guest-fsfreeze-status"}')"

# A copy that fails half-way on one disk (reads of volume B's fleecing
# node fail, injected with QEMU's blkdebug; QEMU's NBD server then drops
# the copy's connection): the snapshot fails and nothing of the set
# remains.
err=$(VMSNAP_TEST_BREAK_DISK=2 vmsnap server image create --all-volumes --name broken2 vm 2>&1)
ok $((! $?)) "a copy failing on the second volume fails the whole snapshot"
diag "$err"
check "  the error names the disk and the reason" -- grep -qE \
    "copy of disk vol-.*(Input/output error|closed the connection)" <<<"$err"
check "  no image left" -- test "$(vmsnap image list -f value -c ID | wc -l)" = "$n_img"
check "  no volume snapshot left" -- test "$(vmsnap volume snapshot list -f value -c ID | wc -l)" = "$n_vs"
check "  no stray data file" -- test \
    "$(stored_objects volume-snapshots | wc -l)" = "$n_vs"
check "  guest thawed and writable" -- test "$(guest_sh vm 'echo ok > /root/w && cat /root/w')" = ok

# Bad input.
err=$(vmsnap server add volume vm2 A 2>&1)
ok $((! $?)) "a volume attached twice is refused"
check "  the error says where it is attached" -- grep -q "already attached" <<<"$err"
err=$(vmsnap volume delete A 2>&1)
ok $((! $?)) "deleting an attached volume is refused"
err=$(vmsnap volume snapshot delete "$sa" 2>&1)
ok $((! $?)) "deleting a volume snapshot in use is refused"
check "  the error names a user" -- grep -Eq "vm2-vol1|set1|in use" <<<"$err"
err=$(vmsnap volume create X --size 1G --image volbase 2>&1)
ok $((! $?)) "volume create with two sources is refused"

# Detach (hot-unplug) and delete.
guest_sh vm 'kill $(pidof sh | tr " " "\n" | grep -v $$) 2>/dev/null; umount /mnt/c; true'
vmsnap server remove volume vm B
ok $? "hot-unplug volume B"
check "  B available again" -- test "$(vmsnap volume show B -f value -c status)" = available
check "  the guest no longer sees it" -- test "$(guest_sh vm 'ls /sys/block | grep -c vd')" = 2

# Attaching to a stopped server is recorded and takes effect at start.
vmsnap server stop --timeout 30 vm2 && vmsnap server add volume vm2 C
ok $? "attach a volume to a stopped server"
check "  recorded: in-use as device 3" -- test \
    "$(vmsnap volume show C -f value -c status -c device_index | tr '\n' ' ')" = "in-use 3 "
vmsnap server start vm2 && wait_agent vm2
ok $? "  the server starts"
cid=$(vmsnap volume show C -f value -c id)
check "  and its guest sees the volume" -- grep -q "${cid:0:20}" \
    <<<"$(guest_sh vm2 'cat /sys/block/vd*/serial')"

# Backups with rotation (createBackup): K newest per instance and type.
rc=0
for i in 1 2 3; do
    vmsnap server backup create --name "d$i" --backup-type daily --rotation 2 vm >/dev/null ||
        rc=1
done
ok $rc "three daily backups with rotation 2"
backups() {  # backups SERVER TYPE
    local id
    id=$(vmsnap server show "$1" -f value -c id)
    vmsnap image list --property instance_uuid="$id" --property image_type=backup \
        --property backup_type="$2" -f value -c Name | sort | tr '\n' ' '
}
check "  exactly the two newest remain" -- test "$(backups vm daily)" = "d2 d3 "
vmsnap server backup create --name w1 --backup-type weekly --rotation 1 vm >/dev/null
check "  another type has its own rotation" -- test "$(backups vm weekly)/$(backups vm daily)" = "w1 /d2 d3 "
vmsnap server backup create --name o1 --backup-type daily --rotation 1 vm2 >/dev/null
check "  another instance's rotation leaves vm's backups alone" -- test \
    "$(backups vm2 daily)/$(backups vm daily)" = "o1 /d2 d3 "
check "  backups are image_type=backup with backup_type" -- test \
    "$(prop d3 image_type)/$(prop d3 backup_type)" = backup/daily
vmsnap server backup create --backup-type daily --rotation 0 vm >/dev/null
ok $? "rotation 0"
check "  deletes every daily backup of vm and makes none" -- test \
    "$(backups vm daily)/$(backups vm2 daily)/$(backups vm weekly)" = "/o1 /w1 "
vmsnap server backup create --all-volumes --name dv --backup-type daily --rotation 1 vm2 >/dev/null
ok $? "backup with --all-volumes"
check "  rotation deleted the older one" -- test "$(backups vm2 daily)" = "dv "
dv=$(vmsnap image show dv -f value -c id)
check "  the kept set has one volume snapshot per attached volume (3)" -- test \
    "$(vmsnap volume snapshot list -f json |
    python3 -c 'import json,sys; print(sum(1 for s in json.load(sys.stdin) if s["Instance snapshot"] == sys.argv[1]))' "$dv")" = 3

done_testing
