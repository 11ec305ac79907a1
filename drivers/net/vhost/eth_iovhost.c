/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * net_vhost: an ethdev port on top of one iovhost device.
 *
 * Queue pair q of the port is virtqueue pair q of the device: tx_burst
 * fills virtqueue 2q (the front-end's RX) and rx_burst drains 2q + 1. The
 * vhost-user socket exists from probe to close, independent of
 * configure/start, so a front-end in the same process (virtio_user) can be
 * probed right after this port.
 */

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_interrupts.h>
#include <rte_malloc.h>
#include <rte_power_intrinsics.h>
#include <ethdev_driver.h>
#include <ethdev_vdev.h>
#include <bus_vdev_driver.h>

#include "eth_iovhost.h"
#include "net_hdr.h"
#include "vhost_user.h"

RTE_LOG_REGISTER(iovh_pmd_logtype, pmd.net.iovhost, NOTICE);

/*
 * Largest MTU a virtio-net front-end can announce (a 16-bit field), plus
 * the overhead ethdev assumes when it checks an MTU against max_rx_pktlen.
 */
#define IOVH_PMD_MAX_MTU	UINT16_MAX
#define IOVH_PMD_MAX_RX_PKTLEN \
	(IOVH_PMD_MAX_MTU + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN)
/* Keeps a minimum-size frame, and so the Ethernet header, in one segment. */
#define IOVH_PMD_MIN_RX_BUFSIZE	RTE_ETHER_MIN_LEN

/*
 * Locally administered unicast prefix, "VIOVH" in ASCII; the last byte is
 * the port id. Differs from the DPDK vhost PMD's so a capture shows which
 * back-end a frame came from.
 */
static const uint8_t iovh_pmd_mac_prefix[RTE_ETHER_ADDR_LEN - 1] = {
	0x56, 0x49, 0x4F, 0x56, 0x48,
};

/* ---------------------------------------------------------------- */
/* Fast path                                                         */
/* ---------------------------------------------------------------- */

/**
 * Whether @p q may be polled now. The library is safe to call at any time,
 * so this only keeps a stopped or detached port from moving packets; one
 * load in the common case.
 */
static __rte_always_inline bool
iovh_pmd_queue_usable(struct iovh_pmd_queue *q)
{
	struct iovh_pmd_internal *internal = q->internal;
	uint32_t gen;

	if (unlikely(__atomic_load_n(&internal->state, __ATOMIC_ACQUIRE) !=
			IOVH_PMD_RUNNING))
		return false;
	gen = __atomic_load_n(&internal->notify_gen, __ATOMIC_RELAXED);
	if (unlikely(gen != q->notify_gen)) {
		q->notify_gen = gen;
		/*
		 * We poll, so kicks from the front-end would only cost it a
		 * system call per batch (unless the application asked for
		 * RX interrupts). Failure (queue not set up yet) is fine: the
		 * next vring enable bumps notify_gen again.
		 */
		(void)iovh_vq_notify_enable(q->dev, q->vq, q->intr_on);
	}
	return true;
}

static uint16_t
iovh_pmd_rx_burst(void *rxq, struct rte_mbuf **pkts, uint16_t nb_pkts)
{
	struct iovh_pmd_queue *q = rxq;
	uint16_t i, n;

	if (unlikely(!iovh_pmd_queue_usable(q)))
		return 0;
	n = iovh_dequeue_burst(q->dev, q->vq, q->mb_pool, pkts, nb_pkts);
	for (i = 0; i < n; i++)
		pkts[i]->port = q->port_id;
	if (unlikely(*q->rx_sw_csum))
		for (i = 0; i < n; i++)
			iovh_net_rx_sw_csum(pkts[i]);
	iovh_pmd_count(&q->stats, pkts, n);
	return n;
}

/*
 * Nothing went out. A full ring or a ring that waits for its IOTLB mapping
 * sends the burst back to the caller, as ethdev expects. But a queue the
 * front-end has not enabled may never be: a one-queue guest on a port with
 * queues=2, which OVS transmits on because it wants a TX queue per thread.
 * Handing those packets back would make a caller that retries spin for
 * good, so they are consumed, dropped and counted. The library never
 * touches a ring that is not ready; asking it whether the queue is enabled
 * costs only this slow path a call. Its answer is a relaxed load and may
 * be a moment old: a queue enabled just now loses this one burst, one
 * disabled just now has the burst handed back once more. No ordering with
 * the ring is needed, since the ring itself is never read here.
 */
static __rte_noinline uint16_t
iovh_pmd_tx_stuck(struct iovh_pmd_queue *q, struct rte_mbuf **pkts,
		uint16_t nb_pkts)
{
	if (iovh_vq_enabled(q->dev, q->vq)) {
		q->stats.missed += nb_pkts;
		return 0;
	}
	rte_pktmbuf_free_bulk(pkts, nb_pkts);
	q->stats.disabled += nb_pkts;
	return nb_pkts;
}

/*
 * Free the mbufs the library copied. In the common case (every one direct,
 * a single segment, not shared, all from one pool) they go back to the
 * pool in one put, with the checks rte_mbuf_raw_free() demands: that is
 * what rte_pktmbuf_free_bulk() ends up doing, without its out-of-line
 * per-segment walk. Anything else takes that generic path, whole.
 */
static __rte_always_inline void
iovh_pmd_free_sent(struct rte_mbuf **pkts, uint16_t n)
{
	struct rte_mempool *mp = pkts[0]->pool;
	const struct rte_mbuf *m;
	uint16_t i;

	for (i = 0; i < n; i++) {
		m = pkts[i];
		if (unlikely(m->pool != mp || !RTE_MBUF_DIRECT(m) ||
				m->nb_segs != 1 || m->next != NULL ||
				rte_mbuf_refcnt_read(m) != 1)) {
			rte_pktmbuf_free_bulk(pkts, n);
			return;
		}
	}
	rte_mempool_put_bulk(mp, (void **)pkts, n);
}

static uint16_t
iovh_pmd_tx_burst(void *txq, struct rte_mbuf **pkts, uint16_t nb_pkts)
{
	struct iovh_pmd_queue *q = txq;
	uint16_t n;

	if (unlikely(!iovh_pmd_queue_usable(q)))
		return 0;
	n = iovh_enqueue_burst(q->dev, q->vq, pkts, nb_pkts);
	if (unlikely(n == 0))
		return iovh_pmd_tx_stuck(q, pkts, nb_pkts);
	/* The library copied them; ethdev's contract makes them ours. */
	iovh_pmd_count(&q->stats, pkts, n);
	iovh_pmd_free_sent(pkts, n);
	/* The rest go back to the caller, which may retry or drop them. */
	q->stats.missed += nb_pkts - n;
	return n;
}

/* ---------------------------------------------------------------- */
/* RX interrupts                                                     */
/* ---------------------------------------------------------------- */

/*
 * The application waits on one epoll fd per RX queue (the "efd" of the
 * queue's vector in eth_dev->intr_handle), registered once in its own
 * epoll set. That fd is our private epoll set holding the virtqueue's kick
 * eventfd, which the front-end replaces on every reconnect or ring restart,
 * plus an eventfd of ours to wake the application at once. So the
 * application never sees the kick fd change: we move it in and out of the
 * private set from the library callbacks. EAL reads nothing from the efd
 * (counter size 0); a readable kick fd is never drained, which costs
 * nothing: the application's set is edge-triggered, so only a new kick
 * wakes it.
 */

/*
 * Put the current kick fd of RX queue @p qid in its epoll set (or only
 * take the old one out, when @p want is false). Called with intr_lock
 * held. From the control thread (callbacks) the fd cannot change under
 * us; from the application's thread it could, if the front-end restarted
 * the ring right now: then the vring callback that follows fixes it up.
 *
 * An fd number equal to the one registered is left alone unless @p force:
 * re-adding a kick fd that was kicked before (it is never drained) would
 * wake the application for nothing. A callback forces, because the
 * library may have closed the old fd (which drops it from the set) and
 * got the same number for the new one.
 */
static void
iovh_pmd_intr_update(struct rte_eth_dev *eth_dev, uint16_t qid, bool want,
		bool force)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	struct epoll_event ev = { .events = EPOLLIN };
	struct iovh_pmd_queue *q;
	int epfd, fd;

	if (eth_dev->intr_handle == NULL ||
			qid >= eth_dev->data->nb_rx_queues ||
			eth_dev->data->rx_queues == NULL)
		return;
	q = eth_dev->data->rx_queues[qid];
	if (q == NULL || internal->dev == NULL)
		return;
	epfd = rte_intr_efds_index_get(eth_dev->intr_handle, qid);
	if (epfd < 0)
		return;
	fd = want ? iovh_vq_kickfd(internal->dev, q->vq) : -1;
	if (fd == q->intr_kickfd && fd >= 0 && !force)
		return;
	/* Fails harmlessly if the library closed it (which removes it). */
	if (q->intr_kickfd >= 0)
		(void)epoll_ctl(epfd, EPOLL_CTL_DEL, q->intr_kickfd, NULL);
	q->intr_kickfd = -1;
	if (fd < 0)
		return;
	ev.data.fd = fd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 && errno != EEXIST) {
		IOVH_PMD_LOG(ERR, "%s: rx queue %u: cannot watch kick fd %d: %s",
				eth_dev->data->name, qid, fd, strerror(errno));
		return;
	}
	q->intr_kickfd = fd;
	IOVH_PMD_LOG(DEBUG, "%s: rx queue %u: interrupts from kick fd %d",
			eth_dev->data->name, qid, fd);
}

