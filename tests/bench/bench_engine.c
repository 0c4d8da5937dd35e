/*
 * bench_engine: what one worker's engine costs per packet, without I/O.
 *
 * For each flow count N it builds N distinct flows' Ethernet/IPv4 frames in
 * memory (even flows UDP, odd flows TCP with ACK; each flow has a frame per
 * direction), creates a flow table of capacity N (no eviction) and then runs
 * the worker's per-burst path over them, bursts of 128: dv_parse, then
 * dv_flow_table_update_burst, then dv_flow_table_expire. Packet times advance
 * 100 ns per packet (10 Mpps of packet time, so with 1K flows most packets
 * find their flow moved less than 1 ms ago and the LRU move is skipped; with
 * 1M flows none do). A first round creates the flows and is timed apart;
 * the steady-state rounds, alternating direction, are the figure printed:
 * ns_per_packet and Mpps from the thread's CPU time (the machine may be
 * shared), wall_ns_per_packet from the wall clock.
 *
 * With -e, the same flows' frames are wrapped in VXLAN, GTP-U or ERSPAN type
 * II (tests/bench/bench_encap.h: per-direction outer headers, as on real
 * links) and the path decapsulates them, as the worker does with --decap on
 * (the default, also used for plain frames): a packet's bytes are then
 * those of the carried frame, and its tunnel side goes to the table.
 *
 * Usage: bench_engine [EAL options --] [-f N[,N...]] [-p PACKETS]
 *                     [-o creation|random] [-x] [-e ENCAP[,ENCAP...]] [-D]
 * Without EAL options it uses --no-huge -m 1536 --no-pci and a unique prefix.
 * This is a benchmark, not a test: it prints figures and never fails on speed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "dv_eal.h"
#include "dv_flow.h"
#include "dv_parse.h"

#include "bench_encap.h"

#define BENCH_BURST	128 /* DV_BURST, what a worker passes at once */
#define BENCH_FRAME	64  /* stride of a plain frame in memory */
#define BENCH_FRAME_TUN 128 /* stride of a wrapped one (at most 60 + 50 bytes) */
#define BENCH_FRAME_MAX 128
#define BENCH_CAPLEN	60 /* Ethernet minimum without FCS: the plain (inner) frame */
#define BENCH_STEP_NS	100

struct bench_frames {
	uint8_t *fwd; /* N frames, client -> server, in a shuffled flow order */
	uint8_t *rev; /* the same flows, server -> client */
	uint32_t len; /* wire length of every frame (one layout for all) */
	uint32_t n;
	uint32_t stride;
	enum bench_encap encap;
};

/* Wall clock, and this thread's CPU time: the machine may be shared, and
 * CPU time leaves out the time the benchmark was not running. */
static double bench_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void ipv4_checksum(uint8_t *ip)
{
	uint32_t sum = 0;

	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(ip + 10, (uint16_t)~sum);
}

/* Flow i: 10.0.0.0 + i (port 1024 + i % 50000) <-> 172.16.0.1 port 53 or 80,
 * wrapped in encapsulation e; returns the wire length. */
