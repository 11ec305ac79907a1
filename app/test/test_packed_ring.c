/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * packed_ring_autotest: the packed-ring data path against a fake driver.
 *
 * Guest memory is two regions, each with guard pages (a stray access
 * faults): A and B are adjacent in guest-physical space but not on the
 * host, so a buffer crossing their boundary is copied in two pieces; past
 * B is a hole. The descriptor ring and the event areas live in A. The
 * test plays the driver: it posts chains with the AVAIL/USED bits of its
 * wrap counter, reads used descriptors in ring order, and checks ids,
 * lengths, flags, contents, counters, notifications and the dirty log.
 * One case runs with VIRTIO_F_IOMMU_PLATFORM through an IOTLB.
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

#include "packed_ring.h"
#include "vhost.h"
#include "test.h"

#define PAGE 4096ULL

#define RA_GPA 0x100000ULL
#define RA_SIZE 0x100000ULL
#define RB_GPA (RA_GPA + RA_SIZE)
#define RB_SIZE 0x40000ULL
#define HOLE_GPA (RB_GPA + RB_SIZE)
#define NREG 2

#define DESC_GPA RA_GPA			/* up to 1024 entries */
#define DRV_EV_GPA (RA_GPA + 0x4000)
#define DEV_EV_GPA (RA_GPA + 0x4040)
#define BUF_GPA (RA_GPA + 0x10000)

#define LOG_BYTES (HOLE_GPA / PAGE / 8)
#define NB_MBUF 2047

#define F_V1 (1ULL << VIRTIO_F_VERSION_1)
#define F_MRG (1ULL << VIRTIO_NET_F_MRG_RXBUF)
#define F_EVT (1ULL << VIRTIO_RING_F_EVENT_IDX)
#define F_IO (1ULL << VIRTIO_F_IN_ORDER)

#define W VRING_DESC_F_WRITE
#define IND VRING_DESC_F_INDIRECT
#define AV VRING_PACKED_DESC_F_AVAIL
#define US VRING_PACKED_DESC_F_USED

static struct {
	struct {
		uint8_t *map;
		size_t map_len;
		uint8_t *hva;
		uint64_t gpa;
		uint64_t size;
	} reg[NREG];
	struct iovh_mem *mem;
	struct iovh_dev *dev;
	struct iovh_vq *vq;
	struct rte_mempool *mp;
	uint8_t *log;
	int callfd;
	int miss_efd;
	uint16_t size;
	/* driver state */
	uint16_t avail_pos, used_pos;
	uint8_t avail_wrap, used_wrap;
	uint16_t next_id;
	uint16_t count_of[1024];	/* slots of each posted buffer id */
	uint64_t bump;
} F;

static uint8_t scratch[128 * 1024];

/* ------------------------------------------------------------------ */
/* Guest memory                                                        */

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
		/* Recycle: cases never keep buffers across many laps. */
		F.bump = BUF_GPA;
		gpa = F.bump;
		F.bump = RTE_ALIGN_CEIL(F.bump + len, 64);
	}
	return gpa;
}

static struct vring_packed_desc *
ring(void)
{
	return (struct vring_packed_desc *)g2h(DESC_GPA, 16 * F.size);
}

static struct vring_packed_desc_event *
drv_ev(void)
{
	return (struct vring_packed_desc_event *)g2h(DRV_EV_GPA, 4);
}

static struct vring_packed_desc_event *
dev_ev(void)
{
	return (struct vring_packed_desc_event *)g2h(DEV_EV_GPA, 4);
}

/* ------------------------------------------------------------------ */
/* The driver                                                          */

struct tbuf {
	uint64_t gpa;
	uint32_t len;
	uint16_t flags;		/* W, IND or 0; NEXT is added */
};

static uint16_t
drv_flags(uint16_t f, uint8_t wrap)
{
	return f | (wrap ? AV : US);
}

/**
 * Post a chain of @p n buffers with buffer id @p id (in every descriptor,
 * as Linux does), head flags last with a release, like a driver.
 */
static void
drv_post_id(const struct tbuf *b, unsigned int n, uint16_t id)
{
	struct vring_packed_desc *r = ring();
	uint16_t pos = F.avail_pos, head = pos, hflags = 0;
	uint8_t wrap = F.avail_wrap, hwrap = wrap;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint16_t f = b[i].flags | (i + 1 < n ? VRING_DESC_F_NEXT : 0);

		r[pos].addr = b[i].gpa;
		r[pos].len = b[i].len;
		r[pos].id = id;
		if (i == 0)
			hflags = drv_flags(f, hwrap);
		else
			r[pos].flags = drv_flags(f, wrap);
		if (++pos == F.size) {
			pos = 0;
			wrap ^= 1;
		}
	}
	__atomic_store_n(&r[head].flags, hflags, __ATOMIC_RELEASE);
	F.avail_pos = pos;
	F.avail_wrap = wrap;
	if (id < RTE_DIM(F.count_of))
		F.count_of[id] = n;
}

static uint16_t
drv_post(const struct tbuf *b, unsigned int n)
{
	uint16_t id = F.next_id;

	F.next_id = (F.next_id + 1) % F.size;
	drv_post_id(b, n, id);
	return id;
}

/** The next used descriptor, if any: returns false when none. */
static bool
drv_used(uint16_t *id, uint32_t *len, uint16_t *flags)
{
	struct vring_packed_desc *r = ring();
	uint16_t f = __atomic_load_n(&r[F.used_pos].flags, __ATOMIC_ACQUIRE);
	uint16_t n;

	if (!!(f & AV) != F.used_wrap || !!(f & US) != F.used_wrap)
		return false;
	*id = r[F.used_pos].id;
	*len = r[F.used_pos].len;
	*flags = f;
	n = *id < RTE_DIM(F.count_of) ? F.count_of[*id] : 1;
	F.used_pos += n;
	if (F.used_pos >= F.size) {
		F.used_pos -= F.size;
		F.used_wrap ^= 1;
	}
	return true;
}

/** Skip @p n slots of used descriptors (IN_ORDER batches). */
static void
drv_used_skip(uint16_t n)
{
	F.used_pos += n;
	if (F.used_pos >= F.size) {
		F.used_pos -= F.size;
		F.used_wrap ^= 1;
	}
}

