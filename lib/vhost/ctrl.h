/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef IOVH_CTRL_H
#define IOVH_CTRL_H

/**
 * @file
 * The control thread: one per process, the only thread that reads or
 * writes a vhost-user socket or a back-end channel. It runs every device's
 * message handlers and the application callbacks while holding the control
 * lock, so set-up state has a single writer.
 */

#include <stdint.h>

#include "vhost_user.h"

struct iovh_dev;

/** How long a peer may leave a message half-sent, or a reply unread. */
#define IOVH_PEER_TIMEOUT_MS 5000
/** Client-mode reconnect back-off bounds. */
#define IOVH_RECONNECT_MIN_MS 100
#define IOVH_RECONNECT_MAX_MS 2000

/** Take / release the control lock (create, destroy, tests). */
void iovh_ctrl_lock(void);
void iovh_ctrl_unlock(void);

/**
 * Hand a newly created device to the control thread (starting the thread
 * if it is the first). Caller holds the control lock.
 * @return 0 or -errno.
 */
int iovh_ctrl_add(struct iovh_dev *dev);

/**
 * Stop serving @p dev: close its connection and sockets. The device memory
 * is freed by the control thread once no event can refer to it. Caller
 * holds the control lock.
 */
void iovh_ctrl_remove(struct iovh_dev *dev);

/**
 * Close the front-end connection of @p dev (logging @p why), reset the
 * device, and for a client schedule a reconnect. Control lock held.
 */
void iovh_ctrl_disconnect(struct iovh_dev *dev, const char *why);

/**
 * Send @p msg on the back-end channel without blocking; a full channel
 * drops the message (callers resend on their own timers).
 * @return 0 or -errno.
 */
int iovh_ctrl_backend_send(struct iovh_dev *dev, const struct vhu_msg *msg);

/** Register the back-end channel fd with the event loop. */
int iovh_ctrl_watch_backend(struct iovh_dev *dev);
/** Stop watching and close the back-end channel. */
void iovh_ctrl_close_backend(struct iovh_dev *dev);

/**
 * How long a miss may go unanswered before it is sent again. The channel
 * is a stream: a MISS that went out is not lost, so a re-send only helps
 * a front-end that ignored it (unmapped then, mapped since). Sent too
 * soon, it reaches a front-end that was merely slow (answers take over
 * 200 ms on a loaded machine) after the buffer was used and unmapped: a
 * MISS on a revoked IOVA, which the test front-end counts as a violation.
 */
#define IOVH_MISS_RESEND_MS 500
/** After this long a miss is forgotten (QEMU never answers a bad one). */
#define IOVH_MISS_GIVEUP_MS 2000

/**
 * Ask the front-end for the mapping of @p iova (BACKEND_IOTLB_MSG MISS,
 * without NEED_REPLY: the answer is an UPDATE on the main socket, which the
 * front-end may be blocked sending). De-duplicated: a page already asked
 * for recently is not asked for again. Control lock held.
 */
void iovh_ctrl_request_miss(struct iovh_dev *dev, uint64_t iova,
		uint8_t perm);

/** Forget the pending misses an UPDATE of [iova, last] answered. */
void iovh_ctrl_misses_answered(struct iovh_dev *dev, uint64_t iova,
		uint64_t last);

/** Monotonic milliseconds. */
uint64_t iovh_now_ms(void);

/* ---- msg.c ---- */

/** What iovh_msg_handle() wants done with the connection. */
enum iovh_msg_result {
	IOVH_MSG_OK = 0,	/**< Reply (if any) in *reply; go on. */
	IOVH_MSG_CLOSE = -1,	/**< State can't be trusted: disconnect. */
};

/**
 * Validate and execute one complete message from the front-end. Consumes
 * every fd in msg->fds. Fills @p reply and sets *has_reply when something
 * must be sent back.
 */
enum iovh_msg_result iovh_msg_handle(struct iovh_dev *dev,
		struct vhu_msg *msg, struct vhu_msg *reply, int *has_reply);

/** Name of a front-end request, for logs. */
const char *iovh_msg_name(uint32_t req);

#endif /* IOVH_CTRL_H */
