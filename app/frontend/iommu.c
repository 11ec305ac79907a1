/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iommu.h"
#include "util.h"

#define GIB		(1ull << 30)
#define MSI_LO		0xfee00000ull
/* Low buffer IOVAs start here: well clear of IOVA 0. */
#define LOW_START	0x10000000ull
/*
 * High buffer IOVAs: above 4 GiB, so both halves of the lazy flush are
 * exercised; far from the guest-physical layout so a back-end that
 * confuses IOVA with GPA lands in the wrong place and is caught.
 */
#define HIGH_START	(64 * GIB)

static uint64_t
slot_iova(const struct iommu *m, uint32_t s)
{
	if (s < m->nlow)
		return m->low_base + (uint64_t)s * m->gran;
	return m->high_base + (uint64_t)(s - m->nlow) * m->gran;
}

/* Slot index of @p iova, or UINT32_MAX if it is not in a buffer area. */
static uint32_t
iova_slot(const struct iommu *m, uint64_t iova)
{
	if (iova >= m->low_base && iova - m->low_base < (uint64_t)m->nlow * m->gran)
		return (uint32_t)((iova - m->low_base) / m->gran);
	if (iova >= m->high_base &&
	    iova - m->high_base < (uint64_t)(m->nslots - m->nlow) * m->gran)
		return m->nlow + (uint32_t)((iova - m->high_base) / m->gran);
	return UINT32_MAX;
}

static void
freeq_push(struct iommu_freeq *f, uint32_t s)
{
	f->q[(f->head + f->count) % f->cap] = s;
	f->count++;
}

int
iommu_init(struct iommu *m, enum iommu_mode mode, enum iommu_gran gran,
	   const struct guest_mem *gm, uint32_t nslots, uint64_t seed,
	   bool split)
{
	uint64_t rnd = seed ? seed : 0x9e3779b97f4a7c15ull;
	uint32_t i, j, t, lowfit;
	unsigned int p;

	memset(m, 0, sizeof(*m));
	m->mode = mode;
	m->gran_kind = gran;
	m->gm = gm;
	m->pending_head = IOMMU_NO_WIN;
	pthread_mutex_init(&m->lock, NULL);
	switch (gran) {
	case GRAN_4K:
		m->gran = 4096;
		break;
	case GRAN_2M:
		m->gran = 2ull << 20;
		break;
	case GRAN_REGION:
		/* guest_mem makes every region the same size. */
		m->gran = gm->r[0].size;
		break;
	}
	if (m->gran == 0 || (m->gran & (m->gran - 1)) != 0) {
		/* Region-sized IOVA slots must be aligned: round the stride up. */
		uint64_t g = 1;

		while (g < m->gran)
			g <<= 1;
		m->gran = g;
	}
	if (nslots < 16)
		nslots = 16;
	m->nslots = nslots;
	m->low_base = FE_ALIGN_UP(LOW_START, m->gran);
	lowfit = m->low_base + m->gran <= MSI_LO ?
		 (uint32_t)((MSI_LO - m->low_base) / m->gran) : 0;
	m->nlow = nslots / 2 < lowfit ? nslots / 2 : lowfit;
	m->high_base = FE_ALIGN_UP(HIGH_START, m->gran);
	m->static_base = FE_ALIGN_UP(m->high_base +
				     (uint64_t)(nslots - m->nlow) * m->gran + GIB,
				     m->gran);
	m->static_next = m->static_base;

	m->slot = calloc(nslots, sizeof(*m->slot));
	if (m->slot == NULL)
		return -ENOMEM;
	m->npools = split ? 2 : 1;
	for (p = 0; p < m->npools; p++) {
		m->pool[p].cap = nslots;
		m->pool[p].q = calloc(nslots, sizeof(uint32_t));
		if (m->pool[p].q == NULL)
			return -ENOMEM;
	}
	for (i = 0; i < nslots; i++) {
		m->slot[i].iova = slot_iova(m, i);
		m->slot[i].size = m->gran;
		m->slot[i].next_pending = IOMMU_NO_WIN;
		freeq_push(&m->pool[i % m->npools], i);
	}
	/* Shuffle so consecutive buffers get unrelated, mixed low/high IOVAs. */
	for (p = 0; p < m->npools; p++) {
		uint32_t *q = m->pool[p].q;

		for (i = m->pool[p].count - 1; i > 0; i--) {
			j = (uint32_t)(fe_rand(&rnd) % (i + 1));
			t = q[i];
			q[i] = q[j];
			q[j] = t;
		}
	}
	return 0;
}

void
iommu_fini(struct iommu *m)
{
	free(m->slot);
	free(m->pool[0].q);
	free(m->pool[1].q);
	m->slot = NULL;
	m->pool[0].q = m->pool[1].q = NULL;
}

