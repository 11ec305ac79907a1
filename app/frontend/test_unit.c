/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * Unit tests of the front-end's own logic: split-ring driver, IOMMU
 * emulation, packets, sequence tracking, canaries, latency histogram.
 * No back-end needed.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bufpool.h"
#include "guest_mem.h"
#include "iommu.h"
#include "latency.h"
#include "traffic.h"
#include "vring.h"
#include "vu_conn.h"

#include <sys/socket.h>

static int failures;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, \
			__LINE__, #cond); \
		failures++; \
	} \
} while (0)

/* The device side, done by hand: consume avail, produce used. */
static void
dev_complete(struct vring_drv *vr, uint16_t *dev_avail, uint32_t len)
{
	uint16_t n = vr->num;
	uint16_t id = vr->avail->ring[*dev_avail & (n - 1)];
	uint16_t u = vr->used->idx;

	vr->used->ring[u & (n - 1)].id = id;
	vr->used->ring[u & (n - 1)].len = len;
	__atomic_store_n(&vr->used->idx, (uint16_t)(u + 1), __ATOMIC_RELEASE);
	(*dev_avail)++;
}

static void
test_vring(void)
{
	const uint16_t n = 8;
	void *d = calloc(1, vring_desc_size(n));
	void *a = calloc(1, vring_avail_size(n));
	void *u = calloc(1, vring_used_size(n));
	struct vring_drv vr;
	uint16_t dev_avail = 0;
	uint32_t cookie, len, bad;
	int i, id;

	CHECK(vring_drv_init(&vr, 6, false, d, a, u) < 0);	/* not 2^n */
	CHECK(vring_drv_init(&vr, n, true, d, a, u) == 0);
	CHECK(vring_drv_get(&vr, &cookie, &len, &bad) == 0);
	for (i = 0; i < n; i++) {
		id = vring_drv_add(&vr, 0x1000 * (i + 1), 100 + i, i & 1, 40 + i);
		CHECK(id >= 0 && id < n);
		CHECK(vr.desc[id].addr == 0x1000u * (i + 1));
		CHECK(!!(vr.desc[id].flags & VRING_DESC_F_WRITE) == (i & 1));
	}
	CHECK(vring_drv_add(&vr, 0, 1, false, 99) == -ENOSPC);
	CHECK(vr.avail->idx == 0);	/* nothing visible before publish */
	vring_drv_publish(&vr);
	CHECK(vr.avail->idx == n);
	CHECK(vring_drv_inflight(&vr) == n);

	/* Complete in order; cookies come back with the device's length. */
	for (i = 0; i < 3; i++)
		dev_complete(&vr, &dev_avail, 60 + i);
	CHECK(vring_drv_pending(&vr) == 3);
	for (i = 0; i < 3; i++) {
		CHECK(vring_drv_get(&vr, &cookie, &len, &bad) == 1);
		CHECK(cookie == (uint32_t)(40 + i) && len == (uint32_t)(60 + i));
	}
	CHECK(vring_drv_inflight(&vr) == n - 3);
	/* EVENT_IDX: used_event is kept far ahead so the device never calls. */
	CHECK(vr.avail->ring[n] == (uint16_t)(3 + 0x8000));

	/* A descriptor returned twice is a protocol violation. */
	vr.used->ring[vr.used->idx & (n - 1)].id = vr.used->ring[0].id;
	vr.used->idx++;
	CHECK(vring_drv_get(&vr, &cookie, &len, &bad) == -EPROTO);
	/* So is one out of range. */
	vr.used->ring[vr.used->idx & (n - 1)].id = 1000;
	vr.used->idx++;
	CHECK(vring_drv_get(&vr, &cookie, &len, &bad) == -EPROTO && bad == 1000);

	/* Freed descriptors are reusable; indices wrap past 16 bits. */
	for (i = 0; i < 70000; i++) {
		uint16_t used_before;

		id = vring_drv_add(&vr, 0x2000, 64, false, 7);
		CHECK(id >= 0);
		vring_drv_publish(&vr);
		dev_avail = (uint16_t)(vr.avail_idx - 1);
		used_before = vr.used->idx;
		dev_complete(&vr, &dev_avail, 64);
		CHECK(vr.used->idx == (uint16_t)(used_before + 1));
		CHECK(vring_drv_get(&vr, &cookie, &len, &bad) == 1 && cookie == 7);
		if (failures)
			break;
	}

	/* Kick decision with EVENT_IDX: avail_event read from the used ring. */
	{
		uint16_t ev = vr.avail_idx;	/* wants the next one */

		memcpy(&vr.used->ring[n], &ev, sizeof(ev));
	}
	vr.kicked_idx = vr.avail_idx;
	vring_drv_add(&vr, 0x3000, 64, false, 8);
	vring_drv_publish(&vr);
	CHECK(vring_drv_need_kick(&vr));
	vring_drv_add(&vr, 0x3000, 64, false, 9);
	vring_drv_publish(&vr);
	CHECK(!vring_drv_need_kick(&vr));	/* event already passed */
	vring_drv_fini(&vr);

	/* Without EVENT_IDX the device's NO_NOTIFY flag decides. */
	memset(d, 0, vring_desc_size(n));
	memset(a, 0, vring_avail_size(n));
	memset(u, 0, vring_used_size(n));
	CHECK(vring_drv_init(&vr, n, false, d, a, u) == 0);
	CHECK(vr.avail->flags & VRING_AVAIL_F_NO_INTERRUPT);
	vring_drv_add(&vr, 0x3000, 64, false, 1);
	vring_drv_publish(&vr);
	CHECK(vring_drv_need_kick(&vr));
	vr.used->flags = VRING_USED_F_NO_NOTIFY;
	vring_drv_add(&vr, 0x3000, 64, false, 2);
	vring_drv_publish(&vr);
	CHECK(!vring_drv_need_kick(&vr));
	vring_drv_fini(&vr);
	free(d);
	free(a);
	free(u);
}

