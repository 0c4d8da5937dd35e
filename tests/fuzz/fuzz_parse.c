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
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dv_dns.h"
#include "dv_parse.h"
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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
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
	free(frame);
	return 0;
}
