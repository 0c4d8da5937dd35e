/*
 * dv_time: durations and clocks.
 *
 * Workers must not make a system call per packet, so live time comes from
 * the TSC: dv_clock_init() pairs one reading of CLOCK_REALTIME with one TSC
 * reading, and dv_clock_now() converts the TSC to ns since the epoch. A
 * worker reads it once per burst.
 */
#ifndef DV_TIME_H
#define DV_TIME_H

#include <stdint.h>

#define DV_NS_PER_SEC 1000000000ULL

/* Parse "500ms", "10s", "2m", "1h", "1d", "250us", "5ns" or a plain number of
 * seconds (fractions allowed) into ns. Returns 0, or -EINVAL / -ERANGE. */
int dv_duration_parse(const char *s, uint64_t *ns);

/* Parse a byte size: "1024", "64KiB", "10GiB", "5MB" (SI and IEC). 0 or -EINVAL/-ERANGE. */
int dv_size_parse(const char *s, uint64_t *bytes);

struct dv_clock {
	uint64_t base_ns;  /* CLOCK_REALTIME at calibration */
	uint64_t base_tsc; /* TSC at calibration */
	uint64_t hz;       /* TSC ticks per second */
	uint64_t mult;     /* ns per tick, fixed point with 40 fraction bits: no division */
};

/* Calibrate against CLOCK_REALTIME (needs the EAL for the TSC rate). */
void dv_clock_init(struct dv_clock *c);

/* ns since the epoch from the TSC; no system call. */
uint64_t dv_clock_now(const struct dv_clock *c);

/* CLOCK_REALTIME in ns (a system call: control lcore only). */
uint64_t dv_realtime_ns(void);

/* CLOCK_MONOTONIC in ns (a system call: control lcore only). */
uint64_t dv_monotonic_ns(void);

#endif
