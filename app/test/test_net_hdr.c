/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * net_hdr_autotest: virtio-net header <-> mbuf offload metadata, both
 * directions, legacy and compliant flags, IPv4/IPv6, TCP/UDP, GSO, hostile
 * headers; and the external buffers of mbuf_alloc.c.
 *
 * Checksums are checked with a reference written here from RFC 1071 (a
 * plain big-endian word sum), not with the DPDK helpers the code uses.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "mbuf_alloc.h"
#include "net_hdr.h"
#include "test.h"

#define NB_MBUF 512
#define ROOM 2048
#define CANARY 0xa5
#define MSS 1448

static struct rte_mempool *mp;
static uint8_t pkt[70000];
static uint8_t flat[70000];

/* ------------------------------------------------------------------ */
/* Reference checksums                                                 */

static uint32_t
ref_add(uint32_t acc, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		acc += (uint32_t)p[n - 1] << 8;
	return acc;
}

static uint16_t
ref_fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return acc;
}

/** Pseudo-header sum of the IP packet at @p l3 with @p l4_len L4 bytes. */
static uint32_t
ref_phdr(const uint8_t *l3, bool v4, uint8_t proto, uint32_t l4_len)
{
	uint32_t acc = v4 ? ref_add(0, l3 + 12, 8) : ref_add(0, l3 + 8, 32);

	return acc + proto + (l4_len >> 16) + (l4_len & 0xffff);
}

/** Is the L4 checksum of the flat packet valid (sum is all ones)? */
static bool
ref_l4_valid(const uint8_t *p, uint32_t l3_off, uint32_t l4_off, bool v4,
		uint8_t proto, uint32_t len)
{
	uint32_t acc = ref_phdr(p + l3_off, v4, proto, len - l4_off);

	return ref_fold(ref_add(acc, p + l4_off, len - l4_off)) == 0xffff;
}

/** What a device does with NEEDS_CSUM: sum from start, store the inverse. */
static void
ref_complete(uint8_t *p, uint32_t start, uint32_t off, uint32_t len)
{
	uint16_t c = ~ref_fold(ref_add(0, p + start, len - start));

	p[off] = c >> 8;
	p[off + 1] = c & 0xff;
}

/* ------------------------------------------------------------------ */
/* Packets                                                             */

enum { L4_TCP = 6, L4_UDP = 17 };

/**
 * Build Ethernet/IPv4|IPv6/TCP|UDP with @p payload bytes into pkt[];
 * checksums are left as garbage (0xdead). @return total length.
 */
static uint32_t
build(bool v4, uint8_t proto, uint32_t payload)
{
	uint32_t l3 = RTE_ETHER_HDR_LEN, l3len = v4 ? 20 : 40;
	uint32_t l4len = proto == L4_TCP ? 20 : 8;
	uint32_t len = l3 + l3len + l4len + payload, i;
	uint8_t *ip = pkt + l3, *l4 = ip + l3len;

	memset(pkt, 0, l3 + l3len + l4len);
	memset(pkt, 0x02, 6);
	memset(pkt + 6, 0x04, 6);
	pkt[12] = v4 ? 0x08 : 0x86;
	pkt[13] = v4 ? 0x00 : 0xdd;
	if (v4) {
		ip[0] = 0x45;
		ip[2] = (len - l3) >> 8;
		ip[3] = (len - l3) & 0xff;
		ip[8] = 64;
		ip[9] = proto;
		ip[10] = 0xde;
		ip[11] = 0xad;
		memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	} else {
		ip[0] = 0x60;
		ip[4] = (len - l3 - 40) >> 8;
		ip[5] = (len - l3 - 40) & 0xff;
		ip[6] = proto;
		ip[7] = 64;
		for (i = 0; i < 32; i++)
			ip[8 + i] = 0x20 + i;
	}
	l4[0] = 0x12;
	l4[1] = 0x34;
	l4[2] = 0x00;
	l4[3] = 0x50;
	if (proto == L4_TCP) {
		l4[12] = 5 << 4;
		l4[13] = 0x18;
		l4[16] = 0xde;
		l4[17] = 0xad;
	} else {
		l4[4] = (len - l3 - l3len) >> 8;
		l4[5] = (len - l3 - l3len) & 0xff;
		l4[6] = 0xde;
		l4[7] = 0xad;
	}
	for (i = 0; i < payload; i++)
		l4[l4len + i] = (uint8_t)(i * 7 + 3);
	return len;
}

