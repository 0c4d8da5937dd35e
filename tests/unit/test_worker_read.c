/*
 * test_worker_read: in --read a worker ends flows only at the reader's
 * ticks, and there every flow that is due, before the next packet
 * (dv_worker_config.expire_at_ticks, lib/dv_worker.c).
 *
 * The flows alive at a packet decide whether its context finds a slot in
 * the table's bounded store; if they depended on how fast rows are taken or
 * on how the input ring is cut into bursts, the rows of one capture would
 * differ from run to run (they did: 97,414 of flows-heavy.pcap's 1,050,000
 * rows kept their DNS question or lost it by timing between two runs). Here a
 * worker on its own lcore takes, through its input ring as --read gives
 * it, 256 DNS flows with a question at 1 s, which fill its 256-slot store,
 * then one tick at 200 s and 64 new DNS flows at 200 s, in one enqueue.
 * The first 256 are idle for 199 s (the timeout is 120 s), so at the tick
 * they end and free every slot: the 64 new flows must all keep their
 * question. A worker that ends flows only a budget at a time after each
 * burst (as it did) accounts the new flows while the old still hold the
 * slots, and drops most of their questions.
 *
 * And a worker with nothing to do calls its help (dv_worker_config.help),
 * which --read uses to make rows on the worker's core.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dv_eal.h"
#include "dv_parse_ctx.h"
#include "dv_worker.h"

#define SEC	  1000000000ULL
#define SLOTS	  256
#define OLD_FLOWS SLOTS
#define NEW_FLOWS 64
#define RING_SIZE 4096

static struct dv_clock wclock;

/* Element k on: a DNS query from 10.9.<i> to 192.0.2.53 at ts with the
 * question "q<i>.example" behind it, as the reader stages it. Returns the
 * elements written. */
static uint32_t put_query(struct dv_pkt *e, uint32_t i, uint64_t ts)
{
	struct dv_pkt_ctx c;
	struct dv_pkt *p = &e[0];
	const uint8_t dst[4] = {192, 0, 2, 53};

	memset(p, 0, sizeof(*p));
	p->src[0] = 10;
	p->src[1] = 9;
	p->src[2] = (uint8_t)(i >> 8);
	p->src[3] = (uint8_t)i;
	memcpy(p->dst, dst, sizeof(dst));
	p->family = 4;
	p->proto = 17;
	p->sport = (uint16_t)(20000 + i);
	p->dport = 53;
	p->wire_len = 80;
	p->ts_ns = ts;
	p->tun = DV_PKT_T_CTX;
	memset(&c, 0, sizeof(c));
	c.kind = DV_PCTX_DNS;
	c.flags = DV_PCTX_F_NAME;
	c.len = (uint16_t)snprintf((char *)c.text, sizeof(c.text), "q%u.example", i);
	c.n_el = (uint8_t)dv_pkt_ctx_elems(&c);
	memcpy(&e[1], &c, (size_t)c.n_el * sizeof(*e));
	return 1u + c.n_el;
}

/* Put e[0..n) (packets, each with its context behind it when it has one)
 * on ring r as the reader does (dv_handoff_put_ctx), a burst's worth of
 * slots at a time: up to 128 queries (of four slots) go in one enqueue. */
static void enqueue_all(struct rte_ring *r, const struct dv_pkt *e, uint32_t n)
{
	static struct dv_pkt stage[DV_HANDOFF_CAP];
	static const struct dv_pkt_tun no_tun;
	struct dv_handoff h;
	uint32_t staged;

	dv_handoff_init(&h, stage, &r, 1);
	for (uint32_t i = 0; i < n; i++) {
		const struct dv_pkt_ctx *c = (const struct dv_pkt_ctx *)(const void *)&e[i + 1];

		dv_handoff_put_ctx(&h, 0, &e[i], &no_tun, c);
		if (e[i].tun & DV_PKT_T_CTX)
			i += c->n_el;
		staged = h.staged[0];
		if (h.n[0] >= DV_BURST * DV_IN_SLOTS)
			assert_int_equal(dv_handoff_send(&h, 0), staged);
	}
	staged = h.staged[0];
	assert_int_equal(dv_handoff_send(&h, 0), staged);
	assert_int_equal(h.n[0], 0);
	assert_int_equal(h.ctx_lost, 0);
}

/*
 * Worker w as --read makes it (a packet clock, flows ending at ticks,
 * sharing its core), with its own input ring *in and export ring *xr of
 * xr_size, a table of 1024 flows (idle 120 s) with ctx_slots context slots,
 * and help (may be NULL). Rings and table are named after tag.
 */
