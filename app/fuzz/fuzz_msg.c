/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * fuzz_msg: a hostile front-end's message stream, fed to
 * iovh_msg_handle() one message at a time, with real file descriptors.
 *
 * Input (all integers little-endian):
 *
 *   u8 config   bits 0-2: which device, modulo their number (they
 *               differ in queue pairs, MTU and IOMMU support, hence in
 *               offered features); bit 3: the application refuses
 *               new_device
 *   then messages until the input ends (at most MAX_MSGS):
 *     u8 nfds            taken modulo VHU_MAX_FDS + 1
 *     u8 kind[nfds]      one per fd, see make_fd()
 *     u32 request, u32 flags, u32 size
 *     u8 payload[size]   fewer if the input ends (the rest reads as 0)
 *
 * A size over VHU_MAX_PAYLOAD is what the socket layer refuses before any
 * handler runs: the harness drops the "connection" as it would. So does
 * an IOVH_MSG_CLOSE result. Dropping a connection is emulated the way
 * iovh_ctrl_disconnect() does it: reset the device, close the back-end
 * channel. After each input the device is reset that way too, and must
 * then hold no fd, no mapping and no running state, or the run aborts
 * (LeakSanitizer covers heap memory; fds are counted here, and a mapping
 * left behind shows as a memfd that cannot be sealed against writing).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_memory.h>

#include "ctrl.h"
#include "socket.h"
#include "vhost.h"
#include "fuzz_common.h"

/** Messages per input: enough for a whole set-up and then some. */
#define MAX_MSGS 64
/** Name of every memfd made here (it shows in /proc/self/maps). */
#define MEMFD_NAME "iovh-fuzz-mem"

/* Devices differ in what they offer, so the fuzzer can pick. */
static const struct {
	uint16_t queue_pairs;
	uint16_t mtu;
	uint64_t flags;
	uint32_t iotlb_entries;
} dev_conf[] = {
	{ 1, 0, 0, 0 },
	{ 2, 1500, 0, 0 },
	{ 4, 9000, 0, 0 },
	{ IOVH_MAX_QUEUE_PAIRS, 1500, 0, 0 },
	/* A small IOTLB, so that eviction is reachable. */
	{ 2, 1500, IOVH_F_IOMMU, 8 },
	{ 1, 0, IOVH_F_IOMMU, 0 },
};
#define NDEV RTE_DIM(dev_conf)

static struct iovh_dev *devs[NDEV];
static char sock_dir[64];

/*
 * Application state as the callbacks see it: whether the device is up.
 * new_device while up, or destroy_device while down, is a broken promise
 * of the API (an application would double-start or double-free).
 */
static bool app_up[NDEV];
static bool app_refuse;

/* Every fd slot past nfds holds this one; a handler that closes it has
 * used an fd the message did not carry. */
static int poison_fd = -1;

static unsigned int
dev_slot(const struct iovh_dev *dev)
{
	unsigned int i;

	for (i = 0; i < NDEV; i++)
		if (devs[i] == dev)
			return i;
	FUZZ_CHECK(false, "callback for an unknown device %p", (const void *)dev);
	return 0;
}

static int
cb_new(struct iovh_dev *dev, void *arg __rte_unused)
{
	unsigned int i = dev_slot(dev);

	FUZZ_CHECK(!app_up[i], "new_device on a running device");
	if (app_refuse)
		return -1;
	app_up[i] = true;
	return 0;
}

static void
cb_destroy(struct iovh_dev *dev, void *arg __rte_unused)
{
	unsigned int i = dev_slot(dev);

	FUZZ_CHECK(app_up[i], "destroy_device without a new_device before");
	app_up[i] = false;
}

static void
cb_state(struct iovh_dev *dev, uint16_t vq, bool on __rte_unused,
		void *arg __rte_unused)
{
	FUZZ_CHECK(vq < dev->max_queue_pairs * 2u, "vring_state_changed(%u)",
			vq);
}

