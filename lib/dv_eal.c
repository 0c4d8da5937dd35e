/*
 * dv_eal: the TSC's rate measured over the program's first 2 ms, the EAL's
 * lcore probes without the lcores no CPU can be, and rte_eal_cleanup() plus
 * removal of a private runtime directory.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>

#include "dv_eal.h"
#include "dv_time.h"

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
			*ns = (uint64_t)ts.tv_sec * DV_NS_PER_SEC + (uint64_t)ts.tv_nsec;
		}
	}
	return 0;
}

/* The TSC's rate between the pair (tsc0, ns0) and one taken once at least
 * window_ns have passed since ns0 (sleeping for what is left), rounded as
 * the EAL rounds; 0 if the clock cannot be read. */
static uint64_t tsc_hz_since(uint64_t tsc0, uint64_t ns0, uint64_t window_ns)
{
	uint64_t tsc1, ns1;

	if (tsc_clock_pair(&tsc1, &ns1) < 0 || ns1 < ns0)
		return 0;
	if (ns1 - ns0 < window_ns) {
		uint64_t left = window_ns - (ns1 - ns0);
		struct timespec w = {.tv_sec = (time_t)(left / DV_NS_PER_SEC),
				     .tv_nsec = (long)(left % DV_NS_PER_SEC)};

		while (nanosleep(&w, &w) != 0 && errno == EINTR)
			;
		if (tsc_clock_pair(&tsc1, &ns1) < 0)
			return 0;
	}
	if (ns1 <= ns0 || tsc1 <= tsc0)
		return 0;
	return RTE_ALIGN_MUL_NEAR(
	    (uint64_t)((unsigned __int128)(tsc1 - tsc0) * DV_NS_PER_SEC / (ns1 - ns0)),
	    DV_TSC_ROUND);
}

uint64_t dv_eal_tsc_hz(uint64_t window_ns)
{
	uint64_t tsc0, ns0;

	if (tsc_clock_pair(&tsc0, &ns0) < 0)
		return 0;
	return tsc_hz_since(tsc0, ns0, window_ns);
}

/* The window's first end, taken as the program starts (before main), so
 * that the window passes while the command line is read and the EAL starts
 * rather than in a sleep of its own. */
static struct {
	uint64_t tsc, ns;
	int ok;
} dv_tsc_start;

static void __attribute__((constructor)) dv_tsc_start_pair(void)
{
	dv_tsc_start.ok = tsc_clock_pair(&dv_tsc_start.tsc, &dv_tsc_start.ns) == 0;
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
	if (dv_tsc_start.ok)
		return tsc_hz_since(dv_tsc_start.tsc, dv_tsc_start.ns, DV_EAL_TSC_WINDOW_NS);
	return dv_eal_tsc_hz(DV_EAL_TSC_WINDOW_NS);
}

/*
 * The last CPU the kernel can have, plus one (/sys/devices/system/cpu/
 * possible: "0-1", "0,2-5"); UINT_MAX when it cannot be read, and then
 * every lcore is asked as the EAL would. Read once; threads that race to
 * read it first find the same.
 */
static unsigned int cpus_possible(void)
{
	static unsigned int cached; /* 0: not read yet */
	unsigned int n = __atomic_load_n(&cached, __ATOMIC_RELAXED);
	char buf[256], *p, *end;
	ssize_t len = -1;
	int fd;

	if (n != 0)
		return n;
	n = UINT_MAX;
	fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	if (len > 0) {
		end = buf + len;
		while (end > buf && !isdigit((unsigned char)end[-1]))
			end--;
		p = end;
		while (p > buf && isdigit((unsigned char)p[-1]))
			p--;
		if (p < end)
			n = (unsigned int)strtoul(p, NULL, 10) + 1;
	}
	__atomic_store_n(&cached, n, __ATOMIC_RELAXED);
	return n;
}

/*
 * The EAL's probes of an lcore (lib/eal/linux/eal_lcore.c), asked for each
 * of RTE_MAX_LCORE lcores at start-up: whether the CPU exists (its
 * topology/core_id) and its NUMA node (the first nodeN/cpuM that exists,
 * else 0). The same answers, but a CPU past the last possible one is
 * answered without looking: about 4,200 access() calls fewer, 16 ms on
 * this VM. Linked in place of the EAL's with -Wl,--wrap (meson.build).
 */
int __wrap_eal_cpu_detected(unsigned int lcore_id)
{
	char path[PATH_MAX];

	if (lcore_id >= cpus_possible())
		return 0;
	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%u/topology/core_id", lcore_id);
	return access(path, F_OK) == 0;
}

unsigned int __wrap_eal_cpu_socket_id(unsigned int lcore_id)
{
	char path[PATH_MAX];

	if (lcore_id >= cpus_possible())
		return 0;
	for (unsigned int node = 0; node < RTE_MAX_NUMA_NODES; node++) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%u/cpu%u", node,
			 lcore_id);
		if (access(path, F_OK) == 0)
			return node;
	}
	return 0;
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
