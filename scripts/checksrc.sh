#!/bin/bash
# Style checks that a tool can make (STYLE.md R12, R14): no banned
# functions, no // comments, no line over 80 columns in the C sources.
# Speaks TAP: one check per rule.
cd "$(dirname "$0")/.." || exit 1
files=$(git ls-files 'lib/*.[ch]' 'cli/*.[ch]' 'daemon/*.[ch]' 'worker/*.[ch]' 'tests/*.[ch]' 'tests/*/*.[ch]' 'fuzz/*.[ch]' 2>/dev/null)
[ -n "$files" ] || files=$(ls lib/*/*.[ch] cli/*.[ch] daemon/*.[ch] worker/*.[ch] tests/*.h tests/*/*.[ch] fuzz/*.[ch])
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
# The OOM rule (docs/internals/memory.md): allocation goes through
# xalloc.h and JSON building through xjson.h.  Folders that follow it:
xalloc_dirs='lib/base lib/proto lib/formats lib/catalog lib/hv lib/services lib/storage cli worker daemon'
raw_alloc='\b(malloc|calloc|realloc|strdup|strndup|asprintf|vasprintf|json_object_new_[a-z0-9_]*)[[:space:]]*\('
check "allocation through xalloc.h in $xalloc_dirs" "$(grep -nE "$raw_alloc" $(echo "$files" | grep -E "^(${xalloc_dirs// /|})/" | grep -vE 'lib/base/(xalloc|xjson)\.c$') | grep -vE '^[^:]+:[0-9]+:[[:space:]]*/?\*')"
check "no // comments" "$(grep -nE '^[[:space:]]*//|;[[:space:]]*//' $files)"
check "lines fit in 80 columns" "$(awk 'length($0) > 80 {print FILENAME ":" FNR}' $files)"
echo "1..$n"
[ "$failed" -eq 0 ]
