/*
 * dv_flow: one worker's flow table, its expiry and its export records.
 *
 * Shape, and why:
 * - The key (struct dv_flow_key, 40 bytes, no padding) holds the two
 *   endpoints in canonical order, lower (address, port) first, so both
 *   directions of a conversation hash alike. A packet is "side 0" or "side 1"
 *   by whether its sender is the lower endpoint; counters are kept per side
 *   and turned into src/dst (initiator first) only when a row is exported.
 * - rte_hash (CRC hash, extendable buckets so `capacity` keys always fit,
 *   single writer, no locks) maps a key to its position; the records are a
 *   plain array indexed by that position. A record is 128 bytes, two cache
 *   lines, and carries a copy of the key so a looked-up position can be
 *   checked against the packet (positions found early in a burst may be
 *   freed and reused by the time the packet is accounted).
 * - Expiry is O(expired). Every flow is on one "seen" list, ordered by last
 *   packet: `lru` for open flows (idle timeout, and eviction takes its head)
 *   and `closed` for TCP flows that saw RST or FIN both ways (tcp-close
 *   timeout). A flow whose current segment has packets is also on `act`, a
 *   FIFO by segment start (active timeout). Each list has one timeout, so its
 *   deadlines grow from head to tail and expiry pops heads until one is not
 *   due. Links are 32-bit record indices inside the records.
 * - A packet moves its flow to the tail of its seen list. The move writes
 *   the two neighbouring records: at a million flows, cache misses on every
 *   packet. With cfg->lru_slack_div (the program uses 16) a flow moves at
 *   most once per slot of timeout/16 (see dv_flow_touch): expiry may then
 *   export a flow up to one slot late and eviction may pick a flow seen up
 *   to one slot after the least recently seen one; the rows do not change
 *   (test_coarse_rows_equal_exact). With 0 the LRU is exact. bench_engine
 *   prints both side by side.
 * - Captures are not perfectly time-ordered, so a list is ordered by
 *   arrival, not strictly by time: expiry may see such a flow a little late,
 *   never early, and a packet always judges its own flow exactly.
 * - Rows do not depend on when dv_flow_table_expire() runs: a packet that
 *   finds its flow past a deadline first exports what expiry would have
 *   (dv_flow_advance), and flush does the same before using its own reason.
 *   The one exception is a full table: had expiry run, there might have
 *   been room, and no eviction. An evicted flow whose deadline had passed
 *   is exported with that deadline's reason, not `evicted`.
 *   The table clock is the largest packet time seen.
 * - A timeout of 0 means "never".
 *
 * Nothing here allocates, locks or makes a system call after create.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "dv_flow.h"
#include "dv_frag.h"
#include "dv_rand.h"

#define DV_FLOW_NIL   UINT32_MAX
#define DV_FLOW_NEVER UINT64_MAX
#define DV_FLOW_BURST 32 /* keys hashed and looked up together */

#define DV_IPPROTO_TCP 6
#define DV_TCP_FIN     0x01
#define DV_TCP_SYN     0x02
#define DV_TCP_RST     0x04
#define DV_TCP_ACK     0x10

#define DV_KEY_VLAN 0x8000 /* key.vlan: the frame was tagged; low 12 bits are the id */

struct dv_flow_key {
	uint8_t addr[2][16]; /* [0] is the lower (address, port) endpoint */
	uint16_t port[2];
	uint16_t vlan; /* id | DV_KEY_VLAN, or 0 untagged */
	uint8_t proto;
	uint8_t family;
};

_Static_assert(sizeof(struct dv_flow_key) == 40, "flow key must have no hidden padding");

/* Bits of dv_flow_rec.state. Side s is 0 or 1 (see the file comment). */
#define DV_ST_LIVE    0x01
#define DV_ST_SEEN(s) (0x02 << (s)) /* side s has sent in this flow */
#define DV_ST_INIT1   0x08	    /* the initiator is side 1 */
#define DV_ST_FIN(s)  (0x10 << (s)) /* side s sent a FIN */
#define DV_ST_CLOSED  0x40	    /* RST or FIN both ways: on the closed list */

