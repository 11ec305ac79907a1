/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef IOVH_NET_HDR_H
#define IOVH_NET_HDR_H

/**
 * @file
 * Conversion between the virtio-net header and mbuf metadata.
 *
 * The ring code (split_ring.c) owns where the header sits in guest memory
 * and the num_buffers field; these helpers only translate the offload part
 * (flags, gso_type, hdr_len, gso_size, csum_start, csum_offset). No
 * offloads are negotiated yet, so both directions are deliberately trivial:
 * they are the single place offload support will be added, and keeping the
 * signatures now means the ring code will not have to change then.
 */

#include <string.h>

#include <rte_common.h>
#include <rte_mbuf.h>

#include "vhost_user.h"

/**
 * Fill the offload part of the header the front-end will see in front of
 * a packet it receives (enqueue direction).
 *
 * Nothing that needs describing is offered to the front-end yet (no
 * GUEST_CSUM, no GUEST_TSO*), so every field is zero: "no checksum
 * information, not a GSO packet" is always a correct thing to say.
 *
 * @param hdr
 *   Header to fill; a local copy, not guest memory, so that the ring code
 *   can write it out in pieces wherever the guest put the buffer.
 * @param m
 *   The packet (first segment).
 */
static __rte_always_inline void
iovh_net_hdr_from_mbuf(struct virtio_net_hdr *hdr, const struct rte_mbuf *m)
{
	RTE_SET_USED(m);
	memset(hdr, 0, sizeof(*hdr));
}

/**
 * Apply the header the front-end put in front of a packet it sent
 * (dequeue direction) to the mbuf carrying that packet.
 *
 * With no host offloads negotiated (no CSUM, no HOST_TSO*), a conforming
 * front-end sends flags == 0 and gso_type == GSO_NONE; anything else is
 * ignored rather than trusted, and the mbuf keeps the ol_flags == 0 it got
 * from the allocator: the packet is passed on exactly as its bytes are.
 *
 * @param hdr
 *   Header as copied out of guest memory (a private copy, so the front-end
 *   cannot change it while it is being looked at).
 * @param m
 *   The packet (first segment), pkt_len already set.
 */
static __rte_always_inline void
iovh_net_hdr_to_mbuf(const struct virtio_net_hdr *hdr, struct rte_mbuf *m)
{
	RTE_SET_USED(hdr);
	RTE_SET_USED(m);
}

#endif /* IOVH_NET_HDR_H */
