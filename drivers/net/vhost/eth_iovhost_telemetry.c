/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * DPDK telemetry commands of the net_vhost PMD, under /iovhost/:
 *
 *   /iovhost/ports                 ids of the ports of this driver
 *   /iovhost/port,<port>           socket, mode, connection state,
 *                                  negotiated features, device counters
 *   /iovhost/queues,<port>         counters of every virtqueue in use
 *   /iovhost/queue,<port>,<qid>    counters of queue pair qid (rx and tx)
 *
 * Everything is read through the library's thread-safe queries, from the
 * telemetry thread. Like ethdev's own commands, a command is not
 * synchronised with the port being closed at the same moment.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_telemetry.h>
#include <ethdev_driver.h>

#include "eth_iovhost.h"

/** Parse "<n>" into @p v (at most @p max); @return the rest, or NULL. */
static const char *
parse_uint(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return NULL;
	errno = 0;
	*v = strtoul(s, &end, 10);
	if (errno != 0 || *v > max)
		return NULL;
	return end;
}

/** The port named by "<port>..." in @p params, if it is one of ours. */
static struct rte_eth_dev *
port_arg(const char *params, const char **rest)
{
	struct rte_eth_dev *eth_dev;
	struct iovh_pmd_internal *internal;
	unsigned long p;
	const char *end;

	end = parse_uint(params, RTE_MAX_ETHPORTS - 1, &p);
	if (end == NULL || !rte_eth_dev_is_valid_port(p))
		return NULL;
	eth_dev = &rte_eth_devices[p];
	if (!iovh_pmd_is_ours(eth_dev))
		return NULL;
	internal = eth_dev->data->dev_private;
	if (internal == NULL || internal->dev == NULL)
		return NULL;
	*rest = end;
	return eth_dev;
}

static int
tel_ports(const char *cmd __rte_unused, const char *params __rte_unused,
		struct rte_tel_data *d)
{
	uint16_t p;

	rte_tel_data_start_array(d, RTE_TEL_INT_VAL);
	RTE_ETH_FOREACH_DEV(p)
		if (iovh_pmd_is_ours(&rte_eth_devices[p]))
			rte_tel_data_add_array_int(d, p);
	return 0;
}

/** An array of the names of the bits set in @p f. */
static struct rte_tel_data *
feature_names(uint64_t f, bool protocol)
{
	struct rte_tel_data *a = rte_tel_data_alloc();
	char other[16];
	const char *name;
	unsigned int bit;

	if (a == NULL)
		return NULL;
	rte_tel_data_start_array(a, RTE_TEL_STRING_VAL);
	for (bit = 0; bit < 64; bit++) {
		if (!(f & (1ULL << bit)))
			continue;
		name = protocol ? iovh_protocol_feature_name(bit) :
			iovh_feature_name(bit);
		if (name == NULL) {
			snprintf(other, sizeof(other), "bit%u", bit);
			name = other;
		}
		rte_tel_data_add_array_string(a, name);
	}
	return a;
}

static void
add_hex(struct rte_tel_data *d, const char *key, uint64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "0x%" PRIx64, v);
	rte_tel_data_add_dict_string(d, key, s);
}

static void
add_container(struct rte_tel_data *d, const char *key, struct rte_tel_data *c)
{
	/* keep = 0: freed with @p d once the reply is written. */
	if (c != NULL && rte_tel_data_add_dict_container(d, key, c, 0) != 0)
		rte_tel_data_free(c);
}

static const char *
state_name(enum iovh_dev_state s)
{
	switch (s) {
	case IOVH_DEV_RUNNING:
		return "running";
	case IOVH_DEV_CONNECTED:
		return "connected";
	default:
		return "disconnected";
	}
}

static int
tel_port(const char *cmd __rte_unused, const char *params,
		struct rte_tel_data *d)
{
	struct iovh_pmd_internal *internal;
	struct rte_eth_dev *eth_dev;
	struct iovh_dev_stats ds;
	struct rte_tel_data *c;
	struct iovh_dev *dev;
	const char *rest;
	uint64_t f;

