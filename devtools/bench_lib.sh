# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Helpers shared by the loopback demo and the benchmarks (devtools/demo.sh,
# devtools/bench.sh, devtools/bench-iommu.sh). Source it after common.sh:
#
#   . "$(dirname "$(realpath "$0")")/common.sh"
#   . "$IOVH_ROOT/devtools/bench_lib.sh"
#
# Functions:
#   iovh_tp_parse_stats LOG   "key value" lines from a testpmd log:
#                             nic_rx_P_N / nic_tx_P_N: RX/TX-packets of port P
#                             in its N-th "show port stats"; fwd_rx_P /
#                             fwd_tx_P: the forward statistics after "stop"
#   iovh_tp_last_stats LOG P  "RX TX" of port P in its last port stats
#   iovh_check_driver LABEL LOG
#                             ours: our probe line is in LOG; stock: it is not
#   iovh_loop_start LABEL LOG SOCK VIRTIO_ARGS LIMIT ARG...
#                             start an interactive testpmd with the vhost port
#                             (port 0, ARG... are its EAL and testpmd args),
#                             hot-plug virtio-user on SOCK (port 1) with
#                             VIRTIO_ARGS (",key=val..." or empty), start
#                             both ports
#   iovh_loop_conserved LABEL LOG SLACK
#                             after "stop" and a last "show port stats all":
#                             what each loop port sent the other received,
#                             give or take SLACK packets (rings, bursts)
#   iovh_tp_main_pid          pid of the testpmd that iovh_tp_start started
#   iovh_lcore_tid PID NAME...
#                             tid of the first thread of PID called NAME
#                             (comm), trying each NAME in turn
#   iovh_thread_cpu PID TID   utime+stime of that thread, in seconds
#   iovh_features LOG         the virtio features the back-end in LOG
#                             negotiated (hex, last line wins; ours or stock)
#   iovh_feature_names HEX    "mrg in_order packed iommu" subset that is set
#   iovh_fe_measure LABEL LOG FELOG WARMUP SECONDS
#                             testpmd (args: array IOVH_FE_TP_ARGS) loops
#                             its vhost port 0 back to itself, with
#                             iovhost-frontend (args: array IOVH_FE_ARGS) as
#                             the guest; measures SECONDS after traffic
#                             started plus WARMUP. Sets IOVH_M_PKTS (port 0
#                             TX packets in the window: what reached the
#                             guest), IOVH_M_CPU (CPU seconds of the
#                             forwarding lcore), IOVH_M_WALL (seconds),
#                             IOVH_M_FE_RC, IOVH_M_FE_LINE (FRONTEND line).
#                             testpmd must run with --record-burst-stats:
#                             the cost of an empty poll is measured before
#                             the guest comes, and IOVH_M_IDLE (% of
#                             IOVH_M_CPU spent in empty polls) and
#                             IOVH_M_BUSY (IOVH_M_CPU without them) come
#                             from the window's empty polls ("?" if unknown,
#                             or if that leaves less than 5 % of the time)
#   iovh_fe_kill              stop the front-end if a failed measurement left
#                             it running
#   iovh_stats V...           "median min max" of the numbers V...
#   iovh_cg_objects FILE      "Ir object" lines: self cost per object in one
#                             callgrind output file

# shellcheck shell=bash disable=SC2034
# (SC2034: the IOVH_M_* results are for the scripts that source this.)

# Guard against double sourcing.
if [[ -n "${IOVH_BENCH_LIB_SOURCED:-}" ]]; then
	return 0
fi
IOVH_BENCH_LIB_SOURCED=1

iovh_tp_parse_stats()
{
	awk '
	/NIC statistics for port / {
		p = $0
		sub(/.*NIC statistics for port /, "", p)
		sub(/[^0-9].*/, "", p)
		n[p]++
		where = "nic_"; tag = "_" p "_" n[p]
		next
	}
	/Forward statistics for port / {
		p = $0
		sub(/.*Forward statistics for port /, "", p)
		sub(/[^0-9].*/, "", p)
		where = "fwd_"; tag = "_" p
		next
	}
	/Accumulated forward statistics/ { where = ""; next }
	/^ *#+ *$|^ *-+ *$/ { where = ""; next }
	where != "" && $1 == "RX-packets:" { print where "rx" tag, $2 }
	where != "" && $1 == "TX-packets:" { print where "tx" tag, $2 }
	' "$1"
}

