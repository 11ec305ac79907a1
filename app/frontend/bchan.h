/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/* The back-end channel: requests the back-end makes of us. */

#ifndef FE_BCHAN_H
#define FE_BCHAN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "iotlb.h"

struct bchan {
	int fd;			/* our end of the socketpair */
	int peer_fd;		/* the end handed over in SET_BACKEND_REQ_FD */
	pthread_t thread;
	bool running;
	struct iotlb *tlb;
	volatile bool stopping;
	/* Anomalies, read after the thread is joined. */
	bool closed_early;
	uint64_t bad_msgs;
	uint64_t other_reqs;
};

/** Create the socketpair; the peer end goes to the back-end. */
int bchan_open(struct bchan *b, struct iotlb *tlb);

/** Start serving (after SET_BACKEND_REQ_FD was acknowledged). */
void bchan_start(struct bchan *b);

/** Stop serving and close. */
void bchan_stop(struct bchan *b);

#endif /* FE_BCHAN_H */
