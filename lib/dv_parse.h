/*
 * dv_parse: turns the bytes of one captured frame into a struct dv_pkt.
 *
 * This is the only place that reads packet headers. Every header is
 * bounds-checked against the captured length before it is read; the payload
 * is never touched, so a capture truncated by a snap length still parses as
 * long as its headers are present. The parser keeps no state: fragment
 * reassembly of ports is done by the flow table's fragment cache.
 */
#ifndef DV_PARSE_H
#define DV_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Link types, numbered as libpcap's LINKTYPE_* values (the file format). */
enum dv_linktype {
	DV_LINK_NULL = 0,     /* BSD loopback, host-order 4-byte AF */
	DV_LINK_ETHERNET = 1, /* Ethernet II, 802.1Q, 802.1ad */
	DV_LINK_RAW = 101,    /* raw IPv4 or IPv6, version nibble decides */
	DV_LINK_LOOP = 108,   /* OpenBSD loopback, network-order 4-byte AF */
	DV_LINK_SLL = 113,    /* Linux cooked v1 */
	DV_LINK_IPV4 = 228,   /* raw IPv4 */
	DV_LINK_IPV6 = 229,   /* raw IPv6 */
	DV_LINK_SLL2 = 276,   /* Linux cooked v2 */
};

/* Result of dv_parse(). */
enum dv_parse_status {
	DV_PARSE_OK = 0,	/* an IP packet; pkt is filled */
	DV_PARSE_NON_IP = 1,	/* a valid frame that carries no IP (ARP, LLDP, ...) */
	DV_PARSE_MALFORMED = 2, /* truncated or invalid link, IP, tunnel or transport header */
	DV_PARSE_TOO_DEEP = 3,	/* more encapsulations than the depth limit: malformed too */
	DV_PARSE_TUNNEL = 4,	/* dv_parse_rx() only: OK, and out->tun is not 0 */
};

/* Fragment position of an IP packet. */
enum dv_frag {
	DV_FRAG_NONE = 0,  /* not a fragment */
	DV_FRAG_FIRST = 1, /* offset 0, more fragments follow: carries the ports */
	DV_FRAG_LATER = 2, /* offset > 0: ports are 0 until the flow table fills them */
};

/* dv_pkt.vlan of a frame that had at least one VLAN tag (the id is in the
 * low 12 bits; an untagged frame has vlan 0, and id 0 is a priority tag). */
#define DV_PKT_VLAN_TAGGED 0x8000

/* dv_pkt.tun bits: what decapsulation (lib/dv_decap.h) found. */
#define DV_PKT_T_TUNNEL 0x01 /* reached through a tunnel or shim: its struct dv_pkt_tun is set */
#define DV_PKT_T_BAD	0x02 /* a tunnel header that could not be read: its packet is the flow */
#define DV_PKT_T_CTX                                                                               \
	0x04		  /* set by the caller, never by the parser: a struct                      \
			   * dv_pkt_ctx (lib/dv_parse_ctx.h) goes with the packet */
#define DV_PKT_T_VNI 0x80 /* vni is part of the flow key */

/*
 * One parsed packet, oriented as it was sent (src = sender). Addresses are
 * 16 bytes; an IPv4 address is in the first 4 bytes and the rest is zero.
 * Ports are host order. 64 bytes so that rings of parsed packets stay cheap.
 * The 8 bytes from sport to family are laid out as the end of the flow
 * table's key, which then takes them with one load. They come first, with
 * the flags after them, so that an input ring's reader tells a packet from
 * the 32-byte form a plain IPv4 packet takes there by its first 16 bytes
 * (struct dv_pkt_v4, lib/dv_worker.h). A tunnelled packet's fields are those
 * of the innermost packet; what only its flow's first packet needs (the
 * encapsulations, the outer addresses) is in a struct dv_pkt_tun beside it.
 */
struct dv_pkt {
	uint16_t sport;
	uint16_t dport;
	uint16_t vlan;	/* DV_PKT_VLAN_TAGGED | VLAN id (of the innermost Ethernet frame), or 0 */
	uint8_t proto;	/* IP protocol number (after IPv6 extension headers) */
	uint8_t family; /* 4 or 6 */
	uint8_t flags;	/* set by the caller (dv_parse writes 0) */
	uint8_t tcp_flags;
	uint8_t frag;	  /* enum dv_frag */
	uint8_t tun;	  /* DV_PKT_T_* */
	uint32_t frag_id; /* IPv4 identification or IPv6 fragment id */
	uint8_t src[16];
	uint8_t dst[16];
	uint32_t wire_len; /* frame length on the wire, set by the caller */
	uint32_t vni;	   /* with DV_PKT_T_VNI: VXLAN, VXLAN-GPE or Geneve VNI, NVGRE VSID;
			    * without, an ICMP packet's dv_pkt_icmp() word (else 0) */
	uint64_t ts_ns;	   /* capture time in ns since the epoch, set by the caller */
};

