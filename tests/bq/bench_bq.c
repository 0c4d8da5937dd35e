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
 * With --api storage the rows go by the Storage Write API to the endpoint
 * given (tests/bq/storage_double.py, which takes the REST double's tokens);
 * bytes per row are then the AppendRowsRequest messages as serialized (the
 * gRPC and HTTP/2 framing, about 14 bytes per request, and TLS not included).
 * The CPU time is the process's (gRPC's C core runs threads of its own) and,
 * beside it, the calling thread's alone (what the control lcore spends).
 *
 * Run through tests/bq/run-double.sh (scripts/bench-bq does):
 *   bench_bq [--rows N] [--batch N] [--inflight N] [--write-ahead 0|1]
 *            [--spool-dir DIR] [--commit-ms N] [--api insertall|storage]
 *            [--storage-endpoint HOST:PORT] [--rate ROWS_PER_S]
 *
 * Rows are formatted as the program formats them (dv_row_format_opts with a
 * Community ID configuration). Without --rate they are written as fast as
 * the sink takes them: a burst far faster than the doubles deliver, so most
 * rows go through the spool and back (replay) and the buffers are touched
 * for the first time; --rate paces the writes (sleeping, which costs no
 * CPU) so that the CPU per row is the steady state's.
 */
/* RUSAGE_THREAD: _GNU_SOURCE, which the build defines */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "dv_bq.h"
#include "dv_community_id.h"
#include "dv_row.h"
#include "dv_time.h"

/* CPU seconds of the process (RUSAGE_SELF) or of the calling thread
 * (RUSAGE_THREAD). */
static double cpu_seconds(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
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

struct bench_opts {
	uint64_t nrows;
	uint64_t rate; /* rows per second written, 0: as fast as possible */
	unsigned int batch, inflight, write_ahead, commit_ms;
	const char *spool, *api, *storage_endpoint;
};

static int parse_opts(int argc, char **argv, struct bench_opts *o)
{
	static const struct option opts[] = {
	    {"rows", 1, NULL, 'n'},	 {"batch", 1, NULL, 'b'},
	    {"inflight", 1, NULL, 'i'},	 {"write-ahead", 1, NULL, 'w'},
	    {"spool-dir", 1, NULL, 's'}, {"commit-ms", 1, NULL, 'c'},
	    {"api", 1, NULL, 'a'},	 {"storage-endpoint", 1, NULL, 'e'},
	    {"rate", 1, NULL, 'r'},	 {NULL, 0, NULL, 0}};
	int c;

	*o = (struct bench_opts){.nrows = 200000,
				 .batch = 500,
				 .inflight = 4,
				 .write_ahead = 1,
				 .commit_ms = 200,
				 .api = "insertall"};
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n')
			o->nrows = strtoull(optarg, NULL, 10);
		else if (c == 'b')
			o->batch = (unsigned int)strtoul(optarg, NULL, 10);
		else if (c == 'i')
			o->inflight = (unsigned int)strtoul(optarg, NULL, 10);
		else if (c == 'w')
			o->write_ahead = (unsigned int)strtoul(optarg, NULL, 10);
		else if (c == 's')
			o->spool = optarg;
		else if (c == 'c')
			o->commit_ms = (unsigned int)strtoul(optarg, NULL, 10);
		else if (c == 'a')
			o->api = optarg;
		else if (c == 'e')
			o->storage_endpoint = optarg;
		else if (c == 'r')
			o->rate = strtoull(optarg, NULL, 10);
		else
			return -1;
	}
	if (strcmp(o->api, "insertall") && strcmp(o->api, "storage")) {
		fprintf(stderr, "bench_bq: --api insertall or storage, not %s\n", o->api);
		return -1;
	}
	if (!strcmp(o->api, "storage") && !o->storage_endpoint) {
		fprintf(stderr, "bench_bq: --api storage needs --storage-endpoint HOST:PORT\n");
		return -1;
	}
	return 0;
}

/* Paths under the run-double.sh directory, kept for the sink's life. */
struct bench_paths {
	char url[128], key[512], ca[512], dl[512], sp[512];
};

static struct dv_sink *make_sink(const struct bench_opts *o, const char *dir, struct bench_paths *p)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	char err[512];

	snprintf(p->url, sizeof(p->url), "https://127.0.0.1:%s", getenv("DV_BQ_TEST_PORT"));
	snprintf(p->key, sizeof(p->key), "%s/sa.json", dir);
	snprintf(p->ca, sizeof(p->ca), "%s/ca-a.pem", dir);
	snprintf(p->dl, sizeof(p->dl), "%s/dead-letter.ndjson", dir);
	snprintf(p->sp, sizeof(p->sp), "%s/spool", dir);
	dv_bq_config_init_defaults(&c);
	c.project = "p";
	c.dataset = "d";
	c.table = "bench";
	c.auth = DV_BQ_AUTH_KEY;
	c.sa_key_file = p->key;
	c.endpoint = p->url;
	c.ca_file = p->ca;
	c.dead_letter = p->dl;
	c.spool_dir = o->spool ? o->spool : p->sp;
	c.write_ahead = (int)o->write_ahead;
	c.commit_interval_ns = (uint64_t)o->commit_ms * 1000000ULL;
	c.batch_rows = o->batch;
	c.max_inflight = o->inflight;
	c.mem_max_bytes = (size_t)2 << 30;
	c.log = quiet;
	if (!strcmp(o->api, "storage")) {
		c.api = DV_BQ_API_STORAGE;
		c.storage_endpoint = o->storage_endpoint;
	}
	s = dv_bq_sink_create(&c, err, sizeof(err));
	if (!s)
		fprintf(stderr, "bench_bq: %s\n", err);
	return s;
}

