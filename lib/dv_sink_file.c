/*
 * dv_sink_file: the stdout and NDJSON file sinks.
 *
 * Rows are appended, one per line, to a large in-memory buffer, and the
 * buffer goes to the fd in one write when it is full, at a poll once its
 * oldest row has waited DV_SINK_FILE_HOLD_NS, and at drain: a write per
 * megabyte of rows when they come fast (at every poll, --read wrote 28 kB
 * at a time: 20,750 writes for flows-heavy.pcap's 657 MB), and a row waits
 * at most about that long when they come slowly. A row counts as delivered
 * only when its bytes have reached the fd; if a write fails, the rows still
 * in the buffer are counted as dropped and the error is returned (negative
 * errno) for the caller to log, so rows_in = delivered + pending + dropped
 * always holds.
 *
 * A write that stops inside a row leaves a torn line in the output; the next
 * bytes written then start with a newline so that every later row is still
 * a line of its own (the torn line is lost, and counted as dropped).
 *
 * The file sink opens with O_APPEND so a rotated or shared file is never
 * overwritten, fsyncs at drain and every sync_interval_ns at poll, and
 * reopen() follows the path to a new file after log rotation.
 *
 * Between those, a thread of the sink (syncer_main) fdatasyncs a regular
 * file every DV_SINK_FILE_KICK bytes written, so that the disk (and under a
 * VM, the host's cache: most of the cost) is flushed while rows are made,
 * and the sink's own fsyncs, which the writing thread waits for, find
 * little left to do. It never holds up the writer: the writer only wakes
 * it. An error it meets is kept and returned by the next fsync (the kernel
 * reports a writeback error once per open file).
 *
 * After each sync, background or the sink's own, the file's clean pages
 * leave the page cache (POSIX_FADV_DONTNEED; pages still dirty are only
 * written). Devourer never reads its rows back, and without this a file of
 * hundreds of megabytes (--read of flows-heavy.pcap writes 657 MB) fills
 * the page cache, every megabyte on newly allocated pages; with it, the
 * next writes reuse the pages just let go. On a VM that hands freed memory
 * back to its host, each newly touched page costs a fault in the host:
 * --read of that capture took 1.0-1.7 s as often as 0.73-0.78 s before
 * (docs/benchmarks.md, "Session 22").
 *
 * Direct writes. A regular file whose file system takes O_DIRECT gets its
 * full buffers written around the page cache, by the same background
 * thread: the buffer up to its last 4 KiB boundary of the file is handed
 * to it (hand_over), and the rest moves to the next of DV_SINK_FILE_JOBS
 * buffers, which the sink goes on filling. The thread writes the buffers
 * handed to it in turn (jobs), the bytes up to the file's first boundary
 * through the page cache and the whole blocks after it straight from the
 * buffer to the disk (job_write). Each buffer starts at the file's offset
 * within a block, so those blocks are aligned in memory too. The sink
 * waits for the thread only when every other buffer is queued: with one
 * queued at a time (two buffers), the thread making rows waited for the
 * disk up to 171 ms of a 0.69 s --read of flows-heavy.pcap (this VM's disk
 * takes 1.4-1.5 GB/s of direct writes, the rows come at 1.2 GB/s), and
 * eight buffers made that run 1.05-1.15x as fast (docs/benchmarks.md, "Session
 * 27"). Polls, drains and reopens wait for every job and write the rest
 * through the page cache themselves, so that it has reached the fd when
 * they return. The copy into the page cache, its allocation and most of
 * its writeback were 15 % of --read's CPU on flows-heavy.pcap (docs/
 * benchmarks.md, "Session 25"). A job's rows count as delivered once the
 * thread has written them, when the sink is next called (jobs_reap). A job
 * that fails is accounted for as a write that failed above, and the jobs
 * queued behind it end unwritten (the thread writes nothing more until
 * the sink has counted the failure: job_failed), so no row is glued to a
 * torn one. A file system that refuses a direct write (EINVAL, EOPNOTSUPP)
 * gets those bytes through the page cache, and the sink stops trying.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dv_sink.h"
#include "dv_time.h"

/* Big enough that a busy appliance writes a few times per second at most. */
#define DV_SINK_FILE_BUF (1u << 20)

