# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
"""A minimal vhost-user front-end for the hostile tests (stdlib only).

Layers, each usable on its own:

  Conn      the socket: framing, fd passing (SCM_RIGHTS), replies and
            NEED_REPLY acks with time-outs, "did the back-end hang up?"
  GuestMem  guest memory: a memfd mapped here, handed to the back-end as a
            memory region; 16-bit loads and stores done as single accesses
  Ring      a split virtqueue inside a GuestMem, filled with whatever
            descriptors a test wants
  NetDev    a well-behaved virtio-net front-end built from the above, that
            sends frames on its TX ring and collects them on its RX ring;
            optionally behind an IOMMU (IOVAs, IOTLB UPDATE/INVALIDATE, a
            back-end channel whose MISS messages it answers)

Nothing here protects the back-end from anything: every field can be set to
any value, and every check is left to the caller.
"""

import array
import ctypes
import os
import select
import socket
import struct
import time

# ---------------------------------------------------------------- protocol

GET_FEATURES = 1
SET_FEATURES = 2
SET_OWNER = 3
RESET_OWNER = 4
SET_MEM_TABLE = 5
SET_LOG_BASE = 6
SET_LOG_FD = 7
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
SET_VRING_ENDIAN = 23
GET_CONFIG = 24
SET_CONFIG = 25
POSTCOPY_ADVISE = 28
GET_INFLIGHT_FD = 31
SET_INFLIGHT_FD = 32
RESET_DEVICE = 34
VRING_KICK = 35
GET_MAX_MEM_SLOTS = 36
ADD_MEM_REG = 37
REM_MEM_REG = 38
SET_STATUS = 39
GET_STATUS = 40

# Virtio / vhost feature bits.
F_MRG_RXBUF = 15
F_NOTIFY_ON_EMPTY = 24
F_LOG_ALL = 26
F_ANY_LAYOUT = 27
F_INDIRECT_DESC = 28
F_EVENT_IDX = 29
F_PROTOCOL_FEATURES = 30
F_VERSION_1 = 32
F_IOMMU_PLATFORM = 33
F_RING_PACKED = 34

# Protocol feature bits.
P_MQ = 0
P_LOG_SHMFD = 1
P_RARP = 2
P_REPLY_ACK = 3
P_NET_MTU = 4
P_BACKEND_REQ = 5
P_CONFIG = 9
P_RESET_DEVICE = 13
P_CONFIGURE_MEM_SLOTS = 15
P_STATUS = 16

VERSION = 0x1
FLAG_REPLY = 0x4
FLAG_NEED_REPLY = 0x8
VRING_NOFD = 0x100

HDR = struct.Struct('<III')
U64 = struct.Struct('<Q')
STATE = struct.Struct('<II')
REGION = struct.Struct('<QQQQ')
VRING_ADDR = struct.Struct('<IIQQQQ')
LOG = struct.Struct('<QQ')
IOTLB = struct.Struct('<QQQBB6x')

DESC = struct.Struct('<QIHH')
DESC_F_NEXT = 1
DESC_F_WRITE = 2
DESC_F_INDIRECT = 4

NET_HDR_LEN = 12	# virtio_net_hdr_mrg_rxbuf: VERSION_1 or MRG_RXBUF


def bit(n):
	return 1 << n


def u64(v):
	return U64.pack(v & 0xffffffffffffffff)


def state(index, num):
	return STATE.pack(index & 0xffffffff, num & 0xffffffff)


def region(gpa, size, uva, offset):
	m = 0xffffffffffffffff
	return REGION.pack(gpa & m, size & m, uva & m, offset & m)


def mem_table(regions, nregions=None):
	"""SET_MEM_TABLE payload; nregions may lie about len(regions)."""
	n = len(regions) if nregions is None else nregions
	return struct.pack('<II', n & 0xffffffff, 0) + b''.join(regions)


def mem_single(reg):
	"""ADD_MEM_REG / REM_MEM_REG payload."""
	return u64(0) + reg


class Closed(Exception):
	"""The back-end closed the connection."""


class Timeout(Exception):
	"""Nothing (or not enough) arrived in time."""


class ProtocolError(Exception):
	"""The back-end sent something that is not the expected reply."""


