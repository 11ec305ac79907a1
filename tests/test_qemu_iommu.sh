#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# run.sh-timeout: 400
#
# A real front-end: QEMU (TCG) boots a Linux guest whose virtio-net NIC sits
# behind an emulated Intel IOMMU, and our PMD serves it over vhost-user
# with iommu-support=1.  testpmd answers the guest's ARP and pings
# (icmpecho forwarding); the guest pings it 200 times and reports how many
# were answered.
#
# One run per guest IOMMU policy:
#   strict  intel-iommu, iommu.strict=1      (an IOTLB invalidation per unmap)
#   lazy    intel-iommu, iommu.strict=0      (batched flushes, Linux' default)
#   pt      intel-iommu, iommu.passthrough=1 (identity domain)
#   none    no vIOMMU, iommu_platform off
#  - the guest's NIC is in the IOMMU domain the policy asks for (DMA,
#    DMA-FQ, identity, none: read from sysfs in the guest);
#  - with our PMD at least 99% of the 200 pings are answered, testpmd
#    survives and quits cleanly;
#  - the same four runs against Debian's stock net_vhost PMD (iommu-support=1
#    too) are a reference: their answer rates are printed, not asserted,
#    except that each run happened (stock PMD probed, the guest booted).
# The first failing policy of ours is run once more with the library's debug log
# (lib.iovhost.*:debug, the IOTLB messages and misses) and QEMU's vhost and
# VT-d traces, kept in the log directory, and summed up in the output.
#
# tests/qemu/prepare.sh installs QEMU, busybox and cpio and caches a Debian
# cloud kernel and an initramfs (first run: a 27 MB download).  The guest
# runs under TCG (no KVM needed): 8-15 s per run, about 1.5-2 minutes for
# the 8 runs and a debug re-run, more on a loaded machine or on the first
# run (downloads): run.sh's default 150 s time-out can be short there; use
# IOVH_TEST_TIMEOUT=400.  QEMU 7.2 runs the NIC without MSI-X (vectors=0):
# with MSI-X it dies of SIGSEGV under TCG.
#
# Environment: IOVH_QEMU_TIMEOUT (s, per QEMU run, default 75),
# IOVH_QEMU_POLICIES (default "strict lazy pt none"), IOVH_QEMU_STOCK=0 to
# leave out the stock reference, IOVH_QEMU_RERUN=0 for no debug re-run
# (default: the first failing policy only; "all": every failing one).

. "$(dirname "$0")/lib.sh"

require_ours "the stock PMD is this test's reference, not its subject"

QEMU_TIMEOUT=${IOVH_QEMU_TIMEOUT:-75}
POLICIES=${IOVH_QEMU_POLICIES:-strict lazy pt none}
RUN_STOCK=${IOVH_QEMU_STOCK:-1}
RERUN=${IOVH_QEMU_RERUN:-1}
PINGS=${IOVH_QEMU_PINGS:-200}
MIN_ANSWERED=$(( (PINGS * 99 + 99) / 100 ))
GUEST_IP=10.0.0.2/24
PEER_IP=10.0.0.1
# Keep every testpmd alive long enough for a slow guest (read by tp_start).
# shellcheck disable=SC2034
TP_MAX_SECONDS=$(( QEMU_TIMEOUT + 60 ))

# ---------------------------------------------------------------- set-up

prep_log=$IOVH_LOG_DIR/prepare.log
say "preparing QEMU, the guest kernel and the initramfs (log $prep_log)"
prep_out=$(bash "$IOVH_SRC_DIR/tests/qemu/prepare.sh" 2> "$prep_log") || {
	tail -n 20 "$prep_log" | sed 's/^/    | /'
	fail "tests/qemu/prepare.sh failed (see $prep_log)"
}
IOVH_QEMU='' IOVH_QEMU_VERSION='' IOVH_GUEST_KVER='' IOVH_GUEST_KERNEL='' IOVH_GUEST_INITRD=''
while IFS='=' read -r k v; do
	case $k in
	IOVH_QEMU|IOVH_QEMU_VERSION|IOVH_GUEST_KVER|IOVH_GUEST_KERNEL|IOVH_GUEST_INITRD)
		printf -v "$k" '%s' "$v" ;;
	esac
