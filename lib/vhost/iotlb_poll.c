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

void
iovh_vq_report_miss(struct iovh_dev *dev, struct iovh_vq *vq, uint64_t iova,
		uint8_t perm, uint32_t seq)
{
	uint64_t page = iova & ~((1ULL << IOTLB_PAGE_SHIFT) - 1);
	uint64_t now = rte_get_tsc_cycles();
	uint32_t head = vq->miss_head, tail;
	uint64_t one = 1;

	if (page == vq->last_miss_iova &&
			now - vq->last_miss_tsc <
			rte_get_tsc_hz() / 1000000 * MISS_REPORT_US)
		return;
	/* Acquire: the control thread is done with the slots it released. */
	tail = __atomic_load_n(&vq->miss_tail, __ATOMIC_ACQUIRE);
	if (head - tail >= IOVH_MISS_RING)
		return;		/* full: those already queued will do */
	vq->last_miss_iova = page;
	vq->last_miss_tsc = now;
	vq->miss[head % IOVH_MISS_RING].iova = iova;
	vq->miss[head % IOVH_MISS_RING].perm = perm;
	vq->miss[head % IOVH_MISS_RING].seq = seq;
	vq->miss[head % IOVH_MISS_RING].tsc = now;
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
			vq->miss_since = 0;
			vq->xlate_miss = 0;
			return 0;
		}
		vq->xlate_miss = 1;
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
