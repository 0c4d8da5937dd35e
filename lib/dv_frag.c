/*
 * dv_frag: fragment cache, first fragment's ports for the later ones.
 *
 * Shape: a power-of-two array of 64-byte entries grouped in sets of four
 * (one set is four cache lines, found by the keyed hash of dv_hash.h, so
 * that no one can aim a flood of fragments at the set of a datagram whose
 * ports they want lost). A lookup reads one set; an insert takes the entry
 * with the same key, else a free or aged one, else the oldest of the set.
 * There is no delete: the last fragment is not known to the parser, and an
 * entry simply ages out (DV_FRAG_MAX_AGE_NS of packet time) or is
 * overwritten. This bounds memory and work whatever the traffic, which
 * matters more here than never losing a datagram's ports: a fragment that
 * misses is still counted, in the flow with ports 0.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_malloc.h>

#include "dv_frag.h"
#include "dv_hash.h"

#define DV_FRAG_WAYS 4

/* What identifies a datagram: RFC 791 / RFC 8200 reassembly key, plus family
 * because an IPv4 address is stored in the first 4 bytes of 16. */
struct dv_frag_key {
	uint8_t src[16];
	uint8_t dst[16];
	uint32_t frag_id;
	uint8_t proto;
	uint8_t family;
	uint8_t pad[2]; /* always zero, so keys compare with memcmp */
};

struct dv_frag_entry {
	struct dv_frag_key key;
	uint16_t sport;
	uint16_t dport;
	uint8_t used;
	uint8_t pad[3];
	uint64_t ts_ns; /* packet time of the first fragment */
} __rte_cache_aligned;

_Static_assert(sizeof(struct dv_frag_key) == 40,
	       "fragment key must have no hidden padding: five words");
_Static_assert(sizeof(struct dv_frag_entry) == 64, "one fragment entry per cache line");

struct dv_frag_cache {
	struct dv_hash_key key; /* the set hash's secret */
	uint32_t set_mask;	/* sets - 1 */
	uint32_t entries;
	struct dv_frag_entry *e; /* entries, DV_FRAG_WAYS per set */
};

static uint32_t dv_frag_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v && p < (1u << 30))
		p <<= 1;
	return p;
}

struct dv_frag_cache *dv_frag_cache_create(uint32_t entries, const struct dv_hash_key *key,
					   int socket_id, char *err, size_t errlen)
{
	struct dv_frag_cache *c;
	uint32_t n;

	if (entries == 0)
		entries = DV_FRAG_DEFAULT_ENTRIES;
	if (entries > (1u << 24)) {
		snprintf(err, errlen, "fragment cache: %u entries is too many (max %u)", entries,
			 1u << 24);
		return NULL;
	}
	n = dv_frag_pow2(entries);
	if (n < DV_FRAG_WAYS)
		n = DV_FRAG_WAYS;

	c = rte_zmalloc_socket("dv_frag_cache", sizeof(*c), RTE_CACHE_LINE_SIZE, socket_id);
	if (c == NULL) {
		snprintf(err, errlen, "fragment cache: out of DPDK memory");
		return NULL;
	}
	c->e = rte_zmalloc_socket("dv_frag_entries", (size_t)n * sizeof(*c->e), RTE_CACHE_LINE_SIZE,
				  socket_id);
	if (c->e == NULL) {
		rte_free(c);
		snprintf(err, errlen, "fragment cache: out of DPDK memory for %u entries", n);
		return NULL;
	}
	c->key = *key;
	c->entries = n;
	c->set_mask = n / DV_FRAG_WAYS - 1;
	return c;
}

void dv_frag_cache_free(struct dv_frag_cache *c)
{
	if (c == NULL)
		return;
	rte_free(c->e);
	rte_free(c);
}

uint32_t dv_frag_cache_entries(const struct dv_frag_cache *c)
{
	return c->entries;
}

static void dv_frag_key_of(const struct dv_pkt *pkt, struct dv_frag_key *k)
{
	memcpy(k->src, pkt->src, sizeof(k->src));
	memcpy(k->dst, pkt->dst, sizeof(k->dst));
	k->frag_id = pkt->frag_id;
	k->proto = pkt->proto;
	k->family = pkt->family;
	k->pad[0] = 0;
	k->pad[1] = 0;
}

static struct dv_frag_entry *dv_frag_set(struct dv_frag_cache *c, const struct dv_frag_key *k)
{
	uint64_t w[5];

	memcpy(w, k, sizeof(w));
	return &c->e[(size_t)(dv_hash5(w, &c->key) & c->set_mask) * DV_FRAG_WAYS];
}

/* An entry stamped later than the packet (captures are not perfectly ordered)
 * counts as fresh. */
static int dv_frag_fresh(const struct dv_frag_entry *e, uint64_t now)
{
	return e->used && (now <= e->ts_ns || now - e->ts_ns <= DV_FRAG_MAX_AGE_NS);
}

void dv_frag_remember(struct dv_frag_cache *c, const struct dv_pkt *pkt)
{
	struct dv_frag_key k;
	struct dv_frag_entry *set, *victim;
	int i;

	dv_frag_key_of(pkt, &k);
	set = dv_frag_set(c, &k);
	for (i = 0; i < DV_FRAG_WAYS; i++) {
		if (set[i].used && memcmp(&set[i].key, &k, sizeof(k)) == 0) {
			victim = &set[i];
			goto store;
		}
	}
	/* A free or aged entry if there is one, else the oldest of the set. */
	victim = &set[0];
	for (i = 0; i < DV_FRAG_WAYS; i++) {
		if (!dv_frag_fresh(&set[i], pkt->ts_ns)) {
			victim = &set[i];
			break;
		}
		if (set[i].ts_ns < victim->ts_ns)
			victim = &set[i];
	}
	victim->key = k;
store:
	victim->sport = pkt->sport;
	victim->dport = pkt->dport;
	victim->ts_ns = pkt->ts_ns;
	victim->used = 1;
}

int dv_frag_fill(struct dv_frag_cache *c, struct dv_pkt *pkt)
{
	struct dv_frag_key k;
	struct dv_frag_entry *set;

	dv_frag_key_of(pkt, &k);
	set = dv_frag_set(c, &k);
	for (int i = 0; i < DV_FRAG_WAYS; i++) {
		struct dv_frag_entry *e = &set[i];

		if (e->used && memcmp(&e->key, &k, sizeof(k)) == 0) {
			if (!dv_frag_fresh(e, pkt->ts_ns))
				return 0;
			pkt->sport = e->sport;
			pkt->dport = e->dport;
			return 1;
		}
	}
	return 0;
}
