#!/bin/bash
# The reliability audit's defects (research/reliability-audit.md, issue
# 14), each tried the way the audit found it, through the vmsnap command:
# what must hold now.  No guest OS is needed: stopped servers are blank
# disks booted to the BIOS and stopped by force.  Full and read-only data
# directories are tmpfs mounts (root).
. "$(dirname "$0")/lib.sh"
need qemu-img qemu-io python3 tar mount umount pgrep
W=$T_DIR/work
mkdir -p "$W"

# Mounts made here go before lib.sh's cleanup removes the directory.
MOUNTS=()
audit_cleanup() {
    local m
    for m in "${MOUNTS[@]}"; do
        umount -l "$m" 2>/dev/null
    done
    cleanup
}
trap audit_cleanup EXIT

mkqcow2() {  # mkqcow2 FILE SIZE DATA_MIB
    qemu-img create -q -f qcow2 "$1" "$2" &&
        qemu-io -f qcow2 -c "write -P 0x5a 0 ${3}M" "$1" >/dev/null
}

tmpfs_dir() {  # tmpfs_dir DIR SIZE: a tmpfs mounted at DIR
    mkdir -p "$1" && mount -t tmpfs -o size="$2",mode=0700 tmpfs "$1" &&
        MOUNTS+=("$1")
}

# A qemu-img whose conversions crawl (2 MiB/s), so that a test can act
# while one runs; every call is logged.
cat >"$W/slow-qemu-img" <<EOF
#!/bin/bash
echo "\$*" >>"$W/qemu-img.log"
if [ "\$1" = convert ]; then
    shift
    exec qemu-img convert -r 2M "\$@"
fi
exec qemu-img "\$@"
EOF
chmod 0755 "$W/slow-qemu-img"

# Wait up to $1 tenths of a second for the command line $2 (a string,
# evaluated anew each time) to succeed.
wait_for() {
    local i n=$1
    shift
    for i in $(seq 1 "$n"); do
        eval "$*" && return 0
        sleep 0.1
    done
    return 1
}

# The pids of qemu-img processes working in the data directory $1.
helpers_in() {
    local p
    for p in $(pgrep -x qemu-img); do
        tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qF "$1/" &&
            echo "$p"
    done
}

# The number of files in the data directory's object folders.
objects() {  # objects DATA_DIR
    find "$1"/images "$1"/volume-snapshots "$1"/volumes -type f \
        2>/dev/null | wc -l
}

mkqcow2 "$W/src.qcow2" 32M 16

# ---- H1: the checks run on what was copied, not on what was offered ----
qemu-img create -q -f qcow2 -b /etc/hostname -F raw "$W/evil.qcow2" 32M
cp "$W/src.qcow2" "$W/offer.qcow2"
cat >"$W/swap-qemu-img" <<EOF
#!/bin/bash
# After vmsnap's first look at a file, the user's file is replaced by one
# whose backing file is a host file (audit try 24).
qemu-img "\$@"
rc=\$?
[ -e "$W/swapped" ] || { touch "$W/swapped"
                        mv -f "$W/evil.qcow2" "$W/offer.qcow2"; }
exit \$rc
EOF
chmod 0755 "$W/swap-qemu-img"
id=$(VMSNAP_QEMU_IMG=$W/swap-qemu-img vmsnap image create h1 \
     --file "$W/offer.qcow2" --disk-format qcow2 -f value -c id 2>&1)
file=$(vmsnap image show h1 -f value -c file 2>/dev/null)
if [ -n "$file" ]; then
    info=$(qemu-img info -U "$file" 2>&1)
    ! grep -q "backing file" <<<"$info"
    ok $? "H1: a file swapped after vmsnap's check is not what is stored"
else
    # Refusing the swapped file is as good.
    ok 0 "H1: a file swapped after vmsnap's check is not what is stored"
    diag "refused: $id"
fi
vmsnap image delete h1 >/dev/null 2>&1

# ---- H3, M5: an import killed while it converts leaves nothing ---------
vmsnap image create base --file "$W/src.qcow2" --disk-format qcow2 \
    >/dev/null && vmsnap image export base --file "$W/pkg.ova" >/dev/null &&
    vmsnap image delete base >/dev/null
ok $? "a package to import"
before=$(objects "$VMSNAP_DATA_DIR")
# "$VMSNAP", not the vmsnap function: $! must be vmsnap's own pid.
VMSNAP_QEMU_IMG=$W/slow-qemu-img "$VMSNAP" image import "$W/pkg.ova" \
    --name h3 >/dev/null 2>&1 &
