/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * Basic stats and xstats of net_vhost ports.
 *
 * The burst functions count what they hand over or receive: packets,
 * bytes, sizes and destination types, and on TX the packets given back to
 * the caller. Only the library knows which of the packets it consumed on
 * TX really reached the front-end (one too big for the front-end's buffers
 * is consumed and dropped), so TX packets, bytes and errors are its
 * counters; so are descriptor errors in both directions.
 *
 * Names (doc/pmd.rst lists them): device-wide counters first, without a
 * queue prefix (iotlb_updates, ...); then per queue rx_q<N>_<name> and
 * tx_q<N>_<name>, where the IOTLB miss latency histogram is
 * <dir>_q<N>_iotlb_miss_lat_lt_1us, ..._<lo>_to_<hi>us, ..._ge_<lo>us.
 */

#include <stdio.h>
#include <string.h>

#include "eth_iovhost.h"

/** Per-queue xstats, in the order they are reported for each queue. */
enum iovh_pmd_xstat {
	IOVH_X_PACKETS,
	IOVH_X_BYTES,
	IOVH_X_DROPS,
	IOVH_X_BAD_DESC,
	IOVH_X_NOTIFICATIONS,
	IOVH_X_SIZE,	/* IOVH_PMD_SZ_NB entries */
	IOVH_X_BROADCAST = IOVH_X_SIZE + IOVH_PMD_SZ_NB,
	IOVH_X_MULTICAST,
	IOVH_X_UNICAST,
	IOVH_X_VRING_ENABLED,
	IOVH_X_IOTLB_HITS,
	IOVH_X_IOTLB_LOOKUPS,
	IOVH_X_IOTLB_MISSES,
	IOVH_X_IOTLB_DENIED,
	IOVH_X_BACKLOG_MAX,
	IOVH_X_OL_ERRORS,
	IOVH_X_BACKLOG,
	IOVH_X_MISS_LAT,	/* IOVH_MISS_LAT_BUCKETS entries */
	IOVH_X_NB_RX = IOVH_X_MISS_LAT + IOVH_MISS_LAT_BUCKETS,
	/* TX queues only, from here. */
	IOVH_X_MISSED = IOVH_X_NB_RX,
	IOVH_X_DISABLED,
	IOVH_X_NB,
};

static const char * const iovh_pmd_xstat_names[IOVH_X_NB] = {
	[IOVH_X_PACKETS] = "packets",
	[IOVH_X_BYTES] = "bytes",
	[IOVH_X_DROPS] = "drops",
	[IOVH_X_BAD_DESC] = "bad_desc",
	[IOVH_X_NOTIFICATIONS] = "notifications",
	[IOVH_X_SIZE + IOVH_PMD_SZ_UNDER_64] = "undersize_packets",
	[IOVH_X_SIZE + IOVH_PMD_SZ_64] = "size_64_packets",
	[IOVH_X_SIZE + IOVH_PMD_SZ_65_127] = "size_65_to_127_packets",
	[IOVH_X_SIZE + IOVH_PMD_SZ_128_255] = "size_128_to_255_packets",
	[IOVH_X_SIZE + IOVH_PMD_SZ_256_511] = "size_256_to_511_packets",
	[IOVH_X_SIZE + IOVH_PMD_SZ_512_1023] = "size_512_to_1023_packets",
	[IOVH_X_SIZE + IOVH_PMD_SZ_1024_1518] = "size_1024_to_1518_packets",
	[IOVH_X_SIZE + IOVH_PMD_SZ_1519_MAX] = "size_1519_to_max_packets",
	[IOVH_X_BROADCAST] = "broadcast_packets",
	[IOVH_X_MULTICAST] = "multicast_packets",
	[IOVH_X_UNICAST] = "unicast_packets",
	[IOVH_X_VRING_ENABLED] = "vring_enabled",
	[IOVH_X_IOTLB_HITS] = "iotlb_hits",
	[IOVH_X_IOTLB_LOOKUPS] = "iotlb_lookups",
	[IOVH_X_IOTLB_MISSES] = "iotlb_misses",
	[IOVH_X_IOTLB_DENIED] = "iotlb_denied",
	[IOVH_X_BACKLOG_MAX] = "iotlb_backlog_max",
	[IOVH_X_OL_ERRORS] = "offload_errors",
	[IOVH_X_BACKLOG] = "iotlb_backlog",
	/* IOVH_X_MISS_LAT + i: made by iovh_pmd_xstat_name() */
	[IOVH_X_MISSED] = "missed_packets",
	[IOVH_X_DISABLED] = "disabled_queue_drops",
};

