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
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Longest wait for a non-blocking fd to become writable before looking at
 * the deadline again. */
#define DV_SINK_WAIT_MS 100

struct dv_file_sink {
	struct dv_sink sink; /* first, so a struct dv_sink * is one of these */
	int fd;
	char *path; /* NULL for stdout */
	uint64_t sync_interval_ns;
	uint64_t last_sync_ns;
	bool unsynced;	   /* bytes reached the fd since the last fsync */
	bool regular;	   /* the fd is a regular file: it is synced in the background */
	uint64_t unkicked; /* bytes written since the syncer was last woken */
	bool torn;	   /* the fd ends inside a row; the next bytes start with '\n' */
	char *buf;
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
	pthread_mutex_t fd_lock; /* held by the syncer while it syncs fd, by reopen to swap it */
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

/* The background syncer: waits to be woken, then fdatasyncs the file and
 * lets its synced pages go. */
static void *syncer_main(void *arg)
{
	struct dv_file_sink *f = arg;

	pthread_mutex_lock(&f->sync_lock);
	for (;;) {
		int rc;

		while (!f->sync_wanted && !f->sync_stop)
			pthread_cond_wait(&f->sync_cond, &f->sync_lock);
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
	pthread_mutex_destroy(&f->fd_lock);
	pthread_mutex_destroy(&f->sync_lock);
}

/*
 * Write the buffer out. Short writes and EINTR are retried. If the fd is
 * non-blocking and full, wait only when told to (until deadline_ns) and keep
 * the rest buffered otherwise. Any other error drops what is left.
 * Returns 0 when the buffer is empty, -EAGAIN or -ETIMEDOUT with rows still
 * buffered, or the negative errno of the failed write.
 */
static int flush_buf(struct dv_file_sink *f, bool wait, uint64_t deadline_ns)
{
	struct dv_sink_stats *st = &f->sink.stats;
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
		st->bytes_out += off;
		f->unsynced = true;
		f->unkicked += off;
		if (f->regular && f->unkicked >= DV_SINK_FILE_KICK) {
			wake_syncer(f);
			f->unkicked = 0;
		}
	}
	done_rows = off > f->lead ? count_newlines(f->buf + f->lead, off - f->lead) : 0;
	st->rows_delivered += done_rows;
	st->rows_pending -= done_rows;
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
		return rc;
	}

	/* Hard error: what is left is lost. */
	if (off > 0)
		f->torn = f->buf[off - 1] != '\n';
	st->rows_dropped += f->rows;
	st->rows_pending -= f->rows;
	f->rows = 0;
	f->len = 0;
	f->lead = 0;
	f->held_since = 0;
	return rc;
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
		int rc = flush_buf(f, true, UINT64_MAX);

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
	int rc = 0;

	if (f->len > 0) {
		if (f->held_since == 0)
			f->held_since = now_ns;
		if (now_ns - f->held_since >= DV_SINK_FILE_HOLD_NS)
			rc = flush_buf(f, false, 0);
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
	int rc = flush_buf(f, true, deadline_ns);

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

static int sink_reopen(struct dv_sink *s)
{
	struct dv_file_sink *f = to_file(s);
	struct stat old_st, new_st;
	int rc, sync_rc, fd;

	/* Rows written before the rotation belong in the old file. */
	rc = flush_buf(f, true, UINT64_MAX);
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
		flush_buf(f, true, dv_realtime_ns() + DV_NS_PER_SEC);
	if (f->path != NULL) {
		syncer_stop(f);
		do_fsync(f);
		close(f->fd);
	}
	free(f->path);
	free(f->buf);
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

	if (f != NULL)
		f->buf = malloc(DV_SINK_FILE_BUF);
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
		free(f->buf);
		free(f);
		return NULL;
	}
	f->fd = fd;
	f->regular = is_regular(fd);
	f->sync_interval_ns = sync_interval_ns;
	f->last_sync_ns = dv_realtime_ns();
	syncer_start(f);
	return &f->sink;
}
