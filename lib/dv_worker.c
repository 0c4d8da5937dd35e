/*
 * dv_worker: one worker lcore's loop, read top to bottom as one burst:
 *
 *   push waiting export records to the ring
 *   -> RX a burst from each queue, parse, keep own packets, stage the rest
 *      for their owners (ports with fewer queues than workers, af_packet
 *      and tap queues)
 *   -> take a burst of parsed packets from the input ring
 *   -> update the flow table with the burst
 *   -> expire a bounded number of flows (EXPIRE_BUDGET); --read instead
 *      ends every due flow at each of the reader's ticks (expire_due)
 *
 * It also owns the hand-off staging (dv_handoff_*), which the --read
 * reader on the control lcore uses too.
 *
 * Nothing here allocates, locks or calls the kernel per packet. The only
 * system call is a short sleep when the worker found nothing to do many
 * times in a row and was asked to share its core (--read, oversubscribed
 * lcores). Before pausing, a worker with nothing to do calls the program's
 * help (dv_worker_config.help: --read formats rows there).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_branch_prediction.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dv_worker.h"

#define IDLE_LOOPS_BEFORE_SLEEP 256

/*
 * Flows expired per loop at most. Expiry is O(expired), but many flows can
 * fall due at once (a million flows created within a second go idle within
 * a second --flow-timeout later; a step of the clock), and a worker busy
 * expiring them all would leave its RX queues to overflow. 64 at a time is
 * a few microseconds of work (each an export record, a list unlink and an
 * index removal), far less than a queue of 1024 descriptors takes to fill
 * at 10 GbE line rate (69 us at 14.88 Mpps); the rest wait for the next
 * loop, after one more burst from each queue.
 */
#define EXPIRE_BUDGET 64u

