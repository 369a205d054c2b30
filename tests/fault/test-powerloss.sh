#!/bin/bash
# Power loss (audit H2): run vmsnap inside a TCG guest whose data disk is
# logged by QEMU's blklogwrites driver (the dm-log-writes format), cut the
# power at the end, then replay the log onto the disk's first state up to
# each flush and check every such state, as the kernel's xfstests do with
# dm-log-writes.  Speaks TAP.  docs/internals/faults.md explains it.
#
# This machine's kernel has no device-mapper (CONFIG_MD is not set, no
# modules): the guest's own block layer does the logging instead.
#
# Environment: VMSNAP, SRCDIR, REPLAY_LOG (tests/fault/replay-log);
# VMSNAP_GUEST_DIR (the test guest's kernel and initramfs; built by
# guest/build-guest.sh when unset).  POWERLOSS_EVERY=K checks every Kth
# flush point only (default 1: all).
set -u
: "${VMSNAP:?VMSNAP must name the vmsnap binary}"
: "${SRCDIR:?SRCDIR must name the source tree}"
: "${REPLAY_LOG:?REPLAY_LOG must name the replay-log program}"
every=${POWERLOSS_EVERY:-1}

n=0 failed=0
ok() {  # ok STATUS DESCRIPTION
    local rc=$1
    shift
    n=$((n + 1))
    if [ "$rc" -eq 0 ]; then
        echo "ok $n - $*"
    else
        echo "not ok $n - $*"
        failed=$((failed + 1))
    fi
}
diag() {
    printf '%s\n' "$*" | sed 's/^/# /'
}
finish() {
    echo "1..$n"
    [ "$failed" -eq 0 ]
    exit
}
for t in qemu-system-x86_64 qemu-img qemu-io mke2fs sqlite3 mount umount \
        losetup busybox; do
    command -v $t >/dev/null 2>&1 || { ok 1 "required tool '$t' is missing"
                                       finish; }
done

