#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Probe and devargs:
#  - with -d plugin, net_vhost0 is probed by OUR driver (a log line with
#    "iovhost" and the VERSION of the tree, no stock probe line), and so is
#    the alias net_iovhost0, in the same process: 2 ports, both sockets
#    exist while testpmd runs (one replacing a stale socket file) and are
#    gone after a clean quit;
#  - bad devargs make the probe fail: EAL reports "failed to initialize",
#    no port is created, no socket is left, testpmd neither crashes nor
#    hangs, and our driver logs a message naming the offending key.

. "$(dirname "$0")/lib.sh"
require_ours "checks our driver's probe line and devargs checking"

s1=$IOVH_WORK_DIR/a.sock
s2=$IOVH_WORK_DIR/b.sock
# s1 starts as a stale socket file, as a killed server leaves it: the
# probe must replace it (doc/pmd.rst, "Lifetime").
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$s1"
[ -S "$s1" ] || fail "could not make the stale socket file $s1"
tp_start good --vdev "net_vhost0,iface=$s1" --vdev "net_iovhost0,iface=$s2" -- --nb-cores=1
tp_ready good
assert_driver good
out=$(tp_run good 10 "show port summary all")
grep -q 'Number of available ports: 2' <<< "$out" ||
	fail "expected 2 ports (net_vhost0 and alias net_iovhost0), saw: $(grep 'available ports' <<< "$out")"
for dev in net_vhost0 net_iovhost0; do
	grep -qw "$dev" <<< "$out" || fail "no port named $dev in: $out"
done
say "ok: ports net_vhost0 and net_iovhost0 created"
[ -S "$s1" ] || fail "expected socket $s1 of net_vhost0 while testpmd runs"
[ -S "$s2" ] || fail "expected socket $s2 of net_iovhost0 while testpmd runs"
tp_quit good
for s in "$s1" "$s2"; do
	[ ! -e "$s" ] || fail "socket $s still there after testpmd quit"
done
say "ok: sockets created, removed on exit"

# bad_case KEY DEVARGS: probing net_vhost0 with DEVARGS must fail, and the
# message must name KEY.
n=0
bad_case() {
	local key=$1 args=$2 name out line
	n=$(( n + 1 ))
	name=bad$n
	rm -f "$IOVH_WORK_DIR/bad.sock"
	say "--- bad devargs: net_vhost0${args:+,$args}"
	tp_start "$name" --vdev "net_vhost0${args:+,$args}" -- --nb-cores=1
	tp_ready "$name" 30
	out=$(tp_run "$name" 10 "show port summary all")
	grep -q 'Number of available ports: 0' <<< "$out" ||
		fail "'$args': expected the probe to fail and no port, saw: $(grep -A3 'available ports' <<< "$out")"
	log_text "$name" | grep -q 'failed to initialize net_vhost0' ||
		fail "'$args': expected EAL's 'failed to initialize net_vhost0 device' (probe returning an error)"
	line=$(log_text "$name" | grep -v -e 'failed to initialize' -e '^EAL:' -e '^testpmd' |
		grep -i -m1 -- "$key" || true)
	[ -n "$line" ] || fail "'$args': expected an error message naming '$key', saw none"
	tp_quit "$name"
	[ ! -e "$IOVH_WORK_DIR/bad.sock" ] || fail "'$args': failed probe left socket bad.sock behind"
	say "ok: '$args' rejected: $line"
}

b=iface=$IOVH_WORK_DIR/bad.sock
bad_case bogus   "$b,bogus=1"
bad_case iface   "queues=1"
bad_case queues  "$b,queues=0"
bad_case queues  "$b,queues=999"
bad_case queues  "$b,queues=abc"
bad_case client  "$b,client=2"
bad_case queues  "$b,queues=1,queues=2"
