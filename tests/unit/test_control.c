/*
 * test_control: rows made by several threads at once (dv_control_drain,
 * app/control.c).
 *
 * In --read mode the reading thread and every worker with nothing to do
 * drain the export rings at the same time. Here three threads drain two
 * export rings that the test fills with numbered records (the number in
 * `segment`, the ring in `worker`, every seventh with a flow context
 * record behind it), into a sink that keeps what it is given. Every record
 * must reach the sink exactly once, each ring's in the order it was
 * enqueued, with the row formatted from that record, and the control's
 * count of rows must equal the sink's. The expected rows come from the
 * records the test wrote (the row formatter's own test checks the text).
 *
 * The --read reader between its turns drains with a backlog: it formats
 * rows but leaves giving them to the sinks (which may write a megabyte to
 * a file) to threads with nothing else to do; their next drain gives the
 * sinks those rows first, in order. With bursts formatted past the last
 * slot and not yet given to the sink, that order differs from the slots'
 * order on purpose: the race the three threads may or may not hit, made
 * certain.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "control.h"
#include "dv_eal.h"

int dv_app_log_type; /* app/main.c's, which ports.c logs with */

#define RINGS	 2
#define PER_RING 20000
#define THREADS	 3
#define RING_CAP 32768 /* the whole of a ring's records at once */

/* The sink: every row it is given, in order (calls come under the
 * control's sink lock, one at a time). */
struct kept {
	uint8_t ring;
	uint32_t number;
	int has_ctx;  /* the row names the flow context's server */
	int numbered; /* the row's "segment" is the record's number */
};

static struct kept kept[RINGS * PER_RING + 1];
static uint32_t n_kept;

static int keep_write(struct dv_sink *s, const struct dv_export_rec *rec, const char *row,
		      size_t len)
{
	char want[32];

	(void)s;
	if (n_kept == RTE_DIM(kept))
		return -ENOSPC;
	snprintf(want, sizeof(want), "\"segment\":%u,", rec->segment);
	kept[n_kept].ring = rec->worker;
	kept[n_kept].number = rec->segment;
	kept[n_kept].has_ctx = memmem(row, len, "s7.example", 10) != NULL;
	kept[n_kept].numbered = memmem(row, len, want, strlen(want)) != NULL;
	n_kept++;
	return 0;
}

static int keep_poll(struct dv_sink *s, uint64_t now_ns)
{
	(void)s, (void)now_ns;
	return 0;
}

static const struct dv_sink_ops keep_ops = {.write = keep_write, .poll = keep_poll};
static struct dv_sink keep_sink = {.name = "keep", .ops = &keep_ops};

static struct dv_control ctl;
static struct dv_worker workers[RINGS];
static struct dv_worker *worker_ptrs[RINGS];

/* Record number n of ring r; with its context record behind it in e[1]
 * when n is a multiple of 7. Returns the elements written. */
static uint32_t put_record(struct dv_export_rec *e, uint8_t r, uint32_t n)
{
	struct dv_export_rec *x = &e[0];

	memset(x, 0, sizeof(*x));
	x->id[0] = r;
	memcpy(&x->id[1], &n, sizeof(n));
	x->src_addr[0] = 10;
	x->src_addr[3] = r;
	x->dst_addr[0] = 192;
	x->dst_addr[3] = 1;
	x->first_ns = 1700000000ULL * 1000000000ULL;
	x->last_ns = x->first_ns + 1000;
	x->src_packets = 1;
	x->src_bytes = 60;
	x->segment = n;
	x->src_port = 1024;
	x->dst_port = 53;
	x->family = 4;
	x->proto = 17;
	x->worker = r;
	if (n % 7 != 0)
		return 1;
	struct dv_export_ctx ctx;

	memset(&ctx, 0, sizeof(ctx));
	ctx.n_el = 1;
	ctx.has = DV_EXPORT_CTX_SN;
	ctx.sn_len = 10;
	memcpy(ctx.text, "s7.example", 11); /* and an empty query behind it */
	x->flags |= DV_EXPORT_F_CTX;
	memcpy(&e[1], &ctx, sizeof(e[1])); /* its one element */
	return 2;
}

static pthread_barrier_t start;

/* A fresh control over `rings` export rings, each filled with `per_ring`
 * numbered records (or groups), a record at a time as a worker does;
 * nothing kept by the sink yet. */
