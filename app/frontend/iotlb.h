/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * IOTLB traffic between the emulated IOMMU and the back-end's device
 * TLB: answering misses, invalidating unmapped windows, pushing
 * prefaulted mappings. Like QEMU, every UPDATE and INVALIDATE carries
 * NEED_REPLY and its sender blocks until the back-end acknowledges it.
 */

#ifndef FE_IOTLB_H
#define FE_IOTLB_H

#include <stdint.h>

#include "iommu.h"
#include "latency.h"
#include "vu_conn.h"

struct iotlb_stats {
	uint64_t miss;			/* MISS messages received */
	uint64_t update;		/* UPDATEs sent in answer */
	uint64_t miss_unmapped;		/* refused: address never mapped */
	uint64_t miss_revoked;		/* refused: address already revoked */
	uint64_t miss_perm;		/* refused: permission not granted */
	uint64_t update_ignored;	/* miss again on a mapping answered often */
	uint64_t prefault;		/* UPDATEs pushed up front */
	uint64_t inval;			/* INVALIDATE messages sent */
	uint64_t flushes;		/* lazy domain-wide flushes */
};

struct iotlb {
	struct iommu *mmu;
	struct vu_conn *conn;
	unsigned int miss_delay_us;
	unsigned int lazy_batch;
	unsigned int lazy_ms;
	uint64_t first_pending_ns;
	/* Called once a buffer window's revocation is acknowledged. */
	void (*revoked)(void *arg, uint32_t owner, uint32_t win);
	void *revoked_arg;
	/* Written by the back-end-channel thread only. */
	struct latency miss_lat;
	struct iotlb_stats miss_st;
	/* Written by the traffic thread only. */
	struct latency inval_lat;
	struct iotlb_stats inv_st;
	unsigned int refusals_logged;
};

void iotlb_init(struct iotlb *t, struct iommu *mmu, struct vu_conn *conn,
		unsigned int miss_delay_us, unsigned int lazy_batch,
		unsigned int lazy_ms);

/** Map a buffer in the emulated IOMMU (nothing is sent: the device misses). */
int iotlb_map_buf(struct iotlb *t, uint64_t gpa, uint32_t len, uint8_t perm,
		  unsigned int pool, uint32_t owner, uint32_t *win,
		  uint64_t *iova);

/**
 * Unmap buffer windows the device has given back. Strict: invalidate each
 * (pipelined, each acknowledged) before returning; lazy: queue them and
 * flush when the batch is full. Exits on any protocol failure.
 */
void iotlb_unmap(struct iotlb *t, const uint32_t *wins, unsigned int n);

/** Lazy: flush if the batch or its time limit is reached. */
void iotlb_lazy_tick(struct iotlb *t);

/** Lazy: domain-wide invalidate now, if anything is pending. */
void iotlb_flush(struct iotlb *t);

/** Prefault: send an UPDATE for every live mapping. */
void iotlb_prefault(struct iotlb *t);

/**
 * IOVA of the first --iotlb-fill window: far above every buffer and ring
 * window (64 GiB and up), below 2^48 so any IOMMU could map it.
 */
#define IOTLB_FILL_BASE		(1ull << 44)

/**
 * Prefault: push @p n extra read-only 4 KiB UPDATEs for consecutive
 * IOVAs from IOTLB_FILL_BASE, backed by guest memory page after page,
 * that no descriptor ever uses: they only fill the back-end's IOTLB
 * (counted with the prefault UPDATEs).
 */
void iotlb_fill(struct iotlb *t, unsigned int n);

/** Serve one MISS from the back-end channel. */
void iotlb_handle_miss(struct iotlb *t, const struct vu_iotlb *m);

#endif /* FE_IOTLB_H */
