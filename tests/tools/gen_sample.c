/*
 * gen_sample: writes the bundled sample capture, tests/fixtures/sample.pcap.
 *
 *   gen_sample OUT.pcap
 *
 * Every frame is built here byte by byte, so the capture is deterministic and
 * a test can regenerate it and compare with the committed copy. It holds one
 * small example of each case SPEC section 2 names: TCP with FIN both ways,
 * TCP ended by RST, DNS, ICMP and ICMPv6 echo, IPv6 TCP, an 802.1Q and a QinQ
 * flow, an IPv4 datagram in three fragments (in order: the later fragments
 * take the first one's ports), an IPv6 datagram in two fragments sent last
 * fragment first (so the later fragment counts with ports 0), an ARP frame,
 * one truncated IPv4 header, and 12 s later an unanswered DNS query. Checksums are correct
 * everywhere but in the truncated frame, which has no room for them.
 *
 * The capture is Ethernet with microsecond timestamps starting at
 * 2024-05-01T12:00:00Z. The file header is written by libpcap in host byte
 * order, so the committed file matches a fresh one on little-endian hosts.
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <pcap/pcap.h>

#include "pktbuild.h"

#define DV_SAMPLE_EPOCH 1714564800ull /* 2024-05-01T12:00:00Z */

/* Where frames go and the capture clock. */
struct dv_gen {
	pcap_dumper_t *dumper;
	uint64_t t_us; /* microseconds since DV_SAMPLE_EPOCH */
	unsigned int frames;
};

/* Side of a conversation that sends a frame. */
enum dv_side { DV_A = 0, DV_B = 1 };

/*
 * Two endpoints talking over one L2 path. Side A is the initiator. The TCP
 * sequence state lets each segment carry plausible seq/ack numbers.
 */
struct dv_conv {
	int family; /* 4 or 6 */
	uint8_t ip[2][16];
	uint8_t mac[2][6];
	uint16_t port[2];
	uint8_t proto;
	int ntags;
	uint16_t tpids[2];
	uint16_t tcis[2];
	uint16_t ip_id[2]; /* next IPv4 identification per side */
	uint32_t nxt[2];   /* next TCP sequence number per side */
};

