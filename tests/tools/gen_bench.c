/*
 * gen_bench: writes a large synthetic capture for the --read benchmark.
 *
 *   gen_bench OUT.pcap PACKETS FLOWS [SIZE [random|seq] [plain|vxlan|gtpu|erspan]]
 *
 * PACKETS Ethernet/IPv4/UDP frames of SIZE bytes (default 64, at least 42)
 * spread over FLOWS bidirectional flows; with vxlan, gtpu or erspan each
 * frame is wrapped as tests/bench/bench_encap.h says (a VXLAN overlay, a
 * GTP-U user plane, an ERSPAN type II mirror; different outer headers per
 * direction), so the file has the same flows, 50 (36 for GTP-U) bytes a
 * frame more on the wire. Each packet picks its flow and its
 * direction from a fixed-seed xorshift generator, so hash lookups see a
 * realistic mix rather than a round robin, and two runs write the same
 * bytes. Timestamps advance 1 us per packet: no flow goes idle for the
 * default timeouts. UDP checksums are 0 (allowed over IPv4) to keep the
 * generator fast; the IPv4 header checksum is correct.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "pktbuild.h"

#include "../bench/bench_encap.h"

#define DV_BENCH_EPOCH 1714564800ull /* 2024-05-01T12:00:00Z */

static uint64_t dv_xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static int dv_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/*
 * Endpoints of flow i: client 10.a.b.c, server 172.16.x.y, both derived from
 * i so that FLOWS distinct keys exist for FLOWS up to 2^24.
 */
static void dv_flow_endpoints(uint32_t i, uint8_t cli[4], uint8_t srv[4], uint16_t *cport,
			      uint16_t *sport)
{
	cli[0] = 10;
	cli[1] = (uint8_t)(i >> 16);
	cli[2] = (uint8_t)(i >> 8);
	cli[3] = (uint8_t)i;
	srv[0] = 172;
	srv[1] = 16;
	srv[2] = (uint8_t)(i % 61);
	srv[3] = (uint8_t)(1 + i % 251);
	*cport = (uint16_t)(1024 + i % 60000);
	*sport = (uint16_t)(i & 1 ? 53 : 443);
}

int main(int argc, char **argv)
{
	static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0x0a};
	static const uint8_t mac_b[6] = {0x02, 0, 0, 0, 0, 0x0b};
	uint64_t packets, flows, size = 64, seed = 0x9e3779b97f4a7c15ull, n;
	uint8_t f[9000 + 64];
	pcap_dumper_t *d;
	pcap_t *p;
	int seq = 0, encap = BENCH_PLAIN, bad = 0;

	/* After SIZE, the order and the encapsulation, each optional, in any order. */
	for (int i = 5; i < argc; i++) {
		int e = bench_encap_by_name(argv[i]);

		if (strcmp(argv[i], "seq") == 0)
			seq = 1;
		else if (strcmp(argv[i], "random") == 0)
			seq = 0;
		else if (e >= 0)
			encap = e;
		else
			bad = 1;
	}
	if (argc < 4 || argc > 7 || bad || dv_parse_u64(argv[2], 1, UINT64_MAX, &packets) ||
	    dv_parse_u64(argv[3], 1, 1u << 24, &flows) ||
	    (argc >= 5 && dv_parse_u64(argv[4], 42, 9000, &size))) {
		fprintf(stderr,
			"usage: gen_bench OUT.pcap PACKETS FLOWS(1..16777216) "
			"[SIZE(42..9000, default 64) [random|seq] "
			"[plain|vxlan|gtpu|erspan]]\n"
			"  random: each packet picks a flow at random (default, the worst\n"
			"          case for caches); seq: flows in turn, as a traffic\n"
			"          generator's flow range sends them\n"
			"  vxlan, gtpu, erspan: each frame of SIZE bytes wrapped in a VXLAN\n"
			"          overlay, a GTP-U tunnel (its IP packet) or an ERSPAN II\n"
			"          mirror session (tests/bench/bench_encap.h); default plain\n");
		return 2;
	}
	p = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_MICRO);
	if (!p)
		return 1;
	d = pcap_dump_open(p, argv[1]);
	if (!d) {
		fprintf(stderr, "gen_bench: %s\n", pcap_geterr(p));
		pcap_close(p);
		return 1;
	}
	memset(f, 0, sizeof(f));
	for (n = 0; n < packets; n++) {
		uint64_t r = dv_xorshift(&seed);
		uint32_t i = seq ? (uint32_t)(n % flows) : (uint32_t)((r >> 8) % flows);
		int rev = seq ? (int)((n / flows) & 1) : (int)(r & 1);
		uint8_t cli[4], srv[4];
		uint16_t cport, sport;
		struct pcap_pkthdr h;
		uint64_t t_us = n;
		size_t off;
		uint16_t ip_len = (uint16_t)(size - 14);
		uint8_t *g = f + bench_encap_inner_off(encap); /* the plain frame */
		uint32_t wire;

		dv_flow_endpoints(i, cli, srv, &cport, &sport);
		off = dv_put_eth(g, rev ? mac_a : mac_b, rev ? mac_b : mac_a, NULL, NULL, 0,
				 DV_ETH_IPV4);
		off += dv_put_ipv4(g + off, rev ? srv : cli, rev ? cli : srv, 17, (uint16_t)n, 0,
				   ip_len - 20, 64);
		dv_put16(g + off, rev ? sport : cport);
		dv_put16(g + off + 2, rev ? cport : sport);
		dv_put16(g + off + 4, ip_len - 20);
		dv_put16(g + off + 6, 0);
		wire = bench_encap_wrap(f, encap, (uint32_t)size, i, rev, (uint32_t)n);
		h.ts.tv_sec = (time_t)(DV_BENCH_EPOCH + t_us / 1000000);
		h.ts.tv_usec = (suseconds_t)(t_us % 1000000);
		h.caplen = wire;
		h.len = wire;
		pcap_dump((u_char *)d, &h, f);
	}
	if (pcap_dump_flush(d) != 0) {
		fprintf(stderr, "gen_bench: cannot write %s\n", argv[1]);
		pcap_dump_close(d);
		pcap_close(p);
		return 1;
	}
	pcap_dump_close(d);
	pcap_close(p);
	printf("gen_bench: %" PRIu64 " packets of %" PRIu64 " bytes over %" PRIu64
	       " flows, %s -> %s\n",
	       packets, size, flows, bench_encap_names[encap], argv[1]);
	return 0;
}
