/*
 * fuzz_parse: one frame through dv_parse() and dv_parse_general().
 *
 * Input: one byte that picks the link type (fuzz_common.h's list), then the
 * frame. The frame is copied into a heap buffer of exactly its length, so
 * ASan reports any read past the captured length. Invariants: the fast path
 * and the general parse agree on the result and on every parsed field; an
 * IP packet is family 4 or 6, an IPv4 address leaves its last 12 bytes
 * zero, a later fragment and a protocol without ports have ports 0, only TCP
 * has TCP flags, dv_parse leaves the caller's flags 0, a VLAN id is marked
 * tagged and fits 12 bits; the address hash is symmetric; an ICMP packet's
 * type and code word (dv_pkt_icmp(), the community_id's) is 0 or
 * DV_PKT_ICMP_SEEN and 16 bits, 0 for a later fragment, the same from both
 * parses. The same bytes also go through the DNS reader (lib/dv_dns.c),
 * whole and from where an untagged IPv4 UDP frame's payload starts: a name
 * it gives is printable ASCII of the length it says.
 *
 * The payload readers of issue 19 (dv_tls_sni, dv_quic_sni, dv_http_host,
 * and dv_dns_read again) read the frame's TCP or UDP payload, found here
 * from the frame (link header, VLAN tags, IPv4 or IPv6 with its common
 * extension headers; the parser does not report where the payload starts),
 * and the whole frame. Each answer is one of the statuses; a name is
 * NUL-terminated within cap, printable ASCII, its escapes well formed (''
 * then '' or three digits up to 255); MORE's need is past len and within
 * DV_TLS_NEED_MAX. The name buffers are heap blocks of exactly cap bytes
 * (DV_CTX_NAME_MAX, and a small cap taken from the input), so ASan sees a
 * write past cap as it sees a read past the payload.
 *
 * Then the packet path's own reading (lib/dv_parse_ctx.h, what the --read
 * reader and a live worker do): dv_parse_rx_payload() gives the status
 * dv_parse() gave and payload bounds inside the frame, and
 * dv_parse_ctx_read() on them returns 0 or 1; a context it gives is of a
 * known kind, its text a printable name of the length it says, its ring
 * elements what dv_pkt_ctx_elems() says. One reading context serves every
 * input; each input's time is a gap later than the last one's, so every
 * direction is looked at afresh and a ClientHello kept waiting by an
 * earlier input is let go (the 'next segment' of a kept ClientHello is
 * then the same frame again, a moment later).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dv_dns.h"
#include "dv_http.h"
#include "dv_parse.h"
#include "dv_parse_ctx.h"
#include "dv_quic.h"
#include "dv_tls.h"
#include "fuzz_common.h"

/* The bytes dv_parse() fills (the caller owns wire_len and ts_ns). */
#define PARSED_BYTES offsetof(struct dv_pkt, wire_len)

static int has_ports(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132; /* TCP, UDP, SCTP */
}

static void check_ok(const struct dv_pkt *p)
{
	static const uint8_t zero[12];
	struct dv_pkt swapped = *p;

	dv_fuzz_check(p->family == 4 || p->family == 6, "family %u", p->family);
	if (p->family == 4)
		dv_fuzz_check(memcmp(p->src + 4, zero, 12) == 0 &&
				  memcmp(p->dst + 4, zero, 12) == 0,
			      "IPv4 address with bytes past the 4th");
	dv_fuzz_check(p->frag <= DV_FRAG_LATER, "frag %u", p->frag);
	if (p->frag == DV_FRAG_LATER || !has_ports(p->proto))
		dv_fuzz_check(p->sport == 0 && p->dport == 0, "ports %u %u (proto %u frag %u)",
			      p->sport, p->dport, p->proto, p->frag);
	if (p->proto != 6 || p->frag == DV_FRAG_LATER)
		dv_fuzz_check(p->tcp_flags == 0, "tcp flags %#x on proto %u", p->tcp_flags,
			      p->proto);
	dv_fuzz_check(p->flags == 0, "flags %#x", p->flags);
	dv_fuzz_check(p->vlan == 0 || (p->vlan & ~(DV_PKT_VLAN_TAGGED | 0x0fffu)) == 0, "vlan %#x",
		      p->vlan);
	dv_fuzz_check(p->family == 6 || p->frag_id <= 0xffff, "IPv4 id %#x", p->frag_id);

	memcpy(swapped.src, p->dst, 16);
	memcpy(swapped.dst, p->src, 16);
	dv_fuzz_check(dv_pkt_addr_hash(p) == dv_pkt_addr_hash(&swapped),
		      "address hash not symmetric");
}

