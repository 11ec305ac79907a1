/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "packed_ring.h"
#include "vhost.h"

/*
 * Every burst is one QSBR read-side section on the virtqueue's own reader
 * slot. Going offline at the end (rather than reporting quiescence and
 * staying online) means an lcore that stops polling never holds up the
 * control thread. The cost is one full fence per burst, inside online().
 */
static __rte_always_inline struct iovh_vq *
burst_begin(struct iovh_dev *dev, uint16_t vq_idx)
{
	struct iovh_vq *vq;

	if (unlikely(vq_idx >= dev->max_queue_pairs * 2u))
		return NULL;
	vq = dev->vq[vq_idx];
	rte_rcu_qsbr_thread_online(dev->qsbr, vq_idx);
	/* Acquire pairs with the release in iovh_dev_update_ready(). */
	if (unlikely(!__atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE))) {
		rte_rcu_qsbr_thread_offline(dev->qsbr, vq_idx);
		return NULL;
	}
	if (vq->iommu)
		iovh_vq_iotlb_sync(dev, vq);
	return vq;
}

/*
 * Keep packets the caller handed us: each segment gets a reference of our
 * own, so the caller's free (it counts them as consumed) leaves them to us.
 */
static uint16_t
backlog_add(struct iovh_vq *vq, struct rte_mbuf **pkts, uint16_t count)
{
	uint16_t n = RTE_MIN(count, (uint16_t)(IOVH_BACKLOG - vq->backlog_n));
	struct rte_mbuf *s;
	uint16_t i;

	for (i = 0; i < n; i++) {
		for (s = pkts[i]; s != NULL; s = s->next)
			rte_mbuf_refcnt_update(s, 1);
		vq->backlog[vq->backlog_n++] = pkts[i];
	}
	if (vq->backlog_n > vq->stats.backlog_max)
		vq->stats.backlog_max = vq->backlog_n;
	return n;
}

/* Deliver what the backlog holds, in order; drop our references. */
void
iovh_vq_backlog_flush(struct iovh_dev *dev, struct iovh_vq *vq)
{
	uint16_t k;

	k = iovh_vq_enqueue(dev, vq, vq->backlog, vq->backlog_n);
	if (k == 0)
		return;
	rte_pktmbuf_free_bulk(vq->backlog, k);
	vq->backlog_n -= k;
	memmove(vq->backlog, vq->backlog + k,
			vq->backlog_n * sizeof(vq->backlog[0]));
}

/* What enqueue_ring_wait() found. */
#define RING_WAIT_RETRY UINT32_MAX

/*
 * The front-end's IOMMU took the ring mapping away (a lazy flush does, every
 * time): park the packets until the control thread has the ring back.
 *
 * @return packets parked, or RING_WAIT_RETRY when the queue became usable
 *   (or was being completed by the control thread) since burst_begin()
 *   found it not ready: the caller tries the burst again, so a queue that
 *   is back is never mistaken for a stopped one (that returned 0, and the
 *   application dropped the packets).
 */
static __rte_noinline uint32_t
enqueue_ring_wait(struct iovh_dev *dev, uint16_t vq_idx,
		struct rte_mbuf **pkts, uint16_t count)
{
	struct iovh_vq *vq;
	uint16_t n = 0;

	if (vq_idx >= dev->max_queue_pairs * 2u)
		return 0;
	vq = dev->vq[vq_idx];
	/*
	 * The control thread holds the queue for a moment to complete its
	 * backlog: wait it out rather than turn the packets away. Offline
	 * while waiting, so its quiesce cannot wait for us in turn.
	 */
	if (unlikely(__atomic_load_n(&vq->ctrl_flushing, __ATOMIC_ACQUIRE))) {
		while (__atomic_load_n(&vq->ctrl_flushing, __ATOMIC_ACQUIRE))
			rte_pause();
		return RING_WAIT_RETRY;
	}
	rte_rcu_qsbr_thread_online(dev->qsbr, vq_idx);
	/* Acquire pairs with the control thread's release of ring_wait. */
	if (unlikely(__atomic_load_n(&vq->ring_wait, __ATOMIC_ACQUIRE))) {
		n = backlog_add(vq, pkts, count);
		__atomic_store_n(&vq->backlog_tsc, rte_get_tsc_cycles(),
				__ATOMIC_RELAXED);
		rte_rcu_qsbr_thread_offline(dev->qsbr, vq_idx);
		return n;
	}
	/*
	 * Neither held nor waiting: the device is stopped, or the control
	 * thread gave the queue back between our loads. It stores ctrl_flushing
	 * = 1 before ready = 0 and ready = 1 before ctrl_flushing = 0 (and
	 * ready before ring_wait = 0 in iovh_dev_update_ready()), all
	 * store-release: loading ready, ctrl_flushing, ready again (acquire,
	 * in that order) sees one of them set if a hand-back or a flush was
	 * what made burst_begin() find the queue not ready.
	 */
	rte_rcu_qsbr_thread_offline(dev->qsbr, vq_idx);
	if (__atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE) ||
			__atomic_load_n(&vq->ctrl_flushing, __ATOMIC_ACQUIRE) ||
			__atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE))
		return RING_WAIT_RETRY;
	return 0;
}

