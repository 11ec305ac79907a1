#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# IOMMU benchmark (issue #4): testpmd loops its vhost port back to itself,
# iovhost-frontend plays the guest with an emulated IOMMU, 64-byte frames,
# one forwarding lcore. Three A/B comparisons, each run in alternating
# order (A B, B A, ...) and reported as the median of the rounds:
#
#   prefault   ours, every buffer mapped up front (4 KiB pages), against
#              ours with the IOMMU off                  target: >= 95 %
#   strict     ours against the stock PMD, each buffer mapped when posted
#              and invalidated when returned            target: >= 2x
#   table      ours, IOTLB holding ~64k entries (iotlb-entries=65536,
#              front-end --iotlb-fill) against one holding only the
#              working set (iotlb-entries=64; 2 MiB pages, ~16 entries)
#                                                       target: <= 10 % cost
#
# Metric: Mpps per busy CPU-second of the forwarding lcore thread: the
# packets the port delivered to the guest in the window, over that
# thread's utime+stime in the window less the time its empty polls took
# (the back-end often waits for the front-end; testpmd counts empty polls,
# and what one costs is measured before the guest connects). A test whose
# runs spent more than 80 % idle gets no verdict ("inconclusive"). See
# doc/benchmarks.rst.
#
# Usage: devtools/bench-iommu.sh [--rounds N] [--seconds S] [--warmup S]
#                                [--tests LIST] [--out DIR] [--report-only]
#   --rounds N     A/B rounds per test (default 3, at least 3 for a verdict)
#   --seconds S    measurement window per run (default 5)
#   --warmup S     traffic before the window (default 1)
#   --tests LIST   comma-separated subset of prefault,strict,table
#   --out DIR      results directory (default <build>/bench)
#   --report-only  run nothing: write the table again from DIR/iommu-raw.txt
#
# Writes DIR/iommu.md (table) and DIR/iommu-raw.txt; logs in
# DIR/iommu-logs/. Needs root, hugepages and a build (with the front-end).
# IOVH_BUILD_DIR (default build).

set -euo pipefail

# shellcheck source=devtools/common.sh
. "$(dirname "$(realpath "$0")")/common.sh"
# shellcheck source=devtools/bench_lib.sh
. "$IOVH_ROOT/devtools/bench_lib.sh"

readonly ALL_TESTS=prefault,strict,table
# Fill that leaves room for the working set in a 65536-entry table, so
# that nothing the data path uses is evicted.
readonly FILL=65408
# Most CPU time (%) a run may spend in empty polls for its verdict to
# count: beyond that the busy time is too small a remainder to trust.
readonly IDLE_MAX=80

SOCK_DIR=
PREFIX=

cleanup_run()
{
	iovh_fe_kill
	iovh_tp_kill
	[[ -z $PREFIX ]] || iovh_dpdk_cleanup "$PREFIX"
	PREFIX=''
}

cleanup()
{
	cleanup_run
	[[ -z $SOCK_DIR ]] || rm -rf "$SOCK_DIR"
}

# Test definitions. For side S (A or B): S_DRV (ours|stock), S_DEV (extra
# devargs), S_FE (front-end args), S_NAME; T_DESC, T_TARGET (minimum of
# A/B), T_TARGET_TXT.
# shellcheck disable=SC2034  # the A_* and B_* are read through eval
test_def()
{
	case $1 in
	prefault)
		T_DESC="prefault vs IOMMU off (ours)"
		T_TARGET=0.95 T_TARGET_TXT=">= 95%"
		A_NAME="prefault" A_DRV=ours A_DEV="" A_FE="--iommu prefault"
		B_NAME="IOMMU off" B_DRV=ours B_DEV="" B_FE="--iommu off"
		;;
	strict)
		T_DESC="strict: ours vs stock"
		T_TARGET=2 T_TARGET_TXT=">= 2x"
		# The stock PMD asks read-write for rings and RX buffers.
		A_NAME="ours" A_DRV=ours A_DEV="" A_FE="--iommu strict --perm loose"
		B_NAME="stock" B_DRV=stock B_DEV="" B_FE="--iommu strict --perm loose"
		;;
	table)
		T_DESC="IOTLB with 64k entries vs ~16 (ours)"
		T_TARGET=0.90 T_TARGET_TXT="<= 10% cost"
		A_NAME="64k entries" A_DRV=ours A_DEV=",iotlb-entries=65536"
		A_FE="--iommu prefault --iotlb-page 2m --iotlb-fill $FILL"
		B_NAME="working set" B_DRV=ours B_DEV=",iotlb-entries=64"
		B_FE="--iommu prefault --iotlb-page 2m"
		;;
	*) return 1 ;;
	esac
}

