/*
 * dv_bq_storage: the Storage Write API's transport on gRPC's C core. Why
 * the C core and not gRPC framing on libcurl/nghttp2: docs/architecture.md,
 * "Storage Write API transport".
 *
 * One channel and one completion queue per client; every operation is a
 * batch started on a call and plucked from the queue with a deadline, so
 * each function here reads as a blocking call. A pluck that times out
 * cancels its call and plucks again: the cancel makes every started batch
 * complete, and a batch must never be left on the queue.
 *
 * Messages: the small ones (CreateWriteStream, Get, Finalize and every
 * answer) are packed and unpacked by protobuf-c's generated code
 * (lib/bq/proto); an AppendRowsRequest is written by hand around the rows
 * the caller already framed (struct dv_bq_rows), which costs one copy of
 * the rows instead of an array of pointers and a second copy.
 *
 * Outcomes: the gRPC status, an in-stream google.rpc.Status, and the
 * StorageError in its details (or in the grpc-status-details-bin trailer)
 * are all reduced by classify() to the outcomes of dv_bq_storage.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "dv_bq_int.h"
#include "dv_bq_storage.h"
#include "bigquery_storage_v1.pb-c.h"
#include "google_rpc_status.pb-c.h"

/* ---- types ---------------------------------------------------------------- */

typedef Google__Cloud__Bigquery__Storage__V1__WriteStream pb_write_stream;
typedef Google__Cloud__Bigquery__Storage__V1__AppendRowsResponse pb_append_resp;
typedef Google__Cloud__Bigquery__Storage__V1__StorageError pb_storage_error;
typedef Google__Rpc__Status pb_status;

#define SERVICE		  "/google.cloud.bigquery.storage.v1.BigQueryWrite/"
#define STORAGE_ERROR_URL "type.googleapis.com/google.cloud.bigquery.storage.v1.StorageError"

/* StorageError.StorageErrorCode values that decide an outcome. */
enum {
	SE_STREAM_NOT_FOUND = 3,
	SE_STREAM_FINALIZED = 6,
	SE_SCHEMA_MISMATCH_EXTRA_FIELDS = 7,
	SE_OFFSET_ALREADY_EXISTS = 8,
	SE_OFFSET_OUT_OF_RANGE = 9,
};

struct dv_bq_storage {
	grpc_channel *channel;
	grpc_completion_queue *cq;
	unsigned timeout_ms;
	int interrupt; /* dv_bq_storage_interrupt(): set from another thread */
};

/* How long one wait lasts before the interrupt flag is looked at again. */
#define INTERRUPT_CHECK_MS 50

struct dv_bq_append {
	struct dv_bq_storage *s;
	grpc_call *call;
	char *name;
	uint8_t *descriptor;
	size_t descriptor_len;
	int sent;	    /* requests sent on this call */
	int status_pending; /* the RECV_STATUS batch is started, not plucked */
	grpc_metadata_array initial_md, trailing_md;
	grpc_status_code status;
	grpc_slice details;
	char tag_status, tag_send, tag_close; /* their addresses are the tags */
};

/* The two metadata of every call: the token and the routing header. */
struct call_md {
	grpc_metadata md[2];
};

/* ---- small helpers -------------------------------------------------------- */

