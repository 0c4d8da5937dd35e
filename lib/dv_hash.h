/*
 * dv_hash: the hash of keys that the traffic chooses (flow keys, fragment
 * keys), under a secret key drawn at start.
 *
 * With a fixed function (CRC32C, which is linear) anyone can compute
 * offline as many keys as they like that share a bucket or a set, and a
 * flood of them turns every lookup into a walk (the flow table) or evicts
 * chosen entries (the fragment cache). NH, the hash of UMAC (RFC 4418),
 * under a random key: two different inputs share all 128 bits of the NH sum
 * with probability at most 2^-64, and which inputs share a bucket cannot be
 * worked out from the packets. The sum is folded to 64 bits; callers take
 * their bucket and signature bits from the fold. Two 64-bit multiplies for
 * five words, one for two.
 */
#ifndef DV_HASH_H
#define DV_HASH_H

#include <stdint.h>

struct dv_hash_key {
	uint64_t k[6]; /* random */
};

/* One NH step: the 128-bit product of two words, each plus its key word. */
static inline unsigned __int128 dv_nh(uint64_t a, uint64_t b, const uint64_t key[2])
{
	return (unsigned __int128)(a + key[0]) * (b + key[1]);
}

static inline uint64_t dv_hash_fold(unsigned __int128 x)
{
	return (uint64_t)x ^ (uint64_t)(x >> 64);
}

/* The hash of two words. */
static inline uint64_t dv_hash2(uint64_t a, uint64_t b, const struct dv_hash_key *key)
{
	return dv_hash_fold(dv_nh(a, b, key->k));
}

/* The hash of six words, five in w and x. */
static inline uint64_t dv_hash6(const uint64_t w[5], uint64_t x, const struct dv_hash_key *key)
{
	return dv_hash_fold(dv_nh(w[0], w[1], key->k) + dv_nh(w[2], w[3], key->k + 2) +
			    dv_nh(w[4], x, key->k + 4));
}

/* The hash of five words (six, the last 0). */
static inline uint64_t dv_hash5(const uint64_t w[5], const struct dv_hash_key *key)
{
	return dv_hash6(w, 0, key);
}

#endif
