/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * IOTLB writer side (control thread only). Readers are described in
 * iotlb.h; the rule here is that nothing a reader may have loaded is
 * modified or freed: slots are replaced with a store-release, and every
 * node or mapping that loses its last slot goes to t->dead, freed by
 * iovh_iotlb_reclaim() after the caller quiesced the device.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_random.h>

#include "iotlb.h"
#include "vhost.h"

#define BLOCK_SHIFT(level) (IOTLB_PAGE_SHIFT + IOTLB_LEVEL_BITS * (level))
#define PAGE_MASK ((1ULL << IOTLB_PAGE_SHIFT) - 1)

static void
dead_push(struct iovh_iotlb *t, void *p)
{
	if (t->ndead == t->dead_cap) {
		uint32_t cap = t->dead_cap ? t->dead_cap * 2 : 64;
		void **d = realloc(t->dead, cap * sizeof(*d));

		if (d == NULL) {
			/* Freeing now could pull memory from under a reader;
			 * losing a little memory cannot hurt anyone. */
			IOVH_LOG_CONFIG(ERR, "IOTLB: out of memory, leaking %p", p);
			return;
		}
		t->dead = d;
		t->dead_cap = cap;
	}
	t->dead[t->ndead++] = p;
}

static struct iovh_iotlb_node *
node_new(struct iovh_iotlb *t)
{
	struct iovh_iotlb_node *n = iovh_zalloc(sizeof(*n));

	if (n != NULL)
		t->nnodes++;
	return n;
}

static void
map_unref(struct iovh_iotlb *t, struct iovh_iotlb_map *m, uint32_t n)
{
	m->refs -= n;
	if (m->refs != 0)
		return;
	/* Swap-remove from the eviction list. */
	t->maps[m->idx] = t->maps[--t->nmaps];
	t->maps[m->idx]->idx = m->idx;
	dead_push(t, m);
}

/* Unlink a subtree: its mappings lose their references, its nodes die. */
static void
node_kill(struct iovh_iotlb *t, struct iovh_iotlb_node *n, unsigned int level)
{
	unsigned int i;

	for (i = 0; i < IOTLB_SLOTS; i++) {
		uintptr_t s = n->slot[i];

		if (s == 0)
			continue;
		if (IOTLB_IS_MAP(s))
			map_unref(t, (struct iovh_iotlb_map *)(s & ~(uintptr_t)1), 1);
		else if (level > 0)
			node_kill(t, (struct iovh_iotlb_node *)s, level - 1);
	}
	t->nnodes--;
	dead_push(t, n);
}

/* Replace one slot, releasing what it held. */
static void
slot_set(struct iovh_iotlb *t, struct iovh_iotlb_node *n, unsigned int idx,
		unsigned int level, uintptr_t v)
{
	uintptr_t old = n->slot[idx];

	if (old == v)
		return;
	if (IOTLB_IS_MAP(v))
		((struct iovh_iotlb_map *)(v & ~(uintptr_t)1))->refs++;
	/* Release: the node or mapping v points to is complete. */
	__atomic_store_n(&n->slot[idx], v, __ATOMIC_RELEASE);
	n->nused += (v != 0) - (old != 0);
	if (old == 0)
		return;
	/* A translation went away or changed: caches must forget it. */
	__atomic_store_n(&t->gen, t->gen + 1, __ATOMIC_RELEASE);
	if (IOTLB_IS_MAP(old))
		map_unref(t, (struct iovh_iotlb_map *)(old & ~(uintptr_t)1), 1);
	else if (level > 0)
		node_kill(t, (struct iovh_iotlb_node *)old, level - 1);
}

/*
 * The child under slot idx, made if needed. A mapping covering the whole
 * block is pushed down into all 512 slots of a new child first, which
 * changes no translation.
 */
static struct iovh_iotlb_node *
child_of(struct iovh_iotlb *t, struct iovh_iotlb_node *n, unsigned int idx)
{
	uintptr_t s = n->slot[idx];
	struct iovh_iotlb_node *c;
	unsigned int i;

	if (s != 0 && !IOTLB_IS_MAP(s))
		return (struct iovh_iotlb_node *)s;
	c = node_new(t);
	if (c == NULL)
		return NULL;
	if (s != 0) {
		for (i = 0; i < IOTLB_SLOTS; i++)
			c->slot[i] = s;
		c->nused = IOTLB_SLOTS;
		((struct iovh_iotlb_map *)(s & ~(uintptr_t)1))->refs += IOTLB_SLOTS;
	}
	__atomic_store_n(&n->slot[idx], (uintptr_t)c, __ATOMIC_RELEASE);
	if (s == 0)
		n->nused++;
	else
		map_unref(t, (struct iovh_iotlb_map *)(s & ~(uintptr_t)1), 1);
	return c;
}

/*
 * Set every block of [lo, hi] (inside node n, which starts at base) to v:
 * whole blocks directly, partial ones through a child. Page-aligned
 * bounds guarantee level 0 only ever sees whole blocks.
 */