static unsigned int revoked_calls;

static void
on_revoked(void *arg, uint32_t owner, uint32_t win)
{
	(void)arg;
	(void)win;
	revoked_calls += owner == 77;
}

static void
test_iommu(struct guest_mem *gm)
{
	const struct gm_region *r0 = &gm->r[0], *r1 = &gm->r[1];
	struct iommu m;
	struct vu_iotlb u;
	uint32_t w1, w2, w3, i;
	uint64_t a1, a2, a3, ring;

	/* Strict, 4k: buffer windows land at shuffled, page-aligned IOVAs. */
	CHECK(iommu_init(&m, IOMMU_STRICT, GRAN_4K, gm, 64, 5, false) == 0);
	CHECK(iommu_map_buf(&m, r0->gpa + 0x1800, 2048, VU_ACCESS_WO, 0, 77,
			    &w1, &a1) == 0);
	CHECK((a1 & 0xfff) == 0x800);
	CHECK(a1 != r0->gpa + 0x1800);
	/* Never in the MSI window, which the lazy flush skips. */
	for (i = 0; i < 40; i++) {
		uint32_t w;
		uint64_t a;

		CHECK(iommu_map_buf(&m, r1->gpa, 64, VU_ACCESS_RO, 0, 1, &w, &a) == 0);
		CHECK(a + 4096 <= 0xfee00000ull || a >= 0xfef00000ull);
	}
	/* Crossing a granule is refused: windows are single granules. */
	CHECK(iommu_map_buf(&m, r0->gpa + 0xf00, 512, VU_ACCESS_RO, 0, 1,
			    &w2, &a2) == -EINVAL);

	/* Miss resolution with exact permissions. */
	CHECK(iommu_resolve(&m, a1 + 5, VU_ACCESS_WO, &u) == RESOLVE_OK);
	CHECK(u.iova == a1 - 0x800 && u.size == 4096 && u.perm == VU_ACCESS_WO);
	CHECK(u.uaddr == (uintptr_t)r0->va + 0x1000);
	CHECK(u.type == VU_IOTLB_UPDATE);
	CHECK(iommu_resolve(&m, a1, VU_ACCESS_RW, &u) == RESOLVE_PERM);
	CHECK(iommu_resolve(&m, a1, VU_ACCESS_RO, &u) == RESOLVE_PERM);
	CHECK(iommu_resolve(&m, 0x123, VU_ACCESS_RO, &u) == RESOLVE_UNMAPPED);
	CHECK(iommu_find(&m, a1) == &m.slot[w1]);

	/* Unmap: refused from the moment it starts, freed when acked. */
	CHECK(iommu_unmap(&m, w1) == 0);
	CHECK(iommu_unmap(&m, w1) == -EALREADY);
	CHECK(iommu_resolve(&m, a1, VU_ACCESS_WO, &u) == RESOLVE_REVOKED);
	iommu_unmap_done(&m, w1);
	CHECK(iommu_resolve(&m, a1, VU_ACCESS_WO, &u) == RESOLVE_REVOKED);
	/* The next mapping of the same buffer gets a fresh IOVA. */
	CHECK(iommu_map_buf(&m, r0->gpa + 0x1800, 2048, VU_ACCESS_WO, 0, 77,
			    &w2, &a2) == 0);
	CHECK(a2 != a1 && w2 != w1);
	/* Ring windows: any length, exact permission, never in buffer slots. */
	CHECK(iommu_map_static(&m, r1->gpa + 0x3000, 3 * 4096 + 10,
			       VU_ACCESS_RO, &ring) == 0);
	CHECK(iommu_resolve(&m, ring + 3 * 4096 + 8, VU_ACCESS_RO, &u) == RESOLVE_OK);
	CHECK(u.iova == ring && u.size == 4 * 4096);
	CHECK(iommu_resolve(&m, ring, VU_ACCESS_RW, &u) == RESOLVE_PERM);
	/* Slots run out, they do not wrap onto live windows. */
	for (i = 0; i < 64; i++)
		if (iommu_map_buf(&m, r1->gpa, 64, VU_ACCESS_RO, 0, 1, &w3, &a3) < 0)
			break;
	CHECK(i < 64);
	iommu_fini(&m);

	/* Lazy: unmapped windows wait for the flush, which frees them all. */
	CHECK(iommu_init(&m, IOMMU_LAZY, GRAN_2M, gm, 64, 9, false) == 0);
	CHECK(iommu_map_buf(&m, r0->gpa + 0x201000, 4096, VU_ACCESS_RO, 0, 77,
			    &w1, &a1) == 0);
	CHECK((a1 & 0x1fffff) == 0x1000);
	CHECK(iommu_map_buf(&m, r0->gpa, 4096, VU_ACCESS_RW, 0, 77, &w2, &a2) == 0);
	CHECK(iommu_resolve(&m, a2, VU_ACCESS_RW, &u) == RESOLVE_OK &&
	      u.size == (2u << 20));
	CHECK(iommu_unmap(&m, w1) == 0 && iommu_unmap(&m, w2) == 0);
	CHECK(m.npending == 2);
	CHECK(iommu_resolve(&m, a2, VU_ACCESS_RW, &u) == RESOLVE_REVOKED);
	revoked_calls = 0;
	CHECK(iommu_flush_done(&m, on_revoked, NULL) == 2);
	CHECK(revoked_calls == 2 && m.npending == 0);
	/* The flush covers every IOVA the allocator hands out. */
	CHECK(IOMMU_FLUSH_HI_IOVA + IOMMU_FLUSH_HI_SIZE == 0);
	CHECK(IOMMU_FLUSH_LO_IOVA + IOMMU_FLUSH_LO_SIZE == 0xfee00000ull);
	iommu_fini(&m);

	/* Split pools: a freed RX IOVA never comes back for TX. */
	CHECK(iommu_init(&m, IOMMU_STRICT, GRAN_4K, gm, 32, 3, true) == 0);
	for (i = 0; i < 100; i++) {
		CHECK(iommu_map_buf(&m, r0->gpa, 64, VU_ACCESS_WO, 0, 1, &w1, &a1) == 0);
		CHECK(iommu_map_buf(&m, r0->gpa, 64, VU_ACCESS_RO, 1, 1, &w2, &a2) == 0);
		CHECK(w1 % 2 == 0 && w2 % 2 == 1);
		iommu_unmap(&m, w1);
		iommu_unmap(&m, w2);
		iommu_unmap_done(&m, w1);
		iommu_unmap_done(&m, w2);
	}
	iommu_fini(&m);

	/* Passthrough: identity, RW, granule-sized answers from the region. */
	CHECK(iommu_init(&m, IOMMU_PT, GRAN_4K, gm, 16, 1, false) == 0);
	CHECK(iommu_map_buf(&m, r1->gpa + 0x42, 64, VU_ACCESS_RO, 0, 1, &w1, &a1) == 0);
	CHECK(a1 == r1->gpa + 0x42 && w1 == IOMMU_NO_WIN);
	CHECK(iommu_resolve(&m, r1->gpa + 0x5123, VU_ACCESS_WO, &u) == RESOLVE_OK);
	CHECK(u.iova == r1->gpa + 0x5000 && u.size == 4096 && u.perm == VU_ACCESS_RW);
	CHECK(u.uaddr == (uintptr_t)r1->va + 0x5000);
	CHECK(iommu_resolve(&m, r1->gpa + r1->size, VU_ACCESS_RO, &u) != RESOLVE_OK ||
	      guest_mem_region(gm, r1->gpa + r1->size) != NULL);
	iommu_fini(&m);

	/* Region granularity: the whole region per window. */
	CHECK(iommu_init(&m, IOMMU_PREFAULT, GRAN_REGION, gm, 16, 1, false) == 0);
	CHECK(iommu_map_buf(&m, r1->gpa + 0x10000, 64, VU_ACCESS_RO, 0, 1, &w1, &a1) == 0);
	CHECK(iommu_resolve(&m, a1, VU_ACCESS_RO, &u) == RESOLVE_OK);
	CHECK(u.size == r1->size && u.uaddr == (uintptr_t)r1->va);
	CHECK(a1 - u.iova == 0x10000);
	/* Prefault: same region and permission, same window. */
	CHECK(iommu_map_buf(&m, r1->gpa + 0x20000, 64, VU_ACCESS_RO, 0, 2, &w2, &a2) == 0);
	CHECK(w2 == w1 && a2 == a1 + 0x10000);
	CHECK(iommu_map_buf(&m, r1->gpa + 0x20000, 64, VU_ACCESS_WO, 0, 2, &w3, &a3) == 0);
	CHECK(w3 != w1);
	iommu_fini(&m);
}

