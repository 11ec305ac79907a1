/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <inttypes.h>
#include <string.h>

#include "session.h"
#include "util.h"

static uint64_t
get_u64(struct session *s, uint32_t req)
{
	struct vu_msg r;

	vu_call(s->conn, req, NULL, 0, NULL, 0, VU_DATA, &r, NULL);
	if (r.hdr.size != sizeof(uint64_t))
		fe_die("%s: reply is %u bytes, expected 8", vu_req_name(req),
		       r.hdr.size);
	return r.p.u64;
}

static void
set_u64(struct session *s, uint32_t req, uint64_t v, const int *fds, int nfds,
	const char *what)
{
	vu_call(s->conn, req, &v, sizeof(v), fds, nfds, VU_ACK, NULL, what);
}

static void
set_status(struct session *s, uint8_t st)
{
	if (!(s->pfeatures & BIT64(VU_PF_STATUS)))
		return;
	s->status = st;
	set_u64(s, VU_SET_STATUS, st, NULL, 0, NULL);
}

static void
need(bool cond, const char *fmt, const char *what)
{
	if (!cond)
		fe_die(fmt, what);
}

void
session_negotiate(struct session *s, const struct fe_opts *o,
		  struct iotlb *tlb)
{
	bool iommu = o->iommu != IOMMU_OFF;
	uint64_t want, pwant;

	s->dev_features = get_u64(s, VU_GET_FEATURES);
	need(s->dev_features & BIT64(VIRTIO_F_VERSION_1),
	     "back-end does not offer %s", "VERSION_1");
	if (iommu)
		need(s->dev_features & BIT64(VIRTIO_F_IOMMU_PLATFORM),
		     "--iommu needs IOMMU_PLATFORM, which the back-end does not offer "
		     "(DPDK net_vhost: iommu-support=1); use %s", "--iommu off");

	want = BIT64(VIRTIO_F_VERSION_1) | BIT64(VU_F_PROTOCOL_FEATURES) |
	       BIT64(VIRTIO_NET_F_MQ);
	if (o->mrg)
		want |= BIT64(VIRTIO_NET_F_MRG_RXBUF);
	if (o->event_idx)
		want |= BIT64(VIRTIO_F_EVENT_IDX);
	if (iommu)
		want |= BIT64(VIRTIO_F_IOMMU_PLATFORM);
	s->features = want & s->dev_features;
	if (o->mrg && !(s->features & BIT64(VIRTIO_NET_F_MRG_RXBUF)))
		fe_log("note: back-end does not offer MRG_RXBUF");
	if (o->event_idx && !(s->features & BIT64(VIRTIO_F_EVENT_IDX)))
		fe_log("note: back-end does not offer EVENT_IDX");

	s->queue_num = 1;
	if (s->features & BIT64(VU_F_PROTOCOL_FEATURES)) {
		s->dev_pfeatures = get_u64(s, VU_GET_PROTOCOL_FEATURES);
		pwant = BIT64(VU_PF_REPLY_ACK) | BIT64(VU_PF_BACKEND_REQ) |
			BIT64(VU_PF_MQ) | BIT64(VU_PF_STATUS);
		s->pfeatures = pwant & s->dev_pfeatures;
		set_u64(s, VU_SET_PROTOCOL_FEATURES, s->pfeatures, NULL, 0, NULL);
		/* From here on every request without a reply asks for an ack. */
		vu_conn_set_reply_ack(s->conn,
				      s->pfeatures & BIT64(VU_PF_REPLY_ACK));
		if (s->pfeatures & BIT64(VU_PF_MQ))
			s->queue_num = get_u64(s, VU_GET_QUEUE_NUM);
	}
	if (iommu) {
		need(s->pfeatures & BIT64(VU_PF_REPLY_ACK),
		     "--iommu needs protocol feature %s, which the back-end does not offer",
		     "REPLY_ACK");
		need(s->pfeatures & BIT64(VU_PF_BACKEND_REQ),
		     "--iommu needs protocol feature %s, which the back-end does not offer",
		     "BACKEND_REQ");
	}
	if (o->queues > 1) {
		need(s->features & BIT64(VIRTIO_NET_F_MQ),
		     "--queues > 1 needs %s, which the back-end does not offer",
		     "VIRTIO_NET_F_MQ");
		need(s->pfeatures & BIT64(VU_PF_MQ),
		     "--queues > 1 needs protocol feature %s", "MQ");
		if (o->queues > s->queue_num)
			fe_die("--queues %u but the back-end supports %" PRIu64,
			       o->queues, s->queue_num);
	}

	vu_call(s->conn, VU_SET_OWNER, NULL, 0, NULL, 0, VU_ACK, NULL, NULL);

	if (s->pfeatures & BIT64(VU_PF_BACKEND_REQ)) {
		if (bchan_open(&s->bchan, tlb) < 0)
			fe_die("socketpair for the back-end channel failed");
		/* Serve before the back-end can possibly need us. */
		vu_call(s->conn, VU_SET_BACKEND_REQ_FD, NULL, 0,
			&s->bchan.peer_fd, 1, VU_ACK, NULL, NULL);
		bchan_start(&s->bchan);
		s->have_bchan = true;
	}