static const uint8_t dv_mac_host[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t dv_mac_gw[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0xfe};

static void dv_emit(struct dv_gen *g, const uint8_t *frame, size_t len, unsigned int gap_us)
{
	struct pcap_pkthdr h;

	g->t_us += gap_us;
	memset(&h, 0, sizeof(h));
	h.ts.tv_sec = (time_t)(DV_SAMPLE_EPOCH + g->t_us / 1000000);
	h.ts.tv_usec = (suseconds_t)(g->t_us % 1000000);
	h.caplen = (bpf_u_int32)len;
	h.len = (bpf_u_int32)len;
	pcap_dump((u_char *)g->dumper, &h, frame);
	g->frames++;
}

static void dv_conv_init(struct dv_conv *c, int family, const char *a, const char *b, uint8_t proto,
			 uint16_t pa, uint16_t pb)
{
	memset(c, 0, sizeof(*c));
	c->family = family;
	if (family == 4) {
		sscanf(a, "%hhu.%hhu.%hhu.%hhu", &c->ip[0][0], &c->ip[0][1], &c->ip[0][2],
		       &c->ip[0][3]);
		sscanf(b, "%hhu.%hhu.%hhu.%hhu", &c->ip[1][0], &c->ip[1][1], &c->ip[1][2],
		       &c->ip[1][3]);
	} else {
		/* Documentation prefix 2001:db8::/32; only the last byte varies. */
		static const uint8_t pfx[4] = {0x20, 0x01, 0x0d, 0xb8};
		memcpy(c->ip[0], pfx, 4);
		memcpy(c->ip[1], pfx, 4);
		c->ip[0][15] = (uint8_t)a[0];
		c->ip[1][15] = (uint8_t)b[0];
	}
	memcpy(c->mac[0], dv_mac_host, 6);
	memcpy(c->mac[1], dv_mac_gw, 6);
	c->proto = proto;
	c->port[0] = pa;
	c->port[1] = pb;
	c->ip_id[0] = 0x1000;
	c->ip_id[1] = 0x2000;
}

/* L2 + L3 header in front of an L4 message of l4_len bytes. Returns its length. */
static size_t dv_conv_l23(struct dv_conv *c, enum dv_side s, uint8_t *p, size_t l4_len)
{
	size_t off;

	off = dv_put_eth(p, c->mac[!s], c->mac[s], c->tpids, c->tcis, c->ntags,
			 c->family == 4 ? DV_ETH_IPV4 : DV_ETH_IPV6);
	if (c->family == 4)
		off += dv_put_ipv4(p + off, c->ip[s], c->ip[!s], c->proto, c->ip_id[s]++, 0,
				   (uint16_t)l4_len, 64);
	else
		off += dv_put_ipv6(p + off, c->ip[s], c->ip[!s], c->proto, (uint16_t)l4_len, 64);
	return off;
}

static void dv_l4_csum(struct dv_conv *c, enum dv_side s, uint8_t *l4, size_t len, size_t csum_off)
{
	uint32_t sum = 0;

	if (c->family == 6 || c->proto != 1) /* ICMPv4 has no pseudo-header */
		sum = dv_pseudo_sum(c->family, c->ip[s], c->ip[!s], c->proto, (uint32_t)len);
	dv_put16(l4 + csum_off, 0);
	sum = dv_csum_add(sum, l4, len);
	dv_put16(l4 + csum_off, dv_csum_fold(sum));
	/* UDP sends a computed 0 as 0xffff; 0 would mean "no checksum". */
	if (c->proto == 17 && l4[csum_off] == 0 && l4[csum_off + 1] == 0)
		dv_put16(l4 + csum_off, 0xffff);
}

/* One TCP segment; SYN carries an MSS option. Advances the sender's sequence. */
static void dv_tcp(struct dv_gen *g, struct dv_conv *c, enum dv_side s, uint8_t flags,
		   const char *data, unsigned int gap_us)
{
	uint8_t f[1600];
	size_t dlen = data ? strlen(data) : 0;
	size_t hlen = (flags & DV_TCP_SYN) ? 24 : 20;
	size_t off = dv_conv_l23(c, s, f, hlen + dlen);
	uint8_t *t = f + off;

	memset(t, 0, hlen);
	dv_put16(t, c->port[s]);
	dv_put16(t + 2, c->port[!s]);
	dv_put32(t + 4, c->nxt[s]);
	dv_put32(t + 8, (flags & DV_TCP_ACK) ? c->nxt[!s] : 0);
	t[12] = (uint8_t)(hlen / 4) << 4;
	t[13] = flags;
	dv_put16(t + 14, 64240);
	if (flags & DV_TCP_SYN) {
		t[20] = 2; /* MSS */
		t[21] = 4;
		dv_put16(t + 22, c->family == 4 ? 1460 : 1440);
	}
	memcpy(t + hlen, data, dlen);
	dv_l4_csum(c, s, t, hlen + dlen, 16);
	c->nxt[s] += (uint32_t)dlen + !!(flags & DV_TCP_SYN) + !!(flags & DV_TCP_FIN);
	dv_emit(g, f, off + hlen + dlen, gap_us);
}

/* One UDP datagram with the given payload bytes. */
static void dv_udp(struct dv_gen *g, struct dv_conv *c, enum dv_side s, const uint8_t *data,
		   size_t dlen, unsigned int gap_us)
{
	uint8_t f[1600];
	size_t off = dv_conv_l23(c, s, f, 8 + dlen);
	uint8_t *u = f + off;

	dv_put16(u, c->port[s]);
	dv_put16(u + 2, c->port[!s]);
	dv_put16(u + 4, (uint16_t)(8 + dlen));
	memcpy(u + 8, data, dlen);
	dv_l4_csum(c, s, u, 8 + dlen, 6);
	dv_emit(g, f, off + 8 + dlen, gap_us);
}

/* ICMP or ICMPv6 echo (request from A, reply from B) with a 32-byte payload. */
static void dv_echo(struct dv_gen *g, struct dv_conv *c, enum dv_side s, uint16_t seq,
		    unsigned int gap_us)
{
	uint8_t f[256];
	size_t off = dv_conv_l23(c, s, f, 8 + 32);
	uint8_t *m = f + off;
	int i;

	if (c->family == 4)
		m[0] = s == DV_A ? 8 : 0;
	else
		m[0] = s == DV_A ? 128 : 129;
	m[1] = 0;
	dv_put16(m + 4, 0x04d2);
	dv_put16(m + 6, seq);
	for (i = 0; i < 32; i++)
		m[8 + i] = (uint8_t)('a' + i % 23);
	dv_l4_csum(c, s, m, 8 + 32, 2);
	dv_emit(g, f, off + 8 + 32, gap_us);
}

/* Flow 1: HTTP-like exchange, client closes first; FIN both ways. */
static void dv_flow_http(struct dv_gen *g)
{
	struct dv_conv c;

	dv_conv_init(&c, 4, "10.0.0.1", "192.0.2.10", 6, 40001, 80);
	c.nxt[DV_A] = 1000;
	c.nxt[DV_B] = 5000;
	dv_tcp(g, &c, DV_A, DV_TCP_SYN, NULL, 1000);
	dv_tcp(g, &c, DV_B, DV_TCP_SYN | DV_TCP_ACK, NULL, 800);
	dv_tcp(g, &c, DV_A, DV_TCP_ACK, NULL, 200);
	dv_tcp(g, &c, DV_A, DV_TCP_PSH | DV_TCP_ACK,
	       "GET / HTTP/1.0\r\nHost: www.example.test\r\n\r\n", 100);
	dv_tcp(g, &c, DV_B, DV_TCP_ACK, NULL, 800);
	dv_tcp(g, &c, DV_B, DV_TCP_PSH | DV_TCP_ACK,
	       "HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nhello\n", 1500);
	dv_tcp(g, &c, DV_A, DV_TCP_ACK, NULL, 300);
	dv_tcp(g, &c, DV_A, DV_TCP_FIN | DV_TCP_ACK, NULL, 500);
	dv_tcp(g, &c, DV_B, DV_TCP_FIN | DV_TCP_ACK, NULL, 800);
	dv_tcp(g, &c, DV_A, DV_TCP_ACK, NULL, 300);
}

/* Flow 2: SMTP-like exchange, server talks first and closes first. */
static void dv_flow_smtp(struct dv_gen *g)
{
	struct dv_conv c;

	dv_conv_init(&c, 4, "10.0.0.2", "192.0.2.20", 6, 40002, 25);
	c.nxt[DV_A] = 2000;
	c.nxt[DV_B] = 8000;
	dv_tcp(g, &c, DV_A, DV_TCP_SYN, NULL, 10000);
	dv_tcp(g, &c, DV_B, DV_TCP_SYN | DV_TCP_ACK, NULL, 1200);
	dv_tcp(g, &c, DV_A, DV_TCP_ACK, NULL, 100);
	dv_tcp(g, &c, DV_B, DV_TCP_PSH | DV_TCP_ACK, "220 mail.example.test ESMTP\r\n", 5000);
	dv_tcp(g, &c, DV_A, DV_TCP_ACK, NULL, 200);
	dv_tcp(g, &c, DV_A, DV_TCP_PSH | DV_TCP_ACK, "QUIT\r\n", 300);
	dv_tcp(g, &c, DV_B, DV_TCP_PSH | DV_TCP_ACK, "221 2.0.0 Bye\r\n", 1200);
	dv_tcp(g, &c, DV_B, DV_TCP_FIN | DV_TCP_ACK, NULL, 50);
	dv_tcp(g, &c, DV_A, DV_TCP_FIN | DV_TCP_ACK, NULL, 400);
	dv_tcp(g, &c, DV_B, DV_TCP_ACK, NULL, 900);
}

/* Flow 3: the server refuses to talk further and resets the connection. */
static void dv_flow_rst(struct dv_gen *g)
{
	struct dv_conv c;

	dv_conv_init(&c, 4, "10.0.0.1", "192.0.2.10", 6, 40003, 22);
	c.nxt[DV_A] = 3000;
	c.nxt[DV_B] = 7000;
	dv_tcp(g, &c, DV_A, DV_TCP_SYN, NULL, 20000);
	dv_tcp(g, &c, DV_B, DV_TCP_SYN | DV_TCP_ACK, NULL, 700);
	dv_tcp(g, &c, DV_A, DV_TCP_ACK, NULL, 100);
	dv_tcp(g, &c, DV_A, DV_TCP_PSH | DV_TCP_ACK, "SSH-2.0-devourer_sample\r\n", 200);
	dv_tcp(g, &c, DV_B, DV_TCP_RST | DV_TCP_ACK, NULL, 600);
}

/* DNS query for www.example.test, type A; returns its length (33 bytes). */
static size_t dv_dns_query(uint8_t *m, uint16_t id)
{
	static const uint8_t qname[] = "\3www\7example\4test"; /* + final 0 from the literal */
	size_t n = 12;

	memset(m, 0, 12);
	dv_put16(m, id);
	dv_put16(m + 2, 0x0100); /* RD */
	dv_put16(m + 4, 1);	 /* QDCOUNT */
	memcpy(m + n, qname, sizeof(qname));
	n += sizeof(qname);
	dv_put16(m + n, 1);	/* QTYPE A */
	dv_put16(m + n + 2, 1); /* QCLASS IN */
	return n + 4;
}

/* Flow 4: DNS query and its A record answer. */
static void dv_flow_dns(struct dv_gen *g)
{
	uint8_t m[128];
	size_t n;
	struct dv_conv c;

	dv_conv_init(&c, 4, "10.0.0.1", "192.0.2.53", 17, 53001, 53);
	n = dv_dns_query(m, 0x1234);
	dv_udp(g, &c, DV_A, m, n, 30000);

	dv_put16(m + 2, 0x8180); /* QR RD RA, NOERROR */
	dv_put16(m + 6, 1);	 /* ANCOUNT */
	dv_put16(m + n, 0xc00c); /* name: pointer to the question */
	dv_put16(m + n + 2, 1);
	dv_put16(m + n + 4, 1);
	dv_put32(m + n + 6, 300); /* TTL */
	dv_put16(m + n + 10, 4);
	m[n + 12] = 192;
	m[n + 13] = 0;
	m[n + 14] = 2;
	m[n + 15] = 80;
	n += 16;
	dv_udp(g, &c, DV_B, m, n, 4000);
}

static void dv_flow_icmp(struct dv_gen *g)
{
	struct dv_conv c;

	dv_conv_init(&c, 4, "10.0.0.1", "192.0.2.1", 1, 0, 0);
	dv_echo(g, &c, DV_A, 1, 10000);
	dv_echo(g, &c, DV_B, 1, 2500);
}

/* IPv6 TCP handshake and one request, acknowledged; no close. */
static void dv_flow_tcp6(struct dv_gen *g)
{
	struct dv_conv c;

	dv_conv_init(&c, 6, "\1", "\2", 6, 40004, 80);
	c.nxt[DV_A] = 11000;
	c.nxt[DV_B] = 15000;
	dv_tcp(g, &c, DV_A, DV_TCP_SYN, NULL, 10000);
	dv_tcp(g, &c, DV_B, DV_TCP_SYN | DV_TCP_ACK, NULL, 900);
	dv_tcp(g, &c, DV_A, DV_TCP_ACK, NULL, 100);
	dv_tcp(g, &c, DV_A, DV_TCP_PSH | DV_TCP_ACK,
	       "GET /v6 HTTP/1.1\r\nHost: www.example.test\r\n\r\n", 100);
	dv_tcp(g, &c, DV_B, DV_TCP_ACK, NULL, 900);
}

static void dv_flow_icmp6(struct dv_gen *g)
{
	struct dv_conv c;

	dv_conv_init(&c, 6, "\1", "\2", 58, 0, 0);
	dv_echo(g, &c, DV_A, 7, 10000);
	dv_echo(g, &c, DV_B, 7, 1100);
}

/* UDP behind one 802.1Q tag (VLAN 100). */
static void dv_flow_vlan(struct dv_gen *g)
{
	struct dv_conv c;

	dv_conv_init(&c, 4, "10.1.0.1", "10.1.0.2", 17, 5000, 5001);
	c.ntags = 1;
	c.tpids[0] = DV_ETH_VLAN;
	c.tcis[0] = 100;
	dv_udp(g, &c, DV_A, (const uint8_t *)"vlan ping", 9, 10000);
	dv_udp(g, &c, DV_B, (const uint8_t *)"vlan pong", 9, 700);
}

/* UDP behind 802.1ad S-tag 200 (outer) and 802.1Q C-tag 300 (inner). */
static void dv_flow_qinq(struct dv_gen *g)
{
	struct dv_conv c;

	dv_conv_init(&c, 4, "10.2.0.1", "10.2.0.2", 17, 6000, 6001);
	c.ntags = 2;
	c.tpids[0] = DV_ETH_QINQ;
	c.tcis[0] = 200;
	c.tpids[1] = DV_ETH_VLAN;
	c.tcis[1] = (3u << 13) | 300; /* priority 3, VLAN 300 */
	dv_udp(g, &c, DV_A, (const uint8_t *)"qinq ping", 9, 10000);
	dv_udp(g, &c, DV_B, (const uint8_t *)"qinq pong", 9, 700);
}

/* Deterministic payload for the fragmented datagrams. */
static void dv_fill(uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + 3);
}