static void
test_guest_mem(struct guest_mem *gm)
{
	struct vu_mem_table t;
	int fds[VU_MAX_REGIONS];
	unsigned int k, j;
	uint64_t g;

	CHECK(guest_mem_table(gm, &t, fds) == 8 + 3 * 32);
	for (k = 0; k < gm->nregions; k++) {
		CHECK(fds[k] == gm->fd);
		CHECK(t.regions[k].memory_size % (2u << 20) == 0);
		CHECK(t.regions[k].mmap_offset % (2u << 20) == 0);
		/* Nothing overlaps the MSI window, in any region. */
		CHECK(t.regions[k].guest_phys_addr + t.regions[k].memory_size <= 0xfee00000ull ||
		      t.regions[k].guest_phys_addr >= 0xfef00000ull);
		for (j = 0; j < k; j++) {
			CHECK(t.regions[j].guest_phys_addr != t.regions[k].guest_phys_addr);
			CHECK(t.regions[j].userspace_addr + t.regions[j].memory_size !=
			      t.regions[k].userspace_addr);
		}
	}
	/* Memory is shared through the fd: a region is what the file holds. */
	memset(gm->r[1].va, 0x5a, 16);
	CHECK(pread(gm->fd, &g, 8, gm->r[1].mmap_offset) == 8 &&
	      g == 0x5a5a5a5a5a5a5a5aull);
	g = guest_mem_alloc(gm, 1, 100, 4096);
	CHECK(g != 0 && g % 4096 == 0 && guest_mem_region(gm, g) == &gm->r[1]);
	CHECK(guest_mem_va(gm, g) == gm->r[1].va + (g - gm->r[1].gpa));
	CHECK(guest_mem_va(gm, 0x10) == NULL);
}

