#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# virtio-net offloads and large packets, end to end: testpmd "vh" with our
# net_vhost0 and a pcap port, and a second testpmd "fe" with virtio-user
# as the front-end and a pcap port. Packets come from pcap files written
# here (tests/offload_pcap.py) and are checked in the pcap files written by
# the receiving side:
#
#  1. tso=1,ext-buffer=1, virtio-user with LRO/checksum RX offloads: our
#     negotiated-features line shows GUEST_CSUM and GUEST_TSO4/6 (and, in
#     3, with TSO/checksum TX offloads, CSUM and HOST_TSO4/6).
#  2. vh -> fe (enqueue): vh forwards 60000-byte TCP (IPv4, IPv6) and small
#     TCP/UDP packets with "csum" forwarding, hw IP/TCP/UDP checksums and
#     "tso set 1448" on our port. The front-end must get every packet
#     intact, 16 of them as LRO (GSO) packets, with a valid IPv4 header
#     checksum and an L4 checksum field that completes to a valid checksum
#     (the pseudo-header sum virtio expects).
#  3. fe -> vh (dequeue): fe forwards the same packets with "csum" and
#     "tso set 1448" on virtio-user; our port must report them with
#     RTE_MBUF_F_RX_LRO, L4 checksum GOOD (completed in software: the
#     application did not enable the RX checksum offload), in one segment
#     (ext-buffer), and the pcap written by vh must hold them with full,
#     valid checksums.
#  4. 9000-byte frames fe -> vh with ext-buffer: 50 sent, 50 received, one
#     segment each; "port config mtu 0 9000" is accepted and shown.
#  1-4 again over packed rings (virtio-user packed_vq=1): bit 34
#     (RING_PACKED) is in our negotiated-features line.
#  5. tso=0 (and legacy-ol-flags=1: no RX checksum/LRO capability):
#     virtio-user cannot enable TSO (HOST_TSO4/6 not offered); 9000-byte
#     frames arrive as 5-segment chains (2 KiB mbufs), 50 of 50.
#  6. linear-buffer=1 with 2 KiB mbufs: no TSO even with tso=1, and the
#     50 frames are dropped and counted (as DPDK does); with 10 KiB mbufs
#     they arrive, 50 of 50, one segment each.
#  7. legacy-ol-flags=1, tso=1, our port looped to itself: the front-end's
#     TSO packets come back to it as LRO (GSO) packets, intact (the legacy
#     TX flags of the dequeue drive the enqueue's GSO header).

. "$(dirname "$0")/lib.sh"
require_ours "offload devargs and the negotiated-features line are ours"

# fail() prints on stdout, which "> /dev/null" or "$(...)" around a helper
# swallows: say it on stderr too, which reaches the test's log regardless.
eval "lib_$(declare -f fail)"
fail() { echo "[$(date +%T)] FAIL: $*" >&2; lib_fail "$@"; }

PK="python3 $IOVH_SRC_DIR/tests/offload_pcap.py"
W=$IOVH_WORK_DIR
sock=$W/vh.sock
$PK gen "$W/in_big.pcap" "$W/in_jumbo.pcap" "$W/empty.pcap" ||
	fail "cannot write the input pcap files"
N_BIG=32	# packets in in_big.pcap, 16 of them 60000-byte TCP
N_GSO=16
N_JUMBO=50	# 9000-byte UDP frames in in_jumbo.pcap

# Features (virtio-net bit numbers).
F_CSUM=0; F_GUEST_CSUM=1; F_GSO=6; F_GUEST_TSO4=7; F_GUEST_TSO6=8
F_HOST_TSO4=11; F_HOST_TSO6=12; F_HOST_UFO=14; F_RING_PACKED=34

# has_bit HEX BIT
has_bit() { (( ($1 >> $2) & 1 )); }

# last_features NAME: the features of our last "negotiated features" line.
last_features() {
	grep -o 'negotiated features 0x[0-9a-f]*' "${TP_LOG[$1]}" | tail -n1 |
		awk '{ print $3 }'
}