iovh_tp_last_stats()
{
	iovh_tp_parse_stats "$1" | awk -v p="$2" '
	{ split($1, k, "_") }
	k[1] == "nic" && k[3] == p && k[4] + 0 >= last {
		last = k[4] + 0
		if (k[2] == "rx") rx = $2; else tx = $2
	}
	END { if (last) print rx, tx; else exit 1 }'
}

iovh_check_driver()
{
	local label=$1 log=$2 version
	version=$(tr -d '[:space:]' <"$IOVH_ROOT/VERSION")
	if [[ $label == ours* ]]; then
		grep -q "iovhost $version" "$log" || {
			warn "[$label] no 'iovhost $version' probe line: our PMD did not take net_vhost0"
			return 1
		}
	else
		! grep -q "iovhost $version" "$log" || {
			warn "[$label] iovhost probed in the stock run"
			return 1
		}
	fi
}

iovh_loop_start()
{
	local label=$1 log=$2 sock=$3 vargs=$4 limit=$5
	shift 5
	iovh_tp_start "$log" "$limit" "$@" ||
		{ warn "[$label] testpmd did not start"; return 1; }
	iovh_check_driver "$label" "$log" || return 1
	# Debian's net_vhost only listens once configured, so virtio-user
	# cannot be on the command line: it is plugged in afterwards.
	iovh_tp_cmd "port stop all" || return 1
	iovh_tp_cmd "port attach net_virtio_user0,path=$sock$vargs" \
		"${IOVH_TP_SLOW_WAIT:-60}" || return 1
	grep -q 'Port 1 is attached' "$log" || {
		warn "[$label] virtio-user port did not attach; see $log"
		return 1
	}
	iovh_tp_cmd "port start all" "${IOVH_TP_SLOW_WAIT:-60}" || return 1
}

iovh_loop_conserved()
{
	local label=$1 log=$2 slack=$3
	local -A v=()
	local k x rc=0
	while read -r k x; do
		v[$k]=$x
	done < <(iovh_tp_parse_stats "$log")
	read -r 'v[nic_rx_0]' 'v[nic_tx_0]' < <(iovh_tp_last_stats "$log" 0) || true
	read -r 'v[nic_rx_1]' 'v[nic_tx_1]' < <(iovh_tp_last_stats "$log" 1) || true
	local what a b d
	# Port 0 sends what port 1 receives and back.
	for what in "nic_tx_0 nic_rx_1" "nic_tx_1 nic_rx_0" \
		"fwd_tx_0 fwd_rx_1" "fwd_tx_1 fwd_rx_0"; do
		read -r a b <<<"$what"
		if ! [[ ${v[$a]:-} =~ ^[0-9]+$ && ${v[$b]:-} =~ ^[0-9]+$ ]]; then
			warn "[$label] cannot read $a and $b from $log"
			return 1
		fi
		d=$((v[$a] - v[$b]))
		((d < 0)) && d=$((-d))
		if ((d > slack)); then
			warn "[$label] $a=${v[$a]} but $b=${v[$b]}: $d packets unaccounted for"
			rc=1
		fi
	done
	return $rc
}

iovh_tp_main_pid()
{
	# IOVH_TP_PID is timeout(1), testpmd its only child.
	local pid
	pid=$(pgrep -P "$IOVH_TP_PID" 2>/dev/null | head -n1) || true
	[[ -n $pid ]] || return 1
	echo "$pid"
}

iovh_lcore_tid()
{
	local pid=$1 t name
	shift
	for name in "$@"; do
		for t in /proc/"$pid"/task/*; do
			if [[ $(cat "$t/comm" 2>/dev/null) == "$name" ]]; then
				echo "${t##*/}"
				return 0
			fi
		done
	done
	return 1
}

iovh_thread_cpu()
{
	local stat
	stat=$(cat "/proc/$1/task/$2/stat" 2>/dev/null) || return 1
	# Fields after the ")" that ends the name: utime and stime are 14
	# and 15 of the whole line, 12 and 13 after it.
	awk -v s="${stat##*) }" -v hz="$(getconf CLK_TCK)" \
		'BEGIN { split(s, f, " "); printf "%.2f\n", (f[12] + f[13]) / hz }'
}

iovh_features()
{
	grep -a -o -E 'negotiated (Virtio )?features:? 0x[0-9a-f]+' "$1" |
		tail -n1 | grep -o -E '0x[0-9a-f]+$'
}