static inline uint32_t load_acquire(const volatile uint32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void store_release(volatile uint32_t *p, uint32_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

_Static_assert(sizeof(struct dv_pkt) % DV_RING_SLOT == 0 &&
		   sizeof(struct dv_pkt_tun) == sizeof(struct dv_pkt) &&
		   sizeof(struct dv_export_rec) % DV_RING_SLOT == 0,
	       "a ring element is whole slots");

struct rte_ring *dv_ring_create(const char *name, uint32_t elems, uint32_t slots, int socket,
				unsigned int flags)
{
	return rte_ring_create_elem(name, DV_RING_SLOT, (elems - 1) * slots, socket,
				    flags | RING_F_EXACT_SZ);
}

void dv_handoff_init(struct dv_handoff *h, struct dv_pkt *pkts, struct rte_ring **rings,
		     uint32_t n_owners)
{
	h->pkts = pkts;
	h->rings = rings;
	h->n_owners = n_owners;
	h->ctx_lost = 0;
	memset(h->n, 0, sizeof(h->n));
	memset(h->staged, 0, sizeof(h->staged));
}

/* How many of the first `room` of n staged slots can go without splitting
 * a group (a packet, its tunnel side, its context). */
static uint32_t whole_groups(const uint8_t *stage, uint32_t n, uint32_t room, uint32_t *groups)
{
	uint32_t i = 0, k = 0;

	while (i < room && i < n) {
		uint32_t len = dv_pkt_group_slots(stage + (size_t)i * DV_RING_SLOT);

		if (i + len > room)
			break;
		i += len;
		k++;
	}
	*groups = k;
	return i;
}

uint32_t dv_handoff_send(struct dv_handoff *h, uint32_t owner)
{
	uint8_t *stage = dv_handoff_stage(h, owner);
	uint32_t n = h->n[owner], room, k, groups;
	unsigned int sent;

	if (n == 0)
		return 0;
	/* All or nothing of k slots: other producers may take room meanwhile,
	 * and a burst enqueue could then leave half a group behind. */
	room = rte_ring_free_count(h->rings[owner]);
	if (room >= n) {
		k = n;
		groups = h->staged[owner];
	} else {
		k = whole_groups(stage, n, room, &groups);
	}
	sent =
	    k == 0 ? 0 : rte_ring_enqueue_bulk_elem(h->rings[owner], stage, DV_RING_SLOT, k, NULL);
	if (sent == 0)
		return 0;
	if (sent < n)
		memmove(stage, stage + (size_t)sent * DV_RING_SLOT,
			(size_t)(n - sent) * DV_RING_SLOT);
	h->n[owner] = n - sent;
	h->staged[owner] -= groups;
	return groups;
}

/* Turn ring slots s[0..n) into whole groups in pkts/tun/ctx, up to max
 * packets; *used: the slots they took. Returns the packets. */
static uint32_t in_ring_decode(const uint8_t *s, uint32_t n, struct dv_pkt *pkts,
			       struct dv_pkt_tun *tun, struct dv_pkt_ctx *ctx, uint32_t max,
			       uint8_t *tun_bits, uint32_t *used)
{
	uint32_t i = 0, m = 0;
	uint8_t bits = 0;

	while (m < max && i + 2 <= n) {
		const uint8_t *g = s + (size_t)i * DV_RING_SLOT;
		const struct dv_pkt *e = (const struct dv_pkt *)(const void *)g;
		uint32_t len, at;

		/* the group's length; a context's is in its first slot */
		at = dv_pkt_head_slots(e);
		if (!(e->flags & DV_PKT_F_TICK) && (e->tun & DV_PKT_T_CTX) && i + at + 1 > n)
			break;
		len = dv_pkt_group_slots(g);
		if (i + len > n)
			break;
		if (likely(at == 2))
			dv_pkt_from_v4(&pkts[m], (const struct dv_pkt_v4 *)(const void *)g);
		else
			pkts[m] = *e;
		if (!(e->flags & DV_PKT_F_TICK)) {
			bits |= e->tun;
			if (e->tun & DV_PKT_T_TUNNEL)
				memcpy(&tun[m], g + (size_t)DV_IN_SLOTS * DV_RING_SLOT,
				       sizeof(tun[m]));
			if (e->tun & DV_PKT_T_CTX)
				memcpy(&ctx[m], g + (size_t)at * DV_RING_SLOT,
				       RTE_MIN((size_t)(len - at) * DV_RING_SLOT, sizeof(ctx[m])));
		}
		m++;
		i += len;
	}
	*tun_bits |= bits;
	*used = i;
	return m;
}

uint32_t dv_in_ring_read(struct rte_ring *r, struct dv_pkt *pkts, struct dv_pkt_tun *tun,
			 struct dv_pkt_ctx *ctx, uint32_t max, uint8_t *tun_bits)
{
	/* a burst's worth: DV_BURST packets in the long form, twice as many short */
	uint8_t s[DV_BURST * DV_IN_SLOTS * DV_RING_SLOT] __rte_aligned(64);
	/* (room for the largest group, even when max is small) */
	uint32_t want = RTE_MIN(RTE_MAX(max, 2u + DV_PCTX_MAX_EL) * DV_IN_SLOTS,
				(uint32_t)DV_BURST * DV_IN_SLOTS);
	uint32_t n, used, m;

	*tun_bits = 0;
	n = rte_ring_dequeue_burst_elem_start(r, s, DV_RING_SLOT, want, NULL);
	m = in_ring_decode(s, n, pkts, tun, ctx, max, tun_bits, &used);
	rte_ring_dequeue_elem_finish(r, used);
	return m;
}

uint32_t dv_handoff_staged(const struct dv_handoff *h)
{
	uint32_t left = 0;

	for (uint32_t j = 0; h->pkts != NULL && j < h->n_owners; j++)
		left += h->n[j];
	return left;
}

int dv_worker_init(struct dv_worker *w, const struct dv_worker_config *cfg, char *err,
		   size_t errlen)
{
	struct dv_pkt *stage;

	memset(w, 0, sizeof(*w));
	w->cfg = *cfg;
	w->xbuf.recs = w->xrecs;
	w->xbuf.n = 0;
	/* Room for DV_BURST records must remain while 2 * DV_BURST wait, as
	 * many elements as records without flow context. */
	w->xbuf.cap = cfg->flow_context ? RTE_DIM(w->xrecs) : 4 * DV_BURST;
	w->xbuf.group_max = cfg->flow_context ? DV_EXPORT_GROUP_MAX : 1;
	if (cfg->n_workers > DV_MAX_WORKERS) {
		snprintf(err, errlen, "%u workers: at most %d are supported", cfg->n_workers,
			 DV_MAX_WORKERS);
		return -EINVAL;
	}
	for (uint16_t i = 0; i < cfg->n_rxq; i++) {
		/* A tunnelled packet's owner is its inner flow's, whatever queue
		 * RSS (which hashes the outer headers) chose. */
		if (!cfg->rxq[i].distribute && !(cfg->decap != NULL && cfg->n_workers > 1))
			continue;
		stage =
		    rte_zmalloc("dv_stage", sizeof(struct dv_pkt) * DV_HANDOFF_CAP * cfg->n_workers,
				RTE_CACHE_LINE_SIZE);
		if (stage == NULL) {
			snprintf(err, errlen, "worker %u: no memory for hand-off staging",
				 cfg->index);
			return -ENOMEM;
		}
		dv_handoff_init(&w->handoff, stage, cfg->peer_in, cfg->n_workers);
		break;
	}
	return 0;
}

void dv_worker_fini(struct dv_worker *w)
{
	rte_free(w->handoff.pkts);
	w->handoff.pkts = NULL;
}

/* How many of the first `room` of n waiting elements are whole groups (a
 * record and its context); *recs: the records among them. */
static uint32_t whole_records(const struct dv_export_rec *r, uint32_t n, uint32_t room,
			      uint32_t *recs)
{
	uint32_t i = 0, k = 0;

	while (i < n) {
		uint32_t len = dv_export_group_len(&r[i]);

		if (i + len > room)
			break;
		i += len;
		k++;
	}
	*recs = k;
	return i;
}

/*
 * Move waiting export records to the ring, each with its context (a
 * single producer: the free count is exact); what does not fit stays,
 * from xhead on. The waiting records move to the front of the buffer only
 * once at least as many have gone: a ring that takes a burst at a time
 * (its drainers take 64) would otherwise have the rest of a full buffer
 * (up to 160 kB) moved for every burst, 580 bytes moved for each row made.
 */
static void push_exports(struct dv_worker *w)
{
	struct dv_export_buf *b = &w->xbuf;
	uint32_t head = w->xhead, n, recs;

	if (b->n == head)
		return;
	n = whole_records(b->recs + head, b->n - head,
			  dv_ring_free_count(w->cfg.export_ring, DV_EXPORT_SLOTS), &recs);
	if (n > 0 &&
	    dv_ring_enqueue_bulk(w->cfg.export_ring, b->recs + head, n, DV_EXPORT_SLOTS) == 0)
		n = recs = 0;
	head += n;
	w->stats.exported += recs;
	if (head == b->n) {
		b->n = head = 0;
	} else {
		w->stats.ring_waits++;
		if (head >= b->n - head) {
			memmove(b->recs, b->recs + head, (b->n - head) * sizeof(b->recs[0]));
			b->n -= head;
			head = 0;
		}
	}
	w->xhead = head;
}

/* Send staged packets to their owners. Returns 1 when every peer can take a
 * whole burst more (so RX may go on), 0 when some peer is still backed up. */
static int flush_handoff(struct dv_worker *w)
{
	struct dv_handoff *h = &w->handoff;
	int ok = 1;

	if (h->pkts == NULL)
		return 1;
	for (uint32_t j = 0; j < h->n_owners; j++) {
		if (h->n[j] == 0)
			continue;
		w->stats.handed_off += dv_handoff_send(h, j);
		if (h->n[j] > DV_HANDOFF_SLOTS - 2 * DV_BURST * DV_IN_SLOTS) {
			w->stats.handoff_waits++;
			ok = 0;
		}
	}
	return ok;
}

/* The PMD's timestamp of m when it stamped it, else now; only for a queue
 * whose port stamps (q->ts_dynfield) once the field is registered. */
static inline uint64_t rx_time(const struct dv_worker *w, const struct rte_mbuf *m, uint64_t now)
{
	if (m->ol_flags & w->cfg.ts_dynflag)
		return *RTE_MBUF_DYNFIELD(m, w->cfg.ts_dynfield_offset, const uint64_t *);
	return now;
}

/*
 * A packet dv_parse_rx() found tunnelled, or with a tunnel header it could
 * not read (p->tun): count it, keep its tunnel side in *slot and count its
 * carried frame's bytes. Returns 1 when it went to another worker: the
 * owner of its inner flow, wherever RSS (which hashes the outer headers)
 * put it, or the owner by the shared queue's rule (distribute).
 */
static int rx_tunnelled(struct dv_worker *w, struct dv_pkt *p, const struct dv_pkt_tun *scratch,
			struct dv_pkt_tun *slot, const struct dv_pkt_ctx *ctx, int distribute,
			uint32_t *n_tun, uint32_t *n_bad)
{
	int hand_off = distribute;
	uint32_t owner;

	*n_bad += (p->tun & DV_PKT_T_BAD) != 0;
	if (p->tun & DV_PKT_T_TUNNEL) {
		(*n_tun)++;
		*slot = *scratch;
		p->wire_len = dv_pkt_tun_bytes(scratch, p->wire_len);
		hand_off |= w->cfg.decap != NULL && w->cfg.n_workers > 1;
	}
	if (!hand_off)
		return 0;
	owner = dv_worker_owner(p, w->cfg.n_workers);
	if (owner == w->cfg.index)
		return 0;
	dv_handoff_put_ctx(&w->handoff, owner, p, scratch, ctx);
	return 1;
}

/* Parse a received frame; with flow context on, also find its payload. */
static __rte_always_inline enum dv_parse_status rx_parse(const struct dv_worker *w,
							 const struct rte_mbuf *m, struct dv_pkt *p,
							 struct dv_pkt_tun *scratch,
							 struct dv_payload *pl)
{
	if (w->cfg.pctx == NULL)
		return dv_parse_rx(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m),
				   DV_LINK_ETHERNET, w->cfg.decap, p, scratch);
	return dv_parse_rx_payload(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m),
				   DV_LINK_ETHERNET, w->cfg.decap, p, scratch, pl);
}

