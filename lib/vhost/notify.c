/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include <rte_atomic.h>

#include "vhost.h"

/**
 * Whether the front-end asked to be told about the used entries in
 * (old_idx, new_idx]: its used_event names the entry after which it wants
 * an interrupt (virtio 1.2, 2.7.10). Written in 16-bit modular arithmetic
 * so that index wrap-around needs no special case.
 */
static __rte_always_inline bool
need_event(uint16_t used_event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - used_event - 1) <
		(uint16_t)(new_idx - old_idx);
}

/**
 * Decide whether the front-end wants an interrupt for what was just
 * published, and send it. Called by the ring code after the store-release
 * of used->idx, and only when that store added entries.
 */
void
iovh_vq_notify(struct iovh_vq *vq)
{
	static const uint64_t one = 1;
	uint16_t new_idx, old_idx, used_event;
	bool old_valid, want;

	if (vq->callfd < 0)
		return;

	/*
	 * StoreLoad barrier. We just stored used->idx and are about to load
	 * used_event (or avail->flags); the front-end does the mirror image:
	 * it stores used_event (or clears NO_INTERRUPT), then loads used->idx
	 * to see whether anything arrived meanwhile, and sleeps if not.
	 * Without a full fence on our side, the CPU may satisfy our load
	 * before our store is visible (store buffering is allowed even on
	 * x86): we would read the old used_event and stay quiet, while the
	 * front-end reads the old used->idx and goes to sleep: a lost
	 * wake-up. A release/acquire pair does not order a store before a
	 * later load, so nothing weaker than SEQ_CST will do.
	 */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);

	if (vq->event_idx) {
		new_idx = vq->last_used_idx;
		old_idx = vq->signalled_used;
		old_valid = vq->signalled_used_valid;
		/*
		 * Remember what we have now decided about, notified or not:
		 * the next decision covers only entries added after this one,
		 * so an event index that lies in an earlier, skipped range
		 * does not trigger a late interrupt.
		 */
		vq->signalled_used = new_idx;
		vq->signalled_used_valid = 1;
		/* used_event lives just past the avail ring entries. */
		used_event = __atomic_load_n(&vq->avail->ring[vq->size],
				__ATOMIC_RELAXED);
		/* No decision on record (fresh ring): err on the side of an
		 * interrupt, a spurious one costs the front-end little. */
		want = !old_valid || need_event(used_event, new_idx, old_idx);
	} else {
		want = !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) &
				VRING_AVAIL_F_NO_INTERRUPT);
	}

	/*
	 * NOTIFY_ON_EMPTY (legacy) overrides suppression when we have run
	 * out of buffers. The avail index is re-read here, after the fence,
	 * so an entry added while we were busy counts as "not empty".
	 */
	if (!want && unlikely(iovh_has_feature(vq->dev,
				VIRTIO_F_NOTIFY_ON_EMPTY)))
		want = __atomic_load_n(&vq->avail->idx, __ATOMIC_RELAXED) ==
			vq->last_avail_idx;
	if (!want)
		return;

	/*
	 * eventfd_write() without the libc wrapper's error plumbing. The
	 * control thread made the fd non-blocking: EAGAIN means the counter
	 * is saturated, i.e. a wake-up is already pending, so nothing is
	 * lost by ignoring it. Any other error (a front-end that closed its
	 * end) is equally nothing a poll thread could act on.
	 */
	if (write(vq->callfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		IOVH_LOG_DATA(DEBUG, "vring %u: call fd write failed: %d",
			vq->index, errno);
	__atomic_store_n(&vq->stats.notifications,
			vq->stats.notifications + 1, __ATOMIC_RELAXED);
}