#define CHECK_USED(want_id, want_len) do { \
	uint16_t id_, fl_; \
	uint32_t len_; \
	TEST_ASSERT(drv_used(&id_, &len_, &fl_), "no used descriptor"); \
	TEST_ASSERT_EQUAL(id_, want_id, "used id"); \
	TEST_ASSERT_EQUAL(len_, want_len, "used len"); \
	TEST_ASSERT_EQUAL(!!(fl_ & W), (want_len) != 0, "WRITE flag"); \
} while (0)

#define CHECK_NO_USED() do { \
	uint16_t id_, fl_; \
	uint32_t len_; \
	TEST_ASSERT(!drv_used(&id_, &len_, &fl_), "unexpected used id %u", \
		id_); \
} while (0)

static uint64_t
efd_take(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* ------------------------------------------------------------------ */
/* Packets                                                             */

static uint8_t
pat(uint8_t seed, uint32_t i)
{
	return (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

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
			abort();
		p = (uint8_t *)rte_pktmbuf_append(m, seglen[i]);
		if (p == NULL && seglen[i] != 0)
			abort();
		for (j = 0; j < seglen[i]; j++)
			p[j] = pat(seed, off + j);
		off += seglen[i];
		if (head == NULL)
			head = m;
		else if (rte_pktmbuf_chain(head, m) != 0)
			abort();
	}
	return head;
}

static struct rte_mbuf *
pkt1(uint32_t len, uint8_t seed)
{
	return pkt_new(&len, 1, seed);
}

static int
check_rx(const struct tbuf *b, unsigned int n, uint32_t len, uint8_t seed,
		uint16_t nbufs)
{
	uint32_t hl = F.vq->hdr_len, total = hl + len, got = 0, k, i;

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

static int
check_mbuf(const struct rte_mbuf *m, uint32_t len, uint8_t seed)
{
	const struct rte_mbuf *s;
	uint32_t off = 0, i;
	const uint8_t *p;

	TEST_ASSERT_EQUAL(m->pkt_len, len, "pkt_len");
	for (s = m; s != NULL; s = s->next) {
		p = rte_pktmbuf_mtod(s, const uint8_t *);
		for (i = 0; i < s->data_len; i++)
			if (p[i] != pat(seed, off + i))
				TEST_ASSERT_EQUAL(p[i], pat(seed, off + i),
					"byte %u", off + i);
		off += s->data_len;
	}
	TEST_ASSERT_EQUAL(off, len, "sum of data_len");
	return TEST_SUCCESS;
}

static int
pool_full(void)
{
	TEST_ASSERT_EQUAL(rte_mempool_avail_count(F.mp), NB_MBUF,
		"mbufs leaked");
	return TEST_SUCCESS;
}

static uint16_t
enq(struct rte_mbuf **pkts, uint16_t n)
{
	return iovh_packed_enqueue(F.dev, F.vq, pkts, n);
}

static uint16_t
deq(struct rte_mbuf **pkts, uint16_t n)
{
	return iovh_packed_dequeue(F.dev, F.vq, F.mp, pkts, n);
}

/** Post one TX buffer with a @p len packet; return its id. */
static uint16_t
post_tx(uint32_t len, uint8_t seed)
{
	struct tbuf b = { galloc(12 + len), 12 + len, 0 };

	fill_tx(&b, 1, len, seed);
	return drv_post(&b, 1);
}

/* ------------------------------------------------------------------ */
/* Fixture                                                             */

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
	F.dev->miss_efd = F.miss_efd;

	memset(vq, 0, sizeof(*vq));
	vq->dev = F.dev;
	vq->size = size;
	vq->packed = 1;
	vq->mrg_rxbuf = !!(features & F_MRG);
	vq->event_idx = !!(features & F_EVT);
	vq->in_order = !!(features & F_IO);
	vq->hdr_len = sizeof(struct virtio_net_hdr_mrg_rxbuf);
	vq->desc_packed = (struct vring_packed_desc *)g2h(DESC_GPA, 16 * size);
	vq->driver_event = drv_ev();
	vq->device_event = dev_ev();
	vq->log_guest_addr = DESC_GPA;
	vq->log_event_gpa = DEV_EV_GPA;
	vq->avail_wrap = 1;
	vq->used_wrap = 1;
	vq->dev_event_last = UINT32_MAX;
	vq->callfd = F.callfd;
	vq->kickfd = -1;
	vq->errfd = -1;
	vq->ready = 1;

	F.size = size;
	F.avail_pos = F.used_pos = 0;
	F.avail_wrap = F.used_wrap = 1;
	F.next_id = 0;
	F.bump = BUF_GPA;
	efd_take(F.callfd);
}

static int
case_setup(void)
{
	ring_init(64, F_V1);
	return TEST_SUCCESS;
}

static int
suite_setup(void)
{
	static const uint64_t gpa[NREG] = { RA_GPA, RB_GPA };
	static const uint64_t size[NREG] = { RA_SIZE, RB_SIZE };
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
	F.miss_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	TEST_ASSERT(F.callfd >= 0 && F.miss_efd >= 0, "eventfd: %d", errno);
	F.mp = rte_pktmbuf_pool_create("packed_ring_mp", NB_MBUF, 0, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	TEST_ASSERT_NOT_NULL(F.mp, "pool");
	return TEST_SUCCESS;
}

static void
suite_teardown(void)
{
	unsigned int i;

	rte_mempool_free(F.mp);
	if (F.callfd >= 0)
		close(F.callfd);
	if (F.miss_efd >= 0)
		close(F.miss_efd);
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
/* Cases                                                               */

static int
rx_single(void)
{
	struct tbuf b = { galloc(2048), 2048, W };
	struct rte_mbuf *m = pkt1(1000, 1);
	uint16_t id;

	/* Nothing posted: nothing consumed, nothing used. */
	TEST_ASSERT_EQUAL(enq(&m, 1), 0, "");
	id = drv_post(&b, 1);
	TEST_ASSERT_EQUAL(enq(&m, 1), 1, "");
	CHECK_USED(id, 12 + 1000);
	TEST_CHECK(check_rx(&b, 1, 1000, 1, 1));
	CHECK_NO_USED();
	TEST_ASSERT_EQUAL(F.vq->stats.packets, 1, "");
	TEST_ASSERT_EQUAL(F.vq->last_avail_idx, 1, "");
	TEST_ASSERT_EQUAL(F.vq->last_used_idx, 1, "");
	rte_pktmbuf_free(m);
	return pool_full();
}

static int
tx_single(void)
{
	struct rte_mbuf *pkts[4];
	uint16_t id = post_tx(700, 2);

	TEST_ASSERT_EQUAL(deq(pkts, 4), 1, "");
	TEST_CHECK(check_mbuf(pkts[0], 700, 2));
	CHECK_USED(id, 0);
	CHECK_NO_USED();
	rte_pktmbuf_free(pkts[0]);
	TEST_ASSERT_EQUAL(deq(pkts, 4), 0, "nothing more");
	return pool_full();
}

/*
 * Many laps of a ring whose size is not a power of two, in bursts of
 * every length from 1 to 7 so that bursts start at every alignment and
 * both the 4-packet batch path and the one-by-one path run, in both
 * directions; a multi-segment packet now and then forces RX off the
 * batch path.
 */
static int
wrap_laps(void)
{
	struct rte_mbuf *pkts[8];
	struct tbuf b[8];
	uint16_t ids[8], lap0;
	unsigned int round, n, i, laps = 0;
	uint8_t seed = 0;

	ring_init(10, F_V1 | F_MRG);
	for (round = 0; round < 300; round++) {
		n = 1 + round % 7;
		/* TX */
		for (i = 0; i < n; i++)
			ids[i] = post_tx(60 + i, seed + i);
		lap0 = F.vq->avail_wrap;
		TEST_ASSERT_EQUAL(deq(pkts, 8), n, "round %u", round);
		for (i = 0; i < n; i++) {
			TEST_CHECK(check_mbuf(pkts[i], 60 + i, seed + i));
			CHECK_USED(ids[i], 0);
		}
		rte_pktmbuf_free_bulk(pkts, n);
		/* RX */
		for (i = 0; i < n; i++) {
			b[i] = (struct tbuf){ galloc(256), 256, W };
			ids[i] = drv_post(&b[i], 1);
			if ((round + i) % 5 == 4)
				pkts[i] = pkt_new((const uint32_t[]){ 30, 40 },
					2, seed + 100 + i);
			else
				pkts[i] = pkt1(70, seed + 100 + i);
		}
		TEST_ASSERT_EQUAL(enq(pkts, n), n, "round %u", round);
		for (i = 0; i < n; i++) {
			CHECK_USED(ids[i], 12 + 70);
			TEST_CHECK(check_rx(&b[i], 1, 70, seed + 100 + i, 1));
		}
		rte_pktmbuf_free_bulk(pkts, n);
		CHECK_NO_USED();
		laps += F.vq->avail_wrap != lap0;
		TEST_ASSERT_EQUAL(F.vq->last_used_idx, F.vq->last_avail_idx,
			"used trails avail only within a burst");
		TEST_ASSERT_EQUAL(F.vq->used_wrap, F.vq->avail_wrap, "");
		seed += 13;
	}
	TEST_ASSERT(laps > 50, "only %u laps", laps);
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 0, "");
	return pool_full();
}

static int
rx_chained(void)
{
	/* Header alone, then the data over two more, across the ring end. */
	struct tbuf b[3] = {
		{ galloc(12), 12, W }, { galloc(500), 500, W },
		{ galloc(2000), 2000, W },
	};
	struct rte_mbuf *m = pkt1(1500, 3);
	uint16_t id;

	ring_init(8, F_V1);
	F.vq->last_avail_idx = F.vq->last_used_idx = F.avail_pos =
		F.used_pos = 6;
	id = drv_post(b, 3);
	TEST_ASSERT_EQUAL(enq(&m, 1), 1, "");
	CHECK_USED(id, 12 + 1500);
	TEST_CHECK(check_rx(b, 3, 1500, 3, 1));
	TEST_ASSERT_EQUAL(F.vq->last_avail_idx, 1, "three slots, wrapped");
	TEST_ASSERT_EQUAL(F.vq->avail_wrap, 0, "");
	TEST_ASSERT_EQUAL(F.vq->used_wrap, 0, "");
	rte_pktmbuf_free(m);
	return pool_full();
}

static int
tx_chained(void)
{
	/* Header split over two descriptors; the last crosses A -> B. */
	struct tbuf b[3] = {
		{ galloc(6), 6, 0 }, { galloc(100), 100, 0 },
		{ RB_GPA - 50, 3000, 0 },
	};
	struct rte_mbuf *pkts[2];
	uint16_t id;

	fill_tx(b, 3, 6 + 100 + 3000 - 12, 4);
	id = drv_post(b, 3);
	TEST_ASSERT_EQUAL(deq(pkts, 2), 1, "");
	TEST_CHECK(check_mbuf(pkts[0], 3094, 4));
	CHECK_USED(id, 0);
	rte_pktmbuf_free(pkts[0]);
	return pool_full();
}

static void
drv_table(uint64_t gpa, const struct tbuf *b, unsigned int n)
{
	struct vring_packed_desc d;
	unsigned int i;

	for (i = 0; i < n; i++) {
		d.addr = b[i].gpa;
		d.len = b[i].len;
		d.id = 0;
		d.flags = b[i].flags;
		gmem_copy(gpa + i * sizeof(d), &d, sizeof(d), true);
	}
}

static int
rx_indirect(void)
{
	struct tbuf t[2] = { { galloc(12), 12, W }, { galloc(800), 800, W } };
	/* The table itself crosses A -> B: read entry by entry. */
	uint64_t tgpa = RB_GPA - 16;
	struct tbuf ind = { tgpa, 32, IND };
	struct rte_mbuf *m = pkt1(800, 5);
	uint16_t id;

	drv_table(tgpa, t, 2);
	id = drv_post(&ind, 1);
	TEST_ASSERT_EQUAL(enq(&m, 1), 1, "");
	CHECK_USED(id, 812);
	TEST_CHECK(check_rx(t, 2, 800, 5, 1));
	rte_pktmbuf_free(m);
	return pool_full();
}

static int
tx_indirect(void)
{
	struct tbuf t[3] = {
		{ galloc(12), 12, 0 }, { galloc(50), 50, 0 },
		{ galloc(50), 50, 0 },
	};
	uint64_t tgpa = galloc(48);
	struct tbuf ind = { tgpa, 48, IND };
	struct rte_mbuf *pkts[2];
	uint16_t id;

	fill_tx(t, 3, 100, 6);
	drv_table(tgpa, t, 3);
	id = drv_post(&ind, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 2), 1, "");
	TEST_CHECK(check_mbuf(pkts[0], 100, 6));
	CHECK_USED(id, 0);
	rte_pktmbuf_free(pkts[0]);

	/* DPDK's virtio PMD leaves WRITE on the header entry of its TX
	 * tables: read anyway (nothing is written), not a bad chain. */
	t[0].flags = W;
	drv_table(tgpa, t, 3);
	id = drv_post(&ind, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 2), 1, "");
	TEST_CHECK(check_mbuf(pkts[0], 100, 6));
	CHECK_USED(id, 0);
	rte_pktmbuf_free(pkts[0]);
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 0, "");
	return pool_full();
}

