#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Benchmark: Debian's stock net_vhost PMD against iovhost (loaded with -d),
# case by case, in alternating runs (stock, ours, ours, stock, ...) so that
# the noise of a busy machine hits both. See doc/benchmarks.rst.
#
# Loop cases: one testpmd, vhost-user port 0 and DPDK's virtio-user port 1
# (hot-plugged, as in devtools/demo.sh), io forwarding on one lcore. The
# iommu-prefault case: testpmd loops its vhost port back to itself and
# iovhost-frontend plays the guest with an emulated IOMMU.
#
# Metric: Mpps per port per CPU-second of the forwarding lcore thread: the
# TX packets of each port in the window, averaged over the ports, divided
# by the utime+stime that thread used in the window (from /proc); in the
# front-end case less the time its empty polls took. Then,
# unless --no-callgrind, one run per case and driver under callgrind gives
# the instructions per packet of the forwarding thread, split by object.
#
# Usage: devtools/bench.sh [--rounds N] [--seconds S] [--warmup S]
#                          [--cases LIST] [--no-callgrind] [--cg-seconds S]
#                          [--out DIR] [--report-only]
#   --rounds N       A/B rounds per case (default 3)
#   --seconds S      measurement window per run (default 5)
#   --warmup S       forwarding before the window (default 1)
#   --cases LIST     comma-separated subset of: split, split-nomrg,
#                    split-noinorder, packed, packed-noinorder, split-1518,
#                    packed-1518, iommu-prefault (default: all)
#   --no-callgrind   skip the instruction counts
#   --cg-seconds S   forwarding time under callgrind (default 10)
#   --out DIR        results directory (default <build>/bench)
#   --report-only    run nothing: write the table and chart again from
#                    DIR/raw.txt (e.g. after an interrupted run)
#
# Writes DIR/results.md (table), DIR/bench.png (chart), DIR/raw.txt (one
# line per run), DIR/logs/ and DIR/callgrind/. Needs root, hugepages
# (devtools/setup.sh) and a build (devtools/build.sh). Environment:
# IOVH_BUILD_DIR (default build).

set -euo pipefail

# shellcheck source=devtools/common.sh
. "$(dirname "$(realpath "$0")")/common.sh"
# shellcheck source=devtools/bench_lib.sh
. "$IOVH_ROOT/devtools/bench_lib.sh"

readonly SLACK=1024
readonly ALL_CASES=split,split-nomrg,split-noinorder,packed,packed-noinorder,split-1518,packed-1518,iommu-prefault
readonly MBUFS=32768
# Fewest instructions per packet a real burst path spends on either side
# (vhost, virtio-user) under callgrind; fewer means a wrong thread or count.
readonly MIN_IPP=20

SOCK_DIR=
PREFIX=

cleanup_run()
{
	iovh_fe_kill
	iovh_tp_kill
	[[ -z $PREFIX ]] || iovh_dpdk_cleanup "$PREFIX"
	PREFIX=''
}

cleanup()
{
	cleanup_run
	[[ -z $SOCK_DIR ]] || rm -rf "$SOCK_DIR"
}

# Case parameters: C_KIND (loop|fe), C_SIZE, C_VARGS (virtio-user devargs),
# C_PACKED (1 if packed rings are asked for), C_DESC.
case_def()
{
	C_KIND=loop C_SIZE=64 C_PACKED=0 FE_ARGS=()
	local mrg=1 inorder=1
	case $1 in
	split) C_DESC="split, 64B" ;;
	split-nomrg) C_DESC="split mrg_rxbuf=0, 64B"; mrg=0 ;;
	split-noinorder) C_DESC="split in_order=0, 64B"; inorder=0 ;;
	packed) C_DESC="packed, 64B"; C_PACKED=1 ;;
	packed-noinorder) C_DESC="packed in_order=0, 64B"; C_PACKED=1; inorder=0 ;;
	split-1518) C_DESC="split, 1518B"; C_SIZE=1518 ;;
	packed-1518) C_DESC="packed, 1518B"; C_SIZE=1518; C_PACKED=1 ;;
	iommu-prefault)
		C_DESC="IOMMU prefault (front-end), 64B"; C_KIND=fe
		# The stock PMD asks read-write for the rings and RX buffers
		# (doc/frontend.rst): loose permissions for both, to compare
		# alike.
		FE_ARGS=(--iommu prefault --perm loose --size "$C_SIZE")
		;;
	*) return 1 ;;
	esac
	C_VARGS=",queues=1,mrg_rxbuf=$mrg,in_order=$inorder,packed_vq=$C_PACKED"
}