static void
iovh_pmd_intr_update_all(struct rte_eth_dev *eth_dev, bool want)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	uint16_t i;

	rte_spinlock_lock(&internal->intr_lock);
	for (i = 0; i < eth_dev->data->nb_rx_queues; i++)
		iovh_pmd_intr_update(eth_dev, i, want, true);
	rte_spinlock_unlock(&internal->intr_lock);
}

/* Called with intr_lock held. */
static void
iovh_pmd_intr_uninstall(struct rte_eth_dev *eth_dev)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	struct rte_intr_handle *h = eth_dev->intr_handle;
	struct iovh_pmd_queue *q;
	int i, n, fd;

	if (h == NULL)
		return;
	n = rte_intr_nb_efd_get(h);
	for (i = 0; i < n; i++) {
		/* Closing the set also takes it out of the application's. */
		fd = rte_intr_efds_index_get(h, i);
		if (fd >= 0)
			close(fd);
	}
	for (i = 0; i < (int)RTE_DIM(internal->intr_selffd); i++) {
		if (internal->intr_selffd[i] >= 0)
			close(internal->intr_selffd[i]);
		internal->intr_selffd[i] = -1;
	}
	for (i = 0; i < eth_dev->data->nb_rx_queues &&
			eth_dev->data->rx_queues != NULL; i++) {
		q = eth_dev->data->rx_queues[i];
		if (q != NULL)
			q->intr_kickfd = -1;
	}
	rte_intr_vec_list_free(h);
	rte_intr_instance_free(h);
	eth_dev->intr_handle = NULL;
}