done <<< "$prep_out"
if [ ! -x "$IOVH_QEMU" ] || [ ! -r "$IOVH_GUEST_KERNEL" ] || [ ! -r "$IOVH_GUEST_INITRD" ]; then
	fail "prepare.sh did not provide QEMU, kernel and initramfs: $prep_out"
fi
say "QEMU $IOVH_QEMU_VERSION ($IOVH_QEMU, TCG), guest kernel $IOVH_GUEST_KVER"

sock=$IOVH_WORK_DIR/vhost.sock

# QEMU runs pinned to the testpmd main lcore's CPU (mostly idle): CPU 1 is
# taken by the busy-polling forwarding lcore.
PIN=()
command -v taskset > /dev/null && PIN=(taskset -c 0)
# QEMU gets SIGKILL if this shell dies (run.sh's time-out kills it).
LIFE=()
setpriv --help 2>/dev/null | grep -q pdeathsig && LIFE=(setpriv --pdeathsig KILL --)

QEMU_PID=
_qemu_cleanup() {
	[ -n "$QEMU_PID" ] || return 0
	kill -KILL "$QEMU_PID" 2>/dev/null
	wait "$QEMU_PID" 2>/dev/null
	QEMU_PID=
	return 0
}
trap '_qemu_cleanup; _tp_cleanup' EXIT

# Expected type of the NIC's IOMMU group in the guest, per policy.
expected_domain() {
	case $1 in
	strict) echo DMA ;;
	lazy) echo DMA-FQ ;;
	pt) echo identity ;;
	none) echo none ;;
	esac
}

# serial_field LOG ERE: first capture group of the first "GUEST ..." line
# of the serial log matching ERE (sed -E syntax, one group).
serial_field() {
	tr -d '\r' < "$1" | sed -n -E "s/.*GUEST $2.*/\\1/p" | head -n1
}

