# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Helpers shared by the integration tests (tests/test_*.sh).  Source it
# right at the top of a test:  . "$(dirname "$0")/lib.sh"
#
# Environment (tests/run.sh sets all of it; defaults let a test run alone):
#   IOVH_PLUGIN     path of a private copy of librte_net_iovhost.so; empty
#                   means "stock mode": the tests run against Debian's own
#                   net_vhost PMD (used to debug the tests themselves)
#   IOVH_BUILD_DIR  build directory (informational)
#   IOVH_SRC_DIR    source tree (for VERSION)
#   IOVH_WORK_DIR   private, not world-writable directory for sockets
#   IOVH_LOG_DIR    directory for the testpmd logs of this test
#
# Every testpmd runs interactively (-i) with its stdin on a FIFO the test
# keeps open, so the test can send commands whenever it likes and wait for
# their output in the log (stdout is made line-buffered with stdbuf).

set -euo pipefail

IOVH_TEST=$(basename "$0" .sh)
TESTPMD=${TESTPMD:-/usr/bin/dpdk-testpmd}
IOVH_SRC_DIR=${IOVH_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
IOVH_PLUGIN=${IOVH_PLUGIN:-}
IOVH_VERSION=$(tr -d ' \n' < "$IOVH_SRC_DIR/VERSION")
# Upper bound on the life of one testpmd, whatever happens to the test.
TP_MAX_SECONDS=${TP_MAX_SECONDS:-120}
# Mbufs per testpmd: small, so that a few instances fit in the hugepages.
TP_MBUFS=${TP_MBUFS:-16384}

if [ -n "$IOVH_PLUGIN" ]; then
	IOVH_MODE=ours
	[ -r "$IOVH_PLUGIN" ] || { echo "FAIL: IOVH_PLUGIN=$IOVH_PLUGIN is not readable" >&2; exit 1; }
else
	IOVH_MODE=stock
fi

if [ -z "${IOVH_WORK_DIR:-}" ]; then
	IOVH_WORK_DIR=/run/iovhost-tests/standalone-$$
	IOVH_OWN_WORK_DIR=1
fi
IOVH_WORK_DIR=$IOVH_WORK_DIR/$IOVH_TEST
IOVH_LOG_DIR=${IOVH_LOG_DIR:-$IOVH_WORK_DIR/logs}
mkdir -p -m 0755 "$IOVH_WORK_DIR" "$IOVH_LOG_DIR"

declare -A TP_PID=()	# name -> pid of the `timeout` wrapping testpmd
declare -A TP_FD=()	# name -> fd of our end of its stdin FIFO
declare -A TP_LOG=()	# name -> its log file
declare -A TP_RC=()	# name -> exit status once it is gone
TP_NAMES=()		# every instance started, in order
TP_PREFIXES=()		# every --file-prefix used (for hugepage clean-up)

say() { printf '[%s] %s\n' "$(date +%T)" "$*"; }

# Print the end of every testpmd log of this test (for failure reports).
# The most recently started one gets more lines.
dump_logs() {
	local n i=0 lines
	for n in "${TP_NAMES[@]}"; do
		i=$(( i + 1 ))
		lines=12
		[ $i = ${#TP_NAMES[@]} ] && lines=30
		echo "----- last lines of $n (${TP_LOG[$n]}) -----"
		tail -n $lines "${TP_LOG[$n]}" 2>/dev/null | cut -c1-200 || true
	done
}

fail() {
	say "FAIL: $*"
	dump_logs
	say "FAIL: $*"
	exit 1
}

skip() {
	say "SKIP: $*"
	exit 77
}

require_ours() {
	[ "$IOVH_MODE" = ours ] || skip "needs the iovhost plugin (stock mode): $*"
}

# ---------------------------------------------------------------- numbers

is_uint() { [[ "${1:-}" =~ ^[0-9]+$ ]]; }

# expect_ge WHAT SEEN MIN / expect_le WHAT SEEN MAX / expect_eq WHAT SEEN WANT
expect_ge() {
	is_uint "$2" || fail "$1: expected a number >= $3, saw '${2:-<nothing>}'"
	[ "$2" -ge "$3" ] || fail "$1: expected >= $3, saw $2"
	say "ok: $1 = $2 (>= $3)"
}
expect_le() {
	is_uint "$2" || fail "$1: expected a number <= $3, saw '${2:-<nothing>}'"
	[ "$2" -le "$3" ] || fail "$1: expected <= $3, saw $2"
	say "ok: $1 = $2 (<= $3)"
}
expect_eq() {
	[ "$2" = "$3" ] || fail "$1: expected '$3', saw '${2:-<nothing>}'"
	say "ok: $1 = $2"
}

# ---------------------------------------------------------------- testpmd

_tp_prefix() { echo "iovht$$${1//[^A-Za-z0-9]/}"; }

# tp_start NAME [--stock] [--main-lcore N] [EAL args...] -- [testpmd args...]
#
# Starts testpmd in the background, interactive, log in $IOVH_LOG_DIR/NAME.log.
# Adds: -l 0-1, a unique --file-prefix, --no-pci, --single-file-segments,
# --iova-mode=va, and -d $IOVH_PLUGIN unless in stock mode or --stock is
# given; on the application side -i and --total-num-mbufs.
# --main-lcore N: EAL main lcore (the forwarding lcore is then the other
# one), so that two processes can each forward on a core of their own.
tp_start() {
	local name=$1; shift
	local stock=0 main=0 eal=() app=() fifo log pfx fd
	while [ $# -gt 0 ]; do
		case $1 in
		--stock) stock=1; shift ;;
		--main-lcore) main=$2; shift 2 ;;
		*) break ;;
		esac
	done
	while [ $# -gt 0 ] && [ "$1" != -- ]; do eal+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	app=("$@")

	pfx=$(_tp_prefix "$name")
	fifo=$IOVH_WORK_DIR/$name.stdin
	log=$IOVH_LOG_DIR/$name.log
	rm -f "$fifo"
	mkfifo -m 0600 "$fifo"
	# Read-write open: does not block, and keeps the FIFO from ever
	# reaching EOF while the test runs.
	exec {fd}<>"$fifo"

	local cmd=(timeout -s INT -k 10 "$TP_MAX_SECONDS" stdbuf -oL -eL "$TESTPMD"
		-l 0-1 --main-lcore "$main" --no-pci --file-prefix "$pfx"
		--single-file-segments --iova-mode=va)
	if [ "$IOVH_MODE" = ours ] && [ $stock = 0 ]; then
		cmd+=(-d "$IOVH_PLUGIN")
	fi
	# The stock PMD names itself at INFO level only: make it show, so
	# that assert_driver can tell which driver probed.
	cmd+=(--log-level=pmd.net.vhost,info "${eal[@]}" -- -i --total-num-mbufs="$TP_MBUFS" "${app[@]}")
	printf '# %s\n' "${cmd[*]}" > "$log"
	"${cmd[@]}" < "$fifo" >> "$log" 2>&1 &
	TP_PID[$name]=$!
	TP_FD[$name]=$fd
	TP_LOG[$name]=$log
	TP_NAMES+=("$name")
	TP_PREFIXES+=("$pfx")
	say "started $name (pid ${TP_PID[$name]}, prefix $pfx, log $log)"
}

tp_alive() { kill -0 "${TP_PID[$1]}" 2>/dev/null; }

# Number of lines in NAME's log right now: a mark to search output from.
tp_mark() { wc -l < "${TP_LOG[$1]}"; }

# Log of NAME from line FROM+1 on (FROM defaults to 0: everything).
tp_since() { tail -n +"$(( ${2:-0} + 1 ))" "${TP_LOG[$1]}"; }

# tp_cmd NAME COMMAND... : send each argument as one command line.
tp_cmd() {
	local name=$1 c; shift
	tp_alive "$name" || fail "$name: cannot send '$*': testpmd is not running"
	for c in "$@"; do
		printf '%s\n' "$c" >&"${TP_FD[$name]}"
	done
}

# _tp_grep NAME ERE FROM: does a log line after line FROM match ERE?
_tp_grep() {
	RE=$2 awk -v n="$3" 'NR > n && $0 ~ ENVIRON["RE"] { f = 1; exit } END { exit !f }' \
		"${TP_LOG[$1]}"
}

# tp_line_of NAME ERE FROM: number of the first line after FROM matching ERE.
tp_line_of() {
	RE=$2 awk -v n="$3" 'NR > n && $0 ~ ENVIRON["RE"] { print NR; exit }' "${TP_LOG[$1]}"
}

# tp_wait NAME ERE SECONDS [FROM]: wait until a log line after line FROM
# matches ERE.  Returns 0 when seen, 1 on time-out, 2 if testpmd exited.
tp_wait() {
	local name=$1 re=$2 secs=$3 from=${4:-0} end
	end=$(( $(date +%s%N) + secs * 1000000000 ))
	while :; do
		_tp_grep "$name" "$re" "$from" && return 0
		if ! tp_alive "$name"; then
			# One last look: it may have printed the line and exited.
			_tp_grep "$name" "$re" "$from" && return 0
			return 2
		fi
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.2
	done
}

# tp_stacks NAME: for a testpmd that seems stuck, save all threads' stacks
# (gdb, if installed) to NAME.stacks and print one line per busy thread:
# "name: innermost <- caller <- ...".
tp_stacks() {
	local child out=$IOVH_LOG_DIR/$1.stacks
	command -v gdb > /dev/null || return 0
	child=$(_tp_child "$1")
	[ -n "$child" ] || return 0
	timeout 30 gdb -p "$child" -batch -ex 'thread apply all bt 20' > "$out" 2>&1 || true
	say "$1 seems stuck; its threads (full stacks in $out):"
	awk '
		function flush() { if (t != "" && t !~ /^(telemetry|rte_mp_handle|eal-intr-thread)/) print "    " t ": " f }
		/^Thread [0-9]+ / { flush(); t = $0; sub(/.*"/, "", t); sub(/".*/, "", t)
			n = split($0, q, "\""); t = q[2]; f = ""; k = 0; next }
		/^#[0-9]+ / && t != "" && k < 8 {
			fn = $0
			if (fn ~ / in /) sub(/.* in /, "", fn); else sub(/^#[0-9]+ +/, "", fn)
			sub(/ .*/, "", fn)
			if (fn == "??" && match($0, /from [^ ]+/)) {
				lib = substr($0, RSTART + 5, RLENGTH - 5); sub(/.*\//, "", lib)
				fn = "??(" lib ")"
			}
			f = (k ? f " <- " : "") fn; k++
		}
		END { flush() }' "$out"
}

# tp_expect NAME ERE SECONDS WHAT [FROM]: tp_wait or fail with WHAT.
tp_expect() {
	local rc=0
	tp_wait "$1" "$2" "$3" "${5:-0}" || rc=$?
	case $rc in
	0) return 0 ;;
	1)
		say "FAIL: $1: $4: no log line matching /$2/ within $3 s"
		tp_stacks "$1"
		fail "$1: $4: no log line matching /$2/ within $3 s" ;;
	*)
		_tp_reap "$1" 2 || true
		fail "$1: $4: testpmd exited (status ${TP_RC[$1]:-?}) before printing a line matching /$2/" ;;
	esac
}

