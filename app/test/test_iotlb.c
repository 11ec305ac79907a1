/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * iotlb_autotest: the device IOTLB (iotlb.c), the poll thread's side of it
 * (iovh_vq_translate, iotlb_poll.c) and the IOTLB_MSG handlers.
 *
 * The table cases drive a bare struct iovh_iotlb; the translation cases a
 * device and virtqueue filled in by hand; the stress case a writer (this
 * thread, in the control thread's place) against poll-thread readers; the
 * last cases a real device fed messages through iovh_msg_handle(), with a
 * reader thread inside a QSBR section to show that an INVALIDATE (or an
 * UPDATE that replaces a mapping) is not acknowledged while a poll thread
 * may still use what it removed.
 *
 * Under valgrind the stress runs shorter. IOVH_TEST_STRESS_MS,
 * IOVH_TEST_SEED and IOVH_TEST_READERS (1 or 2) override its duration,
 * random seed and number of reader threads.
 */

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_rcu_qsbr.h>

#include "test.h"
#include "ctrl.h"
#include "iotlb.h"
#include "vhost.h"

#define PG 0x1000ULL
#define RO VHU_ACCESS_RO
#define WO VHU_ACCESS_WO
#define RW VHU_ACCESS_RW

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: each thread its own state (rte_rand() shares one state
 * between all non-EAL threads). */
static uint64_t
rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* ------------------------------------------------------------------ */
/* Table lookups                                                       */

/** A mapping as the test inserted it. */
struct exp {
	uint64_t iova, last, hva, gpa;
	uint8_t perm;
};

static int
insert(struct iovh_iotlb *t, const struct exp *e)
{
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(t, e->iova, e->last, e->hva,
			e->gpa, e->perm, NULL, 0), "insert [%#" PRIx64 ", %#"
			PRIx64 "]", e->iova, e->last);
	return TEST_SUCCESS;
}

/*
 * @p iova must find exactly mapping @p e, with @p blk_last as the end of
 * the block found: never past the mapping, never past the aligned block.
 */
static int
expect_at(const struct iovh_iotlb *t, uint64_t iova, const struct exp *e,
		uint64_t blk_last)
{
	const struct iovh_iotlb_map *m;
	uint64_t bl = 0;

	m = iovh_iotlb_find(t, iova, &bl);
	TEST_ASSERT_NOT_NULL(m, "iova %#" PRIx64 " not found", iova);
	TEST_ASSERT_EQUAL(m->iova, e->iova, "iova %#" PRIx64, iova);
	TEST_ASSERT_EQUAL(m->last, e->last, "iova %#" PRIx64, iova);
	TEST_ASSERT_EQUAL(m->hva, e->hva, "iova %#" PRIx64, iova);
	TEST_ASSERT_EQUAL(m->gpa, e->gpa, "iova %#" PRIx64, iova);
	TEST_ASSERT_EQUAL(m->perm, e->perm, "iova %#" PRIx64, iova);
	TEST_ASSERT(bl >= iova && bl <= e->last && (bl & (PG - 1)) == PG - 1,
		"iova %#" PRIx64 ": blk_last %#" PRIx64, iova, bl);
	TEST_ASSERT_EQUAL(bl, blk_last, "iova %#" PRIx64, iova);
	return TEST_SUCCESS;
}

static int
expect_miss(const struct iovh_iotlb *t, uint64_t iova)
{
	uint64_t bl;

	TEST_ASSERT(iovh_iotlb_find(t, iova, &bl) == NULL,
		"iova %#" PRIx64 " found", iova);
	return TEST_SUCCESS;
}

/* Host and guest-physical addresses are never dereferenced here. */
#define H(i) (0x7e0000000000ULL + (uint64_t)(i) * 0x10000000000ULL)
#define G(i) ((uint64_t)(i) * 0x1000000000000ULL)

static const struct exp m4k = { 0x5000, 0x5fff, H(1), G(1), RO };
static const struct exp m2m = { 0x200000, 0x3fffff, H(2), G(2), WO };
static const struct exp m1g = { 0x40000000, 0x7fffffff, H(3), G(3), RW };
/* Page multiple, but starts one page before a 2 MiB block and ends two
 * pages into the next one. */
static const struct exp modd = { 0x801ff000, 0x80401fff, H(4), G(4), RW };
/* 2 MiB aligned, astride a 1 GiB boundary. */
static const struct exp mx1g = { 0xbfe00000, 0xc01fffff, H(5), G(5), RO };
/* One whole 512 GiB block. */
static const struct exp m512 = { 0x8000000000, 0xffffffffff, H(6), G(6),
	RW };

static int
test_lookups(void)
{
	struct iovh_iotlb t;

	TEST_ASSERT_SUCCESS(iovh_iotlb_init(&t, 64), "");
	TEST_ASSERT_EQUAL(t.nnodes, 1, "an empty table is its root");
	TEST_CHECK(insert(&t, &m4k));
	TEST_CHECK(insert(&t, &m2m));
	TEST_CHECK(insert(&t, &m1g));
	TEST_CHECK(insert(&t, &modd));
	TEST_CHECK(insert(&t, &mx1g));
	TEST_CHECK(insert(&t, &m512));
	TEST_ASSERT_EQUAL(t.nmaps, 6, "");
	TEST_ASSERT(!iovh_iotlb_dirty(&t), "inserting into nothing frees nothing");

	TEST_CHECK(expect_miss(&t, 0x4fff));
	TEST_CHECK(expect_at(&t, 0x5000, &m4k, 0x5fff));
	TEST_CHECK(expect_at(&t, 0x5abc, &m4k, 0x5fff));
	TEST_CHECK(expect_at(&t, 0x5fff, &m4k, 0x5fff));
	TEST_CHECK(expect_miss(&t, 0x6000));

	TEST_CHECK(expect_miss(&t, 0x1fffff));
	TEST_CHECK(expect_at(&t, 0x200000, &m2m, 0x3fffff));
	TEST_CHECK(expect_at(&t, 0x3fffff, &m2m, 0x3fffff));
	TEST_CHECK(expect_miss(&t, 0x400000));

	TEST_CHECK(expect_miss(&t, 0x3fffffff));
	TEST_CHECK(expect_at(&t, 0x40000000, &m1g, 0x7fffffff));
	TEST_CHECK(expect_at(&t, 0x5a5a5a5a, &m1g, 0x7fffffff));
	TEST_CHECK(expect_at(&t, 0x7fffffff, &m1g, 0x7fffffff));
	TEST_CHECK(expect_miss(&t, 0x80000000));

	/* The odd one: a page, a whole 2 MiB block, then pages again. */
	TEST_CHECK(expect_miss(&t, 0x801fefff));
	TEST_CHECK(expect_at(&t, 0x801ff000, &modd, 0x801fffff));
	TEST_CHECK(expect_at(&t, 0x801fffff, &modd, 0x801fffff));
	TEST_CHECK(expect_at(&t, 0x80200000, &modd, 0x803fffff));
	TEST_CHECK(expect_at(&t, 0x80312345, &modd, 0x803fffff));
	TEST_CHECK(expect_at(&t, 0x80400000, &modd, 0x80400fff));
	TEST_CHECK(expect_at(&t, 0x80401000, &modd, 0x80401fff));
	TEST_CHECK(expect_at(&t, 0x80401fff, &modd, 0x80401fff));
	TEST_CHECK(expect_miss(&t, 0x80402000));

	TEST_CHECK(expect_miss(&t, 0xbfdfffff));
	TEST_CHECK(expect_at(&t, 0xbfe00000, &mx1g, 0xbfffffff));
	TEST_CHECK(expect_at(&t, 0xc0000000, &mx1g, 0xc01fffff));
	TEST_CHECK(expect_at(&t, 0xc01fffff, &mx1g, 0xc01fffff));
	TEST_CHECK(expect_miss(&t, 0xc0200000));

	TEST_CHECK(expect_miss(&t, 0x7fffffffff));
	TEST_CHECK(expect_at(&t, 0x8000000000, &m512, 0xffffffffff));
	TEST_CHECK(expect_at(&t, 0xffffffffff, &m512, 0xffffffffff));
	TEST_CHECK(expect_miss(&t, 0x10000000000));

	TEST_CHECK(expect_miss(&t, 0));
	TEST_CHECK(expect_miss(&t, UINT64_MAX));
	iovh_iotlb_fini(&t);
	return TEST_SUCCESS;
}

/* Two mappings that could be one (IOVA and host both contiguous) stay
 * two: a translation never runs from one into the other. */
static int
test_adjacent_not_merged(void)
{
	static const struct exp a = { 0x100000000, 0x1001fffff, H(1), G(1), RW };
	static const struct exp b = { 0x100200000, 0x1003fffff,
		H(1) + 0x200000, G(1) + 0x200000, RW };
	static const struct exp p = { 0x140000000, 0x140000fff, H(2), G(2), RW };
	static const struct exp q = { 0x140001000, 0x140001fff, H(2) + PG,
		G(2) + PG, RW };
	const struct iovh_iotlb_map *ma, *mb;
	struct iovh_iotlb t;
	uint64_t bl;

	TEST_ASSERT_SUCCESS(iovh_iotlb_init(&t, 64), "");
	TEST_CHECK(insert(&t, &a));
	TEST_CHECK(insert(&t, &b));
	TEST_CHECK(insert(&t, &p));
	TEST_CHECK(insert(&t, &q));
	TEST_ASSERT_EQUAL(t.nmaps, 4, "");
	TEST_CHECK(expect_at(&t, 0x100000000, &a, 0x1001fffff));
	TEST_CHECK(expect_at(&t, 0x1001fffff, &a, 0x1001fffff));
	TEST_CHECK(expect_at(&t, 0x100200000, &b, 0x1003fffff));
	TEST_CHECK(expect_at(&t, 0x140000000, &p, 0x140000fff));
	TEST_CHECK(expect_at(&t, 0x140000fff, &p, 0x140000fff));
	TEST_CHECK(expect_at(&t, 0x140001000, &q, 0x140001fff));
	ma = iovh_iotlb_find(&t, 0x1001fffff, &bl);
	mb = iovh_iotlb_find(&t, 0x100200000, &bl);
	TEST_ASSERT(ma != mb, "adjacent mappings merged");
	iovh_iotlb_fini(&t);
	return TEST_SUCCESS;
}

/*
 * A range that ends at 2^64 - 1. The INVALIDATE seen from Linux' lazy
 * flush, iova 0xfef00000 size 0xffffffff01100000, removes everything from
 * 0xfef00000 up and nothing below, including the lower part of a mapping
 * astride 0xfef00000.
 */
