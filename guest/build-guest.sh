#!/bin/bash
# build-guest.sh: build and cache the small Linux guest used by vmsnap's
# integration tests.
#
# Everything comes from Debian packages: the cloud kernel (downloaded and
# unpacked, never installed), busybox-static, the host's qemu-ga with the
# shared libraries it links, e2fsprogs (mke2fs -d) and qemu-utils
# (qemu-img).  See README.md beside this file for what the guest contains
# and the QEMU command line that boots it.
#
# Usage: build-guest.sh [--print-dir] [--force]
#   --print-dir  print only the cache directory on stdout (building first
#                if needed); everything else goes to stderr
#   --force      rebuild even if the cache directory is complete
#
# Environment:
#   VMSNAP_GUEST_CACHE       cache root (default ~/.cache/vmsnap/guest)
#   VMSNAP_GUEST_KERNEL_PKG  kernel package to use instead of the newest
#                            linux-image-6.1.0-*-cloud-amd64

set -euo pipefail

prog=${0##*/}
orig_args=("$@")
print_dir=0
force=0

usage()
{
	cat <<EOF
usage: $prog [--print-dir] [--force]
  --print-dir  print only the guest's cache directory on stdout
  --force      rebuild even if the cache is complete
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--print-dir) print_dir=1 ;;
	--force) force=1 ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

# Keep stdout for the one line --print-dir promises; all chatter goes to
# stderr.
exec 3>&1 1>&2

say()
{
	printf '%s: %s\n' "$prog" "$*" >&2
}

die()
{
	printf '%s: error: %s\n' "$prog" "$*" >&2
	exit 1
}

# The modules the guest loads, in load order.  Each is either built into
# the kernel or shipped as a .ko in the package; the script checks which.
# virtio_blk serves the root disk and any extra virtio-blk disks,
# virtio_console the agent's virtio-serial port, and the SCSI ones disks
# attached through virtio-scsi-pci + scsi-hd (/dev/sdX).
guest_modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
virtio_pci virtio_blk virtio_console scsi_common scsi_mod virtio_scsi sd_mod"

host_pkgs="busybox-static qemu-guest-agent e2fsprogs qemu-utils dpkg util-linux
coreutils"

rootfs_size=256M

# --- host packages ---------------------------------------------------------

