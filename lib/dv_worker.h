/*
 * dv_worker: the loop of one worker lcore.
 *
 * A worker is built from a struct dv_worker_config and owns one flow
 * table. Packets reach it two ways: from the RX queues of ports that have a
 * queue per worker (symmetric RSS already sent both directions here), and
 * from its input ring of parsed packets, filled by the distributors (the
 * control lcore in --read mode; worker 0 for ports with fewer queues than
 * workers; each worker for af_packet and tap queues), which stage packets
 * per owner the same way (struct dv_handoff). Expired flows leave through the
 * worker's single-producer/single-consumer export ring; when that ring is
 * full the records wait in a local buffer and the worker stops receiving, so
 * no flow is ever dropped and the wait is counted.
 *
 * The control lcore and telemetry read the counters without locks: each is
 * written by its worker only, as a whole 64-bit store.
 */
#ifndef DV_WORKER_H
#define DV_WORKER_H

#include <stdint.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dv_export.h"
#include "dv_flow.h"
#include "dv_parse.h"
#include "dv_parse_ctx.h"
#include "dv_time.h"

#define DV_BURST    128
#define DV_RX_BURST 32 /* packets a receive call asks for; DV_BURST is a multiple */

/*
 * An element of an input ring with this bit in dv_pkt.flags is not a packet
 * but the distributor's clock (ts_ns): every packet before it on the ring is
 * no later than it. The --read reader sends one to every worker each second
 * of packet time and at the end, so the rows do not depend on the number of
 * workers (a worker with no packets would otherwise never see time pass).
 */
#define DV_PKT_F_TICK  0x80
#define DV_MAX_WORKERS 64
#define DV_MAX_RXQ     64

struct rte_ring;

/*
 * Zero when mbuf m may go straight back to `pool` with the rest of its
 * burst: direct (no attached or external buffer), one segment (so no next),
 * referenced only here, and from `pool`. That is the burst a PMD nearly
 * always hands over. The receive loop ORs this over a burst as it reads each
 * mbuf anyway, then calls dv_mbuf_free_burst().
 */
static inline uint64_t dv_mbuf_not_plain(const struct rte_mbuf *m, const struct rte_mempool *pool)
{
	return (m->ol_flags & (RTE_MBUF_F_INDIRECT | RTE_MBUF_F_EXTERNAL)) |
	       (uint64_t)(rte_mbuf_refcnt_read(m) ^ 1) | (uint64_t)(m->nb_segs ^ 1) |
	       (uint64_t)((uintptr_t)m->pool ^ (uintptr_t)pool);
}

/*
 * Free a received burst; `not_plain` is the OR of dv_mbuf_not_plain() over
 * it against m[0]'s pool. A plain burst goes back with one
 * rte_mempool_put_bulk(), which is where rte_pktmbuf_free_bulk() ends for
 * such a burst after a call and some 40 instructions an mbuf of checks
 * (callgrind); any other takes rte_pktmbuf_free_bulk().
 */
static inline void dv_mbuf_free_burst(struct rte_mbuf **m, uint16_t n, uint64_t not_plain)
{
	if (n == 0)
		return;
	if (likely(not_plain == 0))
		rte_mempool_put_bulk(m[0]->pool, (void **)m, n);
	else
		rte_pktmbuf_free_bulk(m, n);
}

/* One RX queue polled by a worker. */
struct dv_rxq {
	uint16_t port;
	uint16_t queue;
	uint8_t distribute;  /* 1: hand packets off to their owners by dv_worker_owner() */
	uint8_t ts_dynfield; /* 1: use the PMD's RX timestamp (--clock packet) */
};

enum dv_clock_mode {
	DV_CLOCK_SYSTEM = 0, /* TSC wall clock read once per burst */
	DV_CLOCK_PACKET = 1, /* packet time: --read, or PMD RX timestamps */
};

struct dv_worker_stats {
	uint64_t rx_packets; /* frames received from ports */
	uint64_t rx_bytes;
	uint64_t ip_packets; /* frames that became flow updates (here or handed off) */
	uint64_t non_ip;
	uint64_t malformed;   /* decap_depth included */
	uint64_t decap_depth; /* frames with more encapsulations than --decap-depth */
	uint64_t tunnelled;   /* IP packets read through a tunnel or link shim */
	uint64_t bad_tunnel; /* IP packets whose tunnel header could not be read (the outer flow) */
	uint64_t handed_off; /* parsed packets sent to another worker */
	uint64_t handoff_waits; /* loops that found a peer's input ring full */
	uint64_t from_ring;	/* parsed packets taken from the input ring */
	uint64_t ring_waits;	/* loops that found the export ring full */
	uint64_t exported;	/* records put on the export ring */
	uint64_t loops;
};

