/*
 * Unit tests for dv_parse: hand-built frames, byte by byte.
 *
 * Every frame is assembled by the small put*() helpers below, and every
 * expected value is a constant the frame was built from (addresses, ports,
 * ids, flags) or an offset measured while building it. Each frame also
 * records `need`: the end of the last header byte the parser is allowed to
 * require. check_frame() then cuts the frame at every length from 0 to full,
 * in a heap buffer of exactly that size (so ASan or valgrind sees any read
 * past the end), and demands MALFORMED below `need` and the full result at
 * or above it. A seeded fuzz run ends the suite.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dv_decap.h"
#include "dv_parse.h"
#include "dv_parse_ctx.h"

static const uint8_t SRC4[4] = {192, 0, 2, 10};
static const uint8_t DST4[4] = {198, 51, 100, 20};
static const uint8_t SRC6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
static const uint8_t DST6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02};

/* Sentinels the parser must leave alone: the caller owns these fields. */
#define WIRE_SENTINEL 0xdeadbeefu
#define TS_SENTINEL   0x0123456789abcdefull

/* ---------------------------------------------------------------------------
 * Frame builder
 */

struct frame {
	uint8_t b[2048];
	uint32_t n;    /* bytes written */
	uint32_t need; /* the parser may require exactly data[0..need) */
};

static void put8(struct frame *f, uint8_t v)
{
	assert_true(f->n < sizeof(f->b));
	f->b[f->n++] = v;
}

static void put16(struct frame *f, uint16_t v)
{
	put8(f, v >> 8);
	put8(f, v & 0xff);
}

static void put32(struct frame *f, uint32_t v)
{
	put16(f, v >> 16);
	put16(f, v & 0xffff);
}

static void put_mem(struct frame *f, const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		put8(f, p[i]);
}

static void put_fill(struct frame *f, uint8_t v, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		put8(f, v);
}

static void set16(struct frame *f, uint32_t at, uint16_t v)
{
	f->b[at] = v >> 8;
	f->b[at + 1] = v & 0xff;
}

/* Ethernet II header whose type field is `type` (an ethertype or a TPID). */
static void link_eth(struct frame *f, uint16_t type)
{
	static const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x01};
	static const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x02};

	put_mem(f, dst, 6);
	put_mem(f, src, 6);
	put16(f, type);
}

/* The 4 bytes after a TPID: tag control (PCP, DEI, id) and the next type. */
static void vlan_tag(struct frame *f, uint16_t tci, uint16_t next)
{
	put16(f, tci);
	put16(f, next);
}

/* Linux cooked v1: pkttype, ARPHRD, address length, 8 address bytes, protocol. */
static void link_sll(struct frame *f, uint16_t proto)
{
	put16(f, 0);
	put16(f, 1);
	put16(f, 6);
	put_fill(f, 0xaa, 8);
	put16(f, proto);
}

/* Linux cooked v2: protocol, reserved, ifindex, ARPHRD, pkttype, addrlen, address. */
static void link_sll2(struct frame *f, uint16_t proto)
{
	put16(f, proto);
	put16(f, 0);
	put32(f, 3);
	put16(f, 1);
	put8(f, 0);
	put8(f, 6);
	put_fill(f, 0xaa, 8);
}

/* BSD loopback: the 4-byte address family, in the given byte order. */
static void link_af(struct frame *f, uint32_t af, int little_endian)
{
	if (little_endian) {
		put8(f, af & 0xff);
		put8(f, (af >> 8) & 0xff);
		put8(f, (af >> 16) & 0xff);
		put8(f, af >> 24);
	} else {
		put32(f, af);
	}
}

/* IPv4 header with `optwords` 4-byte words of NOP options; length set by ip4_done(). */
static uint32_t ip4(struct frame *f, uint8_t proto, uint16_t id, uint16_t frag, uint8_t optwords)
{
	uint32_t at = f->n;

	put8(f, 0x40 | (5 + optwords));
	put8(f, 0);
	put16(f, 0);
	put16(f, id);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0); /* checksum: the parser must not care */
	put_mem(f, SRC4, 4);
	put_mem(f, DST4, 4);
	put_fill(f, 0x01, optwords * 4u);
	return at;
}

static void ip4_done(struct frame *f, uint32_t at)
{
	set16(f, at + 2, (uint16_t)(f->n - at));
}

static uint32_t ip6(struct frame *f, uint8_t nh)
{
	uint32_t at = f->n;

	put32(f, 0x60000000);
	put16(f, 0);
	put8(f, nh);
	put8(f, 64);
	put_mem(f, SRC6, 16);
	put_mem(f, DST6, 16);
	return at;
}

static void ip6_done(struct frame *f, uint32_t at)
{
	set16(f, at + 4, (uint16_t)(f->n - at - 40));
}

/* Generic IPv6 extension header: next header, length in 8-octet units beyond the first. */
static uint32_t ext6(struct frame *f, uint8_t nh, uint8_t len8)
{
	uint32_t at = f->n;

	put8(f, nh);
	put8(f, len8);
	put_fill(f, 0, (len8 + 1u) * 8 - 2);
	return at;
}

static uint32_t frag6(struct frame *f, uint8_t nh, uint16_t offset8, int more, uint32_t id)
{
	uint32_t at = f->n;

	put8(f, nh);
	put8(f, 0);
	put16(f, (uint16_t)(offset8 << 3 | (more ? 1 : 0)));
	put32(f, id);
	return at;
}

static uint32_t tcp(struct frame *f, uint16_t sport, uint16_t dport, uint8_t flags, uint8_t doff)
{
	uint32_t at = f->n;

	put16(f, sport);
	put16(f, dport);
	put32(f, 1000);
	put32(f, 0);
	put8(f, doff << 4);
	put8(f, flags);
	put16(f, 65535);
	put16(f, 0);
	put16(f, 0);
	if (doff > 5)
		put_fill(f, 0x01, (doff - 5u) * 4);
	return at;
}

static uint32_t udp(struct frame *f, uint16_t sport, uint16_t dport, uint16_t paylen)
{
	uint32_t at = f->n;

	put16(f, sport);
	put16(f, dport);
	put16(f, 8 + paylen);
	put16(f, 0);
	put_fill(f, 0x5a, paylen);
	return at;
}

/* ICMP / ICMPv6 echo request (type given): 8 bytes. */
static uint32_t icmp(struct frame *f, uint8_t type)
{
	uint32_t at = f->n;

	put8(f, type);
	put8(f, 0);
	put16(f, 0);
	put32(f, 0x00010001);
	return at;
}

/* ---------------------------------------------------------------------------
 * Parsing helpers
 */

#define TCP_NEED  20 /* the fixed TCP header */
#define UDP_NEED  8  /* the UDP header */
#define SCTP_NEED 12 /* the SCTP common header */

/* Properties every OK result must have, whatever the input. */
static void check_invariants(const struct dv_pkt *p)
{
	assert_true(p->family == 4 || p->family == 6);
	if (p->family == 4) {
		for (int i = 4; i < 16; i++) {
			assert_int_equal(p->src[i], 0);
			assert_int_equal(p->dst[i], 0);
		}
	}
	assert_true(p->frag <= DV_FRAG_LATER);
	/* 0 (untagged) or the tagged bit with a 12-bit id */
	assert_int_equal(p->vlan & ~(DV_PKT_VLAN_TAGGED | 0x0fff), 0);
	if (!(p->vlan & DV_PKT_VLAN_TAGGED))
		assert_int_equal(p->vlan, 0);
	assert_int_equal(p->flags, 0);
	if (p->proto != 6 && p->proto != 17 && p->proto != 132) {
		assert_int_equal(p->sport, 0);
		assert_int_equal(p->dport, 0);
	}
	if (p->proto != 6 || p->frag == DV_FRAG_LATER)
		assert_int_equal(p->tcp_flags, 0);
	if (p->frag == DV_FRAG_LATER) {
		assert_int_equal(p->sport, 0);
		assert_int_equal(p->dport, 0);
	}
	assert_int_equal(p->tun & ~(DV_PKT_T_TUNNEL | DV_PKT_T_BAD | DV_PKT_T_VNI), 0);
}

/*
 * Parse len bytes copied into a heap block of exactly len bytes, so that a
 * read past the end is an ASan/valgrind error rather than silent.
 */
/* The fields dv_parse sets; compared as one block. */
#define PKT_PARSED_BYTES offsetof(struct dv_pkt, wire_len)

/*
 * dv_parse on a copy of exactly len bytes (so ASan and valgrind see any read
 * beyond), its invariants, and the same result from dv_parse_general: the
 * fast path for common frames must never differ from the three-step parse.
 */
/* What the tests decapsulate: the defaults (--decap on); NULL for --decap off. */
static const struct dv_decap_cfg *test_decap;
static struct dv_decap_cfg test_decap_default;
static struct dv_pkt_tun last_tun; /* the tunnel side of the last parse_exact() */

static enum dv_parse_status parse_exact(const uint8_t *bytes, uint32_t len, int linktype,
					struct dv_pkt *out)
{
	uint8_t *copy = malloc(len);
	enum dv_parse_status st, st_general, st_rx;
	struct dv_pkt general, rx;
	struct dv_pkt_tun tun_general, tun_rx;

	assert_true(copy != NULL || len == 0);
	if (len)
		memcpy(copy, bytes, len);
	memset(out, 0xee, sizeof(*out));
	out->wire_len = WIRE_SENTINEL;
	out->ts_ns = TS_SENTINEL;
	memset(&last_tun, 0xee, sizeof(last_tun));
	st = dv_parse(copy, len, linktype, test_decap, out, &last_tun);
	memset(&general, 0xee, sizeof(general));
	memset(&tun_general, 0xee, sizeof(tun_general));
	st_general = dv_parse_general(copy, len, linktype, test_decap, &general, &tun_general);
	/* The receive loops' form says TUNNEL exactly when OK comes with p->tun set. */
	st_rx = dv_parse_rx(copy, len, linktype, test_decap, &rx, &tun_rx);
	free(copy);
	if (st == DV_PARSE_OK)
		assert_int_equal(st_rx, out->tun ? DV_PARSE_TUNNEL : DV_PARSE_OK);
	else
		assert_int_equal(st_rx, st);

	assert_int_equal(st, st_general);
	if (st == DV_PARSE_OK)
		assert_memory_equal(out, &general, PKT_PARSED_BYTES);
	if (st == DV_PARSE_OK && (out->tun & DV_PKT_T_VNI))
		assert_int_equal(out->vni, general.vni);
	if (st == DV_PARSE_OK && (out->tun & DV_PKT_T_TUNNEL))
		assert_memory_equal(&last_tun, &tun_general, offsetof(struct dv_pkt_tun, pad));

	assert_true(st == DV_PARSE_OK || st == DV_PARSE_NON_IP || st == DV_PARSE_MALFORMED ||
		    st == DV_PARSE_TOO_DEEP);
	assert_int_equal(out->wire_len, WIRE_SENTINEL);
	assert_true(out->ts_ns == TS_SENTINEL);
	if (st == DV_PARSE_OK)
		check_invariants(out);
	return st;
}

