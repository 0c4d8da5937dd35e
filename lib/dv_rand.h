/*
 * dv_rand: a small pseudo-random generator (xoshiro256**) that turns the
 * kernel's startup seed (getrandom) into each flow table's random id key
 * (see dv_flow_id): workers never make a system call for a flow id.
 */
#ifndef DV_RAND_H
#define DV_RAND_H

#include <stdint.h>

struct dv_rand {
	uint64_t s[4];
};

/* Seed from two 64-bit values (expanded with splitmix64; any value is fine). */
void dv_rand_seed(struct dv_rand *r, uint64_t a, uint64_t b);

/* Fill seed[0..1] from getrandom(); returns 0 or negative errno. Startup only. */
int dv_rand_os_seed(uint64_t seed[2]);

uint64_t dv_rand_next(struct dv_rand *r);

#endif