# Wait for the interactive prompt (testpmd is up, its ports started).
tp_ready() {
	tp_expect "$1" '^testpmd> ' "${2:-30}" "waiting for the testpmd prompt"
}

# tp_run NAME SECONDS COMMAND... : send commands, wait until all of them
# have been executed, print the log lines they produced.
TP_SYNC=0
tp_run() {
	local name=$1 secs=$2 mark tok tokline; shift 2
	mark=$(tp_mark "$name")
	TP_SYNC=$(( TP_SYNC + 1 ))
	tok=iovh-sync-$$-$TP_SYNC
	tp_cmd "$name" "$@" "$tok"
	# testpmd echoes each command line as it reads it, after the previous
	# ones have run; the made-up one gets "Command not found".
	tp_expect "$name" "$tok" "$secs" "waiting for commands '$*' to complete" "$mark"
	tokline=$(tp_line_of "$name" "$tok" "$mark")
	tp_expect "$name" '^Command not found' 5 "waiting for commands '$*' to complete" "$tokline"
	sed -n "$(( mark + 1 )),$(( tokline - 1 ))p" "${TP_LOG[$name]}"
}

# tp_stop_fwd NAME: "stop" forwarding, wait for the statistics, print them.
tp_stop_fwd() {
	local name=$1 mark
	mark=$(tp_mark "$name")
	tp_cmd "$name" stop
	tp_expect "$name" '^Done\.' 20 "waiting for the end of 'stop'" "$mark"
	tp_since "$name" "$mark"
}

