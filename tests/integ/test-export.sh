#!/bin/bash
# OVA export and import of an instance-level snapshot: a guest with two
# volumes, known data on all three disks, one package (descriptor first,
# manifest second, three disks, kernel and ramdisk byte for byte), import
# into a fresh data directory, boot there: the same data.  A damaged
# package and a failure half-way through an import leave nothing behind.
. "$SRCDIR/tests/integ/lib.sh"
need qemu-system-x86_64 qemu-img mke2fs debugfs python3 cmp

# The fresh installation the packages are imported into: data directory
# data2 and, on PostgreSQL or S3, a schema and a bucket of its own.
D2=$T_DIR/data2
install_make data2
ok $? "a second installation, data2"

in_data2() {  # in_data2 COMMAND...: run it on the second installation
    in_install data2 "$@"
}

# lib.sh's cleanup kills the QEMUs of every $T_DIR/data* by pid file.

# Nothing of an import may stay in data2: no image, no volume snapshot,
# no data file or object, no temporary file.
data2_empty() {
    local imgs snaps
    imgs=$(in_data2 vmsnap image list -f value -c ID) &&
        snaps=$(in_data2 vmsnap volume snapshot list -f value -c ID) &&
        test -z "$imgs" -a -z "$snaps" &&
        test -z "$(ls -A "$D2/tmp")" &&
        test -z "$(in_data2 stored_objects images)" &&
        test -z "$(in_data2 stored_objects volume-snapshots)" &&
        test -z "$(in_data2 store_staged)"
}

g=$(guest_dir)
register_guest guest yes >/dev/null
ok $? "the test guest registered: kernel, ramdisk, root disk"
ext4_image volbase 64M >/dev/null &&
    vmsnap volume create A --image volbase >/dev/null &&
    vmsnap volume create B --image volbase >/dev/null
ok $? "volumes A and B from a 64 MiB ext4 raw image"

vmsnap server create vm --image guest >/dev/null && wait_agent vm
ok $? "a server boots"
vmsnap server add volume vm A && vmsnap server add volume vm B
ok $? "A and B hot-plugged into it"
mount_volumes vm A:/mnt/b B:/mnt/c
ok $? "the guest mounts them at /mnt/b and /mnt/c"
tok=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
guest_sh vm "echo root-$tok > /root/marker && echo A-$tok > /mnt/b/marker &&
             echo B-$tok > /mnt/c/marker && sync"
ok $? "known data written on the root disk and both volumes"
vmsnap server image create --all-volumes --name set1 vm >/dev/null
ok $? "instance-level snapshot set1 of the three disks"

# ---- Export: streamOptimized VMDK by default ----
vmsnap image export set1 --format ova --file "$T_DIR/set1.ova"
ok $? "export set1 as one OVA"
check "  no .part and no scratch files left" -- test \
    ! -e "$T_DIR/set1.ova.part" -a -z "$(ls -A "$VMSNAP_DATA_DIR/tmp")"
python3 - "$T_DIR/set1.ova" "$g/vmlinuz" "$g/initrd.img" <<'PY'
import hashlib, sys, tarfile
import xml.etree.ElementTree as ET
names = ["set1.ovf", "set1.mf", "set1-disk1.vmdk", "set1-disk2.vmdk",
         "set1-disk3.vmdk", "set1-kernel.bin", "set1-ramdisk.bin"]
with tarfile.open(sys.argv[1]) as t:
    members = t.getmembers()
    got = [m.name for m in members]
    assert got == names, got
    data = {m.name: t.extractfile(m).read() for m in members}
mf = {}
for line in data["set1.mf"].decode().splitlines():
    alg, rest = line.split("(", 1)
    name, digest = rest.split(")= ")
    assert alg == "SHA256", line
    mf[name] = digest
assert sorted(mf) == sorted(n for n in names if n != "set1.mf"), mf
for n, d in mf.items():
    assert hashlib.sha256(data[n]).hexdigest() == d, n
assert data["set1-kernel.bin"] == open(sys.argv[2], "rb").read()
assert data["set1-ramdisk.bin"] == open(sys.argv[3], "rb").read()
ns = {"ovf": "http://schemas.dmtf.org/ovf/envelope/1",
      "rasd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
              "CIM_ResourceAllocationSettingData",
      "v": "urn:x-vmsnap:ovf:1"}