static int
rx_mrg(void)
{
	struct tbuf b[3] = {
		{ galloc(1000), 1000, W }, { galloc(1000), 1000, W },
		{ galloc(1000), 1000, W },
	};
	struct rte_mbuf *m = pkt_new((const uint32_t[]){ 1250, 1250 }, 2, 7);
	uint16_t id[3];

	ring_init(16, F_V1 | F_MRG);
	id[0] = drv_post(&b[0], 1);
	id[1] = drv_post(&b[1], 1);
	/* Two buffers are not enough: wait, consume nothing. */
	TEST_ASSERT_EQUAL(enq(&m, 1), 0, "");
	CHECK_NO_USED();
	TEST_ASSERT_EQUAL(F.vq->last_avail_idx, 0, "rolled back");
	id[2] = drv_post(&b[2], 1);
	TEST_ASSERT_EQUAL(enq(&m, 1), 1, "");
	CHECK_USED(id[0], 1000);
	CHECK_USED(id[1], 1000);
	CHECK_USED(id[2], 512);
	TEST_CHECK(check_rx(b, 3, 2500, 7, 3));
	rte_pktmbuf_free(m);

	/* A packet that needs more than the whole ring: dropped. */
	ring_init(4, F_V1 | F_MRG);
	{
		struct tbuf s[4];
		unsigned int i;

		for (i = 0; i < 4; i++) {
			s[i] = (struct tbuf){ galloc(100), 100, W };
			drv_post(&s[i], 1);
		}
		m = pkt1(1000, 8);
		TEST_ASSERT_EQUAL(enq(&m, 1), 1, "consumed (dropped)");
		TEST_ASSERT_EQUAL(F.vq->stats.dropped, 1, "");
		CHECK_NO_USED();
		rte_pktmbuf_free(m);
		/* The buffers are still there for a packet that fits. */
		m = pkt1(50, 9);
		TEST_ASSERT_EQUAL(enq(&m, 1), 1, "");
		CHECK_USED(0, 62);
		rte_pktmbuf_free(m);
	}
	return pool_full();
}

