/*
 * dv_bq_storage: the BigQuery Storage Write API's transport (issue 17), a
 * small client of google.cloud.bigquery.storage.v1.BigQueryWrite on gRPC's
 * C core: CreateWriteStream (committed type), GetWriteStream,
 * FinalizeWriteStream, and the bidirectional AppendRows call, one request
 * and its answer at a time.
 *
 * It only moves bytes and names outcomes: which rows to send, at which
 * offset, and what to do with each outcome is the sink's business. Every
 * call carries the caller's bearer token and the routing header
 * (x-goog-request-params); TLS is always verified, against a CA file or
 * the system's bundle. The functions block for at most the configured
 * timeout on one completion queue (pluck), so they run on a thread of
 * their own (dv_bq_storage_api.c's), never on a worker or the control
 * lcore; one thread at a time may use a channel, and any thread may
 * interrupt it. Nothing here logs, and a token never appears in a
 * message.
 */
#ifndef DV_BQ_STORAGE_H
#define DV_BQ_STORAGE_H

#include <stddef.h>
#include <stdint.h>

/* The service's limit for one AppendRowsRequest; the caller stays under it. */
#define DV_BQ_STORAGE_REQUEST_MAX (10u * 1024 * 1024)

/* Default endpoint, and the CA bundle used when no CA file is given. */
#define DV_BQ_STORAGE_ENDPOINT	 "bigquerystorage.googleapis.com:443"
#define DV_BQ_STORAGE_SYSTEM_CAS "/etc/ssl/certs/ca-certificates.crt"

struct dv_bq_storage_conf {
	const char *endpoint; /* HOST:PORT; NULL: DV_BQ_STORAGE_ENDPOINT */
	const char *ca_file;  /* PEM roots; NULL: DV_BQ_STORAGE_SYSTEM_CAS */
	unsigned timeout_ms;  /* longest wait of one call or append; 0: 30 s */
};

/*
 * What a call came to, as the sink acts on it. The gRPC status code (or the
 * google.rpc.Status code of an in-stream error) is kept beside it.
 */
enum dv_bq_storage_outcome {
	DV_BQS_OK,		/* done; an append's offset in result.offset */
	DV_BQS_ALREADY_EXISTS,	/* the offset was stored before: delivered */
	DV_BQS_OUT_OF_RANGE,	/* beyond the stream's end: a bug to report */
	DV_BQS_STREAM_GONE,	/* NOT_FOUND, finalized or expired: open another */
	DV_BQS_ROW_ERRORS,	/* none stored; the bad rows in result.row_errors */
	DV_BQS_RETRY,		/* UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, INTERNAL,
				   DEADLINE_EXCEEDED, CANCELLED, a dropped connection */
	DV_BQS_UNAUTHENTICATED, /* refresh the token and call again */
	DV_BQS_INVALID,		/* INVALID_ARGUMENT: message says why */
	DV_BQS_SCHEMA_BEHIND, /* the stream predates a tables.patch (SCHEMA_MISMATCH_EXTRA_FIELDS):
			       * nothing stored; a new stream has the table's new schema */
	DV_BQS_FAILED,	      /* any other definite error (PERMISSION_DENIED, ...) */
};

/* One entry of AppendRowsResponse.row_errors. */
struct dv_bq_row_error {
	int64_t index; /* the row's position in the request */
	int code;      /* RowError.RowErrorCode (1: FIELDS_ERROR) */
	char message[256];
};

struct dv_bq_storage_result {
	enum dv_bq_storage_outcome outcome;
	int code;	/* gRPC / google.rpc code: 0 OK, 6 ALREADY_EXISTS, ... */
	int64_t offset; /* OK append: append_result.offset, -1 when absent */
	uint64_t bytes; /* an append: the AppendRowsRequest's serialized size (0: none sent) */
	char message[512];
	struct dv_bq_row_error *row_errors; /* allocated; dv_bq_storage_result_clear */
	size_t n_row_errors;
};

/* GetWriteStream's answer (the fields devourer reads). */
struct dv_bq_stream_info {
	char name[512];
	int type;	   /* WriteStream.Type: 1 COMMITTED */
	int64_t create_us; /* create_time, microseconds since the epoch */
	int64_t commit_us; /* commit_time, 0 when unset */
	size_t n_columns;  /* table_schema fields (view FULL) */
};

