/*
 * dv_rand: xoshiro256** seeded through splitmix64. Not for secrets: it only
 * has to give each flow table an unrelated id key, without a system call.
 */
#include <errno.h>
#include <sys/random.h>

#include "dv_rand.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void dv_rand_seed(struct dv_rand *r, uint64_t a, uint64_t b)
{
	uint64_t x = a ^ (b * 0xd1342543de82ef95ULL);

	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

int dv_rand_os_seed(uint64_t seed[2])
{
	uint8_t *p = (uint8_t *)seed;
	size_t got = 0;

	while (got < 2 * sizeof(uint64_t)) {
		ssize_t n = getrandom(p + got, 2 * sizeof(uint64_t) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 0;
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t dv_rand_next(struct dv_rand *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}
