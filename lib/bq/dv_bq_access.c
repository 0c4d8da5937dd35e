/*
 * dv_bq_access: what must hold before the sink sends a row: a token, kept
 * fresh in the background, and a verified table.
 *
 * The token refresh (struct dv_bq_token) is a transfer on the sink's multi
 * handle, started when a quarter of the token's life is left (or it was
 * refused), with a backoff after a failure; requests wait while there is
 * no usable token.
 *
 * The destination check (struct dv_bq_verify): rows are sent only once the
 * table is verified: token, datasets.get,
 * tables.get (insert on 404, patch for missing columns), schema
 * (dv_bq_table.c). The sink's startup tries once, briefly. A definite
 * answer ends startup with one line; when BigQuery cannot be reached (no
 * connection, timeouts, DNS, 429, 5xx, 403 rate limits) the sink starts
 * anyway, every row goes to the spool, and a helper thread started here
 * repeats the check with backoff until BigQuery answers.
 *
 * The thread owns the auth object and its own HTTP requests until it
 * publishes its result (state, release); the control lcore touches neither
 * auth nor the network for rows before it has read that result (acquire,
 * dv_bq_verify_poll) and joined the thread, so nothing is shared while both
 * run.
 *
 * The marker file "table-verified" in the spool directory says this spool
 * already saw the table verified at this endpoint, so BigQuery being
 * unreachable at startup is an outage, not a misconfiguration.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dv_bq_int.h"
#include "dv_time.h"

#define DV_BQ_MARKER	"table-verified"
#define DV_BQ_REMIND_NS (60 * DV_NS_PER_SEC) /* "still unreachable" once a minute */

/* ---- the token, refreshed in the background ---------------------------------------- */

void dv_bq_token_start(struct dv_bq_token *t, uint64_t now_ns)
{
	char err[256];

	if (t->busy || !dv_bq_auth_wants_refresh(t->auth, now_ns) || now_ns < t->next_ns)
		return;
	curl_easy_reset(t->easy);
	curl_slist_free_all(t->headers);
	t->headers = NULL;
	t->resp.len = 0;
	t->errbuf[0] = '\0';
	dv_bq_http_setup(t->http, t->easy, &t->resp, t->errbuf);
	if (dv_bq_auth_prepare(t->auth, t->easy, &t->headers, dv_realtime_ns(), err, sizeof(err))) {
		dv_bq_logf(t->log, DV_BQ_ERR, "token refresh: %s", err);
		t->next_ns = now_ns + t->backoff_max_ns;
		return;
	}
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, NULL);
	if (curl_multi_add_handle(t->multi, t->easy) == CURLM_OK)
		t->busy = 1;
}

int dv_bq_token_done(struct dv_bq_token *t, CURLcode rc, uint64_t now_ns, char *err, size_t errlen)
{
	long status = 0;
	int ret;

	t->busy = 0;
	if (rc != CURLE_OK) {
		dv_bq_curl_strerror(t->http, rc, t->errbuf, dv_bq_auth_url(t->auth), err, errlen);
		ret = -EIO;
	} else {
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
		ret = dv_bq_auth_finish(t->auth, status, t->resp.p ? t->resp.p : "", t->resp.len,
					now_ns, err, errlen);
	}
	if (t->resp.p)
		memset(t->resp.p, 0, t->resp.cap);
	if (ret == 0) {
		t->backoff_ns = 0;
		return 0;
	}
	t->next_ns =
	    now_ns + dv_bq_backoff_step(&t->backoff_ns, t->backoff_min_ns, t->backoff_max_ns);
	dv_bq_logf(t->log, DV_BQ_WARN, "token refresh failed: %s", err);
	return ret;
}

void dv_bq_token_cancel(struct dv_bq_token *t)
{
	if (!t->busy)
		return;
	curl_multi_remove_handle(t->multi, t->easy);
	t->busy = 0;
}

void dv_bq_token_free(struct dv_bq_token *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	dv_bq_buf_free(&t->resp);
	t->easy = NULL;
	t->headers = NULL;
}

/* ---- the marker of a verified table
 * ------------------------------------------------------------------ */

static void dv_bq_marker_text(const struct dv_bq_verify *v, char *out, size_t n)
{
	snprintf(out, n, "%s %s\n", v->http->endpoint, v->table_name);
}

static int dv_bq_marker_ok(const struct dv_bq_verify *v)
{
	char want[1024], got[1024] = "", path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", v->spool_dir, DV_BQ_MARKER);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(got, sizeof(got), f))
		got[0] = '\0';
	fclose(f);
	dv_bq_marker_text(v, want, sizeof(want));
	return strcmp(want, got) == 0;
}

static void dv_bq_marker_write(const struct dv_bq_verify *v)
{
	char text[1024], path[4200], tmp[4210];
	FILE *f;

	if (dv_bq_marker_ok(v))
		return;
	dv_bq_marker_text(v, text, sizeof(text));
	snprintf(path, sizeof(path), "%s/%s", v->spool_dir, DV_BQ_MARKER);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f || fputs(text, f) < 0 || fflush(f) || fsync(fileno(f))) {
		if (f)
			fclose(f);
		unlink(tmp);
		return; /* only costs a slower start during a later outage */
	}
	fclose(f);
	rename(tmp, path);
}

