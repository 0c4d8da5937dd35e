/*
 * dv_bq_sink: the BigQuery sink (struct dv_sink_ops), which decides what to
 * send and when. write() only queues a copy of the row; poll() drives
 * libcurl's multi interface without waiting (curl_multi_perform +
 * curl_multi_info_read), hands batches to the upload API (dv_bq_api.h;
 * insertAll, dv_bq_insertall.c) when batch_rows or flush_interval is
 * reached, refreshes the access token in the background, and settles each
 * answer. drain() and dv_bq_sink_drain_spool() are the only places that
 * wait for rows, in one loop (dv_bq_drain_loop) under their own rules for
 * when to stop. Rows are sent only once the table is verified
 * (dv_bq_access.c).
 *
 * Every row is in exactly one place: the queue (FIFO, oldest first), one
 * in-flight request, or gone (delivered, dead-lettered or dropped), and
 * each move updates s->stats in the same step, so
 *     rows_in = rows_delivered + rows_pending + rows_dead + rows_dropped
 * holds after every call (rows_in + rows_recovered on the left once rows
 * were found in the spool at startup). Rows that must be sent again go back
 * to the head of the queue in their order.
 *
 * Durability (dv_spool.c): with write_ahead on, write() appends every row to
 * the spool before it is queued (group-committed every commit interval), and
 * its record is marked done when BigQuery accepted or dead-lettered it, so a
 * kill -9 loses at most the last commit interval. With write_ahead off, only
 * rows that cannot be delivered now (dv_bq_requeue) or do not fit in memory
 * are spooled. Either way memory holds a bounded window of rows; the rest
 * waits on disk only ("spooled") and is loaded back oldest first when the
 * window has room (dv_bq_refill), interleaved with fresh rows so a big
 * backlog never starves them. drain() sends until the deadline, then leaves
 * everything in the spool.
 *
 * Answers (docs/bigquery.md), as the API reads them (struct dv_bq_answer):
 * a request to send again (connection errors, timeouts, 429, 5xx, 403
 * rateLimitExceeded/quotaExceeded) waits for an exponential backoff with
 * jitter (backoff_min doubling to backoff_max); a refused token is renewed;
 * a request refused as a whole is bisected until the bad row is alone, then
 * dead-lettered; rows refused for good go to the dead-letter file (NDJSON,
 * fdatasync'ed), the others are sent again ("stopped" rows without waiting:
 * they were only collateral of an invalid row).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dv_bq_api.h"
#include "dv_row.h"
#include "dv_time.h"

#define DV_BQ_DEFAULT_ENDPOINT "https://bigquery.googleapis.com"
#define DV_BQ_START_WAIT_NS    (5 * DV_NS_PER_SEC) /* startup waits this long for BigQuery */
#define DV_BQ_REFILL_BYTES     (4u << 20)	   /* spool read per poll at most */

/*
 * A row of up to DV_BQ_ROW_BLOCK bytes takes a block of that size, and a
 * freed block is kept for the next row (at most window_rows of them): a row
 * then costs no malloc, and the heap does not shrink after every batch only
 * to fault its pages in again for the next, which perf of bench_bq found to
 * be the largest single cost of a row on the control lcore.
 */
#define DV_BQ_ROW_BLOCK 1024

static inline size_t dv_bq_row_size(size_t id_len, size_t len)
{
	size_t n = sizeof(struct dv_bq_row) + id_len + len + 2;

	return n <= DV_BQ_ROW_BLOCK ? DV_BQ_ROW_BLOCK : n;
}

static inline size_t dv_bq_row_mem(const struct dv_bq_row *r)
{
	return dv_bq_row_size(r->id_len, r->len);
}

/* Whether rows may be sent: the table was verified (auth, dataset, table and
 * schema), is being checked while BigQuery cannot be reached, or BigQuery
 * gave a definite "no" (dataset missing, schema conflict, key refused). */
enum dv_bq_table_state { DV_BQ_TABLE_OK = 0, DV_BQ_TABLE_CHECKING, DV_BQ_TABLE_REFUSED };

struct dv_bq_sink {
	struct dv_sink sink;
	struct dv_bq_log log;
	struct dv_bq_names names; /* what the caller calls the settings, for messages */
	struct dv_bq_http http;
	struct dv_bq_auth *auth;
	CURLM *multi;
	struct dv_bq_api api; /* how rows go: insertAll or the Storage Write API */
	char *table_name;     /* project:dataset.table, for messages */

	/* queue */
	struct dv_bq_row *head, *tail;
	uint64_t nqueued;
	uint64_t nmem;		 /* rows in memory: queued and in flight */
	struct dv_bq_row *spare; /* freed row blocks for reuse (dv_bq_row_alloc) */
	uint64_t nspare;
	size_t mem_bytes; /* queued and in flight */

	/* spool */
	struct dv_spool *spool;
	int write_ahead;
	uint64_t window_rows; /* write-ahead: rows held in memory at most, the rest waits on disk */
	uint64_t spill_fail_logged;
	uint64_t last_drop_log_ns;
	char last_error[640]; /* last reason a batch was not accepted, for drain_spool */
	const volatile sig_atomic_t *stop_flag; /* bounds drain(), see dv_bq.h */
	uint64_t shutdown_ns;
	char *spool_dir;

	/* limits */
	uint32_t batch_rows;
	uint32_t batch_limit; /* batch_rows, or less while a bad request is bisected */
	uint32_t take_rows;   /* rows a request takes when not bisecting (>= batch_rows) */
	uint64_t flush_ns;
	size_t batch_max_bytes;
	size_t mem_max_bytes;
	uint64_t backoff_min_ns, backoff_max_ns;

	/* requests */
	struct dv_bq_req *reqs;
	uint32_t nreqs;
	uint32_t inflight;
	uint64_t backoff_ns;   /* current delay, 0 after a success */
	uint64_t next_send_ns; /* monotonic: no new batch before this */
	int draining;

	struct dv_bq_token token; /* its refresh in the background (dv_bq_access.c) */

	/* dead letters */
	int dl_fd;
	char *dl_path;

	uint64_t now_ns; /* monotonic, as of the last poll */
	uint64_t drops_logged;

	/* The destination check (dv_bq_access.c). */
	enum dv_bq_table_state table; /* the control lcore's view */
	struct dv_bq_verify verify;
};

static struct dv_bq_sink *dv_bq_of(struct dv_sink *s)
{
	return s->priv;
}

/* ---- queue ------------------------------------------------------------------ */

static void dv_bq_push_tail(struct dv_bq_sink *s, struct dv_bq_row *r)
{
	r->next = NULL;
	if (s->tail)
		s->tail->next = r;
	else
		s->head = r;
	s->tail = r;
	s->nqueued++;
}

