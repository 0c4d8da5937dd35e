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
	size_t name_len;
	int number;
	Google__Protobuf__FieldDescriptorProto__Type type;
	Google__Protobuf__FieldDescriptorProto__Label label;
	int json; /* DV_BQ_PROTO_JSON_<type> */
};

static const struct dv_bq_proto_col dv_bq_proto_cols[DV_BQ_PROTO_NFIELDS] = {
#define DV_COLUMN(name, type, mode, description, kind, ...)                                        \
	{#name,                                                                                    \
	 sizeof(#name) - 1,                                                                        \
	 DV_BQ_PROTO_F_##name,                                                                     \
	 DV_BQ_PROTO_TYPE_##type,                                                                  \
	 DV_BQ_PROTO_LABEL_##mode,                                                                 \
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

static inline void pb_put_raw(struct dv_pb_cursor *c, const void *s, size_t n)
{
	if (c->full || (size_t)(c->end - c->p) < n) {
		c->full = true;
		return;
	}
	memcpy(c->p, s, n);
	c->p += n;
}

/* Seven bits a byte, low first, the top bit set on all but the last; d has
 * room for 10. */
static inline uint8_t *pb_varint_at(uint8_t *d, uint64_t v)
{
	while (v >= 0x80) {
		*d++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*d++ = (uint8_t)v;
	return d;
}

/* In place when the longest fits (nearly always), else through tmp so that
 * -ENOSPC is exact to the byte. */
static inline void pb_put_varint(struct dv_pb_cursor *c, uint64_t v)
{
	uint8_t tmp[10];

	if (!c->full && c->end - c->p >= 10)
		c->p = pb_varint_at(c->p, v);
	else
		pb_put_raw(c, tmp, (size_t)(pb_varint_at(tmp, v) - tmp));
}

static inline void pb_put_int64(struct dv_pb_cursor *c, int field, uint64_t v)
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

/* A string that JSON writes without escapes (dv_row.c): the same bytes here. */
static void put_proto_token(struct dv_pb_cursor *c, int field, const char *s)
{
	put_proto_sensor(c, field, s);
}

/* The sensor (dv_row.c copies it as it is when JSON needs no escape): the
 * same string here, whatever its length hint. */
static void put_proto_own_text(struct dv_pb_cursor *c, int field, const char *s, size_t plain)
{
	(void)plain;
	put_proto_sensor(c, field, s);
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

/* ---- from a JSON row ---------------------------------------------------------
 *
 * A scanner of the text dv_row_format() writes, not a general JSON parser:
 * jansson built a tree with an allocation per value for every row, about 40 %
 * of the Storage Write path's CPU, for text whose shape is known. The text is
 * read once, never past len. Each member's value is checked and kept in the
 * slot of its column (found by name, the column after the previous one tried
 * first: dv_row_format's order); then the slots are written in column order,
 * so the bytes do not depend on the members' order.
 *
 * Accepted as jansson accepted it (RFC 8259): whitespace between tokens,
 * every escape with surrogate pairs, UTF-8 checked (no overlong form, no
 * surrogate, nothing past U+10FFFF), no NUL, no control character, integers
 * within int64. Refused (-EINVAL), beyond what jansson refused: a column
 * twice, and values devourer never writes: a nested object or array, a
 * number with a fraction or an exponent. A member that is no column is
 * checked and ignored (a row spooled by a later version with more columns).
 */

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

/* The state of one column's slot. */
#define DV_JS_ABSENT 0 /* not in the text: left out */
#define DV_JS_NULL   1 /* null: left out */
#define DV_JS_STR    2 /* a STRING: s, len, dlen, esc */
#define DV_JS_INT    3 /* an INTEGER, or a TIMESTAMP's microseconds: v */
#define DV_JS_BAD    4 /* a value not of the column's type */

/* A string in the text: its bytes between the quotes, its length decoded,
 * and whether it has escapes (then it is decoded as it is written). */
struct dv_js_str {
	const char *s;
	size_t len, dlen;
	bool esc;
};

struct dv_js_slot {
	int state;
	struct dv_js_str str;
	uint64_t v;
};

struct dv_js {
	const char *p, *end;
};

/* Whitespace skipped; a row of dv_row_format has none, so the first test
 * (a byte above ' ') nearly always ends it. */
static inline void js_ws(struct dv_js *j)
{
	while (j->p < j->end && (unsigned char)*j->p <= ' ' &&
	       (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* The next byte, or -1 at the end of the text. */
static int js_peek(const struct dv_js *j)
{
	return j->p < j->end ? (unsigned char)*j->p : -1;
}

/* The character at p if it is c: consumed. */
static bool js_take(struct dv_js *j, char c)
{
	if (j->p >= j->end || *j->p != c)
		return false;
	j->p++;
	return true;
}

static bool js_word(struct dv_js *j, const char *w, size_t n)
{
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return false;
	j->p += n;
	return true;
}

/* Four hex digits as a number, -1 if they are not. */
static int32_t js_hex4(const char *p)
{
	int32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* The escape at p (a backslash) as a code point in *cp; returns the bytes it
 * takes in the text (2, 6, or 12 for a surrogate pair), 0 if it is not a
 * valid escape: unknown, short, a lone surrogate, or U+0000. */
static size_t js_escape(const char *p, const char *end, uint32_t *cp)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	int32_t hi, lo;

	if (end - p < 2)
		return 0;
	if (p[1] != 'u') {
		e = memchr(from, p[1], sizeof(from) - 1);
		if (e == NULL || p[1] == '\0')
			return 0;
		*cp = (uint8_t)to[e - from];
		return 2;
	}
	if (end - p < 6 || (hi = js_hex4(p + 2)) <= 0 || (hi >= 0xdc00 && hi <= 0xdfff))
		return 0;
	if (hi < 0xd800 || hi > 0xdbff) {
		*cp = (uint32_t)hi;
		return 6;
	}
	if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || (lo = js_hex4(p + 8)) < 0xdc00 ||
	    lo > 0xdfff)
		return 0;
	*cp = 0x10000 + (((uint32_t)hi - 0xd800) << 10 | ((uint32_t)lo - 0xdc00));
	return 12;
}

static size_t js_utf8_len(uint32_t cp)
{
	return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static uint8_t *js_put_utf8(uint8_t *o, uint32_t cp)
{
	size_t n = js_utf8_len(cp);
	static const uint8_t lead[5] = {0, 0, 0xc0, 0xe0, 0xf0};

	if (n == 1) {
		*o = (uint8_t)cp;
		return o + 1;
	}
	for (size_t i = n - 1; i > 0; i--) {
		o[i] = (uint8_t)(0x80 | (cp & 0x3f));
		cp >>= 6;
	}
	o[0] = (uint8_t)(lead[n] | cp);
	return o + n;
}

/* The UTF-8 sequence at p (its first byte >= 0x80): its length, 0 if it is
 * not well formed (RFC 3629: no overlong form, no surrogate, <= U+10FFFF). */
static size_t js_utf8(const uint8_t *p, const uint8_t *end)
{
	uint32_t c = p[0], v;
	size_t n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2, v = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, v = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, v = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && v < 0x10000) || (v >= 0xd800 && v <= 0xdfff) ||
	    v > 0x10ffff)
		return 0;
	return n;
}

/* Whether the 8 bytes at p are all plain string bytes: printable ASCII
 * other than '"' and '\\'. Word-at-a-time: a byte below n makes
 * (x - n * ONES) & ~x & HIGH non-zero (n <= 0x80), a zero byte of x ^ c
 * finds c; the bytes of a row's strings are nearly all plain. */
static bool js_plain8(const uint8_t *p)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	uint64_t v, q, b;

	memcpy(&v, p, 8);
	q = v ^ (ones * '"');
	b = v ^ (ones * '\\');
	return !((((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b) | v) & high);
}

/* A string's body from j->p (past its opening quote) to past its closing
 * one, checked; false if it is not a valid JSON string. */
static bool js_string(struct dv_js *j, struct dv_js_str *s)
{
	const uint8_t *p = (const uint8_t *)j->p, *end = (const uint8_t *)j->end;
	size_t skipped = 0; /* text bytes minus decoded bytes */

	s->s = j->p;
	s->esc = false;
	while (p < end) {
		uint32_t cp;
		size_t n;

		while (end - p >= 8 && js_plain8(p))
			p += 8;
		if (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
			p++;
			continue;
		}
		if (p >= end)
			break;
		if (*p == '"') {
			s->len = (size_t)((const char *)p - s->s);
			s->dlen = s->len - skipped;
			j->p = (const char *)p + 1;
			return true;
		}
		if (*p == '\\') {
			n = js_escape((const char *)p, j->end, &cp);
			if (n == 0)
				return false;
			skipped += n - js_utf8_len(cp);
			s->esc = true;
		} else {
			n = *p < 0x20 ? 0 : js_utf8(p, end);
			if (n == 0)
				return false;
		}
		p += n;
	}
	return false;
}

/* A checked string's decoded bytes at o; returns the end. */
static uint8_t *js_decode(const struct dv_js_str *s, uint8_t *o)
{
	const char *p = s->s, *end = s->s + s->len;

	while (p < end) {
		const char *bs = memchr(p, '\\', (size_t)(end - p));
		uint32_t cp;

		if (bs == NULL)
			bs = end;
		memcpy(o, p, (size_t)(bs - p));
		o += bs - p;
		if (bs == end)
			break;
		p = bs + js_escape(bs, end, &cp);
		o = js_put_utf8(o, cp);
	}
	return o;
}

/* A JSON number at j->p. Returns 0 for an integer within int64 (*v its
 * two's complement bits), 1 for a valid number with a fraction or an
 * exponent, -1 for no valid number or an integer out of range. */
static int js_number(struct dv_js *j, uint64_t *v)
{
	const char *p = j->p, *end = j->end;
	bool neg = p < end && *p == '-', real = false;
	uint64_t u = 0, max;

	p += neg;
	if (p >= end || *p < '0' || *p > '9')
		return -1;
	if (*p == '0') {
		p++;
	} else {
		const char *first = p;

		for (; p < end && *p >= '0' && *p <= '9'; p++)
			u = u * 10 + (uint64_t)(*p - '0');
		if (p - first > 19) /* 20 digits and more: past INT64_MAX, and u wrapped */
			return -1;
	}
	if (p < end && *p == '.') {
		real = true;
		if (++p >= end || *p < '0' || *p > '9')
			return -1;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		real = true;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return -1;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	j->p = p;
	if (real)
		return 1;
	max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (u > max)
		return -1;
	*v = neg ? 0 - u : u;
	return 0;
}

/* A TIMESTAMP's string as microseconds; -1 if it is not dv_time_format's. */
static int64_t js_micros(const struct dv_js_str *s)
{
	uint8_t tmp[32];

	if (!s->esc)
		return json_micros(s->s, s->len);
	if (s->dlen != 27)
		return -1;
	js_decode(s, tmp);
	return json_micros((const char *)tmp, 27);
}

/* One member's value into slot (NULL: a member that is no column, checked
 * only). Returns false if the text is refused. */
static bool js_value(struct dv_js *j, const struct dv_bq_proto_col *col, struct dv_js_slot *slot)
{
	struct dv_js_slot tmp, *s = slot ? slot : &tmp;
	int c = js_peek(j), kind = col ? col->json : -1;
	int64_t us;

	if (c == '"') {
		j->p++;
		if (!js_string(j, &s->str))
			return false;
		s->state = kind == DV_BQ_PROTO_JSON_STRING ? DV_JS_STR : DV_JS_BAD;
		if (kind == DV_BQ_PROTO_JSON_TIMESTAMP && (us = js_micros(&s->str)) >= 0) {
			s->state = DV_JS_INT;
			s->v = (uint64_t)us;
		}
		return true;
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		if (js_number(j, &s->v) != 0) /* a fraction, an exponent: never written */
			return false;
		s->state = kind == DV_BQ_PROTO_JSON_INTEGER ? DV_JS_INT : DV_JS_BAD;
		return true;
	}
	if (js_word(j, "null", 4)) {
		s->state = DV_JS_NULL;
		return true;
	}
	s->state = DV_JS_BAD;
	return js_word(j, "true", 4) || js_word(j, "false", 5);
}

/* Whether the n bytes at a and b are the same: a word at a time (the last
 * word overlapping), reading none past either. */
static bool js_same(const char *a, const char *b, size_t n)
{
	uint64_t x, y;
	uint32_t u, w;

	if (n >= 8) {
		for (size_t i = 0; i + 8 < n; i += 8) {
			memcpy(&x, a + i, 8);
			memcpy(&y, b + i, 8);
			if (x != y)
				return false;
		}
		memcpy(&x, a + n - 8, 8);
		memcpy(&y, b + n - 8, 8);
		return x == y;
	}
	if (n >= 4) {
		memcpy(&u, a, 4);
		memcpy(&w, b, 4);
		if (u != w)
			return false;
		memcpy(&u, a + n - 4, 4);
		memcpy(&w, b + n - 4, 4);
		return u == w;
	}
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* The expected column's key, quoted, as dv_row_format writes it: taken and
 * its column returned, or -1 with nothing taken (then the key is read in
 * full: escapes, another column, a member that is no column). */
static int js_expected_key(struct dv_js *j, size_t expected)
{
	const struct dv_bq_proto_col *col = &dv_bq_proto_cols[expected];
	const char *p = j->p;

	if (expected >= DV_BQ_PROTO_NFIELDS || (size_t)(j->end - p) < col->name_len + 2 ||
	    p[0] != '"' || p[col->name_len + 1] != '"')
		return -1;
	if (!js_same(p + 1, col->name, col->name_len))
		return -1;
	j->p += col->name_len + 2;
	return (int)expected;
}

/* The column a key names, the expected one tried first; -1 for none. */
static int js_column(const struct dv_js_str *key, size_t expected)
{
	const char *name = key->s;
	char tmp[64];

	if (key->esc) {
		if (key->dlen > sizeof(tmp))
			return -1;
		js_decode(key, (uint8_t *)tmp);
		name = tmp;
	}
	if (expected < DV_BQ_PROTO_NFIELDS && dv_bq_proto_cols[expected].name_len == key->dlen &&
	    memcmp(dv_bq_proto_cols[expected].name, name, key->dlen) == 0)
		return (int)expected;
	for (size_t i = 0; i < DV_BQ_PROTO_NFIELDS; i++)
		if (dv_bq_proto_cols[i].name_len == key->dlen &&
		    memcmp(dv_bq_proto_cols[i].name, name, key->dlen) == 0)
			return (int)i;
	return -1;
}

/* The whole text: one object of members, whitespace, nothing after it. */
static bool js_object(struct dv_js *j, struct dv_js_slot slots[DV_BQ_PROTO_NFIELDS])
{
	size_t expected = 0;

	js_ws(j);
	if (!js_take(j, '{'))
		return false;
	js_ws(j);
	if (!js_take(j, '}')) {
		do {
			struct dv_js_str key;
			int i;

			js_ws(j);
			i = js_expected_key(j, expected);
			if (i < 0) {
				if (!js_take(j, '"') || !js_string(j, &key))
					return false;
				i = js_column(&key, expected);
			}
			js_ws(j);
			if (!js_take(j, ':') || (i >= 0 && slots[i].state != DV_JS_ABSENT))
				return false;
			js_ws(j);
			if (!js_value(j, i >= 0 ? &dv_bq_proto_cols[i] : NULL,
				      i >= 0 ? &slots[i] : NULL))
				return false;
			expected = i >= 0 ? (size_t)i + 1 : expected;
			js_ws(j);
		} while (js_take(j, ','));
		if (!js_take(j, '}'))
			return false;
	}
	js_ws(j);
	return j->p == j->end;
}

static void js_put_string(struct dv_pb_cursor *c, int field, const struct dv_js_str *s)
{
	pb_put_varint(c, (uint64_t)field << 3 | DV_PB_LEN);
	pb_put_varint(c, s->dlen);
	if (!s->esc) {
		pb_put_raw(c, s->s, s->len);
	} else if (!c->full && (size_t)(c->end - c->p) >= s->dlen) {
		js_decode(s, c->p);
		c->p += s->dlen;
	} else {
		c->full = true;
	}
}

int dv_bq_proto_row_json(const char *json, size_t len, uint8_t *buf, size_t cap,
			 const char **column)
{
	struct dv_pb_cursor c = {.p = buf, .end = buf + cap, .full = false};
	struct dv_js_slot slots[DV_BQ_PROTO_NFIELDS];
	struct dv_js j = {.p = json, .end = json + len};

	*column = NULL;
	for (size_t i = 0; i < DV_BQ_PROTO_NFIELDS; i++)
		slots[i].state = DV_JS_ABSENT;
	if (!js_object(&j, slots))
		return -EINVAL;
	for (size_t i = 0; i < DV_BQ_PROTO_NFIELDS; i++) {
		const struct dv_js_slot *s = &slots[i];

		if (s->state == DV_JS_BAD) {
			*column = dv_bq_proto_cols[i].name;
			return -EINVAL;
		}
		if (s->state == DV_JS_INT)
			pb_put_int64(&c, dv_bq_proto_cols[i].number, s->v);
		else if (s->state == DV_JS_STR)
			js_put_string(&c, dv_bq_proto_cols[i].number, &s->str);
	}
	if (c.full)
		return -ENOSPC;
	return (int)(c.p - buf);
}
