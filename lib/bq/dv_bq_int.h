/*
 * dv_bq_int: what the files of the BigQuery client share and nobody else
 * sees. Which file does what:
 *   dv_bq_sink.c       the sink: what to send and when (queue, memory window,
 *                      batches, backoff, drain), every row's fate and the
 *                      accounting, dead letters, settings and startup
 *   dv_bq_api.h        the small interface behind which each upload API sits
 *   dv_bq_insertall.c  tabledata.insertAll: request bodies, answers to verdicts
 *   dv_bq_access.c     what must hold before rows are sent: the token kept
 *                      fresh (in the background), the destination check
 *                      (at startup, then a helper thread while BigQuery
 *                      cannot be reached) and its marker
 *   dv_bq_http.c       logging, libcurl setup, synchronous startup requests,
 *                      Google's error envelope, the one backoff rule
 *   dv_bq_auth.c       service-account JWT, token exchange, metadata server
 *   dv_bq_table.c      schema, datasets.get, tables.get/insert/patch
 *   dv_bq_proto.c      rows as protobuf for the Storage Write API
 *   dv_spool.c         the durable queue (dv_spool.h)
 */
#ifndef DV_BQ_INT_H
#define DV_BQ_INT_H

#include <errno.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "dv_bq.h"

/* ---- logging (dv_bq_http.c) ---------------------------------------------- */

struct dv_bq_log {
	dv_bq_log_fn fn; /* NULL: rte_log */
	void *arg;
};

#define DV_BQ_ERR    4 /* RTE_LOG_ERR */
#define DV_BQ_WARN   5 /* RTE_LOG_WARNING */
#define DV_BQ_NOTICE 6 /* RTE_LOG_NOTICE */
#define DV_BQ_INFO   7 /* RTE_LOG_INFO */
#define DV_BQ_DEBUG  8 /* RTE_LOG_DEBUG */

