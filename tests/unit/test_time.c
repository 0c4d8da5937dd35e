/*
 * test_time: duration and size parsing (the option values of SPEC section
 * 1) and the TSC wall clock the workers read.
 *
 * Expected values are the arithmetic of the units (1 m = 60 s, 1 KiB = 1024
 * bytes, 1 MB = 10^6 bytes); the clock is checked against CLOCK_REALTIME.
 * The clock needs the EAL for the TSC rate, so the group setup starts one
 * with the project's test flags.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>

#include "dv_eal.h"
#include "dv_time.h"

#define NS_MS 1000000ULL
#define NS_S  1000000000ULL

struct parse_case {
	const char *text;
	int rc;
	uint64_t value;
};

static void check_cases(int (*parse)(const char *, uint64_t *), const struct parse_case *c,
			size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t v = 0xdeadbeef;
		int rc = parse(c[i].text, &v);

		if (rc != c[i].rc)
			fail_msg("\"%s\": rc %d, want %d", c[i].text, rc, c[i].rc);
		if (rc == 0 && v != c[i].value)
			fail_msg("\"%s\": %llu, want %llu", c[i].text, (unsigned long long)v,
				 (unsigned long long)c[i].value);
	}
}

static void test_duration_parse(void **state)
{
	static const struct parse_case cases[] = {
		{"500ms", 0, 500 * NS_MS},
		{"10s", 0, 10 * NS_S},
		{"2m", 0, 120 * NS_S},
		{"1h", 0, 3600 * NS_S},
		{"1d", 0, 86400 * NS_S},
		{"250us", 0, 250000},
		{"5ns", 0, 5},
		{"1.5", 0, 1500 * NS_MS}, /* plain number: seconds, fractions allowed */
		{"120", 0, 120 * NS_S},
		{"0", 0, 0},
		{"0s", 0, 0},
		{"1.5s", 0, 1500 * NS_MS},
		{"0.25h", 0, 900 * NS_S},
		{"30m", 0, 1800 * NS_S}, /* the --active-timeout default */
		{"10S", 0, 10 * NS_S},   /* units are case-insensitive */
		{"", -EINVAL, 0},
		{"-1", -EINVAL, 0},
		{"-1s", -EINVAL, 0},
		{"+1s", -EINVAL, 0},
		{"10x", -EINVAL, 0},
		{"s", -EINVAL, 0},
		{"ms", -EINVAL, 0},
		{"10 s", -EINVAL, 0},
		{"10s ", -EINVAL, 0},
		{"1s2", -EINVAL, 0},
		{"inf", -EINVAL, 0},
		{"nan", -EINVAL, 0},
		{"1e20", -ERANGE, 0}, /* 10^29 ns does not fit in 64 bits */
		{"300000000000h", -ERANGE, 0},
	};

	(void)state;
	check_cases(dv_duration_parse, cases, sizeof(cases) / sizeof(cases[0]));
	assert_int_equal(dv_duration_parse(NULL, &(uint64_t){0}), -EINVAL);
}

/*
 * Durations between 2^63 and 2^64 ns (292 to 584 years) fit the uint64_t
 * result and must come out exact, not wrapped to 2^63.
 */
static void test_duration_parse_above_int64(void **state)
{
	static const struct parse_case cases[] = {
		{"9300000000s", 0, 9300000000ULL * NS_S},
		{"10000000000s", 0, 10000000000ULL * NS_S},
	};

	(void)state;
	check_cases(dv_duration_parse, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_size_parse(void **state)
{
	static const struct parse_case cases[] = {
		{"10GiB", 0, 10ULL << 30}, /* the --spool-max-bytes default */
		{"64KiB", 0, 64ULL << 10},
		{"5MB", 0, 5000000},
		{"100", 0, 100},
		{"0", 0, 0},
		{"1024", 0, 1024},
		{"1kB", 0, 1000},
		{"3MiB", 0, 3ULL << 20},
		{"2GB", 0, 2000000000ULL},
		{"1TiB", 0, 1ULL << 40},
		{"1.5KiB", 0, 1536},
		{"10b", 0, 10},
		{"", -EINVAL, 0},
		{"-5", -EINVAL, 0},
		{"GiB", -EINVAL, 0},
		{"10XB", -EINVAL, 0},
		{"10 GiB", -EINVAL, 0},
		{"1.2.3", -EINVAL, 0},
		{"16777216TiB", -ERANGE, 0}, /* 2^64 bytes */
	};

	(void)state;
	check_cases(dv_size_parse, cases, sizeof(cases) / sizeof(cases[0]));
	assert_int_equal(dv_size_parse(NULL, &(uint64_t){0}), -EINVAL);
}

static uint64_t abs_diff(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

/* The TSC clock stays within 50 ms of CLOCK_REALTIME and never goes back. */
static void test_clock_tracks_realtime(void **state)
{
	struct dv_clock c;
	uint64_t prev = 0, t0;

	(void)state;
	dv_clock_init(&c);
	assert_true(c.hz > 0);
	t0 = dv_monotonic_ns();
	for (int i = 0; i < 30; i++) {
		uint64_t tsc = dv_clock_now(&c), real = dv_realtime_ns();

		if (abs_diff(tsc, real) >= 50 * NS_MS)
			fail_msg("sample %d: TSC clock %llu, realtime %llu", i,
				 (unsigned long long)tsc, (unsigned long long)real);
		assert_true(tsc >= prev);
		prev = tsc;
		usleep(10000);
	}
	/* 30 sleeps of 10 ms took at least 300 ms of monotonic time */
	assert_true(dv_monotonic_ns() - t0 >= 300 * NS_MS);
	/* and the TSC clock saw that time pass too */
	assert_true(dv_clock_now(&c) - c.base_ns >= 300 * NS_MS);
}

static int eal_up(void **state)
{
	char prefix[64];
	char *argv[] = {"test_time", "--no-huge", "-m", "256", "--no-pci", "--file-prefix",
			prefix, "--log-level=lib.*:error", NULL};

	(void)state;
	snprintf(prefix, sizeof(prefix), "dv-test-time-%d", (int)getpid());
	return rte_eal_init(8, argv) < 0 ? -1 : 0;
}

static int eal_down(void **state)
{
	(void)state;
	return dv_eal_cleanup(1);
}

int main(void)
{
	const struct CMUnitTest parse_tests[] = {
		cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_duration_parse_above_int64),
		cmocka_unit_test(test_size_parse),
	};
	const struct CMUnitTest clock_tests[] = {
		cmocka_unit_test(test_clock_tracks_realtime),
	};
	int failed = cmocka_run_group_tests(parse_tests, NULL, NULL);

	return failed + cmocka_run_group_tests(clock_tests, eal_up, eal_down);
}