/* Called with intr_lock held. */
static int
iovh_pmd_intr_install(struct rte_eth_dev *eth_dev)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	uint16_t nb_rxq = eth_dev->data->nb_rx_queues;
	struct epoll_event ev = { .events = EPOLLIN };
	struct rte_intr_handle *h;
	struct iovh_pmd_queue *q;
	int epfd, efd;
	uint16_t i;

	h = rte_intr_instance_alloc(RTE_INTR_INSTANCE_F_PRIVATE);
	if (h == NULL)
		goto nomem;
	eth_dev->intr_handle = h;
	if (rte_intr_type_set(h, RTE_INTR_HANDLE_VDEV) != 0 ||
			rte_intr_efd_counter_size_set(h, 0) != 0 ||
			rte_intr_vec_list_alloc(h, NULL, nb_rxq) != 0)
		goto nomem;
	for (i = 0; i < nb_rxq; i++) {
		epfd = epoll_create1(EPOLL_CLOEXEC);
		efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ev.data.fd = efd;
		if (epfd < 0 || efd < 0 ||
				epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev) < 0 ||
				rte_intr_efds_index_set(h, i, epfd) != 0 ||
				rte_intr_vec_list_index_set(h, i,
					RTE_INTR_VEC_RXTX_OFFSET + i) != 0) {
			IOVH_PMD_LOG(ERR, "%s: rx queue %u: cannot set up its "
				"interrupt: %s", eth_dev->data->name, i,
				strerror(errno));
			if (epfd >= 0)
				close(epfd);
			if (efd >= 0)
				close(efd);
			/* The first i sets are closed by the uninstall. */
			rte_intr_nb_efd_set(h, i);
			iovh_pmd_intr_uninstall(eth_dev);
			return -EIO;
		}
		internal->intr_selffd[i] = efd;
		q = eth_dev->data->rx_queues[i];
		if (q != NULL)
			q->intr_kickfd = -1;
		rte_intr_nb_efd_set(h, i + 1);
	}
	if (rte_intr_max_intr_set(h, nb_rxq + 1) != 0)
		goto nomem;
	return 0;
nomem:
	IOVH_PMD_LOG(ERR, "%s: cannot set up RX interrupts: %s",
			eth_dev->data->name, rte_strerror(rte_errno));
	iovh_pmd_intr_uninstall(eth_dev);
	return -ENOMEM;
}

static int
iovh_pmd_rx_queue_intr_enable(struct rte_eth_dev *eth_dev, uint16_t qid)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	struct iovh_pmd_queue *q = eth_dev->data->rx_queues[qid];
	static const uint64_t one = 1;
	int efd, rc;

	rte_spinlock_lock(&internal->intr_lock);
	if (eth_dev->intr_handle == NULL) {
		rte_spinlock_unlock(&internal->intr_lock);
		IOVH_PMD_LOG(ERR, "%s: rx queue %u: RX interrupts need "
			"dev_conf.intr_conf.rxq = 1 and a started port",
			eth_dev->data->name, qid);
		return -EINVAL;
	}
	/* A ring restarted without a vring state change has a new fd. */
	iovh_pmd_intr_update(eth_dev, qid, true, false);
	efd = internal->intr_selffd[qid];
	rte_spinlock_unlock(&internal->intr_lock);

	q->intr_on = 1;
	rc = iovh_vq_notify_enable(q->dev, q->vq, true);
	/*
	 * Buffers posted before the front-end could see our request raised
	 * no kick: wake the application ourselves, or it would sleep on
	 * them. EAGAIN (counter full) means a wake-up is pending anyway.
	 */
	if (rc == 1 && write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		IOVH_PMD_LOG(DEBUG, "%s: rx queue %u: wake-up write: %s",
				eth_dev->data->name, qid, strerror(errno));
	return 0;
}

