/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iotlb.h"
#include "util.h"

/* Most refused misses worth a line each; the rest are only counted. */
#define REFUSALS_LOGGED	10
/*
 * A device TLB may drop an entry and miss again, but a mapping missed
 * more often than this without being unmapped means the back-end keeps
 * asking and ignores our answer (e.g. it holds a stale entry that
 * shadows the UPDATE).
 */
#define MISS_REPEAT_LIMIT	3

void
iotlb_init(struct iotlb *t, struct iommu *mmu, struct vu_conn *conn,
	   unsigned int miss_delay_us, unsigned int lazy_batch,
	   unsigned int lazy_ms)
{
	memset(t, 0, sizeof(*t));
	t->mmu = mmu;
	t->conn = conn;
	t->miss_delay_us = miss_delay_us;
	t->lazy_batch = lazy_batch ? lazy_batch : 1;
	t->lazy_ms = lazy_ms;
}

int
iotlb_map_buf(struct iotlb *t, uint64_t gpa, uint32_t len, uint8_t perm,
	      unsigned int pool, uint32_t owner, uint32_t *win, uint64_t *iova)
{
	int rc;

	pthread_mutex_lock(&t->mmu->lock);
	rc = iommu_map_buf(t->mmu, gpa, len, perm, pool, owner, win, iova);
	pthread_mutex_unlock(&t->mmu->lock);
	fe_dbg("map gpa=0x%" PRIx64 " -> iova=0x%" PRIx64 " %s (window %u, owner 0x%x)",
	       gpa, *iova, iommu_perm_name(perm), *win, owner);
	return rc;
}

static void
send_iotlb(struct iotlb *t, const struct vu_iotlb *m, uint64_t *ticket,
	   const char *what)
{
	int rc = vu_conn_send(t->conn, VU_IOTLB_MSG, m, sizeof(*m), NULL, 0,
			      VU_ACK, ticket);

	if (rc < 0)
		vu_conn_fail(t->conn, VU_IOTLB_MSG, what, rc);
}

static void
wait_iotlb(struct iotlb *t, uint64_t ticket, const struct vu_iotlb *m,
	   const char *kind)
{
	char what[160];
	int rc = vu_conn_wait(t->conn, ticket, NULL);

	if (rc < 0) {
		snprintf(what, sizeof(what),
			 "(%s iova=0x%" PRIx64 " size=0x%" PRIx64 " perm=%s)",
			 kind, m->iova, m->size, iommu_perm_name(m->perm));
		vu_conn_fail(t->conn, VU_IOTLB_MSG, what, rc);
	}
}

void
iotlb_unmap(struct iotlb *t, const uint32_t *wins, unsigned int n)
{
	struct iommu *mmu = t->mmu;
	struct vu_iotlb *msgs;
	uint64_t *tickets, *sent;
	unsigned int i;

	if (n == 0)
		return;
	if (mmu->mode == IOMMU_LAZY) {
		pthread_mutex_lock(&mmu->lock);
		for (i = 0; i < n; i++) {
			iommu_unmap(mmu, wins[i]);
			fe_dbg("unmap iova=0x%" PRIx64 " (window %u), flush pending",
			       iommu_win(mmu, wins[i])->iova, wins[i]);
		}
		pthread_mutex_unlock(&mmu->lock);
		if (t->first_pending_ns == 0)
			t->first_pending_ns = fe_now_ns();
		iotlb_lazy_tick(t);
		return;
	}
	if (mmu->mode != IOMMU_STRICT)
		return;

	msgs = calloc(n, sizeof(*msgs));
	tickets = calloc(n, sizeof(*tickets));
	sent = calloc(n, sizeof(*sent));
	if (msgs == NULL || tickets == NULL || sent == NULL)
		fe_die("out of memory");
	/*
	 * The state change and the message go out under one lock: a miss
	 * answered after this point is refused, and one answered before has
	 * its UPDATE ahead of our INVALIDATE on the socket.
	 */
	for (i = 0; i < n; i++) {
		const struct iommu_win *w = iommu_win(mmu, wins[i]);

		pthread_mutex_lock(&mmu->lock);
		if (iommu_unmap(mmu, wins[i]) < 0)
			fe_die("internal: unmap of window %u in state %u",
			       wins[i], w != NULL ? w->state : 0);
		msgs[i].iova = w->iova;
		msgs[i].size = w->size;
		msgs[i].type = VU_IOTLB_INVALIDATE;
		sent[i] = fe_now_ns();
		send_iotlb(t, &msgs[i], &tickets[i], "(INVALIDATE)");
		pthread_mutex_unlock(&mmu->lock);
		t->inv_st.inval++;
	}
	for (i = 0; i < n; i++) {
		wait_iotlb(t, tickets[i], &msgs[i], "INVALIDATE");
		lat_record(&t->inval_lat, fe_now_ns() - sent[i]);
		pthread_mutex_lock(&mmu->lock);
		iommu_unmap_done(mmu, wins[i]);
		pthread_mutex_unlock(&mmu->lock);
		if (t->revoked != NULL)
			t->revoked(t->revoked_arg, iommu_win(mmu, wins[i])->owner,
				   wins[i]);
	}
	free(msgs);
	free(tickets);
	free(sent);
}