static void make_read_worker(struct dv_worker *w, const char *tag, uint32_t ctx_slots,
			     uint32_t xr_size, uint32_t (*help)(void *), void *help_arg,
			     struct rte_ring **in, struct rte_ring **xr)
{
	struct dv_flow_config fc = {
	    .name = tag,
	    .capacity = 1024,
	    .idle_timeout_ns = 120 * SEC,
	    .active_timeout_ns = 1800 * SEC,
	    .tcp_close_timeout_ns = 10 * SEC,
	    .socket_id = SOCKET_ID_ANY,
	    .seed = {7, 8},
	    .ctx_slots = ctx_slots,
	};
	struct dv_worker_config wc;
	char name[32], err[256];

	snprintf(name, sizeof(name), "%s_in", tag);
	*in = dv_ring_create(name, RING_SIZE, DV_IN_SLOTS, SOCKET_ID_ANY,
			     RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "%s_x", tag);
	*xr = dv_ring_create(name, xr_size, DV_EXPORT_SLOTS, SOCKET_ID_ANY,
			     RING_F_SP_ENQ | RING_F_SC_DEQ);
	assert_true(*in != NULL && *xr != NULL);
	memset(&wc, 0, sizeof(wc));
	wc.n_workers = 1;
	wc.export_ring = *xr;
	wc.in_ring = *in;
	wc.clock_mode = DV_CLOCK_PACKET;
	wc.clock = &wclock;
	wc.yield_when_idle = 1;
	wc.flow_context = ctx_slots > 0;
	wc.expire_at_ticks = 1;
	wc.ts_dynfield_offset = -1;
	wc.help = help;
	wc.help_arg = help_arg;
	wc.table = dv_flow_table_create(&fc, err, sizeof(err));
	assert_non_null(wc.table);
	assert_int_equal(dv_worker_init(w, &wc, err, sizeof(err)), 0);
}