pkg_installed()
{
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

pkg_version()
{
	dpkg-query -W -f='${Version}' "$1"
}

apt_lists_empty()
{
	! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

apt_update()
{
	say "running apt-get update"
	apt-get update >&2 || die "apt-get update failed"
}

ensure_host_pkgs()
{
	local p missing=

	for p in $host_pkgs; do
		pkg_installed "$p" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages:$missing (install them as root)"
	say "installing:$missing"
	apt_lists_empty && apt_update
	# shellcheck disable=SC2086
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y \
	    --no-install-recommends $missing >&2; then
		apt_update
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y \
		    --no-install-recommends $missing >&2 ||
		    die "cannot install:$missing"
	fi
}

# Prints "PACKAGE VERSION" of the kernel to use.
pick_kernel()
{
	local pkg ver kernel

	if [ -n "${VMSNAP_GUEST_KERNEL_PKG:-}" ]; then
		pkg=$VMSNAP_GUEST_KERNEL_PKG
		ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null |
		    sed -n 's/^Version: //p')
		ver=${ver%%$'\n'*}
		[ -n "$ver" ] || die "kernel package $pkg is not known to apt"
		echo "$pkg $ver"
		return 0
	fi
	# One apt-cache run: each costs a second here, where apt keeps no
	# binary cache.  The newest ABI number wins, then the newest version.
	kernel=$(apt-cache search --names-only --full \
	    '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' 2>/dev/null |
	    awk '/^Package: / { p = $2 } /^Version: / { print p, $2 }' |
	    sort -V | tail -n 1)
	[ -n "$kernel" ] || return 1
	echo "$kernel"
}

# --- cache key -------------------------------------------------------------

ensure_host_pkgs

if ! kernel=$(pick_kernel); then
	[ "$(id -u)" -eq 0 ] || die "no linux-image-6.1.0-*-cloud-amd64 known to apt (run apt-get update)"
	apt_update
	kernel=$(pick_kernel) || die "no linux-image-6.1.0-*-cloud-amd64 package found"
fi
kernel_pkg=${kernel% *}
kernel_ver=${kernel#* }
kernel_release=${kernel_pkg#linux-image-}

self=$(readlink -f "${BASH_SOURCE[0]}")
self_sum=$(sha256sum "$self" | cut -d' ' -f1)

key_input="kernel $kernel_pkg $kernel_ver
busybox-static $(pkg_version busybox-static)
qemu-guest-agent $(pkg_version qemu-guest-agent)
e2fsprogs $(pkg_version e2fsprogs)
build-guest.sh $self_sum"
key=$(printf '%s\n' "$key_input" | sha256sum | cut -c1-16)

cache_root=${VMSNAP_GUEST_CACHE:-$HOME/.cache/vmsnap/guest}
final=$cache_root/$key
outputs="vmlinuz initrd.img root.qcow2 KEY"

cache_complete()
{
	local f
	[ -d "$final" ] || return 1
	for f in $outputs; do
		[ -s "$final/$f" ] || return 1
	done
	[ "$(cat "$final/KEY")" = "$key" ]
}

finish()
{
	if [ "$print_dir" -eq 1 ]; then
		printf '%s\n' "$final" >&3
	else
		say "guest ready in $final"
	fi
	exit 0
}

if [ "$force" -eq 0 ] && cache_complete; then
	finish
fi

mkdir -p "$cache_root"
# One builder at a time; whoever waited may find the work done.
exec 9>"$cache_root/.lock"
flock 9
if [ "$force" -eq 0 ] && cache_complete; then
	finish
fi

# --- build -----------------------------------------------------------------

# Leftovers of builders that were killed outright; with the lock held, no
# other builder is using them.
rm -rf "$cache_root"/.build.* "$cache_root"/.old.*

work=$(mktemp -d "${TMPDIR:-/tmp}/vmsnap-guest.XXXXXX")
# The output directory lives beside its final place so that the last step
# is a rename on one file system.
out=$(mktemp -d "$cache_root/.build.XXXXXX")
old=
# shellcheck disable=SC2317 # called through the trap
cleanup()
{
	local d
	for d in "$work" "$out" "$old"; do
		if [ -n "$d" ]; then
			rm -rf "$d"
		fi
	done
}
trap cleanup EXIT

say "building guest $key with $kernel_pkg $kernel_ver"

# The kernel package: download it, unpack it, never install it.
mkdir "$work/deb"
# As root, apt-get download would try to drop to _apt, which cannot write
# into our private temp dir, and warn.
apt_dl_opts=()
if [ "$(id -u)" -eq 0 ]; then
	apt_dl_opts=(-o APT::Sandbox::User=root)
fi
if ! (cd "$work/deb" && apt-get "${apt_dl_opts[@]}" download "$kernel_pkg=$kernel_ver" >&2); then
	# Stale package lists name a kernel the mirror no longer has.  After
	# an update the newest kernel, and so the key, may differ: start over.
	if [ "$(id -u)" -ne 0 ] || [ -n "${VMSNAP_GUEST_REEXEC:-}" ]; then
		die "cannot download $kernel_pkg=$kernel_ver"
	fi
	apt_update
	cleanup
	trap - EXIT
	exec 9>&- 1>&3 3>&-
	VMSNAP_GUEST_REEXEC=1 exec "$self" "${orig_args[@]}"
fi
dpkg-deb -x "$work"/deb/*.deb "$work/kernel"
kdir=$work/kernel/lib/modules/$kernel_release
[ -f "$work/kernel/boot/vmlinuz-$kernel_release" ] ||
    die "no vmlinuz-$kernel_release in $kernel_pkg"
[ -d "$kdir" ] || die "no /lib/modules/$kernel_release in $kernel_pkg"
cp "$work/kernel/boot/vmlinuz-$kernel_release" "$out/vmlinuz"

# modinfo_depends FILE: the module's dependencies, comma separated.
modinfo_depends()
{
	tr '\0' '\n' <"$1" | sed -n 's/^depends=//p'
}

# is_builtin NAME: whether modules.builtin lists the module.
is_builtin()
{
	[ -f "$kdir/modules.builtin" ] || return 1
	sed 's,.*/,,; s,\.ko.*$,,; s,-,_,g' "$kdir/modules.builtin" |
	    grep -qx "${1//-/_}"
}

# find_module NAME: path of the module's .ko file, if the package ships one.
find_module()
{
	local n=$1 alt=${1//_/-}
	find "$kdir/kernel" -type f \( -name "$n.ko" -o -name "$alt.ko" \) \
	    -print -quit
}

initrd=$work/initrd
mkdir -p "$initrd"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,newroot,lib/modules}
: >"$initrd/lib/modules/load-order"
loaded=" "
for m in $guest_modules; do
	if is_builtin "$m"; then
		say "module $m: built in"
		loaded="$loaded$m "
		continue
	fi
	f=$(find_module "$m")
	if [ -z "$f" ]; then
		if [ -n "$(find "$kdir/kernel" -name "$m.ko.*" -print -quit)" ]; then
			die "module $m is compressed; teach $prog to unpack it"
		fi
		die "module $m is neither built in nor shipped in $kernel_pkg"
	fi
	deps=$(modinfo_depends "$f")
	for d in ${deps//,/ }; do
		d=${d//-/_}
		case $loaded in
		*" $d "*) ;;
		*) is_builtin "$d" ||
		    die "module $m needs $d, which is not loaded before it" ;;
		esac
	done
	say "module $m: ${f#"$kdir"/}"
	cp "$f" "$initrd/lib/modules/$m.ko"
	echo "$m" >>"$initrd/lib/modules/load-order"
	loaded="$loaded$m "
done

busybox=$(command -v busybox || true)
[ -n "$busybox" ] || die "busybox not found"
# ldd says so (and exits 1) for a static binary; the busybox package, as
# opposed to busybox-static, is dynamic.
if [[ $(LC_ALL=C ldd "$busybox" 2>&1 || true) != *"not a dynamic executable"* ]]; then
	die "$busybox is not static (install busybox-static)"
fi
cp "$busybox" "$initrd/bin/busybox"

# --- initramfs /init -------------------------------------------------------

cat >"$initrd/init" <<'EOF'
#!/bin/busybox sh
# vmsnap test guest initramfs: load the virtio modules, mount the root
# disk read-write and switch to it.
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys

fail()
{
	echo "vmsnap-guest: initramfs: $*"
	echo "vmsnap-guest: failed"
	sleep 1
	poweroff -f
}

root=/dev/vda
fstype=ext4
init=/sbin/init
for arg in $(cat /proc/cmdline); do
	case $arg in
	root=*) root=${arg#root=} ;;
	rootfstype=*) fstype=${arg#rootfstype=} ;;
	init=*) init=${arg#init=} ;;
	esac
done

while read -r m; do
	insmod "/lib/modules/$m.ko" ||
	    echo "vmsnap-guest: initramfs: insmod $m failed"
done </lib/modules/load-order

# Wait up to 30 s for the root disk.
i=0
while [ ! -b "$root" ]; do
	i=$((i + 1))
	[ "$i" -le 600 ] || fail "no root device $root"
	sleep 0.05
done

mount -t "$fstype" -o rw "$root" /newroot || fail "cannot mount $root"
[ -x "/newroot$init" ] || fail "no $init on $root"
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot "$init"
EOF
chmod 0755 "$initrd/init"

# Left uncompressed: 3 MB, and under TCG inflating it costs more boot
# time than reading it does.
(cd "$initrd" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) \
    >"$out/initrd.img"

# --- root file system ------------------------------------------------------

root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,dev,proc,sys,run} \
    "$root"/{tmp,root,mnt/b,mnt/c,mnt/d,var/log,var/lib,etc/qemu/fsfreeze-hook.d}
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
ln -s /run "$root/var/run"
ln -s /proc/mounts "$root/etc/mtab"

cp "$busybox" "$root/bin/busybox"
busybox --list-full | while read -r path; do
	case $path in
	sbin/init|linuxrc|bin/busybox) continue ;;
	esac
	ln -sf /bin/busybox "$root/$path"
