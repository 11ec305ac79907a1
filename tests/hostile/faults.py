#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright(c) 2026 The iovhost authors
"""Front-ends that die at random points (tests/test_fault_injection.sh).

  faults.py baseline --out FILE   record testpmd's resource counts
  faults.py cycles --cycles N     N front-ends (forked children of this
                                  process) that die at random points:
      step     exits on its own just before its k-th message, after
               writing a random prefix of it (fds included), k random
               over the whole handshake and the first frames of traffic
      kill-hs  SIGKILLed after a random delay during the handshake
               (random pauses between its messages spread the kill)
      kill-tx  SIGKILLed after a random delay while frames flow
  (--iommu: the front-ends use an IOMMU: IOVAs, UPDATEs, misses)
  faults.py final --base FILE     a last front-end connects: traffic must
                                  flow, and testpmd's fds, mappings, mbufs
                                  in use and heap allocations must be back
                                  to the baseline

Every cycle's child first has to be accepted, which the back-end does only
once it has dropped the previous, dead, front-end.
"""

import argparse
import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import vhu  # noqa: E402
from harness import Testpmd, Baseline  # noqa: E402


IOVA0 = 0x40000000


def child_run(path, mode, k, rnd, iommu=False):
	"""The front-end, in a forked child: never returns."""
	sent = [0]

	def on_send(conn, data, fds):
		if mode == 'step' and sent[0] == k:
			cut = rnd.randrange(0, len(data) + 1)
			if cut:
				conn.sock.sendmsg([data[:cut]], [(vhu.socket.SOL_SOCKET,
					vhu.socket.SCM_RIGHTS, vhu.array.array('i', fds))]
					if fds else [])
			os._exit(0)
		if mode == 'kill-hs':
			time.sleep(rnd.random() * 0.002)
		sent[0] += 1
		return data

	try:
		vhu.Conn.on_send = staticmethod(on_send)
		d = vhu.NetDev(path, features=vhu.bit(vhu.F_VERSION_1) |
				vhu.bit(vhu.F_PROTOCOL_FEATURES) |
				vhu.bit(vhu.F_MRG_RXBUF) |
				vhu.bit(vhu.F_EVENT_IDX),
				protocol=vhu.bit(vhu.P_REPLY_ACK) |
				vhu.bit(vhu.P_BACKEND_REQ),
				iova=IOVA0 if iommu else None)
		d.setup()
		# Traffic: mode 'step' with k past the handshake ends here.
		tag = os.urandom(8)
		n = 0
		while True:
			for _ in range(8):
				try:
					d.send_frame(vhu.make_frame(tag, n, 60 + n % 1400))
				except vhu.Timeout:
					break
				n += 1
			d.poll_rx()
			if iommu:
				d.serve_misses()
			if mode == 'step' and n > 64:
				os._exit(0)
			time.sleep(0.0005)
	except BaseException:  # noqa: BLE001
		os._exit(3)
	os._exit(0)


def cycles(args):
	tp = Testpmd(args.tp_pid, args.tp_fifo, args.tp_log)
	seed = args.seed if args.seed is not None else random.randrange(1 << 30)
	rnd = random.Random(seed)
	print('seed %d (faults.py cycles --seed %d reproduces the sequence)' %
			(seed, seed))
	base = Baseline(tp) if args.check_every else None
	modes = ['step', 'kill-hs', 'kill-tx']
	stats = {m: 0 for m in modes}
	refused = 0
	mark = tp.log_size()
	t0 = time.monotonic()
	for i in range(args.cycles):
		mode = modes[i % 3]
		stats[mode] += 1
		k = rnd.randrange(0, 26)
		crnd = random.Random(rnd.getrandbits(32))
		pid = os.fork()
		if pid == 0:
			signal.signal(signal.SIGINT, signal.SIG_DFL)
			child_run(args.sock, mode, k, crnd, args.iommu)
		if mode == 'kill-hs':
			time.sleep(rnd.random() * 0.03)
		elif mode == 'kill-tx':
			time.sleep(0.03 + rnd.random() * 0.2)
		if mode != 'step':
			try:
				os.kill(pid, signal.SIGKILL)
			except ProcessLookupError:
				pass
		deadline = time.monotonic() + 10
		while True:
			r, st = os.waitpid(pid, os.WNOHANG)
			if r:
				break
			if time.monotonic() > deadline:
				os.kill(pid, signal.SIGKILL)
				os.waitpid(pid, 0)
				print('FAIL cycle %d (%s, k=%d): front-end still running '
					'after 10 s' % (i, mode, k))
				return 1
			time.sleep(0.002)
		if os.WIFEXITED(st) and os.WEXITSTATUS(st) == 3:
			refused += 1	# could not even complete what it tried
		if not tp.alive():
			print('FAIL cycle %d (%s, k=%d): testpmd died (%s)' %
					(i, mode, k, tp.exit_info()))
			return 1
		if base and (i + 1) % args.check_every == 0:
			why = base.settle(timeout=3)
			if why:
				print('FAIL after cycle %d (%s, k=%d): %s' %
						(i, mode, k, why))
				return 1
	log = tp.log_since(mark)
	reasons = {}
	for ln in log.splitlines():
		if 'front-end disconnected: ' in ln:
			r = ln.split('front-end disconnected: ', 1)[1].strip()
			reasons[r] = reasons.get(r, 0) + 1
	print('ok %d cycles (%s) in %.1f s; %d devices reached running '
			'(the rest died during the handshake); %d children hit an '
			'error before their planned end; back-end saw: %s' % (
			args.cycles, ', '.join('%s %d' % kv for kv in
			stats.items()), time.monotonic() - t0,
			log.count('device ready'), refused,
			', '.join('%d "%s"' % (n, r) for r, n in
			sorted(reasons.items(), key=lambda x: -x[1]))))
	return 0


