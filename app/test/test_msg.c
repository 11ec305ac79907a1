/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * Message handlers, good and bad input, driven directly through
 * iovh_msg_handle() on a real device (its control thread is idle: no
 * front-end connects, and the control lock is held around each call).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include "test.h"
#include "ctrl.h"
#include "vhost.h"

#define MEM_SZ (1u << 20)
#define GPA_A 0x0ULL
#define GPA_B 0x100000ULL
#define FVA_A 0x7f0000000000ULL
#define FVA_B 0x7f0000400000ULL
#define RING 256

static struct iovh_dev *dev;
static char sock_dir[64];
static char sock_path[128];
static int memfd_a = -1, memfd_b = -1;
static int fds_at_start;

static struct {
	int new_device;
	int destroy_device;
	int state_changes;
	int refuse;
} cb;

static int
cb_new(struct iovh_dev *d __rte_unused, void *arg __rte_unused)
{
	cb.new_device++;
	return cb.refuse ? -1 : 0;
}

static void
cb_destroy(struct iovh_dev *d __rte_unused, void *arg __rte_unused)
{
	cb.destroy_device++;
}

static void
cb_state(struct iovh_dev *d __rte_unused, uint16_t vq __rte_unused,
		bool on __rte_unused, void *arg __rte_unused)
{
	cb.state_changes++;
}

static const struct iovh_ops ops = {
	.new_device = cb_new,
	.destroy_device = cb_destroy,
	.vring_state_changed = cb_state,
};

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the DIR's own fd */
}

static bool
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* Send one message; returns the handler result, reply in *r. */
static enum iovh_msg_result
msg(uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		const int *fds, int nfds, struct vhu_msg *r, int *has_reply)
{
	struct vhu_msg m;
	enum iovh_msg_result res;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VHU_VERSION | flags;
	m.hdr.size = size;
	if (size > 0)
		memcpy(m.payload.raw, payload, size);
	if (nfds > 0)
		memcpy(m.fds, fds, sizeof(int) * nfds);
	m.nfds = nfds;
	iovh_ctrl_lock();
	res = iovh_msg_handle(dev, &m, r, has_reply);
	iovh_ctrl_unlock();
	return res;
}

/* Send with NEED_REPLY and return the ack: 0 ok, 1 refused, -1 no ack. */
static int
msg_ack(uint32_t req, const void *payload, uint32_t size, const int *fds,
		int nfds)
{
	struct vhu_msg r;
	int has = 0;

	if (msg(req, VHU_FLAG_NEED_REPLY, payload, size, fds, nfds, &r,
			&has) != IOVH_MSG_OK)
		return -2;
	if (!has || r.hdr.size != 8 || !(r.hdr.flags & VHU_FLAG_REPLY) ||
			r.hdr.request != req)
		return -1;
	return r.payload.u64 == 0 ? 0 : 1;
}

static int
u64_ack(uint32_t req, uint64_t v)
{
	return msg_ack(req, &v, sizeof(v), NULL, 0);
}

static uint64_t
get_u64(uint32_t req)
{
	struct vhu_msg r;
	int has = 0;

	if (msg(req, 0, NULL, 0, NULL, 0, &r, &has) != IOVH_MSG_OK || !has ||
			r.hdr.size != 8)
		return UINT64_MAX;
	return r.payload.u64;
}

static int
state_ack(uint32_t req, uint32_t index, uint32_t num)
{
	struct vhu_vring_state s = { .index = index, .num = num };

	return msg_ack(req, &s, sizeof(s), NULL, 0);
}

static int
fresh_memfd(uint64_t size)
{
	int fd = memfd_create("iovh-test", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, size) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Negotiate protocol features including REPLY_ACK, so acks come back. */
static int
negotiate(uint64_t features)
{
	uint64_t proto = get_u64(VHU_GET_PROTOCOL_FEATURES);
	struct vhu_msg r;
	int has;

	TEST_ASSERT(proto & (1ULL << VHU_PROTO_F_REPLY_ACK), "no REPLY_ACK");
	TEST_ASSERT_EQUAL(msg(VHU_SET_PROTOCOL_FEATURES, 0, &proto, 8, NULL, 0,
			&r, &has), IOVH_MSG_OK, "");
	TEST_ASSERT_EQUAL(has, 0, "SET_PROTOCOL_FEATURES needs no reply");
	TEST_ASSERT_EQUAL(u64_ack(VHU_SET_FEATURES, features), 0,
			"features 0x%" PRIx64, features);
	return TEST_SUCCESS;
}

static int
set_mem_two_regions(void)
{
	struct vhu_memory m = { .nregions = 2 };
	int fds[2];

	/* Out of order on purpose: the table must come out sorted. */
	m.regions[0] = (struct vhu_mem_region){ GPA_B, MEM_SZ, FVA_B, 0 };
	m.regions[1] = (struct vhu_mem_region){ GPA_A, MEM_SZ, FVA_A, 0 };
	fds[0] = dup(memfd_b);
	fds[1] = dup(memfd_a);
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_MEM_TABLE, &m, 8 + 2 * 32, fds, 2),
			0, "two good regions");
	return TEST_SUCCESS;
}

