/*
 * dpdk-devourer: wires options, the EAL, worker lcores and sinks together.
 *
 * Everything that can be wrong with the configuration is found before the
 * first worker starts: options, input files, sinks, ports. Then the workers
 * run dv_worker_main() and the main lcore becomes the control lcore: in
 * --read mode it also reads the files and feeds the workers; live, it only
 * drains, formats, delivers and reports.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_dev.h>
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

#define EXPORT_RING_SIZE 4096
#define IN_RING_SIZE 8192

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
static int default_eal_args(const struct dv_options *o, char *prog, char **out, int max,
			    char *bufs, size_t buflen)
{
	cpu_set_t set;
	int cpus[CPU_SETSIZE], n_cpus = 0, n = 0;
	size_t used = 0;
	uint64_t mb;

#define PUSH(...)                                                                       \
	do {                                                                            \
		int len_ = snprintf(bufs + used, buflen - used, __VA_ARGS__);           \
		if (len_ < 0 || (size_t)len_ >= buflen - used || n >= max)              \
			return -1;                                                      \
		out[n++] = bufs + used;                                                 \
		used += (size_t)len_ + 1;                                               \
	} while (0)

	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				cpus[n_cpus++] = c;
	}
	if (n_cpus == 0)
		cpus[n_cpus++] = 0;
	/* Flow memory plus rings, mempools and the EAL's own needs. */
	mb = 256 + o->max_flows * dv_flow_bytes_per_flow() / (1 << 20) +
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

/*
 * The most of a frame DPDK 22.11's af_packet port hands over: its ring
 * frames are 2048 bytes, 66 of them taken by the kernel's packet header,
 * and the PMD gives the captured length as the frame's length (measured:
 * a 4042-byte frame became a 1982-byte packet).
 */
#define IFACE_FRAME_MAX 1982

static void ifreq_named(struct ifreq *ifr, const char *name)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", name);
}

/* One ethtool "get" on interface name; its value, or -1. */
static int iface_ethtool_get(int fd, const char *name, uint32_t cmd)
{
	struct ethtool_value ev = {.cmd = cmd};
	struct ifreq ifr;

	ifreq_named(&ifr, name);
	ifr.ifr_data = (void *)&ev;
	return ioctl(fd, SIOCETHTOOL, &ifr) == 0 ? (int)ev.data : -1;
}

/*
 * Frames longer than IFACE_FRAME_MAX reach devourer cut to that length and
 * counted as that length. Say so at start when the interface will deliver
 * them: an MTU whose frames (Ethernet header and a VLAN tag included) are
 * longer, or receive offloads that coalesce TCP segments into one large
 * packet before af_packet sees it (GRO, LRO; on by default on many NICs,
 * so tcpdump shows packets longer than the MTU).
 */
static void check_interface(const char *name)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct ifreq ifr;
	int v;

	if (fd < 0)
		return;
	ifreq_named(&ifr, name);
	if (ioctl(fd, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu + 18 > IFACE_FRAME_MAX)
		DV_LOG(WARNING,
		       "--interface %s: MTU %d: af_packet hands devourer at most %d bytes of a "
		       "frame, so longer frames are counted as %d bytes (rows undercount them)",
		       name, ifr.ifr_mtu, IFACE_FRAME_MAX, IFACE_FRAME_MAX);
	v = iface_ethtool_get(fd, name, ETHTOOL_GGRO);
	if (v > 0)
		DV_LOG(WARNING,
		       "--interface %s: generic receive offload is on: the kernel joins TCP "
		       "segments into one packet before devourer sees it, counted as one packet "
		       "of at most %d bytes; for exact counts: ethtool -K %s gro off",
		       name, IFACE_FRAME_MAX, name);
	v = iface_ethtool_get(fd, name, ETHTOOL_GFLAGS);
	if (v > 0 && (v & ETH_FLAG_LRO))
		DV_LOG(WARNING,
		       "--interface %s: large receive offload is on: the NIC joins TCP segments "
		       "into one packet, counted as one packet of at most %d bytes; for exact "
		       "counts: ethtool -K %s lro off",
		       name, IFACE_FRAME_MAX, name);
	close(fd);
}

