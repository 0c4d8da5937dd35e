/*
 * test_bq_storage: the Storage Write API transport (lib/bq/dv_bq_storage.c)
 * against the strict double (tests/bq/storage_double.py), over TLS with the
 * test CA of run-double.sh and a token issued by its token double.
 *
 *   run-double.sh test_bq_storage PYTHON3 storage_double.py PROTOC_C
 *
 * One scenario, in order, as the sink will meet it: a stream created and
 * read back, three appends of rows encoded by dv_bq_proto from export
 * records, an offset sent again (ALREADY_EXISTS), one past the end
 * (OUT_OF_RANGE), a row error (the whole request fails, its index named),
 * a connection reset after the double stored a request (RETRY, then the
 * same offset again is ALREADY_EXISTS), UNAVAILABLE and RESOURCE_EXHAUSTED
 * bursts, a request over 10 MB, Finalize, a stream that vanishes
 * (STREAM_GONE), a wrong CA and a wrong token. Every expected count is what
 * this program sent; the double's own counters must agree: each row sent
 * in an acknowledged append stored once, none twice.
 *
 * The test starts the double itself and stops it by its PID. Exit 77
 * (skipped) when the double lacks python3-grpcio or python3-protobuf.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "dv_bq_proto.h"
#include "dv_bq_storage.h"
#include "dv_row.h"

#define PARENT "projects/p/datasets/d/tables/flows"
#define SENSOR "storage-test"

static int failures, checks;
static pid_t double_pid;
static char dir[512], ctl_url[128];

static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	checks++;
	printf("%s ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

static void stop_double(void)
{
	if (double_pid > 0) {
		kill(double_pid, SIGTERM);
		waitpid(double_pid, NULL, 0);
		double_pid = 0;
	}
}

/* ---- HTTP: the token double and the storage double's control port -------- */

struct body {
	char *buf;
	size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct body *b = ud;
	size_t k = size * n;
	char *nb = realloc(b->buf, b->len + k + 1);

	if (!nb)
		return 0;
	b->buf = nb;
	memcpy(b->buf + b->len, p, k);
	b->len += k;
	b->buf[b->len] = '\0';
	return k;
}

/* GET (post NULL) or POST; the body of a 200 answer (free it), or NULL. */
static char *http_text(const char *url, const char *post, const char *header)
{
	CURL *e = curl_easy_init();
	struct curl_slist *h = header ? curl_slist_append(NULL, header) : NULL;
	struct body b = {0};
	long status = 0;

	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
	if (post)
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
	if (curl_easy_perform(e) != CURLE_OK ||
	    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200 ||
	    !b.buf) {
		free(b.buf);
		b.buf = NULL;
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return b.buf;
}

static json_t *http_json(const char *url, const char *post, const char *header)
{
	char *t = http_text(url, post, header);
	json_t *j = t ? json_loads(t, 0, NULL) : NULL;

	free(t);
	return j;
}

static void control(const char *path, const char *json)
{
	char url[256];
	json_t *j;

	snprintf(url, sizeof(url), "%s%s", ctl_url, path);
	j = http_json(url, json, "Content-Type: application/json");
	check(j != NULL, "double control %s %s", path, json);
	json_decref(j);
}

static long long stat_of(const char *name)
{
	char url[256];
	json_t *j;
	long long v;

	snprintf(url, sizeof(url), "%s/stats", ctl_url);
	j = http_json(url, NULL, NULL);
	v = j ? json_integer_value(json_object_get(j, name)) : -1;
	json_decref(j);
	return v;
}

/* An access token from the token double's metadata server. */
static int get_token(char *tok, size_t cap)
{
	char url[256];
	json_t *j;
	const char *t;

	snprintf(url, sizeof(url),
		 "http://127.0.0.1:%s/computeMetadata/v1/instance/service-accounts/default/token",
		 getenv("DV_BQ_TEST_MDPORT"));
	j = http_json(url, NULL, "Metadata-Flavor: Google");
	t = j ? json_string_value(json_object_get(j, "access_token")) : NULL;
	if (t)
		snprintf(tok, cap, "%s", t);
	json_decref(j);
	return t ? 0 : -1;
}

/* ---- the double ------------------------------------------------------------ */

static int read_port(const char *name)
{
	char path[600];
	FILE *f;
	int port = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &port) != 1)
		port = 0;
	fclose(f);
	return port;
}

