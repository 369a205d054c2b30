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

# The layer of header NAME, or nothing when it is not one of lib/'s.
layer_of() {
    local i
    for i in "${!layers[@]}"; do
        [ -f "lib/${layers[$i]}/$1" ] && { echo "$i"; return; }
    done
}

bad=""
for i in "${!layers[@]}"; do
    for f in lib/"${layers[$i]}"/*.[ch]; do
        [ -f "$f" ] || continue
        while read -r h; do
            l=$(layer_of "$h")
            if [ -n "$l" ] && [ "$l" -gt "$i" ]; then
                bad+="$f includes $h (${layers[$l]} is above ${layers[$i]})"$'\n'
            fi
        done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
    done
done
check "lib/ folders include only their own layer and those below" "$bad"

bad=""
for f in cli/*.[ch] worker/*.[ch] daemon/*.[ch]; do
    [ -f "$f" ] || continue
    while read -r h; do
        l=$(layer_of "$h")
        case "${layers[$l]:-}:$h" in
        proto:*|formats:*|storage:*|services:svc-impl.h)
            bad+="$f includes $h"$'\n' ;;
        esac
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done
check "front ends reach the core through the services" "$bad"

check "front ends call no catalog function" \
    "$(grep -nE '\bcatalog_[a-z_]+\(' cli/*.c worker/*.c daemon/*.c 2>/dev/null)"
echo "1..$n"
[ "$failed" -eq 0 ]