/*
 * Parse the whole frame (expecting `want`), then every prefix of it: below
 * f->need it must be MALFORMED, from f->need on it must give the full result.
 */
static void check_frame(const struct frame *f, int linktype, enum dv_parse_status want,
			struct dv_pkt *full)
{
	struct dv_pkt cut;

	assert_true(f->need <= f->n);
	assert_int_equal(parse_exact(f->b, f->n, linktype, full), want);
	for (uint32_t len = 0; len <= f->n; len++) {
		enum dv_parse_status st = parse_exact(f->b, len, linktype, &cut);

		if (len < f->need) {
			if (st != DV_PARSE_MALFORMED)
				fail_msg("cut at %u of %u (need %u): status %d, want MALFORMED",
					 len, f->n, f->need, st);
			continue;
		}
		if (st != want)
			fail_msg("cut at %u of %u (need %u): status %d, want %d", len, f->n,
				 f->need, st, want);
		if (want == DV_PARSE_OK)
			assert_memory_equal(&cut, full, PKT_PARSED_BYTES);
	}
}

static void expect_v4(const struct dv_pkt *p)
{
	uint8_t zero[12] = {0};

	assert_int_equal(p->family, 4);
	assert_memory_equal(p->src, SRC4, 4);
	assert_memory_equal(p->dst, DST4, 4);
	assert_memory_equal(p->src + 4, zero, 12);
	assert_memory_equal(p->dst + 4, zero, 12);
}

static void expect_v6(const struct dv_pkt *p)
{
	assert_int_equal(p->family, 6);
	assert_memory_equal(p->src, SRC6, 16);
	assert_memory_equal(p->dst, DST6, 16);
}

static void expect_ports(const struct dv_pkt *p, uint8_t proto, uint16_t sport, uint16_t dport)
{
	assert_int_equal(p->proto, proto);
	assert_int_equal(p->sport, sport);
	assert_int_equal(p->dport, dport);
}

static void expect_no_vlan(const struct dv_pkt *p)
{
	assert_int_equal(p->vlan, 0);
}

/* A complete Ethernet + IPv4 + UDP frame, the common base of several tests. */
static void build_eth_v4_udp(struct frame *f)
{
	uint32_t ip, l4;

	link_eth(f, 0x0800);
	ip = ip4(f, 17, 0x4242, 0, 0);
	l4 = udp(f, 5353, 53, 12);
	ip4_done(f, ip);
	f->need = l4 + UDP_NEED;
}

static void build_eth_v6_tcp(struct frame *f)
{
	uint32_t ip, l4;

	link_eth(f, 0x86dd);
	ip = ip6(f, 6);
	l4 = tcp(f, 40000, 22, 0x18, 5);
	ip6_done(f, ip);
	f->need = l4 + TCP_NEED;
}

/* ---------------------------------------------------------------------------
 * Plain Ethernet
 */

static void test_eth_ipv4_tcp(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_eth(&f, 0x0800);
	ip = ip4(&f, 6, 0x1234, 0x4000 /* DF */, 0);
	l4 = tcp(&f, 49152, 443, 0x12 /* SYN|ACK */, 8);
	ip4_done(&f, ip);
	f.need = l4 + TCP_NEED;

	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 6, 49152, 443);
	assert_int_equal(p.tcp_flags, 0x12);
	assert_int_equal(p.frag, DV_FRAG_NONE);
	assert_int_equal(p.frag_id, 0x1234);
	expect_no_vlan(&p);
}

static void test_eth_ipv4_tcp_all_flags(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip;

	(void)state;
	link_eth(&f, 0x0800);
	ip = ip4(&f, 6, 1, 0, 0);
	tcp(&f, 1, 2, 0xff, 5);
	ip4_done(&f, ip);
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	assert_int_equal(p.tcp_flags, 0xff); /* CWR ECE URG ACK PSH RST SYN FIN */
}

static void test_eth_ipv4_udp(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;

	(void)state;
	build_eth_v4_udp(&f);
	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 17, 5353, 53);
	assert_int_equal(p.tcp_flags, 0);
	assert_int_equal(p.frag, DV_FRAG_NONE);
	assert_int_equal(p.frag_id, 0x4242);
}

static void test_eth_ipv4_icmp(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip;

	(void)state;
	link_eth(&f, 0x0800);
	ip = ip4(&f, 1, 7, 0, 0);
	f.need = f.n; /* ICMP needs nothing beyond the IP header */
	icmp(&f, 8);
	ip4_done(&f, ip);

	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 1, 0, 0);
	assert_int_equal(p.tcp_flags, 0);
}

static void test_eth_ipv4_sctp(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_eth(&f, 0x0800);
	ip = ip4(&f, 132, 7, 0, 0);
	l4 = f.n;
	put16(&f, 2905); /* SCTP common header: ports, verification tag, checksum */
	put16(&f, 2906);
	put32(&f, 0xcafe);
	put32(&f, 0);
	ip4_done(&f, ip);
	f.need = l4 + SCTP_NEED;

	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 132, 2905, 2906);
}

static void test_eth_ipv6_tcp(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;

	(void)state;
	build_eth_v6_tcp(&f);
	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v6(&p);
	expect_ports(&p, 6, 40000, 22);
	assert_int_equal(p.tcp_flags, 0x18);
	assert_int_equal(p.frag, DV_FRAG_NONE);
	assert_int_equal(p.frag_id, 0);
	expect_no_vlan(&p);
}

static void test_eth_icmpv6(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip;

	(void)state;
	link_eth(&f, 0x86dd);
	ip = ip6(&f, 58);
	f.need = f.n;
	icmp(&f, 128);
	ip6_done(&f, ip);

	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v6(&p);
	expect_ports(&p, 58, 0, 0);
}

/* ---------------------------------------------------------------------------
 * VLAN tags
 */

static void test_vlan_single(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_eth(&f, 0x8100);
	vlan_tag(&f, 0xa000 | 100, 0x0800); /* PCP 5 must not leak into the id */
	ip = ip4(&f, 17, 1, 0, 0);
	l4 = udp(&f, 1000, 2000, 0);
	ip4_done(&f, ip);
	f.need = l4 + UDP_NEED;

	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 17, 1000, 2000);
	assert_int_equal(p.vlan, DV_PKT_VLAN_TAGGED | 100);
}

static void test_vlan_id_zero_is_tagged(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip;

	(void)state;
	link_eth(&f, 0x8100);
	vlan_tag(&f, 0x6000 /* priority tag, id 0 */, 0x86dd);
	ip = ip6(&f, 58);
	icmp(&f, 128);
	ip6_done(&f, ip);
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	assert_int_equal(p.vlan, DV_PKT_VLAN_TAGGED | 0);
}

static void test_qinq_two_tags(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_eth(&f, 0x88a8);
	vlan_tag(&f, 200, 0x8100);
	vlan_tag(&f, 300, 0x86dd);
	ip = ip6(&f, 6);
	l4 = tcp(&f, 40000, 80, 0x02, 5);
	ip6_done(&f, ip);
	f.need = l4 + TCP_NEED;

	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v6(&p);
	expect_ports(&p, 6, 40000, 80);
	assert_int_equal(p.vlan, DV_PKT_VLAN_TAGGED | 200);
}

static void test_qinq_three_tags(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_eth(&f, 0x9100);
	vlan_tag(&f, 0x0fff & 4094, 0x88a8);
	vlan_tag(&f, 20, 0x8100);
	vlan_tag(&f, 30, 0x0800);
	ip = ip4(&f, 17, 9, 0, 0);
	l4 = udp(&f, 67, 68, 4);
	ip4_done(&f, ip);
	f.need = l4 + UDP_NEED;

	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 17, 67, 68);
	assert_int_equal(p.vlan, DV_PKT_VLAN_TAGGED | 4094);
}

/* ---------------------------------------------------------------------------
 * Link shims: MPLS, PPPoE and FabricPath carry the IP packet the flow is
 * about; the frame's VLAN stays the outermost tag on the wire.
 */

/* Two MPLS labels (the second the bottom of stack) before an IPv4/UDP packet. */
static void test_mpls_ipv4(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_eth(&f, 0x8100);
	vlan_tag(&f, 42, 0x8847);
	put32(&f, 100u << 12 | 64);	      /* label 100, TTL 64 */
	put32(&f, 200u << 12 | 1u << 8 | 64); /* label 200, bottom of stack */
	ip = ip4(&f, 17, 7, 0, 0);
	l4 = udp(&f, 5000, 53, 4);
	ip4_done(&f, ip);
	f.need = l4 + UDP_NEED;

	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 17, 5000, 53);
	assert_int_equal(p.vlan, DV_PKT_VLAN_TAGGED | 42);
}

/* A pseudowire after the stack is not read (no IP nibble): non-IP. */
static void test_mpls_pseudowire(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;

	(void)state;
	link_eth(&f, 0x8847);
	put32(&f, 300u << 12 | 1u << 8 | 64);
	put32(&f, 0); /* a control word */
	put_fill(&f, 0, 40);
	f.need = 14 + 4 + 1; /* the payload's first nibble decides what it is */
	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_NON_IP, &p);
}

/* PPPoE session, PPP protocol 0x0057: an IPv6/TCP packet. PPP's own
 * traffic (LCP) carries no IP. */
static void test_pppoe(void **state)
{
	struct frame f = {0}, g = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_eth(&f, 0x8864);
	put8(&f, 0x11);
	put8(&f, 0);
	put16(&f, 0x1234);
	put16(&f, 0); /* length: not relied on */
	put16(&f, 0x0057);
	ip = ip6(&f, 6);
	l4 = tcp(&f, 40001, 443, 0x02, 5);
	ip6_done(&f, ip);
	f.need = l4 + TCP_NEED;
	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v6(&p);
	expect_ports(&p, 6, 40001, 443);
	assert_int_equal(p.vlan, 0);

	link_eth(&g, 0x8864);
	put8(&g, 0x11);
	put8(&g, 0);
	put16(&g, 0x1234);
	put16(&g, 10);
	put16(&g, 0xc021); /* LCP */
	put_fill(&g, 0, 30);
	g.need = 14 + 8;
	check_frame(&g, DV_LINK_ETHERNET, DV_PARSE_NON_IP, &p);
}

/* FabricPath: the switch header, then a classical frame with its own tag. */
static void test_fabricpath(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_eth(&f, 0x8903);
	put16(&f, 0x0101);    /* FTag, TTL */
	link_eth(&f, 0x8100); /* the classical frame */
	vlan_tag(&f, 77, 0x0800);
	ip = ip4(&f, 6, 3, 0, 0);
	l4 = tcp(&f, 1234, 80, 0x10, 5);
	ip4_done(&f, ip);
	f.need = l4 + TCP_NEED;
	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 6, 1234, 80);
	assert_int_equal(p.vlan, DV_PKT_VLAN_TAGGED | 77);
}

