#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# The /iovhost/ telemetry commands and the connection-event log lines.
# One testpmd: our net_vhost0 (server) and net_virtio_user0 on the same
# socket; io forwarding for ~3 s, then, over the telemetry socket
# (tests/telemetry_client.py, and once through Debian's dpdk-telemetry.py):
#  - /iovhost/ports lists port 0 only (port 1 is virtio-user);
#  - /iovhost/port,0: our socket path, server, IOMMU off, state running,
#    link up; the feature names are exactly the bits of the hex value and
#    include VIRTIO_F_VERSION_1; protocol features likewise;
#  - /iovhost/queue,0,0 and /iovhost/queues,0: packets and bytes equal
#    testpmd's port statistics (and /ethdev/stats,0); no drops, no bad
#    descriptors, no IOTLB activity, 16 empty miss-latency buckets;
#  - bad parameters (the virtio port, a queue past the last, junk) get
#    null replies, and the process keeps serving;
#  - the log shows, with the socket path: connected, features (hex and
#    names), memory table, each ring started (split, size);
#  - after the front-end's port is closed: state disconnected, link down,
#    features 0x0, the log says why it disconnected, and the counters are
#    still there.
# Then a second testpmd loops a port with client=1,iommu-support=1 back
# to itself for iovhost-frontend --server --iommu strict (every buffer
# mapped and unmapped through the IOTLB):
#  - while it runs: mode client, IOMMU on, state running,
#    VIRTIO_F_ACCESS_PLATFORM among the features;
#  - afterwards: IOTLB misses, updates and sent misses are counted, the
#    miss-latency buckets are not empty and hold at most one entry per
#    miss, and every per-queue and device counter equals its ethdev xstat
#    (/ethdev/xstats,0 in the same telemetry session).

. "$(dirname "$0")/lib.sh"
require_ours "tests iovhost's own telemetry commands"
command -v python3 > /dev/null || skip "python3 not found"

client=$IOVH_SRC_DIR/tests/telemetry_client.py
sock=$IOVH_WORK_DIR/vhost.sock
tp_start pmd --vdev "net_vhost0,iface=$sock" --vdev "net_virtio_user0,path=$sock" \
	-- --nb-cores=1
tp_ready pmd
assert_driver pmd
tel=/run/dpdk/$(_tp_prefix pmd)/dpdk_telemetry.v2
[ -S "$tel" ] || fail "no telemetry socket at $tel"

# tel CMD... : the replies, one JSON line each.
tel() { python3 "$client" "$tel" "$@" || fail "telemetry query '$*' failed"; }

# jq_py JSON EXPR : evaluate the Python expression EXPR on d = the reply's
# value (the one key of the reply object); prints the result.
jq_py() {
	python3 -c '
import json, sys
r = json.loads(sys.argv[1])
d = next(iter(r.values()))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list)) or v is None else v)
' "$1" "$2"
}

tp_run pmd 10 "start tx_first" > /dev/null
sleep 3
tp_stop_fwd pmd > /dev/null
nic=$(tp_run pmd 10 "show port stats 0")
rx=$(port_stat RX-packets 0 <<< "$nic")
tx=$(port_stat TX-packets 0 <<< "$nic")
expect_ge "port 0 RX-packets" "$rx" 1000
expect_ge "port 0 TX-packets" "$tx" 1000

# ---- ports
out=$(tel /iovhost/ports)
expect_eq "/iovhost/ports" "$(jq_py "$out" d)" "[0]"

