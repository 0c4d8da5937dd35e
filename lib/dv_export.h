/*
 * dv_export: the fixed-size record in which a finished flow segment leaves
 * its worker. Records travel by value over single-producer/single-consumer
 * rings to the control lcore, which formats them as rows. The record is
 * already oriented (src = initiator), so formatting needs no flow state.
 */
#ifndef DV_EXPORT_H
#define DV_EXPORT_H

#include <stddef.h>
#include <stdint.h>

/* Why a segment was exported (the end_reason column). */
enum dv_end_reason {
	DV_END_IDLE = 0,
	DV_END_ACTIVE = 1,
	DV_END_TCP_CLOSE = 2,
	DV_END_EVICTED = 3,
	DV_END_SHUTDOWN = 4,
	DV_END_EOF = 5,
	DV_END_MAX
};

enum dv_flow_status {
	DV_STATUS_INIT = 0,	   /* only the initiator has sent */
	DV_STATUS_ESTABLISHED = 1, /* both directions seen */
};

#define DV_EXPORT_F_VLAN 0x01 /* vlan_id is valid; else the row has NULL */
#define DV_EXPORT_F_TCP	 0x02 /* tcp flags are valid; else the row has NULL */
#define DV_EXPORT_F_VNI	 0x04 /* vni is valid (tunnel_id); else NULL */
#define DV_EXPORT_F_ICMP 0x08 /* icmp_type and icmp_code are the first packet's */
/* The first packet was a later fragment: no ports (nor ICMP type) seen. */
#define DV_EXPORT_F_NOPORTS 0x10
/* A struct dv_export_ctx follows the record (in the buffer, on the ring and
 * in the control lcore's array: the record and its context are one group). */
#define DV_EXPORT_F_CTX 0x20
/* The context is in the record itself (ctx_inline): see struct
 * dv_export_ctx_inline. Never with DV_EXPORT_F_CTX. */
#define DV_EXPORT_F_CTX_INLINE 0x40

/*
 * A short flow context (server_name, dns_query, dns_rcode) inside its
 * record, in the bytes of the tunnel columns vni, outer_src and outer_dst,
 * which a flow without a tunnel leaves unused (n_kinds 0, outer_family 0,
 * no DV_EXPORT_F_VNI). Most contexts are short (flows-heavy.pcap's 900,000
 * DNS questions take 16-22 bytes), and a record without a context element
 * behind it is half the bytes on the export ring and in every copy of it.
 */
struct dv_export_ctx_inline {
	uint8_t has; /* DV_EXPORT_CTX_* (defined below) */
	uint8_t rcode;
	uint8_t sn_len; /* strlen of the server name at text */
	uint8_t q_len;	/* strlen of the query at text + sn_len + 1 */
	char text[32];	/* the server name, then the query, each NUL-terminated */
};

/* One exported segment. 160 bytes, a multiple of 4 as rte_ring_elem wants. */
struct dv_export_rec {
	uint8_t id[16];	      /* flow UUID v4, the same for every segment */
	uint8_t src_addr[16]; /* initiator; IPv4 in the first 4 bytes */
	uint8_t dst_addr[16];
	uint64_t first_ns; /* first packet of this segment, ns since epoch */
	uint64_t last_ns;  /* last packet of this segment */
	uint64_t src_bytes;
	uint64_t dst_bytes;
	uint64_t src_packets;
	uint64_t dst_packets;
	uint32_t segment;
	uint16_t src_port;
	uint16_t dst_port;
	uint16_t vlan_id;
	uint8_t family; /* 4 or 6 */
	uint8_t proto;	/* IP protocol number */
	uint8_t flags;	/* DV_EXPORT_F_* */
	union {
		struct { /* TCP: with DV_EXPORT_F_TCP */
			uint8_t src_tcp_flags;
			uint8_t dst_tcp_flags;
		};
		struct { /* ICMP, ICMPv6: with DV_EXPORT_F_ICMP (community_id) */
			uint8_t icmp_type;
			uint8_t icmp_code;
		};
	};
	uint8_t status;	    /* enum dv_flow_status */
	uint8_t end_reason; /* enum dv_end_reason */
	uint8_t worker;	    /* lcore-independent worker index that owned the flow */
	/* The tunnel columns (docs/tunnels.md), from the flow's first packet. */
	uint8_t n_kinds;      /* encapsulations passed; 0: a plain flow, the rest NULL */
	uint8_t kinds[8];     /* enum dv_tunnel_kind, outermost first */
	uint8_t outer_family; /* 4 or 6; 0: no IP tunnel (only link shims) */
	union {
		struct {
			uint32_t vni; /* with DV_EXPORT_F_VNI */
			uint8_t outer_src[16];
			uint8_t outer_dst[16];
		};
		struct dv_export_ctx_inline ctx_inline; /* with DV_EXPORT_F_CTX_INLINE */
	};
};

