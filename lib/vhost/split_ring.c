/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * Split virtqueue data path: copy packets between mbufs and the buffers a
 * front-end posts, and hand the buffers back through the used ring.
 *
 * Everything reachable from the rings is written by the front-end, which
 * may be hostile or simply buggy, and may change it while we look. Hence:
 *  - every ring entry and descriptor is read exactly once into a local
 *    copy, and only that copy is checked and used;
 *  - every guest address goes through iovh_gpa_to_hva(), one contiguous
 *    piece at a time, and nothing outside a translated piece is touched;
 *  - a chain that breaks a rule is handed back unused (used len 0) and
 *    counted in bad_desc, so the front-end gets its buffer back and the
 *    ring keeps moving; only an avail index that cannot be right stops
 *    the queue (there is no telling which entries are real then).
 *
 * Used entries are staged in vq->shadow and written to the ring in
 * batches; nothing is visible to the front-end until used->idx is stored,
 * once per burst.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
#include "vhost.h"

/*
 * Ring fields are little-endian (VERSION_1) or guest-endian (legacy, and
 * every legacy guest we could meet on such a host is little-endian too).
 * They are used as native integers throughout.
 */
#if RTE_BYTE_ORDER != RTE_LITTLE_ENDIAN
#error "split_ring.c assumes a little-endian host"
#endif

/**
 * Largest packet taken from a TX chain, virtio-net header excluded. A GSO
 * packet is at most 64 KiB of IP plus link headers; anything a lot larger
 * is a front-end trying to make us copy without end.
 */
#define IOVH_TX_MAX_PKT (256u * 1024u)

/** Bytes of the largest virtio-net header (with num_buffers). */
#define IOVH_HDR_MAX sizeof(struct virtio_net_hdr_mrg_rxbuf)

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

/**
 * Add to a counter. The poll thread is the only writer; the relaxed
 * store only keeps a concurrent iovh_vq_stats_get() from seeing a torn
 * value.
 */
