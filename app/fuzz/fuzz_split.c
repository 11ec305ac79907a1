/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * fuzz_split: a hostile driver's split ring, run through
 * iovh_split_dequeue() and iovh_split_enqueue().
 *
 * Guest memory is up to four regions, each malloc()ed to its exact size,
 * so that AddressSanitizer's redzones catch any access outside it. Region
 * 0 holds the rings (descriptor table at its start, then the avail ring,
 * then the used ring) and possibly buffers after them; the other regions
 * are buffers and indirect tables, placed anywhere in guest-physical space
 * (adjacent ones test buffers that cross regions). The device and the
 * virtqueue are filled in by hand, as the control thread would after
 * SET_MEM_TABLE and SET_VRING_*. With VIRTIO_F_IOMMU_PLATFORM, descriptor
 * addresses are IOVAs translated through an IOTLB the input fills (the
 * rings themselves stay where region 0 has them, as if translated).
 *
 * Input (integers little-endian):
 *
 *   u8  cfg      bit 0 VERSION_1, 1 MRG_RXBUF, 2 EVENT_IDX, 3 dirty log on,
 *                4 log the used ring, 5 notify_off, 6 NOTIFY_ON_EMPTY,
 *                7 a call eventfd
 *   u8  cfg2     bit 0: dequeue into the tiny mempool (forces chained
 *                mbufs and running out of them); bit 1: IOMMU (IOVAs)
 *   u8  ring     size = 1 << (ring % 11)
 *   u16 last_avail_idx, u16 last_used_idx (the device's, as after
 *                SET_VRING_BASE); the ring's own indexes are in memory
 *   u8  nregions 1 + n % 4
 *   u8  nops     n % (MAX_OPS + 1)
 *   u16 log_bytes  size of the dirty bitmap (at least 1)
 *   4 x { u64 gpa, u16 extra }   region 0: ring bytes + extra bytes;
 *                the others: extra + 1 bytes
 *   4 x { u64 iova, u8 region, u16 offset, u8 pages, u8 perm }
 *                IOTLB entries (IOMMU only): iova (4 KiB aligned down)
 *                maps 1 + pages % 16 pages at that offset of that region,
 *                if they fit in it; perm 1 + perm % 3 (RO, WO, RW)
 *   nops x { u8 op, a, b, c }    see run_op()
 *   rest         the initial content of the regions, in order (zeros
 *                where the input ends)
 *
 * After every operation: the device handed back exactly one used entry
 * per avail entry it consumed, with that entry's head, in order; nothing
 * is left staged; every mbuf it returned is well formed; a dequeue wrote
 * nothing in guest memory but the used ring. After the input: every mbuf
 * is back in its pool.
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

#include "vhost.h"
#include "fuzz_common.h"

#define MAX_REGIONS 4
/* Region 0 of a 1024-entry ring: rings, then up to 64 KiB. */
#define RING_BYTES_MAX (16 * 1024 + 6 + 2 * 1024 + 8 + 8 * 1024 + 8)
#define MAX_IOTLB 4
#define MAX_OPS 16
#define MAX_BURST 64
#define MAX_RX_PKTS 32

#define RX_POOL_N 2048		/* packets handed to enqueue */
#define TX_POOL_N 512		/* dequeue, ordinary mbufs */
#define TINY_POOL_N 16		/* dequeue, 64-byte mbufs */

static struct rte_mempool *rx_pool, *tx_pool, *tiny_pool;
static struct iovh_dev *dev;
static struct iovh_vq *vq;
static struct iovh_mem *mem;
static int callfd = -1;
/* Kept across inputs (the device is zeroed for each): emptied after each. */
static struct iovh_iotlb iotlb;
static int miss_efd = -1;
/* Guest memory as it was before a dequeue. */
static uint8_t snapshot[MAX_REGIONS][RING_BYTES_MAX + UINT16_MAX + 1];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_eal_init((*argc > 0) ? (*argv)[0] : "fuzz_split");
	/* No per-lcore cache, so the available count is exact. */
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
		fprintf(stderr, "fuzz_split: set-up failed\n");
		exit(1);
	}
	return 0;
}

/* ------------------------------------------------------------------ */

struct region {
	uint8_t *buf;
	uint64_t gpa;
	uint64_t size;
};

