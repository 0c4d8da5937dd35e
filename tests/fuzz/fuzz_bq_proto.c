/*
 * fuzz_bq_proto: the Storage Write API's JSON row scanner
 * (dv_bq_proto_row_json, lib/bq/dv_bq_proto.c) against the encoder it
 * replaced (tests/bq/bq_proto_json_ref.c, over jansson).
 *
 * Input: one byte that picks a smaller output room, then the row's text
 * (exactly its bytes on the heap, so ASan sees a read past them).
 *
 * Invariants: the scanner gives what the reference gives (the return, the
 * bytes, the column named), except where it is documented to differ:
 *   - a text jansson refused only for a repeated member (JSON_REJECT_
 *     DUPLICATES) that parses with repeats allowed: the scanner refuses it
 *     (a column twice) or gives what the reference gives with repeats
 *     allowed (a member that is no column, ignored);
 *   - a text holding a number with a fraction or exponent, or a nested
 *     object or array: the scanner may refuse it whole (-EINVAL, no column);
 *   - a text holding a NUL byte: the scanner refuses it whole; jansson
 *     passed over one right after a number (its stream takes a NUL in its
 *     buffer for "read more" after an unget).
 * A row that fits in n bytes gives -ENOSPC in any room below n, writing
 * nothing past it (the room is exactly a heap block), and the same bytes in
 * a room of exactly n.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bq_proto_json_ref.h"
#include "dv_bq_proto.h"
#include "fuzz_common.h"

struct result {
	int n;
	const char *column;
	uint8_t out[DV_BQ_PROTO_ROW_MAX];
};

static bool same(const struct result *a, const struct result *b)
{
	if (a->n != b->n)
		return false;
	if (a->n >= 0)
		return memcmp(a->out, b->out, (size_t)a->n) == 0;
	if (a->column == NULL || b->column == NULL)
		return a->column == b->column;
	return strcmp(a->column, b->column) == 0;
}

static bool refused_whole(const struct result *r)
{
	return r->n == -EINVAL && r->column == NULL;
}

static void check_room(const char *text, size_t len, const struct result *got, uint8_t pick)
{
	size_t cap = (size_t)pick % (size_t)got->n;
	uint8_t *small = malloc(cap ? cap : 1), *exact = malloc((size_t)got->n);
	const char *column;
	int n;

	dv_fuzz_check(small != NULL && exact != NULL, "out of memory");
	n = dv_bq_proto_row_json(text, len, small, cap, &column);
	dv_fuzz_check(n == -ENOSPC, "%d in a room of %zu for a row of %d bytes", n, cap, got->n);
	n = dv_bq_proto_row_json(text, len, exact, (size_t)got->n, &column);
	dv_fuzz_check(n == got->n && memcmp(exact, got->out, (size_t)n) == 0,
		      "%d in a room of exactly %d", n, got->n);
	free(small);
	free(exact);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct result got, ref, dup;
	char *text;
	size_t len;

	if (size < 1)
		return 0;
	len = size - 1;
	text = malloc(len ? len : 1);
	dv_fuzz_check(text != NULL, "out of memory");
	memcpy(text, data + 1, len);
	got.n = dv_bq_proto_row_json(text, len, got.out, sizeof(got.out), &got.column);
	ref.n = bq_proto_json_ref(text, len, ref.out, sizeof(ref.out), &ref.column, false);
	if (!same(&got, &ref)) {
		bool ok = false;

		if (refused_whole(&ref)) { /* repeated members? */
			dup.n = bq_proto_json_ref(text, len, dup.out, sizeof(dup.out), &dup.column,
						  true);
			ok = !refused_whole(&dup) && (refused_whole(&got) || same(&got, &dup));
		}
		if (!ok && refused_whole(&got))
			ok = bq_proto_json_ref_unusual(text, len) == 1 || memchr(text, 0, len);
		dv_fuzz_check(ok, "scanner %d (%s), reference %d (%s): %.*s", got.n,
			      got.column ? got.column : "-", ref.n, ref.column ? ref.column : "-",
			      (int)len, text);
	}
	if (got.n > 0)
		check_room(text, len, &got, data[0]);
	free(text);
	return 0;
}