void
iovh_vq_backlog_free(struct iovh_vq *vq)
{
	if (vq->backlog_n > 0)
		rte_pktmbuf_free_bulk(vq->backlog, vq->backlog_n);
	vq->backlog_n = 0;
}

uint16_t
iovh_enqueue_burst(struct iovh_dev *dev, uint16_t vq_idx,
		struct rte_mbuf **pkts, uint16_t count)
{
	struct iovh_vq *vq;
	unsigned int tries = 0;
	uint32_t w;
	uint16_t n;

	if (unlikely((vq_idx & 1) != 0 || count == 0))
		return 0;
again:
	vq = burst_begin(dev, vq_idx);
	if (unlikely(vq == NULL)) {
		w = enqueue_ring_wait(dev, vq_idx, pkts, count);
		if (w != RING_WAIT_RETRY)
			return (uint16_t)w;
		/* Bounded: the control thread may take the queue again. */
		if (++tries < 4)
			goto again;
		return 0;
	}
	/*
	 * No loss on an IOTLB miss: packets that met one wait in the backlog
	 * (in order, ahead of anything newer) until the mapping arrives. A
	 * full ring is not a miss: then the burst comes back short, as
	 * ethdev expects.
	 */
	if (unlikely(vq->backlog_n != 0))
		iovh_vq_backlog_flush(dev, vq);
	if (likely(vq->backlog_n == 0)) {
		n = iovh_vq_enqueue(dev, vq, pkts, count);
		if (unlikely(vq->rx_missed && n < count))
			n += backlog_add(vq, pkts + n, count - n);
	} else {
		n = vq->rx_missed ? backlog_add(vq, pkts, count) : 0;
	}
	if (n != 0)
		vq->miss_since = 0;
	if (unlikely(vq->backlog_n != 0))
		__atomic_store_n(&vq->backlog_tsc, rte_get_tsc_cycles(),
				__ATOMIC_RELAXED);
	rte_rcu_qsbr_thread_offline(dev->qsbr, vq_idx);
	return n;
}

/*
 * Hand a RARP for the MAC SEND_RARP named to the application, ahead of
 * the burst. Only virtqueue 1 does it, so the flag has one consumer and
 * needs no read-modify-write: the control thread only ever sets it, this
 * poll thread only clears it. A second SEND_RARP landing between our load
 * and our store is folded into the RARP being sent (same guest, same MAC).
 * Without an mbuf the flag stays set and the next burst tries again.
 */
static __rte_noinline uint16_t
rarp_inject(struct iovh_dev *dev, struct rte_mempool *mp,
		struct rte_mbuf **pkts)
{
	uint64_t mac = __atomic_load_n(&dev->rarp_mac, __ATOMIC_RELAXED);

	pkts[0] = iovh_rarp_build(mp, mac);
	if (pkts[0] == NULL)
		return 0;
	__atomic_store_n(&dev->rarp_pending, 0, __ATOMIC_RELAXED);
	IOVH_LOG_DATA(INFO, "(%s) RARP injected for the migrated guest",
			dev->path);
	return 1;
}

uint16_t
iovh_dequeue_burst(struct iovh_dev *dev, uint16_t vq_idx,
		struct rte_mempool *mp, struct rte_mbuf **pkts, uint16_t count)
{
	struct iovh_vq *vq;
	uint16_t n, r = 0;

	if (unlikely((vq_idx & 1) == 0 || count == 0))
		return 0;
	vq = burst_begin(dev, vq_idx);
	if (vq == NULL)
		return 0;
	/* Acquire pairs with the release in SEND_RARP's handler (msg.c). */
	if (unlikely(vq_idx == 1 &&
			__atomic_load_n(&dev->rarp_pending, __ATOMIC_ACQUIRE))) {
		r = rarp_inject(dev, mp, pkts);
		pkts += r;
		count -= r;
	}
	n = iovh_vq_dequeue(dev, vq, mp, pkts, count) + r;
	if (n != 0)
		vq->miss_since = 0;
	rte_rcu_qsbr_thread_offline(dev->qsbr, vq_idx);
	return n;
}

int
iovh_vq_stats_get(const struct iovh_dev *dev, uint16_t vq,
		struct iovh_vq_stats *stats)
{
	const struct iovh_vq_counters *c;
	unsigned int i;

