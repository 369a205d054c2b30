#!/bin/bash
# Snapshots when quiesce fails: os_require_quiesce enforced, failing
# fsfreeze hooks, a hung agent, vmsnap killed while the guest is frozen, a
# second snapshot at once.  After each, no half-made image and a thawed,
# writable guest.
. "$SRCDIR/tests/integ/lib.sh"
need qemu-system-x86_64 qemu-img python3

register_guest guest yes >/dev/null
register_guest plain no --property os_require_quiesce=yes >/dev/null
vmsnap server create vm --image guest >/dev/null && wait_agent vm
ok $? "server boots"
vmsnap server create bare --image plain >/dev/null
ok $? "server without agent, image with os_require_quiesce=yes"

nimages() { vmsnap image list -f value -c ID | wc -l; }
ndata() { stored_images | wc -l; }
n0=$(nimages)
d0=$(ndata)
nothing_left() {  # nothing_left DESC
    check "$1: no image left" -- test "$(nimages)" = "$n0"
    check "$1: no data file left" -- test "$(ndata)" = "$d0"
}
thawed() {
    vmsnap agent command vm '{"execute":"guest-fsfreeze-status"}' 2>/dev/null |
        grep -q '"thawed"'
}
writable() {
    test "$(guest_sh vm 'echo w > /root/w && sync && cat /root/w')" = w
}

# os_require_quiesce=yes without an agent: fail, leave nothing.
err=$(vmsnap server image create --name r1 bare 2>&1)
ok $((! $?)) "os_require_quiesce=yes without an agent fails"
check "  the error says quiesce is required" -- grep -q "os_require_quiesce" <<<"$err"
nothing_left "require without agent"

# A fsfreeze hook that fails: without os_require_quiesce the snapshot goes
# on crash-consistent; with it, the snapshot is abandoned.
guest_sh vm 'printf "#!/bin/sh\nexit 1\n" > /etc/qemu/fsfreeze-hook.d/50-fail && chmod +x /etc/qemu/fsfreeze-hook.d/50-fail'
err=$(vmsnap server image create --name h1 vm 2>&1 >/dev/null)
ok $? "failing hook without os_require_quiesce: snapshot made"
check "  crash-consistent, says so" -- grep -q "crash-consistent" <<<"$err"
check "  records vmsnap_quiesced=no" -- test "$(prop h1 vmsnap_quiesced)" = no
vmsnap image delete h1
vmsnap image set --property os_require_quiesce=yes guest
err=$(vmsnap server image create --name h2 vm 2>&1)
ok $((! $?)) "failing hook with os_require_quiesce=yes: snapshot abandoned"
check "  the error names the hook failure" -- grep -qi "hook" <<<"$err"
nothing_left "failing hook"
check "  guest thawed" -- thawed
check "  guest writable" -- writable
guest_sh vm 'rm /etc/qemu/fsfreeze-hook.d/50-fail'

# A hung agent (SIGSTOP): the snapshot ends in bounded time with a clear
# error, and once the agent resumes the guest is thawed.
guest_sh vm 'sh -c "sleep 1; P=\$(pidof qemu-ga); kill -STOP \$P; sleep 20; kill -CONT \$P" </dev/null >/dev/null 2>&1 &'
sleep 3
start=$(date +%s)
err=$(vmsnap server image create --freeze-timeout 3 --name s1 vm 2>&1)
rc=$?
took=$(( $(date +%s) - start ))
ok $((! rc)) "hung agent with os_require_quiesce=yes: snapshot fails"
check "  in bounded time (${took}s)" -- test "$took" -lt 60
check "  with a clear error" -- grep -Eqi "time|answer|reply" <<<"$err"
nothing_left "hung agent"
for i in $(seq 1 60); do thawed && break; sleep 1; done
check "  guest thawed once the agent resumes" -- thawed
check "  guest writable" -- writable

# A freeze that outlasts its limit: the watchdog thaws the guest inside
# the window, so the snapshot is not quiesced (and fails when quiesce is
# required), and vmsnap survives the watchdog's exit.
err=$(VMSNAP_MAX_FROZEN_MS=1000 VMSNAP_TEST_HOLD_FROZEN_MS=4000 \
      vmsnap server image create --freeze-timeout 1 --name o1 vm 2>&1)
ok $((! $?)) "a window overrun with os_require_quiesce=yes fails"
check "  the error says the watchdog thawed" -- grep -q "watchdog thawed" <<<"$err"
nothing_left "window overrun"
check "  guest thawed" -- thawed
vmsnap image unset --property os_require_quiesce guest
err=$(VMSNAP_MAX_FROZEN_MS=1000 VMSNAP_TEST_HOLD_FROZEN_MS=4000 \
      vmsnap server image create --freeze-timeout 1 --name o2 vm 2>&1 >/dev/null)
ok $? "a window overrun without os_require_quiesce: snapshot made"
check "  recorded as not quiesced" -- test "$(prop o2 vmsnap_quiesced)" = no
vmsnap image delete o2
vmsnap image set --property os_require_quiesce=yes guest

# vmsnap killed with SIGKILL while the guest is frozen: thawed within 2 s.
VMSNAP_DEBUG=quiesce,qga VMSNAP_TEST_HOLD_FROZEN_MS=30000 "$VMSNAP" server image create --name k1 vm \
    >/dev/null 2>"$T_DIR/k1.err" &
kpid=$!
for i in $(seq 1 300); do
    grep -q "guest frozen" "$T_DIR/k1.err" && break
    sleep 0.1
done
check "snapshot holds the guest frozen (test hook)" -- grep -q "guest frozen" "$T_DIR/k1.err"

# A second snapshot of the same instance at once is refused.
err=$(vmsnap server image create --name k2 vm 2>&1)
ok $((! $?)) "a second snapshot at once is refused"
check "  the error says the server is busy" -- grep -q "busy" <<<"$err"

t0=$(date +%s%N)
kill -9 $kpid
wait $kpid 2>/dev/null
until thawed; do
    [ $(( $(date +%s%N) - t0 )) -gt 20000000000 ] && break
    sleep 0.05
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
diag "thawed $ms ms after SIGKILL"; [ "$ms" -gt 2000 ] && sed "s/^/# /" "$T_DIR/k1.err"
check "after SIGKILL, guest thawed within 2 s (${ms} ms)" -- test "$ms" -lt 2000
check "  guest writable" -- writable
st=$(statuses)
check "  the killed snapshot is not left queued or saving" -- test \
    -n "$st" -a -z "$(grep -E 'queued|saving' <<<"$st")"
check "  its data is gone" -- test "$(ndata)" = "$d0"
nodes=$(qmp_cmd vm query-named-block-nodes)
check "  and its target node is gone from QEMU" -- test -n "$nodes" -a -z \
    "$(grep -o '"snap-[0-9a-f]*"' <<<"$nodes")"
vmsnap server image create --name after vm >/dev/null
ok $? "the next snapshot works (stale task cleared)"
check "  and is quiesced" -- test "$(prop after vmsnap_quiesced)" = yes

done_testing
