/*
 * dv_bq_insertall: rows by tabledata.insertAll (the REST streaming API),
 * behind the upload interface of dv_bq_api.h. A request is one HTTPS POST
 * on the sink's multi handle, each slot keeping its easy handle for
 * connection reuse; its body is the JSON envelope around the rows, each with
 * its insertId "<uuid>:<segment>" (BigQuery's best-effort deduplication of
 * rows sent again).
 *
 * Answers (docs/bigquery.md): 200 is read row by row from insertErrors:
 * "invalid" rows are dead, "stopped" rows (only collateral of an invalid
 * row) go again at once, every other reason, known or not, after a backoff
 * (losing a row is worse). A connection error, timeout, 429, 5xx or 403
 * rateLimitExceeded/quotaExceeded sends the whole batch again; 401 asks for
 * a new token; 400 or 413 refuses the request as a whole, which the sink
 * bisects until the bad row is alone; 404 says the table is not there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dv_bq_api.h"

/* What one slot holds between its requests. */
struct dv_bq_ia_req {
	CURL *easy;
	struct curl_slist *headers;
	struct dv_bq_buf body;
	struct dv_bq_buf resp;
	json_t *answer;		     /* a 200 answer: the strings of dead */
	struct dv_bq_dead_row *dead; /* the rows of insertErrors found invalid */
	uint32_t dead_cap;
	struct dv_bq_dead_row one; /* the lone row of a refused request */
	char msg[240], reason[64]; /* of a refused request */
	char errbuf[CURL_ERROR_SIZE];
};

struct dv_bq_ia {
	const struct dv_bq_http *http;
	struct dv_bq_log *log;
	CURLM *multi;
	char *url;	  /* .../tables/T/insertAll */
	char *table_name; /* project:dataset.table, for messages */
	struct dv_bq_req *reqs;
	uint32_t nreqs;
	struct dv_bq_ia_req *slots;
};

static void dv_bq_ia_forget(struct dv_bq_req *q)
{
	struct dv_bq_ia_req *p = q->priv;

	json_decref(p->answer);
	p->answer = NULL;
	q->dead = NULL;
	q->ndead = 0;
	q->answered = 0;
}

/* ---- the request -------------------------------------------------------------- */

static const char dv_bq_ia_open[] = "{\"kind\":\"bigquery#tableDataInsertAllRequest\","
				    "\"skipInvalidRows\":false,\"ignoreUnknownValues\":false,"
				    "\"rows\":[";

/* The insertAll body around q's rows. 0 or -ENOMEM. */
static int dv_bq_ia_body(struct dv_bq_req *q, struct dv_bq_buf *body)
{
	body->len = 0;
	if (dv_bq_buf_reserve(body, q->bytes))
		return -ENOMEM;
	dv_bq_buf_add(body, dv_bq_ia_open, sizeof(dv_bq_ia_open) - 1);
	for (uint32_t i = 0; i < q->nrows; i++) {
		struct dv_bq_row *r = q->rows[i];

		/* insertIds are "<uuid>:<segment>": nothing to escape. */
		dv_bq_buf_adds(body, i ? ",{\"insertId\":\"" : "{\"insertId\":\"");
		dv_bq_buf_add(body, r->data, r->id_len);
		dv_bq_buf_adds(body, "\",\"json\":");
		dv_bq_buf_add(body, dv_bq_row_text(r), r->len);
		dv_bq_buf_adds(body, "}");
	}
	dv_bq_buf_adds(body, "]}");
	return 0;
}

