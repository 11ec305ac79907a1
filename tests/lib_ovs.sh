# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# A private OVS-DPDK instance for tests/test_ovs.sh and devtools/bench-ovs.sh.
# Source it after tests/lib.sh.
#
# Runs Debian's DPDK-enabled ovs-vswitchd by path (the ovs-vswitchd
# alternative, and so the system service, stay as they are) with its own
# ovsdb-server, database, sockets, pid files and logs in one private
# directory; nothing of the system's /run/openvswitch or /etc/openvswitch is
# read or written. DPDK runs --in-memory (OVS adds that itself), so it
# leaves no files in /dev/hugepages or /run/dpdk.
#
#   ovs_start DIR PLUGIN   PLUGIN empty: no -d (Debian's stock net_vhost PMD)
#   ovs_add_port NAME OFPORT DEVARGS [other ovs-vsctl set arguments...]
#   ovs_del_port NAME
#   ovs_flows_cross A B    in_port=A -> B and in_port=B -> A, nothing else
#   ovs_port_stat OFPORT rx|tx pkts|drop|errs
#   ovs_stop               stop both daemons (also done at exit)

OVS_VSWITCHD=${OVS_VSWITCHD:-/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk}
OVS_SCHEMA=${OVS_SCHEMA:-/usr/share/openvswitch/vswitch.ovsschema}
# Upper bound on the life of the daemons, whatever happens to the caller.
OVS_MAX_SECONDS=${OVS_MAX_SECONDS:-600}
# The OVS PMD thread's core; DPDK front-ends forward on the other one.
OVS_PMD_CORE=${OVS_PMD_CORE:-1}
OVS_SOCKET_MEM=${OVS_SOCKET_MEM:-256}

OVS_DIR=
OVS_BR=
OVS_PREFIX=
_OVS_STARTS=0
OVS_DB_PID=	# pid of the `timeout` wrapping ovsdb-server
OVS_VS_PID=	# pid of the `timeout` wrapping ovs-vswitchd

# ovs_install: make sure the DPDK-enabled vswitchd is there; apt-get it if
# not (root only). Returns 1 if it is still missing.
ovs_install() {
	[ -x "$OVS_VSWITCHD" ] && return 0
	[ "$(id -u)" = 0 ] || return 1
	say "installing openvswitch-switch-dpdk (apt-get)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		-o DPkg::Lock::Timeout=300 --no-install-recommends \
		openvswitch-switch-dpdk > "$IOVH_LOG_DIR/apt-get.log" 2>&1 || {
		tail -n 5 "$IOVH_LOG_DIR/apt-get.log"
		return 1
	}
	[ -x "$OVS_VSWITCHD" ]
}

ovs_vsctl() { ovs-vsctl --db="unix:$OVS_DIR/db.sock" --timeout=60 "$@"; }
ovs_ofctl() { ovs-ofctl "$@"; }
ovs_appctl() { ovs-appctl -t "$OVS_DIR/vswitchd.ctl" --timeout=60 "$@"; }

# _ovs_wait_file PATH SECONDS WHAT
_ovs_wait_file() {
	local i
	for (( i = 0; i < $2 * 5; i++ )); do
		[ -e "$1" ] && return 0
		sleep 0.2
	done
	fail "$3: $1 did not appear within $2 s"
}

