/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef IOVHOST_H
#define IOVHOST_H

/**
 * @file
 * iovhost: a vhost-user back-end for DPDK applications.
 *
 * One iovh_dev serves one vhost-user socket. A single control thread per
 * process owns every socket and back-end channel; the application's poll
 * threads move packets with iovh_enqueue_burst() and iovh_dequeue_burst(),
 * which never block and never make a system call except to notify a
 * front-end that asked for interrupts.
 *
 * Virtqueue numbering follows virtio-net: queue pair q uses virtqueue 2q
 * (front-end RX, filled by iovh_enqueue_burst) and 2q+1 (front-end TX,
 * drained by iovh_dequeue_burst).
 */

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct rte_mbuf;
struct rte_mempool;

/** Opaque handle of one vhost-user device (one socket). */
struct iovh_dev;

/** Connect to the socket instead of listening on it. */
#define IOVH_F_CLIENT		(1ULL << 0)
/** Offer VIRTIO_F_IOMMU_PLATFORM and translate through the IOTLB. */
#define IOVH_F_IOMMU		(1ULL << 1)
/** Accept postcopy live migration. */
#define IOVH_F_POSTCOPY		(1ULL << 2)
/**
 * Also offer HOST_TSO4/HOST_TSO6 (the front-end may send TCP segmentation
 * requests). Checksums both ways, GUEST_TSO4/6, HOST/GUEST_UFO, ECN and
 * the legacy GSO bit are offered without it, as by DPDK's vhost library.
 */
#define IOVH_F_TSO		(1ULL << 3)
/**
 * Dequeue every packet into a single-segment mbuf. Without IOVH_F_EXTBUF
 * a packet larger than one mbuf is dropped (counted in dropped), and no
 * host segmentation (HOST_TSO4/6, HOST_UFO, GSO) is offered.
 */
#define IOVH_F_LINEARBUF	(1ULL << 4)
/**
 * Dequeue a packet larger than one mbuf into one mbuf with an external
 * buffer (a chain if none can be had, unless IOVH_F_LINEARBUF).
 */
#define IOVH_F_EXTBUF		(1ULL << 5)
/**
 * Express offload requests of dequeued packets with the TX mbuf flags
 * (RTE_MBUF_F_TX_*), as DPDK's vhost did before 21.05, instead of the RX
 * flags (RTE_MBUF_F_RX_L4_CKSUM_*, RTE_MBUF_F_RX_LRO).
 */
#define IOVH_F_LEGACY_OL	(1ULL << 6)

/** Most queue pairs one device may have. */
#define IOVH_MAX_QUEUE_PAIRS 128
/** IOTLB mappings kept per device by default: 256 MiB in 4 KiB pages. */
#define IOVH_IOTLB_DEFAULT 65536

/**
 * Application callbacks. All are called from the control thread, one at a
 * time, and must return quickly: while one runs, no socket is served.
 */
struct iovh_ops {
	/**
	 * The front-end finished setting up the device: memory is mapped and
	 * the first queue pair is ready. Return 0 to accept it.
	 */
	int (*new_device)(struct iovh_dev *dev, void *arg);
	/**
	 * The device stopped (ring stop, reset or disconnect). When this
	 * returns, the application must not call the burst functions for it
	 * until new_device is called again (calls are harmless but return 0).
	 */
	void (*destroy_device)(struct iovh_dev *dev, void *arg);
	/** A virtqueue was enabled or disabled by the front-end. */
	void (*vring_state_changed)(struct iovh_dev *dev, uint16_t vq,
			bool enabled, void *arg);
};

/** How to create a device. */
struct iovh_dev_conf {
	const char *path;		/**< Unix socket path. */
	uint64_t flags;			/**< IOVH_F_* */
	uint16_t max_queue_pairs;	/**< 1 .. IOVH_MAX_QUEUE_PAIRS */
	int numa_node;			/**< For per-queue memory; SOCKET_ID_ANY ok. */
	uint16_t mtu;			/**< Unused: NET_MTU is always offered. */
	uint32_t iotlb_entries;		/**< IOTLB cap; 0: IOVH_IOTLB_DEFAULT. */
	const struct iovh_ops *ops;	/**< May be NULL. */
	void *arg;			/**< Passed to every callback. */
};

/**
 * Create a device and start serving its socket: a server listens at once
 * (a stale socket file left by a dead process is replaced), a client
 * connects and keeps retrying with back-off until a front-end listens.
 *
 * Thread-safety: may be called from any thread; serialised internally.
 *
 * @return the device, or NULL with rte_errno set (EINVAL, EEXIST, ENOMEM, or
 *   the errno of the failing socket call); the reason is logged.
 */