vpid=$!
wait_for 600 'test -n "$(helpers_in "$VMSNAP_DATA_DIR")"' &&
    wait_for 100 'test "$(objects "$VMSNAP_DATA_DIR")" -gt "$before"'
ok $? "H3: the import converts into the data directory"
kill -9 $vpid
wait $vpid 2>/dev/null
wait_for 50 'test -z "$(helpers_in "$VMSNAP_DATA_DIR")"'
ok $? "M5: its qemu-img dies with it"
vmsnap image list >/dev/null 2>&1
test "$(objects "$VMSNAP_DATA_DIR")" = "$before" &&
    test -z "$(ls "$VMSNAP_DATA_DIR/locks")"
ok $? "H3: after the next command no file and no lock is left"
diag "$(ls "$VMSNAP_DATA_DIR"/images "$VMSNAP_DATA_DIR"/locks 2>&1)"
vmsnap verify --no-guests >/dev/null 2>&1
ok $? "H3: vmsnap verify finds nothing wrong"

# ---- H4: limits before and during writing ------------------------------
# (a) A sparse tar member is refused before a byte is written.
mkdir -p "$W/sp" && (cd "$W/sp" && tar -xf "$W/pkg.ova")
disk=$(cd "$W/sp" && ls | grep -v '\.ovf$\|\.mf$' | head -1)
head -c 512 "$W/sp/$disk" >"$W/sp/hdr" && mv "$W/sp/hdr" "$W/sp/$disk" &&
    truncate -s 2G "$W/sp/$disk"
(cd "$W/sp" && tar --sparse --format=posix -cf "$W/sparse.ova" \
    $(tar -tf "$W/pkg.ova"))
err=$(vmsnap image import "$W/sparse.ova" 2>&1)
rc=$?
ok $((rc == 0)) "H4: a package with a sparse member is refused"
grep -qi sparse <<<"$err"
ok $? "  the error says it is sparse"
diag "$err"
test "$(objects "$VMSNAP_DATA_DIR")" = "$before" &&
    test "$(du -sm "$VMSNAP_DATA_DIR" | cut -f1)" -lt 64
ok $? "  nothing was written"

# (b) A disk that declares more than the free space, minus the reserve.
tmpfs_dir "$W/small" 200M
qemu-img create -q -f qcow2 "$W/huge.qcow2" 4G
VMSNAP_DATA_DIR=$W/small/d vmsnap image create huge --file "$W/huge.qcow2" \
    --disk-format qcow2 >/dev/null 2>&1 &&
    VMSNAP_DATA_DIR=$W/small/d vmsnap image export huge \
        --file "$W/huge.ova" >/dev/null &&
    VMSNAP_DATA_DIR=$W/small/d vmsnap image delete huge >/dev/null
ok $? "a package declaring a 4 GiB disk"
rm -f "$W/qemu-img.log"
err=$(VMSNAP_DATA_DIR=$W/small/d VMSNAP_QEMU_IMG=$W/slow-qemu-img \
      vmsnap image import "$W/huge.ova" 2>&1)
rc=$?
ok $((rc == 0)) "H4: importing it into 200 MiB is refused"
! grep -q '^convert' "$W/qemu-img.log" 2>/dev/null
ok $? "  before anything is converted"
diag "$err"

# (c) limits.max_image_size holds for the virtual size, not the file's.
err=$(VMSNAP_MAX_IMAGE_SIZE=16M vmsnap image create big \
      --file "$W/src.qcow2" --disk-format qcow2 2>&1)
rc=$?
ok $((rc == 0)) "H4: a 32 MiB (virtual) image over max_image_size 16M is \
refused"
grep -q max_image_size <<<"$err"
ok $? "  the error names limits.max_image_size"

# (d) The free space falling below the reserve during a conversion stops
#     it before the disk is full, and leaves nothing.
mkqcow2 "$W/mid.qcow2" 64M 40
vmsnap image create mid --file "$W/mid.qcow2" --disk-format qcow2 \
    >/dev/null && vmsnap image export mid --file "$W/mid.ova" >/dev/null
ok $? "a package with 40 MiB of data"
tmpfs_dir "$W/fill" 240M
export_d=$W/fill/d
VMSNAP_DATA_DIR=$export_d vmsnap image list >/dev/null
VMSNAP_DATA_DIR=$export_d VMSNAP_QEMU_IMG=$W/slow-qemu-img \
    VMSNAP_RESERVED_SPACE=64M vmsnap image import "$W/mid.ova" \
    >"$W/fill.out" 2>&1 &
