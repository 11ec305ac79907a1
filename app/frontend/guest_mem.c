/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <linux/memfd.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guest_mem.h"
#include "util.h"

#define GM_HUGE_2M	(2ull << 20)
#define GM_GIB		(1ull << 30)

/* The x86 MSI window: no guest RAM there, as on real machines. */
#define GM_MSI_LO	0xfee00000ull
#define GM_MSI_HI	0xfef00000ull

static int
make_memfd(uint64_t len, bool allow_huge, bool *huge)
{
	int fd = -1;

	*huge = false;
	if (allow_huge) {
		fd = memfd_create("iovhost-fe-guest",
				  MFD_CLOEXEC | MFD_HUGETLB | MFD_HUGE_2MB);
		if (fd >= 0 && ftruncate(fd, len) == 0) {
			*huge = true;
			return fd;
		}
		if (fd >= 0)
			close(fd);
	}
	fd = memfd_create("iovhost-fe-guest", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, len) < 0) {
		int err = errno;

		close(fd);
		return -err;
	}
	return fd;
}

/*
 * Region k starts on its own GiB boundary with a hole after it, so the
 * regions are neither contiguous in guest-physical space nor ordered
 * like their file offsets; region 0 sits below 4 GiB where it fits.
 */
static uint64_t
region_gpa(unsigned int k, unsigned int n, uint64_t size)
{
	uint64_t stride = FE_ALIGN_UP(size, GM_GIB) + GM_GIB;

	if (k == 0)
		return size <= GM_MSI_LO - GM_GIB ? GM_GIB :
		       4 * GM_GIB + (uint64_t)n * stride;
	/* Reverse order: guest-physical order differs from region order. */
	return 4 * GM_GIB + (uint64_t)(n - k) * stride;
}

static int
mem_setup(struct guest_mem *gm, unsigned int total_mb,
	  unsigned int nregions, bool allow_huge)
{
	uint64_t total = (uint64_t)total_mb << 20;
	uint64_t rsize, guard, off;
	unsigned int k;
	int fd;

	memset(gm, 0, sizeof(*gm));
	gm->fd = -1;
	if (nregions < 1 || nregions > VU_MAX_REGIONS)
		return -EINVAL;
	rsize = FE_ALIGN_UP(total / nregions, GM_HUGE_2M);
	if (rsize == 0)
		return -EINVAL;
	fd = make_memfd(rsize * nregions, allow_huge, &gm->hugetlb);
	if (fd < 0)
		return fd;
	gm->fd = fd;
	gm->page = gm->hugetlb ? GM_HUGE_2M : (uint64_t)sysconf(_SC_PAGESIZE);
	gm->nregions = nregions;

	/* Guard gaps keep regions apart in userspace_addr space too. */
	guard = GM_HUGE_2M;
	gm->reserve_len = (rsize + guard) * nregions + GM_HUGE_2M;
	gm->reserve = mmap(NULL, gm->reserve_len, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (gm->reserve == MAP_FAILED)
		return -errno;
	off = FE_ALIGN_UP((uintptr_t)gm->reserve, GM_HUGE_2M) -
	      (uintptr_t)gm->reserve;
	for (k = 0; k < nregions; k++) {
		struct gm_region *r = &gm->r[k];
		/* Region k maps the file back to front: offsets differ from order. */
		uint64_t foff = (uint64_t)(nregions - 1 - k) * rsize;
		void *va;

		va = mmap(gm->reserve + off, rsize, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, foff);
		if (va == MAP_FAILED)
			return -errno;
		r->va = va;
		r->size = rsize;
		r->mmap_offset = foff;
		r->gpa = region_gpa(k, nregions, rsize);
		off += rsize + guard;
	}
	return 0;
}

int
guest_mem_init(struct guest_mem *gm, unsigned int total_mb,
	       unsigned int nregions, bool allow_huge)
{
	int rc = mem_setup(gm, total_mb, nregions, allow_huge);

	/* Huge pages may exist yet be too few: fall back to small pages. */
	if (rc < 0 && gm->hugetlb) {
		fe_log("hugetlb guest memory failed (%s), using normal pages",
		       strerror(-rc));
		guest_mem_fini(gm);
		rc = mem_setup(gm, total_mb, nregions, false);
	}
	if (rc < 0)
		guest_mem_fini(gm);
	return rc;
}

void
guest_mem_fini(struct guest_mem *gm)
{
	if (gm->reserve != NULL && gm->reserve != MAP_FAILED)
		munmap(gm->reserve, gm->reserve_len);
	if (gm->fd >= 0)
		close(gm->fd);
	gm->fd = -1;
	gm->reserve = NULL;
}

uint32_t
guest_mem_table(const struct guest_mem *gm, struct vu_mem_table *t, int *fds)
{
	unsigned int k;

	memset(t, 0, sizeof(*t));
	t->nregions = gm->nregions;
	for (k = 0; k < gm->nregions; k++) {
		t->regions[k].guest_phys_addr = gm->r[k].gpa;
		t->regions[k].memory_size = gm->r[k].size;
		t->regions[k].userspace_addr = (uintptr_t)gm->r[k].va;
		t->regions[k].mmap_offset = gm->r[k].mmap_offset;
		fds[k] = gm->fd;
	}
	return 8 + gm->nregions * sizeof(struct vu_mem_region);
}

uint64_t
guest_mem_alloc(struct guest_mem *gm, unsigned int reg, uint64_t size,
		uint64_t align)
{
	unsigned int i;

	for (i = 0; i < gm->nregions; i++) {
		struct gm_region *r = &gm->r[(reg + i) % gm->nregions];
		uint64_t at = FE_ALIGN_UP(r->used, align);

		if (at + size <= r->size) {
			r->used = at + size;
			return r->gpa + at;
		}
	}
	return 0;
}

const struct gm_region *
guest_mem_region(const struct guest_mem *gm, uint64_t gpa)
{
	unsigned int k;

	for (k = 0; k < gm->nregions; k++)
		if (gpa >= gm->r[k].gpa && gpa - gm->r[k].gpa < gm->r[k].size)
			return &gm->r[k];
	return NULL;
}

void *
guest_mem_va(const struct guest_mem *gm, uint64_t gpa)
{
	const struct gm_region *r = guest_mem_region(gm, gpa);

	return r != NULL ? r->va + (gpa - r->gpa) : NULL;
}
