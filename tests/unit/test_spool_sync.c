/*
 * test_spool_sync: the spool's durability promise (lib/bq/dv_spool.h): when
 * dv_spool_commit returns 0, the records it wrote are on the disk, not only
 * in the page cache, and so is the name of every segment file it created.
 *
 * A kill -9 test cannot see a missing sync (the page cache outlives the
 * process; only a power failure or a kernel crash loses it), so this test
 * watches the system calls instead: it defines write, fsync, fdatasync and
 * openat itself (an executable's definitions take precedence over libc's
 * for the library linked into it), passes each on to the kernel, and keeps
 * per file (by path) whether bytes were written since its last sync, and
 * per directory whether a segment file was created in it since its last
 * fsync. The expected state after each step is the promise itself; the
 * no_sync configuration (tests and benchmarks only) is the control that
 * shows the watching works: there the same steps must leave files unsynced.
 *
 * The same wrappers can make every sync slow (slow_ns) and note which thread
 * ran it: with a 300 ms fdatasync, the spool's timers and appends must still
 * return at once (the syncs run on the spool's syncer thread), and replay
 * must see a commit's rows only once that commit is done.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dv_time.h"

#include "dv_spool.h"

/* ---- the watched system calls -------------------------------------------- */

#define MAX_FILES 64

struct watched {
	char path[PATH_MAX];
	uint64_t unsynced; /* bytes written (names created, for a directory) since a sync */
	uint64_t written;  /* bytes written in all */
	uint64_t syncs;
};

static struct watched files[MAX_FILES];
static int nfiles;

/* Every sync takes this long (0: as the kernel does); the threads that ran
 * syncs, and how many ran on this test's own thread. */
static uint64_t slow_ns;
static pid_t main_tid;
static int syncs_on_main;
static pthread_mutex_t files_mu = PTHREAD_MUTEX_INITIALIZER;

static void slow_sync(void)
{
	struct timespec ts = {(time_t)(slow_ns / 1000000000u), (long)(slow_ns % 1000000000u)};

	if (slow_ns)
		nanosleep(&ts, NULL);
	if (gettid() == main_tid)
		__atomic_fetch_add(&syncs_on_main, 1, __ATOMIC_RELAXED);
}

static struct watched *watched_path(const char *path)
{
	for (int i = 0; i < nfiles; i++)
		if (!strcmp(files[i].path, path))
			return &files[i];
	if (nfiles == MAX_FILES)
		abort();
	snprintf(files[nfiles].path, sizeof(files[nfiles].path), "%s", path);
	return &files[nfiles++];
}

/* The file behind fd, or NULL for anything that is not a file path. */
static struct watched *watched_fd(int fd)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0 || path[0] != '/')
		return NULL;
	path[n] = '\0';
	return watched_path(path);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	ssize_t w = syscall(SYS_write, fd, buf, n);

	if (w > 0 && fd > 2) {
		struct watched *f;

		pthread_mutex_lock(&files_mu);
		f = watched_fd(fd);
		if (f) {
			f->unsynced += (uint64_t)w;
			f->written += (uint64_t)w;
		}
		pthread_mutex_unlock(&files_mu);
	}
	return w;
}

static int synced(int fd, int rc)
{
	slow_sync();
	if (rc == 0) {
		struct watched *f;

		pthread_mutex_lock(&files_mu);
		f = watched_fd(fd);
		if (f) {
			f->unsynced = 0;
			f->syncs++;
		}
		pthread_mutex_unlock(&files_mu);
	}
	return rc;
}

int fsync(int fd)
{
	return synced(fd, (int)syscall(SYS_fsync, fd));
}

int fdatasync(int fd)
{
	return synced(fd, (int)syscall(SYS_fdatasync, fd));
}

/* A segment file that did not exist makes its directory unsynced. */
int openat(int dirfd, const char *name, int flags, ...)
{
	mode_t mode = 0;
	struct stat st;
	int existed, fd;

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	existed = fstatat(dirfd, name, &st, 0) == 0;
	fd = (int)syscall(SYS_openat, dirfd, name, flags, mode);
	if (fd >= 0 && (flags & O_CREAT) && !existed && !strncmp(name, "seg-", 4) &&
	    strstr(name, ".spool")) {
		struct watched *d;

		pthread_mutex_lock(&files_mu);
		d = watched_fd(dirfd);
		if (d)
			d->unsynced++;
		pthread_mutex_unlock(&files_mu);
	}
	return fd;
}

