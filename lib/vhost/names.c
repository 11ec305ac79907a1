/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * Names of feature bits, for logs and telemetry. The names are the ones of
 * the virtio 1.2 specification and of QEMU's vhost-user.rst, so that a
 * user can look them up; a bit with no name here shows as "bit<N>".
 */

#include <stdio.h>
#include <string.h>

#include <rte_common.h>

#include "vhost.h"

static const char *const feature_names[64] = {
	[0] = "VIRTIO_NET_F_CSUM",
	[1] = "VIRTIO_NET_F_GUEST_CSUM",
	[2] = "VIRTIO_NET_F_CTRL_GUEST_OFFLOADS",
	[3] = "VIRTIO_NET_F_MTU",
	[5] = "VIRTIO_NET_F_MAC",
	[6] = "VIRTIO_NET_F_GSO",
	[7] = "VIRTIO_NET_F_GUEST_TSO4",
	[8] = "VIRTIO_NET_F_GUEST_TSO6",
	[9] = "VIRTIO_NET_F_GUEST_ECN",
	[10] = "VIRTIO_NET_F_GUEST_UFO",
	[11] = "VIRTIO_NET_F_HOST_TSO4",
	[12] = "VIRTIO_NET_F_HOST_TSO6",
	[13] = "VIRTIO_NET_F_HOST_ECN",
	[14] = "VIRTIO_NET_F_HOST_UFO",
	[15] = "VIRTIO_NET_F_MRG_RXBUF",
	[16] = "VIRTIO_NET_F_STATUS",
	[17] = "VIRTIO_NET_F_CTRL_VQ",
	[18] = "VIRTIO_NET_F_CTRL_RX",
	[19] = "VIRTIO_NET_F_CTRL_VLAN",
	[20] = "VIRTIO_NET_F_CTRL_RX_EXTRA",
	[21] = "VIRTIO_NET_F_GUEST_ANNOUNCE",
	[22] = "VIRTIO_NET_F_MQ",
	[23] = "VIRTIO_NET_F_CTRL_MAC_ADDR",
	[24] = "VIRTIO_F_NOTIFY_ON_EMPTY",
	[26] = "VHOST_F_LOG_ALL",
	[27] = "VIRTIO_F_ANY_LAYOUT",
	[28] = "VIRTIO_RING_F_INDIRECT_DESC",
	[29] = "VIRTIO_RING_F_EVENT_IDX",
	[30] = "VHOST_USER_F_PROTOCOL_FEATURES",
	[32] = "VIRTIO_F_VERSION_1",
	[33] = "VIRTIO_F_ACCESS_PLATFORM",
	[34] = "VIRTIO_F_RING_PACKED",
	[35] = "VIRTIO_F_IN_ORDER",
	[36] = "VIRTIO_F_ORDER_PLATFORM",
	[37] = "VIRTIO_F_SR_IOV",
	[38] = "VIRTIO_F_NOTIFICATION_DATA",
	[39] = "VIRTIO_F_NOTIF_CONFIG_DATA",
	[40] = "VIRTIO_F_RING_RESET",
	[56] = "VIRTIO_NET_F_HOST_USO",
	[57] = "VIRTIO_NET_F_HASH_REPORT",
	[59] = "VIRTIO_NET_F_GUEST_HDRLEN",
	[60] = "VIRTIO_NET_F_RSS",
	[61] = "VIRTIO_NET_F_RSC_EXT",
	[62] = "VIRTIO_NET_F_STANDBY",
	[63] = "VIRTIO_NET_F_SPEED_DUPLEX",
};

/* Without the VHOST_USER_PROTOCOL_F_ prefix every one of them shares. */
static const char *const protocol_names[64] = {
	[VHU_PROTO_F_MQ] = "MQ",
	[VHU_PROTO_F_LOG_SHMFD] = "LOG_SHMFD",
	[VHU_PROTO_F_RARP] = "RARP",
	[VHU_PROTO_F_REPLY_ACK] = "REPLY_ACK",
	[VHU_PROTO_F_NET_MTU] = "NET_MTU",
	[VHU_PROTO_F_BACKEND_REQ] = "BACKEND_REQ",
	[VHU_PROTO_F_CROSS_ENDIAN] = "CROSS_ENDIAN",
	[VHU_PROTO_F_CRYPTO_SESSION] = "CRYPTO_SESSION",
	[VHU_PROTO_F_PAGEFAULT] = "PAGEFAULT",
	[VHU_PROTO_F_CONFIG] = "CONFIG",
	[VHU_PROTO_F_BACKEND_SEND_FD] = "BACKEND_SEND_FD",
	[VHU_PROTO_F_HOST_NOTIFIER] = "HOST_NOTIFIER",
	[VHU_PROTO_F_INFLIGHT_SHMFD] = "INFLIGHT_SHMFD",
	[VHU_PROTO_F_RESET_DEVICE] = "RESET_DEVICE",
	[VHU_PROTO_F_INBAND_NOTIFY] = "INBAND_NOTIFICATIONS",
	[VHU_PROTO_F_CONFIGURE_MEM_SLOTS] = "CONFIGURE_MEM_SLOTS",
	[VHU_PROTO_F_STATUS] = "STATUS",
	[17] = "XEN_MMAP",
	[18] = "SHARED_OBJECT",
	[19] = "DEVICE_STATE",
};

const char *
iovh_feature_name(unsigned int bit)
{
	return bit < RTE_DIM(feature_names) ? feature_names[bit] : NULL;
}

const char *
iovh_protocol_feature_name(unsigned int bit)
{
	return bit < RTE_DIM(protocol_names) ? protocol_names[bit] : NULL;
}

size_t
iovh_features_str(uint64_t f, bool protocol, char *buf, size_t len)
{
	const char *name;
	size_t used = 0;
	unsigned int bit;
	int n;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	for (bit = 0; bit < 64; bit++) {
		if (!(f & (1ULL << bit)))
			continue;
		name = protocol ? iovh_protocol_feature_name(bit) :
			iovh_feature_name(bit);
		if (name != NULL)
			n = snprintf(buf + used, len - used, "%s%s",
					used ? " " : "", name);
		else
			n = snprintf(buf + used, len - used, "%sbit%u",
					used ? " " : "", bit);
		/* Truncated: end with "..." if there is room for it. */
		if (n < 0 || (size_t)n >= len - used) {
			if (len >= 4)
				strcpy(buf + len - 4, "...");
			return len - 1;
		}
		used += n;
	}
	return used;
}
