/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * The offload paths of net_hdr.h: only packets that ask for an offload, or
 * headers that carry one, come here.
 *
 * Every offset taken from an mbuf (l2_len, l3_len, l4_len) or from a header
 * the front-end wrote (csum_start, csum_offset, hdr_len) is checked against
 * the first segment before anything is read or written through it.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_net.h>
#include <rte_sctp.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "net_hdr.h"

#define TCP_CSUM_OFF offsetof(struct rte_tcp_hdr, cksum)
#define UDP_CSUM_OFF offsetof(struct rte_udp_hdr, dgram_cksum)
#define SCTP_CSUM_OFF offsetof(struct rte_sctp_hdr, cksum)

/** Add a 32-bit quantity, in network order, to a ones' complement sum. */
static inline uint32_t
sum_add_be32(uint32_t sum, uint32_t v)
{
	return sum + rte_cpu_to_be_16((uint16_t)(v >> 16)) +
		rte_cpu_to_be_16((uint16_t)v);
}

/**
 * Unfolded pseudo-header sum of an IPv4/IPv6 packet whose L3 header is at
 * @p l3 (checked to be in the first segment), for protocol @p proto and
 * @p l4_len bytes of L4 header and payload. The length is the real one,
 * from the mbuf: a GSO packet's IP length field may be anything.
 */
static uint32_t
phdr_sum(const uint8_t *l3, bool v4, uint8_t proto, uint32_t l4_len)
{
	uint32_t sum;

	if (v4)
		sum = __rte_raw_cksum(l3 + offsetof(struct rte_ipv4_hdr,
				src_addr), 8, 0);
	else
		sum = __rte_raw_cksum(l3 + offsetof(struct rte_ipv6_hdr,
				src_addr), 32, 0);
	sum += rte_cpu_to_be_16((uint16_t)proto);
	return sum_add_be32(sum, l4_len);
}

static inline uint16_t
fold(uint32_t sum)
{
	return __rte_raw_cksum_reduce(sum);
}

/* ------------------------------------------------------------------ */
/* Enqueue: mbuf -> header                                             */

