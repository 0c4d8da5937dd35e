/*
 * test_sink_file: the stdout and NDJSON file sinks.
 *
 * Rows here are synthetic lines of known length (the sink does not look
 * inside them), so every expected byte count and line is computed by the
 * test from what it wrote. Errors come from the kernel: /dev/full for
 * ENOSPC, and RLIMIT_FSIZE for a write that stops in the middle of a row.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "dv_sink.h"
#include "dv_time.h"

static char tmpdir[64];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/dv-test-sink-XXXXXX");
	umask(022);
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* After a test that lowers the file size limit: raised again even when
 * the test failed half way. */
static int raise_fsize(void **state)
{
	struct rlimit lim;

	(void)state;
	if (getrlimit(RLIMIT_FSIZE, &lim) != 0)
		return -1;
	lim.rlim_cur = lim.rlim_max;
	return setrlimit(RLIMIT_FSIZE, &lim);
}

static void path_in_tmp(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* Row i: a JSON object whose length varies with i (40 to 139 bytes). */
static size_t make_row(char *buf, unsigned int i)
{
	int n = snprintf(buf, 256, "{\"row\":%u,\"pad\":\"", i);

	for (unsigned int k = 0; k < (i * 7) % 100; k++)
		buf[n++] = 'a' + (char)(k % 26);
	n += snprintf(buf + n, 256 - (size_t)n, "\"}");
	while (n < 40)
		buf[n++] = ' ';
	buf[n] = '\0';
	return (size_t)n;
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static size_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (size_t)st.st_size;
}

/* Check that text is exactly rows first..first+n-1, one per line. */
static void check_rows(const char *text, size_t len, unsigned int first, unsigned int n)
{
	char row[256];
	size_t off = 0;

	for (unsigned int i = first; i < first + n; i++) {
		size_t rl = make_row(row, i);

		assert_true(off + rl + 1 <= len);
		assert_memory_equal(text + off, row, rl);
		assert_int_equal(text[off + rl], '\n');
		off += rl + 1;
	}
	assert_int_equal(off, len);
}

static void check_accounting(const struct dv_sink_stats *st)
{
	assert_int_equal(st->rows_in, st->rows_delivered + st->rows_pending + st->rows_dropped);
}

static uint64_t write_rows(struct dv_sink *s, unsigned int first, unsigned int n)
{
	char row[256];
	uint64_t bytes = 0;

	for (unsigned int i = first; i < first + n; i++) {
		size_t len = make_row(row, i);

		assert_int_equal(dv_sink_write(s, NULL, row, len), 0);
		bytes += len + 1;
	}
	return bytes;
}

/* The program's fdatasync() calls (the sink's background syncs), counted
 * here (an executable's own definition comes before libc's), and an error
 * to give them instead of the kernel's answer. */
static unsigned int background_syncs;
static int background_sync_errno;

int fdatasync(int fd)
{
	/* read before the count: a sync counted has used the error set before */
	int e = __atomic_load_n(&background_sync_errno, __ATOMIC_RELAXED);

	__atomic_add_fetch(&background_syncs, 1, __ATOMIC_SEQ_CST);
	if (e != 0) {
		errno = e;
		return -1;
	}
	return (int)syscall(SYS_fdatasync, fd);
}

/* Wait up to 2 s for the background syncs to reach n. */
static unsigned int wait_background_syncs(unsigned int n)
{
	for (int i = 0; i < 200 && __atomic_load_n(&background_syncs, __ATOMIC_RELAXED) < n; i++)
		usleep(10000);
	return __atomic_load_n(&background_syncs, __ATOMIC_RELAXED);
}

/* A file sink on name in the test directory (its path in path[128]),
 * given rows until at least want bytes (their count in *bytes), the
 * background syncs counted from 0. */
static struct dv_sink *file_sink_given(const char *name, uint64_t want, char *path, uint64_t *bytes)
{
	char err[256];
	struct dv_sink *s;

	path_in_tmp(path, 128, name);
	s = dv_sink_file_create(path, 0, err, sizeof(err));
	assert_non_null(s);
	background_syncs = 0;
	*bytes = 0;
	for (unsigned int i = 0; *bytes < want; i += 1000)
		*bytes += write_rows(s, i, 1000);
	return s;
}

/* A regular file is synced in the background after every 8 MiB written (so
 * the fsyncs wait only for the tail); a device never. */
static void test_background_sync(void **state)
{
	const uint64_t kick = 8u << 20;
	char path[128], err[256];
	struct dv_sink *s;
	uint64_t bytes;

	(void)state;
	s = file_sink_given("kick.ndjson", 20u << 20, path, &bytes);
	/* Woken after the first 8 MiB and after every 8 more (give or take a
	 * 1 MiB piece); wakes that come while it syncs count once. */
	assert_true(wait_background_syncs(1) >= 1);
	assert_true(background_syncs <= bytes / kick);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), 0);
	assert_int_equal(s->stats.bytes_out, bytes);
	assert_int_equal(file_size(path), bytes);
	s->ops->destroy(s);

	s = dv_sink_file_create("/dev/null", 0, err, sizeof(err));
	assert_non_null(s);
	background_syncs = 0;
	write_rows(s, 0, 250000);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), 0);
	assert_int_equal(wait_background_syncs(1), 0);
	s->ops->destroy(s);
}