# EAL arguments that select the driver.
driver_eal()
{
	DRV_EAL=()
	[[ $1 == stock ]] || DRV_EAL=(-d "$PLUGIN")
}

# What the back-end negotiated, for the notes column; "fallback: split"
# when packed rings were asked for and not negotiated.
negotiated_note()
{
	local log=$1 f names
	f=$(iovh_features "$log") || { echo "features not logged"; return 0; }
	names=$(iovh_feature_names "$f")
	if ((C_PACKED)) && [[ " $names " != *" packed "* ]]; then
		echo "fallback: split ($f)"
	else
		echo "${names:-none} ($f)"
	fi
}

# One loop run. Sets R_MPPS (per port per CPU-second), R_WALL (per port
# per second), R_CPU, R_NOTE.
run_loop()
{
	local label=$1 log=$2
	local sock=$SOCK_DIR/$label.sock
	local snap=(show port stats all)
	PREFIX=iovh-bench-$$-${label%%-*}
	R_MPPS='' R_WALL='' R_CPU='' R_NOTE=''
	rm -f "$sock"
	iovh_loop_start "$label" "$log" "$sock" "$C_VARGS" $((WARMUP + SECONDS_RUN + 120)) \
		-l 0-1 --no-pci --single-file-segments --iova-mode=va \
		--file-prefix="$PREFIX" "${DRV_EAL[@]}" \
		--vdev "net_vhost0,iface=$sock" \
		-- -i --forward-mode=io --nb-cores=1 --txpkts="$C_SIZE" \
		--total-num-mbufs=$MBUFS || return 1
	local pid tid
	pid=$(iovh_tp_main_pid) && tid=$(iovh_lcore_tid "$pid" "${IOVH_FWD_THREADS[@]}") || {
		warn "[$label] no ${IOVH_FWD_THREADS[0]} thread in testpmd"
		return 1
	}
	iovh_tp_cmd "start tx_first" || return 1
	iovh_sleep "$WARMUP"
	_iovh_snapshot "$pid" "$tid" "${snap[*]}" || return 1
	local c0=$IOVH_SNAP_CPU t0=$IOVH_SNAP_T
	iovh_sleep "$SECONDS_RUN"
	_iovh_snapshot "$pid" "$tid" "${snap[*]}" || return 1
	local c1=$IOVH_SNAP_CPU t1=$IOVH_SNAP_T
	iovh_tp_cmd "stop" || return 1
	iovh_tp_cmd "${snap[*]}" || return 1
	iovh_tp_quit || warn "[$label] testpmd exited with status $?"
	iovh_dpdk_cleanup "$PREFIX"
	PREFIX=''

	local -A v=()
	local k x
	while read -r k x; do
		v[$k]=$x
	done < <(iovh_tp_parse_stats "$log")
	for k in nic_tx_0_1 nic_tx_1_1 nic_tx_0_2 nic_tx_1_2; do
		[[ ${v[$k]:-} =~ ^[0-9]+$ ]] || { warn "[$label] cannot read $k from $log"; return 1; }
	done
	local pkts=$(((v[nic_tx_0_2] - v[nic_tx_0_1] + v[nic_tx_1_2] - v[nic_tx_1_1]) / 2))
	((pkts > 0)) || { warn "[$label] nothing forwarded in the window"; return 1; }
	iovh_loop_conserved "$label" "$log" "$SLACK" || return 1
	R_CPU=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
	R_MPPS=$(awk -v p="$pkts" -v c="$R_CPU" 'BEGIN { printf "%.4f", (c > 0 ? p / c / 1e6 : 0) }')
	R_WALL=$(awk -v p="$pkts" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", p / (b - a) / 1e6 }')
	R_NOTE=$(negotiated_note "$log")
}

# One front-end run (iommu-prefault), same outputs as run_loop.
run_fe()
{
	local label=$1 log=$2
	local sock=$SOCK_DIR/$label.sock
	PREFIX=iovh-bench-$$-${label%%-*}
	R_MPPS='' R_WALL='' R_CPU='' R_NOTE=''
	rm -f "$sock"
	IOVH_FE_TP_ARGS=(-l 0-1 --no-pci --file-prefix="$PREFIX" "${DRV_EAL[@]}"
		--vdev "net_vhost0,iface=$sock,iommu-support=1"
		-- -i --forward-mode=io --port-topology=loop --nb-cores=1 --record-burst-stats
		--total-num-mbufs="$MBUFS")
	IOVH_FE_ARGS=(--socket "$sock" --timeout 5 --writeoff-ms 100 "${FE_ARGS[@]}")
	iovh_fe_measure "$label" "$log" "${log%.log}.frontend.log" "$WARMUP" "$SECONDS_RUN" ||
		return 1
	iovh_dpdk_cleanup "$PREFIX"
	PREFIX=''
	# Per busy CPU-second: the back-end may wait for the front-end, and
	# the time its empty polls took is taken out (bench_lib.sh).
	R_CPU=$IOVH_M_BUSY
	R_MPPS=$(awk -v p="$IOVH_M_PKTS" -v c="$R_CPU" \
		'BEGIN { if (c ~ /^[0-9.]+$/ && c > 0) printf "%.4f", p / c / 1e6; else printf "n/a" }')
	R_WALL=$(awk -v p="$IOVH_M_PKTS" -v w="$IOVH_M_WALL" 'BEGIN { printf "%.4f", p / w / 1e6 }')
	local kv lost miss
	kv=$IOVH_M_FE_LINE
	lost=$(sed -n 's/.* lost=\([0-9]*\).*/\1/p' <<<"$kv")
	miss=$(sed -n 's/.* iotlb_miss=\([0-9]*\).*/\1/p' <<<"$kv")
	R_NOTE="$(negotiated_note "$log"); front-end rc=$IOVH_M_FE_RC lost=${lost:-?} iotlb_miss=${miss:-?} idle=$IOVH_M_IDLE% of $IOVH_M_CPU CPU-s"
}

# --- callgrind -------------------------------------------------------------

# "FILE SHARE" of the per-thread callgrind file in DIR (each with its
# FILE.objects) that holds the most burst work (self cost in the vhost
# side's and virtio-user's objects), SHARE its fraction of that work over
# all threads. Fails if no thread has any.
cg_pick_thread()
{
	local f
	for f in "$1"/callgrind.out.*.objects; do
		[[ -s $f ]] || continue
		awk -v f="${f%.objects}" '
			$2 ~ /librte_net_(virtio|vhost|iovhost)|librte_vhost/ { s += $1 }
			END { printf "%.0f %s\n", s, f }' "$f"
	done | awk '
		{ t += $1; if ($1 > b) { b = $1; f = $2 } }
		END { if (b > 0) printf "%s %.3f\n", f, b / t; else exit 1 }'
}

# Instructions per packet of the forwarding thread of one loop run under
# callgrind. Appends "cg CASE DRV pkts vhost virtio other" to raw.txt.
run_callgrind()
{
	local c=$1 drv=$2
	local label=$drv-cg dir=$OUT/callgrind/$c-$drv
	local log=$dir/testpmd.log sock=$SOCK_DIR/$c-$drv-cg.sock
	rm -rf "$dir"
	mkdir -p "$dir"
	PREFIX=iovh-bench-$$-cg
	rm -f "$sock"
	info "callgrind: $c, $drv (log: $log)"
	# No hugepages under valgrind; testpmd is valgrind's argument.
	local IOVH_TESTPMD
	IOVH_TESTPMD=$(command -v valgrind) || { warn "valgrind is not installed"; return 1; }
	local vg=(--tool=callgrind --separate-threads=yes
		--callgrind-out-file="$dir/callgrind.out.%p" /usr/bin/dpdk-testpmd
		-l 0-1 --no-huge -m 1024 --no-pci --single-file-segments --iova-mode=va
		--file-prefix="$PREFIX" "${DRV_EAL[@]}")
	local IOVH_TP_START_WAIT=900 IOVH_TP_SLOW_WAIT=900
	if [[ $C_KIND == loop ]]; then
		iovh_loop_start "$label" "$log" "$sock" "$C_VARGS" $((CG_SECONDS + 2400)) \
			"${vg[@]}" --vdev "net_vhost0,iface=$sock" \
			-- -i --forward-mode=io --nb-cores=1 --txpkts="$C_SIZE" \
			--total-num-mbufs=$MBUFS || return 1
		iovh_tp_cmd "start tx_first" 900 || return 1
		iovh_sleep "$CG_SECONDS"
	else
		iovh_tp_start "$log" $((CG_SECONDS + 2400)) "${vg[@]}" \
			--vdev "net_vhost0,iface=$sock,iommu-support=1" \
			-- -i --forward-mode=io --port-topology=loop --nb-cores=1 \
			--total-num-mbufs=$MBUFS --record-burst-stats || return 1
		iovh_check_driver "$label" "$log" || return 1
		iovh_tp_cmd "start" 900 || return 1
		# Generous timeouts: the back-end runs under valgrind.
		timeout -k 5 $((CG_SECONDS + 600)) "$FE" "${FE_ARGS[@]}" \
			--socket "$sock" --timeout 120 --connect-timeout 120 \
			--writeoff-ms 10000 --seconds "$CG_SECONDS" \
			>"$dir/frontend.log" 2>&1 ||
			warn "[$label] front-end exited with status $? (see $dir/frontend.log)"
	fi
	iovh_tp_cmd "stop" 900 || return 1
	iovh_tp_cmd "show port stats all" 900 || return 1
	iovh_tp_quit || warn "[$label] testpmd exited with status $?"
	iovh_dpdk_cleanup "$PREFIX"
	PREFIX=''

	local -A v=()
	local k x
	while read -r k x; do
		v[$k]=$x
	done < <(iovh_tp_parse_stats "$log")
	# Packets through the vhost port, either direction: in the loop what
	# each port received, with the front-end what port 0 received and sent.
	local b=fwd_rx_1
	[[ $C_KIND == loop ]] || b=fwd_tx_0
	[[ ${v[fwd_rx_0]:-} =~ ^[0-9]+$ && ${v[$b]:-} =~ ^[0-9]+$ ]] ||
		{ warn "[$label] no forward statistics in $log"; return 1; }
	local pkts=$((v[fwd_rx_0] + v[$b]))
	((pkts > 0)) || { warn "[$label] nothing forwarded under callgrind"; return 1; }
	# A count to divide by only if each loop port got what the other sent.
	if [[ $C_KIND == loop ]] && ! iovh_loop_conserved "$label" "$log" "$SLACK"; then
		echo "cg $c $drv n/a - - - - refused: packets not conserved (see $log)" >>"$RAW"
		return 1
	fi

	# Which of the per-thread files (--separate-threads=yes) is the
	# forwarding lcore's: valgrind numbers its threads in creation order
	# with reuse of freed slots, and names are no help (the main thread
	# also calls the RX burst functions, when "start" flushes the queues),
	# so it is the thread whose profile holds the burst work: the self
	# cost in the vhost side's and virtio-user's objects. It must hold
	# most of that work of all threads, or the pick is refused: the main
	# thread's flush is a fixed cost (2-3 % of a 3 s run), a second
	# forwarding thread would take half.
	# Costs pass through awk only: a thread's count is beyond 2^31 and
	# mawk prints such a sum as "2.3e+09", which bash arithmetic rejects
	# (the cause of a main-thread pick and a "0.0 instr/pkt" row).
	local f pick
	for f in "$dir"/callgrind.out.*-*; do
		[[ -s $f && $f != *.objects ]] || continue
		iovh_cg_objects "$f" >"$f.objects"
	done
	pick=$(cg_pick_thread "$dir") || true
	local best='' share='' why=''
	read -r best share <<<"$pick"
	if [[ -z $best ]]; then
		why="no per-thread callgrind output with burst work in $dir"
	elif ! awk -v s="$share" 'BEGIN { exit !(s >= 0.75) }'; then
		why="no single forwarding thread: ${best##*/} holds only $share of the burst work"
	fi
	local vhost='' virtio='' other=''
	if [[ -z $why ]]; then
		read -r vhost virtio other < <(awk '
			$2 ~ /librte_net_iovhost|librte_net_vhost|librte_vhost/ { h += $1; next }
			$2 ~ /librte_net_virtio/ { v += $1; next }
			{ o += $1 }
			END { printf "%.0f %.0f %.0f\n", h, v, o }' "$best.objects")
		# Both sides touch every packet (the loop's virtio-user; with
		# the front-end only the vhost side is in testpmd): under
		# MIN_IPP instructions a packet is a wrong thread or count.
		why=$(awk -v h="$vhost" -v v="$virtio" -v p="$pkts" -v m="$MIN_IPP" \
			-v loop="$([[ $C_KIND == loop ]] && echo 1 || echo 0)" 'BEGIN {
			if (h / p < m || (loop && v / p < m))
				printf "implausible: vhost %.1f, virtio-user %.1f instr/pkt (< %d) over %d packets", h / p, v / p, m, p }')
	fi
	if [[ -n $why ]]; then
		# A refused row: the report prints n/a and this reason; every
		# thread's file stays for a look.
		warn "[$label] callgrind: $why; kept all files in $dir"
		echo "cg $c $drv n/a - - - - refused: $why" >>"$RAW"
		return 1
	fi
	callgrind_annotate --inclusive=no --threshold=99 "$best" >"$dir/annotate.txt" 2>&1 || true
	sort -rn "$best.objects" >"$dir/objects.txt"
	# Empty RX polls on port 0 (testpmd --record-burst-stats, front-end
	# runs only): polls that found nothing still cost instructions.
	local idle
	idle=$(grep -a -o 'RX-bursts : [0-9]* \[[0-9]*% of 0 pkts' "$log" |
		tail -n1 | sed 's/.*\[\([0-9]*\)%.*/\1%/') || true
	echo "cg $c $drv $pkts $vhost $virtio $other ${idle:--} $(negotiated_note "$log")" >>"$RAW"
	info "callgrind: $c $drv: $pkts packets, ${best##*/} ($share of the burst work);" \
		"$(awk -v a="$vhost" -v b="$virtio" -v p="$pkts" \
			'BEGIN { printf "vhost %.1f, virtio-user %.1f instr/pkt", a / p, b / p }')"
	# Only the forwarding thread's file is kept; the others are large.
	find "$dir" -name 'callgrind.out.*' ! -name "${best##*/}*" -delete
}

# --- report ----------------------------------------------------------------

# "median min max" of the Mpps of CASE and DRV from raw.txt, or nothing.
mpps_stats()
{
	local vals
	vals=$(awk -v c="$1" -v d="$2" '$1 == "run" && $2 == c && $3 == d && $5 ~ /^[0-9.]+$/ { print $5 }' "$RAW")
	[[ -n $vals ]] || return 0
	# shellcheck disable=SC2086
	iovh_stats $vals
}

ipp()
{
	awk -v c="$1" -v d="$2" -v col="$3" '
		$1 == "cg" && $2 == c && $3 == d && $4 ~ /^[0-9]+$/ && $4 > 0 {
			printf "%.1f", $col / $4; found = 1 }
		END { if (!found) printf "n/a" }' "$RAW"
}

ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b
		else printf "n/a" }'
}

