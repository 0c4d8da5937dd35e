/*
 * dv_export: the fixed-size record in which a finished flow segment leaves
 * its worker. Records travel by value over single-producer/single-consumer
 * rings to the control lcore, which formats them as rows. The record is
 * already oriented (src = initiator), so formatting needs no flow state.
 */
#ifndef DV_EXPORT_H
#define DV_EXPORT_H

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
	uint32_t vni;	      /* with DV_EXPORT_F_VNI */
	uint8_t outer_src[16];
	uint8_t outer_dst[16];
};

_Static_assert(sizeof(struct dv_export_rec) == 160, "export record is 160 bytes");

/*
 * A worker-local staging area for records. The flow table appends to it; the
 * worker moves its contents to the ring. When the ring is full the records
 * stay here and the worker stops receiving until there is room again, so a
 * flow is never dropped.
 */
struct dv_export_buf {
	struct dv_export_rec *recs;
	uint32_t n;   /* records waiting, recs[0..n) */
	uint32_t cap; /* size of recs */
};

static inline uint32_t dv_export_buf_room(const struct dv_export_buf *b)
{
	return b->cap - b->n;
}

/* "idle", "active", ... for an enum dv_end_reason; "unknown" if out of range. */
const char *dv_end_reason_name(unsigned int reason);

#endif
