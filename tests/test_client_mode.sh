#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Our port as vhost-user CLIENT (client=1), virtio-user as server
# (server=1) in another testpmd.  virtio-user in server mode waits at probe
# for a connection, so it is started first:
#   A = virtio-user server, txonly  (forwards on lcore 0)
#   B = our net_vhost0 client, rxonly (forwards on lcore 1)
#  - B's port comes up; A's packets arrive at B: B received >= MIN, no
#    more than A sent, and all of them once A has stopped (B keeps running);
#  - A is killed (SIGKILL) while B keeps forwarding; B's link goes down;
#  - A is started again: B's PMD reconnects on its own, the link comes
#    back up, and the new A's packets arrive at B as well;
#  - B quits cleanly.

. "$(dirname "$0")/lib.sh"

MIN=500000
sock=$IOVH_WORK_DIR/fe.sock

start_frontend() {
	rm -f "$sock"	# a killed server leaves its socket file behind
	tp_start "$1" --stock --main-lcore 1 --vdev "net_virtio_user0,path=$sock,server=1" \
		-- --nb-cores=1 --forward-mode=txonly
	wait_socket "$sock" 20
}

start_frontend a1
tp_start b --main-lcore 0 --vdev "net_vhost0,iface=$sock,client=1" \
	-- --nb-cores=1 --forward-mode=rxonly
tp_ready b
assert_driver b
tp_ready a1 20
wait_link b 0 up 10

# ---- phase 1
tp_run b 10 start > /dev/null
tp_run a1 10 start > /dev/null
sleep 3
a_stats=$(tp_stop_fwd a1)
sleep 0.5
b_stats=$(tp_run b 10 "show fwd stats all")
a_tx=$(fwd_port_stat TX-packets 0 <<< "$a_stats")
b_rx1=$(fwd_port_stat RX-packets 0 <<< "$b_stats")
# A has stopped and B kept polling: everything A sent must be in by now.
expect_flow "A1 -> B" "$a_tx" "$b_rx1" "$MIN" 0

# ---- A dies; B keeps forwarding
tp_run a1 10 start > /dev/null
sleep 1
mark=$(tp_mark b)
tp_kill9 a1
wait_link b 0 down 10
tp_wait b 'link state change event' 5 "$mark" ||
	fail "b: expected 'Port 0: link state change event' after the front-end died"
say "ok: b reported the link state change"
b_stats=$(tp_run b 10 "show fwd stats all")
b_rx2=$(fwd_port_stat RX-packets 0 <<< "$b_stats")
is_uint "$b_rx2" || fail "b: no RX-packets in 'show fwd stats all' after the front-end died"

# ---- A again: B reconnects by itself
start_frontend a2
tp_ready a2 30	# returns once B's PMD has reconnected
say "ok: b reconnected to the new front-end"
wait_link b 0 up 10
tp_run a2 10 start > /dev/null
sleep 3
a_stats=$(tp_stop_fwd a2)
sleep 0.5
b_stats=$(tp_stop_fwd b)
a_tx=$(fwd_port_stat TX-packets 0 <<< "$a_stats")
b_rx3=$(fwd_port_stat RX-packets 0 <<< "$b_stats")
is_uint "$b_rx3" || fail "b: no RX-packets in the statistics of 'stop'"
expect_flow "A2 -> B (after reconnect)" "$a_tx" "$(( b_rx3 - b_rx2 ))" "$MIN" 0

tp_quit a2
tp_quit b