# Wait (polling) for NAME's process to end, up to SECONDS; record TP_RC.
_tp_reap() {
	local name=$1 secs=$2 i rc=0
	for (( i = 0; i < secs * 5; i++ )); do
		tp_alive "$name" || break
		sleep 0.2
	done
	tp_alive "$name" && return 1
	wait "${TP_PID[$name]}" || rc=$?
	TP_RC[$name]=$rc
	return 0
}

# PID of the testpmd process itself (child of timeout), if still there.
_tp_child() { pgrep -P "${TP_PID[$1]}" 2>/dev/null | head -n1 || true; }

# tp_quit NAME: "quit", wait for a clean exit; fail if it hangs or crashes.
tp_quit() {
	local name=$1 rc
	if tp_alive "$name"; then
		tp_cmd "$name" quit
		_tp_reap "$name" 20 ||
			fail "$name: still running 20 s after 'quit' (hangs on exit)"
	else
		_tp_reap "$name" 1 || true
	fi
	rc=${TP_RC[$name]}
	case $rc in
	0) say "$name exited cleanly" ;;
	124) fail "$name: killed by the $TP_MAX_SECONDS s watchdog" ;;
	*) fail "$name: exit status $rc after 'quit' (signal $(( rc > 128 ? rc - 128 : 0 )))" ;;
	esac
}