static uint32_t build_frame(uint8_t *frame, uint32_t stride, enum bench_encap e, uint32_t i,
			    int reverse)
{
	uint32_t client = 0x0a000000u + i, server = 0xac100001u;
	uint16_t cport = (uint16_t)(1024 + i % 50000), sport = (i & 1) ? 80 : 53;
	int tcp = i & 1;
	uint8_t *f = frame + bench_encap_inner_off(e), *ip = f + 14, *l4 = ip + 20;

	memset(frame, 0, stride);
	memcpy(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	put16(f + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, BENCH_CAPLEN - 14);
	put16(ip + 4, (uint16_t)i);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = tcp ? 6 : 17;
	put32(ip + 12, reverse ? server : client);
	put32(ip + 16, reverse ? client : server);
	ipv4_checksum(ip);
	put16(l4, reverse ? sport : cport);
	put16(l4 + 2, reverse ? cport : sport);
	if (tcp) {
		put32(l4 + 4, 1000);
		put32(l4 + 8, 2000);
		l4[12] = 5 << 4;
		l4[13] = 0x10; /* ACK */
		put16(l4 + 14, 65535);
	} else {
		put16(l4 + 4, BENCH_CAPLEN - 14 - 20);
	}
	return bench_encap_wrap(frame, e, BENCH_CAPLEN, i, reverse, i);
}

/* Fisher-Yates shuffle of n items of `size` bytes with xorshift64 from x. */
static void shuffle(void *items, uint32_t n, size_t size, uint64_t x)
{
	uint8_t tmp[BENCH_FRAME_MAX], *a = items;

	for (uint32_t i = n - 1; n > 1 && i > 0; i--) {
		uint32_t j;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		j = (uint32_t)(x % (i + 1));
		memcpy(tmp, a + (size_t)i * size, size);
		memcpy(a + (size_t)i * size, a + (size_t)j * size, size);
		memcpy(a + (size_t)j * size, tmp, size);
	}
}

static int frames_build(struct bench_frames *fr, uint32_t n, enum bench_encap e)
{
	uint32_t *order = malloc((size_t)n * sizeof(*order));

	fr->n = n;
	fr->encap = e;
	fr->stride = e == BENCH_PLAIN ? BENCH_FRAME : BENCH_FRAME_TUN;
	fr->fwd = malloc((size_t)n * fr->stride);
	fr->rev = malloc((size_t)n * fr->stride);
	if (order == NULL || fr->fwd == NULL || fr->rev == NULL) {
		free(order);
		free(fr->fwd);
		free(fr->rev);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		order[i] = i;
	shuffle(order, n, sizeof(*order), 88172645463325252ULL);
	for (uint32_t i = 0; i < n; i++) {
		fr->len = build_frame(fr->fwd + (size_t)i * fr->stride, fr->stride, e, order[i], 0);
		build_frame(fr->rev + (size_t)i * fr->stride, fr->stride, e, order[i], 1);
	}
	free(order);
	return 0;
}

static size_t heap_used(void)
{
	size_t used = 0;

	for (unsigned int i = 0; i < rte_socket_count(); i++) {
		struct rte_malloc_socket_stats s;

		if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &s) == 0)
			used += s.heap_allocsz_bytes;
	}
	return used;
}

/*
 * One pass over all frames of one direction; returns packets accounted. As
 * the worker's receive loop: parse with the decapsulation configuration,
 * count a carried frame's own length, hand the tunnel sides to the table.
 */
/*
 * One pass over the frames, as a worker's receive loop: parse a burst
 * (taking a carried frame's own length, as the worker does), account it,
 * expire. stride and len are constants for plain frames (the loop the
 * program's own frames of one size give the compiler), so that the
 * harness costs what it cost before tunnels existed.
 */
static __rte_always_inline uint64_t bench_round_impl(struct dv_flow_table *t,
						     const struct dv_decap_cfg *dc, uint32_t n,
						     const uint8_t *frames, uint32_t stride,
						     uint32_t len, uint64_t *ts,
						     struct dv_export_buf *out, uint64_t *bad)
{
	struct dv_pkt pkts[BENCH_BURST];
	struct dv_pkt_tun tun[BENCH_BURST], scratch;
	uint64_t done = 0, now = *ts;

	for (uint32_t i = 0; i < n; i += BENCH_BURST) {
		uint32_t m = n - i < BENCH_BURST ? n - i : BENCH_BURST, k = 0, n_tun = 0;
		const uint8_t *f = frames + (size_t)i * stride;

		/* (A pointer stepped by the stride and one store of the length:
		 * the harness costs what it cost before tunnels, benchmarks.md.) */
		for (uint32_t j = 0; j < m; j++, f += stride) {
			enum dv_parse_status st =
			    dv_parse_rx(f, len, DV_LINK_ETHERNET, dc, &pkts[k], &scratch);
			uint32_t wire = len;

			if (unlikely(st != DV_PARSE_OK)) {
				if (st != DV_PARSE_TUNNEL) {
					(*bad)++;
					continue;
				}
				/* as the worker's rx_tunnelled(), with one worker */
				if (pkts[k].tun & DV_PKT_T_TUNNEL) {
					n_tun++;
					tun[k] = scratch;
					wire = dv_pkt_tun_bytes(&scratch, len);
				}
			}
			pkts[k].wire_len = wire;
			pkts[k].ts_ns = now;
			now += BENCH_STEP_NS;
			k++;
		}
		dv_flow_table_update_burst(t, pkts, n_tun ? tun : NULL, k, out);
		dv_flow_table_expire(t, now, BENCH_BURST, out);
		out->n = 0; /* nothing should be exported; the count is checked by stats */
		done += k;
	}
	*ts = now;
	return done;
}