P=$(mktemp -d /tmp/vmsnap-pl.XXXXXX)
P=$(realpath "$P")
D=$P/data
QPID=
cleanup() {
    [ -n "$QPID" ] && kill -9 "$QPID" 2>/dev/null
    mountpoint -q "$D" && umount "$D"
    for f in "$D"/instances/*/qemu.pid; do
        [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
    done
    rm -rf "$P"
}
trap cleanup EXIT
export VMSNAP_DATA_DIR=$D
G=${VMSNAP_GUEST_DIR:-$("$SRCDIR/guest/build-guest.sh" --print-dir)}

# ---- The starting state, made on the host ------------------------------
# An image with a stopped instance (for the cold snapshot), and a package
# to import; the data directory is then copied into an ext4 image.
mkqcow2() {  # mkqcow2 FILE SIZE DATA_MIB
    qemu-img create -q -f qcow2 "$1" "$2" &&
        qemu-io -f qcow2 -c "write -P 0x5a 0 ${3}M" \
            -c "write -P 0xa5 $(($3 * 2))M 1M" "$1" >/dev/null
}
mkdir -p "$P/root/pl"
head -c 8M /dev/urandom >"$P/rnd.raw" &&
    qemu-img convert -q -f raw -O qcow2 "$P/rnd.raw" "$P/rnd.qcow2" &&
    qemu-img resize -q "$P/rnd.qcow2" 64M &&
    "$VMSNAP" image create rnd --file "$P/rnd.qcow2" \
        --disk-format qcow2 >/dev/null &&
    "$VMSNAP" server create s2 --image rnd --memory 64 --accel tcg \
        >/dev/null &&
    "$VMSNAP" server stop --timeout 1 s2 >/dev/null
ok $? "host: a second stopped instance, of random data"
mkqcow2 "$P/disk.qcow2" 64M 12 &&
    mkqcow2 "$P/root/pl/src.qcow2" 32M 6 &&
    "$VMSNAP" image create disk --file "$P/disk.qcow2" \
        --disk-format qcow2 >/dev/null &&
    "$VMSNAP" image export disk --file "$P/root/pl/pkg.ova" >/dev/null &&
    "$VMSNAP" server create s1 --image disk --memory 64 --accel tcg \
        >/dev/null &&
    "$VMSNAP" server stop --timeout 1 s1 >/dev/null
ok $? "host: an image, a stopped instance and a package to import"
[ "$failed" = 0 ] || finish

mke2fs -q -t ext4 -F -d "$D" "$P/data.raw" 256M >/dev/null &&
    cp --sparse=always "$P/data.raw" "$P/base.raw" && rm -rf "$D" &&
    mkdir "$D"
ok $? "host: the data directory as an ext4 image"

# ---- The guest's root: busybox, vmsnap, its helpers, their libraries ----
# (qemu-nbd: a cold snapshot copies through it.)
R=$P/root
mkdir -p "$R"/{bin,usr/bin,proc,sys,dev,tmp,etc,run} "$R$D"
cp "$(command -v busybox)" "$R/bin/busybox"
cp "$VMSNAP" "$R/usr/bin/vmsnap"
cp "$(command -v qemu-img)" "$R/usr/bin/qemu-img"
cp "$(command -v qemu-nbd)" "$R/usr/bin/qemu-nbd"
for lib in $(ldd "$VMSNAP" "$(command -v qemu-img)" \
                 "$(command -v qemu-nbd)" |
             awk '/=> \// {print $3} /^\t\/[^ ]*ld-linux/ {print $1}' |
             sort -u); do
    cp -L --parents "$lib" "$R"
done
cat >"$R/pl-init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin VMSNAP_DATA_DIR=$D HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# The host's name: the instance was made on the host, and a busybox root
# has none ("(none)", which vmsnap refuses as host.name).
hostname '$(hostname)'
# Nothing reaches the disk but what is flushed: no periodic writeback, no
# periodic journal commit.  A power cut can always come before those; this
# makes the worst case the one that is tested, every time.
echo 0 >/proc/sys/vm/dirty_writeback_centisecs
echo 360000 >/proc/sys/vm/dirty_expire_centisecs
echo 90 >/proc/sys/vm/dirty_background_ratio
echo 95 >/proc/sys/vm/dirty_ratio
# The guest's clock runs ten minutes behind the host's: every record and
# file it makes looks, to the host's checks, as if the power came back ten
# minutes after the cut, past the reaper's grace for a task left queued
# (2 min: its runner may be about to start it) and for a temporary
# directory (1 min: made, then locked).  Checked sooner, a state would
# pass or fail by how fast the replay ran.
date -s "@\$((\$(date +%s) - 600))" >/dev/null || echo "PL-FAILED date"
mount -t ext4 -o commit=3600 /dev/vdb $D || echo "PL-FAILED mount"
# The scenario: each command, then its status on the console.  No sync at
# the end: the host cuts the power.
vmsnap -q image create pl-upload --file /pl/src.qcow2 --disk-format qcow2 \
    >/dev/null
echo "PL-STEP upload \$?"
vmsnap -q server image create --name pl-cold s1 >/dev/null
echo "PL-STEP cold-snapshot \$?"
vmsnap -q image import /pl/pkg.ova --name pl-imported >/dev/null
echo "PL-STEP import \$?"
vmsnap -q server backup create --incremental --backup-type daily \
    --rotation 2 --name pl-b1 s1 >/dev/null
echo "PL-STEP backup \$?"
vmsnap -q server backup create --incremental --backup-type daily \
    --rotation 2 --name pl-b2 s2 >/dev/null &&
    vmsnap -q image delete pl-b2 >/dev/null
echo "PL-STEP backup-delete \$?"
vmsnap -q store gc --grace 0 -f value -c bytes_compacted >/tmp/gc.out
echo "PL-STEP gc \$?"
echo "PL-COMPACTED \$(cat /tmp/gc.out)"
echo PL-DONE
while :; do sleep 60; done
EOF
chmod 0755 "$R/pl-init"
mke2fs -q -t ext4 -F -d "$R" "$P/root.raw" 512M >/dev/null
ok $? "guest root file system with vmsnap, qemu-img and their libraries"

# ---- Run, logged, and cut the power -------------------------------------
: >"$P/log.bin"
qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 768 -smp 1 \
    -display none -monitor none -serial "file:$P/console.log" -no-reboot \
    -kernel "$G/vmlinuz" -initrd "$G/initrd.img" \
    -append "console=ttyS0 root=/dev/vda init=/pl-init panic=-1 quiet" \
    -blockdev "driver=file,node-name=root,filename=$P/root.raw" \
    -device virtio-blk-pci,drive=root,addr=0x4 \
    -blockdev "driver=file,node-name=data-file,filename=$P/data.raw" \
    -blockdev "driver=file,node-name=log-file,filename=$P/log.bin" \
    -blockdev "driver=blklogwrites,node-name=data,file=data-file,log=log-file" \
    -device virtio-blk-pci,drive=data,addr=0x5 &
QPID=$!
for i in $(seq 1 900); do
    grep -q 'PL-DONE\|PL-FAILED' "$P/console.log" 2>/dev/null && break
    kill -0 "$QPID" 2>/dev/null || break
    sleep 1
done
kill -9 "$QPID" 2>/dev/null
wait "$QPID" 2>/dev/null
QPID=
steps=$(tr -d '\r' <"$P/console.log" | grep -a '^PL-STEP')
diag "$steps"
test "$(grep -c ' 0$' <<<"$steps")" = 6
ok $? "guest: upload, cold snapshot, import, two backups into the chunk" \
    "store, a deletion and gc succeeded, then power cut"
[ "$failed" = 0 ] || { tail -20 "$P/console.log" | diag "$(cat)"; finish; }
compacted=$(tr -d '\r' <"$P/console.log" | sed -n 's/^PL-COMPACTED //p')
test "${compacted:-0}" -gt 0
ok $? "guest: that gc gave back the deleted backup's pack ($compacted bytes)"

# ---- Replay to each flush and check ------------------------------------
flushes=$("$REPLAY_LOG" "$P/log.bin")
entries=$(sed -n 's/^entries \([0-9]*\).*/\1/p' <<<"$flushes")
points=$(sed -n 's/^flush //p' <<<"$flushes")
# The state after the last entry is a point too (everything written).
points="$points $((entries - 1))"
npoints=$(wc -w <<<"$points")
diag "log: $entries entries, $npoints flush points"
test "$npoints" -gt 1
ok $? "the log holds flushes to replay to"

cp --sparse=always "$P/base.raw" "$P/work.raw"
done_to=0 checked=0 k=0
declare -A broken first
for f in $points; do
    k=$((k + 1))
    "$REPLAY_LOG" "$P/log.bin" "$P/work.raw" "$done_to" $((f + 1)) ||
        { broken["replay"]+=" $k"; break; }
    done_to=$((f + 1))
    [ $((k % every)) = 0 ] || [ "$f" = $((entries - 1)) ] || continue
    checked=$((checked + 1))
    cp --sparse=always "$P/work.raw" "$P/check.raw"
    if ! mount -o loop "$P/check.raw" "$D" 2>"$P/mount.err"; then
        broken["mountable"]+=" $k"
        continue
    fi
    active=$(sqlite3 "file:$D/catalog.db?mode=ro" \
             "SELECT name FROM images WHERE status = 'active'" 2>/dev/null |
             tr '\n' ' ')
    out=$(VMSNAP=$VMSNAP "$SRCDIR/tests/fault/check-invariants.sh" "$D")
    umount "$D"
    while read -r line; do
        [ -n "$line" ] || continue
        inv=${line#FAIL }
        inv=${inv%%:*}
        case " ${broken[$inv]:-} " in
        *" $k "*) ;;
        *) broken[$inv]+=" $k" ;;
        esac
        [ -n "${first[$inv]:-}" ] ||
            first[$inv]="flush point $k (entry $f; active: $active): $line"
    done < <(grep '^FAIL' <<<"$out")
    printf '%s\n' "$k $f $active" >>"$P/points"
done
diag "checked $checked of $npoints flush points"
ok $((checked == 0)) "flush points were checked"
for inv in mountable "integrity_check" "active image size" \
        "active image MD5" "active image SHA-512" \
        "active image qemu-img check" \
        "no transitional record after reaping" "no file without a record" \
        "no stale tmp entry"; do
    pts=${broken[$inv]:-}
    [ -z "$pts" ]
    ok $? "after power loss at every flush point: $inv"
    if [ -n "$pts" ]; then
        diag "  broken at $(wc -w <<<"$pts") points:$(cut -c1-200 <<<"$pts")"
        diag "  first: ${first[$inv]}"
    fi
    unset "broken[$inv]"
done
for inv in "${!broken[@]}"; do
    ok 1 "after power loss at every flush point: $inv"
    diag "  broken at:$(cut -c1-200 <<<"${broken[$inv]}")"
    diag "  first: ${first[$inv]}"
done
finish
