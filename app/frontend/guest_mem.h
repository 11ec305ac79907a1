/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef FE_GUEST_MEM_H
#define FE_GUEST_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include "vu_proto.h"

struct gm_region {
	uint64_t gpa;		/* guest-physical base */
	uint64_t size;
	uint8_t *va;		/* our mapping: the userspace_addr space */
	uint64_t mmap_offset;	/* offset of this region in the memfd */
	uint64_t used;		/* bump allocator cursor */
};

struct guest_mem {
	int fd;
	bool hugetlb;
	uint64_t page;		/* backing page size */
	unsigned int nregions;
	struct gm_region r[VU_MAX_REGIONS];
	uint8_t *reserve;	/* whole VA reservation, regions plus guard gaps */
	uint64_t reserve_len;
};

/**
 * Create @p total_mb of guest memory as one memfd (hugetlb if the
 * kernel has free huge pages, else normal pages), split into @p nregions
 * regions placed at scattered guest-physical addresses and mapped at
 * separate, non-adjacent virtual addresses.
 */
int guest_mem_init(struct guest_mem *gm, unsigned int total_mb,
		   unsigned int nregions, bool allow_huge);

void guest_mem_fini(struct guest_mem *gm);

/** Fill a SET_MEM_TABLE payload; returns its size. */
uint32_t guest_mem_table(const struct guest_mem *gm, struct vu_mem_table *t,
			 int *fds);

/**
 * Carve @p size bytes aligned to @p align from region @p reg (or the
 * next one with room). @return the guest-physical address, 0 if full.
 */
uint64_t guest_mem_alloc(struct guest_mem *gm, unsigned int reg,
			 uint64_t size, uint64_t align);

/** Region holding @p gpa, or NULL. */
const struct gm_region *guest_mem_region(const struct guest_mem *gm,
					 uint64_t gpa);

/** Our pointer for @p gpa (NULL outside guest memory). */
void *guest_mem_va(const struct guest_mem *gm, uint64_t gpa);

#endif /* FE_GUEST_MEM_H */
