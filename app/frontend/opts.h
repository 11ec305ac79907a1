/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef FE_OPTS_H
#define FE_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "iommu.h"
#include "traffic.h"

/* Which permissions rings and device-written buffers are mapped with. */
enum perm_policy {
	PERM_EXACT,	/* desc/avail RO, used WO, RX buffers WO, TX RO */
	PERM_LOOSE,	/* rings and RX buffers RW, TX RO (Linux-like) */
};

struct fe_opts {
	const char *socket;
	bool server;
	unsigned int mem_mb;
	unsigned int regions;
	bool huge;
	unsigned int queues;
	unsigned int ring_size;
	bool mrg;
	bool event_idx;
	enum iommu_mode iommu;
	enum iommu_gran gran;
	enum perm_policy perm;
	unsigned int lazy_batch;	/* flush after this many unmaps */
	unsigned int lazy_ms;		/* ... or this long after the first */
	unsigned int miss_delay_us;
	bool iova_split;		/* RX and TX draw IOVAs from separate pools */
	unsigned int iotlb_fill;	/* prefault: extra 4 KiB UPDATEs to push */
	unsigned int size;
	unsigned int burst;
	enum pkt_expect expect;
	double seconds;
	uint64_t packets;
	unsigned int timeout_ms;
	unsigned int connect_ms;
	bool kick;
	bool flood;			/* no flow control */
	unsigned int writeoff_ms;	/* flow control: blocked this long = dropped */
	uint64_t seed;
	uint64_t max_lost;		/* UINT64_MAX: loss never fails the run */
};

#endif /* FE_OPTS_H */
