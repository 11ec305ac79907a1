/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * split_ring_autotest: the split-ring data path against a fake front-end.
 *
 * The test plays the driver. Guest memory is three separately mapped
 * regions (each with guard pages, so a stray access faults): A and B are
 * adjacent in guest-physical space but not on the host, so a buffer
 * crossing their boundary must be copied in two pieces; C sits after a
 * hole. The rings live in A. Device and virtqueue are filled in by hand,
 * the way the control thread would after SET_MEM_TABLE / SET_VRING_*.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "vhost.h"
#include "test.h"

#define PAGE 4096ULL

#define RA_GPA 0x100000ULL
#define RA_SIZE 0x100000ULL
#define RB_GPA (RA_GPA + RA_SIZE)	/* adjacent to A */
#define RB_SIZE 0x100000ULL
#define HOLE_GPA (RB_GPA + RB_SIZE)	/* not guest memory */
#define RC_GPA 0x800000ULL
#define RC_SIZE 0x40000ULL
#define NREG 3

/* Ring layout for up to 1024 entries. */
#define DESC_GPA RA_GPA
#define AVAIL_GPA (RA_GPA + 0x4000)
#define USED_GPA (RA_GPA + 0x5000)
/* Buffers handed out by galloc(): the rest of A. */
#define BUF_GPA (RA_GPA + 0x10000)

#define LOG_BYTES ((RC_GPA + RC_SIZE) / PAGE / 8)

#define NB_MBUF 2047
#define SMALL_NB 8
#define SMALL_ROOM 256

#define F_V1 (1ULL << VIRTIO_F_VERSION_1)
#define F_MRG (1ULL << VIRTIO_NET_F_MRG_RXBUF)
#define F_EVT (1ULL << VIRTIO_RING_F_EVENT_IDX)
#define F_IND (1ULL << VIRTIO_RING_F_INDIRECT_DESC)

#define W VRING_DESC_F_WRITE
#define IND VRING_DESC_F_INDIRECT

static struct {
	struct {
		uint8_t *map;	/* with a guard page each side */
		size_t map_len;
		uint8_t *hva;
		uint64_t gpa;
		uint64_t size;
	} reg[NREG];
	struct iovh_mem *mem;
	struct iovh_dev *dev;
	struct iovh_vq *vq;
	struct rte_mempool *mp;
	struct rte_mempool *small_mp;
	uint8_t *log;
	int callfd;
	uint16_t size;		/* ring size */
	uint16_t next_desc;	/* driver: next free descriptor */
	uint16_t avail_idx;	/* driver: its avail->idx */
	uint64_t bump;		/* driver: next free buffer gpa */
} F;

/* Scratch for flattening a packet out of guest memory. */
static uint8_t scratch[512 * 1024];

/* ------------------------------------------------------------------ */
/* Guest memory, as the test sees it                                   */

/** Host address of [gpa, gpa + len) if it lies in one region, else NULL. */
static uint8_t *
g2h(uint64_t gpa, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < NREG; i++)
		if (gpa >= F.reg[i].gpa &&
				gpa + len <= F.reg[i].gpa + F.reg[i].size)
			return F.reg[i].hva + (gpa - F.reg[i].gpa);
	return NULL;
}

/** Copy to or from guest memory, a byte at a time across regions. */
static void
gmem_copy(uint64_t gpa, void *buf, uint64_t len, bool to_guest)
{
	uint8_t *b = buf, *h;
	uint64_t i;

	for (i = 0; i < len; i++) {
		h = g2h(gpa + i, 1);
		if (h == NULL) {
			printf("test bug: gpa %#" PRIx64 " not mapped\n",
				gpa + i);
			abort();
		}
		if (to_guest)
			*h = b[i];
		else
			b[i] = *h;
	}
}

static uint64_t
galloc(uint32_t len)
{
	uint64_t gpa = F.bump;

	F.bump = RTE_ALIGN_CEIL(F.bump + len, 64);
	if (F.bump > RB_GPA) {
		printf("test bug: out of buffer space\n");
		abort();
	}
	return gpa;
}

/* ------------------------------------------------------------------ */
/* The driver side                                                     */

/** One buffer of a chain: flags are W, IND or 0 (NEXT is added). */
struct tbuf {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags;
};

static void
drv_set_desc(uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
		uint16_t next)
{
	struct vring_desc *d = &F.vq->desc[idx];

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/** Lay a chain out in consecutive free descriptors; return its head. */
static uint16_t
drv_chain(const struct tbuf *b, unsigned int n)
{
	uint16_t head = F.next_desc, idx, next;
	unsigned int i;

	for (i = 0; i < n; i++) {
		idx = (F.next_desc + i) % F.size;
		next = (idx + 1) % F.size;
		drv_set_desc(idx, b[i].gpa, b[i].len,
			b[i].flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0),
			i + 1 < n ? next : 0);
	}
	F.next_desc = (F.next_desc + n) % F.size;
	return head;
}

/** Make @p head available, publishing the new index like a driver. */
static void
drv_avail(uint16_t head)
{
	F.vq->avail->ring[F.avail_idx & (F.size - 1)] = head;
	F.avail_idx++;
	__atomic_store_n(&F.vq->avail->idx, F.avail_idx, __ATOMIC_RELEASE);
}

static uint16_t
drv_post(const struct tbuf *b, unsigned int n)
{
	uint16_t head = drv_chain(b, n);

	drv_avail(head);
	return head;
}

/** Write an indirect table at @p gpa (may cross regions). */
static void
drv_table(uint64_t gpa, const struct tbuf *b, unsigned int n)
{
	struct vring_desc d;
	unsigned int i;

	for (i = 0; i < n; i++) {
		d.addr = b[i].gpa;
		d.len = b[i].len;
		d.flags = b[i].flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		d.next = i + 1 < n ? i + 1 : 0;
		gmem_copy(gpa + i * sizeof(d), &d, sizeof(d), true);
	}
}

static uint16_t
used_idx(void)
{
	return __atomic_load_n(&F.vq->used->idx, __ATOMIC_ACQUIRE);
}

static struct vring_used_elem
used_at(uint16_t pos)
{
	return F.vq->used->ring[pos & (F.size - 1)];
}

#define CHECK_USED(pos, want_id, want_len) do { \
	struct vring_used_elem e_ = used_at(pos); \
	TEST_ASSERT_EQUAL(e_.id, want_id, "used entry %u", (unsigned)(pos)); \
	TEST_ASSERT_EQUAL(e_.len, want_len, "used entry %u", \
		(unsigned)(pos)); \
} while (0)

