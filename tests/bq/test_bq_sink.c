/*
 * test_bq_sink: the BigQuery sink against the strict test double
 * (bqdouble.py), started by run-double.sh, which describes it in DV_BQ_TEST_*
 * variables. Each test resets the double, builds export records by hand,
 * formats them with dv_row_format, and checks what the double stored: every
 * insertId (computed here with libuuid, not by the sink) exactly once, every
 * row equal to the one written, the accounting identity, and for each fault
 * kind that the fault really happened (the double's counters) and was
 * survived. Error cases check the one-line message and that no secret (key
 * material, access tokens) appears in it or in any log line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <uuid/uuid.h>

#include "dv_bq.h"
#include "dv_decap.h"
#include "dv_row.h"
#include "dv_time.h"

/* ---- environment from run-double.sh --------------------------------------- */

static const char *tdir;
static char base_url[128];
static char md_host[64];
static char path_buf[8][512];

static const char *tpath(int slot, const char *name)
{
	snprintf(path_buf[slot], sizeof(path_buf[slot]), "%s/%s", tdir, name);
	return path_buf[slot];
}

/* ---- captured log lines ----------------------------------------------------- */

struct logcap {
	char lines[512][512];
	int n;
};

static struct logcap logs;

/* The sink's destination check logs from its own thread. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void capture_log(void *arg, int level, const char *msg)
{
	struct logcap *l = arg;

	(void)level;
	if (getenv("DV_BQ_TEST_VERBOSE"))
		fprintf(stderr, "  log[%d]: %s\n", level, msg);
	pthread_mutex_lock(&log_lock);
	if (l->n < 512)
		snprintf(l->lines[l->n], sizeof(l->lines[0]), "%s", msg);
	if (l->n < 512)
		__atomic_store_n(&l->n, l->n + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&log_lock);
}

static int log_has(const char *needle)
{
	for (int i = 0; i < logs.n; i++)
		if (strstr(logs.lines[i], needle))
			return 1;
	return 0;
}

/* ---- control of the double -------------------------------------------------------- */

struct body {
	char *p;
	size_t len;
};

static size_t body_cb(char *p, size_t sz, size_t n, void *arg)
{
	struct body *b = arg;

	b->p = realloc(b->p, b->len + sz * n + 1);
	memcpy(b->p + b->len, p, sz * n);
	b->len += sz * n;
	b->p[b->len] = '\0';
	return sz * n;
}

/* GET (post == NULL) or POST a control request; returns the body (free it). */
static char *ctl(const char *path, const char *post)
{
	char url[512];
	struct body b = {calloc(1, 1), 0};
	CURL *e = curl_easy_init();
	long status = 0;

	snprintf(url, sizeof(url), "%s%s", base_url, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CAINFO, tpath(7, "ca-a.pem"));
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
	if (post)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
	assert_int_equal(curl_easy_perform(e), CURLE_OK);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	assert_int_equal(status, 200);
	return b.p;
}

static void ctl_do(const char *path, const char *post)
{
	free(ctl(path, post));
}

static json_int_t double_stat(const char *key)
{
	char *s = ctl("/_double/stats", NULL);
	json_t *j = json_loads(s, 0, NULL);
	json_t *v = json_object_get(j, key);
	json_int_t n;

	if (!v)
		v = json_object_get(json_object_get(j, "requests"), key);
	n = json_integer_value(v);
	json_decref(j);
	free(s);
	return n;
}

/* ---- rows --------------------------------------------------------------------------- */

#define MAXROWS 4000

struct rowset {
	struct dv_export_rec rec[MAXROWS];
	char row[MAXROWS][DV_ROW_MAX];
	char iid[MAXROWS][64]; /* expected insertId, from libuuid */
	int len[MAXROWS];
	int n;
};

static struct rowset rs;
static uint64_t rng = 88172645463325252ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* n synthetic flow segments, first seen a minute ago. */
static void make_rows(int n)
{
	uint64_t now = dv_realtime_ns();

	assert_true(n <= MAXROWS);
	rs.n = n;
	for (int i = 0; i < n; i++) {
		struct dv_export_rec *r = &rs.rec[i];
		char u[40];

		memset(r, 0, sizeof(*r));
		for (int k = 0; k < 16; k += 8) {
			uint64_t x = next_rand();

			memcpy(r->id + k, &x, 8);
		}
		r->id[6] = (uint8_t)((r->id[6] & 0x0f) | 0x40);
		r->id[8] = (uint8_t)((r->id[8] & 0x3f) | 0x80);
		r->family = 4;
		r->src_addr[0] = 10, r->src_addr[3] = (uint8_t)(i & 0xff);
		r->dst_addr[0] = 192, r->dst_addr[1] = 168, r->dst_addr[3] = 1;
		r->proto = (i % 3) ? 6 : 17;
		r->src_port = (uint16_t)(1024 + i);
		r->dst_port = 443;
		r->first_ns = now - 60 * DV_NS_PER_SEC + (uint64_t)i * 1000;
		r->last_ns = r->first_ns + 5 * DV_NS_PER_SEC;
		r->src_bytes = 100u + (uint64_t)i;
		r->dst_bytes = 2000;
		r->src_packets = 2;
		r->dst_packets = 3;
		r->segment = (uint32_t)(i % 4);
		r->status = DV_STATUS_ESTABLISHED;
		r->end_reason = DV_END_IDLE;
		if (r->proto == 6) {
			r->flags |= DV_EXPORT_F_TCP;
			r->src_tcp_flags = 0x1b;
			r->dst_tcp_flags = 0x12;
		}
		if (i % 5 == 0) {
			r->flags |= DV_EXPORT_F_VLAN;
			r->vlan_id = 100;
		}
		if (i % 7 == 0) { /* a flow inside a VXLAN tunnel: the tunnel columns set */
			r->n_kinds = 1;
			r->kinds[0] = DV_TUN_VXLAN;
			r->flags |= DV_EXPORT_F_VNI;
			r->vni = 5000u + (uint32_t)i;
			r->outer_family = 4;
			r->outer_src[0] = 172, r->outer_src[3] = 1;
			r->outer_dst[0] = 172, r->outer_dst[3] = 2;
		}
		rs.len[i] = dv_row_format(r, "test-sensor", rs.row[i], DV_ROW_MAX);
		assert_true(rs.len[i] > 0);
		uuid_unparse_lower(r->id, u);
		snprintf(rs.iid[i], sizeof(rs.iid[i]), "%s:%u", u, r->segment);
	}
}

/* ---- sink setup -------------------------------------------------------------------- */

static char table_name[64];
static char err[512];
static char spool_path[512];

static void base_config(struct dv_bq_config *c, const char *table)
{
	dv_bq_config_init_defaults(c);
	snprintf(table_name, sizeof(table_name), "%s", table);
	c->project = "p";
	c->dataset = "d";
	c->table = table_name;
	c->auth = DV_BQ_AUTH_KEY;
	c->sa_key_file = tpath(0, "sa.json");
	c->endpoint = base_url;
	c->ca_file = tpath(1, "ca-a.pem");
	c->dead_letter = tpath(2, "dead-letter.ndjson");
	snprintf(spool_path, sizeof(spool_path), "%s/spool", tdir);
	c->spool_dir = spool_path;
	c->batch_rows = 100;
	c->flush_interval_ns = 50 * 1000000ULL;
	c->backoff_min_ns = 50 * 1000000ULL;
	c->backoff_max_ns = 400 * 1000000ULL;
	c->request_timeout_ns = 5 * DV_NS_PER_SEC;
	c->startup_timeout_ns = 10 * DV_NS_PER_SEC;
	c->log = capture_log;
	c->log_arg = &logs;
}