/*
 * 3000 bytes of UDP payload from 10.0.0.3:7000 to 192.0.2.30:7001 in three
 * IPv4 fragments of 1480, 1480 and 48 bytes (offsets 0, 185, 370 units).
 */
static void dv_flow_frag4(struct dv_gen *g)
{
	static const uint16_t frag_len[3] = {1480, 1480, 48};
	uint8_t dgram[3008];
	uint8_t f[1600];
	struct dv_conv c;
	size_t pos = 0, off;
	int i;

	dv_conv_init(&c, 4, "10.0.0.3", "192.0.2.30", 17, 7000, 7001);
	dv_put16(dgram, 7000);
	dv_put16(dgram + 2, 7001);
	dv_put16(dgram + 4, sizeof(dgram));
	dv_fill(dgram + 8, sizeof(dgram) - 8);
	dv_l4_csum(&c, DV_A, dgram, sizeof(dgram), 6);
	for (i = 0; i < 3; i++) {
		uint16_t frag = (uint16_t)(pos / 8) | (i < 2 ? 0x2000 : 0);

		off = dv_put_eth(f, c.mac[1], c.mac[0], NULL, NULL, 0, DV_ETH_IPV4);
		off += dv_put_ipv4(f + off, c.ip[0], c.ip[1], 17, 0x5151, frag, frag_len[i], 64);
		memcpy(f + off, dgram + pos, frag_len[i]);
		dv_emit(g, f, off + frag_len[i], i ? 20 : 10000);
		pos += frag_len[i];
	}
}

