/*
 * test_bq_stream_state: the Storage Write API's journal beside the spool
 * (lib/bq/dv_bq_stream_state.c) on its own, in a temporary directory: what
 * one run writes, the next run reads back. Expected fates follow from the
 * offsets written here and the row count given to resolve (what
 * FinalizeWriteStream would answer), not from the module's own output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dv_bq_stream_state.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/dv-ss-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, DV_BQ_SS_FILE);
	return 0;
}

static int teardown(void **state)
{
	char tmp[160];

	(void)state;
	unlink(path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	rmdir(dir);
	return 0;
}

static struct dv_bq_ss *open_ss(void)
{
	struct dv_bq_ss *ss;
	char err[256];

	assert_int_equal(dv_bq_ss_open(dir, NULL, &ss, err, sizeof(err)), 0);
	return ss;
}

static off_t file_size(void)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

/* Run 1 sends a,b,c at 0 and d,e at 3 on stream A; the stream has 3 rows
 * (the second request was not stored). Run 2: a,b,c stored, d,e not, x
 * never sent. */
static void test_stored_below_row_count(void **state)
{
	const char *r1[] = {"a", "b", "c"}, *r2[] = {"d", "e"};
	struct dv_bq_ss *ss = open_ss();
	const char *name;
	uint32_t id, got;

	(void)state;
	assert_int_equal(dv_bq_ss_unresolved(ss, &got, &name), 0);
	assert_int_equal(dv_bq_ss_stream(ss, "projects/p/datasets/d/tables/t/streams/A", &id), 0);
	assert_int_equal(dv_bq_ss_sending(ss, id, 0, r1, 3), 0);
	assert_int_equal(dv_bq_ss_sending(ss, id, 3, r2, 2), 0);
	dv_bq_ss_close(ss); /* as after kill -9: every record was synced */

	ss = open_ss();
	assert_true(dv_bq_ss_recovering(ss));
	assert_int_equal(dv_bq_ss_unresolved(ss, &got, &name), 1);
	assert_int_equal(got, id);
	assert_string_equal(name, "projects/p/datasets/d/tables/t/streams/A");
	assert_int_equal(dv_bq_ss_take(ss, "a"), DV_BQ_SS_UNRESOLVED);
	assert_int_equal(dv_bq_ss_resolve(ss, id, 3), 0);
	assert_int_equal(dv_bq_ss_unresolved(ss, &got, &name), 0);
	assert_int_equal(dv_bq_ss_take(ss, "b"), DV_BQ_SS_STORED);
	assert_int_equal(dv_bq_ss_take(ss, "b"), DV_BQ_SS_NEW); /* asked once */
	assert_int_equal(dv_bq_ss_take(ss, "x"), DV_BQ_SS_NEW);
	assert_int_equal(dv_bq_ss_take(ss, "a"), DV_BQ_SS_STORED);
	assert_int_equal(dv_bq_ss_take(ss, "e"), DV_BQ_SS_NEW);
	assert_int_equal(dv_bq_ss_take(ss, "c"), DV_BQ_SS_STORED);
	assert_true(dv_bq_ss_recovering(ss)); /* d is still to come */
	assert_int_equal(dv_bq_ss_take(ss, "d"), DV_BQ_SS_NEW);
	assert_false(dv_bq_ss_recovering(ss));
	dv_bq_ss_close(ss);

	/* Run 3: the row count was written ('F'): nothing to finalize again,
	 * and no row of stream A is met any more... */
	ss = open_ss();
	assert_int_equal(dv_bq_ss_unresolved(ss, &got, &name), 0);
	/* ...but a row of it that the spool still gives back is still known. */
	assert_int_equal(dv_bq_ss_take(ss, "a"), DV_BQ_SS_STORED);
	dv_bq_ss_close(ss);
}

/* Row errors: a,b,c at 5 were refused whole, a,c taken again at 5 and
 * stored (row count 7). b was never stored: it must not count as stored
 * although its old offset 6 is below 7. */
static void test_offset_taken_again(void **state)
{
	const char *r1[] = {"a", "b", "c"}, *r2[] = {"a", "c"};
	struct dv_bq_ss *ss = open_ss();
	const char *name;
	uint32_t id, got;

	(void)state;
	assert_int_equal(dv_bq_ss_stream(ss, "S", &id), 0);
	assert_int_equal(dv_bq_ss_sending(ss, id, 5, r1, 3), 0);
	assert_int_equal(dv_bq_ss_sending(ss, id, 5, r2, 2), 0);
	dv_bq_ss_close(ss);
	ss = open_ss();
	assert_int_equal(dv_bq_ss_unresolved(ss, &got, &name), 1);
	assert_int_equal(dv_bq_ss_resolve(ss, got, 7), 0);
	assert_int_equal(dv_bq_ss_take(ss, "a"), DV_BQ_SS_STORED);
	assert_int_equal(dv_bq_ss_take(ss, "c"), DV_BQ_SS_STORED);
	assert_int_equal(dv_bq_ss_take(ss, "b"), DV_BQ_SS_NEW);
	dv_bq_ss_close(ss);
}

