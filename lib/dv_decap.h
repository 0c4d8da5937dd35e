/*
 * dv_decap: the headers of tunnels, mirror sessions and link shims, one
 * small pure function each. Given the bytes that follow an outer header (a
 * GRE or UDP payload, or what follows an ethertype), each says where its
 * payload starts and what the payload is, or that the header is malformed.
 * None keeps state or reads past the length it is given; the parser loops
 * over them up to a depth limit (issue 16).
 *
 * The layouts are those of the RFCs and vendor documents named beside each
 * function in dv_decap.c; what goes in the flow key from them is only the
 * virtual network id (VXLAN, VXLAN-GPE and Geneve VNI, NVGRE VSID): the
 * per-direction values (GTP-U TEIDs, MPLS labels, ERSPAN session ids, other
 * GRE keys) are read past, never kept.
 */
#ifndef DV_DECAP_H
#define DV_DECAP_H

#include <stdint.h>

/* What a payload is. */
enum dv_inner {
	DV_INNER_ETHERNET = 1, /* an Ethernet frame (mirrors, overlays, GRE bridging) */
	DV_INNER_IPV4,	       /* an IPv4 packet */
	DV_INNER_IPV6,	       /* an IPv6 packet */
	DV_INNER_MPLS,	       /* an MPLS label stack (MPLS over GRE): dv_decap_mpls next */
	DV_INNER_NON_IP,       /* a payload that is known and carries no IP (PPP LCP, ...) */
	DV_INNER_UNKNOWN,      /* a payload devourer cannot read: log the outer flow */
};

/* The tunnel column's vocabulary, outermost first in a row. */
enum dv_tunnel_kind {
	DV_TUN_NONE = 0,
	DV_TUN_ERSPAN,
	DV_TUN_VXLAN,
	DV_TUN_VXLAN_GPE,
	DV_TUN_GENEVE,
	DV_TUN_NVGRE,
	DV_TUN_GRE,
	DV_TUN_GTPU,
	DV_TUN_MPLS,
	DV_TUN_PPPOE,
	DV_TUN_IPIP,
	DV_TUN_FABRICPATH,
	DV_TUN_KINDS
};

/* The name of a kind in the tunnel column ("erspan", "vxlan", ...). */
const char *dv_tunnel_name(enum dv_tunnel_kind k);

/* One decapsulation step. */
struct dv_decap {
	uint32_t off;  /* the payload starts this many bytes into the header */
	uint8_t inner; /* enum dv_inner */
	uint8_t kind;  /* enum dv_tunnel_kind */
	uint8_t has_vni;
	uint32_t vni; /* with has_vni: the 24-bit VNI or VSID (part of the flow key) */
};

/* Results of the functions below. */
#define DV_DECAP_OK	   0	/* out is filled */
#define DV_DECAP_MALFORMED (-1) /* truncated, a wrong version, reserved bits, GRE routing */

/* UDP payloads, by port (the caller knows which port it saw). */
int dv_decap_vxlan(const uint8_t *p, uint32_t len, struct dv_decap *out);     /* 4789, 8472 */
int dv_decap_vxlan_gpe(const uint8_t *p, uint32_t len, struct dv_decap *out); /* 4790 */
int dv_decap_geneve(const uint8_t *p, uint32_t len, struct dv_decap *out);    /* 6081 */
int dv_decap_gtpu(const uint8_t *p, uint32_t len, struct dv_decap *out);      /* 2152 */

/* An IP protocol 47 payload: GRE with checksum, key and sequence, and what
 * it carries: IPv4, IPv6, Ethernet (0x6558; NVGRE when keyed), ERSPAN type I
 * and II (0x88BE) and III (0x22EB), MPLS (0x8847, 0x8848). */
int dv_decap_gre(const uint8_t *p, uint32_t len, struct dv_decap *out);

/* Link shims, after their ethertype: an MPLS label stack (0x8847, 0x8848),
 * a PPPoE session header (0x8864), a Cisco FabricPath header (0x8903, the
 * bytes after the outer ethertype: the inner frame's addresses follow). */
int dv_decap_mpls(const uint8_t *p, uint32_t len, struct dv_decap *out);
int dv_decap_pppoe(const uint8_t *p, uint32_t len, struct dv_decap *out);
int dv_decap_fabricpath(const uint8_t *p, uint32_t len, struct dv_decap *out);

#endif
