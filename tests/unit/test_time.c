/*
 * test_time: the TSC wall clock the workers read. (Durations and sizes as
 * a user types them are tested with the options, in test_options.c.)
 *
 * The clock is checked against CLOCK_REALTIME, and against a simulated TSC
 * whose true rate the test sets. Reading the real TSC needs the EAL for its
 * rate, so that group's setup starts one with the project's test flags.
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

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_lcore.h>

#include "dv_eal.h"
#include "dv_time.h"

#define NS_MS 1000000ULL
#define NS_S  1000000000ULL

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
	assert_true(dv_clock_now(&c) - c.ref_ns >= 300 * NS_MS);
}

/*
 * A simulated appliance whose TSC runs `ppm` parts per million faster than
 * the rate the EAL measured (hz), adjusted once per simulated second for
 * `seconds`, with the clock read 10 times between adjustments. Checks that
 * the clock never runs backwards and never jumps, and returns the largest
 * |offset| over the last 10 adjustments.
 */
static uint64_t drift_run(int ppm, int seconds, int64_t start_offset_ns)
{
	const uint64_t hz = 2000000000ULL; /* what the EAL believes */
	const double true_hz = (double)hz * (1.0 + ppm / 1e6);
	const uint64_t real0 = 1700000000ULL * NS_S, tsc0 = 123456789ULL;
	uint64_t prev = 0, worst = 0;
	struct dv_clock c;

	dv_clock_init_at(&c, tsc0, (uint64_t)((int64_t)real0 - start_offset_ns), hz);
	for (int step = 1; step <= seconds * 10; step++) {
		uint64_t real = real0 + (uint64_t)step * (NS_S / 10);
		uint64_t tsc = tsc0 + (uint64_t)((double)step / 10 * true_hz);
		uint64_t v = dv_clock_at(&c, tsc);

		if (v < prev)
			fail_msg("ppm %d, %.1f s: the clock went back %llu ns", ppm, step / 10.0,
				 (unsigned long long)(prev - v));
		prev = v;
		if (step % 10 == 0) {
			assert_int_equal(dv_clock_adjust(&c, tsc, real), 0);
			assert_true(dv_clock_at(&c, tsc) == v); /* no jump at the adjustment */
			if (step > (seconds - 10) * 10) {
				uint64_t a =
				    (uint64_t)(c.offset_ns < 0 ? -c.offset_ns : c.offset_ns);

				worst = a > worst ? a : worst;
			}
		}
	}
	assert_int_equal(c.steps, 0);
	return worst;
}

/* Without adjustment a 50 ppm TSC error is 4.3 s a day; adjusted, the
 * clock stays within microseconds of CLOCK_REALTIME, in either direction,
 * and a 300 ms gap (NTP stepped CLOCK_REALTIME) is slewed away (500 ppm:
 * 600 s) without a jump. */
static void test_clock_adjust_follows_drift(void **state)
{
	(void)state;
	assert_true(drift_run(50, 120, 0) < 10 * 1000);
	assert_true(drift_run(-50, 120, 0) < 10 * 1000);
	assert_true(drift_run(0, 60, 0) < 1000);
	assert_true(drift_run(20, 700, 300 * NS_MS) < 10 * 1000);
	assert_true(drift_run(-20, 700, -300 * NS_MS) < 10 * 1000);
}

/* A system clock set forward or back by more than DV_CLOCK_STEP_NS is
 * followed at once, counted, and the rate is measured afresh from there. */