static const struct iovh_ops ops = {
	.new_device = cb_new,
	.destroy_device = cb_destroy,
	.vring_state_changed = cb_state,
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	char path[128];
	unsigned int i;

	fuzz_eal_init((*argc > 0) ? (*argv)[0] : "fuzz_msg");
	snprintf(sock_dir, sizeof(sock_dir), "%s/iovh-fuzz-XXXXXX",
		tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(sock_dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	for (i = 0; i < NDEV; i++) {
		struct iovh_dev_conf conf = {
			.path = path,
			.flags = dev_conf[i].flags,
			.max_queue_pairs = dev_conf[i].queue_pairs,
			.numa_node = SOCKET_ID_ANY,
			.mtu = dev_conf[i].mtu,
			.iotlb_entries = dev_conf[i].iotlb_entries,
			.ops = &ops,
		};

		snprintf(path, sizeof(path), "%s/d%u.sock", sock_dir, i);
		devs[i] = iovh_dev_create(&conf);
		if (devs[i] == NULL) {
			fprintf(stderr, "fuzz_msg: cannot create %s\n", path);
			exit(1);
		}
		/* Nobody connects: the socket needs no name, and a crash
		 * then leaves nothing behind. */
		unlink(path);
	}
	rmdir(sock_dir);
	poison_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (poison_fd < 0) {
		perror("/dev/null");
		exit(1);
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* File descriptors a front-end could send                             */

/* Sizes of memfds: what regions, logs and offsets get compared with. */
static const uint64_t memfd_size[32] = {
	0, 1, 4095, 4096, 4097, 8192, 12288, 65536,
	1 << 20, (1 << 20) + 4096, 2 << 20, 4 << 20,
	8 << 20, 16 << 20, 64 << 20, 256 << 20,
	4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288,
	1 << 20, 2 << 20, 3 << 20, 6 << 20, 10 << 20, 32 << 20, 100, 512,
};

/**
 * Harness-held fds: the other ends of pipes and socketpairs, and a
 * duplicate of every memfd (to check afterwards that nothing maps it).
 */
struct peers {
	int fd[MAX_MSGS * VHU_MAX_FDS];
	unsigned int n;
	int memfd[MAX_MSGS * VHU_MAX_FDS];
	unsigned int nmem;
};

/**
 * An fd of the kind @p k says: low 3 bits the kind, the rest a memfd size
 * index. The other end of a pipe or socketpair stays with the harness
 * until the input is done, so that nothing the control thread watches
 * changes under the handlers.
 */
static int
make_fd(uint8_t k, struct peers *p)
{
	int fd = -1, two[2];

	switch (k & 7) {
	case 0:
	case 5:
		fd = memfd_create(MEMFD_NAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd >= 0 && ftruncate(fd, memfd_size[k >> 3]) < 0) {
			close(fd);
			fd = -1;
		}
		if (fd >= 0)
			p->memfd[p->nmem++] = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		break;
	case 1:
	case 6:
		fd = eventfd(0, EFD_CLOEXEC);
		break;
	case 2:
		if (pipe2(two, O_CLOEXEC) == 0) {
			fd = two[0];
			p->fd[p->n++] = two[1];
		}
		break;
	case 3:
	case 7:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				two) == 0) {
			fd = two[0];
			p->fd[p->n++] = two[1];
		}
		break;
	case 4:
		/* Nothing a socket can deliver, but cheap to check. */
		fd = -1;
		break;
	}
	return fd;
}

/* ------------------------------------------------------------------ */

/** What the control thread does when a front-end goes away. */
static void
drop_connection(struct iovh_dev *dev)
{
	iovh_dev_reset(dev);
	iovh_ctrl_close_backend(dev);
}

/** After a drop the device must be as if no front-end had ever come. */
static void
check_clean(const struct iovh_dev *dev, unsigned int slot)
{
	unsigned int i;

	FUZZ_CHECK(dev->mem == NULL, "memory table survives a reset");
	FUZZ_CHECK(dev->log_mmap == NULL && dev->log_base == NULL,
			"dirty log survives a reset");
	FUZZ_CHECK(dev->backend_fd < 0, "back-end channel survives a reset");
	FUZZ_CHECK(!dev->running && !app_up[slot],
			"device still running after a reset");
	FUZZ_CHECK(dev->features == 0 && dev->protocol_features == 0 &&
			!dev->features_set, "features survive a reset");
	FUZZ_CHECK(dev->iotlb.nmaps == 0, "%u IOTLB entries survive a reset",
			dev->iotlb.nmaps);
	for (i = 0; i < dev->max_queue_pairs * 2u; i++) {
		const struct iovh_vq *vq = dev->vq[i];

		FUZZ_CHECK(vq->kickfd < 0 && vq->callfd < 0 && vq->errfd < 0,
				"vring %u keeps an fd after a reset", i);
		FUZZ_CHECK(!vq->ready && vq->desc == NULL,
				"vring %u still usable after a reset", i);
	}
}

/** One message through the handler, with the checks around it. */
static enum iovh_msg_result
run_one(struct iovh_dev *dev, struct vhu_msg *m)
{
	struct vhu_msg reply;
	enum iovh_msg_result r;
	uint32_t req = m->hdr.request;
	int has_reply = 0, i;

	iovh_ctrl_lock();
	r = iovh_msg_handle(dev, m, &reply, &has_reply);
	iovh_ctrl_unlock();

	FUZZ_CHECK(m->nfds == 0, "message fds not consumed (%d left)",
			m->nfds);
	FUZZ_CHECK(fcntl(poison_fd, F_GETFD) >= 0,
			"a handler closed an fd the message did not carry");
	for (i = 0; i < VHU_MAX_FDS; i++)
		m->fds[i] = poison_fd;
	FUZZ_CHECK(r == IOVH_MSG_OK || r == IOVH_MSG_CLOSE, "result %d", r);
	if (r == IOVH_MSG_OK && has_reply) {
		FUZZ_CHECK(reply.hdr.size <= VHU_MAX_PAYLOAD,
				"reply of %u bytes", reply.hdr.size);
		FUZZ_CHECK(reply.hdr.request == req, "reply to %u for %u",
				reply.hdr.request, req);
		FUZZ_CHECK(reply.hdr.flags == (VHU_VERSION | VHU_FLAG_REPLY),
				"reply flags 0x%x", reply.hdr.flags);
	}
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	static struct peers peers;
	static struct vhu_msg m;
	struct iovh_dev *dev;
	unsigned int slot, nmsg, i;
	uint8_t cfg, kind[VHU_MAX_FDS];
	int nfds, n, fds_before;

	/* Counted per input: libFuzzer itself opens some after start-up. */
	fds_before = fuzz_count_fds();
	cfg = fuzz_u8(&in);
	slot = (cfg & 7) % NDEV;
	dev = devs[slot];
	app_refuse = (cfg >> 3) & 1;
	peers.n = 0;
	peers.nmem = 0;
	memset(&m, 0, sizeof(m));
	for (i = 0; i < VHU_MAX_FDS; i++)
		m.fds[i] = poison_fd;

	for (nmsg = 0; in.left > 0 && nmsg < MAX_MSGS; nmsg++) {
		nfds = fuzz_u8(&in) % (VHU_MAX_FDS + 1);
		for (i = 0; i < (unsigned int)nfds; i++)
			kind[i] = fuzz_u8(&in);
		m.hdr.request = fuzz_le(&in, 4);
		m.hdr.flags = fuzz_le(&in, 4);
		m.hdr.size = fuzz_le(&in, 4);
		for (i = 0; i < (unsigned int)nfds; i++)
			m.fds[i] = make_fd(kind[i], &peers);
		m.nfds = nfds;
		if (m.hdr.size > VHU_MAX_PAYLOAD) {
			/* Refused by the reader: no handler sees it. */
			iovh_close_fds(m.fds, m.nfds);
			for (i = 0; i < VHU_MAX_FDS; i++)
				m.fds[i] = poison_fd;
			m.nfds = 0;
			iovh_ctrl_lock();
			drop_connection(dev);
			iovh_ctrl_unlock();
			continue;
		}
		/*
		 * A real reader leaves the bytes of an earlier, longer message
		 * past hdr.size; so does this one (the handler must not read
		 * them).
		 */
		fuzz_bytes(&in, m.payload.raw, m.hdr.size);
		if (run_one(dev, &m) == IOVH_MSG_CLOSE) {
			iovh_ctrl_lock();
			drop_connection(dev);
			iovh_ctrl_unlock();
		}
	}

	iovh_ctrl_lock();
	drop_connection(dev);
	check_clean(dev, slot);
	iovh_ctrl_unlock();
	for (i = 0; i < peers.n; i++)
		close(peers.fd[i]);
	for (i = 0; i < peers.nmem; i++) {
		/*
		 * The kernel refuses a write seal while a writable shared
		 * mapping exists, and the library maps only that way: one
		 * system call instead of reading /proc/self/maps.
		 */
		FUZZ_CHECK(peers.memfd[i] < 0 ||
			fcntl(peers.memfd[i], F_ADD_SEALS, F_SEAL_WRITE) == 0 ||
			errno != EBUSY,
			"a memfd is still mapped after a reset (%d mappings)",
			fuzz_count_maps(MEMFD_NAME));
		if (peers.memfd[i] >= 0)
			close(peers.memfd[i]);
	}

	/*
	 * Other threads (EAL's, libFuzzer's) may hold an fd for a moment:
	 * only a difference that lasts is a leak.
	 */
	for (i = 0; i < 10 && (n = fuzz_count_fds()) != fds_before; i++)
		usleep(10 * 1000);
	if (n != fds_before)
		fuzz_list_fds();
	FUZZ_CHECK(n == fds_before, "%d fds open after the input, %d before",
			n, fds_before);
	return 0;
}