static void fresh(void)
{
	ctl_do("/_double/reset", "{}");
	ctl_do("/_double/config", "{\"token_ttl\":3600}");
	unlink(tpath(2, "dead-letter.ndjson"));
	{ /* each test starts with an empty spool */
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", spool_path);
		assert_int_equal(system(cmd), 0);
	}
	logs.n = 0;
	err[0] = '\0';
}

static void assert_identity(const struct dv_sink *s)
{
	const struct dv_sink_stats *st = &s->stats;

	assert_int_equal(st->rows_in + st->rows_recovered,
			 st->rows_delivered + st->rows_pending + st->rows_dead + st->rows_dropped);
}

static void write_all(struct dv_sink *s, int from, int to)
{
	for (int i = from; i < to; i++) {
		assert_int_equal(dv_sink_write(s, &rs.rec[i], rs.row[i], (size_t)rs.len[i]), 0);
		assert_identity(s);
	}
}

/* Poll (the control lcore's way) until nothing is pending or timeout_s. */
static void poll_until_done(struct dv_sink *s, int timeout_s)
{
	uint64_t end = dv_monotonic_ns() + (uint64_t)timeout_s * DV_NS_PER_SEC;
	struct timespec ms = {0, 1000000};

	while (s->stats.rows_pending && dv_monotonic_ns() < end) {
		assert_int_equal(s->ops->poll(s, dv_realtime_ns()), 0);
		assert_identity(s);
		nanosleep(&ms, NULL);
	}
}

/*
 * Every row of rs except those flagged in skip arrived exactly once, equal
 * (as JSON) to what was written.
 */
static void assert_stored(const unsigned char *skip)
{
	char path[128];
	char *dump;
	int *seen = calloc((size_t)rs.n, sizeof(int));
	int expect = 0, got = 0;
	char *line, *save = NULL;

	snprintf(path, sizeof(path), "/_double/rows?table=p:d.%s", table_name);
	dump = ctl(path, NULL);
	for (line = strtok_r(dump, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *iid = json_string_value(json_object_get(j, "insertId"));
		int k;

		assert_non_null(iid);
		for (k = 0; k < rs.n; k++)
			if (!strcmp(rs.iid[k], iid))
				break;
		assert_true(k < rs.n);	      /* a row we wrote */
		assert_int_equal(seen[k], 0); /* once */
		seen[k] = 1;
		{
			json_t *want = json_loads(rs.row[k], 0, NULL);

			assert_true(json_equal(want, json_object_get(j, "json")));
			json_decref(want);
		}
		json_decref(j);
		got++;
	}
	for (int k = 0; k < rs.n; k++) {
		if (skip && skip[k])
			continue;
		expect++;
		if (!seen[k])
			fprintf(stderr, "row %d (%s) missing\n", k, rs.iid[k]);
		assert_int_equal(seen[k], 1);
	}
	assert_int_equal(got, expect);
	free(seen);
	free(dump);
	/* The double hides a repeated insertId as BigQuery does, but keeps a
	 * record: a repeat is allowed only where the first answer may have
	 * been lost (a cut connection, an answer after our timeout). */
	snprintf(path, sizeof(path), "/_double/repeats?table=p:d.%s", table_name);
	dump = ctl(path, NULL);
	{
		json_t *j = json_loads(dump, 0, NULL);
		size_t unexplained = json_array_size(json_object_get(j, "unexplained"));

		if (unexplained)
			fprintf(stderr, "rows sent again after BigQuery took them: %s\n", dump);
		assert_int_equal(unexplained, 0);
		json_decref(j);
	}
	free(dump);
}

/* No log line and no error message holds key material or an access token. */
static void assert_no_secrets(const char *extra)
{
	char *toks = ctl("/_double/tokens", NULL);
	json_t *j = json_loads(toks, 0, NULL);
	json_t *t;
	size_t i;
	const char *pems[] = {"sa.pem", "sa-wrong.pem"};

	json_array_foreach (json_object_get(j, "tokens"), i, t) {
		const char *tok = json_string_value(t);

		for (int k = 0; k < logs.n; k++)
			assert_null(strstr(logs.lines[k], tok));
		if (extra)
			assert_null(strstr(extra, tok));
	}
	json_decref(j);
	free(toks);
	/* Any 16-character window of the base64 key body must not appear. */
	for (int p = 0; p < 2; p++) {
		char pem[4096];
		FILE *f = fopen(tpath(3, pems[p]), "r");
		size_t n = fread(pem, 1, sizeof(pem) - 1, f);
		char *body;

		fclose(f);
		pem[n] = '\0';
		body = strchr(pem, '\n') + 1;
		for (char *w = body; strlen(w) > 16; w += 16) {
			char win[17];

			memcpy(win, w, 16);
			win[16] = '\0';
			if (strchr(win, '\n'))
				continue;
			for (int k = 0; k < logs.n; k++)
				assert_null(strstr(logs.lines[k], win));
			if (extra)
				assert_null(strstr(extra, win));
		}
	}
	for (int k = 0; k < logs.n; k++) {
		assert_null(strstr(logs.lines[k], "PRIVATE KEY"));
		assert_null(strstr(logs.lines[k], "Bearer"));
	}
	if (extra) {
		assert_null(strstr(extra, "PRIVATE KEY"));
		assert_null(strstr(extra, "Bearer"));
		assert_null(strchr(extra, '\n'));
	}
}

static struct dv_sink *create_ok(struct dv_bq_config *c)
{
	struct dv_sink *s = dv_bq_sink_create(c, err, sizeof(err));

	if (!s)
		fprintf(stderr, "create failed: %s\n", err);
	assert_non_null(s);
	return s;
}

/* Drain, check, destroy; returns the final counters. */
static struct dv_sink_stats finish(struct dv_sink *s)
{
	struct dv_sink_stats st;

	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + 30 * DV_NS_PER_SEC), 0);
	assert_identity(s);
	assert_int_equal(s->stats.rows_pending, 0);
	st = s->stats;
	s->ops->destroy(s);
	assert_no_secrets(NULL);
	return st;
}

/* ---- tests: pure functions ------------------------------------------------------------ */

static void test_partition_ok(void **state)
{
	const uint64_t day = 86400 * DV_NS_PER_SEC;
	const uint64_t now = 20000 * day + 12 * 3600 * DV_NS_PER_SEC; /* 2024-10-04 noon */

	(void)state;
	assert_true(dv_bq_partition_ok(now, now));
	assert_true(dv_bq_partition_ok((20000 - 1825) * day, now));
	assert_false(dv_bq_partition_ok((20000 - 1826) * day + day - 1, now));
	assert_true(dv_bq_partition_ok((20000 + 366) * day + day - 1, now));
	assert_false(dv_bq_partition_ok((20000 + 367) * day, now));
	assert_false(dv_bq_partition_ok(0, now));
}

/* The schema the sink creates tables with and the rows the writer makes
 * come from one list (lib/dv_columns.def): every row has exactly the schema's
 * columns, in its order, each value of its type (null only where NULLABLE);
 * and the installed flow_logs.schema.json the build makes is that schema. */