static int
test_top_of_iova_space(void)
{
	static const struct exp top = { 0xfffffffffffff000, UINT64_MAX, H(1),
		G(1), RW };
	static const struct exp top57 = { 0xfe00000000000000,
		0xfffffffffffeffff, H(2), G(2), RO };
	static const struct exp astride = { 0xfee00000, 0xfef0ffff, H(3), G(3),
		RW };
	static const struct exp at = { 0xfef10000, 0xfef10fff, H(4), G(4), RW };
	static const struct exp below = { 0xfe000000, 0xfe000fff, H(5), G(5),
		RW };
	static const struct exp whole = { 0, UINT64_MAX, H(6), G(6), RW };
	struct iovh_iotlb t;
	uint64_t iova = 0xfef00000, size = 0xffffffff01100000ULL;

	TEST_ASSERT_SUCCESS(iovh_iotlb_init(&t, 64), "");
	TEST_CHECK(insert(&t, &top));
	TEST_CHECK(insert(&t, &top57));
	TEST_CHECK(insert(&t, &astride));
	TEST_CHECK(insert(&t, &at));
	TEST_CHECK(insert(&t, &below));
	TEST_CHECK(insert(&t, &m512));
	TEST_CHECK(insert(&t, &m1g));
	TEST_CHECK(expect_at(&t, UINT64_MAX, &top, UINT64_MAX));
	TEST_CHECK(expect_at(&t, 0xfffffffffffff000, &top, UINT64_MAX));
	TEST_CHECK(expect_miss(&t, 0xffffffffffffefff));
	/* A 2^48 block, one level below the top. */
	TEST_CHECK(expect_at(&t, 0xfe00000000000000, &top57,
			0xfe00ffffffffffff));
	TEST_CHECK(expect_at(&t, 0xfffffffffffeffff, &top57,
			0xfffffffffffeffff));
	TEST_CHECK(expect_at(&t, 0xfef00000, &astride, 0xfef00fff));

	/* What QEMU would send: the range ends exactly at 2^64 - 1. */
	TEST_ASSERT_EQUAL(iova + (size - 1), UINT64_MAX, "test arithmetic");
	TEST_ASSERT_SUCCESS(iovh_iotlb_remove(&t, iova, iova + (size - 1)), "");
	TEST_ASSERT(iovh_iotlb_dirty(&t), "");
	iovh_iotlb_reclaim(&t);
	TEST_CHECK(expect_miss(&t, UINT64_MAX));
	TEST_CHECK(expect_miss(&t, 0xfe00000000000000));
	TEST_CHECK(expect_miss(&t, 0x8000000000));
	TEST_CHECK(expect_miss(&t, 0xfef10000));
	TEST_CHECK(expect_miss(&t, 0xfef00000));
	TEST_CHECK(expect_miss(&t, 0xfef0ffff));
	TEST_CHECK(expect_at(&t, 0xfeeff000, &astride, 0xfeefffff));
	TEST_CHECK(expect_at(&t, 0xfeefffff, &astride, 0xfeefffff));
	TEST_CHECK(expect_at(&t, 0xfee00000, &astride, 0xfee00fff));
	TEST_CHECK(expect_at(&t, 0xfe000000, &below, 0xfe000fff));
	TEST_CHECK(expect_at(&t, 0x40000000, &m1g, 0x7fffffff));
	TEST_ASSERT_EQUAL(t.nmaps, 3, "astride, below and 1 GiB are left");

	/* The whole space in one mapping, then a hole in it. */
	iovh_iotlb_flush(&t);
	iovh_iotlb_reclaim(&t);
	TEST_ASSERT_EQUAL(t.nnodes, 1, "");
	TEST_CHECK(insert(&t, &whole));
	TEST_CHECK(expect_at(&t, 0, &whole, (1ULL << 57) - 1));
	TEST_CHECK(expect_at(&t, UINT64_MAX, &whole, UINT64_MAX));
	TEST_CHECK(expect_at(&t, 1ULL << 63, &whole,
			(1ULL << 63) + (1ULL << 57) - 1));
	TEST_ASSERT_SUCCESS(iovh_iotlb_remove(&t, 0x1000, 0x1fff), "");
	TEST_CHECK(expect_at(&t, 0, &whole, 0xfff));
	TEST_CHECK(expect_miss(&t, 0x1000));
	TEST_CHECK(expect_at(&t, 0x2000, &whole, 0x2fff));
	TEST_CHECK(expect_at(&t, 0x200000, &whole, 0x3fffff));
	TEST_ASSERT_SUCCESS(iovh_iotlb_remove(&t, 0, UINT64_MAX), "");
	TEST_CHECK(expect_miss(&t, 0));
	TEST_CHECK(expect_miss(&t, UINT64_MAX));
	iovh_iotlb_reclaim(&t);
	TEST_ASSERT_EQUAL(t.nmaps, 0, "");
	TEST_ASSERT_EQUAL(t.nnodes, 1, "nodes left after removing everything");
	iovh_iotlb_fini(&t);
	return TEST_SUCCESS;
}

/* Removing the middle of a big mapping splits it; both sides still
 * translate, with blocks no bigger than what is left around them. */
static int
test_partial_invalidate(void)
{
	const struct iovh_iotlb_map *before, *after;
	struct iovh_iotlb t;
	uint32_t gen;
	uint64_t bl;

	TEST_ASSERT_SUCCESS(iovh_iotlb_init(&t, 64), "");
	TEST_CHECK(insert(&t, &m1g));
	before = iovh_iotlb_find(&t, 0x40000000, &bl);
	gen = t.gen;
	TEST_ASSERT_SUCCESS(iovh_iotlb_remove(&t, 0x50001000, 0x50002fff), "");
	TEST_ASSERT(t.gen != gen, "a removal must change gen");
	TEST_CHECK(expect_at(&t, 0x40000000, &m1g, 0x401fffff));
	TEST_CHECK(expect_at(&t, 0x4fffffff, &m1g, 0x4fffffff));
	TEST_CHECK(expect_at(&t, 0x50000000, &m1g, 0x50000fff));
	TEST_CHECK(expect_at(&t, 0x50000fff, &m1g, 0x50000fff));
	TEST_CHECK(expect_miss(&t, 0x50001000));
	TEST_CHECK(expect_miss(&t, 0x50002fff));
	TEST_CHECK(expect_at(&t, 0x50003000, &m1g, 0x50003fff));
	TEST_CHECK(expect_at(&t, 0x501fffff, &m1g, 0x501fffff));
	TEST_CHECK(expect_at(&t, 0x50200000, &m1g, 0x503fffff));
	TEST_CHECK(expect_at(&t, 0x7fffffff, &m1g, 0x7fffffff));
	after = iovh_iotlb_find(&t, 0x7fffffff, &bl);
	TEST_ASSERT(before == after, "the mapping itself is not copied");
	TEST_ASSERT_EQUAL(t.nmaps, 1, "");
	TEST_ASSERT(!iovh_iotlb_dirty(&t), "the mapping is still in use");

	/* Bounds inside a page round outward: the whole page goes. */
	TEST_ASSERT_SUCCESS(iovh_iotlb_remove(&t, 0x60000800, 0x60000800), "");
	TEST_CHECK(expect_miss(&t, 0x60000000));
	TEST_CHECK(expect_miss(&t, 0x60000fff));
	TEST_CHECK(expect_at(&t, 0x5ffff000, &m1g, 0x5fffffff));
	TEST_CHECK(expect_at(&t, 0x60001000, &m1g, 0x60001fff));

	/* The rest, in pieces: nodes and mapping all go. */
	TEST_ASSERT_SUCCESS(iovh_iotlb_remove(&t, 0x40000000, 0x50000fff), "");
	TEST_ASSERT_SUCCESS(iovh_iotlb_remove(&t, 0x50003000, 0x7fffffff), "");
	TEST_CHECK(expect_miss(&t, 0x5ffff000));
	TEST_ASSERT_EQUAL(t.nmaps, 0, "");
	TEST_ASSERT(iovh_iotlb_dirty(&t), "");
	iovh_iotlb_reclaim(&t);
	TEST_ASSERT_EQUAL(t.nnodes, 1, "nodes left after removing everything");
	iovh_iotlb_fini(&t);
	return TEST_SUCCESS;
}

static int
test_overlap_replaces(void)
{
	static const struct exp x = { 0x200000000, 0x2003fffff, H(1), G(1), RW };
	static const struct exp y = { 0x200100000, 0x2001fffff, H(2), G(2), RO };
	static const struct exp z = { 0x200200000, 0x2003fffff, H(3), G(3), WO };
	static const struct exp w = { 0x1fffff000, 0x200400fff, H(4), G(4), RW };
	struct iovh_iotlb t;
	uint32_t gen;

	TEST_ASSERT_SUCCESS(iovh_iotlb_init(&t, 64), "");
	TEST_CHECK(insert(&t, &x));
	gen = t.gen;
	TEST_CHECK(insert(&t, &y));
	TEST_ASSERT(t.gen != gen, "a replaced translation must change gen");
	TEST_CHECK(expect_at(&t, 0x200000000, &x, 0x200000fff));
	TEST_CHECK(expect_at(&t, 0x2000fffff, &x, 0x2000fffff));
	TEST_CHECK(expect_at(&t, 0x200100000, &y, 0x200100fff));
	TEST_CHECK(expect_at(&t, 0x2001fffff, &y, 0x2001fffff));
	TEST_CHECK(expect_at(&t, 0x200200000, &x, 0x2003fffff));
	TEST_ASSERT_EQUAL(t.nmaps, 2, "");
	TEST_CHECK(insert(&t, &z));
	TEST_CHECK(expect_at(&t, 0x200200000, &z, 0x2003fffff));
	TEST_CHECK(expect_at(&t, 0x200000000, &x, 0x200000fff));
	TEST_ASSERT_EQUAL(t.nmaps, 3, "x keeps its first half");
	/* Covers all three and a page either side. */
	TEST_CHECK(insert(&t, &w));
	TEST_ASSERT_EQUAL(t.nmaps, 1, "");
	TEST_ASSERT(iovh_iotlb_dirty(&t), "replaced mappings await reclaim");
	TEST_CHECK(expect_at(&t, 0x1fffff000, &w, 0x1ffffffff));
	TEST_CHECK(expect_at(&t, 0x200000000, &w, 0x2001fffff));
	TEST_CHECK(expect_at(&t, 0x200100000, &w, 0x2001fffff));
	TEST_CHECK(expect_at(&t, 0x200200000, &w, 0x2003fffff));
	TEST_CHECK(expect_at(&t, 0x200400fff, &w, 0x200400fff));
	TEST_CHECK(expect_miss(&t, 0x200401000));
	iovh_iotlb_reclaim(&t);
	/* The same mapping again (a second MISS on another page of it was
	 * answered): nothing changes, nothing to reclaim. */
	gen = t.gen;
	TEST_CHECK(insert(&t, &w));
	TEST_ASSERT_EQUAL(t.nmaps, 1, "");
	TEST_ASSERT(!iovh_iotlb_dirty(&t), "an identical UPDATE replaced");
	TEST_ASSERT_EQUAL(t.gen, gen, "an identical UPDATE changed gen");
	TEST_CHECK(expect_at(&t, 0x200100000, &w, 0x2001fffff));
	/* The same range with another permission: one mapping replaces the
	 * other. */
	{
		struct exp w2 = w;

		w2.perm = RO;
		TEST_CHECK(insert(&t, &w2));
		TEST_ASSERT_EQUAL(t.nmaps, 1, "");
		TEST_ASSERT(iovh_iotlb_dirty(&t), "");
		TEST_ASSERT(t.gen != gen, "");
		TEST_CHECK(expect_at(&t, 0x200100000, &w2, 0x2001fffff));
	}
	/* x over part of w2: x again is a real insert, and so is w2. */
	iovh_iotlb_reclaim(&t);
	TEST_CHECK(insert(&t, &x));
	TEST_ASSERT_EQUAL(t.nmaps, 2, "");
	{
		struct exp w2 = w;

		w2.perm = RO;
		TEST_CHECK(insert(&t, &w2));
		TEST_ASSERT_EQUAL(t.nmaps, 1, "");
		TEST_CHECK(expect_at(&t, 0x200100000, &w2, 0x2001fffff));
	}
	/* fini frees what is live and what is dead: valgrind checks. */
	iovh_iotlb_fini(&t);
	return TEST_SUCCESS;
}

