/*
 * dv_bq_proto: export record -> one row message in the protocol buffer wire
 * format, and the DescriptorProto of that message (dv_bq_proto.h).
 *
 * Both come from dv_columns.def: a column is field number <position> (id is
 * 1), proto2 required when REQUIRED and optional when NULLABLE, a string for
 * STRING and an int64 for INTEGER and TIMESTAMP (the Storage Write API takes
 * a TIMESTAMP as int64 microseconds since the epoch). The values are those
 * dv_row.c writes into a JSON row, through the same formatters (dv_row.h),
 * one put_proto_<kind> per put_col_<kind>; a column dv_row.c writes as null
 * is left out, which is what proto2 means by a field that is not set.
 *
 * The descriptor is made with the protobuf-c structures generated from
 * proto/google_protobuf_descriptor.proto: once per stream, so their
 * generality costs nothing. A row is written by hand, like a JSON row:
 * varint tags, varints, and strings formatted on the stack and copied in
 * with their length, into a bounded cursor that gives -ENOSPC instead of a
 * cut row. No allocation, no printf.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <jansson.h>

#include "dv_bq_proto.h"
#include "dv_decap.h"
#include "dv_parse.h"
#include "dv_row.h"
#include "google_protobuf_descriptor.pb-c.h"

/* ---- the row message's fields -------------------------------------------- */

/* Field numbers: a column's position in dv_columns.def, from 1. */
enum dv_bq_proto_field {
	DV_BQ_PROTO_F_NONE = 0,
#define DV_COLUMN(name, type, mode, description, kind, ...) DV_BQ_PROTO_F_##name,
#include "dv_columns.def"
	DV_BQ_PROTO_F_END
};

#define DV_BQ_PROTO_NFIELDS (DV_BQ_PROTO_F_END - 1)

/* A column's BigQuery type and mode as a proto2 field type and label. */
#define DV_BQ_PROTO_TYPE_STRING	   GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING
#define DV_BQ_PROTO_TYPE_INTEGER   GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT64
#define DV_BQ_PROTO_TYPE_TIMESTAMP GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT64
#define DV_BQ_PROTO_LABEL_REQUIRED GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REQUIRED
#define DV_BQ_PROTO_LABEL_NULLABLE GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL

/* The JSON row's value kinds (dv_bq_proto_row_json). */
#define DV_BQ_PROTO_JSON_STRING	   0
#define DV_BQ_PROTO_JSON_INTEGER   1
#define DV_BQ_PROTO_JSON_TIMESTAMP 2

struct dv_bq_proto_col {
	const char *name;
	int number;
	Google__Protobuf__FieldDescriptorProto__Type type;
	Google__Protobuf__FieldDescriptorProto__Label label;
	int json; /* DV_BQ_PROTO_JSON_<type> */
};

