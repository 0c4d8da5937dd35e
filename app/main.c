/*
 * dpdk-devourer: wires options, the EAL, worker lcores and sinks together.
 *
 * Everything that can be wrong with the configuration is found before the
 * first worker starts: options, input files, sinks, ports. Then the workers
 * run dv_worker_main() and the main lcore becomes the control lcore: in
 * --read mode it also reads the files and feeds the workers (or, when it
 * would share a CPU with a worker, leaves the reading to the workers);
 * live, it only drains, formats, delivers and reports. main() reads as
 * that life, one step a function: command line, inputs, EAL, set-up,
 * capture, delivery, tear-down.
 */
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <rte_version.h>

#include "app.h"
#include "control.h"
#include "dv_bq.h"
#include "dv_eal.h"
#include "dv_flow.h"
#include "dv_rand.h"
#include "dv_reader.h"
#include "dv_time.h"
#include "options.h"
#include "ports.h"

#define EXPORT_RING_SIZE     4096
#define IN_RING_SIZE	     8192
#define MIN_FLOWS_PER_WORKER 64 /* a flow table is never smaller (--max-flows / workers) */
/* Packets a worker reads at most in one turn (read_turn): in practice a
 * turn ends at a full ring, often the reader's own. Fewer hand-overs of
 * the reading are faster on two CPUs: turns of 512 packets were 0.87 and
 * 0.94 as fast as turns of 8192, those 0.94 and 0.97 as fast as these
 * (bench.pcap, flows-heavy.pcap). The main lcore reads READ_TURN_MAIN
 * between two drains. */
#define READ_TURN_WORKER (8 * IN_RING_SIZE)
#define READ_TURN_MAIN	 1024
/* Between two of its read turns the main lcore formats rows only from an
 * export ring this full: fewer, and the worker formats them when it has
 * nothing else to do (worker_help); the reading is the main lcore's
 * alone. */
#define READ_DRAIN_BACKLOG (EXPORT_RING_SIZE / 4)
/* Flows of a table that can keep flow context (server_name, dns_query,
 * dns_rcode) at once: one in 4, at least 256 (docs/flow-context.md). One in
 * 16 while a slot took 520 bytes: flows-heavy.pcap, all of whose 900,000
 * UDP flows have a DNS question, kept it for 327,675; now for all. */
#define CTX_SLOTS_DIV 4
#define CTX_SLOTS_MIN 256

static uint32_t ctx_slots(uint64_t flows_per_worker)
{
	uint64_t n = flows_per_worker / CTX_SLOTS_DIV;

	return (uint32_t)(n < CTX_SLOTS_MIN ? CTX_SLOTS_MIN : n);
}

static volatile sig_atomic_t quit_signal;
static volatile sig_atomic_t hup_signal;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		hup_signal = 1;
	else
		quit_signal = sig;
}

static void die_usage(const char *msg)
{
	fprintf(stderr, "dpdk-devourer: %s\n", msg);
	exit(2);
}

/* Split argv at "--": EAL options before, devourer's after. */
static int split_args(int argc, char **argv, int *eal_argc, char ***app_argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			/* "prog -- opts" (an empty $DEVOURER_EAL_ARGS) means no EAL options. */
			*eal_argc = i > 1 ? i : 0;
			argv[i] = argv[0];
			*app_argv = &argv[i];
			return argc - i;
		}
	}
	*eal_argc = 0;
	*app_argv = argv;
	return argc;
}

