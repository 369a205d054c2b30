# TAP for the shell tests: source it, then call ok/check/diag, and end
# with done_testing (prints the plan, fails if any check failed).
# T_COUNT and T_FAILED count checks and failures.

T_COUNT=0
T_FAILED=0

ok() {  # ok EXIT-STATUS DESCRIPTION: one check, passed if the status is 0
    local rc=$1
    shift
    T_COUNT=$((T_COUNT + 1))
    if [ "$rc" -eq 0 ]; then
        echo "ok $T_COUNT - $*"
    else
        echo "not ok $T_COUNT - $*"
        T_FAILED=$((T_FAILED + 1))
    fi
}

check() {  # check DESCRIPTION -- COMMAND...: ok if COMMAND succeeds
    local desc=$1
    shift
    [ "$1" = "--" ] && shift
    "$@" >/dev/null 2>&1
    ok $? "$desc"
}

diag() {  # diag TEXT...: a comment line for each line of TEXT
    printf '%s\n' "$*" | sed 's/^/# /'
}

done_testing() {
    echo "1..$T_COUNT"
    [ "$T_FAILED" -eq 0 ]
}
