/* dv_reta: see dv_reta.h. */
#include "dv_reta.h"

int dv_reta_size_ok(uint32_t size)
{
	return size >= 1 && size <= DV_RETA_MAX && (size & (size - 1)) == 0;
}

int dv_reta_agree(const uint16_t *const table[], const uint32_t size[], uint32_t n, uint32_t *hash,
		  uint32_t *a, uint32_t *b)
{
	uint32_t largest = 1;

	for (uint32_t p = 0; p < n; p++)
		if (size[p] > largest)
			largest = size[p];
	/* Every table looks at the low bits of the hash only, the largest at
	 * log2(largest) of them: these hashes cover every case. */
	for (uint32_t h = 0; h < largest; h++) {
		for (uint32_t p = 1; p < n; p++) {
			if (table[p][h & (size[p] - 1)] != table[0][h & (size[0] - 1)]) {
				*hash = h;
				*a = 0;
				*b = p;
				return 0;
			}
		}
	}
	return 1;
}

void dv_reta_fill(uint16_t *table, uint32_t size, uint32_t common, uint16_t queues)
{
	for (uint32_t e = 0; e < size; e++)
		table[e] = (uint16_t)((e & (common - 1)) % queues);
}