/* A regular file is synced in the background every this many bytes
 * written (syncer_main), so that the next fsync waits only for the last of
 * them. */
#define DV_SINK_FILE_KICK (8u << 20)

/* Direct writes go in whole blocks of this many bytes, from memory aligned
 * to it (a multiple of every logical block size Linux has). */
#define DV_SINK_DIO_ALIGN 4096u

/* The buffers are one mapping of transparent huge pages where the system
 * gives them (THP "madvise" or "always"): a direct write pins the pages it
 * writes from, 256 of 4 KiB a MiB, or a part of one huge page, and the
 * thread's pinning was 1.9 % of --read's samples on flows-heavy.pcap. In
 * huge pages that run was 1.03-1.07x as fast while the VM was slow, the
 * same while it was fast (docs/benchmarks.md, "Session 27"). */
#define DV_SINK_HUGE	     (2u << 20)
#define DV_SINK_BUF_STRIDE   (DV_SINK_FILE_BUF + DV_SINK_DIO_ALIGN)
#define DV_SINK_REGION_BYTES (DV_SINK_FILE_JOBS * (size_t)DV_SINK_BUF_STRIDE)

/* Longest wait for a non-blocking fd to become writable before looking at
 * the deadline again. */
#define DV_SINK_WAIT_MS 100

/* Buffers with direct writes: the one being filled and up to
 * DV_SINK_FILE_JOBS - 1 full ones queued for the thread, so that rows are
 * not held up while the disk writes the buffer before (see the top). */
#ifndef DV_SINK_FILE_JOBS
#define DV_SINK_FILE_JOBS 8
#endif

/* A chunk of rows handed to the background thread (direct writes). */
struct dv_file_job {
	const char *p; /* the bytes */
	size_t len;    /* how many */
	size_t head;   /* bytes before the file's next block boundary */
	size_t lead;   /* leading bytes that are no row (the torn-line '\n') */
	uint64_t rows; /* rows that end in it */
	size_t done;   /* bytes written (by the thread) */
	int err;       /* negative errno of the write that failed, or 0 */
	bool refused;  /* the file system refused a direct write */
	bool busy;     /* handed over, not written yet */
};

struct dv_file_sink {
	struct dv_sink sink; /* first, so a struct dv_sink * is one of these */
	int fd;
	char *path; /* NULL for stdout */
	uint64_t sync_interval_ns;
	uint64_t last_sync_ns;
	bool unsynced;		      /* bytes reached the fd since the last fsync */
	bool regular;		      /* the fd is a regular file: it is synced in the background */
	uint64_t unkicked;	      /* bytes written since the syncer was last woken */
	bool torn;		      /* the fd ends inside a row; the next bytes start with '\n' */
	char *buf;		      /* where rows go: in mem[cur] */
	char *mem[DV_SINK_FILE_JOBS]; /* the buffers; all but mem[0] only with direct writes */
	void *region;		      /* the mapping they are in (buffers_map) */
	unsigned int cur;
	size_t len;	     /* bytes in buf */
	size_t lead;	     /* leading bytes of buf that are no row (the torn-line '\n') */
	uint64_t rows;	     /* rows in buf, including one partly written */
	uint64_t held_since; /* the poll that first saw the rows in buf (ns); 0: buf empty */
	/* the background syncs (syncer_main) */
	pthread_t syncer;
	bool syncer_on;		   /* it runs (else writeback is only started) */
	pthread_mutex_t sync_lock; /* the three below */
	pthread_cond_t sync_cond;
	bool sync_wanted;
	bool sync_stop;
	int sync_err;		 /* negative errno of a background sync, not yet returned */
	pthread_mutex_t fd_lock; /* held by the syncer while it syncs or writes fd, by reopen to
				  * swap it */
	/* direct writes (see the top) */
	bool direct;		  /* on: full buffers go to the thread as jobs */
	int fd_flags;		  /* fd's status flags, without O_DIRECT */
	uint64_t fpos;		  /* the file's size once the jobs handed over are written */
	bool ends_row;		  /* the last byte written (by a job or not) ended a row */
	pthread_cond_t done_cond; /* a job ended (with sync_lock) */
	/* job[i] holds mem[i] from its hand-over until it is counted (jobs_reap):
	 * the thread writes them in turn from job[written], the sink counts
	 * them in turn from job[counted]; queued of them are not counted yet. */
	struct dv_file_job job[DV_SINK_FILE_JOBS]; /* with sync_lock while busy */
	unsigned int written;			   /* the thread's */
	unsigned int counted;
	unsigned int queued;
	bool failed; /* a job failed: the thread writes none of the rest until it is counted */
};