_Static_assert(sizeof(struct dv_export_rec) == 160, "export record is 160 bytes");
_Static_assert(sizeof(struct dv_export_ctx_inline) == sizeof(uint32_t) + 2 * 16 * sizeof(uint8_t),
	       "an inline context takes the tunnel columns' bytes, no more");

/*
 * The flow-context columns of a segment (server_name, dns_query,
 * dns_rcode; docs/flow-context.md), right behind its record when the
 * record has DV_EXPORT_F_CTX: n_el elements of the record's size, so that
 * a flow without them costs the ring nothing. text holds the server name
 * and then the DNS query, each NUL-terminated (empty when absent).
 */
#define DV_EXPORT_CTX_SN     0x01 /* server_name */
#define DV_EXPORT_CTX_QUERY  0x02 /* dns_query */
#define DV_EXPORT_CTX_RCODE  0x04 /* dns_rcode */
#define DV_EXPORT_CTX_MAX_EL 4

struct dv_export_ctx {
	uint8_t n_el; /* elements it takes, 1 .. DV_EXPORT_CTX_MAX_EL */
	uint8_t has;  /* DV_EXPORT_CTX_* */
	uint8_t rcode;
	uint8_t pad;
	uint16_t sn_len; /* strlen of the server name at text */
	uint16_t q_len;	 /* strlen of the query at text + sn_len + 1 */
	char text[DV_EXPORT_CTX_MAX_EL * sizeof(struct dv_export_rec) - 8];
};

_Static_assert(sizeof(struct dv_export_ctx) == DV_EXPORT_CTX_MAX_EL * sizeof(struct dv_export_rec),
	       "a record's context rides the export ring as whole elements");

/* Elements a record takes with its context: 1, or 1 + its n_el. */
#define DV_EXPORT_GROUP_MAX (1 + DV_EXPORT_CTX_MAX_EL)

static inline const struct dv_export_ctx *dv_export_ctx_of(const struct dv_export_rec *r)
{
	return (r->flags & DV_EXPORT_F_CTX) ? (const struct dv_export_ctx *)(const void *)(r + 1)
					    : NULL;
}

/* Elements record r and its context take (r's context must follow it). */
static inline uint32_t dv_export_group_len(const struct dv_export_rec *r)
{
	const struct dv_export_ctx *x = dv_export_ctx_of(r);

	return x != NULL ? 1u + x->n_el : 1u;
}

/* Whether record r has a context, in it or behind it. */
static inline int dv_export_has_ctx(const struct dv_export_rec *r)
{
	return (r->flags & (DV_EXPORT_F_CTX | DV_EXPORT_F_CTX_INLINE)) != 0;
}

/* The columns: NULL (or -1) when the segment has none. */
const char *dv_export_server_name(const struct dv_export_rec *r);
const char *dv_export_dns_query(const struct dv_export_rec *r);
int dv_export_dns_rcode(const struct dv_export_rec *r);

/*
 * A worker-local staging area for records. The flow table appends to it; the
 * worker moves its contents to the ring. When the ring is full the records
 * stay here and the worker stops receiving until there is room again, so a
 * flow is never dropped.
 */
struct dv_export_buf {
	struct dv_export_rec *recs;
	uint32_t n;	    /* elements waiting, recs[0..n): records and their contexts */
	uint32_t cap;	    /* size of recs */
	uint32_t group_max; /* elements one record may take (DV_EXPORT_GROUP_MAX when
			     * the table keeps flow context); 0 counts as 1 */
};

/* Records that surely fit. */
static inline uint32_t dv_export_buf_room(const struct dv_export_buf *b)
{
	return (b->cap - b->n) / (b->group_max > 1 ? b->group_max : 1);
}

/* "idle", "active", ... for an enum dv_end_reason; "unknown" if out of range. */
const char *dv_end_reason_name(unsigned int reason);

#endif
