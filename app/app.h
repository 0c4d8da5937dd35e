/*
 * app: the program's state, owned by main(). Only app/ has global state:
 * the signal flags and the telemetry context.
 */
#ifndef DV_APP_H
#define DV_APP_H

#include <stdint.h>

#include <rte_common.h>
#include <rte_log.h>
#include <rte_spinlock.h>

#include "control.h"
#include "dv_reader.h"
#include "dv_time.h"
#include "dv_worker.h"
#include "options.h"
#include "ports.h"

struct rte_mempool;

/*
 * --read: the files read in turns (read_turn() in main.c), one thread at a
 * time under lock, so packets reach each worker in capture order whoever
 * reads them: the main lcore, or the workers themselves when the main
 * lcore would share a CPU with one (dv_app.read_by_workers).
 */
struct dv_read_state {
	/* What the threads waiting for a turn read, on a line of its own:
	 * their polling must not take the reader's lines away at every packet. */
	rte_spinlock_t lock __rte_cache_aligned;
	volatile uint32_t done; /* eof, and everything staged is on the rings */
	/* The reader's, under lock. */
	struct dv_handoff h __rte_cache_aligned; /* packets staged for each worker */
	uint64_t clock;				 /* the latest packet time read */
	uint64_t last_tick;			 /* clock at the last tick sent */
	unsigned int file;			 /* the file being read: readers[file] */
	int status;				 /* 2 once a file could not be read to its end */
	int eof; /* every file read (or a signal): the last ticks are staged */
};

struct dv_app {
	struct dv_options opt;
	struct dv_reader *readers[DV_MAX_READ_FILES];
	struct dv_parse_ctx *pctx; /* --read with --flow-context on: the reader's */
	struct dv_read_state rd;
	int read_by_workers; /* --read: the workers read in turns, the main lcore waits */
	uint32_t n_workers;
	struct dv_worker_config worker_cfg[DV_MAX_WORKERS]; /* what each worker is built from */
	struct dv_worker *workers;
	struct dv_worker **worker_ptrs;
	struct rte_ring **in_rings;
	unsigned int worker_lcore[DV_MAX_WORKERS];
	struct dv_clock clock;
	uint64_t clock_adjust_at; /* monotonic ns of the next dv_clock_adjust() */
	int packet_clock;
	int oversubscribed;
	int own_eal;
	int launched;
	struct dv_control ctl;

	/* live ports */
	uint16_t ports[DV_MAX_PORTS];
	uint8_t port_rss[DV_MAX_PORTS]; /* ports[i] spreads over the workers by NIC RSS */
	struct dv_port_sockets port_socks[DV_MAX_PORTS]; /* af_packet ports' sockets */
	uint16_t n_ports;
	struct rte_mempool *pools[DV_MAX_WORKERS];
	int ports_started;
	uint8_t link_up[DV_MAX_PORTS]; /* last link status logged */
	uint64_t link_check_at;	       /* monotonic ns of the next dv_ports_watch_links() */
};

extern int dv_app_log_type;

#define DV_LOG(level, fmt, ...)                                                                    \
	rte_log(RTE_LOG_##level, dv_app_log_type, "devourer: " fmt "\n", ##__VA_ARGS__)

/* The BigQuery sink from the options (app/bq.c). NULL with err on failure. */
struct dv_sink *dv_app_bq_sink(struct dv_app *app, char *err, size_t errlen);

/* --drain-spool: send the spool, then return the exit status (0 empty, 1 not,
 * 2 misconfigured). */
int dv_app_drain_spool(struct dv_app *app);

#endif
