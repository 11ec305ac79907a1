/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * The SIGBUS guard. A front-end that truncates the file behind guest
 * memory after we mapped it makes our next access to the cut-off pages
 * raise SIGBUS, wherever that access is: a poll thread's copy, the
 * control thread's ring check. Sealed memfds cannot shrink (QEMU seals
 * its memfd backend); hugetlbfs files and unsealed memfds can.
 *
 * The guard turns that into a disconnect: the handler replaces the pages
 * from the fault to the end of the region with anonymous memory, so the
 * faulting access completes (on zeros, into memory nobody else sees), and
 * flags the device; the control thread then closes the connection and
 * unmaps everything. A SIGBUS anywhere else goes to whatever handler was
 * there before us, or kills the process as it would have.
 *
 * The table of guarded ranges is read by the handler without any lock: a
 * slot is published by storing its end after its start and owner, and
 * retired by clearing its end first.
 */

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vhost.h"

#define GUARD_SLOTS 1024

static struct {
	uintptr_t start;
	uintptr_t end;		/* 0: free */
	struct iovh_dev *dev;
} guards[GUARD_SLOTS];

static struct sigaction prev_action;
static int installed;

static void
chain_previous(int sig, siginfo_t *info, void *uctx)
{
	if (prev_action.sa_flags & SA_SIGINFO) {
		if (prev_action.sa_sigaction != NULL) {
			prev_action.sa_sigaction(sig, info, uctx);
			return;
		}
	} else if (prev_action.sa_handler != SIG_DFL &&
			prev_action.sa_handler != SIG_IGN) {
		prev_action.sa_handler(sig);
		return;
	}
	/* Default action: die of SIGBUS, as without us. */
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

static void
sigbus_handler(int sig, siginfo_t *info, void *uctx)
{
	uintptr_t a = (uintptr_t)info->si_addr;
	uintptr_t page = a & ~(uintptr_t)(getpagesize() - 1);
	unsigned int i;

	for (i = 0; i < GUARD_SLOTS; i++) {
		uintptr_t end = __atomic_load_n(&guards[i].end,
				__ATOMIC_ACQUIRE);

		if (end == 0 || a < guards[i].start || a >= end)
			continue;
		/* mmap is a plain system call: safe in a handler. */
		if (mmap((void *)page, end - page, PROT_READ | PROT_WRITE,
				MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
				MAP_FAILED)
			break;
		__atomic_store_n(&guards[i].dev->mem_fault, 1, __ATOMIC_RELEASE);
		return;
	}
	chain_previous(sig, info, uctx);
}

int
iovh_sigbus_guard(struct iovh_dev *dev, void *start, uint64_t len)
{
	unsigned int i;

	if (!installed) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = sigbus_handler;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, &sa, &prev_action) < 0)
			return -1;
		installed = 1;
	}
	for (i = 0; i < GUARD_SLOTS; i++) {
		if (__atomic_load_n(&guards[i].end, __ATOMIC_RELAXED) != 0)
			continue;
		guards[i].start = (uintptr_t)start;
		guards[i].dev = dev;
		/* Release: start and dev are in place before the slot counts. */
		__atomic_store_n(&guards[i].end, (uintptr_t)start + len,
				__ATOMIC_RELEASE);
		return 0;
	}
	IOVH_LOG_CONFIG(WARNING, "SIGBUS guard table full: %p unguarded",
			start);
	return -1;
}

void
iovh_sigbus_unguard(void *start)
{
	unsigned int i;

	for (i = 0; i < GUARD_SLOTS; i++) {
		if (guards[i].start == (uintptr_t)start &&
				__atomic_load_n(&guards[i].end, __ATOMIC_RELAXED)) {
			__atomic_store_n(&guards[i].end, 0, __ATOMIC_RELEASE);
			guards[i].start = 0;
			return;
		}
	}
}
