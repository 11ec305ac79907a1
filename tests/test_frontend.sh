#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# iovhost-frontend (our own front-end, with an emulated IOMMU) against a
# testpmd that loops its single vhost port back to itself:
#  - ours, IOMMU off: 1 and 2 queue pairs, 2 and 8 memory regions, 64 and
#    1500-byte frames, mergeable buffers on and off: every packet comes back
#    intact (the front-end checks sequence numbers and payload checksums and
#    exits non-zero on loss, corruption, reordering or a protocol error);
#  - ours, IOMMU asked for without iommu-support=1: refused cleanly (the
#    back-end does not offer VIRTIO_F_IOMMU_PLATFORM then);
#  - ours with iommu-support=1: pt (4k and 2m pages) and prefault lose
#    nothing; strict and lazy (every buffer unmapped when returned; batched
#    domain-wide flushes ending at 2^64) see no violation and no corrupt,
#    duplicated or reordered packet, and keep traffic flowing; in strict
#    mode the IOTLB xstats move (MISSes sent, UPDATEs, INVALIDATEs, misses
#    in the latency histogram);
#  - the stock PMD as a reference, IOMMU off and pt.
# The FRONTEND lines are kept in the log for the notes.

. "$(dirname "$0")/lib.sh"

FE=${IOVH_BUILD_DIR:-$IOVH_SRC_DIR/build}/app/frontend/iovhost-frontend
[ -x "$FE" ] || fail "iovhost-frontend is not built at $FE (meson -Dfrontend=true)"

sock=$IOVH_WORK_DIR/fe.sock

# run_fe NAME EXPECTED_RC ARGS...: run the front-end, check its exit status
# and, when it passed, that nothing was lost; prints its FRONTEND line.
# With IOVH_FE_LOSS_OK=1 loss is tolerated (the safety checks still apply).
run_fe() {
	local name=$1 want=$2 rc=0 out line lost; shift 2
	out=$IOVH_LOG_DIR/$name.frontend.log
	# A loaded 2-core machine can starve the front-end for a while: give
	# its flow control time before it writes in-flight packets off.
	timeout -k 5 60 "$FE" --socket "$sock" --timeout 5 --writeoff-ms 3000 \
		"$@" > "$out" 2>&1 || rc=$?
	line=$(grep '^FRONTEND ' "$out" | tail -n1 || true)
	if [ "$rc" != "$want" ]; then
		tail -n 20 "$out" >&2
		fail "$name: iovhost-frontend exited $rc, expected $want ($*)"
	fi
	if [ "$want" = 0 ]; then
		[ -n "$line" ] || fail "$name: no FRONTEND line"
		lost=$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<< "$line")
		[ "${IOVH_FE_LOSS_OK:-0}" = 1 ] ||
			expect_eq "$name: packets lost" "$lost" 0
		for k in corrupt dup reorder violations; do
			expect_eq "$name: $k" "$(sed -n "s/.* $k=\([0-9]*\).*/\1/p" <<< "$line")" 0
		done
		rx=$(sed -n 's/.* rx_pkts=\([0-9]*\).*/\1/p' <<< "$line")
		expect_ge "$name: packets back" "$rx" "${IOVH_FE_MIN_RX:-10000}"
	fi
	say "$name: ${line:-exit $rc}"
}

# run_fe_safety NAME ARGS...: no protocol error (exit 2), no violation,
# no corrupt, duplicated or reordered packet; traffic came back.
run_fe_safety() {
	local name=$1 rc=0 out line rx; shift
	out=$IOVH_LOG_DIR/$name.frontend.log
	timeout -k 5 60 "$FE" --socket "$sock" --timeout 5 --writeoff-ms 3000 \
		"$@" > "$out" 2>&1 || rc=$?
	line=$(grep '^FRONTEND ' "$out" | tail -n1 || true)
	[ "$rc" != 2 ] || { tail -n 20 "$out" >&2; fail "$name: protocol error or timeout"; }
	[ -n "$line" ] || fail "$name: no FRONTEND line"
	for k in corrupt dup reorder violations; do
		expect_eq "$name: $k" "$(sed -n "s/.* $k=\([0-9]*\).*/\1/p" <<< "$line")" 0
	done
	rx=$(sed -n 's/.* rx_pkts=\([0-9]*\).*/\1/p' <<< "$line")
	expect_ge "$name: packets back" "$rx" "${IOVH_FE_MIN_RX:-10000}"
	say "$name: $line"
}

