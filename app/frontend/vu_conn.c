/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"
#include "vu_conn.h"

/* Outstanding replies; far more than the deepest pipeline we build. */
#define VU_SLOTS	1024

struct vu_slot {
	uint64_t ticket;	/* 0 when free */
	uint32_t req;
	enum vu_reply_kind kind;
	bool done;
	int rc;
	struct vu_msg reply;
};

struct vu_conn {
	int fd;
	pthread_t reader;
	bool reader_started;
	pthread_mutex_t lock;	/* socket writes and everything below */
	pthread_cond_t cond;
	uint64_t next_ticket;	/* next ticket to hand out */
	uint64_t head_ticket;	/* oldest ticket still owed a reply */
	struct vu_slot slots[VU_SLOTS];
	bool dead;
	bool closing;
	bool reply_ack;
	unsigned int timeout_ms;
	char err[256];
};

static const char *const req_names[] = {
	[VU_GET_FEATURES] = "GET_FEATURES",
	[VU_SET_FEATURES] = "SET_FEATURES",
	[VU_SET_OWNER] = "SET_OWNER",
	[VU_RESET_OWNER] = "RESET_OWNER",
	[VU_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VU_SET_LOG_BASE] = "SET_LOG_BASE",
	[VU_SET_LOG_FD] = "SET_LOG_FD",
	[VU_SET_VRING_NUM] = "SET_VRING_NUM",
	[VU_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VU_SET_VRING_BASE] = "SET_VRING_BASE",
	[VU_GET_VRING_BASE] = "GET_VRING_BASE",
	[VU_SET_VRING_KICK] = "SET_VRING_KICK",
	[VU_SET_VRING_CALL] = "SET_VRING_CALL",
	[VU_SET_VRING_ERR] = "SET_VRING_ERR",
	[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[VU_SEND_RARP] = "SEND_RARP",
	[VU_NET_SET_MTU] = "NET_SET_MTU",
	[VU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[VU_IOTLB_MSG] = "IOTLB_MSG",
	[VU_SET_STATUS] = "SET_STATUS",
	[VU_GET_STATUS] = "GET_STATUS",
};

const char *
vu_req_name(uint32_t req)
{
	if (req < FE_DIM(req_names) && req_names[req] != NULL)
		return req_names[req];
	return "UNKNOWN";
}

int
vu_sock_send(int fd, const struct vu_msg *m, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
	size_t total = sizeof(m->hdr) + m->hdr.size;
	const char *p = (const char *)m;
	struct msghdr mh;
	struct iovec iov;
	ssize_t n;

	if (nfds > VU_MAX_FDS || m->hdr.size > VU_PAYLOAD_MAX)
		return -EINVAL;
	while (total > 0) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = (void *)(uintptr_t)p;
		iov.iov_len = total;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		/* Descriptors ride with the first byte only. */
		if (nfds > 0 && p == (const char *)m) {
			struct cmsghdr *cm;

			memset(cbuf, 0, sizeof(cbuf));
			mh.msg_control = cbuf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
		}
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		total -= n;
	}
	return 0;
}

static int
read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = recv(fd, p, len, 0);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 1;
}

int
vu_sock_recv(int fd, struct vu_msg *m, int *fds, int *nfds, int maxfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
	struct cmsghdr *cm;
	struct msghdr mh;
	struct iovec iov;
	ssize_t n;
	int rc;

	*nfds = 0;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = &m->hdr;
	iov.iov_len = sizeof(m->hdr);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	do {
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		int k, cnt;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < cnt; k++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + k * sizeof(int), sizeof(f));
			if (*nfds < maxfds)
				fds[(*nfds)++] = f;
			else
				close(f);
		}
	}
	if ((size_t)n < sizeof(m->hdr)) {
		rc = read_full(fd, (char *)&m->hdr + n, sizeof(m->hdr) - n);
		if (rc <= 0)
			return rc == 0 ? -EPIPE : rc;
	}
	if (m->hdr.size > VU_PAYLOAD_MAX)
		return -EMSGSIZE;
	if (m->hdr.size == 0)
		return 1;
	rc = read_full(fd, &m->p, m->hdr.size);
	if (rc == 0)
		return -EPIPE;
	return rc;
}

static void
set_dead(struct vu_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->dead)
		return;
	c->dead = true;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	pthread_cond_broadcast(&c->cond);
}

/*
 * The back-end answers requests strictly in the order it read them and
 * never speaks first on this socket, so every message read here belongs
 * to the oldest outstanding slot; anything else is a protocol error.
 */
