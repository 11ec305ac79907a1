/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef ETH_IOVHOST_H
#define ETH_IOVHOST_H

/**
 * @file
 * State shared by the files of the net_vhost PMD. Nothing here is exported
 * from the plugin.
 */

#include <stdint.h>
#include <sys/un.h>

#include <rte_common.h>
#include <rte_branch_prediction.h>
#include <rte_ether.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_spinlock.h>
#include <ethdev_driver.h>

#include "iovhost.h"

/** Name the driver registers (and that existing command lines use). */
#define IOVH_PMD_DRV_NAME "net_vhost"

extern int iovh_pmd_logtype;

#define IOVH_PMD_LOG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, iovh_pmd_logtype, fmt "\n", ##__VA_ARGS__)

/** What the devargs of one port asked for. */
struct iovh_pmd_args {
	char iface[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint16_t queues;	/**< Queue pairs: 1 .. IOVH_MAX_QUEUE_PAIRS. */
	uint64_t flags;		/**< IOVH_F_* */
	uint32_t iotlb_entries;	/**< 0: the library's default. */
};

/**
 * Parse the devargs string of a port. Every problem is logged with the key
 * and value at fault.
 *
 * @return 0, or -EINVAL.
 */
int iovh_pmd_args_parse(const char *name, const char *params,
		struct iovh_pmd_args *args);

/** Bits of iovh_pmd_internal.state. */
#define IOVH_PMD_STARTED	(1u << 0)	/**< dev_start done. */
#define IOVH_PMD_ATTACHED	(1u << 1)	/**< A front-end is running. */
#define IOVH_PMD_RUNNING	(IOVH_PMD_STARTED | IOVH_PMD_ATTACHED)

/** Packet-size buckets, in xstats order. */
enum iovh_pmd_size_bucket {
	IOVH_PMD_SZ_UNDER_64,
	IOVH_PMD_SZ_64,
	IOVH_PMD_SZ_65_127,
	IOVH_PMD_SZ_128_255,
	IOVH_PMD_SZ_256_511,
	IOVH_PMD_SZ_512_1023,
	IOVH_PMD_SZ_1024_1518,
	IOVH_PMD_SZ_1519_MAX,
	IOVH_PMD_SZ_NB,
};

/**
 * Counters of one queue. Only the thread polling the queue writes them, so
 * they need no atomics; readers may see a value one burst old.
 */
struct iovh_pmd_qstats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t missed;	/**< TX: not taken by the library. */
	/** TX: dropped, the front-end had not enabled the virtqueue. */
	uint64_t disabled;
	uint64_t broadcast;
	uint64_t multicast;	/**< Not counting broadcast. */
	uint64_t size[IOVH_PMD_SZ_NB];
};

struct iovh_pmd_internal;

/** One RX or TX queue of a port. */
struct iovh_pmd_queue {
	struct iovh_pmd_internal *internal;
	struct iovh_dev *dev;
	struct rte_mempool *mb_pool;	/**< RX only. */
	uint32_t notify_gen;	/**< notify_gen last applied to the vq. */
	uint16_t vq;		/**< Virtqueue: 2 qid (TX) or 2 qid + 1 (RX). */
	uint16_t qid;
	uint16_t port_id;
	uint16_t nb_desc;
	uint8_t *rx_sw_csum;	/**< RX: &internal->rx_sw_csum. */
	/** RX interrupt requested (rx_queue_intr_enable), not yet disabled. */
	uint8_t intr_on;
	/** Kick fd registered in the queue's interrupt epoll, or -1. */
	int intr_kickfd;
	struct iovh_pmd_qstats stats;
} __rte_cache_aligned;

/** Private data of one port (dev_private). */
struct iovh_pmd_internal {
	/* --- read by the poll threads on every burst --- */
	/** IOVH_PMD_* bits; the app thread and the control thread both write. */
	uint32_t state;
	/**
	 * Bumped when virtqueues may have been (re)set up, so that each poll
	 * thread turns off kicks for its own virtqueue: the library only lets
	 * the polling thread change that.
	 */
	uint32_t notify_gen;
	struct iovh_dev *dev;	/**< From probe to close. */

	/* --- control path --- */
	struct rte_eth_dev *eth_dev;
	struct iovh_pmd_args args;
	/**
	 * Complete partial L4 checksums of received packets in software:
	 * compliant offload flags, CSUM negotiated, and the application did
	 * not enable the RX checksum offload. Written by dev_configure (port
	 * stopped) and new_device (before IOVH_PMD_ATTACHED is set); poll
	 * threads read it only after their acquire of state saw both bits.
	 */
	uint8_t rx_sw_csum;
	/** Last state vring_state_changed reported, per virtqueue. */
	uint8_t vq_enabled[IOVH_MAX_QUEUE_PAIRS * 2];
	/**
	 * Serialises the RX interrupt set-up (eth_dev->intr_handle and each
	 * queue's intr_kickfd) between the application's thread and the
	 * library's callbacks. Never taken on the burst path.
	 */
	rte_spinlock_t intr_lock;
	/** Per RX queue: eventfd that wakes the application at once. */
	int intr_selffd[IOVH_MAX_QUEUE_PAIRS];
} __rte_cache_aligned;

/** Whether @p eth_dev is a port of this driver. */
bool iovh_pmd_is_ours(const struct rte_eth_dev *eth_dev);

/** Stats and xstats ops (eth_iovhost_stats.c). */
int iovh_pmd_stats_get(struct rte_eth_dev *eth_dev,
		struct rte_eth_stats *stats);
int iovh_pmd_stats_reset(struct rte_eth_dev *eth_dev);
int iovh_pmd_xstats_get_names(struct rte_eth_dev *eth_dev,
		struct rte_eth_xstat_name *names, unsigned int size);
int iovh_pmd_xstats_get(struct rte_eth_dev *eth_dev,
		struct rte_eth_xstat *xstats, unsigned int n);

static __rte_always_inline unsigned int
iovh_pmd_size_bucket(uint32_t len)
{
	if (len < 64)
		return IOVH_PMD_SZ_UNDER_64;
	if (len == 64)
		return IOVH_PMD_SZ_64;
	if (len > 1518)
		return IOVH_PMD_SZ_1519_MAX;
	/* 65..1518: floor(log2(len)) is 6..10, one bucket per power of two. */
	return (31 - __builtin_clz(len)) - 4;
}

/**
 * Account a burst the poll thread just moved. Only the destination MAC's
 * first byte is read beyond the mbuf header; on both paths the data was
 * touched a moment ago, so it is usually still in cache.
 */
static __rte_always_inline void
iovh_pmd_count(struct iovh_pmd_qstats *st, struct rte_mbuf **pkts,
		uint16_t n)
{
	const struct rte_ether_addr *dst;
	struct rte_mbuf *m;
	uint16_t i;

	for (i = 0; i < n; i++) {
		m = pkts[i];
		st->bytes += m->pkt_len;
		st->size[iovh_pmd_size_bucket(m->pkt_len)]++;
		if (unlikely(m->data_len < RTE_ETHER_ADDR_LEN))
			continue;
		dst = rte_pktmbuf_mtod(m, const struct rte_ether_addr *);
		if (unlikely(rte_is_multicast_ether_addr(dst))) {
			if (rte_is_broadcast_ether_addr(dst))
				st->broadcast++;
			else
				st->multicast++;
		}
	}
	st->packets += n;
}

#endif /* ETH_IOVHOST_H */
