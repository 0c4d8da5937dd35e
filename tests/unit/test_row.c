/*
 * test_row: dv_row formatting (SPEC section 3).
 *
 * Expected texts are written by hand: IPv6 forms from the examples of
 * RFC 5952, dates from `date -u -d @<secs>`, whole rows from the record the
 * test builds. Two checks use independent implementations as oracles over
 * many random inputs: glibc's inet_ntop (which agrees with RFC 5952 except
 * for addresses whose first 96 bits are zero) and gmtime_r. Jansson parses
 * every row to check it is JSON with the 28 columns, in order, typed. The
 * sample row's community_id is tshark's (--enable-protocol communityid) for a
 * TCP SYN 192.0.2.1:49152 -> 198.51.100.7:443.
 *
 * What formatting costs is tests/bench/bench_row's to say, not a test's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "dv_decap.h"
#include "dv_parse.h"
#include "dv_row.h"
#include "dv_tls.h"

/* Deterministic test PRNG (xorshift64*), independent of lib/dv_rand.c. */
static uint64_t test_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void ipv6_from_groups(const uint16_t g[8], uint8_t out[16])
{
	for (int i = 0; i < 8; i++) {
		out[2 * i] = (uint8_t)(g[i] >> 8);
		out[2 * i + 1] = (uint8_t)g[i];
	}
}

/* The record behind the hand-written row in test_row_exact. */
static void sample_rec(struct dv_export_rec *r)
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
	r->first_ns = 1714564800ULL * 1000000000ULL + 123456789; /* 2024-05-01T12:00:00 */
	r->last_ns = (1714564800ULL + 61) * 1000000000ULL + 999999999;
	r->src_bytes = 1500;
	r->dst_bytes = 123456789012ULL;
	r->src_packets = 10;
	r->dst_packets = 20;
	r->status = DV_STATUS_ESTABLISHED;
	r->end_reason = DV_END_TCP_CLOSE;
	r->segment = 3;
	r->proto = 6;
	r->flags = DV_EXPORT_F_VLAN | DV_EXPORT_F_TCP;
	r->vlan_id = 100;
	r->src_tcp_flags = 0x1b; /* FIN SYN PSH ACK = 27 */
	r->dst_tcp_flags = 0x12; /* SYN ACK = 18 */
}

static void test_proto_names(void **state)
{
	static const struct {
		uint8_t proto;
		const char *name;
	} cases[] = {
	    {6, "tcp"},	     {17, "udp"},   {1, "icmp4"},    {58, "icmp6"}, {132, "sctp"},
	    {47, "gre"},     {50, "esp"},   {51, "ah"},	     {2, "igmp"},   {89, "ospf"},
	    {103, "pim"},    {112, "vrrp"}, {0, "ip-0"},     {4, "ip-4"},   {41, "ip-41"},
	    {255, "ip-255"}, {59, "ip-59"}, {100, "ip-100"},
	};
	char tmp[16];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_string_equal(dv_proto_name(cases[i].proto, 4, tmp), cases[i].name);
		assert_string_equal(dv_proto_name(cases[i].proto, 6, tmp), cases[i].name);
	}
}

static void test_ipv4_format(void **state)
{
	static const struct {
		uint8_t a[4];
		const char *text;
	} cases[] = {
	    {{0, 0, 0, 0}, "0.0.0.0"},		 {{255, 255, 255, 255}, "255.255.255.255"},
	    {{192, 0, 2, 1}, "192.0.2.1"},	 {{10, 0, 100, 9}, "10.0.100.9"},
	    {{1, 20, 199, 250}, "1.20.199.250"},
	};
	uint8_t addr[16];
	char buf[46];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(addr, 0xee, sizeof(addr)); /* bytes 4..15 must be ignored */
		memcpy(addr, cases[i].a, 4);
		assert_int_equal(dv_addr_format(addr, 4, buf), (int)strlen(cases[i].text));
		assert_string_equal(buf, cases[i].text);
	}
	assert_int_equal(dv_addr_format(addr, 5, buf), -EINVAL);
	/* Every octet value in every position, against the C library. */
	for (unsigned int v = 0; v < 256; v++) {
		const uint8_t a[4] = {(uint8_t)v, (uint8_t)(255 - v), (uint8_t)(v / 2), (uint8_t)v};
		char want[16];

		memcpy(addr, a, 4);
		snprintf(want, sizeof(want), "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		assert_int_equal(dv_addr_format(addr, 4, buf), (int)strlen(want));
		assert_string_equal(buf, want);
	}
}