/* The EAL options devourer picks when the user gave none. */
static int default_eal_args(const struct dv_options *o, char *prog, char **out, int max, char *bufs,
			    size_t buflen)
{
	cpu_set_t set;
	int cpus[CPU_SETSIZE], n_cpus = 0, n = 0;
	size_t used = 0;
	uint64_t mb;

#define PUSH(...)                                                                                  \
	do {                                                                                       \
		int len_ = snprintf(bufs + used, buflen - used, __VA_ARGS__);                      \
		if (len_ < 0 || (size_t)len_ >= buflen - used || n >= max)                         \
			return -1;                                                                 \
		out[n++] = bufs + used;                                                            \
		used += (size_t)len_ + 1;                                                          \
	} while (0)

	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				cpus[n_cpus++] = c;
	}
	if (n_cpus == 0)
		cpus[n_cpus++] = 0;
	/* Flow memory plus rings, mempools and the EAL's own needs. Reading
	 * files, the flow tables are not in DPDK memory (make_worker): the
	 * rings and a worker's small parts take about 1 MB a worker, and the
	 * EAL describes less memory faster (a 4 KB page each without
	 * hugepages: 256 MB was 20 ms of a bench.pcap run, docs/benchmarks.md). */
	mb = (o->n_read ? 32 + 2 * o->workers
			: 256 + o->max_flows * dv_flow_bytes_per_flow(o->decap) / (1 << 20)) +
	     (o->n_read || !o->flow_context
		  ? 0
		  : o->workers * dv_flow_ctx_bytes(ctx_slots(o->max_flows / o->workers)) /
			(1 << 20)) +
	     (o->interface ? 256 * o->workers : 0) +
	     o->rx_mbufs * o->workers * (RTE_MBUF_DEFAULT_BUF_SIZE + 256) / (1 << 20);
	out[n++] = prog;
	PUSH("--no-huge");
	PUSH("-m");
	PUSH("%" PRIu64, mb);
	PUSH("--no-pci");
	PUSH("--file-prefix=devourer-%d", (int)getpid());
	{
		char lc[1024];
		size_t l = 0;

		for (unsigned int i = 0; i <= o->workers && l < sizeof(lc) - 16; i++)
			l += (size_t)snprintf(lc + l, sizeof(lc) - l, "%s%u@%d", i ? "," : "", i,
					      cpus[(i + (n_cpus > 1 ? n_cpus - 1 : 0)) % n_cpus]);
		PUSH("--lcores=%s", lc);
	}
	PUSH("--log-level=lib.*:%s", o->log_level >= RTE_LOG_INFO ? "info" : "error");
	PUSH("--log-level=pmd.*:%s", o->log_level >= RTE_LOG_INFO ? "info" : "error");
	PUSH("--log-level=devourer*:%s", dv_log_level_name(o->log_level));
	return n;
#undef PUSH
}

static uint32_t read_turn(struct dv_app *app, uint32_t budget);

/* A --read worker's help (dv_worker_config.help): a turn of reading when
 * the workers read, else (or when another is reading) rows formatted. */
static uint32_t worker_help(void *arg)
{
	struct dv_app *app = arg;
	uint32_t n = app->read_by_workers ? read_turn(app, READ_TURN_WORKER) : 0;

	return n > 0 ? n : dv_control_drain(&app->ctl);
}

/* Worker i (on lcore) as a config: its flow table, export ring and input
 * ring. Its queues are added by dv_ports_setup(). 0 or -1 with err. */
static int make_worker(struct dv_app *app, uint32_t i, unsigned int lcore, const uint64_t seed[2],
		       char *err, size_t errlen)
{
	const struct dv_options *o = &app->opt;
	struct dv_worker_config *wc = &app->worker_cfg[i];
	uint64_t per = (o->max_flows + app->n_workers - 1) / app->n_workers;
	struct dv_flow_config fc = {0};
	char name[RTE_RING_NAMESIZE];
	int socket = (int)rte_lcore_to_socket_id(lcore);

	snprintf(name, sizeof(name), "dv_flows_%u", i);
	fc.name = name;
	fc.capacity = (uint32_t)(per < MIN_FLOWS_PER_WORKER ? MIN_FLOWS_PER_WORKER : per);
	fc.idle_timeout_ns = o->flow_timeout_ns;
	fc.active_timeout_ns = o->active_timeout_ns;
	fc.tcp_close_timeout_ns = o->tcp_close_timeout_ns;
	fc.socket_id = socket;
	fc.worker = (uint8_t)i;
	/* Idle rows may leave up to 1/16 of the timeout late; the rows
	 * themselves do not change (see dv_flow_touch). */
	fc.lru_slack_div = 16;
	fc.tunnels = o->decap != 0;
	fc.ctx_slots = o->flow_context ? ctx_slots(fc.capacity) : 0;
	/* Reading files, a page fault as a flow first writes its record costs
	 * less than touching the whole table before the first packet. */
	fc.lazy_memory = o->n_read > 0;
	fc.seed[0] = seed[0] + i;
	fc.seed[1] = seed[1] ^ ((uint64_t)i << 32);
	wc->table = dv_flow_table_create(&fc, err, errlen);
	if (wc->table == NULL)
		return -1;
	snprintf(name, sizeof(name), "dv_export_%u", i);
	wc->export_ring = dv_ring_create(name, EXPORT_RING_SIZE, DV_EXPORT_SLOTS, socket,
					 RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "dv_in_%u", i);
	/* Several producers: each worker reading an af_packet or tap
	 * queue hands packets off (one compare-and-swap a burst). */
	app->in_rings[i] = dv_ring_create(name, IN_RING_SIZE, DV_IN_SLOTS, socket, RING_F_SC_DEQ);
	if (wc->export_ring == NULL || app->in_rings[i] == NULL) {
		snprintf(err, errlen, "cannot create rings for worker %u: %s", i,
			 rte_strerror(rte_errno));
		return -1;
	}
	wc->index = i;
	wc->n_workers = app->n_workers;
	wc->in_ring = app->in_rings[i];
	wc->peer_in = app->in_rings;
	wc->clock = &app->clock;
	wc->decap = o->decap ? &o->decap_cfg : NULL;
	wc->ts_dynfield_offset = -1;
	wc->yield_when_idle = app->oversubscribed || o->n_read > 0;
	/* --read: no lcore waits for the rows, so a worker waiting for
	 * packets or for room in its export ring formats rows meanwhile. */
	if (o->n_read > 0) {
		wc->help = worker_help;
		wc->help_arg = app;
	}
	wc->expire_at_ticks = o->n_read > 0;
	wc->clock_mode = app->packet_clock ? DV_CLOCK_PACKET : DV_CLOCK_SYSTEM;
	wc->flow_context = o->flow_context != 0;
	/* Live, a worker reads the payloads it receives; --read, the reader. */
	if (o->flow_context && o->n_read == 0) {
		wc->pctx = dv_parse_ctx_create(o->flow_timeout_ns);
		if (wc->pctx == NULL) {
			snprintf(err, errlen, "out of memory for worker %u's flow context", i);
			return -1;
		}
	}
	return 0;
}

