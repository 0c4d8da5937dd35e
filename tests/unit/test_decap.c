/*
 * test_decap: each encapsulation header of lib/dv_decap.c, built here byte by
 * byte from its RFC layout (the offsets and values expected are the layout's,
 * not the code's), then cut at every length and run from an exactly-sized
 * heap copy, so a read past the end shows under ASan and a short header must
 * be refused, never half-read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dv_decap.h"

typedef int (*decap_fn)(const uint8_t *p, uint32_t len, struct dv_decap *out);

/* Run fn on an exact copy of len bytes. */
static int run(decap_fn fn, const uint8_t *p, uint32_t len, struct dv_decap *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, p, len);
	rc = fn(copy, len, out);
	free(copy);
	return rc;
}

/* The whole header decodes to (off, inner, kind); every shorter cut is
 * refused or decodes within the bytes it has. */
static void expect(decap_fn fn, const uint8_t *p, uint32_t len, uint32_t off, enum dv_inner inner,
		   enum dv_tunnel_kind kind)
{
	struct dv_decap d;

	assert_int_equal(run(fn, p, len, &d), DV_DECAP_OK);
	assert_int_equal(d.off, off);
	assert_int_equal(d.inner, inner);
	assert_int_equal(d.kind, kind);
	for (uint32_t cut = 0; cut < len; cut++) {
		memset(&d, 0, sizeof(d));
		if (run(fn, p, cut, &d) == DV_DECAP_OK)
			assert_true(d.off <= cut);
	}
}

static void expect_malformed(decap_fn fn, const uint8_t *p, uint32_t len)
{
	struct dv_decap d;

	assert_int_equal(run(fn, p, len, &d), DV_DECAP_MALFORMED);
}

static const uint8_t ipv4_start[] = {0x45, 0, 0, 20};
static const uint8_t ipv6_start[] = {0x60, 0, 0, 0};

static void test_vxlan(void **state)
{
	/* I flag, reserved, VNI 0x123456, reserved; then an Ethernet frame. */
	uint8_t h[8 + 14] = {0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0};
	struct dv_decap d;

	(void)state;
	expect(dv_decap_vxlan, h, sizeof(h), 8, DV_INNER_ETHERNET, DV_TUN_VXLAN);
	run(dv_decap_vxlan, h, sizeof(h), &d);
	assert_int_equal(d.has_vni, 1);
	assert_int_equal(d.vni, 0x123456);
	h[0] = 0x88; /* a reserved bit too (GBP sets some): ignored */
	run(dv_decap_vxlan, h, sizeof(h), &d);
	assert_int_equal(d.vni, 0x123456);
	h[0] = 0x00; /* no I flag: no valid VNI */
	expect_malformed(dv_decap_vxlan, h, sizeof(h));
}

static void test_vxlan_gpe(void **state)
{
	uint8_t h[8 + 20] = {0x0c, 0, 0, 1, 0, 0, 7, 0};
	struct dv_decap d;

	(void)state;
	memcpy(h + 8, ipv4_start, 4);
	expect(dv_decap_vxlan_gpe, h, sizeof(h), 8, DV_INNER_IPV4, DV_TUN_VXLAN_GPE);
	run(dv_decap_vxlan_gpe, h, sizeof(h), &d);
	assert_int_equal(d.vni, 7);
	h[3] = 2;
	expect(dv_decap_vxlan_gpe, h, sizeof(h), 8, DV_INNER_IPV6, DV_TUN_VXLAN_GPE);
	h[3] = 3;
	expect(dv_decap_vxlan_gpe, h, sizeof(h), 8, DV_INNER_ETHERNET, DV_TUN_VXLAN_GPE);
	h[3] = 4; /* NSH */
	expect(dv_decap_vxlan_gpe, h, sizeof(h), 8, DV_INNER_UNKNOWN, DV_TUN_VXLAN_GPE);
	h[0] = 0x08; /* no P: a VXLAN frame */
	expect(dv_decap_vxlan_gpe, h, sizeof(h), 8, DV_INNER_ETHERNET, DV_TUN_VXLAN_GPE);
	h[0] = 0x00; /* neither P nor I: not a header (zeros on port 4790) */
	expect_malformed(dv_decap_vxlan_gpe, h, sizeof(h));
	h[0] = 0x04; /* no I: no VNI */
	h[3] = 1;
	run(dv_decap_vxlan_gpe, h, sizeof(h), &d);
	assert_int_equal(d.has_vni, 0);
	h[0] = 0x1c; /* version 1 */
	expect_malformed(dv_decap_vxlan_gpe, h, sizeof(h));
}

