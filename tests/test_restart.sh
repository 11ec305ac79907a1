#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# The front-end restarts in the middle of traffic.
#   B = our net_vhost0, server, io forwarding (port 0 back to itself)
#   A = virtio-user client, io forwarding started with tx_first: packets
#       go back and forth between A and B
#  - A gets back what it sends (RX >= MIN, RX <= TX);
#  - A is SIGKILLed mid-traffic, B forwarding all the while: B survives,
#    reports a link state change and link down;
#  - a new A connects to the same socket: B's link is up again, the new A
#    gets its packets back (RX >= MIN, no more than it sent, at most two
#    rings' worth missing), B forwarded no more than it received;
#  - both quit cleanly.

. "$(dirname "$0")/lib.sh"

MIN=100000
sock=$IOVH_WORK_DIR/vhost.sock

start_frontend() {
	tp_start "$1" --stock --main-lcore 1 --vdev "net_virtio_user0,path=$sock" -- --nb-cores=1
	tp_ready "$1" 20
}

tp_start b --main-lcore 0 --vdev "net_vhost0,iface=$sock" -- --nb-cores=1
tp_ready b
assert_driver b
wait_socket "$sock" 5
tp_run b 10 start > /dev/null

# ---- first front-end
start_frontend a1
wait_link b 0 up 10
tp_run a1 10 "start tx_first 4" > /dev/null
sleep 3
a_stats=$(tp_run a1 10 "show fwd stats all")
expect_flow "A1 -> B -> A1" "$(fwd_port_stat TX-packets 0 <<< "$a_stats")" \
	"$(fwd_port_stat RX-packets 0 <<< "$a_stats")" "$MIN" "$(( 2 * IO_INFLIGHT_MAX ))"

# ---- killed mid-traffic
mark=$(tp_mark b)
tp_kill9 a1
wait_link b 0 down 10
tp_wait b 'link state change event' 5 "$mark" ||
	fail "b: expected 'Port 0: link state change event' after the front-end died"
say "ok: b reported the link state change"
b_stats=$(tp_run b 10 "show fwd stats all")
b_rx1=$(fwd_port_stat RX-packets 0 <<< "$b_stats")
expect_ge "b: RX-packets while A1 lived" "$b_rx1" "$MIN"

# ---- second front-end
start_frontend a2
wait_link b 0 up 10
tp_run a2 10 "start tx_first 4" > /dev/null
sleep 3
a_stats=$(tp_stop_fwd a2)
sleep 0.5
b_stats=$(tp_stop_fwd b)
a_tx=$(fwd_port_stat TX-packets 0 <<< "$a_stats")
a_rx=$(fwd_port_stat RX-packets 0 <<< "$a_stats")
expect_flow "A2 -> B -> A2 (after the restart)" "$a_tx" "$a_rx" "$MIN" "$(( 2 * IO_INFLIGHT_MAX ))"
b_rx=$(fwd_port_stat RX-packets 0 <<< "$b_stats")
b_tx=$(fwd_port_stat TX-packets 0 <<< "$b_stats")
expect_ge "b: RX-packets, whole run" "$b_rx" "$(( b_rx1 + MIN ))"
is_uint "$b_tx" && [ "$b_tx" -le "$b_rx" ] ||
	fail "b: forwarded (TX-packets) ${b_tx:-<none>}, expected no more than it received ($b_rx)"
say "ok: b received $b_rx, forwarded $b_tx"

tp_quit a2
tp_quit b
