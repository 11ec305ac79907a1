/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef IOVH_NET_HDR_H
#define IOVH_NET_HDR_H

/**
 * @file
 * Conversion between the virtio-net header and mbuf offload metadata.
 *
 * The ring code owns where the header sits in guest memory and the
 * num_buffers field; these helpers only translate the offload part (flags,
 * gso_type, hdr_len, gso_size, csum_start, csum_offset). They are shared by
 * every ring layout (split_ring.c, packed_ring.c).
 *
 * What each virtqueue may do is decided once, when features are
 * negotiated, and kept in one byte (iovh_vq.ol, IOVH_OL_* bits), so the
 * no-offload fast path costs one test per packet: the mbuf's ol_flags on
 * enqueue, the header's two type bytes on dequeue.
 *
 * Mapping, as in DPDK 22.11's vhost library unless noted:
 *  - enqueue: an L4 checksum request becomes NEEDS_CSUM with csum_start =
 *    l2_len + l3_len and the pseudo-header sum in the checksum field; TSO
 *    becomes GSO_TCPV4/TCPV6 (gso_size = tso_segsz, hdr_len = l2+l3+l4;
 *    with GSO_ECN when the TCP header has CWR and GUEST_ECN was
 *    negotiated, which DPDK does not do),
 *    UDP segmentation becomes GSO_UDP; an IPv4 header checksum request is
 *    computed in place. Differences: the pseudo-header of a GSO packet
 *    includes the L4 length (what virtio and Linux expect; the stock
 *    library writes the length-less form Intel NICs want, which breaks a
 *    guest that re-segments), a front-end that did not negotiate
 *    GUEST_CSUM gets the full checksum computed here, GSO is only
 *    described to a front-end that negotiated it, and SCTP CRCs are not
 *    offloaded (virtio has no CRC32c offload).
 *  - dequeue, legacy-ol-flags: the headers are parsed and the request is
 *    expressed as TX flags (RTE_MBUF_F_TX_*_CKSUM, TX_TCP_SEG/UDP_SEG,
 *    l2/l3/l4_len, tso_segsz), ready to be sent out of a NIC.
 *  - dequeue, compliant flags: RX flags. A checksum the front-end left
 *    partial on a standard TCP/UDP packet is RTE_MBUF_F_RX_L4_CKSUM_NONE
 *    (the PMD completes it in software if the application did not enable
 *    the RX checksum offload, and reports GOOD); anything else partial is
 *    completed here. A GSO packet is RTE_MBUF_F_RX_LRO with tso_segsz.
 *
 * The front-end may be hostile: a header whose values do not fit the
 * packet is ignored (no offload flag is set from it), and counted; nothing
 * is ever written outside the packet's first segment.
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_mbuf.h>

#include "vhost_user.h"

/** @name Bits of iovh_vq.ol, computed from features and device flags. */
/**@{*/
/** Dequeue: the front-end may send offload requests (CSUM/GSO/HOST_*). */
#define IOVH_OL_HOST		(1u << 0)
/** Dequeue: express them with the legacy TX flags. */
#define IOVH_OL_LEGACY		(1u << 1)
/** Enqueue: the front-end accepts partial checksums (GUEST_CSUM). */
#define IOVH_OL_GUEST_CSUM	(1u << 2)
/** Enqueue: the front-end accepts GSO_TCPV4 (GUEST_TSO4). */
#define IOVH_OL_GUEST_TSO4	(1u << 3)
/** Enqueue: the front-end accepts GSO_TCPV6 (GUEST_TSO6). */
#define IOVH_OL_GUEST_TSO6	(1u << 4)
/** Enqueue: the front-end accepts GSO_UDP (GUEST_UFO). */
#define IOVH_OL_GUEST_UFO	(1u << 5)
/** Dequeue: a packet must fit one mbuf (linear-buffer). */
#define IOVH_OL_LINEARBUF	(1u << 6)
/** Dequeue: a large packet may get an external buffer (ext-buffer). */
#define IOVH_OL_EXTBUF		(1u << 7)
/** Enqueue: the front-end accepts GSO_ECN (GUEST_ECN). */
#define IOVH_OL_GUEST_ECN	(1u << 8)
/**@}*/

/** mbuf TX flags that ask the enqueue path for work. */
#define IOVH_TX_OL_MASK (RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_TCP_SEG | \
	RTE_MBUF_F_TX_UDP_SEG | RTE_MBUF_F_TX_IP_CKSUM)