/*
 * 1600 bytes of UDP payload from [2001:db8::3]:7002 to [2001:db8::4]:7003 in
 * two IPv6 fragments (1448 + 160 bytes). The second fragment is sent first,
 * so it cannot know the ports and counts in a ports-0 flow.
 */
static void dv_flow_frag6(struct dv_gen *g)
{
	static const uint16_t frag_len[2] = {1448, 160};
	uint8_t dgram[1608];
	uint8_t f[1600];
	struct dv_conv c;
	size_t off;
	int order[2] = {1, 0};
	int k;

	dv_conv_init(&c, 6, "\3", "\4", 17, 7002, 7003);
	dv_put16(dgram, 7002);
	dv_put16(dgram + 2, 7003);
	dv_put16(dgram + 4, sizeof(dgram));
	dv_fill(dgram + 8, sizeof(dgram) - 8);
	dv_l4_csum(&c, DV_A, dgram, sizeof(dgram), 6);
	for (k = 0; k < 2; k++) {
		int i = order[k];
		size_t pos = i ? frag_len[0] : 0;
		uint8_t *fh;

		off = dv_put_eth(f, c.mac[1], c.mac[0], NULL, NULL, 0, DV_ETH_IPV6);
		off += dv_put_ipv6(f + off, c.ip[0], c.ip[1], 44, 8 + frag_len[i], 64);
		fh = f + off;
		fh[0] = 17; /* next header */
		fh[1] = 0;
		dv_put16(fh + 2, (uint16_t)(pos & ~7u) | (i == 0 ? 1 : 0)); /* offset | M */
		dv_put32(fh + 4, 0x61616161);
		off += 8;
		memcpy(f + off, dgram + pos, frag_len[i]);
		dv_emit(g, f, off + frag_len[i], k ? 30 : 10000);
	}
}

