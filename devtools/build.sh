#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Build iovhost: run devtools/setup.sh (unless --no-setup), configure the
# meson build directory (or reconfigure it if it exists) and run ninja.
# The plugin lands in <build>/drivers/net/vhost/librte_net_iovhost.so.
#
# Usage: devtools/build.sh [--no-setup] [-- MESON_OPTION...]
#   --no-setup  do not run setup.sh (packages and headers already present)
#   MESON_OPTION extra options for meson setup, e.g. -Dbuildtype=debug
#
# Environment: IOVH_BUILD_DIR (default build), IOVH_JOBS (ninja -j).

set -euo pipefail

# shellcheck source=devtools/common.sh
. "$(dirname "$(realpath "$0")")/common.sh"

main()
{
	local setup=1
	local -a extra=()
	while (($#)); do
		case $1 in
		--no-setup) setup=0 ;;
		-h|--help)
			sed -n '/^# Usage:/,/^$/p' "$0" | sed 's/^# \{0,1\}//'
			exit 0
			;;
		--) shift; extra=("$@"); break ;;
		-D*) extra+=("$1") ;;
		*) die "unknown argument $1 (see --help)" ;;
		esac
		shift
	done

	if ((setup)); then
		# Building needs no hugepages; the demo and tests reserve them.
		"$IOVH_ROOT/devtools/setup.sh" --no-hugepages
	fi

	local sdk build
	sdk=$(iovh_sdk_dir)
	iovh_sdk_ready "$sdk" ||
		die "DPDK driver-SDK headers missing from $sdk: run devtools/setup.sh"
	build=$(iovh_build_dir)

	cd "$IOVH_ROOT"
	if [[ -f $build/build.ninja ]]; then
		info "reconfiguring $build"
		meson configure "$build" "-Dsdk_include_dir=$sdk" "${extra[@]}" >/dev/null ||
			die "meson configure failed"
	else
		if [[ -d $build/meson-private ]]; then
			# Left half-made by an interrupted setup: start over.
			rm -rf "$build/meson-private" "$build/meson-info" "$build/meson-logs"
		fi
		meson setup "$build" "-Dsdk_include_dir=$sdk" "${extra[@]}" ||
			die "meson setup failed"
	fi

	local -a jobs=()
	[[ -z ${IOVH_JOBS:-} ]] || jobs=(-j "$IOVH_JOBS")
	ninja -C "$build" "${jobs[@]}" || die "build failed"
	[[ -f $build/$IOVH_PLUGIN_SUBPATH ]] ||
		die "build finished but $build/$IOVH_PLUGIN_SUBPATH is missing"
	info "built $build/$IOVH_PLUGIN_SUBPATH"
}

main "$@"
