#!/bin/bash
# One libFuzzer campaign as a TAP test (suite 'fuzzrun' of a build
# configured with -Dfuzzing=true):
#
#   run-fuzzer.sh FUZZER CORPUS [DICT]
#
# runs FUZZER for VMSNAP_FUZZ_SECONDS seconds (default 60) on a copy of
# the corpus directory CORPUS (the tree's corpus is never written) and
# prints one check: ok with the executions and the coverage reached, or
# not ok with the crashing input, which is kept under the build's
# fuzz-artifacts/ directory so that it can be replayed and added to the
# corpus.
set -uo pipefail
fuzzer=$1 corpus=$2 dict=${3:-}
secs=${VMSNAP_FUZZ_SECONDS:-60}
name=$(basename "$fuzzer")
arts=$(dirname "$fuzzer")/../fuzz-artifacts/$name
work=$(mktemp -d "/tmp/vmsnap-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "1..1"
mkdir -p "$arts" "$work/corpus"
cp "$corpus"/* "$work/corpus/"
"$fuzzer" -max_total_time="$secs" -print_final_stats=1 \
    ${dict:+-dict="$dict"} -artifact_prefix="$arts/" "$work/corpus" \
    >"$work/log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$work/log" | tail -1)
if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
    echo "ok 1 - $name: $runs runs in $secs s, $cov, corpus" \
         "$(ls "$corpus" | wc -l) -> $(ls "$work/corpus" | wc -l) inputs"
else
    echo "not ok 1 - $name: exit $rc after ${runs:-?} runs"
    grep -E 'ERROR|SUMMARY|^artifact_prefix|Test unit written' "$work/log" |
        head -20 | sed 's/^/# /'
    tail -40 "$work/log" | sed 's/^/# /'
fi
