#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Prepare a Debian 12 machine to build, run and test iovhost:
#   1. install the Debian packages (skipped when all are present),
#   2. reserve 2 MiB hugepages and mount hugetlbfs on /dev/hugepages,
#   3. fetch the DPDK driver-SDK headers for the installed DPDK version.
# Idempotent: a second run changes nothing and takes well under a second.
# Run as root.
#
# Usage: devtools/setup.sh [--no-hugepages] [--hugepages N]
#   --no-hugepages  leave hugepages alone (enough to build)
#   --hugepages N   reserve at least N hugepages (default 1024; never lowers)

set -euo pipefail

# shellcheck source=devtools/common.sh
. "$(dirname "$(realpath "$0")")/common.sh"

# tests/test_ovs.sh and devtools/bench-ovs.sh: OVS with DPDK. Installing it
# leaves the ovs-vswitchd alternative (the system service's binary) on the
# non-DPDK one; the tests run ovs-vswitchd-dpdk by path, with daemons and
# files of their own, next to the system service if it runs.
IOVH_PACKAGES+=(openvswitch-switch-dpdk)

install_packages()
{
	local -a missing
	mapfile -t missing < <(iovh_missing_packages)
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	iovh_is_root || die "packages missing (${missing[*]}): run as root"
	info "installing: ${missing[*]}"
	apt-get -q -o DPkg::Lock::Timeout=300 update || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 \
		--no-install-recommends "${missing[@]}" ||
		die "apt-get install failed"
	mapfile -t missing < <(iovh_missing_packages)
	((${#missing[@]} == 0)) || die "still missing after install: ${missing[*]}"
}

main()
{
	local hp=1024 do_hp=1
	while (($#)); do
		case $1 in
		--no-hugepages) do_hp=0 ;;
		--hugepages)
			[[ ${2:-} =~ ^[0-9]+$ ]] || die "--hugepages needs a number"
			hp=$2
			shift
			;;
		-h|--help)
			sed -n '/^# Usage:/,/^$/p' "$0" | sed 's/^# \{0,1\}//'
			exit 0
			;;
		*) die "unknown argument $1 (see --help)" ;;
		esac
		shift
	done

	[[ -r /etc/debian_version ]] || die "this script supports Debian (12) only"
	install_packages
	if ((do_hp)); then
		iovh_hugepages "$hp"
	fi
	local sdk
	sdk=$("$IOVH_ROOT/devtools/sdk-headers.sh") || die "cannot get the DPDK driver-SDK headers"
	info "ready: DPDK $(iovh_dpdk_version), SDK headers in $sdk"
}

main "$@"
