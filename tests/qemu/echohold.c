/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 The iovhost authors
 */

/*
 * Guest helper of tests/test_migration.sh (built static by
 * tests/qemu/migration.sh, run by tests/qemu/migration-init):
 *
 *   echohold PEER COUNT INTERVAL_US SIZE
 *
 * Sends COUNT ICMP echo requests of SIZE payload bytes to PEER, one every
 * INTERVAL_US, each payload a pseudo-random pattern of its own sequence
 * number, and reads the replies only one second after the last request:
 * the test migrates the guest while the requests go out, so most replies
 * are received on the source and read on the destination.
 *
 * Why hold: virtio-net leaves all but the first bytes of a received
 * packet in the receive buffer the vhost-user back-end wrote (only the
 * headers are copied into the skb). A reply that waits in our socket
 * across the migration is read from that buffer on the destination, so
 * its bytes are right there only if the back-end marked the page in the
 * dirty log after writing it. The kernel checked the checksum on the
 * source, before the migration; this checks every byte after it.
 *
 * Prints one line:
 *   GUEST hold sent=N answered=N of COUNT bad=N dup=N first_bad=SEQ socket_drops=N
 *   GUEST hold missing: SEQ...   (the first few, if any)
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 1472

static uint8_t
pattern(uint32_t seq, uint32_t i)
{
	uint32_t x = seq * 2654435761u + i * 40503u + 0x9e3779b9u;

	x ^= x >> 15;
	x *= 0x2c1b3c6du;
	x ^= x >> 12;
	return (uint8_t)x;
}

static uint16_t
csum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (; n > 1; n -= 2, b += 2)
		s += (uint32_t)(b[0] << 8 | b[1]);
	if (n)
		s += (uint32_t)b[0] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

/* Packets the kernel dropped for want of room in raw sockets. */
static unsigned long
raw_drops(void)
{
	char line[512];
	unsigned long d, sum = 0;
	FILE *f = fopen("/proc/net/raw", "r");
	char *p;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		p = strrchr(line, ' ');
		if (p != NULL && sscanf(p, "%lu", &d) == 1)
			sum += d;
	}
	fclose(f);
	return sum;
}

static void
sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int
main(int argc, char **argv)
{
	static uint8_t seen[65536];
	uint8_t pkt[sizeof(struct icmphdr) + MAX_SIZE];
	uint8_t buf[4096];
	struct sockaddr_in to = { .sin_family = AF_INET };
	struct icmphdr *ih = (struct icmphdr *)pkt;
	uint32_t count, size, seq, i;
	long interval;
	unsigned int sent = 0, ok = 0, bad = 0, dup = 0;
	int first_bad = -1, s, rcv = 64 << 20;
	uint16_t id;
	socklen_t len;
	ssize_t n;

	if (argc != 5 || inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
		fprintf(stderr, "usage: echohold PEER COUNT INTERVAL_US SIZE\n");
		return 2;
	}
	count = strtoul(argv[2], NULL, 0);
	interval = strtol(argv[3], NULL, 0);
	size = strtoul(argv[4], NULL, 0);
	if (count == 0 || count > 65536 || size < 8 || size > MAX_SIZE) {
		fprintf(stderr, "echohold: COUNT 1..65536, SIZE 8..%d\n", MAX_SIZE);
		return 2;
	}
	s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (s < 0) {
		perror("echohold: socket");
		return 1;
	}
	/* Room for every reply (and everyone else's ICMP) until we read. */
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
		perror("echohold: SO_RCVBUFFORCE");
	len = sizeof(rcv);
	getsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcv, &len);
	id = (uint16_t)getpid();

	for (seq = 0; seq < count; seq++) {
		memset(ih, 0, sizeof(*ih));
		ih->type = ICMP_ECHO;
		ih->un.echo.id = htons(id);
		ih->un.echo.sequence = htons((uint16_t)seq);
		for (i = 0; i < size; i++)
			pkt[sizeof(*ih) + i] = pattern(seq, i);
		ih->checksum = csum(pkt, sizeof(*ih) + size);
		if (sendto(s, pkt, sizeof(*ih) + size, 0,
				(struct sockaddr *)&to, sizeof(to)) > 0)
			sent++;
		sleep_us(interval);
	}
	sleep_us(1000000);

	for (;;) {
		const struct iphdr *ip = (const struct iphdr *)buf;
		const struct icmphdr *r;
		uint32_t hl;

		n = recv(s, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			break;
		hl = ip->ihl * 4u;
		if ((size_t)n < hl + sizeof(*r))
			continue;
		r = (const struct icmphdr *)(buf + hl);
		if (r->type != ICMP_ECHOREPLY || ntohs(r->un.echo.id) != id)
			continue;
		seq = ntohs(r->un.echo.sequence);
		if (seq >= count)
			continue;
		if (seen[seq]) {
			dup++;
			continue;
		}
		seen[seq] = 1;
		if ((size_t)n != hl + sizeof(*r) + size)
			goto wrong;
		for (i = 0; i < size; i++)
			if (buf[hl + sizeof(*r) + i] != pattern(seq, i))
				goto wrong;
		ok++;
		continue;
wrong:
		bad++;
		if (first_bad < 0)
			first_bad = (int)seq;
	}
	printf("GUEST hold sent=%u answered=%u of %u bad=%u dup=%u first_bad=%d "
		"socket_drops=%lu rcvbuf=%d\n", sent, ok + bad, count, bad, dup,
		first_bad, raw_drops(), rcv);
	for (seq = 0, i = 0; seq < count && i < 16; seq++)
		if (!seen[seq])
			printf("%s%u", i++ ? " " : "GUEST hold missing: ", seq);
	if (i)
		printf("\n");
	return 0;
}
