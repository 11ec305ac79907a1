/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_memory.h>

#include "ctrl.h"
#include "mbuf_alloc.h"
#include "net_hdr.h"
#include "packed_ring.h"
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
	(1ULL << VIRTIO_F_RING_PACKED) | \
	(1ULL << VIRTIO_F_IN_ORDER) | \
	IOVH_OFFLOAD_FEATURES | \
	(1ULL << VIRTIO_NET_F_MTU))

/*
 * Offloads offered by default: those of DPDK 22.11's vhost library, which
 * its PMD trims to these when tso=0 (HOST_TSO4/6 follow IOVH_F_TSO). GSO
 * (the legacy "any GSO type" bit) is offered as there; note that a Linux
 * driver takes it as leave to send TSO.
 */
#define IOVH_OFFLOAD_FEATURES ( \
	(1ULL << VIRTIO_NET_F_CSUM) | \
	(1ULL << VIRTIO_NET_F_GUEST_CSUM) | \
	(1ULL << VIRTIO_NET_F_GSO) | \
	(1ULL << VIRTIO_NET_F_GUEST_TSO4) | \
	(1ULL << VIRTIO_NET_F_GUEST_TSO6) | \
	(1ULL << VIRTIO_NET_F_GUEST_ECN) | \
	(1ULL << VIRTIO_NET_F_GUEST_UFO) | \
	(1ULL << VIRTIO_NET_F_HOST_ECN) | \
	(1ULL << VIRTIO_NET_F_HOST_UFO))

/* What lets the front-end send us large (segmentation) packets. */
#define IOVH_HOST_SEG_FEATURES ( \
	(1ULL << VIRTIO_NET_F_GSO) | \
	(1ULL << VIRTIO_NET_F_HOST_TSO4) | \
	(1ULL << VIRTIO_NET_F_HOST_TSO6) | \
	(1ULL << VIRTIO_NET_F_HOST_UFO))

/* Any of these and the front-end's headers may carry requests. */
#define IOVH_HOST_OL_FEATURES (IOVH_HOST_SEG_FEATURES | \
	(1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_HOST_ECN))

#define IOVH_BASE_PROTOCOL ( \
	(1ULL << VHU_PROTO_F_MQ) | \
	(1ULL << VHU_PROTO_F_LOG_SHMFD) | \
	(1ULL << VHU_PROTO_F_RARP) | \
	(1ULL << VHU_PROTO_F_REPLY_ACK) | \
	(1ULL << VHU_PROTO_F_BACKEND_REQ) | \
	(1ULL << VHU_PROTO_F_CONFIGURE_MEM_SLOTS) | \
	(1ULL << VHU_PROTO_F_STATUS) | \
	(1ULL << VHU_PROTO_F_NET_MTU))

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

	for (i = 0; i < dev->max_queue_pairs * 2u; i++) {
		__atomic_store_n(&dev->vq[i]->ring_wait, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&dev->vq[i]->ready, 0, __ATOMIC_RELEASE);
	}
	iovh_dev_quiesce(dev);
}

/* Set up by the front-end (its rings may still wait for the IOTLB). */
static bool
vq_configured(const struct iovh_dev *dev, const struct iovh_vq *vq)
{
	return dev->mem != NULL && vq->size != 0 && vq->addr_set &&
		vq->started && vq->enabled;
}

static bool
vq_usable(const struct iovh_dev *dev, const struct iovh_vq *vq)
{
	return vq_configured(dev, vq) && vq->desc != NULL;
}

/* A queue whose rings wait for an IOTLB mapping: still part of a running
 * device (the front-end's IOMMU took them away, it did not stop us). */
static bool
vq_waiting(const struct iovh_dev *dev, const struct iovh_vq *vq)
{
	return vq_configured(dev, vq) && vq->desc == NULL &&
		iovh_has_feature(dev, VIRTIO_F_IOMMU_PLATFORM);
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
	can_run = dev->features_set &&
		(vq_usable(dev, dev->vq[0]) || vq_waiting(dev, dev->vq[0])) &&
		(vq_usable(dev, dev->vq[1]) || vq_waiting(dev, dev->vq[1]));
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
		__atomic_store_n(&vq->ring_wait, vq_waiting(dev, vq) ? 1 : 0,
				__ATOMIC_RELEASE);
	}
}

