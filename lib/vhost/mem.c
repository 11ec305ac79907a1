/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


#include "vhost.h"

#ifndef F_GET_SEALS
#define F_GET_SEALS 1034
#endif
#ifndef F_SEAL_SHRINK
#define F_SEAL_SHRINK 0x0002
#endif

void *
iovh_map_shared(int fd, uint64_t len)
{
	void *addr;

	/*
	 * An application that called mlockall(MCL_FUTURE) (testpmd and
	 * OVS-DPDK do) would have the kernel fault in and lock every page of
	 * a readable mapping at mmap() time: a sparse guest region would be
	 * allocated in full, while the control thread waits. An inaccessible
	 * mapping is not populated; unlocked, it stays lazy when it becomes
	 * accessible.
	 */
	addr = mmap(NULL, len, PROT_NONE, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED)
		return NULL;
	munlock(addr, len);
	if (mprotect(addr, len, PROT_READ | PROT_WRITE) < 0) {
		int err = errno;

		munmap(addr, len);
		errno = err;
		return NULL;
	}
	return addr;
}

uint64_t
iovh_fva_to_hva(const struct iovh_mem *mem, uint64_t fva, uint64_t *len)
{
	uint32_t i;

	for (i = 0; i < mem->nregions; i++) {
		const struct iovh_mem_region *r = &mem->r[i];
		uint64_t off = fva - r->fva;

		if (off < r->size) {
			if (*len > r->size - off)
				*len = r->size - off;
			return r->hva + off;
		}
	}
	return 0;
}

uint64_t
iovh_fva_to_gpa(const struct iovh_mem *mem, uint64_t fva)
{
	uint32_t i;

	for (i = 0; i < mem->nregions; i++) {
		const struct iovh_mem_region *r = &mem->r[i];
		uint64_t off = fva - r->fva;

		if (off < r->size)
			return r->gpa + off;
	}
	return 0;
}

const char *
iovh_mem_region_check(const struct iovh_mem *mem,
		const struct vhu_mem_region *reg)
{
	uint64_t g = reg->guest_phys_addr, u = reg->userspace_addr;
	uint64_t n = reg->memory_size;
	uint32_t i;

	if (n == 0)
		return "memory_size is 0";
	/*
	 * Page-aligned addresses and offset keep every translation's
	 * alignment: an aligned ring address then lands on an aligned host
	 * address, which the atomics on the rings need.
	 */
	if (((g | u | reg->mmap_offset) & 0xfff) != 0)
		return "guest_phys_addr, userspace_addr or mmap_offset is not 4 KiB aligned";
	/* The last byte must be addressable: start + size - 1 can't wrap. */
	if (g + (n - 1) < g)
		return "guest_phys_addr + memory_size wraps";
	if (u + (n - 1) < u)
		return "userspace_addr + memory_size wraps";
	if (reg->mmap_offset + n < n)
		return "mmap_offset + memory_size wraps";
	for (i = 0; i < mem->nregions; i++) {
		const struct iovh_mem_region *r = &mem->r[i];

		if (g <= r->gpa + (r->size - 1) && r->gpa <= g + (n - 1))
			return "guest-physical range overlaps another region";
		if (u <= r->fva + (r->size - 1) && r->fva <= u + (n - 1))
			return "userspace_addr range overlaps another region";
	}
	return NULL;
}

/*
 * A front-end that shrinks the file under a live mapping would make our
 * next access to the cut-off pages raise SIGBUS. The size is checked here;
 * a seal against shrinking (QEMU's memfd backend sets one) makes the check
 * final. Without a seal the poll threads rely on the SIGBUS guard.
 */
int
iovh_mem_region_map(struct iovh_mem_region *r,
		const struct vhu_mem_region *reg, int fd)
{
	struct stat st;
	uint64_t len, align;
	void *addr;
	int seals;

	if (fstat(fd, &st) < 0) {
		IOVH_LOG_CONFIG(ERR, "region fd %d: fstat: %s", fd,
				strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		IOVH_LOG_CONFIG(ERR, "region fd %d is not a regular file", fd);
		return -1;
	}
	len = reg->mmap_offset + reg->memory_size;
	if ((uint64_t)st.st_size < len) {
		IOVH_LOG_CONFIG(ERR,
			"region fd %d: file is %jd bytes, region needs %" PRIu64,
			fd, (intmax_t)st.st_size, len);
		return -1;
	}
	/* hugetlbfs reports its page size here and wants whole pages. */
	align = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
	len = RTE_ALIGN_CEIL(len, align);
	addr = iovh_map_shared(fd, len);
	if (addr == NULL) {
		IOVH_LOG_CONFIG(ERR, "region fd %d: mmap of %" PRIu64 " bytes: %s",
				fd, len, strerror(errno));
		return -1;
	}
	/* Guest memory has no business in our core dumps. */
	madvise(addr, len, MADV_DONTDUMP);
	seals = fcntl(fd, F_GET_SEALS);
	r->gpa = reg->guest_phys_addr;
	r->size = reg->memory_size;
	r->fva = reg->userspace_addr;
	r->hva = (uint64_t)(uintptr_t)addr + reg->mmap_offset;
	r->mmap_addr = addr;
	r->mmap_size = len;
	r->fd = fd;
	IOVH_LOG_CONFIG(INFO,
		"region: gpa 0x%" PRIx64 " size 0x%" PRIx64 " fva 0x%" PRIx64
		" off 0x%" PRIx64 " -> %p%s",
		r->gpa, r->size, r->fva, reg->mmap_offset, addr,
		(seals > 0 && (seals & F_SEAL_SHRINK)) ? " (sealed)" : "");
	return 0;
}

void
iovh_mem_region_unmap(struct iovh_mem_region *r)
{
	if (r->mmap_addr != NULL) {
		iovh_sigbus_unguard(r->mmap_addr);
		munmap(r->mmap_addr, r->mmap_size);
	}
	if (r->fd >= 0)
		close(r->fd);
	r->mmap_addr = NULL;
	r->fd = -1;
}

void
iovh_mem_free(struct iovh_mem *mem)
{
	uint32_t i;

	if (mem == NULL)
		return;
	for (i = 0; i < mem->nregions; i++)
		iovh_mem_region_unmap(&mem->r[i]);
	free(mem);
}

void
iovh_mem_insert(struct iovh_mem *mem, const struct iovh_mem_region *r)
{
	uint32_t i = mem->nregions;

	while (i > 0 && mem->r[i - 1].gpa > r->gpa) {
		mem->r[i] = mem->r[i - 1];
		i--;
	}
	mem->r[i] = *r;
	mem->nregions++;
}
