/*
 * test_ctx_community_id: the community_id column (lib/dv_community_id.c)
 * and the ICMP type and code it takes from a flow's first packet.
 *
 * Expected IDs are the published baseline of the Community ID spec
 * (github.com/corelight/community-id-spec, baseline/baseline_deflt.json and
 * baseline_seed1.json, made by the reference implementation pycommunityid
 * from packet captures): each entry gives the tuple as the reference
 * hashed it. For ICMP the entry's ports are the type and either its
 * counterpart (a message with one, code 0 in those captures) or the code.
 * tests/integration/flow_context.py checks every row of the shared
 * captures against tshark on top of this.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "dv_community_id.h"
#include "dv_parse.h"
#include "dv_row.h"

struct vector {
	uint8_t proto;
	const char *saddr, *daddr;
	int sport, dport; /* -1: no ports */
	const char *id;
};

/* baseline_deflt.json (seed 0), in its order. */
static const struct vector deflt[] = {
    {58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136,
     "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
    {58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135,
     "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
    {58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136,
     "1:zavyT/cezQr1fmImYCwYnMXbgck="},
    {58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 135,
     "1:zavyT/cezQr1fmImYCwYnMXbgck="},
    {58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0,
     "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="},
    {58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4,
     "1:hLZd0XGWojozrvxqE0dWB1iM6R0="},
    {58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129,
     "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
    {58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128,
     "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
    {58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="},
    {58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 133, "1:pkvHqCL88/tg1k4cPigmZXUtL00="},
    {1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
    {1, "192.168.0.1", "192.168.0.89", 0, 8, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
    {1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM="},
    {6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
    {6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943,
     "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
    {132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
    {132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
    {6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
    {6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
    {17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
    {17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
    {46, "10.1.12.1", "10.1.12.2", -1, -1, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
    {46, "10.1.12.2", "10.1.12.1", -1, -1, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
};

/* baseline_seed1.json (seed 1): one of each kind. */
static const struct vector seed1[] = {
    {58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136,
     "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
    {58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0,
     "1:lVEtCZpYu84Xqaa++3lXFyuu2n4="},
    {1, "192.168.0.1", "192.168.0.89", 0, 8, "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
    {6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
    {17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
    {132, "192.168.170.56", "192.168.170.8", 7, 7, "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
    {46, "10.1.12.2", "10.1.12.1", -1, -1, "1:rYir8gphR31noO9iDRQmF/BteEI="},
};

/* Types with a counterpart (the entry's dport is that counterpart, code 0). */
static int has_counterpart(uint8_t proto, int type)
{
	static const int v4[] = {0, 8, 9, 10, 13, 14, 15, 16, 17, 18};
	static const int v6[] = {128, 129, 130, 131, 133, 134, 135, 136, 139, 140, 144, 145};
	const int *l = proto == 1 ? v4 : v6;
	size_t n = proto == 1 ? sizeof(v4) / sizeof(v4[0]) : sizeof(v6) / sizeof(v6[0]);

	for (size_t i = 0; i < n; i++)
		if (l[i] == type)
			return 1;
	return 0;
}

/* The export record of a flow whose first packet went saddr -> daddr. */
static void record_of(const struct vector *v, struct dv_export_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->family = strchr(v->saddr, ':') ? 6 : 4;
	assert_int_equal(inet_pton(r->family == 4 ? AF_INET : AF_INET6, v->saddr, r->src_addr), 1);
	assert_int_equal(inet_pton(r->family == 4 ? AF_INET : AF_INET6, v->daddr, r->dst_addr), 1);
	r->proto = v->proto;
	if (v->proto == 1 || v->proto == 58) {
		r->flags = DV_EXPORT_F_ICMP;
		r->icmp_type = (uint8_t)v->sport;
		r->icmp_code = has_counterpart(v->proto, v->sport) ? 0 : (uint8_t)v->dport;
	} else if (v->sport >= 0) {
		r->src_port = (uint16_t)v->sport;
		r->dst_port = (uint16_t)v->dport;
		if (v->proto == 6)
			r->flags = DV_EXPORT_F_TCP;
	}
}

static void check_vectors(const struct vector *v, size_t n, uint16_t seed)
{
	struct dv_community_cfg cfg;
	char err[128], buf[DV_COMMUNITY_ID_SIZE];
	struct dv_export_rec r;

	assert_int_equal(dv_community_cfg_init(&cfg, seed, 1, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		const char *id;

		record_of(&v[i], &r);
		id = dv_community_id(&r, &cfg, buf);
		if (id == NULL || strcmp(id, v[i].id) != 0)
			fail_msg("vector %zu (%u %s -> %s): got %s, want %s", i, v[i].proto,
				 v[i].saddr, v[i].daddr, id ? id : "NULL", v[i].id);
	}
	dv_community_cfg_free(&cfg);
}

static void test_baseline_seed0(void **state)
{
	struct dv_export_rec r;
	char buf[DV_COMMUNITY_ID_SIZE];

	(void)state;
	check_vectors(deflt, sizeof(deflt) / sizeof(deflt[0]), 0);
	/* No configuration: seed 0, the same IDs. */
	record_of(&deflt[19], &r);
	assert_string_equal(dv_community_id(&r, NULL, buf), deflt[19].id);
}

static void test_baseline_seed1(void **state)
{
	(void)state;
	check_vectors(seed1, sizeof(seed1) / sizeof(seed1[0]), 1);
}

/* NULL: --flow-context off, no family, an ICMP flow without its type. A
 * flow whose first packet was a later fragment hashes no ports: tshark's ID
 * of such a packet (frame 52 of ../shared/pcaps/fuzz-2006-09-29-28586.pcap,
 * TCP 172.20.3.5 -> 172.20.3.13, fragment offset > 0). */
static void test_none(void **state)
{
	struct dv_community_cfg cfg;
	struct dv_export_rec r;
	char err[128], buf[DV_COMMUNITY_ID_SIZE];

	(void)state;
	assert_int_equal(dv_community_cfg_init(&cfg, 0, 0, err, sizeof(err)), 0);
	record_of(&deflt[19], &r);
	assert_null(dv_community_id(&r, &cfg, buf));
	dv_community_cfg_free(&cfg);
	r.family = 0;
	assert_null(dv_community_id(&r, NULL, buf));
	record_of(&deflt[10], &r);
	r.flags = 0; /* the first packet was cut before its type and code */
	assert_null(dv_community_id(&r, NULL, buf));

	struct vector frag = {
	    6, "172.20.3.5", "172.20.3.13", 0, 0, "1:1Hjp6+p/g8Y34tdRjVJ8xFmH5Gs="};

	record_of(&frag, &r);
	r.flags |= DV_EXPORT_F_NOPORTS;
	assert_string_equal(dv_community_id(&r, NULL, buf), frag.id);
	r.proto = 1; /* an ICMP flow so begun: no type either, the same rule */
	r.flags = DV_EXPORT_F_NOPORTS;
	assert_non_null(dv_community_id(&r, NULL, buf));
}

/* The column in a row: with the configured seed, null when there is none. */
static void test_row_column(void **state)
{
	struct dv_community_cfg cfg;
	struct dv_row_opts opts = {.sensor = "s", .community = &cfg};
	struct dv_export_rec r;
	char err[128], buf[DV_ROW_MAX];

	(void)state;
	assert_int_equal(dv_community_cfg_init(&cfg, 1, 1, err, sizeof(err)), 0);
	record_of(&seed1[4], &r);
	assert_true(dv_row_format_opts(&r, &opts, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, ",\"community_id\":\"1:Q9We8WO3piVF8yEQBNJF4uiSVrI=\","));
	assert_true(dv_row_format(&r, "s", buf, sizeof(buf)) > 0); /* seed 0 */
	assert_non_null(strstr(buf, ",\"community_id\":\"1:d/FP5EW3wiY1vCndhwleRRKHowQ=\","));
	r.proto = 1; /* ICMP without a type */
	assert_true(dv_row_format_opts(&r, &opts, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf, ",\"community_id\":null,"));
	dv_community_cfg_free(&cfg);
}

/* Ethernet + IPv4 (proto, 20 bytes) + l4len bytes of l4 into f; its length. */
static size_t ipv4_frame(uint8_t *f, uint8_t proto, const uint8_t *l4, size_t l4len)
{
	static const uint8_t eth_ip[] = {
	    0,	  1, 2, 3, 4, 5, 0, 1, 2,  3, 4, 6, 0x08, 0x00, /* Ethernet, IPv4 */
	    0x45, 0, 0, 0, 0, 1, 0, 0, 64, 0, 0, 0, 10,	  0,	0, 1, 10, 0, 0, 2}; /* IPv4 */

	memcpy(f, eth_ip, sizeof(eth_ip));
	f[14 + 2] = (uint8_t)((20 + l4len) >> 8);
	f[14 + 3] = (uint8_t)(20 + l4len);
	f[14 + 9] = proto;
	memcpy(f + sizeof(eth_ip), l4, l4len);
	return sizeof(eth_ip) + l4len;
}

/* The parser leaves an ICMP packet's type and code where dv_pkt_icmp()
 * reads them (bytes 0 and 1 of the ICMP header), 0 when they are not
 * there; a VXLAN packet's VNI does not displace them. */
static void test_parse_icmp_word(void **state)
{
	static const uint8_t unreach[8] = {3, 13, 0, 0, 0, 0, 0, 0};
	uint8_t f[256], inner[128];
	struct dv_decap_cfg dc;
	struct dv_pkt p;
	struct dv_pkt_tun tun;
	size_t n;

	(void)state;
	dv_decap_cfg_default(&dc);
	n = ipv4_frame(f, 1, unreach, sizeof(unreach));
	assert_int_equal(dv_parse(f, (uint32_t)n, DV_LINK_ETHERNET, &dc, &p, &tun), DV_PARSE_OK);
	assert_int_equal(dv_pkt_icmp(&p, &tun), DV_PKT_ICMP_SEEN | 3 << 8 | 13);
	n = ipv4_frame(f, 58, unreach, 2); /* ICMPv6's number: its own table, same bytes */
	assert_int_equal(dv_parse(f, (uint32_t)n, DV_LINK_ETHERNET, &dc, &p, &tun), DV_PARSE_OK);
	assert_int_equal(dv_pkt_icmp(&p, &tun), DV_PKT_ICMP_SEEN | 3 << 8 | 13);
	n = ipv4_frame(f, 1, unreach, 1); /* the code is cut off */
	assert_int_equal(dv_parse(f, (uint32_t)n, DV_LINK_ETHERNET, &dc, &p, &tun), DV_PARSE_OK);
	assert_int_equal(dv_pkt_icmp(&p, &tun), 0);
	n = ipv4_frame(f, 17, (const uint8_t[]){0, 53, 0, 53, 0, 8, 0, 0}, 8); /* not ICMP */
	assert_int_equal(dv_parse(f, (uint32_t)n, DV_LINK_ETHERNET, &dc, &p, &tun), DV_PARSE_OK);
	assert_int_equal(dv_pkt_icmp(&p, &tun), 0);

	/* VXLAN (VNI 0x123456) carrying Ethernet + IPv4 + ICMP echo reply. */
	size_t in = ipv4_frame(inner, 1, (const uint8_t[]){0, 0, 0, 0, 0, 1, 0, 1}, 8);
	uint8_t udp[8 + 8 + 128] = {0x30, 0x39, 0x12, 0xb5, 0,	  0,	0,    0,  /* UDP to 4789 */
				    0x08, 0,	0,    0,    0x12, 0x34, 0x56, 0}; /* VXLAN */

	udp[4] = (uint8_t)((16 + in) >> 8);
	udp[5] = (uint8_t)(16 + in);
	memcpy(udp + 16, inner, in);
	n = ipv4_frame(f, 17, udp, 16 + in);
	assert_int_equal(dv_parse(f, (uint32_t)n, DV_LINK_ETHERNET, &dc, &p, &tun), DV_PARSE_OK);
	assert_true(p.tun & DV_PKT_T_VNI);
	assert_int_equal(p.vni, 0x123456);
	assert_int_equal(dv_pkt_icmp(&p, &tun), DV_PKT_ICMP_SEEN | 0 << 8 | 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_baseline_seed0),
	    cmocka_unit_test(test_baseline_seed1),
	    cmocka_unit_test(test_none),
	    cmocka_unit_test(test_row_column),
	    cmocka_unit_test(test_parse_icmp_word),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