void
iotlb_flush(struct iotlb *t)
{
	struct iommu *mmu = t->mmu;
	struct vu_iotlb lo, hi;
	uint64_t tk_lo, tk_hi, t0;

	if (mmu->mode != IOMMU_LAZY || mmu->npending == 0)
		return;
	memset(&lo, 0, sizeof(lo));
	memset(&hi, 0, sizeof(hi));
	lo.type = hi.type = VU_IOTLB_INVALIDATE;
	lo.iova = IOMMU_FLUSH_LO_IOVA;
	lo.size = IOMMU_FLUSH_LO_SIZE;
	hi.iova = IOMMU_FLUSH_HI_IOVA;
	hi.size = IOMMU_FLUSH_HI_SIZE;
	/* Under the lock so no UPDATE for a pending window can follow it. */
	pthread_mutex_lock(&mmu->lock);
	t0 = fe_now_ns();
	send_iotlb(t, &lo, &tk_lo, "(INVALIDATE flush, low half)");
	send_iotlb(t, &hi, &tk_hi, "(INVALIDATE flush, high half)");
	pthread_mutex_unlock(&mmu->lock);
	t->inv_st.inval += 2;
	wait_iotlb(t, tk_lo, &lo, "INVALIDATE flush");
	wait_iotlb(t, tk_hi, &hi, "INVALIDATE flush");
	lat_record(&t->inval_lat, fe_now_ns() - t0);
	t->inv_st.flushes++;
	fe_dbg("flush acked (%u windows)", mmu->npending);
	pthread_mutex_lock(&mmu->lock);
	iommu_flush_done(mmu, t->revoked, t->revoked_arg);
	pthread_mutex_unlock(&mmu->lock);
	t->first_pending_ns = 0;
}

void
iotlb_lazy_tick(struct iotlb *t)
{
	if (t->mmu->mode != IOMMU_LAZY || t->mmu->npending == 0)
		return;
	if (t->mmu->npending >= t->lazy_batch ||
	    (t->lazy_ms > 0 &&
	     fe_now_ns() - t->first_pending_ns >= (uint64_t)t->lazy_ms * 1000000ull))
		iotlb_flush(t);
}

struct prefault_ctx {
	struct iotlb *t;
	struct vu_iotlb *msgs;
	uint64_t *tickets;
	unsigned int n, cap;
};

static void
prefault_one(void *arg, const struct iommu_win *w)
{
	struct prefault_ctx *c = arg;
	struct vu_iotlb *m;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		c->msgs = realloc(c->msgs, c->cap * sizeof(*c->msgs));
		c->tickets = realloc(c->tickets, c->cap * sizeof(*c->tickets));
		if (c->msgs == NULL || c->tickets == NULL)
			fe_die("out of memory");
	}
	m = &c->msgs[c->n];
	memset(m, 0, sizeof(*m));
	m->iova = w->iova;
	m->size = w->size;
	m->uaddr = (uintptr_t)guest_mem_va(c->t->mmu->gm, w->gpa);
	m->perm = w->perm;
	m->type = VU_IOTLB_UPDATE;
	c->n++;
}

/* Send prepared UPDATEs, a bounded number in flight: replies are slots, too. */
static void
push_updates(struct iotlb *t, struct prefault_ctx *c, const char *kind)
{
	char what[48];
	unsigned int i, done = 0;

	snprintf(what, sizeof(what), "(%s)", kind);
	while (done < c->n) {
		unsigned int k = c->n - done < 256 ? c->n - done : 256;

		for (i = 0; i < k; i++)
			send_iotlb(t, &c->msgs[done + i], &c->tickets[done + i], what);
		for (i = 0; i < k; i++)
			wait_iotlb(t, c->tickets[done + i], &c->msgs[done + i], kind);
		done += k;
	}
	t->inv_st.prefault += c->n;
	free(c->msgs);
	free(c->tickets);
}

void
iotlb_prefault(struct iotlb *t)
{
	struct prefault_ctx c = { .t = t };

	pthread_mutex_lock(&t->mmu->lock);
	iommu_for_each_mapped(t->mmu, prefault_one, &c);
	pthread_mutex_unlock(&t->mmu->lock);
	push_updates(t, &c, "UPDATE prefault");
}