static int
setup_vring(uint32_t idx, uint64_t fva_base)
{
	struct vhu_vring_addr a = {
		.index = idx,
		.desc_user_addr = fva_base,
		.avail_user_addr = fva_base + 16 * RING,
		.used_user_addr = fva_base + 0x2000 + 0x1000,
	};
	uint64_t kick;
	int efd;

	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_NUM, idx, RING), 0, "");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_BASE, idx, 0), 0, "");
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0),
			0, "");
	efd = eventfd(0, EFD_CLOEXEC);
	kick = idx;
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_KICK, &kick, 8, &efd, 1), 0, "");
	efd = eventfd(0, EFD_CLOEXEC);
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_CALL, &kick, 8, &efd, 1), 0, "");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_ENABLE, idx, 1), 0, "");
	return TEST_SUCCESS;
}

static int
suite_setup(void)
{
	fds_at_start = count_fds();
	memfd_a = fresh_memfd(MEM_SZ);
	memfd_b = fresh_memfd(MEM_SZ);
	TEST_ASSERT(memfd_a >= 0 && memfd_b >= 0, "memfd: %s", strerror(errno));
	return TEST_SUCCESS;
}

static void
suite_teardown(void)
{
	close(memfd_a);
	close(memfd_b);
}

static int
case_setup(void)
{
	struct iovh_dev_conf conf = {
		.max_queue_pairs = 2,
		.numa_node = SOCKET_ID_ANY,
		.mtu = 1500,
		.ops = &ops,
	};

	snprintf(sock_dir, sizeof(sock_dir), "/tmp/iovh-msg-XXXXXX");
	TEST_ASSERT_NOT_NULL(mkdtemp(sock_dir), "mkdtemp");
	snprintf(sock_path, sizeof(sock_path), "%s/s.sock", sock_dir);
	conf.path = sock_path;
	memset(&cb, 0, sizeof(cb));
	dev = iovh_dev_create(&conf);
	TEST_ASSERT_NOT_NULL(dev, "iovh_dev_create");
	return TEST_SUCCESS;
}

static void
case_teardown(void)
{
	iovh_dev_destroy(dev);
	dev = NULL;
	rmdir(sock_dir);
}

/* ---- cases ---- */

static int
test_features(void)
{
	uint64_t f = get_u64(VHU_GET_FEATURES);

	TEST_ASSERT(f & (1ULL << VIRTIO_F_VERSION_1), "VERSION_1 offered");
	TEST_ASSERT(f & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES), "");
	TEST_ASSERT(!(f & (1ULL << VIRTIO_F_IOMMU_PLATFORM)),
		"IOMMU_PLATFORM must not be offered before the IOTLB exists");
	TEST_CHECK(negotiate(f));
	TEST_ASSERT_EQUAL(iovh_dev_features(dev), f, "");
	/* A bit we did not offer is refused and changes nothing. */
	TEST_ASSERT_EQUAL(u64_ack(VHU_SET_FEATURES, f | (1ULL << 63)), 1, "");
	TEST_ASSERT_EQUAL(iovh_dev_features(dev), f, "");
	TEST_ASSERT_EQUAL(u64_ack(VHU_SET_PROTOCOL_FEATURES, 1ULL << 62), 1,
			"unoffered protocol feature");
	return TEST_SUCCESS;
}

static int
test_framing(void)
{
	struct vhu_msg r;
	int has, efd;
	uint64_t v = 0;

	TEST_CHECK(negotiate(1ULL << VIRTIO_F_VERSION_1));
	/* Wrong protocol version: nothing can be trusted after it. */
	iovh_ctrl_lock();
	{
		struct vhu_msg m = { .hdr = { VHU_SET_OWNER, 0x2, 0 } };

		TEST_ASSERT_EQUAL(iovh_msg_handle(dev, &m, &r, &has),
				IOVH_MSG_CLOSE, "version 2");
	}
	iovh_ctrl_unlock();
	TEST_ASSERT_EQUAL(msg_ack(999, NULL, 0, NULL, 0), 1, "unknown request");
	TEST_ASSERT_EQUAL(msg_ack(VHU_GET_CONFIG + 0, NULL, 0, NULL, 0), -2,
			"an unsupported request that expects an answer closes");
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_ENDIAN, &v, 8, NULL, 0), 1,
			"unsupported request");
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_NUM, &v, 4, NULL, 0), 1,
			"short payload");
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_OWNER, &v, 8, NULL, 0), 1,
			"payload where none is expected");
	/* Unexpected fds are refused and closed, never leaked. */
	efd = eventfd(0, EFD_CLOEXEC);
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_OWNER, NULL, 0, &efd, 1), 1, "");
	TEST_ASSERT(!fd_open(efd), "fd of a refused message was not closed");
	/* Without NEED_REPLY nothing is sent back for a set message. */
	TEST_ASSERT_EQUAL(msg(VHU_SET_OWNER, 0, NULL, 0, NULL, 0, &r, &has),
			IOVH_MSG_OK, "");
	TEST_ASSERT_EQUAL(has, 0, "");
	return TEST_SUCCESS;
}

