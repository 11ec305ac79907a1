#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
"""Write the seed corpora of the libFuzzer targets.

    app/fuzz/gen_seeds.py [OUT_DIR]

writes OUT_DIR/msg/* (fuzz_msg), OUT_DIR/split/* (fuzz_split) and
OUT_DIR/packed/* (fuzz_packed); OUT_DIR
defaults to app/fuzz/corpus next to this script. Each seed is a small,
valid session that reaches deep into the code, so that the fuzzer starts
from there instead of having to discover the protocol byte by byte. The
input formats are described at the top of fuzz_msg.c, fuzz_split.c and
fuzz_packed.c.
Seeds are deterministic: running this again rewrites the same bytes.
Files of an earlier run that this one does not write (crash inputs kept
as regression seeds, say) are left alone.
"""

import os
import struct
import sys

# ---------------------------------------------------------------- vhost-user

GET_FEATURES = 1
SET_FEATURES = 2
SET_OWNER = 3
RESET_OWNER = 4
SET_MEM_TABLE = 5
SET_LOG_BASE = 6
SET_VRING_NUM = 8
SET_VRING_ADDR = 9
SET_VRING_BASE = 10
GET_VRING_BASE = 11
SET_VRING_KICK = 12
SET_VRING_CALL = 13
SET_VRING_ERR = 14
GET_PROTOCOL_FEATURES = 15
SET_PROTOCOL_FEATURES = 16
GET_QUEUE_NUM = 17
SET_VRING_ENABLE = 18
SEND_RARP = 19
NET_SET_MTU = 20
SET_BACKEND_REQ_FD = 21
IOTLB_MSG = 22
GET_CONFIG = 24
RESET_DEVICE = 34
GET_MAX_MEM_SLOTS = 36
ADD_MEM_REG = 37
REM_MEM_REG = 38
SET_STATUS = 39
GET_STATUS = 40

VERSION = 0x1
NEED_REPLY = 1 << 3

F_MRG_RXBUF = 1 << 15
F_MQ = 1 << 22
F_NOTIFY_ON_EMPTY = 1 << 24
F_LOG_ALL = 1 << 26
F_INDIRECT = 1 << 28
F_EVENT_IDX = 1 << 29
F_PROTOCOL = 1 << 30
F_VERSION_1 = 1 << 32
F_IOMMU = 1 << 33

P_MQ, P_LOG_SHMFD, P_RARP, P_REPLY_ACK, P_NET_MTU, P_BACKEND_REQ = \
    (1 << b for b in range(6))
P_RESET_DEVICE = 1 << 13
P_MEM_SLOTS = 1 << 15
P_STATUS = 1 << 16
PROTO_ALL = (P_MQ | P_LOG_SHMFD | P_RARP | P_REPLY_ACK | P_NET_MTU |
             P_BACKEND_REQ | P_MEM_SLOTS | P_STATUS)

NOFD = 1 << 8
VRING_F_LOG = 1 << 0

# fd kinds (fuzz_msg.c make_fd): low 3 bits kind, high 5 bits memfd size
# index into memfd_size[].
MEMFD_4K = 0 | (3 << 3)
MEMFD_64K = 0 | (7 << 3)
MEMFD_1M = 0 | (8 << 3)
MEMFD_2M = 0 | (10 << 3)
EVENTFD = 1
PIPE = 2
SOCKET = 3
BADFD = 4

MIB = 1 << 20
FVA = 0x7F0000000000


def msg(req, payload=b"", fds=(), flags=VERSION, size=None):
    """One record: nfds, fd kinds, header, payload."""
    if size is None:
        size = len(payload)
    return (bytes([len(fds)]) + bytes(fds) +
            struct.pack("<III", req, flags, size) + payload)


def u64(v):
    return struct.pack("<Q", v)


def state(index, num):
    return struct.pack("<II", index, num)


def region(gpa, size, fva, off=0):
    return struct.pack("<QQQQ", gpa, size, fva, off)


def mem_table(regions):
    return struct.pack("<II", len(regions), 0) + b"".join(regions)


def vring_addr(index, desc, used, avail, log=0, flags=0):
    return struct.pack("<IIQQQQ", index, flags, desc, used, avail, log)


