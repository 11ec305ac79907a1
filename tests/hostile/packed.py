# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
"""A packed virtqueue (VIRTIO_F_RING_PACKED) for the hostile front-end.

PackedRing offers the calls NetDev makes on a split Ring (desc, push,
new_used, used_idx, avail_idx), so NetDev's RX/TX logic runs unchanged on
packed rings (PackedNetDev), plus raw slot writes for the attacks.

Layout (virtio 1.2, 2.8): one ring of 16-byte descriptors (addr, len,
id, flags), a driver event suppression area (what SET_VRING_ADDR calls
avail) and a device one (used). A slot is available in the driver's lap
w when flags AVAIL == w and USED != w; the device hands a buffer back
with one descriptor whose AVAIL == USED == its own lap, then skips as
many slots as that buffer took. The buffer id is the chain's last
descriptor's (we write it in every one).
"""

import struct

import vhu
from vhu import NetDev, bit

PDESC = struct.Struct('<QIHH')
F_AVAIL = 1 << 7
F_USED = 1 << 15
BASE_WRAP = 1 << 15	# SET_VRING_BASE: bit 15 is the wrap counter


def avail_bits(wrap):
	return F_AVAIL if wrap else F_USED


class PackedRing:
	def __init__(self, mem, index, size, pos=0, wrap=1):
		self.mem = mem
		self.index = index
		self.size = size
		self.desc_off = mem.alloc(16 * size, 4096)
		self.drv_off = mem.alloc(4, 64)		# driver event area
		self.dev_off = mem.alloc(4, 64)		# device event area
		self.base = mem.uva
		self.start(pos, wrap)
		self.pending = {}	# id -> (addr, len, flags, next), as split

	def start(self, pos, wrap):
		"""Where the device starts (what SET_VRING_BASE said)."""
		self.avail_pos, self.avail_wrap = pos, wrap
		self.used_pos, self.used_wrap = pos, wrap
		self.avail_idx = 0	# buffers made available (for reports)
		self.used_count = 0	# buffers handed back
		self.outstanding = 0	# slots the device still holds
		self.inflight = {}	# id -> slots of its chain
		# Every slot "used in the previous lap": neither available
		# nor newly used (zeroed memory is that only for lap 1).
		old = 0 if wrap else F_AVAIL | F_USED
		for k in range(self.size):
			self.mem.w16(self.desc_off + 16 * k + 14, old)

	def base_state(self):
		return self.avail_pos | (BASE_WRAP if self.avail_wrap else 0)

	def uva(self, off):
		return self.base + off

	def addr_payload(self, index=None, flags=0, log=0, desc=None,
			avail=None, used=None):
		m = 0xffffffffffffffff
		return vhu.VRING_ADDR.pack(
			(self.index if index is None else index) & 0xffffffff,
			flags & 0xffffffff,
			(self.uva(self.desc_off) if desc is None else desc) & m,
			(self.uva(self.dev_off) if used is None else used) & m,
			(self.uva(self.drv_off) if avail is None else avail) & m,
			log & m)

	# -- split-ring compatible calls (NetDev)

	def desc(self, i, addr, length, flags=0, nxt=0):
		"""Remember the descriptor of buffer i; push() lays it out."""
		self.pending[i] = (addr, length, flags, nxt)

	def push(self, *heads):
		for h in heads:
			chain, i = [], h
			while True:
				a, ln, fl, nx = self.pending[i]
				chain.append((a, ln, fl & 0x7))
				if not fl & vhu.DESC_F_NEXT or len(chain) >= self.size:
					break
				i = nx
			self.post(chain, h)

	def used_idx(self):
		return self.used_count

	def new_used(self):
		out = []
		while True:
			o = self.desc_off + 16 * self.used_pos
			fl = self.mem.r16(o + 14)
			u = self.used_wrap
			if bool(fl & F_AVAIL) != bool(u) or bool(fl & F_USED) != bool(u):
				break
			_a, ln, i, _f = PDESC.unpack(self.mem.read(o, 16))
			n = self.inflight.pop(i, 1)
			self.outstanding -= n
			out.append((i, ln))
			self.used_count += 1
			self.used_pos += n
			if self.used_pos >= self.size:
				self.used_pos -= self.size
				self.used_wrap ^= 1
		return out

	# -- raw slots (attacks)

	def post(self, chain, bid, ids=None, phase=None):
		"""Make one buffer available: chain = [(addr, len, flags)]
		(NEXT is the caller's business), id bid in every descriptor
		unless ids gives one per descriptor. The head's flags are
		stored last. phase: the lap the flags claim (default: ours)."""
		if self.outstanding + len(chain) > self.size:
			raise vhu.Timeout('packed ring full (device not consuming)')
		head = None
		pos, wrap = self.avail_pos, self.avail_wrap
		for k, (a, ln, fl) in enumerate(chain):
			w = wrap if phase is None else phase
			o = self.desc_off + 16 * pos
			self.mem.write(o, PDESC.pack(a & 0xffffffffffffffff,
					ln & 0xffffffff, (bid if ids is None else
					ids[k]) & 0xffff, 0)[:14])
			f = (fl & 0x7fff & ~(F_AVAIL | F_USED)) | avail_bits(w)
			if k == 0:
				head = (o, f)
			else:
				self.mem.w16(o + 14, f)
			pos += 1
			if pos == self.size:
				pos, wrap = 0, wrap ^ 1
		# The head last: the device reads nothing of a chain before it.
		self.mem.w16(head[0] + 14, head[1])
		self.avail_pos, self.avail_wrap = pos, wrap
		self.avail_idx += 1
		self.outstanding += len(chain)
		self.inflight[bid & 0xffff] = len(chain)


class PackedNetDev(NetDev):
	"""NetDev on packed rings: negotiates VIRTIO_F_RING_PACKED."""

	def __init__(self, path, features=None, base=None, **kw):
		f = (bit(vhu.F_VERSION_1) | bit(vhu.F_PROTOCOL_FEATURES)
				if features is None else features)
		super().__init__(path, features=f | bit(vhu.F_RING_PACKED), **kw)
		self.rx = PackedRing(self.m, 0, self.qsize)
		self.tx = PackedRing(self.m, 1, self.qsize)
		if self.iova is not None:
			for r in (self.rx, self.tx):
				r.base = self.iova
		# SET_VRING_BASE value: default slot 0 in lap 1 (2.8.1).
		self.base = BASE_WRAP if base is None else base

	def setup(self):
		super().setup()
		if not self.features & bit(vhu.F_RING_PACKED):
			raise vhu.ProtocolError('RING_PACKED not negotiated')
		return self

	def setup_ring(self, r, base=None):
		b = self.base if base is None else base
		r.start(b & 0x7fff, (b >> 15) & 1)
		super().setup_ring(r, b)
