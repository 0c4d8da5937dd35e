/*
 * mem_model: a model of a live worker's memory traffic at a million flows,
 * to weigh a flow-table layout before building it (docs/benchmarks.md,
 * "Why 0.5 at 1M random flows sits at this VM's memory limit").
 *
 *   mem_model frames|index|direct random|seq [SLOTS_M]
 *
 * Each step "receives" 128 frames the way the pcap PMD replays a capture
 * from memory (the length from a stored mbuf's first line, 64 bytes from
 * its data line 256 bytes on; stored mbufs 2432 bytes apart, 2M of them,
 * walked in order), then runs the table's lines for them:
 * - frames: the frames alone, no table (what receiving costs here).
 * - index: today's table. A bucket in a 25.6 MB index (hash of the flow),
 *   prefetched 16 packets ahead; from it the record position, whose
 *   128-byte record (records in creation order) is prefetched 8 ahead,
 *   then read, modified and written.
 * - direct: 64-byte records placed by hash in SLOTS_M million slots
 *   (linear probing; the model places the million flows once and counts how
 *   many sit past their home slot), the home slot prefetched 16 ahead, then
 *   read (the key compare) and the flow's own slot read, modified and
 *   written.
 * Flows are visited in random order or in turn (seq). Prints ns a packet
 * over 300 000 steps after one warm-up pass. Memory comes from 2 MB pages
 * (MAP_HUGETLB): about 2 600 of them must be free. Prints figures; never
 * fails on speed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define FLOWS	     1000000u
#define NPKT	     (2 * FLOWS)
#define STORED	     (2 * FLOWS)
#define MBUF_STRIDE  2432
#define INDEX_BYTES  (25u * 1024 * 1024 + 600 * 1024)
#define STEPS	     300000
#define BURST	     128
#define AHEAD_BUCKET 16
#define AHEAD_RECORD 8

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint8_t *huge(size_t bytes)
{
	void *p;

	bytes = (bytes + (2u << 20) - 1) & ~((size_t)(2u << 20) - 1);
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1,
		 0);
	if (p == MAP_FAILED) {
		perror("mem_model: mmap of 2 MB pages (echo 2600 > /proc/sys/vm/nr_hugepages)");
		return NULL;
	}
	memset(p, 1, bytes);
	return p;
}

/* Where flow x hashes to: a golden-ratio product, high half folded in. */
static inline uint64_t mix(uint64_t x)
{
	x = (x + 1) * 0x9e3779b97f4a7c15ULL;
	return x ^ x >> 29;
}