static int dv_bq_ia_start(struct dv_bq_api *a, struct dv_bq_req *q, const char *auth)
{
	struct dv_bq_ia *ia = a->st;
	struct dv_bq_ia_req *p = q->priv;

	dv_bq_ia_forget(q);
	if (dv_bq_ia_body(q, &p->body))
		return -ENOMEM;
	curl_slist_free_all(p->headers);
	p->headers = NULL;
	if (auth)
		p->headers = curl_slist_append(p->headers, auth);
	p->headers = curl_slist_append(p->headers, "Content-Type: application/json");
	p->headers = curl_slist_append(p->headers, "Expect:"); /* no 100-continue round trip */
	p->resp.len = 0;
	p->errbuf[0] = '\0';
	curl_easy_setopt(p->easy, CURLOPT_URL, ia->url);
	curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, p->headers);
	curl_easy_setopt(p->easy, CURLOPT_POSTFIELDS, p->body.p);
	curl_easy_setopt(p->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->body.len);
	curl_easy_setopt(p->easy, CURLOPT_PRIVATE, q);
	if (curl_multi_add_handle(ia->multi, p->easy) != CURLM_OK)
		return -EIO;
	return 0;
}

/* ---- the answer ------------------------------------------------------------------- */

static int dv_bq_ia_retryable_reason(const char *reason)
{
	return !strcmp(reason, "timeout") || !strcmp(reason, "backendError") ||
	       !strcmp(reason, "internalError") || !strcmp(reason, "stopped");
}

static int dv_bq_ia_rate_limited(const char *reason)
{
	return !strcmp(reason, "rateLimitExceeded") || !strcmp(reason, "quotaExceeded");
}

/* Name row idx dead in q->dead; 0 or -ENOMEM. */
static int dv_bq_ia_add_dead(struct dv_bq_req *q, uint32_t idx, json_t *first)
{
	struct dv_bq_ia_req *p = q->priv;

	if (q->ndead == p->dead_cap) {
		uint32_t cap = p->dead_cap ? p->dead_cap * 2 : 16;
		struct dv_bq_dead_row *d = realloc(p->dead, cap * sizeof(*d));

		if (!d)
			return -ENOMEM;
		p->dead = d;
		p->dead_cap = cap;
	}
	p->dead[q->ndead++] = (struct dv_bq_dead_row){
	    .row = idx,
	    .reason = "invalid",
	    .location = json_string_value(json_object_get(first, "location")),
	    .message = json_string_value(json_object_get(first, "message")),
	};
	q->dead = p->dead;
	return 0;
}

/* One entry of insertErrors: the verdict on the row it names. */
static void dv_bq_ia_row_error(struct dv_bq_ia *ia, struct dv_bq_req *q, json_t *e)
{
	json_int_t idx = json_integer_value(json_object_get(e, "index"));
	json_t *list = json_object_get(e, "errors");
	json_t *first = json_array_get(list, 0);
	const char *reason = json_string_value(json_object_get(first, "reason"));
	json_t *one;
	size_t k;
	int invalid = 0, stopped = 1;

	if (idx < 0 || (uint64_t)idx >= q->nrows || q->verdict[idx] != DV_BQ_OK)
		return;
	json_array_foreach (list, k, one) {
		const char *r = json_string_value(json_object_get(one, "reason"));

		if (r && !strcmp(r, "invalid"))
			invalid = 1;
		if (!r || strcmp(r, "stopped"))
			stopped = 0;
	}
	if (invalid && dv_bq_ia_add_dead(q, (uint32_t)idx, first) == 0) {
		q->verdict[idx] = DV_BQ_DEAD;
		return;
	}
	if (invalid) /* cannot even say why: sent again rather than lost */
		dv_bq_logf(ia->log, DV_BQ_ERR, "row %s: out of memory; sending again",
			   q->rows[idx]->data);
	/* Unknown reasons are retried too: losing a row is worse. */
	else if (reason && !dv_bq_ia_retryable_reason(reason))
		dv_bq_logf(ia->log, DV_BQ_WARN,
			   "row %s: unknown insertError reason '%s'; sending again",
			   q->rows[idx]->data, reason);
	q->verdict[idx] = stopped && !invalid ? DV_BQ_STOPPED : DV_BQ_RETRY;
}