# start_vh NAME DEVARGS [testpmd args]: our port 0 and pcap port 1 reading
# PCAP_IN (default: empty) and writing $W/NAME.out.pcap.
start_vh() {
	local name=$1 args=$2; shift 2
	rm -f "$sock"
	tp_start "$name" --main-lcore 0 --vdev "net_vhost0,iface=$sock,$args" \
		--vdev "net_pcap0,rx_pcap=${PCAP_IN:-$W/empty.pcap},tx_pcap=$W/$name.out.pcap" \
		-- --nb-cores=1 --no-flush-rx "$@"
	tp_ready "$name"
	assert_driver "$name"
	wait_socket "$sock" 10
}

# start_fe NAME PCAP_IN [testpmd args]: virtio-user port 0, pcap port 1.
start_fe() {
	local name=$1 in=$2; shift 2
	tp_start "$name" --main-lcore 1 \
		--vdev "net_virtio_user0,path=$sock,queues=1,queue_size=256${FE_VDEV_EXTRA:-}" \
		--vdev "net_pcap1,rx_pcap=$in,tx_pcap=$W/$name.out.pcap" \
		-- --nb-cores=1 --no-flush-rx --rxd=256 --txd=256 "$@"
	tp_ready "$name"
	# A 60000-byte chain takes 30 descriptors of the 256: wait for room
	# (up to 0.2 s a burst) rather than drop, with "fwd ... retry".
	tp_run "$name" 10 "set burst tx delay 100 retry 2000" > /dev/null
	wait_link "$name" 0 up 10
}

# fwd_until NAME PORT FIELD N SECONDS: poll "show port stats" until FIELD
# of PORT reaches N; print the value.
stat_until() {
	local name=$1 p=$2 f=$3 n=$4 secs=$5 v= end
	end=$(( $(date +%s) + secs ))
	while :; do
		v=$(tp_run "$name" 10 "show port stats $p" | port_stat "$f" "$p")
		{ is_uint "$v" && [ "$v" -ge "$n" ]; } && break
		[ "$(date +%s)" -lt "$end" ] || break
		sleep 0.5
	done
	echo "${v:-}"
}

# expect_no_tso NAME WHY: virtio-user of NAME cannot enable TSO (ethdev
# refuses it: HOST_TSO4/6 were not offered); then restart without it.
expect_no_tso() {
	local out
	out=$(tp_run "$1" 20 "port stop 0" "port config 0 tx_offload tcp_tso on" \
		"port start 0")
	grep -q "doesn't match Tx offloads capabilities" <<< "$out" ||
		fail "$1: virtio-user accepted TSO although $2: $(tail -n 5 <<< "$out")"
	tp_run "$1" 20 "port config 0 tx_offload tcp_tso off" "port start 0" > /dev/null
	say "ok: $2: virtio-user cannot enable TSO"
}

# count_rx NAME ERE FROM: verbose RX dump lines of NAME matching ERE.
count_rx() { tp_since "$1" "$3" | grep -c -E "$2" || true; }

