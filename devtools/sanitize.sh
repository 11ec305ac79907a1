#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Run the tests against an AddressSanitizer + UndefinedBehaviorSanitizer
# build: the unit suite (meson test --suite unit) and then, as root, the
# integration tests (tests/run.sh) with the sanitized plugin loaded into
# Debian's dpdk-testpmd. Ends with "N passed, N failed" over both; exit
# status 1 if anything failed or nothing ran.
#
# The build directory is its own (build-asan), configured here with gcc:
# the plugin then needs gcc's shared libasan, which testpmd (not built
# with ASan) gets through LD_PRELOAD from a wrapper script, since the ASan
# runtime must be the first library in the process. The sanitizers report
# on stderr, which is in each testpmd log; a report there fails the run
# even if the test itself passed. Leak detection is on for the unit tests
# and off in testpmd: an uninstrumented program that exits without freeing
# everything is not our leak. tests/run.sh and the tests see
# IOVH_SANITIZED=1: the ASan allocator maps memory as it goes, so a test
# that counts a process's mappings should not expect them to stay put.
#
# The integration tests run are those whose checks hold at ASan speed
# (IOVH_SANITIZE_TESTS, default probe,loopback,frontend,hostile: about
# 2.5 minutes). The others assert packet counts reached in a fixed time
# (client_mode, queues, restart), which an ASan build, 2-3 times slower, on
# a shared 2-core machine does not reach, or boot a TCG guest
# (qemu_iommu) that takes longer than the per-test limit; all: every test.
#
# Usage: devtools/sanitize.sh [--no-build] [--unit-only | --integration-only]
#                             [-- MESON_TEST_ARG...]
#   --no-build          use the build directory as it is
#   --unit-only         skip the integration tests
#   --integration-only  skip the unit tests
#
# Environment: IOVH_ASAN_BUILD_DIR (default build-asan); IOVH_ASAN_CC
# (default gcc; with clang, the integration tests are skipped: its ASan
# runtime is linked into executables, not preloadable into testpmd);
# IOVH_INTEGRATION_TIMEOUT (seconds for tests/run.sh, default 3600);
# IOVH_SANITIZE_TESTS (integration tests to run, comma-separated names as
# tests/run.sh takes them, or "all").

set -euo pipefail

# shellcheck source=devtools/common.sh
. "$(dirname "$(realpath "$0")")/common.sh"

PASSED=0
FAILED=0