static void test_geneve(void **state)
{
	/* version 0, 2 words of options; Ethernet; VNI 0xabcdef; an option. */
	uint8_t h[8 + 8 + 14] = {0x02, 0, 0x65, 0x58, 0xab, 0xcd, 0xef, 0, 0x01, 0x02, 0x80, 1};
	struct dv_decap d;

	(void)state;
	expect(dv_decap_geneve, h, sizeof(h), 16, DV_INNER_ETHERNET, DV_TUN_GENEVE);
	run(dv_decap_geneve, h, sizeof(h), &d);
	assert_int_equal(d.vni, 0xabcdef);
	h[2] = 0x86, h[3] = 0xdd;
	expect(dv_decap_geneve, h, sizeof(h), 16, DV_INNER_IPV6, DV_TUN_GENEVE);
	h[0] = 0x3f; /* 63 words of options: longer than the packet */
	expect_malformed(dv_decap_geneve, h, sizeof(h));
	h[0] = 0x42; /* version 1 */
	expect_malformed(dv_decap_geneve, h, sizeof(h));
}

static void test_gtpu(void **state)
{
	/* version 1, PT, G-PDU, length, TEID; then IPv4. */
	uint8_t h[8 + 20] = {0x30, 0xff, 0, 20, 0x11, 0x22, 0x33, 0x44};
	/* S: sequence, N-PDU, next type 0x85 (PDU session container), then
	 * the container: 1 word, 2 bytes of content, next type 0. */
	uint8_t e[16 + 20] = {0x36, 0xff, 0, 28, 1, 2, 3, 4, 0, 9, 0, 0x85, 1, 0x10, 0x05, 0};
	struct dv_decap d;

	(void)state;
	memcpy(h + 8, ipv4_start, 4);
	expect(dv_decap_gtpu, h, sizeof(h), 8, DV_INNER_IPV4, DV_TUN_GTPU);
	run(dv_decap_gtpu, h, sizeof(h), &d);
	assert_int_equal(d.has_vni, 0); /* the TEID is per direction */
	memcpy(h + 8, ipv6_start, 4);
	expect(dv_decap_gtpu, h, sizeof(h), 8, DV_INNER_IPV6, DV_TUN_GTPU);
	memcpy(e + 16, ipv4_start, 4);
	expect(dv_decap_gtpu, e, sizeof(e), 16, DV_INNER_IPV4, DV_TUN_GTPU);
	e[12] = 0; /* an extension of length 0 */
	expect_malformed(dv_decap_gtpu, e, sizeof(e));
	e[12] = 9; /* longer than the packet */
	expect_malformed(dv_decap_gtpu, e, sizeof(e));
	e[12] = 1;
	e[0] = 0x32; /* S only: 4 more bytes, no extension */
	expect(dv_decap_gtpu, e, sizeof(e), 12, DV_INNER_UNKNOWN, DV_TUN_GTPU);
	h[1] = 1; /* echo request: signalling, no user packet: the outer flow */
	expect(dv_decap_gtpu, h, sizeof(h), 28, DV_INNER_UNKNOWN, DV_TUN_GTPU);
	h[1] = 0xff;
	h[0] = 0x50; /* version 2 */
	expect_malformed(dv_decap_gtpu, h, sizeof(h));
	h[0] = 0x20; /* GTP' (PT 0) */
	expect_malformed(dv_decap_gtpu, h, sizeof(h));
}