def ack(req, payload=b"", fds=()):
    return msg(req, payload, fds, flags=VERSION | NEED_REPLY)


def negotiate(features, proto=PROTO_ALL):
    return (msg(GET_FEATURES) + ack(SET_FEATURES, u64(features)) +
            msg(GET_PROTOCOL_FEATURES) +
            msg(SET_PROTOCOL_FEATURES, u64(proto)) + ack(SET_OWNER))


def vring(index, fva, size=256, log=False):
    """A ring of @size at @fva: descriptors, avail at +0x1000 (0x4000 for
    big rings), used at +0x2000 (+0x8000)."""
    step = 0x1000 if size <= 256 else 0x4000
    flags = VRING_F_LOG if log else 0
    return (ack(SET_VRING_NUM, state(index, size)) +
            ack(SET_VRING_BASE, state(index, 0)) +
            ack(SET_VRING_ADDR, vring_addr(index, fva, fva + 2 * step,
                                           fva + step, 0x2000, flags)) +
            ack(SET_VRING_KICK, u64(index), [EVENTFD]) +
            ack(SET_VRING_CALL, u64(index), [EVENTFD]) +
            ack(SET_VRING_ENABLE, state(index, 1)))


def msg_seeds():
    s = {}
    feat = F_VERSION_1 | F_PROTOCOL | F_MRG_RXBUF | F_EVENT_IDX | F_INDIRECT
    # A whole session on the 2-queue-pair device, ended by the front-end.
    s["setup-2qp"] = bytes([1]) + (
        negotiate(feat | F_MQ) +
        ack(SET_BACKEND_REQ_FD, b"", [SOCKET]) +
        ack(SET_MEM_TABLE, mem_table([region(0, MIB, FVA)]), [MEMFD_1M]) +
        vring(0, FVA) + vring(1, FVA + 0x10000) +
        ack(NET_SET_MTU, u64(1500)) + ack(SET_STATUS, u64(0xf)) +
        msg(GET_STATUS) + msg(GET_QUEUE_NUM) +
        msg(GET_VRING_BASE, state(0, 0)) + msg(GET_VRING_BASE, state(1, 0)) +
        ack(RESET_OWNER))
    # Memory added and removed slot by slot, rings in the second region.
    s["mem-slots"] = bytes([1]) + (
        negotiate(feat) + msg(GET_MAX_MEM_SLOTS) +
        ack(ADD_MEM_REG, u64(0) + region(0, MIB, FVA), [MEMFD_1M]) +
        ack(ADD_MEM_REG, u64(0) + region(MIB, 2 * MIB, FVA + 4 * MIB),
            [MEMFD_2M]) +
        vring(0, FVA + 4 * MIB) + vring(1, FVA + 4 * MIB + 0x10000) +
        ack(REM_MEM_REG, u64(0) + region(0, MIB, FVA)) +
        ack(REM_MEM_REG, u64(0) + region(MIB, 2 * MIB, FVA + 4 * MIB)))
    # Two regions, one with an offset into its file; dirty log on.
    s["log-two-regions"] = bytes([1]) + (
        negotiate(feat | F_LOG_ALL) +
        ack(SET_MEM_TABLE, mem_table([region(MIB, MIB, FVA + MIB, MIB),
                                      region(0, MIB, FVA)]),
            [MEMFD_2M, MEMFD_1M]) +
        msg(SET_LOG_BASE, struct.pack("<QQ", 4096, 0), [MEMFD_4K]) +
        vring(0, FVA, log=True) + vring(1, FVA + MIB + 0x10000, log=True) +
        ack(SET_FEATURES, u64(feat)) + ack(SEND_RARP, u64(0x5254001234)))
    # A legacy front-end: no protocol features, the kick starts a ring.
    s["legacy"] = bytes([0]) + (
        msg(SET_OWNER) + msg(GET_FEATURES) +
        msg(SET_FEATURES, u64(F_VERSION_1)) +
        msg(SET_MEM_TABLE, mem_table([region(0, MIB, FVA)]), [MEMFD_1M]) +
        msg(SET_VRING_NUM, state(0, 256)) +
        msg(SET_VRING_ADDR, vring_addr(0, FVA, FVA + 0x2000, FVA + 0x1000)) +
        msg(SET_VRING_KICK, u64(0), [EVENTFD]) +
        msg(SET_VRING_NUM, state(1, 256)) +
        msg(SET_VRING_ADDR, vring_addr(1, FVA + 0x10000, FVA + 0x12000,
                                       FVA + 0x11000)) +
        msg(SET_VRING_KICK, u64(1), [EVENTFD]) +
        msg(SET_VRING_CALL, u64(1 | NOFD)) +
        msg(GET_VRING_BASE, state(0, 0)))
    # Refused requests and fds of the wrong kind, then a broken header.
    s["refused"] = bytes([2]) + (
        negotiate(feat | F_MQ) +
        ack(SET_MEM_TABLE, mem_table([region(0, 2 * MIB, FVA)]), [MEMFD_1M]) +
        ack(SET_VRING_CALL, u64(0), [PIPE]) +
        ack(SET_VRING_KICK, u64(0), [SOCKET]) +
        ack(SET_VRING_ERR, u64(0), [EVENTFD]) +
        ack(SET_BACKEND_REQ_FD, b"", [EVENTFD]) +
        ack(SET_OWNER, b"", [BADFD, MEMFD_4K]) +
        ack(IOTLB_MSG, struct.pack("<QQQBB6x", 0, 4096, FVA, 3, 2)) +
        ack(RESET_DEVICE) + ack(999) + ack(GET_CONFIG) +
        msg(SET_OWNER, flags=2))
    # Largest device: a high vring index, a 32768-entry ring.
    s["big-ring"] = bytes([3]) + (
        negotiate(feat | F_MQ) +
        ack(SET_MEM_TABLE, mem_table([region(0, 2 * MIB, FVA)]), [MEMFD_2M]) +
        vring(255, FVA, size=32768) + vring(0, FVA + MIB) +
        vring(1, FVA + MIB + 0x40000) +
        ack(SET_VRING_ENABLE, state(255, 0)))
    # IOMMU device: rings and buffers by IOVA, updates, misses, an
    # invalidate that takes a ring away.
    iova = 0x100000000
    upd = lambda i, size, fva, perm: struct.pack(  # noqa: E731
        "<QQQBB6x", i, size, fva, perm, 2)
    inv = lambda i, size: struct.pack("<QQQBB6x", i, size, 0, 0, 3)  # noqa
    s["iommu"] = bytes([4]) + (
        negotiate(feat | F_MQ | F_IOMMU) +
        ack(SET_BACKEND_REQ_FD, b"", [SOCKET]) +
        ack(SET_MEM_TABLE, mem_table([region(0, 2 * MIB, FVA)]), [MEMFD_2M]) +
        ack(IOTLB_MSG, upd(iova, 0x20000, FVA, 3)) +
        ack(IOTLB_MSG, upd(iova + 0x100000, MIB, FVA + MIB, 1)) +
        vring(0, iova) + vring(1, iova + 0x10000) +
        ack(IOTLB_MSG, inv(iova + 0x10000, 0x1000)) +
        ack(IOTLB_MSG, upd(iova + 0x10000, 0x10000, FVA + 0x10000, 3)) +
        ack(IOTLB_MSG, inv(0, 1 << 63)) + ack(IOTLB_MSG, inv(1 << 63, 1 << 63)) +
        msg(GET_VRING_BASE, state(0, 0)))
    # The socket layer's limit on payload size.
    s["oversized"] = bytes([1]) + (
        negotiate(feat) + msg(SET_OWNER, size=0x10000) + msg(GET_FEATURES))
    return s