static void test_flows_end_at_ticks(void **state)
{
	static struct dv_pkt e[RING_SIZE];
	static struct dv_export_rec recs[RING_SIZE];
	struct rte_ring *in, *xr;
	struct dv_worker w;
	const struct dv_flow_stats *st;
	uint64_t full_before;
	uint32_t n = 0, got = 0, with_ctx = 0;

	(void)state;
	make_read_worker(&w, "wr0", SLOTS, RING_SIZE, NULL, NULL, &in, &xr);
	st = dv_flow_table_stats(w.cfg.table);
	assert_int_equal(rte_eal_remote_launch(dv_worker_main, &w, rte_get_next_lcore(-1, 1, 0)),
			 0);

	/* The old flows, all taken before anything else comes. */
	for (uint32_t i = 0; i < OLD_FLOWS; i++)
		n += put_query(&e[n], i, 1 * SEC);
	enqueue_all(in, e, n);
	for (int waited = 0; __atomic_load_n(&st->created, __ATOMIC_RELAXED) < OLD_FLOWS;
	     waited++) {
		assert_true(waited < 10000); /* 10 s */
		usleep(1000);
	}
	/* Those that found the slots near theirs taken already (the store's
	 * index is probed 8 entries from a flow's home). */
	full_before = __atomic_load_n(&st->ctx_full, __ATOMIC_RELAXED);
	print_message("%u old flows: %" PRIu64 " questions kept, %" PRIu64 " dropped\n", OLD_FLOWS,
		      OLD_FLOWS - full_before, full_before);

	/* The tick and the new flows, in one enqueue (one burst, as far as the
	 * worker's first dequeue goes). */
	n = 0;
	memset(&e[n], 0, sizeof(e[n]));
	e[n].flags = DV_PKT_F_TICK;
	e[n++].ts_ns = 200 * SEC;
	for (uint32_t i = 0; i < NEW_FLOWS; i++)
		n += put_query(&e[n], OLD_FLOWS + i, 200 * SEC);
	enqueue_all(in, e, n);

	/* End of input: the worker flushes what is left. */
	w.stop_reason = DV_END_EOF;
	__atomic_store_n(&w.in_done, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	for (int waited = 0; !__atomic_load_n(&w.finished, __ATOMIC_ACQUIRE); waited++) {
		assert_true(waited < 10000);
		got += dv_ring_dequeue_burst(xr, recs + got, RTE_DIM(recs) - got, DV_EXPORT_SLOTS);
		usleep(1000);
	}
	rte_eal_mp_wait_lcore();
	got += dv_ring_dequeue_burst(xr, recs + got, RTE_DIM(recs) - got, DV_EXPORT_SLOTS);

	print_message("%u new flows: %" PRIu64 " more questions dropped\n", NEW_FLOWS,
		      st->ctx_full - full_before);
	assert_int_equal(st->created, OLD_FLOWS + NEW_FLOWS);
	assert_int_equal(st->ctx_full, full_before);
	for (uint32_t i = 0; i < got; i += dv_export_group_len(&recs[i])) {
		const uint8_t *a = recs[i].src_addr;

		/* A new flow (10.9.1.x: numbers 256 on) with its question. */
		if (a[0] == 10 && a[1] == 9 && a[2] == 1 && dv_export_has_ctx(&recs[i]))
			with_ctx++;
	}
	assert_int_equal(with_ctx, NEW_FLOWS);

	dv_worker_fini(&w);
	dv_flow_table_free(w.cfg.table);
	rte_ring_free(in);
	rte_ring_free(xr);
}

/* What a worker's help saw: the records it took from the export ring. */
struct help_state {
	struct rte_ring *ring;
	struct dv_export_rec recs[RING_SIZE];
	uint32_t got;
	uint32_t on_worker; /* records taken on a worker lcore, not the test's */
};

static uint32_t help_drain(void *arg)
{
	struct help_state *h = arg;
	uint32_t n = dv_ring_dequeue_burst(h->ring, h->recs + h->got, RTE_DIM(h->recs) - h->got,
					   DV_EXPORT_SLOTS);

	h->got += n;
	if (rte_lcore_id() != rte_get_main_lcore())
		h->on_worker += n;
	return n;
}

/*
 * --read has no thread that waits for rows: a worker with nothing to do
 * makes them (dv_worker_config.help). Here nobody but the help takes from
 * an export ring of 64 records, and the worker's flush at the end exports
 * 600 flows: it finishes only if it calls its help while its ring is full,
 * and all records but the ring's last go through it, on the worker's lcore.
 */
static void test_help_drains_export_ring(void **state)
{
	static struct dv_pkt e[RING_SIZE];
	static struct help_state h;
	const uint32_t flows = 600;
	struct rte_ring *in;
	int stuck;
	struct dv_worker w;

	(void)state;
	make_read_worker(&w, "wr1", 0, 64, help_drain, &h, &in, &h.ring);
	for (uint32_t i = 0; i < flows; i++) {
		put_query(&e[i], i, 1 * SEC);
		e[i].tun = 0; /* the flow alone, without its question */
	}
	enqueue_all(in, e, flows);
	w.stop_reason = DV_END_EOF;
	__atomic_store_n(&w.in_done, 1, __ATOMIC_RELEASE);
	assert_int_equal(rte_eal_remote_launch(dv_worker_main, &w, rte_get_next_lcore(-1, 1, 0)),
			 0);
	__atomic_store_n(&w.stop, 1, __ATOMIC_RELEASE);
	for (int waited = 0; waited < 10000 && !__atomic_load_n(&w.finished, __ATOMIC_ACQUIRE);
	     waited++)
		usleep(1000);
	stuck = !__atomic_load_n(&w.finished, __ATOMIC_ACQUIRE);
	/* 10 s: without its help the worker waits for room for ever; make
	 * the room here, so that the test fails rather than hangs */
	while (!__atomic_load_n(&w.finished, __ATOMIC_ACQUIRE))
		help_drain(&h);
	rte_eal_mp_wait_lcore();
	assert_false(stuck);
	help_drain(&h); /* the last ones, which the worker left in its ring */
	print_message("%u records, %u taken by the worker's help\n", h.got, h.on_worker);
	assert_int_equal(h.got, flows);
	/* all but what the ring holds at the end */
	assert_true(h.on_worker >= flows - dv_ring_capacity(h.ring, DV_EXPORT_SLOTS));
	for (uint32_t i = 0; i < h.got; i++)
		assert_int_equal(h.recs[i].end_reason, DV_END_EOF);

	dv_worker_fini(&w);
	dv_flow_table_free(w.cfg.table);
	rte_ring_free(in);
	rte_ring_free(h.ring);
}

int main(void)
{
	char prefix[64];
	char *argv[] = {"test_worker_read",
			"--no-huge",
			"-m",
			"128",
			"--no-pci",
			"--file-prefix",
			prefix,
			"--lcores=0@0,1@1",
			"--log-level=lib.*:error",
			NULL};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flows_end_at_ticks),
	    cmocka_unit_test(test_help_drains_export_ring),
	};
	int rc;

	snprintf(prefix, sizeof(prefix), "dv_test_wread_%d", (int)getpid());
	if (rte_eal_init(9, argv) < 0) {
		fprintf(stderr, "test_worker_read: EAL init failed\n");
		return 1;
	}
	dv_clock_init(&wclock);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	dv_eal_cleanup(1);
	return rc;
}
