/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#ifndef IOVH_VHOST_H
#define IOVH_VHOST_H

/**
 * @file
 * Internal state shared by the control thread and the poll threads.
 *
 * Concurrency contract (the one rule every file relies on):
 *
 *  - The control thread is the only writer of device and virtqueue set-up
 *    state (ring addresses, memory table, fds, features, log).
 *  - A poll thread reads that state only between
 *    rte_rcu_qsbr_thread_online(dev->qsbr, vq) and ..._offline(), and only
 *    after a load-acquire of vq->ready that returned 1.
 *  - Before changing anything a poll thread may read, the control thread
 *    clears vq->ready (store-release) and waits with iovh_dev_quiesce()
 *    until every virtqueue is offline or has reported a later quiescent
 *    state. From then on no poll thread holds an old pointer, so mappings
 *    can be unmapped and fds closed. Setting vq->ready back to 1 is a
 *    store-release that publishes the new state.
 *
 * Poll threads go offline at the end of every burst, so a thread that stops
 * polling never holds up the control thread.
 */

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <rte_common.h>
#include <rte_log.h>
#include <rte_rcu_qsbr.h>
#include <rte_branch_prediction.h>

#include "iotlb.h"
#include "iovhost.h"
#include "vhost_user.h"

extern int iovh_logtype_config;
extern int iovh_logtype_data;

#define IOVH_LOG_CONFIG(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, iovh_logtype_config, \
		"IOVHOST_CONFIG: " fmt "\n", ##__VA_ARGS__)
