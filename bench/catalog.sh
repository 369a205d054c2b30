#!/bin/bash
# Benchmark of the catalog: operations per second with N images (default
# 10000) on SQLite (a file in /tmp) and on PostgreSQL (the one of
# scripts/services.sh, started if it is not running and then stopped
# again; the bench runs in a schema of its own, dropped at the end), side
# by side.  A script, not a test: it prints numbers, it does not judge.
#
# Each operation is its own statement and transaction, as the services
# issue them (bench/catalog-ops.c): insert, get by ID, find by name, two
# compare-and-set transitions, one list of all, delete.
#
# Usage: bench/catalog.sh [N].  As root; builds ./build (or $BUILD)
# first.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
n=${1:-10000}
schema=bench_$$
catalog_bench_setup "$schema"

psql "$VMSNAP_CATALOG" -qXc "create schema $schema" >/dev/null
"$tool" "$work/catalog.db" "$n" >"$work/sqlite.out"
"$tool" "$VMSNAP_CATALOG options='-csearch_path=$schema'" "$n" \
    >"$work/pg.out"

echo "catalog operations per second, $n images ($(nproc) cores)"
printf '%-14s %12s %12s %8s\n' operation SQLite PostgreSQL "PG/SQLite"
join "$work/sqlite.out" "$work/pg.out" |
    awk '{ printf "%-14s %12s %12s %8.2f\n", $1, $4, $7, ($4 > 0 ? $7 / $4 : 0) }'
