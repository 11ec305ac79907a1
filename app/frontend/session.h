/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/* The vhost-user control conversation: negotiation, setup, teardown. */

#ifndef FE_SESSION_H
#define FE_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "bchan.h"
#include "guest_mem.h"
#include "opts.h"
#include "qp.h"
#include "vu_conn.h"

struct session {
	struct vu_conn *conn;
	uint64_t dev_features;		/* offered by the back-end */
	uint64_t features;		/* acked */
	uint64_t dev_pfeatures;
	uint64_t pfeatures;
	uint64_t queue_num;		/* back-end's GET_QUEUE_NUM, 1 without MQ */
	uint8_t status;
	struct bchan bchan;
	bool have_bchan;
};

/**
 * Feature and protocol-feature negotiation, SET_OWNER, the back-end
 * channel (serving misses through @p tlb). Exits with a clear message
 * if the back-end lacks something the options require.
 */
void session_negotiate(struct session *s, const struct fe_opts *o,
		       struct iotlb *tlb);

void session_mem_table(struct session *s, const struct guest_mem *gm);

/** NUM, BASE, ADDR, KICK, CALL for one virtqueue. */
void session_vring(struct session *s, const struct fe_vq *vq);

void session_vring_enable(struct session *s, const struct fe_vq *vq, bool on);

/** Set DRIVER_OK (STATUS negotiated) — the device may start now. */
void session_driver_ok(struct session *s);

/**
 * GET_VRING_BASE: stops the ring. @return the back-end's next avail
 * index, checked against what we posted.
 */
uint16_t session_stop_vring(struct session *s, const struct fe_vq *vq);

/** Print what was negotiated. */
void session_describe(const struct session *s);

#endif /* FE_SESSION_H */
