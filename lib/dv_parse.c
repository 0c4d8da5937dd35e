/*
 * dv_parse: frame bytes -> struct dv_pkt, for every link type devourer reads.
 *
 * The parse runs in three steps, each a function a reader can check alone:
 * the link layer yields an ethertype and an offset (VLAN tags and the link
 * shims MPLS, PPPoE and FabricPath skipped, the outer VLAN id kept), the IP layer yields addresses,
 * protocol, fragment position and the bounds of the transport header, and the transport layer
 * yields ports and TCP flags. Every read goes through a length check first; nothing beyond the
 * headers is required, so frames cut by a snap length still parse.
 *
 * The end of an IP packet is its length field when that is shorter than the
 * capture: Ethernet pads short frames to 60 bytes, and ports read from the
 * padding would invent a flow. A length field longer than the capture is the
 * normal snap-length case and is not an error.
 *
 * No state, no allocation, no system call: this runs once per packet on the
 * workers.
 */
#include <stddef.h>
#include <string.h>

#include <rte_common.h>
#include <rte_hash_crc.h>

#include "dv_decap.h"
#include "dv_parse.h"

#define DV_SLL_HLEN	  16
#define DV_SLL2_HLEN	  20
#define DV_VLAN_HLEN	  4
#define DV_NULL_HLEN	  4
#define DV_IPV6_HLEN	  40
#define DV_IPV6_FRAG_HLEN 8
/* (DV_TCP_NEED and DV_UDP_NEED are in dv_parse.h, for the fast path.) */
#define DV_SCTP_NEED 12 /* SCTP common header */

/*
 * RFC 8200 allows each extension header once (destination options twice), so
 * a legitimate chain of the kinds walked here is at most 5 long; beyond 8 the
 * packet is treated as malformed rather than walked on.
 */
#define DV_IPV6_MAX_EXT 8

#define DV_ETHERTYPE_IPV6	0x86dd
#define DV_TPID_8021Q		0x8100
#define DV_TPID_8021AD		0x88a8
#define DV_TPID_QINQ_OLD	0x9100
#define DV_ETHERTYPE_MPLS	0x8847
#define DV_ETHERTYPE_MPLS_MC	0x8848
#define DV_ETHERTYPE_PPPOE	0x8864
#define DV_ETHERTYPE_FABRICPATH 0x8903

#define DV_IPPROTO_HOPOPTS  0
#define DV_IPPROTO_ROUTING  43
#define DV_IPPROTO_FRAGMENT 44
#define DV_IPPROTO_DSTOPTS  60
#define DV_IPPROTO_SCTP	    132
#define DV_IPPROTO_IPIP	    4  /* IPv4 in IP */
#define DV_IPPROTO_IPV6	    41 /* IPv6 in IP */
#define DV_IPPROTO_GRE	    47

/* Address family numbers of BSD loopback headers (they differ by OS). */
#define DV_AF_INET	   2
#define DV_AF_INET6_LINUX  10
#define DV_AF_INET6_BSD	   24 /* NetBSD, OpenBSD */
#define DV_AF_INET6_FBSD   28 /* FreeBSD */
#define DV_AF_INET6_DARWIN 30

static inline uint32_t dv_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint32_t dv_le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

int dv_linktype_supported(int linktype)
{
	switch (linktype) {
	case DV_LINK_NULL:
	case DV_LINK_ETHERNET:
	case DV_LINK_RAW:
	case DV_LINK_LOOP:
	case DV_LINK_SLL:
	case DV_LINK_IPV4:
	case DV_LINK_IPV6:
	case DV_LINK_SLL2:
		return 1;
	default:
		return 0;
	}
}

/* Ethertype for a BSD loopback address family; 0 if it carries no IP. */
static uint16_t dv_af_ethertype(uint32_t af)
{
	switch (af) {
	case DV_AF_INET:
		return DV_ETHERTYPE_IPV4;
	case DV_AF_INET6_LINUX:
	case DV_AF_INET6_BSD:
	case DV_AF_INET6_FBSD:
	case DV_AF_INET6_DARWIN:
		return DV_ETHERTYPE_IPV6;
	default:
		return 0;
	}
}

/*
 * Skip 802.1Q / 802.1ad / 0x9100 tags starting at *off, where *etype is the
 * ethertype just read. The first tag met is the outermost: its id is the
 * flow's vlan_id. The loop needs no depth cap: each tag consumes 4 bytes of a
 * finite capture.
 */