/** Notifications pending on the call eventfd (0 if none). */
static uint64_t
efd_take(void)
{
	uint64_t v = 0;

	if (read(F.callfd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* ------------------------------------------------------------------ */
/* Packets                                                             */

static uint8_t
pat(uint8_t seed, uint32_t i)
{
	/* Not 256-periodic, so a block copied to the wrong place shows. */
	return (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

/** An mbuf chain with segments of the given lengths, pattern-filled. */
static struct rte_mbuf *
pkt_new(const uint32_t *seglen, unsigned int nseg, uint8_t seed)
{
	struct rte_mbuf *head = NULL, *m;
	uint32_t off = 0, j;
	unsigned int i;
	uint8_t *p;

	for (i = 0; i < nseg; i++) {
		m = rte_pktmbuf_alloc(F.mp);
		if (m == NULL)
			goto fail;
		p = (uint8_t *)rte_pktmbuf_append(m, seglen[i]);
		if (p == NULL && seglen[i] != 0) {
			rte_pktmbuf_free(m);
			goto fail;
		}
		for (j = 0; j < seglen[i]; j++)
			p[j] = pat(seed, off + j);
		off += seglen[i];
		if (head == NULL)
			head = m;
		else if (rte_pktmbuf_chain(head, m) != 0) {
			rte_pktmbuf_free(m);
			goto fail;
		}
	}
	return head;
fail:
	rte_pktmbuf_free(head);
	printf("test bug: cannot build a packet\n");
	abort();
}

static struct rte_mbuf *
pkt1(uint32_t len, uint8_t seed)
{
	return pkt_new(&len, 1, seed);
}

/**
 * Check what the device wrote into the buffers @p b (in order, each used
 * up to its len): a zero header with num_buffers == @p nbufs (when the
 * header has the field), then @p len pattern bytes.
 */
static int
check_rx(const struct tbuf *b, unsigned int n, uint32_t len, uint8_t seed,
		uint16_t nbufs)
{
	uint32_t hl = F.vq->hdr_len, total = hl + len, got = 0, k, i;

	TEST_ASSERT(total <= sizeof(scratch), "test bug");
	for (i = 0; i < n && got < total; i++) {
		k = RTE_MIN(b[i].len, total - got);
		gmem_copy(b[i].gpa, scratch + got, k, false);
		got += k;
	}
	TEST_ASSERT_EQUAL(got, total, "buffers shorter than the packet");
	for (i = 0; i < sizeof(struct virtio_net_hdr); i++)
		TEST_ASSERT_EQUAL(scratch[i], 0, "header byte %u", i);
	if (hl == sizeof(struct virtio_net_hdr_mrg_rxbuf))
		TEST_ASSERT_EQUAL(scratch[10] | (scratch[11] << 8), nbufs,
			"num_buffers");
	for (i = 0; i < len; i++)
		if (scratch[hl + i] != pat(seed, i))
			TEST_ASSERT_EQUAL(scratch[hl + i], pat(seed, i),
				"packet byte %u", i);
	return TEST_SUCCESS;
}

/** Driver side of TX: zero header then @p len pattern bytes over @p b. */
static void
fill_tx(const struct tbuf *b, unsigned int n, uint32_t len, uint8_t seed)
{
	uint32_t hl = F.vq->hdr_len, total = hl + len, got = 0, k, i;

	memset(scratch, 0, hl);
	for (i = 0; i < len; i++)
		scratch[hl + i] = pat(seed, i);
	for (i = 0; i < n && got < total; i++) {
		k = RTE_MIN(b[i].len, total - got);
		gmem_copy(b[i].gpa, scratch + got, k, true);
		got += k;
	}
}

/** Check a dequeued mbuf chain: consistent, and the expected bytes. */
static int
check_mbuf(const struct rte_mbuf *m, uint32_t len, uint8_t seed)
{
	const struct rte_mbuf *s;
	uint32_t off = 0, i, segs = 0;
	const uint8_t *p;

	TEST_ASSERT_EQUAL(m->pkt_len, len, "pkt_len");
	TEST_ASSERT_EQUAL(m->ol_flags, 0, "ol_flags");
	for (s = m; s != NULL; s = s->next) {
		segs++;
		p = rte_pktmbuf_mtod(s, const uint8_t *);
		for (i = 0; i < s->data_len; i++)
			if (p[i] != pat(seed, off + i))
				TEST_ASSERT_EQUAL(p[i], pat(seed, off + i),
					"byte %u (segment %u)", off + i, segs);
		off += s->data_len;
	}
	TEST_ASSERT_EQUAL(off, len, "sum of data_len");
	TEST_ASSERT_EQUAL(segs, m->nb_segs, "nb_segs");
	return TEST_SUCCESS;
}

/** Every mbuf is back in its pool. */
static int
pools_full(void)
{
	TEST_ASSERT_EQUAL(rte_mempool_avail_count(F.mp), NB_MBUF,
		"mbufs leaked from the main pool");
	TEST_ASSERT_EQUAL(rte_mempool_avail_count(F.small_mp), SMALL_NB,
		"mbufs leaked from the small pool");
	return TEST_SUCCESS;
}

static uint16_t
enq(struct rte_mbuf **pkts, uint16_t n)
{
	return iovh_split_enqueue(F.dev, F.vq, pkts, n);
}

static uint16_t
enq1(struct rte_mbuf *m)
{
	return enq(&m, 1);
}

static uint16_t
deq(struct rte_mbuf **pkts, uint16_t n)
{
	return iovh_split_dequeue(F.dev, F.vq, F.mp, pkts, n);
}

/* ------------------------------------------------------------------ */
/* Fixture                                                             */

/** A fresh device and virtqueue: rings zeroed, indexes 0. */
static void
ring_init(uint16_t size, uint64_t features)
{
	struct iovh_vq *vq = F.vq;
	unsigned int i;

	for (i = 0; i < NREG; i++)
		memset(F.reg[i].hva, 0, F.reg[i].size);
	memset(F.log, 0, LOG_BYTES);

	F.dev->mem = F.mem;
	F.dev->features = features;
	F.dev->log_on = 0;
	F.dev->log_base = F.log;
	F.dev->log_size = LOG_BYTES;

	memset(vq, 0, sizeof(*vq));
	vq->dev = F.dev;
	vq->size = size;
	vq->mrg_rxbuf = !!(features & F_MRG);
	vq->event_idx = !!(features & F_EVT);
	vq->hdr_len = (features & (F_V1 | F_MRG)) ?
		sizeof(struct virtio_net_hdr_mrg_rxbuf) :
		sizeof(struct virtio_net_hdr);
	vq->desc = (struct vring_desc *)g2h(DESC_GPA, 16 * size);
	vq->avail = (struct vring_avail *)g2h(AVAIL_GPA, 6 + 2 * size);
	vq->used = (struct vring_used *)g2h(USED_GPA, 6 + 8 * size);
	vq->callfd = F.callfd;
	vq->kickfd = -1;
	vq->errfd = -1;
	vq->log_guest_addr = USED_GPA;
	vq->ready = 1;

	F.size = size;
	F.next_desc = 0;
	F.avail_idx = 0;
	F.bump = BUF_GPA;
	efd_take();
}

static int
case_setup(void)
{
	ring_init(64, F_V1 | F_IND);
	return TEST_SUCCESS;
}

static int
suite_setup(void)
{
	static const uint64_t gpa[NREG] = { RA_GPA, RB_GPA, RC_GPA };
	static const uint64_t size[NREG] = { RA_SIZE, RB_SIZE, RC_SIZE };
	unsigned int i;

	for (i = 0; i < NREG; i++) {
		F.reg[i].map_len = size[i] + 2 * PAGE;
		F.reg[i].map = mmap(NULL, F.reg[i].map_len,
			PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
		TEST_ASSERT(F.reg[i].map != MAP_FAILED, "mmap: %d", errno);
		TEST_ASSERT_SUCCESS(mprotect(F.reg[i].map, PAGE, PROT_NONE),
			"guard");
		TEST_ASSERT_SUCCESS(mprotect(F.reg[i].map + PAGE + size[i],
			PAGE, PROT_NONE), "guard");
		F.reg[i].hva = F.reg[i].map + PAGE;
		F.reg[i].gpa = gpa[i];
		F.reg[i].size = size[i];
	}
	/* The library's view: the same three regions, sorted by gpa. */
	F.mem = calloc(1, sizeof(*F.mem));
	TEST_ASSERT_NOT_NULL(F.mem, "");
	F.mem->nregions = NREG;
	for (i = 0; i < NREG; i++) {
		F.mem->r[i].gpa = F.reg[i].gpa;
		F.mem->r[i].size = F.reg[i].size;
		F.mem->r[i].hva = (uint64_t)(uintptr_t)F.reg[i].hva;
		F.mem->r[i].fva = F.reg[i].gpa + 0x7f0000000000ULL;
		F.mem->r[i].fd = -1;
	}
	F.dev = calloc(1, sizeof(*F.dev));
	TEST_ASSERT_NOT_NULL(F.dev, "");
	F.vq = aligned_alloc(RTE_CACHE_LINE_SIZE,
		RTE_ALIGN_CEIL(sizeof(*F.vq), RTE_CACHE_LINE_SIZE));
	TEST_ASSERT_NOT_NULL(F.vq, "");
	F.log = calloc(1, LOG_BYTES);
	TEST_ASSERT_NOT_NULL(F.log, "");
	F.callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	TEST_ASSERT(F.callfd >= 0, "eventfd: %d", errno);
	/* No per-lcore cache, so the available count is exact. */
	F.mp = rte_pktmbuf_pool_create("split_ring_mp", NB_MBUF, 0, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	TEST_ASSERT_NOT_NULL(F.mp, "pool");
	F.small_mp = rte_pktmbuf_pool_create("split_ring_small", SMALL_NB, 0,
		0, RTE_PKTMBUF_HEADROOM + SMALL_ROOM, rte_socket_id());
	TEST_ASSERT_NOT_NULL(F.small_mp, "small pool");
	return TEST_SUCCESS;
}

static void
suite_teardown(void)
{
	unsigned int i;

	rte_mempool_free(F.mp);
	rte_mempool_free(F.small_mp);
	if (F.callfd >= 0)
		close(F.callfd);
	free(F.log);
	free(F.vq);
	free(F.dev);
	free(F.mem);
	for (i = 0; i < NREG; i++)
		if (F.reg[i].map != NULL && F.reg[i].map != MAP_FAILED)
			munmap(F.reg[i].map, F.reg[i].map_len);
	memset(&F, 0, sizeof(F));
}

/* ------------------------------------------------------------------ */
/* Cases: the ordinary paths                                           */

static int
rx_single(void)
{
	struct tbuf b = { galloc(2048), 2048, W };
	struct rte_mbuf *m;
	uint16_t head;

	m = pkt1(100, 1);
	TEST_ASSERT_EQUAL(enq1(m), 0, "nothing posted yet");
	TEST_ASSERT_EQUAL(efd_take(), 0, "no notification for nothing");

	head = drv_post(&b, 1);
	TEST_ASSERT_EQUAL(enq1(m), 1, "");
	TEST_ASSERT_EQUAL(used_idx(), 1, "");
	CHECK_USED(0, head, 12 + 100);
	TEST_CHECK(check_rx(&b, 1, 100, 1, 1));
	TEST_ASSERT_EQUAL(F.vq->last_avail_idx, 1, "");
	TEST_ASSERT_EQUAL(F.vq->stats.packets, 1, "");
	TEST_ASSERT_EQUAL(F.vq->stats.bytes, 100, "header not counted");
	TEST_ASSERT_EQUAL(efd_take(), 1, "notified");
	TEST_ASSERT_EQUAL(F.vq->stats.notifications, 1, "");

	/* Ring drained: the next packet waits. */
	TEST_ASSERT_EQUAL(enq1(m), 0, "");
	TEST_ASSERT_EQUAL(used_idx(), 1, "");
	rte_pktmbuf_free(m);
	return pools_full();
}

static int
rx_legacy_hdr(void)
{
	struct tbuf b;
	struct rte_mbuf *m;
	uint16_t head;

	ring_init(64, 0);	/* no VERSION_1, no MRG: 10-byte header */
	TEST_ASSERT_EQUAL(F.vq->hdr_len, 10, "");
	b = (struct tbuf){ galloc(2048), 2048, W };
	head = drv_post(&b, 1);
	m = pkt1(60, 2);
	TEST_ASSERT_EQUAL(enq1(m), 1, "");
	CHECK_USED(0, head, 10 + 60);
	TEST_CHECK(check_rx(&b, 1, 60, 2, 0));
	rte_pktmbuf_free(m);
	return pools_full();
}

static int
tx_single(void)
{
	struct tbuf b = { galloc(2048), 12 + 200, 0 };
	struct rte_mbuf *pkts[8];
	uint16_t head;

	TEST_ASSERT_EQUAL(deq(pkts, 8), 0, "nothing posted yet");
	fill_tx(&b, 1, 200, 3);
	head = drv_post(&b, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 8), 1, "");
	TEST_CHECK(check_mbuf(pkts[0], 200, 3));
	TEST_ASSERT_EQUAL(pkts[0]->nb_segs, 1, "");
	TEST_ASSERT_EQUAL(used_idx(), 1, "");
	CHECK_USED(0, head, 0);
	TEST_ASSERT_EQUAL(F.vq->stats.packets, 1, "");
	TEST_ASSERT_EQUAL(F.vq->stats.bytes, 200, "");
	TEST_ASSERT_EQUAL(efd_take(), 1, "notified");
	rte_pktmbuf_free(pkts[0]);
	TEST_ASSERT_EQUAL(deq(pkts, 8), 0, "drained");
	return pools_full();
}

static int
rx_chained(void)
{
	/* Header alone, then data over two more. */
	struct tbuf a[3] = {
		{ galloc(12), 12, W }, { galloc(50), 50, W },
		{ galloc(1000), 1000, W },
	};
	/* num_buffers astride two descriptors (11 + 1 bytes). */
	struct tbuf b[3] = {
		{ galloc(11), 11, W }, { galloc(1), 1, W },
		{ galloc(400), 400, W },
	};
	/* Header and data sharing descriptors. */
	struct tbuf c[2] = {
		{ galloc(5), 5, W }, { galloc(700), 700, W },
	};
	struct rte_mbuf *m[3];
	uint16_t ha, hb, hc;

	ha = drv_post(a, 3);
	hb = drv_post(b, 3);
	hc = drv_post(c, 2);
	m[0] = pkt1(300, 4);
	m[1] = pkt1(100, 5);
	m[2] = pkt1(600, 6);
	TEST_ASSERT_EQUAL(enq(m, 3), 3, "");
	TEST_ASSERT_EQUAL(used_idx(), 3, "");
	CHECK_USED(0, ha, 312);
	CHECK_USED(1, hb, 112);
	CHECK_USED(2, hc, 612);
	TEST_CHECK(check_rx(a, 3, 300, 4, 1));
	TEST_CHECK(check_rx(b, 3, 100, 5, 1));
	TEST_CHECK(check_rx(c, 2, 600, 6, 1));
	TEST_ASSERT_EQUAL(efd_take(), 1, "one notification per burst");
	rte_pktmbuf_free_bulk(m, 3);
	return pools_full();
}

static int
tx_chained(void)
{
	struct tbuf a[3] = {
		{ galloc(12), 12, 0 }, { galloc(100), 100, 0 },
		{ galloc(300), 300, 0 },
	};
	/* Header split 5 + 7, the 7 sharing a descriptor with data. */
	struct tbuf b[3] = {
		{ galloc(5), 5, 0 }, { galloc(57), 57, 0 },
		{ galloc(150), 150, 0 },
	};
	/* Header and data in one descriptor (ANY_LAYOUT). */
	struct tbuf c = { galloc(12 + 64), 12 + 64, 0 };
	struct rte_mbuf *pkts[4];
	uint16_t ha, hb, hc;

	fill_tx(a, 3, 400, 7);
	fill_tx(b, 3, 200, 8);
	fill_tx(&c, 1, 64, 9);
	ha = drv_post(a, 3);
	hb = drv_post(b, 3);
	hc = drv_post(&c, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 4), 3, "");
	TEST_CHECK(check_mbuf(pkts[0], 400, 7));
	TEST_CHECK(check_mbuf(pkts[1], 200, 8));
	TEST_CHECK(check_mbuf(pkts[2], 64, 9));
	CHECK_USED(0, ha, 0);
	CHECK_USED(1, hb, 0);
	CHECK_USED(2, hc, 0);
	TEST_ASSERT_EQUAL(F.vq->stats.bytes, 664, "");
	rte_pktmbuf_free_bulk(pkts, 3);
	return pools_full();
}

static int
rx_indirect(void)
{
	struct tbuf t1[3] = {
		{ galloc(12), 12, W }, { galloc(500), 500, W },
		{ galloc(1500), 1500, W },
	};
	uint64_t tab1 = galloc(3 * 16);
	/* Direct descriptors, then an indirect one (virtio 1.2, 2.7.5.3.2). */
	struct tbuf t2[2] = {
		{ galloc(600), 600, W }, { galloc(600), 600, W },
	};
	uint64_t tab2 = galloc(2 * 16);
	struct tbuf r1 = { tab1, 3 * 16, IND };
	struct tbuf r2[2] = { { galloc(12), 12, W }, { tab2, 2 * 16, IND } };
	struct tbuf all2[3] = { r2[0], t2[0], t2[1] };
	struct rte_mbuf *m[2];
	uint16_t h1, h2;

	drv_table(tab1, t1, 3);
	drv_table(tab2, t2, 2);
	h1 = drv_post(&r1, 1);
	h2 = drv_post(r2, 2);
	m[0] = pkt1(1000, 10);
	m[1] = pkt_new((const uint32_t[]){ 1000, 100 }, 2, 11);
	TEST_ASSERT_EQUAL(enq(m, 2), 2, "");
	CHECK_USED(0, h1, 1012);
	CHECK_USED(1, h2, 1112);
	TEST_CHECK(check_rx(t1, 3, 1000, 10, 1));
	TEST_CHECK(check_rx(all2, 3, 1100, 11, 1));
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 0, "");
	rte_pktmbuf_free_bulk(m, 2);
	return pools_full();
}

static int
tx_indirect(void)
{
	struct tbuf t[3] = {
		{ galloc(12), 12, 0 }, { galloc(100), 100, 0 },
		{ galloc(900), 900, 0 },
	};
	uint64_t tab = galloc(3 * 16);
	/* A table astride the A/B boundary: two entries on each side. */
	struct tbuf u[4] = {
		{ galloc(20), 20, 0 }, { galloc(30), 30, 0 },
		{ galloc(40), 40, 0 }, { galloc(50), 50, 0 },
	};
	uint64_t tab_x = RB_GPA - 32;
	struct tbuf r1 = { tab, 3 * 16, IND }, r2 = { tab_x, 4 * 16, IND };
	struct rte_mbuf *pkts[2];
	uint16_t h1, h2;

	fill_tx(t, 3, 1000, 12);
	fill_tx(u, 4, 140 - 12, 13);
	drv_table(tab, t, 3);
	drv_table(tab_x, u, 4);
	h1 = drv_post(&r1, 1);
	h2 = drv_post(&r2, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 2), 2, "");
	TEST_CHECK(check_mbuf(pkts[0], 1000, 12));
	TEST_CHECK(check_mbuf(pkts[1], 128, 13));
	CHECK_USED(0, h1, 0);
	CHECK_USED(1, h2, 0);
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 0, "");
	rte_pktmbuf_free_bulk(pkts, 2);
	return pools_full();
}

static int
rx_region_cross(void)
{
	/* 100 bytes in A, the rest in B: separate host mappings. */
	struct tbuf a = { RB_GPA - 100, 1000, W };
	/* Header itself split by the boundary. */
	struct tbuf b = { RB_GPA - 6, 1000, W };
	struct rte_mbuf *m = pkt1(500, 14);
	uint16_t h;

	h = drv_post(&a, 1);
	TEST_ASSERT_EQUAL(enq1(m), 1, "");
	CHECK_USED(0, h, 512);
	TEST_CHECK(check_rx(&a, 1, 500, 14, 1));
	rte_pktmbuf_free(m);

	m = pkt1(300, 15);
	h = drv_post(&b, 1);
	TEST_ASSERT_EQUAL(enq1(m), 1, "");
	CHECK_USED(1, h, 312);
	TEST_CHECK(check_rx(&b, 1, 300, 15, 1));
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 0, "");
	rte_pktmbuf_free(m);
	return pools_full();
}

static int
tx_region_cross(void)
{
	struct tbuf a = { RB_GPA - 700, 12 + 1500, 0 };
	struct tbuf b = { RB_GPA - 5, 12 + 40, 0 };
	struct rte_mbuf *pkts[1];

	fill_tx(&a, 1, 1500, 16);
	drv_post(&a, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 1), 1, "");
	TEST_CHECK(check_mbuf(pkts[0], 1500, 16));
	rte_pktmbuf_free(pkts[0]);

	fill_tx(&b, 1, 40, 17);
	drv_post(&b, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 1), 1, "");
	TEST_CHECK(check_mbuf(pkts[0], 40, 17));
	rte_pktmbuf_free(pkts[0]);
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 0, "");
	return pools_full();
}