/** pkt[0..len) into an mbuf chain of segments of at most @p seg bytes. */
static struct rte_mbuf *
to_mbuf(uint32_t len, uint32_t seg)
{
	struct rte_mbuf *head = NULL, *m, *prev = NULL;
	uint32_t off = 0, n;

	do {
		m = rte_pktmbuf_alloc(mp);
		if (m == NULL) {
			rte_pktmbuf_free(head);
			return NULL;
		}
		/* Canary after the data, to catch writes past data_len. */
		memset(rte_pktmbuf_mtod(m, uint8_t *), CANARY,
				rte_pktmbuf_tailroom(m));
		n = RTE_MIN(len - off, seg);
		memcpy(rte_pktmbuf_append(m, n), pkt + off, n);
		if (head == NULL) {
			head = m;
		} else {
			prev->next = m;
			head->nb_segs++;
			head->pkt_len += n;
		}
		prev = m;
		off += n;
	} while (off < len);
	return head;
}

/** Flatten @p m into flat[]. */
static const uint8_t *
flatten(const struct rte_mbuf *m)
{
	return rte_pktmbuf_read(m, 0, m->pkt_len, flat);
}

/** Every segment's bytes past data_len are still the canary. */
static bool
canaries_ok(const struct rte_mbuf *m)
{
	const uint8_t *p;
	uint32_t i;

	for (; m != NULL; m = m->next) {
		p = rte_pktmbuf_mtod_offset(m, const uint8_t *, m->data_len);
		for (i = 0; i < rte_pktmbuf_tailroom(m); i++)
			if (p[i] != CANARY)
				return false;
	}
	return true;
}

static void
set_tx(struct rte_mbuf *m, uint64_t flags, uint32_t l2, uint32_t l3,
		uint32_t l4, uint16_t mss)
{
	m->ol_flags = flags;
	m->l2_len = l2;
	m->l3_len = l3;
	m->l4_len = l4;
	m->tso_segsz = mss;
}

#define ALL_GUEST (IOVH_OL_GUEST_CSUM | IOVH_OL_GUEST_TSO4 | \
	IOVH_OL_GUEST_TSO6 | IOVH_OL_GUEST_UFO | IOVH_OL_GUEST_ECN)

/* ------------------------------------------------------------------ */
/* Enqueue: mbuf -> header                                             */