static void test_schema_matches_rows(void **state)
{
	const char *file_path = getenv("DV_SCHEMA_FILE");
	json_t *schema = dv_bq_schema_json(), *fields = json_object_get(schema, "fields");
	json_t *file, *f;
	size_t i;

	(void)state;
	/* SPEC 3, docs/tunnels.md, docs/flow-context.md */
	assert_int_equal(json_array_size(fields), 28);
	make_rows(50);
	for (int k = 0; k < rs.n; k++) {
		json_t *row = json_loads(rs.row[k], JSON_DECODE_ANY, NULL);
		const char *key;
		json_t *v;
		size_t at = 0;

		assert_true(json_is_object(row));
		assert_int_equal(json_object_size(row), json_array_size(fields));
		json_object_foreach (row, key, v) {
			json_t *fd = json_array_get(fields, at++);
			const char *type = json_string_value(json_object_get(fd, "type"));
			int nullable =
			    !strcmp(json_string_value(json_object_get(fd, "mode")), "NULLABLE");

			assert_string_equal(key, json_string_value(json_object_get(fd, "name")));
			if (json_is_null(v)) {
				assert_true(nullable);
				continue;
			}
			if (!strcmp(type, "INTEGER"))
				assert_true(json_is_integer(v));
			else
				assert_true(json_is_string(v)); /* STRING, TIMESTAMP */
		}
		json_decref(row);
	}
	assert_non_null(file_path);
	file = json_load_file(file_path, 0, NULL);
	assert_true(json_is_array(file));
	assert_int_equal(json_array_size(file), json_array_size(fields));
	json_array_foreach (file, i, f)
		assert_true(json_equal(f, json_array_get(fields, i)));
	json_decref(file);
	json_decref(schema);
}

/* ---- tests: startup ---------------------------------------------------------------------- */

static void test_creates_table(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	char *t;
	json_t *j, *f;
	size_t i;
	int nullable = 0;

	(void)state;
	fresh();
	base_config(&c, "created");
	s = create_ok(&c);
	t = ctl("/_double/table?table=p:d.created", NULL);
	j = json_loads(t, 0, NULL);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "timePartitioning"), "type")),
	    "DAY");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "timePartitioning"), "field")),
	    "first_seen_at");
	f = json_object_get(json_object_get(j, "clustering"), "fields");
	assert_int_equal(json_array_size(f), 4);
	assert_string_equal(json_string_value(json_array_get(f, 0)), "sensor");
	assert_string_equal(json_string_value(json_array_get(f, 1)), "protocol");
	assert_string_equal(json_string_value(json_array_get(f, 2)), "src_addr");
	assert_string_equal(json_string_value(json_array_get(f, 3)), "dst_addr");
	json_array_foreach (json_object_get(json_object_get(j, "schema"), "fields"), i, f) {
		const char *mode = json_string_value(json_object_get(f, "mode"));

		if (!strcmp(mode, "NULLABLE"))
			nullable++;
	}
	assert_int_equal(nullable, 11); /* vlan_id, the two tcp flag, the four tunnel columns and
					 * the four flow-context columns */
	assert_int_equal(double_stat("tables.insert 200"), 1);
	json_decref(j);
	free(t);
	finish(s);

	/* A second start finds the table: no insert, no patch. */
	s = create_ok(&c);
	assert_int_equal(double_stat("tables.insert 200"), 1);
	assert_int_equal(double_stat("tables.patch 200"), 0);
	finish(s);
}

/* Install a table in the double as it is, bypassing tables.insert. */
static void install_table(const char *table, json_t *fields)
{
	char path[128];
	json_t *t = json_pack("{s:{s:s,s:s,s:s},s:{s:O}}", "tableReference", "projectId", "p",
			      "datasetId", "d", "tableId", table, "schema", "fields", fields);
	char *body = json_dumps(t, 0);

	snprintf(path, sizeof(path), "/_double/table?table=p:d.%s", table);
	ctl_do(path, body);
	free(body);
	json_decref(t);
}

/* A table of the original tool (its 13 columns) gets the 11 others added as
 * NULLABLE, and one of the release before tunnels (20 columns, ending in
 * sensor) the 4 tunnel columns; rows then go in. */
static void test_patches_missing_columns(void **state)
{
	static const size_t keep[] = {13, 20};
	static const char *const last[] = {"status", "sensor"};

	(void)state;
	for (size_t k = 0; k < 2; k++) {
		struct dv_bq_config c;
		struct dv_sink *s;
		json_t *schema = dv_bq_schema_json(), *fields = json_object_get(schema, "fields");
		json_t *t, *f;
		char *res;
		size_t i;

		fresh();
		while (json_array_size(fields) > keep[k])
			json_array_remove(fields, keep[k]);
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(fields, keep[k] - 1), "name")),
		    last[k]);
		install_table("old", fields);
		json_decref(schema);
		base_config(&c, "old");
		s = create_ok(&c);
		assert_int_equal(double_stat("tables.patch 200"), 1);
		assert_int_equal(double_stat("tables.insert 200"), 0);
		res = ctl("/_double/table?table=p:d.old", NULL);
		t = json_loads(res, 0, NULL);
		fields = json_object_get(json_object_get(t, "schema"), "fields");
		assert_int_equal(json_array_size(fields), 28);
		assert_string_equal(
		    json_string_value(json_object_get(json_array_get(fields, 20), "name")),
		    "tunnel");
		json_array_foreach (fields, i, f)
			if (i >= keep[k])
				assert_string_equal(json_string_value(json_object_get(f, "mode")),
						    "NULLABLE");
		json_decref(t);
		free(res);
		make_rows(50);
		write_all(s, 0, rs.n);
		finish(s);
		assert_stored(NULL);
	}
}

static void test_conflicting_column(void **state)
{
	struct dv_bq_config c;
	json_t *schema = dv_bq_schema_json(), *fields = json_object_get(schema, "fields");

	(void)state;
	fresh();
	json_object_set_new(json_array_get(fields, 4), "type", json_string("STRING"));
	install_table("conflict", fields);
	base_config(&c, "conflict");
	assert_null(dv_bq_sink_create(&c, err, sizeof(err)));
	assert_string_equal(err, "table p:d.conflict: column src_port is STRING, devourer writes "
				 "INTEGER");
	/* vlan_id REQUIRED would reject every untagged flow. */
	json_object_set_new(json_array_get(fields, 4), "type", json_string("INTEGER"));
	json_object_set_new(json_array_get(fields, 16), "mode", json_string("REQUIRED"));
	install_table("conflict", fields);
	assert_null(dv_bq_sink_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "column vlan_id is REQUIRED"));
	json_decref(schema);
	assert_int_equal(double_stat("tables.patch 200"), 0);
}

static void test_missing_dataset(void **state)
{
	struct dv_bq_config c;

	(void)state;
	fresh();
	base_config(&c, "t");
	c.dataset = "nope";
	assert_null(dv_bq_sink_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "dataset p:nope not found"));
	assert_no_secrets(err);
}

static void test_wrong_key(void **state)
{
	struct dv_bq_config c;

	(void)state;
	fresh();
	base_config(&c, "t");
	c.sa_key_file = tpath(0, "sa-wrong.json");
	assert_null(dv_bq_sink_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "token endpoint"));
	assert_non_null(strstr(err, "invalid_grant"));
	assert_non_null(strstr(err, "Invalid JWT Signature"));
	assert_no_secrets(err);
}

static void test_key_not_json(void **state)
{
	struct dv_bq_config c;
	char data[600];
	FILE *f = fopen(tpath(3, "sa.pem"), "r");
	size_t n = fread(data, 1, sizeof(data) - 1, f);

	(void)state;
	fclose(f);
	data[n] = '\0';
	fresh();
	base_config(&c, "t");
	c.sa_key_data = data; /* a PEM where JSON belongs: the parser must not quote it */
	assert_null(dv_bq_sink_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "not valid JSON"));
	assert_no_secrets(err);
}

static void test_untrusted_cert(void **state)
{
	struct dv_bq_config c;

	(void)state;
	fresh();
	base_config(&c, "t");
	c.ca_file = NULL;		  /* system CAs only: the test CA is not among them */
	c.names.ca_file = "--bq-ca-file"; /* what the program calls it: the hint names it */
	assert_null(dv_bq_sink_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "not trusted"));
	assert_non_null(strstr(err, "--bq-ca-file"));
	assert_no_secrets(err);
}

