#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
#
# Packets for tests/test_offload.sh, and the checks of what came out.
#
#   offload_pcap.py gen BIG.pcap JUMBO.pcap EMPTY.pcap
#       BIG: 8 each of 60000-byte TCP/IPv4, 60000-byte TCP/IPv6, 1000-byte
#       UDP/IPv4 and 200-byte TCP/IPv4 payloads (frames 60014, 60014, 1042,
#       254 bytes), checksum fields garbage (0xdead); JUMBO: 50 9000-byte UDP frames.
#   offload_pcap.py check full|partial OUT.pcap
#       OUT must hold the BIG packets (any order), whole, byte for byte but
#       for the checksum fields and MAC addresses, with a valid IPv4 header checksum and an
#       L4 checksum that is complete (full) or the pseudo-header sum a
#       virtio device completes (partial). Exit status 1 on any error.
#
# Checksums follow RFC 1071 here, independently of DPDK's helpers.
import struct, sys

def csum_add(data, acc=0):
    if len(data) % 2:
        data = data + b'\0'
    for i in range(0, len(data), 2):
        acc += (data[i] << 8) | data[i + 1]
    return acc

def fold(acc):
    while acc >> 16:
        acc = (acc & 0xffff) + (acc >> 16)
    return acc

def phdr(ip, v4, proto, l4len):
    acc = csum_add(ip[12:20] if v4 else ip[8:40])
    return acc + proto + (l4len >> 16) + (l4len & 0xffff)

def build(v4, proto, payload, seq):
    body = bytes((seq * 31 + i * 7) & 0xff for i in range(payload))
    if proto == 6:
        l4 = struct.pack('!HHIIBBHHH', 1000 + seq, 80, seq * 100000, 0, 5 << 4, 0x18, 65535, 0xdead, 0) + body
    else:
        l4 = struct.pack('!HHHH', 1000 + seq, 4789 + 1, 8 + payload, 0xdead) + body
    if v4:
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(l4), seq, 0, 64, proto, 0xdead,
                         bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
        eth = b'\x02\0\0\0\0\x02' + b'\x02\0\0\0\0\x01' + b'\x08\x00'
    else:
        ip = struct.pack('!IHBB16s16s', 0x60000000, len(l4), proto, 64,
                         bytes(range(16)), bytes(range(16, 32)))
        eth = b'\x02\0\0\0\0\x02' + b'\x02\0\0\0\0\x01' + b'\x86\xdd'
    return eth + ip + l4

def write_pcap(path, pkts):
    with open(path, 'wb') as f:
        f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for p in pkts:
            f.write(struct.pack('<IIII', 0, 0, len(p), len(p)))
            f.write(p)

def read_pcap(path):
    out = []
    with open(path, 'rb') as f:
        h = f.read(24)
        magic = struct.unpack('<I', h[:4])[0]
        end = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
        while True:
            r = f.read(16)
            if len(r) < 16:
                break
            _, _, caplen, length = struct.unpack(end + 'IIII', r)
            out.append((f.read(caplen), length))
    return out

def gen_big():
    # 8 each: 60000-byte IPv4 TCP, IPv6 TCP; 1000-byte IPv4 UDP; 200-byte IPv4 TCP
    pk = []
    for i in range(8):
        pk.append(build(True, 6, 60000 - 40, i))
        pk.append(build(False, 6, 60000 - 60, i))
        pk.append(build(True, 17, 1000, i))
        pk.append(build(True, 6, 200, i))
    return pk

def parse(p):
    et = (p[12] << 8) | p[13]
    v4 = et == 0x0800
    if v4:
        ihl = (p[14] & 15) * 4
        proto = p[23]
    else:
        ihl = 40
        proto = p[20]
    return v4, 14 + ihl, proto

def l4_off_csum(proto):
    return 16 if proto == 6 else 6

def check(mode, inp, outp):
    """mode: full (checksums complete) or partial (pseudo-header sums)."""
    ins = gen_big() if inp == 'big' else None
    outs = read_pcap(outp)
    errs = []
    if len(outs) != len(ins):
        errs.append('%d packets, want %d' % (len(outs), len(ins)))
    want = {}
    for p in ins:
        want.setdefault(len(p), []).append(p)
    for n, (p, length) in enumerate(outs):
        if len(p) != length:
            errs.append('pkt %d truncated (%d of %d)' % (n, len(p), length))
            continue
        v4, l4, proto = parse(p)
        if v4 and fold(csum_add(p[14:l4])) != 0xffff:
            errs.append('pkt %d: bad IPv4 header checksum' % n)
        co = l4 + l4_off_csum(proto)
        acc = phdr(p[14:], v4, proto, len(p) - l4)
        if mode == 'full':
            ok = fold(csum_add(p[l4:], acc)) == 0xffff
        else:
            c = (~fold(csum_add(p[l4:]))) & 0xffff
            q = p[:co] + bytes([c >> 8, c & 0xff]) + p[co + 2:]
            ok = fold(csum_add(q[l4:], acc)) == 0xffff
        if not ok:
            errs.append('pkt %d (len %d, proto %d, v%d): bad %s L4 checksum' % (n, len(p), proto, 4 if v4 else 6, mode))
        # Same bytes as one input packet, apart from the checksum fields.
        def norm(x):
            v4x, l4x, px = parse(x)
            x = bytearray(x)
            x[0:12] = bytes(12)  # testpmd's csum engine rewrites the MACs
            if v4x:
                x[24:26] = b'\0\0'
            c = l4x + l4_off_csum(px)
            x[c:c + 2] = b'\0\0'
            return bytes(x)
        cands = want.get(len(p), [])
        np_ = norm(p)
        for i, c in enumerate(cands):
            if norm(c) == np_:
                del cands[i]
                break
        else:
            errs.append('pkt %d (len %d): payload matches no input packet' % (n, len(p)))
    for e in errs[:10]:
        print('  ' + e)
    print('%d packets checked, %d errors' % (len(outs), len(errs)))
    return 1 if errs else 0

if __name__ == '__main__':
    cmd = sys.argv[1]
    if cmd == 'gen':
        write_pcap(sys.argv[2], gen_big())
        write_pcap(sys.argv[3], [build(True, 17, 9000 - 42, i) for i in range(50)])
        write_pcap(sys.argv[4], [])
    elif cmd == 'check':
        sys.exit(check(sys.argv[2], 'big', sys.argv[3]))