/* ---------------------------------------------------------------------------
 * Other link types
 */

static void test_sll(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_sll(&f, 0x0800);
	ip = ip4(&f, 17, 5, 0, 0);
	l4 = udp(&f, 123, 123, 48);
	ip4_done(&f, ip);
	f.need = l4 + UDP_NEED;

	check_frame(&f, DV_LINK_SLL, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 17, 123, 123);
	expect_no_vlan(&p);
}

static void test_sll_vlan(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_sll(&f, 0x8100);
	vlan_tag(&f, 42, 0x86dd);
	ip = ip6(&f, 6);
	l4 = tcp(&f, 1, 2, 0x01, 5);
	ip6_done(&f, ip);
	f.need = l4 + TCP_NEED;

	check_frame(&f, DV_LINK_SLL, DV_PARSE_OK, &p);
	expect_v6(&p);
	expect_ports(&p, 6, 1, 2);
	assert_int_equal(p.vlan, DV_PKT_VLAN_TAGGED | 42);
	assert_int_equal(p.tcp_flags, 0x01);
}

static void test_sll2(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_sll2(&f, 0x86dd);
	ip = ip6(&f, 17);
	l4 = udp(&f, 546, 547, 10);
	ip6_done(&f, ip);
	f.need = l4 + UDP_NEED;

	check_frame(&f, DV_LINK_SLL2, DV_PARSE_OK, &p);
	expect_v6(&p);
	expect_ports(&p, 17, 546, 547);
	expect_no_vlan(&p);
}

static void test_sll2_vlan(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_sll2(&f, 0x88a8);
	vlan_tag(&f, 7, 0x8100);
	vlan_tag(&f, 8, 0x0800);
	ip = ip4(&f, 6, 5, 0, 0);
	l4 = tcp(&f, 3, 4, 0x04, 5);
	ip4_done(&f, ip);
	f.need = l4 + TCP_NEED;

	check_frame(&f, DV_LINK_SLL2, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 6, 3, 4);
	assert_int_equal(p.vlan, DV_PKT_VLAN_TAGGED | 7);
	assert_int_equal(p.tcp_flags, 0x04);
}

static void test_raw_ip(void **state)
{
	struct frame v4 = {0}, v6 = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	ip = ip4(&v4, 17, 1, 0, 0);
	l4 = udp(&v4, 10, 20, 0);
	ip4_done(&v4, ip);
	v4.need = l4 + UDP_NEED;

	ip = ip6(&v6, 6);
	l4 = tcp(&v6, 30, 40, 0x10, 5);
	ip6_done(&v6, ip);
	v6.need = l4 + TCP_NEED;

	/* 101: the version nibble decides */
	check_frame(&v4, DV_LINK_RAW, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 17, 10, 20);
	check_frame(&v6, DV_LINK_RAW, DV_PARSE_OK, &p);
	expect_v6(&p);
	expect_ports(&p, 6, 30, 40);

	/* 228 / 229: fixed version */
	check_frame(&v4, DV_LINK_IPV4, DV_PARSE_OK, &p);
	expect_v4(&p);
	check_frame(&v6, DV_LINK_IPV6, DV_PARSE_OK, &p);
	expect_v6(&p);

	/* the wrong version for a fixed-version link type is malformed */
	assert_int_equal(parse_exact(v6.b, v6.n, DV_LINK_IPV4, &p), DV_PARSE_MALFORMED);
	assert_int_equal(parse_exact(v4.b, v4.n, DV_LINK_IPV6, &p), DV_PARSE_MALFORMED);

	/* a version that is neither */
	v4.b[0] = 0x55;
	assert_int_equal(parse_exact(v4.b, v4.n, DV_LINK_RAW, &p), DV_PARSE_MALFORMED);
	v4.b[0] = 0x05;
	assert_int_equal(parse_exact(v4.b, v4.n, DV_LINK_RAW, &p), DV_PARSE_MALFORMED);
}

/* BSD NULL: AF in the capturing host's order; the parser must take both. */
static void test_null_both_orders(void **state)
{
	static const uint32_t inet6[] = {10, 24, 28, 30};
	struct dv_pkt p;

	(void)state;
	for (int le = 0; le <= 1; le++) {
		struct frame f = {0};
		uint32_t ip, l4;

		link_af(&f, 2, le);
		ip = ip4(&f, 6, 3, 0, 0);
		l4 = tcp(&f, 5000, 6000, 0x02, 5);
		ip4_done(&f, ip);
		f.need = l4 + TCP_NEED;
		check_frame(&f, DV_LINK_NULL, DV_PARSE_OK, &p);
		expect_v4(&p);
		expect_ports(&p, 6, 5000, 6000);

		for (unsigned i = 0; i < sizeof(inet6) / sizeof(inet6[0]); i++) {
			struct frame g = {0};

			link_af(&g, inet6[i], le);
			ip = ip6(&g, 17);
			l4 = udp(&g, 7, 9, 0);
			ip6_done(&g, ip);
			g.need = l4 + UDP_NEED;
			check_frame(&g, DV_LINK_NULL, DV_PARSE_OK, &p);
			expect_v6(&p);
			expect_ports(&p, 17, 7, 9);
		}

		/* AF_UNSPEC / an unknown family: valid frame, not IP */
		struct frame h = {0};

		link_af(&h, 7, le);
		put_fill(&h, 0x45, 40);
		h.need = 4;
		check_frame(&h, DV_LINK_NULL, DV_PARSE_NON_IP, &p);
	}
}

/* LOOP: the AF is in network order only. */
static void test_loop(void **state)
{
	struct frame f = {0}, g = {0}, h = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_af(&f, 2, 0);
	ip = ip4(&f, 17, 3, 0, 0);
	l4 = udp(&f, 111, 222, 0);
	ip4_done(&f, ip);
	f.need = l4 + UDP_NEED;
	check_frame(&f, DV_LINK_LOOP, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 17, 111, 222);

	link_af(&g, 24, 0);
	ip = ip6(&g, 58);
	g.need = g.n;
	icmp(&g, 128);
	ip6_done(&g, ip);
	check_frame(&g, DV_LINK_LOOP, DV_PARSE_OK, &p);
	expect_v6(&p);

	/* little-endian AF_INET is 0x02000000 in network order: not IP on LOOP */
	link_af(&h, 2, 1);
	ip = ip4(&h, 17, 3, 0, 0);
	udp(&h, 111, 222, 0);
	ip4_done(&h, ip);
	h.need = 4;
	check_frame(&h, DV_LINK_LOOP, DV_PARSE_NON_IP, &p);
}

static void test_linktype_supported(void **state)
{
	static const int yes[] = {0, 1, 101, 108, 113, 228, 229, 276};
	static const int no[] = {-1, 2, 100, 105, 127, 192, 277, 1000};
	struct frame f = {0};
	struct dv_pkt p;

	(void)state;
	for (unsigned i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(dv_linktype_supported(yes[i]));
	for (unsigned i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(dv_linktype_supported(no[i]));

	/* a link type the parser does not know yields no flow */
	build_eth_v4_udp(&f);
	assert_int_equal(parse_exact(f.b, f.n, 105, &p), DV_PARSE_NON_IP);
}

/* ---------------------------------------------------------------------------
 * IPv4 details
 */

static void test_ipv4_options(void **state)
{
	for (uint8_t words = 1; words <= 10; words++) {
		struct frame f = {0};
		struct dv_pkt p;
		uint32_t ip, l4;

		link_eth(&f, 0x0800);
		ip = ip4(&f, 17, 77, 0, words);
		l4 = udp(&f, 4000 + words, 53, 0);
		ip4_done(&f, ip);
		assert_int_equal(l4 - ip, 20 + 4u * words);
		f.need = l4 + UDP_NEED;

		check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
		expect_v4(&p);
		expect_ports(&p, 17, 4000 + words, 53);
	}
	(void)state;
}

static void test_ipv4_bad_ihl(void **state)
{
	struct dv_pkt p;

	(void)state;
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		struct frame f = {0};

		build_eth_v4_udp(&f);
		f.b[14] = 0x40 | ihl;
		assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_MALFORMED);
	}

	/* IHL 15 (60 bytes) but only 20 + 8 bytes of IP datagram captured */
	struct frame g = {0};

	link_eth(&g, 0x0800);
	ip4(&g, 17, 1, 0, 0);
	udp(&g, 1, 2, 0);
	g.b[14] = 0x4f;
	assert_int_equal(parse_exact(g.b, g.n, DV_LINK_ETHERNET, &p), DV_PARSE_MALFORMED);
}

static void test_bad_version(void **state)
{
	struct frame f = {0}, g = {0};
	struct dv_pkt p;

	(void)state;
	/* ethertype IPv4, version 6 and other versions */
	build_eth_v4_udp(&f);
	for (uint8_t v = 0; v < 16; v++) {
		if (v == 4)
			continue;
		f.b[14] = (uint8_t)(v << 4 | 5);
		assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_MALFORMED);
	}

	/* ethertype IPv6, version 4 */
	build_eth_v6_tcp(&g);
	g.b[14] = 0x45;
	assert_int_equal(parse_exact(g.b, g.n, DV_LINK_ETHERNET, &p), DV_PARSE_MALFORMED);
	g.b[14] = 0x60;
	assert_int_equal(parse_exact(g.b, g.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
}

static void test_ipv4_total_length(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;

	(void)state;
	build_eth_v4_udp(&f);

	/* shorter than its own header: invalid */
	set16(&f, 14 + 2, 19);
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_MALFORMED);

	/* 0: a TSO super-packet as the capturing host saw it; the capture bounds it */
	set16(&f, 14 + 2, 0);
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	expect_ports(&p, 17, 5353, 53);

	/* longer than the capture (snap length): fine */
	set16(&f, 14 + 2, 9000);
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	expect_ports(&p, 17, 5353, 53);
}

/* Ethernet pads frames to 60 bytes; the padding is not a transport header. */
static void test_ipv4_ethernet_padding(void **state)
{
	struct frame f = {0}, g = {0}, h = {0};
	struct dv_pkt p;
	uint32_t ip;

	(void)state;
	/* UDP with an 8-byte header in a 60-byte frame: ports from the header */
	link_eth(&f, 0x0800);
	ip = ip4(&f, 17, 1, 0, 0);
	udp(&f, 1111, 2222, 0);
	ip4_done(&f, ip);
	put_fill(&f, 0, 60 - f.n);
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	expect_ports(&p, 17, 1111, 2222);

	/* IPv4 says 20 bytes (no TCP header at all); padding must not become one */
	link_eth(&g, 0x0800);
	ip = ip4(&g, 6, 1, 0, 0);
	ip4_done(&g, ip);
	put_fill(&g, 0x50, 60 - g.n); /* 0x50: would pass as data offset 5 */
	assert_int_equal(parse_exact(g.b, g.n, DV_LINK_ETHERNET, &p), DV_PARSE_MALFORMED);

	/* IPv6 payload length 2 < UDP ports: the same rule */
	link_eth(&h, 0x86dd);
	ip = ip6(&h, 17);
	put16(&h, 53);
	ip6_done(&h, ip);
	put_fill(&h, 0x35, 8);
	assert_int_equal(parse_exact(h.b, h.n, DV_LINK_ETHERNET, &p), DV_PARSE_MALFORMED);
}

