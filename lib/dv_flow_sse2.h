/*
 * dv_flow_sse2: the flow index's signature compare with SSE2, for x86-64
 * (dv_flow.c includes this or dv_flow_scalar.h, whichever fits the CPU).
 *
 * A bucket's signatures are compared with the wanted one at once: two
 * 16-byte loads cover entries 0..7 and 8..15, of which 8 to 11 are
 * signatures and the rest the start of the positions that follow them in
 * the same cache line; the mask drops those. Each 16-bit entry has the
 * signature in its low DV_SIG_BITS (the rest is part of a position),
 * which the compare keeps.
 */
#ifndef DV_FLOW_SSE2_H
#define DV_FLOW_SSE2_H

#include <stdint.h>

#include <emmintrin.h>

/* Bit e set for each of the DV_BUCKET_ENTRIES signatures sig[e] (its low
 * DV_SIG_BITS) equal to want. sig is 16-byte aligned with 32 readable
 * bytes. */
static inline uint32_t dv_sig_match(const uint16_t *sig, uint16_t want)
{
	__m128i w = _mm_set1_epi16((short)want);
	__m128i keep = _mm_set1_epi16((short)DV_SIG_MASK);
	__m128i a = _mm_load_si128((const __m128i *)sig);
	__m128i b = _mm_load_si128((const __m128i *)(sig + 8));

	a = _mm_cmpeq_epi16(_mm_and_si128(a, keep), w);
	b = _mm_cmpeq_epi16(_mm_and_si128(b, keep), w);

	return (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(a, b)) & DV_BUCKET_MASK;
}

#endif
