/*
 * dv_bq_api: what the sink (dv_bq_sink.c) needs from an upload API, so that
 * each API is its own file behind one small interface: insertAll
 * (dv_bq_insertall.c) and the Storage Write API (dv_bq_storage_api.c). The sink decides
 * what to send and when (batches, backoff, spool, drain) and decides every
 * row's fate (delivered, sent again, dead-lettered, dropped) and the
 * accounting; an API turns a batch of rows into requests on the wire and
 * its answers into verdicts, and logs what only it can explain.
 *
 * One request at a time per slot (struct dv_bq_req, owned by the sink):
 *   1. The sink moves rows into q->rows and calls start(); on 0 the request
 *      is the API's until it is answered. On a negative errno nothing was
 *      sent and the rows are still q's (the sink queues them again).
 *   2. The API sets q->answered, with q->answer and, for an answer row by
 *      row, q->verdict[] (and q->dead[]). It does so in done() (a transfer
 *      of its own on the sink's multi handle ended), in a callback of a
 *      transfer while the sink runs curl_multi_perform (an answer on a
 *      stream that stays open), from a thread of its own (a transport that
 *      waits for its answer, e.g. gRPC calls plucked with a deadline: it
 *      stores q->answered last, with release order, and wakes the multi
 *      handle with curl_multi_wakeup), or in start() itself; the sink looks
 *      at its slots after each.
 *   3. The sink settles q: it reads the answer, moves every row to its fate
 *      and reuses the slot. Strings the answer points to stay valid until
 *      the next start() of q, cancel() or destroy().
 * cancel() stops q (shutdown, drain deadline), waiting for a thread of the
 * API to let go of it: without an answer its rows are q's again and are
 * spooled by the sink; an answer that came first stays (q->answered) and
 * the sink settles it.
 *
 * An API on libcurl runs its transfers on the sink's multi handle, so one
 * curl_multi_poll() waits for all of them, the token refresh included.
 */
#ifndef DV_BQ_API_H
#define DV_BQ_API_H

#include <stdint.h>

#include <curl/curl.h>

#include "dv_bq_int.h"
#include "dv_spool.h"

/* A row as the sink holds it: insertId and row text, both NUL-terminated,
 * in one block. */
struct dv_bq_row {
	struct dv_bq_row *next;
	struct dv_spool_ref ref; /* its spool record, seg NULL if none */
	uint64_t queued_ns;	 /* monotonic, for the flush interval */
	uint32_t len;		 /* row text length */
	uint16_t id_len;
	uint16_t sends; /* times sent so far */
	char data[];	/* insertId '\0' row '\0' */
};

static inline const char *dv_bq_row_text(const struct dv_bq_row *r)
{
	return r->data + r->id_len + 1;
}

/* Verdict on one row of a request answered row by row. */
enum dv_bq_verdict {
	DV_BQ_OK = 0,  /* stored */
	DV_BQ_RETRY,   /* send again after a backoff */
	DV_BQ_STOPPED, /* send again at once: only collateral of another row's error */
	DV_BQ_DEAD,    /* refused for good: to the dead-letter file, with q->dead's reason */
};

/* Why a row is refused for good (verdict DV_BQ_DEAD), as the service said. */
struct dv_bq_dead_row {
	uint32_t row; /* index in q->rows */
	const char *reason, *location, *message;
};

/* What became of a request as a whole. */
enum dv_bq_outcome {
	DV_BQ_ANSWERED,	  /* row by row: q->verdict[] */
	DV_BQ_SEND_AGAIN, /* no verdicts (connection error, 429, 5xx): all rows after a backoff */
	DV_BQ_REFUSED, /* the request as a whole: split the batch; a lone row is dead (q->dead) */
	DV_BQ_REAUTH,  /* the token was refused: renew it, all rows again after a backoff */
	DV_BQ_TABLE_GONE, /* the table is not there (any more): all rows again after a backoff */
};

struct dv_bq_answer {
	enum dv_bq_outcome outcome;
	int failed;		 /* counts as a failed request (stats request_errors) */
	uint64_t bytes;		 /* put on the wire for it (stats bytes_out) */
	uint64_t retry_after_ns; /* the service's own wait, if longer than the backoff; 0: none */
	char error[640];	 /* why it was not accepted, for messages; "" to keep the last */
};

/* A request slot: the sink's, lent to the API from start() to its answer. */
struct dv_bq_req {
	struct dv_bq_row **rows;
	uint8_t *verdict; /* enum dv_bq_verdict per row, when answered row by row */
	uint32_t nrows;
	uint32_t cap; /* of rows and verdict */
	size_t bytes; /* the size the sink counted: request_bytes + row_bytes, id, text per row */
	int busy;     /* started and not yet settled */
	int answered; /* set by the API: answer (and verdict, dead) are valid */
	/* Set by an API with offsets (Storage Write): the stream offset the
	 * request's first row was sent at, -1 for none. */
	int64_t offset;
	struct dv_bq_answer answer;
	const struct dv_bq_dead_row *dead; /* the DV_BQ_DEAD rows, in the answer's order */
	uint32_t ndead;
	void *priv; /* the API's own per-slot state */
};

struct dv_bq_api;

struct dv_bq_api_ops {
	size_t request_bytes; /* a request's size beside its rows, for batch_max_bytes */
	size_t row_bytes;     /* a row's size beside its insertId and text */
	/* Send q->rows. auth: "Authorization: ..." header line, NULL for none. */
	int (*start)(struct dv_bq_api *a, struct dv_bq_req *q, const char *auth);
	/* A transfer on the multi handle that is not the sink's ended with rc:
	 * remove it from the multi handle and answer the requests it carried.
	 * NULL for an API with no transfers there. */
	void (*done)(struct dv_bq_api *a, CURL *easy, CURLcode rc);
	/* Stop q's transfer without an answer. */
	void (*cancel)(struct dv_bq_api *a, struct dv_bq_req *q);
	/* Free everything the API holds, per slot too (nothing is in flight). */
	void (*destroy)(struct dv_bq_api *a);
};

struct dv_bq_api {
	const struct dv_bq_api_ops *ops;
	void *st; /* the API's state */
};

/* What the sink gives an API when it opens it; kept, not copied. */
struct dv_bq_api_env {
	const struct dv_bq_http *http;
	struct dv_bq_log *log;
	CURLM *multi;
	const struct dv_bq_table_ref *table; /* only while opening */
	const struct dv_bq_config *conf;     /* only while opening */
	struct dv_bq_req *reqs;		     /* the sink's slots */
	uint32_t nreqs;
	struct dv_sink_stats *stats; /* the sink's: an API counts what only it sees (bq_*) */
};

/* tabledata.insertAll (dv_bq_insertall.c): 0, or -ENOMEM. */
int dv_bq_insertall_open(struct dv_bq_api *a, const struct dv_bq_api_env *env);
/* Read an insertAll answer (HTTP status and body) to q, started or not, as
 * the end of its transfer would: for fuzz_bq and tests. */
void dv_bq_insertall_answer(struct dv_bq_api *a, struct dv_bq_req *q, long status, const char *body,
			    size_t len);

/* The Storage Write API (dv_bq_storage_api.c): 0, or negative errno with
 * one line in err. */
int dv_bq_storage_api_open(struct dv_bq_api *a, const struct dv_bq_api_env *env, char *err,
			   size_t errlen);

#endif
