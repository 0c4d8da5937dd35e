/*
 * bench_bq: rows per second one BigQuery sink delivers to the test double
 * over TLS on loopback, driven the way the control lcore drives it (write()
 * for every row, poll() every few rows, drain() at the end), and bytes per
 * row on the wire (insertAll bodies plus request headers; TLS framing not
 * included). Also the process's CPU time per row, which bounds what the sink
 * itself could do when the double, not the sink, is the bottleneck.
 *
 * With --write-ahead 1 (the default, as in the program) every row is also
 * group-committed to the spool (write + fdatasync every commit interval);
 * with 0 the spool is only used for rows that fail. scripts/bench-bq wal
 * runs both and prints the ratio; the spool figures (commits, time per
 * commit) are printed too, since that time is spent on the control lcore.
 *
 * Run through tests/bq/run-double.sh (scripts/bench-bq does):
 *   bench_bq [--rows N] [--batch N] [--inflight N] [--write-ahead 0|1]
 *            [--spool-dir DIR] [--commit-ms N]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "dv_bq.h"
#include "dv_row.h"
#include "dv_time.h"

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static void quiet(void *arg, int level, const char *msg)
{
	(void)arg;
	if (level <= 5)
		fprintf(stderr, "bench_bq: %s\n", msg);
}

static void make_rec(struct dv_export_rec *r, uint64_t i, uint64_t now)
{
	uint64_t a = i * 0x9e3779b97f4a7c15ULL + 1, b = ~i * 0xc2b2ae3d27d4eb4fULL;

	memset(r, 0, sizeof(*r));
	memcpy(r->id, &a, 8);
	memcpy(r->id + 8, &b, 8);
	r->id[6] = (uint8_t)((r->id[6] & 0x0f) | 0x40);
	r->id[8] = (uint8_t)((r->id[8] & 0x3f) | 0x80);
	r->family = 4;
	r->src_addr[0] = 10, r->src_addr[2] = (uint8_t)(i >> 8), r->src_addr[3] = (uint8_t)i;
	r->dst_addr[0] = 172, r->dst_addr[1] = 16, r->dst_addr[3] = 9;
	r->proto = 6;
	r->flags = DV_EXPORT_F_TCP;
	r->src_tcp_flags = 0x1b;
	r->dst_tcp_flags = 0x12;
	r->src_port = (uint16_t)(1024 + (i % 60000));
	r->dst_port = 443;
	r->first_ns = now - 120 * DV_NS_PER_SEC;
	r->last_ns = now - 2 * DV_NS_PER_SEC;
	r->src_bytes = 12345;
	r->dst_bytes = 987654;
	r->src_packets = 42;
	r->dst_packets = 700;
	r->status = DV_STATUS_ESTABLISHED;
	r->end_reason = DV_END_IDLE;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"rows", 1, NULL, 'n'},	 {"batch", 1, NULL, 'b'},
	    {"inflight", 1, NULL, 'i'},	 {"write-ahead", 1, NULL, 'w'},
	    {"spool-dir", 1, NULL, 's'}, {"commit-ms", 1, NULL, 'c'},
	    {NULL, 0, NULL, 0}};
	const char *dir = getenv("DV_BQ_TEST_DIR");
	uint64_t nrows = 200000, t0, t1, now;
	unsigned int batch = 500, inflight = 4, write_ahead = 1, commit_ms = 200;
	const char *spool = NULL;
	char url[128], key[512], ca[512], dl[512], sp[512], err[512], row[DV_ROW_MAX];
	struct dv_bq_spool_stats ss;
	struct dv_bq_config c;
	struct dv_sink *s;
	double cpu0, cpu1, secs;
	int o, len, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'n')
			nrows = strtoull(optarg, NULL, 10);
		else if (o == 'b')
			batch = (unsigned int)strtoul(optarg, NULL, 10);
		else if (o == 'i')
			inflight = (unsigned int)strtoul(optarg, NULL, 10);
		else if (o == 'w')
			write_ahead = (unsigned int)strtoul(optarg, NULL, 10);
		else if (o == 's')
			spool = optarg;
		else if (o == 'c')
			commit_ms = (unsigned int)strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (!dir) {
		fprintf(stderr, "bench_bq: run me through tests/bq/run-double.sh\n");
		return 2;
	}
	snprintf(url, sizeof(url), "https://127.0.0.1:%s", getenv("DV_BQ_TEST_PORT"));
	snprintf(key, sizeof(key), "%s/sa.json", dir);
	snprintf(ca, sizeof(ca), "%s/ca-a.pem", dir);
	snprintf(dl, sizeof(dl), "%s/dead-letter.ndjson", dir);
	snprintf(sp, sizeof(sp), "%s/spool", dir);

	dv_bq_config_init_defaults(&c);
	c.project = "p";
	c.dataset = "d";
	c.table = "bench";
	c.auth = DV_BQ_AUTH_KEY;
	c.sa_key_file = key;
	c.endpoint = url;
	c.ca_file = ca;
	c.dead_letter = dl;
	c.spool_dir = spool ? spool : sp;
	c.write_ahead = (int)write_ahead;
	c.commit_interval_ns = (uint64_t)commit_ms * 1000000ULL;
	c.batch_rows = batch;
	c.max_inflight = inflight;
	c.mem_max_bytes = (size_t)2 << 30;
	c.log = quiet;
	s = dv_bq_sink_create(&c, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "bench_bq: %s\n", err);
		return 1;
	}

	now = dv_realtime_ns();
	cpu0 = cpu_seconds();
	t0 = dv_monotonic_ns();
	for (uint64_t i = 0; i < nrows; i++) {
		struct dv_export_rec r;

		make_rec(&r, i, now);
		len = dv_row_format(&r, "bench-sensor", row, sizeof(row));
		if (len < 0 || dv_sink_write(s, &r, row, (size_t)len)) {
			fprintf(stderr, "bench_bq: write failed at row %" PRIu64 "\n", i);
			return 1;
		}
		if ((i & 63) == 0)
			s->ops->poll(s, dv_realtime_ns());
	}
	rc = s->ops->drain(s, dv_realtime_ns() + 600 * DV_NS_PER_SEC);
	t1 = dv_monotonic_ns();
	cpu1 = cpu_seconds();
	secs = (double)(t1 - t0) / 1e9;

	printf("rows            %" PRIu64 "\n", nrows);
	printf("delivered       %" PRIu64 "\n", s->stats.rows_delivered);
	printf("batch_rows      %u\n", batch);
	printf("max_inflight    %u\n", inflight);
	printf("requests        %" PRIu64 " (errors %" PRIu64 ")\n", s->stats.requests,
	       s->stats.request_errors);
	printf("seconds         %.3f\n", secs);
	printf("rows_per_s      %.0f\n", (double)s->stats.rows_delivered / secs);
	printf("bytes_per_row   %.1f\n", (double)s->stats.bytes_out / (double)nrows);
	printf("cpu_s           %.3f (sink process: format + queue + JSON body + TLS)\n",
	       cpu1 - cpu0);
	printf("rows_per_cpu_s  %.0f\n", (double)nrows / (cpu1 - cpu0));
	dv_bq_sink_spool_stats(s, &ss);
	printf("write_ahead     %d\n", ss.write_ahead);
	printf("spool_appended  %" PRIu64 "\n", ss.appended);
	printf("spool_commits   %" PRIu64 "\n", ss.commits);
	printf("commit_us_avg   %.0f\n", (double)ss.commit_ns_avg / 1e3);
	printf("commit_us_max   %.0f\n", (double)ss.commit_ns_max / 1e3);
	rc = rc == 0 && s->stats.rows_delivered == nrows ? 0 : 1;
	s->ops->destroy(s);
	return rc;
}
