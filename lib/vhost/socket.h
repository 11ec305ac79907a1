/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef IOVH_SOCKET_H
#define IOVH_SOCKET_H

/**
 * @file
 * Unix-socket primitives for the control thread. Every socket is
 * non-blocking and close-on-exec; nothing here can raise SIGPIPE.
 */

#include <stddef.h>
#include <sys/types.h>

/**
 * Listen on @p path. A socket file nobody listens on any more (left by a
 * dead process) is replaced; a live one, or a path that is not a socket,
 * is an error.
 * @return the listening fd, or -errno.
 */
int iovh_sock_listen(const char *path);

/**
 * Start a non-blocking connect to @p path.
 * @return fd (connected or in progress: *in_progress tells), or -errno.
 */
int iovh_sock_connect(const char *path, int *in_progress);

/**
 * Receive up to @p len bytes and any fds that come with them. Descriptors
 * beyond @p max_fds, or a truncated control message, make it fail: all fds
 * received in that call are closed.
 * @return bytes read (0: peer closed), or -errno (-EAGAIN: nothing yet).
 */
ssize_t iovh_sock_recv(int fd, void *buf, size_t len, int *fds, int *nfds,
		int max_fds);

/**
 * Send @p len bytes, with @p nfds descriptors attached to the first byte.
 * Never blocks, never raises SIGPIPE.
 * @return bytes sent, or -errno.
 */
ssize_t iovh_sock_send(int fd, const void *buf, size_t len, const int *fds,
		int nfds);

/** Set O_NONBLOCK on @p fd. @return 0 or -errno. */
int iovh_fd_set_nonblock(int fd);

/** Close every fd in @p fds[0..n) that is >= 0 and set it to -1. */
void iovh_close_fds(int *fds, int n);

#endif /* IOVH_SOCKET_H */