/* ---- one check ----------------------------------------------------------------------- */

static int dv_bq_verify_once(struct dv_bq_verify *v, const struct dv_bq_http *h, uint64_t deadline,
			     char *err, size_t errlen)
{
	char aerr[400];
	int rc = 0;

	if (!dv_bq_auth_header(v->auth, dv_monotonic_ns()))
		rc = dv_bq_auth_fetch_sync(v->auth, h, deadline, aerr, sizeof(aerr));
	if (rc) {
		snprintf(err, errlen, "BigQuery authentication failed: %s", aerr);
		return rc;
	}
	return dv_bq_table_prepare(h, dv_bq_auth_header(v->auth, dv_monotonic_ns()), &v->table,
				   deadline, err, errlen);
}

int dv_bq_verify_now(struct dv_bq_verify *v, uint64_t deadline_ns, char *err, size_t errlen)
{
	int rc = dv_bq_verify_once(v, v->http, deadline_ns, err, errlen);

	if (rc == 0)
		dv_bq_marker_write(v);
	return rc;
}

/* ---- the helper thread ------------------------------------------------------------------ */

static int dv_bq_verify_cancelled(struct dv_bq_verify *v)
{
	return __atomic_load_n(&v->cancel, __ATOMIC_ACQUIRE);
}

static void *dv_bq_verify_main(void *arg)
{
	struct dv_bq_verify *v = arg;
	struct dv_bq_http h = *v->http;
	uint64_t backoff = 0;
	uint64_t remind = dv_monotonic_ns() + DV_BQ_REMIND_NS;
	char err[sizeof(v->err)];
	int rc, result;

	h.quiet_retries = 1; /* one reminder a minute, not a line per retry */
	h.cancel = &v->cancel;
	for (;;) {
		uint64_t now, wait;

		rc = dv_bq_verify_once(v, &h, dv_monotonic_ns() + v->timeout_ns, err, sizeof(err));
		if (rc == 0 || !dv_bq_transient(rc) || dv_bq_verify_cancelled(v))
			break;
		now = dv_monotonic_ns();
		if (now >= remind) {
			remind = now + DV_BQ_REMIND_NS;
			dv_bq_logf(v->log, DV_BQ_WARN,
				   "BigQuery still cannot be reached (%s); rows wait in the spool "
				   "%s",
				   err, v->spool_dir);
		}
		wait = dv_bq_backoff_step(&backoff, v->backoff_min_ns, v->backoff_max_ns);
		for (uint64_t t0 = now;
		     dv_monotonic_ns() - t0 < wait && !dv_bq_verify_cancelled(v);)
			nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
		if (dv_bq_verify_cancelled(v))
			break;
	}
	result = dv_bq_verify_cancelled(v) ? DV_BQ_VERIFY_CANCELLED
		 : rc == 0		   ? DV_BQ_VERIFY_OK
					   : DV_BQ_VERIFY_REFUSED;
	snprintf(v->err, sizeof(v->err), "%s", rc == 0 ? "" : err);
	__atomic_store_n(&v->state, result, __ATOMIC_RELEASE);
	return NULL;
}

int dv_bq_verify_start(struct dv_bq_verify *v, const char *why)
{
	int rc = pthread_create(&v->tid, NULL, dv_bq_verify_main, v);

	if (rc)
		return -rc;
	v->running = 1;
	dv_bq_logf(v->log, DV_BQ_WARN,
		   "BigQuery cannot be reached (%s): starting anyway; rows are spooled in %s "
		   "and sent once BigQuery answers and the table %s is verified%s",
		   why, v->spool_dir, v->table_name,
		   dv_bq_marker_ok(v) ? " (it was verified before)" : "");
	return 0;
}

int dv_bq_verify_poll(struct dv_bq_verify *v)
{
	int st;

	if (!v->running)
		return DV_BQ_VERIFY_RUNNING;
	st = __atomic_load_n(&v->state, __ATOMIC_ACQUIRE);
	if (st == DV_BQ_VERIFY_RUNNING)
		return st;
	pthread_join(v->tid, NULL);
	v->running = 0;
	if (st == DV_BQ_VERIFY_OK)
		dv_bq_marker_write(v);
	return st;
}

void dv_bq_verify_stop(struct dv_bq_verify *v)
{
	if (!v->running)
		return;
	__atomic_store_n(&v->cancel, 1, __ATOMIC_RELEASE);
	pthread_join(v->tid, NULL);
	v->running = 0;
}

/* ---- setup ------------------------------------------------------------------------------ */

int dv_bq_verify_init(struct dv_bq_verify *v, const struct dv_bq_config *c)
{
	v->table.project = strdup(c->project);
	v->table.dataset = strdup(c->dataset);
	v->table.table = strdup(c->table);
	v->table.create_table = c->create_table;
	v->timeout_ns = c->startup_timeout_ns;
	v->backoff_min_ns = c->backoff_min_ns;
	v->backoff_max_ns = c->backoff_max_ns;
	return v->table.project && v->table.dataset && v->table.table ? 0 : -ENOMEM;
}

void dv_bq_verify_free(struct dv_bq_verify *v)
{
	dv_bq_verify_stop(v);
	free((char *)v->table.project);
	free((char *)v->table.dataset);
	free((char *)v->table.table);
	memset(&v->table, 0, sizeof(v->table));
}
