/*
 * dv_decap: one function per encapsulation (see dv_decap.h). Each checks
 * every byte it reads against len, the version and the bits the format
 * fixes, and reads past what may differ per direction.
 */
#include <stddef.h>

#include "dv_decap.h"

#define DV_ETHERTYPE_IPV4    0x0800
#define DV_ETHERTYPE_IPV6    0x86dd
#define DV_ETHERTYPE_TEB     0x6558 /* transparent Ethernet bridging */
#define DV_ETHERTYPE_MPLS    0x8847
#define DV_ETHERTYPE_MPLS_MC 0x8848
#define DV_GRE_ERSPAN_2	     0x88be /* type I (no S bit) and II */
#define DV_GRE_ERSPAN_3	     0x22eb
#define DV_MPLS_MAX_LABELS   16

static inline uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static const char *const dv_tunnel_names[DV_TUN_KINDS] = {
    [DV_TUN_NONE] = "",		[DV_TUN_ERSPAN] = "erspan",
    [DV_TUN_VXLAN] = "vxlan",	[DV_TUN_VXLAN_GPE] = "vxlan-gpe",
    [DV_TUN_GENEVE] = "geneve", [DV_TUN_NVGRE] = "nvgre",
    [DV_TUN_GRE] = "gre",	[DV_TUN_GTPU] = "gtpu",
    [DV_TUN_MPLS] = "mpls",	[DV_TUN_PPPOE] = "pppoe",
    [DV_TUN_IPIP] = "ipip",	[DV_TUN_FABRICPATH] = "fabricpath",
};

const char *dv_tunnel_name(enum dv_tunnel_kind k)
{
	return (unsigned int)k < DV_TUN_KINDS ? dv_tunnel_names[k] : "";
}

static int done(struct dv_decap *out, uint32_t off, enum dv_inner inner, enum dv_tunnel_kind kind)
{
	out->off = off;
	out->inner = (uint8_t)inner;
	out->kind = (uint8_t)kind;
	out->has_vni = 0;
	out->vni = 0;
	return DV_DECAP_OK;
}

static int done_vni(struct dv_decap *out, uint32_t off, enum dv_inner inner,
		    enum dv_tunnel_kind kind, uint32_t vni)
{
	done(out, off, inner, kind);
	out->has_vni = 1;
	out->vni = vni;
	return DV_DECAP_OK;
}

/* An IP packet by its version nibble, as after an MPLS stack or in GTP-U. */
static enum dv_inner ip_by_version(const uint8_t *p, uint32_t len)
{
	if (len == 0)
		return DV_INNER_UNKNOWN;
	if (p[0] >> 4 == 4)
		return DV_INNER_IPV4;
	if (p[0] >> 4 == 6)
		return DV_INNER_IPV6;
	return DV_INNER_UNKNOWN;
}

static enum dv_inner by_ethertype(uint16_t type)
{
	switch (type) {
	case DV_ETHERTYPE_IPV4:
		return DV_INNER_IPV4;
	case DV_ETHERTYPE_IPV6:
		return DV_INNER_IPV6;
	case DV_ETHERTYPE_TEB:
		return DV_INNER_ETHERNET;
	case DV_ETHERTYPE_MPLS:
	case DV_ETHERTYPE_MPLS_MC:
		return DV_INNER_MPLS;
	default:
		return DV_INNER_UNKNOWN;
	}
}

/*
 * VXLAN, RFC 7348 section 5:
 *   0       flags: R R R R I R R R (I: the VNI is valid; the others are
 *           reserved, ignored on receipt)
 *   1..3    reserved
 *   4..6    VNI
 *   7       reserved
 * then the Ethernet frame.
 */
int dv_decap_vxlan(const uint8_t *p, uint32_t len, struct dv_decap *out)
{
	if (len < 8 || !(p[0] & 0x08))
		return DV_DECAP_MALFORMED;
	return done_vni(out, 8, DV_INNER_ETHERNET, DV_TUN_VXLAN, be24(p + 4));
}

