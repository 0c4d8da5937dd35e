/*
 * fuzz_bq: the answers the BigQuery client parses (lib/bq), one per mode.
 *
 * Input: one mode byte, then what the mode reads. Mode (byte % 5):
 *   0  a token answer (OAuth token endpoint or metadata server): one status
 *      byte, then the body, through dv_bq_auth_finish() with the HTTP status
 *      the status byte picks (200, 400, 401, 403, 429, 500, 503, 200 again
 *      for the rest);
 *   1  a Google error body through dv_bq_google_error();
 *   2  an insertAll answer: a status byte (as mode 0), a row-count byte
 *      (1 + byte % 64 rows), then the body, through dv_bq_insertall_answer();
 *   3  an AppendRowsResponse (Storage Write API) through
 *      dv_bq_storage_read_append();
 *   4  a tables.get answer through dv_bq_schema_reconcile().
 *
 * Invariants: the token answer gives 0 (a usable token), -EACCES (a
 * definite refusal: 400/401/403), -EAGAIN (try again) or -EPROTO (no usable
 * token); with 0 the Authorization header is one line of a bounded length
 * holding the token the body gave; otherwise there is no header and the
 * error is one line. Never a secret in a message: a 200 answer without a
 * usable token gives a fixed message, with nothing of the body in it.
 * The error body's message and reason are NUL-terminated within their
 * buffers and one line (both go into one log line). insertAll: an outcome
 * of the enum; answered row by row only for HTTP 200, then every row has a
 * verdict and the dead rows are exactly those with DEAD, each named once,
 * within the request; a lone refused row is dead; the error text is one
 * line. Storage: an outcome of the enum, one-line messages, row errors only
 * with ROW_ERRORS, an offset only with OK. Table: 0 or -EINVAL with a
 * one-line error; with 0 the patch (if any) keeps the table's fields first
 * and then holds every column devourer writes exactly once.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dv_bq_api.h"
#include "dv_bq_int.h"
#include "dv_bq_storage.h"
#include "fuzz_common.h"

static void quiet(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

static struct dv_bq_log quiet_log = {.fn = quiet};

static const long statuses[] = {200, 400, 401, 403, 429, 500, 503};

/* The access_token the body gives, if it is JSON with a string one. */
static char *body_token(const char *body, size_t len)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	const char *t = json_string_value(json_object_get(root, "access_token"));
	char *copy = t ? strdup(t) : NULL;

	json_decref(root);
	return copy;
}

static void one_line(const char *s, size_t cap, const char *what)
{
	size_t n = strnlen(s, cap);

	dv_fuzz_check(n < cap, "%s not terminated", what);
	dv_fuzz_check(strpbrk(s, "\r\n") == NULL, "%s on more than one line: %s", what, s);
}

static void fuzz_token(const uint8_t *data, size_t size)
{
	struct dv_bq_config c;
	struct dv_bq_auth *a;
	char err[512], *tok;
	const char *hdr;
	long status;
	int rc;

	if (size < 1)
		return;
	status = statuses[data[0] < sizeof(statuses) / sizeof(statuses[0]) ? data[0] : 0];
	data++, size--;
	dv_bq_config_init_defaults(&c);
	c.auth = DV_BQ_AUTH_METADATA; /* no key, no I/O: a token URL only */
	err[0] = '\0';
	a = dv_bq_auth_create(&c, &quiet_log, err, sizeof(err));
	dv_fuzz_check(a != NULL, "auth: %s", err);
	memset(err, 0, sizeof(err));
	rc = dv_bq_auth_finish(a, status, (const char *)data, size, 1000, err, sizeof(err));
	hdr = dv_bq_auth_header(a, 1000);
	tok = body_token((const char *)data, size);
	if (rc == 0) {
		dv_fuzz_check(status == 200, "a token from HTTP %ld", status);
		dv_fuzz_check(hdr != NULL && strncmp(hdr, "Authorization: Bearer ", 22) == 0,
			      "header %s", hdr ? hdr : "(none)");
		dv_fuzz_check(strpbrk(hdr, "\r\n") == NULL && strlen(hdr) < 22 + 8192,
			      "header of %zu bytes or on two lines", strlen(hdr));
		dv_fuzz_check(tok != NULL && strcmp(hdr + 22, tok) == 0,
			      "the header is not the body's token");
	} else {
		dv_fuzz_check(rc == -EACCES || rc == -EAGAIN || rc == -EPROTO || rc == -ENOMEM,
			      "rc %d", rc);
		dv_fuzz_check(rc != -EACCES || status == 400 || status == 401 || status == 403,
			      "a definite refusal from HTTP %ld", status);
		dv_fuzz_check(hdr == NULL, "a header after a failed answer");
		one_line(err, sizeof(err), "error");
		dv_fuzz_check(err[0] != '\0', "a failure without a message");
		/* A 200 answer without a usable token: a fixed message, nothing
		 * of the body in it (never a token, even a malformed one). */
		if (status == 200 && rc == -EPROTO) {
			char want[512];

			snprintf(want, sizeof(want),
				 "metadata server %s gave no usable access_token",
				 dv_bq_auth_url(a));
			dv_fuzz_check(strcmp(err, want) == 0, "error %s", err);
		}
	}
	free(tok);
	dv_bq_auth_destroy(a);
}