/* A 200 answer, row by row. */
static void dv_bq_ia_rows(struct dv_bq_ia *ia, struct dv_bq_req *q)
{
	struct dv_bq_ia_req *p = q->priv;
	json_t *root = json_loadb(p->resp.p ? p->resp.p : "", p->resp.len, 0, NULL);
	json_t *e;
	size_t i;

	q->answer.outcome = DV_BQ_ANSWERED;
	if (!json_is_object(root)) {
		dv_bq_logf(ia->log, DV_BQ_WARN, "insertAll answer is not JSON; sending again");
		json_decref(root);
		q->answer.failed = 1;
		memset(q->verdict, DV_BQ_RETRY, q->nrows);
		return;
	}
	p->answer = root;
	memset(q->verdict, DV_BQ_OK, q->nrows);
	json_array_foreach (json_object_get(root, "insertErrors"), i, e)
		dv_bq_ia_row_error(ia, q, e);
}

/* Any answer but 200: what it means for the request as a whole. */
static void dv_bq_ia_status(struct dv_bq_ia *ia, struct dv_bq_req *q, long status)
{
	struct dv_bq_ia_req *p = q->priv;
	struct dv_bq_answer *an = &q->answer;

	dv_bq_google_error(p->resp.p ? p->resp.p : "", p->resp.len, p->msg, sizeof(p->msg),
			   p->reason, sizeof(p->reason));
	snprintf(an->error, sizeof(an->error), "insertAll answered HTTP %ld%s%s%s%s", status,
		 p->reason[0] ? " " : "", p->reason, p->msg[0] ? ": " : "", p->msg);
	if (status == 400 || status == 413) {
		/* The request as a whole was refused: the sink finds the row that did it. */
		an->outcome = DV_BQ_REFUSED;
		if (q->nrows == 1) {
			p->one = (struct dv_bq_dead_row){0, p->reason[0] ? p->reason : "invalid",
							 "", p->msg};
			q->verdict[0] = DV_BQ_DEAD;
			q->dead = &p->one;
			q->ndead = 1;
			return;
		}
		dv_bq_logf(ia->log, DV_BQ_WARN,
			   "insertAll refused a batch of %u rows (HTTP %ld %s: %s); splitting it",
			   q->nrows, status, p->reason, p->msg);
		return;
	}
	if (status == 401) {
		dv_bq_logf(ia->log, DV_BQ_WARN, "insertAll answered 401 (%s); renewing the token",
			   p->msg);
		an->outcome = DV_BQ_REAUTH;
		return;
	}
	dv_bq_logf(ia->log,
		   status == 429 || status >= 500 || dv_bq_ia_rate_limited(p->reason) ? DV_BQ_WARN
										      : DV_BQ_ERR,
		   "insertAll into %s answered HTTP %ld%s%s%s%s; %u rows will be sent again",
		   ia->table_name, status, p->reason[0] ? " " : "", p->reason,
		   p->msg[0] ? ": " : "", p->msg, q->nrows);
	an->outcome = status == 404 ? DV_BQ_TABLE_GONE : DV_BQ_SEND_AGAIN;
}

/* The answer in p->resp, with HTTP status, into q->answer (and verdicts). */
static void dv_bq_ia_read(struct dv_bq_ia *ia, struct dv_bq_req *q, long status)
{
	if (status == 200) {
		q->answer.failed = 0;
		dv_bq_ia_rows(ia, q);
		return;
	}
	dv_bq_ia_status(ia, q, status);
}

void dv_bq_insertall_answer(struct dv_bq_api *a, struct dv_bq_req *q, long status, const char *body,
			    size_t len)
{
	struct dv_bq_ia_req *p = q->priv;

	dv_bq_ia_forget(q);
	q->answer = (struct dv_bq_answer){.outcome = DV_BQ_SEND_AGAIN, .failed = 1};
	q->answered = 1;
	p->resp.len = 0;
	if (dv_bq_buf_add(&p->resp, body, len) != 0)
		return; /* out of memory: sent again, as after a lost answer */
	dv_bq_ia_read(a->st, q, status);
}