/* With flow context on: read packet p's (its time set) into *ctx. Returns
 * 1 when it has one (p then has DV_PKT_T_CTX). */
static __rte_always_inline uint32_t rx_ctx(struct dv_worker *w, struct dv_pkt *p,
					   const struct rte_mbuf *m, const struct dv_payload *pl,
					   struct dv_pkt_ctx *ctx)
{
	if (w->cfg.pctx == NULL ||
	    !dv_parse_ctx_read(w->cfg.pctx, p, rte_pktmbuf_mtod(m, const uint8_t *), pl, ctx))
		return 0;
	p->tun |= DV_PKT_T_CTX;
	return 1;
}

/*
 * One burst from one queue: up to DV_BURST packets, received, parsed and
 * freed DV_RX_BURST at a time (so the frames are still in L1 when parsed and
 * the mbufs go back to the pool cache warm), then kept or staged, and the
 * flow table updated once with all of them (a long burst keeps its
 * prefetch pipeline full). The counters are summed in locals and added
 * once per burst.
 */
static uint16_t poll_rxq(struct dv_worker *w, const struct dv_rxq *q, uint64_t now)
{
	struct rte_mbuf *mbufs[DV_RX_BURST];
	struct dv_pkt pkts[DV_BURST];
	struct dv_pkt_tun tun[DV_BURST]; /* written for tunnelled packets only */
	struct dv_pkt_tun scratch;	 /* the parser's, copied to tun[] when tunnelled */
	struct dv_payload pl;		 /* the payload, with flow context on */
	uint32_t n_local = 0, n_ip = 0, n_non_ip = 0, n_malformed = 0, n_deep = 0, n_tun = 0;
	uint32_t n_bad = 0, n_ctx = 0;
	uint64_t bytes = 0;
	const int hw_time = q->ts_dynfield && w->cfg.ts_dynfield_offset >= 0;
	const int distribute = q->distribute;

	uint16_t n, got = 0;

	do {
		const struct rte_mempool *pool;
		uint64_t not_plain = 0;

		n = rte_eth_rx_burst(q->port, q->queue, mbufs, DV_RX_BURST);
		pool = n > 0 ? mbufs[0]->pool : NULL;
		for (uint16_t i = 0; i < n; i++) {
			struct rte_mbuf *m = mbufs[i];
			struct dv_pkt *p = &pkts[n_local];
			/* (A packet handed off leaves its context in this slot too: copied.) */
			struct dv_pkt_ctx *ctx = &w->ctx[n_local];

			if (i + 1 < n)
				rte_prefetch0(rte_pktmbuf_mtod(mbufs[i + 1], void *));
			bytes += m->pkt_len;
			not_plain |= dv_mbuf_not_plain(m, pool);
			switch (rx_parse(w, m, p, &scratch, &pl)) {
			case DV_PARSE_OK:
				break;
			case DV_PARSE_TUNNEL:
				n_ip++;
				p->wire_len = m->pkt_len;
				p->ts_ns = unlikely(hw_time) ? rx_time(w, m, now) : now;
				n_ctx += rx_ctx(w, p, m, &pl, ctx);
				if (!rx_tunnelled(w, p, &scratch, &tun[n_local], ctx, distribute,
						  &n_tun, &n_bad))
					n_local++;
				continue;
			case DV_PARSE_NON_IP:
				n_non_ip++;
				continue;
			case DV_PARSE_TOO_DEEP:
				n_deep++;
				n_malformed++;
				continue;
			default:
				n_malformed++;
				continue;
			}
			n_ip++;
			p->wire_len = m->pkt_len;
			p->ts_ns = unlikely(hw_time) ? rx_time(w, m, now) : now;
			n_ctx += rx_ctx(w, p, m, &pl, ctx);
			if (distribute) {
				uint32_t owner = dv_worker_owner(p, w->cfg.n_workers);

				if (owner != w->cfg.index) {
					dv_handoff_put_ctx(&w->handoff, owner, p, &scratch, ctx);
					continue;
				}
			}
			n_local++;
		}
		dv_mbuf_free_burst(mbufs, n, not_plain);
		got += n;
	} while (n == DV_RX_BURST && got + DV_RX_BURST <= DV_BURST);
	if (got == 0)
		return 0;
	w->stats.rx_packets += got;
	w->stats.rx_bytes += bytes;
	w->stats.ip_packets += n_ip;
	w->stats.non_ip += n_non_ip;
	w->stats.malformed += n_malformed;
	w->stats.decap_depth += n_deep;
	w->stats.tunnelled += n_tun;
	w->stats.bad_tunnel += n_bad;
	if (n_local > 0)
		dv_flow_table_update_burst_ctx(w->cfg.table, pkts, n_tun ? tun : NULL,
					       n_ctx ? w->ctx : NULL, n_local, &w->xbuf);
	return got;
}

