/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "qp.h"
#include "util.h"

/* Violation lines worth printing per kind; later ones are only counted. */
#define LOG_MAX		8

enum vkind { VK_CANARY, VK_TXMOD, VK_BADUSED, VK_RXLEN, VK_UNWRITTEN };
/* Longest packet a merged RX chain may reassemble into. */
#define MERGE_MAX	(64 * 1024)

#define OWNER(vq, id)	(((uint32_t)(vq)->index << 16) | (id))

uint32_t
qp_pool_size(const struct fe_opts *o)
{
	return o->iommu == IOMMU_STRICT || o->iommu == IOMMU_LAZY ?
	       2 * o->ring_size : o->ring_size;
}

static uint32_t
buf_cap(const struct fe_opts *o)
{
	return o->size + FE_NET_HDR_LEN <= 2048 ? 2048 : 4096;
}

static void
vlog(struct fe_ctx *c, enum vkind k, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
vlog(struct fe_ctx *c, enum vkind k, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (c->logged[k]++ >= LOG_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fe_log("VIOLATION: %s", buf);
}

static uint8_t
ring_perm(const struct fe_ctx *c, bool device_writes)
{
	if (c->o->perm == PERM_LOOSE)
		return VU_ACCESS_RW;
	return device_writes ? VU_ACCESS_WO : VU_ACCESS_RO;
}

static int
vq_setup(struct fe_ctx *c, struct fe_vq *vq, unsigned int index, bool rx)
{
	const struct fe_opts *o = c->o;
	uint16_t num = (uint16_t)o->ring_size;
	size_t da = vring_desc_size(num) + vring_avail_size(num);
	unsigned int reg = index % c->gm->nregions;
	uint64_t a;
	uint32_t i;
	int rc;

	vq->index = index;
	vq->rx = rx;
	vq->num = num;
	/* Descriptor table and avail ring share one read-only allocation. */
	vq->desc_gpa = guest_mem_alloc(c->gm, reg, da, 4096);
	vq->used_gpa = guest_mem_alloc(c->gm, reg + 1, vring_used_size(num), 4096);
	if (vq->desc_gpa == 0 || vq->used_gpa == 0)
		return -ENOMEM;
	vq->avail_gpa = vq->desc_gpa + vring_desc_size(num);
	memset(guest_mem_va(c->gm, vq->desc_gpa), 0, da);
	memset(guest_mem_va(c->gm, vq->used_gpa), 0, vring_used_size(num));
	rc = vring_drv_init(&vq->vr, num, c->event_idx,
			    guest_mem_va(c->gm, vq->desc_gpa),
			    guest_mem_va(c->gm, vq->avail_gpa),
			    guest_mem_va(c->gm, vq->used_gpa));
	if (rc < 0)
		return rc;

	if (!iommu_enabled(c->mmu)) {
		vq->desc_addr = (uintptr_t)guest_mem_va(c->gm, vq->desc_gpa);
		vq->avail_addr = (uintptr_t)guest_mem_va(c->gm, vq->avail_gpa);
		vq->used_addr = (uintptr_t)guest_mem_va(c->gm, vq->used_gpa);
	} else {
		rc = iommu_map_static(c->mmu, vq->desc_gpa, da,
				      ring_perm(c, false), &a);
		if (rc < 0)
			return rc;
		vq->desc_addr = a;
		vq->avail_addr = a + vring_desc_size(num);
		rc = iommu_map_static(c->mmu, vq->used_gpa, vring_used_size(num),
				      ring_perm(c, true), &vq->used_addr);
		if (rc < 0)
			return rc;
	}

	vq->buf_perm = rx ? (o->perm == PERM_LOOSE ? VU_ACCESS_RW : VU_ACCESS_WO) :
		       VU_ACCESS_RO;
	rc = bufpool_init(&vq->pool, c->gm, qp_pool_size(o), buf_cap(o),
			  index + 2);
	if (rc < 0)
		return rc;
	for (i = 0; i < vq->pool.n; i++) {
		struct fe_buf *b = &vq->pool.b[i];

		if (rx)
			canary_fill(b->va, vq->pool.cap);
		if (o->iommu != IOMMU_PREFAULT)
			continue;
		/* Prefault: one permanent window per buffer. */
		rc = iommu_map_buf(c->mmu, b->gpa, vq->pool.cap, vq->buf_perm,
				   !rx, OWNER(vq, i), &b->win, &b->addr);
		if (rc < 0)
			return rc;
	}

	vq->kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vq->callfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vq->kickfd < 0 || vq->callfd < 0)
		return -errno;
	return 0;
}

int
qp_setup(struct fe_ctx *c, struct fe_qp *qp, uint16_t qid)
{
	int rc;

	memset(qp, 0, sizeof(*qp));
	qp->qid = qid;
	rc = vq_setup(c, &qp->rxq, 2u * qid, true);
	if (rc == 0)
		rc = vq_setup(c, &qp->txq, 2u * qid + 1, false);
	return rc;
}

static void
vq_fini(struct fe_vq *vq)
{
	vring_drv_fini(&vq->vr);
	bufpool_fini(&vq->pool);
	if (vq->kickfd >= 0)
		close(vq->kickfd);
	if (vq->callfd >= 0)
		close(vq->callfd);
}

void
qp_fini(struct fe_qp *qp)
{
	vq_fini(&qp->rxq);
	vq_fini(&qp->txq);
	seq_track_fini(&qp->seq);
}

/*
 * A resting buffer carries the canary from the moment its revocation was
 * acknowledged; any change since means the device wrote through a
 * translation it no longer had.
 */
static void
check_resting(struct fe_ctx *c, struct fe_qp *qp, struct fe_vq *vq,
	      struct fe_buf *b, const char *when)
{
	int off;

	if (!b->canary)
		return;
	b->canary = false;
	off = canary_check(b->va, vq->pool.cap);
	if (off < 0)
		return;
	qp->st.v_canary++;
	vlog(c, VK_CANARY, "vq %u: revoked %s buffer gpa=0x%" PRIx64 " written at offset %d (found %s)",
	     vq->index, vq->rx ? "RX" : "TX", b->gpa, off, when);
}

static int
buf_map(struct fe_ctx *c, struct fe_vq *vq, uint32_t id, uint32_t len)
{
	struct fe_buf *b = &vq->pool.b[id];
	int rc;

	if (!iommu_dynamic(c->mmu))
		return 0;
	rc = iotlb_map_buf(c->tlb, b->gpa, len, vq->buf_perm, !vq->rx,
			   OWNER(vq, id), &b->win, &b->addr);
	if (rc < 0)
		fe_die("vq %u: cannot map buffer gpa=0x%" PRIx64 ": %s",
		       vq->index, b->gpa, strerror(-rc));
	return 0;
}

static void
kick(struct fe_ctx *c, struct fe_qp *qp, struct fe_vq *vq)
{
	uint64_t one = 1;

	if (!c->o->kick || !vring_drv_need_kick(&vq->vr))
		return;
	if (write(vq->kickfd, &one, sizeof(one)) == sizeof(one))
		qp->st.kicks++;
}

unsigned int
qp_post_rx(struct fe_ctx *c, struct fe_qp *qp)
{
	struct fe_vq *vq = &qp->rxq;
	unsigned int n = 0;
	uint32_t id;

	while (vq->vr.nfree > 0 && (id = bufpool_get(&vq->pool)) != UINT32_MAX) {
		struct fe_buf *b = &vq->pool.b[id];

		check_resting(c, qp, vq, b, "at reuse");
		/* A used entry whose data never landed shows up as canary. */
		canary_fill(b->va, CANARY_HEAD);
		buf_map(c, vq, id, vq->pool.cap);
		b->posted = true;
		if (vring_drv_add(&vq->vr, b->addr, vq->pool.cap, true, id) < 0)
			fe_die("internal: RX ring full");
		n++;
	}
	if (n > 0) {
		vring_drv_publish(&vq->vr);
		kick(c, qp, vq);
	}
	return n;
}

unsigned int
qp_post_tx(struct fe_ctx *c, struct fe_qp *qp, unsigned int budget)
{
	struct fe_vq *vq = &qp->txq;
	uint32_t len = c->o->size + FE_NET_HDR_LEN;
	unsigned int n = 0;
	uint32_t id;

	while (n < budget && vq->vr.nfree > 0 &&
	       (id = bufpool_get(&vq->pool)) != UINT32_MAX) {
		struct fe_buf *b = &vq->pool.b[id];

		check_resting(c, qp, vq, b, "at reuse");
		memset(b->va, 0, FE_NET_HDR_LEN);
		pkt_build(b->va + FE_NET_HDR_LEN, c->o->size, qp->qid,
			  qp->next_seq++);
		b->len = len;
		b->csum = fe_csum(b->va, len);
		buf_map(c, vq, id, len);
		b->posted = true;
		if (vring_drv_add(&vq->vr, b->addr, len, false, id) < 0)
			fe_die("internal: TX ring full");
		n++;
	}
	if (n > 0) {
		vring_drv_publish(&vq->vr);
		qp->st.tx_posted += n;
		kick(c, qp, vq);
	}
	return n;
}

static void
bad_used(struct fe_ctx *c, struct fe_qp *qp, struct fe_vq *vq, uint32_t id)
{
	qp->st.v_bad_used++;
	vlog(c, VK_BADUSED, "vq %u: used ring returned descriptor %u, which is %s",
	     vq->index, id, id >= vq->num ? "out of range" : "not outstanding");
}

unsigned int
qp_reap_tx(struct fe_ctx *c, struct fe_qp *qp)
{
	struct fe_vq *vq = &qp->txq;
	uint32_t wins[256], id, len, bad;
	unsigned int n = 0, nw = 0;
	int rc;

	while (nw < FE_DIM(wins) &&
	       (rc = vring_drv_get(&vq->vr, &id, &len, &bad)) != 0) {
		struct fe_buf *b;

		if (rc < 0) {
			bad_used(c, qp, vq, bad);
			continue;
		}
		b = &vq->pool.b[id];
		b->posted = false;
		n++;
		if (fe_csum(b->va, b->len) != b->csum) {
			qp->st.v_tx_modified++;
			vlog(c, VK_TXMOD, "vq %u: read-only TX buffer gpa=0x%" PRIx64 " iova=0x%" PRIx64 " was modified",
			     vq->index, b->gpa, b->addr);
		}
		if (b->win != IOMMU_NO_WIN && iommu_dynamic(c->mmu))
			wins[nw++] = b->win;
		bufpool_put(&vq->pool, id);
	}
	qp->st.tx_done += n;
	iotlb_unmap(c->tlb, wins, nw);
	return n;
}

/* Judge one received frame and account for it. */
static void
rx_frame(struct fe_ctx *c, struct fe_qp *qp, const uint8_t *f, uint32_t len)
{
	enum pkt_verdict v;
	uint64_t seq = 0;

	v = pkt_verify(f, len, qp->qid, c->o->expect, &seq);
	if (v == PKT_OK && seq >= qp->next_seq)
		v = PKT_BAD_CSUM;	/* well-formed, yet never sent */
	if (v != PKT_OK) {
		qp->st.corrupt++;
		qp->st.corrupt_by[v]++;
		if (qp->st.corrupt <= 5)
			fe_log("queue %u: corrupt packet (%s), %u bytes",
			       qp->qid, pkt_verdict_name(v), len);
		return;
	}
	switch (seq_track_rx(&qp->seq, seq)) {
	case SEQ_NEW:
		qp->st.rx_good++;
		break;
	case SEQ_REORDER:
		qp->st.rx_good++;
		qp->st.reorder++;
		break;
	case SEQ_DUP:
		qp->st.dup++;
		break;
	}
}

/*
 * Take one used RX entry and vet it; @return 1 with the buffer in *out,
 * 0 if none, -1 if the entry was bad (already counted).
 */
static int
rx_take(struct fe_ctx *c, struct fe_qp *qp, uint32_t *out, uint32_t *len,
	uint32_t *wins, unsigned int *nw)
{
	struct fe_vq *vq = &qp->rxq;
	struct fe_buf *b;
	uint32_t id, bad;
	int rc;

	rc = vring_drv_get(&vq->vr, &id, len, &bad);
	if (rc == 0)
		return 0;
	if (rc < 0) {
		bad_used(c, qp, vq, bad);
		return -1;
	}
	b = &vq->pool.b[id];
	b->posted = false;
	if (b->win != IOMMU_NO_WIN && iommu_dynamic(c->mmu))
		wins[(*nw)++] = b->win;
	*out = id;
	if (*len > vq->pool.cap) {
		qp->st.v_rx_len++;
		vlog(c, VK_RXLEN, "vq %u: used length %u exceeds the %u-byte buffer",
		     vq->index, *len, vq->pool.cap);
		bufpool_put(&vq->pool, id);
		return -1;
	}
	if (*len >= FE_NET_HDR_LEN && canary_check(b->va, CANARY_HEAD) < 0) {
		qp->st.v_rx_unwritten++;
		vlog(c, VK_UNWRITTEN, "vq %u: RX buffer gpa=0x%" PRIx64 " iova=0x%" PRIx64 " returned with %u bytes but never written (stale translation?)",
		     vq->index, b->gpa, b->addr, *len);
		bufpool_put(&vq->pool, id);
		return -1;
	}
	return 1;
}

unsigned int
qp_reap_rx(struct fe_ctx *c, struct fe_qp *qp)
{
	static uint8_t merged[MERGE_MAX];
	struct fe_vq *vq = &qp->rxq;
	uint32_t wins[256 + 64], id, len;
	unsigned int n = 0, nw = 0;
	int rc;

	while (nw < 256 && (rc = rx_take(c, qp, &id, &len, wins, &nw)) != 0) {
		struct fe_buf *b = &vq->pool.b[id];
		struct virtio_net_hdr_v1 h;
		uint32_t total, k;

		n++;
		qp->st.rx_pkts++;
		if (rc < 0)
			continue;
		if (len < FE_NET_HDR_LEN) {
			qp->st.corrupt++;
			qp->st.corrupt_by[PKT_BAD_LEN]++;
			bufpool_put(&vq->pool, id);
			continue;
		}
		memcpy(&h, b->va, sizeof(h));
		if (!c->mrg || h.num_buffers <= 1) {
			rx_frame(c, qp, b->va + FE_NET_HDR_LEN,
				 len - FE_NET_HDR_LEN);
			bufpool_put(&vq->pool, id);
			continue;
		}
		/* Mergeable: the rest of the packet follows in later entries. */
		qp->st.rx_merged++;
		total = len - FE_NET_HDR_LEN;
		memcpy(merged, b->va + FE_NET_HDR_LEN, total);
		bufpool_put(&vq->pool, id);
		for (k = 1; k < h.num_buffers && nw < FE_DIM(wins); k++) {
			uint64_t deadline = fe_now_ns() + 100000000ull;
			uint32_t id2, len2;

			while ((rc = rx_take(c, qp, &id2, &len2, wins, &nw)) == 0 &&
			       fe_now_ns() < deadline)
				;
			if (rc <= 0)
				break;
			if (total + len2 <= MERGE_MAX)
				memcpy(merged + total, vq->pool.b[id2].va, len2);
			total += len2;
			bufpool_put(&vq->pool, id2);
		}
		if (k < h.num_buffers || total > MERGE_MAX) {
			qp->st.corrupt++;
			qp->st.corrupt_by[PKT_BAD_LEN]++;
			continue;
		}
		rx_frame(c, qp, merged, total);
	}
	iotlb_unmap(c->tlb, wins, nw);
	return n;
}

void
qp_on_revoked(void *arg, uint32_t owner, uint32_t win)
{
	struct fe_ctx *c = arg;
	unsigned int index = owner >> 16;
	uint32_t id = owner & 0xffff;
	struct fe_qp *qp;
	struct fe_vq *vq;
	struct fe_buf *b;

	if (index / 2 >= c->nq)
		return;
	qp = &c->qp[index / 2];
	vq = index % 2 == 0 ? &qp->rxq : &qp->txq;
	if (id >= vq->pool.n)
		return;
	b = &vq->pool.b[id];
	/* Lazy mode may have re-posted the buffer under a new window already. */
	if (b->posted || b->win != win)
		return;
	b->win = IOMMU_NO_WIN;
	canary_fill(b->va, vq->pool.cap);
	b->canary = true;
}

void
qp_final_check(struct fe_ctx *c, struct fe_qp *qp)
{
	uint32_t i;

	for (i = 0; i < qp->rxq.pool.n; i++)
		if (!qp->rxq.pool.b[i].posted)
			check_resting(c, qp, &qp->rxq, &qp->rxq.pool.b[i],
				      "at the end");
	for (i = 0; i < qp->txq.pool.n; i++)
		if (!qp->txq.pool.b[i].posted)
			check_resting(c, qp, &qp->txq, &qp->txq.pool.b[i],
				      "at the end");
}

uint64_t
fe_stats_violations(const struct fe_stats *s)
{
	return s->v_tx_modified + s->v_canary + s->v_rx_unwritten +
	       s->v_bad_used + s->v_rx_len;
}
