#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Set up what tests/test_qemu_iommu.sh needs to boot a Linux guest whose
# virtio-net device is served by a vhost-user back-end:
#
#  - apt packages qemu-system-x86, busybox-static and cpio (installed if
#    missing; "apt-get update" is run once if the first try fails);
#  - Debian's linux-image-<abi>-cloud-amd64-unsigned, fetched with
#    "apt-get download" (never installed) and unpacked with "dpkg -x";
#    only the kernel, its config and the eight virtio-net modules are kept;
#  - a busybox initramfs whose /init is tests/qemu/init, with those
#    modules in /lib/modules.
#
# Everything is cached in $IOVH_QEMU_CACHE (default /var/cache/iovhost/qemu)
# and reused on the next call; the initramfs is rebuilt when the init
# script, busybox or the kernel changes.  Concurrent calls are serialised
# with a lock file.
#
# Usage: tests/qemu/prepare.sh [--force]
#   --force   download and build again even if cached
#
# Prints on stdout, one KEY=VALUE per line (nothing else goes to stdout):
#   IOVH_QEMU=/usr/bin/qemu-system-x86_64
#   IOVH_QEMU_VERSION=7.2.22
#   IOVH_GUEST_KVER=6.1.0-56-cloud-amd64
#   IOVH_GUEST_KERNEL=<cache>/kernel-<kver>/vmlinuz
#   IOVH_GUEST_INITRD=<cache>/initramfs-<kver>-<hash>.cpio.gz
# Progress and errors go to stderr.  Exit status 0 when all is ready.
#
# Environment: IOVH_QEMU_CACHE; IOVH_GUEST_KVER to pick a kernel ABI
# (e.g. 6.1.0-56-cloud-amd64) instead of the newest one apt knows of or,
# if one is cached already, the cached one.

set -euo pipefail

HERE=$(cd "$(dirname "$(realpath "$0")")" && pwd)
CACHE=${IOVH_QEMU_CACHE:-/var/cache/iovhost/qemu}
MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev
	virtio_pci failover net_failover virtio_net)
PACKAGES=(qemu-system-x86 busybox-static cpio)

say() { echo "prepare.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

FORCE=0
while [ $# -gt 0 ]; do
	case $1 in
	--force) FORCE=1; shift ;;
	-h|--help) sed -n '4,34s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, the cache in $CACHE)"
command -v apt-get > /dev/null || die "apt-get not found: this needs Debian"

APT_UPDATED=0
apt_update_once() {
	[ $APT_UPDATED = 0 ] || return 0
	APT_UPDATED=1
	say "apt-get update"
	apt-get -q update >&2 || die "apt-get update failed (network to the Debian mirror?)"
}

# ---- apt packages
pkg_ok() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }
install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		pkg_ok "$p" || missing+=("$p")
	done
	[ ${#missing[@]} = 0 ] && return 0
	say "installing ${missing[*]}"
	local cmd=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends install "${missing[@]}")
	if ! "${cmd[@]}" >&2; then
		apt_update_once
		"${cmd[@]}" >&2 || die "cannot install ${missing[*]}"
	fi
}

# ---- guest kernel
# The ABI name of the newest cloud kernel apt knows of, e.g.
# 6.1.0-56-cloud-amd64: the dependency of the linux-image-cloud-amd64
# meta-package, or else the highest linux-image-*-cloud-amd64-unsigned.
newest_kver() {
	local k
	k=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\([0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n1)
	if [ -z "$k" ]; then
		k=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-cloud-amd64-unsigned$' 2>/dev/null |
			sed -n 's/^linux-image-\([^ ]*-cloud-amd64\)-unsigned .*/\1/p' | sort -V | tail -n1)
	fi
	echo "$k"
}

kernel_ready() {
	local d=$CACHE/kernel-$1 m
	[ -s "$d/vmlinuz" ] || return 1
	for m in "${MODULES[@]}"; do
		[ -s "$d/modules/$m.ko" ] || [ -e "$d/modules/$m.builtin" ] || return 1
	done
}

