/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef IOVH_IOTLB_H
#define IOVH_IOTLB_H

/**
 * @file
 * The device IOTLB: IOVA -> (host address, guest-physical address,
 * permission) for a front-end with VIRTIO_F_IOMMU_PLATFORM.
 *
 * Shape: a radix table over the 64-bit IOVA space with a 4 KiB granule
 * and 9 bits per level (six levels; the top one uses the 7 high bits).
 * A slot holds nothing, a child node, or (tagged with bit 0) a mapping
 * that covers the slot's whole aligned block. A mapping is immutable and
 * may be referenced by many slots; a lookup returns the block it found,
 * so a translation never reaches past the block even when two mappings
 * happen to be adjacent: two entries are never merged.
 *
 * Readers (poll threads) walk the table with plain acquire loads: no lock,
 * no atomic read-modify-write. The only writer is the control thread. It
 * publishes a new node or mapping with a store-release of the slot after
 * filling it, and frees what it unlinked only after iovh_dev_quiesce():
 * then no reader can still hold it. Every change that removes or replaces
 * a translation increments @c gen, which the per-virtqueue caches check at
 * the start of each burst.
 */

#include <stdbool.h>
#include <stdint.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>

#define IOTLB_PAGE_SHIFT 12
#define IOTLB_LEVEL_BITS 9
#define IOTLB_LEVELS 6
#define IOTLB_SLOTS (1u << IOTLB_LEVEL_BITS)

/** One mapping, as the front-end sent it (after splitting by region). */
struct iovh_iotlb_map {
	uint64_t iova;		/**< First byte. */
	uint64_t last;		/**< Last byte (inclusive: may be 2^64 - 1). */
	uint64_t hva;		/**< Host address of iova. */
	uint64_t gpa;		/**< Guest-physical address of iova. */
	uint32_t refs;		/**< Slots pointing here (writer only). */
	uint32_t idx;		/**< Position in iovh_iotlb.maps (writer). */
	uint8_t perm;		/**< VHU_ACCESS_* bits. */
};

struct iovh_iotlb_node {
	uintptr_t slot[IOTLB_SLOTS];
	uint32_t nused;		/**< Non-empty slots (writer only). */
};

/** A device's IOTLB. */
struct iovh_iotlb {
	struct iovh_iotlb_node *root;	/**< Never replaced. */
	uint32_t gen;			/**< Bumped on every removal. */
	/* writer only */
	uint32_t nmaps;			/**< Live mappings. */
	uint32_t max_maps;		/**< Cap (devarg iotlb-entries). */
	uint32_t nnodes;
	struct iovh_iotlb_map **maps;	/**< Live mappings, for eviction. */
	void **dead;			/**< Unlinked, freed after quiesce. */
	uint32_t ndead, dead_cap;
	uint64_t evictions;
};

/** Whether a slot holds a mapping (else 0 or a child node). */
#define IOTLB_IS_MAP(s) ((s) & 1)

/**
 * Find the mapping covering @p iova. On success *blk_last is the last
 * byte of the aligned block the mapping was found for: translations must
 * not go past it without a new lookup.
 *
 * Thread-safety: lock-free; inside a QSBR read-side section.
 */
static __rte_always_inline const struct iovh_iotlb_map *
iovh_iotlb_find(const struct iovh_iotlb *t, uint64_t iova, uint64_t *blk_last)
{
	const struct iovh_iotlb_node *n = t->root;
	unsigned int level, shift;
	uintptr_t s;

	for (level = IOTLB_LEVELS - 1; ; level--) {
		shift = IOTLB_PAGE_SHIFT + IOTLB_LEVEL_BITS * level;
		/* Acquire pairs with the writer's store-release of the slot:
		 * the node or mapping behind it is fully written. */
		s = __atomic_load_n(&n->slot[(iova >> shift) & (IOTLB_SLOTS - 1)],
				__ATOMIC_ACQUIRE);
		if (unlikely(s == 0))
			return NULL;
		if (IOTLB_IS_MAP(s)) {
			const struct iovh_iotlb_map *m =
				(const struct iovh_iotlb_map *)(s & ~(uintptr_t)1);
			uint64_t bl = iova | ((1ULL << shift) - 1);

			/* shift can reach 57: the block of the top level. */
			*blk_last = RTE_MIN(bl, m->last);
			return m;
		}
		if (unlikely(level == 0))
			return NULL;
		n = (const struct iovh_iotlb_node *)s;
	}
}

/**
 * Make an empty table. @return 0 or -ENOMEM. Control thread / create.
 */
int iovh_iotlb_init(struct iovh_iotlb *t, uint32_t max_maps);

/** Free everything. No reader may be inside the table. */
void iovh_iotlb_fini(struct iovh_iotlb *t);

/**
 * Map [iova, last] to host @p hva / guest-physical @p gpa with @p perm,
 * replacing whatever was there. iova and last + 1 must be 4 KiB aligned.
 * When the table is full, mappings chosen at random are evicted, except
 * those covering an IOVA in @p keep (the rings, @p nkeep addresses).
 * A range already mapped exactly so is left as it is (nothing removed).
 *
 * @return 0, -EINVAL (alignment), or -ENOMEM. Callers must quiesce and
 *   call iovh_iotlb_reclaim() when iovh_iotlb_dirty() says so.
 */
int iovh_iotlb_insert(struct iovh_iotlb *t, uint64_t iova, uint64_t last,
		uint64_t hva, uint64_t gpa, uint8_t perm, const uint64_t *keep,
		unsigned int nkeep);

/**
 * Remove every translation in [iova, last] (inclusive: the range may end
 * at 2^64 - 1). @return 0, or -ENOMEM (splitting a block needed a node).
 */
int iovh_iotlb_remove(struct iovh_iotlb *t, uint64_t iova, uint64_t last);

/** Whether something was unlinked that must outlive the readers. */
static inline bool
iovh_iotlb_dirty(const struct iovh_iotlb *t)
{
	return t->ndead != 0;
}

/**
 * Free what was unlinked. Only after iovh_dev_quiesce(): no reader can
 * still hold a pointer into it.
 */
void iovh_iotlb_reclaim(struct iovh_iotlb *t);

/** Remove everything (memory table change, reset). Quiesce, then reclaim. */
void iovh_iotlb_flush(struct iovh_iotlb *t);

#endif /* IOVH_IOTLB_H */
