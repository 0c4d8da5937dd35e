/*
 * dv_eal: the TSC's rate measured in 10 ms, and rte_eal_cleanup() plus
 * removal of a private runtime directory.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>

#include "dv_eal.h"

#define DV_NS_SEC    1000000000ULL
#define DV_TSC_ROUND 10000000ULL /* Hz: the EAL rounds its own reading so */
#define DV_TSC_PAIRS 8		 /* tries at each end */

/* One end of the window: a CLOCK_MONOTONIC_RAW reading and the TSC halfway
 * between the two TSC reads around it, of the DV_TSC_PAIRS tries the one
 * with those reads closest. 0, or -1 when the clock cannot be read. */
static int tsc_clock_pair(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < DV_TSC_PAIRS; i++) {
		struct timespec ts;
		uint64_t a = rte_rdtsc_precise(), b;

		if (clock_gettime(CLOCK_MONOTONIC_RAW, &ts) != 0)
			return -1;
		b = rte_rdtsc_precise();
		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*ns = (uint64_t)ts.tv_sec * DV_NS_SEC + (uint64_t)ts.tv_nsec;
		}
	}
	return 0;
}

uint64_t dv_eal_tsc_hz(uint64_t window_ns)
{
	struct timespec w = {.tv_sec = (time_t)(window_ns / DV_NS_SEC),
			     .tv_nsec = (long)(window_ns % DV_NS_SEC)};
	uint64_t tsc0, ns0, tsc1, ns1;

	if (tsc_clock_pair(&tsc0, &ns0) < 0)
		return 0;
	while (nanosleep(&w, &w) != 0 && errno == EINTR)
		;
	if (tsc_clock_pair(&tsc1, &ns1) < 0 || ns1 <= ns0 || tsc1 <= tsc0)
		return 0;
	return RTE_ALIGN_MUL_NEAR(
	    (uint64_t)((unsigned __int128)(tsc1 - tsc0) * DV_NS_SEC / (ns1 - ns0)), DV_TSC_ROUND);
}

/*
 * The EAL's get_tsc_freq() (lib/eal/linux/eal_timer.c: the 100 ms sleep),
 * for a program linked with -Wl,--wrap=get_tsc_freq; only asked when the
 * CPU does not state the rate (get_tsc_freq_arch()). 0 lets the EAL
 * estimate it its own way.
 */
uint64_t __wrap_get_tsc_freq(void);
uint64_t __wrap_get_tsc_freq(void)
{
	return dv_eal_tsc_hz(DV_EAL_TSC_WINDOW_NS);
}

int dv_eal_cleanup(int own_prefix)
{
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int rc;

	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rc = rte_eal_cleanup();
	if (!own_prefix || dir[0] == '\0' || (d = opendir(dir)) == NULL)
		return rc;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
	return rc;
}
