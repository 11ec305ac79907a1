/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bufpool.h"
#include "iommu.h"

int
bufpool_init(struct bufpool *p, struct guest_mem *gm, uint32_t n,
	     uint32_t cap, unsigned int first)
{
	uint32_t i;

	memset(p, 0, sizeof(*p));
	p->b = calloc(n, sizeof(*p->b));
	p->idle = calloc(n, sizeof(*p->idle));
	if (p->b == NULL || p->idle == NULL)
		return -ENOMEM;
	p->n = n;
	p->cap = cap;
	for (i = 0; i < n; i++) {
		/* Neighbouring buffers live in different regions. */
		uint64_t gpa = guest_mem_alloc(gm, first + i, cap, cap);

		if (gpa == 0)
			return -ENOMEM;
		p->b[i].gpa = gpa;
		p->b[i].va = guest_mem_va(gm, gpa);
		p->b[i].addr = gpa;
		p->b[i].win = IOMMU_NO_WIN;
		p->idle[i] = i;
	}
	p->count = n;
	return 0;
}

void
bufpool_fini(struct bufpool *p)
{
	free(p->b);
	free(p->idle);
	memset(p, 0, sizeof(*p));
}

uint32_t
bufpool_get(struct bufpool *p)
{
	uint32_t id;

	if (p->count == 0)
		return UINT32_MAX;
	id = p->idle[p->head];
	p->head = (p->head + 1) % p->n;
	p->count--;
	return id;
}

void
bufpool_put(struct bufpool *p, uint32_t id)
{
	p->idle[(p->head + p->count) % p->n] = id;
	p->count++;
}

void
canary_fill(uint8_t *p, uint32_t len)
{
	memset(p, CANARY_BYTE, len);
}

int
canary_check(const uint8_t *p, uint32_t len)
{
	uint64_t pat = 0x0101010101010101ull * CANARY_BYTE, w;
	uint32_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		if (w != pat)
			break;
	}
	for (; i < len; i++)
		if (p[i] != CANARY_BYTE)
			return (int)i;
	return -1;
}
