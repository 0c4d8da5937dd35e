/*
 * dv_community_id: the Community ID (version 1) of an exported flow, the
 * string by which Zeek, Suricata, Arkime, Elastic, Security Onion and
 * Wireshark name the same flow (github.com/corelight/community-id-spec), so
 * that a row joins their logs on one column.
 *
 * It is computed when a row is formatted, from the export record alone:
 * SHA-1 over seed (2 bytes), the two addresses (4 or 16 bytes each), the
 * IP protocol, a zero byte and, for TCP, UDP, SCTP, ICMP and ICMPv6, two
 * ports, all in network byte order with the smaller (address, port)
 * endpoint first; the digest in base64 after "1:". ICMP has no ports: the
 * type and code of the flow's first packet stand in for them as Zeek maps
 * them (a request and its reply give the same ID; a message without a
 * counterpart keeps its direction). A flow whose first packet was a later
 * IP fragment (its ports, or ICMP type, unknown) is hashed without ports,
 * as tshark hashes such a packet.
 */
#ifndef DV_COMMUNITY_ID_H
#define DV_COMMUNITY_ID_H

#include <stdint.h>

#include "dv_export.h"

/* "1:" + 28 base64 characters of a 20-byte digest + NUL. */
#define DV_COMMUNITY_ID_SIZE 31

/*
 * How rows get their ID: built once by the program, read-only afterwards
 * (any thread may format rows with it).
 */
struct dv_community_cfg {
	uint16_t seed; /* --community-id-seed */
	uint8_t off;   /* 1: no ID, the column is NULL (--flow-context off) */
};

/* Fill cfg; on: 0 for --flow-context off. Returns 0 (err, errlen: for a
 * reason, should a configuration ever fail). */
int dv_community_cfg_init(struct dv_community_cfg *cfg, uint16_t seed, int on, char *err,
			  size_t errlen);

void dv_community_cfg_free(struct dv_community_cfg *cfg);

/*
 * The Community ID of record r as a C string in buf, or NULL when there is
 * none: cfg->off, a family that is neither 4 nor 6, or an ICMP flow whose
 * first packet was cut before its type and code. cfg NULL: seed 0.
 */
const char *dv_community_id(const struct dv_export_rec *r, const struct dv_community_cfg *cfg,
			    char buf[DV_COMMUNITY_ID_SIZE]);

#endif
