/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * Front-end message handlers. Every field is checked before it is used and
 * every failure is logged with the message and field it concerns. Handlers
 * run on the control thread with the control lock held; anything a poll
 * thread may read is changed only after iovh_dev_pause() (see vhost.h).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>


#include <rte_cycles.h>

#include "ctrl.h"
#include "socket.h"
#include "vhost.h"

/** What a handler tells the dispatcher. */
enum h_result {
	H_OK = 0,	/* success; explicit reply (if any) is filled */
	H_ERR,		/* refused; connection and state remain sound */
	H_FATAL,	/* the connection can't go on */
};

struct msg_ctx {
	struct iovh_dev *dev;
	struct vhu_msg *msg;
	struct vhu_msg *reply;
	const char *name;
};

typedef enum h_result (*msg_handler)(struct msg_ctx *ctx);

/** Error lines one device may log per second; the rest are counted. */
#define MERR_PER_SEC 20

/*
 * A front-end repeating a bad message must not be able to flood the log:
 * past MERR_PER_SEC lines in a second, errors are only counted, and the
 * count is logged when the next second starts.
 */
static bool
merr_allowed(struct iovh_dev *dev)
{
	uint64_t now = iovh_now_ms() / 1000;

	if (now != dev->err_sec) {
		if (dev->err_suppressed != 0)
			IOVH_LOG_CONFIG(ERR, "(%s) %u more message errors "
				"not logged", dev->path, dev->err_suppressed);
		dev->err_sec = now;
		dev->err_count = 0;
		dev->err_suppressed = 0;
	}
	if (dev->err_count < MERR_PER_SEC) {
		dev->err_count++;
		return true;
	}
	dev->err_suppressed++;
	return false;
}

#define MERR(ctx, fmt, ...) do { \
	if (merr_allowed((ctx)->dev)) \
		IOVH_LOG_CONFIG(ERR, "(%s) %s: " fmt, (ctx)->dev->path, \
				(ctx)->name, ##__VA_ARGS__); \
} while (0)

static void
reply_u64(struct msg_ctx *ctx, uint64_t v)
{
	ctx->reply->payload.u64 = v;
	ctx->reply->hdr.size = sizeof(uint64_t);
}

/* Take ownership of fd number i of the message. */
static int
take_fd(struct msg_ctx *ctx, int i)
{
	int fd = ctx->msg->fds[i];

	ctx->msg->fds[i] = -1;
	return fd;
}

static struct iovh_vq *
vring_arg(struct msg_ctx *ctx, uint32_t index)
{
	if (index >= ctx->dev->max_queue_pairs * 2u) {
		MERR(ctx, "vring index %u out of range (device has %u)", index,
				ctx->dev->max_queue_pairs * 2u);
		return NULL;
	}
	if (index + 1u > ctx->dev->nr_vring)
		__atomic_store_n(&ctx->dev->nr_vring, index + 1,
				__ATOMIC_RELAXED);
	return ctx->dev->vq[index];
}

/* Is @p fd an eventfd? Notifications are written without blocking only to
 * those; a pipe, socket or file handed to us instead is refused. */
