/*
 * test_reta: RSS redirection tables across ports (lib/dv_reta.h).
 *
 * What is expected follows from the arithmetic of a NIC's lookup, not from
 * the code: a table of S entries (a power of two) sends hash h to
 * table[h mod S]. Default tables (entry e to queue e mod q) of two sizes
 * S1 < S2 then agree exactly when q is a power of two no larger than S1
 * (both give h mod q); for any other q, hash S1 goes to queue 0 through the
 * smaller table and to queue S1 mod q != 0 through the larger one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "dv_reta.h"

static const uint32_t sizes[] = {1, 2, 4, 64, 128, 512, 2048};

static uint16_t tab_a[DV_RETA_MAX], tab_b[DV_RETA_MAX];

static void fill_default(uint16_t *t, uint32_t size, uint16_t q)
{
	for (uint32_t e = 0; e < size; e++)
		t[e] = (uint16_t)(e % q);
}

static int is_pow2(uint32_t x)
{
	return x != 0 && (x & (x - 1)) == 0;
}

static void test_size_ok(void **state)
{
	(void)state;
	assert_false(dv_reta_size_ok(0));
	assert_false(dv_reta_size_ok(3));
	assert_false(dv_reta_size_ok(96));
	assert_false(dv_reta_size_ok(4096));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		assert_true(dv_reta_size_ok(sizes[i]));
}

/* Default tables of every pair of sizes, 1 to 12 queues. */
static void test_default_tables(void **state)
{
	uint32_t checked = 0, disagree = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t j = i; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			uint32_t s1 = sizes[i], s2 = sizes[j];

			for (uint16_t q = 1; q <= 12; q++) {
				const uint16_t *t[2] = {tab_a, tab_b};
				uint32_t sz[2] = {s1, s2}, h = 0, a = 0, b = 0;
				int want = s1 == s2 || (is_pow2(q) && q <= s1);
				int got;

				fill_default(tab_a, s1, q);
				fill_default(tab_b, s2, q);
				got = dv_reta_agree(t, sz, 2, &h, &a, &b);
				if (got != want)
					fail_msg("sizes %u and %u, %u queues: agree %d, want %d",
						 s1, s2, q, got, want);
				if (!got) {
					/* the hash it names really differs */
					assert_true(t[a][h & (sz[a] - 1)] != t[b][h & (sz[b] - 1)]);
					disagree++;
				}
				checked++;
			}
		}
	}
	print_message("default tables: %u pairs, %u disagree\n", checked, disagree);
	assert_true(disagree > 0);
}

/*
 * The example of dv_reta.h, through the library: 3 queues, a port whose NIC
 * has the default table of 128 entries and one with 512. The NIC sends hash
 * h to entry h mod size, so hash 128 meets entry 0 (queue 0) of the small
 * table and entry 128 (queue 128 mod 3 = 2) of the large one, and every
 * smaller hash h meets entry h (queue h mod 3) of both: 128 is the first
 * hash on which they differ. dv_reta_agree must name it; after
 * dv_reta_fill for the common size 128, both must agree, and hash 128 must
 * go to queue 0 through both (entry 128 of the large table is
 * (128 mod 128) mod 3 = 0).
 */
static void test_header_example(void **state)
{
	const uint16_t *t[2] = {tab_a, tab_b};
	uint32_t sz[2] = {128, 512}, h = 0, a = 0, b = 0;

	(void)state;
	fill_default(tab_a, 128, 3);
	fill_default(tab_b, 512, 3);
	assert_int_equal(dv_reta_agree(t, sz, 2, &h, &a, &b), 0);
	assert_int_equal(h, 128);
	assert_true((a == 0 && b == 1) || (a == 1 && b == 0));
	assert_int_equal(t[0][h & 127], 0);
	assert_int_equal(t[1][h & 511], 2);

	/* Either order of the two ports names the same hash. */
	t[0] = tab_b, t[1] = tab_a, sz[0] = 512, sz[1] = 128;
	h = 0;
	assert_int_equal(dv_reta_agree(t, sz, 2, &h, &a, &b), 0);
	assert_int_equal(h, 128);

	dv_reta_fill(tab_a, 128, 128, 3);
	dv_reta_fill(tab_b, 512, 128, 3);
	t[0] = tab_a, t[1] = tab_b, sz[0] = 128, sz[1] = 512;
	assert_int_equal(dv_reta_agree(t, sz, 2, &h, &a, &b), 1);
	assert_int_equal(tab_a[128 & 127], 0);
	assert_int_equal(tab_b[128 & 511], 0);
	/* The small table is the NIC's default; the large one repeats it. */
	for (uint32_t e = 0; e < 512; e++)
		assert_int_equal(tab_b[e], (e % 128) % 3);
}

/* Tables filled for the smallest size agree whatever the sizes and queue
 * count, use only queues < q, and give each queue its share of the hashes. */
static void test_fill_agrees(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t j = i; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			uint32_t s1 = sizes[i], s2 = sizes[j];

			for (uint16_t q = 1; q <= 12; q++) {
				const uint16_t *t[3] = {tab_b, tab_a, tab_b};
				uint32_t sz[3] = {s2, s1, s2}, h, a, b, count[12] = {0};

				dv_reta_fill(tab_a, s1, s1, q);
				dv_reta_fill(tab_b, s2, s1, q);
				if (!dv_reta_agree(t, sz, 3, &h, &a, &b))
					fail_msg(
					    "filled for %u: sizes %u and %u, %u queues differ at "
					    "hash %u",
					    s1, s1, s2, q, h);
				for (uint32_t e = 0; e < s2; e++) {
					assert_true(tab_b[e] < q);
					count[tab_b[e]]++;
				}
				/* over the larger table each queue has s2/q entries, +-s2/s1 */
				for (uint16_t k = 0; k < q && q <= s1; k++)
					assert_true(count[k] + s2 / s1 >= s2 / q &&
						    count[k] <= s2 / q + s2 / s1);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_size_ok),
	    cmocka_unit_test(test_default_tables),
	    cmocka_unit_test(test_header_example),
	    cmocka_unit_test(test_fill_agrees),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