_Static_assert(sizeof(struct dv_pkt) == 64, "a parsed packet is one cache line");

#define DV_TUN_MAX_DEPTH 8 /* encapsulations a packet may pass (--decap-depth at most) */

/*
 * The tunnel side of a packet with DV_PKT_T_TUNNEL: the same size as a
 * dv_pkt, so that it can follow its packet on an input ring as the next
 * element. Written only for such packets.
 */
struct dv_pkt_tun {
	uint8_t outer_src[16]; /* the outermost IP header that carried a tunnel */
	uint8_t outer_dst[16];
	uint32_t frame_len;   /* bytes of the innermost carried Ethernet frame, by the IP
			       * length around it; 0: see frame_off */
	uint32_t frame_off;   /* where that frame starts when that IP length is 0 (TSO,
			       * BIG TCP captures): it runs to the wire's end; 0: none */
	uint32_t icmp;	      /* with DV_PKT_T_VNI: the dv_pkt_icmp() word (vni is taken) */
	uint8_t outer_family; /* 4 or 6; 0 when only link shims were passed */
	uint8_t n_kinds;
	uint8_t kinds[DV_TUN_MAX_DEPTH]; /* enum dv_tunnel_kind, outermost first */
	uint8_t pad[10];
};

_Static_assert(sizeof(struct dv_pkt_tun) == sizeof(struct dv_pkt),
	       "tunnel info rides a ring of packets as one element");

/*
 * ICMP type and code of a packet (the Community ID of an ICMP flow maps
 * them to ports, lib/dv_community_id.h). dv_pkt has no spare byte, but vni
 * means nothing without DV_PKT_T_VNI and no ICMP packet takes the fast path,
 * so the general path writes DV_PKT_ICMP_SEEN | type << 8 | code there, or
 * in the tunnel side when the packet has a VNI; 0 when the ICMP header is
 * not there (a later fragment, a cut packet). Read only when a flow is
 * created: plain packets pay nothing for it.
 */
#define DV_PKT_ICMP_SEEN  0x10000u
#define DV_IPPROTO_ICMP	  1
#define DV_IPPROTO_ICMPV6 58

static inline uint32_t dv_pkt_icmp(const struct dv_pkt *p, const struct dv_pkt_tun *tun)
{
	if (p->proto != DV_IPPROTO_ICMP && p->proto != DV_IPPROTO_ICMPV6)
		return 0;
	if (p->tun & DV_PKT_T_VNI)
		return tun != NULL ? tun->icmp : 0;
	return p->vni;
}

/* The bytes a tunnelled packet counts (docs/tunnels.md): a carried frame's
 * own length, else the frame's on the wire. */
static inline uint32_t dv_pkt_tun_bytes(const struct dv_pkt_tun *tun, uint32_t wire_len)
{
	/* A damaged IP length can claim more than the frame that carries it had. */
	if (tun->frame_len != 0)
		return tun->frame_len < wire_len ? tun->frame_len : wire_len;
	if (tun->frame_off != 0 && wire_len > tun->frame_off)
		return wire_len - tun->frame_off;
	return wire_len;
}

/*
 * What to decapsulate (--decap, the overlay ports, --decap-depth). Built
 * once at start-up and read-only afterwards; NULL for --decap off.
 */
struct dv_decap_cfg {
	uint64_t udp_ports[1024]; /* bit p: UDP destination port p is an overlay's */
	uint16_t port_min;	  /* the lowest overlay port ... */
	uint16_t port_span;	  /* ... and the highest minus the lowest */
	uint16_t vxlan[8], vxlan_gpe[8], geneve[8], gtpu[8];
	uint8_t n_vxlan, n_vxlan_gpe, n_geneve, n_gtpu;
	uint8_t max_depth; /* 1 .. DV_TUN_MAX_DEPTH */
};

/* No overlay port at all: what the fast path tests against with --decap off
 * (so that it needs no test for NULL). */
extern const struct dv_decap_cfg dv_decap_none;

/* Is UDP destination port `port` one of the overlays' ports? */
static inline int dv_decap_udp_port(const struct dv_decap_cfg *dc, uint16_t port)
{
	/* Most ports are outside the range the overlays' ports span: one
	 * comparison for them. */
	if ((uint16_t)(port - dc->port_min) > dc->port_span)
		return 0;
	return (dc->udp_ports[port >> 6] >> (port & 63)) & 1;
}

/* A configuration with the default ports (VXLAN 4789 and 8472, VXLAN-GPE
 * 4790, Geneve 6081, GTP-U 2152) and depth DV_TUN_MAX_DEPTH. */
