/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * vhost-user wire format as seen from the front-end. Deliberately not
 * shared with lib/vhost: the front-end is a test oracle, and a constant
 * that is wrong in both places would let a back-end bug pass unseen.
 */

#ifndef FE_VU_PROTO_H
#define FE_VU_PROTO_H

#include <stdint.h>

/* Main-socket requests (front-end to back-end). */
enum vu_req {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SEND_RARP = 19,
	VU_NET_SET_MTU = 20,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_SET_STATUS = 39,
	VU_GET_STATUS = 40,
};

/* Back-end channel requests (back-end to front-end). */
enum vu_backend_req {
	VU_BACKEND_IOTLB_MSG = 1,
	VU_BACKEND_CONFIG_CHANGE_MSG = 2,
	VU_BACKEND_VRING_HOST_NOTIFIER_MSG = 3,
};

#define VU_VERSION		0x1u
#define VU_VERSION_MASK		0x3u
#define VU_FLAG_REPLY		0x4u
#define VU_FLAG_NEED_REPLY	0x8u

/* Virtio feature bits (device-independent and virtio-net). */
#define VIRTIO_NET_F_MRG_RXBUF		15
#define VIRTIO_NET_F_MQ			22
#define VIRTIO_F_INDIRECT_DESC		28
#define VIRTIO_F_EVENT_IDX		29
#define VU_F_PROTOCOL_FEATURES		30
#define VIRTIO_F_VERSION_1		32
#define VIRTIO_F_IOMMU_PLATFORM		33

/* vhost-user protocol feature bits. */
#define VU_PF_MQ			0
#define VU_PF_LOG_SHMFD			1
#define VU_PF_RARP			2
#define VU_PF_REPLY_ACK			3
#define VU_PF_NET_MTU			4
#define VU_PF_BACKEND_REQ		5
#define VU_PF_CONFIGURE_MEM_SLOTS	15
#define VU_PF_STATUS			16

#define BIT64(n)	(UINT64_C(1) << (n))

/* Virtio device status bits, for SET_STATUS. */
#define VIRTIO_STATUS_ACK		0x01
#define VIRTIO_STATUS_DRIVER		0x02
#define VIRTIO_STATUS_DRIVER_OK		0x04
#define VIRTIO_STATUS_FEATURES_OK	0x08

/* IOTLB message types and permissions. */
#define VU_IOTLB_MISS		1
#define VU_IOTLB_UPDATE		2
#define VU_IOTLB_INVALIDATE	3
#define VU_IOTLB_ACCESS_FAIL	4

#define VU_ACCESS_RO		1
#define VU_ACCESS_WO		2
#define VU_ACCESS_RW		3

/* SET_VRING_CALL/KICK: the fd is absent when this bit is set. */
#define VU_VRING_NOFD		0x100u
#define VU_VRING_IDX_MASK	0xffu

#define VU_MAX_REGIONS		8
#define VU_MAX_FDS		8

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
} __attribute__((packed));

struct vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region regions[VU_MAX_REGIONS];
} __attribute__((packed));

/* Same layout as the kernel's struct vhost_iotlb_msg: 32 bytes on x86-64. */
struct vu_iotlb {
	uint64_t iova;
	uint64_t size;
	uint64_t uaddr;
	uint8_t perm;
	uint8_t type;
	uint8_t pad[6];
} __attribute__((packed));

#define VU_PAYLOAD_MAX	512

union vu_payload {
	uint64_t u64;
	struct vu_vring_state state;
	struct vu_vring_addr addr;
	struct vu_mem_table mem;
	struct vu_iotlb iotlb;
	uint8_t raw[VU_PAYLOAD_MAX];
};

struct vu_msg {
	struct vu_hdr hdr;
	union vu_payload p;
} __attribute__((packed));

_Static_assert(sizeof(struct vu_hdr) == 12, "vhost-user header is 12 bytes");
_Static_assert(sizeof(struct vu_iotlb) == 32, "IOTLB payload is 32 bytes");
_Static_assert(sizeof(struct vu_vring_addr) == 40, "vring address is 40 bytes");
_Static_assert(sizeof(struct vu_mem_region) == 32, "memory region is 32 bytes");

/* Split virtqueue layout (virtio 1.2, 2.7). */
#define VRING_DESC_F_NEXT	1
#define VRING_DESC_F_WRITE	2
#define VRING_DESC_F_INDIRECT	4
#define VRING_AVAIL_F_NO_INTERRUPT	1
#define VRING_USED_F_NO_NOTIFY		1

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];
};

/* virtio-net header with VERSION_1: always carries num_buffers. */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
} __attribute__((packed));

_Static_assert(sizeof(struct virtio_net_hdr_v1) == 12, "net header is 12 bytes");

const char *vu_req_name(uint32_t req);

#endif /* FE_VU_PROTO_H */