static struct dv_file_sink *to_file(struct dv_sink *s)
{
	return (struct dv_file_sink *)s->priv;
}

static void set_err(char *err, size_t errlen, const char *what, const char *path, int e)
{
	char ebuf[128];

	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s %s: %s", what, path, strerror_r(e, ebuf, sizeof(ebuf)));
}

/* The buffers, each at a block boundary, in a mapping that starts at a
 * huge page's (see DV_SINK_HUGE); only what is written is ever touched, so
 * a sink without direct writes has only mem[0] in memory. 0 or -ENOMEM. */
static int buffers_map(struct dv_file_sink *f)
{
	char *p = mmap(NULL, DV_SINK_REGION_BYTES + DV_SINK_HUGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t at;

	if (p == MAP_FAILED)
		return -ENOMEM;
	f->region = p;
	at = ((uintptr_t)p + DV_SINK_HUGE - 1) & ~(uintptr_t)(DV_SINK_HUGE - 1);
	(void)madvise((void *)at, DV_SINK_REGION_BYTES, MADV_HUGEPAGE); /* advice */
	for (unsigned int i = 0; i < DV_SINK_FILE_JOBS; i++)
		f->mem[i] = (char *)at + (size_t)i * DV_SINK_BUF_STRIDE;
	return 0;
}

static void buffers_unmap(struct dv_file_sink *f)
{
	if (f->region != NULL)
		munmap(f->region, DV_SINK_REGION_BYTES + DV_SINK_HUGE);
	f->region = NULL;
}

static size_t count_newlines(const char *p, size_t n)
{
	size_t k = 0;
	const char *end = p + n;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		k++;
		p++;
	}
	return k;
}

/*
 * Wait until fd is writable or deadline_ns (system clock) passes.
 * Returns 0 when worth trying again, -ETIMEDOUT after the deadline.
 */
static int wait_writable(int fd, uint64_t deadline_ns)
{
	uint64_t now = dv_realtime_ns();
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	uint64_t left_ms;

	if (now >= deadline_ns)
		return -ETIMEDOUT;
	left_ms = (deadline_ns - now) / 1000000 + 1;
	poll(&pfd, 1, left_ms < DV_SINK_WAIT_MS ? (int)left_ms : DV_SINK_WAIT_MS);
	return 0;
}

/* The synced file's pages leave the page cache (see the top of this file).
 * A regular file only: for others it would do nothing. */
static void drop_synced(const struct dv_file_sink *f)
{
	if (f->regular)
		(void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED);
}

int dv_write_all(int fd, const void *p, size_t n, size_t *done)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		c += w;
		n -= (size_t)w;
		if (done != NULL)
			*done += (size_t)w;
	}
	return 0;
}

/* The thread's part of a direct flush (see the top): the bytes up to the
 * file's next block boundary through the page cache, the whole blocks after
 * it around it (what a file system that refuses leaves, through the page
 * cache too). */
static void job_write(struct dv_file_sink *f, struct dv_file_job *j)
{
	j->done = 0;
	j->err = dv_write_all(f->fd, j->p, j->head, &j->done);
	if (j->err == 0 && j->len > j->head) {
		j->err = fcntl(f->fd, F_SETFL, f->fd_flags | O_DIRECT) == 0
			     ? dv_write_all(f->fd, j->p + j->head, j->len - j->head, &j->done)
			     : -EINVAL;
		(void)fcntl(f->fd, F_SETFL, f->fd_flags);
		if (j->err == -EINVAL || j->err == -EOPNOTSUPP) {
			/* not this file system, or not this file's size: the page
			 * cache takes them (the caller stops trying) */
			j->refused = true;
			j->err = 0;
		}
	}
	if (j->err == 0)
		j->err = dv_write_all(f->fd, j->p + j->done, j->len - j->done, &j->done);
}