# ovs_start DIR PLUGIN [EXTRA_EAL]: DIR must be private (no world-writable
# directory on its path: EAL refuses a -d plugin below one, so the plugin
# is copied into DIR/plugin, root-owned, 0755).
ovs_start() {
	local dir=$1 plugin=$2 extra=${3:-} eal
	OVS_DIR=$dir
	OVS_BR=iovh$$
	rm -rf "$OVS_DIR"
	mkdir -p -m 0755 "$OVS_DIR"
	# A prefix of our own: OVS's default ("rte") would share the runtime
	# directory, and the telemetry socket in it, with any other instance.
	OVS_PREFIX=iovhovs$$$((++_OVS_STARTS))
	eal="--file-prefix $OVS_PREFIX --no-pci --log-level=pmd.net.vhost,info --log-level=pmd.net.iovhost,info"
	if [ -n "$plugin" ]; then
		mkdir -m 0755 "$OVS_DIR/plugin"
		install -m 0644 "$plugin" "$OVS_DIR/plugin/librte_net_iovhost.so"
		eal="-d $OVS_DIR/plugin/librte_net_iovhost.so $eal"
	fi
	[ -z "$extra" ] || eal="$eal $extra"
	# ovsdb-server and the vswitchd's unixctl default to OVS_RUNDIR: keep
	# everything they create, by name or by default, in OVS_DIR.
	export OVS_RUNDIR=$OVS_DIR OVS_DBDIR=$OVS_DIR OVS_LOGDIR=$OVS_DIR \
		OVS_SYSCONFDIR=$OVS_DIR
	ovsdb-tool create "$OVS_DIR/conf.db" "$OVS_SCHEMA" ||
		fail "ovsdb-tool create failed"
	timeout -s TERM -k 10 "$OVS_MAX_SECONDS" ovsdb-server "$OVS_DIR/conf.db" \
		--remote="punix:$OVS_DIR/db.sock" --pidfile="$OVS_DIR/ovsdb-server.pid" \
		--unixctl="$OVS_DIR/ovsdb-server.ctl" --log-file="$OVS_DIR/ovsdb-server.log" \
		--no-chdir > "$OVS_DIR/ovsdb-server.out" 2>&1 &
	OVS_DB_PID=$!
	_ovs_wait_file "$OVS_DIR/db.sock" 30 "ovsdb-server"
	ovs_vsctl --no-wait init
	# One PMD thread on OVS_PMD_CORE; the main thread stays on the first
	# core OVS may use. The other settings keep the hugepage use small.
	ovs_vsctl --no-wait set Open_vSwitch . \
		other_config:dpdk-init=true \
		other_config:dpdk-socket-mem="$OVS_SOCKET_MEM" \
		other_config:dpdk-socket-limit="$OVS_SOCKET_MEM" \
		other_config:pmd-cpu-mask="$(printf '0x%x' $(( 1 << OVS_PMD_CORE )))" \
		other_config:dpdk-extra="$eal"
	# --disable-system: a vswitchd deletes the datapaths its database does
	# not name, so without it a system OVS's kernel datapath would go.
	# --disable-system-route: no need for the kernel's routing table.
	# unshare --net: the userspace datapath makes tap devices (one named
	# ovs-netdev, one per bridge), which in the host's namespace collide
	# with any other OVS using it and outlive the daemon. In a namespace
	# of its own they go with it. The vhost-user and control sockets are
	# files, which the namespace does not change.
	timeout -s TERM -k 10 "$OVS_MAX_SECONDS" unshare --net \
		"$OVS_VSWITCHD" "unix:$OVS_DIR/db.sock" \
		--disable-system --disable-system-route \
		--pidfile="$OVS_DIR/vswitchd.pid" --unixctl="$OVS_DIR/vswitchd.ctl" \
		--log-file="$OVS_DIR/vswitchd.log" --no-chdir \
		> "$OVS_DIR/vswitchd.out" 2>&1 &
	OVS_VS_PID=$!
	_ovs_wait_file "$OVS_DIR/vswitchd.ctl" 60 "ovs-vswitchd"
	# DPDK initialises before the bridge is configured: wait for it.
	local i
	for (( i = 0; i < 300; i++ )); do
		grep -q 'DPDK Enabled - initialized' "$OVS_DIR/vswitchd.log" 2>/dev/null && break
		kill -0 "$OVS_VS_PID" 2>/dev/null || fail "ovs-vswitchd exited; $(tail -n 5 "$OVS_DIR/vswitchd.log")"
		sleep 0.2
	done
	grep -q 'DPDK Enabled - initialized' "$OVS_DIR/vswitchd.log" ||
		fail "ovs-vswitchd: DPDK not initialised within 60 s"
	say "ovs-vswitchd-dpdk up (pid $(cat "$OVS_DIR/vswitchd.pid"), log $OVS_DIR/vswitchd.log): $(grep -m1 'EAL ARGS' "$OVS_DIR/vswitchd.log" | sed 's/.*EAL ARGS: //')"
	ovs_vsctl add-br "$OVS_BR" -- set bridge "$OVS_BR" datapath_type=netdev
}

