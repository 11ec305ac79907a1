#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
"""Minimal QMP client for the QEMU tests (standard library only).

  qmp.py SOCKET cmd COMMAND [ARGUMENTS-JSON]
      run one command, print its "return" value as JSON on one line
      (exit 1 with the error on stderr if QEMU answered with one)
  qmp.py SOCKET migrate URI [TIMEOUT [ITERATE]]
      migrate the VM to URI, poll query-migrate until it ends, print
      "status=... total_ms=... downtime_ms=... setup_ms=...
       transferred=... dirty_sync_count=... iterated_ms=..."
      (exit 1 unless the status is "completed").  With ITERATE (seconds)
      the migration gets a downtime limit of 1 ms until ITERATE seconds
      after the first pass over RAM ended (the second dirty sync), then
      QEMU's default of 300 ms back.  A guest that keeps dirtying more
      than 1 ms worth of pages keeps it iterating meanwhile: pages the
      vhost-user back-end writes then reach the destination only
      through its dirty log.
"""

import json
import socket
import sys
import time


class Qmp:
    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        end = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)
        self.buf = b""
        self.read()  # greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("QMP connection closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.read()
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise RuntimeError("%s: %s" % (name, r["error"].get("desc", r["error"])))
            # an event: skip


def migrate(q, uri, timeout, iterate):
    if iterate > 0:
        q.cmd("migrate-set-parameters", {"downtime-limit": 1})
    q.cmd("migrate", {"uri": uri})
    end = time.monotonic() + timeout
    pass_end = released = None
    while True:
        r = q.cmd("query-migrate")
        st = r.get("status", "none")
        if st in ("completed", "failed", "cancelled"):
            break
        if iterate > 0 and released is None:
            # The second dirty sync ends the first pass over RAM.
            if pass_end is None and r.get("ram", {}).get("dirty-sync-count", 0) >= 2:
                pass_end = time.monotonic()
            if pass_end is not None and time.monotonic() - pass_end >= iterate:
                q.cmd("migrate-set-parameters", {"downtime-limit": 300})
                released = time.monotonic()
        if time.monotonic() > end:
            q.cmd("migrate_cancel")
            st = "timeout"
            break
        time.sleep(0.05)
    ram = r.get("ram", {})
    print("status=%s total_ms=%s downtime_ms=%s setup_ms=%s transferred=%s dirty_sync_count=%s iterated_ms=%s%s"
          % (st, r.get("total-time", "?"), r.get("downtime", "?"),
             r.get("setup-time", "?"), ram.get("transferred", "?"),
             ram.get("dirty-sync-count", "?"),
             int((released - pass_end) * 1000) if released else 0,
             (" error=" + json.dumps(r["error-desc"])) if "error-desc" in r else ""))
    return st == "completed"


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    path, what = sys.argv[1], sys.argv[2]
    q = Qmp(path)
    try:
        if what == "cmd":
            args = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
            print(json.dumps(q.cmd(sys.argv[3], args)))
            return 0
        if what == "migrate":
            timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
            iterate = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
            return 0 if migrate(q, sys.argv[3], timeout, iterate) else 1
    except (RuntimeError, EOFError, OSError) as e:
        print("qmp.py: %s" % e, file=sys.stderr)
        return 1
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