root = ET.fromstring(data["set1.ovf"])
items = root.findall(".//ovf:VirtualHardwareSection/ovf:Item", ns)
def quantity(rt):
    for i in items:
        if i.findtext("rasd:ResourceType", namespaces=ns) == str(rt):
            return i.findtext("rasd:VirtualQuantity", namespaces=ns)
assert quantity(3) == "1" and quantity(4) == "256", (quantity(3), quantity(4))
disks = [i for i in items
         if i.findtext("rasd:ResourceType", namespaces=ns) == "17"]
assert len(disks) == 3 and len(root.findall(".//ovf:Disk", ns)) == 3
props = {p.get("key"): p.text
         for p in root.findall(".//v:ImagePropertiesSection/v:Property", ns)}
for k in ("block_device_mapping", "kernel_id", "ramdisk_id",
          "hw_qemu_guest_agent", "vmsnap_cpus", "vmsnap_memory_mb",
          "instance_uuid", "base_image_ref"):
    assert k in props, k
roles = sorted(f.get("role") for f in root.findall(".//v:File", ns))
assert roles == ["kernel", "ramdisk"], roles
PY
ok $? "tar order: descriptor, manifest, 3 disks, kernel, ramdisk; SHA-256 of each; kernel and ramdisk byte for byte; 1 CPU, 256 MiB, all properties"
check "  the package is a tar python3 reads with .ovf first and .mf second" -- \
    python3 -c 'import sys, tarfile; n = tarfile.open(sys.argv[1]).getnames(); assert n[0].endswith(".ovf") and n[1].endswith(".mf")' "$T_DIR/set1.ova"

err=$(vmsnap image export set1 --file "$T_DIR/set1.ova" 2>&1)
ok $((! $?)) "export onto an existing file refused"
check "  saying so" -- grep -q "already exists" <<<"$err"
vmsnap image export set1 --file "$T_DIR/x.ova" --disk-format raw 2>/dev/null
check "an unknown --disk-format is a usage error" -- test $? -eq 2

vmsnap image export set1 --file "$T_DIR/set1q.ova" --disk-format qcow2
ok $? "export set1 with --disk-format qcow2"
check "  disks are qcow2 members" -- python3 -c '
import sys, tarfile
n = tarfile.open(sys.argv[1]).getnames()
assert n[2:5] == ["set1-disk%d.qcow2" % i for i in (1, 2, 3)], n' "$T_DIR/set1q.ova"

# The source is not needed any more: free the CPU for the next guest.
vmsnap server delete vm >/dev/null
ok $? "the source server deleted"

