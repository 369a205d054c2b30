#!/bin/bash
# The web page in Debian's Chromium, driven by playwright-core from npm
# (web.test.mjs speaks TAP).  scripts/setup.sh installs chromium, Node.js
# and npm, and playwright-core into tests/web/node_modules from
# package-lock.json.  A missing piece fails the test; it is never skipped.
cd "$(dirname "$0")" || exit 1
fail() {
    echo "not ok 1 - $*"
    echo "1..1"
    exit 1
}
command -v node >/dev/null || fail "node is installed (scripts/setup.sh)"
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is installed (scripts/setup.sh)"
[ -f node_modules/playwright-core/index.mjs ] ||
    fail "playwright-core is in tests/web/node_modules (scripts/setup.sh runs npm ci)"
exec node web.test.mjs