static int
test_alignment(void)
{
	static const uint64_t bad[][2] = {
		{ 0x1001, 0x1fff },
		{ 0x1000, 0x1ffe },
		{ 0x1000, 0x1000 },
		{ 0x1800, 0x27ff },
		{ 0x2000, 0x1fff },	/* last before iova */
		{ 0x3000, 0x1fff },
		{ 0xfffffffffffff000, 0xfffffffffffffffe },
	};
	struct iovh_iotlb t;
	unsigned int i;

	TEST_ASSERT_SUCCESS(iovh_iotlb_init(&t, 64), "");
	for (i = 0; i < RTE_DIM(bad); i++) {
		TEST_ASSERT_EQUAL(iovh_iotlb_insert(&t, bad[i][0], bad[i][1],
				H(1), G(1), RW, NULL, 0), -EINVAL,
				"[%#" PRIx64 ", %#" PRIx64 "]", bad[i][0],
				bad[i][1]);
	}
	TEST_ASSERT_EQUAL(t.nmaps, 0, "");
	TEST_ASSERT_EQUAL(t.nnodes, 1, "");
	TEST_CHECK(expect_miss(&t, 0x1000));
	TEST_CHECK(expect_miss(&t, 0x2000));
	iovh_iotlb_fini(&t);
	return TEST_SUCCESS;
}

/* Count the pages of @p n at @p base + i * @p stride that translate. */
static unsigned int
count_live(const struct iovh_iotlb *t, uint64_t base, uint64_t stride,
		unsigned int n)
{
	unsigned int i, live = 0;
	uint64_t bl;

	for (i = 0; i < n; i++)
		if (iovh_iotlb_find(t, base + i * stride, &bl) != NULL)
			live++;
	return live;
}

static int
test_eviction(void)
{
	const uint64_t base = 0x10000, stride = 0x2000;
	uint64_t keep[2] = { base + 0x800, 0xdead0000 };
	struct iovh_iotlb t;
	struct exp e;
	unsigned int i;
	uint64_t bl;

	TEST_ASSERT_SUCCESS(iovh_iotlb_init(&t, 16), "");
	for (i = 0; i < 64; i++) {
		uint64_t iova = base + i * stride;

		TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&t, iova, iova + PG - 1,
				H(1) + iova, G(1) + iova, RW, keep, 2),
				"insert %u", i);
		TEST_ASSERT(t.nmaps <= 16, "%u live after %u", t.nmaps, i);
		TEST_ASSERT(count_live(&t, base, stride, 64) <= 16, "");
		/* The newest is never the victim. */
		TEST_ASSERT_NOT_NULL(iovh_iotlb_find(&t, iova, &bl), "");
		TEST_ASSERT_NOT_NULL(iovh_iotlb_find(&t, keep[0], &bl),
				"the mapping of a kept address was evicted");
		if (iovh_iotlb_dirty(&t))
			iovh_iotlb_reclaim(&t);
	}
	TEST_ASSERT_EQUAL(t.nmaps, 16, "");
	TEST_ASSERT_EQUAL(count_live(&t, base, stride, 64), 16, "");
	TEST_ASSERT_EQUAL(t.evictions, 48, "");
	iovh_iotlb_fini(&t);

	/* Nothing can go: the insert fails and changes nothing. */
	TEST_ASSERT_SUCCESS(iovh_iotlb_init(&t, 2), "");
	keep[0] = 0x1000;
	keep[1] = 0x3000;
	e = (struct exp){ 0x1000, 0x1fff, H(1), G(1), RW };
	TEST_CHECK(insert(&t, &e));
	e = (struct exp){ 0x3000, 0x3fff, H(2), G(2), RW };
	TEST_CHECK(insert(&t, &e));
	TEST_ASSERT_EQUAL(iovh_iotlb_insert(&t, 0x5000, 0x5fff, H(3), G(3), RW,
			keep, 2), -ENOSPC, "");
	TEST_CHECK(expect_at(&t, 0x3000, &e, 0x3fff));
	TEST_CHECK(expect_miss(&t, 0x5000));
	TEST_ASSERT_EQUAL(t.nmaps, 2, "");
	iovh_iotlb_fini(&t);
	return TEST_SUCCESS;
}

static int
test_flush(void)
{
	struct iovh_iotlb t;
	uint32_t gen;

	TEST_ASSERT_SUCCESS(iovh_iotlb_init(&t, 64), "");
	TEST_CHECK(insert(&t, &m4k));
	TEST_CHECK(insert(&t, &modd));
	TEST_CHECK(insert(&t, &m512));
	TEST_ASSERT(t.nnodes > 1, "");
	gen = t.gen;
	iovh_iotlb_flush(&t);
	TEST_ASSERT(t.gen != gen, "a flush must change gen");
	TEST_CHECK(expect_miss(&t, 0x5000));
	TEST_CHECK(expect_miss(&t, 0x80200000));
	TEST_CHECK(expect_miss(&t, 0x8000000000));
	TEST_ASSERT_EQUAL(t.nmaps, 0, "");
	TEST_ASSERT(iovh_iotlb_dirty(&t), "");
	iovh_iotlb_reclaim(&t);
	TEST_ASSERT(!iovh_iotlb_dirty(&t), "");
	TEST_ASSERT_EQUAL(t.nnodes, 1, "");
	/* Still usable afterwards. */
	TEST_CHECK(insert(&t, &m2m));
	TEST_CHECK(expect_at(&t, 0x200000, &m2m, 0x3fffff));
	/* Flush of an empty table, and of a table never filled. */
	iovh_iotlb_flush(&t);
	iovh_iotlb_flush(&t);
	iovh_iotlb_fini(&t);
	return TEST_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Translation through a virtqueue                                     */

static struct iovh_dev *
fake_dev(uint32_t max_maps, unsigned int nreaders)
{
	struct iovh_dev *dev = iovh_zalloc(sizeof(*dev));
	size_t sz = rte_rcu_qsbr_get_memsize(nreaders);
	unsigned int i;

	if (dev == NULL)
		return NULL;
	dev->miss_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	dev->qsbr = iovh_zalloc(sz);
	if (dev->miss_efd < 0 || dev->qsbr == NULL ||
			rte_rcu_qsbr_init(dev->qsbr, nreaders) != 0 ||
			iovh_iotlb_init(&dev->iotlb, max_maps) != 0) {
		if (dev->miss_efd >= 0)
			close(dev->miss_efd);
		free(dev->qsbr);
		free(dev);
		return NULL;
	}
	for (i = 0; i < nreaders; i++)
		rte_rcu_qsbr_thread_register(dev->qsbr, i);
	return dev;
}

static void
fake_dev_free(struct iovh_dev *dev)
{
	if (dev == NULL)
		return;
	iovh_iotlb_fini(&dev->iotlb);
	close(dev->miss_efd);
	free(dev->qsbr);
	free(dev);
}

static struct iovh_vq *
fake_vq(struct iovh_dev *dev, uint16_t index)
{
	struct iovh_vq *vq = iovh_zalloc(sizeof(*vq));

	if (vq == NULL)
		return NULL;
	vq->dev = dev;
	vq->index = index;
	vq->iommu = 1;
	vq->kickfd = -1;
	vq->callfd = -1;
	vq->errfd = -1;
	/* An empty cache, as iovh_vq_iotlb_sync() leaves it. */
	vq->c_iova = 1;
	vq->c_last = 0;
	return vq;
}

/* Events on the miss eventfd since the last call. */
static uint64_t
efd_take(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/*
 * A mapping without the permission an access needs never translates for
 * it. It counts as denied and, like a miss, is reported with the
 * permission needed (the front-end may widen it, as the spec's MISS
 * allows); a front-end that never answers gets the chain back as bad
 * after IOVH_MISS_STALL_MS.
 */
static int
test_translate_perm(void)
{
	struct iovh_dev *dev = fake_dev(64, 1);
	struct iovh_vq *vq;
	uint64_t len, gpa, hva;

	TEST_ASSERT_NOT_NULL(dev, "");
	vq = fake_vq(dev, 0);
	TEST_ASSERT_NOT_NULL(vq, "");
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&dev->iotlb, 0x10000, 0x10fff,
			H(1), G(1), RO, NULL, 0), "");
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&dev->iotlb, 0x11000, 0x11fff,
			H(2), G(2), WO, NULL, 0), "");
	iovh_vq_iotlb_sync(dev, vq);

	/* Writing to a read-only page. */
	len = 16;
	hva = iovh_vq_translate(dev, vq, 0x10010, &len, WO, &gpa);
	TEST_ASSERT_EQUAL(hva, 0, "WO access through an RO mapping");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_denied, 1, "");
	TEST_ASSERT_EQUAL(vq->xlate_miss, 1, "asked for, as a miss");
	TEST_ASSERT_EQUAL(vq->miss_head, 1, "");
	TEST_ASSERT_EQUAL(vq->miss[0].iova, 0x10010, "");
	TEST_ASSERT_EQUAL(vq->miss[0].perm, WO, "the permission needed");
	TEST_ASSERT_EQUAL(efd_take(dev->miss_efd), 1, "");
	/* Reading it is fine, and fills the cache... */
	len = 16;
	hva = iovh_vq_translate(dev, vq, 0x10010, &len, RO, &gpa);
	TEST_ASSERT_EQUAL(hva, H(1) + 0x10, "");
	TEST_ASSERT_EQUAL(gpa, G(1) + 0x10, "");
	TEST_ASSERT_EQUAL(len, 16, "");
	TEST_ASSERT_EQUAL(vq->xlate_miss, 0, "");
	/* ...which must not serve a write either. */
	len = 16;
	hva = iovh_vq_translate(dev, vq, 0x10020, &len, WO, &gpa);
	TEST_ASSERT_EQUAL(hva, 0, "WO access served by the RO cache");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_denied, 2, "");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_hits, 0, "");
	len = 16;
	TEST_ASSERT_EQUAL(iovh_vq_translate(dev, vq, 0x10020, &len, RW, &gpa),
			0, "RW access through an RO mapping");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_denied, 3, "");
	/* Nobody answered for long enough: now it is a bad buffer. */
	TEST_ASSERT(vq->miss_since != 0, "");
	vq->miss_since = rte_get_tsc_cycles() -
		rte_get_tsc_hz() / 1000 * (2 * IOVH_MISS_STALL_MS);
	len = 16;
	TEST_ASSERT_EQUAL(iovh_vq_translate(dev, vq, 0x10020, &len, WO, &gpa),
			0, "");
	TEST_ASSERT_EQUAL(vq->xlate_miss, 0, "a stalled miss is a bad chain");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_denied, 4, "");
	/* And the other way round. */
	len = 16;
	TEST_ASSERT_EQUAL(iovh_vq_translate(dev, vq, 0x11000, &len, RO, &gpa),
			0, "RO access through a WO mapping");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_denied, 5, "");
	len = 16;
	TEST_ASSERT_EQUAL(iovh_vq_translate(dev, vq, 0x11000, &len, WO, &gpa),
			H(2), "");
	/* Widened by the front-end: the write goes through. */
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&dev->iotlb, 0x10000, 0x10fff,
			H(1), G(1), RW, NULL, 0), "");
	iovh_vq_iotlb_sync(dev, vq);
	len = 16;
	TEST_ASSERT_EQUAL(iovh_vq_translate(dev, vq, 0x10010, &len, WO, &gpa),
			H(1) + 0x10, "");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_denied, 5, "");
	free(vq);
	fake_dev_free(dev);
	return TEST_SUCCESS;
}