asan_build_dir()
{
	local b=${IOVH_ASAN_BUILD_DIR:-build-asan}
	[[ $b == /* ]] || b=$IOVH_ROOT/$b
	echo "$b"
}

build()
{
	local dir=$1 cc=$2 sdk
	sdk=$(iovh_sdk_dir)
	iovh_sdk_ready "$sdk" ||
		die "DPDK driver-SDK headers missing from $sdk: run devtools/setup.sh"
	if [[ ! -f $dir/build.ninja ]]; then
		rm -rf "$dir/meson-private" "$dir/meson-info" "$dir/meson-logs"
		info "configuring $dir ($cc, ASan, UBSan)"
		# b_lundef=false: a sanitized shared object leaves the runtime's
		# symbols to the executable (or LD_PRELOAD).
		(cd "$IOVH_ROOT" && CC=$cc meson setup "$dir" \
			-Dbuildtype=debugoptimized \
			-Db_sanitize=address,undefined -Db_lundef=false \
			"-Dsdk_include_dir=$sdk") >"$dir.setup.log" 2>&1 || {
			tail -n 30 "$dir.setup.log" >&2
			die "meson setup of $dir failed (log: $dir.setup.log)"
		}
		rm -f "$dir.setup.log"
	fi
	ninja -C "$dir" >"$dir/asan-build.log" 2>&1 || {
		tail -n 30 "$dir/asan-build.log" >&2
		return 1
	}
}

# Value of a meson summary line "Name:   N" in file $2.
meson_count()
{
	awk -v key="$1:" '
	index($0, key) == 1 {
		v = substr($0, length(key) + 1)
		gsub(/[^0-9]/, "", v)
		print v + 0
		found = 1
		exit
	}
	END { if (!found) print 0 }' "$2"
}

run_unit()
{
	local dir=$1
	shift
	local out=$dir/asan-unit.log rc=0
	info "sanitized unit tests: meson test -C $dir --suite unit"
	# Explicit, so that meson's own defaults (abort_on_error) do not
	# turn a report into a bare SIGABRT.
	ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:print_summary=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:print_summary=1 \
		meson test -C "$dir" --suite unit --print-errorlogs "$@" 2>&1 |
		tee "$out" || rc=$?
	local p f
	p=$(( $(meson_count "Ok" "$out") + $(meson_count "Expected Fail" "$out") ))
	f=$(( $(meson_count "Fail" "$out") + $(meson_count "Unexpected Pass" "$out") +
		$(meson_count "Timeout" "$out") ))
	if ((rc != 0 && f == 0)); then
		warn "meson test exited with status $rc"
		f=1
	fi
	info "sanitized unit tests: $p passed, $f failed"
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
}

# A dpdk-testpmd that starts with the ASan runtime of the compiler that
# built the plugin; printed path is that of the wrapper.
testpmd_wrapper()
{
	local dir=$1 cc=$2 lib w=$1/dpdk-testpmd-asan
	lib=$("$cc" -print-file-name=libasan.so)
	[[ $lib == /* && -e $lib ]] || return 1
	lib=$(realpath "$lib")
	cat >"$w" <<-EOF
	#!/bin/sh
	# Written by devtools/sanitize.sh: dpdk-testpmd with the ASan runtime
	# first in the process, for a plugin built with -fsanitize=address.
	LD_PRELOAD="$lib\${LD_PRELOAD:+:\$LD_PRELOAD}"
	ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:print_summary=1\${ASAN_OPTIONS:+:\$ASAN_OPTIONS}"
	UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:print_summary=1\${UBSAN_OPTIONS:+:\$UBSAN_OPTIONS}"
	export LD_PRELOAD ASAN_OPTIONS UBSAN_OPTIONS
	exec ${IOVH_TESTPMD} "\$@"
	EOF
	chmod 0755 "$w"
	echo "$w"
}

run_integration()
{
	local dir=$1 cc=$2
	local runner=$IOVH_ROOT/tests/run.sh
	if [[ ! -f $runner ]]; then
		warn "tests/run.sh does not exist: no integration tests"
		return 0
	fi
	if ! iovh_is_root; then
		warn "not root: sanitized integration tests skipped"
		return 0
	fi
	if [[ $(basename "$cc") != gcc* ]]; then
		warn "integration tests need a gcc build (preloadable libasan): skipped"
		return 0
	fi
	local wrapper
	wrapper=$(testpmd_wrapper "$dir" "$cc") || {
		warn "no shared libasan from $cc: sanitized integration tests skipped"
		return 0
	}
	# Does testpmd start at all with the sanitized plugin?
	local probe=$dir/asan-probe.log plugin
	plugin=$(iovh_plugin_path "$dir")
	if ! timeout 60 "$wrapper" --no-huge -m 256 --no-pci --no-shconf \
			-d "$plugin" --vdev "net_vhost0,iface=$dir/probe.sock" \
			--log-level=pmd.net.vhost,info -- --no-mlockall \
			--total-num-mbufs=2048 \
			>"$probe" 2>&1 <<<''; then
		warn "dpdk-testpmd does not start with the sanitized plugin; log $probe:"
		tail -n 20 "$probe" >&2
		FAILED=$((FAILED + 1))
		return 0
	fi
	rm -f "$dir/probe.sock"

	local out=$dir/asan-integration.log rc=0
	local limit=${IOVH_INTEGRATION_TIMEOUT:-3600}
	local tests=${IOVH_SANITIZE_TESTS:-probe,loopback,frontend,hostile}
	local -a filter=()
	[[ $tests == all ]] || filter=("$tests")
	rm -rf "$dir/tests-logs"
	info "sanitized integration tests: tests/run.sh --build-dir $dir ${filter[*]}"
	IOVH_ROOT=$IOVH_ROOT IOVH_BUILD_DIR=$dir IOVH_PLUGIN=$plugin \
	TESTPMD=$wrapper IOVH_SANITIZED=1 \
		timeout -k 30 "$limit" bash "$runner" --build-dir "$dir" \
		"${filter[@]}" </dev/null 2>&1 | tee "$out" || rc=$?

	local line p=0 f=0
	line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$out" | tail -n1) || true
	if [[ -z $line ]]; then
		warn "tests/run.sh printed no 'N passed, N failed' line (status $rc)"
		f=1
	else
		line=${line#*: }
		p=${line%% passed*}
		f=${line#*passed, }
		f=${f%% failed*}
		if ((rc != 0 && f == 0)); then
			warn "tests/run.sh exited with status $rc but reported no failure"
			f=1
		fi
	fi
	# A report in a testpmd log fails the run even if its test passed
	# (the sanitizer may have fired after the test's last check).
	local reports
	reports=$(grep -rlE '^==[0-9]+==ERROR: |runtime error: |^SUMMARY: (Address|UndefinedBehavior|Leak)Sanitizer' \
		"$dir/tests-logs" 2>/dev/null) || true
	if [[ -n $reports ]]; then
		warn "sanitizer reports in:"
		sed 's/^/    /' <<<"$reports" >&2
		local r
		while read -r r; do
			grep -m1 -A30 -E '^==[0-9]+==ERROR: |runtime error: ' "$r" |
				sed 's/^/    | /' >&2 || true
		done <<<"$reports"
		f=$((f + 1))
	fi
	info "sanitized integration tests: $p passed, $f failed"
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
}

main()
{
	local do_build=1 unit=1 integ=1
	local -a meson_args=()
	while (($#)); do
		case $1 in
		--no-build) do_build=0 ;;
		--unit-only) integ=0 ;;
		--integration-only) unit=0 ;;
		-h|--help)
			sed -n '/^# Usage:/,/^# Environment/p' "$0" | sed '$d; s/^# \{0,1\}//'
			exit 0
			;;
		--) shift; meson_args=("$@"); break ;;
		*) die "unknown argument $1 (see --help)" ;;
		esac
		shift
	done

	local dir cc=${IOVH_ASAN_CC:-gcc}
	dir=$(asan_build_dir)
	command -v "$cc" >/dev/null || die "$cc not found"
	if ((do_build)) && ! build "$dir" "$cc"; then
		warn "sanitized build failed (log: $dir/asan-build.log)"
		echo "0 passed, 1 failed"
		exit 1
	fi
	((unit)) && run_unit "$dir" "${meson_args[@]}"
	((integ)) && run_integration "$dir" "$cc"
	echo "$PASSED passed, $FAILED failed"
	((FAILED == 0 && PASSED > 0))
}

main "$@"