int
iovh_net_hdr_from_mbuf_ol(struct virtio_net_hdr *hdr, struct rte_mbuf *m,
		uint16_t ol)
{
	uint64_t f = m->ol_flags;
	uint64_t l4 = f & RTE_MBUF_F_TX_L4_MASK;
	uint32_t l3_off = m->l2_len, l4_off = m->l2_len + m->l3_len;
	uint32_t data_len = rte_pktmbuf_data_len(m), pkt_len = m->pkt_len;
	const struct rte_tcp_hdr *th;
	uint32_t l4_hlen, csum_off, sum;
	uint8_t *l3, *ck, proto;
	uint16_t c = 0;
	bool v4 = (f & RTE_MBUF_F_TX_IPV4) != 0;
	bool v6 = (f & RTE_MBUF_F_TX_IPV6) != 0;
	int ret = 0;

	memset(hdr, 0, sizeof(*hdr));
	l3 = rte_pktmbuf_mtod_offset(m, uint8_t *, l3_off);

	/* The IPv4 header checksum has no virtio offload: done here. */
	if (f & RTE_MBUF_F_TX_IP_CKSUM) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)l3;
		uint32_t ihl;

		if (unlikely(!v4 || l3_off + sizeof(*ip) > data_len)) {
			ret = -1;
		} else {
			ihl = rte_ipv4_hdr_len(ip);
			if (unlikely(ihl < sizeof(*ip) ||
					l3_off + ihl > data_len)) {
				ret = -1;
			} else {
				ip->hdr_checksum = 0;
				ip->hdr_checksum = rte_ipv4_cksum(ip);
			}
		}
	}

	/* Segmentation implies the L4 checksum (virtio requires it). */
	if (f & RTE_MBUF_F_TX_TCP_SEG)
		l4 = RTE_MBUF_F_TX_TCP_CKSUM;
	else if (f & RTE_MBUF_F_TX_UDP_SEG)
		l4 = RTE_MBUF_F_TX_UDP_CKSUM;
	switch (l4) {
	case RTE_MBUF_F_TX_L4_NO_CKSUM:
		return ret;
	case RTE_MBUF_F_TX_TCP_CKSUM:
		proto = IPPROTO_TCP;
		l4_hlen = sizeof(struct rte_tcp_hdr);
		csum_off = TCP_CSUM_OFF;
		break;
	case RTE_MBUF_F_TX_UDP_CKSUM:
		proto = IPPROTO_UDP;
		l4_hlen = sizeof(struct rte_udp_hdr);
		csum_off = UDP_CSUM_OFF;
		break;
	default:
		/* SCTP's CRC32c has no virtio offload. */
		return -1;
	}
	if (unlikely(v4 == v6 || m->l3_len < (v4 ?
			sizeof(struct rte_ipv4_hdr) :
			sizeof(struct rte_ipv6_hdr)) ||
			l4_off + l4_hlen > data_len))
		return -1;
	ck = l3 + m->l3_len + csum_off;
	sum = phdr_sum(l3, v4, proto, pkt_len - l4_off);

	if (!(ol & IOVH_OL_GUEST_CSUM)) {
		/* The front-end checks what it gets: complete it here. */
		ck[0] = 0;
		ck[1] = 0;
		if (rte_raw_cksum_mbuf(m, l4_off, pkt_len - l4_off, &c) != 0)
			return -1;
		c = (uint16_t)~fold(sum + c);
		if (proto == IPPROTO_UDP && c == 0)
			c = 0xffff;	/* RFC 768: 0 means "no checksum" */
		memcpy(ck, &c, sizeof(c));
		/* Without GUEST_CSUM there is no GUEST_TSO/UFO either. */
		return (f & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_UDP_SEG)) ?
			-1 : ret;
	}

	c = fold(sum);
	memcpy(ck, &c, sizeof(c));
	hdr->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	hdr->csum_start = (uint16_t)l4_off;
	hdr->csum_offset = (uint16_t)csum_off;

	if (f & RTE_MBUF_F_TX_TCP_SEG) {
		if (unlikely(m->tso_segsz == 0 ||
				m->l4_len < sizeof(struct rte_tcp_hdr) ||
				l4_off + m->l4_len > data_len ||
				!(ol & (v4 ? IOVH_OL_GUEST_TSO4 :
					IOVH_OL_GUEST_TSO6))))
			return -1;
		hdr->gso_type = v4 ? VIRTIO_NET_HDR_GSO_TCPV4 :
			VIRTIO_NET_HDR_GSO_TCPV6;
		hdr->gso_size = m->tso_segsz;
		hdr->hdr_len = (uint16_t)(l4_off + m->l4_len);
		/* CWR must survive segmentation (the Linux ECN convention). */
		th = (const struct rte_tcp_hdr *)(l3 + m->l3_len);
		if ((ol & IOVH_OL_GUEST_ECN) &&
				(th->tcp_flags & RTE_TCP_CWR_FLAG))
			hdr->gso_type |= VIRTIO_NET_HDR_GSO_ECN;
	} else if (f & RTE_MBUF_F_TX_UDP_SEG) {
		if (unlikely(m->tso_segsz == 0 || !(ol & IOVH_OL_GUEST_UFO)))
			return -1;
		hdr->gso_type = VIRTIO_NET_HDR_GSO_UDP;
		hdr->gso_size = m->tso_segsz;
		hdr->hdr_len = (uint16_t)(l4_off + sizeof(struct rte_udp_hdr));
	}
	return ret;
}

/* ------------------------------------------------------------------ */
/* Dequeue: header -> mbuf                                             */

/**
 * Parse Ethernet (one optional VLAN tag), IPv4/IPv6 and the presence of a
 * TCP/UDP/SCTP header in the first segment, as DPDK's legacy path does;
 * sets l2_len, l3_len and the TX_IPV4/IPV6 flag.
 *
 * @return the L4 protocol, or -1.
 */