static int
test_translate_miss(void)
{
	struct iovh_dev *dev = fake_dev(64, 1);
	uint64_t len, gpa, t0, t1;
	struct iovh_vq *vq;
	unsigned int i;

	TEST_ASSERT_NOT_NULL(dev, "");
	vq = fake_vq(dev, 0);
	TEST_ASSERT_NOT_NULL(vq, "");
	dev->iotlb_seq = 41;
	iovh_vq_iotlb_sync(dev, vq);

	t0 = rte_get_tsc_cycles();
	len = 100;
	TEST_ASSERT_EQUAL(iovh_vq_translate(dev, vq, 0x20010, &len, WO, &gpa),
			0, "");
	TEST_ASSERT_EQUAL(vq->xlate_miss, 1, "");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_misses, 1, "");
	TEST_ASSERT_EQUAL(vq->miss_head, 1, "");
	TEST_ASSERT_EQUAL(vq->miss[0].iova, 0x20010, "");
	TEST_ASSERT_EQUAL(vq->miss[0].perm, WO, "");
	TEST_ASSERT_EQUAL(vq->miss[0].seq, 41, "");
	TEST_ASSERT_EQUAL(efd_take(dev->miss_efd), 1, "control thread woken");
	/* The same page right away: counted, not reported again. */
	len = 100;
	TEST_ASSERT_EQUAL(iovh_vq_translate(dev, vq, 0x20ff0, &len, WO, &gpa),
			0, "");
	t1 = rte_get_tsc_cycles();
	TEST_ASSERT_EQUAL(vq->xlate_miss, 1, "");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_misses, 2, "");
	/* 200 us is what the library allows; under valgrind the two calls
	 * may take longer than that, and then a second report is fine. */
	if (t1 - t0 < rte_get_tsc_hz() / 10000)
		TEST_ASSERT_EQUAL(vq->miss_head, 1, "same page reported twice");
	TEST_ASSERT_EQUAL(efd_take(dev->miss_efd), 0, "woken twice");
	/* Another page is reported; the ring is not empty, so no wake-up. */
	len = 1;
	iovh_vq_translate(dev, vq, 0x30000, &len, RO, &gpa);
	TEST_ASSERT_EQUAL(vq->miss[(vq->miss_head - 1) % IOVH_MISS_RING].iova,
			0x30000, "");
	TEST_ASSERT_EQUAL(efd_take(dev->miss_efd), 0, "");
	/* The control thread drained the ring: the next miss wakes it. */
	__atomic_store_n(&vq->miss_tail, vq->miss_head, __ATOMIC_RELEASE);
	len = 1;
	iovh_vq_translate(dev, vq, 0x40000, &len, RO, &gpa);
	TEST_ASSERT_EQUAL(efd_take(dev->miss_efd), 1, "");
	/* A full ring drops the excess, never overwrites. */
	for (i = 0; i < 2 * IOVH_MISS_RING; i++) {
		len = 1;
		iovh_vq_translate(dev, vq, 0x100000 + i * PG, &len, RO, &gpa);
	}
	TEST_ASSERT_EQUAL(vq->miss_head - vq->miss_tail, IOVH_MISS_RING, "");
	TEST_ASSERT_EQUAL(vq->miss[vq->miss_tail % IOVH_MISS_RING].iova,
			0x40000, "the oldest entry was overwritten");
	TEST_ASSERT_EQUAL(efd_take(dev->miss_efd), 0, "");

	/* The answer arrives: same address, a hit. */
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&dev->iotlb, 0x20000, 0x20fff,
			H(1), G(1), RW, NULL, 0), "");
	len = 100;
	TEST_ASSERT_EQUAL(iovh_vq_translate(dev, vq, 0x20010, &len, WO, &gpa),
			H(1) + 0x10, "");
	TEST_ASSERT_EQUAL(vq->xlate_miss, 0, "");
	free(vq);
	fake_dev_free(dev);
	return TEST_SUCCESS;
}

static int
test_translate_cache(void)
{
	struct iovh_dev *dev = fake_dev(64, 1);
	uint64_t len, gpa, hva, hits, lookups;
	struct iovh_vq *vq;

	TEST_ASSERT_NOT_NULL(dev, "");
	vq = fake_vq(dev, 0);
	TEST_ASSERT_NOT_NULL(vq, "");
	/* A 2 MiB block, followed by a page contiguous in every way. */
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&dev->iotlb, 0x200000, 0x3fffff,
			H(1), G(1), RW, NULL, 0), "");
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&dev->iotlb, 0x400000, 0x400fff,
			H(1) + 0x200000, G(1) + 0x200000, RW, NULL, 0), "");
	iovh_vq_iotlb_sync(dev, vq);

	len = 0x100;
	hva = iovh_vq_translate(dev, vq, 0x200100, &len, RO, &gpa);
	TEST_ASSERT_EQUAL(hva, H(1) + 0x100, "");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_lookups, 1, "");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_hits, 0, "");
	/* Elsewhere in the same block: from the cache. */
	len = 0x1000;
	hva = iovh_vq_translate(dev, vq, 0x300000, &len, WO, &gpa);
	TEST_ASSERT_EQUAL(hva, H(1) + 0x100000, "");
	TEST_ASSERT_EQUAL(gpa, G(1) + 0x100000, "");
	TEST_ASSERT_EQUAL(len, 0x1000, "");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_hits, 1, "");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_lookups, 1, "");
	/* Across the end of the block: trimmed there, though the next
	 * mapping continues in host memory. */
	len = 0x200;
	hva = iovh_vq_translate(dev, vq, 0x3fff00, &len, RO, &gpa);
	TEST_ASSERT_EQUAL(hva, H(1) + 0x1fff00, "");
	TEST_ASSERT_EQUAL(len, 0x100, "cache hit crossed the block end");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_hits, 2, "");
	/* The rest is a lookup of its own. */
	len = 0x100;
	hva = iovh_vq_translate(dev, vq, 0x400000, &len, RO, &gpa);
	TEST_ASSERT_EQUAL(hva, H(1) + 0x200000, "");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_lookups, 2, "");
	/* The same crossing on the slow path (cache now holds the page). */
	len = 0x200;
	hva = iovh_vq_translate(dev, vq, 0x3fff00, &len, RO, &gpa);
	TEST_ASSERT_EQUAL(hva, H(1) + 0x1fff00, "");
	TEST_ASSERT_EQUAL(len, 0x100, "lookup crossed the block end");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_lookups, 3, "");
	/* The cache starts at the page looked up: a hit there, with a
	 * length that runs to the very end of the block. */
	len = UINT64_MAX;
	hva = iovh_vq_translate(dev, vq, 0x3ff800, &len, RO, &gpa);
	TEST_ASSERT_EQUAL(hva, H(1) + 0x1ff800, "");
	TEST_ASSERT_EQUAL(len, 0x800, "");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_hits, 3, "");

	/* A removal elsewhere in the block: the next burst drops the cache. */
	hits = vq->stats.iotlb_hits;
	lookups = vq->stats.iotlb_lookups;
	TEST_ASSERT_SUCCESS(iovh_iotlb_remove(&dev->iotlb, 0x380000, 0x380fff),
			"");
	iovh_vq_iotlb_sync(dev, vq);
	len = 1;
	TEST_ASSERT_EQUAL(iovh_vq_translate(dev, vq, 0x380000, &len, RO, &gpa),
			0, "removed page translated from the cache");
	TEST_ASSERT_EQUAL(vq->xlate_miss, 1, "");
	len = 1;
	hva = iovh_vq_translate(dev, vq, 0x300000, &len, RO, &gpa);
	TEST_ASSERT_EQUAL(hva, H(1) + 0x100000, "");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_hits, hits, "");
	TEST_ASSERT_EQUAL(vq->stats.iotlb_lookups, lookups + 2, "");
	/* The block is now 4 KiB: a hit stays inside that page. */
	len = 0x2000;
	hva = iovh_vq_translate(dev, vq, 0x300800, &len, RO, &gpa);
	TEST_ASSERT_EQUAL(vq->stats.iotlb_hits, hits + 1, "");
	TEST_ASSERT_EQUAL(len, 0x800, "");
	iovh_dev_quiesce(dev);
	iovh_iotlb_reclaim(&dev->iotlb);

	/* A replacing insert drops it too, and the new mapping shows. */
	TEST_ASSERT_SUCCESS(iovh_iotlb_insert(&dev->iotlb, 0x300000, 0x300fff,
			H(2), G(2), RW, NULL, 0), "");
	iovh_vq_iotlb_sync(dev, vq);
	len = 1;
	hva = iovh_vq_translate(dev, vq, 0x300800, &len, RO, &gpa);
	TEST_ASSERT_EQUAL(hva, H(2) + 0x800, "old translation from the cache");
	TEST_ASSERT_EQUAL(gpa, G(2) + 0x800, "");
	/* And a flush. */
	iovh_iotlb_flush(&dev->iotlb);
	iovh_vq_iotlb_sync(dev, vq);
	len = 1;
	TEST_ASSERT_EQUAL(iovh_vq_translate(dev, vq, 0x300800, &len, RO, &gpa),
			0, "flushed page translated from the cache");
	free(vq);
	fake_dev_free(dev);
	return TEST_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Concurrent readers against the writer                               */

/*
 * IOVA page p of the window maps to page p of one of two host arenas
 * ("banks"), each page of which starts with a header naming its page and
 * bank. Guest-physical addresses follow the same rule. So any translation
 * a reader gets can be checked on its own: right bank arithmetic, right
 * header, right gpa.
 *
 * Whether it may still be used is checked against the writer's record:
 * per (page, bank) one word, (op << 1) | live, stored before the table
 * changes in that op, and S.done, the last op whose table changes are all
 * in place (store-release after them). A reader reads S.done once it is
 * online; a translation to (page, bank) it finds after that must not be
 * one the writer had removed by then: word not live with op <= done.
 *
 * The window straddles a 512 GiB boundary, so both sides have their own
 * path from the root down.
 */
#define ST_PAGES 2048u
#define ST_IOVA ((1ULL << 39) - ST_PAGES / 2 * PG)
#define ST_GPA(k) (((uint64_t)(k) + 1) << 44)
#define ST_MAGIC 0x10714b5eed5ULL
#define ST_MAX_MAPS 20	/* low enough to evict now and then */
#define ST_READERS 2
#define ST_HOLD 16

struct st_hdr {
	uint64_t magic;
	uint64_t page;
	uint64_t bank;
};

struct st_reader {
	unsigned int id;
	pthread_t thread;
	struct iovh_vq *vq;
	uint64_t rng;
	uint64_t bursts, finds, found, xlates, xlated;
	char err[320];
};

static struct {
	struct iovh_dev *dev;
	uint8_t *bank[2];
	uint64_t state[ST_PAGES][2];
	uint64_t done;
	int stop;
	int failed;
	/* writer only */
	int8_t model[ST_PAGES];
	uint64_t op;
	uint32_t max_maps_seen;
} S;