static int
rx_no_mrg_too_small(void)
{
	struct tbuf b = { galloc(100), 100, W };
	struct rte_mbuf *pkts[2] = { pkt1(200, 10), pkt1(80, 11) };
	uint16_t id = drv_post(&b, 1);

	/* Without MRG_RXBUF: the big one is dropped, the buffer stays. */
	TEST_ASSERT_EQUAL(enq(pkts, 2), 2, "");
	CHECK_USED(id, 92);
	TEST_CHECK(check_rx(&b, 1, 80, 11, 1));
	TEST_ASSERT_EQUAL(F.vq->stats.dropped, 1, "");
	rte_pktmbuf_free_bulk(pkts, 2);
	return pool_full();
}

static int
tx_in_order(void)
{
	struct rte_mbuf *pkts[8];
	uint16_t id, fl, ids[6];
	uint32_t len;
	unsigned int i;

	ring_init(16, F_V1 | F_IO);
	for (i = 0; i < 6; i++)
		ids[i] = post_tx(100, 20 + i);
	TEST_ASSERT_EQUAL(deq(pkts, 8), 6, "");
	for (i = 0; i < 6; i++)
		TEST_CHECK(check_mbuf(pkts[i], 100, 20 + i));
	rte_pktmbuf_free_bulk(pkts, 6);
	/* One used descriptor, the last id, for the whole burst. */
	F.count_of[ids[5]] = 6;
	TEST_ASSERT(drv_used(&id, &len, &fl), "");
	TEST_ASSERT_EQUAL(id, ids[5], "last buffer of the batch");
	TEST_ASSERT_EQUAL(len, 0, "");
	CHECK_NO_USED();
	TEST_ASSERT_EQUAL(F.vq->last_used_idx, 6, "device skipped the batch");
	F.count_of[ids[5]] = 1;

	/* Across the ring end, too. */
	for (i = 0; i < 12; i++)
		ids[i % 6] = post_tx(40, 30 + i);
	TEST_ASSERT_EQUAL(deq(pkts, 8), 8, "");
	rte_pktmbuf_free_bulk(pkts, 8);
	TEST_ASSERT_EQUAL(deq(pkts, 8), 4, "");
	rte_pktmbuf_free_bulk(pkts, 4);
	TEST_ASSERT(drv_used(&id, &len, &fl), "");
	drv_used_skip(7);
	TEST_ASSERT(drv_used(&id, &len, &fl), "");
	TEST_ASSERT_EQUAL(id, ids[5], "");
	drv_used_skip(3);
	CHECK_NO_USED();
	TEST_ASSERT_EQUAL(F.vq->last_used_idx, 2, "");
	TEST_ASSERT_EQUAL(F.vq->used_wrap, 0, "");
	return pool_full();
}