done
[ -L "$root/bin/sh" ] || die "busybox has no sh applet"

# qemu-ga and the shared libraries it links, with the dynamic loader.
qga=/usr/sbin/qemu-ga
[ -x "$qga" ] || die "$qga not found (qemu-guest-agent)"
cp "$qga" "$root/usr/sbin/qemu-ga"
LC_ALL=C ldd "$qga" | awk '
	$2 == "=>" && $3 ~ /^\// { print $3 }
	$1 ~ /^\// { print $1 }' | sort -u |
while read -r lib; do
	[ -e "$lib" ] || die "qemu-ga needs $lib, which is missing"
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
if LC_ALL=C ldd "$qga" | grep -q 'not found'; then
	die "qemu-ga has unresolved libraries"
fi

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
EOF
echo vmsnap-guest >"$root/etc/hostname"
: >"$root/etc/fstab"
cat >"$root/etc/os-release" <<EOF
NAME="vmsnap test guest"
ID=vmsnap-guest
ID_LIKE=debian
PRETTY_NAME="vmsnap test guest ($kernel_release, busybox)"
VERSION_ID=$key
EOF

# --- fsfreeze hook ---------------------------------------------------------

cat >"$root/etc/qemu/fsfreeze-hook" <<'EOF'
#!/bin/sh
# fsfreeze hook for qemu-ga -F.  qemu-ga runs it with "freeze" just before
# it freezes the file systems and with "thaw" just after it thaws them; a
# non-zero exit makes the agent command fail, so a failing freeze hook
# fails guest-fsfreeze-freeze and nothing is frozen.
#
# Runs every executable file in /etc/qemu/fsfreeze-hook.d with the same
# argument: in name order on freeze, in reverse order on thaw.  On freeze
# it stops at the first hook that fails, thaws the hooks that had already
# frozen (reverse order) and exits with the failed hook's status.  On thaw
# it runs every hook and exits non-zero if any failed.  Output goes to
# /var/log/fsfreeze-hook.log (qemu-ga discards the hook's stdout/stderr).