/* Put rows[0..n) back at the head of the queue, in their order. */
static void dv_bq_push_head(struct dv_bq_sink *s, struct dv_bq_row **rows, uint32_t n)
{
	for (uint32_t i = n; i-- > 0;) {
		rows[i]->next = s->head;
		s->head = rows[i];
		if (!s->tail)
			s->tail = rows[i];
		s->nqueued++;
	}
}

static struct dv_bq_row *dv_bq_row_alloc(struct dv_bq_sink *s, size_t mem)
{
	struct dv_bq_row *r = s->spare;

	if (mem != DV_BQ_ROW_BLOCK || !r)
		return malloc(mem);
	s->spare = r->next;
	s->nspare--;
	return r;
}

static void dv_bq_row_free(struct dv_bq_sink *s, struct dv_bq_row *r)
{
	size_t mem = dv_bq_row_mem(r);

	s->mem_bytes -= mem;
	s->nmem--;
	if (mem == DV_BQ_ROW_BLOCK && s->nspare < s->window_rows) {
		r->next = s->spare;
		s->spare = r;
		s->nspare++;
		return;
	}
	free(r);
}

/* rows_spooled is what only the disk holds: the spool's "out" records. */
static void dv_bq_sync_spooled(struct dv_bq_sink *s)
{
	s->sink.stats.rows_spooled = s->spool ? dv_spool_out(s->spool) : 0;
}

/* A row reached its final fate: its spool record is never sent again. */
static void dv_bq_settled(struct dv_bq_sink *s, struct dv_bq_row *r)
{
	if (r->ref.seg)
		dv_spool_done(s->spool, &r->ref);
}

/* ---- row fates: where a row leaves "pending" (and dv_bq_put_away, which drops a
 * row the spool cannot take) ---------------------------------------------------- */

static void dv_bq_delivered(struct dv_bq_sink *s, struct dv_bq_row *r)
{
	dv_bq_settled(s, r);
	s->sink.stats.rows_pending--;
	s->sink.stats.rows_delivered++;
	dv_bq_row_free(s, r);
}

static void dv_bq_dropped(struct dv_bq_sink *s, struct dv_bq_row *r)
{
	dv_bq_settled(s, r);
	s->sink.stats.rows_pending--;
	s->sink.stats.rows_dropped++;
	dv_bq_row_free(s, r);
}

/* Append one dead letter; the caller fdatasyncs once per answer. */
static void dv_bq_dead(struct dv_bq_sink *s, struct dv_bq_row *r, const char *reason,
		       const char *location, const char *message)
{
	char ts[32];
	json_t *row = json_loadb(dv_bq_row_text(r), r->len, 0, NULL);
	json_t *o;
	char *line;
	size_t len, off = 0;

	dv_time_format(dv_realtime_ns(), ts);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "insertId", r->data, "reason",
		      reason ? reason : "invalid", "location", location ? location : "", "error",
		      message ? message : "", "time", ts);
	if (row)
		json_object_set_new(o, "row", row);
	else /* not even JSON: keep the text */
		json_object_set_new(o, "row_text", json_stringn(dv_bq_row_text(r), r->len));
	line = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!line) {
		dv_bq_logf(&s->log, DV_BQ_ERR, "out of memory writing a dead letter; row %s lost",
			   r->data);
		dv_bq_dropped(s, r);
		return;
	}
	len = strlen(line);
	line[len++] = '\n'; /* replaces the NUL; written by length */
	while (off < len) {
		ssize_t n = write(s->dl_fd, line + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			dv_bq_logf(&s->log, DV_BQ_ERR,
				   "cannot write dead-letter file %s: %s; row %s lost", s->dl_path,
				   strerror(errno), r->data);
			free(line);
			dv_bq_dropped(s, r);
			return;
		}
		off += (size_t)n;
	}
	free(line);
	/* A capture from years ago can reject every row: log the first few and
	 * then one line per thousand, the file has them all. */
	if (s->sink.stats.rows_dead < 10 || (s->sink.stats.rows_dead + 1) % 1000 == 0)
		dv_bq_logf(&s->log, DV_BQ_WARN,
			   "row %s rejected (%s%s%s: %s), written to %s (%" PRIu64 " so far)",
			   r->data, reason ? reason : "invalid",
			   location && location[0] ? " at " : "", location ? location : "",
			   message ? message : "", s->dl_path, s->sink.stats.rows_dead + 1);
	dv_bq_settled(s, r);
	s->sink.stats.rows_pending--;
	s->sink.stats.rows_dead++;
	dv_bq_row_free(s, r);
}

/* Write a row that is only in memory to the spool; loaded as in
 * dv_spool_append. 0 or negative errno. */
static int dv_bq_spill(struct dv_bq_sink *s, struct dv_bq_row *r, int loaded)
{
	int rc;

	if (r->ref.seg)
		return 0;
	rc = dv_spool_append(s->spool, r->data, r->id_len, dv_bq_row_text(r), r->len, loaded,
			     &r->ref);
	if (rc && s->spill_fail_logged++ % 10000 == 0) {
		char why[200];

		if (rc == -ENOSPC)
			snprintf(why, sizeof(why), "spool full (%s or disk)",
				 dv_bq_name(s->names.spool_max_bytes, "spool size limit"));
		else
			snprintf(why, sizeof(why), "%s", strerror(-rc));
		dv_bq_logf(&s->log, DV_BQ_ERR,
			   "cannot spool row %s: %s (%" PRIu64 " such failures so far)", r->data,
			   why, s->spill_fail_logged);
	}
	return rc;
}

/* Rows that cannot be delivered now go back to the head of the queue; without
 * write-ahead this is where they reach the spool (a failed row stays in
 * memory as well, so the retry needs no disk read). */
static void dv_bq_requeue(struct dv_bq_sink *s, struct dv_bq_row **rows, uint32_t n)
{
	for (uint32_t i = 0; i < n && !s->write_ahead; i++)
		dv_bq_spill(s, rows[i], 1);
	dv_bq_push_head(s, rows, n);
}

/* Leave every row in memory to the spool (drain deadline, destroy): rows
 * already there are only forgotten, the others appended; a row the spool
 * cannot take is lost and counted as dropped. */