#define IOVH_LOG_DATA(level, fmt, ...) \
	rte_log(RTE_LOG_ ## level, iovh_logtype_data, \
		"IOVHOST_DATA: " fmt "\n", ##__VA_ARGS__)

#define IOVH_MAX_VRING (IOVH_MAX_QUEUE_PAIRS * 2)
/** Memory slots offered with CONFIGURE_MEM_SLOTS. */
#define IOVH_MAX_MEM_SLOTS 32
/** Longest descriptor chain followed (including indirect tables). */
#define IOVH_MAX_CHAIN 1024
/** Used-ring entries buffered per burst before they are written. */
#define IOVH_SHADOW_USED 512

/** One guest memory region, mapped. */
struct iovh_mem_region {
	uint64_t gpa;		/**< Guest-physical start. */
	uint64_t size;		/**< Bytes. */
	uint64_t fva;		/**< Front-end virtual address of gpa. */
	uint64_t hva;		/**< Our virtual address of gpa. */
	void *mmap_addr;	/**< What mmap() returned. */
	uint64_t mmap_size;	/**< What was mapped (size + offset). */
	int fd;			/**< Kept open while mapped. */
};

/**
 * A memory table: regions sorted by gpa. Immutable once published in
 * dev->mem; replaced as a whole by the control thread (see the contract).
 */
struct iovh_mem {
	uint32_t nregions;
	struct iovh_mem_region r[IOVH_MAX_MEM_SLOTS];
};

/**
 * Translate guest-physical @p gpa to a host pointer. @p len is trimmed to
 * what is contiguous in the region found. @p hint keeps the index of the
 * last region that matched, so the common case is one compare.
 *
 * @return the host address, or 0 when gpa is not guest memory.
 */
static __rte_always_inline uint64_t
iovh_gpa_to_hva(const struct iovh_mem *mem, uint64_t gpa, uint64_t *len,
		uint32_t *hint)
{
	const struct iovh_mem_region *r;
	uint32_t i, lo, hi;
	uint64_t off;

	r = &mem->r[*hint];
	/* Unsigned wrap makes one compare cover "below start" too. */
	off = gpa - r->gpa;
	if (likely(*hint < mem->nregions && off < r->size))
		goto found;
	lo = 0;
	hi = mem->nregions;
	while (lo < hi) {
		i = (lo + hi) / 2;
		r = &mem->r[i];
		if (gpa < r->gpa) {
			hi = i;
		} else if (gpa - r->gpa >= r->size) {
			lo = i + 1;
		} else {
			*hint = i;
			off = gpa - r->gpa;
			goto found;
		}
	}
	return 0;
found:
	if (*len > r->size - off)
		*len = r->size - off;
	return r->hva + off;
}

/** Translate a front-end virtual address (ring addresses); 0 if unmapped. */
uint64_t iovh_fva_to_hva(const struct iovh_mem *mem, uint64_t fva,
		uint64_t *len);
/** Translate a front-end virtual address to guest-physical; 0 if none. */
uint64_t iovh_fva_to_gpa(const struct iovh_mem *mem, uint64_t fva);

/** Per-virtqueue statistics, written by the poll thread only. */
struct iovh_vq_counters {
	uint64_t packets;
	uint64_t bytes;
	uint64_t dropped;
	uint64_t bad_desc;
	uint64_t notifications;
	uint64_t iotlb_hits;	/**< Translations served by the vq cache. */
	uint64_t iotlb_lookups;	/**< Translations that walked the table. */
	uint64_t iotlb_misses;	/**< Translations that found nothing. */
	uint64_t iotlb_denied;	/**< Accesses the permission refused. */
	uint64_t backlog_max;	/**< High-water mark of the backlog. */
	uint64_t ol_errors;	/**< Offloads not honoured, headers ignored. */
	/** Miss latency histogram (control thread writes, see iovhost.h). */
	uint64_t miss_lat[IOVH_MISS_LAT_BUCKETS];
};

/** An IOTLB miss reported by a poll thread to the control thread. */
struct iovh_miss {
	uint64_t iova;
	uint64_t tsc;	/**< rte_rdtsc() when recorded, for miss_lat. */
	uint32_t seq;	/**< dev->iotlb_seq when the miss happened. */
	uint8_t perm;
	uint8_t ahead;	/**< Found by a look-ahead, not by a blocked access. */
};

/** Poll-thread misses whose latency the control thread still times. */
#define IOVH_MISS_LAT_WAIT 64

/** Misses a virtqueue can have in flight to the control thread (room
 * for one look-ahead batch plus the blocked access's own reports). */
#define IOVH_MISS_RING 64
/** Packets an enqueue holds while the IOTLB misses (then: short burst). */
#define IOVH_BACKLOG 256
/**
 * A chain whose translation keeps missing this long is a bad chain. Long
 * on purpose: a front-end that answers, however slowly (QEMU while it
 * migrates, a loaded host: answers of over a second were seen), must not
 * lose data; the miss is sent again every IOVH_MISS_RESEND_MS meanwhile.
 * Only a front-end that never answers (QEMU is silent on an IOVA the
 * guest did not map) costs the queue this long, and only that queue:
 * the others, and the other ports, keep running (see doc/design.rst).
 */
#define IOVH_MISS_STALL_MS 10000
/** After a stall, and until the queue moves, the limit for each further
 * chain (so a front-end that stopped answering costs 10 s once, not per
 * chain). */
#define IOVH_MISS_STALL_NEXT_MS 1000

/*
 * After a miss, the chains posted behind the blocked one are looked at
 * (read-only) and every page of theirs that has no translation is asked
 * for at once: one round trip then serves the whole backlog instead of
 * one per parked packet. Bounds: chains and descriptors visited, table
 * walks, and pages reported per look-ahead.
 */
#define IOVH_LOOKAHEAD_CHAINS 32
#define IOVH_LOOKAHEAD_DESCS 64
#define IOVH_LOOKAHEAD_WALKS 256
#define IOVH_LOOKAHEAD_PAGES 48
/** The same look-ahead (same blocked position) is not redone sooner. */
#define IOVH_LOOKAHEAD_MS 100

struct iovh_dev;
struct rte_mbuf;
struct vring_packed_desc;
struct vring_packed_desc_event;

/** A used buffer staged on a packed ring (shares vq->shadow's room). */
struct iovh_packed_used {
	uint16_t id;		/**< Buffer id. */
	uint16_t count;		/**< Ring descriptors the buffer took. */
	uint32_t len;		/**< Bytes written into it. */
};

/** A split virtqueue. Hot fields first. */
struct iovh_vq {
	/* --- read by the poll thread --- */
	uint8_t ready;		/**< Poll path may use this queue. */
	uint8_t event_idx;	/**< VIRTIO_RING_F_EVENT_IDX negotiated. */
	uint8_t mrg_rxbuf;	/**< VIRTIO_NET_F_MRG_RXBUF negotiated. */
	uint8_t log_used;	/**< Log used-ring writes (LOG_ALL + F_LOG). */
	uint16_t size;		/**< Ring size, a power of two. */
	uint16_t hdr_len;	/**< virtio-net header length: 10 or 12. */
	uint16_t last_avail_idx;
	uint16_t last_used_idx;
	uint16_t signalled_used;
	uint8_t signalled_used_valid;
	uint8_t notify_off;	/**< Application asked for no kicks. */
	uint16_t ol;		/**< Offloads: IOVH_OL_* of net_hdr.h. */
	uint32_t mem_hint;	/**< Last region that translated. */
	/* Split: the three rings. Packed (vq->packed): the descriptor ring,
	 * the driver and the device event suppression areas. */
	union {
		struct vring_desc *desc;
		struct vring_packed_desc *desc_packed;
	};
	union {
		struct vring_avail *avail;
		struct vring_packed_desc_event *driver_event;
	};
	union {
		struct vring_used *used;
		struct vring_packed_desc_event *device_event;
	};
	struct iovh_dev *dev;
	int callfd;		/**< -1: none. */
	int kickfd;		/**< -1: none. */
	uint64_t log_guest_addr;	/**< GPA of the used ring, for the log. */
	uint16_t shadow_count;
	uint16_t index;		/**< Virtqueue index in the device. */
	struct iovh_vq_counters stats;

	/* IOTLB, with VIRTIO_F_IOMMU_PLATFORM: a one-entry cache of the
	 * last block translated, valid while c_gen == dev->iotlb.gen. */
	uint8_t iommu;		/**< Addresses are IOVAs. */
	uint8_t xlate_miss;	/**< Last failed translation was a miss. */
	uint8_t rx_missed;	/**< Last enqueue stopped on a miss. */
	/**
	 * Not ready only because the rings wait for an IOTLB mapping: an
	 * enqueue may still park packets in the backlog (it touches nothing
	 * else). The control thread clears it, with ready, to own the vq.
	 */
	uint8_t ring_wait;
	uint16_t backlog_n;	/**< Packets held for a miss (enqueue). */
	uint64_t miss_since;	/**< TSC of the first miss still blocking. */
	/** The control thread is completing the backlog (see msg.c). */
	uint8_t ctrl_flushing;
	uint64_t backlog_tsc;	/**< Last enqueue that left a backlog. */
	struct rte_mbuf *backlog[IOVH_BACKLOG];
	uint8_t c_perm;
	uint32_t c_gen;
	uint64_t c_iova;	/**< Cached block, first byte... */
	uint64_t c_last;	/**< ...and last (c_last < c_iova: empty). */
	uint64_t c_hva;		/**< Host address of c_iova. */
	uint64_t c_gpa;		/**< Guest-physical address of c_iova. */
	uint64_t last_miss_iova;	/**< Last miss reported (page). */
	uint64_t last_miss_tsc;
	uint64_t blocked_page;	/**< Page of the last miss (poll thread). */
	uint64_t la_tsc;	/**< Last look-ahead (poll thread)... */
	uint16_t la_idx;	/**< ...and the position it started from. */
	uint32_t miss_head;	/**< Written by the poll thread. */
	uint32_t miss_tail;	/**< Written by the control thread. */
	struct iovh_miss miss[IOVH_MISS_RING];

	union {
		struct vring_used_elem shadow[IOVH_SHADOW_USED];
		struct iovh_packed_used shadow_packed[IOVH_SHADOW_USED];
	};

	/* Packed rings (VIRTIO_F_RING_PACKED): see packed_ring.c. Indexes
	 * last_avail_idx/last_used_idx are then ring positions (< size). */
	uint8_t packed;		/**< Packed layout negotiated. */
	uint8_t in_order;	/**< VIRTIO_F_IN_ORDER negotiated. */
	uint8_t avail_wrap;	/**< Driver ring wrap counter at last_avail_idx. */
	uint8_t used_wrap;	/**< Device ring wrap counter at last_used_idx. */
	uint8_t signalled_wrap;	/**< used_wrap at signalled_used. */
	/** Set by the poll thread on a ring it cannot make sense of; cleared
	 * by the control thread when the ring is set up again. */
	uint8_t broken;
	uint32_t dev_event_last;	/**< Last device event written, or ~0. */
	uint64_t log_event_gpa;	/**< GPA of the device event area. */
	/** Buffer ids consumed and not yet handed back (this burst). */
	uint64_t id_busy[IOVH_MAX_RING_SIZE / 64];

	/* --- control thread only --- */
	uint8_t enabled;	/**< SET_VRING_ENABLE (or legacy kick). */
	uint8_t addr_set;	/**< SET_VRING_ADDR received. */
	uint8_t kick_set;	/**< SET_VRING_KICK received. */
	uint8_t started;	/**< Between SET_VRING_KICK and GET_VRING_BASE. */
	struct vhu_vring_addr addr;	/**< As received, for re-translation. */
	int errfd;
} __rte_cache_aligned;

struct iovh_conn;

/** An fd the control thread watches, and whose it is. */
struct iovh_ev {
	int fd;			/**< -1 when not registered. */
	uint8_t kind;		/**< enum in ctrl.c */
	struct iovh_dev *dev;
};

/** One vhost-user device: one socket, at most one front-end at a time. */
struct iovh_dev {
	/* --- read by poll threads --- */
	struct iovh_mem *mem;		/**< RCU-protected; see contract. */
	struct rte_rcu_qsbr *qsbr;	/**< One reader slot per virtqueue. */
	uint8_t *log_base;		/**< Dirty bitmap, or NULL. */
	uint64_t log_size;		/**< Bytes in the bitmap. */
	uint8_t log_on;			/**< VHOST_F_LOG_ALL and a log. */
	uint8_t running;		/**< new_device accepted. */
	/**
	 * SEND_RARP arrived: the next dequeue on virtqueue 1 hands a RARP
	 * for rarp_mac to the application (see api.c).
	 */
	uint8_t rarp_pending;
	uint64_t features;		/**< Negotiated. */
	struct iovh_iotlb iotlb;	/**< With VIRTIO_F_IOMMU_PLATFORM. */
	int miss_efd;			/**< Poll threads ring it on a miss. */
	struct iovh_vq *vq[IOVH_MAX_VRING];	/**< Allocated at create. */

	/* --- control thread (and create/destroy) --- */
	char path[108];
	uint64_t flags;			/**< IOVH_F_* */
	uint16_t max_queue_pairs;
	uint16_t nr_vring;		/**< Highest set-up index + 1. */
	uint16_t mtu;			/**< Offered MTU. */
	uint16_t guest_mtu;		/**< From NET_SET_MTU. */
	int numa_node;
	const struct iovh_ops *ops;
	void *arg;
	uint64_t offered_features;
	uint64_t offered_protocol;
	uint64_t protocol_features;	/**< Negotiated. */
	uint8_t features_set;
	uint8_t owner_set;
	uint8_t status;			/**< SET_STATUS value. */
	uint16_t max_mem_slots;
	void *log_mmap;			/**< The log mapping as mmap()ed. */
	uint64_t log_mmap_size;
	int backend_fd;			/**< Back-end channel, or -1. */
	struct iovh_conn *conn;		/**< Owned by the control thread. */
	int listen_fd;			/**< Server socket, or -1. */
	struct iovh_ev ev_listen;	/**< Listen or connect in progress. */
	struct iovh_ev ev_conn;		/**< The front-end connection. */
	struct iovh_ev ev_backend;	/**< The back-end channel. */
	uint64_t rarp_mac;		/**< SEND_RARP, low 6 bytes. */
	struct iovh_ev ev_miss;		/**< miss_efd. */
	/** Misses sent and not yet answered: resent after a while. */
	struct {
		uint64_t iova;		/**< Page. */
		uint64_t sent_ms;
		uint8_t perm;
	} pending[128];	/* holds several look-ahead batches */
	uint32_t npending;
	/**
	 * Pages whose miss was answered, with the UPDATE count at the time:
	 * a miss the poll thread recorded before that answer is stale and
	 * is not sent again (the page may since have been invalidated).
	 */
	struct {
		uint64_t iova;
		uint32_t seq;
	} answered[512];
	uint32_t answered_pos;
	/**
	 * Poll-thread misses sent to (or already asked of) the front-end,
	 * one per page and queue: the UPDATE that maps the page records,
	 * in that queue's miss_lat, how long ago the miss was recorded.
	 */
	struct {
		uint64_t iova;		/**< Page. */
		uint64_t tsc;		/**< First recorded (poll thread). */
		uint16_t vq;
		uint8_t perm;
	} lat_wait[IOVH_MISS_LAT_WAIT];
	uint32_t nlat_wait;
	uint32_t iotlb_seq;		/**< UPDATEs applied (poll threads read). */
	uint64_t misses_sent;
	uint64_t iotlb_updates;
	uint64_t iotlb_invalidates;
	uint64_t connections;		/**< Front-ends served so far. */
	uint32_t reconnect_ms;		/**< Client back-off. */
	uint64_t reconnect_at;		/**< Client: next attempt (ms). */
	uint8_t destroying;
	uint8_t mem_fault;		/**< The SIGBUS guard fired. */
	uint64_t err_sec;		/**< Message-error rate limit: second, */
	uint32_t err_count;		/**< lines logged in it, */
	uint32_t err_suppressed;	/**< and lines not logged. */
	struct iovh_dev *next;		/**< Control thread's device list. */
};

/** Whether @p bit of the negotiated features is set. */
static __rte_always_inline bool
iovh_has_feature(const struct iovh_dev *dev, unsigned int bit)
{
	return (dev->features >> bit) & 1;
}

/* ---- dev.c ---- */

/**
 * Zeroed, cache-line aligned memory from libc, released with free().
 *
 * The control thread never uses the DPDK heap: a front-end in the same
 * process (virtio-user) sends SET_MEM_TABLE from inside EAL's memory
 * hotplug callback, with the heap lock held, and waits for our reply.
 */
void *iovh_zalloc(size_t size);


/**
 * Wait until no poll thread can still use state published before this
 * call. Control thread only. Returns after every virtqueue went offline or
 * passed a quiescent point; a burst takes microseconds.
 */
void iovh_dev_quiesce(struct iovh_dev *dev);

/** Free a device no thread can reach any more. */
void iovh_dev_free(struct iovh_dev *dev);

/** Clear ready on every virtqueue, then quiesce. Control thread only. */
void iovh_dev_pause(struct iovh_dev *dev);

/**
 * Recompute every virtqueue's ready flag from its set-up state and publish
 * it; start or stop the device (new_device/destroy_device) accordingly.
 */
void iovh_dev_update_ready(struct iovh_dev *dev);

/** Stop the device (destroy_device if running) and pause all queues. */
void iovh_dev_stop(struct iovh_dev *dev);

/**
 * Drop everything a front-end set up: rings, fds, memory, log, features.
 * Called on RESET_OWNER and on disconnect. Control thread only.
 */
void iovh_dev_reset(struct iovh_dev *dev);

/** Recompute vq hot flags (hdr_len, event_idx, mrg_rxbuf) from features. */
void iovh_dev_apply_features(struct iovh_dev *dev);

/**
 * Translate a virtqueue's ring addresses with the current memory table.
 * @return 0, or -1 (logged) when a ring is not inside guest memory.
 */
int iovh_vq_translate_rings(struct iovh_dev *dev, struct iovh_vq *vq);

/** Close a vq's kick/call/err fds (after quiesce). */
void iovh_vq_close_fds(struct iovh_vq *vq);

/* ---- names.c ---- */

/**
 * Write the names of the bits set in @p f (protocol features if
 * @p protocol), space-separated, into @p buf; "..." ends a cut list.
 * @return the length written.
 */
size_t iovh_features_str(uint64_t f, bool protocol, char *buf, size_t len);

/* ---- mem.c ---- */

/** Unmap and free a memory table (after quiesce). NULL is fine. */
void iovh_mem_free(struct iovh_mem *mem);

/**
 * Map one region described by @p reg from @p fd, checking the fd's real
 * size first. On success the region owns fd.
 * @return 0, or -1 (logged; fd not closed).
 */
int iovh_mem_region_map(struct iovh_mem_region *r,
		const struct vhu_mem_region *reg, int fd);

/**
 * mmap() @p len bytes of @p fd shared and read-write, without the pages
 * being faulted in even under mlockall(MCL_FUTURE).
 * @return the address, or NULL with errno set.
 */
void *iovh_map_shared(int fd, uint64_t len);

/** Unmap one region and close its fd. */
void iovh_mem_region_unmap(struct iovh_mem_region *r);

/* ---- sigbus.c ---- */

/**
 * Guard [start, start + len) of guest memory of @p dev against SIGBUS (a
 * front-end truncating the file): the pages are replaced with anonymous
 * memory and dev->mem_fault is raised. Control thread.
 * @return 0, or -1 (logged; the range stays unguarded).
 */
int iovh_sigbus_guard(struct iovh_dev *dev, void *start, uint64_t len);
/** Stop guarding the range that starts at @p start (before munmap). */
void iovh_sigbus_unguard(void *start);

/**
 * Check a candidate region against a table: non-empty, no wrap, no overlap
 * (guest-physical or front-end virtual) with regions already there.
 * @return NULL if fine, else a short reason for the log.
 */
const char *iovh_mem_region_check(const struct iovh_mem *mem,
		const struct vhu_mem_region *reg);

/** Insert a mapped region keeping the table sorted. Caller checked room. */
void iovh_mem_insert(struct iovh_mem *mem, const struct iovh_mem_region *r);

/* ---- dirty_log.c / inline ---- */

#define IOVH_LOG_PAGE 4096

/**
 * Mark guest-physical [gpa, gpa + len) dirty. The bitmap is shared with a
 * front-end that reads and clears it concurrently, so bits are set with an
 * atomic OR (relaxed: the front-end syncs through the ring protocol).
 * Pages past the end of the bitmap are ignored.
 */
static __rte_always_inline void
iovh_log_write(struct iovh_dev *dev, uint64_t gpa, uint64_t len)
{
	uint64_t page, last;

	if (likely(!dev->log_on) || len == 0)
		return;
	page = gpa / IOVH_LOG_PAGE;
	/* len > 0, so gpa + len - 1 is the last byte written (inclusive). */
	last = (gpa + (len - 1)) / IOVH_LOG_PAGE;
	if (last < page)
		last = UINT64_MAX / IOVH_LOG_PAGE;	/* range wrapped */
	for (; page <= last; page++) {
		if (page / 8 >= dev->log_size)
			break;
		__atomic_fetch_or(&dev->log_base[page / 8],
				(uint8_t)(1u << (page % 8)), __ATOMIC_RELAXED);
	}
}

/** Log a write into the used ring of @p vq at byte @p offset. */
static __rte_always_inline void
iovh_log_used(struct iovh_vq *vq, uint64_t offset, uint64_t len)
{
	if (unlikely(vq->log_used))
		iovh_log_write(vq->dev, vq->log_guest_addr + offset, len);
}

/* ---- notify ---- */

/**
 * Tell the front-end that used entries were added, if it wants to know
 * (EVENT_IDX used_event or the NO_INTERRUPT flag). Poll thread only.
 * The used index must already be published.
 */
void iovh_vq_notify(struct iovh_vq *vq);

/* ---- IOTLB translation on the poll path ---- */

/** Report a miss to the control thread (rate-limited). Poll thread. */
void iovh_vq_report_miss(struct iovh_dev *dev, struct iovh_vq *vq,
		uint64_t iova, uint8_t perm, uint32_t seq);

/** State of one look-ahead after a miss (see IOVH_LOOKAHEAD_CHAINS). */
struct iovh_lookahead {
	uint32_t seq;		/**< dev->iotlb_seq before the first walk. */
	uint16_t walks;		/**< Table walks left. */
	uint16_t n;		/**< Pages reported. */
	uint64_t page[IOVH_LOOKAHEAD_PAGES];
};

/**
 * Start a look-ahead on @p vq after a miss, unless one from the same ring
 * position ran less than IOVH_LOOKAHEAD_MS ago. Poll thread, cold path.
 * @return whether to walk.
 */
bool iovh_lookahead_begin(struct iovh_dev *dev, struct iovh_vq *vq,
		struct iovh_lookahead *la);

/**
 * Report every page of the guest buffer [@p addr, @p addr + @p len) that
 * the IOTLB does not map for @p perm (once per look-ahead). Never changes
 * the translation cache. Poll thread.
 * @return false when the look-ahead's budget is spent: stop walking.
 */
bool iovh_lookahead_buf(struct iovh_dev *dev, struct iovh_vq *vq,
		struct iovh_lookahead *la, uint64_t addr, uint64_t len,
		uint8_t perm);

/**
 * Host address of an indirect table [@p addr, @p addr + @p len) to read
 * during a look-ahead: only when one IOTLB block maps all of it readable;
 * else 0, with its missing pages reported. Poll thread.
 */
uint64_t iovh_lookahead_table(struct iovh_dev *dev, struct iovh_vq *vq,
		struct iovh_lookahead *la, uint64_t addr, uint64_t len);

/** Look ahead of a miss on a split ring, up to @p avail_idx. */
void iovh_split_lookahead(struct iovh_dev *dev, struct iovh_vq *vq,
		uint16_t avail_idx, uint8_t perm);

/** Look ahead of a miss on a packed ring. */
void iovh_packed_lookahead(struct iovh_dev *dev, struct iovh_vq *vq,
		uint8_t perm);

/** Translate through the IOTLB; see iovh_vq_translate(). */
uint64_t iovh_vq_iotlb_translate(struct iovh_dev *dev, struct iovh_vq *vq,
		uint64_t iova, uint64_t *len, uint8_t perm, uint64_t *gpa);

/**
 * Translate a descriptor address of @p vq for an access of kind @p perm
 * (VHU_ACCESS_RO to read, VHU_ACCESS_WO to write). @p len is trimmed to
 * what is contiguous; *gpa receives the guest-physical address (for the
 * dirty log).
 *
 * @return the host address, or 0. On 0, vq->xlate_miss tells a miss (the
 *   front-end was asked for the mapping: stop and retry later) from an
 *   address that is simply wrong (a bad descriptor).
 */
static __rte_always_inline uint64_t
iovh_vq_translate(struct iovh_dev *dev, struct iovh_vq *vq, uint64_t addr,
		uint64_t *len, uint8_t perm, uint64_t *gpa)
{
	uint64_t off;

	if (likely(!vq->iommu)) {
		*gpa = addr;
		vq->xlate_miss = 0;
		return iovh_gpa_to_hva(dev->mem, addr, len, &vq->mem_hint);
	}
	off = addr - vq->c_iova;
	if (likely(off <= vq->c_last - vq->c_iova && vq->c_last >= vq->c_iova &&
			(vq->c_perm & perm) == perm)) {
		if (*len - 1 > vq->c_last - addr)
			*len = vq->c_last - addr + 1;
		*gpa = vq->c_gpa + off;
		vq->stats.iotlb_hits++;
		return vq->c_hva + off;
	}
	return iovh_vq_iotlb_translate(dev, vq, addr, len, perm, gpa);
}

/**
 * Start of a burst: drop the vq cache if the table lost translations
 * since it was filled. The acquire pairs with the writer's release of gen,
 * and the writer waits for this burst (QSBR) before freeing anything.
 */
static __rte_always_inline void
iovh_vq_iotlb_sync(struct iovh_dev *dev, struct iovh_vq *vq)
{
	uint32_t g = __atomic_load_n(&dev->iotlb.gen, __ATOMIC_ACQUIRE);

	if (unlikely(g != vq->c_gen)) {
		vq->c_gen = g;
		vq->c_iova = 1;
		vq->c_last = 0;
	}
}

/**
 * Deliver a vq's backlog into its ring. Its poll thread, or the control
 * thread while the vq is paused (an application may never call the burst
 * function again once its last packets went to the backlog).
 */
void iovh_vq_backlog_flush(struct iovh_dev *dev, struct iovh_vq *vq);

/**
 * Complete backlogs their poll thread left behind. Control thread. With
 * @p now false, a queue enqueued on within the last millisecond is left
 * to its poll thread; with true (an UPDATE was just applied: it may be
 * what the backlog waits for) every ready queue with a backlog is done.
 * @return whether a backlog is still there afterwards.
 */
bool iovh_backlogs_complete(struct iovh_dev *dev, bool now);

/** Free the mbufs a vq's backlog holds. No poll thread may use the vq. */
void iovh_vq_backlog_free(struct iovh_vq *vq);

/* ---- rarp.c ---- */

/**
 * A broadcast RARP from @p mac (its six bytes first in memory, as
 * SEND_RARP carries it), in one mbuf from @p mp; NULL without an mbuf.
 */
struct rte_mbuf *iovh_rarp_build(struct rte_mempool *mp, uint64_t mac);

/* ---- split_ring.c ---- */

uint16_t iovh_split_enqueue(struct iovh_dev *dev, struct iovh_vq *vq,
		struct rte_mbuf **pkts, uint16_t count);
uint16_t iovh_split_dequeue(struct iovh_dev *dev, struct iovh_vq *vq,
		struct rte_mempool *mp, struct rte_mbuf **pkts, uint16_t count);

/* ---- packed_ring.c ---- */

/** Same contract as iovh_split_enqueue(), on a packed ring. */
uint16_t iovh_packed_enqueue(struct iovh_dev *dev, struct iovh_vq *vq,
		struct rte_mbuf **pkts, uint16_t count);
/** Same contract as iovh_split_dequeue(), on a packed ring. */
uint16_t iovh_packed_dequeue(struct iovh_dev *dev, struct iovh_vq *vq,
		struct rte_mempool *mp, struct rte_mbuf **pkts, uint16_t count);
/**
 * Write the device event suppression area from vq->notify_off and
 * EVENT_IDX (kicks wanted or not). Poll thread, or with the vq paused.
 */
void iovh_packed_kick_update(struct iovh_vq *vq);

/**
 * Enqueue on whichever layout the vq has. vq->packed is fixed while the
 * vq is ready, so the branch always goes the same way: well predicted.
 */
static __rte_always_inline uint16_t
iovh_vq_enqueue(struct iovh_dev *dev, struct iovh_vq *vq,
		struct rte_mbuf **pkts, uint16_t count)
{
	if (vq->packed)
		return iovh_packed_enqueue(dev, vq, pkts, count);
	return iovh_split_enqueue(dev, vq, pkts, count);
}

/** Dequeue on whichever layout the vq has (see iovh_vq_enqueue()). */
static __rte_always_inline uint16_t
iovh_vq_dequeue(struct iovh_dev *dev, struct iovh_vq *vq,
		struct rte_mempool *mp, struct rte_mbuf **pkts, uint16_t count)
{
	if (vq->packed)
		return iovh_packed_dequeue(dev, vq, mp, pkts, count);
	return iovh_split_dequeue(dev, vq, mp, pkts, count);
}

#endif /* IOVH_VHOST_H */