static void idle(struct dv_worker *w, uint32_t *idle_loops)
{
	if (w->cfg.help != NULL && w->cfg.help(w->cfg.help_arg) > 0) {
		*idle_loops = 0;
		return;
	}
	if (!w->cfg.yield_when_idle || ++*idle_loops < IDLE_LOOPS_BEFORE_SLEEP) {
		rte_pause();
		return;
	}
	rte_delay_us_sleep(20);
}

/*
 * --read (expire_at_ticks): end every flow due at the table's clock now,
 * however long the export ring makes this wait, keeping room for the
 * `reserve` packets of the burst still to come. Flows then end at the same
 * places in the capture however fast rows are taken and however the input
 * ring is cut into bursts, so the flows alive at each packet (which decide
 * whether a context finds a slot, or a full table evicts) depend on the
 * capture alone: the same rows on every run.
 */
static void expire_due(struct dv_worker *w, uint32_t reserve)
{
	uint32_t idle_loops = 0;

	for (;;) {
		uint32_t room = dv_export_buf_room(&w->xbuf);
		uint32_t budget = room > reserve ? room - reserve : 0;

		if (budget > 0 &&
		    dv_flow_table_expire(w->cfg.table, dv_flow_table_now(w->cfg.table), budget,
					 &w->xbuf) < budget)
			return;
		push_exports(w);
		if (dv_export_buf_room(&w->xbuf) <= reserve)
			idle(w, &idle_loops);
	}
}