/** Device-wide xstats (struct iovh_dev_stats), reported first. */
enum iovh_pmd_dev_xstat {
	IOVH_XD_IOTLB_ENTRIES,
	IOVH_XD_IOTLB_CAPACITY,
	IOVH_XD_IOTLB_UPDATES,
	IOVH_XD_IOTLB_INVALIDATES,
	IOVH_XD_IOTLB_EVICTIONS,
	IOVH_XD_IOTLB_MISSES_SENT,
	IOVH_XD_CONNECTIONS,
	IOVH_XD_NB,
};

static const char * const iovh_pmd_dev_xstat_names[IOVH_XD_NB] = {
	[IOVH_XD_IOTLB_ENTRIES] = "iotlb_entries",
	[IOVH_XD_IOTLB_CAPACITY] = "iotlb_capacity",
	[IOVH_XD_IOTLB_UPDATES] = "iotlb_updates",
	[IOVH_XD_IOTLB_INVALIDATES] = "iotlb_invalidates",
	[IOVH_XD_IOTLB_EVICTIONS] = "iotlb_evictions",
	[IOVH_XD_IOTLB_MISSES_SENT] = "iotlb_misses_sent",
	[IOVH_XD_CONNECTIONS] = "frontend_connections",
};

/* Per-queue name @p i into @p buf (the histogram names are computed). */
static void
iovh_pmd_xstat_name(char *buf, size_t len, const char *dir, unsigned int q,
		unsigned int i)
{
	unsigned int b = i - IOVH_X_MISS_LAT;

	if (i < IOVH_X_MISS_LAT || i >= IOVH_X_NB_RX)
		snprintf(buf, len, "%s_q%u_%s", dir, q, iovh_pmd_xstat_names[i]);
	else if (b == 0)
		snprintf(buf, len, "%s_q%u_iotlb_miss_lat_lt_1us", dir, q);
	else if (b == IOVH_MISS_LAT_BUCKETS - 1)
		snprintf(buf, len, "%s_q%u_iotlb_miss_lat_ge_%luus", dir, q,
			1UL << (b - 1));
	else
		snprintf(buf, len, "%s_q%u_iotlb_miss_lat_%lu_to_%luus", dir, q,
			1UL << (b - 1), 1UL << b);
}

/** Fill @p v (IOVH_XD_NB values) for the device. */
static void
iovh_pmd_dev_xstats(const struct iovh_pmd_internal *internal, uint64_t *v)
{
	struct iovh_dev_stats st;

	memset(&st, 0, sizeof(st));
	if (internal->dev != NULL)
		(void)iovh_dev_stats_get(internal->dev, &st);
	v[IOVH_XD_IOTLB_ENTRIES] = st.iotlb_entries;
	v[IOVH_XD_IOTLB_CAPACITY] = st.iotlb_capacity;
	v[IOVH_XD_IOTLB_UPDATES] = st.iotlb_updates;
	v[IOVH_XD_IOTLB_INVALIDATES] = st.iotlb_invalidates;
	v[IOVH_XD_IOTLB_EVICTIONS] = st.iotlb_evictions;
	v[IOVH_XD_IOTLB_MISSES_SENT] = st.misses_sent;
	v[IOVH_XD_CONNECTIONS] = st.connections;
}