vpid=$!
wait_for 600 'test -n "$(helpers_in "$export_d")"'
ok $? "H4: an import converting"
# Another writer takes the space meanwhile (down to about 40 MiB free).
free=$(df -B1M --output=avail "$W/fill" | tail -1)
fallocate -l $((free - 40))M "$W/fill/hog"
wait $vpid
rc=$?
ok $((rc == 0)) "H4: the import stops when the free space falls below the \
reserve"
grep -q "reserve" "$W/fill.out"
ok $? "  the error says so"
diag "$(cat "$W/fill.out")"
test "$(df -B1M --output=avail "$W/fill" | tail -1)" -gt 8
ok $? "  the disk was not filled"
rm -f "$W/fill/hog"
test "$(objects "$export_d")" = 0
ok $? "  nothing is left"
diag "$(ls "$export_d"/images "$export_d"/volume-snapshots 2>&1)"

# ---- M1, L3, L6: names and properties ----------------------------------
for name in $'esc\e[31mred' $'new\nline' $'bell\a' $'bad\xff\xfeutf8' \
        $'rtl\u202eoverride'; do
    vmsnap image create "$name" --file "$W/src.qcow2" --disk-format qcow2 \
        >/dev/null 2>&1
    rc=$?
    ok $((rc == 0)) "M1: image name $(printf %q "$name") is refused"
done
vmsnap volume create $'vol\e]0;x\a' --size 1M >/dev/null 2>&1
rc=$?
ok $((rc == 0)) "M1: a volume name with an escape sequence is refused"
if vmsnap image create props --file "$W/src.qcow2" --disk-format qcow2 \
        --property $'note=a\e[2Jb' >/dev/null 2>&1; then
    out=$(vmsnap image show props -c properties -f value)
    ! grep -q $'\e' <<<"$out" && grep -q 'note' <<<"$out"
else
    true    # refused: as good
fi
ok $? "M1: a property's escape sequence never reaches the terminal raw"
vmsnap image create badutf --file "$W/src.qcow2" --disk-format qcow2 \
    --property $'k=\xff\xfe' >/dev/null 2>&1
vmsnap image list -f json | python3 -c 'import json, sys; json.load(sys.stdin)'
ok $? "L3: image list -f json stays valid JSON"
vmsnap image delete props >/dev/null 2>&1

# ---- M3: a data directory others could write is refused ----------------
mkdir -p "$W/open" && chmod 0777 "$W/open"
err=$(VMSNAP_DATA_DIR=$W/open vmsnap image list 2>&1)
rc=$?
ok $((rc == 0)) "M3: a data directory of mode 0777 is refused"
grep -q "writable by other users" <<<"$err"
ok $? "  the error says why"
mkdir -p "$W/own" && VMSNAP_DATA_DIR=$W/own vmsnap image list >/dev/null &&
    chown nobody "$W/own/images"
err=$(VMSNAP_DATA_DIR=$W/own vmsnap image list 2>&1)
rc=$?
ok $((rc == 0)) "M3: a subdirectory owned by another user is refused"

# ---- M4: a full disk: space can still be freed -------------------------
tmpfs_dir "$W/full" 64M
full_d=$W/full/d
VMSNAP_DATA_DIR=$full_d VMSNAP_RESERVED_SPACE=0 vmsnap image create f1 \
    --file "$W/src.qcow2" --disk-format qcow2 >/dev/null &&
    VMSNAP_DATA_DIR=$full_d VMSNAP_RESERVED_SPACE=0 vmsnap image create f2 \
        --file "$W/src.qcow2" --disk-format qcow2 >/dev/null
ok $? "two images in a 64 MiB data directory"
dd if=/dev/zero of="$W/full/fill" bs=1M >/dev/null 2>&1
test "$(df --output=avail "$W/full" | tail -1)" -eq 0
ok $? "M4: the disk is 100% full"
VMSNAP_DATA_DIR=$full_d vmsnap image list -f value -c Name >/dev/null
ok $? "M4: image list works on the full disk"
VMSNAP_DATA_DIR=$full_d vmsnap image delete f1 >/dev/null
ok $? "M4: image delete works on the full disk"
test "$(VMSNAP_DATA_DIR=$full_d vmsnap image list -f value -c Name)" = f2 &&
    test "$(ls "$full_d/images" | wc -l)" = 1
