#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
"""Query a DPDK process's telemetry socket (v2: SOCK_SEQPACKET, JSON).

    telemetry_client.py SOCKET COMMAND...

Prints each reply as one line of JSON, in order. Exit status 1 if the
socket cannot be reached or a reply is not JSON.
"""

import json
import socket
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path = sys.argv[1]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        s.connect(path)
    except OSError as e:
        sys.exit(f"cannot connect to {path}: {e}")
    # The first message describes the process and the largest reply.
    hello = json.loads(s.recv(1024).decode())
    size = int(hello.get("max_output_len", 16384))
    for cmd in sys.argv[2:]:
        s.send(cmd.encode())
        reply = s.recv(size).decode()
        try:
            json.loads(reply)
        except ValueError:
            sys.exit(f"{cmd}: reply is not JSON: {reply!r}")
        print(reply, flush=True)
    s.close()


if __name__ == "__main__":
    main()