/* Pages of the file at path (its first len bytes) in the page cache now. */
static size_t resident_pages(const char *path, size_t len, size_t *pages)
{
	long psz = sysconf(_SC_PAGESIZE);
	int fd = open(path, O_RDONLY);
	unsigned char *vec;
	size_t n = 0;
	void *map;

	assert_true(fd >= 0);
	*pages = (len + (size_t)psz - 1) / (size_t)psz;
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	vec = malloc(*pages);
	assert_non_null(vec);
	assert_int_equal(mincore(map, len, vec), 0);
	for (size_t i = 0; i < *pages; i++)
		n += vec[i] & 1;
	free(vec);
	munmap(map, len);
	close(fd);
	return n;
}

/* Rows written at a poll, in pieces of about 64 KiB: every piece reaches
 * the file through the page cache before the poll returns (with direct
 * writes too: only a full buffer goes around the cache). */
static uint64_t write_by_polls(struct dv_sink *s, uint64_t want)
{
	uint64_t bytes = 0, now = dv_realtime_ns();

	for (unsigned int i = 0; bytes < want; i += 700) {
		bytes += write_rows(s, i, 700);
		now += DV_SINK_FILE_HOLD_NS;
		assert_int_equal(s->ops->poll(s, now), 0);
		assert_int_equal(s->ops->poll(s, now + DV_SINK_FILE_HOLD_NS), 0);
		assert_int_equal(s->stats.rows_pending, 0);
	}
	return bytes;
}

/* Rows once synced leave the page cache: 40 MiB written through it (at
 * polls), drained (the last fsync), and at most an eighth of the file's
 * pages are still cached (without the drop, all of them are: nothing else
 * asks for the memory). A tmpfs cannot drop a page it holds: there the
 * check is skipped. */
static void test_synced_pages_leave_the_cache(void **state)
{
	struct statfs fs;
	char path[128];
	struct dv_sink *s;
	uint64_t bytes;
	size_t pages, cached;

	(void)state;
	assert_int_equal(statfs(tmpdir, &fs), 0);
	if (fs.f_type == TMPFS_MAGIC) {
		print_message("%s is a tmpfs: pages cannot leave its cache\n", tmpdir);
		skip();
	}
	path_in_tmp(path, sizeof(path), "cache.ndjson");
	s = dv_sink_file_create(path, 0, NULL, 0);
	assert_non_null(s);
	bytes = write_by_polls(s, 40u << 20);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), 0);
	assert_int_equal(file_size(path), bytes);
	cached = resident_pages(path, bytes, &pages);
	print_message("%zu of %zu pages cached after the drain\n", cached, pages);
	assert_true(cached <= pages / 8);
	s->ops->destroy(s);
}

/* A background sync that fails is not forgotten: the next fsync (here the
 * drain's) returns its error, though the kernel would not say it again. */