/* The background thread: writes the job handed to it (direct writes), and
 * when woken for a sync, fdatasyncs the file and lets its synced pages go. */
static void *syncer_main(void *arg)
{
	struct dv_file_sink *f = arg;

	pthread_mutex_lock(&f->sync_lock);
	for (;;) {
		int rc;

		struct dv_file_job *j = &f->job[f->written];

		while (!f->sync_wanted && !j->busy && !f->sync_stop)
			pthread_cond_wait(&f->sync_cond, &f->sync_lock);
		if (j->busy) {
			if (f->failed) { /* after a failed job: not one byte more */
				j->done = 0;
				j->err = -ECANCELED;
			} else {
				pthread_mutex_unlock(&f->sync_lock);
				pthread_mutex_lock(&f->fd_lock);
				job_write(f, j);
				pthread_mutex_unlock(&f->fd_lock);
				pthread_mutex_lock(&f->sync_lock);
				f->failed = j->err != 0;
			}
			j->busy = false;
			f->written = (f->written + 1) % DV_SINK_FILE_JOBS;
			pthread_cond_broadcast(&f->done_cond);
			continue;
		}
		if (f->sync_stop)
			break;
		f->sync_wanted = false;
		pthread_mutex_unlock(&f->sync_lock);
		pthread_mutex_lock(&f->fd_lock);
		rc = fdatasync(f->fd) == 0 ? 0 : -errno;
		if (rc == 0)
			drop_synced(f);
		pthread_mutex_unlock(&f->fd_lock);
		pthread_mutex_lock(&f->sync_lock);
		if (rc < 0 && rc != -EINVAL && rc != -EROFS && f->sync_err == 0)
			f->sync_err = rc;
	}
	pthread_mutex_unlock(&f->sync_lock);
	return NULL;
}

/* Ask for a background sync; without the syncer, start the writeback. */
static void wake_syncer(struct dv_file_sink *f)
{
	if (!f->syncer_on) {
		/* Asynchronous: only starts writing what is dirty. */
		(void)sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		return;
	}
	pthread_mutex_lock(&f->sync_lock);
	f->sync_wanted = true;
	pthread_cond_signal(&f->sync_cond);
	pthread_mutex_unlock(&f->sync_lock);
}

static void syncer_start(struct dv_file_sink *f)
{
	pthread_mutex_init(&f->sync_lock, NULL);
	pthread_mutex_init(&f->fd_lock, NULL);
	pthread_cond_init(&f->sync_cond, NULL);
	pthread_cond_init(&f->done_cond, NULL);
	f->syncer_on = pthread_create(&f->syncer, NULL, syncer_main, f) == 0;
	if (f->syncer_on)
		pthread_setname_np(f->syncer, "dv-file-sync");
}

static void syncer_stop(struct dv_file_sink *f)
{
	if (!f->syncer_on)
		return;
	pthread_mutex_lock(&f->sync_lock);
	f->sync_stop = true;
	pthread_cond_signal(&f->sync_cond);
	pthread_mutex_unlock(&f->sync_lock);
	pthread_join(f->syncer, NULL);
	f->syncer_on = false;
	pthread_cond_destroy(&f->sync_cond);
	pthread_cond_destroy(&f->done_cond);
	pthread_mutex_destroy(&f->fd_lock);
	pthread_mutex_destroy(&f->sync_lock);
}

/* n more bytes reached the fd. */
static void count_written(struct dv_file_sink *f, size_t n)
{
	f->sink.stats.bytes_out += n;
	f->unsynced = true;
}

/* n more bytes written or handed to the thread: the syncer is woken every
 * DV_SINK_FILE_KICK of them (after a job, it syncs once the job is written). */