/* Non-IP: ARP who-has 10.0.0.254 tell 10.0.0.1. */
static void dv_frame_arp(struct dv_gen *g)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t arp[28] = {0, 1, 8, 0, 6, 4, 0,  1,       /* Ethernet/IPv4, request */
					2, 0, 0, 0, 0, 1, 10, 0, 0, 1, /* sender */
					0, 0, 0, 0, 0, 0, 10, 0, 0, 254}; /* target */
	uint8_t f[64];
	size_t off = dv_put_eth(f, bcast, dv_mac_host, NULL, NULL, 0, DV_ETH_ARP);

	memcpy(f + off, arp, sizeof(arp));
	dv_emit(g, f, off + sizeof(arp), 10000);
}

/*
 * The last frame, 12 s after the others: an unanswered DNS query (a flow that
 * stays "init"). It moves the packet clock past the default 10 s TCP close
 * timeout, so the closed TCP flows end as tcp_close with default options.
 */
static void dv_flow_dns_late(struct dv_gen *g)
{
	uint8_t m[128];
	struct dv_conv c;

	dv_conv_init(&c, 4, "10.0.0.1", "192.0.2.53", 17, 53002, 53);
	dv_udp(g, &c, DV_A, m, dv_dns_query(m, 0x4321), 12000000);
}