static int
test_gated_requests(void)
{
	uint64_t v = 1500;
	struct vhu_msg r;
	int has;

	/* Before SET_PROTOCOL_FEATURES nothing optional is allowed. */
	TEST_ASSERT_EQUAL(msg(VHU_NET_SET_MTU, 0, &v, 8, NULL, 0, &r, &has),
			IOVH_MSG_OK, "refused quietly without NEED_REPLY");
	TEST_ASSERT_EQUAL(iovh_dev_mtu(dev), 0, "MTU applied without NET_MTU");
	TEST_ASSERT_EQUAL(msg(VHU_GET_QUEUE_NUM, 0, NULL, 0, NULL, 0, &r, &has),
			IOVH_MSG_CLOSE, "GET_QUEUE_NUM without MQ");
	TEST_CHECK(negotiate(1ULL << VIRTIO_F_VERSION_1));
	TEST_ASSERT_EQUAL(get_u64(VHU_GET_QUEUE_NUM), 2, "");
	TEST_ASSERT_EQUAL(get_u64(VHU_GET_MAX_MEM_SLOTS), IOVH_MAX_MEM_SLOTS, "");
	TEST_ASSERT_EQUAL(u64_ack(VHU_NET_SET_MTU, 9000), 0, "");
	TEST_ASSERT_EQUAL(iovh_dev_mtu(dev), 9000, "");
	TEST_ASSERT_EQUAL(u64_ack(VHU_NET_SET_MTU, 67), 1, "MTU below 68");
	TEST_ASSERT_EQUAL(u64_ack(VHU_NET_SET_MTU, 70000), 1, "MTU too big");
	TEST_ASSERT_EQUAL(iovh_dev_mtu(dev), 9000, "");
	TEST_ASSERT_EQUAL(u64_ack(VHU_SET_STATUS, 0xf), 0, "");
	TEST_ASSERT_EQUAL(get_u64(VHU_GET_STATUS), 0xf, "");
	TEST_ASSERT_EQUAL(u64_ack(VHU_SET_STATUS, 0x100), 1, "status > 0xff");
	/* IOTLB messages without IOMMU_PLATFORM negotiated. */
	{
		struct vhu_iotlb t = { .iova = 0, .size = 4096, .uaddr = FVA_A,
			.perm = VHU_ACCESS_RW, .type = VHU_IOTLB_UPDATE };

		TEST_ASSERT_EQUAL(msg_ack(VHU_IOTLB_MSG, &t, sizeof(t), NULL, 0),
				1, "IOTLB without IOMMU_PLATFORM");
	}
	return TEST_SUCCESS;
}