# ---------------------------------------------------------------- split ring

VRING_DESC_F_NEXT = 1
VRING_DESC_F_WRITE = 2
VRING_DESC_F_INDIRECT = 4

CFG_V1, CFG_MRG, CFG_EVENT_IDX, CFG_LOG, CFG_LOG_USED, CFG_NOTIFY_OFF, \
    CFG_NOTIFY_ON_EMPTY, CFG_CALLFD = (1 << b for b in range(8))

OP_DEQ, OP_ENQ, OP_POST, OP_POKE, OP_INVAL = range(5)
CFG2_TINY_POOL, CFG2_IOMMU = 1, 2
ACCESS_RO, ACCESS_WO, ACCESS_RW = 1, 2, 3


def layout(n):
    """Mirror of ring_layout() in fuzz_split.c."""
    avail = 16 * n
    used = (avail + 4 + 2 * n + 2 + 3) & ~3
    return avail, used, used + 4 + 8 * n + 2


class Guest:
    """Regions of a fuzz_split input and what is written into them."""

    def __init__(self, ring_size, gpas, extras):
        self.n = ring_size
        self.avail_off, self.used_off, ring_bytes = layout(ring_size)
        self.gpa = list(gpas)
        self.extra = list(extras)
        sizes = [ring_bytes + extras[0]] + [e + 1 for e in extras[1:]]
        self.mem = [bytearray(sz) for sz in sizes]
        self.buf0 = gpas[0] + ring_bytes    # first free byte of region 0
        self.avail_idx = 0
        self.iotlb = []

    def map(self, iova, region, off, pages, perm):
        """An IOTLB entry: @pages 4 KiB pages at @off of @region."""
        self.iotlb.append((iova, region, off, pages, perm))

    def write(self, gpa, data):
        for i, base in enumerate(self.gpa):
            if base <= gpa < base + len(self.mem[i]):
                off = gpa - base
                n = min(len(data), len(self.mem[i]) - off)
                self.mem[i][off:off + n] = data[:n]
                if n < len(data):
                    self.write(gpa + n, data[n:])
                return
        raise ValueError("gpa %#x not in guest memory" % gpa)

    def desc(self, idx, addr, length, flags=0, nxt=0):
        self.mem[0][16 * idx:16 * idx + 16] = struct.pack(
            "<QIHH", addr, length, flags, nxt)

    def table(self, gpa, entries):
        """An indirect table: (addr, len, flags), chained in order."""
        data = b""
        for i, (a, ln, fl) in enumerate(entries):
            last = i + 1 == len(entries)
            data += struct.pack("<QIHH", a, ln,
                                fl | (0 if last else VRING_DESC_F_NEXT),
                                0 if last else i + 1)
        self.write(gpa, data)

    def post(self, head):
        off = self.avail_off + 4 + 2 * (self.avail_idx % self.n)
        self.mem[0][off:off + 2] = struct.pack("<H", head)
        self.avail_idx += 1
        off = self.avail_off + 2
        self.mem[0][off:off + 2] = struct.pack("<H", self.avail_idx & 0xffff)

    def input(self, cfg, ops, cfg2=0, last_avail=0, last_used=0,
              log_bytes=64):
        ring_log = self.n.bit_length() - 1
        out = struct.pack("<BBBHHBBH", cfg, cfg2, ring_log, last_avail,
                          last_used, len(self.gpa) - 1, len(ops), log_bytes)
        for i in range(4):
            gpa = self.gpa[i] if i < len(self.gpa) else 0
            extra = self.extra[i] if i < len(self.extra) else 0
            out += struct.pack("<QH", gpa, extra)
        for i in range(4):
            if i < len(self.iotlb):
                iova, reg, off, pages, perm = self.iotlb[i]
                out += struct.pack("<QBHBB", iova, reg, off, pages - 1,
                                   perm - 1)
            else:
                out += struct.pack("<QBHBB", 0, 0, 0xffff, 0, 0)
        for op in ops:
            out += bytes(op)
        image = b"".join(bytes(m) for m in self.mem)
        # The harness reads zeros past the end of the input.
        return out + image.rstrip(b"\0")