	eth_dev = port_arg(params, &rest);
	if (eth_dev == NULL || *rest != '\0')
		return -EINVAL;
	internal = eth_dev->data->dev_private;
	dev = internal->dev;

	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "port_id", eth_dev->data->port_id);
	rte_tel_data_add_dict_string(d, "name", eth_dev->data->name);
	rte_tel_data_add_dict_string(d, "iface", iovh_dev_path(dev));
	rte_tel_data_add_dict_string(d, "mode",
			internal->args.flags & IOVH_F_CLIENT ? "client" : "server");
	rte_tel_data_add_dict_string(d, "iommu",
			internal->args.flags & IOVH_F_IOMMU ? "on" : "off");
	rte_tel_data_add_dict_string(d, "state",
			state_name(iovh_dev_state(dev)));
	rte_tel_data_add_dict_string(d, "link",
			eth_dev->data->dev_link.link_status ? "up" : "down");
	rte_tel_data_add_dict_int(d, "started", eth_dev->data->dev_started);
	f = iovh_dev_features(dev);
	add_hex(d, "features", f);
	add_container(d, "feature_names", feature_names(f, false));
	f = iovh_dev_protocol_features(dev);
	add_hex(d, "protocol_features", f);
	add_container(d, "protocol_feature_names", feature_names(f, true));
	rte_tel_data_add_dict_int(d, "queue_pairs", internal->args.queues);
	rte_tel_data_add_dict_int(d, "nb_rx_queues",
			eth_dev->data->nb_rx_queues);
	rte_tel_data_add_dict_int(d, "nb_tx_queues",
			eth_dev->data->nb_tx_queues);
	rte_tel_data_add_dict_int(d, "nb_vrings", iovh_dev_nb_vrings(dev));
	rte_tel_data_add_dict_int(d, "mtu", eth_dev->data->mtu);

	if (iovh_dev_stats_get(dev, &ds) != 0)
		return 0;
	c = rte_tel_data_alloc();
	if (c == NULL)
		return 0;
	rte_tel_data_start_dict(c);
	rte_tel_data_add_dict_u64(c, "connections", ds.connections);
	rte_tel_data_add_dict_u64(c, "iotlb_entries", ds.iotlb_entries);
	rte_tel_data_add_dict_u64(c, "iotlb_capacity", ds.iotlb_capacity);
	rte_tel_data_add_dict_u64(c, "iotlb_updates", ds.iotlb_updates);
	rte_tel_data_add_dict_u64(c, "iotlb_invalidates",
			ds.iotlb_invalidates);
	rte_tel_data_add_dict_u64(c, "iotlb_evictions", ds.iotlb_evictions);
	rte_tel_data_add_dict_u64(c, "misses_sent", ds.misses_sent);
	add_container(d, "counters", c);
	return 0;
}

/** A dict with the state and counters of virtqueue @p vq. */
static struct rte_tel_data *
vq_dict(struct rte_eth_dev *eth_dev, uint16_t vq)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	struct rte_tel_data *c, *lat;
	struct iovh_pmd_queue *q = NULL;
	struct iovh_vq_stats st;
	unsigned int i;

	if (iovh_vq_stats_get(internal->dev, vq, &st) != 0)
		return NULL;
	c = rte_tel_data_alloc();
	if (c == NULL)
		return NULL;
	rte_tel_data_start_dict(c);
	rte_tel_data_add_dict_int(c, "vring", vq);
	rte_tel_data_add_dict_int(c, "enabled",
			iovh_vq_enabled(internal->dev, vq));
	if ((vq & 1) && vq / 2 < eth_dev->data->nb_rx_queues &&
			eth_dev->data->rx_queues != NULL)
		q = eth_dev->data->rx_queues[vq / 2];
	if (vq & 1)
		rte_tel_data_add_dict_int(c, "intr",
				q != NULL && q->intr_on);
	rte_tel_data_add_dict_u64(c, "packets", st.packets);
	rte_tel_data_add_dict_u64(c, "bytes", st.bytes);
	rte_tel_data_add_dict_u64(c, "drops", st.dropped);
	rte_tel_data_add_dict_u64(c, "bad_desc", st.bad_desc);
	rte_tel_data_add_dict_u64(c, "notifications", st.notifications);
	rte_tel_data_add_dict_u64(c, "iotlb_hits", st.iotlb_hits);
	rte_tel_data_add_dict_u64(c, "iotlb_lookups", st.iotlb_lookups);
	rte_tel_data_add_dict_u64(c, "iotlb_misses", st.iotlb_misses);
	rte_tel_data_add_dict_u64(c, "iotlb_denied", st.iotlb_denied);
	rte_tel_data_add_dict_u64(c, "backlog", st.backlog);
	rte_tel_data_add_dict_u64(c, "backlog_max", st.backlog_max);
	lat = rte_tel_data_alloc();
	if (lat != NULL) {
		rte_tel_data_start_array(lat, RTE_TEL_U64_VAL);
		for (i = 0; i < IOVH_MISS_LAT_BUCKETS; i++)
			rte_tel_data_add_array_u64(lat, st.miss_lat[i]);
		add_container(c, "miss_lat", lat);
	}
	return c;
}

