/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef FE_VU_CONN_H
#define FE_VU_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "vu_proto.h"

/* What the sender expects back for one message. */
enum vu_reply_kind {
	VU_NOREPLY,	/* nothing, ever */
	VU_ACK,		/* u64 ack if REPLY_ACK was negotiated, else nothing */
	VU_DATA,	/* the request itself has a reply (GET_*) */
};

struct vu_conn;

/**
 * Connect to a listening back-end, retrying while the socket is absent
 * or refuses, for at most @p wait_ms.
 */
struct vu_conn *vu_conn_connect(const char *path, unsigned int wait_ms);

/** Listen on @p path and accept one back-end within @p wait_ms. */
struct vu_conn *vu_conn_accept(const char *path, unsigned int wait_ms);

/** Wrap an already connected socket (tests, socketpairs). */
struct vu_conn *vu_conn_from_fd(int fd);

/** Per-reply deadline (--timeout). */
void vu_conn_set_timeout(struct vu_conn *c, unsigned int ms);

/** Once REPLY_ACK is negotiated, VU_ACK messages carry NEED_REPLY. */
void vu_conn_set_reply_ack(struct vu_conn *c, bool on);
bool vu_conn_reply_ack(const struct vu_conn *c);

/**
 * Queue one message on the main socket. Thread-safe: writes never
 * interleave, and the reply slot is reserved in the same critical section
 * as the write, so replies (which the back-end sends strictly in request
 * order) are matched to the right waiter whichever thread sent it.
 *
 * @return 0 and *ticket (0 when there is nothing to wait for), or -errno.
 */
int vu_conn_send(struct vu_conn *c, uint32_t req, const void *payload,
		 uint32_t size, const int *fds, int nfds,
		 enum vu_reply_kind kind, uint64_t *ticket);

/**
 * Wait for the reply to @p ticket, at most the per-reply timeout.
 * @return 0; -ETIMEDOUT; -EPIPE (socket closed); -EPROTO (malformed or
 * mismatched reply); -EREMOTEIO (the back-end acked with an error).
 * The reason in words is in vu_conn_error().
 */
int vu_conn_wait(struct vu_conn *c, uint64_t ticket, struct vu_msg *reply);

/**
 * Send and wait; on any failure report @p what with the request name and
 * the reason, and exit.
 */
void vu_call(struct vu_conn *c, uint32_t req, const void *payload,
	     uint32_t size, const int *fds, int nfds, enum vu_reply_kind kind,
	     struct vu_msg *reply, const char *what);

/** Report the failure of @p req (@p what) given the wait result, and exit. */
void vu_conn_fail(struct vu_conn *c, uint32_t req, const char *what, int rc)
	__attribute__((noreturn));

const char *vu_conn_error(struct vu_conn *c);

/** Stop the reader, close the socket and free @p c. */
void vu_conn_close(struct vu_conn *c);

/* Raw message I/O, also used on the back-end channel. */
int vu_sock_send(int fd, const struct vu_msg *m, const int *fds, int nfds);
/** @return 1 on a message, 0 on orderly EOF, -errno on error. */
int vu_sock_recv(int fd, struct vu_msg *m, int *fds, int *nfds, int maxfds);

#endif /* FE_VU_CONN_H */