# run_guest POLICY NAME [QEMU args...]: boot the guest against $sock and
# wait for it to report and power off (at most QEMU_TIMEOUT s).  Sets
# G_ANSWERED (empty: no result line), G_DOMAIN, G_BOOTED (0/1), G_HOW
# (how QEMU ended) and G_SECS.
run_guest() {
	local policy=$1 name=$2; shift 2
	local serial=$IOVH_LOG_DIR/$name.serial.log qlog=$IOVH_LOG_DIR/$name.qemu.log
	local iommu=() nic=virtio-net-pci,netdev=n0,bus=rp0,disable-legacy=on
	local append="console=ttyS0 quiet panic=-1 no_timer_check"
	local start end now done_at='' rc=0 timed_out=0

	# vectors=0: no MSI-X (QEMU 7.2 under TCG crashes with MSI-X here);
	# romfile=: no iPXE option ROM to run (and no DMA before Linux).
	nic+=,vectors=0,romfile=,mac=52:54:00:12:34:56
	# Variants (tests/test_qemu_packed.sh) add NIC properties.
	nic+=${IOVH_QEMU_NIC_EXTRA:+,$IOVH_QEMU_NIC_EXTRA}
	case $policy in
	strict|lazy|pt)
		iommu=(-device intel-iommu,intremap=on,device-iotlb=on)
		nic+=,iommu_platform=on,ats=on
		append+=" intel_iommu=on" ;;
	none)
		nic+=,iommu_platform=off ;;
	esac
	case $policy in
	strict) append+=" iommu.strict=1" ;;
	lazy) append+=" iommu.strict=0" ;;
	pt) append+=" iommu.passthrough=1" ;;
	esac
	append+=" iovh.ip=$GUEST_IP iovh.peer=$PEER_IP iovh.count=$PINGS iovh.interval=0.01"

	local cmd=("$IOVH_QEMU" -accel tcg
		-machine q35,kernel-irqchip=split,memory-backend=mem -m 512M -smp 1
		-object memory-backend-memfd,id=mem,size=512M,share=on
		"${iommu[@]}"
		-device pcie-root-port,id=rp0,chassis=1,slot=1,bus=pcie.0
		-chardev "socket,id=c0,path=$sock" -netdev vhost-user,id=n0,chardev=c0
		-device "$nic"
		-nodefaults -nographic -serial "file:$serial" -monitor none -no-reboot
		-kernel "$IOVH_GUEST_KERNEL" -initrd "$IOVH_GUEST_INITRD" -append "$append"
		"$@")
	rm -f "$serial"
	printf '# %s\n' "${cmd[*]}" > "$qlog"
	start=$(date +%s)
	# QEMU itself is QEMU_PID (setpriv and taskset exec it), so it can be
	# killed directly; and it dies with this shell, whatever kills it.
	"${LIFE[@]}" "${PIN[@]}" "${cmd[@]}" >> "$qlog" 2>&1 < /dev/null &
	QEMU_PID=$!
	# The guest powers off after "GUEST done"; give it a few seconds.
	while kill -0 "$QEMU_PID" 2>/dev/null; do
		now=$(date +%s)
		if [ -z "$done_at" ] && [ -f "$serial" ] && grep -qa 'GUEST done' "$serial"; then
			done_at=$now
		fi
		if [ -n "$done_at" ] && [ $(( now - done_at )) -ge 10 ]; then
			kill -KILL "$QEMU_PID" 2>/dev/null
			break
		fi
		if [ $(( now - start )) -ge "$QEMU_TIMEOUT" ]; then
			kill -KILL "$QEMU_PID" 2>/dev/null
			timed_out=1
			break
		fi
		sleep 0.25
	done
	wait "$QEMU_PID" || rc=$?
	QEMU_PID=
	# It may have said it was done and powered off between two looks.
	if [ -z "$done_at" ] && grep -qa 'GUEST done' "$serial" 2>/dev/null; then
		done_at=$(date +%s)
	fi
	end=$(date +%s)
	G_SECS=$(( end - start ))
	G_ANSWERED=$(serial_field "$serial" 'ping answered=([0-9]+) of')
	G_DOMAIN=$(serial_field "$serial" 'nic=.* iommu_group_type=([A-Za-z-]+)')
	G_BOOTED=0
	grep -qa 'GUEST boot' "$serial" 2>/dev/null && G_BOOTED=1
	if [ -n "$done_at" ] && [ $rc = 0 ]; then
		G_HOW="powered off"
	elif [ -n "$done_at" ]; then
		G_HOW="killed after the guest was done (status $rc)"
	elif [ $timed_out = 1 ]; then
		G_HOW="killed by the ${QEMU_TIMEOUT} s time-out"
	else
		G_HOW="exited with status $rc before the guest was done"
	fi
	say "$name: QEMU ${G_HOW} after ${G_SECS} s; guest: domain ${G_DOMAIN:-?}, answered ${G_ANSWERED:-?}/$PINGS"
	tr -d '\r' < "$serial" 2>/dev/null | grep -a -E 'GUEST (ping|nic|ERROR)' | sed 's/^/    guest| /' || true
	grep -v '^#' "$qlog" | head -n 5 | sed 's/^/    qemu| /' || true
}

# quit_testpmd NAME: quit; TPEND[NAME] = "clean", "exit status N" or
# "hung on quit (killed)".  (Not in a subshell: it waits for testpmd.)
quit_testpmd() {
	local name=$1 child
	if tp_alive "$name"; then
		tp_cmd "$name" quit
		if ! _tp_reap "$name" 20; then
			child=$(_tp_child "$name")
			[ -n "$child" ] && kill -KILL "$child" 2>/dev/null
			_tp_reap "$name" 10 || true
			TPEND[$name]="hung on quit (killed)"
			return
		fi
	else
		_tp_reap "$name" 1 || true
	fi
	case ${TP_RC[$name]:-?} in
	0) TPEND[$name]=clean ;;
	*) TPEND[$name]="exit status ${TP_RC[$name]:-?}" ;;
	esac
}

declare -A ANSWERED=() DOMAIN=() HOW=() TPEND=() BOOTED=() FEAT=()