static void *
reader_main(void *arg)
{
	struct vu_conn *c = arg;
	struct vu_msg m;
	int fds[VU_MAX_FDS];
	int nfds, rc, k;

	for (;;) {
		memset(&m.hdr, 0, sizeof(m.hdr));
		rc = vu_sock_recv(c->fd, &m, fds, &nfds, VU_MAX_FDS);
		for (k = 0; k < nfds; k++)
			close(fds[k]);
		pthread_mutex_lock(&c->lock);
		if (rc <= 0) {
			if (c->closing)
				set_dead(c, "connection closed by the front-end");
			else if (rc == 0 || rc == -EPIPE || rc == -ECONNRESET)
				set_dead(c, "back-end closed the socket");
			else if (rc == -EMSGSIZE)
				set_dead(c, "back-end sent request %u with oversized payload (%u bytes)",
					 m.hdr.request, m.hdr.size);
			else
				set_dead(c, "read failed: %s", strerror(-rc));
			pthread_mutex_unlock(&c->lock);
			return NULL;
		}
		if (c->head_ticket == c->next_ticket) {
			set_dead(c, "unsolicited message %s (%u, flags 0x%x, %u bytes) on the main socket",
				 vu_req_name(m.hdr.request), m.hdr.request,
				 m.hdr.flags, m.hdr.size);
			pthread_mutex_unlock(&c->lock);
			return NULL;
		}
		struct vu_slot *s = &c->slots[c->head_ticket % VU_SLOTS];

		s->reply = m;
		s->rc = 0;
		if (m.hdr.request != s->req) {
			snprintf(c->err, sizeof(c->err),
				 "reply carries request %s (%u), expected %s",
				 vu_req_name(m.hdr.request), m.hdr.request,
				 vu_req_name(s->req));
			s->rc = -EPROTO;
		} else if (!(m.hdr.flags & VU_FLAG_REPLY) ||
			   (m.hdr.flags & VU_VERSION_MASK) != VU_VERSION) {
			snprintf(c->err, sizeof(c->err),
				 "reply to %s has flags 0x%x (want version 1 and the reply bit)",
				 vu_req_name(s->req), m.hdr.flags);
			s->rc = -EPROTO;
		} else if (s->kind == VU_ACK && m.hdr.size != sizeof(uint64_t)) {
			snprintf(c->err, sizeof(c->err),
				 "ack to %s is %u bytes, expected 8",
				 vu_req_name(s->req), m.hdr.size);
			s->rc = -EPROTO;
		} else if (s->kind == VU_ACK && m.p.u64 != 0) {
			snprintf(c->err, sizeof(c->err),
				 "back-end rejected %s (ack value %llu)",
				 vu_req_name(s->req),
				 (unsigned long long)m.p.u64);
			s->rc = -EREMOTEIO;
		}
		s->done = true;
		c->head_ticket++;
		if (s->rc == -EPROTO) {
			char why[sizeof(c->err)];

			/* set_dead() formats into c->err: not from itself. */
			memcpy(why, c->err, sizeof(why));
			set_dead(c, "%s", why);
		}
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		if (c->dead)
			return NULL;
	}
}

static struct vu_conn *
conn_new(int fd)
{
	struct vu_conn *c = fe_zalloc(sizeof(*c));
	pthread_condattr_t ca;

	c->fd = fd;
	c->next_ticket = 1;
	c->head_ticket = 1;
	c->timeout_ms = 5000;
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&c->reader, NULL, reader_main, c) != 0)
		fe_die("cannot start the main-socket reader thread");
	c->reader_started = true;
	return c;
}

struct vu_conn *
vu_conn_from_fd(int fd)
{
	return conn_new(fd);
}

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

struct vu_conn *
vu_conn_connect(const char *path, unsigned int wait_ms)
{
	uint64_t deadline = fe_now_ns() + (uint64_t)wait_ms * 1000000ull;
	struct sockaddr_un un;
	int fd, err;

	if (sock_addr(path, &un) < 0)
		fe_die("socket path too long: %s", path);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			fe_die("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0)
			return conn_new(fd);
		err = errno;
		close(fd);
		/* The back-end may still be starting: only these are worth a retry. */
		if ((err != ENOENT && err != ECONNREFUSED && err != EAGAIN) ||
		    fe_now_ns() >= deadline)
			fe_die("cannot connect to %s: %s", path, strerror(err));
		usleep(50000);
	}
}

