/*
 * control: the main lcore's work. It drains every worker's export ring,
 * formats each record once, hands the row to every sink, lets the sinks make
 * progress, prints the statistics line and answers telemetry. In --read mode
 * it is also the reader that feeds the workers, and rows are made by
 * whichever thread has nothing else to do: the reader while a worker's ring
 * is full, a worker while it waits for packets or for room in its export
 * ring (dv_control_drain may run on several threads at once).
 */
#ifndef DV_APP_CONTROL_H
#define DV_APP_CONTROL_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "dv_reader.h"
#include "dv_row.h"
#include "dv_sink.h"
#include "dv_worker.h"
#include "ports.h"

#define DV_MAX_SINKS 4

/* Records a drain takes from one export ring at a time (a burst). */
#define DV_DRAIN_BURST 64
/* Bursts being formatted or waiting for the sinks at once (a power of two). */
#define DV_DRAIN_SLOTS 8

/* A burst of records and their rows (dv_control_drain). */
struct dv_drain_slot {
	uint32_t state;	 /* DV_SLOT_FREE, _TAKEN (being formatted), _READY (for the sinks) */
	uint32_t n_rows; /* rows: records without their context records */
	uint16_t head[DV_DRAIN_BURST]; /* row k's record in recs */
	int len[DV_DRAIN_BURST];       /* row k's length; < 0: it could not be formatted */
	struct dv_export_rec recs[DV_DRAIN_BURST + DV_EXPORT_GROUP_MAX];
	char text[DV_DRAIN_BURST][DV_ROW_MAX];
};

struct dv_control {
	struct dv_worker **workers;
	uint32_t n_workers;
	struct dv_sink *sinks[DV_MAX_SINKS];
	uint32_t n_sinks;
	const char *sensor;
	size_t sensor_plain; /* dv_row_plain_len(sensor), or 0: escaped at every row */
	struct dv_community_cfg community; /* community_id's seed (--flow-context off: none) */
	const struct dv_clock *clock;	   /* the workers' TSC clock, for /devourer/clock */
	uint64_t stat_interval_ns;
	uint64_t start_ns;     /* monotonic */
	uint64_t last_stat_ns; /* monotonic */

	/* live ports, for stats */
	uint16_t ports[DV_MAX_PORTS];
	uint16_t n_ports;
	struct dv_port_sockets *socks;	  /* per port, as ports[] */
	struct rte_mempool *const *pools; /* per worker, NULL: none (--read) */

	/* --read input totals (the reading thread's; whichever thread prints
	 * a stats line adds them up, rd and cur under reader_lock) */
	pthread_mutex_t reader_lock;
	struct dv_reader_stats rd;
	const struct dv_reader *cur;	 /* the file being read, its counts not yet in rd */
	const struct dv_parse_ctx *pctx; /* --read: the reader's flow-context reading, or NULL */
	uint64_t read_ctx_lost;		 /* --read: contexts the reader's hand-off left behind */
	int flow_context;		 /* --flow-context on: the ctx_ counters are printed */

	/* records and rows (under sink_lock) */
	uint64_t records;     /* handed to the sinks (drained from the export rings) */
	uint64_t row_errors;  /* records that could not be formatted (never expected) */
	uint64_t sink_errors; /* rows a sink refused (counted as dropped by the sink) */
	uint64_t end_reasons[DV_END_MAX];

	/* previous stats line, for rates */
	uint64_t prev_packets, prev_bytes, prev_ns;

	/* Several threads may drain at once (dv_control_drain) */
	pthread_mutex_t take_lock; /* the rings' consumer side, next_take, taking a slot */
	pthread_mutex_t sink_lock; /* the sinks, next_commit, the counters above */
	uint64_t next_take;	   /* bursts taken from the rings */
	uint64_t next_commit;	   /* bursts whose rows went to the sinks */
	struct dv_drain_slot slots[DV_DRAIN_SLOTS];
};

/* Before the first drain: its locks. */
void dv_control_drain_init(struct dv_control *c);

/*
 * Drain every export ring once (bounded); returns the records taken. Any
 * number of threads may drain at once: each formats the rows of the bursts
 * it took, and the sinks get every row in the order the records left their
 * ring, from whichever thread finds them formatted.
 */
uint32_t dv_control_drain(struct dv_control *c);

/*
 * For a thread with other work (the --read reader between its turns): a
 * burst of every export ring that holds at least `backlog` records is
 * formatted, so rows are left to threads with nothing else to do until
 * those fall behind. Its rows go to the sinks with the next
 * dv_control_drain() or dv_control_poll() of any thread, not from here:
 * giving rows to a sink may write a megabyte to a file, the work that can
 * be left to an idle thread.
 */
uint32_t dv_control_drain_backlog(struct dv_control *c, uint32_t backlog);

/* Let sinks progress and print the stats line when due, then give the
 * sinks the rows formatted meanwhile. now: monotonic ns. */
void dv_control_poll(struct dv_control *c, uint64_t now_mono);

/* dv_control_poll() without giving the sinks any row: for the --read
 * reader, which leaves that to threads with nothing else to do. */
void dv_control_poll_sinks(struct dv_control *c, uint64_t now_mono);

/* Every sink that can follows its path to a new file (SIGHUP). */
void dv_control_reopen(struct dv_control *c);

/* Print one statistics line (final: the summary at exit). */
void dv_control_stats_line(struct dv_control *c, FILE *f, int final);

/* Reading starts on file r: its counts show in the totals from now on. */
void dv_control_reader_start(struct dv_control *c, const struct dv_reader *r);

/* The file being read (c->cur) is done: its counts join the --read totals. */
void dv_control_reader_done(struct dv_control *c);

/* Register /devourer/stats and /devourer/workers with DPDK telemetry. */
int dv_control_telemetry_init(struct dv_control *c);

/* Sum of the sinks' and workers' counters, for stats and telemetry. */
struct dv_totals {
	uint64_t rx_packets, rx_bytes, ip_packets, non_ip, malformed;
	uint64_t tunnelled, decap_depth, bad_tunnel, bad_length;
	uint64_t imissed, rx_nombuf;
	uint64_t flows_created, flows_active, flows_exported, flows_evicted, table_full;
	uint64_t ring_waits, handoff_waits;
	/* flow context (server_name, dns_query, dns_rcode): contexts read from
	 * packets, flows that kept one, and contexts lost on the way (the
	 * flows' store full, no room behind an export record or in a hand-off,
	 * a ClientHello whose next segment could not be waited for) */
	uint64_t ctx_found, ctx_flows, ctx_store_full, ctx_export_lost, ctx_handoff_lost,
	    ctx_reasm_full;
	/* fill levels now: export and input ring entries, mbufs out of their pools */
	uint64_t export_ring_used, in_ring_used, mbufs_in_use;
	uint64_t rows, rows_recovered, rows_delivered, rows_pending, rows_spooled, rows_dead,
	    rows_dropped;
	uint64_t requests, request_errors, retries;
	uint64_t unverified; /* the BigQuery table is not verified yet: rows wait in the spool */
	/* the Storage Write API's stream (0 with insertAll); stream: 1 when it is used */
	uint64_t bq_appends, bq_already_exists, bq_new_streams, bq_may_repeat;
	int stream;
};

void dv_control_totals(const struct dv_control *c, struct dv_totals *t);

#endif
