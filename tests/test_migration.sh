#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# run.sh-timeout: 420
#
# QEMU live migration through iovhost, with the back-end's dirty-page log.
#
# One testpmd serves two vhost-user ports of ours (icmpecho forwarding,
# --port-topology=loop: each port answers its own guest's ARP and pings).
# A guest (QEMU TCG, 512 MiB) boots on port 0; a second QEMU, started with
# -incoming, waits on port 1.  While the guest pings testpmd (busybox
# ping, 56 bytes every 10 ms, and tests/qemu/echohold.c, 1400 bytes every
# 5 ms, whose replies wait in its socket until a second after its last
# request; see tests/qemu/migration-init) the test migrates it over QMP
# from the first QEMU to the second.  During the migration QEMU turns on
# dirty logging (LOG_ALL, SET_LOG_BASE with LOG_SHMFD, SET_VRING_ADDR with
# the log flag) and the back-end must mark every page it writes: the used
# rings and every received packet.  The guest keeps dirtying a megabyte
# and the downtime limit is 1 ms until ITERATE s after the first pass over
# RAM (tests/qemu/qmp.py): the migration iterates several times, so pages
# the back-end writes meanwhile reach the destination through its log only.
#
# Runs (IOVH_MIGRATION_RUNS, default "none iommu"):
#   none   no vIOMMU; the NIC has guest_announce=off, so QEMU asks the
#          back-end for a RARP (SEND_RARP) after the migration
#   iommu  intel-iommu (strict), the log needs IOVA -> GPA translation;
#          the guest announces itself (VIRTIO_NET_F_GUEST_ANNOUNCE:
#          gratuitous ARPs)
#
# Asserted per run:
#  - both ports probed by our PMD; the source back-end logged (negotiated
#    features with LOG_ALL, a dirty log mapped);
#  - query-migrate says "completed"; its total time and downtime printed;
#  - the guest finished on the destination, and its kernel (Icmp
#    OutEchos, InEchoReps; busybox ping's own count overflows its tiny
#    socket buffer on a stalled vCPU and is only printed) received every
#    echo reply but at most ceil(downtime / interval) per ping (the guest
#    is stopped for the downtime; an echo in flight across the
#    switch-over may be lost, no more), with or without the vIOMMU: no
#    reply may be parked on an IOTLB miss when the source ring stops (the
#    back-end asks for the pages of every posted buffer at the first
#    miss); no duplicates, no IP or ICMP checksum error;
#  - echohold's replies, received on the source and read on the
#    destination from the buffers the back-end wrote, are byte-exact
#    (with the back-end's logging disabled, this run loses echoes);
#  - the destination back-end did not find the used index in guest memory
#    behind the ring base QEMU passed on (an unlogged used ring);
#  - the destination announced the guest on port 1: a RARP from the
#    guest's MAC injected by our PMD (none) or a gratuitous ARP from the
#    guest (iommu);
#  - testpmd survives and quits cleanly.
#
# QEMU: 10 from bookworm-backports (tests/qemu/backports.sh, cached in
# /var/cache/iovhost/qemu): with Debian 12's QEMU 7.2 the destination guest
# crashed in 2 of 9 migrations here (IOVH_MIGRATION_QEMU=system to use it
# anyway).  Duration: 80 s on an idle 2-core machine (up to 125 s loaded),
# plus the downloads on a fresh machine (about 40 MB).
#
# Environment: IOVH_MIGRATION_RUNS, IOVH_MIGRATION_QEMU, IOVH_QEMU_TIMEOUT
# (s, per guest, default 120), IOVH_MIGRATION_ITERATE (s, default 3; 0
# leaves QEMU's default downtime limit of 300 ms throughout).

. "$(dirname "$0")/lib.sh"

require_ours "migration with our dirty logging is this test's subject"
command -v python3 > /dev/null || skip "python3 is needed for QMP"

RUNS=${IOVH_MIGRATION_RUNS:-none iommu}
QEMU_TIMEOUT=${IOVH_QEMU_TIMEOUT:-120}
COUNT=1000 INTERVAL_MS=10
DCOUNT=2000 DINTERVAL_MS=5 DSIZE=1400
GUEST_IP=10.0.0.2 PEER_IP=10.0.0.1
GUEST_MAC=52:54:00:12:34:56
# Seconds of pinging before the migration starts.
PRE_MIGRATE=2
# Seconds the migration keeps iterating after its first pass over RAM:
# the back-end's writes of that time reach the destination only through
# the dirty log (see tests/qemu/qmp.py).
ITERATE=${IOVH_MIGRATION_ITERATE:-3}
# shellcheck disable=SC2034 # read by tp_start
TP_MAX_SECONDS=$(( QEMU_TIMEOUT + 90 ))