static void fuzz_google_error(const uint8_t *data, size_t size)
{
	char msg[200], reason[64];

	memset(msg, 0x5a, sizeof(msg));
	memset(reason, 0x5a, sizeof(reason));
	dv_bq_google_error((const char *)data, size, msg, sizeof(msg), reason, sizeof(reason));
	one_line(msg, sizeof(msg), "message");
	one_line(reason, sizeof(reason), "reason");
}

/* ---- insertAll answers ---- */

#define IA_ROWS 64

static struct dv_bq_api ia_api;
static struct dv_bq_req ia_req;
static struct dv_bq_row *ia_rows[IA_ROWS];
static uint8_t ia_verdict[IA_ROWS];

/* An insertAll API with one request slot of IA_ROWS rows, once. */
static void ia_open(void)
{
	static char endpoint[] = "https://bigquery.example";
	static struct dv_bq_http http = {.endpoint = endpoint, .log = &quiet_log};
	static struct dv_bq_table_ref table = {"p", "d", "t", "p:d.t"};
	struct dv_bq_api_env env = {
	    .http = &http, .log = &quiet_log, .table = &table, .reqs = &ia_req, .nreqs = 1};

	env.multi = curl_multi_init();
	for (uint32_t i = 0; i < IA_ROWS; i++) {
		ia_rows[i] = calloc(1, sizeof(*ia_rows[i]) + 64);
		dv_fuzz_check(ia_rows[i] != NULL, "out of memory");
		ia_rows[i]->id_len = (uint16_t)snprintf(ia_rows[i]->data, 40, "id-%u:0", i);
		ia_rows[i]->len = 2;
		memcpy(ia_rows[i]->data + ia_rows[i]->id_len + 1, "{}", 3);
	}
	ia_req.rows = ia_rows;
	ia_req.verdict = ia_verdict;
	ia_req.cap = IA_ROWS;
	dv_fuzz_check(dv_bq_insertall_open(&ia_api, &env) == 0, "insertAll open");
}

static void fuzz_insertall(const uint8_t *data, size_t size)
{
	struct dv_bq_req *q = &ia_req;
	uint32_t dead = 0;
	long status;

	if (size < 2)
		return;
	status = statuses[data[0] < sizeof(statuses) / sizeof(statuses[0]) ? data[0] : 0];
	q->nrows = 1 + data[1] % IA_ROWS;
	memset(ia_verdict, 0xee, sizeof(ia_verdict));
	dv_bq_insertall_answer(&ia_api, q, status, (const char *)data + 2, size - 2);
	dv_fuzz_check(q->answered, "not answered");
	dv_fuzz_check(q->answer.outcome <= DV_BQ_TABLE_GONE, "outcome %d", q->answer.outcome);
	one_line(q->answer.error, sizeof(q->answer.error), "insertAll error");
	if (q->answer.outcome == DV_BQ_ANSWERED) {
		dv_fuzz_check(status == 200, "row verdicts from HTTP %ld", status);
		for (uint32_t i = 0; i < q->nrows; i++) {
			dv_fuzz_check(ia_verdict[i] <= DV_BQ_DEAD, "row %u verdict %u", i,
				      ia_verdict[i]);
			dead += ia_verdict[i] == DV_BQ_DEAD;
		}
	} else if (q->answer.outcome == DV_BQ_REFUSED && q->nrows == 1) {
		dv_fuzz_check(ia_verdict[0] == DV_BQ_DEAD, "a lone refused row is not dead");
		dead = 1;
	}
	dv_fuzz_check(q->ndead == dead, "%u rows named dead, %u verdicts DEAD", q->ndead, dead);
	for (uint32_t k = 0; k < q->ndead; k++) {
		uint32_t r = q->dead[k].row;

		dv_fuzz_check(r < q->nrows && ia_verdict[r] == DV_BQ_DEAD, "dead row %u", r);
		for (uint32_t j = 0; j < k; j++)
			dv_fuzz_check(q->dead[j].row != r, "row %u named dead twice", r);
	}
}