/*
 * VXLAN-GPE, draft-ietf-nvo3-vxlan-gpe section 3.1:
 *   0       flags: R R Ver(2) I P B O (Ver must be 0)
 *   1..2    reserved
 *   3       next protocol (with P): 1 IPv4, 2 IPv6, 3 Ethernet, 4 NSH, 5 MPLS
 *   4..6    VNI (with I)
 *   7       reserved
 * Without P it is VXLAN (the draft's first versions): an Ethernet frame
 * follows, and as in VXLAN the I flag must be set; a header with neither is
 * not one (a payload of zeros on port 4790 is not a tunnel).
 */
int dv_decap_vxlan_gpe(const uint8_t *p, uint32_t len, struct dv_decap *out)
{
	static const uint8_t next[] = {
	    0, DV_INNER_IPV4, DV_INNER_IPV6, DV_INNER_ETHERNET, DV_INNER_UNKNOWN, DV_INNER_MPLS};
	enum dv_inner inner = DV_INNER_ETHERNET;

	if (len < 8 || (p[0] & 0x30) != 0 || (p[0] & 0x0c) == 0)
		return DV_DECAP_MALFORMED;
	if (p[0] & 0x04)
		inner =
		    p[3] >= 1 && p[3] < sizeof(next) ? (enum dv_inner)next[p[3]] : DV_INNER_UNKNOWN;
	if (!(p[0] & 0x08))
		return done(out, 8, inner, DV_TUN_VXLAN_GPE);
	return done_vni(out, 8, inner, DV_TUN_VXLAN_GPE, be24(p + 4));
}

/*
 * Geneve, RFC 8926 section 3.4:
 *   0       Ver(2) (0) | Opt Len(6), the options' length in 4-byte words
 *   1       O C Rsvd(6)
 *   2..3    protocol type (an ethertype: 0x6558 Ethernet, 0x0800, 0x86DD)
 *   4..6    VNI
 *   7       reserved
 *   8..     options
 */
int dv_decap_geneve(const uint8_t *p, uint32_t len, struct dv_decap *out)
{
	uint32_t hlen;

	if (len < 8 || p[0] >> 6 != 0)
		return DV_DECAP_MALFORMED;
	hlen = 8 + 4u * (p[0] & 0x3f);
	if (len < hlen)
		return DV_DECAP_MALFORMED;
	return done_vni(out, hlen, by_ethertype(be16(p + 2)), DV_TUN_GENEVE, be24(p + 4));
}

/*
 * GTP-U, 3GPP TS 29.281 section 5.1:
 *   0       Version(3) (1) | PT (1) | spare | E | S | PN
 *   1       message type (255: G-PDU, a user packet; the others are
 *           signalling: echo, error indication, end marker, logged as the
 *           outer flow between the two GTP-U endpoints)
 *   2..3    length of what follows the first 8 bytes
 *   4..7    TEID (per direction: not kept)
 *   with E, S or PN: 8..9 sequence, 10 N-PDU number, 11 next extension type
 *   with E: extensions, each [length in 4-byte words][content][next type],
 *           until a next type of 0 (the 5G PDU session container is one)
 * then the user's IPv4 or IPv6 packet.
 */