report()
{
	local md=$OUT/results.md dat=$OUT/chart.dat
	local load_after
	load_after=$(cut -d' ' -f1-3 /proc/loadavg)
	{
		echo "Loopback, io forwarding, one forwarding lcore; Mpps per port per CPU-second"
		echo "of the forwarding thread, median [min-max] of $ROUNDS round(s) of ${SECONDS_RUN}s;"
		echo "instructions per packet of the vhost side (ours: librte_net_iovhost.so;"
		echo "stock: librte_net_vhost.so + librte_vhost.so) under callgrind."
		if [[ -n ${REPORT_ONLY:-} ]]; then
			echo "Report written $(date -u '+%Y-%m-%d %H:%M UTC') from $RAW; load average before the runs: $LOAD_BEFORE."
		else
			echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average before: $LOAD_BEFORE, after: $load_after."
		fi
		echo
		echo "| case | stock Mpps/CPU-s | ours Mpps/CPU-s | ratio | stock instr/pkt | ours instr/pkt | ratio |"
		echo "|---|---|---|---|---|---|---|"
	} >"$md"
	: >"$dat"
	local c s o sm smin smax om omin omax si oi
	for c in "${CASES[@]}"; do
		case_def "$c"
		s=$(mpps_stats "$c" stock)
		o=$(mpps_stats "$c" ours)
		read -r sm smin smax <<<"${s:-FAIL 0 0}"
		read -r om omin omax <<<"${o:-FAIL 0 0}"
		si=$(ipp "$c" stock 5)
		oi=$(ipp "$c" ours 5)
		local name=$C_DESC
		# A row is only what was negotiated: never call a split run packed.
		local fb
		fb=$(awk -v c="$c" '$1 == "run" && $2 == c && /fallback: split/ { print $3 }' "$RAW" |
			sort -u | paste -sd/)
		[[ -z $fb ]] || name="$name ($fb: fallback: split)"
		# Mostly idle: the back-end waited for the front-end, and the
		# busy time left is too small a remainder to trust.
		local idle
		idle=$(awk -v c="$c" '$1 == "run" && $2 == c && match($0, /idle=[0-9?]+/) {
			v = substr($0, RSTART + 5, RLENGTH - 5); if (v == "?") v = 100
			if (v + 0 > m) m = v + 0 }
			END { print m + 0 }' "$RAW")
		((idle <= 80)) || name="$name (front-end bound: up to $idle% idle)"
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" \
			"$([[ $sm == FAIL ]] && echo "no valid run" || echo "$sm [$smin-$smax]")" \
			"$([[ $om == FAIL ]] && echo "no valid run" || echo "$om [$omin-$omax]")" \
			"$(ratio "$om" "$sm")" "$si" "$oi" "$(ratio "$si" "$oi")" >>"$md"
		printf '"%s" %s %s %s %s %s %s\n' "$c${fb:+ ($fb: split)}" \
			"${sm/FAIL/0}" "$smin" "$smax" "${om/FAIL/0}" "$omin" "$omax" >>"$dat"
	done
	{
		echo
		echo "Ratios: Mpps ours/stock (higher is better for ours); instructions stock/ours"
		echo "(higher is better for ours). What each back-end negotiated, per run:"
		echo
		awk '$1 == "run" { n = ""; for (i = 8; i <= NF; i++) n = n " " $i
			printf "- %s %s round %s: %s Mpps/CPU-s, %s Mpps wall, %s CPU-s;%s\n",
			$2, $3, $4, $5, $6, $7, n }' "$RAW"
		if grep -q '^cg ' "$RAW"; then
			echo
			echo "Instructions per packet of the forwarding thread under callgrind, by side:"
			echo
			echo "| case | driver | packets | vhost side | virtio-user | rest (testpmd, mbuf, libc...) | total | empty polls | negotiated |"
			echo "|---|---|---|---|---|---|---|---|---|"
			awk '$1 == "cg" { n = ""; for (i = 9; i <= NF; i++) n = n (i > 9 ? " " : "") $i
				# Refused by run_callgrind: no number, the reason.
				if ($4 !~ /^[0-9]+$/) {
					printf "| %s | %s | n/a | n/a | n/a | n/a | n/a | - | %s |\n", $2, $3, n
					next
				}
				printf "| %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %s | %s |\n",
				$2, $3, $4, $5 / $4, $6 / $4, $7 / $4, ($5 + $6 + $7) / $4, $8, n }' "$RAW"
			echo
			echo "Packets: through the vhost port in either direction. With the front-end"
			echo "the back-end may wait for the guest: empty polls then inflate the count."
		fi
	} >>"$md"
	chart "$dat"
	cat "$md"
	echo
	echo "written: $md${CHART:+, $CHART}; logs: $OUT/logs"
}

