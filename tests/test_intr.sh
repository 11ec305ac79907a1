#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# RX interrupt mode and the power-monitor condition of our PMD, with
# app/test/iovhost-intr-test (no stock DPDK application blocks on RX
# interrupts: Debian ships neither l3fwd-power nor a testpmd mode for it).
# One process: our net_vhost0 with intr_conf.rxq = 1 and a virtio-user
# front-end. The app checks, and this test requires all of:
#  - an idle queue does not keep waking the thread;
#  - a packet sent while the thread blocks in rte_epoll_wait wakes it (10
#    rounds), and that packet is then received intact;
#  - a packet posted while the port polled wakes a thread that enables
#    the interrupt afterwards (no lost wake-up);
#  - rte_eth_get_monitor_addr(): the watched value moves by exactly the
#    packets posted; the condition says "data" then, "sleep" once drained;
#  - the same after a ring restart and after a reconnect, without the
#    application registering its interrupt again.

. "$(dirname "$0")/lib.sh"
require_ours "checks our PMD's RX interrupts"

app=${IOVH_BUILD_DIR:-$IOVH_SRC_DIR/build}/app/test/iovhost-intr-test
[ -x "$app" ] || skip "$app not built (meson -Dtests=true)"

sock=$IOVH_WORK_DIR/vhost.sock
pfx=$(_tp_prefix intr)
TP_PREFIXES+=("$pfx")		# hugepage files cleaned up on exit
log=$IOVH_LOG_DIR/intr.log

say "running $app"
rc=0
timeout -s INT -k 10 "$TP_MAX_SECONDS" "$app" -l 0-1 --no-pci \
	--file-prefix "$pfx" --single-file-segments --iova-mode=va \
	-d "$IOVH_PLUGIN" --log-level=pmd.net.iovhost:debug \
	--vdev "net_vhost0,iface=$sock" --vdev "net_virtio_user0,path=$sock" \
	> "$log" 2>&1 || rc=$?
grep -E '^(ok|FAIL|PASS)|assertion|failed' "$log" | sed 's/^/    /' || true

grep -qiE "iovhost .*$IOVH_VERSION.*probing net_vhost0" "$log" ||
	fail "no probe line of our PMD in $log"
[ $rc = 0 ] || fail "iovhost-intr-test exited with status $rc (log $log)"
grep -qx PASS "$log" || fail "iovhost-intr-test did not report PASS"
for what in "idle queue" "first connection: woken" "before rx_intr_enable" \
		"after a ring restart: woken" "after a reconnect: woken"; do
	grep -q "^ok: .*$what" "$log" || fail "check '$what' did not run"
done
[ "$(grep -c '^ok: monitor condition' "$log")" = 2 ] ||
	fail "expected 2 monitor-condition checks (before and after reconnect)"
# Interrupts must come from a kick fd the PMD moved across the reconnect.
[ "$(grep -c 'rx queue 0: interrupts from kick fd' "$log")" -ge 2 ] ||
	fail "the PMD did not re-register the kick fd after a reconnect"
say "ok: RX interrupts and monitor condition work across restart and reconnect"
