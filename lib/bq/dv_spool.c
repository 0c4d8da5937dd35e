/*
 * dv_spool: segment files of rows not yet accepted by BigQuery (format and
 * states in dv_spool.h).
 *
 * Shaped for the control lcore: appends only copy into a buffer (no system
 * call per row, except one fallocate per MiB of segment), the buffer reaches
 * the disk in one write + fdatasync per commit interval, and replay reads a
 * bounded amount per call. The per-record state is one byte in memory per
 * record (about 35 MB for a full 10 GiB spool of 300-byte rows), which is
 * what lets acknowledgements arrive in any order and a segment go as soon as
 * its last record is done.
 *
 * The control lcore never waits for the disk: the calls that can stall
 * (write + fdatasync of a commit, the seal's ftruncate and close, the
 * directory fsync after a new segment, unlinking a finished segment, the
 * caller's own fdatasyncs through dv_spool_sync_fd) are jobs for one syncer
 * thread, run in the order they were queued (a bounded FIFO). There is one
 * commit job at a time: its bytes move to a second buffer (wbuf) and the
 * lcore keeps appending to the first meanwhile; a segment's "written" (what
 * replay may read) advances only when the lcore harvests the finished job,
 * so replay still reads committed bytes only. A failed commit job is run
 * again a commit interval later, cut back to "written" first. Only when the
 * buffer reaches its bound (a disk stalled for many intervals) does an
 * append wait for the running job: memory stays bounded and the rings take
 * the back-pressure, as they did when every commit blocked.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fallocate */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_hash_crc.h>

#include "dv_bq_int.h"
#include "dv_sink.h"
#include "dv_spool.h"
#include "dv_time.h"

#define DV_SPOOL_MAGIC	  0x31525644u /* "DVR1" read as little-endian u32 */
#define DV_SPOOL_HDR	  12u	      /* magic, length, crc */
#define DV_SPOOL_REC_MAX  (1u << 20)  /* longest payload accepted when reading */
#define DV_SPOOL_PREALLOC (1u << 20)
#define DV_SPOOL_READ	  (1u << 20) /* replay read size */
#define DV_SPOOL_SEAL_NS  (10 * DV_NS_PER_SEC)
#define DV_SPOOL_JOBS	  64	      /* syncer queue (a power of two) */
#define DV_SPOOL_BUF_MIN  (64u << 20) /* buffer bound while a commit runs, at least */

enum { DV_REC_OUT = 0, DV_REC_LOADED = 1, DV_REC_DONE = 2 };

struct dv_spool_seg {
	struct dv_spool_seg *next;
	uint64_t seq;
	uint64_t bytes;	    /* record bytes (buffered ones included for the active one) */
	uint64_t written;   /* bytes on the fd (replay reads below this) */
	uint64_t allocated; /* fallocate'd so far */
	uint32_t nrecs, ndone, nout;
	uint32_t cap;
	uint8_t *state;
	uint64_t scan_off; /* replay: first record that may be "out" */
	uint32_t scan_idx;
	uint64_t born_ns;
	int sealed; /* set when the seal job is harvested */
};

enum dv_spool_job_kind { DV_JOB_COMMIT = 1, DV_JOB_DIRSYNC, DV_JOB_FDSYNC, DV_JOB_UNLINK };

/* One job for the syncer thread; the thread reads only these fields and
 * writes only rc and ns. */
struct dv_spool_job {
	enum dv_spool_job_kind kind;
	int fd;			  /* COMMIT: the segment; FDSYNC: the caller's file */
	const char *p;		  /* COMMIT: bytes to append (wbuf) */
	size_t len;		  /* their length */
	uint64_t base;		  /* COMMIT: the file is cut back to this first (a retry) */
	int seal;		  /* COMMIT: then give back the preallocation and close fd */
	int retry;		  /* COMMIT: an earlier attempt failed */
	int trunc_err;		  /* COMMIT: errno of a failed ftruncate */
	int no_sync;		  /* write without fdatasync */
	const char *what;	  /* FDSYNC: the file's name, for the log */
	char name[40];		  /* UNLINK: a segment file in the directory */
	struct dv_spool_seg *seg; /* COMMIT: the control lcore's, not read by the thread */
	int rc;
	uint64_t ns; /* how long it ran */
};

/* The syncer thread and its queue: jobs [done, queued) wait or run, jobs
 * [harvested, done) are finished and not yet looked at by the lcore. */
struct dv_spool_syncer {
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t work, done_cv;
	int running, stop;
	uint64_t queued, done, harvested;
	struct dv_spool_job q[DV_SPOOL_JOBS];
};

struct dv_spool {
	char *dir;
	int dir_fd;
	int lock_fd;
	struct dv_bq_log log;
	uint64_t max_bytes, segment_bytes, commit_ns;
	size_t commit_bytes;
	int no_sync;

	struct dv_spool_seg *head, *tail; /* oldest first; tail is active while fd >= 0 */
	int fd;				  /* active segment, -1 if none */
	struct dv_bq_buf buf;		  /* not yet handed to the syncer */
	struct dv_bq_buf wbuf;		  /* the commit job's bytes while it exists */
	struct dv_spool_job commit;	  /* the one commit job (kind 0: none) */
	int commit_queued;		  /* it is in the syncer's queue (else failed, waiting) */
	int commit_rc;			  /* how the last attempt failed */
	size_t buf_max;			  /* appends wait for the syncer past this */
	uint64_t last_commit_ns;
	uint64_t next_seq;
	int fail_logged;
	struct dv_spool_syncer sy;
	/* Replay's read buffer, made at the first replay and kept: a fresh
	 * megabyte per refill was a mapping and its page faults every time. */
	char *rbuf;

	struct dv_spool_stats st;
};

/* CRC32C (without the final inversion) of n bytes at any alignment:
 * rte_hash_crc() loads 8-byte words straight from the pointer, which is
 * undefined for the unaligned payloads of spool records. */
