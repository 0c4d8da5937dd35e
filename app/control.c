/*
 * control: drains the workers' export rings into the sinks and reports.
 *
 * Accounting per sink: rows handed to a sink = delivered + pending +
 * dead-lettered + dropped, and every record drained from a ring is handed to
 * every sink. The stats line shows the primary sink (BigQuery if configured,
 * else the first one).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_telemetry.h>

#include "control.h"
#include "dv_time.h"

enum { DV_SLOT_FREE, DV_SLOT_TAKEN, DV_SLOT_READY };

static const struct dv_sink *primary_sink(const struct dv_control *c)
{
	for (uint32_t i = 0; i < c->n_sinks; i++)
		if (c->sinks[i]->flags & DV_SINK_F_DELIVERY)
			return c->sinks[i];
	return c->n_sinks ? c->sinks[0] : NULL;
}

/* Hand record r's row (len bytes, or len < 0: none) to every sink. */
static void drain_one(struct dv_control *c, const struct dv_export_rec *r, const char *row, int len)
{
	if (r->end_reason < DV_END_MAX)
		c->end_reasons[r->end_reason]++;
	if (len < 0) {
		c->row_errors++;
		return;
	}
	for (uint32_t s = 0; s < c->n_sinks; s++) {
		int rc = dv_sink_write(c->sinks[s], r, row, (size_t)len);

		/* Log the 1st, 2nd, 4th, 8th... failure: visible, never a flood. */
		if (rc < 0)
			c->sink_errors++;
		if (rc < 0 && (c->sink_errors & (c->sink_errors - 1)) == 0)
			fprintf(stderr,
				"dpdk-devourer: %s output: %s (%" PRIu64 " rows failed so far)\n",
				c->sinks[s]->name, strerror(-rc), c->sink_errors);
	}
}

/* Have record i's whole group in recs[0..*n): a worker enqueues a record
 * and its context at once, so the rest of a group the burst cut is on the
 * ring already. 0 never happens. */
static int drain_group(struct rte_ring *ring, struct dv_export_rec *recs, unsigned int *n,
		       unsigned int i)
{
	unsigned int need = i + 2;

	for (int pass = 0; pass < 2; pass++) {
		if (need > *n)
			*n += dv_ring_dequeue_bulk(ring, &recs[*n], need - *n, DV_EXPORT_SLOTS);
		if (need > *n)
			return 0;
		if (dv_export_group_len(&recs[i]) > DV_EXPORT_GROUP_MAX)
			return 0;
		need = i + dv_export_group_len(&recs[i]);
	}
	return need <= *n;
}

void dv_control_drain_init(struct dv_control *c)
{
	pthread_mutex_init(&c->take_lock, NULL);
	pthread_mutex_init(&c->sink_lock, NULL);
}

/*
 * Take a burst of ring's records into the next slot, numbered next_take.
 * NULL when the ring is empty or every slot is still in use (its rows not
 * yet with the sinks).
 */
static struct dv_drain_slot *take_burst(struct dv_control *c, struct rte_ring *ring)
{
	struct dv_drain_slot *s;
	unsigned int n, k = 0;

	if (pthread_mutex_trylock(&c->take_lock) != 0)
		return NULL; /* another thread is taking: it will take this ring's turn too */
	s = &c->slots[c->next_take % DV_DRAIN_SLOTS];
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != DV_SLOT_FREE) {
		pthread_mutex_unlock(&c->take_lock);
		return NULL;
	}
	n = dv_ring_dequeue_burst(ring, s->recs, DV_DRAIN_BURST, DV_EXPORT_SLOTS);
	for (unsigned int i = 0; i < n; i += dv_export_group_len(&s->recs[i]), k++) {
		if ((s->recs[i].flags & DV_EXPORT_F_CTX) && !drain_group(ring, s->recs, &n, i))
			s->recs[i].flags &= (uint8_t)~DV_EXPORT_F_CTX;
		s->head[k] = (uint16_t)i;
	}
	if (k > 0) {
		s->n_rows = k;
		__atomic_store_n(&s->state, DV_SLOT_TAKEN, __ATOMIC_RELAXED);
		c->next_take++;
	}
	pthread_mutex_unlock(&c->take_lock);
	return k > 0 ? s : NULL;
}

