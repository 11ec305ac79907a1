/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef IOVH_FUZZ_COMMON_H
#define IOVH_FUZZ_COMMON_H

/**
 * @file
 * What the libFuzzer targets share: EAL start-up, a byte reader over the
 * input, and the resource counts used to catch leaks that LeakSanitizer
 * cannot see (file descriptors, mappings).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/** libFuzzer entry points, implemented by each target. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/**
 * Start EAL once, without hugepages, devices or shared files, and with
 * the log held back to critical messages (IOVH_FUZZ_VERBOSE=1 in the
 * environment lets the library's debug log through, to replay a crash).
 * Exits the process if EAL cannot start: nothing can be fuzzed then.
 */
void fuzz_eal_init(const char *prog);

/** Whether IOVH_FUZZ_VERBOSE asked for a trace of what each input does. */
extern int fuzz_verbose;

/** Print a trace line when fuzz_verbose is set. */
#define FUZZ_TRACE(fmt, ...) do { \
	if (fuzz_verbose) \
		fprintf(stderr, "fuzz: " fmt "\n", ##__VA_ARGS__); \
} while (0)

/**
 * Report a broken invariant in a way libFuzzer records as a crash (with
 * the input that caused it).
 */
#define FUZZ_CHECK(cond, fmt, ...) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: invariant broken: %s: " fmt "\n", \
			__FILE__, __LINE__, #cond, ##__VA_ARGS__); \
		abort(); \
	} \
} while (0)

/** Bytes of fuzzer input read front to back; past the end reads zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t
fuzz_u8(struct fuzz_in *in)
{
	uint8_t v;

	if (in->left == 0)
		return 0;
	v = *in->p++;
	in->left--;
	return v;
}

/** Little-endian, whatever the width, so that seeds are portable. */
static inline uint64_t
fuzz_le(struct fuzz_in *in, unsigned int bytes)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < bytes; i++)
		v |= (uint64_t)fuzz_u8(in) << (8 * i);
	return v;
}

/** Copy up to @p len bytes out (fewer if the input ends); return count. */
size_t fuzz_bytes(struct fuzz_in *in, void *dst, size_t len);

/** Open file descriptors of this process, or -1. */
int fuzz_count_fds(void);

/** Print every open fd and what it is, on stderr (to explain a leak). */
void fuzz_list_fds(void);

/** Mappings in /proc/self/maps whose name contains @p tag, or -1. */
int fuzz_count_maps(const char *tag);

#endif /* IOVH_FUZZ_COMMON_H */