static void test_bad_endpoint(void **state)
{
	struct dv_bq_config c;

	(void)state;
	fresh();
	base_config(&c, "t");
	c.endpoint = "htps://127.0.0.1:1";
	assert_null(dv_bq_sink_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "BigQuery endpoint 'htps://127.0.0.1:1'"));
	c.endpoint = "https://[::1";
	assert_null(dv_bq_sink_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "not a valid URL"));
	assert_no_secrets(err);
}

/* Nothing listening: retried until the startup timeout, then one line. */
static void test_unreachable_endpoint(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	uint64_t t0 = dv_monotonic_ns(), took;

	(void)state;
	fresh();
	make_rows(50);
	base_config(&c, "t");
	c.auth = DV_BQ_AUTH_NONE;
	c.endpoint = "https://127.0.0.1:1";
	c.startup_timeout_ns = 2 * DV_NS_PER_SEC;
	/* Not reachable is an outage, not a misconfiguration: the sink starts
	 * after the startup wait and keeps every row in the spool. */
	s = create_ok(&c);
	took = dv_monotonic_ns() - t0;
	assert_true(took < 4 * DV_NS_PER_SEC);
	assert_int_equal(s->stats.unverified, 1);
	assert_true(log_has("https://127.0.0.1:1/bigquery/v2/projects/p/datasets/d"));
	assert_true(log_has("onnect"));
	assert_true(log_has("starting anyway"));
	assert_true(log_has("retrying"));
	write_all(s, 0, rs.n);
	poll_until_done(s, 1);
	assert_int_equal(s->stats.rows_delivered, 0);
	assert_int_equal(s->stats.rows_spooled, (uint64_t)rs.n);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), -ETIMEDOUT);
	assert_identity(s);
	/* The helper that keeps trying is stopped at once, mid-backoff or
	 * mid-request. */
	t0 = dv_monotonic_ns();
	s->ops->destroy(s);
	assert_true(dv_monotonic_ns() - t0 < DV_NS_PER_SEC);
	assert_no_secrets(NULL);
}

/* BigQuery unreachable at start, then it answers with a definite "no"
 * (here: the dataset does not exist). The rows stay in the spool, drain()
 * and --drain-spool's call say why at once instead of waiting. */
static void test_refused_after_outage(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	uint64_t t0;

	(void)state;
	fresh();
	make_rows(20);
	base_config(&c, "t");
	c.dataset = "nope";
	ctl_do("/_double/fault", "{\"kind\":\"outage\",\"code\":503,\"seconds\":2}");
	c.startup_timeout_ns = DV_NS_PER_SEC;
	s = create_ok(&c);
	assert_int_equal(s->stats.unverified, 1);
	write_all(s, 0, rs.n);
	t0 = dv_monotonic_ns();
	while (!log_has("BigQuery answered, but") && dv_monotonic_ns() - t0 < 20 * DV_NS_PER_SEC) {
		s->ops->poll(s, dv_realtime_ns());
		usleep(20000);
	}
	assert_true(log_has("BigQuery answered, but dataset p:nope not found"));
	assert_int_equal(s->stats.unverified, 1);
	assert_int_equal(s->stats.rows_spooled, (uint64_t)rs.n);
	t0 = dv_monotonic_ns();
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + 30 * DV_NS_PER_SEC), -EIO);
	assert_int_equal(dv_bq_sink_drain_spool(s, dv_realtime_ns() + 30 * DV_NS_PER_SEC,
						10 * DV_NS_PER_SEC, err, sizeof(err)),
			 -EIO);
	assert_true(dv_monotonic_ns() - t0 < 2 * DV_NS_PER_SEC);
	assert_non_null(strstr(err, "dataset p:nope not found"));
	assert_int_equal(s->stats.rows_pending, (uint64_t)rs.n);
	assert_int_equal(s->stats.rows_delivered, 0);
	assert_identity(s);
	s->ops->destroy(s);
	assert_true(double_stat("outage 503") > 0); /* the outage did fire */
}

/* --bq-ca-file must add a trust anchor, not replace the system's: CA B as the
 * "extra" file and a directory holding CA A as the "system" one. */
static void test_ca_file_and_ca_path_both_trusted(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;

	(void)state;
	fresh();
	base_config(&c, "t");
	c.ca_file = tpath(1, "ca-b.pem");
	c.ca_path = tpath(4, "capath-a");
	s = create_ok(&c);
	finish(s);
	/* Control: without CA A in the directory the server is not trusted. */
	c.ca_path = tpath(4, "capath-empty");
	assert_null(dv_bq_sink_create(&c, err, sizeof(err)));
	assert_non_null(strstr(err, "not trusted"));
}

static void test_key_mode_warning(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;

	(void)state;
	fresh();
	base_config(&c, "t");
	assert_int_equal(chmod(c.sa_key_file, 0644), 0);
	s = create_ok(&c);
	assert_int_equal(chmod(c.sa_key_file, 0600), 0);
	assert_true(log_has("accessible by group or others (mode 0644)"));
	finish(s);
	logs.n = 0;
	s = create_ok(&c);
	assert_false(log_has("accessible by group or others"));
	finish(s);
}

static void test_auth_mode_parse(void **state)
{
	enum dv_bq_auth_mode m = DV_BQ_AUTH_NONE;

	(void)state;
	assert_int_equal(dv_bq_auth_mode_parse("auto", &m), 0);
	assert_int_equal(m, DV_BQ_AUTH_AUTO);
	assert_int_equal(dv_bq_auth_mode_parse("key", &m), 0);
	assert_int_equal(m, DV_BQ_AUTH_KEY);
	assert_int_equal(dv_bq_auth_mode_parse("metadata", &m), 0);
	assert_int_equal(m, DV_BQ_AUTH_METADATA);
	assert_int_equal(dv_bq_auth_mode_parse("none", &m), 0);
	assert_int_equal(m, DV_BQ_AUTH_NONE);
	assert_int_equal(dv_bq_auth_mode_parse("Key", &m), -EINVAL);
	assert_int_equal(dv_bq_auth_mode_parse(NULL, &m), -EINVAL);
}

/* auth auto without a key takes GOOGLE_APPLICATION_CREDENTIALS. */
static void test_google_application_credentials(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;

	(void)state;
	fresh();
	base_config(&c, "gac");
	c.auth = DV_BQ_AUTH_AUTO;
	c.sa_key_file = NULL;
	setenv("GOOGLE_APPLICATION_CREDENTIALS", tpath(0, "sa.json"), 1);
	s = dv_bq_sink_create(&c, err, sizeof(err));
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	assert_non_null(s);
	assert_int_equal(double_stat("token 200"), 1);
	finish(s);
}

/* BIGQUERY_EMULATOR_HOST sets the endpoint and, without a key, auth none:
 * this double wants a token, so the dataset check is refused with 401. */
static void test_emulator_host(void **state)
{
	struct dv_bq_config c;

	(void)state;
	fresh();
	base_config(&c, "emu");
	c.auth = DV_BQ_AUTH_AUTO;
	c.sa_key_file = NULL;
	c.endpoint = NULL;
	setenv("BIGQUERY_EMULATOR_HOST", base_url, 1);
	assert_null(dv_bq_sink_create(&c, err, sizeof(err)));
	unsetenv("BIGQUERY_EMULATOR_HOST");
	assert_non_null(strstr(err, "access to dataset p:d denied (HTTP 401"));
	assert_int_equal(double_stat("token 200"), 0);
	assert_int_equal(double_stat("auth 401"), 1);
}