/*
 * -i IFACE: an af_packet port with a queue pair per worker lcore. Made after
 * the EAL is up, when the worker count is known whether devourer chose the
 * lcores or the user did (-l, --lcores).
 */
static int open_interface(struct dv_app *app, char *err, size_t errlen)
{
	char devargs[256];
	int rc;

	snprintf(devargs, sizeof(devargs), "net_af_packet0,iface=%s,qpairs=%u",
		 app->opt.interface, app->n_workers);
	rc = rte_dev_probe(devargs);
	if (rc < 0) {
		snprintf(err, errlen, "--interface %s: cannot open it as an af_packet port: %s",
			 app->opt.interface, rte_strerror(-rc));
		return -1;
	}
	check_interface(app->opt.interface);
	return 0;
}

static int create_workers(struct dv_app *app, char *err, size_t errlen)
{
	const struct dv_options *o = &app->opt;
	uint32_t n = app->n_workers;
	uint64_t per = (o->max_flows + n - 1) / n;
	uint64_t seed[2];
	unsigned int lcore, i = 0;
	int rc;

	rc = dv_rand_os_seed(seed);
	if (rc < 0) {
		snprintf(err, errlen, "cannot seed flow ids and hash keys: %s", strerror(-rc));
		return -1;
	}
	app->workers = rte_zmalloc("dv_workers", sizeof(*app->workers) * n, 64);
	app->worker_ptrs = rte_zmalloc("dv_worker_ptrs", sizeof(void *) * n, 64);
	app->in_rings = rte_zmalloc("dv_in_rings", sizeof(void *) * n, 64);
	if (!app->workers || !app->worker_ptrs || !app->in_rings) {
		snprintf(err, errlen, "out of DPDK memory for %u workers", n);
		return -1;
	}
	RTE_LCORE_FOREACH_WORKER(lcore) {
		struct dv_worker *w = &app->workers[i];
		struct dv_flow_config fc = {0};
		char name[RTE_RING_NAMESIZE];
		int socket = (int)rte_lcore_to_socket_id(lcore);

		snprintf(name, sizeof(name), "dv_flows_%u", i);
		fc.name = name;
		fc.capacity = (uint32_t)(per < 64 ? 64 : per);
		fc.idle_timeout_ns = o->flow_timeout_ns;
		fc.active_timeout_ns = o->active_timeout_ns;
		fc.tcp_close_timeout_ns = o->tcp_close_timeout_ns;
		fc.socket_id = socket;
		fc.worker = (uint8_t)i;
		/* Idle rows may leave up to 1/16 of the timeout late; the rows
		 * themselves do not change (see dv_flow_touch). */
		fc.lru_slack_div = 16;
		fc.seed[0] = seed[0] + i;
		fc.seed[1] = seed[1] ^ ((uint64_t)i << 32);
		w->table = dv_flow_table_create(&fc, err, errlen);
		if (w->table == NULL)
			return -1;
		snprintf(name, sizeof(name), "dv_export_%u", i);
		w->export_ring = rte_ring_create_elem(name, sizeof(struct dv_export_rec),
						      EXPORT_RING_SIZE, socket,
						      RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "dv_in_%u", i);
		/* Several producers: each worker reading an af_packet or tap
		 * queue hands packets off (one compare-and-swap a burst). */
		app->in_rings[i] = rte_ring_create_elem(name, sizeof(struct dv_pkt),
							IN_RING_SIZE, socket, RING_F_SC_DEQ);
		if (w->export_ring == NULL || app->in_rings[i] == NULL) {
			snprintf(err, errlen, "cannot create rings for worker %u: %s", i,
				 rte_strerror(rte_errno));
			return -1;
		}
		w->index = i;
		w->n_workers = n;
		w->in_ring = app->in_rings[i];
		w->peer_in = app->in_rings;
		w->clock = &app->clock;
		w->expire_budget = 64;
		w->ts_dynfield_offset = -1;
		w->yield_when_idle = app->oversubscribed || o->n_read > 0;
		w->clock_mode = app->packet_clock ? DV_CLOCK_PACKET : DV_CLOCK_SYSTEM;
		app->worker_ptrs[i] = w;
		app->worker_lcore[i] = lcore;
		i++;
	}
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
		c->sinks[c->n_sinks] = dv_sink_file_create(o->write_file, DV_NS_PER_SEC, err,
							   errlen);
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

static void control_step(struct dv_app *app)
{
	uint32_t got = dv_control_drain(&app->ctl);
	uint64_t mono = dv_monotonic_ns();

	dv_control_poll(&app->ctl, mono);
	clock_adjust(app, mono);
	dv_ports_watch_links(app, mono);
	if (hup_signal) {
		hup_signal = 0;
		for (uint32_t s = 0; s < app->ctl.n_sinks; s++)
			if (app->ctl.sinks[s]->ops->reopen)
				app->ctl.sinks[s]->ops->reopen(app->ctl.sinks[s]);
	}
	if (got == 0)
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

/* Push one worker's staged packets into its input ring, serving the export
 * rings while the ring is full so the workers never wait on us. */
static void feed_stage(struct dv_app *app, uint32_t w, struct dv_pkt *stage, uint32_t *n)
{
	uint32_t off = 0;

	while (off < *n) {
		off += rte_ring_enqueue_burst_elem(app->in_rings[w], stage + off, sizeof(*stage),
						   *n - off, NULL);
		if (off < *n)
			control_step(app);
	}
	*n = 0;
}

/* Queue the reader's clock behind what is staged for every worker. */
static void send_ticks(struct dv_app *app, struct dv_pkt stage[][DV_BURST], uint32_t *staged,
		       uint64_t clock)
{
	for (uint32_t w = 0; w < app->n_workers; w++) {
		struct dv_pkt *tick = &stage[w][staged[w]++];

		memset(tick, 0, sizeof(*tick));
		tick->flags = DV_PKT_F_TICK;
		tick->ts_ns = clock;
		if (staged[w] == DV_BURST)
			feed_stage(app, w, stage[w], &staged[w]);
	}
}

/* --read: parse every file in order and hand each packet to its owner. */
static int read_files(struct dv_app *app)
{
	uint32_t nw = app->n_workers;
	struct dv_pkt stage[DV_MAX_WORKERS][DV_BURST];
	uint32_t staged[DV_MAX_WORKERS] = {0};
	char err[512];
	int status = 0;
	uint64_t count = 0, clock = 0, last_tick = 0;

	for (unsigned int f = 0; f < app->opt.n_read && !quit_signal; f++) {
		struct dv_reader *r = app->readers[f];
		struct dv_pkt pkt;
		int rc = 0;

		app->ctl.cur = r;
		while (!quit_signal && (rc = dv_reader_next(r, &pkt, err, sizeof(err))) == 1) {
			uint32_t w = dv_worker_owner(&pkt, nw);

			stage[w][staged[w]++] = pkt;
			if (staged[w] == DV_BURST)
				feed_stage(app, w, stage[w], &staged[w]);
			if (pkt.ts_ns > clock)
				clock = pkt.ts_ns;
			if (nw > 1 && clock - last_tick >= DV_NS_PER_SEC) {
				send_ticks(app, stage, staged, clock);
				last_tick = clock;
			}
			if ((++count & 1023) == 0) {
				dv_control_drain(&app->ctl);
				if ((count & 16383) == 0)
					dv_control_poll(&app->ctl, dv_monotonic_ns());
			}
		}
		if (rc < 0) {
			DV_LOG(ERR, "%s", err);
			status = 2;
		}
		const struct dv_reader_stats *s = dv_reader_stats(r);

		app->ctl.rd.packets += s->packets;
		app->ctl.rd.bytes += s->bytes;
		app->ctl.rd.ip_packets += s->ip_packets;
		app->ctl.rd.non_ip += s->non_ip;
		app->ctl.rd.malformed += s->malformed;
		app->ctl.cur = NULL;
		dv_reader_close(r);
		app->readers[f] = NULL;
	}
	/* The last tick: every worker ends on the same clock as one would. */
	send_ticks(app, stage, staged, clock);
	for (uint32_t w = 0; w < nw; w++)
		feed_stage(app, w, stage[w], &staged[w]);
	return status;
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

int main(int argc, char **argv)
{
	static struct dv_app app;
	char err[1024];
	char *eal_argv[64], eal_buf[4096];
	char **app_argv;
	int eal_argc, app_argc, rc, status = 0;

	app_argc = split_args(argc, argv, &eal_argc, &app_argv);
	rc = dv_options_parse(&app.opt, app_argc, app_argv, err, sizeof(err));
	if (rc < 0)
		die_usage(err);
	if (app.opt.help) {
		dv_options_usage("dpdk-devourer");
		return 0;
	}
	if (app.opt.version) {
		printf("dpdk-devourer %s (%s)\n", DV_VERSION, rte_version());
		return 0;
	}
	if (app.opt.n_read == 0 && app.opt.interface == NULL && !app.opt.drain_spool &&
	    eal_argc == 0)
		die_usage("nothing to capture: give --read FILE, --interface IFACE, or EAL "
			  "options with ports (see --help)");

	/* Input files are checked before the EAL starts: a bad file is one line. */
	for (unsigned int f = 0; f < app.opt.n_read; f++) {
		app.readers[f] = dv_reader_open(app.opt.read_files[f], err, sizeof(err));
		if (app.readers[f] == NULL)
			die_usage(err);
	}
	if (app.opt.interface && if_nametoindex(app.opt.interface) == 0) {
		snprintf(err, sizeof(err), "--interface %s: no such network interface",
			 app.opt.interface);
		die_usage(err);
	}

	/* The Go tool's command line runs unchanged; one line says what differs. */
	if (app.opt.go_command)
		fprintf(stderr,
			"dpdk-devourer: the Go devourer's command line: here rows are one per flow "
			"segment with more columns, the output is bigquery when a project is set, "
			"and the statistics line is %s (README: Coming from devourer (Go))\n",
			app.opt.stat_interval_ns ? "on (-s 0: off)" : "off");

	if (eal_argc == 0) {
		eal_argc = default_eal_args(&app.opt, argv[0], eal_argv, 63, eal_buf,
					    sizeof(eal_buf));
		if (eal_argc < 0)
			die_usage("internal error: EAL arguments too long");
		app.own_eal = 1;
	} else {
		int n = 0;

		for (int i = 0; i < eal_argc && n < 60; i++)
			eal_argv[n++] = argv[i];
		eal_argc = n;
	}
	eal_argv[eal_argc] = NULL;

	/* Before the EAL: start-up (hugepages, pools, flow tables) can take
	 * seconds, and a stop asked for meanwhile must end it cleanly, not kill
	 * the process half set up. */
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	/* A closed stdout (| head) is reported as a write error, not a kill. */
	signal(SIGPIPE, SIG_IGN);

	rc = rte_eal_init(eal_argc, eal_argv);
	if (rc < 0) {
		fprintf(stderr, "dpdk-devourer: EAL initialisation failed: %s\n",
			rte_strerror(rte_errno));
		return 2;
	}
	dv_app_log_type = rte_log_register_type_and_pick_level("devourer", RTE_LOG_NOTICE);
	if (dv_app_log_type >= 0)
		rte_log_set_level(dv_app_log_type, (uint32_t)app.opt.log_level);

	if (stopped_during_start_up())
		goto out;
	if (app.opt.drain_spool) {
		status = dv_app_drain_spool(&app);
		goto out;
	}
	app.n_workers = rte_lcore_count() - 1;
	if (app.n_workers == 0) {
		fprintf(stderr, "dpdk-devourer: no worker lcore: give at least two lcores "
				"(e.g. -l 0-1); the main lcore is the control lcore\n");
		status = 2;
		goto out;
	}
	if (app.n_workers > DV_MAX_WORKERS) {
		fprintf(stderr, "dpdk-devourer: %u worker lcores: at most %d are supported\n",
			app.n_workers, DV_MAX_WORKERS);
		status = 2;
		goto out;
	}
	if (app.opt.interface && open_interface(&app, err, sizeof(err)) < 0) {
		fprintf(stderr, "dpdk-devourer: %s\n", err);
		status = 2;
		goto out;
	}
	app.oversubscribed = app.n_workers + 1 > (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
	app.packet_clock = app.opt.clock == DV_CLOCK_OPT_PACKET ||
			   (app.opt.clock == DV_CLOCK_OPT_AUTO && app.opt.n_read > 0);
	dv_clock_init(&app.clock);

	if (create_workers(&app, err, sizeof(err)) < 0 ||
	    dv_ports_setup(&app, err, sizeof(err)) < 0 ||
	    open_sinks(&app, err, sizeof(err)) < 0) {
		fprintf(stderr, "dpdk-devourer: %s\n", err);
		status = 2;
		goto out;
	}
	for (uint32_t i = 0; i < app.n_workers; i++) {
		if (dv_worker_init(&app.workers[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "dpdk-devourer: %s\n", err);
			status = 2;
			goto out;
		}
	}

	app.ctl.workers = app.worker_ptrs;
	app.ctl.n_workers = app.n_workers;
	app.ctl.sensor = app.opt.sensor;
	app.ctl.clock = &app.clock;
	app.ctl.stat_interval_ns = app.opt.stat_interval_ns;
	app.ctl.start_ns = dv_monotonic_ns();
	app.ctl.last_stat_ns = app.ctl.start_ns;
	dv_control_telemetry_init(&app.ctl);

	if (stopped_during_start_up())
		goto out;
	if (dv_ports_start(&app, err, sizeof(err)) < 0) {
		fprintf(stderr, "dpdk-devourer: %s\n", err);
		status = 2;
		goto out;
	}
	for (uint32_t i = 0; i < app.n_workers; i++)
		rte_eal_remote_launch(dv_worker_main, &app.workers[i], app.worker_lcore[i]);
	app.launched = 1;
	DV_LOG(INFO, "%u worker(s), %u sink(s), %s clock", app.n_workers, app.ctl.n_sinks,
	       app.packet_clock ? "packet" : "system");

	if (app.opt.n_read > 0) {
		status = read_files(&app);
		/* Everything read is in the rings; the workers may finish. */
		for (uint32_t i = 0; i < app.n_workers; i++)
			__atomic_store_n(&app.workers[i].in_done, 1, __ATOMIC_RELEASE);
		stop_workers(&app, quit_signal ? DV_END_SHUTDOWN : DV_END_EOF);
	} else {
		run_live(&app);
		stop_workers(&app, DV_END_SHUTDOWN);
	}
	if (quit_signal)
		DV_LOG(NOTICE, "signal %d: exporting every flow", (int)quit_signal);
	wait_workers(&app);
	dv_ports_stop(&app);

	{
		/* A --read run waits for every row; a signal bounds the wait. */
		uint64_t limit = app.opt.n_read > 0 && !quit_signal ? 3600 * DV_NS_PER_SEC
								    : app.opt.shutdown_timeout_ns;
		uint64_t deadline = dv_realtime_ns() + limit;

		for (uint32_t s = 0; s < app.ctl.n_sinks; s++) {
			struct dv_sink *sk = app.ctl.sinks[s];

			/* A signal during a --read run's long wait cuts it to
			 * --shutdown-timeout; what is left stays in the spool. */
			if (sk->ops->set_stop_flag)
				sk->ops->set_stop_flag(sk, &quit_signal);
			rc = sk->ops->drain(sk, deadline);
			if (rc < 0 && rc != -ETIMEDOUT)
				DV_LOG(ERR, "%s output: %s", sk->name, strerror(-rc));
		}
	}
	dv_control_stats_line(&app.ctl, stderr, 1);
	for (uint32_t s = 0; s < app.ctl.n_sinks; s++)
		app.ctl.sinks[s]->ops->destroy(app.ctl.sinks[s]);
	app.ctl.n_sinks = 0;
out:
	if (!app.launched)
		for (unsigned int f = 0; f < app.opt.n_read; f++)
			dv_reader_close(app.readers[f]);
	for (uint32_t s = 0; s < app.ctl.n_sinks; s++)
		app.ctl.sinks[s]->ops->destroy(app.ctl.sinks[s]);
	if (app.workers) {
		for (uint32_t i = 0; i < app.n_workers; i++) {
			dv_worker_fini(&app.workers[i]);
			dv_flow_table_free(app.workers[i].table);
			rte_ring_free(app.workers[i].export_ring);
			rte_ring_free(app.in_rings[i]);
		}
	}
	dv_ports_close(&app);
	dv_eal_cleanup(app.own_eal);
	return status;
}