static __rte_always_inline void
stat_add(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

/**
 * Read avail ring entry @p idx (free-running). Ordered after the
 * load-acquire of avail->idx done at the start of the burst, which is what
 * makes the entry valid to read; relaxed, because that acquire is all the
 * ordering needed, and atomic so that it is read exactly once.
 */
static __rte_always_inline uint16_t
avail_entry(const struct iovh_vq *vq, uint16_t idx)
{
	return __atomic_load_n(&vq->avail->ring[idx & (vq->size - 1)],
			__ATOMIC_RELAXED);
}

/** Hint the cache about the descriptor the avail entry @p idx names. */
static __rte_always_inline void
prefetch_avail_desc(const struct iovh_vq *vq, uint16_t idx)
{
	uint16_t mask = vq->size - 1;

	/* Masked so that a hostile entry cannot even aim the prefetch. */
	rte_prefetch0(&vq->desc[vq->avail->ring[idx & mask] & mask]);
}

/**
 * Copy one descriptor out of guest memory exactly once, so that a value
 * that was checked is the value that is used, whatever the front-end
 * writes meanwhile.
 */
static __rte_always_inline void
desc_read(const struct vring_desc *p, struct vring_desc *d)
{
	/* One copy (any alignment: a hostile indirect table need not be
	 * aligned), then a compiler barrier: from here on the compiler may
	 * not assume guest memory still equals *d, so it uses *d. */
	memcpy(d, p, sizeof(*d));
	rte_compiler_barrier();
}

/**
 * Log an avail index that cannot be right, at most once a second for the
 * whole process: a broken front-end would otherwise flood the log from
 * every burst. The timestamp is shared by all poll threads; a race only
 * costs a duplicate line.
 */
static __rte_noinline __rte_cold void
ring_broken(const struct iovh_vq *vq, uint16_t avail_idx)
{
	static uint64_t next_log;
	uint64_t now = rte_get_tsc_cycles();

	if (now < __atomic_load_n(&next_log, __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&next_log, now + rte_get_tsc_hz(), __ATOMIC_RELAXED);
	IOVH_LOG_DATA(ERR,
		"vring %u (dev %p): avail idx %u is %u entries past %u in a ring of %u; ring ignored",
		vq->index, (void *)vq->dev, avail_idx,
		(uint16_t)(avail_idx - vq->last_avail_idx),
		vq->last_avail_idx, vq->size);
}

/* ------------------------------------------------------------------ */
/* Used ring                                                           */

/*
 * Positions in the used ring are free-running 16-bit indexes. Entries
 * below vq->last_used_idx are in the ring; vq->shadow[0 .. shadow_count)
 * are the next ones. Neither is visible to the front-end until
 * used_publish() stores used->idx, so until then any of them may be
 * rewritten or taken back (the front-end reads no entry past used->idx).
 */

/** Write the staged entries into the ring (not yet published). */
static __rte_always_inline void
shadow_flush(struct iovh_vq *vq)
{
	struct vring_used_elem *ring = vq->used->ring;
	uint16_t mask = vq->size - 1;
	uint16_t idx = vq->last_used_idx;
	uint16_t i;

	for (i = 0; i < vq->shadow_count; i++)
		ring[(uint16_t)(idx + i) & mask] = vq->shadow[i];
	vq->last_used_idx = idx + vq->shadow_count;
	vq->shadow_count = 0;
}

/** Stage one used entry. */
static __rte_always_inline void
used_push(struct iovh_vq *vq, uint16_t id, uint32_t len)
{
	struct vring_used_elem *e;

	if (unlikely(vq->shadow_count == IOVH_SHADOW_USED))
		shadow_flush(vq);
	e = &vq->shadow[vq->shadow_count++];
	e->id = id;
	e->len = len;
}

/** Position the next staged entry will take. */
static __rte_always_inline uint16_t
used_pos(const struct iovh_vq *vq)
{
	return vq->last_used_idx + vq->shadow_count;
}

/** The unpublished entry at position @p pos, wherever it is staged. */
static __rte_always_inline struct vring_used_elem *
used_elem(struct iovh_vq *vq, uint16_t pos)
{
	/* Flushed positions give a "negative" (>= 0x8000) offset. */
	uint16_t off = pos - vq->last_used_idx;

	if (off < vq->shadow_count)
		return &vq->shadow[off];
	return &vq->used->ring[pos & (vq->size - 1)];
}

/** Forget every unpublished entry at or after position @p pos. */
static __rte_always_inline void
used_rollback(struct iovh_vq *vq, uint16_t pos)
{
	uint16_t off = pos - vq->last_used_idx;

	if (off <= vq->shadow_count) {
		vq->shadow_count = off;
	} else {
		/* A flush wrote some of them into the ring: rewind over it. */
		vq->last_used_idx = pos;
		vq->shadow_count = 0;
	}
}

/**
 * Hand every entry staged since position @p old over to the front-end,
 * log the used-ring writes, and notify if the front-end wants it.
 */
static __rte_always_inline void
used_publish(struct iovh_vq *vq, uint16_t old)
{
	const uint64_t ring_off = offsetof(struct vring_used, ring);
	const uint64_t esz = sizeof(struct vring_used_elem);
	uint16_t n, start, first;

	shadow_flush(vq);
	n = vq->last_used_idx - old;
	if (n == 0)
		return;
	/*
	 * Release: the used elements, and for RX every byte copied into the
	 * buffers, become visible before the index that hands them over.
	 * Pairs with the front-end's read barrier after it loads used->idx.
	 */
	__atomic_store_n(&vq->used->idx, vq->last_used_idx, __ATOMIC_RELEASE);

	if (unlikely(vq->log_used)) {
		start = old & (vq->size - 1);
		first = RTE_MIN(n, (uint16_t)(vq->size - start));
		iovh_log_used(vq, ring_off + start * esz, first * esz);
		if (n > first)
			iovh_log_used(vq, ring_off, (uint64_t)(n - first) * esz);
		iovh_log_used(vq, offsetof(struct vring_used, idx),
				sizeof(vq->used->idx));
	}
	iovh_vq_notify(vq);
}

/**
 * With EVENT_IDX, tell the front-end to kick us on the next buffer it
 * posts (avail_event = last_avail_idx, just past the used ring entries).
 * Skipped in polling mode (notify_off): kicks would only cost the
 * front-end a system call each.
 */
static __rte_always_inline void
avail_event_update(struct iovh_vq *vq)
{
	uint16_t *ev = (uint16_t *)&vq->used->ring[vq->size];

	if (!vq->event_idx || vq->notify_off)
		return;
	/* Re-storing an unchanged value would only dirty a shared line. */
	if (__atomic_load_n(ev, __ATOMIC_RELAXED) == vq->last_avail_idx)
		return;
	__atomic_store_n(ev, vq->last_avail_idx, __ATOMIC_RELAXED);
	/*
	 * StoreLoad: our next look at avail->idx (the next burst, possibly
	 * the application's last check before it sleeps on the kick fd)
	 * must not be satisfied before this store is visible. The front-end
	 * stores avail->idx, fences, then loads avail_event; with a fence on
	 * each side one of us sees the other's store, so a buffer posted
	 * around now is either dequeued or kicked, never lost.
	 */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	iovh_log_used(vq, offsetof(struct vring_used, ring) +
			(uint64_t)vq->size * sizeof(struct vring_used_elem),
			sizeof(*ev));
}

/* ------------------------------------------------------------------ */
/* Descriptor chains                                                   */

enum {
	CHAIN_MISS = -2,	/**< An IOTLB miss: retry once it is answered. */
	CHAIN_BAD = -1,	/**< The chain breaks a rule. */
	CHAIN_END = 0,	/**< No more descriptors. */
	CHAIN_DESC = 1,	/**< A data descriptor was returned. */
};

/** Where a walk along one descriptor chain stands. */
struct chain {
	const struct vring_desc *table;	/**< Ring, or a whole indirect table. */
	uint64_t table_addr;	/**< Indirect table, read per entry if !table. */
	uint32_t nent;		/**< Entries in the current table. */
	uint32_t budget;	/**< Descriptors still allowed. */
	uint16_t idx;		/**< Next entry to read. */
	bool indirect;		/**< Inside an indirect table. */
	bool end;		/**< The last descriptor was returned. */
};

/**
 * Start walking the chain whose head the front-end put in the avail ring.
 * @return 0, or CHAIN_BAD for a head outside the ring.
 */
static __rte_always_inline int
chain_start(struct chain *c, const struct iovh_vq *vq, uint16_t head)
{
	if (unlikely(head >= vq->size))
		return CHAIN_BAD;
	c->table = vq->desc;
	c->nent = vq->size;
	/*
	 * A chain in the ring visits each descriptor at most once, so more
	 * than size steps means a loop; the global cap bounds the work a
	 * front-end can make us do per chain.
	 */
	c->budget = RTE_MIN((uint32_t)vq->size, (uint32_t)IOVH_MAX_CHAIN);
	c->idx = head;
	c->indirect = false;
	c->end = false;
	return 0;
}

/**
 * Switch a walk into the indirect table @p d refers to.
 * Rules (virtio 1.2, 2.7.5.3): not from inside another table, not
 * together with NEXT, and the length is a whole, non-zero number of
 * descriptors. WRITE on the referring descriptor is ignored, as required.
 */
static __rte_noinline int
chain_enter_indirect(struct chain *c, struct iovh_dev *dev,
		struct iovh_vq *vq, const struct vring_desc *d)
{
	uint64_t len = d->len, hva, gpa;

	if (unlikely(c->indirect || (d->flags & VRING_DESC_F_NEXT) ||
			len == 0 || (len % sizeof(struct vring_desc)) != 0 ||
			d->addr + len < d->addr))
		return CHAIN_BAD;
	hva = iovh_vq_translate(dev, vq, d->addr, &len, VHU_ACCESS_RO, &gpa);
	if (unlikely(hva == 0))
		return vq->xlate_miss ? CHAIN_MISS : CHAIN_BAD;
	if (likely(len == d->len)) {
		c->table = (const struct vring_desc *)(uintptr_t)hva;
		rte_prefetch0(c->table);
	} else {
		/* Spans two regions or IOTLB entries: entry by entry. */
		c->table = NULL;
		c->table_addr = d->addr;
	}
	c->nent = d->len / sizeof(struct vring_desc);
	/* Within a table, too, more steps than entries means a loop. */
	c->budget = RTE_MIN(c->budget, c->nent);
	c->idx = 0;
	c->indirect = true;
	return 0;
}

/**
 * Next data descriptor of the chain into @p d, following NEXT and at most
 * one indirect table. Checks what applies to every direction: indexes in
 * range, no loop, address + len does not wrap. The caller checks the
 * direction (WRITE flag) and translates the address.
 *
 * @return CHAIN_DESC, CHAIN_END or CHAIN_BAD.
 */
static __rte_always_inline int
chain_next(struct chain *c, struct iovh_dev *dev, struct iovh_vq *vq,
		struct vring_desc *d)
{
	const struct vring_desc *p;
	uint64_t len, hva, gpa;
	int r;

	for (;;) {
		if (c->end)
			return CHAIN_END;
		if (unlikely(c->budget == 0 || c->idx >= c->nent))
			return CHAIN_BAD;
		c->budget--;
		if (likely(c->table != NULL)) {
			p = &c->table[c->idx];
		} else {
			len = sizeof(*p);
			hva = iovh_vq_translate(dev, vq, c->table_addr +
					(uint64_t)c->idx * sizeof(*p), &len,
					VHU_ACCESS_RO, &gpa);
			if (unlikely(hva == 0))
				return vq->xlate_miss ? CHAIN_MISS : CHAIN_BAD;
			/* An entry astride a region boundary: not worth it. */
			if (unlikely(len < sizeof(*p)))
				return CHAIN_BAD;
			p = (const struct vring_desc *)(uintptr_t)hva;
		}
		desc_read(p, d);
		if (unlikely(d->flags & VRING_DESC_F_INDIRECT)) {
			r = chain_enter_indirect(c, dev, vq, d);
			if (r < 0)
				return r;
			continue;
		}
		if (d->flags & VRING_DESC_F_NEXT) {
			c->idx = d->next;
			/* Unchecked yet, but a prefetch cannot fault. */
			if (likely(c->table != NULL))
				rte_prefetch0(&c->table[c->idx]);
		} else {
			c->end = true;
		}
		if (unlikely(d->addr + d->len < d->addr))
			return CHAIN_BAD;
		return CHAIN_DESC;
	}
}

/* ------------------------------------------------------------------ */
/* Enqueue (mbufs -> front-end RX ring)                                */

/** What is left of the packet being placed. */
struct rx_src {
	struct rte_mbuf *seg;	/**< Current segment. */
	uint32_t seg_off;	/**< Bytes of seg already copied. */
	uint32_t hdr_left;	/**< Header bytes still to reserve. */
	uint32_t left;		/**< Bytes still to place, header included. */
};

/**
 * Where the header of the packet being placed went. The header is written
 * last, when num_buffers is known; it may have been split over several
 * descriptors (or regions), one piece each, never more than its size.
 */
struct rx_hdr_loc {
	struct {
		uint8_t *dst;
		uint64_t gpa;
		uint32_t len;
	} p[IOVH_HDR_MAX];
	uint32_t n;
};

/**
 * Fill one translated, contiguous piece of a guest buffer: first reserve
 * what the header still needs, then copy packet bytes, then mark the
 * copied bytes dirty. The caller never passes more than s->left bytes.
 */
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
		/* Empty segments are legal; pkt_len says how much is real. */
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
	/*
	 * After the copy, not before: the front-end may collect and clear
	 * the bit at any time, and a page it sends before our bytes land
	 * must be marked again, or the destination keeps stale data.
	 */
	iovh_log_write(dev, log_gpa, log_len);
}

/**
 * Place as much of the packet as fits into the chain at @p head.
 * Translation and direction are checked only for the descriptors actually
 * used: the rest of a chain is none of our business.
 *
 * @return bytes written into the chain (header included), -1 if the
 *   chain is bad, or -2 on an IOTLB miss.
 */
static __rte_always_inline int64_t
rx_fill_chain(struct iovh_dev *dev, struct iovh_vq *vq, uint16_t head,
		struct rx_src *s, struct rx_hdr_loc *h)
{
	struct vring_desc d;
	struct chain c;
	uint64_t addr, gpa, len, plen, hva;
	uint32_t written = 0;
	int r;

	if (unlikely(chain_start(&c, vq, head) < 0))
		return -1;
	while (s->left > 0) {
		r = chain_next(&c, dev, vq, &d);
		if (r == CHAIN_END)
			break;
		if (unlikely(r == CHAIN_MISS))
			return -2;
		/* A read-only buffer in a receive chain is not ours to fill. */
		if (unlikely(r == CHAIN_BAD ||
				!(d.flags & VRING_DESC_F_WRITE)))
			return -1;
		addr = d.addr;
		len = d.len;
		while (len > 0 && s->left > 0) {
			/* Never translate (or touch) more than will be used. */
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
};

/**
 * Hand back a bad chain, and with it the buffers the current packet had
 * already filled (used entries from @p pkt_pos on): a mergeable packet's
 * buffers must be consecutive in the used ring, and the bad entry cannot
 * go anywhere else in avail order. Returned with len 0, they are simply
 * recycled by the front-end.
 */
static __rte_noinline __rte_cold void
rx_bad_chain(struct iovh_vq *vq, uint16_t head, uint16_t pkt_pos)
{
	uint16_t pos;

	for (pos = pkt_pos; pos != used_pos(vq); pos++)
		used_elem(vq, pos)->len = 0;
	used_push(vq, head, 0);
	stat_add(&vq->stats.bad_desc, 1);
}

/**
 * Place one packet: virtio-net header, then the data, over one chain, or
 * with MRG_RXBUF over as many chains as it takes (num_buffers of them).
 *
 * Packets that cannot fit: without MRG_RXBUF the chain stays available
 * (for the next, maybe smaller, packet) and the packet is dropped; a
 * chain too small for even the header can never hold anything and is
 * treated as bad. With MRG_RXBUF a packet that needs more buffers than
 * are posted right now waits for the next burst (what it consumed is
 * taken back), unless the whole ring was posted: then it can never fit
 * and is dropped.
 */
static __rte_always_inline int
rx_packet(struct iovh_dev *dev, struct iovh_vq *vq, struct rte_mbuf *m,
		uint16_t avail_idx)
{
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct rx_hdr_loc h;
	struct rx_src s;
	uint16_t start_avail, start_pos, nbufs, head;
	uint32_t i, off;
	int64_t w;
	int ol_bad;

	/* Idempotent (checksums are recomputed): a retried packet redoes it. */
	ol_bad = iovh_net_hdr_from_mbuf(&hdr.hdr, m, vq->ol);
restart:
	s.seg = m;
	s.seg_off = 0;
	s.hdr_left = vq->hdr_len;
	s.left = vq->hdr_len + m->pkt_len;
	h.n = 0;
	nbufs = 0;
	start_avail = vq->last_avail_idx;
	start_pos = used_pos(vq);
	do {
		if (unlikely(vq->last_avail_idx == avail_idx)) {
			vq->last_avail_idx = start_avail;
			used_rollback(vq, start_pos);
			if (nbufs > 0 && (uint16_t)(avail_idx - start_avail) ==
					vq->size)
				return RX_DROPPED;
			return RX_NO_ROOM;
		}
		head = avail_entry(vq, vq->last_avail_idx);
		vq->last_avail_idx++;
		if (vq->last_avail_idx != avail_idx)
			prefetch_avail_desc(vq, vq->last_avail_idx);
		w = rx_fill_chain(dev, vq, head, &s, &h);
		if (unlikely(w == -2)) {
			/* Bytes may have been copied: harmless, nothing tells
			 * the front-end about them until used->idx moves. */
			vq->last_avail_idx = start_avail;
			used_rollback(vq, start_pos);
			return RX_MISS;
		}
		/*
		 * Bad: broken chain, header not complete in the first chain,
		 * or a mergeable continuation chain with no room at all.
		 */
		if (unlikely(w < 0 || s.hdr_left > 0 ||
				(w == 0 && nbufs > 0))) {
			rx_bad_chain(vq, head, start_pos);
			goto restart;
		}
		if (!vq->mrg_rxbuf && s.left > 0) {
			/* Too small for this packet; leave it for the next. */
			vq->last_avail_idx--;
			return RX_DROPPED;
		}
		used_push(vq, head, (uint32_t)w);
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

/*
 * After a miss: the chains posted from last_avail_idx on (the blocked one
 * included), up to @p avail_idx, have every unmapped page of their
 * buffers asked for now (see iotlb_poll.c). Read-only: descriptors are
 * copied once, indexes checked against the table they index, at most
 * IOVH_LOOKAHEAD_DESCS of them in all, so a looping or hostile chain
 * only ends the look-ahead early. Rule breaks are left to the real walk.
 */
void __rte_cold
iovh_split_lookahead(struct iovh_dev *dev, struct iovh_vq *vq,
		uint16_t avail_idx, uint8_t perm)
{
	uint32_t chains, descs = IOVH_LOOKAHEAD_DESCS, nent, i;
	uint16_t idx = vq->last_avail_idx;
	const struct vring_desc *table;
	struct iovh_lookahead la;
	struct vring_desc d;
	uint64_t hva;
	bool indirect;

	if (!iovh_lookahead_begin(dev, vq, &la))
		return;
	/* The caller checked avail_idx - last_avail_idx <= size. */
	chains = RTE_MIN((uint16_t)(avail_idx - idx),
			(uint32_t)IOVH_LOOKAHEAD_CHAINS);
	for (; chains > 0; chains--, idx++) {
		table = vq->desc;
		nent = vq->size;
		indirect = false;
		i = avail_entry(vq, idx);
		while (i < nent) {
			if (descs == 0)
				return;
			descs--;
			desc_read(&table[i], &d);
			if (d.flags & VRING_DESC_F_INDIRECT) {
				if (indirect || d.len == 0 ||
						d.len % sizeof(d) != 0)
					break;
				hva = iovh_lookahead_table(dev, vq, &la, d.addr,
						d.len);
				if (hva == 0)
					break;
				table = (const struct vring_desc *)(uintptr_t)hva;
				nent = d.len / sizeof(d);
				i = 0;
				indirect = true;
				continue;
			}
			if (!iovh_lookahead_buf(dev, vq, &la, d.addr, d.len,
					perm))
				return;
			if (!(d.flags & VRING_DESC_F_NEXT))
				break;
			i = d.next;
		}
	}
}

/**
 * Copy @p count packets (or as many as the front-end has buffers for)
 * into the front-end's receive ring. The mbufs stay the caller's.
 *
 * @return how many of @p pkts were consumed (delivered, or dropped as
 *   unable ever to fit); the rest should be offered again later.
 */
uint16_t
iovh_split_enqueue(struct iovh_dev *dev, struct iovh_vq *vq,
		struct rte_mbuf **pkts, uint16_t count)
{
	uint16_t avail_idx, used_start, i;
	uint64_t bytes = 0, sent = 0, dropped = 0;
	int r;

	/*
	 * Acquire: the ring entries and descriptors (and buffers) the
	 * front-end wrote before publishing this index are visible to the
	 * loads below. Pairs with its write barrier before storing idx.
	 */
	avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	if (unlikely((uint16_t)(avail_idx - vq->last_avail_idx) > vq->size)) {
		ring_broken(vq, avail_idx);
		return 0;
	}
	if (avail_idx == vq->last_avail_idx)
		return 0;
	prefetch_avail_desc(vq, vq->last_avail_idx);

	used_start = vq->last_used_idx;
	vq->rx_missed = 0;
	for (i = 0; i < count; i++) {
		if (i + 1 < count)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		r = rx_packet(dev, vq, pkts[i], avail_idx);
		if (r == RX_NO_ROOM)
			break;
		if (unlikely(r == RX_MISS)) {
			vq->rx_missed = 1;
			iovh_split_lookahead(dev, vq, avail_idx, VHU_ACCESS_WO);
			break;
		}
		if (likely(r == RX_DONE)) {
			sent++;
			bytes += pkts[i]->pkt_len;
		} else {
			dropped++;
		}
	}
	used_publish(vq, used_start);

	stat_add(&vq->stats.packets, sent);
	stat_add(&vq->stats.bytes, bytes);
	if (unlikely(dropped != 0))
		stat_add(&vq->stats.dropped, dropped);
	return i;
}

/* ------------------------------------------------------------------ */
/* Dequeue (front-end TX ring -> mbufs)                                */

/** Outcome of tx_packet(). */
enum {
	TX_OK,		/**< A packet is in the mbuf. */
	TX_BAD,		/**< Bad chain; mbuf to be reused. */
	TX_NOMEM,	/**< Out of mbufs; chain left in the ring. */
	TX_MISS,	/**< An IOTLB miss; chain left in the ring. */
	TX_TOOBIG,	/**< Cannot be linear (linear-buffer); dropped. */
};

/**
 * Bytes the rest of a chain holds: what is left of the current descriptor
 * plus the lengths of the descriptors after it, read from a copy of the
 * walk. Only a size hint: the front-end may change the descriptors before
 * they are read again for the copy, which checks room itself.
 */
static uint64_t
chain_rest_len(struct iovh_dev *dev, struct iovh_vq *vq,
		const struct chain *c, uint64_t left)
{
	struct chain w = *c;
	struct vring_desc d;

	while (left <= IOVH_TX_MAX_PKT &&
			chain_next(&w, dev, vq, &d) == CHAIN_DESC)
		left += d.len;
	return left;
}

/**
 * The packet being copied into @p m filled the segment @p *seg: room as
 * the device was configured (iovh_mbuf_grow()). The size of the whole
 * packet is worked out only when an external buffer may be used: @p left
 * bytes of the current descriptor, and the descriptors after it.
 */
static __rte_noinline int
tx_grow(struct iovh_dev *dev, struct iovh_vq *vq, const struct chain *c,
		uint64_t left, struct rte_mbuf *m, struct rte_mbuf **seg,
		struct rte_mempool *mp)
{
	uint64_t need = 0;

	if ((vq->ol & IOVH_OL_EXTBUF) && *seg == m && !RTE_MBUF_HAS_EXTBUF(m))
		need = m->data_len + chain_rest_len(dev, vq, c, left);
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
 * Copy the chain at @p head into @p m: the first hdr_len bytes are the
 * virtio-net header (anywhere: own descriptor, split, or sharing one with
 * data), the rest is the packet. More mbufs are chained from @p mp when
 * one is not enough.
 */
static __rte_always_inline int
tx_packet(struct iovh_dev *dev, struct iovh_vq *vq, uint16_t head,
		struct rte_mbuf *m, struct rte_mempool *mp)
{
	struct virtio_net_hdr_mrg_rxbuf hdr;
	struct rte_mbuf *seg = m;
	struct vring_desc d;
	struct chain c;
	const uint8_t *src;
	uint64_t addr, gpa, len, plen, hva, chain_len = 0;
	uint32_t hdr_left = vq->hdr_len, n, room;
	int r;

	if (unlikely(chain_start(&c, vq, head) < 0))
		return TX_BAD;
	for (;;) {
		r = chain_next(&c, dev, vq, &d);
		if (r == CHAIN_END)
			break;
		if (unlikely(r == CHAIN_MISS))
			return TX_MISS;
		/* The device must not be asked to write into a TX chain. */
		if (unlikely(r == CHAIN_BAD || (d.flags & VRING_DESC_F_WRITE)))
			return TX_BAD;
		/* Checked before copying, so a 4 GiB descriptor costs nothing;
		 * cannot overflow: at most IOVH_MAX_CHAIN 32-bit lengths. */
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
	/* A header and not even one byte of packet is not a packet. */
	if (unlikely(hdr_left > 0 || m->pkt_len == 0))
		return TX_BAD;
	if (unlikely(iovh_net_hdr_to_mbuf(&hdr.hdr, m, vq->ol) != 0))
		stat_add(&vq->stats.ol_errors, 1);
	return TX_OK;
}

/**
 * Receive up to @p count packets the front-end sent, into mbufs from
 * @p mp. Buffers go back to the front-end with used len 0 (nothing was
 * written into them).
 *
 * @return number of mbufs stored in @p pkts.
 */
uint16_t
iovh_split_dequeue(struct iovh_dev *dev, struct iovh_vq *vq,
		struct rte_mempool *mp, struct rte_mbuf **pkts, uint16_t count)
{
	uint16_t avail_idx, used_start, n, got = 0, head;
	uint64_t bytes = 0, bad = 0, toobig = 0;
	int r;

	/* Acquire: as in iovh_split_enqueue(). */
	avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
	n = avail_idx - vq->last_avail_idx;
	if (unlikely(n > vq->size)) {
		ring_broken(vq, avail_idx);
		return 0;
	}
	n = RTE_MIN(n, count);
	if (n == 0)
		goto out;
	prefetch_avail_desc(vq, vq->last_avail_idx);
	/* All or nothing; the chains stay posted until mbufs are back. */
	if (unlikely(rte_pktmbuf_alloc_bulk(mp, pkts, n) != 0))
		goto out;

	used_start = vq->last_used_idx;
	/* Bad chains use no mbuf, so there may be more chains than n. */
	while (got < n && vq->last_avail_idx != avail_idx) {
		head = avail_entry(vq, vq->last_avail_idx);
		if ((uint16_t)(vq->last_avail_idx + 1) != avail_idx)
			prefetch_avail_desc(vq, vq->last_avail_idx + 1);
		r = tx_packet(dev, vq, head, pkts[got], mp);
		if (unlikely(r == TX_NOMEM || r == TX_MISS)) {
			if (r == TX_MISS)
				iovh_split_lookahead(dev, vq, avail_idx,
						VHU_ACCESS_RO);
			iovh_mbuf_rewind(pkts[got]);
			break;
		}
		vq->last_avail_idx++;
		used_push(vq, head, 0);
		if (unlikely(r == TX_BAD || r == TX_TOOBIG)) {
			if (r == TX_BAD)
				bad++;
			else
				toobig++;
			iovh_mbuf_rewind(pkts[got]);
			continue;
		}
		bytes += pkts[got]->pkt_len;
		got++;
	}
	if (got < n)
		rte_pktmbuf_free_bulk(&pkts[got], n - got);
	used_publish(vq, used_start);

	stat_add(&vq->stats.packets, got);
	stat_add(&vq->stats.bytes, bytes);
	if (unlikely(bad != 0)) {
		/* Each bad chain was a packet the front-end lost. */
		stat_add(&vq->stats.bad_desc, bad);
		stat_add(&vq->stats.dropped, bad);
	}
	if (unlikely(toobig != 0))
		stat_add(&vq->stats.dropped, toobig);
out:
	avail_event_update(vq);
	return got;
}
