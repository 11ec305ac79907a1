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
# Then 4000-byte packets in three segments (A sends them through indirect
# tables, B gets them back over two mergeable 2 KiB buffers each): counts
# match, no bad chain, every packet B saw is in the 1519+ size bucket.
# The last combination then kills A in the middle of the rings' laps and
# starts another A with fresh rings (slot 0, wrap counter 1): traffic must
# flow as before, with no bad chain.

. "$(dirname "$0")/lib.sh"
require_ours "the packed ring data path is ours"

MIN=20000

# has_bit HEX BIT: whether bit BIT of the hex number HEX is set.
has_bit() { (( ($1 >> $2) & 1 )); }

# check_queues A_STATS B_STATS WHAT: per-queue flows (see the top).
check_queues() {
	local q tx rx
	for q in 0 1; do
		tx=$(fwd_stream_stat TX-packets 0 "$q" <<< "$1")
		rx=$(fwd_stream_stat RX-packets 0 "$q" <<< "$1")
		[ -n "$tx$rx" ] || fail "$3: no per-stream statistics for queue $q"
		expect_flow "$3 queue $q: A -> B -> A" "$tx" "$rx" \
			"$MIN" "$(( 2 * IO_INFLIGHT_MAX ))"
		expect_flow "$3 queue $q: A -> B" "$tx" \
			"$(fwd_stream_stat RX-packets 0 "$q" <<< "$2")" \
			"$MIN" "$IO_INFLIGHT_MAX"
	done
}

# check_bad_desc NAME: no bad chain and no drop on any queue of port 0.
check_bad_desc() {
	local xs q d f seen
	xs=$(tp_run "$1" 10 "show port xstats 0")
	for q in 0 1; do
		for d in rx tx; do
			for f in bad_desc drops; do
				seen=$(awk -v k="${d}_q${q}_$f:" '$1 == k { print $2 }' <<< "$xs")
				expect_eq "$1: xstat ${d}_q${q}_$f" "$seen" 0
			done
		done
	done
}

run_combo() {
	local io=$1 mrg=$2 restart=${3:-} mark b=b$1$2 a=a$1$2 sock feat xs q d f want seen
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

	check_queues "$a_stats" "$b_stats" "packed io=$io mrg=$mrg"

	xs=$(tp_run "$b" 10 "show port xstats 0")
	for q in 0 1; do
		for d in rx tx; do
			f=RX-packets; [ $d = tx ] && f=TX-packets
			want=$(fwd_stream_stat "$f" 0 "$q" <<< "$b_stats")
			seen=$(awk -v k="${d}_q${q}_packets:" '$1 == k { print $2 }' <<< "$xs")
			expect_eq "$b: xstat ${d}_q${q}_packets" "$seen" "$want"
		done
	done
	check_bad_desc "$b"

	if [ -n "$restart" ]; then
		# The front-end dies mid-lap; a new one comes with fresh rings
		# (slot 0, wrap counter 1) to a back-end whose rings were not.
		tp_kill9 "$a"
		wait_link "$b" 0 down 10
		tp_start "$a-2" --stock --main-lcore 1 \
			--vdev "net_virtio_user0,path=$sock,queues=2,packed_vq=1,in_order=$io,mrg_rxbuf=$mrg" \
			-- --nb-cores=1 --rxq=2 --txq=2
		tp_ready "$a-2" 20
		wait_link "$b" 0 up 10
		tp_run "$b" 10 start > /dev/null
		tp_run "$a-2" 10 "start tx_first 4" > /dev/null
		sleep 3
		a_stats=$(tp_stop_fwd "$a-2")
		sleep 0.5
		b_stats=$(tp_stop_fwd "$b")
		a=$a-2
		check_queues "$a_stats" "$b_stats" "packed io=$io mrg=$mrg after a restart"
		check_bad_desc "$b"
	fi

	tp_quit "$a"
	tp_quit "$b"
}

# run_jumbo: one queue pair, mrg_rxbuf=1, 4000-byte three-segment packets.
run_jumbo() {
	local sock=$IOVH_WORK_DIR/packedj.sock a_stats b_stats tx rx xs big
	tp_start bj --main-lcore 0 --vdev "net_vhost0,iface=$sock" \
		-- --nb-cores=1 --max-pkt-len=9000 --enable-scatter
	tp_ready bj
	assert_driver bj
	wait_socket "$sock" 5
	tp_run bj 10 start > /dev/null
	tp_start aj --stock --main-lcore 1 \
		--vdev "net_virtio_user0,path=$sock,packed_vq=1,mrg_rxbuf=1,in_order=0" \
		-- --nb-cores=1 --max-pkt-len=9000 --enable-scatter \
		--txpkts=1500,1500,1000
	tp_ready aj 20
	wait_link bj 0 up 10
	tp_run aj 10 "start tx_first" > /dev/null
	sleep 3
	a_stats=$(tp_stop_fwd aj)
	sleep 0.5
	b_stats=$(tp_stop_fwd bj)
	tx=$(fwd_port_stat TX-packets 0 <<< "$a_stats")
	rx=$(fwd_port_stat RX-packets 0 <<< "$a_stats")
	expect_flow "packed jumbo: A -> B -> A" "$tx" "$rx" 1000 "$IO_INFLIGHT_MAX"
	expect_flow "packed jumbo: A -> B" "$tx" \
		"$(fwd_port_stat RX-packets 0 <<< "$b_stats")" 1000 "$IO_INFLIGHT_MAX"
	xs=$(tp_run bj 10 "show port xstats 0")
	big=$(awk '$1 == "rx_q0_size_1519_to_max_packets:" { print $2 }' <<< "$xs")
	expect_eq "bj: packets of 1519+ bytes received" "$big" \
		"$(fwd_port_stat RX-packets 0 <<< "$b_stats")"
	for f in rx_q0_bad_desc rx_q0_drops tx_q0_bad_desc tx_q0_drops; do
		expect_eq "bj: xstat $f" "$(awk -v k="$f:" '$1 == k { print $2 }' <<< "$xs")" 0
	done
	tp_quit aj
	tp_quit bj
}

run_combo 0 0
run_combo 0 1
run_combo 1 0
run_jumbo
run_combo 1 1 restart