# ---------------------------------------------------------------- set-up

prep_log=$IOVH_LOG_DIR/prepare.log
say "preparing QEMU, the guest kernel and the initramfs (log $prep_log)"
prep_out=$(bash "$IOVH_SRC_DIR/tests/qemu/migration.sh" 2> "$prep_log") || {
	tail -n 20 "$prep_log" | sed 's/^/    | /'
	fail "tests/qemu/migration.sh failed (see $prep_log)"
}
IOVH_QEMU='' IOVH_QEMU_VERSION='' IOVH_QEMU_FW='' IOVH_GUEST_KVER=''
IOVH_GUEST_KERNEL='' IOVH_GUEST_INITRD=''
while IFS='=' read -r k v; do
	case $k in
	IOVH_QEMU|IOVH_QEMU_VERSION|IOVH_QEMU_FW|IOVH_GUEST_KVER|IOVH_GUEST_KERNEL|IOVH_GUEST_INITRD)
		printf -v "$k" '%s' "$v" ;;
	esac
done <<< "$prep_out"
if [ ! -x "$IOVH_QEMU" ] || [ ! -r "$IOVH_GUEST_KERNEL" ] || [ ! -r "$IOVH_GUEST_INITRD" ]; then
	fail "migration.sh did not provide QEMU, kernel and initramfs: $prep_out"
fi
FW=()
IFS=: read -r -a fwdirs <<< "$IOVH_QEMU_FW"
for d in "${fwdirs[@]}"; do FW+=(-L "$d"); done
say "QEMU $IOVH_QEMU_VERSION ($IOVH_QEMU, TCG), guest kernel $IOVH_GUEST_KVER"

QMP=$IOVH_SRC_DIR/tests/qemu/qmp.py
PIN=()
command -v taskset > /dev/null && PIN=(taskset -c 0)
LIFE=()
setpriv --help 2>/dev/null | grep -q pdeathsig && LIFE=(setpriv --pdeathsig KILL --)

declare -A QPID=()
_qemu_kill() {
	local r
	for r in "${!QPID[@]}"; do
		kill -KILL "${QPID[$r]}" 2>/dev/null || true
		wait "${QPID[$r]}" 2>/dev/null || true
		unset "QPID[$r]"
	done
	return 0
}
trap '_qemu_kill; _tp_cleanup' EXIT

# shellcheck disable=SC2054 # commas inside QEMU option values
# qemu_start ROLE POLICY SOCK [args...]: start a QEMU (ROLE src or dst) for
# the guest on vhost-user socket SOCK; its QMP socket is $IOVH_WORK_DIR/ROLE.qmp.
qemu_start() {
	local role=$1 policy=$2 sock=$3; shift 3
	local serial=$IOVH_LOG_DIR/$RUN.$role.serial.log qlog=$IOVH_LOG_DIR/$RUN.$role.qemu.log
	local iommu=() nic=virtio-net-pci,netdev=n0,bus=rp0,disable-legacy=on
	local append="console=ttyS0 quiet panic=-1 no_timer_check rdinit=/migration-init"

	# As in test_qemu_iommu.sh: no MSI-X (QEMU 7.2 under TCG), no option ROM.
	nic+=,vectors=0,romfile=,mac=$GUEST_MAC
	case $policy in
	iommu)
		iommu=(-device intel-iommu,intremap=on,device-iotlb=on)
		nic+=,iommu_platform=on,ats=on
		append+=" intel_iommu=on iommu.strict=1" ;;
	none)
		nic+=,iommu_platform=off,guest_announce=off ;;
	esac
	append+=" iovh.ip=$GUEST_IP/24 iovh.peer=$PEER_IP"
	append+=" iovh.count=$COUNT iovh.interval=0.$(printf '%03d' $INTERVAL_MS)"
	append+=" iovh.dcount=$DCOUNT iovh.dinterval=0.$(printf '%03d' $DINTERVAL_MS) iovh.dsize=$DSIZE"
	local cmd=("$IOVH_QEMU" "${FW[@]}" -accel tcg
		-machine q35,kernel-irqchip=split,memory-backend=mem -m 512M -smp 1
		-object memory-backend-memfd,id=mem,size=512M,share=on
		"${iommu[@]}"
		-device pcie-root-port,id=rp0,chassis=1,slot=1,bus=pcie.0
		-chardev "socket,id=c0,path=$sock" -netdev vhost-user,id=n0,chardev=c0
		-device "$nic"
		-nodefaults -nographic -serial "file:$serial" -monitor none -no-reboot
		-qmp "unix:$IOVH_WORK_DIR/$role.qmp,server=on,wait=off"
		-kernel "$IOVH_GUEST_KERNEL" -initrd "$IOVH_GUEST_INITRD" -append "$append"
		"$@")
	rm -f "$serial" "$IOVH_WORK_DIR/$role.qmp"
	printf '# %s\n' "${cmd[*]}" > "$qlog"
	"${LIFE[@]}" "${PIN[@]}" "${cmd[@]}" >> "$qlog" 2>&1 < /dev/null &
	QPID[$role]=$!
}

