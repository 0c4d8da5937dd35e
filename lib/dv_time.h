/*
 * dv_time: the wall clock, ns since the epoch, read from the TSC.
 *
 * Workers must not make a system call per packet, so live time comes from
 * the TSC: dv_clock_init() pairs one reading of CLOCK_REALTIME with one TSC
 * reading, and dv_clock_now() converts the TSC to ns since the epoch. A
 * worker reads it once per burst.
 *
 * An appliance runs for months, and the TSC's rate as the EAL measured it at
 * start is off by some parts per million, while NTP keeps CLOCK_REALTIME
 * right: uncorrected, row times would drift seconds a month. So the control
 * lcore calls dv_clock_adjust() every second or so with a fresh (TSC,
 * CLOCK_REALTIME) pair. It re-measures the TSC rate over the whole time
 * since CLOCK_REALTIME last moved on its own (a gap over DV_CLOCK_REBASE_NS,
 * far more than the TSC can drift in a second, means NTP stepped it) and
 * slews the clock toward CLOCK_REALTIME at no more than DV_CLOCK_SLEW_PPM,
 * so the clock never jumps and never runs backwards; only when the two
 * differ by more than DV_CLOCK_STEP_NS (the system clock was set) does it
 * jump, and says so. The calibration is
 * published to the workers under a sequence counter: no lock, and a worker
 * never sees half of an update.
 */
#ifndef DV_TIME_H
#define DV_TIME_H

#include <stdint.h>

#define DV_NS_PER_SEC 1000000000ULL

#define DV_CLOCK_STEP_NS   1000000000ULL /* further apart than this: jump */
#define DV_CLOCK_SLEW_PPM  500		 /* the most the rate is bent to close a gap */
#define DV_CLOCK_REBASE_NS 10000000ULL	 /* further apart: CLOCK_REALTIME moved on its own */

struct dv_clock_cal {
	uint64_t base_ns;  /* clock value at base_tsc */
	uint64_t base_tsc; /* TSC at the last adjustment */
	uint64_t mult;	   /* ns per tick, fixed point with 40 fraction bits: no division */
};

struct dv_clock {
	struct dv_clock_cal cal; /* what dv_clock_now() reads */
	uint32_t seq;		 /* odd while dv_clock_adjust() rewrites cal */
	/* The rest belongs to the control lcore (telemetry reads offset_ns,
	 * rate and steps with relaxed atomic loads). */
	uint64_t hz;	   /* TSC ticks per second, as the EAL measured them */
	uint64_t ref_ns;   /* CLOCK_REALTIME and TSC at the start or the last step: */
	uint64_t ref_tsc;  /* the baseline the TSC rate is measured over */
	uint64_t rate;	   /* ns per tick (24.40) as last measured */
	int64_t offset_ns; /* CLOCK_REALTIME - clock at the last adjustment */
	uint64_t steps;	   /* times the clock jumped */
};

/* Calibrate against CLOCK_REALTIME (needs the EAL for the TSC rate). */
void dv_clock_init(struct dv_clock *c);

/* Calibrate from one (TSC, CLOCK_REALTIME) pair and a TSC rate. */
void dv_clock_init_at(struct dv_clock *c, uint64_t tsc, uint64_t realtime_ns, uint64_t hz);

/* ns since the epoch from the TSC; no system call. Any lcore. */
uint64_t dv_clock_now(const struct dv_clock *c);

/* The same for a given TSC reading. */
uint64_t dv_clock_at(const struct dv_clock *c, uint64_t tsc);

/*
 * Bring the clock toward CLOCK_REALTIME, given a TSC reading and
 * CLOCK_REALTIME taken together (control lcore only, one writer). Returns 1
 * when it had to jump (c->offset_ns tells by how much), else 0.
 */
int dv_clock_adjust(struct dv_clock *c, uint64_t tsc, uint64_t realtime_ns);

/* The measured TSC rate against the one the clock started with (the EAL's),
 * in parts per billion. Any thread (telemetry). */
int64_t dv_clock_rate_error_ppb(const struct dv_clock *c);

/* CLOCK_REALTIME in ns (a system call: control lcore only). */
uint64_t dv_realtime_ns(void);

/* CLOCK_MONOTONIC in ns (a system call: control lcore only). */
uint64_t dv_monotonic_ns(void);

#endif
