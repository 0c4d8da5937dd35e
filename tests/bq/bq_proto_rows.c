/*
 * bq_proto_rows: the driver of test_bq_proto.py. Prints, one a line:
 *   descriptor <hex of dv_bq_proto_descriptor()>
 *   row <hex of dv_bq_proto_row()> <dv_row_format() JSON>   (per record)
 *   typical <protobuf bytes> <JSON bytes>
 * for bench_bq's typical row (an IPv4 TCP flow to 443, plain, sensor
 * "bench-sensor") and then N pseudo-random records (N = argv[1], default
 * 2000): IPv4, IPv6 with zero runs and IPv4-mapped, every combination of
 * NULL columns, tunnels of 0 to 8 kinds (and kinds beyond the names), IPv4,
 * IPv6 or no outer addresses, counters beyond INT64_MAX, any time, odd
 * sensors (quotes, control characters, UTF-8, empty), any status or end.
 * The Python side decodes each protobuf row with a message class built
 * from the printed descriptor and compares it with the JSON row.
 *
 * Every row is also encoded from its JSON text twice: by the library's
 * scanner (dv_bq_proto_row_json) and by the reference encoder over jansson
 * (bq_proto_json_ref.c, the encoder the scanner replaced); both must give
 * the record encoder's bytes, or the driver fails (exit 1, the row on
 * stderr).
 *
 *   bq_proto_rows --json FILE...
 * prints the descriptor and then, for every line of the NDJSON files (rows
 * the program wrote from captures), "row <hex of dv_bq_proto_row_json()>
 * <the line>", after checking that the reference gives the same bytes;
 * then "json <rows> rows, <bytes> protobuf bytes" on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bq_proto_json_ref.h"
#include "dv_bq_proto.h"
#include "dv_decap.h"
#include "dv_parse.h"
#include "dv_row.h"

static uint64_t next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void print_hex(const uint8_t *b, int n)
{
	for (int i = 0; i < n; i++)
		printf("%02x", b[i]);
}

/* The scanner's and the reference's bytes from the JSON text: the same
 * return and the same bytes, or 1 with the text on stderr. */
static int same_as_ref(const char *json, size_t len, uint8_t *pb, int *n)
{
	uint8_t ref[DV_BQ_PROTO_ROW_MAX];
	const char *col, *ref_col;
	int m = bq_proto_json_ref(json, len, ref, sizeof(ref), &ref_col, false);

	*n = dv_bq_proto_row_json(json, len, pb, DV_BQ_PROTO_ROW_MAX, &col);
	if (*n == m && (m < 0 || memcmp(pb, ref, (size_t)m) == 0))
		return 0;
	fprintf(stderr, "bq_proto_rows: scanner %d, reference %d bytes: %.*s\n", *n, m, (int)len,
		json);
	return 1;
}

static int emit(const struct dv_export_rec *r, const char *sensor)
{
	uint8_t pb[DV_BQ_PROTO_ROW_MAX], from_json[DV_BQ_PROTO_ROW_MAX];
	char json[DV_ROW_MAX];
	int n = dv_bq_proto_row(r, sensor, pb, sizeof(pb));
	int j = dv_row_format(r, sensor, json, sizeof(json));
	int m;

	if (n < 0 || j < 0) {
		fprintf(stderr, "bq_proto_rows: encode failed (%d, %d)\n", n, j);
		return 1;
	}
	if (same_as_ref(json, (size_t)j, from_json, &m))
		return 1;
	if (m != n || memcmp(pb, from_json, (size_t)n) != 0) {
		fprintf(stderr, "bq_proto_rows: the record gives %d bytes, its text %d: %s\n", n, m,
			json);
		return 1;
	}
	printf("row ");
	print_hex(pb, n);
	printf(" %s\n", json);
	return 0;
}

/* bench_bq's record (tests/bq/bench_bq.c make_rec, i = 7). */
static void typical(struct dv_export_rec *r)
{
	static const uint8_t id[16] = {0x3b, 0x9f, 0x0c, 0x51, 0x7e, 0x22, 0x41, 0x8d,
				       0x9a, 0x10, 0x6c, 0x33, 0xd2, 0x57, 0x0e, 0xa4};
	uint64_t now = 1767225600ULL * 1000000000ULL + 123456789; /* 2026-01-01 */

	memset(r, 0, sizeof(*r));
	memcpy(r->id, id, 16);
	r->family = 4;
	memcpy(r->src_addr, (uint8_t[]){10, 0, 0, 7}, 4);
	memcpy(r->dst_addr, (uint8_t[]){172, 16, 0, 9}, 4);
	r->proto = 6;
	r->flags = DV_EXPORT_F_TCP;
	r->src_tcp_flags = 0x1b;
	r->dst_tcp_flags = 0x12;
	r->src_port = 1031;
	r->dst_port = 443;
	r->first_ns = now - 120000000000ULL;
	r->last_ns = now - 2000000000ULL;
	r->src_bytes = 12345;
	r->dst_bytes = 987654;
	r->src_packets = 42;
	r->dst_packets = 700;
	r->status = DV_STATUS_ESTABLISHED;
	r->end_reason = DV_END_IDLE;
}

