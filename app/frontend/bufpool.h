/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * Packet buffers of one virtqueue. Idle buffers wait in a FIFO, so a
 * buffer the device gave back rests (revoked, canary-filled) for a whole
 * ring's worth of posts before it is used again: long enough for a stale
 * device-side translation to be caught writing into it.
 */

#ifndef FE_BUFPOOL_H
#define FE_BUFPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "guest_mem.h"

#define CANARY_BYTE	0xc5
/* RX buffers get this much canary at every post, in every mode. */
#define CANARY_HEAD	64

struct fe_buf {
	uint64_t gpa;
	uint8_t *va;
	uint64_t addr;		/* address the device was given */
	uint32_t win;		/* IOMMU window, IOMMU_NO_WIN if none */
	uint32_t len;		/* TX: bytes posted */
	uint32_t csum;		/* TX: checksum of what was posted */
	bool posted;
	bool canary;		/* whole buffer holds the canary */
};

struct bufpool {
	struct fe_buf *b;
	uint32_t n;
	uint32_t cap;		/* bytes per buffer, a power of two <= 4096 */
	uint32_t *idle;
	uint32_t head;
	uint32_t count;
};

/**
 * Carve @p n buffers of @p cap bytes from guest memory, spread over the
 * regions starting with region @p first.
 */
int bufpool_init(struct bufpool *p, struct guest_mem *gm, uint32_t n,
		 uint32_t cap, unsigned int first);
void bufpool_fini(struct bufpool *p);

/** Oldest idle buffer, or UINT32_MAX. */
uint32_t bufpool_get(struct bufpool *p);
void bufpool_put(struct bufpool *p, uint32_t id);

void canary_fill(uint8_t *p, uint32_t len);
/** @return offset of the first changed byte, or -1 if intact. */
int canary_check(const uint8_t *p, uint32_t len);

#endif /* FE_BUFPOOL_H */