/* One worker config per worker lcore (make_worker), and the arrays the
 * workers and the control lcore share. 0 or -1 with err. */
static int create_workers(struct dv_app *app, char *err, size_t errlen)
{
	uint32_t n = app->n_workers;
	uint64_t seed[2];
	unsigned int lcore, i = 0;
	int rc;

	rc = dv_rand_os_seed(seed);
	if (rc < 0) {
		snprintf(err, errlen, "cannot seed flow ids and hash keys: %s", strerror(-rc));
		return -1;
	}
	app->workers = rte_zmalloc("dv_workers", sizeof(*app->workers) * n, RTE_CACHE_LINE_SIZE);
	app->worker_ptrs = rte_zmalloc("dv_worker_ptrs", sizeof(void *) * n, RTE_CACHE_LINE_SIZE);
	app->in_rings = rte_zmalloc("dv_in_rings", sizeof(void *) * n, RTE_CACHE_LINE_SIZE);
	if (!app->workers || !app->worker_ptrs || !app->in_rings) {
		snprintf(err, errlen, "out of DPDK memory for %u workers", n);
		return -1;
	}
	RTE_LCORE_FOREACH_WORKER (lcore) {
		if (make_worker(app, i, lcore, seed, err, errlen) < 0)
			return -1;
		app->worker_ptrs[i] = &app->workers[i];
		app->worker_lcore[i] = lcore;
		i++;
	}
	return 0;
}

/* Build each worker from its config, once the ports have added its queues. */
static int init_workers(struct dv_app *app, char *err, size_t errlen)
{
	for (uint32_t i = 0; i < app->n_workers; i++)
		if (dv_worker_init(&app->workers[i], &app->worker_cfg[i], err, errlen) < 0)
			return -1;
	return 0;
}

static int open_sinks(struct dv_app *app, char *err, size_t errlen)
{
	const struct dv_options *o = &app->opt;
	struct dv_control *c = &app->ctl;

	if (o->outputs & DV_OUT_STDOUT) {
		c->sinks[c->n_sinks] = dv_sink_stdout_create(err, errlen);
		if (c->sinks[c->n_sinks] == NULL)
			return -1;
		c->n_sinks++;
	}
	if (o->outputs & DV_OUT_FILE) {
		c->sinks[c->n_sinks] =
		    dv_sink_file_create(o->write_file, DV_NS_PER_SEC, err, errlen);
		if (c->sinks[c->n_sinks] == NULL)
			return -1;
		c->n_sinks++;
	}
	if (o->outputs & DV_OUT_BIGQUERY) {
		c->sinks[c->n_sinks] = dv_app_bq_sink(app, err, errlen);
		if (c->sinks[c->n_sinks] == NULL)
			return -1;
		c->n_sinks++;
	}
	return 0;
}