static void test_ipv4_frag_first(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_eth(&f, 0x0800);
	ip = ip4(&f, 17, 0xbeef, 0x2000 /* MF, offset 0 */, 0);
	l4 = udp(&f, 5000, 5001, 1472);
	ip4_done(&f, ip);
	f.need = l4 + UDP_NEED;

	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 17, 5000, 5001);
	assert_int_equal(p.frag, DV_FRAG_FIRST);
	assert_int_equal(p.frag_id, 0xbeef);
}

/* DF and the reserved bit, with offset 0 and no MF: a whole datagram. */
static void test_ipv4_not_fragment_flags(void **state)
{
	static const uint16_t fragfield[] = {0x4000, 0x8000, 0xc000};

	(void)state;
	for (unsigned i = 0; i < sizeof(fragfield) / sizeof(fragfield[0]); i++) {
		struct frame f = {0};
		struct dv_pkt p;
		uint32_t ip;

		link_eth(&f, 0x0800);
		ip = ip4(&f, 17, 3, fragfield[i], 0);
		udp(&f, 100, 200, 0);
		ip4_done(&f, ip);
		assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
		assert_int_equal(p.frag, DV_FRAG_NONE);
		expect_ports(&p, 17, 100, 200);
	}
}

static void test_ipv4_frag_later(void **state)
{
	/*
	 * The last fragment (no MF), a middle one (MF), one whose offset has only
	 * its top bit set, and one with the reserved bit too: all LATER.
	 */
	static const uint16_t fragfield[] = {185, 0x2000 | 185, 0x1000, 0x8000 | 0x0001};

	(void)state;
	for (unsigned i = 0; i < sizeof(fragfield) / sizeof(fragfield[0]); i++) {
		struct frame f = {0};
		struct dv_pkt p;
		uint32_t ip;

		link_eth(&f, 0x0800);
		ip = ip4(&f, 17, 0xbeef, fragfield[i], 0);
		f.need = f.n;		 /* no transport header in a later fragment */
		put_fill(&f, 0x77, 100); /* payload that would read as ports 0x7777 */
		ip4_done(&f, ip);

		check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
		expect_v4(&p);
		expect_ports(&p, 17, 0, 0);
		assert_int_equal(p.frag, DV_FRAG_LATER);
		assert_int_equal(p.frag_id, 0xbeef);
	}
}

static void test_ipv4_frag_later_tcp_flags_zero(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip;

	(void)state;
	link_eth(&f, 0x0800);
	ip = ip4(&f, 6, 9, 1, 0); /* offset 8 bytes */
	put_fill(&f, 0xff, 20);
	ip4_done(&f, ip);
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	assert_int_equal(p.frag, DV_FRAG_LATER);
	assert_int_equal(p.tcp_flags, 0);
	expect_ports(&p, 6, 0, 0);
}

/* ---------------------------------------------------------------------------
 * IPv6 extension headers and fragments
 */

static void test_ipv6_ext_chain(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_eth(&f, 0x86dd);
	ip = ip6(&f, 0);
	ext6(&f, 43, 0); /* hop-by-hop, 8 bytes */
	ext6(&f, 60, 2); /* routing, 24 bytes */
	ext6(&f, 6, 1);	 /* destination options, 16 bytes */
	l4 = tcp(&f, 50000, 8080, 0x11, 5);
	ip6_done(&f, ip);
	assert_int_equal(l4 - ip, 40 + 8 + 24 + 16);
	f.need = l4 + TCP_NEED;

	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v6(&p);
	expect_ports(&p, 6, 50000, 8080);
	assert_int_equal(p.tcp_flags, 0x11);
	assert_int_equal(p.frag, DV_FRAG_NONE);
}

static void test_ipv6_ext_cap(void **state)
{
	struct dv_pkt p;

	(void)state;
	/* 8 destination-options headers walk; the 9th is one too many */
	for (int n = 8; n <= 9; n++) {
		struct frame f = {0};
		uint32_t ip;

		link_eth(&f, 0x86dd);
		ip = ip6(&f, 60);
		for (int i = 0; i < n; i++)
			ext6(&f, i == n - 1 ? 17 : 60, 0);
		udp(&f, 1, 2, 0);
		ip6_done(&f, ip);
		assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p),
				 n == 8 ? DV_PARSE_OK : DV_PARSE_MALFORMED);
	}
}

static void test_ipv6_ext_overruns_payload(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip;

	(void)state;
	/* the routing header claims 16 bytes but the payload length ends it at 8 */
	link_eth(&f, 0x86dd);
	ip = ip6(&f, 43);
	ext6(&f, 17, 1);
	udp(&f, 1, 2, 0);
	ip6_done(&f, ip);
	set16(&f, ip + 4, 8);
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_MALFORMED);
}

static void test_ipv6_frag_first(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip, l4;

	(void)state;
	link_eth(&f, 0x86dd);
	ip = ip6(&f, 0);
	ext6(&f, 44, 0);
	frag6(&f, 60, 0, 1, 0x89abcdef);
	ext6(&f, 17, 0); /* destination options after the fragment header */
	l4 = udp(&f, 9999, 53, 100);
	ip6_done(&f, ip);
	f.need = l4 + UDP_NEED;

	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	expect_v6(&p);
	expect_ports(&p, 17, 9999, 53);
	assert_int_equal(p.frag, DV_FRAG_FIRST);
	assert_int_equal(p.frag_id, 0x89abcdef);
}

static void test_ipv6_frag_later(void **state)
{
	/* offsets: a typical one, and the top bit of the 13-bit field alone */
	static const uint16_t offsets[] = {181, 0x1000};

	(void)state;
	for (int i = 0; i < 4; i++) {
		struct frame f = {0};
		struct dv_pkt p;
		uint32_t ip;

		link_eth(&f, 0x86dd);
		ip = ip6(&f, 44);
		frag6(&f, 6, offsets[i / 2], i % 2, 0x01020304);
		f.need = f.n;
		put_fill(&f, 0x50, 64); /* reads as a TCP header if wrongly parsed */
		ip6_done(&f, ip);

		check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
		expect_v6(&p);
		expect_ports(&p, 6, 0, 0);
		assert_int_equal(p.tcp_flags, 0);
		assert_int_equal(p.frag, DV_FRAG_LATER);
		assert_int_equal(p.frag_id, 0x01020304);
	}
}

static void test_ipv6_frag_later_next_is_ext(void **state)
{
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t ip;

	(void)state;
	/* a later fragment whose next header is an extension: no further walk */
	link_eth(&f, 0x86dd);
	ip = ip6(&f, 44);
	frag6(&f, 60, 3, 0, 5);
	f.need = f.n;
	put_fill(&f, 0xff, 16);
	ip6_done(&f, ip);
	check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
	assert_int_equal(p.proto, 60);
	assert_int_equal(p.frag, DV_FRAG_LATER);
}

static void test_ipv6_atomic_fragment(void **state)
{
	(void)state;
	/* offset 0, no M; the second also sets the two reserved bits (0x0006) */
	for (int res = 0; res <= 1; res++) {
		struct frame f = {0};
		struct dv_pkt p;
		uint32_t ip, at, l4;

		link_eth(&f, 0x86dd);
		ip = ip6(&f, 44);
		at = frag6(&f, 17, 0, 0, 77);
		if (res)
			set16(&f, at + 2, 0x0006);
		l4 = udp(&f, 443, 50123, 20);
		ip6_done(&f, ip);
		f.need = l4 + UDP_NEED;

		check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
		expect_v6(&p);
		expect_ports(&p, 17, 443, 50123);
		assert_int_equal(p.frag, DV_FRAG_NONE);
	}
}

/* ---------------------------------------------------------------------------
 * Protocols without ports, tunnels
 */

static void test_portless_protocols_v4(void **state)
{
	/* AH, ESP, GRE, IP-in-IP, 6in4, IGMP, OSPF, unassigned, reserved */
	static const uint8_t protos[] = {51, 50, 47, 4, 41, 2, 89, 253, 255};

	(void)state;
	test_decap = NULL; /* --decap off: GRE and IP in IP are the flow */
	for (unsigned i = 0; i < sizeof(protos); i++) {
		struct frame f = {0};
		struct dv_pkt p;
		uint32_t ip;

		link_eth(&f, 0x0800);
		ip = ip4(&f, protos[i], 1, 0, 0);
		f.need = f.n;
		put_fill(&f, 0x45, 40); /* looks like an inner header: not decapsulated */
		ip4_done(&f, ip);
		check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
		expect_v4(&p);
		expect_ports(&p, protos[i], 0, 0);
	}
	test_decap = &test_decap_default;
}

static void test_portless_protocols_v6(void **state)
{
	/* AH and ESP are the protocol, not skipped; 59 is No Next Header */
	static const uint8_t protos[] = {51, 50, 47, 59, 41, 4, 253};

	(void)state;
	test_decap = NULL; /* --decap off: GRE and IP in IP are the flow */
	for (unsigned i = 0; i < sizeof(protos); i++) {
		struct frame f = {0};
		struct dv_pkt p;
		uint32_t ip;

		link_eth(&f, 0x86dd);
		ip = ip6(&f, 60);
		ext6(&f, protos[i], 0);
		f.need = f.n;
		put8(&f, 6); /* an AH would say "next: TCP" here; it must not be followed */
		put_fill(&f, 0x00, 31);
		ip6_done(&f, ip);
		check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_OK, &p);
		expect_v6(&p);
		expect_ports(&p, protos[i], 0, 0);
	}
	test_decap = &test_decap_default;
}

/* ---------------------------------------------------------------------------
 * Invalid transport headers, non-IP frames
 */

static void test_tcp_bad_data_offset(void **state)
{
	(void)state;
	for (uint8_t doff = 0; doff < 5; doff++) {
		struct frame f = {0};
		struct dv_pkt p;
		uint32_t ip;

		link_eth(&f, 0x0800);
		ip = ip4(&f, 6, 1, 0, 0);
		tcp(&f, 1, 2, 0x02, 5);
		ip4_done(&f, ip);
		f.b[14 + 20 + 12] = doff << 4;
		assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_MALFORMED);
	}
}