static int
test_mem_table(void)
{
	struct vhu_memory m = { .nregions = 1 };
	uint64_t len, hva;
	uint32_t hint = 0;
	uint8_t *view;
	int fds[2];

	TEST_CHECK(negotiate(1ULL << VIRTIO_F_VERSION_1));
	TEST_CHECK(set_mem_two_regions());
	TEST_ASSERT_EQUAL(dev->mem->nregions, 2, "");
	TEST_ASSERT_EQUAL(dev->mem->r[0].gpa, GPA_A, "sorted by gpa");
	/* A translation lands in the right file at the right offset. */
	view = mmap(NULL, MEM_SZ, PROT_READ, MAP_SHARED, memfd_b, 0);
	TEST_ASSERT(view != MAP_FAILED, "mmap");
	len = 4096;
	hva = iovh_gpa_to_hva(dev->mem, GPA_B + 0x1234, &len, &hint);
	TEST_ASSERT(hva != 0, "");
	*(volatile uint8_t *)(uintptr_t)hva = 0x5a;
	TEST_ASSERT_EQUAL(view[0x1234], 0x5a, "write not seen in region B");
	TEST_ASSERT_EQUAL(hint, 1, "hint = region B");
	munmap(view, MEM_SZ);
	/* A buffer crossing the end of region A is trimmed to it. */
	len = 0x100;
	hva = iovh_gpa_to_hva(dev->mem, GPA_A + MEM_SZ - 0x10, &len, &hint);
	TEST_ASSERT(hva != 0 && len == 0x10, "len %" PRIu64, len);
	len = 1;
	TEST_ASSERT_EQUAL(iovh_gpa_to_hva(dev->mem, GPA_B + MEM_SZ, &len,
			&hint), 0, "past the last region");
	TEST_ASSERT_EQUAL(iovh_fva_to_gpa(dev->mem, FVA_B + 8), GPA_B + 8, "");

	/* Bad tables are refused, fds closed, the old table kept. */
	m.regions[0] = (struct vhu_mem_region){ 0, 2 * MEM_SZ, FVA_A, 0 };
	fds[0] = dup(memfd_a);
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_MEM_TABLE, &m, 40, fds, 1), 1,
			"region larger than its file");
	TEST_ASSERT(!fd_open(fds[0]), "fd leaked");
	m.regions[0] = (struct vhu_mem_region){ 0, MEM_SZ, FVA_A, 8 };
	fds[0] = dup(memfd_a);
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_MEM_TABLE, &m, 40, fds, 1), 1,
			"offset pushes region past the file end");
	m.regions[0] = (struct vhu_mem_region){ 0, 0, FVA_A, 0 };
	fds[0] = dup(memfd_a);
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_MEM_TABLE, &m, 40, fds, 1), 1,
			"zero-sized region");
	m.regions[0] = (struct vhu_mem_region){ UINT64_MAX - 10, MEM_SZ, FVA_A, 0 };
	fds[0] = dup(memfd_a);
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_MEM_TABLE, &m, 40, fds, 1), 1,
			"gpa range wraps");
	m.regions[0] = (struct vhu_mem_region){ 0, MEM_SZ, FVA_A, 0 };
	fds[0] = dup(memfd_a);
	fds[1] = dup(memfd_b);
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_MEM_TABLE, &m, 40, fds, 2), 1,
			"more fds than regions");
	TEST_ASSERT(!fd_open(fds[0]) && !fd_open(fds[1]), "fds leaked");
	m.nregions = 2;
	m.regions[1] = (struct vhu_mem_region){ MEM_SZ / 2, MEM_SZ, FVA_B, 0 };
	fds[0] = dup(memfd_a);
	fds[1] = dup(memfd_b);
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_MEM_TABLE, &m, 72, fds, 2), 1,
			"overlapping guest-physical ranges");
	m.nregions = 9;
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_MEM_TABLE, &m, 8 + 8 * 32, NULL, 0),
			1, "nine regions");
	m.nregions = 0;
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_MEM_TABLE, &m, 40, NULL, 0), 1,
			"no regions");
	fds[0] = eventfd(0, EFD_CLOEXEC);
	m.nregions = 1;
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_MEM_TABLE, &m, 40, fds, 1), 1,
			"region fd that is not a file");
	TEST_ASSERT_EQUAL(dev->mem->nregions, 2, "old table kept");
	return TEST_SUCCESS;
}

static int
test_mem_slots(void)
{
	struct vhu_mem_single s = { 0 };
	int fd;

	TEST_CHECK(negotiate(1ULL << VIRTIO_F_VERSION_1));
	s.region = (struct vhu_mem_region){ GPA_A, MEM_SZ, FVA_A, 0 };
	fd = dup(memfd_a);
	TEST_ASSERT_EQUAL(msg_ack(VHU_ADD_MEM_REG, &s, sizeof(s), &fd, 1), 0, "");
	s.region = (struct vhu_mem_region){ GPA_A + 4096, 4096, FVA_B, 0 };
	fd = dup(memfd_b);
	TEST_ASSERT_EQUAL(msg_ack(VHU_ADD_MEM_REG, &s, sizeof(s), &fd, 1), 1,
			"overlap");
	TEST_ASSERT(!fd_open(fd), "fd leaked");
	s.region = (struct vhu_mem_region){ GPA_B, MEM_SZ, FVA_B, 0 };
	fd = dup(memfd_b);
	TEST_ASSERT_EQUAL(msg_ack(VHU_ADD_MEM_REG, &s, sizeof(s), &fd, 1), 0, "");
	TEST_ASSERT_EQUAL(dev->mem->nregions, 2, "");
	s.region = (struct vhu_mem_region){ GPA_B, 4096, FVA_B, 0 };
	TEST_ASSERT_EQUAL(msg_ack(VHU_REM_MEM_REG, &s, sizeof(s), NULL, 0), 1,
			"no such region");
	s.region = (struct vhu_mem_region){ GPA_A, MEM_SZ, FVA_A, 0 };
	TEST_ASSERT_EQUAL(msg_ack(VHU_REM_MEM_REG, &s, sizeof(s), NULL, 0), 0, "");
	TEST_ASSERT_EQUAL(dev->mem->nregions, 1, "");
	TEST_ASSERT_EQUAL(dev->mem->r[0].gpa, GPA_B, "");
	return TEST_SUCCESS;
}