# tp_kill9 NAME: SIGKILL the testpmd (a crashing application).
tp_kill9() {
	local name=$1 child
	child=$(_tp_child "$name")
	[ -n "$child" ] || fail "$name: no testpmd process to kill"
	kill -KILL "$child"
	_tp_reap "$name" 10 || fail "$name: still there after SIGKILL"
	say "killed $name (testpmd pid $child) with SIGKILL"
}

_tp_cleanup() {
	local name child pfx mnt
	for name in "${TP_NAMES[@]}"; do
		tp_alive "$name" || continue
		child=$(_tp_child "$name")
		[ -n "$child" ] && kill -INT "$child" 2>/dev/null
		_tp_reap "$name" 5 && continue
		child=$(_tp_child "$name")
		[ -n "$child" ] && kill -KILL "$child" 2>/dev/null
		kill -KILL "${TP_PID[$name]}" 2>/dev/null
		_tp_reap "$name" 5 || true
	done
	# Hugepage files and runtime dirs a killed testpmd leaves behind.
	for pfx in "${TP_PREFIXES[@]}"; do
		for mnt in $(awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts); do
			rm -f "$mnt/${pfx}"map_*
		done
		rm -rf "/run/dpdk/$pfx"
	done
	rm -f "$IOVH_WORK_DIR"/*.stdin
	rm -rf "$IOVH_WORK_DIR"
	[ -n "${IOVH_OWN_WORK_DIR:-}" ] && rmdir "$(dirname "$IOVH_WORK_DIR")" 2>/dev/null
	return 0
}
trap '_tp_cleanup' EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- parsing

# fwd_port_stat FIELD PORT : FIELD (RX-packets, TX-packets, TX-dropped,
# RX-dropped) of the "Forward statistics for port PORT" block read on stdin
# (the last such block if there are several).
fwd_port_stat() {
	awk -v f="$1" -v p="$2" '
		/Forward statistics for port/ { inb = ($(NF - 1) == p) ; next }
		/^  -----/ { inb = 0 }
		inb { for (i = 1; i < NF; i++) if ($i == f ":") v = $(i + 1) }
		END { print v }'
}

# fwd_stream_stat FIELD RXPORT RXQUEUE : FIELD of the per-stream block
# "Forward Stats for RX Port= P/Queue= Q -> ..." read on stdin.
fwd_stream_stat() {
	awk -v f="$1" -v p="$2" -v q="$3" '
		/Forward Stats for RX Port=/ {
			s = $0
			sub(/.*RX Port= */, "", s); pp = s + 0
			sub(/^[0-9]+\/Queue= */, "", s); qq = s + 0
			inb = (pp == p && qq == q); next
		}
		/Forward statistics|Forward Stats/ { inb = 0 }
		inb { for (i = 1; i < NF; i++) if ($i == f ":") { v = $(i + 1); inb = 0 } }
		END { print v }'
}