void
iovh_dev_apply_features(struct iovh_dev *dev)
{
	unsigned int i;
	bool v1 = iovh_has_feature(dev, VIRTIO_F_VERSION_1);
	bool mrg = iovh_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF);
	uint16_t ol_rx = 0, ol_tx = 0;

	/* Per direction: what net_hdr.c may do on that virtqueue. */
	if (dev->features & IOVH_HOST_OL_FEATURES)
		ol_tx |= IOVH_OL_HOST;
	if (dev->flags & IOVH_F_LEGACY_OL)
		ol_tx |= IOVH_OL_LEGACY;
	if (dev->flags & IOVH_F_LINEARBUF)
		ol_tx |= IOVH_OL_LINEARBUF;
	if (dev->flags & IOVH_F_EXTBUF)
		ol_tx |= IOVH_OL_EXTBUF;
	if (iovh_has_feature(dev, VIRTIO_NET_F_GUEST_CSUM))
		ol_rx |= IOVH_OL_GUEST_CSUM;
	if (iovh_has_feature(dev, VIRTIO_NET_F_GUEST_TSO4))
		ol_rx |= IOVH_OL_GUEST_TSO4;
	if (iovh_has_feature(dev, VIRTIO_NET_F_GUEST_TSO6))
		ol_rx |= IOVH_OL_GUEST_TSO6;
	if (iovh_has_feature(dev, VIRTIO_NET_F_GUEST_UFO))
		ol_rx |= IOVH_OL_GUEST_UFO;
	if (iovh_has_feature(dev, VIRTIO_NET_F_GUEST_ECN))
		ol_rx |= IOVH_OL_GUEST_ECN;

	for (i = 0; i < dev->max_queue_pairs * 2u; i++) {
		struct iovh_vq *vq = dev->vq[i];

		vq->mrg_rxbuf = mrg;
		vq->event_idx = iovh_has_feature(dev, VIRTIO_RING_F_EVENT_IDX);
		vq->hdr_len = (v1 || mrg) ?
			sizeof(struct virtio_net_hdr_mrg_rxbuf) :
			sizeof(struct virtio_net_hdr);
		vq->log_used = dev->log_on &&
			(vq->addr.flags & (1u << VHU_VRING_F_LOG));
		vq->iommu = iovh_has_feature(dev, VIRTIO_F_IOMMU_PLATFORM);
		/* Even: front-end RX (we enqueue); odd: its TX. */
		vq->ol = (i & 1) ? ol_tx : ol_rx;
		vq->in_order = iovh_has_feature(dev, VIRTIO_F_IN_ORDER);
		/* The layout decides what the ring addresses point at. */
		if (vq->packed != iovh_has_feature(dev, VIRTIO_F_RING_PACKED)) {
			vq->packed = !vq->packed;
			iovh_vq_translate_rings(dev, vq);
		}
	}
}

/*
 * A ring at an IOVA: every piece must be mapped with @p perm, and the
 * pieces must follow each other in host memory too, or the ring cannot be
 * used through one pointer. A missing piece is asked for (the ring is then
 * translated again when the UPDATE comes) and is not an error.
 */
