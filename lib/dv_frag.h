/*
 * dv_frag: the fragment cache that lets non-first IP fragments find the ports
 * of their datagram.
 *
 * Only the first fragment of a datagram carries the transport header, so the
 * parser reports later fragments with ports 0. The flow table remembers, for
 * every first fragment, (src, dst, protocol, IP id, family) -> (sport, dport)
 * and fills the ports of later fragments from it. The cache is a fixed array
 * (4-way set associative, the oldest entry of a set is overwritten) and its
 * entries age out on packet time, so it costs no allocation after creation
 * and a flood of fragments can only push out other fragments, never flows.
 *
 * One cache belongs to one flow table (single writer, no locks).
 */
#ifndef DV_FRAG_H
#define DV_FRAG_H

#include <stddef.h>
#include <stdint.h>

#include "dv_hash.h"
#include "dv_parse.h"

/* Entries used when the caller asks for 0. */
#define DV_FRAG_DEFAULT_ENTRIES 4096

/* A remembered first fragment is forgotten after this much packet time. */
#define DV_FRAG_MAX_AGE_NS (30ULL * 1000000000ULL)

struct dv_frag_cache;

/*
 * Create a cache of at least `entries` entries (rounded up to a power of two,
 * 0 for DV_FRAG_DEFAULT_ENTRIES) in DPDK memory on socket_id, its sets chosen
 * by the keyed hash of dv_hash.h under `key` (random; the caller's secret).
 * Returns NULL and writes a one-line reason to err on failure.
 */
struct dv_frag_cache *dv_frag_cache_create(uint32_t entries, const struct dv_hash_key *key,
					   int socket_id, char *err, size_t errlen);

void dv_frag_cache_free(struct dv_frag_cache *c);

/* Entries the cache holds (after rounding). */
uint32_t dv_frag_cache_entries(const struct dv_frag_cache *c);

/*
 * Remember the ports of a first fragment (pkt->frag == DV_FRAG_FIRST), keyed
 * by its addresses, protocol, family and frag_id, stamped with pkt->ts_ns.
 * A datagram seen again replaces its entry.
 */
void dv_frag_remember(struct dv_frag_cache *c, const struct dv_pkt *pkt);

/*
 * For a later fragment (pkt->frag == DV_FRAG_LATER): if its first fragment is
 * remembered and not older than DV_FRAG_MAX_AGE_NS at pkt->ts_ns, copy its
 * ports into pkt and return 1; else leave the ports alone and return 0.
 */
int dv_frag_fill(struct dv_frag_cache *c, struct dv_pkt *pkt);

#endif