/*
 * Account pkts[0..n) (a burst from the input ring, split from its tunnel
 * sides and contexts), moving the table clock at each tick (and with
 * expire_at_ticks, ending the flows due there). Returns the ticks.
 */
static unsigned int account_ring_burst(struct dv_worker *w, struct dv_pkt *pkts,
				       const struct dv_pkt_tun *tun, const struct dv_pkt_ctx *ctx,
				       unsigned int n)
{
	unsigned int start = 0, ticks = 0;

	for (unsigned int i = 0; i < n; i++) {
		if (likely(!(pkts[i].flags & DV_PKT_F_TICK)))
			continue;
		ticks++;
		if (i > start)
			dv_flow_table_update_burst_ctx(
			    w->cfg.table, pkts + start, tun ? tun + start : NULL,
			    ctx ? ctx + start : NULL, i - start, &w->xbuf);
		dv_flow_table_advance(w->cfg.table, pkts[i].ts_ns);
		if (w->cfg.expire_at_ticks)
			expire_due(w, n - i - 1);
		start = i + 1;
	}
	if (n > start)
		dv_flow_table_update_burst_ctx(w->cfg.table, pkts + start, tun ? tun + start : NULL,
					       ctx ? ctx + start : NULL, n - start, &w->xbuf);
	return ticks;
}