static bool
st_fail(struct st_reader *r, const char *fmt, ...)
	__rte_format_printf(2, 3);

static bool
st_fail(struct st_reader *r, const char *fmt, ...)
{
	va_list ap;

	if (r->err[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(r->err, sizeof(r->err), fmt, ap);
		va_end(ap);
	}
	__atomic_store_n(&S.failed, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&S.stop, 1, __ATOMIC_RELAXED);
	return false;
}

static int
st_bank_of(uint64_t hva)
{
	int k;

	for (k = 0; k < 2; k++)
		if (hva >= (uintptr_t)S.bank[k] &&
				hva - (uintptr_t)S.bank[k] < ST_PAGES * PG)
			return k;
	return -1;
}

/* Page @p p of bank @p k may be translated by a reader that saw @p done. */
static bool
st_check_state(struct st_reader *r, uint64_t p, int k, uint64_t done)
{
	uint64_t w = __atomic_load_n(&S.state[p][k], __ATOMIC_RELAXED);

	if ((w & 1) || (w >> 1) > done)
		return true;
	return st_fail(r, "page %" PRIu64 " bank %d: translated, but %s at op "
		"%" PRIu64 ", before the reader's op %" PRIu64, p, k,
		w == 0 ? "never mapped" : "removed", w >> 1, done);
}

/*
 * [iova, iova + len) translated to hva/gpa: check it against the
 * encoding, the headers of its first and last pages, and the record.
 */
static bool
st_check_xlate(struct st_reader *r, uint64_t iova, uint64_t hva,
		uint64_t len, uint64_t gpa, uint64_t done)
{
	uint64_t off = iova - ST_IOVA, p, lp;
	const struct st_hdr *h;
	int k = st_bank_of(hva);

	if (k < 0 || len == 0)
		return st_fail(r, "iova %#" PRIx64 " -> hva %#" PRIx64 " len %"
			PRIu64 ": not in an arena", iova, hva, len);
	if (hva - (uintptr_t)S.bank[k] != off || gpa != ST_GPA(k) + off)
		return st_fail(r, "iova %#" PRIx64 " -> hva %#" PRIx64 " gpa %#"
			PRIx64 ": wrong offset (bank %d)", iova, hva, gpa, k);
	if (off + len > ST_PAGES * PG)
		return st_fail(r, "iova %#" PRIx64 " len %#" PRIx64 ": runs "
			"past the window", iova, len);
	p = off / PG;
	lp = (off + len - 1) / PG;
	h = (const struct st_hdr *)(S.bank[k] + p * PG);
	if (h->magic != ST_MAGIC || h->page != p || h->bank != (uint64_t)k)
		return st_fail(r, "page %" PRIu64 ": bad header", p);
	h = (const struct st_hdr *)(S.bank[k] + lp * PG);
	if (h->magic != ST_MAGIC || h->page != lp || h->bank != (uint64_t)k)
		return st_fail(r, "page %" PRIu64 ": bad header", lp);
	return st_check_state(r, p, k, done) && st_check_state(r, lp, k, done);
}

/* What a reader copied out of a mapping: it must not change while held. */
struct st_held {
	const struct iovh_iotlb_map *m;
	uint64_t iova, last, hva, gpa;
	uint8_t perm;
};

static void
st_snap(struct st_held *s, const struct iovh_iotlb_map *m)
{
	s->m = m;
	s->iova = m->iova;
	s->last = m->last;
	s->hva = m->hva;
	s->gpa = m->gpa;
	s->perm = m->perm;
}

static bool
st_same(const struct st_held *s)
{
	const struct iovh_iotlb_map *m = s->m;

	return m->iova == s->iova && m->last == s->last && m->hva == s->hva &&
		m->gpa == s->gpa && m->perm == s->perm;
}

/* A raw table walk, checked field by field. */
static bool
st_find(struct st_reader *r, uint64_t iova, uint64_t done,
		struct st_held *held)
{
	const struct iovh_iotlb_map *m;
	struct st_held s;
	uint64_t bl = 0;
	int k;

	r->finds++;
	m = iovh_iotlb_find(&S.dev->iotlb, iova, &bl);
	if (m == NULL)
		return true;
	r->found++;
	st_snap(&s, m);
	k = st_bank_of(s.hva);
	if (s.iova > iova || iova > bl || bl > s.last ||
			(s.iova & (PG - 1)) != 0 ||
			(s.last & (PG - 1)) != PG - 1 || s.perm != RW ||
			s.iova < ST_IOVA || k < 0 ||
			s.hva - (uintptr_t)S.bank[k] != s.iova - ST_IOVA ||
			s.gpa != ST_GPA(k) + (s.iova - ST_IOVA))
		return st_fail(r, "iova %#" PRIx64 ": torn or freed mapping "
			"[%#" PRIx64 ", %#" PRIx64 "] hva %#" PRIx64 " gpa %#"
			PRIx64 " perm %u, blk_last %#" PRIx64, iova, s.iova,
			s.last, s.hva, s.gpa, s.perm, bl);
	if (held != NULL)
		*held = s;
	return st_check_xlate(r, iova, s.hva + (iova - s.iova), bl - iova + 1,
			s.gpa + (iova - s.iova), done);
}

/* What the data path does: iovh_vq_translate, cache first. */
static bool
st_translate(struct st_reader *r, uint64_t iova, uint64_t len, uint8_t perm,
		uint64_t done)
{
	uint64_t want = len, gpa = 0, hva;

	r->xlates++;
	hva = iovh_vq_translate(S.dev, r->vq, iova, &len, perm, &gpa);
	if (hva == 0) {
		/* A miss, or the stall path; never a refusal. */
		if (r->vq->stats.iotlb_denied != 0)
			return st_fail(r, "iova %#" PRIx64 " refused (every "
				"mapping is RW)", iova);
		return true;
	}
	r->xlated++;
	/* The stall path: a data path would reset this on progress. */
	r->vq->miss_since = 0;
	if (len == 0 || len > want)
		return st_fail(r, "iova %#" PRIx64 ": len %" PRIu64 " for %"
			PRIu64, iova, len, want);
	return st_check_xlate(r, iova, hva, len, gpa, done);
}

static void *
st_reader_main(void *arg)
{
	struct st_reader *r = arg;
	struct rte_rcu_qsbr *q = S.dev->qsbr;
	struct st_held held[ST_HOLD];
	unsigned int n, i, nheld;
	uint64_t done, x, iova;

	while (!__atomic_load_n(&S.stop, __ATOMIC_RELAXED)) {
		rte_rcu_qsbr_thread_online(q, r->id);
		/* After online, before the cache check: a removal this op
		 * count includes has bumped gen already. */
		done = __atomic_load_n(&S.done, __ATOMIC_ACQUIRE);
		iovh_vq_iotlb_sync(S.dev, r->vq);
		__atomic_store_n(&r->bursts, r->bursts + 1, __ATOMIC_RELAXED);
		nheld = 0;
		n = 1 + rnd(&r->rng) % 32;
		iova = ST_IOVA;
		for (i = 0; i < n; i++) {
			x = rnd(&r->rng);
			/* Like a chain: often close to the last address, so
			 * the vq cache gets hits too. */
			if ((x >> 52) % 4 == 0 || i == 0)
				iova = ST_IOVA + (x >> 20) % ST_PAGES * PG +
					x % PG;
			else
				iova = ST_IOVA + (iova - ST_IOVA + x % (2 * PG)) %
					(ST_PAGES * PG);
			if ((x >> 40) & 1) {
				struct st_held *h = nheld < ST_HOLD ?
					&held[nheld] : NULL;

				if (h != NULL)
					h->m = NULL;
				if (!st_find(r, iova, done, h))
					goto out;
				if (h != NULL && h->m != NULL)
					nheld++;
			} else if (!st_translate(r, iova, 1 + (x >> 44) % 8192,
					(x >> 41) & 1 ? RO : WO, done)) {
				goto out;
			}
		}
		/* Now and then a long section: the writer must wait. */
		if ((rnd(&r->rng) & 63) == 0)
			rte_delay_us_block(50);
		/* Whatever was found is still there, unchanged. */
		for (i = 0; i < nheld; i++)
			if (!st_same(&held[i])) {
				st_fail(r, "mapping %p [%#" PRIx64 ", %#" PRIx64
					"] changed under a reader (freed?)",
					(const void *)held[i].m, held[i].iova,
					held[i].last);
				goto out;
			}
		rte_rcu_qsbr_thread_offline(q, r->id);
	}
	return NULL;
out:
	rte_rcu_qsbr_thread_offline(q, r->id);
	return NULL;
}

/* Record op S.op for pages [p0, p1] going to bank k (or away, k < 0). */
static void
st_record(uint32_t p0, uint32_t p1, int k)
{
	uint32_t p;
	int old;

	for (p = p0; p <= p1; p++) {
		old = S.model[p];
		if (old >= 0 && old != k)
			__atomic_store_n(&S.state[p][old], S.op << 1,
					__ATOMIC_RELAXED);
		if (k >= 0)
			__atomic_store_n(&S.state[p][k], (S.op << 1) | 1,
					__ATOMIC_RELAXED);
		S.model[p] = k;
	}
}

/* Pages an eviction took: gone from the model too (record after the
 * fact is fine: readers that saw this op see the mark). */
static void
st_sync_evictions(void)
{
	uint64_t bl;
	uint32_t p;

	for (p = 0; p < ST_PAGES; p++)
		if (S.model[p] >= 0 && iovh_iotlb_find(&S.dev->iotlb,
				ST_IOVA + p * PG, &bl) == NULL)
			st_record(p, p, -1);
}

/* The writer's own view must match the table exactly. */
static int
st_verify(void)
{
	const struct iovh_iotlb_map *m;
	uint64_t bl, iova, run_end = 0;
	uint32_t p, q;
	int k;

	for (p = 0; p < ST_PAGES; p++) {
		iova = ST_IOVA + p * PG;
		m = iovh_iotlb_find(&S.dev->iotlb, iova, &bl);
		k = S.model[p];
		if (k < 0) {
			TEST_ASSERT(m == NULL, "page %u translates after removal",
				p);
			continue;
		}
		TEST_ASSERT_NOT_NULL(m, "page %u (bank %d) lost", p, k);
		TEST_ASSERT_EQUAL(m->hva + (iova - m->iova),
			(uintptr_t)S.bank[k] + p * PG, "page %u", p);
		TEST_ASSERT_EQUAL(m->gpa + (iova - m->iova),
			ST_GPA(k) + p * PG, "page %u", p);
		/* The block found stays inside what maps to this bank. */
		for (q = p; q + 1 < ST_PAGES && S.model[q + 1] == k; q++)
			;
		run_end = ST_IOVA + (uint64_t)(q + 1) * PG - 1;
		TEST_ASSERT(bl >= iova + PG - 1 && bl <= run_end,
			"page %u: blk_last %#" PRIx64 ", run ends %#" PRIx64,
			p, bl, run_end);
	}
	/* The page of the kept address is never evicted. */
	if (S.model[0] >= 0)
		TEST_ASSERT_NOT_NULL(iovh_iotlb_find(&S.dev->iotlb, ST_IOVA,
			&bl), "");
	return TEST_SUCCESS;
}

/* A random page range: mostly short, sometimes a 2 MiB block or more. */
static void
st_range(uint64_t *rng, uint32_t *p0, uint32_t *p1)
{
	uint64_t x = rnd(rng);
	uint32_t len;

	switch (x % 8) {
	case 0:
		/* An aligned 2 MiB block (the window starts on one). */
		*p0 = (x >> 8) % (ST_PAGES / 512) * 512;
		*p1 = *p0 + 511;
		return;
	case 1:
		len = 1 + (x >> 8) % 700;	/* crosses a block boundary */
		break;
	case 2:
	case 3:
		len = 1 + (x >> 8) % 64;
		break;
	default:
		len = 1 + (x >> 8) % 8;
		break;
	}
	*p0 = (x >> 24) % ST_PAGES;
	*p1 = RTE_MIN(*p0 + len - 1, ST_PAGES - 1);
}

/* Whether the readers did enough for the run to mean something. */
static bool
st_enough(const struct st_reader *rd, unsigned int nr, uint64_t nreclaims)
{
	/* valgrind runs one thread at a time, slowly. */
	uint64_t min = RUNNING_ON_VALGRIND ? 50 : 500;
	unsigned int i;

	if (S.op < min || nreclaims < min / 10)
		return false;
	for (i = 0; i < nr; i++)
		if (__atomic_load_n(&rd[i].bursts, __ATOMIC_RELAXED) < min)
			return false;
	return true;
}

/*
 * Until @p end_ns, and past it (up to @p limit_ns) while too little has
 * happened: on a loaded machine or under valgrind the readers may get
 * few time slices, and each reclaim waits for them.
 */
static int
st_writer(uint64_t end_ns, uint64_t limit_ns, const struct st_reader *rd,
		unsigned int nr, uint64_t *rng, uint64_t *nreclaims)
{
	const uint64_t keep = ST_IOVA + 0x10;
	struct iovh_iotlb *t = &S.dev->iotlb;
	uint64_t x, evictions, lo, hi, now;
	uint32_t p0, p1;
	int k, rc;

	while (!__atomic_load_n(&S.stop, __ATOMIC_RELAXED)) {
		if ((S.op & 15) == 0) {
			now = now_ns();
			if (now >= limit_ns || (now >= end_ns &&
					st_enough(rd, nr, *nreclaims)))
				break;
		}
		S.op++;
		x = rnd(rng);
		st_range(rng, &p0, &p1);
		evictions = t->evictions;
		if (x % 1000 == 0) {
			st_record(0, ST_PAGES - 1, -1);
			iovh_iotlb_flush(t);
		} else if (x % 100 < 50) {
			k = (x >> 32) & 1;
			/* Recorded first: the mapping is live once a
			 * reader can find it. */
			st_record(p0, p1, k);
			rc = iovh_iotlb_insert(t, ST_IOVA + p0 * PG,
				ST_IOVA + (uint64_t)(p1 + 1) * PG - 1,
				(uintptr_t)S.bank[k] + p0 * PG,
				ST_GPA(k) + p0 * PG, RW, &keep, 1);
			TEST_ASSERT_SUCCESS(rc, "insert pages %u-%u", p0, p1);
		} else {
			st_record(p0, p1, -1);
			/* Bounds anywhere inside the end pages: rounded
			 * outward to exactly [p0, p1]. */
			lo = ST_IOVA + p0 * PG + (x >> 8) % PG;
			hi = ST_IOVA + p1 * PG + (x >> 20) % PG;
			TEST_ASSERT_SUCCESS(iovh_iotlb_remove(t, lo, hi), "");
		}
		if (t->evictions != evictions)
			st_sync_evictions();
		S.max_maps_seen = RTE_MAX(S.max_maps_seen, t->nmaps);
		__atomic_store_n(&S.done, S.op, __ATOMIC_RELEASE);
		/* Freeing late is always allowed: let the dead list grow
		 * over a few operations now and then (and spare the wait
		 * for readers a loaded machine keeps off the CPU). */
		if (iovh_iotlb_dirty(t) && ((x >> 40) % 4 == 0 ||
				t->ndead > 256)) {
			iovh_dev_quiesce(S.dev);
			iovh_iotlb_reclaim(t);
			(*nreclaims)++;
		}
		if ((S.op & 127) == 0)
			TEST_CHECK(st_verify());
	}
	return TEST_SUCCESS;
}

static uint64_t
env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? strtoull(v, NULL, 0) : def;
}