# serial_wait ROLE ERE SECONDS: wait for a console line of ROLE's guest.
serial_wait() {
	local f=$IOVH_LOG_DIR/$RUN.$1.serial.log end=$(( $(date +%s) + $3 ))
	while [ "$(date +%s)" -lt "$end" ]; do
		[ -f "$f" ] && tr -d '\r' < "$f" | grep -qa -E "$2" && return 0
		sleep 0.2
	done
	return 1
}

# serial_field ROLE ERE: first capture group of the first matching line.
serial_field() {
	tr -d '\r' < "$IOVH_LOG_DIR/$RUN.$1.serial.log" | sed -n -E "s/.*GUEST $2.*/\\1/p" | head -n1
}

# qemu_dump ROLE: what went wrong on that side.
qemu_dump() {
	local s=$IOVH_LOG_DIR/$RUN.$1.serial.log q=$IOVH_LOG_DIR/$RUN.$1.qemu.log
	echo "----- $RUN $1 console (last lines) -----"
	tr -d '\r' < "$s" 2>/dev/null | tail -n 15 || true
	echo "----- $RUN $1 QEMU output -----"
	grep -v '^#' "$q" 2>/dev/null | tail -n 10 || true
}

# ceil_div A B
ceil_div() { echo $(( ($1 + $2 - 1) / $2 )); }

declare -A R_TOTAL=() R_DOWN=() R_LOST=() R_PING=() R_HOLD=() R_STRANDED=()

