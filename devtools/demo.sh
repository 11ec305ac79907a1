#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Loopback demo: one dpdk-testpmd process runs a vhost-user port (port 0)
# and DPDK's virtio-user front-end (port 1) connected to it through a unix
# socket, and forwards 64-byte packets around the loop with io forwarding
# on one core. It does this first with iovhost (loaded with -d) and then
# with Debian's stock net_vhost, the same way, and prints the packet rates
# side by side.
#
# Both runs use the same steps: start testpmd with only the vhost port,
# stop it, hot-plug the virtio-user port, start both, inject one burst per
# port (start tx_first), warm up, and measure RX packets between two
# "show port stats" snapshots. After stopping, the RX and TX counters of
# the two ports are checked against each other: every packet one side
# sent, the other received, give or take what was still in the ring.
#
# Installs and builds first (devtools/setup.sh, devtools/build.sh). Root.
#
# Usage: devtools/demo.sh [--seconds N] [--warmup N] [--rounds N]
#                         [--only ours|stock] [--no-setup]
#   --seconds N   measure for N seconds per driver (default 10)
#   --warmup N    forward N seconds before measuring (default 2)
#   --rounds N    alternate the drivers N times and keep each one's best
#                 run (default 1); evens out a busy machine
#   --only WHICH  run only iovhost (ours) or only the stock driver
#   --no-setup    do not install or build; use the existing build
#
# Environment: IOVH_BUILD_DIR (default build). Logs are kept in
# <build>/demo/.

set -euo pipefail

# shellcheck source=devtools/common.sh
. "$(dirname "$(realpath "$0")")/common.sh"
# shellcheck source=devtools/bench_lib.sh
. "$IOVH_ROOT/devtools/bench_lib.sh"

# Most packets the two ends of the loop may disagree on after a stop: what
# can sit in the rings and in one forwarding burst per port.
readonly SLACK=1024

SOCK_DIR=
PREFIX=

# Stop what a failed run may have left.
cleanup_run()
{
	iovh_tp_kill
	[[ -z $PREFIX ]] || iovh_dpdk_cleanup "$PREFIX"
	PREFIX=
}

cleanup()
{
	cleanup_run
	[[ -z $SOCK_DIR ]] || rm -rf "$SOCK_DIR"
}

