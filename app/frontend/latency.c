/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include "latency.h"

unsigned int
lat_bucket(uint64_t ns)
{
	unsigned int msb;

	if (ns < LAT_SUB)
		return (unsigned int)ns;
	msb = 63 - __builtin_clzll(ns);
	/* Top LAT_SUB_BITS bits below the leading one select the sub-bucket. */
	return (msb - LAT_SUB_BITS + 1) * LAT_SUB +
	       (unsigned int)((ns >> (msb - LAT_SUB_BITS)) & (LAT_SUB - 1));
}

uint64_t
lat_bucket_top(unsigned int b)
{
	unsigned int e = b / LAT_SUB, sub = b % LAT_SUB;
	unsigned int shift;

	if (e == 0)
		return b;
	shift = e - 1;
	return (((uint64_t)(LAT_SUB + sub + 1)) << shift) - 1;
}

void
lat_record(struct latency *l, uint64_t ns)
{
	unsigned int b = lat_bucket(ns);

	if (b >= LAT_BUCKETS)
		b = LAT_BUCKETS - 1;
	l->bucket[b]++;
	l->count++;
	l->sum_ns += ns;
	if (ns > l->max_ns)
		l->max_ns = ns;
}

uint64_t
lat_percentile(const struct latency *l, double pct)
{
	uint64_t want, seen = 0, top;
	unsigned int b;

	if (l->count == 0)
		return 0;
	want = (uint64_t)(pct / 100.0 * (double)l->count + 0.5);
	if (want < 1)
		want = 1;
	for (b = 0; b < LAT_BUCKETS; b++) {
		seen += l->bucket[b];
		if (seen >= want) {
			top = lat_bucket_top(b);
			/* Never report more than was actually seen. */
			return top < l->max_ns ? top : l->max_ns;
		}
	}
	return l->max_ns;
}