static int
legacy_parse(struct rte_mbuf *m)
{
	uint32_t data_len = rte_pktmbuf_data_len(m), l2 = RTE_ETHER_HDR_LEN;
	const struct rte_ether_hdr *eth;
	const struct rte_ipv4_hdr *ip4;
	const struct rte_ipv6_hdr *ip6;
	uint16_t type;
	uint32_t l3, need;
	int proto;

	if (data_len < RTE_ETHER_HDR_LEN)
		return -1;
	eth = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	type = rte_be_to_cpu_16(eth->ether_type);
	if (type == RTE_ETHER_TYPE_VLAN) {
		if (data_len < l2 + sizeof(struct rte_vlan_hdr))
			return -1;
		type = rte_be_to_cpu_16(((const struct rte_vlan_hdr *)
				(eth + 1))->eth_proto);
		l2 += sizeof(struct rte_vlan_hdr);
	}
	switch (type) {
	case RTE_ETHER_TYPE_IPV4:
		if (data_len < l2 + sizeof(*ip4))
			return -1;
		ip4 = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *,
				l2);
		l3 = rte_ipv4_hdr_len(ip4);
		if (l3 < sizeof(*ip4) || data_len < l2 + l3)
			return -1;
		proto = ip4->next_proto_id;
		m->ol_flags |= RTE_MBUF_F_TX_IPV4;
		break;
	case RTE_ETHER_TYPE_IPV6:
		if (data_len < l2 + sizeof(*ip6))
			return -1;
		ip6 = rte_pktmbuf_mtod_offset(m, const struct rte_ipv6_hdr *,
				l2);
		l3 = sizeof(*ip6);
		proto = ip6->proto;
		m->ol_flags |= RTE_MBUF_F_TX_IPV6;
		break;
	default:
		return -1;
	}
	switch (proto) {
	case IPPROTO_TCP:
		need = sizeof(struct rte_tcp_hdr);
		break;
	case IPPROTO_UDP:
		need = sizeof(struct rte_udp_hdr);
		break;
	case IPPROTO_SCTP:
		need = sizeof(struct rte_sctp_hdr);
		break;
	default:
		return -1;
	}
	if (data_len < l2 + l3 + need)
		return -1;
	m->l2_len = l2;
	m->l3_len = l3;
	return proto;
}

static int
to_mbuf_legacy(const struct virtio_net_hdr *hdr, struct rte_mbuf *m)
{
	const struct rte_tcp_hdr *th;
	uint32_t tcp_len;
	int proto;

	proto = legacy_parse(m);
	if (proto < 0)
		goto bad;
	if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (hdr->csum_start != m->l2_len + m->l3_len)
			goto bad;
		if (hdr->csum_offset == TCP_CSUM_OFF && proto == IPPROTO_TCP)
			m->ol_flags |= RTE_MBUF_F_TX_TCP_CKSUM;
		else if (hdr->csum_offset == UDP_CSUM_OFF &&
				proto == IPPROTO_UDP)
			m->ol_flags |= RTE_MBUF_F_TX_UDP_CKSUM;
		else if (hdr->csum_offset == SCTP_CSUM_OFF &&
				proto == IPPROTO_SCTP)
			m->ol_flags |= RTE_MBUF_F_TX_SCTP_CKSUM;
		else
			goto bad;
	}
	if (hdr->gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return 0;
	if (hdr->gso_size == 0 || hdr->hdr_len > m->pkt_len)
		goto bad;
	switch (hdr->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (proto != IPPROTO_TCP)
			goto bad;
		th = rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *,
				m->l2_len + m->l3_len);
		tcp_len = (th->data_off & 0xf0) >> 2;
		if (tcp_len < sizeof(*th) || rte_pktmbuf_data_len(m) <
				m->l2_len + m->l3_len + tcp_len)
			goto bad;
		m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG;
		m->tso_segsz = hdr->gso_size;
		m->l4_len = tcp_len;
		return 0;
	case VIRTIO_NET_HDR_GSO_UDP:
		if (proto != IPPROTO_UDP)
			goto bad;
		m->ol_flags |= RTE_MBUF_F_TX_UDP_SEG;
		m->tso_segsz = hdr->gso_size;
		m->l4_len = sizeof(struct rte_udp_hdr);
		return 0;
	default:
		break;
	}
bad:
	m->l2_len = 0;
	m->l3_len = 0;
	m->l4_len = 0;
	m->tso_segsz = 0;
	m->ol_flags = 0;
	return -1;
}

/** Complete the partial checksum the front-end asked for, in place. */
static int
csum_complete(const struct virtio_net_hdr *hdr, struct rte_mbuf *m)
{
	uint32_t start = hdr->csum_start;
	uint32_t off = start + (uint32_t)hdr->csum_offset;
	uint16_t c = 0;

	/* The field must lie in the first segment, inside the packet. */
	if (start >= m->pkt_len || off + 2 > rte_pktmbuf_data_len(m))
		return -1;
	if (rte_raw_cksum_mbuf(m, start, m->pkt_len - start, &c) != 0)
		return -1;
	if (likely(c != 0xffff))
		c = ~c;
	memcpy(rte_pktmbuf_mtod_offset(m, uint8_t *, off), &c, sizeof(c));
	return 0;
}