static void control_over(uint32_t rings, uint32_t per_ring)
{
	static struct dv_export_rec e[2];

	memset(&ctl, 0, sizeof(ctl));
	n_kept = 0;
	for (uint32_t r = 0; r < rings; r++) {
		char name[32];

		snprintf(name, sizeof(name), "tc_x%u", r);
		workers[r].cfg.export_ring = dv_ring_create(
		    name, RING_CAP, DV_EXPORT_SLOTS, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
		assert_non_null(workers[r].cfg.export_ring);
		worker_ptrs[r] = &workers[r];
		for (uint32_t n = 0; n < per_ring; n++) {
			uint32_t k = put_record(e, (uint8_t)r, n);

			assert_int_equal(
			    dv_ring_enqueue_bulk(workers[r].cfg.export_ring, e, k, DV_EXPORT_SLOTS),
			    k);
		}
	}
	ctl.workers = worker_ptrs;
	ctl.n_workers = rings;
	ctl.sinks[0] = &keep_sink;
	ctl.n_sinks = 1;
	ctl.sensor = "t";
	dv_control_drain_init(&ctl);
}

static void control_free(uint32_t rings)
{
	for (uint32_t r = 0; r < rings; r++)
		rte_ring_free(workers[r].cfg.export_ring);
}

/* Drain until every row is with the sink: three of these at once, from
 * full rings, take bursts back to back and format them side by side. */
static void *drainer(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&start);
	while (__atomic_load_n(&ctl.records, __ATOMIC_RELAXED) < RINGS * PER_RING)
		dv_control_drain(&ctl);
	return NULL;
}

static void test_drain_from_three_threads(void **state)
{
	pthread_t th[THREADS];
	uint32_t want[RINGS] = {0};

	(void)state;
	control_over(RINGS, PER_RING);
	pthread_barrier_init(&start, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, drainer, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
	dv_control_drain(&ctl); /* (nothing is left: this must find nothing) */

	print_message("%u rows from %d threads\n", n_kept, THREADS);
	assert_int_equal(n_kept, RINGS * PER_RING);
	assert_int_equal(ctl.records, RINGS * PER_RING);
	for (uint32_t i = 0; i < n_kept; i++) {
		const struct kept *k = &kept[i];

		assert_true(k->ring < RINGS);
		/* each ring's records in order, none twice, none skipped */
		assert_int_equal(k->number, want[k->ring]);
		want[k->ring]++;
		assert_true(k->numbered);
		assert_int_equal(k->has_ctx, k->number % 7 == 0);
	}
	control_free(RINGS);
}

static void test_backlog_drain_leaves_rows_to_others(void **state)
{
	uint32_t taken = 0, left = 0;

	(void)state;
	control_over(1, 1000);
	/* Under the backlog (1000 records and 143 contexts): nothing is taken. */
	assert_int_equal(dv_control_drain_backlog(&ctl, 1000 + 1000 / 7 + 2), 0);
	/* Bursts given to the sink one drain at a time, until the next burst
	 * is taken into the slot two before the last. */
	for (uint32_t i = 0; i < DV_DRAIN_SLOTS - 2; i++)
		taken += dv_control_drain(&ctl);
	assert_int_equal(n_kept, taken);
	/* Four bursts formatted by the backlog drain (a burst is DV_DRAIN_BURST
	 * elements: a record with its context is two), into the last two
	 * slots and the first two. None is given to the sink, not even by a
	 * poll of the sinks. */
	for (uint32_t i = 0; i < 4; i++) {
		uint32_t n = dv_control_drain_backlog(&ctl, 100);

		assert_true(n > 0);
		left += n;
	}
	dv_control_poll_sinks(&ctl, 1);
	assert_int_equal(n_kept, taken);
	assert_int_equal(ctl.records, taken);
	/* Another thread's drain: those rows first, in the order their bursts
	 * were taken (not slot order: the first two slots hold the last two),
	 * then its own burst. */
	uint32_t own = dv_control_drain(&ctl);

	assert_true(own > 0);
	assert_int_equal(n_kept, taken + left + own);
	while (dv_control_drain(&ctl) > 0)
		;
	assert_int_equal(n_kept, 1000);
	assert_int_equal(ctl.records, 1000);
	for (uint32_t i = 0; i < n_kept; i++)
		assert_int_equal(kept[i].number, i);
	control_free(1);
}

int main(void)
{
	char prefix[64];
	char *argv[] = {"test_control",
			"--no-huge",
			"-m",
			"64",
			"--no-pci",
			"--file-prefix",
			prefix,
			"--log-level=lib.*:error",
			NULL};
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_drain_from_three_threads),
	    cmocka_unit_test(test_backlog_drain_leaves_rows_to_others),
	};
	int rc;

	snprintf(prefix, sizeof(prefix), "dv_test_control_%d", (int)getpid());
	if (rte_eal_init(8, argv) < 0) {
		fprintf(stderr, "test_control: EAL init failed\n");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	dv_eal_cleanup(1);
	return rc;
}
