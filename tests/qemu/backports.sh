#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Provide a newer QEMU than Debian 12's 7.2 for tests/test_migration.sh:
# with 7.2 the destination guest of a live migration crashed in 2 of 9
# runs here, QEMU 10 from bookworm-backports never did.
#
# The packages qemu-system-x86, qemu-system-common, qemu-system-data and
# seabios are fetched from <codename>-backports with "apt-get download"
# through a private source list and a private apt state directory (the
# system's apt configuration is not touched, signatures are checked with
# the system's trusted keys), then unpacked with "dpkg -x" (never
# installed).  The result is cached in
#   $IOVH_QEMU_CACHE/backports-<version>/   (default /var/cache/iovhost/qemu)
# and reused; concurrent calls are serialised with a lock file.  The
# libraries QEMU links against come from the system (Debian 12's own
# libraries satisfy the backport); the binary is checked to run.
#
# Usage: tests/qemu/backports.sh [--force]
#
# Prints on stdout, one KEY=VALUE per line (nothing else goes to stdout):
#   IOVH_QEMU=<cache>/backports-<ver>/usr/bin/qemu-system-x86_64
#   IOVH_QEMU_VERSION=10.0.x
#   IOVH_QEMU_FW=<dir>:<dir>   firmware directories, one -L each
# Progress and errors go to stderr.  Exit status 0 when all is ready.
#
# Environment: IOVH_QEMU_CACHE, IOVH_DEBIAN_MIRROR
# (default http://deb.debian.org/debian).

set -euo pipefail

CACHE=${IOVH_QEMU_CACHE:-/var/cache/iovhost/qemu}
PACKAGES=(qemu-system-x86 qemu-system-common qemu-system-data seabios)

say() { echo "backports.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

FORCE=0
while [ $# -gt 0 ]; do
	case $1 in
	--force) FORCE=1; shift ;;
	-h|--help) sed -n '4,29s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) die "unknown argument $1 (see --help)" ;;
	esac
done

[ "$(id -u)" = 0 ] || die "must run as root (the cache in $CACHE)"
command -v apt-get > /dev/null || die "apt-get not found: this needs Debian"

# A cached tree is complete when its QEMU runs and knows its version.
tree_version() {
	local q=$1/usr/bin/qemu-system-x86_64
	[ -x "$q" ] || return 1
	[ -s "$1/usr/share/seabios/bios-256k.bin" ] || return 1
	"$q" -L "$1/usr/share/seabios" -L "$1/usr/share/qemu" --version 2>/dev/null |
		sed -n '1s/^QEMU emulator version \([^ ]*\).*/\1/p'
}

emit() {
	local tree=$1 ver=$2
	echo "IOVH_QEMU=$tree/usr/bin/qemu-system-x86_64"
	echo "IOVH_QEMU_VERSION=$ver"
	echo "IOVH_QEMU_FW=$tree/usr/share/seabios:$tree/usr/share/qemu"
}

mkdir -p "$CACHE"
exec {lockfd}> "$CACHE/.backports.lock"
flock -w 600 "$lockfd" || die "could not lock $CACHE/.backports.lock within 600 s"

if [ $FORCE = 0 ]; then
	best=
	for d in "$CACHE"/backports-*; do
		[ -d "$d" ] || continue
		v=$(tree_version "$d") || continue
		[ -n "$v" ] || continue
		best=$d
	done
	if [ -n "$best" ]; then
		emit "$best" "$(tree_version "$best")"
		exit 0
	fi
fi

codename=
[ -r /etc/os-release ] && codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$codename" ] || codename=bookworm
mirror=${IOVH_DEBIAN_MIRROR:-http://deb.debian.org/debian}

work=$(mktemp -d "$CACHE/.backports.XXXXXX")
# shellcheck disable=SC2064
trap "rm -rf '$work'" EXIT
mkdir -p "$work/state/lists/partial" "$work/cache/archives/partial" "$work/debs"
printf 'deb %s %s main\ndeb %s %s-backports main\n' \
	"$mirror" "$codename" "$mirror" "$codename" > "$work/sources.list"
opts=(
	-o "Dir::Etc::SourceList=$work/sources.list"
	-o "Dir::Etc::SourceParts=/dev/null"
	-o "Dir::State=$work/state"
	-o "Dir::Cache=$work/cache"
	-o "Dir::State::status=/var/lib/dpkg/status"
	-o "APT::Sandbox::User=root"
	-o "Acquire::Retries=3"
	-q
)
say "reading the $codename-backports index"
apt-get "${opts[@]}" update > "$work/update.log" 2>&1 || {
	cat "$work/update.log" >&2
	die "cannot read $codename-backports from $mirror"
}
pkgs=()
for p in "${PACKAGES[@]}"; do
	pkgs+=("$p/$codename-backports")
done
say "downloading ${pkgs[*]}"
(cd "$work/debs" && apt-get "${opts[@]}" download "${pkgs[@]}") >&2 ||
	die "cannot download ${pkgs[*]}"
ver=
for f in "$work"/debs/*.deb; do
	say "unpacking $(basename "$f")"
	dpkg -x "$f" "$work/tree"
	case $(basename "$f") in
	qemu-system-x86_*) ver=$(dpkg-deb -f "$f" Version) ;;
	esac
done
[ -n "$ver" ] || die "no qemu-system-x86 package was downloaded"
v=$(tree_version "$work/tree") || true
if [ -z "$v" ]; then
	"$work/tree/usr/bin/qemu-system-x86_64" --version >&2 || true
	die "the backported QEMU ($ver) does not run here (missing libraries?)"
fi
dest=$CACHE/backports-${ver//[^A-Za-z0-9.+~-]/_}
rm -rf "$dest"
mv "$work/tree" "$dest"
say "QEMU $v ($ver) cached in $dest"
emit "$dest" "$v"
