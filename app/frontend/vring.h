/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * Driver side of a split virtqueue: what a guest's virtio driver does.
 * Every chain is a single descriptor; the cookie ties it to a buffer.
 */

#ifndef FE_VRING_H
#define FE_VRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vu_proto.h"

struct vring_drv {
	uint16_t num;
	bool event_idx;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t avail_idx;	/* next free avail slot (our shadow) */
	uint16_t kicked_idx;	/* avail index at the last kick decision */
	uint16_t last_used;	/* next used entry to consume */
	uint16_t free_head;
	uint16_t nfree;
	uint16_t *next_free;
	uint32_t *cookie;	/* per descriptor; UINT32_MAX when free */
};

#define VRING_NO_COOKIE	UINT32_MAX

/* Bytes each part of a split ring takes for @p num entries. */
static inline size_t
vring_desc_size(uint16_t num)
{
	return sizeof(struct vring_desc) * num;
}

static inline size_t
vring_avail_size(uint16_t num)
{
	return sizeof(struct vring_avail) + sizeof(uint16_t) * num + 2;
}

static inline size_t
vring_used_size(uint16_t num)
{
	return sizeof(struct vring_used) + sizeof(struct vring_used_elem) * num + 2;
}

/** Attach to zeroed ring memory. @p num must be a power of two. */
int vring_drv_init(struct vring_drv *vr, uint16_t num, bool event_idx,
		   void *desc, void *avail, void *used);
void vring_drv_fini(struct vring_drv *vr);

/**
 * Put one buffer in a free descriptor and in the avail ring (not yet
 * visible: see vring_drv_publish()).
 * @return descriptor index, or -ENOSPC.
 */
int vring_drv_add(struct vring_drv *vr, uint64_t addr, uint32_t len,
		  bool device_writes, uint32_t cookie);

/** Make added buffers visible to the device. */
void vring_drv_publish(struct vring_drv *vr);

/**
 * Take one used entry.
 * @return 1 with *cookie and *len; 0 if none; -EPROTO if the device
 * returned a descriptor id that is out of range or not outstanding
 * (*bad_id tells which).
 */
int vring_drv_get(struct vring_drv *vr, uint32_t *cookie, uint32_t *len,
		  uint32_t *bad_id);

/** Should the device be kicked for what was published since last time? */
bool vring_drv_need_kick(struct vring_drv *vr);

/** Used entries waiting to be taken. */
static inline uint16_t
vring_drv_pending(const struct vring_drv *vr)
{
	return (uint16_t)(__atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE) -
			  vr->last_used);
}

/** Descriptors the device holds. */
static inline uint16_t
vring_drv_inflight(const struct vring_drv *vr)
{
	return vr->num - vr->nfree;
}

#endif /* FE_VRING_H */