/** Fill @p v (IOVH_X_NB values) for one queue. */
static void
iovh_pmd_queue_xstats(const struct iovh_pmd_internal *internal,
		const struct iovh_pmd_queue *q, bool rx, uint64_t *v)
{
	const struct iovh_pmd_qstats *st = &q->stats;
	struct iovh_vq_stats lib;
	unsigned int i;

	memset(&lib, 0, sizeof(lib));
	if (internal->dev != NULL)
		(void)iovh_vq_stats_get(internal->dev, q->vq, &lib);

	v[IOVH_X_PACKETS] = rx ? st->packets : lib.packets;
	v[IOVH_X_BYTES] = rx ? st->bytes : lib.bytes;
	v[IOVH_X_DROPS] = lib.dropped;
	v[IOVH_X_BAD_DESC] = lib.bad_desc;
	v[IOVH_X_NOTIFICATIONS] = lib.notifications;
	for (i = 0; i < IOVH_PMD_SZ_NB; i++)
		v[IOVH_X_SIZE + i] = st->size[i];
	v[IOVH_X_BROADCAST] = st->broadcast;
	v[IOVH_X_MULTICAST] = st->multicast;
	/* Derived, so that the burst path counts one thing less. */
	v[IOVH_X_UNICAST] = st->packets - st->broadcast - st->multicast;
	v[IOVH_X_VRING_ENABLED] = __atomic_load_n(&internal->vq_enabled[q->vq],
			__ATOMIC_RELAXED);
	v[IOVH_X_IOTLB_HITS] = lib.iotlb_hits;
	v[IOVH_X_IOTLB_LOOKUPS] = lib.iotlb_lookups;
	v[IOVH_X_IOTLB_MISSES] = lib.iotlb_misses;
	v[IOVH_X_IOTLB_DENIED] = lib.iotlb_denied;
	v[IOVH_X_BACKLOG_MAX] = lib.backlog_max;
	v[IOVH_X_OL_ERRORS] = lib.ol_errors;
	v[IOVH_X_BACKLOG] = lib.backlog;
	for (i = 0; i < IOVH_MISS_LAT_BUCKETS; i++)
		v[IOVH_X_MISS_LAT + i] = lib.miss_lat[i];
	if (!rx) {
		v[IOVH_X_MISSED] = st->missed;
		v[IOVH_X_DISABLED] = st->disabled;
	}
}

static unsigned int
iovh_pmd_xstats_count(const struct rte_eth_dev *eth_dev)
{
	return IOVH_XD_NB + eth_dev->data->nb_rx_queues * IOVH_X_NB_RX +
		eth_dev->data->nb_tx_queues * IOVH_X_NB;
}

int
iovh_pmd_xstats_get_names(struct rte_eth_dev *eth_dev,
		struct rte_eth_xstat_name *names, unsigned int size)
{
	unsigned int total = iovh_pmd_xstats_count(eth_dev);
	unsigned int q, i, n = 0;

	if (names == NULL || size < total)
		return total;
	for (i = 0; i < IOVH_XD_NB; i++, n++)
		snprintf(names[n].name, sizeof(names[n].name), "%s",
			iovh_pmd_dev_xstat_names[i]);
	for (q = 0; q < eth_dev->data->nb_rx_queues; q++)
		for (i = 0; i < IOVH_X_NB_RX; i++, n++)
			iovh_pmd_xstat_name(names[n].name,
				sizeof(names[n].name), "rx", q, i);
	for (q = 0; q < eth_dev->data->nb_tx_queues; q++)
		for (i = 0; i < IOVH_X_NB; i++, n++)
			iovh_pmd_xstat_name(names[n].name,
				sizeof(names[n].name), "tx", q, i);
	return n;
}

int
iovh_pmd_xstats_get(struct rte_eth_dev *eth_dev,
		struct rte_eth_xstat *xstats, unsigned int n)
{
	const struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	unsigned int total = iovh_pmd_xstats_count(eth_dev);
	const struct iovh_pmd_queue *q;
	uint64_t v[IOVH_X_NB];
	unsigned int qid, i, k = 0;

	RTE_BUILD_BUG_ON((int)IOVH_XD_NB > (int)IOVH_X_NB);