/* ---- tests: delivery ------------------------------------------------------------------- */

static void test_delivers_every_row(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	json_int_t conns;

	(void)state;
	fresh();
	make_rows(1000);
	base_config(&c, "plain");
	s = create_ok(&c);
	conns = double_stat("connections");
	write_all(s, 0, rs.n);
	poll_until_done(s, 30);
	/* keep-alive: 10 requests over at most max_inflight (4) connections,
	 * plus the one of this stats request */
	assert_true(double_stat("connections") - conns <= 4 + 1);
	assert_int_equal(s->stats.rows_delivered, 1000);
	assert_int_equal(s->stats.rows_dead, 0);
	assert_int_equal(s->stats.retries, 0);
	/* 100-row batches: 10 requests. */
	assert_int_equal(s->stats.requests, 10);
	assert_int_equal(double_stat("insertAll 200"), 10);
	assert_true(s->stats.bytes_out > 1000 * 300);
	finish(s);
	assert_stored(NULL);
}

/* Fewer rows than a batch leave after the flush interval, not at drain. */
static void test_flush_interval(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;

	(void)state;
	fresh();
	make_rows(7);
	base_config(&c, "flush");
	c.flush_interval_ns = 200 * 1000000ULL;
	s = create_ok(&c);
	write_all(s, 0, rs.n);
	s->ops->poll(s, dv_realtime_ns());
	assert_int_equal(s->stats.requests, 0);
	poll_until_done(s, 10);
	assert_int_equal(s->stats.rows_delivered, 7);
	assert_int_equal(s->stats.requests, 1);
	finish(s);
	assert_stored(NULL);
}

/* Batches never exceed batch_max_bytes (9 MB by default, under the 10 MB
 * request limit), whatever batch_rows says. */
static void test_batch_byte_cap(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	json_int_t max_body;

	(void)state;
	fresh();
	make_rows(4000);
	base_config(&c, "bytecap");
	c.batch_rows = 50000;
	c.batch_max_bytes = 100 * 1000;
	s = create_ok(&c);
	write_all(s, 0, rs.n);
	finish(s);
	max_body = double_stat("max_body");
	assert_true(max_body <= 100 * 1000);
	assert_true(max_body > 90 * 1000); /* batches are filled up to the cap */
	/* about 2 MB of rows in 100 kB requests */
	assert_true(double_stat("insertAll 200") >= 20);
	assert_stored(NULL);
}

/* Run rs through a sink while fault is active; everything must arrive. */
static struct dv_sink *run_fault(const char *fault, struct dv_bq_config *c)
{
	struct dv_sink *s;

	s = create_ok(c);
	if (fault)
		ctl_do("/_double/fault", fault);
	write_all(s, 0, rs.n / 2);
	poll_until_done(s, 60);
	write_all(s, rs.n / 2, rs.n);
	return s;
}

static void fault_case(const char *table, const char *fault, const char *counter, int min_count)
{
	struct dv_bq_config c;
	struct dv_sink *s;

	fresh();
	make_rows(600);
	base_config(&c, table);
	s = run_fault(fault, &c);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + 60 * DV_NS_PER_SEC), 0);
	assert_identity(s);
	assert_int_equal(s->stats.rows_delivered, (uint64_t)rs.n);
	assert_int_equal(s->stats.rows_dead, 0);
	assert_int_equal(s->stats.rows_dropped, 0);
	if (counter) {
		json_int_t n = double_stat(counter);

		if (n < min_count)
			fprintf(stderr, "%s: %lld < %d\n", counter, (long long)n, min_count);
		assert_true(n >= min_count);
	}
	s->ops->destroy(s);
	assert_no_secrets(NULL);
	assert_stored(NULL);
}

static void test_fault_503(void **state)
{
	(void)state;
	fault_case("f503", "{\"kind\":\"status\",\"code\":503,\"count\":3}", "insertAll 503", 3);
	assert_true(log_has("HTTP 503"));
}

static void test_fault_500(void **state)
{
	(void)state;
	fault_case("f500", "{\"kind\":\"status\",\"code\":500,\"count\":2}", "insertAll 500", 2);
}

static void test_fault_429(void **state)
{
	(void)state;
	fault_case("f429", "{\"kind\":\"status\",\"code\":429,\"count\":3}", "insertAll 429", 3);
}

static void test_fault_403_rate_limit(void **state)
{
	(void)state;
	fault_case(
	    "f403",
	    "{\"kind\":\"status\",\"code\":403,\"reason\":\"rateLimitExceeded\",\"count\":3}",
	    "insertAll 403", 3);
	assert_true(log_has("rateLimitExceeded"));
}

static void test_fault_403_quota(void **state)
{
	(void)state;
	fault_case("f403q",
		   "{\"kind\":\"status\",\"code\":403,\"reason\":\"quotaExceeded\",\"count\":2}",
		   "insertAll 403", 2);
}

static void test_fault_row_timeout(void **state)
{
	(void)state;
	fault_case("frt", "{\"kind\":\"row\",\"reason\":\"timeout\",\"every\":3,\"count\":3}", NULL,
		   0);
	assert_true(double_stat("insertAll 200") > 6); /* the failed rows went again */
}

static void test_fault_row_stopped(void **state)
{
	(void)state;
	fault_case("frs", "{\"kind\":\"row\",\"reason\":\"stopped\",\"every\":2,\"count\":2}",
		   "row_faults", 2);
}

static void test_fault_row_backend_error(void **state)
{
	(void)state;
	fault_case("frb", "{\"kind\":\"row\",\"reason\":\"backendError\",\"every\":1,\"count\":2}",
		   "row_faults", 2);
}

static void test_fault_reset(void **state)
{
	(void)state;
	fault_case("freset", "{\"kind\":\"reset\",\"count\":3}", "insertAll 0", 3);
}

/* The double stores the rows but answers after our timeout: the resend must
 * be deduplicated by insertId, so nothing is stored twice. */
static void test_fault_slow_dedup(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;

	(void)state;
	fresh();
	make_rows(300);
	base_config(&c, "fslow");
	c.request_timeout_ns = 700 * 1000000ULL;
	s = create_ok(&c);
	ctl_do("/_double/fault", "{\"kind\":\"slow\",\"delay\":1.5,\"count\":1}");
	write_all(s, 0, rs.n);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + 60 * DV_NS_PER_SEC), 0);
	assert_int_equal(s->stats.rows_delivered, (uint64_t)rs.n);
	assert_true(s->stats.request_errors >= 1);
	assert_true(s->stats.retries >= 1);
	sleep(1); /* the slow request finishes storing its rows */
	assert_true(double_stat("rows_deduped") >= 1);
	assert_true(log_has("timed out") || log_has("Timeout"));
	s->ops->destroy(s);
	assert_stored(NULL);
}

/* A slow answer within the timeout is just waited for. */
static void test_fault_slow_ok(void **state)
{
	(void)state;
	fault_case("fslowok", "{\"kind\":\"slow\",\"delay\":0.5,\"count\":2}",
		   "insertAll slowed 200", 2);
}

static void test_fault_down(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	uint64_t t0;

	(void)state;
	fresh();
	make_rows(400);
	base_config(&c, "fdown");
	s = create_ok(&c);
	ctl_do("/_double/fault", "{\"kind\":\"down\",\"seconds\":2}");
	usleep(200000);
	t0 = dv_monotonic_ns();
	write_all(s, 0, rs.n);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + 60 * DV_NS_PER_SEC), 0);
	assert_true(dv_monotonic_ns() - t0 > DV_NS_PER_SEC); /* it really was down */
	assert_true(s->stats.request_errors >= 1);
	assert_int_equal(s->stats.rows_delivered, (uint64_t)rs.n);
	assert_true(log_has("onnect")); /* "Couldn't connect" / "Connection refused" */
	s->ops->destroy(s);
	assert_stored(NULL);
}

