/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * iovhost-frontend: a vhost-user front-end playing guest, virtio-net
 * driver and IOMMU at once, to test a back-end's data path and IOTLB
 * handling with verified traffic.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "bchan.h"
#include "guest_mem.h"
#include "iommu.h"
#include "iotlb.h"
#include "opts.h"
#include "qp.h"
#include "run.h"
#include "session.h"
#include "util.h"

static void
usage(FILE *f)
{
	fprintf(f,
"Usage: iovhost-frontend --socket PATH [options]\n"
"\n"
"Connection\n"
"  --socket PATH          vhost-user socket (connect to it, or listen with --server)\n"
"  --server               listen on PATH and wait for the back-end to connect\n"
"  --timeout S            per-reply deadline in seconds (default 5)\n"
"  --connect-timeout S    wait this long for the socket/back-end (default 10)\n"
"Guest\n"
"  --mem-mb N             guest memory (default 256)\n"
"  --regions N            memory regions, 1-8 (default 2)\n"
"  --no-huge              never use hugetlb memory\n"
"  --queues N             queue pairs (default 1)\n"
"  --ring-size N          descriptors per ring, power of two (default 256)\n"
"  --no-mrg               do not negotiate MRG_RXBUF\n"
"  --no-event-idx         do not negotiate EVENT_IDX\n"
"  --kick                 kick the back-end when it asks for it (default: poll)\n"
"  --flood                post TX regardless of RX room (default: flow control)\n"
"  --writeoff-ms N        flow control: after N ms without credit, count what\n"
"                         the back-end holds as dropped (default 10)\n"
"IOMMU\n"
"  --iommu MODE           off|pt|strict|lazy|prefault (default off)\n"
"  --iotlb-page G         mapping granularity 4k|2m|region (default 4k)\n"
"  --perm P               exact: rings desc/avail RO, used WO, RX buffers WO;\n"
"                         loose: rings and RX buffers RW (default exact)\n"
"  --lazy-batch N[,MS]    lazy: flush after N unmaps or MS ms (default 32,10)\n"
"  --miss-delay-us N      delay before answering each miss (default 0)\n"
"  --seed N               IOVA shuffle seed (default 1)\n"
"  --iova-pools P         shared: one IOVA allocator for all buffers (default);\n"
"                         split: RX and TX buffers never swap IOVAs\n"
"  --iotlb-fill N         prefault: also push N 4 KiB mappings nothing uses,\n"
"                         to fill the back-end's IOTLB (default 0)\n"
"Traffic\n"
"  --size N               frame bytes, %d-%d (default 64)\n"
"  --burst N              TX packets posted per queue per poll (default 32)\n"
"  --expect io|macswap    how frames come back (default io)\n"
"  --seconds S            run time (default 3)\n"
"  --packets N            send N packets per run instead of timing it\n"
"  --max-lost N           fail when more than N packets are lost (default: never)\n"
"  --verbose              log every IOTLB exchange\n",
		PKT_MIN_LEN, PKT_MAX_LEN);
}

static uint64_t
num_arg(const char *name, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi)
		fe_die("--%s: '%s' is not a number in [%" PRIu64 ", %" PRIu64 "]",
		       name, s, lo, hi);
	return v;
}

static double
sec_arg(const char *name, const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (*end != '\0' || end == s || v < 0 || v > 86400)
		fe_die("--%s: '%s' is not a number of seconds", name, s);
	return v;
}