def baseline(args):
	tp = Testpmd(args.tp_pid, args.tp_fifo, args.tp_log)
	b = Baseline(tp)
	with open(args.out, 'w') as f:
		json.dump({'fds': b.fds, 'maps': b.maps, 'gmaps': b.gmaps,
			'mbufs': b.mbufs, 'heap': b.heap, 'fd_map': {str(k): v for k, v in
			b.fd_map.items()}}, f)
	print('baseline: %d fds, %d mappings, %d mbufs in use, %d heap '
			'allocations' % (b.fds, b.maps, b.mbufs, b.heap))
	return 0


def final(args):
	tp = Testpmd(args.tp_pid, args.tp_fifo, args.tp_log)
	with open(args.base) as f:
		j = json.load(f)
	b = Baseline.__new__(Baseline)
	b.tp = tp
	b.check_pool = True
	b.fds, b.maps, b.mbufs, b.heap = j['fds'], j['maps'], j['mbufs'], j['heap']
	b.gmaps = j['gmaps']
	b.fd_map = {int(k): v for k, v in j['fd_map'].items()}
	rc = 0
	why = b.settle(timeout=5)
	if why:
		print('FAIL: after all the dead front-ends, %s' % why)
		rc = 1
	else:
		print('ok: fds, mappings, mbufs and heap back to the baseline')
	d = vhu.NetDev(args.sock, features=vhu.bit(vhu.F_VERSION_1) |
			vhu.bit(vhu.F_PROTOCOL_FEATURES) | vhu.bit(vhu.F_MRG_RXBUF),
			conn_timeout=5, iova=IOVA0 if args.iommu else None)
	try:
		d.setup()
		for n, size in ((64, 64), (64, 1400), (16, 4000)):
			r = d.loopback(n, size=size, timeout=5)
			if r:
				print('FAIL: the final front-end: %s' % r)
				return 1
		print('ok: the final front-end gets its %s frames back' % (64 + 64 + 16))
	finally:
		d.close()
	why = b.settle(timeout=5)
	if why:
		print('FAIL: after the final front-end left: %s' % why)
		rc = 1
	return rc


def main():
	ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
	ap.add_argument('what', choices=('baseline', 'cycles', 'final'))
	ap.add_argument('--sock')
	ap.add_argument('--tp-pid', type=int)
	ap.add_argument('--tp-fifo')
	ap.add_argument('--tp-log')
	ap.add_argument('--cycles', type=int, default=120)
	ap.add_argument('--check-every', type=int, default=15,
			help='check resources every N cycles (0: never)')
	ap.add_argument('--seed', type=int)
	ap.add_argument('--iommu', action='store_true',
			help='front-ends with VIRTIO_F_IOMMU_PLATFORM (IOVAs, '
			'IOTLB UPDATEs, misses answered)')
	ap.add_argument('--out')
	ap.add_argument('--base')
	args = ap.parse_args()
	return {'baseline': baseline, 'cycles': cycles, 'final': final}[
			args.what](args)


if __name__ == '__main__':
	sys.exit(main())