struct iovh_dev *iovh_dev_create(const struct iovh_dev_conf *conf);

/**
 * Disconnect the front-end, stop serving the socket (a server's socket file
 * is removed) and free the device. destroy_device is called first if the
 * device was running.
 *
 * Thread-safety: any thread but the control thread (so not from a callback).
 * The application's poll threads must have stopped calling the burst
 * functions for this device.
 */
void iovh_dev_destroy(struct iovh_dev *dev);

/**
 * Move packets from the application to the front-end (virtqueue @p vq, an
 * even index). Packets are copied; the caller still owns every mbuf and
 * frees them.
 *
 * Thread-safety: lock-free; one thread at a time per virtqueue.
 *
 * @return how many of @p pkts were consumed (the first n): delivered, or
 *   dropped because no buffer the front-end posted could ever hold them
 *   (those are counted in iovh_vq_stats.dropped). The rest found no room.
 */
uint16_t iovh_enqueue_burst(struct iovh_dev *dev, uint16_t vq,
		struct rte_mbuf **pkts, uint16_t count);

/**
 * Receive packets the front-end sent on virtqueue @p vq (an odd index) into
 * mbufs allocated from @p mp.
 *
 * Thread-safety: lock-free; one thread at a time per virtqueue.
 *
 * @return how many mbufs were stored in @p pkts.
 */
uint16_t iovh_dequeue_burst(struct iovh_dev *dev, uint16_t vq,
		struct rte_mempool *mp, struct rte_mbuf **pkts, uint16_t count);

/** Buckets of the miss latency histogram in struct iovh_vq_stats. */
#define IOVH_MISS_LAT_BUCKETS 16

/** A virtqueue's counters. */
struct iovh_vq_stats {
	uint64_t packets;
	uint64_t bytes;
	uint64_t dropped;	/**< Packets lost: no room or bad chain. */
	uint64_t bad_desc;	/**< Descriptor chains rejected as invalid. */
	uint64_t notifications;	/**< Calls made to the front-end. */
	uint64_t iotlb_hits;	/**< IOVAs translated by the queue's cache. */
	uint64_t iotlb_lookups;	/**< IOVAs translated by a table walk. */
	uint64_t iotlb_misses;	/**< Translations that found no mapping. */
	uint64_t iotlb_denied;	/**< Accesses the mapping did not allow. */
	uint64_t backlog_max;	/**< Most packets held at once on a miss. */
	uint64_t backlog;	/**< Packets held right now. */
	/**
	 * IOTLB misses of this queue resolved by an UPDATE, by the time from
	 * the poll thread recording the miss to the UPDATE being applied:
	 * bucket 0 is under 1 us, bucket i (i >= 1) is [2^(i-1), 2^i) us, the
	 * last bucket is open-ended.
	 */
	uint64_t miss_lat[IOVH_MISS_LAT_BUCKETS];
	/**
	 * Offload work not done: virtio-net headers from the front-end
	 * ignored as invalid (dequeue), or mbuf offload requests that the
	 * packet's lengths or the negotiated features did not allow
	 * (enqueue). The packets themselves still went through.
	 */
	uint64_t ol_errors;
};

/** Device-wide counters (IOTLB and control-plane). */
struct iovh_dev_stats {
	uint64_t iotlb_entries;		/**< Mappings held now. */
	uint64_t iotlb_capacity;	/**< Most mappings held (iotlb-entries). */
	uint64_t iotlb_updates;		/**< IOTLB UPDATE messages applied. */
	uint64_t iotlb_invalidates;	/**< IOTLB INVALIDATE messages applied. */
	uint64_t iotlb_evictions;	/**< Mappings dropped to stay in the cap. */
	uint64_t misses_sent;		/**< MISS requests sent (re-sends too). */
	uint64_t connections;		/**< Front-ends served so far. */
};

/**
 * Read a device's counters.
 * Thread-safety: any thread; values are read without a lock and may be a
 * moment old.
 * @return 0, or -EINVAL.
 */
int iovh_dev_stats_get(const struct iovh_dev *dev,
		struct iovh_dev_stats *stats);

/**
 * Read a virtqueue's counters.
 * Thread-safety: any thread; values may be one burst old.
 * @return 0, or -EINVAL for a bad index.
 */
int iovh_vq_stats_get(const struct iovh_dev *dev, uint16_t vq,
		struct iovh_vq_stats *stats);