static void
parse(int argc, char **argv, struct fe_opts *o)
{
	enum {
		O_SOCKET = 256, O_SERVER, O_TIMEOUT, O_CONNECT, O_MEM, O_REGIONS,
		O_NOHUGE, O_QUEUES, O_RING, O_NOMRG, O_NOEVT, O_KICK, O_FLOOD, O_WRITEOFF, O_IOMMU,
		O_PAGE, O_PERM, O_LAZY, O_DELAY, O_SEED, O_POOLS, O_SIZE, O_BURST,
		O_EXPECT, O_SECONDS, O_PACKETS, O_MAXLOST, O_VERBOSE, O_HELP,
		O_FILL,
	};
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "server", no_argument, NULL, O_SERVER },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "connect-timeout", required_argument, NULL, O_CONNECT },
		{ "mem-mb", required_argument, NULL, O_MEM },
		{ "regions", required_argument, NULL, O_REGIONS },
		{ "no-huge", no_argument, NULL, O_NOHUGE },
		{ "queues", required_argument, NULL, O_QUEUES },
		{ "ring-size", required_argument, NULL, O_RING },
		{ "no-mrg", no_argument, NULL, O_NOMRG },
		{ "no-event-idx", no_argument, NULL, O_NOEVT },
		{ "kick", no_argument, NULL, O_KICK },
		{ "flood", no_argument, NULL, O_FLOOD },
		{ "writeoff-ms", required_argument, NULL, O_WRITEOFF },
		{ "iommu", required_argument, NULL, O_IOMMU },
		{ "iotlb-page", required_argument, NULL, O_PAGE },
		{ "perm", required_argument, NULL, O_PERM },
		{ "lazy-batch", required_argument, NULL, O_LAZY },
		{ "miss-delay-us", required_argument, NULL, O_DELAY },
		{ "seed", required_argument, NULL, O_SEED },
		{ "iova-pools", required_argument, NULL, O_POOLS },
		{ "iotlb-fill", required_argument, NULL, O_FILL },
		{ "size", required_argument, NULL, O_SIZE },
		{ "burst", required_argument, NULL, O_BURST },
		{ "expect", required_argument, NULL, O_EXPECT },
		{ "seconds", required_argument, NULL, O_SECONDS },
		{ "packets", required_argument, NULL, O_PACKETS },
		{ "max-lost", required_argument, NULL, O_MAXLOST },
		{ "verbose", no_argument, NULL, O_VERBOSE },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	char *comma;
	int c;

	memset(o, 0, sizeof(*o));
	o->mem_mb = 256;
	o->regions = 2;
	o->huge = true;
	o->queues = 1;
	o->ring_size = 256;
	o->mrg = true;
	o->event_idx = true;
	o->iommu = IOMMU_OFF;
	o->gran = GRAN_4K;
	o->perm = PERM_EXACT;
	o->lazy_batch = 32;
	o->lazy_ms = 10;
	o->writeoff_ms = 10;
	o->size = 64;
	o->burst = 32;
	o->expect = EXPECT_IO;
	o->seconds = 3;
	o->timeout_ms = 5000;
	o->connect_ms = 10000;
	o->seed = 1;
	o->max_lost = UINT64_MAX;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_SOCKET: o->socket = optarg; break;
		case O_SERVER: o->server = true; break;
		case O_TIMEOUT:
			o->timeout_ms = (unsigned int)(sec_arg("timeout", optarg) * 1000);
			if (o->timeout_ms == 0)
				o->timeout_ms = 1;
			break;
		case O_CONNECT:
			o->connect_ms = (unsigned int)(sec_arg("connect-timeout", optarg) * 1000);
			break;
		case O_MEM: o->mem_mb = num_arg("mem-mb", optarg, 16, 65536); break;
		case O_REGIONS:
			o->regions = num_arg("regions", optarg, 1, VU_MAX_REGIONS);
			break;
		case O_NOHUGE: o->huge = false; break;
		case O_QUEUES: o->queues = num_arg("queues", optarg, 1, 64); break;
		case O_RING:
			o->ring_size = num_arg("ring-size", optarg, 2, 16384);
			if (o->ring_size & (o->ring_size - 1))
				fe_die("--ring-size must be a power of two");
			break;
		case O_NOMRG: o->mrg = false; break;
		case O_NOEVT: o->event_idx = false; break;
		case O_KICK: o->kick = true; break;
		case O_FLOOD: o->flood = true; break;
		case O_WRITEOFF:
			o->writeoff_ms = num_arg("writeoff-ms", optarg, 1, 60000);
			break;
		case O_IOMMU:
			if (!strcmp(optarg, "off")) o->iommu = IOMMU_OFF;
			else if (!strcmp(optarg, "pt")) o->iommu = IOMMU_PT;
			else if (!strcmp(optarg, "strict")) o->iommu = IOMMU_STRICT;
			else if (!strcmp(optarg, "lazy")) o->iommu = IOMMU_LAZY;
			else if (!strcmp(optarg, "prefault")) o->iommu = IOMMU_PREFAULT;
			else fe_die("--iommu: off, pt, strict, lazy or prefault");
			break;
		case O_PAGE:
			if (!strcmp(optarg, "4k")) o->gran = GRAN_4K;
			else if (!strcmp(optarg, "2m")) o->gran = GRAN_2M;
			else if (!strcmp(optarg, "region")) o->gran = GRAN_REGION;
			else fe_die("--iotlb-page: 4k, 2m or region");
			break;
		case O_PERM:
			if (!strcmp(optarg, "exact")) o->perm = PERM_EXACT;
			else if (!strcmp(optarg, "loose")) o->perm = PERM_LOOSE;
			else fe_die("--perm: exact or loose");
			break;
		case O_LAZY:
			comma = strchr(optarg, ',');
			if (comma != NULL) {
				*comma = '\0';
				o->lazy_ms = num_arg("lazy-batch", comma + 1, 0, 100000);
			}
			o->lazy_batch = num_arg("lazy-batch", optarg, 1, 1000000);
			break;
		case O_DELAY:
			o->miss_delay_us = num_arg("miss-delay-us", optarg, 0, 10000000);
			break;
		case O_SEED: o->seed = num_arg("seed", optarg, 0, UINT64_MAX); break;
		case O_POOLS:
			if (!strcmp(optarg, "shared")) o->iova_split = false;
			else if (!strcmp(optarg, "split")) o->iova_split = true;
			else fe_die("--iova-pools: shared or split");
			break;
		case O_FILL:
			o->iotlb_fill = num_arg("iotlb-fill", optarg, 0, 1u << 24);
			break;
		case O_SIZE:
			o->size = num_arg("size", optarg, PKT_MIN_LEN, PKT_MAX_LEN);
			break;
		case O_BURST: o->burst = num_arg("burst", optarg, 1, 4096); break;
		case O_EXPECT:
			if (!strcmp(optarg, "io")) o->expect = EXPECT_IO;
			else if (!strcmp(optarg, "macswap")) o->expect = EXPECT_MACSWAP;
			else fe_die("--expect: io or macswap");
			break;
		case O_SECONDS: o->seconds = sec_arg("seconds", optarg); break;
		case O_PACKETS:
			o->packets = num_arg("packets", optarg, 1, UINT64_MAX);
			break;
		case O_MAXLOST:
			o->max_lost = num_arg("max-lost", optarg, 0, UINT64_MAX);
			break;
		case O_VERBOSE: fe_verbose = 1; break;
		case O_HELP:
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc || o->socket == NULL) {
		usage(stderr);
		exit(2);
	}
	if (o->packets)
		o->seconds = 0;
	if (o->iotlb_fill && o->iommu != IOMMU_PREFAULT)
		fe_die("--iotlb-fill needs --iommu prefault");
}

