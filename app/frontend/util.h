/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef FE_UTIL_H
#define FE_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define FE_ALIGN_UP(x, a)	(((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define FE_ALIGN_DOWN(x, a)	((x) & ~((uint64_t)(a) - 1))
#define FE_DIM(a)		(sizeof(a) / sizeof((a)[0]))

extern int fe_verbose;

/** Print a diagnostic prefixed with the program name. */
void fe_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Print a debug line when --verbose is given. */
#define fe_dbg(...) do { if (fe_verbose) fe_log(__VA_ARGS__); } while (0)

/**
 * Report a fatal error and exit with status 2. Safe from any thread: the
 * whole process goes, so no peer thread is left blocked on a socket.
 */
void fe_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/** Monotonic time in nanoseconds. */
static inline uint64_t
fe_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/** Allocate zeroed memory or die. */
void *fe_zalloc(size_t size);

/** xorshift64* generator: reproducible layouts from --seed. */
static inline uint64_t
fe_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

#endif /* FE_UTIL_H */
