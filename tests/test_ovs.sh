#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# OVS-DPDK (Debian's openvswitch-switch-dpdk, run by path with a private
# ovsdb-server, database, sockets and log, in a network namespace of its
# own) with two `type=dpdk` ports on the vhost PMD, iommu-support=1, and
# OpenFlow flows 1->2 and 2->1:
#
#   iovhost-frontend --(s1)--> OVS port 2 -> port 1 --(s0)--> testpmd (virtio-user,
#   IOMMU on, checks every     <-------------------------     io loop, lcore 0)
#   packet)                    OVS PMD thread on core 1
#
#  - every packet that comes back is intact, and every packet is accounted
#    for by the counters of the front-end, OVS (`dump-ports`, both ports)
#    and testpmd: delivered, or dropped where a ring was full and counted;
#    at least 95 % come back;
#  - the front-end disconnects and reconnects (twice, other IOTLB settings),
#    then the testpmd does: traffic resumes each time;
#  - (ours) port 2 re-added with client=1, the front-end listening: traffic
#    flows, and again after the front-end restarts (the PMD reconnects);
#  - (ours) port 2 re-added with queues=2 under a one-queue front-end: OVS
#    transmits on TX queue 1, which the front-end never enabled; the PMD
#    drops and counts those packets (OVS sees tx errors, no TX failure), the
#    front-end's rings are left alone and nothing blocks;
#  - the vswitchd log shows our PMD probed (stock mode: Debian's).
# Needs openvswitch-switch-dpdk (installed with apt-get if missing).

. "$(dirname "$0")/lib.sh"
# The daemons' watchdog: a little more than tests/run.sh gives a test.
OVS_MAX_SECONDS=${OVS_MAX_SECONDS:-240}
. "$(dirname "$0")/lib_ovs.sh"

FE=${IOVH_BUILD_DIR:-$IOVH_SRC_DIR/build}/app/frontend/iovhost-frontend
# An ASan plugin needs its runtime preloaded, which only the testpmd wrapper
# of devtools/sanitize.sh does.
[ "${IOVH_SANITIZED:-0}" != 1 ] || skip "the sanitized plugin cannot be loaded into ovs-vswitchd"
[ -x "$FE" ] || fail "iovhost-frontend is not built at $FE (meson -Dfrontend=true)"
ovs_install || skip "openvswitch-switch-dpdk is not installed ($OVS_VSWITCHD) and apt-get could not install it"

OVSD=$IOVH_WORK_DIR/ovs
s0=$OVSD/s0
s1=$OVSD/s1
# The cores: OVS's PMD thread on OVS_PMD_CORE, the front-ends on the other.
FE_CORE=$(( 1 - OVS_PMD_CORE ))
# IOMMU on for ours: 2 MiB mappings answered on miss, or 4 KiB ones pushed
# in advance. Not 4 KiB on miss (tests/test_frontend.sh has that): with the
# front-end starved of CPU on a loaded 2-core machine, one of its hundreds
# of answers can take longer than the PMD waits for one (a second), and the
# chain is then dropped as bad, by design (doc/howto_ovs.rst).
# The stock PMD (stock mode only checks the test) drops a burst on every
# IOTLB miss (doc/frontend.rst), which exact counts cannot take: its runs
# go without.
IOMMU_2M=(--iommu pt --iotlb-page 2m)
IOMMU_PREFAULT=(--iommu prefault)
if [ "$IOVH_MODE" != ours ]; then
	IOMMU_2M=(--iommu off)
	IOMMU_PREFAULT=(--iommu off)
fi

# Port 2 by our alias, which only our PMD answers to (doc/howto_ovs.rst).
dev1=net_vhost1
[ "$IOVH_MODE" = ours ] && dev1=net_iovhost1

