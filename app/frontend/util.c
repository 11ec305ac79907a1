/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "util.h"

int fe_verbose;

void
fe_log(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	/* One write per line keeps lines from different threads whole. */
	n = snprintf(buf, sizeof(buf), "iovhost-frontend: ");
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(STDERR_FILENO, buf, n) < 0)
		return;
}

void
fe_die(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fe_log("FATAL: %s", buf);
	fflush(stdout);
	_exit(2);
}

void *
fe_zalloc(size_t size)
{
	void *p = calloc(1, size ? size : 1);

	if (p == NULL)
		fe_die("out of memory (%zu bytes)", size);
	return p;
}
