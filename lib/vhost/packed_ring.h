/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef IOVH_PACKED_RING_H
#define IOVH_PACKED_RING_H

/**
 * @file
 * Packed virtqueue layout (virtio 1.2, 2.8): one descriptor ring that the
 * driver and the device both write, and two event suppression areas.
 */

#include <stdint.h>

/** A packed ring descriptor (also an indirect table entry). */
struct vring_packed_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t id;
	uint16_t flags;
};

/* Descriptor flags: NEXT, WRITE and INDIRECT as in split rings, plus the
 * two bits whose relation to the wrap counters says who owns the slot. */
#define VRING_PACKED_DESC_F_AVAIL	(1u << 7)
#define VRING_PACKED_DESC_F_USED	(1u << 15)

/** Driver or device event suppression area. */
struct vring_packed_desc_event {
	uint16_t off_wrap;	/**< Bits 0-14 offset, bit 15 wrap counter. */
	uint16_t flags;		/**< One of VRING_PACKED_EVENT_FLAG_*. */
};

#define VRING_PACKED_EVENT_FLAG_ENABLE	0
#define VRING_PACKED_EVENT_FLAG_DISABLE	1
/** Only with VIRTIO_RING_F_EVENT_IDX: notify at off_wrap. */
#define VRING_PACKED_EVENT_FLAG_DESC	2
#define VRING_PACKED_EVENT_F_WRAP_CTR	15

#endif /* IOVH_PACKED_RING_H */