int dv_decap_gtpu(const uint8_t *p, uint32_t len, struct dv_decap *out)
{
	uint32_t off = 8, end;
	uint8_t next;

	if (len < 8 || p[0] >> 5 != 1 || !(p[0] & 0x10))
		return DV_DECAP_MALFORMED;
	end = 8 + (uint32_t)be16(p + 2);
	if (end < len)
		len = end; /* what follows belongs to no GTP-U packet */
	if (p[1] != 0xff)
		return done(out, len, DV_INNER_UNKNOWN,
			    DV_TUN_GTPU); /* signalling: the outer flow */
	if (p[0] & 0x07) {
		if (len < 12)
			return DV_DECAP_MALFORMED;
		off = 12;
		next = (p[0] & 0x04) ? p[11] : 0;
		while (next != 0) {
			uint32_t ext;

			if (off >= len || p[off] == 0)
				return DV_DECAP_MALFORMED;
			ext = 4u * p[off];
			if (len - off < ext)
				return DV_DECAP_MALFORMED;
			next = p[off + ext - 1];
			off += ext;
		}
	}
	if (off >= len)
		return DV_DECAP_MALFORMED; /* a user packet cut before its first byte */
	return done(out, off, ip_by_version(p + off, len - off), DV_TUN_GTPU);
}

/*
 * ERSPAN type II (version 1) after its GRE header, 8 bytes:
 *   0..1    Ver(4) (1) | VLAN(12)
 *   2..3    COS(3) | En(2) | T | session id(10) (per direction: not kept)
 *   4..7    reserved(12) | index(20)
 * then the mirrored Ethernet frame.
 */
static int erspan2(const uint8_t *p, uint32_t len, uint32_t at, struct dv_decap *out)
{
	if (len - at < 8 || p[at] >> 4 != 1)
		return DV_DECAP_MALFORMED;
	return done(out, at + 8, DV_INNER_ETHERNET, DV_TUN_ERSPAN);
}

/*
 * ERSPAN type III (version 2) after its GRE header, 12 bytes:
 *   0..1    Ver(4) (2) | VLAN(12)
 *   2..3    COS(3) | BSO(2) | T | session id(10)
 *   4..7    timestamp
 *   8..9    security group tag
 *   10      P | FT(5) | HW id, high 2 bits   (FT: 0 Ethernet, 2 IP packet)
 *   11      HW id, low 4 bits | D | Gra(2) | O (an 8-byte platform sub-header follows)
 */
static int erspan3(const uint8_t *p, uint32_t len, uint32_t at, struct dv_decap *out)
{
	uint32_t off = at + 12;
	uint8_t ft;

	if (len - at < 12 || p[at] >> 4 != 2)
		return DV_DECAP_MALFORMED;
	if (p[at + 11] & 0x01)
		off += 8;
	if (off > len)
		return DV_DECAP_MALFORMED;
	ft = (p[at + 10] >> 2) & 0x1f;
	if (ft == 0)
		return done(out, off, DV_INNER_ETHERNET, DV_TUN_ERSPAN);
	if (ft == 2 && off >= len)
		return DV_DECAP_MALFORMED; /* a mirrored packet cut before its first byte */
	return done(out, off, ft == 2 ? ip_by_version(p + off, len - off) : DV_INNER_UNKNOWN,
		    DV_TUN_ERSPAN);
}

/*
 * GRE, RFC 2784 with the key and sequence of RFC 2890 (and RFC 1701's bits):
 *   0..1    C R K S s Recur(3) | flags(5) | Ver(3) (0)
 *   2..3    protocol type (an ethertype)
 *   with C: checksum and reserved, 4 bytes; R (source routing) is
 *   refused, as RFC 2784 receivers do; a version other than 0 (PPTP's
 *   enhanced GRE is 1) is not a tunnel devourer reads; with K: key, 4 bytes; with S:
 *   sequence, 4 bytes.
 * NVGRE (RFC 7637) is keyed Ethernet bridging, its key the VSID(24) and a
 * flow id(8). ERSPAN type I is GRE without S and no ERSPAN header.
 */