static void dv_bq_put_away(struct dv_bq_sink *s)
{
	uint64_t lost = 0;

	while (s->head) {
		struct dv_bq_row *r = s->head;

		s->head = r->next;
		s->nqueued--;
		if (r->ref.seg) {
			dv_spool_unload(s->spool, &r->ref);
		} else if (dv_bq_spill(s, r, 0)) {
			s->sink.stats.rows_pending--;
			s->sink.stats.rows_dropped++;
			lost++;
		}
		dv_bq_row_free(s, r);
	}
	s->tail = NULL;
	if (dv_spool_commit(s->spool))
		dv_bq_logf(&s->log, DV_BQ_ERR, "spool: the last rows may not be on disk");
	if (lost)
		dv_bq_logf(&s->log, DV_BQ_ERR,
			   "%" PRIu64 " rows could not be spooled and are lost (counted dropped)",
			   lost);
	dv_bq_sync_spooled(s);
}

/* ---- backoff ------------------------------------------------------------------ */

/* No new request before a backoff from now, nor before at_least_ns (the
 * service's own wait; 0: none). */
static void dv_bq_backoff(struct dv_bq_sink *s, uint64_t at_least_ns)
{
	/* Already waiting: answers of the same outage count once. */
	if (s->now_ns >= s->next_send_ns)
		s->next_send_ns = s->now_ns + dv_bq_backoff_step(&s->backoff_ns, s->backoff_min_ns,
								 s->backoff_max_ns);
	if (s->next_send_ns < s->now_ns + at_least_ns)
		s->next_send_ns = s->now_ns + at_least_ns;
}

/* Fill a new in-memory row (insertId and JSON, each NUL-terminated) and
 * queue it at the tail. mem is its allocation size, counted in mem_bytes. */
static void dv_bq_row_fill(struct dv_bq_sink *s, struct dv_bq_row *r, size_t mem,
			   const struct dv_spool_ref *ref, uint64_t queued_ns, const char *id,
			   size_t id_len, const char *row, size_t len)
{
	r->ref = *ref;
	r->queued_ns = queued_ns;
	r->len = (uint32_t)len;
	r->id_len = (uint16_t)id_len;
	r->sends = 0;
	memcpy(r->data, id, id_len);
	r->data[id_len] = '\0';
	memcpy(r->data + id_len + 1, row, len);
	r->data[id_len + 1 + len] = '\0';
	s->mem_bytes += mem;
	s->nmem++;
	dv_bq_push_tail(s, r);
}

/* ---- write ---------------------------------------------------------------------- */

/* A new row the spool could not take (rc of dv_spool_append) was dropped:
 * an error, but one line per 10 s at most: the disk is full. */
static void dv_bq_log_drop(struct dv_bq_sink *s, int rc)
{
	s->drops_logged++;
	if (s->drops_logged != 1 && s->now_ns - s->last_drop_log_ns < 10 * DV_NS_PER_SEC)
		return;
	s->last_drop_log_ns = s->now_ns;
	dv_bq_logf(&s->log, DV_BQ_ERR,
		   "spool cannot take rows (%s%s; %" PRIu64 " rows waiting): dropping new rows, "
		   "%" PRIu64 " so far",
		   rc == -ENOSPC ? dv_bq_name(s->names.spool_max_bytes, "spool size limit")
				 : strerror(-rc),
		   rc == -ENOSPC ? " reached or disk full" : "", s->sink.stats.rows_pending,
		   s->drops_logged);
}

static int dv_bq_write(struct dv_sink *sink, const struct dv_export_rec *rec, const char *row,
		       size_t len)
{
	struct dv_bq_sink *s = dv_bq_of(sink);
	struct dv_spool_ref ref = {NULL, 0};
	char id[DV_INSERT_ID_MAX];
	struct dv_bq_row *r;
	int id_len, room, rc;
	size_t mem;

	sink->stats.rows_in++;
	if (!rec || !row || len == 0 || len > UINT32_MAX) {
		sink->stats.rows_dropped++;
		return -EINVAL;
	}
	id_len = dv_row_insert_id(rec, id);
	mem = dv_bq_row_size((size_t)id_len, len);
	/* While the table is not verified, rows wait on disk only. */
	room = s->table == DV_BQ_TABLE_OK && s->mem_bytes + mem <= s->mem_max_bytes &&
	       (!s->write_ahead || s->nmem < s->window_rows);
	if (s->write_ahead || !room) {
		rc = dv_spool_append(s->spool, id, (size_t)id_len, row, len, room, &ref);
		if (rc) {
			sink->stats.rows_dropped++;
			dv_bq_log_drop(s, rc);
			return rc == -ENOSPC ? -ENOBUFS : rc;
		}
		if (!room) {
			sink->stats.rows_pending++;
			dv_bq_sync_spooled(s);
			return 0;
		}
	}
	r = dv_bq_row_alloc(s, mem);
	if (!r) {
		if (ref.seg) { /* on disk: it waits there */
			dv_spool_unload(s->spool, &ref);
			sink->stats.rows_pending++;
			dv_bq_sync_spooled(s);
			return 0;
		}
		sink->stats.rows_dropped++;
		return -ENOMEM;
	}
	dv_bq_row_fill(s, r, mem, &ref, s->now_ns, id, (size_t)id_len, row, len);
	sink->stats.rows_pending++;
	return 0;
}

/* Load a spooled row back into memory (dv_spool_replay callback). */
static int dv_bq_replay_row(void *arg, const struct dv_spool_ref *ref, const char *id,
			    size_t id_len, const char *row, size_t len)
{
	struct dv_bq_sink *s = arg;
	size_t mem = dv_bq_row_size(id_len, len);
	struct dv_bq_row *r;

	if (id_len >= DV_INSERT_ID_MAX || len > UINT32_MAX || !(r = dv_bq_row_alloc(s, mem)))
		return -ENOMEM;
	/* queued at 0: an old row leaves with the next batch */
	dv_bq_row_fill(s, r, mem, ref, 0, id, id_len, row, len);
	return 0;
}

/* Keep the memory window fed from the spool, oldest first. Not while
 * BigQuery is refusing: the rows would only wait in memory instead of on
 * disk. */
static void dv_bq_refill(struct dv_bq_sink *s)
{
	int n;

	if (dv_spool_out(s->spool) == 0 || s->nmem >= s->window_rows / 2 ||
	    s->now_ns < s->next_send_ns || s->mem_bytes >= s->mem_max_bytes / 2)
		return;
	n = dv_spool_replay(s->spool, (uint32_t)(s->window_rows - s->nmem), DV_BQ_REFILL_BYTES,
			    dv_bq_replay_row, s);
	if (n < 0 && s->spill_fail_logged++ % 10000 == 0)
		dv_bq_logf(&s->log, DV_BQ_ERR, "spool: cannot read: %s", strerror(-n));
	dv_bq_sync_spooled(s);
}

/* ---- sending ------------------------------------------------------------------- */