int main(int argc, char **argv)
{
	static uint32_t order[NPKT];
	static uint8_t displaced[FLOWS];
	uint8_t frames[BURST][64];
	uint32_t line[BURST], flow[BURST];
	size_t n_buckets = INDEX_BYTES / 64, n_slots = 0, pos = 0, s = 0;
	uint8_t *stored, *index = NULL, *recs = NULL, *slots = NULL;
	uint64_t seed = 7, sum = 0, moved = 0;
	int frames_only, direct, random_order;
	double t0 = 0;

	if (argc < 3 ||
	    (strcmp(argv[1], "frames") && strcmp(argv[1], "index") && strcmp(argv[1], "direct")) ||
	    (strcmp(argv[2], "random") && strcmp(argv[2], "seq"))) {
		fprintf(stderr, "usage: mem_model frames|index|direct random|seq [SLOTS_M]\n");
		return 2;
	}
	frames_only = strcmp(argv[1], "frames") == 0;
	direct = strcmp(argv[1], "direct") == 0;
	random_order = strcmp(argv[2], "random") == 0;
	if (direct) {
		n_slots = (size_t)((argc > 3 ? atof(argv[3]) : 2.5) * 1e6);
		if (n_slots < FLOWS + FLOWS / 10) {
			fprintf(stderr, "mem_model: SLOTS_M must be at least 1.1\n");
			return 2;
		}
	}
	stored = huge((size_t)STORED * MBUF_STRIDE);
	if (direct)
		slots = huge((n_slots + 256) * 64);
	else if ((index = huge(n_buckets * 64)) != NULL)
		recs = huge((size_t)FLOWS * 128);
	if (stored == NULL || (direct ? slots == NULL : recs == NULL))
		return 1;

	for (size_t i = 0; i < NPKT; i++)
		order[i] = random_order ? (uint32_t)(mix(seed++) % FLOWS) : (uint32_t)(i % FLOWS);
	if (direct) {
		uint8_t *used = calloc(n_slots + 256, 1);

		if (used == NULL)
			return 1;
		for (uint32_t f = 0; f < FLOWS; f++) {
			size_t h = mix(f) % n_slots, k = 0;

			while (used[h + k] && k < 255)
				k++;
			used[h + k] = 1;
			displaced[f] = (uint8_t)k;
			moved += k > 0;
		}
		free(used);
	} else {
		/* bucket of flow f holds its record position */
		for (uint32_t f = 0; f < FLOWS; f++)
			((uint32_t *)(index + (mix(f) % n_buckets) * 64))[f & 7] = f;
	}

	for (int round = 0; round < 2; round++) {
		if (round == 1)
			t0 = now_s();
		for (long step = 0; step < STEPS; step++) {
			for (int i = 0; i < BURST; i++) {
				const uint8_t *m = stored + s * MBUF_STRIDE;

				sum += *(const volatile uint64_t *)m;
				memcpy(frames[i], m + 256, 64);
				s = s + 1 == STORED ? 0 : s + 1;
				flow[i] = order[pos];
				pos = pos + 1 == NPKT ? 0 : pos + 1;
			}
			if (frames_only)
				continue;
			if (direct) {
				for (int i = 0; i < BURST + AHEAD_BUCKET; i++) {
					if (i < BURST) {
						line[i] = (uint32_t)(mix(flow[i]) % n_slots);
						__builtin_prefetch(slots + (size_t)line[i] * 64);
					}
					if (i >= AHEAD_BUCKET) {
						int j = i - AHEAD_BUCKET;
						uint64_t *r =
						    (uint64_t *)(slots +
								 (size_t)(line[j] +
									  displaced[flow[j]]) *
								     64);

						sum +=
						    *(const volatile uint64_t *)(slots +
										 (size_t)line[j] *
										     64);
						r[2] += 64;
						r[3] += 1u + frames[j][0];
					}
				}
				continue;
			}
			for (int i = 0; i < BURST + AHEAD_BUCKET + AHEAD_RECORD; i++) {
				if (i < BURST) {
					line[i] = (uint32_t)(mix(flow[i]) % n_buckets);
					__builtin_prefetch(index + (size_t)line[i] * 64);
				}
				if (i >= AHEAD_BUCKET && i - AHEAD_BUCKET < BURST) {
					int j = i - AHEAD_BUCKET;

					flow[j] = ((const uint32_t *)(index + (size_t)line[j] *
										  64))[flow[j] & 7];
					__builtin_prefetch(recs + (size_t)flow[j] * 128);
				}
				if (i >= AHEAD_BUCKET + AHEAD_RECORD) {
					int j = i - AHEAD_BUCKET - AHEAD_RECORD;
					uint64_t *r = (uint64_t *)(recs + (size_t)flow[j] * 128);

					r[2] += 64;
					r[3] += 1u + frames[j][0];
				}
			}
		}
	}
	printf("mem_model %s %s", argv[1], argv[2]);
	if (direct)
		printf(" (%.2fM slots, %.1f %% of flows displaced)", (double)n_slots / 1e6,
		       (double)moved * 100.0 / FLOWS);
	printf(": %.1f ns a packet (check %u)\n", (now_s() - t0) * 1e9 / ((double)STEPS * BURST),
	       (unsigned)(sum & 1));
	return 0;
}