static int all_finished(const struct dv_app *app)
{
	for (uint32_t i = 0; i < app->n_workers; i++)
		if (!__atomic_load_n(&app->workers[i].finished, __ATOMIC_ACQUIRE))
			return 0;
	return 1;
}

static void stop_workers(struct dv_app *app, enum dv_end_reason reason)
{
	for (uint32_t i = 0; i < app->n_workers; i++) {
		app->workers[i].stop_reason = (uint8_t)reason;
		__atomic_store_n(&app->workers[i].stop, 1, __ATOMIC_RELEASE);
	}
}

/* The control lcore's idle pause: a short sleep, since it shares a core. */
static void control_idle(void)
{
	rte_delay_us_sleep(50);
}

/* Once a second, bring the workers' TSC clock toward CLOCK_REALTIME. */
static void clock_adjust(struct dv_app *app, uint64_t mono)
{
	uint64_t tsc, real;

	if (mono < app->clock_adjust_at)
		return;
	app->clock_adjust_at = mono + DV_NS_PER_SEC;
	tsc = rte_rdtsc();
	real = dv_realtime_ns();
	if (dv_clock_adjust(&app->clock, tsc, real))
		DV_LOG(WARNING, "the system clock was set (%+.3f s): live row times follow it",
		       (double)app->clock.offset_ns / 1e9);
}

/* The sinks polled (with rows, also given the rows formatted meanwhile:
 * the reader between its read turns leaves that to idle threads) and
 * reopened on SIGHUP, the stats line, the clock, the links. */
static void control_poll(struct dv_app *app, int rows)
{
	uint64_t mono = dv_monotonic_ns();

	if (rows)
		dv_control_poll(&app->ctl, mono);
	else
		dv_control_poll_sinks(&app->ctl, mono);
	if (hup_signal) {
		hup_signal = 0;
		dv_control_reopen(&app->ctl);
	}
	clock_adjust(app, mono);
	dv_ports_watch_links(app, mono);
}

/* --read: map the workers' flow memory in a little ahead of them
 * (dv_flow_table_prefault), so that they take no page fault. 1 if any was
 * mapped; 0 at once on live ports (their memory is all touched at start). */
static int prefault_tables(struct dv_app *app)
{
	int mapped = 0;

	for (uint32_t i = 0; i < app->n_workers; i++)
		mapped |= dv_flow_table_prefault(app->worker_cfg[i].table);
	return mapped;
}

static void control_step(struct dv_app *app)
{
	uint32_t got = dv_control_drain(&app->ctl);

	control_poll(app, 1);
	if (got == 0 && !prefault_tables(app))
		control_idle();
}

/* Wait for every worker to finish, draining their rings meanwhile. Live mode
 * also waits for the distributor before telling the others no more input
 * comes. */
static void wait_workers(struct dv_app *app)
{
	for (;;) {
		int handoff_done = 1;

		for (uint32_t i = 0; i < app->n_workers; i++)
			if (!__atomic_load_n(&app->workers[i].handoff_done, __ATOMIC_ACQUIRE))
				handoff_done = 0;
		if (handoff_done)
			for (uint32_t i = 0; i < app->n_workers; i++)
				__atomic_store_n(&app->workers[i].in_done, 1, __ATOMIC_RELEASE);
		if (all_finished(app))
			break;
		control_step(app);
	}
	rte_eal_mp_wait_lcore();
	while (dv_control_drain(&app->ctl) > 0)
		;
}

/* Owner w's staging is sent once it holds this many slots: a burst of
 * DV_BURST packets in the long form, twice as many short ones. */
#define READ_SEND_SLOTS (DV_BURST * DV_IN_SLOTS)

/* Send owner w's staged packets while a burst's worth is staged. 1 when
 * less is left staged (room for the next packet), 0 when its ring is
 * full. */
static int send_stage(struct dv_read_state *rd, uint32_t w)
{
	if (rd->h.n[w] >= READ_SEND_SLOTS)
		dv_handoff_send(&rd->h, w);
	return rd->h.n[w] < READ_SEND_SLOTS;
}

/* Every owner has room for the next packet: 1, else 0. */
static int send_stages(struct dv_read_state *rd, uint32_t nw)
{
	int room = 1;

	for (uint32_t w = 0; w < nw; w++)
		room &= send_stage(rd, w);
	return room;
}