static void test_non_ip(void **state)
{
	static const uint16_t types[] = {0x0806 /* ARP */,
					 0x88cc /* LLDP */,
					 0x8863 /* PPPoE discovery */,
					 0x86dc,
					 0x0801,
					 0x0600};
	struct dv_pkt p;

	(void)state;
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct frame f = {0}, g = {0};

		/* the payload is a valid IPv4 header: the type alone must decide */
		link_eth(&f, types[i]);
		ip4(&f, 17, 1, 0, 0);
		udp(&f, 1, 2, 0);
		f.need = 14;
		check_frame(&f, DV_LINK_ETHERNET, DV_PARSE_NON_IP, &p);

		link_eth(&g, 0x8100);
		vlan_tag(&g, 5, types[i]);
		put_fill(&g, 0, 28);
		g.need = 18;
		check_frame(&g, DV_LINK_ETHERNET, DV_PARSE_NON_IP, &p);
	}

	/* 802.3 + LLC (spanning tree): a length, not an ethertype */
	struct frame l = {0};

	link_eth(&l, 38);
	put8(&l, 0x42);
	put8(&l, 0x42);
	put8(&l, 0x03);
	put_fill(&l, 0, 35);
	l.need = 14;
	check_frame(&l, DV_LINK_ETHERNET, DV_PARSE_NON_IP, &p);

	/* the largest 802.3 length, 1500, followed by what looks like IPv4 */
	struct frame m = {0};

	link_eth(&m, 0x05dc);
	ip4(&m, 17, 1, 0, 0);
	m.need = 14;
	check_frame(&m, DV_LINK_ETHERNET, DV_PARSE_NON_IP, &p);

	/* Linux cooked 802.2 LLC (protocol 0x0004) and ARP */
	struct frame s = {0}, t = {0};

	link_sll(&s, 0x0004);
	put_fill(&s, 0x42, 20);
	s.need = 16;
	check_frame(&s, DV_LINK_SLL, DV_PARSE_NON_IP, &p);
	link_sll2(&t, 0x0806);
	put_fill(&t, 0, 28);
	t.need = 20;
	check_frame(&t, DV_LINK_SLL2, DV_PARSE_NON_IP, &p);
}

/* ---------------------------------------------------------------------------
 * Worker hash
 */

static void swap_sides(struct dv_pkt *p)
{
	uint8_t tmp[16];
	uint16_t port;

	memcpy(tmp, p->src, 16);
	memcpy(p->src, p->dst, 16);
	memcpy(p->dst, tmp, 16);
	port = p->sport;
	p->sport = p->dport;
	p->dport = port;
}

/* ---------------------------------------------------------------------------
 * Tunnels and mirror sessions (lib/dv_decap.c, docs/tunnels.md)
 */

static const uint8_t OUT_SRC4[4] = {10, 9, 0, 1}; /* tunnel endpoints */
static const uint8_t OUT_DST4[4] = {10, 9, 0, 2};

/* An outer IPv4 header from OUT_SRC4 to OUT_DST4 (length by ip4_done). */
static uint32_t outer4(struct frame *f, uint8_t proto, uint16_t frag)
{
	uint32_t at = ip4(f, proto, 99, frag, 0);

	memcpy(f->b + at + 12, OUT_SRC4, 4);
	memcpy(f->b + at + 16, OUT_DST4, 4);
	return at;
}

/* A UDP header to dport whose length covers the rest (by udp_done). */
static uint32_t udp_hdr(struct frame *f, uint16_t sport, uint16_t dport)
{
	uint32_t at = f->n;

	put16(f, sport);
	put16(f, dport);
	put16(f, 0);
	put16(f, 0);
	return at;
}

static void udp_done(struct frame *f, uint32_t at)
{
	set16(f, at + 4, (uint16_t)(f->n - at));
}

/*
 * check_frame() for a tunnelled frame: a cut before f->need is malformed
 * where it falls in what the tunnel carries, and where it falls in a
 * tunnel's own header that header cannot be read, so its packet is the
 * flow (DV_PKT_T_BAD): nothing is lost. From f->need on, the full result.
 */
static void check_tunnel_frame(const struct frame *f, enum dv_parse_status want,
			       struct dv_pkt *full)
{
	struct dv_pkt cut;
	uint32_t outer = 0;

	assert_int_equal(parse_exact(f->b, f->n, DV_LINK_ETHERNET, full), want);
	for (uint32_t len = 0; len <= f->n; len++) {
		enum dv_parse_status st = parse_exact(f->b, len, DV_LINK_ETHERNET, &cut);

		if (len >= f->need) {
			assert_int_equal(st, want);
			if (want == DV_PARSE_OK)
				assert_memory_equal(&cut, full, PKT_PARSED_BYTES);
		} else if (st == DV_PARSE_OK) {
			assert_true(cut.tun & DV_PKT_T_BAD);
			outer++;
		} else {
			assert_int_equal(st, DV_PARSE_MALFORMED);
		}
	}
	assert_true(outer > 0); /* the cuts in the tunnel header */
}

static void expect_tunnel(const struct dv_pkt *p, const uint8_t *kinds, uint8_t n,
			  uint8_t outer_family)
{
	assert_true(p->tun & DV_PKT_T_TUNNEL);
	assert_int_equal(last_tun.n_kinds, n);
	assert_memory_equal(last_tun.kinds, kinds, n);
	assert_int_equal(last_tun.outer_family, outer_family);
	if (outer_family == 4) {
		assert_memory_equal(last_tun.outer_src, OUT_SRC4, 4);
		assert_memory_equal(last_tun.outer_dst, OUT_DST4, 4);
	}
}

/* VXLAN: the inner frame's addresses, ports and VLAN (not the outer frame's),
 * the VNI, the outer endpoints and the carried frame's length. */
static void test_vxlan(void **state)
{
	static const uint8_t kinds[] = {DV_TUN_VXLAN};
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t oip, oudp, inner, ip, l4;

	(void)state;
	link_eth(&f, 0x8100);
	vlan_tag(&f, 300, 0x0800); /* the outer VLAN: not the flow's */
	oip = outer4(&f, 17, 0);
	oudp = udp_hdr(&f, 49152, 4789);
	put32(&f, 0x08000000); /* I flag */
	put32(&f, 0x12345600); /* VNI 0x123456 */
	inner = f.n;
	link_eth(&f, 0x8100);
	vlan_tag(&f, 7, 0x0800);
	ip = ip4(&f, 6, 1, 0, 0);
	l4 = tcp(&f, 1234, 80, 0x02, 5);
	ip4_done(&f, ip);
	udp_done(&f, oudp);
	ip4_done(&f, oip);
	f.need = l4 + TCP_NEED;

	check_tunnel_frame(&f, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 6, 1234, 80);
	assert_int_equal(p.vlan, DV_PKT_VLAN_TAGGED | 7);
	assert_int_equal(p.tun, DV_PKT_T_TUNNEL | DV_PKT_T_VNI);
	assert_int_equal(p.vni, 0x123456);
	expect_tunnel(&p, kinds, 1, 4);
	assert_int_equal(last_tun.frame_len, f.n - inner);
	assert_int_equal(dv_pkt_tun_bytes(&last_tun, f.n + 4), f.n - inner); /* not the wire's */
	/* An outer IP length of 0 (a TSO or BIG TCP capture): the carried frame
	 * runs to the end of the frame on the wire. */
	set16(&f, oip + 2, 0);
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	expect_ports(&p, 6, 1234, 80);
	assert_int_equal(last_tun.frame_len, 0);
	assert_int_equal(last_tun.frame_off, inner);
	assert_int_equal(dv_pkt_tun_bytes(&last_tun, 80000), 80000 - inner);
	ip4_done(&f, oip);

	/* Without the I flag the header is invalid: the outer UDP flow, not lost. */
	f.b[oudp + 8] = 0;
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	expect_ports(&p, 17, 49152, 4789);
	assert_int_equal(p.tun, DV_PKT_T_BAD);
	f.b[oudp + 8] = 0x08;
	/* --decap off: the outer UDP flow, as before decapsulation existed. */
	test_decap = NULL;
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	expect_ports(&p, 17, 49152, 4789);
	assert_memory_equal(p.src, OUT_SRC4, 4);
	assert_int_equal(p.tun, 0);
	assert_int_equal(p.vlan, DV_PKT_VLAN_TAGGED | 300);
	/* A port that is not an overlay's is a plain UDP flow; configured, it decapsulates. */
	struct dv_decap_cfg dc;

	dv_decap_cfg_default(&dc);
	test_decap = &dc;
	set16(&f, oudp + 2, 9999);
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	expect_ports(&p, 17, 49152, 9999);
	dc.vxlan[dc.n_vxlan++] = 9999;
	dv_decap_cfg_ports(&dc);
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	expect_ports(&p, 6, 1234, 80);
	/* A carried frame without IP (ARP) is non-IP, and makes no outer flow. */
	set16(&f, inner + 16, 0x0806);
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_NON_IP);
	set16(&f, inner + 16, 0x0000); /* an 802.3 length of 0: no IP either, no flow */
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_NON_IP);
	test_decap = &test_decap_default;
}

/* ERSPAN type II in GRE with a sequence number: the mirrored frame is
 * untagged, so the flow has no VLAN although the outer frame had one. */
static void test_erspan2(void **state)
{
	static const uint8_t kinds[] = {DV_TUN_ERSPAN};
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t oip, inner, ip, l4;

	(void)state;
	link_eth(&f, 0x8100);
	vlan_tag(&f, 300, 0x0800);
	oip = outer4(&f, 47, 0);
	put16(&f, 0x1000); /* S */
	put16(&f, 0x88be);
	put32(&f, 77);	   /* sequence */
	put16(&f, 0x1005); /* version 1, VLAN 5 */
	put16(&f, 0x0007); /* session 7 */
	put32(&f, 0);	   /* index */
	inner = f.n;
	link_eth(&f, 0x86dd);
	ip = ip6(&f, 17);
	l4 = udp(&f, 5353, 53, 10);
	ip6_done(&f, ip);
	ip4_done(&f, oip);
	f.need = l4 + UDP_NEED;

	check_tunnel_frame(&f, DV_PARSE_OK, &p);
	expect_v6(&p);
	expect_ports(&p, 17, 5353, 53);
	expect_no_vlan(&p);
	assert_int_equal(p.tun, DV_PKT_T_TUNNEL);
	expect_tunnel(&p, kinds, 1, 4);
	assert_int_equal(last_tun.frame_len, f.n - inner);
	/* ERSPAN version 2 in a type II header: not read, the outer GRE flow. */
	f.b[oip + 28] = 0x20;
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	expect_ports(&p, 47, 0, 0);
	assert_memory_equal(p.src, OUT_SRC4, 4);
	assert_int_equal(p.tun, DV_PKT_T_BAD);
}

/* GTP-U with a 5G PDU session container over IPv6: the user's IPv4 packet;
 * no Ethernet is carried, so no frame length of its own. */
