/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_memory.h>

#include "ctrl.h"
#include "socket.h"
#include "vhost.h"

/* Features this back-end implements (split rings, no offloads yet). */
#define IOVH_BASE_FEATURES ( \
	(1ULL << VIRTIO_NET_F_MRG_RXBUF) | \
	(1ULL << VIRTIO_F_NOTIFY_ON_EMPTY) | \
	(1ULL << VIRTIO_F_ANY_LAYOUT) | \
	(1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE) | \
	(1ULL << VIRTIO_NET_F_MQ) | \
	(1ULL << VIRTIO_F_VERSION_1) | \
	(1ULL << VHOST_F_LOG_ALL) | \
	(1ULL << VHOST_USER_F_PROTOCOL_FEATURES) | \
	(1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
	(1ULL << VIRTIO_RING_F_EVENT_IDX) | \
	(1ULL << VIRTIO_F_IN_ORDER))

#define IOVH_BASE_PROTOCOL ( \
	(1ULL << VHU_PROTO_F_MQ) | \
	(1ULL << VHU_PROTO_F_LOG_SHMFD) | \
	(1ULL << VHU_PROTO_F_RARP) | \
	(1ULL << VHU_PROTO_F_REPLY_ACK) | \
	(1ULL << VHU_PROTO_F_BACKEND_REQ) | \
	(1ULL << VHU_PROTO_F_CONFIGURE_MEM_SLOTS) | \
	(1ULL << VHU_PROTO_F_STATUS))

void *
iovh_zalloc(size_t size)
{
	void *p;

	if (posix_memalign(&p, RTE_CACHE_LINE_SIZE,
			RTE_ALIGN_CEIL(size, RTE_CACHE_LINE_SIZE)) != 0)
		return NULL;
	memset(p, 0, size);
	return p;
}

void
iovh_dev_quiesce(struct iovh_dev *dev)
{
	uint64_t token;

	/*
	 * Order our earlier stores (ready = 0, new pointers) before reading
	 * the readers' counters: the classic store-load pair with the poll
	 * thread's online store + fence + ready load. With both fences, either
	 * the reader sees ready == 0 or we see it online and wait for it.
	 */
	rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
	token = rte_rcu_qsbr_start(dev->qsbr);
	while (!rte_rcu_qsbr_check(dev->qsbr, token, false))
		rte_pause();
}

void
iovh_dev_pause(struct iovh_dev *dev)
{
	unsigned int i;

	for (i = 0; i < dev->max_queue_pairs * 2u; i++)
		__atomic_store_n(&dev->vq[i]->ready, 0, __ATOMIC_RELEASE);
	iovh_dev_quiesce(dev);
}

static bool
vq_usable(const struct iovh_dev *dev, const struct iovh_vq *vq)
{
	return dev->mem != NULL && vq->size != 0 && vq->desc != NULL &&
		vq->started && vq->enabled;
}

void
iovh_dev_stop(struct iovh_dev *dev)
{
	bool was = dev->running;

	iovh_dev_pause(dev);
	if (!was)
		return;
	__atomic_store_n(&dev->running, 0, __ATOMIC_RELEASE);
	IOVH_LOG_CONFIG(INFO, "(%s) device stopped", dev->path);
	if (dev->ops != NULL && dev->ops->destroy_device != NULL)
		dev->ops->destroy_device(dev, dev->arg);
}