# ---------------------------------------------------------------- socket

class Conn:
	"""One vhost-user connection to a back-end's socket."""

	# Called as on_send(conn, data, fds) before anything is sent; returns
	# the bytes to send (fault injection: it may also just exit).
	on_send = None

	def __init__(self, path, timeout=2.0, sock=None):
		"""Connect to path, or (sock) adopt a socket already connected:
		one a client-mode back-end made to our listening socket."""
		self.path = path
		if sock is not None:
			self.sock = sock
		else:
			self.sock = socket.socket(socket.AF_UNIX,
					socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
			self.sock.settimeout(timeout)
			try:
				self.sock.connect(path)
			except OSError:
				self.sock.close()
				raise
		self.buf = b''
		self.closed_by_peer = False

	def fileno(self):
		return self.sock.fileno()

	def close(self, wait=True):
		"""Close; with wait, half-close first and wait (up to 2 s) for
		the back-end to hang up too, so that it has dropped this
		connection before the next one arrives (it serves one at a
		time and refuses a second)."""
		if self.sock is None:
			return
		if wait and not self.closed_by_peer:
			try:
				self.sock.shutdown(socket.SHUT_WR)
				self.wait_closed(2.0)
			except (OSError, Timeout):
				pass
		self.sock.close()
		self.sock = None

	# -- sending

	def send_raw(self, data, fds=(), timeout=2.0):
		"""Send bytes, with fds (SCM_RIGHTS) on the first piece."""
		if self.on_send is not None:
			data = self.on_send(self, data, fds)
		self.sock.settimeout(timeout)
		try:
			n = 0
			if fds:
				n = self.sock.sendmsg([data], [(socket.SOL_SOCKET,
					socket.SCM_RIGHTS, array.array('i', fds))])
			if n < len(data):
				self.sock.sendall(data[n:])
		except (BrokenPipeError, ConnectionResetError) as e:
			self.closed_by_peer = True
			raise Closed('send: %s' % e) from None
		except socket.timeout:
			raise Timeout('send blocked for %.1f s' % timeout) from None

	def send(self, req, payload=b'', fds=(), flags=VERSION, need_reply=False,
			size=None, timeout=2.0):
		"""Send one message. size overrides the header's size field."""
		if need_reply:
			flags |= FLAG_NEED_REPLY
		if size is None:
			size = len(payload)
		self.send_raw(HDR.pack(req & 0xffffffff, flags & 0xffffffff,
				size & 0xffffffff) + payload, fds, timeout)

	# -- receiving

	def _fill(self, n, deadline):
		while len(self.buf) < n:
			left = deadline - time.monotonic()
			if left <= 0:
				raise Timeout('%d of %d bytes after time-out' %
						(len(self.buf), n))
			r, _, _ = select.select([self.sock], [], [], left)
			if not r:
				continue
			try:
				d = self.sock.recv(65536, socket.MSG_DONTWAIT)
			except BlockingIOError:
				continue
			except ConnectionResetError:
				d = b''
			if not d:
				self.closed_by_peer = True
				raise Closed('connection closed by the back-end '
						'(%d bytes pending)' % len(self.buf))
			self.buf += d

	def recv_msg(self, timeout=2.0):
		"""Next message: (request, flags, payload)."""
		deadline = time.monotonic() + timeout
		self._fill(HDR.size, deadline)
		req, flags, size = HDR.unpack_from(self.buf)
		if size > 4096:
			raise ProtocolError('reply %u claims %u payload bytes' %
					(req, size))
		self._fill(HDR.size + size, deadline)
		payload = self.buf[HDR.size:HDR.size + size]
		self.buf = self.buf[HDR.size + size:]
		return req, flags, payload

	def reply(self, req, timeout=2.0):
		"""Payload of the reply to request req (checked)."""
		r, flags, payload = self.recv_msg(timeout)
		if r != req:
			raise ProtocolError('expected a reply to %u, got %u '
					'(flags %#x, %d bytes)' %
					(req, r, flags, len(payload)))
		if (flags & 0x3) != VERSION or not (flags & FLAG_REPLY):
			raise ProtocolError('reply to %u has flags %#x' %
					(req, flags))
		return payload

	def reply_u64(self, req, timeout=2.0):
		p = self.reply(req, timeout)
		if len(p) != 8:
			raise ProtocolError('reply to %u has %d bytes, '
					'expected 8' % (req, len(p)))
		return U64.unpack(p)[0]

	def get_u64(self, req, payload=b'', timeout=2.0, **kw):
		"""A GET_* request and its u64 answer."""
		self.send(req, payload, **kw)
		return self.reply_u64(req, timeout)

	def ack(self, req, payload=b'', fds=(), timeout=2.0, **kw):
		"""Send with NEED_REPLY; return the ack value (0 = success)."""
		self.send(req, payload, fds, need_reply=True, **kw)
		return self.reply_u64(req, timeout)

	def pending(self, timeout=0.0):
		"""Bytes the back-end sent that nobody read yet (waits up to
		timeout for the first); raises Closed on EOF."""
		if self.buf:
			return len(self.buf)
		r, _, _ = select.select([self.sock], [], [], timeout)
		if not r:
			return 0
		try:
			d = self.sock.recv(65536, socket.MSG_DONTWAIT)
		except BlockingIOError:
			return 0
		except ConnectionResetError:
			d = b''
		if not d:
			self.closed_by_peer = True
			raise Closed('connection closed by the back-end')
		self.buf += d
		return len(self.buf)

	def wait_closed(self, timeout):
		"""Wait for the back-end to hang up, discarding what it sends.
		Returns the seconds it took; raises Timeout."""
		t0 = time.monotonic()
		deadline = t0 + timeout
		while True:
			left = deadline - time.monotonic()
			if left <= 0:
				raise Timeout('connection still open after %.1f s' %
						timeout)
			r, _, _ = select.select([self.sock], [], [], left)
			if not r:
				continue
			try:
				d = self.sock.recv(65536, socket.MSG_DONTWAIT)
			except BlockingIOError:
				continue
			except ConnectionResetError:
				d = b''
			if not d:
				self.closed_by_peer = True
				return time.monotonic() - t0
			self.buf += d

	def wait_hangup(self, timeout):
		"""Wait for the back-end to hang up WITHOUT reading anything (a
		read would relieve a back-end stalled on unread replies).
		Returns the seconds it took; raises Timeout."""
		t0 = time.monotonic()
		p = select.poll()
		p.register(self.sock, select.POLLRDHUP | select.POLLHUP)
		while True:
			left = t0 + timeout - time.monotonic()
			if left <= 0:
				raise Timeout('connection still open after %.1f s' %
						timeout)
			ev = p.poll(left * 1000)
			if any(e & (select.POLLRDHUP | select.POLLHUP |
					select.POLLERR) for _, e in ev):
				self.closed_by_peer = True
				return time.monotonic() - t0

	def is_open(self):
		try:
			self.pending(0)
			return True
		except Closed:
			return False


def connect(path, timeout=2.0, tries=5):
	"""A connection the back-end accepted: the back-end refuses (closes)
	a new one while it still serves the previous, which may take it a
	moment to notice is gone."""
	for k in range(tries):
		c = Conn(path, timeout)
		try:
			c.get_u64(GET_FEATURES)
			return c
		except Closed:
			c.close(wait=False)
			if k == tries - 1:
				raise
			time.sleep(0.05 * (k + 1))


def handshake(conn, want_features=None, want_protocol=None, owner=True):
	"""Usual opening: features, protocol features (REPLY_ACK if offered),
	SET_OWNER. Returns (features, protocol) as negotiated; the feature
	bits are only set with SET_FEATURES when want_features is not None."""
	offered = conn.get_u64(GET_FEATURES)
	proto = 0
	if offered & bit(F_PROTOCOL_FEATURES):
		po = conn.get_u64(GET_PROTOCOL_FEATURES)
		want = bit(P_REPLY_ACK) if want_protocol is None else want_protocol
		proto = po & want
		conn.send(SET_PROTOCOL_FEATURES, u64(proto))
	acks = bool(proto & bit(P_REPLY_ACK))
	if owner:
		_set(conn, acks, SET_OWNER)
	feat = 0
	if want_features is not None:
		feat = offered & want_features
		_set(conn, acks, SET_FEATURES, u64(feat))
	conn.acks = acks
	return feat, proto


def _set(conn, acks, req, payload=b'', fds=()):
	"""A set-up message: acked (and checked) when REPLY_ACK is on."""
	if acks:
		r = conn.ack(req, payload, fds)
		if r != 0:
			raise ProtocolError('request %u refused (ack %u)' % (req, r))
	else:
		conn.send(req, payload, fds)


# ---------------------------------------------------------------- memory

class GuestMem:
	"""A memfd standing for a piece of guest memory."""

	def __init__(self, size, gpa, uva, name='iovh-guest', sealing=False):
		import mmap
		flags = os.MFD_CLOEXEC | (os.MFD_ALLOW_SEALING if sealing else 0)
		self.fd = os.memfd_create(name, flags)
		os.ftruncate(self.fd, size)
		self.mm = mmap.mmap(self.fd, size, mmap.MAP_SHARED,
				mmap.PROT_READ | mmap.PROT_WRITE)
		self._anchor = ctypes.c_char.from_buffer(self.mm)
		self.addr = ctypes.addressof(self._anchor)
		self.size = size
		self.gpa = gpa
		self.uva = uva
		self.brk = 0
		self.dead = False	# truncated under the mapping: do not touch

	def close(self):
		if self.mm is not None:
			del self._anchor
			self.mm.close()
			self.mm = None
		if self.fd >= 0:
			os.close(self.fd)
			self.fd = -1

	def alloc(self, n, align=64):
		off = (self.brk + align - 1) & ~(align - 1)
		if off + n > self.size:
			raise MemoryError('guest memory full')
		self.brk = off + n
		return off

	def region(self, size=None, gpa=None, uva=None, offset=0):
		return region(self.gpa if gpa is None else gpa,
				self.size if size is None else size,
				self.uva if uva is None else uva, offset)

	# Single aligned accesses through ctypes: a 16-bit ring index must
	# never be seen half-written by the back-end.
	def w16(self, off, v):
		ctypes.c_uint16.from_address(self.addr + off).value = v & 0xffff

	def r16(self, off):
		return ctypes.c_uint16.from_address(self.addr + off).value

	def w32(self, off, v):
		ctypes.c_uint32.from_address(self.addr + off).value = v & 0xffffffff

	def r32(self, off):
		return ctypes.c_uint32.from_address(self.addr + off).value

	def write(self, off, data):
		self.mm[off:off + len(data)] = data

	def read(self, off, n):
		return bytes(self.mm[off:off + n])


class Ring:
	"""A split virtqueue laid out in a GuestMem."""

	def __init__(self, mem, index, size):
		self.mem = mem
		self.index = index
		self.size = size
		self.desc_off = mem.alloc(16 * size, 4096)
		self.avail_off = mem.alloc(4 + 2 * size + 2, 64)
		self.used_off = mem.alloc(4 + 8 * size + 2, 64)
		self.avail_idx = 0
		self.last_used = 0
		self.base = mem.uva	# ring addresses: front-end VA or IOVA

	def uva(self, off):
		return self.base + off

	def addr_payload(self, index=None, flags=0, log=0, desc=None,
			avail=None, used=None):
		m = 0xffffffffffffffff
		return VRING_ADDR.pack(
			(self.index if index is None else index) & 0xffffffff,
			flags & 0xffffffff,
			(self.uva(self.desc_off) if desc is None else desc) & m,
			(self.uva(self.used_off) if used is None else used) & m,
			(self.uva(self.avail_off) if avail is None else avail) & m,
			log & m)

	def desc(self, i, addr, length, flags=0, nxt=0):
		"""Write descriptor i (any values: they are masked to size)."""
		self.mem.write(self.desc_off + 16 * i, DESC.pack(
			addr & 0xffffffffffffffff, length & 0xffffffff,
			flags & 0xffff, nxt & 0xffff))

	def push(self, *heads):
		"""Make heads available: entries first, then one index store."""
		for h in heads:
			self.mem.w16(self.avail_off + 4 + 2 * (self.avail_idx %
					self.size), h)
			self.avail_idx = (self.avail_idx + 1) & 0xffff
		self.mem.w16(self.avail_off + 2, self.avail_idx)

	def set_avail_idx(self, v):
		"""Store any avail index (the shadow is left alone)."""
		self.mem.w16(self.avail_off + 2, v)

	def set_avail_flags(self, v):
		self.mem.w16(self.avail_off, v)

	def used_idx(self):
		return self.mem.r16(self.used_off + 2)

	def used_flags(self):
		return self.mem.r16(self.used_off)

	def used_elem(self, pos):
		o = self.used_off + 4 + 8 * (pos % self.size)
		return self.mem.r32(o), self.mem.r32(o + 4)

	def new_used(self):
		"""Used entries published since the last call: [(id, len)]."""
		idx = self.used_idx()
		out = []
		while self.last_used != idx:
			out.append(self.used_elem(self.last_used))
			self.last_used = (self.last_used + 1) & 0xffff
		return out


# ---------------------------------------------------------------- device

BUF = 2048
GPA0 = 0x100000000
UVA0 = 0x7e0000000000


class NetDev:
	"""A virtio-net front-end on one vhost-user socket, one queue pair.

	Region 0 (4 MiB) holds both rings and one 2 KiB buffer per descriptor
	of each ring; with regions=2 a second 1 MiB region follows it directly
	in both guest-physical and front-end virtual addresses, for tests that
	straddle a region boundary.

	Descriptors [0, nbuf) of each ring are managed here (RX buffers posted,
	TX buffers recycled); [nbuf, qsize) are scratch for tests.
	"""

	def __init__(self, path, qsize=256, features=None, protocol=None,
			regions=1, nbuf=128, rx_prepost=True, conn_timeout=2.0,
			iova=None, premap=True, answer_misses=True, conn=None):
		"""iova: run with VIRTIO_F_IOMMU_PLATFORM, guest memory seen at
		IOVA iova (+ its offset from GPA0); the rings and descriptors
		then carry IOVAs. premap: map all of it with IOTLB UPDATEs
		before the rings are set up; answer_misses: answer the
		back-end's IOTLB MISS messages while polling."""
		self.path = path
		self.iova = iova
		self.premap = premap
		self.answer_misses = answer_misses
		self.bch = None		# our end of the back-end channel
		self.bch_buf = b''
		self.misses = []	# (iova, perm) the back-end asked for
		self.qsize = qsize
		self.nbuf = nbuf
		self.conn = conn if conn is not None else connect(path,
				conn_timeout)
		self.mems = []
		self.m = GuestMem(4 << 20, GPA0, UVA0, 'iovh-r0')
		self.mems.append(self.m)
		if regions >= 2:
			self.m1 = GuestMem(1 << 20, GPA0 + (4 << 20),
					UVA0 + (4 << 20), 'iovh-r1')
			self.mems.append(self.m1)
		self.rx = Ring(self.m, 0, qsize)
		self.tx = Ring(self.m, 1, qsize)
		self.rxbuf_off = self.m.alloc(BUF * qsize, 4096)
		self.txbuf_off = self.m.alloc(BUF * qsize, 4096)
		self.eventfds = []
		self.want_features = (bit(F_VERSION_1) | bit(F_PROTOCOL_FEATURES)
				if features is None else features)
		self.want_protocol = protocol
		if iova is not None:
			self.want_features |= bit(F_IOMMU_PLATFORM) | \
				bit(F_PROTOCOL_FEATURES)
			self.want_protocol = (protocol or 0) | bit(P_REPLY_ACK) | \
				bit(P_BACKEND_REQ)
			for r in (self.rx, self.tx):
				r.base = iova
		self.rx_prepost = rx_prepost
		self.tx_free = list(range(nbuf))
		self.tx_out = {}		# head -> ids of its chain
		self.rx_scratch_used = []	# (id, len) of scratch RX heads
		self.tx_scratch_used = []	# ids of scratch TX heads
		self.stray = 0			# frames that were not ours
		self.partial = None

	# -- addresses

	def rxbuf(self, i):
		return self.rxbuf_off + BUF * i

	def txbuf(self, i):
		return self.txbuf_off + BUF * i

	def gpa(self, off):
		"""Address of region-0 offset off in a descriptor (the IOVA
		with an IOMMU)."""
		return (self.m.gpa if self.iova is None else self.iova) + off

	def region_iovas(self):
		"""(iova, size, uaddr) of each region."""
		return [(self.iova + (m.gpa - GPA0), m.size, m.uva)
			for m in self.mems]

	# -- set-up

	def setup(self):
		c = self.conn
		self.features, self.protocol = handshake(c, self.want_features,
				self.want_protocol)
		self.hdr_len = NET_HDR_LEN if self.features & (
				bit(F_VERSION_1) | bit(F_MRG_RXBUF)) else 10
		_set(c, c.acks, SET_MEM_TABLE,
				mem_table([m.region() for m in self.mems]),
				[m.fd for m in self.mems])
		if self.iova is not None:
			a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM |
					socket.SOCK_CLOEXEC)
			try:
				_set(c, c.acks, SET_BACKEND_REQ_FD, b'', [a.fileno()])
			finally:
				a.close()
			self.bch = b
			self.bch.setblocking(False)
			if self.premap:
				for iova, size, uaddr in self.region_iovas():
					r = self.iotlb_update(iova, size, uaddr)
					if r != 0:
						raise ProtocolError('IOTLB UPDATE refused')
		for r in (self.rx, self.tx):
			self.setup_ring(r)
		if self.rx_prepost:
			self.post_rx(range(self.nbuf))
		for r in (self.rx, self.tx):
			if self.features & bit(F_PROTOCOL_FEATURES):
				_set(c, c.acks, SET_VRING_ENABLE, state(r.index, 1))
		return self

	def setup_ring(self, r, base=0):
		c = self.conn
		_set(c, c.acks, SET_VRING_NUM, state(r.index, r.size))
		_set(c, c.acks, SET_VRING_BASE, state(r.index, base))
		_set(c, c.acks, SET_VRING_ADDR, r.addr_payload())
		for req in (SET_VRING_KICK, SET_VRING_CALL):
			efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
			self.eventfds.append(efd)
			_set(c, c.acks, req, u64(r.index), [efd])

	# -- IOTLB (iova mode)

	def iotlb_update(self, iova, size, uaddr, perm=3):
		return self.conn.ack(IOTLB_MSG, IOTLB.pack(iova & 0xffffffffffffffff,
			size & 0xffffffffffffffff, uaddr & 0xffffffffffffffff,
			perm & 0xff, 2))

	def iotlb_invalidate(self, iova, size):
		return self.conn.ack(IOTLB_MSG, IOTLB.pack(iova & 0xffffffffffffffff,
			size & 0xffffffffffffffff, 0, 0, 3))

	def read_misses(self):
		"""MISS messages that arrived on the back-end channel."""
		if self.bch is None:
			return []
		try:
			while True:
				d = self.bch.recv(65536)
				if not d:
					break
				self.bch_buf += d
		except BlockingIOError:
			pass
		out = []
		while len(self.bch_buf) >= HDR.size:
			req, flags, size = HDR.unpack_from(self.bch_buf)
			if len(self.bch_buf) < HDR.size + size:
				break
			p = self.bch_buf[HDR.size:HDR.size + size]
			self.bch_buf = self.bch_buf[HDR.size + size:]
			if req == 1 and size >= 26:
				iova, _, _, perm, typ = IOTLB.unpack(p.ljust(32, b'\0'))
				if typ == 1:
					out.append((iova, perm))
		self.misses += out
		return out

	def serve_misses(self):
		"""Answer MISSes with the 4 KiB page asked for (RW), when the
		IOVA is one of ours."""
		n = 0
		for iova, _ in self.read_misses():
			page = iova & ~0xfff
			for base, size, uaddr in self.region_iovas():
				if base <= page < base + size:
					self.iotlb_update(page, 4096, uaddr + page - base)
					n += 1
		return n

	def close(self):
		if self.bch is not None:
			self.bch.close()
			self.bch = None
		if self.conn is not None:
			self.conn.close()
			self.conn = None
		for fd in self.eventfds:
			os.close(fd)
		self.eventfds = []
		for m in self.mems:
			m.close()
		self.mems = []

	# -- RX (back-end -> us)

	def post_rx(self, ids):
		for i in ids:
			self.rx.desc(i, self.gpa(self.rxbuf(i)), BUF, DESC_F_WRITE)
		self.rx.push(*ids)

	def poll_rx(self):
		"""Frames received since the last call (virtio-net header
		stripped); RX buffers are posted again. A used entry of a
		scratch descriptor goes to rx_scratch_used."""
		frames = []
		for i, ln in self.rx.new_used():
			if i >= self.nbuf:
				self.rx_scratch_used.append((i, ln))
				continue
			data = self.m.read(self.rxbuf(i), min(ln, BUF))
			self.post_rx([i])
			if self.partial is not None:
				self.partial[1].append(data)
				if len(self.partial[1]) == self.partial[0]:
					frames.append(b''.join(self.partial[1]))
					self.partial = None
				continue
			if ln < self.hdr_len:
				continue	# handed back unused
			nb = 1
			if self.features & bit(F_MRG_RXBUF):
				nb = struct.unpack_from('<H', data, 10)[0]
			if nb > 1:
				self.partial = (nb, [data[self.hdr_len:]])
				continue
			frames.append(data[self.hdr_len:])
		return frames

	# -- TX (us -> back-end)

	def reclaim_tx(self):
		for i, _ in self.tx.new_used():
			if i in self.tx_out:
				self.tx_free.extend(self.tx_out.pop(i))
			else:
				self.tx_scratch_used.append(i)

	def send_frame(self, frame, hdr=None):
		"""Post one frame: header and frame in as many 2 KiB buffers
		(chained descriptors) as it takes."""
		self.reclaim_tx()
		h = bytes(self.hdr_len) if hdr is None else hdr
		data = h + frame
		n = (len(data) + BUF - 1) // BUF
		if len(self.tx_free) < n:
			raise Timeout('no free TX descriptor (back-end not '
					'consuming the TX ring)')
		ids = [self.tx_free.pop(0) for _ in range(n)]
		for k, i in enumerate(ids):
			piece = data[k * BUF:(k + 1) * BUF]
			self.m.write(self.txbuf(i), piece)
			last = k == n - 1
			self.tx.desc(i, self.gpa(self.txbuf(i)), len(piece),
					0 if last else DESC_F_NEXT,
					0 if last else ids[k + 1])
		self.tx_out[ids[0]] = ids
		self.tx.push(ids[0])

	def loopback(self, n=8, size=96, timeout=2.0):
		"""Send n frames; with testpmd forwarding the port back to
		itself they must all come back intact. Returns None, or a
		reason for failure."""
		tag = os.urandom(8)
		want = {}
		for k in range(n):
			f = make_frame(tag, k, size)
			want[f] = k
		# Drain leftovers first (earlier traffic, hostile tests).
		self.stray += len(self.poll_rx())
		for f in want:
			self.send_frame(f)
		got = set()
		deadline = time.monotonic() + timeout
		while len(got) < n and time.monotonic() < deadline:
			if self.iova is not None and self.answer_misses:
				self.serve_misses()
			for f in self.poll_rx():
				if f in want:
					got.add(want[f])
				elif f[14:18] == b'IOVH' and f[18:26] == tag:
					seq = struct.unpack_from('<I', f, 26)[0]
					w = make_frame(tag, seq, size)
					diff = next((j for j in range(min(len(f),
						len(w))) if f[j] != w[j]), min(len(f),
						len(w)))
					return ('frame %d of %d bytes came back '
						'altered: %d bytes, first difference '
						'at byte %d' % (seq, len(w), len(f), diff))
				else:
					self.stray += 1
			if len(got) < n:
				time.sleep(0.002)
		self.reclaim_tx()
		if len(got) < n:
			return '%d of %d frames came back within %.1f s ' \
				'(TX ring used idx %d/%d posted, RX used idx %d)' % (
				len(got), n, timeout, self.tx.used_idx(),
				self.tx.avail_idx, self.rx.used_idx())
		return None


def make_frame(tag, seq, size):
	"""An Ethernet frame (local experimental ethertype) carrying a tag."""
	eth = bytes.fromhex('020000000001' '020000000002' '88b5')
	body = b'IOVH' + tag + struct.pack('<I', seq)
	pad = bytes((seq + k) & 0xff for k in range(max(0, size - 14 -
			len(body))))
	return eth + body + pad
