# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
"""Watching the testpmd under attack: its commands, its log, its resources.

testpmd is started by the shell test (tests/lib.sh: interactive, stdin on a
FIFO the test keeps open, output in a log file); this side writes commands
into the FIFO and reads their output back from the log.
"""

import os
import re
import time


class TestpmdGone(Exception):
	"""The testpmd process is no longer running."""


class Testpmd:
	def __init__(self, pid, fifo, log):
		self.pid = pid
		self.log = log
		# The shell holds the FIFO open read-write: this never blocks.
		self.fifo = os.open(fifo, os.O_WRONLY | os.O_CLOEXEC)
		self.sync = 0

	# -- process

	def alive(self):
		try:
			with open('/proc/%d/stat' % self.pid) as f:
				st = f.read().rsplit(')', 1)[1].split()[0]
			return st not in ('Z', 'X')
		except (FileNotFoundError, ProcessLookupError, IndexError):
			return False

	def nfds(self):
		try:
			return len(os.listdir('/proc/%d/fd' % self.pid))
		except FileNotFoundError:
			raise TestpmdGone('testpmd (pid %d) is gone' % self.pid)

	def nmaps(self):
		try:
			with open('/proc/%d/maps' % self.pid) as f:
				return sum(1 for _ in f)
		except FileNotFoundError:
			raise TestpmdGone('testpmd (pid %d) is gone' % self.pid)

	def nguest_maps(self):
		"""Mappings of memfd files: the guest memory (and dirty logs)
		front-ends handed in, which is what the back-end maps. Unlike
		nmaps(), the sanitizers' allocators (anonymous memory, mapped
		as they go) and testpmd's own hugepage files do not count."""
		try:
			with open('/proc/%d/maps' % self.pid) as f:
				return sum(1 for ln in f if ln.split(None, 5)[5:] and
					ln.split(None, 5)[5].startswith('/memfd:'))
		except FileNotFoundError:
			raise TestpmdGone('testpmd (pid %d) is gone' % self.pid)

	def fd_targets(self):
		"""What the fds above the baseline point to (for reports)."""
		out = {}
		d = '/proc/%d/fd' % self.pid
		try:
			for n in os.listdir(d):
				try:
					out[int(n)] = os.readlink(os.path.join(d, n))
				except OSError:
					pass
		except FileNotFoundError:
			pass
		return out

	def exit_info(self):
		"""How the process ended, if the log tells."""
		tail = self.log_tail(4000)
		for pat in ('Segmentation fault', 'Bus error', 'PANIC',
				'Aborted', 'core dumped'):
			if pat in tail:
				return pat
		return 'no cause in its log: see the exit status the test ' \
			'script reports'

	# -- log

	def log_size(self):
		return os.path.getsize(self.log)

	def log_since(self, mark):
		with open(self.log, 'rb') as f:
			f.seek(mark)
			return f.read().decode('utf-8', 'replace')

	def log_tail(self, n=2000):
		size = self.log_size()
		return self.log_since(max(0, size - n))

	# -- commands

	def run(self, cmds, timeout=10.0):
		"""Run commands, return the output they produced."""
		if not self.alive():
			raise TestpmdGone('testpmd (pid %d) is gone' % self.pid)
		self.sync += 1
		tok = 'iovh-hostile-sync-%d-%d' % (os.getpid(), self.sync)
		mark = self.log_size()
		os.write(self.fifo, ('\n'.join(list(cmds) + [tok]) +
				'\n').encode())
		deadline = time.monotonic() + timeout
		while True:
			text = self.log_since(mark)
			i = text.find(tok)
			if i >= 0 and 'Command not found' in text[i:]:
				return text[:i]
			if not self.alive():
				raise TestpmdGone('testpmd died running %s' % cmds)
			if time.monotonic() > deadline:
				raise TimeoutError('testpmd did not run %s '
						'within %.0f s' % (cmds, timeout))
			time.sleep(0.01)

	def xstat(self, port, name):
		out = self.run(['show port xstats %d' % port])
		m = re.search(r'^%s:\s+(\d+)' % re.escape(name), out, re.M)
		if m is None:
			raise ValueError('no xstat %s for port %d' % (name, port))
		return int(m.group(1))

	def pool_and_heap(self, pool='mb_pool_0'):
		"""(mbufs in use, DPDK heap allocation count)."""
		out = self.run(['dump_mempool %s' % pool, 'dump_socket_mem'])
		size = re.search(r'^\s+size=(\d+)', out, re.M)
		common = re.search(r'common_pool_count=(\d+)', out)
		cache = re.search(r'total_cache_count=(\d+)', out)
		heap = re.search(r'^Total\s*:.*count alloc:\s*(\d+)', out, re.M)
		if not (size and common and cache and heap):
			raise ValueError('cannot parse dump_mempool / '
					'dump_socket_mem output:\n' + out[-800:])
		in_use = int(size.group(1)) - int(common.group(1)) - \
			int(cache.group(1))
		return in_use, int(heap.group(1))


class Baseline:
	"""Resource counts of testpmd while no attacker is connected."""

	def __init__(self, tp, check_pool=True):
		self.tp = tp
		self.fds = tp.nfds()
		self.maps = tp.nmaps()
		self.gmaps = tp.nguest_maps()
		self.fd_map = tp.fd_targets()
		self.check_pool = check_pool
		if check_pool:
			self.mbufs, self.heap = tp.pool_and_heap()

	def settle(self, timeout=3.0, fd_slack=0, map_slack=None):
		"""Wait until fds and mappings are back to the baseline; return
		None or a description of what grew."""
		if map_slack is None:
			# ASan maps its own shadow and allocator regions as it goes:
			# under a sanitized testpmd the count drifts by itself.
			# Guest memory mappings (memfds) are counted exactly.
			map_slack = 32 if os.environ.get('IOVH_SANITIZED') else 2
		deadline = time.monotonic() + timeout
		while True:
			nf, nm = self.tp.nfds(), self.tp.nmaps()
			ng = self.tp.nguest_maps()
			if nf <= self.fds + fd_slack and \
					nm <= self.maps + map_slack and ng <= self.gmaps:
				break
			if time.monotonic() > deadline:
				extra = ['%d -> %s' % (k, v) for k, v in
					sorted(self.tp.fd_targets().items())
					if self.fd_map.get(k) != v]
				return ('resources grew: %d fds (baseline %d), '
					'%d mappings (baseline %d), %d of guest '
					'memory (baseline %d); new fds: %s' %
					(nf, self.fds, nm, self.maps, ng, self.gmaps,
					 ', '.join(extra[:12]) or 'none'))
			time.sleep(0.02)
		if not self.check_pool:
			return None
		# mbufs are in flight for microseconds only: retry a little.
		for _ in range(10):
			mb, heap = self.tp.pool_and_heap()
			if mb <= self.mbufs and heap <= self.heap:
				return None
			time.sleep(0.05)
		return ('DPDK memory grew: %d mbufs in use (baseline %d), %d '
			'heap allocations (baseline %d)' %
			(mb, self.mbufs, heap, self.heap))