/* Format slot s's rows (no lock: the slot is this thread's until READY). */
static void format_burst(const struct dv_control *c, struct dv_drain_slot *s)
{
	const struct dv_row_opts opts = {
	    .sensor = c->sensor, .sensor_plain = c->sensor_plain, .community = &c->community};

	for (uint32_t k = 0; k < s->n_rows; k++)
		s->len[k] =
		    dv_row_format_opts(&s->recs[s->head[k]], &opts, s->text[k], sizeof(s->text[k]));
	__atomic_store_n(&s->state, DV_SLOT_READY, __ATOMIC_SEQ_CST);
}

/* The burst whose rows go to the sinks next, if it is formatted; else NULL. */
static struct dv_drain_slot *next_ready(struct dv_control *c)
{
	struct dv_drain_slot *s =
	    &c->slots[__atomic_load_n(&c->next_commit, __ATOMIC_ACQUIRE) % DV_DRAIN_SLOTS];

	return __atomic_load_n(&s->state, __ATOMIC_SEQ_CST) == DV_SLOT_READY ? s : NULL;
}

/*
 * Give the sinks the rows of every formatted burst, in the order the bursts
 * were taken, up to the first one not formatted yet. Whoever finds
 * sink_lock free does it; a thread that does not only leaves its burst
 * behind, never waiting: the holder looks again after letting go.
 */