static int
test_vrings(void)
{
	struct vhu_vring_addr a = { .index = 0 };
	uint64_t v;
	int p[2], efd;

	TEST_CHECK(negotiate(1ULL << VIRTIO_F_VERSION_1));
	TEST_CHECK(set_mem_two_regions());
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_NUM, 0, 0), 1, "size 0");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_NUM, 0, 100), 1, "size 100");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_NUM, 0, 65536), 1, "");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_NUM, 4, 256), 1,
			"index beyond 2 queue pairs");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_NUM, 0, 32768), 0, "");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_BASE, 0, 70000), 1, "");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_ENABLE, 0, 2), 1, "");
	/* A 32768-entry ring does not fit in 1 MiB after this address. */
	a.desc_user_addr = FVA_A + MEM_SZ - 4096;
	a.avail_user_addr = FVA_A;
	a.used_user_addr = FVA_A + 0x10000;
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0),
			1, "descriptor ring runs off guest memory");
	TEST_ASSERT(dev->vq[0]->desc == NULL, "");
	a.desc_user_addr = FVA_A + 8;
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0),
			1, "misaligned descriptor ring");
	a.desc_user_addr = 0x1000;
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0),
			1, "address outside guest memory");
	a.desc_user_addr = FVA_A;
	a.avail_user_addr = FVA_A + 0x80000;
	a.used_user_addr = FVA_A + 0x90000;
	a.flags = 0x10;
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0),
			1, "unknown flags");
	/* Kick and call fds must be eventfds; flags and counts must agree. */
	TEST_ASSERT_SUCCESS(pipe(p), "pipe");
	v = 0;
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_CALL, &v, 8, &p[0], 1), 1,
			"a pipe as call fd");
	TEST_ASSERT(!fd_open(p[0]), "refused fd kept open");
	close(p[1]);
	efd = eventfd(0, EFD_CLOEXEC);
	v = VHU_VRING_NOFD_MASK;
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_KICK, &v, 8, &efd, 1), 1,
			"no-fd flag with an fd");
	TEST_ASSERT(!fd_open(efd), "fd leaked");
	v = 1ULL << 20;
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_KICK, &v, 8, NULL, 0), 1,
			"reserved bits");
	v = VHU_VRING_NOFD_MASK | 0;
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_KICK, &v, 8, NULL, 0), 0,
			"polling mode: no kick fd");
	return TEST_SUCCESS;
}

static int
test_lifecycle(void)
{
	struct vhu_vring_state s = { .index = 0 };
	struct vhu_msg r;
	int has;

	TEST_CHECK(negotiate((1ULL << VIRTIO_F_VERSION_1) |
			(1ULL << VHOST_USER_F_PROTOCOL_FEATURES)));
	TEST_CHECK(set_mem_two_regions());
	TEST_CHECK(setup_vring(0, FVA_A));
	TEST_ASSERT_EQUAL(cb.new_device, 0, "one ring is not a device");
	TEST_CHECK(setup_vring(1, FVA_A + 0x10000));
	TEST_ASSERT_EQUAL(cb.new_device, 1, "");
	TEST_ASSERT_EQUAL(cb.state_changes, 2, "");
	TEST_ASSERT(dev->running && dev->vq[0]->ready && dev->vq[1]->ready, "");
	TEST_ASSERT(!dev->vq[2]->ready, "");
	TEST_ASSERT_EQUAL(iovh_dev_nb_vrings(dev), 2, "");
	/* Ring stop: the device stops, the base comes back. */
	dev->vq[1]->last_avail_idx = 17;
	s.index = 1;
	TEST_ASSERT_EQUAL(msg(VHU_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0,
			&r, &has), IOVH_MSG_OK, "");
	TEST_ASSERT(has && r.hdr.size == sizeof(s), "");
	TEST_ASSERT_EQUAL(r.payload.state.num, 17, "");
	TEST_ASSERT_EQUAL(cb.destroy_device, 1, "");
	TEST_ASSERT(!dev->running && !dev->vq[0]->ready, "");
	s.index = 9;
	TEST_ASSERT_EQUAL(msg(VHU_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0,
			&r, &has), IOVH_MSG_CLOSE, "bad index, answer awaited");
	/* Restart the ring: the device runs again. */
	TEST_CHECK(setup_vring(1, FVA_A + 0x10000));
	TEST_ASSERT_EQUAL(cb.new_device, 2, "");
	/* An application that refuses the device leaves it stopped. */
	TEST_ASSERT_EQUAL(msg(VHU_RESET_OWNER, 0, NULL, 0, NULL, 0, &r, &has),
			IOVH_MSG_OK, "");
	TEST_ASSERT_EQUAL(cb.destroy_device, 2, "");
	TEST_ASSERT(dev->mem == NULL && dev->vq[0]->callfd < 0, "reset");
	cb.refuse = 1;
	TEST_CHECK(negotiate((1ULL << VIRTIO_F_VERSION_1) |
			(1ULL << VHOST_USER_F_PROTOCOL_FEATURES)));
	TEST_CHECK(set_mem_two_regions());
	TEST_CHECK(setup_vring(0, FVA_A));
	TEST_CHECK(setup_vring(1, FVA_A + 0x10000));
	TEST_ASSERT_EQUAL(cb.new_device, 3, "");
	TEST_ASSERT(!dev->running && !dev->vq[0]->ready, "refused device runs");
	return TEST_SUCCESS;
}

