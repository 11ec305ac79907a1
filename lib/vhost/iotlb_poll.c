/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * The poll thread's side of the IOTLB: the slow path of a translation
 * (table walk, cache refill) and reporting a miss to the control thread.
 */

#include <errno.h>
#include <unistd.h>

#include <rte_cycles.h>

#include "vhost.h"

/* The same miss is reported again only after this long (the control thread
 * resends on its own schedule; this just keeps the ring quiet). */
#define MISS_REPORT_US 200

/* Queue a miss for the control thread. @return false if the ring is full. */
static bool
miss_push(struct iovh_dev *dev, struct iovh_vq *vq, uint64_t iova,
		uint8_t perm, uint32_t seq, uint64_t now, uint8_t ahead)
{
	uint32_t head = vq->miss_head, tail;
	uint64_t one = 1;

	/* Acquire: the control thread is done with the slots it released. */
	tail = __atomic_load_n(&vq->miss_tail, __ATOMIC_ACQUIRE);
	if (head - tail >= IOVH_MISS_RING)
		return false;	/* full: those already queued will do */
	vq->miss[head % IOVH_MISS_RING].iova = iova;
	vq->miss[head % IOVH_MISS_RING].perm = perm;
	vq->miss[head % IOVH_MISS_RING].seq = seq;
	vq->miss[head % IOVH_MISS_RING].tsc = now;
	vq->miss[head % IOVH_MISS_RING].ahead = ahead;
	/* Release: the slot is written before the control thread sees it. */
	__atomic_store_n(&vq->miss_head, head + 1, __ATOMIC_RELEASE);
	/*
	 * Decide whether to wake the control thread on a fresh look at the
	 * tail, after the head store (full fence: the StoreLoad pair with the
	 * consumer's tail store + head re-load). If the consumer already
	 * moved past our entry, or will re-check after its tail store, one
	 * of us sees the other.
	 */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	tail = __atomic_load_n(&vq->miss_tail, __ATOMIC_ACQUIRE);
	/*
	 * Wake the control thread only on empty -> non-empty. A non-blocking
	 * eventfd write never sleeps; it can only fail when the counter is
	 * near 2^64, and then the control thread is awake anyway.
	 */
	if (head == tail && write(dev->miss_efd, &one, sizeof(one)) < 0 &&
			errno != EAGAIN)
		IOVH_LOG_DATA(DEBUG, "miss eventfd: %d", errno);
	return true;
}

void
iovh_vq_report_miss(struct iovh_dev *dev, struct iovh_vq *vq, uint64_t iova,
		uint8_t perm, uint32_t seq)
{
	uint64_t page = iova & ~((1ULL << IOTLB_PAGE_SHIFT) - 1);
	uint64_t now = rte_get_tsc_cycles();

	if (page == vq->last_miss_iova &&
			now - vq->last_miss_tsc <
			rte_get_tsc_hz() / 1000000 * MISS_REPORT_US)
		return;
	if (miss_push(dev, vq, iova, perm, seq, now, 0)) {
		vq->last_miss_iova = page;
		vq->last_miss_tsc = now;
	}
}

/* ------------------------------------------------------------------ */
/* Look-ahead after a miss                                             */

/*
 * Why: a blocked enqueue parks packets in the backlog, and each parked
 * packet's buffer is only found unmapped once the packet before it is
 * placed: one front-end round trip per packet, and QEMU answers slowly
 * while it migrates, so parked replies were still waiting when the ring
 * stopped. The look-ahead asks for all of them at once.
 *
 * Which IOVAs: only buffers the front-end has posted and we have not
 * used yet (from last_avail_idx on). Until we use them the driver may
 * not unmap them, so such a miss is never one for a revoked IOVA; once
 * answered, the control thread's stale filter (answered[], by iotlb_seq)
 * drops a copy still queued, as for any other miss.
 *
 * Bounded and read-only: the walkers copy each descriptor once, mask or
 * check every index, never follow more than IOVH_LOOKAHEAD_DESCS
 * descriptors, and touch neither the ring state nor the translation
 * cache. Nothing here runs unless a translation just missed.
 */

bool
iovh_lookahead_begin(struct iovh_dev *dev, struct iovh_vq *vq,
		struct iovh_lookahead *la)
{
	uint64_t now = rte_get_tsc_cycles();

	if (!vq->iommu)
		return false;
	if (vq->la_idx == vq->last_avail_idx && vq->la_tsc != 0 &&
			now - vq->la_tsc < rte_get_tsc_hz() / 1000 *
			IOVH_LOOKAHEAD_MS)
		return false;
	vq->la_idx = vq->last_avail_idx;
	vq->la_tsc = now;
	la->walks = IOVH_LOOKAHEAD_WALKS;
	la->n = 0;
	/* The blocked access reported its page itself: not twice. */
	la->page[la->n++] = vq->blocked_page;
	/* Acquire, as in iovh_vq_iotlb_translate(): a miss recorded now is
	 * older than every UPDATE not yet counted. */
	la->seq = __atomic_load_n(&dev->iotlb_seq, __ATOMIC_ACQUIRE);
	return true;
}

/* Report @p page unless this look-ahead already did. */
static bool
lookahead_report(struct iovh_dev *dev, struct iovh_vq *vq,
		struct iovh_lookahead *la, uint64_t page, uint8_t perm)
{
	unsigned int i;