ovs_start "$OVSD" "$IOVH_PLUGIN"
ovs_add_port p0 1 "net_vhost0,iface=$s0,iommu-support=1"
ovs_add_port p1 2 "$dev1,iface=$s1,iommu-support=1"
ovs_flows_cross 1 2
wait_socket "$s0" 30
wait_socket "$s1" 30
ovs_probe_check "$IOVH_MODE"
if [ "$IOVH_MODE" = ours ]; then
	grep -q "(net_vhost): probing net_iovhost1," "$OVSD/vswitchd.log" ||
		fail "no probe line of ours for net_iovhost1 in the vswitchd log"
	say "ok: net_iovhost1 (the alias) probed by our PMD"
fi

# The virtio-user side: testpmd sends back what it gets (io, loop).
vu_start() {
	tp_start "$1" --stock --main-lcore "$OVS_PMD_CORE" \
		--vdev "net_virtio_user0,path=$s0,queues=1" -- \
		--nb-cores=1 --forward-mode=io --port-topology=loop --rxq=1 --txq=1
	tp_ready "$1" 60
	tp_run "$1" 10 start > /dev/null
}

declare -A C0=()
# snap: remember every OVS counter of ports 1 and 2.
snap() {
	local p d f
	for p in 1 2; do for d in rx tx; do for f in pkts drop errs; do
		C0[$p.$d.$f]=$(ovs_port_stat $p $d $f)
		is_uint "${C0[$p.$d.$f]}" || fail "OVS port $p $d $f: not a number: '${C0[$p.$d.$f]}'"
	done; done; done
}
# delta OFPORT rx|tx FIELD: change since the last snap.
delta() {
	local v
	v=$(ovs_port_stat "$1" "$2" "$3")
	is_uint "$v" || fail "OVS port $1 $2 $3: not a number: '$v'"
	echo $(( v - ${C0[$1.$2.$3]} ))
}

FE_LINE=
FE_ERR=
# fe NAME WANT_RC ARGS...: run the front-end on s1, on the front-end core.
# A wrong exit status fails the test, or with FE_DEFER=1 is left in FE_ERR
# for later (so that the counters can be shown first).
fe() {
	local name=$1 want=$2 rc=0 out; shift 2
	out=$IOVH_LOG_DIR/$name.frontend.log
	FE_ERR=
	# Generous: a loaded 2-core machine can starve any of the three pollers.
	timeout -k 5 90 taskset -c "$FE_CORE" "$FE" --socket "${FE_SOCK:-$s1}" --timeout 10 \
		--connect-timeout 30 --writeoff-ms 5000 "$@" > "$out" 2>&1 || rc=$?
	FE_LINE=$(grep '^FRONTEND ' "$out" | tail -n1 || true)
	if [ "$rc" != "$want" ]; then
		tail -n 25 "$out"
		FE_ERR="$name: iovhost-frontend exited $rc, expected $want ($*)"
	elif [ -z "$FE_LINE" ]; then
		tail -n 25 "$out"
		FE_ERR="$name: no FRONTEND line"
	fi
	[ -z "$FE_ERR" ] || [ "${FE_DEFER:-0}" = 1 ] || fail "$FE_ERR"
	say "$name: ${FE_LINE:-(no report)}"
}
fe_val() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<< "$FE_LINE"; }

# Counters of one round, in D[...]: OVS ports (deltas since snap) and the
# testpmd's forward statistics.
declare -A D=()
collect() {
	local name=$1 stats=$2 p d f
	for p in 1 2; do for d in rx tx; do for f in pkts drop errs; do
		D[$p.$d.$f]=$(delta $p $d $f)
	done; done; done
	D[tp.rx]=$(fwd_port_stat RX-packets 0 <<< "$stats")
	D[tp.tx]=$(fwd_port_stat TX-packets 0 <<< "$stats")
	D[tp.txdrop]=$(fwd_port_stat TX-dropped 0 <<< "$stats")
	# All of them before any check: a failure shows where packets went.
	say "$name: testpmd RX ${D[tp.rx]} TX ${D[tp.tx]} TX-dropped ${D[tp.txdrop]}; OVS this round:"
	for p in 1 2; do
		say "    port $p rx pkts ${D[$p.rx.pkts]} drop ${D[$p.rx.drop]} errs ${D[$p.rx.errs]}, tx pkts ${D[$p.tx.pkts]} drop ${D[$p.tx.drop]} errs ${D[$p.tx.errs]}"
	done
}