static void test_gtpu_extension(void **state)
{
	static const uint8_t kinds[] = {DV_TUN_GTPU};
	struct frame f = {0};
	struct dv_pkt p;
	uint32_t oip, oudp, gtp, ip, l4;

	(void)state;
	link_eth(&f, 0x86dd);
	oip = ip6(&f, 17);
	oudp = udp_hdr(&f, 2152, 2152);
	gtp = f.n;
	put8(&f, 0x34); /* version 1, PT, E */
	put8(&f, 0xff); /* G-PDU */
	put16(&f, 0);	/* length, below */
	put32(&f, 0xdeadbeef);
	put32(&f, 0x00000085); /* sequence, N-PDU, next: PDU session container */
	put32(&f, 0x01000100); /* 1 word: QFI, next type 0 */
	ip = ip4(&f, 1, 5, 0, 0);
	l4 = icmp(&f, 8);
	ip4_done(&f, ip);
	set16(&f, gtp + 2, (uint16_t)(f.n - gtp - 8));
	udp_done(&f, oudp);
	ip6_done(&f, oip);
	f.need = l4; /* ICMP has no ports: the IP header is all that is needed */

	check_tunnel_frame(&f, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 1, 0, 0);
	assert_int_equal(p.tun, DV_PKT_T_TUNNEL);
	expect_tunnel(&p, kinds, 1, 6);
	assert_memory_equal(last_tun.outer_src, SRC6, 16);
	assert_int_equal(last_tun.frame_len, 0);
	/* An echo request (signalling) is the outer flow between the GTP-U endpoints. */
	f.b[gtp + 1] = 1;
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	expect_v6(&p);
	expect_ports(&p, 17, 2152, 2152);
	assert_int_equal(p.tun, 0);
}

/* MPLS, then GRE carrying IPv4, then IPv4 in IPv4: three steps, the
 * endpoints those of the first IP tunnel (the GRE packet's). With a depth
 * limit of 2 the frame is too deep. GRE routing is malformed; GRE version 1
 * (PPTP) and an outer fragment are the outer flow. */
static void test_nesting_depth_and_bad_gre(void **state)
{
	static const uint8_t kinds[] = {DV_TUN_MPLS, DV_TUN_GRE, DV_TUN_IPIP};
	struct frame f = {0};
	struct dv_pkt p;
	struct dv_decap_cfg dc;
	uint32_t gip, gre, mid, ip, l4;

	(void)state;
	link_eth(&f, 0x8847);
	put32(&f, 100u << 12 | 1u << 8 | 64);
	gip = outer4(&f, 47, 0);
	gre = f.n;
	put16(&f, 0x2000); /* K: a key, per direction, not kept */
	put16(&f, 0x0800);
	put32(&f, 0xabcdef01);
	mid = ip4(&f, 4, 2, 0, 0);
	ip = ip4(&f, 17, 3, 0, 0);
	l4 = udp(&f, 7, 9, 2);
	ip4_done(&f, ip);
	ip4_done(&f, mid);
	ip4_done(&f, gip);
	f.need = l4 + UDP_NEED;

	check_tunnel_frame(&f, DV_PARSE_OK, &p);
	expect_v4(&p);
	expect_ports(&p, 17, 7, 9);
	assert_int_equal(p.tun, DV_PKT_T_TUNNEL); /* a GRE key is no VNI */
	expect_tunnel(&p, kinds, 3, 4);
	assert_int_equal(last_tun.frame_len, 0);

	dv_decap_cfg_default(&dc);
	dc.max_depth = 2;
	test_decap = &dc;
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_TOO_DEEP);
	test_decap = &test_decap_default;

	f.b[gre] |= 0x40; /* routing present: refused, the outer GRE flow (after MPLS) */
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	expect_ports(&p, 47, 0, 0);
	assert_memory_equal(p.src, OUT_SRC4, 4);
	assert_int_equal(p.tun, DV_PKT_T_TUNNEL | DV_PKT_T_BAD);
	f.b[gre] = 0x20;
	f.b[gre + 1] = 0x01; /* version 1 */
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	expect_ports(&p, 47, 0, 0);
	assert_memory_equal(p.src, OUT_SRC4, 4);
	f.b[gre + 1] = 0;
	set16(&f, gip + 6, 0x2000); /* more fragments: not opened */
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &p), DV_PARSE_OK);
	expect_ports(&p, 47, 0, 0);
	assert_int_equal(p.frag, DV_FRAG_FIRST);
	assert_int_equal(p.tun & DV_PKT_T_VNI, 0);
}

static void test_addr_hash(void **state)
{
	struct frame f = {0}, g = {0};
	struct dv_pkt a, b, c;
	uint32_t ip;

	(void)state;
	build_eth_v4_udp(&f);
	assert_int_equal(parse_exact(f.b, f.n, DV_LINK_ETHERNET, &a), DV_PARSE_OK);
	b = a;
	swap_sides(&b);
	assert_int_equal(dv_pkt_addr_hash(&a), dv_pkt_addr_hash(&b));

	/* ports, protocol and fragment position do not move a packet */
	c = a;
	c.sport = 1;
	c.dport = 2;
	c.proto = 6;
	c.frag = DV_FRAG_LATER;
	assert_int_equal(dv_pkt_addr_hash(&a), dv_pkt_addr_hash(&c));

	/* a different address does (for this pair; CRC collisions are possible in general) */
	c = a;
	c.dst[3] ^= 1;
	assert_int_not_equal(dv_pkt_addr_hash(&a), dv_pkt_addr_hash(&c));

	/* the VLAN is part of it; untagged differs from tagged id 0 */
	c = a;
	c.vlan = DV_PKT_VLAN_TAGGED | 0;
	assert_int_not_equal(dv_pkt_addr_hash(&a), dv_pkt_addr_hash(&c));
	b = c;
	b.vlan = DV_PKT_VLAN_TAGGED | 100;
	assert_int_not_equal(dv_pkt_addr_hash(&b), dv_pkt_addr_hash(&c));
	swap_sides(&b);
	c = b;
	swap_sides(&c);
	assert_int_equal(dv_pkt_addr_hash(&b), dv_pkt_addr_hash(&c));

	/* IPv6, and a packet to itself (src == dst) */
	build_eth_v6_tcp(&g);
	assert_int_equal(parse_exact(g.b, g.n, DV_LINK_ETHERNET, &a), DV_PARSE_OK);
	b = a;
	swap_sides(&b);
	assert_int_equal(dv_pkt_addr_hash(&a), dv_pkt_addr_hash(&b));
	memcpy(b.dst, b.src, 16);
	c = b;
	swap_sides(&c);
	assert_int_equal(dv_pkt_addr_hash(&b), dv_pkt_addr_hash(&c));

	/* first and later fragment of one datagram, both parsed from bytes */
	struct frame h = {0}, k = {0};

	link_eth(&h, 0x0800);
	ip = ip4(&h, 17, 5, 0x2000, 0);
	udp(&h, 1, 2, 8);
	ip4_done(&h, ip);
	link_eth(&k, 0x0800);
	ip = ip4(&k, 17, 5, 2, 0);
	put_fill(&k, 0, 8);
	ip4_done(&k, ip);
	assert_int_equal(parse_exact(h.b, h.n, DV_LINK_ETHERNET, &a), DV_PARSE_OK);
	assert_int_equal(parse_exact(k.b, k.n, DV_LINK_ETHERNET, &b), DV_PARSE_OK);
	assert_int_equal(dv_pkt_addr_hash(&a), dv_pkt_addr_hash(&b));
}

/* ---------------------------------------------------------------------------
 * Fuzz: seeded, bounded, every link type. parse_exact() checks the
 * invariants and (under ASan/valgrind) every read.
 */

static const int all_linktypes[] = {DV_LINK_NULL, DV_LINK_ETHERNET, DV_LINK_RAW,  DV_LINK_LOOP,
				    DV_LINK_SLL,  DV_LINK_IPV4,	    DV_LINK_IPV6, DV_LINK_SLL2};
#define N_LINKTYPES (sizeof(all_linktypes) / sizeof(all_linktypes[0]))

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: enough to spread bytes, and reproducible */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static void test_fuzz_random_bytes(void **state)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;
	uint8_t buf[256];
	struct dv_pkt p;
	unsigned counts[3] = {0};

	(void)state;
	for (unsigned i = 0; i < 20000; i++) {
		uint32_t len = rng_next(&s) % sizeof(buf);
		int lt = all_linktypes[rng_next(&s) % N_LINKTYPES];

		for (uint32_t j = 0; j < len; j++)
			buf[j] = (uint8_t)rng_next(&s);
		/* make IP likely enough to reach the deeper layers */
		if (len > 20 && (rng_next(&s) & 1)) {
			if (lt == DV_LINK_ETHERNET) {
				buf[12] = rng_next(&s) & 1 ? 0x08 : 0x86;
				buf[13] = buf[12] == 0x08 ? 0x00 : 0xdd;
			} else if (lt == DV_LINK_RAW) {
				buf[0] = (buf[0] & 0x0f) | (rng_next(&s) & 1 ? 0x40 : 0x60);
			}
		}
		counts[parse_exact(buf, len, lt, &p)]++;
	}
	print_message("random bytes: %u ok, %u non-ip, %u malformed\n", counts[0], counts[1],
		      counts[2]);
	assert_true(counts[DV_PARSE_OK] > 0);
}

/* Mutate valid frames of every shape: flips, cuts and header-shaped bytes. */
static void test_fuzz_mutations(void **state)
{
	struct frame seeds[8];
	int seed_lt[8];
	unsigned nseeds = 0;
	uint64_t s = 42;
	unsigned counts[3] = {0};
	struct dv_pkt p;
	uint32_t ip;

	(void)state;
	memset(seeds, 0, sizeof(seeds));
	build_eth_v4_udp(&seeds[nseeds]);
	seed_lt[nseeds++] = DV_LINK_ETHERNET;
	build_eth_v6_tcp(&seeds[nseeds]);
	seed_lt[nseeds++] = DV_LINK_ETHERNET;

	struct frame *f = &seeds[nseeds];

	link_eth(f, 0x88a8);
	vlan_tag(f, 1, 0x8100);
	vlan_tag(f, 2, 0x86dd);
	ip = ip6(f, 0);
	ext6(f, 44, 0);
	frag6(f, 60, 0, 1, 1);
	ext6(f, 6, 0);
	tcp(f, 1, 2, 2, 5);
	ip6_done(f, ip);
	seed_lt[nseeds++] = DV_LINK_ETHERNET;

	f = &seeds[nseeds];
	link_sll(f, 0x0800);
	ip = ip4(f, 6, 1, 0x2000, 3);
	tcp(f, 1, 2, 2, 5);
	ip4_done(f, ip);
	seed_lt[nseeds++] = DV_LINK_SLL;

	f = &seeds[nseeds];
	link_sll2(f, 0x86dd);
	ip = ip6(f, 43);
	ext6(f, 132, 1);
	put_fill(f, 1, 12);
	ip6_done(f, ip);
	seed_lt[nseeds++] = DV_LINK_SLL2;

	f = &seeds[nseeds];
	link_af(f, 30, 1);
	ip = ip6(f, 44);
	frag6(f, 17, 0, 0, 9);
	udp(f, 1, 2, 0);
	ip6_done(f, ip);
	seed_lt[nseeds++] = DV_LINK_NULL;

	f = &seeds[nseeds];
	ip = ip4(f, 17, 1, 0, 10);
	udp(f, 1, 2, 0);
	ip4_done(f, ip);
	seed_lt[nseeds++] = DV_LINK_RAW;

	f = &seeds[nseeds];
	link_af(f, 2, 0);
	ip = ip4(f, 1, 1, 0, 0);
	icmp(f, 8);
	ip4_done(f, ip);
	seed_lt[nseeds++] = DV_LINK_LOOP;

	for (unsigned i = 0; i < 40000; i++) {
		unsigned k = rng_next(&s) % nseeds;
		struct frame m = seeds[k];
		unsigned flips = 1 + rng_next(&s) % 4;

		for (unsigned j = 0; j < flips; j++) {
			uint32_t at = rng_next(&s) % m.n;
			static const uint8_t magic[] = {0x00, 0xff, 0x45, 0x60, 0x2c,
							0x3c, 0x2b, 0x81, 0x20, 0x05};

			if (rng_next(&s) & 1)
				m.b[at] = magic[rng_next(&s) % sizeof(magic)];
			else
				m.b[at] ^= (uint8_t)(1u << (rng_next(&s) % 8));
		}
		uint32_t len = rng_next(&s) & 1 ? m.n : rng_next(&s) % (m.n + 1);
		int lt = rng_next(&s) % 8 ? seed_lt[k] : all_linktypes[rng_next(&s) % N_LINKTYPES];

		counts[parse_exact(m.b, len, lt, &p)]++;
	}
	print_message("mutations: %u ok, %u non-ip, %u malformed\n", counts[0], counts[1],
		      counts[2]);
	assert_true(counts[DV_PARSE_OK] > 0 && counts[DV_PARSE_MALFORMED] > 0);
}