/* Malformed: the frame ends 10 bytes into an IPv4 header (before the addresses). */
static void dv_frame_truncated(struct dv_gen *g)
{
	static const uint8_t ip_start[10] = {0x45, 0, 0, 40, 0x77, 0x77, 0x40, 0, 64, 6};
	uint8_t f[64];
	size_t off = dv_put_eth(f, dv_mac_gw, dv_mac_host, NULL, NULL, 0, DV_ETH_IPV4);

	memcpy(f + off, ip_start, sizeof(ip_start));
	dv_emit(g, f, off + sizeof(ip_start), 10000);
}

int main(int argc, char **argv)
{
	struct dv_gen g;
	pcap_t *p;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_sample OUT.pcap\n");
		return 2;
	}
	p = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_MICRO);
	if (!p) {
		fprintf(stderr, "gen_sample: pcap_open_dead failed\n");
		return 1;
	}
	memset(&g, 0, sizeof(g));
	g.dumper = pcap_dump_open(p, argv[1]);
	if (!g.dumper) {
		fprintf(stderr, "gen_sample: %s\n", pcap_geterr(p));
		pcap_close(p);
		return 1;
	}
	dv_flow_http(&g);
	dv_flow_smtp(&g);
	dv_flow_rst(&g);
	dv_flow_dns(&g);
	dv_flow_icmp(&g);
	dv_flow_tcp6(&g);
	dv_flow_icmp6(&g);
	dv_flow_vlan(&g);
	dv_flow_qinq(&g);
	dv_flow_frag4(&g);
	dv_flow_frag6(&g);
	dv_frame_arp(&g);
	dv_frame_truncated(&g);
	dv_flow_dns_late(&g);
	if (pcap_dump_flush(g.dumper) != 0) {
		fprintf(stderr, "gen_sample: cannot write %s\n", argv[1]);
		pcap_dump_close(g.dumper);
		pcap_close(p);
		return 1;
	}
	pcap_dump_close(g.dumper);
	pcap_close(p);
	return 0;
}