# One run of side $2 (A|B) of test $1, round $3. Appends to RAW.
run_side()
{
	local t=$1 side=$2 r=$3
	local drv dev fe name
	eval "drv=\$${side}_DRV dev=\$${side}_DEV fe=\$${side}_FE name=\$${side}_NAME"
	local label=$drv-$t-$side
	local log=$LOGS/$t-$side-r$r.log sock=$SOCK_DIR/$t-$side.sock
	local eal=()
	[[ $drv == stock ]] || eal=(-d "$PLUGIN")
	PREFIX=iovh-bench-iommu-$$
	rm -f "$sock"
	info "round $r/$ROUNDS, $t, $side ($name, $drv)"
	IOVH_FE_TP_ARGS=(-l 0-1 --no-pci --file-prefix="$PREFIX" "${eal[@]}"
		--vdev "net_vhost0,iface=$sock,iommu-support=1$dev"
		-- -i --forward-mode=io --port-topology=loop --nb-cores=1 --record-burst-stats
		--total-num-mbufs=32768)
	# shellcheck disable=SC2206
	IOVH_FE_ARGS=(--socket "$sock" --timeout 5 --writeoff-ms 100 --size 64 $fe)
	if ! iovh_fe_measure "$label" "$log" "${log%.log}.frontend.log" "$WARMUP" "$SECONDS_RUN"; then
		echo "run $t $side $r FAIL" >>"$RAW"
		warn "$t $side round $r failed; log: $log"
		return 1
	fi
	iovh_dpdk_cleanup "$PREFIX"
	PREFIX=''
	local mpps wall line misses
	# Per busy CPU-second: the window's empty polls taken out.
	local busy=$IOVH_M_BUSY
	mpps=$(awk -v p="$IOVH_M_PKTS" -v c="$busy" \
		'BEGIN { if (c ~ /^[0-9.]+$/ && c > 0) printf "%.4f", p / c / 1e6; else printf "n/a" }')
	wall=$(awk -v p="$IOVH_M_PKTS" -v w="$IOVH_M_WALL" 'BEGIN { printf "%.4f", p / w / 1e6 }')
	line=$IOVH_M_FE_LINE
	# Our PMD's per-queue IOTLB misses, from the xstats before "stop".
	misses=$(awk '/NIC extended statistics/ { s = 0 } /iotlb_misses:/ { s += $2 } END { print s + 0 }' "$log")
	local k note="idle=$IOVH_M_IDLE% fe_rc=$IOVH_M_FE_RC"
	for k in lost iotlb_miss iotlb_inval iotlb_prefault; do
		note+=" $k=$(sed -n "s/.* $k=\([0-9]*\).*/\1/p" <<<"$line")"
	done
	[[ $drv != ours ]] || note+=" pmd_iotlb_misses=$misses"
	note+=" features=$(iovh_features "$log" || echo '?')"
	echo "run $t $side $r $mpps $wall $busy/$IOVH_M_CPU $note" >>"$RAW"
	info "  $mpps Mpps/busy CPU-s ($wall Mpps wall, busy/all $busy/$IOVH_M_CPU CPU-s); $note"
}

side_median()
{
	local vals
	vals=$(awk -v t="$1" -v s="$2" '$1 == "run" && $2 == t && $3 == s && $5 ~ /^[0-9.]+$/ { print $5 }' "$RAW")
	[[ -n $vals ]] || return 0
	# shellcheck disable=SC2086
	iovh_stats $vals
}

report()
{
	local md=$OUT/iommu.md t a b am amin amax bm bmin bmax ratio verdict n idle
	{
		echo "iovhost-frontend as the guest (emulated IOMMU), testpmd io forwarding, port 0"
		echo "looped back, 64B, one forwarding lcore. Mpps per busy CPU-second of the forwarding"
		echo "thread (empty polls taken out), median [min-max] of $ROUNDS round(s) of ${SECONDS_RUN}s"
		echo "(A/B alternating)."
		if [[ -n ${REPORT_ONLY:-} ]]; then
			echo "Report written $(date -u '+%Y-%m-%d %H:%M UTC') from $RAW; load average before the runs: $LOAD_BEFORE."
		else
			echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)."
		fi
		echo
		echo "| test | A | A Mpps/busy CPU-s | B | B Mpps/busy CPU-s | A/B | target | result |"
		echo "|---|---|---|---|---|---|---|---|"
	} >"$md"
	for t in "${TESTS[@]}"; do
		test_def "$t"
		a=$(side_median "$t" A)
		b=$(side_median "$t" B)
		read -r am amin amax <<<"${a:-FAIL 0 0}"
		read -r bm bmin bmax <<<"${b:-FAIL 0 0}"
		ratio=n/a verdict=FAIL
		if [[ $am != FAIL && $bm != FAIL ]]; then
			ratio=$(awk -v a="$am" -v b="$bm" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
			n=$(awk -v t="$t" '$1 == "run" && $2 == t && $5 != "FAIL"' "$RAW" | wc -l)
			if awk -v a="$am" -v b="$bm" -v x="$T_TARGET" 'BEGIN { exit !(b > 0 && a / b >= x) }'; then
				verdict=pass
			else
				verdict=miss
			fi
			# The busy time of mostly idle runs is a small remainder.
			idle=$(awk -v t="$t" '$1 == "run" && $2 == t && match($0, /idle=[0-9?]+/) {
				v = substr($0, RSTART + 5, RLENGTH - 5); if (v == "?") v = 100
				if (v + 0 > m) m = v + 0 }
				END { print m + 0 }' "$RAW")
			((idle <= IDLE_MAX)) ||
				verdict="inconclusive ($verdict): up to $idle% of the CPU time idle"
			# Fewer than 3 rounds per side: say so.
			((n >= 6)) || verdict="$verdict (<3 rounds)"
		fi
		printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$T_DESC" \
			"$A_NAME" "$([[ $am == FAIL ]] && echo "no valid run" || echo "$am [$amin-$amax]")" \
			"$B_NAME" "$([[ $bm == FAIL ]] && echo "no valid run" || echo "$bm [$bmin-$bmax]")" \
			"$ratio" "$T_TARGET_TXT" "$verdict" >>"$md"
	done
	{
		echo
		echo "Runs (idle: CPU time in empty polls; fe_rc: front-end exit status;"
		echo "lost, iotlb_*: its counters; pmd_iotlb_misses: our PMD's xstats):"
		echo
		awk '$1 == "run" { n = ""; for (i = 8; i <= NF; i++) n = n " " $i
			printf "- %s %s round %s: %s Mpps/busy CPU-s, %s Mpps wall, busy/all %s CPU-s;%s\n",
			$2, $3, $4, $5, $6, $7, n }' "$RAW"
	} >>"$md"
	cat "$md"
	echo
	echo "written: $md; logs: $LOGS"
}