void
iotlb_fill(struct iotlb *t, unsigned int n)
{
	const struct guest_mem *gm = t->mmu->gm;
	struct prefault_ctx c = { .t = t };
	struct iommu_win w = { .size = 4096, .perm = VU_ACCESS_RO };
	unsigned int i, reg = 0;
	uint64_t off = 0;

	/*
	 * Only the back-end's table grows: the emulated IOMMU does not know
	 * these windows, so a miss on one would be refused, but the device
	 * never sees their IOVAs in a descriptor.
	 */
	for (i = 0; i < n; i++) {
		if (off + w.size > gm->r[reg].size) {
			reg = (reg + 1) % gm->nregions;
			off = 0;
		}
		w.iova = IOTLB_FILL_BASE + (uint64_t)i * w.size;
		w.gpa = gm->r[reg].gpa + off;
		off += w.size;
		prefault_one(&c, &w);
	}
	push_updates(t, &c, "UPDATE fill");
}

static void
log_refusal(struct iotlb *t, const struct vu_iotlb *m,
	    enum iommu_resolve_rc rc)
{
	static const char *const why[] = {
		[RESOLVE_UNMAPPED] = "never mapped",
		[RESOLVE_REVOKED] = "already revoked (use after unmap)",
		[RESOLVE_PERM] = "permission not granted",
	};
	struct vu_iotlb have;
	enum iommu_resolve_rc r2;

	if (t->refusals_logged++ >= REFUSALS_LOGGED)
		return;
	/* For a permission refusal, say what is mapped there. */
	r2 = rc == RESOLVE_PERM ?
	     iommu_resolve(t->mmu, m->iova, m->perm & VU_ACCESS_RO ?
			   VU_ACCESS_RO : VU_ACCESS_WO, &have) : rc;
	if (r2 != RESOLVE_OK)
		r2 = iommu_resolve(t->mmu, m->iova, VU_ACCESS_WO, &have);
	fe_log("IOTLB miss iova=0x%" PRIx64 " perm=%s not answered: %s%s%s",
	       m->iova, iommu_perm_name(m->perm), why[rc],
	       rc == RESOLVE_PERM && r2 == RESOLVE_OK ? ", mapped " : "",
	       rc == RESOLVE_PERM && r2 == RESOLVE_OK ?
	       iommu_perm_name(have.perm) : "");
	if (rc == RESOLVE_PERM && t->refusals_logged == 1)
		fe_log("hint: DPDK 22.11 asks RW for every ring part and for guest-RX buffers; "
		       "--perm loose maps them RW like a Linux guest does");
}

void
iotlb_handle_miss(struct iotlb *t, const struct vu_iotlb *m)
{
	uint64_t t0 = fe_now_ns(), ticket;
	enum iommu_resolve_rc rc;
	struct vu_iotlb upd;

	t->miss_st.miss++;
	if (t->miss_delay_us > 0)
		usleep(t->miss_delay_us);
	pthread_mutex_lock(&t->mmu->lock);
	rc = iommu_resolve(t->mmu, m->iova, m->perm, &upd);
	if (rc == RESOLVE_OK) {
		struct iommu_win *w = iommu_find(t->mmu, m->iova);

		send_iotlb(t, &upd, &ticket, "(UPDATE for a miss)");
		if (w != NULL && iommu_note_answer(t->mmu, w) > MISS_REPEAT_LIMIT) {
			if (t->miss_st.update_ignored++ == 0)
				fe_log("back-end missed iova=0x%" PRIx64 " %s again after %u UPDATEs: "
				       "it is not using them (a stale entry of an earlier mapping there?)",
				       m->iova, iommu_perm_name(m->perm),
				       MISS_REPEAT_LIMIT);
		}
	}
	pthread_mutex_unlock(&t->mmu->lock);
	switch (rc) {
	case RESOLVE_OK:
		wait_iotlb(t, ticket, &upd, "UPDATE");
		t->miss_st.update++;
		lat_record(&t->miss_lat, fe_now_ns() - t0);
		fe_dbg("miss iova=0x%" PRIx64 " %s -> UPDATE iova=0x%" PRIx64
		       " size=0x%" PRIx64 " %s", m->iova,
		       iommu_perm_name(m->perm), upd.iova, upd.size,
		       iommu_perm_name(upd.perm));
		return;
	case RESOLVE_UNMAPPED:
		t->miss_st.miss_unmapped++;
		break;
	case RESOLVE_REVOKED:
		t->miss_st.miss_revoked++;
		break;
	case RESOLVE_PERM:
		t->miss_st.miss_perm++;
		break;
	}
	/* Like a real IOMMU fault: no answer at all, the device must cope. */
	log_refusal(t, m, rc);
}