static void
test_packets(void)
{
	uint8_t f[1600], tmp[6];
	struct seq_track st;
	uint64_t seq = 0;

	pkt_build(f, 1500, 3, 123456789);
	CHECK(pkt_verify(f, 1500, 3, EXPECT_IO, &seq) == PKT_OK && seq == 123456789);
	CHECK(pkt_verify(f, 1500, 4, EXPECT_IO, &seq) == PKT_BAD_QUEUE);
	CHECK(pkt_verify(f, 1499, 3, EXPECT_IO, &seq) == PKT_BAD_LEN);
	CHECK(pkt_verify(f, 1500, 3, EXPECT_MACSWAP, &seq) == PKT_BAD_MAC);
	memcpy(tmp, f, 6);
	memcpy(f, f + 6, 6);
	memcpy(f + 6, tmp, 6);
	CHECK(pkt_verify(f, 1500, 3, EXPECT_MACSWAP, &seq) == PKT_OK);
	f[1000] ^= 1;
	CHECK(pkt_verify(f, 1500, 3, EXPECT_MACSWAP, &seq) == PKT_BAD_CSUM);
	f[1000] ^= 1;
	f[PKT_ETH_LEN] ^= 0xff;
	CHECK(pkt_verify(f, 1500, 3, EXPECT_MACSWAP, &seq) == PKT_BAD_MAGIC);
	memset(f, CANARY_BYTE, sizeof(f));
	CHECK(pkt_verify(f, 64, 0, EXPECT_IO, &seq) != PKT_OK);

	memset(&st, 0, sizeof(st));
	CHECK(seq_track_rx(&st, 0) == SEQ_NEW);
	CHECK(seq_track_rx(&st, 2) == SEQ_NEW);
	CHECK(seq_track_rx(&st, 1) == SEQ_REORDER);
	CHECK(seq_track_rx(&st, 2) == SEQ_DUP);
	CHECK(seq_track_rx(&st, 1000000) == SEQ_NEW);	/* grows */
	CHECK(seq_track_rx(&st, 1000000) == SEQ_DUP);
	CHECK(st.uniq == 4 && st.dup == 2 && st.reorder == 1);
	{
		char buf[64];

		CHECK(!seq_track_missing(&st, 6, 1, buf, sizeof(buf)));
		CHECK(strcmp(buf, "3-5") == 0);
		CHECK(!seq_track_missing(&st, 1000001, 1, buf, sizeof(buf)));
		CHECK(strcmp(buf, "3-999999") == 0);
		CHECK(seq_track_rx(&st, 7) == SEQ_REORDER);
		CHECK(seq_track_missing(&st, 1000001, 1, buf, sizeof(buf)));
		CHECK(!seq_track_missing(&st, 1000001, 2, buf, sizeof(buf)));
		CHECK(strcmp(buf, "3-6 8-999999") == 0);
	}
	seq_track_fini(&st);
}

