/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef FE_RUN_H
#define FE_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "qp.h"

struct run_result {
	double run_s;		/* traffic phase */
	double tx_s;		/* start to the last TX completion */
	double rx_s;		/* start to the last RX arrival */
	bool stalled;		/* no progress for --timeout */
	bool drained;		/* every consumed packet accounted for */
};

/** Post RX buffers on every queue pair before the device starts. */
void run_prime(struct fe_ctx *c);

/** Traffic for --seconds or --packets, then drain. */
void run_traffic(struct fe_ctx *c, struct run_result *r);

#endif /* FE_RUN_H */
