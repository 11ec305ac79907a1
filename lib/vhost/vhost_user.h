/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef IOVH_VHOST_USER_H
#define IOVH_VHOST_USER_H

/**
 * @file
 * The vhost-user wire protocol, as described by QEMU's
 * docs/interop/vhost-user.rst. Only constants and wire layouts live here;
 * nothing in this file knows about devices or queues.
 */

#include <stdint.h>

/* Front-end requests (main socket). */
enum iovh_req {
	VHU_NONE = 0,
	VHU_GET_FEATURES = 1,
	VHU_SET_FEATURES = 2,
	VHU_SET_OWNER = 3,
	VHU_RESET_OWNER = 4,
	VHU_SET_MEM_TABLE = 5,
	VHU_SET_LOG_BASE = 6,
	VHU_SET_LOG_FD = 7,
	VHU_SET_VRING_NUM = 8,
	VHU_SET_VRING_ADDR = 9,
	VHU_SET_VRING_BASE = 10,
	VHU_GET_VRING_BASE = 11,
	VHU_SET_VRING_KICK = 12,
	VHU_SET_VRING_CALL = 13,
	VHU_SET_VRING_ERR = 14,
	VHU_GET_PROTOCOL_FEATURES = 15,
	VHU_SET_PROTOCOL_FEATURES = 16,
	VHU_GET_QUEUE_NUM = 17,
	VHU_SET_VRING_ENABLE = 18,
	VHU_SEND_RARP = 19,
	VHU_NET_SET_MTU = 20,
	VHU_SET_BACKEND_REQ_FD = 21,
	VHU_IOTLB_MSG = 22,
	VHU_SET_VRING_ENDIAN = 23,
	VHU_GET_CONFIG = 24,
	VHU_SET_CONFIG = 25,
	VHU_CREATE_CRYPTO_SESSION = 26,
	VHU_CLOSE_CRYPTO_SESSION = 27,
	VHU_POSTCOPY_ADVISE = 28,
	VHU_POSTCOPY_LISTEN = 29,
	VHU_POSTCOPY_END = 30,
	VHU_GET_INFLIGHT_FD = 31,
	VHU_SET_INFLIGHT_FD = 32,
	VHU_GPU_SET_SOCKET = 33,
	VHU_RESET_DEVICE = 34,
	VHU_VRING_KICK = 35,
	VHU_GET_MAX_MEM_SLOTS = 36,
	VHU_ADD_MEM_REG = 37,
	VHU_REM_MEM_REG = 38,
	VHU_SET_STATUS = 39,
	VHU_GET_STATUS = 40,
	VHU_REQ_MAX
};

/* Back-end requests (back-end channel). */
enum iovh_backend_req {
	VHU_BACKEND_IOTLB_MSG = 1,
	VHU_BACKEND_CONFIG_CHANGE_MSG = 2,
	VHU_BACKEND_VRING_HOST_NOTIFIER_MSG = 3,
};

/* Protocol feature bits. */
#define VHU_PROTO_F_MQ			0
#define VHU_PROTO_F_LOG_SHMFD		1
#define VHU_PROTO_F_RARP		2
#define VHU_PROTO_F_REPLY_ACK		3
#define VHU_PROTO_F_NET_MTU		4
#define VHU_PROTO_F_BACKEND_REQ		5
#define VHU_PROTO_F_CROSS_ENDIAN	6
#define VHU_PROTO_F_CRYPTO_SESSION	7
#define VHU_PROTO_F_PAGEFAULT		8
#define VHU_PROTO_F_CONFIG		9
#define VHU_PROTO_F_BACKEND_SEND_FD	10
#define VHU_PROTO_F_HOST_NOTIFIER	11
#define VHU_PROTO_F_INFLIGHT_SHMFD	12
#define VHU_PROTO_F_RESET_DEVICE	13
#define VHU_PROTO_F_INBAND_NOTIFY	14
#define VHU_PROTO_F_CONFIGURE_MEM_SLOTS	15
#define VHU_PROTO_F_STATUS		16

/* Virtio and vhost feature bits this back-end knows about. */
#define VIRTIO_NET_F_CSUM		0
#define VIRTIO_NET_F_GUEST_CSUM		1
#define VIRTIO_NET_F_MTU		3
#define VIRTIO_NET_F_MAC		5
#define VIRTIO_NET_F_GSO		6
#define VIRTIO_NET_F_GUEST_TSO4		7
#define VIRTIO_NET_F_GUEST_TSO6		8
#define VIRTIO_NET_F_GUEST_ECN		9
#define VIRTIO_NET_F_GUEST_UFO		10
#define VIRTIO_NET_F_HOST_TSO4		11
#define VIRTIO_NET_F_HOST_TSO6		12
#define VIRTIO_NET_F_HOST_ECN		13
#define VIRTIO_NET_F_HOST_UFO		14
#define VIRTIO_NET_F_MRG_RXBUF		15
#define VIRTIO_NET_F_STATUS		16
#define VIRTIO_NET_F_CTRL_VQ		17
#define VIRTIO_NET_F_CTRL_RX		18
#define VIRTIO_NET_F_GUEST_ANNOUNCE	21
#define VIRTIO_NET_F_MQ			22
#define VIRTIO_F_NOTIFY_ON_EMPTY	24
#define VHOST_F_LOG_ALL			26
#define VIRTIO_F_ANY_LAYOUT		27
#define VIRTIO_RING_F_INDIRECT_DESC	28
#define VIRTIO_RING_F_EVENT_IDX		29
#define VHOST_USER_F_PROTOCOL_FEATURES	30
#define VIRTIO_F_VERSION_1		32
#define VIRTIO_F_IOMMU_PLATFORM		33
#define VIRTIO_F_RING_PACKED		34
#define VIRTIO_F_IN_ORDER		35

