#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Two queue pairs: our net_vhost0 with queues=2 (B, io forwarding, port 0
# back to itself) and virtio-user with queues=2 (A, io with tx_first), both
# with --rxq=2 --txq=2.  testpmd's per-stream statistics (one stream per
# queue) must show, for each queue of each side:
#  - RX-packets >= MIN (both queue pairs carry traffic),
#  - B's queue q received what A sent on its queue q (queues not mixed up);
#  - A's queue q got back no more than it sent on queue q, and at most two
#    rings' worth fewer (B's io forwarding keeps the queue: q -> q);
# B's port reports 2 RX and 2 TX queues; with our PMD, its per-queue xstats
# rx_qN_packets / tx_qN_packets equal testpmd's per-stream counts.

. "$(dirname "$0")/lib.sh"

MIN=100000
sock=$IOVH_WORK_DIR/vhost.sock

tp_start b --main-lcore 0 --vdev "net_vhost0,iface=$sock,queues=2" \
	-- --nb-cores=1 --rxq=2 --txq=2
tp_ready b
assert_driver b
info=$(tp_run b 10 "show port info 0")
expect_eq "b: current number of RX queues" "$(awk '/^Current number of RX queues:/ { print $NF }' <<< "$info")" 2
expect_eq "b: current number of TX queues" "$(awk '/^Current number of TX queues:/ { print $NF }' <<< "$info")" 2
wait_socket "$sock" 5
tp_run b 10 start > /dev/null

tp_start a --stock --main-lcore 1 --vdev "net_virtio_user0,path=$sock,queues=2" \
	-- --nb-cores=1 --rxq=2 --txq=2
tp_ready a 20
wait_link b 0 up 10
tp_run a 10 "start tx_first 4" > /dev/null
sleep 4
a_stats=$(tp_stop_fwd a)
sleep 0.5
b_stats=$(tp_stop_fwd b)

for q in 0 1; do
	tx=$(fwd_stream_stat TX-packets 0 "$q" <<< "$a_stats")
	rx=$(fwd_stream_stat RX-packets 0 "$q" <<< "$a_stats")
	[ -n "$tx$rx" ] || fail "a: no per-stream statistics for queue $q in the output of 'stop'"
	expect_flow "queue $q: A -> B -> A" "$tx" "$rx" "$MIN" "$(( 2 * IO_INFLIGHT_MAX ))"
	# B received on queue q what A sent on queue q (A stopped first).
	expect_flow "queue $q: A -> B" "$tx" "$(fwd_stream_stat RX-packets 0 "$q" <<< "$b_stats")" \
		"$MIN" "$IO_INFLIGHT_MAX"
done

# Our PMD's per-queue extended statistics (doc/pmd.rst: rx_qN_packets,
# tx_qN_packets) count exactly what its burst functions returned.
if [ "$IOVH_MODE" = ours ]; then
	xs=$(tp_run b 10 "show port xstats 0")
	for q in 0 1; do
		for d in rx tx; do
			f=RX-packets; [ $d = tx ] && f=TX-packets
			want=$(fwd_stream_stat "$f" 0 "$q" <<< "$b_stats")
			seen=$(awk -v k="${d}_q${q}_packets:" '$1 == k { print $2 }' <<< "$xs")
			expect_eq "b: xstat ${d}_q${q}_packets (testpmd counted $want)" "$seen" "$want"
		done
	done
fi

tp_quit a
tp_quit b