static void test_clock_adjust_steps(void **state)
{
	const uint64_t hz = 1000000000ULL, real0 = 1700000000ULL * NS_S, tsc0 = 1000;
	struct dv_clock c;

	(void)state;
	dv_clock_init_at(&c, tsc0, real0, hz);
	assert_int_equal(dv_clock_adjust(&c, tsc0 + hz, real0 + NS_S + 5 * NS_S), 1);
	assert_int_equal(c.steps, 1);
	assert_true(c.offset_ns > 4 * (int64_t)NS_S);
	assert_int_equal(dv_clock_at(&c, tsc0 + hz), real0 + 6 * NS_S);
	assert_int_equal(dv_clock_at(&c, tsc0 + 2 * hz), real0 + 7 * NS_S);
	/* back by an hour */
	assert_int_equal(dv_clock_adjust(&c, tsc0 + 3 * hz, real0 + 8 * NS_S - 3600 * NS_S), 1);
	assert_int_equal(c.steps, 2);
	assert_int_equal(dv_clock_at(&c, tsc0 + 3 * hz), real0 + 8 * NS_S - 3600 * NS_S);
	/* a small gap afterwards is slewed, not stepped */
	assert_int_equal(dv_clock_adjust(&c, tsc0 + 4 * hz, real0 + 9 * NS_S - 3600 * NS_S + 1000),
			 0);
	/* a TSC reading from before the last adjustment counts from its base */
	assert_int_equal(dv_clock_at(&c, tsc0), dv_clock_at(&c, tsc0 + 4 * hz));
}

/*
 * The TSC's rate measured in 2 ms (what the program's EAL takes instead of
 * its own 100 ms measurement) is the EAL's: this test links the shared
 * DPDK, whose EAL measured it its own way (or read it from the CPU). Both
 * are rounded to 10 MHz, so a rate near a rounding edge may round either
 * way: one step apart at most. Three times, for a preemption mid-window.
 */
static void test_tsc_hz_is_the_eals(void **state)
{
	uint64_t eal = rte_get_tsc_hz();

	(void)state;
	for (int i = 0; i < 3; i++) {
		uint64_t hz = dv_eal_tsc_hz(DV_EAL_TSC_WINDOW_NS);

		printf("dv_eal_tsc_hz %llu Hz, the EAL's %llu Hz\n", (unsigned long long)hz,
		       (unsigned long long)eal);
		assert_int_equal(hz % 10000000ULL, 0);
		assert_true(abs_diff(hz, eal) <= 10000000ULL);
	}
}

/*
 * The lcore probes the static program takes in place of the EAL's: for
 * every lcore up to 1024, the answers of the sysfs paths the EAL reads; and
 * for the lcores this test's EAL (the shared DPDK, probing its own way)
 * enabled, its own socket.
 */
static void test_lcore_probes_are_the_eals(void **state)
{
	unsigned int detected = 0, lcore;

	(void)state;
	for (unsigned int id = 0; id < 1024; id++) {
		char path[PATH_MAX];
		unsigned int node = 0;
		int want;

		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/topology/core_id", id);
		want = access(path, F_OK) == 0;
		for (unsigned int s = 0; s < RTE_MAX_NUMA_NODES; s++) {
			snprintf(path, sizeof(path), "/sys/devices/system/node/node%u/cpu%u", s,
				 id);
			if (access(path, F_OK) == 0) {
				node = s;
				break;
			}
		}
		assert_int_equal(__wrap_eal_cpu_detected(id), want);
		assert_int_equal(__wrap_eal_cpu_socket_id(id), node);
		detected += (unsigned int)want;
	}
	assert_true(detected >= 1);
	RTE_LCORE_FOREACH (lcore) {
		assert_int_equal(__wrap_eal_cpu_detected(lcore), 1);
		assert_int_equal(__wrap_eal_cpu_socket_id(lcore), rte_lcore_to_socket_id(lcore));
	}
	printf("%u CPUs detected, %u lcores enabled\n", detected, rte_lcore_count());
}

static int eal_up(void **state)
{
	char prefix[64];
	char *argv[] = {"test_time", "--no-huge",     "-m",   "256",
			"--no-pci",  "--file-prefix", prefix, "--log-level=lib.*:error",
			NULL};

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
	const struct CMUnitTest sim_tests[] = {
	    cmocka_unit_test(test_clock_adjust_follows_drift),
	    cmocka_unit_test(test_clock_adjust_steps),
	};
	const struct CMUnitTest clock_tests[] = {
	    cmocka_unit_test(test_clock_tracks_realtime),
	    cmocka_unit_test(test_tsc_hz_is_the_eals),
	    cmocka_unit_test(test_lcore_probes_are_the_eals),
	};
	int failed = cmocka_run_group_tests(sim_tests, NULL, NULL);

	return failed + cmocka_run_group_tests(clock_tests, eal_up, eal_down);
}
