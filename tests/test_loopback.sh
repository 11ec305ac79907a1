#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# One testpmd, our net_vhost0 (server) and net_virtio_user0 on the same
# command line: this works only because our PMD creates its socket at
# probe, before virtio-user (probed next) connects.  io forwarding with
# tx_first for ~5 s, then:
#  - each port received more than 1,000,000 packets;
#  - per direction, the receiver counted no more than the sender sent and
#    at most IO_INFLIGHT_MAX fewer (nothing lost, nothing made up);
#  - our port's own statistics (show port stats) equal testpmd's counts.

. "$(dirname "$0")/lib.sh"
require_ours "the stock PMD creates its socket only when the port is configured"

sock=$IOVH_WORK_DIR/vhost.sock
tp_start pmd --vdev "net_vhost0,iface=$sock" --vdev "net_virtio_user0,path=$sock" \
	-- --nb-cores=1
tp_ready pmd
assert_driver pmd

out=$(tp_run pmd 10 "show port summary all" "show port info 0")
grep -q 'Number of available ports: 2' <<< "$out" ||
	fail "expected 2 ports (net_vhost0, net_virtio_user0), saw: $(grep 'available ports' <<< "$out")"
expect_eq "port 0 link status with virtio-user connected" "$(link_status <<< "$out")" up

tp_run pmd 10 "start tx_first" > /dev/null
sleep 5
stats=$(tp_stop_fwd pmd)
assert_io_loopback "$stats" 1000000
assert_pmd_stats_match pmd 0 "$stats"

# Front-end first: virtio-user would get SIGPIPE talking to a closed socket.
tp_run pmd 20 "port stop 1" "port close 1" > /dev/null
tp_quit pmd
[ ! -e "$sock" ] || fail "socket $sock still there after testpmd quit"
say "ok: socket removed on exit"