static int
iovh_pmd_rx_queue_intr_disable(struct rte_eth_dev *eth_dev, uint16_t qid)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	struct iovh_pmd_queue *q = eth_dev->data->rx_queues[qid];
	uint64_t v;
	int efd;

	q->intr_on = 0;
	(void)iovh_vq_notify_enable(q->dev, q->vq, false);
	rte_spinlock_lock(&internal->intr_lock);
	efd = eth_dev->intr_handle != NULL ? internal->intr_selffd[qid] : -1;
	/* Consume our own wake-up, if any (non-blocking). */
	if (efd >= 0 && read(efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		IOVH_PMD_LOG(DEBUG, "%s: rx queue %u: wake-up read: %s",
				eth_dev->data->name, qid, strerror(errno));
	rte_spinlock_unlock(&internal->intr_lock);
	return 0;
}

/* opaque[] of the power-monitor condition. */
#define IOVH_PMC_VAL	0
#define IOVH_PMC_MASK	1
#define IOVH_PMC_MATCH	2

/* rte_power_monitor(): 0 lets the core sleep, -1 means data is there. */
static int
iovh_pmd_monitor_clb(const uint64_t value,
		const uint64_t opaque[RTE_POWER_MONITOR_OPAQUE_SZ])
{
	bool equal = (value & opaque[IOVH_PMC_MASK]) == opaque[IOVH_PMC_VAL];

	return equal == (opaque[IOVH_PMC_MATCH] != 0) ? -1 : 0;
}

static int
iovh_pmd_get_monitor_addr(void *rxq, struct rte_power_monitor_cond *pmc)
{
	struct iovh_pmd_queue *q = rxq;
	struct iovh_monitor_cond c;
	int rc;

	if (q == NULL || pmc == NULL)
		return -EINVAL;
	rc = iovh_vq_monitor_addr(q->dev, q->vq, &c);
	if (rc < 0)
		return rc;
	pmc->addr = (volatile void *)(uintptr_t)c.addr;
	pmc->size = c.size;
	pmc->fn = iovh_pmd_monitor_clb;
	pmc->opaque[IOVH_PMC_VAL] = c.val;
	pmc->opaque[IOVH_PMC_MASK] = c.mask;
	pmc->opaque[IOVH_PMC_MATCH] = c.wake_on_match;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Library callbacks (control thread)                                */
/* ---------------------------------------------------------------- */

/** @return true if the link status changed. */
static bool
iovh_pmd_link_set(struct rte_eth_dev *eth_dev, bool up)
{
	struct rte_eth_link link = {
		.link_speed = RTE_ETH_SPEED_NUM_10G,
		.link_duplex = RTE_ETH_LINK_FULL_DUPLEX,
		.link_autoneg = RTE_ETH_LINK_AUTONEG,
		.link_status = up ? RTE_ETH_LINK_UP : RTE_ETH_LINK_DOWN,
	};

	return rte_eth_linkstatus_set(eth_dev, &link) == 0;
}

/*
 * Whether received packets need their checksum completed here (as DPDK's
 * vhost PMD does): with compliant flags a partial checksum is reported as
 * L4_CKSUM_NONE, which an application that did not enable the RX checksum
 * offload cannot be expected to understand.
 */
static void
iovh_pmd_csum_configure(struct iovh_pmd_internal *internal)
{
	const struct rte_eth_dev_data *data = internal->eth_dev->data;
	uint64_t f = internal->dev != NULL ?
		iovh_dev_features(internal->dev) : 0;

	internal->rx_sw_csum = !(internal->args.flags & IOVH_F_LEGACY_OL) &&
		(f & (1ULL << VIRTIO_NET_F_CSUM)) &&
		!(data->dev_conf.rxmode.offloads &
			(RTE_ETH_RX_OFFLOAD_TCP_CKSUM |
			 RTE_ETH_RX_OFFLOAD_UDP_CKSUM));
}

static int
iovh_pmd_new_device(struct iovh_dev *dev, void *arg)
{
	struct iovh_pmd_internal *internal = arg;
	struct rte_eth_dev *eth_dev = internal->eth_dev;
	uint16_t mtu = iovh_dev_mtu(dev);

	/* The front-end's MTU is what the guest will really send. */
	if (mtu != 0)
		eth_dev->data->mtu = mtu;
	iovh_pmd_csum_configure(internal);
	__atomic_fetch_add(&internal->notify_gen, 1, __ATOMIC_RELAXED);
	__atomic_fetch_or(&internal->state, IOVH_PMD_ATTACHED,
			__ATOMIC_RELEASE);
	iovh_pmd_intr_update_all(eth_dev, true);
	IOVH_PMD_LOG(INFO, "%s: front-end attached on %s (features %#" PRIx64
			", %u vrings)", eth_dev->data->name,
			internal->args.iface, iovh_dev_features(dev),
			iovh_dev_nb_vrings(dev));
	if (iovh_pmd_link_set(eth_dev, true))
		rte_eth_dev_callback_process(eth_dev, RTE_ETH_EVENT_INTR_LSC,
				NULL);
	return 0;
}

static void
iovh_pmd_destroy_device(struct iovh_dev *dev __rte_unused, void *arg)
{
	struct iovh_pmd_internal *internal = arg;
	struct rte_eth_dev *eth_dev = internal->eth_dev;
	unsigned int i;

	__atomic_fetch_and(&internal->state, ~IOVH_PMD_ATTACHED,
			__ATOMIC_RELEASE);
	/* A new front-end starts with every virtqueue disabled. */
	for (i = 0; i < RTE_DIM(internal->vq_enabled); i++)
		__atomic_store_n(&internal->vq_enabled[i], 0,
				__ATOMIC_RELAXED);
	/* The kick fds are still open: take them out cleanly. */
	iovh_pmd_intr_update_all(eth_dev, false);
	IOVH_PMD_LOG(INFO, "%s: front-end detached from %s",
			eth_dev->data->name, internal->args.iface);
	if (iovh_pmd_link_set(eth_dev, false))
		rte_eth_dev_callback_process(eth_dev, RTE_ETH_EVENT_INTR_LSC,
				NULL);
}

static void
iovh_pmd_vring_state_changed(struct iovh_dev *dev __rte_unused, uint16_t vq,
		bool enabled, void *arg)
{
	struct iovh_pmd_internal *internal = arg;
	struct rte_eth_dev *eth_dev = internal->eth_dev;

	if (vq >= RTE_DIM(internal->vq_enabled))
		return;
	__atomic_store_n(&internal->vq_enabled[vq], enabled,
			__ATOMIC_RELAXED);
	if (enabled)
		__atomic_fetch_add(&internal->notify_gen, 1,
				__ATOMIC_RELAXED);
	if (vq & 1) {
		rte_spinlock_lock(&internal->intr_lock);
		iovh_pmd_intr_update(eth_dev, vq / 2, enabled, true);
		rte_spinlock_unlock(&internal->intr_lock);
	}
	IOVH_PMD_LOG(INFO, "%s: %s queue %u %s", eth_dev->data->name,
			vq & 1 ? "rx" : "tx", vq / 2,
			enabled ? "enabled" : "disabled");
	rte_eth_dev_callback_process(eth_dev, RTE_ETH_EVENT_QUEUE_STATE, NULL);
}

static const struct iovh_ops iovh_pmd_callbacks = {
	.new_device = iovh_pmd_new_device,
	.destroy_device = iovh_pmd_destroy_device,
	.vring_state_changed = iovh_pmd_vring_state_changed,
};

/* ---------------------------------------------------------------- */
/* ethdev ops                                                        */
/* ---------------------------------------------------------------- */

static int
iovh_pmd_dev_configure(struct rte_eth_dev *eth_dev)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	uint16_t nb_rx = eth_dev->data->nb_rx_queues;
	uint16_t nb_tx = eth_dev->data->nb_tx_queues;

	if (nb_rx > internal->args.queues || nb_tx > internal->args.queues) {
		IOVH_PMD_LOG(ERR, "%s: %u rx / %u tx queues requested, but the "
			"port has queues=%u", eth_dev->data->name, nb_rx,
			nb_tx, internal->args.queues);
		return -EINVAL;
	}
	/*
	 * The port is stopped (ethdev's rule), so no burst reads this; the
	 * release of IOVH_PMD_STARTED in dev_start publishes it.
	 */
	iovh_pmd_csum_configure(internal);
	return 0;
}

static int
iovh_pmd_dev_infos_get(struct rte_eth_dev *eth_dev,
		struct rte_eth_dev_info *info)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;

	info->max_mac_addrs = 1;
	info->max_rx_pktlen = IOVH_PMD_MAX_RX_PKTLEN;
	info->min_rx_bufsize = IOVH_PMD_MIN_RX_BUFSIZE;
	info->min_mtu = RTE_ETHER_MIN_MTU;
	info->max_mtu = IOVH_PMD_MAX_MTU;
	/* A GSO packet from the front-end: 64 KiB of IP plus Ethernet. */
	info->max_lro_pkt_size = IOVH_PMD_MAX_RX_PKTLEN;
	info->max_rx_queues = internal->args.queues;
	info->max_tx_queues = internal->args.queues;
	info->speed_capa = RTE_ETH_LINK_SPEED_10G;
	/* The library chains mbufs for a packet larger than one. */
	info->rx_offload_capa = RTE_ETH_RX_OFFLOAD_SCATTER;
	/*
	 * Enqueue honours checksum and segmentation requests whatever the
	 * front-end negotiated (what it cannot take is done in software, or
	 * the packet goes whole). DPDK's vhost PMD advertises only the L4
	 * checksums, and only with compliant flags, although its library
	 * honours TSO too; applications check these bits before using TSO.
	 */
	info->tx_offload_capa = RTE_ETH_TX_OFFLOAD_MULTI_SEGS |
		RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
		RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
		RTE_ETH_TX_OFFLOAD_UDP_CKSUM |
		RTE_ETH_TX_OFFLOAD_TCP_TSO;
	/* Legacy flags describe received packets with TX flags: no RX capa. */
	if (!(internal->args.flags & IOVH_F_LEGACY_OL))
		info->rx_offload_capa |= RTE_ETH_RX_OFFLOAD_TCP_CKSUM |
			RTE_ETH_RX_OFFLOAD_UDP_CKSUM |
			RTE_ETH_RX_OFFLOAD_TCP_LRO;
	return 0;
}