static void
test_canary(void)
{
	uint8_t b[2048];

	canary_fill(b, sizeof(b));
	CHECK(canary_check(b, sizeof(b)) == -1);
	b[1999] = 0;
	CHECK(canary_check(b, sizeof(b)) == 1999);
	b[1999] = CANARY_BYTE;
	b[3] = 1;
	CHECK(canary_check(b, sizeof(b)) == 3);
}

static void
test_latency(void)
{
	struct latency l;
	uint64_t v, p50, p99;
	unsigned int i;

	memset(&l, 0, sizeof(l));
	CHECK(lat_percentile(&l, 50) == 0);
	for (i = 1; i <= 1000; i++)
		lat_record(&l, i * 1000ull);	/* 1..1000 us */
	p50 = lat_percentile(&l, 50);
	p99 = lat_percentile(&l, 99);
	CHECK(p50 >= 500000 && p50 <= 500000 * 107 / 100);
	CHECK(p99 >= 990000 && p99 <= 1000000);
	CHECK(lat_percentile(&l, 100) == 1000000 && l.max_ns == 1000000);
	/* Every value falls within its bucket's bounds. */
	for (v = 0; v < (1ull << 40); v = v * 3 / 2 + 1) {
		unsigned int b = lat_bucket(v);

		CHECK(v <= lat_bucket_top(b));
		CHECK(b == 0 || v > lat_bucket_top(b - 1));
	}
}

/* Play back-end on the other end of a socketpair. */
static void
be_reply(int fd, uint32_t req, uint32_t flags, uint64_t val)
{
	struct vu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = flags;
	m.hdr.size = 8;
	m.p.u64 = val;
	CHECK(vu_sock_send(fd, &m, NULL, 0) == 0);
}

static void
be_read(int fd, uint32_t want_req, uint32_t want_flags)
{
	struct vu_msg m;
	int fds[VU_MAX_FDS], nfds;

	CHECK(vu_sock_recv(fd, &m, fds, &nfds, VU_MAX_FDS) == 1);
	CHECK(m.hdr.request == want_req && m.hdr.flags == want_flags);
}