/* Starts the double; its port, 0 on failure, -77 when it cannot run here. */
static int start_double(char **argv)
{
	char cert[600], key[600], ca[600], pf[600], cf[600], log[600], turl[128];
	int status;

	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	snprintf(ca, sizeof(ca), "%s/ca-a.pem", dir);
	snprintf(pf, sizeof(pf), "%s/storage-port", dir);
	snprintf(cf, sizeof(cf), "%s/storage-control", dir);
	snprintf(log, sizeof(log), "%s/storage-double.log", dir);
	snprintf(turl, sizeof(turl), "https://127.0.0.1:%s/_double/tokens",
		 getenv("DV_BQ_TEST_PORT"));
	double_pid = fork();
	if (double_pid == 0) {
		if (!freopen(log, "w", stderr))
			_exit(1);
		execl(argv[1], argv[1], argv[2], "--cert", cert, "--key", key, "--port-file", pf,
		      "--control-port-file", cf, "--token-url", turl, "--token-ca", ca,
		      "--protoc-c", argv[3], (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300; i++) {
		int port = read_port("storage-port"), cport = read_port("storage-control");

		if (port && cport) {
			snprintf(ctl_url, sizeof(ctl_url), "http://127.0.0.1:%d", cport);
			return port;
		}
		if (waitpid(double_pid, &status, WNOHANG) == double_pid) {
			double_pid = 0;
			return WIFEXITED(status) && WEXITSTATUS(status) == 77 ? -77 : 0;
		}
		usleep(50000);
	}
	return 0;
}

/* ---- rows ------------------------------------------------------------------ */

struct ctx {
	struct dv_bq_storage *s;
	char token[2048];
	char name[512];	    /* the stream of the scenario */
	uint8_t desc[4096]; /* dv_bq_proto_descriptor() */
	size_t desc_len;
	long long acked; /* rows in appends answered OK: each stored once */
	struct dv_bq_storage_result res;
};

/* Record i: bench_bq's typical flow with its own id and source port. */
static void make_rec(struct dv_export_rec *r, int i)
{
	uint64_t now = 1767225600ULL * 1000000000ULL + 123456789; /* 2026-01-01 */

	memset(r, 0, sizeof(*r));
	memcpy(r->id, (uint8_t[]){0x3b, 0x9f, 0x0c, 0x51, 0x7e, 0x22, 0x41, 0x8d}, 8);
	memcpy(r->id + 8, &i, sizeof(i));
	r->family = 4;
	memcpy(r->src_addr, (uint8_t[]){10, 0, 0, 7}, 4);
	memcpy(r->dst_addr, (uint8_t[]){172, 16, 0, 9}, 4);
	r->proto = 6;
	r->flags = DV_EXPORT_F_TCP;
	r->src_port = (uint16_t)(1024 + i);
	r->dst_port = 443;
	r->first_ns = now - 120000000000ULL + (uint64_t)i * 1000;
	r->last_ns = now - 2000000000ULL;
	r->src_bytes = 12345;
	r->dst_bytes = 987654;
	r->src_packets = 42;
	r->dst_packets = 700;
	r->status = DV_STATUS_ESTABLISHED;
	r->end_reason = DV_END_IDLE;
}

/* Records first .. first+n-1 as rows; a src_port of 4444 where asked. */
static void fill(struct dv_bq_rows *rows, int first, int n, int bad_index)
{
	struct dv_export_rec r;
	uint8_t pb[DV_BQ_PROTO_ROW_MAX];

	dv_bq_rows_clear(rows);
	for (int i = 0; i < n; i++) {
		int len;

		make_rec(&r, first + i);
		if (i == bad_index)
			r.src_port = 4444;
		len = dv_bq_proto_row(&r, SENSOR, pb, sizeof(pb));
		if (len < 0 || dv_bq_rows_add(rows, pb, (size_t)len) < 0) {
			fprintf(stderr, "test_bq_storage: cannot encode row %d\n", first + i);
			exit(1);
		}
	}
}

/* Appends records first .. first+n-1 at offset; OK answers count as acked. */
static enum dv_bq_storage_outcome append(struct ctx *c, struct dv_bq_append *a, int64_t offset,
					 int first, int n, int bad_index)
{
	struct dv_bq_rows rows = {0};
	enum dv_bq_storage_outcome o;

	fill(&rows, first, n, bad_index);
	o = dv_bq_append_send(a, offset, &rows, &c->res);
	if (o == DV_BQS_OK)
		c->acked += n;
	dv_bq_rows_free(&rows);
	return o;
}

static struct dv_bq_append *open_append(struct ctx *c, const char *name)
{
	struct dv_bq_append *a =
	    dv_bq_append_open(c->s, c->token, name, c->desc, c->desc_len, &c->res);

	check(a != NULL, "AppendRows call opened on %s (%s)", name,
	      a ? "" : dv_bq_storage_outcome_name(c->res.outcome));
	if (!a)
		exit(1);
	return a;
}

#define EXPECT(o, want, what)                                                                      \
	check((o) == (want), "%s: %s (want %s) %d %s", what, dv_bq_storage_outcome_name(o),        \
	      dv_bq_storage_outcome_name(want), c->res.code, c->res.message)

/* ---- the scenario ---------------------------------------------------------- */

/* Created, read back, 3 appends, an offset again, one past the end, a row error. */
static void appends(struct ctx *c)
{
	struct dv_bq_stream_info info;
	struct dv_bq_append *a;
	enum dv_bq_storage_outcome o;

	o = dv_bq_storage_create_stream(c->s, c->token, PARENT, c->name, sizeof(c->name), &c->res);
	EXPECT(o, DV_BQS_OK, "CreateWriteStream");
	check(strncmp(c->name, PARENT "/streams/", strlen(PARENT "/streams/")) == 0,
	      "the stream %s is under %s", c->name, PARENT);
	o = dv_bq_storage_get_stream(c->s, c->token, c->name, &info, &c->res);
	EXPECT(o, DV_BQS_OK, "GetWriteStream");
	check(info.type == 1 && strcmp(info.name, c->name) == 0 && info.create_us > 0,
	      "GetWriteStream: COMMITTED (type %d), the same name, a create time", info.type);

	a = open_append(c, c->name);
	/* Three requests: 10, 20 and 30 rows at offsets 0, 10 and 30. */
	o = append(c, a, 0, 0, 10, -1);
	EXPECT(o, DV_BQS_OK, "append 10 rows at 0");
	check(c->res.offset == 0, "append_result.offset %lld is 0", (long long)c->res.offset);
	o = append(c, a, 10, 10, 20, -1);
	EXPECT(o, DV_BQS_OK, "append 20 rows at 10");
	check(c->res.offset == 10, "append_result.offset %lld is 10", (long long)c->res.offset);
	o = append(c, a, 30, 30, 30, -1);
	EXPECT(o, DV_BQS_OK, "append 30 rows at 30");
	check(c->res.offset == 30, "append_result.offset %lld is 30", (long long)c->res.offset);
	/* The second request again, as after a lost answer: delivered before. */
	o = append(c, a, 10, 10, 20, -1);
	EXPECT(o, DV_BQS_ALREADY_EXISTS, "the 20 rows at 10 again");
	/* Past the end (the next offset is 60). */
	o = append(c, a, 61, 60, 5, -1);
	EXPECT(o, DV_BQS_OUT_OF_RANGE, "5 rows at 61, the end being 60");
	/* Rows whose src_port is 4444 are refused: the whole request fails. */
	control("/reject", "{\"field\": \"src_port\", \"value\": \"4444\"}");
	o = append(c, a, 60, 60, 5, 3);
	EXPECT(o, DV_BQS_ROW_ERRORS, "5 rows at 60, the 4th refused");
	check(c->res.n_row_errors == 1 && c->res.row_errors[0].index == 3 &&
		  c->res.row_errors[0].code == 1 &&
		  strstr(c->res.row_errors[0].message, "src_port"),
	      "row_errors: one, index 3, FIELDS_ERROR, naming src_port (%zu: %lld %s)",
	      c->res.n_row_errors, c->res.n_row_errors ? (long long)c->res.row_errors[0].index : -1,
	      c->res.n_row_errors ? c->res.row_errors[0].message : "");
	control("/reject", "{}");
	/* The other 4 again (the sink dead-letters the named row). */
	o = append(c, a, 60, 60, 3, -1);
	EXPECT(o, DV_BQS_OK, "the 3 rows before the refused one at 60");
	o = append(c, a, 63, 64, 1, -1);
	EXPECT(o, DV_BQS_OK, "the row after it at 63");
	dv_bq_append_close(a);
}

/* A reset after the double stored a request; bursts; a request over 10 MB. */
static void faults(struct ctx *c)
{
	struct dv_bq_rows big = {0};
	struct dv_bq_append *a;
	enum dv_bq_storage_outcome o;
	char name[512];

	control("/fault", "{\"kind\": \"drop_after_store\"}");
	a = open_append(c, c->name);
	o = append(c, a, 64, 100, 5, -1);
	EXPECT(o, DV_BQS_RETRY, "5 rows at 64, the connection reset after they were stored");
	dv_bq_append_close(a);
	a = open_append(c, c->name);
	o = append(c, a, 64, 100, 5, -1);
	EXPECT(o, DV_BQS_ALREADY_EXISTS, "the same 5 rows at 64 on a new call");
	c->acked += 5; /* ALREADY_EXISTS: delivered by the first send */
	check(stat_of("dropped_after_store") == 1 && stat_of("rows_stored_twice") == 0,
	      "the double: 1 answer dropped after the store, 0 rows stored twice");

	/* A burst of UNAVAILABLE then RESOURCE_EXHAUSTED: each ends the call. */
	control("/fault", "{\"kind\": \"unavailable\", \"method\": \"AppendRows\"}");
	control("/fault", "{\"kind\": \"resource_exhausted\", \"method\": \"AppendRows\"}");
	o = append(c, a, 69, 105, 5, -1);
	EXPECT(o, DV_BQS_RETRY, "5 rows at 69 in an UNAVAILABLE burst");
	check(c->res.code == 14, "gRPC code %d is UNAVAILABLE (14)", c->res.code);
	dv_bq_append_close(a);
	a = open_append(c, c->name);
	o = append(c, a, 69, 105, 5, -1);
	EXPECT(o, DV_BQS_RETRY, "5 rows at 69 in a RESOURCE_EXHAUSTED burst");
	check(c->res.code == 8, "gRPC code %d is RESOURCE_EXHAUSTED (8)", c->res.code);
	dv_bq_append_close(a);
	a = open_append(c, c->name);
	o = append(c, a, 69, 105, 5, -1);
	EXPECT(o, DV_BQS_OK, "5 rows at 69 after the bursts");

	/* 80000 rows of about 150 bytes: over the 10 MB limit. */
	fill(&big, 1000, 80000, -1);
	check(big.len > DV_BQ_STORAGE_REQUEST_MAX, "%zu bytes of rows", big.len);
	o = dv_bq_append_send(a, 74, &big, &c->res);
	EXPECT(o, DV_BQS_INVALID, "a request over 10 MB");
	check(strstr(c->res.message, "too large") != NULL, "the message says too large");
	dv_bq_rows_free(&big);
	dv_bq_append_close(a);

	/* A unary call in a burst. */
	control("/fault", "{\"kind\": \"unavailable\", \"method\": \"CreateWriteStream\"}");
	o = dv_bq_storage_create_stream(c->s, c->token, PARENT, name, sizeof(name), &c->res);
	EXPECT(o, DV_BQS_RETRY, "CreateWriteStream in an UNAVAILABLE burst");
}

/* Finalize; an append after it; a stream that vanishes. */
static void stream_ends(struct ctx *c)
{
	struct dv_bq_stream_info info;
	struct dv_bq_append *a;
	enum dv_bq_storage_outcome o;
	char name[512], body[700];
	int64_t count = -1;

	o = dv_bq_storage_finalize(c->s, c->token, c->name, &count, &c->res);
	EXPECT(o, DV_BQS_OK, "FinalizeWriteStream");
	check(count == c->acked, "row_count %lld = %lld rows acknowledged", (long long)count,
	      c->acked);
	a = open_append(c, c->name);
	o = append(c, a, count, 300, 1, -1);
	EXPECT(o, DV_BQS_STREAM_GONE, "an append to the finalized stream");
	dv_bq_append_close(a);

	o = dv_bq_storage_create_stream(c->s, c->token, PARENT, name, sizeof(name), &c->res);
	EXPECT(o, DV_BQS_OK, "CreateWriteStream (a second stream)");
	check(strcmp(name, c->name) != 0, "a new stream name");
	a = open_append(c, name);
	o = append(c, a, 0, 200, 3, -1);
	EXPECT(o, DV_BQS_OK, "3 rows at 0 of the second stream");
	snprintf(body, sizeof(body), "{\"stream\": \"%s\"}", name);
	control("/vanish", body);
	o = append(c, a, 3, 203, 2, -1);
	EXPECT(o, DV_BQS_STREAM_GONE, "2 rows at 3 of the vanished stream");
	check(c->res.code == 5, "gRPC code %d is NOT_FOUND (5)", c->res.code);
	dv_bq_append_close(a);
	o = dv_bq_storage_get_stream(c->s, c->token, name, &info, &c->res);
	EXPECT(o, DV_BQS_STREAM_GONE, "GetWriteStream of the vanished stream");
	o = dv_bq_storage_finalize(c->s, c->token, name, &count, &c->res);
	EXPECT(o, DV_BQS_STREAM_GONE, "FinalizeWriteStream of the vanished stream");
}

/* TLS is verified (a CA that did not sign the server's certificate fails) and
 * a token the token double never issued is refused. */
static void tls_and_auth(struct ctx *c, const char *endpoint)
{
	struct dv_bq_storage_conf conf = {.endpoint = endpoint, .timeout_ms = 10000};
	struct dv_bq_storage *s;
	enum dv_bq_storage_outcome o;
	char ca[600], err[256], name[512];
	long long calls = stat_of("calls");

	snprintf(ca, sizeof(ca), "%s/ca-b.pem", dir);
	conf.ca_file = ca;
	s = dv_bq_storage_open(&conf, err, sizeof(err));
	o = dv_bq_storage_create_stream(s, c->token, PARENT, name, sizeof(name), &c->res);
	EXPECT(o, DV_BQS_RETRY, "CreateWriteStream with an unrelated CA");
	check(stat_of("calls") == calls, "no call reached the double without a verified TLS peer");
	dv_bq_storage_close(s);

	o = dv_bq_storage_create_stream(c->s, "ya29.never-issued", PARENT, name, sizeof(name),
					&c->res);
	EXPECT(o, DV_BQS_UNAUTHENTICATED, "CreateWriteStream with a token never issued");
	check(strstr(c->res.message, "ya29") == NULL, "the message holds no token");

	snprintf(ca, sizeof(ca), "%s/no-such-ca.pem", dir);
	s = dv_bq_storage_open(&conf, err, sizeof(err));
	check(s == NULL && strstr(err, "no-such-ca.pem"), "a missing CA file: %s", err);
	conf.endpoint = "127.0.0.1";
	conf.ca_file = NULL;
	s = dv_bq_storage_open(&conf, err, sizeof(err));
	check(s == NULL && strstr(err, "HOST:PORT"), "an endpoint without a port: %s", err);
}

/*
 * The rows the double decoded (with the writer_schema) at each offset of the
 * first stream are the records sent there: 0-59, 60-62, 64 (63 was
 * refused), 100-104 (stored before the reset), 105-109.
 */
static void stored_rows(struct ctx *c)
{
	int want[74], n = 0, bad = 0, i = 0;
	char url[800], *text, *line, *save = NULL, *esc;
	CURL *e = curl_easy_init();

	for (int r = 0; r < 63; r++)
		want[n++] = r;
	want[n++] = 64;
	for (int r = 100; r < 110; r++)
		want[n++] = r;
	esc = curl_easy_escape(e, c->name, 0);
	snprintf(url, sizeof(url), "%s/rows?stream=%s", ctl_url, esc);
	curl_free(esc);
	curl_easy_cleanup(e);
	text = http_text(url, NULL, NULL);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save), i++) {
		json_t *j = json_loads(line, 0, NULL);
		const char *port = json_string_value(json_object_get(j, "src_port"));
		const char *sensor = json_string_value(json_object_get(j, "sensor"));

		if (i >= n || !port || atoi(port) != 1024 + want[i] || !sensor ||
		    strcmp(sensor, SENSOR) != 0)
			bad++;
		json_decref(j);
	}
	free(text);
	check(i == n && bad == 0,
	      "the double's %d rows are records 0-62, 64, 100-109 in order "
	      "(%d differ)",
	      i, bad);
}