static void kick_syncer(struct dv_file_sink *f, size_t n)
{
	f->unkicked += n;
	if (f->regular && f->unkicked >= DV_SINK_FILE_KICK) {
		wake_syncer(f);
		f->unkicked = 0;
	}
}

/* Rows that reached the fd: no longer pending. */
static void count_delivered(struct dv_file_sink *f, uint64_t rows)
{
	f->sink.stats.rows_delivered += rows;
	f->sink.stats.rows_pending -= rows;
}

/* A write failed: the rows in the buffer are lost. */
static void drop_buffered(struct dv_file_sink *f)
{
	f->sink.stats.rows_dropped += f->rows;
	f->sink.stats.rows_pending -= f->rows;
	f->rows = 0;
	f->len = 0;
	f->lead = 0;
	f->held_since = 0;
}

/* An empty buffer starts at the file's offset within its block. */
static void rebase(struct dv_file_sink *f)
{
	if (f->direct && f->len == 0)
		f->buf = f->mem[f->cur] + f->fpos % DV_SINK_DIO_ALIGN;
}

/* Whether the first n queued jobs have all ended, after waiting for them
 * with wait (the thread ends them in order). */
static bool jobs_ended(struct dv_file_sink *f, unsigned int n, bool wait)
{
	struct dv_file_job *j;
	bool busy;

	if (n == 0)
		return true;
	j = &f->job[(f->counted + n - 1) % DV_SINK_FILE_JOBS];
	pthread_mutex_lock(&f->sync_lock);
	while (wait && j->busy)
		pthread_cond_wait(&f->done_cond, &f->sync_lock);
	busy = j->busy;
	pthread_mutex_unlock(&f->sync_lock);
	return !busy;
}

/* The oldest queued job, which has ended, leaves the queue. */
static struct dv_file_job *job_dequeue(struct dv_file_sink *f)
{
	struct dv_file_job *j = &f->job[f->counted];

	f->counted = (f->counted + 1) % DV_SINK_FILE_JOBS;
	f->queued--;
	return j;
}

/* Job j failed: its unwritten rows, those of the jobs queued behind it
 * (which the thread ends unwritten) and everything buffered since are lost,
 * as with a write that fails (flush_buf). Returns its negative errno. */
static int job_failed(struct dv_file_sink *f, const struct dv_file_job *j)
{
	uint64_t rows = j->done > j->lead ? count_newlines(j->p + j->lead, j->done - j->lead) : 0;

	count_delivered(f, rows);
	f->rows += j->rows - rows;
	if (j->done > 0)
		f->ends_row = j->p[j->done - 1] == '\n';
	f->torn = !f->ends_row;
	f->fpos -= j->len - j->done;
	(void)jobs_ended(f, f->queued, true);
	while (f->queued > 0) {
		const struct dv_file_job *k = job_dequeue(f);

		f->rows += k->rows;
		f->fpos -= k->len;
	}
	pthread_mutex_lock(&f->sync_lock);
	f->failed = false;
	pthread_mutex_unlock(&f->sync_lock);
	drop_buffered(f);
	rebase(f);
	return j->err;
}

/*
 * Count the jobs the thread has ended, in the order they were handed over,
 * up to the first it has not; a refused one ends direct writes. Returns 0,
 * or the negative errno of one that failed (job_failed).
 */
static int jobs_reap(struct dv_file_sink *f)
{
	while (f->queued > 0 && jobs_ended(f, 1, false)) {
		const struct dv_file_job *j = job_dequeue(f);

		if (j->refused)
			f->direct = false;
		if (j->done > 0)
			count_written(f, j->done); /* (the syncer was kicked at the hand-over) */
		if (j->err != 0)
			return job_failed(f, j);
		count_delivered(f, j->rows);
		f->ends_row = j->p[j->len - 1] == '\n';
	}
	return 0;
}

/*
 * A full buffer with direct writes (see the top): up to its last block
 * boundary it goes to the thread, and the rest to the other buffer. The
 * job before has been counted. The syncer is woken for every
 * DV_SINK_FILE_KICK handed over (it syncs after the job).
 */