static int
test_legacy_kick_enables(void)
{
	/* Without PROTOCOL_FEATURES the kick itself starts the ring. */
	struct vhu_vring_addr a = { .index = 0, .desc_user_addr = FVA_A,
		.avail_user_addr = FVA_A + 0x8000,
		.used_user_addr = FVA_A + 0x9000 };
	struct vhu_msg r;
	int has, efd;
	uint64_t f = 1ULL << VIRTIO_F_VERSION_1, v;
	struct vhu_memory m = { .nregions = 1 };
	struct vhu_vring_state s = { 0, RING };

	msg(VHU_SET_FEATURES, 0, &f, 8, NULL, 0, &r, &has);
	m.regions[0] = (struct vhu_mem_region){ GPA_A, MEM_SZ, FVA_A, 0 };
	efd = dup(memfd_a);
	msg(VHU_SET_MEM_TABLE, 0, &m, 40, &efd, 1, &r, &has);
	for (s.index = 0; s.index < 2; s.index++) {
		msg(VHU_SET_VRING_NUM, 0, &s, sizeof(s), NULL, 0, &r, &has);
		a.index = s.index;
		a.desc_user_addr = FVA_A + s.index * 0x10000;
		a.avail_user_addr = a.desc_user_addr + 0x8000;
		a.used_user_addr = a.desc_user_addr + 0x9000;
		msg(VHU_SET_VRING_ADDR, 0, &a, sizeof(a), NULL, 0, &r, &has);
		TEST_ASSERT(dev->vq[s.index]->desc != NULL, "ring %u", s.index);
		v = s.index;
		efd = eventfd(0, EFD_CLOEXEC);
		msg(VHU_SET_VRING_KICK, 0, &v, 8, &efd, 1, &r, &has);
		TEST_ASSERT(dev->vq[s.index]->enabled, "ring %u", s.index);
	}
	TEST_ASSERT(dev->running, "legacy front-end never got a device");
	return TEST_SUCCESS;
}

static int
test_log_base(void)
{
	struct vhu_log l = { .mmap_size = 4096, .mmap_offset = 0 };
	struct vhu_msg r;
	int has, fd;

	TEST_CHECK(negotiate((1ULL << VIRTIO_F_VERSION_1) |
			(1ULL << VHOST_F_LOG_ALL)));
	fd = fresh_memfd(4096);
	TEST_ASSERT_EQUAL(msg(VHU_SET_LOG_BASE, 0, &l, sizeof(l), &fd, 1, &r,
			&has), IOVH_MSG_OK, "");
	TEST_ASSERT(has && r.hdr.size == 0, "SET_LOG_BASE wants an empty reply");
	TEST_ASSERT(dev->log_on && dev->log_size == 4096, "");
	TEST_ASSERT(!fd_open(fd), "log fd kept open after mapping");
	/* gpa of a byte in page 9 → bit 1 of byte 1. */
	iovh_log_write(dev, 9 * 4096 + 100, 1);
	TEST_ASSERT_EQUAL(dev->log_base[1], 0x2, "");
	/* A write ending on the last byte of page 20 marks 20, not 21. */
	iovh_log_write(dev, 20 * 4096, 4096);
	TEST_ASSERT_EQUAL(dev->log_base[2], 0x10, "");
	l.mmap_size = 8192;
	fd = fresh_memfd(4096);
	TEST_ASSERT_EQUAL(msg(VHU_SET_LOG_BASE, 0, &l, sizeof(l), &fd, 1, &r,
			&has), IOVH_MSG_CLOSE, "log larger than its file");
	return TEST_SUCCESS;
}

/*
 * SEND_RARP: the next dequeue on virtqueue 1 starts with a broadcast RARP
 * from the MAC (as the stock library does after a migration), once; a
 * reset forgets a RARP not yet sent.
 */