/* Token endpoint failing at startup (retried within the startup timeout) and
 * during a refresh (rows wait, then go). */
static void test_fault_token(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;

	(void)state;
	fresh();
	make_rows(300);
	base_config(&c, "ftoken");
	ctl_do("/_double/fault", "{\"kind\":\"token\",\"code\":503,\"count\":2}");
	s = create_ok(&c);
	assert_int_equal(double_stat("token 503"), 2);
	/* Short-lived tokens from now on, and the refreshes fail for a while. */
	ctl_do("/_double/config", "{\"token_ttl\":2}");
	ctl_do("/_double/revoke", "{}");
	ctl_do("/_double/fault", "{\"kind\":\"token\",\"code\":500,\"count\":3}");
	write_all(s, 0, rs.n);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + 60 * DV_NS_PER_SEC), 0);
	assert_int_equal(s->stats.rows_delivered, (uint64_t)rs.n);
	assert_true(double_stat("token 500") == 3);
	assert_true(log_has("token refresh failed"));
	s->ops->destroy(s);
	assert_no_secrets(NULL);
	assert_stored(NULL);
}

/* Tokens are renewed before they expire: with a 4 s lifetime, rows written
 * over 7 s never meet a 401. */
static void test_token_refresh_before_expiry(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	uint64_t end;
	int i = 0;

	(void)state;
	fresh();
	make_rows(700);
	ctl_do("/_double/config", "{\"token_ttl\":4}");
	base_config(&c, "frefresh");
	s = create_ok(&c);
	end = dv_monotonic_ns() + 7 * DV_NS_PER_SEC;
	while (dv_monotonic_ns() < end) {
		if (i < rs.n) {
			write_all(s, i, i + 1);
			i++;
		}
		s->ops->poll(s, dv_realtime_ns());
		usleep(10000);
	}
	write_all(s, i, rs.n);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + 30 * DV_NS_PER_SEC), 0);
	assert_int_equal(double_stat("auth 401"), 0);
	assert_true(double_stat("tokens_issued") >= 3);
	assert_int_equal(s->stats.rows_delivered, (uint64_t)rs.n);
	s->ops->destroy(s);
	assert_no_secrets(NULL);
	assert_stored(NULL);
}

/* A revoked token (401) is replaced and the rows go again. */
static void test_revoked_token(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;

	(void)state;
	fresh();
	make_rows(200);
	base_config(&c, "f401");
	s = create_ok(&c);
	ctl_do("/_double/revoke", "{}");
	write_all(s, 0, rs.n);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + 30 * DV_NS_PER_SEC), 0);
	assert_true(double_stat("auth 401") >= 1);
	assert_int_equal(s->stats.rows_delivered, (uint64_t)rs.n);
	s->ops->destroy(s);
	assert_no_secrets(NULL);
	assert_stored(NULL);
}

static void test_metadata_auth(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;

	(void)state;
	fresh();
	make_rows(150);
	base_config(&c, "meta");
	c.auth = DV_BQ_AUTH_METADATA;
	c.sa_key_file = NULL;
	c.metadata_host = md_host;
	s = create_ok(&c);
	assert_int_equal(double_stat("metadata 200"), 1);
	write_all(s, 0, rs.n);
	finish(s);
	assert_stored(NULL);
}

/* ---- tests: rejected rows ------------------------------------------------------------ */

static json_t *read_dead_letters(void)
{
	json_t *all = json_array();
	FILE *f = fopen(tpath(2, "dead-letter.ndjson"), "r");
	char line[4096];

	if (!f)
		return all;
	while (fgets(line, sizeof(line), f))
		json_array_append_new(all, json_loads(line, 0, NULL));
	fclose(f);
	return all;
}

/* Replace the first occurrence of from by to in row k. */
static void mangle(int k, const char *from, const char *to)
{
	char *p = strstr(rs.row[k], from);
	char tmp[DV_ROW_MAX];

	assert_non_null(p);
	snprintf(tmp, sizeof(tmp), "%.*s%s%s", (int)(p - rs.row[k]), rs.row[k], to,
		 p + strlen(from));
	snprintf(rs.row[k], DV_ROW_MAX, "%s", tmp);
	rs.len[k] = (int)strlen(rs.row[k]);
}

static void test_invalid_rows_dead_lettered(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	unsigned char skip[MAXROWS] = {0};
	json_t *dl, *d;
	size_t i;
	char ts[32], want[64];

	(void)state;
	fresh();
	make_rows(250);
	/* Bad type; missing required column; partition day 11 years back. */
	mangle(10, "\"src_port\":", "\"src_port\":\"x\",\"unused\":");
	mangle(20, "\"sensor\":\"test-sensor\"", "\"sensor\":null");
	dv_time_format(dv_realtime_ns() - 4000ULL * 86400 * DV_NS_PER_SEC, ts);
	snprintf(want, sizeof(want), "\"first_seen_at\":\"%s\"", ts);
	{
		char *p = strstr(rs.row[30], "\"first_seen_at\":\"");

		assert_non_null(p);
		memcpy(p, want, strlen(want)); /* same length: a timestamp for a timestamp */
	}
	skip[10] = skip[20] = skip[30] = 1;
	base_config(&c, "invalid");
	s = create_ok(&c);
	write_all(s, 0, rs.n);
	assert_int_equal(finish(s).rows_dead, 3);
	assert_stored(skip);
	dl = read_dead_letters();
	assert_int_equal(json_array_size(dl), 3);
	json_array_foreach (dl, i, d) {
		const char *iid = json_string_value(json_object_get(d, "insertId"));
		const char *e = json_string_value(json_object_get(d, "error"));
		int k = !strcmp(iid, rs.iid[10]) ? 10 : !strcmp(iid, rs.iid[20]) ? 20 : 30;
		json_t *want_row = json_loads(rs.row[k], 0, NULL);

		assert_string_equal(iid, rs.iid[k]);
		assert_string_equal(json_string_value(json_object_get(d, "reason")), "invalid");
		assert_true(json_equal(want_row, json_object_get(d, "row")));
		json_decref(want_row);
		if (k == 10)
			assert_non_null(strstr(e, "Cannot convert value to integer"));
		if (k == 20)
			assert_non_null(strstr(e, "Missing required field: sensor"));
		if (k == 30)
			assert_non_null(strstr(e, "outside the allowed bounds"));
	}
	json_decref(dl);
	/* The good rows of those batches were "stopped" and went again. */
	assert_true(double_stat("rows_invalid") >= 3);
}

/* A row that breaks the request itself (not JSON) gets a 400 for the whole
 * batch: the sink bisects until it is alone, dead-letters it, delivers the rest. */
static void test_bad_request_bisected(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	unsigned char skip[MAXROWS] = {0};
	json_t *dl;

	(void)state;
	fresh();
	make_rows(200);
	mangle(57, "{", "{{");
	skip[57] = 1;
	base_config(&c, "bisect");
	s = create_ok(&c);
	write_all(s, 0, rs.n);
	assert_int_equal(finish(s).rows_dead, 1);
	assert_true(double_stat("insertAll 400") >= 3);
	assert_stored(skip);
	dl = read_dead_letters();
	assert_int_equal(json_array_size(dl), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(dl, 0), "insertId")),
			    rs.iid[57]);
	assert_non_null(json_object_get(json_array_get(dl, 0), "row_text"));
	json_decref(dl);
}

/* drain() with BigQuery gone returns -ETIMEDOUT at its deadline, with every
 * row still counted as pending. */
