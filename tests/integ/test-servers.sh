#!/bin/bash
# Instance life cycle with real QEMU and the real guest agent.
. "$SRCDIR/tests/integ/lib.sh"
need qemu-system-x86_64 qemu-img python3

img=$(register_guest guest yes)
ok $? "test guest registered as kernel, ramdisk and root images"
noagent=$(register_guest plain no)
ok $? "a second copy without hw_qemu_guest_agent"

vmsnap server create web1 --image guest >/dev/null
ok $? "server create boots from the three-image guest"
show() { vmsnap server show "$1" -f value -c "$2"; }
check "status is ACTIVE" -- test "$(show web1 status)" = ACTIVE
check "acceleration probe picked TCG on this machine" -- test "$(show web1 accel)" = tcg
wait_agent web1
ok $? "agent answers ping"
check "agent channel present (agent=yes)" -- test "$(show web1 agent)" = yes
id=$(show web1 id)
root=$VMSNAP_DATA_DIR/instances/$id/root.qcow2
backing=$(qemu-img info -U --output=json "$root" |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["full-backing-filename"])')
check "root disk is an overlay on the image file" -- test -n "$backing" -a \
    "$backing" = "$(vmsnap image show guest -f value -c file)"
sum_before=$(md5sum <"$backing")

out=$(guest_sh web1 'echo hello > /root/hello && sync && cat /root/hello')
check "guest-exec writes and reads back a file" -- test "$out" = hello
check "image file never written" -- test "$(md5sum <"$backing")" = "$sum_before"
check "console log shows the boot" -- grep -q "vmsnap-guest" \
    <(vmsnap server console web1)

vmsnap server pause web1
check "pause: PAUSED" -- test "$(show web1 status)" = PAUSED
vmsnap server unpause web1
check "unpause: ACTIVE" -- test "$(show web1 status)" = ACTIVE

vmsnap server stop --timeout 30 web1
ok $? "server stop"
check "stopped: SHUTOFF" -- test "$(show web1 status)" = SHUTOFF
check "stopped cleanly: no fault" -- test "$(show web1 fault)" = None
vmsnap server start web1
ok $? "server start"
wait_agent web1
ok $? "agent answers after restart"
check "data written before the stop is still there" -- test \
    "$(guest_sh web1 'cat /root/hello')" = hello

vmsnap server create plain1 --image plain >/dev/null
ok $? "server from an image without hw_qemu_guest_agent"
check "no agent channel" -- test "$(show plain1 agent)" = no
pid=$(show plain1 pid)
check "QEMU has no virtserialport" -- bash -c \
    "test -r /proc/$pid/cmdline && tr '\0' ' ' </proc/$pid/cmdline | grep -q virtio-blk &&
     ! tr '\0' ' ' </proc/$pid/cmdline | grep -q guest_agent"
err=$(vmsnap agent ping plain1 2>&1)
ok $((! $?)) "agent ping without a channel fails"
check "  and says why" -- grep -q "hw_qemu_guest_agent" <<<"$err"

# A QEMU that dies shows as not running, never as a stale ACTIVE.
kill -9 "$pid"
sleep 1
check "killed QEMU: SHUTOFF" -- test "$(show plain1 status)" = SHUTOFF
check "killed QEMU: fault says it exited unexpectedly" -- grep -q \
    "unexpectedly" <<<"$(show plain1 fault)"
check "server list agrees" -- grep -q "plain1 SHUTOFF" \
    <<<"$(vmsnap server list -f value -c Name -c Status)"

# Bad input.
err=$(vmsnap server create web1 --image guest 2>&1)
ok $((! $?)) "duplicate server name refused"
check "  error says it exists" -- grep -q "already exists" <<<"$err"
err=$(vmsnap server create x --image nosuch 2>&1)
ok $((! $?)) "unknown image refused"
check "nothing half-made: two servers" -- test \
    "$(vmsnap server list -f value -c ID | wc -l)" = 2
check "nothing half-made: two instance dirs" -- test \
    "$(ls "$VMSNAP_DATA_DIR/instances" | wc -l)" = 2
err=$(vmsnap server show nosuch 2>&1)
ok $((! $?)) "unknown server is an error"
err=$(vmsnap image delete guest 2>&1)
ok $((! $?)) "deleting an image in use is refused"
check "  error names the server" -- grep -q web1 <<<"$err"
err=$(vmsnap image delete guest-kernel 2>&1)
ok $((! $?)) "deleting a kernel image in use is refused"

web_pid=$(show web1 pid)
vmsnap server delete web1 && vmsnap server delete plain1
ok $? "server delete"
check "deleted server's QEMU is gone" -- bash -c "test -n '$web_pid' && ! kill -0 '$web_pid'"
check "instance directories removed" -- test \
    "$(ls "$VMSNAP_DATA_DIR/instances" | wc -l)" = 0
vmsnap image delete guest
ok $? "image delete once no server uses it"

done_testing