static int
test_send_rarp(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	const struct rte_ether_hdr *eth;
	const struct rte_arp_hdr *arp;
	struct rte_mempool *mp;
	struct rte_mbuf *pkts[4];
	struct vhu_msg r;
	uint64_t v = 0;
	uint16_t n;
	int has, rc = TEST_FAILED;

	mp = rte_pktmbuf_pool_create("msg_rarp", 63, 0, 0,
			RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	TEST_ASSERT_NOT_NULL(mp, "mempool");
	memcpy(&v, mac, sizeof(mac));
	if (negotiate((1ULL << VIRTIO_F_VERSION_1) |
			(1ULL << VHOST_USER_F_PROTOCOL_FEATURES)) != TEST_SUCCESS ||
			set_mem_two_regions() != TEST_SUCCESS ||
			setup_vring(0, FVA_A) != TEST_SUCCESS ||
			setup_vring(1, FVA_A + 0x10000) != TEST_SUCCESS)
		goto out;
	if (iovh_dequeue_burst(dev, 1, mp, pkts, 4) != 0)
		goto out;	/* nothing posted, nothing asked for */
	if (u64_ack(VHU_SEND_RARP, v) != 0)
		goto out;
	n = iovh_dequeue_burst(dev, 1, mp, pkts, 4);
	if (n != 1) {
		printf("dequeue after SEND_RARP: %u packets, expected the RARP\n", n);
		goto out;
	}
	eth = rte_pktmbuf_mtod(pkts[0], const struct rte_ether_hdr *);
	arp = (const struct rte_arp_hdr *)(eth + 1);
	if (pkts[0]->pkt_len != 60 || pkts[0]->data_len != 60 ||
			!rte_is_broadcast_ether_addr(&eth->dst_addr) ||
			memcmp(&eth->src_addr, mac, 6) != 0 ||
			eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_RARP) ||
			arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REVREQUEST) ||
			memcmp(&arp->arp_data.arp_sha, mac, 6) != 0 ||
			memcmp(&arp->arp_data.arp_tha, mac, 6) != 0) {
		printf("the RARP is not a 60-byte broadcast RARP from the MAC\n");
		rte_pktmbuf_free(pkts[0]);
		goto out;
	}
	rte_pktmbuf_free(pkts[0]);
	if (iovh_dequeue_burst(dev, 1, mp, pkts, 4) != 0) {
		printf("the RARP came twice\n");
		goto out;
	}
	/* Pending across a reset: the next guest must not be announced. */
	if (u64_ack(VHU_SEND_RARP, v) != 0 ||
			msg(VHU_RESET_OWNER, 0, NULL, 0, NULL, 0, &r, &has) !=
			IOVH_MSG_OK ||
			negotiate((1ULL << VIRTIO_F_VERSION_1) |
			(1ULL << VHOST_USER_F_PROTOCOL_FEATURES)) != TEST_SUCCESS ||
			set_mem_two_regions() != TEST_SUCCESS ||
			setup_vring(0, FVA_A) != TEST_SUCCESS ||
			setup_vring(1, FVA_A + 0x10000) != TEST_SUCCESS)
		goto out;
	if (iovh_dequeue_burst(dev, 1, mp, pkts, 4) != 0) {
		printf("a RARP asked for before a reset was sent after it\n");
		rte_pktmbuf_free_bulk(pkts, 1);
		goto out;
	}
	rc = TEST_SUCCESS;
out:
	TEST_ASSERT_EQUAL(rte_mempool_avail_count(mp), 63, "mbufs leaked");
	rte_mempool_free(mp);
	return rc;
}

static int
test_backend_channel(void)
{
	int sv[2], efd;

	TEST_CHECK(negotiate(1ULL << VIRTIO_F_VERSION_1));
	efd = eventfd(0, EFD_CLOEXEC);
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_BACKEND_REQ_FD, NULL, 0, &efd, 1), 1,
			"an eventfd is no back-end channel");
	TEST_ASSERT_SUCCESS(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
			sv), "socketpair");
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1),
			0, "");
	TEST_ASSERT_EQUAL(dev->backend_fd, sv[1], "");
	close(sv[0]);
	return TEST_SUCCESS;
}

/*
 * Found by fuzz_msg (app/fuzz/corpus/msg/regress-misaligned-ring): with a
 * region whose front-end address is not page aligned, an aligned ring
 * address translates to a misaligned host address. The rings are read and
 * written with atomics: such a ring must be refused, never used.
 */
static int
test_ring_host_alignment(void)
{
	struct vhu_memory m = { .nregions = 1 };
	struct vhu_vring_addr a = {
		.index = 0,
		.desc_user_addr = FVA_A + 0x10000,
		.avail_user_addr = FVA_A + 0x11000,
		.used_user_addr = FVA_A + 0x12000,
	};
	const struct iovh_vq *vq = dev->vq[0];
	int fd;

	TEST_CHECK(negotiate(1ULL << VIRTIO_F_VERSION_1));
	m.regions[0] = (struct vhu_mem_region){ GPA_A, MEM_SZ, FVA_A + 1, 0 };
	fd = dup(memfd_a);
	/* Refusing the region or the ring are both fine. */
	msg_ack(VHU_SET_MEM_TABLE, &m, 40, &fd, 1);
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_NUM, 0, RING), 0, "");
	msg_ack(VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	TEST_ASSERT(vq->desc == NULL || ((uintptr_t)vq->desc & 15) == 0,
		"descriptor table at host address %p", (void *)vq->desc);
	TEST_ASSERT(vq->avail == NULL || ((uintptr_t)vq->avail & 1) == 0,
		"avail ring at host address %p", (void *)vq->avail);
	TEST_ASSERT(vq->used == NULL || ((uintptr_t)vq->used & 3) == 0,
		"used ring at host address %p", (void *)vq->used);
	return TEST_SUCCESS;
}

