#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# RX interrupt mode and the power-monitor condition of our PMD, on split
# and on packed rings, with app/test/iovhost-intr-test (no stock DPDK
# application blocks on RX interrupts: Debian ships neither l3fwd-power
# nor a testpmd mode for it).
# One process: our net_vhost0 with intr_conf.rxq = 1 and a virtio-user
# front-end. The app checks, and this test requires all of:
#  - an idle queue does not keep waking the thread;
#  - a packet sent while the thread blocks in rte_epoll_wait wakes it (10
#    rounds), and that packet is then received intact;
#  - a packet posted while the port polled wakes a thread that enables
#    the interrupt afterwards (no lost wake-up);
#  - rte_eth_get_monitor_addr(): the condition says "sleep" on an empty
#    queue, "data" once packets are posted (split: the watched avail index
#    moved by exactly their number; packed: the watched slot is the next
#    one, k descriptors on after k packets), "sleep" once drained;
#  - the same after a ring restart and after a reconnect, without the
#    application registering its interrupt again.
# Then the app loops port 0 back to itself in echo mode, sleeping on the
# RX interrupt whenever the queue is empty, for iovhost-frontend --kick in
# another process (small rings, so most round trips go through a sleep):
# with EVENT_IDX (the avail event index), without it (the NO_NOTIFY flag),
# and with EVENT_IDX through the IOTLB (strict vIOMMU, then lazy, whose
# flushes take the rings away: no kick can be asked for then). Every
# packet must come back, and no wait may end by time-out with packets
# waiting (a lost wake-up).

. "$(dirname "$0")/lib.sh"
require_ours "checks our PMD's RX interrupts"

intr_app=${IOVH_BUILD_DIR:-$IOVH_SRC_DIR/build}/app/test/iovhost-intr-test
[ -x "$intr_app" ] || skip "$intr_app not built (meson -Dtests=true)"

# run_app LAYOUT [virtio-user devargs]: the in-process checks, once.
run_app() {
	local layout=$1 vu=${2:-} sock=$IOVH_WORK_DIR/$1.sock pfx log rc=0 what
	pfx=$(_tp_prefix "intr$layout")
	TP_PREFIXES+=("$pfx")		# hugepage files cleaned up on exit
	log=$IOVH_LOG_DIR/intr-$layout.log
	say "running $intr_app ($layout rings)"
	timeout -s INT -k 10 "$TP_MAX_SECONDS" "$intr_app" -l 0-1 --no-pci \
		--file-prefix "$pfx" --single-file-segments --iova-mode=va \
		-d "$IOVH_PLUGIN" --log-level=pmd.net.iovhost:debug \
		--vdev "net_vhost0,iface=$sock" \
		--vdev "net_virtio_user0,path=$sock$vu" > "$log" 2>&1 || rc=$?
	grep -E '^(ok|FAIL|PASS)|assertion|failed' "$log" | sed 's/^/    /' || true

	grep -qiE "iovhost .*$IOVH_VERSION.*probing net_vhost0" "$log" ||
		fail "no probe line of our PMD in $log"
	[ $rc = 0 ] || fail "iovhost-intr-test ($layout) exited with status $rc (log $log)"
	grep -qx PASS "$log" || fail "iovhost-intr-test ($layout) did not report PASS"
	for what in "idle queue" "first connection: woken" "before rx_intr_enable" \
			"after a ring restart: woken" "after a reconnect: woken"; do
		grep -q "^ok: .*$what" "$log" || fail "$layout: check '$what' did not run"
	done
	[ "$(grep -c "^ok: monitor condition ($layout ring)" "$log")" = 2 ] ||
		fail "$layout: expected 2 monitor-condition checks on $layout rings (before and after reconnect)"
	# Interrupts must come from a kick fd the PMD moved across the reconnect.
	[ "$(grep -c 'rx queue 0: interrupts from kick fd' "$log")" -ge 2 ] ||
		fail "$layout: the PMD did not re-register the kick fd after a reconnect"
	grep -q "vring 1 started: $layout ring" "$log" ||
		fail "$layout: the back-end did not run $layout rings"
	say "ok: RX interrupts and monitor condition work on $layout rings across restart and reconnect"
}
run_app split
run_app packed ",packed_vq=1"