static void random_addr(uint64_t *s, uint8_t a[16], uint8_t family)
{
	uint64_t x = next(s), y = next(s);

	memset(a, 0, 16);
	if (family == 4) {
		memcpy(a, &x, 4);
		return;
	}
	memcpy(a, &x, 8);
	memcpy(a + 8, &y, 8);
	if (x % 4 == 0) /* runs of zero groups, and IPv4-mapped */
		memset(a + 2, 0, 8 + (unsigned)(y % 4));
	if (x % 7 == 0)
		memcpy(a, (uint8_t[]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 12);
}

static void random_tunnel(uint64_t *s, struct dv_export_rec *r)
{
	uint64_t x = next(s);

	r->n_kinds = (uint8_t)(x % 3 == 0 ? 0 : x % (DV_TUN_MAX_DEPTH + 1));
	for (int i = 0; i < DV_TUN_MAX_DEPTH; i++)
		r->kinds[i] = (uint8_t)(next(s) % (DV_TUN_KINDS + 2)); /* two beyond the names */
	r->outer_family = (uint8_t)((x >> 8) % 3 == 0 ? 0 : (x >> 8) % 2 ? 4 : 6);
	random_addr(s, r->outer_src, r->outer_family ? r->outer_family : 4);
	random_addr(s, r->outer_dst, r->outer_family ? r->outer_family : 4);
	r->vni = (uint32_t)(next(s) & 0xffffff);
}

/* Counters small, large and beyond INT64_MAX; times anywhere in uint64_t. */
static uint64_t random_count(uint64_t *s)
{
	uint64_t x = next(s);

	return x % 5 == 0 ? x : x % 5 == 1 ? x >> 40 : x % 1000;
}

static void random_rec(uint64_t *s, struct dv_export_rec *r)
{
	uint64_t x = next(s);

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 16; i += 8) {
		uint64_t v = next(s);

		memcpy(r->id + i, &v, 8);
	}
	r->family = x % 2 ? 4 : 6;
	random_addr(s, r->src_addr, r->family);
	random_addr(s, r->dst_addr, r->family);
	r->proto = (uint8_t)next(s);
	r->src_port = (uint16_t)next(s);
	r->dst_port = (uint16_t)next(s);
	r->first_ns = next(s);
	r->last_ns = next(s);
	r->src_bytes = random_count(s);
	r->dst_bytes = random_count(s);
	r->src_packets = random_count(s);
	r->dst_packets = random_count(s);
	r->segment = (uint32_t)next(s);
	r->flags = (uint8_t)(next(s) & 7);
	r->vlan_id = (uint16_t)(next(s) & 0xfff);
	r->src_tcp_flags = (uint8_t)next(s);
	r->dst_tcp_flags = (uint8_t)next(s);
	r->status = (uint8_t)(next(s) % 3);
	r->end_reason = (uint8_t)(next(s) % (DV_END_MAX + 1));
	random_tunnel(s, r);
}

static const char *const sensors[] = {
    "bench-sensor", "tap-01.fra", "quote\"back\\slash", "tab\tnewline\n", "Zürich-ö", "",
};

/* Rows from NDJSON files (bq_proto_rows --json FILE...). */
static int from_files(int nfiles, char **files)
{
	uint8_t pb[DV_BQ_PROTO_ROW_MAX];
	char *line = NULL;
	size_t cap = 0;
	long rows = 0, bytes = 0;
	int fail = 0, n;

	for (int f = 0; f < nfiles; f++) {
		FILE *in = fopen(files[f], "r");
		ssize_t len;

		if (in == NULL) {
			perror(files[f]);
			return 1;
		}
		while ((len = getline(&line, &cap, in)) > 0) {
			len -= line[len - 1] == '\n';
			fail |= same_as_ref(line, (size_t)len, pb, &n);
			if (n < 0) {
				fprintf(stderr, "bq_proto_rows: %s: not a row (%d)\n", files[f], n);
				fail = 1;
				continue;
			}
			printf("row ");
			print_hex(pb, n);
			printf(" %.*s\n", (int)len, line);
			rows++;
			bytes += n;
		}
		fclose(in);
	}
	free(line);
	fprintf(stderr, "json %ld rows, %ld protobuf bytes\n", rows, bytes);
	return fail || rows == 0;
}

int main(int argc, char **argv)
{
	uint8_t d[4096];
	int n = dv_bq_proto_descriptor(d, sizeof(d)), fail = 0;
	long rows = argc > 1 ? atol(argv[1]) : 2000;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	struct dv_export_rec r;
	char json[DV_ROW_MAX];
	uint8_t pb[DV_BQ_PROTO_ROW_MAX];

	if (n < 0)
		return 1;
	printf("descriptor ");
	print_hex(d, n);
	printf("\n");
	if (argc > 1 && strcmp(argv[1], "--json") == 0)
		return from_files(argc - 2, argv + 2);
	typical(&r);
	fail |= emit(&r, "bench-sensor");
	printf("typical %d %d\n", dv_bq_proto_row(&r, "bench-sensor", pb, sizeof(pb)),
	       dv_row_format(&r, "bench-sensor", json, sizeof(json)));
	for (long i = 0; i < rows; i++) {
		random_rec(&seed, &r);
		fail |= emit(&r, sensors[i % (long)(sizeof(sensors) / sizeof(sensors[0]))]);
	}
	return fail;
}