# offload_phases P: phases 1-4; P is "" (split rings) or "_packed"
# (virtio-user packed_vq=1, which must negotiate RING_PACKED); names of
# testpmds and pcap files carry P.
offload_phases() {
	local P=$1 f out v n mark vmark xs c
	# ------------------------------------------------- 1: TSO negotiated
	# Big mbufs on the front-end, so that a 60000-byte packet is one segment
	# there and its pcap port writes it whole (it truncates chained packets).
	TP_MBUFS=3072 PCAP_IN=$W/in_big.pcap start_vh vh$P "tso=1,ext-buffer=1"
	TP_MBUFS=1536 start_fe fe1$P "$W/empty.pcap" --mbuf-size=62000
	tp_run fe1$P 20 "port stop 0" \
		"port config 0 rx_offload tcp_lro on" \
		"port config 0 rx_offload tcp_cksum on" \
		"port config 0 rx_offload udp_cksum on" \
		"port start 0" > /dev/null
	wait_link fe1$P 0 up 10
	f=$(last_features vh$P)
	[ -n "$f" ] || fail "vh$P: no negotiated-features line"
	for b in $F_GUEST_CSUM $F_GUEST_TSO4 $F_GUEST_TSO6; do
		has_bit "$f" "$b" || fail "negotiated features $f lack bit $b"
	done
	say "ok: negotiated features $f include GUEST_CSUM, GUEST_TSO4/6"
	if [ -n "$P" ]; then
		has_bit "$f" $F_RING_PACKED || fail "packed_vq=1 but RING_PACKED not negotiated ($f)"
		say "ok: packed: negotiated features $f include RING_PACKED (bit 34)"
	fi

	# ------------------------------------------------- 2: enqueue TSO/csum
	tp_run fe1$P 10 "set fwd io" "set verbose 1" "start" > /dev/null
	out=$(tp_run vh$P 30 "port stop 0" "csum set ip hw 0" "csum set tcp hw 0" \
		"csum set udp hw 0" "tso set 1448 0" "port start 0")
	grep -qiE 'error|not supported' <<< "$out" &&
		fail "vh$P: setting checksum/TSO offloads failed: $(grep -iE 'error|not supported' <<< "$out" | head -n3)"
	wait_link vh$P 0 up 10
	wait_link fe1$P 0 up 10
	mark=$(tp_mark fe1$P)
	tp_run vh$P 10 "set fwd csum" "start" > /dev/null
	v=$(stat_until fe1$P 0 RX-packets $N_BIG 20)
	expect_eq "fe1$P port 0 (virtio-user) RX-packets" "$v" $N_BIG
	sleep 1
	tp_stop_fwd vh$P > /dev/null
	tp_stop_fwd fe1$P > /dev/null
	n=$(count_rx fe1$P 'RTE_MBUF_F_RX_LRO' "$mark")
	expect_eq "packets virtio-user received as LRO (GSO)" "$n" $N_GSO
	tp_quit fe1$P
	$PK check partial "$W/fe1$P.out.pcap" ||
		fail "packets received by virtio-user are not the ones sent, or their checksums are wrong"
	say "ok: $N_BIG packets intact at the front-end, IPv4 and partial L4 checksums valid"

	# ------------------------------------------------- 3: dequeue TSO/csum
	TP_MBUFS=3072 start_fe fe2$P "$W/in_big.pcap"
	out=$(tp_run fe2$P 30 "port stop 0" \
		"port config 0 tx_offload tcp_tso on" \
		"port config 0 tx_offload tcp_cksum on" \
		"port config 0 tx_offload udp_cksum on" \
		"csum set tcp hw 0" "csum set udp hw 0" "tso set 1448 0" "port start 0")
	grep -qiE 'error|not supported' <<< "$out" &&
		fail "fe2$P: setting TX offloads on virtio-user failed: $(grep -iE 'error|not supported' <<< "$out" | head -n3)"
	wait_link fe2$P 0 up 10
	f=$(last_features vh$P)
	for b in $F_CSUM $F_HOST_TSO4 $F_HOST_TSO6; do
		has_bit "$f" "$b" || fail "negotiated features $f lack bit $b"
	done
	say "ok: negotiated features $f include CSUM, HOST_TSO4/6 (tso=1)"
	vmark=$(tp_mark vh$P)
	tp_run vh$P 10 "set fwd io" "set verbose 1" "start" > /dev/null
	tp_run fe2$P 10 "set fwd csum retry" "start" > /dev/null
	v=$(stat_until vh$P 0 RX-packets $N_BIG 20)
	expect_eq "vh port 0 RX-packets" "$v" $N_BIG
	sleep 1
	tp_stop_fwd fe2$P > /dev/null
	tp_stop_fwd vh$P > /dev/null
	expect_eq "packets our port reported as LRO" \
		"$(count_rx vh$P 'RTE_MBUF_F_RX_LRO' "$vmark")" $N_GSO
	expect_eq "packets our port reported with L4 checksum GOOD" \
		"$(count_rx vh$P 'RTE_MBUF_F_RX_L4_CKSUM_GOOD' "$vmark")" $N_BIG
	expect_eq "60000-byte packets in one segment (ext-buffer)" \
		"$(count_rx vh$P 'length=60014 - nb_segs=1 ' "$vmark")" $N_GSO
	tp_quit fe2$P
	# vh's pcap port also got phase 2's empty direction: only these packets.
	xs=$(tp_run vh$P 10 "show port xstats 0")
	expect_eq "our port's rx_q0_offload_errors" \
		"$(awk '$1 == "rx_q0_offload_errors:" { print $2 }' <<< "$xs")" 0

	out=$(tp_run vh$P 10 "show port 0 rx_offload capabilities" \
		"show port 0 tx_offload capabilities")
	for c in TCP_CKSUM UDP_CKSUM TCP_LRO TCP_TSO IPV4_CKSUM; do
		grep -q "$c" <<< "$out" || fail "vh$P: capability $c not advertised: $out"
	done
	say "ok: compliant flags: RX TCP/UDP_CKSUM, TCP_LRO and TX TCP_TSO, IPV4_CKSUM advertised"

	# ------------------------------------------------- 4: 9000 B, ext-buffer, MTU
	out=$(tp_run vh$P 10 "port config mtu 0 9000" "show port info 0")
	grep -qE '^MTU: 9000' <<< "$out" || fail "vh$P: MTU 9000 not set: $(grep -i mtu <<< "$out")"
	say "ok: port config mtu 0 9000"
	TP_MBUFS=2048 start_fe fe3$P "$W/in_jumbo.pcap"
	vmark=$(tp_mark vh$P)
	tp_run vh$P 10 "clear port stats 0" "set fwd rxonly" "start" > /dev/null
	tp_run fe3$P 10 "set fwd io retry" "start" > /dev/null
	v=$(stat_until vh$P 0 RX-packets $N_JUMBO 20)
	tp_stop_fwd fe3$P > /dev/null
	tp_stop_fwd vh$P > /dev/null
	expect_eq "9000-byte frames received (ext-buffer)" "$v" $N_JUMBO
	expect_eq "9000-byte frames in one segment (ext-buffer)" \
		"$(count_rx vh$P 'length=9000 - nb_segs=1 ' "$vmark")" $N_JUMBO
	tp_quit fe3$P
	tp_quit vh$P
	$PK check full "$W/vh$P.out.pcap" ||
		fail "packets received by our port are not the ones sent, or their checksums are wrong"
	say "ok: $N_BIG packets intact at our port, checksums complete and valid"
}