static uint32_t crc32c_update(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t w;

	for (; n >= 8; b += 8, n -= 8) {
		memcpy(&w, b, 8);
		crc = rte_hash_crc_8byte(w, crc);
	}
	for (; n > 0; b++, n--)
		crc = rte_hash_crc_1byte(*b, crc);
	return crc;
}

uint32_t dv_spool_crc32c(const void *p, size_t n)
{
	return crc32c_update(0xffffffffu, p, n) ^ 0xffffffffu;
}

static uint32_t rec_crc(uint32_t len_le, const void *payload, size_t n)
{
	uint32_t crc = crc32c_update(0xffffffffu, &len_le, 4);

	return crc32c_update(crc, payload, n) ^ 0xffffffffu;
}

/* ---- records ------------------------------------------------------------------- */

/* The header at p (DV_SPOOL_HDR bytes): 1 with the payload length in *plen
 * and its CRC in *crc if it can start a record, else 0. */
static int rec_header(const char *p, uint32_t *plen, uint32_t *crc)
{
	uint32_t hdr[3];

	memcpy(hdr, p, DV_SPOOL_HDR);
	*plen = hdr[1];
	*crc = hdr[2];
	return hdr[0] == DV_SPOOL_MAGIC && hdr[1] >= 2 && hdr[1] <= DV_SPOOL_REC_MAX;
}

/* 1 if the payload p[0..plen) matches crc and holds its insertId length. */
static int rec_payload_ok(const char *p, uint32_t plen, uint32_t crc)
{
	uint16_t il;

	if (rec_crc(plen, p, plen) != crc)
		return 0;
	memcpy(&il, p, 2);
	return (size_t)il + 2 <= plen;
}

/* Length of the valid record at p[0..n), 0 if there is none. */
static size_t rec_valid(const char *p, size_t n)
{
	uint32_t plen, crc;

	if (n < DV_SPOOL_HDR || !rec_header(p, &plen, &crc) || DV_SPOOL_HDR + (size_t)plen > n ||
	    !rec_payload_ok(p + DV_SPOOL_HDR, plen, crc))
		return 0;
	return DV_SPOOL_HDR + plen;
}

/* ---- segments ------------------------------------------------------------------- */

static void seg_name(uint64_t seq, char *out, size_t n)
{
	snprintf(out, n, "seg-%016" PRIx64 ".spool", seq);
}

static int seg_grow(struct dv_spool_seg *g, uint32_t n)
{
	uint8_t *p;
	uint32_t cap;

	if (n <= g->cap)
		return 0;
	cap = g->cap ? g->cap : 1024;
	while (cap < n)
		cap *= 2;
	p = realloc(g->state, cap);
	if (!p)
		return -ENOMEM;
	g->state = p;
	g->cap = cap;
	return 0;
}

static struct dv_spool_seg *seg_new(struct dv_spool *sp, uint64_t seq)
{
	struct dv_spool_seg *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->seq = seq;
	g->born_ns = dv_monotonic_ns();
	if (sp->tail)
		sp->tail->next = g;
	else
		sp->head = g;
	sp->tail = g;
	sp->st.segments++;
	return g;
}

/* Remove g (sealed, every record done) from the list and the disk. */
static void job_submit(struct dv_spool *sp, const struct dv_spool_job *j);

static void seg_delete(struct dv_spool *sp, struct dv_spool_seg *g)
{
	struct dv_spool_seg **pp = &sp->head, *prev = NULL;
	struct dv_spool_job j = {.kind = DV_JOB_UNLINK};

	while (*pp && *pp != g) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (!*pp)
		return;
	*pp = g->next;
	if (sp->tail == g)
		sp->tail = prev;
	/* On the syncer, behind the jobs queued before (a dead letter's sync). */
	seg_name(g->seq, j.name, sizeof(j.name));
	job_submit(sp, &j);
	sp->st.bytes -= g->bytes;
	sp->st.segments--;
	free(g->state);
	free(g);
}

static void seg_maybe_delete(struct dv_spool *sp, struct dv_spool_seg *g)
{
	if (g->sealed && g->ndone == g->nrecs)
		seg_delete(sp, g);
}

/* ---- the syncer thread --------------------------------------------------------------- */

/* A commit job: append the bytes, make them durable; a seal then gives back
 * the preallocation and closes the file. */
static int job_commit(struct dv_spool_job *j)
{
	int rc;

	/* A retry: whatever an earlier attempt left past the committed bytes goes. */
	if (j->retry && ftruncate(j->fd, (off_t)j->base))
		return -errno;
	rc = dv_write_all(j->fd, j->p, j->len, NULL);
	if (rc == 0 && !j->no_sync && fdatasync(j->fd))
		rc = -errno;
	if (rc) {
		/* A partial write leaves the file ending inside a record: put it
		 * back where it was so the retry writes whole records. */
		if (ftruncate(j->fd, (off_t)j->base))
			j->trunc_err = errno;
		return rc;
	}
	if (j->seal) {
		if (ftruncate(j->fd, (off_t)(j->base + j->len)))
			j->trunc_err = errno;
		close(j->fd);
	}
	return 0;
}

static void job_run(int dir_fd, struct dv_spool_job *j)
{
	uint64_t t0 = dv_monotonic_ns();
	int rc = 0;

	switch (j->kind) {
	case DV_JOB_COMMIT:
		rc = job_commit(j);
		break;
	case DV_JOB_DIRSYNC:
		rc = fsync(dir_fd) ? -errno : 0;
		break;
	case DV_JOB_FDSYNC:
		rc = fdatasync(j->fd) ? -errno : 0;
		break;
	case DV_JOB_UNLINK:
		rc = unlinkat(dir_fd, j->name, 0) && errno != ENOENT ? -errno : 0;
		break;
	}
	j->rc = rc;
	j->ns = dv_monotonic_ns() - t0;
}

