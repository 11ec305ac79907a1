#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Set up what tests/test_migration.sh needs on top of tests/qemu/prepare.sh:
#
#  - the guest kernel and initramfs of prepare.sh (QEMU 7.2, busybox, the
#    Debian cloud kernel), plus a second cpio archive appended to that
#    initramfs with tests/qemu/migration-init as /migration-init (the
#    kernel unpacks both; the test boots with rdinit=/migration-init) and
#    tests/qemu/echohold.c, built static with the host's gcc, as
#    /bin/echohold;
#  - QEMU 10 from bookworm-backports (tests/qemu/backports.sh), unless
#    IOVH_MIGRATION_QEMU=system asks for Debian 12's own QEMU.
#
# Everything is cached in $IOVH_QEMU_CACHE (default /var/cache/iovhost/qemu).
#
# Usage: tests/qemu/migration.sh
# Prints on stdout the KEY=VALUE lines of prepare.sh and backports.sh (the
# QEMU ones of backports.sh win; IOVH_QEMU_FW is empty for the system
# QEMU), with IOVH_GUEST_INITRD replaced by the migration initramfs.

set -euo pipefail

HERE=$(cd "$(dirname "$(realpath "$0")")" && pwd)
CACHE=${IOVH_QEMU_CACHE:-/var/cache/iovhost/qemu}

say() { echo "migration.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

declare -A V=()
while IFS='=' read -r k v; do
	[[ $k == IOVH_* ]] && V[$k]=$v
done < <(bash "$HERE/prepare.sh") || true
[ -r "${V[IOVH_GUEST_INITRD]:-}" ] || die "prepare.sh provided no initramfs"
V[IOVH_QEMU_FW]=
if [ "${IOVH_MIGRATION_QEMU:-backports}" != system ]; then
	while IFS='=' read -r k v; do
		[[ $k == IOVH_* ]] && V[$k]=$v
	done < <(bash "$HERE/backports.sh") || true
	[ -n "${V[IOVH_QEMU_FW]}" ] || die "backports.sh provided no QEMU"
fi

base=${V[IOVH_GUEST_INITRD]}
command -v gcc > /dev/null || die "gcc is needed to build echohold"
hash=$(cat "$base" "$HERE/migration-init" "$HERE/echohold.c" "$0" | sha256sum | cut -c1-12)
out=$CACHE/migration-initramfs-$hash.cpio.gz
if [ ! -s "$out" ]; then
	work=$(mktemp -d "$CACHE/.migration.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" EXIT
	mkdir -p "$work/root/bin"
	install -m 0755 "$HERE/migration-init" "$work/root/migration-init"
	gcc -static -O2 -Wall -o "$work/root/bin/echohold" "$HERE/echohold.c" >&2 ||
		die "cannot build echohold (static glibc: libc6-dev)"
	# Concatenated archives are one initramfs to the kernel.
	{ cat "$base"; (cd "$work/root" && printf '%s\n' migration-init bin/echohold |
		cpio -o -H newc -R 0:0 --quiet | gzip -9); } > "$work/initrd"
	mv "$work/initrd" "$out"
	rm -rf "$work"
	trap - EXIT
	for f in "$CACHE"/migration-initramfs-*.cpio.gz; do
		[ "$f" = "$out" ] || rm -f "$f"
	done
	say "initramfs built: $out"
fi
V[IOVH_GUEST_INITRD]=$out
for k in IOVH_QEMU IOVH_QEMU_VERSION IOVH_QEMU_FW IOVH_GUEST_KVER \
	IOVH_GUEST_KERNEL IOVH_GUEST_INITRD; do
	echo "$k=${V[$k]:-}"
done