static int
range_set(struct iovh_iotlb *t, struct iovh_iotlb_node *n, unsigned int level,
		uint64_t base, uint64_t lo, uint64_t hi, uintptr_t v)
{
	unsigned int shift = BLOCK_SHIFT(level);
	unsigned int i, first, last;
	int rc;

	first = (lo - base) >> shift;
	last = (hi - base) >> shift;
	for (i = first; i <= last; i++) {
		uint64_t sb = base + ((uint64_t)i << shift);
		uint64_t se = sb + ((1ULL << shift) - 1);
		uint64_t a = RTE_MAX(lo, sb), b = RTE_MIN(hi, se);
		struct iovh_iotlb_node *c;

		/* Page-aligned bounds make a level-0 block always whole. */
		if ((a == sb && b == se) || level == 0) {
			slot_set(t, n, i, level, v);
			continue;
		}
		if (n->slot[i] == v)
			continue;	/* partial, but already so */
		if (n->slot[i] == 0 && v == 0)
			continue;
		c = child_of(t, n, i);
		if (c == NULL)
			return -ENOMEM;
		rc = range_set(t, c, level - 1, sb, a, b, v);
		if (rc < 0)
			return rc;
		if (c->nused == 0)
			slot_set(t, n, i, level, 0);
	}
	return 0;
}

int
iovh_iotlb_init(struct iovh_iotlb *t, uint32_t max_maps)
{
	memset(t, 0, sizeof(*t));
	t->max_maps = max_maps;
	t->root = node_new(t);
	t->maps = calloc(max_maps + 1, sizeof(*t->maps));
	if (t->root == NULL || t->maps == NULL) {
		free(t->root);
		free(t->maps);
		return -ENOMEM;
	}
	return 0;
}

void
iovh_iotlb_reclaim(struct iovh_iotlb *t)
{
	uint32_t i;

	for (i = 0; i < t->ndead; i++)
		free(t->dead[i]);
	t->ndead = 0;
}

void
iovh_iotlb_flush(struct iovh_iotlb *t)
{
	unsigned int i;

	if (t->root == NULL)
		return;
	for (i = 0; i < IOTLB_SLOTS; i++)
		slot_set(t, t->root, i, IOTLB_LEVELS - 1, 0);
}

void
iovh_iotlb_fini(struct iovh_iotlb *t)
{
	iovh_iotlb_flush(t);
	iovh_iotlb_reclaim(t);
	free(t->root);
	free(t->maps);
	free(t->dead);
	memset(t, 0, sizeof(*t));
}

static bool
covers_any(const struct iovh_iotlb_map *m, const uint64_t *keep,
		unsigned int nkeep)
{
	unsigned int i;

	for (i = 0; i < nkeep; i++)
		if (keep[i] >= m->iova && keep[i] <= m->last)
			return true;
	return false;
}

/* Make room for one more mapping. */
static int
evict_one(struct iovh_iotlb *t, const uint64_t *keep, unsigned int nkeep)
{
	unsigned int tries;

	for (tries = 0; tries < 16; tries++) {
		struct iovh_iotlb_map *m = t->maps[rte_rand_max(t->nmaps)];

		if (covers_any(m, keep, nkeep))
			continue;
		t->evictions++;
		/* Blocks of its range that newer mappings took are dropped
		 * too: that only costs a miss, never a wrong translation. */
		return range_set(t, t->root, IOTLB_LEVELS - 1, 0, m->iova,
				m->last, 0);
	}
	return -ENOSPC;
}

/*
 * Whether every block of [iova, last] is already mapped exactly so (the
 * same mapping, or one equal to it). One lookup per block: what inserting
 * would cost anyway.
 */
static bool
already_mapped(const struct iovh_iotlb *t, uint64_t iova, uint64_t last,
		uint64_t hva, uint64_t gpa, uint8_t perm)
{
	const struct iovh_iotlb_map *m;
	uint64_t cur = iova, bl;

	for (;;) {
		m = iovh_iotlb_find(t, cur, &bl);
		if (m == NULL || m->iova != iova || m->last != last ||
				m->hva != hva || m->gpa != gpa || m->perm != perm)
			return false;
		if (bl >= last)
			return true;
		cur = bl + 1;
	}
}

int
iovh_iotlb_insert(struct iovh_iotlb *t, uint64_t iova, uint64_t last,
		uint64_t hva, uint64_t gpa, uint8_t perm, const uint64_t *keep,
		unsigned int nkeep)
{
	struct iovh_iotlb_map *m;
	int rc;

	if ((iova & PAGE_MASK) != 0 || (last & PAGE_MASK) != PAGE_MASK ||
			last < iova)
		return -EINVAL;
	/*
	 * A front-end answers each MISS with the whole mapping around it, so
	 * misses on two pages of one mapping (a ring's descriptor and avail
	 * pages, after every lazy flush) bring the same UPDATE twice.
	 * Replacing it with itself would only cost the caller a quiesce and
	 * the queues on it a pause.
	 */
	if (already_mapped(t, iova, last, hva, gpa, perm))
		return 0;
	while (t->nmaps >= t->max_maps) {
		rc = evict_one(t, keep, nkeep);
		if (rc < 0)
			return rc;
	}
	m = iovh_zalloc(sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->iova = iova;
	m->last = last;
	m->hva = hva;
	m->gpa = gpa;
	m->perm = perm;
	m->idx = t->nmaps;
	t->maps[t->nmaps++] = m;
	m->refs = 1;	/* held by us until the slots own it */
	rc = range_set(t, t->root, IOTLB_LEVELS - 1, 0, iova, last,
			(uintptr_t)m | 1);
	map_unref(t, m, 1);
	return rc;
}

int
iovh_iotlb_remove(struct iovh_iotlb *t, uint64_t iova, uint64_t last)
{
	/* Outward to whole pages: removing a little more is always safe. */
	iova &= ~PAGE_MASK;
	last |= PAGE_MASK;
	if (last < iova)
		return 0;
	return range_set(t, t->root, IOTLB_LEVELS - 1, 0, iova, last, 0);
}