static void *syncer_main(void *arg)
{
	struct dv_spool *sp = arg;
	struct dv_spool_syncer *y = &sp->sy;

	pthread_mutex_lock(&y->mu);
	for (;;) {
		struct dv_spool_job *j;

		while (y->done == y->queued && !y->stop)
			pthread_cond_wait(&y->work, &y->mu);
		if (y->done == y->queued)
			break;
		j = &y->q[y->done % DV_SPOOL_JOBS];
		pthread_mutex_unlock(&y->mu);
		job_run(sp->dir_fd, j);
		pthread_mutex_lock(&y->mu);
		__atomic_store_n(&y->done, y->done + 1, __ATOMIC_RELEASE);
		pthread_cond_broadcast(&y->done_cv);
	}
	pthread_mutex_unlock(&y->mu);
	return NULL;
}

static void seg_maybe_delete(struct dv_spool *sp, struct dv_spool_seg *g);

/* A finished commit job, on the control lcore: its bytes count as written,
 * or it waits a commit interval to run again. */
static void commit_harvested(struct dv_spool *sp, const struct dv_spool_job *j)
{
	struct dv_spool_seg *g = j->seg;

	sp->commit_queued = 0;
	if (j->trunc_err)
		dv_bq_logf(&sp->log, DV_BQ_WARN, "spool: ftruncate: %s", strerror(j->trunc_err));
	if (j->rc) {
		sp->commit.retry = 1;
		sp->commit_rc = j->rc;
		sp->last_commit_ns = dv_monotonic_ns();
		if (!sp->fail_logged++)
			dv_bq_logf(&sp->log, DV_BQ_ERR,
				   "spool: cannot write %zu bytes to %s: %s (will try again)",
				   j->len, sp->dir, strerror(-j->rc));
		return;
	}
	sp->fail_logged = 0;
	sp->commit_rc = 0;
	sp->commit.kind = 0;
	sp->wbuf.len = 0;
	g->written += j->len;
	if (j->len) {
		sp->st.commits++;
		sp->st.commit_ns_sum += j->ns;
		if (j->ns > sp->st.commit_ns_max)
			sp->st.commit_ns_max = j->ns;
	}
	if (j->seal) {
		g->sealed = 1;
		seg_maybe_delete(sp, g);
	}
}

static void job_harvested(struct dv_spool *sp, const struct dv_spool_job *j)
{
	if (j->kind == DV_JOB_COMMIT)
		commit_harvested(sp, j);
	else if (j->rc && j->kind == DV_JOB_DIRSYNC)
		dv_bq_logf(&sp->log, DV_BQ_WARN, "spool: fsync %s: %s", sp->dir, strerror(-j->rc));
	else if (j->rc && j->kind == DV_JOB_FDSYNC)
		dv_bq_logf(&sp->log, DV_BQ_ERR, "fdatasync %s: %s", j->what, strerror(-j->rc));
	else if (j->rc && j->kind == DV_JOB_UNLINK)
		dv_bq_logf(&sp->log, DV_BQ_ERR, "spool: cannot delete %s/%s: %s", sp->dir, j->name,
			   strerror(-j->rc));
}

/* Take over every finished job, oldest first; no lock unless one finished. */
static void syncer_harvest(struct dv_spool *sp)
{
	struct dv_spool_syncer *y = &sp->sy;

	while (y->harvested < __atomic_load_n(&y->done, __ATOMIC_ACQUIRE)) {
		struct dv_spool_job j = y->q[y->harvested % DV_SPOOL_JOBS];

		y->harvested++; /* frees the slot: harvesting may queue a job */
		job_harvested(sp, &j);
	}
}

/* Wait for the next job to finish (the queue is full, or the buffer is at
 * its bound) and harvest. The time is counted: the lcore waited for the disk. */
static void syncer_wait_one(struct dv_spool *sp)
{
	struct dv_spool_syncer *y = &sp->sy;
	uint64_t t0 = dv_monotonic_ns(), dt;

	pthread_mutex_lock(&y->mu);
	while (y->done == y->harvested && y->done != y->queued)
		pthread_cond_wait(&y->done_cv, &y->mu);
	pthread_mutex_unlock(&y->mu);
	dt = dv_monotonic_ns() - t0;
	sp->st.waits++;
	sp->st.wait_ns_sum += dt;
	if (dt > sp->st.wait_ns_max)
		sp->st.wait_ns_max = dt;
	syncer_harvest(sp);
}

/* Run every queued job and harvest it (and what harvesting queued). */
static void syncer_flush(struct dv_spool *sp)
{
	struct dv_spool_syncer *y = &sp->sy;

	if (!y->running)
		return;
	while (y->harvested != y->queued) {
		pthread_mutex_lock(&y->mu);
		while (y->done != y->queued)
			pthread_cond_wait(&y->done_cv, &y->mu);
		pthread_mutex_unlock(&y->mu);
		syncer_harvest(sp);
	}
}

/* Queue a job behind the others (waiting for room if the queue is full);
 * without the thread (before open has started it, during close) it runs
 * here and now. */
static void job_submit(struct dv_spool *sp, const struct dv_spool_job *j)
{
	struct dv_spool_syncer *y = &sp->sy;

	if (!y->running) {
		struct dv_spool_job now = *j;

		job_run(sp->dir_fd, &now);
		job_harvested(sp, &now);
		return;
	}
	syncer_harvest(sp);
	while (y->queued - y->harvested == DV_SPOOL_JOBS)
		syncer_wait_one(sp);
	pthread_mutex_lock(&y->mu);
	y->q[y->queued % DV_SPOOL_JOBS] = *j;
	y->queued++;
	pthread_cond_signal(&y->work);
	pthread_mutex_unlock(&y->mu);
}