	if (vq >= dev->max_queue_pairs * 2u || stats == NULL)
		return -EINVAL;
	c = &dev->vq[vq]->stats;
	stats->packets = __atomic_load_n(&c->packets, __ATOMIC_RELAXED);
	stats->bytes = __atomic_load_n(&c->bytes, __ATOMIC_RELAXED);
	stats->dropped = __atomic_load_n(&c->dropped, __ATOMIC_RELAXED);
	stats->bad_desc = __atomic_load_n(&c->bad_desc, __ATOMIC_RELAXED);
	stats->notifications = __atomic_load_n(&c->notifications,
			__ATOMIC_RELAXED);
	stats->iotlb_hits = __atomic_load_n(&c->iotlb_hits, __ATOMIC_RELAXED);
	stats->iotlb_lookups = __atomic_load_n(&c->iotlb_lookups,
			__ATOMIC_RELAXED);
	stats->iotlb_misses = __atomic_load_n(&c->iotlb_misses,
			__ATOMIC_RELAXED);
	stats->iotlb_denied = __atomic_load_n(&c->iotlb_denied,
			__ATOMIC_RELAXED);
	stats->backlog_max = __atomic_load_n(&c->backlog_max, __ATOMIC_RELAXED);
	stats->ol_errors = __atomic_load_n(&c->ol_errors, __ATOMIC_RELAXED);
	stats->backlog = __atomic_load_n(&dev->vq[vq]->backlog_n,
			__ATOMIC_RELAXED);
	for (i = 0; i < IOVH_MISS_LAT_BUCKETS; i++)
		stats->miss_lat[i] = __atomic_load_n(&c->miss_lat[i],
				__ATOMIC_RELAXED);
	return 0;
}

int
iovh_dev_stats_get(const struct iovh_dev *dev, struct iovh_dev_stats *stats)
{
	if (dev == NULL || stats == NULL)
		return -EINVAL;
	/* Control-thread counters, read without a lock: each is one aligned
	 * 64-bit word, so a reader sees an old or a new value, never a mix. */
	stats->iotlb_entries = __atomic_load_n(&dev->iotlb.nmaps,
			__ATOMIC_RELAXED);
	stats->iotlb_capacity = dev->iotlb.max_maps;
	stats->iotlb_updates = __atomic_load_n(&dev->iotlb_updates,
			__ATOMIC_RELAXED);
	stats->iotlb_invalidates = __atomic_load_n(&dev->iotlb_invalidates,
			__ATOMIC_RELAXED);
	stats->iotlb_evictions = __atomic_load_n(&dev->iotlb.evictions,
			__ATOMIC_RELAXED);
	stats->misses_sent = __atomic_load_n(&dev->misses_sent,
			__ATOMIC_RELAXED);
	stats->connections = __atomic_load_n(&dev->connections,
			__ATOMIC_RELAXED);
	return 0;
}

int
iovh_vq_stats_reset(struct iovh_dev *dev, uint16_t vq)
{
	struct iovh_vq_counters *c;
	unsigned int i;

	if (vq >= dev->max_queue_pairs * 2u)
		return -EINVAL;
	c = &dev->vq[vq]->stats;
	__atomic_store_n(&c->packets, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->bytes, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->dropped, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->bad_desc, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->notifications, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->iotlb_hits, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->iotlb_lookups, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->iotlb_misses, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->iotlb_denied, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->backlog_max, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&c->ol_errors, 0, __ATOMIC_RELAXED);
	for (i = 0; i < IOVH_MISS_LAT_BUCKETS; i++)
		__atomic_store_n(&c->miss_lat[i], 0, __ATOMIC_RELAXED);
	return 0;
}