static int
test_no_fd_leak(void)
{
	/* Everything above ran its own device; all were destroyed. */
	int now;

	case_teardown();
	now = count_fds();
	TEST_CHECK(case_setup());
	/* Our two memfds are the only fds the suite keeps. */
	TEST_ASSERT_EQUAL(now, fds_at_start + 2, "fds leaked by the suite");
	return TEST_SUCCESS;
}

/*
 * Packed rings: any size up to 2^15, SET_VRING_BASE with the wrap counter
 * in bit 15 (virtio-user) or both halves (QEMU 7.2: 0x80008000 for a fresh
 * ring), GET_VRING_BASE answering both halves, the three areas translated.
 */
static int
test_packed_base(void)
{
	const uint64_t f = (1ULL << VIRTIO_F_VERSION_1) |
		(1ULL << VHOST_USER_F_PROTOCOL_FEATURES) |
		(1ULL << VIRTIO_F_RING_PACKED);
	struct vhu_vring_addr a = {
		.index = 0,
		.desc_user_addr = FVA_A,
		.avail_user_addr = FVA_A + 0x1000,
		.used_user_addr = FVA_A + 0x1004,
	};
	struct vhu_vring_state s = { .index = 0 };
	struct iovh_vq *vq = dev->vq[0];
	struct vhu_msg r;
	int has;

	TEST_ASSERT(dev->offered_features & (1ULL << VIRTIO_F_RING_PACKED),
			"RING_PACKED offered");
	TEST_CHECK(negotiate(f));
	TEST_CHECK(set_mem_two_regions());
	TEST_ASSERT(vq->packed, "layout follows the features");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_NUM, 0, 100), 0,
			"a packed ring need not be a power of two");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_BASE, 0, 0x80008000), 0,
			"QEMU's fresh ring");
	TEST_ASSERT(vq->last_avail_idx == 0 && vq->avail_wrap == 1 &&
			vq->last_used_idx == 0 && vq->used_wrap == 1, "");
	TEST_ASSERT_EQUAL(msg_ack(VHU_SET_VRING_ADDR, &a, sizeof(a), NULL, 0),
			0, "");
	TEST_ASSERT(vq->desc_packed != NULL, "rings translated");
	TEST_ASSERT_EQUAL((uintptr_t)vq->device_event -
			(uintptr_t)vq->desc_packed, 0x1004, "");
	TEST_ASSERT_EQUAL(vq->log_event_gpa, GPA_A + 0x1004, "");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_BASE, 0, 37), 0,
			"virtio-user style, wrap 0");
	TEST_ASSERT(vq->last_avail_idx == 37 && vq->avail_wrap == 0 &&
			vq->last_used_idx == 37 && vq->used_wrap == 0, "");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_BASE, 0, 100 | 1 << 15), 1,
			"slot past the ring");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_BASE, 0, 5 | 1 << 15), 0, "");
	TEST_ASSERT_EQUAL(msg(VHU_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0,
			&r, &has), IOVH_MSG_OK, "");
	TEST_ASSERT(has && r.hdr.size == sizeof(s), "");
	TEST_ASSERT_EQUAL(r.payload.state.num, 0x80058005, "both halves");

	/* Without RING_PACKED: a split ring, a power of two, 16-bit base. */
	TEST_ASSERT_EQUAL(msg(VHU_RESET_OWNER, 0, NULL, 0, NULL, 0, &r, &has),
			IOVH_MSG_OK, "");
	TEST_CHECK(negotiate(f & ~(1ULL << VIRTIO_F_RING_PACKED)));
	TEST_ASSERT(!vq->packed, "");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_NUM, 0, 100), 1, "");
	TEST_ASSERT_EQUAL(state_ack(VHU_SET_VRING_BASE, 0, 0x80008000), 1, "");
	return TEST_SUCCESS;
}

static const struct iovh_test_case cases[] = {
	TEST_CASE(test_features),
	TEST_CASE(test_framing),
	TEST_CASE(test_gated_requests),
	TEST_CASE(test_mem_table),
	TEST_CASE(test_mem_slots),
	TEST_CASE(test_vrings),
	TEST_CASE(test_lifecycle),
	TEST_CASE(test_legacy_kick_enables),
	TEST_CASE(test_log_base),
	TEST_CASE(test_send_rarp),
	TEST_CASE(test_backend_channel),
	TEST_CASE(test_ring_host_alignment),
	TEST_CASE(test_no_fd_leak),
	TEST_CASE(test_packed_base),
	TEST_CASES_END(),
};

static int
test_msg(void)
{
	static const struct iovh_test_suite suite = {
		.name = "msg",
		.setup = suite_setup,
		.teardown = suite_teardown,
		.case_setup = case_setup,
		.case_teardown = case_teardown,
		.cases = cases,
	};

	return iovh_test_run_suite(&suite);
}

REGISTER_IOVH_TEST(msg_autotest, test_msg);
