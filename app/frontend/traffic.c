/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

#include <stdlib.h>
#include <string.h>

#include "traffic.h"
#include "util.h"

static const uint8_t mac_dst[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t mac_src[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

uint32_t
fe_csum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 0xcbf29ce484222325ull ^ n, w;

	while (n >= 8) {
		memcpy(&w, b, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
		b += 8;
		n -= 8;
	}
	while (n > 0) {
		h = (h ^ *b++) * 0x100000001b3ull;
		n--;
	}
	h ^= h >> 32;
	return (uint32_t)h;
}

static uint32_t
frame_csum(const uint8_t *f, uint32_t len)
{
	/* Covers everything after the MACs, with the csum field as zero. */
	uint8_t tmp[PKT_HDR_LEN];

	memcpy(tmp, f, PKT_HDR_LEN);
	memset(tmp + PKT_HDR_LEN - 4, 0, 4);
	return fe_csum(tmp + 12, PKT_HDR_LEN - 12) ^
	       fe_csum(f + PKT_HDR_LEN, len - PKT_HDR_LEN);
}

void
pkt_build(uint8_t *f, uint32_t len, uint16_t queue, uint64_t seq)
{
	struct pkt_hdr h;
	uint32_t i, cs;
	uint64_t w;

	memcpy(f, mac_dst, 6);
	memcpy(f + 6, mac_src, 6);
	f[12] = PKT_ETHERTYPE >> 8;
	f[13] = PKT_ETHERTYPE & 0xff;
	h.magic = PKT_MAGIC;
	h.queue = queue;
	h.rsvd = 0;
	h.seq = seq;
	h.len = len;
	h.csum = 0;
	memcpy(f + PKT_ETH_LEN, &h, sizeof(h));
	/*
	 * Payload differs per packet so stale data never looks current;
	 * a word at a time, or large frames cost more than the back-end.
	 */
	w = (seq + 1) * 0x9e3779b97f4a7c15ull ^ queue;
	for (i = PKT_HDR_LEN; i + 8 <= len; i += 8) {
		memcpy(f + i, &w, 8);
		w = w * 6364136223846793005ull + 1442695040888963407ull;
	}
	for (; i < len; i++)
		f[i] = (uint8_t)(w >> (8 * (i & 7)));
	cs = frame_csum(f, len);
	memcpy(f + PKT_HDR_LEN - 4, &cs, 4);
}

enum pkt_verdict
pkt_verify(const uint8_t *f, uint32_t len, uint16_t queue,
	   enum pkt_expect expect, uint64_t *seq)
{
	struct pkt_hdr h;

	if (len < PKT_HDR_LEN)
		return PKT_BAD_LEN;
	memcpy(&h, f + PKT_ETH_LEN, sizeof(h));
	if (h.magic != PKT_MAGIC)
		return PKT_BAD_MAGIC;
	if (h.len != len)
		return PKT_BAD_LEN;
	if (expect == EXPECT_IO) {
		if (memcmp(f, mac_dst, 6) != 0 || memcmp(f + 6, mac_src, 6) != 0)
			return PKT_BAD_MAC;
	} else {
		if (memcmp(f, mac_src, 6) != 0 || memcmp(f + 6, mac_dst, 6) != 0)
			return PKT_BAD_MAC;
	}
	if (frame_csum(f, len) != h.csum)
		return PKT_BAD_CSUM;
	if (h.queue != queue)
		return PKT_BAD_QUEUE;
	*seq = h.seq;
	return PKT_OK;
}

const char *
pkt_verdict_name(enum pkt_verdict v)
{
	static const char *const names[] = {
		[PKT_OK] = "ok", [PKT_BAD_LEN] = "length",
		[PKT_BAD_MAGIC] = "magic", [PKT_BAD_MAC] = "mac",
		[PKT_BAD_CSUM] = "checksum", [PKT_BAD_QUEUE] = "queue",
	};

	return names[v];
}

enum seq_result
seq_track_rx(struct seq_track *t, uint64_t seq)
{
	uint64_t w = seq / 64, bit = 1ull << (seq % 64);

	if (seq >= t->nbits) {
		uint64_t nb = t->nbits ? t->nbits : 65536;
		uint64_t *nw;

		while (nb <= seq)
			nb *= 2;
		nw = realloc(t->bits, nb / 8);
		if (nw == NULL)
			fe_die("out of memory tracking sequence numbers");
		memset((uint8_t *)nw + t->nbits / 8, 0, (nb - t->nbits) / 8);
		t->bits = nw;
		t->nbits = nb;
	}
	if (t->bits[w] & bit) {
		t->dup++;
		return SEQ_DUP;
	}
	t->bits[w] |= bit;
	t->uniq++;
	if (t->any && seq < t->max_seen) {
		t->reorder++;
		return SEQ_REORDER;
	}
	t->any = true;
	t->max_seen = seq;
	return SEQ_NEW;
}

void
seq_track_fini(struct seq_track *t)
{
	free(t->bits);
	memset(t, 0, sizeof(*t));
}

static bool
seq_seen(const struct seq_track *t, uint64_t seq)
{
	return seq < t->nbits && (t->bits[seq / 64] & (1ull << (seq % 64)));
}

bool
seq_track_missing(const struct seq_track *t, uint64_t sent, unsigned int max,
		  char *buf, size_t len)
{
	uint64_t s = 0, start;
	size_t n = 0;
	unsigned int runs = 0;

	buf[0] = '\0';
	while (s < sent && runs < max && n < len) {
		if (seq_seen(t, s)) {
			s++;
			continue;
		}
		start = s;
		while (s < sent && !seq_seen(t, s))
			s++;
		if (s - 1 == start)
			n += snprintf(buf + n, len - n, "%s%llu", runs ? " " : "",
				      (unsigned long long)start);
		else
			n += snprintf(buf + n, len - n, "%s%llu-%llu", runs ? " " : "",
				      (unsigned long long)start,
				      (unsigned long long)(s - 1));
		runs++;
	}
	while (s < sent && seq_seen(t, s))
		s++;
	return s < sent;
}
