/*
 * test_bq_proto: the Storage Write API row encoder (lib/bq/dv_bq_proto.c).
 *
 * Expected values are written by hand from the records the tests build
 * (addresses in RFC 5952 form, microseconds as the nanoseconds / 1000, the
 * wire bytes of a varint from the protobuf encoding rules). The rows are
 * read back by a small wire-format reader written here, not by the
 * encoder; the descriptor is read back by protobuf-c's generated unpacker.
 * tests/bq/test_bq_proto.py compares many rows with the JSON writer's using
 * Google's Python implementation.
 *
 * The JSON scanner (dv_bq_proto_row_json) is checked on hand-written texts
 * with their wire bytes written out from the encoding rules, against the
 * reference encoder over jansson (bq_proto_json_ref.c, the encoder it
 * replaced), and with its input and output ending right before a page that
 * cannot be read or written, so a read past the text or a write past cap
 * faults.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bq_proto_json_ref.h"
#include "dv_bq_proto.h"
#include "dv_decap.h"
#include "dv_row.h"
#include "google_protobuf_descriptor.pb-c.h"

/* Columns counted from the list itself, not from the encoder. */
enum {
#define DV_COLUMN(name, ...) COLUMN_##name,
#include "dv_columns.def"
	NCOLUMNS
};

/* ---- a wire-format reader, independent of the encoder ------------------- */

struct field {
	bool set;
	int wire;
	uint64_t v;	  /* a varint's value */
	const uint8_t *s; /* a length-delimited field's bytes */
	size_t len;
};

#define MAX_FIELD 64

static bool get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* Splits buf into fields by number; fails on a repeated field or bad bytes. */
static void read_row(const uint8_t *buf, size_t n, struct field f[MAX_FIELD])
{
	const uint8_t *p = buf, *end = buf + n;

	memset(f, 0, sizeof(*f) * MAX_FIELD);
	while (p < end) {
		uint64_t tag, v;

		assert_true(get_varint(&p, end, &tag));
		assert_true(tag >> 3 > 0 && tag >> 3 < MAX_FIELD);
		assert_false(f[tag >> 3].set);
		assert_true(get_varint(&p, end, &v));
		f[tag >> 3] = (struct field){.set = true, .wire = (int)(tag & 7), .v = v};
		if ((tag & 7) == 2) {
			assert_true(v <= (uint64_t)(end - p));
			f[tag >> 3].s = p;
			f[tag >> 3].len = (size_t)v;
			p += v;
		} else {
			assert_int_equal(tag & 7, 0);
		}
	}
}

static void expect_str(const struct field *f, const char *want)
{
	assert_true(f->set);
	assert_int_equal(f->wire, 2);
	assert_int_equal(f->len, strlen(want));
	assert_memory_equal(f->s, want, f->len);
}

static void expect_int(const struct field *f, uint64_t want)
{
	assert_true(f->set);
	assert_int_equal(f->wire, 0);
	assert_int_equal(f->v, want);
}

/* ---- records ------------------------------------------------------------- */

