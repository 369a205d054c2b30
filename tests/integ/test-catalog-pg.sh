#!/bin/bash
# The catalog's unit test programs (tests/unit/test-catalog*.c), which run
# against SQLite in the unit suite, run here against a real PostgreSQL 15
# (scripts/services.sh, private directory, free port): one parameter,
# VMSNAP_TEST_CATALOG, so that the two backends never drift.  Their TAP
# streams are merged into one, each check named by its program.
#
# Environment (set by meson): SRCDIR, CATALOG_TESTS (the programs,
# separated by ':').
set -u
: "${CATALOG_TESTS:?CATALOG_TESTS must name the test programs}"
. "$(dirname "$0")/lib-services.sh"
trap services_cleanup EXIT

services_up pg
export VMSNAP_TEST_CATALOG=$VMSNAP_CATALOG
unset VMSNAP_STORE

n=0
failed=0
IFS=: read -r -a progs <<<"$CATALOG_TESTS"
for prog in "${progs[@]}"; do
    name=$(basename "$prog")
    planned=
    out=$("$prog" 2>&1)
    rc=$?
    while IFS= read -r line; do
        case $line in
        "ok "*)
            n=$((n + 1))
            echo "ok $n - $name: ${line#ok * - }" ;;
        "not ok "*)
            n=$((n + 1))
            failed=$((failed + 1))
            echo "not ok $n - $name: ${line#not ok * - }" ;;
        1..*)
            planned=${line#1..} ;;
        *)
            echo "# $line" ;;
        esac
    done <<<"$out"
    n=$((n + 1))
    if [ "$rc" -eq 0 ] && [ -n "$planned" ]; then
        echo "ok $n - $name: finished, $planned checks"
    else
        failed=$((failed + 1))
        echo "not ok $n - $name: finished (status $rc, plan '${planned}')"
    fi
done
echo "1..$n"
[ "$failed" -eq 0 ]