/*
 * Rows of one append as ProtoRows.serialized_rows: each row framed (tag,
 * length) into one growing buffer, so a request is made by one copy.
 */
struct dv_bq_rows {
	uint8_t *buf;
	size_t len, cap;
	size_t n; /* rows */
};

struct dv_bq_storage;
struct dv_bq_append;

/* Frames row (a dv_bq_proto_row()) into rows. 0, or -ENOMEM. */
int dv_bq_rows_add(struct dv_bq_rows *rows, const uint8_t *row, size_t len);
/* Empties rows, keeping the buffer; _free releases it. */
void dv_bq_rows_clear(struct dv_bq_rows *rows);
void dv_bq_rows_free(struct dv_bq_rows *rows);

/* An AppendRowsResponse's bytes into res (outcome, code, offset, message,
 * row errors; res->bytes kept): what dv_bq_append_send does with an answer,
 * on its own for fuzz_bq and tests. Never reads past len. */
enum dv_bq_storage_outcome dv_bq_storage_read_append(const uint8_t *msg, size_t len,
						     struct dv_bq_storage_result *res);

/* Frees the row errors of r (r may be reused after). */
void dv_bq_storage_result_clear(struct dv_bq_storage_result *r);
/* "OK", "ALREADY_EXISTS", ... for messages and counters. */
const char *dv_bq_storage_outcome_name(enum dv_bq_storage_outcome o);

/*
 * A channel to the endpoint (no connection is made yet: the first call
 * connects, and a dropped connection is made again by the next call).
 * NULL with a message in err when the CA file cannot be read or the
 * endpoint is malformed.
 */
struct dv_bq_storage *dv_bq_storage_open(const struct dv_bq_storage_conf *conf, char *err,
					 size_t errlen);
/* Closes the channel. Every append opened on it must be closed first. */
void dv_bq_storage_close(struct dv_bq_storage *s);

/*
 * From any thread: while on, every wait of a call on s (in progress or
 * started later) ends within about 50 ms, the call cancelled, with outcome
 * RETRY ("interrupted": the request may have been stored, as after a
 * timeout). For a prompt shutdown; switched off again by the caller.
 */
void dv_bq_storage_interrupt(struct dv_bq_storage *s, int on);

/*
 * CreateWriteStream of type COMMITTED under parent
 * ("projects/P/datasets/D/tables/T"); on OK its name is copied to name.
 * Returns the outcome (also in res).
 */
enum dv_bq_storage_outcome dv_bq_storage_create_stream(struct dv_bq_storage *s, const char *token,
						       const char *parent, char *name, size_t cap,
						       struct dv_bq_storage_result *res);

/* GetWriteStream (view FULL) into info. */
enum dv_bq_storage_outcome dv_bq_storage_get_stream(struct dv_bq_storage *s, const char *token,
						    const char *name,
						    struct dv_bq_stream_info *info,
						    struct dv_bq_storage_result *res);

/* FinalizeWriteStream: no append is taken after; *row_count its rows. */
enum dv_bq_storage_outcome dv_bq_storage_finalize(struct dv_bq_storage *s, const char *token,
						  const char *name, int64_t *row_count,
						  struct dv_bq_storage_result *res);

/*
 * Starts an AppendRows call on stream name. descriptor (dv_bq_proto_descriptor())
 * is copied: it goes in the call's first request with the stream's name.
 * Returns the call, or NULL with the outcome in res (RETRY when the
 * connection cannot be made in time).
 */
struct dv_bq_append *dv_bq_append_open(struct dv_bq_storage *s, const char *token, const char *name,
				       const uint8_t *descriptor, size_t len,
				       struct dv_bq_storage_result *res);

/*
 * Sends rows at offset (-1: none, the service appends at the end) and waits
 * for the answer. Any outcome but OK, ALREADY_EXISTS, OUT_OF_RANGE and
 * ROW_ERRORS ends the call: close it and open another.
 */
enum dv_bq_storage_outcome dv_bq_append_send(struct dv_bq_append *a, int64_t offset,
					     const struct dv_bq_rows *rows,
					     struct dv_bq_storage_result *res);

/* Half-closes the call, reads its status (bounded by the timeout), frees it. */
void dv_bq_append_close(struct dv_bq_append *a);

#endif