/* The double's counters against what this program sent. */
static void totals(struct ctx *c)
{
	check(stat_of("rows_stored") == c->acked, "the double stored %lld rows = %lld acknowledged",
	      stat_of("rows_stored"), c->acked);
	check(stat_of("rows_stored_twice") == 0, "the double stored no row twice");
	check(stat_of("resent_mismatch") == 0, "every offset sent again carried the same rows");
	check(stat_of("already_exists") == 2 && stat_of("out_of_range") == 1 &&
		  stat_of("row_error_requests") == 1 && stat_of("too_large") == 1,
	      "the double answered ALREADY_EXISTS 2, OUT_OF_RANGE 1, row errors 1, too large 1");
}

int main(int argc, char **argv)
{
	static struct ctx c;
	struct dv_bq_storage_conf conf = {.timeout_ms = 10000};
	char endpoint[64], ca[600], err[256];
	const char *d = getenv("DV_BQ_TEST_DIR");
	int port, len;

	if (argc != 4 || !d || !getenv("DV_BQ_TEST_PORT") || !getenv("DV_BQ_TEST_MDPORT")) {
		fprintf(stderr, "usage: run-double.sh %s PYTHON3 storage_double.py PROTOC_C\n",
			argv[0]);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", d);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	port = start_double(argv);
	if (port == -77) {
		printf("test_bq_storage: skipped: the double needs python3-grpcio, "
		       "python3-protobuf\n");
		return 77;
	}
	atexit(stop_double);
	check(port > 0, "the storage double listens (see %s/storage-double.log)", dir);
	if (port <= 0 || get_token(c.token, sizeof(c.token)) < 0) {
		check(0, "a token from the token double");
		return 1;
	}
	len = dv_bq_proto_descriptor(c.desc, sizeof(c.desc));
	check(len > 0, "the row descriptor (%d bytes)", len);
	c.desc_len = (size_t)len;
	snprintf(endpoint, sizeof(endpoint), "127.0.0.1:%d", port);
	snprintf(ca, sizeof(ca), "%s/ca-a.pem", dir);
	conf.endpoint = endpoint;
	conf.ca_file = ca;
	c.s = dv_bq_storage_open(&conf, err, sizeof(err));
	check(c.s != NULL, "a channel to %s (%s)", endpoint, c.s ? "" : err);
	if (!c.s)
		return 1;
	tls_and_auth(&c, endpoint);
	appends(&c);
	faults(&c);
	stream_ends(&c);
	stored_rows(&c);
	totals(&c);
	dv_bq_storage_result_clear(&c.res);
	dv_bq_storage_close(c.s);
	stop_double();
	curl_global_cleanup();
	printf("test_bq_storage: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