/* A plain IPv4 TCP flow: no VLAN, no tunnel. */
static void plain_rec(struct dv_export_rec *r)
{
	static const uint8_t id[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x46, 0x77,
				       0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

	memset(r, 0, sizeof(*r));
	memcpy(r->id, id, 16);
	r->family = 4;
	memcpy(r->src_addr, (uint8_t[]){192, 0, 2, 1}, 4);
	memcpy(r->dst_addr, (uint8_t[]){198, 51, 100, 7}, 4);
	r->src_port = 49152;
	r->dst_port = 443;
	r->first_ns = 1700000000123456789ULL; /* 2023-11-14T22:13:20.123456Z */
	r->last_ns = 1700000060999999999ULL;
	r->src_bytes = 1500;
	r->dst_bytes = 0;
	r->src_packets = 3;
	r->dst_packets = 0;
	r->segment = 2;
	r->proto = 6;
	r->flags = DV_EXPORT_F_TCP;
	r->src_tcp_flags = 0x02;
	r->dst_tcp_flags = 0x12;
	r->status = DV_STATUS_INIT;
	r->end_reason = DV_END_TCP_CLOSE;
}

/* An IPv6 UDP flow in MPLS then VXLAN, tagged, with a VNI and IPv6 VTEPs. */
static void tunnel_rec(struct dv_export_rec *r)
{
	static const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0,
					0,    0,    0,	  0,	0, 0, 0, 0x53};
	static const uint8_t vtep1[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a};
	static const uint8_t vtep2[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b};

	plain_rec(r);
	r->family = 6;
	memcpy(r->src_addr, src, 16);
	memcpy(r->dst_addr, dst, 16);
	r->proto = 17;
	r->dst_port = 53;
	r->flags = DV_EXPORT_F_VLAN | DV_EXPORT_F_VNI;
	r->vlan_id = 100;
	r->status = DV_STATUS_ESTABLISHED;
	r->end_reason = DV_END_IDLE;
	r->n_kinds = 2;
	r->kinds[0] = DV_TUN_MPLS;
	r->kinds[1] = DV_TUN_VXLAN;
	r->vni = 5001;
	r->outer_family = 6;
	memcpy(r->outer_src, vtep1, 16);
	memcpy(r->outer_dst, vtep2, 16);
}

/* ---- the descriptor ------------------------------------------------------ */

static const Google__Protobuf__FieldDescriptorProto *
find_field(const Google__Protobuf__DescriptorProto *d, const char *name)
{
	for (size_t i = 0; i < d->n_field; i++)
		if (strcmp(d->field[i]->name, name) == 0)
			return d->field[i];
	fail_msg("no field %s", name);
	return NULL;
}

static void expect_field(const Google__Protobuf__DescriptorProto *d, const char *name, int number,
			 int type, int label)
{
	const Google__Protobuf__FieldDescriptorProto *f = find_field(d, name);

	assert_true(f->has_number && f->has_type && f->has_label);
	assert_int_equal(f->number, number);
	assert_int_equal(f->type, type);
	assert_int_equal(f->label, label);
}

#define T_STRING GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING
#define T_INT64	 GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT64
#define L_REQ	 GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REQUIRED
#define L_OPT	 GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL

static void test_descriptor(void **state)
{
	uint8_t buf[4096];
	int n = dv_bq_proto_descriptor(buf, sizeof(buf));
	Google__Protobuf__DescriptorProto *d;

	(void)state;
	assert_true(n > 0);
	d = google__protobuf__descriptor_proto__unpack(NULL, (size_t)n, buf);
	assert_non_null(d);
	assert_string_equal(d->name, "flow_row");
	assert_int_equal(d->n_field, NCOLUMNS);
	for (size_t i = 0; i < d->n_field; i++) /* numbered by position, in order */
		assert_int_equal(d->field[i]->number, (int)i + 1);
	expect_field(d, "id", 1, T_STRING, L_REQ);
	expect_field(d, "src_port", 5, T_INT64, L_REQ);
	expect_field(d, "first_seen_at", 7, T_INT64, L_REQ);
	expect_field(d, "vlan_id", 17, T_INT64, L_OPT);
	expect_field(d, "sensor", 20, T_STRING, L_REQ);
	expect_field(d, "tunnel", 21, T_STRING, L_OPT);
	expect_field(d, "tunnel_dst_addr", 24, T_STRING, L_OPT);
	expect_field(d, "community_id", 25, T_STRING, L_OPT);
	google__protobuf__descriptor_proto__free_unpacked(d, NULL);

	/* Every cap below the length is -ENOSPC. */
	for (int cap = 0; cap < n; cap++)
		assert_int_equal(dv_bq_proto_descriptor(buf, (size_t)cap), -ENOSPC);
}

/* ---- rows -------------------------------------------------------------- */