/* The ICMP word (dv_parse.h): where dv_pkt_icmp() reads it, well formed. */
static void check_icmp(const struct dv_pkt *fast, const struct dv_pkt_tun *tun_fast,
		       const struct dv_pkt *general, const struct dv_pkt_tun *tun_general)
{
	uint32_t w = dv_pkt_icmp(general, tun_general);

	dv_fuzz_check(w == 0 || (w & ~0xffffu) == DV_PKT_ICMP_SEEN, "ICMP word %#x", w);
	dv_fuzz_check(general->frag != DV_FRAG_LATER || w == 0, "ICMP word %#x on a later fragment",
		      w);
	dv_fuzz_check(dv_pkt_icmp(fast, tun_fast) == w, "ICMP words differ: %#x and %#x",
		      dv_pkt_icmp(fast, tun_fast), w);
}

/* The DNS reader on b[0..len) (the harness's exact-length copy: ASan sees
 * any read past it). */
static void check_dns(const uint8_t *b, uint32_t len)
{
	struct dv_dns_info info;

	if (dv_dns_read(b, len, &info) != 0)
		return;
	dv_fuzz_check(info.qname_len < DV_DNS_TEXT_MAX && strlen(info.qname) == info.qname_len,
		      "DNS name of %u characters", info.qname_len);
	for (uint32_t i = 0; i < info.qname_len; i++)
		dv_fuzz_check(info.qname[i] >= 0x20 && info.qname[i] < 0x7f,
			      "DNS name character %#x", (unsigned)(uint8_t)info.qname[i]);
}

/* Where the TCP or UDP payload of a frame starts, from its bytes: 0 when
 * the frame has none (not IP, a later fragment, a cut header). */
static uint32_t ip_payload(const uint8_t *b, uint32_t len, uint32_t off)
{
	uint8_t proto;
	uint32_t end = len;

	if (len - off < 20)
		return 0;
	if ((b[off] >> 4) == 4) {
		uint32_t ihl = (b[off] & 0x0fu) * 4, tot = (uint32_t)b[off + 2] << 8 | b[off + 3];

		if (ihl < 20 || len - off < ihl || ((b[off + 6] & 0x1f) | b[off + 7]) != 0)
			return 0;
		if (tot >= ihl && tot <= len - off)
			end = off + tot;
		proto = b[off + 9];
		off += ihl;
	} else if ((b[off] >> 4) == 6) {
		if (len - off < 40)
			return 0;
		proto = b[off + 6];
		off += 40;
		/* hop-by-hop, routing, destination options, fragment (first) */
		while ((proto == 0 || proto == 43 || proto == 60 || proto == 44) &&
		       len - off >= 8) {
			uint32_t l = proto == 44 ? 8 : (b[off + 1] + 1u) * 8;

			if (proto == 44 && ((b[off + 2] << 8 | b[off + 3]) & 0xfff8) != 0)
				return 0;
			proto = b[off];
			if (len - off < l)
				return 0;
			off += l;
		}
	} else {
		return 0;
	}
	if (proto == 6 && end - off >= 20 && end - off >= (b[off + 12] >> 4) * 4u)
		return off + (b[off + 12] >> 4) * 4u;
	if (proto == 17 && end - off >= 8)
		return off + 8;
	return 0;
}

static uint32_t payload_off(const uint8_t *b, uint32_t len, int linktype)
{
	uint32_t off = 0, et;

	switch (linktype) {
	case DV_LINK_ETHERNET:
		if (len < 14)
			return 0;
		et = (uint32_t)b[12] << 8 | b[13];
		off = 14;
		for (int tags = 0; (et == 0x8100 || et == 0x88a8) && tags < 2 && len - off >= 4;
		     tags++) {
			et = (uint32_t)b[off + 2] << 8 | b[off + 3];
			off += 4;
		}
		if (et != 0x0800 && et != 0x86dd)
			return 0;
		break;
	case DV_LINK_SLL:
		off = 16;
		break;
	case DV_LINK_SLL2:
		off = 20;
		break;
	case DV_LINK_NULL:
	case DV_LINK_LOOP:
		off = 4;
		break;
	default: /* raw IP */
		break;
	}
	return off <= len ? ip_payload(b, len, off) : 0;
}

/* A name a reader gave: NUL within cap, printable, escapes well formed
 * (a DNS name also escapes a '.' inside a label: dv_dns.h). */
