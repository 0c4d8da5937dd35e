/*
 * fuzz_spool: a spool segment file through recovery (lib/bq/dv_spool.h):
 * dv_spool_open() on a directory holding it, then replay of every row.
 *
 * Input: one mode byte, then the segment's bytes. Mode bit 0: the CRC of
 * every record the bytes frame (magic "DVR1" and a length that fits) is set
 * right before the file is written, so the fuzzer reaches past the checksum
 * into ids and rows. Bit 1: the first bytes after the mode byte are instead
 * a done bitmap, written as the segment's .done file with a right header
 * and CRC (its length is the next byte, its record count the bytes'
 * records as the spool will count them: the number of valid records).
 * Bit 2: after the checks below, a row is appended and the spool closed and
 * opened again (a second open per input halves the speed, so only then).
 *
 * Invariants: open succeeds whatever the file holds (corruption is moved
 * aside, never fatal); without a .done file the bytes kept plus the bytes
 * moved aside are the file's size; replay loads exactly the rows recovered,
 * each id and row inside its record, and their record bytes add up to what
 * was kept; once every row is done no record is left; with bit 2, the row
 * appended afterwards is the only one recovered by the next open, with no
 * corruption (the spool reads back what it wrote).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dv_spool.h"
#include "fuzz_common.h"

#define HDR	 12u
#define SEG_NAME "seg-0000000000000007.spool"
#define SEG_DONE "seg-0000000000000007.done"
#define MAX_REFS 65536

static char dir[256];
static DIR *dir_handle; /* kept open: emptied with rewinddir, no opendir per input */
static struct dv_spool_ref refs[MAX_REFS];

struct replayed {
	uint32_t n;
	uint64_t bytes;
};

static void quiet(void *arg, int level, const char *msg)
{
	(void)arg;
	(void)level;
	(void)msg;
}

/*
 * Speed: the three measures below (no sync, one kept syncer thread, ASan
 * flags) and a directory emptied through a kept handle take a corpus input
 * from 4.2 to 1.4 ms of CPU (2026-12-06, 2-CPU VM; see docs/testing.md).
 *
 * fsync and fdatasync of this process only check their descriptor. The
 * spool syncs what it repairs and its directory whatever no_sync says, and
 * a disk's fsync takes milliseconds; the harness throws its files away and
 * never simulates a power loss, so syncing proves nothing here, and on
 * tmpfs (where the scratch used to be) both calls did nothing already.
 * Defined in the executable, they take the place of libc's for the library
 * linked into it.
 */
int fsync(int fd)
{
	return fcntl(fd, F_GETFD) < 0 ? -1 : 0;
}

int fdatasync(int fd)
{
	return fcntl(fd, F_GETFD) < 0 ? -1 : 0;
}

/*
 * ASan: large shadow ranges cleared with memset rather than remapped (a
 * remapped range faults its pages in again at the next use; the spool's
 * replay takes a 1 MiB buffer per call), and freed memory kept mapped.
 * Neither changes what ASan detects; ASAN_OPTIONS still overrides both.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "clear_shadow_mmap_threshold=1073741824:allocator_release_to_os_interval_ms=-1";
}

/*
 * Every open starts the spool's syncer thread and close joins it; under ASan
 * a thread costs about a millisecond here (its allocator cache and
 * bookkeeping mapped, faulted in and unmapped). So the syncer of the spool
 * this harness opens runs on one kept thread: pthread_create, while
 * open_spool() runs, hands the start routine to that thread and gives its id
 * (pthread_setname_np works on it), and pthread_join on that id waits for
 * the routine to return. The syncer still runs on its own thread with the
 * same locks and waits; other threads (libFuzzer's) are created and joined
 * as usual. Both calls, defined in the executable, take the place of libc's
 * (and of ASan's interceptors, which the real calls go through).
 */
typedef int (*create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
typedef int (*join_fn)(pthread_t, void **);
extern int __interceptor_pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *),
					void *) __attribute__((weak));
extern int __interceptor_pthread_join(pthread_t, void **) __attribute__((weak));

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int started, state; /* state 0: idle, 1: a routine to run, 2: it returned */
	pthread_t tid;
	void *(*fn)(void *);
	void *arg, *ret;
} kept = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
static int in_open; /* pthread_create calls now are the syncer's */

static create_fn real_create(void)
{
	static create_fn f;

	if (!f)
		f = __interceptor_pthread_create ? __interceptor_pthread_create
						 : (create_fn)dlsym(RTLD_NEXT, "pthread_create");
	return f;
}

static join_fn real_join(void)
{
	static join_fn f;

	if (!f)
		f = __interceptor_pthread_join ? __interceptor_pthread_join
					       : (join_fn)dlsym(RTLD_NEXT, "pthread_join");
	return f;
}