static __rte_noinline uint64_t bench_round(struct dv_flow_table *t, const struct dv_decap_cfg *dc,
					   const struct bench_frames *fr, const uint8_t *frames,
					   uint64_t *ts, struct dv_export_buf *out, uint64_t *bad)
{
	if (fr->stride == BENCH_FRAME && fr->len == BENCH_CAPLEN)
		return bench_round_impl(t, dc, fr->n, frames, BENCH_FRAME, BENCH_CAPLEN, ts, out,
					bad);
	return bench_round_impl(t, dc, fr->n, frames, fr->stride, fr->len, ts, out, bad);
}

static int bench_one(uint32_t nflows, uint64_t want_packets, uint32_t slack_div, int random,
		     enum bench_encap encap, int decap)
{
	static struct dv_export_rec recs[2 * BENCH_BURST];
	struct dv_export_buf out = {.recs = recs, .n = 0, .cap = 2 * BENCH_BURST};
	struct bench_frames fr;
	struct dv_flow_config cfg;
	struct dv_flow_table *t;
	char name[32], err[256];
	uint64_t ts = 1700000000ULL * 1000000000ULL, packets = 0, bad = 0;
	uint64_t rounds = want_packets / nflows;
	uint32_t displaced = 0;
	size_t heap0;
	double t0, t1, t2, c1, c2;
	struct dv_decap_cfg dc, *pdc;

	if (rounds < 2)
		rounds = 2;
	dv_decap_cfg_default(&dc); /* the program's default, --decap on */
	pdc = decap ? &dc : NULL;
	if (frames_build(&fr, nflows, encap) != 0) {
		fprintf(stderr, "bench_engine: out of memory for %u flows' frames\n", nflows);
		return -1;
	}
	memset(&cfg, 0, sizeof(cfg));
	snprintf(name, sizeof(name), "bench_%u", nflows);
	cfg.name = name;
	cfg.capacity = nflows;
	cfg.idle_timeout_ns = 120ULL * 1000000000ULL;
	cfg.active_timeout_ns = 1800ULL * 1000000000ULL;
	cfg.tcp_close_timeout_ns = 10ULL * 1000000000ULL;
	cfg.socket_id = (int)rte_socket_id();
	cfg.seed[0] = 1;
	cfg.seed[1] = 2;
	cfg.lru_slack_div = slack_div; /* 0: exact LRU; the program uses 16 */
	cfg.tunnels = decap ? 1 : 0;   /* as the program sets it */
	heap0 = heap_used();
	t = dv_flow_table_create(&cfg, err, sizeof(err));
	if (t == NULL) {
		fprintf(stderr, "bench_engine: %s\n", err);
		free(fr.fwd);
		free(fr.rev);
		return -1;
	}

	t0 = bench_clock(CLOCK_MONOTONIC);
	bench_round(t, pdc, &fr, fr.fwd, &ts, &out, &bad); /* creates every flow */
	t1 = bench_clock(CLOCK_MONOTONIC);
	if (dv_flow_table_verify(t, &displaced, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_engine: flow table index broken: %s\n", err);
		displaced = UINT32_MAX;
	}
	if (random) { /* visit the flows in an order unrelated to their creation */
		shuffle(fr.fwd, nflows, fr.stride, 0x9e3779b97f4a7c15ULL);
		shuffle(fr.rev, nflows, fr.stride, 0x2545f4914f6cdd1dULL);
	}
	c1 = bench_clock(CLOCK_THREAD_CPUTIME_ID);
	for (uint64_t r = 0; r < rounds; r++)
		packets += bench_round(t, pdc, &fr, (r & 1) ? fr.fwd : fr.rev, &ts, &out, &bad);
	c2 = bench_clock(CLOCK_THREAD_CPUTIME_ID);
	t2 = bench_clock(CLOCK_MONOTONIC);

	printf("flows=%u encap=%s decap=%s order=%s lru=%s packets=%llu ns_per_packet=%.1f "
	       "Mpps=%.2f wall_ns_per_packet=%.1f\n",
	       nflows, bench_encap_names[encap], decap ? "on" : "off",
	       random ? "random" : "creation", slack_div ? "coarse" : "exact",
	       (unsigned long long)packets, (c2 - c1) * 1e9 / (double)packets,
	       (double)packets / (c2 - c1) / 1e6, (t2 - t1) * 1e9 / (double)packets);
	printf("  create: ns_per_new_flow=%.1f  table: flows=%u away_from_home=%u created=%llu "
	       "exported=%llu heap_bytes_per_flow=%.1f parse_errors=%llu\n",
	       (t1 - t0) * 1e9 / nflows, dv_flow_table_count(t), displaced,
	       (unsigned long long)dv_flow_table_stats(t)->created,
	       (unsigned long long)dv_flow_table_stats(t)->exported,
	       (double)(heap_used() - heap0) / nflows, (unsigned long long)bad);
	fflush(stdout);
	dv_flow_table_free(t);
	free(fr.fwd);
	free(fr.rev);
	return 0;
}

/* A comma list of encapsulation names into a bit set; -1 on a bad name. */
static int parse_encaps(const char *list, unsigned int *set)
{
	char buf[64], *save = NULL;

	if (strlen(list) >= sizeof(buf))
		return -1;
	strcpy(buf, list);
	*set = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int e = bench_encap_by_name(tok);

		if (e < 0)
			return -1;
		*set |= 1u << e;
	}
	return *set ? 0 : -1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_engine [EAL options --] [-f N[,N...]] [-p PACKETS] "
		"[-o creation|random] [-x] [-e ENCAP[,ENCAP...]] [-D]\n"
		"  -f  flow counts (default 1000,100000,1000000)\n"
		"  -p  steady-state packets per flow count (default 8000000)\n"
		"  -o  order of the steady-state rounds: the order the flows were\n"
		"      created in (records read nearly in memory order), or an\n"
		"      unrelated random order (every packet misses the cache)\n"
		"      (default: both, one after the other)\n"
		"  -x  coarse LRU only (skip the exact-LRU comparison)\n"
		"  -e  encapsulations to run, each for every flow count: plain,\n"
		"      vxlan, gtpu, erspan (default plain; tests/bench/bench_encap.h)\n"
		"  -D  as with --decap off: nothing decapsulated, no tunnel columns kept\n");
}