def split_seeds():
    s = {}
    W = VRING_DESC_F_WRITE
    N = VRING_DESC_F_NEXT

    # TX: header and packet in two descriptors, then a one-descriptor one.
    g = Guest(8, [0x10000], [4096])
    b = g.buf0
    g.desc(0, b, 12, N, 1)
    g.desc(1, b + 64, 100)
    g.desc(2, b + 256, 12 + 60)
    g.post(0)
    g.post(2)
    g.write(b + 64, bytes(range(100)))
    s["tx-chain"] = g.input(CFG_V1 | CFG_CALLFD, [(OP_DEQ, 32, 0, 0)])

    # RX without MRG_RXBUF: four 2 KiB buffers, packets of several sizes.
    g = Guest(16, [0x100000], [4 * 2048])
    for i in range(4):
        g.desc(i, g.buf0 + 2048 * i, 2048, W)
        g.post(i)
    s["rx-simple"] = g.input(CFG_V1 | CFG_CALLFD,
                             [(OP_ENQ, 3, 8, 0), (OP_ENQ, 2, 12, 1)])

    # RX with MRG_RXBUF, EVENT_IDX and the dirty log: 512-byte buffers.
    g = Guest(32, [0x200000], [16 * 512])
    for i in range(16):
        g.desc(i, g.buf0 + 512 * i, 512, W)
        g.post(i)
    s["rx-mrg-log"] = g.input(
        CFG_V1 | CFG_MRG | CFG_EVENT_IDX | CFG_LOG | CFG_LOG_USED |
        CFG_CALLFD, [(OP_ENQ, 2, 9, 3), (OP_ENQ, 4, 3, 0x40)],
        log_bytes=512)

    # TX through an indirect table in a far region; the header sits at
    # the end of region 0 and runs into region 1, adjacent in gpa.
    r0 = 0x400000
    g = Guest(4, [r0, 0, 0x900000], [256, 1023, 1023])
    g.gpa[1] = r0 + len(g.mem[0])
    end0 = g.gpa[1]
    g.table(0x900000, [(end0 - 6, 12, 0), (end0 + 6, 200, 0),
                       (0x900100, 64, 0)])
    g.desc(0, 0x900000, 48, VRING_DESC_F_INDIRECT)
    g.post(0)
    # and the same for RX
    g.table(0x900200, [(end0 - 8, 8, W), (end0, 1000, W)])
    g.desc(1, 0x900200, 32, VRING_DESC_F_INDIRECT)
    g.post(1)
    s["indirect-cross"] = g.input(
        CFG_V1 | CFG_EVENT_IDX | CFG_CALLFD,
        [(OP_DEQ, 1, 0, 0), (OP_ENQ, 1, 5, 0)])

    # TX into the tiny mempool: a 3000-byte packet needs many segments,
    # more than there are; then bad chains (loop, WRITE, bad head).
    g = Guest(8, [0x10000], [3100])
    b = g.buf0
    g.desc(0, b, 12 + 3000)
    g.desc(1, b, 100, N, 1)           # loops on itself
    g.desc(2, b, 100, W)              # device-writable in TX
    g.desc(3, b, 12 + 200)
    for h in (3, 1, 2, 9, 0):         # 9: a head beyond the ring
        g.post(h)
    s["tx-tiny-pool-bad"] = g.input(CFG_CALLFD,
                                    [(OP_DEQ, 8, 0, 0), (OP_DEQ, 8, 0, 0)],
                                    cfg2=1)

    # A ring that wraps: device indexes near 65535, the driver posts
    # more, pokes a descriptor, and both directions run.
    g = Guest(4, [0x10000], [1024])
    b = g.buf0
    for i in range(4):
        g.desc(i, b + 256 * i, 256, W)
    g.avail_idx = 0xfffe
    for i in range(2):
        g.post(i)
    s["wrap-mixed"] = g.input(
        CFG_V1 | CFG_MRG | CFG_NOTIFY_ON_EMPTY | CFG_CALLFD,
        [(OP_ENQ, 1, 5, 0), (OP_POST, 2, 0, 0), (OP_POKE, 0x28, 0, 0x06),
         (OP_ENQ, 2, 6, 2), (OP_DEQ, 4, 0, 0)],
        last_avail=0xfffe, last_used=0xfffe)

    # IOMMU: descriptors hold IOVAs. Region 1 (64 KiB) is mapped twice,
    # read-only and writable; a TX chain, an RX chain, a chain into an
    # unmapped IOVA (a miss) and one that writes through a read-only
    # mapping; then the writable mapping is invalidated.
    g = Guest(8, [0x10000, 0x100000], [64, 0xffff])
    ro, rw = 0x4000000, 0x8000000     # below 256 MiB: OP_INVAL reaches
    g.map(ro, 1, 0, 16, ACCESS_RO)
    g.map(rw, 1, 0, 16, ACCESS_RW)
    g.desc(0, ro, 12 + 100)
    g.desc(1, rw + 0x1000, 2048, W)
    g.desc(2, 0x7000000000, 64)
    g.desc(3, ro + 0x2000, 2048, W)
    for h in (0, 2):
        g.post(h)
    s["iommu"] = g.input(
        CFG_V1 | CFG_CALLFD,
        [(OP_DEQ, 4, 0, 0), (OP_POKE, g.avail_off + 4, 0, 1),
         (OP_POKE, g.avail_off + 6, 0, 3), (OP_ENQ, 2, 9, 0),
         (OP_INVAL, rw >> 12 & 0xff, rw >> 20 & 0xff, 15), (OP_ENQ, 1, 3, 0)],
        cfg2=CFG2_IOMMU)
    return s


