/*
 * dv_parse_ctx: the flow-context values of one packet (server_name,
 * dns_query, dns_rcode; docs/flow-context.md), read where the packet is
 * parsed: on the --read reader thread, or on the worker that received it.
 *
 * Per packet with a payload, only a candidate test of a few bytes: DNS,
 * mDNS and LLMNR ports (53, 5353, 5355 on either side), a TLS handshake
 * record that holds a ClientHello (0x16 0x03 .. .. .. 0x01), the upper-case
 * first letter of an HTTP method, a QUIC long header of an Initial packet.
 * A candidate is then read by the payload readers (dv_dns, dv_tls, ...): a
 * TLS, HTTP or QUIC candidate at most DV_PCTX_LOOKS times per flow
 * direction (a small direct-mapped table of directions looked at), a DNS
 * message each time (its reader costs about what that check costs), and
 * what is found leaves in a struct dv_pkt_ctx
 * that follows its packet to the owning worker (on an input ring as
 * dv_pkt_ctx_elems() elements behind the packet and its tunnel side), whose
 * flow table keeps it beside the flow (lib/dv_flow.h).
 *
 * A ClientHello that goes on past its TCP segment is kept in a small
 * reassembly store (DV_PCTX_REASM slots of DV_TLS_NEED_MAX bytes), matched
 * by direction and TCP sequence number, until the SNI can be read; when the
 * store is full the new ClientHello is not followed (counted). Everything is
 * allocated by dv_parse_ctx_create(): nothing per packet, no lock, no
 * system call. A context belongs to one thread.
 */
#ifndef DV_PARSE_CTX_H
#define DV_PARSE_CTX_H

#include <stdint.h>

#include "dv_parse.h"
#include "dv_tls.h"

/* struct dv_pkt_ctx.kind */
enum dv_pkt_ctx_kind {
	DV_PCTX_SERVER_NAME = 1, /* text: TLS or QUIC SNI, or HTTP Host */
	DV_PCTX_DNS = 2,	 /* a DNS message: text its first question (if F_NAME) */
};

#define DV_PCTX_F_NAME	   0x01 /* text holds a name */
#define DV_PCTX_F_RESPONSE 0x02 /* DNS: a response; rcode is its RCODE */

/*
 * What one packet said, written by dv_parse_ctx_read(). On an input ring it
 * takes dv_pkt_ctx_elems() elements of 64 bytes (the first n_el * 64 bytes
 * of the struct).
 */
struct dv_pkt_ctx {
	uint8_t kind;  /* enum dv_pkt_ctx_kind */
	uint8_t flags; /* DV_PCTX_F_* */
	uint8_t rcode;
	uint8_t n_el; /* ring elements it takes, this header's included */
	uint16_t len; /* strlen(text) */
	uint8_t pad[2];
	char text[DV_CTX_NAME_MAX]; /* escaped text (dv_tls.h, dv_dns.h), NUL-terminated */
	uint8_t pad_end[56];
};

_Static_assert(sizeof(struct dv_pkt_ctx) == 5 * sizeof(struct dv_pkt),
	       "a packet's context rides a ring of packets as whole elements");

#define DV_PCTX_MAX_EL 5 /* elements a struct dv_pkt_ctx takes at most */

/* Ring elements that c takes: its header and text with the NUL. */
static inline uint32_t dv_pkt_ctx_elems(const struct dv_pkt_ctx *c)
{
	return (uint32_t)(offsetof(struct dv_pkt_ctx, text) + c->len + 1 + sizeof(struct dv_pkt) -
			  1) /
	       (uint32_t)sizeof(struct dv_pkt);
}

#define DV_PCTX_LOOKS 4	 /* candidates read per flow direction */
#define DV_PCTX_REASM 16 /* ClientHellos followed across segments at once */

struct dv_parse_ctx_stats {
	uint64_t candidates; /* payloads that passed the candidate test */
	uint64_t read;	     /* ... and were read (not past DV_PCTX_LOOKS) */
	uint64_t found;	     /* reads that gave a struct dv_pkt_ctx */
	uint64_t reasm;	     /* ClientHellos followed into a later segment */
	uint64_t reasm_full; /* ... not followed: the store was full */
	uint64_t too_long;   /* names whose text is over DV_CTX_NAME_MAX - 1 characters */
};

struct dv_parse_ctx;

/* The start of a struct dv_parse_ctx, which the inline test reads. */
struct dv_parse_ctx_head {
	uint32_t n_reasm; /* ClientHellos being gathered: 0 spares TCP segments a call */
};

/* A context for one thread; NULL when out of memory. gap_ns: a direction
 * not seen for this long is looked at afresh (the idle timeout: its flow
 * has ended). */
struct dv_parse_ctx *dv_parse_ctx_create(uint64_t gap_ns);

void dv_parse_ctx_free(struct dv_parse_ctx *pc);

/* DNS (53), mDNS (5353) or LLMNR (5355): 5353 and 5355 are the two ports
 * that give 5355 with bit 1 set. */
static inline int dv_pctx_dns_port(uint16_t port)
{
	return port == 53 || (port | 2) == 5355;
}

int dv_parse_ctx_read_any(struct dv_parse_ctx *pc, const struct dv_pkt *p, const uint8_t *data,
			  const struct dv_payload *pl, struct dv_pkt_ctx *out);

/*
 * Read the context of packet p (parsed from data, with payload pl; p->ts_ns
 * set). Returns 1 with *out filled, 0 when the packet says nothing (not a
 * candidate, past DV_PCTX_LOOKS, a name that cannot be read, a ClientHello
 * that goes on: its bytes are kept). Never reads outside data[pl->off ..
 * pl->end), except the TCP sequence number at pl->l4 + 4 of a TCP packet.
 * The candidate test is inline: most packets make no call.
 */
static inline int dv_parse_ctx_read(struct dv_parse_ctx *pc, const struct dv_pkt *p,
				    const uint8_t *data, const struct dv_payload *pl,
				    struct dv_pkt_ctx *out)
{
	const uint8_t *b = data + pl->off;
	uint32_t len = pl->end - pl->off;

	if (p->proto == DV_IPPROTO_TCP) {
		if (len == 0) {
			/* A client's SYN restarts its direction's count (only a
			 * client sends what names a server: a SYN-ACK need not). */
			if ((p->tcp_flags & 0x12) != 0x02)
				return 0;
		} else if (((const struct dv_parse_ctx_head *)(const void *)pc)->n_reasm == 0 &&
			   b[0] != 0x16 && (unsigned int)(b[0] - 'A') >= 26u &&
			   !dv_pctx_dns_port(p->sport) && !dv_pctx_dns_port(p->dport)) {
			return 0;
		}
	} else if (p->proto != DV_IPPROTO_UDP || len == 0) {
		return 0;
	} else if (dv_pctx_dns_port(p->sport) || dv_pctx_dns_port(p->dport)) {
		/* A query without a question (flags, then QDCOUNT at 4) says
		 * nothing: no call. */
		if (len < 4 || (!(b[2] & 0x80) && (len < 12 || (b[4] | b[5]) == 0)))
			return 0;
	} else if ((b[0] & 0xf0) != 0xc0) { /* not a QUIC long header */
		return 0;
	}
	return dv_parse_ctx_read_any(pc, p, data, pl, out);
}

const struct dv_parse_ctx_stats *dv_parse_ctx_stats(const struct dv_parse_ctx *pc);

#endif
