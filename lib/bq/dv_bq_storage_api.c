/*
 * dv_bq_storage_api: rows by the Storage Write API (issue 17) behind the
 * upload interface of dv_bq_api.h, on the transport of dv_bq_storage.c. One
 * COMMITTED stream per sink, created by the first request, and one
 * AppendRows call on it; a request is one AppendRowsRequest at the stream's
 * next offset. The sink sends one request at a time (one slot, as many rows
 * as --bq-max-inflight requests would carry). start() hands it to the
 * storage thread, which does every gRPC call, the journal's write and sync
 * and the encoding, and sets q->answered when the answer is read: the
 * control lcore never waits for the network or the disk here.
 *
 * Rows are encoded from their JSON text (dv_bq_proto_row_json), not from the
 * export record: a row loaded back from the spool (after an outage, with
 * write-ahead, after a restart) has only its text, so keeping the record
 * beside the row would still need this path for those, and one encoder for
 * every row cannot disagree with itself. test_bq_proto checks that it gives
 * the bytes of the record encoder. Its price is a JSON parse per row.
 *
 * Offsets: a request not answered for sure (RETRY, FAILED: maybe stored
 * before the connection dropped) is "unsure": its rows go again at the same
 * offset, and only they. The sink puts them back at the head of its queue in
 * their order, so the next requests take them first; each is checked by its
 * insertId and a request holds no row past them, so ALREADY_EXISTS means
 * these very rows are stored. Outcomes (dv_bq_storage.h) to verdicts:
 *   OK, ALREADY_EXISTS  delivered (the second: by an earlier send)
 *   ROW_ERRORS          nothing stored: the named rows dead with BigQuery's
 *                       message, the others again at once
 *   OUT_OF_RANGE        a bug, logged as an error: all again, at a new stream
 *   SCHEMA_BEHIND       the stream predates a tables.patch: all again after a
 *                       backoff, at a new stream
 *   STREAM_GONE         all again at once, at a new stream; the rows of an
 *                       unsure request may then be stored twice: counted
 *   RETRY, FAILED       all again after a backoff, on a new call
 *   UNAUTHENTICATED     the token was refused
 *   INVALID             the request refused as a whole (the sink bisects it)
 *
 * Restarts (dv_bq_stream_state.h): every request sent on a new offset is
 * written to the journal beside the spool (stream, offset, insertIds) and
 * synced before it goes on the wire. A start that finds rows of an earlier
 * run there finalizes each of their streams before its first append (the
 * answer is the stream's row count), then, as the spool gives its rows
 * back, a row found stored (its offset below that count) is delivered
 * without being sent, one not stored is sent like any row, and one whose
 * stream is gone is sent and counted as a row that may repeat.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dv_bq_api.h"
#include "dv_bq_proto.h"
#include "dv_bq_storage.h"
#include "dv_bq_stream_state.h"
#include "dv_row.h"

/* Room kept under the 10 MB limit for the request's own fields (stream
 * name, offset, writer schema). */
#define DV_BQ_SW_MARGIN (64u << 10)
#define DV_BQ_SW_DESC	8192
#define DV_BQ_SW_TOKEN	8192

/* The sink's counters are read by the control lcore while the storage
 * thread adds to them. */
#define DV_BQ_SW_COUNT(sw, field) __atomic_fetch_add(&(sw)->stats->field, 1, __ATOMIC_RELAXED)

struct dv_bq_sw_req {
	struct dv_bq_storage_result res; /* row errors' messages: q->dead points here */
	struct dv_bq_dead_row *dead;
	uint32_t dead_cap;
};

