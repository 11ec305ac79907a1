/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * Packed virtqueue data path (VIRTIO_F_RING_PACKED, virtio 1.2, 2.8).
 *
 * One ring of descriptors is shared: the driver makes a slot available by
 * storing its flags with AVAIL == its wrap counter and USED != it; the
 * device hands a buffer back by writing a descriptor (id, len) at its own
 * position and storing flags with AVAIL == USED == its wrap counter. The
 * device consumes in ring order, so its used position always trails its
 * avail position, and both are equal again at the end of every burst:
 * this back-end never keeps a buffer from one burst to the next.
 *
 * The rules of split_ring.c hold here too: every field the driver wrote
 * is read once into a local copy and only the copy is used; every guest
 * address goes through iovh_vq_translate() one contiguous piece at a time
 * (with an IOMMU: an IOVA, through the vq's IOTLB cache, with the access
 * checked); a chain that breaks a rule goes back to the driver unused
 * (len 0), counted in bad_desc. What cannot be handed back - a chain with
 * no end in sight, a buffer id outside the ring or already in flight -
 * marks the ring broken: it is left alone until set up again.
 *
 * Memory ordering, where the ring is touched:
 *  - A slot's flags are loaded with acquire before anything else of it,
 *    or of the descriptors that follow it in its chain, is read (the
 *    driver writes those first and the head's flags last, with a write
 *    barrier). The batch path loads four flags relaxed and then issues
 *    one acquire fence, which orders the same loads.
 *  - Used descriptors are written from vq->shadow_packed at the end of a
 *    burst: id and len of every entry, the flags of every entry but the
 *    first, then the first entry's flags with a store-release. A driver
 *    reads used entries in ring order, starting with that first one, so
 *    the release publishes the whole batch (and every byte copied into
 *    the buffers) at once.
 */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <rte_atomic.h>
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_debug.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_prefetch.h>

#include "mbuf_alloc.h"
#include "net_hdr.h"
#include "packed_ring.h"
#include "vhost.h"

#if RTE_BYTE_ORDER != RTE_LITTLE_ENDIAN
#error "packed_ring.c assumes a little-endian host (VERSION_1 rings are LE)"
#endif

/* As in split_ring.c: the largest TX packet, and the largest header. */
#define IOVH_TX_MAX_PKT (256u * 1024u)
#define IOVH_HDR_MAX sizeof(struct virtio_net_hdr_mrg_rxbuf)

/** Packets in a batch: four 16-byte descriptors are one cache line. */
#define BATCH 4

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

/** Add to a counter; see split_ring.c (single writer, no torn reads). */
static __rte_always_inline void
stat_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

/** Move a ring position @p n slots on, flipping its wrap counter. */
static __rte_always_inline void
pos_advance(const struct iovh_vq *vq, uint16_t *pos, uint8_t *wrap,
		uint16_t n)
{
	/* pos < size <= 32768 and n <= size: no 16-bit overflow. */
	*pos += n;
	if (*pos >= vq->size) {
		*pos -= vq->size;
		*wrap ^= 1;
	}
}

/** Whether @p flags make a slot available in the driver's lap @p wrap. */
static __rte_always_inline bool
desc_is_avail(uint16_t flags, uint8_t wrap)
{
	return !!(flags & VRING_PACKED_DESC_F_AVAIL) == wrap &&
		!!(flags & VRING_PACKED_DESC_F_USED) != wrap;
}

/** Flags of a used descriptor written in the device's lap @p wrap. */
static __rte_always_inline uint16_t
used_flags(uint8_t wrap, uint32_t len)
{
	uint16_t f = wrap ? (VRING_PACKED_DESC_F_AVAIL |
			VRING_PACKED_DESC_F_USED) : 0;

	/* WRITE says len is meaningful (2.8.4); a TX buffer has none. */
	return len != 0 ? f | VRING_DESC_F_WRITE : f;
}

/** Copy a descriptor out of guest memory once (any alignment). */
static __rte_always_inline void
desc_copy(const struct vring_packed_desc *p, struct vring_packed_desc *d)
{
	memcpy(d, p, sizeof(*d));
	/* From here on the compiler may not re-read guest memory for *d. */
	rte_compiler_barrier();
}

/** Claim buffer id @p id (< size) for this burst; false if in flight. */
static __rte_always_inline bool
id_claim(struct iovh_vq *vq, uint16_t id)
{
	uint64_t bit = 1ULL << (id & 63), *w = &vq->id_busy[id >> 6];

	if (unlikely(*w & bit))
		return false;
	*w |= bit;
	return true;
}

static __rte_always_inline void
id_release(struct iovh_vq *vq, uint16_t id)
{
	vq->id_busy[id >> 6] &= ~(1ULL << (id & 63));
}

/**
 * Claim the four ids of a batch (each < size), all or none. When the four
 * share one bitmap word (in-order drivers number them next to each other)
 * that is one load and one store, with a duplicate inside the batch caught
 * as a bit seen twice; otherwise one by one.
 */
static __rte_always_inline bool
id_claim_batch(struct iovh_vq *vq, const uint16_t *id)
{
	unsigned int w = id[0] >> 6, i, j;
	uint64_t bits = 0, dup = 0, b;

	if (likely(((id[1] >> 6) ^ w) + ((id[2] >> 6) ^ w) +
			((id[3] >> 6) ^ w) == 0)) {
		for (i = 0; i < BATCH; i++) {
			b = 1ULL << (id[i] & 63);
			dup |= bits & b;
			bits |= b;
		}
		if (unlikely((dup | (vq->id_busy[w] & bits)) != 0))
			return false;
		vq->id_busy[w] |= bits;
		return true;
	}
	for (i = 0; i < BATCH; i++) {
		if (!id_claim(vq, id[i])) {
			for (j = 0; j < i; j++)
				id_release(vq, id[j]);
			return false;
		}
	}
	return true;
}

/** Mask and expected value of a batch slot's flags in lap @p wrap. */
#define BATCH_FLAGS_MASK (VRING_PACKED_DESC_F_AVAIL | \
		VRING_PACKED_DESC_F_USED | VRING_DESC_F_NEXT | \
		VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE)
static __rte_always_inline uint16_t
batch_flags_want(uint8_t wrap)
{
	return wrap ? VRING_PACKED_DESC_F_AVAIL : VRING_PACKED_DESC_F_USED;
}

/**
 * Rate limit for the error lines of the data path, shared by every poll
 * thread: at most one line a second per kind. A race only costs a
 * duplicate line.
 */
static bool
log_allowed(uint64_t *next)
{
	uint64_t now = rte_get_tsc_cycles();

	if (now < __atomic_load_n(next, __ATOMIC_RELAXED))
		return false;
	__atomic_store_n(next, now + rte_get_tsc_hz(), __ATOMIC_RELAXED);
	return true;
}

