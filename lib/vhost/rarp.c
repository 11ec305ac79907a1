/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include "vhost.h"

/*
 * After a live migration the front-end on the destination sends SEND_RARP
 * (when the guest cannot announce itself: no VIRTIO_NET_F_GUEST_ANNOUNCE).
 * The back-end then broadcasts a RARP with the guest's MAC as if the guest
 * had sent it, so that switches learn the guest's new port. It goes to the
 * application as the first packet of a dequeue on virtqueue 1, like any
 * packet from the guest.
 */

/** Ethernet + ARP, zero-padded to the shortest frame (without FCS). */
#define RARP_FRAME_LEN 60

struct rte_mbuf *
iovh_rarp_build(struct rte_mempool *mp, uint64_t mac)
{
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;
	struct rte_mbuf *m;

	m = rte_pktmbuf_alloc(mp);
	if (m == NULL)
		return NULL;
	if (rte_pktmbuf_tailroom(m) < RARP_FRAME_LEN) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	memset(eth, 0, RARP_FRAME_LEN);
	memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
	/* rarp_mac holds the MAC's bytes in message order. */
	memcpy(&eth->src_addr, &mac, RTE_ETHER_ADDR_LEN);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_RARP);

	arp = (struct rte_arp_hdr *)(eth + 1);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REVREQUEST);
	memcpy(&arp->arp_data.arp_sha, &mac, RTE_ETHER_ADDR_LEN);
	memcpy(&arp->arp_data.arp_tha, &mac, RTE_ETHER_ADDR_LEN);

	m->data_len = RARP_FRAME_LEN;
	m->pkt_len = RARP_FRAME_LEN;
	m->packet_type = RTE_PTYPE_L2_ETHER;
	return m;
}