/* Granule-aligned span of guest memory containing [gpa, gpa+len). */
static int
granule_span(const struct iommu *m, uint64_t gpa, uint64_t len,
	     uint64_t *base, uint64_t *size)
{
	const struct gm_region *r = guest_mem_region(m->gm, gpa);
	uint64_t end;

	if (r == NULL || len == 0 || gpa + len - r->gpa > r->size)
		return -EINVAL;
	if (m->gran_kind == GRAN_REGION) {
		*base = r->gpa;
		*size = r->size;
		return 0;
	}
	*base = FE_ALIGN_DOWN(gpa, m->gran);
	end = FE_ALIGN_UP(gpa + len, m->gran);
	*size = end - *base;
	return 0;
}

int
iommu_map_buf(struct iommu *m, uint64_t gpa, uint32_t len, uint8_t perm,
	      unsigned int pool, uint32_t owner, uint32_t *win, uint64_t *iova)
{
	struct iommu_freeq *f;
	struct iommu_win *w;
	uint64_t base, size;
	uint32_t s;

	*win = IOMMU_NO_WIN;
	if (m->mode == IOMMU_OFF || m->mode == IOMMU_PT) {
		*iova = gpa;
		return 0;
	}
	if (granule_span(m, gpa, len, &base, &size) < 0)
		return -EINVAL;
	if (size > m->gran)
		return -EINVAL;
	/*
	 * Prefaulted mappings are permanent, so buffers sharing a granule
	 * and a permission share the window, like a driver that maps its
	 * whole buffer pool once: 2m and region pages then mean few entries.
	 */
	if (m->mode == IOMMU_PREFAULT) {
		for (s = 0; s < m->nslots; s++) {
			w = &m->slot[s];
			if (w->state == WIN_MAPPED && w->gpa == base &&
			    w->size == size && w->perm == perm) {
				*win = s;
				*iova = w->iova + (gpa - base);
				return 0;
			}
		}
	}
	f = &m->pool[pool % m->npools];
	if (f->count == 0)
		return -ENOSPC;
	s = f->q[f->head];
	f->head = (f->head + 1) % f->cap;
	f->count--;
	w = &m->slot[s];
	w->gpa = base;
	w->size = size;
	w->perm = perm;
	w->owner = owner;
	w->answered = 0;
	w->state = WIN_MAPPED;
	w->ever_mapped = true;
	w->next_pending = IOMMU_NO_WIN;
	*win = s;
	*iova = w->iova + (gpa - base);
	return 0;
}

int
iommu_map_static(struct iommu *m, uint64_t gpa, uint64_t len, uint8_t perm,
		 uint64_t *iova)
{
	struct iommu_win *w;
	uint64_t base, size;

	if (m->mode == IOMMU_OFF || m->mode == IOMMU_PT) {
		*iova = gpa;
		return 0;
	}
	if (m->nstat == IOMMU_MAX_STATIC)
		return -ENOSPC;
	if (granule_span(m, gpa, len, &base, &size) < 0)
		return -EINVAL;
	w = &m->stat[m->nstat++];
	w->iova = m->static_next;
	w->size = size;
	w->gpa = base;
	w->perm = perm;
	w->state = WIN_MAPPED;
	w->ever_mapped = true;
	w->owner = UINT32_MAX;
	/* A granule of IOVA hole between ring windows catches overruns. */
	m->static_next += size + m->gran;
	*iova = w->iova + (gpa - base);
	return 0;
}

int
iommu_unmap(struct iommu *m, uint32_t win)
{
	struct iommu_win *w;

	if (win >= m->nslots)
		return -EINVAL;
	w = &m->slot[win];
	if (w->state != WIN_MAPPED)
		return -EALREADY;
	if (m->mode == IOMMU_LAZY) {
		w->state = WIN_PENDING;
		w->next_pending = m->pending_head;
		m->pending_head = win;
		m->npending++;
	} else {
		w->state = WIN_UNMAPPING;
	}
	return 0;
}

static void
slot_free(struct iommu *m, uint32_t s)
{
	m->slot[s].state = WIN_FREE;
	m->slot[s].next_pending = IOMMU_NO_WIN;
	freeq_push(&m->pool[s % m->npools], s);
}

void
iommu_unmap_done(struct iommu *m, uint32_t win)
{
	if (win < m->nslots && m->slot[win].state == WIN_UNMAPPING)
		slot_free(m, win);
}