# one_run MODE POLICY NAME [debug]: a testpmd and a guest; results into
# the arrays above, keyed by NAME.
one_run() {
	local mode=$1 policy=$2 name=$3 debug=${4:-} eal=() stock=() qextra=() stats
	[ "$mode" = stock ] && stock=(--stock)
	if [ -n "$debug" ]; then
		eal+=("--log-level=lib.iovhost.*:debug")
		qextra=(-D "$IOVH_LOG_DIR/$name.qemu-trace.log" -trace 'vhost_iotlb_miss'
			-trace 'vtd_inv_desc_iotlb_*' -trace 'vtd_dmar_fault'
			-trace 'vtd_dmar_translate')
	fi
	say "---- $name: $mode PMD, guest policy $policy"
	rm -f "$sock"
	tp_start "$name" "${stock[@]}" --main-lcore 0 \
		--vdev "net_vhost0,iface=$sock,iommu-support=1" "${eal[@]}" -- \
		--nb-cores=1 --forward-mode=icmpecho --port-topology=loop
	tp_ready "$name" 30
	if [ "$mode" = stock ]; then
		assert_stock_driver "$name"
	else
		assert_driver "$name"
	fi
	wait_socket "$sock" 10
	tp_run "$name" 10 start > /dev/null

	run_guest "$policy" "$name" "${qextra[@]}"
	ANSWERED[$name]=${G_ANSWERED:-}
	# A variant that needs a feature bit negotiated checks our log line.
	if [ -n "${IOVH_QEMU_FEATURE_BIT:-}" ] && [ "$mode" = ours ]; then
		local f
		f=$(log_text "$name" | sed -n 's/.*negotiated features \(0x[0-9a-f]*\).*/\1/p' | tail -n1)
		if [ -n "$f" ] && (( (f >> IOVH_QEMU_FEATURE_BIT) & 1 )); then
			FEAT[$name]=yes
			say "$name: feature bit $IOVH_QEMU_FEATURE_BIT negotiated ($f)"
		else
			FEAT[$name]="no (features ${f:-not in the log})"
		fi
	fi
	DOMAIN[$name]=${G_DOMAIN:-}
	HOW[$name]=$G_HOW
	BOOTED[$name]=$G_BOOTED

	if tp_alive "$name"; then
		stats=$(tp_run "$name" 10 "show port stats 0" "show port xstats 0")
		say "$name: testpmd port 0: RX $(port_stat RX-packets 0 <<< "$stats"), TX $(port_stat TX-packets 0 <<< "$stats"), RX-errors $(port_stat RX-errors 0 <<< "$stats")"
		# Non-zero queue counters (drops, bad chains, IOTLB) if the
		# PMD has them.
		grep -E '^[rt]x_q[0-9]+_(drops|bad_desc|iotlb_[a-z]+|backlog_max):' <<< "$stats" |
			awk '$2 != 0' | tr '\n' ' ' | sed 's/^./    xstats: &/; s/ $/\n/' || true
		quit_testpmd "$name"
	else
		_tp_reap "$name" 1 || true
		TPEND[$name]="died during the run (status ${TP_RC[$name]:-?})"
	fi
	say "$name: testpmd ${TPEND[$name]}"
}

# debug_summary NAME: what the debug log and QEMU's trace of NAME show.
debug_summary() {
	local name=$1 log=${TP_LOG[$1]} trace=$IOVH_LOG_DIR/$1.qemu-trace.log
	say "$name: debug logs: $log, $trace"
	echo "    back-end: $(grep -c 'read message IOTLB_MSG' "$log") IOTLB messages read," \
		"$(grep -c 'IOTLB miss .* sent: 0' "$log") misses sent," \
		"$(grep -c 'IOTLB miss .* sent: -' "$log") misses not sent"
	echo "    QEMU: $(grep -c 'vhost_iotlb_miss.* step 1' "$trace" 2>/dev/null) misses handled," \
		"$(grep -c 'vtd_inv_desc_iotlb_pages' "$trace" 2>/dev/null) page invalidations," \
		"$(grep -c 'vtd_dmar_fault' "$trace" 2>/dev/null) DMAR faults"
	# Data-path misses against misses that reached the front-end: a
	# queue whose misses stop being forwarded spins on one chain.
	echo "    data path: $(awk -F': ' '/^[rt]x_q[0-9]+_iotlb_misses:/ { printf "%s %s; ", $1, $2 }' "$log")$(grep -c 'IOTLB miss 0x' "$log") misses forwarded to the front-end"
	grep -E '^IOVHOST' "$log" | grep -v 'read message' |
		grep -E 'IOTLB miss|device (ready|stopped)|stopped at|ERR|error|bad|fault' |
		tail -n 12 | cut -c1-160 | sed 's/^/    | /' || true
}