/*
 * The fast path's edges: Ethernet/IPv4/TCP and UDP frames (with padding,
 * options, DF) whose link, IP and transport header bytes are set to values
 * near each of its conditions (ethertype, version and IHL, fragment bits,
 * protocol, total length, data offset) and cut at every length around the
 * headers. parse_exact() checks each result against dv_parse_general().
 */
static void test_fast_path_equals_general(void **state)
{
	struct frame seeds[4];
	uint64_t s = 7;
	unsigned counts[3] = {0};
	struct dv_pkt p;
	uint32_t ip;
	/* offsets of the bytes the fast path decides on, and values to put there */
	static const uint8_t at[] = {12, 13, 14, 16, 17, 20, 21, 23, 46, 47};
	static const uint8_t vals[] = {0x00, 0x01, 0x06, 0x08, 0x11, 0x14, 0x1c, 0x20, 0x27,
				       0x28, 0x3f, 0x40, 0x45, 0x46, 0x50, 0x55, 0x86, 0xff};

	(void)state;
	memset(seeds, 0, sizeof(seeds));
	build_eth_v4_udp(&seeds[0]);
	link_eth(&seeds[1], 0x0800);
	ip = ip4(&seeds[1], 6, 7, 0x4000, 0);
	tcp(&seeds[1], 443, 50000, 0x10, 5);
	ip4_done(&seeds[1], ip);
	link_eth(&seeds[2], 0x0800);
	ip = ip4(&seeds[2], 6, 8, 0, 0);
	tcp(&seeds[2], 1, 2, 0x02, 8);
	put_fill(&seeds[2], 0, 10);
	ip4_done(&seeds[2], ip);
	link_eth(&seeds[3], 0x0800); /* a short datagram in a padded frame */
	ip = ip4(&seeds[3], 17, 9, 0, 0);
	udp(&seeds[3], 7, 9, 0);
	ip4_done(&seeds[3], ip);
	put_fill(&seeds[3], 0, 60 - seeds[3].n);

	for (unsigned i = 0; i < 60000; i++) {
		struct frame m = seeds[rng_next(&s) % 4];
		unsigned changes = rng_next(&s) % 3;

		for (unsigned j = 0; j < changes; j++)
			m.b[at[rng_next(&s) % sizeof(at)]] = vals[rng_next(&s) % sizeof(vals)];
		uint32_t len = rng_next(&s) % 3 ? m.n : 30 + rng_next(&s) % (m.n - 29);

		counts[parse_exact(m.b, len, DV_LINK_ETHERNET, &p)]++;
	}
	print_message("fast path edges: %u ok, %u non-ip, %u malformed\n", counts[0], counts[1],
		      counts[2]);
	assert_true(counts[DV_PARSE_OK] > 10000 && counts[DV_PARSE_MALFORMED] > 1000 &&
		    counts[DV_PARSE_NON_IP] > 1000);
}

/* ---------------------------------------------------------------------------
 * Payload bounds and flow context (lib/dv_parse_ctx.h)
 */

/* Ethernet (optionally one VLAN tag) + IPv4 + TCP (seq) + payload, padded
 * to pad_to bytes after the IP packet as Ethernet pads short frames. */
static void tcp_frame(struct frame *f, int vlan, uint16_t sport, uint32_t seq, uint8_t flags,
		      const uint8_t *pl, uint32_t len, uint32_t pad_to)
{
	uint32_t ip, th;

	memset(f, 0, sizeof(*f));
	if (vlan) {
		link_eth(f, 0x8100);
		vlan_tag(f, 7, 0x0800);
	} else {
		link_eth(f, 0x0800);
	}
	ip = ip4(f, 6, 1, 0, 0);
	th = tcp(f, sport, 443, flags, 5);
	f->b[th + 4] = (uint8_t)(seq >> 24);
	f->b[th + 5] = (uint8_t)(seq >> 16);
	f->b[th + 6] = (uint8_t)(seq >> 8);
	f->b[th + 7] = (uint8_t)seq;
	put_mem(f, pl, len);
	ip4_done(f, ip);
	while (f->n < pad_to)
		put8(f, 0);
}

static void test_payload_bounds(void **state)
{
	static const uint8_t data[5] = {'h', 'e', 'l', 'l', 'o'};
	struct dv_pkt p;
	struct dv_pkt_tun tun;
	struct dv_payload pl, pg;
	struct frame f;

	(void)state;
	/* The fast path's frame, padded to 60 bytes: the payload ends with the IP packet. */
	tcp_frame(&f, 0, 1234, 1, 0x18, data, 5, 64);
	assert_int_equal(dv_parse_rx_payload(f.b, f.n, DV_LINK_ETHERNET, NULL, &p, &tun, &pl),
			 DV_PARSE_OK);
	assert_int_equal(pl.off, 14 + 20 + 20);
	assert_int_equal(pl.end, 14 + 20 + 20 + 5);
	assert_int_equal(pl.l4, 14 + 20);
	assert_memory_equal(f.b + pl.off, data, 5);
	assert_int_equal(dv_parse_general_payload(f.b, f.n, DV_LINK_ETHERNET, NULL, &p, &tun, &pg),
			 DV_PARSE_OK);
	assert_memory_equal(&pl, &pg, sizeof(pl));
	/* Tagged: the general path. Cut by a snap length: the capture's end. */
	tcp_frame(&f, 1, 1234, 1, 0x18, data, 5, 0);
	assert_int_equal(dv_parse_rx_payload(f.b, f.n - 2, DV_LINK_ETHERNET, NULL, &p, &tun, &pl),
			 DV_PARSE_OK);
	assert_int_equal(pl.off, 18 + 20 + 20);
	assert_int_equal(pl.end, 18 + 20 + 20 + 3);
	/* UDP: after its 8 bytes, within its own length. */
	memset(&f, 0, sizeof(f));
	link_eth(&f, 0x0800);
	uint32_t ip = ip4(&f, 17, 1, 0, 0);
	udp(&f, 5000, 53, 12);
	ip4_done(&f, ip);
	f.b[14 + 20 + 5] = 8 + 10; /* the datagram says 10 bytes of payload */
	assert_int_equal(dv_parse_rx_payload(f.b, f.n, DV_LINK_ETHERNET, NULL, &p, &tun, &pl),
			 DV_PARSE_OK);
	assert_int_equal(pl.off, 14 + 20 + 8);
	assert_int_equal(pl.end, 14 + 20 + 8 + 10);
}

/* A ClientHello for `name` whose SNI extension follows `pad` bytes of a
 * padding extension (RFC 7685), as one TLS record; returns its length. */
static uint32_t client_hello(uint8_t *b, const char *name, uint32_t pad)
{
	uint32_t n = 0, nl = (uint32_t)strlen(name), ext, hs;

#define P8(v)  (b[n++] = (uint8_t)(v))
#define P16(v) (P8((v) >> 8), P8(v))
	P8(22), P16(0x0301), P16(0); /* record: handshake, length later */
	hs = n;
	P8(1), P8(0), P16(0); /* ClientHello, 24-bit length later */
	P16(0x0303);
	for (int i = 0; i < 32; i++)
		P8(i); /* random */
	P8(0);	       /* session id */
	P16(2), P16(0x1301);
	P8(1), P8(0); /* compression: null */
	ext = n;
	P16(0);
	P16(0x0015), P16(pad); /* padding */
	for (uint32_t i = 0; i < pad; i++)
		P8(0);
	P16(0x0000), P16(nl + 5), P16(nl + 3), P8(0), P16(nl); /* server_name */
	memcpy(b + n, name, nl);
	n += nl;
#undef P8
#undef P16
	b[ext] = (uint8_t)((n - ext - 2) >> 8);
	b[ext + 1] = (uint8_t)(n - ext - 2);
	b[hs + 2] = (uint8_t)((n - hs - 4) >> 8);
	b[hs + 3] = (uint8_t)(n - hs - 4);
	b[3] = (uint8_t)((n - 5) >> 8);
	b[4] = (uint8_t)(n - 5);
	return n;
}

/* Parse frame f and read its context. */
static int read_ctx(struct dv_parse_ctx *pc, const struct frame *f, uint64_t ts,
		    struct dv_pkt_ctx *c)
{
	struct dv_pkt p;
	struct dv_pkt_tun tun;
	struct dv_payload pl;

	assert_int_equal(dv_parse_rx_payload(f->b, f->n, DV_LINK_ETHERNET, NULL, &p, &tun, &pl),
			 DV_PARSE_OK);
	p.ts_ns = ts;
	return dv_parse_ctx_read(pc, &p, f->b, &pl, c);
}

/* The SNI of a ClientHello cut in two TCP segments; a retransmission of the
 * first is skipped, a gap ends the wait. */