static enum dv_parse_status dv_skip_vlans(const uint8_t *d, uint32_t caplen, uint32_t *off,
					  uint16_t *etype, struct dv_pkt *out)
{
	while (*etype == DV_TPID_8021Q || *etype == DV_TPID_8021AD || *etype == DV_TPID_QINQ_OLD) {
		if (caplen - *off < DV_VLAN_HLEN)
			return DV_PARSE_MALFORMED;
		if (out->vlan == 0)
			out->vlan = DV_PKT_VLAN_TAGGED | (dv_parse_be16(d + *off) & 0x0fff);
		*etype = dv_parse_be16(d + *off + 2);
		*off += DV_VLAN_HLEN;
	}
	return DV_PARSE_OK;
}

/*
 * One frame's walk through its encapsulations: what dv_parse_general()
 * passes to the steps below. end is where the bytes of the packet being
 * read stop: the capture at first, then the end of each enclosing IP packet
 * or UDP datagram (never more than the capture), so that a tunnel's payload
 * is read within its own packet.
 */
struct dv_walk {
	const uint8_t *d;
	uint32_t end;
	const struct dv_decap_cfg *dc; /* NULL: --decap off */
	struct dv_pkt *out;
	struct dv_pkt_tun *tun;
};

/* Count one more encapsulation of kind k: the packet is now tunnelled. */
static enum dv_parse_status dv_walk_step(struct dv_walk *w, enum dv_tunnel_kind k)
{
	struct dv_pkt_tun *tun = w->tun;

	if (!(w->out->tun & DV_PKT_T_TUNNEL)) {
		w->out->tun |= DV_PKT_T_TUNNEL;
		tun->n_kinds = 0;
		tun->outer_family = 0;
		/* Defined even when only link shims are passed: the side is copied whole. */
		memset(tun->outer_src, 0, sizeof(tun->outer_src));
		memset(tun->outer_dst, 0, sizeof(tun->outer_dst));
		tun->frame_len = 0;
		tun->frame_off = 0;
		tun->icmp = 0;
	}
	if (tun->n_kinds >= w->dc->max_depth)
		return DV_PARSE_TOO_DEEP;
	tun->kinds[tun->n_kinds++] = (uint8_t)k;
	return DV_PARSE_OK;
}

/*
 * Link shims after the link header (lib/dv_decap.c): an MPLS label stack or
 * a PPPoE session header gives the IP packet it carries; FabricPath carries
 * a classical Ethernet frame, whose header and tags are read like the outer
 * ones (the first tag met stays the flow's vlan_id). A shim whose payload is
 * not IP (a pseudowire, PPP's own traffic) leaves *etype 0: no IP. The
 * frame's bytes and VLAN are the frame's on the wire, shims included.
 * Nothing to do with --decap off.
 */
static enum dv_parse_status dv_skip_shims(struct dv_walk *w, uint32_t *off, uint16_t *etype)
{
	const uint8_t *d = w->d;
	uint32_t end = w->end;

	if (w->dc == NULL)
		return DV_PARSE_OK;
	for (;;) {
		struct dv_decap dc;
		enum dv_parse_status st;
		int rc;

		switch (*etype) {
		case DV_ETHERTYPE_MPLS:
		case DV_ETHERTYPE_MPLS_MC:
			rc = dv_decap_mpls(d + *off, end - *off, &dc);
			break;
		case DV_ETHERTYPE_PPPOE:
			rc = dv_decap_pppoe(d + *off, end - *off, &dc);
			break;
		case DV_ETHERTYPE_FABRICPATH:
			rc = dv_decap_fabricpath(d + *off, end - *off, &dc);
			break;
		default:
			return DV_PARSE_OK;
		}
		if (rc != DV_DECAP_OK)
			return DV_PARSE_MALFORMED;
		st = dv_walk_step(w, (enum dv_tunnel_kind)dc.kind);
		if (st != DV_PARSE_OK)
			return st;
		*off += dc.off;
		switch (dc.inner) {
		case DV_INNER_IPV4:
			*etype = DV_ETHERTYPE_IPV4;
			return DV_PARSE_OK;
		case DV_INNER_IPV6:
			*etype = DV_ETHERTYPE_IPV6;
			return DV_PARSE_OK;
		case DV_INNER_ETHERNET:
			if (end - *off < DV_ETH_HLEN)
				return DV_PARSE_MALFORMED;
			*etype = dv_parse_be16(d + *off + 12);
			*off += DV_ETH_HLEN;
			if (dv_skip_vlans(d, end, off, etype, w->out) != DV_PARSE_OK)
				return DV_PARSE_MALFORMED;
			break;
		default:
			*etype = 0;
			return DV_PARSE_OK;
		}
	}
}

