#!/bin/bash
# The architecture as a test (docs/internals/architecture.md): each folder
# of lib/ includes headers of its own layer and the layers below only;
# the front ends (cli/, worker/, daemon/) reach the core through the
# services and never call the catalog themselves.  Speaks TAP.
cd "$(dirname "$0")/.." || exit 1
layers=(base proto formats catalog storage hv services)
n=0 failed=0
check() {  # check DESCRIPTION OFFENDING-LINES
    n=$((n + 1))
    if [ -z "$2" ]; then
        echo "ok $n - $1"
    else
        echo "not ok $n - $1"
        printf '%s\n' "$2" | head -20 | sed 's/^/# /'
        failed=$((failed + 1))
    fi
}

# The layer of every header of lib/, by name.
declare -A layer_of
for i in "${!layers[@]}"; do
    for h in lib/"${layers[$i]}"/*.h; do
        [ -f "$h" ] && layer_of[${h##*/}]=$i
    done
done

# Every include of lib/ and of the front ends, in one pass: FILE:HEADER.
includes=$(grep -H '^#include "' lib/*/*.[ch] cli/*.[ch] worker/*.[ch] \
    daemon/*.[ch] 2>/dev/null | sed 's/:#include "\([^"]*\)".*/:\1/')

bad="" front=""
while IFS=: read -r f h; do
    l=${layer_of[$h]:-}
    case "$f" in
    lib/*)
        dir=${f#lib/}
        dir=${dir%%/*}
        for i in "${!layers[@]}"; do
            [ "${layers[$i]}" = "$dir" ] && break
        done
        if [ -n "$l" ] && [ "$l" -gt "$i" ]; then
            bad+="$f includes $h (${layers[$l]} is above $dir)"$'\n'
        fi
        ;;
    *)
        case "${l:+${layers[$l]}}:$h" in
        proto:*|formats:*|storage:*|services:svc-impl.h)
            front+="$f includes $h"$'\n' ;;
        esac
        ;;
    esac
done <<<"$includes"
check "lib/ folders include only their own layer and those below" "$bad"
check "front ends reach the core through the services" "$front"

check "front ends call no catalog function" \
    "$(grep -nE '\bcatalog_[a-z_]+\(' cli/*.c worker/*.c daemon/*.c 2>/dev/null)"
echo "1..$n"
[ "$failed" -eq 0 ]
