/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>

#include "fuzz_common.h"

int fuzz_verbose;

void
fuzz_eal_init(const char *prog)
{
	static char *args[16];
	const char *verbose = getenv("IOVH_FUZZ_VERBOSE");
	int n = 0;

	args[n++] = (char *)(uintptr_t)prog;
	args[n++] = (char *)(uintptr_t)"--no-huge";
	args[n++] = (char *)(uintptr_t)"-m";
	args[n++] = (char *)(uintptr_t)"256";
	args[n++] = (char *)(uintptr_t)"--no-pci";
	/* Not --in-memory: EAL refuses it with --no-huge (which implies
	 * legacy memory), and --no-shconf already leaves no files behind. */
	args[n++] = (char *)(uintptr_t)"--no-shconf";
	args[n++] = (char *)(uintptr_t)"--no-telemetry";
	fuzz_verbose = verbose != NULL && strcmp(verbose, "0") != 0;
	if (fuzz_verbose) {
		/* The global level is a ceiling: raise it, then hold all
		 * but the library back. */
		args[n++] = (char *)(uintptr_t)"--log-level=debug";
		args[n++] = (char *)(uintptr_t)"--log-level=*:notice";
		args[n++] = (char *)(uintptr_t)"--log-level=lib.iovhost.*:debug";
	} else {
		/* Every refused message is logged at ERR: millions a minute. */
		args[n++] = (char *)(uintptr_t)"--log-level=*:crit";
	}
	if (rte_eal_init(n, args) < 0) {
		fprintf(stderr, "%s: EAL init failed: %s\n", prog,
			rte_strerror(rte_errno));
		exit(1);
	}
}

size_t
fuzz_bytes(struct fuzz_in *in, void *dst, size_t len)
{
	size_t n = RTE_MIN(len, in->left);

	memcpy(dst, in->p, n);
	in->p += n;
	in->left -= n;
	return n;
}

int
fuzz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the DIR's own */
}

void
fuzz_list_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	char link[300], target[256];
	struct dirent *e;
	ssize_t n;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		target[n < 0 ? 0 : n] = '\0';
		fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
	}
	closedir(d);
}

int
fuzz_count_maps(const char *tag)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, tag) != NULL)
			n++;
	fclose(f);
	return n;
}