struct dv_bq_sw {
	struct dv_bq_log *log;
	struct dv_bq_storage *s;
	struct dv_bq_append *call; /* NULL: none open */
	char parent[800];	   /* projects/P/datasets/D/tables/T */
	char stream[512];	   /* "": none yet */
	int64_t next;		   /* the stream's next offset */
	uint8_t desc[DV_BQ_SW_DESC];
	size_t desc_len;
	struct dv_bq_rows rows;
	uint32_t *sent; /* request position -> index in q->rows */
	uint32_t sent_cap, nsent;
	/* The unsure request: its insertIds, from offset unsure_off. */
	char (*unsure)[DV_INSERT_ID_MAX];
	uint32_t unsure_cap, nunsure;
	int64_t unsure_off;
	struct dv_bq_ss *ss; /* streams and journal beside the spool; NULL: none */
	uint32_t stream_id;  /* sw->stream's in the journal */
	const char **ids;    /* the insertIds of the rows sent, for the journal */
	uint32_t ids_cap;
	uint64_t found_stored;	     /* rows of an earlier run found stored */
	struct dv_sink_stats *stats; /* the sink's: bq_appends, bq_already_exists, ... */
	struct dv_bq_req *reqs;
	uint32_t nreqs;
	struct dv_bq_sw_req *slots;
	/* The storage thread (dv-bq-storage): start() hands it the request,
	 * it does the whole exchange (stream, journal, append, answer), sets
	 * q->answered and wakes the sink's multi handle. Everything above is
	 * its own while it runs; mu guards job and stop. */
	pthread_t tid;
	int running;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct dv_bq_req *job; /* handed over and not answered; NULL: idle */
	int stop;
	char token[DV_BQ_SW_TOKEN]; /* the job's bearer token */
	CURLM *multi;
};