#define VHU_VERSION		0x1
#define VHU_FLAG_VERSION_MASK	0x3
#define VHU_FLAG_REPLY		(1u << 2)
#define VHU_FLAG_NEED_REPLY	(1u << 3)

/** Regions one SET_MEM_TABLE may carry (fixed by the protocol). */
#define VHU_MEMTABLE_MAX_REGIONS 8
/** Most file descriptors any single message may carry. */
#define VHU_MAX_FDS VHU_MEMTABLE_MAX_REGIONS

/** vring index field: the low byte is the index, bit 8 means "no fd". */
#define VHU_VRING_IDX_MASK	0xffu
#define VHU_VRING_NOFD_MASK	(1u << 8)

/** SET_VRING_ADDR flag: log the used ring at log_guest_addr. */
#define VHU_VRING_F_LOG		0

/* IOTLB message types and permissions (struct vhost_iotlb_msg). */
#define VHU_IOTLB_MISS		1
#define VHU_IOTLB_UPDATE	2
#define VHU_IOTLB_INVALIDATE	3
#define VHU_IOTLB_ACCESS_FAIL	4

#define VHU_ACCESS_RO		0x1
#define VHU_ACCESS_WO		0x2
#define VHU_ACCESS_RW		0x3

struct vhu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vhu_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

struct vhu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
} __attribute__((packed));

struct vhu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vhu_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhu_mem_region regions[VHU_MEMTABLE_MAX_REGIONS];
} __attribute__((packed));

struct vhu_mem_single {
	uint64_t padding;
	struct vhu_mem_region region;
} __attribute__((packed));

struct vhu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
} __attribute__((packed));

/* Same layout as Linux' struct vhost_iotlb_msg (natural alignment). */
struct vhu_iotlb {
	uint64_t iova;
	uint64_t size;
	uint64_t uaddr;
	uint8_t perm;
	uint8_t type;
	uint8_t pad[6];
} __attribute__((packed));

struct vhu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[256];
} __attribute__((packed));

struct vhu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
} __attribute__((packed));

/** Largest payload any accepted message may have. */
#define VHU_MAX_PAYLOAD sizeof(struct vhu_config)

struct vhu_msg {
	struct vhu_hdr hdr;
	union {
		uint64_t u64;
		struct vhu_vring_state state;
		struct vhu_vring_addr addr;
		struct vhu_memory memory;
		struct vhu_mem_single mem_reg;
		struct vhu_log log;
		struct vhu_iotlb iotlb;
		struct vhu_config config;
		struct vhu_inflight inflight;
		uint8_t raw[VHU_MAX_PAYLOAD];
	} payload;
	/* Not on the wire: descriptors received with this message. */
	int fds[VHU_MAX_FDS];
	int nfds;
} __attribute__((packed));

#define VHU_HDR_SIZE sizeof(struct vhu_hdr)

/* Split ring layout (virtio 1.2, 2.7). */
struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

#define VRING_DESC_F_NEXT	1
#define VRING_DESC_F_WRITE	2
#define VRING_DESC_F_INDIRECT	4

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

#define VRING_AVAIL_F_NO_INTERRUPT 1

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];
};

#define VRING_USED_F_NO_NOTIFY 1

/* The virtio-net header. */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};

struct virtio_net_hdr_mrg_rxbuf {
	struct virtio_net_hdr hdr;
	uint16_t num_buffers;
};

#define VIRTIO_NET_HDR_F_NEEDS_CSUM	1
#define VIRTIO_NET_HDR_F_DATA_VALID	2
#define VIRTIO_NET_HDR_GSO_NONE		0
#define VIRTIO_NET_HDR_GSO_TCPV4	1
#define VIRTIO_NET_HDR_GSO_UDP		3
#define VIRTIO_NET_HDR_GSO_TCPV6	4
#define VIRTIO_NET_HDR_GSO_ECN		0x80

/** Largest split ring the back-end accepts. */
#define IOVH_MAX_RING_SIZE 32768

#endif /* IOVH_VHOST_USER_H */