# port_stat FIELD PORT : FIELD of "NIC statistics for port PORT" on stdin.
port_stat() {
	awk -v f="$1" -v p="$2" '
		/NIC statistics for port/ { inb = ($(NF - 1) == p); next }
		/^  #####/ { inb = 0 }
		inb { for (i = 1; i < NF; i++) if ($i == f ":") v = $(i + 1) }
		END { print v }'
}

# link_status : "up" or "down" from the last "Link status:" line on stdin.
link_status() { awk '/^Link status:/ { v = $3 } END { print v }'; }

# ------------------------------------------------------------ which driver

# Lines by which Debian's stock net_vhost PMD shows itself at probe.
STOCK_PROBE_RE='Initializing pmd_vhost for|Creating VHOST-USER backend'

# log_text NAME: NAME's log without the command line we put at its top and
# without our own paths (the socket and plugin paths contain "iovhost").
log_text() {
	sed -e 1d -e 's#[^ ]*/iovhost-tests/[^ ]*#<path>#g' \
		-e 's#[^ ]*librte_net_iovhost[^ ]*#<plugin>#g' "${TP_LOG[$1]}"
}

# probe_line NAME: the first line of NAME's log that shows our PMD probed
# (mentions iovhost and the version of the source tree), if any.
probe_line() {
	log_text "$1" | awk -v v="$IOVH_VERSION" 'tolower($0) ~ /iovhost/ && index($0, v) { print; exit }'
}

# assert_driver NAME: the vhost port(s) of instance NAME were probed by the
# driver this run is about: ours (a line with "iovhost" and the version)
# or, in stock mode, Debian's.
assert_driver() {
	local line line2
	if [ "$IOVH_MODE" = ours ]; then
		line=$(probe_line "$1")
		[ -n "$line" ] || fail "$1: no log line with 'iovhost' and version $IOVH_VERSION: our PMD did not probe"
		line2=$(log_text "$1" | grep -m1 -E "$STOCK_PROBE_RE" || true)
		[ -z "$line2" ] || fail "$1: the stock net_vhost PMD probed a port: $line2"
		say "ok: $1 probed by our PMD: $line"
	else
		assert_stock_driver "$1"
	fi
}

# assert_stock_driver NAME: Debian's PMD probed, ours did not show up.
assert_stock_driver() {
	local line
	line=$(log_text "$1" | grep -i -m1 iovhost || true)
	[ -z "$line" ] || fail "$1: expected the stock PMD only, but the log mentions iovhost: $line"
	line=$(log_text "$1" | grep -m1 -E "$STOCK_PROBE_RE" || true)
	[ -n "$line" ] || fail "$1: expected the stock PMD's probe line (/$STOCK_PROBE_RE/), saw none"
	say "ok: $1 probed by the stock PMD: $line"
}

# ------------------------------------------------------- shared assertions

