/*
 * test_spool: the spool's file format and states (lib/bq/dv_spool.c).
 *
 * Records the tests expect or plant are encoded here by hand from the format
 * in dv_spool.h ("DVR1", length, CRC32C over length and payload, id length,
 * insertId, row), with a bitwise CRC32C of this file's own, checked against
 * the standard check value; so a change of the on-disk format, or a spool
 * that reads what it wrote but nothing else, fails here. Corrupt files are
 * made by cutting and editing those bytes, and the expected results (rows
 * kept, bytes moved aside) are counted from what was planted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dv_spool.h"

/* ---- an independent encoder --------------------------------------------- */

static uint32_t crc32c_bitwise(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;

	crc = ~crc; /* crc 0: the standard initial value ~0 */
	while (n--) {
		crc ^= *b++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1)));
	}
	return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
	p[3] = (uint8_t)(v >> 24);
}

/* Encode one record into out; returns its length. The CRC covers the
 * length field and the payload, one CRC over both. */
static size_t encode_plain(uint8_t *out, const char *id, const char *row)
{
	size_t il = strlen(id), rl = strlen(row);
	uint32_t plen = (uint32_t)(2 + il + rl);
	uint8_t *p = out + 12, tmp[4096];

	memcpy(out, "DVR1", 4);
	put32(out + 4, plen);
	p[0] = (uint8_t)il, p[1] = (uint8_t)(il >> 8);
	memcpy(p + 2, id, il);
	memcpy(p + 2 + il, row, rl);
	memcpy(tmp, out + 4, 4);
	memcpy(tmp + 4, p, plen);
	put32(out + 8, crc32c_bitwise(0, tmp, 4 + plen));
	return 12 + plen;
}

/* ---- helpers ---------------------------------------------------------------- */

static char dir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/dv-spool-test.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

static struct dv_spool *open_ok(uint64_t max_bytes, uint64_t seg_bytes)
{
	struct dv_spool_config c;
	struct dv_spool *sp = NULL;
	char err[256] = "";

	dv_spool_config_init(&c);
	c.dir = dir;
	c.log = NULL;
	if (max_bytes)
		c.max_bytes = max_bytes;
	if (seg_bytes)
		c.segment_bytes = seg_bytes;
	c.log = NULL;
	if (dv_spool_open(&c, &sp, err, sizeof(err)))
		fail_msg("open: %s", err);
	return sp;
}

/* Files in dir ending in suffix. */
static int count_files(const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	size_t sl = strlen(suffix);

	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (l > sl && !strcmp(e->d_name + l - sl, suffix) && !strncmp(e->d_name, "seg-", 4))
			n++;
	}
	closedir(d);
	return n;
}

static long file_size(const char *name)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) ? -1 : (long)st.st_size;
}

static void write_file(const char *name, const void *data, size_t n)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

static char *read_whole(const char *name, size_t *n)
{
	char p[512];
	FILE *f;
	char *buf = malloc(1 << 20);

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "r");
	assert_non_null(f);
	*n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

/* Replay collector. */
struct got {
	char id[64][48];
	char row[64][256];
	struct dv_spool_ref ref[64];
	int n;
};

static int collect(void *arg, const struct dv_spool_ref *ref, const char *id, size_t il,
		   const char *row, size_t len)
{
	struct got *g = arg;

	assert_true(g->n < 64 && il < 48 && len < 256);
	memcpy(g->id[g->n], id, il);
	g->id[g->n][il] = '\0';
	memcpy(g->row[g->n], row, len);
	g->row[g->n][len] = '\0';
	g->ref[g->n] = *ref;
	g->n++;
	return 0;
}

static void append(struct dv_spool *sp, int i, int loaded, struct dv_spool_ref *ref)
{
	char id[48], row[128];
	struct dv_spool_ref r;

	snprintf(id, sizeof(id), "0000000%d-aaaa-4bbb-8ccc-dddddddddddd:%d", i % 10, i);
	snprintf(row, sizeof(row), "{\"n\":%d,\"text\":\"row number %d\"}", i, i);
	assert_int_equal(
	    dv_spool_append(sp, id, strlen(id), row, strlen(row), loaded, ref ? ref : &r), 0);
}

/* append and commit: a segment due to be sealed is sealed by the append
 * only when no commit job runs (else it grows until one is done), and the
 * commit waits for the seal, so each segment rolls over exactly where its
 * size says. */