# ---- port
port=$(tel /iovhost/port,0)
say "/iovhost/port,0: $port"
expect_eq "iface" "$(jq_py "$port" 'd["iface"]')" "$sock"
expect_eq "mode" "$(jq_py "$port" 'd["mode"]')" server
expect_eq "iommu" "$(jq_py "$port" 'd["iommu"]')" off
expect_eq "state" "$(jq_py "$port" 'd["state"]')" running
expect_eq "link" "$(jq_py "$port" 'd["link"]')" up
expect_eq "queue_pairs" "$(jq_py "$port" 'd["queue_pairs"]')" 1
expect_eq "nb_vrings" "$(jq_py "$port" 'd["nb_vrings"]')" 2
expect_eq "counters.connections" "$(jq_py "$port" 'd["counters"]["connections"]')" 1
# Every set bit has exactly one entry, named where the bit has a name.
check_names() {
	python3 - "$port" "$1" "$2" <<'EOF' || fail "$2 do not match $1 (see above)"
import json, sys
d = json.loads(sys.argv[1])["/iovhost/port"]
f, names = int(d[sys.argv[2]], 16), d[sys.argv[3]]
bits = [b for b in range(64) if f >> b & 1]
if len(bits) != len(names) or f == 0:
    sys.exit(f"{sys.argv[2]} {f:#x} has {len(bits)} bits, names {names}")
for b, n in zip(bits, names):
    if n.startswith("bit") and n != f"bit{b}":
        sys.exit(f"bit {b} shown as {n}")
print(f"ok: {sys.argv[3]}: {' '.join(names)}")
EOF
}
check_names features feature_names
check_names protocol_features protocol_feature_names
jq_py "$port" '"VIRTIO_F_VERSION_1" in d["feature_names"] and "VHOST_USER_F_PROTOCOL_FEATURES" in d["feature_names"]' |
	grep -qx True || fail "feature_names lack VERSION_1 or PROTOCOL_FEATURES"
jq_py "$port" '"REPLY_ACK" in d["protocol_feature_names"]' | grep -qx True ||
	fail "protocol_feature_names lack REPLY_ACK (virtio-user negotiates it)"

# ---- queues: same numbers as ethdev (testpmd and /ethdev/stats)
q=$(tel /iovhost/queue,0,0)
say "/iovhost/queue,0,0: $q"
eth=$(tel /ethdev/stats,0)
expect_eq "rx packets vs testpmd" "$(jq_py "$q" 'd["rx"]["packets"]')" "$rx"
expect_eq "tx packets vs testpmd" "$(jq_py "$q" 'd["tx"]["packets"]')" "$tx"
expect_eq "rx bytes vs /ethdev/stats" "$(jq_py "$q" 'd["rx"]["bytes"]')" "$(jq_py "$eth" 'd["ibytes"]')"
expect_eq "tx bytes vs /ethdev/stats" "$(jq_py "$q" 'd["tx"]["bytes"]')" "$(jq_py "$eth" 'd["obytes"]')"
expect_eq "rx/tx vring, enabled" \
	"$(jq_py "$q" '[d[x][k] for x in ("rx", "tx") for k in ("vring", "enabled")]')" "[1, 1, 0, 1]"
zero="drops bad_desc iotlb_hits iotlb_lookups iotlb_misses iotlb_denied backlog backlog_max"
expect_eq "rx/tx $zero (no IOMMU, no loss)" \
	"$(jq_py "$q" "sorted(set(d[x][k] for x in ('rx', 'tx') for k in '$zero'.split()))")" "[0]"
expect_eq "rx/tx miss_lat" "$(jq_py "$q" '[d["rx"]["miss_lat"], d["tx"]["miss_lat"]]')" \
	"[[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]"
qs=$(tel /iovhost/queues,0)
expect_eq "/iovhost/queues,0 keys" "$(jq_py "$qs" 'sorted(d)')" '["rx_q0", "tx_q0"]'
expect_eq "queues rx_q0 = queue,0,0 rx" "$(jq_py "$qs" 'd["rx_q0"]')" "$(jq_py "$q" 'd["rx"]')"
expect_eq "queues tx_q0 = queue,0,0 tx" "$(jq_py "$qs" 'd["tx_q0"]')" "$(jq_py "$q" 'd["tx"]')"

# ---- bad parameters
# shellcheck disable=SC2054  # commas belong to the telemetry commands
bad=(/iovhost/port,1 /iovhost/port,x /iovhost/port /iovhost/port,0x
	/iovhost/queue,0,1 /iovhost/queue,0 /iovhost/queues,99 /iovhost/queue,0,0,0)