/* Queue the reader's clock behind what is staged for every worker. */
static void stage_ticks(struct dv_read_state *rd, uint32_t nw)
{
	static const struct dv_pkt_tun no_tun; /* a tick has none: never read */
	struct dv_pkt tick;

	memset(&tick, 0, sizeof(tick));
	tick.flags = DV_PKT_F_TICK;
	tick.ts_ns = rd->clock;
	for (uint32_t w = 0; w < nw; w++)
		dv_handoff_put(&rd->h, w, &tick, &no_tun);
	rd->last_tick = rd->clock;
}

/* Close the file being read and move on to the next, if any. */
static void next_file(struct dv_app *app)
{
	struct dv_read_state *rd = &app->rd;

	dv_control_reader_done(&app->ctl);
	dv_reader_close(app->readers[rd->file]);
	app->readers[rd->file++] = NULL;
	if (rd->file < app->opt.n_read)
		dv_control_reader_start(&app->ctl, app->readers[rd->file]);
}

/*
 * Read up to budget packets of the files in order and stage each for its
 * owner, until a worker's ring is full or the input ends (then the last
 * ticks are staged and rd->eof set). The caller holds rd->lock. Returns
 * the packets read. Not inlined: inside its callers the compiler would
 * take this loop for cold code.
 */
static __rte_noinline uint32_t read_packets(struct dv_app *app, uint32_t budget)
{
	struct dv_read_state *rd = &app->rd;
	const struct dv_decap_cfg *dc = app->opt.decap ? &app->opt.decap_cfg : NULL;
	uint32_t nw = app->n_workers, n = 0;
	char err[512];

	while (n < budget) {
		struct dv_pkt_tun tun;
		struct dv_pkt_ctx ctx;
		struct dv_pkt pkt;
		uint32_t w;
		int rc;

		if (rd->file >= app->opt.n_read || quit_signal) {
			while (rd->file < app->opt.n_read)
				next_file(app);
			/* The last tick: every worker ends on the same clock as one would. */
			stage_ticks(rd, nw);
			rd->eof = 1;
			break;
		}
		rc = dv_reader_next_ctx(app->readers[rd->file], dc, app->pctx, &pkt, &tun, &ctx,
					err, sizeof(err));
		if (rc != 1) {
			if (rc < 0) {
				DV_LOG(ERR, "%s", err);
				rd->status = 2;
			}
			next_file(app);
			continue;
		}
		n++;
		w = dv_worker_owner(&pkt, nw);
		dv_handoff_put_ctx(&rd->h, w, &pkt, &tun, &ctx);
		if (pkt.ts_ns > rd->clock)
			rd->clock = pkt.ts_ns;
		/* Each second of capture time, a tick to every worker: flows end
		 * there and only there (expire_at_ticks), so that a run's rows
		 * depend on the capture alone. */
		if (rd->clock - rd->last_tick >= DV_NS_PER_SEC) {
			stage_ticks(rd, nw);
			if (!send_stages(rd, nw))
				break;
		} else if (!send_stage(rd, w)) {
			break;
		}
	}
	__atomic_store_n(&app->ctl.read_ctx_lost, rd->h.ctx_lost, __ATOMIC_RELAXED);
	return n;
}

/*
 * One turn of --read: if no other thread is reading, send what is staged,
 * read up to budget packets (read_packets), and once the input has ended
 * and every staged packet is on its ring, set rd->done. Never waits: a
 * full ring ends the turn. Returns the packets read.
 */
static uint32_t read_turn(struct dv_app *app, uint32_t budget)
{
	struct dv_read_state *rd = &app->rd;
	uint32_t n = 0;

	if (__atomic_load_n(&rd->done, __ATOMIC_ACQUIRE) || !rte_spinlock_trylock(&rd->lock))
		return 0;
	if (!rd->eof && send_stages(rd, app->n_workers))
		n = read_packets(app, budget);
	if (rd->eof) {
		for (uint32_t w = 0; w < app->n_workers; w++)
			dv_handoff_send(&rd->h, w);
		if (dv_handoff_staged(&rd->h) == 0)
			__atomic_store_n(&rd->done, 1, __ATOMIC_RELEASE);
	}
	rte_spinlock_unlock(&rd->lock);
	return n;
}

/* --read on the main lcore: read, and format rows between turns and while
 * a worker's ring is full. */
static void read_on_main(struct dv_app *app)
{
	uint32_t turns = 0;

	while (!__atomic_load_n(&app->rd.done, __ATOMIC_ACQUIRE)) {
		if (read_turn(app, READ_TURN_MAIN) < READ_TURN_MAIN) {
			control_step(app);
			continue;
		}
		dv_control_drain_backlog(&app->ctl, READ_DRAIN_BACKLOG);
		if ((++turns & 15) == 0)
			control_poll(app, 0);
	}
}