ok $? "  the image and its file are gone"
rm -f "$W/full/fill"
VMSNAP_DATA_DIR=$full_d vmsnap image list >/dev/null
test -f "$full_d/reserve"
ok $? "M4: the reserve is made again once there is room"

# ---- L4, L5: files image create refuses --------------------------------
mkfifo "$W/fifo"
start=$(date +%s)
timeout 30 vmsnap image create fifo --file "$W/fifo" --disk-format raw \
    >/dev/null 2>&1
rc=$?
ok $((rc == 0 || rc == 124)) "L4: a FIFO is refused"
test $(($(date +%s) - start)) -lt 10
ok $? "  at once, not after a timeout"
qemu-img create -q -f qcow2 --object secret,id=s0,data=abc \
    -o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 \
    "$W/luks.qcow2" 16M
err=$(vmsnap image create luks --file "$W/luks.qcow2" --disk-format qcow2 \
      2>&1)
rc=$?
ok $((rc == 0)) "L5: a LUKS-encrypted qcow2 is refused"
cp "$W/src.qcow2" "$W/corrupt.qcow2"
python3 - "$W/corrupt.qcow2" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    h = f.read(104)
    f.seek(struct.unpack(">Q", h[48:56])[0])
    block = struct.unpack(">Q", f.read(8))[0]
    f.seek(block)
    f.write(b"\0\0")     # the header's cluster: refcount 0, yet used
PY
err=$(vmsnap image create corrupt --file "$W/corrupt.qcow2" \
      --disk-format qcow2 2>&1)
rc=$?
ok $((rc == 0)) "L5: a qcow2 that qemu-img check calls corrupt is refused"
diag "$err"

# ---- L7: too many properties refused before any conversion -------------
mkdir -p "$W/pp" && (cd "$W/pp" && tar -xf "$W/pkg.ova")
python3 - "$W/pp" <<'PY'
import hashlib, os, re, sys
d = sys.argv[1]
ovf = [f for f in os.listdir(d) if f.endswith(".ovf")][0]
text = open(os.path.join(d, ovf)).read()
extra = "".join('<vmsnap:Property key="p%d">v</vmsnap:Property>' % i
                for i in range(200))
text, n = re.subn(r"(</vmsnap:ImagePropertiesSection>)", extra + r"\1", text,
                  count=1)
assert n == 1, "no vmsnap property section"
open(os.path.join(d, ovf), "w").write(text)
mf = [f for f in os.listdir(d) if f.endswith(".mf")][0]
lines = []
for line in open(os.path.join(d, mf)):
    m = re.match(r"SHA256\((.*)\)= ", line)
    if m and m.group(1) == ovf:
        digest = hashlib.sha256(text.encode()).hexdigest()
        line = "SHA256(%s)= %s\n" % (ovf, digest)
    lines.append(line)
open(os.path.join(d, mf), "w").write("".join(lines))
PY
(cd "$W/pp" && tar --format=ustar -cf "$W/props.ova" $(tar -tf "$W/pkg.ova"))
rm -f "$W/qemu-img.log"
err=$(VMSNAP_QEMU_IMG=$W/slow-qemu-img vmsnap image import "$W/props.ova" \
      2>&1)
rc=$?
ok $((rc == 0)) "L7: a package with 200 properties is refused"
! grep -q '^convert' "$W/qemu-img.log" 2>/dev/null
ok $? "  before its disk is converted"
diag "$err"

# ---- L8, L9: export and save ------------------------------------------
vmsnap image create ex --file "$W/src.qcow2" --disk-format qcow2 >/dev/null
VMSNAP_QEMU_IMG=$W/slow-qemu-img "$VMSNAP" image export ex \
    --file "$W/out.ova" >/dev/null 2>&1 &
vpid=$!
wait_for 600 'test -n "$(helpers_in "$VMSNAP_DATA_DIR")"'
kill -9 $vpid
wait $vpid 2>/dev/null
vmsnap image list >/dev/null
test -z "$(ls "$W" | grep '^out\.ova')"
ok $? "L8: an export killed half-way leaves nothing where it wrote"
(umask 0; vmsnap image export ex --file "$W/out.ova" >/dev/null)
ok $? "L8: the export to the same path then works"
test "$(stat -c %a "$W/out.ova")" = 600
ok $? "L9: the package is 0600 under umask 0"
(umask 0; vmsnap image save ex --file "$W/saved.qcow2")
test "$(stat -c %a "$W/saved.qcow2")" = 600 &&
    test -z "$(ls "$W" | grep 'saved\.qcow2\.')"