/* RFC 5952 section 4 and 5 examples, plus edges of the zero-run rule. */
static void test_ipv6_rfc5952(void **state)
{
	static const struct {
		uint16_t g[8];
		const char *text;
	} cases[] = {
	    /* 4.1 leading zeros suppressed */
	    {{0x2001, 0x0db8, 0, 0, 0, 0, 0x0002, 0x0001}, "2001:db8::2:1"},
	    /* 4.2.1 the longest run is compressed */
	    {{0x2001, 0x0db8, 0, 0, 0, 0, 0, 0x0001}, "2001:db8::1"},
	    /* 4.2.2 a single zero group is not compressed */
	    {{0x2001, 0x0db8, 0, 1, 1, 1, 1, 1}, "2001:db8:0:1:1:1:1:1"},
	    /* 4.2.3 the longer run wins, then the first of equal runs */
	    {{0x2001, 0, 0, 1, 0, 0, 0, 1}, "2001:0:0:1::1"},
	    {{0x2001, 0x0db8, 0, 0, 1, 0, 0, 1}, "2001:db8::1:0:0:1"},
	    /* 4.3 lowercase */
	    {{0x2001, 0x0db8, 0, 0, 0, 0, 0, 0xabcd}, "2001:db8::abcd"},
	    {{0xFE80, 0, 0, 0, 0x0202, 0xB3FF, 0xFE1E, 0x8329}, "fe80::202:b3ff:fe1e:8329"},
	    /* runs at either end and everywhere */
	    {{0, 0, 0, 0, 0, 0, 0, 0}, "::"},
	    {{0, 0, 0, 0, 0, 0, 0, 1}, "::1"},
	    {{1, 0, 0, 0, 0, 0, 0, 0}, "1::"},
	    {{0, 0, 1, 0, 0, 0, 0, 1}, "0:0:1::1"},
	    {{1, 0, 0, 2, 0, 0, 0, 0}, "1:0:0:2::"},
	    {{0, 1, 2, 3, 4, 5, 6, 7}, "0:1:2:3:4:5:6:7"},
	    {{1, 2, 3, 4, 5, 6, 7, 0}, "1:2:3:4:5:6:7:0"},
	    {{1, 0, 2, 0, 3, 0, 4, 0}, "1:0:2:0:3:0:4:0"},
	    {{0, 0, 1, 2, 3, 4, 0, 0}, "::1:2:3:4:0:0"},
	    {{0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff},
	     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	    {{0x10, 0x100, 0x1000, 0xa, 0, 0, 0x0f0, 0xf00}, "10:100:1000:a::f0:f00"},
	    /* 5: IPv4-mapped keeps the dotted quad */
	    {{0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201}, "::ffff:192.0.2.1"},
	    {{0, 0, 0, 0, 0, 0xffff, 0, 0}, "::ffff:0.0.0.0"},
	    /* not mapped: the IPv4-translated prefix and "::2" stay hex */
	    {{0, 0, 0, 0, 0xffff, 0, 0xc000, 0x0201}, "::ffff:0:c000:201"},
	    {{0, 0, 0, 0, 0, 0, 0, 2}, "::2"},
	    {{0, 0, 0, 0, 0, 0, 0xc000, 0x0201}, "::c000:201"},
	};
	uint8_t addr[16];
	char buf[46];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ipv6_from_groups(cases[i].g, addr);
		memset(buf, 'x', sizeof(buf));
		assert_int_equal(dv_addr_format(addr, 6, buf), (int)strlen(cases[i].text));
		assert_string_equal(buf, cases[i].text);
	}
}

/*
 * glibc's inet_ntop compresses the longest run of two or more zero groups,
 * the first on a tie, in lowercase: RFC 5952 exactly, except that it prints
 * addresses whose first 96 bits are zero as "::a.b.c.d". Compare on many
 * random addresses rich in zero runs, skipping those.
 */