# xstat KEY TEXT: the value of one xstat in "show port xstats" output TEXT.
xstat() { awk -v k="$1:" '$1 == k { v = $2 } END { print v + 0 }' <<< "$2"; }
# xstat_sum REGEX TEXT: the sum of the xstats whose name matches REGEX.
xstat_sum() { awk -v re="$1" '$1 ~ re { s += $2 } END { print s + 0 }' <<< "$2"; }

# iotlb_counters_moved NAME BEFORE AFTER: in strict mode every buffer is
# unmapped once returned, so the IOTLB counters of port 0 must have moved:
# MISSes sent, UPDATEs and INVALIDATEs applied, misses timed in the latency
# histogram (no more than the misses the queues met), entries within the cap.
iotlb_counters_moved() {
	local name=$1 a=$2 b=$3 k d lat miss
	for k in iotlb_misses_sent iotlb_updates iotlb_invalidates; do
		d=$(( $(xstat $k "$b") - $(xstat $k "$a") ))
		expect_ge "$name: xstat $k grew by" "$d" 1
	done
	lat=$(( $(xstat_sum '_iotlb_miss_lat_' "$b") - $(xstat_sum '_iotlb_miss_lat_' "$a") ))
	miss=$(( $(xstat_sum '_q[0-9]+_iotlb_misses:' "$b") - $(xstat_sum '_q[0-9]+_iotlb_misses:' "$a") ))
	expect_ge "$name: misses in the latency histogram" "$lat" 1
	expect_le "$name: misses in the latency histogram" "$lat" "$miss"
	expect_le "$name: iotlb_entries" "$(xstat iotlb_entries "$b")" \
		"$(xstat iotlb_capacity "$b")"
	say "$name: xstats +$(( $(xstat iotlb_misses_sent "$b") - $(xstat iotlb_misses_sent "$a") )) misses sent, +$lat timed (of +$miss met)"
}

# backend NAME [--stock] QUEUES [devargs]: testpmd looping port 0 to itself.
backend() {
	local name=$1 stock=() q dev; shift
	if [ "$1" = --stock ]; then stock=(--stock); shift; fi
	q=$1; dev=${2:-}
	rm -f "$sock"
	tp_start "$name" "${stock[@]}" --vdev "net_vhost0,iface=$sock,queues=$q$dev" \
		-- --nb-cores=1 --forward-mode=io --port-topology=loop \
		--rxq="$q" --txq="$q"
	tp_ready "$name"
	tp_run "$name" 10 start > /dev/null
}

if [ "$IOVH_MODE" = ours ]; then
	backend ours 2
	assert_driver ours
	run_fe ours-off 0 --iommu off --seconds 2 --regions 2
	run_fe ours-off-8reg-2q 0 --iommu off --seconds 2 --regions 8 --queues 2
	run_fe ours-off-1500 0 --iommu off --seconds 2 --size 1500
	run_fe ours-off-nomrg 0 --iommu off --seconds 2 --no-mrg --no-event-idx
	# Not offered yet: the front-end must be told no, not half-served.
	run_fe ours-strict-refused 2 --iommu strict --seconds 1
	grep -q IOMMU_PLATFORM "$IOVH_LOG_DIR/ours-strict-refused.frontend.log" ||
		fail "ours-strict-refused: the refusal does not name IOMMU_PLATFORM"
	tp_alive ours || fail "our testpmd died"
	tp_quit ours

	backend ours-iommu 1 ",iommu-support=1"
	run_fe iommu-pt-4k 0 --iommu pt --packets 50000
	run_fe iommu-pt-2m 0 --iommu pt --iotlb-page 2m --packets 50000
	run_fe iommu-prefault 0 --iommu prefault --packets 50000
	xs0=$(tp_run ours-iommu 10 "show port xstats 0")
	IOVH_FE_LOSS_OK=1 IOVH_FE_MIN_RX=300 \
		run_fe iommu-strict 0 --iommu strict --packets 500
	iotlb_counters_moved iommu-strict "$xs0" \
		"$(tp_run ours-iommu 10 "show port xstats 0")"
	# Lazy: the front-end also fails a run on misses it considers
	# repeated; the safety counters are what is asserted here.
	IOVH_FE_LOSS_OK=1 IOVH_FE_MIN_RX=1000 \
		run_fe_safety iommu-lazy --iommu lazy --packets 3000
	tp_alive ours-iommu || fail "our testpmd (iommu) died"
	tp_quit ours-iommu
fi

backend stock --stock 1 ",iommu-support=1"
run_fe stock-off 0 --iommu off --seconds 2
run_fe stock-pt 0 --iommu pt --perm loose --iotlb-page 2m --seconds 2
tp_quit stock
say "PASS"