/* ---- helpers ---------------------------------------------------------------- */

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/dv-spool-sync.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	{ /* as /proc/self/fd names it */
		char real[PATH_MAX];

		assert_non_null(realpath(dir, real));
		assert_true(strlen(real) < sizeof(dir));
		memcpy(dir, real, strlen(real) + 1);
	}
	memset(files, 0, sizeof(files));
	nfiles = 0;
	slow_ns = 0;
	main_tid = gettid();
	syncs_on_main = 0;
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static struct dv_spool *open_ok(int no_sync, uint64_t seg_bytes)
{
	struct dv_spool_config c;
	struct dv_spool *sp = NULL;
	char err[256] = "";

	dv_spool_config_init(&c);
	c.dir = dir;
	c.no_sync = no_sync;
	if (seg_bytes)
		c.segment_bytes = seg_bytes;
	if (dv_spool_open(&c, &sp, err, sizeof(err)))
		fail_msg("open: %s", err);
	return sp;
}

static void append_rows(struct dv_spool *sp, int from, int n)
{
	char id[48], row[200];

	for (int i = from; i < from + n; i++) {
		struct dv_spool_ref ref;

		snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d:0", i);
		snprintf(row, sizeof(row), "{\"id\":\"%d\",\"src_bytes\":%d,\"pad\":\"%0120d\"}", i,
			 i * 7, i);
		assert_int_equal(dv_spool_append(sp, id, strlen(id), row, strlen(row), 0, &ref), 0);
	}
}

/* Files under the spool directory (and the directory itself) written or
 * created since their last sync; prints them. */
static int unsynced_in_dir(void)
{
	size_t dl = strlen(dir);
	int n = 0;

	for (int i = 0; i < nfiles; i++) {
		if (strncmp(files[i].path, dir, dl) ||
		    (files[i].path[dl] && files[i].path[dl] != '/'))
			continue;
		if (files[i].unsynced) {
			fprintf(stderr, "  not synced: %s (%" PRIu64 " since its last sync)\n",
				files[i].path, files[i].unsynced);
			n++;
		}
	}
	return n;
}

/* Bytes written to segment files, and segment files created, in all. */
static uint64_t segment_bytes_written(void)
{
	uint64_t n = 0;

	for (int i = 0; i < nfiles; i++)
		if (strstr(files[i].path, "/seg-") && strstr(files[i].path, ".spool"))
			n += files[i].written;
	return n;
}

static uint64_t dir_syncs(void)
{
	return watched_path(dir)->syncs;
}

/* ---- tests ------------------------------------------------------------------------ */

/* After a commit every record byte is synced, and the new segment's name. */
static void test_commit_syncs_records(void **state)
{
	struct dv_spool *sp;

	(void)state;
	sp = open_ok(0, 0);
	append_rows(sp, 0, 50);
	assert_int_equal(dv_spool_commit(sp), 0);
	assert_true(segment_bytes_written() >= 50 * 150); /* the rows did reach the file */
	assert_int_equal(unsynced_in_dir(), 0);
	assert_true(dir_syncs() >= 1);

	append_rows(sp, 50, 10);
	assert_int_equal(dv_spool_commit(sp), 0);
	assert_int_equal(unsynced_in_dir(), 0);
	dv_spool_close(sp);
	assert_int_equal(unsynced_in_dir(), 0);
}

/* Segments roll over every few records: each new file's records and name are
 * synced by the commit that follows. */
static void test_new_segments_synced(void **state)
{
	struct dv_spool *sp;
	uint64_t before;

	(void)state;
	sp = open_ok(0, 2000);
	for (int k = 0; k < 5; k++) {
		append_rows(sp, k * 20, 20); /* about 3.5 kB: at least one new segment */
		assert_int_equal(dv_spool_commit(sp), 0);
		assert_int_equal(unsynced_in_dir(), 0);
	}
	before = segment_bytes_written();
	assert_true(before >= 100 * 150);
	assert_true(dir_syncs() >= 5);
	dv_spool_close(sp);
}