/*
 * Queue pairs worth showing: those the application configured or the
 * front-end set up (not all queue_pairs, which may be 128 and would not
 * fit one telemetry reply).
 */
static uint16_t
pairs_in_use(struct rte_eth_dev *eth_dev)
{
	struct iovh_pmd_internal *internal = eth_dev->data->dev_private;
	uint16_t n = RTE_MAX(eth_dev->data->nb_rx_queues,
			eth_dev->data->nb_tx_queues);

	n = RTE_MAX(n, (uint16_t)((iovh_dev_nb_vrings(internal->dev) + 1) / 2));
	return RTE_MIN(RTE_MAX(n, 1), internal->args.queues);
}

static int
tel_queues(const char *cmd __rte_unused, const char *params,
		struct rte_tel_data *d)
{
	struct rte_eth_dev *eth_dev;
	const char *rest;
	char key[32];
	uint16_t q, n;

	eth_dev = port_arg(params, &rest);
	if (eth_dev == NULL || *rest != '\0')
		return -EINVAL;
	n = pairs_in_use(eth_dev);
	rte_tel_data_start_dict(d);
	for (q = 0; q < n; q++) {
		snprintf(key, sizeof(key), "rx_q%u", q);
		add_container(d, key, vq_dict(eth_dev, 2 * q + 1));
		snprintf(key, sizeof(key), "tx_q%u", q);
		add_container(d, key, vq_dict(eth_dev, 2 * q));
	}
	return 0;
}

static int
tel_queue(const char *cmd __rte_unused, const char *params,
		struct rte_tel_data *d)
{
	struct iovh_pmd_internal *internal;
	struct rte_eth_dev *eth_dev;
	const char *rest;
	unsigned long q;

	eth_dev = port_arg(params, &rest);
	if (eth_dev == NULL || *rest != ',')
		return -EINVAL;
	internal = eth_dev->data->dev_private;
	rest = parse_uint(rest + 1, internal->args.queues - 1, &q);
	if (rest == NULL || *rest != '\0')
		return -EINVAL;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_int(d, "qid", q);
	add_container(d, "rx", vq_dict(eth_dev, 2 * q + 1));
	add_container(d, "tx", vq_dict(eth_dev, 2 * q));
	return 0;
}

RTE_INIT(iovh_pmd_telemetry_init)
{
	rte_telemetry_register_cmd("/iovhost/ports", tel_ports,
		"Ids of the iovhost net_vhost ports. No parameters");
	rte_telemetry_register_cmd("/iovhost/port", tel_port,
		"Socket, mode, state, features, counters. Parameter: port id");
	rte_telemetry_register_cmd("/iovhost/queues", tel_queues,
		"Counters of each virtqueue in use. Parameter: port id");
	rte_telemetry_register_cmd("/iovhost/queue", tel_queue,
		"Counters of one queue pair. Parameters: port id,queue id");
}