static int
rx_mrg_3heads(void)
{
	struct tbuf b[4];
	struct rte_mbuf *m;
	uint16_t h[4];
	unsigned int i;

	ring_init(64, F_V1 | F_MRG);
	for (i = 0; i < 3; i++) {
		b[i] = (struct tbuf){ galloc(1000), 1000, W };
		h[i] = drv_post(&b[i], 1);
	}
	m = pkt_new((const uint32_t[]){ 1500, 1000 }, 2, 18);
	TEST_ASSERT_EQUAL(enq1(m), 1, "");
	TEST_ASSERT_EQUAL(used_idx(), 3, "");
	CHECK_USED(0, h[0], 1000);
	CHECK_USED(1, h[1], 1000);
	CHECK_USED(2, h[2], 2512 - 2000);
	TEST_CHECK(check_rx(b, 3, 2500, 18, 3));
	TEST_ASSERT_EQUAL(F.vq->stats.packets, 1, "");
	TEST_ASSERT_EQUAL(F.vq->stats.bytes, 2500, "");
	rte_pktmbuf_free(m);

	/* A small one after it uses one buffer. */
	b[3] = (struct tbuf){ galloc(1000), 1000, W };
	h[3] = drv_post(&b[3], 1);
	m = pkt1(100, 19);
	TEST_ASSERT_EQUAL(enq1(m), 1, "");
	CHECK_USED(3, h[3], 112);
	TEST_CHECK(check_rx(&b[3], 1, 100, 19, 1));
	rte_pktmbuf_free(m);
	return pools_full();
}

