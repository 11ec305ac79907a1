/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/**
 * @file
 * iovhost-intr-test: RX interrupts and the power-monitor condition of the
 * net_vhost PMD, driven by a virtio-user front-end in the same process.
 *
 *     iovhost-intr-test -l 0-1 -d <plugin> --vdev net_vhost0,iface=S \
 *         --vdev net_virtio_user0,path=S [other EAL args]
 *
 * Port 0 (ours) is configured with intr_conf.rxq = 1 and its RX queue is
 * registered once in this thread's epoll set. Then, for real:
 *  - an idle queue does not keep waking the thread;
 *  - a packet the front-end sends (from the other lcore, while this one
 *    is blocked in rte_epoll_wait) wakes it, and the packet is received;
 *  - a packet posted while the port polled (kicks off) still wakes a
 *    thread that enables the interrupt afterwards: it is not stranded;
 *  - rte_eth_get_monitor_addr(): the condition says "data" once packets
 *    are posted (split: the watched avail index moved by exactly their
 *    number; packed: the next slot's flags) and "sleep" once they are
 *    received; with packed_vq=1 in the virtio-user devargs, packed rings;
 *  - all of this still works, without registering again, after the
 *    front-end restarts its rings (port stop/start) and after it is
 *    replaced by a new one (hot-unplug and plug: a new connection).
 * Exit status 0 when every check passed; the first failure is printed.
 *
 *     iovhost-intr-test echo N -l 0 -d <plugin> --vdev net_vhost0,iface=S
 *
 * loops port 0 back to itself for N front-end connections from another
 * process (iovhost-frontend --kick), sleeping on the RX interrupt whenever
 * the queue is empty; it fails on a wait that timed out with packets
 * waiting (a lost wake-up).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_interrupts.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_power_intrinsics.h>

#include "test.h"

#define NB_MBUF 4096
#define RING 256
/* A liveness bound for a wake-up, not a performance target. */
#define WAKE_TIMEOUT_MS 5000
#define IDLE_WAIT_MS 300
#define ROUNDS 10
#define MAGIC 0x10f0a11eU

static struct rte_mempool *mp;
static uint16_t vh_port;
static uint16_t vu_port;
static char vu_name[32] = "net_virtio_user0";
static char vu_args[256];
static bool packed;	/* virtio-user with packed_vq=1 */

/* Main lcore -> sender lcore. */
static volatile uint32_t send_req;	/* bumped to ask for one packet */
static volatile uint32_t sent;		/* bumped after each tx_burst */
static volatile int sender_quit;
static volatile uint16_t sender_port;

static struct rte_mbuf *
make_pkt(uint32_t seq)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	uint8_t *d;

	if (m == NULL)
		return NULL;
	d = (uint8_t *)rte_pktmbuf_append(m, 64);
	if (d == NULL) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memset(d, 0, 64);
	memset(d, 0xff, 6);			/* broadcast */
	d[6] = 0x02;				/* locally administered */
	d[12] = 0x88;				/* local experimental */
	d[13] = 0xb5;
	memcpy(d + 14, &(uint32_t){ MAGIC }, 4);
	memcpy(d + 18, &seq, 4);
	return m;
}

static int
send_one(uint16_t port, uint32_t seq)
{
	struct rte_mbuf *m = make_pkt(seq);
	int tries;

	if (m == NULL)
		return -ENOMEM;
	for (tries = 0; tries < 1000; tries++) {
		if (rte_eth_tx_burst(port, 0, &m, 1) == 1)
			return 0;
		rte_delay_us_sleep(1000);
	}
	rte_pktmbuf_free(m);
	return -EIO;
}

/* The other lcore: sends one packet per request, a moment after it. */
static int
sender_main(void *arg __rte_unused)
{
	uint32_t done = 0;

	while (!sender_quit) {
		if (send_req == done) {
			rte_delay_us_sleep(1000);
			continue;
		}
		/* Let the main lcore get into epoll_wait first. */
		rte_delay_us_sleep(50 * 1000);
		if (send_one(sender_port, done + 1) != 0)
			printf("sender: cannot send packet %u\n", done + 1);
		done++;
		__atomic_store_n(&sent, done, __ATOMIC_RELEASE);
	}
	return 0;
}