struct vu_conn *
vu_conn_accept(const char *path, unsigned int wait_ms)
{
	struct sockaddr_un un;
	struct pollfd pfd;
	struct stat st;
	int lfd, fd, rc;

	if (sock_addr(path, &un) < 0)
		fe_die("socket path too long: %s", path);
	/* Only ever remove a socket: a typo must not delete a user's file. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		fe_die("socket: %s", strerror(errno));
	if (bind(lfd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
	    listen(lfd, 1) < 0)
		fe_die("cannot listen on %s: %s", path, strerror(errno));
	pfd.fd = lfd;
	pfd.events = POLLIN;
	do {
		rc = poll(&pfd, 1, wait_ms);
	} while (rc < 0 && errno == EINTR);
	if (rc == 0)
		fe_die("no back-end connected to %s within %u ms", path, wait_ms);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		fe_die("accept on %s: %s", path, strerror(errno));
	close(lfd);
	unlink(path);
	return conn_new(fd);
}

void
vu_conn_set_timeout(struct vu_conn *c, unsigned int ms)
{
	struct timeval tv = {
		.tv_sec = ms / 1000,
		.tv_usec = (ms % 1000) * 1000,
	};

	c->timeout_ms = ms;
	/* A back-end that stops reading must not wedge a writer either. */
	if (setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		fe_log("SO_SNDTIMEO: %s", strerror(errno));
}

void
vu_conn_set_reply_ack(struct vu_conn *c, bool on)
{
	pthread_mutex_lock(&c->lock);
	c->reply_ack = on;
	pthread_mutex_unlock(&c->lock);
}

bool
vu_conn_reply_ack(const struct vu_conn *c)
{
	return c->reply_ack;
}

const char *
vu_conn_error(struct vu_conn *c)
{
	return c->err;
}

static void
deadline_ts(struct timespec *ts, unsigned int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int
vu_conn_send(struct vu_conn *c, uint32_t req, const void *payload,
	     uint32_t size, const int *fds, int nfds,
	     enum vu_reply_kind kind, uint64_t *ticket)
{
	struct vu_msg m;
	struct timespec ts;
	bool want;
	int rc;

	if (size > VU_PAYLOAD_MAX)
		return -EINVAL;
	memset(&m.hdr, 0, sizeof(m.hdr));
	m.hdr.request = req;
	m.hdr.flags = VU_VERSION;
	m.hdr.size = size;
	if (size > 0)
		memcpy(&m.p, payload, size);

	pthread_mutex_lock(&c->lock);
	want = kind == VU_DATA || (kind == VU_ACK && c->reply_ack);
	if (kind == VU_ACK && c->reply_ack)
		m.hdr.flags |= VU_FLAG_NEED_REPLY;
	*ticket = 0;
	if (want) {
		deadline_ts(&ts, c->timeout_ms);
		/* A slot is reusable once its waiter has collected it. */
		while (!c->dead && c->slots[c->next_ticket % VU_SLOTS].ticket != 0) {
			if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT) {
				snprintf(c->err, sizeof(c->err),
					 "%d replies outstanding, none arrived",
					 VU_SLOTS);
				pthread_mutex_unlock(&c->lock);
				return -ETIMEDOUT;
			}
		}
	}
	if (c->dead) {
		pthread_mutex_unlock(&c->lock);
		return -EPIPE;
	}
	rc = vu_sock_send(c->fd, &m, fds, nfds);
	if (rc < 0) {
		set_dead(c, "write of %s failed: %s", vu_req_name(req),
			 rc == -EAGAIN ? "back-end stopped reading" : strerror(-rc));
		pthread_mutex_unlock(&c->lock);
		return -EPIPE;
	}
	if (want) {
		struct vu_slot *s = &c->slots[c->next_ticket % VU_SLOTS];

		memset(s, 0, sizeof(*s) - sizeof(s->reply));
		s->ticket = c->next_ticket;
		s->req = req;
		s->kind = kind;
		*ticket = c->next_ticket++;
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int
vu_conn_wait(struct vu_conn *c, uint64_t ticket, struct vu_msg *reply)
{
	struct vu_slot *s = &c->slots[ticket % VU_SLOTS];
	struct timespec ts;
	int rc = 0;

	if (ticket == 0)
		return 0;
	deadline_ts(&ts, c->timeout_ms);
	pthread_mutex_lock(&c->lock);
	while (!s->done && !c->dead) {
		if (pthread_cond_timedwait(&c->cond, &c->lock, &ts) == ETIMEDOUT &&
		    !s->done) {
			snprintf(c->err, sizeof(c->err),
				 "no reply to %s within %u ms",
				 vu_req_name(s->req), c->timeout_ms);
			/*
			 * The slot stays owed: should the reply turn up late,
			 * the reader still pairs it with the right request.
			 */
			pthread_mutex_unlock(&c->lock);
			return -ETIMEDOUT;
		}
	}
	if (s->done) {
		rc = s->rc;
		if (reply != NULL)
			*reply = s->reply;
		s->ticket = 0;
		s->done = false;
		pthread_cond_broadcast(&c->cond);
	} else {
		rc = -EPIPE;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void
vu_conn_fail(struct vu_conn *c, uint32_t req, const char *what, int rc)
{
	fe_die("%s%s%s failed: %s (%s)", vu_req_name(req),
	       what != NULL ? " " : "", what != NULL ? what : "",
	       c->err[0] != '\0' ? c->err : strerror(-rc),
	       rc == -ETIMEDOUT ? "timeout" :
	       rc == -EPIPE ? "connection lost" :
	       rc == -EREMOTEIO ? "negative ack" : "protocol error");
}

void
vu_call(struct vu_conn *c, uint32_t req, const void *payload, uint32_t size,
	const int *fds, int nfds, enum vu_reply_kind kind,
	struct vu_msg *reply, const char *what)
{
	uint64_t t;
	int rc;

	rc = vu_conn_send(c, req, payload, size, fds, nfds, kind, &t);
	if (rc == 0)
		rc = vu_conn_wait(c, t, reply);
	if (rc < 0)
		vu_conn_fail(c, req, what, rc);
}

void
vu_conn_close(struct vu_conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->closing = true;
	pthread_mutex_unlock(&c->lock);
	shutdown(c->fd, SHUT_RDWR);
	if (c->reader_started)
		pthread_join(c->reader, NULL);
	close(c->fd);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
