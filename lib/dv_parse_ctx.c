/*
 * dv_parse_ctx: candidate tests, the per-direction look limit and the
 * ClientHello reassembly store (see dv_parse_ctx.h for the shape and why).
 */
#include <stdlib.h>
#include <string.h>

#include <rte_branch_prediction.h>

#include "dv_dns.h"
#include "dv_http.h"
#include "dv_parse_ctx.h"
#include "dv_quic.h"

/* Directions remembered (direct-mapped by hash, 8 bytes each: 512 KB), so
 * that some ten thousand directions with candidates at once rarely evict
 * each other (an evicted direction is read afresh: cost, never a wrong
 * value). */
#define LOOK_SLOTS     65536
#define LOOK_SHIFT     27		 /* look time unit: 2^27 ns, about 134 ms */
#define LOOK_TIME_MASK (UINT32_MAX >> 3) /* look times wrap at 2^29 units (2.3 years) */
/* A ClientHello's next segment comes within one flight: a slot waiting
 * longer than this is given up when another ClientHello needs it. */
#define REASM_WAIT_NS (2ULL * 1000 * 1000 * 1000)

#define DNS_FLAGS_END 4 /* ID and flags: QR and RCODE are read from these */
#define TCP_SYN	      0x02
#define TCP_ACK	      0x10

/* One direction of a flow seen with candidates: its hash, and when it was
 * last seen (LOOK_SHIFT units) << 3 | the reads so far. */
struct look {
	uint32_t tag; /* 0: free */
	uint32_t stamp;
};

/* A ClientHello being gathered from the segments of one direction. */
struct reasm {
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint16_t vlan;
	uint8_t used;
	uint32_t vni;
	uint32_t next_seq; /* the TCP sequence number the next bytes must have */
	uint32_t have;	   /* bytes in buf */
	uint32_t need;	   /* bytes the ClientHello takes, as dv_tls_sni() said */
	uint64_t last_ns;
	uint8_t buf[DV_TLS_NEED_MAX];
};

struct dv_parse_ctx {
	struct dv_parse_ctx_head head; /* n_reasm, for the inline test */
	uint32_t gap;		       /* gap_ns in LOOK_SHIFT units */
	struct dv_quic *quic;	       /* its OpenSSL contexts, made once */
	uint32_t n_reasm;	       /* slots in use: 0 spares every other segment a look */
	struct dv_parse_ctx_stats stats;
	struct look look[LOOK_SLOTS];
	struct reasm reasm[DV_PCTX_REASM];
};

struct dv_parse_ctx *dv_parse_ctx_create(uint64_t gap_ns)
{
	struct dv_parse_ctx *pc = calloc(1, sizeof(*pc));

	if (pc == NULL)
		return NULL;
	/* 0 is "never" (no idle timeout); at least one unit. */
	gap_ns = gap_ns == 0 ? UINT64_MAX : gap_ns >> LOOK_SHIFT;
	pc->gap = gap_ns == 0			? 1
		  : gap_ns > LOOK_TIME_MASK / 2 ? LOOK_TIME_MASK / 2
						: (uint32_t)gap_ns;
	pc->quic = dv_quic_create();
	if (pc->quic == NULL) {
		free(pc);
		return NULL;
	}
	return pc;
}

void dv_parse_ctx_free(struct dv_parse_ctx *pc)
{
	if (pc == NULL)
		return;
	dv_quic_destroy(pc->quic);
	free(pc);
}

const struct dv_parse_ctx_stats *dv_parse_ctx_stats(const struct dv_parse_ctx *pc)
{
	return &pc->stats;
}

static inline uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* The direction's hash: addresses, ports, VLAN, protocol (and a VNI); a
 * few multiplications, as every candidate takes it (no secret needed: a
 * collision only lets a direction be read afresh, or not, within the
 * per-direction bound). */