static int
rx_mrg_wait(void)
{
	struct tbuf b[3];
	struct rte_mbuf *m[2];
	uint16_t h[3];
	unsigned int i;

	ring_init(64, F_V1 | F_MRG);
	for (i = 0; i < 3; i++)
		b[i] = (struct tbuf){ galloc(1000), 1000, W };
	h[0] = drv_post(&b[0], 1);
	h[1] = drv_post(&b[1], 1);
	m[0] = pkt_new((const uint32_t[]){ 2000, 500 }, 2, 20);
	m[1] = pkt1(10, 21);
	/* Needs three buffers, two are posted: nothing may move. */
	TEST_ASSERT_EQUAL(enq(m, 2), 0, "");
	TEST_ASSERT_EQUAL(used_idx(), 0, "");
	TEST_ASSERT_EQUAL(F.vq->last_avail_idx, 0, "taken back");
	TEST_ASSERT_EQUAL(F.vq->last_used_idx, 0, "");
	TEST_ASSERT_EQUAL(F.vq->shadow_count, 0, "");
	TEST_ASSERT_EQUAL(F.vq->stats.packets + F.vq->stats.dropped, 0, "");
	TEST_ASSERT_EQUAL(efd_take(), 0, "nothing to notify");

	h[2] = drv_post(&b[2], 1);
	TEST_ASSERT_EQUAL(enq(m, 2), 1, "second still has no room");
	CHECK_USED(0, h[0], 1000);
	CHECK_USED(1, h[1], 1000);
	CHECK_USED(2, h[2], 512);
	TEST_CHECK(check_rx(b, 3, 2500, 20, 3));
	rte_pktmbuf_free_bulk(m, 2);
	return pools_full();
}

static int
rx_mrg_never_fits(void)
{
	struct tbuf b[4];
	struct rte_mbuf *m[2];
	uint16_t h0 = 0;
	unsigned int i;

	ring_init(4, F_V1 | F_MRG);
	for (i = 0; i < 4; i++) {
		b[i] = (struct tbuf){ galloc(100), 100, W };
		if (i == 0)
			h0 = drv_post(&b[i], 1);
		else
			drv_post(&b[i], 1);
	}
	/* 4 x 100 bytes is all the ring can ever offer. */
	m[0] = pkt1(1000, 22);
	m[1] = pkt1(50, 23);
	TEST_ASSERT_EQUAL(enq(m, 2), 2, "");
	TEST_ASSERT_EQUAL(F.vq->stats.dropped, 1, "");
	TEST_ASSERT_EQUAL(F.vq->stats.packets, 1, "");
	TEST_ASSERT_EQUAL(used_idx(), 1, "");
	CHECK_USED(0, h0, 62);
	TEST_CHECK(check_rx(&b[0], 1, 50, 23, 1));
	rte_pktmbuf_free_bulk(m, 2);
	return pools_full();
}

static int
rx_mrg_bad_mid(void)
{
	struct tbuf g[5];
	struct rte_mbuf *m;
	uint16_t h[5];
	unsigned int i;

	ring_init(64, F_V1 | F_MRG);
	for (i = 0; i < 5; i++) {
		/* The second chain is read-only: not receivable. */
		g[i] = (struct tbuf){ galloc(1000), 1000, i == 1 ? 0 : W };
		h[i] = drv_post(&g[i], 1);
	}
	m = pkt_new((const uint32_t[]){ 2000, 500 }, 2, 24);
	TEST_ASSERT_EQUAL(enq1(m), 1, "");
	TEST_ASSERT_EQUAL(used_idx(), 5, "");
	/* The packet's first buffer goes back with the bad one. */
	CHECK_USED(0, h[0], 0);
	CHECK_USED(1, h[1], 0);
	CHECK_USED(2, h[2], 1000);
	CHECK_USED(3, h[3], 1000);
	CHECK_USED(4, h[4], 512);
	TEST_CHECK(check_rx(&g[2], 3, 2500, 24, 3));
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 1, "");
	TEST_ASSERT_EQUAL(F.vq->stats.packets, 1, "");
	rte_pktmbuf_free(m);
	return pools_full();
}

static int
rx_small_chain(void)
{
	struct tbuf s = { galloc(100), 100, W };
	struct tbuf tiny = { galloc(8), 8, W };
	struct tbuf ok = { galloc(2048), 2048, W };
	struct rte_mbuf *m[2];
	uint16_t hs, ht, hk;

	/* Without MRG_RXBUF, a packet too big for the chain is dropped and
	 * the chain stays for the next packet. */
	hs = drv_post(&s, 1);
	m[0] = pkt1(500, 25);
	m[1] = pkt1(50, 26);
	TEST_ASSERT_EQUAL(enq(m, 2), 2, "");
	TEST_ASSERT_EQUAL(F.vq->stats.dropped, 1, "");
	TEST_ASSERT_EQUAL(F.vq->stats.packets, 1, "");
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 0, "");
	TEST_ASSERT_EQUAL(used_idx(), 1, "");
	CHECK_USED(0, hs, 62);
	TEST_CHECK(check_rx(&s, 1, 50, 26, 1));
	rte_pktmbuf_free_bulk(m, 2);

	/* A chain smaller than the header can hold nothing: bad. */
	ht = drv_post(&tiny, 1);
	hk = drv_post(&ok, 1);
	m[0] = pkt1(100, 27);
	TEST_ASSERT_EQUAL(enq1(m[0]), 1, "");
	TEST_ASSERT_EQUAL(used_idx(), 3, "");
	CHECK_USED(1, ht, 0);
	CHECK_USED(2, hk, 112);
	TEST_CHECK(check_rx(&ok, 1, 100, 27, 1));
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 1, "");
	rte_pktmbuf_free(m[0]);
	return pools_full();
}

static int
rx_multiseg(void)
{
	struct tbuf b[3] = {
		{ galloc(52), 52, W }, { galloc(100), 100, W },
		{ galloc(1000), 1000, W },
	};
	struct rte_mbuf *m;
	uint16_t h;

	/* Segments of 30, 0 (empty), 200 and 77 bytes. */
	m = pkt_new((const uint32_t[]){ 30, 0, 200, 77 }, 4, 28);
	TEST_ASSERT_EQUAL(m->nb_segs, 4, "");
	h = drv_post(b, 3);
	TEST_ASSERT_EQUAL(enq1(m), 1, "");
	CHECK_USED(0, h, 12 + 307);
	TEST_CHECK(check_rx(b, 3, 307, 28, 1));
	rte_pktmbuf_free(m);
	return pools_full();
}

static int
tx_multiseg(void)
{
	struct tbuf a[2] = { { galloc(12), 12, 0 }, { galloc(5000), 5000, 0 } };
	/* A full-size GSO packet: 64 KiB over 32 mbufs. */
	struct tbuf b = { galloc(12 + 65536), 12 + 65536, 0 };
	struct rte_mbuf *pkts[2];

	fill_tx(a, 2, 5000, 29);
	drv_post(a, 2);
	TEST_ASSERT_EQUAL(deq(pkts, 2), 1, "");
	TEST_ASSERT_EQUAL(pkts[0]->nb_segs, 3, "2048 + 2048 + 904");
	TEST_CHECK(check_mbuf(pkts[0], 5000, 29));
	rte_pktmbuf_free(pkts[0]);

	fill_tx(&b, 1, 65536, 30);
	drv_post(&b, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 2), 1, "");
	TEST_ASSERT_EQUAL(pkts[0]->nb_segs, 32, "");
	TEST_CHECK(check_mbuf(pkts[0], 65536, 30));
	rte_pktmbuf_free(pkts[0]);
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 0, "");
	return pools_full();
}

