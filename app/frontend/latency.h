/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef FE_LATENCY_H
#define FE_LATENCY_H

#include <stdint.h>

/*
 * Log-linear histogram of durations: 16 sub-buckets per power of two of
 * nanoseconds, so any percentile is within ~6% of the true value; the
 * maximum is kept exactly. One writer thread per histogram.
 */
#define LAT_SUB_BITS	4
#define LAT_SUB		(1u << LAT_SUB_BITS)
#define LAT_BUCKETS	(64 * LAT_SUB)

struct latency {
	uint64_t count;
	uint64_t max_ns;
	uint64_t sum_ns;
	uint64_t bucket[LAT_BUCKETS];
};

void lat_record(struct latency *l, uint64_t ns);

/** Value (ns) at percentile @p pct (0..100); 0 when empty. */
uint64_t lat_percentile(const struct latency *l, double pct);

/** Bucket index of @p ns, and the upper bound of bucket @p b (tests). */
unsigned int lat_bucket(uint64_t ns);
uint64_t lat_bucket_top(unsigned int b);

#endif /* FE_LATENCY_H */