static void test_plain_row(void **state)
{
	struct dv_export_rec r;
	uint8_t buf[DV_BQ_PROTO_ROW_MAX];
	struct field f[MAX_FIELD];
	int n;

	(void)state;
	plain_rec(&r);
	n = dv_bq_proto_row(&r, "tap-01", buf, sizeof(buf));
	assert_true(n > 0);
	read_row(buf, (size_t)n, f);
	expect_str(&f[1], "00112233-4455-4677-8899-aabbccddeeff");
	expect_str(&f[2], "tcp");
	expect_str(&f[3], "192.0.2.1");
	expect_str(&f[4], "198.51.100.7");
	expect_int(&f[5], 49152);
	expect_int(&f[6], 443);
	expect_int(&f[7], 1700000000123456ULL);
	expect_int(&f[8], 1700000060999999ULL);
	expect_int(&f[9], 1500);
	expect_int(&f[10], 0); /* a REQUIRED zero is written, not left out */
	expect_int(&f[11], 3);
	expect_int(&f[12], 0);
	expect_str(&f[13], "init");
	expect_str(&f[14], "tcp_close");
	expect_int(&f[15], 2);
	expect_int(&f[16], 6);
	assert_false(f[17].set); /* vlan_id NULL */
	expect_int(&f[18], 0x02);
	expect_int(&f[19], 0x12);
	expect_str(&f[20], "tap-01");
	for (int i = 21; i <= 24; i++) /* the tunnel columns NULL */
		assert_false(f[i].set);
	/* tshark's community_id of 192.0.2.1:49152 -> 198.51.100.7:443 TCP (test_row.c) */
	expect_str(&f[25], "1:tzGAv2c/HYtwUVKYnonVf8gjDsk=");
	assert_false(f[26].set);

	/* The bytes themselves: the id's tag and length, src_port's varint. */
	assert_memory_equal(buf, "\x0a\x24", 2);
	assert_non_null(memmem(buf, (size_t)n, "\x28\x80\x80\x03", 4));
}

static void test_tunnel_row(void **state)
{
	struct dv_export_rec r;
	uint8_t buf[DV_BQ_PROTO_ROW_MAX];
	struct field f[MAX_FIELD];
	int n;

	(void)state;
	tunnel_rec(&r);
	n = dv_bq_proto_row(&r, "s", buf, sizeof(buf));
	assert_true(n > 0);
	read_row(buf, (size_t)n, f);
	expect_str(&f[2], "udp");
	expect_str(&f[3], "2001:db8::1");
	expect_str(&f[4], "2001:db8:1::53");
	expect_str(&f[13], "established");
	expect_str(&f[14], "idle");
	expect_int(&f[16], 17);
	expect_int(&f[17], 100);
	assert_false(f[18].set); /* not TCP: the flags NULL */
	assert_false(f[19].set);
	expect_str(&f[21], "mpls,vxlan");
	expect_int(&f[22], 5001);
	expect_str(&f[23], "fd00::a");
	expect_str(&f[24], "fd00::b");

	/* Link shims only: a tunnel, but no outer addresses and no VNI. */
	r.n_kinds = 1;
	r.kinds[0] = DV_TUN_PPPOE;
	r.outer_family = 0;
	r.flags = 0;
	n = dv_bq_proto_row(&r, "s", buf, sizeof(buf));
	read_row(buf, (size_t)n, f);
	expect_str(&f[21], "pppoe");
	assert_false(f[22].set);
	assert_false(f[23].set);
	assert_false(f[24].set);
}

static void test_edges(void **state)
{
	struct dv_export_rec r;
	uint8_t buf[DV_BQ_PROTO_ROW_MAX];
	struct field f[MAX_FIELD];
	int n;

	(void)state;
	plain_rec(&r);
	r.src_bytes = UINT64_MAX; /* clamped to INT64_MAX, as the JSON row */
	r.status = 9;		  /* out of range: "unknown", as the JSON row */
	r.end_reason = 200;
	n = dv_bq_proto_row(&r, "quote\"back\\slash", buf, sizeof(buf));
	read_row(buf, (size_t)n, f);
	expect_int(&f[9], 0x7fffffffffffffffULL);
	expect_str(&f[13], "unknown");
	expect_str(&f[14], "unknown");
	expect_str(&f[20], "quote\"back\\slash"); /* no JSON escapes in a protobuf string */

	n = dv_bq_proto_row(&r, NULL, buf, sizeof(buf)); /* JSON null: left out */
	read_row(buf, (size_t)n, f);
	assert_false(f[20].set);

	r.family = 0;
	assert_int_equal(dv_bq_proto_row(&r, "s", buf, sizeof(buf)), -EINVAL);
}