static void test_background_sync_error_returned(void **state)
{
	char path[128];
	struct dv_sink *s;
	uint64_t bytes;

	(void)state;
	__atomic_store_n(&background_sync_errno, EIO, __ATOMIC_RELAXED);
	s = file_sink_given("kick-eio.ndjson", 9u << 20, path, &bytes);
	assert_true(wait_background_syncs(1) >= 1);
	__atomic_store_n(&background_sync_errno, 0, __ATOMIC_RELAXED);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), -EIO);
	/* returned once: the next drain is clean */
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), 0);
	s->ops->destroy(s);
}

/* Enough rows to fill the buffer several times, read back byte for byte. */
static void test_file_roundtrip(void **state)
{
	const unsigned int n = 40000; /* about 3.6 MB */
	char path[128], err[256];
	struct dv_sink *s;
	uint64_t bytes;
	size_t len;
	char *text;
	struct stat st;

	(void)state;
	path_in_tmp(path, sizeof(path), "roundtrip.ndjson");
	s = dv_sink_file_create(path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s->name, "file");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);

	bytes = write_rows(s, 0, n);
	/* full buffers go out without a drain (the sink's thread writes them
	 * when direct writes work here), the rest waits for the drain */
	for (int i = 0; i < 200 && file_size(path) == 0; i++)
		usleep(10000);
	assert_true(file_size(path) > 0);
	assert_true(file_size(path) < bytes);
	check_accounting(&s->stats);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), 0);

	assert_int_equal(s->stats.rows_in, n);
	assert_int_equal(s->stats.rows_delivered, n);
	assert_int_equal(s->stats.rows_pending, 0);
	assert_int_equal(s->stats.rows_dropped, 0);
	assert_int_equal(s->stats.bytes_out, bytes);
	text = read_all(path, &len);
	assert_int_equal(len, bytes);
	check_rows(text, len, 0, n);
	free(text);
	s->ops->destroy(s);
}

/* Poll s as the rows it holds come, then once they have waited long
 * enough to be written out; returns the second poll's result. */
static int poll_after_hold(struct dv_sink *s)
{
	uint64_t now = dv_realtime_ns();

	assert_int_equal(s->ops->poll(s, now), 0);
	return s->ops->poll(s, now + DV_SINK_FILE_HOLD_NS);
}

/* poll() writes buffered rows out once the oldest has waited
 * DV_SINK_FILE_HOLD_NS (by the times it is given); an existing file is
 * appended to. */
static void test_poll_and_append(void **state)
{
	char path[128], err[256];
	struct dv_sink *s;
	uint64_t b1, b2, now = dv_realtime_ns();
	size_t len;
	char *text;

	(void)state;
	path_in_tmp(path, sizeof(path), "append.ndjson");
	s = dv_sink_file_create(path, DV_NS_PER_SEC, err, sizeof(err));
	assert_non_null(s);
	b1 = write_rows(s, 0, 3);
	assert_int_equal(file_size(path), 0); /* buffered */
	assert_int_equal(s->stats.rows_pending, 3);
	assert_int_equal(s->ops->poll(s, now), 0);
	assert_int_equal(s->ops->poll(s, now + DV_SINK_FILE_HOLD_NS - 1), 0);
	assert_int_equal(file_size(path), 0); /* held: the rows came under 100 ms ago */
	assert_int_equal(s->stats.rows_pending, 3);
	assert_int_equal(s->ops->poll(s, now + DV_SINK_FILE_HOLD_NS), 0);
	assert_int_equal(file_size(path), b1);
	assert_int_equal(s->stats.rows_delivered, 3);
	assert_int_equal(s->stats.rows_pending, 0);
	/* the hold starts again with the next rows; a poll past the sync
	 * interval writes and fsyncs them, which must succeed on a file */
	b2 = write_rows(s, 3, 2);
	assert_int_equal(s->ops->poll(s, now + 2 * DV_SINK_FILE_HOLD_NS), 0);
	assert_int_equal(file_size(path), b1);
	assert_int_equal(s->ops->poll(s, now + 2 * DV_NS_PER_SEC), 0);
	b1 += b2;
	assert_int_equal(file_size(path), b1);
	assert_int_equal(s->ops->drain(s, now + 3 * DV_NS_PER_SEC), 0);
	s->ops->destroy(s);

	/* a second sink on the same path appends after the first's rows */
	s = dv_sink_file_create(path, 0, err, sizeof(err));
	assert_non_null(s);
	b2 = write_rows(s, 5, 4);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), 0);
	s->ops->destroy(s);
	text = read_all(path, &len);
	assert_int_equal(len, b1 + b2);
	check_rows(text, len, 0, 9);
	free(text);
}

