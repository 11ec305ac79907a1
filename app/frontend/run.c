/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <sched.h>
#include <string.h>

#include "run.h"
#include "util.h"

/* Quiet time after which the drain gives up waiting for stragglers. */
#define DRAIN_QUIET_NS	500000000ull

void
run_prime(struct fe_ctx *c)
{
	unsigned int q;

	for (q = 0; q < c->nq; q++)
		qp_post_rx(c, &c->qp[q]);
}

static bool
all_in(const struct fe_ctx *c)
{
	unsigned int q;

	for (q = 0; q < c->nq; q++) {
		const struct fe_qp *qp = &c->qp[q];

		if (vring_drv_inflight(&qp->txq.vr) > 0 ||
		    qp->st.rx_pkts < qp->st.tx_done)
			return false;
	}
	return true;
}

/*
 * Flow control: send only what the RX ring can take back, counting what
 * the back-end holds between its two rings, so that in io/macswap loops
 * a lost packet is the back-end's doing, not an overrun we provoked.
 * Packets the back-end dropped would block the credit for good: once
 * blocked for a while, whatever it still holds is written off.
 */
static unsigned int
tx_credit(struct fe_qp *qp, uint64_t now, uint64_t writeoff_ns)
{
	int64_t held = (int64_t)(qp->st.tx_done - qp->st.rx_pkts - qp->written_off);
	int64_t room;

	if (held < 0)
		held = 0;	/* written off, then turned up after all */
	room = (int64_t)vring_drv_inflight(&qp->rxq.vr) -
	       (int64_t)vring_drv_inflight(&qp->txq.vr) - held;
	if (room > 0) {
		qp->blocked_since = 0;
		return (unsigned int)room;
	}
	if (qp->blocked_since == 0) {
		qp->blocked_since = now;
	} else if (now - qp->blocked_since > writeoff_ns) {
		qp->written_off += (uint64_t)held;
		qp->blocked_since = 0;
		room += held;
	}
	return room > 0 ? (unsigned int)room : 0;
}

/* One pass over every queue pair. @return whether anything moved. */
static bool
poll_once(struct fe_ctx *c, bool send, uint64_t *budget, struct run_result *r,
	  uint64_t t0)
{
	unsigned int q, n = 0, got, want;
	uint64_t now = fe_now_ns();

	for (q = 0; q < c->nq; q++) {
		struct fe_qp *qp = &c->qp[q];

		got = qp_reap_tx(c, qp);
		if (got > 0)
			r->tx_s = (double)(now - t0) / 1e9;
		n += got;
		got = qp_reap_rx(c, qp);
		if (got > 0)
			r->rx_s = (double)(now - t0) / 1e9;
		n += got;
		qp_post_rx(c, qp);
		if (send && *budget > 0) {
			want = c->o->burst;
			if (want > *budget)
				want = (unsigned int)*budget;
			if (!c->o->flood) {
				unsigned int credit = tx_credit(qp, now,
						c->o->writeoff_ms * 1000000ull);

				if (want > credit)
					want = credit;
			}
			got = want ? qp_post_tx(c, qp, want) : 0;
			*budget -= got;
			n += got;
		}
	}
	iotlb_lazy_tick(c->tlb);
	return n > 0;
}

void
run_traffic(struct fe_ctx *c, struct run_result *r)
{
	const struct fe_opts *o = c->o;
	uint64_t budget = o->packets ? o->packets : UINT64_MAX;
	uint64_t t0 = fe_now_ns(), now, last_progress = t0, end;
	uint64_t stall_ns = (uint64_t)o->timeout_ms * 1000000ull;

	memset(r, 0, sizeof(*r));
	end = o->seconds > 0 ? t0 + (uint64_t)(o->seconds * 1e9) : UINT64_MAX;
	for (;;) {
		if (poll_once(c, true, &budget, r, t0))
			last_progress = fe_now_ns();
		else
			sched_yield();	/* a back-end thread may share our CPU */
		now = fe_now_ns();
		if (now >= end)
			break;
		if (budget == 0)
			break;
		if (now - last_progress > stall_ns) {
			r->stalled = true;
			fe_log("no progress for %u ms: back-end stalled", o->timeout_ms);
			break;
		}
	}
	r->run_s = (double)(fe_now_ns() - t0) / 1e9;

	/* Drain: stop sending, collect what is still on its way. */
	last_progress = fe_now_ns();
	while (!all_in(c)) {
		if (poll_once(c, false, &budget, r, t0))
			last_progress = fe_now_ns();
		else
			sched_yield();
		if (fe_now_ns() - last_progress > DRAIN_QUIET_NS)
			break;
	}
	r->drained = all_in(c);
	iotlb_flush(c->tlb);
}