/* Every cap below a row's length is -ENOSPC; the exact length fits, same bytes. */
static void test_enospc(void **state)
{
	struct dv_export_rec r;
	uint8_t full[DV_BQ_PROTO_ROW_MAX], buf[DV_BQ_PROTO_ROW_MAX];
	int n;

	(void)state;
	tunnel_rec(&r);
	n = dv_bq_proto_row(&r, "sensor-a", full, sizeof(full));
	assert_true(n > 0);
	for (int cap = 0; cap < n; cap++)
		assert_int_equal(dv_bq_proto_row(&r, "sensor-a", buf, (size_t)cap), -ENOSPC);
	assert_int_equal(dv_bq_proto_row(&r, "sensor-a", buf, (size_t)n), n);
	assert_memory_equal(buf, full, (size_t)n);
}

/* The longest row there can be fits DV_BQ_PROTO_ROW_MAX. */
static void test_longest_row(void **state)
{
	struct dv_export_rec r;
	uint8_t buf[DV_BQ_PROTO_ROW_MAX];
	char sensor[DV_SENSOR_MAX + 1];

	(void)state;
	tunnel_rec(&r);
	memset(r.src_addr, 0xff, 16);
	memset(r.dst_addr, 0xff, 16);
	memset(r.outer_src, 0xff, 16);
	memset(r.outer_dst, 0xff, 16);
	r.first_ns = r.last_ns = UINT64_MAX;
	r.src_bytes = r.dst_bytes = r.src_packets = r.dst_packets = UINT64_MAX;
	r.segment = UINT32_MAX;
	r.src_port = r.dst_port = UINT16_MAX;
	r.proto = 253;
	r.flags = DV_EXPORT_F_VLAN | DV_EXPORT_F_TCP | DV_EXPORT_F_VNI;
	r.vlan_id = 4095;
	r.vni = UINT32_MAX;
	r.n_kinds = 8;
	memset(r.kinds, DV_TUN_FABRICPATH, 8);
	memset(sensor, 'x', DV_SENSOR_MAX);
	sensor[DV_SENSOR_MAX] = '\0';
	assert_true(dv_bq_proto_row(&r, sensor, buf, sizeof(buf)) > 0);
	print_message("longest row: %d bytes\n", dv_bq_proto_row(&r, sensor, buf, sizeof(buf)));
}

/* From the JSON writer's text, the same bytes as from the record (a row
 * replayed from the spool has only its text), and text that is no row. */
static void same_from_json(const struct dv_export_rec *r, const char *sensor)
{
	char json[DV_ROW_MAX];
	uint8_t want[DV_BQ_PROTO_ROW_MAX], got[DV_BQ_PROTO_ROW_MAX];
	const char *column = "unset";
	int jn = dv_row_format(r, sensor, json, sizeof(json));
	int n = dv_bq_proto_row(r, sensor, want, sizeof(want));

	assert_true(jn > 0 && n > 0);
	assert_int_equal(dv_bq_proto_row_json(json, (size_t)jn, got, sizeof(got), &column), n);
	assert_memory_equal(got, want, (size_t)n);
	assert_null(column);
	assert_int_equal(dv_bq_proto_row_json(json, (size_t)jn, got, (size_t)n - 1, &column),
			 -ENOSPC);
}