/**
 * Slow part of iovh_net_hdr_from_mbuf(): the mbuf asks for an offload.
 * May write checksums into the packet's first segment (never outside it).
 *
 * @return 0, or -1 when the request could not be honoured (bad lengths,
 *   unknown layer 3, or an offload the front-end did not negotiate): the
 *   header then describes whatever could be done, at worst nothing.
 */
int iovh_net_hdr_from_mbuf_ol(struct virtio_net_hdr *hdr, struct rte_mbuf *m,
		uint16_t ol);

/**
 * Slow part of iovh_net_hdr_to_mbuf(): the header asks for an offload.
 *
 * @return 0, or -1 when the header was ignored as invalid (in legacy mode
 *   l2_len, l3_len and ol_flags are then 0, as in DPDK).
 */
int iovh_net_hdr_to_mbuf_ol(const struct virtio_net_hdr *hdr,
		struct rte_mbuf *m, bool legacy);

/**
 * Fill the offload part of the header the front-end will see in front of
 * a packet it receives (enqueue direction).
 *
 * Thread-safety: the caller owns @p m for the call; the packet's headers
 * may be written (checksums), as any NIC's TX preparation does.
 *
 * @param hdr
 *   Header to fill; a local copy, not guest memory.
 * @param m
 *   The packet (first segment).
 * @param ol
 *   The virtqueue's IOVH_OL_* bits.
 * @return 0, or -1 when an offload request was not honoured (count it).
 */
static __rte_always_inline int
iovh_net_hdr_from_mbuf(struct virtio_net_hdr *hdr, struct rte_mbuf *m,
		uint16_t ol)
{
	if (likely(!(m->ol_flags & IOVH_TX_OL_MASK))) {
		memset(hdr, 0, sizeof(*hdr));
		return 0;
	}
	return iovh_net_hdr_from_mbuf_ol(hdr, m, ol);
}

/**
 * Apply the header the front-end put in front of a packet it sent
 * (dequeue direction) to the mbuf carrying that packet.
 *
 * Without host offloads negotiated a conforming front-end sends zeros;
 * anything else is ignored and counted.
 *
 * Thread-safety: the poll thread owning @p m.
 *
 * @param hdr
 *   Header as copied out of guest memory (a private copy, so the front-end
 *   cannot change it while it is being looked at).
 * @param m
 *   The packet (first segment), pkt_len already set.
 * @param ol
 *   The virtqueue's IOVH_OL_* bits.
 * @return 0, or -1 when the header was invalid (count it).
 */
static __rte_always_inline int
iovh_net_hdr_to_mbuf(const struct virtio_net_hdr *hdr, struct rte_mbuf *m,
		uint16_t ol)
{
	if (likely((hdr->flags | hdr->gso_type) == 0))
		return 0;
	if (unlikely(!(ol & IOVH_OL_HOST)))
		return -1;
	return iovh_net_hdr_to_mbuf_ol(hdr, m, ol & IOVH_OL_LEGACY);
}

/**
 * Complete in software an L4 checksum a packet received with
 * RTE_MBUF_F_RX_L4_CKSUM_NONE carries as a partial (pseudo-header) sum,
 * and report it RTE_MBUF_F_RX_L4_CKSUM_GOOD. For applications that did not
 * enable the RX checksum offload (what DPDK's vhost PMD does for them).
 * Packets with another checksum state, or not TCP/UDP, are left alone.
 *
 * Thread-safety: the thread owning @p m.
 */
void iovh_net_rx_sw_csum(struct rte_mbuf *m);

/**
 * Copy @p len bytes of a virtio-net header (or a piece of one, never more
 * than sizeof(struct virtio_net_hdr_mrg_rxbuf)). The two whole-header
 * sizes get a copy of constant size, which the compiler turns into two
 * moves: a copy of variable size is a call into libc, once per packet in
 * each direction.
 *
 * Thread-safety: any; copies bytes only.
 */
static __rte_always_inline void
iovh_net_hdr_copy(void *dst, const void *src, uint32_t len)
{
	if (likely(len == sizeof(struct virtio_net_hdr_mrg_rxbuf)))
		memcpy(dst, src, sizeof(struct virtio_net_hdr_mrg_rxbuf));
	else if (len == sizeof(struct virtio_net_hdr))
		memcpy(dst, src, sizeof(struct virtio_net_hdr));
	else
		memcpy(dst, src, len);
}

#endif /* IOVH_NET_HDR_H */