offload_phases ""
FE_VDEV_EXTRA=",packed_vq=1" offload_phases _packed

# ------------------------------------------------- 5: defaults (tso=0)
start_vh vh2 "legacy-ol-flags=1"
out=$(tp_run vh2 10 "show port 0 rx_offload capabilities")
grep -qE 'TCP_CKSUM|TCP_LRO' <<< "$out" &&
	fail "vh2: legacy-ol-flags=1 but RX checksum/LRO advertised: $out"
say "ok: legacy-ol-flags=1: no RX checksum/LRO capability"
TP_MBUFS=2048 start_fe fe4 "$W/in_jumbo.pcap"
expect_no_tso fe4 "tso=0"
wait_link fe4 0 up 10
f=$(last_features vh2)
has_bit "$f" $F_HOST_TSO4 && fail "tso=0 but HOST_TSO4 negotiated ($f)"
say "ok: tso=0: HOST_TSO4/6 not offered"
vmark=$(tp_mark vh2)
tp_run vh2 10 "set fwd rxonly" "set verbose 1" "start" > /dev/null
tp_run fe4 10 "set fwd io retry" "start" > /dev/null
v=$(stat_until vh2 0 RX-packets $N_JUMBO 20)
tp_stop_fwd fe4 > /dev/null
tp_stop_fwd vh2 > /dev/null
expect_eq "9000-byte frames received (chains)" "$v" $N_JUMBO
expect_eq "9000-byte frames as 5-segment chains" \
	"$(count_rx vh2 'length=9000 - nb_segs=5 ' "$vmark")" $N_JUMBO
tp_quit fe4
tp_quit vh2

# ------------------------------------------------- 6: linear-buffer
start_vh vh3 "tso=1,linear-buffer=1"
TP_MBUFS=2048 start_fe fe5 "$W/in_jumbo.pcap"
expect_no_tso fe5 "linear-buffer=1"
wait_link fe5 0 up 10
tp_run vh3 10 "set fwd rxonly" "start" > /dev/null
tp_run fe5 10 "set fwd io retry" "start" > /dev/null
v=$(stat_until fe5 0 TX-packets $N_JUMBO 20)
expect_eq "fe5 TX-packets" "$v" $N_JUMBO
d=
for _ in 1 2 3 4 5 6 7 8 9 10; do
	d=$(tp_run vh3 10 "show port xstats 0" | awk '$1 == "rx_q0_drops:" { print $2 }')
	[ "$d" = $N_JUMBO ] && break
	sleep 0.5