static void test_drain_deadline(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	uint64_t t0, took;

	(void)state;
	fresh();
	make_rows(120);
	base_config(&c, "deadline");
	s = create_ok(&c);
	ctl_do("/_double/fault", "{\"kind\":\"status\",\"code\":503,\"seconds\":5}");
	write_all(s, 0, rs.n);
	t0 = dv_monotonic_ns();
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + 1 * DV_NS_PER_SEC), -ETIMEDOUT);
	took = dv_monotonic_ns() - t0;
	assert_true(took >= 900000000ULL && took < 2 * DV_NS_PER_SEC);
	assert_identity(s);
	assert_int_equal(s->stats.rows_pending, (uint64_t)rs.n);
	assert_int_equal(s->stats.rows_delivered, 0);
	sleep(5);
	finish(s); /* and once it is back, they all go */
	assert_stored(NULL);
}

/* Past the memory bound new rows are dropped and counted. */
/* Past the memory bound rows wait in the spool instead (write-ahead off, so
 * the memory bound is what decides): none dropped, all delivered. */
static void test_memory_bound_spools(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;

	(void)state;
	fresh();
	make_rows(100);
	base_config(&c, "membound");
	c.mem_max_bytes = 20 * 1024;
	c.write_ahead = 0;
	s = create_ok(&c);
	for (int i = 0; i < rs.n; i++)
		assert_int_equal(dv_sink_write(s, &rs.rec[i], rs.row[i], (size_t)rs.len[i]), 0);
	assert_true(s->stats.rows_spooled > 0 && s->stats.rows_spooled < (uint64_t)rs.n);
	assert_int_equal(s->stats.rows_dropped, 0);
	assert_identity(s);
	assert_int_equal(finish(s).rows_delivered, (uint64_t)rs.n);
	assert_stored(NULL);
}

/* Rows BigQuery refused until the drain deadline stay in the spool and are
 * delivered by the next sink on the same directory (counted recovered). */
static void test_spool_recovered_next_start(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;

	(void)state;
	fresh();
	make_rows(300);
	base_config(&c, "recover");
	s = create_ok(&c);
	ctl_do("/_double/fault", "{\"kind\":\"status\",\"code\":503,\"count\":100000}");
	write_all(s, 0, rs.n);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), -ETIMEDOUT);
	assert_identity(s);
	assert_int_equal(s->stats.rows_pending, (uint64_t)rs.n);
	assert_int_equal(s->stats.rows_spooled, (uint64_t)rs.n); /* all on disk only */
	assert_int_equal(s->stats.rows_delivered, 0);
	s->ops->destroy(s);

	ctl_do("/_double/reset", "{}"); /* BigQuery is back (and forgot the table) */
	s = create_ok(&c);
	assert_int_equal(s->stats.rows_recovered, (uint64_t)rs.n);
	assert_int_equal(s->stats.rows_in, 0);
	assert_identity(s);
	assert_int_equal(finish(s).rows_delivered, (uint64_t)rs.n);
	assert_stored(NULL);
}

/* A stop flag raised during a long drain bounds it to shutdown_timeout. */
static void test_stop_flag_bounds_drain(void **state)
{
	static volatile sig_atomic_t stop;
	struct dv_bq_config c;
	struct dv_sink *s;
	uint64_t t0;

	(void)state;
	fresh();
	make_rows(100);
	base_config(&c, "stopflag");
	c.shutdown_timeout_ns = DV_NS_PER_SEC;
	s = create_ok(&c);
	ctl_do("/_double/fault", "{\"kind\":\"status\",\"code\":503,\"count\":100000}");
	write_all(s, 0, rs.n);
	stop = 1;
	dv_bq_sink_set_stop_flag(s, &stop);
	t0 = dv_monotonic_ns();
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + 600 * DV_NS_PER_SEC), -ETIMEDOUT);
	assert_true(dv_monotonic_ns() - t0 < 3 * DV_NS_PER_SEC);
	assert_int_equal(s->stats.rows_spooled, (uint64_t)rs.n);
	assert_true(log_has("asked to stop"));
	s->ops->destroy(s);
}

/* --drain-spool: empties the spool and says 0; when BigQuery keeps refusing,
 * gives up after the stall time with one line naming the spool and why. */
static void test_drain_spool(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	char e[512];

	(void)state;
	fresh();
	make_rows(200);
	base_config(&c, "drainspool");
	s = create_ok(&c);
	ctl_do("/_double/fault", "{\"kind\":\"status\",\"code\":503,\"count\":100000}");
	write_all(s, 0, rs.n);
	assert_int_equal(dv_bq_sink_drain_spool(s, dv_realtime_ns() + 30 * DV_NS_PER_SEC,
						DV_NS_PER_SEC, e, sizeof(e)),
			 -ETIMEDOUT);
	assert_non_null(strstr(e, "200 rows still in the spool"));
	assert_non_null(strstr(e, "503"));
	assert_no_secrets(e);
	s->ops->destroy(s);

	ctl_do("/_double/reset", "{}");
	s = create_ok(&c);
	assert_int_equal(dv_bq_sink_drain_spool(s, dv_realtime_ns() + 30 * DV_NS_PER_SEC,
						10 * DV_NS_PER_SEC, e, sizeof(e)),
			 0);
	assert_int_equal(s->stats.rows_delivered, (uint64_t)rs.n);
	assert_int_equal(s->stats.rows_pending, 0);
	s->ops->destroy(s);
	assert_stored(NULL);
	{ /* nothing left on disk but the lock and the marker */
		char cmd[600];

		snprintf(cmd, sizeof(cmd),
			 "test -z \"$(ls '%s' | grep -v -e '^lock$' -e '^table-verified$')\"",
			 spool_path);
		assert_int_equal(system(cmd), 0);
	}
}

/* BigQuery down at startup: with the table verified before (the marker in
 * the spool), the sink starts after a short wait and spools until BigQuery
 * answers; every row then arrives. */
static void test_offline_start(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	uint64_t t0;

	(void)state;
	fresh();
	make_rows(300);
	base_config(&c, "offline");
	c.startup_timeout_ns = 30 * DV_NS_PER_SEC;
	s = create_ok(&c); /* verifies the table: writes the marker */
	s->ops->destroy(s);
	ctl_do("/_double/fault", "{\"kind\":\"down\",\"seconds\":8}");
	usleep(200000);
	t0 = dv_monotonic_ns();
	s = create_ok(&c);
	assert_true(dv_monotonic_ns() - t0 < 7 * DV_NS_PER_SEC); /* did not wait 30 s */
	assert_true(log_has("BigQuery cannot be reached"));
	assert_true(log_has("(it was verified before)"));
	write_all(s, 0, rs.n);
	assert_int_equal(s->stats.rows_delivered, 0);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + 60 * DV_NS_PER_SEC), 0);
	assert_int_equal(s->stats.rows_delivered, (uint64_t)rs.n);
	s->ops->destroy(s);
	assert_stored(NULL);
}

/* A spool limit too small for the rows: the excess is dropped, counted and
 * logged as an error; the rest is delivered. */
static void test_spool_limit_drops_counted(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	unsigned char skip[100] = {0};
	int dropped = 0;

	(void)state;
	fresh();
	make_rows(100);
	base_config(&c, "spoolfull");
	c.spool_max_bytes = 8 * 1024;
	s = create_ok(&c);
	for (int i = 0; i < rs.n; i++) {
		int rc = dv_sink_write(s, &rs.rec[i], rs.row[i], (size_t)rs.len[i]);

		assert_true(rc == 0 || rc == -ENOBUFS);
		skip[i] = rc == -ENOBUFS;
		dropped += skip[i];
	}
	assert_true(dropped > 0 && dropped < rs.n);
	assert_int_equal(s->stats.rows_dropped, (uint64_t)dropped);
	assert_identity(s);
	assert_int_equal(finish(s).rows_delivered, (uint64_t)(rs.n - dropped));
	assert_true(log_has("dropping new rows"));
	/* Exactly the rows write() took arrived; the refused ones did not. */
	assert_stored(skip);
}