/* Log rotation: rename the file, reopen, and later rows go to the new one. */
static void test_reopen_after_rename(void **state)
{
	char path[128], rotated[128], err[256];
	struct dv_sink *s;
	size_t len;
	char *text;

	(void)state;
	path_in_tmp(path, sizeof(path), "rot.ndjson");
	path_in_tmp(rotated, sizeof(rotated), "rot.ndjson.1");
	s = dv_sink_file_create(path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_non_null(s->ops->reopen);
	write_rows(s, 0, 5);
	assert_int_equal(poll_after_hold(s), 0);
	assert_int_equal(rename(path, rotated), 0);
	/* rows written before the reopen still belong to the old file */
	write_rows(s, 5, 3);
	assert_int_equal(s->ops->reopen(s), 0);
	write_rows(s, 8, 4);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), 0);
	assert_int_equal(s->stats.rows_delivered, 12);
	check_accounting(&s->stats);
	s->ops->destroy(s);

	text = read_all(rotated, &len);
	check_rows(text, len, 0, 8);
	free(text);
	text = read_all(path, &len);
	check_rows(text, len, 8, 4);
	free(text);
}

/* A reopen that cannot open the path keeps writing to the old file. */
static void test_reopen_failure_keeps_old_fd(void **state)
{
	char dir[128], path[128], moved[128], err[256];
	struct dv_sink *s;
	size_t len;
	char *text;

	(void)state;
	path_in_tmp(dir, sizeof(dir), "gone");
	path_in_tmp(moved, sizeof(moved), "moved.ndjson");
	assert_int_equal(mkdir(dir, 0700), 0);
	path_in_tmp(path, sizeof(path), "gone/x.ndjson");
	s = dv_sink_file_create(path, 0, err, sizeof(err));
	assert_non_null(s);
	write_rows(s, 0, 2);
	/* move the file away and remove its directory: the path cannot open */
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(s->ops->reopen(s), -ENOENT);
	write_rows(s, 2, 2);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), 0);
	assert_int_equal(s->stats.rows_delivered, 4);
	s->ops->destroy(s);
	text = read_all(moved, &len);
	check_rows(text, len, 0, 4);
	free(text);
}

/* /dev/full: every write fails with ENOSPC; rows are counted as dropped. */
static void test_dev_full(void **state)
{
	char err[256], row[256];
	struct dv_sink *s;
	unsigned int i, failed_at = 0;
	size_t len;
	int rc;

	(void)state;
	s = dv_sink_file_create("/dev/full", 0, err, sizeof(err));
	assert_non_null(s);
	write_rows(s, 0, 10);
	assert_int_equal(poll_after_hold(s), -ENOSPC);
	assert_int_equal(s->stats.rows_dropped, 10);
	assert_int_equal(s->stats.rows_delivered, 0);
	assert_int_equal(s->stats.rows_pending, 0);
	assert_int_equal(s->stats.bytes_out, 0);

	/* The write that finds the buffer full reports the error and drops the
	 * buffered rows and its own. */
	for (i = 10; i < 100000 && failed_at == 0; i++) {
		len = make_row(row, i);
		rc = dv_sink_write(s, NULL, row, len);
		if (rc != 0) {
			assert_int_equal(rc, -ENOSPC);
			failed_at = i;
		}
	}
	assert_true(failed_at > 1000);
	assert_int_equal(s->stats.rows_in, failed_at + 1);
	assert_int_equal(s->stats.rows_dropped, failed_at + 1);
	assert_int_equal(s->stats.rows_pending, 0);
	write_rows(s, 0, 3);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), -ENOSPC);
	assert_int_equal(s->stats.rows_dropped, failed_at + 4);
	assert_int_equal(s->stats.rows_delivered, 0);
	check_accounting(&s->stats);
	s->ops->destroy(s);
}

/*
 * A file size limit makes the kernel stop a write inside the third row
 * (a short write) and fail the next one with EFBIG. The two whole rows are
 * delivered, the rest dropped, and once writing works again the next row
 * starts on a line of its own after the torn one.
 */
