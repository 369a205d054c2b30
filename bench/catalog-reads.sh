#!/bin/bash
# Benchmark of catalog reads on PostgreSQL: the round trips a read costs.
# A read transaction used to be BEGIN, its statements and COMMIT, each a
# round trip; now BEGIN goes with the first statement (a pipeline) and
# COMMIT is not waited for (its answer is read with the next statement),
# so a get of K statements costs K round trips instead of K + 2.
# The baseline, measured alternately in the same run, is the embedded
# SQLite catalog doing the same reads (a catalog.db in a temporary
# directory): the ratio says what the shared catalog costs a read.
#
# bench/catalog-ops runs N (default 1000) gets by ID and finds by name;
# REPS (default 3) runs of each way; the medians and the ratio new/old
# are printed.  PostgreSQL is the one of scripts/services.sh (started if
# it is not running, then stopped again); the bench uses a schema of its
# own, dropped at the end.  A script, not a test: it prints numbers.
#
# Usage: bench/catalog-reads.sh [N] [REPS].  Builds ./build (or $BUILD)
# first.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
n=${1:-1000}
reps=${2:-3}
schema=bench_reads_$$
catalog_bench_setup "$schema"

target="$VMSNAP_CATALOG options='-csearch_path=$schema'"
for i in $(seq 1 "$reps"); do
    for way in sqlite pg; do
        psql "$VMSNAP_CATALOG" -qXc "drop schema if exists $schema cascade;
            create schema $schema" >/dev/null 2>&1
        rm -f "$work/catalog.db"*
        if [ $way = sqlite ]; then
            "$tool" "$work/catalog.db" "$n"
        else
            "$tool" "$target" "$n"
        fi >"$work/$way.$i"
    done
done

median() {  # median WAY PHASE: ops per second, the median of the runs
    cat "$work/$1".* | awk -v p="$2" '$1 == p { print $4 }' | sort -n |
        awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
echo "catalog reads on PostgreSQL, $n records, median of $reps runs" \
     "($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
printf '%-14s %10s %10s %8s %12s %12s\n' operation "sqlite op/s" "pg op/s" \
    pg/sqlite "sqlite ms/op" "pg ms/op"
for phase in get find-by-name; do
    o=$(median sqlite $phase)
    w=$(median pg $phase)
    awk -v p=$phase -v o="$o" -v w="$w" 'BEGIN {
        printf "%-14s %10d %10d %8.2f %12.2f %12.2f\n", p, o, w,
            (o > 0 ? w / o : 0), (o > 0 ? 1000 / o : 0),
            (w > 0 ? 1000 / w : 0) }'
done