# check_path NAME T : every packet the front-end sent (T) is accounted for
# on the way out: received by OVS port 2, then sent on port 1 or counted
# as a TX drop there (testpmd's ring was full), received by testpmd, sent
# back or counted as dropped, received by OVS port 1.
check_path() {
	local name=$1 t=$2
	expect_eq "$name: OVS port 2 rx = front-end tx" "${D[2.rx.pkts]}" "$t"
	expect_eq "$name: OVS port 2 rx errs + drop" $(( D[2.rx.errs] + D[2.rx.drop] )) 0
	expect_eq "$name: OVS port 1 tx + tx drop = port 2 rx" $(( D[1.tx.pkts] + D[1.tx.drop] )) "$t"
	expect_eq "$name: OVS port 1 tx errs" "${D[1.tx.errs]}" 0
	expect_eq "$name: testpmd RX = OVS port 1 tx" "${D[tp.rx]}" "${D[1.tx.pkts]}"
	expect_eq "$name: testpmd TX + TX-dropped = its RX" $(( D[tp.tx] + D[tp.txdrop] )) "${D[tp.rx]}"
	expect_eq "$name: OVS port 1 rx = testpmd TX" "${D[1.rx.pkts]}" "${D[tp.tx]}"
	expect_eq "$name: OVS port 1 rx errs + drop" $(( D[1.rx.errs] + D[1.rx.drop] )) 0
}

# fwd_round NAME TESTPMD ARGS...: one front-end run through OVS and back:
# every packet that comes back is intact, every counter on the way agrees,
# and a packet is lost only where a ring was full, counted as a drop.
# (Flow control keeps that rare; a front-end or testpmd starved of CPU on
# a loaded machine can still let its ring run dry for a moment.)
fwd_round() {
	local name=$1 tp=$2 stats t r k; shift 2
	snap
	FE_DEFER=1 fe "$name" 0 --queues 1 --expect io "$@"
	t=$(fe_val tx_pkts); r=$(fe_val rx_pkts)
	stats=$(tp_stop_fwd "$tp")
	collect "$name" "$stats"
	[ -z "$FE_ERR" ] || fail "$FE_ERR"
	for k in corrupt dup reorder violations update_ignored; do
		expect_eq "$name: front-end $k" "$(fe_val $k)" 0
	done
	check_path "$name" "$t"
	# Back: OVS port 1 -> port 2 -> front-end, drops counted.
	expect_eq "$name: OVS port 2 tx + tx drop = port 1 rx" $(( D[2.tx.pkts] + D[2.tx.drop] )) "${D[1.rx.pkts]}"
	expect_eq "$name: OVS port 2 tx errs" "${D[2.tx.errs]}" 0
	expect_eq "$name: front-end rx = OVS port 2 tx" "$r" "${D[2.tx.pkts]}"
	expect_eq "$name: front-end lost = drops counted on the way" "$(fe_val lost)" \
		$(( D[1.tx.drop] + D[tp.txdrop] + D[2.tx.drop] ))
	expect_ge "$name: packets back at the front-end" "$r" $(( t - t / 20 ))
	tp_run "$tp" 10 start > /dev/null
}

vu_start vu

say "--- front-end (IOMMU, 2m pages answered on miss) <-> OVS <-> testpmd virtio-user"
fwd_round iommu-2m vu "${IOMMU_2M[@]}" --packets 20000

say "--- the front-end reconnects (IOMMU, 4k pages pushed in advance, 1500-byte frames)"
fwd_round prefault-1500 vu "${IOMMU_PREFAULT[@]}" --size 1500 --packets 10000

say "--- the testpmd disconnects, a new one connects"
tp_quit vu
vu_start vu2
fwd_round after-vu-reconnect vu2 "${IOMMU_2M[@]}" --packets 20000