static int dv_bq_req_grow(struct dv_bq_req *q, uint32_t n)
{
	struct dv_bq_row **rows;
	uint8_t *v;

	if (n <= q->cap)
		return 0;
	rows = realloc(q->rows, n * sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	q->rows = rows;
	v = realloc(q->verdict, n);
	if (!v)
		return -ENOMEM;
	q->verdict = v;
	q->cap = n;
	return 0;
}

/* Move up to take_rows rows (batch_limit while bisecting; and
 * batch_max_bytes, as the API counts a request's size) from the queue into q. */
static int dv_bq_take(struct dv_bq_sink *s, struct dv_bq_req *q)
{
	const struct dv_bq_api_ops *api = s->api.ops;
	uint32_t limit = s->batch_limit < s->batch_rows ? s->batch_limit : s->take_rows;

	if (dv_bq_req_grow(q, limit))
		return -ENOMEM;
	q->nrows = 0;
	q->bytes = api->request_bytes;
	while (s->head && q->nrows < limit) {
		struct dv_bq_row *r = s->head;
		size_t need = r->len + r->id_len + api->row_bytes;

		if (q->nrows > 0 && q->bytes + need > s->batch_max_bytes)
			break;
		q->bytes += need;
		s->head = r->next;
		if (!s->head)
			s->tail = NULL;
		s->nqueued--;
		q->rows[q->nrows++] = r;
	}
	return 0;
}

static int dv_bq_start(struct dv_bq_sink *s, struct dv_bq_req *q, const char *auth)
{
	int rc;

	if (dv_bq_take(s, q))
		return -ENOMEM;
	rc = s->api.ops->start(&s->api, q, auth);
	if (rc) {
		dv_bq_requeue(s, q->rows, q->nrows);
		q->nrows = 0;
		return rc;
	}
	for (uint32_t i = 0; i < q->nrows; i++)
		if (q->rows[i]->sends++ > 0)
			s->sink.stats.retries++;
	q->busy = 1;
	s->inflight++;
	s->sink.stats.requests++;
	return 0;
}

/* ---- answers ------------------------------------------------------------------- */

static void dv_bq_dead_sync(struct dv_bq_sink *s)
{
	/* On the spool's syncer thread, before the spool deletes a segment whose
	 * rows were marked done after these lines: a slow disk does not stop
	 * the control lcore. */
	if (s->spool) {
		dv_spool_sync_fd(s->spool, s->dl_fd, s->dl_path);
		return;
	}
	if (fdatasync(s->dl_fd))
		dv_bq_logf(&s->log, DV_BQ_ERR, "fdatasync %s: %s", s->dl_path, strerror(errno));
}

/* An answer row by row: dead letters first (synced once), then the others
 * in order; the rows sent again keep their order. */
static void dv_bq_settle_rows(struct dv_bq_sink *s, struct dv_bq_req *q)
{
	uint32_t retry = 0;
	int need_backoff = 0;

	for (uint32_t k = 0; k < q->ndead; k++) {
		const struct dv_bq_dead_row *d = &q->dead[k];

		dv_bq_dead(s, q->rows[d->row], d->reason, d->location, d->message);
	}
	if (q->ndead)
		dv_bq_dead_sync(s);
	for (uint32_t k = 0; k < q->nrows; k++) {
		if (q->verdict[k] == DV_BQ_OK) {
			dv_bq_delivered(s, q->rows[k]);
		} else if (q->verdict[k] != DV_BQ_DEAD) {
			need_backoff |= q->verdict[k] == DV_BQ_RETRY;
			q->rows[retry++] = q->rows[k];
		}
	}
	if (retry)
		dv_bq_requeue(s, q->rows, retry);
	if (need_backoff)
		dv_bq_backoff(s, q->answer.retry_after_ns);
	else if (s->backoff_ns && !retry)
		s->backoff_ns = 0;
}

/* Every row of an answered request to its fate. */
static void dv_bq_settle(struct dv_bq_sink *s, struct dv_bq_req *q)
{
	const struct dv_bq_answer *a = &q->answer;

	s->sink.stats.bytes_out += a->bytes;
	if (a->failed)
		s->sink.stats.request_errors++;
	if (a->error[0])
		snprintf(s->last_error, sizeof(s->last_error), "%s", a->error);
	switch (a->outcome) {
	case DV_BQ_ANSWERED:
		dv_bq_settle_rows(s, q);
		if (s->batch_limit < s->batch_rows) /* bisection over: grow back */
			s->batch_limit =
			    s->batch_limit * 2 < s->batch_rows ? s->batch_limit * 2 : s->batch_rows;
		break;
	case DV_BQ_REFUSED: /* find the row that did it */
		if (q->nrows > 1) {
			s->batch_limit = q->nrows / 2;
			dv_bq_requeue(s, q->rows, q->nrows);
			break;
		}
		dv_bq_dead(s, q->rows[0], q->dead[0].reason, q->dead[0].location,
			   q->dead[0].message);
		dv_bq_dead_sync(s);
		break;
	case DV_BQ_REAUTH:
		/* And a backoff: a token the service keeps refusing is no tight loop. */
		dv_bq_auth_invalidate(s->auth);
		/* fall through */
	case DV_BQ_SEND_AGAIN:
	case DV_BQ_TABLE_GONE: /* waits like an outage; the table is not checked again */
		dv_bq_requeue(s, q->rows, q->nrows);
		dv_bq_backoff(s, a->retry_after_ns);
		break;
	}
	q->nrows = 0;
}

/* Settle the requests the API has answered, in the order of the slots. */
static void dv_bq_settle_answered(struct dv_bq_sink *s)
{
	for (uint32_t i = 0; i < s->nreqs; i++) {
		struct dv_bq_req *q = &s->reqs[i];

		/* An API may answer from a thread of its own (Storage Write):
		 * what it wrote in q is visible once answered is. */
		if (!q->busy || !__atomic_load_n(&q->answered, __ATOMIC_ACQUIRE))
			continue;
		q->busy = 0;
		q->answered = 0;
		s->inflight--;
		dv_bq_settle(s, q);
	}
}

/* Start as many batches as limits, backoff and the token allow. */
static void dv_bq_schedule(struct dv_bq_sink *s)
{
	const char *auth = NULL;

	if (!dv_bq_auth_is_none(s->auth)) {
		auth = dv_bq_auth_header(s->auth, s->now_ns);
		if (!auth)
			return; /* waiting for a token */
	}
	while (s->head && s->inflight < s->nreqs && s->now_ns >= s->next_send_ns) {
		int full = s->nqueued >= s->batch_limit;
		int old = s->now_ns - s->head->queued_ns >= s->flush_ns;

		if (!full && !old && !s->draining)
			break;
		for (uint32_t i = 0; i < s->nreqs; i++) {
			if (s->reqs[i].busy)
				continue;
			if (dv_bq_start(s, &s->reqs[i], auth))
				return;
			break;
		}
		dv_bq_settle_answered(s); /* an API that waits for its answer in start() */
		dv_spool_tick(s->spool, s->now_ns = dv_monotonic_ns()); /* so new rows commit */
	}
}

/* ---- destination check (dv_bq_access.c) ------------------------------------------- */

/*
 * 1 when rows may be sent. While the helper thread checks, 0; once it has
 * finished, its result is taken over here, on the control lcore.
 */
static int dv_bq_table_ready(struct dv_bq_sink *s)
{
	int st;

	if (s->table == DV_BQ_TABLE_OK)
		return 1;
	if (s->table == DV_BQ_TABLE_REFUSED)
		return 0;
	st = dv_bq_verify_poll(&s->verify);
	if (st == DV_BQ_VERIFY_OK) {
		s->table = DV_BQ_TABLE_OK;
		s->sink.stats.unverified = 0;
		s->next_send_ns = 0;
		s->last_error[0] = '\0';
		dv_bq_logf(&s->log, DV_BQ_NOTICE,
			   "BigQuery answered: table %s verified; sending the %" PRIu64
			   " rows waiting",
			   s->table_name, s->sink.stats.rows_pending);
		return 1;
	}
	if (st == DV_BQ_VERIFY_REFUSED) {
		s->table = DV_BQ_TABLE_REFUSED;
		snprintf(s->last_error, sizeof(s->last_error), "%s", s->verify.err);
		dv_bq_logf(&s->log, DV_BQ_ERR,
			   "BigQuery answered, but %s; no row is sent: rows stay in the spool %s "
			   "until this is fixed and the spool is drained",
			   s->verify.err, s->spool_dir);
	}
	return 0;
}

/* ---- poll / drain ---------------------------------------------------------------- */

static void dv_bq_progress(struct dv_bq_sink *s)
{
	CURLMsg *m;
	int running, left, ready;

	s->now_ns = dv_monotonic_ns();
	ready = dv_bq_table_ready(s);
	if (ready) {
		dv_bq_token_start(&s->token, s->now_ns);
		dv_bq_schedule(s);
	}
	curl_multi_perform(s->multi, &running);
	while ((m = curl_multi_info_read(s->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *e = m->easy_handle;
		CURLcode rc = m->data.result;

		if (e == s->token.easy) {
			char err[400];

			curl_multi_remove_handle(s->multi, e);
			if (dv_bq_token_done(&s->token, rc, s->now_ns, err, sizeof(err)))
				snprintf(s->last_error, sizeof(s->last_error),
					 "token refresh failed: %s", err);
			continue;
		}
		if (s->api.ops->done)
			s->api.ops->done(&s->api, e, rc);
		dv_bq_settle_answered(s);
	}
	dv_bq_settle_answered(s); /* answers on a transfer that stays open */
	/* Answers may have freed slots or brought a token: send now, not next poll. */
	if (ready) {
		dv_bq_token_start(&s->token, s->now_ns);
		dv_bq_refill(s);
		dv_bq_schedule(s);
	}
	dv_spool_tick(s->spool, s->now_ns);
	dv_bq_sync_spooled(s);
}

static int dv_bq_poll(struct dv_sink *sink, uint64_t now_ns)
{
	(void)now_ns; /* timers run on the monotonic clock: wall-clock steps do not matter */
	dv_bq_progress(dv_bq_of(sink));
	return 0;
}

static void dv_bq_abort_all(struct dv_bq_sink *s)
{
	for (uint32_t i = 0; i < s->nreqs; i++) {
		struct dv_bq_req *q = &s->reqs[i];

		if (!q->busy)
			continue;
		s->api.ops->cancel(&s->api, q);
		if (__atomic_load_n(&q->answered, __ATOMIC_ACQUIRE))
			continue; /* its answer came first: settled below */
		q->busy = 0;
		q->answered = 0;
		s->inflight--;
		dv_bq_requeue(s, q->rows, q->nrows);
		q->nrows = 0;
	}
	dv_bq_settle_answered(s);
	dv_bq_token_cancel(&s->token);
}

/* Stop draining: nothing is sent any more, every row not delivered goes to the
 * spool. (With the table refused nothing was ever in flight.) */
static void dv_bq_give_up(struct dv_bq_sink *s)
{
	dv_bq_abort_all(s);
	dv_bq_put_away(s);
}

/*
 * When a drain ends differs between drain() and dv_bq_sink_drain_spool()
 * (see each rule below); asked after every round of progress. 1: everything
 * is sent; a negative errno: the drain gave up (the rule has put the rows
 * away and said why); 0: go on, waiting at most *wait_ms for curl first.
 */
typedef int (*dv_bq_drain_rule)(struct dv_bq_sink *s, void *arg, int *wait_ms);

/* The loop both drains share: send at once and without waiting for full
 * batches, until the rule says it is over. */
static int dv_bq_drain_loop(struct dv_bq_sink *s, dv_bq_drain_rule rule, void *arg)
{
	int rc, wait_ms = 0;

	s->draining = 1;
	/* The shutdown budget is short and the backoff after an outage can be a
	 * minute: try at once, BigQuery may be back. */
	s->next_send_ns = 0;
	for (;;) {
		dv_bq_progress(s);
		rc = rule(s, arg, &wait_ms);
		if (rc > 0)
			break;
		if (rc < 0) {
			s->draining = 0;
			return rc;
		}
		curl_multi_poll(s->multi, NULL, 0, wait_ms, NULL);
	}
	dv_spool_commit(s->spool);
	s->draining = 0;
	return 0;
}

/*
 * drain(): done when nothing is queued, in flight or out in the spool; gives
 * up when BigQuery refused the table or at the deadline (system clock),
 * which the stop flag brings forward to shutdown_timeout from the moment it
 * is set. Waits for the next send time rather than polling.
 */
static int dv_bq_drain_rule_shutdown(struct dv_bq_sink *s, void *arg, int *wait_ms)
{
	uint64_t *deadline_ns = arg;
	uint64_t wall, wait_ns = 100000000ULL;

	if (!s->head && s->inflight == 0 && dv_spool_out(s->spool) == 0)
		return 1;
	if (s->table == DV_BQ_TABLE_REFUSED) {
		dv_bq_give_up(s);
		dv_bq_logf(&s->log, DV_BQ_ERR, "%" PRIu64 " rows stay in the spool %s: %s",
			   s->sink.stats.rows_pending, s->spool_dir, s->last_error);
		return -EIO;
	}
	wall = dv_realtime_ns();
	if (s->stop_flag && *s->stop_flag && *deadline_ns > wall + s->shutdown_ns) {
		*deadline_ns = wall + s->shutdown_ns;
		dv_bq_logf(&s->log, DV_BQ_WARN,
			   "asked to stop: giving uploads %.0f s more, then the rest stays in "
			   "the spool",
			   (double)s->shutdown_ns / 1e9);
	}
	if (wall >= *deadline_ns) {
		dv_bq_give_up(s);
		dv_bq_logf(&s->log, DV_BQ_WARN,
			   "drain deadline reached with %" PRIu64 " rows not delivered; %" PRIu64
			   " of them are in the spool %s",
			   s->sink.stats.rows_pending, s->sink.stats.rows_spooled, s->spool_dir);
		return -ETIMEDOUT;
	}
	if (*deadline_ns - wall < wait_ns)
		wait_ns = *deadline_ns - wall;
	if (s->inflight == 0 && s->next_send_ns > s->now_ns &&
	    s->next_send_ns - s->now_ns < wait_ns)
		wait_ns = s->next_send_ns - s->now_ns;
	*wait_ms = (int)(wait_ns / 1000000) + 1;
	return 0;
}

static int dv_bq_drain(struct dv_sink *sink, uint64_t deadline_ns)
{
	return dv_bq_drain_loop(dv_bq_of(sink), dv_bq_drain_rule_shutdown, &deadline_ns);
}

/* What dv_bq_sink_drain_spool() tracks between rounds. */
struct dv_bq_drain_spool {
	uint64_t deadline_ns; /* system clock */
	uint64_t stall_ns;    /* 0: no limit */
	uint64_t done;	      /* rows delivered or dead-lettered so far */
	uint64_t last_progress_ns;
	char *err;
	size_t errlen;
};

/*
 * dv_bq_sink_drain_spool(): done when no row is pending; gives up, with the
 * reason in err, when BigQuery refused the table, at the deadline, or when
 * it took no row for stall_ns. Polls every 50 ms.
 */
static int dv_bq_drain_rule_spool(struct dv_bq_sink *s, void *arg, int *wait_ms)
{
	struct dv_bq_drain_spool *d = arg;
	const struct dv_sink_stats *st = &s->sink.stats;
	uint64_t now, done;

	if (st->rows_pending == 0)
		return 1;
	now = dv_monotonic_ns();
	done = st->rows_delivered + st->rows_dead;
	if (done != d->done) {
		d->done = done;
		d->last_progress_ns = now;
	}
	*wait_ms = 50;
	if (dv_realtime_ns() < d->deadline_ns && s->table != DV_BQ_TABLE_REFUSED &&
	    !(d->stall_ns && now - d->last_progress_ns >= d->stall_ns))
		return 0;
	dv_bq_give_up(s);
	if (s->table == DV_BQ_TABLE_REFUSED) {
		snprintf(d->err, d->errlen, "%" PRIu64 " rows still in the spool %s: %s",
			 st->rows_pending, s->spool_dir, s->last_error);
		return -EIO;
	}
	snprintf(d->err, d->errlen,
		 "%" PRIu64 " rows still in the spool %s: BigQuery took none in the "
		 "last %.0f s (%s)",
		 st->rows_pending, s->spool_dir, (double)(now - d->last_progress_ns) / 1e9,
		 s->last_error[0] ? s->last_error : "no answer");
	return -ETIMEDOUT;
}

int dv_bq_sink_drain_spool(struct dv_sink *sink, uint64_t deadline_ns, uint64_t stall_ns, char *err,
			   size_t errlen)
{
	struct dv_bq_drain_spool d = {
	    .deadline_ns = deadline_ns,
	    .stall_ns = stall_ns,
	    .done = sink->stats.rows_delivered + sink->stats.rows_dead,
	    .last_progress_ns = dv_monotonic_ns(),
	    .err = err,
	    .errlen = errlen,
	};

	return dv_bq_drain_loop(dv_bq_of(sink), dv_bq_drain_rule_spool, &d);
}

void dv_bq_sink_set_stop_flag(struct dv_sink *sink, const volatile sig_atomic_t *flag)
{
	dv_bq_of(sink)->stop_flag = flag;
}

void dv_bq_sink_spool_stats(const struct dv_sink *sink, struct dv_bq_spool_stats *out)
{
	const struct dv_bq_sink *s = sink->priv;
	struct dv_spool_stats st;

	memset(out, 0, sizeof(*out));
	if (!s->spool)
		return;
	dv_spool_get_stats(s->spool, &st);
	out->write_ahead = s->write_ahead;
	out->segments = st.segments;
	out->bytes = st.bytes;
	out->records = st.records;
	out->recovered = st.recovered;
	out->corrupt_files = st.corrupt_files;
	out->corrupt_bytes = st.corrupt_bytes;
	out->appended = st.appended;
	out->replayed = st.replayed;
	out->commits = st.commits;
	out->commit_ns_avg = st.commits ? st.commit_ns_sum / st.commits : 0;
	out->commit_ns_max = st.commit_ns_max;
}

static void dv_bq_destroy(struct dv_sink *sink)
{
	struct dv_bq_sink *s;

	if (!sink)
		return;
	s = dv_bq_of(sink);
	dv_bq_verify_stop(&s->verify); /* first: the helper uses auth, http and the names */
	if (s->multi)
		dv_bq_abort_all(s);
	if (s->spool) {
		struct dv_spool_stats st;

		dv_bq_put_away(s);
		dv_spool_get_stats(s->spool, &st);
		if (s->sink.stats.rows_pending)
			dv_bq_logf(
			    &s->log, DV_BQ_WARN,
			    "closing with %" PRIu64 " rows not delivered to BigQuery, %" PRIu64
			    " of them in the spool %s for the next start",
			    s->sink.stats.rows_pending, s->sink.stats.rows_spooled, s->spool_dir);
		if (st.commits)
			dv_bq_logf(
			    &s->log, DV_BQ_INFO,
			    "spool: %" PRIu64 " rows appended, %" PRIu64 " replayed, %" PRIu64
			    " commits (write + fdatasync %.0f us on average, %.0f us at most)",
			    st.appended, st.replayed, st.commits,
			    (double)st.commit_ns_sum / (double)st.commits / 1e3,
			    (double)st.commit_ns_max / 1e3);
		dv_spool_close(s->spool);
		s->spool = NULL;
	} else if (s->sink.stats.rows_pending) {
		dv_bq_logf(&s->log, DV_BQ_ERR,
			   "closing with %" PRIu64 " rows not delivered to BigQuery",
			   s->sink.stats.rows_pending);
	}
	while (s->head) {
		struct dv_bq_row *r = s->head;

		s->head = r->next;
		free(r);
	}
	while (s->spare) {
		struct dv_bq_row *r = s->spare;

		s->spare = r->next;
		free(r);
	}
	if (s->api.ops)
		s->api.ops->destroy(&s->api);
	for (uint32_t i = 0; s->reqs && i < s->nreqs; i++) {
		free(s->reqs[i].rows);
		free(s->reqs[i].verdict);
	}
	free(s->reqs);
	dv_bq_token_free(&s->token);
	if (s->multi)
		curl_multi_cleanup(s->multi);
	dv_bq_auth_destroy(s->auth);
	if (s->dl_fd >= 0)
		close(s->dl_fd);
	free(s->dl_path);
	free(s->spool_dir);
	free(s->table_name);
	dv_bq_verify_free(&s->verify);
	free(s->http.endpoint);
	free(s->http.ca_file);
	free(s->http.ca_path);
	free(s->http.user_agent);
	free(s);
	curl_global_cleanup();
}

static const struct dv_sink_ops dv_bq_ops = {
    .write = dv_bq_write,
    .poll = dv_bq_poll,
    .drain = dv_bq_drain,
    .reopen = NULL,
    .set_stop_flag = dv_bq_sink_set_stop_flag,
    .destroy = dv_bq_destroy,
};

/* ---- configuration and startup --------------------------------------------------- */

static char *dv_bq_endpoint(const struct dv_bq_config *c)
{
	const char *emu = getenv("BIGQUERY_EMULATOR_HOST");
	char *ep;
	size_t n;

	if (c->endpoint && c->endpoint[0])
		ep = strdup(c->endpoint);
	else if (emu && emu[0] && !strstr(emu, "://")) {
		n = strlen(emu) + 8;
		ep = malloc(n);
		if (ep)
			snprintf(ep, n, "http://%s", emu); /* emulators speak plain HTTP */
	} else {
		ep = strdup(emu && emu[0] ? emu : DV_BQ_DEFAULT_ENDPOINT);
	}
	if (ep)
		for (n = strlen(ep); n > 0 && ep[n - 1] == '/'; n--)
			ep[n - 1] = '\0';
	return ep;
}

/* Checks that need no network, so typos fail fast. */
static int dv_bq_check_config(const struct dv_bq_config *c, char *err, size_t errlen)
{
	if (!c->project || !c->project[0] || !c->dataset || !c->dataset[0]) {
		snprintf(err, errlen, "BigQuery output needs a project and a dataset");
		return -EINVAL;
	}
	if (!c->table || !c->table[0]) {
		snprintf(err, errlen, "BigQuery table name is empty");
		return -EINVAL;
	}
	if (c->batch_rows == 0 || c->batch_rows > DV_BQ_MAX_ROWS_PER_REQ) {
		snprintf(err, errlen, "BigQuery batch rows must be 1..%d", DV_BQ_MAX_ROWS_PER_REQ);
		return -EINVAL;
	}
	if (c->max_inflight == 0 || c->max_inflight > DV_BQ_MAX_INFLIGHT) {
		snprintf(err, errlen, "BigQuery max in-flight requests must be 1..%d",
			 DV_BQ_MAX_INFLIGHT);
		return -EINVAL;
	}
	if (c->flush_interval_ns == 0 || c->batch_max_bytes < 4096 ||
	    c->batch_max_bytes > 10 * 1024 * 1024 || c->backoff_min_ns == 0 ||
	    c->backoff_max_ns < c->backoff_min_ns) {
		snprintf(err, errlen,
			 "BigQuery flush interval, batch size or backoff out of range");
		return -EINVAL;
	}
	if (c->ca_file && access(c->ca_file, R_OK)) {
		snprintf(err, errlen, "CA file %s: %s", c->ca_file, strerror(errno));
		return -errno;
	}
	return 0;
}

static int dv_bq_open_dead_letter(struct dv_bq_sink *s, const struct dv_bq_config *c, char *err,
				  size_t errlen)
{
	size_t n;

	if (c->dead_letter && c->dead_letter[0]) {
		s->dl_path = strdup(c->dead_letter);
	} else {
		n = strlen(c->spool_dir ? c->spool_dir : ".") + 24;
		s->dl_path = malloc(n);
		if (s->dl_path)
			snprintf(s->dl_path, n, "%s/dead-letter.ndjson",
				 c->spool_dir ? c->spool_dir : ".");
	}
	if (!s->dl_path) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->dl_fd = open(s->dl_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (s->dl_fd < 0) {
		snprintf(err, errlen, "cannot open dead-letter file %s: %s", s->dl_path,
			 strerror(errno));
		return -errno;
	}
	return 0;
}

static int dv_bq_open_spool(struct dv_bq_sink *s, const struct dv_bq_config *c, char *err,
			    size_t errlen)
{
	struct dv_spool_config sc;
	uint64_t n;
	int rc;

	dv_spool_config_init(&sc);
	sc.dir = c->spool_dir;
	sc.max_bytes = c->spool_max_bytes;
	if (c->commit_interval_ns)
		sc.commit_interval_ns = c->commit_interval_ns;
	sc.log = c->log;
	sc.log_arg = c->log_arg;
	sc.names = c->names;
	s->spool_dir = strdup(c->spool_dir ? c->spool_dir : "");
	rc = dv_spool_open(&sc, &s->spool, err, errlen);
	if (rc)
		return rc;
	n = dv_spool_records(s->spool);
	s->sink.stats.rows_recovered = n;
	s->sink.stats.rows_pending = n;
	dv_bq_sync_spooled(s);
	return 0;
}

/* The multi handle, the token's refresh, the request slots and the upload
 * API on them. 0 or negative errno with one line in err. */
static int dv_bq_setup_transfers(struct dv_bq_sink *s, const struct dv_bq_config *c,
				 const struct dv_bq_table_ref *t, char *err, size_t errlen)
{
	struct dv_bq_api_env env = {
	    .http = &s->http, .log = &s->log, .table = t, .conf = c, .stats = &s->sink.stats};

	s->multi = curl_multi_init();
	s->token = (struct dv_bq_token){
	    .auth = s->auth,
	    .http = &s->http,
	    .log = &s->log,
	    .multi = s->multi,
	    .backoff_min_ns = c->backoff_min_ns,
	    .backoff_max_ns = c->backoff_max_ns,
	    .easy = curl_easy_init(),
	};
	/* Storage Write sends one request at a time (its offsets follow each
	 * other, and a request in doubt goes again at its offset before any
	 * later row), as large as the requests max_inflight would carry. */
	s->nreqs = c->api == DV_BQ_API_STORAGE ? 1 : c->max_inflight;
	s->reqs = calloc(s->nreqs, sizeof(*s->reqs));
	snprintf(err, errlen, "out of memory");
	if (!s->multi || !s->token.easy || !s->reqs)
		return -ENOMEM;
	curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, (long)s->nreqs + 2);
	for (uint32_t i = 0; i < s->nreqs; i++)
		if (dv_bq_req_grow(&s->reqs[i], c->batch_rows))
			return -ENOMEM;
	env.multi = s->multi;
	env.reqs = s->reqs;
	env.nreqs = s->nreqs;
	if (c->api == DV_BQ_API_STORAGE) {
		s->sink.flags |= DV_SINK_F_STREAM;
		return dv_bq_storage_api_open(&s->api, &env, err, errlen);
	}
	return dv_bq_insertall_open(&s->api, &env);
}

/* The settings the sink keeps for itself. */
static void dv_bq_take_settings(struct dv_bq_sink *s, const struct dv_bq_config *c)
{
	s->dl_fd = -1;
	s->sink.name = "bigquery";
	s->sink.flags = DV_SINK_F_DELIVERY;
	s->sink.ops = &dv_bq_ops;
	s->sink.priv = s;
	s->log.fn = c->log;
	s->log.arg = c->log_arg;
	s->names = c->names;
	s->batch_rows = s->batch_limit = s->take_rows = c->batch_rows;
	if (c->api == DV_BQ_API_STORAGE) /* one request at a time: the rows of max_inflight */
		s->take_rows = c->batch_rows * c->max_inflight > DV_BQ_MAX_ROWS_PER_REQ
				   ? DV_BQ_MAX_ROWS_PER_REQ
				   : c->batch_rows * c->max_inflight;
	s->flush_ns = c->flush_interval_ns;
	s->batch_max_bytes = c->batch_max_bytes;
	s->mem_max_bytes = c->mem_max_bytes;
	s->write_ahead = c->write_ahead;
	s->shutdown_ns = c->shutdown_timeout_ns;
	/* Enough for every transfer slot and the next few batches. */
	s->window_rows = 4ULL * c->batch_rows * c->max_inflight;
	if (s->window_rows < 1024)
		s->window_rows = 1024;
	s->backoff_min_ns = c->backoff_min_ns;
	s->backoff_max_ns = c->backoff_max_ns;
}

/* What every request shares: endpoint, trust anchors, user agent, timeouts.
 * 0 or -ENOMEM. */
static int dv_bq_http_init(struct dv_bq_sink *s, const struct dv_bq_config *c)
{
	struct dv_bq_http *h = &s->http;
	char ua[64];

	snprintf(ua, sizeof(ua), "dpdk-devourer/%s", DV_VERSION);
	h->endpoint = dv_bq_endpoint(c);
	h->ca_file = c->ca_file ? strdup(c->ca_file) : NULL;
	h->ca_path = c->ca_path ? strdup(c->ca_path) : NULL;
	h->user_agent = strdup(c->user_agent ? c->user_agent : ua);
	h->connect_timeout_ms = (long)(c->connect_timeout_ns / 1000000);
	h->request_timeout_ms = (long)(c->request_timeout_ns / 1000000);
	h->log = &s->log;
	h->names = &s->names;
	return h->endpoint && h->user_agent ? 0 : -ENOMEM;
}

/* The table's names (t: escaped for URLs) and what the destination check
 * keeps of the configuration. */
static int dv_bq_table_init(struct dv_bq_sink *s, const struct dv_bq_config *c,
			    struct dv_bq_table_ref *t, char *err, size_t errlen)
{
	if (dv_bq_table_ref(c, t, err, errlen))
		return -EINVAL;
	s->table_name = strdup(t->full);
	if (!s->table_name || dv_bq_verify_init(&s->verify, c)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/*
 * The first destination check. A capture must not wait long for BigQuery:
 * only a definite answer stops it (negative errno, one line in err); an
 * unreachable service is an outage to spool through, checked again by the
 * helper thread.
 */
static int dv_bq_first_check(struct dv_bq_sink *s, const struct dv_bq_config *c, char *err,
			     size_t errlen)
{
	uint64_t wait = c->startup_timeout_ns < DV_BQ_START_WAIT_NS ? c->startup_timeout_ns
								    : DV_BQ_START_WAIT_NS;
	int rc;

	s->verify.auth = s->auth;
	s->verify.http = &s->http;
	s->verify.log = &s->log;
	s->verify.spool_dir = s->spool_dir;
	s->verify.table_name = s->table_name;
	rc = dv_bq_verify_now(&s->verify, dv_monotonic_ns() + wait, err, errlen);
	if (rc == 0 || !dv_bq_transient(rc))
		return rc;
	s->table = DV_BQ_TABLE_CHECKING;
	s->sink.stats.unverified = 1;
	snprintf(s->last_error, sizeof(s->last_error), "%s", err);
	rc = dv_bq_verify_start(&s->verify, err);
	if (rc)
		snprintf(err, errlen, "cannot start a thread: %s", strerror(-rc));
	return rc;
}

struct dv_sink *dv_bq_sink_create(const struct dv_bq_config *c, char *err, size_t errlen)
{
	struct dv_bq_table_ref t;
	struct dv_bq_sink *s;

	if (dv_bq_check_config(c, err, errlen))
		return NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		snprintf(err, errlen, "libcurl initialisation failed");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		curl_global_cleanup();
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	dv_bq_take_settings(s, c);
	if (dv_bq_http_init(s, c)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* The spool first: it creates the directory the default dead-letter
	 * file lives in. */
	if (dv_bq_url_check(s->http.endpoint, "BigQuery endpoint", err, errlen) ||
	    dv_bq_open_spool(s, c, err, errlen) || dv_bq_open_dead_letter(s, c, err, errlen) ||
	    dv_bq_table_init(s, c, &t, err, errlen))
		goto fail;
	s->auth = dv_bq_auth_create(c, &s->log, err, errlen);
	if (!s->auth)
		goto fail;
	if (dv_bq_setup_transfers(s, c, &t, err, errlen))
		goto fail;
	if (dv_bq_first_check(s, c, err, errlen))
		goto fail;
	err[0] = '\0';
	s->now_ns = dv_monotonic_ns();
	dv_bq_logf(&s->log, DV_BQ_INFO,
		   "rows go to %s at %s (batches of %u rows or %" PRIu64
		   " ms, %u in flight); spool %s, write-ahead %s",
		   s->table_name,
		   c->api == DV_BQ_API_STORAGE ? "the Storage Write API" : s->http.endpoint,
		   c->batch_rows, c->flush_interval_ns / 1000000, c->max_inflight, s->spool_dir,
		   s->write_ahead ? "on" : "off");
	return &s->sink;
fail:
	dv_bq_destroy(&s->sink);
	return NULL;
}