static void *kept_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&kept.mu);
	for (;;) {
		void *(*fn)(void *), *arg, *ret;

		while (kept.state != 1)
			pthread_cond_wait(&kept.cv, &kept.mu);
		fn = kept.fn, arg = kept.arg;
		pthread_mutex_unlock(&kept.mu);
		ret = fn(arg);
		pthread_mutex_lock(&kept.mu);
		kept.ret = ret;
		kept.state = 2;
		pthread_cond_broadcast(&kept.cv);
	}
	return NULL;
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	int rc = 0, busy;

	pthread_mutex_lock(&kept.mu);
	busy = kept.state != 0;
	pthread_mutex_unlock(&kept.mu);
	if (!in_open || busy)
		return real_create()(t, attr, fn, arg);
	if (!kept.started) {
		rc = real_create()(&kept.tid, NULL, kept_main, NULL);
		if (rc)
			return rc;
		kept.started = 1;
	}
	pthread_mutex_lock(&kept.mu);
	kept.fn = fn, kept.arg = arg, kept.state = 1;
	pthread_cond_broadcast(&kept.cv);
	pthread_mutex_unlock(&kept.mu);
	*t = kept.tid;
	return 0;
}

int pthread_join(pthread_t t, void **ret)
{
	if (!kept.started || !pthread_equal(t, kept.tid))
		return real_join()(t, ret);
	pthread_mutex_lock(&kept.mu);
	dv_fuzz_check(kept.state != 0, "join of the kept thread with nothing running");
	while (kept.state != 2)
		pthread_cond_wait(&kept.cv, &kept.mu);
	if (ret)
		*ret = kept.ret;
	kept.state = 0;
	pthread_mutex_unlock(&kept.mu);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/spool", dv_fuzz_scratch_dir()) >= sizeof(dir))
		dv_fuzz_fail("scratch directory name too long");
	mkdir(dir, 0700);
	dir_handle = opendir(dir);
	dv_fuzz_check(dir_handle != NULL, "cannot open %s", dir);
	return 0;
}

/* Remove every file the last input left but the spool's lock file (open
 * creates it when missing and only ever locks it): the names first, then
 * the unlinks, so no entry is missed while the directory changes. */