static inline uint32_t dir_hash(const struct dv_pkt *p)
{
	uint64_t a, b, c, d, e, x;

	memcpy(&e, &p->sport, 8); /* sport, dport, vlan, proto, family */
	if (likely(p->family == 4 && !(p->tun & DV_PKT_T_VNI))) {
		uint32_t s4, d4;

		memcpy(&s4, p->src, 4);
		memcpy(&d4, p->dst, 4);
		x = ((uint64_t)s4 << 32 | d4) * 0x9e3779b97f4a7c15ULL ^ e * 0x165667b19e3779f9ULL;
	} else {
		memcpy(&a, p->src, 8);
		memcpy(&b, p->src + 8, 8);
		memcpy(&c, p->dst, 8);
		memcpy(&d, p->dst + 8, 8);
		x = (a ^ (b << 1)) * 0x9e3779b97f4a7c15ULL ^
		    (c ^ (d << 1)) * 0xc2b2ae3d27d4eb4fULL ^
		    (e + ((p->tun & DV_PKT_T_VNI) ? p->vni : 0)) * 0x165667b19e3779f9ULL;
	}
	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	return (uint32_t)(x >> 32);
}

/* May this candidate be read? At most DV_PCTX_LOOKS per direction, and
 * afresh after gap_ns of silence (a new flow on the same ports). */
static int look_ok(struct dv_parse_ctx *pc, const struct dv_pkt *p)
{
	uint32_t h = dir_hash(p), tag = h | 1;
	struct look *l = &pc->look[(h >> 8) & (LOOK_SLOTS - 1)];
	uint32_t now = (uint32_t)(p->ts_ns >> LOOK_SHIFT) & LOOK_TIME_MASK;
	uint32_t last = l->stamp >> 3, count = l->stamp & 7;
	uint32_t d = (now - last) & LOOK_TIME_MASK;

	if (d > LOOK_TIME_MASK / 2) /* a capture's time stepped back a little: no gap */
		now = last, d = 0;
	if (l->tag != tag || d >= pc->gap)
		count = 0;
	l->tag = tag;
	if (count >= DV_PCTX_LOOKS) {
		l->stamp = now << 3 | count;
		return 0;
	}
	l->stamp = now << 3 | (count + 1);
	return 1;
}

/* A client's SYN (no ACK) starts a connection on ports that may have
 * carried an earlier one: its direction is looked at afresh. The server's
 * direction keeps its count: nothing it sends names the server. */
static void look_forget(struct dv_parse_ctx *pc, const struct dv_pkt *p)
{
	uint32_t h = dir_hash(p);
	struct look *l = &pc->look[(h >> 8) & (LOOK_SLOTS - 1)];

	if (l->tag == (h | 1))
		l->tag = 0;
}

static int set_name(struct dv_parse_ctx *pc, struct dv_pkt_ctx *out, uint8_t kind, const char *text,
		    uint32_t len)
{
	if (len >= sizeof(out->text)) {
		pc->stats.too_long++;
		return 0;
	}
	out->kind = kind;
	out->flags = DV_PCTX_F_NAME;
	out->rcode = 0;
	out->len = (uint16_t)len;
	memcpy(out->text, text, len + 1);
	out->n_el = (uint8_t)dv_pkt_ctx_elems(out);
	return 1;
}

/* A DNS message: its first question, and the RCODE of a response (which
 * goes out even when its name is too long to carry). */
static int read_dns(struct dv_parse_ctx *pc, const uint8_t *m, uint32_t len, struct dv_pkt_ctx *out)
{
	struct dv_dns_info info;

	if (dv_dns_read(m, len, &info) < 0) {
		/* A response whose question cannot be read (none: NOTIMP, FORMERR;
		 * cut by a snap length, even right after the flags, as tshark
		 * reads it) still has its code. */
		if (len < DNS_FLAGS_END || !(m[2] & 0x80))
			return 0;
		info.response = 1;
		info.rcode = m[3] & 0x0f;
		info.qname_len = UINT16_MAX; /* no name */
	}
	if (info.qname_len == UINT16_MAX ||
	    !set_name(pc, out, DV_PCTX_DNS, info.qname, info.qname_len)) {
		if (!info.response)
			return 0;
		out->kind = DV_PCTX_DNS;
		out->flags = 0;
		out->len = 0;
		out->text[0] = '\0';
		out->n_el = (uint8_t)dv_pkt_ctx_elems(out);
	}
	if (info.response) {
		out->flags |= DV_PCTX_F_RESPONSE;
		out->rcode = info.rcode;
	}
	return 1;
}

static int reasm_is(const struct reasm *r, const struct dv_pkt *p)
{
	return r->used && r->sport == p->sport && r->dport == p->dport && r->vlan == p->vlan &&
	       memcmp(r->src, p->src, 16) == 0 && memcmp(r->dst, p->dst, 16) == 0 &&
	       r->vni == ((p->tun & DV_PKT_T_VNI) ? p->vni : 0);
}