/*
 * Link layer: find where the network header starts (*off) and what it is
 * (*etype, an ethertype; raw-IP and loopback headers are mapped to one). A
 * link type this parser does not know carries nothing it can read: NON_IP.
 */
static enum dv_parse_status dv_parse_link(const uint8_t *d, uint32_t caplen, int linktype,
					  uint32_t *off, uint16_t *etype, struct dv_pkt *out)
{
	switch (linktype) {
	case DV_LINK_ETHERNET:
		if (caplen < DV_ETH_HLEN)
			return DV_PARSE_MALFORMED;
		*off = DV_ETH_HLEN;
		*etype = dv_parse_be16(d + 12);
		return dv_skip_vlans(d, caplen, off, etype, out);
	case DV_LINK_SLL:
		if (caplen < DV_SLL_HLEN)
			return DV_PARSE_MALFORMED;
		*off = DV_SLL_HLEN;
		*etype = dv_parse_be16(d + 14);
		return dv_skip_vlans(d, caplen, off, etype, out);
	case DV_LINK_SLL2:
		if (caplen < DV_SLL2_HLEN)
			return DV_PARSE_MALFORMED;
		*off = DV_SLL2_HLEN;
		*etype = dv_parse_be16(d);
		return dv_skip_vlans(d, caplen, off, etype, out);
	case DV_LINK_RAW:
		if (caplen < 1)
			return DV_PARSE_MALFORMED;
		*off = 0;
		if (d[0] >> 4 == 4)
			*etype = DV_ETHERTYPE_IPV4;
		else if (d[0] >> 4 == 6)
			*etype = DV_ETHERTYPE_IPV6;
		else
			return DV_PARSE_MALFORMED;
		return DV_PARSE_OK;
	case DV_LINK_IPV4:
		*off = 0;
		*etype = DV_ETHERTYPE_IPV4;
		return DV_PARSE_OK;
	case DV_LINK_IPV6:
		*off = 0;
		*etype = DV_ETHERTYPE_IPV6;
		return DV_PARSE_OK;
	case DV_LINK_NULL:
		/*
		 * Host byte order of the machine that captured, which the reader
		 * may not know: the family is small, so one order gives a known
		 * family and the other a value far out of range.
		 */
		if (caplen < DV_NULL_HLEN)
			return DV_PARSE_MALFORMED;
		*off = DV_NULL_HLEN;
		*etype = dv_af_ethertype(dv_le32(d));
		if (*etype == 0)
			*etype = dv_af_ethertype(dv_be32(d));
		return DV_PARSE_OK;
	case DV_LINK_LOOP:
		if (caplen < DV_NULL_HLEN)
			return DV_PARSE_MALFORMED;
		*off = DV_NULL_HLEN;
		*etype = dv_af_ethertype(dv_be32(d));
		return DV_PARSE_OK;
	default:
		return DV_PARSE_NON_IP;
	}
}

/*
 * IPv4 at d[off..caplen). On OK sets the IP fields of out and the transport
 * header's bounds [*l4off, *l4end).
 */
static enum dv_parse_status dv_parse_ipv4(const uint8_t *d, uint32_t off, uint32_t caplen,
					  struct dv_pkt *out, uint32_t *l4off, uint32_t *l4end)
{
	const uint8_t *ip = d + off;
	uint32_t avail = caplen - off;
	uint32_t hlen, tot_len;
	uint16_t frag;

	if (avail < DV_IPV4_MIN_HLEN || ip[0] >> 4 != 4)
		return DV_PARSE_MALFORMED;
	hlen = (uint32_t)(ip[0] & 0x0f) * 4;
	if (hlen < DV_IPV4_MIN_HLEN || hlen > avail)
		return DV_PARSE_MALFORMED;
	/* 0 is what a capture of a TSO super-packet shows: length unknown. */
	tot_len = dv_parse_be16(ip + 2);
	if (tot_len != 0 && tot_len < hlen)
		return DV_PARSE_MALFORMED;