static void hand_over(struct dv_file_sink *f)
{
	struct dv_file_job *j = &f->job[f->cur];
	unsigned int nx = (f->cur + 1) % DV_SINK_FILE_JOBS;
	size_t start = f->fpos % DV_SINK_DIO_ALIGN, n = start + f->len;
	char *next;

	if (n < DV_SINK_DIO_ALIGN)
		return;
	n = n / DV_SINK_DIO_ALIGN * DV_SINK_DIO_ALIGN - start;
	j->p = f->buf;
	j->len = n;
	j->head = (DV_SINK_DIO_ALIGN - start) % DV_SINK_DIO_ALIGN;
	j->lead = f->lead;
	j->rows = f->rows - count_newlines(f->buf + n, f->len - n); /* (the rest is short) */
	j->done = 0;
	j->err = 0;
	j->refused = false;
	next = f->mem[nx] + (start + n) % DV_SINK_DIO_ALIGN;
	memcpy(next, f->buf + n, f->len - n);
	f->cur = nx;
	f->queued++;
	f->buf = next;
	f->len -= n;
	f->lead = 0;
	f->rows -= j->rows;
	f->fpos += n;
	f->torn = false; /* its '\n' is in the job */
	pthread_mutex_lock(&f->sync_lock);
	j->busy = true;
	pthread_cond_signal(&f->sync_cond);
	pthread_mutex_unlock(&f->sync_lock);
	kick_syncer(f, n);
}

/*
 * Write the buffer out through fd. Short writes and EINTR are retried. If
 * the fd is non-blocking and full, wait only when told to (until
 * deadline_ns) and keep the rest buffered otherwise. Any other error drops
 * what is left. Returns 0 when the buffer is empty, -EAGAIN or -ETIMEDOUT
 * with rows still buffered, or the negative errno of the failed write.
 */
static int write_out(struct dv_file_sink *f, bool wait, uint64_t deadline_ns)
{
	size_t off = 0, done_rows;
	int rc = 0;

	while (off < f->len) {
		ssize_t n = write(f->fd, f->buf + off, f->len - off);

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			rc = wait ? wait_writable(f->fd, deadline_ns) : -EAGAIN;
			if (rc == 0)
				continue;
			break;
		}
		rc = -errno;
		break;
	}

	if (off > 0) {
		count_written(f, off);
		kick_syncer(f, off);
		f->ends_row = f->buf[off - 1] == '\n';
	}
	f->fpos += off;
	if (off == f->len)
		done_rows = f->rows;
	else
		done_rows = off > f->lead ? count_newlines(f->buf + f->lead, off - f->lead) : 0;
	count_delivered(f, done_rows);
	f->rows -= done_rows;

	if (rc == 0)
		f->held_since = 0;
	if (rc == 0 || rc == -EAGAIN || rc == -ETIMEDOUT) {
		/* Keep the rest (possibly the tail of a row) for the next try. */
		if (off > 0) {
			memmove(f->buf, f->buf + off, f->len - off);
			f->len -= off;
			f->lead = off >= f->lead ? 0 : f->lead - off;
			f->torn = false;
		}
		rebase(f);
		return rc;
	}

	/* Hard error: what is left is lost. */
	if (off > 0)
		f->torn = f->buf[off - 1] != '\n';
	drop_buffered(f);
	rebase(f);
	return rc;
}

/*
 * Write the buffer out. With direct writes, after the thread's job (waiting
 * for it only with wait: -EAGAIN otherwise), which is counted: a full buffer
 * (keep_tail) goes to the thread (hand_over), and any other flush, which
 * must reach the fd before it returns, through the page cache. Else, and
 * then, write_out(), whose returns these are.
 */
static int flush_buf(struct dv_file_sink *f, bool wait, uint64_t deadline_ns, bool keep_tail)
{
	if (f->direct || f->queued > 0) {
		int rc = jobs_reap(f);

		if (rc < 0)
			return rc;
		if (f->direct && keep_tail) {
			/* the next buffer is the oldest job's when all are queued */
			if (f->queued == DV_SINK_FILE_JOBS - 1) {
				if (!jobs_ended(f, 1, wait))
					return -EAGAIN;
				if ((rc = jobs_reap(f)) < 0)
					return rc;
			}
			if (f->direct) {
				hand_over(f);
				return 0;
			}
		}
		/* through the fd itself: after every job */
		if (!jobs_ended(f, f->queued, wait))
			return -EAGAIN;
		if ((rc = jobs_reap(f)) < 0)
			return rc;
	}
	return write_out(f, wait, deadline_ns);
}

