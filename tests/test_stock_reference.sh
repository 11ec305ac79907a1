#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Reference run with Debian's STOCK net_vhost PMD (no -d plugin), whatever
# the mode: proves that the harness tells the drivers apart (no "iovhost"
# in the log, the stock probe line present) and that the loopback checks
# of test_loopback hold for the stock driver.  The stock driver creates its
# socket when the port is configured, so virtio-user is attached from the
# prompt once the vhost port exists.

. "$(dirname "$0")/lib.sh"

sock=$IOVH_WORK_DIR/vhost.sock
tp_start pmd --stock --vdev "net_vhost0,iface=$sock" -- --nb-cores=1
tp_ready pmd

assert_stock_driver pmd
[ -S "$sock" ] || fail "expected the stock PMD's socket $sock after start-up"

out=$(tp_run pmd 20 "port attach net_virtio_user0,path=$sock" "port start all" "show port summary all")
grep -q 'Number of available ports: 2' <<< "$out" || fail "expected 2 ports after attaching virtio-user, saw: $(grep 'available ports' <<< "$out")"

tp_run pmd 10 "start tx_first" > /dev/null
sleep 4
stats=$(tp_stop_fwd pmd)
assert_io_loopback "$stats" 1000000
assert_pmd_stats_match pmd 0 "$stats"
# Front-end first: virtio-user would get SIGPIPE talking to a closed socket.
tp_run pmd 20 "port stop 1" "port close 1" > /dev/null
tp_quit pmd
[ ! -e "$sock" ] || fail "socket $sock still there after testpmd quit"
say "ok: socket removed on exit"