# ---------------------------------------------------------------- runs

modes=(ours)
[ "$RUN_STOCK" = 1 ] && modes+=(stock)
for mode in "${modes[@]}"; do
	for policy in $POLICIES; do
		one_run "$mode" "$policy" "$mode-$policy"
	done
done

# ---------------------------------------------------------------- verdict

problems=()
for policy in $POLICIES; do
	want=$(expected_domain "$policy")
	for mode in "${modes[@]}"; do
		n=$mode-$policy
		[ "${BOOTED[$n]}" = 1 ] ||
			problems+=("$n: the guest did not boot (QEMU ${HOW[$n]}; see $IOVH_LOG_DIR/$n.serial.log, $n.qemu.log)")
		if [ -n "${DOMAIN[$n]}" ] && [ "${DOMAIN[$n]}" != "$want" ]; then
			problems+=("$n: the guest's NIC is in a '${DOMAIN[$n]}' IOMMU domain, the policy wants '$want' (test set-up)")
		fi
	done
	n=ours-$policy
	if ! is_uint "${ANSWERED[$n]}"; then
		problems+=("$n: no ping result from the guest (QEMU ${HOW[$n]})")
	elif [ "${ANSWERED[$n]}" -lt "$MIN_ANSWERED" ]; then
		problems+=("$n: ${ANSWERED[$n]} of $PINGS pings answered, expected at least $MIN_ANSWERED")
	fi
	[ "${TPEND[$n]}" = clean ] || problems+=("$n: testpmd ${TPEND[$n]}")
	[ -z "${IOVH_QEMU_FEATURE_BIT:-}" ] || [ "${FEAT[$n]:-}" = yes ] ||
		problems+=("$n: feature bit $IOVH_QEMU_FEATURE_BIT not negotiated: ${FEAT[$n]:-no run}")
done

# A failing policy of ours (the first one, or all with RERUN=all): once
# more, with the debug logs.
if [ "$RERUN" != 0 ]; then
	for policy in $POLICIES; do
		n=ours-$policy
		is_uint "${ANSWERED[$n]}" && [ "${ANSWERED[$n]}" -ge "$MIN_ANSWERED" ] &&
			[ "${TPEND[$n]}" = clean ] && continue
		one_run ours "$policy" "$n-debug" debug
		say "$n-debug: re-run with debug logs: ${ANSWERED[$n-debug]:-?}/$PINGS answered, testpmd ${TPEND[$n-debug]}"
		debug_summary "$n-debug"
		[ "$RERUN" = all ] || break
	done
fi

echo
echo "guest pings answered (of $PINGS; ours must answer >= $MIN_ANSWERED), QEMU $IOVH_QEMU_VERSION TCG, guest $IOVH_GUEST_KVER:"
printf '  %-8s %-10s %-12s %-12s\n' policy domain ours stock
for policy in $POLICIES; do
	printf '  %-8s %-10s %-12s %-12s\n' "$policy" "${DOMAIN[ours-$policy]:-?}" \
		"${ANSWERED[ours-$policy]:-none}/$PINGS" \
		"$([ "$RUN_STOCK" = 1 ] && echo "${ANSWERED[stock-$policy]:-none}/$PINGS" || echo -)"
done
echo

if [ ${#problems[@]} -gt 0 ]; then
	for p in "${problems[@]}"; do say "problem: $p"; done
	fail "${#problems[@]} problem(s); first: ${problems[0]}"
fi
say "ok: our PMD answered >= $MIN_ANSWERED/$PINGS pings under every guest IOMMU policy ($POLICIES)"