iovh_feature_names()
{
	local f=$(($1)) out=()
	((f >> 15 & 1)) && out+=(mrg)
	((f >> 35 & 1)) && out+=(in_order)
	((f >> 34 & 1)) && out+=(packed)
	((f >> 33 & 1)) && out+=(iommu)
	echo "${out[*]}"
}

# Where the forwarding lcore (1) runs; anything else (the front-end) is
# kept off it.
IOVH_FWD_LCORE=1
# DPDK 22.11 names worker lcore threads rte-worker-N; later releases
# lcore-worker-N.
IOVH_FWD_THREADS=("rte-worker-$IOVH_FWD_LCORE" "lcore-worker-$IOVH_FWD_LCORE")

# Snapshot for a measurement window: CPU seconds of the forwarding thread,
# then port stats (both read within one testpmd round trip, at both ends
# of the window, so the skew cancels). $1: pid, $2: tid, $3: stats cmd.
# Sets IOVH_SNAP_CPU and IOVH_SNAP_T.
_iovh_snapshot()
{
	IOVH_SNAP_CPU=$(iovh_thread_cpu "$1" "$2") || {
		warn "cannot read the CPU time of thread $2 of $1"
		return 1
	}
	IOVH_SNAP_T=$(date +%s.%N)
	iovh_tp_cmd "$3"
}