void dv_decap_cfg_default(struct dv_decap_cfg *dc);

/* Rebuild udp_ports from the four port lists (after changing them). */
void dv_decap_cfg_ports(struct dv_decap_cfg *dc);

/*
 * dv_parse() without its fast path for the common frame: every frame takes
 * the three steps (link, IP, transport). Same contract and results as
 * dv_parse(); the tests use it to check the fast path against it.
 */
enum dv_parse_status dv_parse_general(const uint8_t *data, uint32_t caplen, int linktype,
				      const struct dv_decap_cfg *dc, struct dv_pkt *out,
				      struct dv_pkt_tun *tun);

/* What the inline fast path below reads; dv_parse.c has the rest. */
#define DV_ETH_HLEN	  14
#define DV_IPV4_MIN_HLEN  20
#define DV_ETHERTYPE_IPV4 0x0800
#define DV_IPPROTO_TCP	  6
#define DV_IPPROTO_UDP	  17
/* A transport header counts only when its fixed part is all there (within
 * the IP length and the capture): a fragment of one is a truncated header,
 * which makes no flow, as tshark also judges it. */
#define DV_TCP_NEED 20 /* fixed TCP header: ports ... urgent pointer */
#define DV_UDP_NEED 8  /* UDP header */

static inline uint16_t dv_parse_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * The frame nearly every packet on a link is: Ethernet II, IPv4 without
 * options, not a fragment (offset 0, no MF), TCP or UDP with the fixed
 * header inside both the IP length and the capture. It is read in one pass
 * with the checks of the general path folded into a few comparisons, and
 * gives exactly what the general path would (test_parse checks this on
 * every frame it parses and on mutated frames). Inline, so that a worker's
 * receive loop makes no call for it. Returns 0 when the frame is not of
 * this shape (or is UDP to an overlay's port) and the general path must
 * read it; *out may then be partly written. The IPv4 header is at 14, its fields at 14 + their
 * offset (total length 2, id 4, flags and fragment offset 6, protocol 9, addresses 12 and 16); the
 * transport header at 34 (TCP data offset 12, flags 13).
 */
static inline int dv_parse_ipv4_fast(const uint8_t *d, uint32_t caplen,
				     const struct dv_decap_cfg *dc /* not NULL */,
				     struct dv_pkt *out)
{
	const uint8_t *ip = d + DV_ETH_HLEN, *l4 = ip + DV_IPV4_MIN_HLEN;
	uint32_t tot_len, need;
	uint16_t dport;
	uint8_t proto;

	if (caplen < DV_ETH_HLEN + DV_IPV4_MIN_HLEN + DV_UDP_NEED ||
	    dv_parse_be16(d + 12) != DV_ETHERTYPE_IPV4 || ip[0] != 0x45 ||
	    (dv_parse_be16(ip + 6) & 0x3fff) != 0)
		return 0;
	proto = ip[9];
	dport = dv_parse_be16(l4 + 2); /* within the 8 bytes checked above */
	if (proto == DV_IPPROTO_TCP)
		need = DV_TCP_NEED;
	else if (proto == DV_IPPROTO_UDP && !dv_decap_udp_port(dc, dport))
		need = DV_UDP_NEED; /* (UDP to an overlay's port: the general path decapsulates) */
	else
		return 0;
	/* With both bounds at least 20 + need past the IP header, the general
	 * path's transport end (the shorter of the two) leaves room for it. */
	tot_len = dv_parse_be16(ip + 2);
	if (tot_len < DV_IPV4_MIN_HLEN + need || caplen < DV_ETH_HLEN + DV_IPV4_MIN_HLEN + need)
		return 0;
	memset(out, 0, offsetof(struct dv_pkt, wire_len));
	if (proto == DV_IPPROTO_TCP) {
		if (l4[12] >> 4 < 5)
			return 0;
		out->tcp_flags = l4[13];
	}
	memcpy(out->src, ip + 12, 4);
	memcpy(out->dst, ip + 16, 4);
	out->sport = dv_parse_be16(l4);
	out->dport = dport;

	out->proto = proto;
	out->family = 4;
	out->frag_id = dv_parse_be16(ip + 4);
	return 1;
}

/*
 * Parse one frame.
 *
 * data/caplen: the captured bytes; linktype: enum dv_linktype of the source;
 * dc: what to decapsulate, NULL for nothing (--decap off). On DV_PARSE_OK
 * every field of *out but wire_len and ts_ns is set, and *tun too when
 * out->tun has DV_PKT_T_TUNNEL (tun is not touched otherwise). On other
 * results *out and *tun are unspecified. Never reads outside
 * data[0..caplen).
 */
static inline enum dv_parse_status dv_parse(const uint8_t *data, uint32_t caplen, int linktype,
					    const struct dv_decap_cfg *dc, struct dv_pkt *out,
					    struct dv_pkt_tun *tun)
{
	if (linktype == DV_LINK_ETHERNET &&
	    dv_parse_ipv4_fast(data, caplen, dc ? dc : &dv_decap_none, out))
		return DV_PARSE_OK;
	return dv_parse_general(data, caplen, linktype, dc, out, tun);
}

/*
 * dv_parse() for a receive loop: the same, but DV_PARSE_TUNNEL instead of
 * DV_PARSE_OK when out->tun is set (a tunnelled packet, or one whose tunnel
 * header could not be read), so that a plain packet costs the loop no test
 * of out->tun: the fast path never sets it.
 */
static inline enum dv_parse_status dv_parse_rx(const uint8_t *data, uint32_t caplen, int linktype,
					       const struct dv_decap_cfg *dc, struct dv_pkt *out,
					       struct dv_pkt_tun *tun)
{
	enum dv_parse_status st;

	if (linktype == DV_LINK_ETHERNET &&
	    dv_parse_ipv4_fast(data, caplen, dc ? dc : &dv_decap_none, out))
		return DV_PARSE_OK;
	st = dv_parse_general(data, caplen, linktype, dc, out, tun);
	return st == DV_PARSE_OK && out->tun != 0 ? DV_PARSE_TUNNEL : st;
}

/*
 * dv_parse_general() that also says where the packet's transport payload
 * is (*pl): after the TCP header (by its data offset) or the UDP header
 * (within the datagram's own length), inside the IP packet and the
 * capture; empty (off == end) for other protocols,
 * later fragments and results other than OK. For the flow-context readers
 * (lib/dv_parse_ctx.h): only callers with --flow-context on pay for it.
 */
struct dv_payload {
	uint32_t off; /* the payload: data[off .. end) */
	uint32_t end;
	uint32_t l4; /* the transport header (a TCP segment's sequence number at l4 + 4) */
};

enum dv_parse_status dv_parse_general_payload(const uint8_t *data, uint32_t caplen, int linktype,
					      const struct dv_decap_cfg *dc, struct dv_pkt *out,
					      struct dv_pkt_tun *tun, struct dv_payload *pl);

/*
 * dv_parse_rx() with the payload bounds of dv_parse_general_payload(). The
 * fast path's frame has its transport header at 34: the payload follows
 * it, up to the IP length (which the fast path checked is within the
 * capture or ends it) and, for UDP, the datagram's length.
 */
static inline enum dv_parse_status dv_parse_rx_payload(const uint8_t *data, uint32_t caplen,
						       int linktype, const struct dv_decap_cfg *dc,
						       struct dv_pkt *out, struct dv_pkt_tun *tun,
						       struct dv_payload *pl)
{
	enum dv_parse_status st;

	if (linktype == DV_LINK_ETHERNET &&
	    dv_parse_ipv4_fast(data, caplen, dc ? dc : &dv_decap_none, out)) {
		const uint8_t *l4 = data + DV_ETH_HLEN + DV_IPV4_MIN_HLEN;
		uint32_t end = DV_ETH_HLEN + (uint32_t)dv_parse_be16(data + DV_ETH_HLEN + 2), off;

		end = end < caplen ? end : caplen;
		if (out->proto == DV_IPPROTO_TCP) {
			off = DV_ETH_HLEN + DV_IPV4_MIN_HLEN + (uint32_t)(l4[12] >> 4) * 4;
		} else {
			uint32_t ulen = dv_parse_be16(l4 + 4);

			off = DV_ETH_HLEN + DV_IPV4_MIN_HLEN + DV_UDP_NEED;
			if (ulen >= DV_UDP_NEED && DV_ETH_HLEN + DV_IPV4_MIN_HLEN + ulen < end)
				end = DV_ETH_HLEN + DV_IPV4_MIN_HLEN + ulen;
		}
		pl->off = off < end ? off : end;
		pl->end = end;
		pl->l4 = DV_ETH_HLEN + DV_IPV4_MIN_HLEN;
		return DV_PARSE_OK;
	}
	st = dv_parse_general_payload(data, caplen, linktype, dc, out, tun, pl);
	return st == DV_PARSE_OK && out->tun != 0 ? DV_PARSE_TUNNEL : st;
}

/* Non-zero if dv_parse() understands this link type. */
int dv_linktype_supported(int linktype);

/*
 * Symmetric hash over the packet's two addresses only (and VLAN), so both
 * directions and all fragments of a datagram land on the same worker.
 */
uint32_t dv_pkt_addr_hash(const struct dv_pkt *pkt);

#endif