static void dv_bq_ia_done(struct dv_bq_api *a, CURL *easy, CURLcode rc)
{
	struct dv_bq_ia *ia = a->st;
	struct dv_bq_req *q = NULL;
	struct dv_bq_ia_req *p;
	struct dv_bq_answer *an;
	char what[300];
	long status = 0;
	curl_off_t hdr = 0;

	curl_multi_remove_handle(ia->multi, easy);
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&q);
	p = q->priv;
	an = &q->answer;
	*an = (struct dv_bq_answer){.outcome = DV_BQ_SEND_AGAIN, .failed = 1};
	q->answered = 1;
	curl_easy_getinfo(p->easy, CURLINFO_REQUEST_SIZE, &hdr);
	an->bytes = p->body.len + (uint64_t)hdr;
	if (rc != CURLE_OK) {
		dv_bq_curl_strerror(ia->http, rc, p->errbuf, ia->url, what, sizeof(what));
		dv_bq_logf(ia->log, DV_BQ_WARN, "%s; %u rows will be sent again", what, q->nrows);
		snprintf(an->error, sizeof(an->error), "%s", what);
		return;
	}
	curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
	dv_bq_ia_read(ia, q, status);
}

static void dv_bq_ia_cancel(struct dv_bq_api *a, struct dv_bq_req *q)
{
	struct dv_bq_ia *ia = a->st;
	struct dv_bq_ia_req *p = q->priv;

	curl_multi_remove_handle(ia->multi, p->easy);
	dv_bq_ia_forget(q);
}

/* ---- open / destroy ------------------------------------------------------------------ */

static void dv_bq_ia_destroy(struct dv_bq_api *a)
{
	struct dv_bq_ia *ia = a->st;

	if (!ia)
		return;
	for (uint32_t i = 0; ia->slots && i < ia->nreqs; i++) {
		struct dv_bq_ia_req *p = &ia->slots[i];

		json_decref(p->answer);
		if (p->easy)
			curl_easy_cleanup(p->easy);
		curl_slist_free_all(p->headers);
		dv_bq_buf_free(&p->body);
		dv_bq_buf_free(&p->resp);
		free(p->dead);
		ia->reqs[i].priv = NULL;
	}
	free(ia->slots);
	free(ia->url);
	free(ia->table_name);
	free(ia);
	a->st = NULL;
}

static const struct dv_bq_api_ops dv_bq_ia_ops = {
    .request_bytes = sizeof(dv_bq_ia_open) + 2, /* and "]}" */
    .row_bytes = 32,				/* {"insertId":"","json":}, */
    .start = dv_bq_ia_start,
    .done = dv_bq_ia_done,
    .cancel = dv_bq_ia_cancel,
    .destroy = dv_bq_ia_destroy,
};

int dv_bq_insertall_open(struct dv_bq_api *a, const struct dv_bq_api_env *env)
{
	const struct dv_bq_table_ref *t = env->table;
	struct dv_bq_ia *ia = calloc(1, sizeof(*ia));
	size_t n;

	a->ops = &dv_bq_ia_ops;
	a->st = ia;
	if (!ia)
		return -ENOMEM;
	ia->http = env->http;
	ia->log = env->log;
	ia->multi = env->multi;
	ia->reqs = env->reqs;
	ia->nreqs = env->nreqs;
	n = strlen(env->http->endpoint) + strlen(t->project) + strlen(t->dataset) +
	    strlen(t->table) + 64;
	ia->url = malloc(n);
	if (ia->url)
		snprintf(ia->url, n, "%s/bigquery/v2/projects/%s/datasets/%s/tables/%s/insertAll",
			 env->http->endpoint, t->project, t->dataset, t->table);
	ia->table_name = strdup(t->full);
	ia->slots = calloc(env->nreqs, sizeof(*ia->slots));
	if (!ia->url || !ia->table_name || !ia->slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < env->nreqs; i++) {
		struct dv_bq_ia_req *p = &ia->slots[i];

		p->easy = curl_easy_init();
		if (!p->easy)
			return -ENOMEM;
		dv_bq_http_setup(env->http, p->easy, &p->resp, p->errbuf);
		curl_easy_setopt(p->easy, CURLOPT_POST, 1L);
		env->reqs[i].priv = p;
	}
	return 0;
}