void dv_bq_logf(const struct dv_bq_log *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A setting in a message: what the caller calls it (struct dv_bq_names),
 * else the library's own word for it. */
static inline const char *dv_bq_name(const char *callers, const char *ours)
{
	return callers ? callers : ours;
}

/* ---- growable byte buffer -------------------------------------------------- */

struct dv_bq_buf {
	char *p;
	size_t len;
	size_t cap;
};

int dv_bq_buf_reserve(struct dv_bq_buf *b, size_t extra); /* 0 or -ENOMEM */
int dv_bq_buf_add(struct dv_bq_buf *b, const void *p, size_t n);
static inline int dv_bq_buf_adds(struct dv_bq_buf *b, const char *s)
{
	return dv_bq_buf_add(b, s, __builtin_strlen(s));
}
void dv_bq_buf_free(struct dv_bq_buf *b);

/* ---- HTTP (dv_bq_http.c) ----------------------------------------------------- */

/* Everything an easy handle needs that does not change per request. */
struct dv_bq_http {
	char *endpoint; /* API root without trailing '/' */
	char *ca_file;	/* NULL: system CAs only */
	char *ca_path;	/* system CA directory kept alongside ca_file */
	char *user_agent;
	long connect_timeout_ms;
	long request_timeout_ms;
	struct dv_bq_log *log;
	const struct dv_bq_names *names; /* for messages; NULL: the library's words */
	int quiet_retries;		 /* dv_bq_http_sync logs its retries at DEBUG, not WARN */
	const int *cancel;		 /* dv_bq_http_sync gives up (-ECANCELED) once *cancel */
};

/* Set TLS, timeouts, keep-alive and the user agent on a (new or reset) easy
 * handle, and the response sink (appends to resp, capped). */
void dv_bq_http_setup(const struct dv_bq_http *h, CURL *e, struct dv_bq_buf *resp, char *errbuf);

/* Validate an http(s) URL; 0 or -EINVAL with the reason in err. */
int dv_bq_url_check(const char *url, const char *what, char *err, size_t errlen);

/*
 * One synchronous request for startup work. method "GET", "POST", "PATCH";
 * body may be NULL. Retries connection errors, timeouts, 429 and 5xx with
 * backoff until deadline_ns (monotonic). Returns the HTTP status (>0) with the
 * answer in resp, or a negative errno with one line in err: -EHOSTUNREACH
 * (no connection until the deadline), -EAGAIN (429/5xx until the deadline)
 * and -ETIMEDOUT (no time left to try) mean "not now" (dv_bq_transient);
 * -ECANCELED that h->cancel was set; -EIO a failure retrying does not fix.
 */
long dv_bq_http_sync(const struct dv_bq_http *h, const char *method, const char *url,
		     const char *auth_header, const char *ctype, const char *body, size_t body_len,
		     uint64_t deadline_ns, struct dv_bq_buf *resp, char *err, size_t errlen);

/* 1 for the negative errnos of the startup requests that mean "BigQuery
 * cannot be reached now" rather than "this configuration is wrong". */
static inline int dv_bq_transient(int rc)
{
	return rc == -EHOSTUNREACH || rc == -EAGAIN || rc == -ETIMEDOUT;
}

/* Describe a curl failure in one line, e.g. for CURLE_PEER_FAILED_VERIFICATION
 * a hint about the CA file setting (h->names->ca_file). */
void dv_bq_curl_strerror(const struct dv_bq_http *h, CURLcode rc, const char *errbuf,
			 const char *url, char *err, size_t errlen);

/* From Google's error envelope: message and first reason ("" if none). */
void dv_bq_google_error(const char *body, size_t len, char *msg, size_t msglen, char *reason,
			size_t reasonlen);
/* Control characters in s (line breaks included) become spaces: text from a
 * server or a table goes into one log line. */
void dv_bq_one_line(char *s);

/* Escape one URL path segment into out; returns 0 or -ENOSPC. */
int dv_bq_path_escape(const char *s, char *out, size_t cap);

/* Random in [0, n) for backoff jitter (not for secrets). */
uint64_t dv_bq_jitter(uint64_t n);

/*
 * One step of exponential backoff with jitter, the one rule every retry here
 * follows: *delay becomes min on the first step (*delay 0), else doubles, up
 * to max; returns the time to wait, a random point in [*delay / 2, *delay].
 */
static inline uint64_t dv_bq_backoff_step(uint64_t *delay, uint64_t min, uint64_t max)
{
	*delay = *delay ? *delay * 2 : min;
	if (*delay > max)
		*delay = max;
	return *delay / 2 + dv_bq_jitter(*delay / 2 + 1);
}

/* ---- auth (dv_bq_auth.c) ------------------------------------------------------- */

struct dv_bq_auth;

/* Resolve the mode (auto -> key / metadata / none), load the key, check the
 * key file's permissions. NULL with one line in err. */
struct dv_bq_auth *dv_bq_auth_create(const struct dv_bq_config *c, struct dv_bq_log *log, char *err,
				     size_t errlen);
void dv_bq_auth_destroy(struct dv_bq_auth *a);

/* 1 if requests need no token (mode none). */
int dv_bq_auth_is_none(const struct dv_bq_auth *a);

/* "Authorization: Bearer ..." while the token is usable at now_ns
 * (monotonic), else NULL. For mode none always NULL. */
const char *dv_bq_auth_header(const struct dv_bq_auth *a, uint64_t now_ns);

/* 1 when a refresh should start (token missing, or 3/4 of its life gone). */
int dv_bq_auth_wants_refresh(const struct dv_bq_auth *a, uint64_t now_ns);

/* Forget the token (the service answered 401). */
void dv_bq_auth_invalidate(struct dv_bq_auth *a);

/* Prepare e (already set up by dv_bq_http_setup) for a token request;
 * *headers is set to a list the caller frees after the transfer. 0 or
 * negative errno with err. */
int dv_bq_auth_prepare(struct dv_bq_auth *a, CURL *e, struct curl_slist **headers, uint64_t wall_ns,
		       char *err, size_t errlen);

/* Take the token endpoint's answer. 0, or negative errno with one line in
 * err (the endpoint's error code and description, never a token). */
int dv_bq_auth_finish(struct dv_bq_auth *a, long status, const char *body, size_t len,
		      uint64_t now_ns, char *err, size_t errlen);

/* Startup: fetch a token synchronously. */
int dv_bq_auth_fetch_sync(struct dv_bq_auth *a, const struct dv_bq_http *h, uint64_t deadline_ns,
			  char *err, size_t errlen);

/* The token URL in use (for messages). */
const char *dv_bq_auth_url(const struct dv_bq_auth *a);

/* ---- table (dv_bq_table.c) ------------------------------------------------------- */

/* The table's names: path segments escaped for URLs, and
 * "project:dataset.table" for messages. */
struct dv_bq_table_ref {
	char project[256], dataset[256], table[256]; /* escaped */
	char full[800];
};

/* Fill r from c; 0, or -EINVAL with one line in err when a name is too long. */
int dv_bq_table_ref(const struct dv_bq_config *c, struct dv_bq_table_ref *r, char *err,
		    size_t errlen);

/* Compare a tables.get answer's schema with ours: the columns devourer
 * writes that the table lacks go, as NULLABLE, after a copy of its fields in
 * *patch (NULL when none is missing). 0, or -EINVAL with the conflict on one
 * line in err. */
int dv_bq_schema_reconcile(json_t *table, const char *full, json_t **patch, char *err,
			   size_t errlen);

/* datasets.get, tables.get, tables.insert on 404 (409 fine), tables.patch
 * for missing columns; conflicting columns are an error. 0 or negative errno
 * with one line in err. */
int dv_bq_table_prepare(const struct dv_bq_http *h, const char *auth_header,
			const struct dv_bq_config *c, uint64_t deadline_ns, char *err,
			size_t errlen);

/* ---- access: the token kept fresh (dv_bq_access.c) -------------------------------- */

/* The token's refresh in the background, a transfer on the sink's multi
 * handle. The sink sets everything above easy; easy from curl_easy_init(). */
struct dv_bq_token {
	struct dv_bq_auth *auth;
	const struct dv_bq_http *http;
	struct dv_bq_log *log;
	CURLM *multi;
	uint64_t backoff_min_ns, backoff_max_ns;
	CURL *easy; /* the sink tells its transfer apart by it */
	struct curl_slist *headers;
	struct dv_bq_buf resp;
	char errbuf[CURL_ERROR_SIZE];
	int busy;
	uint64_t backoff_ns; /* current delay, 0 after a success */
	uint64_t next_ns;    /* monotonic: no refresh before this */
};

/* Start a refresh on the multi handle when the token wants one (missing, or
 * 3/4 of its life gone) and no backoff is pending. */
void dv_bq_token_start(struct dv_bq_token *t, uint64_t now_ns);

/* t->easy ended with rc (the caller removed it from the multi handle): 0,
 * or a negative errno with one line in err (logged; the next try waits for
 * a backoff). */
int dv_bq_token_done(struct dv_bq_token *t, CURLcode rc, uint64_t now_ns, char *err, size_t errlen);

/* Stop a refresh in flight. */
void dv_bq_token_cancel(struct dv_bq_token *t);

void dv_bq_token_free(struct dv_bq_token *t);

/* ---- access: the destination check (dv_bq_access.c) -------------------------------- */

enum { DV_BQ_VERIFY_RUNNING = 0, DV_BQ_VERIFY_OK, DV_BQ_VERIFY_REFUSED, DV_BQ_VERIFY_CANCELLED };

struct dv_bq_verify {
	/* Set by the sink before the first check; kept, not copied. */
	struct dv_bq_auth *auth; /* the helper thread's alone while it runs */
	const struct dv_bq_http *http;
	struct dv_bq_log *log;
	const char *spool_dir;	/* where the marker is */
	const char *table_name; /* project:dataset.table, for messages */
	/* Set by dv_bq_verify_init(). */
	struct dv_bq_config table; /* project, dataset, table (copies), create_table */
	uint64_t timeout_ns;	   /* one round of startup requests at most */
	uint64_t backoff_min_ns, backoff_max_ns;
	/* The helper thread. */
	int state;   /* DV_BQ_VERIFY_*: its result (atomic) */
	int cancel;  /* asks it to stop (atomic) */
	int running; /* started and not joined yet */
	pthread_t tid;
	char err[640]; /* its definite answer, read after state */
};

/* Copy what the check needs from c. 0 or -ENOMEM. */
int dv_bq_verify_init(struct dv_bq_verify *v, const struct dv_bq_config *c);

/* Stop the helper if it runs, and free the copies. */
void dv_bq_verify_free(struct dv_bq_verify *v);

/* Check now, until deadline_ns (monotonic): 0 (and the marker written), or
 * a negative errno with one line in err; dv_bq_transient(rc) means BigQuery
 * could not be reached. */
int dv_bq_verify_now(struct dv_bq_verify *v, uint64_t deadline_ns, char *err, size_t errlen);

/* Start the helper thread after a check that could not reach BigQuery (why:
 * its message), and say so. 0 or a negative errno. */
int dv_bq_verify_start(struct dv_bq_verify *v, const char *why);

/* The helper's result, taken over once it has finished (joined, the marker
 * written on success): DV_BQ_VERIFY_OK, _REFUSED (why in v->err) or
 * _CANCELLED; DV_BQ_VERIFY_RUNNING while it runs or when none was started. */
int dv_bq_verify_poll(struct dv_bq_verify *v);

/* Ask the helper to stop and join it (it uses auth, http and the names). */
void dv_bq_verify_stop(struct dv_bq_verify *v);

#endif