/* --read by the workers (worker_help): the main lcore only keeps the sinks
 * and the stats line going until the input has all been handed over. */
static void read_by_workers(struct dv_app *app)
{
	while (!__atomic_load_n(&app->rd.done, __ATOMIC_ACQUIRE)) {
		control_poll(app, 1);
		if (!prefault_tables(app))
			rte_delay_us_sleep(1000);
	}
}

/* The read state's staging: DV_MAX_WORKERS * DV_HANDOFF_CAP packets, 1 MB. */
static struct dv_pkt read_stage[DV_MAX_WORKERS * DV_HANDOFF_CAP];

/* --read: every file read in order, each packet handed to its owner. */
static int read_files(struct dv_app *app)
{
	if (app->read_by_workers)
		read_by_workers(app);
	else
		read_on_main(app);
	return app->rd.status;
}

static int run_live(struct dv_app *app)
{
	while (!quit_signal)
		control_step(app);
	return 0;
}

int dv_app_log_type;

/* SIGINT or SIGTERM before the workers run: nothing was captured, so the
 * program stops here with status 0 (the caller cleans up). */
static int stopped_during_start_up(void)
{
	if (!quit_signal)
		return 0;
	DV_LOG(NOTICE, "signal %d during start-up: stopping", (int)quit_signal);
	return 1;
}

/*
 * The command line: split at "--", devourer's options parsed, --help and
 * --version answered. Bad input is one line and exit 2. Returns the number
 * of EAL options the user gave, or -1 when there is nothing more to do.
 */
static int command_line(struct dv_app *app, int argc, char **argv, char ***app_argv)
{
	char err[1024];
	int eal_argc, app_argc;

	app_argc = split_args(argc, argv, &eal_argc, app_argv);
	if (dv_options_parse(&app->opt, app_argc, *app_argv, err, sizeof(err)) < 0)
		die_usage(err);
	if (app->opt.help) {
		dv_options_usage("dpdk-devourer");
		return -1;
	}
	if (app->opt.version) {
		printf("dpdk-devourer %s (%s)\n", DV_VERSION, rte_version());
		return -1;
	}
	if (app->opt.n_read == 0 && app->opt.interface == NULL && !app->opt.drain_spool &&
	    eal_argc == 0)
		die_usage("nothing to capture: give --read FILE, --interface IFACE, or EAL "
			  "options with ports (see --help)");
	return eal_argc;
}

/* Input files and the interface are checked before the EAL starts: a bad
 * one is one line and exit 2. */
static void check_inputs(struct dv_app *app)
{
	char err[1024];

	for (unsigned int f = 0; f < app->opt.n_read; f++) {
		app->readers[f] = dv_reader_open(app->opt.read_files[f], err, sizeof(err));
		if (app->readers[f] == NULL)
			die_usage(err);
	}
	if (app->opt.n_read > 0 && app->opt.flow_context) {
		app->pctx = dv_parse_ctx_create(app->opt.flow_timeout_ns);
		if (app->pctx == NULL)
			die_usage("out of memory for the reader's flow context");
	}
	if (app->opt.interface && if_nametoindex(app->opt.interface) == 0) {
		snprintf(err, sizeof(err), "--interface %s: no such network interface",
			 app->opt.interface);
		die_usage(err);
	}
	/* The Go tool's command line runs unchanged; one line says what differs. */
	if (app->opt.go_command)
		fprintf(stderr,
			"dpdk-devourer: the Go devourer's command line: here rows are one per flow "
			"segment with more columns, the output is bigquery when a project is set, "
			"and the statistics line is %s (README: Coming from devourer (Go))\n",
			app->opt.stat_interval_ns ? "on (-s 0: off)" : "off");
}

/* The EAL's arguments into eal_argv (room for EAL_ARGS + 1): the user's
 * eal_argc options from argv, or devourer's defaults. Returns their count. */
#define EAL_ARGS 63
static int eal_arguments(struct dv_app *app, char **argv, int eal_argc, char **eal_argv, char *buf,
			 size_t buflen)
{
	if (eal_argc == 0) {
		eal_argc = default_eal_args(&app->opt, argv[0], eal_argv, EAL_ARGS, buf, buflen);
		if (eal_argc < 0)
			die_usage("internal error: EAL arguments too long");
		app->own_eal = 1;
	} else {
		int n = 0;

		for (int i = 0; i < eal_argc && n < 60; i++)
			eal_argv[n++] = argv[i];
		eal_argc = n;
	}
	eal_argv[eal_argc] = NULL;
	return eal_argc;
}

