/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef IOVH_TEST_H
#define IOVH_TEST_H

/**
 * @file
 * Minimal unit-test harness for iovhost (in the spirit of dpdk-test).
 *
 * A test file registers one or more named commands:
 *
 *     static int test_foo(void) { ... return TEST_SUCCESS; }
 *     REGISTER_IOVH_TEST(foo_autotest, test_foo);
 *
 * and `iovhost-test foo_autotest` runs it after initialising EAL. A
 * command usually runs a table of cases with iovh_test_run_cases(), which
 * prints one line per case and a summary. The TEST_ASSERT* macros print
 * where and why they failed and return TEST_FAILED from the function they
 * are used in, so use them in functions returning int.
 */

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include <rte_common.h>

#define TEST_SUCCESS 0
#define TEST_FAILED (-1)
#define TEST_SKIPPED 77

/** A registered command. */
struct iovh_test {
	const char *name;
	int (*fn)(void);
	struct iovh_test *next;
};

/** Add a command to the registry (called from constructors). */
void iovh_test_register(struct iovh_test *t);

/** Register @p func as command @p cmd (a bare identifier). */
#define REGISTER_IOVH_TEST(cmd, func) \
	static struct iovh_test iovh_test_ ## cmd = { \
		.name = RTE_STR(cmd), \
		.fn = func, \
	}; \
	RTE_INIT(iovh_test_init_ ## cmd) \
	{ \
		iovh_test_register(&iovh_test_ ## cmd); \
	}

/** Report a failed check; used by the assertion macros. */
#define IOVH_TEST_FAIL_MSG(fmt, ...) \
	printf("    %s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__)

/** Fail the current function unless @p cond holds. */
#define TEST_ASSERT(cond, fmt, ...) do { \
	if (!(cond)) { \
		IOVH_TEST_FAIL_MSG("assertion failed: %s: " fmt, #cond, \
			##__VA_ARGS__); \
		return TEST_FAILED; \
	} \
} while (0)

/**
 * Fail unless @p a == @p b, showing both values. Integers only; both sides
 * are compared after conversion to unsigned long long, so a negative value
 * equals nothing but itself.
 */
#define TEST_ASSERT_EQUAL(a, b, fmt, ...) do { \
	unsigned long long iovh_a_ = (unsigned long long)(a); \
	unsigned long long iovh_b_ = (unsigned long long)(b); \
	if (iovh_a_ != iovh_b_) { \
		IOVH_TEST_FAIL_MSG("%s == %s failed: %lld (%#llx) != %lld (%#llx): " \
			fmt, #a, #b, (long long)iovh_a_, iovh_a_, \
			(long long)iovh_b_, iovh_b_, ##__VA_ARGS__); \
		return TEST_FAILED; \
	} \
} while (0)

/** Fail if @p a == @p b. */
#define TEST_ASSERT_NOT_EQUAL(a, b, fmt, ...) do { \
	unsigned long long iovh_a_ = (unsigned long long)(a); \
	unsigned long long iovh_b_ = (unsigned long long)(b); \
	if (iovh_a_ == iovh_b_) { \
		IOVH_TEST_FAIL_MSG("%s != %s failed: both %lld (%#llx): " fmt, \
			#a, #b, (long long)iovh_a_, iovh_a_, ##__VA_ARGS__); \
		return TEST_FAILED; \
	} \
} while (0)

/** Fail unless a call returned 0. */
#define TEST_ASSERT_SUCCESS(val, fmt, ...) do { \
	long long iovh_v_ = (long long)(val); \
	if (iovh_v_ != 0) { \
		IOVH_TEST_FAIL_MSG("%s returned %lld: " fmt, #val, iovh_v_, \
			##__VA_ARGS__); \
		return TEST_FAILED; \
	} \
} while (0)

/** Fail if a pointer is NULL. */
#define TEST_ASSERT_NOT_NULL(p, fmt, ...) do { \
	if ((p) == NULL) { \
		IOVH_TEST_FAIL_MSG("%s is NULL: " fmt, #p, ##__VA_ARGS__); \
		return TEST_FAILED; \
	} \
} while (0)

/** Propagate failure of a helper returning TEST_SUCCESS/TEST_FAILED. */
#define TEST_CHECK(call) do { \
	int iovh_r_ = (call); \
	if (iovh_r_ != TEST_SUCCESS) { \
		IOVH_TEST_FAIL_MSG("from %s", #call); \
		return iovh_r_; \
	} \
} while (0)

/** One case of a command. */
struct iovh_test_case {
	const char *name;
	int (*fn)(void);
};

/** A case table entry for function @p f. */
#define TEST_CASE(f) { .name = RTE_STR(f), .fn = f }
/** Terminates a case table. */
#define TEST_CASES_END() { .name = NULL, .fn = NULL }

/** How to run a table of cases. */
struct iovh_test_suite {
	const char *name;
	int (*setup)(void);		/**< Once before; may be NULL. */
	void (*teardown)(void);		/**< Once after; may be NULL. */
	int (*case_setup)(void);	/**< Before each case; may be NULL. */
	void (*case_teardown)(void);	/**< After each case; may be NULL. */
	const struct iovh_test_case *cases;	/**< TEST_CASES_END()-ended. */
};

/**
 * Run every case of @p suite, printing "  case <name>: ok|FAIL|skip" for
 * each and a summary line.
 *
 * @return TEST_SUCCESS if no case failed (skips allowed), else TEST_FAILED.
 */
int iovh_test_run_suite(const struct iovh_test_suite *suite);

#endif /* IOVH_TEST_H */
