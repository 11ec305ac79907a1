#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# OVS-DPDK forwarding rate through two vhost-user ports: our PMD against
# Debian's stock net_vhost PMD, same topology, same run.
#
#   testpmd (virtio-user x2, io, paired) <-> OVS (netdev bridge, flows 1<->2,
#   `type=dpdk` ports net_vhost0/1, one PMD thread) <-> the same testpmd
#
# A fixed population of packets (start tx_first) circulates in both
# directions; the rate is what OVS transmits on both ports per second, from
# `ovs-ofctl dump-ports`. OVS's PMD thread runs on one core, testpmd's
# forwarding lcore on the other (OVS_PMD_CORE, default 1).
#
# Usage: devtools/bench-ovs.sh [--build-dir DIR] [--seconds S] [--rounds N]
#                              [--bursts N] [--size BYTES]
#   --seconds S   measured seconds per run (default 5, after 1 s warm-up)
#   --rounds N    ours/stock pairs, alternated (default 1)
#   --bursts N    tx_first bursts of 32 per port (default 16: 1024 packets)
#   --size BYTES  frame size (default 64)
# Prints one "OVS-BENCH" line per run and a summary. Needs root, free 2 MB
# hugepages and openvswitch-switch-dpdk (installed with apt-get if missing).
# A shared or loaded machine makes these numbers noisy: compare runs of
# one invocation only.

set -euo pipefail

SRC_DIR=$(cd "$(dirname "$(realpath "$0")")/.." && pwd)
BUILD_DIR=$SRC_DIR/build
SECS=5 ROUNDS=1 BURSTS=16 SIZE=64

usage() { sed -n '/^# Usage:/,/^# one invocation only/p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
	case $1 in
	--build-dir) BUILD_DIR=$2; shift 2 ;;
	--seconds) SECS=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	--bursts) BURSTS=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	-h|--help) usage 0 ;;
	*) echo "bench-ovs.sh: unknown argument $1" >&2; usage 1 ;;
	esac
done
for v in "$SECS" "$ROUNDS" "$BURSTS" "$SIZE"; do
	[[ $v =~ ^[0-9]+$ ]] && [ "$v" -gt 0 ] || { echo "bench-ovs.sh: bad number '$v'" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench-ovs.sh: must run as root" >&2; exit 1; }
PLUGIN_SRC=$BUILD_DIR/drivers/net/vhost/librte_net_iovhost.so
[ -f "$PLUGIN_SRC" ] || { echo "bench-ovs.sh: $PLUGIN_SRC not found: build first" >&2; exit 1; }

# The test helpers: private work directory under /run, testpmd control,
# clean-up of everything started here. IOVH_PLUGIN stays empty (testpmd
# is the virtio-user side only); OVS gets the plugin itself.
mkdir -p -m 0755 /run/iovhost-tests
export IOVH_SRC_DIR=$SRC_DIR IOVH_PLUGIN=
export IOVH_LOG_DIR=$BUILD_DIR/bench-logs/ovs
rm -rf "$IOVH_LOG_DIR"
mkdir -p "$IOVH_LOG_DIR"
export TP_MAX_SECONDS=$(( SECS + 120 ))
. "$SRC_DIR/tests/lib.sh"
. "$SRC_DIR/tests/lib_ovs.sh"
ovs_install || { echo "bench-ovs.sh: openvswitch-switch-dpdk missing and not installable" >&2; exit 1; }

# TX packets of OVS ports 1 and 2, from one dump-ports (one snapshot).
tx_both() {
	ovs_dump_ports | awk '
		/^  port / { p = $2; sub(/:$/, "", p) }
		/^ +tx pkts=/ { v = $2; sub(/^pkts=/, "", v); sub(/,$/, "", v); t[p] = v }
		END { print t["1"], t["2"] }'
}

run_one() {
	local mode=$1 n=$2 dir plugin= a1 a2 b1 b2 mpps st drops name=$1$2
	dir=$IOVH_WORK_DIR/ovs-$name
	[ "$mode" = ours ] && plugin=$PLUGIN_SRC
	ovs_start "$dir" "$plugin"
	ovs_add_port p0 1 "net_vhost0,iface=$dir/s0,iommu-support=1"
	ovs_add_port p1 2 "net_vhost1,iface=$dir/s1,iommu-support=1"
	ovs_flows_cross 1 2
	ovs_probe_check "$mode" > /dev/null
	tp_start "vu-$name" --stock --main-lcore "$OVS_PMD_CORE" \
		--vdev "net_virtio_user0,path=$dir/s0,queues=1" \
		--vdev "net_virtio_user1,path=$dir/s1,queues=1" -- \
		--nb-cores=1 --forward-mode=io --port-topology=paired \
		--txpkts="$SIZE"
	tp_ready "vu-$name" 60
	tp_run "vu-$name" 10 "start tx_first $BURSTS" > /dev/null
	sleep 1
	read -r a1 a2 < <(tx_both)
	sleep "$SECS"
	read -r b1 b2 < <(tx_both)
	st=$(tp_stop_fwd "vu-$name")
	drops=$(awk '/Accumulated forward/ { a = 1 } a && /RX-dropped|TX-dropped/ {
		for (i = 1; i < NF; i++) if ($i ~ /-dropped:$/) d += $(i + 1) } END { print d + 0 }' <<< "$st")
	tp_quit "vu-$name"
	ovs_dump_ports > "$IOVH_LOG_DIR/dump-ports-$name.txt"
	ovs_stop
	mpps=$(awk -v d=$(( b1 - a1 + b2 - a2 )) -v s="$SECS" 'BEGIN { printf "%.3f", d / s / 1e6 }')
	echo "OVS-BENCH pmd=$mode round=$n size=$SIZE seconds=$SECS mpps=$mpps port1_tx=$(( b1 - a1 )) port2_tx=$(( b2 - a2 )) testpmd_dropped=$drops"
	RESULTS[$mode]="${RESULTS[$mode]:-} $mpps"
}

declare -A RESULTS=()
say "OVS forwarding bench: load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
for (( r = 1; r <= ROUNDS; r++ )); do
	run_one ours "$r"
	run_one stock "$r"
done
for m in ours stock; do
	echo "OVS-BENCH-SUMMARY pmd=$m mpps=$(tr ' ' '\n' <<< "${RESULTS[$m]}" | sort -n | awk 'NF { v[++n] = $1 } END { print v[int((n + 1) / 2)] }') (median of:${RESULTS[$m]})"
done
echo "logs: $IOVH_LOG_DIR"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) (numbers are noisy on a shared machine)"