struct dv_link {
	uint32_t prev;
	uint32_t next;
};

enum { DV_LINK_SEEN = 0, DV_LINK_ACT = 1 };

/* The first cache line holds what every packet reads (key, last, bytes). */
struct dv_flow_rec {
	struct dv_flow_key key;
	uint64_t last_ns; /* last packet of the flow (max) */
	uint64_t bytes[2];
	uint64_t pkts[2];  /* this segment; both 0: the segment is empty */
	uint64_t first_ns; /* first packet of this segment (min) */
	struct dv_link link[2];
	uint32_t segment;
	uint8_t tcp_flags[2];
	uint8_t state; /* DV_ST_* */
	uint8_t epoch; /* coarse LRU: low bits of the time slot of the last move */
	uint8_t id[16];
} __rte_cache_aligned;

_Static_assert(sizeof(struct dv_flow_rec) == 128, "flow record must stay two cache lines");

struct dv_flow_list {
	uint32_t head;
	uint32_t tail;
};

struct dv_flow_table {
	struct rte_hash *hash;
	struct dv_flow_rec *recs;
	struct dv_frag_cache *frag;
	uint32_t capacity;
	uint32_t count;
	uint32_t changes; /* flows added or removed, to know when a burst's lookups went stale */
	uint64_t now_ns;
	uint64_t idle_ns; /* DV_FLOW_NEVER when disabled */
	uint64_t active_ns;
	uint64_t close_ns;
	struct dv_flow_list lru;
	struct dv_flow_list closed;
	struct dv_flow_list act;
	struct dv_rand rand;
	struct dv_flow_stats stats;
	uint8_t worker;
	uint8_t coarse;       /* lists may lag by one slot (see dv_flow_touch) */
	uint8_t lru_shift;    /* slot of the lru list: 2^lru_shift ns */
	uint8_t closed_shift; /* slot of the closed list */
};

/* ---- lists ---- */

static void dv_list_push_tail(struct dv_flow_table *t, struct dv_flow_list *l, int w, uint32_t i)
{
	struct dv_link *n = &t->recs[i].link[w];

	n->prev = l->tail;
	n->next = DV_FLOW_NIL;
	if (l->tail != DV_FLOW_NIL)
		t->recs[l->tail].link[w].next = i;
	else
		l->head = i;
	l->tail = i;
}

static void dv_list_unlink(struct dv_flow_table *t, struct dv_flow_list *l, int w, uint32_t i)
{
	struct dv_link *n = &t->recs[i].link[w];

	if (n->prev != DV_FLOW_NIL)
		t->recs[n->prev].link[w].next = n->next;
	else
		l->head = n->next;
	if (n->next != DV_FLOW_NIL)
		t->recs[n->next].link[w].prev = n->prev;
	else
		l->tail = n->prev;
}

static struct dv_flow_list *dv_seen_list(struct dv_flow_table *t, const struct dv_flow_rec *r)
{
	return (r->state & DV_ST_CLOSED) ? &t->closed : &t->lru;
}

/* ---- small helpers ---- */

static inline uint64_t dv_add_sat(uint64_t a, uint64_t b)
{
	return a > DV_FLOW_NEVER - b ? DV_FLOW_NEVER : a + b;
}

static inline int dv_seg_empty(const struct dv_flow_rec *r)
{
	return (r->pkts[0] | r->pkts[1]) == 0;
}

static inline uint32_t dv_flow_sig(const struct dv_flow_key *k)
{
	return rte_hash_crc(k, sizeof(*k), 0);
}

/*
 * Build the canonical key of a packet; returns the sender's side. Every byte
 * of the key is written, padding included, because rte_hash compares bytes.
 */
