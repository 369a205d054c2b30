#!/bin/bash
# Set up a fresh Debian 12 machine for vmsnap, as root: install the
# packages it builds and runs with, build the test guest (cached), and
# build vmsnap in ./build.  Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    meson ninja-build pkg-config gcc clang libclang-rt-14-dev
    libjson-c-dev libsqlite3-dev libssl-dev uuid-dev
    libxml2-dev libarchive-dev libcurl4-openssl-dev libzstd-dev libnbd-dev
    qemu-system-x86 qemu-utils qemu-guest-agent busybox-static
    e2fsprogs binutils python3 procps
    libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
    sqlite3 strace util-linux coreutils
    libmicrohttpd-dev curl python3-openstackclient wrk
    chromium nodejs
)
# npm: Debian's package, unless the installed Node.js brings its own (a
# Node.js from elsewhere conflicts with Debian's npm).
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
            grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing packages: ${missing[*]} (run as root)" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# The web page's browser tests: playwright-core from npm, as locked in
# tests/web/package-lock.json, into tests/web/node_modules (not in git).
# It drives Debian's chromium; it never downloads a browser.
if [ ! -f tests/web/node_modules/playwright-core/index.mjs ] ||
   [ tests/web/package-lock.json -nt tests/web/node_modules/.package-lock.json ]; then
    (cd tests/web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
        npm ci --no-audit --no-fund --ignore-scripts >&2)
fi

# The test guest: built once, cached under a key of its inputs' versions.
guest/build-guest.sh --print-dir >/dev/null

werror=false
[ "${CI:-}" = true ] && werror=true
if [ ! -d build ]; then
    meson setup build -Dwerror=$werror >&2
else
    meson configure build -Dwerror=$werror >&2
fi
ninja -C build >&2
