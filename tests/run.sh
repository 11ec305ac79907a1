#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Integration tests: runs every tests/test_*.sh against the iovhost PMD
# plugin of a build directory, with dpdk-testpmd.
#
#   tests/run.sh [--build-dir DIR] [--stock] [FILTER]
#
#   --build-dir DIR  build directory (default: <source>/build); the plugin
#                    is DIR/drivers/net/vhost/librte_net_iovhost.so and the
#                    logs go to DIR/tests-logs/
#   --stock          run against Debian's stock net_vhost PMD instead (no
#                    plugin): to check the tests themselves; tests that need
#                    features of ours only are skipped
#   FILTER           run only the tests whose name contains FILTER; a
#                    comma-separated list runs those matching any of them
#
# Prints "PASS name (Ns)", "FAIL name (Ns)" (with the end of its log) or
# "SKIP name (Ns)" per test, then "N passed, N failed[, N skipped]".
# Exit status 1 if a test failed or none ran.
#
# Needs root (hugepages, /run) and free 2 MB hugepages (devtools/setup.sh).
# A test script exits 0 (pass), 77 (skip) or anything else (fail).

set -euo pipefail

SRC_DIR=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=$SRC_DIR/build
STOCK=0
FILTER=
TEST_TIMEOUT=${IOVH_TEST_TIMEOUT:-150}
MIN_FREE_HUGEPAGES=${IOVH_MIN_FREE_HUGEPAGES:-160}
TESTPMD=${TESTPMD:-/usr/bin/dpdk-testpmd}

usage() { sed -n '5,20s/^# \{0,1\}//p' "$0"; exit "${1:-0}"; }
die() { echo "run.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case $1 in
	--build-dir) [ $# -ge 2 ] || usage 1; BUILD_DIR=$2; shift 2 ;;
	--build-dir=*) BUILD_DIR=${1#*=}; shift ;;
	--stock) STOCK=1; shift ;;
	-h|--help) usage 0 ;;
	-*) echo "run.sh: unknown option $1" >&2; usage 1 ;;
	*) [ -z "$FILTER" ] || usage 1; FILTER=$1; shift ;;
	esac
done

[ -d "$BUILD_DIR" ] || die "build directory $BUILD_DIR does not exist (use --build-dir)"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
[ "$(id -u)" = 0 ] || die "must run as root (hugepages, vhost-user sockets under /run)"
[ -x "$TESTPMD" ] || die "$TESTPMD not found (apt-get install dpdk)"
command -v stdbuf > /dev/null || die "stdbuf (coreutils) not found"

# ---- hugepages
hp_size=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)
hp_free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
[ "$hp_size" = 2048 ] || die "default hugepage size is ${hp_size:-?} kB, expected 2048 kB"
if [ "${hp_free:-0}" -lt "$MIN_FREE_HUGEPAGES" ]; then
	die "HugePages_Free is ${hp_free:-0}, need at least $MIN_FREE_HUGEPAGES free 2 MB pages: run devtools/setup.sh, or remove stale files of dead DPDK processes from /dev/hugepages"
fi
awk '$3 == "hugetlbfs" { f = 1 } END { exit !f }' /proc/mounts ||
	die "no hugetlbfs mounted (expected /dev/hugepages): run devtools/setup.sh"

# ---- private directories: EAL refuses -d plugins below a world-writable
# directory, so neither the plugin nor the sockets go to /tmp.
RUN_ROOT=/run/iovhost-tests
RUN_DIR=$RUN_ROOT/$$
mkdir -p -m 0755 "$RUN_ROOT"
chmod 0755 "$RUN_ROOT"
rm -rf "$RUN_DIR"
mkdir -m 0755 "$RUN_DIR"
cleanup() { rm -rf "$RUN_DIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
d=$RUN_DIR
while [ "$d" != / ]; do
	perms=$(stat -c %a "$d")
	[ $(( 0$perms & 02 )) = 0 ] || die "$d is world-writable ($perms): EAL would refuse the plugin"
	d=$(dirname "$d")
done

PLUGIN=
if [ $STOCK = 0 ]; then
	src_plugin=$BUILD_DIR/drivers/net/vhost/librte_net_iovhost.so
	[ -f "$src_plugin" ] || die "$src_plugin not found: build first (ninja -C $BUILD_DIR), or use --stock"
	mkdir -m 0755 "$RUN_DIR/plugin"
	PLUGIN=$RUN_DIR/plugin/librte_net_iovhost.so
	install -m 0644 "$src_plugin" "$PLUGIN"
fi

LOG_ROOT=$BUILD_DIR/tests-logs
mkdir -p "$LOG_ROOT"

echo "iovhost integration tests: $([ $STOCK = 1 ] && echo "STOCK net_vhost PMD" || echo "plugin $src_plugin")"
echo "logs: $LOG_ROOT"
# Other busy-polling processes on these cores slow the two-process tests.
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"

passed=0 failed=0 skipped=0
shopt -s nullglob
for t in "$SRC_DIR"/tests/test_*.sh; do
	name=$(basename "$t" .sh)
	if [ -n "$FILTER" ]; then
		match=0
		IFS=, read -r -a words <<< "$FILTER"
		for w in "${words[@]}"; do
			[ -n "$w" ] && [[ $name == *"$w"* ]] && match=1
		done
		[ $match = 1 ] || continue
	fi
	log=$LOG_ROOT/$name.log
	rm -rf "${LOG_ROOT:?}/$name"
	mkdir -p "$LOG_ROOT/$name"
	start=$(date +%s)
	rc=0
	# A test that needs longer says so in a "# run.sh-timeout: N" line.
	limit=$(sed -n '1,20s/^# run\.sh-timeout: *\([0-9][0-9]*\)$/\1/p' "$t" | head -n1)
	[ -n "$limit" ] && [ "$limit" -gt "$TEST_TIMEOUT" ] || limit=$TEST_TIMEOUT
	IOVH_PLUGIN=$PLUGIN IOVH_BUILD_DIR=$BUILD_DIR IOVH_SRC_DIR=$SRC_DIR \
	IOVH_WORK_DIR=$RUN_DIR IOVH_LOG_DIR=$LOG_ROOT/$name TESTPMD=$TESTPMD \
		timeout -s TERM -k 15 "$limit" bash "$t" > "$log" 2>&1 < /dev/null || rc=$?
	secs=$(( $(date +%s) - start ))
	case $rc in
	0)
		echo "PASS $name (${secs}s)"
		passed=$(( passed + 1 )) ;;
	77)
		echo "SKIP $name (${secs}s): $(grep -m1 'SKIP:' "$log" | sed 's/.*SKIP: //')"
		skipped=$(( skipped + 1 )) ;;
	*)
		why="exit status $rc"
		[ $rc = 124 ] && why="timed out after ${limit}s"
		echo "FAIL $name (${secs}s): $why; log $log, testpmd logs in $LOG_ROOT/$name/"
		tail -n 60 "$log" | sed 's/^/    | /'
		failed=$(( failed + 1 )) ;;
	esac
done

summary="$passed passed, $failed failed"
[ $skipped = 0 ] || summary="$summary, $skipped skipped"
echo "$summary"
[ $failed = 0 ] && [ $(( passed + failed )) -gt 0 ]
