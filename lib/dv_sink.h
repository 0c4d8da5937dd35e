/*
 * dv_sink: where formatted rows go. The control lcore formats each exported
 * record once and hands the row to every configured sink. A sink may buffer;
 * poll() lets it make progress (flush timers, network I/O) without ever
 * blocking the control lcore for long, and drain() finishes its work before
 * exit within a deadline.
 *
 * Sinks: stdout and NDJSON file (dv_sink_file.c), BigQuery (bq/dv_bq_sink.c).
 */
#ifndef DV_SINK_H
#define DV_SINK_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "dv_export.h"

/* Delivery accounting of one sink:
 *   rows_in + rows_recovered = delivered + pending + dead + dropped. */
struct dv_sink_stats {
	uint64_t rows_in;	 /* rows handed to write() */
	uint64_t rows_delivered; /* written (file) or accepted by the service */
	uint64_t rows_pending;	 /* buffered, in flight or spooled, not yet delivered */
	uint64_t rows_spooled;	 /* of rows_pending, those on disk in the spool */
	uint64_t rows_dead;	 /* rejected as invalid, in the dead-letter file */
	uint64_t rows_dropped;	 /* lost (only when the spool disk is full) */
	uint64_t requests;	 /* upload requests sent */
	uint64_t request_errors; /* failed requests (will be retried) */
	uint64_t retries;	 /* rows sent again */
	uint64_t bytes_out;	 /* bytes written or sent */
	uint64_t rows_recovered; /* rows found in the spool at startup (BigQuery sink) */
	uint64_t unverified;	 /* 1 while the destination is not verified (BigQuery not
				  * reached yet, or it refused): rows wait in the spool */
	/* What the stream did (BigQuery Storage Write API, DV_SINK_F_STREAM; 0 otherwise): */
	uint64_t bq_appends;	    /* AppendRows requests answered stored (OK, ALREADY_EXISTS) */
	uint64_t bq_already_exists; /* of those, ALREADY_EXISTS: stored by an earlier send */
	uint64_t bq_new_streams;    /* write streams opened (the first one too) */
	uint64_t bq_may_repeat;	    /* rows sent again at a new stream: may be stored twice */
};

struct dv_sink;

struct dv_sink_ops {
	/* Take one row (JSON, no newline). 0, or negative errno (the row is then
	 * counted as dropped by the sink itself; the caller only logs). */
	int (*write)(struct dv_sink *s, const struct dv_export_rec *rec, const char *row,
		     size_t len);
	/* Make progress; now_ns is the system clock. Never blocks for long. */
	int (*poll)(struct dv_sink *s, uint64_t now_ns);
	/* Finish pending work until deadline_ns (system clock): returns 0 when
	 * nothing is left in memory, -ETIMEDOUT if the deadline passed (the sink
	 * spools what it can before returning), -EIO when the destination
	 * refused for good (rows spooled, the reason logged), other negative
	 * errno on error. */
	int (*drain)(struct dv_sink *s, uint64_t deadline_ns);
	/* Reopen output files (SIGHUP, log rotation); may be NULL. */
	int (*reopen)(struct dv_sink *s);
	/* A flag (the program's signal flag) that bounds a long drain(): once it
	 * is non-zero, the sink gives up waiting after its own shutdown budget;
	 * may be NULL (a sink whose drain never waits long). */
	void (*set_stop_flag)(struct dv_sink *s, const volatile sig_atomic_t *flag);
	/* Release everything; the sink must have been drained. */
	void (*destroy)(struct dv_sink *s);
};

/* DV_SINK_F_DELIVERY: this sink's counters are the program's delivery figures
 * (delivered, pending, spooled, ...) in the stats line and telemetry: the
 * remote, durable output, where there is one. */
#define DV_SINK_F_DELIVERY (1u << 0)
/* DV_SINK_F_STREAM: the sink writes to a stream with offsets (the Storage
 * Write API): its bq_* counters belong in the stats line. */
#define DV_SINK_F_STREAM (1u << 1)

struct dv_sink {
	const char *name;   /* "stdout", "file", "bigquery": for messages */
	unsigned int flags; /* DV_SINK_F_* */
	const struct dv_sink_ops *ops;
	struct dv_sink_stats stats;
	void *priv;
};

/* The file and stdout sinks write their buffer out when it is full, at
 * drain, and at a poll once its oldest row has waited this long (ns). */
#define DV_SINK_FILE_HOLD_NS (100u * 1000 * 1000)

/* stdout sink: one row per line, written out as said above. */
struct dv_sink *dv_sink_stdout_create(char *err, size_t errlen);

/* NDJSON file sink: appends to path, fsync at drain and every sync_interval_ns
 * (0: only at drain). Returns NULL with a reason in err. */
struct dv_sink *dv_sink_file_create(const char *path, uint64_t sync_interval_ns, char *err,
				    size_t errlen);

/* Write n bytes of p to fd, again after a short write or EINTR; with done,
 * add what was written to *done. Returns 0, or the negative errno of the
 * write that failed (-EIO for one that wrote nothing). For regular files:
 * a full pipe or socket would spin. Used by the file sink and the spool. */
int dv_write_all(int fd, const void *p, size_t n, size_t *done);

static inline int dv_sink_write(struct dv_sink *s, const struct dv_export_rec *rec, const char *row,
				size_t len)
{
	return s->ops->write(s, rec, row, len);
}

#endif
