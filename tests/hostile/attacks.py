#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
"""Hostile front-end suite: attacks on a vhost-user back-end in testpmd.

testpmd (started by tests/test_hostile.sh) serves:
  --sock-a      the port under attack (one attacker connection at a time)
  --sock-b      a well-behaved port: a NetDev of ours stays connected to it
                for the whole run and must keep passing traffic
  --slow-socks  more ports, for the attacks that wait for the back-end's
                5 s peer time-out: those run side by side, one per port
  --sock-i      a port with iommu-support=1 (IOTLB attacks)
  --sock-c      where a client=1 port connects to (we are its server)
Attack groups (--groups): slow, proto, flood, fuzz, ring, iommu, client,
packed (packed rings: descriptors, ring state, event areas, IOMMU),
and two whose failure leaves the process unusable, for a testpmd of their
own: wedge, sigbus. --list names them all.
testpmd forwards every port back to itself (io, --port-topology=loop), so a
frame a NetDev sends on its TX ring comes back on its RX ring.

After every attack:
  - testpmd is alive;
  - port B passes traffic, and its control connection still answers;
  - testpmd's open fds and mappings are back to what they were before the
    attack (within a small slack), its mbufs in use and DPDK heap
    allocation count too (dump_mempool / dump_socket_mem).

Prints "ok NAME (time)", "FAIL NAME: why", "XFAIL NAME: why" (a known bug,
reported, not hidden) or "XPASS NAME" (a known bug that did not show),
then a summary. Exit status 1 if anything FAILed.
"""

import argparse
import fcntl
import os
import random
import re
import select
import socket
import struct
import sys
import termios
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vhu  # noqa: E402
from vhu import (Conn, Closed, Timeout, ProtocolError, GuestMem, NetDev,  # noqa: E402
		bit, u64, state, region, mem_table, mem_single, make_frame,
		HDR, VERSION, VRING_NOFD, DESC_F_NEXT, DESC_F_WRITE,
		DESC_F_INDIRECT, GPA0, UVA0, BUF)
from harness import Testpmd, Baseline, TestpmdGone  # noqa: E402
from packed import PackedNetDev  # noqa: E402

REQ_NAMES = {getattr(vhu, n): n for n in (
	'GET_FEATURES SET_FEATURES SET_OWNER RESET_OWNER SET_MEM_TABLE '
	'SET_LOG_BASE SET_LOG_FD SET_VRING_NUM SET_VRING_ADDR SET_VRING_BASE '
	'GET_VRING_BASE SET_VRING_KICK SET_VRING_CALL SET_VRING_ERR '
	'GET_PROTOCOL_FEATURES SET_PROTOCOL_FEATURES GET_QUEUE_NUM '
	'SET_VRING_ENABLE SEND_RARP NET_SET_MTU SET_BACKEND_REQ_FD IOTLB_MSG '
	'SET_VRING_ENDIAN GET_CONFIG SET_CONFIG POSTCOPY_ADVISE '
	'GET_INFLIGHT_FD SET_INFLIGHT_FD RESET_DEVICE VRING_KICK '
	'GET_MAX_MEM_SLOTS ADD_MEM_REG REM_MEM_REG SET_STATUS GET_STATUS'
	).split()}

# What the ring tests negotiate: everything the data path can be hit with.
RING_FEATURES = (bit(vhu.F_VERSION_1) | bit(vhu.F_PROTOCOL_FEATURES) |
		bit(vhu.F_MRG_RXBUF) | bit(vhu.F_EVENT_IDX) |
		bit(vhu.F_INDIRECT_DESC))
REPLY_ACK = bit(vhu.P_REPLY_ACK)
SCR = 128		# first scratch descriptor of a NetDev ring
MIB = 1 << 20


class Fail(Exception):
	pass


class XFail(Exception):
	"""A known, reported bug showed up."""


def rname(req):
	return REQ_NAMES.get(req, 'request %#x' % req)


# ---------------------------------------------------------------- registry

class Attack:
	def __init__(self, name, fn, group, xfail):
		self.name = name
		self.fn = fn
		self.group = group
		self.xfail = xfail


ATTACKS = []


def attack(group='proto', xfail=None):
	def deco(fn):
		name = fn.__name__
		if name.startswith('a_'):
			name = name[2:]
		ATTACKS.append(Attack(name, fn, group, xfail))
		return fn
	return deco


def add(name, fn, group='proto', xfail=None):
	ATTACKS.append(Attack(name, fn, group, xfail))


# ---------------------------------------------------------------- context

class Suite:
	def __init__(self, args, tp):
		self.args = args
		self.a = args.sock_a
		self.b = args.sock_b
		self.i = args.sock_i
		self.port_i = args.port_i
		self.c = args.sock_c
		self.port_a = args.port_a
		self.tp = tp
		self.res = []
		self.bdev = None
		self.base = None

	# -- resources of one attack, closed after it

	def keep(self, x):
		self.res.append(x)
		return x

	def cleanup(self):
		while self.res:
			x = self.res.pop()
			try:
				if isinstance(x, int):
					os.close(x)
				else:
					x.close()
			except OSError:
				pass

	def conn(self, path=None, timeout=2.0):
		return self.keep(Conn(path or self.a, timeout))

	def negotiated(self, protocol=REPLY_ACK, features=None, path=None):
		"""A connection past the handshake; REPLY_ACK unless told."""
		c = self.keep(vhu.connect(path or self.a))
		vhu.handshake(c, features, protocol)
		if (protocol & REPLY_ACK) and not c.acks:
			raise Fail('precondition: REPLY_ACK was not negotiated')
		return c

	def dev(self, path=None, **kw):
		return self.keep(NetDev(path or self.a, **kw))

	def ring_dev(self, rx_prepost=True, features=RING_FEATURES,
			protocol=REPLY_ACK, check=True, regions=2):
		d = self.dev(features=features, protocol=protocol,
				regions=regions, rx_prepost=rx_prepost).setup()
		if check and rx_prepost:
			r = d.loopback(4)
			if r:
				raise Fail('precondition: port A does not loop '
						'back: ' + r)
		return d

	def memfd(self, size=64 * 1024, name='iovh-hostile', sealing=False):
		fl = os.MFD_CLOEXEC | (os.MFD_ALLOW_SEALING if sealing else 0)
		fd = self.keep(os.memfd_create(name, fl))
		os.ftruncate(fd, size)
		return fd

	def eventfd(self):
		return self.keep(os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK))

	def fd_of(self, kind):
		"""An fd of some kind, for places that want another kind."""
		if kind == 'eventfd':
			return self.eventfd()
		if kind in ('pipe', 'pipe_w'):
			r, w = os.pipe()
			self.keep(r)
			self.keep(w)
			return r if kind == 'pipe' else w
		if kind == 'socket':
			a, b = socket.socketpair()
			self.keep(b)
			return self.keep(a.detach())
		if kind == 'memfd':
			return self.memfd(4096)
		if kind == 'devnull':
			return self.keep(os.open('/dev/null', os.O_RDWR | os.O_CLOEXEC))
		if kind == 'dir':
			return self.keep(os.open('/', os.O_RDONLY | os.O_DIRECTORY |
					os.O_CLOEXEC))
		if kind == 'opath':
			m = self.memfd(MIB)
			return self.keep(os.open('/proc/self/fd/%d' % m,
					os.O_PATH | os.O_CLOEXEC))
		if kind == 'rdonly':
			m = self.memfd(MIB)
			return self.keep(os.open('/proc/self/fd/%d' % m,
					os.O_RDONLY | os.O_CLOEXEC))
		if kind == 'epoll':
			ep = select.epoll()
			fd = os.dup(ep.fileno())
			ep.close()
			return self.keep(fd)
		raise ValueError(kind)

	def with_mem(self, c, size=MIB):
		"""Give c a one-region memory table: (gpa, uva, size)."""
		fd = self.memfd(size)
		expect_ack(c, vhu.SET_MEM_TABLE,
				mem_table([region(GPA0, size, UVA0, 0)]), [fd])
		return GPA0, UVA0, size

	def link(self, port):
		out = self.tp.run(['show port info %d' % port])
		m = re.findall(r'^Link status:\s*(\w+)', out, re.M)
		return m[-1] if m else '?'

	def wait_link(self, port, want, timeout=2.0):
		deadline = time.monotonic() + timeout
		while True:
			st = self.link(port)
			if st == want:
				return
			if time.monotonic() > deadline:
				raise Fail('port %d link %s, expected %s' %
						(port, st, want))
			time.sleep(0.05)


# ---------------------------------------------------------------- expectations

def alive(c, what='after the refusal'):
	"""The connection still works: GET_FEATURES is answered."""
	try:
		v = c.get_u64(vhu.GET_FEATURES)
	except Closed:
		raise Fail('%s the back-end closed the connection' % what)
	except (Timeout, ProtocolError) as e:
		raise Fail('%s GET_FEATURES got no proper answer: %s' % (what, e))
	if not v & bit(vhu.F_VERSION_1):
		raise Fail('%s GET_FEATURES answered %#x' % (what, v))


def expect_nack(c, req, payload=b'', fds=(), what=None, check_alive=True,
		**kw):
	"""Refused with a failure ack; the connection stays usable."""
	what = what or rname(req)
	try:
		r = c.ack(req, payload, fds, **kw)
	except Closed:
		raise Fail('%s: the back-end closed the connection instead of '
				'refusing with a failure ack' % what)
	except Timeout:
		raise Fail('%s: no ack within 2 s' % what)
	if r == 0:
		raise Fail('%s: accepted (ack 0), expected a refusal' % what)
	if check_alive:
		alive(c, '%s: after the refusal' % what)


def expect_ack(c, req, payload=b'', fds=(), what=None, **kw):
	what = what or rname(req)
	try:
		r = c.ack(req, payload, fds, **kw)
	except Closed:
		raise Fail('%s: the back-end closed the connection, expected '
				'success' % what)
	except Timeout:
		raise Fail('%s: no ack within 2 s' % what)
	if r != 0:
		raise Fail('%s: refused (ack %d), expected success' % (what, r))


def expect_any_ack(c, req, payload=b'', fds=(), what=None, **kw):
	"""Either answer will do, but there must be one (or a hang-up)."""
	what = what or rname(req)
	try:
		return c.ack(req, payload, fds, **kw)
	except Closed:
		return None
	except Timeout:
		raise Fail('%s: neither an ack nor a hang-up within 2 s' % what)


def expect_close(c, req=None, payload=b'', fds=(), within=2.0, what=None,
		**kw):
	"""The back-end hangs up (promptly)."""
	what = what or (rname(req) if req is not None else 'the message')
	if req is not None:
		try:
			c.send(req, payload, fds, **kw)
		except Closed:
			return
	try:
		c.wait_closed(within)
	except Timeout:
		raise Fail('%s: connection still open after %.1f s (%d bytes '
				'received meanwhile), expected a hang-up' %
				(what, within, len(c.buf)))


def expect_silence(c, timeout=0.3, what=''):
	"""Nothing arrives (a message that must not be answered)."""
	try:
		n = c.pending(timeout)
	except Closed:
		raise Fail('%s: the back-end closed the connection' % what)
	if n:
		raise Fail('%s: %d unexpected bytes from the back-end: %s' %
				(what, n, c.buf[:24].hex()))


# ======================================================================
# Framing
# ======================================================================

@attack()
def a_hdr_size_over_max(S):
	"""A header whose size exceeds the largest payload: hang-up."""
	for size in (269, 4096, 0x7fffffff, 0xffffffff):
		c = S.negotiated()
		expect_close(c, vhu.GET_FEATURES, size=size,
				what='GET_FEATURES with size %#x' % size)
		c.close()


@attack()
def a_hdr_size_over_max_with_payload(S):
	"""Oversized size field, and the bytes really sent."""
	c = S.negotiated()
	try:
		c.send(vhu.SET_FEATURES, bytes(1000))
	except Closed:
		return
	expect_close(c)


@attack()
def a_payload_shorter_than_request(S):
	"""Payloads below a request's minimum are refused."""
	c = S.negotiated()
	for req, p in ((vhu.SET_FEATURES, b''), (vhu.SET_FEATURES, bytes(4)),
			(vhu.SET_VRING_NUM, bytes(4)),
			(vhu.SET_VRING_ADDR, bytes(39)),
			(vhu.SET_VRING_KICK, bytes(7)),
			(vhu.SET_MEM_TABLE, bytes(39)),
			(vhu.IOTLB_MSG, bytes(25))):
		expect_nack(c, req, p, what='%s with %d bytes' %
				(rname(req), len(p)))


@attack()
def a_payload_longer_than_request(S):
	"""Payloads above a request's maximum are refused."""
	c = S.negotiated()
	for req, p in ((vhu.SET_FEATURES, bytes(16)),
			(vhu.SET_OWNER, bytes(8)),
			(vhu.SET_VRING_NUM, bytes(12)),
			(vhu.SET_VRING_ADDR, bytes(48)),
			(vhu.SET_VRING_BASE, bytes(9)),
			(vhu.SET_VRING_ENABLE, bytes(268)),
			(vhu.RESET_OWNER, bytes(16))):
		expect_nack(c, req, p, what='%s with %d bytes' %
				(rname(req), len(p)))


@attack()
def a_stream_desync_resync(S):
	"""Header says 0 bytes, 8 follow: they become the next header."""
	c = S.negotiated()
	# SET_FEATURES, size 0 (refused); then 8 "payload" bytes that the
	# back-end must read as the start of a header: request 0, flags 1;
	# we complete it with size 0: an unknown request, not acked.
	c.send_raw(HDR.pack(vhu.SET_FEATURES, VERSION | vhu.FLAG_NEED_REPLY, 0) +
			struct.pack('<II', 0, VERSION))
	r = c.reply_u64(vhu.SET_FEATURES)
	if r == 0:
		raise Fail('SET_FEATURES with size 0 accepted')
	c.send_raw(struct.pack('<I', 0))
	expect_silence(c, 0.2, 'unknown request 0 without NEED_REPLY')
	alive(c, 'after the resync')


@attack()
def a_version_bits(S):
	"""Version 0, 2, 3 in the flags: hang-up."""
	for flags in (0x0, 0x2, 0x3, 0xfffffff8, 0xffffffff):
		c = S.negotiated()
		expect_close(c, vhu.GET_FEATURES, flags=flags,
				what='GET_FEATURES with flags %#x' % flags)
		c.close()


@attack()
def a_reply_flag_from_front_end(S):
	"""A request carrying the REPLY flag: whatever, but no crash."""
	c = S.negotiated()
	try:
		c.send(vhu.GET_FEATURES, flags=VERSION | vhu.FLAG_REPLY)
		c.recv_msg(1.0)
	except (Closed, Timeout):
		pass


@attack()
def a_unknown_requests(S):
	"""Requests 0, 41, 255, 0x10000, 0xffffffff: refused, not fatal."""
	c = S.negotiated()
	for req in (0, 41, 42, 255, 0x10000, 0x7fffffff, 0xffffffff):
		expect_nack(c, req, what='request %#x' % req)
		expect_nack(c, req, bytes(16), what='request %#x with a '
				'payload' % req)


@attack()
def a_unknown_requests_no_reply(S):
	"""Without NEED_REPLY an unknown request gets no answer at all."""
	c = S.negotiated()
	for req in (0, 41, 0xffffffff):
		c.send(req, bytes(8))
	expect_silence(c, 0.2, 'unknown requests without NEED_REPLY')
	alive(c)


@attack()
def a_unsupported_requests(S):
	"""Known but unimplemented: refused; the ones with a reply hang up."""
	c = S.negotiated()
	# CLOSE_CRYPTO_SESSION, POSTCOPY_LISTEN, GPU_SET_SOCKET too.
	for req in (vhu.SET_VRING_ENDIAN, vhu.SET_CONFIG, vhu.VRING_KICK,
			vhu.SET_INFLIGHT_FD, 27, 29, 33):
		expect_nack(c, req, what=rname(req))
	c.close()
	# CREATE_CRYPTO_SESSION and POSTCOPY_END answer, too.
	for req in (vhu.GET_CONFIG, vhu.POSTCOPY_ADVISE, vhu.GET_INFLIGHT_FD,
			26, 30):
		c = S.negotiated()
		expect_close(c, req, what=rname(req))
		c.close()


@attack()
def a_need_reply_on_get(S):
	"""NEED_REPLY on a GET_*: one answer (the explicit one), not two."""
	c = S.negotiated()
	v = c.get_u64(vhu.GET_FEATURES, need_reply=True)
	if not v & bit(vhu.F_VERSION_1):
		raise Fail('GET_FEATURES answered %#x' % v)
	p = c.get_u64(vhu.GET_PROTOCOL_FEATURES, need_reply=True)
	if not p & REPLY_ACK:
		raise Fail('GET_PROTOCOL_FEATURES answered %#x' % p)
	expect_silence(c, 0.2, 'after two GETs with NEED_REPLY')


@attack()
def a_need_reply_without_reply_ack(S):
	"""NEED_REPLY before REPLY_ACK is negotiated: no ack may be sent."""
	c = S.negotiated(protocol=0)
	c.send(vhu.SET_OWNER, need_reply=True)
	c.send(vhu.SET_FEATURES, u64(1 << 63), need_reply=True)
	c.send(41, need_reply=True)
	expect_silence(c, 0.3, 'NEED_REPLY without REPLY_ACK')
	alive(c, 'then')


# ======================================================================
# File descriptors
# ======================================================================

@attack()
def a_fds_nine(S):
	"""9 fds on one message (more than any message may carry)."""
	c = S.negotiated()
	fds = [S.eventfd() for _ in range(9)]
	expect_close(c, vhu.SET_FEATURES, u64(0), fds, what='9 fds')


@attack()
def a_fds_253(S):
	"""SCM_MAX_FD (253) fds on one message."""
	c = S.negotiated()
	fd = S.eventfd()
	expect_close(c, vhu.SET_FEATURES, u64(0), [fd] * 253, what='253 fds')


@attack()
def a_fds_split_over_pieces(S):
	"""5 fds with the header, 5 with the payload: 10 for one message."""
	c = S.negotiated()
	h = HDR.pack(vhu.SET_MEM_TABLE, VERSION, 40)
	c.send_raw(h, [S.eventfd() for _ in range(5)])
	time.sleep(0.05)
	try:
		c.send_raw(mem_table([region(GPA0, 4096, UVA0, 0)]),
				[S.eventfd() for _ in range(5)])
	except Closed:
		return
	expect_close(c, what='10 fds over two pieces')


@attack()
def a_fds_on_get(S):
	"""An fd on GET_FEATURES (takes none, answers): hang-up."""
	c = S.negotiated()
	expect_close(c, vhu.GET_FEATURES, b'', [S.eventfd()])


@attack()
def a_fds_on_fdless_set(S):
	"""fds on SET_FEATURES / SET_OWNER / SET_VRING_NUM: refused."""
	c = S.negotiated()
	expect_nack(c, vhu.SET_FEATURES, u64(bit(vhu.F_VERSION_1)),
			[S.eventfd()], what='SET_FEATURES with 1 fd')
	expect_nack(c, vhu.SET_OWNER, b'', [S.eventfd() for _ in range(8)],
			what='SET_OWNER with 8 fds')
	expect_nack(c, vhu.SET_VRING_NUM, state(0, 256),
			[S.memfd(4096), S.fd_of('pipe')],
			what='SET_VRING_NUM with 2 fds')


@attack()
def a_fds_then_close_mid_message(S):
	"""Half a message with fds attached, then the front-end goes away."""
	for k in range(5):
		c = S.negotiated()
		c.send_raw(HDR.pack(vhu.SET_MEM_TABLE, VERSION, 8 + 32 * 8)[:7 + k],
				[S.memfd(MIB) for _ in range(8)])
		c.close()
		time.sleep(0.05)


# ======================================================================
# SET_MEM_TABLE
# ======================================================================

def memtable_nack(S, regions, fds, nregions=None, what=None):
	c = S.negotiated()
	expect_nack(c, vhu.SET_MEM_TABLE, mem_table(regions, nregions), fds,
			what=what)
	# The refused table must not be half installed: nothing mapped.
	nm = S.tp.nguest_maps()
	if nm > S.base.gmaps:
		raise Fail('%s: refused, but testpmd has %d guest memory '
				'mappings (baseline %d)' % (what, nm, S.base.gmaps))
	c.close()


@attack()
def a_memtable_nregions(S):
	"""nregions 0, 9, 0xffffffff, and more than the payload holds."""
	fd = S.memfd(MIB)
	r1 = region(GPA0, MIB, UVA0, 0)
	memtable_nack(S, [r1], [fd], 0, 'nregions 0')
	r8 = [region(GPA0 + k * MIB, 4096, UVA0 + k * MIB, 0) for k in range(8)]
	memtable_nack(S, r8, [S.memfd(4096) for _ in range(8)], 9,
			'nregions 9')
	memtable_nack(S, [r1], [fd], 0xffffffff, 'nregions 0xffffffff')
	memtable_nack(S, [r1], [fd, S.memfd(MIB), S.memfd(MIB), S.memfd(MIB)],
			4, 'nregions 4, one region in the payload')


@attack()
def a_memtable_fd_count(S):
	"""fd count differs from nregions."""
	r = [region(GPA0, 4096, UVA0, 0), region(GPA0 + MIB, 4096,
			UVA0 + MIB, 0)]
	memtable_nack(S, r, [S.memfd(4096)], what='2 regions, 1 fd')
	memtable_nack(S, r[:1], [S.memfd(4096), S.memfd(4096)],
			what='1 region, 2 fds')
	memtable_nack(S, r[:1], [], what='1 region, no fd')


