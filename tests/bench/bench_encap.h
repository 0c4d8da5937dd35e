/*
 * bench_encap: wraps a benchmark's plain frame in the encapsulation an
 * appliance meets most (issue 16): a VXLAN overlay or cloud mirror, a GTP-U
 * user plane, a switch's ERSPAN type II session. Shared by gen_bench (the
 * --read capture) and bench_engine (in-memory frames), so both measure the
 * same bytes. Header-only, no engine code: the layouts are written from the
 * RFCs and 3GPP TS 29.281, not from lib/dv_decap.c.
 *
 * The caller writes the plain Ethernet/IPv4 frame (inner_len bytes) at
 * f + bench_encap_inner_off(e) and then calls bench_encap_wrap(), which
 * writes the outer headers in front of it and returns the wire length.
 * What differs per direction differs, as it does on real links (the flow
 * key must not depend on it):
 *
 *   vxlan   outer IPv4 VTEP 192.168.0.1 <-> 192.168.0.2 (swapped per
 *           direction), UDP source port 49152 + a hash of the flow (VTEP
 *           entropy), destination 4789, VNI 123. 50 bytes added.
 *   gtpu    outer IPv4 eNodeB 192.168.1.1 <-> gateway 192.168.1.2 (swapped),
 *           UDP 2152 -> 2152, a G-PDU with TEID 0x10000000 + flow uplink
 *           (client -> server) and 0x20000000 + flow downlink. The inner
 *           Ethernet header is replaced: GTP-U carries the IP packet. 36
 *           bytes added.
 *   erspan  outer IPv4 switch 192.168.2.1 -> appliance 192.168.2.2 (the
 *           same both ways, as a mirror sends), GRE with a sequence number
 *           (protocol 0x88BE), ERSPAN type II header with session id 1 for
 *           client -> server and 2 for server -> client. 50 bytes added.
 *
 * Outer UDP checksums are 0 (allowed over IPv4); outer IPv4 header
 * checksums are correct.
 */
#ifndef BENCH_ENCAP_H
#define BENCH_ENCAP_H

#include <stdint.h>
#include <string.h>

enum bench_encap { BENCH_PLAIN = 0, BENCH_VXLAN, BENCH_GTPU, BENCH_ERSPAN, BENCH_ENCAPS };

static const char *const bench_encap_names[BENCH_ENCAPS] = {"plain", "vxlan", "gtpu", "erspan"};

/* The encapsulation called name, or -1. */
static inline int bench_encap_by_name(const char *name)
{
	for (int e = 0; e < BENCH_ENCAPS; e++)
		if (strcmp(name, bench_encap_names[e]) == 0)
			return e;
	return -1;
}

/* Where the inner Ethernet frame starts (for GTP-U its 14-byte Ethernet
 * header is then overwritten by the outer headers). */
static inline uint32_t bench_encap_inner_off(enum bench_encap e)
{
	switch (e) {
	case BENCH_VXLAN:
	case BENCH_ERSPAN:
		return 14 + 20 + 8 + 8;
	case BENCH_GTPU:
		return 14 + 20 + 8 + 8 - 14;
	default:
		return 0;
	}
}

static inline void bench_enc_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void bench_enc_put32(uint8_t *p, uint32_t v)
{
	bench_enc_put16(p, (uint16_t)(v >> 16));
	bench_enc_put16(p + 2, (uint16_t)v);
}

/* Outer Ethernet and IPv4 (no options, DF clear, TTL 64); returns 34. */
static inline uint32_t bench_enc_outer_ip(uint8_t *f, uint32_t src, uint32_t dst, uint8_t proto,
					  uint16_t ip_len, uint16_t id)
{
	static const uint8_t macs[12] = {0x02, 0, 0, 0, 0, 0x2b, 0x02, 0, 0, 0, 0, 0x2a};
	uint8_t *ip = f + 14;
	uint32_t sum = 0;

	memcpy(f, macs, 12);
	bench_enc_put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	bench_enc_put16(ip + 2, ip_len);
	bench_enc_put16(ip + 4, id);
	ip[8] = 64;
	ip[9] = proto;
	bench_enc_put32(ip + 12, src);
	bench_enc_put32(ip + 16, dst);
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	bench_enc_put16(ip + 10, (uint16_t)~sum);
	return 34;
}

/*
 * Write the outer headers of encapsulation e in front of the inner frame of
 * inner_len bytes at f + bench_encap_inner_off(e). flow is the flow's
 * number, rev 1 for the server -> client direction, seq a packet counter
 * (IP id, GRE sequence). Returns the wire length.
 */
static inline uint32_t bench_encap_wrap(uint8_t *f, enum bench_encap e, uint32_t inner_len,
					uint32_t flow, int rev, uint32_t seq)
{
	uint32_t off = bench_encap_inner_off(e), a, b;
	uint32_t payload =
	    e == BENCH_GTPU ? inner_len - 14 : inner_len; /* after the tunnel header */
	uint8_t *p;

	switch (e) {
	case BENCH_VXLAN:
		a = 0xc0a80001u, b = 0xc0a80002u; /* 192.168.0.1, .2 */
		bench_enc_outer_ip(f, rev ? b : a, rev ? a : b, 17, (uint16_t)(20 + 16 + payload),
				   (uint16_t)seq);
		p = f + 34;
		bench_enc_put16(p, (uint16_t)(49152 + ((flow * 2654435761u) >> 18)));
		bench_enc_put16(p + 2, 4789);
		bench_enc_put16(p + 4, (uint16_t)(16 + payload));
		bench_enc_put16(p + 6, 0);
		memset(p + 8, 0, 8);
		p[8] = 0x08; /* I: the VNI is valid */
		p[12] = 0, p[13] = 0, p[14] = 123;
		break;
	case BENCH_GTPU:
		a = 0xc0a80101u, b = 0xc0a80102u; /* 192.168.1.1 eNodeB, .2 gateway */
		bench_enc_outer_ip(f, rev ? b : a, rev ? a : b, 17, (uint16_t)(20 + 16 + payload),
				   (uint16_t)seq);
		p = f + 34;
		bench_enc_put16(p, 2152);
		bench_enc_put16(p + 2, 2152);
		bench_enc_put16(p + 4, (uint16_t)(16 + payload));
		bench_enc_put16(p + 6, 0);
		p[8] = 0x30; /* version 1, protocol type GTP, no E, S, PN */
		p[9] = 0xff; /* G-PDU */
		bench_enc_put16(p + 10, (uint16_t)payload);
		bench_enc_put32(p + 12, (rev ? 0x20000000u : 0x10000000u) + flow);
		break;
	case BENCH_ERSPAN:
		a = 0xc0a80201u, b = 0xc0a80202u; /* switch 192.168.2.1 -> appliance .2 */
		bench_enc_outer_ip(f, a, b, 47, (uint16_t)(20 + 16 + payload), (uint16_t)seq);
		p = f + 34;
		bench_enc_put16(p, 0x1000); /* S: a sequence number follows */
		bench_enc_put16(p + 2, 0x88be);
		bench_enc_put32(p + 4, seq);
		/* ERSPAN II: version 1, VLAN 0 | COS 0, En 0, T 0, session | index 0 */
		bench_enc_put16(p + 8, 0x1000);
		bench_enc_put16(p + 10, (uint16_t)(rev ? 2 : 1));
		bench_enc_put32(p + 12, 0);
		break;
	default:
		return inner_len;
	}
	return off + inner_len;
}

#endif