static void empty_spool_dir(void)
{
	static char names[64][256];
	struct dirent *e;
	int n = 0;

	rewinddir(dir_handle);
	while ((e = readdir(dir_handle)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !strcmp(e->d_name, "lock"))
			continue;
		dv_fuzz_check(n < 64, "more than 64 files in %s", dir);
		snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
	}
	for (int i = 0; i < n; i++)
		dv_fuzz_check(unlinkat(dirfd(dir_handle), names[i], 0) == 0 || errno == ENOENT,
			      "cannot remove %s/%s", dir, names[i]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Length of a record that frames right at p (magic, length >= 2 within n). */
static size_t framed(const uint8_t *p, size_t n)
{
	uint32_t plen;

	if (n < HDR || memcmp(p, "DVR1", 4) != 0)
		return 0;
	plen = get32(p + 4);
	if (plen < 2 || plen > (1u << 20) || HDR + (size_t)plen > n)
		return 0;
	return HDR + plen;
}

/* Set the CRC of every framed record, walking as the spool's scan does. */
static void fix_crcs(uint8_t *seg, size_t n)
{
	size_t off = 0;

	while (off < n) {
		size_t len = framed(seg + off, n - off);
		uint8_t *tmp;

		if (len == 0) {
			off++;
			continue;
		}
		tmp = malloc(len - 8);
		dv_fuzz_check(tmp != NULL, "out of memory");
		memcpy(tmp, seg + off + 4, 4);
		memcpy(tmp + 4, seg + off + HDR, len - HDR);
		put32(seg + off + 8, dv_spool_crc32c(tmp, len - 8));
		free(tmp);
		off += len;
	}
}

/* Records the spool will find valid (same walk, CRC checked). */
static uint32_t count_valid(const uint8_t *seg, size_t n)
{
	size_t off = 0;
	uint32_t count = 0;

	while (off < n) {
		size_t len = framed(seg + off, n - off);
		uint8_t *tmp;
		int ok;

		if (len == 0) {
			off++;
			continue;
		}
		tmp = malloc(len - 8);
		dv_fuzz_check(tmp != NULL, "out of memory");
		memcpy(tmp, seg + off + 4, 4);
		memcpy(tmp + 4, seg + off + HDR, len - HDR);
		ok = dv_spool_crc32c(tmp, len - 8) == get32(seg + off + 8) &&
		     (size_t)(seg[off + HDR] | seg[off + HDR + 1] << 8) + 2 <= len - HDR;
		free(tmp);
		if (!ok) {
			off++;
			continue;
		}
		count++;
		off += len;
	}
	return count;
}

static void write_done(const uint8_t *bits, size_t nbits_bytes, uint32_t nrecs)
{
	size_t bm = (nrecs + 7u) / 8u;
	uint8_t *b = calloc(1, 8 + bm + 4);
	char path[sizeof(dir) + 64];

	dv_fuzz_check(b != NULL, "out of memory");
	memcpy(b, "DVA1", 4);
	put32(b + 4, nrecs);
	memcpy(b + 8, bits, nbits_bytes < bm ? nbits_bytes : bm);
	put32(b + 8 + bm, dv_spool_crc32c(b, 8 + bm));
	snprintf(path, sizeof(path), "%s/%s", dir, SEG_DONE);
	dv_fuzz_write_file(path, b, 8 + bm + 4);
	free(b);
}

static int on_row(void *arg, const struct dv_spool_ref *ref, const char *id, size_t id_len,
		  const char *row, size_t len)
{
	struct replayed *r = arg;

	dv_fuzz_check(id != NULL && row != NULL, "NULL id or row");
	dv_fuzz_check(id_len <= 0xffff && len <= (1u << 20), "id %zu, row %zu bytes", id_len, len);
	dv_fuzz_check(r->n < MAX_REFS, "more rows than the file can hold");
	refs[r->n++] = *ref;
	r->bytes += HDR + 2 + id_len + len;
	return 0;
}

static struct dv_spool *open_spool(void)
{
	struct dv_spool_config c;
	struct dv_spool *sp = NULL;
	char err[512] = "";
	int rc;

	dv_spool_config_init(&c);
	c.dir = dir;
	c.no_sync = 1;
	c.log = quiet;
	in_open = 1;
	rc = dv_spool_open(&c, &sp, err, sizeof(err));
	in_open = 0;
	dv_fuzz_check(rc == 0 && sp != NULL, "dv_spool_open: %d %s", rc, err);
	return sp;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dv_spool_stats st;
	struct dv_spool *sp;
	struct dv_spool_ref ref;
	struct replayed r = {0};
	char path[sizeof(dir) + 64];
	uint8_t *seg;
	const uint8_t *bits = NULL;
	size_t n, nbits = 0;
	uint8_t mode;
	int got;

	if (size < 1)
		return 0;
	mode = data[0];
	data++, size--;
	if ((mode & 2) && size >= 1) {
		nbits = data[0] < size - 1 ? data[0] : size - 1;
		bits = data + 1;
		data += 1 + nbits, size -= 1 + nbits;
	}
	seg = malloc(size ? size : 1);
	dv_fuzz_check(seg != NULL, "out of memory");
	memcpy(seg, data, size);
	n = size;
	if (mode & 1)
		fix_crcs(seg, n);

	empty_spool_dir();
	snprintf(path, sizeof(path), "%s/%s", dir, SEG_NAME);
	dv_fuzz_write_file(path, seg, n);
	if (bits)
		write_done(bits, nbits, count_valid(seg, n));

	sp = open_spool();
	dv_spool_get_stats(sp, &st);
	dv_fuzz_check(st.recovered == st.records && st.out == st.records,
		      "recovered %llu, records %llu, out %llu", (unsigned long long)st.recovered,
		      (unsigned long long)st.records, (unsigned long long)st.out);
	if (!bits)
		dv_fuzz_check(
		    st.bytes + st.corrupt_bytes == n || (st.bytes == 0 && st.records == 0),
		    "%llu bytes kept + %llu moved aside, file of %zu", (unsigned long long)st.bytes,
		    (unsigned long long)st.corrupt_bytes, n);

	while ((got = dv_spool_replay(sp, 1000, 1 << 16, on_row, &r)) > 0)
		;
	dv_fuzz_check(got == 0, "replay: %d", got);
	dv_fuzz_check(r.n == st.recovered, "%u rows replayed, %llu recovered", r.n,
		      (unsigned long long)st.recovered);
	if (!bits)
		dv_fuzz_check(r.bytes == st.bytes, "%llu record bytes replayed, %llu kept",
			      (unsigned long long)r.bytes, (unsigned long long)st.bytes);
	dv_fuzz_check(dv_spool_out(sp) == 0, "%llu rows still out after replay",
		      (unsigned long long)dv_spool_out(sp));
	for (uint32_t i = 0; i < r.n; i++)
		dv_spool_done(sp, &refs[i]);
	dv_fuzz_check(dv_spool_records(sp) == 0, "%llu records left after all done",
		      (unsigned long long)dv_spool_records(sp));

	if (mode & 4) {
		dv_fuzz_check(dv_spool_append(sp, "id:0", 4, "{\"a\":1}", 7, 0, &ref) == 0,
			      "append");
		dv_fuzz_check(dv_spool_commit(sp) == 0, "commit");
		dv_spool_close(sp);
		sp = open_spool();
		dv_spool_get_stats(sp, &st);
		dv_fuzz_check(st.recovered == 1 && st.corrupt_files == 0,
			      "after append: %llu recovered, %u corrupt files",
			      (unsigned long long)st.recovered, st.corrupt_files);
	}
	dv_spool_close(sp);
	free(seg);
	return 0;
}