int main(int argc, char **argv)
{
	char prefix[64];
	char *def[] = {argv[0],	   "--no-huge",	    "-m",   "1536",
		       "--no-pci", "--file-prefix", prefix, "--log-level=lib.*:error",
		       NULL};
	const char *flows = "1000,100000,1000000";
	uint64_t packets = 8000000;
	int dashdash = -1, rc = 0, first, orders = 3, exact = 1;
	unsigned int encaps = 1u << BENCH_PLAIN;
	int decap = 1;

	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			dashdash = i;
			break;
		}
	snprintf(prefix, sizeof(prefix), "bench_engine_%d", (int)getpid());
	if (dashdash < 0) {
		if (rte_eal_init(8, def) < 0) {
			fprintf(stderr, "bench_engine: EAL init failed\n");
			return 1;
		}
		first = 1;
	} else {
		if (rte_eal_init(dashdash, argv) < 0) {
			fprintf(stderr, "bench_engine: EAL init failed\n");
			return 1;
		}
		first = dashdash + 1;
	}
	for (int i = first; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0 && i + 1 < argc) {
			flows = argv[++i];
		} else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
			packets = strtoull(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc &&
			   (strcmp(argv[i + 1], "creation") == 0 ||
			    strcmp(argv[i + 1], "random") == 0)) {
			orders = strcmp(argv[++i], "random") == 0 ? 2 : 1;
		} else if (strcmp(argv[i], "-x") == 0) {
			exact = 0;
		} else if (strcmp(argv[i], "-D") == 0) {
			decap = 0;
		} else if (strcmp(argv[i], "-e") == 0 && i + 1 < argc &&
			   parse_encaps(argv[i + 1], &encaps) == 0) {
			i++;
		} else {
			usage();
			dv_eal_cleanup(1);
			return 2;
		}
	}

	printf("bench_engine: dv_flow_bytes_per_flow=%zu burst=%d step_ns=%d\n",
	       dv_flow_bytes_per_flow(1), BENCH_BURST, BENCH_STEP_NS);
	for (const char *p = flows; *p != '\0';) {
		char *end;
		unsigned long n = strtoul(p, &end, 10);

		if (end == p || n == 0 || n > (1ul << 26)) {
			usage();
			rc = 2;
			break;
		}
		/* The program's coarse LRU, then the exact one, side by side. */
		for (int e = 0; e < BENCH_ENCAPS; e++) {
			if (!(encaps & (1u << e)))
				continue;
			for (int random = 0; random < 2; random++) {
				if (!(orders & (1 << random)))
					continue;
				if (bench_one((uint32_t)n, packets, 16, random, e, decap) != 0 ||
				    (exact &&
				     bench_one((uint32_t)n, packets, 0, random, e, decap) != 0))
					rc = 1;
			}
		}
		p = *end == ',' ? end + 1 : end;
	}
	dv_eal_cleanup(1);
	return rc;
}