static int do_fsync(struct dv_file_sink *f)
{
	int bg = 0;

	if (f->syncer_on) {
		pthread_mutex_lock(&f->sync_lock);
		bg = f->sync_err;
		f->sync_err = 0;
		pthread_mutex_unlock(&f->sync_lock);
	}
	if (f->path == NULL || (!f->unsynced && bg == 0))
		return 0;
	/* A pipe, FIFO or /dev/null cannot be synced (EINVAL); nothing is lost. */
	if (fsync(f->fd) != 0 && errno != EINVAL && errno != EROFS)
		return -errno;
	drop_synced(f);
	f->unsynced = false;
	return bg;
}

static int sink_write(struct dv_sink *s, const struct dv_export_rec *rec, const char *row,
		      size_t len)
{
	struct dv_file_sink *f = to_file(s);
	size_t need = len + 1 + (f->torn ? 1 : 0);

	(void)rec;
	s->stats.rows_in++;
	if (need > DV_SINK_FILE_BUF) {
		s->stats.rows_dropped++;
		return -EMSGSIZE;
	}
	if (f->len + need > DV_SINK_FILE_BUF) {
		/* Wait for a slow reader rather than lose rows; on a hard error
		 * this row is dropped with the buffered ones (dv_sink.h: an error
		 * return means the row was counted as dropped). */
		int rc = flush_buf(f, true, UINT64_MAX, true);

		if (rc < 0) {
			s->stats.rows_dropped++;
			return rc;
		}
	}
	if (f->torn && f->len == 0) {
		f->buf[f->len++] = '\n';
		f->lead = 1;
	}
	memcpy(f->buf + f->len, row, len);
	f->len += len;
	f->buf[f->len++] = '\n';
	f->rows++;
	s->stats.rows_pending++;
	return 0;
}

static int sink_poll(struct dv_sink *s, uint64_t now_ns)
{
	struct dv_file_sink *f = to_file(s);
	int rc = jobs_reap(f);

	if (rc < 0)
		return rc;
	if (f->len > 0) {
		if (f->held_since == 0)
			f->held_since = now_ns;
		if (now_ns - f->held_since >= DV_SINK_FILE_HOLD_NS)
			rc = flush_buf(f, false, 0, false);
	}
	if (rc == -EAGAIN)
		rc = 0; /* the fd is busy; the rows wait for the next poll */
	if (rc < 0)
		return rc;
	if (f->sync_interval_ns > 0 && now_ns - f->last_sync_ns >= f->sync_interval_ns) {
		f->last_sync_ns = now_ns;
		return do_fsync(f);
	}
	return 0;
}

static int sink_drain(struct dv_sink *s, uint64_t deadline_ns)
{
	struct dv_file_sink *f = to_file(s);
	int rc = flush_buf(f, true, deadline_ns, false);

	if (rc < 0)
		return rc;
	return do_fsync(f);
}