static int
test_stress(void)
{
	struct st_reader rd[ST_READERS];
	unsigned int nr, i, k, p;
	uint64_t ms, seed, rng, nreclaims = 0, t0, evictions;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int rc;

	/* One reader per spare CPU (at least one, at most two): more would
	 * only wait for each other's time slices. */
	nr = env_u64("IOVH_TEST_READERS", ncpu > ST_READERS ? ST_READERS : 1);
	nr = RTE_MAX(1u, RTE_MIN(nr, (unsigned int)ST_READERS));
	ms = env_u64("IOVH_TEST_STRESS_MS", RUNNING_ON_VALGRIND ? 1500 : 2500);
	seed = env_u64("IOVH_TEST_SEED", now_ns());
	printf("    stress: %u reader(s), %" PRIu64 " ms, IOVH_TEST_SEED=%"
		PRIu64 "\n", nr, ms, seed);
	memset(&S, 0, sizeof(S));
	memset(S.model, -1, sizeof(S.model));
	S.dev = fake_dev(ST_MAX_MAPS, nr);
	TEST_ASSERT_NOT_NULL(S.dev, "");
	for (k = 0; k < 2; k++) {
		S.bank[k] = aligned_alloc(PG, ST_PAGES * PG);
		TEST_ASSERT_NOT_NULL(S.bank[k], "");
		for (p = 0; p < ST_PAGES; p++) {
			struct st_hdr *h = (struct st_hdr *)(S.bank[k] + p * PG);

			h->magic = ST_MAGIC;
			h->page = p;
			h->bank = k;
		}
	}
#ifdef M_PERTURB
	/* Freed memory filled with a pattern (where glibc does it), so a
	 * reader holding a freed mapping sees it change even without
	 * valgrind or ASan. */
	mallopt(M_PERTURB, 0xa5);
#endif
	rng = seed | 1;
	memset(rd, 0, sizeof(rd));
	for (i = 0; i < nr; i++) {
		rd[i].id = i;
		rd[i].rng = (seed + i + 1) * 0x9e3779b97f4a7c15ULL | 1;
		rd[i].vq = fake_vq(S.dev, i);
		TEST_ASSERT_NOT_NULL(rd[i].vq, "");
	}
	t0 = now_ns();
	for (i = 0, rc = 0; i < nr && rc == 0; i++)
		rc = pthread_create(&rd[i].thread, NULL, st_reader_main, &rd[i]);
	if (rc == 0)
		rc = st_writer(t0 + ms * 1000000, t0 + 10 * ms * 1000000, rd,
			nr, &rng, &nreclaims);
	else
		nr = i - 1;
	__atomic_store_n(&S.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < nr; i++)
		pthread_join(rd[i].thread, NULL);
#ifdef M_PERTURB
	mallopt(M_PERTURB, 0);
#endif
	evictions = S.dev->iotlb.evictions;
	printf("    stress: %" PRIu64 " ops, %" PRIu64 " reclaims, %" PRIu64
		" evictions (up to %u mappings) in %" PRIu64 " ms\n", S.op,
		nreclaims, evictions, S.max_maps_seen,
		(now_ns() - t0) / 1000000);
	for (i = 0; i < nr; i++) {
		printf("    reader %u: %" PRIu64 " bursts, %" PRIu64 "/%" PRIu64
			" found, %" PRIu64 "/%" PRIu64 " translated (%" PRIu64
			" from the cache)\n", i, rd[i].bursts, rd[i].found,
			rd[i].finds, rd[i].xlated, rd[i].xlates,
			rd[i].vq->stats.iotlb_hits);
		if (rd[i].err[0] != '\0')
			printf("    reader %u FAILED: %s\n", i, rd[i].err);
	}
	TEST_ASSERT_SUCCESS(rc, "writer");
	TEST_ASSERT(!S.failed, "a reader saw something wrong (seed %" PRIu64
		")", seed);
	TEST_CHECK(st_verify());
	TEST_ASSERT(st_enough(rd, nr, nreclaims), "too little happened");
	for (i = 0; i < nr; i++)
		TEST_ASSERT(rd[i].found > 0 && rd[i].xlated > 0 &&
			rd[i].vq->stats.iotlb_hits > 0, "reader %u", i);

	/* Everything out: back to the root alone. */
	TEST_ASSERT_SUCCESS(iovh_iotlb_remove(&S.dev->iotlb, 0, UINT64_MAX), "");
	iovh_iotlb_reclaim(&S.dev->iotlb);
	TEST_ASSERT_EQUAL(S.dev->iotlb.nmaps, 0, "");
	TEST_ASSERT_EQUAL(S.dev->iotlb.nnodes, 1, "");
	for (i = 0; i < nr; i++)
		free(rd[i].vq);
	fake_dev_free(S.dev);
	free(S.bank[0]);
	free(S.bank[1]);
	memset(&S, 0, sizeof(S));
	return TEST_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* The messages, on a real device                                      */

#define MEM_SZ (1u << 20)
#define FVA_A 0x7f0000000000ULL
#define FVA_B (FVA_A + MEM_SZ)	/* B follows A in front-end space */
#define GPA_A 0x0ULL
#define GPA_B 0x40000000ULL	/* but not in guest-physical space */

static struct {
	struct iovh_dev *dev;
	char dir[64];
	char path[128];
	int memfd[2];
	uint8_t *view[2];	/* our own mapping of each region's file */
	int backend[2];
} D = { .memfd = { -1, -1 }, .backend = { -1, -1 } };

/* One message through the handler; the ack (0, 1) or -1 without one,
 * -2 if the connection would be closed. */
static int
d_msg_flags(uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		const int *fds, int nfds)
{
	struct vhu_msg m, r;
	enum iovh_msg_result res;
	int has = 0;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHU_VERSION | flags;
	m.hdr.size = size;
	if (size > 0)
		memcpy(m.payload.raw, payload, size);
	if (nfds > 0)
		memcpy(m.fds, fds, nfds * sizeof(int));
	m.nfds = nfds;
	iovh_ctrl_lock();
	res = iovh_msg_handle(D.dev, &m, &r, &has);
	iovh_ctrl_unlock();
	if (res != IOVH_MSG_OK)
		return -2;
	if (!has)
		return -1;
	if (r.hdr.request != req || r.hdr.size != 8)
		return -3;
	return r.payload.u64 == 0 ? 0 : 1;
}

static int
d_msg(uint32_t req, const void *payload, uint32_t size, const int *fds,
		int nfds)
{
	return d_msg_flags(req, VHU_FLAG_NEED_REPLY, payload, size, fds, nfds);
}

static int
d_iotlb(uint8_t type, uint64_t iova, uint64_t size, uint64_t uaddr,
		uint8_t perm)
{
	struct vhu_iotlb t = { .iova = iova, .size = size, .uaddr = uaddr,
		.perm = perm, .type = type };

	return d_msg(VHU_IOTLB_MSG, &t, sizeof(t), NULL, 0);
}

static uint64_t
d_get(uint32_t req)
{
	struct vhu_msg m, r;
	int has = 0;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHU_VERSION;
	iovh_ctrl_lock();
	if (iovh_msg_handle(D.dev, &m, &r, &has) != IOVH_MSG_OK || !has)
		r.payload.u64 = 0;
	iovh_ctrl_unlock();
	return r.payload.u64;
}

static void
d_teardown(void)
{
	unsigned int i;

	iovh_dev_destroy(D.dev);
	D.dev = NULL;
	for (i = 0; i < 2; i++) {
		if (D.view[i] != NULL)
			munmap(D.view[i], MEM_SZ);
		D.view[i] = NULL;
		if (D.memfd[i] >= 0)
			close(D.memfd[i]);
		D.memfd[i] = -1;
		if (D.backend[i] >= 0)
			close(D.backend[i]);
		D.backend[i] = -1;
	}
	if (D.dir[0] != '\0')
		rmdir(D.dir);
	D.dir[0] = '\0';
}

/* A device with IOMMU_PLATFORM, REPLY_ACK and BACKEND_REQ negotiated and
 * two 1 MiB regions, A and B, adjacent in front-end space only. */
static int
d_setup(void)
{
	struct iovh_dev_conf conf = {
		.max_queue_pairs = 1,
		.numa_node = SOCKET_ID_ANY,
		.flags = IOVH_F_IOMMU,
	};
	const uint64_t need = (1ULL << VHU_PROTO_F_REPLY_ACK) |
		(1ULL << VHU_PROTO_F_BACKEND_REQ);
	uint64_t f, proto;
	struct vhu_memory mt = { .nregions = 2 };
	int fds[2];
	unsigned int i;

	snprintf(D.dir, sizeof(D.dir), "/tmp/iovh-iotlb-XXXXXX");
	TEST_ASSERT_NOT_NULL(mkdtemp(D.dir), "mkdtemp");
	snprintf(D.path, sizeof(D.path), "%s/s.sock", D.dir);
	conf.path = D.path;
	D.dev = iovh_dev_create(&conf);
	TEST_ASSERT_NOT_NULL(D.dev, "iovh_dev_create");

	f = d_get(VHU_GET_FEATURES);
	TEST_ASSERT(f & (1ULL << VIRTIO_F_IOMMU_PLATFORM), "not offered");
	proto = d_get(VHU_GET_PROTOCOL_FEATURES);
	TEST_ASSERT_EQUAL(proto & need, need, "");
	TEST_ASSERT_EQUAL(d_msg_flags(VHU_SET_PROTOCOL_FEATURES, 0, &need, 8,
			NULL, 0), -1, "");
	f = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_IOMMU_PLATFORM) |
		(1ULL << VHOST_USER_F_PROTOCOL_FEATURES);
	TEST_ASSERT_EQUAL(d_msg(VHU_SET_FEATURES, &f, 8, NULL, 0), 0, "");
	TEST_ASSERT_SUCCESS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
			D.backend), "");
	fds[0] = D.backend[1];
	D.backend[1] = -1;	/* the device owns it now */
	TEST_ASSERT_EQUAL(d_msg(VHU_SET_BACKEND_REQ_FD, NULL, 0, fds, 1), 0,
			"");

	for (i = 0; i < 2; i++) {
		D.memfd[i] = memfd_create("iovh-iotlb", MFD_CLOEXEC);
		TEST_ASSERT(D.memfd[i] >= 0, "memfd");
		TEST_ASSERT_SUCCESS(ftruncate(D.memfd[i], MEM_SZ), "");
		D.view[i] = mmap(NULL, MEM_SZ, PROT_READ | PROT_WRITE,
			MAP_SHARED, D.memfd[i], 0);
		TEST_ASSERT(D.view[i] != MAP_FAILED, "mmap");
		fds[i] = dup(D.memfd[i]);
	}
	mt.regions[0] = (struct vhu_mem_region){ GPA_A, MEM_SZ, FVA_A, 0 };
	mt.regions[1] = (struct vhu_mem_region){ GPA_B, MEM_SZ, FVA_B, 0 };
	TEST_ASSERT_EQUAL(d_msg(VHU_SET_MEM_TABLE, &mt, 8 + 2 * 32, fds, 2), 0,
			"");
	return TEST_SUCCESS;
}