# ovs_add_port NAME OFPORT DEVARGS [more "column=value" of the interface]
ovs_add_port() {
	local name=$1 ofport=$2 devargs=$3 st; shift 3
	ovs_vsctl add-port "$OVS_BR" "$name" -- set interface "$name" type=dpdk \
		"options:dpdk-devargs=$devargs" ofport_request="$ofport" "$@"
	st=$(ovs_vsctl get interface "$name" ofport)
	[ "$st" = "$ofport" ] ||
		fail "OVS port $name: ofport is '$st', expected $ofport; $(ovs_vsctl get interface "$name" error 2>&1)"
	say "OVS port $name (ofport $ofport): $devargs"
}

ovs_del_port() { ovs_vsctl del-port "$OVS_BR" "$1"; }

ovs_flows_cross() {
	ovs_ofctl del-flows "unix:$OVS_DIR/$OVS_BR.mgmt"
	ovs_ofctl add-flow "unix:$OVS_DIR/$OVS_BR.mgmt" "in_port=$1,actions=output:$2"
	ovs_ofctl add-flow "unix:$OVS_DIR/$OVS_BR.mgmt" "in_port=$2,actions=output:$1"
}

ovs_dump_ports() { ovs_ofctl dump-ports "unix:$OVS_DIR/$OVS_BR.mgmt"; }

# ovs_port_stat OFPORT rx|tx pkts|drop|errs: one counter of `dump-ports`
# (read live from the port, not the 5 s statistics column of the database).
ovs_port_stat() {
	ovs_dump_ports | awk -v p="$1" -v d="$2" -v f="$3" '
		/^  port / { s = $2; sub(/:$/, "", s); inp = (s == p); dir = "rx"
			sub(/^  port +[^ ]+ /, "") }
		inp && /^ +tx / { dir = "tx" }
		inp && dir == d {
			n = split($0, kv, /[ ,]+/)
			for (i = 1; i <= n; i++) if (kv[i] ~ ("^" f "=")) {
				v = kv[i]; sub(/^[^=]*=/, "", v); print v; exit
			}
		}'
}

# ovs_xstat IFACE NAME: an xstat of the DPDK port behind an OVS interface,
# read through DPDK telemetry ("unavailable" if the socket cannot be used).
ovs_xstat() {
	local port out
	port=$(ovs_vsctl get interface "$1" status:port_no | tr -d '"')
	is_uint "$port" || fail "OVS interface $1: no DPDK port number ($port)"
	out=$(echo "/ethdev/xstats,$port" |
		timeout 20 python3 /usr/bin/dpdk-telemetry.py -f "$OVS_PREFIX" 2>/dev/null) ||
		{ echo unavailable; return 0; }
	python3 -c '
import json, sys
name = sys.argv[1]
for line in sys.stdin:
	line = line.strip()
	if line.startswith("{") and "/ethdev/xstats" in line:
		print(json.loads(line)["/ethdev/xstats"].get(name, "missing"))
		sys.exit(0)
print("unavailable")' "$2" <<< "$out"
}