static int
rx_tx_one(uint8_t seed)
{
	struct tbuf b = { galloc(256), 256, W };
	struct rte_mbuf *m = pkt1(40, seed);

	drv_post(&b, 1);
	TEST_ASSERT_EQUAL(enq(&m, 1), 1, "");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

static int
notify_driver_event(void)
{
	struct vring_packed_desc_event *ev = drv_ev();
	struct rte_mbuf *pkts[8];
	struct tbuf b[8];
	unsigned int i;

	/* ENABLE: one interrupt per burst, however many packets. */
	for (i = 0; i < 8; i++) {
		b[i] = (struct tbuf){ galloc(256), 256, W };
		drv_post(&b[i], 1);
		pkts[i] = pkt1(40, i);
	}
	TEST_ASSERT_EQUAL(enq(pkts, 8), 8, "");
	rte_pktmbuf_free_bulk(pkts, 8);
	TEST_ASSERT_EQUAL(efd_take(F.callfd), 1, "");
	TEST_ASSERT_EQUAL(F.vq->stats.notifications, 1, "");
	/* DISABLE: none. */
	ev->flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	TEST_CHECK(rx_tx_one(1));
	TEST_ASSERT_EQUAL(efd_take(F.callfd), 0, "");
	/* DESC without EVENT_IDX means nothing: as ENABLE. */
	ev->flags = VRING_PACKED_EVENT_FLAG_DESC;
	ev->off_wrap = 60 | 1 << 15;
	TEST_CHECK(rx_tx_one(2));
	TEST_ASSERT_EQUAL(efd_take(F.callfd), 1, "");

	/* EVENT_IDX: only when the burst writes the slot named. */
	ring_init(8, F_V1 | F_EVT);
	ev->flags = VRING_PACKED_EVENT_FLAG_DESC;
	ev->off_wrap = 2 | 1 << 15;
	TEST_CHECK(rx_tx_one(3));	/* slot 0 */
	TEST_ASSERT_EQUAL(efd_take(F.callfd), 0, "slot 0 is not 2");
	TEST_CHECK(rx_tx_one(4));	/* 1 */
	TEST_ASSERT_EQUAL(efd_take(F.callfd), 0, "");
	TEST_CHECK(rx_tx_one(5));	/* 2 */
	TEST_ASSERT_EQUAL(efd_take(F.callfd), 1, "slot 2 used");
	/* An event in the next lap (wrap 0) is not due in this one. */
	ev->off_wrap = 4 | 0 << 15;
	for (i = 3; i < 8; i++) {
		TEST_CHECK(rx_tx_one(6 + i));
		TEST_ASSERT_EQUAL(efd_take(F.callfd), 0, "slot %u", i);
	}
	/* Lap 0 now: slots 0..4, the event at 4 fires on the fifth. */
	for (i = 0; i < 5; i++) {
		TEST_CHECK(rx_tx_one(20 + i));
		TEST_ASSERT_EQUAL(efd_take(F.callfd), i == 4, "slot %u", i);
	}
	/* A burst that crosses the ring end and passes the event. */
	ev->off_wrap = 7 | 0 << 15;
	for (i = 0; i < 4; i++) {
		b[i] = (struct tbuf){ galloc(256), 256, W };
		drv_post(&b[i], 1);
		pkts[i] = pkt1(40, i);
	}
	TEST_ASSERT_EQUAL(enq(pkts, 4), 4, "slots 5, 6, 7, 0");
	rte_pktmbuf_free_bulk(pkts, 4);
	TEST_ASSERT_EQUAL(efd_take(F.callfd), 1, "slot 7 in the burst");
	return pool_full();
}

static int
notify_device_event(void)
{
	struct vring_packed_desc_event *ev = dev_ev();
	struct rte_mbuf *pkts[4];

	/* Without EVENT_IDX: kicks enabled, or disabled when polling. */
	TEST_ASSERT_EQUAL(deq(pkts, 4), 0, "");
	TEST_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_ENABLE, "");
	F.vq->notify_off = 1;
	iovh_packed_kick_update(F.vq);
	TEST_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_DISABLE, "");

	/* EVENT_IDX: kick me at the slot I wait at, with its wrap. */
	ring_init(4, F_V1 | F_EVT);
	ev->flags = 0xffff;
	TEST_ASSERT_EQUAL(deq(pkts, 4), 0, "");
	TEST_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_DESC, "");
	TEST_ASSERT_EQUAL(ev->off_wrap, 0 | 1 << 15, "");
	post_tx(20, 1);
	post_tx(20, 2);
	post_tx(20, 3);
	post_tx(20, 4);
	TEST_ASSERT_EQUAL(deq(pkts, 4), 4, "");
	rte_pktmbuf_free_bulk(pkts, 4);
	TEST_ASSERT_EQUAL(ev->off_wrap, 0 | 0 << 15, "next lap");
	post_tx(20, 5);
	TEST_ASSERT_EQUAL(deq(pkts, 4), 1, "");
	rte_pktmbuf_free(pkts[0]);
	TEST_ASSERT_EQUAL(ev->off_wrap, 1, "");
	/* Polling: DISABLE, and left alone by dequeues. */
	F.vq->notify_off = 1;
	iovh_packed_kick_update(F.vq);
	TEST_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_DISABLE, "");
	post_tx(20, 6);
	TEST_ASSERT_EQUAL(deq(pkts, 4), 1, "");
	rte_pktmbuf_free(pkts[0]);
	TEST_ASSERT_EQUAL(ev->flags, VRING_PACKED_EVENT_FLAG_DISABLE, "");
	return pool_full();
}

/* ---- hostile descriptors ---- */

/** The ring is marked broken: nothing moves any more, in either path. */
static int
expect_broken(void)
{
	struct rte_mbuf *pkts[4], *m = pkt1(40, 1);

	TEST_ASSERT_EQUAL(deq(pkts, 4), 0, "");
	TEST_ASSERT(F.vq->broken, "ring not marked broken");
	TEST_ASSERT_EQUAL(enq(&m, 1), 0, "");
	rte_pktmbuf_free(m);
	CHECK_NO_USED();
	return pool_full();
}

static int
bad_id_range(void)
{
	struct rte_mbuf *pkts[4];
	uint16_t id = post_tx(50, 1);
	struct tbuf b = { galloc(62), 62, 0 };

	fill_tx(&b, 1, 50, 2);
	drv_post_id(&b, 1, F.size);	/* id == size */
	TEST_ASSERT_EQUAL(deq(pkts, 4), 1, "the good one before it");
	rte_pktmbuf_free(pkts[0]);
	CHECK_USED(id, 0);
	CHECK_NO_USED();
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 1, "");
	return expect_broken();
}