/* One burst of parsed packets from the input ring. */
static uint32_t poll_in_ring(struct dv_worker *w)
{
	struct dv_pkt pkts[DV_BURST];
	struct dv_pkt_tun tun[DV_BURST];
	unsigned int n, ticks;
	uint8_t bits;

	n = dv_in_ring_read(w->cfg.in_ring, pkts, tun, w->ctx, DV_BURST, &bits);
	if (n == 0)
		return 0;
	ticks = account_ring_burst(w, pkts, (bits & DV_PKT_T_TUNNEL) ? tun : NULL,
				   (bits & DV_PKT_T_CTX) ? w->ctx : NULL, n);
	w->stats.from_ring += n - ticks;
	return n;
}

/*
 * The worker's clock. Packet time on a live port (--clock packet) must still
 * move while no packet arrives, or idle flows would never expire: it runs on
 * with the TSC from the last packet time seen.
 */
static inline uint64_t worker_now(struct dv_worker *w)
{
	uint64_t t, sys;

	if (w->cfg.clock_mode == DV_CLOCK_SYSTEM)
		return dv_clock_now(w->cfg.clock);
	t = dv_flow_table_now(w->cfg.table);
	if (w->cfg.n_rxq == 0)
		return t; /* --read: packet time only, so rows do not depend on speed */
	sys = dv_clock_now(w->cfg.clock);
	if (t != w->pkt_clock_last) {
		w->pkt_clock_last = t;
		w->pkt_clock_sys = sys;
	}
	return t + (sys - w->pkt_clock_sys);
}