static int
iovh_pmd_queue_setup(struct rte_eth_dev *eth_dev, bool rx, uint16_t qid,
		uint16_t nb_desc, unsigned int socket_id,
		struct rte_mempool *mp)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	struct iovh_pmd_queue *q;

	q = rte_zmalloc_socket(eth_dev->data->name, sizeof(*q),
			RTE_CACHE_LINE_SIZE, socket_id);
	if (q == NULL) {
		IOVH_PMD_LOG(ERR, "%s: no memory for %s queue %u",
				eth_dev->data->name, rx ? "rx" : "tx", qid);
		return -ENOMEM;
	}
	q->internal = internal;
	q->dev = internal->dev;
	q->mb_pool = mp;
	q->qid = qid;
	q->vq = rx ? 2 * qid + 1 : 2 * qid;
	q->port_id = eth_dev->data->port_id;
	q->nb_desc = nb_desc;
	q->rx_sw_csum = &internal->rx_sw_csum;
	q->intr_kickfd = -1;
	if (rx)
		eth_dev->data->rx_queues[qid] = q;
	else
		eth_dev->data->tx_queues[qid] = q;
	return 0;
}

/* nb_desc is only reported back: the front-end sizes the rings. */
static int
iovh_pmd_rx_queue_setup(struct rte_eth_dev *eth_dev, uint16_t qid,
		uint16_t nb_desc, unsigned int socket_id,
		const struct rte_eth_rxconf *conf __rte_unused,
		struct rte_mempool *mp)
{
	return iovh_pmd_queue_setup(eth_dev, true, qid, nb_desc, socket_id, mp);
}