static void
test_conn(void)
{
	struct vu_conn *c;
	struct vu_msg r;
	uint64_t t1, t2, t3, v = 0;
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	c = vu_conn_from_fd(sv[0]);
	vu_conn_set_timeout(c, 200);

	/* Without REPLY_ACK an ack-able message has nothing to wait for. */
	CHECK(vu_conn_send(c, VU_SET_OWNER, NULL, 0, NULL, 0, VU_ACK, &t1) == 0);
	CHECK(t1 == 0 && vu_conn_wait(c, t1, NULL) == 0);
	be_read(sv[1], VU_SET_OWNER, VU_VERSION);

	/* Replies go to the right waiter, whatever order they wait in. */
	vu_conn_set_reply_ack(c, true);
	CHECK(vu_conn_send(c, VU_SET_FEATURES, &v, 8, NULL, 0, VU_ACK, &t1) == 0);
	CHECK(vu_conn_send(c, VU_GET_FEATURES, NULL, 0, NULL, 0, VU_DATA, &t2) == 0);
	CHECK(vu_conn_send(c, VU_IOTLB_MSG, &v, 8, NULL, 0, VU_ACK, &t3) == 0);
	be_read(sv[1], VU_SET_FEATURES, VU_VERSION | VU_FLAG_NEED_REPLY);
	be_read(sv[1], VU_GET_FEATURES, VU_VERSION);
	be_read(sv[1], VU_IOTLB_MSG, VU_VERSION | VU_FLAG_NEED_REPLY);
	be_reply(sv[1], VU_SET_FEATURES, VU_VERSION | VU_FLAG_REPLY, 0);
	be_reply(sv[1], VU_GET_FEATURES, VU_VERSION | VU_FLAG_REPLY, 0x1234);
	be_reply(sv[1], VU_IOTLB_MSG, VU_VERSION | VU_FLAG_REPLY, 1);
	CHECK(vu_conn_wait(c, t2, &r) == 0 && r.p.u64 == 0x1234);
	CHECK(vu_conn_wait(c, t3, NULL) == -EREMOTEIO);	/* negative ack */
	CHECK(vu_conn_wait(c, t1, NULL) == 0);

	/* No reply: the wait ends at the deadline. */
	CHECK(vu_conn_send(c, VU_SET_MEM_TABLE, &v, 8, NULL, 0, VU_ACK, &t1) == 0);
	CHECK(vu_conn_wait(c, t1, NULL) == -ETIMEDOUT);
	CHECK(strstr(vu_conn_error(c), "no reply to SET_MEM_TABLE") != NULL);
	/* Late, but still paired with its request; then a wrong one kills. */
	be_reply(sv[1], VU_SET_MEM_TABLE, VU_VERSION | VU_FLAG_REPLY, 0);
	CHECK(vu_conn_send(c, VU_SET_VRING_NUM, &v, 8, NULL, 0, VU_ACK, &t2) == 0);
	be_reply(sv[1], VU_SET_VRING_ADDR, VU_VERSION | VU_FLAG_REPLY, 0);
	CHECK(vu_conn_wait(c, t2, NULL) == -EPROTO);
	CHECK(strstr(vu_conn_error(c), "expected SET_VRING_NUM") != NULL);
	CHECK(vu_conn_send(c, VU_SET_OWNER, NULL, 0, NULL, 0, VU_ACK, &t3) == -EPIPE);
	vu_conn_close(c);
	close(sv[1]);

	/* Something the front-end never asked for is a protocol error. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	c = vu_conn_from_fd(sv[0]);
	vu_conn_set_timeout(c, 500);
	be_reply(sv[1], VU_GET_STATUS, VU_VERSION | VU_FLAG_REPLY, 0);
	usleep(100000);		/* let the reader see it with nothing owed */
	CHECK(vu_conn_send(c, VU_GET_FEATURES, NULL, 0, NULL, 0, VU_DATA, &t1) == -EPIPE);
	CHECK(strstr(vu_conn_error(c), "unsolicited") != NULL);
	vu_conn_close(c);
	close(sv[1]);

	/* The peer going away fails the waiter at once, not at the deadline. */
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	c = vu_conn_from_fd(sv[0]);
	vu_conn_set_timeout(c, 5000);
	CHECK(vu_conn_send(c, VU_GET_FEATURES, NULL, 0, NULL, 0, VU_DATA, &t1) == 0);
	close(sv[1]);
	CHECK(vu_conn_wait(c, t1, NULL) == -EPIPE);
	CHECK(strstr(vu_conn_error(c), "closed") != NULL);
	vu_conn_close(c);
}

int
main(void)
{
	struct guest_mem gm;

	test_vring();
	/* Small pages: the test must not depend on free huge pages. */
	CHECK(guest_mem_init(&gm, 48, 3, false) == 0);
	test_guest_mem(&gm);
	test_iommu(&gm);
	guest_mem_fini(&gm);
	test_packets();
	test_canary();
	test_latency();
	test_conn();
	if (failures) {
		fprintf(stderr, "frontend unit tests: %d failure(s)\n", failures);
		return 1;
	}
	printf("frontend unit tests: all passed\n");
	return 0;
}