#define DV_RING_SLOT	16u
#define DV_IN_SLOTS	((uint32_t)(sizeof(struct dv_pkt) / DV_RING_SLOT))
#define DV_EXPORT_SLOTS ((uint32_t)(sizeof(struct dv_export_rec) / DV_RING_SLOT))

/*
 * An input ring's slots are 16 bytes (DV_RING_SLOT). A packet takes
 * four, its struct dv_pkt, or two when it is a plain IPv4 packet (no
 * fragment, tunnel, VNI or ICMP word, not a tick: 90 % of bench.pcap's
 * packets), as a struct dv_pkt_v4: half the bytes the distributor writes
 * and its owner reads, most of them lines the other CPU held last. Its
 * first 12 bytes are the packet's own (sport to tun), its family byte says
 * which form it is, and its reader turns it back into a struct dv_pkt
 * (dv_pkt_from_v4). A context follows either form in as many slots as its
 * text needs (dv_pkt_ctx_slots): a DNS query with its question is four
 * slots, not eight.
 */
#define DV_PKT_FAMILY_V4_SHORT 0x84 /* the family byte of a struct dv_pkt_v4 */

struct dv_pkt_v4 {
	uint16_t sport;
	uint16_t dport;
	uint16_t vlan;
	uint8_t proto;
	uint8_t family; /* DV_PKT_FAMILY_V4_SHORT */
	uint8_t flags;
	uint8_t tcp_flags;
	uint8_t frag; /* 0 */
	uint8_t tun;  /* 0 */
	uint32_t wire_len;
	uint8_t src[4];
	uint8_t dst[4];
	uint64_t ts_ns;
};

_Static_assert(sizeof(struct dv_pkt_v4) == 32 &&
		   offsetof(struct dv_pkt_v4, family) == offsetof(struct dv_pkt, family) &&
		   offsetof(struct dv_pkt, frag_id) == 12,
	       "a short packet is two slots, its first 12 bytes a packet's");

/* Whether packet p goes on a ring as a struct dv_pkt_v4. */
static inline int dv_pkt_is_v4_short(const struct dv_pkt *p)
{
	return p->family == 4 &&
	       (p->frag | (p->tun & ~DV_PKT_T_CTX) | (p->flags & DV_PKT_F_TICK)) == 0 &&
	       p->vni == 0;
}

/* Slots a packet's context takes on a ring: its header and text with the
 * NUL, in 16-byte slots (a DNS question of 20 characters takes two). */
static inline uint32_t dv_pkt_ctx_slots(const struct dv_pkt_ctx *c)
{
	return ((uint32_t)offsetof(struct dv_pkt_ctx, text) + c->len + 1u + DV_RING_SLOT - 1u) /
	       DV_RING_SLOT;
}

static inline void dv_pkt_to_v4(struct dv_pkt_v4 *c, const struct dv_pkt *p)
{
	memcpy(c, p, 12);
	c->family = DV_PKT_FAMILY_V4_SHORT;
	c->wire_len = p->wire_len;
	memcpy(c->src, p->src, 4);
	memcpy(c->dst, p->dst, 4);
	c->ts_ns = p->ts_ns;
}

static inline void dv_pkt_from_v4(struct dv_pkt *p, const struct dv_pkt_v4 *c)
{
	memcpy(p, c, 12);
	p->family = 4;
	p->frag_id = 0;
	memset(p->src, 0, sizeof(p->src) + sizeof(p->dst));
	memcpy(p->src, c->src, 4);
	memcpy(p->dst, c->dst, 4);
	p->wire_len = c->wire_len;
	p->vni = 0;
	p->ts_ns = c->ts_ns;
}

/*
 * Hand-off staging: parsed packets waiting to go to their owners' input
 * rings, at most DV_HANDOFF_CAP packets' worth (DV_HANDOFF_SLOTS slots) per
 * owner, sent to each ring as a burst. Both distributors stage this way: a
 * worker reading a port it shares (see dv_rxq.distribute) or receiving
 * tunnelled packets, and the --read reader on the control lcore. A packet
 * and what goes with it (its struct dv_pkt_tun, its context) are a group,
 * always enqueued and dequeued whole.
 */