/* Receive and account until told to stop. */
static void run(struct dv_worker *w)
{
	uint32_t idle_loops = 0;

	while (!load_acquire(&w->stop)) {
		uint32_t got = 0;
		uint64_t now;

		w->stats.loops++;
		push_exports(w);
		now = worker_now(w);
		for (uint16_t k = 0; k < w->cfg.n_rxq; k++) {
			/* Start at a different queue each loop so that, when room
			 * runs out part way, no queue is always the one skipped. */
			uint16_t i = (uint16_t)((k + w->stats.loops) % w->cfg.n_rxq);

			/* Each queue may stage a whole burst for one peer, so the
			 * staging must be flushed down to room for a burst before
			 * every queue, not once per loop. */
			if (dv_export_buf_room(&w->xbuf) < DV_BURST || !flush_handoff(w))
				break;
			got += poll_rxq(w, &w->cfg.rxq[i], now);
		}
		if (w->cfg.in_ring != NULL && dv_export_buf_room(&w->xbuf) >= DV_BURST)
			got += poll_in_ring(w);
		if (w->cfg.clock_mode == DV_CLOCK_PACKET)
			now = worker_now(w);
		uint32_t room = dv_export_buf_room(&w->xbuf);

		if (room > 0 && !w->cfg.expire_at_ticks)
			got += dv_flow_table_expire(w->cfg.table, now, RTE_MIN(room, EXPIRE_BUDGET),
						    &w->xbuf);
		w->now_ns = now;
		if (got == 0)
			idle(w, &idle_loops);
		else
			idle_loops = 0;
	}
}

/* After stop: hand off what is staged, take what the input ring still
 * holds, then export every flow with the stop reason. */
static void finish(struct dv_worker *w)
{
	uint32_t idle_loops = 0;

	/* Every staged packet must reach its owner before it may finish. Two
	 * workers may hand off to each other (af_packet and tap queues): each
	 * keeps taking from its own input ring meanwhile, or both could wait on
	 * full rings. */
	for (;;) {
		flush_handoff(w);
		if (w->cfg.in_ring != NULL && dv_export_buf_room(&w->xbuf) >= DV_BURST)
			poll_in_ring(w);
		if (dv_handoff_staged(&w->handoff) == 0)
			break;
		push_exports(w);
		idle(w, &idle_loops);
	}
	store_release(&w->handoff_done, 1);

	while (w->cfg.in_ring != NULL) {
		uint32_t done = load_acquire(&w->in_done);
		uint32_t got = 0;

		push_exports(w);
		if (dv_export_buf_room(&w->xbuf) >= DV_BURST)
			got = poll_in_ring(w);
		if (got == 0 && done && rte_ring_empty(w->cfg.in_ring))
			break;
		if (got == 0)
			idle(w, &idle_loops);
	}

	dv_flow_table_ending(w->cfg.table);
	while (dv_flow_table_count(w->cfg.table) > 0 || w->xbuf.n > 0) {
		uint32_t before = w->xbuf.n;

		if (dv_export_buf_room(&w->xbuf) > 0)
			dv_flow_table_flush(w->cfg.table, (enum dv_end_reason)w->stop_reason,
					    &w->xbuf);
		push_exports(w);
		if (w->xbuf.n >= before && w->xbuf.n > 0)
			idle(w, &idle_loops);
	}
	w->now_ns = worker_now(w);
	store_release(&w->finished, 1);
}

int dv_worker_main(void *arg)
{
	struct dv_worker *w = arg;

	run(w);
	finish(w);
	return 0;
}