static void check_name_as(const char *who, const char *out, uint32_t cap, int dns)
{
	size_t n = strnlen(out, cap);

	dv_fuzz_check(n < cap, "%s: name without a NUL within %u", who, cap);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)out[i];

		dv_fuzz_check(c >= 0x20 && c < 0x7f, "%s: name character %#x", who, c);
		if (c != '\\')
			continue;
		dv_fuzz_check(i + 1 < n, "%s: name ends in a lone '\\'", who);
		if (out[i + 1] == '\\' || (dns && out[i + 1] == '.')) {
			i++;
			continue;
		}
		dv_fuzz_check(
		    i + 3 < n && out[i + 1] >= '0' && out[i + 1] <= '2' && out[i + 2] >= '0' &&
			out[i + 2] <= '9' && out[i + 3] >= '0' && out[i + 3] <= '9' &&
			(out[i + 1] - '0') * 100 + (out[i + 2] - '0') * 10 + out[i + 3] - '0' <=
			    255,
		    "%s: bad escape at %zu in '%s'", who, i, out);
		i += 3;
	}
}

static void check_name(const char *who, const char *out, uint32_t cap)
{
	check_name_as(who, out, cap, 0);
}

static struct dv_quic *quic;
static struct dv_parse_ctx *pctx;

#define PCTX_GAP_NS 1000000000ULL

/* The frame through the packet path's context reading (see the top). */
static void check_pctx(const uint8_t *frame, uint32_t len, int linktype,
		       const struct dv_decap_cfg *dc, enum dv_parse_status st)
{
	static uint64_t now = PCTX_GAP_NS;
	struct dv_pkt_ctx *c = malloc(sizeof(*c));
	struct dv_payload pl;
	struct dv_pkt_tun tun;
	struct dv_pkt p;
	enum dv_parse_status st_pl;

	dv_fuzz_check(c != NULL, "out of memory");
	st_pl = dv_parse_rx_payload(frame, len, linktype, dc, &p, &tun, &pl);
	dv_fuzz_check(st_pl == st || (st == DV_PARSE_OK && st_pl == DV_PARSE_TUNNEL),
		      "dv_parse_rx_payload %d, dv_parse %d", st_pl, st);
	if (st_pl != DV_PARSE_OK && st_pl != DV_PARSE_TUNNEL) {
		free(c);
		return;
	}
	dv_fuzz_check(pl.off <= pl.end && pl.end <= len && pl.l4 <= pl.off,
		      "payload [%u, %u) (transport at %u) of a %u-byte frame", pl.off, pl.end,
		      pl.l4, len);
	now += 2 * PCTX_GAP_NS;
	for (int pass = 0; pass < 2; pass++) { /* the frame, then again 1 ms later */
		int rc;

		p.ts_ns = now + (uint64_t)pass * 1000000ULL;
		memset(c, 0xa5, sizeof(*c));
		rc = dv_parse_ctx_read(pctx, &p, frame, &pl, c);
		dv_fuzz_check(rc == 0 || rc == 1, "dv_parse_ctx_read %d", rc);
		if (rc == 0)
			continue;
		dv_fuzz_check(c->kind == DV_PCTX_SERVER_NAME || c->kind == DV_PCTX_DNS,
			      "context kind %u", c->kind);
		dv_fuzz_check(c->len < DV_CTX_NAME_MAX && c->text[c->len] == '\0' &&
				  strlen(c->text) == c->len,
			      "context text of %u characters", c->len);
		if (c->flags & DV_PCTX_F_NAME)
			check_name_as("packet context", c->text, DV_CTX_NAME_MAX,
				      c->kind == DV_PCTX_DNS);
		dv_fuzz_check(c->n_el == dv_pkt_ctx_elems(c) && c->n_el >= 1 &&
				  c->n_el <= DV_PCTX_MAX_EL,
			      "context of %u elements", c->n_el);
	}
	free(c);
}

/* The payload readers on b[0..len), names into a heap block of cap bytes. */
static void check_ctx_cap(const uint8_t *b, uint32_t len, uint32_t cap)
{
	char *out = malloc(cap);
	uint32_t need = 0;
	int rc;

	dv_fuzz_check(out != NULL, "out of memory");
	rc = dv_tls_sni(b, len, out, cap, &need);
	dv_fuzz_check(rc >= DV_CTX_BAD && rc <= DV_CTX_MORE, "dv_tls_sni %d", rc);
	if (rc == DV_CTX_FOUND)
		check_name("tls", out, cap);
	if (rc == DV_CTX_MORE)
		dv_fuzz_check(need > len && need <= DV_TLS_NEED_MAX, "tls: need %u of %u bytes",
			      need, len);
	rc = dv_http_host(b, len, out, cap);
	dv_fuzz_check(rc >= DV_CTX_BAD && rc <= DV_CTX_FOUND, "dv_http_host %d", rc);
	if (rc == DV_CTX_FOUND)
		check_name("http", out, cap);
	rc = dv_quic_sni(quic, b, len, out, cap);
	dv_fuzz_check(rc >= DV_CTX_BAD && rc <= DV_CTX_MORE, "dv_quic_sni %d", rc);
	if (rc == DV_CTX_FOUND)
		check_name("quic", out, cap);
	free(out);
}