/**
 * The ring holds something that cannot be handed back to the driver:
 * stop using it (until the control thread sets it up again) and say why.
 */
static __rte_noinline __rte_cold void
ring_broken(struct iovh_vq *vq, const char *why, uint32_t val)
{
	static uint64_t next_log;

	vq->broken = 1;
	stat_add(&vq->stats.bad_desc, 1);
	if (log_allowed(&next_log))
		IOVH_LOG_DATA(ERR,
			"vring %u (dev %p): packed ring slot %u: %s (%u); ring ignored until set up again",
			vq->index, (void *)vq->dev, vq->last_avail_idx, why,
			val);
}

/** A chain went back unused: count it, and say so now and then. */
static __rte_noinline __rte_cold void
bad_chain(struct iovh_vq *vq, uint16_t id)
{
	static uint64_t next_log;

	stat_add(&vq->stats.bad_desc, 1);
	if (log_allowed(&next_log))
		IOVH_LOG_DATA(WARNING,
			"vring %u (dev %p): packed ring buffer %u breaks a descriptor rule; returned unused",
			vq->index, (void *)vq->dev, id);
}

/* ------------------------------------------------------------------ */
/* Used descriptors                                                    */

/** Stage buffer @p id, @p count slots long; consume its slots. */
static __rte_always_inline void
used_push(struct iovh_vq *vq, uint16_t id, uint16_t count, uint32_t len)
{
	struct iovh_packed_used *u = &vq->shadow_packed[vq->shadow_count++];

	u->id = id;
	u->count = count;
	u->len = len;
	pos_advance(vq, &vq->last_avail_idx, &vq->avail_wrap, count);
}

/**
 * Stage the four one-slot buffers of a batch starting at @p pos; the
 * caller checked pos + BATCH <= size (batch_fits()).
 */
static __rte_always_inline void
used_push_batch(struct iovh_vq *vq, uint16_t pos, const uint16_t *id,
		const uint32_t *len)
{
	struct iovh_packed_used *u = &vq->shadow_packed[vq->shadow_count];
	unsigned int i;

	for (i = 0; i < BATCH; i++) {
		u[i].id = id[i];
		u[i].count = 1;
		u[i].len = len[i];
	}
	vq->shadow_count += BATCH;
	pos += BATCH;
	if (pos == vq->size) {
		pos = 0;
		vq->avail_wrap ^= 1;
	}
	vq->last_avail_idx = pos;
}

/** Take back every entry staged from @p n on; avail back to @p pos. */
static __rte_always_inline void
used_rollback(struct iovh_vq *vq, uint16_t n, uint16_t pos, uint8_t wrap)
{
	uint16_t i;

	for (i = n; i < vq->shadow_count; i++)
		id_release(vq, vq->shadow_packed[i].id);
	vq->shadow_count = n;
	vq->last_avail_idx = pos;
	vq->avail_wrap = wrap;
}

/** Mark slots [from, from + n) of the descriptor ring dirty. */
static __rte_always_inline void
log_slots(struct iovh_vq *vq, uint16_t from, uint32_t n)
{
	const uint64_t dsz = sizeof(struct vring_packed_desc);
	uint32_t first = RTE_MIN(n, (uint32_t)(vq->size - from));

	iovh_log_used(vq, from * dsz, first * dsz);
	if (n > first)
		iovh_log_used(vq, 0, (n - first) * dsz);
}

/**
 * Write the staged entries into the ring and hand them over (see the
 * ordering notes at the top). With @p coalesce (IN_ORDER, every len 0)
 * one descriptor stands for the whole batch: it carries the last buffer's
 * id and the device skips the slots of all of them (2.8.19).
 *
 * @return slots handed back.
 */
static __rte_always_inline uint32_t
used_write(struct iovh_vq *vq, bool coalesce)
{
	struct vring_packed_desc *ring = vq->desc_packed;
	const struct iovh_packed_used *u = vq->shadow_packed;
	uint64_t *busy = vq->id_busy;
	/* Locals: the ring stores below may alias any 16/32-bit vq field
	 * for the compiler, which would re-read them every entry. */
	const uint16_t n = vq->shadow_count, size = vq->size;
	uint16_t pos, head, i, id, fl;
	uint32_t slots, len;
	uint16_t head_flags;
	uint8_t wrap;

	if (n == 0)
		return 0;
	head = pos = vq->last_used_idx;
	wrap = vq->used_wrap;
	/*
	 * Every id in flight is staged here (whoever claims one either
	 * stages or releases it before the burst goes on), and all of them
	 * go back now: clearing the words they fall in releases exactly
	 * the ids in flight, with a store and no load per entry.
	 */
	if (n >= (size >> 6)) {
		/* No more stores than entries: the whole bitmap. */
		memset(busy, 0, ((size + 63u) >> 6) * sizeof(*busy));
	} else {
		for (i = 0; i < n; i++)
			busy[u[i].id >> 6] = 0;
	}
	/*
	 * The staged slots are those between used and avail: avail moved
	 * on by exactly them (the two are equal between bursts), at most a
	 * lap, and a whole lap shows as equal positions in different laps.
	 */
	slots = (uint16_t)(vq->last_avail_idx - pos);
	if (vq->avail_wrap != wrap)
		slots = (uint32_t)vq->last_avail_idx + size - pos;
	if (coalesce) {
		ring[head].id = u[n - 1].id;
		ring[head].len = 0;
		head_flags = used_flags(wrap, 0);
		/* A burst takes at most a lap: slots <= size. */
		pos += (uint16_t)slots;
		if (pos >= size) {
			pos -= size;
			wrap ^= 1;
		}
	} else {
		head_flags = used_flags(wrap, u[0].len);
		ring[head].id = u[0].id;
		ring[head].len = u[0].len;
		/* used_flags(wrap, 0), kept up to date as wrap flips. */
		fl = used_flags(wrap, 0);
		for (i = 1; i < n; i++) {
			pos += u[i - 1].count;
			if (pos >= size) {
				pos -= size;
				wrap ^= 1;
				fl ^= VRING_PACKED_DESC_F_AVAIL |
					VRING_PACKED_DESC_F_USED;
			}
			id = u[i].id;
			len = u[i].len;
			ring[pos].id = id;
			ring[pos].len = len;
			/* Relaxed: published by the head's release below. */
			__atomic_store_n(&ring[pos].flags,
					fl | (len != 0 ? VRING_DESC_F_WRITE : 0),
					__ATOMIC_RELAXED);
		}
		pos += u[n - 1].count;
		if (pos >= size) {
			pos -= size;
			wrap ^= 1;
		}
	}
	/*
	 * Release: every id/len/flags above, and every byte copied into the
	 * buffers, is visible before the driver can see the first entry
	 * used. Pairs with the driver's read barrier after its flags load.
	 */
	__atomic_store_n(&ring[head].flags, head_flags, __ATOMIC_RELEASE);
	vq->last_used_idx = pos;
	vq->used_wrap = wrap;
	vq->shadow_count = 0;
	if (unlikely(vq->log_used))
		log_slots(vq, head, RTE_MIN(slots, (uint32_t)vq->size));
	return slots;
}

