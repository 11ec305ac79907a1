#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Build the libFuzzer targets (app/fuzz) and run each for a bounded time.
#
# The targets need clang and a build where the library itself carries the
# fuzzer's coverage instrumentation and the sanitizers, so they get a build
# directory of their own (build-fuzz), configured here. Each target starts
# from its working corpus (<build>/fuzz-corpus/<target>, kept between
# runs) plus the seeds in app/fuzz/corpus/<name>. A crash, sanitizer
# report, leak, broken invariant or hang stops the target; the input that
# caused it is kept in <build>/fuzz-artifacts/. Per target one line:
#
#   PASS fuzz_msg: 51234 executions in 30 s (1707/s), corpus 312 inputs
#
# then "N passed, N failed". Exit status 1 if any target failed.
#
# Usage: devtools/fuzz.sh [--seconds N] [--no-build] [TARGET...]
#   --seconds N  run each target for N seconds (default 60)
#   --no-build   use the build directory as it is
#   TARGET       fuzz_msg, fuzz_split and/or fuzz_packed (default: all)
#
# Environment: IOVH_FUZZ_BUILD_DIR (default build-fuzz); IOVH_FUZZ_ARGS
# (more libFuzzer flags, e.g. -jobs=2 -workers=2).
#
# Replay an input (a crash, or a seed to see what it does):
#   IOVH_FUZZ_VERBOSE=1 build-fuzz/app/fuzz/fuzz_msg FILE

set -euo pipefail

# shellcheck source=devtools/common.sh
. "$(dirname "$(realpath "$0")")/common.sh"

FUZZ_TARGETS=(fuzz_msg fuzz_split fuzz_packed)

# Seed directory and largest input of each target.
declare -A FUZZ_SEEDS=([fuzz_msg]=msg [fuzz_split]=split [fuzz_packed]=packed)
declare -A FUZZ_MAX_LEN=([fuzz_msg]=4096 [fuzz_split]=8192 [fuzz_packed]=8192)

fuzz_build_dir()
{
	local b=${IOVH_FUZZ_BUILD_DIR:-build-fuzz}
	[[ $b == /* ]] || b=$IOVH_ROOT/$b
	echo "$b"
}

configure()
{
	local build=$1 sdk
	command -v clang >/dev/null ||
		die "clang is not installed: run devtools/setup.sh"
	sdk=$(iovh_sdk_dir)
	iovh_sdk_ready "$sdk" ||
		die "DPDK driver-SDK headers missing from $sdk: run devtools/setup.sh"
	if [[ -f $build/build.ninja ]]; then
		return 0
	fi
	rm -rf "$build/meson-private" "$build/meson-info" "$build/meson-logs"
	info "configuring $build (clang, libFuzzer, ASan, UBSan)"
	# fuzzer-no-link on everything: coverage feedback from inside the
	# library is the whole point. UBSan findings abort, or the fuzzer
	# would not notice them.
	(cd "$IOVH_ROOT" && CC=clang meson setup "$build" \
		-Dbuildtype=debugoptimized \
		-Db_sanitize=address,undefined -Db_lundef=false \
		"-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined" \
		-Dfuzz=true -Dtests=false -Dfrontend=false \
		"-Dsdk_include_dir=$sdk") >"$build.setup.log" 2>&1 || {
		tail -n 30 "$build.setup.log" >&2
		die "meson setup of $build failed (log: $build.setup.log)"
	}
	rm -f "$build.setup.log"
}

# Value of "stat::NAME: N" in file $2 (0 if absent).
stat_of()
{
	awk -v key="stat::$1:" '$1 == key { v = $2 } END { print v + 0 }' "$2"
}

# run_target BUILD TARGET SECONDS: 0 if the target ran clean.
run_target()
{
	local build=$1 t=$2 secs=$3
	local exe=$build/app/fuzz/$t
	local seeds=$IOVH_ROOT/app/fuzz/corpus/${FUZZ_SEEDS[$t]}
	local corpus=$build/fuzz-corpus/$t
	local art=$build/fuzz-artifacts
	local log=$build/fuzz-logs/$t.log
	local rc=0
	# shellcheck disable=SC2206
	local -a extra=(${IOVH_FUZZ_ARGS:-})

	[[ -x $exe ]] || { echo "FAIL $t: $exe not built"; return 1; }
	mkdir -p "$corpus" "$art" "$(dirname "$log")"
	# A run hard-killed by the time limit below has no clean end; the
	# margin covers start-up and the merge of the seed corpus.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
	TMPDIR=${TMPDIR:-/tmp} \
		timeout -k 10 $((secs + 120)) "$exe" \
		-max_total_time="$secs" -timeout=25 -rss_limit_mb=4096 \
		-max_len="${FUZZ_MAX_LEN[$t]}" -print_final_stats=1 \
		-artifact_prefix="$art/$t-" "${extra[@]}" \
		"$corpus" "$seeds" </dev/null >"$log" 2>&1 || rc=$?

	local runs rate corp
	runs=$(stat_of number_of_executed_units "$log")
	rate=$(stat_of average_exec_per_sec "$log")
	corp=$(find "$corpus" -type f | wc -l)
	if ((rc == 0)); then
		echo "PASS $t: $runs executions in $secs s ($rate/s), corpus $corp inputs"
		return 0
	fi
	local why="exit status $rc"
	((rc == 124 || rc == 137)) && why="did not stop in time"
	echo "FAIL $t: $why after $runs executions; log $log"
	# The report: sanitizer or invariant message and its stack.
	grep -m1 -A40 -E '^==[0-9]+==ERROR|runtime error:|invariant broken|ERROR: libFuzzer' "$log" |
		sed 's/^/    | /' || tail -n 40 "$log" | sed 's/^/    | /'
	grep -E "Test unit written to" "$log" | sed 's/^/    /' || true
	return 1
}

main()
{
	local secs=60 build=1
	local -a targets=()
	while (($#)); do
		case $1 in
		--seconds)
			[[ ${2:-} =~ ^[0-9]+$ && $2 -gt 0 ]] ||
				die "--seconds needs a positive number"
			secs=$2
			shift
			;;
		--no-build) build=0 ;;
		-h|--help)
			sed -n '/^# Usage:/,/^# Replay/p' "$0" | sed '$d; s/^# \{0,1\}//'
			exit 0
			;;
		fuzz_*) targets+=("$1") ;;
		*) die "unknown argument $1 (see --help)" ;;
		esac
		shift
	done
	((${#targets[@]})) || targets=("${FUZZ_TARGETS[@]}")

	local dir
	dir=$(fuzz_build_dir)
	if ((build)); then
		configure "$dir"
		ninja -C "$dir" >"$dir/fuzz-build.log" 2>&1 || {
			tail -n 30 "$dir/fuzz-build.log" >&2
			echo "0 passed, 1 failed"
			die "build of the fuzz targets failed (log: $dir/fuzz-build.log)"
		}
	fi

	local t passed=0 failed=0
	for t in "${targets[@]}"; do
		[[ -n ${FUZZ_SEEDS[$t]:-} ]] || die "no fuzz target named $t"
		info "fuzzing $t for $secs s"
		if run_target "$dir" "$t" "$secs"; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
		fi
	done
	echo "$passed passed, $failed failed"
	((failed == 0))
}

main "$@"
