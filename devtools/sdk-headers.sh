#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Fetch the DPDK driver-SDK headers that Debian's libdpdk-dev leaves out
# (ethdev_driver.h, ethdev_vdev.h, bus_vdev_driver.h, dev_driver.h) from the
# Debian source package of the installed DPDK version, and cache them in
# /var/cache/iovhost/sdk-<version>/include. Prints that directory.
#
# The system's apt configuration is not touched: the source index is read
# through a private source list and a private apt state directory, both
# removed on exit. Package signatures are still checked with the system's
# trusted keys.
#
# Usage: devtools/sdk-headers.sh [--force] [VERSION]
#   VERSION  Debian version of dpdk (default: installed libdpdk-dev)
#   --force  fetch again even if the headers are cached
#
# Environment: IOVH_SDK_CACHE (default /var/cache/iovhost).

set -euo pipefail

# shellcheck source=devtools/common.sh
. "$(dirname "$(realpath "$0")")/common.sh"

usage()
{
	sed -n '/^# Usage:/,/^# Environment/p' "$0" | sed 's/^# \{0,1\}//'
}

# The apt sources for the source index: this release's main, updates and
# security suites.
write_source_list()
{
	local codename=
	if [[ -r /etc/os-release ]]; then
		codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	fi
	[[ -n $codename ]] || codename=bookworm
	local mirror=${IOVH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
	local security=${IOVH_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
	printf 'deb-src %s %s main\n' "$mirror" "$codename" "$mirror" "$codename-updates" \
		>"$1"
	printf 'deb-src %s %s-security main\n' "$security" "$codename" >>"$1"
}

# Extract the headers from the source files downloaded in $1 into $2,
# applying Debian's patches if any of them touches one of the headers.
extract_headers()
{
	local work=$1 dest=$2
	local orig debian
	orig=$(compgen -G "$work/dpdk_*.orig.tar.*" | head -n1) || true
	[[ -n $orig ]] || die "no dpdk orig tarball was downloaded into $work"
	debian=$(compgen -G "$work/dpdk_*.debian.tar.*" | head -n1) || true

	local -a wild=()
	local h
	for h in "${IOVH_SDK_HEADERS[@]}"; do
		wild+=("*/$h")
	done

	local tree=$work/tree
	mkdir -p "$tree"
	tar xf "$orig" -C "$tree" --strip-components=1 --wildcards "${wild[@]}" ||
		die "cannot extract the headers from $orig"

	if [[ -n $debian ]]; then
		mkdir -p "$work/deb"
		tar xf "$debian" -C "$work/deb"
		local series=$work/deb/debian/patches/series p touched=0
		if [[ -f $series ]]; then
			for h in "${IOVH_SDK_HEADERS[@]}"; do
				if grep -qsF -- "$h" "$work"/deb/debian/patches/*; then
					touched=1
				fi
			done
		fi
		if (( touched )) || [[ -n ${IOVH_SDK_FORCE_PATCH:-} ]]; then
			# A patch changes a header: unpack the whole tree and
			# apply the series, as dpkg-source would.
			info "Debian patches touch the SDK headers: applying them"
			rm -rf "$tree" && mkdir -p "$tree"
			tar xf "$orig" -C "$tree" --strip-components=1
			while read -r p _; do
				[[ -n $p && $p != \#* ]] || continue
				patch -d "$tree" -p1 -s -f --no-backup-if-mismatch \
					-i "$work/deb/debian/patches/$p" >/dev/null ||
					die "Debian patch $p does not apply"
			done <"$series"
		fi
	fi

	local stage=$dest.new.$$
	rm -rf "$stage"
	mkdir -p "$stage"
	for h in "${IOVH_SDK_HEADERS[@]}"; do
		[[ -s $tree/$h ]] || die "$h is missing from the DPDK source"
		install -m 0644 "$tree/$h" "$stage/"
	done
	rm -rf "$dest"
	mv "$stage" "$dest"
}

main()
{
	local force=0 ver=
	while (($#)); do
		case $1 in
		--force) force=1 ;;
		-h|--help) usage; exit 0 ;;
		-*) die "unknown option $1 (see --help)" ;;
		*) [[ -z $ver ]] || die "only one VERSION may be given"; ver=$1 ;;
		esac
		shift
	done
	[[ -n $ver ]] || ver=$(iovh_dpdk_version)

	local dest
	dest=$(iovh_sdk_dir "$ver")
	if (( !force )) && iovh_sdk_ready "$dest"; then
		echo "$dest"
		return 0
	fi

	iovh_is_root || [[ -w $(dirname "$IOVH_SDK_CACHE") || -w $IOVH_SDK_CACHE ]] ||
		die "cannot write $IOVH_SDK_CACHE: run as root or set IOVH_SDK_CACHE"
	command -v apt-get >/dev/null || die "apt-get not found: this needs Debian"

	info "fetching DPDK $ver driver-SDK headers from the Debian source package"
	local work
	work=$(mktemp -d "${TMPDIR:-/tmp}/iovh-sdk.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" EXIT

	mkdir -p "$work/state/lists/partial" "$work/cache/archives/partial"
	write_source_list "$work/src.list"
	local -a opts=(
		-o "Dir::Etc::SourceList=$work/src.list"
		-o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::State=$work/state"
		-o "Dir::Cache=$work/cache"
		-o "Dir::State::status=/var/lib/dpkg/status"
		-o "APT::Sandbox::User=root"
		-o "Acquire::Retries=3"
		-q
	)
	apt-get "${opts[@]}" update >"$work/update.log" 2>&1 || {
		cat "$work/update.log" >&2
		die "cannot read the Debian source index (network to deb.debian.org?)"
	}

	if ! (cd "$work" && apt-get "${opts[@]}" source --download-only "dpdk=$ver") \
		>"$work/source.log" 2>&1; then
		# The exact version may have left the mirror after a point
		# release. The driver headers do not change within an LTS
		# series in ways that matter to a PMD, so take the newest
		# source of the same upstream series, and say so.
		local series=${ver%%-*} alt
		series=$(echo "$series" | cut -d. -f1-2)
		alt=$(apt-cache "${opts[@]}" showsrc dpdk 2>/dev/null |
			awk '/^Version:/ { print $2 }' | grep -F "$series." |
			sort -V | tail -n1) || true
		[[ -n $alt ]] || {
			cat "$work/source.log" >&2
			die "Debian source package dpdk=$ver not found on the mirror"
		}
		warn "dpdk source $ver is not on the mirror; using $alt (same $series series)"
		(cd "$work" && apt-get "${opts[@]}" source --download-only "dpdk=$alt") \
			>"$work/source.log" 2>&1 || {
			cat "$work/source.log" >&2
			die "cannot download the Debian source package dpdk=$alt"
		}
	fi

	mkdir -p "$(dirname "$dest")"
	extract_headers "$work" "$dest"
	iovh_sdk_ready "$dest" || die "headers missing from $dest after extraction"
	info "driver-SDK headers cached in $dest"
	echo "$dest"
}

main "$@"
