/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vring.h"

/* Where the driver publishes used_event and reads avail_event. */
static inline uint16_t *
used_event(struct vring_drv *vr)
{
	return &vr->avail->ring[vr->num];
}

static inline uint16_t *
avail_event(struct vring_drv *vr)
{
	return (uint16_t *)&vr->used->ring[vr->num];
}

int
vring_drv_init(struct vring_drv *vr, uint16_t num, bool event_idx,
	       void *desc, void *avail, void *used)
{
	uint16_t i;

	memset(vr, 0, sizeof(*vr));
	if (num == 0 || (num & (num - 1)) != 0)
		return -EINVAL;
	vr->num = num;
	vr->event_idx = event_idx;
	vr->desc = desc;
	vr->avail = avail;
	vr->used = used;
	vr->next_free = calloc(num, sizeof(*vr->next_free));
	vr->cookie = calloc(num, sizeof(*vr->cookie));
	if (vr->next_free == NULL || vr->cookie == NULL)
		return -ENOMEM;
	for (i = 0; i < num; i++) {
		vr->next_free[i] = (uint16_t)(i + 1);
		vr->cookie[i] = VRING_NO_COOKIE;
	}
	vr->nfree = num;
	/*
	 * We poll and ignore call eventfds: tell the device not to bother.
	 * With EVENT_IDX the flag is ignored and used_event is kept far
	 * ahead of the used index instead (see vring_drv_get()).
	 */
	vr->avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	*used_event(vr) = 0x8000;
	return 0;
}

void
vring_drv_fini(struct vring_drv *vr)
{
	free(vr->next_free);
	free(vr->cookie);
	vr->next_free = NULL;
	vr->cookie = NULL;
}

int
vring_drv_add(struct vring_drv *vr, uint64_t addr, uint32_t len,
	      bool device_writes, uint32_t cookie)
{
	uint16_t id;

	if (vr->nfree == 0)
		return -ENOSPC;
	id = vr->free_head;
	vr->free_head = vr->next_free[id];
	vr->nfree--;
	vr->desc[id].addr = addr;
	vr->desc[id].len = len;
	vr->desc[id].flags = device_writes ? VRING_DESC_F_WRITE : 0;
	vr->desc[id].next = 0;
	vr->cookie[id] = cookie;
	vr->avail->ring[vr->avail_idx & (vr->num - 1)] = id;
	vr->avail_idx++;
	return id;
}

void
vring_drv_publish(struct vring_drv *vr)
{
	/* Descriptor and ring entry stores must be visible before the index. */
	__atomic_store_n(&vr->avail->idx, vr->avail_idx, __ATOMIC_RELEASE);
}

int
vring_drv_get(struct vring_drv *vr, uint32_t *cookie, uint32_t *len,
	      uint32_t *bad_id)
{
	uint16_t used_idx = __atomic_load_n(&vr->used->idx, __ATOMIC_ACQUIRE);
	struct vring_used_elem e;

	if (used_idx == vr->last_used)
		return 0;
	e = vr->used->ring[vr->last_used & (vr->num - 1)];
	vr->last_used++;
	if (vr->event_idx)
		*used_event(vr) = (uint16_t)(vr->last_used + 0x8000);
	if (e.id >= vr->num || vr->cookie[e.id] == VRING_NO_COOKIE) {
		*bad_id = e.id;
		return -EPROTO;
	}
	*cookie = vr->cookie[e.id];
	*len = e.len;
	vr->cookie[e.id] = VRING_NO_COOKIE;
	vr->next_free[e.id] = vr->free_head;
	vr->free_head = (uint16_t)e.id;
	vr->nfree++;
	return 1;
}

/* virtio 1.2, 2.7.10: has new_idx crossed event since old_idx? */
static inline bool
need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool
vring_drv_need_kick(struct vring_drv *vr)
{
	uint16_t old = vr->kicked_idx, now = vr->avail_idx;
	bool kick;

	/* The index store must be visible before we read the device's wish. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vr->event_idx)
		kick = need_event(__atomic_load_n(avail_event(vr), __ATOMIC_RELAXED),
				  now, old);
	else
		kick = !(__atomic_load_n(&vr->used->flags, __ATOMIC_RELAXED) &
			 VRING_USED_F_NO_NOTIFY);
	vr->kicked_idx = now;
	return kick && now != old;
}
