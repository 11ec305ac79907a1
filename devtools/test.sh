#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# The test command: installs what is missing, reserves hugepages, fetches
# the DPDK driver-SDK headers, builds, runs the unit suites (meson test),
# the unit suite again in an ASan+UBSan build (devtools/sanitize.sh), a
# bounded run of each fuzz target (devtools/fuzz.sh), the guides (doc/,
# any Sphinx warning fails them), then the integration
# tests (tests/run.sh) and a sanitized selection of them (the plugin of the
# ASan+UBSan build in testpmd: probe, loopback, frontend, hostile, about
# 2.5 minutes; see devtools/sanitize.sh), and ends with one line:
#
#   N passed, N failed
#
# counting every meson test (sanitized ones too), every integration test,
# each fuzz target and the guides as one test. Exits non-zero if anything
# failed or if no test ran. Run as root.
#
# Usage: devtools/test.sh [--no-setup] [--unit-only | --integration-only]
#                         [--no-sanitize] [--no-fuzz] [--no-docs]
#                         [--no-sanitize-integration] [-- MESON_TEST_ARG...]
#   --no-setup          do not install packages or fetch headers
#   --unit-only         skip tests/run.sh (both runs)
#   --integration-only  skip meson test, sanitized unit tests, fuzzing and
#                       the guides
#   --no-sanitize       skip everything that needs the sanitized build
#   --no-fuzz           skip the fuzz targets
#   --no-docs           skip building the guides
#   --no-sanitize-integration  skip the sanitized integration run
#                       (--sanitize-integration, once needed to ask for it,
#                       is still accepted)
#   MESON_TEST_ARG      passed to meson test, e.g. --suite fast
#
# Environment: IOVH_BUILD_DIR (default build; the sanitized and fuzz
# builds go to the same path with -asan and -fuzz appended);
# IOVH_INTEGRATION_TIMEOUT (seconds for tests/run.sh, default 3600);
# IOVH_FUZZ_SECONDS (per fuzz target, default 30); IOVH_SANITIZE_TESTS
# (the sanitized integration tests, see devtools/sanitize.sh). tests/run.sh gets
# IOVH_ROOT, IOVH_BUILD_DIR (absolute) and IOVH_PLUGIN (a path EAL
# accepts for -d).

set -euo pipefail

# shellcheck source=devtools/common.sh
. "$(dirname "$(realpath "$0")")/common.sh"

PASSED=0
FAILED=0

finish()
{
	echo "$PASSED passed, $FAILED failed"
	if ((FAILED > 0 || PASSED == 0)); then
		((PASSED > 0)) || echo "test.sh: no test passed" >&2
		exit 1
	fi
	exit 0
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
	local build=$1
	shift
	local out=$build/test-unit.log
	local rc=0
	info "unit tests: meson test -C $build"
	meson test -C "$build" --print-errorlogs "$@" 2>&1 | tee "$out" || rc=$?

	local ok xfail fail xpass timeout
	ok=$(meson_count "Ok" "$out")
	xfail=$(meson_count "Expected Fail" "$out")
	fail=$(meson_count "Fail" "$out")
	xpass=$(meson_count "Unexpected Pass" "$out")
	timeout=$(meson_count "Timeout" "$out")
	local p=$((ok + xfail)) f=$((fail + xpass + timeout))
	if ((rc != 0 && f == 0)); then
		# meson itself failed (rebuild error, bad --suite...).
		warn "meson test exited with status $rc"
		f=1
	fi
	if grep -q '^No tests defined' "$out"; then
		warn "no unit test is registered in meson"
	fi
	info "unit tests: $p passed, $f failed"
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
}

run_integration()
{
	local build=$1
	local runner=$IOVH_ROOT/tests/run.sh
	if [[ ! -f $runner ]]; then
		warn "tests/run.sh does not exist: no integration tests"
		return 0
	fi
	local out=$build/test-integration.log
	local limit=${IOVH_INTEGRATION_TIMEOUT:-3600}
	local plugin rc=0
	plugin=$(iovh_plugin_path "$build")
	info "integration tests: tests/run.sh"
	IOVH_ROOT=$IOVH_ROOT IOVH_BUILD_DIR=$build IOVH_PLUGIN=$plugin \
		timeout -k 30 "$limit" bash "$runner" --build-dir "$build" </dev/null 2>&1 | tee "$out" || rc=$?

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
		if ((rc == 124 || rc == 137)); then
			warn "tests/run.sh timed out after ${limit}s"
			f=$((f + 1))
		elif ((rc != 0 && f == 0)); then
			warn "tests/run.sh exited with status $rc but reported no failure"
			f=1
		fi
	fi
	info "integration tests: $p passed, $f failed"
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
}