@attack()
def a_memtable_zero_and_wrapping(S):
	"""Zero size; gpa, uva or offset + size wrapping around 2^64."""
	M = 0xffffffffffffffff
	cases = (
		('size 0', region(GPA0, 0, UVA0, 0)),
		('gpa wraps', region(M - 0xfff, 0x2000, UVA0, 0)),
		('uva wraps', region(GPA0, 0x2000, M - 0xfff, 0)),
		('offset wraps', region(GPA0, 0x2000, UVA0, M - 0xfff)),
		('size 2^64-1', region(0, M, UVA0, 0)),
		('size 2^63, gpa 2^63', region(1 << 63, 1 << 63, UVA0, 0)),
	)
	for what, r in cases:
		memtable_nack(S, [r], [S.memfd(MIB)], what=what)


@attack()
def a_memtable_overlap(S):
	"""Two regions overlapping in guest-physical or front-end space."""
	a = region(GPA0, MIB, UVA0, 0)
	memtable_nack(S, [a, region(GPA0 + MIB - 4096, MIB, UVA0 + 8 * MIB, 0)],
			[S.memfd(MIB), S.memfd(MIB)], what='gpa overlap')
	memtable_nack(S, [a, region(GPA0 + 8 * MIB, MIB, UVA0 + 4096, 0)],
			[S.memfd(MIB), S.memfd(MIB)], what='uva overlap')
	memtable_nack(S, [a, a], [S.memfd(MIB), S.memfd(MIB)],
			what='same region twice')
	memtable_nack(S, [region(GPA0, 8 * MIB, UVA0, 0),
			region(GPA0 + MIB, 4096, UVA0 + 16 * MIB, 0)],
			[S.memfd(8 * MIB), S.memfd(4096)],
			what='region inside another')


@attack()
def a_memtable_beyond_file(S):
	"""Region larger than its file; mmap_offset at or past its end."""
	memtable_nack(S, [region(GPA0, 2 * MIB, UVA0, 0)], [S.memfd(MIB)],
			what='region 2 MiB, file 1 MiB')
	memtable_nack(S, [region(GPA0, MIB, UVA0, 4096)], [S.memfd(MIB)],
			what='offset 4 KiB + 1 MiB, file 1 MiB')
	memtable_nack(S, [region(GPA0, 4096, UVA0, 1 << 40)], [S.memfd(MIB)],
			what='offset 1 TiB')
	memtable_nack(S, [region(GPA0, 1 << 62, UVA0, 0)], [S.memfd(4096)],
			what='size 2^62, file 4 KiB')
	memtable_nack(S, [region(GPA0, 4096, UVA0, 0)], [S.memfd(0)],
			what='empty file')


@attack()
def a_memtable_exact_fit(S):
	"""Positive control: a region that ends exactly at the file's end."""
	c = S.negotiated()
	expect_ack(c, vhu.SET_MEM_TABLE,
			mem_table([region(GPA0, MIB - 4096, UVA0, 4096)]),
			[S.memfd(MIB)])


@attack()
def a_memtable_non_memfd(S):
	"""Region fds that are not regular files, or cannot be mapped."""
	for kind in ('eventfd', 'pipe', 'socket', 'devnull', 'dir', 'epoll',
			'opath', 'rdonly'):
		memtable_nack(S, [region(GPA0, 4096, UVA0, 0)], [S.fd_of(kind)],
				what='region fd: %s' % kind)


@attack()
def a_memtable_sealed(S):
	"""A write-sealed memfd cannot be mapped shared+writable: refused;
	a shrink-sealed one is fine."""
	fd = S.memfd(MIB, sealing=True)
	fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE)
	memtable_nack(S, [region(GPA0, MIB, UVA0, 0)], [fd],
			what='F_SEAL_WRITE memfd')
	fd = S.memfd(MIB, sealing=True)
	fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK |
			fcntl.F_SEAL_GROW)
	c = S.negotiated()
	expect_ack(c, vhu.SET_MEM_TABLE, mem_table([region(GPA0, MIB, UVA0,
			0)]), [fd], what='F_SEAL_SHRINK memfd')


@attack()
def a_memtable_map_fails_midway(S):
	"""Region 0 maps, region 1 cannot (an O_PATH fd): refused, and the
	mapping of region 0 is undone at once."""
	memtable_nack(S, [region(GPA0, MIB, UVA0, 0),
			region(GPA0 + 8 * MIB, MIB, UVA0 + 8 * MIB, 0),
			region(GPA0 + 16 * MIB, MIB, UVA0 + 16 * MIB, 0)],
			[S.memfd(MIB), S.memfd(MIB), S.fd_of('opath')],
			what='third region unmappable')


def rss_shmem_kib(pid):
	with open('/proc/%d/status' % pid) as f:
		for ln in f:
			if ln.startswith('RssShmem:'):
				return int(ln.split()[1])
	return 0