static inline unsigned int dv_flow_key_make(const struct dv_pkt *p, struct dv_flow_key *k)
{
	int c = memcmp(p->src, p->dst, 16);
	unsigned int side = c > 0 || (c == 0 && p->sport > p->dport);
	const uint8_t *lo = side ? p->dst : p->src, *hi = side ? p->src : p->dst;

	memcpy(k->addr[0], lo, 16);
	memcpy(k->addr[1], hi, 16);
	k->port[0] = side ? p->dport : p->sport;
	k->port[1] = side ? p->sport : p->dport;
	k->vlan = (p->flags & DV_PKT_F_VLAN) ? (uint16_t)(DV_KEY_VLAN | (p->vlan_id & 0x0fff)) : 0;
	k->proto = p->proto;
	k->family = p->family;
	return side;
}

/* Key equality as five 8-byte words: cheaper than a call to memcmp, which is
 * what rte_hash would use for a key length that is not a multiple of 16. */
static inline int dv_flow_key_eq(const void *a, const void *b)
{
	uint64_t x[5], y[5], d = 0;

	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	for (int i = 0; i < 5; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

_Static_assert(sizeof(struct dv_flow_key) == 5 * sizeof(uint64_t), "dv_flow_key_eq reads 40 bytes");

/* rte_hash_cmp_eq_t: 0 when equal, like memcmp. */
static int dv_flow_key_cmp(const void *a, const void *b, size_t len)
{
	RTE_SET_USED(len);
	return !dv_flow_key_eq(a, b);
}

/* ---- export ---- */

/* Append the current segment as a row; an empty segment makes no row. */
static void dv_flow_emit(struct dv_flow_table *t, const struct dv_flow_rec *r,
			 enum dv_end_reason reason, struct dv_export_buf *out)
{
	unsigned int s = (r->state & DV_ST_INIT1) ? 1 : 0, d = s ^ 1;
	struct dv_export_rec *e;

	if (dv_seg_empty(r))
		return;
	e = &out->recs[out->n++];
	memset(e, 0, sizeof(*e));
	memcpy(e->id, r->id, sizeof(e->id));
	memcpy(e->src_addr, r->key.addr[s], 16);
	memcpy(e->dst_addr, r->key.addr[d], 16);
	e->first_ns = r->first_ns;
	e->last_ns = r->last_ns;
	e->src_bytes = r->bytes[s];
	e->dst_bytes = r->bytes[d];
	e->src_packets = r->pkts[s];
	e->dst_packets = r->pkts[d];
	e->segment = r->segment;
	e->src_port = r->key.port[s];
	e->dst_port = r->key.port[d];
	e->family = r->key.family;
	e->proto = r->key.proto;
	if (r->key.vlan & DV_KEY_VLAN) {
		e->flags |= DV_EXPORT_F_VLAN;
		e->vlan_id = r->key.vlan & 0x0fff;
	}
	if (r->key.proto == DV_IPPROTO_TCP) {
		e->flags |= DV_EXPORT_F_TCP;
		e->src_tcp_flags = r->tcp_flags[s];
		e->dst_tcp_flags = r->tcp_flags[d];
	}
	e->status = (r->state & (DV_ST_SEEN(0) | DV_ST_SEEN(1))) == (DV_ST_SEEN(0) | DV_ST_SEEN(1))
			? DV_STATUS_ESTABLISHED
			: DV_STATUS_INIT;
	e->end_reason = (uint8_t)reason;
	e->worker = t->worker;
	t->stats.exported++;
	if (reason == DV_END_EVICTED)
		t->stats.evicted++;
}

/* Drop a flow from lists, hash and count (its row, if any, is already out). */
static void dv_flow_remove(struct dv_flow_table *t, uint32_t i)
{
	struct dv_flow_rec *r = &t->recs[i];

	dv_list_unlink(t, dv_seen_list(t, r), DV_LINK_SEEN, i);
	if (!dv_seg_empty(r))
		dv_list_unlink(t, &t->act, DV_LINK_ACT, i);
	rte_hash_del_key_with_hash(t->hash, &r->key, dv_flow_sig(&r->key));
	r->state = 0;
	t->count--;
	t->changes++;
}

/* Start the next segment of a flow: same id, fresh counters and flags. */
static void dv_flow_next_segment(struct dv_flow_table *t, uint32_t i)
{
	struct dv_flow_rec *r = &t->recs[i];

	if (!dv_seg_empty(r))
		dv_list_unlink(t, &t->act, DV_LINK_ACT, i);
	r->bytes[0] = r->bytes[1] = 0;
	r->pkts[0] = r->pkts[1] = 0;
	r->tcp_flags[0] = r->tcp_flags[1] = 0;
	r->segment++;
}

/* The deadline that ends the flow (idle, or tcp_close once closed). */
static inline uint64_t dv_flow_end_deadline(const struct dv_flow_table *t,
					    const struct dv_flow_rec *r)
{
	return dv_add_sat(r->last_ns, (r->state & DV_ST_CLOSED) ? t->close_ns : t->idle_ns);
}

/*
 * Which deadline, if any, has passed at now: the earliest of them, ending
 * the flow on a tie. Returns DV_END_MAX when none has.
 */
static enum dv_end_reason dv_flow_due(const struct dv_flow_table *t, const struct dv_flow_rec *r,
				      uint64_t now)
{
	uint64_t end = dv_flow_end_deadline(t, r);
	uint64_t act = dv_seg_empty(r) ? DV_FLOW_NEVER : dv_add_sat(r->first_ns, t->active_ns);

	if (end <= now && end <= act)
		return (r->state & DV_ST_CLOSED) ? DV_END_TCP_CLOSE : DV_END_IDLE;
	if (act <= now)
		return DV_END_ACTIVE;
	return DV_END_MAX;
}

/*
 * Do what expiry would have done to flow i by now. Exports at most one row.
 * Returns 1 if the flow is still in the table, 0 if it ended.
 */
static int dv_flow_advance(struct dv_flow_table *t, uint32_t i, uint64_t now,
			   struct dv_export_buf *out)
{
	struct dv_flow_rec *r = &t->recs[i];
	enum dv_end_reason why = dv_flow_due(t, r, now);

	if (likely(why == DV_END_MAX))
		return 1;
	dv_flow_emit(t, r, why, out);
	if (why != DV_END_ACTIVE) {
		dv_flow_remove(t, i);
		return 0;
	}
	dv_flow_next_segment(t, i);
	/* The new segment is empty; if the flow also went idle, it ends
	 * without a row, as it would had expiry run in between. */
	if (dv_flow_end_deadline(t, r) <= now) {
		dv_flow_remove(t, i);
		return 0;
	}
	return 1;
}

/*
 * Table full: the least recently seen flow (head of lru or closed, the older)
 * leaves. If one of its deadlines has passed it leaves for that reason, else
 * as evicted.
 */
static void dv_flow_make_room(struct dv_flow_table *t, struct dv_export_buf *out)
{
	uint32_t a = t->lru.head, b = t->closed.head, i;
	enum dv_end_reason why;

	if (a == DV_FLOW_NIL && b == DV_FLOW_NIL)
		return;
	if (a == DV_FLOW_NIL || (b != DV_FLOW_NIL && t->recs[b].last_ns < t->recs[a].last_ns))
		i = b;
	else
		i = a;
	why = dv_flow_due(t, &t->recs[i], t->now_ns);
	dv_flow_emit(t, &t->recs[i], why == DV_END_MAX ? DV_END_EVICTED : why, out);
	dv_flow_remove(t, i);
}

/* ---- packet path ---- */

/* The coarse-LRU time slot of `now` for a seen list. */
static inline uint8_t dv_flow_epoch(const struct dv_flow_table *t, int closed)
{
	return (uint8_t)(t->now_ns >> (closed ? t->closed_shift : t->lru_shift));
}

/*
 * Last-seen bookkeeping: the flow moves to the tail of its seen list.
 *
 * The move writes two neighbouring records, which at a million flows are
 * cache misses on every packet. With a coarse table a flow moves at most once
 * per time slot (timeout / lru_slack_div, rounded down to a power of two):
 * the list stays ordered by the slot of each flow's last move, a flow's last
 * packet is never later than the end of that slot, so a head that is not due
 * yet holds back the flows behind it by at most one slot, and eviction takes
 * a flow seen at most one slot after the least recently seen one.
 */
static inline void dv_flow_touch(struct dv_flow_table *t, uint32_t i, uint64_t ts)
{
	struct dv_flow_rec *r = &t->recs[i];
	int closed = (r->state & DV_ST_CLOSED) != 0;
	uint8_t ep = dv_flow_epoch(t, closed);
	struct dv_flow_list *l;

	if (ts > r->last_ns)
		r->last_ns = ts;
	if (t->coarse && r->epoch == ep)
		return;
	r->epoch = ep;
	l = closed ? &t->closed : &t->lru;
	if (l->tail != i) {
		dv_list_unlink(t, l, DV_LINK_SEEN, i);
		dv_list_push_tail(t, l, DV_LINK_SEEN, i);
	}
}

/* Count one packet from `side` into flow i. */
static inline void dv_flow_apply(struct dv_flow_table *t, uint32_t i, unsigned int side,
				 const struct dv_pkt *p)
{
	struct dv_flow_rec *r = &t->recs[i];

	if (dv_seg_empty(r)) {
		r->first_ns = p->ts_ns;
		dv_list_push_tail(t, &t->act, DV_LINK_ACT, i);
	} else if (p->ts_ns < r->first_ns) {
		r->first_ns = p->ts_ns;
	}
	dv_flow_touch(t, i, p->ts_ns);
	r->bytes[side] += p->wire_len;
	r->pkts[side]++;
	r->state |= DV_ST_SEEN(side);
	if (r->key.proto != DV_IPPROTO_TCP)
		return;
	r->tcp_flags[side] |= p->tcp_flags;
	if (p->tcp_flags & DV_TCP_FIN)
		r->state |= DV_ST_FIN(side);
	if (!(r->state & DV_ST_CLOSED) &&
	    ((p->tcp_flags & DV_TCP_RST) ||
	     (r->state & (DV_ST_FIN(0) | DV_ST_FIN(1))) == (DV_ST_FIN(0) | DV_ST_FIN(1)))) {
		dv_list_unlink(t, &t->lru, DV_LINK_SEEN, i);
		r->state |= DV_ST_CLOSED;
		r->epoch = dv_flow_epoch(t, 1);
		dv_list_push_tail(t, &t->closed, DV_LINK_SEEN, i);
	}
}

/* A new flow for a packet with no live flow; returns its index or NIL. */
static uint32_t dv_flow_create(struct dv_flow_table *t, const struct dv_flow_key *k, uint32_t sig,
			       unsigned int side, const struct dv_pkt *p, struct dv_export_buf *out)
{
	struct dv_flow_rec *r;
	unsigned int init = side;
	int32_t pos;

	if (t->count >= t->capacity) {
		t->stats.table_full++;
		dv_flow_make_room(t, out);
	}
	pos = rte_hash_add_key_with_hash(t->hash, k, sig);
	if (unlikely(pos < 0)) /* cannot happen with extendable buckets */
		return DV_FLOW_NIL;
	r = &t->recs[pos];
	memset(r, 0, sizeof(*r));
	r->key = *k;
	/* The receiver of a leading SYN+ACK is the client whose SYN we missed. */
	if (k->proto == DV_IPPROTO_TCP &&
	    (p->tcp_flags & (DV_TCP_SYN | DV_TCP_ACK)) == (DV_TCP_SYN | DV_TCP_ACK))
		init ^= 1;
	r->state = DV_ST_LIVE | (init ? DV_ST_INIT1 : 0);
	r->last_ns = p->ts_ns;
	dv_rand_uuid4(&t->rand, r->id);
	r->epoch = dv_flow_epoch(t, 0);
	dv_list_push_tail(t, &t->lru, DV_LINK_SEEN, (uint32_t)pos);
	t->count++;
	t->changes++;
	t->stats.created++;
	return (uint32_t)pos;
}

/*
 * Account one packet whose key, hash and bulk-lookup position are known;
 * `changes` is t->changes as it was at the bulk lookup.
 */
static void dv_flow_account(struct dv_flow_table *t, const struct dv_pkt *p,
			    const struct dv_flow_key *k, uint32_t sig, unsigned int side,
			    int32_t pos, uint32_t changes, struct dv_export_buf *out)
{
	struct dv_flow_rec *r;
	uint32_t i;

	if (p->ts_ns > t->now_ns)
		t->now_ns = p->ts_ns;
	/* The bulk lookup ran before earlier packets of the burst created or
	 * removed flows: trust a position only if it still holds this key. */
	if (pos >= 0) {
		r = &t->recs[pos];
		if (!(r->state & DV_ST_LIVE) || !dv_flow_key_eq(&r->key, k))
			pos = -1;
	}
	if (pos < 0 && changes != t->changes)
		pos = rte_hash_lookup_with_hash(t->hash, k, sig);
	if (pos >= 0) {
		i = (uint32_t)pos;
		r = &t->recs[i];
		if (!dv_flow_advance(t, i, t->now_ns, out))
			goto create;
		/* A new connection on a closed flow's ports. */
		if ((r->state & DV_ST_CLOSED) &&
		    (p->tcp_flags & (DV_TCP_SYN | DV_TCP_ACK)) == DV_TCP_SYN) {
			dv_flow_emit(t, r, DV_END_TCP_CLOSE, out);
			dv_flow_remove(t, i);
			goto create;
		}
		dv_flow_apply(t, i, side, p);
		return;
	}
create:
	i = dv_flow_create(t, k, sig, side, p, out);
	if (unlikely(i == DV_FLOW_NIL)) {
		t->stats.table_full++;
		return;
	}
	dv_flow_apply(t, i, side, p);
}

/* Later fragments get their ports from the first one before the key is made. */
static inline void dv_flow_frag(struct dv_flow_table *t, struct dv_pkt *p)
{
	if (likely(p->frag == DV_FRAG_NONE))
		return;
	if (p->frag == DV_FRAG_FIRST) {
		dv_frag_remember(t->frag, p);
		t->stats.frag_first++;
	} else if (dv_frag_fill(t->frag, p)) {
		t->stats.frag_hit++;
	} else {
		t->stats.frag_miss++;
	}
}

/* One chunk: make every key and hash, look them up together, prefetch the
 * records found, then account packet by packet in order. */
static void dv_flow_update_chunk(struct dv_flow_table *t, struct dv_pkt *pkts, uint32_t n,
				 struct dv_export_buf *out)
{
	struct dv_flow_key keys[DV_FLOW_BURST];
	const void *kp[DV_FLOW_BURST];
	hash_sig_t sig[DV_FLOW_BURST];
	int32_t pos[DV_FLOW_BURST];
	uint8_t side[DV_FLOW_BURST];
	uint32_t i, changes = t->changes;

	for (i = 0; i < n; i++) {
		dv_flow_frag(t, &pkts[i]);
		side[i] = (uint8_t)dv_flow_key_make(&pkts[i], &keys[i]);
		kp[i] = &keys[i];
		sig[i] = dv_flow_sig(&keys[i]);
	}
	rte_hash_lookup_with_hash_bulk(t->hash, kp, sig, n, pos);
	for (i = 0; i < n; i++) {
		if (pos[i] >= 0) {
			rte_prefetch0(&t->recs[pos[i]]);
			rte_prefetch0((const char *)&t->recs[pos[i]] + RTE_CACHE_LINE_SIZE);
		}
	}
	for (i = 0; i < n; i++)
		dv_flow_account(t, &pkts[i], &keys[i], sig[i], side[i], pos[i], changes, out);
}

void dv_flow_table_update_burst(struct dv_flow_table *t, struct dv_pkt *pkts, uint32_t n,
				struct dv_export_buf *out)
{
	for (uint32_t done = 0; done < n;) {
		uint32_t m = RTE_MIN(n - done, (uint32_t)DV_FLOW_BURST);

		dv_flow_update_chunk(t, pkts + done, m, out);
		done += m;
	}
}

/* ---- expiry and flush ---- */

/* Pop heads of one list while their deadline has passed. */
static uint32_t dv_flow_expire_list(struct dv_flow_table *t, struct dv_flow_list *l, uint64_t now,
				    uint32_t limit, struct dv_export_buf *out)
{
	uint32_t before = out->n;

	while (out->n - before < limit && l->head != DV_FLOW_NIL) {
		uint32_t i = l->head;

		if (dv_flow_due(t, &t->recs[i], now) == DV_END_MAX)
			break;
		dv_flow_advance(t, i, now, out);
	}
	return out->n - before;
}

uint32_t dv_flow_table_expire(struct dv_flow_table *t, uint64_t now_ns, uint32_t budget,
			      struct dv_export_buf *out)
{
	uint32_t limit = RTE_MIN(budget, dv_export_buf_room(out)), n = 0;

	n += dv_flow_expire_list(t, &t->closed, now_ns, limit - n, out);
	n += dv_flow_expire_list(t, &t->lru, now_ns, limit - n, out);
	n += dv_flow_expire_list(t, &t->act, now_ns, limit - n, out);
	return n;
}

uint32_t dv_flow_table_flush(struct dv_flow_table *t, enum dv_end_reason reason,
			     struct dv_export_buf *out)
{
	uint32_t before = out->n;

	while (dv_export_buf_room(out) > 0) {
		uint32_t i = t->lru.head != DV_FLOW_NIL ? t->lru.head : t->closed.head;

		if (i == DV_FLOW_NIL)
			break;
		/* A deadline that passed before the end wins over the end. */
		if (dv_flow_due(t, &t->recs[i], t->now_ns) != DV_END_MAX) {
			dv_flow_advance(t, i, t->now_ns, out);
			continue;
		}
		dv_flow_emit(t, &t->recs[i], reason, out);
		dv_flow_remove(t, i);
	}
	return out->n - before;
}

/* ---- life cycle ---- */

/* log2 of the largest power of two <= timeout / div (a coarse-LRU slot). An
 * 8-bit slot number wraps after 256 slots, far beyond the timeout, by when
 * the flow has expired. */
static uint8_t dv_flow_slot_shift(uint64_t timeout, uint32_t div)
{
	uint64_t slot = timeout == DV_FLOW_NEVER ? (1ULL << 40) : timeout / div;
	uint8_t shift = 0;

	while (shift < 62 && (2ULL << shift) <= slot)
		shift++;
	return shift;
}

struct dv_flow_table *dv_flow_table_create(const struct dv_flow_config *cfg, char *err,
					   size_t errlen)
{
	struct rte_hash_parameters hp;
	struct dv_flow_table *t;
	uint32_t entries;

	if (cfg == NULL || cfg->name == NULL || cfg->name[0] == '\0') {
		snprintf(err, errlen, "flow table: a name is required");
		return NULL;
	}
	if (strlen(cfg->name) >= RTE_HASH_NAMESIZE) {
		snprintf(err, errlen, "flow table: name '%s' is longer than %d characters",
			 cfg->name, RTE_HASH_NAMESIZE - 1);
		return NULL;
	}
	if (cfg->capacity == 0 || cfg->capacity > RTE_HASH_ENTRIES_MAX) {
		snprintf(err, errlen, "flow table: capacity %u is out of range (1..%u)",
			 cfg->capacity, (unsigned int)RTE_HASH_ENTRIES_MAX);
		return NULL;
	}
	/* rte_hash wants at least one bucket's worth of entries; the table
	 * still holds only `capacity` flows. */
	entries = RTE_MAX(cfg->capacity, 8u);

	t = rte_zmalloc_socket("dv_flow_table", sizeof(*t), RTE_CACHE_LINE_SIZE, cfg->socket_id);
	if (t == NULL) {
		snprintf(err, errlen, "flow table %s: out of DPDK memory", cfg->name);
		return NULL;
	}
	t->recs = rte_zmalloc_socket("dv_flow_recs", (size_t)entries * sizeof(*t->recs),
				     RTE_CACHE_LINE_SIZE, cfg->socket_id);
	if (t->recs == NULL) {
		snprintf(err, errlen,
			 "flow table %s: out of DPDK memory for %u flow records (%zu MB)",
			 cfg->name, entries, ((size_t)entries * sizeof(*t->recs)) >> 20);
		goto fail;
	}
	memset(&hp, 0, sizeof(hp));
	hp.name = cfg->name;
	hp.entries = entries;
	hp.key_len = sizeof(struct dv_flow_key);
	hp.hash_func = rte_hash_crc; /* dv_flow_sig() must compute the same */
	hp.hash_func_init_val = 0;
	hp.socket_id = cfg->socket_id;
	hp.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
	t->hash = rte_hash_create(&hp);
	if (t->hash == NULL) {
		snprintf(err, errlen, "flow table %s: rte_hash_create failed: %s", cfg->name,
			 rte_strerror(rte_errno));
		goto fail;
	}
	rte_hash_set_cmp_func(t->hash, dv_flow_key_cmp);
	t->frag = dv_frag_cache_create(cfg->frag_capacity, cfg->socket_id, err, errlen);
	if (t->frag == NULL)
		goto fail;

	t->capacity = cfg->capacity;
	t->idle_ns = cfg->idle_timeout_ns ? cfg->idle_timeout_ns : DV_FLOW_NEVER;
	t->active_ns = cfg->active_timeout_ns ? cfg->active_timeout_ns : DV_FLOW_NEVER;
	t->close_ns = cfg->tcp_close_timeout_ns ? cfg->tcp_close_timeout_ns : DV_FLOW_NEVER;
	t->lru.head = t->lru.tail = DV_FLOW_NIL;
	t->closed.head = t->closed.tail = DV_FLOW_NIL;
	t->act.head = t->act.tail = DV_FLOW_NIL;
	t->worker = cfg->worker;
	if (cfg->lru_slack_div > 0) {
		t->coarse = 1;
		t->lru_shift = dv_flow_slot_shift(t->idle_ns, cfg->lru_slack_div);
		t->closed_shift = dv_flow_slot_shift(t->close_ns, cfg->lru_slack_div);
	}
	dv_rand_seed(&t->rand, cfg->seed[0], cfg->seed[1]);
	return t;
fail:
	dv_flow_table_free(t);
	return NULL;
}

void dv_flow_table_free(struct dv_flow_table *t)
{
	if (t == NULL)
		return;
	dv_frag_cache_free(t->frag);
	rte_hash_free(t->hash);
	rte_free(t->recs);
	rte_free(t);
}

uint32_t dv_flow_table_count(const struct dv_flow_table *t)
{
	return t->count;
}

void dv_flow_table_advance(struct dv_flow_table *t, uint64_t now_ns)
{
	if (now_ns > t->now_ns)
		t->now_ns = now_ns;
}

uint64_t dv_flow_table_now(const struct dv_flow_table *t)
{
	return t->now_ns;
}

const struct dv_flow_stats *dv_flow_table_stats(const struct dv_flow_table *t)
{
	return &t->stats;
}

size_t dv_flow_bytes_per_flow(void)
{
	/*
	 * The record, plus what rte_hash spends per entry at a power-of-two
	 * capacity: a key slot (8-byte data pointer + key, 16-byte aligned),
	 * an 8-byte slot in a main and in an extendable bucket (64-byte
	 * buckets of 8), and 8 bytes of free-slot rings (sized to twice the
	 * entries). Checked against the DPDK heap in tests/bench/bench_engine.c.
	 */
	size_t key_slot = RTE_ALIGN_CEIL(8 + sizeof(struct dv_flow_key), 16);

	return sizeof(struct dv_flow_rec) + key_slot + 2 * 8 + 8;
}