static int
tx_nomem(void)
{
	struct tbuf a = { galloc(12 + 100), 12 + 100, 0 };
	/* 3000 bytes need 12 small mbufs; the small pool has 8. */
	struct tbuf b = { galloc(12 + 3000), 12 + 3000, 0 };
	struct rte_mbuf *pkts[2];
	uint16_t ha, hb;

	fill_tx(&a, 1, 100, 31);
	fill_tx(&b, 1, 3000, 32);
	ha = drv_post(&a, 1);
	hb = drv_post(&b, 1);
	TEST_ASSERT_EQUAL(iovh_split_dequeue(F.dev, F.vq, F.small_mp, pkts,
		2), 1, "stops at the packet it has no mbufs for");
	TEST_CHECK(check_mbuf(pkts[0], 100, 31));
	TEST_ASSERT_EQUAL(F.vq->last_avail_idx, 1, "second chain left posted");
	TEST_ASSERT_EQUAL(used_idx(), 1, "");
	CHECK_USED(0, ha, 0);
	TEST_ASSERT_EQUAL(rte_mempool_avail_count(F.small_mp), SMALL_NB - 1,
		"only the delivered mbuf is held");
	rte_pktmbuf_free(pkts[0]);

	TEST_ASSERT_EQUAL(iovh_split_dequeue(F.dev, F.vq, F.small_mp, pkts,
		2), 0, "");
	TEST_ASSERT_EQUAL(rte_mempool_avail_count(F.small_mp), SMALL_NB, "");
	TEST_ASSERT_EQUAL(used_idx(), 1, "");

	/* With big mbufs it goes through. */
	TEST_ASSERT_EQUAL(deq(pkts, 2), 1, "");
	TEST_CHECK(check_mbuf(pkts[0], 3000, 32));
	CHECK_USED(1, hb, 0);
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 0, "");
	rte_pktmbuf_free(pkts[0]);
	return pools_full();
}

static int
tx_burst_limits(void)
{
	struct tbuf b[10];
	struct rte_mbuf *pkts[10];
	uint16_t h[10];
	unsigned int i;

	for (i = 0; i < 10; i++) {
		b[i] = (struct tbuf){ galloc(12 + 64 + i), 12 + 64 + i, 0 };
		fill_tx(&b[i], 1, 64 + i, 40 + i);
		h[i] = drv_post(&b[i], 1);
	}
	TEST_ASSERT_EQUAL(deq(pkts, 4), 4, "");
	TEST_ASSERT_EQUAL(F.vq->last_avail_idx, 4, "");
	TEST_ASSERT_EQUAL(deq(pkts + 4, 8), 6, "");
	for (i = 0; i < 10; i++) {
		TEST_CHECK(check_mbuf(pkts[i], 64 + i, 40 + i));
		CHECK_USED(i, h[i], 0);
	}
	TEST_ASSERT_EQUAL(efd_take(), 2, "one notification per burst");
	rte_pktmbuf_free_bulk(pkts, 10);
	return pools_full();
}

static int
large_burst(void)
{
	/* More used entries in one burst than the shadow holds. */
	static struct rte_mbuf *m[700];
	struct tbuf b;
	unsigned int i;

	ring_init(1024, F_V1);
	for (i = 0; i < 700; i++) {
		b = (struct tbuf){ galloc(64), 64, W };
		drv_post(&b, 1);
		m[i] = pkt1(20 + i % 30, (uint8_t)i);
	}
	TEST_ASSERT_EQUAL(enq(m, 700), 700, "");
	TEST_ASSERT_EQUAL(used_idx(), 700, "");
	for (i = 0; i < 700; i++) {
		CHECK_USED(i, i, 12 + 20 + i % 30);
		b = (struct tbuf){ BUF_GPA + 64 * i, 64, W };
		TEST_CHECK(check_rx(&b, 1, 20 + i % 30, (uint8_t)i, 1));
	}
	TEST_ASSERT_EQUAL(efd_take(), 1, "");
	rte_pktmbuf_free_bulk(m, 700);
	return pools_full();
}

static int
mrg_flush_rollback(void)
{
	/*
	 * 511 one-buffer packets fill the shadow to 511; the next packet
	 * needs three buffers, only two are posted. Its second buffer
	 * overflows the shadow (flushed into the ring), then it runs out
	 * and must be taken back from the ring side too.
	 */
	static struct rte_mbuf *m[512];
	struct tbuf b[514];
	uint16_t h[514];
	unsigned int i;

	ring_init(1024, F_V1 | F_MRG);
	for (i = 0; i < 514; i++)
		b[i] = (struct tbuf){ galloc(200), 200, W };
	for (i = 0; i < 513; i++)
		h[i] = drv_post(&b[i], 1);
	for (i = 0; i < 511; i++)
		m[i] = pkt1(50, (uint8_t)i);
	m[511] = pkt1(500, 99);
	TEST_ASSERT_EQUAL(enq(m, 512), 511, "");
	TEST_ASSERT_EQUAL(used_idx(), 511, "");
	TEST_ASSERT_EQUAL(F.vq->last_used_idx, 511, "");
	TEST_ASSERT_EQUAL(F.vq->last_avail_idx, 511, "");
	for (i = 0; i < 511; i++)
		CHECK_USED(i, h[i], 62);

	h[513] = drv_post(&b[513], 1);
	TEST_ASSERT_EQUAL(enq(&m[511], 1), 1, "");
	TEST_ASSERT_EQUAL(used_idx(), 514, "");
	CHECK_USED(511, h[511], 200);
	CHECK_USED(512, h[512], 200);
	CHECK_USED(513, h[513], 112);
	TEST_CHECK(check_rx(&b[511], 3, 500, 99, 3));
	rte_pktmbuf_free_bulk(m, 512);
	return pools_full();
}

static int
index_wrap(void)
{
	struct tbuf b[5];
	struct rte_mbuf *pkts[5];
	uint16_t h[5];
	unsigned int i;

	/* Resume near the end of the 16-bit index space. */
	F.vq->last_avail_idx = F.vq->last_used_idx = 65533;
	F.avail_idx = 65533;
	F.vq->avail->idx = 65533;
	F.vq->used->idx = 65533;
	for (i = 0; i < 5; i++) {
		b[i] = (struct tbuf){ galloc(12 + 30), 12 + 30, 0 };
		fill_tx(&b[i], 1, 30, 50 + i);
		h[i] = drv_post(&b[i], 1);
	}
	TEST_ASSERT_EQUAL(deq(pkts, 5), 5, "");
	TEST_ASSERT_EQUAL(used_idx(), 2, "wrapped");
	TEST_ASSERT_EQUAL(F.vq->last_avail_idx, 2, "");
	for (i = 0; i < 5; i++) {
		CHECK_USED(65533 + i, h[i], 0);
		TEST_CHECK(check_mbuf(pkts[i], 30, 50 + i));
	}
	rte_pktmbuf_free_bulk(pkts, 5);
	return pools_full();
}

/* ------------------------------------------------------------------ */
/* Cases: hostile front-ends                                           */

/*
 * Each runs the bad chain through both directions where that makes
 * sense, followed by a good chain that must still work.
 */

/** RX: the bad chain at @p bad_head comes back empty, the packet lands
 * in the good chain after it. */
static int
rx_expect_bad(uint16_t bad_head)
{
	struct tbuf ok = { galloc(2048), 2048, W };
	struct rte_mbuf *m = pkt1(1000, 60);
	uint16_t hk, u0 = used_idx();
	uint64_t bad0 = F.vq->stats.bad_desc;

	hk = drv_post(&ok, 1);
	TEST_ASSERT_EQUAL(enq1(m), 1, "");
	TEST_ASSERT_EQUAL(used_idx(), (uint16_t)(u0 + 2), "");
	CHECK_USED(u0, bad_head, 0);
	CHECK_USED(u0 + 1, hk, 1012);
	TEST_CHECK(check_rx(&ok, 1, 1000, 60, 1));
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, bad0 + 1, "");
	TEST_ASSERT_EQUAL(F.vq->stats.packets, 1, "");
	TEST_ASSERT_EQUAL(F.vq->stats.dropped, 0, "the packet went on");
	rte_pktmbuf_free(m);
	return pools_full();
}

/** TX: the bad chain comes back, the good one after it is received. */
static int
tx_expect_bad(uint16_t bad_head)
{
	struct tbuf ok = { galloc(12 + 80), 12 + 80, 0 };
	struct rte_mbuf *pkts[4];
	uint16_t hk, u0 = used_idx();
	uint64_t bad0 = F.vq->stats.bad_desc, drop0 = F.vq->stats.dropped;

	fill_tx(&ok, 1, 80, 61);
	hk = drv_post(&ok, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 4), 1, "");
	TEST_CHECK(check_mbuf(pkts[0], 80, 61));
	TEST_ASSERT_EQUAL(used_idx(), (uint16_t)(u0 + 2), "");
	CHECK_USED(u0, bad_head, 0);
	CHECK_USED(u0 + 1, hk, 0);
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, bad0 + 1, "");
	TEST_ASSERT_EQUAL(F.vq->stats.dropped, drop0 + 1, "a lost TX packet");
	rte_pktmbuf_free(pkts[0]);
	return pools_full();
}

/** Run @p post (which posts one bad chain, RX or TX flavour) both ways. */
static int
both_ways(uint16_t (*post)(uint16_t flags))
{
	uint16_t h;

	h = post(W);
	TEST_CHECK(rx_expect_bad(h));
	ring_init(64, F_V1 | F_IND);
	h = post(0);
	TEST_CHECK(tx_expect_bad(h));
	return TEST_SUCCESS;
}

static uint16_t
post_loop(uint16_t fl)
{
	uint64_t a = galloc(4);

	/* 0 -> 1 -> 0 ..., 4 bytes each: never enough for the packet. */
	drv_set_desc(0, a, 4, fl | VRING_DESC_F_NEXT, 1);
	drv_set_desc(1, a, 4, fl | VRING_DESC_F_NEXT, 0);
	F.next_desc = 2;
	drv_avail(0);
	return 0;
}

static int
bad_loop(void)
{
	return both_ways(post_loop);
}

static uint16_t
post_self_loop(uint16_t fl)
{
	drv_set_desc(0, galloc(4), 4, fl | VRING_DESC_F_NEXT, 0);
	F.next_desc = 1;
	drv_avail(0);
	return 0;
}

static int
bad_self_loop(void)
{
	return both_ways(post_self_loop);
}