	out->family = 4;
	out->proto = ip[9];
	out->frag_id = dv_parse_be16(ip + 4);
	memcpy(out->src, ip + 12, 4);
	memcpy(out->dst, ip + 16, 4);

	frag = dv_parse_be16(ip + 6);
	if (frag & 0x1fff)
		out->frag = DV_FRAG_LATER;
	else if (frag & 0x2000)
		out->frag = DV_FRAG_FIRST;

	*l4off = off + hlen;
	*l4end = (tot_len != 0 && tot_len < avail) ? off + tot_len : caplen;
	return DV_PARSE_OK;
}

/*
 * IPv6 at d[off..caplen), walking the extension headers that sit between the
 * fixed header and the transport protocol. AH, ESP and No-Next-Header end the
 * walk: they are the flow's protocol, as the flow key wants them.
 */
static enum dv_parse_status dv_parse_ipv6(const uint8_t *d, uint32_t off, uint32_t caplen,
					  struct dv_pkt *out, uint32_t *l4off, uint32_t *l4end)
{
	const uint8_t *ip = d + off;
	uint32_t avail = caplen - off;
	uint32_t plen, end, hlen;
	uint16_t frag;
	uint8_t nh;
	int n;

	if (avail < DV_IPV6_HLEN || ip[0] >> 4 != 6)
		return DV_PARSE_MALFORMED;
	out->family = 6;
	memcpy(out->src, ip + 8, 16);
	memcpy(out->dst, ip + 24, 16);

	/* 0 is a jumbogram or a TSO capture: the capture is the bound. */
	plen = dv_parse_be16(ip + 4);
	end = (plen != 0 && plen < avail - DV_IPV6_HLEN) ? off + DV_IPV6_HLEN + plen : caplen;
	nh = ip[6];
	off += DV_IPV6_HLEN;

	for (n = 0;; n++) {
		if (nh != DV_IPPROTO_HOPOPTS && nh != DV_IPPROTO_ROUTING &&
		    nh != DV_IPPROTO_FRAGMENT && nh != DV_IPPROTO_DSTOPTS)
			break;
		if (n == DV_IPV6_MAX_EXT)
			return DV_PARSE_MALFORMED;
		if (end - off < 2)
			return DV_PARSE_MALFORMED;
		hlen = nh == DV_IPPROTO_FRAGMENT ? DV_IPV6_FRAG_HLEN : (d[off + 1] + 1u) * 8;
		if (end - off < hlen)
			return DV_PARSE_MALFORMED;
		if (nh == DV_IPPROTO_FRAGMENT) {
			frag = dv_parse_be16(d + off + 2);
			out->frag_id = dv_be32(d + off + 4);
			if (frag & 0xfff8) {
				/* No transport header here: stop, its protocol is known. */
				out->frag = DV_FRAG_LATER;
				out->proto = d[off];
				return DV_PARSE_OK;
			}
			/* An atomic fragment (offset 0, no M) is a whole packet. */
			if (frag & 0x0001)
				out->frag = DV_FRAG_FIRST;
		}
		nh = d[off];
		off += hlen;
	}

	out->proto = nh;
	*l4off = off;
	*l4end = end;
	return DV_PARSE_OK;
}

/* Ports and TCP flags from the transport header at d[off..end); an ICMP
 * header's type and code into *icmp (left alone for anything else). */
static enum dv_parse_status dv_parse_l4(const uint8_t *d, uint32_t off, uint32_t end,
					struct dv_pkt *out, uint32_t *icmp)
{
	const uint8_t *l4 = d + off;
	uint32_t avail = end - off;

	switch (out->proto) {
	case DV_IPPROTO_TCP:
		if (avail < DV_TCP_NEED || l4[12] >> 4 < 5)
			return DV_PARSE_MALFORMED;
		out->tcp_flags = l4[13];
		break;
	case DV_IPPROTO_UDP:
		if (avail < DV_UDP_NEED)
			return DV_PARSE_MALFORMED;
		break;
	case DV_IPPROTO_SCTP:
		if (avail < DV_SCTP_NEED)
			return DV_PARSE_MALFORMED;
		break;
	case DV_IPPROTO_ICMP:
	case DV_IPPROTO_ICMPV6:
		/* No ports; type and code for the Community ID (dv_pkt_icmp()). */
		if (avail >= 2)
			*icmp = DV_PKT_ICMP_SEEN | (uint32_t)l4[0] << 8 | l4[1];
		return DV_PARSE_OK;
	default:
		return DV_PARSE_OK; /* no ports: GRE, ESP, AH, ... */
	}
	out->sport = dv_parse_be16(l4);
	out->dport = dv_parse_be16(l4 + 2);
	return DV_PARSE_OK;
}