static int dv_bq_sw_grow(void **p, uint32_t *cap, uint32_t n, size_t size)
{
	void *np;

	if (n <= *cap)
		return 0;
	np = realloc(*p, n * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = n;
	return 0;
}

/* Name row i of q dead (the caller set its verdict); 0 or -ENOMEM. */
static int dv_bq_sw_dead(struct dv_bq_req *q, uint32_t i, const char *location, const char *message)
{
	struct dv_bq_sw_req *p = q->priv;

	if (dv_bq_sw_grow((void **)&p->dead, &p->dead_cap, q->ndead + 1, sizeof(*p->dead)))
		return -ENOMEM;
	p->dead[q->ndead++] = (struct dv_bq_dead_row){
	    .row = i, .reason = "invalid", .location = location, .message = message};
	q->dead = p->dead;
	return 0;
}

/* ---- the stream and the call ------------------------------------------------- */

static void dv_bq_sw_end_call(struct dv_bq_sw *sw)
{
	dv_bq_append_close(sw->call);
	sw->call = NULL;
}

/* Leave the stream (gone, or a bug): the next request opens another. The
 * rows of an unsure request may be stored in it: counted, they may repeat. */
static void dv_bq_sw_leave_stream(struct dv_bq_sw *sw, const char *why)
{
	dv_bq_sw_end_call(sw);
	if (sw->nunsure) {
		sw->stats->bq_may_repeat += sw->nunsure;
		dv_bq_logf(sw->log, DV_BQ_WARN,
			   "stream %s %s: the %u rows of a request not answered for sure go to a "
			   "new stream and may be stored twice (%" PRIu64 " so far)",
			   sw->stream, why, sw->nunsure, sw->stats->bq_may_repeat);
	}
	sw->nunsure = 0;
	sw->stream[0] = '\0';
	sw->next = 0;
}

/* What an outcome that stops the request before any row went means for the
 * request as a whole; the message in an->error. */
static void dv_bq_sw_whole(struct dv_bq_sw *sw, struct dv_bq_req *q, const char *what,
			   const struct dv_bq_storage_result *res)
{
	struct dv_bq_answer *an = &q->answer;
	int level = DV_BQ_WARN;

	snprintf(an->error, sizeof(an->error), "%s: %s (%s)", what,
		 dv_bq_storage_outcome_name(res->outcome), res->message);
	an->failed = 1;
	switch (res->outcome) {
	case DV_BQS_UNAUTHENTICATED:
		an->outcome = DV_BQ_REAUTH;
		break;
	case DV_BQS_STREAM_GONE: /* CreateWriteStream: the table is not there */
		an->outcome = DV_BQ_TABLE_GONE;
		level = DV_BQ_ERR;
		break;
	case DV_BQS_RETRY:
		an->outcome = DV_BQ_SEND_AGAIN;
		break;
	default:
		an->outcome = DV_BQ_SEND_AGAIN;
		level = DV_BQ_ERR;
	}
	dv_bq_logf(sw->log, level, "%s; %u rows will be sent again", an->error, q->nrows);
}

/* A stream and a call on it; 0, or -1 with q answered as a whole. */
static int dv_bq_sw_ready(struct dv_bq_sw *sw, struct dv_bq_req *q, const char *token,
			  struct dv_bq_storage_result *res)
{
	if (!sw->stream[0]) {
		if (dv_bq_storage_create_stream(sw->s, token, sw->parent, sw->stream,
						sizeof(sw->stream), res) != DV_BQS_OK) {
			sw->stream[0] = '\0';
			dv_bq_sw_whole(sw, q, "CreateWriteStream", res);
			return -1;
		}
		sw->next = 0;
		DV_BQ_SW_COUNT(sw, bq_new_streams);
		if (sw->ss && dv_bq_ss_stream(sw->ss, sw->stream, &sw->stream_id)) {
			*res = (struct dv_bq_storage_result){.outcome = DV_BQS_RETRY};
			snprintf(res->message, sizeof(res->message),
				 "the stream cannot be written to %s in the spool directory",
				 DV_BQ_SS_FILE);
			sw->stream[0] = '\0';
			dv_bq_sw_whole(sw, q, "CreateWriteStream", res);
			return -1;
		}
		dv_bq_logf(sw->log, DV_BQ_INFO, "rows go to stream %s", sw->stream);
	}
	if (!sw->call) {
		sw->call = dv_bq_append_open(sw->s, token, sw->stream, sw->desc, sw->desc_len, res);
		if (!sw->call) {
			if (res->outcome == DV_BQS_STREAM_GONE) {
				dv_bq_sw_leave_stream(sw, "is gone");
				res->outcome = DV_BQS_RETRY; /* a new stream at the next request */
			}
			dv_bq_sw_whole(sw, q, "AppendRows", res);
			return -1;
		}
	}
	return 0;
}

/* ---- rows of an earlier run -------------------------------------------------------- */

/* Finalize every stream an earlier run left rows on: its row count tells
 * which of them are stored. 0, or -1 with q answered as a whole. */
static int dv_bq_sw_recover(struct dv_bq_sw *sw, struct dv_bq_req *q, const char *token,
			    struct dv_bq_storage_result *res)
{
	const char *name;
	uint32_t id;

	while (dv_bq_ss_unresolved(sw->ss, &id, &name)) {
		int64_t rows = -1;

		switch (dv_bq_storage_finalize(sw->s, token, name, &rows, res)) {
		case DV_BQS_OK:
			dv_bq_logf(
			    sw->log, DV_BQ_NOTICE,
			    "stream %s of an earlier run finalized with %" PRId64
			    " rows: its rows in the spool that are stored are not sent again",
			    name, rows);
			break;
		case DV_BQS_RETRY:
		case DV_BQS_UNAUTHENTICATED:
			dv_bq_sw_whole(sw, q, "FinalizeWriteStream", res);
			return -1;
		default: /* gone (NOT_FOUND, expired) or refused: its rows may repeat */
			dv_bq_logf(sw->log, DV_BQ_WARN,
				   "stream %s of an earlier run cannot be finalized (%s: %s): its "
				   "rows in the spool go to a new stream and may be stored twice",
				   name, dv_bq_storage_outcome_name(res->outcome), res->message);
			rows = -1;
		}
		dv_bq_storage_result_clear(res);
		dv_bq_ss_resolve(sw->ss, id, rows); /* kept in memory even if not written */
	}
	return 0;
}

/* Rows of q an earlier run stored are delivered (verdict DV_BQ_OK), not
 * sent; rows sent to a stream that is gone may repeat (counted). */
static void dv_bq_sw_recovered(struct dv_bq_sw *sw, struct dv_bq_req *q)
{
	uint32_t stored = 0;

	for (uint32_t i = 0; i < q->nrows && dv_bq_ss_recovering(sw->ss); i++) {
		switch (dv_bq_ss_take(sw->ss, q->rows[i]->data)) {
		case DV_BQ_SS_STORED:
			q->verdict[i] = DV_BQ_OK;
			stored++;
			break;
		case DV_BQ_SS_MAY_REPEAT:
			DV_BQ_SW_COUNT(sw, bq_may_repeat);
			break;
		default:
			break;
		}
	}
	if (stored) {
		DV_BQ_SW_COUNT(sw, bq_already_exists);
		sw->found_stored += stored;
	}
}

/* ---- the request ---------------------------------------------------------------- */

/*
 * Encode q's rows into sw->rows, from the first (but those already
 * DV_BQ_OK): a row that is no flow row is dead at once; the request stops
 * before 10 MB and, while a request is unsure, after its rows. Every row not
 * sent stays DV_BQ_STOPPED. 0; 1 when the rows are not the unsure request's
 * (nothing encoded); -ENOMEM.
 */
static int dv_bq_sw_encode(struct dv_bq_sw *sw, struct dv_bq_req *q)
{
	size_t max = DV_BQ_STORAGE_REQUEST_MAX - DV_BQ_SW_MARGIN - sw->desc_len;
	uint8_t buf[DV_BQ_PROTO_ROW_MAX];

	dv_bq_rows_clear(&sw->rows);
	sw->nsent = 0;
	if (dv_bq_sw_grow((void **)&sw->sent, &sw->sent_cap, q->nrows, sizeof(*sw->sent)))
		return -ENOMEM;
	for (uint32_t i = 0; i < q->nrows; i++) {
		const struct dv_bq_row *r = q->rows[i];
		const char *column;
		int n;

		if (q->verdict[i] == DV_BQ_OK) /* stored by an earlier run */
			continue;
		n = dv_bq_proto_row_json(dv_bq_row_text(r), r->len, buf, sizeof(buf), &column);
		if (n < 0) {
			q->verdict[i] = DV_BQ_DEAD;
			if (dv_bq_sw_dead(q, i, column ? column : "",
					  n == -ENOSPC ? "row too long" : "not a flow row"))
				return -ENOMEM;
			continue;
		}
		if (sw->nunsure && sw->nsent == sw->nunsure)
			break;
		if (sw->nunsure && strcmp(r->data, sw->unsure[sw->nsent]))
			return 1;
		if (sw->rows.len + (size_t)n + 16 > max)
			break;
		if (dv_bq_rows_add(&sw->rows, buf, (size_t)n))
			return -ENOMEM;
		sw->sent[sw->nsent++] = i;
	}
	return 0;
}

/* The rows just sent are unsure, unless a request already is (they are its
 * first rows, at its offset). */
static void dv_bq_sw_mark_unsure(struct dv_bq_sw *sw, struct dv_bq_req *q)
{
	if (sw->nunsure)
		return;
	if (dv_bq_sw_grow((void **)&sw->unsure, &sw->unsure_cap, sw->nsent, sizeof(*sw->unsure))) {
		/* Cannot remember them: the stream is left, they are counted as repeats. */
		sw->nunsure = sw->nsent;
		dv_bq_sw_leave_stream(sw, "is left (out of memory)");
		return;
	}
	for (uint32_t k = 0; k < sw->nsent; k++)
		snprintf(sw->unsure[k], DV_INSERT_ID_MAX, "%s", q->rows[sw->sent[k]]->data);
	sw->nunsure = sw->nsent;
	sw->unsure_off = sw->next;
}

/* The rows sent are stored (OK or ALREADY_EXISTS at sw->next). */
static void dv_bq_sw_stored(struct dv_bq_sw *sw, struct dv_bq_req *q)
{
	for (uint32_t k = 0; k < sw->nsent; k++)
		q->verdict[sw->sent[k]] = DV_BQ_OK;
	sw->next += sw->nsent;
	if (sw->nunsure) { /* the unsure rows left go on at the next offset */
		sw->nunsure -= sw->nsent;
		memmove(sw->unsure, sw->unsure + sw->nsent, sw->nunsure * sizeof(*sw->unsure));
		sw->unsure_off = sw->next;
	}
}

/* Row errors: nothing was stored; the rows named are dead, the others go
 * again at once. */
static void dv_bq_sw_row_errors(struct dv_bq_sw *sw, struct dv_bq_req *q,
				const struct dv_bq_storage_result *res)
{
	/* The same rows failed whole before, if they were sent: none is stored. */
	sw->nunsure = 0;
	for (size_t e = 0; e < res->n_row_errors; e++) {
		const struct dv_bq_row_error *re = &res->row_errors[e];
		uint32_t i;

		if (re->index < 0 || (uint64_t)re->index >= sw->nsent)
			continue;
		i = sw->sent[re->index];
		if (q->verdict[i] == DV_BQ_DEAD)
			continue;
		if (dv_bq_sw_dead(q, i, "", re->message) == 0)
			q->verdict[i] = DV_BQ_DEAD;
	}
}

/* The answer to an append into q's verdicts and answer. */
static void dv_bq_sw_answer(struct dv_bq_sw *sw, struct dv_bq_req *q,
			    const struct dv_bq_storage_result *res)
{
	struct dv_bq_answer *an = &q->answer;

	switch (res->outcome) {
	case DV_BQS_ALREADY_EXISTS:
		DV_BQ_SW_COUNT(sw, bq_already_exists);
		if (!sw->nunsure)
			dv_bq_logf(sw->log, DV_BQ_WARN,
				   "offset %" PRId64 " of %s was stored before, though no request "
				   "there was in doubt: counted delivered (%s)",
				   sw->next, sw->stream, res->message);
		/* fall through */
	case DV_BQS_OK:
		DV_BQ_SW_COUNT(sw, bq_appends);
		dv_bq_sw_stored(sw, q);
		return;
	case DV_BQS_ROW_ERRORS:
		an->failed = 1;
		snprintf(an->error, sizeof(an->error), "AppendRows: row errors (%s)", res->message);
		dv_bq_sw_row_errors(sw, q, res);
		return;
	case DV_BQS_OUT_OF_RANGE:
		dv_bq_logf(sw->log, DV_BQ_ERR,
			   "BUG: offset %" PRId64 " is past the end of stream %s (%s); please "
			   "report this. %u rows go again, at a new stream",
			   sw->next, sw->stream, res->message, q->nrows);
		sw->nunsure = 0; /* nothing at or past this offset is stored */
		dv_bq_sw_leave_stream(sw, "is left");
		an->outcome = DV_BQ_SEND_AGAIN;
		an->failed = 1;
		snprintf(an->error, sizeof(an->error), "AppendRows: OUT_OF_RANGE (%s)",
			 res->message);
		return;
	case DV_BQS_SCHEMA_BEHIND:
		/* Not the rows' fault (they would be dead-lettered as INVALID): the
		 * table gained columns after the stream was made, and BigQuery may
		 * take a while to give new streams the new schema. */
		dv_bq_logf(sw->log, DV_BQ_WARN,
			   "stream %s predates the table's schema (%s): %u rows go again, at a new "
			   "stream, after a backoff",
			   sw->stream, res->message, q->nrows);
		dv_bq_sw_leave_stream(sw, "predates the table's schema");
		an->outcome = DV_BQ_SEND_AGAIN;
		an->failed = 1;
		snprintf(an->error, sizeof(an->error), "AppendRows: %s",
			 dv_bq_storage_outcome_name(res->outcome));
		return;
	case DV_BQS_STREAM_GONE:
		an->failed = 1;
		dv_bq_sw_leave_stream(sw, "is gone");
		snprintf(an->error, sizeof(an->error), "AppendRows: stream gone (%s)",
			 res->message);
		return; /* every row DV_BQ_STOPPED: again at once, at the new stream */
	default:
		break;
	}
	dv_bq_sw_end_call(sw); /* any other outcome ended the call */
	if (res->outcome == DV_BQS_RETRY || res->outcome == DV_BQS_FAILED)
		dv_bq_sw_mark_unsure(sw, q);
	if (res->outcome == DV_BQS_INVALID) {
		an->failed = 1;
		an->outcome = DV_BQ_REFUSED; /* the sink finds the row that did it */
		snprintf(an->error, sizeof(an->error), "AppendRows: %s", res->message);
		if (q->nrows == 1 && q->verdict[0] != DV_BQ_DEAD &&
		    dv_bq_sw_dead(q, 0, "", res->message))
			an->outcome = DV_BQ_SEND_AGAIN;
		return;
	}
	dv_bq_sw_whole(sw, q, "AppendRows", res);
}

/* A request at a new offset goes in the journal first (one sent again at
 * its offset is there already). 0, or -1 with q answered: send again. */
static int dv_bq_sw_journal(struct dv_bq_sw *sw, struct dv_bq_req *q)
{
	int rc;

	if (!sw->ss || sw->nunsure)
		return 0;
	if (dv_bq_sw_grow((void **)&sw->ids, &sw->ids_cap, sw->nsent, sizeof(*sw->ids)))
		rc = -ENOMEM;
	else {
		for (uint32_t k = 0; k < sw->nsent; k++)
			sw->ids[k] = q->rows[sw->sent[k]]->data;
		rc = dv_bq_ss_sending(sw->ss, sw->stream_id, sw->next, sw->ids, sw->nsent);
	}
	if (rc == 0)
		return 0;
	for (uint32_t k = 0; k < sw->nsent; k++)
		q->verdict[sw->sent[k]] = DV_BQ_RETRY;
	q->answer.failed = 1;
	snprintf(q->answer.error, sizeof(q->answer.error),
		 "the request cannot be written to %s in the spool directory: %s", DV_BQ_SS_FILE,
		 strerror(-rc));
	dv_bq_logf(sw->log, DV_BQ_ERR, "%s; %u rows will be sent again", q->answer.error,
		   sw->nsent);
	return -1;
}

/* The whole exchange for q: rows an earlier run stored, encoding, the
 * stream and its call, the journal, the append and its answer. On the
 * storage thread (or, without it, in start()). */
static void dv_bq_sw_exchange(struct dv_bq_sw *sw, struct dv_bq_req *q, const char *token)
{
	struct dv_bq_sw_req *p = q->priv;
	int rc;

	if (sw->ss && dv_bq_ss_unresolved(sw->ss, &(uint32_t){0}, &(const char *){NULL}) &&
	    dv_bq_sw_recover(sw, q, token, &p->res))
		return;
	if (sw->ss)
		dv_bq_sw_recovered(sw, q);
	rc = dv_bq_sw_encode(sw, q);
	if (rc == 1) { /* should not happen: the sink keeps the order of rows sent again */
		dv_bq_logf(sw->log, DV_BQ_ERR,
			   "the rows of a request in doubt are not the next "
			   "ones: it cannot be sent again as it was");
		dv_bq_sw_leave_stream(sw, "is left");
		q->ndead = 0;
		rc = dv_bq_sw_encode(sw, q);
	}
	if (rc < 0) {
		q->answer.outcome = DV_BQ_SEND_AGAIN;
		q->answer.failed = 1;
		snprintf(q->answer.error, sizeof(q->answer.error),
			 "out of memory encoding the rows");
		return;
	}
	if (sw->nsent == 0) /* nothing to send: every row was dead */
		return;
	if (dv_bq_sw_ready(sw, q, token, &p->res) || dv_bq_sw_journal(sw, q))
		return;
	q->offset = sw->next;
	dv_bq_append_send(sw->call, sw->next, &sw->rows, &p->res);
	q->answer.bytes = p->res.bytes;
	dv_bq_sw_answer(sw, q, &p->res);
}

static void *dv_bq_sw_main(void *arg)
{
	struct dv_bq_sw *sw = arg;

	pthread_mutex_lock(&sw->mu);
	for (;;) {
		struct dv_bq_req *q;

		while (!sw->job && !sw->stop)
			pthread_cond_wait(&sw->cv, &sw->mu);
		if (!sw->job)
			break;
		q = sw->job;
		pthread_mutex_unlock(&sw->mu);
		dv_bq_sw_exchange(sw, q, sw->token);
		pthread_mutex_lock(&sw->mu);
		sw->job = NULL;
		/* Everything the exchange wrote in q is visible to whoever sees this. */
		__atomic_store_n(&q->answered, 1, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&sw->cv);
		curl_multi_wakeup(sw->multi);
	}
	pthread_mutex_unlock(&sw->mu);
	return NULL;
}

static int dv_bq_sw_start(struct dv_bq_api *a, struct dv_bq_req *q, const char *auth)
{
	static const char bearer[] = "Authorization: Bearer ";
	struct dv_bq_sw *sw = a->st;
	struct dv_bq_sw_req *p = q->priv;
	const char *token =
	    auth && !strncmp(auth, bearer, sizeof(bearer) - 1) ? auth + sizeof(bearer) - 1 : "";

	q->dead = NULL;
	q->ndead = 0;
	q->offset = -1;
	q->answer = (struct dv_bq_answer){.outcome = DV_BQ_ANSWERED};
	dv_bq_storage_result_clear(&p->res);
	memset(q->verdict, DV_BQ_STOPPED, q->nrows);
	if (!sw->running) {
		dv_bq_sw_exchange(sw, q, token);
		q->answered = 1;
		return 0;
	}
	pthread_mutex_lock(&sw->mu);
	if (sw->job) { /* the sink sends one request at a time (nreqs 1) */
		pthread_mutex_unlock(&sw->mu);
		return -EBUSY;
	}
	if (strlen(token) >= sizeof(sw->token)) {
		dv_bq_logf(sw->log, DV_BQ_ERR, "the access token is longer than %zu bytes",
			   sizeof(sw->token) - 1);
		token = "";
	}
	snprintf(sw->token, sizeof(sw->token), "%s", token);
	q->answered = 0;
	sw->job = q;
	pthread_cond_broadcast(&sw->cv);
	pthread_mutex_unlock(&sw->mu);
	return 0;
}

/*
 * Stops q: the storage thread's waits are interrupted (the call cancelled)
 * and q's exchange ends at once. An exchange that was interrupted, or had
 * no answer, leaves q unanswered (its rows are the sink's again: a request
 * sent is in doubt and goes again at its offset); one that got its answer
 * before the interrupt keeps it, for the sink to settle.
 */
static void dv_bq_sw_cancel(struct dv_bq_api *a, struct dv_bq_req *q)
{
	struct dv_bq_sw *sw = a->st;

	if (!sw->running) {
		q->answered = 0; /* answered in start(): nothing was in flight */
		return;
	}
	pthread_mutex_lock(&sw->mu);
	if (sw->job == q) {
		dv_bq_storage_interrupt(sw->s, 1);
		while (sw->job == q)
			pthread_cond_wait(&sw->cv, &sw->mu);
		dv_bq_storage_interrupt(sw->s, 0);
	}
	pthread_mutex_unlock(&sw->mu);
	if (q->answered && q->answer.outcome == DV_BQ_SEND_AGAIN)
		q->answered = 0;
}

static int dv_bq_sw_thread_start(struct dv_bq_sw *sw)
{
	int rc;

	pthread_mutex_init(&sw->mu, NULL);
	pthread_cond_init(&sw->cv, NULL);
	rc = pthread_create(&sw->tid, NULL, dv_bq_sw_main, sw);
	if (rc) {
		dv_bq_logf(sw->log, DV_BQ_WARN,
			   "no storage thread (%s): gRPC calls are made on the control lcore",
			   strerror(rc));
		return 0;
	}
	pthread_setname_np(sw->tid, "dv-bq-storage");
	sw->running = 1;
	return 0;
}

static void dv_bq_sw_thread_stop(struct dv_bq_sw *sw)
{
	if (!sw->running)
		return;
	pthread_mutex_lock(&sw->mu);
	sw->stop = 1;
	pthread_cond_broadcast(&sw->cv);
	pthread_mutex_unlock(&sw->mu);
	pthread_join(sw->tid, NULL);
	sw->running = 0;
	pthread_cond_destroy(&sw->cv);
	pthread_mutex_destroy(&sw->mu);
}

/* ---- open / destroy --------------------------------------------------------------- */

static void dv_bq_sw_destroy(struct dv_bq_api *a)
{
	struct dv_bq_sw *sw = a->st;

	if (!sw)
		return;
	dv_bq_sw_thread_stop(sw); /* nothing is in flight: its loop only waits */
	if (sw->stats->bq_new_streams)
		dv_bq_logf(sw->log, DV_BQ_INFO,
			   "storage write: %" PRIu64 " appends (%" PRIu64
			   " already stored), %" PRIu64 " streams, %" PRIu64
			   " rows may have been stored twice",
			   sw->stats->bq_appends, sw->stats->bq_already_exists,
			   sw->stats->bq_new_streams, sw->stats->bq_may_repeat);
	if (sw->found_stored)
		dv_bq_logf(sw->log, DV_BQ_NOTICE,
			   "storage write: %" PRIu64 " rows from the spool were stored by an "
			   "earlier run (its stream's row count): delivered, not sent again",
			   sw->found_stored);
	dv_bq_ss_close(sw->ss);
	free(sw->ids);
	dv_bq_sw_end_call(sw);
	dv_bq_storage_close(sw->s);
	for (uint32_t i = 0; sw->slots && i < sw->nreqs; i++) {
		dv_bq_storage_result_clear(&sw->slots[i].res);
		free(sw->slots[i].dead);
		sw->reqs[i].priv = NULL;
	}
	free(sw->slots);
	dv_bq_rows_free(&sw->rows);
	free(sw->sent);
	free(sw->unsure);
	free(sw);
	a->st = NULL;
}

static const struct dv_bq_api_ops dv_bq_sw_ops = {
    /* The sink counts JSON text; a protobuf row is shorter, and the request's
     * own fields fit in this. */
    .request_bytes = DV_BQ_SW_MARGIN, .row_bytes = 0,
    .start = dv_bq_sw_start,	      .done = NULL,
    .cancel = dv_bq_sw_cancel,	      .destroy = dv_bq_sw_destroy,
};

int dv_bq_storage_api_open(struct dv_bq_api *a, const struct dv_bq_api_env *env, char *err,
			   size_t errlen)
{
	const struct dv_bq_config *c = env->conf;
	struct dv_bq_sw *sw = calloc(1, sizeof(*sw));
	int n;

	a->ops = &dv_bq_sw_ops;
	a->st = sw;
	if (!sw || !(sw->slots = calloc(env->nreqs, sizeof(*sw->slots)))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	sw->log = env->log;
	sw->stats = env->stats;
	sw->reqs = env->reqs;
	sw->nreqs = env->nreqs;
	for (uint32_t i = 0; i < env->nreqs; i++)
		env->reqs[i].priv = &sw->slots[i];
	snprintf(sw->parent, sizeof(sw->parent), "projects/%s/datasets/%s/tables/%s", c->project,
		 c->dataset, c->table);
	n = dv_bq_proto_descriptor(sw->desc, sizeof(sw->desc));
	if (n < 0) {
		snprintf(err, errlen, "the row message's descriptor: %s", strerror(-n));
		return n;
	}
	sw->desc_len = (size_t)n;
	if (c->spool_dir && (n = dv_bq_ss_open(c->spool_dir, sw->log, &sw->ss, err, errlen)))
		return n;
	sw->s = dv_bq_storage_open(
	    &(struct dv_bq_storage_conf){
		.endpoint = c->storage_endpoint,
		.ca_file = c->ca_file,
		.timeout_ms = (unsigned)env->http->request_timeout_ms,
	    },
	    err, errlen);
	if (!sw->s)
		return -EINVAL;
	sw->multi = env->multi;
	return dv_bq_sw_thread_start(sw);
}