static void test_torn_row(void **state)
{
	char path[128], err[256], row[256];
	struct dv_sink *s;
	struct rlimit old, lim;
	size_t r0, r1, r2, r5, len, cut;
	char *text;

	(void)state;
	path_in_tmp(path, sizeof(path), "torn.ndjson");
	r0 = make_row(row, 0) + 1;
	r1 = make_row(row, 1) + 1;
	r2 = make_row(row, 2) + 1;
	cut = r0 + r1 + r2 / 2;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = cut;

	s = dv_sink_file_create(path, 0, err, sizeof(err));
	assert_non_null(s);
	write_rows(s, 0, 5);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), -EFBIG);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(s->stats.rows_delivered, 2);
	assert_int_equal(s->stats.rows_dropped, 3);
	assert_int_equal(s->stats.bytes_out, cut);

	r5 = make_row(row, 5);
	assert_int_equal(dv_sink_write(s, NULL, row, r5), 0);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), 0);
	assert_int_equal(s->stats.rows_delivered, 3);
	assert_int_equal(s->stats.bytes_out, cut + 1 + r5 + 1);
	check_accounting(&s->stats);
	s->ops->destroy(s);

	text = read_all(path, &len);
	assert_int_equal(len, cut + 1 + r5 + 1);
	check_rows(text, r0 + r1, 0, 2);
	make_row(row, 2);
	assert_memory_equal(text + r0 + r1, row, r2 / 2); /* the torn part */
	assert_int_equal(text[cut], '\n');
	check_rows(text + cut + 1, r5 + 1, 5, 1);
	free(text);
}

/* Whether the file system under the test directory takes O_DIRECT. */
static bool direct_io_here(void)
{
	char path[128];
	int fd;

	path_in_tmp(path, sizeof(path), "direct-probe");
	fd = open(path, O_WRONLY | O_CREAT | O_DIRECT, 0600);
	if (fd < 0) {
		print_message("%s takes no O_DIRECT: direct writes are not tried\n", tmpdir);
		return false;
	}
	close(fd);
	unlink(path);
	return true;
}

/* How many of rows 0, 1, ... end within the first bytes of a file. */
static uint64_t rows_within(uint64_t bytes)
{
	char row[256];
	uint64_t off = 0, n = 0;

	while (off + make_row(row, (unsigned int)n) + 1 <= bytes)
		off += make_row(row, (unsigned int)n++) + 1;
	return n;
}

/* Poll s (at a time it was given rows, so nothing is flushed for the hold)
 * until at least least bytes are written and the file holds bytes_out
 * bytes (the thread writes the full buffers queued to it one by one);
 * returns bytes_out. */
static uint64_t poll_until_written(struct dv_sink *s, const char *path, uint64_t now,
				   uint64_t least)
{
	for (int i = 0; i < 200; i++) {
		assert_int_equal(s->ops->poll(s, now), 0);
		if (s->stats.bytes_out >= least && file_size(path) == s->stats.bytes_out)
			break;
		usleep(10000);
	}
	return s->stats.bytes_out;
}

/* Drain s, which was given rows before..n-1 (rows 0..before-1, in
 * before_bytes, were in its file already), destroy it, and check that the
 * file holds rows 0..n-1 in bytes bytes, once each. */
static void drain_and_read_back(struct dv_sink *s, const char *path, unsigned int before,
				uint64_t before_bytes, unsigned int n, uint64_t bytes)
{
	size_t len;
	char *text;

	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), 0);
	assert_int_equal(s->stats.rows_delivered, n - before);
	assert_int_equal(s->stats.bytes_out, bytes - before_bytes);
	check_accounting(&s->stats);
	s->ops->destroy(s);
	text = read_all(path, &len);
	assert_int_equal(len, bytes);
	check_rows(text, len, 0, n);
	free(text);
}

/*
 * Full buffers go around the page cache: 6 MiB of rows given (below the
 * 8 MiB of a background sync, whose drop would hide the difference), the
 * full buffers written by the sink's thread, and none of the file's pages
 * is cached (written through the cache, all of them are). The rows read
 * back whole after the drain.
 */