/* Receive exactly @p want packets (checking their payload) within 5 s. */
static int
recv_n(unsigned int want, uint32_t first_seq)
{
	struct rte_mbuf *pkts[32];
	unsigned int got = 0, i;
	uint64_t end = rte_get_timer_cycles() + 5 * rte_get_timer_hz();
	uint32_t magic, seq;
	uint16_t n;

	while (got < want && rte_get_timer_cycles() < end) {
		n = rte_eth_rx_burst(vh_port, 0, pkts, RTE_DIM(pkts));
		for (i = 0; i < n; i++) {
			const uint8_t *d = rte_pktmbuf_mtod(pkts[i], uint8_t *);

			memcpy(&magic, d + 14, 4);
			memcpy(&seq, d + 18, 4);
			if (pkts[i]->pkt_len != 64 || magic != MAGIC ||
					(first_seq != 0 && seq != first_seq + got + i))
				printf("    unexpected packet: len %u magic %#x "
					"seq %u (want %u)\n", pkts[i]->pkt_len,
					magic, seq, first_seq + got + i);
		}
		rte_pktmbuf_free_bulk(pkts, n);
		got += n;
		if (n == 0)
			rte_delay_us_sleep(1000);
	}
	/* Anything more would be a packet we did not send. */
	rte_delay_us_sleep(10 * 1000);
	n = rte_eth_rx_burst(vh_port, 0, pkts, RTE_DIM(pkts));
	rte_pktmbuf_free_bulk(pkts, n);
	TEST_ASSERT_EQUAL(got + n, want, "packets received");
	return TEST_SUCCESS;
}

static int wait_link(uint16_t port, bool up);

static uint32_t link_downs;	/* LSC "down" events of our port */

static int
lsc_event(uint16_t port, enum rte_eth_event_type type __rte_unused,
		void *arg __rte_unused, void *ret_param __rte_unused)
{
	struct rte_eth_link link;

	if (rte_eth_link_get_nowait(port, &link) == 0 && !link.link_status)
		__atomic_fetch_add(&link_downs, 1, __ATOMIC_RELAXED);
	return 0;
}

/* Wait until the front-end went away and came back (a link down event). */
static int
wait_flap(uint32_t downs_before)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (__atomic_load_n(&link_downs, __ATOMIC_RELAXED) !=
				downs_before)
			return wait_link(vh_port, true);
		rte_delay_us_sleep(50 * 1000);
	}
	TEST_ASSERT(false, "no link-down event on port %u in 10 s", vh_port);
	return TEST_FAILED;
}

static int
wait_link(uint16_t port, bool up)
{
	struct rte_eth_link link;
	int i;

	for (i = 0; i < 200; i++) {
		memset(&link, 0, sizeof(link));
		rte_eth_link_get_nowait(port, &link);
		if (!!link.link_status == up)
			return TEST_SUCCESS;
		rte_delay_us_sleep(50 * 1000);
	}
	TEST_ASSERT(false, "port %u link not %s after 10 s", port,
			up ? "up" : "down");
	return TEST_FAILED;
}

static int
port_setup(uint16_t port, bool intr)
{
	struct rte_eth_conf conf;
	int rc;

	memset(&conf, 0, sizeof(conf));
	conf.intr_conf.rxq = intr;
	rc = rte_eth_dev_configure(port, 1, 1, &conf);
	TEST_ASSERT_EQUAL(rc, 0, "configure port %u", port);
	rc = rte_eth_rx_queue_setup(port, 0, RING, rte_socket_id(), NULL, mp);
	TEST_ASSERT_EQUAL(rc, 0, "rx queue of port %u", port);
	rc = rte_eth_tx_queue_setup(port, 0, RING, rte_socket_id(), NULL);
	TEST_ASSERT_EQUAL(rc, 0, "tx queue of port %u", port);
	rc = rte_eth_dev_start(port);
	TEST_ASSERT_EQUAL(rc, 0, "start port %u", port);
	return TEST_SUCCESS;
}

static int
wait_intr(int timeout_ms)
{
	struct rte_epoll_event ev[2];

	return rte_epoll_wait(RTE_EPOLL_PER_THREAD, ev, RTE_DIM(ev),
			timeout_ms);
}