# Run the loopback once. $1: label (ours|stock); the rest: extra EAL args.
# Sets RESULT_MPPS0, RESULT_MPPS1; returns non-zero on any failed check.
run_loop()
{
	local label=$1
	shift
	local log=$LOG_DIR/$label$ROUND_SUFFIX.log
	local sock=$SOCK_DIR/vh-$label.sock
	PREFIX=iovh-demo-$$-$label
	RESULT_MPPS0=
	RESULT_MPPS1=

	info "[$label] starting testpmd (log: $log)"
	local limit=$((WARMUP + SECONDS_RUN + 120))
	iovh_loop_start "$label" "$log" "$sock" "" "$limit" \
		-l 0-1 --no-pci --single-file-segments --iova-mode=va \
		--file-prefix="$PREFIX" "$@" \
		--vdev "net_vhost0,iface=$sock" \
		-- -i --forward-mode=io --nb-cores=1 --txpkts=64 --total-num-mbufs=32768 ||
		return 1
	iovh_tp_cmd "start tx_first" || return 1
	iovh_sleep "$WARMUP"
	local t0 t1
	t0=$(date +%s.%N)
	iovh_tp_cmd "show port stats all" || return 1
	iovh_sleep "$SECONDS_RUN"
	t1=$(date +%s.%N)
	iovh_tp_cmd "show port stats all" || return 1
	iovh_tp_cmd "stop" || return 1
	# Counters are frozen now: a third snapshot for the conservation check.
	iovh_tp_cmd "show port stats all" || return 1
	iovh_tp_quit || warn "[$label] testpmd exited with status $?"
	iovh_dpdk_cleanup "$PREFIX"
	PREFIX=

	local -A v=()
	local k x
	while read -r k x; do
		v[$k]=$x
	done < <(iovh_tp_parse_stats "$log")
	for k in nic_rx_0_1 nic_rx_1_1 nic_rx_0_2 nic_rx_1_2 \
		nic_rx_0_3 nic_tx_0_3 nic_rx_1_3 nic_tx_1_3 \
		fwd_rx_0 fwd_tx_0 fwd_rx_1 fwd_tx_1; do
		[[ ${v[$k]:-} =~ ^[0-9]+$ ]] || {
			warn "[$label] cannot read $k from $log"
			return 1
		}
	done

	RESULT_MPPS0=$(awk -v a="${v[nic_rx_0_1]}" -v b="${v[nic_rx_0_2]}" \
		-v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", (b - a) / (t1 - t0) / 1e6 }')
	RESULT_MPPS1=$(awk -v a="${v[nic_rx_1_1]}" -v b="${v[nic_rx_1_2]}" \
		-v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", (b - a) / (t1 - t0) / 1e6 }')

	local ok=0
	# Packets must have kept flowing until the end of the window.
	if ((v[nic_rx_0_2] <= v[nic_rx_0_1] || v[nic_rx_1_2] <= v[nic_rx_1_1])); then
		warn "[$label] no packets received during the measurement"
		ok=1
	fi
	iovh_loop_conserved "$label" "$log" "$SLACK" || ok=1
	info "[$label] port 0: rx ${v[fwd_rx_0]} tx ${v[fwd_tx_0]};" \
		"port 1: rx ${v[fwd_rx_1]} tx ${v[fwd_tx_1]}"
	return $ok
}

main()
{
	SECONDS_RUN=${IOVH_DEMO_SECONDS:-10}
	WARMUP=2
	ROUND_SUFFIX=
	local only='' setup=1 rounds=1
	while (($#)); do
		case $1 in
		--seconds) SECONDS_RUN=${2:-}; shift ;;
		--warmup) WARMUP=${2:-}; shift ;;
		--only) only=${2:-}; shift ;;
		--rounds) rounds=${2:-}; shift ;;
		--no-setup) setup=0 ;;
		-h|--help)
			sed -n '/^# Usage:/,/^# Environment/p' "$0" | sed 's/^# \{0,1\}//'
			exit 0
			;;
		*) die "unknown argument $1 (see --help)" ;;
		esac
		shift
	done
	[[ $SECONDS_RUN =~ ^[1-9][0-9]*$ ]] || die "--seconds needs a positive number"
	[[ $WARMUP =~ ^[0-9]+$ ]] || die "--warmup needs a number"
	[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds needs a positive number"
	[[ -z $only || $only == ours || $only == stock ]] || die "--only takes ours or stock"
	iovh_is_root || die "the demo needs root (hugepages, /run): run it with sudo"

	if ((setup)); then
		"$IOVH_ROOT/devtools/setup.sh"
		"$IOVH_ROOT/devtools/build.sh" --no-setup
	else
		iovh_hugepages 1024
	fi
	IOVH_VERSION=$(tr -d '[:space:]' <"$IOVH_ROOT/VERSION")

	local build plugin=
	build=$(iovh_build_dir)
	LOG_DIR=$build/demo
	mkdir -p "$LOG_DIR"
	if [[ $only != stock ]]; then
		plugin=$(iovh_plugin_path "$build")
	fi
	SOCK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/iovh-demo.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM

	local load
	load=$(cut -d' ' -f1 /proc/loadavg)

	# Best run of each driver: Mpps of port 0 and port 1.
	local -A best0=() best1=()
	local rc=0 r drv m0 m1
	local -a eal
	for ((r = 1; r <= rounds; r++)); do
		if ((rounds > 1)); then
			ROUND_SUFFIX=-r$r
			info "round $r of $rounds"
		fi
		for drv in ours stock; do
			[[ -z $only || $only == "$drv" ]] || continue
			eal=()
			[[ $drv == stock ]] || eal=(-d "$plugin")
			if run_loop "$drv" "${eal[@]}"; then
				m0=$RESULT_MPPS0 m1=$RESULT_MPPS1
				if [[ -z ${best0[$drv]:-} ]] || awk -v a="$m0" -v b="$m1" \
					-v c="${best0[$drv]}" -v d="${best1[$drv]}" \
					'BEGIN { exit !(a + b > c + d) }'; then
					best0[$drv]=$m0 best1[$drv]=$m1
				fi
			else
				warn "$drv run failed; log: $LOG_DIR/$drv$ROUND_SUFFIX.log"
				rc=1
			fi
			cleanup_run
		done
	done

	local ours0=${best0[ours]:-} ours1=${best1[ours]:-}
	local stock0=${best0[stock]:-} stock1=${best1[stock]:-}
	echo
	echo "Loopback vhost-user <-> virtio-user, io forwarding, 1 core," \
		"64-byte packets, ${SECONDS_RUN}s$( ((rounds == 1)) || echo ", best of $rounds rounds"):"
	printf '  %-22s %12s %12s\n' driver "port0 Mpps" "port1 Mpps"
	[[ $only == stock ]] ||
		printf '  %-22s %12s %12s\n' "iovhost $IOVH_VERSION" "${ours0:-FAIL}" "${ours1:-FAIL}"
	[[ $only == ours ]] ||
		printf '  %-22s %12s %12s\n' "stock net_vhost" "${stock0:-FAIL}" "${stock1:-FAIL}"
	if [[ -n $ours0 && -n $stock0 ]]; then
		awk -v a="$ours0" -v b="$ours1" -v c="$stock0" -v d="$stock1" \
			'BEGIN { if (c + d > 0) printf "  ratio ours/stock: %.2f\n", (a + b) / (c + d) }'
	fi
	if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
		echo "  note: load average was $load on $(nproc) cores before the runs;" \
			"rates are noisy (try --rounds 3)"
	fi
	echo "  logs: $LOG_DIR"
	if ((rc)); then
		echo "demo: FAILED" >&2
	fi
	return $rc
}

main "$@"