static int syncer_start(struct dv_spool *sp)
{
	struct dv_spool_syncer *y = &sp->sy;
	int rc;

	pthread_mutex_init(&y->mu, NULL);
	pthread_cond_init(&y->work, NULL);
	pthread_cond_init(&y->done_cv, NULL);
	rc = pthread_create(&y->tid, NULL, syncer_main, sp);
	if (rc) {
		pthread_cond_destroy(&y->done_cv);
		pthread_cond_destroy(&y->work);
		pthread_mutex_destroy(&y->mu);
		return -rc;
	}
	pthread_setname_np(y->tid, "dv-spool-sync");
	y->running = 1;
	return 0;
}

/* Finish every job, then end the thread; later jobs run inline. */
static void syncer_stop(struct dv_spool *sp)
{
	struct dv_spool_syncer *y = &sp->sy;

	if (!y->running)
		return;
	syncer_flush(sp);
	pthread_mutex_lock(&y->mu);
	y->stop = 1;
	pthread_cond_signal(&y->work);
	pthread_mutex_unlock(&y->mu);
	pthread_join(y->tid, NULL);
	y->running = 0;
	pthread_cond_destroy(&y->done_cv);
	pthread_cond_destroy(&y->work);
	pthread_mutex_destroy(&y->mu);
}

void dv_spool_sync_fd(struct dv_spool *sp, int fd, const char *what)
{
	struct dv_spool_job j = {.kind = DV_JOB_FDSYNC, .fd = fd, .what = what};

	job_submit(sp, &j);
}

/* ---- committing ------------------------------------------------------------------------ */

/* Hand the queued commit job to the syncer. */
static void commit_queue(struct dv_spool *sp)
{
	sp->commit_queued = 1;
	job_submit(sp, &sp->commit);
}

/* Start a commit of the buffer (seal: and then close the active segment).
 * Only when no commit job exists; the lcore goes on at once. */
static void commit_start(struct dv_spool *sp, int seal)
{
	struct dv_bq_buf t;

	if (sp->commit.kind || sp->fd < 0 || (!sp->buf.len && !seal))
		return;
	t = sp->wbuf;
	sp->wbuf = sp->buf;
	sp->buf = t;
	sp->buf.len = 0;
	sp->commit = (struct dv_spool_job){.kind = DV_JOB_COMMIT,
					   .fd = sp->fd,
					   .p = sp->wbuf.p,
					   .len = sp->wbuf.len,
					   .base = sp->tail->written,
					   .seal = seal,
					   .no_sync = sp->no_sync,
					   .seg = sp->tail};
	if (seal)
		sp->fd = -1; /* the job closes it; the next append opens a new segment */
	sp->last_commit_ns = dv_monotonic_ns();
	commit_queue(sp);
}

int dv_spool_commit(struct dv_spool *sp)
{
	syncer_flush(sp);
	if (sp->commit.kind && !sp->commit_queued) { /* failed before: at once now */
		commit_queue(sp);
		syncer_flush(sp);
	}
	if (!sp->commit.kind && sp->buf.len) {
		commit_start(sp, 0);
		syncer_flush(sp);
	}
	return sp->commit.kind ? sp->commit_rc : 0;
}