/* Signals, then the EAL and the log type. 0, or -1 with err. */
static int start_eal(struct dv_app *app, int eal_argc, char **eal_argv, char *err, size_t errlen)
{
	/* Before the EAL: start-up (hugepages, pools, flow tables) can take
	 * seconds, and a stop asked for meanwhile must end it cleanly, not kill
	 * the process half set up. */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	/* A closed stdout (| head) is reported as a write error, not a kill. */
	signal(SIGPIPE, SIG_IGN);

	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		snprintf(err, errlen, "EAL initialisation failed: %s", rte_strerror(rte_errno));
		return -1;
	}
	dv_app_log_type = rte_log_register_type_and_pick_level("devourer", RTE_LOG_NOTICE);
	if (dv_app_log_type >= 0)
		rte_log_set_level(dv_app_log_type, (uint32_t)app->opt.log_level);
	return 0;
}

/* The control lcore's view of the workers, sinks and clock. */
static void init_control(struct dv_app *app)
{
	struct dv_control *c = &app->ctl;

	c->workers = app->worker_ptrs;
	c->n_workers = app->n_workers;
	c->sensor = app->opt.sensor;
	c->sensor_plain = dv_row_plain_len(c->sensor);
	c->clock = &app->clock;
	c->stat_interval_ns = app->opt.stat_interval_ns;
	pthread_mutex_init(&c->reader_lock, NULL);
	c->pctx = app->pctx;
	c->flow_context = app->opt.flow_context;
	c->start_ns = dv_monotonic_ns();
	dv_control_drain_init(c);
	c->last_stat_ns = c->start_ns;
	dv_control_telemetry_init(c);
}

/*
 * Everything between the EAL and the first packet: the worker lcores
 * counted, the interface opened, workers, ports and sinks made, the
 * control lcore told of them. 0, or -1 with err.
 */