static int
bad_id_reuse(void)
{
	struct tbuf b[3];
	struct rte_mbuf *pkts[3] = { pkt1(40, 1), pkt1(40, 2), pkt1(40, 3) };
	unsigned int i;

	for (i = 0; i < 3; i++)
		b[i] = (struct tbuf){ galloc(256), 256, W };
	drv_post_id(&b[0], 1, 5);
	drv_post_id(&b[1], 1, 6);
	drv_post_id(&b[2], 1, 5);	/* 5 is still ours */
	TEST_ASSERT_EQUAL(enq(pkts, 3), 2, "");
	CHECK_USED(5, 52);
	CHECK_USED(6, 52);
	CHECK_NO_USED();
	rte_pktmbuf_free_bulk(pkts, 3);
	TEST_CHECK(expect_broken());

	/* Back in service once the ring is set up again; ids free again. */
	ring_init(64, F_V1);
	TEST_CHECK(rx_tx_one(4));
	CHECK_USED(0, 52);
	return pool_full();
}

static int
bad_endless_chain(void)
{
	struct tbuf b[8];
	unsigned int i;

	ring_init(8, F_V1);
	for (i = 0; i < 8; i++)
		b[i] = (struct tbuf){ galloc(64), 64, 0 };
	drv_post(b, 8);
	/* Every slot says NEXT, the last one included. */
	ring()[7].flags |= VRING_DESC_F_NEXT;
	return expect_broken();
}

/** A TX chain that is returned unused and counted, the ring moving on. */
static int
tx_expect_bad(const struct tbuf *b, unsigned int n)
{
	struct rte_mbuf *pkts[4];
	uint64_t bad0 = F.vq->stats.bad_desc;
	uint16_t id, good;

	id = drv_post(b, n);
	good = post_tx(30, 9);
	TEST_ASSERT_EQUAL(deq(pkts, 4), 1, "only the good one");
	TEST_CHECK(check_mbuf(pkts[0], 30, 9));
	rte_pktmbuf_free(pkts[0]);
	CHECK_USED(id, 0);
	CHECK_USED(good, 0);
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, bad0 + 1, "");
	TEST_ASSERT(!F.vq->broken, "");
	return pool_full();
}

static int
bad_tx_chains(void)
{
	uint64_t t = galloc(64);
	struct tbuf hole = { HOLE_GPA, 100, 0 };
	struct tbuf wrap = { UINT64_MAX - 10, 100, 0 };
	struct tbuf huge[2] = { { galloc(12), 12, 0 },
		{ RA_GPA, 0xffffffff, 0 } };
	struct tbuf wr = { galloc(100), 100, W };
	struct tbuf ind0 = { t, 0, IND };
	struct tbuf ind_odd = { t, 24, IND };
	struct tbuf ind_big = { t, 16 * (IOVH_MAX_CHAIN + 1), IND };
	struct tbuf ind_next[2] = { { t, 32, IND }, { galloc(50), 50, 0 } };
	struct tbuf nested = { t, 32, IND };
	struct tbuf inner[2] = { { galloc(12), 12, 0 }, { t, 32, IND } };
	struct tbuf hdr_only = { galloc(12), 12, 0 };

	TEST_CHECK(tx_expect_bad(&hole, 1));
	TEST_CHECK(tx_expect_bad(&wrap, 1));
	TEST_CHECK(tx_expect_bad(huge, 2));
	TEST_CHECK(tx_expect_bad(&wr, 1));
	TEST_CHECK(tx_expect_bad(&ind0, 1));
	TEST_CHECK(tx_expect_bad(&ind_odd, 1));
	TEST_CHECK(tx_expect_bad(&ind_big, 1));
	TEST_CHECK(tx_expect_bad(ind_next, 2));
	drv_table(t, inner, 2);
	TEST_CHECK(tx_expect_bad(&nested, 1));
	TEST_CHECK(tx_expect_bad(&hdr_only, 1));
	return pool_full();
}

static int
bad_rx_chains(void)
{
	struct tbuf ro = { galloc(256), 256, 0 };
	struct tbuf hole = { HOLE_GPA - 20, 256, W };
	struct tbuf good = { galloc(256), 256, W };
	struct rte_mbuf *m = pkt1(100, 12);
	uint16_t id1, id2, id3;

	id1 = drv_post(&ro, 1);		/* not writable */
	id2 = drv_post(&hole, 1);	/* runs into the hole */
	id3 = drv_post(&good, 1);
	TEST_ASSERT_EQUAL(enq(&m, 1), 1, "");
	CHECK_USED(id1, 0);
	CHECK_USED(id2, 0);
	CHECK_USED(id3, 112);
	TEST_CHECK(check_rx(&good, 1, 100, 12, 1));
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 2, "");
	TEST_ASSERT_EQUAL(F.vq->stats.packets, 1, "");
	rte_pktmbuf_free(m);

	/* MRG: a bad buffer in the middle takes the first back with it. */
	ring_init(16, F_V1 | F_MRG);
	{
		struct tbuf b0 = { galloc(100), 100, W };
		struct tbuf b2 = { galloc(2000), 2000, W };

		m = pkt1(500, 13);
		id1 = drv_post(&b0, 1);
		id2 = drv_post(&ro, 1);
		id3 = drv_post(&b2, 1);
		TEST_ASSERT_EQUAL(enq(&m, 1), 1, "");
		CHECK_USED(id1, 0);
		CHECK_USED(id2, 0);
		CHECK_USED(id3, 512);
		TEST_CHECK(check_rx(&b2, 1, 500, 13, 1));
		rte_pktmbuf_free(m);
	}
	return pool_full();
}

static bool
page_dirty(uint64_t gpa)
{
	uint64_t page = gpa / PAGE;

	return (F.log[page / 8] >> (page % 8)) & 1;
}