static int open_active(struct dv_spool *sp)
{
	struct dv_spool_seg *g;
	char name[64];

	seg_name(sp->next_seq, name, sizeof(name));
	sp->fd = openat(sp->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
	if (sp->fd < 0)
		return -errno;
	g = seg_new(sp, sp->next_seq++);
	if (!g) {
		close(sp->fd);
		sp->fd = -1;
		unlinkat(sp->dir_fd, name, 0);
		return -ENOMEM;
	}
	/* The new name must survive a power loss too: synced before the
	 * segment's first commit job, which is queued behind this one. */
	if (!sp->no_sync) {
		struct dv_spool_job j = {.kind = DV_JOB_DIRSYNC};

		job_submit(sp, &j);
	}
	return 0;
}

int dv_spool_append(struct dv_spool *sp, const char *id, size_t id_len, const char *row, size_t len,
		    int loaded, struct dv_spool_ref *ref)
{
	uint32_t plen = (uint32_t)(2 + id_len + len), hdr[3];
	uint64_t need = DV_SPOOL_HDR + plen;
	struct dv_spool_seg *g;
	uint16_t il = (uint16_t)id_len;
	size_t at;
	int rc;

	if (id_len > UINT16_MAX || plen > DV_SPOOL_REC_MAX)
		return -EINVAL;
	if (sp->st.bytes + need > sp->max_bytes) {
		sp->st.rejected++;
		return -ENOSPC;
	}
	g = sp->tail;
	if (sp->fd >= 0 && g->bytes + need > sp->segment_bytes && g->nrecs > 0) {
		syncer_harvest(sp);
		/* While a commit runs the segment grows on: its bytes follow that
		 * job's; it is sealed at the first tick after the job. */
		commit_start(sp, 1);
	}
	/* The disk has not kept up for many commit intervals: wait for it here,
	 * as every commit once did, rather than let the buffer grow. */
	while (sp->buf.len + need > sp->buf_max && sp->commit.kind && sp->commit_queued)
		syncer_wait_one(sp);
	if (sp->fd < 0) {
		rc = open_active(sp);
		if (rc) {
			if (rc == -ENOSPC || rc == -EDQUOT)
				sp->st.rejected++;
			return rc == -EDQUOT ? -ENOSPC : rc;
		}
	}
	g = sp->tail;
	/* Reserve disk ahead of the writes: a full disk is known now, while the
	 * caller can still count the row, not at the commit. */
	while (g->bytes + need > g->allocated) {
		/* A MiB at a time; near a full disk, just what this record needs. */
		uint64_t chunk = DV_SPOOL_PREALLOC;

		rc = fallocate(sp->fd, FALLOC_FL_KEEP_SIZE, (off_t)g->allocated, (off_t)chunk);
		if (rc && errno == ENOSPC) {
			chunk = g->bytes + need - g->allocated;
			rc = fallocate(sp->fd, FALLOC_FL_KEEP_SIZE, (off_t)g->allocated,
				       (off_t)chunk);
		}
		if (rc && (errno == EOPNOTSUPP || errno == ENOSYS)) {
			g->allocated = UINT64_MAX; /* the filesystem cannot: write and see */
			break;
		}
		if (rc) {
			rc = -errno;
			if (rc == -ENOSPC || rc == -EDQUOT) {
				sp->st.rejected++;
				return -ENOSPC;
			}
			return rc;
		}
		g->allocated += chunk;
	}
	if (seg_grow(g, g->nrecs + 1) || dv_bq_buf_reserve(&sp->buf, need))
		return -ENOMEM;
	hdr[0] = DV_SPOOL_MAGIC;
	hdr[1] = plen;
	at = sp->buf.len;
	dv_bq_buf_add(&sp->buf, hdr, DV_SPOOL_HDR); /* crc filled in below */
	dv_bq_buf_add(&sp->buf, &il, 2);
	dv_bq_buf_add(&sp->buf, id, id_len);
	dv_bq_buf_add(&sp->buf, row, len);
	hdr[2] = rec_crc(plen, sp->buf.p + at + DV_SPOOL_HDR, plen);
	memcpy(sp->buf.p + at + 8, &hdr[2], 4);

	g->state[g->nrecs] = loaded ? DV_REC_LOADED : DV_REC_OUT;
	ref->seg = g;
	ref->idx = g->nrecs++;
	if (!loaded) {
		g->nout++;
		sp->st.out++;
	}
	g->bytes += need;
	sp->st.bytes += need;
	sp->st.records++;
	sp->st.appended++;
	if (sp->buf.len >= sp->commit_bytes) {
		syncer_harvest(sp);
		commit_start(sp, 0); /* unless one runs; on failure tick tries again */
	}
	return 0;
}

int dv_spool_tick(struct dv_spool *sp, uint64_t now_ns)
{
	struct dv_spool_seg *g;

	syncer_harvest(sp);
	if (sp->commit.kind && !sp->commit_queued) { /* it failed: again an interval later */
		if (now_ns - sp->last_commit_ns >= sp->commit_ns)
			commit_queue(sp);
	} else if (sp->buf.len && now_ns - sp->last_commit_ns >= sp->commit_ns) {
		commit_start(sp, 0); /* unless one runs: then right after it */
	} else if (!sp->buf.len && !sp->commit.kind) {
		sp->last_commit_ns = now_ns;
	}
	/* A fully acknowledged active segment goes once it is a second old, so
	 * a healthy run keeps almost nothing on disk (and a restart sends almost
	 * nothing twice) without a file per batch; under a steady stream, where
	 * some row is always in flight, the segment is sealed every
	 * DV_SPOOL_SEAL_NS so it can go once its rows are accepted. */
	g = sp->tail;
	if (!sp->commit.kind && g && !g->sealed && sp->fd >= 0 && g->nrecs > 0 &&
	    ((g->ndone == g->nrecs && now_ns - g->born_ns >= DV_NS_PER_SEC) ||
	     now_ns - g->born_ns >= DV_SPOOL_SEAL_NS || g->bytes >= sp->segment_bytes))
		commit_start(sp, 1);
	return sp->commit.kind && !sp->commit_queued ? sp->commit_rc : 0;
}

/* ---- states ------------------------------------------------------------------------ */

void dv_spool_done(struct dv_spool *sp, const struct dv_spool_ref *ref)
{
	struct dv_spool_seg *g = ref->seg;

	if (!g || ref->idx >= g->nrecs || g->state[ref->idx] == DV_REC_DONE)
		return;
	if (g->state[ref->idx] == DV_REC_OUT) {
		g->nout--;
		sp->st.out--;
	}
	g->state[ref->idx] = DV_REC_DONE;
	g->ndone++;
	sp->st.records--;
	seg_maybe_delete(sp, g);
}

void dv_spool_unload(struct dv_spool *sp, const struct dv_spool_ref *ref)
{
	struct dv_spool_seg *g = ref->seg;

	if (!g || ref->idx >= g->nrecs || g->state[ref->idx] != DV_REC_LOADED)
		return;
	g->state[ref->idx] = DV_REC_OUT;
	g->nout++;
	sp->st.out++;
	if (ref->idx < g->scan_idx) { /* offsets are not kept: read it from the start */
		g->scan_idx = 0;
		g->scan_off = 0;
	}
}

uint64_t dv_spool_records(const struct dv_spool *sp)
{
	return sp->st.records;
}

uint64_t dv_spool_out(const struct dv_spool *sp)
{
	return sp->st.out;
}

void dv_spool_get_stats(const struct dv_spool *sp, struct dv_spool_stats *st)
{
	*st = sp->st;
}

/* ---- replay ------------------------------------------------------------------------- */

static int pread_all(int fd, void *p, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, (char *)p + got, n - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (int)got;
}

/* One replay in progress: its limits and what it has loaded. */
struct replay {
	uint32_t max_rows;
	size_t *budget; /* bytes it may still read */
	int loaded;
	dv_spool_replay_fn fn;
	void *arg;
};

/*
 * Hand the "out" records among the whole ones in buf[0..n) (read from
 * g->scan_off) to the callback, moving the scan past each record; *used is
 * the bytes passed. 0; 1 when the callback stopped the replay; -EBADMSG when
 * the file is not what open left (repaired at open: cannot happen unless
 * edited).
 */
static int replay_buf(struct dv_spool *sp, struct dv_spool_seg *g, const char *buf, size_t n,
		      struct replay *r, size_t *used)
{
	size_t off = 0;
	int rc = 0;

	while (off + DV_SPOOL_HDR <= n && (uint32_t)r->loaded < r->max_rows) {
		const char *p = buf + off + DV_SPOOL_HDR;
		uint32_t plen, crc, idx = g->scan_idx;

		if (!rec_header(buf + off, &plen, &crc)) {
			rc = -EBADMSG;
			break;
		}
		if (off + DV_SPOOL_HDR + plen > n)
			break; /* the rest of it is in the next read */
		if (idx >= g->nrecs) {
			rc = -EBADMSG;
			break;
		}
		if (g->state[idx] == DV_REC_OUT) {
			struct dv_spool_ref ref = {g, idx};
			uint16_t il;

			if (!rec_payload_ok(p, plen, crc)) {
				rc = -EBADMSG;
				break;
			}
			memcpy(&il, p, 2);
			if (r->fn(r->arg, &ref, p + 2, il, p + 2 + il, plen - 2u - il)) {
				rc = 1;
				break;
			}
			g->state[idx] = DV_REC_LOADED;
			g->nout--;
			sp->st.out--;
			sp->st.replayed++;
			r->loaded++;
		}
		off += DV_SPOOL_HDR + plen;
		g->scan_off += DV_SPOOL_HDR + plen;
		g->scan_idx++;
		*r->budget =
		    *r->budget > DV_SPOOL_HDR + plen ? *r->budget - DV_SPOOL_HDR - plen : 0;
	}
	*used = off;
	return rc;
}

/* Replay from one segment; returns records loaded or negative errno. */
static int replay_seg(struct dv_spool *sp, struct dv_spool_seg *g, uint32_t max_rows,
		      size_t *budget, dv_spool_replay_fn fn, void *arg)
{
	struct replay r = {max_rows, budget, 0, fn, arg};
	char name[64];
	char *buf;
	int fd, rc = 0;

	seg_name(g->seq, name, sizeof(name));
	fd = openat(sp->dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!sp->rbuf)
		sp->rbuf = malloc(DV_SPOOL_READ + DV_SPOOL_HDR + DV_SPOOL_REC_MAX);
	buf = sp->rbuf;
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (g->nout > 0 && *budget > 0 && (uint32_t)r.loaded < max_rows &&
	       g->scan_off < g->written) {
		size_t want = g->written - g->scan_off, used;
		int n;

		if (want > DV_SPOOL_READ + DV_SPOOL_HDR + DV_SPOOL_REC_MAX)
			want = DV_SPOOL_READ + DV_SPOOL_HDR + DV_SPOOL_REC_MAX;
		n = pread_all(fd, buf, want, g->scan_off);
		if (n <= 0) {
			rc = n < 0 ? n : -EIO;
			break;
		}
		rc = replay_buf(sp, g, buf, (size_t)n, &r, &used);
		if (rc == 1) { /* the callback stopped it */
			rc = 0;
			break;
		}
		if (rc)
			break;
		if (used == 0) { /* a record longer than the read: cannot happen */
			rc = -EBADMSG;
			break;
		}
	}
	if (rc == -EBADMSG)
		dv_bq_logf(&sp->log, DV_BQ_ERR,
			   "spool: %s/%s changed under us at offset %" PRIu64
			   "; its other rows are kept for the next start",
			   sp->dir, name, g->scan_off);
	close(fd);
	return rc && rc != -EBADMSG ? rc : r.loaded;
}

int dv_spool_replay(struct dv_spool *sp, uint32_t max_rows, size_t max_bytes, dv_spool_replay_fn fn,
		    void *arg)
{
	size_t budget = max_bytes;
	int total = 0;

	for (struct dv_spool_seg *g = sp->head; g && (uint32_t)total < max_rows && budget > 0;
	     g = g->next) {
		int n;

		if (g->nout == 0 || g->scan_off >= g->written)
			continue;
		n = replay_seg(sp, g, max_rows - (uint32_t)total, &budget, fn, arg);
		if (n < 0)
			return total ? total : n;
		total += n;
		if (g->nout > 0 && g->scan_off >= g->written && g->sealed) {
			/* Records the scan passed while they were loaded and were
			 * unloaded since: start over in this segment. */
			g->scan_off = 0;
			g->scan_idx = 0;
		}
	}
	return total;
}

/* ---- open: scan and repair ------------------------------------------------------------ */

static int read_file(int dir_fd, const char *name, char **out, size_t *len)
{
	struct stat stb;
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC), n;
	char *p;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &stb)) {
		close(fd);
		return -errno;
	}
	p = malloc((size_t)stb.st_size + 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	n = stb.st_size ? pread_all(fd, p, (size_t)stb.st_size, 0) : 0;
	close(fd);
	if (n < 0) {
		free(p);
		return n;
	}
	*out = p;
	*len = (size_t)n;
	return 0;
}