static int set_up(struct dv_app *app, char *err, size_t errlen)
{
	app->n_workers = rte_lcore_count() - 1;
	if (app->n_workers == 0) {
		snprintf(err, errlen,
			 "no worker lcore: give at least two lcores (e.g. -l 0-1); "
			 "the main lcore is the control lcore");
		return -1;
	}
	if (app->n_workers > DV_MAX_WORKERS) {
		snprintf(err, errlen, "%u worker lcores: at most %d are supported", app->n_workers,
			 DV_MAX_WORKERS);
		return -1;
	}
	if (app->opt.interface && dv_ports_open_interface(app, err, errlen) < 0)
		return -1;
	app->oversubscribed = app->n_workers + 1 > (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
	/* A reading main lcore on a worker's CPU would take half of it. */
	app->read_by_workers = app->opt.n_read > 0 && app->oversubscribed;
	rte_spinlock_init(&app->rd.lock);
	app->packet_clock = app->opt.clock == DV_CLOCK_OPT_PACKET ||
			    (app->opt.clock == DV_CLOCK_OPT_AUTO && app->opt.n_read > 0);
	dv_clock_init(&app->clock);

	if (create_workers(app, err, errlen) < 0 || dv_ports_setup(app, err, errlen) < 0 ||
	    open_sinks(app, err, errlen) < 0 || init_workers(app, err, errlen) < 0 ||
	    dv_community_cfg_init(&app->ctl.community, app->opt.community_id_seed,
				  app->opt.flow_context, err, errlen) < 0)
		return -1;
	init_control(app);
	return 0;
}

/* Launch the workers, feed them (--read) or wait for a signal (live), then
 * stop them and drain their rings. Returns the exit status so far. */
static int capture(struct dv_app *app)
{
	int status = 0;

	/* Before the launch: a worker may take the first turn of reading. */
	dv_handoff_init(&app->rd.h, read_stage, app->in_rings, app->n_workers);
	if (app->opt.n_read > 0)
		dv_control_reader_start(&app->ctl, app->readers[0]);
	for (uint32_t i = 0; i < app->n_workers; i++)
		rte_eal_remote_launch(dv_worker_main, &app->workers[i], app->worker_lcore[i]);
	app->launched = 1;
	DV_LOG(INFO, "%u worker(s), %u sink(s), %s clock", app->n_workers, app->ctl.n_sinks,
	       app->packet_clock ? "packet" : "system");
	if (app->read_by_workers)
		DV_LOG(INFO,
		       "the workers read the files in turns (%u workers and the main lcore "
		       "on %ld CPUs)",
		       app->n_workers, sysconf(_SC_NPROCESSORS_ONLN));

	if (app->opt.n_read > 0) {
		status = read_files(app);
		/* Everything read is in the rings; the workers may finish. */
		for (uint32_t i = 0; i < app->n_workers; i++)
			__atomic_store_n(&app->workers[i].in_done, 1, __ATOMIC_RELEASE);
		stop_workers(app, quit_signal ? DV_END_SHUTDOWN : DV_END_EOF);
	} else {
		run_live(app);
		stop_workers(app, DV_END_SHUTDOWN);
	}
	if (quit_signal)
		DV_LOG(NOTICE, "signal %d: exporting every flow", (int)quit_signal);
	wait_workers(app);
	dv_ports_stop(app);
	return status;
}

/* Give every sink time to deliver what it holds, print the final line and
 * close the sinks. */
static void deliver(struct dv_app *app)
{
	/* A --read run waits for every row; a signal bounds the wait. */
	uint64_t limit = app->opt.n_read > 0 && !quit_signal ? 3600 * DV_NS_PER_SEC
							     : app->opt.shutdown_timeout_ns;
	uint64_t deadline = dv_realtime_ns() + limit;

	for (uint32_t s = 0; s < app->ctl.n_sinks; s++) {
		struct dv_sink *sk = app->ctl.sinks[s];
		int rc;

		/* A signal during a --read run's long wait cuts it to
		 * --shutdown-timeout; what is left stays in the spool. */
		if (sk->ops->set_stop_flag)
			sk->ops->set_stop_flag(sk, &quit_signal);
		rc = sk->ops->drain(sk, deadline);
		if (rc < 0 && rc != -ETIMEDOUT)
			DV_LOG(ERR, "%s output: %s", sk->name, strerror(-rc));
	}
	dv_control_stats_line(&app->ctl, stderr, 1);
	for (uint32_t s = 0; s < app->ctl.n_sinks; s++)
		app->ctl.sinks[s]->ops->destroy(app->ctl.sinks[s]);
	app->ctl.n_sinks = 0;
}

/* Free whatever start-up made, however far it got. */
static void tear_down(struct dv_app *app)
{
	if (!app->launched)
		for (unsigned int f = 0; f < app->opt.n_read; f++)
			dv_reader_close(app->readers[f]);
	for (uint32_t s = 0; s < app->ctl.n_sinks; s++)
		app->ctl.sinks[s]->ops->destroy(app->ctl.sinks[s]);
	dv_parse_ctx_free(app->pctx);
	for (uint32_t i = 0; i < app->n_workers; i++)
		dv_parse_ctx_free(app->worker_cfg[i].pctx);
	for (uint32_t i = 0; app->workers && i < app->n_workers; i++) {
		dv_worker_fini(&app->workers[i]);
		dv_flow_table_free(app->worker_cfg[i].table);
		rte_ring_free(app->worker_cfg[i].export_ring);
		if (app->in_rings)
			rte_ring_free(app->in_rings[i]);
	}
	dv_ports_close(app);
	dv_community_cfg_free(&app->ctl.community);
	dv_eal_cleanup(app->own_eal);
}

int main(int argc, char **argv)
{
	static struct dv_app app;
	char err[1024];
	char *eal_argv[EAL_ARGS + 1], eal_buf[4096];
	char **app_argv;
	int eal_argc, status = 0;

	eal_argc = command_line(&app, argc, argv, &app_argv);
	if (eal_argc < 0)
		return 0;
	check_inputs(&app);
	eal_argc = eal_arguments(&app, argv, eal_argc, eal_argv, eal_buf, sizeof(eal_buf));
	if (start_eal(&app, eal_argc, eal_argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "dpdk-devourer: %s\n", err);
		return 2; /* nothing to clean up: the EAL did not start */
	}
	if (stopped_during_start_up())
		goto out;
	if (app.opt.drain_spool) {
		status = dv_app_drain_spool(&app);
		goto out;
	}
	if (set_up(&app, err, sizeof(err)) < 0)
		goto fail;
	if (stopped_during_start_up())
		goto out;
	if (dv_ports_start(&app, err, sizeof(err)) < 0)
		goto fail;
	status = capture(&app);
	deliver(&app);
	goto out;
fail:
	fprintf(stderr, "dpdk-devourer: %s\n", err);
	status = 2;
out:
	tear_down(&app);
	return status;
}