void
iovh_dev_update_ready(struct iovh_dev *dev)
{
	unsigned int i;
	bool can_run;

	/* The first queue pair carries the device, as in every driver. */
	can_run = dev->features_set && vq_usable(dev, dev->vq[0]) &&
		vq_usable(dev, dev->vq[1]);
	if (!can_run && dev->running) {
		iovh_dev_stop(dev);
		return;
	}
	if (can_run && !dev->running) {
		__atomic_store_n(&dev->running, 1, __ATOMIC_RELEASE);
		IOVH_LOG_CONFIG(INFO,
			"(%s) device ready: features 0x%" PRIx64 ", %u vrings",
			dev->path, dev->features, dev->nr_vring);
		if (dev->ops != NULL && dev->ops->new_device != NULL &&
				dev->ops->new_device(dev, dev->arg) != 0) {
			IOVH_LOG_CONFIG(ERR, "(%s) application refused the device",
					dev->path);
			__atomic_store_n(&dev->running, 0, __ATOMIC_RELEASE);
			return;
		}
	}
	if (!dev->running)
		return;
	for (i = 0; i < dev->max_queue_pairs * 2u; i++) {
		struct iovh_vq *vq = dev->vq[i];

		/* Release: everything set up before is visible to whoever
		 * loads ready == 1 with acquire. */
		__atomic_store_n(&vq->ready, vq_usable(dev, vq) ? 1 : 0,
				__ATOMIC_RELEASE);
	}
}

void
iovh_dev_apply_features(struct iovh_dev *dev)
{
	unsigned int i;
	bool v1 = iovh_has_feature(dev, VIRTIO_F_VERSION_1);
	bool mrg = iovh_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF);

	for (i = 0; i < dev->max_queue_pairs * 2u; i++) {
		struct iovh_vq *vq = dev->vq[i];

		vq->mrg_rxbuf = mrg;
		vq->event_idx = iovh_has_feature(dev, VIRTIO_RING_F_EVENT_IDX);
		vq->hdr_len = (v1 || mrg) ?
			sizeof(struct virtio_net_hdr_mrg_rxbuf) :
			sizeof(struct virtio_net_hdr);
		vq->log_used = dev->log_on &&
			(vq->addr.flags & (1u << VHU_VRING_F_LOG));
	}
}

static void *
ring_map(struct iovh_dev *dev, struct iovh_vq *vq, const char *what,
		uint64_t fva, uint64_t len, uint64_t align)
{
	uint64_t got = len, hva;

	if (fva & (align - 1)) {
		IOVH_LOG_CONFIG(ERR, "(%s) vring %u: %s address 0x%" PRIx64
			" is not %" PRIu64 "-byte aligned",
			dev->path, vq->index, what, fva, align);
		return NULL;
	}
	hva = iovh_fva_to_hva(dev->mem, fva, &got);
	if (hva == 0 || got < len) {
		IOVH_LOG_CONFIG(ERR, "(%s) vring %u: %s ring 0x%" PRIx64
			"+%" PRIu64 " is not inside one guest memory region",
			dev->path, vq->index, what, fva, len);
		return NULL;
	}
	return (void *)(uintptr_t)hva;
}

int
iovh_vq_translate_rings(struct iovh_dev *dev, struct iovh_vq *vq)
{
	const struct vhu_vring_addr *a = &vq->addr;
	uint64_t n = vq->size;
	uint16_t used_idx;
	void *d, *av, *u;

	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	if (!vq->addr_set || dev->mem == NULL || n == 0)
		return 0;
	/* +2 for used_event / avail_event past the rings. */
	d = ring_map(dev, vq, "descriptor", a->desc_user_addr, 16 * n, 16);
	av = ring_map(dev, vq, "avail", a->avail_user_addr, 4 + 2 * n + 2, 2);
	u = ring_map(dev, vq, "used", a->used_user_addr, 4 + 8 * n + 2, 4);
	if (d == NULL || av == NULL || u == NULL)
		return -1;
	vq->desc = d;
	vq->avail = av;
	vq->used = u;
	vq->log_guest_addr = a->log_guest_addr;
	/*
	 * After a back-end restart the used index in guest memory is the
	 * truth: resume from it rather than from a stale SET_VRING_BASE.
	 */
	used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_RELAXED);
	if (vq->last_used_idx != used_idx) {
		IOVH_LOG_CONFIG(WARNING,
			"(%s) vring %u: used idx %u, base %u: resuming at %u",
			dev->path, vq->index, used_idx, vq->last_used_idx,
			used_idx);
		vq->last_used_idx = used_idx;
		vq->last_avail_idx = used_idx;
	}
	return 0;
}

