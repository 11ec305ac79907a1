/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * fuzz_packed: a hostile driver's packed ring, run through
 * iovh_packed_dequeue() and iovh_packed_enqueue().
 *
 * Same set-up as fuzz_split.c: up to four regions malloc()ed to their
 * exact size (ASan's redzones catch any access outside), region 0 holding
 * the descriptor ring, then the driver event area, then the device event
 * area, and possibly buffers after them. With VIRTIO_F_IOMMU_PLATFORM,
 * descriptor addresses are IOVAs translated through an IOTLB the input
 * fills (the rings stay where region 0 has them, as if translated).
 *
 * Input (integers little-endian):
 *
 *   u8  cfg      bit 0 VERSION_1, 1 MRG_RXBUF, 2 EVENT_IDX, 3 dirty log on,
 *                4 log the ring, 5 notify_off, 6 IN_ORDER, 7 a call eventfd
 *   u8  cfg2     bit 0: dequeue into the tiny mempool; bit 1: IOMMU
 *   u16 size     ring size 1 + size % 1024 (any size: packed rings need
 *                not be powers of two)
 *   u16 base     as SET_VRING_BASE: bits 0-14 slot (% size), bit 15 wrap
 *   u8  nregions 1 + n % 4
 *   u8  nops     n % (MAX_OPS + 1)
 *   u16 log_bytes  size of the dirty bitmap (at least 1)
 *   4 x { u64 gpa, u16 extra }   region 0: ring bytes + extra bytes;
 *                the others: extra + 1 bytes
 *   4 x { u64 iova, u8 region, u16 offset, u8 pages, u8 perm }
 *                IOTLB entries, as in fuzz_split.c
 *   nops x { u8 op, a, b, c }    see run_op()
 *   rest         the initial content of the regions, in order
 *
 * After every operation: nothing is left staged and no buffer id is left
 * claimed; the device's used position caught up with its avail position
 * (it never keeps a buffer past a burst) and moved at most one lap; every
 * mbuf returned is well formed; a dequeue wrote nothing in guest memory
 * but the used slots and the device event area; a broken ring stays
 * still. After the input: every mbuf is back in its pool.
 */

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "packed_ring.h"
#include "vhost.h"
#include "fuzz_common.h"

#define MAX_REGIONS 4
#define MAX_RING 1024
#define RING_BYTES_MAX (16 * MAX_RING + 8)
#define MAX_IOTLB 4
#define MAX_OPS 16
#define MAX_BURST 64
#define MAX_RX_PKTS 32

#define RX_POOL_N 2048
#define TX_POOL_N 512
#define TINY_POOL_N 16

static struct rte_mempool *rx_pool, *tx_pool, *tiny_pool;
static struct iovh_dev *dev;
static struct iovh_vq *vq;
static struct iovh_mem *mem;
static int callfd = -1;
static struct iovh_iotlb iotlb;
static int miss_efd = -1;
static uint8_t snapshot[MAX_REGIONS][RING_BYTES_MAX + UINT16_MAX + 1];

/* The fuzzed driver's own position: where op 2 makes slots available. */
static uint16_t drv_pos;
static uint8_t drv_wrap;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_eal_init((*argc > 0) ? (*argv)[0] : "fuzz_packed");
	rx_pool = rte_pktmbuf_pool_create("fuzz_rx", RX_POOL_N, 0, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	tx_pool = rte_pktmbuf_pool_create("fuzz_tx", TX_POOL_N, 0, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	tiny_pool = rte_pktmbuf_pool_create("fuzz_tiny", TINY_POOL_N, 0, 0,
		RTE_PKTMBUF_HEADROOM + 64, rte_socket_id());
	dev = calloc(1, sizeof(*dev));
	vq = aligned_alloc(RTE_CACHE_LINE_SIZE,
		RTE_ALIGN_CEIL(sizeof(*vq), RTE_CACHE_LINE_SIZE));
	mem = calloc(1, sizeof(*mem));
	callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	miss_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (rx_pool == NULL || tx_pool == NULL || tiny_pool == NULL ||
			dev == NULL || vq == NULL || mem == NULL || callfd < 0 ||
			miss_efd < 0 || iovh_iotlb_init(&iotlb, 64) < 0) {
		fprintf(stderr, "fuzz_packed: set-up failed\n");
		exit(1);
	}
	return 0;
}

struct region {
	uint8_t *buf;
	uint64_t gpa;
	uint64_t size;
};

static int
cmp_region(const void *a, const void *b)
{
	const struct iovh_mem_region *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/** The memory table the control path would have built (fuzz_split.c). */
static bool
build_mem(const struct region *reg, unsigned int n)
{
	unsigned int i;

	memset(mem, 0, sizeof(*mem));
	for (i = 0; i < n; i++) {
		struct iovh_mem_region *r = &mem->r[i];

		if (reg[i].gpa + reg[i].size - 1 < reg[i].gpa)
			return false;
		r->gpa = reg[i].gpa;
		r->size = reg[i].size;
		r->hva = (uint64_t)(uintptr_t)reg[i].buf;
		r->fva = 0x7f0000000000ULL + 0x10000000ULL * i;
		r->fd = -1;
	}
	mem->nregions = n;
	qsort(mem->r, n, sizeof(mem->r[0]), cmp_region);
	for (i = 1; i < n; i++)
		if (mem->r[i].gpa - mem->r[i - 1].gpa < mem->r[i - 1].size)
			return false;
	return true;
}

static void
check_mbuf(const struct rte_mbuf *m)
{
	const struct rte_mbuf *s;
	const char *why = NULL;
	uint32_t sum = 0;
	uint16_t segs = 0;

	FUZZ_CHECK(rte_mbuf_check(m, 1, &why) == 0, "bad mbuf: %s", why);
	for (s = m; s != NULL; s = s->next) {
		FUZZ_CHECK((uint32_t)s->data_off + s->data_len <= s->buf_len,
				"segment data past its buffer");
		sum += s->data_len;
		segs++;
	}
	FUZZ_CHECK(sum == m->pkt_len, "pkt_len %u, segments hold %u",
			m->pkt_len, sum);
	FUZZ_CHECK(segs == m->nb_segs, "nb_segs %u, chain of %u",
			m->nb_segs, segs);
	FUZZ_CHECK(m->pkt_len > 0, "empty packet dequeued");
}

static const uint32_t pkt_len_tab[16] = {
	0, 1, 14, 60, 64, 100, 128, 500,
	1000, 1500, 2000, 4000, 9000, 16000, 32000, 65000,
};

static struct rte_mbuf *
make_pkt(uint32_t len, uint32_t seg)
{
	struct rte_mbuf *head = NULL, *m;
	uint32_t left = len, n;
	char *p;

	do {
		m = rte_pktmbuf_alloc(rx_pool);
		if (m == NULL)
			goto fail;
		if (head == NULL) {
			head = m;
		} else if (rte_pktmbuf_chain(head, m) != 0) {
			rte_pktmbuf_free(m);
			goto fail;
		}
		n = RTE_MIN(left, seg);
		p = rte_pktmbuf_append(head, n);
		if (p == NULL)
			goto fail;
		memset(p, (int)(left & 0xff), n);
		left -= n;
	} while (left > 0);
	return head;
fail:
	rte_pktmbuf_free(head);
	return NULL;
}

/** Slots handed back by the burst that started at (pos0, wrap0). */
static uint32_t
slots_moved(uint16_t pos0, uint8_t wrap0)
{
	uint32_t d = (uint32_t)vq->last_used_idx + vq->size - pos0;

	if (vq->used_wrap == wrap0)
		d -= vq->size;
	return d;
}

/** Bookkeeping after a burst: see the invariants at the top. */
static void
check_burst(uint16_t pos0, uint8_t wrap0)
{
	unsigned int i;

	FUZZ_CHECK(vq->shadow_count == 0, "%u used entries left staged",
			vq->shadow_count);
	FUZZ_CHECK(vq->last_used_idx == vq->last_avail_idx &&
			vq->used_wrap == vq->avail_wrap,
		"used %u/%u behind avail %u/%u after a burst",
		vq->last_used_idx, vq->used_wrap, vq->last_avail_idx,
		vq->avail_wrap);
	FUZZ_CHECK(vq->last_used_idx < vq->size, "position %u past %u",
			vq->last_used_idx, vq->size);
	for (i = 0; i < RTE_DIM(vq->id_busy); i++)
		FUZZ_CHECK(vq->id_busy[i] == 0, "buffer ids left claimed");
	(void)pos0;
	(void)wrap0;
}

/**
 * A dequeue wrote nothing but the slots it handed back (from @p pos0,
 * @p n of them: the whole ring when n is a lap or more) and the device
 * event area.
 */
static void
check_unwritten(const struct region *reg, unsigned int nreg, uint16_t pos0,
		uint32_t n)
{
	uint64_t ring_bytes = 16ULL * vq->size, j, slot;
	unsigned int i;

	for (i = 0; i < nreg; i++) {
		if (memcmp(snapshot[i], reg[i].buf, reg[i].size) == 0)
			continue;
		for (j = 0; j < reg[i].size; j++) {
			if (snapshot[i][j] == reg[i].buf[j])
				continue;
			if (i == 0 && j < ring_bytes) {
				slot = (j / 16 + vq->size - pos0) % vq->size;
				if (slot < n)
					continue;
			}
			if (i == 0 && j >= ring_bytes + 4 && j < ring_bytes + 8)
				continue;
			FUZZ_CHECK(false, "dequeue wrote gpa 0x%" PRIx64
				" (region %u + %" PRIu64 "): not a used slot",
				reg[i].gpa + j, i, j);
		}
	}
}

/**
 * One operation (op % 5):
 *   0  dequeue a % (MAX_BURST + 1) packets
 *   1  enqueue a % (MAX_RX_PKTS + 1) packets, lengths from b, segment
 *      size from c
 *   2  the driver makes its next a % 33 slots available (AVAIL/USED bits
 *      of its wrap counter, the other flag bits as they are)
 *   3  the driver writes byte c at offset (a | b << 8) of region 0
 *   4  IOTLB invalidate of c + 1 pages from IOVA (a | b << 8) << 12
 */
static void
run_op(const uint8_t op[4], struct rte_mempool *tx_mp, struct region *reg,
		unsigned int nreg)
{
	struct vring_packed_desc *ring = vq->desc_packed;
	struct rte_mbuf *pkts[RTE_MAX(MAX_BURST, MAX_RX_PKTS)];
	uint16_t pos0 = vq->last_used_idx, n, got, i, f;
	uint8_t wrap0 = vq->used_wrap, broken0 = vq->broken;
	uint32_t seg, len;
	uint64_t iova;

	if (vq->iommu)
		iovh_vq_iotlb_sync(dev, vq);
	switch (op[0] % 5) {
	case 0:
		n = op[1] % (MAX_BURST + 1);
		for (i = 0; i < nreg; i++)
			memcpy(snapshot[i], reg[i].buf, reg[i].size);
		got = iovh_packed_dequeue(dev, vq, tx_mp, pkts, n);
		FUZZ_TRACE("dequeue %u: got %u", n, got);
		FUZZ_CHECK(got <= n, "dequeued %u of %u", got, n);
		check_burst(pos0, wrap0);
		check_unwritten(reg, nreg, pos0, slots_moved(pos0, wrap0));
		for (i = 0; i < got; i++) {
			check_mbuf(pkts[i]);
			rte_pktmbuf_free(pkts[i]);
		}
		break;
	case 1:
		n = op[1] % (MAX_RX_PKTS + 1);
		for (i = 0; i < n; i++) {
			len = pkt_len_tab[(op[2] + i) % 16] +
				(uint32_t)(op[3] * i) % 64;
			seg = RTE_MAX(64u << (op[3] % 6), len / 64 + 1);
			seg = RTE_MIN(seg, 2048u);
			pkts[i] = make_pkt(len, seg);
			if (pkts[i] == NULL)
				break;
		}
		n = i;
		got = iovh_packed_enqueue(dev, vq, pkts, n);
		FUZZ_TRACE("enqueue %u: consumed %u", n, got);
		FUZZ_CHECK(got <= n, "enqueue consumed %u of %u", got, n);
		for (i = 0; i < n; i++)
			rte_pktmbuf_free(pkts[i]);
		check_burst(pos0, wrap0);
		break;
	case 2:
		n = op[1] % 33;
		for (i = 0; i < n; i++) {
			f = ring[drv_pos].flags & ~(VRING_PACKED_DESC_F_AVAIL |
					VRING_PACKED_DESC_F_USED);
			ring[drv_pos].flags = f | (drv_wrap ?
				VRING_PACKED_DESC_F_AVAIL :
				VRING_PACKED_DESC_F_USED);
			if (++drv_pos == vq->size) {
				drv_pos = 0;
				drv_wrap ^= 1;
			}
		}
		FUZZ_TRACE("driver: %u slots available, now at %u/%u", n,
				drv_pos, drv_wrap);
		break;
	case 3:
		reg[0].buf[(op[1] | (op[2] << 8)) % reg[0].size] = op[3];
		FUZZ_TRACE("poke");
		break;
	case 4:
		iova = (uint64_t)(op[1] | (op[2] << 8)) << IOTLB_PAGE_SHIFT;
		if (iovh_iotlb_remove(&dev->iotlb, iova, iova +
				((uint64_t)(op[3] + 1) << IOTLB_PAGE_SHIFT) - 1) < 0)
			iovh_iotlb_flush(&dev->iotlb);
		iovh_iotlb_reclaim(&dev->iotlb);
		break;
	}
	if (broken0)
		FUZZ_CHECK(vq->last_used_idx == pos0 && vq->used_wrap == wrap0,
			"a broken ring moved");
	vq->miss_tail = vq->miss_head;
	FUZZ_TRACE("  avail %u/%u used %u/%u broken %u: packets %" PRIu64
		" dropped %" PRIu64 " bad %" PRIu64 " notifications %" PRIu64,
		vq->last_avail_idx, vq->avail_wrap, vq->last_used_idx,
		vq->used_wrap, vq->broken, vq->stats.packets,
		vq->stats.dropped, vq->stats.bad_desc,
		vq->stats.notifications);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct region reg[MAX_REGIONS];
	struct {
		uint64_t iova, len;
		uint16_t off;
		uint8_t region, perm;
	} tlb[MAX_IOTLB];
	uint8_t ops[MAX_OPS][4];
	struct rte_mempool *tx_mp;
	uint8_t cfg, cfg2, *log = NULL;
	uint64_t features = 0, extra[MAX_REGIONS], ring_bytes;
	unsigned int nreg, nops, i;
	uint16_t rsize, log_bytes, base;
	bool ok;

	cfg = fuzz_u8(&in);
	cfg2 = fuzz_u8(&in);
	rsize = 1 + fuzz_le(&in, 2) % MAX_RING;
	base = fuzz_le(&in, 2);
	nreg = 1 + fuzz_u8(&in) % MAX_REGIONS;
	nops = fuzz_u8(&in) % (MAX_OPS + 1);
	log_bytes = RTE_MAX(fuzz_le(&in, 2), 1u);
	for (i = 0; i < MAX_REGIONS; i++) {
		reg[i].gpa = fuzz_le(&in, 8);
		extra[i] = fuzz_le(&in, 2);
	}
	for (i = 0; i < MAX_IOTLB; i++) {
		tlb[i].iova = fuzz_le(&in, 8) & ~0xfffULL;
		tlb[i].region = fuzz_u8(&in);
		tlb[i].off = fuzz_le(&in, 2);
		tlb[i].len = (1 + fuzz_u8(&in) % 16ULL) << IOTLB_PAGE_SHIFT;
		tlb[i].perm = 1 + fuzz_u8(&in) % 3;
	}
	for (i = 0; i < nops; i++)
		fuzz_bytes(&in, ops[i], 4);

	ring_bytes = 16ULL * rsize + 8;
	for (i = 0; i < nreg; i++) {
		reg[i].size = i == 0 ? ring_bytes + extra[0] : extra[i] + 1;
		reg[i].buf = malloc(reg[i].size);
		if (reg[i].buf == NULL)
			abort();
		memset(reg[i].buf, 0, reg[i].size);
		fuzz_bytes(&in, reg[i].buf, reg[i].size);
	}
	if (!build_mem(reg, nreg)) {
		FUZZ_TRACE("regions overlap or wrap: input skipped");
		goto out;
	}

	features = 1ULL << VIRTIO_F_RING_PACKED;
	if (cfg & 0x01)
		features |= 1ULL << VIRTIO_F_VERSION_1;
	if (cfg & 0x02)
		features |= 1ULL << VIRTIO_NET_F_MRG_RXBUF;
	if (cfg & 0x04)
		features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (cfg & 0x40)
		features |= 1ULL << VIRTIO_F_IN_ORDER;
	log = malloc(log_bytes);
	if (log == NULL)
		abort();
	memset(log, 0, log_bytes);

	memset(dev, 0, sizeof(*dev));
	dev->iotlb = iotlb;
	dev->miss_efd = miss_efd;
	dev->mem = mem;
	dev->features = features;
	dev->features_set = 1;
	dev->log_base = log;
	dev->log_size = log_bytes;
	dev->log_on = !!(cfg & 0x08);
	dev->backend_fd = -1;
	dev->listen_fd = -1;
	dev->max_queue_pairs = 1;
	dev->running = 1;
	dev->vq[0] = vq;

	/* As the control thread leaves it after SET_VRING_BASE/ADDR. */
	memset(vq, 0, sizeof(*vq));
	vq->dev = dev;
	vq->size = rsize;
	vq->packed = 1;
	vq->mrg_rxbuf = !!(cfg & 0x02);
	vq->event_idx = !!(cfg & 0x04);
	vq->in_order = !!(cfg & 0x40);
	vq->hdr_len = (cfg & 0x03) ? sizeof(struct virtio_net_hdr_mrg_rxbuf) :
		sizeof(struct virtio_net_hdr);
	vq->log_used = dev->log_on && (cfg & 0x10);
	vq->notify_off = !!(cfg & 0x20);
	vq->desc_packed = (struct vring_packed_desc *)reg[0].buf;
	vq->driver_event = (struct vring_packed_desc_event *)
		(reg[0].buf + 16ULL * rsize);
	vq->device_event = (struct vring_packed_desc_event *)
		(reg[0].buf + 16ULL * rsize + 4);
	vq->log_guest_addr = reg[0].gpa;
	vq->log_event_gpa = reg[0].gpa + 16ULL * rsize + 4;
	vq->dev_event_last = UINT32_MAX;
	vq->callfd = (cfg & 0x80) ? callfd : -1;
	vq->kickfd = -1;
	vq->errfd = -1;
	vq->last_avail_idx = vq->last_used_idx = (base & 0x7fff) % rsize;
	vq->avail_wrap = vq->used_wrap = base >> 15;
	drv_pos = vq->last_avail_idx;
	drv_wrap = vq->avail_wrap;
	vq->ready = 1;
	vq->enabled = 1;
	vq->started = 1;
	vq->addr_set = 1;
	if (cfg2 & 2) {
		features |= 1ULL << VIRTIO_F_IOMMU_PLATFORM;
		dev->features = features;
		vq->iommu = 1;
		vq->c_gen = dev->iotlb.gen;
		vq->c_iova = 1;
		vq->c_last = 0;
		for (i = 0; i < MAX_IOTLB; i++) {
			const struct region *r = &reg[tlb[i].region % nreg];

			if (tlb[i].off + tlb[i].len > r->size)
				continue;
			iovh_iotlb_insert(&dev->iotlb, tlb[i].iova,
				tlb[i].iova + tlb[i].len - 1,
				(uint64_t)(uintptr_t)r->buf + tlb[i].off,
				r->gpa + tlb[i].off, tlb[i].perm, NULL, 0);
		}
		iovh_iotlb_reclaim(&dev->iotlb);
		FUZZ_TRACE("IOMMU: %u IOTLB entries", dev->iotlb.nmaps);
	}

	tx_mp = (cfg2 & 1) ? tiny_pool : tx_pool;
	for (i = 0; i < nops; i++)
		run_op(ops[i], tx_mp, reg, nreg);

	FUZZ_CHECK(rte_mempool_avail_count(rx_pool) == RX_POOL_N,
		"%u mbufs missing from the enqueue pool",
		RX_POOL_N - rte_mempool_avail_count(rx_pool));
	ok = rte_mempool_avail_count(tx_pool) == TX_POOL_N &&
		rte_mempool_avail_count(tiny_pool) == TINY_POOL_N;
	FUZZ_CHECK(ok, "dequeue leaked mbufs: %u + %u missing",
		TX_POOL_N - rte_mempool_avail_count(tx_pool),
		TINY_POOL_N - rte_mempool_avail_count(tiny_pool));
	{
		uint64_t v;

		if (read(callfd, &v, sizeof(v)) < 0)
			v = 0;
		if (read(miss_efd, &v, sizeof(v)) < 0)
			v = 0;
	}
	iovh_iotlb_fini(&dev->iotlb);
	if (iovh_iotlb_init(&iotlb, 64) < 0)
		abort();
out:
	free(log);
	for (i = 0; i < nreg; i++)
		free(reg[i].buf);
	return 0;
}