static const struct dv_bq_proto_col dv_bq_proto_cols[DV_BQ_PROTO_NFIELDS] = {
#define DV_COLUMN(name, type, mode, description, kind, ...)                                        \
	{#name, DV_BQ_PROTO_F_##name, DV_BQ_PROTO_TYPE_##type, DV_BQ_PROTO_LABEL_##mode,           \
	 DV_BQ_PROTO_JSON_##type},
#include "dv_columns.def"
};

/* ---- the descriptor ------------------------------------------------------ */

static void field_descriptor(Google__Protobuf__FieldDescriptorProto *f,
			     const struct dv_bq_proto_col *c)
{
	google__protobuf__field_descriptor_proto__init(f);
	f->name = (char *)c->name; /* packed, never written through */
	f->has_number = 1;
	f->number = c->number;
	f->has_label = 1;
	f->label = c->label;
	f->has_type = 1;
	f->type = c->type;
}

int dv_bq_proto_descriptor(uint8_t *buf, size_t cap)
{
	Google__Protobuf__FieldDescriptorProto fields[DV_BQ_PROTO_NFIELDS];
	Google__Protobuf__FieldDescriptorProto *ptrs[DV_BQ_PROTO_NFIELDS];
	Google__Protobuf__DescriptorProto d;

	google__protobuf__descriptor_proto__init(&d);
	for (size_t i = 0; i < DV_BQ_PROTO_NFIELDS; i++) {
		field_descriptor(&fields[i], &dv_bq_proto_cols[i]);
		ptrs[i] = &fields[i];
	}
	d.name = (char *)DV_BQ_PROTO_MESSAGE;
	d.n_field = DV_BQ_PROTO_NFIELDS;
	d.field = ptrs;
	if (google__protobuf__descriptor_proto__get_packed_size(&d) > cap)
		return -ENOSPC;
	return (int)google__protobuf__descriptor_proto__pack(&d, buf);
}

/* ---- wire format ----------------------------------------------------------- */

/* Bounded output, as dv_row.c's: full is set once anything did not fit. */
struct dv_pb_cursor {
	uint8_t *p;
	uint8_t *end;
	bool full;
};

/* Wire types (protobuf encoding): a varint, or a length and its bytes. */
#define DV_PB_VARINT 0
#define DV_PB_LEN    2

static void pb_put_raw(struct dv_pb_cursor *c, const void *s, size_t n)
{
	if (c->full || (size_t)(c->end - c->p) < n) {
		c->full = true;
		return;
	}
	memcpy(c->p, s, n);
	c->p += n;
}

/* Seven bits a byte, low first, the top bit set on all but the last. */
static void pb_put_varint(struct dv_pb_cursor *c, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	pb_put_raw(c, tmp, n);
}

static void pb_put_int64(struct dv_pb_cursor *c, int field, uint64_t v)
{
	pb_put_varint(c, (uint64_t)field << 3 | DV_PB_VARINT);
	pb_put_varint(c, v);
}

static void pb_put_string(struct dv_pb_cursor *c, int field, const char *s, size_t n)
{
	pb_put_varint(c, (uint64_t)field << 3 | DV_PB_LEN);
	pb_put_varint(c, n);
	pb_put_raw(c, s, n);
}

/* ---- one writer per kind of column (dv_columns.def, as dv_row.c) ---------- */

static void put_proto_uuid(struct dv_pb_cursor *c, int field, const uint8_t id[16])
{
	char tmp[36];

	pb_put_string(c, field, tmp, (size_t)dv_uuid_format(id, tmp));
}

static void put_proto_proto(struct dv_pb_cursor *c, int field, uint8_t proto, uint8_t family)
{
	char tmp[16];
	const char *s = dv_proto_name(proto, family, tmp);

	pb_put_string(c, field, s, strlen(s));
}

/* family is 4 or 6 (dv_bq_proto_row checks the record's; put_proto_nullable_addr its own). */
static void put_proto_addr(struct dv_pb_cursor *c, int field, const uint8_t addr[16],
			   uint8_t family)
{
	char tmp[46];
	int n = dv_addr_format(addr, family, tmp);

	pb_put_string(c, field, tmp, (size_t)n);
}

static void put_proto_u64(struct dv_pb_cursor *c, int field, uint64_t v)
{
	pb_put_int64(c, field, v);
}

/* Clamped to INT64_MAX, as dv_row.c's put_counter. */
static void put_proto_counter(struct dv_pb_cursor *c, int field, uint64_t v)
{
	pb_put_int64(c, field, v > INT64_MAX ? (uint64_t)INT64_MAX : v);
}

/* Microseconds, truncated: the digits dv_time_format writes after the point. */
static void put_proto_time(struct dv_pb_cursor *c, int field, uint64_t ns)
{
	pb_put_int64(c, field, ns / 1000);
}

static void put_proto_status(struct dv_pb_cursor *c, int field, uint8_t status)
{
	const char *s = dv_status_name(status);

	pb_put_string(c, field, s, strlen(s));
}

static void put_proto_end_reason(struct dv_pb_cursor *c, int field, uint8_t reason)
{
	const char *s = dv_end_reason_name(reason);

	pb_put_string(c, field, s, strlen(s));
}

static void put_proto_nullable(struct dv_pb_cursor *c, int field, bool valid, uint64_t v)
{
	if (valid)
		pb_put_int64(c, field, v);
}

/* The kinds outermost first, comma separated; left out for a plain flow. */
static void put_proto_tunnel(struct dv_pb_cursor *c, int field, uint8_t n, const uint8_t *kinds)
{
	char tmp[DV_TUN_MAX_DEPTH * 16];
	size_t len = 0;

	if (n == 0)
		return;
	for (uint8_t i = 0; i < n && i < DV_TUN_MAX_DEPTH; i++) {
		const char *s = dv_tunnel_name((enum dv_tunnel_kind)kinds[i]);
		size_t sl = strnlen(s, 15);

		if (i > 0)
			tmp[len++] = ',';
		memcpy(tmp + len, s, sl);
		len += sl;
	}
	pb_put_string(c, field, tmp, len);
}

/* An address that may be absent (family 0): left out. */
static void put_proto_nullable_addr(struct dv_pb_cursor *c, int field, const uint8_t addr[16],
				    uint8_t family)
{
	if (family == 4 || family == 6)
		put_proto_addr(c, field, addr, family);
}

/* As it is (a protobuf string needs no escaping); NULL: left out. */
static void put_proto_sensor(struct dv_pb_cursor *c, int field, const char *sensor)
{
	if (sensor != NULL)
		pb_put_string(c, field, sensor, strlen(sensor));
}

int dv_bq_proto_row(const struct dv_export_rec *r, const char *sensor, uint8_t *buf, size_t cap)
{
	struct dv_pb_cursor c = {.p = buf, .end = buf + cap, .full = false};

	if (r->family != 4 && r->family != 6)
		return -EINVAL;
#define DV_COLUMN(name, type, mode, description, kind, ...)                                        \
	put_proto_##kind(&c, DV_BQ_PROTO_F_##name, __VA_ARGS__);
#include "dv_columns.def"
	if (c.full)
		return -ENOSPC;
	return (int)(c.p - buf);
}

/* ---- from a JSON row ----------------------------------------------------------- */

/* Two to four digits at s as a number; -1 if any is not a digit. */
static int64_t json_digits(const char *s, int n)
{
	int64_t v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Days since 1970-01-01 of a civil date (the inverse of dv_row.c's
 * civil_from_days; years from 1970). */
static int64_t json_days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (dv_time_format) as microseconds since the
 * epoch; -1 for any other text. */
static int64_t json_micros(const char *s, size_t n)
{
	int64_t y, mo, d, h, mi, sec, us;

	if (n != 27 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
	    s[19] != '.' || s[26] != 'Z')
		return -1;
	y = json_digits(s, 4);
	mo = json_digits(s + 5, 2);
	d = json_digits(s + 8, 2);
	h = json_digits(s + 11, 2);
	mi = json_digits(s + 14, 2);
	sec = json_digits(s + 17, 2);
	us = json_digits(s + 20, 6);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || sec < 0 || sec > 60 || us < 0)
		return -1;
	return ((json_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000000) + us;
}

/* One column's JSON value v into c; false if it is not of the column's kind. */
static bool json_put_col(struct dv_pb_cursor *c, const struct dv_bq_proto_col *col, json_t *v)
{
	int64_t us;

	if (v == NULL || json_is_null(v))
		return true; /* left out, as a NULL column of dv_bq_proto_row */
	switch (col->json) {
	case DV_BQ_PROTO_JSON_STRING:
		if (!json_is_string(v))
			return false;
		pb_put_string(c, col->number, json_string_value(v), json_string_length(v));
		return true;
	case DV_BQ_PROTO_JSON_INTEGER:
		if (!json_is_integer(v))
			return false;
		pb_put_int64(c, col->number, (uint64_t)json_integer_value(v));
		return true;
	default:
		us = json_is_string(v) ? json_micros(json_string_value(v), json_string_length(v))
				       : -1;
		if (us < 0)
			return false;
		pb_put_int64(c, col->number, (uint64_t)us);
		return true;
	}
}

int dv_bq_proto_row_json(const char *json, size_t len, uint8_t *buf, size_t cap,
			 const char **column)
{
	struct dv_pb_cursor c = {.p = buf, .end = buf + cap, .full = false};
	json_t *row = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);

	*column = NULL;
	if (!json_is_object(row)) {
		json_decref(row);
		return -EINVAL;
	}
	for (size_t i = 0; i < DV_BQ_PROTO_NFIELDS; i++) {
		const struct dv_bq_proto_col *col = &dv_bq_proto_cols[i];

		if (!json_put_col(&c, col, json_object_get(row, col->name))) {
			*column = col->name;
			json_decref(row);
			return -EINVAL;
		}
	}
	json_decref(row);
	if (c.full)
		return -ENOSPC;
	return (int)(c.p - buf);
}