# "total percent-empty" of the last RX-bursts line of a testpmd log
# (--record-burst-stats), "0 0" if there is none.
_iovh_rx_bursts()
{
	grep -a -o 'RX-bursts : [0-9]* \[[^]]*' "$1" | tail -n1 | awk '
		{ n = $3; p = 0
		  if (match($0, /\[[0-9]+% of 0 pkts/)) p = substr($0, RSTART + 1) + 0 }
		END { print n + 0, p + 0 }'
}

iovh_fe_measure()
{
	local label=$1 log=$2 felog=$3 warmup=$4 secs=$5
	local fe=${IOVH_FE:-$(iovh_build_dir)/app/frontend/iovhost-frontend}
	[[ -x $fe ]] || { warn "$fe is not built"; return 1; }
	IOVH_M_PKTS='' IOVH_M_CPU='' IOVH_M_WALL='' IOVH_M_FE_RC='' IOVH_M_FE_LINE=''
	IOVH_M_IDLE='' IOVH_M_BUSY=''
	iovh_tp_start "$log" $((warmup + secs + 300)) "${IOVH_FE_TP_ARGS[@]}" ||
		{ warn "[$label] testpmd did not start"; return 1; }
	iovh_check_driver "$label" "$log" || return 1
	local pid tid
	pid=$(iovh_tp_main_pid) && tid=$(iovh_lcore_tid "$pid" "${IOVH_FWD_THREADS[@]}") || {
		warn "[$label] no ${IOVH_FWD_THREADS[0]} thread in testpmd"
		return 1
	}
	iovh_tp_cmd "start" || return 1
	# Calibration: with no guest yet every poll is empty; what one costs
	# lets the window's empty polls be taken out of its CPU time.
	local ca cb bursts pct0
	iovh_tp_cmd "clear fwd stats all" || return 1
	ca=$(iovh_thread_cpu "$pid" "$tid") || return 1
	iovh_sleep "${IOVH_IDLE_CAL:-2}"
	cb=$(iovh_thread_cpu "$pid" "$tid") || return 1
	iovh_tp_cmd "show fwd stats all" || return 1
	read -r bursts pct0 < <(_iovh_rx_bursts "$log")
	local empty_ns
	empty_ns=$(awk -v a="$ca" -v b="$cb" -v n="$bursts" \
		'BEGIN { if (n > 0 && b > a) printf "%.2f", (b - a) * 1e9 / n; else print "" }')
	local pin=()
	if (($(nproc) > 1)) && command -v taskset >/dev/null; then
		pin=(taskset -c "$(seq 0 $(($(nproc) - 1)) |
			grep -vx "$IOVH_FWD_LCORE" | paste -sd,)")
	fi
	"${pin[@]}" timeout -k 5 $((warmup + secs + 240)) "$fe" "${IOVH_FE_ARGS[@]}" \
		--seconds $((warmup + secs + 2)) >"$felog" 2>&1 &
	local fepid=$! rx _tx deadline=$((SECONDS + 180))
	IOVH_FE_PID=$fepid
	# The front-end's clock starts with its traffic, after the set-up
	# (which may push tens of thousands of UPDATEs): wait for packets.
	while :; do
		iovh_tp_cmd "show port stats 0" || { iovh_fe_kill; return 1; }
		read -r rx _tx < <(iovh_tp_last_stats "$log" 0) || rx=0
		((rx > 0)) && break
		if ! kill -0 "$fepid" 2>/dev/null || ((SECONDS > deadline)); then
			warn "[$label] no traffic from the front-end; see $felog"
			iovh_fe_kill
			return 1
		fi
		sleep 0.2
	done
	iovh_sleep "$warmup"
	local c0 t0 tx0 c1 t1 tx1
	_iovh_snapshot "$pid" "$tid" "show port stats 0" || return 1
	c0=$IOVH_SNAP_CPU t0=$IOVH_SNAP_T
	read -r rx tx0 < <(iovh_tp_last_stats "$log" 0)
	iovh_tp_cmd "clear fwd stats all" || return 1
	iovh_sleep "$secs"
	_iovh_snapshot "$pid" "$tid" "show port stats 0" || return 1
	c1=$IOVH_SNAP_CPU t1=$IOVH_SNAP_T
	read -r rx tx1 < <(iovh_tp_last_stats "$log" 0)
	iovh_tp_cmd "show fwd stats all" || return 1
	read -r bursts pct0 < <(_iovh_rx_bursts "$log")
	IOVH_M_FE_RC=0
	wait "$fepid" || IOVH_M_FE_RC=$?
	IOVH_FE_PID=''
	IOVH_M_FE_LINE=$(grep -a '^FRONTEND ' "$felog" | tail -n1) || true
	# For the notes (our PMD's IOTLB counters); harmless for the stock one.
	iovh_tp_cmd "show port xstats 0" || return 1
	iovh_tp_cmd "stop" || return 1
	iovh_tp_quit || warn "[$label] testpmd exited with status $?"
	IOVH_M_PKTS=$((tx1 - tx0))
	IOVH_M_CPU=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')
	# Time the window's empty polls took, at the calibrated cost.
	read -r IOVH_M_IDLE IOVH_M_BUSY < <(awk -v c="$IOVH_M_CPU" -v n="$bursts" \
		-v p="$pct0" -v e="$empty_ns" 'BEGIN {
			if (e == "" || n == "" || c <= 0) { print "?", "?"; exit }
			idle = n * p / 100 * e / 1e9
			# Beyond that the remainder is calibration noise.
			if (idle > 0.95 * c) { print "?", "?"; exit }
			printf "%.0f %.3f\n", idle * 100 / c, c - idle }')
	IOVH_M_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	if ((IOVH_M_PKTS <= 0)); then
		warn "[$label] no packets delivered during the measurement"
		return 1
	fi
}

# Stop a front-end iovh_fe_measure left running (for traps and failures).
iovh_fe_kill()
{
	[[ -n ${IOVH_FE_PID:-} ]] || return 0
	# timeout(1) passes the signal on to the front-end.
	kill -TERM "$IOVH_FE_PID" 2>/dev/null || true
	wait "$IOVH_FE_PID" 2>/dev/null || true
	IOVH_FE_PID=''
}

iovh_stats()
{
	printf '%s\n' "$@" | sort -g | awk '
	{ v[NR] = $1 }
	END {
		if (NR == 0) exit 1
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		# Significant digits: strict IOMMU runs deliver thousandths of Mpps.
		printf "%.4g %.4g %.4g\n", m, v[1], v[NR]
	}'
}

# The self cost of a function block is on the lines after its fn=; a
# calls= line is followed by one line with the inclusive cost of that
# call, which belongs to the callee and is skipped. Names may be
# compressed as "(id) name" once and "(id)" afterwards.
iovh_cg_objects()
{
	awk '
	function name(s,   id) {
		if (s ~ /^\([0-9]+\)/) {
			id = s; sub(/\).*/, "", id); sub(/^\(/, "", id)
			sub(/^\([0-9]+\) ?/, "", s)
			if (s != "") ob_name[id] = s
			return ob_name[id]
		}
		return s
	}
	/^ob=/ { ob = name(substr($0, 4)); next }
	/^cob=/ { name(substr($0, 5)); next }
	/^calls=/ { skip = 1; next }
	/^[0-9+*-]/ {
		if (skip) { skip = 0; next }
		cost[ob] += $2
		next
	}
	END { for (o in cost) printf "%.0f %s\n", cost[o], o }
	' "$1"
}