uint32_t
iommu_flush_done(struct iommu *m,
		 void (*cb)(void *arg, uint32_t owner, uint32_t win),
		 void *arg)
{
	uint32_t s = m->pending_head, next, n = 0;

	while (s != IOMMU_NO_WIN) {
		next = m->slot[s].next_pending;
		if (cb != NULL)
			cb(arg, m->slot[s].owner, s);
		slot_free(m, s);
		s = next;
		n++;
	}
	m->pending_head = IOMMU_NO_WIN;
	m->npending = 0;
	/* The flush dropped every device-side entry, live mappings' too. */
	m->flush_gen++;
	return n;
}

static enum iommu_resolve_rc
resolve_win(const struct iommu_win *w, uint64_t iova, uint8_t perm,
	    const struct guest_mem *gm, struct vu_iotlb *out)
{
	if (w->state != WIN_MAPPED)
		return w->ever_mapped ? RESOLVE_REVOKED : RESOLVE_UNMAPPED;
	if (iova - w->iova >= w->size)
		return RESOLVE_UNMAPPED;
	if ((perm & w->perm) != perm || perm == 0)
		return RESOLVE_PERM;
	out->iova = w->iova;
	out->size = w->size;
	out->uaddr = (uintptr_t)guest_mem_va(gm, w->gpa);
	out->perm = w->perm;
	return RESOLVE_OK;
}

enum iommu_resolve_rc
iommu_resolve(const struct iommu *m, uint64_t iova, uint8_t perm,
	      struct vu_iotlb *out)
{
	uint32_t s, i;

	memset(out, 0, sizeof(*out));
	out->type = VU_IOTLB_UPDATE;
	switch (m->mode) {
	case IOMMU_OFF:
		return RESOLVE_UNMAPPED;
	case IOMMU_PT: {
		const struct gm_region *r = guest_mem_region(m->gm, iova);
		uint64_t base, size;

		if (r == NULL || perm == 0 || (perm & VU_ACCESS_RW) != perm)
			return r == NULL ? RESOLVE_UNMAPPED : RESOLVE_PERM;
		if (m->gran_kind == GRAN_REGION) {
			base = r->gpa;
			size = r->size;
		} else {
			base = FE_ALIGN_DOWN(iova, m->gran);
			size = m->gran;
		}
		out->iova = base;
		out->size = size;
		out->uaddr = (uintptr_t)(r->va + (base - r->gpa));
		out->perm = VU_ACCESS_RW;
		return RESOLVE_OK;
	}
	default:
		break;
	}
	s = iova_slot(m, iova);
	if (s != UINT32_MAX)
		return resolve_win(&m->slot[s], iova, perm, m->gm, out);
	for (i = 0; i < m->nstat; i++)
		if (iova >= m->stat[i].iova && iova - m->stat[i].iova < m->stat[i].size)
			return resolve_win(&m->stat[i], iova, perm, m->gm, out);
	return RESOLVE_UNMAPPED;
}

struct iommu_win *
iommu_find(struct iommu *m, uint64_t iova)
{
	uint32_t s, i;

	if (m->mode == IOMMU_OFF || m->mode == IOMMU_PT)
		return NULL;
	s = iova_slot(m, iova);
	if (s != UINT32_MAX)
		return &m->slot[s];
	for (i = 0; i < m->nstat; i++)
		if (iova >= m->stat[i].iova && iova - m->stat[i].iova < m->stat[i].size)
			return &m->stat[i];
	return NULL;
}

uint32_t
iommu_note_answer(struct iommu *m, struct iommu_win *w)
{
	if (w->answered_gen != m->flush_gen) {
		w->answered_gen = m->flush_gen;
		w->answered = 0;
	}
	return ++w->answered;
}

void
iommu_for_each_mapped(const struct iommu *m,
		      void (*cb)(void *arg, const struct iommu_win *w),
		      void *arg)
{
	uint32_t i;

	for (i = 0; i < m->nstat; i++)
		cb(arg, &m->stat[i]);
	for (i = 0; i < m->nslots; i++)
		if (m->slot[i].state == WIN_MAPPED)
			cb(arg, &m->slot[i]);
}

const struct iommu_win *
iommu_win(const struct iommu *m, uint32_t win)
{
	return win < m->nslots ? &m->slot[win] : NULL;
}

const char *
iommu_mode_name(enum iommu_mode mode)
{
	static const char *const names[] = {
		[IOMMU_OFF] = "off", [IOMMU_PT] = "pt",
		[IOMMU_STRICT] = "strict", [IOMMU_LAZY] = "lazy",
		[IOMMU_PREFAULT] = "prefault",
	};

	return names[mode];
}

const char *
iommu_perm_name(uint8_t perm)
{
	static const char *const names[] = { "none", "RO", "WO", "RW" };

	return names[perm & 3];
}
