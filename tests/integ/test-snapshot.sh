#!/bin/bash
# Consistent live and cold snapshots with real QEMU, the real agent and
# real ext4 in the guest: quiesced, crash-consistent, cold, paused,
# snapshot of a snapshot, --no-wait, booting from a snapshot.
. "$SRCDIR/tests/integ/lib.sh"
need qemu-system-x86_64 qemu-img dumpe2fs e2fsck python3

gid=$(register_guest guest yes)
pid_=$(register_guest plain no)
vmsnap server create src --image guest >/dev/null && wait_agent src
ok $? "source server boots and its agent answers"
guest_sh src 'echo before-snapshot > /root/marker && sync'
start_writer src
ok $? "a guest process writes continuously"
# Until it has gone round a few times.
for i in $(seq 1 300); do
    [ "$(guest_sh src 'cat /root/seq 2>/dev/null || echo 0')" -ge 3 ] && break
    sleep 0.2
done

err=$(vmsnap server image create --name snap1 src -f json 2>&1 >"$T_DIR/snap1.json")
ok $? "live snapshot of a running, writing guest"
check "no crash-consistency warning" -- test -z "$err"
python3 - "$T_DIR/snap1.json" "$gid" "$(vmsnap server show src -f value -c id)" <<'PY'
import json, sys
img = json.load(open(sys.argv[1]))
p = img["properties"]
assert img["status"] == "active", img["status"]
assert img["disk_format"] == "qcow2"
assert p["instance_uuid"] == sys.argv[3], p
assert p["base_image_ref"] == sys.argv[2], p
assert p["image_type"] == "snapshot"
assert p["vmsnap_mode"] == "live" and p["vmsnap_quiesced"] == "yes", p
assert 0 < int(p["vmsnap_freeze_ms"]) < 60000, p
assert 0 <= int(p["vmsnap_hold_ms"]) <= int(p["vmsnap_freeze_ms"]), p
assert p["hw_qemu_guest_agent"] == "yes" and "kernel_id" in p, p
PY
ok $? "snapshot properties: instance_uuid, base_image_ref, image_type, vmsnap_*, inherited"
diag "freeze window: $(prop snap1 vmsnap_freeze_ms) ms, held by vmsnap: $(prop snap1 vmsnap_hold_ms) ms"
check "snapshot is flattened (no backing file)" -- bash -c \
    "! qemu-img info -U \"$(vmsnap image show snap1 -f value -c file)\" | grep -q backing"
check "quiesced snapshot: ext4 clean (no needs_recovery, e2fsck -fn passes)" -- \
    test "$(ext4_state snap1)" = clean
check "guest thawed after the snapshot" -- grep -q thawed \
    <<<"$(vmsnap agent command src '{"execute":"guest-fsfreeze-status"}')"
check "source server still ACTIVE" -- test \
    "$(vmsnap server show src -f value -c status)" = ACTIVE

vmsnap server create dst --image snap1 >/dev/null && wait_agent dst
ok $? "a new server boots from the snapshot"
check "what the guest wrote before the snapshot is there" -- test \
    "$(guest_sh dst 'cat /root/marker')" = before-snapshot

# Snapshot of a snapshot keeps the original base_image_ref.
vmsnap server image create --name snap2 dst >/dev/null
ok $? "snapshot of a server booted from a snapshot"
check "base_image_ref is still the original image" -- test "$(prop snap2 base_image_ref)" = "$gid"
check "instance_uuid is the new server" -- test \
    "$(prop snap2 instance_uuid)" = "$(vmsnap server show dst -f value -c id)"

# Crash-consistent: no agent, so no quiesce; the check must see it.
vmsnap server create noagent --image plain >/dev/null && wait_console noagent
ok $? "a server without agent boots"
sleep 2
err=$(vmsnap server image create --name crash1 noagent 2>&1 >/dev/null)
ok $? "snapshot without an agent succeeds (no os_require_quiesce)"
check "  warns that it is crash-consistent" -- grep -q "crash-consistent" <<<"$err"
check "  records vmsnap_quiesced=no" -- test "$(prop crash1 vmsnap_quiesced)" = no
check "crash-consistent snapshot shows needs_recovery (the check can fail)" -- \
    test "$(ext4_state crash1)" = needs_recovery

# The copy gives way to the guest (snapshot.copy_yield_pct): with the
# host's two cores taken by two busy processes and the guest's vCPU busy
# too, the vCPU waits for a core, and the copy slows down and says for how
# long; with the setting at 0 it never does.
guest_sh src '(while :; do :; done) </dev/null >/dev/null 2>&1 &
              echo $! > /root/spin.pid'
hogs=()
for i in 1 2; do
    timeout 600 sha512sum /dev/zero >/dev/null &
    hogs+=($!)
done
VMSNAP_COPY_YIELD_PCT=10 vmsnap server image create --name busy1 src >/dev/null
ok $? "snapshot of a guest kept waiting for a core"
VMSNAP_COPY_YIELD_PCT=0 vmsnap server image create --name busy0 src >/dev/null
ok $? "the same with the copy never giving way"
kill "${hogs[@]}"
wait "${hogs[@]}" 2>/dev/null
guest_sh src 'kill $(cat /root/spin.pid)'
diag "copy $(prop busy1 vmsnap_copy_ms) ms, of which giving way" \
     "$(prop busy1 vmsnap_copy_yield_ms) ms; never giving way" \
     "$(prop busy0 vmsnap_copy_ms) ms"
check "  the copy gave way to the guest (vmsnap_copy_yield_ms > 0)" -- \
    test "$(prop busy1 vmsnap_copy_yield_ms)" -gt 0