# ---- echo mode, against iovhost-frontend in another process
FE=${IOVH_BUILD_DIR:-$IOVH_SRC_DIR/build}/app/frontend/iovhost-frontend
[ -x "$FE" ] || fail "iovhost-frontend is not built at $FE"
esock=$IOVH_WORK_DIR/echo.sock
epfx=$(_tp_prefix echo)
TP_PREFIXES+=("$epfx")
elog=$IOVH_LOG_DIR/echo.log
# Lazy last: its flushes take the rings away too; the front-end may count
# the odd packet lost there (an IOTLB matter, not an interrupt one), so
# for it only a protocol error or a stall fails.
runs=("--iommu off" "--iommu off --no-event-idx" "--iommu strict" "--iommu lazy")
# IOVH_INTR_ECHO_RUNS="--iommu lazy" (say) repeats one echo phase alone.
[ -z "${IOVH_INTR_ECHO_RUNS:-}" ] || runs=("$IOVH_INTR_ECHO_RUNS")
timeout -s INT -k 10 "$TP_MAX_SECONDS" "$intr_app" echo ${#runs[@]} -l 0 --no-pci \
	--file-prefix "$epfx" -d "$IOVH_PLUGIN" \
	--vdev "net_vhost0,iface=$esock,iommu-support=1" > "$elog" 2>&1 &
echo_pid=$!
trap 'kill -INT $echo_pid 2> /dev/null || true; _tp_cleanup' EXIT
for _ in $(seq 100); do
	grep -q '^echo: ready' "$elog" && break
	kill -0 $echo_pid 2> /dev/null || fail "echo app exited early: $(tail -n 5 "$elog")"
	sleep 0.2
done
grep -q '^echo: ready' "$elog" || fail "echo app not ready after 20 s"
n=0
for r in "${runs[@]}"; do
	n=$(( n + 1 ))
	out=$IOVH_LOG_DIR/echo-fe$n.log
	rc=0
	# shellcheck disable=SC2086
	timeout -k 5 60 "$FE" --socket "$esock" --kick --packets 3000 --burst 1 \
		--ring-size 16 --writeoff-ms 3000 --timeout 5 --mem-mb 64 $r \
		> "$out" 2>&1 || rc=$?
	line=$(grep '^FRONTEND ' "$out" | tail -n1 || true)
	if [ "$r" = "--iommu lazy" ]; then
		[ $rc != 2 ] || fail "iovhost-frontend $r: protocol error or stall: $(tail -n 5 "$out")"
		expect_ge "frontend $r: packets back" "$(sed -n 's/.* rx_pkts=\([0-9]*\).*/\1/p' <<< "$line")" 2900
	else
		[ $rc = 0 ] || fail "iovhost-frontend $r: exit status $rc: $(tail -n 5 "$out")"
		expect_eq "frontend $r: packets back" "$(sed -n 's/.* rx_pkts=\([0-9]*\).*/\1/p' <<< "$line")" 3000
		expect_eq "frontend $r: lost" "$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<< "$line")" 0
	fi
	# Next front-end only once this one's disconnect was seen.
	for _ in $(seq 50); do
		[ "$(grep -c '^echo: connection .* done' "$elog")" -ge $n ] && break
		sleep 0.2
	done
done
rc=0
wait $echo_pid || rc=$?
grep '^echo:' "$elog" | sed 's/^/    /'
[ $rc = 0 ] || fail "echo app failed (status $rc): $(grep -E 'failed|assert' "$elog" | head -n 3)"
say "ok: echo: every packet back, woken by kicks, no lost wake-up: $(grep -m1 'packets echoed' "$elog")"