/* Which overlay a UDP destination port belongs to (dv_decap_udp_port() said one does). */
static int dv_udp_overlay(const struct dv_decap_cfg *dc, uint16_t port, const uint8_t *p,
			  uint32_t len, struct dv_decap *res)
{
	for (unsigned int i = 0; i < dc->n_vxlan; i++)
		if (dc->vxlan[i] == port)
			return dv_decap_vxlan(p, len, res);
	for (unsigned int i = 0; i < dc->n_vxlan_gpe; i++)
		if (dc->vxlan_gpe[i] == port)
			return dv_decap_vxlan_gpe(p, len, res);
	for (unsigned int i = 0; i < dc->n_geneve; i++)
		if (dc->geneve[i] == port)
			return dv_decap_geneve(p, len, res);
	return dv_decap_gtpu(p, len, res);
}

/* Where the IP packet at d[ip] ends by its own length field (which a snap
 * length does not cut), or 0 when the field says nothing (TSO, jumbogram). */
static uint32_t dv_ip_wire_end(const uint8_t *d, uint32_t ip, uint8_t family)
{
	uint32_t n = dv_parse_be16(d + ip + (family == 4 ? 2 : 4));

	if (n == 0)
		return 0;
	return family == 4 ? ip + n : ip + DV_IPV6_HLEN + n;
}

/*
 * Is the IP packet just parsed (header at ip, transport header or tunnel
 * header at [l4off, l4end)) a tunnel? DV_PARSE_OK with *etype 0: no (not
 * one devourer reads, or its payload is unknown), the IP packet is the flow. Otherwise the walk
 * goes on at *off with *etype (an IP ethertype), having counted the step, the VNI, the outer
 * addresses and the carried frame's length; NON_IP, MALFORMED (in what the tunnel carries) or
 * TOO_DEEP end it.
 */