static void commit_ready(struct dv_control *c)
{
	struct dv_drain_slot *s;

	/* (round again after letting go: a burst made ready meanwhile was
	 * left here by its formatter, which found the lock taken) */
	while (next_ready(c) != NULL && pthread_mutex_trylock(&c->sink_lock) == 0) {
		while ((s = next_ready(c)) != NULL) {
			for (uint32_t k = 0; k < s->n_rows; k++)
				drain_one(c, &s->recs[s->head[k]], s->text[k], s->len[k]);
			c->records += s->n_rows;
			__atomic_store_n(&s->state, DV_SLOT_FREE, __ATOMIC_RELEASE);
			__atomic_store_n(&c->next_commit, c->next_commit + 1, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&c->sink_lock);
	}
}

/* Format a burst of every export ring holding at least backlog records;
 * with commit, give the sinks what is formatted, before and after each. */
static uint32_t drain(struct dv_control *c, uint32_t backlog, bool commit)
{
	uint32_t total = 0;

	if (commit)
		commit_ready(c);
	for (uint32_t w = 0; w < c->n_workers; w++) {
		struct rte_ring *ring = c->workers[w]->cfg.export_ring;
		struct dv_drain_slot *s =
		    dv_ring_count(ring, DV_EXPORT_SLOTS) < backlog ? NULL : take_burst(c, ring);

		if (s == NULL)
			continue;
		total += s->n_rows;
		format_burst(c, s);
		if (commit)
			commit_ready(c);
	}
	return total;
}

uint32_t dv_control_drain(struct dv_control *c)
{
	return drain(c, 1, true);
}

uint32_t dv_control_drain_backlog(struct dv_control *c, uint32_t backlog)
{
	return drain(c, backlog, false);
}

void dv_control_reopen(struct dv_control *c)
{
	pthread_mutex_lock(&c->sink_lock);
	for (uint32_t s = 0; s < c->n_sinks; s++)
		if (c->sinks[s]->ops->reopen)
			c->sinks[s]->ops->reopen(c->sinks[s]);
	pthread_mutex_unlock(&c->sink_lock);
}

static void reader_stats_add(struct dv_reader_stats *to, const struct dv_reader_stats *s)
{
	to->packets += s->packets;
	to->bytes += s->bytes;
	to->ip_packets += s->ip_packets;
	to->non_ip += s->non_ip;
	to->malformed += s->malformed;
	to->decap_depth += s->decap_depth;
	to->tunnelled += s->tunnelled;
	to->bad_tunnel += s->bad_tunnel;
	to->bad_length += s->bad_length;
}

void dv_control_reader_start(struct dv_control *c, const struct dv_reader *r)
{
	pthread_mutex_lock(&c->reader_lock);
	c->cur = r;
	pthread_mutex_unlock(&c->reader_lock);
}

void dv_control_reader_done(struct dv_control *c)
{
	pthread_mutex_lock(&c->reader_lock);
	if (c->cur)
		reader_stats_add(&c->rd, dv_reader_stats(c->cur));
	c->cur = NULL;
	pthread_mutex_unlock(&c->reader_lock);
}

/* What a thread's flow-context reading (a worker's, or --read's) adds. */
static void pctx_totals(const struct dv_parse_ctx *pc, struct dv_totals *t)
{
	const struct dv_parse_ctx_stats *s = pc ? dv_parse_ctx_stats(pc) : NULL;

	if (s) {
		t->ctx_found += s->found;
		t->ctx_reasm_full += s->reasm_full;
	}
}

static void port_totals(const struct dv_control *c, struct dv_totals *t)
{
	for (uint16_t i = 0; i < c->n_ports; i++) {
		struct rte_eth_stats st;

		t->imissed += dv_port_sockets_drops(&c->socks[i]);
		if (rte_eth_stats_get(c->ports[i], &st) != 0)
			continue;
		t->imissed += st.imissed;
		t->rx_nombuf += st.rx_nombuf;
	}
}

void dv_control_totals(const struct dv_control *c, struct dv_totals *t)
{
	const struct dv_sink *ps = primary_sink(c);

	struct dv_reader_stats rd;

	memset(t, 0, sizeof(*t));
	/* (the reading thread's counters of the current file are read unlocked:
	 * a moment old, never torn on x86-64) */
	pthread_mutex_lock((pthread_mutex_t *)&c->reader_lock);
	rd = c->rd;
	if (c->cur)
		reader_stats_add(&rd, dv_reader_stats(c->cur));
	pthread_mutex_unlock((pthread_mutex_t *)&c->reader_lock);
	t->rx_packets = rd.packets;
	t->rx_bytes = rd.bytes;
	t->ip_packets = rd.ip_packets;
	t->non_ip = rd.non_ip;
	t->malformed = rd.malformed;
	t->tunnelled = rd.tunnelled;
	t->bad_tunnel = rd.bad_tunnel;
	t->decap_depth = rd.decap_depth;
	t->bad_length = rd.bad_length;
	for (uint32_t i = 0; i < c->n_workers; i++) {
		const struct dv_worker *w = c->workers[i];
		const struct dv_flow_stats *fs = dv_flow_table_stats(w->cfg.table);

		t->rx_packets += w->stats.rx_packets;
		t->rx_bytes += w->stats.rx_bytes;
		t->ip_packets += w->stats.ip_packets;
		t->non_ip += w->stats.non_ip;
		t->malformed += w->stats.malformed;
		t->tunnelled += w->stats.tunnelled;
		t->bad_tunnel += w->stats.bad_tunnel;
		t->decap_depth += w->stats.decap_depth;
		t->ring_waits += w->stats.ring_waits;
		t->handoff_waits += w->stats.handoff_waits;
		t->ctx_flows += fs->ctx_flows;
		t->ctx_store_full += fs->ctx_full;
		t->ctx_export_lost += fs->ctx_lost;
		t->ctx_handoff_lost += w->handoff.ctx_lost;
		pctx_totals(w->cfg.pctx, t);
		t->flows_created += fs->created;
		t->flows_exported += w->stats.exported;
		t->flows_evicted += fs->evicted;
		t->table_full += fs->table_full;
		t->flows_active += dv_flow_table_count(w->cfg.table);
		t->export_ring_used += dv_ring_count(w->cfg.export_ring, DV_EXPORT_SLOTS);
		if (w->cfg.in_ring)
			t->in_ring_used += dv_ring_count(w->cfg.in_ring, DV_IN_SLOTS);
		/* (approximate while workers run: their caches are read unlocked) */
		if (c->pools && c->pools[i])
			t->mbufs_in_use += rte_mempool_in_use_count(c->pools[i]);
	}
	pctx_totals(c->pctx, t);
	t->ctx_handoff_lost += c->read_ctx_lost;
	port_totals(c, t);
	t->rows = c->records;
	if (ps) {
		t->rows_delivered = ps->stats.rows_delivered;
		t->rows_pending = ps->stats.rows_pending;
		t->rows_spooled = ps->stats.rows_spooled;
		t->rows_dead = ps->stats.rows_dead;
		t->rows_dropped = ps->stats.rows_dropped;
		t->rows_recovered = ps->stats.rows_recovered;
		t->requests = ps->stats.requests;
		t->request_errors = ps->stats.request_errors;
		t->retries = ps->stats.retries;
		t->unverified = ps->stats.unverified;
		t->bq_appends = ps->stats.bq_appends;
		t->bq_already_exists = ps->stats.bq_already_exists;
		t->bq_new_streams = ps->stats.bq_new_streams;
		t->bq_may_repeat = ps->stats.bq_may_repeat;
		t->stream = (ps->flags & DV_SINK_F_STREAM) != 0;
	}
}

/* What flow context did, for the stats lines; "" with --flow-context off. */
static const char *ctx_part(const struct dv_control *c, const struct dv_totals *t, char *buf,
			    size_t len)
{
	if (!c->flow_context)
		return "";
	snprintf(buf, len, " ctx_found=%" PRIu64 " ctx_flows=%" PRIu64 " ctx_dropped=%" PRIu64,
		 t->ctx_found, t->ctx_flows,
		 t->ctx_store_full + t->ctx_export_lost + t->ctx_handoff_lost + t->ctx_reasm_full);
	return buf;
}

/* What the Storage Write API's stream did, for the stats lines; "" when
 * the primary sink writes no stream (insertAll, file). */
static const char *stream_part(const struct dv_totals *t, char *buf, size_t len)
{
	if (!t->stream)
		return "";
	snprintf(buf, len,
		 " bq_appends=%" PRIu64 " bq_already_exists=%" PRIu64 " bq_new_streams=%" PRIu64
		 " bq_may_repeat=%" PRIu64,
		 t->bq_appends, t->bq_already_exists, t->bq_new_streams, t->bq_may_repeat);
	return buf;
}

void dv_control_stats_line(struct dv_control *c, FILE *f, int final)
{
	struct dv_totals t;
	uint64_t now = dv_monotonic_ns();
	char sp[160], cp[96];
	double secs;

	dv_control_totals(c, &t);
	if (final) {
		secs = (double)(now - c->start_ns) / 1e9;
		fprintf(f,
			"dpdk-devourer: done in %.3fs: packets=%" PRIu64 " bytes=%" PRIu64
			" ip=%" PRIu64 " non_ip=%" PRIu64 " malformed=%" PRIu64 " flows=%" PRIu64
			" evicted=%" PRIu64 " rows=%" PRIu64 " recovered=%" PRIu64
			" delivered=%" PRIu64 " pending=%" PRIu64 " spooled=%" PRIu64
			" dead_lettered=%" PRIu64 " dropped=%" PRIu64 " imissed=%" PRIu64
			" rx_nombuf=%" PRIu64 " ring_waits=%" PRIu64 " tunnelled=%" PRIu64
			" decap_depth=%" PRIu64 " bad_tunnel=%" PRIu64 " bad_length=%" PRIu64
			"%s%s%s\n",
			secs, t.rx_packets, t.rx_bytes, t.ip_packets, t.non_ip, t.malformed,
			t.flows_created, t.flows_evicted, t.rows, t.rows_recovered,
			t.rows_delivered, t.rows_pending, t.rows_spooled, t.rows_dead,
			t.rows_dropped, t.imissed, t.rx_nombuf, t.ring_waits, t.tunnelled,
			t.decap_depth, t.bad_tunnel, t.bad_length, ctx_part(c, &t, cp, sizeof(cp)),
			stream_part(&t, sp, sizeof(sp)), t.unverified ? " table_unverified=1" : "");
		fflush(f);
		return;
	}
	secs = c->prev_ns ? (double)(now - c->prev_ns) / 1e9 : (double)(now - c->start_ns) / 1e9;
	if (secs <= 0)
		secs = 1e-9;
	fprintf(
	    f,
	    "dpdk-devourer: rx %.0f pps %.0f bps | packets=%" PRIu64 " malformed=%" PRIu64
	    " non_ip=%" PRIu64 " tunnelled=%" PRIu64 " decap_depth=%" PRIu64 " bad_tunnel=%" PRIu64
	    " | flows active=%" PRIu64 " created=%" PRIu64 " exported=%" PRIu64 " evicted=%" PRIu64
	    " table_full=%" PRIu64 " | imissed=%" PRIu64 " rx_nombuf=%" PRIu64
	    " ring_waits=%" PRIu64 " | rows=%" PRIu64 " recovered=%" PRIu64 " delivered=%" PRIu64
	    " pending=%" PRIu64 " spooled=%" PRIu64 " dead_lettered=%" PRIu64 " dropped=%" PRIu64
	    " requests=%" PRIu64 " request_errors=%" PRIu64 "%s%s%s\n",
	    (double)(t.rx_packets - c->prev_packets) / secs,
	    (double)(t.rx_bytes - c->prev_bytes) * 8 / secs, t.rx_packets, t.malformed, t.non_ip,
	    t.tunnelled, t.decap_depth, t.bad_tunnel, t.flows_active, t.flows_created,
	    t.flows_exported, t.flows_evicted, t.table_full, t.imissed, t.rx_nombuf, t.ring_waits,
	    t.rows, t.rows_recovered, t.rows_delivered, t.rows_pending, t.rows_spooled, t.rows_dead,
	    t.rows_dropped, t.requests, t.request_errors, ctx_part(c, &t, cp, sizeof(cp)),
	    stream_part(&t, sp, sizeof(sp)), t.unverified ? " table_unverified=1" : "");
	fflush(f);
	c->prev_packets = t.rx_packets;
	c->prev_bytes = t.rx_bytes;
	c->prev_ns = now;
}

void dv_control_poll_sinks(struct dv_control *c, uint64_t now_mono)
{
	uint64_t now_real = dv_realtime_ns();

	/* The stats line too: its rows and the sinks' counts agree. Another
	 * thread giving the sinks rows: the next poll. */
	if (pthread_mutex_trylock(&c->sink_lock) != 0)
		return;
	for (uint32_t s = 0; s < c->n_sinks; s++)
		c->sinks[s]->ops->poll(c->sinks[s], now_real);
	if (c->stat_interval_ns && now_mono - c->last_stat_ns >= c->stat_interval_ns) {
		c->last_stat_ns = now_mono;
		dv_control_stats_line(c, stderr, 0);
	}
	pthread_mutex_unlock(&c->sink_lock);
}

void dv_control_poll(struct dv_control *c, uint64_t now_mono)
{
	dv_control_poll_sinks(c, now_mono);
	commit_ready(c); /* what was formatted meanwhile */
}

/* Telemetry callbacks run on DPDK's telemetry thread; the counters they read
 * are plain 64-bit values written by one owner each, so a read is at worst a
 * moment old, never torn on x86-64. */
static struct dv_control *tel_ctl;

#define ADD(d, name, v) rte_tel_data_add_dict_u64(d, name, v)

static int tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dv_totals t;

	(void)cmd, (void)params;
	dv_control_totals(tel_ctl, &t);
	rte_tel_data_start_dict(d);
	ADD(d, "rx_packets", t.rx_packets);
	ADD(d, "rx_bytes", t.rx_bytes);
	ADD(d, "ip_packets", t.ip_packets);
	ADD(d, "non_ip", t.non_ip);
	ADD(d, "malformed", t.malformed);
	ADD(d, "tunnelled", t.tunnelled);
	ADD(d, "decap_depth", t.decap_depth);
	ADD(d, "bad_tunnel", t.bad_tunnel);
	ADD(d, "bad_length", t.bad_length);
	ADD(d, "imissed", t.imissed);
	ADD(d, "rx_nombuf", t.rx_nombuf);
	ADD(d, "flows_created", t.flows_created);
	ADD(d, "flows_active", t.flows_active);
	ADD(d, "flows_exported", t.flows_exported);
	ADD(d, "flows_evicted", t.flows_evicted);
	ADD(d, "table_full", t.table_full);
	ADD(d, "ring_waits", t.ring_waits);
	ADD(d, "handoff_waits", t.handoff_waits);
	ADD(d, "export_ring_used", t.export_ring_used);
	ADD(d, "in_ring_used", t.in_ring_used);
	ADD(d, "mbufs_in_use", t.mbufs_in_use);
	ADD(d, "rows", t.rows);
	ADD(d, "rows_recovered", t.rows_recovered);
	ADD(d, "rows_delivered", t.rows_delivered);
	ADD(d, "rows_pending", t.rows_pending);
	ADD(d, "rows_spooled", t.rows_spooled);
	ADD(d, "rows_dead_lettered", t.rows_dead);
	ADD(d, "rows_dropped", t.rows_dropped);
	ADD(d, "upload_requests", t.requests);
	ADD(d, "upload_errors", t.request_errors);
	ADD(d, "upload_retries", t.retries);
	ADD(d, "table_unverified", t.unverified);
	ADD(d, "bq_appends", t.bq_appends);
	ADD(d, "bq_already_exists", t.bq_already_exists);
	ADD(d, "bq_new_streams", t.bq_new_streams);
	ADD(d, "bq_may_repeat", t.bq_may_repeat);
	ADD(d, "ctx_found", t.ctx_found);
	ADD(d, "ctx_flows", t.ctx_flows);
	ADD(d, "ctx_store_full", t.ctx_store_full);
	ADD(d, "ctx_export_lost", t.ctx_export_lost);
	ADD(d, "ctx_handoff_lost", t.ctx_handoff_lost);
	ADD(d, "ctx_reasm_full", t.ctx_reasm_full);
	return 0;
}