int
iovh_vq_notify_enable(struct iovh_dev *dev, uint16_t vq_idx, bool enable)
{
	struct iovh_vq *vq;
	int ret = 0;

	if (vq_idx >= dev->max_queue_pairs * 2u)
		return -EINVAL;
	vq = dev->vq[vq_idx];
	vq->notify_off = !enable;
	rte_rcu_qsbr_thread_online(dev->qsbr, vq_idx);
	/* Acquire pairs with the release in iovh_dev_update_ready(). */
	if (unlikely(!__atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE))) {
		/*
		 * Rings taken away by the front-end's IOMMU, or held by the
		 * control thread (rings_hold(), a backlog flush): the request
		 * cannot be written, so no kick may come for what is posted
		 * now. Tell the caller to keep polling until the queue is
		 * back; its next enable then writes the request.
		 *
		 * Ordering: ring_wait (or ctrl_flushing) = 1 is stored before
		 * ready = 0, both store-release, so having loaded that
		 * ready = 0 with acquire we see the flag. We load it while
		 * still online: the control thread's quiesce after the hold
		 * waits for us, so it cannot give the queue back (ring_wait
		 * = 0) between our two loads. Loading ring_wait before ready,
		 * as this did, let a hold land between them: 0 and 0, "not
		 * pending", and the caller slept on chains the front-end
		 * posted without a kick (no request was written). A queue
		 * given back without a hold (the rings' UPDATE landed) stores
		 * ready = 1 before ring_wait = 0: loading ready again after a
		 * 0 flag sees it, and the caller polls it once more.
		 */
		if (enable && (__atomic_load_n(&vq->ring_wait,
				__ATOMIC_ACQUIRE) ||
				__atomic_load_n(&vq->ctrl_flushing,
				__ATOMIC_ACQUIRE) ||
				__atomic_load_n(&vq->ready, __ATOMIC_ACQUIRE)))
			ret = 1;
		rte_rcu_qsbr_thread_offline(dev->qsbr, vq_idx);
		return ret;
	}
	if (vq->iommu)
		iovh_vq_iotlb_sync(dev, vq);
	/* Packed: the device event area says it all (DISABLE or not). */
	if (vq->packed) {
		iovh_packed_kick_update(vq);
	} else if (!vq->event_idx) {
		/* Without EVENT_IDX the flag is the whole story; with it,
		 * the dequeue path keeps avail_event current while
		 * notify_off is 0. */
		uint16_t f = enable ? 0 : VRING_USED_F_NO_NOTIFY;

		__atomic_store_n(&vq->used->flags, f, __ATOMIC_RELAXED);
		iovh_log_used(vq, 0, sizeof(vq->used->flags));
	} else if (enable) {
		/* The caller may sleep before its next dequeue: ask for a
		 * kick on the very next buffer now (avail_event). */
		__atomic_store_n((uint16_t *)&vq->used->ring[vq->size],
				vq->last_avail_idx, __ATOMIC_RELAXED);
		iovh_log_used(vq, offsetof(struct vring_used, ring) +
				(uint64_t)vq->size *
				sizeof(struct vring_used_elem), sizeof(uint16_t));
	}
	if (enable) {
		/*
		 * StoreLoad, as in the dequeue path: the front-end makes a
		 * buffer available, fences, then reads our flag, avail_event
		 * or event area. With a full fence here too, a buffer posted
		 * around now is either seen below or kicked, never both
		 * missed.
		 */
		rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (vq->packed) {
			uint16_t f = __atomic_load_n(
				&vq->desc_packed[vq->last_avail_idx].flags,
				__ATOMIC_RELAXED);

			/* Available in the driver's current lap (2.8.1). */
			if (!!(f & VRING_PACKED_DESC_F_AVAIL) == vq->avail_wrap &&
					!!(f & VRING_PACKED_DESC_F_USED) !=
					vq->avail_wrap)
				ret = 1;
		} else if (__atomic_load_n(&vq->avail->idx,
				__ATOMIC_RELAXED) != vq->last_avail_idx) {
			ret = 1;
		}
	}
	rte_rcu_qsbr_thread_offline(dev->qsbr, vq_idx);
	return ret;
}

int
iovh_vq_monitor_addr(struct iovh_dev *dev, uint16_t vq_idx,
		struct iovh_monitor_cond *cond)
{
	struct iovh_vq *vq;
	int ret = 0;

	if (vq_idx >= dev->max_queue_pairs * 2u || cond == NULL)
		return -EINVAL;
	vq = burst_begin(dev, vq_idx);
	if (vq == NULL)
		return -ENODEV;
	if (vq->packed) {
		/*
		 * The flags of the next slot to take: it becomes available
		 * when its AVAIL bit equals our wrap counter and its USED bit
		 * differs, i.e. when AVAIL|USED reads AVAIL (lap 1) or USED
		 * (lap 0).
		 */
		cond->addr = &vq->desc_packed[vq->last_avail_idx].flags;
		cond->mask = VRING_PACKED_DESC_F_AVAIL |
			VRING_PACKED_DESC_F_USED;
		cond->val = vq->avail_wrap ? VRING_PACKED_DESC_F_AVAIL :
			VRING_PACKED_DESC_F_USED;
		cond->size = sizeof(uint16_t);
		cond->wake_on_match = 1;
	} else {
		/*
		 * avail->idx moves when the front-end posts a buffer: the
		 * line to watch. All 16 bits are compared, so even a whole
		 * ring's worth of new entries reads as "changed".
		 */
		cond->addr = &vq->avail->idx;
		cond->val = vq->last_avail_idx;
		cond->mask = UINT16_MAX;
		cond->size = sizeof(vq->avail->idx);
		cond->wake_on_match = 0;
	}
	rte_rcu_qsbr_thread_offline(dev->qsbr, vq_idx);
	return ret;
}

const char *
iovh_version(void)
{
	return "iovhost " IOVH_VERSION;
}