static int
enq_no_offload(void)
{
	struct virtio_net_hdr h;
	struct rte_mbuf *m;
	uint32_t len = build(true, L4_TCP, 100);

	m = to_mbuf(len, ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	memset(&h, 0xff, sizeof(h));
	TEST_ASSERT_EQUAL(iovh_net_hdr_from_mbuf(&h, m, ALL_GUEST), 0, "");
	TEST_ASSERT_EQUAL(h.flags | h.gso_type | h.hdr_len | h.gso_size |
			h.csum_start | h.csum_offset, 0, "header not zeroed");
	TEST_ASSERT(memcmp(flatten(m), pkt, len) == 0, "packet changed");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

/** L4 checksum request, partial (GUEST_CSUM) or completed here. */
static int
enq_csum_one(bool v4, uint8_t proto, bool guest_csum, uint32_t seg)
{
	uint32_t l3 = v4 ? 20 : 40, l4 = proto == L4_TCP ? 20 : 8;
	uint32_t len = build(v4, proto, 3001), l4_off = 14 + l3;
	uint32_t coff = proto == L4_TCP ? 16 : 6;
	struct virtio_net_hdr h;
	struct rte_mbuf *m;
	uint8_t *p;

	m = to_mbuf(len, seg);
	TEST_ASSERT_NOT_NULL(m, "");
	set_tx(m, (v4 ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6) |
		(proto == L4_TCP ? RTE_MBUF_F_TX_TCP_CKSUM :
		 RTE_MBUF_F_TX_UDP_CKSUM), 14, l3, l4, 0);
	TEST_ASSERT_EQUAL(iovh_net_hdr_from_mbuf(&h, m, guest_csum ?
			IOVH_OL_GUEST_CSUM : 0), 0, "");
	TEST_ASSERT_EQUAL(h.gso_type, VIRTIO_NET_HDR_GSO_NONE, "");
	p = (uint8_t *)(uintptr_t)flatten(m);
	TEST_ASSERT(memcmp(p, pkt, l4_off + coff) == 0, "headers changed");
	TEST_ASSERT(memcmp(p + l4_off + coff + 2, pkt + l4_off + coff + 2,
			len - l4_off - coff - 2) == 0, "payload changed");
	if (guest_csum) {
		TEST_ASSERT_EQUAL(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM, "");
		TEST_ASSERT_EQUAL(h.csum_start, l4_off, "");
		TEST_ASSERT_EQUAL(h.csum_offset, coff, "");
		TEST_ASSERT(!ref_l4_valid(p, 14, l4_off, v4, proto, len),
			"a partial checksum cannot be complete");
		ref_complete(p, h.csum_start, h.csum_start + h.csum_offset,
				len);
	} else {
		TEST_ASSERT_EQUAL(h.flags, 0, "");
	}
	TEST_ASSERT(ref_l4_valid(p, 14, l4_off, v4, proto, len),
		"checksum wrong (%s %s, %s)", v4 ? "IPv4" : "IPv6",
		proto == L4_TCP ? "TCP" : "UDP",
		guest_csum ? "partial" : "full");
	TEST_ASSERT(canaries_ok(m), "write past data_len");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

static int
enq_csum(void)
{
	static const uint32_t segs[] = { ROOM, 700 };
	unsigned int v, p, g, s;

	for (v = 0; v < 2; v++)
		for (p = 0; p < 2; p++)
			for (g = 0; g < 2; g++)
				for (s = 0; s < RTE_DIM(segs); s++)
					TEST_CHECK(enq_csum_one(v == 0,
						p ? L4_UDP : L4_TCP, g != 0,
						segs[s]));
	return TEST_SUCCESS;
}

static int
enq_ip_cksum(void)
{
	struct virtio_net_hdr h;
	struct rte_mbuf *m;
	uint32_t len = build(true, L4_UDP, 10);
	const uint8_t *p;

	m = to_mbuf(len, ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	set_tx(m, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM, 14, 20, 0, 0);
	TEST_ASSERT_EQUAL(iovh_net_hdr_from_mbuf(&h, m, ALL_GUEST), 0, "");
	TEST_ASSERT_EQUAL(h.flags, 0, "no L4 request, no NEEDS_CSUM");
	p = flatten(m);
	TEST_ASSERT_EQUAL(ref_fold(ref_add(0, p + 14, 20)), 0xffff,
		"IPv4 header checksum");
	/* Asked of an IPv6 packet: refused, nothing written. */
	len = build(false, L4_UDP, 10);
	rte_pktmbuf_free(m);
	m = to_mbuf(len, ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	set_tx(m, RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_IP_CKSUM, 14, 40, 0, 0);
	TEST_ASSERT_EQUAL(iovh_net_hdr_from_mbuf(&h, m, ALL_GUEST), -1, "");
	TEST_ASSERT(memcmp(flatten(m), pkt, len) == 0, "packet changed");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

/** A 64 KiB TSO packet in 2 KiB segments. */
static int
enq_tso_one(bool v4, uint16_t ol, int want_ret, uint8_t want_gso)
{
	uint32_t l3 = v4 ? 20 : 40, l4_off = 14 + l3;
	uint32_t len = build(v4, L4_TCP, 65535 - l3 - 20 - (v4 ? 0 : 40));
	struct virtio_net_hdr h;
	struct rte_mbuf *m;
	uint8_t *p;

	m = to_mbuf(len, ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	TEST_ASSERT(m->nb_segs > 30, "want a long chain");
	set_tx(m, (v4 ? RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM :
		RTE_MBUF_F_TX_IPV6) | RTE_MBUF_F_TX_TCP_SEG, 14, l3, 20, MSS);
	TEST_ASSERT_EQUAL(iovh_net_hdr_from_mbuf(&h, m, ol), want_ret, "");
	TEST_ASSERT_EQUAL(h.gso_type, want_gso, "");
	p = (uint8_t *)(uintptr_t)flatten(m);
	if (want_gso != VIRTIO_NET_HDR_GSO_NONE) {
		TEST_ASSERT_EQUAL(h.gso_size, MSS, "");
		TEST_ASSERT_EQUAL(h.hdr_len, l4_off + 20, "");
	}
	if (ol & IOVH_OL_GUEST_CSUM) {
		TEST_ASSERT_EQUAL(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM, "");
		TEST_ASSERT_EQUAL(h.csum_start, l4_off, "");
		TEST_ASSERT_EQUAL(h.csum_offset, 16, "");
		ref_complete(p, l4_off, l4_off + 16, len);
	}
	/* Partial with the full length in the pseudo-header (virtio). */
	TEST_ASSERT(ref_l4_valid(p, 14, l4_off, v4, L4_TCP, len),
		"TCP checksum of the whole packet");
	if (v4)
		TEST_ASSERT_EQUAL(ref_fold(ref_add(0, p + 14, 20)), 0xffff,
			"IPv4 header checksum");
	TEST_ASSERT(canaries_ok(m), "write past data_len");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

static int
enq_tso(void)
{
	TEST_CHECK(enq_tso_one(true, ALL_GUEST, 0, VIRTIO_NET_HDR_GSO_TCPV4));
	TEST_CHECK(enq_tso_one(false, ALL_GUEST, 0, VIRTIO_NET_HDR_GSO_TCPV6));
	/* Not negotiated for this family: a whole packet, checksum partial. */
	TEST_CHECK(enq_tso_one(false, IOVH_OL_GUEST_CSUM | IOVH_OL_GUEST_TSO4,
			-1, VIRTIO_NET_HDR_GSO_NONE));
	/* No GUEST_CSUM at all: checksum completed here. */
	TEST_CHECK(enq_tso_one(true, 0, -1, VIRTIO_NET_HDR_GSO_NONE));
	return TEST_SUCCESS;
}

/** CWR in a TSO packet: GSO_ECN, if the front-end negotiated GUEST_ECN. */
static int
enq_tso_ecn(void)
{
	uint32_t len = build(true, L4_TCP, 9000);
	struct virtio_net_hdr h;
	struct rte_mbuf *m;

	pkt[14 + 20 + 13] |= RTE_TCP_CWR_FLAG;
	m = to_mbuf(len, ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	set_tx(m, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG, 14, 20, 20, MSS);
	TEST_ASSERT_EQUAL(iovh_net_hdr_from_mbuf(&h, m, ALL_GUEST), 0, "");
	TEST_ASSERT_EQUAL(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4 |
		VIRTIO_NET_HDR_GSO_ECN, "");
	TEST_ASSERT_EQUAL(iovh_net_hdr_from_mbuf(&h, m,
		ALL_GUEST & ~IOVH_OL_GUEST_ECN), 0, "");
	TEST_ASSERT_EQUAL(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4, "");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

static int
enq_ufo(void)
{
	uint32_t len = build(true, L4_UDP, 8000);
	struct virtio_net_hdr h;
	struct rte_mbuf *m;

	m = to_mbuf(len, ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	set_tx(m, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_SEG, 14, 20, 8, MSS);
	TEST_ASSERT_EQUAL(iovh_net_hdr_from_mbuf(&h, m, ALL_GUEST), 0, "");
	TEST_ASSERT_EQUAL(h.gso_type, VIRTIO_NET_HDR_GSO_UDP, "");
	TEST_ASSERT_EQUAL(h.gso_size, MSS, "");
	TEST_ASSERT_EQUAL(h.hdr_len, 42, "");
	TEST_ASSERT_EQUAL(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM, "");
	TEST_ASSERT_EQUAL(h.csum_offset, 6, "");
	/* Without GUEST_UFO: no GSO header. */
	TEST_ASSERT_EQUAL(iovh_net_hdr_from_mbuf(&h, m, IOVH_OL_GUEST_CSUM),
		-1, "");
	TEST_ASSERT_EQUAL(h.gso_type, VIRTIO_NET_HDR_GSO_NONE, "");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

/** Requests whose lengths do not fit the packet: refused, nothing written. */
static int
enq_bad_requests(void)
{
	static const struct {
		uint64_t flags;
		uint32_t l2, l3, l4;
		uint16_t mss;
	} bad[] = {
		/* L4 header past the first segment. */
		{ RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM, 14, 127, 20, 0 },
		{ RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM, 127, 20, 20, 0 },
		/* Both or neither IP version. */
		{ RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IPV6 |
			RTE_MBUF_F_TX_TCP_CKSUM, 14, 20, 20, 0 },
		{ RTE_MBUF_F_TX_TCP_CKSUM, 14, 20, 20, 0 },
		/* l3_len shorter than an IPv4 header. */
		{ RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM, 14, 10, 20, 0 },
		/* SCTP: no virtio offload. */
		{ RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_SCTP_CKSUM, 14, 20, 12, 0 },
		/* IP checksum with the header out of the segment. */
		{ RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM, 60, 20, 0, 0 },
	};
	uint32_t len = build(true, L4_TCP, 0);	/* 54 bytes */
	struct virtio_net_hdr h;
	struct rte_mbuf *m;
	unsigned int i;

	for (i = 0; i < RTE_DIM(bad); i++) {
		m = to_mbuf(len, ROOM);
		TEST_ASSERT_NOT_NULL(m, "");
		set_tx(m, bad[i].flags, bad[i].l2, bad[i].l3, bad[i].l4,
				bad[i].mss);
		TEST_ASSERT_EQUAL(iovh_net_hdr_from_mbuf(&h, m, ALL_GUEST), -1,
			"case %u", i);
		TEST_ASSERT_EQUAL(h.flags | h.gso_type, 0, "case %u", i);
		TEST_ASSERT(memcmp(flatten(m), pkt, len) == 0,
			"case %u: packet changed", i);
		TEST_ASSERT(canaries_ok(m), "case %u: write past data_len", i);
		rte_pktmbuf_free(m);
	}
	/* TSO with a zero MSS or a short l4_len: no GSO, still checksummed. */
	len = build(true, L4_TCP, 5000);
	m = to_mbuf(len, ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	set_tx(m, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG, 14, 20, 20, 0);
	TEST_ASSERT_EQUAL(iovh_net_hdr_from_mbuf(&h, m, ALL_GUEST), -1, "");
	TEST_ASSERT_EQUAL(h.gso_type, VIRTIO_NET_HDR_GSO_NONE, "");
	set_tx(m, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG, 14, 20, 8, MSS);
	TEST_ASSERT_EQUAL(iovh_net_hdr_from_mbuf(&h, m, ALL_GUEST), -1, "");
	TEST_ASSERT_EQUAL(h.gso_type, VIRTIO_NET_HDR_GSO_NONE, "");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Dequeue: header -> mbuf                                             */

static struct virtio_net_hdr
vhdr(uint8_t flags, uint16_t cs, uint16_t co, uint8_t gso, uint16_t gsz,
		uint16_t hl)
{
	struct virtio_net_hdr h = {
		.flags = flags, .gso_type = gso, .hdr_len = hl,
		.gso_size = gsz, .csum_start = cs, .csum_offset = co,
	};
	return h;
}

static int
deq_none(void)
{
	struct virtio_net_hdr h = vhdr(0, 0, 0, 0, 0, 0);
	struct rte_mbuf *m = to_mbuf(build(true, L4_TCP, 10), ROOM);

	TEST_ASSERT_NOT_NULL(m, "");
	TEST_ASSERT_EQUAL(iovh_net_hdr_to_mbuf(&h, m, IOVH_OL_HOST), 0, "");
	TEST_ASSERT_EQUAL(m->ol_flags, 0, "");
	TEST_ASSERT_EQUAL(m->packet_type, 0, "no parsing on the fast path");
	/* Offload bits from a front-end that did not negotiate any. */
	h = vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 34, 16, 0, 0, 0);
	TEST_ASSERT_EQUAL(iovh_net_hdr_to_mbuf(&h, m, 0), -1, "");
	TEST_ASSERT_EQUAL(m->ol_flags, 0, "");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

static int
deq_legacy_good(void)
{
	struct virtio_net_hdr h;
	struct rte_mbuf *m;
	const uint8_t ol = IOVH_OL_HOST | IOVH_OL_LEGACY;

	/* TCPv4, checksum and TSO. */
	m = to_mbuf(build(true, L4_TCP, 20000), ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	h = vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 34, 16,
		VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN, MSS, 54);
	TEST_ASSERT_EQUAL(iovh_net_hdr_to_mbuf(&h, m, ol), 0, "");
	TEST_ASSERT_EQUAL(m->ol_flags, RTE_MBUF_F_TX_IPV4 |
		RTE_MBUF_F_TX_TCP_CKSUM | RTE_MBUF_F_TX_TCP_SEG, "");
	TEST_ASSERT_EQUAL(m->l2_len, 14, "");
	TEST_ASSERT_EQUAL(m->l3_len, 20, "");
	TEST_ASSERT_EQUAL(m->l4_len, 20, "");
	TEST_ASSERT_EQUAL(m->tso_segsz, MSS, "");
	rte_pktmbuf_free(m);

	/* UDPv6, checksum and UFO. */
	m = to_mbuf(build(false, L4_UDP, 3000), ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	h = vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 54, 6, VIRTIO_NET_HDR_GSO_UDP,
		MSS, 62);
	TEST_ASSERT_EQUAL(iovh_net_hdr_to_mbuf(&h, m, ol), 0, "");
	TEST_ASSERT_EQUAL(m->ol_flags, RTE_MBUF_F_TX_IPV6 |
		RTE_MBUF_F_TX_UDP_CKSUM | RTE_MBUF_F_TX_UDP_SEG, "");
	TEST_ASSERT_EQUAL(m->l3_len, 40, "");
	TEST_ASSERT_EQUAL(m->l4_len, 8, "");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

/** Headers the legacy path must refuse: flags, lengths all cleared. */
static int
deq_legacy_bad(void)
{
	const struct virtio_net_hdr bad[] = {
		/* csum_start not at the L4 header */
		vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 30, 16, 0, 0, 0),
		/* UDP offset on a TCP packet */
		vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 34, 6, 0, 0, 0),
		/* offset beyond anything */
		vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 34, 0xffff, 0, 0, 0),
		/* GSO with a zero size */
		vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 34, 16,
			VIRTIO_NET_HDR_GSO_TCPV4, 0, 54),
		/* unknown GSO type (USO, 5) */
		vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 34, 16, 5, MSS, 54),
		/* UDP GSO on a TCP packet */
		vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 34, 16,
			VIRTIO_NET_HDR_GSO_UDP, MSS, 54),
		/* hdr_len past the packet */
		vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 34, 16,
			VIRTIO_NET_HDR_GSO_TCPV4, MSS, 60000),
	};
	uint32_t len = build(true, L4_TCP, 100);
	struct rte_mbuf *m;
	unsigned int i;

	for (i = 0; i < RTE_DIM(bad); i++) {
		m = to_mbuf(len, ROOM);
		TEST_ASSERT_NOT_NULL(m, "");
		TEST_ASSERT_EQUAL(iovh_net_hdr_to_mbuf(&bad[i], m,
			IOVH_OL_HOST | IOVH_OL_LEGACY), -1, "case %u", i);
		TEST_ASSERT_EQUAL(m->ol_flags, 0, "case %u", i);
		TEST_ASSERT_EQUAL(m->l2_len | m->l3_len | m->l4_len |
			m->tso_segsz, 0, "case %u", i);
		TEST_ASSERT(memcmp(flatten(m), pkt, len) == 0, "case %u", i);
		rte_pktmbuf_free(m);
	}
	/* Not IP at all. */
	build(true, L4_TCP, 100);
	pkt[12] = 0x88;
	m = to_mbuf(len, ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	TEST_ASSERT_EQUAL(iovh_net_hdr_to_mbuf(&bad[0], m,
		IOVH_OL_HOST | IOVH_OL_LEGACY), -1, "");
	TEST_ASSERT_EQUAL(m->ol_flags, 0, "");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

/**
 * Compliant flags: a partial checksum (what a driver sends) becomes
 * L4_CKSUM_NONE; iovh_net_rx_sw_csum() then completes it (GOOD).
 */
static int
deq_compliant_csum_one(bool v4, uint8_t proto, uint32_t seg)
{
	uint32_t l3 = v4 ? 20 : 40, l4_off = 14 + l3;
	uint32_t coff = proto == L4_TCP ? 16 : 6;
	uint32_t len = build(v4, proto, 5000), acc;
	struct virtio_net_hdr h;
	struct rte_mbuf *m;
	const uint8_t *p;

	/* As a driver leaves it: the pseudo-header sum in the field. */
	acc = ref_fold(ref_phdr(pkt + 14, v4, proto, len - l4_off));
	pkt[l4_off + coff] = acc >> 8;
	pkt[l4_off + coff + 1] = acc & 0xff;
	m = to_mbuf(len, seg);
	TEST_ASSERT_NOT_NULL(m, "");
	h = vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, l4_off, coff, 0, 0, 0);
	TEST_ASSERT_EQUAL(iovh_net_hdr_to_mbuf(&h, m, IOVH_OL_HOST), 0, "");
	TEST_ASSERT_EQUAL(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK,
		RTE_MBUF_F_RX_L4_CKSUM_NONE, "");
	TEST_ASSERT_EQUAL(m->packet_type & RTE_PTYPE_L4_MASK,
		proto == L4_TCP ? RTE_PTYPE_L4_TCP : RTE_PTYPE_L4_UDP, "");
	TEST_ASSERT_EQUAL(RTE_ETH_IS_IPV4_HDR(m->packet_type) ? 1 : 0,
		v4 ? 1 : 0, "");
	TEST_ASSERT_EQUAL(m->l2_len, 14, "");
	TEST_ASSERT_EQUAL(m->l3_len, l3, "");
	TEST_ASSERT_EQUAL(m->l4_len, proto == L4_TCP ? 20 : 8, "");
	TEST_ASSERT(memcmp(flatten(m), pkt, len) == 0, "packet changed");
	iovh_net_rx_sw_csum(m);
	TEST_ASSERT_EQUAL(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK,
		RTE_MBUF_F_RX_L4_CKSUM_GOOD, "");
	p = flatten(m);
	TEST_ASSERT(ref_l4_valid(p, 14, l4_off, v4, proto, len),
		"completed checksum wrong");
	TEST_ASSERT(canaries_ok(m), "write past data_len");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

static int
deq_compliant_csum(void)
{
	unsigned int v, p;

	for (v = 0; v < 2; v++)
		for (p = 0; p < 2; p++) {
			TEST_CHECK(deq_compliant_csum_one(v == 0,
				p ? L4_UDP : L4_TCP, ROOM));
			TEST_CHECK(deq_compliant_csum_one(v == 0,
				p ? L4_UDP : L4_TCP, 900));
		}
	return TEST_SUCCESS;
}

static int
deq_compliant_gso(void)
{
	struct virtio_net_hdr h;
	struct rte_mbuf *m;

	m = to_mbuf(build(false, L4_TCP, 30000), ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	h = vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 54, 16,
		VIRTIO_NET_HDR_GSO_TCPV6, MSS, 74);
	TEST_ASSERT_EQUAL(iovh_net_hdr_to_mbuf(&h, m, IOVH_OL_HOST), 0, "");
	TEST_ASSERT_EQUAL(m->ol_flags, RTE_MBUF_F_RX_LRO |
		RTE_MBUF_F_RX_L4_CKSUM_NONE, "");
	TEST_ASSERT_EQUAL(m->tso_segsz, MSS, "");
	rte_pktmbuf_free(m);

	m = to_mbuf(build(true, L4_UDP, 3000), ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	h = vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 34, 6, VIRTIO_NET_HDR_GSO_UDP,
		MSS, 42);
	TEST_ASSERT_EQUAL(iovh_net_hdr_to_mbuf(&h, m, IOVH_OL_HOST), 0, "");
	TEST_ASSERT_EQUAL(m->ol_flags, RTE_MBUF_F_RX_LRO |
		RTE_MBUF_F_RX_L4_CKSUM_NONE, "");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

/**
 * A partial checksum the parser cannot place (non-standard start): done
 * here at csum_start + csum_offset, as a device would.
 */
static int
deq_compliant_other_start(void)
{
	uint32_t len = build(true, L4_UDP, 200), start = 50, off = 50 + 10;
	struct virtio_net_hdr h;
	struct rte_mbuf *m;

	pkt[off] = 0;
	pkt[off + 1] = 0;
	memcpy(flat, pkt, len);
	ref_complete(flat, start, off, len);
	m = to_mbuf(len, ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	h = vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, start, 10, 0, 0, 0);
	TEST_ASSERT_EQUAL(iovh_net_hdr_to_mbuf(&h, m, IOVH_OL_HOST), 0, "");
	TEST_ASSERT_EQUAL(m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK, 0,
		"not a checksum the flags can describe");
	memcpy(pkt, flat, len);
	TEST_ASSERT(memcmp(flatten(m), pkt, len) == 0, "checksum not placed");
	rte_pktmbuf_free(m);
	return TEST_SUCCESS;
}

/** Hostile compliant-mode headers: ignored, counted, nothing written. */
static int
deq_compliant_hostile(void)
{
	uint32_t len = build(true, L4_UDP, 1000);
	const struct virtio_net_hdr bad[] = {
		/* start at/after the end */
		vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, len, 0, 0, 0, 0),
		vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 0xffff, 0xffff, 0, 0, 0),
		/* field past the end (16-bit wrap would land inside) */
		vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 100, 0xffff, 0, 0, 0),
		/* field straddling the end of the packet */
		vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 100, len - 101, 0, 0, 0),
		/* field straddling the end of the first segment */
		vhdr(VIRTIO_NET_HDR_F_NEEDS_CSUM, 100, 499, 0, 0, 0),
		/* unknown GSO type, zero size, hdr_len past the packet */
		vhdr(0, 0, 0, 5, MSS, 42),
		vhdr(0, 0, 0, VIRTIO_NET_HDR_GSO_UDP, 0, 42),
		vhdr(0, 0, 0, VIRTIO_NET_HDR_GSO_UDP, MSS, 0xffff),
		/* TCP GSO on a UDP packet */
		vhdr(0, 0, 0, VIRTIO_NET_HDR_GSO_TCPV4, MSS, 42),
	};
	struct rte_mbuf *m;
	unsigned int i;

	for (i = 0; i < RTE_DIM(bad); i++) {
		m = to_mbuf(len, 600);
		TEST_ASSERT_NOT_NULL(m, "");
		TEST_ASSERT_EQUAL(iovh_net_hdr_to_mbuf(&bad[i], m,
			IOVH_OL_HOST), -1, "case %u", i);
		TEST_ASSERT_EQUAL(m->ol_flags & (RTE_MBUF_F_RX_LRO |
			RTE_MBUF_F_RX_L4_CKSUM_MASK), 0, "case %u", i);
		TEST_ASSERT(memcmp(flatten(m), pkt, len) == 0,
			"case %u: packet changed", i);
		TEST_ASSERT(canaries_ok(m), "case %u: write past data_len", i);
		rte_pktmbuf_free(m);
	}
	return TEST_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* External buffers                                                    */

static int
extbuf_grow(void)
{
	struct rte_mempool *xp;
	struct rte_mbuf *m;
	unsigned int avail;
	uint32_t len = build(true, L4_TCP, 100);

	TEST_ASSERT_SUCCESS(iovh_extbuf_pool_init(rte_socket_id()), "");
	xp = rte_mempool_lookup("iovh_extbuf");
	TEST_ASSERT_NOT_NULL(xp, "");
	avail = rte_mempool_avail_count(xp);
	m = to_mbuf(len, ROOM);
	TEST_ASSERT_NOT_NULL(m, "");
	TEST_ASSERT_EQUAL(iovh_mbuf_extbuf_grow(m, 70000), -1, "too large");
	TEST_ASSERT(!RTE_MBUF_HAS_EXTBUF(m), "changed on failure");
	TEST_ASSERT_SUCCESS(iovh_mbuf_extbuf_grow(m, 9000), "");
	TEST_ASSERT(RTE_MBUF_HAS_EXTBUF(m), "");
	TEST_ASSERT(rte_pktmbuf_tailroom(m) >= 9000 - len, "");
	TEST_ASSERT_EQUAL(m->data_len, len, "");
	TEST_ASSERT(memcmp(rte_pktmbuf_mtod(m, void *), pkt, len) == 0, "");
	TEST_ASSERT_EQUAL(rte_mempool_avail_count(xp), avail - 1, "");
	TEST_ASSERT_EQUAL(iovh_mbuf_extbuf_grow(m, 20000), -1, "twice");
	rte_pktmbuf_free(m);
	TEST_ASSERT_EQUAL(rte_mempool_avail_count(xp), avail,
		"buffer not back in the pool");
	return TEST_SUCCESS;
}

/** iovh_mbuf_grow(): chain, external buffer or drop, as configured. */
static int
mbuf_grow_policy(void)
{
	static const struct {
		uint16_t ol;
		uint64_t need;
		int ret;
		bool ext;	/* external buffer, else a second segment */
	} c[] = {
		{ 0, 9000, 0, false },
		{ IOVH_OL_LINEARBUF, 9000, IOVH_GROW_TOOBIG, false },
		{ IOVH_OL_EXTBUF, 9000, 0, true },
		{ IOVH_OL_EXTBUF, 70000, 0, false },
		{ IOVH_OL_EXTBUF, 0, 0, false },
		{ IOVH_OL_EXTBUF | IOVH_OL_LINEARBUF, 9000, 0, true },
		{ IOVH_OL_EXTBUF | IOVH_OL_LINEARBUF, 70000,
			IOVH_GROW_TOOBIG, false },
	};
	uint32_t len = build(true, L4_TCP, 100);
	struct rte_mbuf *m, *seg;
	unsigned int i;

	TEST_ASSERT_SUCCESS(iovh_extbuf_pool_init(rte_socket_id()), "");
	for (i = 0; i < RTE_DIM(c); i++) {
		m = to_mbuf(len, ROOM);
		TEST_ASSERT_NOT_NULL(m, "");
		seg = m;
		TEST_ASSERT_EQUAL(iovh_mbuf_grow(m, &seg, mp, c[i].ol,
			c[i].need), c[i].ret, "case %u", i);
		TEST_ASSERT_EQUAL(RTE_MBUF_HAS_EXTBUF(m) ? 1 : 0,
			c[i].ext ? 1 : 0, "case %u", i);
		TEST_ASSERT_EQUAL(m->nb_segs, c[i].ret == 0 && !c[i].ext ?
			2 : 1, "case %u", i);
		TEST_ASSERT(seg == (m->nb_segs == 2 ? m->next : m),
			"case %u", i);
		TEST_ASSERT(memcmp(rte_pktmbuf_mtod(m, void *), pkt, len) == 0,
			"case %u: data lost", i);
		rte_pktmbuf_free(m);
	}
	TEST_ASSERT_EQUAL(rte_mempool_avail_count(mp), NB_MBUF, "mbuf leak");
	return TEST_SUCCESS;
}

static int
suite_setup(void)
{
	/* No per-lcore cache, so available counts are exact. */
	mp = rte_pktmbuf_pool_create("net_hdr_mp", NB_MBUF, 0, 0,
		RTE_PKTMBUF_HEADROOM + ROOM, rte_socket_id());
	TEST_ASSERT_NOT_NULL(mp, "pool");
	return TEST_SUCCESS;
}

static void
suite_teardown(void)
{
	rte_mempool_free(mp);
	mp = NULL;
}

static const struct iovh_test_case cases[] = {
	TEST_CASE(enq_no_offload),
	TEST_CASE(enq_csum),
	TEST_CASE(enq_ip_cksum),
	TEST_CASE(enq_tso),
	TEST_CASE(enq_tso_ecn),
	TEST_CASE(enq_ufo),
	TEST_CASE(enq_bad_requests),
	TEST_CASE(deq_none),
	TEST_CASE(deq_legacy_good),
	TEST_CASE(deq_legacy_bad),
	TEST_CASE(deq_compliant_csum),
	TEST_CASE(deq_compliant_gso),
	TEST_CASE(deq_compliant_other_start),
	TEST_CASE(deq_compliant_hostile),
	TEST_CASE(extbuf_grow),
	TEST_CASE(mbuf_grow_policy),
	TEST_CASES_END(),
};

static int
test_net_hdr(void)
{
	static const struct iovh_test_suite suite = {
		.name = "net_hdr",
		.setup = suite_setup,
		.teardown = suite_teardown,
		.cases = cases,
	};

	return iovh_test_run_suite(&suite);
}

REGISTER_IOVH_TEST(net_hdr_autotest, test_net_hdr);