static bool
is_eventfd(int fd)
{
	char link[64], target[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

static enum h_result
h_get_features(struct msg_ctx *ctx)
{
	reply_u64(ctx, ctx->dev->offered_features);
	return H_OK;
}

static enum h_result
h_set_features(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	uint64_t f = ctx->msg->payload.u64;
	uint64_t log_bit = 1ULL << VHOST_F_LOG_ALL;

	if (f & ~dev->offered_features) {
		MERR(ctx, "features 0x%" PRIx64 " include bits not offered "
			"(0x%" PRIx64 ")", f, f & ~dev->offered_features);
		return H_ERR;
	}
	/* Only logging may be switched under a running device (migration). */
	if (dev->running && ((f ^ dev->features) & ~log_bit)) {
		IOVH_LOG_CONFIG(WARNING, "(%s) features changed while running: "
			"stopping the device", dev->path);
		iovh_dev_stop(dev);
	}
	iovh_dev_pause(dev);
	__atomic_store_n(&dev->features, f, __ATOMIC_RELAXED);
	dev->features_set = 1;
	dev->log_on = (f & log_bit) && dev->log_base != NULL;
	iovh_dev_apply_features(dev);
	iovh_dev_update_ready(dev);
	if (rte_log_can_log(iovh_logtype_config, RTE_LOG_INFO)) {
		char names[768];

		iovh_features_str(f, false, names, sizeof(names));
		IOVH_LOG_CONFIG(INFO, "(%s) negotiated features 0x%" PRIx64
			"%s: %s", dev->path, f,
			(f & log_bit) ? " (dirty logging)" : "", names);
	}
	return H_OK;
}

static enum h_result
h_set_owner(struct msg_ctx *ctx)
{
	ctx->dev->owner_set = 1;
	return H_OK;
}

static enum h_result
h_reset_owner(struct msg_ctx *ctx)
{
	iovh_dev_reset(ctx->dev);
	return H_OK;
}

/* Publish @p mem, re-translate the rings, free @p old (regions unmapped
 * only when @p unmap_old). */
static void
mem_swap(struct iovh_dev *dev, struct iovh_mem *mem, bool unmap_old)
{
	struct iovh_mem *old = dev->mem;
	uint64_t total;
	unsigned int i;

	iovh_dev_pause(dev);
	dev->mem = mem;
	/* IOTLB entries point into the old mappings: all of them go. */
	iovh_iotlb_flush(&dev->iotlb);
	iovh_iotlb_reclaim(&dev->iotlb);
	for (i = 0; i < dev->max_queue_pairs * 2u; i++)
		iovh_vq_translate_rings(dev, dev->vq[i]);
	if (unmap_old)
		iovh_mem_free(old);
	else
		free(old);
	for (i = 0, total = 0; i < mem->nregions; i++)
		total += mem->r[i].size;
	IOVH_LOG_CONFIG(INFO, "(%s) memory table: %u regions, %" PRIu64
		" bytes (%" PRIu64 " MiB)", dev->path, mem->nregions, total,
		total >> 20);
	iovh_dev_update_ready(dev);
}

static enum h_result
h_set_mem_table(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	const struct vhu_memory *m = &ctx->msg->payload.memory;
	struct iovh_mem *mem;
	uint32_t i, n = m->nregions;
	const char *why;

	if (n == 0 || n > VHU_MEMTABLE_MAX_REGIONS) {
		MERR(ctx, "nregions %u not in 1..%u", n,
				VHU_MEMTABLE_MAX_REGIONS);
		return H_ERR;
	}
	if (ctx->msg->hdr.size < 8 + n * sizeof(struct vhu_mem_region)) {
		MERR(ctx, "payload of %u bytes too short for %u regions",
				ctx->msg->hdr.size, n);
		return H_ERR;
	}
	if ((uint32_t)ctx->msg->nfds != n) {
		MERR(ctx, "%d file descriptors for %u regions",
				ctx->msg->nfds, n);
		return H_ERR;
	}
	mem = iovh_zalloc(sizeof(*mem));
	if (mem == NULL) {
		MERR(ctx, "out of memory");
		return H_ERR;
	}
	for (i = 0; i < n; i++) {
		struct iovh_mem_region r;

		why = iovh_mem_region_check(mem, &m->regions[i]);
		if (why != NULL) {
			MERR(ctx, "region %u: %s", i, why);
			goto fail;
		}
		if (iovh_mem_region_map(&r, &m->regions[i], ctx->msg->fds[i]) < 0) {
			MERR(ctx, "region %u cannot be mapped", i);
			goto fail;
		}
		take_fd(ctx, i);
		iovh_sigbus_guard(dev, r.mmap_addr, r.mmap_size);
		iovh_mem_insert(mem, &r);
	}
	mem_swap(dev, mem, true);
	return H_OK;
fail:
	iovh_mem_free(mem);
	return H_ERR;
}

static enum h_result
h_get_max_mem_slots(struct msg_ctx *ctx)
{
	reply_u64(ctx, ctx->dev->max_mem_slots);
	return H_OK;
}

static enum h_result
h_add_mem_reg(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	const struct vhu_mem_region *reg = &ctx->msg->payload.mem_reg.region;
	struct iovh_mem *mem;
	struct iovh_mem_region r;
	const char *why;

	if (ctx->msg->nfds != 1) {
		MERR(ctx, "%d file descriptors, expected 1", ctx->msg->nfds);
		return H_ERR;
	}
	if (dev->mem != NULL && dev->mem->nregions >= dev->max_mem_slots) {
		MERR(ctx, "all %u memory slots are in use", dev->max_mem_slots);
		return H_ERR;
	}
	mem = iovh_zalloc(sizeof(*mem));
	if (mem == NULL) {
		MERR(ctx, "out of memory");
		return H_ERR;
	}
	if (dev->mem != NULL)
		*mem = *dev->mem;	/* shares the mappings */
	why = iovh_mem_region_check(mem, reg);
	if (why != NULL) {
		MERR(ctx, "%s", why);
		free(mem);
		return H_ERR;
	}
	if (iovh_mem_region_map(&r, reg, ctx->msg->fds[0]) < 0) {
		MERR(ctx, "region cannot be mapped");
		free(mem);
		return H_ERR;
	}
	take_fd(ctx, 0);
	iovh_sigbus_guard(dev, r.mmap_addr, r.mmap_size);
	iovh_mem_insert(mem, &r);
	mem_swap(dev, mem, false);
	return H_OK;
}

static enum h_result
h_rem_mem_reg(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	const struct vhu_mem_region *reg = &ctx->msg->payload.mem_reg.region;
	struct iovh_mem *mem;
	struct iovh_mem_region gone;
	uint32_t i, j;

	if (dev->mem == NULL) {
		MERR(ctx, "no memory table");
		return H_ERR;
	}
	for (i = 0; i < dev->mem->nregions; i++) {
		const struct iovh_mem_region *r = &dev->mem->r[i];

		if (r->gpa == reg->guest_phys_addr &&
				r->size == reg->memory_size &&
				r->fva == reg->userspace_addr)
			break;
	}
	if (i == dev->mem->nregions) {
		MERR(ctx, "no region at gpa 0x%" PRIx64 " size 0x%" PRIx64,
			reg->guest_phys_addr, reg->memory_size);
		return H_ERR;
	}
	mem = iovh_zalloc(sizeof(*mem));
	if (mem == NULL) {
		MERR(ctx, "out of memory");
		return H_ERR;
	}
	gone = dev->mem->r[i];
	for (j = 0; j < dev->mem->nregions; j++)
		if (j != i)
			mem->r[mem->nregions++] = dev->mem->r[j];
	mem_swap(dev, mem, false);
	/* Quiesced inside mem_swap: the region is no longer reachable. */
	iovh_mem_region_unmap(&gone);
	return H_OK;
}

static enum h_result
h_set_log_base(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	const struct vhu_log *l = &ctx->msg->payload.log;
	struct stat st;
	void *addr;
	uint64_t len;
	int fd;

	if (ctx->msg->nfds != 1) {
		MERR(ctx, "%d file descriptors, expected 1", ctx->msg->nfds);
		return H_ERR;
	}
	fd = ctx->msg->fds[0];
	len = l->mmap_offset + l->mmap_size;
	if (l->mmap_size == 0 || len < l->mmap_size) {
		MERR(ctx, "bad log size 0x%" PRIx64 " offset 0x%" PRIx64,
				l->mmap_size, l->mmap_offset);
		return H_ERR;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
			(uint64_t)st.st_size < len) {
		MERR(ctx, "log fd is not a file of at least %" PRIu64 " bytes",
				len);
		return H_ERR;
	}
	addr = iovh_map_shared(fd, len);
	if (addr == NULL) {
		MERR(ctx, "mmap of %" PRIu64 " bytes: %s", len, strerror(errno));
		return H_ERR;
	}
	iovh_dev_pause(dev);
	if (dev->log_mmap != NULL) {
		iovh_sigbus_unguard(dev->log_mmap);
		munmap(dev->log_mmap, dev->log_mmap_size);
	}
	iovh_sigbus_guard(dev, addr, len);
	dev->log_mmap = addr;
	dev->log_mmap_size = len;
	dev->log_base = (uint8_t *)addr + l->mmap_offset;
	dev->log_size = l->mmap_size;
	dev->log_on = iovh_has_feature(dev, VHOST_F_LOG_ALL);
	iovh_dev_apply_features(dev);
	iovh_dev_update_ready(dev);
	/* The mapping keeps the file alive; the fd is closed by the caller. */
	IOVH_LOG_CONFIG(INFO, "(%s) dirty log: %" PRIu64 " bytes", dev->path,
			l->mmap_size);
	/* The front-end waits for an empty reply to this one. */
	ctx->reply->hdr.size = 0;
	return H_OK;
}

static enum h_result
h_set_log_fd(struct msg_ctx *ctx __rte_unused)
{
	return H_OK;
}

static enum h_result
h_set_vring_num(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	const struct vhu_vring_state *s = &ctx->msg->payload.state;
	struct iovh_vq *vq = vring_arg(ctx, s->index);

	if (vq == NULL)
		return H_ERR;
	/* A packed ring may have any size up to 2^15 (2.8). */
	if (s->num == 0 || s->num > IOVH_MAX_RING_SIZE ||
			((s->num & (s->num - 1)) != 0 &&
			!iovh_has_feature(dev, VIRTIO_F_RING_PACKED))) {
		MERR(ctx, "vring %u: size %u is not a power of two in 1..%u",
				s->index, s->num, IOVH_MAX_RING_SIZE);
		return H_ERR;
	}
	iovh_dev_pause(dev);
	vq->size = s->num;
	if (iovh_vq_translate_rings(dev, vq) < 0) {
		iovh_dev_update_ready(dev);
		return H_ERR;
	}
	iovh_dev_update_ready(dev);
	return H_OK;
}

static enum h_result
h_set_vring_addr(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	const struct vhu_vring_addr *a = &ctx->msg->payload.addr;
	struct iovh_vq *vq = vring_arg(ctx, a->index);
	int rc;

	if (vq == NULL)
		return H_ERR;
	if (a->flags & ~(1u << VHU_VRING_F_LOG)) {
		MERR(ctx, "vring %u: unknown flags 0x%x", a->index, a->flags);
		return H_ERR;
	}
	iovh_dev_pause(dev);
	vq->addr = *a;
	vq->addr_set = 1;
	rc = iovh_vq_translate_rings(dev, vq);
	iovh_dev_apply_features(dev);
	iovh_dev_update_ready(dev);
	return rc < 0 ? H_ERR : H_OK;
}

static enum h_result
h_set_vring_base(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	const struct vhu_vring_state *s = &ctx->msg->payload.state;
	struct iovh_vq *vq = vring_arg(ctx, s->index);

	if (vq == NULL)
		return H_ERR;
	/* Packed: the upper half may carry the used side (below). */
	if (s->num > UINT16_MAX &&
			!iovh_has_feature(dev, VIRTIO_F_RING_PACKED)) {
		MERR(ctx, "vring %u: base %u exceeds 65535", s->index, s->num);
		return H_ERR;
	}
	iovh_dev_pause(dev);
	if (iovh_has_feature(dev, VIRTIO_F_RING_PACKED)) {
		/*
		 * Bits 0-14: next slot, bit 15: its wrap counter; bits 16-30
		 * and 31: the same for the used side (QEMU 7.2 sends both,
		 * virtio-user the lower half only). This back-end has nothing
		 * in flight when a ring stops, so both halves are equal when
		 * it set them; a front-end whose halves differ had buffers in
		 * flight in another back-end, which cannot be completed here:
		 * the used side resumes where the avail side does.
		 */
		if ((s->num >> 16) != 0 && (s->num >> 16) != (s->num & 0xffff))
			IOVH_LOG_CONFIG(WARNING, "(%s) vring %u: packed base "
				"0x%x: used side differs from avail side; "
				"buffers in flight are not returned",
				dev->path, s->index, s->num);
		vq->last_avail_idx = s->num & 0x7fff;
		vq->avail_wrap = (s->num >> 15) & 1;
		vq->last_used_idx = vq->last_avail_idx;
		vq->used_wrap = vq->avail_wrap;
		vq->broken = 0;
		if (vq->size != 0 && vq->last_avail_idx >= vq->size) {
			MERR(ctx, "vring %u: packed base %u past the ring (%u)",
				s->index, vq->last_avail_idx, vq->size);
			vq->last_avail_idx = vq->last_used_idx = 0;
			iovh_dev_update_ready(dev);
			return H_ERR;
		}
		/* Rings already translated against another base. */
		if (iovh_vq_translate_rings(dev, vq) < 0) {
			iovh_dev_update_ready(dev);
			return H_ERR;
		}
	} else {
		vq->last_avail_idx = s->num;
		vq->last_used_idx = s->num;
	}
	vq->signalled_used_valid = 0;
	iovh_dev_update_ready(dev);
	return H_OK;
}

/* Stop one ring: after this returns no poll thread touches it. */
static void
vq_stop(struct iovh_dev *dev, struct iovh_vq *vq)
{
	bool was_enabled = vq->enabled;

	vq->started = 0;
	__atomic_store_n(&vq->enabled, 0, __ATOMIC_RELAXED);
	iovh_dev_pause(dev);
	iovh_dev_update_ready(dev);
	if (was_enabled && dev->ops != NULL &&
			dev->ops->vring_state_changed != NULL)
		dev->ops->vring_state_changed(dev, vq->index, false, dev->arg);
}

static enum h_result
h_get_vring_base(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	const struct vhu_vring_state *s = &ctx->msg->payload.state;
	struct iovh_vq *vq = vring_arg(ctx, s->index);

	if (vq == NULL)
		return H_FATAL;	/* the front-end waits for an answer */
	vq_stop(dev, vq);
	/* Quiesced by vq_stop: the IOTLB can go (it is rebuilt on misses). */
	iovh_iotlb_flush(&dev->iotlb);
	iovh_iotlb_reclaim(&dev->iotlb);
	if (vq->kickfd >= 0) {
		close(vq->kickfd);
		vq->kickfd = -1;
	}
	ctx->reply->payload.state.index = s->index;
	ctx->reply->payload.state.num = vq->last_avail_idx;
	/* Packed: avail slot and wrap counter in the lower half, used slot
	 * and wrap in the upper half (equal here: nothing is in flight). */
	if (vq->packed) {
		uint32_t half = vq->last_avail_idx |
			(uint32_t)vq->avail_wrap << 15;

		ctx->reply->payload.state.num = half | half << 16;
	}
	ctx->reply->hdr.size = sizeof(struct vhu_vring_state);
	IOVH_LOG_CONFIG(INFO, "(%s) vring %u stopped at %u", dev->path,
			s->index, vq->last_avail_idx);
	/*
	 * Packets parked on IOTLB misses the front-end did not resolve
	 * before stopping the ring are not in the state it takes over (a
	 * migrating guest arrives without them): say so, and how many.
	 */
	if (vq->backlog_n != 0)
		IOVH_LOG_CONFIG(WARNING, "(%s) vring %u stopped with %u packets "
			"waiting for IOTLB misses (%u misses pending): not in the ring",
			dev->path, s->index, vq->backlog_n, dev->npending);
	return H_OK;
}

/* Common part of SET_VRING_KICK/CALL/ERR: index, no-fd flag, fd type. */
static struct iovh_vq *
vring_fd_arg(struct msg_ctx *ctx, int *fd)
{
	uint64_t v = ctx->msg->payload.u64;
	bool nofd = v & VHU_VRING_NOFD_MASK;
	struct iovh_vq *vq;

	*fd = -1;
	if (v & ~(uint64_t)(VHU_VRING_IDX_MASK | VHU_VRING_NOFD_MASK)) {
		MERR(ctx, "reserved bits set in 0x%" PRIx64, v);
		return NULL;
	}
	vq = vring_arg(ctx, v & VHU_VRING_IDX_MASK);
	if (vq == NULL)
		return NULL;
	if (ctx->msg->nfds != (nofd ? 0 : 1)) {
		MERR(ctx, "vring %u: %d file descriptors with no-fd flag %d",
			vq->index, ctx->msg->nfds, nofd);
		return NULL;
	}
	if (!nofd) {
		if (!is_eventfd(ctx->msg->fds[0])) {
			MERR(ctx, "vring %u: fd is not an eventfd", vq->index);
			return NULL;
		}
		*fd = take_fd(ctx, 0);
	}
	return vq;
}

static enum h_result
h_set_vring_kick(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	struct iovh_vq *vq;
	bool enable_now;
	int fd;

	vq = vring_fd_arg(ctx, &fd);
	if (vq == NULL)
		return H_ERR;
	iovh_dev_pause(dev);
	if (vq->kickfd >= 0)
		close(vq->kickfd);
	__atomic_store_n(&vq->kickfd, fd, __ATOMIC_RELAXED);
	vq->started = 1;
	/* Without protocol features a kick is what starts the ring. */
	enable_now = !iovh_has_feature(dev, VHOST_USER_F_PROTOCOL_FEATURES) &&
		!vq->enabled;
	if (enable_now)
		__atomic_store_n(&vq->enabled, 1, __ATOMIC_RELAXED);
	IOVH_LOG_CONFIG(INFO, "(%s) vring %u started: %s ring, %u entries, "
		"base %u%s", dev->path, vq->index,
		iovh_has_feature(dev, VIRTIO_F_RING_PACKED) ? "packed" : "split",
		vq->size, vq->last_avail_idx, fd < 0 ? ", no kick fd" : "");
	iovh_dev_update_ready(dev);
	if (enable_now && dev->ops != NULL &&
			dev->ops->vring_state_changed != NULL)
		dev->ops->vring_state_changed(dev, vq->index, true, dev->arg);
	return H_OK;
}

static enum h_result
h_set_vring_call(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	struct iovh_vq *vq;
	int fd;

	vq = vring_fd_arg(ctx, &fd);
	if (vq == NULL)
		return H_ERR;
	/* A full eventfd must never stall a poll thread. */
	if (fd >= 0 && iovh_fd_set_nonblock(fd) < 0) {
		MERR(ctx, "vring %u: cannot make the call fd non-blocking",
				vq->index);
		close(fd);
		return H_ERR;
	}
	iovh_dev_pause(dev);
	if (vq->callfd >= 0)
		close(vq->callfd);
	vq->callfd = fd;
	vq->signalled_used_valid = 0;
	iovh_dev_update_ready(dev);
	return H_OK;
}

static enum h_result
h_set_vring_err(struct msg_ctx *ctx)
{
	struct iovh_vq *vq;
	int fd;

	vq = vring_fd_arg(ctx, &fd);
	if (vq == NULL)
		return H_ERR;
	if (vq->errfd >= 0)
		close(vq->errfd);
	vq->errfd = fd;
	return H_OK;
}

static enum h_result
h_get_protocol_features(struct msg_ctx *ctx)
{
	reply_u64(ctx, ctx->dev->offered_protocol);
	return H_OK;
}

static enum h_result
h_set_protocol_features(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	uint64_t f = ctx->msg->payload.u64;

	if (f & ~dev->offered_protocol) {
		MERR(ctx, "protocol features 0x%" PRIx64 " include bits not "
			"offered (0x%" PRIx64 ")", f, f & ~dev->offered_protocol);
		return H_ERR;
	}
	__atomic_store_n(&dev->protocol_features, f, __ATOMIC_RELAXED);
	if (rte_log_can_log(iovh_logtype_config, RTE_LOG_INFO)) {
		char names[512];

		iovh_features_str(f, true, names, sizeof(names));
		IOVH_LOG_CONFIG(INFO, "(%s) negotiated protocol features 0x%"
			PRIx64 ": %s", dev->path, f, names);
	}
	return H_OK;
}

static enum h_result
h_get_queue_num(struct msg_ctx *ctx)
{
	reply_u64(ctx, ctx->dev->max_queue_pairs);
	return H_OK;
}

static enum h_result
h_set_vring_enable(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	const struct vhu_vring_state *s = &ctx->msg->payload.state;
	struct iovh_vq *vq = vring_arg(ctx, s->index);
	bool on;

	if (vq == NULL)
		return H_ERR;
	if (s->num > 1) {
		MERR(ctx, "vring %u: enable value %u is not 0 or 1", s->index,
				s->num);
		return H_ERR;
	}
	on = s->num;
	if (on == vq->enabled)
		return H_OK;
	__atomic_store_n(&vq->enabled, on, __ATOMIC_RELAXED);
	if (!on)
		iovh_dev_pause(dev);
	iovh_dev_update_ready(dev);
	IOVH_LOG_CONFIG(INFO, "(%s) vring %u %s", dev->path, s->index,
			on ? "enabled" : "disabled");
	if (dev->ops != NULL && dev->ops->vring_state_changed != NULL)
		dev->ops->vring_state_changed(dev, s->index, on, dev->arg);
	return H_OK;
}

static enum h_result
h_send_rarp(struct msg_ctx *ctx)
{
	uint64_t mac = ctx->msg->payload.u64 & 0xffffffffffffULL;
	const uint8_t *b = (const uint8_t *)&mac;

	__atomic_store_n(&ctx->dev->rarp_mac, mac, __ATOMIC_RELAXED);
	/* Release: the MAC above is visible to the poll thread that sees
	 * the flag (it loads it with acquire, api.c). */
	__atomic_store_n(&ctx->dev->rarp_pending, 1, __ATOMIC_RELEASE);
	IOVH_LOG_CONFIG(INFO, "(%s) RARP requested for "
		"%02x:%02x:%02x:%02x:%02x:%02x", ctx->dev->path,
		b[0], b[1], b[2], b[3], b[4], b[5]);
	return H_OK;
}

static enum h_result
h_net_set_mtu(struct msg_ctx *ctx)
{
	uint64_t mtu = ctx->msg->payload.u64;

	if (mtu < 68 || mtu > 65535) {
		MERR(ctx, "MTU %" PRIu64 " not in 68..65535", mtu);
		return H_ERR;
	}
	__atomic_store_n(&ctx->dev->guest_mtu, (uint16_t)mtu, __ATOMIC_RELAXED);
	return H_OK;
}

/*
 * Is @p fd a socket connected to (or accepted from) our own vhost-user
 * path? The front-end's end of the main connection is one: its peer (we
 * listen) or its local name (we connect) is dev->path.
 */
static bool
is_own_connection(const struct iovh_dev *dev, int fd)
{
	struct sockaddr_un un;
	socklen_t len;

	len = sizeof(un);
	memset(&un, 0, sizeof(un));
	if (getpeername(fd, (struct sockaddr *)&un, &len) == 0 &&
			len > offsetof(struct sockaddr_un, sun_path) &&
			strncmp(un.sun_path, dev->path, sizeof(un.sun_path)) == 0)
		return true;
	len = sizeof(un);
	memset(&un, 0, sizeof(un));
	if (getsockname(fd, (struct sockaddr *)&un, &len) == 0 &&
			len > offsetof(struct sockaddr_un, sun_path) &&
			strncmp(un.sun_path, dev->path, sizeof(un.sun_path)) == 0)
		return true;
	return false;
}

static enum h_result
h_set_backend_req_fd(struct msg_ctx *ctx)
{
	struct iovh_dev *dev = ctx->dev;
	struct stat st;
	int fd;

	if (ctx->msg->nfds != 1) {
		MERR(ctx, "%d file descriptors, expected 1", ctx->msg->nfds);
		return H_ERR;
	}
	if (fstat(ctx->msg->fds[0], &st) < 0 || !S_ISSOCK(st.st_mode)) {
		MERR(ctx, "back-end channel fd is not a socket");
		return H_ERR;
	}
	if (is_own_connection(dev, ctx->msg->fds[0])) {
		/* Holding the front-end's end of our own connection would keep
		 * that connection open after the front-end is gone. */
		MERR(ctx, "back-end channel fd is an end of the main connection");
		return H_ERR;
	}
	if (iovh_fd_set_nonblock(ctx->msg->fds[0]) < 0) {
		MERR(ctx, "cannot make the back-end channel non-blocking");
		return H_ERR;
	}
	iovh_ctrl_close_backend(dev);
	fd = take_fd(ctx, 0);
	dev->backend_fd = fd;
	if (iovh_ctrl_watch_backend(dev) < 0) {
		MERR(ctx, "cannot watch the back-end channel");
		iovh_ctrl_close_backend(dev);
		return H_ERR;
	}
	return H_OK;
}

/* IOVA ranges of a vq's rings, for eviction and invalidation checks. */
static unsigned int
ring_iovas(const struct iovh_vq *vq, uint64_t first[4], uint64_t last[4])
{
	const struct vhu_vring_addr *a = &vq->addr;
	uint64_t n = vq->size;
	unsigned int k = 0;

	if (!vq->addr_set || n == 0)
		return 0;
	if (vq->packed) {
		/* Descriptor ring and the two 4-byte event areas. */
		first[k] = a->desc_user_addr;
		last[k++] = a->desc_user_addr + 16 * n - 1;
		first[k] = a->avail_user_addr;
		last[k++] = a->avail_user_addr + 3;
		first[k] = a->used_user_addr;
		last[k++] = a->used_user_addr + 3;
		return k;
	}
	first[k] = a->desc_user_addr;
	last[k++] = a->desc_user_addr + 16 * n - 1;
	first[k] = a->avail_user_addr;
	last[k++] = a->avail_user_addr + 4 + 2 * n + 1;
	first[k] = a->used_user_addr;
	last[k++] = a->used_user_addr + 4 + 8 * n + 1;
	if (a->flags & (1u << VHU_VRING_F_LOG)) {
		first[k] = a->log_guest_addr;
		last[k++] = a->log_guest_addr + 4 + 8 * n + 1;
	}
	return k;
}

/* Whether [a0, a1] and [b0, b1] meet; both inclusive, neither wraps. */
static bool
overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
	return a0 <= b1 && b0 <= a1;
}

/* Whether [first, last] meets a ring of @p vq. */
static bool
vq_ring_hit(const struct iovh_vq *vq, uint64_t first, uint64_t last)
{
	uint64_t f[4], l[4];
	unsigned int k, n;

	n = ring_iovas(vq, f, l);
	for (k = 0; k < n; k++)
		if (overlaps(f[k], l[k] < f[k] ? UINT64_MAX : l[k],
				first, last))
			return true;
	return false;
}

/** Virtqueues taken from their poll threads by rings_hold(). */
struct rings_held {
	uint64_t bits[(IOVH_MAX_VRING + 63) / 64];
	bool any;
};

/*
 * Take the queues whose rings meet [first, last] away from their poll
 * threads, and only those: the others go on as they were. ring_wait is
 * raised before ready drops (both store-release, in that order), so an
 * enqueue that finds such a queue not ready parks its packets in the
 * backlog instead of handing them back unsent: the application would
 * drop them, and a stopped device is not what this is. The caller
 * quiesces, then rings_release() translates the rings again.
 */
static void
rings_hold(struct iovh_dev *dev, uint64_t first, uint64_t last,
		struct rings_held *h)
{
	unsigned int q;

	memset(h, 0, sizeof(*h));
	for (q = 0; q < dev->max_queue_pairs * 2u; q++) {
		struct iovh_vq *vq = dev->vq[q];

		if (!vq_ring_hit(vq, first, last))
			continue;
		h->bits[q / 64] |= 1ULL << (q % 64);
		h->any = true;
		if (vq->ready)
			__atomic_store_n(&vq->ring_wait, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&vq->ready, 0, __ATOMIC_RELEASE);
	}
}

/*
 * After quiesce: the held queues' ring pointers are dropped, and every
 * ring without one (held now, or waiting for a mapping since earlier) is
 * translated again; ready and ring_wait are then recomputed.
 */
static void
rings_release(struct iovh_dev *dev, const struct rings_held *h)
{
	unsigned int q;

	for (q = 0; q < dev->max_queue_pairs * 2u; q++) {
		struct iovh_vq *vq = dev->vq[q];

		if (h->bits[q / 64] & (1ULL << (q % 64)))
			vq->desc = NULL;
		if (vq->addr_set && vq->size != 0 && vq->desc == NULL)
			iovh_vq_translate_rings(dev, vq);
	}
	iovh_dev_update_ready(dev);
}

/*
 * Packets parked on a miss wait for their queue's next burst, and there
 * may be none: testpmd, for one, transmits only what it just received, and
 * a front-end with flow control sends nothing more until it received. So
 * the control thread completes them itself, with the queue held
 * (ctrl_flushing: a burst that comes meanwhile waits instead of going
 * away). Right after an UPDATE it does so at once, since the UPDATE may be
 * what the packets wait for: leaving them to the next tick cost up to
 * 100 ms per guest-RX miss. Otherwise a queue its thread enqueued on
 * within the last millisecond is left to that thread. Rare by
 * construction: misses only.
 */
bool
iovh_backlogs_complete(struct iovh_dev *dev, bool now)
{
	uint64_t idle = rte_get_tsc_hz() / 1000, tsc = rte_get_tsc_cycles();
	unsigned int q;
	bool paused = false, left = false;

	for (q = 0; q < dev->max_queue_pairs * 2u; q += 2) {
		struct iovh_vq *vq = dev->vq[q];

		if (__atomic_load_n(&vq->backlog_n, __ATOMIC_RELAXED) == 0)
			continue;
		if (!vq->ready || (!now && tsc - __atomic_load_n(
				&vq->backlog_tsc, __ATOMIC_RELAXED) < idle)) {
			left = true;
			continue;
		}
		/* Before ready drops: a burst that finds the queue held
		 * waits for it instead of dropping its packets. */
		__atomic_store_n(&vq->ctrl_flushing, 1, __ATOMIC_RELEASE);
		__atomic_store_n(&vq->ring_wait, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&vq->ready, 0, __ATOMIC_RELEASE);
		paused = true;
	}
	if (!paused)
		return left;
	iovh_dev_quiesce(dev);
	for (q = 0; q < dev->max_queue_pairs * 2u; q += 2) {
		struct iovh_vq *vq = dev->vq[q];

		if (vq->backlog_n != 0 && vq->desc != NULL) {
			iovh_vq_iotlb_sync(dev, vq);
			iovh_vq_backlog_flush(dev, vq);
		}
		left |= vq->backlog_n != 0;
	}
	iovh_dev_update_ready(dev);
	for (q = 0; q < dev->max_queue_pairs * 2u; q += 2)
		__atomic_store_n(&dev->vq[q]->ctrl_flushing, 0, __ATOMIC_RELEASE);
	return left;
}

static enum h_result
iotlb_update(struct msg_ctx *ctx, const struct vhu_iotlb *m)
{
	struct iovh_dev *dev = ctx->dev;
	uint64_t keep[IOVH_MAX_VRING * 8], f[4], l[4];
	uint64_t iova = m->iova, fva = m->uaddr, left = m->size;
	struct rings_held held;
	unsigned int nkeep = 0, q, k, n;
	int rc;

	if (m->size == 0 || m->iova + (m->size - 1) < m->iova ||
			m->uaddr + (m->size - 1) < m->uaddr) {
		MERR(ctx, "UPDATE iova 0x%" PRIx64 " size 0x%" PRIx64
			" uaddr 0x%" PRIx64 ": empty or wrapping range",
			m->iova, m->size, m->uaddr);
		return H_ERR;
	}
	if (((m->iova | m->size | m->uaddr) & 0xfff) != 0) {
		MERR(ctx, "UPDATE iova 0x%" PRIx64 " size 0x%" PRIx64
			" uaddr 0x%" PRIx64 ": not 4 KiB aligned",
			m->iova, m->size, m->uaddr);
		return H_ERR;
	}
	if (m->perm == 0 || (m->perm & ~VHU_ACCESS_RW) != 0) {
		MERR(ctx, "UPDATE permission %u is not RO, WO or RW", m->perm);
		return H_ERR;
	}
	if (dev->mem == NULL) {
		MERR(ctx, "UPDATE before SET_MEM_TABLE");
		return H_ERR;
	}
	for (q = 0; q < dev->max_queue_pairs * 2u; q++) {
		n = ring_iovas(dev->vq[q], f, l);
		/* Both ends of every ring: a ring of up to two pages is
		 * never evicted; a longer one may lose a middle page, which
		 * costs a pause and a ring miss, never a wrong translation. */
		for (k = 0; k < n; k++) {
			keep[nkeep++] = f[k];
			keep[nkeep++] = l[k];
		}
	}
	/* One mapping per guest memory region the range crosses. */
	while (left > 0) {
		uint64_t len = left, hva, gpa;

		hva = iovh_fva_to_hva(dev->mem, fva, &len);
		if (hva == 0 || (len & 0xfff) != 0) {
			MERR(ctx, "UPDATE uaddr 0x%" PRIx64 " is not in guest "
				"memory (or a region ends mid-page)", fva);
			rc = -EINVAL;
			break;
		}
		gpa = iovh_fva_to_gpa(dev->mem, fva);
		rc = iovh_iotlb_insert(&dev->iotlb, iova, iova + (len - 1), hva,
				gpa, m->perm, keep, nkeep);
		if (rc < 0) {
			MERR(ctx, "UPDATE iova 0x%" PRIx64 ": %s", iova,
				rc == -ENOSPC ? "table full of ring mappings" :
				strerror(-rc));
			break;
		}
		iova += len;
		fva += len;
		left -= len;
	}
	dev->iotlb_updates++;
	/* Release: the new entries are in the table before a poll thread
	 * can record this count with a later miss. */
	__atomic_store_n(&dev->iotlb_seq, dev->iotlb_seq + 1, __ATOMIC_RELEASE);
	/* Applied (poll threads can see it): the misses it answers are timed
	 * here, before the quiesce below. */
	iovh_ctrl_misses_answered(dev, m->iova, m->iova + (m->size - 1));
	/*
	 * Something was replaced or evicted: once no poll thread can hold it
	 * (quiesce), it is freed. Only rings inside the UPDATE's range can
	 * have changed their translation, so only their queues are held; an
	 * evicted mapping elsewhere still stands on the front-end's side,
	 * and a ring pointer made from it stays right (an INVALIDATE of it is
	 * caught by rings_hold(), which looks at ring addresses, not entries).
	 * Holding every queue here, without ring_wait, made an enqueue in
	 * that window hand its packets back unsent: they were lost.
	 */
	if (iovh_iotlb_dirty(&dev->iotlb)) {
		rings_hold(dev, m->iova, m->iova + (m->size - 1), &held);
		iovh_dev_quiesce(dev);
		iovh_iotlb_reclaim(&dev->iotlb);
	} else {
		memset(&held, 0, sizeof(held));
	}
	rings_release(dev, &held);
	iovh_backlogs_complete(dev, true);
	return left == 0 ? H_OK : H_ERR;
}

/*
 * The ack of an INVALIDATE is the front-end's licence to reuse the pages,
 * so it goes out only after every poll thread has been through a quiescent
 * state: none can still hold the old translation in a pointer or cache.
 */
static enum h_result
iotlb_invalidate(struct msg_ctx *ctx, const struct vhu_iotlb *m)
{
	struct iovh_dev *dev = ctx->dev;
	struct rings_held held;
	uint64_t last;

	if (m->size == 0)
		return H_OK;
	/* A range may end exactly at 2^64 (Linux' lazy flush does):
	 * iova + size wraps to 0 there, iova + size - 1 does not. */
	last = m->iova + (m->size - 1);
	if (last < m->iova)
		last = UINT64_MAX;
	if (iovh_iotlb_remove(&dev->iotlb, m->iova, last) < 0) {
		IOVH_LOG_CONFIG(ERR, "(%s) INVALIDATE: out of memory splitting "
			"a mapping; flushing the whole IOTLB", dev->path);
		iovh_iotlb_flush(&dev->iotlb);
	}
	/* The rings go, the queues stay: the poll threads of the queues
	 * whose rings are hit park packets until the mappings return. */
	rings_hold(dev, m->iova, last, &held);
	iovh_dev_quiesce(dev);
	iovh_iotlb_reclaim(&dev->iotlb);
	if (held.any)
		rings_release(dev, &held);
	dev->iotlb_invalidates++;
	return H_OK;
}

static enum h_result
h_iotlb_msg(struct msg_ctx *ctx)
{
	const struct vhu_iotlb *m = &ctx->msg->payload.iotlb;

	if (!iovh_has_feature(ctx->dev, VIRTIO_F_IOMMU_PLATFORM)) {
		MERR(ctx, "IOTLB message (type %u) without "
			"VIRTIO_F_IOMMU_PLATFORM negotiated", m->type);
		return H_ERR;
	}
	switch (m->type) {
	case VHU_IOTLB_UPDATE:
		return iotlb_update(ctx, m);
	case VHU_IOTLB_INVALIDATE:
		/* uaddr and perm are not looked at: QEMU 7.2 leaves garbage
		 * in them. */
		return iotlb_invalidate(ctx, m);
	default:
		MERR(ctx, "IOTLB message type %u is not UPDATE or INVALIDATE",
				m->type);
		return H_ERR;
	}
}

static enum h_result
h_set_status(struct msg_ctx *ctx)
{
	uint64_t v = ctx->msg->payload.u64;

	if (v > UINT8_MAX) {
		MERR(ctx, "status 0x%" PRIx64 " exceeds one byte", v);
		return H_ERR;
	}
	ctx->dev->status = v;
	return H_OK;
}

static enum h_result
h_get_status(struct msg_ctx *ctx)
{
	reply_u64(ctx, ctx->dev->status);
	return H_OK;
}

/** How one request is checked before its handler runs. */
struct msg_desc {
	const char *name;
	msg_handler fn;
	uint16_t min_size;	/* payload bytes */
	uint16_t max_size;
	uint8_t max_fds;
	uint8_t reply;		/* always answered (GET_* and friends) */
	int8_t proto_bit;	/* protocol feature it needs, or -1 */
};

#define U64 sizeof(uint64_t)
#define STATE sizeof(struct vhu_vring_state)

static const struct msg_desc msg_table[VHU_REQ_MAX] = {
	[VHU_GET_FEATURES] = { "GET_FEATURES", h_get_features, 0, 0, 0, 1, -1 },
	[VHU_SET_FEATURES] = { "SET_FEATURES", h_set_features, U64, U64, 0, 0, -1 },
	[VHU_SET_OWNER] = { "SET_OWNER", h_set_owner, 0, 0, 0, 0, -1 },
	[VHU_RESET_OWNER] = { "RESET_OWNER", h_reset_owner, 0, U64, 0, 0, -1 },
	[VHU_SET_MEM_TABLE] = { "SET_MEM_TABLE", h_set_mem_table,
		8 + sizeof(struct vhu_mem_region), sizeof(struct vhu_memory),
		VHU_MEMTABLE_MAX_REGIONS, 0, -1 },
	[VHU_SET_LOG_BASE] = { "SET_LOG_BASE", h_set_log_base,
		sizeof(struct vhu_log), sizeof(struct vhu_log), 1, 1,
		VHU_PROTO_F_LOG_SHMFD },
	[VHU_SET_LOG_FD] = { "SET_LOG_FD", h_set_log_fd, 0, U64, 1, 0, -1 },
	[VHU_SET_VRING_NUM] = { "SET_VRING_NUM", h_set_vring_num,
		STATE, STATE, 0, 0, -1 },
	[VHU_SET_VRING_ADDR] = { "SET_VRING_ADDR", h_set_vring_addr,
		sizeof(struct vhu_vring_addr), sizeof(struct vhu_vring_addr),
		0, 0, -1 },
	[VHU_SET_VRING_BASE] = { "SET_VRING_BASE", h_set_vring_base,
		STATE, STATE, 0, 0, -1 },
	[VHU_GET_VRING_BASE] = { "GET_VRING_BASE", h_get_vring_base,
		STATE, STATE, 0, 1, -1 },
	[VHU_SET_VRING_KICK] = { "SET_VRING_KICK", h_set_vring_kick,
		U64, U64, 1, 0, -1 },
	[VHU_SET_VRING_CALL] = { "SET_VRING_CALL", h_set_vring_call,
		U64, U64, 1, 0, -1 },
	[VHU_SET_VRING_ERR] = { "SET_VRING_ERR", h_set_vring_err,
		U64, U64, 1, 0, -1 },
	[VHU_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES",
		h_get_protocol_features, 0, 0, 0, 1, -1 },
	[VHU_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES",
		h_set_protocol_features, U64, U64, 0, 0, -1 },
	[VHU_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", h_get_queue_num, 0, 0, 0, 1,
		VHU_PROTO_F_MQ },
	[VHU_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", h_set_vring_enable,
		STATE, STATE, 0, 0, -1 },
	[VHU_SEND_RARP] = { "SEND_RARP", h_send_rarp, U64, U64, 0, 0,
		VHU_PROTO_F_RARP },
	[VHU_NET_SET_MTU] = { "NET_SET_MTU", h_net_set_mtu, U64, U64, 0, 0,
		VHU_PROTO_F_NET_MTU },
	[VHU_SET_BACKEND_REQ_FD] = { "SET_BACKEND_REQ_FD",
		h_set_backend_req_fd, 0, U64, 1, 0, VHU_PROTO_F_BACKEND_REQ },
	[VHU_IOTLB_MSG] = { "IOTLB_MSG", h_iotlb_msg,
		26, sizeof(struct vhu_iotlb), 0, 0, -1 },
	[VHU_SET_VRING_ENDIAN] = { "SET_VRING_ENDIAN", NULL, 0, 0, 0, 0, -1 },
	[VHU_GET_CONFIG] = { "GET_CONFIG", NULL, 0, 0, 0, 1, -1 },
	[VHU_SET_CONFIG] = { "SET_CONFIG", NULL, 0, 0, 0, 0, -1 },
	[VHU_CREATE_CRYPTO_SESSION] = { "CREATE_CRYPTO_SESSION", NULL,
		0, 0, 0, 1, -1 },
	[VHU_CLOSE_CRYPTO_SESSION] = { "CLOSE_CRYPTO_SESSION", NULL,
		0, 0, 0, 0, -1 },
	[VHU_POSTCOPY_ADVISE] = { "POSTCOPY_ADVISE", NULL, 0, 0, 0, 1, -1 },
	[VHU_POSTCOPY_LISTEN] = { "POSTCOPY_LISTEN", NULL, 0, 0, 0, 0, -1 },
	[VHU_POSTCOPY_END] = { "POSTCOPY_END", NULL, 0, 0, 0, 1, -1 },
	[VHU_GET_INFLIGHT_FD] = { "GET_INFLIGHT_FD", NULL, 0, 0, 0, 1, -1 },
	[VHU_SET_INFLIGHT_FD] = { "SET_INFLIGHT_FD", NULL, 0, 0, 0, 0, -1 },
	[VHU_GPU_SET_SOCKET] = { "GPU_SET_SOCKET", NULL, 0, 0, 0, 0, -1 },
	[VHU_RESET_DEVICE] = { "RESET_DEVICE", h_reset_owner, 0, 0, 0, 0,
		VHU_PROTO_F_RESET_DEVICE },
	[VHU_VRING_KICK] = { "VRING_KICK", NULL, 0, 0, 0, 0, -1 },
	[VHU_GET_MAX_MEM_SLOTS] = { "GET_MAX_MEM_SLOTS", h_get_max_mem_slots,
		0, 0, 0, 1, VHU_PROTO_F_CONFIGURE_MEM_SLOTS },
	[VHU_ADD_MEM_REG] = { "ADD_MEM_REG", h_add_mem_reg,
		sizeof(struct vhu_mem_single), sizeof(struct vhu_mem_single),
		1, 0, VHU_PROTO_F_CONFIGURE_MEM_SLOTS },
	[VHU_REM_MEM_REG] = { "REM_MEM_REG", h_rem_mem_reg,
		sizeof(struct vhu_mem_single), sizeof(struct vhu_mem_single),
		1, 0, VHU_PROTO_F_CONFIGURE_MEM_SLOTS },
	[VHU_SET_STATUS] = { "SET_STATUS", h_set_status, U64, U64, 0, 0,
		VHU_PROTO_F_STATUS },
	[VHU_GET_STATUS] = { "GET_STATUS", h_get_status, 0, 0, 0, 1,
		VHU_PROTO_F_STATUS },
};

const char *
iovh_msg_name(uint32_t req)
{
	if (req < VHU_REQ_MAX && msg_table[req].name != NULL)
		return msg_table[req].name;
	return "UNKNOWN";
}

enum iovh_msg_result
iovh_msg_handle(struct iovh_dev *dev, struct vhu_msg *msg,
		struct vhu_msg *reply, int *has_reply)
{
	const struct msg_desc *d = NULL;
	struct msg_ctx ctx = { .dev = dev, .msg = msg, .reply = reply };
	uint32_t req = msg->hdr.request;
	enum h_result r;
	bool need_ack, explicit_reply;

	*has_reply = 0;
	if (req < VHU_REQ_MAX)
		d = &msg_table[req];
	ctx.name = iovh_msg_name(req);
	explicit_reply = d != NULL && d->reply;
	need_ack = (msg->hdr.flags & VHU_FLAG_NEED_REPLY) &&
		(dev->protocol_features & (1ULL << VHU_PROTO_F_REPLY_ACK));

	memset(&reply->hdr, 0, sizeof(reply->hdr));
	reply->hdr.request = req;
	reply->hdr.flags = VHU_VERSION | VHU_FLAG_REPLY;

	if ((msg->hdr.flags & VHU_FLAG_VERSION_MASK) != VHU_VERSION) {
		MERR(&ctx, "protocol version %u, expected %u",
			msg->hdr.flags & VHU_FLAG_VERSION_MASK, VHU_VERSION);
		r = H_FATAL;
		goto out;
	}
	IOVH_LOG_CONFIG(DEBUG, "(%s) read message %s (size %u, %d fds)",
			dev->path, ctx.name, msg->hdr.size, msg->nfds);
	if (d == NULL || d->name == NULL) {
		if (merr_allowed(dev))
			IOVH_LOG_CONFIG(ERR, "(%s) unknown request %u",
					dev->path, req);
		r = H_ERR;
		goto out;
	}
	if (d->fn == NULL) {
		MERR(&ctx, "not supported by this back-end");
		r = H_ERR;
		goto out;
	}
	if (d->proto_bit >= 0 &&
			!(dev->protocol_features & (1ULL << d->proto_bit))) {
		MERR(&ctx, "protocol feature %d was not negotiated",
				d->proto_bit);
		r = H_ERR;
		goto out;
	}
	if (msg->hdr.size < d->min_size || msg->hdr.size > d->max_size) {
		MERR(&ctx, "payload size %u not in %u..%u", msg->hdr.size,
				d->min_size, d->max_size);
		r = H_ERR;
		goto out;
	}
	if (msg->nfds > d->max_fds) {
		MERR(&ctx, "%d file descriptors, at most %u allowed",
				msg->nfds, d->max_fds);
		r = H_ERR;
		goto out;
	}
	/* Bytes past hdr.size are left over from an earlier message. */
	memset(msg->payload.raw + msg->hdr.size, 0,
			sizeof(msg->payload) - msg->hdr.size);
	r = d->fn(&ctx);
out:
	iovh_close_fds(msg->fds, msg->nfds);
	msg->nfds = 0;
	if (r == H_FATAL)
		return IOVH_MSG_CLOSE;
	if (explicit_reply) {
		/* The front-end blocks on this answer; it cannot be a bare
		 * failure code, so a refused request ends the session. */
		if (r != H_OK)
			return IOVH_MSG_CLOSE;
		*has_reply = 1;
	} else if (need_ack) {
		reply->payload.u64 = r == H_OK ? 0 : 1;
		reply->hdr.size = sizeof(uint64_t);
		*has_reply = 1;
	}
	return IOVH_MSG_OK;
}
