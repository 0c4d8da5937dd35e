/*
 * dv_flow: one worker's flow table.
 *
 * A table is owned by exactly one lcore (single writer, no locks). Flows are
 * keyed by protocol, outer VLAN and the unordered pair of endpoints, so both
 * directions of a conversation share one record. An index of one-line
 * buckets of signatures points into an array of two-line records; a packet
 * of an IPv4 flow reads one bucket line and one record line (see dv_flow.c).
 *
 * Expiry is O(expired): flows sit on intrusive lists ordered by time (last
 * seen for idle and TCP-close, segment start for active), and expiry pops list
 * heads until it meets a flow whose deadline has not passed. A packet for a
 * flow whose deadline has passed exports the old segment first, so the rows
 * depend only on packet times, not on when expiry happens to run.
 *
 * Nothing here allocates, locks or makes a system call after creation.
 */
#ifndef DV_FLOW_H
#define DV_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "dv_export.h"
#include "dv_parse.h"

struct dv_flow_table;

struct dv_flow_config {
	const char *name;	       /* names the table in errors */
	uint32_t capacity;	       /* flows this table holds (1..2^28); eviction beyond */
	uint32_t frag_capacity;	       /* fragment cache entries (0: a default) */
	uint64_t idle_timeout_ns;      /* --flow-timeout */
	uint64_t active_timeout_ns;    /* --active-timeout */
	uint64_t tcp_close_timeout_ns; /* --tcp-close-timeout */
	int socket_id;		       /* NUMA socket for memory, or SOCKET_ID_ANY */
	uint8_t worker;		       /* copied into every export record */
	uint64_t seed[2];	/* seeds flow ids and the secret hash key (random at start) */
	uint8_t tunnels;	/* 1: keep VNIs and tunnel columns (--decap on), 48 bytes a flow */
	uint32_t lru_slack_div; /* 0: exact LRU (a list move per packet); n: a flow
				 * moves at most once per timeout/n, so expiry may
				 * lag and eviction may err by that much (faster) */
	uint32_t ctx_slots;	/* flows whose flow context (server_name, dns_query,
				 * dns_rcode) the table keeps at once, rounded up to a
				 * power of two; 0: none (--flow-context off) */
	uint8_t lazy_memory;	/* 1: the table's memory is reserved and touched as
				 * flows arrive, start-up does not grow with the
				 * capacity (--read); 0: every page is touched at
				 * creation, the packet path takes no page fault */
};

struct dv_flow_stats {
	uint64_t created;    /* flows (segment 0) created */
	uint64_t exported;   /* records written to the export buffer */
	uint64_t evicted;    /* exports with DV_END_EVICTED */
	uint64_t table_full; /* packets that found the table full */
	uint64_t frag_first; /* first fragments remembered */
	uint64_t frag_hit;   /* later fragments matched to their first */
	uint64_t frag_miss;  /* later fragments counted with ports 0 */
	uint64_t ctx_flows;  /* flows that got a flow-context slot */
	uint64_t ctx_full;   /* contexts dropped: near slots or every long slot taken */
	uint64_t ctx_lost;   /* contexts not exported: no room behind the record */
};

/*
 * Create a table. Returns NULL and writes a one-line reason to err on failure.
 * Uses DPDK memory (rte_zmalloc_socket), so the EAL must be up; with
 * lazy_memory the large arrays are anonymous mappings instead (zero pages
 * until written).
 */
struct dv_flow_table *dv_flow_table_create(const struct dv_flow_config *cfg, char *err,
					   size_t errlen);

void dv_flow_table_free(struct dv_flow_table *t);

/*
 * Account a burst of parsed packets (pkt->wire_len and pkt->ts_ns set).
 * tun[i] is packet i's tunnel side where pkts[i].tun has DV_PKT_T_TUNNEL
 * (read only when it creates a flow); tun may be NULL when no packet has.
 * The caller guarantees dv_export_buf_room(out) >= n: a packet exports at most
 * one record (an expired or closed flow it hits, or the evicted flow it
 * displaces). pkts may be modified (later fragments get their ports).
 */