static const char *const gran_names[] = { "4k", "2m", "region" };

static double
us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

struct totals {
	struct fe_stats s;
	uint64_t lost;
	uint64_t violations;
	uint64_t tx_unconsumed;
};

static void
add_stats(struct fe_stats *a, const struct fe_stats *b)
{
	const uint64_t *src = (const uint64_t *)b;
	uint64_t *dst = (uint64_t *)a;
	size_t i;

	/* fe_stats is nothing but counters. */
	for (i = 0; i < sizeof(*a) / sizeof(uint64_t); i++)
		dst[i] += src[i];
}

static int
report(const struct fe_opts *o, const struct fe_ctx *c,
       const struct session *s, const struct iotlb *t,
       const struct run_result *r, bool proto_err)
{
	struct totals tot;
	const struct latency *ml = &t->miss_lat, *il = &t->inval_lat;
	double tx_mpps, rx_mpps;
	unsigned int q;
	bool fail;

	memset(&tot, 0, sizeof(tot));
	for (q = 0; q < c->nq; q++) {
		add_stats(&tot.s, &c->qp[q].st);
		tot.tx_unconsumed += vring_drv_inflight(&c->qp[q].txq.vr);
	}
	tot.lost = tot.s.tx_done > tot.s.rx_good ? tot.s.tx_done - tot.s.rx_good : 0;
	tot.violations = fe_stats_violations(&tot.s) + t->miss_st.miss_revoked;
	tx_mpps = r->tx_s > 0 ? tot.s.tx_done / r->tx_s / 1e6 : 0;
	rx_mpps = r->rx_s > 0 ? tot.s.rx_pkts / r->rx_s / 1e6 : 0;

	printf("\n");
	printf("iovhost-frontend: iommu=%s iotlb-page=%s perm=%s queues=%u ring=%u size=%u regions=%u mem=%uMiB%s\n",
	       iommu_mode_name(o->iommu), gran_names[o->gran],
	       o->perm == PERM_EXACT ? "exact" : "loose", o->queues,
	       o->ring_size, o->size, o->regions, o->mem_mb,
	       c->gm->hugetlb ? " (hugetlb)" : "");
	printf("  negotiated features 0x%" PRIx64 ", protocol features 0x%" PRIx64 "\n",
	       s->features, s->pfeatures);
	printf("  %-28s %14.3f s\n", "traffic phase", r->run_s);
	printf("  %-28s %14" PRIu64 "   (%.3f Mpps)\n", "tx packets (consumed)",
	       tot.s.tx_done, tx_mpps);
	printf("  %-28s %14" PRIu64 "   (%.3f Mpps)\n", "rx packets", tot.s.rx_pkts,
	       rx_mpps);
	printf("  %-28s %14" PRIu64 "\n", "rx verified", tot.s.rx_good);
	printf("  %-28s %14" PRIu64 "\n", "lost", tot.lost);
	printf("  %-28s %14" PRIu64 "\n", "duplicated", tot.s.dup);
	printf("  %-28s %14" PRIu64 "\n", "reordered", tot.s.reorder);
	printf("  %-28s %14" PRIu64 "   (len %" PRIu64 " magic %" PRIu64 " mac %" PRIu64
	       " csum %" PRIu64 " queue %" PRIu64 ")\n", "corrupt", tot.s.corrupt,
	       tot.s.corrupt_by[PKT_BAD_LEN], tot.s.corrupt_by[PKT_BAD_MAGIC],
	       tot.s.corrupt_by[PKT_BAD_MAC], tot.s.corrupt_by[PKT_BAD_CSUM],
	       tot.s.corrupt_by[PKT_BAD_QUEUE]);
	printf("  %-28s %14" PRIu64 "\n", "tx never consumed", tot.tx_unconsumed);
	if (tot.s.rx_merged)
		printf("  %-28s %14" PRIu64 "\n", "rx merged (num_buffers>1)",
		       tot.s.rx_merged);
	if (o->kick)
		printf("  %-28s %14" PRIu64 "\n", "kicks", tot.s.kicks);
	printf("  %-28s %14" PRIu64 "   (refused: unmapped %" PRIu64 ", revoked %" PRIu64
	       ", permission %" PRIu64 ")\n", "iotlb misses", t->miss_st.miss,
	       t->miss_st.miss_unmapped, t->miss_st.miss_revoked,
	       t->miss_st.miss_perm);
	printf("  %-28s %14" PRIu64 "   (+%" PRIu64 " prefault)\n", "iotlb updates",
	       t->miss_st.update, t->inv_st.prefault);
	printf("  %-28s %14" PRIu64 "   (misses beyond %d on one mapping)\n",
	       "iotlb updates ignored", t->miss_st.update_ignored, 3);
	printf("  %-28s %14" PRIu64 "   (%" PRIu64 " lazy flushes)\n",
	       "iotlb invalidates", t->inv_st.inval, t->inv_st.flushes);
	printf("  %-28s %9s %9s %9s %9s\n", "latency (us)", "p50", "p99", "max", "count");
	printf("  %-28s %9.1f %9.1f %9.1f %9" PRIu64 "\n", "miss -> update acked",
	       us(lat_percentile(ml, 50)), us(lat_percentile(ml, 99)),
	       us(ml->max_ns), ml->count);
	printf("  %-28s %9.1f %9.1f %9.1f %9" PRIu64 "\n", "invalidate -> acked",
	       us(lat_percentile(il, 50)), us(lat_percentile(il, 99)),
	       us(il->max_ns), il->count);
	printf("  %-28s %14" PRIu64 "\n", "VIOLATIONS", tot.violations);
	printf("    %-26s %14" PRIu64 "\n", "read-only buffer written", tot.s.v_tx_modified);
	printf("    %-26s %14" PRIu64 "\n", "revoked buffer written", tot.s.v_canary);
	printf("    %-26s %14" PRIu64 "\n", "rx data not where posted", tot.s.v_rx_unwritten);
	printf("    %-26s %14" PRIu64 "\n", "bogus used descriptor", tot.s.v_bad_used);
	printf("    %-26s %14" PRIu64 "\n", "used length overflow", tot.s.v_rx_len);
	printf("    %-26s %14" PRIu64 "\n", "miss on revoked iova", t->miss_st.miss_revoked);
	if (s->have_bchan && (s->bchan.bad_msgs || s->bchan.closed_early))
		printf("  back-end channel: %" PRIu64 " malformed messages%s\n",
		       s->bchan.bad_msgs,
		       s->bchan.closed_early ? ", closed early" : "");
	for (q = 0; q < c->nq && tot.lost > 0; q++) {
		const struct fe_qp *qp = &c->qp[q];
		char miss[256];
		bool more;

		/* Only what the device consumed can have been lost. */
		more = seq_track_missing(&qp->seq, qp->st.tx_done, 6, miss,
					 sizeof(miss));
		if (miss[0] != '\0')
			printf("  queue %u missing seq: %s%s\n", q, miss,
			       more ? " ..." : "");
	}
	if (r->stalled)
		printf("  traffic STALLED (no progress for %u ms)\n", o->timeout_ms);

	fail = tot.violations > 0 || tot.s.corrupt > 0 || tot.s.dup > 0 ||
	       tot.s.reorder > 0 || proto_err || r->stalled ||
	       t->miss_st.update_ignored > 0 ||
	       tot.s.tx_done == 0 || tot.s.rx_good == 0 ||
	       (o->max_lost != UINT64_MAX && tot.lost > o->max_lost);
	printf("  result: %s\n", fail ? "FAIL" : "PASS");

	printf("FRONTEND tx_mpps=%.4f rx_mpps=%.4f tx_pkts=%" PRIu64 " rx_pkts=%" PRIu64
	       " lost=%" PRIu64 " dup=%" PRIu64 " reorder=%" PRIu64 " corrupt=%" PRIu64
	       " iotlb_miss=%" PRIu64 " iotlb_update=%" PRIu64 " iotlb_inval=%" PRIu64
	       " miss_lat_p50_us=%.1f miss_lat_p99_us=%.1f miss_lat_max_us=%.1f"
	       " inval_lat_p50_us=%.1f inval_lat_p99_us=%.1f inval_lat_max_us=%.1f"
	       " violations=%" PRIu64 " iommu=%s iotlb_refused=%" PRIu64
	       " iotlb_prefault=%" PRIu64 " update_ignored=%" PRIu64 " result=%s\n",
	       tx_mpps, rx_mpps, tot.s.tx_done, tot.s.rx_pkts, tot.lost, tot.s.dup,
	       tot.s.reorder, tot.s.corrupt, t->miss_st.miss, t->miss_st.update,
	       t->inv_st.inval, us(lat_percentile(ml, 50)),
	       us(lat_percentile(ml, 99)), us(ml->max_ns),
	       us(lat_percentile(il, 50)), us(lat_percentile(il, 99)),
	       us(il->max_ns), tot.violations, iommu_mode_name(o->iommu),
	       t->miss_st.miss_unmapped + t->miss_st.miss_revoked +
	       t->miss_st.miss_perm, t->inv_st.prefault,
	       t->miss_st.update_ignored, fail ? "fail" : "pass");
	fflush(stdout);
	return fail ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct fe_opts o;
	struct guest_mem gm;
	struct iommu mmu;
	struct iotlb tlb;
	struct session s;
	struct fe_ctx c;
	struct run_result r;
	uint32_t nbufs;
	unsigned int q;
	bool proto_err = false;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	parse(argc, argv, &o);

	rc = guest_mem_init(&gm, o.mem_mb, o.regions, o.huge);
	if (rc < 0)
		fe_die("guest memory (%u MiB in %u regions): %s", o.mem_mb,
		       o.regions, strerror(-rc));
	nbufs = 2 * o.queues * qp_pool_size(&o);
	/*
	 * Every buffer may hold a live window, lazy ones a pending one too;
	 * beyond that a few hundred spare slots: a freed IOVA is not reused
	 * at once (strict gets fresh ones), but soon enough that a stale
	 * device translation of it is bound to be exercised.
	 */
	rc = iommu_init(&mmu, o.iommu, o.gran, &gm,
			nbufs + o.lazy_batch + 256, o.seed, o.iova_split);
	if (rc < 0)
		fe_die("IOMMU emulation: %s", strerror(-rc));

	memset(&s, 0, sizeof(s));
	s.conn = o.server ? vu_conn_accept(o.socket, o.connect_ms) :
			    vu_conn_connect(o.socket, o.connect_ms);
	vu_conn_set_timeout(s.conn, o.timeout_ms);
	iotlb_init(&tlb, &mmu, s.conn, o.miss_delay_us, o.lazy_batch, o.lazy_ms);

	session_negotiate(&s, &o, &tlb);
	session_describe(&s);

	memset(&c, 0, sizeof(c));
	c.o = &o;
	c.gm = &gm;
	c.mmu = &mmu;
	c.tlb = &tlb;
	c.nq = o.queues;
	c.mrg = s.features & BIT64(VIRTIO_NET_F_MRG_RXBUF);
	c.event_idx = s.features & BIT64(VIRTIO_F_EVENT_IDX);
	c.qp = fe_zalloc(sizeof(*c.qp) * o.queues);
	tlb.revoked = qp_on_revoked;
	tlb.revoked_arg = &c;
	for (q = 0; q < o.queues; q++) {
		rc = qp_setup(&c, &c.qp[q], (uint16_t)q);
		if (rc < 0)
			fe_die("queue pair %u setup: %s (try a larger --mem-mb)",
			       q, strerror(-rc));
	}

	session_mem_table(&s, &gm);
	for (q = 0; q < o.queues; q++) {
		session_vring(&s, &c.qp[q].rxq);
		session_vring(&s, &c.qp[q].txq);
	}
	/*
	 * Only now: a back-end may keep its IOTLB per virtqueue (DPDK 22.11
	 * does) and drop UPDATEs that arrive before the queue exists.
	 */
	if (o.iommu == IOMMU_PREFAULT) {
		iotlb_prefault(&tlb);
		if (o.iotlb_fill)
			iotlb_fill(&tlb, o.iotlb_fill);
	}
	run_prime(&c);
	for (q = 0; q < o.queues; q++) {
		session_vring_enable(&s, &c.qp[q].rxq, true);
		session_vring_enable(&s, &c.qp[q].txq, true);
	}
	session_driver_ok(&s);
	fe_log("running: iommu=%s, %u queue pair(s), %s",
	       iommu_mode_name(o.iommu), o.queues, o.packets ? "packet count" : "timed");

	run_traffic(&c, &r);

	/* The device must be stopped before resting buffers are judged. */
	for (q = 0; q < o.queues; q++) {
		struct fe_qp *qp = &c.qp[q];
		uint16_t rxb = session_stop_vring(&s, &qp->rxq);
		uint16_t txb = session_stop_vring(&s, &qp->txq);

		/* The device cannot have consumed more than we made available. */
		if ((uint16_t)(qp->rxq.vr.avail_idx - rxb) > qp->rxq.num ||
		    (uint16_t)(qp->txq.vr.avail_idx - txb) > qp->txq.num) {
			fe_log("GET_VRING_BASE: queue %u bases rx %u tx %u beyond avail %u/%u",
			       q, rxb, txb, qp->rxq.vr.avail_idx, qp->txq.vr.avail_idx);
			proto_err = true;
		}
		qp_reap_tx(&c, qp);
		qp_reap_rx(&c, qp);
	}
	iotlb_flush(&tlb);
	for (q = 0; q < o.queues; q++)
		qp_final_check(&c, &c.qp[q]);

	if (s.have_bchan)
		bchan_stop(&s.bchan);
	vu_conn_close(s.conn);
	s.conn = NULL;
	if (s.have_bchan && (s.bchan.bad_msgs > 0 || s.bchan.closed_early))
		proto_err = true;

	rc = report(&o, &c, &s, &tlb, &r, proto_err);
	for (q = 0; q < o.queues; q++)
		qp_fini(&c.qp[q]);
	free(c.qp);
	iommu_fini(&mmu);
	guest_mem_fini(&gm);
	return rc;
}