# ---- A package with one byte changed in a disk member ----
in_data2 vmsnap image list >/dev/null
ok $? "a fresh data directory data2"
member=$(python3 - "$T_DIR/set1.ova" "$T_DIR/bad.ova" <<'PY'
import shutil, sys, tarfile
shutil.copyfile(sys.argv[1], sys.argv[2])
with tarfile.open(sys.argv[1]) as t:
    m = t.getmembers()[3]
off = m.offset_data + m.size // 2
with open(sys.argv[2], "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x01]))
print(m.name)
PY
)
err=$(in_data2 vmsnap image import "$T_DIR/bad.ova" 2>&1)
ok $((! $?)) "a package with one byte changed in $member is refused"
diag "$err"
check "  the error names the file whose checksum does not match" -- \
    grep -q "checksum mismatch for $member" <<<"$err"
check "  nothing left in data2: no image, no volume snapshot, no file" -- \
    data2_empty

# ---- A failure half-way: the root disk's check fails after the kernel,
# ramdisk, volume snapshots and the image record are registered ----
cat >"$T_DIR/fake-qemu-img" <<'EOF'
#!/bin/bash
# qemu-img, except that "info" of an image in images/ fails.
if [ "$1" = info ] && [[ "${*: -1}" == */images/*.qcow2 ]]; then
    echo "qemu-img: injected failure" >&2
    exit 1
fi
exec qemu-img "$@"
EOF
chmod +x "$T_DIR/fake-qemu-img"
err=$(VMSNAP_QEMU_IMG=$T_DIR/fake-qemu-img \
      in_data2 vmsnap image import "$T_DIR/set1.ova" 2>&1)
ok $((! $?)) "an import that fails at its last step fails"
check "  with the reason" -- grep -q "injected failure" <<<"$err"
check "  and undoes everything: no image, no volume snapshot, no file" -- \
    data2_empty

# ---- vmsnap killed half-way through an import: the next command that
# lists images removes what it left (the import lock is free) ----
# The hang says so with a file: a process list would also show the
# script in the moment before it execs qemu-img for the other "info"
# calls the import makes (of the unpacked disks), before the record is.
cat >"$T_DIR/slow-qemu-img" <<EOF
#!/bin/bash
# qemu-img, except that "info" of an image in images/ hangs.
if [ "\$1" = info ] && [[ "\${*: -1}" == */images/*.qcow2 ]]; then
    touch "$T_DIR/hanging"
    sleep 60
fi
exec qemu-img "\$@"
EOF
chmod +x "$T_DIR/slow-qemu-img"
VMSNAP_QEMU_IMG=$T_DIR/slow-qemu-img \
    in_data2 exec "$VMSNAP" image import "$T_DIR/set1.ova" >/dev/null 2>&1 &
kpid=$!
for i in $(seq 1 1200); do
    [ -e "$T_DIR/hanging" ] && break
    sleep 0.1
done
check "the import reaches the hanging check of its root disk" -- \
    test -e "$T_DIR/hanging"
importing=$(in_data2 vmsnap image list --status importing -f value -c Name)
diag "importing: $(echo $importing)"
check "an import in progress shows its image as importing" -- \
    grep -qx set1 <<<"$importing"
kill -9 $kpid
wait $kpid 2>/dev/null
pkill -f "$T_DIR/slow-qemu-img" 2>/dev/null
touch -d '2 minutes ago' "$D2"/tmp/import-* 2>/dev/null
check "after the importer is killed, the next listing removes the half-import" -- \
    test -z "$(in_data2 vmsnap image list --status importing -f value -c ID)"
check "  with its volume snapshots and temporary files" -- test \
    -z "$(in_data2 vmsnap volume snapshot list -f value -c ID)" -a -z "$(ls -A "$D2/tmp")"
check "  and nothing else is left, not even its kernel and ramdisk" -- \
    data2_empty

# ---- Import of the VMDK package ----
new=$(in_data2 vmsnap image import "$T_DIR/set1.ova" -f value -c id)
ok $? "import of set1.ova into data2"
check "  the temporary directory is empty again" -- test -z "$(ls -A "$D2/tmp")"
python3 - "$(in_data2 vmsnap image show "$new" -f json)" \
    "$(vmsnap image show set1 -f json)" \
    "$(in_data2 vmsnap volume snapshot list -f json)" <<'PY'
import json, sys
img, old, vsl = (json.loads(a) for a in sys.argv[1:4])
p, op = img["properties"], old["properties"]
assert img["status"] == "active" and img["disk_format"] == "qcow2", img
assert img["name"] == "set1" and img["checksum"] and img["size"] > 0, img
assert img["virtual_size"] == old["virtual_size"], img
for k, v in op.items():
    if k in ("instance_uuid", "backup_type"):
        # They name an instance of the exporting host: not kept.
        assert k not in p, (k, p)
    elif k not in ("kernel_id", "ramdisk_id", "block_device_mapping"):
        assert p.get(k) == v, (k, p.get(k), v)
assert p["imported_from"] == old["id"], p
assert p["kernel_id"] != op["kernel_id"] and p["ramdisk_id"] != op["ramdisk_id"]
bdm, obdm = json.loads(p["block_device_mapping"]), json.loads(op["block_device_mapping"])
assert [e["device_index"] for e in bdm] == [1, 2], bdm
assert [e["volume_id"] for e in bdm] == [e["volume_id"] for e in obdm], bdm
assert [e["size"] for e in bdm] == [64 << 20] * 2, bdm
mine = [s for s in vsl if s["Instance snapshot"] == img["id"]]
assert len(vsl) == 2 and len(mine) == 2, vsl
assert sorted(s["ID"] for s in mine) == sorted(e["snapshot_id"] for e in bdm)
assert all(s["Status"] == "available" for s in mine), mine
PY
ok $? "  the image: active qcow2, every property kept but instance_uuid, kernel_id, ramdisk_id and block_device_mapping rewritten to new records"
sa=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["snapshot_id"])' \
     "$(in_data2 prop "$new" block_device_mapping)")
osa=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["snapshot_id"])' \
     "$(prop set1 block_device_mapping)")
check "  volume snapshot metadata: instance_snapshot_id and imported_from" -- \
    python3 -c 'import json, sys; m = json.loads(sys.argv[1])["metadata"]; assert m["instance_snapshot_id"] == sys.argv[2] and m["imported_from"] == sys.argv[3], m' \
    "$(in_data2 vmsnap volume snapshot show "$sa" -f json)" "$new" "$osa"
check "  the kernel came byte for byte, as an active aki image" -- cmp -s "$g/vmlinuz" \
    "$(in_data2 vmsnap image show "$(in_data2 prop "$new" kernel_id)" -f value -c file)"
check "  the ramdisk too, as an ari image" -- test \
    "$(in_data2 vmsnap image show "$(in_data2 prop "$new" ramdisk_id)" -f value -c disk_format -c checksum | tr '\n' ' ')" = \
    "ari $(vmsnap image show guest-ramdisk -f value -c checksum) "

in_data2 vmsnap server create vm2 --image "$new" >/dev/null &&
    in_data2 wait_agent vm2
ok $? "a server boots from the imported image in data2"
check "  with two volumes made from the imported volume snapshots" -- test \
    "$(in_data2 vmsnap volume show vm2-vol1 -f value -c source_snapshot_id)" = "$sa"
in_data2 mount_volumes vm2 vm2-vol1:/mnt/b vm2-vol2:/mnt/c
ok $? "  the guest mounts both"
check "  root disk data" -- test \
    "$(in_data2 guest_sh vm2 'cat /root/marker')" = "root-$tok"
check "  volume A data" -- test \
    "$(in_data2 guest_sh vm2 'cat /mnt/b/marker')" = "A-$tok"
check "  volume B data" -- test \
    "$(in_data2 guest_sh vm2 'cat /mnt/c/marker')" = "B-$tok"
in_data2 vmsnap server delete vm2 >/dev/null
ok $? "the server of data2 deleted"

# ---- Import of the qcow2 package ----
newq=$(in_data2 vmsnap image import "$T_DIR/set1q.ova" --name set1q \
       -f value -c id)
ok $? "import of the qcow2 package as set1q"
bdmq=$(in_data2 prop "$newq" block_device_mapping)
fq=$(in_data2 vmsnap image show "$newq" -f value -c file)
fa=$(in_data2 vmsnap volume snapshot show \
     "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[0]["snapshot_id"])' "$bdmq")" \
     -f value -c file)
fb=$(in_data2 vmsnap volume snapshot show \
     "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[1]["snapshot_id"])' "$bdmq")" \
     -f value -c file)
check "  root disk data (read on the host)" -- test \
    "$(read_ext4_file "$fq" /root/marker)" = "root-$tok"
check "  volume A data" -- test "$(read_ext4_file "$fa" /marker)" = "A-$tok"
check "  volume B data" -- test "$(read_ext4_file "$fb" /marker)" = "B-$tok"
check "  four volume snapshots in data2 now, two per imported set" -- test \
    "$(in_data2 vmsnap volume snapshot list -f value -c ID | wc -l)" = 4

# A plain image (no volumes) travels with its kernel and ramdisk.
vmsnap image export guest --file "$T_DIR/guest.ova" &&
    python3 -c 'import sys, tarfile; n = tarfile.open(sys.argv[1]).getnames(); assert n == ["guest.ovf", "guest.mf", "guest-disk1.vmdk", "guest-kernel.bin", "guest-ramdisk.bin"], n' "$T_DIR/guest.ova"
ok $? "a plain image exports as one disk with its kernel and ramdisk"

done_testing