/* Drain, enable, wait while nothing is sent: the wait must time out. */
static int
check_idle(void)
{
	int n, woke = 0, i;

	for (i = 0; i < 3; i++) {
		TEST_ASSERT_EQUAL(recv_n(0, 0), TEST_SUCCESS, "drain");
		TEST_ASSERT_EQUAL(rte_eth_dev_rx_intr_enable(vh_port, 0), 0,
				"rx_intr_enable");
		n = wait_intr(IDLE_WAIT_MS);
		TEST_ASSERT(n >= 0, "rte_epoll_wait: %d", n);
		rte_eth_dev_rx_intr_disable(vh_port, 0);
		woke += n > 0;
	}
	/* One spurious wake-up is allowed (a re-armed kick fd). */
	TEST_ASSERT(woke <= 1, "woken %d times in 3 idle waits", woke);
	printf("ok: idle queue: %d wake-ups in 3 waits of %d ms\n", woke,
			IDLE_WAIT_MS);
	return TEST_SUCCESS;
}

/* Block in rte_epoll_wait; the other lcore sends; we must wake for it. */
static int
check_wake(const char *what, int rounds)
{
	uint32_t before;
	int r, n, spurious = 0;

	sender_port = vu_port;
	for (r = 0; r < rounds; r++) {
		TEST_ASSERT_EQUAL(rte_eth_dev_rx_intr_enable(vh_port, 0), 0,
				"rx_intr_enable");
		before = __atomic_load_n(&sent, __ATOMIC_ACQUIRE);
		send_req = before + 1;
		for (;;) {
			n = wait_intr(WAKE_TIMEOUT_MS);
			TEST_ASSERT(n > 0, "%s: round %d: not woken within "
				"%d ms of the packet (rte_epoll_wait %d)",
				what, r, WAKE_TIMEOUT_MS, n);
			if (__atomic_load_n(&sent, __ATOMIC_ACQUIRE) != before)
				break;
			/* Woken before the packet was sent. */
			TEST_ASSERT(++spurious <= 1, "%s: woken with nothing "
				"sent", what);
		}
		TEST_ASSERT_EQUAL(rte_eth_dev_rx_intr_disable(vh_port, 0), 0,
				"rx_intr_disable");
		TEST_ASSERT_EQUAL(recv_n(1, before + 1), TEST_SUCCESS,
				"%s: round %d", what, r);
	}
	printf("ok: %s: woken by the front-end's packet %d times out of %d\n",
			what, rounds, rounds);
	return TEST_SUCCESS;
}

/* A packet posted while we polled must not be slept on. */
static int
check_pending(void)
{
	int n;

	/* Polling mode: the port asked the front-end not to kick. */
	TEST_ASSERT_EQUAL(recv_n(0, 0), TEST_SUCCESS, "drain");
	TEST_ASSERT_EQUAL(send_one(vu_port, 7), 0, "send");
	rte_delay_us_sleep(10 * 1000);
	TEST_ASSERT_EQUAL(rte_eth_dev_rx_intr_enable(vh_port, 0), 0,
			"rx_intr_enable");
	n = wait_intr(WAKE_TIMEOUT_MS);
	TEST_ASSERT(n > 0, "a packet posted before rx_intr_enable left the "
		"thread asleep (rte_epoll_wait %d)", n);
	rte_eth_dev_rx_intr_disable(vh_port, 0);
	TEST_ASSERT_EQUAL(recv_n(1, 7), TEST_SUCCESS, "pending packet");
	printf("ok: a packet posted before rx_intr_enable wakes at once\n");
	return TEST_SUCCESS;
}

static uint64_t
read_cond(const struct rte_power_monitor_cond *pmc)
{
	switch (pmc->size) {
	case 1: return *(const volatile uint8_t *)pmc->addr;
	case 2: return *(const volatile uint16_t *)pmc->addr;
	case 4: return *(const volatile uint32_t *)pmc->addr;
	default: return *(const volatile uint64_t *)pmc->addr;
	}
}

