/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bchan.h"
#include "util.h"
#include "vu_conn.h"

int
bchan_open(struct bchan *b, struct iotlb *tlb)
{
	int sv[2];

	memset(b, 0, sizeof(*b));
	b->tlb = tlb;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	b->fd = sv[0];
	b->peer_fd = sv[1];
	return 0;
}

static void
reply(struct bchan *b, const struct vu_msg *req, uint64_t val)
{
	struct vu_msg r;

	memset(&r, 0, sizeof(r.hdr) + sizeof(uint64_t));
	r.hdr.request = req->hdr.request;
	r.hdr.flags = VU_VERSION | VU_FLAG_REPLY;
	r.hdr.size = sizeof(uint64_t);
	r.p.u64 = val;
	if (vu_sock_send(b->fd, &r, NULL, 0) < 0)
		fe_log("back-end channel: reply to request %u failed",
		       req->hdr.request);
}

static void *
bchan_main(void *arg)
{
	struct bchan *b = arg;
	int fds[VU_MAX_FDS], nfds, rc, k;
	struct vu_msg m;

	for (;;) {
		rc = vu_sock_recv(b->fd, &m, fds, &nfds, VU_MAX_FDS);
		for (k = 0; k < nfds; k++)
			close(fds[k]);
		if (rc <= 0) {
			if (!b->stopping) {
				b->closed_early = true;
				fe_log("back-end channel: %s",
				       rc == 0 ? "closed by the back-end" :
				       strerror(-rc));
			}
			return NULL;
		}
		if ((m.hdr.flags & VU_VERSION_MASK) != VU_VERSION ||
		    (m.hdr.flags & VU_FLAG_REPLY)) {
			b->bad_msgs++;
			fe_log("back-end channel: request %u with bad flags 0x%x",
			       m.hdr.request, m.hdr.flags);
			continue;
		}
		if (m.hdr.request == VU_BACKEND_IOTLB_MSG &&
		    m.hdr.size >= sizeof(struct vu_iotlb) &&
		    m.p.iotlb.type == VU_IOTLB_MISS) {
			iotlb_handle_miss(b->tlb, &m.p.iotlb);
			if (m.hdr.flags & VU_FLAG_NEED_REPLY)
				reply(b, &m, 0);
			continue;
		}
		if (m.hdr.request == VU_BACKEND_IOTLB_MSG) {
			b->bad_msgs++;
			fe_log("back-end channel: IOTLB message type %u, size %u (only MISS is valid)",
			       m.hdr.size >= sizeof(struct vu_iotlb) ?
			       m.p.iotlb.type : 0, m.hdr.size);
		} else {
			b->other_reqs++;
			fe_dbg("back-end channel: request %u ignored",
			       m.hdr.request);
		}
		if (m.hdr.flags & VU_FLAG_NEED_REPLY)
			reply(b, &m, 1);
	}
}

void
bchan_start(struct bchan *b)
{
	/* The back-end holds its own copy now. */
	close(b->peer_fd);
	b->peer_fd = -1;
	if (pthread_create(&b->thread, NULL, bchan_main, b) != 0)
		fe_die("cannot start the back-end channel thread");
	b->running = true;
}

void
bchan_stop(struct bchan *b)
{
	b->stopping = true;
	if (b->fd >= 0)
		shutdown(b->fd, SHUT_RDWR);
	if (b->running)
		pthread_join(b->thread, NULL);
	b->running = false;
	if (b->fd >= 0)
		close(b->fd);
	if (b->peer_fd >= 0)
		close(b->peer_fd);
	b->fd = b->peer_fd = -1;
}