out=$(tel "${bad[@]}" /iovhost/ports)
expect_eq "replies to ${bad[*]}" "$(head -n ${#bad[@]} <<< "$out" | sed 's/.*://' | sort -u)" "null}"
expect_eq "/iovhost/ports after bad queries" "$(tail -n 1 <<< "$out")" '{"/iovhost/ports":[0]}'

# ---- Debian's client, by file prefix
out=$(echo /iovhost/ports | dpdk-telemetry.py -f "$(_tp_prefix pmd)" 2>&1) ||
	fail "dpdk-telemetry.py failed: $out"
grep -q '"/iovhost/ports": \[0\]' <<< "$out" ||
	fail "dpdk-telemetry.py -f did not show /iovhost/ports: $out"
say "ok: dpdk-telemetry.py -f $(_tp_prefix pmd) reads /iovhost/ports"

# ---- connection-event logs (INFO, lib.iovhost.config), with the path
log_has() {
	grep -qE "$1" "${TP_LOG[pmd]}" || fail "no log line matching /$1/"
	say "ok: log: $(grep -m1 -E "$1" "${TP_LOG[pmd]}" | cut -c1-160)"
}
p=$(sed 's/[][\.*^$/]/\\&/g' <<< "$sock")
log_has "\($p\) front-end connected"
log_has "\($p\) negotiated features 0x[0-9a-f]+: .*VIRTIO_F_VERSION_1"
log_has "\($p\) negotiated protocol features 0x[0-9a-f]+: .*REPLY_ACK"
log_has "\($p\) memory table: [0-9]+ regions, [0-9]+ bytes"
log_has "\($p\) vring 0 started: split ring, [0-9]+ entries"
log_has "\($p\) vring 1 started: split ring, [0-9]+ entries"

# ---- the front-end goes away
mark=$(tp_mark pmd)
tp_run pmd 20 "port stop 1" "port close 1" > /dev/null
for _ in $(seq 50); do
	port=$(tel /iovhost/port,0)
	[ "$(jq_py "$port" 'd["state"]')" = disconnected ] && break
	sleep 0.2
done
expect_eq "state after the front-end left" "$(jq_py "$port" 'd["state"]')" disconnected
expect_eq "link after the front-end left" "$(jq_py "$port" 'd["link"]')" down
expect_eq "features after the front-end left" "$(jq_py "$port" 'd["features"]')" 0x0
expect_eq "feature_names after the front-end left" "$(jq_py "$port" 'd["feature_names"]')" "[]"
tp_expect pmd "\($p\) front-end disconnected: [a-z]" 10 "disconnect log with a reason" "$mark"
say "ok: log: $(tp_since pmd "$mark" | grep -m1 'front-end disconnected' | cut -c1-160)"
q=$(tel /iovhost/queue,0,0)
expect_eq "rx packets kept after disconnect" "$(jq_py "$q" 'd["rx"]["packets"]')" "$rx"
expect_eq "rx enabled after disconnect" "$(jq_py "$q" 'd["rx"]["enabled"]')" 0

tp_quit pmd

# ---- IOMMU and client mode, against iovhost-frontend
FE=${IOVH_BUILD_DIR:-$IOVH_SRC_DIR/build}/app/frontend/iovhost-frontend
[ -x "$FE" ] || fail "iovhost-frontend is not built at $FE"
sock2=$IOVH_WORK_DIR/fe.sock
tp_start pmd2 --vdev "net_vhost0,iface=$sock2,client=1,iommu-support=1" \
	-- --nb-cores=1 --forward-mode=io --port-topology=loop
tp_ready pmd2
tp_run pmd2 10 start > /dev/null
tel=/run/dpdk/$(_tp_prefix pmd2)/dpdk_telemetry.v2
fe_log=$IOVH_LOG_DIR/frontend.log
timeout -k 5 60 "$FE" --server --socket "$sock2" --iommu strict --seconds 4 \
	--timeout 5 --writeoff-ms 3000 > "$fe_log" 2>&1 &
fe_pid=$!
for _ in $(seq 50); do
	port=$(tel /iovhost/port,0)
	[ "$(jq_py "$port" 'd["state"]')" = running ] && break
	sleep 0.2
