/*
 * bench_row: what making a row costs (dv_row_format_opts(), the NDJSON and
 * BigQuery text of one export record), in ns per row and MB of rows per
 * second on one thread, without and with the community_id column (a SHA-1
 * a row).
 *
 *   bench_row [ROWS [ROUNDS]]     (defaults 1000000 and 7)
 *
 * The records are 4096 made from a fixed seed, cycled: 90 % IPv4 and 10 %
 * IPv6 (a third of them with a zero run), TCP, UDP and ICMP, counters from
 * 1 to 10^9, a day's worth of timestamps, one in eight with a VLAN, one in
 * sixteen tunnelled (VXLAN with a VNI and outer addresses). Prints the
 * median of ROUNDS rounds per variant; a benchmark, never a test: it does
 * not fail on speed (docs/benchmarks.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dv_community_id.h"
#include "dv_decap.h"
#include "dv_export.h"
#include "dv_flow.h"
#include "dv_rand.h"
#include "dv_row.h"

#define N_RECS	   4096
#define MAX_ROUNDS 99

static struct dv_rand rng;

static uint64_t next(void)
{
	return dv_rand_next(&rng);
}

static void make_rec(struct dv_export_rec *r, uint32_t i)
{
	static const uint8_t protos[] = {6, 6, 6, 17, 17, 1};
	uint64_t x = next();

	memset(r, 0, sizeof(*r));
	for (int b = 0; b < 16; b++)
		r->id[b] = (uint8_t)next();
	r->id[6] = (uint8_t)((r->id[6] & 0x0f) | 0x40);
	r->id[8] = (uint8_t)((r->id[8] & 0x3f) | 0x80);
	r->family = i % 10 == 9 ? 6 : 4;
	for (int b = 0; b < (r->family == 4 ? 4 : 16); b++) {
		r->src_addr[b] = (uint8_t)next();
		r->dst_addr[b] = (uint8_t)next();
	}
	if (r->family == 6 && i % 3 == 0) /* 2001:db8::x: a run of zero groups */
		memset(r->src_addr + 4, 0, 10);
	r->proto = protos[x % sizeof(protos)];
	if (r->proto != 1) {
		r->src_port = (uint16_t)(1024 + next() % 64000);
		r->dst_port = (uint16_t)(next() % 2 ? 443 : next() % 65536);
	}
	if (r->proto == 6) {
		r->flags |= DV_EXPORT_F_TCP;
		r->src_tcp_flags = 0x1b;
		r->dst_tcp_flags = 0x1f;
	} else if (r->proto == 1) {
		r->flags |= DV_EXPORT_F_ICMP;
		r->icmp_type = 8;
	}
	r->first_ns = 1796000000000000000ULL + next() % 86400000000000ULL;
	r->last_ns = r->first_ns + next() % 120000000000ULL;
	r->src_packets = 1 + next() % 1000;
	r->dst_packets = next() % 1000;
	r->src_bytes = r->src_packets * (60 + next() % 1400);
	r->dst_bytes = r->dst_packets * (60 + next() % 1400) + (i % 64 == 0 ? 1000000000 : 0);
	r->status = (uint8_t)(next() % 2);
	r->end_reason = (uint8_t)(next() % 3);
	if (i % 8 == 0) {
		r->flags |= DV_EXPORT_F_VLAN;
		r->vlan_id = (uint16_t)(next() % 4095);
	}
	if (i % 16 == 0) {
		r->n_kinds = 1;
		r->kinds[0] = DV_TUN_VXLAN;
		r->flags |= DV_EXPORT_F_VNI;
		r->vni = (uint32_t)(next() % (1u << 24));
		r->outer_family = 4;
		for (int b = 0; b < 4; b++) {
			r->outer_src[b] = (uint8_t)next();
			r->outer_dst[b] = (uint8_t)next();
		}
	}
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static struct dv_export_rec recs[N_RECS];
	uint64_t rows = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	int rounds = argc > 2 ? atoi(argv[2]) : 7;
	struct dv_community_cfg cid_on, cid_off;
	char err[128], buf[4096];

	if (rows == 0 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: bench_row [ROWS [ROUNDS (1..%d)]]\n", MAX_ROUNDS);
		return 2;
	}
	if (dv_community_cfg_init(&cid_on, 0, 1, err, sizeof(err)) != 0 ||
	    dv_community_cfg_init(&cid_off, 0, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_row: %s\n", err);
		return 1;
	}
	dv_rand_seed(&rng, 20261207, 1);
	for (uint32_t i = 0; i < N_RECS; i++)
		make_rec(&recs[i], i);
	for (int v = 0; v < 2; v++) {
		const struct dv_row_opts opts = {.sensor = "bench-sensor",
						 .sensor_plain = dv_row_plain_len("bench-sensor"),
						 .community = v ? &cid_on : &cid_off};
		double ns[MAX_ROUNDS], bytes = 0;

		for (int k = 0; k < rounds; k++) {
			double t0 = now_ns();

			bytes = 0;
			for (uint64_t i = 0; i < rows; i++) {
				int n =
				    dv_row_format_opts(&recs[i % N_RECS], &opts, buf, sizeof(buf));

				if (n < 0) {
					fprintf(stderr, "bench_row: record %llu: error %d\n",
						(unsigned long long)(i % N_RECS), n);
					return 1;
				}
				bytes += n;
			}
			ns[k] = (now_ns() - t0) / (double)rows;
		}
		qsort(ns, (size_t)rounds, sizeof(ns[0]), cmp_double);
		printf("%-13s %7.1f ns/row  %6.2f M rows/s  %7.1f MB/s  (%.0f bytes/row; median of "
		       "%d rounds of %llu rows)\n",
		       v ? "community_id" : "plain", ns[rounds / 2], 1e3 / ns[rounds / 2],
		       bytes / (double)rows * 1e3 / ns[rounds / 2], bytes / (double)rows, rounds,
		       (unsigned long long)rows);
	}
	dv_community_cfg_free(&cid_on);
	dv_community_cfg_free(&cid_off);
	return 0;
}