static void test_json_row(void **state)
{
	struct dv_export_rec r;
	struct field f[MAX_FIELD];
	uint8_t buf[DV_BQ_PROTO_ROW_MAX];
	const char *column;
	static const char *bad_port = "{\"id\":\"x\",\"src_port\":\"443\"}";
	static const char *bad_time = "{\"first_seen_at\":\"2023-11-14 22:13:20.123456Z\"}";
	static const char *one_time = "{\"last_seen_at\":\"2023-11-14T22:13:20.123456Z\"}";
	int n;

	(void)state;
	plain_rec(&r);
	same_from_json(&r, "sensor-a");
	same_from_json(&r, "quote\"back\\slash\x01");
	same_from_json(&r, NULL);
	r.src_bytes = UINT64_MAX;
	r.status = 9;
	same_from_json(&r, "s");
	tunnel_rec(&r);
	same_from_json(&r, "sensor-b");
	/* 1700000000 s is 2023-11-14T22:13:20Z (date -u -d @1700000000). */
	n = dv_bq_proto_row_json(one_time, strlen(one_time), buf, sizeof(buf), &column);
	read_row(buf, (size_t)n, f);
	expect_int(&f[8], 1700000000123456ULL);
	assert_int_equal(dv_bq_proto_row_json("[1]", 3, buf, sizeof(buf), &column), -EINVAL);
	assert_null(column);
	assert_int_equal(dv_bq_proto_row_json("{", 1, buf, sizeof(buf), &column), -EINVAL);
	assert_int_equal(
	    dv_bq_proto_row_json(bad_port, strlen(bad_port), buf, sizeof(buf), &column), -EINVAL);
	assert_string_equal(column, "src_port");
	assert_int_equal(
	    dv_bq_proto_row_json(bad_time, strlen(bad_time), buf, sizeof(buf), &column), -EINVAL);
	assert_string_equal(column, "first_seen_at");
}

/* ---- the JSON scanner ------------------------------------------------------ */

/* Two pages, the second PROT_NONE: what is copied to the end of the first
 * has nothing readable after it. */
static uint8_t *guard_page(void)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *m =
	    mmap(NULL, (size_t)pg * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(m != MAP_FAILED);
	assert_int_equal(mprotect(m + pg, (size_t)pg, PROT_NONE), 0);
	return m + pg; /* the guard: write before it */
}

static uint8_t *g_in, *g_out;

/* The scanner on n bytes of s placed right before the input guard, into
 * cap bytes right before the output guard (*out: where they are). */
static int scan(const char *s, size_t n, size_t cap, const uint8_t **out, const char **column)
{
	char *in = (char *)g_in - n;

	memcpy(in, s, n);
	*out = g_out - cap;
	return dv_bq_proto_row_json(in, n, g_out - cap, cap, column);
}

struct json_case {
	const char *text;
	size_t len; /* 0: strlen(text) */
	int rc;	    /* bytes, or -EINVAL */
	const char *wire;
	const char *column; /* with -EINVAL: the column named, NULL for none */
	bool ref_accepts;   /* refused here, accepted by jansson (a real, nested) */
};

#define ACCEPT(t, w)                                                                               \
	{                                                                                          \
		t, 0, sizeof(w) - 1, w, NULL, false                                                \
	}
#define REFUSE(t)                                                                                  \
	{                                                                                          \
		t, 0, -EINVAL, NULL, NULL, false                                                   \
	}
#define NOT_COL(t, c)                                                                              \
	{                                                                                          \
		t, 0, -EINVAL, NULL, c, false                                                      \
	}
#define NOT_FLAT(t)                                                                                \
	{                                                                                          \
		t, 0, -EINVAL, NULL, NULL, true                                                    \
	}

