#!/bin/bash
# Set up everything (scripts/setup.sh) and run the whole test suite:
#  1. a gcc test build (./build-test, with the test hooks compiled in:
#     -Dtest_hooks=true; ./build, the one a user installs, has none):
#     every suite, real QEMU and the real agent;
#  2. a clang build with AddressSanitizer and UBSan (./build-asan): the
#     unit, protocol and fuzz-corpus suites;
#  3. with VMSNAP_FUZZ_SECONDS=N (CI's run): N seconds of libFuzzer per
#     fuzz target (./build-fuzz).
# Ends with the line "N passed, N failed" counting every TAP check.
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

export VMSNAP_GUEST_DIR
VMSNAP_GUEST_DIR=$(guest/build-guest.sh --print-dir)
# Tests run hostile: glibc checks the heap and fills freed memory.
export MALLOC_CHECK_=3 MALLOC_PERTURB_=$((RANDOM % 255 + 1))

rc=0
werror=false
[ "${CI:-}" = true ] && werror=true
if [ ! -d build-test ]; then
    meson setup build-test -Dtest_hooks=true -Dwerror=$werror >/dev/null ||
        rc=1
fi
# No stale log may stand in for a run that did not happen.
rm -f build-test/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
    build-asan/meson-logs/integ.json
# The fault suite runs here: the shim's test, the replayer's and the
# fault matrix's fixed, seeded sample (docs/internals/faults.md).  The
# power-loss replay (suite powerloss) is the second, longer command:
# meson test -C build-test --suite powerloss
meson test -C build-test --print-errorlogs --num-processes 2 \
    --no-suite powerloss "$@" || rc=1

if [ ! -d build-asan ]; then
    CC=clang meson setup build-asan -Db_sanitize=address,undefined \
        -Db_lundef=false -Dwerror=true -Dtest_hooks=true >/dev/null || rc=1
fi
if ninja -C build-asan >/dev/null; then
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    MALLOC_CHECK_= MALLOC_PERTURB_= \
        meson test -C build-asan --print-errorlogs --suite unit \
        --suite proto --suite fuzz --suite style || rc=1
    # A smoke run of the command itself under the sanitizers, with real
    # QEMU (its own log, so that both runs are counted).
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    MALLOC_CHECK_= MALLOC_PERTURB_= \
        meson test -C build-asan --print-errorlogs --logbase integ \
        test-guest test-images test-export || rc=1
else
    echo "asan build failed"; rc=1
fi

logs=(build-test/meson-logs/testlog.json build-asan/meson-logs/testlog.json
    build-asan/meson-logs/integ.json)
# With VMSNAP_FUZZ_SECONDS set (.ci/run sets it), every libFuzzer target
# also fuzzes for that many seconds from its corpus (suite fuzzrun of a
# clang build with -Dfuzzing=true); a crash fails its check and leaves
# the input under build-fuzz/fuzz-artifacts/.
if [ -n "${VMSNAP_FUZZ_SECONDS:-}" ]; then
    rm -f build-fuzz/meson-logs/fuzzrun.json
    if [ ! -d build-fuzz ]; then
        CC=clang meson setup build-fuzz -Dfuzzing=true >/dev/null || rc=1
    fi
    MALLOC_CHECK_= MALLOC_PERTURB_= \
        meson test -C build-fuzz --print-errorlogs --suite fuzzrun \
        --logbase fuzzrun || rc=1
    logs+=(build-fuzz/meson-logs/fuzzrun.json)
fi

python3 scripts/count-tests.py "${logs[@]}" || rc=1
exit $rc