static int open_output(const char *path)
{
	int fd;

	do
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

static bool is_regular(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

/* Direct writes (see the top) for f->fd when it is a regular file whose
 * file system takes O_DIRECT and the thread runs; the buffer rebased at
 * the file's size. Called with nothing buffered. */
static void direct_start(struct dv_file_sink *f)
{
	struct stat st;

	f->direct = false;
	f->fd_flags = fcntl(f->fd, F_GETFL);
	if (!f->regular || !f->syncer_on || f->fd_flags < 0 || fstat(f->fd, &st) != 0)
		return;
	f->fd_flags &= ~O_DIRECT;
	if (fcntl(f->fd, F_SETFL, f->fd_flags | O_DIRECT) != 0)
		return;
	(void)fcntl(f->fd, F_SETFL, f->fd_flags);
	f->direct = true;
	f->fpos = (uint64_t)st.st_size;
	f->ends_row = true;
	rebase(f);
}

static int sink_reopen(struct dv_sink *s)
{
	struct dv_file_sink *f = to_file(s);
	struct stat old_st, new_st;
	int rc, sync_rc, fd;

	/* Rows written before the rotation belong in the old file. */
	rc = flush_buf(f, true, UINT64_MAX, false);
	sync_rc = do_fsync(f);
	if (rc == 0)
		rc = sync_rc;

	fd = open_output(f->path);
	if (fd < 0)
		return fd; /* keep writing to the old file rather than nowhere */
	if (fstat(f->fd, &old_st) == 0 && fstat(fd, &new_st) == 0 &&
	    (old_st.st_dev != new_st.st_dev || old_st.st_ino != new_st.st_ino))
		f->torn = false; /* a torn line stays behind in the old file */
	if (f->syncer_on)
		pthread_mutex_lock(&f->fd_lock);
	close(f->fd);
	f->fd = fd;
	f->regular = is_regular(fd); /* the syncer reads it with fd (drop_synced) */
	if (f->syncer_on)
		pthread_mutex_unlock(&f->fd_lock);
	direct_start(f);
	f->unkicked = 0;
	f->unsynced = false;
	f->last_sync_ns = dv_realtime_ns();
	return rc;
}

static void sink_destroy(struct dv_sink *s)
{
	struct dv_file_sink *f;

	if (s == NULL)
		return;
	f = to_file(s);
	/* The caller drained; this only saves what a careless caller left. */
	if (f->len > 0)
		flush_buf(f, true, dv_realtime_ns() + DV_NS_PER_SEC, false);
	if (f->path != NULL) {
		syncer_stop(f);
		do_fsync(f);
		close(f->fd);
	}
	free(f->path);
	buffers_unmap(f);
	free(f);
}

static const struct dv_sink_ops dv_stdout_ops = {
    .write = sink_write,
    .poll = sink_poll,
    .drain = sink_drain,
    .reopen = NULL,
    .destroy = sink_destroy,
};

static const struct dv_sink_ops dv_file_ops = {
    .write = sink_write,
    .poll = sink_poll,
    .drain = sink_drain,
    .reopen = sink_reopen,
    .destroy = sink_destroy,
};

static struct dv_file_sink *sink_alloc(const char *name, const struct dv_sink_ops *ops, char *err,
				       size_t errlen)
{
	struct dv_file_sink *f = calloc(1, sizeof(*f));

	if (f != NULL && buffers_map(f) == 0)
		f->buf = f->mem[0];
	if (f == NULL || f->buf == NULL) {
		free(f);
		set_err(err, errlen, "sink", name, ENOMEM);
		return NULL;
	}
	f->sink.name = name;
	f->sink.ops = ops;
	f->sink.priv = f;
	f->fd = -1;
	return f;
}

struct dv_sink *dv_sink_stdout_create(char *err, size_t errlen)
{
	struct dv_file_sink *f = sink_alloc("stdout", &dv_stdout_ops, err, errlen);

	if (f == NULL)
		return NULL;
	f->fd = STDOUT_FILENO;
	return &f->sink;
}

struct dv_sink *dv_sink_file_create(const char *path, uint64_t sync_interval_ns, char *err,
				    size_t errlen)
{
	struct dv_file_sink *f;
	int fd;

	if (path == NULL || *path == '\0') {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "file sink: no output path");
		return NULL;
	}
	f = sink_alloc("file", &dv_file_ops, err, errlen);
	if (f == NULL)
		return NULL;
	f->path = strdup(path);
	fd = f->path != NULL ? open_output(path) : -ENOMEM;
	if (fd < 0) {
		set_err(err, errlen, "cannot open", path, -fd);
		free(f->path);
		buffers_unmap(f);
		free(f);
		return NULL;
	}
	f->fd = fd;
	f->regular = is_regular(fd);
	f->sync_interval_ns = sync_interval_ns;
	f->last_sync_ns = dv_realtime_ns();
	syncer_start(f);
	direct_start(f);
	return &f->sink;
}