/**
 * Put a descriptor that would be acceptable at ring slot @p idx >= size
 * (the ring area is big enough for 1024): if an out-of-range index were
 * followed, the chain would look fine and the test would notice.
 */
static void
plant_desc(uint16_t idx, uint16_t fl)
{
	struct tbuf b = { galloc(2048), 2048, fl };

	fill_tx(&b, 1, 2048 - F.vq->hdr_len, 90);
	drv_set_desc(idx, b.gpa, b.len, fl, 0);
}

static uint16_t
post_next_oob(uint16_t fl)
{
	struct tbuf b[2] = { { galloc(12), 12, fl }, { galloc(64), 64, fl } };
	uint16_t h = drv_chain(b, 2);

	F.vq->desc[h].next = F.size + 5;
	plant_desc(F.size + 5, fl);
	drv_avail(h);
	return h;
}

static int
bad_next_oob(void)
{
	return both_ways(post_next_oob);
}

static uint16_t
post_head_oob(uint16_t fl)
{
	plant_desc(F.size + 3, fl);
	drv_avail(F.size + 3);
	return F.size + 3;
}

static int
bad_head_oob(void)
{
	return both_ways(post_head_oob);
}

static uint16_t
post_addr_below(uint16_t fl)
{
	struct tbuf b = { 0x50000, 2048, fl };

	return drv_post(&b, 1);
}

static uint16_t
post_addr_hole(uint16_t fl)
{
	/* Starts in B and runs into the hole after it. */
	struct tbuf b[2] = { { galloc(12), 12, fl },
		{ HOLE_GPA - 50, 2000, fl } };

	return drv_post(b, 2);
}

static uint16_t
post_addr_far(uint16_t fl)
{
	struct tbuf b[2] = { { galloc(12), 12, fl },
		{ 0xdead00000000ULL, 2000, fl } };

	return drv_post(b, 2);
}

static uint16_t
post_addr_wrap(uint16_t fl)
{
	/* addr + len wraps past 2^64 into low guest memory. */
	struct tbuf b[2] = { { galloc(12), 12, fl },
		{ UINT64_MAX - 0xff, 0x100000 + 0x200, fl } };

	return drv_post(b, 2);
}

static int
bad_addr(void)
{
	TEST_CHECK(both_ways(post_addr_below));
	ring_init(64, F_V1 | F_IND);
	TEST_CHECK(both_ways(post_addr_hole));
	ring_init(64, F_V1 | F_IND);
	TEST_CHECK(both_ways(post_addr_far));
	ring_init(64, F_V1 | F_IND);
	return both_ways(post_addr_wrap);
}

static int
bad_huge_len(void)
{
	struct tbuf a = { galloc(4096), UINT32_MAX, 0 };
	/* Two descriptors of 200 KiB each: over the packet limit. */
	struct tbuf b[2] = { { BUF_GPA, 200 * 1024, 0 },
		{ BUF_GPA, 200 * 1024, 0 } };
	struct tbuf r = { galloc(2048), UINT32_MAX, W };
	struct rte_mbuf *m;
	uint16_t h;

	h = drv_post(&a, 1);
	TEST_CHECK(tx_expect_bad(h));
	h = drv_post(b, 2);
	TEST_CHECK(tx_expect_bad(h));

	/*
	 * RX only fills what the packet needs: a huge descriptor whose used
	 * part is guest memory is fine.
	 */
	ring_init(64, F_V1 | F_IND);
	r.gpa = galloc(2048);
	h = drv_post(&r, 1);
	m = pkt1(500, 62);
	TEST_ASSERT_EQUAL(enq1(m), 1, "");
	CHECK_USED(0, h, 512);
	r.len = 2048;
	TEST_CHECK(check_rx(&r, 1, 500, 62, 1));
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 0, "");
	rte_pktmbuf_free(m);
	return pools_full();
}

static int
bad_direction(void)
{
	/* Device-writable data in a TX chain. */
	struct tbuf t[2] = { { galloc(12), 12, 0 }, { galloc(64), 64, W } };
	/* Read-only data in an RX chain, where the packet needs it. */
	struct tbuf r[2] = { { galloc(100), 100, W }, { galloc(2048), 2048, 0 } };
	uint16_t h;

	fill_tx(t, 2, 64, 63);
	h = drv_post(t, 2);
	TEST_CHECK(tx_expect_bad(h));
	ring_init(64, F_V1 | F_IND);
	h = drv_post(r, 2);
	return rx_expect_bad(h);
}

static uint16_t
post_nested_indirect(uint16_t fl)
{
	uint64_t inner = galloc(16), outer = galloc(48);
	struct tbuf in = { galloc(2048), 2048, fl };
	struct tbuf out[2] = { { galloc(12), 12, fl }, { inner, 16, IND } };
	/* A spare third entry, so that only the nesting rule can object. */
	struct tbuf r = { outer, 48, IND };

	fill_tx(&in, 1, 2048 - 12, 91);
	drv_table(inner, &in, 1);
	drv_table(outer, out, 2);
	return drv_post(&r, 1);
}

static int
bad_nested_indirect(void)
{
	return both_ways(post_nested_indirect);
}

static uint16_t
post_ind_len24(uint16_t fl)
{
	/* One complete entry and a half: only the length rule objects. */
	uint64_t tab = galloc(32);
	struct tbuf t = { galloc(2048), 2048, fl };
	struct tbuf r = { tab, 24, IND };

	fill_tx(&t, 1, 2048 - 12, 92);
	drv_table(tab, &t, 1);
	return drv_post(&r, 1);
}

static uint16_t
post_ind_len0(uint16_t fl)
{
	struct tbuf r = { galloc(32), 0, IND };

	RTE_SET_USED(fl);
	return drv_post(&r, 1);
}

static uint16_t
post_ind_with_next(uint16_t fl)
{
	uint64_t tab = galloc(32);
	struct tbuf t[2] = { { galloc(12), 12, fl }, { galloc(2048), 2048, fl } };
	/* INDIRECT and NEXT together (drv_chain adds NEXT to the first). */
	struct tbuf r[2] = { { tab, 32, IND }, { galloc(64), 64, fl } };

	drv_table(tab, t, 2);
	return drv_post(r, 2);
}

static uint16_t
post_ind_outside(uint16_t fl)
{
	struct tbuf r = { HOLE_GPA + 0x1000, 32, IND };

	RTE_SET_USED(fl);
	return drv_post(&r, 1);
}

static uint16_t
post_ind_next_oob(uint16_t fl)
{
	uint64_t tab = galloc(48);
	struct tbuf t[3] = { { galloc(12), 12, fl }, { galloc(2048), 2048, fl },
		{ galloc(2048), 2048, fl } };
	struct tbuf r = { tab, 32, IND };
	struct vring_desc d;

	fill_tx(&t[2], 1, 2048 - 12, 93);
	drv_table(tab, t, 3);
	/* Entry 0 points past the 2-entry table, at a plausible entry. */
	gmem_copy(tab, &d, sizeof(d), false);
	d.next = 2;
	gmem_copy(tab, &d, sizeof(d), true);
	return drv_post(&r, 1);
}

static uint16_t
post_ind_loop(uint16_t fl)
{
	uint64_t tab = galloc(32);
	struct tbuf t[2] = { { galloc(4), 4, fl }, { galloc(4), 4, fl } };
	struct tbuf r = { tab, 32, IND };
	struct vring_desc d;

	drv_table(tab, t, 2);
	gmem_copy(tab + 16, &d, sizeof(d), false);
	d.flags |= VRING_DESC_F_NEXT;
	d.next = 0;
	gmem_copy(tab + 16, &d, sizeof(d), true);
	return drv_post(&r, 1);
}

static int
bad_indirect(void)
{
	uint16_t (*const posts[])(uint16_t) = {
		post_ind_len24, post_ind_len0, post_ind_with_next,
		post_ind_outside, post_ind_next_oob, post_ind_loop,
	};
	unsigned int i;

	for (i = 0; i < RTE_DIM(posts); i++) {
		ring_init(64, F_V1 | F_IND);
		if (both_ways(posts[i]) != TEST_SUCCESS) {
			printf("    (indirect variant %u)\n", i);
			return TEST_FAILED;
		}
	}
	return TEST_SUCCESS;
}

static int
tx_bad_chains(void)
{
	struct tbuf g0 = { galloc(12 + 70), 12 + 70, 0 };
	struct tbuf bad = { galloc(12 + 70), 12 + 70, W };
	struct tbuf g2 = { galloc(12 + 90), 12 + 90, 0 };
	struct tbuf hdr_only = { galloc(12), 12, 0 };
	struct tbuf short_hdr = { galloc(8), 8, 0 };
	struct rte_mbuf *pkts[8];
	uint16_t h[5];

	fill_tx(&g0, 1, 70, 64);
	fill_tx(&g2, 1, 90, 65);
	h[0] = drv_post(&g0, 1);
	h[1] = drv_post(&bad, 1);
	h[2] = drv_post(&hdr_only, 1);
	h[3] = drv_post(&short_hdr, 1);
	h[4] = drv_post(&g2, 1);
	/* Five chains, two packets: mbufs of bad chains are reused/freed. */
	TEST_ASSERT_EQUAL(deq(pkts, 8), 2, "");
	TEST_CHECK(check_mbuf(pkts[0], 70, 64));
	TEST_CHECK(check_mbuf(pkts[1], 90, 65));
	TEST_ASSERT_EQUAL(used_idx(), 5, "");
	CHECK_USED(0, h[0], 0);
	CHECK_USED(1, h[1], 0);
	CHECK_USED(2, h[2], 0);
	CHECK_USED(3, h[3], 0);
	CHECK_USED(4, h[4], 0);
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 3, "");
	TEST_ASSERT_EQUAL(F.vq->stats.dropped, 3, "");
	TEST_ASSERT_EQUAL(F.vq->stats.packets, 2, "");
	rte_pktmbuf_free_bulk(pkts, 2);

	/* A bad chain that needed extra mbufs before it broke. */
	{
		struct tbuf big[2] = { { galloc(12 + 5000), 12 + 5000, 0 },
			{ HOLE_GPA + 64, 64, 0 } };

		h[0] = drv_post(big, 2);
		TEST_CHECK(tx_expect_bad(h[0]));
	}
	return pools_full();
}