static void test_ipv6_matches_inet_ntop(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	uint8_t addr[16];
	char ours[46], theirs[INET6_ADDRSTRLEN];
	int compared = 0;

	(void)state;
	for (int n = 0; n < 200000; n++) {
		uint16_t g[8];
		uint64_t r = test_rand(&seed);

		for (int i = 0; i < 8; i++) {
			uint16_t v = (uint16_t)(test_rand(&seed) >> 20);

			switch ((r >> (3 * i)) & 7) {
			case 0:
			case 1:
			case 2:
			case 3:
				g[i] = 0;
				break;
			case 4:
				g[i] = 0xffff;
				break;
			case 5:
				g[i] = v & 0xf;
				break;
			default:
				g[i] = v;
			}
		}
		ipv6_from_groups(g, addr);
		if (g[0] == 0 && g[1] == 0 && g[2] == 0 && g[3] == 0 && g[4] == 0 && g[5] == 0)
			continue;
		assert_non_null(inet_ntop(AF_INET6, addr, theirs, sizeof(theirs)));
		dv_addr_format(addr, 6, ours);
		if (strcmp(ours, theirs) != 0)
			fail_msg("address %d: ours %s, inet_ntop %s", n, ours, theirs);
		compared++;
	}
	assert_true(compared > 190000);
}

/* Seconds values and their dates from `date -u -d @<secs> +%FT%T`. */
static void test_time_known_dates(void **state)
{
	static const struct {
		uint64_t ns;
		const char *text;
	} cases[] = {
	    {0, "1970-01-01T00:00:00.000000Z"},
	    {999, "1970-01-01T00:00:00.000000Z"}, /* ns truncate, never round */
	    {1000, "1970-01-01T00:00:00.000001Z"},
	    {68169600ULL * 1000000000ULL, "1972-02-29T00:00:00.000000Z"},
	    {946684799ULL * 1000000000ULL + 999999999, "1999-12-31T23:59:59.999999Z"},
	    {951782400ULL * 1000000000ULL, "2000-02-29T00:00:00.000000Z"},
	    {951868800ULL * 1000000000ULL, "2000-03-01T00:00:00.000000Z"},
	    {1709164800ULL * 1000000000ULL + 500000, "2024-02-29T00:00:00.000500Z"},
	    {1714564800ULL * 1000000000ULL + 123456789, "2024-05-01T12:00:00.123456Z"},
	    {4102444800ULL * 1000000000ULL, "2100-01-01T00:00:00.000000Z"},
	    {4107456000ULL * 1000000000ULL, "2100-02-28T00:00:00.000000Z"},
	    /* 2100 is not a leap year: the day after 02-28 is 03-01 */
	    {4107542400ULL * 1000000000ULL, "2100-03-01T00:00:00.000000Z"},
	    /* the last representable instant: 18446744073.709551615 s */
	    {UINT64_MAX, "2554-07-21T23:34:33.709551Z"},
	};
	char buf[28];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(dv_time_format(cases[i].ns, buf), 27);
		assert_string_equal(buf, cases[i].text);
	}
}

