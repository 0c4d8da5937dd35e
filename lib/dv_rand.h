/*
 * dv_rand: a small per-owner pseudo-random generator (xoshiro256**) for flow
 * UUIDs. Workers may not make a system call per flow, so each one seeds its
 * own generator once from the kernel (getrandom) at startup and then draws
 * ids from it without touching the kernel again.
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

/* 16 random bytes with the RFC 4122 version 4 and variant bits set. */
void dv_rand_uuid4(struct dv_rand *r, uint8_t out[16]);

#endif
