/*
 * slow_fsync: an LD_PRELOAD shim that makes a disk stall without touching
 * the program: every fsync() and fdatasync() first sleeps DV_SLOW_FSYNC_MS
 * milliseconds (0 or unset: no delay), then asks the kernel.
 *
 *   LD_PRELOAD=.../libslow_fsync.so DV_SLOW_FSYNC_MS=500 dpdk-devourer ...
 *
 * At exit it prints one line to stderr: how many syncs it delayed, and how
 * many of them ran on the process's main thread (in dpdk-devourer the main
 * thread is the control lcore), so a test can see where the syncs ran:
 *
 *   slow_fsync: 12 syncs delayed 500 ms each, 3 on the main thread
 *
 * Built as a shared module by tests/tools/meson.build; used by
 * tests/bq/stalled-fsync.sh. Nothing in the product knows about it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long delay_ms = -1;
static unsigned long delayed, on_main;

static void slow(void)
{
	struct timespec ts;

	if (delay_ms < 0) {
		const char *v = getenv("DV_SLOW_FSYNC_MS");

		delay_ms = v ? atol(v) : 0;
	}
	if (delay_ms <= 0)
		return;
	ts.tv_sec = delay_ms / 1000;
	ts.tv_nsec = (delay_ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0)
		;
	__atomic_fetch_add(&delayed, 1, __ATOMIC_RELAXED);
	if (syscall(SYS_gettid) == getpid())
		__atomic_fetch_add(&on_main, 1, __ATOMIC_RELAXED);
}

int fsync(int fd)
{
	slow();
	return (int)syscall(SYS_fsync, fd);
}

int fdatasync(int fd)
{
	slow();
	return (int)syscall(SYS_fdatasync, fd);
}

__attribute__((destructor)) static void report(void)
{
	if (delay_ms > 0)
		fprintf(stderr,
			"slow_fsync: %lu syncs delayed %ld ms each, %lu on the main thread\n",
			delayed, delay_ms, on_main);
}