# Stop a daemon: ask, then TERM, then KILL.
_ovs_stop_one() {
	local what=$1 wrapper=$2 pidfile=$3 ctl=$4 i pid
	[ -n "$wrapper" ] || return 0
	if kill -0 "$wrapper" 2>/dev/null; then
		[ -S "$ctl" ] && ovs-appctl -t "$ctl" --timeout=10 exit > /dev/null 2>&1
		for (( i = 0; i < 50; i++ )); do
			kill -0 "$wrapper" 2>/dev/null || break
			sleep 0.2
		done
		if kill -0 "$wrapper" 2>/dev/null; then
			pid=$(cat "$pidfile" 2>/dev/null || true)
			say "$what did not exit when asked: SIGTERM"
			[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
			sleep 2
			[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
			kill -KILL "$wrapper" 2>/dev/null
		fi
	fi
	wait "$wrapper" 2>/dev/null || true
}

ovs_stop() {
	[ -n "$OVS_DIR" ] || return 0
	if [ -n "$OVS_VS_PID" ] && kill -0 "$OVS_VS_PID" 2>/dev/null; then
		ovs_vsctl --timeout=20 --if-exists del-br "$OVS_BR" > /dev/null 2>&1 || true
	fi
	_ovs_stop_one ovs-vswitchd "$OVS_VS_PID" "$OVS_DIR/vswitchd.pid" "$OVS_DIR/vswitchd.ctl"
	OVS_VS_PID=
	_ovs_stop_one ovsdb-server "$OVS_DB_PID" "$OVS_DIR/ovsdb-server.pid" "$OVS_DIR/ovsdb-server.ctl"
	OVS_DB_PID=
	[ -z "$OVS_PREFIX" ] || rm -rf "/run/dpdk/$OVS_PREFIX"
	# The work directory goes at exit: keep the logs with the test's.
	cp "$OVS_DIR/vswitchd.log" "$IOVH_LOG_DIR/$(basename "$OVS_DIR").vswitchd.log" 2>/dev/null || true
	cp "$OVS_DIR/ovsdb-server.log" "$IOVH_LOG_DIR/$(basename "$OVS_DIR").ovsdb-server.log" 2>/dev/null || true
}

# ovs_probe_check ours|stock: the vswitchd log shows which driver probed
# the vhost ports.
ovs_probe_check() {
	local log=$OVS_DIR/vswitchd.log line
	if [ "$1" = ours ]; then
		line=$(grep -m1 -E "iovhost $IOVH_VERSION \(net_vhost\): probing net_vhost" "$log" || true)
		[ -n "$line" ] || fail "no 'iovhost $IOVH_VERSION (net_vhost): probing' line in $log: our PMD did not probe"
		! grep -q -E "$STOCK_PROBE_RE" "$log" ||
			fail "the stock net_vhost PMD probed a port in OVS: $(grep -m1 -E "$STOCK_PROBE_RE" "$log")"
		say "ok: OVS ports probed by our PMD: ${line#*|dpdk|}"
	else
		line=$(grep -m1 -E "$STOCK_PROBE_RE" "$log" || true)
		[ -n "$line" ] || fail "no stock net_vhost probe line in $log"
		! grep -q "(net_vhost): probing" "$log" || fail "our PMD probed in a stock run"
		say "ok: OVS ports probed by the stock PMD: ${line#*|dpdk|}"
	fi
}

_ovs_cleanup() {
	ovs_stop
	_tp_cleanup
}
trap '_ovs_cleanup' EXIT

# Failure reports: the end of the vswitchd log after the testpmd logs.
eval "$(declare -f dump_logs | sed '1s/^dump_logs/_ovs_lib_dump_logs/')"
dump_logs() {
	_ovs_lib_dump_logs
	[ -n "$OVS_DIR" ] && [ -f "$OVS_DIR/vswitchd.log" ] || return 0
	echo "----- last lines of $OVS_DIR/vswitchd.log -----"
	grep -v '|coverage|' "$OVS_DIR/vswitchd.log" | tail -n 25 | cut -c1-220
}