/* gmtime_r as an oracle over random instants across the whole range. */
static void test_time_matches_gmtime(void **state)
{
	uint64_t seed = 12345;
	char ours[28], theirs[80];

	(void)state;
	for (int n = 0; n < 100000; n++) {
		uint64_t ns = test_rand(&seed);
		time_t secs;
		struct tm tm;

		if (n < 1000) /* also the first days around the epoch */
			ns %= 3ULL * 366 * 86400 * 1000000000ULL;
		secs = (time_t)(ns / 1000000000ULL);
		assert_non_null(gmtime_r(&secs, &tm));
		snprintf(theirs, sizeof(theirs), "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (unsigned int)(ns % 1000000000ULL / 1000));
		dv_time_format(ns, ours);
		if (strcmp(ours, theirs) != 0)
			fail_msg("ns %llu: ours %s, gmtime_r %s", (unsigned long long)ns, ours,
				 theirs);
	}
}

static void test_insert_id(void **state)
{
	struct dv_export_rec r;
	char buf[DV_INSERT_ID_MAX];

	(void)state;
	sample_rec(&r);
	assert_int_equal(dv_row_insert_id(&r, buf), 38);
	assert_string_equal(buf, "00112233-4455-4677-8899-aabbccddeeff:3");
	r.segment = 0;
	dv_row_insert_id(&r, buf);
	assert_string_equal(buf, "00112233-4455-4677-8899-aabbccddeeff:0");
	r.segment = UINT32_MAX;
	memset(r.id, 0xAB, 16);
	assert_int_equal(dv_row_insert_id(&r, buf), 47);
	assert_string_equal(buf, "abababab-abab-abab-abab-abababababab:4294967295");
}

static const char sample_row[] =
    "{\"id\":\"00112233-4455-4677-8899-aabbccddeeff\",\"protocol\":\"tcp\","
    "\"src_addr\":\"192.0.2.1\",\"dst_addr\":\"198.51.100.7\",\"src_port\":49152,"
    "\"dst_port\":443,\"first_seen_at\":\"2024-05-01T12:00:00.123456Z\","
    "\"last_seen_at\":\"2024-05-01T12:01:01.999999Z\",\"src_bytes\":1500,"
    "\"dst_bytes\":123456789012,\"src_packets\":10,\"dst_packets\":20,"
    "\"status\":\"established\",\"end_reason\":\"tcp_close\",\"segment\":3,"
    "\"ip_protocol\":6,\"vlan_id\":100,\"src_tcp_flags\":27,\"dst_tcp_flags\":18,"
    "\"sensor\":\"tap-1\",\"tunnel\":null,\"tunnel_id\":null,\"tunnel_src_addr\":null,"
    "\"tunnel_dst_addr\":null,\"community_id\":\"1:tzGAv2c/HYtwUVKYnonVf8gjDsk=\","
    "\"server_name\":null,\"dns_query\":null,\"dns_rcode\":null}";

static void test_row_exact(void **state)
{
	struct dv_export_rec r;
	char buf[DV_ROW_MAX];

	(void)state;
	sample_rec(&r);
	assert_int_equal(dv_row_format(&r, "tap-1", buf, sizeof(buf)), (int)strlen(sample_row));
	assert_string_equal(buf, sample_row);
}

/* Parse a row and check the 28 columns of SPEC section 3, docs/tunnels.md and
 * docs/flow-context.md:
 * names, order and JSON types (nullable ones may be null). Returns the
 * parsed object. */
static json_t *check_schema(const char *row, int len)
{
	static const struct {
		const char *key;
		char type; /* s string, i integer, n integer or null, z string or null */
	} cols[] = {
	    {"id", 's'},
	    {"protocol", 's'},
	    {"src_addr", 's'},
	    {"dst_addr", 's'},
	    {"src_port", 'i'},
	    {"dst_port", 'i'},
	    {"first_seen_at", 's'},
	    {"last_seen_at", 's'},
	    {"src_bytes", 'i'},
	    {"dst_bytes", 'i'},
	    {"src_packets", 'i'},
	    {"dst_packets", 'i'},
	    {"status", 's'},
	    {"end_reason", 's'},
	    {"segment", 'i'},
	    {"ip_protocol", 'i'},
	    {"vlan_id", 'n'},
	    {"src_tcp_flags", 'n'},
	    {"dst_tcp_flags", 'n'},
	    {"sensor", 's'},
	    {"tunnel", 'z'},
	    {"tunnel_id", 'n'},
	    {"tunnel_src_addr", 'z'},
	    {"tunnel_dst_addr", 'z'},
	    {"community_id", 'z'},
	    {"server_name", 'z'},
	    {"dns_query", 'z'},
	    {"dns_rcode", 'n'},
	};
	json_error_t jerr;
	json_t *o = json_loadb(row, (size_t)len, JSON_REJECT_DUPLICATES, &jerr);
	void *it;
	size_t i = 0;

	if (o == NULL)
		fail_msg("not JSON (%s at %d): %s", jerr.text, jerr.position, row);
	assert_true(json_is_object(o));
	assert_int_equal(json_object_size(o), 28);
	/* Jansson iterates objects in insertion order (since 2.8). */
	for (it = json_object_iter(o); it != NULL; it = json_object_iter_next(o, it), i++) {
		json_t *v = json_object_iter_value(it);

		assert_true(i < 28);
		assert_string_equal(json_object_iter_key(it), cols[i].key);
		switch (cols[i].type) {
		case 's':
			assert_true(json_is_string(v));
			break;
		case 'i':
			assert_true(json_is_integer(v));
			break;
		case 'z':
			assert_true(json_is_string(v) || json_is_null(v));
			break;
		default:
			assert_true(json_is_integer(v) || json_is_null(v));
		}
	}
	assert_int_equal(i, 28);
	return o;
}

static void test_row_schema_and_values(void **state)
{
	struct dv_export_rec r;
	char buf[DV_ROW_MAX];
	int len;
	json_t *o;

	(void)state;
	sample_rec(&r);
	len = dv_row_format(&r, "tap-1", buf, sizeof(buf));
	assert_true(len > 0);
	o = check_schema(buf, len);
	assert_string_equal(json_string_value(json_object_get(o, "id")),
			    "00112233-4455-4677-8899-aabbccddeeff");
	assert_int_equal(json_integer_value(json_object_get(o, "dst_bytes")), 123456789012LL);
	assert_int_equal(json_integer_value(json_object_get(o, "vlan_id")), 100);
	json_decref(o);

	/* IPv6, UDP, untagged, init, segment 0 */
	r.family = 6;
	ipv6_from_groups((uint16_t[]){0x2001, 0xdb8, 0, 0, 0, 0, 0, 1}, r.src_addr);
	ipv6_from_groups((uint16_t[]){0xfe80, 0, 0, 0, 0, 0, 0xa, 0xb}, r.dst_addr);
	r.proto = 17;
	r.flags = 0;
	r.status = DV_STATUS_INIT;
	r.segment = 0;
	len = dv_row_format(&r, "s", buf, sizeof(buf));
	o = check_schema(buf, len);
	assert_string_equal(json_string_value(json_object_get(o, "protocol")), "udp");
	assert_string_equal(json_string_value(json_object_get(o, "src_addr")), "2001:db8::1");
	assert_string_equal(json_string_value(json_object_get(o, "dst_addr")), "fe80::a:b");
	assert_string_equal(json_string_value(json_object_get(o, "status")), "init");
	assert_true(json_is_null(json_object_get(o, "vlan_id")));
	assert_true(json_is_null(json_object_get(o, "src_tcp_flags")));
	assert_true(json_is_null(json_object_get(o, "dst_tcp_flags")));
	json_decref(o);
}

/* The NULL columns follow their flag bits independently. */
static void test_row_nulls(void **state)
{
	struct dv_export_rec r;
	char buf[DV_ROW_MAX];

	(void)state;
	sample_rec(&r);
	r.flags = DV_EXPORT_F_TCP;
	r.vlan_id = 0;
	r.src_tcp_flags = 0;
	dv_row_format(&r, "x", buf, sizeof(buf));
	assert_non_null(strstr(buf, ",\"vlan_id\":null,\"src_tcp_flags\":0,\"dst_tcp_flags\":18,"));
	r.flags = DV_EXPORT_F_VLAN;
	r.vlan_id = 4095;
	dv_row_format(&r, "x", buf, sizeof(buf));
	assert_non_null(
	    strstr(buf, ",\"vlan_id\":4095,\"src_tcp_flags\":null,\"dst_tcp_flags\":null,"));
	r.flags = DV_EXPORT_F_VLAN;
	r.vlan_id = 0; /* a priority tag is VLAN 0, not NULL */
	dv_row_format(&r, "x", buf, sizeof(buf));
	assert_non_null(strstr(buf, ",\"vlan_id\":0,"));
	/* no sensor at all is a JSON null, not an empty name */
	dv_row_format(&r, NULL, buf, sizeof(buf));
	assert_non_null(strstr(buf, ",\"sensor\":null,"));
}

static void test_row_enums(void **state)
{
	static const char *reasons[] = {"idle",	   "active",   "tcp_close",
					"evicted", "shutdown", "eof"};
	struct dv_export_rec r;
	char buf[DV_ROW_MAX], want[64];

	(void)state;
	sample_rec(&r);
	assert_int_equal(sizeof(reasons) / sizeof(reasons[0]), DV_END_MAX);
	for (unsigned int i = 0; i < DV_END_MAX; i++) {
		r.end_reason = (uint8_t)i;
		dv_row_format(&r, "x", buf, sizeof(buf));
		snprintf(want, sizeof(want), ",\"end_reason\":\"%s\",", reasons[i]);
		assert_non_null(strstr(buf, want));
	}
	r.status = DV_STATUS_INIT;
	dv_row_format(&r, "x", buf, sizeof(buf));
	assert_non_null(strstr(buf, ",\"status\":\"init\","));
	r.status = DV_STATUS_ESTABLISHED;
	dv_row_format(&r, "x", buf, sizeof(buf));
	assert_non_null(strstr(buf, ",\"status\":\"established\","));
	/* every protocol number makes a valid row */
	for (unsigned int p = 0; p < 256; p++) {
		r.proto = (uint8_t)p;
		json_decref(check_schema(buf, dv_row_format(&r, "x", buf, sizeof(buf))));
	}
}

static void test_row_escaping(void **state)
{
	/* quote, backslash, newline, tab, 0x01, 0x1f, DEL and UTF-8 (e acute) */
	static const char sensor[] = "a\"b\\c\nd\te\x01"
				     "f\x1f"
				     "g\x7f\xc3\xa9";
	struct dv_export_rec r;
	char buf[DV_ROW_MAX];
	json_t *o;
	int len;

	(void)state;
	sample_rec(&r);
	len = dv_row_format(&r, sensor, buf, sizeof(buf));
	assert_non_null(strstr(buf, ",\"sensor\":\"a\\\"b\\\\c\\u000ad\\u0009e\\u0001f\\u001fg"
				    "\x7f\xc3\xa9\","));
	o = check_schema(buf, len);
	/* Jansson decodes the escapes back to the exact bytes. */
	assert_string_equal(json_string_value(json_object_get(o, "sensor")), sensor);
	json_decref(o);
}

/* A caller that has worked out the sensor's plain length (dv_row_opts, as
 * the control lcore does) gets the same row; a sensor JSON must escape has
 * none, and is escaped. */
static void test_row_plain_sensor(void **state)
{
	struct dv_export_rec r;
	struct dv_row_opts opts = {.sensor = "tap-1"};
	char buf[DV_ROW_MAX];

	(void)state;
	sample_rec(&r);
	opts.sensor_plain = dv_row_plain_len(opts.sensor);
	assert_int_equal(opts.sensor_plain, 5);
	assert_int_equal(dv_row_format_opts(&r, &opts, buf, sizeof(buf)), (int)strlen(sample_row));
	assert_string_equal(buf, sample_row);
	assert_int_equal(dv_row_plain_len("g\x7f\xc3\xa9"), 4); /* DEL and UTF-8 need none */
	assert_int_equal(dv_row_plain_len("a\"b"), 0);
	assert_int_equal(dv_row_plain_len("a\\b"), 0);
	assert_int_equal(dv_row_plain_len("a\x1f"), 0);
	opts.sensor = "a\"b";
	opts.sensor_plain = dv_row_plain_len(opts.sensor);
	assert_true(dv_row_format_opts(&r, &opts, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, ",\"sensor\":\"a\\\"b\","));
}

static void test_row_enospc(void **state)
{
	struct dv_export_rec r;
	char buf[DV_ROW_MAX + 16];
	int len;

	(void)state;
	sample_rec(&r);
	len = dv_row_format(&r, "tap-1", buf, sizeof(buf));
	assert_int_equal(len, (int)strlen(sample_row));
	/* The row and its NUL need len + 1 bytes; any less is -ENOSPC and
	 * nothing is written past cap. */
	for (int cap = 0; cap <= len; cap++) {
		memset(buf, '#', sizeof(buf));
		assert_int_equal(dv_row_format(&r, "tap-1", buf, (size_t)cap), -ENOSPC);
		for (size_t i = (size_t)cap; i < sizeof(buf); i++)
			assert_int_equal(buf[i], '#');
	}
	memset(buf, '#', sizeof(buf));
	assert_int_equal(dv_row_format(&r, "tap-1", buf, (size_t)len + 1), len);
	assert_string_equal(buf, sample_row);
	/* an escape that does not fit is -ENOSPC too */
	len = dv_row_format(&r, "\x01", buf, sizeof(buf));
	assert_int_equal(dv_row_format(&r, "\x01", buf, (size_t)len - 2), -ENOSPC);
	assert_int_equal(dv_row_format(&r, "\x01", buf, (size_t)len + 1), len);
}

/* Numbers on both sides of every power of ten (the digit count is worked
 * out from the bit length), against the C library. */
static void test_row_numbers(void **state)
{
	struct dv_export_rec r;
	char buf[DV_ROW_MAX], want[64];
	uint64_t p = 1;

	(void)state;
	sample_rec(&r);
	for (int k = 0; k <= 18; k++, p *= 10) {
		const uint64_t vals[3] = {p - 1, p, p + 1};

		for (int i = 0; i < 3; i++) {
			r.dst_bytes = vals[i];
			assert_true(dv_row_format(&r, "tap-1", buf, sizeof(buf)) > 0);
			snprintf(want, sizeof(want), ",\"dst_bytes\":%" PRIu64 ",", vals[i]);
			assert_non_null(strstr(buf, want));
		}
	}
	r.dst_bytes = INT64_MAX; /* 19 digits, the most a counter has */
	assert_true(dv_row_format(&r, "tap-1", buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, ",\"dst_bytes\":9223372036854775807,"));
}

/* The widest row (every number at its maximum, full IPv6 addresses, a
 * DV_SENSOR_MAX-byte sensor that needs no escaping) fits in DV_ROW_MAX. */
static void test_row_max_fits(void **state)
{
	struct {
		struct dv_export_rec r;
		struct dv_export_ctx x; /* behind its record, as on the ring */
	} g;
	struct dv_export_rec r;
	char sensor[DV_SENSOR_MAX + 1], buf[DV_ROW_MAX];
	json_t *o;
	int len;

	(void)state;
	memset(&r, 0xff, sizeof(r));
	r.family = 6;
	r.status = DV_STATUS_ESTABLISHED;
	r.end_reason = DV_END_TCP_CLOSE;
	r.flags = DV_EXPORT_F_VLAN | DV_EXPORT_F_TCP | DV_EXPORT_F_VNI | DV_EXPORT_F_CTX;
	r.n_kinds = DV_TUN_MAX_DEPTH;
	memset(r.kinds, DV_TUN_FABRICPATH, sizeof(r.kinds)); /* the longest name */
	r.outer_family = 6;
	memset(sensor, 'w', DV_SENSOR_MAX);
	sensor[DV_SENSOR_MAX] = '\0';
	/* Both names at their longest text, each byte one JSON escapes ('\'). */
	g.r = r;
	memset(&g.x, 0, sizeof(g.x));
	g.x.n_el = DV_EXPORT_CTX_MAX_EL;
	g.x.has = DV_EXPORT_CTX_SN | DV_EXPORT_CTX_QUERY | DV_EXPORT_CTX_RCODE;
	g.x.rcode = 15;
	g.x.sn_len = g.x.q_len = DV_CTX_NAME_MAX - 1;
	memset(g.x.text, '\\', 2 * DV_CTX_NAME_MAX);
	g.x.text[DV_CTX_NAME_MAX - 1] = g.x.text[2 * DV_CTX_NAME_MAX - 1] = '\0';
	len = dv_row_format(&g.r, sensor, buf, sizeof(buf));
	assert_true(len > 0 && len < DV_ROW_MAX);
	o = check_schema(buf, len);
	assert_int_equal(strlen(json_string_value(json_object_get(o, "server_name"))),
			 DV_CTX_NAME_MAX - 1);
	assert_int_equal(json_integer_value(json_object_get(o, "dns_rcode")), 15);
	/* counters beyond INT64 (BigQuery INTEGER) are clamped to its maximum */
	assert_int_equal(json_integer_value(json_object_get(o, "src_bytes")), INT64_MAX);
	assert_int_equal(json_integer_value(json_object_get(o, "dst_packets")), INT64_MAX);
	assert_int_equal(json_integer_value(json_object_get(o, "segment")), 4294967295LL);
	json_decref(o);
	print_message("widest row: %d bytes of DV_ROW_MAX %d\n", len, DV_ROW_MAX);
}

/* The flow-context columns come from the context behind the record; each
 * is NULL on its own; names are JSON-escaped. */
static void test_row_flow_context(void **state)
{
	struct {
		struct dv_export_rec r;
		struct dv_export_ctx x;
	} g;
	static const char want[] = ",\"server_name\":\"a\\\"b\\\\c.example\",\"dns_query\":null,"
				   "\"dns_rcode\":2}";
	char buf[DV_ROW_MAX];
	int len;

	(void)state;
	sample_rec(&g.r);
	memset(&g.x, 0, sizeof(g.x));
	g.r.flags |= DV_EXPORT_F_CTX;
	g.x.n_el = 1;
	g.x.has = DV_EXPORT_CTX_SN | DV_EXPORT_CTX_RCODE;
	g.x.rcode = 2;
	memcpy(g.x.text, "a\"b\\c.example\0\0", 16);
	g.x.sn_len = 13;
	len = dv_row_format(&g.r, "tap-1", buf, sizeof(buf));
	assert_true(len > (int)strlen(want));
	assert_string_equal(buf + len - strlen(want), want);
	json_decref(check_schema(buf, len));
	g.x.has = DV_EXPORT_CTX_QUERY;
	memcpy(g.x.text, "\0q.example", 11);
	g.x.sn_len = 0;
	g.x.q_len = 9;
	len = dv_row_format(&g.r, "tap-1", buf, sizeof(buf));
	assert_non_null(
	    strstr(buf, ",\"server_name\":null,\"dns_query\":\"q.example\",\"dns_rcode\":null}"));
	/* The flag off: the bytes behind are not the record's. */
	g.r.flags &= (uint8_t)~DV_EXPORT_F_CTX;
	len = dv_row_format(&g.r, "tap-1", buf, sizeof(buf));
	assert_non_null(
	    strstr(buf, ",\"server_name\":null,\"dns_query\":null,\"dns_rcode\":null}"));
}

/* A tunnelled flow's columns: the kinds outermost first, the VNI, the
 * outermost tunnel's endpoints; each NULL on its own. */
static void test_row_tunnel(void **state)
{
	struct dv_export_rec r;
	char buf[DV_ROW_MAX];

	(void)state;
	sample_rec(&r);
	r.n_kinds = 3;
	r.kinds[0] = DV_TUN_MPLS;
	r.kinds[1] = DV_TUN_GRE;
	r.kinds[2] = DV_TUN_ERSPAN;
	r.outer_family = 4;
	memcpy(r.outer_src, (uint8_t[]){10, 0, 0, 1}, 4);
	memcpy(r.outer_dst, (uint8_t[]){10, 0, 0, 2}, 4);
	json_decref(check_schema(buf, dv_row_format(&r, "x", buf, sizeof(buf))));
	assert_non_null(
	    strstr(buf, ",\"tunnel\":\"mpls,gre,erspan\",\"tunnel_id\":null,"
			"\"tunnel_src_addr\":\"10.0.0.1\",\"tunnel_dst_addr\":\"10.0.0.2\","));
	r.n_kinds = 1;
	r.kinds[0] = DV_TUN_VXLAN;
	r.flags |= DV_EXPORT_F_VNI;
	r.vni = 16777215;
	r.outer_family = 6;
	ipv6_from_groups((uint16_t[]){0x2001, 0xdb8, 0, 0, 0, 0, 0, 1}, r.outer_src);
	ipv6_from_groups((uint16_t[]){0x2001, 0xdb8, 0, 0, 0, 0, 0, 2}, r.outer_dst);
	json_decref(check_schema(buf, dv_row_format(&r, "x", buf, sizeof(buf))));
	assert_non_null(strstr(buf, ",\"tunnel\":\"vxlan\",\"tunnel_id\":16777215,"
				    "\"tunnel_src_addr\":\"2001:db8::1\",\"tunnel_dst_addr\":"
				    "\"2001:db8::2\","));
	/* link shims only: no IP tunnel, so no endpoints */
	r.kinds[0] = DV_TUN_PPPOE;
	r.flags &= (uint8_t)~DV_EXPORT_F_VNI;
	r.outer_family = 0;
	dv_row_format(&r, "x", buf, sizeof(buf));
	assert_non_null(strstr(buf, ",\"tunnel\":\"pppoe\",\"tunnel_id\":null,"
				    "\"tunnel_src_addr\":null,\"tunnel_dst_addr\":null,"));
}

static void test_row_bad_family(void **state)
{
	struct dv_export_rec r;
	char buf[DV_ROW_MAX];

	(void)state;
	sample_rec(&r);
	r.family = 0;
	assert_int_equal(dv_row_format(&r, "x", buf, sizeof(buf)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_proto_names),
	    cmocka_unit_test(test_ipv4_format),
	    cmocka_unit_test(test_row_numbers),
	    cmocka_unit_test(test_row_plain_sensor),
	    cmocka_unit_test(test_ipv6_rfc5952),
	    cmocka_unit_test(test_ipv6_matches_inet_ntop),
	    cmocka_unit_test(test_time_known_dates),
	    cmocka_unit_test(test_time_matches_gmtime),
	    cmocka_unit_test(test_insert_id),
	    cmocka_unit_test(test_row_exact),
	    cmocka_unit_test(test_row_schema_and_values),
	    cmocka_unit_test(test_row_nulls),
	    cmocka_unit_test(test_row_enums),
	    cmocka_unit_test(test_row_escaping),
	    cmocka_unit_test(test_row_enospc),
	    cmocka_unit_test(test_row_max_fits),
	    cmocka_unit_test(test_row_tunnel),
	    cmocka_unit_test(test_row_flow_context),
	    cmocka_unit_test(test_row_bad_family),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