/* ---- Storage Write answers ---- */

static void fuzz_storage(const uint8_t *data, size_t size)
{
	struct dv_bq_storage_result res;

	memset(&res, 0, sizeof(res));
	res.bytes = 1234;
	dv_bq_storage_read_append(data, size, &res);
	dv_fuzz_check(res.outcome <= DV_BQS_FAILED, "outcome %d", res.outcome);
	dv_fuzz_check(res.bytes == 1234, "bytes not kept");
	one_line(res.message, sizeof(res.message), "storage message");
	dv_fuzz_check((res.n_row_errors > 0) == (res.outcome == DV_BQS_ROW_ERRORS),
		      "%zu row errors with outcome %s", res.n_row_errors,
		      dv_bq_storage_outcome_name(res.outcome));
	for (size_t i = 0; i < res.n_row_errors; i++)
		one_line(res.row_errors[i].message, sizeof(res.row_errors[i].message), "row error");
	dv_fuzz_check(res.offset == -1 || res.outcome == DV_BQS_OK, "offset %lld with %s",
		      (long long)res.offset, dv_bq_storage_outcome_name(res.outcome));
	dv_bq_storage_result_clear(&res);
}

/* ---- tables.get answers ---- */

/* How many fields of list are named name. */
static size_t fields_named(json_t *list, const char *name)
{
	size_t i, n = 0;
	json_t *f;

	json_array_foreach (list, i, f) {
		const char *got = json_string_value(json_object_get(f, "name"));

		n += got && !strcmp(got, name);
	}
	return n;
}

static void fuzz_table(const uint8_t *data, size_t size)
{
	static json_t *schema; /* devourer's columns, as the schema file lists them */
	json_t *ours;
	json_t *table = json_loadb((const char *)data, size, 0, NULL), *patch = NULL;
	json_t *fields = json_object_get(json_object_get(table, "schema"), "fields");
	json_t *got;
	char err[512];
	int rc;

	if (!schema)
		schema = dv_bq_schema_json();
	ours = json_object_get(schema, "fields");
	memset(err, 0, sizeof(err));
	rc = dv_bq_schema_reconcile(table, "p:d.t", &patch, err, sizeof(err));
	if (rc != 0) {
		dv_fuzz_check(rc == -EINVAL && patch == NULL, "rc %d", rc);
		one_line(err, sizeof(err), "table error");
		dv_fuzz_check(err[0] != '\0', "a conflict without a message");
		json_decref(table);
		return;
	}
	got = json_object_get(json_object_get(patch, "schema"), "fields");
	for (size_t k = 0; k < json_array_size(ours); k++) {
		const char *name =
		    json_string_value(json_object_get(json_array_get(ours, k), "name"));
		size_t had = fields_named(fields, name);

		if (patch == NULL)
			dv_fuzz_check(had > 0, "column %s missing and no patch", name);
		else
			dv_fuzz_check(fields_named(got, name) == (had ? had : 1),
				      "column %s %zu times in the patch", name,
				      fields_named(got, name));
	}
	for (size_t i = 0; patch && i < json_array_size(fields); i++)
		dv_fuzz_check(json_equal(json_array_get(fields, i), json_array_get(got, i)),
			      "the patch changed the table's field %zu", i);
	json_decref(patch);
	json_decref(table);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	ia_open();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size < 1)
		return 0;
	/* Exactly the body's bytes on the heap: ASan sees a read past them. */
	copy = malloc(size - 1 ? size - 1 : 1);
	dv_fuzz_check(copy != NULL, "out of memory");
	memcpy(copy, data + 1, size - 1);
	switch (data[0] % 5) {
	case 0:
		fuzz_token(copy, size - 1);
		break;
	case 1:
		fuzz_google_error(copy, size - 1);
		break;
	case 2:
		fuzz_insertall(copy, size - 1);
		break;
	case 3:
		fuzz_storage(copy, size - 1);
		break;
	default:
		fuzz_table(copy, size - 1);
	}
	free(copy);
	return 0;
}
