/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_lcore.h>

#include "ctrl.h"
#include "socket.h"
#include "vhost.h"

enum ev_kind {
	EV_LISTEN = 1,		/* server socket: accept */
	EV_CONNECTING,		/* client connect in progress */
	EV_CONN,		/* front-end connection */
	EV_BACKEND,		/* back-end channel */
	EV_MISS,		/* poll threads reported IOTLB misses */
};

/** Bytes of unsent replies a connection may hold before it is dropped. */
#define CONN_TXBUF (4 * sizeof(struct vhu_msg))

/** A front-end connection: the message being assembled, unsent replies. */
struct iovh_conn {
	int fd;
	struct vhu_msg msg;	/* header + payload as they arrive */
	size_t have;		/* bytes of msg received so far */
	uint64_t partial_since;	/* ms; 0 when no message is half-read */
	uint8_t tx[CONN_TXBUF];
	size_t txlen;
	uint64_t tx_since;	/* ms; 0 when tx is empty */
};

static pthread_mutex_t ctrl_mutex = PTHREAD_MUTEX_INITIALIZER;
static int epfd = -1;
static pthread_t ctrl_tid;
static int ctrl_running;
static int ctrl_stop;
static struct iovh_dev *devs;		/* served devices */
static struct iovh_dev *zombies;	/* removed, freed next iteration */

uint64_t
iovh_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
iovh_ctrl_lock(void)
{
	pthread_mutex_lock(&ctrl_mutex);
}

void
iovh_ctrl_unlock(void)
{
	pthread_mutex_unlock(&ctrl_mutex);
}

static int
ev_add(struct iovh_ev *ev, int fd, uint8_t kind, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	ev->fd = fd;
	ev->kind = kind;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
		ev->fd = -1;
		return -errno;
	}
	return 0;
}

static void
ev_mod(struct iovh_ev *ev, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	epoll_ctl(epfd, EPOLL_CTL_MOD, ev->fd, &e);
}

/* Unregister before the fd is closed, so no later epoll_wait returns it. */
static void
ev_del(struct iovh_ev *ev)
{
	if (ev->fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, ev->fd, NULL);
	ev->fd = -1;
}

/* ---- connections ---- */

static void
conn_attach(struct iovh_dev *dev, int fd)
{
	struct iovh_conn *c;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		IOVH_LOG_CONFIG(ERR, "(%s) no memory for a connection", dev->path);
		close(fd);
		return;
	}
	c->fd = fd;
	if (ev_add(&dev->ev_conn, fd, EV_CONN, EPOLLIN | EPOLLRDHUP) < 0) {
		IOVH_LOG_CONFIG(ERR, "(%s) epoll: %s", dev->path, strerror(errno));
		close(fd);
		free(c);
		return;
	}
	dev->conn = c;
	dev->connections++;
	dev->reconnect_ms = IOVH_RECONNECT_MIN_MS;
	IOVH_LOG_CONFIG(INFO, "(%s) front-end connected (fd %d)", dev->path, fd);
}

static void
client_schedule(struct iovh_dev *dev)
{
	dev->reconnect_at = iovh_now_ms() + dev->reconnect_ms;
	dev->reconnect_ms *= 2;
	if (dev->reconnect_ms > IOVH_RECONNECT_MAX_MS)
		dev->reconnect_ms = IOVH_RECONNECT_MAX_MS;
}

static void
client_try(struct iovh_dev *dev)
{
	int fd, inprog;

	dev->reconnect_at = 0;
	fd = iovh_sock_connect(dev->path, &inprog);
	if (fd < 0) {
		IOVH_LOG_CONFIG(DEBUG, "(%s) connect: %s; retrying",
				dev->path, strerror(-fd));
		client_schedule(dev);
		return;
	}
	if (!inprog) {
		conn_attach(dev, fd);
		return;
	}
	if (ev_add(&dev->ev_listen, fd, EV_CONNECTING, EPOLLOUT) < 0) {
		close(fd);
		client_schedule(dev);
	}
}

void
iovh_ctrl_close_backend(struct iovh_dev *dev)
{
	if (dev->backend_fd < 0)
		return;
	ev_del(&dev->ev_backend);
	close(dev->backend_fd);
	dev->backend_fd = -1;
}

