/*
 * bq_proto_json_ref: see bq_proto_json_ref.h. Test code only: it allocates
 * (jansson's tree) and calls the C library's timegm().
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bq_proto_json_ref.h"

#define REF_STRING    0
#define REF_INTEGER   1
#define REF_TIMESTAMP 2

static const struct {
	const char *name;
	int type;
} ref_cols[] = {
#define DV_COLUMN(name, type, ...) {#name, REF_##type},
#include "dv_columns.def"
};

struct ref_out {
	uint8_t *p, *end;
	bool full;
};

static void ref_raw(struct ref_out *o, const void *s, size_t n)
{
	if (o->full || (size_t)(o->end - o->p) < n) {
		o->full = true;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}

static void ref_varint(struct ref_out *o, uint64_t v)
{
	uint8_t b;

	do {
		b = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			b |= 0x80;
		ref_raw(o, &b, 1);
	} while (v);
}

/* w digits (already checked) as a number. */
static int ref_num(const char *s, int w)
{
	int v = 0;

	for (int i = 0; i < w; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* "YYYY-MM-DDTHH:MM:SS.uuuuuuZ", fields in range, as microseconds; -1 if not. */
static int64_t ref_micros(const char *s, size_t n)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
	struct tm tm = {0};
	long us;

	if (n != sizeof(shape) - 1)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return -1;
	tm.tm_year = ref_num(s, 4) - 1900;
	tm.tm_mon = ref_num(s + 5, 2) - 1;
	tm.tm_mday = ref_num(s + 8, 2);
	tm.tm_hour = ref_num(s + 11, 2);
	tm.tm_min = ref_num(s + 14, 2);
	tm.tm_sec = ref_num(s + 17, 2);
	us = ref_num(s + 20, 6);
	if (tm.tm_year < 70 || tm.tm_mon > 11 || tm.tm_mon < 0 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	return (int64_t)timegm(&tm) * 1000000 + us;
}

static bool ref_col(struct ref_out *o, int field, int type, json_t *v)
{
	int64_t us;

	if (v == NULL || json_is_null(v))
		return true;
	if (type == REF_STRING) {
		if (!json_is_string(v))
			return false;
		ref_varint(o, (uint64_t)field << 3 | 2);
		ref_varint(o, json_string_length(v));
		ref_raw(o, json_string_value(v), json_string_length(v));
		return true;
	}
	if (type == REF_INTEGER) {
		if (!json_is_integer(v))
			return false;
		us = (int64_t)json_integer_value(v);
	} else {
		us = json_is_string(v) ? ref_micros(json_string_value(v), json_string_length(v))
				       : -1;
		if (us < 0)
			return false;
	}
	ref_varint(o, (uint64_t)field << 3);
	ref_varint(o, (uint64_t)us);
	return true;
}

int bq_proto_json_ref(const char *json, size_t len, uint8_t *buf, size_t cap, const char **column,
		      bool any_dup)
{
	struct ref_out o = {.p = buf, .end = buf + cap, .full = false};
	json_t *row = json_loadb(json, len, any_dup ? 0 : JSON_REJECT_DUPLICATES, NULL);

	*column = NULL;
	if (!json_is_object(row)) {
		json_decref(row);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(ref_cols) / sizeof(ref_cols[0]); i++) {
		if (!ref_col(&o, (int)i + 1, ref_cols[i].type,
			     json_object_get(row, ref_cols[i].name))) {
			*column = ref_cols[i].name;
			json_decref(row);
			return -EINVAL;
		}
	}
	json_decref(row);
	return o.full ? -ENOSPC : (int)(o.p - buf);
}

int bq_proto_json_ref_unusual(const char *json, size_t len)
{
	json_t *row = json_loadb(json, len, 0, NULL), *v;
	const char *k;
	int unusual = 0;

	if (!json_is_object(row)) {
		json_decref(row);
		return -1;
	}
	json_object_foreach (row, k, v)
		if (json_is_real(v) || json_is_object(v) || json_is_array(v))
			unusual = 1;
	json_decref(row);
	return unusual;
}