static enum dv_parse_status dv_parse_tunnel(struct dv_walk *w, uint32_t ip, uint32_t l4off,
					    uint32_t l4end, uint32_t *off, uint16_t *etype)
{
	struct dv_pkt *out = w->out;
	const uint8_t *d = w->d;
	struct dv_decap res;
	enum dv_parse_status st;
	uint32_t at = l4off, end = l4end;
	int rc;

	*etype = 0;
	switch (out->proto) {
	case DV_IPPROTO_IPIP:
	case DV_IPPROTO_IPV6:
		rc = DV_DECAP_OK;
		res.off = 0;
		res.inner = out->proto == DV_IPPROTO_IPIP ? DV_INNER_IPV4 : DV_INNER_IPV6;
		res.kind = DV_TUN_IPIP;
		res.has_vni = 0;
		break;
	case DV_IPPROTO_GRE:
		rc = dv_decap_gre(d + at, end - at, &res);
		break;
	case DV_IPPROTO_UDP:
		if (end - at < DV_UDP_NEED || !dv_decap_udp_port(w->dc, dv_parse_be16(d + at + 2)))
			return DV_PARSE_OK;
		/* The datagram's own length bounds its payload, when it is sane. */
		uint32_t ulen = dv_parse_be16(d + at + 4);

		if (ulen >= DV_UDP_NEED && ulen < end - at)
			end = at + ulen;
		at += DV_UDP_NEED;
		rc = dv_udp_overlay(w->dc, dv_parse_be16(d + l4off + 2), d + at, end - at, &res);
		break;
	default:
		return DV_PARSE_OK;
	}
	/* A port is only a guess and a header may be damaged: a tunnel header
	 * that cannot be read leaves its packet the flow, so that nothing is
	 * lost (counted as bad_tunnel). */
	if (rc != DV_DECAP_OK) {
		out->tun |= DV_PKT_T_BAD;
		return DV_PARSE_OK;
	}
	if (res.inner == DV_INNER_UNKNOWN)
		return DV_PARSE_OK;
	st = dv_walk_step(w, (enum dv_tunnel_kind)res.kind);
	if (st != DV_PARSE_OK)
		return st;
	if (w->tun->outer_family == 0) {
		w->tun->outer_family = out->family;
		memcpy(w->tun->outer_src, out->src, 16);
		memcpy(w->tun->outer_dst, out->dst, 16);
	}
	/* The inner header writes its own addresses: an IPv4 one only 4 bytes of each. */
	memset(out->src, 0, sizeof(out->src));
	memset(out->dst, 0, sizeof(out->dst));
	if (res.has_vni) {
		out->tun |= DV_PKT_T_VNI;
		out->vni = res.vni;
	}
	at += res.off;
	w->end = end;
	switch (res.inner) {
	case DV_INNER_IPV4:
		*etype = DV_ETHERTYPE_IPV4;
		break;
	case DV_INNER_IPV6:
		*etype = DV_ETHERTYPE_IPV6;
		break;
	case DV_INNER_MPLS:
		*etype = DV_ETHERTYPE_MPLS;
		break;
	case DV_INNER_ETHERNET: {
		/* A carried frame is counted as itself (its bytes, its VLAN). */
		uint32_t ip_end = dv_ip_wire_end(d, ip, out->family);

		w->tun->frame_len = ip_end > at ? ip_end - at : 0;
		w->tun->frame_off = ip_end == 0 ? at : 0;
		if (end - at < DV_ETH_HLEN)
			return DV_PARSE_MALFORMED;
		*etype = dv_parse_be16(d + at + 12);
		at += DV_ETH_HLEN;
		out->vlan = 0;
		if (dv_skip_vlans(d, end, &at, etype, out) != DV_PARSE_OK)
			return DV_PARSE_MALFORMED;
		break;
	}
	default:
		return DV_PARSE_NON_IP;
	}
	*off = at;
	st = dv_skip_shims(w, off, etype);
	/* A carried frame without IP (ARP, LLDP, an 802.3 length) is no flow at all. */
	if (st == DV_PARSE_OK && *etype != DV_ETHERTYPE_IPV4 && *etype != DV_ETHERTYPE_IPV6)
		return DV_PARSE_NON_IP;
	return st;
}

/*
 * Where the transport payload of the packet just parsed starts and ends:
 * after the TCP header (its data offset) or the UDP header (up to the
 * datagram's own length when that is sane), within the transport bounds
 * [l4off, l4end). Nothing for other protocols and later fragments.
 */
static void dv_parse_payload_at(const uint8_t *d, const struct dv_pkt *out, uint32_t l4off,
				uint32_t l4end, struct dv_payload *pl)
{
	uint32_t off = l4end, end = l4end;

	if (out->frag != DV_FRAG_LATER && out->proto == DV_IPPROTO_TCP) {
		off = l4off + (uint32_t)(d[l4off + 12] >> 4) * 4;
	} else if (out->frag != DV_FRAG_LATER && out->proto == DV_IPPROTO_UDP) {
		uint32_t ulen = dv_parse_be16(d + l4off + 4);

		off = l4off + DV_UDP_NEED;
		if (ulen >= DV_UDP_NEED && ulen < l4end - l4off)
			end = l4off + ulen;
	}
	pl->off = off < end ? off : end;
	pl->end = end;
	pl->l4 = l4off;
}

static __rte_always_inline enum dv_parse_status
dv_parse_walk(const uint8_t *data, uint32_t caplen, int linktype, const struct dv_decap_cfg *dc,
	      struct dv_pkt *out, struct dv_pkt_tun *tun, struct dv_payload *pl)
{
	struct dv_walk w = {.d = data, .end = caplen, .dc = dc, .out = out, .tun = tun};
	enum dv_parse_status st;
	uint32_t off = 0, l4off = 0, l4end = 0;
	uint16_t etype = 0;

	/* Everything before wire_len: the caller owns wire_len and ts_ns. */
	memset(out, 0, offsetof(struct dv_pkt, wire_len));
	out->vni = 0; /* no VNI, no ICMP word (dv_pkt_icmp()) */

	st = dv_parse_link(data, caplen, linktype, &off, &etype, out);
	if (st == DV_PARSE_OK)
		st = dv_skip_shims(&w, &off, &etype);
	if (st != DV_PARSE_OK)
		return st;

