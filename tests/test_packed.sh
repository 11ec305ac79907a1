#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Packed virtqueues against DPDK's virtio-user (packed_vq=1), two queue
# pairs, for each of in_order=0/1 x mrg_rxbuf=0/1: our net_vhost0 with
# queues=2 (B, io forwarding, port 0 back to itself) and virtio-user
# (A, stock testpmd, io with tx_first). For each combination:
#  - B's log line of negotiated features has VIRTIO_F_RING_PACKED (bit
#    34), and IN_ORDER (35) / MRG_RXBUF (15) exactly as asked: the packed
#    path is what carried the traffic;
#  - per queue: B received what A sent on that queue, A got back no more
#    than it sent and at most two rings' worth fewer, each >= MIN;
#  - B's per-queue xstats: packets equal testpmd's per-stream counts,
#    bad_desc and drops are 0.

. "$(dirname "$0")/lib.sh"
require_ours "the packed ring data path is ours"

MIN=50000

# has_bit HEX BIT: whether bit BIT of the hex number HEX is set.
has_bit() { (( ($1 >> $2) & 1 )); }

run_combo() {
	local io=$1 mrg=$2 b=b$1$2 a=a$1$2 sock feat xs q d f want seen
	sock=$IOVH_WORK_DIR/packed$io$mrg.sock

	tp_start "$b" --main-lcore 0 --vdev "net_vhost0,iface=$sock,queues=2" \
		--log-level=lib.iovhost.*,info -- --nb-cores=1 --rxq=2 --txq=2
	tp_ready "$b"
	assert_driver "$b"
	wait_socket "$sock" 5
	tp_run "$b" 10 start > /dev/null

	tp_start "$a" --stock --main-lcore 1 \
		--vdev "net_virtio_user0,path=$sock,queues=2,packed_vq=1,in_order=$io,mrg_rxbuf=$mrg" \
		-- --nb-cores=1 --rxq=2 --txq=2
	tp_ready "$a" 20
	wait_link "$b" 0 up 10

	feat=$(log_text "$b" | sed -n 's/.*negotiated features \(0x[0-9a-f]*\).*/\1/p' | tail -n1)
	[ -n "$feat" ] || fail "$b: no 'negotiated features' line in the log"
	has_bit "$feat" 34 || fail "$b: features $feat: VIRTIO_F_RING_PACKED not negotiated"
	say "ok: $b: VIRTIO_F_RING_PACKED negotiated ($feat)"
	if has_bit "$feat" 35; then seen=1; else seen=0; fi
	expect_eq "in_order=$io mrg_rxbuf=$mrg: IN_ORDER negotiated ($feat)" "$seen" "$io"
	if has_bit "$feat" 15; then seen=1; else seen=0; fi
	expect_eq "in_order=$io mrg_rxbuf=$mrg: MRG_RXBUF negotiated ($feat)" "$seen" "$mrg"

	tp_run "$a" 10 "start tx_first 4" > /dev/null
	sleep 3
	a_stats=$(tp_stop_fwd "$a")
	sleep 0.5
	b_stats=$(tp_stop_fwd "$b")

	for q in 0 1; do
		tx=$(fwd_stream_stat TX-packets 0 "$q" <<< "$a_stats")
		rx=$(fwd_stream_stat RX-packets 0 "$q" <<< "$a_stats")
		[ -n "$tx$rx" ] || fail "$a: no per-stream statistics for queue $q"
		expect_flow "packed io=$io mrg=$mrg queue $q: A -> B -> A" "$tx" "$rx" \
			"$MIN" "$(( 2 * IO_INFLIGHT_MAX ))"
		expect_flow "packed io=$io mrg=$mrg queue $q: A -> B" "$tx" \
			"$(fwd_stream_stat RX-packets 0 "$q" <<< "$b_stats")" \
			"$MIN" "$IO_INFLIGHT_MAX"
	done

	xs=$(tp_run "$b" 10 "show port xstats 0")
	for q in 0 1; do
		for d in rx tx; do
			f=RX-packets; [ $d = tx ] && f=TX-packets
			want=$(fwd_stream_stat "$f" 0 "$q" <<< "$b_stats")
			seen=$(awk -v k="${d}_q${q}_packets:" '$1 == k { print $2 }' <<< "$xs")
			expect_eq "$b: xstat ${d}_q${q}_packets" "$seen" "$want"
			for f in bad_desc drops; do
				seen=$(awk -v k="${d}_q${q}_$f:" '$1 == k { print $2 }' <<< "$xs")
				expect_eq "$b: xstat ${d}_q${q}_$f" "$seen" 0
			done
		done
	done

	tp_quit "$a"
	tp_quit "$b"
}

for io in 0 1; do
	for mrg in 0 1; do
		run_combo "$io" "$mrg"
	done
done