# ---------------------------------------------------------------- packed ring

PK_AVAIL = 1 << 7
PK_USED = 1 << 15
CFG_IN_ORDER = 1 << 6       # fuzz_packed: bit 6 is IN_ORDER


class PackedGuest(Guest):
    """Regions of a fuzz_packed input: descriptor ring, then the driver
    and device event areas (4 bytes each) at the start of region 0."""

    def __init__(self, ring_size, gpas, extras):
        self.n = ring_size
        ring_bytes = 16 * ring_size + 8
        self.gpa = list(gpas)
        self.extra = list(extras)
        sizes = [ring_bytes + extras[0]] + [e + 1 for e in extras[1:]]
        self.mem = [bytearray(sz) for sz in sizes]
        self.buf0 = gpas[0] + ring_bytes
        self.iotlb = []
        self.pos = 0
        self.wrap = 1
        self.next_id = 0

    def post(self, bufs, bid=None):
        """A chain of (addr, len, flags) at the driver's position, made
        available in its lap; returns the buffer id."""
        if bid is None:
            bid = self.next_id
            self.next_id = (self.next_id + 1) % self.n
        for i, (a, ln, fl) in enumerate(bufs):
            fl |= VRING_DESC_F_NEXT if i + 1 < len(bufs) else 0
            fl |= PK_AVAIL if self.wrap else PK_USED
            self.mem[0][16 * self.pos:16 * self.pos + 16] = struct.pack(
                "<QIHH", a, ln, bid, fl)
            self.pos += 1
            if self.pos == self.n:
                self.pos = 0
                self.wrap ^= 1
        return bid

    def driver_event(self, off_wrap, flags):
        o = 16 * self.n
        self.mem[0][o:o + 4] = struct.pack("<HH", off_wrap, flags)

    def ptable(self, gpa, entries):
        data = b""
        for a, ln, fl in entries:
            data += struct.pack("<QIHH", a, ln, 0, fl)
        self.write(gpa, data)

    def input(self, cfg, ops, cfg2=0, base=1 << 15, log_bytes=64):
        out = struct.pack("<BBHHBBH", cfg, cfg2, self.n - 1, base,
                          len(self.gpa) - 1, len(ops), log_bytes)
        for i in range(4):
            gpa = self.gpa[i] if i < len(self.gpa) else 0
            extra = self.extra[i] if i < len(self.extra) else 0
            out += struct.pack("<QH", gpa, extra)
        for i in range(4):
            if i < len(self.iotlb):
                iova, reg, off, pages, perm = self.iotlb[i]
                out += struct.pack("<QBHBB", iova, reg, off, pages - 1,
                                   perm - 1)
            else:
                out += struct.pack("<QBHBB", 0, 0, 0xffff, 0, 0)
        for op in ops:
            out += bytes(op)
        image = b"".join(bytes(m) for m in self.mem)
        return out + image.rstrip(b"\0")