	for (i = 0; i < la->n; i++)
		if (la->page[i] == page)
			return true;
	if (la->n == IOVH_LOOKAHEAD_PAGES)
		return false;
	la->page[la->n++] = page;
	return miss_push(dev, vq, page, perm, la->seq, rte_get_tsc_cycles(),
			1);
}

bool
iovh_lookahead_buf(struct iovh_dev *dev, struct iovh_vq *vq,
		struct iovh_lookahead *la, uint64_t addr, uint64_t len,
		uint8_t perm)
{
	const uint64_t pmask = (1ULL << IOTLB_PAGE_SHIFT) - 1;
	const struct iovh_iotlb_map *m;
	uint64_t last, page, bl;

	if (len == 0)
		return true;
	last = addr + (len - 1);
	if (last < addr)
		return true;	/* wraps: a bad chain, nothing to ask for */
	page = addr & ~pmask;
	for (;;) {
		if (la->walks == 0)
			return false;
		la->walks--;
		m = iovh_iotlb_find(&dev->iotlb, page, &bl);
		if (m == NULL || (m->perm & perm) != perm) {
			if (!lookahead_report(dev, vq, la, page, perm))
				return false;
			bl = page | pmask;
		}
		/* The block found (or the page asked for) ends at bl. */
		if (bl >= last)
			return true;
		page = bl + 1;
	}
}

uint64_t
iovh_lookahead_table(struct iovh_dev *dev, struct iovh_vq *vq,
		struct iovh_lookahead *la, uint64_t addr, uint64_t len)
{
	const struct iovh_iotlb_map *m;
	uint64_t bl;

	if (len == 0 || addr + (len - 1) < addr || la->walks == 0)
		return 0;
	la->walks--;
	m = iovh_iotlb_find(&dev->iotlb, addr, &bl);
	if (m != NULL && (m->perm & VHU_ACCESS_RO) == VHU_ACCESS_RO &&
			addr + (len - 1) <= bl)
		return m->hva + (addr - m->iova);
	/* Not (all) there: ask for what is missing, skip the table. */
	iovh_lookahead_buf(dev, vq, la, addr, len, VHU_ACCESS_RO);
	return 0;
}

uint64_t
iovh_vq_iotlb_translate(struct iovh_dev *dev, struct iovh_vq *vq,
		uint64_t iova, uint64_t *len, uint8_t perm, uint64_t *gpa)
{
	const struct iovh_iotlb_map *m;
	uint64_t blk_last, off;
	uint32_t seq;

	vq->stats.iotlb_lookups++;
	/*
	 * The UPDATE count is read before the walk (acquire, pairing with the
	 * release after an UPDATE's inserts): if the walk then misses, every
	 * UPDATE counted here was already in the table, so the control thread
	 * can tell a report that an answer overtook from a fresh miss.
	 */
	seq = __atomic_load_n(&dev->iotlb_seq, __ATOMIC_ACQUIRE);
	m = iovh_iotlb_find(&dev->iotlb, iova, &blk_last);
	if (m != NULL && (m->perm & perm) != perm) {
		/*
		 * Mapped, but not for this access: that too is a miss, with the
		 * permission we need (the spec's MISS carries it). A front-end
		 * that really forbids it never answers, and the chain is then
		 * dropped as bad after IOVH_MISS_STALL_MS.
		 */
		vq->stats.iotlb_denied++;
		m = NULL;
	}
	if (m == NULL) {
		uint64_t now = rte_get_tsc_cycles();

		vq->stats.iotlb_misses++;
		/*
		 * A miss the front-end never answers (QEMU stays silent on an
		 * invalid one) must not pin the queue: after a while the chain
		 * counts as bad and goes back to the front-end.
		 */
		if (vq->miss_since == 0) {
			vq->miss_since = now;
		} else if (now - vq->miss_since >
				rte_get_tsc_hz() / 1000 * IOVH_MISS_STALL_MS) {
			/*
			 * A front-end that left a miss unanswered this long
			 * is not answering: until the queue moves again (the
			 * burst functions then clear miss_since), each
			 * further chain that misses waits only
			 * IOVH_MISS_STALL_NEXT_MS, not the whole limit again.
			 */
			vq->miss_since = now - rte_get_tsc_hz() / 1000 *
				(IOVH_MISS_STALL_MS - IOVH_MISS_STALL_NEXT_MS);
			vq->xlate_miss = 0;
			return 0;
		}
		vq->xlate_miss = 1;
		vq->blocked_page = iova & ~((1ULL << IOTLB_PAGE_SHIFT) - 1);
		iovh_vq_report_miss(dev, vq, iova, perm, seq);
		return 0;
	}
	vq->xlate_miss = 0;
	/* Cache the block, exactly: never more than what this slot maps. */
	off = iova - m->iova;
	vq->c_iova = iova & ~((1ULL << IOTLB_PAGE_SHIFT) - 1);
	if (vq->c_iova < m->iova)
		vq->c_iova = m->iova;
	vq->c_last = blk_last;
	vq->c_hva = m->hva + (vq->c_iova - m->iova);
	vq->c_gpa = m->gpa + (vq->c_iova - m->iova);
	vq->c_perm = m->perm;
	if (*len - 1 > blk_last - iova)
		*len = blk_last - iova + 1;
	*gpa = m->gpa + off;
	return m->hva + off;
}
