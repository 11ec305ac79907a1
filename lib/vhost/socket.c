/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "socket.h"
#include "vhost.h"

static int
sock_addr(const char *path, struct sockaddr_un *un)
{
	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(un->sun_path))
		return -ENAMETOOLONG;
	strcpy(un->sun_path, path);
	return 0;
}

int
iovh_fd_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

void
iovh_close_fds(int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/*
 * A socket file that refuses connections belongs to nobody: the process
 * that made it died without unlinking it. Anything else at the path is
 * left alone, so a typo in iface= can never delete a user's file.
 */
static int
remove_stale(const char *path, const struct sockaddr_un *un)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)un, sizeof(*un));
	close(fd);
	if (rc == 0 || errno == EAGAIN)
		return -EADDRINUSE;
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	IOVH_LOG_CONFIG(INFO, "(%s) removed stale socket file", path);
	return 0;
}

int
iovh_sock_listen(const char *path)
{
	struct sockaddr_un un;
	int fd, rc;

	rc = sock_addr(path, &un);
	if (rc < 0)
		return rc;
	rc = remove_stale(path, &un);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
			listen(fd, 8) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

int
iovh_sock_connect(const char *path, int *in_progress)
{
	struct sockaddr_un un;
	int fd, rc;

	*in_progress = 0;
	rc = sock_addr(path, &un);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		/*
		 * A unix socket answers EAGAIN when the listener's backlog is
		 * full: nothing is in progress then, and the socket will never
		 * connect; the caller retries later like any refusal.
		 */
		if (errno == EINPROGRESS) {
			*in_progress = 1;
			return fd;
		}
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

ssize_t
iovh_sock_recv(int fd, void *buf, size_t len, int *fds, int *nfds,
		int max_fds)
{
	char control[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control,
		.msg_controllen = sizeof(control),
	};
	struct cmsghdr *cm;
	int got[VHU_MAX_FDS + 1];
	int ngot = 0, bad = 0, i;
	ssize_t n;

	*nfds = 0;
	do {
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t k, cnt;
		int *p;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = (int *)CMSG_DATA(cm);
		for (k = 0; k < cnt; k++) {
			int v;

			memcpy(&v, &p[k], sizeof(v));
			if (ngot < (int)RTE_DIM(got))
				got[ngot++] = v;
			else
				close(v);
			if (ngot > max_fds)
				bad = 1;
		}
	}
	/* The kernel closed what did not fit: we cannot know which message
	 * those belonged to, so the stream can no longer be trusted. */
	if (mh.msg_flags & MSG_CTRUNC)
		bad = 1;
	if (bad) {
		iovh_close_fds(got, ngot);
		return -EBADMSG;
	}
	for (i = 0; i < ngot; i++)
		fds[i] = got[i];
	*nfds = ngot;
	return n;
}

ssize_t
iovh_sock_send(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	char control[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;

	if (nfds > VHU_MAX_FDS)
		return -EINVAL;
	if (nfds > 0) {
		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	do {
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}