ok $? "L9: a saved image is 0600, with nothing beside it"
test "$(stat -c %a "$VMSNAP_DATA_DIR/catalog.db")" = 600
ok $? "L9: catalog.db is 0600"

# ---- L10: a data directory on a read-only file system ------------------
tmpfs_dir "$W/ro" 64M
VMSNAP_DATA_DIR=$W/ro/d VMSNAP_RESERVED_SPACE=0 vmsnap image create r1 \
    --file "$W/src.qcow2" --disk-format qcow2 >/dev/null
mount -o remount,ro "$W/ro"
test "$(VMSNAP_DATA_DIR=$W/ro/d vmsnap image list -f value -c Name)" = r1
ok $? "L10: image list works on a read-only data directory"
err=$(VMSNAP_DATA_DIR=$W/ro/d vmsnap image delete r1 2>&1)
rc=$?
ok $((rc == 0)) "L10: image delete fails there, and says why"
diag "$err"
mount -o remount,rw "$W/ro"

# ---- L11, L14, M6: servers and volumes ---------------------------------
vmsnap volume create tiny --size 1 >/dev/null &&
    test "$(vmsnap volume show tiny -f value -c size)" = 512
ok $? "L14: a volume of 1 byte is recorded as the 512 qemu-img makes"
mkqcow2 "$W/disk.qcow2" 64M 24
vmsnap image create disk --file "$W/disk.qcow2" --disk-format qcow2 \
    >/dev/null && vmsnap server create s1 --image disk --memory 64 \
    --accel tcg >/dev/null
ok $? "a server (a blank disk: the BIOS waits)"
qpid=$(cat "$VMSNAP_DATA_DIR"/instances/*/qemu.pid 2>/dev/null | head -1)
grep -q '^Seccomp:[[:space:]]*2' "/proc/$qpid/status" 2>/dev/null
ok $? "L11: its QEMU runs under a seccomp filter (-sandbox)"
vmsnap server stop --timeout 1 s1 >/dev/null
# The copy at 4 MiB/s: long enough a "saving" to act on.
VMSNAP_COPY_RATE_LIMIT=4194304 vmsnap server image create --name m6 s1 \
    >"$W/m6.out" 2>&1 &
vpid=$!
wait_for 600 'test "$(vmsnap image show m6 -f value -c status \
    2>/dev/null)" = saving'
ok $? "M6: a cold snapshot is saving"
vmsnap image set --property kept=yes m6 >/dev/null 2>&1
ok $? "M6: its properties can be set meanwhile"
vmsnap image delete m6 >/dev/null 2>&1
rc=$?
ok $((rc == 0)) "M6: it cannot be deleted meanwhile"
wait $vpid
rc=$?
ok $rc "M6: the snapshot then succeeds"
[ $rc -eq 0 ] || diag "$(cat "$W/m6.out")"
test "$(prop m6 kept)" = yes
ok $? "M6: the property set meanwhile is kept"

# ---- a cold copy killed: its qemu-nbd socket directory is reaped -------
# The copy reads the stopped disk through qemu-nbd, on a socket in a
# private directory under the data directory's tmp/ (not /tmp), so the
# recovery that follows a killed vmsnap removes it.
VMSNAP_COPY_RATE_LIMIT=1048576 "$VMSNAP" server image create --name m7 s1 \
    >/dev/null 2>&1 &
vpid=$!
wait_for 600 'test -S "$(ls -d "$VMSNAP_DATA_DIR"/tmp/nbd-*/nbd.sock \
    2>/dev/null | head -1)"'
ok $? "a cold copy (1 MiB/s) reads through a socket under tmp/"
nbddir=$(dirname "$(ls -d "$VMSNAP_DATA_DIR"/tmp/nbd-*/nbd.sock | head -1)")
kill -9 $vpid
wait $vpid 2>/dev/null
wait_for 100 'test -z "$(pgrep -f -- "--socket=$nbddir/")"'
ok $? "  vmsnap killed: its qemu-nbd exits with the connection"
touch -d '-2 min' "$nbddir"  # past the reaper's grace for new directories
vmsnap image list >/dev/null 2>&1
test ! -e "$nbddir" && test -z "$(ls "$VMSNAP_DATA_DIR/tmp" | grep '^nbd-')"
ok $? "  the next command's recovery removes the socket's directory"
check "  and marks the snapshot killed" -- \
    test "$(vmsnap image show m7 -f value -c status)" = killed