/* Rows still buffered at close are written and synced by close. */
static void test_close_syncs(void **state)
{
	struct dv_spool *sp;

	(void)state;
	sp = open_ok(0, 0);
	append_rows(sp, 0, 30);
	dv_spool_close(sp);
	assert_true(segment_bytes_written() >= 30 * 150);
	assert_int_equal(unsynced_in_dir(), 0);
}

/* The control: with no_sync the same steps leave the records unsynced, so
 * the watching above sees what it claims to. */
static void test_no_sync_is_seen(void **state)
{
	struct dv_spool *sp;

	(void)state;
	sp = open_ok(1, 0);
	append_rows(sp, 0, 50);
	assert_int_equal(dv_spool_commit(sp), 0);
	assert_true(segment_bytes_written() >= 50 * 150);
	assert_true(unsynced_in_dir() >= 1);
	dv_spool_close(sp);
}

static int count_rows(void *arg, const struct dv_spool_ref *ref, const char *id, size_t id_len,
		      const char *row, size_t len)
{
	(void)ref, (void)id, (void)id_len, (void)row, (void)len;
	++*(int *)arg;
	return 0;
}

static uint64_t ms_since(uint64_t t0)
{
	return (dv_monotonic_ns() - t0) / 1000000u;
}

/* Every sync takes 300 ms: the timers and the appends return at once while
 * the commit runs on the syncer thread; its rows are readable (and synced,
 * name and all) only once it is done, the rows appended meanwhile only
 * after the next; a caller's file given to dv_spool_sync_fd is synced there
 * too. Nothing is synced on the caller's thread until close. */
static void test_slow_sync_off_the_caller(void **state)
{
	struct dv_spool_stats st;
	struct dv_spool *sp;
	uint64_t t0, now;
	char other[300];
	int fd, n = 0, waited;

	(void)state;
	sp = open_ok(0, 0);
	slow_ns = 300 * 1000000ull;
	append_rows(sp, 0, 50);
	t0 = dv_monotonic_ns();
	now = t0 + DV_NS_PER_SEC; /* the commit interval has passed */
	assert_int_equal(dv_spool_tick(sp, now), 0);
	append_rows(sp, 50, 50);				      /* while the commit runs */
	snprintf(other, sizeof(other), "%s/dead-letter.ndjson", dir); /* as the sink's */
	fd = open(other, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{}\n", 3), 3);
	dv_spool_sync_fd(sp, fd, other);
	assert_int_equal(dv_spool_tick(sp, now + 1), 0);
	fprintf(stderr, "  tick, 50 appends, sync_fd, tick: %" PRIu64 " ms\n", ms_since(t0));
	assert_true(ms_since(t0) < 150);
	assert_int_equal(dv_spool_replay(sp, 1000, 1 << 20, count_rows, &n), 0);
	assert_int_equal(n, 0); /* not committed yet: not readable */
	dv_spool_get_stats(sp, &st);
	assert_int_equal(st.commits, 0);

	/* Ticks until the commit is harvested; none of them waits. */
	for (waited = 0; waited < 5000 && st.commits == 0; waited += 10) {
		uint64_t t1 = dv_monotonic_ns();

		dv_spool_tick(sp, now + 2);
		assert_true(ms_since(t1) < 50);
		usleep(10000);
		dv_spool_get_stats(sp, &st);
	}
	fprintf(stderr, "  first commit harvested after %" PRIu64 " ms (%" PRIu64 " ms in it)\n",
		ms_since(t0), st.commit_ns_max / 1000000u);
	assert_int_equal(st.commits, 1);
	assert_true(ms_since(t0) >= 300);
	assert_true(st.commit_ns_max >= 300 * 1000000ull);
	assert_int_equal(dv_spool_replay(sp, 1000, 1 << 20, count_rows, &n), 50);
	assert_int_equal(st.waits, 0);
	assert_int_equal(syncs_on_main, 0);

	assert_int_equal(dv_spool_commit(sp), 0); /* the rest, and the file: waits */
	assert_int_equal(dv_spool_replay(sp, 1000, 1 << 20, count_rows, &n), 50);
	assert_int_equal(n, 100);
	assert_int_equal(unsynced_in_dir(), 0);
	assert_int_equal(syncs_on_main, 0);
	slow_ns = 0;
	dv_spool_close(sp);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_commit_syncs_records, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_new_segments_synced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_syncs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_sync_is_seen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_sync_off_the_caller, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
