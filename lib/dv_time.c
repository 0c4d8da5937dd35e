/*
 * dv_time: the TSC wall clock the workers read once per burst, and the
 * system clocks the control lcore reads. (Durations and sizes as a user
 * types them are the program's: app/options.c.)
 */
#include <time.h>

#include <rte_common.h>
#include <rte_cycles.h>

#include "dv_time.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * DV_NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

uint64_t dv_realtime_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

uint64_t dv_monotonic_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* ns per tick in 24.40 fixed point for `ns` nanoseconds over `ticks` ticks. */
static uint64_t clock_mult(uint64_t ns, uint64_t ticks)
{
	return (uint64_t)(((unsigned __int128)ns << 40) / ticks);
}

/* The clock at a TSC reading. A reading from before the calibration's base
 * (another lcore's, a moment older than an adjustment) counts from the
 * base: the clock never goes back. */
static uint64_t clock_value(const struct dv_clock_cal *cal, uint64_t tsc)
{
	if (tsc < cal->base_tsc)
		tsc = cal->base_tsc;
	/* A multiply instead of two divisions: this runs once per burst. The
	 * 24.40 fixed-point factor errs by under 1 ms a year. */
	return cal->base_ns +
	       (uint64_t)(((unsigned __int128)(tsc - cal->base_tsc) * cal->mult) >> 40);
}

/* Publish a calibration: odd sequence while writing, even when done. */
static void clock_publish(struct dv_clock *c, const struct dv_clock_cal *cal)
{
	uint32_t seq = c->seq;

	__atomic_store_n(&c->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&c->cal.base_ns, cal->base_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&c->cal.base_tsc, cal->base_tsc, __ATOMIC_RELAXED);
	__atomic_store_n(&c->cal.mult, cal->mult, __ATOMIC_RELAXED);
	__atomic_store_n(&c->seq, seq + 2, __ATOMIC_RELEASE);
}

void dv_clock_init_at(struct dv_clock *c, uint64_t tsc, uint64_t realtime_ns, uint64_t hz)
{
	struct dv_clock_cal cal = {realtime_ns, tsc, clock_mult(DV_NS_PER_SEC, hz)};

	c->seq = 0;
	c->hz = hz;
	c->ref_ns = realtime_ns;
	c->ref_tsc = tsc;
	c->rate = cal.mult;
	c->offset_ns = 0;
	c->steps = 0;
	clock_publish(c, &cal);
}

void dv_clock_init(struct dv_clock *c)
{
	uint64_t tsc = rte_rdtsc();

	dv_clock_init_at(c, tsc, dv_realtime_ns(), rte_get_tsc_hz());
}

uint64_t dv_clock_at(const struct dv_clock *c, uint64_t tsc)
{
	struct dv_clock_cal cal;
	uint32_t s1, s2;

	do {
		s1 = __atomic_load_n(&c->seq, __ATOMIC_ACQUIRE);
		cal.base_ns = __atomic_load_n(&c->cal.base_ns, __ATOMIC_RELAXED);
		cal.base_tsc = __atomic_load_n(&c->cal.base_tsc, __ATOMIC_RELAXED);
		cal.mult = __atomic_load_n(&c->cal.mult, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&c->seq, __ATOMIC_RELAXED);
	} while ((s1 & 1) || s1 != s2);
	return clock_value(&cal, tsc);
}

uint64_t dv_clock_now(const struct dv_clock *c)
{
	return dv_clock_at(c, rte_rdtsc());
}

int64_t dv_clock_rate_error_ppb(const struct dv_clock *c)
{
	double nominal = (double)clock_mult(DV_NS_PER_SEC, c->hz);

	return (int64_t)(((double)__atomic_load_n(&c->rate, __ATOMIC_RELAXED) / nominal - 1.0) *
			 1e9);
}

int dv_clock_adjust(struct dv_clock *c, uint64_t tsc, uint64_t realtime_ns)
{
	struct dv_clock_cal cal = c->cal; /* the only writer reads its own */
	uint64_t now = clock_value(&cal, tsc);
	uint64_t since, rate, interval_ticks, bend;
	int64_t off = (int64_t)(realtime_ns - now), slew, limit;

	__atomic_store_n(&c->offset_ns, off, __ATOMIC_RELAXED);
	if (tsc <= cal.base_tsc)
		return 0; /* no time has passed: nothing to learn */
	if (off > (int64_t)DV_CLOCK_STEP_NS || off < -(int64_t)DV_CLOCK_STEP_NS ||
	    realtime_ns < c->ref_ns) {
		/* The system clock was set: follow it at once, and measure the
		 * TSC rate afresh from here. */
		c->ref_ns = realtime_ns;
		c->ref_tsc = tsc;
		__atomic_store_n(&c->steps, c->steps + 1, __ATOMIC_RELAXED);
		cal.base_ns = realtime_ns;
		cal.base_tsc = tsc;
		cal.mult = c->rate;
		clock_publish(c, &cal);
		return 1;
	}
	if (off > (int64_t)DV_CLOCK_REBASE_NS || off < -(int64_t)DV_CLOCK_REBASE_NS) {
		/* NTP stepped CLOCK_REALTIME by less than a second: slew to it,
		 * but measure the rate only from here, or the step would read
		 * as a rate error. */
		c->ref_ns = realtime_ns;
		c->ref_tsc = tsc;
	}
	/* The TSC rate over the whole baseline (the longer, the more exact),
	 * then bent to close the gap by the next adjustment, expected as far
	 * ahead as the last one was behind, by at most DV_CLOCK_SLEW_PPM. */
	since = tsc - c->ref_tsc;
	if (since >= c->hz && realtime_ns > c->ref_ns)
		__atomic_store_n(&c->rate, clock_mult(realtime_ns - c->ref_ns, since),
				 __ATOMIC_RELAXED);
	rate = c->rate;
	interval_ticks = RTE_MAX(tsc - cal.base_tsc, c->hz / 100);
	limit = (int64_t)(((unsigned __int128)interval_ticks * DV_NS_PER_SEC / c->hz) *
			  DV_CLOCK_SLEW_PPM / 1000000);
	slew = off > limit ? limit : off < -limit ? -limit : off;
	bend = clock_mult((uint64_t)(slew < 0 ? -slew : slew), interval_ticks);
	cal.mult = slew < 0 ? rate - bend : rate + bend;
	cal.base_ns = now;
	cal.base_tsc = tsc;
	clock_publish(c, &cal);
	return 0;
}
