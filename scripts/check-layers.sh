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
        proto:*|formats:*|storage:*)
            front+="$f includes $h"$'\n' ;;
        esac
        ;;
    esac
done <<<"$includes"
check "lib/ folders include only their own layer and those below" "$bad"
check "front ends reach the core through the services" "$front"

# Modules (a .c and its .h share a name) must not include each other in
# a circle: tsort finds any loop among the edges "includer included".
cycles=$(while IFS=: read -r f h; do
    case "$f" in lib/*) ;; *) continue ;; esac
    [ -n "${layer_of[$h]:-}" ] || continue
    # A module's private header (x-internal.h, x-priv.h) is the module.
    m=${f##*/}
    m=${m%.?}
    m=${m%-internal}
    m=${m%-priv}
    d=${h%.h}
    d=${d%-internal}
    d=${d%-priv}
    [ "$m" = "$d" ] || echo "$m $d"
done <<<"$includes" | tsort 2>&1 >/dev/null)
check "no include cycle between modules" "$cycles"

check "front ends call no catalog function, reach under no service" \
    "$(grep -nE '\b(catalog_[a-z_]+|svc_(catalog|blob|locks|hv|lock|use_hv))\(' \
        cli/*.c worker/*.c daemon/*.c 2>/dev/null)"
echo "1..$n"
[ "$failed" -eq 0 ]