static int log_count(const char *needle)
{
	int n = 0;

	for (int i = 0; i < logs.n; i++)
		n += strstr(logs.lines[i], needle) != NULL;
	return n;
}

/* A full spool logs its drops at once, then at most every 10 s, however many
 * rows are refused meanwhile. */
static void test_drop_log_rate(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;
	uint64_t t0;
	int refused = 0;

	(void)state;
	fresh();
	make_rows(100);
	base_config(&c, "droplog");
	c.spool_max_bytes = 8 * 1024;
	ctl_do("/_double/fault", "{\"kind\":\"status\",\"code\":503,\"seconds\":30}");
	s = create_ok(&c);
	t0 = dv_monotonic_ns();
	/* 10.5 s of rows refused every 20 ms: one line at once, one after 10 s. */
	while (dv_monotonic_ns() - t0 < 10500 * 1000000ULL) {
		for (int i = 0; i < rs.n; i++)
			refused +=
			    dv_sink_write(s, &rs.rec[i], rs.row[i], (size_t)rs.len[i]) == -ENOBUFS;
		s->ops->poll(s, dv_realtime_ns());
		usleep(20000);
	}
	assert_true(refused > 1000);
	assert_int_equal(log_count("dropping new rows"), 2);
	assert_identity(s);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), -ETIMEDOUT);
	s->ops->destroy(s);
}

/* The default retry backoff (SPEC section 4): 1 s doubling to 60 s, with
 * jitter over the upper half, so three refused batches in a row wait
 * 0.5-1 s, 1-2 s and 2-4 s before the fourth try. */
static void test_default_backoff(void **state)
{
	struct dv_bq_config c, d;
	struct dv_sink *s;
	uint64_t t0, took;

	(void)state;
	dv_bq_config_init_defaults(&d);
	fresh();
	make_rows(10);
	base_config(&c, "backoff");
	c.backoff_min_ns = d.backoff_min_ns;
	c.backoff_max_ns = d.backoff_max_ns;
	assert_int_equal(d.backoff_max_ns, 60 * DV_NS_PER_SEC);
	s = create_ok(&c);
	ctl_do("/_double/fault", "{\"kind\":\"status\",\"code\":503,\"count\":3}");
	write_all(s, 0, rs.n);
	t0 = dv_monotonic_ns();
	while (s->stats.rows_delivered < (uint64_t)rs.n &&
	       dv_monotonic_ns() - t0 < 20 * DV_NS_PER_SEC) {
		s->ops->poll(s, dv_realtime_ns());
		usleep(5000);
	}
	took = dv_monotonic_ns() - t0;
	fprintf(stderr, "three 503s then success: %.2f s\n", (double)took / 1e9);
	assert_int_equal(double_stat("insertAll 503"), 3);
	assert_true(took >= 3500 * 1000000ULL);			  /* 0.5 + 1 + 2 at least */
	assert_true(took < 7 * DV_NS_PER_SEC + 800 * 1000000ULL); /* 1 + 2 + 4, flush, answers */
	finish(s);
	assert_stored(NULL);
}

/* --bq-auth auto without a key and without GOOGLE_APPLICATION_CREDENTIALS
 * asks the metadata server. */
static void test_auto_falls_back_to_metadata(void **state)
{
	struct dv_bq_config c;
	struct dv_sink *s;

	(void)state;
	fresh();
	make_rows(20);
	base_config(&c, "automd");
	c.auth = DV_BQ_AUTH_AUTO;
	c.sa_key_file = NULL;
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	setenv("GCE_METADATA_HOST", md_host, 1);
	s = create_ok(&c);
	unsetenv("GCE_METADATA_HOST");
	assert_int_equal(double_stat("metadata 200"), 1);
	assert_int_equal(double_stat("token 200"), 0);
	write_all(s, 0, rs.n);
	finish(s);
	assert_stored(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_partition_ok),
	    cmocka_unit_test(test_schema_matches_rows),
	    cmocka_unit_test(test_creates_table),
	    cmocka_unit_test(test_patches_missing_columns),
	    cmocka_unit_test(test_conflicting_column),
	    cmocka_unit_test(test_missing_dataset),
	    cmocka_unit_test(test_wrong_key),
	    cmocka_unit_test(test_key_not_json),
	    cmocka_unit_test(test_untrusted_cert),
	    cmocka_unit_test(test_bad_endpoint),
	    cmocka_unit_test(test_unreachable_endpoint),
	    cmocka_unit_test(test_refused_after_outage),
	    cmocka_unit_test(test_ca_file_and_ca_path_both_trusted),
	    cmocka_unit_test(test_key_mode_warning),
	    cmocka_unit_test(test_auth_mode_parse),
	    cmocka_unit_test(test_google_application_credentials),
	    cmocka_unit_test(test_emulator_host),
	    cmocka_unit_test(test_delivers_every_row),
	    cmocka_unit_test(test_flush_interval),
	    cmocka_unit_test(test_batch_byte_cap),
	    cmocka_unit_test(test_fault_503),
	    cmocka_unit_test(test_fault_500),
	    cmocka_unit_test(test_fault_429),
	    cmocka_unit_test(test_fault_403_rate_limit),
	    cmocka_unit_test(test_fault_403_quota),
	    cmocka_unit_test(test_fault_row_timeout),
	    cmocka_unit_test(test_fault_row_stopped),
	    cmocka_unit_test(test_fault_row_backend_error),
	    cmocka_unit_test(test_fault_reset),
	    cmocka_unit_test(test_fault_slow_dedup),
	    cmocka_unit_test(test_fault_slow_ok),
	    cmocka_unit_test(test_fault_down),
	    cmocka_unit_test(test_fault_token),
	    cmocka_unit_test(test_token_refresh_before_expiry),
	    cmocka_unit_test(test_revoked_token),
	    cmocka_unit_test(test_metadata_auth),
	    cmocka_unit_test(test_invalid_rows_dead_lettered),
	    cmocka_unit_test(test_bad_request_bisected),
	    cmocka_unit_test(test_drain_deadline),
	    cmocka_unit_test(test_memory_bound_spools),
	    cmocka_unit_test(test_spool_limit_drops_counted),
	    cmocka_unit_test(test_drop_log_rate),
	    cmocka_unit_test(test_default_backoff),
	    cmocka_unit_test(test_auto_falls_back_to_metadata),
	    cmocka_unit_test(test_spool_recovered_next_start),
	    cmocka_unit_test(test_stop_flag_bounds_drain),
	    cmocka_unit_test(test_drain_spool),
	    cmocka_unit_test(test_offline_start),
	};

	tdir = getenv("DV_BQ_TEST_DIR");
	if (!tdir || !getenv("DV_BQ_TEST_PORT")) {
		fprintf(stderr, "run me through tests/bq/run-double.sh\n");
		return 77; /* skipped */
	}
	snprintf(base_url, sizeof(base_url), "https://127.0.0.1:%s", getenv("DV_BQ_TEST_PORT"));
	snprintf(md_host, sizeof(md_host), "127.0.0.1:%s", getenv("DV_BQ_TEST_MDPORT"));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (getenv("DV_BQ_TEST_FILTER")) /* e.g. "test_fault_*" */
		cmocka_set_test_filter(getenv("DV_BQ_TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
