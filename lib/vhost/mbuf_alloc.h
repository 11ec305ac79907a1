/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef IOVH_MBUF_ALLOC_H
#define IOVH_MBUF_ALLOC_H

/**
 * @file
 * Buffers for packets received from a front-end that do not fit one mbuf
 * (ext-buffer=1): the mbuf gets an external buffer sized for the packet,
 * so it stays a single segment.
 *
 * External buffers come from one process-wide mempool of 64 KiB buffers
 * (IOVH_EXTBUF_POOL_SIZE of them), created by the first device that asks
 * for ext-buffer and never freed: an mbuf may carry one long after its
 * device is gone. Taking and returning a buffer is a mempool get/put (the
 * per-lcore cache; no lock, no system call), and the buffer goes back to
 * the pool from the shared-info free callback on whatever thread frees the
 * last reference. Only when the pool is empty does a packet fall back to
 * rte_malloc (as DPDK's vhost library does for every such packet).
 *
 * The largest external buffer an mbuf can describe is 64 KiB minus its
 * shared info (buf_len is 16 bits): a packet larger than that cannot be
 * made linear, here as in DPDK.
 *
 * Used by every ring layout's dequeue (split_ring.c, packed_ring.c).
 */

#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_mbuf.h>

struct rte_mempool;

/** Buffers in the process-wide external-buffer pool. */
#define IOVH_EXTBUF_POOL_SIZE 256

/**
 * Make sure the external-buffer pool exists. Application thread (it uses
 * the DPDK heap, so never the control thread); serialised internally.
 * @return 0, or -1 (logged; large packets then use rte_malloc or chains).
 */
int iovh_extbuf_pool_init(int socket_id);

/**
 * Move the packet being built in @p m (one segment, data in its own buffer)
 * into an external buffer with room for @p len bytes of packet after the
 * usual headroom.
 *
 * Thread-safety: the poll thread owning @p m.
 * @return 0, or -1 (too large, or no memory): @p m is unchanged.
 */
int iovh_mbuf_extbuf_grow(struct rte_mbuf *m, uint32_t len);

/** iovh_mbuf_grow(): the packet must be dropped (linear-buffer). */
#define IOVH_GROW_TOOBIG (-2)
/** iovh_mbuf_grow(): no mbuf left; try the packet again later. */
#define IOVH_GROW_NOMEM (-1)

/**
 * The packet being copied into @p m filled the segment @p *seg: make room
 * the way the device was configured (IOVH_OL_* bits of @p ol): with
 * IOVH_OL_EXTBUF an external buffer for the whole packet (@p need bytes);
 * failing that, with IOVH_OL_LINEARBUF nothing (the packet is dropped, as
 * in DPDK); otherwise one more segment from @p mp, chained after *seg.
 *
 * Thread-safety: the poll thread owning @p m.
 *
 * @param need
 *   Bytes of the whole packet: only read with IOVH_OL_EXTBUF, and only a
 *   hint (the copy checks room itself); 0 when not worth an external
 *   buffer (m is already chained or external).
 * @return 0 (*seg has room), IOVH_GROW_TOOBIG or IOVH_GROW_NOMEM.
 */
int iovh_mbuf_grow(struct rte_mbuf *m, struct rte_mbuf **seg,
		struct rte_mempool *mp, uint16_t ol, uint64_t need);

/**
 * Take a half-built packet back to an empty single segment, so a dequeue
 * can reuse the mbuf for the next chain (bad chain, miss, no memory).
 * Thread-safety: the poll thread owning @p m.
 */
static __rte_always_inline void
iovh_mbuf_rewind(struct rte_mbuf *m)
{
	/* Back to its own buffer; the external one goes back to its pool. */
	if (unlikely(RTE_MBUF_HAS_EXTBUF(m)))
		rte_pktmbuf_detach(m);
	if (unlikely(m->next != NULL)) {
		rte_pktmbuf_free(m->next);
		m->next = NULL;
		m->nb_segs = 1;
	}
	m->data_len = 0;
	m->pkt_len = 0;
}

#endif /* IOVH_MBUF_ALLOC_H */