/* Ring layout inside region 0 (alignment as the control path demands:
 * 16 for descriptors, 2 for avail, 4 for used). */
struct layout {
	uint64_t avail_off;
	uint64_t used_off;
	uint64_t bytes;
};

static struct layout
ring_layout(uint16_t n)
{
	struct layout l;

	l.avail_off = 16ULL * n;
	l.used_off = RTE_ALIGN_CEIL(l.avail_off + 4 + 2ULL * n + 2, 4);
	l.bytes = l.used_off + 4 + 8ULL * n + 2;
	return l;
}

static int
cmp_region(const void *a, const void *b)
{
	const struct iovh_mem_region *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

/**
 * The memory table the control path would have built: sorted, no empty,
 * wrapping or overlapping region (iovh_mem_region_check refuses those).
 * @return false if this layout is not one the control path lets through.
 */
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

/** A dequeued packet must be a well-formed mbuf chain. */
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

/* Lengths a packet for enqueue may have: runts to GSO size. */
static const uint32_t pkt_len_tab[16] = {
	0, 1, 14, 60, 64, 100, 128, 500,
	1000, 1500, 2000, 4000, 9000, 16000, 32000, 65000,
};

/**
 * A packet of @p len bytes in segments of @p seg bytes (the last one
 * shorter), with an empty segment after the first when @p empty.
 * NULL when the pool runs dry.
 */
static struct rte_mbuf *
make_pkt(uint32_t len, uint32_t seg, bool empty)
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
		/* Appends to the last segment, which m now is. */
		p = rte_pktmbuf_append(head, n);
		if (p == NULL)
			goto fail;
		/* Content is irrelevant here; a pattern keeps it defined. */
		memset(p, (int)(left & 0xff), n);
		left -= n;
		if (empty && m == head) {
			m = rte_pktmbuf_alloc(rx_pool);
			if (m == NULL)
				goto fail;
			if (rte_pktmbuf_chain(head, m) != 0) {
				rte_pktmbuf_free(m);
				goto fail;
			}
		}
	} while (left > 0);
	return head;
fail:
	rte_pktmbuf_free(head);
	return NULL;
}

/**
 * Compare guest memory with the snapshot, except [skip, skip + skip_len)
 * of region 0: nothing else may have changed.
 */
static void
check_unwritten(const struct region *reg, unsigned int nreg, uint64_t skip,
		uint64_t skip_len)
{
	unsigned int i;
	uint64_t j;

	for (i = 0; i < nreg; i++) {
		if (memcmp(snapshot[i], reg[i].buf, reg[i].size) == 0)
			continue;
		for (j = 0; j < reg[i].size; j++) {
			if (i == 0 && j >= skip && j - skip < skip_len)
				continue;
			FUZZ_CHECK(snapshot[i][j] == reg[i].buf[j],
				"dequeue wrote gpa 0x%" PRIx64 " (region %u + %" PRIu64
				"): TX buffers and rings are the driver's",
				reg[i].gpa + j, i, j);
		}
	}
}

/**
 * The device's used-ring bookkeeping after one burst. @p ring0 is region
 * 0 as it was before the burst. Used entry i must name the head of the
 * i-th avail entry consumed: checked when the driver's part of the rings
 * still holds what the device read (an RX buffer may overlay them) and
 * no used entry was flushed before the end of the burst (then an RX
 * buffer may overlay the used ring too).
 */
static void
check_burst(uint16_t avail0, uint16_t used0, const uint8_t *ring0,
		const struct region *r0, const struct layout *l, bool tx)
{
	const struct vring_avail *av =
		(const struct vring_avail *)(ring0 + l->avail_off);
	uint16_t took = vq->last_avail_idx - avail0;
	uint16_t gave = vq->last_used_idx - used0;
	uint16_t mask = vq->size - 1, i;
	struct vring_used_elem e;

	FUZZ_CHECK(vq->shadow_count == 0, "%u used entries left staged",
			vq->shadow_count);
	FUZZ_CHECK(took == gave, "consumed %u avail entries, returned %u",
			took, gave);
	FUZZ_CHECK(took <= vq->size, "consumed %u entries of a ring of %u",
			took, vq->size);
	if (!tx && (took >= IOVH_SHADOW_USED ||
			memcmp(ring0, r0->buf, l->used_off) != 0))
		return;
	for (i = 0; i < took; i++) {
		e = vq->used->ring[(uint16_t)(used0 + i) & mask];
		FUZZ_CHECK(e.id == av->ring[(uint16_t)(avail0 + i) & mask],
			"used entry %u names head %u, avail entry %u was %u",
			(uint16_t)(used0 + i), e.id, (uint16_t)(avail0 + i),
			av->ring[(uint16_t)(avail0 + i) & mask]);
		FUZZ_CHECK(!tx || e.len == 0,
			"TX used entry %u with length %u: nothing was written",
			(uint16_t)(used0 + i), e.len);
	}
}