static int
iovh_pmd_tx_queue_setup(struct rte_eth_dev *eth_dev, uint16_t qid,
		uint16_t nb_desc, unsigned int socket_id,
		const struct rte_eth_txconf *conf __rte_unused)
{
	return iovh_pmd_queue_setup(eth_dev, false, qid, nb_desc, socket_id,
			NULL);
}

static void
iovh_pmd_rx_queue_release(struct rte_eth_dev *eth_dev, uint16_t qid)
{
	rte_free(eth_dev->data->rx_queues[qid]);
	eth_dev->data->rx_queues[qid] = NULL;
}

static void
iovh_pmd_tx_queue_release(struct rte_eth_dev *eth_dev, uint16_t qid)
{
	rte_free(eth_dev->data->tx_queues[qid]);
	eth_dev->data->tx_queues[qid] = NULL;
}

static void
iovh_pmd_rxq_info_get(struct rte_eth_dev *eth_dev, uint16_t qid,
		struct rte_eth_rxq_info *qinfo)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	struct iovh_pmd_queue *q = eth_dev->data->rx_queues[qid];

	qinfo->mp = q->mb_pool;
	qinfo->nb_desc = q->nb_desc;
	qinfo->scattered_rx = !(internal->args.flags &
			(IOVH_F_LINEARBUF | IOVH_F_EXTBUF));
	qinfo->queue_state = eth_dev->data->rx_queue_state[qid];
}

static void
iovh_pmd_txq_info_get(struct rte_eth_dev *eth_dev, uint16_t qid,
		struct rte_eth_txq_info *qinfo)
{
	struct iovh_pmd_queue *q = eth_dev->data->tx_queues[qid];

	qinfo->nb_desc = q->nb_desc;
	qinfo->queue_state = eth_dev->data->tx_queue_state[qid];
}

/* The library copies on enqueue, so no mbuf is ever held back. */
static int
iovh_pmd_tx_done_cleanup(void *txq __rte_unused, uint32_t free_cnt __rte_unused)
{
	return 0;
}

static void
iovh_pmd_queue_states_set(struct rte_eth_dev *eth_dev, uint8_t state)
{
	uint16_t i;

	for (i = 0; i < eth_dev->data->nb_rx_queues; i++)
		eth_dev->data->rx_queue_state[i] = state;
	for (i = 0; i < eth_dev->data->nb_tx_queues; i++)
		eth_dev->data->tx_queue_state[i] = state;
}

static int
iovh_pmd_dev_start(struct rte_eth_dev *eth_dev)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	uint16_t i;
	int rc = 0;

	rte_spinlock_lock(&internal->intr_lock);
	iovh_pmd_intr_uninstall(eth_dev);
	if (eth_dev->data->dev_conf.intr_conf.rxq) {
		rc = iovh_pmd_intr_install(eth_dev);
		/* A front-end may be running already (same process). */
		for (i = 0; rc == 0 && i < eth_dev->data->nb_rx_queues; i++)
			iovh_pmd_intr_update(eth_dev, i, true, true);
	}
	rte_spinlock_unlock(&internal->intr_lock);
	if (rc != 0)
		return rc;
	__atomic_fetch_or(&internal->state, IOVH_PMD_STARTED,
			__ATOMIC_RELEASE);
	iovh_pmd_queue_states_set(eth_dev, RTE_ETH_QUEUE_STATE_STARTED);
	return 0;
}

/*
 * The application must have stopped polling (ethdev's rule); a burst that
 * still runs is harmless and simply moves its last packets.
 */