#define DV_HANDOFF_CAP                                                                             \
	(4 * DV_BURST) /* per owner: one RX burst may all go to one owner, as pairs */
#define DV_HANDOFF_SLOTS (DV_HANDOFF_CAP * DV_IN_SLOTS)

struct dv_handoff {
	struct dv_pkt *pkts;	 /* n_owners * DV_HANDOFF_CAP, the caller's memory */
	struct rte_ring **rings; /* each owner's input ring */
	uint32_t n_owners;
	uint32_t n[DV_MAX_WORKERS];	 /* slots staged per owner */
	uint32_t staged[DV_MAX_WORKERS]; /* packets (ticks too) staged per owner */
	uint64_t ctx_lost;		 /* packet contexts left behind: no room in the staging */
};

/* Stage over pkts (n_owners * DV_HANDOFF_CAP packets) for rings[0..n_owners). */
void dv_handoff_init(struct dv_handoff *h, struct dv_pkt *pkts, struct rte_ring **rings,
		     uint32_t n_owners);

/* Owner's staging, as bytes. */
static inline uint8_t *dv_handoff_stage(const struct dv_handoff *h, uint32_t owner)
{
	return (uint8_t *)(h->pkts + (size_t)owner * DV_HANDOFF_CAP);
}

/* Stage p (short or not) and its tunnel side at slot n of stage: the slots
 * staged after it. */
static inline uint32_t dv_stage_pkt(uint8_t *stage, uint32_t n, const struct dv_pkt *p,
				    const struct dv_pkt_tun *tun)
{
	if (likely(dv_pkt_is_v4_short(p))) {
		dv_pkt_to_v4((struct dv_pkt_v4 *)(void *)(stage + (size_t)n * DV_RING_SLOT), p);
		return n + 2;
	}
	memcpy(stage + (size_t)n * DV_RING_SLOT, p, sizeof(*p));
	n += DV_IN_SLOTS;
	if (unlikely(p->tun & DV_PKT_T_TUNNEL)) {
		memcpy(stage + (size_t)n * DV_RING_SLOT, tun, sizeof(*tun));
		n += DV_IN_SLOTS;
	}
	return n;
}

/*
 * Stage packet p for its owner: p (two slots or four), then its tunnel
 * side tun when it has DV_PKT_T_TUNNEL, then its flow context ctx
 * (dv_pkt_ctx_slots() slots) when it has DV_PKT_T_CTX;
 * tun and ctx are not read otherwise. Returns how many slots are staged
 * for the owner now. The caller sends before DV_HANDOFF_SLOTS would be
 * passed by the eight slots a packet takes without context; a context goes
 * along only while 2 * DV_BURST packets' worth of slots stay free behind
 * it (so that the rest of a burst still fits), else the packet goes
 * without it (counted in ctx_lost).
 */
static inline uint32_t dv_handoff_put_ctx(struct dv_handoff *h, uint32_t owner,
					  const struct dv_pkt *p, const struct dv_pkt_tun *tun,
					  const struct dv_pkt_ctx *ctx)
{
	uint8_t *stage = dv_handoff_stage(h, owner);
	uint32_t n = h->n[owner];
	/* the tun byte, at the same place in both forms */
	uint8_t *tun_at = stage + (size_t)n * DV_RING_SLOT + offsetof(struct dv_pkt, tun);

	n = dv_stage_pkt(stage, n, p, tun);
	if (unlikely(p->tun & DV_PKT_T_CTX)) {
		uint32_t k = dv_pkt_ctx_slots(ctx);

		if (n + k + 2 * DV_BURST * DV_IN_SLOTS <= DV_HANDOFF_SLOTS) {
			memcpy(stage + (size_t)n * DV_RING_SLOT, ctx, (size_t)k * DV_RING_SLOT);
			n += k;
		} else {
			*tun_at &= (uint8_t)~DV_PKT_T_CTX;
			h->ctx_lost++;
		}
	}
	h->n[owner] = n;
	h->staged[owner]++;
	return n;
}

/* dv_handoff_put_ctx() of a packet without flow context (it must not have
 * DV_PKT_T_CTX: ticks, the reader's clock). */
static inline uint32_t dv_handoff_put(struct dv_handoff *h, uint32_t owner, const struct dv_pkt *p,
				      const struct dv_pkt_tun *tun)
{
	h->n[owner] = dv_stage_pkt(dv_handoff_stage(h, owner), h->n[owner], p, tun);
	h->staged[owner]++;
	return h->n[owner];
}

