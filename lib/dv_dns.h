/*
 * dv_dns: the first question name and the response code of one DNS message
 * (RFC 1035 4.1; also mDNS and LLMNR, which share the format), for the
 * dns_query and dns_rcode columns of issue 19.
 *
 * A stateless reader of the bytes it is given: it never reads outside
 * msg[0..len), follows at most DV_DNS_MAX_JUMPS compression pointers (a
 * loop of pointers ends there), stops at 255 bytes of name on the wire
 * (RFC 1035 2.3.4), and reports failure rather than a partial name. Not
 * yet called on the packet path (docs/flow-context.md).
 */
#ifndef DV_DNS_H
#define DV_DNS_H

#include <stdint.h>

#define DV_DNS_HDR	 12
#define DV_DNS_MAX_JUMPS 16
/* Presentation text of a name of at most 255 wire bytes, every byte of it
 * escaped as \DDD at worst, and a NUL. */
#define DV_DNS_TEXT_MAX (255 * 4 + 1)

struct dv_dns_info {
	char qname[DV_DNS_TEXT_MAX]; /* dotted text; "." for the root */
	uint16_t qname_len;	     /* strlen(qname) */
	uint8_t response;	     /* QR bit */
	uint8_t rcode;		     /* RCODE (low 4 bits of byte 3), meaningful when response */
};

/*
 * Read a DNS message of len bytes (for DNS over TCP, the message after its
 * 2-byte length). Returns 0 with *out filled, or -1 when the bytes are not
 * a message with a readable first question (too short, no question, a
 * label past the end, a bad label type, a pointer loop, a name too long).
 * Labels are written as RFC 1035 5.1 presentation text: printable ASCII
 * (space included) as it is, '.' and '\' escaped with '\', anything else
 * as \DDD (decimal).
 */
int dv_dns_read(const uint8_t *msg, uint32_t len, struct dv_dns_info *out);

#endif