static gpr_timespec deadline_in(unsigned ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* The service's text (messages go into one log line): control characters,
 * line breaks included, become spaces; cut to cap - 1 bytes. */
static void copy_str(char *dst, size_t cap, const char *src, size_t len)
{
	if (cap == 0)
		return;
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	dv_bq_one_line(dst);
}

static void call_md_init(struct call_md *m, const char *token, const char *param, const char *value)
{
	char enc[1024], buf[1100];
	size_t tl = strlen(token);
	grpc_slice auth = grpc_slice_malloc(7 + tl);

	memcpy(GRPC_SLICE_START_PTR(auth), "Bearer ", 7);
	memcpy(GRPC_SLICE_START_PTR(auth) + 7, token, tl);
	/* x-goog-request-params wants the value URL-encoded (a '/' as %2F); a
	 * value too long for it goes empty, and the service refuses the call. */
	if (dv_bq_path_escape(value, enc, sizeof(enc)) != 0)
		enc[0] = '\0';
	snprintf(buf, sizeof(buf), "%s=%s", param, enc);
	memset(m, 0, sizeof(*m));
	m->md[0].key = grpc_slice_from_static_string("authorization");
	m->md[0].value = auth;
	m->md[1].key = grpc_slice_from_static_string("x-goog-request-params");
	m->md[1].value = grpc_slice_from_copied_string(buf);
}

static void call_md_destroy(struct call_md *m)
{
	for (int i = 0; i < 2; i++) {
		grpc_slice_unref(m->md[i].key);
		grpc_slice_unref(m->md[i].value);
	}
}

static grpc_byte_buffer *pack_message(const ProtobufCMessage *msg)
{
	grpc_slice sl = grpc_slice_malloc(protobuf_c_message_get_packed_size(msg));
	grpc_byte_buffer *bb;

	protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(sl));
	bb = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);
	return bb;
}

/* Unpacks a received message with desc; NULL if bb is NULL or bad bytes. */
static ProtobufCMessage *unpack_message(const ProtobufCMessageDescriptor *desc,
					grpc_byte_buffer *bb)
{
	grpc_byte_buffer_reader rd;
	ProtobufCMessage *m;
	grpc_slice sl;

	if (!bb || !grpc_byte_buffer_reader_init(&rd, bb))
		return NULL;
	sl = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	m = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(sl), GRPC_SLICE_START_PTR(sl));
	grpc_slice_unref(sl);
	return m;
}

/*
 * Plucks tag, looking at the interrupt flag every INTERRUPT_CHECK_MS; on
 * the deadline or an interrupt cancels the call and plucks it anyway (the
 * cancel completes it). Returns 1 done, 0 failed, -ETIMEDOUT or -EINTR.
 */