main()
{
	ROUNDS=3 SECONDS_RUN=5 WARMUP=1
	local tests='' report_only=0
	OUT=''
	while (($#)); do
		case $1 in
		--rounds) ROUNDS=${2:-}; shift ;;
		--seconds) SECONDS_RUN=${2:-}; shift ;;
		--warmup) WARMUP=${2:-}; shift ;;
		--tests) tests=${2:-}; shift ;;
		--out) OUT=${2:-}; shift ;;
		--report-only) report_only=1 ;;
		-h|--help)
			sed -n '/^# Usage:/,/^# IOVH_BUILD_DIR/p' "$0" | sed 's/^# \{0,1\}//'
			exit 0
			;;
		*) die "unknown argument $1 (see --help)" ;;
		esac
		shift
	done
	[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds needs a positive number"
	[[ $SECONDS_RUN =~ ^[1-9][0-9]*$ ]] || die "--seconds needs a positive number"
	[[ $WARMUP =~ ^[0-9]+$ ]] || die "--warmup needs a number"
	local build
	build=$(iovh_build_dir)
	OUT=${OUT:-$build/bench}
	if ((report_only)); then
		RAW=$(realpath "$OUT")/iommu-raw.txt
		[[ -s $RAW ]] || die "no $RAW to report on"
		OUT=$(dirname "$RAW") LOGS=$OUT/iommu-logs
		[[ -n $tests ]] || tests=$(awk '$1 == "run" && !seen[$2]++ { print $2 }' "$RAW" | paste -sd,)
		ROUNDS=$(awk '$1 == "run" && $4 > m { m = $4 } END { print m + 0 }' "$RAW")
		SECONDS_RUN=$(sed -n 's/^meta .*seconds=\([0-9]*\).*/\1/p' "$RAW" | head -n1)
		LOAD_BEFORE=$(sed -n 's/^meta .*load_before=//p' "$RAW" | head -n1)
		SECONDS_RUN=${SECONDS_RUN:-?} LOAD_BEFORE=${LOAD_BEFORE:-not recorded}
		IFS=, read -r -a TESTS <<<"$tests"
		REPORT_ONLY=1
		report
		return 0
	fi
	IFS=, read -r -a TESTS <<<"${tests:-$ALL_TESTS}"
	local t
	for t in "${TESTS[@]}"; do
		test_def "$t" || die "unknown test '$t' (tests: $ALL_TESTS)"
	done
	iovh_is_root || die "the benchmark needs root (hugepages, /run): run it with sudo"
	iovh_hugepages 1024

	IOVH_FE=$build/app/frontend/iovhost-frontend
	[[ -x $IOVH_FE ]] || die "$IOVH_FE is not built (meson -Dfrontend=true)"
	LOGS=$OUT/iommu-logs
	mkdir -p "$LOGS"
	OUT=$(realpath "$OUT") LOGS=$(realpath "$LOGS")
	RAW=$OUT/iommu-raw.txt
	: >"$RAW"
	PLUGIN=$(iovh_plugin_path "$build")
	SOCK_DIR=$(mktemp -d /run/iovh-bench.XXXXXX)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "meta rounds=$ROUNDS seconds=$SECONDS_RUN load_before=$LOAD_BEFORE" >>"$RAW"

	local r side order rc=0
	for ((r = 1; r <= ROUNDS; r++)); do
		if ((r % 2)); then order="A B"; else order="B A"; fi
		for t in "${TESTS[@]}"; do
			test_def "$t"
			for side in $order; do
				run_side "$t" "$side" "$r" || rc=1
				cleanup_run
			done
		done
	done
	report
	return $rc
}

main "$@"