fetch_kernel() {
	local kver=$1 pkg=linux-image-$1-unsigned dest=$CACHE/kernel-$1 work m f
	work=$(mktemp -d "$CACHE/.kernel.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" EXIT
	say "downloading $pkg"
	if ! (cd "$work" && apt-get -q -o APT::Sandbox::User=root download "$pkg") >&2; then
		apt_update_once
		(cd "$work" && apt-get -q -o APT::Sandbox::User=root download "$pkg") >&2 || die "cannot download $pkg"
	fi
	f=$(compgen -G "$work/${pkg}_*.deb" | head -n1) || true
	[ -n "$f" ] || die "apt-get download left no $pkg .deb in $work"
	say "unpacking $(basename "$f")"
	dpkg -x "$f" "$work/x"
	rm -f "$f"
	local mods=$work/x/lib/modules/$kver
	[ -s "$work/x/boot/vmlinuz-$kver" ] || die "$pkg has no boot/vmlinuz-$kver"
	[ -d "$mods" ] || die "$pkg has no lib/modules/$kver"
	mkdir -p "$work/out/modules"
	cp "$work/x/boot/vmlinuz-$kver" "$work/out/vmlinuz"
	cp "$work/x/boot/config-$kver" "$work/out/config" 2>/dev/null || true
	for m in "${MODULES[@]}"; do
		f=$(find "$mods/kernel" -name "$m.ko*" | head -n1)
		if [ -z "$f" ]; then
			grep -q "/$m\.ko\$" "$mods/modules.builtin" 2>/dev/null ||
				die "$pkg has neither $m.ko nor a built-in $m"
			touch "$work/out/modules/$m.builtin"
			continue
		fi
		case $f in
		*.ko) cp "$f" "$work/out/modules/$m.ko" ;;
		*.ko.xz) xz -dc "$f" > "$work/out/modules/$m.ko" ;;
		*.ko.zst) zstd -qdc "$f" > "$work/out/modules/$m.ko" ;;
		*.ko.gz) gzip -dc "$f" > "$work/out/modules/$m.ko" ;;
		*) die "unexpected module file $f" ;;
		esac
	done
	rm -rf "$dest"
	mv "$work/out" "$dest"
	rm -rf "$work"
	trap - EXIT
	say "kernel $kver cached in $dest"
}

# ---- initramfs
build_initramfs() {
	local kver=$1 out=$2 work m
	work=$(mktemp -d "$CACHE/.initramfs.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" EXIT
	local root=$work/root
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
	install -m 0755 "$BUSYBOX" "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	install -m 0755 "$HERE/init" "$root/init"
	mknod -m 0600 "$root/dev/console" c 5 1
	mknod -m 0666 "$root/dev/null" c 1 3
	for m in "${MODULES[@]}"; do
		[ -e "$CACHE/kernel-$kver/modules/$m.ko" ] || continue
		install -m 0644 "$CACHE/kernel-$kver/modules/$m.ko" "$root/lib/modules/"
	done
	(cd "$root" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc -R 0:0 --quiet) | gzip -9 > "$work/initramfs.cpio.gz"
	mv "$work/initramfs.cpio.gz" "$out"
	rm -rf "$work"
	trap - EXIT
	say "initramfs built: $out"
}

# ---------------------------------------------------------------- main

install_packages
QEMU=$(command -v qemu-system-x86_64) || die "qemu-system-x86_64 not found after installing qemu-system-x86"
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found after installing busybox-static"
command -v cpio > /dev/null || die "cpio not found"

mkdir -p "$CACHE"
exec {lockfd}> "$CACHE/.lock"
flock -w 600 "$lockfd" || die "could not lock $CACHE/.lock within 600 s"

kver=${IOVH_GUEST_KVER:-}
if [ -z "$kver" ] && [ $FORCE = 0 ]; then
	# The newest kernel cached already, if any: no network needed.
	for d in "$CACHE"/kernel-*; do
		[ -d "$d" ] || continue
		k=${d##*/kernel-}
		kernel_ready "$k" || continue
		kver=$(printf '%s\n%s\n' "$kver" "$k" | sed '/^$/d' | sort -V | tail -n1)
	done
fi
if [ -z "$kver" ]; then
	kver=$(newest_kver)
	if [ -z "$kver" ]; then
		apt_update_once
		kver=$(newest_kver)
	fi
	[ -n "$kver" ] || die "no linux-image-*-cloud-amd64-unsigned package known to apt"
fi
if [ $FORCE = 1 ] || ! kernel_ready "$kver"; then
	fetch_kernel "$kver"
	kernel_ready "$kver" || die "kernel $kver incomplete in $CACHE/kernel-$kver"
fi

# The initramfs is named after what goes into it (and how it is made).
hash=$( { cat "$0" "$HERE/init" "$BUSYBOX"; cat "$CACHE/kernel-$kver"/modules/*; } |
	sha256sum | cut -c1-12)
initrd=$CACHE/initramfs-$kver-$hash.cpio.gz
if [ $FORCE = 1 ] || [ ! -s "$initrd" ]; then
	build_initramfs "$kver" "$initrd"
	# Older builds for this kernel are of no use any more.
	for f in "$CACHE/initramfs-$kver"-*.cpio.gz; do
		[ "$f" = "$initrd" ] || rm -f "$f"
	done
fi

qver=$("$QEMU" --version | sed -n '1s/^QEMU emulator version \([^ ]*\).*/\1/p')
echo "IOVH_QEMU=$QEMU"
echo "IOVH_QEMU_VERSION=$qver"
echo "IOVH_GUEST_KVER=$kver"
echo "IOVH_GUEST_KERNEL=$CACHE/kernel-$kver/vmlinuz"
echo "IOVH_GUEST_INITRD=$initrd"