static int
check_monitor(void)
{
	struct rte_power_monitor_cond pmc, pmc2;
	uint64_t v0, v1;
	const int k = 5;
	int i, rc;

	TEST_ASSERT_EQUAL(recv_n(0, 0), TEST_SUCCESS, "drain");
	memset(&pmc, 0, sizeof(pmc));
	rc = rte_eth_get_monitor_addr(vh_port, 0, &pmc);
	TEST_ASSERT_EQUAL(rc, 0, "rte_eth_get_monitor_addr");
	TEST_ASSERT(pmc.addr != NULL && pmc.fn != NULL, "empty condition");
	TEST_ASSERT(pmc.size == 1 || pmc.size == 2 || pmc.size == 4 ||
			pmc.size == 8, "size %u", pmc.size);
	v0 = read_cond(&pmc);
	TEST_ASSERT_EQUAL(pmc.fn(v0, pmc.opaque), 0,
			"nothing posted, yet the condition says data is there");
	for (i = 0; i < k; i++)
		TEST_ASSERT_EQUAL(send_one(vu_port, 100 + i), 0, "send");
	rte_delay_us_sleep(10 * 1000);
	v1 = read_cond(&pmc);
	/* Split: the avail index. Packed: the next slot's flags. */
	if (!packed)
		TEST_ASSERT_EQUAL((uint16_t)(v1 - v0), k,
			"the watched value (avail index) moved by %" PRIu64
			", %d packets were posted",
			(uint64_t)(uint16_t)(v1 - v0), k);
	TEST_ASSERT(pmc.fn(v1, pmc.opaque) != 0,
			"%d packets posted, yet the condition says sleep", k);
	TEST_ASSERT_EQUAL(recv_n(k, 100), TEST_SUCCESS, "posted packets");
	memset(&pmc2, 0, sizeof(pmc2));
	TEST_ASSERT_EQUAL(rte_eth_get_monitor_addr(vh_port, 0, &pmc2), 0,
			"rte_eth_get_monitor_addr after receiving");
	if (!packed) {
		TEST_ASSERT(pmc2.addr == pmc.addr,
				"address moved within a ring");
	} else {
		/* k 16-byte descriptors further (or back round the ring). */
		intptr_t d = (const char *)pmc2.addr - (const char *)pmc.addr;

		TEST_ASSERT(d == 16 * k || d == 16 * (k - RING),
			"next slot moved by %ld bytes after %d packets",
			(long)d, k);
	}
	TEST_ASSERT_EQUAL(pmc2.fn(read_cond(&pmc2), pmc2.opaque), 0,
			"all received, yet the condition says data is there");
	printf("ok: monitor condition (%s ring): value %#" PRIx64 " -> %#"
		PRIx64 " after %d packets; data/no-data as expected\n",
		packed ? "packed" : "split", v0, v1, k);
	return TEST_SUCCESS;
}

static int
find_ports(void)
{
	struct rte_eth_dev_info info;
	uint16_t p;
	int found = 0;

	RTE_ETH_FOREACH_DEV(p) {
		if (rte_eth_dev_info_get(p, &info) != 0)
			continue;
		if (strcmp(info.driver_name, "net_vhost") == 0) {
			vh_port = p;
			found |= 1;
		} else if (strcmp(info.driver_name, "net_virtio_user") == 0) {
			vu_port = p;
			found |= 2;
		}
	}
	TEST_ASSERT_EQUAL(found, 3, "want a net_vhost and a net_virtio_user "
			"port");
	return TEST_SUCCESS;
}

/* The front-end's port id, by its device name. */
static int
find_vu_port(void)
{
	TEST_ASSERT_EQUAL(rte_eth_dev_get_port_by_name(vu_name, &vu_port), 0,
			"port of %s", vu_name);
	return TEST_SUCCESS;
}