static int
iovh_pmd_dev_stop(struct rte_eth_dev *eth_dev)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;

	__atomic_fetch_and(&internal->state, ~IOVH_PMD_STARTED,
			__ATOMIC_RELEASE);
	iovh_pmd_queue_states_set(eth_dev, RTE_ETH_QUEUE_STATE_STOPPED);
	/* The next start sets it up again, for the queues configured then. */
	rte_spinlock_lock(&internal->intr_lock);
	iovh_pmd_intr_uninstall(eth_dev);
	rte_spinlock_unlock(&internal->intr_lock);
	return 0;
}

/*
 * ethdev releases the port (dev_private, mac_addrs, queue arrays) after
 * this; we free what it does not know about.
 */
static int
iovh_pmd_dev_close(struct rte_eth_dev *eth_dev)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	uint16_t i;

	if (rte_eal_process_type() != RTE_PROC_PRIMARY || internal == NULL)
		return 0;
	__atomic_fetch_and(&internal->state, ~IOVH_PMD_STARTED,
			__ATOMIC_RELEASE);
	if (internal->dev != NULL) {
		IOVH_PMD_LOG(INFO, "%s: closing %s", eth_dev->data->name,
				internal->args.iface);
		/* Runs destroy_device if a front-end is attached. */
		iovh_dev_destroy(internal->dev);
		internal->dev = NULL;
	}
	/* After the destroy: its callbacks take intr_lock. */
	rte_spinlock_lock(&internal->intr_lock);
	iovh_pmd_intr_uninstall(eth_dev);
	rte_spinlock_unlock(&internal->intr_lock);
	for (i = 0; i < eth_dev->data->nb_rx_queues; i++)
		iovh_pmd_rx_queue_release(eth_dev, i);
	for (i = 0; i < eth_dev->data->nb_tx_queues; i++)
		iovh_pmd_tx_queue_release(eth_dev, i);
	return 0;
}

static int
iovh_pmd_link_update(struct rte_eth_dev *eth_dev,
		int wait_to_complete __rte_unused)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	bool up = __atomic_load_n(&internal->state, __ATOMIC_ACQUIRE) &
		IOVH_PMD_ATTACHED;

	return iovh_pmd_link_set(eth_dev, up) ? 0 : -1;
}

/* The front-end receives every frame we enqueue: there is no filter. */
static int
iovh_pmd_filter_noop(struct rte_eth_dev *eth_dev __rte_unused)
{
	return 0;
}

static int
iovh_pmd_mtu_set(struct rte_eth_dev *eth_dev, uint16_t mtu)
{
	/* ethdev checked dev_infos already; this guards a direct caller. */
	if (mtu < RTE_ETHER_MIN_MTU) {
		IOVH_PMD_LOG(ERR, "%s: invalid MTU %u (min %u)",
				eth_dev->data->name, mtu, RTE_ETHER_MIN_MTU);
		return -EINVAL;
	}
	/*
	 * Nothing to program: the library copies whatever fits the
	 * front-end's buffers. ethdev stores the value in data->mtu.
	 */
	return 0;
}

static const struct eth_dev_ops iovh_pmd_ops;

bool
iovh_pmd_is_ours(const struct rte_eth_dev *eth_dev)
{
	return eth_dev->dev_ops == &iovh_pmd_ops;
}

static const struct eth_dev_ops iovh_pmd_ops = {
	.dev_configure = iovh_pmd_dev_configure,
	.dev_infos_get = iovh_pmd_dev_infos_get,
	.dev_start = iovh_pmd_dev_start,
	.dev_stop = iovh_pmd_dev_stop,
	.dev_close = iovh_pmd_dev_close,
	.link_update = iovh_pmd_link_update,
	.promiscuous_enable = iovh_pmd_filter_noop,
	.promiscuous_disable = iovh_pmd_filter_noop,
	.allmulticast_enable = iovh_pmd_filter_noop,
	.allmulticast_disable = iovh_pmd_filter_noop,
	.mtu_set = iovh_pmd_mtu_set,
	.rx_queue_setup = iovh_pmd_rx_queue_setup,
	.tx_queue_setup = iovh_pmd_tx_queue_setup,
	.rx_queue_release = iovh_pmd_rx_queue_release,
	.tx_queue_release = iovh_pmd_tx_queue_release,
	.rxq_info_get = iovh_pmd_rxq_info_get,
	.txq_info_get = iovh_pmd_txq_info_get,
	.tx_done_cleanup = iovh_pmd_tx_done_cleanup,
	.rx_queue_intr_enable = iovh_pmd_rx_queue_intr_enable,
	.rx_queue_intr_disable = iovh_pmd_rx_queue_intr_disable,
	.get_monitor_addr = iovh_pmd_get_monitor_addr,
	.stats_get = iovh_pmd_stats_get,
	.stats_reset = iovh_pmd_stats_reset,
	.xstats_get = iovh_pmd_xstats_get,
	.xstats_get_names = iovh_pmd_xstats_get_names,
	.xstats_reset = iovh_pmd_stats_reset,
};

/* ---------------------------------------------------------------- */
/* vdev driver                                                       */
/* ---------------------------------------------------------------- */

