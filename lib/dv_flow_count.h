/*
 * dv_flow_count: one side's packet and byte counters of a flow segment, as
 * a flow record keeps them in 12 bytes (dv_flow.c): a 32-bit word of
 * packets and a 64-bit word whose low DV_COUNT_BYTES_BITS are the bytes
 * and whose top byte holds the packets above bit 32. So a side counts up
 * to 2^40 - 1 packets (1.1 trillion: two hours of a 100 Gb/s link's
 * smallest frames on one flow) and 2^56 - 1 bytes.
 *
 * The packet word wraps every 2^32 packets; when it has, dv_count_carry()
 * moves the carry into the top byte, or says that the segment must end
 * before the packet that wrapped it because a count would pass what it
 * holds. The
 * bytes are checked only then: they must stay under 2^55 at a carry, so
 * that the 2^32 packets up to the next one, of at most 8 MB each, cannot
 * reach 2^56.
 */
#ifndef DV_FLOW_COUNT_H
#define DV_FLOW_COUNT_H

#include <stdint.h>

#define DV_COUNT_BYTES_BITS 56
#define DV_COUNT_BYTES_MASK ((1ULL << DV_COUNT_BYTES_BITS) - 1)

static inline uint64_t dv_count_packets(uint64_t bytes_word, uint32_t pkts)
{
	return (bytes_word >> DV_COUNT_BYTES_BITS) << 32 | pkts;
}

static inline uint64_t dv_count_bytes(uint64_t bytes_word)
{
	return bytes_word & DV_COUNT_BYTES_MASK;
}

/*
 * Call when counting a packet has wrapped the packet word to 0. Returns 0
 * after carrying, 1 when the segment must end before that packet (nothing
 * changed: the segment holds 2^32 - 1 in the packet word).
 */
static inline int dv_count_carry(uint64_t *bytes_word)
{
	if ((*bytes_word >> DV_COUNT_BYTES_BITS) == 0xff ||
	    dv_count_bytes(*bytes_word) >= 1ULL << (DV_COUNT_BYTES_BITS - 1))
		return 1;
	*bytes_word += 1ULL << DV_COUNT_BYTES_BITS;
	return 0;
}

#endif