/* Write the good parts over the file and the bad ones to <name>.corrupt. */
static int repair(struct dv_spool *sp, const char *name, const char *data, size_t len,
		  const uint8_t *good)
{
	char tmp[96], bad[96];
	int fd_ok, fd_bad, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	snprintf(bad, sizeof(bad), "%s.corrupt", name);
	fd_ok = openat(sp->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	fd_bad = openat(sp->dir_fd, bad, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd_ok < 0 || fd_bad < 0) {
		rc = -errno;
		goto out;
	}
	for (size_t i = 0; i < len && rc == 0;) {
		size_t j = i;

		while (j < len && good[j] == good[i])
			j++;
		rc = dv_write_all(good[i] ? fd_ok : fd_bad, data + i, j - i, NULL);
		i = j;
	}
	if (rc == 0 && (fsync(fd_ok) || fsync(fd_bad)))
		rc = -errno;
	if (rc == 0 && renameat(sp->dir_fd, tmp, sp->dir_fd, name))
		rc = -errno;
	if (rc == 0)
		fsync(sp->dir_fd);
out:
	if (fd_ok >= 0)
		close(fd_ok);
	if (fd_bad >= 0)
		close(fd_bad);
	if (rc)
		unlinkat(sp->dir_fd, tmp, 0);
	return rc;
}

static void read_done(struct dv_spool *sp, struct dv_spool_seg *g);

/* Read one segment, repair it if needed, and add it (sealed) to the list. */
static int load_segment(struct dv_spool *sp, uint64_t seq)
{
	char name[64];
	char *data = NULL;
	uint8_t *good = NULL;
	size_t len = 0, off = 0, bad_bytes = 0, nbad_ranges = 0, first_bad = 0;
	struct dv_spool_seg *g;
	uint32_t nrecs = 0;
	uint64_t kept = 0;
	int rc;

	seg_name(seq, name, sizeof(name));
	rc = read_file(sp->dir_fd, name, &data, &len);
	if (rc)
		return rc;
	good = calloc(len + 1, 1);
	if (!good) {
		free(data);
		return -ENOMEM;
	}
	while (off < len) {
		size_t n = rec_valid(data + off, len - off);

		if (n) {
			memset(good + off, 1, n);
			off += n;
			kept += n;
			nrecs++;
			continue;
		}
		/* Not a record: skip to the next offset where one starts. */
		if (bad_bytes == 0)
			first_bad = off;
		nbad_ranges++;
		do {
			off++;
			bad_bytes++;
		} while (off < len && !rec_valid(data + off, len - off));
	}
	if (bad_bytes) {
		rc = repair(sp, name, data, len, good);
		sp->st.corrupt_files++;
		sp->st.corrupt_bytes += bad_bytes;
		if (rc)
			dv_bq_logf(&sp->log, DV_BQ_ERR,
				   "spool: %s/%s: %zu unreadable bytes from offset %zu; "
				   "could not move them aside (%s): the file is left as it is "
				   "and not sent",
				   sp->dir, name, bad_bytes, first_bad, strerror(-rc));
		else
			dv_bq_logf(&sp->log, DV_BQ_ERR,
				   "spool: %s/%s: %zu unreadable bytes in %zu place(s), the first "
				   "at offset %zu, moved to %s.corrupt; %u good rows kept",
				   sp->dir, name, bad_bytes, nbad_ranges, first_bad, name, nrecs);
	}
	free(data);
	free(good);
	if (bad_bytes && rc)
		return 0; /* left alone, never deleted, never sent */
	if (nrecs == 0) {
		unlinkat(sp->dir_fd, name, 0);
		return 0;
	}
	g = seg_new(sp, seq);
	if (!g || seg_grow(g, nrecs))
		return -ENOMEM;
	memset(g->state, DV_REC_OUT, nrecs);
	g->nrecs = g->nout = nrecs;
	g->bytes = g->written = g->allocated = kept;
	g->sealed = 1;
	sp->st.bytes += kept;
	if (!bad_bytes) /* a repaired file has other record numbers */
		read_done(sp, g);
	sp->st.records += g->nrecs - g->ndone;
	sp->st.out += g->nout;
	sp->st.recovered += g->nrecs - g->ndone;
	if (g->ndone == g->nrecs)
		seg_delete(sp, g);
	return 0;
}

/* ---- acknowledgements across a clean restart --------------------------------------- */

/* <segment>.done: "DVA1" | u32 records | bitmap of done records | u32 CRC32C
 * of all before it. Written at close for segments with done records, read
 * and removed at open; after a crash there is none and the rows of partly
 * acknowledged segments are sent again. */
static void done_name(uint64_t seq, char *out, size_t n)
{
	snprintf(out, n, "seg-%016" PRIx64 ".done", seq);
}

static void write_done(struct dv_spool *sp, const struct dv_spool_seg *g)
{
	size_t bm = (g->nrecs + 7u) / 8u, n = 8 + bm + 4;
	uint8_t *b = calloc(1, n);
	char name[64];
	uint32_t crc;
	int fd;

	if (!b)
		return;
	memcpy(b, "DVA1", 4);
	memcpy(b + 4, &g->nrecs, 4);
	for (uint32_t i = 0; i < g->nrecs; i++)
		if (g->state[i] == DV_REC_DONE)
			b[8 + i / 8] |= (uint8_t)(1u << (i % 8));
	crc = dv_spool_crc32c(b, 8 + bm);
	memcpy(b + 8 + bm, &crc, 4);
	done_name(g->seq, name, sizeof(name));
	fd = openat(sp->dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd >= 0) {
		if (dv_write_all(fd, (char *)b, n, NULL) || (!sp->no_sync && fdatasync(fd)))
			unlinkat(sp->dir_fd, name, 0);
		close(fd);
	}
	free(b);
}

/* Apply and remove <segment>.done if it matches the segment. */
static void read_done(struct dv_spool *sp, struct dv_spool_seg *g)
{
	char name[64], *b = NULL;
	size_t n = 0, bm = (g->nrecs + 7u) / 8u;
	uint32_t crc, nrecs;

	done_name(g->seq, name, sizeof(name));
	if (read_file(sp->dir_fd, name, &b, &n))
		return;
	unlinkat(sp->dir_fd, name, 0);
	if (n == 8 + bm + 4 && !memcmp(b, "DVA1", 4)) {
		memcpy(&nrecs, b + 4, 4);
		memcpy(&crc, b + 8 + bm, 4);
		if (nrecs == g->nrecs && crc == dv_spool_crc32c(b, 8 + bm)) {
			for (uint32_t i = 0; i < g->nrecs; i++) {
				if (!(b[8 + i / 8] & (1u << (i % 8))))
					continue;
				g->state[i] = DV_REC_DONE;
				g->ndone++;
				g->nout--;
			}
		}
	}
	free(b);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Every seg-*.spool in the directory, sorted. */
static int list_segments(struct dv_spool *sp, uint64_t **seqs, size_t *n)
{
	int fd = dup(sp->dir_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	size_t cap = 0;

	*seqs = NULL;
	*n = 0;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((e = readdir(d))) {
		uint64_t seq;
		int used = 0;

		if (sscanf(e->d_name, "seg-%16" SCNx64 ".spool%n", &seq, &used) != 1 ||
		    e->d_name[used] != '\0' || used != 26)
			continue;
		if (*n == cap) {
			uint64_t *p = realloc(*seqs, (cap ? cap * 2 : 64) * sizeof(*p));

			if (!p) {
				closedir(d);
				return -ENOMEM;
			}
			*seqs = p;
			cap = cap ? cap * 2 : 64;
		}
		(*seqs)[(*n)++] = seq;
	}
	closedir(d);
	if (*n)
		qsort(*seqs, *n, sizeof(**seqs), cmp_u64);
	return 0;
}

/*
 * mkdir -p: every missing directory of path, mode 0750 (rows are not for
 * other users). 0, or negative errno with the directory that failed in err.
 */
static int dv_spool_mkdirs(const char *path, char *err, size_t errlen)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n >= sizeof(buf)) {
		snprintf(err, errlen, "spool directory %s: name too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0750) && errno != EEXIST) {
			int rc = -errno;

			snprintf(err, errlen, "spool directory %s: cannot create %s: %s", path, buf,
				 strerror(-rc));
			return rc;
		}
		buf[i] = path[i];
	}
	return 0;
}

int dv_spool_open(const struct dv_spool_config *c, struct dv_spool **out, char *err, size_t errlen)
{
	struct dv_spool *sp;
	uint64_t *seqs = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (!c->dir || !c->dir[0]) {
		snprintf(err, errlen, "no spool directory");
		return -EINVAL;
	}
	sp = calloc(1, sizeof(*sp));
	if (!sp || !(sp->dir = strdup(c->dir))) {
		free(sp);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	sp->fd = sp->dir_fd = sp->lock_fd = -1;
	sp->log.fn = c->log;
	sp->log.arg = c->log_arg;
	sp->max_bytes = c->max_bytes;
	sp->segment_bytes = c->segment_bytes ? c->segment_bytes : DV_SPOOL_SEGMENT_BYTES;
	sp->commit_ns = c->commit_interval_ns;
	sp->commit_bytes = c->commit_bytes ? c->commit_bytes : DV_SPOOL_COMMIT_BYTES;
	sp->no_sync = c->no_sync;
	sp->buf_max =
	    16 * sp->commit_bytes > DV_SPOOL_BUF_MIN ? 16 * sp->commit_bytes : DV_SPOOL_BUF_MIN;
	sp->last_commit_ns = dv_monotonic_ns();

	rc = dv_spool_mkdirs(c->dir, err, errlen);
	if (rc)
		goto fail;
	sp->dir_fd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dir_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "spool directory %s: %s", c->dir, strerror(errno));
		goto fail;
	}
	sp->lock_fd = openat(sp->dir_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (sp->lock_fd < 0 || flock(sp->lock_fd, LOCK_EX | LOCK_NB)) {
		rc = -errno;
		if (rc == -EWOULDBLOCK)
			snprintf(err, errlen,
				 "spool directory %s is in use by another dpdk-devourer (one "
				 "process per spool: stop the other one or give another %s)",
				 c->dir, dv_bq_name(c->names.spool_dir, "spool directory"));
		else
			snprintf(err, errlen, "spool directory %s: cannot lock: %s", c->dir,
				 strerror(-rc));
		goto fail;
	}
	rc = list_segments(sp, &seqs, &n);
	if (rc) {
		snprintf(err, errlen, "spool directory %s: %s", c->dir, strerror(-rc));
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		rc = load_segment(sp, seqs[i]);
		if (rc == -ENOMEM) {
			snprintf(err, errlen, "out of memory reading the spool");
			goto fail;
		}
		if (rc) { /* unreadable file: leave it, say so, go on */
			char name[64];

			seg_name(seqs[i], name, sizeof(name));
			dv_bq_logf(&sp->log, DV_BQ_ERR, "spool: cannot read %s/%s: %s; skipped",
				   c->dir, name, strerror(-rc));
		}
	}
	sp->next_seq = n ? seqs[n - 1] + 1 : 1;
	free(seqs);
	rc = syncer_start(sp);
	if (rc) {
		snprintf(err, errlen, "spool directory %s: cannot start its syncer thread: %s",
			 c->dir, strerror(-rc));
		goto fail;
	}
	if (sp->st.recovered)
		dv_bq_logf(&sp->log, DV_BQ_INFO,
			   "spool: %" PRIu64 " rows in %u segment(s) (%" PRIu64
			   " bytes) from an earlier run; they are sent first",
			   sp->st.recovered, sp->st.segments, sp->st.bytes);
	*out = sp;
	return 0;
fail:
	free(seqs);
	dv_spool_close(sp);
	return rc;
}

void dv_spool_close(struct dv_spool *sp)
{
	if (!sp)
		return;
	if ((sp->fd >= 0 || sp->commit.kind) && dv_spool_commit(sp))
		dv_bq_logf(&sp->log, DV_BQ_ERR,
			   "spool: %zu bytes could not be written to %s at close",
			   sp->buf.len + sp->wbuf.len, sp->dir);
	syncer_stop(sp);			/* what follows runs here */
	if (sp->commit.kind && sp->commit.seal) /* a seal that kept failing */
		close(sp->commit.fd);
	if (sp->fd >= 0) {
		if (sp->tail && sp->tail->allocated > sp->tail->written &&
		    ftruncate(sp->fd, (off_t)sp->tail->written) == 0 && !sp->no_sync)
			fdatasync(sp->fd);
		close(sp->fd);
		/* A fully done active segment need not outlive us. */
		if (sp->tail && sp->tail->ndone == sp->tail->nrecs) {
			sp->tail->sealed = 1;
			seg_delete(sp, sp->tail);
		}
	}
	while (sp->head) {
		struct dv_spool_seg *g = sp->head;

		sp->head = g->next;
		if (g->ndone > 0 && sp->dir_fd >= 0)
			write_done(sp, g);
		free(g->state);
		free(g);
	}
	dv_bq_buf_free(&sp->buf);
	dv_bq_buf_free(&sp->wbuf);
	free(sp->rbuf);
	if (sp->lock_fd >= 0)
		close(sp->lock_fd);
	if (sp->dir_fd >= 0)
		close(sp->dir_fd);
	free(sp->dir);
	free(sp);
}
