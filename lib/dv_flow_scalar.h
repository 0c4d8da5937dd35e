/*
 * dv_flow_scalar: the flow index's signature compare in plain C, for CPUs
 * without SSE2 (dv_flow.c includes this or dv_flow_sse2.h).
 */
#ifndef DV_FLOW_SCALAR_H
#define DV_FLOW_SCALAR_H

#include <stdint.h>

/* Bit e set for each of the DV_BUCKET_ENTRIES signatures sig[e] (its low
 * DV_SIG_BITS) equal to want. */
static inline uint32_t dv_sig_match(const uint16_t *sig, uint16_t want)
{
	uint32_t m = 0;

	for (uint32_t e = 0; e < DV_BUCKET_ENTRIES; e++)
		m |= (uint32_t)((sig[e] & DV_SIG_MASK) == want) << e;
	return m;
}

#endif