hookdir=/etc/qemu/fsfreeze-hook.d
log=/var/log/fsfreeze-hook.log

case $1 in
freeze|thaw) ;;
*) echo "usage: $0 freeze|thaw" >&2; exit 2 ;;
esac

exec >>"$log" 2>&1
# Time stamps from /proc/uptime, read by the shell itself: a date(1) fork
# would lengthen the freeze window under emulation.
stamp()
{
	read -r up _ </proc/uptime
	echo "[$up] $*"
}
stamp "$1"

# Newline-separated lists of hooks, forward and reversed.
hooks=
rhooks=
for f in "$hookdir"/*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	hooks="$hooks$f
"
	rhooks="$f
$rhooks"
done

run()
{
	"$2" "$1"
	st=$?
	stamp "$2 $1: exit $st"
	return $st
}

IFS='
'
status=0
if [ "$1" = freeze ]; then
	done_hooks=
	for f in $hooks; do
		if ! run freeze "$f"; then
			status=$st
			for g in $done_hooks; do
				run thaw "$g"
			done
			break
		fi
		done_hooks="$f
$done_hooks"
	done
else
	for f in $rhooks; do
		run thaw "$f" || status=$st
	done
fi
exit $status
EOF
chmod 0755 "$root/etc/qemu/fsfreeze-hook"

# --- shutdown, for guest-shutdown ------------------------------------------

# qemu-ga's guest-shutdown runs "/sbin/shutdown -h -P|-H|-r +0 MESSAGE";
# busybox has no shutdown, so signal init the way busybox's poweroff,
# halt and reboot do.
cat >"$root/sbin/shutdown" <<'EOF'
#!/bin/sh
sig=USR2
for arg; do
	case $arg in
	-r) sig=TERM ;;
	-H) sig=USR1 ;;
	-P|-h) ;;
	esac
done
kill -"$sig" 1
EOF
chmod 0755 "$root/sbin/shutdown"

# --- /sbin/init ------------------------------------------------------------

cat >"$root/sbin/init" <<'EOF'
#!/bin/sh
# vmsnap test guest init: set up /dev, /run and the agent's port, start
# qemu-ga and keep it running.  Prints "vmsnap-guest: ready" on the
# console once the agent has been started.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
export HOME=/root
cd /

mounted()
{
	grep -q "^[^ ]* $1 " /proc/mounts 2>/dev/null
}

mounted /proc || mount -t proc proc /proc
mounted /sys || mount -t sysfs sysfs /sys
mounted /dev || mount -t devtmpfs devtmpfs /dev
# The initramfs mounts / read-write already; remount only if someone
# booted with another init path.
grep -q '^[^ ]* / [^ ]* rw[, ]' /proc/mounts || mount -o remount,rw /
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620 devpts /dev/pts
hostname -F /etc/hostname

stop_guest()
{
	echo "vmsnap-guest: $1"
	[ -n "$qga_pid" ] && kill -CONT "$qga_pid" 2>/dev/null
	[ -n "$qga_pid" ] && kill "$qga_pid" 2>/dev/null
	sync
	umount -a -r 2>/dev/null
	mount -o remount,ro / 2>/dev/null
	sync
	"$1" -f
}
qga_pid=
trap 'stop_guest poweroff' USR2
trap 'stop_guest reboot' TERM
trap 'stop_guest halt' USR1

# No udev: name the virtio-serial ports ourselves.  The port names come
# from the host over the control queue, a little after the ports appear,
# so wait up to 5 s for the agent's port when there is a virtio-serial
# device at all.
agent_name=org.qemu.guest_agent.0
agent=/dev/virtio-ports/$agent_name
make_port_links()
{
	mkdir -p /dev/virtio-ports
	for p in /sys/class/virtio-ports/vport*; do
		[ -r "$p/name" ] || continue
		name=$(cat "$p/name")
		[ -n "$name" ] || continue
		ln -sfn "../${p##*/}" "/dev/virtio-ports/$name"
	done
}
make_port_links
if [ ! -e "$agent" ] && ls /sys/bus/virtio/drivers/virtio_console/ 2>/dev/null | grep -q '^virtio'; then
	i=0
	while [ ! -e "$agent" ] && [ "$i" -lt 100 ]; do
		sleep 0.05
		make_port_links
		i=$((i + 1))
	done