done
python3 - "$port" <<'EOF' || fail "/iovhost/port,0 while the IOMMU front-end runs: see above"
import json, sys
d = json.loads(sys.argv[1])["/iovhost/port"]
want = {"state": "running", "mode": "client", "iommu": "on", "link": "up"}
for k, v in want.items():
    if d[k] != v:
        sys.exit(f"{k}: expected {v}, saw {d[k]}")
if "VIRTIO_F_ACCESS_PLATFORM" not in d["feature_names"]:
    sys.exit(f"no VIRTIO_F_ACCESS_PLATFORM in {d['feature_names']}")
print(f"ok: running with the IOMMU: {d['mode']}, iommu {d['iommu']}, "
      f"features {d['features']}")
EOF
rc=0
wait $fe_pid || rc=$?
say "frontend: $(grep '^FRONTEND ' "$fe_log" | cut -c1-160)"
[ $rc != 2 ] || fail "iovhost-frontend: protocol error or time-out: $(tail -n 5 "$fe_log")"
tp_stop_fwd pmd2 > /dev/null
out=$(tel /iovhost/port,0 /iovhost/queue,0,0 /ethdev/xstats,0)
python3 - "$out" <<'EOF' || fail "IOMMU counters in telemetry: see above"
import json, sys
r = {}
for line in sys.argv[1].splitlines():
    r.update(json.loads(line))
p, q, x = r["/iovhost/port"], r["/iovhost/queue"], r["/ethdev/xstats"]
c = p["counters"]
def ok(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")
    print(f"ok: {what}")
ok(p["mode"] == "client" and p["iommu"] == "on", "client mode, IOMMU on")
ok(c["connections"] == 1, f"connections = {c['connections']}")
ok(c["iotlb_updates"] > 0 and c["misses_sent"] > 0,
   f"iotlb_updates = {c['iotlb_updates']}, misses_sent = {c['misses_sent']}")
misses = q["rx"]["iotlb_misses"] + q["tx"]["iotlb_misses"]
lat = sum(q["rx"]["miss_lat"]) + sum(q["tx"]["miss_lat"])
ok(misses > 0, f"queue IOTLB misses = {misses}")
ok(0 < lat <= misses, f"miss_lat entries = {lat} (<= misses {misses})")
ok(all(len(q[d]["miss_lat"]) == 16 for d in ("rx", "tx")), "16 buckets")
for d in ("rx", "tx"):
    xl = [v for k, v in x.items() if k.startswith(f"{d}_q0_iotlb_miss_lat_")]
    ok(xl == q[d]["miss_lat"], f"{d} miss_lat = xstats {xl}")
for t, xk in (("connections", "frontend_connections"),
              ("misses_sent", "iotlb_misses_sent"),
              ("iotlb_updates", "iotlb_updates"),
              ("iotlb_invalidates", "iotlb_invalidates"),
              ("iotlb_evictions", "iotlb_evictions"),
              ("iotlb_capacity", "iotlb_capacity"),
              ("iotlb_entries", "iotlb_entries")):
    ok(c[t] == x[xk], f"{t} = {c[t]} = xstat {xk}")
for d in ("rx", "tx"):
    for k in ("packets", "bytes", "bad_desc", "notifications", "iotlb_hits",
              "iotlb_lookups", "iotlb_misses", "iotlb_denied"):
        ok(q[d][k] == x[f"{d}_q0_{k}"],
           f"{d} {k} = {q[d][k]} = xstat {d}_q0_{k}")
    ok(q[d]["backlog_max"] == x[f"{d}_q0_iotlb_backlog_max"],
       f"{d} backlog_max = {q[d]['backlog_max']} = xstat")
    ok(q[d]["backlog"] == x[f"{d}_q0_iotlb_backlog"],
       f"{d} backlog = {q[d]['backlog']} = xstat")
ok(q["rx"]["packets"] > 0 and q["tx"]["packets"] > 0, "traffic both ways")
EOF
tp_quit pmd2