static int
avail_jump(void)
{
	struct tbuf b = { galloc(2048), 2048, W };
	struct rte_mbuf *m = pkt1(100, 66);
	struct rte_mbuf *pkts[4];
	uint16_t h;

	h = drv_post(&b, 1);
	/* The front-end claims more entries than the ring has. */
	__atomic_store_n(&F.vq->avail->idx, (uint16_t)(F.size + 1),
		__ATOMIC_RELEASE);
	TEST_ASSERT_EQUAL(enq1(m), 0, "");
	TEST_ASSERT_EQUAL(deq(pkts, 4), 0, "");
	TEST_ASSERT_EQUAL(used_idx(), 0, "untouched");
	TEST_ASSERT_EQUAL(F.vq->last_avail_idx, 0, "");
	TEST_ASSERT_EQUAL(F.vq->last_used_idx, 0, "");
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc + F.vq->stats.dropped +
		F.vq->stats.packets, 0, "");
	TEST_ASSERT_EQUAL(efd_take(), 0, "");
	TEST_ASSERT_EQUAL(rte_mempool_avail_count(F.mp), NB_MBUF - 1,
		"only our packet is out");

	/* Sane again: works again. */
	__atomic_store_n(&F.vq->avail->idx, F.avail_idx, __ATOMIC_RELEASE);
	TEST_ASSERT_EQUAL(enq1(m), 1, "");
	CHECK_USED(0, h, 112);
	rte_pktmbuf_free(m);
	return pools_full();
}

/* ------------------------------------------------------------------ */
/* Cases: notifications and the dirty log                              */

static int
rx_one_more(uint8_t seed)
{
	struct tbuf b = { galloc(256), 256, W };
	struct rte_mbuf *m = pkt1(20, seed);
	uint16_t n;

	drv_post(&b, 1);
	n = enq1(m);
	rte_pktmbuf_free(m);
	TEST_ASSERT_EQUAL(n, 1, "");
	return TEST_SUCCESS;
}

static int
notify_event_idx(void)
{
	uint16_t *used_event;
	unsigned int i;

	ring_init(64, F_V1 | F_EVT);
	used_event = &F.vq->avail->ring[F.size];

	/* No decision on record yet: notify whatever used_event says. */
	*used_event = 100;
	TEST_CHECK(rx_one_more(70));
	TEST_ASSERT_EQUAL(efd_take(), 1, "first one");
	TEST_ASSERT(F.vq->signalled_used_valid, "");
	TEST_ASSERT_EQUAL(F.vq->signalled_used, 1, "");

	/* Driver wants to hear once entry 5 is used (idx passes 5). */
	*used_event = 5;
	TEST_CHECK(rx_one_more(71));	/* idx 1 -> 2 */
	TEST_ASSERT_EQUAL(efd_take(), 0, "not due");
	for (i = 0; i < 3; i++)
		TEST_CHECK(rx_one_more(72));	/* 2 -> 5 */
	TEST_ASSERT_EQUAL(efd_take(), 0, "not due at 5 either");
	TEST_CHECK(rx_one_more(73));	/* 5 -> 6 */
	TEST_ASSERT_EQUAL(efd_take(), 1, "due");
	TEST_CHECK(rx_one_more(74));	/* 6 -> 7: 5 already passed */
	TEST_ASSERT_EQUAL(efd_take(), 0, "not again");

	/* A burst that jumps over used_event still notifies. */
	*used_event = 8;
	{
		struct rte_mbuf *m[4];
		struct tbuf b;

		for (i = 0; i < 4; i++) {
			b = (struct tbuf){ galloc(256), 256, W };
			drv_post(&b, 1);
			m[i] = pkt1(20, 75);
		}
		TEST_ASSERT_EQUAL(enq(m, 4), 4, "");	/* 7 -> 11 */
		rte_pktmbuf_free_bulk(m, 4);
	}
	TEST_ASSERT_EQUAL(efd_take(), 1, "jumped over");
	TEST_ASSERT_EQUAL(F.vq->stats.notifications, 3, "");

	/* No call fd: nothing to do, nothing counted. */
	F.vq->callfd = -1;
	*used_event = 11;
	TEST_CHECK(rx_one_more(76));
	TEST_ASSERT_EQUAL(F.vq->stats.notifications, 3, "");
	F.vq->callfd = F.callfd;
	return pools_full();
}

static int
notify_flags(void)
{
	/* Without EVENT_IDX the avail flag decides. */
	F.vq->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	TEST_CHECK(rx_one_more(80));
	TEST_ASSERT_EQUAL(efd_take(), 0, "suppressed");
	F.vq->avail->flags = 0;
	TEST_CHECK(rx_one_more(81));
	TEST_ASSERT_EQUAL(efd_take(), 1, "");
	TEST_ASSERT_EQUAL(F.vq->stats.notifications, 1, "");

	/* NOTIFY_ON_EMPTY overrides suppression once the ring is empty. */
	F.dev->features |= 1ULL << VIRTIO_F_NOTIFY_ON_EMPTY;
	F.vq->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	TEST_CHECK(rx_one_more(82));
	TEST_ASSERT_EQUAL(efd_take(), 1, "ran out of buffers");
	{
		struct tbuf b = { galloc(256), 256, W };

		drv_post(&b, 1);	/* one left over after the next */
		TEST_CHECK(rx_one_more(83));
		TEST_ASSERT_EQUAL(efd_take(), 0, "not empty: suppressed");
	}
	return pools_full();
}

static int
avail_event(void)
{
	uint16_t *ev;
	struct tbuf b;
	struct rte_mbuf *pkts[4];

	ring_init(64, F_V1 | F_EVT);
	ev = (uint16_t *)&F.vq->used->ring[F.size];
	*ev = 0xbeef;
	/* Even an empty poll brings a stale avail_event up to date. */
	TEST_ASSERT_EQUAL(deq(pkts, 4), 0, "");
	TEST_ASSERT_EQUAL(*ev, 0, "");
	b = (struct tbuf){ galloc(12 + 30), 12 + 30, 0 };
	fill_tx(&b, 1, 30, 84);
	drv_post(&b, 1);
	drv_post(&b, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 4), 2, "");
	TEST_ASSERT_EQUAL(*ev, 2, "kick me at the next buffer");
	rte_pktmbuf_free_bulk(pkts, 2);

	/* Polling mode: left alone. */
	F.vq->notify_off = 1;
	drv_post(&b, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 4), 1, "");
	TEST_ASSERT_EQUAL(*ev, 2, "");
	rte_pktmbuf_free(pkts[0]);
	return pools_full();
}

static bool
page_dirty(uint64_t gpa)
{
	uint64_t page = gpa / PAGE;

	return (F.log[page / 8] >> (page % 8)) & 1;
}

static unsigned int
dirty_count(void)
{
	unsigned int i, n = 0;

	for (i = 0; i < LOG_BYTES; i++)
		n += __builtin_popcount(F.log[i]);
	return n;
}

static int
dirty_log(void)
{
	/*
	 * The packet's last byte is the last byte of page 0x1f1: that page
	 * is dirty, 0x1f2 is not (the descriptor is longer than that).
	 */
	const uint64_t start = 0x1f0f00, end = 0x1f2000;
	struct tbuf b = { start, 0x3000, W };
	struct tbuf t = { galloc(12 + 100), 12 + 100, 0 };
	struct rte_mbuf *m, *pkts[2];
	uint32_t len = end - start - 12;	/* 4340 */

	F.dev->log_on = 1;
	F.vq->log_used = 1;
	m = pkt_new((const uint32_t[]){ 2048, 2048, len - 4096 }, 3, 85);
	drv_post(&b, 1);
	TEST_ASSERT_EQUAL(enq1(m), 1, "");
	CHECK_USED(0, 0, end - start);
	TEST_CHECK(check_rx(&b, 1, len, 85, 1));
	TEST_ASSERT(page_dirty(start), "first page");
	TEST_ASSERT(page_dirty(end - 1), "page of the last byte");
	TEST_ASSERT(!page_dirty(end), "page after the last byte");
	TEST_ASSERT(!page_dirty(start - PAGE), "page before");
	TEST_ASSERT(page_dirty(USED_GPA), "used ring");
	TEST_ASSERT_EQUAL(dirty_count(), 3, "nothing else");
	rte_pktmbuf_free(m);

	/* A header alone at the end of a page is logged on its own. */
	memset(F.log, 0, LOG_BYTES);
	b = (struct tbuf){ 0x1f5000 - 12, 0x1000, W };
	drv_post(&b, 1);
	m = pkt1(100, 89);
	TEST_ASSERT_EQUAL(enq1(m), 1, "");
	TEST_CHECK(check_rx(&b, 1, 100, 89, 1));
	TEST_ASSERT(page_dirty(0x1f4000), "header page");
	TEST_ASSERT(page_dirty(0x1f5000), "data page");
	TEST_ASSERT_EQUAL(dirty_count(), 3, "and the used ring");
	rte_pktmbuf_free(m);

	/* TX writes no buffer, only the used ring. */
	memset(F.log, 0, LOG_BYTES);
	fill_tx(&t, 1, 100, 86);
	drv_post(&t, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 2), 1, "");
	TEST_ASSERT(page_dirty(USED_GPA), "used ring");
	TEST_ASSERT_EQUAL(dirty_count(), 1, "buffers are not dirtied by TX");
	rte_pktmbuf_free(pkts[0]);

	/* Logging off: nothing marked. */
	memset(F.log, 0, LOG_BYTES);
	F.dev->log_on = 0;
	TEST_CHECK(rx_one_more(87));
	TEST_ASSERT_EQUAL(dirty_count(), 0, "");
	return pools_full();
}