int
iovh_ctrl_watch_backend(struct iovh_dev *dev)
{
	return ev_add(&dev->ev_backend, dev->backend_fd, EV_BACKEND,
			EPOLLIN | EPOLLRDHUP);
}

void
iovh_ctrl_disconnect(struct iovh_dev *dev, const char *why)
{
	struct iovh_conn *c = dev->conn;

	if (c == NULL)
		return;
	IOVH_LOG_CONFIG(INFO, "(%s) front-end disconnected: %s", dev->path, why);
	ev_del(&dev->ev_conn);
	close(c->fd);
	iovh_close_fds(c->msg.fds, c->msg.nfds);
	free(c);
	dev->conn = NULL;
	iovh_dev_reset(dev);
	iovh_ctrl_close_backend(dev);
	if ((dev->flags & IOVH_F_CLIENT) && !dev->destroying)
		client_schedule(dev);
}

/* Queue bytes for the front-end; sends what it can now. */
static int
conn_send(struct iovh_dev *dev, const void *buf, size_t len)
{
	struct iovh_conn *c = dev->conn;
	ssize_t n = 0;

	if (c->txlen == 0) {
		n = iovh_sock_send(c->fd, buf, len, NULL, 0);
		if (n < 0 && n != -EAGAIN) {
			iovh_ctrl_disconnect(dev, "send failed");
			return -1;
		}
		if (n < 0)
			n = 0;
		if ((size_t)n == len)
			return 0;
	}
	if (c->txlen + len - n > sizeof(c->tx)) {
		iovh_ctrl_disconnect(dev, "front-end does not read its replies");
		return -1;
	}
	memcpy(c->tx + c->txlen, (const uint8_t *)buf + n, len - n);
	c->txlen += len - n;
	if (c->tx_since == 0)
		c->tx_since = iovh_now_ms();
	ev_mod(&dev->ev_conn, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
	return 0;
}

static void
conn_flush(struct iovh_dev *dev)
{
	struct iovh_conn *c = dev->conn;
	ssize_t n;

	if (c->txlen == 0)
		return;
	n = iovh_sock_send(c->fd, c->tx, c->txlen, NULL, 0);
	if (n == -EAGAIN)
		return;
	if (n < 0) {
		iovh_ctrl_disconnect(dev, "send failed");
		return;
	}
	memmove(c->tx, c->tx + n, c->txlen - n);
	c->txlen -= n;
	if (c->txlen == 0) {
		c->tx_since = 0;
		ev_mod(&dev->ev_conn, EPOLLIN | EPOLLRDHUP);
	}
}

/* One complete message: run it, answer it. */
static void
conn_dispatch(struct iovh_dev *dev)
{
	struct iovh_conn *c = dev->conn;
	struct vhu_msg reply;
	int has_reply = 0;
	enum iovh_msg_result r;

	c->partial_since = 0;
	c->have = 0;
	r = iovh_msg_handle(dev, &c->msg, &reply, &has_reply);
	c->msg.nfds = 0;
	if (r == IOVH_MSG_CLOSE) {
		iovh_ctrl_disconnect(dev, "protocol error");
		return;
	}
	if (has_reply)
		conn_send(dev, &reply, VHU_HDR_SIZE + reply.hdr.size);
}

/*
 * Read what is there without blocking. A message may arrive in any number
 * of pieces; the descriptors that come with any piece belong to the message
 * being assembled.
 */
static void
conn_read(struct iovh_dev *dev)
{
	struct iovh_conn *c;
	int fds[VHU_MAX_FDS];
	int nfds, i;
	ssize_t n;
	size_t want;

	/* Bounded: a peer that floods us yields to the other devices. */
	for (i = 0; i < 64 && dev->conn != NULL; i++) {
		c = dev->conn;
		if (c->have < VHU_HDR_SIZE)
			want = VHU_HDR_SIZE - c->have;
		else
			want = VHU_HDR_SIZE + c->msg.hdr.size - c->have;
		n = iovh_sock_recv(c->fd, (uint8_t *)&c->msg + c->have, want,
				fds, &nfds, VHU_MAX_FDS - c->msg.nfds);
		if (n == -EAGAIN)
			return;
		if (n == -EBADMSG) {
			iovh_ctrl_disconnect(dev, "too many file descriptors");
			return;
		}
		if (n < 0) {
			iovh_ctrl_disconnect(dev, strerror((int)-n));
			return;
		}
		if (n == 0) {
			iovh_ctrl_disconnect(dev, "peer closed the socket");
			return;
		}
		memcpy(&c->msg.fds[c->msg.nfds], fds, nfds * sizeof(int));
		c->msg.nfds += nfds;
		if (c->have == 0)
			c->partial_since = iovh_now_ms();
		c->have += n;
		if (c->have == VHU_HDR_SIZE) {
			if (c->msg.hdr.size > VHU_MAX_PAYLOAD) {
				IOVH_LOG_CONFIG(ERR,
					"(%s) %s: payload size %u exceeds %zu",
					dev->path,
					iovh_msg_name(c->msg.hdr.request),
					c->msg.hdr.size, VHU_MAX_PAYLOAD);
				iovh_ctrl_disconnect(dev, "oversized message");
				return;
			}
		}
		if (c->have >= VHU_HDR_SIZE &&
				c->have == VHU_HDR_SIZE + c->msg.hdr.size)
			conn_dispatch(dev);
	}
}

static void
conn_event(struct iovh_dev *dev, uint32_t events)
{
	if (dev->conn == NULL)
		return;
	if (events & EPOLLOUT)
		conn_flush(dev);
	if (dev->conn != NULL && (events & (EPOLLIN | EPOLLHUP | EPOLLERR |
			EPOLLRDHUP)))
		conn_read(dev);
}

static void
listen_event(struct iovh_dev *dev)
{
	int fd;

	fd = accept4(dev->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (dev->conn != NULL) {
		/* One front-end at a time; the second one is told at once. */
		IOVH_LOG_CONFIG(WARNING,
			"(%s) refused a second front-end: one is connected",
			dev->path);
		close(fd);
		return;
	}
	conn_attach(dev, fd);
}

static void
connecting_event(struct iovh_dev *dev)
{
	int fd = dev->ev_listen.fd, err = 0;
	socklen_t len = sizeof(err);

	ev_del(&dev->ev_listen);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
		close(fd);
		client_schedule(dev);
		return;
	}
	conn_attach(dev, fd);
}

/* Replies to our back-end requests; nothing we send asks for one yet. */
static void
backend_event(struct iovh_dev *dev, uint32_t events)
{
	uint8_t buf[256];
	int fds[VHU_MAX_FDS], nfds;
	ssize_t n;

	n = iovh_sock_recv(dev->backend_fd, buf, sizeof(buf), fds, &nfds,
			VHU_MAX_FDS);
	if (n > 0) {
		iovh_close_fds(fds, nfds);
		return;
	}
	if (n == -EAGAIN && !(events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
		return;
	IOVH_LOG_CONFIG(INFO, "(%s) back-end channel closed by the front-end",
			dev->path);
	iovh_ctrl_close_backend(dev);
}

static int
send_miss(struct iovh_dev *dev, uint64_t iova, uint8_t perm)
{
	struct vhu_msg m;
	int rc;

	memset(&m, 0, sizeof(m));
	m.hdr.request = VHU_BACKEND_IOTLB_MSG;
	m.hdr.flags = VHU_VERSION;
	m.hdr.size = sizeof(m.payload.iotlb);
	m.payload.iotlb.iova = iova;
	m.payload.iotlb.perm = perm;
	m.payload.iotlb.type = VHU_IOTLB_MISS;
	rc = iovh_ctrl_backend_send(dev, &m);
	/* Every MISS that went out, re-sends included; not the ones a full
	 * or missing channel refused (they are tried again). Single writer:
	 * a plain increment, published for iovh_dev_stats_get(). */
	if (rc == 0)
		__atomic_store_n(&dev->misses_sent, dev->misses_sent + 1,
				__ATOMIC_RELAXED);
	return rc;
}

void
iovh_ctrl_request_miss(struct iovh_dev *dev, uint64_t iova, uint8_t perm)
{
	uint64_t page = iova & ~((1ULL << IOTLB_PAGE_SHIFT) - 1);
	uint64_t now = iovh_now_ms();
	uint32_t i, oldest = 0;
	int rc;

	for (i = 0; i < dev->npending; i++) {
		if (dev->pending[i].iova == page &&
				(dev->pending[i].perm & perm) == perm) {
			if (now - dev->pending[i].sent_ms < IOVH_MISS_RESEND_MS)
				return;
			break;
		}
		if (dev->pending[i].sent_ms < dev->pending[oldest].sent_ms)
			oldest = i;
	}
	if (i == dev->npending) {
		if (dev->npending < RTE_DIM(dev->pending))
			dev->npending++;
		else
			i = oldest;
	}
	dev->pending[i].iova = page;
	dev->pending[i].perm = perm;
	dev->pending[i].sent_ms = now;
	rc = send_miss(dev, iova, perm);
	/* Not sent (channel full or gone): try again at the next report. */
	if (rc < 0)
		dev->pending[i].sent_ms = 0;
	IOVH_LOG_CONFIG(DEBUG, "(%s) IOTLB miss 0x%" PRIx64 " perm %u sent: %d",
			dev->path, iova, perm, rc);
}

/* Bucket of struct iovh_vq_stats.miss_lat for @p cycles (see iovhost.h). */
static unsigned int
miss_lat_bucket(uint64_t cycles)
{
	uint64_t per_us = rte_get_tsc_hz() / 1000000;
	uint64_t us = cycles / (per_us ? per_us : 1);
	unsigned int b;

	if (us == 0)
		return 0;
	/* us in [2^(b-1), 2^b) */
	b = 64 - __builtin_clzll(us);
	return RTE_MIN(b, IOVH_MISS_LAT_BUCKETS - 1u);
}

/*
 * Time a poll-thread miss from now on: one entry per page and queue, the
 * earliest report kept (a re-report of a miss still unanswered is the
 * same miss). A full table forgets its oldest entry: that miss then goes
 * uncounted, which is better than a wrong latency.
 */
static void
miss_lat_note(struct iovh_dev *dev, uint16_t vq, const struct iovh_miss *m)
{
	uint64_t page = m->iova & ~((1ULL << IOTLB_PAGE_SHIFT) - 1);
	uint32_t i, oldest = 0;

	for (i = 0; i < dev->nlat_wait; i++) {
		if (dev->lat_wait[i].iova == page && dev->lat_wait[i].vq == vq) {
			dev->lat_wait[i].perm |= m->perm;
			if ((int64_t)(m->tsc - dev->lat_wait[i].tsc) < 0)
				dev->lat_wait[i].tsc = m->tsc;
			return;
		}
		if ((int64_t)(dev->lat_wait[i].tsc -
				dev->lat_wait[oldest].tsc) < 0)
			oldest = i;
	}
	if (i == RTE_DIM(dev->lat_wait))
		i = oldest;
	else
		dev->nlat_wait++;
	dev->lat_wait[i].iova = page;
	dev->lat_wait[i].tsc = m->tsc;
	dev->lat_wait[i].vq = vq;
	dev->lat_wait[i].perm = m->perm;
}

/* Whether the table maps @p iova for an access of kind @p perm. */
static bool
iotlb_allows(const struct iovh_dev *dev, uint64_t iova, uint8_t perm);

/*
 * An UPDATE of [iova, last] was just applied: the misses it resolved go
 * into their queue's histogram. The control thread is the only writer of
 * miss_lat, so a plain increment is enough; relaxed stores keep readers
 * (iovh_vq_stats_get) from seeing a torn value.
 */
static void
miss_lat_answered(struct iovh_dev *dev, uint64_t iova, uint64_t last)
{
	uint64_t now = rte_get_tsc_cycles();
	uint32_t i = 0;

	while (i < dev->nlat_wait) {
		uint64_t page = dev->lat_wait[i].iova;

		if (page >= iova && page <= last &&
				iotlb_allows(dev, page, dev->lat_wait[i].perm)) {
			uint64_t *c = &dev->vq[dev->lat_wait[i].vq]->stats
				.miss_lat[miss_lat_bucket(now -
					dev->lat_wait[i].tsc)];

			__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
			dev->lat_wait[i] = dev->lat_wait[--dev->nlat_wait];
		} else {
			i++;
		}
	}
}

/* Stop timing misses never answered (as pending misses are given up). */
static void
miss_lat_expire(struct iovh_dev *dev)
{
	uint64_t now = rte_get_tsc_cycles();
	uint64_t limit = rte_get_tsc_hz() / 1000 * IOVH_MISS_GIVEUP_MS;
	uint32_t i = 0;

	while (i < dev->nlat_wait) {
		if (now - dev->lat_wait[i].tsc > limit)
			dev->lat_wait[i] = dev->lat_wait[--dev->nlat_wait];
		else
			i++;
	}
}

void
iovh_ctrl_misses_answered(struct iovh_dev *dev, uint64_t iova, uint64_t last)
{
	uint32_t i = 0;

	miss_lat_answered(dev, iova, last);

	while (i < dev->npending) {
		if (dev->pending[i].iova >= iova && dev->pending[i].iova <= last) {
			uint32_t k = dev->answered_pos++ % RTE_DIM(dev->answered);

			dev->answered[k].iova = dev->pending[i].iova;
			dev->answered[k].seq = dev->iotlb_seq;
			dev->pending[i] = dev->pending[--dev->npending];
		} else {
			i++;
		}
	}
}

/* Whether the table maps @p iova for an access of kind @p perm. */
static bool
iotlb_allows(const struct iovh_dev *dev, uint64_t iova, uint8_t perm)
{
	const struct iovh_iotlb_map *m;
	uint64_t bl;

	m = iovh_iotlb_find(&dev->iotlb, iova, &bl);
	return m != NULL && (m->perm & perm) == perm;
}

/* Was this miss answered after the poll thread saw it? */
static bool
miss_stale(const struct iovh_dev *dev, const struct iovh_miss *m)
{
	uint64_t page = m->iova & ~((1ULL << IOTLB_PAGE_SHIFT) - 1);
	unsigned int i;

	for (i = 0; i < RTE_DIM(dev->answered); i++)
		if (dev->answered[i].iova == page &&
				(int32_t)(dev->answered[i].seq - m->seq) > 0)
			return true;
	return false;
}

/* Misses the poll threads queued: hand each to the front-end once. */
static void
miss_drain(struct iovh_dev *dev)
{
	unsigned int q;

	for (q = 0; q < dev->max_queue_pairs * 2u; q++) {
		struct iovh_vq *vq = dev->vq[q];
		uint32_t head, tail = vq->miss_tail;

again:
		head = __atomic_load_n(&vq->miss_head, __ATOMIC_ACQUIRE);
		for (; tail != head; tail++) {
			const struct iovh_miss *m = &vq->miss[tail % IOVH_MISS_RING];

			/* Answered while it waited in the ring? */
			if (!iotlb_allows(dev, m->iova, m->perm) &&
					!miss_stale(dev, m)) {
				/* A look-ahead's miss blocks nothing yet: the
				 * histogram times blocked accesses only. */
				if (!m->ahead)
					miss_lat_note(dev, q, m);
				iovh_ctrl_request_miss(dev, m->iova, m->perm);
			}
		}
		/* Release: we are done reading the slots we hand back. */
		__atomic_store_n(&vq->miss_tail, tail, __ATOMIC_RELEASE);
		/*
		 * A report that arrived after our load of miss_head saw a
		 * non-empty ring and did not ring the eventfd: look again, or
		 * it (and every report after it) would wait forever. The full
		 * fence orders our tail store before the head re-load, against
		 * the producer's head store before its tail load.
		 */
		rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&vq->miss_head, __ATOMIC_ACQUIRE) != tail)
			goto again;
	}
}

static void
miss_event(struct iovh_dev *dev)
{
	uint64_t v;

	if (read(dev->miss_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return;
	miss_drain(dev);
}

/* Resend what is still unanswered; give up on what never will be. */
static void
miss_tick(struct iovh_dev *dev, uint64_t now)
{
	uint32_t i = 0;
	unsigned int q;
	bool more = false;
	
	/* Belt and braces: nothing may sit in a miss ring for long. */
	if (dev->miss_efd >= 0)
		miss_drain(dev);
	miss_lat_expire(dev);
	/* Rings waiting for a mapping: ask again (de-duplicated). */
	for (q = 0; q < dev->max_queue_pairs * 2u; q++) {
		struct iovh_vq *vq = dev->vq[q];

		if (vq->ring_wait) {
			iovh_vq_translate_rings(dev, vq);
			more |= vq->desc != NULL;
		}
	}
	if (more)
		iovh_dev_update_ready(dev);

	while (i < dev->npending) {
		uint64_t age = now - dev->pending[i].sent_ms;

		if (iotlb_allows(dev, dev->pending[i].iova,
				dev->pending[i].perm) || age > IOVH_MISS_GIVEUP_MS) {
			dev->pending[i] = dev->pending[--dev->npending];
			continue;
		}
		i++;
	}
}

int
iovh_ctrl_backend_send(struct iovh_dev *dev, const struct vhu_msg *msg)
{
	ssize_t n;

	if (dev->backend_fd < 0)
		return -ENOTCONN;
	n = iovh_sock_send(dev->backend_fd, msg, VHU_HDR_SIZE + msg->hdr.size,
			NULL, 0);
	if (n < 0)
		return (int)n;
	if ((size_t)n != VHU_HDR_SIZE + msg->hdr.size) {
		/* A torn message corrupts the channel for good. */
		IOVH_LOG_CONFIG(ERR, "(%s) back-end channel full mid-message",
				dev->path);
		iovh_ctrl_close_backend(dev);
		return -EIO;
	}
	return 0;
}

/*
 * A backlog may be waiting for its poll thread to go idle (see
 * iovh_backlogs_complete()): look again every millisecond rather than at
 * the next tick, so that a front-end that sends nothing more until it
 * received (flow control) is not held up for 100 ms. For a while only
 * (BACKLOG_WATCH_MS after the last event): a backlog that stays, because
 * the front-end posts no buffers, is left to the tick. Control thread.
 */
#define BACKLOG_WATCH_MS 50
static unsigned int backlog_watch;

static void
backlogs_recheck(bool event)
{
	struct iovh_dev *dev;
	bool left = false;

	for (dev = devs; dev != NULL; dev = dev->next)
		if (!dev->destroying && dev->conn != NULL)
			left |= iovh_backlogs_complete(dev, false);
	if (!left)
		backlog_watch = 0;
	else if (event)
		backlog_watch = BACKLOG_WATCH_MS;
	else if (backlog_watch > 0)
		backlog_watch--;
}

/* Timers: reconnects, and peers that stall mid-message or stop reading. */
static void
ctrl_tick(void)
{
	uint64_t now = iovh_now_ms();
	struct iovh_dev *dev;

	for (dev = devs; dev != NULL; dev = dev->next) {
		struct iovh_conn *c = dev->conn;

		if (c != NULL && c->partial_since != 0 &&
				now - c->partial_since > IOVH_PEER_TIMEOUT_MS)
			iovh_ctrl_disconnect(dev,
				"message left incomplete for too long");
		if (__atomic_load_n(&dev->mem_fault, __ATOMIC_ACQUIRE)) {
			dev->mem_fault = 0;
			iovh_ctrl_disconnect(dev, "guest memory was truncated "
				"under us (SIGBUS caught)");
		}
		miss_tick(dev, now);
		if (iovh_backlogs_complete(dev, false) && backlog_watch == 0)
			backlog_watch = 1;
		c = dev->conn;
		if (c != NULL && c->tx_since != 0 &&
				now - c->tx_since > IOVH_PEER_TIMEOUT_MS)
			iovh_ctrl_disconnect(dev,
				"front-end stopped reading replies");
		if ((dev->flags & IOVH_F_CLIENT) && dev->conn == NULL &&
				dev->ev_listen.fd < 0 && dev->reconnect_at != 0 &&
				now >= dev->reconnect_at)
			client_try(dev);
	}
}

static void
free_zombies(void)
{
	struct iovh_dev *dev;

	while ((dev = zombies) != NULL) {
		zombies = dev->next;
		iovh_dev_free(dev);
	}
}

static void *
ctrl_thread(void *arg __rte_unused)
{
	struct epoll_event evs[32];
	uint64_t last_tick = 0;
	int n, i;

	for (;;) {
		iovh_ctrl_lock();
		free_zombies();
		if (ctrl_stop) {
			iovh_ctrl_unlock();
			break;
		}
		iovh_ctrl_unlock();

		n = epoll_wait(epfd, evs, RTE_DIM(evs), backlog_watch ? 1 : 100);

		iovh_ctrl_lock();
		for (i = 0; i < n; i++) {
			struct iovh_ev *ev = evs[i].data.ptr;
			struct iovh_dev *dev = ev->dev;

			/* Unregistered after this batch was fetched. */
			if (ev->fd < 0 || dev->destroying)
				continue;
			switch (ev->kind) {
			case EV_LISTEN:
				listen_event(dev);
				break;
			case EV_CONNECTING:
				connecting_event(dev);
				break;
			case EV_CONN:
				conn_event(dev, evs[i].events);
				break;
			case EV_BACKEND:
				backend_event(dev, evs[i].events);
				break;
			case EV_MISS:
				miss_event(dev);
				break;
			}
		}
		/* A miss or a message may have left packets in a backlog. */
		if (n > 0 || backlog_watch > 0)
			backlogs_recheck(n > 0);
		if (iovh_now_ms() - last_tick >= 100) {
			ctrl_tick();
			last_tick = iovh_now_ms();
		}
		iovh_ctrl_unlock();
	}
	return NULL;
}

int
iovh_ctrl_add(struct iovh_dev *dev)
{
	int rc;

	if (epfd < 0) {
		epfd = epoll_create1(EPOLL_CLOEXEC);
		if (epfd < 0)
			return -errno;
	}
	dev->ev_listen.dev = dev;
	dev->ev_conn.dev = dev;
	dev->ev_backend.dev = dev;
	dev->ev_miss.dev = dev;
	dev->ev_miss.fd = -1;
	if (dev->miss_efd >= 0) {
		rc = ev_add(&dev->ev_miss, dev->miss_efd, EV_MISS, EPOLLIN);
		if (rc < 0)
			return rc;
	}
	dev->ev_conn.fd = -1;
	dev->ev_backend.fd = -1;
	dev->ev_listen.fd = -1;
	dev->reconnect_ms = IOVH_RECONNECT_MIN_MS;
	if (dev->flags & IOVH_F_CLIENT) {
		client_try(dev);
	} else {
		rc = ev_add(&dev->ev_listen, dev->listen_fd, EV_LISTEN, EPOLLIN);
		if (rc < 0)
			return rc;
	}
	dev->next = devs;
	devs = dev;
	if (!ctrl_running) {
		ctrl_stop = 0;
		rc = rte_ctrl_thread_create(&ctrl_tid, "iovh-ctrl", NULL,
				ctrl_thread, NULL);
		if (rc != 0) {
			devs = dev->next;
			ev_del(&dev->ev_listen);
			return -rc;
		}
		ctrl_running = 1;
	}
	return 0;
}

void
iovh_ctrl_remove(struct iovh_dev *dev)
{
	struct iovh_dev **pp;

	dev->destroying = 1;
	ev_del(&dev->ev_miss);
	iovh_ctrl_disconnect(dev, "device destroyed");
	/* State set up without a connection (tests, or a half-open one). */
	iovh_dev_reset(dev);
	iovh_ctrl_close_backend(dev);
	if (dev->ev_listen.fd >= 0) {
		int fd = dev->ev_listen.fd;

		ev_del(&dev->ev_listen);
		if (fd != dev->listen_fd)
			close(fd);	/* a client connect in progress */
	}
	if (dev->listen_fd >= 0) {
		close(dev->listen_fd);
		dev->listen_fd = -1;
		unlink(dev->path);
	}
	for (pp = &devs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == dev) {
			*pp = dev->next;
			break;
		}
	}
	dev->next = zombies;
	zombies = dev;
	if (devs == NULL && ctrl_running) {
		/* Last device: let the thread free it and exit. */
		ctrl_stop = 1;
		ctrl_running = 0;
		iovh_ctrl_unlock();
		pthread_join(ctrl_tid, NULL);
		iovh_ctrl_lock();
		free_zombies();
		close(epfd);
		epfd = -1;
	}
}
