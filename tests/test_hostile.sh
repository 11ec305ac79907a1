#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# A hostile front-end attacks our back-end (tests/hostile/attacks.py).
#   H = testpmd with nine of our ports, io forwarding, each port looped
#       back to itself (--port-topology=loop):
#         net_vhost0  port A: attacked, one attacker connection at a time
#         net_vhost1  port B: a well-behaved front-end stays connected and
#                     must pass traffic after every attack
#         net_vhost2-6  the attacks that wait out the back-end's 5 s peer
#                     time-out run side by side, one per port
#         net_vhost7  port I: iommu-support=1, for the IOTLB attacks
#         net_vhost8  port C: client=1, connecting to hostile servers
#  - every attack (framing, fds, memory tables, ring parameters, kick/call
#    fds, dirty log, back-end channel, protocol gating, floods, connection
#    abuse, hostile descriptor rings under traffic (split and packed),
#    IOTLB abuse with an IOMMU, client mode against hostile servers,
#    message fuzzers) is
#    followed by: testpmd alive, port B loops frames back, testpmd's fd,
#    mapping, mbuf and heap allocation counts back to their baseline;
#  - known bugs show as XFAIL lines (not failures): a sparse memfd region
#    is faulted in whole under testpmd's mlockall();
#  - H quits cleanly afterwards;
#  - S = a testpmd of its own for the attacks that, should they succeed,
#    leave the process unusable: a front-end that hands the back-end its
#    own end of the connection as the back-end channel (the port must not
#    stay wedged), then guest memory and the dirty log truncated under a
#    running device (the SIGBUS guard must hold; the front-end is dropped).
#
# IOVH_HOSTILE_ONLY=REGEX runs only the matching attacks of H (not the
# slow group); IOVH_HOSTILE_REPEAT=N runs each selected attack N times in
# the same testpmd; IOVH_FUZZ_SEED=N replays one fuzzer sequence.

. "$(dirname "$0")/lib.sh"

require_ours "the attacks check iovhost's own answers"
command -v python3 > /dev/null || skip "python3 not found"
python3 -c 'import os, socket; os.memfd_create; os.eventfd; socket.send_fds' 2> /dev/null ||
	skip "python3 lacks memfd_create/eventfd/send_fds (needs 3.10+)"

# A testpmd killed by SIGBUS (should the guard fail) leaves no core.
ulimit -c 0

HOSTILE=$IOVH_SRC_DIR/tests/hostile/attacks.py
d=$IOVH_WORK_DIR

# ---- H: the attack suite
vdevs=(--vdev "net_vhost0,iface=$d/a.sock" --vdev "net_vhost1,iface=$d/b.sock")
slow=
for k in 2 3 4 5 6; do
	vdevs+=(--vdev "net_vhost$k,iface=$d/s$k.sock")
	slow+=${slow:+,}$d/s$k.sock
done
# Port 7 (I): with an IOMMU, and a small IOTLB so that it fills up.
vdevs+=(--vdev "net_vhost7,iface=$d/i.sock,iommu-support=1,iotlb-entries=4096")
# Port 8 (C): client mode; the attacker is the server it connects to.
vdevs+=(--vdev "net_vhost8,iface=$d/c.sock,client=1")
tp_start h --main-lcore 0 "${vdevs[@]}" -- --nb-cores=1 --port-topology=loop \
	--forward-mode=io
tp_ready h
assert_driver h
wait_socket "$d/a.sock" 5
tp_run h 10 start > /dev/null
pid=$(_tp_child h)
[ -n "$pid" ] || fail "h: no testpmd process"

rc=0
python3 -u "$HOSTILE" --tp-pid "$pid" --tp-fifo "$IOVH_WORK_DIR/h.stdin" \
	--tp-log "${TP_LOG[h]}" --sock-a "$d/a.sock" --sock-b "$d/b.sock" \
	--slow-socks "$slow" --sock-i "$d/i.sock" --port-i 7 --sock-c "$d/c.sock" \
	${IOVH_HOSTILE_ONLY:+--only "$IOVH_HOSTILE_ONLY"} \
	${IOVH_HOSTILE_REPEAT:+--repeat "$IOVH_HOSTILE_REPEAT"} ||
	rc=$?
[ $rc = 0 ] || fail "hostile suite: attacks failed (see the FAIL lines above)"
say "ok: hostile suite passed"
tp_stop_fwd h > /dev/null
tp_quit h

# ---- S: attacks that, should they succeed, leave the process unusable,
# on a testpmd of their own: a port wedged for good (sa), then guest memory
# and dirty log truncated under the back-end (sc: SIGBUS).
tp_start s --main-lcore 0 --vdev "net_vhost0,iface=$d/sa.sock" \
	--vdev "net_vhost1,iface=$d/sb.sock" --vdev "net_vhost2,iface=$d/sc.sock" \
	-- --nb-cores=1 --port-topology=loop
tp_ready s
tp_run s 10 start > /dev/null
pid=$(_tp_child s)
[ -n "$pid" ] || fail "s: no testpmd process"
# group, socket, port id
for phase in "wedge sa 0" "sigbus sc 2"; do
	read -r group sock port <<< "$phase"
	rc=0
	python3 -u "$HOSTILE" --tp-pid "$pid" --tp-fifo "$IOVH_WORK_DIR/s.stdin" \
		--tp-log "${TP_LOG[s]}" --sock-a "$d/$sock.sock" --port-a "$port" \
		--sock-b "$d/sb.sock" --groups "$group" || rc=$?
	[ $rc = 0 ] || fail "$group attacks failed (see the FAIL lines above)"
done
tp_stop_fwd s > /dev/null
tp_quit s
