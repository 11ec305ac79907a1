/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * Emulated IOMMU: the guest's I/O page table. It only decides what is
 * mapped where and with which permission; telling the back-end (UPDATE,
 * INVALIDATE) is iotlb.c's job. Not thread-safe by itself: callers hold
 * iommu.lock so that a lookup and the message it produces are ordered
 * against an unmap and its invalidation.
 */

#ifndef FE_IOMMU_H
#define FE_IOMMU_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"
#include "vu_proto.h"

enum iommu_mode {
	IOMMU_OFF,	/* no IOMMU_PLATFORM: addresses are GPAs */
	IOMMU_PT,	/* identity: IOVA == GPA, everything RW */
	IOMMU_STRICT,	/* map at post, invalidate at return */
	IOMMU_LAZY,	/* map at post, batched domain-wide flush */
	IOMMU_PREFAULT,	/* everything mapped and pushed up front */
};

enum iommu_gran {
	GRAN_4K,
	GRAN_2M,
	GRAN_REGION,
};

enum win_state {
	WIN_FREE,	/* slot unused (possibly revoked earlier) */
	WIN_MAPPED,
	WIN_UNMAPPING,	/* strict: INVALIDATE sent, not yet acked */
	WIN_PENDING,	/* lazy: unmapped, waiting for the next flush */
};

#define IOMMU_NO_WIN	UINT32_MAX
#define IOMMU_MAX_STATIC	64

/* One IOVA window mapping a granule-aligned guest-physical span. */
struct iommu_win {
	uint64_t iova;
	uint64_t size;
	uint64_t gpa;
	uint8_t perm;
	uint8_t state;
	bool ever_mapped;
	uint32_t owner;		/* caller's cookie, e.g. a buffer id */
	uint32_t answered;	/* UPDATEs sent since mapped or last flushed */
	uint32_t answered_gen;	/* flush generation @answered counts in */
	uint32_t next_pending;	/* lazy flush list link */
};

/* Domain-wide invalidation, as two ranges that skip the MSI window. */
#define IOMMU_FLUSH_LO_IOVA	0ull
#define IOMMU_FLUSH_LO_SIZE	0xfee00000ull
#define IOMMU_FLUSH_HI_IOVA	0xfef00000ull
#define IOMMU_FLUSH_HI_SIZE	0xffffffff01100000ull	/* ends at 2^64 */

struct iommu {
	enum iommu_mode mode;
	enum iommu_gran gran_kind;
	uint64_t gran;
	const struct guest_mem *gm;
	pthread_mutex_t lock;

	/* Buffer windows: one granule each, from a shuffled FIFO of slots. */
	uint32_t nslots;
	uint32_t nlow;		/* slots below the MSI window */
	uint64_t low_base;
	uint64_t high_base;
	struct iommu_win *slot;
	/* Free slots, FIFO; with split pools, slot s belongs to pool s % 2. */
	unsigned int npools;
	struct iommu_freeq {
		uint32_t *q;
		uint32_t cap;
		uint32_t head;
		uint32_t count;
	} pool[2];

	/* Lazy: unmapped windows awaiting the flush. */
	uint32_t pending_head;
	uint32_t npending;
	uint32_t flush_gen;	/* completed domain-wide flushes */

	/* Ring windows: any number of granules, bump-allocated, permanent. */
	struct iommu_win stat[IOMMU_MAX_STATIC];
	uint32_t nstat;
	uint64_t static_base;
	uint64_t static_next;
};

/**
 * @param nslots buffer windows that may exist at once, plus headroom;
 *   more headroom means a just-freed IOVA is reused later.
 * @param seed shuffles which IOVA each window gets.
 * @param split keep two disjoint IOVA pools (e.g. RX and TX buffers), so a
 *   freed IOVA only ever comes back for the same kind of buffer.
 */
int iommu_init(struct iommu *m, enum iommu_mode mode, enum iommu_gran gran,
	       const struct guest_mem *gm, uint32_t nslots, uint64_t seed,
	       bool split);
void iommu_fini(struct iommu *m);

/** Is IOMMU_PLATFORM in use at all (every mode but off)? */
static inline bool
iommu_enabled(const struct iommu *m)
{
	return m->mode != IOMMU_OFF;
}

/** Do buffers get a fresh window per post (strict and lazy)? */
static inline bool
iommu_dynamic(const struct iommu *m)
{
	return m->mode == IOMMU_STRICT || m->mode == IOMMU_LAZY;
}

/**
 * Map a buffer [gpa, gpa+len) that lies within one granule, taking its
 * IOVA from @p pool (ignored unless the pools are split). Prefault mode
 * reuses the window of an earlier buffer in the same granule.
 * @return 0 with *win (IOMMU_NO_WIN in off/pt) and the device address
 * *iova; -ENOSPC if no slot is free; -EINVAL if the span crosses a granule.
 */
int iommu_map_buf(struct iommu *m, uint64_t gpa, uint32_t len, uint8_t perm,
		  unsigned int pool, uint32_t owner, uint32_t *win,
		  uint64_t *iova);

/** Map a ring part (any length, never unmapped). */
int iommu_map_static(struct iommu *m, uint64_t gpa, uint64_t len,
		     uint8_t perm, uint64_t *iova);

/**
 * Unmap buffer window @p win: strict moves it to WIN_UNMAPPING (the caller
 * then invalidates it and calls iommu_unmap_done()), lazy queues it for
 * the next flush. From here on a miss on it is refused.
 */
int iommu_unmap(struct iommu *m, uint32_t win);

/** Strict: the INVALIDATE of @p win was acknowledged; free its IOVA. */
void iommu_unmap_done(struct iommu *m, uint32_t win);

/**
 * Lazy: the flush was acknowledged; free every pending IOVA, calling
 * @p cb for each so the owner can fill its canary.
 * @return how many windows were freed.
 */
uint32_t iommu_flush_done(struct iommu *m,
			  void (*cb)(void *arg, uint32_t owner, uint32_t win),
			  void *arg);

/** Outcome of a miss lookup. */
enum iommu_resolve_rc {
	RESOLVE_OK = 0,
	RESOLVE_UNMAPPED,	/* never mapped: stray address */
	RESOLVE_REVOKED,	/* was mapped, now unmapped or being unmapped */
	RESOLVE_PERM,		/* mapped, but not with the asked permission */
};

/**
 * Translate a miss on @p iova asking for @p perm into the UPDATE answering
 * it (iova, size, uaddr, perm filled in @p out).
 */
enum iommu_resolve_rc iommu_resolve(const struct iommu *m, uint64_t iova,
				    uint8_t perm, struct vu_iotlb *out);

/** Window (buffer or ring) covering @p iova, or NULL. */
struct iommu_win *iommu_find(struct iommu *m, uint64_t iova);

/**
 * Count one more UPDATE sent for window @p w.
 * @return how many were sent since it was mapped or last invalidated.
 */
uint32_t iommu_note_answer(struct iommu *m, struct iommu_win *w);

/** Call @p cb for every live mapping (prefault). */
void iommu_for_each_mapped(const struct iommu *m,
			   void (*cb)(void *arg, const struct iommu_win *w),
			   void *arg);

/** The window @p win of a buffer (NULL for off/pt). */
const struct iommu_win *iommu_win(const struct iommu *m, uint32_t win);

const char *iommu_mode_name(enum iommu_mode mode);
const char *iommu_perm_name(uint8_t perm);

#endif /* FE_IOMMU_H */
