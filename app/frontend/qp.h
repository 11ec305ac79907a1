/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * One virtio-net queue pair, driven like a guest driver would: vq 2q is
 * guest RX (device writes), vq 2q+1 guest TX (device reads).
 */

#ifndef FE_QP_H
#define FE_QP_H

#include <stdbool.h>
#include <stdint.h>

#include "bufpool.h"
#include "guest_mem.h"
#include "iommu.h"
#include "iotlb.h"
#include "opts.h"
#include "traffic.h"
#include "vring.h"

#define FE_NET_HDR_LEN	12

struct fe_stats {
	uint64_t tx_posted;
	uint64_t tx_done;		/* TX buffers the device gave back */
	uint64_t rx_pkts;		/* RX buffers (chains) the device filled */
	uint64_t rx_good;		/* verified, first copy */
	uint64_t dup;
	uint64_t reorder;
	uint64_t corrupt;
	uint64_t corrupt_by[PKT_BAD_QUEUE + 1];
	uint64_t rx_merged;		/* packets spread over several buffers */
	uint64_t kicks;
	/* Violations of the memory contract. */
	uint64_t v_tx_modified;		/* read-only TX buffer was written */
	uint64_t v_canary;		/* revoked buffer was written */
	uint64_t v_rx_unwritten;	/* "filled" RX buffer holds our canary */
	uint64_t v_bad_used;		/* used id not outstanding */
	uint64_t v_rx_len;		/* used length beyond the buffer */
};

struct fe_vq {
	unsigned int index;	/* vhost-user vring index */
	bool rx;
	uint16_t num;
	struct vring_drv vr;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
	/* What SET_VRING_ADDR carries: VAs without IOMMU, IOVAs with it. */
	uint64_t desc_addr;
	uint64_t avail_addr;
	uint64_t used_addr;
	int kickfd;
	int callfd;
	uint8_t buf_perm;
	struct bufpool pool;
};

struct fe_qp {
	uint16_t qid;
	struct fe_vq rxq;
	struct fe_vq txq;
	uint64_t next_seq;
	uint64_t blocked_since;	/* flow control, see run.c */
	uint64_t written_off;
	struct seq_track seq;
	struct fe_stats st;
};

struct fe_ctx {
	const struct fe_opts *o;
	struct guest_mem *gm;
	struct iommu *mmu;
	struct iotlb *tlb;
	struct fe_qp *qp;
	unsigned int nq;
	bool mrg;
	bool event_idx;
	unsigned int logged[8];	/* violation lines printed, per kind */
};

/** Buffers per virtqueue: twice the ring when they rest between uses. */
uint32_t qp_pool_size(const struct fe_opts *o);

/** Allocate rings and buffers of queue pair @p qid and map them. */
int qp_setup(struct fe_ctx *c, struct fe_qp *qp, uint16_t qid);
void qp_fini(struct fe_qp *qp);

/** Fill the RX ring. @return buffers posted. */
unsigned int qp_post_rx(struct fe_ctx *c, struct fe_qp *qp);

/** Post up to @p budget packets. @return packets posted. */
unsigned int qp_post_tx(struct fe_ctx *c, struct fe_qp *qp,
			unsigned int budget);

/** Take back what the device finished. @return entries taken. */
unsigned int qp_reap_tx(struct fe_ctx *c, struct fe_qp *qp);
unsigned int qp_reap_rx(struct fe_ctx *c, struct fe_qp *qp);

/** After the device stopped: check every resting buffer's canary. */
void qp_final_check(struct fe_ctx *c, struct fe_qp *qp);

/** iotlb revocation callback: fill the buffer's canary. */
void qp_on_revoked(void *arg, uint32_t owner, uint32_t win);

/** Sum of violation counters. */
uint64_t fe_stats_violations(const struct fe_stats *s);

#endif /* FE_QP_H */