static void reasm_drop(struct dv_parse_ctx *pc, struct reasm *r)
{
	r->used = 0;
	pc->head.n_reasm--;
}

/* Keep the start of a ClientHello that goes on past this segment. */
static void reasm_start(struct dv_parse_ctx *pc, const struct dv_pkt *p, uint32_t seq,
			const uint8_t *pl, uint32_t len, uint32_t need)
{
	struct reasm *r = NULL;

	if (need <= len || need > DV_TLS_NEED_MAX)
		return;
	for (unsigned int i = 0; i < DV_PCTX_REASM; i++) {
		struct reasm *s = &pc->reasm[i];

		if (reasm_is(s, p) || !s->used ||
		    (p->ts_ns > s->last_ns && p->ts_ns - s->last_ns > REASM_WAIT_NS)) {
			r = s;
			break;
		}
	}
	if (r == NULL) {
		pc->stats.reasm_full++;
		return;
	}
	if (!r->used)
		pc->head.n_reasm++;
	r->used = 1;
	memcpy(r->src, p->src, 16);
	memcpy(r->dst, p->dst, 16);
	r->sport = p->sport;
	r->dport = p->dport;
	r->vlan = p->vlan;
	r->vni = (p->tun & DV_PKT_T_VNI) ? p->vni : 0;
	r->next_seq = seq + len;
	r->need = need;
	r->have = len;
	r->last_ns = p->ts_ns;
	memcpy(r->buf, pl, len);
}

/* The SNI of a ClientHello in pl (a candidate's whole payload). */
static int read_tls(struct dv_parse_ctx *pc, const struct dv_pkt *p, uint32_t seq,
		    const uint8_t *pl, uint32_t len, struct dv_pkt_ctx *out)
{
	char text[DV_CTX_NAME_MAX];
	uint32_t need = 0;
	int rc = dv_tls_sni(pl, len, text, sizeof(text), &need);

	if (rc == DV_CTX_FOUND)
		return set_name(pc, out, DV_PCTX_SERVER_NAME, text, (uint32_t)strlen(text));
	if (rc == DV_CTX_MORE)
		reasm_start(pc, p, seq, pl, len, need);
	return 0;
}

/*
 * A segment of a direction whose ClientHello is being gathered (r): the
 * next bytes in sequence are added and read again. A retransmission is
 * skipped; a gap (a lost segment) ends the wait.
 */
static int reasm_more(struct dv_parse_ctx *pc, struct reasm *r, const struct dv_pkt *p,
		      uint32_t seq, const uint8_t *pl, uint32_t len, struct dv_pkt_ctx *out)
{
	char text[DV_CTX_NAME_MAX];
	uint32_t need = 0, take;
	int rc;

	if (seq != r->next_seq) {
		if ((int32_t)(seq - r->next_seq) > 0)
			reasm_drop(pc, r);
		return 0;
	}
	take = r->need - r->have < len ? r->need - r->have : len;
	memcpy(r->buf + r->have, pl, take);
	r->have += take;
	r->next_seq += len;
	r->last_ns = p->ts_ns;
	rc = dv_tls_sni(r->buf, r->have, text, sizeof(text), &need);
	if (rc == DV_CTX_MORE && need > r->have && need <= DV_TLS_NEED_MAX) {
		r->need = need;
		return 0;
	}
	reasm_drop(pc, r);
	pc->stats.reasm++;
	if (rc != DV_CTX_FOUND)
		return 0;
	return set_name(pc, out, DV_PCTX_SERVER_NAME, text, (uint32_t)strlen(text));
}

/* An HTTP/1.x request's Host: a method token is at least three upper-case
 * letters (GET, PUT, ...). */
static int read_http(struct dv_parse_ctx *pc, const struct dv_pkt *p, const uint8_t *b,
		     uint32_t len, struct dv_pkt_ctx *out)
{
	char text[DV_CTX_NAME_MAX];

	if (len < 16 || (unsigned int)(b[0] - 'A') >= 26u || (unsigned int)(b[1] - 'A') >= 26u ||
	    (unsigned int)(b[2] - 'A') >= 26u)
		return 0;
	/* A response (its status line) names no host: not a candidate. */
	if (memcmp(b, "HTTP/", 5) == 0)
		return 0;
	pc->stats.candidates++;
	if (!look_ok(pc, p))
		return 0;
	pc->stats.read++;
	if (dv_http_host(b, len, text, sizeof(text)) != DV_CTX_FOUND)
		return 0;
	return set_name(pc, out, DV_PCTX_SERVER_NAME, text, (uint32_t)strlen(text));
}