static void test_full_buffers_go_around_the_cache(void **state)
{
	char path[128];
	struct dv_sink *s;
	uint64_t bytes = 0, written, now = dv_realtime_ns();
	size_t pages, cached;
	unsigned int n = 0;

	(void)state;
	if (!direct_io_here())
		skip();
	path_in_tmp(path, sizeof(path), "direct.ndjson");
	s = dv_sink_file_create(path, 0, NULL, 0);
	assert_non_null(s);
	for (; bytes < (6u << 20); n += 1000)
		bytes += write_rows(s, n, 1000);
	/* every full buffer: all but the last MiB or so */
	written = poll_until_written(s, path, now, 4u << 20);
	assert_true(written >= (4u << 20));
	/* delivered: the rows whose newline is in the file */
	assert_int_equal(s->stats.rows_delivered, rows_within(written));
	assert_int_equal(s->stats.rows_pending, n - rows_within(written));
	cached = resident_pages(path, written, &pages);
	print_message("%zu of %zu pages cached before the drain\n", cached, pages);
	assert_true(cached <= 1);
	drain_and_read_back(s, path, 0, 0, n, bytes);
}

/*
 * Direct writes start at any size of the file: a file that ends inside a
 * block is appended to by full buffers (the bytes up to the boundary through
 * the page cache), by polls that leave it inside a block again, and by the
 * drain. Every row reads back in order, once.
 */
static void test_direct_appends_at_any_offset(void **state)
{
	char path[128];
	struct dv_sink *s;
	uint64_t first, bytes, now = dv_realtime_ns();
	unsigned int n = 7;

	(void)state;
	path_in_tmp(path, sizeof(path), "offsets.ndjson");
	s = dv_sink_file_create(path, 0, NULL, 0);
	assert_non_null(s);
	bytes = first = write_rows(s, 0, n);
	assert_int_equal(s->ops->drain(s, now), 0);
	s->ops->destroy(s);
	assert_true(bytes % 4096 != 0);

	s = dv_sink_file_create(path, 0, NULL, 0);
	assert_non_null(s);
	for (unsigned int round = 0; round < 6; round++) {
		bytes += write_rows(s, n, 30000); /* 2.5 MiB: full buffers */
		n += 30000;
		bytes += write_rows(s, n, 1 + round * 37); /* then a poll's piece */
		n += 1 + round * 37;
		/* (a poll while the thread writes leaves the rows for the next) */
		for (int i = 0; i < 200 && s->stats.rows_pending > 0; i++) {
			now += DV_SINK_FILE_HOLD_NS;
			assert_int_equal(s->ops->poll(s, now), 0);
			assert_int_equal(s->ops->poll(s, now + DV_SINK_FILE_HOLD_NS), 0);
			usleep(1000);
		}
		assert_int_equal(s->stats.rows_pending, 0);
		assert_int_equal(file_size(path), bytes);
	}
	bytes += write_rows(s, n, 20000);
	n += 20000;
	drain_and_read_back(s, path, 7, first, n, bytes);
}

/*
 * A full buffer's write stops: the file size limit is set at a block
 * boundary (the thread's direct write ends there) or inside a block (the
 * kernel refuses the cut direct write, the page cache takes the bytes up to
 * the limit). Either way the rows whose newline is below the limit are
 * delivered, the rest of the job and what was buffered behind it are
 * dropped, the drain returns EFBIG, and a later row starts on a line of its
 * own after the torn one. Given one full buffer, or five: then jobs are
 * queued behind the one that fails (the thread writes none of them) and
 * later ones fail having written nothing, which must not forget that the
 * file ends inside a row.
 */