static void test_gre(void **state)
{
	uint8_t plain[4 + 20] = {0, 0, 0x08, 0x00};
	/* C, K, S: checksum+reserved, key, sequence; IPv6. */
	uint8_t cks[16 + 40] = {0xb0, 0, 0x86, 0xdd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9};
	/* NVGRE: K, Ethernet, key = VSID 0x0a0b0c | flow id 0x77 */
	uint8_t nvgre[8 + 14] = {0x20, 0, 0x65, 0x58, 0x0a, 0x0b, 0x0c, 0x77};
	uint8_t mpls[4 + 8] = {0, 0, 0x88, 0x47};
	uint8_t other[4 + 8] = {0, 0, 0x12, 0x34};
	struct dv_decap d;

	(void)state;
	memcpy(plain + 4, ipv4_start, 4);
	expect(dv_decap_gre, plain, sizeof(plain), 4, DV_INNER_IPV4, DV_TUN_GRE);
	expect(dv_decap_gre, cks, sizeof(cks), 16, DV_INNER_IPV6, DV_TUN_GRE);
	run(dv_decap_gre, cks, sizeof(cks), &d);
	assert_int_equal(d.has_vni, 0); /* a plain GRE key is per direction */
	expect(dv_decap_gre, nvgre, sizeof(nvgre), 8, DV_INNER_ETHERNET, DV_TUN_NVGRE);
	run(dv_decap_gre, nvgre, sizeof(nvgre), &d);
	assert_int_equal(d.has_vni, 1);
	assert_int_equal(d.vni, 0x0a0b0c);
	nvgre[0] = 0; /* no key: GRE bridging */
	expect(dv_decap_gre, nvgre, sizeof(nvgre), 4, DV_INNER_ETHERNET, DV_TUN_GRE);
	expect(dv_decap_gre, mpls, sizeof(mpls), 4, DV_INNER_MPLS, DV_TUN_GRE);
	expect(dv_decap_gre, other, sizeof(other), 4, DV_INNER_UNKNOWN, DV_TUN_GRE);
	plain[0] = 0x40; /* R: source routing */
	expect_malformed(dv_decap_gre, plain, sizeof(plain));
	plain[0] = 0, plain[1] = 1; /* version 1 (PPTP): not read, the outer flow */
	expect(dv_decap_gre, plain, sizeof(plain), 4, DV_INNER_UNKNOWN, DV_TUN_GRE);
}

static void test_erspan(void **state)
{
	/* type I: GRE without S, 0x88BE, the frame at once */
	uint8_t t1[4 + 14] = {0, 0, 0x88, 0xbe};
	/* type II: GRE with S; ERSPAN version 1, VLAN 5, session 7, index */
	uint8_t t2[8 + 8 + 14] = {0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 5, 0, 7, 0, 0, 0, 1};
	/* type III: GRE with S; version 2; FT 0; O set: an 8-byte sub-header */
	uint8_t t3[8 + 12 + 8 + 14] = {0x10, 0, 0x22, 0xeb, 0, 0, 0, 1, 0x20, 0,
				       0,    3, 1,    2,    3, 4, 0, 0, 0,    1};

	(void)state;
	expect(dv_decap_gre, t1, sizeof(t1), 4, DV_INNER_ETHERNET, DV_TUN_ERSPAN);
	expect(dv_decap_gre, t2, sizeof(t2), 16, DV_INNER_ETHERNET, DV_TUN_ERSPAN);
	t2[8] = 0x20; /* version 2 in a type II header */
	expect_malformed(dv_decap_gre, t2, sizeof(t2));
	expect(dv_decap_gre, t3, sizeof(t3), 28, DV_INNER_ETHERNET, DV_TUN_ERSPAN);
	t3[19] = 0; /* no sub-header */
	expect(dv_decap_gre, t3, sizeof(t3), 20, DV_INNER_ETHERNET, DV_TUN_ERSPAN);
	t3[18] = 2 << 2; /* FT 2: an IP packet */
	memcpy(t3 + 20, ipv4_start, 4);
	expect(dv_decap_gre, t3, sizeof(t3), 20, DV_INNER_IPV4, DV_TUN_ERSPAN);
	t3[8] = 0x10; /* version 1 in a type III header */
	expect_malformed(dv_decap_gre, t3, sizeof(t3));
}

