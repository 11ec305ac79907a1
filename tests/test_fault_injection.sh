#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Front-ends die at random points; the back-end must shrug it off.
#   B = our net_vhost0, server, and net_vhost1 with iommu-support=1, io
#       forwarding, each port back to itself
#  - 120 front-ends of tests/hostile/faults.py (forked children), a third
#    each: exiting on their own at a random message of the handshake or
#    of traffic (after writing a random part of it, fds included),
#    SIGKILLed at a random time during the handshake, SIGKILLed at a
#    random time while frames flow. Every 15 cycles testpmd's fds and
#    mappings, mbufs in use and heap allocations must be back to the
#    baseline; testpmd must never die; then 60 more on the IOMMU port
#    (IOVAs, IOTLB UPDATEs, misses answered: they die with IOTLB state);
#  - then DPDK virtio-user front-ends (stock testpmd, io forwarding with
#    tx_first) SIGKILLed at random times, from EAL initialisation (the
#    handshake) to full-rate traffic;
#  - a last front-end connects to each port: its frames come back; all
#    counts back to the baseline; B quits cleanly.

. "$(dirname "$0")/lib.sh"

require_ours "it checks iovhost's resource accounting"
command -v python3 > /dev/null || skip "python3 not found"
python3 -c 'import os, socket; os.memfd_create; os.eventfd; socket.send_fds' 2> /dev/null ||
	skip "python3 lacks memfd_create/eventfd/send_fds (needs 3.10+)"

FAULTS=$IOVH_SRC_DIR/tests/hostile/faults.py
CYCLES=${IOVH_FAULT_CYCLES:-120}
ICYCLES=${IOVH_FAULT_IOMMU_CYCLES:-60}
VU_CYCLES=${IOVH_FAULT_VU_CYCLES:-4}
sock=$IOVH_WORK_DIR/vhost.sock
isock=$IOVH_WORK_DIR/iommu.sock
base=$IOVH_WORK_DIR/baseline.json
ibase=$IOVH_WORK_DIR/baseline-iommu.json

tp_start b --main-lcore 0 --vdev "net_vhost0,iface=$sock" \
	--vdev "net_vhost1,iface=$isock,iommu-support=1" -- --nb-cores=1 \
	--port-topology=loop
tp_ready b
assert_driver b
wait_socket "$sock" 5
tp_run b 10 start > /dev/null
pid=$(_tp_child b)
[ -n "$pid" ] || fail "b: no testpmd process"
faults() {
	python3 -u "$FAULTS" "$@" --tp-pid "$pid" \
		--tp-fifo "$IOVH_WORK_DIR/b.stdin" --tp-log "${TP_LOG[b]}"
}

faults baseline --out "$base" --sock "$sock" || fail "cannot take the baseline"
faults cycles --cycles "$CYCLES" --sock "$sock" \
	${IOVH_FAULT_SEED:+--seed "$IOVH_FAULT_SEED"} ||
	fail "front-ends dying at random points broke the back-end"
faults cycles --cycles "$ICYCLES" --sock "$isock" --iommu \
	${IOVH_FAULT_SEED:+--seed "$IOVH_FAULT_SEED"} ||
	fail "front-ends with an IOMMU dying at random points broke the back-end"

# ---- DPDK virtio-user front-ends, SIGKILLed at random times
for (( i = 1; i <= VU_CYCLES; i++ )); do
	name=vu$i
	# 0.05 to 3 s: EAL init (the handshake at its end) takes about half a
	# second, then traffic.
	delay=$(( 50 + RANDOM % 2950 ))
	tp_start "$name" --stock --main-lcore 1 --vdev "net_virtio_user0,path=$sock" \
		-- --nb-cores=1
	# Forwarding (tx_first) starts as soon as the prompt shows; the
	# kill comes when the delay is up, whatever stage that is.
	end=$(( $(date +%s%N) / 1000000 + delay )) started=0
	while [ $(( $(date +%s%N) / 1000000 )) -lt $end ]; do
		if [ $started = 0 ] && _tp_grep "$name" '^testpmd> ' 0; then
			tp_cmd "$name" "start tx_first 4"
			started=1
		fi
		sleep 0.05
	done
	stage=$([ $started = 1 ] && echo "forwarding" || echo "initialising")
	if tp_alive "$name"; then
		tp_kill9 "$name"
	else
		_tp_reap "$name" 2 || true
		say "$name had already exited (status ${TP_RC[$name]:-?})"
	fi
	# Its hugepages, now rather than at the end.
	for mnt in $(awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts); do
		rm -f "$mnt/$(_tp_prefix "$name")"map_*
	done
	tp_alive b || fail "b died after virtio-user $name was killed at ${delay} ms"
	say "ok: virtio-user $name killed after ${delay} ms ($stage); b alive"
done

faults final --base "$base" --sock "$sock" ||
	fail "no clean recovery after the dead front-ends"
faults final --base "$base" --sock "$isock" --iommu ||
	fail "no clean recovery of the IOMMU port after the dead front-ends"
tp_stop_fwd b > /dev/null
tp_quit b
