/*
 * dv_time: duration and size parsing for options, and the TSC wall clock
 * the workers read once per burst.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <rte_cycles.h>

#include "dv_time.h"

struct unit {
	const char *name;
	double mult;
};

/* Parse "<number><unit>" with the unit looked up in units; an empty unit means
 * empty_mult. */
static int parse_scaled(const char *s, const struct unit *units, double empty_mult,
			uint64_t *out)
{
	char *end;
	double v, mult = 0;

	/* Digits first: no sign, no space, no hex ("0x10"). */
	if (s == NULL || !((*s >= '0' && *s <= '9') || *s == '.'))
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (*p == 'x' || *p == 'X' || *p == 'p' || *p == 'P')
			return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	if (*end == '\0') {
		mult = empty_mult;
	} else {
		for (const struct unit *u = units; u->name != NULL; u++) {
			if (strcasecmp(end, u->name) == 0) {
				mult = u->mult;
				break;
			}
		}
		if (mult == 0)
			return -EINVAL;
	}
	v *= mult;
	if (v >= 1.8e19)
		return -ERANGE;
	/* llround() is signed: above INT64_MAX convert directly. */
	*out = v < 9.2e18 ? (uint64_t)llround(v) : (uint64_t)v;
	return 0;
}

int dv_duration_parse(const char *s, uint64_t *ns)
{
	static const struct unit units[] = {
		{"ns", 1},     {"us", 1e3},    {"ms", 1e6},    {"s", 1e9},
		{"m", 60e9},   {"h", 3600e9},  {"d", 86400e9}, {NULL, 0},
	};

	return parse_scaled(s, units, 1e9, ns);
}

int dv_size_parse(const char *s, uint64_t *bytes)
{
	static const struct unit units[] = {
		{"b", 1},
		{"k", 1024.0},          {"kib", 1024.0},          {"kb", 1e3},
		{"m", 1048576.0},       {"mib", 1048576.0},       {"mb", 1e6},
		{"g", 1073741824.0},    {"gib", 1073741824.0},    {"gb", 1e9},
		{"t", 1099511627776.0}, {"tib", 1099511627776.0}, {"tb", 1e12},
		{NULL, 0},
	};

	return parse_scaled(s, units, 1, bytes);
}

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

void dv_clock_init(struct dv_clock *c)
{
	c->hz = rte_get_tsc_hz();
	c->base_tsc = rte_rdtsc();
	c->base_ns = dv_realtime_ns();
	c->mult = (uint64_t)(((unsigned __int128)DV_NS_PER_SEC << 40) / c->hz);
}

uint64_t dv_clock_now(const struct dv_clock *c)
{
	uint64_t d = rte_rdtsc() - c->base_tsc;

	/* A multiply instead of two divisions: this runs once per burst. The
	 * 24.40 fixed-point factor errs by under 1 ms a year. */
	return c->base_ns + (uint64_t)(((unsigned __int128)d * c->mult) >> 40);
}