void
iovh_vq_close_fds(struct iovh_vq *vq)
{
	if (vq->kickfd >= 0)
		close(vq->kickfd);
	if (vq->callfd >= 0)
		close(vq->callfd);
	if (vq->errfd >= 0)
		close(vq->errfd);
	vq->kickfd = -1;
	vq->callfd = -1;
	vq->errfd = -1;
}

static void
vq_init(struct iovh_vq *vq, struct iovh_dev *dev, uint16_t idx)
{
	memset(vq, 0, sizeof(*vq));
	vq->dev = dev;
	vq->index = idx;
	vq->kickfd = -1;
	vq->callfd = -1;
	vq->errfd = -1;
	vq->hdr_len = sizeof(struct virtio_net_hdr);
}

static void
log_unmap(struct iovh_dev *dev)
{
	if (dev->log_mmap != NULL)
		munmap(dev->log_mmap, dev->log_mmap_size);
	dev->log_mmap = NULL;
	dev->log_mmap_size = 0;
	dev->log_base = NULL;
	dev->log_size = 0;
	dev->log_on = 0;
}

void
iovh_dev_reset(struct iovh_dev *dev)
{
	unsigned int i;

	iovh_dev_stop(dev);
	/* Quiesced: nothing below can be in use by a poll thread. */
	for (i = 0; i < dev->max_queue_pairs * 2u; i++) {
		struct iovh_vq *vq = dev->vq[i];
		struct iovh_vq_counters st = vq->stats;

		iovh_vq_close_fds(vq);
		vq_init(vq, dev, i);
		vq->stats = st;	/* counters outlive a connection */
	}
	iovh_mem_free(dev->mem);
	dev->mem = NULL;
	log_unmap(dev);
	dev->features = 0;
	dev->protocol_features = 0;
	dev->features_set = 0;
	dev->owner_set = 0;
	dev->status = 0;
	dev->nr_vring = 0;
	dev->guest_mtu = 0;
}

/* Public API: creation and queries. */

static uint64_t
offered_features(const struct iovh_dev_conf *conf)
{
	uint64_t f = IOVH_BASE_FEATURES;

	if (conf->max_queue_pairs <= 1)
		f &= ~(1ULL << VIRTIO_NET_F_MQ);
	if (conf->mtu != 0)
		f |= 1ULL << VIRTIO_NET_F_MTU;
	/*
	 * IOMMU_PLATFORM is offered only once the IOTLB translates every
	 * access; until then a front-end would hand us IOVAs we'd treat as
	 * guest-physical addresses.
	 */
	return f;
}