# run_counted NAME LOG COMMAND...: run a script that ends with
# "N passed, N failed" and add its counts.
run_counted()
{
	local name=$1 out=$2 rc=0 line p f
	shift 2
	info "$name: $*"
	"$@" </dev/null 2>&1 | tee "$out" || rc=$?
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n1) || true
	if [[ -z $line ]]; then
		warn "$name printed no 'N passed, N failed' line (status $rc)"
		p=0 f=1
	else
		p=${line%% passed*}
		f=${line#*passed, }
		f=${f%% failed*}
		if ((rc != 0 && f == 0)); then
			warn "$name exited with status $rc but reported no failure"
			f=1
		fi
	fi
	info "$name: $p passed, $f failed"
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
}

# Debian's Sphinx and its Read the Docs theme, for the guides. Not in
# IOVH_PACKAGES: only this step needs them, building does not.
DOC_PACKAGES=(python3-sphinx python3-sphinx-rtd-theme)

# run_docs BUILD SETUP: build the guides with the build directory's 'doc'
# target (sphinx-build -W --keep-going -n: any warning or unresolved
# reference fails it, and all of them are listed). One test. Installs the
# packages first if SETUP is 1 and some are missing.
run_docs()
{
	local build=$1 setup=$2 out=$1/test-docs.log rc=0 p st
	local -a missing=()
	: >"$out"
	for p in "${DOC_PACKAGES[@]}"; do
		st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || st=
		[[ $st == installed ]] || missing+=("$p")
	done
	if ((${#missing[@]} > 0)); then
		if ((setup)); then
			info "docs: installing ${missing[*]}"
			# Without an update first when the lists are current
			# enough; with one when they are not.
			{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				-o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" ||
			  { apt-get -q -o DPkg::Lock::Timeout=300 update &&
			    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				-o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}"; }
			} >>"$out" 2>&1 || rc=$?
		else
			warn "docs: ${missing[*]} not installed (--no-setup)"
			rc=1
		fi
	fi
	# The target exists only if meson found sphinx-build when it last
	# configured the build directory.
	if ((rc == 0)) && ! ninja -C "$build" -t targets all 2>/dev/null | grep -q '^doc: '; then
		info "docs: reconfiguring $build to find sphinx-build"
		meson setup --reconfigure "$build" "$IOVH_ROOT" >>"$out" 2>&1 || rc=$?
	fi
	if ((rc == 0)); then
		info "docs: ninja -C $build doc"
		ninja -C "$build" doc 2>&1 | tee -a "$out" || rc=$?
	fi
	if ((rc == 0)); then
		info "docs: 1 passed, 0 failed ($build/doc/html/index.html)"
		PASSED=$((PASSED + 1))
	else
		warn "docs: the guides do not build cleanly (log $out)"
		tail -n 20 "$out" >&2
		info "docs: 0 passed, 1 failed"
		FAILED=$((FAILED + 1))
	fi
}

main()
{
	local setup=1 unit=1 integ=1 sanitize=1 fuzz=1 san_integ=1 docs=1
	local -a meson_args=()
	while (($#)); do
		case $1 in
		--no-setup) setup=0 ;;
		--unit-only) integ=0 ;;
		--integration-only) unit=0 ;;
		--no-sanitize) sanitize=0 ;;
		--no-fuzz) fuzz=0 ;;
		--no-docs) docs=0 ;;
		--sanitize-integration) san_integ=1 ;;
		--no-sanitize-integration) san_integ=0 ;;
		-h|--help)
			sed -n '/^# Usage:/,/^# Environment/p' "$0" | sed 's/^# \{0,1\}//'
			exit 0
			;;
		--) shift; meson_args=("$@"); break ;;
		*) die "unknown argument $1 (see --help)" ;;
		esac
		shift
	done

	if ((setup)); then
		if ! "$IOVH_ROOT/devtools/setup.sh"; then
			warn "set-up failed"
			FAILED=1
			finish
		fi
	else
		iovh_hugepages 1024
	fi
	if ! "$IOVH_ROOT/devtools/build.sh" --no-setup; then
		warn "build failed"
		FAILED=1
		finish
	fi

	local build
	build=$(iovh_build_dir)
	# Next to the main build, so that test runs on different build
	# directories do not share them either.
	export IOVH_ASAN_BUILD_DIR=${IOVH_ASAN_BUILD_DIR:-$build-asan}
	export IOVH_FUZZ_BUILD_DIR=${IOVH_FUZZ_BUILD_DIR:-$build-fuzz}
	((unit)) && run_unit "$build" "${meson_args[@]}"
	((unit && sanitize)) && run_counted "sanitized unit tests" \
		"$build/test-asan-unit.log" "$IOVH_ROOT/devtools/sanitize.sh" --unit-only
	((unit && fuzz)) && run_counted "fuzzing" "$build/test-fuzz.log" \
		"$IOVH_ROOT/devtools/fuzz.sh" --seconds "${IOVH_FUZZ_SECONDS:-30}"
	((unit && docs)) && run_docs "$build" "$setup"
	((integ)) && run_integration "$build"
	((integ && sanitize && san_integ)) && run_counted "sanitized integration tests" \
		"$build/test-asan-integration.log" \
		"$IOVH_ROOT/devtools/sanitize.sh" --integration-only
	finish
}

main "$@"