	set_status(s, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER);
	set_u64(s, VU_SET_FEATURES, s->features, NULL, 0, NULL);
	if (s->pfeatures & BIT64(VU_PF_STATUS)) {
		uint64_t st;

		set_status(s, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER |
			   VIRTIO_STATUS_FEATURES_OK);
		st = get_u64(s, VU_GET_STATUS);
		if (!(st & VIRTIO_STATUS_FEATURES_OK))
			fe_die("back-end refused features 0x%" PRIx64
			       " (status 0x%" PRIx64 " lacks FEATURES_OK)",
			       s->features, st);
	}
}

void
session_mem_table(struct session *s, const struct guest_mem *gm)
{
	struct vu_mem_table t;
	int fds[VU_MAX_REGIONS];
	uint32_t size = guest_mem_table(gm, &t, fds);

	vu_call(s->conn, VU_SET_MEM_TABLE, &t, size, fds, gm->nregions,
		VU_ACK, NULL, NULL);
}

void
session_vring(struct session *s, const struct fe_vq *vq)
{
	struct vu_vring_state st = { .index = vq->index, .num = vq->num };
	struct vu_vring_addr a;
	char what[32];

	snprintf(what, sizeof(what), "(vq %u)", vq->index);
	vu_call(s->conn, VU_SET_VRING_NUM, &st, sizeof(st), NULL, 0, VU_ACK,
		NULL, what);
	st.num = 0;
	vu_call(s->conn, VU_SET_VRING_BASE, &st, sizeof(st), NULL, 0, VU_ACK,
		NULL, what);
	memset(&a, 0, sizeof(a));
	a.index = vq->index;
	a.desc = vq->desc_addr;
	a.avail = vq->avail_addr;
	a.used = vq->used_addr;
	vu_call(s->conn, VU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, VU_ACK,
		NULL, what);
	set_u64(s, VU_SET_VRING_KICK, vq->index, &vq->kickfd, 1, what);
	set_u64(s, VU_SET_VRING_CALL, vq->index, &vq->callfd, 1, what);
}

void
session_vring_enable(struct session *s, const struct fe_vq *vq, bool on)
{
	struct vu_vring_state st = { .index = vq->index, .num = on };
	char what[32];

	/* Without PROTOCOL_FEATURES rings start enabled on their kick. */
	if (!(s->features & BIT64(VU_F_PROTOCOL_FEATURES)))
		return;
	snprintf(what, sizeof(what), "(vq %u)", vq->index);
	vu_call(s->conn, VU_SET_VRING_ENABLE, &st, sizeof(st), NULL, 0, VU_ACK,
		NULL, what);
}

void
session_driver_ok(struct session *s)
{
	set_status(s, VIRTIO_STATUS_ACK | VIRTIO_STATUS_DRIVER |
		   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

uint16_t
session_stop_vring(struct session *s, const struct fe_vq *vq)
{
	struct vu_vring_state st = { .index = vq->index, .num = 0 };
	struct vu_msg r;
	char what[32];

	snprintf(what, sizeof(what), "(vq %u)", vq->index);
	vu_call(s->conn, VU_GET_VRING_BASE, &st, sizeof(st), NULL, 0, VU_DATA,
		&r, what);
	if (r.hdr.size != sizeof(st) || r.p.state.index != vq->index)
		fe_die("GET_VRING_BASE (vq %u): malformed reply (%u bytes, index %u)",
		       vq->index, r.hdr.size,
		       r.hdr.size >= 4 ? r.p.state.index : 0);
	return (uint16_t)r.p.state.num;
}

void
session_describe(const struct session *s)
{
	static const struct { int bit; const char *name; } f[] = {
		{ VIRTIO_F_VERSION_1, "VERSION_1" },
		{ VIRTIO_NET_F_MRG_RXBUF, "MRG_RXBUF" },
		{ VIRTIO_F_EVENT_IDX, "EVENT_IDX" },
		{ VIRTIO_NET_F_MQ, "MQ" },
		{ VIRTIO_F_IOMMU_PLATFORM, "IOMMU_PLATFORM" },
		{ VU_F_PROTOCOL_FEATURES, "PROTOCOL_FEATURES" },
	}, pf[] = {
		{ VU_PF_REPLY_ACK, "REPLY_ACK" },
		{ VU_PF_BACKEND_REQ, "BACKEND_REQ" },
		{ VU_PF_MQ, "MQ" },
		{ VU_PF_STATUS, "STATUS" },
	};
	char buf[256];
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < FE_DIM(f); i++)
		if (s->features & BIT64(f[i].bit))
			n += snprintf(buf + n, sizeof(buf) - n, " %s", f[i].name);
	fe_log("features 0x%" PRIx64 " (offered 0x%" PRIx64 "):%s",
	       s->features, s->dev_features, buf);
	n = 0;
	buf[0] = '\0';
	for (i = 0; i < FE_DIM(pf); i++)
		if (s->pfeatures & BIT64(pf[i].bit))
			n += snprintf(buf + n, sizeof(buf) - n, " %s", pf[i].name);
	fe_log("protocol features 0x%" PRIx64 " (offered 0x%" PRIx64 "):%s; queues %" PRIu64,
	       s->pfeatures, s->dev_pfeatures, buf, s->queue_num);
}