if [ "$IOVH_MODE" = ours ]; then
	say "--- queues=2 port, one-queue front-end: OVS transmits on a queue never enabled"
	ovs_del_port p1
	ovs_add_port p1 2 "$dev1,iface=$s1,iommu-support=1,queues=2"
	wait_socket "$s1" 30
	txq=$(ovs_appctl dpif/show | sed -n 's/.* p1 .*configured_tx_queues=\([0-9]*\).*/\1/p')
	expect_eq "OVS TX queues on the queues=2 port (one per thread)" "$txq" 2
	snap
	# Nothing comes back: the front-end stalls after its burst (exit 1).
	fe one-queue-guest 1 --queues 1 "${IOMMU_2M[@]}" --flood --packets 4000
	t=$(fe_val tx_pkts)
	expect_ge "one-queue-guest: front-end sent" "$t" 1
	expect_eq "one-queue-guest: packets back" "$(fe_val rx_pkts)" 0
	for k in corrupt violations; do
		expect_eq "one-queue-guest: front-end $k" "$(fe_val $k)" 0
	done
	stats=$(tp_stop_fwd vu2)
	collect one-queue-guest "$stats"
	check_path one-queue-guest "$t"
	expect_ge "one-queue-guest: OVS port 1 rx (sent back)" "${D[1.rx.pkts]}" 1
	# Consumed by the PMD, dropped and counted (tx errs); OVS never had a
	# packet turned back (its tx drop counts TX failures).
	expect_eq "one-queue-guest: OVS port 2 tx pkts" "${D[2.tx.pkts]}" 0
	expect_eq "one-queue-guest: OVS port 2 tx errs (dropped by the PMD)" "${D[2.tx.errs]}" "${D[1.rx.pkts]}"
	expect_eq "one-queue-guest: OVS port 2 tx drop (TX failures)" "${D[2.tx.drop]}" 0
	# The same drops in the PMD's own xstat, through DPDK telemetry.
	xs=$(ovs_xstat p1 tx_q1_disabled_queue_drops)
	if [ "$xs" = unavailable ]; then
		say "(DPDK telemetry not reachable: xstat not checked)"
	else
		expect_eq "one-queue-guest: xstat tx_q1_disabled_queue_drops" "$xs" "${D[1.rx.pkts]}"
	fi
	grep -q 'tx queue 1 enabled' "$OVSD/vswitchd.log" &&
		fail "the one-queue front-end enabled TX queue 1?"
	tp_run vu2 10 start > /dev/null

	say "--- queues=1 again: the same front-end gets everything back"
	ovs_del_port p1
	ovs_add_port p1 2 "$dev1,iface=$s1,iommu-support=1"
	wait_socket "$s1" 30
	fwd_round one-queue-fixed vu2 "${IOMMU_2M[@]}" --packets 10000

	# How QEMU is usually run (doc/howto_ovs.rst): it listens, the PMD
	# connects, and connects again when the front-end comes back.
	say "--- client=1: the PMD connects to the front-end, and again after it restarts"
	ovs_del_port p1
	sc=$OVSD/client.sock
	ovs_add_port p1 2 "$dev1,iface=$sc,client=1,iommu-support=1"
	FE_SOCK=$sc fwd_round client vu2 --server "${IOMMU_2M[@]}" --packets 10000
	FE_SOCK=$sc fwd_round client-again vu2 --server "${IOMMU_2M[@]}" --packets 10000
	expect_ge "client mode: connections in the vswitchd log" \
		"$(grep -c -F "($sc) front-end connected" "$OVSD/vswitchd.log" || true)" 2
fi

tp_quit vu2
ovs_probe_check "$IOVH_MODE"
ovs_stop
# No error in the vswitchd log. (Debian's PMD logs "device not found"
# errors whenever OVS reads the state of a port without front-end.)
if [ "$IOVH_MODE" = ours ]; then
	bad=$(grep -E '\|(ERR|EMER)\|' "$OVSD/vswitchd.log" | head -n 5 || true)
	[ -z "$bad" ] || fail "errors in the vswitchd log: $bad"
fi
say "PASS"