static void test_ctx_clienthello_two_segments(void **state)
{
	static uint8_t hello[2048];
	uint32_t n = client_hello(hello, "two.example.net", 1200), cut = 1000;
	struct dv_parse_ctx *pc = dv_parse_ctx_create(120000000000ULL);
	struct dv_pkt_ctx c;
	struct frame f1, f2, gap;

	(void)state;
	assert_non_null(pc);
	assert_true(n > cut + 200); /* the name is in the second segment */
	tcp_frame(&f1, 0, 40000, 7000, 0x18, hello, cut, 0);
	tcp_frame(&f2, 0, 40000, 7000 + cut, 0x18, hello + cut, n - cut, 0);
	tcp_frame(&gap, 0, 40000, 7000 + cut + 1, 0x18, hello + cut + 1, n - cut - 1, 0);
	assert_int_equal(read_ctx(pc, &f1, 1, &c), 0);
	assert_int_equal(read_ctx(pc, &f1, 2, &c), 0); /* retransmitted */
	assert_int_equal(read_ctx(pc, &f2, 3, &c), 1);
	assert_int_equal(c.kind, DV_PCTX_SERVER_NAME);
	assert_string_equal(c.text, "two.example.net");
	assert_int_equal(c.len, 15);
	assert_int_equal(c.n_el, 1); /* 8 + 15 + 1 bytes */
	assert_int_equal(dv_parse_ctx_stats(pc)->reasm, 1);
	/* A new connection on the same ports (its SYN): a gap ends the wait. */
	tcp_frame(&gap, 0, 40000, 1, 0x02, NULL, 0, 0);
	assert_int_equal(read_ctx(pc, &gap, 4, &c), 0);
	assert_int_equal(read_ctx(pc, &f1, 5, &c), 0);
	tcp_frame(&gap, 0, 40000, 7000 + cut + 1, 0x18, hello + cut + 1, n - cut - 1, 0);
	assert_int_equal(read_ctx(pc, &gap, 6, &c), 0);
	assert_int_equal(read_ctx(pc, &f2, 7, &c), 0); /* no longer waited for */
	dv_parse_ctx_free(pc);
}

/* More ClientHellos waiting than the store holds: the new one is not
 * followed (counted), nothing breaks. */
static void test_ctx_reasm_store_full(void **state)
{
	static uint8_t hello[2048];
	uint32_t n = client_hello(hello, "full.example", 1200);
	struct dv_parse_ctx *pc = dv_parse_ctx_create(0);
	struct dv_pkt_ctx c;
	struct frame f;

	(void)state;
	for (uint16_t i = 0; i <= DV_PCTX_REASM; i++) {
		tcp_frame(&f, 0, (uint16_t)(30000 + i), 1, 0x18, hello, 500, 0);
		assert_int_equal(read_ctx(pc, &f, 10, &c), 0);
	}
	assert_int_equal(dv_parse_ctx_stats(pc)->reasm_full, 1);
	/* The first 16 are still followed; the 17th is not. */
	tcp_frame(&f, 0, 30000, 501, 0x18, hello + 500, n - 500, 0);
	assert_int_equal(read_ctx(pc, &f, 11, &c), 1);
	assert_string_equal(c.text, "full.example");
	tcp_frame(&f, 0, 30000 + DV_PCTX_REASM, 501, 0x18, hello + 500, n - 500, 0);
	assert_int_equal(read_ctx(pc, &f, 12, &c), 0);
	dv_parse_ctx_free(pc);
}

/* A ClientHello is read DV_PCTX_LOOKS times per direction, then no more
 * until the direction starts again (a client's SYN, or a gap of the idle
 * timeout). */
static void test_ctx_look_limit(void **state)
{
	static uint8_t hello[512];
	uint32_t n = client_hello(hello, "look.example", 10);
	struct dv_parse_ctx *pc = dv_parse_ctx_create(120000000000ULL);
	struct dv_pkt_ctx c;
	struct frame f, syn, synack;

	(void)state;
	tcp_frame(&f, 0, 40000, 1, 0x18, hello, n, 0);
	tcp_frame(&syn, 0, 40000, 1, 0x02, NULL, 0, 0);
	tcp_frame(&synack, 0, 40000, 1, 0x12, NULL, 0, 0);
	for (int i = 0; i < DV_PCTX_LOOKS; i++)
		assert_int_equal(read_ctx(pc, &f, 1000000000ULL, &c), 1);
	assert_int_equal(read_ctx(pc, &f, 2000000000ULL, &c), 0);
	assert_int_equal(read_ctx(pc, &syn, 3000000000ULL, &c), 0);
	assert_int_equal(read_ctx(pc, &f, 4000000000ULL, &c), 1); /* after the SYN */
	for (int i = 1; i < DV_PCTX_LOOKS; i++)
		assert_int_equal(read_ctx(pc, &f, 5000000000ULL, &c), 1);
	assert_int_equal(read_ctx(pc, &f, 6000000000ULL, &c), 0);
	/* A SYN-ACK is a server's: it starts nothing. */
	assert_int_equal(read_ctx(pc, &synack, 7000000000ULL, &c), 0);
	assert_int_equal(read_ctx(pc, &f, 8000000000ULL, &c), 0);
	/* Silent for the idle timeout: a new flow on the same ports. */
	assert_int_equal(read_ctx(pc, &f, 130000000000ULL, &c), 1);
	assert_string_equal(c.text, "look.example");
	dv_parse_ctx_free(pc);
}

/* DNS over UDP and TCP (2-byte length first), read every time; a response
 * cut after its flags still gives its code. */
static void test_ctx_dns(void **state)
{
	/* A query for www.example.com, type A (RFC 1035 4.1). */
	static const uint8_t q[] = {0x12, 0x34, 0x01, 0x00, 0,	 1,   0,   0,	0,   0,	  0,
				    0,	  3,	'w',  'w',  'w', 7,   'e', 'x', 'a', 'm', 'p',
				    'l',  'e',	3,    'c',  'o', 'm', 0,   0,	1,   0,	  1};
	uint8_t tq[2 + sizeof(q)];
	struct dv_parse_ctx *pc = dv_parse_ctx_create(0);
	struct dv_pkt_ctx c;
	struct frame f;
	uint32_t ip;

	(void)state;
	memset(&f, 0, sizeof(f));
	link_eth(&f, 0x0800);
	ip = ip4(&f, 17, 1, 0, 0);
	udp(&f, 5000, 53, 0);
	put_mem(&f, q, sizeof(q));
	f.b[ip + 20 + 5] = (uint8_t)(8 + sizeof(q));
	ip4_done(&f, ip);
	for (int i = 0; i < 2 * DV_PCTX_LOOKS; i++) { /* every DNS message is read */
		assert_int_equal(read_ctx(pc, &f, 1, &c), 1);
		assert_int_equal(c.kind, DV_PCTX_DNS);
		assert_int_equal(c.flags, DV_PCTX_F_NAME);
		assert_string_equal(c.text, "www.example.com");
	}
	tq[0] = 0;
	tq[1] = sizeof(q);
	memcpy(tq + 2, q, sizeof(q));
	tq[2 + 2] |= 0x80; /* a response ... */
	tq[2 + 3] = 3;	   /* ... NXDOMAIN */
	tcp_frame(&f, 0, 53, 1, 0x18, tq, sizeof(tq), 0);
	assert_int_equal(read_ctx(pc, &f, 1, &c), 1);
	assert_int_equal(c.flags, DV_PCTX_F_NAME | DV_PCTX_F_RESPONSE);
	assert_int_equal(c.rcode, 3);
	assert_string_equal(c.text, "www.example.com");
	/* Cut by the snap length after ID and flags: the code, no name. */
	tcp_frame(&f, 0, 53, 1, 0x18, tq, 2 + 4, 0);
	assert_int_equal(read_ctx(pc, &f, 1, &c), 1);
	assert_int_equal(c.flags, DV_PCTX_F_RESPONSE);
	assert_int_equal(c.rcode, 3);
	tcp_frame(&f, 0, 53, 1, 0x18, tq, 2 + 3, 0);
	assert_int_equal(read_ctx(pc, &f, 1, &c), 0);
	dv_parse_ctx_free(pc);
}

int main(void)
{
	dv_decap_cfg_default(&test_decap_default);
	test_decap = &test_decap_default;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_eth_ipv4_tcp),
	    cmocka_unit_test(test_eth_ipv4_tcp_all_flags),
	    cmocka_unit_test(test_eth_ipv4_udp),
	    cmocka_unit_test(test_eth_ipv4_icmp),
	    cmocka_unit_test(test_eth_ipv4_sctp),
	    cmocka_unit_test(test_eth_ipv6_tcp),
	    cmocka_unit_test(test_eth_icmpv6),
	    cmocka_unit_test(test_vlan_single),
	    cmocka_unit_test(test_vlan_id_zero_is_tagged),
	    cmocka_unit_test(test_qinq_two_tags),
	    cmocka_unit_test(test_qinq_three_tags),
	    cmocka_unit_test(test_sll),
	    cmocka_unit_test(test_sll_vlan),
	    cmocka_unit_test(test_sll2),
	    cmocka_unit_test(test_sll2_vlan),
	    cmocka_unit_test(test_raw_ip),
	    cmocka_unit_test(test_null_both_orders),
	    cmocka_unit_test(test_loop),
	    cmocka_unit_test(test_linktype_supported),
	    cmocka_unit_test(test_ipv4_options),
	    cmocka_unit_test(test_ipv4_bad_ihl),
	    cmocka_unit_test(test_bad_version),
	    cmocka_unit_test(test_ipv4_total_length),
	    cmocka_unit_test(test_ipv4_ethernet_padding),
	    cmocka_unit_test(test_ipv4_frag_first),
	    cmocka_unit_test(test_ipv4_not_fragment_flags),
	    cmocka_unit_test(test_ipv4_frag_later),
	    cmocka_unit_test(test_ipv4_frag_later_tcp_flags_zero),
	    cmocka_unit_test(test_ipv6_ext_chain),
	    cmocka_unit_test(test_ipv6_ext_cap),
	    cmocka_unit_test(test_ipv6_ext_overruns_payload),
	    cmocka_unit_test(test_ipv6_frag_first),
	    cmocka_unit_test(test_ipv6_frag_later),
	    cmocka_unit_test(test_ipv6_frag_later_next_is_ext),
	    cmocka_unit_test(test_ipv6_atomic_fragment),
	    cmocka_unit_test(test_portless_protocols_v4),
	    cmocka_unit_test(test_portless_protocols_v6),
	    cmocka_unit_test(test_tcp_bad_data_offset),
	    cmocka_unit_test(test_non_ip),
	    cmocka_unit_test(test_mpls_ipv4),
	    cmocka_unit_test(test_mpls_pseudowire),
	    cmocka_unit_test(test_pppoe),
	    cmocka_unit_test(test_fabricpath),
	    cmocka_unit_test(test_vxlan),
	    cmocka_unit_test(test_erspan2),
	    cmocka_unit_test(test_gtpu_extension),
	    cmocka_unit_test(test_nesting_depth_and_bad_gre),
	    cmocka_unit_test(test_addr_hash),
	    cmocka_unit_test(test_fuzz_random_bytes),
	    cmocka_unit_test(test_fuzz_mutations),
	    cmocka_unit_test(test_fast_path_equals_general),
	    cmocka_unit_test(test_payload_bounds),
	    cmocka_unit_test(test_ctx_clienthello_two_segments),
	    cmocka_unit_test(test_ctx_reasm_store_full),
	    cmocka_unit_test(test_ctx_look_limit),
	    cmocka_unit_test(test_ctx_dns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