fi

if [ -e "$agent" ]; then
	start_qga()
	{
		/usr/sbin/qemu-ga -m virtio-serial -p "$agent" -F &
		qga_pid=$!
	}
	start_qga
	echo "vmsnap-guest: qemu-ga started on $agent"
else
	echo "vmsnap-guest: no $agent_name port, qemu-ga not started"
fi
read -r up _ </proc/uptime
echo "vmsnap-guest: kernel uptime ${up}s"
echo "vmsnap-guest: ready"

# Stay alive as PID 1, reaping orphans.  A stopped qemu-ga (SIGSTOP from a
# test) is still alive and is left alone; one that exits is restarted.
while :; do
	if [ -n "$qga_pid" ]; then
		wait "$qga_pid"
		st=$?
		if ! kill -0 "$qga_pid" 2>/dev/null; then
			echo "vmsnap-guest: qemu-ga exited (status $st), restarting"
			sleep 1
			start_qga
		fi
	else
		sleep 3600 &
		wait $!
	fi
done
EOF
chmod 0755 "$root/sbin/init"

# --- images ----------------------------------------------------------------

# Initialise inode tables and journal now, so that the guest's kernel has
# no lazy-init writes to do in the background after every boot.
truncate -s "$rootfs_size" "$work/root.raw"
mke2fs -q -F -t ext4 -L vmsnap-root \
    -E root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0 \
    -d "$root" "$work/root.raw"
qemu-img convert -f raw -O qcow2 "$work/root.raw" "$out/root.qcow2"

printf '%s\n' "$key" >"$out/KEY"
{
	printf '%s\n' "$key_input"
	echo "kernel-release $kernel_release"
	echo "modules $(tr '\n' ' ' <"$initrd/lib/modules/load-order")"
} >"$out/MANIFEST"
chmod 0644 "$out"/*
chmod 0755 "$out"

# Put the result in place: a rename, so the directory is either absent or
# complete.  A complete directory being replaced (--force) is moved aside
# first and removed afterwards.
if [ -e "$final" ]; then
	old=$(mktemp -d "$cache_root/.old.XXXXXX")
	mv -T "$final" "$old/dir"
fi
mv -T "$out" "$final"
out=
finish