/* A stream that is gone: its rows may repeat; two streams are kept apart. */
static void test_gone_stream(void **state)
{
	const char *r1[] = {"a"}, *r2[] = {"b"};
	struct dv_bq_ss *ss = open_ss();
	const char *name;
	uint32_t a, b, got;

	(void)state;
	assert_int_equal(dv_bq_ss_stream(ss, "A", &a), 0);
	assert_int_equal(dv_bq_ss_sending(ss, a, 0, r1, 1), 0);
	assert_int_equal(dv_bq_ss_stream(ss, "B", &b), 0);
	assert_int_not_equal(a, b);
	assert_int_equal(dv_bq_ss_sending(ss, b, 0, r2, 1), 0);
	dv_bq_ss_close(ss);
	ss = open_ss();
	while (dv_bq_ss_unresolved(ss, &got, &name))
		assert_int_equal(dv_bq_ss_resolve(ss, got, strcmp(name, "A") ? 1 : -1), 0);
	assert_int_equal(dv_bq_ss_take(ss, "a"), DV_BQ_SS_MAY_REPEAT);
	assert_int_equal(dv_bq_ss_take(ss, "b"), DV_BQ_SS_STORED);
	dv_bq_ss_close(ss);
}

/* A torn tail (a crash inside write) is cut off; what came before stays. */
static void test_torn_tail(void **state)
{
	const char *r1[] = {"a"}, *r2[] = {"b"};
	struct dv_bq_ss *ss = open_ss();
	struct dv_bq_ss_stats st;
	const char *name;
	uint32_t id, got;
	off_t before;
	int fd;

	(void)state;
	assert_int_equal(dv_bq_ss_stream(ss, "A", &id), 0);
	assert_int_equal(dv_bq_ss_sending(ss, id, 0, r1, 1), 0);
	before = file_size();
	assert_int_equal(dv_bq_ss_sending(ss, id, 1, r2, 1), 0);
	dv_bq_ss_close(ss);
	assert_int_equal(truncate(path, file_size() - 1), 0);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "garbage", 7), 7);
	close(fd);
	ss = open_ss();
	dv_bq_ss_get_stats(ss, &st);
	assert_int_equal(st.loaded_rows, 1);
	assert_int_equal(file_size(), before);
	assert_int_equal(dv_bq_ss_unresolved(ss, &got, &name), 1);
	assert_int_equal(dv_bq_ss_resolve(ss, got, 2), 0);
	assert_int_equal(dv_bq_ss_take(ss, "a"), DV_BQ_SS_STORED);
	assert_int_equal(dv_bq_ss_take(ss, "b"), DV_BQ_SS_NEW); /* its record was cut */
	dv_bq_ss_close(ss);
}

/* Past DV_BQ_SS_MAX_BYTES the file is rewritten with the newest
 * DV_BQ_SS_KEEP_ROWS rows (or a little more: whole records). */
static void test_compaction(void **state)
{
	enum { BATCH = 500 };
	static char idbuf[BATCH][64];
	const char *ids[BATCH];
	struct dv_bq_ss *ss = open_ss();
	struct dv_bq_ss_stats st;
	const char *name;
	uint32_t id, got;
	int64_t off = 0;
	char newest[64];

	(void)state;
	assert_int_equal(dv_bq_ss_stream(ss, "A", &id), 0);
	for (int k = 0; k < BATCH; k++)
		ids[k] = idbuf[k];
	do {
		for (int k = 0; k < BATCH; k++)
			snprintf(idbuf[k], sizeof(idbuf[k]),
				 "01234567-89ab-cdef-0123-456789abcdef:%lld", (long long)off + k);
		assert_int_equal(dv_bq_ss_sending(ss, id, off, ids, BATCH), 0);
		off += BATCH;
		dv_bq_ss_get_stats(ss, &st);
	} while (st.compactions == 0);
	assert_true(st.file_bytes < DV_BQ_SS_MAX_BYTES / 2);
	snprintf(newest, sizeof(newest), "%s", idbuf[BATCH - 1]);
	dv_bq_ss_close(ss);
	ss = open_ss();
	dv_bq_ss_get_stats(ss, &st);
	assert_true(st.loaded_rows >= DV_BQ_SS_KEEP_ROWS);
	assert_true(st.loaded_rows <= DV_BQ_SS_KEEP_ROWS + 2 * BATCH);
	assert_int_equal(dv_bq_ss_unresolved(ss, &got, &name), 1);
	assert_int_equal(dv_bq_ss_resolve(ss, got, off), 0);
	assert_int_equal(dv_bq_ss_take(ss, newest), DV_BQ_SS_STORED);
	assert_int_equal(dv_bq_ss_take(ss, "01234567-89ab-cdef-0123-456789abcdef:0"), DV_BQ_SS_NEW);
	dv_bq_ss_close(ss);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_stored_below_row_count, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_offset_taken_again, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gone_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