static int tel_workers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	(void)cmd, (void)params;
	rte_tel_data_start_dict(d);
	for (uint32_t i = 0; i < tel_ctl->n_workers; i++) {
		const struct dv_worker *w = tel_ctl->workers[i];
		const struct dv_flow_stats *fs = dv_flow_table_stats(w->cfg.table);
		struct rte_tel_data *wd = rte_tel_data_alloc();
		char name[32];

		if (wd == NULL)
			return -ENOMEM;
		rte_tel_data_start_dict(wd);
		ADD(wd, "rx_queues", w->cfg.n_rxq);
		ADD(wd, "rx_packets", w->stats.rx_packets);
		ADD(wd, "rx_bytes", w->stats.rx_bytes);
		ADD(wd, "from_ring", w->stats.from_ring);
		ADD(wd, "handed_off", w->stats.handed_off);
		ADD(wd, "malformed", w->stats.malformed);
		ADD(wd, "tunnelled", w->stats.tunnelled);
		ADD(wd, "decap_depth", w->stats.decap_depth);
		ADD(wd, "bad_tunnel", w->stats.bad_tunnel);
		ADD(wd, "non_ip", w->stats.non_ip);
		ADD(wd, "flows_active", dv_flow_table_count(w->cfg.table));
		ADD(wd, "flows_created", fs->created);
		ADD(wd, "flows_exported", w->stats.exported);
		ADD(wd, "flows_evicted", fs->evicted);
		ADD(wd, "ring_waits", w->stats.ring_waits);
		ADD(wd, "handoff_waits", w->stats.handoff_waits);
		ADD(wd, "loops", w->stats.loops);
		ADD(wd, "export_ring_used", dv_ring_count(w->cfg.export_ring, DV_EXPORT_SLOTS));
		ADD(wd, "export_ring_size", dv_ring_capacity(w->cfg.export_ring, DV_EXPORT_SLOTS));
		if (w->cfg.in_ring) {
			ADD(wd, "in_ring_used", dv_ring_count(w->cfg.in_ring, DV_IN_SLOTS));
			ADD(wd, "in_ring_size", dv_ring_capacity(w->cfg.in_ring, DV_IN_SLOTS));
		}
		if (tel_ctl->pools && tel_ctl->pools[i]) {
			ADD(wd, "mbufs_in_use", rte_mempool_in_use_count(tel_ctl->pools[i]));
			ADD(wd, "mbufs", tel_ctl->pools[i]->size);
		}
		snprintf(name, sizeof(name), "worker%u", i);
		rte_tel_data_add_dict_container(d, name, wd, 0);
	}
	return 0;
}