static int
dirty_log(void)
{
	struct tbuf b = { 0x1f0f00, 0x2000, W };
	struct rte_mbuf *m = pkt_new((const uint32_t[]){ 2000, 2000,
		0x1100 - 12 - 4000 }, 3, 14), *pkts[2];

	F.dev->log_on = 1;
	F.vq->log_used = 1;
	drv_post(&b, 1);
	TEST_ASSERT_EQUAL(enq(&m, 1), 1, "");
	TEST_ASSERT(page_dirty(0x1f0000), "buffer, first page");
	TEST_ASSERT(page_dirty(0x1f1000), "buffer, last page");
	TEST_ASSERT(!page_dirty(0x1f2000), "not written");
	TEST_ASSERT(page_dirty(DESC_GPA), "used descriptor");
	rte_pktmbuf_free(m);

	memset(F.log, 0, LOG_BYTES);
	post_tx(40, 15);
	TEST_ASSERT_EQUAL(deq(pkts, 2), 1, "");
	rte_pktmbuf_free(pkts[0]);
	TEST_ASSERT(page_dirty(DESC_GPA), "used descriptor");
	TEST_ASSERT(page_dirty(DEV_EV_GPA), "device event area");

	/* No ring logging asked for (no F_LOG): buffers only. */
	memset(F.log, 0, LOG_BYTES);
	F.vq->log_used = 0;
	TEST_CHECK(rx_tx_one(16));
	TEST_ASSERT(!page_dirty(DESC_GPA), "");
	return pool_full();
}

/*
 * With an IOMMU: descriptor addresses are IOVAs. IOVA 0x10000000 maps
 * one page of region A, 0x10001000 the next page of region B (another
 * host mapping), so a buffer across the two is split at the boundary;
 * 0x20000000 is mapped read-only, and 0x30000000 not at all.
 */
static int
iommu(void)
{
	const uint64_t io = 0x10000000, ro = 0x20000000, none = 0x30000000;
	struct tbuf rx = { io + 0x800, 0x1000, W };
	struct tbuf txb = { io + 0xf00, 0x200, 0 };
	struct rte_mbuf *m, *pkts[2];
	uint16_t id;

	TEST_ASSERT_SUCCESS(iovh_iotlb_init(&F.dev->iotlb, 16), "");
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&F.dev->iotlb, io, io + 0xfff,
		(uint64_t)(uintptr_t)g2h(RB_GPA - 0x1000, 1),
		RB_GPA - 0x1000, VHU_ACCESS_RW, NULL, 0), "");
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&F.dev->iotlb, io + 0x1000,
		io + 0x1fff, (uint64_t)(uintptr_t)g2h(RB_GPA, 1), RB_GPA,
		VHU_ACCESS_RW, NULL, 0), "");
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&F.dev->iotlb, ro, ro + 0xfff,
		(uint64_t)(uintptr_t)g2h(RA_GPA + 0x80000, 1),
		RA_GPA + 0x80000, VHU_ACCESS_RO, NULL, 0), "");
	iovh_iotlb_reclaim(&F.dev->iotlb);
	F.vq->iommu = 1;
	F.vq->c_gen = F.dev->iotlb.gen;
	F.vq->c_iova = 1;
	F.vq->c_last = 0;

	/* RX across the two entries. */
	m = pkt_new((const uint32_t[]){ 0x480, 0x480 }, 2, 40);
	id = drv_post(&rx, 1);
	iovh_vq_iotlb_sync(F.dev, F.vq);
	TEST_ASSERT_EQUAL(enq(&m, 1), 1, "");
	CHECK_USED(id, 0x90c);
	{
		/* What landed, read through guest-physical addresses. */
		struct tbuf g[2] = { { RB_GPA - 0x800, 0x800, W },
			{ RB_GPA, 0x800, W } };

		TEST_CHECK(check_rx(g, 2, 0x900, 40, 1));
	}
	rte_pktmbuf_free(m);

	/* TX across them, too. */
	{
		struct tbuf g = { RB_GPA - 0x100, 0x200, 0 };

		fill_tx(&g, 1, 0x200 - 12, 41);
	}
	id = drv_post(&txb, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 2), 1, "");
	TEST_CHECK(check_mbuf(pkts[0], 0x200 - 12, 41));
	CHECK_USED(id, 0);
	rte_pktmbuf_free(pkts[0]);

	/* RX into a read-only mapping: a miss (the write permission is
	 * asked for), nothing consumed, the enqueue says so. */
	rx = (struct tbuf){ ro, 0x100, W };
	drv_post(&rx, 1);
	m = pkt1(64, 42);
	TEST_ASSERT_EQUAL(enq(&m, 1), 0, "");
	TEST_ASSERT(F.vq->rx_missed, "");
	TEST_ASSERT_EQUAL(F.vq->stats.iotlb_denied, 1, "");
	TEST_ASSERT_EQUAL(F.vq->miss_head, 1, "miss reported");
	TEST_ASSERT_EQUAL(F.vq->miss[0].perm, VHU_ACCESS_WO, "");
	CHECK_NO_USED();

	/* The answer comes (now writable): the same buffer is used. */
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&F.dev->iotlb, ro, ro + 0xfff,
		(uint64_t)(uintptr_t)g2h(RA_GPA + 0x80000, 1),
		RA_GPA + 0x80000, VHU_ACCESS_RW, NULL, 0), "");
	iovh_iotlb_reclaim(&F.dev->iotlb);
	iovh_vq_iotlb_sync(F.dev, F.vq);
	TEST_ASSERT_EQUAL(enq(&m, 1), 1, "");
	CHECK_USED(F.next_id - 1, 76);
	rte_pktmbuf_free(m);

	/* TX from an unmapped IOVA: a miss, the chain stays posted. */
	txb = (struct tbuf){ none, 100, 0 };
	drv_post(&txb, 1);
	TEST_ASSERT_EQUAL(deq(pkts, 2), 0, "");
	TEST_ASSERT_EQUAL(F.vq->miss_head, 2, "miss reported");
	TEST_ASSERT_EQUAL(F.vq->miss[1].iova, none, "");
	CHECK_NO_USED();
	TEST_ASSERT_EQUAL(F.vq->last_avail_idx, 3, "not consumed");
	TEST_ASSERT_EQUAL(F.vq->stats.bad_desc, 0, "");

	efd_take(F.miss_efd);
	F.vq->iommu = 0;
	iovh_iotlb_fini(&F.dev->iotlb);
	memset(&F.dev->iotlb, 0, sizeof(F.dev->iotlb));
	return pool_full();
}