static void check_ctx(const uint8_t *b, uint32_t len)
{
	check_ctx_cap(b, len, DV_CTX_NAME_MAX);
	check_ctx_cap(b, len, 1 + (len > 0 ? b[len - 1] % 16 : 0));
	check_dns(b, len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	quic = dv_quic_create();
	dv_fuzz_check(quic != NULL, "dv_quic_create failed");
	pctx = dv_parse_ctx_create(PCTX_GAP_NS);
	dv_fuzz_check(pctx != NULL, "dv_parse_ctx_create failed");
	return 0;
}

static struct dv_decap_cfg decap;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dv_pkt fast, general;
	enum dv_parse_status st, st_general;
	uint32_t len;
	uint8_t *frame;
	int linktype;

	if (size < 1 || size - 1 > UINT32_MAX)
		return 0;
	linktype = dv_fuzz_linktype(data[0]);
	len = (uint32_t)(size - 1);
	/* Exactly len bytes (malloc(0) may return NULL: then 1 byte, unread). */
	frame = malloc(len ? len : 1);
	dv_fuzz_check(frame != NULL, "out of memory");
	memcpy(frame, data + 1, len);

	dv_fuzz_check(dv_linktype_supported(linktype), "link type %d not supported", linktype);
	memset(&fast, 0xa5, sizeof(fast));
	memset(&general, 0x5a, sizeof(general));
	/* With the default decapsulation (--decap on), and without. */
	if (decap.max_depth == 0)
		dv_decap_cfg_default(&decap);
	const struct dv_decap_cfg *dc = (data[0] & 0x80) ? NULL : &decap;
	struct dv_pkt_tun tun_fast, tun_general;

	memset(&tun_fast, 0xa5, sizeof(tun_fast));
	memset(&tun_general, 0x5a, sizeof(tun_general));
	st = dv_parse(frame, len, linktype, dc, &fast, &tun_fast);
	st_general = dv_parse_general(frame, len, linktype, dc, &general, &tun_general);
	dv_fuzz_check(st == st_general, "dv_parse %d, dv_parse_general %d (link type %d)", st,
		      st_general, linktype);
	dv_fuzz_check(st == DV_PARSE_OK || st == DV_PARSE_NON_IP || st == DV_PARSE_MALFORMED ||
			  st == DV_PARSE_TOO_DEEP,
		      "status %d", st);
	dv_fuzz_check(dc != NULL || st != DV_PARSE_TOO_DEEP, "too deep without decapsulation");
	if (st == DV_PARSE_OK && (fast.tun & DV_PKT_T_TUNNEL)) {
		dv_fuzz_check(dc != NULL, "a tunnel without decapsulation");
		dv_fuzz_check(tun_fast.n_kinds >= 1 && tun_fast.n_kinds <= dc->max_depth,
			      "%u encapsulations", tun_fast.n_kinds);
		dv_fuzz_check(memcmp(&tun_fast, &tun_general, offsetof(struct dv_pkt_tun, kinds)) ==
				  0,
			      "tunnel sides differ");
		dv_fuzz_check(tun_fast.frame_len <= 65535, "carried frame of %u bytes",
			      tun_fast.frame_len);
	}
	if (st == DV_PARSE_OK) {
		dv_fuzz_check(!(fast.tun & DV_PKT_T_VNI) || fast.vni == general.vni,
			      "VNIs differ (link type %d)", linktype);
		dv_fuzz_check(memcmp(&fast, &general, PARSED_BYTES) == 0,
			      "dv_parse and dv_parse_general differ (link type %d)", linktype);
		dv_fuzz_check(fast.wire_len == 0xa5a5a5a5u, "dv_parse wrote wire_len");
		check_ok(&fast);
		check_icmp(&fast, &tun_fast, &general, &tun_general);
	}
	check_dns(frame, len);
	if (len > 42) /* Ethernet 14 + IPv4 20 + UDP 8 */
		check_dns(frame + 42, len - 42);
	{
		uint32_t off = payload_off(frame, len, linktype);

		check_ctx(frame, len);
		if (off != 0) /* frame is an exact-length block: so is its tail */
			check_ctx(frame + off, len - off);
	}
	check_pctx(frame, len, linktype, dc, st);
	free(frame);
	return 0;
}