static int pluck(struct dv_bq_storage *s, grpc_call *call, void *tag, gpr_timespec deadline)
{
	int rc = -ETIMEDOUT;

	for (;;) {
		gpr_timespec slice = deadline_in(INTERRUPT_CHECK_MS);
		int last = gpr_time_cmp(deadline, slice) <= 0;
		grpc_event ev =
		    grpc_completion_queue_pluck(s->cq, tag, last ? deadline : slice, NULL);

		if (ev.type == GRPC_OP_COMPLETE)
			return ev.success ? 1 : 0;
		if (__atomic_load_n(&s->interrupt, __ATOMIC_ACQUIRE)) {
			rc = -EINTR;
			break;
		}
		if (last)
			break;
	}
	grpc_call_cancel(call, NULL);
	grpc_completion_queue_pluck(s->cq, tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
	return rc;
}

static int run_batch(struct dv_bq_storage *s, grpc_call *call, const grpc_op *ops, size_t n,
		     void *tag, gpr_timespec deadline)
{
	if (grpc_call_start_batch(call, ops, n, tag, NULL) != GRPC_CALL_OK)
		return 0;
	return pluck(s, call, tag, deadline);
}

/* ---- outcomes ------------------------------------------------------------- */

const char *dv_bq_storage_outcome_name(enum dv_bq_storage_outcome o)
{
	static const char *const names[] = {
	    [DV_BQS_OK] = "OK",
	    [DV_BQS_ALREADY_EXISTS] = "ALREADY_EXISTS",
	    [DV_BQS_OUT_OF_RANGE] = "OUT_OF_RANGE",
	    [DV_BQS_STREAM_GONE] = "STREAM_GONE",
	    [DV_BQS_ROW_ERRORS] = "ROW_ERRORS",
	    [DV_BQS_RETRY] = "RETRY",
	    [DV_BQS_UNAUTHENTICATED] = "UNAUTHENTICATED",
	    [DV_BQS_INVALID] = "INVALID_ARGUMENT",
	    [DV_BQS_SCHEMA_BEHIND] = "SCHEMA_MISMATCH_EXTRA_FIELDS",
	    [DV_BQS_FAILED] = "FAILED",
	};

	return (unsigned)o < sizeof(names) / sizeof(names[0]) ? names[o] : "?";
}

void dv_bq_storage_result_clear(struct dv_bq_storage_result *r)
{
	free(r->row_errors);
	memset(r, 0, sizeof(*r));
	r->offset = -1;
}

/* A gRPC code (and a StorageError code, 0 if none) -> the outcome. */
static enum dv_bq_storage_outcome classify(int code, int storage_code)
{
	if (storage_code == SE_STREAM_NOT_FOUND || storage_code == SE_STREAM_FINALIZED)
		return DV_BQS_STREAM_GONE;
	if (storage_code == SE_SCHEMA_MISMATCH_EXTRA_FIELDS)
		return DV_BQS_SCHEMA_BEHIND;
	if (storage_code == SE_OFFSET_ALREADY_EXISTS)
		return DV_BQS_ALREADY_EXISTS;
	if (storage_code == SE_OFFSET_OUT_OF_RANGE)
		return DV_BQS_OUT_OF_RANGE;
	switch (code) {
	case GRPC_STATUS_OK:
		return DV_BQS_OK;
	case GRPC_STATUS_ALREADY_EXISTS:
		return DV_BQS_ALREADY_EXISTS;
	case GRPC_STATUS_OUT_OF_RANGE:
		return DV_BQS_OUT_OF_RANGE;
	case GRPC_STATUS_NOT_FOUND:
		return DV_BQS_STREAM_GONE;
	case GRPC_STATUS_UNAVAILABLE:
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
	case GRPC_STATUS_ABORTED:
	case GRPC_STATUS_INTERNAL:
	case GRPC_STATUS_DEADLINE_EXCEEDED:
	case GRPC_STATUS_CANCELLED:
		return DV_BQS_RETRY;
	case GRPC_STATUS_UNAUTHENTICATED:
		return DV_BQS_UNAUTHENTICATED;
	case GRPC_STATUS_INVALID_ARGUMENT:
		return DV_BQS_INVALID;
	default:
		return DV_BQS_FAILED;
	}
}

/* The StorageError code among a google.rpc.Status's details, 0 if none. */
static int storage_code_of(const pb_status *st)
{
	for (size_t i = 0; st && i < st->n_details; i++) {
		const Google__Protobuf__Any *any = st->details[i];
		pb_storage_error *se;
		int code;

		if (strcmp(any->type_url, STORAGE_ERROR_URL) != 0)
			continue;
		se = google__cloud__bigquery__storage__v1__storage_error__unpack(
		    NULL, any->value.len, any->value.data);
		if (!se)
			continue;
		code = (int)se->code;
		google__cloud__bigquery__storage__v1__storage_error__free_unpacked(se, NULL);
		return code;
	}
	return 0;
}

/* The StorageError in a call's grpc-status-details-bin trailer, 0 if none. */
static int trailer_storage_code(const grpc_metadata_array *md)
{
	for (size_t i = 0; i < md->count; i++) {
		grpc_slice v = md->metadata[i].value;
		pb_status *st;
		int code;

		if (grpc_slice_str_cmp(md->metadata[i].key, "grpc-status-details-bin") != 0)
			continue;
		st = google__rpc__status__unpack(NULL, GRPC_SLICE_LENGTH(v),
						 GRPC_SLICE_START_PTR(v));
		code = storage_code_of(st);
		if (st)
			google__rpc__status__free_unpacked(st, NULL);
		return code;
	}
	return 0;
}

/* A call's end (status, details, trailers) into res. */
static enum dv_bq_storage_outcome call_result(struct dv_bq_storage_result *res,
					      grpc_status_code status, grpc_slice details,
					      const grpc_metadata_array *trailing)
{
	res->code = (int)status;
	copy_str(res->message, sizeof(res->message), (const char *)GRPC_SLICE_START_PTR(details),
		 GRPC_SLICE_LENGTH(details));
	res->outcome = classify((int)status, trailing ? trailer_storage_code(trailing) : 0);
	return res->outcome;
}

/* No answer: the deadline passed (rc -ETIMEDOUT) or the wait was
 * interrupted (-EINTR). Either way the request may have been stored. */
static enum dv_bq_storage_outcome timed_out(struct dv_bq_storage_result *res, const char *what,
					    int rc)
{
	res->code = GRPC_STATUS_DEADLINE_EXCEEDED;
	snprintf(res->message, sizeof(res->message), "%s: %s", what,
		 rc == -EINTR ? "interrupted (the sink stops)" : "no answer in time");
	res->outcome = DV_BQS_RETRY;
	return res->outcome;
}

void dv_bq_storage_interrupt(struct dv_bq_storage *s, int on)
{
	__atomic_store_n(&s->interrupt, on, __ATOMIC_RELEASE);
}

/* ---- the channel ---------------------------------------------------------- */

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
	} else {
		snprintf(err, errlen, "%s: cannot read it", path);
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

struct dv_bq_storage *dv_bq_storage_open(const struct dv_bq_storage_conf *conf, char *err,
					 size_t errlen)
{
	const char *ep = conf->endpoint ? conf->endpoint : DV_BQ_STORAGE_ENDPOINT;
	const char *colon = strrchr(ep, ':');
	struct dv_bq_storage *s;
	grpc_channel_credentials *creds;
	grpc_arg args[3];
	grpc_channel_args cargs = {3, args};
	char *roots;

	if (!colon || colon == ep || !colon[1] ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
		snprintf(err, errlen, "storage endpoint %s: want HOST:PORT", ep);
		return NULL;
	}
	roots = read_file(conf->ca_file ? conf->ca_file : DV_BQ_STORAGE_SYSTEM_CAS, err, errlen);
	if (!roots)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		free(roots);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	grpc_init();
	s->timeout_ms = conf->timeout_ms ? conf->timeout_ms : 30000;
	creds = grpc_ssl_credentials_create(roots, NULL, NULL, NULL);
	free(roots);
	/* Retries are the sink's (offsets decide them), not the channel's. */
	args[0].type = GRPC_ARG_INTEGER, args[0].key = GRPC_ARG_ENABLE_RETRIES;
	args[0].value.integer = 0;
	args[1].type = GRPC_ARG_INTEGER, args[1].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[1].value.integer = 64 << 20; /* row_errors of a 10 MB request */
	args[2].type = GRPC_ARG_STRING, args[2].key = GRPC_ARG_PRIMARY_USER_AGENT_STRING;
	args[2].value.string = "dpdk-devourer";
	s->channel = grpc_channel_create(ep, creds, &cargs);
	grpc_channel_credentials_release(creds);
	s->cq = grpc_completion_queue_create_for_pluck(NULL);
	return s;
}

void dv_bq_storage_close(struct dv_bq_storage *s)
{
	if (!s)
		return;
	grpc_channel_destroy(s->channel);
	grpc_completion_queue_shutdown(s->cq);
	grpc_completion_queue_destroy(s->cq);
	free(s);
	grpc_shutdown();
}

/* ---- unary calls ---------------------------------------------------------- */

/*
 * One unary call of method with req; the answer unpacked with desc into
 * *resp on OK (the caller frees it). param=value is the routing header.
 */
static enum dv_bq_storage_outcome unary(struct dv_bq_storage *s, const char *token,
					const char *method, const char *param, const char *value,
					const ProtobufCMessage *req,
					const ProtobufCMessageDescriptor *desc,
					ProtobufCMessage **resp, struct dv_bq_storage_result *res)
{
	grpc_slice path = grpc_slice_from_copied_string(method), details = grpc_empty_slice();
	grpc_metadata_array initial, trailing;
	grpc_byte_buffer *out = pack_message(req), *in = NULL;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	struct call_md md;
	grpc_op ops[6];
	grpc_call *call;
	int rc;

	dv_bq_storage_result_clear(res);
	*resp = NULL;
	call_md_init(&md, token, param, value);
	grpc_metadata_array_init(&initial);
	grpc_metadata_array_init(&trailing);
	call = grpc_channel_create_call(s->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, path,
					NULL, deadline_in(s->timeout_ms), NULL);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = 2;
	ops[0].data.send_initial_metadata.metadata = md.md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = out;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &in;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	/* The call's own deadline ends it first; the pluck's is a safety net. */
	rc = run_batch(s, call, ops, 6, ops, deadline_in(s->timeout_ms + 5000));
	if (rc < 0)
		timed_out(res, method + strlen(SERVICE), rc);
	else if (call_result(res, status, details, &trailing) == DV_BQS_OK &&
		 !(*resp = unpack_message(desc, in))) {
		res->outcome = DV_BQS_FAILED;
		snprintf(res->message, sizeof(res->message), "%s: bad answer",
			 method + strlen(SERVICE));
	}
	grpc_byte_buffer_destroy(out);
	if (in)
		grpc_byte_buffer_destroy(in);
	grpc_metadata_array_destroy(&initial);
	grpc_metadata_array_destroy(&trailing);
	grpc_slice_unref(details);
	grpc_slice_unref(path);
	call_md_destroy(&md);
	grpc_call_unref(call);
	return res->outcome;
}

static int64_t micros(const Google__Protobuf__Timestamp *t)
{
	return t ? t->seconds * 1000000 + t->nanos / 1000 : 0;
}

enum dv_bq_storage_outcome dv_bq_storage_create_stream(struct dv_bq_storage *s, const char *token,
						       const char *parent, char *name, size_t cap,
						       struct dv_bq_storage_result *res)
{
	Google__Cloud__Bigquery__Storage__V1__CreateWriteStreamRequest req =
	    GOOGLE__CLOUD__BIGQUERY__STORAGE__V1__CREATE_WRITE_STREAM_REQUEST__INIT;
	pb_write_stream ws = GOOGLE__CLOUD__BIGQUERY__STORAGE__V1__WRITE_STREAM__INIT, *got;
	ProtobufCMessage *m;

	req.parent = (char *)parent;
	ws.type = GOOGLE__CLOUD__BIGQUERY__STORAGE__V1__WRITE_STREAM__TYPE__COMMITTED;
	req.write_stream = &ws;
	if (unary(s, token, SERVICE "CreateWriteStream", "parent", parent, &req.base,
		  &google__cloud__bigquery__storage__v1__write_stream__descriptor, &m,
		  res) != DV_BQS_OK)
		return res->outcome;
	got = (pb_write_stream *)m;
	if (!got->name[0] || strlen(got->name) >= cap) {
		res->outcome = DV_BQS_FAILED;
		snprintf(res->message, sizeof(res->message), "CreateWriteStream: %s stream name",
			 got->name[0] ? "too long a" : "no");
	} else {
		copy_str(name, cap, got->name, strlen(got->name));
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return res->outcome;
}

enum dv_bq_storage_outcome dv_bq_storage_get_stream(struct dv_bq_storage *s, const char *token,
						    const char *name,
						    struct dv_bq_stream_info *info,
						    struct dv_bq_storage_result *res)
{
	Google__Cloud__Bigquery__Storage__V1__GetWriteStreamRequest req =
	    GOOGLE__CLOUD__BIGQUERY__STORAGE__V1__GET_WRITE_STREAM_REQUEST__INIT;
	pb_write_stream *got;
	ProtobufCMessage *m;

	req.name = (char *)name;
	req.view = GOOGLE__CLOUD__BIGQUERY__STORAGE__V1__WRITE_STREAM_VIEW__FULL;
	memset(info, 0, sizeof(*info));
	if (unary(s, token, SERVICE "GetWriteStream", "name", name, &req.base,
		  &google__cloud__bigquery__storage__v1__write_stream__descriptor, &m,
		  res) != DV_BQS_OK)
		return res->outcome;
	got = (pb_write_stream *)m;
	copy_str(info->name, sizeof(info->name), got->name, strlen(got->name));
	info->type = (int)got->type;
	info->create_us = micros(got->create_time);
	info->commit_us = micros(got->commit_time);
	info->n_columns = got->table_schema ? got->table_schema->n_fields : 0;
	protobuf_c_message_free_unpacked(m, NULL);
	return res->outcome;
}

enum dv_bq_storage_outcome dv_bq_storage_finalize(struct dv_bq_storage *s, const char *token,
						  const char *name, int64_t *row_count,
						  struct dv_bq_storage_result *res)
{
	Google__Cloud__Bigquery__Storage__V1__FinalizeWriteStreamRequest req =
	    GOOGLE__CLOUD__BIGQUERY__STORAGE__V1__FINALIZE_WRITE_STREAM_REQUEST__INIT;
	ProtobufCMessage *m;

	req.name = (char *)name;
	*row_count = 0;
	if (unary(s, token, SERVICE "FinalizeWriteStream", "name", name, &req.base,
		  &google__cloud__bigquery__storage__v1__finalize_write_stream_response__descriptor,
		  &m, res) != DV_BQS_OK)
		return res->outcome;
	*row_count =
	    ((Google__Cloud__Bigquery__Storage__V1__FinalizeWriteStreamResponse *)m)->row_count;
	protobuf_c_message_free_unpacked(m, NULL);
	return res->outcome;
}

/* ---- rows ----------------------------------------------------------------- */

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* A length-delimited field's tag and length. */
static uint8_t *put_header(uint8_t *p, unsigned field, size_t len)
{
	*p++ = (uint8_t)(field << 3 | 2);
	return put_varint(p, len);
}

static size_t field_len(size_t len)
{
	return 1 + varint_len(len) + len;
}

int dv_bq_rows_add(struct dv_bq_rows *rows, const uint8_t *row, size_t len)
{
	size_t need = rows->len + field_len(len);

	if (need > rows->cap) {
		size_t cap = rows->cap ? rows->cap : 4096;
		uint8_t *b;

		while (cap < need)
			cap *= 2;
		b = realloc(rows->buf, cap);
		if (!b)
			return -ENOMEM;
		rows->buf = b;
		rows->cap = cap;
	}
	/* ProtoRows.serialized_rows is field 1. */
	memcpy(put_header(rows->buf + rows->len, 1, len), row, len);
	rows->len = need;
	rows->n++;
	return 0;
}

void dv_bq_rows_clear(struct dv_bq_rows *rows)
{
	rows->len = 0;
	rows->n = 0;
}

void dv_bq_rows_free(struct dv_bq_rows *rows)
{
	free(rows->buf);
	memset(rows, 0, sizeof(*rows));
}

/* ---- AppendRows ----------------------------------------------------------- */

/*
 * AppendRowsRequest, written around the framed rows:
 *   1 write_stream (first request of a call)
 *   2 offset: Int64Value {1 value} (when offset >= 0; 0 is an empty message)
 *   4 proto_rows: ProtoData {1 writer_schema: ProtoSchema {1 proto_descriptor}
 *                            (first request), 2 rows: ProtoRows {rows->buf}}
 */
static grpc_byte_buffer *append_request(const struct dv_bq_append *a, int64_t offset,
					const struct dv_bq_rows *rows)
{
	int first = a->sent == 0;
	size_t name_len = strlen(a->name);
	size_t off_len = offset > 0 ? 1 + varint_len((uint64_t)offset) : 0;
	size_t schema_len = field_len(a->descriptor_len);
	size_t data_len = (first ? field_len(schema_len) : 0) + field_len(rows->len);
	size_t total = (first ? field_len(name_len) : 0) + (offset >= 0 ? field_len(off_len) : 0) +
		       field_len(data_len);
	grpc_slice sl = grpc_slice_malloc(total);
	uint8_t *p = GRPC_SLICE_START_PTR(sl);
	grpc_byte_buffer *bb;

	if (first) {
		p = put_header(p, 1, name_len);
		memcpy(p, a->name, name_len), p += name_len;
	}
	if (offset >= 0) {
		p = put_header(p, 2, off_len);
		if (off_len) {
			*p++ = 1 << 3; /* Int64Value.value, a varint */
			p = put_varint(p, (uint64_t)offset);
		}
	}
	p = put_header(p, 4, data_len);
	if (first) {
		p = put_header(put_header(p, 1, schema_len), 1, a->descriptor_len);
		memcpy(p, a->descriptor, a->descriptor_len), p += a->descriptor_len;
	}
	p = put_header(p, 2, rows->len);
	if (rows->len)
		memcpy(p, rows->buf, rows->len);
	bb = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);
	return bb;
}

/* Waits for the call's status (the call has ended or is ending) into res. */
static enum dv_bq_storage_outcome append_end(struct dv_bq_append *a,
					     struct dv_bq_storage_result *res)
{
	if (a->status_pending) {
		pluck(a->s, a->call, &a->tag_status, deadline_in(a->s->timeout_ms));
		a->status_pending = 0;
	}
	call_result(res, a->status, a->details, &a->trailing_md);
	if (res->outcome == DV_BQS_OK) {
		/* The service ended the call while a request waited for its answer. */
		res->outcome = DV_BQS_RETRY;
		snprintf(res->message, sizeof(res->message), "AppendRows: ended without an answer");
	}
	return res->outcome;
}

static void append_free(struct dv_bq_append *a)
{
	grpc_metadata_array_destroy(&a->initial_md);
	grpc_metadata_array_destroy(&a->trailing_md);
	grpc_slice_unref(a->details);
	if (a->call)
		grpc_call_unref(a->call);
	free(a->name);
	free(a->descriptor);
	free(a);
}

struct dv_bq_append *dv_bq_append_open(struct dv_bq_storage *s, const char *token, const char *name,
				       const uint8_t *descriptor, size_t len,
				       struct dv_bq_storage_result *res)
{
	grpc_slice path = grpc_slice_from_static_string(SERVICE "AppendRows");
	struct dv_bq_append *a = calloc(1, sizeof(*a));
	struct call_md md;
	grpc_op op;
	int rc;

	dv_bq_storage_result_clear(res);
	if (!a || !(a->name = strdup(name)) || !(a->descriptor = malloc(len ? len : 1))) {
		if (a)
			free(a->name);
		free(a);
		res->outcome = DV_BQS_FAILED;
		snprintf(res->message, sizeof(res->message), "out of memory");
		return NULL;
	}
	memcpy(a->descriptor, descriptor, len);
	a->descriptor_len = len;
	a->s = s;
	a->details = grpc_empty_slice();
	grpc_metadata_array_init(&a->initial_md);
	grpc_metadata_array_init(&a->trailing_md);
	/* No deadline on the call: it lives as long as the sink sends on it. */
	a->call = grpc_channel_create_call(s->channel, NULL, GRPC_PROPAGATE_DEFAULTS, s->cq, path,
					   NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op.data.recv_status_on_client.trailing_metadata = &a->trailing_md;
	op.data.recv_status_on_client.status = &a->status;
	op.data.recv_status_on_client.status_details = &a->details;
	a->status_pending =
	    grpc_call_start_batch(a->call, &op, 1, &a->tag_status, NULL) == GRPC_CALL_OK;
	call_md_init(&md, token, "write_stream", name);
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_INITIAL_METADATA;
	op.data.send_initial_metadata.count = 2;
	op.data.send_initial_metadata.metadata = md.md;
	rc = run_batch(s, a->call, &op, 1, &a->tag_send, deadline_in(s->timeout_ms));
	call_md_destroy(&md);
	if (rc == 1 && a->status_pending)
		return a;
	append_end(a, res);
	if (rc < 0)
		timed_out(res, "AppendRows", rc);
	append_free(a);
	return NULL;
}

/* An AppendRowsResponse into res. */
static enum dv_bq_storage_outcome append_response(const pb_append_resp *r,
						  struct dv_bq_storage_result *res)
{
	const pb_status *err =
	    r->response_case ==
		    GOOGLE__CLOUD__BIGQUERY__STORAGE__V1__APPEND_ROWS_RESPONSE__RESPONSE_ERROR
		? r->error
		: NULL;

	if (err) {
		res->code = err->code;
		copy_str(res->message, sizeof(res->message), err->message, strlen(err->message));
		res->outcome = classify(err->code, storage_code_of(err));
		if (res->outcome == DV_BQS_OK)
			res->outcome = DV_BQS_FAILED; /* an error that says OK */
	} else if (
	    r->response_case ==
	    GOOGLE__CLOUD__BIGQUERY__STORAGE__V1__APPEND_ROWS_RESPONSE__RESPONSE_APPEND_RESULT) {
		res->outcome = DV_BQS_OK;
		if (r->append_result->offset)
			res->offset = r->append_result->offset->value;
	} else if (!r->n_row_errors) {
		res->outcome = DV_BQS_FAILED;
		snprintf(res->message, sizeof(res->message), "AppendRows: an empty answer");
	}
	if (r->n_row_errors == 0)
		return res->outcome;
	/* A request with row errors failed whole, whatever else it says (an
	 * offset beside them stored nothing). */
	res->outcome = DV_BQS_ROW_ERRORS;
	res->offset = -1;
	res->row_errors = calloc(r->n_row_errors, sizeof(*res->row_errors));
	if (!res->row_errors) {
		res->outcome = DV_BQS_FAILED;
		snprintf(res->message, sizeof(res->message), "out of memory");
		return res->outcome;
	}
	res->n_row_errors = r->n_row_errors;
	for (size_t i = 0; i < r->n_row_errors; i++) {
		const char *m = r->row_errors[i]->message;

		res->row_errors[i].index = r->row_errors[i]->index;
		res->row_errors[i].code = (int)r->row_errors[i]->code;
		copy_str(res->row_errors[i].message, sizeof(res->row_errors[i].message), m,
			 strlen(m));
	}
	return res->outcome;
}

enum dv_bq_storage_outcome dv_bq_storage_read_append(const uint8_t *msg, size_t len,
						     struct dv_bq_storage_result *res)
{
	pb_append_resp *r = (pb_append_resp *)protobuf_c_message_unpack(
	    &google__cloud__bigquery__storage__v1__append_rows_response__descriptor, NULL, len,
	    msg);
	uint64_t bytes = res->bytes;

	dv_bq_storage_result_clear(res);
	res->bytes = bytes;
	if (!r) {
		res->outcome = DV_BQS_FAILED;
		snprintf(res->message, sizeof(res->message), "AppendRows: a bad answer");
		return res->outcome;
	}
	append_response(r, res);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return res->outcome;
}

enum dv_bq_storage_outcome dv_bq_append_send(struct dv_bq_append *a, int64_t offset,
					     const struct dv_bq_rows *rows,
					     struct dv_bq_storage_result *res)
{
	grpc_byte_buffer *out, *in = NULL;
	grpc_byte_buffer_reader rd;
	grpc_op ops[3];
	size_t n = 2;
	int rc;

	dv_bq_storage_result_clear(res);
	if (!a->status_pending)
		return append_end(a, res); /* the call ended before */
	out = append_request(a, offset, rows);
	res->bytes = grpc_byte_buffer_length(out);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_MESSAGE;
	ops[0].data.send_message.send_message = out;
	ops[1].op = GRPC_OP_RECV_MESSAGE;
	ops[1].data.recv_message.recv_message = &in;
	if (a->sent == 0) {
		ops[2].op = GRPC_OP_RECV_INITIAL_METADATA;
		ops[2].data.recv_initial_metadata.recv_initial_metadata = &a->initial_md;
		n = 3;
	}
	rc = run_batch(a->s, a->call, ops, n, &a->tag_send, deadline_in(a->s->timeout_ms));
	grpc_byte_buffer_destroy(out);
	a->sent++;
	if (rc < 0) {
		append_end(a, res);
		return timed_out(res, "AppendRows", rc);
	}
	if (!in)
		return append_end(a, res);
	if (grpc_byte_buffer_reader_init(&rd, in)) {
		grpc_slice sl = grpc_byte_buffer_reader_readall(&rd);

		grpc_byte_buffer_reader_destroy(&rd);
		dv_bq_storage_read_append(GRPC_SLICE_START_PTR(sl), GRPC_SLICE_LENGTH(sl), res);
		grpc_slice_unref(sl);
	} else {
		res->outcome = DV_BQS_FAILED;
		snprintf(res->message, sizeof(res->message), "AppendRows: a bad answer");
	}
	grpc_byte_buffer_destroy(in);
	return res->outcome;
}

void dv_bq_append_close(struct dv_bq_append *a)
{
	grpc_op op;

	if (!a)
		return;
	if (a->status_pending) {
		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
		run_batch(a->s, a->call, &op, 1, &a->tag_close, deadline_in(a->s->timeout_ms));
		pluck(a->s, a->call, &a->tag_status, deadline_in(a->s->timeout_ms));
		a->status_pending = 0;
	}
	append_free(a);
}