static const struct json_case json_cases[] = {
    ACCEPT("{}", ""),
    ACCEPT(" \t\r\n{ \n\"src_port\" :\t443 , \"dst_port\":80 }\r\n", "\x28\xbb\x03\x30\x50"),
    ACCEPT("{\"dst_port\":80,\"src_port\":443}", "\x28\xbb\x03\x30\x50"), /* column order */
    ACCEPT("{\"src\\u005Fport\":1}", "\x28\x01"),			  /* an escaped key */
    ACCEPT("{\"sensor\":\"a\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"}",
	   "\xa2\x01\x0f"
	   "a\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80"),
    ACCEPT("{\"sensor\":\"\xc3\x9c\xe2\x82\xac\xf0\x9f\x98\x80\x7f\"}",
	   "\xa2\x01\x0a\xc3\x9c\xe2\x82\xac\xf0\x9f\x98\x80\x7f"),
    ACCEPT("{\"src_port\":-1}", "\x28\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
    ACCEPT("{\"src_port\":9223372036854775807}", "\x28\xff\xff\xff\xff\xff\xff\xff\xff\x7f"),
    ACCEPT("{\"src_port\":-9223372036854775808}", "\x28\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"),
    ACCEPT("{\"src_port\":-0,\"dst_port\":0}", "\x28\x00\x30\x00"),
    ACCEPT("{\"x\":true,\"y\":false,\"z\":\"q\\u0041\",\"w\":-5,\"v\":null,\"\":0}", ""),
    ACCEPT("{\"vlan_id\":null,\"sensor\":null}", ""),
    /* 2023-11-14T22:13:20.123456Z = 1700000000123456 us (date -u -d @1700000000) */
    ACCEPT("{\"first_seen_at\":\"2023-11-14T22:13:20.123456\\u005a\"}",
	   "\x38\xc0\xc4\x80\xc1\xc1\xc4\x82\x03"),
    /* not JSON, or not one object */
    REFUSE(""),
    REFUSE("{"),
    REFUSE("[1]"),
    REFUSE("\"x\""),
    REFUSE("{\"a\":1,}"),
    REFUSE("{\"a\":1} x"),
    REFUSE("{\"a\" 1}"),
    REFUSE("{\"a\":}"),
    REFUSE("{a:1}"),
    REFUSE("{\"a\":1}}"),
    REFUSE("{,}"),
    REFUSE("{\"a\":1 \"b\":2}"),
    /* a column twice (jansson: JSON_REJECT_DUPLICATES) */
    REFUSE("{\"src_port\":1,\"src_port\":2}"),
    REFUSE("{\"vlan_id\":null,\"vlan_id\":null}"),
    /* strings */
    REFUSE("{\"sensor\":\"\\u0000\"}"),
    REFUSE("{\"sensor\":\"\\ud800\"}"),
    REFUSE("{\"sensor\":\"\\ud800\\u0041\"}"),
    REFUSE("{\"sensor\":\"\\udc00\"}"),
    REFUSE("{\"sensor\":\"\xc0\x80\"}"),
    REFUSE("{\"sensor\":\"\xe0\x80\xaf\"}"),	 /* overlong, 3 bytes */
    REFUSE("{\"sensor\":\"\xf0\x80\x80\xaf\"}"), /* overlong, 4 bytes */
    REFUSE("{\"sensor\":\"\xed\xa0\x80\"}"),
    REFUSE("{\"sensor\":\"\xf4\x90\x80\x80\"}"),
    REFUSE("{\"sensor\":\"\xe2\x82\"}"),
    REFUSE("{\"sensor\":\"\x80\"}"),
    REFUSE("{\"sensor\":\"a\tb\"}"),
    REFUSE("{\"sensor\":\"\\x\"}"),
    REFUSE("{\"sensor\":\"\\u12\"}"),
    REFUSE("{\"sensor\":\"\\u12g4\"}"),
    REFUSE("{\"sensor\":\"abc"),
    REFUSE("{\"sensor\":\"a\\"),
    {"{\"sensor\":\"a\0b\"}", 15, -EINVAL, NULL, NULL, false}, /* a NUL in the text */
    /* numbers */
    REFUSE("{\"src_port\":9223372036854775808}"),
    REFUSE("{\"src_port\":-9223372036854775809}"),
    REFUSE("{\"src_port\":18446744073709551616}"),
    REFUSE("{\"src_port\":01}"),
    REFUSE("{\"src_port\":-}"),
    REFUSE("{\"src_port\":1.}"),
    REFUSE("{\"src_port\":1e}"),
    REFUSE("{\"src_port\":+1}"),
    REFUSE("{\"x\":nul}"),
    REFUSE("{\"x\":tru}"),
    REFUSE("{\"x\":nullx}"),
    /* a value of the wrong type: the column named */
    NOT_COL("{\"src_port\":\"443\"}", "src_port"),
    NOT_COL("{\"src_port\":true}", "src_port"),
    NOT_COL("{\"sensor\":5}", "sensor"),
    NOT_COL("{\"first_seen_at\":\"2023-11-14 22:13:20.123456Z\"}", "first_seen_at"),
    NOT_COL("{\"first_seen_at\":1700000000}", "first_seen_at"),
    NOT_COL("{\"first_seen_at\":\"1969-12-31T23:59:59.000000Z\"}", "first_seen_at"),
    REFUSE("{\"src_port\":1e999}"),	 /* jansson refused it too (out of range) */
    NOT_COL("{\"src_port\":[1]}", NULL), /* nested: the text refused, not the column */
    /* what jansson took and devourer never writes */
    NOT_FLAT("{\"x\":1.5}"),
    REFUSE("{\"src_port\":1.5}"), /* in a column too (jansson named the column) */
    NOT_FLAT("{\"x\":-1e3}"),
    NOT_FLAT("{\"x\":[1]}"),
    NOT_FLAT("{\"x\":{}}"),
};