static int
to_mbuf_compliant(const struct virtio_net_hdr *hdr, struct rte_mbuf *m)
{
	struct rte_net_hdr_lens hl;
	uint32_t ptype, l4t, hlen;
	int ret = 0;
	bool l4_ok;

	/* RX_IP_CKSUM_UNKNOWN is 0: nothing to set for layer 3. */
	ptype = rte_net_get_ptype(m, &hl, RTE_PTYPE_ALL_MASK);
	m->packet_type = ptype;
	l4t = ptype & RTE_PTYPE_L4_MASK;
	l4_ok = l4t == RTE_PTYPE_L4_TCP || l4t == RTE_PTYPE_L4_UDP ||
		l4t == RTE_PTYPE_L4_SCTP;
	if (l4_ok && !(ptype & RTE_PTYPE_TUNNEL_MASK)) {
		m->l2_len = hl.l2_len;
		m->l3_len = hl.l3_len;
		m->l4_len = hl.l4_len;
	}

	/*
	 * Only NEEDS_CSUM means something on transmit (virtio 1.2,
	 * 5.1.6.2.2: the device ignores flags it does not know).
	 */
	if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		hlen = hl.l2_len + hl.l3_len + hl.l4_len;
		if (l4_ok && hdr->csum_start <= hlen)
			m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;
		else if (csum_complete(hdr, m) != 0)
			ret = -1;
	}

	if (hdr->gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return ret;
	if (hdr->gso_size == 0 || hdr->hdr_len > m->pkt_len)
		return -1;
	switch (hdr->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_TCPV4:
	case VIRTIO_NET_HDR_GSO_TCPV6:
		if (l4t != RTE_PTYPE_L4_TCP)
			return -1;
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		if (l4t != RTE_PTYPE_L4_UDP)
			return -1;
		break;
	default:
		return -1;
	}
	m->ol_flags = (m->ol_flags & ~RTE_MBUF_F_RX_L4_CKSUM_MASK) |
		RTE_MBUF_F_RX_LRO | RTE_MBUF_F_RX_L4_CKSUM_NONE;
	m->tso_segsz = hdr->gso_size;
	return ret;
}

int
iovh_net_hdr_to_mbuf_ol(const struct virtio_net_hdr *hdr, struct rte_mbuf *m,
		bool legacy)
{
	if (legacy)
		return to_mbuf_legacy(hdr, m);
	return to_mbuf_compliant(hdr, m);
}

void
iovh_net_rx_sw_csum(struct rte_mbuf *m)
{
	struct rte_net_hdr_lens hl;
	uint32_t ptype, l4_off, off;
	uint16_t c = 0;

	if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) !=
			RTE_MBUF_F_RX_L4_CKSUM_NONE)
		return;
	ptype = rte_net_get_ptype(m, &hl, RTE_PTYPE_ALL_MASK);
	l4_off = hl.l2_len + hl.l3_len;
	switch (ptype & RTE_PTYPE_L4_MASK) {
	case RTE_PTYPE_L4_TCP:
		off = l4_off + TCP_CSUM_OFF;
		break;
	case RTE_PTYPE_L4_UDP:
		off = l4_off + UDP_CSUM_OFF;
		break;
	default:
		return;
	}
	if (l4_off >= m->pkt_len || off + 2 > rte_pktmbuf_data_len(m))
		return;
	/* The field holds the pseudo-header sum (virtio 1.2, 5.1.6.2). */
	if (rte_raw_cksum_mbuf(m, l4_off, m->pkt_len - l4_off, &c) != 0)
		return;
	c = ~c;
	if ((ptype & RTE_PTYPE_L4_MASK) == RTE_PTYPE_L4_UDP && c == 0)
		c = 0xffff;
	memcpy(rte_pktmbuf_mtod_offset(m, uint8_t *, off), &c, sizeof(c));
	m->ol_flags = (m->ol_flags & ~RTE_MBUF_F_RX_L4_CKSUM_MASK) |
		RTE_MBUF_F_RX_L4_CKSUM_GOOD;
}
