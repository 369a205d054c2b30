#!/bin/bash
# Style checks that a tool can make (STYLE.md R12, R14): no banned
# functions, no // comments, no line over 80 columns in the C sources.
# Speaks TAP: one check per rule.
cd "$(dirname "$0")/.." || exit 1
files=$(git ls-files 'lib/*.[ch]' 'cli/*.[ch]' 'tests/*.[ch]' 'tests/*/*.[ch]' 'fuzz/*.[ch]' 2>/dev/null)
[ -n "$files" ] || files=$(ls lib/*/*.[ch] cli/*.[ch] tests/*.h tests/*/*.[ch] fuzz/*.[ch])
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
banned='\b(strcpy|strcat|sprintf|vsprintf|strncpy|strtok|atoi|atol|gets|system|popen|alloca)[[:space:]]*\('
check "no banned functions" "$(grep -nE "$banned" $files | grep -v 'snprintf\|vsnprintf\|asprintf')"
check "no // comments" "$(grep -nE '^[[:space:]]*//|;[[:space:]]*//' $files)"
check "lines fit in 80 columns" "$(awk 'length($0) > 80 {print FILENAME ":" FNR}' $files)"
echo "1..$n"
[ "$failed" -eq 0 ]