void dv_flow_table_update_burst(struct dv_flow_table *t, struct dv_pkt *pkts,
				const struct dv_pkt_tun *tun, uint32_t n,
				struct dv_export_buf *out);

struct dv_pkt_ctx;

/*
 * dv_flow_table_update_burst() for packets that may carry flow context
 * (lib/dv_parse_ctx.h): ctx[i] is packet i's where pkts[i].tun has
 * DV_PKT_T_CTX. The flow keeps the first server name, the first DNS
 * question and the first DNS response code it is given, in a bounded
 * side store (dv_flow_config.ctx_slots; a context that finds no slot is
 * counted in ctx_full and lost), freed when the flow ends; every segment's
 * record carries them (struct dv_export_ctx behind it in out, which must
 * have group_max DV_EXPORT_GROUP_MAX).
 */
void dv_flow_table_update_burst_ctx(struct dv_flow_table *t, struct dv_pkt *pkts,
				    const struct dv_pkt_tun *tun, const struct dv_pkt_ctx *ctx,
				    uint32_t n, struct dv_export_buf *out);

/*
 * Export flows whose idle, active or TCP-close deadline is <= now_ns, at most
 * min(budget, room in out). Returns the number exported.
 */
uint32_t dv_flow_table_expire(struct dv_flow_table *t, uint64_t now_ns, uint32_t budget,
			      struct dv_export_buf *out);

/*
 * Export every flow with the given reason (DV_END_EOF or DV_END_SHUTDOWN), as
 * many as fit in out. Returns the number exported; call again until
 * dv_flow_table_count() is 0.
 */
uint32_t dv_flow_table_flush(struct dv_flow_table *t, enum dv_end_reason reason,
			     struct dv_export_buf *out);

/*
 * No packet comes again (the worker is finishing): the flushes that follow
 * empty the table without taking each flow out of the index, the context
 * store and the list of active segments (a cache miss or two per flow,
 * most of the end of --read on real traffic). They are left stale: the
 * table can then only be flushed, counted and freed
 * (dv_flow_table_verify() fails on it).
 */
void dv_flow_table_ending(struct dv_flow_table *t);

/*
 * With lazy_memory, map in (zeroed) up to 2 MB of the memory the next flows
 * will take: the index, the records and context slots a little ahead of
 * those handed out, so that the worker does not stop for page faults; only
 * once the table has had a few thousand flows. Any thread but the table's
 * worker may call it (one at a time), while the worker runs. 1 if it
 * mapped something (call again), 0 when ahead.
 */
int dv_flow_table_prefault(struct dv_flow_table *t);

/* Flows currently in the table. */
uint32_t dv_flow_table_count(const struct dv_flow_table *t);

/*
 * Move the table's clock forward to now_ns (never back) without a packet: in
 * --read mode the reader's time reaches every worker this way, so a worker
 * that gets no packets still sees time pass, exactly as one worker would.
 */
void dv_flow_table_advance(struct dv_flow_table *t, uint64_t now_ns);

/* Latest packet time the table has seen (its clock in --read mode). */
uint64_t dv_flow_table_now(const struct dv_flow_table *t);

const struct dv_flow_stats *dv_flow_table_stats(const struct dv_flow_table *t);

/*
 * Check the index against the records: every signature matches its
 * record's key, free slots hold no flow, each group's overflow count equals
 * the flows placed past it, every flow is found by lookup and the count is
 * right. Writes the flows living outside their home group to *displaced.
 * Returns 0, or -1 with a reason in err. For tests: it allocates and reads
 * the whole table.
 */
int dv_flow_table_verify(const struct dv_flow_table *t, uint32_t *displaced, char *err,
			 size_t errlen);

/* Bytes of memory one flow of capacity costs (its share of the groups), with
 * or without tunnels (dv_flow_config.tunnels), for sizing. */
size_t dv_flow_bytes_per_flow(int tunnels);

/* Bytes of memory the flow-context store of ctx_slots takes. */
size_t dv_flow_ctx_bytes(uint32_t ctx_slots);

#endif