@attack()
def a_memtable_sparse_region_faulted_in(S):
	"""A sparse 256 MiB memfd as guest memory: the back-end must not
	allocate it (nor stall its control thread) just for mapping it.
	(Bounded at 256 MiB on purpose: with terabytes this exhausts the
	host's memory.)"""
	size = 256 * MIB
	c = S.negotiated()
	fd = S.memfd(size)
	before = rss_shmem_kib(S.tp.pid)
	t0 = time.monotonic()
	r = expect_any_ack(c, vhu.SET_MEM_TABLE, mem_table([region(GPA0, size,
			UVA0, 0)]), [fd])
	el = time.monotonic() - t0
	grew = rss_shmem_kib(S.tp.pid) - before
	if r is None:
		raise Fail('hang-up instead of an answer')
	if grew * 1024 > size // 2:
		raise XFail('mapping a sparse 256 MiB region made testpmd '
			'RssShmem grow by %d MiB and took %.2f s: mmap() of a '
			'region populates it under mlockall(MCL_FUTURE) '
			'(lib/vhost/mem.c iovh_mem_region_map; also SET_LOG_BASE)'
			% (grew // 1024, el))


@attack()
def a_memtable_eight_regions(S):
	"""Positive control: 8 regions, all mapped, all unmapped at the end."""
	c = S.negotiated()
	regs = [region(GPA0 + k * MIB, MIB, UVA0 + k * MIB, 0) for k in range(8)]
	expect_ack(c, vhu.SET_MEM_TABLE, mem_table(regs),
			[S.memfd(MIB) for _ in range(8)])
	nm = S.tp.nguest_maps()
	if nm < S.base.gmaps + 8:
		raise Fail('8 regions accepted but only %d new mappings' %
				(nm - S.base.gmaps))


@attack()
def a_memtable_replace_churn(S):
	"""200 memory tables in a row: each replaces (and unmaps) the last."""
	c = S.negotiated()
	for k in range(200):
		fd = os.memfd_create('churn', os.MFD_CLOEXEC)
		os.ftruncate(fd, MIB)
		try:
			expect_ack(c, vhu.SET_MEM_TABLE,
					mem_table([region(GPA0, MIB, UVA0, 0)]), [fd])
		finally:
			os.close(fd)
	# One region is mapped now: the 199 before it are gone.
	nm, nf = S.tp.nguest_maps(), S.tp.nfds()
	if nm > S.base.gmaps + 1 or nf > S.base.fds + 3:
		raise Fail('after 200 replacements, connection still open: %d '
				'guest memory mappings, %d fds (baseline %d, %d)' %
				(nm, nf, S.base.gmaps, S.base.fds))


# ======================================================================
# ADD_MEM_REG / REM_MEM_REG
# ======================================================================

SLOTS = REPLY_ACK | bit(vhu.P_CONFIGURE_MEM_SLOTS)


@attack()
def a_mem_slots_beyond_max(S):
	"""ADD_MEM_REG 33 times: the 33rd is refused; all unmapped after."""
	c = S.negotiated(SLOTS)
	n = c.get_u64(vhu.GET_MAX_MEM_SLOTS)
	if n != 32:
		raise Fail('GET_MAX_MEM_SLOTS answered %d, expected 32' % n)
	for k in range(n):
		fd = os.memfd_create('slot', os.MFD_CLOEXEC)
		os.ftruncate(fd, 4096)
		try:
			expect_ack(c, vhu.ADD_MEM_REG, mem_single(region(
				GPA0 + k * MIB, 4096, UVA0 + k * MIB, 0)), [fd],
				what='ADD_MEM_REG #%d' % (k + 1))
		finally:
			os.close(fd)
	if S.tp.nguest_maps() < S.base.gmaps + n:
		raise Fail('%d regions added, only %d new mappings' %
				(n, S.tp.nguest_maps() - S.base.gmaps))
	expect_nack(c, vhu.ADD_MEM_REG, mem_single(region(GPA0 + 100 * MIB,
			4096, UVA0 + 100 * MIB, 0)), [S.memfd(4096)],
			what='ADD_MEM_REG #%d' % (n + 1))


@attack()
def a_mem_slots_bad_regions(S):
	"""ADD_MEM_REG: overlap, zero size, beyond file, fd count, fd kind."""
	c = S.negotiated(SLOTS)
	expect_ack(c, vhu.ADD_MEM_REG, mem_single(region(GPA0, MIB, UVA0, 0)),
			[S.memfd(MIB)])
	bad = (
		('overlap', region(GPA0 + 4096, 4096, UVA0 + 64 * MIB, 0),
			[S.memfd(4096)]),
		('uva overlap', region(GPA0 + 64 * MIB, 4096, UVA0, 0),
			[S.memfd(4096)]),
		('size 0', region(GPA0 + 8 * MIB, 0, UVA0 + 8 * MIB, 0),
			[S.memfd(4096)]),
		('beyond file', region(GPA0 + 8 * MIB, MIB, UVA0 + 8 * MIB, 0),
			[S.memfd(4096)]),
		('no fd', region(GPA0 + 8 * MIB, 4096, UVA0 + 8 * MIB, 0), []),
		('pipe', region(GPA0 + 8 * MIB, 4096, UVA0 + 8 * MIB, 0),
			[S.fd_of('pipe')]),
		('dir', region(GPA0 + 8 * MIB, 4096, UVA0 + 8 * MIB, 0),
			[S.fd_of('dir')]),
	)
	for what, r, fds in bad:
		expect_nack(c, vhu.ADD_MEM_REG, mem_single(r), fds,
				what='ADD_MEM_REG ' + what)
	# Two fds: over the message's limit of one.
	expect_nack(c, vhu.ADD_MEM_REG, mem_single(region(GPA0 + 8 * MIB,
			4096, UVA0 + 8 * MIB, 0)), [S.memfd(4096), S.memfd(4096)],
			what='ADD_MEM_REG with 2 fds')


@attack()
def a_mem_slots_remove_unknown(S):
	"""REM_MEM_REG of regions that are not there."""
	c = S.negotiated(SLOTS)
	expect_nack(c, vhu.REM_MEM_REG, mem_single(region(GPA0, MIB, UVA0, 0)),
			what='REM_MEM_REG without any memory')
	expect_ack(c, vhu.ADD_MEM_REG, mem_single(region(GPA0, MIB, UVA0, 0)),
			[S.memfd(MIB)])
	for what, r in (('other gpa', region(GPA0 + MIB, MIB, UVA0, 0)),
			('other size', region(GPA0, 4096, UVA0, 0)),
			('other uva', region(GPA0, MIB, UVA0 + MIB, 0)),
			('all ones', region(~0, ~0, ~0, ~0))):
		expect_nack(c, vhu.REM_MEM_REG, mem_single(r),
				what='REM_MEM_REG ' + what)
	expect_ack(c, vhu.REM_MEM_REG, mem_single(region(GPA0, MIB, UVA0, 0)),
			[S.memfd(4096)], what='REM_MEM_REG of the region (with an fd)')
	expect_nack(c, vhu.REM_MEM_REG, mem_single(region(GPA0, MIB, UVA0, 0)),
			what='REM_MEM_REG of it again')


@attack()
def a_mem_slots_churn(S):
	"""100 add/remove pairs: nothing accumulates."""
	c = S.negotiated(SLOTS)
	r = mem_single(region(GPA0, MIB, UVA0, 0))
	for _ in range(100):
		fd = os.memfd_create('slot', os.MFD_CLOEXEC)
		os.ftruncate(fd, MIB)
		try:
			expect_ack(c, vhu.ADD_MEM_REG, r, [fd])
		finally:
			os.close(fd)
		expect_ack(c, vhu.REM_MEM_REG, r)
	nm, nf = S.tp.nguest_maps(), S.tp.nfds()
	if nm > S.base.gmaps + 2 or nf > S.base.fds + 2:
		raise Fail('after 100 add/remove: %d guest memory mappings, '
				'%d fds (baseline %d, %d)' % (nm, nf, S.base.gmaps,
				S.base.fds))


@attack()
def a_mem_slots_remove_under_running_rings(S):
	"""REM_MEM_REG of the region holding the rings of a running device:
	the device stops, the region is unmapped at once."""
	d = S.ring_dev(protocol=SLOTS, regions=1)
	S.wait_link(S.port_a, 'up')
	nm = S.tp.nguest_maps()
	expect_ack(d.conn, vhu.REM_MEM_REG, mem_single(d.m.region()))
	S.wait_link(S.port_a, 'down')
	if S.tp.nguest_maps() >= nm:
		raise Fail('region removed but still mapped (%d guest memory '
				'mappings, %d before)' % (S.tp.nguest_maps(), nm))
	d.send_frame(make_frame(b'x' * 8, 0, 64))
	alive(d.conn, 'after the removal')


# ======================================================================
# Virtqueue parameters
# ======================================================================

@attack()
def a_vring_num_bad(S):
	"""SET_VRING_NUM 0, 3, 65536, 0xffffffff, 32769: refused."""
	c = S.negotiated()
	for n in (0, 3, 255, 32769, 65535, 65536, 0xffffffff):
		expect_nack(c, vhu.SET_VRING_NUM, state(0, n),
				what='SET_VRING_NUM %#x' % n)
	for n in (1, 32768, 256):
		expect_ack(c, vhu.SET_VRING_NUM, state(0, n),
				what='SET_VRING_NUM %d' % n)


@attack()
def a_vring_index_bad(S):
	"""vring index 2 (one queue pair), 255, 256, 0xffffffff."""
	c = S.negotiated()
	S.with_mem(c)
	for idx in (2, 3, 255, 256, 0x1ff, 0xffff, 0xffffffff):
		for req, p in ((vhu.SET_VRING_NUM, state(idx, 256)),
				(vhu.SET_VRING_BASE, state(idx, 0)),
				(vhu.SET_VRING_ENABLE, state(idx, 1)),
				(vhu.SET_VRING_ADDR, struct.pack('<IIQQQQ', idx, 0,
					UVA0, UVA0 + 8192, UVA0 + 4096, 0))):
			expect_nack(c, req, p, what='%s index %#x' %
					(rname(req), idx))


@attack()
def a_get_vring_base_bad_index(S):
	"""GET_VRING_BASE of a ring that does not exist: hang-up."""
	for idx in (2, 255, 0xffffffff):
		c = S.negotiated()
		expect_close(c, vhu.GET_VRING_BASE, state(idx, 0),
				what='GET_VRING_BASE index %#x' % idx)
		c.close()


def vring_addr(index=0, flags=0, desc=UVA0, avail=UVA0 + 0x4000,
		used=UVA0 + 0x8000, log=0):
	M = 0xffffffffffffffff
	return struct.pack('<IIQQQQ', index, flags, desc & M, used & M,
			avail & M, log & M)


@attack()
def a_vring_addr_bad(S):
	"""Ring addresses outside memory, misaligned, wrapping, bad flags."""
	c = S.negotiated()
	S.with_mem(c, MIB)
	expect_ack(c, vhu.SET_VRING_NUM, state(0, 256))
	end = UVA0 + MIB
	cases = (
		('desc outside memory', vring_addr(desc=UVA0 + 2 * MIB)),
		('avail outside memory', vring_addr(avail=0x1000)),
		('used outside memory', vring_addr(used=0)),
		('desc ring past the end', vring_addr(desc=end - 16 * 128)),
		('used ring 2 bytes short', vring_addr(used=end - 2052)),
		('avail ring 2 bytes short', vring_addr(avail=end - 516)),
		('desc misaligned', vring_addr(desc=UVA0 + 8)),
		('avail misaligned', vring_addr(avail=UVA0 + 0x4001)),
		('used misaligned', vring_addr(used=UVA0 + 0x8002)),
		('desc wraps', vring_addr(desc=0xfffffffffffff000)),
		('unknown flag 1', vring_addr(flags=2)),
		('unknown flag 31', vring_addr(flags=1 << 31)),
	)
	for what, p in cases:
		expect_nack(c, vhu.SET_VRING_ADDR, p, what='SET_VRING_ADDR ' + what)
	expect_ack(c, vhu.SET_VRING_ADDR, vring_addr(used=end - 2056,
			avail=end - 2056 - 528), what='SET_VRING_ADDR rings '
			'ending exactly at the end of memory')


@attack()
def a_vring_addr_spanning_regions(S):
	"""Rings across two regions adjacent in front-end space: refused
	(a ring must be contiguous in one mapping)."""
	c = S.negotiated()
	expect_ack(c, vhu.SET_MEM_TABLE, mem_table([
		region(GPA0, MIB, UVA0, 0),
		region(GPA0 + MIB, MIB, UVA0 + MIB, 0)]),
		[S.memfd(MIB), S.memfd(MIB)])
	expect_ack(c, vhu.SET_VRING_NUM, state(1, 256))
	b = UVA0 + MIB
	for what, p in (('desc', vring_addr(1, desc=b - 2048)),
			('avail', vring_addr(1, avail=b - 256)),
			('used', vring_addr(1, used=b - 1024))):
		expect_nack(c, vhu.SET_VRING_ADDR, p, what='%s ring across the '
				'region boundary' % what)


@attack()
def a_vring_base_bad(S):
	"""SET_VRING_BASE 0x10000 and beyond; SET_VRING_ENABLE 2."""
	c = S.negotiated()
	for v in (0x10000, 0x10001, 0x7fffffff, 0xffffffff):
		expect_nack(c, vhu.SET_VRING_BASE, state(0, v),
				what='SET_VRING_BASE %#x' % v)
	expect_ack(c, vhu.SET_VRING_BASE, state(0, 0xffff))
	for v in (2, 0x100, 0xffffffff):
		expect_nack(c, vhu.SET_VRING_ENABLE, state(0, v),
				what='SET_VRING_ENABLE %#x' % v)


# ======================================================================
# KICK / CALL / ERR
# ======================================================================

def vring_fd_kinds(S, req):
	c = S.negotiated()
	for kind in ('pipe', 'pipe_w', 'socket', 'memfd', 'devnull', 'dir',
			'epoll', 'opath'):
		expect_nack(c, req, u64(0), [S.fd_of(kind)],
				what='%s with a %s' % (rname(req), kind))
	expect_ack(c, req, u64(0), [S.eventfd()],
			what='%s with an eventfd' % rname(req))


for _r in ('KICK', 'CALL', 'ERR'):
	add('vring_%s_not_eventfd' % _r.lower(),
		(lambda req: lambda S: vring_fd_kinds(S, req))(
			getattr(vhu, 'SET_VRING_' + _r)))


@attack()
def a_vring_fd_flags(S):
	"""No-fd bit with an fd, no fd without the bit, reserved bits,
	out-of-range index, two fds."""
	c = S.negotiated()
	for req in (vhu.SET_VRING_KICK, vhu.SET_VRING_CALL, vhu.SET_VRING_ERR):
		n = rname(req)
		expect_nack(c, req, u64(VRING_NOFD), [S.eventfd()],
				what='%s: no-fd bit and an fd' % n)
		expect_nack(c, req, u64(0), [], what='%s: no fd, no bit' % n)
		for v in (1 << 9, 1 << 31, 1 << 32, 1 << 63, 0xffffffffffffffff):
			expect_nack(c, req, u64(v), [S.eventfd()],
					what='%s: value %#x' % (n, v))
		for v in (2, 0xff, 0x1ff):
			expect_nack(c, req, u64(v), [S.eventfd()] if v < 0x100
					else [], what='%s: index %#x' % (n, v))
		expect_nack(c, req, u64(0), [S.eventfd(), S.eventfd()],
				what='%s: two fds' % n)
		expect_ack(c, req, u64(VRING_NOFD), [],
				what='%s: no-fd bit alone' % n)


@attack()
def a_vring_fd_churn(S):
	"""300 KICK/CALL/ERR fds, each replacing the last: none accumulate."""
	c = S.negotiated()
	for k in range(100):
		for req in (vhu.SET_VRING_KICK, vhu.SET_VRING_CALL,
				vhu.SET_VRING_ERR):
			fd = os.eventfd(0, os.EFD_CLOEXEC)
			try:
				expect_ack(c, req, u64(k & 1), [fd])
			finally:
				os.close(fd)
	nf = S.tp.nfds()
	if nf > S.base.fds + 1 + 6:
		raise Fail('after 300 replacements: %d fds (baseline %d + '
				'connection + 6 ring fds)' % (nf, S.base.fds))


# ======================================================================
# Dirty log
# ======================================================================

LOGP = REPLY_ACK | bit(vhu.P_LOG_SHMFD)


@attack()
def a_log_base_not_negotiated(S):
	"""SET_LOG_BASE without LOG_SHMFD (it answers): hang-up."""
	c = S.negotiated()
	expect_close(c, vhu.SET_LOG_BASE, vhu.LOG.pack(4096, 0), [S.memfd(4096)])


@attack()
def a_log_base_bad(S):
	"""SET_LOG_BASE: file too small, size 0, wrapping or huge offset,
	not a file, no fd, two fds. Each one ends the session."""
	M = 0xffffffffffffffff
	cases = (
		('file too small', vhu.LOG.pack(8192, 0), lambda: [S.memfd(4096)]),
		('size 0', vhu.LOG.pack(0, 0), lambda: [S.memfd(4096)]),
		('offset wraps', vhu.LOG.pack(0x20000, M - 0xffff),
			lambda: [S.memfd(4096)]),
		('offset past the file', vhu.LOG.pack(4096, 1 << 30),
			lambda: [S.memfd(4096)]),
		('size 2^64-1', vhu.LOG.pack(M, 0), lambda: [S.memfd(4096)]),
		('eventfd', vhu.LOG.pack(4096, 0), lambda: [S.eventfd()]),
		('directory', vhu.LOG.pack(4096, 0), lambda: [S.fd_of('dir')]),
		('read-only file', vhu.LOG.pack(4096, 0),
			lambda: [S.fd_of('rdonly')]),
		('no fd', vhu.LOG.pack(4096, 0), lambda: []),
		('two fds', vhu.LOG.pack(4096, 0),
			lambda: [S.memfd(4096), S.memfd(4096)]),
	)
	for what, p, fds in cases:
		c = S.negotiated(LOGP)
		expect_close(c, vhu.SET_LOG_BASE, p, fds(),
				what='SET_LOG_BASE ' + what)
		c.close()
		if S.tp.nguest_maps() > S.base.gmaps:
			raise Fail('SET_LOG_BASE %s: refused but a mapping '
					'remains' % what)


@attack()
def a_log_base_replace(S):
	"""Positive control: 50 valid logs in a row, each answered, each
	replacing (unmapping) the previous one."""
	c = S.negotiated(LOGP)
	for k in range(50):
		fd = os.memfd_create('log', os.MFD_CLOEXEC)
		os.ftruncate(fd, 8192)
		try:
			c.send(vhu.SET_LOG_BASE, vhu.LOG.pack(4096, 4096), [fd])
			p = c.reply(vhu.SET_LOG_BASE)
		finally:
			os.close(fd)
		if p not in (b'', u64(0)):
			raise Fail('SET_LOG_BASE answered %s' % p.hex())
	# The last log is mapped, none before it.
	if S.tp.nguest_maps() > S.base.gmaps + 1:
		raise Fail('50 logs: %d guest memory mappings (baseline %d)' %
				(S.tp.nguest_maps(), S.base.gmaps))


@attack()
def a_log_fd(S):
	"""SET_LOG_FD with an eventfd, a pipe, nothing: no fd may stay."""
	c = S.negotiated()
	for fds in ([S.eventfd()], [S.fd_of('pipe')], []):
		expect_any_ack(c, vhu.SET_LOG_FD, b'', fds)
	alive(c)


# ======================================================================
# Back-end channel
# ======================================================================

BACKEND = REPLY_ACK | bit(vhu.P_BACKEND_REQ)


@attack()
def a_backend_fd_not_socket(S):
	"""SET_BACKEND_REQ_FD with pipes, files, eventfds, nothing."""
	c = S.negotiated(BACKEND)
	for kind in ('pipe', 'memfd', 'eventfd', 'devnull', 'dir', 'opath'):
		expect_nack(c, vhu.SET_BACKEND_REQ_FD, b'', [S.fd_of(kind)],
				what='SET_BACKEND_REQ_FD with a %s' % kind)
	expect_nack(c, vhu.SET_BACKEND_REQ_FD, b'', [],
			what='SET_BACKEND_REQ_FD without an fd')
	expect_nack(c, vhu.SET_BACKEND_REQ_FD, b'',
			[S.fd_of('socket'), S.fd_of('socket')],
			what='SET_BACKEND_REQ_FD with two fds')


@attack()
def a_backend_fd_churn(S):
	"""50 back-end channels, each replacing the last; then the last
	one's peer hangs up."""
	c = S.negotiated(BACKEND)
	peer = None
	for _ in range(50):
		a, b = socket.socketpair()
		try:
			expect_ack(c, vhu.SET_BACKEND_REQ_FD, b'', [a.fileno()])
		finally:
			a.close()
		if peer is not None:
			peer.close()
		peer = b
	nf = S.tp.nfds()
	if nf > S.base.fds + 3:
		raise Fail('after 50 channels: %d fds (baseline %d)' %
				(nf, S.base.fds))
	peer.sendall(b'\xff' * 100)	# junk the back-end must discard
	time.sleep(0.05)
	peer.close()
	alive(c, 'after the channel peer hung up:')


@attack()
def a_backend_fd_odd_sockets(S):
	"""A listening socket and a datagram socket as the back-end
	channel."""
	c = S.negotiated(BACKEND)
	ls = S.keep(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
	addr = '\0iovh-hostile-%d' % os.getpid()
	ls.bind(addr)
	ls.listen(1)
	expect_any_ack(c, vhu.SET_BACKEND_REQ_FD, b'', [ls.fileno()],
			what='listening socket')
	x = S.keep(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
	try:
		x.settimeout(1)
		x.connect(addr)	# wakes the back-end on a listening socket
	except OSError:
		pass
	time.sleep(0.1)
	alive(c, 'after a connection to the listening channel:')
	a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
	S.keep(a)
	S.keep(b)
	expect_any_ack(c, vhu.SET_BACKEND_REQ_FD, b'', [a.fileno()],
			what='datagram socket')
	b.send(b'\x00' * 40)
	time.sleep(0.05)
	alive(c, 'after a datagram on the channel:')


@attack('wedge')
def a_backend_channel_is_own_end(S):
	"""SET_BACKEND_REQ_FD with the front-end's own end of the vhost-user
	connection, then the front-end closes everything and goes away. The
	back-end now holds the last reference to the front-end's end, so the
	connection never reads EOF: unless it notices, the port is wedged
	(every later front-end refused). Run on a testpmd of its own: when
	it fails, the port stays wedged."""
	c = S.negotiated(BACKEND)
	c.send(vhu.SET_BACKEND_REQ_FD, b'', [c.fileno()])
	time.sleep(0.1)
	c.close(wait=False)
	time.sleep(0.5)
	try:
		c2 = S.keep(vhu.connect(S.a, tries=10))
	except Closed:
		nf = S.tp.nfds()
		# The wedged connection is the bug reported here, not a leak
		# to be reported again by the resource check.
		S.base = Baseline(S.tp)
		raise Fail('front-end gone (all its fds closed) but the port '
			'still refuses new front-ends ("refused a second '
			'front-end: one is connected"); testpmd holds %d fds: the '
			'back-end keeps the front-end\'s end of the connection '
			'open itself' % nf)
	alive(c2, 'new front-end:')


# ======================================================================
# GET_* with payloads, order, gating
# ======================================================================

@attack()
def a_get_with_payload(S):
	"""GET_* with payloads the request does not take: hang-up."""
	cases = ((vhu.GET_FEATURES, bytes(8), REPLY_ACK),
		(vhu.GET_PROTOCOL_FEATURES, bytes(8), REPLY_ACK),
		(vhu.GET_PROTOCOL_FEATURES, bytes(256), REPLY_ACK),
		(vhu.GET_VRING_BASE, bytes(4), REPLY_ACK),
		(vhu.GET_VRING_BASE, bytes(12), REPLY_ACK),
		(vhu.GET_QUEUE_NUM, bytes(8), REPLY_ACK | bit(vhu.P_MQ)),
		(vhu.GET_MAX_MEM_SLOTS, bytes(8), SLOTS),
		(vhu.GET_STATUS, bytes(1), REPLY_ACK | bit(vhu.P_STATUS)))
	for req, p, proto in cases:
		c = S.negotiated(proto)
		expect_close(c, req, p, what='%s with %d payload bytes' %
				(rname(req), len(p)))
		c.close()


@attack()
def a_gated_requests(S):
	"""Requests of protocol features that were not negotiated."""
	c = S.negotiated()
	for req, p, fds in (
			(vhu.ADD_MEM_REG, mem_single(region(GPA0, 4096, UVA0, 0)),
				[S.memfd(4096)]),
			(vhu.REM_MEM_REG, mem_single(region(GPA0, 4096, UVA0, 0)),
				[]),
			(vhu.SEND_RARP, u64(0x0123456789ab), []),
			(vhu.NET_SET_MTU, u64(1500), []),
			(vhu.SET_STATUS, u64(0xf), []),
			(vhu.RESET_DEVICE, b'', []),
			(vhu.SET_BACKEND_REQ_FD, b'', [S.fd_of('socket')])):
		expect_nack(c, req, p, fds, what='%s not negotiated' % rname(req))
	c.close()
	for req in (vhu.GET_MAX_MEM_SLOTS, vhu.GET_STATUS, vhu.GET_QUEUE_NUM):
		c = S.negotiated()
		expect_close(c, req, what='%s not negotiated' % rname(req))
		c.close()


@attack()
def a_set_features_unoffered(S):
	"""SET_FEATURES / SET_PROTOCOL_FEATURES with bits never offered."""
	c = S.negotiated()
	offered = c.get_u64(vhu.GET_FEATURES)
	for b in (63, 40, vhu.F_RING_PACKED, vhu.F_IOMMU_PLATFORM, 6, 0, 35):
		if offered & bit(b):
			continue
		expect_nack(c, vhu.SET_FEATURES, u64(bit(b) |
				bit(vhu.F_VERSION_1)), what='SET_FEATURES bit %d' % b)
	po = c.get_u64(vhu.GET_PROTOCOL_FEATURES)
	for b in (63, vhu.P_CONFIG, 12, 17, vhu.P_NET_MTU):
		if po & bit(b):
			continue
		expect_nack(c, vhu.SET_PROTOCOL_FEATURES, u64(bit(b) | REPLY_ACK),
				what='SET_PROTOCOL_FEATURES bit %d' % b)


@attack()
def a_iotlb_without_iommu(S):
	"""IOTLB_MSG when VIRTIO_F_IOMMU_PLATFORM is not negotiated."""
	c = S.negotiated(features=bit(vhu.F_VERSION_1))
	for t in (1, 2, 3, 4, 0, 255):
		expect_nack(c, vhu.IOTLB_MSG, vhu.IOTLB.pack(0, 4096, UVA0, 3, t),
				what='IOTLB_MSG type %d' % t)
	expect_nack(c, vhu.IOTLB_MSG, vhu.IOTLB.pack(0, 4096, UVA0, 3, 2)[:26],
			what='IOTLB_MSG of 26 bytes')


@attack()
def a_status_and_mtu_values(S):
	"""SET_STATUS > 0xff refused; SEND_RARP with junk is harmless."""
	c = S.negotiated(REPLY_ACK | bit(vhu.P_STATUS) | bit(vhu.P_RARP))
	expect_nack(c, vhu.SET_STATUS, u64(0x100))
	expect_nack(c, vhu.SET_STATUS, u64(1 << 63))
	expect_ack(c, vhu.SET_STATUS, u64(0xff))
	if c.get_u64(vhu.GET_STATUS) != 0xff:
		raise Fail('GET_STATUS does not return what SET_STATUS set')
	expect_ack(c, vhu.SEND_RARP, u64(0xffffffffffffffff))


@attack()
def a_out_of_order(S):
	"""Ring messages before any memory table or features; GET_VRING_BASE
	of a ring never started."""
	c = S.negotiated()
	for req, p, fds in ((vhu.SET_VRING_KICK, u64(0), [S.eventfd()]),
			(vhu.SET_VRING_CALL, u64(1), [S.eventfd()]),
			(vhu.SET_VRING_ADDR, vring_addr(0), []),
			(vhu.SET_VRING_ENABLE, state(0, 1), []),
			(vhu.SET_VRING_NUM, state(1, 64), []),
			(vhu.SET_VRING_ADDR, vring_addr(1), [])):
		expect_any_ack(c, req, p, fds, what='%s before SET_MEM_TABLE' %
				rname(req))
	alive(c)
	c.send(vhu.GET_VRING_BASE, state(1, 0))
	p = c.reply(vhu.GET_VRING_BASE)
	if len(p) != 8 or STATE_IDX(p) != 1:
		raise Fail('GET_VRING_BASE of an unstarted ring answered %s' %
				p.hex())
	# Memory comes last, and does not cover the ring addresses given.
	S.with_mem(c, 4096)
	alive(c, 'after a memory table that misses the rings:')


def STATE_IDX(p):
	return struct.unpack('<II', p)[0]


@attack()
def a_device_without_set_features(S):
	"""Everything but SET_FEATURES: the device must not start; it starts
	once features are set."""
	d = S.dev(features=None, protocol=REPLY_ACK)
	d.want_features = None
	d.setup()
	time.sleep(0.1)
	st = S.link(S.port_a)
	if st != 'down':
		raise Fail('device started without SET_FEATURES (link %s)' % st)
	expect_ack(d.conn, vhu.SET_FEATURES, u64(bit(vhu.F_VERSION_1) |
			bit(vhu.F_PROTOCOL_FEATURES)))
	d.features = bit(vhu.F_VERSION_1) | bit(vhu.F_PROTOCOL_FEATURES)
	d.hdr_len = 12
	S.wait_link(S.port_a, 'up')
	r = d.loopback(4)
	if r:
		raise Fail('after SET_FEATURES: ' + r)


# ======================================================================
# Connections
# ======================================================================

@attack()
def a_second_connection(S):
	"""A second front-end while one is connected: refused at once; the
	first one goes on."""
	c = S.negotiated()
	for _ in range(5):
		c2 = S.conn()
		try:
			c2.wait_closed(2.0)
		except Timeout:
			raise Fail('second connection still open after 2 s')
	alive(c, 'first connection, after the second was refused:')


@attack()
def a_connection_churn(S):
	"""500 connections opened and closed at once, some mid-message."""
	for k in range(500):
		try:
			c = Conn(S.a, 1.0)
		except OSError:
			time.sleep(0.01)
			continue
		try:
			if k % 3 == 1:
				c.send_raw(HDR.pack(vhu.GET_FEATURES, VERSION, 0)[:k % 12])
			elif k % 3 == 2:
				c.send(vhu.SET_OWNER)
		except (Closed, Timeout):
			pass
		c.close()
	time.sleep(0.2)
	c = S.negotiated()
	alive(c, 'a connection after the churn:')


@attack()
def a_connection_backlog_burst(S):
	"""30 connections at once: one is served, the others refused."""
	cs = []
	for _ in range(30):
		try:
			cs.append(S.keep(Conn(S.a, 0.3)))
		except OSError:
			pass
	time.sleep(0.5)
	open_ = [c for c in cs if c.is_open()]
	if len(open_) > 1:
		raise Fail('%d connections served at the same time' % len(open_))


@attack()
def a_half_close(S):
	"""A request, then shutdown(SHUT_WR): answer or not, no leak."""
	c = S.negotiated()
	c.send(vhu.GET_FEATURES)
	c.sock.shutdown(socket.SHUT_WR)
	try:
		c.wait_closed(2.0)
	except Timeout:
		raise Fail('back-end did not hang up after the front-end\'s EOF')


# ======================================================================
# Floods
# ======================================================================

@attack('flood')
def a_flood_100k_get_features(S):
	"""100000 GET_FEATURES, pipelined 100 at a time (a front-end that
	reads its replies, just very fast): all answered in order, and port
	B's control channel and traffic are served all along."""
	c = S.negotiated()
	N, W = 100000, 100
	offered = c.get_u64(vhu.GET_FEATURES)
	want = (HDR.pack(vhu.GET_FEATURES, VERSION | vhu.FLAG_REPLY, 8) +
		u64(offered)) * W
	batch = HDR.pack(vhu.GET_FEATURES, VERSION, 0) * W
	lat = []
	t0 = time.monotonic()
	for k in range(N // W):
		c.send_raw(batch, timeout=10)
		try:
			c._fill(len(want), time.monotonic() + 10)
		except Closed:
			raise Fail('hang-up after %d answers' % (k * W))
		except Timeout:
			raise Fail('no answer for 10 s after %d' % (k * W))
		if c.buf[:len(want)] != want:
			raise Fail('answers %d..%d are not GET_FEATURES replies' %
					(k * W, k * W + W))
		c.buf = c.buf[len(want):]
		if k % 50 == 25:
			t = time.monotonic()
			S.bdev.conn.get_u64(vhu.GET_FEATURES, timeout=5)
			lat.append(time.monotonic() - t)
		if k % 250 == 125:
			rb = S.bdev.loopback(4)
			if rb:
				raise Fail('port B during the flood: ' + rb)
	el = time.monotonic() - t0
	if max(lat) > 1.0:
		raise Fail('port B GET_FEATURES took %.2f s during the flood' %
				max(lat))
	print('    (%d messages in %.2f s; port B control latency max '
			'%.1f ms)' % (N, el, 1000 * max(lat)))


@attack('flood')
def a_flood_never_read(S):
	"""GET_FEATURES without ever reading the replies: the back-end must
	not block, and hangs up once its small reply buffer overflows."""
	c = S.negotiated()
	batch = HDR.pack(vhu.GET_FEATURES, VERSION, 0) * 1000
	t0 = time.monotonic()
	try:
		for _ in range(200):
			c.send_raw(batch, timeout=3)
	except Closed:
		pass
	except Timeout:
		pass	# we are blocked: the back-end stopped reading us
	# It has hung up (our send failed) or will within its time-out;
	# reading now would relieve it, so only watch for the hang-up.
	try:
		c.wait_hangup(7.0)
	except Timeout:
		raise Fail('connection still open %.1f s after the flood' %
				(time.monotonic() - t0))


@attack('flood')
def a_flood_need_reply_never_read(S):
	"""20000 SET_OWNER with NEED_REPLY, never reading the acks."""
	c = S.negotiated()
	batch = HDR.pack(vhu.SET_OWNER, VERSION | vhu.FLAG_NEED_REPLY, 0) * 1000
	t0 = time.monotonic()
	try:
		for _ in range(20):
			c.send_raw(batch, timeout=3)
	except (Closed, Timeout):
		pass
	try:
		c.wait_hangup(7.0)
	except Timeout:
		raise Fail('connection still open %.1f s after the flood' %
				(time.monotonic() - t0))


@attack('flood')
def a_flood_refused_messages_log(S):
	"""20000 refused SET_FEATURES (unoffered bit 63), no ack asked: the
	back-end must stay responsive, and should not write 20000 log
	lines for them."""
	c = S.negotiated(protocol=0)
	msg = HDR.pack(vhu.SET_FEATURES, VERSION, 8) + u64(1 << 63)
	mark = S.tp.log_size()
	t0 = time.monotonic()
	for _ in range(20):
		c.send_raw(msg * 1000, timeout=10)
	alive(c, 'after 20000 refused messages:')
	el = time.monotonic() - t0
	text = S.tp.log_since(mark)
	n = text.count('SET_FEATURES: features')
	if n > 1000:
		raise Fail('20000 refused messages in %.1f s wrote %d log lines '
			'(%d KiB): the error log is not rate-limited' %
			(el, n, len(text) // 1024))


@attack('flood')
def a_flood_fds(S):
	"""2000 SET_VRING_CALL with fresh eventfds, pipelined."""
	c = S.negotiated(protocol=0)
	for k in range(2000):
		fd = os.eventfd(0, os.EFD_CLOEXEC)
		try:
			c.send(vhu.SET_VRING_CALL, u64(k & 1), [fd])
		finally:
			os.close(fd)
	alive(c, 'after 2000 call fds:')
	nf = S.tp.nfds()
	if nf > S.base.fds + 1 + 2:
		raise Fail('after 2000 call fds: %d fds (baseline %d)' %
				(nf, S.base.fds))


# ======================================================================
# Fuzz
# ======================================================================

INTERESTING = (0, 1, 2, 3, 7, 8, 0x7f, 0xff, 0x100, 0x1ff, 0x7fff, 0x8000,
		0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 32,
		1 << 63, (1 << 64) - 1, GPA0, UVA0, UVA0 + 0x1000, 4096, 65536)


def fuzz_payload(rnd, size):
	out = b''
	while len(out) < size:
		v = rnd.choice(INTERESTING) if rnd.random() < 0.8 else \
			rnd.getrandbits(64)
		out += struct.pack('<Q', v & 0xffffffffffffffff)
	return out[:size]


@attack('fuzz')
def a_random_messages(S):
	"""2000 messages with random requests (0..45), flags, sizes, fields
	(biased to boundary values) and fds of random kinds; reconnecting
	whenever the back-end hangs up. Seed printed for replay
	(IOVH_FUZZ_SEED)."""
	seed = int(os.environ.get('IOVH_FUZZ_SEED', random.randrange(1 << 30)))
	rnd = random.Random(seed)
	sizes = {vhu.SET_MEM_TABLE: (40, 72, 264), vhu.SET_VRING_ADDR: (40,),
		vhu.SET_LOG_BASE: (16,), vhu.IOTLB_MSG: (32,), vhu.ADD_MEM_REG:
		(40,), vhu.REM_MEM_REG: (40,)}
	kinds = ('eventfd', 'memfd', 'pipe', 'socket', 'devnull')
	c = None
	hangups = 0
	N = int(os.environ.get("IOVH_FUZZ_MESSAGES", 2000))
	for n in range(N):
		if c is None or c.closed_by_peer:
			if c is not None:
				c.close(wait=False)
				hangups += 1
			c = S.keep(vhu.connect(S.a, tries=10))
			vhu.handshake(c, None, rnd.getrandbits(17) | REPLY_ACK)
		req = rnd.randrange(0, 46)
		flags = VERSION | (vhu.FLAG_NEED_REPLY if rnd.random() < 0.5 else 0)
		if rnd.random() < 0.03:
			flags = rnd.getrandbits(32)
		size = rnd.choice(sizes.get(req, (8,)) + (0, 8, 8, rnd.randrange(
				0, 269)))
		nfds = rnd.choice((0, 0, 0, 1, 1, 2, 8))
		mark = len(S.res)
		fds = []
		for _ in range(nfds):
			k = rnd.choice(kinds)
			fds.append(S.memfd(65536) if k == 'memfd' else S.fd_of(k))
		try:
			c.send(req, fuzz_payload(rnd, size), fds, flags=flags)
			while c.pending(0.001 if n % 10 else 0.01):
				c.recv_msg(0.5)
		except (Closed, Timeout, ProtocolError):
			pass
		while len(S.res) > mark:
			x = S.res.pop()
			os.close(x) if isinstance(x, int) else x.close()
	print('    (seed %d: %d messages, %d hang-ups)' % (seed, N, hangups))


def reconfig_fuzz(S, d, iommu, n=None, seed=None, packed=False):
	"""Random, mostly plausible, reconfiguration of a running device
	while frames flow: the poll thread on the other core races every
	change. Any answer is fine; a hang-up ends the run early. packed:
	d has packed rings; RING_PACKED is flipped too, and bases carry
	wrap bits."""
	seed = int(os.environ.get('IOVH_FUZZ_SEED', random.randrange(1 << 30))) \
		if seed is None else seed
	if n is None:
		n = int(os.environ.get('IOVH_FUZZ_MESSAGES', 1500))
	rnd = random.Random(seed)
	c = d.conn
	tag = os.urandom(8)
	rings = (d.rx, d.tx)
	done = 0
	for k in range(n):
		r = rnd.choice(rings)
		op = rnd.randrange(13 if iommu else 11)
		try:
			if op == 0:
				c.ack(vhu.SET_VRING_ADDR, r.addr_payload(
					desc=r.uva(r.desc_off) + rnd.choice((0, 0, 16,
						4096, 1 << 30))))
			elif op == 1:
				c.ack(vhu.SET_VRING_NUM, state(r.index, rnd.choice(
					(256, 256, 128, 1, 3, 1024))))
			elif op == 2:
				c.ack(vhu.SET_VRING_BASE, state(r.index, rnd.choice(
					(0, r.avail_idx, 0xffff, 0x10000) + ((0x8000,
					0x8000 | r.avail_idx % 256, 0x80ff80ff,
					0xffffffff) if packed else ()))))
			elif op == 3:
				c.ack(vhu.SET_VRING_ENABLE, state(r.index,
					rnd.choice((0, 1, 1))))
			elif op == 4:
				c.ack(vhu.SET_MEM_TABLE, mem_table([m.region() for m
					in d.mems]), [m.fd for m in d.mems])
			elif op in (5, 6):
				fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
				try:
					c.ack(vhu.SET_VRING_KICK if op == 5 else
						vhu.SET_VRING_CALL, u64(r.index), [fd])
				finally:
					os.close(fd)
			elif op == 7:
				c.send(vhu.GET_VRING_BASE, state(r.index, 0))
				c.reply(vhu.GET_VRING_BASE)
			elif op == 8:
				c.ack(vhu.SET_FEATURES, u64(d.features ^ rnd.choice(
					(0, 0, bit(vhu.F_MRG_RXBUF),
					 bit(vhu.F_EVENT_IDX)) + ((bit(vhu.F_RING_PACKED),)
					if packed else ()))))
			elif op in (9, 10):
				for _ in range(rnd.randrange(1, 6)):
					d.send_frame(make_frame(tag, k, rnd.choice(
						(60, 300, 1500, 3000))))
				d.poll_rx()
			elif op == 11:
				pg = rnd.randrange(0, 1024)
				d.iotlb_invalidate(IOVA0 + pg * 4096,
					4096 * rnd.choice((1, 4, 64)))
			else:
				for base, size, uaddr in d.region_iovas():
					d.iotlb_update(base, size, uaddr,
						rnd.choice((3, 3, 1, 2)))
		except Timeout:
			pass		# no free TX descriptor: ring stalled
		except (Closed, ProtocolError):
			break
		done += 1
		if iommu and k % 8 == 0:
			try:
				d.serve_misses()
			except (Closed, Timeout, ProtocolError):
				break
	print('    (seed %d: %d of %d operations before %s)' % (seed, done, n,
			'the end' if done == n else 'a hang-up'))


@attack('fuzz')
def a_running_reconfig_fuzz(S):
	"""1500 random reconfigurations of a running device under traffic
	(ring addresses, sizes, bases, enables, memory tables, fds,
	features, GET_VRING_BASE). Seed printed (IOVH_FUZZ_SEED)."""
	reconfig_fuzz(S, S.ring_dev(), False)


@attack('iommu')
def a_iotlb_running_reconfig_fuzz(S):
	"""The same with an IOMMU, plus random INVALIDATEs and UPDATEs
	(random permissions) and misses answered."""
	reconfig_fuzz(S, iommu_dev(S), True)


# ======================================================================
# Slow: the 5 s peer time-out (run side by side, one port each)
# ======================================================================

SLOW = []


def slow(fn):
	SLOW.append(fn)
	return fn


def timed_close(c, lo=4.0, hi=8.0, what='', read=True):
	t0 = time.monotonic()
	try:
		el = (c.wait_closed if read else c.wait_hangup)(hi + 2)
	except Timeout:
		raise Fail('%s: still open after %.1f s' % (what, hi + 2))
	if el < lo:
		raise Fail('%s: hung up after %.1f s, sooner than the %.0f s '
				'time-out' % (what, el, lo))
	if el > hi:
		raise Fail('%s: hung up only after %.1f s' % (what, el))
	_ = t0
	return el


@slow
def truncated_header_silence(S, path):
	"""6 bytes of a header, then nothing: hang-up after ~5 s."""
	c = S.negotiated(path=path)
	c.send_raw(HDR.pack(vhu.GET_FEATURES, VERSION, 0)[:6])
	return timed_close(c, what='half a header')


@slow
def partial_payload_silence(S, path):
	"""SET_FEATURES with 4 of its 8 payload bytes, then nothing."""
	c = S.negotiated(path=path)
	c.send_raw(HDR.pack(vhu.SET_FEATURES, VERSION, 8) + bytes(4))
	return timed_close(c, what='half a payload')


@slow
def slowloris(S, path):
	"""One byte every 0.7 s: progress must not extend the time-out."""
	c = S.negotiated(path=path)
	msg = HDR.pack(vhu.SET_VRING_ADDR, VERSION, 40) + bytes(40)
	t0 = time.monotonic()
	for i in range(len(msg)):
		try:
			c.send_raw(msg[i:i + 1])
		except Closed:
			break
		if c.closed_by_peer:
			break
		try:
			c.pending(0.7)
		except Closed:
			break
		if time.monotonic() - t0 > 10:
			raise Fail('trickling peer still connected after 10 s')
	el = time.monotonic() - t0
	if not c.closed_by_peer:
		try:
			el = c.wait_closed(max(0.1, 10 - el)) + el
		except Timeout:
			raise Fail('trickling peer still connected after 10 s')
	if el < 4.0 or el > 8.0:
		raise Fail('trickling peer hung up after %.1f s, expected ~5 s'
				% el)
	return el


@slow
def stalled_reader(S, path):
	"""Fill the socket with unread replies, stop just as the back-end
	starts buffering: it must hang up after its ~5 s reply time-out."""
	c = S.negotiated(path=path)
	msg = HDR.pack(vhu.GET_FEATURES, VERSION, 0)
	buf = bytearray(4)

	def inq():
		fcntl.ioctl(c.sock, termios.FIONREAD, buf)
		return struct.unpack('<i', buf)[0]

	# One request at a time; a reply that does not reach our socket
	# within 100 ms stayed in the back-end: its socket buffer is full.
	# Not before a hundred replies arrived, though (a full socket holds
	# some 270 of them: small messages are charged at their buffer
	# size): on a loaded machine (an ASan testpmd on two shared cores) a
	# reply can take that long, and stopping at 0 bytes left nothing for
	# the time-out to act on. Until then 2 s, well short of 5 s.
	last = inq()
	for n in range(20000):
		c.send_raw(msg)
		deadline = time.monotonic() + (0.1 if last >= 2000 else 2.0)
		while inq() == last and time.monotonic() < deadline:
			time.sleep(0.0005)
		if inq() == last:
			break
		last = inq()
	else:
		raise Fail('socket never filled')
	return timed_close(c, 3.5, 8.0, what='stalled reader (%d bytes '
			'unread)' % last, read=False)


@slow
def own_end_in_flight(S, path):
	"""Half a header carrying the front-end's own end of the connection
	as an fd, then the front-end vanishes: the back-end holds the last
	reference to that end, so no EOF ever comes; only the 5 s time-out
	on the half message can free the port."""
	c = S.negotiated(path=path)
	c.send_raw(HDR.pack(vhu.SET_MEM_TABLE, VERSION, 40)[:6], [c.fileno()])
	c.close(wait=False)
	t0 = time.monotonic()
	while time.monotonic() - t0 < 10:
		try:
			c2 = vhu.connect(path, tries=1)
		except (Closed, OSError):
			time.sleep(0.25)
			continue
		el = time.monotonic() - t0
		c2.close()
		if el < 3.5:
			raise Fail('port free after %.1f s, before the time-out: '
					'did the back-end drop the fds of a half message?'
					% el)
		return el
	raise Fail('port still taken 10 s after the front-end vanished')


# ======================================================================
# Ring contents (device running, testpmd forwarding)
# ======================================================================

def wait_tx_returned(d, heads, timeout=2.0):
	want = list(heads)
	deadline = time.monotonic() + timeout
	while time.monotonic() < deadline:
		d.reclaim_tx()
		if all(d.tx_scratch_used.count(h) >= want.count(h)
				for h in set(want)):
			return True
		time.sleep(0.005)
	return False


def tx_case(S, build, expect='bad', n_bad=None):
	"""Post hostile TX chains (build(d) writes scratch descriptors and
	returns the heads); expect: 'bad' (handed back, counted in
	rx_q0_bad_desc, nothing forwarded), 'ok' (the frame build returns
	comes back intact) or 'any'. Then port A must still loop back."""
	d = S.ring_dev()
	before = S.tp.xstat(S.port_a, 'rx_q0_bad_desc')
	heads, frame = build(d)
	d.tx.push(*heads)
	if not wait_tx_returned(d, heads):
		raise Fail('chains not handed back within 2 s: TX ring stuck '
				'(used idx %d, avail idx %d)' % (d.tx.used_idx(),
				d.tx.avail_idx))
	time.sleep(0.05)
	frames = d.poll_rx()
	after = S.tp.xstat(S.port_a, 'rx_q0_bad_desc')
	nb = len(heads) if n_bad is None else n_bad
	if expect == 'bad':
		if after - before != nb:
			raise Fail('rx_q0_bad_desc +%d, expected +%d' %
					(after - before, nb))
		if frames:
			raise Fail('%d frame(s) forwarded from a bad chain' %
					len(frames))
	elif expect == 'notbad':
		if after != before:
			raise Fail('valid chain counted as bad (+%d)' %
					(after - before))
	elif expect == 'ok':
		if after != before:
			raise Fail('valid chain counted as bad (+%d)' %
					(after - before))
		if frame not in frames:
			raise Fail('frame did not come back intact (%d frames '
					'back: %s)' % (len(frames), [len(f) for f in
					frames]))
	r = d.loopback(4)
	if r:
		raise Fail('after the hostile chains, port A: ' + r)


def frame_at(d, i, size=96, seq=0):
	"""A virtio-net header + frame in scratch buffer i: (gpa, frame)."""
	f = make_frame(b'scratch!', seq, size)
	d.m.write(d.txbuf(i), bytes(12) + f)
	return d.gpa(d.txbuf(i)), f


def hostile_tx(name, expect='bad'):
	def deco(build):
		add('tx_' + name, lambda S: tx_case(S, build, expect), 'ring')
		return build
	return deco


@hostile_tx('desc_loop')
def _(d):
	g, _f = frame_at(d, SCR)
	d.tx.desc(SCR, g, 16, DESC_F_NEXT, SCR + 1)
	d.tx.desc(SCR + 1, g + 16, 16, DESC_F_NEXT, SCR)
	return [SCR], None


@hostile_tx('desc_self_loop')
def _(d):
	g, _f = frame_at(d, SCR)
	d.tx.desc(SCR, g, 1, DESC_F_NEXT, SCR)
	return [SCR], None


@hostile_tx('next_out_of_range')
def _(d):
	g, _f = frame_at(d, SCR)
	d.tx.desc(SCR, g, 12, DESC_F_NEXT, 256)
	d.tx.desc(SCR + 1, g, 12, DESC_F_NEXT, 0xffff)
	return [SCR, SCR + 1], None


@hostile_tx('head_out_of_range')
def _(d):
	return [256, 0x8000, 0xffff], None


@hostile_tx('addr_outside_memory')
def _(d):
	d.tx.desc(SCR, 0x1000, 108, 0)
	d.tx.desc(SCR + 1, GPA0 + (5 << 20), 108, 0)	# past region 1
	d.tx.desc(SCR + 2, 0, 108, 0)
	d.tx.desc(SCR + 3, GPA0 - 12, 108, 0)		# starts just below
	return [SCR, SCR + 1, SCR + 2, SCR + 3], None


@hostile_tx('addr_wraps')
def _(d):
	d.tx.desc(SCR, 0xfffffffffffffff0, 0x100, 0)
	d.tx.desc(SCR + 1, 0xffffffffffffffff, 0xffffffff, 0)
	return [SCR, SCR + 1], None


@hostile_tx('buffer_past_memory_end')
def _(d):
	end = GPA0 + (5 << 20)
	d.tx.desc(SCR, end - 64, 128, 0)
	return [SCR], None


@hostile_tx('len_0xffffffff')
def _(d):
	g, _f = frame_at(d, SCR)
	d.tx.desc(SCR, g, 0xffffffff, 0)
	return [SCR], None


@hostile_tx('len_zero')
def _(d):
	g, _f = frame_at(d, SCR)
	d.tx.desc(SCR, g, 0, 0)
	return [SCR], None


@hostile_tx('header_only')
def _(d):
	g, _f = frame_at(d, SCR)
	d.tx.desc(SCR, g, 12, 0)
	d.tx.desc(SCR + 1, g, 5, 0)
	return [SCR, SCR + 1], None


@hostile_tx('write_flag')
def _(d):
	g, _f = frame_at(d, SCR)
	d.tx.desc(SCR, g, 108, DESC_F_WRITE)
	d.tx.desc(SCR + 1, g, 12, DESC_F_NEXT, SCR + 2)
	d.tx.desc(SCR + 2, g + 12, 96, DESC_F_WRITE)
	return [SCR, SCR + 1], None


@hostile_tx('packet_over_256k')
def _(d):
	g = d.gpa(d.txbuf_off)
	for k in range(17):
		d.tx.desc(SCR + k, g, 16384, DESC_F_NEXT if k < 16 else 0,
				SCR + k + 1)
	return [SCR], None


@hostile_tx('packet_at_256k_limit', 'notbad')
def _(d):
	"""12-byte header + exactly 256 KiB: the largest packet taken."""
	g = d.gpa(d.txbuf_off)
	d.tx.desc(SCR, g, 12, DESC_F_NEXT, SCR + 1)
	for k in range(16):
		d.tx.desc(SCR + 1 + k, g, 16384, DESC_F_NEXT if k < 15 else 0,
				SCR + 2 + k)
	return [SCR], None


@hostile_tx('packet_1_byte_over_256k')
def _(d):
	g = d.gpa(d.txbuf_off)
	d.tx.desc(SCR, g, 13, DESC_F_NEXT, SCR + 1)
	for k in range(16):
		d.tx.desc(SCR + 1 + k, g, 16384, DESC_F_NEXT if k < 15 else 0,
				SCR + 2 + k)
	return [SCR], None


@hostile_tx('chain_108_descs', 'ok')
def _(d):
	g, f = frame_at(d, SCR)
	for k in range(108):
		d.tx.desc(SCR + k, g + k, 1, DESC_F_NEXT if k < 107 else 0,
				SCR + k + 1)
	return [SCR], f


@hostile_tx('zero_len_in_the_middle', 'any')
def _(d):
	g, f = frame_at(d, SCR)
	d.tx.desc(SCR, g, 12, DESC_F_NEXT, SCR + 1)
	d.tx.desc(SCR + 1, g, 0, DESC_F_NEXT, SCR + 2)
	d.tx.desc(SCR + 2, g + 12, 96, 0)
	return [SCR], f


def indirect_table(d, i, entries):
	"""Write an indirect table into scratch buffer i + 1; (gpa, len)."""
	off = d.txbuf(i + 1)
	for k, (a, ln, fl, nx) in enumerate(entries):
		d.m.write(off + 16 * k, vhu.DESC.pack(a & 0xffffffffffffffff, ln,
				fl, nx))
	return d.gpa(off), 16 * len(entries)


@hostile_tx('indirect_valid', 'ok')
def _(d):
	g, f = frame_at(d, SCR)
	t, tl = indirect_table(d, SCR, [(g, 12, DESC_F_NEXT, 1),
			(g + 12, 96, 0, 0)])
	d.tx.desc(SCR, t, tl, DESC_F_INDIRECT)
	return [SCR], f


@hostile_tx('indirect_bad_len')
def _(d):
	g, _f = frame_at(d, SCR)
	t, _tl = indirect_table(d, SCR, [(g, 108, 0, 0)])
	d.tx.desc(SCR, t, 17, DESC_F_INDIRECT)
	d.tx.desc(SCR + 1, t, 0, DESC_F_INDIRECT)
	d.tx.desc(SCR + 2, t, 8, DESC_F_INDIRECT)
	return [SCR, SCR + 1, SCR + 2], None


@hostile_tx('indirect_nested')
def _(d):
	g, _f = frame_at(d, SCR)
	t2, tl2 = indirect_table(d, SCR + 2, [(g, 108, 0, 0)])
	t, tl = indirect_table(d, SCR, [(t2, tl2, DESC_F_INDIRECT, 0)])
	d.tx.desc(SCR, t, tl, DESC_F_INDIRECT)
	return [SCR], None


@hostile_tx('indirect_with_next')
def _(d):
	g, _f = frame_at(d, SCR)
	t, tl = indirect_table(d, SCR, [(g, 108, 0, 0)])
	d.tx.desc(SCR, t, tl, DESC_F_INDIRECT | DESC_F_NEXT, SCR + 3)
	d.tx.desc(SCR + 3, g, 108, 0)
	return [SCR], None


@hostile_tx('indirect_outside_memory')
def _(d):
	d.tx.desc(SCR, 0x10, 32, DESC_F_INDIRECT)
	d.tx.desc(SCR + 1, 0xfffffffffffffff0, 32, DESC_F_INDIRECT)
	d.tx.desc(SCR + 2, GPA0 + (5 << 20) - 16, 32, DESC_F_INDIRECT)
	return [SCR, SCR + 1, SCR + 2], None


@hostile_tx('indirect_loop')
def _(d):
	g, _f = frame_at(d, SCR)
	t, tl = indirect_table(d, SCR, [(g, 12, DESC_F_NEXT, 1),
			(g + 12, 4, DESC_F_NEXT, 0)])
	d.tx.desc(SCR, t, tl, DESC_F_INDIRECT)
	return [SCR], None


@hostile_tx('indirect_next_out_of_table')
def _(d):
	g, _f = frame_at(d, SCR)
	t, tl = indirect_table(d, SCR, [(g, 12, DESC_F_NEXT, 7),
			(g + 12, 96, 0, 0)])
	d.tx.desc(SCR, t, tl, DESC_F_INDIRECT)
	return [SCR], None


@hostile_tx('indirect_write_entry')
def _(d):
	g, _f = frame_at(d, SCR)
	t, tl = indirect_table(d, SCR, [(g, 108, DESC_F_WRITE, 0)])
	d.tx.desc(SCR, t, tl, DESC_F_INDIRECT)
	return [SCR], None


@hostile_tx('indirect_huge_table', 'any')
def _(d):
	g, _f = frame_at(d, SCR)
	t, _tl = indirect_table(d, SCR, [(g, 12, DESC_F_NEXT, 1),
			(g + 12, 96, DESC_F_NEXT, 2)] + [(g, 1, DESC_F_NEXT, k + 3)
			for k in range(6)])
	d.tx.desc(SCR, t, 0xfffffff0, DESC_F_INDIRECT)
	return [SCR], None


@hostile_tx('indirect_after_chain', 'any')
def _(d):
	g, f = frame_at(d, SCR)
	t, tl = indirect_table(d, SCR, [(g + 12, 96, 0, 0)])
	d.tx.desc(SCR, g, 12, DESC_F_NEXT, SCR + 3)
	d.tx.desc(SCR + 3, t, tl, DESC_F_INDIRECT)
	return [SCR], f


def straddle(d, data, gpa):
	"""Write data at gpa, which may run from region 0 into region 1."""
	o = gpa - d.m.gpa
	n0 = max(0, min(len(data), d.m.size - o))
	if n0:
		d.m.write(o, data[:n0])
	if n0 < len(data):
		d.m1.write(o + n0 - d.m.size, data[n0:])


@hostile_tx('buffer_across_regions', 'ok')
def _(d):
	f = make_frame(b'straddle', 1, 200)
	g = GPA0 + (4 << 20) - 50
	straddle(d, bytes(12) + f, g)
	d.tx.desc(SCR, g, 12 + len(f), 0)
	return [SCR], f


@hostile_tx('indirect_table_across_regions', 'ok')
def _(d):
	g, f = frame_at(d, SCR)
	t = GPA0 + (4 << 20) - 16
	straddle(d, vhu.DESC.pack(g, 12, DESC_F_NEXT, 1) +
			vhu.DESC.pack(g + 12, 96, 0, 0), t)
	d.tx.desc(SCR, t, 32, DESC_F_INDIRECT)
	return [SCR], f


@hostile_tx('indirect_entry_across_regions')
def _(d):
	g, _f = frame_at(d, SCR)
	t = GPA0 + (4 << 20) - 8
	straddle(d, vhu.DESC.pack(g, 108, 0, 0), t)
	d.tx.desc(SCR, t, 16, DESC_F_INDIRECT)
	return [SCR], None


@attack('ring')
def a_tx_avail_idx_jumps(S):
	"""TX avail idx far ahead, or behind: the ring is ignored (nothing
	consumed) until the index is sane again."""
	d = S.ring_dev()
	for jump in (257, 1000, 0x8000, 0xffff):
		u = d.tx.used_idx()
		d.tx.set_avail_idx(d.tx.avail_idx + jump)
		time.sleep(0.1)
		if d.tx.used_idx() != u:
			raise Fail('avail idx +%d: %d entries consumed' %
					(jump, (d.tx.used_idx() - u) & 0xffff))
		d.tx.set_avail_idx(d.tx.avail_idx)
		r = d.loopback(2)
		if r:
			raise Fail('after avail idx +%d was undone: %s' % (jump, r))


@attack('ring')
def a_rx_avail_idx_jumps(S):
	"""RX avail idx far ahead: nothing written into the ring; fine
	again once the index is sane."""
	d = S.ring_dev()
	for jump in (300, 0x8000):
		u = d.rx.used_idx()
		d.rx.set_avail_idx(d.rx.avail_idx + jump)
		d.send_frame(make_frame(b'jumpjump', 0, 80))
		time.sleep(0.1)
		if d.rx.used_idx() != u:
			raise Fail('RX avail idx +%d: %d entries used' %
					(jump, (d.rx.used_idx() - u) & 0xffff))
		d.rx.set_avail_idx(d.rx.avail_idx)
		r = d.loopback(2)
		if r:
			raise Fail('after RX avail idx +%d was undone: %s' %
					(jump, r))


@attack('ring')
def a_tx_descriptors_rewritten_concurrently(S):
	"""A thread rewrites 64 posted descriptors with random good and bad
	values while the back-end walks them (read-once / TOCTOU)."""
	d = S.ring_dev()
	ids = list(range(SCR, SCR + 64))
	g, _f = frame_at(d, SCR)
	stop = []
	rnd = random.Random(1234)
	addrs = (g, g + 12, 0, 0xfffffffffffffff0, GPA0 + (4 << 20) - 8)
	lens = (0, 12, 60, 108, 1500, 0xffffffff, 300000)
	flags = (0, DESC_F_NEXT, DESC_F_WRITE, DESC_F_INDIRECT,
			DESC_F_NEXT | DESC_F_INDIRECT)

	def flipper():
		while not stop:
			for i in ids:
				d.tx.desc(i, rnd.choice(addrs), rnd.choice(lens),
					rnd.choice(flags), rnd.choice((i, i + 1, 0, 300)))

	th = threading.Thread(target=flipper, daemon=True)
	th.start()
	posted = returned = 0
	t0 = time.monotonic()
	d.tx.push(*ids)
	posted += len(ids)
	try:
		while time.monotonic() - t0 < 1.0:
			d.reclaim_tx()
			back = d.tx_scratch_used
			d.tx_scratch_used = []
			returned += len(back)
			if back:
				d.tx.push(*back)
				posted += len(back)
			d.poll_rx()
			time.sleep(0.001)
	finally:
		stop.append(1)
		th.join()
	deadline = time.monotonic() + 2
	while returned < posted and time.monotonic() < deadline:
		d.reclaim_tx()
		returned += len(d.tx_scratch_used)
		d.tx_scratch_used = []
		time.sleep(0.005)
	if returned != posted:
		raise Fail('%d chains posted, %d handed back' % (posted, returned))
	if posted < 200:
		raise Fail('only %d chains processed in 1 s' % posted)
	for i in ids:
		d.tx.desc(i, g, 108, 0)
	time.sleep(0.2)
	d.reclaim_tx()
	d.poll_rx()
	r = d.loopback(4)
	if r:
		raise Fail('after %d rewritten chains: %s' % (posted, r))
	print('    (%d chains posted while being rewritten)' % posted)


def rx_case(S, build, expect='bad', size=96):
	"""Post hostile RX chains before any good buffer, then make testpmd
	send us a frame: the bad chains must come back with len 0 (counted
	in tx_q0_bad_desc) and the frame land in the good buffers."""
	d = S.ring_dev(rx_prepost=False)
	before = S.tp.xstat(S.port_a, 'tx_q0_bad_desc')
	heads = build(d)
	d.rx.push(*heads)
	d.post_rx(range(d.nbuf))
	if expect == 'any':
		# The frame may well land in the odd chain: prime with one.
		d.send_frame(make_frame(b'priming!', 0, size))
		time.sleep(0.2)
		d.poll_rx()
	r = d.loopback(2, size=size)
	if r:
		raise Fail('with hostile RX chains in front: ' + r)
	after = S.tp.xstat(S.port_a, 'tx_q0_bad_desc')
	got = dict(d.rx_scratch_used)
	if expect == 'bad':
		missing = [h for h in heads if h not in got]
		if missing:
			raise Fail('bad RX chains %s not handed back' % missing)
		nz = [(h, ln) for h, ln in d.rx_scratch_used if ln != 0]
		if nz:
			raise Fail('bad RX chains handed back with data: %s' % nz)
		if after - before != len(heads):
			raise Fail('tx_q0_bad_desc +%d, expected +%d' %
					(after - before, len(heads)))
	r = d.loopback(4)
	if r:
		raise Fail('afterwards: ' + r)


def hostile_rx(name, expect='bad', size=96):
	def deco(build):
		add('rx_' + name, lambda S: rx_case(S, build, expect, size), 'ring')
		return build
	return deco


def scratch_rx(d, i):
	return d.gpa(d.rxbuf(i))


@hostile_rx('read_only_buffer')
def _(d):
	d.rx.desc(SCR, scratch_rx(d, SCR), BUF, 0)
	d.rx.desc(SCR + 1, scratch_rx(d, SCR + 1), 12, DESC_F_WRITE | DESC_F_NEXT,
			SCR + 2)
	d.rx.desc(SCR + 2, scratch_rx(d, SCR + 2), BUF, 0)
	return [SCR, SCR + 1]


@hostile_rx('outside_memory')
def _(d):
	d.rx.desc(SCR, 0x2000, BUF, DESC_F_WRITE)
	d.rx.desc(SCR + 1, 0xfffffffffffff000, 0x2000, DESC_F_WRITE)
	d.rx.desc(SCR + 2, GPA0 + (5 << 20) - 20, BUF, DESC_F_WRITE)
	return [SCR, SCR + 1, SCR + 2]


@hostile_rx('desc_loop', size=1400)
def _(d):
	d.rx.desc(SCR, scratch_rx(d, SCR), 1, DESC_F_WRITE | DESC_F_NEXT, SCR + 1)
	d.rx.desc(SCR + 1, scratch_rx(d, SCR), 1, DESC_F_WRITE | DESC_F_NEXT, SCR)
	return [SCR]


@hostile_rx('next_out_of_range')
def _(d):
	d.rx.desc(SCR, scratch_rx(d, SCR), 16, DESC_F_WRITE | DESC_F_NEXT, 4000)
	return [SCR]


@hostile_rx('head_out_of_range')
def _(d):
	return [256, 0xffff]


@hostile_rx('too_small_for_header')
def _(d):
	d.rx.desc(SCR, scratch_rx(d, SCR), 0, DESC_F_WRITE)
	d.rx.desc(SCR + 1, scratch_rx(d, SCR + 1), 4, DESC_F_WRITE)
	d.rx.desc(SCR + 2, scratch_rx(d, SCR + 2), 11, DESC_F_WRITE)
	return [SCR, SCR + 1, SCR + 2]


@hostile_rx('indirect_bad')
def _(d):
	t = d.gpa(d.rxbuf(SCR + 10))
	d.m.write(d.rxbuf(SCR + 10), vhu.DESC.pack(t, 16, DESC_F_WRITE |
			DESC_F_INDIRECT, 0))
	d.rx.desc(SCR, t, 16, DESC_F_INDIRECT)		# nested
	d.rx.desc(SCR + 1, t, 20, DESC_F_INDIRECT)	# bad length
	d.rx.desc(SCR + 2, 0x30, 16, DESC_F_INDIRECT)	# outside
	return [SCR, SCR + 1, SCR + 2]


@hostile_rx('len_0xffffffff', 'any')
def _(d):
	d.rx.desc(SCR, scratch_rx(d, SCR), 0xffffffff, DESC_F_WRITE)
	return [SCR]


@attack('ring')
def a_jumbo_64k_frames(S, packed=False):
	"""64 KiB frames both ways: 33 chained TX buffers each, 33 merged
	RX buffers each; they must come back intact."""
	d = packed_dev(S) if packed else S.ring_dev()
	r = d.loopback(3, size=65000, timeout=3)
	if r:
		raise Fail('64 KiB frames: ' + r)


@attack('ring')
def a_rx_mergeable_tiny_buffers(S, packed=False):
	"""MRG_RXBUF with 16-byte buffers: a frame spread over 13 of them
	must arrive whole, with the right num_buffers."""
	d = packed_dev(S, rx_prepost=False) if packed else \
		S.ring_dev(rx_prepost=False)
	for i in range(d.nbuf):
		d.rx.desc(i, d.gpa(d.rxbuf(i)), 16, DESC_F_WRITE)
	d.rx.push(*range(d.nbuf))
	f = make_frame(b'mergeabl', 7, 196)
	d.send_frame(f)
	deadline = time.monotonic() + 2
	got = []
	while not got and time.monotonic() < deadline:
		got = d.poll_rx()
		time.sleep(0.005)
	if got != [f]:
		raise Fail('frame over tiny buffers arrived as %s' %
				[len(x) for x in got])
	r = d.loopback(4)
	if r:
		raise Fail('afterwards: ' + r)


# ---- running devices reconfigured under traffic

@attack('ring')
def a_running_get_vring_base_restart(S):
	"""GET_VRING_BASE on a running TX ring stops it (link down); a new
	KICK + ENABLE restarts it where it stopped."""
	d = S.ring_dev()
	c = d.conn
	c.send(vhu.GET_VRING_BASE, state(1, 0))
	p = c.reply(vhu.GET_VRING_BASE)
	idx, num = struct.unpack('<II', p)
	if idx != 1 or num != d.tx.avail_idx:
		raise Fail('GET_VRING_BASE answered (%d, %d), expected (1, %d)' %
				(idx, num, d.tx.avail_idx))
	S.wait_link(S.port_a, 'down')
	expect_ack(c, vhu.SET_VRING_BASE, state(1, num))
	expect_ack(c, vhu.SET_VRING_KICK, u64(1), [S.eventfd()])
	expect_ack(c, vhu.SET_VRING_ENABLE, state(1, 1))
	S.wait_link(S.port_a, 'up')
	r = d.loopback(4)
	if r:
		raise Fail('after the restart: ' + r)


@attack('ring')
def a_running_memtable_swaps(S):
	"""30 SET_MEM_TABLE (same memory) while frames flow."""
	d = S.ring_dev()
	for k in range(30):
		expect_ack(d.conn, vhu.SET_MEM_TABLE, mem_table([m.region() for m in
				d.mems]), [m.fd for m in d.mems])
		if k % 5 == 0:
			r = d.loopback(2)
			if r:
				raise Fail('after %d swaps: %s' % (k + 1, r))
	# Only the current table is mapped: the 30 before it are gone.
	# Guest memory is counted, not all mappings: under ASan the
	# allocator maps memory of its own as it goes (1326 vs 1320 seen).
	if S.tp.nguest_maps() > S.base.gmaps + len(d.mems):
		raise Fail('after 30 swaps: %d guest memory mappings (baseline '
				'%d, %d regions)' % (S.tp.nguest_maps(),
				S.base.gmaps, len(d.mems)))


@attack('ring')
def a_running_vring_addr_bad_then_good(S):
	"""A bad SET_VRING_ADDR on a running ring: refused, device stops;
	the right address brings it back."""
	d = S.ring_dev()
	expect_nack(d.conn, vhu.SET_VRING_ADDR, d.tx.addr_payload(
			desc=UVA0 + (64 << 20)), what='SET_VRING_ADDR outside')
	S.wait_link(S.port_a, 'down')
	expect_ack(d.conn, vhu.SET_VRING_ADDR, d.tx.addr_payload())
	S.wait_link(S.port_a, 'up')
	r = d.loopback(4)
	if r:
		raise Fail('after the address was restored: ' + r)


@attack('ring')
def a_running_rings_overlap(S):
	"""desc, avail and used rings at one address while running."""
	d = S.ring_dev()
	a = d.tx.uva(d.tx.desc_off)
	expect_any_ack(d.conn, vhu.SET_VRING_ADDR, d.tx.addr_payload(
			desc=a, avail=a, used=a))
	for k in range(20):
		# The back-end's "avail idx" now lives in the descriptor area.
		d.m.w16(d.tx.desc_off + 2, k * 7)
		time.sleep(0.01)
	alive(d.conn, 'after overlapping rings:')


@attack('ring')
def a_running_used_idx_scribbled(S):
	"""The front-end scribbles used->idx, then re-sends the ring address
	(the back-end resumes from the used index it finds)."""
	d = S.ring_dev()
	d.m.w16(d.tx.used_off + 2, 0x8000)
	expect_any_ack(d.conn, vhu.SET_VRING_ADDR, d.tx.addr_payload())
	d.tx.push(SCR)
	time.sleep(0.1)
	alive(d.conn, 'after the scribble:')


@attack('ring')
def a_running_enable_toggle(S):
	"""SET_VRING_ENABLE 0 stops the TX ring being polled; 1 resumes."""
	d = S.ring_dev()
	expect_ack(d.conn, vhu.SET_VRING_ENABLE, state(1, 0))
	f = make_frame(b'disabled', 3, 90)
	d.send_frame(f)
	time.sleep(0.2)
	if d.tx.used_idx() != d.tx.last_used:
		raise Fail('disabled TX ring was consumed')
	expect_ack(d.conn, vhu.SET_VRING_ENABLE, state(1, 1))
	deadline = time.monotonic() + 2
	got = []
	while f not in got and time.monotonic() < deadline:
		got += d.poll_rx()
		time.sleep(0.005)
	if f not in got:
		raise Fail('frame posted while disabled did not come back')


@attack('ring')
def a_running_features_and_reset(S):
	"""SET_FEATURES with other bits while running, then RESET_OWNER."""
	d = S.ring_dev()
	expect_any_ack(d.conn, vhu.SET_FEATURES, u64(bit(vhu.F_VERSION_1) |
			bit(vhu.F_PROTOCOL_FEATURES)))
	d.send_frame(make_frame(b'features', 0, 70))
	time.sleep(0.05)
	expect_any_ack(d.conn, vhu.RESET_OWNER)
	S.wait_link(S.port_a, 'down')
	try:
		d.conn.get_u64(vhu.GET_FEATURES)
	except (Closed, Timeout, ProtocolError) as e:
		raise Fail('after RESET_OWNER: %s' % e)


@attack('ring')
def a_running_fd_swaps_under_traffic(S):
	"""200 CALL and KICK fd replacements while frames flow (a poll
	thread writes the call fd every burst: the old one may only be
	closed once no poll thread can still use it)."""
	d = S.dev(features=bit(vhu.F_VERSION_1) | bit(vhu.F_PROTOCOL_FEATURES),
			protocol=REPLY_ACK).setup()
	tag = os.urandom(8)
	sent = 0
	for k in range(200):
		req = vhu.SET_VRING_CALL if k % 2 == 0 else vhu.SET_VRING_KICK
		fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
		try:
			expect_ack(d.conn, req, u64(k % 4 // 2), [fd])
		finally:
			os.close(fd)
		try:
			d.send_frame(make_frame(tag, k, 80))
			sent += 1
		except Timeout:
			pass
		d.poll_rx()
	time.sleep(0.05)
	d.poll_rx()
	r = d.loopback(8)
	if r:
		raise Fail('after 200 fd swaps under traffic: ' + r)
	if S.tp.nfds() > S.base.fds + 1 + 4 + 1:
		raise Fail('after 200 fd swaps: %d fds (baseline %d)' %
				(S.tp.nfds(), S.base.fds))


@attack('ring')
def a_running_vring_num_change(S):
	"""SET_VRING_NUM 128, then 64, on rings laid out for 256 while
	running; then back to 256 (with the base where it was)."""
	d = S.ring_dev()
	for n in (128, 64, 32768):
		expect_any_ack(d.conn, vhu.SET_VRING_NUM, state(1, n))
		expect_any_ack(d.conn, vhu.SET_VRING_NUM, state(0, n))
		d.send_frame(make_frame(b'ringsize', n, 80))
		time.sleep(0.05)
		d.poll_rx()
	alive(d.conn, 'after the size changes:')


@attack('ring')
def a_running_memory_swapped(S):
	"""While running, SET_MEM_TABLE with fresh (zeroed) memfds at the
	same addresses: rings and buffers change under the back-end."""
	d = S.ring_dev()
	fresh = [S.memfd(m.size) for m in d.mems]
	expect_ack(d.conn, vhu.SET_MEM_TABLE, mem_table([m.region() for m in
			d.mems]), fresh)
	d.send_frame(make_frame(b'swapped!', 0, 80))
	time.sleep(0.1)
	alive(d.conn, 'after the swap:')


@attack('ring')
def a_running_call_eventfd_saturated(S):
	"""A call eventfd at its maximum count: notifications must not
	block the poll thread."""
	d = S.dev(features=bit(vhu.F_VERSION_1) | bit(vhu.F_PROTOCOL_FEATURES),
			protocol=REPLY_ACK).setup()
	for efd in d.eventfds:
		try:
			os.eventfd_write(efd, 0xfffffffffffffffe)
		except BlockingIOError:
			pass
	r = d.loopback(32)
	if r:
		raise Fail('with saturated call fds: ' + r)


@attack('ring')
def a_running_dirty_log_hostile(S):
	"""Dirty logging with an 8-byte bitmap (covers 256 KiB of a 5 MiB
	guest) and a used-ring log address near 2^64."""
	d = S.ring_dev(protocol=LOGP)
	fd = S.memfd(4096)
	d.conn.send(vhu.SET_LOG_BASE, vhu.LOG.pack(8, 0), [fd])
	d.conn.reply(vhu.SET_LOG_BASE)
	expect_ack(d.conn, vhu.SET_VRING_ADDR, d.rx.addr_payload(flags=1,
			log=0xfffffffffffff000))
	expect_ack(d.conn, vhu.SET_VRING_ADDR, d.tx.addr_payload(flags=1,
			log=0xffffffffffffffff))
	expect_ack(d.conn, vhu.SET_FEATURES, u64(d.features |
			bit(vhu.F_LOG_ALL)))
	r = d.loopback(16, size=1400)
	if r:
		raise Fail('with dirty logging: ' + r)


# ======================================================================
# IOMMU: a port with iommu-support=1 (--sock-i)
# ======================================================================

IOVA0 = 0x40000000
IOMMU_FEATURES = (bit(vhu.F_VERSION_1) | bit(vhu.F_PROTOCOL_FEATURES) |
		bit(vhu.F_IOMMU_PLATFORM) | bit(vhu.F_MRG_RXBUF) |
		bit(vhu.F_INDIRECT_DESC))
IOMMU_PROTO = REPLY_ACK | bit(vhu.P_BACKEND_REQ)
M64 = 0xffffffffffffffff


def iotlb(iova, size, uaddr, perm=3, typ=2):
	return vhu.IOTLB.pack(iova & M64, size & M64, uaddr & M64, perm & 0xff,
			typ & 0xff)


def iommu_dev(S, check=True, packed=False, **kw):
	kw.setdefault('regions', 2)
	cls = PackedNetDev if packed else NetDev
	d = S.keep(cls(S.i, iova=IOVA0, features=IOMMU_FEATURES, **kw))
	d.setup()
	if check and d.rx_prepost:
		r = d.loopback(4)
		if r:
			raise Fail('precondition: the IOMMU port does not loop '
					'back: ' + r)
	return d


def iommu_conn(S):
	"""Negotiated with IOMMU_PLATFORM, with a 1 MiB memory table."""
	c = S.negotiated(IOMMU_PROTO, IOMMU_FEATURES, path=S.i)
	fd = S.memfd(MIB)
	expect_ack(c, vhu.SET_MEM_TABLE, mem_table([region(GPA0, MIB, UVA0,
			0)]), [fd])
	return c


@attack('iommu')
def a_iotlb_update_bad(S):
	"""IOTLB UPDATEs that are empty, wrap, are not 4 KiB aligned, have
	no or unknown permissions, or point outside guest memory."""
	c = iommu_conn(S)
	T = 1 << 64
	cases = (
		('size 0', iotlb(0x1000, 0, UVA0)),
		('iova wraps', iotlb(T - 4096, 8192, UVA0)),
		('uaddr wraps', iotlb(0x1000, 8192, T - 4096)),
		('iova unaligned', iotlb(0x1001, 4096, UVA0)),
		('size unaligned', iotlb(0x1000, 4097, UVA0)),
		('uaddr unaligned', iotlb(0x1000, 4096, UVA0 + 8)),
		('perm 0', iotlb(0x1000, 4096, UVA0, 0)),
		('perm 4', iotlb(0x1000, 4096, UVA0, 4)),
		('perm 0xff', iotlb(0x1000, 4096, UVA0, 0xff)),
		('uaddr outside memory', iotlb(0x1000, 4096, UVA0 + 64 * MIB)),
		('uaddr 0', iotlb(0x1000, 4096, 0)),
		('range past the end of memory', iotlb(0x1000, 2 * MIB, UVA0)),
		('size 2^63', iotlb(0, 1 << 63, UVA0)),
	)
	for what, p in cases:
		expect_nack(c, vhu.IOTLB_MSG, p, what='UPDATE ' + what)
	c.close()
	# Before any memory table.
	c = S.negotiated(IOMMU_PROTO, IOMMU_FEATURES, path=S.i)
	expect_nack(c, vhu.IOTLB_MSG, iotlb(0x1000, 4096, UVA0),
			what='UPDATE before SET_MEM_TABLE')
	c.close()
	# A region that ends in the middle of a page.
	c = S.negotiated(IOMMU_PROTO, IOMMU_FEATURES, path=S.i)
	expect_ack(c, vhu.SET_MEM_TABLE, mem_table([region(GPA0, 6144, UVA0, 0)]),
			[S.memfd(8192)])
	expect_nack(c, vhu.IOTLB_MSG, iotlb(0x1000, 8192, UVA0),
			what='UPDATE over a region ending mid-page')


@attack('iommu')
def a_iotlb_other_types(S):
	"""IOTLB_MSG types a front-end does not send (MISS, ACCESS_FAIL...)."""
	c = iommu_conn(S)
	for t in (0, 1, 4, 5, 0x80, 0xff):
		expect_nack(c, vhu.IOTLB_MSG, iotlb(0x1000, 4096, UVA0, 3, t),
				what='IOTLB_MSG type %d' % t)


@attack('iommu')
def a_iotlb_invalidate_edges(S):
	"""INVALIDATE of nothing, of the whole space, of the top page."""
	c = iommu_conn(S)
	T = 1 << 64
	expect_ack(c, vhu.IOTLB_MSG, iotlb(T - 4096, 4096, UVA0),
			what='UPDATE of the top page')
	for what, p in (('size 0', iotlb(0x1000, 0, 0, 0, 3)),
			('unmapped range', iotlb(0x123000, 4096, 0, 0, 3)),
			('top page', iotlb(T - 4096, 4096, 0, 0, 3)),
			('range ending at 2^64', iotlb(T - (1 << 40), 1 << 40, 0, 0, 3)),
			('whole space', iotlb(0, T - 1, 0, 0, 3)),
			('garbage uaddr/perm', iotlb(0, 4096, M64, 0xff, 3))):
		expect_ack(c, vhu.IOTLB_MSG, p, what='INVALIDATE ' + what)


@attack('iommu')
def a_iotlb_top_of_space_descriptors(S):
	"""A buffer mapped at the top IOVA page; descriptors that run past
	2^64 are bad, one inside the page is fine."""
	d = iommu_dev(S)
	top = (1 << 64) - 4096
	off = d.txbuf(SCR)
	f = make_frame(b'top-iova', 1, 96)
	d.m.write(off, bytes(12) + f)
	if d.iotlb_update(top, 4096, d.m.uva + off) != 0:
		raise Fail('UPDATE of the top page refused')
	before = S.tp.xstat(S.port_i, 'rx_q0_bad_desc')
	d.tx.desc(SCR, top + 4096 - 64, 128, 0)		# wraps
	d.tx.desc(SCR + 1, top + 4000, 0xffffffff, 0)	# wraps
	d.tx.desc(SCR + 2, top, 108, 0)			# fine
	d.tx.push(SCR, SCR + 1, SCR + 2)
	if not wait_tx_returned(d, [SCR, SCR + 1, SCR + 2]):
		raise Fail('chains at the top of the IOVA space not handed back')
	time.sleep(0.05)
	got = d.poll_rx()
	bad = S.tp.xstat(S.port_i, 'rx_q0_bad_desc') - before
	if bad != 2:
		raise Fail('rx_q0_bad_desc +%d, expected +2' % bad)
	if f not in got:
		raise Fail('the frame at the top IOVA page did not come back')
	r = d.loopback(4)
	if r:
		raise Fail('afterwards: ' + r)


@attack('iommu')
def a_iotlb_table_flood(S):
	"""5000 distinct 4 KiB UPDATEs into a table capped at 4096 entries
	while the device runs: old entries are evicted (never the rings'),
	misses for evicted buffers are answered, traffic goes on."""
	d = iommu_dev(S)
	c = d.conn
	W = 50
	for k in range(0, 5000, W):
		msgs = b''.join(HDR.pack(vhu.IOTLB_MSG, VERSION |
			vhu.FLAG_NEED_REPLY, 32) + iotlb(0x100000000 + (k + j) *
			4096, 4096, UVA0 + ((k + j) % 1024) * 4096) for j in range(W))
		c.send_raw(msgs)
		for j in range(W):
			if c.reply_u64(vhu.IOTLB_MSG) != 0:
				raise Fail('UPDATE #%d refused' % (k + j))
	r = d.loopback(8, timeout=3)
	if r:
		raise Fail('after the flood: ' + r)
	print('    (%d misses answered after the evictions)' % len(d.misses))


@attack('iommu')
def a_iotlb_invalidate_rings_running(S):
	"""INVALIDATE the rings' pages under a running device: the back-end
	asks for them again (MISS), gets them, and goes on. The ring pages
	are asked for twice (read for avail, write for used, one page), so
	an UPDATE replaces a mapping while frames flow: no frame may be
	lost to that (they were, when it held every queue without parking)."""
	d = iommu_dev(S)
	if d.iotlb_invalidate(IOVA0, 64 * 1024) != 0:
		raise Fail('INVALIDATE refused')
	r = d.loopback(4, timeout=3)
	if r:
		raise Fail('after the rings were invalidated: ' + r)
	if not d.misses:
		raise Fail('rings invalidated, but no MISS was sent')


@attack('iommu')
def a_iotlb_tx_miss_unanswered(S, packed=False):
	"""TX buffers invalidated and the misses never answered: the
	back-end asks (MISS, read permission), then after the stall limit
	(IOVH_MISS_STALL_MS, 10 s; 1 s for each further chain) hands the
	chains back as bad; mapped again, traffic resumes."""
	d = iommu_dev(S, answer_misses=False, packed=packed)
	before = S.tp.xstat(S.port_i, 'rx_q0_bad_desc')
	lo, n = IOVA0 + d.txbuf_off, BUF * d.qsize
	if d.iotlb_invalidate(lo, n) != 0:
		raise Fail('INVALIDATE refused')
	heads = []
	for k in range(2):
		g, _f = frame_at(d, SCR + 2 * k)
		d.tx.desc(SCR + 2 * k, g, 108, 0)
		heads.append(SCR + 2 * k)
	d.tx.push(*heads)
	t0 = time.monotonic()
	if not wait_tx_returned(d, heads, timeout=15):
		raise Fail('chains of unanswered misses still held after 15 s')
	el = time.monotonic() - t0
	m = d.read_misses()
	if not any(lo <= i < lo + n and p & 1 for i, p in d.misses):
		raise Fail('no MISS for the TX buffers (got %s)' %
				[(hex(i), p) for i, p in m][:4])
	bad = S.tp.xstat(S.port_i, 'rx_q0_bad_desc') - before
	if bad != 2:
		raise Fail('rx_q0_bad_desc +%d, expected +2' % bad)
	if d.iotlb_update(lo, n, d.m.uva + d.txbuf_off) != 0:
		raise Fail('UPDATE refused')
	r = d.loopback(4)
	if r:
		raise Fail('after the buffers were mapped again: ' + r)
	print('    (2 chains handed back after %.1f s)' % el)


def rx_backlog(S, d, n=8):
	"""Invalidate the RX buffers, send n frames: the back-end meets a
	miss on the RX side and parks them."""
	lo, size = IOVA0 + d.rxbuf_off, BUF * d.qsize
	if d.iotlb_invalidate(lo, size) != 0:
		raise Fail('INVALIDATE refused')
	tag = os.urandom(8)
	frames = [make_frame(tag, k, 90) for k in range(n)]
	for f in frames:
		d.send_frame(f)
	time.sleep(0.2)
	return frames, lo, size


@attack('iommu')
def a_iotlb_rx_backlog_answered_late(S):
	"""RX buffers unmapped while frames arrive: they wait (backlog) and
	are delivered, intact and in order, once the MISS is answered."""
	d = iommu_dev(S, answer_misses=False)
	frames, lo, size = rx_backlog(S, d)
	if d.poll_rx():
		raise Fail('frames delivered into unmapped buffers')
	if not any(lo <= i < lo + size for i, _ in d.read_misses()):
		raise Fail('no MISS for the RX buffers')
	d.answer_misses = True
	deadline = time.monotonic() + 3
	got = []
	while len(got) < len(frames) and time.monotonic() < deadline:
		d.serve_misses()
		got += d.poll_rx()
		time.sleep(0.005)
	if got != frames:
		raise Fail('after the late answer got %d of %d frames%s' % (
			len(got), len(frames), ' (out of order or altered)' if
			len(got) == len(frames) else ''))


@attack('iommu')
def a_iotlb_rx_backlog_then_gone(S):
	"""Frames parked for an RX miss, then the front-end vanishes: the
	parked mbufs must go back to the pool (checked after the attack)."""
	d = iommu_dev(S, answer_misses=False)
	rx_backlog(S, d)
	held, _heap = S.tp.pool_and_heap()
	d.close()
	print('    (%d mbufs in use while the frames were parked)' % held)


@attack('iommu')
def a_iotlb_miss_without_channel(S):
	"""The front-end closes its end of the back-end channel, then the
	buffers are unmapped: misses cannot be reported; chains come back
	after the stall time-out, nothing blocks."""
	d = iommu_dev(S, answer_misses=False)
	d.bch.close()
	d.bch = None
	lo, n = IOVA0 + d.txbuf_off, BUF * d.qsize
	expect_ack(d.conn, vhu.IOTLB_MSG, iotlb(lo, n, 0, 0, 3))
	g, _f = frame_at(d, SCR)
	d.tx.desc(SCR, g, 108, 0)
	d.tx.push(SCR)
	if not wait_tx_returned(d, [SCR], timeout=15):
		raise Fail('chain not handed back within 15 s')
	alive(d.conn, 'afterwards:')
	if d.iotlb_update(lo, n, d.m.uva + d.txbuf_off) != 0:
		raise Fail('UPDATE refused')
	r = d.loopback(4)
	if r:
		raise Fail('after the buffers were mapped again: ' + r)


@attack('iommu')
def a_iotlb_permissions(S, packed=False):
	"""TX buffers mapped write-only, RX buffers read-only: nothing may be
	read or written through them. The back-end either refuses the chain
	(bad) or asks for the permission it lacks (a MISS with it); once
	mapped RW, traffic flows."""
	d = iommu_dev(S, answer_misses=False, packed=packed)
	tx_lo, rx_lo, n = IOVA0 + d.txbuf_off, IOVA0 + d.rxbuf_off, BUF * d.qsize
	b_rx = S.tp.xstat(S.port_i, 'rx_q0_bad_desc')
	if d.iotlb_update(tx_lo, n, d.m.uva + d.txbuf_off, 2) != 0:
		raise Fail('UPDATE WO refused')
	g, f = frame_at(d, SCR)
	d.tx.desc(SCR, g, 108, 0)
	d.tx.push(SCR)
	time.sleep(0.3)
	d.read_misses()
	asked = any(tx_lo <= i < tx_lo + n and p & 1 for i, p in d.misses)
	bad = S.tp.xstat(S.port_i, 'rx_q0_bad_desc') - b_rx
	if not asked and not bad:
		raise Fail('a chain in a write-only mapping was neither refused '
				'nor was read permission asked for (misses: %s; TX used '
				'idx %d)' % ([(hex(i), p) for i, p in d.misses][:6],
				d.tx.used_idx()))
	if f in d.poll_rx():
		raise Fail('a frame was read through a write-only mapping')
	if d.iotlb_update(tx_lo, n, d.m.uva + d.txbuf_off, 3) != 0:
		raise Fail('UPDATE RW refused')
	if not wait_tx_returned(d, [SCR], timeout=3):
		raise Fail('chain never handed back')
	# That chain may have been parked and forwarded now: let it land.
	time.sleep(0.1)
	d.poll_rx()
	d.misses = []
	b_tx = S.tp.xstat(S.port_i, 'tx_q0_bad_desc')
	if d.iotlb_update(rx_lo, n, d.m.uva + d.rxbuf_off, 1) != 0:
		raise Fail('UPDATE RO refused')
	ro = make_frame(b'readonly', 0, 80)
	d.send_frame(ro)
	time.sleep(0.3)
	if ro in d.poll_rx():
		raise Fail('a frame was written through a read-only mapping')
	d.read_misses()
	asked = any(rx_lo <= i < rx_lo + n and p & 2 for i, p in d.misses)
	bad = S.tp.xstat(S.port_i, 'tx_q0_bad_desc') - b_tx
	if not asked and not bad:
		raise Fail('RX chains in a read-only mapping were neither '
				'refused nor was write permission asked for')
	if d.iotlb_update(rx_lo, n, d.m.uva + d.rxbuf_off, 3) != 0:
		raise Fail('UPDATE RW refused')
	d.poll_rx()
	r = d.loopback(4)
	if r:
		raise Fail('after RW mappings came back: ' + r)


@attack('iommu')
def a_iotlb_rings_remapped_elsewhere(S):
	"""The ring pages' IOVAs remapped to other (zeroed) memory while
	running, then back."""
	d = iommu_dev(S)
	other = d.m1.uva
	if d.iotlb_update(IOVA0, 64 * 1024, other) != 0:
		raise Fail('UPDATE refused')
	d.send_frame(make_frame(b'elsewher', 0, 80))
	time.sleep(0.1)
	if d.iotlb_update(IOVA0, 64 * 1024, d.m.uva) != 0:
		raise Fail('UPDATE back refused')
	alive(d.conn, 'afterwards:')


@attack('iommu')
def a_iotlb_ring_not_contiguous(S):
	"""A used ring across two IOVA pages that map to host pages not
	following each other: the ring must not be used (refused, or left
	waiting); once the pages are contiguous, traffic flows."""
	d = S.keep(NetDev(S.i, iova=IOVA0, features=IOMMU_FEATURES, regions=2,
			premap=False))
	# The TX used ring straddles the boundary of pages p and p + 1.
	x = d.m.alloc(8192, 4096)
	d.tx.used_off = x + 4096 - 1024
	p1 = x + 4096
	c = d.conn
	d.features, _ = vhu.handshake(c, IOMMU_FEATURES, IOMMU_PROTO)
	d.hdr_len = 12
	expect_ack(c, vhu.SET_MEM_TABLE, mem_table([m.region() for m in d.mems]),
			[m.fd for m in d.mems])
	a, b = socket.socketpair()
	S.keep(b)
	expect_ack(c, vhu.SET_BACKEND_REQ_FD, b'', [a.fileno()])
	a.close()
	# Region 0 mapped 1:1, except page p + 1, taken from region 1.
	expect_ack(c, vhu.IOTLB_MSG, iotlb(IOVA0, p1, UVA0))
	expect_ack(c, vhu.IOTLB_MSG, iotlb(IOVA0 + p1 + 4096, (4 << 20) - p1 -
			4096, UVA0 + p1 + 4096))
	expect_ack(c, vhu.IOTLB_MSG, iotlb(IOVA0 + p1, 4096, d.m1.uva))
	d.setup_ring(d.rx)
	expect_ack(c, vhu.SET_VRING_NUM, state(1, d.qsize))
	expect_ack(c, vhu.SET_VRING_BASE, state(1, 0))
	# Refused now, or accepted and left waiting: either way, not used.
	expect_any_ack(c, vhu.SET_VRING_ADDR, d.tx.addr_payload())
	for req in (vhu.SET_VRING_KICK, vhu.SET_VRING_CALL):
		expect_ack(c, req, u64(1), [S.eventfd()])
	d.post_rx(range(d.nbuf))
	for r in (d.rx, d.tx):
		expect_ack(c, vhu.SET_VRING_ENABLE, state(r.index, 1))
	# The device may run (its TX queue waiting for a usable ring) or
	# not; what must not happen is the ring being used.
	f = make_frame(b'noncontg', 0, 80)
	d.send_frame(f)
	time.sleep(0.2)
	if d.tx.used_idx() != 0 or d.m1.r16(1024 + 2) != 0:
		raise Fail('the TX ring was used while its used ring is not '
				'contiguous in host memory (used idx %d, idx in the '
				'other page %d)' % (d.tx.used_idx(), d.m1.r16(1026)))
	if d.poll_rx():
		raise Fail('a frame went through a ring that is not contiguous')
	expect_ack(c, vhu.IOTLB_MSG, iotlb(IOVA0 + p1, 4096, UVA0 + p1))
	expect_any_ack(c, vhu.SET_VRING_ADDR, d.tx.addr_payload(),
			what='SET_VRING_ADDR once the pages are contiguous')
	S.wait_link(S.port_i, 'up')
	r = d.loopback(4)
	if r:
		raise Fail('once the ring was contiguous: ' + r)


@attack('iommu')
def a_iotlb_churn_under_traffic(S):
	"""400 random UPDATE / INVALIDATE of buffer pages (random
	permissions) while frames flow; misses answered."""
	d = iommu_dev(S)
	rnd = random.Random(99)
	tag = os.urandom(8)
	for k in range(400):
		page = rnd.randrange(d.rxbuf_off // 4096, (d.txbuf_off + BUF *
				d.qsize) // 4096)
		npg = rnd.choice((1, 1, 2, 16))
		if rnd.random() < 0.5:
			d.iotlb_invalidate(IOVA0 + page * 4096, npg * 4096)
		else:
			d.iotlb_update(IOVA0 + page * 4096, npg * 4096,
					UVA0 + page * 4096, rnd.choice((1, 2, 3, 3)))
		if k % 4 == 0:
			try:
				d.send_frame(make_frame(tag, k, 70))
			except Timeout:
				pass
		d.serve_misses()
		d.poll_rx()
	for base, size, uaddr in d.region_iovas():
		d.iotlb_update(base, size, uaddr)
	# RX chains refused (bad) on the way were handed back: repost.
	time.sleep(1.2)
	d.poll_rx()
	d.reclaim_tx()
	r = d.loopback(8, timeout=3)
	if r:
		raise Fail('after the churn: ' + r)


# ======================================================================
# Client mode: the back-end connects to us (--sock-c, client=1)
# ======================================================================

def client_listen(S, backlog=8):
	"""Listen where the client-mode port connects to."""
	try:
		os.unlink(S.c)
	except FileNotFoundError:
		pass
	ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM |
			socket.SOCK_CLOEXEC)
	ls.bind(S.c)
	ls.listen(backlog)
	S.keep(ls)
	S.keep(Unlinker(S.c))
	return ls


class Unlinker:
	def __init__(self, path):
		self.path = path

	def close(self):
		try:
			os.unlink(self.path)
		except FileNotFoundError:
			pass


def client_accept(S, ls, timeout=4.0):
	"""The back-end's next connection (it backs off up to 2 s)."""
	ls.settimeout(timeout)
	try:
		s, _ = ls.accept()
	except socket.timeout:
		raise Fail('the client-mode back-end did not connect within '
				'%.0f s' % timeout)
	s.settimeout(2.0)
	return S.keep(Conn(S.c, sock=s))


@attack('client')
def a_client_backlog_full(S):
	"""The server's backlog is full (it never accepts): the back-end
	must back off (100 ms doubling to 2 s), not report front-ends."""
	ls = client_listen(S, 0)
	dummy = S.keep(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
	dummy.setblocking(False)
	try:
		dummy.connect(S.c)
	except BlockingIOError:
		pass
	mark = S.tp.log_size()
	time.sleep(3)
	log = S.tp.log_since(mark)
	pat = '(%s) front-end connected' % S.c
	n = log.count(pat)
	_ = ls
	if n > 2:
		raise Fail('%d phantom "front-end connected" (each followed by '
			'"front-end disconnected: Invalid argument") in 3 s: an '
			'EAGAIN from an AF_UNIX connect taken for "in progress", '
			'the unconnected socket attached, the back-off reset' % n)


@attack('client')
def a_client_hostile_servers(S):
	"""The back-end, as a client, meets servers that hang up at once,
	send 9 fds, send a wrong version, or never speak; it reconnects
	each time, and finally serves a proper front-end (traffic flows)."""
	ls = client_listen(S)
	for k in range(3):
		c = client_accept(S, ls)
		c.close(wait=False)
	c = client_accept(S, ls)
	expect_close(c, vhu.SET_FEATURES, u64(0), [S.eventfd() for _ in range(9)],
			what='9 fds from the server side')
	c = client_accept(S, ls)
	expect_close(c, vhu.GET_FEATURES, flags=0, what='version 0')
	c = client_accept(S, ls)
	d = S.keep(NetDev(S.c, conn=c)).setup()
	r = d.loopback(8)
	if r:
		raise Fail('client-mode port after the hostile servers: ' + r)
	d.close()


# ======================================================================
# Memory truncated under the back-end (the SIGBUS guard). Each case runs on
# a testpmd of its own (test_hostile.sh phase S): without the guard the
# first one kills the process.
# ======================================================================

def expect_survived(S, d, what, hangup=True):
	"""testpmd alive 1 s after the truncation; the front-end that did
	it is disconnected (hangup) rather than served from bad memory."""
	deadline = time.monotonic() + 1.0
	while time.monotonic() < deadline and S.tp.alive():
		time.sleep(0.05)
	if not S.tp.alive():
		tail = S.tp.log_tail(600).strip().splitlines()[-3:]
		raise Fail('testpmd died after %s (%s); log ends: %s' % (what,
				S.tp.exit_info(), ' | '.join(tail)))
	if hangup:
		try:
			d.conn.wait_hangup(3.0)
		except Timeout:
			raise Fail('after %s the device is still served (no '
					'disconnect within 3 s)' % what)


@attack('sigbus')
def a_memfd_shrunk_while_running(S):
	"""ftruncate(memfd, 0) while the device runs and testpmd polls it:
	the back-end must survive and drop the device."""
	d = S.dev(features=bit(vhu.F_VERSION_1) | bit(vhu.F_PROTOCOL_FEATURES),
			protocol=REPLY_ACK).setup()
	r = d.loopback(4)
	if r:
		raise Fail('precondition: ' + r)
	d.m.dead = True		# our own mapping would fault too
	os.ftruncate(d.m.fd, 0)
	expect_survived(S, d, 'truncating the running guest memory to 0')


@attack('sigbus')
def a_memfd_shrunk_under_buffers(S):
	"""Truncated to 64 KiB: the rings stay, the packet buffers go; frames
	sent and received touch the missing pages."""
	d = S.dev(features=bit(vhu.F_VERSION_1) | bit(vhu.F_PROTOCOL_FEATURES),
			protocol=REPLY_ACK).setup()
	r = d.loopback(4)
	if r:
		raise Fail('precondition: ' + r)
	os.ftruncate(d.m.fd, 64 * 1024)
	d.m.dead = True
	# Post a TX chain by hand (the buffer page is gone: write nothing).
	d.tx.desc(SCR, d.gpa(d.txbuf(SCR)), 108, 0)
	d.tx.push(SCR)
	expect_survived(S, d, 'truncating the packet buffers away')


@attack('sigbus')
def a_memfd_shrunk_before_rings(S):
	"""Truncated after SET_MEM_TABLE, before SET_VRING_ADDR: the control
	thread reads the used index of a ring in the missing pages."""
	c = S.negotiated(features=bit(vhu.F_VERSION_1) |
			bit(vhu.F_PROTOCOL_FEATURES))
	fd = S.memfd(MIB)
	expect_ack(c, vhu.SET_MEM_TABLE, mem_table([region(GPA0, MIB, UVA0, 0)]),
			[fd])
	os.ftruncate(fd, 0)
	expect_ack(c, vhu.SET_VRING_NUM, state(0, 256))
	expect_any_ack(c, vhu.SET_VRING_ADDR, vring_addr(0))
	time.sleep(0.3)
	if not S.tp.alive():
		raise Fail('testpmd died when its control thread translated a '
				'ring in truncated memory (%s)' % S.tp.exit_info())


@attack('sigbus')
def a_log_shrunk_while_logging(S):
	"""Dirty logging on, traffic flowing, then the log file is truncated:
	the next dirty-bit write touches a missing page."""
	d = S.dev(features=bit(vhu.F_VERSION_1) | bit(vhu.F_PROTOCOL_FEATURES),
			protocol=REPLY_ACK | bit(vhu.P_LOG_SHMFD)).setup()
	# One bit per 4 KiB page from guest-physical 0: GPA0 (4 GiB) is
	# 128 KiB into the bitmap.
	fd = S.memfd(256 * 1024)
	d.conn.send(vhu.SET_LOG_BASE, vhu.LOG.pack(256 * 1024, 0), [fd])
	d.conn.reply(vhu.SET_LOG_BASE)
	expect_ack(d.conn, vhu.SET_FEATURES, u64(d.features | bit(vhu.F_LOG_ALL)))
	r = d.loopback(4)
	if r:
		raise Fail('precondition (logging on): ' + r)
	import mmap as _mmap
	with _mmap.mmap(fd, 256 * 1024) as lm:
		if not any(lm[128 * 1024:132 * 1024]):
			raise Fail('precondition: no dirty bit set for the frames '
					'received')
	os.ftruncate(fd, 0)
	try:
		d.loopback(4, timeout=1)
	except (Closed, Timeout, OSError):
		pass
	expect_survived(S, d, 'truncating the dirty log')


# ======================================================================
# Runner
# ======================================================================

# ======================================================================
# Packed rings (VIRTIO_F_RING_PACKED): hostile descriptor rings, ring
# state and event areas; with an IOMMU, unmapped and read-only IOVAs
# ======================================================================

PACKED_FEATURES = RING_FEATURES & ~bit(vhu.F_EVENT_IDX)
PACKED_PROTO = REPLY_ACK


def packed_dev(S, check=True, **kw):
	kw.setdefault('regions', 2)
	kw.setdefault('features', PACKED_FEATURES)
	d = S.keep(PackedNetDev(S.a, protocol=PACKED_PROTO, **kw)).setup()
	if check and d.rx_prepost:
		r = d.loopback(4)
		if r:
			raise Fail('precondition: port A does not loop back over '
					'packed rings: ' + r)
	return d


def packed_case(S, build, expect):
	"""Make hostile TX buffers available (build(d) posts them with
	d.tx.post and returns their ids). expect: 'bad' (each handed back
	unused, counted in rx_q0_bad_desc, the ring keeps working) or
	'broken' (nothing handed back, the ring is dropped with one count
	and an error line; a new front-end on the port passes traffic)."""
	d = packed_dev(S)
	before = S.tp.xstat(S.port_a, 'rx_q0_bad_desc')
	ids = build(d)
	allowed = []
	if isinstance(ids, tuple):
		ids, allowed = ids
	if expect in ('bad', 'ok'):
		if not wait_tx_returned(d, ids):
			raise Fail('buffers not handed back within 2 s (%d of %d '
					'used)' % (d.tx.used_idx(), d.tx.avail_idx))
	else:
		deadline = time.monotonic() + 2
		while S.tp.xstat(S.port_a, 'rx_q0_bad_desc') == before:
			if time.monotonic() > deadline:
				raise Fail('ring not dropped within 2 s (bad_desc '
						'unchanged)')
			time.sleep(0.02)
		time.sleep(0.1)
	time.sleep(0.05)
	d.reclaim_tx()
	back = d.poll_rx()
	frames = [f for f in back if f not in allowed]
	bad = S.tp.xstat(S.port_a, 'rx_q0_bad_desc') - before
	want = {'bad': len(ids), 'ok': 0}.get(expect, 1)
	if expect == 'ok' and [f for f in allowed if f not in back]:
		raise Fail('valid buffers did not come back intact (%d frames '
				'back: %s)' % (len(back), ['%d bytes, %s' % (len(f),
				next(('first difference from sent frame %d at '
				'byte %d' % (k, j) for k, w in enumerate(allowed)
				for j in range(min(len(f), len(w))) if f[j] != w[j]
				and f[14:18] == w[14:18] and f[18:26] == w[18:26]),
				'tag ' + repr(f[18:26]))) for f in back]))
	if bad != want:
		raise Fail('rx_q0_bad_desc +%d, expected +%d' % (bad, want))
	if frames:
		raise Fail('%d frame(s) forwarded from hostile buffers' %
				len(frames))
	if expect in ('bad', 'ok'):
		r = d.loopback(4)
		if r:
			raise Fail('after the hostile buffers, port A: ' + r)
		return
	if [i for i in d.tx_scratch_used if i in ids]:
		raise Fail('a broken ring handed buffers back: %s' %
				d.tx_scratch_used)
	# (Its error line is rate-limited to one a second: not checked.)
	d.close()
	packed_dev(S)	# a new front-end: loops back, or Fail


def hostile_packed(name, expect='bad'):
	def deco(build):
		add('packed_' + name, lambda S: packed_case(S, build, expect),
				'packed')
		return build
	return deco


def pframe(d, i=SCR):
	g, _f = frame_at(d, i)
	return g


@hostile_packed('chain_never_ends', 'broken')
def _(d):
	"""NEXT on every slot, wrapping round the ring (the slots past the
	end claim the next lap, as a real chain would)."""
	g = pframe(d)
	d.reclaim_tx()
	if d.tx.outstanding:
		raise Fail('precondition: %d TX slots still held' %
				d.tx.outstanding)
	d.tx.post([(g, 16, DESC_F_NEXT)] * d.tx.size, SCR)
	return [SCR]


@hostile_packed('chain_never_ends_same_lap', 'broken')
def _(d):
	"""NEXT on every slot, all flags in the current lap."""
	g = pframe(d)
	d.tx.post([(g, 16, DESC_F_NEXT)] * d.tx.size, SCR,
			phase=d.tx.avail_wrap)
	return [SCR]


@hostile_packed('id_out_of_range', 'broken')
def _(d):
	g = pframe(d)
	d.tx.post([(g, 108, 0)], 0xffff)
	return [0xffff]


@hostile_packed('id_size', 'broken')
def _(d):
	g = pframe(d)
	d.tx.post([(g, 108, 0)], d.tx.size)
	return [d.tx.size]


@hostile_packed('id_out_of_range_last_of_chain', 'broken')
def _(d):
	"""The id that counts is the last descriptor's."""
	g = pframe(d)
	d.tx.post([(g, 12, DESC_F_NEXT), (g + 12, 96, 0)], SCR,
			ids=[SCR, 0x8000])
	return [SCR]


@hostile_packed('id_reused_in_flight', 'broken')
def _(d):
	"""Two buffers with one id, made available together (the first
	one's flags stored last): the second meets the first in flight.
	The first, a valid frame, may go through."""
	g, f = frame_at(d, SCR)
	r = d.tx
	o, w = r.desc_off + 16 * r.avail_pos, r.avail_wrap
	r.post([(g, 108, 0)], SCR, phase=w ^ 1)	# not available yet
	r.post([(g, 108, 0)], SCR + 1, ids=[SCR])
	d.m.w16(o + 14, avail_bits_of(w))
	return [SCR + 1], [f]


def ptable(d, i, entries):
	"""An indirect table (packed descriptors: addr, len, id, flags)."""
	off = d.txbuf(i + 1)
	for k, (a, ln, fl) in enumerate(entries):
		d.m.write(off + 16 * k, vhu.DESC.pack(a & M64, ln & 0xffffffff,
				0, fl))
	return d.gpa(off), 16 * len(entries)


@hostile_packed('indirect_bad_sizes')
def _(d):
	g = pframe(d)
	t, _tl = ptable(d, SCR, [(g, 108, 0)])
	for k, ln in enumerate((17, 0, 8, 0xfffffff0, 0xffffffff, 16 * 65536)):
		d.tx.post([(t, ln, DESC_F_INDIRECT)], SCR + k)
	return list(range(SCR, SCR + 6))


@hostile_packed('indirect_nested')
def _(d):
	g = pframe(d)
	t2, tl2 = ptable(d, SCR + 2, [(g, 108, 0)])
	t, tl = ptable(d, SCR, [(t2, tl2, DESC_F_INDIRECT)])
	d.tx.post([(t, tl, DESC_F_INDIRECT)], SCR)
	return [SCR]


@hostile_packed('indirect_with_next')
def _(d):
	g = pframe(d)
	t, tl = ptable(d, SCR, [(g, 108, 0)])
	d.tx.post([(t, tl, DESC_F_INDIRECT | DESC_F_NEXT), (g, 108, 0)], SCR)
	return [SCR]


@hostile_packed('indirect_table_outside_memory')
def _(d):
	d.tx.post([(0x1000, 32, DESC_F_INDIRECT)], SCR)
	d.tx.post([(M64 - 15, 32, DESC_F_INDIRECT)], SCR + 1)
	return [SCR, SCR + 1]


@hostile_packed('len_overflows')
def _(d):
	g = pframe(d)
	d.tx.post([(0xfffffffffffffff0, 0x100, 0)], SCR)
	d.tx.post([(M64, 0xffffffff, 0)], SCR + 1)
	d.tx.post([(g, 0xffffffff, 0)], SCR + 2)
	d.tx.post([(g, 12, DESC_F_NEXT), (g + 12, 0xffffffff, 0)], SCR + 3)
	return [SCR, SCR + 1, SCR + 2, SCR + 3]


@hostile_packed('buffers_outside_memory')
def _(d):
	d.tx.post([(0x1000, 108, 0)], SCR)
	d.tx.post([(GPA0 + (5 << 20), 108, 0)], SCR + 1)	# past region 1
	d.tx.post([(GPA0 - 12, 108, 0)], SCR + 2)		# starts below
	d.tx.post([(GPA0 + (5 << 20) - 64, 128, 0)], SCR + 3)	# runs past
	return [SCR, SCR + 1, SCR + 2, SCR + 3]


@hostile_packed('write_on_tx')
def _(d):
	g = pframe(d)
	d.tx.post([(g, 108, DESC_F_WRITE)], SCR)
	d.tx.post([(g, 12, DESC_F_NEXT), (g + 12, 96, DESC_F_WRITE)], SCR + 1)
	return [SCR, SCR + 1]


def packed_rx_case(S, build, expect='bad', size=96):
	"""Hostile RX buffers (build(d) posts them with d.rx.post and
	returns their ids) before the good ones, then a frame for us.
	expect 'bad': each handed back with len 0, counted in
	tx_q0_bad_desc, the frame lands in a good buffer; 'any': the same
	but the frame may land in one of them; 'broken': the ring is
	dropped (one count, nothing handed back, no frame), a new front-end
	passes traffic."""
	d = packed_dev(S, rx_prepost=False)
	before = S.tp.xstat(S.port_a, 'tx_q0_bad_desc')
	ids = build(d)
	if expect == 'broken':
		f = make_frame(b'broken!!', 0, size)
		d.send_frame(f)
		deadline = time.monotonic() + 2
		while S.tp.xstat(S.port_a, 'tx_q0_bad_desc') == before:
			if time.monotonic() > deadline:
				raise Fail('RX ring not dropped within 2 s')
			time.sleep(0.02)
		time.sleep(0.1)
		if d.poll_rx() or d.rx_scratch_used:
			raise Fail('a dropped RX ring was written to (%s)' %
					d.rx_scratch_used)
		bad = S.tp.xstat(S.port_a, 'tx_q0_bad_desc') - before
		if bad != 1:
			raise Fail('tx_q0_bad_desc +%d, expected +1' % bad)
		d.close()
		packed_dev(S)
		return
	d.post_rx(range(d.nbuf))
	if expect == 'any':
		d.send_frame(make_frame(b'priming!', 0, size))
		time.sleep(0.2)
		d.poll_rx()
	r = d.loopback(2, size=size)
	if r:
		raise Fail('with hostile RX buffers in front: ' + r)
	if expect == 'bad':
		got = dict(d.rx_scratch_used)
		missing = [i for i in ids if i not in got]
		if missing:
			raise Fail('bad RX buffers %s not handed back' % missing)
		nz = [(i, ln) for i, ln in d.rx_scratch_used if ln != 0]
		if nz:
			raise Fail('bad RX buffers handed back with data: %s' % nz)
		bad = S.tp.xstat(S.port_a, 'tx_q0_bad_desc') - before
		if bad != len(ids):
			raise Fail('tx_q0_bad_desc +%d, expected +%d' %
					(bad, len(ids)))
	r = d.loopback(4)
	if r:
		raise Fail('afterwards: ' + r)


def hostile_packed_rx(name, expect='bad', size=96):
	def deco(build):
		add('packed_rx_' + name, lambda S: packed_rx_case(S, build,
				expect, size), 'packed')
		return build
	return deco


W = DESC_F_WRITE


@hostile_packed_rx('read_only_buffer')
def _(d):
	d.rx.post([(scratch_rx(d, SCR), BUF, 0)], SCR)
	d.rx.post([(scratch_rx(d, SCR + 1), 12, W | DESC_F_NEXT),
			(scratch_rx(d, SCR + 2), BUF, 0)], SCR + 1)
	return [SCR, SCR + 1]


@hostile_packed_rx('outside_memory')
def _(d):
	d.rx.post([(0x2000, BUF, W)], SCR)
	d.rx.post([(0xfffffffffffff000, 0x2000, W)], SCR + 1)
	d.rx.post([(GPA0 + (5 << 20) - 20, BUF, W)], SCR + 2)
	return [SCR, SCR + 1, SCR + 2]


@hostile_packed_rx('too_small_for_header')
def _(d):
	for k, ln in enumerate((0, 4, 11)):
		d.rx.post([(scratch_rx(d, SCR + k), ln, W)], SCR + k)
	return [SCR, SCR + 1, SCR + 2]


@hostile_packed_rx('indirect_bad')
def _(d):
	t = d.gpa(d.rxbuf(SCR + 10))
	d.m.write(d.rxbuf(SCR + 10), vhu.DESC.pack(t, 16, 0, W |
			DESC_F_INDIRECT))
	d.rx.post([(t, 16, DESC_F_INDIRECT)], SCR)		# nested
	d.rx.post([(t, 20, DESC_F_INDIRECT)], SCR + 1)		# bad length
	d.rx.post([(0x30, 16, DESC_F_INDIRECT)], SCR + 2)	# outside
	d.rx.post([(t, 0, DESC_F_INDIRECT)], SCR + 3)		# empty
	d.rx.post([(t, 16, DESC_F_INDIRECT | DESC_F_NEXT),	# with NEXT
			(scratch_rx(d, SCR), BUF, W)], SCR + 4)
	return [SCR, SCR + 1, SCR + 2, SCR + 3, SCR + 4]


@hostile_packed_rx('len_0xffffffff', 'any')
def _(d):
	d.rx.post([(scratch_rx(d, SCR), 0xffffffff, W)], SCR)
	return [SCR]


@hostile_packed_rx('id_out_of_range', 'broken')
def _(d):
	d.rx.post([(scratch_rx(d, SCR), BUF, W)], 0x7fff)
	return [0x7fff]


@hostile_packed_rx('chain_never_ends', 'broken', size=1400)
def _(d):
	d.rx.post([(scratch_rx(d, SCR), 1, W | DESC_F_NEXT)] *
			(d.rx.size - 1) + [(scratch_rx(d, SCR), 1,
			W | DESC_F_NEXT)], SCR)
	return [SCR]


@hostile_packed('buffer_across_regions', 'ok')
def _(d):
	"""Valid: a buffer running from region 0 into region 1."""
	end = d.m.gpa + d.m.size
	f = make_frame(b'straddle', 1, 200)
	data = bytes(12) + f
	straddle(d, data, end - 100)
	d.tx.post([(end - 100, len(data), 0)], SCR)
	return [SCR], [f]


@hostile_packed('indirect_across_regions', 'ok')
def _(d):
	"""Valid: an indirect table running from region 0 into region 1
	(whole entries on each side: read entry by entry)."""
	end = d.m.gpa + d.m.size
	f = make_frame(b'straddl2', 2, 200)
	g = d.gpa(d.txbuf(SCR + 1))
	d.m.write(d.txbuf(SCR + 1), bytes(12) + f)
	tab = vhu.DESC.pack(g, 12, 0, 0) + vhu.DESC.pack(g + 12, 200, 0, 0)
	straddle(d, tab, end - 16)
	d.tx.post([(end - 16, 32, DESC_F_INDIRECT)], SCR + 1)
	return [SCR + 1], [f]


@attack('packed')
def a_packed_tx_rewritten_concurrently(S):
	"""A thread rewrites addr and len of every TX ring slot with random
	good and bad values while the back-end walks them (read-once): every
	single-slot buffer must still come back, the ring stay usable."""
	d = packed_dev(S)
	d.reclaim_tx()
	g, _f = frame_at(d, SCR)
	stop = []
	rnd = random.Random(4321)
	addrs = (g, g + 12, 0, 0xfffffffffffffff0, GPA0 + (5 << 20) - 8)
	lens = (0, 12, 60, 108, 1500, 0xffffffff, 300000)
	r = d.tx

	def flipper():
		while not stop:
			for k in range(r.size):
				d.m.write(r.desc_off + 16 * k, struct.pack('<QI',
					rnd.choice(addrs), rnd.choice(lens)))

	ids = list(range(SCR, SCR + 64))
	th = threading.Thread(target=flipper, daemon=True)
	th.start()
	posted = returned = 0
	t0 = time.monotonic()
	try:
		for i in ids:
			r.post([(g, 108, 0)], i)
		posted += len(ids)
		while time.monotonic() - t0 < 1.0:
			d.reclaim_tx()
			back = d.tx_scratch_used
			d.tx_scratch_used = []
			returned += len(back)
			for i in back:
				r.post([(g, 108, 0)], i)
			posted += len(back)
			d.poll_rx()
			time.sleep(0.001)
	finally:
		stop.append(1)
		th.join()
	deadline = time.monotonic() + 2
	while returned < posted and time.monotonic() < deadline:
		d.reclaim_tx()
		returned += len(d.tx_scratch_used)
		d.tx_scratch_used = []
		time.sleep(0.005)
	if returned != posted:
		raise Fail('%d buffers posted, %d handed back' % (posted, returned))
	if posted < 200:
		raise Fail('only %d buffers processed in 1 s' % posted)
	time.sleep(0.1)
	d.poll_rx()
	r2 = d.loopback(4)
	if r2:
		raise Fail('after %d rewritten buffers: %s' % (posted, r2))
	print('    (%d buffers posted while being rewritten)' % posted)


@attack('packed')
def a_packed_event_idx_garbage(S):
	"""EVENT_IDX on packed rings with a driver event area saying "notify
	at descriptor 0x7fff of lap 1" (past the ring) and flags 3 (reserved):
	traffic flows."""
	d = packed_dev(S, check=False, features=PACKED_FEATURES |
			bit(vhu.F_EVENT_IDX))
	if not d.features & bit(vhu.F_EVENT_IDX):
		raise Fail('precondition: EVENT_IDX not negotiated')
	for ring in (d.rx, d.tx):
		d.m.w16(ring.drv_off, 0xffff)		# off_wrap
		d.m.w16(ring.drv_off + 2, 3)		# flags
	r = d.loopback(8)
	if r:
		raise Fail(r)
	for ring in (d.rx, d.tx):
		d.m.w16(ring.drv_off + 2, 2)		# DESC, off 0x7fff
	r = d.loopback(8)
	if r:
		raise Fail('with flags DESC: ' + r)


@attack('packed')
def a_packed_odd_ring_sizes(S):
	"""Packed rings may have any size up to 2^15: sizes 255, 5 and 1
	(batches of four meet the ring's end anywhere, a one-slot ring
	wraps on every buffer) pass traffic, through several laps."""
	for qsize, nbuf, n, rounds in ((255, 120, 8, 80), (5, 3, 2, 20),
			(1, 1, 1, 12)):
		d = packed_dev(S, check=False, qsize=qsize, nbuf=nbuf)
		for k in range(rounds):
			r = d.loopback(n, timeout=3)
			if r:
				raise Fail('ring size %d, round %d: %s' %
						(qsize, k, r))
		d.close()


@attack('packed')
def a_packed_broken_ring_set_up_again(S):
	"""A TX ring dropped for an id out of range, stopped with
	GET_VRING_BASE (which must name the slot it stopped at, in both
	halves) and set up again from there on the same connection: the
	front-end puts a valid buffer in that slot, traffic flows."""
	d = packed_dev(S)
	d.reclaim_tx()
	r = d.tx
	before = S.tp.xstat(S.port_a, 'rx_q0_bad_desc')
	want = r.base_state()
	g, _f = frame_at(d, SCR)
	r.post([(g, 108, 0)], 0xfff0)
	deadline = time.monotonic() + 2
	while S.tp.xstat(S.port_a, 'rx_q0_bad_desc') == before:
		if time.monotonic() > deadline:
			raise Fail('ring not dropped within 2 s')
		time.sleep(0.02)
	d.conn.send(vhu.GET_VRING_BASE, state(1, 0))
	rep = d.conn.reply(vhu.GET_VRING_BASE)
	idx, num = vhu.STATE.unpack(rep[:vhu.STATE.size])
	if idx != 1 or num != want | want << 16:
		raise Fail('GET_VRING_BASE answered (%u, %#x), expected (1, %#x)'
				% (idx, num, want | want << 16))
	d.setup_ring(r, want)
	vhu._set(d.conn, d.conn.acks, vhu.SET_VRING_ENABLE, state(1, 1))
	d.tx_free = list(range(d.nbuf))
	d.tx_out = {}
	r2 = d.loopback(8)
	if r2:
		raise Fail('ring set up again at slot %d: %s' % (want & 0x7fff, r2))


@attack('packed')
def a_packed_wrong_wrap(S):
	"""Slots whose flags claim the wrong lap (available in the other
	one, or used) are not available: nothing is taken, counted or
	forwarded; the same slot with the right flags then goes through."""
	d = packed_dev(S)
	before = S.tp.xstat(S.port_a, 'rx_q0_bad_desc')
	r = d.tx
	w = r.avail_wrap
	o = r.desc_off + 16 * r.avail_pos
	g, f = frame_at(d, SCR)
	d.m.write(o, vhu.DESC.pack(g, 108, SCR, 0)[:14])
	for fl in (avail_bits_of(w ^ 1), F_AVAIL_ | F_USED_, 0,
			avail_bits_of(w ^ 1) | DESC_F_NEXT):
		d.m.w16(o + 14, fl)
		want = d.m.read(o, 16)
		time.sleep(0.15)
		# A device that took the slot writes a used descriptor there.
		if d.m.read(o, 16) != want or f in d.poll_rx():
			raise Fail('a slot with flags %#x (lap %d) was taken' %
					(fl, w))
	if S.tp.xstat(S.port_a, 'rx_q0_bad_desc') != before:
		raise Fail('slots not available were counted as bad')
	r.post([(g, 108, 0)], SCR)
	if not wait_tx_returned(d, [SCR]):
		raise Fail('the slot, made available properly, was not taken')
	time.sleep(0.05)
	if f not in d.poll_rx():
		raise Fail('its frame did not come back')
	r2 = d.loopback(4)
	if r2:
		raise Fail('then: ' + r2)


@attack('packed')
def a_packed_vring_base_bad(S):
	"""SET_VRING_BASE past the ring is refused; garbage in the upper
	(used) half is taken with a warning; a ring started mid-way in lap
	0 by a well-formed base passes traffic from there."""
	c = S.negotiated(REPLY_ACK, PACKED_FEATURES | bit(vhu.F_RING_PACKED))
	expect_ack(c, vhu.SET_VRING_NUM, state(0, 256))
	for num in (256, 0x7fff, 0x8000 | 256, 0xffff, 0xffffffff, 0x8000ffff):
		expect_nack(c, vhu.SET_VRING_BASE, state(0, num),
				what='packed base %#x' % num)
	for num in (0xdead8000, 0x12340005, 0xffff0000):
		expect_ack(c, vhu.SET_VRING_BASE, state(0, num),
				what='packed base %#x' % num)
	c.close()
	# Slot 5 of lap 0, upper half garbage (bits 16-31 are the used side).
	d = packed_dev(S, base=0xabcd0005)
	# Enough frames to wrap both rings into lap 1.
	for _ in range(70):
		r = d.loopback(4, timeout=3)
		if r:
			raise Fail('ring started at slot 5 of lap 0: ' + r)
	if d.tx.avail_wrap != 1:
		raise Fail('harness: TX did not wrap (slot %d)' % d.tx.avail_pos)


@attack('packed')
def a_packed_event_area_outside_memory(S):
	"""SET_VRING_ADDR with the driver or device event suppression area,
	or the descriptor ring, outside guest memory (or running past its
	end) is refused; the same connection then sets the ring up right."""
	d = PackedNetDev(S.a, features=PACKED_FEATURES, protocol=PACKED_PROTO)
	S.keep(d)
	c = d.conn
	d.features, d.protocol = vhu.handshake(c, d.want_features,
			d.want_protocol)
	expect_ack(c, vhu.SET_MEM_TABLE, mem_table([d.m.region()]), [d.m.fd])
	r = d.tx
	expect_ack(c, vhu.SET_VRING_NUM, state(1, r.size))
	expect_ack(c, vhu.SET_VRING_BASE, state(1, 0x8000))
	end = UVA0 + d.m.size
	for what, kw in (
			('driver area below memory', dict(avail=0x1000)),
			('driver area past memory', dict(avail=end)),
			('driver area straddling the end', dict(avail=end - 2)),
			('device area past memory', dict(used=end + 4096)),
			('device area at 2^64 - 2', dict(used=M64 - 1)),
			('descriptors past memory', dict(desc=end - 16 * 8))):
		expect_nack(c, vhu.SET_VRING_ADDR, r.addr_payload(**kw),
				what=what)
	c.close()
	d.conn = None
	d.close()
	packed_dev(S)


def packed_ring_span(d):
	"""[lo, hi) of region 0 holding both packed rings, whole pages."""
	lo = min(d.rx.desc_off, d.tx.desc_off) & ~0xfff
	hi = (max(d.rx.dev_off, d.tx.dev_off) + 4 + 0xfff) & ~0xfff
	return lo, hi


def avail_bits_of(w):
	return F_AVAIL_ if w else F_USED_


F_AVAIL_ = 1 << 7
F_USED_ = 1 << 15


@attack('packed')
def a_packed_vring_addr_spanning_regions(S):
	"""A packed descriptor ring or event area across two regions
	adjacent in front-end space: refused (one mapping each), and the
	same addresses inside one region are taken."""
	c = S.negotiated(REPLY_ACK, PACKED_FEATURES | bit(vhu.F_RING_PACKED))
	expect_ack(c, vhu.SET_MEM_TABLE, mem_table([
		region(GPA0, MIB, UVA0, 0),
		region(GPA0 + MIB, MIB, UVA0 + MIB, 0)]),
		[S.memfd(MIB), S.memfd(MIB)])
	expect_ack(c, vhu.SET_VRING_NUM, state(1, 256))
	expect_ack(c, vhu.SET_VRING_BASE, state(1, 0x8000))
	b = UVA0 + MIB
	for what, p in (('descriptor ring', vring_addr(1, desc=b - 2048)),
			('driver area', vring_addr(1, avail=b - 2)),
			('device area', vring_addr(1, used=b - 3))):
		expect_nack(c, vhu.SET_VRING_ADDR, p, what='%s across the '
				'region boundary' % what)
	expect_ack(c, vhu.SET_VRING_ADDR, vring_addr(1, desc=b - 4096,
			avail=b - 4, used=b + 4096), what='packed ring ending at '
			'the boundary, event areas on either side')


@attack('packed')
def a_packed_iommu_ring_unmapped(S):
	"""Packed rings at IOVAs nothing maps (misses never answered): no
	traffic, no crash; once mapped, traffic flows."""
	d = iommu_dev(S, packed=True, check=False, premap=False,
			answer_misses=False)
	# Only the buffers are mapped: the rings are not.
	lo = IOVA0 + d.rxbuf_off
	n = d.txbuf_off + BUF * d.qsize - d.rxbuf_off
	if d.iotlb_update(lo, n, d.m.uva + d.rxbuf_off) != 0:
		raise Fail('UPDATE of the buffers refused')
	if d.iotlb_update(IOVA0 + (4 << 20), 1 << 20, d.m1.uva) != 0:
		raise Fail('UPDATE of region 1 refused')
	f = make_frame(b'unmapped', 0, 80)
	d.send_frame(f)
	time.sleep(0.3)
	if d.tx.new_used() or d.poll_rx():
		raise Fail('traffic over rings nothing maps')
	d.read_misses()
	rlo, rhi = packed_ring_span(d)
	if not any(IOVA0 + rlo <= i < IOVA0 + rhi for i, _ in d.misses):
		raise Fail('no MISS for the rings (got %s)' %
				[(hex(i), p) for i, p in d.misses][:4])
	if d.iotlb_update(IOVA0 + rlo, rhi - rlo, d.m.uva + rlo) != 0:
		raise Fail('UPDATE of the rings refused')
	deadline = time.monotonic() + 3
	got = False
	while time.monotonic() < deadline and not got:
		got = f in d.poll_rx()
		time.sleep(0.01)
	d.answer_misses = True
	r = d.loopback(4, timeout=3)
	if r:
		raise Fail('once mapped: ' + r)


@attack('packed')
def a_packed_iommu_ring_read_only(S):
	"""The descriptor ring mapped read-only: the back-end may read
	buffers but must not write a used descriptor through that mapping;
	mapped RW, traffic flows."""
	d = iommu_dev(S, packed=True, check=False, answer_misses=False)
	rlo, rhi = packed_ring_span(d)
	if d.iotlb_invalidate(IOVA0 + rlo, rhi - rlo) != 0:
		raise Fail('INVALIDATE refused')
	if d.iotlb_update(IOVA0 + rlo, rhi - rlo, d.m.uva + rlo, 1) != 0:
		raise Fail('UPDATE RO refused')
	f = make_frame(b'ro-ring!', 0, 80)
	d.send_frame(f)
	o = d.tx.desc_off + 16 * ((d.tx.avail_pos - 1) % d.tx.size)
	want = d.m.read(o, 16)
	time.sleep(0.3)
	if d.m.read(o, 16) != want:
		raise Fail('a used descriptor was written through a read-only '
				'mapping')
	if d.iotlb_update(IOVA0 + rlo, rhi - rlo, d.m.uva + rlo, 3) != 0:
		raise Fail('UPDATE RW refused')
	d.answer_misses = True
	time.sleep(0.2)
	d.poll_rx()
	r = d.loopback(4, timeout=3)
	if r:
		raise Fail('once mapped RW: ' + r)


add('packed_jumbo_64k_frames', lambda S: a_jumbo_64k_frames(S, True),
		'packed')
add('packed_rx_mergeable_tiny_buffers',
		lambda S: a_rx_mergeable_tiny_buffers(S, True), 'packed')
add('packed_running_reconfig_fuzz', lambda S: reconfig_fuzz(S,
		packed_dev(S), False, packed=True), 'packed')
add('packed_iotlb_running_reconfig_fuzz', lambda S: reconfig_fuzz(S,
		iommu_dev(S, packed=True), True, packed=True), 'packed')
add('packed_iotlb_permissions', lambda S: a_iotlb_permissions(S, True),
		'packed')
add('packed_iotlb_tx_miss_unanswered',
		lambda S: a_iotlb_tx_miss_unanswered(S, True), 'packed')


def log_excerpt(tp, mark, n=12):
	try:
		lines = [ln for ln in tp.log_since(mark).splitlines()
			if re.search(r'IOVHOST|iovhost|EAL|PANIC|[Ee]rror|'
				r'[Ss]ignal|fault|Port \d+:', ln)]
	except OSError:
		return []
	return lines[-n:]


class Runner:
	def __init__(self, S, verbose):
		self.S = S
		self.verbose = verbose
		self.counts = {'ok': 0, 'FAIL': 0, 'XFAIL': 0, 'XPASS': 0}
		self.failed = []

	def health(self):
		S = self.S
		if not S.tp.alive():
			return 'testpmd died (%s)' % S.tp.exit_info()
		t0 = time.monotonic()
		r = S.bdev.loopback(8, timeout=5)
		if r:
			return 'port B: ' + r
		el = time.monotonic() - t0
		if el > 1.0:
			print('    (warning: port B took %.1f s to loop 8 frames back; '
				'load average %s)' % (el, open('/proc/loadavg').read()
				.split()[0]))
		try:
			S.bdev.conn.get_u64(vhu.GET_FEATURES)
		except (Closed, Timeout, ProtocolError) as e:
			return 'port B control connection: %s' % e
		r = S.base.settle()
		if r:
			# Count each leak once: the next attack starts afresh.
			S.base = Baseline(S.tp)
			return r
		return None

	def report(self, name, status, why, secs, mark):
		self.counts[status] += 1
		if status == 'ok':
			print('ok %s (%.2fs)' % (name, secs))
		elif status == 'XPASS':
			print('XPASS %s (%.2fs): known bug did not show: %s' %
					(name, secs, why))
		else:
			print('%s %s: %s' % (status, name, why))
		if status == 'FAIL' or (status == 'XFAIL' and self.verbose):
			self.failed.append(name)
			for ln in log_excerpt(self.S.tp, mark):
				print('    | ' + ln[:200])
		sys.stdout.flush()

	def run(self, a):
		S = self.S
		mark = S.tp.log_size()
		t0 = time.monotonic()
		status, why = 'ok', ''
		try:
			a.fn(S)
		except Fail as e:
			status, why = 'FAIL', str(e)
		except XFail as e:
			status, why = 'XFAIL', str(e)
		except (Closed, Timeout, ProtocolError, OSError,
				TimeoutError, ValueError) as e:
			status, why = 'FAIL', '%s: %s' % (type(e).__name__, e)
		except TestpmdGone as e:
			status, why = 'FAIL', str(e)
		finally:
			S.cleanup()
		if status == 'XFAIL' and not S.tp.alive():
			self.report(a.name, status, why, time.monotonic() - t0, mark)
			return False
		try:
			h = self.health()
		except (TestpmdGone, TimeoutError, ValueError, OSError) as e:
			h = str(e)
		if h:
			why = (why + '; ' if why else '') + 'then: ' + h
			status = 'FAIL'
		elif status == 'ok' and a.xfail:
			status, why = 'XPASS', a.xfail
		self.report(a.name, status, why, time.monotonic() - t0, mark)
		return S.tp.alive()

	def run_slow(self, paths):
		"""The time-out attacks, side by side on their own ports."""
		S = self.S
		mark = S.tp.log_size()
		t0 = time.monotonic()
		results = {}

		def one(fn, path):
			try:
				el = fn(S, path)
				results[fn.__name__] = ('ok', 'done after %.1f s' % el)
			except Fail as e:
				results[fn.__name__] = ('FAIL', str(e))
			except Exception as e:  # noqa: BLE001
				results[fn.__name__] = ('FAIL', '%s: %s' %
						(type(e).__name__, e))

		ths = [threading.Thread(target=one, args=(fn, p), daemon=True)
			for fn, p in zip(SLOW, paths)]
		for t in ths:
			t.start()
		for t in ths:
			t.join(20)
		S.cleanup()
		h = None
		try:
			h = self.health()
		except (TestpmdGone, TimeoutError, ValueError, OSError) as e:
			h = str(e)
		secs = time.monotonic() - t0
		for fn in SLOW[:len(paths)]:
			st, why = results.get(fn.__name__, ('FAIL', 'did not finish'))
			if h:
				st, why = 'FAIL', why + '; then: ' + h
			if st == 'ok':
				self.counts['ok'] += 1
				print('ok %s (%s; %.1fs for the slow group)' %
						(fn.__name__, why, secs))
			else:
				self.report(fn.__name__, st, why, secs, mark)
		sys.stdout.flush()
		return S.tp.alive()


def main():
	ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
	ap.add_argument('--sock-a')
	ap.add_argument('--sock-b')
	ap.add_argument('--slow-socks', default='')
	ap.add_argument('--port-a', type=int, default=0)
	ap.add_argument('--sock-i', help='a port with iommu-support=1')
	ap.add_argument('--port-i', type=int, default=6)
	ap.add_argument('--sock-c', help='where a client=1 port connects to')
	ap.add_argument('--tp-pid', type=int)
	ap.add_argument('--tp-fifo')
	ap.add_argument('--tp-log')
	ap.add_argument('--groups',
			default='slow,proto,flood,fuzz,ring,iommu,client,packed',
			help='comma-separated: slow, proto, flood, fuzz, ring, '
			'iommu, client, packed, wedge, sigbus')
	ap.add_argument('--only', help='regex on attack names')
	ap.add_argument('--repeat', type=int, default=1,
			help='run each selected attack this many times (to '
			'catch an intermittent failure)')
	ap.add_argument('--list', action='store_true')
	ap.add_argument('-v', '--verbose', action='store_true')
	args = ap.parse_args()

	groups = args.groups.split(',')
	if not args.sock_i and 'iommu' in groups:
		groups.remove('iommu')
	if not args.sock_i and 'packed' in groups:
		# Some packed attacks need the IOMMU port: all or none.
		groups.remove('packed')
	if not args.sock_c and 'client' in groups:
		groups.remove('client')
	sel = [a for a in ATTACKS if a.group in groups and
		(not args.only or re.search(args.only, a.name))]
	sel = [a for a in sel for _ in range(max(1, args.repeat))]
	if args.list:
		for fn in SLOW:
			print('slow   %s' % fn.__name__)
		for a in ATTACKS:
			print('%-6s %s%s' % (a.group, a.name, '  (XFAIL: %s)' %
					a.xfail if a.xfail else ''))
		return 0

	tp = Testpmd(args.tp_pid, args.tp_fifo, args.tp_log)
	S = Suite(args, tp)
	# The well-behaved port B front-end: connected for the whole run.
	S.bdev = NetDev(args.sock_b).setup()
	r = S.bdev.loopback(8, timeout=5)
	if r:
		print('FAIL setup: port B does not loop back: %s' % r)
		return 1
	S.base = Baseline(tp)
	print('baseline: %d fds, %d mappings, %d mbufs in use, %d heap '
			'allocations; %d attacks selected' % (S.base.fds,
			S.base.maps, S.base.mbufs, S.base.heap, len(sel) +
			(len(SLOW) if 'slow' in groups and not args.only else 0)))
	sys.stdout.flush()
	R = Runner(S, args.verbose)
	t0 = time.monotonic()
	ok = True
	slow_paths = [p for p in args.slow_socks.split(',') if p]
	if 'slow' in groups and not args.only:
		if len(slow_paths) < len(SLOW):
			print('FAIL slow: %d slow attacks need as many ports, got '
					'%d' % (len(SLOW), len(slow_paths)))
			R.counts['FAIL'] += 1
		else:
			ok = R.run_slow(slow_paths)
	for a in sel:
		if not ok:
			break
		ok = R.run(a)
	not_run = len(sel) - sum(R.counts.values()) + (len(SLOW) if 'slow' in
			groups and not args.only else 0)
	if not ok and not_run > 0 and R.counts['XFAIL'] == 0:
		print('FAIL: testpmd is gone; %d attacks not run' % not_run)
		R.counts['FAIL'] += 1
	if S.tp.alive():
		try:
			S.bdev.close()
		except OSError:
			pass
	c = R.counts
	print('%d ok, %d failed, %d xfail, %d xpass (%.1f s)%s' % (
		c['ok'], c['FAIL'], c['XFAIL'], c['XPASS'],
		time.monotonic() - t0,
		'; failed: ' + ' '.join(R.failed) if c['FAIL'] else ''))
	return 1 if c['FAIL'] else 0


if __name__ == '__main__':
	sys.exit(main())