static void test_json_cases(void **state)
{
	uint8_t ref[DV_BQ_PROTO_ROW_MAX];
	const uint8_t *out;

	(void)state;
	for (size_t i = 0; i < sizeof(json_cases) / sizeof(json_cases[0]); i++) {
		const struct json_case *t = &json_cases[i];
		size_t len = t->len ? t->len : strlen(t->text);
		const char *column = "unset", *ref_column;
		int n = scan(t->text, len, DV_BQ_PROTO_ROW_MAX, &out, &column);
		int m = bq_proto_json_ref(t->text, len, ref, sizeof(ref), &ref_column, false);

		print_message("case %zu: %s -> %d\n", i, t->text, n);
		assert_int_equal(n, t->rc);
		if (n >= 0)
			assert_memory_equal(out, t->wire, (size_t)n);
		if (n >= 0 || t->column == NULL)
			assert_null(column);
		else
			assert_string_equal(column, t->column);
		/* The reference agrees, but on what devourer never writes. */
		if (t->ref_accepts) {
			assert_true(m >= 0);
			continue;
		}
		assert_int_equal(m, n);
		if (n >= 0)
			assert_memory_equal(ref, out, (size_t)n);
	}
}

/* Every prefix of a row (an object never closed) is refused, reading none
 * of what follows it; every cap below its length is -ENOSPC, writing
 * nothing past cap (the escaped sensor is decoded straight into the output). */
static void test_json_bounds(void **state)
{
	struct dv_export_rec r;
	char json[DV_ROW_MAX];
	uint8_t want[DV_BQ_PROTO_ROW_MAX];
	const uint8_t *out;
	const char *column;
	int jn, n;

	(void)state;
	tunnel_rec(&r);
	jn = dv_row_format(&r, "s\"\\\x01-\xc3\x9c", json, sizeof(json));
	n = dv_bq_proto_row(&r, "s\"\\\x01-\xc3\x9c", want, sizeof(want));
	assert_true(jn > 0 && n > 0);
	for (int len = 0; len < jn; len++)
		assert_int_equal(scan(json, (size_t)len, DV_BQ_PROTO_ROW_MAX, &out, &column),
				 -EINVAL);
	for (int cap = 0; cap < n; cap++)
		assert_int_equal(scan(json, (size_t)jn, (size_t)cap, &out, &column), -ENOSPC);
	assert_int_equal(scan(json, (size_t)jn, (size_t)n, &out, &column), n);
	assert_memory_equal(out, want, (size_t)n);
	for (size_t i = 0; i < sizeof(json_cases) / sizeof(json_cases[0]); i++) {
		const struct json_case *t = &json_cases[i];
		size_t len = t->len ? t->len : strlen(t->text);

		for (size_t k = 0; k < len; k++) /* must not fault; any answer */
			(void)scan(t->text, k, DV_BQ_PROTO_ROW_MAX, &out, &column);
	}
}

int main(void)
{
	g_in = guard_page();
	g_out = guard_page();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_descriptor),	cmocka_unit_test(test_plain_row),
	    cmocka_unit_test(test_tunnel_row),	cmocka_unit_test(test_edges),
	    cmocka_unit_test(test_enospc),	cmocka_unit_test(test_longest_row),
	    cmocka_unit_test(test_json_row),	cmocka_unit_test(test_json_cases),
	    cmocka_unit_test(test_json_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