static void test_full_buffer_write_stops(void **state)
{
	const size_t limits[] = {8192, 8192 + 100, 8192, 8192 + 100};
	const unsigned int given[] = {15000, 15000, 60000, 60000}; /* 1.3, 5.2 MiB */
	char path[128], row[256];
	struct rlimit old, lim;

	(void)state;
	if (!direct_io_here())
		skip(); /* a full buffer's write fails in dv_sink_write() then */
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	for (size_t k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
		struct dv_sink *s;
		size_t cut = limits[k], off = 0, len, r;
		unsigned int whole = 0;
		uint64_t bytes;
		char *text;

		/* the rows whose newline falls below the cut */
		for (unsigned int i = 0; off + make_row(row, i) + 1 <= cut; i++) {
			off += make_row(row, i) + 1;
			whole++;
		}
		unsigned int n = given[k];

		snprintf(path, sizeof(path), "%s/stop-%zu-%u.ndjson", tmpdir, cut, n);
		s = dv_sink_file_create(path, 0, NULL, 0);
		assert_non_null(s);
		lim = old;
		lim.rlim_cur = cut;
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
		/* a write that finds a failed job says so (its row is dropped) */
		bytes = 0;
		for (unsigned int i = 0; i < n; i++) {
			int rc = dv_sink_write(s, NULL, row, make_row(row, i));

			assert_true(rc == 0 || rc == -EFBIG);
			bytes += make_row(row, i) + 1;
		}
		assert_true(bytes > (1u << 20) * (n / 15000));
		assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), -EFBIG);
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
		assert_int_equal(s->stats.rows_delivered, whole);
		assert_int_equal(s->stats.rows_dropped, n - whole);
		assert_int_equal(s->stats.bytes_out, cut);
		check_accounting(&s->stats);

		r = make_row(row, n);
		assert_int_equal(dv_sink_write(s, NULL, row, r), 0);
		assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), 0);
		assert_int_equal(s->stats.rows_delivered, whole + 1);
		s->ops->destroy(s);

		text = read_all(path, &len);
		assert_int_equal(len, cut + 1 + r + 1);
		check_rows(text, off, 0, whole);
		make_row(row, whole);
		assert_memory_equal(text + off, row, cut - off); /* the torn part */
		assert_int_equal(text[cut], '\n');
		check_rows(text + cut + 1, r + 1, n, 1);
		free(text);
	}
}

/* The stdout sink writes to fd 1 (redirected to a file here). */
static void test_stdout_sink(void **state)
{
	char path[128], err[256];
	struct dv_sink *s;
	uint64_t bytes;
	int saved, fd;
	size_t len;
	char *text;

	(void)state;
	path_in_tmp(path, sizeof(path), "stdout.ndjson");
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	assert_int_equal(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
	close(fd);

	s = dv_sink_stdout_create(err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s->name, "stdout");
	bytes = write_rows(s, 0, 20000);
	assert_int_equal(poll_after_hold(s), 0);
	bytes += write_rows(s, 20000, 7);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), 0);
	assert_int_equal(s->stats.rows_delivered, 20007);
	assert_int_equal(s->stats.bytes_out, bytes);
	s->ops->destroy(s);

	/* destroy must not have closed fd 1 */
	assert_int_equal(fcntl(STDOUT_FILENO, F_GETFD) >= 0, 1);
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
	text = read_all(path, &len);
	assert_int_equal(len, bytes);
	check_rows(text, len, 0, 20007);
	free(text);
}

/* Reads a pipe slowly into memory so that the writer blocks and is hit by
 * signals in the middle of its writes. */
struct slow_reader {
	int fd;
	char *buf;
	size_t len, cap;
};

static void *slow_read(void *arg)
{
	struct slow_reader *r = arg;
	ssize_t n;

	do {
		usleep(200);
		n = read(r->fd, r->buf + r->len, r->cap - r->len < 8192 ? r->cap - r->len : 8192);
		if (n > 0)
			r->len += (size_t)n;
	} while (n > 0 || (n < 0 && errno == EINTR));
	return NULL;
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/*
 * stdout on a slow pipe while a 1 ms interval timer fires a handler without
 * SA_RESTART: writes return short or fail with EINTR, and every byte must
 * still arrive once, in order.
 */
static void test_short_writes_and_eintr(void **state)
{
	struct slow_reader r = {.cap = 8u << 20};
	struct sigaction sa = {.sa_handler = on_alarm}, old_sa;
	struct itimerval it = {{0, 1000}, {0, 1000}}, stop = {{0, 0}, {0, 0}};
	char err[256];
	struct dv_sink *s;
	pthread_t th;
	uint64_t bytes;
	int p[2], saved;

	(void)state;
	r.buf = malloc(r.cap);
	assert_non_null(r.buf);
	assert_int_equal(pipe(p), 0);
	r.fd = p[0];
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_int_equal(dup2(p[1], STDOUT_FILENO), STDOUT_FILENO);
	close(p[1]);
	assert_int_equal(pthread_create(&th, NULL, slow_read, &r), 0);
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: blocked writes see EINTR */
	assert_int_equal(sigaction(SIGALRM, &sa, &old_sa), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);

	s = dv_sink_stdout_create(err, sizeof(err));
	assert_non_null(s);
	bytes = write_rows(s, 0, 30000); /* about 2.7 MB: a few full buffers */
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + 30 * DV_NS_PER_SEC), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &stop, NULL), 0);
	assert_int_equal(sigaction(SIGALRM, &old_sa, NULL), 0);
	assert_int_equal(s->stats.rows_delivered, 30000);
	assert_int_equal(s->stats.bytes_out, bytes);
	s->ops->destroy(s);

	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO); /* closes the pipe */
	close(saved);
	assert_int_equal(pthread_join(th, NULL), 0);
	close(p[0]);
	assert_true(alarms > 0);
	assert_int_equal(r.len, bytes);
	check_rows(r.buf, r.len, 0, 30000);
	free(r.buf);
}