# Packets a vhost<->virtio-user direction can hold between the sender's
# count and the receiver's: one ring (virtio-user's default and testpmd's
# descriptors are 256 to 1024 entries) plus a few bursts.  Generous.
IO_INFLIGHT_MAX=${IO_INFLIGHT_MAX:-4096}

# assert_io_loopback STATS MIN : STATS is the output of "stop" after io
# forwarding between port 0 and port 1 of one testpmd.  Each port must
# have received at least MIN packets, and in each direction the receiver
# must have counted no more than the sender sent, and at most
# IO_INFLIGHT_MAX fewer (nothing lost, nothing made up).
assert_io_loopback() {
	local stats=$1 min=$2 p q rx tx
	for p in 0 1; do
		q=$(( 1 - p ))
		rx=$(fwd_port_stat RX-packets "$p" <<< "$stats")
		tx=$(fwd_port_stat TX-packets "$q" <<< "$stats")
		expect_ge "port $p RX-packets" "$rx" "$min"
		is_uint "$tx" || fail "port $q TX-packets: expected a number, saw '${tx:-<nothing>}'"
		[ "$rx" -le "$tx" ] ||
			fail "port $p received $rx packets but port $q sent only $tx: packets made up"
		[ $(( tx - rx )) -le "$IO_INFLIGHT_MAX" ] ||
			fail "port $q sent $tx packets but port $p received only $rx: $(( tx - rx )) lost (> $IO_INFLIGHT_MAX in flight)"
		say "ok: port $q -> port $p: sent $tx, received $rx, $(( tx - rx )) in flight"
	done
}

# assert_pmd_stats_match NAME PORT FWDSTATS : "show port stats PORT" (the
# PMD's own counters, since start-up) equals testpmd's forward statistics
# FWDSTATS of a single forwarding run.
assert_pmd_stats_match() {
	local name=$1 p=$2 fwd=$3 nic f a b
	nic=$(tp_run "$name" 10 "show port stats $p")
	for f in RX-packets TX-packets; do
		a=$(port_stat "$f" "$p" <<< "$nic")
		b=$(fwd_port_stat "$f" "$p" <<< "$fwd")
		[ "$a" = "$b" ] ||
			fail "port $p: PMD statistics $f = ${a:-<none>}, but testpmd counted $b"
	done
	say "ok: port $p PMD statistics match testpmd's counts"
}

# wait_link NAME PORT up|down SECONDS: poll "show port info" until the link
# of PORT is in the wanted state; fail with the last state seen.
wait_link() {
	local name=$1 p=$2 want=$3 secs=$4 st= end
	end=$(( $(date +%s) + secs ))
	while :; do
		st=$(tp_run "$name" 10 "show port info $p" | link_status)
		[ "$st" = "$want" ] && { say "ok: $name port $p link $want"; return 0; }
		[ "$(date +%s)" -lt "$end" ] || break
		sleep 0.5
	done
	fail "$name: expected port $p link $want within $secs s, saw '${st:-<no Link status line>}'"
}

# wait_socket PATH SECONDS: wait for a listening socket file to appear.
wait_socket() {
	local i
	for (( i = 0; i < $2 * 5; i++ )); do
		[ -S "$1" ] && return 0
		sleep 0.2
	done
	fail "expected socket $1 within $2 s"
}

# expect_flow WHAT SENT RECEIVED MIN MAXLOST : RECEIVED >= MIN packets,
# RECEIVED <= SENT, SENT - RECEIVED <= MAXLOST.
expect_flow() {
	local what=$1 tx=$2 rx=$3 min=$4 maxlost=$5
	is_uint "$tx" || fail "$what: sent count: expected a number, saw '${tx:-<nothing>}'"
	expect_ge "$what: received" "$rx" "$min"
	[ "$rx" -le "$tx" ] || fail "$what: received $rx packets, more than the $tx sent"
	[ $(( tx - rx )) -le "$maxlost" ] ||
		fail "$what: sent $tx, received only $rx: $(( tx - rx )) missing (> $maxlost)"
	say "ok: $what: sent $tx, received $rx"
}
