#!/bin/bash
# The foundation against the real peers: QEMU's QMP monitor and qemu-ga
# inside the test guest, through the vmsnap command (qmp and qga modules).
. "$SRCDIR/tests/integ/lib.sh"
need qemu-system-x86_64 qemu-img python3

register_guest guest yes >/dev/null
t0=$(date +%s%N)
vmsnap server create g1 --image guest >/dev/null
ok $? "boot the test guest"
check "QMP query-status says running" -- test \
    "$(vmsnap server show g1 -f value -c power_state)" = running
wait_agent g1
ok $? "agent ping answers"
diag "boot to a responding agent: $(( ($(date +%s%N) - t0) / 1000000 )) ms"

agent() { vmsnap agent command g1 "$1"; }
check "guest-info lists guest-fsfreeze-freeze" -- grep -q guest-fsfreeze-freeze \
    <<<"$(agent '{"execute":"guest-info"}')"
check "fsfreeze-status: thawed" -- grep -q '"thawed"' \
    <<<"$(agent '{"execute":"guest-fsfreeze-status"}')"
out=$(agent '{"execute":"guest-fsfreeze-freeze"}')
check "fsfreeze-freeze froze one filesystem" -- test "$out" = '{"return":1}'
check "fsfreeze-status: frozen" -- grep -q '"frozen"' \
    <<<"$(agent '{"execute":"guest-fsfreeze-status"}')"
err=$(vmsnap agent exec g1 -- /bin/true 2>&1)
ok $((! $?)) "agent refuses guest-exec while frozen"
out=$(agent '{"execute":"guest-fsfreeze-thaw"}')
check "fsfreeze-thaw thawed one filesystem" -- test "$out" = '{"return":1}'
check "fsfreeze-status: thawed again" -- grep -q '"thawed"' \
    <<<"$(agent '{"execute":"guest-fsfreeze-status"}')"
check "get-fsinfo reports the ext4 root" -- grep -q ext4 \
    <<<"$(agent '{"execute":"guest-get-fsinfo"}')"

out=$(guest_sh g1 'echo from-the-host > /root/f && sync && cat /root/f')
check "guest-exec writes a file on the guest's root and reads it back" -- \
    test "$out" = from-the-host
vmsnap agent exec g1 -- /bin/sh -c 'echo oops >&2; exit 3' 2>"$T_DIR/err"
ok $(( $? != 3 )) "guest-exec relays the exit code"
check "  and stderr" -- grep -q oops "$T_DIR/err"

err=$(vmsnap agent command g1 '{"execute":"guest-no-such-command"}' 2>&1)
ok $((! $?)) "an agent error reply is an error"
check "  with the agent's reason" -- grep -q "guest-no-such-command" <<<"$err"
err=$(vmsnap agent command g1 'not json' 2>&1)
ok $((! $?)) "malformed JSON command refused"

done_testing