/* Slots of e's packet and tunnel side: a group's slots before its context. */
static inline uint32_t dv_pkt_head_slots(const struct dv_pkt *e)
{
	if (e->family == DV_PKT_FAMILY_V4_SHORT)
		return 2;
	if (!(e->flags & DV_PKT_F_TICK) && (e->tun & DV_PKT_T_TUNNEL))
		return 2 * DV_IN_SLOTS;
	return DV_IN_SLOTS;
}

/* Slots of the group that starts at staged or ring slot s[0]: the packet
 * (short or not), its tunnel side, its context (the slots must be there). */
static inline uint32_t dv_pkt_group_slots(const uint8_t *s)
{
	const struct dv_pkt *e = (const struct dv_pkt *)(const void *)s;
	uint32_t len = dv_pkt_head_slots(e);

	if (!(e->flags & DV_PKT_F_TICK) && (e->tun & DV_PKT_T_CTX))
		len += dv_pkt_ctx_slots(
		    (const struct dv_pkt_ctx *)(const void *)(s + (size_t)len * DV_RING_SLOT));
	return len;
}

/*
 * The input and export rings hold each element (a packet, a tunnel side or
 * a context part, 64 bytes; a record or its context, 160 bytes) as slots
 * of 16 bytes. DPDK's ring copies 16-byte slots 32 bytes at a time, and
 * slots of any other size but 8 four bytes at a time: a packet enqueued
 * and dequeued as one 64-byte slot cost 9-11.5 ns, as four 16-byte slots
 * 2.4-4.6 ns (one thread, bursts of 32). Every enqueue is of whole
 * elements, so the slots a consumer finds are too. The functions count in
 * elements of `slots` slots each: DV_IN_SLOTS on an input ring,
 * DV_EXPORT_SLOTS on an export ring.
 */
/* (DV_RING_SLOT, DV_IN_SLOTS and DV_EXPORT_SLOTS: above, with the short packet) */

/* A ring for elems - 1 elements, as a ring of elems (a power of two) holds
 * without RING_F_EXACT_SZ; made with it, since ten slots an element are
 * no power of two. NULL and rte_errno on failure, as
 * rte_ring_create_elem(). */
struct rte_ring *dv_ring_create(const char *name, uint32_t elems, uint32_t slots, int socket,
				unsigned int flags);

/* Elements on ring r, the room for more, and the most it holds. */
static inline uint32_t dv_ring_count(const struct rte_ring *r, uint32_t slots)
{
	return rte_ring_count(r) / slots;
}

static inline uint32_t dv_ring_free_count(const struct rte_ring *r, uint32_t slots)
{
	return rte_ring_free_count(r) / slots;
}

static inline uint32_t dv_ring_capacity(const struct rte_ring *r, uint32_t slots)
{
	return rte_ring_get_capacity(r) / slots;
}

/* All n elements from e, or none: n or 0. */
static inline uint32_t dv_ring_enqueue_bulk(struct rte_ring *r, const void *e, uint32_t n,
					    uint32_t slots)
{
	return rte_ring_enqueue_bulk_elem(r, e, DV_RING_SLOT, n * slots, NULL) / slots;
}

/* All n elements into e, or none: n or 0. */
static inline uint32_t dv_ring_dequeue_bulk(struct rte_ring *r, void *e, uint32_t n, uint32_t slots)
{
	return rte_ring_dequeue_bulk_elem(r, e, DV_RING_SLOT, n * slots, NULL) / slots;
}

/* Up to n elements into e: how many. */
static inline uint32_t dv_ring_dequeue_burst(struct rte_ring *r, void *e, uint32_t n,
					     uint32_t slots)
{
	return rte_ring_dequeue_burst_elem(r, e, DV_RING_SLOT, n * slots, NULL) / slots;
}

/* Put as many of owner's staged slots on its ring as fit, in order and
 * never half a group; the rest stay staged, first. Returns the packets
 * sent (ticks counted). */
uint32_t dv_handoff_send(struct dv_handoff *h, uint32_t owner);

/* Slots staged for all owners together. */
uint32_t dv_handoff_staged(const struct dv_handoff *h);

/*
 * Up to max packets from input ring r, as dv_handoff_send() put them there
 * (a short packet made whole again): into pkts[0..), a tunnelled packet's
 * side at its index of tun and a context at its index of ctx (those
 * arrays max long too). Only whole groups are taken; the consumer must be
 * single (RING_F_SC_DEQ). *tun_bits gets the OR of the packets' tun.
 * Returns the packets, ticks included.
 */