/** Whether an event at @p ev falls in (old, new]; 16-bit modular. */
static __rte_always_inline bool
need_event(uint16_t ev, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - ev - 1) < (uint16_t)(new_idx - old_idx);
}

/**
 * End of a burst that handed @p slots slots back from position @p old
 * (lap @p old_wrap): interrupt the driver if its event suppression area
 * asks for it (2.8.10), once for the whole burst.
 */
static __rte_noinline void
packed_notify(struct iovh_vq *vq, uint16_t old, uint8_t old_wrap,
		uint32_t slots)
{
	static const uint64_t one = 1;
	uint16_t flags, off_wrap, off, new_idx = vq->last_used_idx;
	bool want = true;

	if (vq->callfd < 0 || slots == 0)
		return;
	/*
	 * StoreLoad, as in notify.c: the used flags just stored must be
	 * visible before the driver's event area is read, or the driver
	 * (which stores its event area, fences, then re-reads the ring)
	 * and we could both miss each other's store: a lost interrupt.
	 */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	/* Acquire: the driver writes off_wrap before the flags naming it. */
	flags = __atomic_load_n(&vq->driver_event->flags, __ATOMIC_ACQUIRE);
	if (flags == VRING_PACKED_EVENT_FLAG_DISABLE)
		return;
	if (flags == VRING_PACKED_EVENT_FLAG_DESC && vq->event_idx &&
			slots < vq->size) {
		off_wrap = __atomic_load_n(&vq->driver_event->off_wrap,
				__ATOMIC_RELAXED);
		off = off_wrap & 0x7fff;
		/*
		 * Unfold the ring into a line: the burst covers (old, new]
		 * where old is taken one ring back if the burst crossed the
		 * end; an event in the previous lap is one ring back too.
		 */
		if (old_wrap != vq->used_wrap)
			old -= vq->size;
		if ((off_wrap >> VRING_PACKED_EVENT_F_WRAP_CTR) !=
				vq->used_wrap)
			off -= vq->size;
		want = need_event(off, new_idx, old);
	}
	if (!want)
		return;
	/* Non-blocking eventfd; EAGAIN means a wake-up is pending anyway. */
	if (write(vq->callfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		IOVH_LOG_DATA(DEBUG, "vring %u: call fd write failed: %d",
			vq->index, errno);
	stat_add(&vq->stats.notifications, 1);
}

void
iovh_packed_kick_update(struct iovh_vq *vq)
{
	struct vring_packed_desc_event *ev = vq->device_event;
	uint16_t flags, off_wrap = 0;
	uint32_t v;

	if (vq->notify_off) {
		flags = VRING_PACKED_EVENT_FLAG_DISABLE;
	} else if (vq->event_idx) {
		/* Kick when the slot we wait at becomes available. */
		flags = VRING_PACKED_EVENT_FLAG_DESC;
		off_wrap = vq->last_avail_idx |
			(uint16_t)(vq->avail_wrap << VRING_PACKED_EVENT_F_WRAP_CTR);
	} else {
		flags = VRING_PACKED_EVENT_FLAG_ENABLE;
	}
	v = (uint32_t)flags << 16 | off_wrap;
	/* Re-storing an unchanged value would only dirty a shared line. */
	if (v == vq->dev_event_last)
		return;
	vq->dev_event_last = v;
	__atomic_store_n(&ev->off_wrap, off_wrap, __ATOMIC_RELAXED);
	/* Release: off_wrap is in place before the flags that give it
	 * meaning (a driver loads flags, then off_wrap). */
	__atomic_store_n(&ev->flags, flags, __ATOMIC_RELEASE);
	/*
	 * StoreLoad, as avail_event_update() in split_ring.c: our next look
	 * at the ring must not be satisfied before this store is visible;
	 * the driver makes a slot available, fences, then reads this area.
	 * One of us sees the other's store: no buffer is left unkicked.
	 */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (unlikely(vq->log_used))
		iovh_log_write(vq->dev, vq->log_event_gpa, sizeof(*ev));
}

/* ------------------------------------------------------------------ */
/* Chains                                                              */

enum {
	CHAIN_MISS = -2,	/**< An IOTLB miss: retry once it is answered. */
	CHAIN_BAD = -1,		/**< The chain breaks a rule. */
	CHAIN_END = 0,		/**< No more descriptors. */
	CHAIN_DESC = 1,		/**< A data descriptor was returned. */
};

/** Outcome of chain_take(). */
enum {
	TAKE_OK,	/**< A chain is at last_avail_idx (id claimed). */
	TAKE_NONE,	/**< The slot is not available. */
	TAKE_BROKEN,	/**< The ring is now marked broken. */
};

/**
 * Look at the slot at last_avail_idx: whether the driver made it
 * available, and if so how many slots its chain takes and its buffer id
 * (in the chain's last descriptor, 2.8.6). The extent is decided here,
 * from the NEXT flags, once: the content walk later follows it and
 * ignores NEXT, so a driver rewriting flags meanwhile changes nothing.
 */
static __rte_always_inline int
chain_take(struct iovh_vq *vq, uint16_t *head_flags, uint16_t *count,
		uint16_t *id)
{
	const struct vring_packed_desc *ring = vq->desc_packed;
	uint32_t limit = RTE_MIN((uint32_t)vq->size, (uint32_t)IOVH_MAX_CHAIN);
	uint16_t pos = vq->last_avail_idx, flags, f, n = 1;

	/*
	 * Acquire: pairs with the driver's write barrier before it stores
	 * the head's flags; everything of the chain is read after this.
	 */
	flags = __atomic_load_n(&ring[pos].flags, __ATOMIC_ACQUIRE);
	if (!desc_is_avail(flags, vq->avail_wrap))
		return TAKE_NONE;
	f = flags;
	while (f & VRING_DESC_F_NEXT) {
		if (unlikely(n >= limit)) {
			ring_broken(vq, "chain without an end", n);
			return TAKE_BROKEN;
		}
		if (++pos == vq->size)
			pos = 0;
		/* Relaxed: ordered after the head's acquire. */
		f = __atomic_load_n(&ring[pos].flags, __ATOMIC_RELAXED);
		n++;
	}
	*id = __atomic_load_n(&ring[pos].id, __ATOMIC_RELAXED);
	/* Every driver numbers buffers below the ring size; an id that is
	 * not, or is still in flight, cannot be given back meaningfully. */
	if (unlikely(*id >= vq->size)) {
		ring_broken(vq, "buffer id out of range", *id);
		return TAKE_BROKEN;
	}
	if (unlikely(!id_claim(vq, *id))) {
		ring_broken(vq, "buffer id already in flight", *id);
		return TAKE_BROKEN;
	}
	*head_flags = flags;
	*count = n;
	return TAKE_OK;
}

/** A walk over the content of one chain (ring slots, or one table). */
struct pchain {
	const struct vring_packed_desc *table;	/**< Indirect table, mapped. */
	uint64_t table_addr;	/**< Indirect table, read per entry if !table. */
	uint32_t nent;		/**< Entries in the table. */
	uint32_t tidx;		/**< Next table entry. */
	uint16_t pos;		/**< Next ring slot. */
	uint16_t left;		/**< Ring slots still to read. */
	uint16_t count;		/**< Ring slots of the chain. */
	uint16_t head_flags;	/**< As loaded by chain_take(). */
	bool indirect;		/**< Inside the table. */
};

static __rte_always_inline void
pchain_start(struct pchain *c, const struct iovh_vq *vq, uint16_t head_flags,
		uint16_t count)
{
	c->pos = vq->last_avail_idx;
	c->left = count;
	c->count = count;
	c->head_flags = head_flags;
	c->indirect = false;
}

/**
 * Switch to the indirect table @p d refers to. Rules (2.8.7): the chain
 * is that one descriptor (no NEXT), the table is a whole, non-zero number
 * of entries, no longer than any chain may be.
 */
static __rte_noinline int
pchain_enter_indirect(struct pchain *c, struct iovh_dev *dev,
		struct iovh_vq *vq, const struct vring_packed_desc *d)
{
	uint64_t len = d->len, hva, gpa;

	if (unlikely(c->count != 1 || (d->flags & VRING_DESC_F_NEXT) ||
			len == 0 || (len % sizeof(*d)) != 0 ||
			len / sizeof(*d) > IOVH_MAX_CHAIN ||
			d->addr + len < d->addr))
		return CHAIN_BAD;
	hva = iovh_vq_translate(dev, vq, d->addr, &len, VHU_ACCESS_RO, &gpa);
	if (unlikely(hva == 0))
		return vq->xlate_miss ? CHAIN_MISS : CHAIN_BAD;
	if (likely(len == d->len)) {
		c->table = (const struct vring_packed_desc *)(uintptr_t)hva;
		rte_prefetch0(c->table);
	} else {
		/* Spans two regions or IOTLB entries: entry by entry. */
		c->table = NULL;
		c->table_addr = d->addr;
	}
	c->nent = d->len / sizeof(*d);
	c->tidx = 0;
	c->indirect = true;
	return 0;
}

/**
 * Next data descriptor of the chain into @p d. Checks what applies to
 * both directions: table rules, no nested table, address + len does not
 * wrap. The caller checks WRITE and translates.
 */
static __rte_always_inline int
pchain_next(struct pchain *c, struct iovh_dev *dev, struct iovh_vq *vq,
		struct vring_packed_desc *d)
{
	const struct vring_packed_desc *p;
	uint64_t len, hva, gpa;
	int r;

	if (!c->indirect) {
		if (c->left == 0)
			return CHAIN_END;
		p = &vq->desc_packed[c->pos];
		if (c->left == c->count) {
			/* The head's flags were loaded once, with acquire:
			 * the rest of it is read after them, not again. */
			memcpy(d, p, offsetof(struct vring_packed_desc, flags));
			rte_compiler_barrier();
			d->flags = c->head_flags;
		} else {
			desc_copy(p, d);
		}
		c->left--;
		if (++c->pos == vq->size)
			c->pos = 0;
		if (likely(!(d->flags & VRING_DESC_F_INDIRECT)))
			goto check;
		r = pchain_enter_indirect(c, dev, vq, d);
		if (r < 0)
			return r;
	}
	if (c->tidx >= c->nent)
		return CHAIN_END;
	if (likely(c->table != NULL)) {
		p = &c->table[c->tidx];
	} else {
		len = sizeof(*p);
		hva = iovh_vq_translate(dev, vq, c->table_addr +
				(uint64_t)c->tidx * sizeof(*p), &len,
				VHU_ACCESS_RO, &gpa);
		if (unlikely(hva == 0))
			return vq->xlate_miss ? CHAIN_MISS : CHAIN_BAD;
		/* An entry astride a boundary: not worth it. */
		if (unlikely(len < sizeof(*p)))
			return CHAIN_BAD;
		p = (const struct vring_packed_desc *)(uintptr_t)hva;
	}
	desc_copy(p, d);
	c->tidx++;
	/* In a table only WRITE means something; a nested table is out. */
	if (unlikely(d->flags & VRING_DESC_F_INDIRECT))
		return CHAIN_BAD;
check:
	if (unlikely(d->addr + d->len < d->addr))
		return CHAIN_BAD;
	return CHAIN_DESC;
}

/* ------------------------------------------------------------------ */
/* Enqueue (mbufs -> driver RX ring)                                   */

/** What is left of the packet being placed (as in split_ring.c). */
struct rx_src {
	struct rte_mbuf *seg;
	uint32_t seg_off;
	uint32_t hdr_left;
	uint32_t left;
};

/** Where the header went: written last, when num_buffers is known. */
struct rx_hdr_loc {
	struct {
		uint8_t *dst;
		uint64_t gpa;
		uint32_t len;
	} p[IOVH_HDR_MAX];
	uint32_t n;
};

/** Fill one translated piece: header room first, then packet bytes. */
static __rte_always_inline void
rx_copy(struct iovh_dev *dev, struct rx_src *s, struct rx_hdr_loc *h,
		uint8_t *dst, uint64_t gpa, uint32_t len)
{
	uint64_t log_gpa;
	uint32_t n, log_len;

	if (s->hdr_left > 0) {
		n = RTE_MIN(len, s->hdr_left);
		RTE_ASSERT(h->n < RTE_DIM(h->p));
		h->p[h->n].dst = dst;
		h->p[h->n].gpa = gpa;
		h->p[h->n].len = n;
		h->n++;
		s->hdr_left -= n;
		s->left -= n;
		dst += n;
		gpa += n;
		len -= n;
		if (len == 0)
			return;
	}
	log_gpa = gpa;
	log_len = len;
	s->left -= len;
	while (len > 0) {
		while (s->seg_off == s->seg->data_len) {
			s->seg = s->seg->next;
			s->seg_off = 0;
			RTE_ASSERT(s->seg != NULL);
		}
		n = RTE_MIN(len, (uint32_t)(s->seg->data_len - s->seg_off));
		rte_memcpy(dst, rte_pktmbuf_mtod_offset(s->seg, const uint8_t *,
				s->seg_off), n);
		s->seg_off += n;
		dst += n;
		len -= n;
	}
	/* After the copy: a page sent before our bytes land is marked again. */
	iovh_log_write(dev, log_gpa, log_len);
}

/**
 * Place as much of the packet as fits into the chain at last_avail_idx.
 * Only the descriptors used are translated and checked for WRITE.
 *
 * @return bytes written (header included), -1 bad chain, -2 IOTLB miss.
 */
static __rte_always_inline int64_t
rx_fill_chain(struct iovh_dev *dev, struct iovh_vq *vq, uint16_t head_flags,
		uint16_t count, struct rx_src *s, struct rx_hdr_loc *h)
{
	struct vring_packed_desc d;
	struct pchain c;
	uint64_t addr, gpa, len, plen, hva;
	uint32_t written = 0;
	int r;

	pchain_start(&c, vq, head_flags, count);
	while (s->left > 0) {
		r = pchain_next(&c, dev, vq, &d);
		if (r == CHAIN_END)
			break;
		if (unlikely(r == CHAIN_MISS))
			return -2;
		if (unlikely(r == CHAIN_BAD || !(d.flags & VRING_DESC_F_WRITE)))
			return -1;
		addr = d.addr;
		len = d.len;
		while (len > 0 && s->left > 0) {
			plen = RTE_MIN(len, (uint64_t)s->left);
			hva = iovh_vq_translate(dev, vq, addr, &plen,
					VHU_ACCESS_WO, &gpa);
			if (unlikely(hva == 0))
				return vq->xlate_miss ? -2 : -1;
			rx_copy(dev, s, h, (uint8_t *)(uintptr_t)hva, gpa,
					(uint32_t)plen);
			addr += plen;
			len -= plen;
			written += plen;
		}
	}
	return written;
}

/** Outcome of rx_packet(). */
enum {
	RX_DONE,	/**< Delivered. */
	RX_DROPPED,	/**< Consumed but not delivered (cannot fit). */
	RX_NO_ROOM,	/**< Not enough buffers now; nothing consumed. */
	RX_MISS,	/**< An IOTLB miss; nothing consumed. */
	RX_FULL,	/**< Staging area full; publish, then try again. */
	RX_BROKEN,	/**< The ring was marked broken. */
};

/**
 * Place one packet over one buffer, or with MRG_RXBUF over as many as it
 * takes. Same policy as split_ring.c's rx_packet(): a packet that does
 * not fit one buffer without MRG_RXBUF is dropped and the buffer stays;
 * a bad buffer goes back with len 0 together with what the packet had
 * filled (a mergeable packet's buffers must be consecutive) and the
 * packet starts over; a packet that needs more than is posted waits,
 * unless it already took the whole ring (it can never fit: dropped).
 */
static __rte_always_inline int
rx_packet(struct iovh_dev *dev, struct iovh_vq *vq, struct rte_mbuf *m)
{
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct rx_hdr_loc h;
	struct rx_src s;
	uint16_t start_pos, start_n, nbufs, flags, count, id, i;
	uint32_t ndesc, off;
	uint8_t start_wrap;
	int64_t w;
	int r, ol_bad;

	/* Idempotent (checksums are recomputed): a retried packet redoes it. */
	ol_bad = iovh_net_hdr_from_mbuf(&hdr.hdr, m, vq->ol);
restart:
	s.seg = m;
	s.seg_off = 0;
	s.hdr_left = vq->hdr_len;
	s.left = vq->hdr_len + m->pkt_len;
	h.n = 0;
	nbufs = 0;
	ndesc = 0;
	start_pos = vq->last_avail_idx;
	start_wrap = vq->avail_wrap;
	start_n = vq->shadow_count;
	do {
		if (unlikely(vq->shadow_count == IOVH_SHADOW_USED)) {
			used_rollback(vq, start_n, start_pos, start_wrap);
			return start_n > 0 ? RX_FULL : RX_DROPPED;
		}
		r = chain_take(vq, &flags, &count, &id);
		if (r != TAKE_OK) {
			used_rollback(vq, start_n, start_pos, start_wrap);
			if (unlikely(r == TAKE_BROKEN))
				return RX_BROKEN;
			/* Back at our own first slot: the whole ring. */
			if (nbufs > 0 && ndesc >= vq->size)
				return RX_DROPPED;
			return RX_NO_ROOM;
		}
		w = rx_fill_chain(dev, vq, flags, count, &s, &h);
		if (unlikely(w == -2)) {
			/* Bytes may have been copied: harmless, no flags
			 * tell the driver about them. */
			id_release(vq, id);
			used_rollback(vq, start_n, start_pos, start_wrap);
			return RX_MISS;
		}
		if (unlikely(w < 0 || s.hdr_left > 0 ||
				(w == 0 && nbufs > 0))) {
			for (i = start_n; i < vq->shadow_count; i++)
				vq->shadow_packed[i].len = 0;
			used_push(vq, id, count, 0);
			bad_chain(vq, id);
			goto restart;
		}
		if (!vq->mrg_rxbuf && s.left > 0) {
			/* Too small for this packet; left for the next. */
			id_release(vq, id);
			return RX_DROPPED;
		}
		used_push(vq, id, count, (uint32_t)w);
		ndesc += count;
		nbufs++;
	} while (s.left > 0);

	/* Header last: now num_buffers is known. Logged like the data. */
	hdr.num_buffers = nbufs;
	/* Nearly always the whole header sits in one piece. */
	if (likely(h.n == 1 && h.p[0].len == sizeof(hdr))) {
		memcpy(h.p[0].dst, &hdr, sizeof(hdr));
		iovh_log_write(dev, h.p[0].gpa, sizeof(hdr));
		h.n = 0;
	}
	for (i = 0, off = 0; i < h.n; off += h.p[i].len, i++) {
		iovh_net_hdr_copy(h.p[i].dst, (const uint8_t *)&hdr + off,
				h.p[i].len);
		iovh_log_write(dev, h.p[i].gpa, h.p[i].len);
	}
	if (unlikely(ol_bad != 0))
		stat_add(&vq->stats.ol_errors, 1);
	return RX_DONE;
}

/**
 * Fast path: four single-segment packets into the four single-descriptor
 * buffers of one cache line of the ring, each big enough and each one
 * contiguous piece of guest memory. Anything else, and nothing is
 * consumed: the caller takes the packets one by one.
 *
 * @return 0 when the four were placed.
 */
static __rte_always_inline int
rx_batch(struct iovh_dev *dev, struct iovh_vq *vq, struct rte_mbuf **pkts,
		uint64_t *bytes)
{
	/* Locals: the copies below store through uint8_t pointers, which
	 * would make the compiler re-read every vq field after them. */
	const uint16_t pos = vq->last_avail_idx, size = vq->size;
	const uint16_t want = batch_flags_want(vq->avail_wrap) |
		VRING_DESC_F_WRITE;
	const uint32_t hdr_len = vq->hdr_len;
	const uint16_t ol = vq->ol;
	const struct vring_packed_desc *ring = &vq->desc_packed[pos];
	struct virtio_net_hdr_mrg_rxbuf hdr;
	uint64_t hva[BATCH], gpa[BATCH], addr[BATCH], len;
	uint32_t need[BATCH], dlen[BATCH];
	uint16_t id[BATCH];
	unsigned int i, bad = 0;
	uint64_t sum = 0;

	/* One relaxed load per slot; any slot off the fast path shows as a
	 * non-zero bit: not available, chained, indirect, not writable, or
	 * a multi-segment packet. */
	for (i = 0; i < BATCH; i++)
		bad |= ((__atomic_load_n(&ring[i].flags, __ATOMIC_RELAXED) &
				BATCH_FLAGS_MASK) ^ want) |
			(pkts[i]->nb_segs ^ 1);
	if (bad != 0)
		return -1;
	/*
	 * Acquire fence: the four relaxed flag loads above are ordered
	 * before every load below, as four load-acquires would be.
	 */
	rte_atomic_thread_fence(__ATOMIC_ACQUIRE);
	for (i = 0; i < BATCH; i++) {
		/* Each field read once; only the copies are used. */
		addr[i] = ring[i].addr;
		dlen[i] = ring[i].len;
		id[i] = ring[i].id;
	}
	rte_compiler_barrier();
	for (i = 0; i < BATCH; i++) {
		need[i] = hdr_len + pkts[i]->pkt_len;
		bad |= (id[i] >= size) | (dlen[i] < need[i]);
	}
	if (bad != 0)
		return -1;
	for (i = 0; i < BATCH; i++) {
		len = need[i];
		hva[i] = iovh_vq_translate(dev, vq, addr[i], &len,
				VHU_ACCESS_WO, &gpa[i]);
		if (hva[i] == 0 || len != need[i])
			return -1;
	}
	if (unlikely(!id_claim_batch(vq, id)))
		return -1;
	hdr.num_buffers = 1;
	for (i = 0; i < BATCH; i++) {
		uint8_t *dst = (uint8_t *)(uintptr_t)hva[i];

		if (unlikely(iovh_net_hdr_from_mbuf(&hdr.hdr, pkts[i], ol) != 0))
			stat_add(&vq->stats.ol_errors, 1);
		iovh_net_hdr_copy(dst, &hdr, hdr_len);
		rte_memcpy(dst + hdr_len, rte_pktmbuf_mtod(pkts[i], const void *),
				pkts[i]->pkt_len);
		sum += pkts[i]->pkt_len;
		iovh_log_write(dev, gpa[i], need[i]);
	}
	used_push_batch(vq, pos, id, need);
	*bytes += sum;
	return 0;
}

/** Whether a batch may start at last_avail_idx: a whole cache line. */
static __rte_always_inline bool
batch_fits(const struct iovh_vq *vq, uint16_t todo)
{
	return todo >= BATCH && (vq->last_avail_idx & (BATCH - 1)) == 0 &&
		vq->last_avail_idx + BATCH <= vq->size &&
		vq->shadow_count + BATCH <= IOVH_SHADOW_USED;
}

/*
 * After a miss: the chains the driver made available from last_avail_idx
 * on (the blocked one included) have every unmapped page of their buffers
 * asked for now (see iotlb_poll.c). Read-only and bounded like the split
 * walk: a chain is available when its head is (as in chain_take()), each
 * descriptor is copied once, at most IOVH_LOOKAHEAD_DESCS in all.
 */
void __rte_cold
iovh_packed_lookahead(struct iovh_dev *dev, struct iovh_vq *vq, uint8_t perm)
{
	const struct vring_packed_desc *ring = vq->desc_packed;
	uint32_t chains = IOVH_LOOKAHEAD_CHAINS, descs = IOVH_LOOKAHEAD_DESCS;
	uint32_t slots = vq->size, nent, t;
	uint16_t pos = vq->last_avail_idx, flags;
	const struct vring_packed_desc *table;
	uint8_t wrap = vq->avail_wrap;
	struct iovh_lookahead la;
	struct vring_packed_desc d;
	uint64_t hva;
	bool head = true;

	if (!iovh_lookahead_begin(dev, vq, &la))
		return;
	/* Never more than one lap: slots counts what was looked at. */
	while (chains > 0 && slots > 0 && descs > 0) {
		if (head) {
			/* Acquire: pairs with the driver's barrier before
			 * the head's flags, as in chain_take(). */
			flags = __atomic_load_n(&ring[pos].flags,
					__ATOMIC_ACQUIRE);
			if (!desc_is_avail(flags, wrap))
				return;
		}
		desc_copy(&ring[pos], &d);
		pos_advance(vq, &pos, &wrap, 1);
		slots--;
		descs--;
		head = !(d.flags & VRING_DESC_F_NEXT);
		if (head)
			chains--;
		if (!(d.flags & VRING_DESC_F_INDIRECT)) {
			if (!iovh_lookahead_buf(dev, vq, &la, d.addr, d.len,
					perm))
				return;
			continue;
		}
		if (d.len == 0 || d.len % sizeof(d) != 0 ||
				d.len / sizeof(d) > IOVH_MAX_CHAIN)
			continue;
		hva = iovh_lookahead_table(dev, vq, &la, d.addr, d.len);
		if (hva == 0)
			continue;
		table = (const struct vring_packed_desc *)(uintptr_t)hva;
		nent = d.len / sizeof(d);
		for (t = 0; t < nent && descs > 0; t++, descs--) {
			desc_copy(&table[t], &d);
			if (!iovh_lookahead_buf(dev, vq, &la, d.addr, d.len,
					perm))
				return;
		}
	}
}

uint16_t
iovh_packed_enqueue(struct iovh_dev *dev, struct iovh_vq *vq,
		struct rte_mbuf **pkts, uint16_t count)
{
	uint16_t old = vq->last_used_idx, i = 0;
	uint64_t bytes = 0, sent = 0, dropped = 0;
	uint8_t old_wrap = vq->used_wrap;
	uint32_t slots = 0;
	int r;

	if (unlikely(vq->broken))
		return 0;
	vq->rx_missed = 0;
	rte_prefetch0(&vq->desc_packed[vq->last_avail_idx]);
	while (i < count) {
		if (batch_fits(vq, count - i) &&
				rx_batch(dev, vq, pkts + i, &bytes) == 0) {
			sent += BATCH;
			i += BATCH;
			continue;
		}
		r = rx_packet(dev, vq, pkts[i]);
		if (unlikely(r == RX_FULL)) {
			slots += used_write(vq, false);
			continue;
		}
		if (r == RX_NO_ROOM || unlikely(r == RX_BROKEN))
			break;
		if (unlikely(r == RX_MISS)) {
			vq->rx_missed = 1;
			iovh_packed_lookahead(dev, vq, VHU_ACCESS_WO);
			break;
		}
		if (likely(r == RX_DONE)) {
			sent++;
			bytes += pkts[i]->pkt_len;
		} else {
			dropped++;
		}
		i++;
	}
	slots += used_write(vq, false);
	packed_notify(vq, old, old_wrap, slots);

	stat_add(&vq->stats.packets, sent);
	stat_add(&vq->stats.bytes, bytes);
	if (unlikely(dropped != 0))
		stat_add(&vq->stats.dropped, dropped);
	return i;
}

/* ------------------------------------------------------------------ */
/* Dequeue (driver TX ring -> mbufs)                                   */

enum {
	TX_OK,		/**< A packet is in the mbuf. */
	TX_BAD,		/**< Bad chain; mbuf to be reused. */
	TX_NOMEM,	/**< Out of mbufs; chain left in the ring. */
	TX_MISS,	/**< An IOTLB miss; chain left in the ring. */
	TX_TOOBIG,	/**< Cannot be linear (linear-buffer); dropped. */
};

/**
 * Bytes the rest of a chain holds: @p left of the current descriptor plus
 * the descriptors after it, read from a copy of the walk. Only a size hint
 * (the copy checks room itself): the front-end may change the descriptors.
 */
static uint64_t
pchain_rest_len(struct iovh_dev *dev, struct iovh_vq *vq,
		const struct pchain *c, uint64_t left)
{
	struct pchain w = *c;
	struct vring_packed_desc d;

	while (left <= IOVH_TX_MAX_PKT &&
			pchain_next(&w, dev, vq, &d) == CHAIN_DESC)
		left += d.len;
	return left;
}

/**
 * The packet being copied into @p m filled the segment @p *seg: make room
 * the way the device was configured (iovh_mbuf_grow(), shared with
 * split_ring.c). The whole size is worked out only for an external buffer.
 */
static __rte_noinline int
tx_grow(struct iovh_dev *dev, struct iovh_vq *vq, const struct pchain *c,
		uint64_t left, struct rte_mbuf *m, struct rte_mbuf **seg,
		struct rte_mempool *mp)
{
	uint64_t need = 0;

	if ((vq->ol & IOVH_OL_EXTBUF) && *seg == m && !RTE_MBUF_HAS_EXTBUF(m))
		need = m->data_len + pchain_rest_len(dev, vq, c, left);
	switch (iovh_mbuf_grow(m, seg, mp, vq->ol, need)) {
	case 0:
		return TX_OK;
	case IOVH_GROW_TOOBIG:
		return TX_TOOBIG;
	default:
		return TX_NOMEM;
	}
}

/**
 * Copy the chain at last_avail_idx into @p m: the first hdr_len bytes are
 * the virtio-net header, wherever they sit; more mbufs are chained from
 * @p mp as needed.
 */
static __rte_always_inline int
tx_packet(struct iovh_dev *dev, struct iovh_vq *vq, uint16_t head_flags,
		uint16_t count, struct rte_mbuf *m, struct rte_mempool *mp)
{
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct rte_mbuf *seg = m;
	struct vring_packed_desc d;
	struct pchain c;
	const uint8_t *src;
	uint64_t addr, gpa, len, plen, hva, chain_len = 0;
	uint32_t hdr_left = vq->hdr_len, n, room;
	int r;

	pchain_start(&c, vq, head_flags, count);
	for (;;) {
		r = pchain_next(&c, dev, vq, &d);
		if (r == CHAIN_END)
			break;
		if (unlikely(r == CHAIN_MISS))
			return TX_MISS;
		/*
		 * The device must not be asked to write into a TX chain. In
		 * an indirect table WRITE is let through: DPDK's virtio PMD
		 * (22.11) presets it on every entry of its packed TX tables
		 * and leaves it on the header's. Reading a device-writable
		 * buffer is only a SHOULD NOT (2.8.4), and nothing is written.
		 */
		if (unlikely(r == CHAIN_BAD || ((d.flags & VRING_DESC_F_WRITE) &&
				!c.indirect)))
			return TX_BAD;
		/* At most 2 * IOVH_MAX_CHAIN 32-bit lengths: no overflow. */
		chain_len += d.len;
		if (unlikely(chain_len > vq->hdr_len + IOVH_TX_MAX_PKT))
			return TX_BAD;
		addr = d.addr;
		len = d.len;
		while (len > 0) {
			plen = len;
			hva = iovh_vq_translate(dev, vq, addr, &plen,
					VHU_ACCESS_RO, &gpa);
			if (unlikely(hva == 0))
				return vq->xlate_miss ? TX_MISS : TX_BAD;
			addr += plen;
			len -= plen;
			src = (const uint8_t *)(uintptr_t)hva;
			if (unlikely(hdr_left > 0)) {
				n = RTE_MIN((uint32_t)plen, hdr_left);
				iovh_net_hdr_copy((uint8_t *)&hdr +
						(vq->hdr_len - hdr_left),
						src, n);
				hdr_left -= n;
				src += n;
				plen -= n;
			}
			while (plen > 0) {
				room = rte_pktmbuf_tailroom(seg);
				if (unlikely(room == 0)) {
					r = tx_grow(dev, vq, &c, plen + len, m,
							&seg, mp);
					if (unlikely(r != TX_OK))
						return r;
					room = rte_pktmbuf_tailroom(seg);
					if (unlikely(room == 0))
						return TX_NOMEM;
				}
				n = RTE_MIN((uint32_t)plen, room);
				rte_memcpy(rte_pktmbuf_mtod_offset(seg,
						uint8_t *, seg->data_len),
						src, n);
				seg->data_len += n;
				m->pkt_len += n;
				src += n;
				plen -= n;
			}
		}
	}
	if (unlikely(hdr_left > 0 || m->pkt_len == 0))
		return TX_BAD;
	if (unlikely(iovh_net_hdr_to_mbuf(&hdr.hdr, m, vq->ol) != 0))
		stat_add(&vq->stats.ol_errors, 1);
	return TX_OK;
}

/**
 * Fast path: four single-descriptor packets of one ring cache line, each
 * one contiguous piece that fits one mbuf. Otherwise nothing is consumed.
 *
 * @return 0 when the four were taken.
 */
static __rte_always_inline int
tx_batch(struct iovh_dev *dev, struct iovh_vq *vq, struct rte_mbuf **pkts,
		uint64_t *bytes)
{
	/* Locals, as in rx_batch(). */
	const uint16_t pos = vq->last_avail_idx, size = vq->size;
	const uint16_t want = batch_flags_want(vq->avail_wrap);
	const uint32_t hdr_len = vq->hdr_len;
	const uint16_t ol = vq->ol;
	const struct vring_packed_desc *ring = &vq->desc_packed[pos];
	static const uint32_t zero[BATCH];
	struct virtio_net_hdr_mrg_rxbuf hdr;
	const uint8_t *src[BATCH];
	uint64_t addr[BATCH], len, gpa, sum = 0;
	uint32_t dlen[BATCH], plen;
	uint16_t id[BATCH];
	unsigned int i, bad = 0;

	/* One relaxed load per slot: available, and neither chained,
	 * indirect nor device-writable, or no fast path. */
	for (i = 0; i < BATCH; i++)
		bad |= (__atomic_load_n(&ring[i].flags, __ATOMIC_RELAXED) &
				BATCH_FLAGS_MASK) ^ want;
	if (bad != 0)
		return -1;
	/* Acquire fence: as in rx_batch(). */
	rte_atomic_thread_fence(__ATOMIC_ACQUIRE);
	for (i = 0; i < BATCH; i++) {
		addr[i] = ring[i].addr;
		dlen[i] = ring[i].len;
		id[i] = ring[i].id;
	}
	rte_compiler_barrier();
	for (i = 0; i < BATCH; i++)
		bad |= (id[i] >= size) | (dlen[i] <= hdr_len) |
			(dlen[i] - hdr_len > rte_pktmbuf_tailroom(pkts[i]));
	if (bad != 0)
		return -1;
	for (i = 0; i < BATCH; i++) {
		len = dlen[i];
		src[i] = (const uint8_t *)(uintptr_t)iovh_vq_translate(dev, vq,
				addr[i], &len, VHU_ACCESS_RO, &gpa);
		if (src[i] == NULL || len != dlen[i])
			return -1;
	}
	if (unlikely(!id_claim_batch(vq, id)))
		return -1;
	for (i = 0; i < BATCH; i++) {
		plen = dlen[i] - hdr_len;
		iovh_net_hdr_copy(&hdr, src[i], hdr_len);
		rte_memcpy(rte_pktmbuf_mtod(pkts[i], void *),
				src[i] + hdr_len, plen);
		pkts[i]->data_len = plen;
		pkts[i]->pkt_len = plen;
		sum += plen;
		if (unlikely(iovh_net_hdr_to_mbuf(&hdr.hdr, pkts[i], ol) != 0))
			stat_add(&vq->stats.ol_errors, 1);
	}
	/* Nothing is written into a TX buffer: every len is 0. */
	used_push_batch(vq, pos, id, zero);
	*bytes += sum;
	return 0;
}

/** Slots the driver made available from last_avail_idx on, up to @p max. */
static __rte_always_inline uint16_t
avail_scan(const struct iovh_vq *vq, uint16_t max)
{
	const struct vring_packed_desc *ring = vq->desc_packed;
	const uint16_t size = vq->size;
	const uint16_t mask = VRING_PACKED_DESC_F_AVAIL |
		VRING_PACKED_DESC_F_USED;
	uint16_t pos = vq->last_avail_idx, n = 0;
	/* desc_is_avail() as one compare; flipped with the lap. */
	uint16_t want = batch_flags_want(vq->avail_wrap);

	/* Relaxed: only a count to size the mbuf allocation; each chain is
	 * taken later with its own acquire. */
	while (n < max && (__atomic_load_n(&ring[pos].flags,
			__ATOMIC_RELAXED) & mask) == want) {
		n++;
		if (++pos == size) {
			pos = 0;
			want ^= mask;
		}
	}
	return n;
}

uint16_t
iovh_packed_dequeue(struct iovh_dev *dev, struct iovh_vq *vq,
		struct rte_mempool *mp, struct rte_mbuf **pkts, uint16_t count)
{
	uint16_t old = vq->last_used_idx, n, got = 0, flags, cnt, id;
	uint64_t bytes = 0, bad = 0, toobig = 0;
	uint8_t old_wrap = vq->used_wrap;
	uint32_t slots;
	int r;

	if (unlikely(vq->broken))
		return 0;
	/* Each packet takes at least one staging entry, and one slot. */
	n = avail_scan(vq, RTE_MIN(RTE_MIN(count, (uint16_t)IOVH_SHADOW_USED),
			vq->size));
	if (n == 0)
		goto out;
	/* All or nothing; the chains stay posted until mbufs are back. */
	if (unlikely(rte_pktmbuf_alloc_bulk(mp, pkts, n) != 0))
		goto out;

	while (got < n && vq->shadow_count < IOVH_SHADOW_USED) {
		if (batch_fits(vq, n - got) &&
				tx_batch(dev, vq, pkts + got, &bytes) == 0) {
			got += BATCH;
			continue;
		}
		if (chain_take(vq, &flags, &cnt, &id) != TAKE_OK)
			break;
		r = tx_packet(dev, vq, flags, cnt, pkts[got], mp);
		if (unlikely(r == TX_NOMEM || r == TX_MISS)) {
			if (r == TX_MISS)
				iovh_packed_lookahead(dev, vq, VHU_ACCESS_RO);
			id_release(vq, id);
			iovh_mbuf_rewind(pkts[got]);
			break;
		}
		used_push(vq, id, cnt, 0);
		if (unlikely(r == TX_BAD)) {
			bad++;
			bad_chain(vq, id);
			iovh_mbuf_rewind(pkts[got]);
			continue;
		}
		if (unlikely(r == TX_TOOBIG)) {
			toobig++;
			iovh_mbuf_rewind(pkts[got]);
			continue;
		}
		bytes += pkts[got]->pkt_len;
		got++;
	}
	if (got < n)
		rte_pktmbuf_free_bulk(&pkts[got], n - got);
	/* Nothing was written into TX buffers: with IN_ORDER one used
	 * descriptor returns the whole burst. */
	slots = used_write(vq, vq->in_order);
	packed_notify(vq, old, old_wrap, slots);

	stat_add(&vq->stats.packets, got);
	stat_add(&vq->stats.bytes, bytes);
	if (unlikely(bad != 0))
		/* bad_desc was counted per chain; each was a lost packet. */
		stat_add(&vq->stats.dropped, bad);
	if (unlikely(toobig != 0))
		stat_add(&vq->stats.dropped, toobig);
out:
	if (likely(!vq->broken))
		iovh_packed_kick_update(vq);
	return got;
}