static int
run(void)
{
	unsigned int worker;
	uint32_t downs;
	int rc;

	TEST_ASSERT_EQUAL(find_ports(), TEST_SUCCESS, "ports");
	mp = rte_pktmbuf_pool_create("intr_mp", NB_MBUF, 256, 0,
			RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	TEST_ASSERT(mp != NULL, "mempool");
	rte_eth_dev_callback_register(vh_port, RTE_ETH_EVENT_INTR_LSC,
			lsc_event, NULL);
	TEST_ASSERT_EQUAL(port_setup(vh_port, true), TEST_SUCCESS, "vhost");
	TEST_ASSERT_EQUAL(port_setup(vu_port, false), TEST_SUCCESS, "virtio");
	TEST_ASSERT_EQUAL(wait_link(vh_port, true), TEST_SUCCESS, "link");

	/* Registered once: must survive everything below. */
	rc = rte_eth_dev_rx_intr_ctl_q(vh_port, 0, RTE_EPOLL_PER_THREAD,
			RTE_INTR_EVENT_ADD, NULL);
	TEST_ASSERT_EQUAL(rc, 0, "rte_eth_dev_rx_intr_ctl_q");

	worker = rte_get_next_lcore(-1, 1, 0);
	TEST_ASSERT(worker < RTE_MAX_LCORE, "needs two lcores (-l 0-1)");
	sender_port = vu_port;
	rte_eal_remote_launch(sender_main, NULL, worker);

	rc = TEST_FAILED;
	if (check_idle() != 0 || check_wake("first connection", ROUNDS) != 0 ||
			check_pending() != 0 || check_monitor() != 0)
		goto out;

	/*
	 * Ring restart on the same connection: virtio-user configured with
	 * RX interrupts resets the device (GET_VRING_BASE), then sets the
	 * rings up anew with a new SET_VRING_KICK.
	 */
	downs = __atomic_load_n(&link_downs, __ATOMIC_RELAXED);
	if (rte_eth_dev_stop(vu_port) != 0 || port_setup(vu_port, true) != 0 ||
			wait_flap(downs) != 0) {
		printf("front-end restart failed\n");
		goto out;
	}
	if (check_wake("after a ring restart", 3) != 0)
		goto out;

	/* A new front-end: disconnect, connect again. */
	sender_port = RTE_MAX_ETHPORTS;	/* unused while swapping */
	if (rte_eth_dev_stop(vu_port) != 0 || rte_vdev_uninit(vu_name) != 0 ||
			wait_link(vh_port, false) != 0) {
		printf("front-end removal failed\n");
		goto out;
	}
	snprintf(vu_name, sizeof(vu_name), "net_virtio_user1");
	if (rte_vdev_init(vu_name, vu_args) != 0 || find_vu_port() != 0 ||
			port_setup(vu_port, false) != 0 ||
			wait_link(vh_port, true) != 0) {
		printf("front-end re-plug failed\n");
		goto out;
	}
	if (check_wake("after a reconnect", 3) != 0 || check_monitor() != 0)
		goto out;
	rc = TEST_SUCCESS;
out:
	sender_quit = 1;
	rte_eal_mp_wait_lcore();
	rte_eth_dev_stop(vu_port);
	rte_eth_dev_close(vu_port);
	rte_eth_dev_stop(vh_port);
	rte_eth_dev_close(vh_port);
	return rc;
}

/*
 * Echo mode, for a front-end in another process (iovhost-frontend --kick):
 * loop every packet of port 0 back to it, sleeping in rte_epoll_wait
 * whenever the queue is empty, for @p conns connections. A wait that ends
 * by time-out with packets then waiting is a lost wake-up.
 */
static int
echo_run(unsigned int conns)
{
	struct rte_mbuf *pkts[32];
	uint64_t echoed = 0, events = 0, empty = 0, lost = 0, timeouts = 0;
	unsigned int seen = 0;
	uint64_t deadline = rte_get_timer_cycles() + 100 * rte_get_timer_hz();
	struct rte_eth_link link;
	bool up = false;
	uint16_t n, k;
	int w;

	vh_port = 0;
	TEST_ASSERT(rte_eth_dev_count_avail() == 1, "want one port");
	mp = rte_pktmbuf_pool_create("echo_mp", NB_MBUF, 256, 0,
			RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	TEST_ASSERT(mp != NULL, "mempool");
	rte_eth_dev_callback_register(vh_port, RTE_ETH_EVENT_INTR_LSC,
			lsc_event, NULL);
	TEST_ASSERT_EQUAL(port_setup(vh_port, true), TEST_SUCCESS, "port");
	TEST_ASSERT_EQUAL(rte_eth_dev_rx_intr_ctl_q(vh_port, 0,
			RTE_EPOLL_PER_THREAD, RTE_INTR_EVENT_ADD, NULL), 0,
			"rte_eth_dev_rx_intr_ctl_q");
	printf("echo: ready\n");
	fflush(stdout);
	while (seen < conns && rte_get_timer_cycles() < deadline) {
		n = rte_eth_rx_burst(vh_port, 0, pkts, RTE_DIM(pkts));
		if (n > 0) {
			for (k = 0; k < n; )
				k += rte_eth_tx_burst(vh_port, 0, pkts + k,
						n - k);
			echoed += n;
			continue;
		}
		/* Counted by the LSC callback: a short session ends between
		 * two looks at the link. */
		if (__atomic_load_n(&link_downs, __ATOMIC_RELAXED) != seen) {
			seen = __atomic_load_n(&link_downs, __ATOMIC_RELAXED);
			printf("echo: connection %u done\n", seen);
			continue;
		}
		rte_eth_link_get_nowait(vh_port, &link);
		up = link.link_status;
		rte_eth_dev_rx_intr_enable(vh_port, 0);
		/* Long: a missed kick shows as a time-out, not as speed. */
		w = wait_intr(up ? 2000 : 100);
		rte_eth_dev_rx_intr_disable(vh_port, 0);
		n = rte_eth_rx_burst(vh_port, 0, pkts, RTE_DIM(pkts));
		if (w > 0)
			events++;
		else if (up)
			timeouts++;
		if (w > 0 && n == 0)
			empty++;	/* spurious, or an IOTLB miss pending */
		if (w == 0 && n > 0) {
			lost++;
			printf("echo: lost wake-up: %u packets waited\n", n);
		}
		for (k = 0; k < n; )
			k += rte_eth_tx_burst(vh_port, 0, pkts + k, n - k);
		echoed += n;
	}
	printf("echo: %" PRIu64 " packets echoed, %" PRIu64 " interrupts "
		"(%" PRIu64 " with nothing to receive), %" PRIu64 " time-outs, "
		"%" PRIu64 " lost wake-ups, %u connections\n", echoed, events,
		empty, timeouts, lost, seen);
	rte_eth_dev_stop(vh_port);
	rte_eth_dev_close(vh_port);
	TEST_ASSERT_EQUAL(seen, conns, "connections served");
	TEST_ASSERT_EQUAL(lost, 0, "lost wake-ups");
	TEST_ASSERT(echoed > 0 && events > 0, "no traffic or no interrupt");
	return TEST_SUCCESS;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	int i, rc;

	/* iovhost-intr-test echo <connections> EAL-args */
	if (argc > 2 && strcmp(argv[1], "echo") == 0) {
		unsigned int conns = atoi(argv[2]);

		argv[2] = argv[0];
		rc = rte_eal_init(argc - 2, argv + 2);
		if (rc < 0) {
			fprintf(stderr, "EAL init failed: %s\n",
				rte_strerror(rte_errno));
			return 1;
		}
		rc = echo_run(conns);
		printf("%s\n", rc == TEST_SUCCESS ? "PASS" : "FAIL");
		rte_eal_cleanup();
		return rc == TEST_SUCCESS ? 0 : 1;
	}

	/* The front-end's devargs, to plug it again later. */
	for (i = 1; i < argc - 1; i++)
		if (strcmp(argv[i], "--vdev") == 0 &&
				strncmp(argv[i + 1], "net_virtio_user0,", 17) == 0)
			path = argv[i + 1] + 17;
	if (path == NULL) {
		fprintf(stderr, "usage: %s EAL-args with --vdev "
			"net_virtio_user0,path=...\n", argv[0]);
		return 2;
	}
	snprintf(vu_args, sizeof(vu_args), "%s", path);
	packed = strstr(path, "packed_vq=1") != NULL;
	rc = rte_eal_init(argc, argv);
	if (rc < 0) {
		fprintf(stderr, "EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	rc = run();
	printf("%s\n", rc == TEST_SUCCESS ? "PASS" : "FAIL");
	rte_eal_cleanup();
	return rc == TEST_SUCCESS ? 0 : 1;
}