/*
 * A miss looks ahead: the buffers posted behind the blocked one have
 * every unmapped page (or one mapped without the needed permission)
 * reported at once, each page once, a mapped one not at all, an
 * unmapped indirect table read-only; nothing is consumed, and the same
 * look-ahead is not redone on the next burst.
 */
static int
iommu_lookahead(void)
{
	const uint64_t io = 0x10000000, ro = 0x20000000, un = 0x40000000,
		tbl = 0x50000000;
	static const struct {
		uint64_t iova;
		uint8_t perm;
	} want[] = {
		{ un, VHU_ACCESS_WO },		/* the blocked buffer */
		{ un + 0x1000, VHU_ACCESS_WO },	/* two pages of the next */
		{ un + 0x2000, VHU_ACCESS_WO },
		{ tbl, VHU_ACCESS_RO },		/* an indirect table */
		{ ro, VHU_ACCESS_WO },		/* mapped, read-only */
	};
	struct tbuf b[] = {
		{ un + 0x10, 0x100, W },
		{ un + 0x1800, 0x1000, W },
		{ io, 0x100, W },		/* mapped: not asked for */
		{ un + 0x2800, 0x100, W },	/* a page already asked for */
		{ tbl, 4 * sizeof(struct vring_packed_desc), IND },
		{ ro + 0x100, 0x100, W },
	};
	struct rte_mbuf *m;
	unsigned int i, n;

	TEST_ASSERT_SUCCESS(iovh_iotlb_init(&F.dev->iotlb, 16), "");
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&F.dev->iotlb, io, io + 0xfff,
		(uint64_t)(uintptr_t)g2h(RB_GPA, 1), RB_GPA,
		VHU_ACCESS_RW, NULL, 0), "");
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&F.dev->iotlb, ro, ro + 0xfff,
		(uint64_t)(uintptr_t)g2h(RA_GPA + 0x80000, 1),
		RA_GPA + 0x80000, VHU_ACCESS_RO, NULL, 0), "");
	iovh_iotlb_reclaim(&F.dev->iotlb);
	F.vq->iommu = 1;
	F.vq->c_gen = F.dev->iotlb.gen;
	F.vq->c_iova = 1;
	F.vq->c_last = 0;
	iovh_vq_iotlb_sync(F.dev, F.vq);

	for (i = 0; i < RTE_DIM(b); i++)
		drv_post(&b[i], 1);
	m = pkt1(64, 50);
	TEST_ASSERT_EQUAL(enq(&m, 1), 0, "");
	TEST_ASSERT(F.vq->rx_missed, "");
	CHECK_NO_USED();
	TEST_ASSERT_EQUAL(F.vq->last_avail_idx, 0, "nothing consumed");
	TEST_ASSERT_EQUAL(F.vq->miss_head, RTE_DIM(want),
		"one report per missing page, got %u", F.vq->miss_head);
	for (i = 0; i < RTE_DIM(want); i++) {
		TEST_ASSERT_EQUAL(F.vq->miss[i].iova & ~(PAGE - 1),
			want[i].iova, "report %u: 0x%" PRIx64, i,
			F.vq->miss[i].iova);
		TEST_ASSERT_EQUAL(F.vq->miss[i].perm, want[i].perm,
			"report %u", i);
		TEST_ASSERT_EQUAL(F.vq->miss[i].ahead, i > 0, "report %u", i);
	}
	TEST_ASSERT_EQUAL(efd_take(F.miss_efd), 1, "one wake-up");
	/* The next burst, still blocked: nothing new to ask. */
	TEST_ASSERT_EQUAL(enq(&m, 1), 0, "");
	/* (The blocked access itself may report again: timing.) */
	for (i = 0, n = 0; i < F.vq->miss_head; i++)
		n += F.vq->miss[i].ahead;
	TEST_ASSERT_EQUAL(n, RTE_DIM(want) - 1, "look-ahead not redone");

	/* The answers come: the blocked buffer is used. */
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&F.dev->iotlb, un, un + 0x2fff,
		(uint64_t)(uintptr_t)g2h(RA_GPA + 0x90000, 1),
		RA_GPA + 0x90000, VHU_ACCESS_RW, NULL, 0), "");
	iovh_iotlb_reclaim(&F.dev->iotlb);
	iovh_vq_iotlb_sync(F.dev, F.vq);
	TEST_ASSERT_EQUAL(enq(&m, 1), 1, "");
	CHECK_USED(0, 76);
	rte_pktmbuf_free(m);

	F.vq->iommu = 0;
	iovh_iotlb_fini(&F.dev->iotlb);
	memset(&F.dev->iotlb, 0, sizeof(F.dev->iotlb));
	return pool_full();
}

static const struct iovh_test_case packed_ring_cases[] = {
	TEST_CASE(rx_single),
	TEST_CASE(tx_single),
	TEST_CASE(wrap_laps),
	TEST_CASE(rx_chained),
	TEST_CASE(tx_chained),
	TEST_CASE(rx_indirect),
	TEST_CASE(tx_indirect),
	TEST_CASE(rx_mrg),
	TEST_CASE(rx_no_mrg_too_small),
	TEST_CASE(tx_in_order),
	TEST_CASE(notify_driver_event),
	TEST_CASE(notify_device_event),
	TEST_CASE(bad_id_range),
	TEST_CASE(bad_id_reuse),
	TEST_CASE(bad_endless_chain),
	TEST_CASE(bad_tx_chains),
	TEST_CASE(bad_rx_chains),
	TEST_CASE(dirty_log),
	TEST_CASE(iommu),
	TEST_CASE(iommu_lookahead),
	TEST_CASES_END(),
};

static const struct iovh_test_suite packed_ring_suite = {
	.name = "packed_ring",
	.setup = suite_setup,
	.teardown = suite_teardown,
	.case_setup = case_setup,
	.cases = packed_ring_cases,
};

static int
test_packed_ring(void)
{
	return iovh_test_run_suite(&packed_ring_suite);
}

REGISTER_IOVH_TEST(packed_ring_autotest, test_packed_ring);