static int
dirty_log_used_wrap(void)
{
	/*
	 * Used entries wrapping the ring end are logged in two pieces. A
	 * 1024-entry used ring is 8196 bytes: its last entry straddles the
	 * second and third pages, its first entries and idx are in the first.
	 */
	struct tbuf b[4];
	struct rte_mbuf *pkts[4];
	unsigned int i;

	ring_init(1024, F_V1);
	F.dev->log_on = 1;
	F.vq->log_used = 1;
	F.vq->last_avail_idx = F.vq->last_used_idx = 1022;
	F.avail_idx = 1022;
	F.vq->avail->idx = 1022;
	F.vq->used->idx = 1022;
	for (i = 0; i < 4; i++) {
		b[i] = (struct tbuf){ galloc(12 + 20), 12 + 20, 0 };
		fill_tx(&b[i], 1, 20, 88);
		drv_post(&b[i], 1);
	}
	TEST_ASSERT_EQUAL(deq(pkts, 4), 4, "");
	/* Entries 1022, 1023 at the end, 0, 1 at the start. */
	TEST_ASSERT(page_dirty(USED_GPA + 4 + 8 * 1022), "ring end");
	TEST_ASSERT(page_dirty(USED_GPA + 4 + 8 * 1023 + 7), "last entry");
	TEST_ASSERT(page_dirty(USED_GPA), "ring start and idx");
	TEST_ASSERT_EQUAL(dirty_count(), 3, "");
	rte_pktmbuf_free_bulk(pkts, 4);
	return pools_full();
}

/*
 * With an IOMMU, a miss looks ahead over the chains posted behind the
 * blocked one: every unmapped page of their buffers is reported at once
 * (through a mapped indirect table, too), each once; a chain that loops
 * only ends the walk; nothing is consumed. Then a TX miss does the same
 * for read access.
 */
static int
iommu_lookahead(void)
{
	const uint64_t tio = 0x10000000, un = 0x40000000;
	static const uint64_t want[] = {
		un, un + 0x1000, un + 0x2000, un + 0x3000, un + 0x4000,
		un + 0x5000,
	};
	struct tbuf b0 = { un + 0x10, 0x100, W };
	struct tbuf b1 = { un + 0x1800, 0x1000, W };
	struct tbuf ind = { tio, 2 * sizeof(struct vring_desc), IND };
	struct tbuf tbl[2] = { { un + 0x3000, 0x100, W },
		{ un + 0x4000, 0x100, W } };
	struct tbuf txb = { un + 0x7000, 0x100, 0 };
	struct rte_mbuf *m, *pkts[2];
	uint16_t loop;
	unsigned int i, n;
	int efd;

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	TEST_ASSERT(efd >= 0, "eventfd: %d", errno);
	F.dev->miss_efd = efd;
	TEST_ASSERT_SUCCESS(iovh_iotlb_init(&F.dev->iotlb, 16), "");
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&F.dev->iotlb, tio, tio + 0xfff,
		(uint64_t)(uintptr_t)g2h(RB_GPA, PAGE), RB_GPA,
		VHU_ACCESS_RW, NULL, 0), "");
	iovh_iotlb_reclaim(&F.dev->iotlb);
	F.vq->iommu = 1;
	F.vq->c_gen = F.dev->iotlb.gen;
	F.vq->c_iova = 1;
	F.vq->c_last = 0;
	iovh_vq_iotlb_sync(F.dev, F.vq);

	drv_post(&b0, 1);
	drv_post(&b1, 1);
	drv_table(RB_GPA, tbl, 2);
	drv_post(&ind, 1);
	/* A chain that points at itself. */
	loop = F.next_desc;
	drv_set_desc(loop, un + 0x5000, 0x100, W | VRING_DESC_F_NEXT, loop);
	F.next_desc = (F.next_desc + 1) % F.size;
	drv_avail(loop);

	m = pkt1(64, 60);
	TEST_ASSERT_EQUAL(enq(&m, 1), 0, "");
	TEST_ASSERT(F.vq->rx_missed, "");
	TEST_ASSERT_EQUAL(used_idx(), 0, "nothing used");
	TEST_ASSERT_EQUAL(F.vq->last_avail_idx, 0, "nothing consumed");
	TEST_ASSERT_EQUAL(F.vq->miss_head, RTE_DIM(want),
		"one report per missing page, got %u", F.vq->miss_head);
	for (i = 0; i < RTE_DIM(want); i++) {
		TEST_ASSERT_EQUAL(F.vq->miss[i].iova & ~(PAGE - 1), want[i],
			"report %u: 0x%" PRIx64, i, F.vq->miss[i].iova);
		TEST_ASSERT_EQUAL(F.vq->miss[i].perm, VHU_ACCESS_WO, "");
		TEST_ASSERT_EQUAL(F.vq->miss[i].ahead, i > 0, "report %u", i);
	}
	/* Still blocked on the next burst: the same look-ahead not redone. */
	TEST_ASSERT_EQUAL(enq(&m, 1), 0, "");
	/* (The blocked access itself may report again: timing.) */
	for (i = 0, n = 0; i < F.vq->miss_head; i++)
		n += F.vq->miss[i].ahead;
	TEST_ASSERT_EQUAL(n, RTE_DIM(want) - 1, "look-ahead not redone");
	rte_pktmbuf_free(m);

	/* Guest TX: a miss asks for the buffers behind it, to read. */
	F.vq->last_avail_idx = F.avail_idx;
	F.vq->miss_tail = F.vq->miss_head;
	drv_post(&txb, 1);
	txb.gpa = un + 0x8000;
	drv_post(&txb, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 2), 0, "");
	TEST_ASSERT_EQUAL(F.vq->miss_head - F.vq->miss_tail, 2, "");
	for (i = 0; i < 2; i++) {
		const struct iovh_miss *r =
			&F.vq->miss[(F.vq->miss_tail + i) % IOVH_MISS_RING];

		TEST_ASSERT_EQUAL(r->iova & ~(PAGE - 1), un + 0x7000 + i * PAGE,
			"TX report %u", i);
		TEST_ASSERT_EQUAL(r->perm, VHU_ACCESS_RO, "");
	}
	TEST_ASSERT_EQUAL(used_idx(), 0, "nothing used");

	F.vq->iommu = 0;
	iovh_iotlb_fini(&F.dev->iotlb);
	memset(&F.dev->iotlb, 0, sizeof(F.dev->iotlb));
	F.dev->miss_efd = -1;
	close(efd);
	return pools_full();
}

static const struct iovh_test_case split_ring_cases[] = {
	TEST_CASE(rx_single),
	TEST_CASE(rx_legacy_hdr),
	TEST_CASE(tx_single),
	TEST_CASE(rx_chained),
	TEST_CASE(tx_chained),
	TEST_CASE(rx_indirect),
	TEST_CASE(tx_indirect),
	TEST_CASE(rx_region_cross),
	TEST_CASE(tx_region_cross),
	TEST_CASE(rx_mrg_3heads),
	TEST_CASE(rx_mrg_wait),
	TEST_CASE(rx_mrg_never_fits),
	TEST_CASE(rx_mrg_bad_mid),
	TEST_CASE(rx_small_chain),
	TEST_CASE(rx_multiseg),
	TEST_CASE(tx_multiseg),
	TEST_CASE(tx_nomem),
	TEST_CASE(tx_burst_limits),
	TEST_CASE(large_burst),
	TEST_CASE(mrg_flush_rollback),
	TEST_CASE(index_wrap),
	TEST_CASE(iommu_lookahead),
	TEST_CASE(bad_loop),
	TEST_CASE(bad_self_loop),
	TEST_CASE(bad_next_oob),
	TEST_CASE(bad_head_oob),
	TEST_CASE(bad_addr),
	TEST_CASE(bad_huge_len),
	TEST_CASE(bad_direction),
	TEST_CASE(bad_nested_indirect),
	TEST_CASE(bad_indirect),
	TEST_CASE(tx_bad_chains),
	TEST_CASE(avail_jump),
	TEST_CASE(notify_event_idx),
	TEST_CASE(notify_flags),
	TEST_CASE(avail_event),
	TEST_CASE(dirty_log),
	TEST_CASE(dirty_log_used_wrap),
	TEST_CASES_END(),
};

static const struct iovh_test_suite split_ring_suite = {
	.name = "split_ring",
	.setup = suite_setup,
	.teardown = suite_teardown,
	.case_setup = case_setup,
	.cases = split_ring_cases,
};

static int
test_split_ring(void)
{
	return iovh_test_run_suite(&split_ring_suite);
}

REGISTER_IOVH_TEST(split_ring_autotest, test_split_ring);