	for (;;) {
		uint32_t ip = off;

		/* Anything else, 802.3 length fields (< 0x0600) included, carries no IP. */
		if (etype == DV_ETHERTYPE_IPV4)
			st = dv_parse_ipv4(data, off, w.end, out, &l4off, &l4end);
		else if (etype == DV_ETHERTYPE_IPV6)
			st = dv_parse_ipv6(data, off, w.end, out, &l4off, &l4end);
		else
			return DV_PARSE_NON_IP;
		if (st != DV_PARSE_OK || out->frag == DV_FRAG_LATER)
			return st;
		/* A fragment of a tunnel's packet is not opened: it is the flow. */
		if (dc == NULL || out->frag != DV_FRAG_NONE)
			break;
		st = dv_parse_tunnel(&w, ip, l4off, l4end, &off, &etype);
		if (st != DV_PARSE_OK)
			return st;
		if (etype == 0)
			break;
	}
	/* The ICMP word goes where dv_pkt_icmp() reads it: a VNI takes vni. */
	st = dv_parse_l4(data, l4off, l4end, out,
			 (out->tun & DV_PKT_T_VNI) ? &tun->icmp : &out->vni);
	if (pl != NULL && st == DV_PARSE_OK)
		dv_parse_payload_at(data, out, l4off, l4end, pl);
	return st;
}

enum dv_parse_status dv_parse_general(const uint8_t *data, uint32_t caplen, int linktype,
				      const struct dv_decap_cfg *dc, struct dv_pkt *out,
				      struct dv_pkt_tun *tun)
{
	return dv_parse_walk(data, caplen, linktype, dc, out, tun, NULL);
}

enum dv_parse_status dv_parse_general_payload(const uint8_t *data, uint32_t caplen, int linktype,
					      const struct dv_decap_cfg *dc, struct dv_pkt *out,
					      struct dv_pkt_tun *tun, struct dv_payload *pl)
{
	pl->off = pl->end = pl->l4 = 0;
	return dv_parse_walk(data, caplen, linktype, dc, out, tun, pl);
}

const struct dv_decap_cfg dv_decap_none; /* all zero: only port 0 passes the range, no bit set */

void dv_decap_cfg_ports(struct dv_decap_cfg *dc)
{
	const uint16_t *lists[] = {dc->vxlan, dc->vxlan_gpe, dc->geneve, dc->gtpu};
	const uint8_t counts[] = {dc->n_vxlan, dc->n_vxlan_gpe, dc->n_geneve, dc->n_gtpu};

	uint16_t lo = UINT16_MAX, hi = 0;

	memset(dc->udp_ports, 0, sizeof(dc->udp_ports));
	for (unsigned int l = 0; l < 4; l++)
		for (unsigned int i = 0; i < counts[l]; i++) {
			uint16_t port = lists[l][i];

			dc->udp_ports[port >> 6] |= 1ULL << (port & 63);
			lo = port < lo ? port : lo;
			hi = port > hi ? port : hi;
		}
	dc->port_min = lo <= hi ? lo : 0; /* no port: only 0 passes the range, and no bit is set */
	dc->port_span = lo <= hi ? (uint16_t)(hi - lo) : 0;
}

void dv_decap_cfg_default(struct dv_decap_cfg *dc)
{
	memset(dc, 0, sizeof(*dc));
	dc->vxlan[dc->n_vxlan++] = 4789;
	dc->vxlan[dc->n_vxlan++] = 8472;
	dc->vxlan_gpe[dc->n_vxlan_gpe++] = 4790;
	dc->geneve[dc->n_geneve++] = 6081;
	dc->gtpu[dc->n_gtpu++] = 2152;
	dc->max_depth = DV_TUN_MAX_DEPTH;
	dv_decap_cfg_ports(dc);
}

uint32_t dv_pkt_addr_hash(const struct dv_pkt *pkt)
{
	uint32_t a = rte_hash_crc(pkt->src, sizeof(pkt->src), 0);
	uint32_t b = rte_hash_crc(pkt->dst, sizeof(pkt->dst), 0);
	uint32_t lo = a < b ? a : b;
	uint32_t hi = a < b ? b : a;
	uint32_t vlan = pkt->vlan; /* 0 untagged, so tag 0 differs from none */

	/* Ordering the two halves makes the hash symmetric without XOR's a==b zero. */
	return rte_hash_crc_4byte(hi, rte_hash_crc_4byte(lo, vlan));
}
