/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * iovhost-test: run one registered unit test by name.
 *
 *     iovhost-test                     list the tests
 *     iovhost-test <name> [EAL args]   run one; exit 0 if it passed
 *
 * EAL is set up here, the same way for every test, so that tests run
 * anywhere without hugepages, devices or a shared runtime directory.
 * IOVH_TEST_VERBOSE=1 in the environment turns on the library's debug log.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>

#include "test.h"

static struct iovh_test *tests;

void
iovh_test_register(struct iovh_test *t)
{
	struct iovh_test **p;

	/* Kept sorted, so the listing is stable whatever the link order. */
	for (p = &tests; *p != NULL && strcmp((*p)->name, t->name) < 0;
			p = &(*p)->next)
		;
	t->next = *p;
	*p = t;
}

int
iovh_test_run_suite(const struct iovh_test_suite *suite)
{
	const struct iovh_test_case *tc;
	unsigned int ok = 0, failed = 0, skipped = 0;
	int r;

	printf("suite %s\n", suite->name);
	if (suite->setup != NULL && suite->setup() != TEST_SUCCESS) {
		printf("suite %s: setup failed\n", suite->name);
		return TEST_FAILED;
	}
	for (tc = suite->cases; tc->fn != NULL; tc++) {
		r = TEST_SUCCESS;
		if (suite->case_setup != NULL)
			r = suite->case_setup();
		if (r == TEST_SUCCESS)
			r = tc->fn();
		else
			printf("    case setup failed\n");
		if (suite->case_teardown != NULL)
			suite->case_teardown();
		if (r == TEST_SUCCESS) {
			ok++;
			printf("  case %s: ok\n", tc->name);
		} else if (r == TEST_SKIPPED) {
			skipped++;
			printf("  case %s: skip\n", tc->name);
		} else {
			failed++;
			printf("  case %s: FAIL\n", tc->name);
		}
		fflush(stdout);
	}
	if (suite->teardown != NULL)
		suite->teardown();
	printf("suite %s: %u passed, %u failed, %u skipped\n", suite->name,
		ok, failed, skipped);
	return failed == 0 ? TEST_SUCCESS : TEST_FAILED;
}

static void
list_tests(FILE *f)
{
	const struct iovh_test *t;

	fprintf(f, "tests:\n");
	for (t = tests; t != NULL; t = t->next)
		fprintf(f, "  %s\n", t->name);
}

int
main(int argc, char **argv)
{
	static const char *const base_args[] = {
		/* --in-memory would be redundant: EAL refuses it with
		 * --no-huge, and --no-shconf already leaves no files. */
		"--no-huge", "-m", "512", "--no-pci", "--no-shconf",
		"--no-telemetry",
	};
	const char *verbose = getenv("IOVH_TEST_VERBOSE");
	const struct iovh_test *t;
	char **eal_argv;
	int eal_argc = 0, i, r;

	if (argc < 2) {
		printf("usage: %s <test> [EAL arguments]\n", argv[0]);
		list_tests(stdout);
		return 0;
	}
	for (t = tests; t != NULL; t = t->next)
		if (strcmp(t->name, argv[1]) == 0)
			break;
	if (t == NULL) {
		fprintf(stderr, "%s: no test named '%s'\n", argv[0], argv[1]);
		list_tests(stderr);
		return 2;
	}

	eal_argv = calloc(RTE_DIM(base_args) + 4 + argc, sizeof(*eal_argv));
	if (eal_argv == NULL)
		return 2;
	eal_argv[eal_argc++] = argv[0];
	for (i = 0; i < (int)RTE_DIM(base_args); i++)
		eal_argv[eal_argc++] = (char *)(uintptr_t)base_args[i];
	if (verbose != NULL && strcmp(verbose, "0") != 0) {
		/* The global level is a ceiling: raise it, then hold
		 * everything but the library back to the usual noise. */
		eal_argv[eal_argc++] = (char *)(uintptr_t)"--log-level=debug";
		eal_argv[eal_argc++] = (char *)(uintptr_t)"--log-level=*:notice";
		eal_argv[eal_argc++] =
			(char *)(uintptr_t)"--log-level=lib.iovhost.*:debug";
	} else {
		eal_argv[eal_argc++] = (char *)(uintptr_t)"--log-level=warning";
	}
	for (i = 2; i < argc; i++)
		eal_argv[eal_argc++] = argv[i];

	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr, "%s: EAL init failed: %s\n", argv[0],
			rte_strerror(rte_errno));
		free(eal_argv);
		return 2;
	}
	r = t->fn();
	printf("%s: %s\n", t->name, r == TEST_SUCCESS ? "passed" :
		r == TEST_SKIPPED ? "skipped" : "FAILED");
	rte_eal_cleanup();
	free(eal_argv);
	/* 77 is what meson reads as "skipped". */
	return r == TEST_SUCCESS ? 0 : r == TEST_SKIPPED ? TEST_SKIPPED : 1;
}