	if (xstats == NULL || n < total)
		return total;
	iovh_pmd_dev_xstats(internal, v);
	for (i = 0; i < IOVH_XD_NB; i++, k++) {
		xstats[k].id = k;
		xstats[k].value = v[i];
	}
	for (qid = 0; qid < eth_dev->data->nb_rx_queues; qid++) {
		q = eth_dev->data->rx_queues[qid];
		if (q != NULL)
			iovh_pmd_queue_xstats(internal, q, true, v);
		else
			memset(v, 0, sizeof(v));
		for (i = 0; i < IOVH_X_NB_RX; i++, k++) {
			xstats[k].id = k;
			xstats[k].value = v[i];
		}
	}
	for (qid = 0; qid < eth_dev->data->nb_tx_queues; qid++) {
		q = eth_dev->data->tx_queues[qid];
		if (q != NULL)
			iovh_pmd_queue_xstats(internal, q, false, v);
		else
			memset(v, 0, sizeof(v));
		for (i = 0; i < IOVH_X_NB; i++, k++) {
			xstats[k].id = k;
			xstats[k].value = v[i];
		}
	}
	return k;
}

int
iovh_pmd_stats_get(struct rte_eth_dev *eth_dev, struct rte_eth_stats *stats)
{
	const struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	const struct iovh_pmd_queue *q;
	struct iovh_vq_stats lib;
	unsigned int i;

	for (i = 0; i < eth_dev->data->nb_rx_queues; i++) {
		q = eth_dev->data->rx_queues[i];
		if (q == NULL)
			continue;
		memset(&lib, 0, sizeof(lib));
		if (internal->dev != NULL)
			(void)iovh_vq_stats_get(internal->dev, q->vq, &lib);
		stats->ipackets += q->stats.packets;
		stats->ibytes += q->stats.bytes;
		stats->ierrors += lib.dropped;
		if (i < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
			stats->q_ipackets[i] = q->stats.packets;
			stats->q_ibytes[i] = q->stats.bytes;
			stats->q_errors[i] = lib.dropped;
		}
	}
	for (i = 0; i < eth_dev->data->nb_tx_queues; i++) {
		q = eth_dev->data->tx_queues[i];
		if (q == NULL)
			continue;
		memset(&lib, 0, sizeof(lib));
		if (internal->dev != NULL)
			(void)iovh_vq_stats_get(internal->dev, q->vq, &lib);
		stats->opackets += lib.packets;
		stats->obytes += lib.bytes;
		/*
		 * Not st->missed: those went back to the caller, which counts
		 * them itself (testpmd adds oerrors to its own TX-dropped).
		 */
		stats->oerrors += lib.dropped;
		/* Consumed and dropped by us: the caller thinks they went. */
		stats->oerrors += q->stats.disabled;
		if (i < RTE_ETHDEV_QUEUE_STAT_CNTRS) {
			stats->q_opackets[i] = lib.packets;
			stats->q_obytes[i] = lib.bytes;
		}
	}
	return 0;
}

/*
 * Serves both stats_reset and xstats_reset: they are one set of counters.
 * The poll threads are not stopped, so a burst in flight may survive the
 * reset; that is the usual ethdev contract.
 */
int
iovh_pmd_stats_reset(struct rte_eth_dev *eth_dev)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	struct iovh_pmd_queue *q;
	unsigned int i;

	for (i = 0; i < eth_dev->data->nb_rx_queues; i++) {
		q = eth_dev->data->rx_queues[i];
		if (q == NULL)
			continue;
		memset(&q->stats, 0, sizeof(q->stats));
		if (internal->dev != NULL)
			(void)iovh_vq_stats_reset(internal->dev, q->vq);
	}
	for (i = 0; i < eth_dev->data->nb_tx_queues; i++) {
		q = eth_dev->data->tx_queues[i];
		if (q == NULL)
			continue;
		memset(&q->stats, 0, sizeof(q->stats));
		if (internal->dev != NULL)
			(void)iovh_vq_stats_reset(internal->dev, q->vq);
	}
	return 0;
}