static void *
ring_map_iova(struct iovh_dev *dev, struct iovh_vq *vq, const char *what,
		uint64_t iova, uint64_t len, uint8_t perm, uint64_t *gpa,
		int *missing)
{
	uint64_t cur = iova, left = len, first = 0, next = 0, bl, hva, piece;
	const struct iovh_iotlb_map *m;

	while (left > 0) {
		m = iovh_iotlb_find(&dev->iotlb, cur, &bl);
		if (m == NULL) {
			iovh_ctrl_request_miss(dev, cur, perm);
			*missing = 1;
			return NULL;
		}
		if ((m->perm & perm) != perm) {
			IOVH_LOG_CONFIG(ERR, "(%s) vring %u: %s ring IOVA 0x%"
				PRIx64 " mapped with permission %u, needs %u",
				dev->path, vq->index, what, cur, m->perm, perm);
			return NULL;
		}
		hva = m->hva + (cur - m->iova);
		piece = RTE_MIN(left, bl - cur + 1);
		if (cur == iova) {
			first = hva;
			if (gpa != NULL)
				*gpa = m->gpa + (cur - m->iova);
		} else if (hva != next) {
			IOVH_LOG_CONFIG(ERR, "(%s) vring %u: %s ring IOVA 0x%"
				PRIx64 "+%" PRIu64 " is not contiguous in guest "
				"memory", dev->path, vq->index, what, iova, len);
			return NULL;
		}
		next = hva + piece;
		cur += piece;
		left -= piece;
	}
	return (void *)(uintptr_t)first;
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

/* Ring addresses are IOVAs: translate through the IOTLB. */
static int
translate_rings_iova(struct iovh_dev *dev, struct iovh_vq *vq)
{
	const struct vhu_vring_addr *a = &vq->addr;
	uint64_t n = vq->size, log_gpa = 0;
	void *d, *av, *u;
	int missing = 0;

	if ((a->desc_user_addr & 15) || (a->avail_user_addr & 1) ||
			(a->used_user_addr & 3)) {
		IOVH_LOG_CONFIG(ERR, "(%s) vring %u: misaligned ring address",
				dev->path, vq->index);
		return -1;
	}
	/* The device reads the descriptors and the avail ring, and writes
	 * the used ring: exactly what the front-end must have allowed. */
	d = ring_map_iova(dev, vq, "descriptor", a->desc_user_addr, 16 * n,
			VHU_ACCESS_RO, NULL, &missing);
	av = ring_map_iova(dev, vq, "avail", a->avail_user_addr, 4 + 2 * n + 2,
			VHU_ACCESS_RO, NULL, &missing);
	u = ring_map_iova(dev, vq, "used", a->used_user_addr, 4 + 8 * n + 2,
			VHU_ACCESS_WO, NULL, &missing);
	if ((a->flags & (1u << VHU_VRING_F_LOG)) && u != NULL &&
			ring_map_iova(dev, vq, "log", a->log_guest_addr,
				4 + 8 * n + 2, VHU_ACCESS_WO, &log_gpa,
				&missing) == NULL)
		u = NULL;
	if (d == NULL || av == NULL || u == NULL)
		return missing ? 0 : -1;
	vq->desc = d;
	vq->avail = av;
	vq->used = u;
	/* The log wants guest-physical addresses, not IOVAs. */
	vq->log_guest_addr = log_gpa;
	IOVH_LOG_CONFIG(DEBUG, "(%s) vring %u translated through the IOTLB",
			dev->path, vq->index);
	return 0;
}

/*
 * Packed layout (virtio 1.2, 2.8): desc_user_addr is the descriptor ring,
 * which the device reads and writes; avail_user_addr the driver event
 * area (read); used_user_addr the device event area (written). Used
 * descriptors are written into the descriptor ring, so that is what the
 * dirty log covers, by its guest-physical address; the log_guest_addr a
 * front-end sends names the device area (QEMU), and is not needed.
 */
static int
translate_rings_packed(struct iovh_dev *dev, struct iovh_vq *vq)
{
	const struct vhu_vring_addr *a = &vq->addr;
	const uint64_t ev = sizeof(struct vring_packed_desc_event);
	uint64_t n = vq->size, desc_gpa = 0, ev_gpa = 0;
	void *d, *drv, *devev;
	int missing = 0;

	if ((a->desc_user_addr & 15) || (a->avail_user_addr & 3) ||
			(a->used_user_addr & 3)) {
		IOVH_LOG_CONFIG(ERR, "(%s) vring %u: misaligned packed ring "
			"address", dev->path, vq->index);
		return -1;
	}
	if (iovh_has_feature(dev, VIRTIO_F_IOMMU_PLATFORM)) {
		d = ring_map_iova(dev, vq, "descriptor", a->desc_user_addr,
				16 * n, VHU_ACCESS_RW, &desc_gpa, &missing);
		drv = ring_map_iova(dev, vq, "driver event", a->avail_user_addr,
				ev, VHU_ACCESS_RO, NULL, &missing);
		devev = ring_map_iova(dev, vq, "device event",
				a->used_user_addr, ev, VHU_ACCESS_WO, &ev_gpa,
				&missing);
		if (d == NULL || drv == NULL || devev == NULL)
			return missing ? 0 : -1;
	} else {
		d = ring_map(dev, vq, "descriptor", a->desc_user_addr, 16 * n,
				16);
		drv = ring_map(dev, vq, "driver event", a->avail_user_addr, ev,
				4);
		devev = ring_map(dev, vq, "device event", a->used_user_addr, ev,
				4);
		if (d == NULL || drv == NULL || devev == NULL)
			return -1;
		desc_gpa = iovh_fva_to_gpa(dev->mem, a->desc_user_addr);
		ev_gpa = iovh_fva_to_gpa(dev->mem, a->used_user_addr);
	}
	/* A base from before a SET_VRING_NUM that shrank the ring: start
	 * the ring afresh (SET_VRING_BASE normally follows anyway). */
	if (vq->last_avail_idx >= n || vq->last_used_idx >= n) {
		IOVH_LOG_CONFIG(WARNING, "(%s) vring %u: base %u past a packed "
			"ring of %" PRIu64 ": starting at 0", dev->path,
			vq->index, vq->last_avail_idx, n);
		vq->last_avail_idx = vq->last_used_idx = 0;
		vq->avail_wrap = vq->used_wrap = 1;
	}
	vq->desc_packed = d;
	vq->driver_event = drv;
	vq->device_event = devev;
	vq->log_guest_addr = desc_gpa;
	vq->log_event_gpa = ev_gpa;
	/* New memory: whatever we wrote before is not there. */
	vq->dev_event_last = UINT32_MAX;
	return 0;
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
	if (vq->packed)
		return translate_rings_packed(dev, vq);
	if (iovh_has_feature(dev, VIRTIO_F_IOMMU_PLATFORM))
		return translate_rings_iova(dev, vq);
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
	/* Packed rings start in lap 1 (2.8.1), until SET_VRING_BASE. */
	vq->avail_wrap = 1;
	vq->used_wrap = 1;
	vq->dev_event_last = UINT32_MAX;
}

static void
log_unmap(struct iovh_dev *dev)
{
	if (dev->log_mmap != NULL) {
		iovh_sigbus_unguard(dev->log_mmap);
		munmap(dev->log_mmap, dev->log_mmap_size);
	}
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
		iovh_vq_backlog_free(vq);
		vq_init(vq, dev, i);
		vq->stats = st;	/* counters outlive a connection */
	}
	iovh_mem_free(dev->mem);
	dev->mem = NULL;
	iovh_iotlb_flush(&dev->iotlb);
	iovh_iotlb_reclaim(&dev->iotlb);
	dev->npending = 0;
	dev->nlat_wait = 0;
	/* A RARP announces the guest that asked for it, not the next one. */
	dev->rarp_pending = 0;
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
	if (conf->flags & IOVH_F_TSO)
		f |= (1ULL << VIRTIO_NET_F_HOST_TSO4) |
			(1ULL << VIRTIO_NET_F_HOST_TSO6);
	/*
	 * A linear mbuf cannot take a 64 KiB packet without an external
	 * buffer: no segmentation from the front-end then (as in DPDK, which
	 * however keeps offering GSO; that bit lets Linux send TSO too).
	 */
	if ((conf->flags & IOVH_F_LINEARBUF) && !(conf->flags & IOVH_F_EXTBUF))
		f &= ~IOVH_HOST_SEG_FEATURES;
	/* Every address is then an IOVA, translated through the IOTLB. */
	if (conf->flags & IOVH_F_IOMMU)
		f |= 1ULL << VIRTIO_F_IOMMU_PLATFORM;
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
	dev->miss_efd = -1;
	dev->offered_features = offered_features(conf);
	dev->offered_protocol = IOVH_BASE_PROTOCOL;
	/* Before the device exists: poll threads may use the pool at once. */
	if ((conf->flags & IOVH_F_EXTBUF) &&
			iovh_extbuf_pool_init(conf->numa_node) < 0)
		IOVH_LOG_CONFIG(WARNING, "(%s) ext-buffer without a pool",
				conf->path);
	dev->max_mem_slots = IOVH_MAX_MEM_SLOTS;
	if (conf->flags & IOVH_F_IOMMU) {
		if (iovh_iotlb_init(&dev->iotlb, conf->iotlb_entries ?
				conf->iotlb_entries : IOVH_IOTLB_DEFAULT) < 0)
			goto nomem;
		dev->miss_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (dev->miss_efd < 0)
			goto nomem;
	} else if (iovh_iotlb_init(&dev->iotlb, 1) < 0) {
		/* An empty table: lookups find nothing, cheaply. */
		goto nomem;
	}
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
		iovh_dev_free(dev);
		return NULL;
	}
	return NULL;
}

/* Free a device no thread can reach any more. */
void
iovh_dev_free(struct iovh_dev *dev)
{
	unsigned int i;

	iovh_iotlb_fini(&dev->iotlb);
	if (dev->miss_efd >= 0)
		close(dev->miss_efd);
	for (i = 0; i < RTE_DIM(dev->vq); i++) {
		if (dev->vq[i] != NULL)
			iovh_vq_backlog_free(dev->vq[i]);
		free(dev->vq[i]);
	}
	free(dev->qsbr);
	free(dev);
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

enum iovh_dev_state
iovh_dev_state(const struct iovh_dev *dev)
{
	if (__atomic_load_n(&dev->running, __ATOMIC_RELAXED))
		return IOVH_DEV_RUNNING;
	/* Only compared with NULL: the pointer is never followed here. */
	if (__atomic_load_n(&dev->conn, __ATOMIC_RELAXED) != NULL)
		return IOVH_DEV_CONNECTED;
	return IOVH_DEV_DISCONNECTED;
}

uint64_t
iovh_dev_protocol_features(const struct iovh_dev *dev)
{
	return __atomic_load_n(&dev->protocol_features, __ATOMIC_RELAXED);
}