check "  and did not when told not to" -- \
    test "$(prop busy0 vmsnap_copy_yield_ms)" = 0
check "  the snapshot that gave way is clean" -- \
    test "$(ext4_state busy1)" = clean

# --no-wait returns once the point in time is fixed, while QEMU still
# copies (slowed down here so that it is still saving when we look).
st=$(VMSNAP_COPY_RATE_LIMIT=$((1 << 20)) \
     vmsnap server image create --no-wait --name async1 src -f value -c status)
ok $? "--no-wait snapshot"
check "  returns while the copy runs: saving" -- test "$st" = saving
check "  image list shows it saving" -- test \
    "$(vmsnap image list --name async1 -f value -c Status)" = saving
# The lost update of issue 8: a property set while the copy runs must
# outlive the image's activation, which once rewrote the whole record.
vmsnap image set --property while_saving=kept async1
ok $? "  image set --property while it is saving"
check "  delete is refused while it is being made" -- bash -c \
    "! \"$VMSNAP\" image delete async1 2>/dev/null"
tid=$(vmsnap task list --target "$(prop async1 instance_uuid)" \
      -f value -c ID -c State |
      awk '$2 == "running" || $2 == "queued" { print $1; exit }')
[ -n "$tid" ] || diag "$(vmsnap task list --target "$(prop async1 instance_uuid)" 2>&1)"
check "  task list shows its task, not finished" -- test -n "$tid"
for i in $(seq 1 120); do
    [ "$(vmsnap image show async1 -f value -c status)" = active ] && break
    sleep 1
done
check "  becomes active" -- test "$(vmsnap image show async1 -f value -c status)" = active
check "  and is clean" -- test "$(ext4_state async1)" = clean
check "  the property set while saving is kept" -- \
    test "$(prop async1 while_saving)" = kept
check "  its task has succeeded" -- \
    test "$(vmsnap task show "$tid" -f value -c state)" = succeeded

# A background copy that fails leaves the image killed, with the reason
# that image show prints, and no data.
VMSNAP_TEST_BREAK_DISK=0 vmsnap server image create --no-wait --name async2 src >/dev/null
ok $? "--no-wait snapshot whose copy will fail"
for i in $(seq 1 60); do
    [ "$(vmsnap image show async2 -f value -c status)" = killed ] && break
    sleep 1
done
check "  ends killed" -- test "$(vmsnap image show async2 -f value -c status)" = killed
why=$(vmsnap image show async2 -f value -c fail_reason)
diag "fail_reason: $why"
# The copy reads through QEMU's NBD export: QEMU's read fails (EIO) and
# its NBD server drops the connection, which is what the copy sees.
check "  image show prints why" -- grep -qE \
    "copy of disk root: .*(Input/output error|closed the connection)" <<<"$why"
a2id=$(vmsnap image show async2 -f value -c id)
check "  its data is removed" -- test -n "$a2id" -a \
    "$(stored_images | grep -c "^$a2id\.")" = 0
check "  the server can be snapshotted again" -- bash -c \
    "\"$VMSNAP\" server image create --name async3 src >/dev/null"

# Paused: the live path without the agent, crash-consistent.
vmsnap server pause dst
err=$(vmsnap server image create --name paused1 dst 2>&1 >/dev/null)
ok $? "snapshot of a paused server"
check "  is live and not quiesced" -- test \
    "$(prop paused1 vmsnap_mode)/$(prop paused1 vmsnap_quiesced)" = live/no
check "  server still paused" -- test "$(vmsnap server show dst -f value -c status)" = PAUSED
vmsnap server unpause dst

# Cold: a stopped server's disk is converted directly.
vmsnap server stop --timeout 60 dst
before_coldx=$(stored_images)
# A cold copy that fails mid-way (in an object store, the image was
# being sent as it was written): an error, no image, nothing stored.
err=$(VMSNAP_TEST_BREAK_DISK=0 vmsnap server image create --name coldx dst \
    2>&1 >/dev/null)
ok $((! $?)) "a cold snapshot whose copy fails mid-way fails"
diag "error: $err"
check "  saying why" -- grep -q "copy" <<<"$err"
check "  no image record" -- bash -c \
    "! \"$VMSNAP\" image show coldx >/dev/null 2>&1"
check "  nothing stored: the same images as before" -- \
    test "$(stored_images | sort)" = "$(sort <<<"$before_coldx")"
vmsnap server image create --name cold1 dst >/dev/null
ok $? "cold snapshot of a stopped server"
check "  vmsnap_mode=cold" -- test "$(prop cold1 vmsnap_mode)" = cold
check "  clean shutdown, so quiesced" -- test "$(prop cold1 vmsnap_quiesced)" = yes
check "  ext4 clean" -- test "$(ext4_state cold1)" = clean
vmsnap server create fromcold --image cold1 >/dev/null && wait_agent fromcold
ok $? "a server boots from the cold snapshot"
check "  with the data" -- test "$(guest_sh fromcold 'cat /root/marker')" = before-snapshot

# Bad input.
err=$(vmsnap server image create --name x nosuch 2>&1)
ok $((! $?)) "unknown server refused"
err=$(vmsnap server image create --name snap1 src 2>&1)
ok $((! $?)) "name clash refused"
check "  error says the name exists" -- grep -q "already exists" <<<"$err"
err=$(vmsnap server image create src 2>&1)
ok $((! $?)) "missing --name refused"
st=$(statuses)
check "nothing half-made: no image in queued or saving, one killed (async2)" -- \
    test -n "$st" -a -z "$(grep -E 'queued|saving' <<<"$st")" -a \
    "$(grep -c killed <<<"$st")" = 1

done_testing