/* What iova translates to, checked through memory: a byte written at the
 * host address must show in region @p reg at offset @p off. */
static int
d_expect(uint64_t iova, int reg, uint64_t off, uint64_t gpa, uint8_t perm)
{
	const struct iovh_iotlb_map *m;
	uint64_t bl;
	volatile uint8_t *p;

	m = iovh_iotlb_find(&D.dev->iotlb, iova, &bl);
	TEST_ASSERT_NOT_NULL(m, "iova %#" PRIx64, iova);
	TEST_ASSERT_EQUAL(m->gpa + (iova - m->iova), gpa, "iova %#" PRIx64,
			iova);
	TEST_ASSERT_EQUAL(m->perm, perm, "iova %#" PRIx64, iova);
	p = (volatile uint8_t *)(uintptr_t)(m->hva + (iova - m->iova));
	*p = (uint8_t)(iova >> 12) ^ 0x5a;
	TEST_ASSERT_EQUAL(D.view[reg][off], (uint8_t)(iova >> 12) ^ 0x5a,
			"iova %#" PRIx64 " lands elsewhere", iova);
	return TEST_SUCCESS;
}

static int
d_expect_miss(uint64_t iova)
{
	return expect_miss(&D.dev->iotlb, iova);
}

static int
test_msg_update_invalidate(void)
{
	const uint8_t UPD = VHU_IOTLB_UPDATE, INV = VHU_IOTLB_INVALIDATE;
	uint64_t n;

	TEST_CHECK(d_setup());
	n = D.dev->iotlb_updates;
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0x100000, 0x2000, FVA_A + 0x3000, RW),
			0, "");
	TEST_ASSERT_EQUAL(D.dev->iotlb_updates, n + 1, "");
	TEST_CHECK(d_expect(0x100000, 0, 0x3000, GPA_A + 0x3000, RW));
	TEST_CHECK(d_expect(0x101fff, 0, 0x4fff, GPA_A + 0x4fff, RW));
	TEST_CHECK(d_expect_miss(0x102000));
	TEST_CHECK(d_expect_miss(0xfffff));

	/* Refused, and nothing mapped. */
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0x200800, 0x1000, FVA_A, RW), 1,
			"unaligned iova");
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0x200000, 0x1800, FVA_A, RW), 1,
			"unaligned size");
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0x200000, 0x1000, FVA_A + 0x10, RW), 1,
			"unaligned uaddr");
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0x200000, 0x1000, FVA_A, 0), 1,
			"permission 0");
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0x200000, 0x1000, FVA_A, 4), 1,
			"permission 4");
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0x200000, 0x1000, FVA_A, 7), 1,
			"permission 7");
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0x200000, 0x1000, FVA_A - 0x1000, RW), 1,
			"uaddr before guest memory");
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0x200000, 0x1000, FVA_B + MEM_SZ, RW), 1,
			"uaddr after guest memory");
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0x200000, 0, FVA_A, RW), 1, "size 0");
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0xfffffffffffff000, 0x2000, FVA_A, RW),
			1, "iova range wraps");
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0x200000, 0x2000, 0xfffffffffffff000,
			RW), 1, "uaddr range wraps");
	TEST_ASSERT_EQUAL(d_iotlb(5, 0x200000, 0x1000, FVA_A, RW), 1,
			"unknown type");
	TEST_ASSERT_EQUAL(d_iotlb(VHU_IOTLB_MISS, 0x200000, 0x1000, FVA_A, RW),
			1, "a MISS is ours to send");
	TEST_CHECK(d_expect_miss(0x200000));
	TEST_CHECK(d_expect_miss(0x201000));
	TEST_CHECK(d_expect_miss(0xfffffffffffff000));

	/* One UPDATE over two regions: two mappings, each in its file. */
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0x300000, 0x3000, FVA_B - 0x1000, RO), 0,
			"");
	TEST_CHECK(d_expect(0x300000, 0, MEM_SZ - 0x1000,
			GPA_A + MEM_SZ - 0x1000, RO));
	TEST_CHECK(d_expect(0x301000, 1, 0, GPA_B, RO));
	TEST_CHECK(d_expect(0x302fff, 1, 0x1fff, GPA_B + 0x1fff, RO));
	{
		const struct iovh_iotlb_map *a, *b;
		uint64_t bl = 0;

		a = iovh_iotlb_find(&D.dev->iotlb, 0x300000, &bl);
		TEST_ASSERT_EQUAL(bl, 0x300fff, "translation runs into B");
		b = iovh_iotlb_find(&D.dev->iotlb, 0x301000, &bl);
		TEST_ASSERT(a != b, "");
	}

	/* The top of the IOVA space, and a mapping astride 0xfef00000. */
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0xfffffffffffff000, 0x1000, FVA_A, RW),
			0, "a range ending at 2^64 - 1");
	/* The second half of A, then B up to 0x8ffff: the piece in B is
	 * astride 0xfef00000. */
	TEST_ASSERT_EQUAL(d_iotlb(UPD, 0xfee00000, 0x110000, FVA_A + 0x80000,
			RW), 0, "");
	TEST_CHECK(d_expect(UINT64_MAX, 0, 0xfff, GPA_A + 0xfff, RW));
	TEST_CHECK(d_expect(0xfee00000, 0, 0x80000, GPA_A + 0x80000, RW));
	TEST_CHECK(d_expect(0xfee80000, 1, 0, GPA_B, RW));
	TEST_CHECK(d_expect(0xfef00000, 1, 0x80000, GPA_B + 0x80000, RW));
	n = D.dev->iotlb_invalidates;
	TEST_ASSERT_EQUAL(d_iotlb(INV, 0xfef00000, 0xffffffff01100000ULL,
			0x5a5a5a5a, 0xff), 0, "uaddr and perm are ignored");
	TEST_ASSERT_EQUAL(D.dev->iotlb_invalidates, n + 1, "");
	TEST_CHECK(d_expect_miss(UINT64_MAX));
	TEST_CHECK(d_expect_miss(0xfef00000));
	TEST_CHECK(d_expect_miss(0xfef0f000));
	TEST_CHECK(d_expect(0xfeeff000, 1, 0x7f000, GPA_B + 0x7f000, RW));
	TEST_CHECK(d_expect(0xfee00000, 0, 0x80000, GPA_A + 0x80000, RW));
	TEST_CHECK(d_expect(0x300000, 0, MEM_SZ - 0x1000,
			GPA_A + MEM_SZ - 0x1000, RO));
	TEST_CHECK(d_expect(0x100000, 0, 0x3000, GPA_A + 0x3000, RW));

	/* A size that wraps past 2^64 removes to the top too. */
	TEST_ASSERT_EQUAL(d_iotlb(INV, 0x301000, UINT64_MAX, 0, 0), 0, "");
	TEST_CHECK(d_expect_miss(0x301000));
	TEST_CHECK(d_expect(0x300000, 0, MEM_SZ - 0x1000,
			GPA_A + MEM_SZ - 0x1000, RO));
	/* Size 0: nothing to do, and fine. */
	TEST_ASSERT_EQUAL(d_iotlb(INV, 0x100000, 0, 0, 0), 0, "");
	TEST_CHECK(d_expect(0x100000, 0, 0x3000, GPA_A + 0x3000, RW));
	/* Unaligned bounds: the pages they touch. */
	TEST_ASSERT_EQUAL(d_iotlb(INV, 0x100ff0, 0x20, 0, 0), 0, "");
	TEST_CHECK(d_expect_miss(0x100000));
	TEST_CHECK(d_expect_miss(0x101000));
	TEST_ASSERT_EQUAL(d_iotlb(INV, 0, UINT64_MAX, 0, 0), 0, "");
	TEST_CHECK(d_expect_miss(0x300000));
	TEST_ASSERT(!iovh_iotlb_dirty(&D.dev->iotlb), "not reclaimed");
	TEST_ASSERT_EQUAL(D.dev->iotlb.nmaps, 0, "");
	TEST_ASSERT_EQUAL(D.dev->iotlb.nnodes, 1, "");
	d_teardown();
	return TEST_SUCCESS;
}