/* The clock's state as the control lcore last left it (dv_clock_adjust). */
static int tel_clock(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct dv_clock *c = tel_ctl->clock;
	int64_t off_us, ppb;

	(void)cmd, (void)params;
	if (c == NULL)
		return -ENOENT;
	off_us = __atomic_load_n(&c->offset_ns, __ATOMIC_RELAXED) / 1000;
	ppb = dv_clock_rate_error_ppb(c);
	rte_tel_data_start_dict(d);
	/* Telemetry integers are 32-bit: clamp (an offset beyond 35 minutes
	 * is a step, which `steps` counts). */
	rte_tel_data_add_dict_int(
	    d, "offset_us", (int)RTE_MAX(RTE_MIN(off_us, (int64_t)INT32_MAX), (int64_t)INT32_MIN));
	rte_tel_data_add_dict_int(
	    d, "rate_error_ppb",
	    (int)RTE_MAX(RTE_MIN(ppb, (int64_t)INT32_MAX), (int64_t)INT32_MIN));
	ADD(d, "steps", __atomic_load_n(&c->steps, __ATOMIC_RELAXED));
	ADD(d, "tsc_hz", c->hz);
	return 0;
}

int dv_control_telemetry_init(struct dv_control *c)
{
	int rc;

	tel_ctl = c;
	rc = rte_telemetry_register_cmd(
	    "/devourer/stats", tel_stats,
	    "Returns devourer totals: packets, flows, rows. No parameters");
	if (rc == 0)
		rc = rte_telemetry_register_cmd("/devourer/workers", tel_workers,
						"Returns per-worker counters. No parameters");
	if (rc == 0)
		rc = rte_telemetry_register_cmd(
		    "/devourer/clock", tel_clock,
		    "Returns the TSC clock's offset from CLOCK_REALTIME, "
		    "rate error and steps. No parameters");
	return rc;
}
