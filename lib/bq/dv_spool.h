/*
 * dv_spool: the durable queue of rows BigQuery has not accepted yet.
 *
 * A directory of segment files, seg-<16 hex digits>.spool, oldest first by
 * number. A segment is a sequence of records, each one
 *     magic "DVR1" | u32 length | u32 CRC32C | u16 id length | insertId | row
 * (little endian; the CRC covers the length field and the payload), so a torn
 * tail or garbage is recognised record by record. Records are appended to a
 * memory buffer and group-committed (write + fdatasync) every commit interval
 * or buffer size; space is reserved with fallocate ahead of the writes, so a
 * full disk is known when a record is appended, not later at commit.
 *
 * Each record is in one of three states, kept in memory per segment: "out"
 * (only on disk: replay must load it), "loaded" (the caller holds it in
 * memory, queued or in flight) or "done" (accepted or dead-lettered). A
 * segment file is deleted once it is sealed (no longer appended to) and every
 * record in it is done; nothing that is not done is ever deleted. A clean
 * close writes <segment>.done (a bitmap of the done records, with a CRC) for
 * every segment that has some, and open applies and removes it; after a
 * crash there is none, so the rows of a partly acknowledged segment are sent
 * again (at least once, same insertId).
 *
 * Corrupt files (a truncated tail after a crash, garbage, a CRC mismatch) are
 * repaired at open: the good records stay, every unreadable byte range is
 * moved to <segment>.corrupt and reported through the log; open never fails
 * because of them.
 *
 * One process per directory: open takes an exclusive flock on <dir>/lock.
 * Not thread-safe; the control lcore owns it. The system calls that can
 * stall on a slow disk (write + fdatasync of a commit, sealing, the
 * directory's fsync, deleting a segment, dv_spool_sync_fd) run on a syncer
 * thread the spool starts, in the order they were asked for; the caller
 * waits for it only in dv_spool_commit and close, or when a disk stalled so
 * long that the buffer or the job queue reached its bound.
 */
#ifndef DV_SPOOL_H
#define DV_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "dv_bq.h"

struct dv_spool;
struct dv_spool_seg;

/* Where a row lives in the spool; seg NULL: not in the spool. */
struct dv_spool_ref {
	struct dv_spool_seg *seg;
	uint32_t idx;
};

/* Defaults of struct dv_spool_config (dv_spool_open takes 0 as these too;
 * dv_spool_config_init, in dv_bq_config.c, sets them). */
#define DV_SPOOL_MAX_BYTES     (10ULL << 30)
#define DV_SPOOL_SEGMENT_BYTES (16u << 20)
#define DV_SPOOL_COMMIT_NS     (200 * 1000000ULL)
#define DV_SPOOL_COMMIT_BYTES  (1u << 20)

struct dv_spool_config {
	const char *dir;	     /* created with its parents (0750) if missing */
	uint64_t max_bytes;	     /* record bytes of all segments together */
	uint64_t segment_bytes;	     /* a segment is sealed past this; default 16 MiB */
	uint64_t commit_interval_ns; /* group commit period; default 200 ms */
	size_t commit_bytes;	     /* commit earlier when this much is buffered; 1 MiB */
	int no_sync;		     /* 1: write() without fdatasync (tests, benchmarks) */
	dv_bq_log_fn log;	     /* NULL: rte_log */
	void *log_arg;
	struct dv_bq_names names; /* what the caller calls dir (names.spool_dir) */
};

struct dv_spool_stats {
	uint64_t records;	/* records not done (on disk or buffered) */
	uint64_t out;		/* of those, not held by the caller (replay will load them) */
	uint64_t bytes;		/* record bytes in all segments */
	uint32_t segments;	/* segment files */
	uint64_t recovered;	/* records found at open */
	uint64_t corrupt_bytes; /* bytes moved to .corrupt files at open */
	uint32_t corrupt_files; /* segments that needed repair */
	uint64_t appended;	/* records appended since open */
	uint64_t rejected;	/* appends refused: limit or disk full */
	uint64_t commits;	/* group commits that wrote something */
	uint64_t commit_ns_sum; /* time spent in write + fdatasync (on the syncer thread) */
	uint64_t commit_ns_max;
	uint64_t replayed;    /* records loaded back from disk */
	uint64_t waits;	      /* times the caller waited for the syncer (buffer or queue full) */
	uint64_t wait_ns_sum; /* and how long */
	uint64_t wait_ns_max;
};

/* Default values of the optional fields (dv_bq_config.c: the program sets
 * them without the BigQuery module). */
void dv_spool_config_init(struct dv_spool_config *c);

/* Create or open the directory, lock it, read and repair every segment.
 * 0 and *out, or negative errno with one line in err. */
int dv_spool_open(const struct dv_spool_config *c, struct dv_spool **out, char *err, size_t errlen);

/* Commit what is buffered and release everything (the files stay). */
void dv_spool_close(struct dv_spool *sp);

/*
 * Append one row. loaded: 1 if the caller keeps the row in memory (it will
 * call done() or unload() for ref), 0 if the spool alone holds it. 0 with
 * *ref set, -ENOSPC when max_bytes or the disk is full (nothing appended),
 * other negative errno on I/O errors.
 */
int dv_spool_append(struct dv_spool *sp, const char *id, size_t id_len, const char *row, size_t len,
		    int loaded, struct dv_spool_ref *ref);

/* Write the buffer and fdatasync, waiting for it and for every job the
 * syncer has queued. 0 or negative errno (the bytes are kept and written
 * again at the next commit). */
int dv_spool_commit(struct dv_spool *sp);

/* Timers, without waiting: take over the syncer's finished jobs, start a
 * commit when the interval has passed (one at a time: while one runs, the
 * next starts at the first tick after it), seal a segment that is big or
 * fully done. now_ns monotonic. Returns the error of a failed commit that
 * waits to be tried again, or 0. */
int dv_spool_tick(struct dv_spool *sp, uint64_t now_ns);

/* fdatasync(fd) on the syncer thread, after every job asked for before
 * (so a segment deleted afterwards is deleted after it); a failure is
 * logged naming what. fd and what must stay valid until dv_spool_close. */
void dv_spool_sync_fd(struct dv_spool *sp, int fd, const char *what);

/* The row of ref was accepted (or dead-lettered, or given up): never send it
 * again. Deletes its segment when that was the last one. */
void dv_spool_done(struct dv_spool *sp, const struct dv_spool_ref *ref);

/* The caller no longer holds the row of ref in memory; replay will load it. */
void dv_spool_unload(struct dv_spool *sp, const struct dv_spool_ref *ref);

/* Called by replay for each record loaded; non-zero stops the replay and
 * leaves that record out. */
typedef int (*dv_spool_replay_fn)(void *arg, const struct dv_spool_ref *ref, const char *id,
				  size_t id_len, const char *row, size_t len);

/* Load up to max_rows records that are "out", oldest first (committed bytes
 * only), reading at most about max_bytes. Returns the number loaded or a
 * negative errno. */
int dv_spool_replay(struct dv_spool *sp, uint32_t max_rows, size_t max_bytes, dv_spool_replay_fn fn,
		    void *arg);

void dv_spool_get_stats(const struct dv_spool *sp, struct dv_spool_stats *st);

/* Records not done / "out". */
uint64_t dv_spool_records(const struct dv_spool *sp);
uint64_t dv_spool_out(const struct dv_spool *sp);

/* CRC32C (Castagnoli, reflected, init and final xor ~0) of p[0..n). */
uint32_t dv_spool_crc32c(const void *p, size_t n);

#endif