# ---- a cold copy whose qemu-nbd hangs: a clear error, not a hang -------
# SIGSTOP keeps the server alive and its socket open, silent: the copy
# gives up after snapshot.copy_stall_timeout_ms (2 s here).
copying() {  # the newest task copies, past 0 %
    vmsnap task list -f json | python3 -c 'import json, sys
t = json.load(sys.stdin)[0]
sys.exit(0 if t["State"] == "running" and float(t["Progress"] or 0) > 0 else 1)'
}
VMSNAP_COPY_STALL_TIMEOUT_MS=2000 VMSNAP_COPY_RATE_LIMIT=1048576 \
    "$VMSNAP" server image create --name m8 s1 >"$W/m8.out" 2>&1 &
vpid=$!
wait_for 600 copying
ok $? "a cold copy (1 MiB/s) is copying"
nbddir=$(dirname "$(ls -d "$VMSNAP_DATA_DIR"/tmp/nbd-*/nbd.sock | head -1)")
npid=$(pgrep -f -- "--socket=$nbddir/")
kill -STOP $npid
ok $? "  its qemu-nbd stopped (alive, its socket open, silent)"
wait $vpid
rc=$?
kill -CONT $npid
ok $((rc == 0)) "  the snapshot fails instead of waiting: $(tail -n 1 "$W/m8.out")"
check "  saying the NBD server hangs" -- grep -q "sent nothing for 2 s" "$W/m8.out"
check "  and leaves no image" -- eval '! vmsnap image show m8 >/dev/null 2>&1'
wait_for 100 'test -z "$(pgrep -f -- "--socket=$nbddir/")"'
ok $? "  its qemu-nbd, let go, exits with the connection"

# ---- a snapshot request between its image and its task ------------------
# Another command's recovery must not take the new image, queued and with
# no task yet, for one whose maker died (CI saw it once under load): the
# request holds the image's lock until its task exists.
fifo=$W/request-pause
mkfifo "$fifo"
VMSNAP_TEST_REQUEST_PAUSE=$fifo "$VMSNAP" server image create --name m9 s1 \
    >"$W/m9.out" 2>&1 &
vpid=$!
wait_for 600 'test -e "$fifo.paused"'
ok $? "a snapshot request has recorded its image, not yet its task"
vmsnap image list >/dev/null 2>&1
check "  another command's recovery leaves it queued" -- \
    test "$(vmsnap image show m9 -f value -c status)" = queued
echo go >"$fifo"
wait $vpid
rc=$?
ok $rc "  the snapshot then succeeds"
[ $rc -eq 0 ] || diag "$(cat "$W/m9.out")"
check "  and is active" -- \
    test "$(vmsnap image show m9 -f value -c status)" = active

# ---- vmsnap verify: what it finds, -f json, exit status, --repair -----
vd=$W/verify-d
VMSNAP_DATA_DIR=$vd vmsnap image create v1 --file "$W/src.qcow2" \
    --disk-format qcow2 >/dev/null &&
    VMSNAP_DATA_DIR=$vd vmsnap verify -f json >"$W/v0.json"
ok $? "verify: a sound data directory passes (exit 0)"
cp "$W/src.qcow2" "$vd/images/11111111-2222-3333-4444-555555555555.qcow2"
vf=$(ls "$vd"/images/*.qcow2 | grep -v 11111111 | head -1)
chmod u+w "$vf" && printf X | dd of="$vf" bs=1 seek=100000 conv=notrunc \
    2>/dev/null
VMSNAP_DATA_DIR=$vd vmsnap verify -f json >"$W/v1.json" 2>/dev/null
rc=$?
ok $((rc == 0)) "verify: a changed image and an orphan file: exit 1"
python3 - "$W/v1.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
text = json.dumps(rows)
assert any("MD5" in r["Problem"] for r in rows), text
assert any(r["Check"] == "orphan" and "11111111" in r["Object"]
           for r in rows), text
PY
ok $? "  -f json names the checksum mismatch and the orphan"
VMSNAP_DATA_DIR=$vd vmsnap verify --repair --no-data >/dev/null 2>&1 &&
    test ! -e "$vd/images/11111111-2222-3333-4444-555555555555.qcow2" &&
    test -e "$vf"
ok $? "verify --repair removes the orphan, never the recorded image"

done_testing