done
tp_stop_fwd fe5 > /dev/null
st=$(tp_stop_fwd vh3)
expect_eq "linear-buffer, 2 KiB mbufs: frames dropped (rx_q0_drops)" "$d" $N_JUMBO
expect_eq "linear-buffer, 2 KiB mbufs: frames received" \
	"$(fwd_port_stat RX-packets 0 <<< "$st")" 0
tp_quit fe5
tp_quit vh3

start_vh vh4 "linear-buffer=1" --mbuf-size=10240
TP_MBUFS=2048 start_fe fe6 "$W/in_jumbo.pcap"
vmark=$(tp_mark vh4)
tp_run vh4 10 "set fwd rxonly" "set verbose 1" "start" > /dev/null
tp_run fe6 10 "set fwd io retry" "start" > /dev/null
v=$(stat_until vh4 0 RX-packets $N_JUMBO 20)
tp_stop_fwd fe6 > /dev/null
tp_stop_fwd vh4 > /dev/null
expect_eq "linear-buffer, 10 KiB mbufs: frames received" "$v" $N_JUMBO
expect_eq "linear-buffer, 10 KiB mbufs: frames in one segment" \
	"$(count_rx vh4 'length=9000 - nb_segs=1 ' "$vmark")" $N_JUMBO
tp_quit fe6
tp_quit vh4

# ------------------------------------------------- 7: legacy flags, TSO through
# Legacy flags turn the front-end's GSO header into TX_TCP_SEG (with the
# lengths and tso_segsz) on receive; looped back out of the same port, the
# enqueue must turn them into a GSO header again: the front-end gets its
# own 60000-byte packets back as LRO packets. With compliant flags
# (RX_LRO) nothing would ask the enqueue for TSO.
start_vh vh5 "tso=1,legacy-ol-flags=1" --port-topology=loop
TP_MBUFS=1536 start_fe fe7 "$W/in_big.pcap" --mbuf-size=62000
out=$(tp_run fe7 30 "port stop 0" \
	"port config 0 rx_offload tcp_lro on" \
	"port config 0 rx_offload tcp_cksum on" \
	"port config 0 rx_offload udp_cksum on" \
	"port config 0 tx_offload tcp_tso on" \
	"port config 0 tx_offload tcp_cksum on" \
	"port config 0 tx_offload udp_cksum on" \
	"csum set tcp hw 0" "csum set udp hw 0" "tso set 1448 0" "port start 0")
grep -qiE 'error|not supported' <<< "$out" &&
	fail "fe7: setting offloads on virtio-user failed: $(grep -iE 'error|not supported' <<< "$out" | head -n3)"
wait_link fe7 0 up 10
f=$(last_features vh5)
for b in $F_CSUM $F_GUEST_CSUM $F_GUEST_TSO4 $F_GUEST_TSO6 $F_HOST_TSO4 $F_HOST_TSO6; do
	has_bit "$f" "$b" || fail "negotiated features $f lack bit $b"
done
say "ok: negotiated features $f: checksums and TSO both ways"
tp_run vh5 10 "set fwd io" "start" > /dev/null
fmark=$(tp_mark fe7)
tp_run fe7 10 "set fwd csum retry" "set verbose 1" "start" > /dev/null
v=$(stat_until fe7 1 TX-packets $N_BIG 30)
tp_stop_fwd fe7 > /dev/null
tp_stop_fwd vh5 > /dev/null
expect_eq "packets back at the front-end's pcap port" "$v" $N_BIG
# (virtio-user drops a GSO header with gso_size 0; the MSS itself is not
# shown: csum forwarding prints the mbuf's TX tso_segsz there.)
expect_eq "packets back as LRO" \
	"$(count_rx fe7 '^rx: l2_len=.*RTE_MBUF_F_RX_LRO' "$fmark")" $N_GSO
xs=$(tp_run vh5 10 "show port xstats 0")
for q in rx tx; do
	expect_eq "vh5 ${q}_q0_offload_errors" \
		"$(awk -v k="${q}_q0_offload_errors:" '$1 == k { print $2 }' <<< "$xs")" 0
done
tp_quit fe7
tp_quit vh5
$PK check full "$W/fe7.out.pcap" ||
	fail "packets looped through our legacy-flags port are not intact"
say "ok: $N_BIG packets intact after a round trip through our port"

