#!/bin/bash
# The main job, end to end on a fresh machine (run as root):
#   build the test guest, register it as images, boot an instance, write
#   data in the guest, take a quiesced live snapshot while it runs, boot a
#   second instance from the snapshot, show the data is there and show the
#   snapshot's properties with the freeze time.
# The demo's data directory is $VMSNAP_DATA_DIR (default: a new temporary
# directory); its instances are deleted at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
export VMSNAP_DATA_DIR=${VMSNAP_DATA_DIR:-$(mktemp -d /tmp/vmsnap-demo.XXXXXX)}
guest=$(guest/build-guest.sh --print-dir)
vmsnap() { ./build/cli/vmsnap "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
cleanup() {
    vmsnap server delete demo-src >/dev/null 2>&1 || true
    vmsnap server delete demo-copy >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "data directory: $VMSNAP_DATA_DIR"

say "register the test guest: kernel, ramdisk and root disk images"
kid=$(vmsnap image create demo-kernel --file "$guest/vmlinuz" \
      --disk-format aki -f value -c id)
rid=$(vmsnap image create demo-ramdisk --file "$guest/initrd.img" \
      --disk-format ari -f value -c id)
vmsnap image create demo-guest --file "$guest/root.qcow2" --disk-format qcow2 \
    --property kernel_id="$kid" --property ramdisk_id="$rid" \
    --property hw_qemu_guest_agent=yes --property os_require_quiesce=yes \
    -c id -c name -c status -c properties
vmsnap image list

say "boot an instance and wait for its guest agent"
vmsnap server create demo-src --image demo-guest -c id -c name -c status -c accel
for i in $(seq 1 120); do
    vmsnap agent ping demo-src 2>/dev/null && break
    sleep 1
done

say "write data in the guest, and keep a writer running during the snapshot"
vmsnap agent exec demo-src -- /bin/sh -c \
    'date > /root/written-before-snapshot && sync && cat /root/written-before-snapshot'
vmsnap agent exec demo-src -- /bin/sh -c \
    'sh -c "while :; do date >> /root/busy.log; done" </dev/null >/dev/null 2>&1 &'

say "take a quiesced live snapshot (freeze, one QMP transaction, thaw, copy)"
vmsnap server image create --name demo-snap demo-src -c id -c status -c size

say "boot a second instance from the snapshot"
vmsnap server create demo-copy --image demo-snap -c id -c name -c status
for i in $(seq 1 120); do
    vmsnap agent ping demo-copy 2>/dev/null && break
    sleep 1
done

say "the data written before the snapshot, read inside the new instance"
vmsnap agent exec demo-copy -- /bin/cat /root/written-before-snapshot

say "the snapshot's properties (vmsnap_freeze_ms: how long the guest was frozen)"
vmsnap image show -f value -c properties demo-snap | tr ',' '\n' | sed 's/^ //'
vmsnap server list