static void test_mpls(void **state)
{
	/* two labels, the second the bottom of stack; then IPv4 */
	uint8_t two[8 + 20] = {0, 0x01, 0x00, 64, 0, 0x02, 0x01, 64};
	uint8_t deep[17 * 4 + 20];

	(void)state;
	memcpy(two + 8, ipv4_start, 4);
	expect(dv_decap_mpls, two, sizeof(two), 8, DV_INNER_IPV4, DV_TUN_MPLS);
	memcpy(two + 8, ipv6_start, 4);
	expect(dv_decap_mpls, two, sizeof(two), 8, DV_INNER_IPV6, DV_TUN_MPLS);
	two[8] = 0x00; /* a pseudowire control word: not read here */
	expect(dv_decap_mpls, two, sizeof(two), 8, DV_INNER_UNKNOWN, DV_TUN_MPLS);
	memset(deep, 0, sizeof(deep)); /* 17 labels, no bottom of stack */
	expect_malformed(dv_decap_mpls, deep, sizeof(deep));
}

static void test_pppoe(void **state)
{
	uint8_t h[8 + 20] = {0x11, 0, 0x12, 0x34, 0, 22, 0x00, 0x21};

	(void)state;
	memcpy(h + 8, ipv4_start, 4);
	expect(dv_decap_pppoe, h, sizeof(h), 8, DV_INNER_IPV4, DV_TUN_PPPOE);
	h[7] = 0x57;
	expect(dv_decap_pppoe, h, sizeof(h), 8, DV_INNER_IPV6, DV_TUN_PPPOE);
	h[6] = 0xc0, h[7] = 0x21; /* LCP */
	expect(dv_decap_pppoe, h, sizeof(h), 8, DV_INNER_NON_IP, DV_TUN_PPPOE);
	h[1] = 0x09; /* PADI: discovery, not a session packet */
	expect_malformed(dv_decap_pppoe, h, sizeof(h));
	h[1] = 0, h[0] = 0x12;
	expect_malformed(dv_decap_pppoe, h, sizeof(h));
}

static void test_fabricpath(void **state)
{
	uint8_t h[2 + 14] = {0x01, 0x3f};

	(void)state;
	expect(dv_decap_fabricpath, h, sizeof(h), 2, DV_INNER_ETHERNET, DV_TUN_FABRICPATH);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(dv_tunnel_name(DV_TUN_ERSPAN), "erspan");
	assert_string_equal(dv_tunnel_name(DV_TUN_GTPU), "gtpu");
	assert_string_equal(dv_tunnel_name(DV_TUN_KINDS), "");
	for (int k = DV_TUN_ERSPAN; k < DV_TUN_KINDS; k++)
		assert_true(dv_tunnel_name((enum dv_tunnel_kind)k)[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vxlan),      cmocka_unit_test(test_vxlan_gpe),
	    cmocka_unit_test(test_geneve),     cmocka_unit_test(test_gtpu),
	    cmocka_unit_test(test_gre),	       cmocka_unit_test(test_erspan),
	    cmocka_unit_test(test_mpls),       cmocka_unit_test(test_pppoe),
	    cmocka_unit_test(test_fabricpath), cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