uint32_t dv_in_ring_read(struct rte_ring *r, struct dv_pkt *pkts, struct dv_pkt_tun *tun,
			 struct dv_pkt_ctx *ctx, uint32_t max, uint8_t *tun_bits);

/*
 * How to build a worker, filled by the program and read by dv_worker_init()
 * (as dv_flow_config is for a flow table). The table and the rings stay the
 * caller's: it makes them before and frees them after.
 */
struct dv_worker_config {
	uint32_t index;			  /* this worker: 0 .. n_workers - 1 */
	uint32_t n_workers;		  /* at most DV_MAX_WORKERS */
	struct dv_flow_table *table;	  /* the worker's own flow table */
	struct rte_ring *export_ring;	  /* SP/SC, DV_EXPORT_SLOTS elements */
	struct rte_ring *in_ring;	  /* MP/SC, DV_IN_SLOTS elements; NULL: nobody hands off */
	struct rte_ring **peer_in;	  /* every worker's in_ring, for hand-off */
	const struct dv_decap_cfg *decap; /* what to decapsulate; NULL: --decap off */
	struct dv_rxq rxq[DV_MAX_RXQ];	  /* the RX queues this worker polls */
	uint16_t n_rxq;
	enum dv_clock_mode clock_mode;
	const struct dv_clock *clock;
	uint8_t yield_when_idle;   /* share a core politely (oversubscribed lcores, --read) */
	uint8_t expire_at_ticks;   /* --read: flows end only at the reader's ticks, every due
				    * one there, waiting for export room (dv_worker.c) */
	uint8_t flow_context;	   /* the table keeps flow context (its records may have one) */
	struct dv_parse_ctx *pctx; /* flow context of received packets (the worker's own);
				    * NULL: --flow-context off, no payload is read */
	/* Called when the worker has nothing of its own to do (no input, or
	 * its export ring full), before it pauses: --read formats rows there
	 * (any thread may: app/control.c). Returns the work done, 0: none.
	 * NULL: nothing (a live worker never waits on a sink). */
	uint32_t (*help)(void *arg);
	void *help_arg;
	int ts_dynfield_offset; /* mbuf RX timestamp dynfield, or -1 */
	uint64_t ts_dynflag;	/* ol_flags bit saying the mbuf carries a timestamp */
};

struct dv_worker {
	struct dv_worker_config cfg; /* as given to dv_worker_init, read-only afterwards */

	/* control -> worker */
	volatile uint32_t stop;	   /* 1: stop receiving, flush with stop_reason */
	uint8_t stop_reason;	   /* enum dv_end_reason, written before stop */
	volatile uint32_t in_done; /* the in_ring's producer will add nothing more */

	/* worker -> control */
	volatile uint32_t handoff_done; /* this worker (a distributor) has handed off all */
	volatile uint32_t finished;	/* table empty, every record on the ring */
	volatile uint64_t now_ns;	/* the worker's clock, for stats */
	struct dv_worker_stats stats;

	/* private to the worker */
	struct dv_export_buf xbuf; /* xrecs[xhead..xbuf.n) wait for the export ring */
	struct dv_export_rec xrecs[8 * DV_BURST]; /* records and their contexts */
	struct dv_pkt_ctx ctx[DV_BURST];	  /* a burst's packet contexts */
	struct dv_handoff handoff; /* staging for hand-off; pkts NULL if it hands nothing off */
	uint64_t pkt_clock_last;   /* packet clock: last table time seen ... */
	uint64_t pkt_clock_sys;	   /* ... and the TSC wall time when it was seen */
	uint32_t xhead;		   /* (last: the fields above keep their places) */
} __attribute__((aligned(64)));

/*
 * Build worker w from cfg (copied): its export buffer, and hand-off staging
 * if one of its queues is shared. Returns 0 or negative errno (err says
 * why). dv_worker_fini() undoes it.
 */
int dv_worker_init(struct dv_worker *w, const struct dv_worker_config *cfg, char *err,
		   size_t errlen);

void dv_worker_fini(struct dv_worker *w);

/* The lcore function: arg is a struct dv_worker. Returns 0. */
int dv_worker_main(void *arg);

/* Which worker owns a parsed packet (symmetric, addresses only). */
static inline uint32_t dv_worker_owner(const struct dv_pkt *p, uint32_t n_workers)
{
	return n_workers == 1 ? 0 : dv_pkt_addr_hash(p) % n_workers;
}

#endif