/**
 * Reset a virtqueue's counters. Thread-safety: any thread; a concurrent
 * burst's counts may survive the reset.
 */
int iovh_vq_stats_reset(struct iovh_dev *dev, uint16_t vq);

/**
 * Features negotiated with the current front-end (0 when none is connected).
 * Thread-safety: any thread.
 */
uint64_t iovh_dev_features(const struct iovh_dev *dev);

/**
 * Number of virtqueues the current front-end has set up.
 * Thread-safety: any thread.
 */
uint16_t iovh_dev_nb_vrings(const struct iovh_dev *dev);

/**
 * Whether the front-end has enabled virtqueue @p vq. Thread-safety: any.
 */
bool iovh_vq_enabled(const struct iovh_dev *dev, uint16_t vq);

/** MTU the front-end set with NET_SET_MTU (0 when not set). */
uint16_t iovh_dev_mtu(const struct iovh_dev *dev);

/** The socket path of @p dev. */
const char *iovh_dev_path(const struct iovh_dev *dev);

/**
 * Ask the front-end for (enable) or against (disable) kicks on @p vq.
 * Enabling also checks, after the request is visible to the front-end,
 * whether buffers were posted before it: those raised no kick, so the
 * caller must poll once more instead of sleeping on the kick fd. The same
 * holds while the rings wait for an IOTLB mapping (no request possible).
 * Thread-safety: the thread that polls @p vq.
 * @return 0; 1 when enabling found buffers already waiting; or -EINVAL.
 */
int iovh_vq_notify_enable(struct iovh_dev *dev, uint16_t vq, bool enable);

/**
 * The kick eventfd of @p vq (for interrupt mode), or -1.
 * Thread-safety: any thread; the fd is valid while the device runs.
 */
int iovh_vq_kickfd(const struct iovh_dev *dev, uint16_t vq);

/** Where a device stands with its front-end; see iovh_dev_state(). */
enum iovh_dev_state {
	IOVH_DEV_DISCONNECTED = 0,	/**< No front-end connected. */
	IOVH_DEV_CONNECTED,		/**< Connected, device not running. */
	IOVH_DEV_RUNNING,		/**< new_device accepted. */
};

/**
 * The connection state of @p dev.
 * Thread-safety: any thread; the state may change right after.
 */
enum iovh_dev_state iovh_dev_state(const struct iovh_dev *dev);

/**
 * vhost-user protocol features negotiated with the current front-end
 * (0 when none is connected). Thread-safety: any thread.
 */
uint64_t iovh_dev_protocol_features(const struct iovh_dev *dev);

/**
 * Name of virtio feature bit @p bit as the specification spells it
 * (e.g. "VIRTIO_F_VERSION_1"), or NULL for a bit without a name.
 * Thread-safety: any thread.
 */
const char *iovh_feature_name(unsigned int bit);

/**
 * Name of vhost-user protocol feature bit @p bit without the
 * VHOST_USER_PROTOCOL_F_ prefix (e.g. "REPLY_ACK"), or NULL.
 * Thread-safety: any thread.
 */
const char *iovh_protocol_feature_name(unsigned int bit);

/**
 * What to watch to learn, without polling, that the front-end posted a
 * buffer on a virtqueue (for rte_power_monitor()): the @p size bytes at
 * @p addr, masked with @p mask, compared with @p val.
 */
struct iovh_monitor_cond {
	const volatile void *addr;	/**< Inside the ring, in guest memory. */
	uint64_t val;		/**< Value compared with (*addr & mask). */
	uint64_t mask;
	uint8_t size;		/**< 1, 2, 4 or 8 bytes. */
	/** 1: a buffer is there when equal; 0: when different. */
	uint8_t wake_on_match;
};

/**
 * Fill @p cond for virtqueue @p vq: for a split ring, the avail index,
 * which differs from the index of the next entry to take as soon as the
 * front-end posts one; for a packed ring, the flags of the next slot to
 * take, whose AVAIL/USED bits then match the driver's wrap counter. The
 * address stays valid while the device runs: a
 * front-end that disconnects unmaps it (as with the DPDK vhost library),
 * so call this right before waiting, from the thread that polls @p vq.
 *
 * @return 0; -ENODEV when the virtqueue is not running; -EINVAL for a
 *   bad index.
 */
int iovh_vq_monitor_addr(struct iovh_dev *dev, uint16_t vq,
		struct iovh_monitor_cond *cond);

/** Library version string, e.g. "iovhost 0.1.0". */
const char *iovh_version(void);

#ifdef __cplusplus
}
#endif

#endif /* IOVHOST_H */
