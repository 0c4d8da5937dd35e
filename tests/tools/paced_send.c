/*
 * paced_send: writes UDP frames into a network interface at a steady rate,
 * every frame a flow of its own, for the live tests that need a known row
 * rate (tests/bq/stalled-fsync.sh).
 *
 *   paced_send IFACE PPS SECONDS
 *
 * Frame i (from 0) is Ethernet/IPv4/UDP, 60 bytes, 10.128.0.0 + i port
 * 1024 + i % 60000 -> 10.255.255.1 port 9, so each frame starts a new flow
 * and, past the flow table's capacity, evicts one: one row per frame. The
 * frames go out of IFACE through a raw packet socket that bypasses the
 * queueing discipline (for a net_tap port they go straight to the queue its
 * DPDK side reads), PPS / 1000 of them every millisecond
 * against an absolute clock, so a late wake-up is caught up and the rate
 * over the run is PPS. At the end it prints
 *
 *   sent N frames in S s, R refused
 *
 * N being the frames the kernel took (the count a test expects in the
 * rows) and R those it refused because the interface's queue was full
 * (ENOBUFS: the reader fell behind; they are not sent again). Exit 1 on
 * any other send error. Links only libc and pktbuild: nothing of the
 * engine.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pktbuild.h"

#define FRAME_LEN 60

static size_t build(uint8_t *f, uint64_t i)
{
	static const uint8_t dmac[6] = {0x02, 0, 0, 0, 0, 0x02}, smac[6] = {0x02, 0, 0, 0, 0, 0x01};
	static const uint8_t dst[4] = {10, 255, 255, 1};
	uint32_t a = 0x0a800000u + (uint32_t)i; /* 10.128.0.0 + i */
	uint8_t src[4] = {(uint8_t)(a >> 24), (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a};
	size_t n = dv_put_eth(f, dmac, smac, NULL, NULL, 0, DV_ETH_IPV4);
	uint16_t udp_len = FRAME_LEN - 14 - 20;

	n += dv_put_ipv4(f + n, src, dst, 17, (uint16_t)i, 0, udp_len, 64);
	dv_put16(f + n, (uint16_t)(1024 + i % 60000));
	dv_put16(f + n + 2, 9);
	dv_put16(f + n + 4, udp_len);
	dv_put16(f + n + 6, 0); /* no checksum (allowed over IPv4) */
	memset(f + n + 8, 0x5a, (size_t)udp_len - 8);
	return FRAME_LEN;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct sockaddr_ll ll = {.sll_family = AF_PACKET};
	uint64_t pps, total, sent = 0, refused = 0, t0, tick = 1000000u;
	uint8_t f[FRAME_LEN];
	int fd;

	if (argc != 4 || (pps = strtoull(argv[2], NULL, 10)) == 0 || atof(argv[3]) <= 0) {
		fprintf(stderr, "usage: paced_send IFACE PPS SECONDS\n");
		return 2;
	}
	total = (uint64_t)(atof(argv[3]) * (double)pps);
	ll.sll_ifindex = (int)if_nametoindex(argv[1]);
	ll.sll_protocol = htons(ETH_P_ALL);
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	/* Straight to the driver: a queueing discipline such as fq_codel would
	 * drop frames that wait while the reader is busy, the reader's own
	 * queue (txqueuelen, for a tap) is what the test sizes. */
	if (fd >= 0)
		(void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &(int){1}, sizeof(int));
	if (ll.sll_ifindex == 0 || fd < 0 || bind(fd, (struct sockaddr *)&ll, sizeof(ll))) {
		fprintf(stderr, "paced_send: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	t0 = now_ns();
	for (uint64_t k = 1, i = 0; i < total; k++) {
		/* Frames due by the end of millisecond k, on the absolute clock. */
		uint64_t due = k * pps / 1000u, at = t0 + k * tick;
		struct timespec ts = {(time_t)(at / 1000000000u), (long)(at % 1000000000u)};

		if (due > total)
			due = total;
		for (; i < due; i++) {
			build(f, i);
			if (send(fd, f, FRAME_LEN, 0) == FRAME_LEN) {
				sent++;
			} else if (errno == ENOBUFS) {
				refused++;
			} else {
				fprintf(stderr, "paced_send: frame %" PRIu64 ": %s\n", i,
					strerror(errno));
				return 1;
			}
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	printf("sent %" PRIu64 " frames in %.3f s, %" PRIu64 " refused\n", sent,
	       (double)(now_ns() - t0) / 1e9, refused);
	close(fd);
	return 0;
}