chart()
{
	local dat=$1
	CHART=''
	if ! command -v gnuplot >/dev/null; then
		info "installing gnuplot-nox for the chart"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox >/dev/null 2>&1 ||
			{ warn "cannot install gnuplot-nox: no chart"; return 0; }
	fi
	CHART=$OUT/bench.png
	gnuplot <<-EOF || { warn "gnuplot failed: no chart"; CHART=; }
	set terminal pngcairo size 1100,560 font ",10"
	set output "$CHART"
	set title "iovhost vs stock net\\\\_vhost: Mpps per port per CPU-second (median, min-max)"
	set style data histogram
	set style histogram errorbars gap 2 lw 1
	set style fill solid 0.8 border -1
	set boxwidth 0.9
	set ylabel "Mpps / CPU-second"
	set yrange [0:*]
	set xtics rotate by -25 noenhanced
	set key top right
	set grid ytics
	plot "$dat" using 2:3:4:xtic(1) title "stock" lc rgb "#888888", \
	     "" using 5:6:7 title "ours (iovhost)" lc rgb "#1f77b4"
	EOF
}

main()
{
	ROUNDS=3 SECONDS_RUN=5 WARMUP=1 CG_SECONDS=10
	local cases='' callgrind=1 report_only=0
	OUT=''
	while (($#)); do
		case $1 in
		--rounds) ROUNDS=${2:-}; shift ;;
		--seconds) SECONDS_RUN=${2:-}; shift ;;
		--warmup) WARMUP=${2:-}; shift ;;
		--cases) cases=${2:-}; shift ;;
		--no-callgrind) callgrind=0 ;;
		--report-only) report_only=1 ;;
		--cg-seconds) CG_SECONDS=${2:-}; shift ;;
		--out) OUT=${2:-}; shift ;;
		-h|--help)
			sed -n '/^# Usage:/,/^# IOVH_BUILD_DIR/p' "$0" | sed 's/^# \{0,1\}//'
			exit 0
			;;
		*) die "unknown argument $1 (see --help)" ;;
		esac
		shift
	done
	[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds needs a positive number"
	[[ $SECONDS_RUN =~ ^[1-9][0-9]*$ ]] || die "--seconds needs a positive number"
	[[ $WARMUP =~ ^[0-9]+$ ]] || die "--warmup needs a number"
	[[ $CG_SECONDS =~ ^[1-9][0-9]*$ ]] || die "--cg-seconds needs a positive number"
	local build
	build=$(iovh_build_dir)
	OUT=${OUT:-$build/bench}
	if ((report_only)); then
		RAW=$(realpath "$OUT")/raw.txt
		[[ -s $RAW ]] || die "no $RAW to report on"
		OUT=$(dirname "$RAW")
		# The cases, rounds, window and load of the run that wrote it.
		[[ -n $cases ]] || cases=$(awk '$1 == "run" && !seen[$2]++ { print $2 }' "$RAW" | paste -sd,)
		ROUNDS=$(awk '$1 == "run" && $4 > m { m = $4 } END { print m + 0 }' "$RAW")
		SECONDS_RUN=$(sed -n 's/^meta .*seconds=\([0-9]*\).*/\1/p' "$RAW" | head -n1)
		LOAD_BEFORE=$(sed -n 's/^meta .*load_before=//p' "$RAW" | head -n1)
		SECONDS_RUN=${SECONDS_RUN:-?} LOAD_BEFORE=${LOAD_BEFORE:-not recorded}
		IFS=, read -r -a CASES <<<"$cases"
		REPORT_ONLY=1
		report
		return 0
	fi
	IFS=, read -r -a CASES <<<"${cases:-$ALL_CASES}"
	local c
	for c in "${CASES[@]}"; do
		case_def "$c" || die "unknown case '$c' (cases: $ALL_CASES)"
	done
	iovh_is_root || die "the benchmark needs root (hugepages, /run): run it with sudo"
	iovh_hugepages 1024

	mkdir -p "$OUT/logs"
	OUT=$(realpath "$OUT")
	RAW=$OUT/raw.txt
	: >"$RAW"
	PLUGIN=$(iovh_plugin_path "$build")
	FE=$build/app/frontend/iovhost-frontend
	IOVH_FE=$FE
	SOCK_DIR=$(mktemp -d /run/iovh-bench.XXXXXX)
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "meta rounds=$ROUNDS seconds=$SECONDS_RUN load_before=$LOAD_BEFORE" >>"$RAW"

	local r drv order rc=0 log
	for ((r = 1; r <= ROUNDS; r++)); do
		# ABBA: the driver that goes first alternates from round to round.
		if ((r % 2)); then order="stock ours"; else order="ours stock"; fi
		for c in "${CASES[@]}"; do
			case_def "$c"
			for drv in $order; do
				info "round $r/$ROUNDS, $c, $drv"
				driver_eal "$drv"
				log=$OUT/logs/$c-$drv-r$r.log
				if run_$C_KIND "$drv-$c" "$log"; then
					echo "run $c $drv $r $R_MPPS $R_WALL $R_CPU $R_NOTE" >>"$RAW"
					info "  $R_MPPS Mpps/CPU-s ($R_WALL Mpps wall, $R_CPU CPU-s); $R_NOTE"
				else
					echo "run $c $drv $r FAIL - - see $log" >>"$RAW"
					warn "$c $drv round $r failed; log: $log"
					rc=1
				fi
				cleanup_run
			done
		done
	done

	if ((callgrind)); then
		command -v valgrind >/dev/null || die "valgrind is not installed (devtools/setup.sh)"
		for c in "${CASES[@]}"; do
			case_def "$c"
			for drv in stock ours; do
				driver_eal "$drv"
				run_callgrind "$c" "$drv" || {
					warn "callgrind run of $c ($drv) failed"
					rc=1
				}
				cleanup_run
			done
		done
	fi
	report
	return $rc
}

main "$@"