/* A TCP payload: a waited-for segment, DNS with its 2-byte length, a
 * ClientHello. */
static int read_tcp(struct dv_parse_ctx *pc, const struct dv_pkt *p, const uint8_t *data,
		    const struct dv_payload *pl, struct dv_pkt_ctx *out)
{
	const uint8_t *b = data + pl->off;
	uint32_t len = pl->end - pl->off, seq = be32(data + pl->l4 + 4);

	if (unlikely(pc->head.n_reasm != 0))
		for (unsigned int i = 0; i < DV_PCTX_REASM; i++)
			if (reasm_is(&pc->reasm[i], p))
				return reasm_more(pc, &pc->reasm[i], p, seq, b, len, out);
	if (dv_pctx_dns_port(p->sport) || dv_pctx_dns_port(p->dport)) {
		uint32_t m = len >= 2 ? (uint32_t)b[0] << 8 | b[1] : 0;

		pc->stats.candidates++;
		if (len < 2 + DNS_FLAGS_END)
			return 0;
		pc->stats.read++;
		return read_dns(pc, b + 2, m < len - 2 ? m : len - 2, out);
	}
	if (len >= 6 && b[0] == 0x16 && b[1] == 0x03 && b[5] == 0x01) {
		pc->stats.candidates++;
		if (!look_ok(pc, p))
			return 0;
		pc->stats.read++;
		return read_tls(pc, p, seq, b, len, out);
	}
	return read_http(pc, p, b, len, out);
}

/* A QUIC version 1 Initial (long header, fixed bit, type 0; version 1):
 * out of the DNS path's way, as it needs a name buffer. */
static __attribute__((noinline)) int read_quic(struct dv_parse_ctx *pc, const struct dv_pkt *p,
					       const uint8_t *b, uint32_t len,
					       struct dv_pkt_ctx *out)
{
	char text[DV_CTX_NAME_MAX];

	if (len < 7 || (b[0] & 0xf0) != 0xc0 || be32(b + 1) != 1)
		return 0;
	pc->stats.candidates++;
	if (!look_ok(pc, p))
		return 0;
	pc->stats.read++;
	if (dv_quic_sni(pc->quic, b, len, text, sizeof(text)) != DV_CTX_FOUND)
		return 0;
	return set_name(pc, out, DV_PCTX_SERVER_NAME, text, (uint32_t)strlen(text));
}

/* A UDP payload: DNS by its ports, else QUIC. */
static inline int read_udp(struct dv_parse_ctx *pc, const struct dv_pkt *p, const uint8_t *b,
			   uint32_t len, struct dv_pkt_ctx *out)
{
	if (!dv_pctx_dns_port(p->sport) && !dv_pctx_dns_port(p->dport))
		return read_quic(pc, p, b, len, out);
	/* A query without a question says nothing: not even read. */
	if (len < DNS_FLAGS_END || (!(b[2] & 0x80) && (len < DV_DNS_HDR || (b[4] | b[5]) == 0)))
		return 0;
	/* Every DNS message is read: the reader's cost on a message (a header
	 * and one name, bounded) is about that of the per-direction check,
	 * whose table lookup misses the cache (benchmarks.md). */
	pc->stats.candidates++;
	pc->stats.read++;
	return read_dns(pc, b, len, out);
}

int dv_parse_ctx_read_any(struct dv_parse_ctx *pc, const struct dv_pkt *p, const uint8_t *data,
			  const struct dv_payload *pl, struct dv_pkt_ctx *out)
{
	uint32_t len = pl->end - pl->off;
	int rc = 0;

	if (p->proto == DV_IPPROTO_TCP) {
		if (unlikely((p->tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN))
			look_forget(pc, p);
		if (len == 0)
			return 0;
		rc = read_tcp(pc, p, data, pl, out);
	} else if (p->proto == DV_IPPROTO_UDP && len > 0) {
		rc = read_udp(pc, p, data + pl->off, len, out);
	}
	pc->stats.found += (uint64_t)rc;
	return rc;
}