def packed_seeds():
    s = {}
    W = VRING_DESC_F_WRITE
    IND = VRING_DESC_F_INDIRECT

    # TX: a two-descriptor chain, then four single ones (a batch).
    g = PackedGuest(8, [0x10000], [4096])
    b = g.buf0
    g.post([(b, 12, 0), (b + 64, 100, 0)])
    for i in range(4):
        g.post([(b + 256 + 128 * i, 12 + 60, 0)])
    g.write(b + 64, bytes(range(100)))
    s["tx-chain-batch"] = g.input(CFG_V1 | CFG_CALLFD, [(OP_DEQ, 32, 0, 0)])

    # RX, MRG_RXBUF, EVENT_IDX and the dirty log, a ring of 12 (not a
    # power of two) that laps: 512-byte buffers, posted again by op 2.
    g = PackedGuest(12, [0x200000], [12 * 512])
    for i in range(12):
        g.post([(g.buf0 + 512 * i, 512, W)])
    g.driver_event(5 | 1 << 15, 2)
    s["rx-mrg-log-lap"] = g.input(
        CFG_V1 | CFG_MRG | CFG_EVENT_IDX | CFG_LOG | CFG_LOG_USED |
        CFG_CALLFD,
        [(OP_ENQ, 4, 9, 3), (OP_POST, 12, 0, 0), (OP_ENQ, 8, 3, 0x40),
         (OP_POST, 12, 0, 0), (OP_ENQ, 8, 5, 1)], log_bytes=512)

    # Indirect tables in a far region, one per direction; IN_ORDER.
    g = PackedGuest(4, [0x400000, 0x900000], [256, 1023])
    g.ptable(0x900000, [(g.buf0, 12, 0), (g.buf0 + 16, 200, 0)])
    g.post([(0x900000, 32, IND)])
    g.ptable(0x900100, [(g.buf0 + 32, 8, W), (0x900200, 500, W)])
    g.post([(0x900100, 32, IND)])
    s["indirect-in-order"] = g.input(
        CFG_V1 | CFG_IN_ORDER | CFG_CALLFD,
        [(OP_DEQ, 1, 0, 0), (OP_ENQ, 1, 5, 0)])

    # Hostile: a WRITE buffer in TX, an id out of range, then a chain
    # with no end (every slot says NEXT).
    g = PackedGuest(8, [0x10000], [2048])
    b = g.buf0
    g.post([(b, 100, W)])
    g.post([(b, 100, 0)], bid=200)
    s["tx-bad-id"] = g.input(CFG_CALLFD, [(OP_DEQ, 8, 0, 0)], cfg2=1)
    g = PackedGuest(4, [0x10000], [2048])
    g.post([(g.buf0, 64, W)] * 4)
    g.mem[0][16 * 3 + 14] |= VRING_DESC_F_NEXT
    s["rx-endless"] = g.input(CFG_V1, [(OP_ENQ, 2, 3, 0)])

    # IOMMU: region 1 mapped read-only and writable; TX from the
    # read-only view, RX into the writable one and into the read-only
    # one (a miss), one into nothing; then the writable one goes.
    g = PackedGuest(8, [0x10000, 0x100000], [64, 0xffff])
    ro, rw = 0x4000000, 0x8000000
    g.map(ro, 1, 0, 16, ACCESS_RO)
    g.map(rw, 1, 0, 16, ACCESS_RW)
    g.post([(ro, 12 + 100, 0)])
    g.post([(0x7000000000, 64, 0)])
    s["iommu"] = g.input(
        CFG_V1 | CFG_CALLFD,
        [(OP_DEQ, 4, 0, 0), (OP_POKE, 16 + 1, 0, 0x80),
         (OP_ENQ, 2, 9, 0),
         (OP_INVAL, rw >> 12 & 0xff, rw >> 20 & 0xff, 15), (OP_ENQ, 1, 3, 0)],
        cfg2=CFG2_IOMMU)
    return s


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    total = 0
    for sub, seeds in (("msg", msg_seeds()), ("split", split_seeds()),
                       ("packed", packed_seeds())):
        d = os.path.join(out, sub)
        os.makedirs(d, exist_ok=True)
        for name, data in sorted(seeds.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            total += len(data)
    print("wrote %d bytes of seeds under %s" % (total, out))


if __name__ == "__main__":
    main()