# one_run NAME POLICY
one_run() {
	RUN=$1
	local policy=$2 tp=tp-$1 sa=$IOVH_WORK_DIR/$1-src.sock sb=$IOVH_WORK_DIR/$1-dst.sock
	local mig mark out st total down ans dup hold snmp allowed n sent got stranded

	say "---- $RUN: guest policy $policy, QEMU $IOVH_QEMU_VERSION"
	rm -f "$sa" "$sb" "$IOVH_WORK_DIR/$RUN.mig"
	tp_start "$tp" --main-lcore 0 \
		--vdev "net_vhost0,iface=$sa,iommu-support=1" \
		--vdev "net_vhost1,iface=$sb,iommu-support=1" \
		--log-level=lib.iovhost.data:info -- \
		--nb-cores=1 --forward-mode=icmpecho --port-topology=loop
	tp_ready "$tp" 30
	assert_driver "$tp"
	[ "$(log_text "$tp" | grep -c -i 'iovhost.*probing')" -ge 2 ] ||
		fail "$tp: expected our PMD to probe both ports"
	wait_socket "$sa" 10
	wait_socket "$sb" 10
	# icmpecho prints every packet it receives: the announcement is seen.
	tp_run "$tp" 10 "set verbose 1" start > /dev/null

	qemu_start src "$policy" "$sa"
	qemu_start dst "$policy" "$sb" -incoming "unix:$IOVH_WORK_DIR/$RUN.mig"
	if ! serial_wait src 'GUEST pinging' "$QEMU_TIMEOUT"; then
		qemu_dump src
		fail "$RUN: the guest did not start pinging within $QEMU_TIMEOUT s"
	fi
	kill -0 "${QPID[dst]}" 2>/dev/null || { qemu_dump dst; fail "$RUN: the destination QEMU died"; }
	sleep "$PRE_MIGRATE"
	mark=$(tp_mark "$tp")
	say "$RUN: migrating"
	mig=$(python3 "$QMP" "$IOVH_WORK_DIR/src.qmp" migrate "unix:$IOVH_WORK_DIR/$RUN.mig" 60 "$ITERATE" 2>&1) || true
	say "$RUN: query-migrate: $mig"
	st=$(sed -n 's/.*status=\([a-z-]*\).*/\1/p' <<< "$mig")
	total=$(sed -n 's/.*total_ms=\([0-9]*\).*/\1/p' <<< "$mig")
	down=$(sed -n 's/.*downtime_ms=\([0-9]*\).*/\1/p' <<< "$mig")
	[ "$st" = completed ] || { qemu_dump src; qemu_dump dst; fail "$RUN: migration status '${st:-?}': $mig"; }
	is_uint "$down" || fail "$RUN: no downtime in query-migrate: $mig"
	R_TOTAL[$RUN]=$total
	R_DOWN[$RUN]=$down
	# The source is paused for good now: let it go.
	python3 "$QMP" "$IOVH_WORK_DIR/src.qmp" cmd quit > /dev/null 2>&1 || true

	if ! serial_wait dst 'GUEST done' "$QEMU_TIMEOUT"; then
		qemu_dump dst
		fail "$RUN: the guest did not finish on the destination within $QEMU_TIMEOUT s"
	fi
	tr -d '\r' < "$IOVH_LOG_DIR/$RUN.dst.serial.log" | grep -a -E 'GUEST (ping|hold|snmp|icmp|nic|ERROR|dmesg)' |
		sed 's/^/    guest| /' || true
	_qemu_kill

	# ---- the guest's view: the kernel's ICMP counters (see migration-init
	# for why not ping's own counts, which are printed for information).
	ans=$(serial_field dst 'ping answered=([0-9]+) of')
	dup=$(serial_field dst 'ping answered=.* dup=([0-9]+)')
	hold=$(serial_field dst '(hold sent=.*)')
	sent=$(serial_field dst 'icmp out_echos=([0-9]+)')
	got=$(serial_field dst 'icmp .*in_echo_reps=([0-9]+)')
	if ! is_uint "$sent" || ! is_uint "$got"; then
		fail "$RUN: no ICMP counters from the guest on the destination"
	fi
	# The downtime rule: the guest is stopped for the downtime, so at
	# most the echoes of that window (per ping) may be in flight and lost.
	allowed=$(( $(ceil_div "$down" "$INTERVAL_MS") + $(ceil_div "$down" "$DINTERVAL_MS") ))
	# Replies the source back-end had parked on IOTLB misses when QEMU
	# stopped the ring would be lost (the back-end says how many): there
	# must be none, with the vIOMMU too (the miss look-ahead resolves a
	# whole backlog in one round trip).
	stranded=$(tp_since "$tp" "$mark" | sed -n "s#.*($sa) vring 0 stopped with \([0-9]*\) packets waiting for IOTLB misses.*#\1#p" | head -n1)
	stranded=${stranded:-0}
	R_STRANDED[$RUN]=$stranded
	expect_eq "$RUN: replies parked when the source ring stopped" "$stranded" 0
	R_LOST[$RUN]=$(( sent - got ))
	R_PING[$RUN]="$ans/$COUNT"
	R_HOLD[$RUN]=$(sed -n 's/.*answered=\([0-9]*\) of.*/\1/p' <<< "$hold")
	expect_eq "$RUN: echo requests the guest sent" "$sent" $(( 1 + COUNT + DCOUNT ))
	expect_le "$RUN: echo replies the guest received" "$got" "$sent"
	expect_ge "$RUN: echo replies the guest received (of $sent; downtime $down ms allows $allowed lost)" \
		"$got" $(( sent - allowed ))
	say "$RUN: busybox ping itself counted $ans/$COUNT (the rest overflowed its socket buffer)"
	expect_eq "$RUN: duplicate echoes (ping)" "$dup" 0
	# The echoes held across the migration, checked byte for byte.
	[ -n "$hold" ] || fail "$RUN: no result from echohold on the destination"
	expect_eq "$RUN: echohold requests sent" "$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<< "$hold")" "$DCOUNT"
	expect_ge "$RUN: echohold replies (of $DCOUNT; downtime $down ms allows $(ceil_div "$down" "$DINTERVAL_MS") lost)" \
		"${R_HOLD[$RUN]}" $(( DCOUNT - $(ceil_div "$down" "$DINTERVAL_MS") ))
	expect_eq "$RUN: echohold replies with a wrong byte (stale page on the destination)" \
		"$(sed -n 's/.* bad=\([0-9]*\).*/\1/p' <<< "$hold")" 0
	expect_eq "$RUN: echohold duplicate replies" "$(sed -n 's/.* dup=\([0-9]*\).*/\1/p' <<< "$hold")" 0
	snmp=$(serial_field dst '(snmp .*)')
	for f in ip_in_hdr_errors ip_in_csum_errors icmp_in_csum_errors icmp_in_errors; do
		expect_eq "$RUN: guest $f" "$(sed -n "s/.*$f=\\([0-9?]*\\).*/\\1/p" <<< "$snmp")" 0
	done

	# ---- the back-ends' view
	out=$(log_text "$tp")
	grep -q 'negotiated features .*(dirty logging)' <<< "$out" ||
		fail "$RUN: the source back-end never had LOG_ALL negotiated"
	grep -q 'dirty log: [0-9]* bytes' <<< "$out" ||
		fail "$RUN: the source back-end never mapped a dirty log (SET_LOG_BASE)"
	say "ok: $RUN: dirty logging on: $(grep -c 'dirty log: ' <<< "$out") SET_LOG_BASE, $(grep -c '(dirty logging)' <<< "$out") SET_FEATURES with LOG_ALL"
	if grep -E "$sb\\).*resuming at" <<< "$(tp_since "$tp" "$mark")" | head -n 3 | grep .; then
		fail "$RUN: the destination found the used index in guest memory behind the ring base (used ring not logged?)"
	fi
	out=$(tp_since "$tp" "$mark")
	if [ "$policy" = none ]; then
		grep -q "RARP requested for $GUEST_MAC" <<< "$out" ||
			fail "$RUN: no SEND_RARP for $GUEST_MAC reached the destination back-end"
		grep -q 'RARP injected' <<< "$out" ||
			fail "$RUN: the destination back-end never injected the RARP"
		n=$(awk -v mac="$GUEST_MAC" '
			/^Port [0-9]+ pkt-len/ { port = $2 }
			port == 1 && tolower($0) ~ "src=" mac " dst=ff:ff:ff:ff:ff:ff type=0x8035" { n++ }
			END { print n + 0 }' <<< "$out")
		expect_ge "$RUN: RARPs from $GUEST_MAC received by testpmd on port 1" "$n" 1
	else
		# A gratuitous ARP: the guest's address as sender and target.
		awk -v ip="$GUEST_IP" '
			/^Port [0-9]+ pkt-len/ { port = $2 }
			port == 1 && $0 ~ "sip=" ip "$" { s = 1; next }
			s && port == 1 && $0 ~ "tip=" ip "$" { found = 1 }
			{ s = 0 }
			END { exit !found }' <<< "$out" ||
			fail "$RUN: no gratuitous ARP from the guest on port 1 (GUEST_ANNOUNCE)"
		say "ok: $RUN: the guest announced itself on port 1 (gratuitous ARP)"
	fi

	tp_run "$tp" 10 "set verbose 0" > /dev/null
	tp_stop_fwd "$tp" > /dev/null
	tp_quit "$tp"
	say "$RUN: migration ${R_TOTAL[$RUN]} ms, downtime ${R_DOWN[$RUN]} ms, ${R_LOST[$RUN]} of $(( 1 + COUNT + DCOUNT )) echoes lost"
}

for r in $RUNS; do
	case $r in
	none|iommu) one_run "$r" "$r" ;;
	*) fail "unknown run '$r' in IOVH_MIGRATION_RUNS (none, iommu)" ;;
	esac
done

echo
echo "live migration through iovhost, QEMU $IOVH_QEMU_VERSION TCG, 512 MiB guest, guest $IOVH_GUEST_KVER:"
printf '  %-6s %-9s %-12s %-12s %-8s %-13s %s\n' run total_ms downtime_ms "echoes lost" parked "held, intact" "(busybox ping's count)"
for r in $RUNS; do
	printf '  %-6s %-9s %-12s %-12s %-8s %-13s %s\n' "$r" "${R_TOTAL[$r]}" "${R_DOWN[$r]}" "${R_LOST[$r]}/$(( 1 + COUNT + DCOUNT ))" "${R_STRANDED[$r]}" "${R_HOLD[$r]}/$DCOUNT" "(${R_PING[$r]})"
done
echo
say "ok: the guest migrated through iovhost ($RUNS) with at most the downtime's pings lost and its data intact"
