/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * Test packets: what goes out on guest TX and how what comes back on
 * guest RX is judged.
 */

#ifndef FE_TRAFFIC_H
#define FE_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_MAGIC	0x46564f49u	/* "IOVF" */
#define PKT_ETHERTYPE	0x88b5		/* IEEE local experimental */
#define PKT_ETH_LEN	14
#define PKT_HDR_LEN	(PKT_ETH_LEN + 24)
#define PKT_MIN_LEN	60
#define PKT_MAX_LEN	4000

/* Payload header right after the Ethernet header. */
struct pkt_hdr {
	uint32_t magic;
	uint16_t queue;
	uint16_t rsvd;
	uint64_t seq;
	uint32_t len;		/* frame length */
	uint32_t csum;		/* over the frame from here on, csum zeroed */
} __attribute__((packed));

enum pkt_expect {
	EXPECT_IO,	/* frame comes back byte for byte */
	EXPECT_MACSWAP,	/* MAC addresses swapped, rest untouched */
};

enum pkt_verdict {
	PKT_OK,
	PKT_BAD_LEN,
	PKT_BAD_MAGIC,
	PKT_BAD_MAC,
	PKT_BAD_CSUM,
	PKT_BAD_QUEUE,
};

/** Fast 32-bit hash of a byte range, for payload and TX-buffer checks. */
uint32_t fe_csum(const void *p, size_t n);

/** Build frame @p seq of queue pair @p queue, @p len bytes at @p f. */
void pkt_build(uint8_t *f, uint32_t len, uint16_t queue, uint64_t seq);

/** Judge a received frame; on PKT_OK *seq is its sequence number. */
enum pkt_verdict pkt_verify(const uint8_t *f, uint32_t len, uint16_t queue,
			    enum pkt_expect expect, uint64_t *seq);

const char *pkt_verdict_name(enum pkt_verdict v);

/*
 * Which sequence numbers of one queue pair came back. One bit per
 * packet sent, grown on demand.
 */
struct seq_track {
	uint64_t *bits;
	uint64_t nbits;
	uint64_t max_seen;
	bool any;
	uint64_t uniq;
	uint64_t dup;
	uint64_t reorder;
};

enum seq_result {
	SEQ_NEW,
	SEQ_REORDER,	/* new, but an later one came before it */
	SEQ_DUP,
};

enum seq_result seq_track_rx(struct seq_track *t, uint64_t seq);
void seq_track_fini(struct seq_track *t);

/**
 * Describe up to @p max runs of sequence numbers below @p sent that never
 * arrived, e.g. "1024-1055 4000", into @p buf.
 * @return true if there were more runs than that.
 */
bool seq_track_missing(const struct seq_track *t, uint64_t sent,
		       unsigned int max, char *buf, size_t len);

#endif /* FE_TRAFFIC_H */