struct iovh_dev *
iovh_dev_create(const struct iovh_dev_conf *conf)
{
	struct iovh_dev *dev = NULL;
	unsigned int i, nvq;
	size_t sz;
	int rc;

	if (conf == NULL || conf->path == NULL || conf->path[0] == '\0' ||
			strlen(conf->path) >= sizeof(dev->path) ||
			conf->max_queue_pairs == 0 ||
			conf->max_queue_pairs > IOVH_MAX_QUEUE_PAIRS) {
		IOVH_LOG_CONFIG(ERR, "invalid device configuration (path %s, "
			"%u queue pairs; at most %u, path under %zu bytes)",
			conf && conf->path ? conf->path : "(null)",
			conf ? conf->max_queue_pairs : 0,
			IOVH_MAX_QUEUE_PAIRS, sizeof(dev->path));
		rte_errno = EINVAL;
		return NULL;
	}
	dev = iovh_zalloc(sizeof(*dev));
	if (dev == NULL)
		goto nomem;
	strcpy(dev->path, conf->path);
	dev->flags = conf->flags;
	dev->max_queue_pairs = conf->max_queue_pairs;
	dev->numa_node = conf->numa_node;
	dev->mtu = conf->mtu;
	dev->ops = conf->ops;
	dev->arg = conf->arg;
	dev->listen_fd = -1;
	dev->backend_fd = -1;
	dev->offered_features = offered_features(conf);
	dev->offered_protocol = IOVH_BASE_PROTOCOL;
	if (conf->mtu != 0)
		dev->offered_protocol |= 1ULL << VHU_PROTO_F_NET_MTU;
	dev->max_mem_slots = IOVH_MAX_MEM_SLOTS;
	nvq = conf->max_queue_pairs * 2u;
	sz = rte_rcu_qsbr_get_memsize(nvq);
	dev->qsbr = iovh_zalloc(sz);
	if (dev->qsbr == NULL || rte_rcu_qsbr_init(dev->qsbr, nvq) != 0)
		goto nomem;
	for (i = 0; i < nvq; i++) {
		dev->vq[i] = iovh_zalloc(sizeof(struct iovh_vq));
		if (dev->vq[i] == NULL)
			goto nomem;
		vq_init(dev->vq[i], dev, i);
		/* Each virtqueue is one QSBR reader: one poll thread at a
		 * time uses it, whichever lcore that is. */
		rte_rcu_qsbr_thread_register(dev->qsbr, i);
	}

	iovh_ctrl_lock();
	if (!(dev->flags & IOVH_F_CLIENT)) {
		rc = iovh_sock_listen(dev->path);
		if (rc < 0) {
			iovh_ctrl_unlock();
			IOVH_LOG_CONFIG(ERR, "(%s) cannot listen: %s%s", dev->path,
				strerror(-rc), rc == -EADDRINUSE ?
				" (another process serves this socket)" :
				rc == -EEXIST ? " (path exists and is not a socket)" :
				"");
			rte_errno = -rc;
			goto fail;
		}
		dev->listen_fd = rc;
	}
	rc = iovh_ctrl_add(dev);
	if (rc < 0) {
		if (dev->listen_fd >= 0) {
			close(dev->listen_fd);
			unlink(dev->path);
		}
		iovh_ctrl_unlock();
		IOVH_LOG_CONFIG(ERR, "(%s) cannot start the control thread: %s",
				dev->path, strerror(-rc));
		rte_errno = -rc;
		goto fail;
	}
	iovh_ctrl_unlock();
	IOVH_LOG_CONFIG(INFO, "(%s) vhost-user %s socket ready, %u queue pairs",
		dev->path, (dev->flags & IOVH_F_CLIENT) ? "client" : "server",
		dev->max_queue_pairs);
	return dev;

nomem:
	IOVH_LOG_CONFIG(ERR, "(%s) out of memory creating the device",
			conf->path);
	rte_errno = ENOMEM;
fail:
	if (dev != NULL) {
		for (i = 0; i < RTE_DIM(dev->vq); i++)
			free(dev->vq[i]);
		free(dev->qsbr);
		free(dev);
	}
	return NULL;
}

void
iovh_dev_destroy(struct iovh_dev *dev)
{
	if (dev == NULL)
		return;
	iovh_ctrl_lock();
	IOVH_LOG_CONFIG(INFO, "(%s) destroying device", dev->path);
	iovh_ctrl_remove(dev);
	iovh_ctrl_unlock();
}

uint64_t
iovh_dev_features(const struct iovh_dev *dev)
{
	return __atomic_load_n(&dev->features, __ATOMIC_RELAXED);
}

uint16_t
iovh_dev_nb_vrings(const struct iovh_dev *dev)
{
	return __atomic_load_n(&dev->nr_vring, __ATOMIC_RELAXED);
}

bool
iovh_vq_enabled(const struct iovh_dev *dev, uint16_t vq)
{
	if (vq >= dev->max_queue_pairs * 2u)
		return false;
	return __atomic_load_n(&dev->vq[vq]->enabled, __ATOMIC_RELAXED);
}

uint16_t
iovh_dev_mtu(const struct iovh_dev *dev)
{
	return __atomic_load_n(&dev->guest_mtu, __ATOMIC_RELAXED);
}

const char *
iovh_dev_path(const struct iovh_dev *dev)
{
	return dev->path;
}

int
iovh_vq_kickfd(const struct iovh_dev *dev, uint16_t vq)
{
	if (vq >= dev->max_queue_pairs * 2u)
		return -1;
	return __atomic_load_n(&dev->vq[vq]->kickfd, __ATOMIC_RELAXED);
}