/**
 * One operation (op % 4):
 *   0  dequeue a % (MAX_BURST + 1) packets
 *   1  enqueue a % (MAX_RX_PKTS + 1) packets, lengths from b, segment
 *      size and empty segments from c
 *   2  the driver posts: avail->idx += a
 *   3  the driver writes byte c at offset (a | b << 8) of region 0
 *   4  IOTLB invalidate of c + 1 pages from IOVA (a | b << 8) << 12
 */
static void
run_op(const uint8_t op[4], struct rte_mempool *tx_mp, struct region *reg,
		unsigned int nreg, const struct layout *l)
{
	struct region *r0 = &reg[0];
	struct rte_mbuf *pkts[RTE_MAX(MAX_BURST, MAX_RX_PKTS)];
	uint16_t avail0 = vq->last_avail_idx, used0 = vq->last_used_idx;
	uint16_t n, got, i;
	uint32_t seg, len;
	uint16_t *idx;
	uint64_t iova;

	/* What the burst functions do first (api.c). */
	if (vq->iommu)
		iovh_vq_iotlb_sync(dev, vq);
	switch (op[0] % 5) {
	case 0:
		n = op[1] % (MAX_BURST + 1);
		for (i = 0; i < nreg; i++)
			memcpy(snapshot[i], reg[i].buf, reg[i].size);
		got = iovh_split_dequeue(dev, vq, tx_mp, pkts, n);
		check_unwritten(reg, nreg, l->used_off, l->bytes - l->used_off);
		FUZZ_TRACE("dequeue %u: got %u", n, got);
		FUZZ_CHECK(got <= n, "dequeued %u of %u", got, n);
		for (i = 0; i < got; i++) {
			check_mbuf(pkts[i]);
			rte_pktmbuf_free(pkts[i]);
		}
		check_burst(avail0, used0, snapshot[0], r0, l, true);
		break;
	case 1:
		n = op[1] % (MAX_RX_PKTS + 1);
		for (i = 0; i < n; i++) {
			len = pkt_len_tab[(op[2] + i) % 16] +
				(uint32_t)(op[3] * i) % 64;
			/* At most 64 segments, so a burst fits the pool. */
			seg = RTE_MAX(64u << (op[3] % 6), len / 64 + 1);
			seg = RTE_MIN(seg, 2048u);
			pkts[i] = make_pkt(len, seg, op[3] & 0x40);
			if (pkts[i] == NULL)
				break;
		}
		n = i;
		memcpy(snapshot[0], r0->buf, l->used_off);
		got = iovh_split_enqueue(dev, vq, pkts, n);
		FUZZ_TRACE("enqueue %u: consumed %u", n, got);
		FUZZ_CHECK(got <= n, "enqueue consumed %u of %u", got, n);
		/* The mbufs stay the caller's either way. */
		for (i = 0; i < n; i++)
			rte_pktmbuf_free(pkts[i]);
		check_burst(avail0, used0, snapshot[0], r0, l, false);
		break;
	case 2:
		idx = (uint16_t *)(r0->buf + l->avail_off + 2);
		*idx += op[1];
		FUZZ_TRACE("avail idx now %u", *idx);
		break;
	case 3:
		r0->buf[(op[1] | (op[2] << 8)) % r0->size] = op[3];
		FUZZ_TRACE("poke");
		break;
	case 4:
		iova = (uint64_t)(op[1] | (op[2] << 8)) << IOTLB_PAGE_SHIFT;
		/* No poll thread runs now: reclaiming at once is safe. */
		if (iovh_iotlb_remove(&dev->iotlb, iova, iova +
				((uint64_t)(op[3] + 1) << IOTLB_PAGE_SHIFT) - 1) < 0)
			iovh_iotlb_flush(&dev->iotlb);
		iovh_iotlb_reclaim(&dev->iotlb);
		FUZZ_TRACE("invalidate 0x%" PRIx64 ": %u entries left", iova,
				dev->iotlb.nmaps);
		break;
	}
	/* The control thread takes the misses reported. */
	vq->miss_tail = vq->miss_head;
	FUZZ_TRACE("  last_avail %u last_used %u: packets %" PRIu64
		" bytes %" PRIu64 " dropped %" PRIu64 " bad %" PRIu64
		" notifications %" PRIu64, vq->last_avail_idx,
		vq->last_used_idx, vq->stats.packets, vq->stats.bytes,
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
	uint64_t features = 0, extra[MAX_REGIONS];
	unsigned int nreg, nops, i;
	uint16_t rsize, log_bytes, last_avail, last_used;
	struct layout l;
	bool ok;

	cfg = fuzz_u8(&in);
	cfg2 = fuzz_u8(&in);
	rsize = 1u << (fuzz_u8(&in) % 11);
	last_avail = fuzz_le(&in, 2);
	last_used = fuzz_le(&in, 2);
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

	l = ring_layout(rsize);
	for (i = 0; i < nreg; i++) {
		reg[i].size = i == 0 ? l.bytes + extra[0] : extra[i] + 1;
		/* Exactly the size: a byte past it is in ASan's redzone. */
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

	if (cfg & 0x01)
		features |= 1ULL << VIRTIO_F_VERSION_1;
	if (cfg & 0x02)
		features |= 1ULL << VIRTIO_NET_F_MRG_RXBUF;
	if (cfg & 0x04)
		features |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (cfg & 0x40)
		features |= 1ULL << VIRTIO_F_NOTIFY_ON_EMPTY;
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

	memset(vq, 0, sizeof(*vq));
	vq->dev = dev;
	vq->size = rsize;
	vq->mrg_rxbuf = !!(cfg & 0x02);
	vq->event_idx = !!(cfg & 0x04);
	vq->hdr_len = (cfg & 0x03) ? sizeof(struct virtio_net_hdr_mrg_rxbuf) :
		sizeof(struct virtio_net_hdr);
	vq->log_used = dev->log_on && (cfg & 0x10);
	vq->notify_off = !!(cfg & 0x20);
	vq->desc = (struct vring_desc *)reg[0].buf;
	vq->avail = (struct vring_avail *)(reg[0].buf + l.avail_off);
	vq->used = (struct vring_used *)(reg[0].buf + l.used_off);
	vq->log_guest_addr = reg[0].gpa + l.used_off;
	vq->callfd = (cfg & 0x80) ? callfd : -1;
	vq->kickfd = -1;
	vq->errfd = -1;
	vq->last_avail_idx = last_avail;
	vq->last_used_idx = last_used;
	vq->ready = 1;
	vq->enabled = 1;
	vq->started = 1;
	vq->addr_set = 1;
	if (cfg2 & 2) {
		features |= 1ULL << VIRTIO_F_IOMMU_PLATFORM;
		dev->features = features;
		vq->iommu = 1;
		/* As the control thread leaves it: an empty cache. */
		vq->c_gen = dev->iotlb.gen;
		vq->c_iova = 1;
		vq->c_last = 0;
		for (i = 0; i < MAX_IOTLB; i++) {
			const struct region *r = &reg[tlb[i].region % nreg];

			/* The control path maps only inside a region. */
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
		run_op(ops[i], tx_mp, reg, nreg, &l);

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

		/* Drained so the counters never saturate. */
		if (read(callfd, &v, sizeof(v)) < 0)
			v = 0;
		if (read(miss_efd, &v, sizeof(v)) < 0)
			v = 0;
	}
	/*
	 * A fresh table rather than a flushed one: what an input allocates
	 * is then freed by the same input, which spares libFuzzer a second
	 * run and a leak scan of every IOMMU input.
	 */
	iovh_iotlb_fini(&dev->iotlb);
	if (iovh_iotlb_init(&iotlb, 64) < 0)
		abort();
out:
	free(log);
	for (i = 0; i < nreg; i++)
		free(reg[i].buf);
	return 0;
}