/* misses_sent of the device once it reached @p n (2 s at most). */
static uint64_t
d_wait_misses_sent(uint64_t n)
{
	struct iovh_dev_stats st;
	uint64_t t0 = now_ns();

	do {
		iovh_dev_stats_get(D.dev, &st);
		if (st.misses_sent >= n)
			break;
		rte_delay_us_sleep(1000);
	} while (now_ns() - t0 < 2000000000ULL);
	return st.misses_sent;
}

/* One MISS from the back-end channel: its iova, or 0 if none came. */
static uint64_t
d_read_miss(uint8_t *perm)
{
	struct vhu_msg m;
	ssize_t n;

	memset(&m, 0, sizeof(m));
	n = recv(D.backend[0], &m, VHU_HDR_SIZE + sizeof(m.payload.iotlb),
			MSG_DONTWAIT);
	if (n != (ssize_t)(VHU_HDR_SIZE + sizeof(m.payload.iotlb)) ||
			m.hdr.request != VHU_BACKEND_IOTLB_MSG ||
			m.payload.iotlb.type != VHU_IOTLB_MISS)
		return 0;
	*perm = m.payload.iotlb.perm;
	return m.payload.iotlb.iova;
}

/*
 * A poll thread's miss goes out as a MISS (counted in misses_sent, its
 * re-send too), and the UPDATE answering it puts one entry in the queue's
 * latency histogram, in a bucket no later than the time it really took.
 */
static int
test_msg_miss_counters(void)
{
	struct iovh_dev_stats ds0, ds;
	struct iovh_vq_stats vs;
	uint64_t t0, us, sum = 0, got;
	uint8_t perm = 0;
	unsigned int i, b = 0;

	TEST_CHECK(d_setup());
	iovh_dev_stats_get(D.dev, &ds0);
	TEST_ASSERT_SUCCESS(iovh_vq_stats_reset(D.dev, 0), "");
	t0 = now_ns();
	/* This thread plays vq 0's poll thread. */
	iovh_vq_report_miss(D.dev, D.dev->vq[0], 0x500123, VHU_ACCESS_WO,
			__atomic_load_n(&D.dev->iotlb_seq, __ATOMIC_ACQUIRE));
	TEST_ASSERT_EQUAL(d_wait_misses_sent(ds0.misses_sent + 1),
			ds0.misses_sent + 1, "the miss was not sent");
	got = d_read_miss(&perm);
	TEST_ASSERT_EQUAL(got, 0x500123, "MISS for %#" PRIx64, got);
	TEST_ASSERT_EQUAL(perm, VHU_ACCESS_WO, "");
	/* Unanswered: reported again after the re-send delay, sent again. */
	rte_delay_us_sleep((IOVH_MISS_RESEND_MS + 20) * 1000);
	iovh_vq_report_miss(D.dev, D.dev->vq[0], 0x500456, VHU_ACCESS_WO,
			__atomic_load_n(&D.dev->iotlb_seq, __ATOMIC_ACQUIRE));
	TEST_ASSERT_EQUAL(d_wait_misses_sent(ds0.misses_sent + 2),
			ds0.misses_sent + 2, "the re-send was not counted");
	TEST_ASSERT_EQUAL(d_read_miss(&perm), 0x500456, "");
	iovh_vq_stats_get(D.dev, 0, &vs);
	for (i = 0; i < IOVH_MISS_LAT_BUCKETS; i++)
		TEST_ASSERT_EQUAL(vs.miss_lat[i], 0, "timed before the answer");

	TEST_ASSERT_EQUAL(d_iotlb(VHU_IOTLB_UPDATE, 0x500000, 0x1000, FVA_A,
			RW), 0, "");
	us = (now_ns() - t0) / 1000;
	iovh_vq_stats_get(D.dev, 0, &vs);
	for (i = 0; i < IOVH_MISS_LAT_BUCKETS; i++) {
		sum += vs.miss_lat[i];
		if (vs.miss_lat[i] != 0)
			b = i;
	}
	TEST_ASSERT_EQUAL(sum, 1, "one miss, one answer: %" PRIu64 " timed",
			sum);
	/* From the first report: at least the re-send delay, at most what
	 * this test measured around it. */
	TEST_ASSERT(b >= 1 && (1ULL << (b - 1)) <= us, "bucket %u for %"
			PRIu64 " us", b, us);
	TEST_ASSERT(b == IOVH_MISS_LAT_BUCKETS - 1 ||
			(1ULL << b) > IOVH_MISS_RESEND_MS * 1000ULL,
			"bucket %u: under the %u ms between the reports", b,
			IOVH_MISS_RESEND_MS);
	iovh_dev_stats_get(D.dev, &ds);
	TEST_ASSERT_EQUAL(ds.iotlb_updates, ds0.iotlb_updates + 1, "");
	TEST_ASSERT_EQUAL(ds.iotlb_entries, 1, "");
	TEST_ASSERT_EQUAL(ds.misses_sent, ds0.misses_sent + 2, "");
	d_teardown();
	return TEST_SUCCESS;
}

/* A poll thread, as far as QSBR is concerned: online on vq 0's slot,
 * holding a mapping for a while, then offline. */
static struct {
	pthread_t thread;
	uint64_t iova;
	uint64_t hold_ms;
	int holding;		/* set once online with the mapping */
	uint64_t off_ns;	/* just before going offline */
	struct st_held held;
	int changed;
} R;

static void *
r_main(void *arg __rte_unused)
{
	const struct iovh_iotlb_map *m;
	uint64_t bl;

	rte_rcu_qsbr_thread_online(D.dev->qsbr, 0);
	m = iovh_iotlb_find(&D.dev->iotlb, R.iova, &bl);
	if (m != NULL)
		st_snap(&R.held, m);
	__atomic_store_n(&R.holding, m != NULL ? 1 : -1, __ATOMIC_RELEASE);
	rte_delay_us_sleep(R.hold_ms * 1000);
	/* Still there, unchanged (valgrind and ASan see a freed one). */
	if (m != NULL && !st_same(&R.held))
		R.changed = 1;
	R.off_ns = now_ns();
	rte_rcu_qsbr_thread_offline(D.dev->qsbr, 0);
	return NULL;
}

/* Start the reader on @p iova and wait until it holds the mapping. */
static int
r_start(uint64_t iova, uint64_t hold_ms)
{
	int h;

	memset(&R, 0, sizeof(R));
	R.iova = iova;
	R.hold_ms = hold_ms;
	TEST_ASSERT_SUCCESS(pthread_create(&R.thread, NULL, r_main, NULL), "");
	while ((h = __atomic_load_n(&R.holding, __ATOMIC_ACQUIRE)) == 0)
		rte_pause();
	TEST_ASSERT_EQUAL(h, 1, "the reader found no mapping");
	return TEST_SUCCESS;
}

static int
test_msg_waits_for_readers(void)
{
	const uint64_t hold = 100;
	uint64_t t0, t1;
	int ack;

	TEST_CHECK(d_setup());
	TEST_ASSERT_EQUAL(d_iotlb(VHU_IOTLB_UPDATE, 0x100000, 0x4000, FVA_A,
			RW), 0, "");

	/* INVALIDATE while a reader holds the mapping. */
	TEST_CHECK(r_start(0x101000, hold));
	t0 = now_ns();
	ack = d_iotlb(VHU_IOTLB_INVALIDATE, 0x101000, 0x1000, 0, 0);
	t1 = now_ns();
	pthread_join(R.thread, NULL);
	printf("    INVALIDATE returned after %" PRIu64 " ms (reader held %"
		PRIu64 " ms)\n", (t1 - t0) / 1000000, hold);
	TEST_ASSERT_EQUAL(ack, 0, "");
	TEST_ASSERT(t1 >= R.off_ns, "INVALIDATE acked %" PRIu64 " us before "
		"the reader went offline", (R.off_ns - t1) / 1000);
	TEST_ASSERT(!R.changed, "mapping changed under the reader");
	TEST_CHECK(d_expect_miss(0x101000));
	TEST_CHECK(d_expect(0x100000, 0, 0, GPA_A, RW));
	TEST_CHECK(d_expect(0x102000, 0, 0x2000, GPA_A + 0x2000, RW));

	/* An UPDATE that replaces what the reader holds frees it too. */
	TEST_CHECK(r_start(0x102000, hold));
	t0 = now_ns();
	ack = d_iotlb(VHU_IOTLB_UPDATE, 0x100000, 0x4000, FVA_B, RW);
	t1 = now_ns();
	pthread_join(R.thread, NULL);
	printf("    replacing UPDATE returned after %" PRIu64 " ms\n",
		(t1 - t0) / 1000000);
	TEST_ASSERT_EQUAL(ack, 0, "");
	TEST_ASSERT(t1 >= R.off_ns, "replacing UPDATE returned %" PRIu64
		" us before the reader went offline", (R.off_ns - t1) / 1000);
	TEST_ASSERT(!R.changed, "mapping changed under the reader");
	TEST_CHECK(d_expect(0x102000, 1, 0x2000, GPA_B + 0x2000, RW));

	/* A reader that is offline holds nothing up. */
	t0 = now_ns();
	TEST_ASSERT_EQUAL(d_iotlb(VHU_IOTLB_INVALIDATE, 0, UINT64_MAX, 0, 0),
			0, "");
	t1 = now_ns();
	TEST_ASSERT((t1 - t0) / 1000000 < hold * 5, "%" PRIu64 " ms",
		(t1 - t0) / 1000000);
	d_teardown();
	return TEST_SUCCESS;
}

static void
case_teardown(void)
{
	/* After a failed case: no device or fd left behind. */
	if (D.dev != NULL || D.dir[0] != '\0')
		d_teardown();
}

static const struct iovh_test_case cases[] = {
	TEST_CASE(test_lookups),
	TEST_CASE(test_adjacent_not_merged),
	TEST_CASE(test_top_of_iova_space),
	TEST_CASE(test_partial_invalidate),
	TEST_CASE(test_overlap_replaces),
	TEST_CASE(test_alignment),
	TEST_CASE(test_eviction),
	TEST_CASE(test_flush),
	TEST_CASE(test_translate_perm),
	TEST_CASE(test_translate_miss),
	TEST_CASE(test_translate_cache),
	TEST_CASE(test_stress),
	TEST_CASE(test_msg_update_invalidate),
	TEST_CASE(test_msg_waits_for_readers),
	TEST_CASE(test_msg_miss_counters),
	TEST_CASES_END(),
};

static int
test_iotlb(void)
{
	static const struct iovh_test_suite suite = {
		.name = "iotlb",
		.case_teardown = case_teardown,
		.cases = cases,
	};

	return iovh_test_run_suite(&suite);
}

REGISTER_IOVH_TEST(iotlb_autotest, test_iotlb);