static int
iovh_pmd_probe(struct rte_vdev_device *vdev)
{
	const char *name = rte_vdev_device_name(vdev);
	struct iovh_pmd_internal *internal;
	const char *version;
	struct rte_ether_addr *mac;
	struct rte_eth_dev *eth_dev;
	struct iovh_dev_conf conf;
	struct iovh_pmd_args args;
	unsigned int i;
	int numa, ret;

	if (rte_eal_process_type() != RTE_PROC_PRIMARY) {
		IOVH_PMD_LOG(ERR, "%s: iovhost's %s does not support "
			"secondary processes", name, IOVH_PMD_DRV_NAME);
		return -ENOTSUP;
	}
	ret = iovh_pmd_args_parse(name, rte_vdev_device_args(vdev), &args);
	if (ret != 0)
		return ret;
	/*
	 * NOTICE, so that the default log level shows which of the drivers
	 * named net_vhost probed. iovh_version() names the library itself;
	 * the prefix only guards against it ever returning a bare number.
	 */
	version = iovh_version();
	IOVH_PMD_LOG(NOTICE, "%s%s (%s): probing %s, iface=%s",
			strncmp(version, "iovhost", 7) == 0 ? "" : "iovhost ",
			version, IOVH_PMD_DRV_NAME, name, args.iface);
	IOVH_PMD_LOG(INFO, "%s: queues=%u flags=%#" PRIx64, name,
			args.queues, args.flags);

	numa = vdev->device.numa_node;
	if (numa < 0)
		numa = rte_socket_id();

	eth_dev = rte_eth_vdev_allocate(vdev, sizeof(*internal));
	if (eth_dev == NULL) {
		IOVH_PMD_LOG(ERR, "%s: cannot allocate an ethdev port", name);
		return -ENOMEM;
	}
	internal = eth_dev->data->dev_private;
	internal->eth_dev = eth_dev;
	internal->args = args;
	rte_spinlock_init(&internal->intr_lock);
	for (i = 0; i < RTE_DIM(internal->intr_selffd); i++)
		internal->intr_selffd[i] = -1;

	mac = rte_zmalloc_socket(name, sizeof(*mac), 0, numa);
	if (mac == NULL) {
		IOVH_PMD_LOG(ERR, "%s: no memory for the MAC address", name);
		rte_eth_dev_release_port(eth_dev);
		return -ENOMEM;
	}
	memcpy(mac->addr_bytes, iovh_pmd_mac_prefix,
			sizeof(iovh_pmd_mac_prefix));
	mac->addr_bytes[RTE_ETHER_ADDR_LEN - 1] =
		(uint8_t)eth_dev->data->port_id;
	eth_dev->data->mac_addrs = mac;
	eth_dev->data->dev_flags |= RTE_ETH_DEV_INTR_LSC;
	eth_dev->dev_ops = &iovh_pmd_ops;
	eth_dev->rx_pkt_burst = iovh_pmd_rx_burst;
	eth_dev->tx_pkt_burst = iovh_pmd_tx_burst;
	iovh_pmd_link_set(eth_dev, false);

	/*
	 * Last, because from here on a front-end may connect and the
	 * callbacks may run: everything they touch is set up above.
	 */
	memset(&conf, 0, sizeof(conf));
	conf.path = internal->args.iface;
	conf.flags = args.flags;
	conf.max_queue_pairs = args.queues;
	conf.iotlb_entries = args.iotlb_entries;
	conf.numa_node = numa;
	conf.ops = &iovh_pmd_callbacks;
	conf.arg = internal;
	internal->dev = iovh_dev_create(&conf);
	if (internal->dev == NULL) {
		ret = rte_errno > 0 ? -rte_errno : -EIO;
		IOVH_PMD_LOG(ERR, "%s: cannot create vhost-user device on "
			"iface=%s: %s", name, args.iface, rte_strerror(-ret));
		rte_eth_dev_release_port(eth_dev);
		return ret;
	}

	rte_eth_dev_probing_finish(eth_dev);
	return 0;
}

static int
iovh_pmd_remove(struct rte_vdev_device *vdev)
{
	const char *name = rte_vdev_device_name(vdev);
	struct rte_eth_dev *eth_dev;
	uint16_t port_id;

	eth_dev = rte_eth_dev_allocated(name);
	if (eth_dev == NULL)
		return 0;	/* closed by the application already */
	port_id = eth_dev->data->port_id;
	if (eth_dev->data->dev_started)
		(void)rte_eth_dev_stop(port_id);
	/* Runs iovh_pmd_dev_close(), then releases the port. */
	return rte_eth_dev_close(port_id);
}

static struct rte_vdev_driver iovh_pmd_drv = {
	.probe = iovh_pmd_probe,
	.remove = iovh_pmd_remove,
};

RTE_PMD_REGISTER_VDEV(net_vhost, iovh_pmd_drv);
RTE_PMD_REGISTER_ALIAS(net_vhost, net_iovhost);
RTE_PMD_REGISTER_PARAM_STRING(net_vhost,
	"iface=<path> "
	"queues=<int> "
	"client=<0|1> "
	"iommu-support=<0|1> "
	"iotlb-entries=<int> "
	"postcopy-support=<0|1> "
	"tso=<0|1> "
	"linear-buffer=<0|1> "
	"ext-buffer=<0|1> "
	"legacy-ol-flags=<0|1>");