/* destroy() without drain() still writes what was buffered. */
static void test_destroy_flushes(void **state)
{
	char path[128], err[256];
	struct dv_sink *s;
	uint64_t bytes;
	size_t len;
	char *text;

	(void)state;
	path_in_tmp(path, sizeof(path), "destroy.ndjson");
	s = dv_sink_file_create(path, 0, err, sizeof(err));
	assert_non_null(s);
	bytes = write_rows(s, 0, 5);
	s->ops->destroy(s);
	text = read_all(path, &len);
	assert_int_equal(len, bytes);
	check_rows(text, len, 0, 5);
	free(text);
}

static void test_create_errors(void **state)
{
	char err[256] = "";

	(void)state;
	assert_null(dv_sink_file_create("/nonexistent-dir/x.ndjson", 0, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent-dir/x.ndjson"));
	assert_non_null(strstr(err, "No such file or directory"));
	err[0] = '\0';
	assert_null(dv_sink_file_create("", 0, err, sizeof(err)));
	assert_true(err[0] != '\0');
	assert_null(dv_sink_file_create(tmpdir, 0, err, sizeof(err))); /* a directory */
	assert_non_null(strstr(err, "Is a directory"));
}

/* A row longer than the whole buffer is refused and counted, not split. */
static void test_oversized_row(void **state)
{
	char path[128], err[256];
	size_t big = 2u << 20;
	char *row = malloc(big);
	struct dv_sink *s;

	(void)state;
	assert_non_null(row);
	memset(row, 'x', big);
	path_in_tmp(path, sizeof(path), "big.ndjson");
	s = dv_sink_file_create(path, 0, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(dv_sink_write(s, NULL, row, big), -EMSGSIZE);
	assert_int_equal(s->stats.rows_dropped, 1);
	check_accounting(&s->stats);
	assert_int_equal(s->ops->drain(s, dv_realtime_ns() + DV_NS_PER_SEC), 0);
	assert_int_equal(file_size(path), 0);
	s->ops->destroy(s);
	free(row);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_file_roundtrip),
	    cmocka_unit_test(test_synced_pages_leave_the_cache),
	    cmocka_unit_test(test_poll_and_append),
	    cmocka_unit_test(test_reopen_after_rename),
	    cmocka_unit_test(test_reopen_failure_keeps_old_fd),
	    cmocka_unit_test(test_dev_full),
	    cmocka_unit_test_teardown(test_torn_row, raise_fsize),
	    cmocka_unit_test(test_full_buffers_go_around_the_cache),
	    cmocka_unit_test(test_direct_appends_at_any_offset),
	    cmocka_unit_test_teardown(test_full_buffer_write_stops, raise_fsize),
	    cmocka_unit_test(test_stdout_sink),
	    cmocka_unit_test(test_short_writes_and_eintr),
	    cmocka_unit_test(test_destroy_flushes),
	    cmocka_unit_test(test_create_errors),
	    cmocka_unit_test(test_oversized_row),
	    cmocka_unit_test(test_background_sync),
	    cmocka_unit_test(test_background_sync_error_returned),
	};

	return cmocka_run_group_tests(tests, setup_dir, remove_dir);
}