static void append_committed(struct dv_spool *sp, int i, int loaded, struct dv_spool_ref *ref)
{
	append(sp, i, loaded, ref);
	assert_int_equal(dv_spool_commit(sp), 0);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_crc32c(void **state)
{
	uint8_t buf[1000];

	(void)state;
	/* The CRC-32C check value (RFC 3720 / the Castagnoli catalogue). */
	assert_int_equal(crc32c_bitwise(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(dv_spool_crc32c("123456789", 9), 0xe3069283u);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(dv_spool_crc32c(buf, sizeof(buf)), crc32c_bitwise(0, buf, sizeof(buf)));
}

/* What append writes is byte for byte the hand encoding, in order. */
static void test_format_on_disk(void **state)
{
	struct dv_spool *sp = open_ok(0, 0);
	uint8_t want[4096];
	size_t n = 0, len;
	char *got;
	const char *id0 = "11111111-2222-4333-8444-555555555555:0";
	const char *row0 = "{\"a\":1}";
	const char *id1 = "11111111-2222-4333-8444-555555555555:1";
	const char *row1 = "{\"a\":2,\"b\":\"x\"}";
	struct dv_spool_ref r;

	(void)state;
	assert_int_equal(dv_spool_append(sp, id0, strlen(id0), row0, strlen(row0), 1, &r), 0);
	assert_int_equal(dv_spool_append(sp, id1, strlen(id1), row1, strlen(row1), 1, &r), 0);
	assert_int_equal(dv_spool_commit(sp), 0);
	n += encode_plain(want + n, id0, row0);
	n += encode_plain(want + n, id1, row1);
	got = read_whole("seg-0000000000000001.spool", &len);
	assert_int_equal(len, n);
	assert_memory_equal(got, want, n);
	free(got);
	dv_spool_close(sp);
}

/* Rows only on disk come back oldest first, each once; loaded rows do not. */
static void test_replay_order(void **state)
{
	struct dv_spool *sp = open_ok(0, 600); /* a few rows per segment */
	struct got g = {.n = 0};
	struct dv_spool_stats st;

	(void)state;
	for (int i = 0; i < 20; i++)
		append_committed(sp, i, i % 5 == 0 /* 0, 5, 10, 15 held by the caller */, NULL);
	dv_spool_get_stats(sp, &st);
	assert_int_equal(st.out, 16);
	assert_true(count_files(".spool") > 2);
	assert_int_equal(dv_spool_replay(sp, 10, 1 << 20, collect, &g), 10);
	assert_int_equal(dv_spool_replay(sp, 100, 1 << 20, collect, &g), 6);
	assert_int_equal(dv_spool_replay(sp, 100, 1 << 20, collect, &g), 0);
	assert_int_equal(g.n, 16);
	for (int k = 0, i = 0; i < 20; i++) {
		char want[128];

		if (i % 5 == 0)
			continue;
		snprintf(want, sizeof(want), "{\"n\":%d,\"text\":\"row number %d\"}", i, i);
		assert_string_equal(g.row[k], want);
		k++;
	}
	assert_int_equal(dv_spool_out(sp), 0);
	assert_int_equal(dv_spool_records(sp), 20);
	/* Unloaded rows come back again. */
	dv_spool_unload(sp, &g.ref[3]);
	g.n = 0;
	assert_int_equal(dv_spool_replay(sp, 100, 1 << 20, collect, &g), 1);
	assert_string_equal(g.row[0], "{\"n\":4,\"text\":\"row number 4\"}");
	dv_spool_close(sp);
}

/* A segment file goes only when sealed and every record in it is done. */
static void test_ack_deletes_segment(void **state)
{
	struct dv_spool *sp = open_ok(0, 300);
	struct dv_spool_ref ref[12];
	int files;

	(void)state;
	for (int i = 0; i < 12; i++)
		append_committed(sp, i, 1, &ref[i]);
	files = count_files(".spool");
	assert_true(files >= 4);
	/* Segment 1 holds ref[0] and maybe more: all but the first done -> kept. */
	for (int i = 1; i < 12 && ref[i].seg == ref[0].seg; i++)
		dv_spool_done(sp, &ref[i]);
	assert_int_equal(dv_spool_commit(sp), 0); /* the syncer unlinks: wait for it */
	assert_int_equal(count_files(".spool"), files);
	dv_spool_done(sp, &ref[0]);
	assert_int_equal(dv_spool_commit(sp), 0);
	assert_int_equal(count_files(".spool"), files - 1);
	assert_int_equal(file_size("seg-0000000000000001.spool"), -1);
	/* The rest in reverse order (a ref of a deleted segment is gone: the
	 * sink settles each row once); done twice while a segment lives is
	 * harmless. */
	for (int i = 11; i >= 0; i--) {
		if (ref[i].seg == ref[0].seg)
			continue;
		dv_spool_done(sp, &ref[i]);
		if (i == 11)
			dv_spool_done(sp, &ref[i]);
	}
	assert_int_equal(dv_spool_records(sp), 0);
	assert_int_equal(dv_spool_commit(sp), 0);
	/* The active segment stays until it is sealed or the spool closes. */
	assert_int_equal(count_files(".spool"), 1);
	dv_spool_close(sp);
	assert_int_equal(count_files(".spool"), 0);
}

/* After a clean restart every record not yet done is found, in order (the
 * acknowledgements went to seg-...done at close). */
static void test_reopen(void **state)
{
	struct dv_spool *sp = open_ok(0, 0);
	struct dv_spool_ref ref[6];
	struct dv_spool_stats st;
	struct got g = {.n = 0};
	const int left[] = {0, 2, 3, 5};

	(void)state;
	for (int i = 0; i < 6; i++)
		append(sp, i, 1, &ref[i]);
	dv_spool_done(sp, &ref[1]);
	dv_spool_done(sp, &ref[4]);
	dv_spool_close(sp); /* close commits and writes the acknowledgements */
	assert_true(file_size("seg-0000000000000001.done") > 0);

	sp = open_ok(0, 0);
	assert_int_equal(file_size("seg-0000000000000001.done"), -1); /* applied, removed */
	dv_spool_get_stats(sp, &st);
	assert_int_equal(st.recovered, 4);
	assert_int_equal(st.out, 4);
	assert_int_equal(st.corrupt_files, 0);
	assert_int_equal(dv_spool_replay(sp, 100, 1 << 20, collect, &g), 4);
	for (int i = 0; i < 4; i++) {
		char want[48];

		snprintf(want, sizeof(want), "0000000%d-aaaa-4bbb-8ccc-dddddddddddd:%d", left[i],
			 left[i]);
		assert_string_equal(g.id[i], want);
	}
	/* New appends go to a new segment after the old ones. */
	append(sp, 6, 1, NULL);
	assert_int_equal(dv_spool_commit(sp), 0);
	assert_true(file_size("seg-0000000000000002.spool") > 0);
	for (int i = 0; i < 4; i++)
		dv_spool_done(sp, &g.ref[i]);
	assert_int_equal(dv_spool_commit(sp), 0); /* the syncer unlinks: wait for it */
	assert_int_equal(file_size("seg-0000000000000001.spool"), -1);
	dv_spool_close(sp);
}

/* A process that dies after a commit (here: _exit without close) leaves no
 * acknowledgements: every committed record is found again, done or not (at
 * least once); nothing committed is lost. */
static void test_reopen_after_crash(void **state)
{
	struct dv_spool *sp;
	struct dv_spool_stats st;
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct dv_spool_ref ref[6];

		sp = open_ok(0, 0);
		for (int i = 0; i < 6; i++)
			append(sp, i, 1, &ref[i]);
		dv_spool_done(sp, &ref[1]);
		if (dv_spool_commit(sp))
			_exit(1);
		append(sp, 6, 1, NULL); /* buffered, never committed: lost */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	sp = open_ok(0, 0);
	dv_spool_get_stats(sp, &st);
	assert_int_equal(st.recovered, 6);
	assert_int_equal(st.corrupt_files, 0);
	dv_spool_close(sp);
}

/* Plant a segment file, open, and check what was kept and moved aside. */
static void check_repair(const uint8_t *data, size_t len, int want_rows, long want_corrupt,
			 const char **want_ids)
{
	struct dv_spool *sp;
	struct dv_spool_stats st;
	struct got g = {.n = 0};

	write_file("seg-0000000000000007.spool", data, len);
	sp = open_ok(0, 0);
	dv_spool_get_stats(sp, &st);
	assert_int_equal(st.recovered, want_rows);
	assert_int_equal(st.corrupt_files, 1);
	assert_int_equal(st.corrupt_bytes, want_corrupt);
	assert_int_equal(file_size("seg-0000000000000007.spool.corrupt"), want_corrupt);
	assert_int_equal(file_size("seg-0000000000000007.spool"), (long)len - want_corrupt);
	assert_int_equal(dv_spool_replay(sp, 100, 1 << 20, collect, &g), want_rows);
	for (int i = 0; i < want_rows; i++)
		assert_string_equal(g.id[i], want_ids[i]);
	/* New segments continue after the planted one. */
	append(sp, 0, 1, NULL);
	assert_int_equal(dv_spool_commit(sp), 0);
	assert_true(file_size("seg-0000000000000008.spool") > 0);
	dv_spool_close(sp);
	/* A second open finds a clean file. */
	sp = open_ok(0, 0);
	dv_spool_get_stats(sp, &st);
	assert_int_equal(st.corrupt_files, 0);
	assert_int_equal(st.recovered, want_rows + 1);
	dv_spool_close(sp);
}

static const char *ids3[] = {"a-id:0", "b-id:1", "c-id:2"};

static size_t three(uint8_t *buf, size_t *ends)
{
	size_t n = 0;

	n += encode_plain(buf + n, ids3[0], "{\"x\":0}");
	ends[0] = n;
	n += encode_plain(buf + n, ids3[1], "{\"x\":1,\"y\":\"second\"}");
	ends[1] = n;
	n += encode_plain(buf + n, ids3[2], "{\"x\":2}");
	ends[2] = n;
	return n;
}

static void test_torn_tail(void **state)
{
	uint8_t buf[1024];
	size_t ends[3], n = three(buf, ends);

	(void)state;
	/* The third record cut after 9 of its bytes, as a crash mid-write leaves it. */
	n = ends[1] + 9;
	check_repair(buf, n, 2, 9, ids3);
}

static void test_garbage_appended(void **state)
{
	uint8_t buf[1024];
	size_t ends[3], n = three(buf, ends);
	const char junk[] = "this is not a record \x01\x02\x03 DVR1 nor is this\n";

	(void)state;
	memcpy(buf + n, junk, sizeof(junk) - 1);
	check_repair(buf, n + sizeof(junk) - 1, 3, (long)sizeof(junk) - 1, ids3);
}

static void test_crc_mismatch_in_middle(void **state)
{
	uint8_t buf[1024];
	size_t ends[3], n = three(buf, ends);
	const char *kept[] = {ids3[0], ids3[2]};

	(void)state;
	buf[ends[0] + 20] ^= 0x20; /* one bit of the second record's payload */
	check_repair(buf, n, 2, (long)(ends[1] - ends[0]), kept);
}

/* Past max_bytes appends are refused with -ENOSPC and counted; what is in
 * the spool stays; room comes back only when a segment is deleted. */
static void test_size_limit(void **state)
{
	uint8_t one[512];
	size_t rec = encode_plain(one, "00000000-aaaa-4bbb-8ccc-dddddddddddd:0",
				  "{\"n\":0,\"text\":\"row number 0\"}");
	struct dv_spool *sp = open_ok(3 * rec, rec); /* one record per segment */
	struct dv_spool_ref ref[3], r;
	struct dv_spool_stats st;
	const char *id = "0000000000-aaaa-4bbb-8ccc-dddddddddddd:3";

	(void)state;
	for (int i = 0; i < 3; i++)
		append_committed(sp, i, 1, &ref[i]);
	assert_int_equal(dv_spool_append(sp, id, strlen(id), "{}", 2, 1, &r), -ENOSPC);
	dv_spool_get_stats(sp, &st);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(st.records, 3);
	assert_int_equal(st.bytes, 3 * rec);
	dv_spool_done(sp, &ref[0]); /* sealed (the next append sealed it): deleted */
	assert_int_equal(dv_spool_append(sp, id, strlen(id), "{}", 2, 1, &r), 0);
	dv_spool_close(sp);
}

static void test_one_process_per_dir(void **state)
{
	struct dv_spool *sp = open_ok(0, 0), *sp2 = NULL;
	struct dv_spool_config c;
	char err[256];

	(void)state;
	dv_spool_config_init(&c);
	c.dir = dir;
	assert_int_equal(dv_spool_open(&c, &sp2, err, sizeof(err)), -EWOULDBLOCK);
	assert_null(sp2);
	assert_non_null(strstr(err, "in use by another"));
	dv_spool_close(sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crc32c),
	    cmocka_unit_test_setup_teardown(test_format_on_disk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replay_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ack_deletes_segment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_after_crash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_appended, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crc_mismatch_in_middle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_process_per_dir, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