int dv_decap_gre(const uint8_t *p, uint32_t len, struct dv_decap *out)
{
	uint16_t flags, type;
	uint32_t off = 4, key = 0;

	if (len < 4)
		return DV_DECAP_MALFORMED;
	flags = be16(p);
	type = be16(p + 2);
	if (flags & 0x4000)
		return DV_DECAP_MALFORMED; /* source routing */
	if ((flags & 0x0007) != 0)
		return done(out, 4, DV_INNER_UNKNOWN, DV_TUN_GRE); /* PPTP's version 1, ... */
	if (flags & 0x8000)
		off += 4;
	if (flags & 0x2000) {
		if (len < off + 4)
			return DV_DECAP_MALFORMED;
		key = (uint32_t)be16(p + off) << 16 | be16(p + off + 2);
		off += 4;
	}
	if (flags & 0x1000)
		off += 4;
	if (len < off)
		return DV_DECAP_MALFORMED;
	switch (type) {
	case DV_GRE_ERSPAN_2:
		if (flags & 0x1000)
			return erspan2(p, len, off, out);
		return done(out, off, DV_INNER_ETHERNET, DV_TUN_ERSPAN);
	case DV_GRE_ERSPAN_3:
		return erspan3(p, len, off, out);
	case DV_ETHERTYPE_TEB:
		if (flags & 0x2000)
			return done_vni(out, off, DV_INNER_ETHERNET, DV_TUN_NVGRE, key >> 8);
		return done(out, off, DV_INNER_ETHERNET, DV_TUN_GRE);
	default:
		return done(out, off, by_ethertype(type), DV_TUN_GRE);
	}
}

/*
 * MPLS, RFC 3032 section 2.1: 4-byte entries label(20) | TC(3) | S | TTL(8)
 * until S (bottom of stack); then, by the first nibble, IPv4 or IPv6 (RFC
 * 3032 leaves the payload to the label's binding: a pseudowire or anything
 * else is unknown here). The labels are per direction: not kept.
 */
int dv_decap_mpls(const uint8_t *p, uint32_t len, struct dv_decap *out)
{
	uint32_t off = 0;

	for (int n = 0; n < DV_MPLS_MAX_LABELS; n++) {
		if (len - off < 4)
			return DV_DECAP_MALFORMED;
		off += 4;
		if (!(p[off - 2] & 0x01))
			continue;
		if (off == len) /* the payload's first nibble decides: it must be there */
			return DV_DECAP_MALFORMED;
		return done(out, off, ip_by_version(p + off, len - off), DV_TUN_MPLS);
	}
	return DV_DECAP_MALFORMED; /* no bottom of stack within the limit */
}

/*
 * PPPoE session stage, RFC 2516 section 4 (ethertype 0x8864):
 *   0       Ver(4) (1) | Type(4) (1)
 *   1       code (0 in the session stage)
 *   2..3    session id
 *   4..5    length of the PPP payload
 *   6..7    PPP protocol (RFC 1661): 0x0021 IPv4, 0x0057 IPv6; the rest
 *           (LCP, IPCP, ...) is PPP's own traffic, no IP
 */
int dv_decap_pppoe(const uint8_t *p, uint32_t len, struct dv_decap *out)
{
	uint16_t proto;

	if (len < 8 || p[0] != 0x11 || p[1] != 0)
		return DV_DECAP_MALFORMED;
	proto = be16(p + 6);
	if (proto == 0x0021)
		return done(out, 8, DV_INNER_IPV4, DV_TUN_PPPOE);
	if (proto == 0x0057)
		return done(out, 8, DV_INNER_IPV6, DV_TUN_PPPOE);
	return done(out, 8, DV_INNER_NON_IP, DV_TUN_PPPOE);
}

/*
 * Cisco FabricPath (ethertype 0x8903 after the outer switch addresses):
 *   0..1    FTag(10) | TTL(6)
 * then the classical Ethernet frame: its addresses, tags and ethertype.
 */
int dv_decap_fabricpath(const uint8_t *p, uint32_t len, struct dv_decap *out)
{
	(void)p;
	if (len < 2 + 14)
		return DV_DECAP_MALFORMED;
	return done(out, 2, DV_INNER_ETHERNET, DV_TUN_FABRICPATH);
}