static void report(struct dv_sink *s, const struct bench_opts *o, double secs, double cpu,
		   double tcpu)
{
	struct dv_bq_spool_stats ss;

	printf("api             %s\n", o->api);
	printf("rows            %" PRIu64 "\n", o->nrows);
	printf("delivered       %" PRIu64 "\n", s->stats.rows_delivered);
	printf("batch_rows      %u\n", o->batch);
	printf("rate            %" PRIu64
	       " (rows written per second; 0: as fast as the sink takes them)\n",
	       o->rate);
	printf("max_inflight    %u\n", o->inflight);
	printf("requests        %" PRIu64 " (errors %" PRIu64 ")\n", s->stats.requests,
	       s->stats.request_errors);
	printf("seconds         %.3f\n", secs);
	printf("rows_per_s      %.0f\n", (double)s->stats.rows_delivered / secs);
	printf("bytes_out       %" PRIu64 "\n", s->stats.bytes_out);
	printf("bytes_per_row   %.1f\n", (double)s->stats.bytes_out / (double)o->nrows);
	printf("cpu_s           %.3f (sink process: format + queue + encode + TLS, all threads)\n",
	       cpu);
	printf("rows_per_cpu_s  %.0f\n", (double)o->nrows / cpu);
	printf("thread_cpu_s    %.3f (the calling thread: the control lcore's share)\n", tcpu);
	printf("rows_per_thread_cpu_s %.0f\n", (double)o->nrows / tcpu);
	printf("bq_appends      %" PRIu64 " (already exists %" PRIu64 ", streams %" PRIu64 ")\n",
	       s->stats.bq_appends, s->stats.bq_already_exists, s->stats.bq_new_streams);
	dv_bq_sink_spool_stats(s, &ss);
	printf("write_ahead     %d\n", ss.write_ahead);
	printf("spool_appended  %" PRIu64 "\n", ss.appended);
	printf("spool_commits   %" PRIu64 "\n", ss.commits);
	printf("commit_us_avg   %.0f\n", (double)ss.commit_ns_avg / 1e3);
	printf("commit_us_max   %.0f\n", (double)ss.commit_ns_max / 1e3);
}

/* With --rate, sleep until row i is due (t0: the first row's time). */
static void pace(const struct bench_opts *o, uint64_t i, uint64_t t0)
{
	uint64_t due, now;

	if (!o->rate)
		return;
	due = t0 + i * DV_NS_PER_SEC / o->rate;
	now = dv_monotonic_ns();
	if (due > now) {
		struct timespec ts = {.tv_sec = (time_t)((due - now) / DV_NS_PER_SEC),
				      .tv_nsec = (long)((due - now) % DV_NS_PER_SEC)};

		nanosleep(&ts, NULL);
	}
}

int main(int argc, char **argv)
{
	const char *dir = getenv("DV_BQ_TEST_DIR");
	char row[DV_ROW_MAX], err[256];
	struct dv_community_cfg community;
	const struct dv_row_opts ropts = {.sensor = "bench-sensor", .community = &community};
	struct bench_opts o;
	struct bench_paths paths;
	struct dv_sink *s;
	uint64_t t0, t1, now;
	double cpu0, cpu1, tcpu0, tcpu1;
	int len, rc;

	if (parse_opts(argc, argv, &o))
		return 2;
	if (!dir) {
		fprintf(stderr, "bench_bq: run me through tests/bq/run-double.sh\n");
		return 2;
	}
	s = make_sink(&o, dir, &paths);
	if (!s)
		return 1;
	if (dv_community_cfg_init(&community, 0, 1, err, sizeof(err))) {
		fprintf(stderr, "bench_bq: %s\n", err);
		return 1;
	}
	now = dv_realtime_ns();
	cpu0 = cpu_seconds(RUSAGE_SELF);
	tcpu0 = cpu_seconds(RUSAGE_THREAD);
	t0 = dv_monotonic_ns();
	for (uint64_t i = 0; i < o.nrows; i++) {
		struct dv_export_rec r;

		make_rec(&r, i, now);
		len = dv_row_format_opts(&r, &ropts, row, sizeof(row));
		if (len < 0 || dv_sink_write(s, &r, row, (size_t)len)) {
			fprintf(stderr, "bench_bq: write failed at row %" PRIu64 "\n", i);
			return 1;
		}
		if ((i & 63) == 0)
			s->ops->poll(s, dv_realtime_ns());
		if ((i & 1023) == 0) /* seldom: a sleep is a system call */
			pace(&o, i, t0);
	}
	rc = s->ops->drain(s, dv_realtime_ns() + 600 * DV_NS_PER_SEC);
	t1 = dv_monotonic_ns();
	cpu1 = cpu_seconds(RUSAGE_SELF);
	tcpu1 = cpu_seconds(RUSAGE_THREAD);
	report(s, &o, (double)(t1 - t0) / 1e9, cpu1 - cpu0, tcpu1 - tcpu0);
	rc = rc == 0 && s->stats.rows_delivered == o.nrows ? 0 : 1;
	s->ops->destroy(s);
	dv_community_cfg_free(&community);
	return rc;
}
