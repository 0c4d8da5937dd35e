/*
 * dv_flow: one worker's flow table, its expiry and its export records.
 *
 * Shape, and why:
 * - The key (struct dv_flow_key, 40 bytes, no padding) holds the two
 *   endpoints in canonical order, lower (address, port) first (compared
 *   as the machine's 64-bit words: any fixed order will do), so both
 *   directions of a conversation hash alike. A packet is "side 0" or "side 1"
 *   by whether its sender is the lower endpoint; counters are kept per side
 *   and turned into src/dst (initiator first) only when a row is exported.
 * - The index is our own, laid out for the memory system: at a million
 *   flows every packet misses the cache, and in a virtual machine every
 *   miss on a page the TLB does not cover also costs a nested page walk.
 *   A key hashes (NH under a secret random key of the table, over its
 *   words: two for IPv4 and five otherwise) to a home *bucket* and a
 *   12-bit signature. A bucket is one cache line: 12 entries (a signature,
 *   0: free, and a 28-bit record position) and an overflow count, one
 *   bucket per 8 flows of capacity: 8 bytes per flow (8 MB for a million).
 *   A lookup reads one bucket line, compares its signatures at once and
 *   reads one record. rte_hash read four places (two buckets, its key
 *   store, then our record).
 * - Records (64 bytes, one cache line) are a plain array of `capacity`,
 *   handed out from a list of free positions: flows created together sit
 *   together, so a generator's flow range (and the lists below) walk memory
 *   in order. A position never changes while the flow lives; the lists link
 *   positions. A record is all a packet of an IPv4 flow touches in the
 *   common case (the key as two words, times, counters, state). Arrays
 *   beside it at the same position hold the full addresses (checked for
 *   IPv6 keys; a plain IPv4 flow never touches its entry), the list links
 *   (the free list runs through them too) and the serial the flow's id is
 *   made from: 128 bytes a flow with its index share.
 * - A full home bucket overflows into the next (linear probing by bucket,
 *   wrapping). A bucket's `overflow` counts the flows that passed it, so a
 *   lookup goes on to the next bucket only while it is non-zero, and
 *   removing a flow decrements the counts on its path. Buckets hold 1.5
 *   entries per flow of capacity (DV_BUCKET_FLOWS) and a table never holds
 *   more than `capacity` flows (eviction), so an insert always finds a free
 *   entry and few flows leave their home bucket.
 * - A burst goes through a three-stage software pipeline so that the cache
 *   misses of its packets overlap (dv_flow_update_chunk): hash the key and
 *   prefetch its bucket; match signatures (following overflow into the
 *   next buckets) and prefetch the first candidate record; account the
 *   packet. A candidate found early may have been freed
 *   or reused by an earlier packet of the same burst, so it counts only if
 *   it is live and holds the packet's key; otherwise the packet does a full
 *   lookup, whose bucket is in the cache by then.
 * - Expiry is O(expired). Every flow is on one "seen" list, ordered by last
 *   packet: `lru` for open flows (idle timeout, and eviction takes its head)
 *   and `closed` for TCP flows that saw RST or FIN both ways (tcp-close
 *   timeout). A flow whose current segment has packets is also on `act`, a
 *   FIFO by segment start (active timeout). Each list has one timeout, so its
 *   deadlines grow from head to tail and expiry pops heads until one is not
 *   due. Links are 32-bit record positions, in the links array.
 * - A packet moves its flow to the tail of its seen list. The move writes
 *   the links of the two neighbouring flows: at a million flows, cache
 *   misses on every packet. With cfg->lru_slack_div (the program uses 16) a flow moves at
 *   most once per slot of timeout/16 (see dv_flow_touch): expiry may then
 *   export a flow up to one slot late and eviction may pick a flow seen up
 *   to one slot after the least recently seen one; the rows do not change
 *   (test_coarse_rows_equal_exact). With 0 the LRU is exact. bench_engine
 *   prints both side by side.
 * - Captures are not perfectly time-ordered, so a list is ordered by
 *   arrival, not strictly by time: expiry may see such a flow a little late,
 *   never early, and a packet always judges its own flow exactly.
 * - Rows do not depend on when dv_flow_table_expire() runs: a packet that
 *   finds its flow past a deadline first exports what expiry would have
 *   (dv_flow_advance), and flush does the same before using its own reason.
 *   The one exception is a full table: had expiry run, there might have
 *   been room, and no eviction. An evicted flow whose deadline had passed
 *   is exported with that deadline's reason, not `evicted`.
 *   The table clock is the largest packet time seen.
 * - A timeout of 0 means "never".
 *
 * Nothing here allocates, locks or makes a system call after create
 * (dv_flow_table_verify, a check for tests, allocates).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "dv_flow.h"
#include "dv_flow_count.h"
#include "dv_frag.h"
#include "dv_hash.h"
#include "dv_parse_ctx.h"
#include "dv_rand.h"

#define DV_FLOW_NIL	     UINT32_MAX
#define DV_FLOW_NEVER	     UINT64_MAX
#define DV_FLOW_BURST	     128 /* keys hashed and looked up together */
#define DV_FLOW_AHEAD_BUCKET 16	 /* packets between stages 1 and 2 of dv_flow_update_chunk */
#define DV_FLOW_AHEAD_RECORD 8	 /* packets between stages 2 and 3 */

#define DV_BUCKET_ENTRIES    12 /* signatures and positions in a 64-byte bucket */
#define DV_BUCKET_MASK	     ((1u << DV_BUCKET_ENTRIES) - 1)
#define DV_BUCKET_FLOWS	     8 /* a bucket per 8 flows of capacity: 2/3 of its entries */
#define DV_SIG_BITS	     12
#define DV_SIG_MASK	     ((1u << DV_SIG_BITS) - 1)
#define DV_FLOW_MAX_CAPACITY (1u << 28)

/* The signature compare for this CPU, chosen by #include (as DPDK's l3fwd
 * does): dv_sig_match() over a bucket's DV_BUCKET_ENTRIES signatures. */
#if defined(__SSE2__)
#include "dv_flow_sse2.h"
#else
#include "dv_flow_scalar.h"
#endif

#define DV_TCP_FIN 0x01
#define DV_TCP_SYN 0x02
#define DV_TCP_RST 0x04
#define DV_TCP_ACK 0x10

#define DV_KEY_VLAN DV_PKT_VLAN_TAGGED /* key.vlan: the frame was tagged; low 12 bits: id */

/* The key's last word: ports (key order), VLAN, protocol, family. */
struct dv_flow_tail {
	uint16_t port[2];
	uint16_t vlan; /* id | DV_KEY_VLAN, or 0 untagged */
	uint8_t proto;
	uint8_t family; /* 4 or 6; 0 in a free record, which no packet's key matches */
};

struct dv_flow_key {
	uint8_t addr[2][16]; /* [0] is the lower (address, port) endpoint */
	struct dv_flow_tail tail;
	uint64_t vni; /* with DV_KEY_VNI in tail.family: the VNI; else 0 */
};

_Static_assert(sizeof(struct dv_flow_tail) == 8 && sizeof(struct dv_flow_key) == 48,
	       "flow key must have no hidden padding: six words");

/*
 * tail.family of a key that has a VNI (a tunnelled flow's virtual network,
 * lib/dv_decap.h): such a key is read like an IPv6 one (its addresses in
 * line 1 of the record, hashed as five words and the VNI), and its VNI is
 * kept in the table's tunnel array beside the record.
 */
#define DV_KEY_VNI    0x80
#define DV_KEY_FAMILY 0x0f

/*
 * What a tunnelled flow's first packet said of its tunnels (the tunnel,
 * tunnel_id, tunnel_src_addr and tunnel_dst_addr columns), and the VNI of
 * its key: one per record, read when the flow is created, looked up or
 * exported. Cold: a packet of a flow without a VNI never touches it.
 */
struct dv_flow_tun {
	uint32_t vni;
	uint8_t n_kinds; /* 0: a plain flow */
	uint8_t outer_family;
	uint8_t kinds[DV_TUN_MAX_DEPTH];
	uint8_t pad[2];
	uint8_t outer[2][16]; /* the outermost tunnel's source and destination */
};

/* A flow's serial's (t->serials) top bit: its first packet came through a
 * tunnel, so its entry in the tunnel array is written (a plain flow never
 * touches that array). Serials count flows and never reach it. */
#define DV_SERIAL_TUN (1ULL << 63)
/* The next bit: the flow's first packet was a later fragment whose first
 * fragment was not seen, so its ports are not known (0 in the key). The
 * community_id then hashes no ports, as other tools do for such a packet. */
#define DV_SERIAL_NOPORTS (1ULL << 62)
/* And the next: the flow has a slot in the flow-context store (t->ctx). */
#define DV_SERIAL_CTX	(1ULL << 61)
#define DV_SERIAL_FLAGS (DV_SERIAL_TUN | DV_SERIAL_NOPORTS | DV_SERIAL_CTX)

/* Bits of dv_flow_rec.state. Side s is 0 or 1 (see the file comment). */
#define DV_ST_LIVE    0x01
#define DV_ST_SEEN(s) (0x02 << (s)) /* side s has sent in this flow */
#define DV_ST_INIT1   0x08	    /* the initiator is side 1 */
#define DV_ST_FIN(s)  (0x10 << (s)) /* side s sent a FIN */
/* An ICMP flow's first packet had its ICMP header: tcp_flags[0] and [1]
 * hold its type and code (the Community ID maps them to ports). Only TCP
 * has FINs and flags, so an ICMP record has both free; written when the
 * flow is created, never by a packet. */
#define DV_ST_ICMP   DV_ST_FIN(0)
#define DV_ST_CLOSED 0x40 /* RST or FIN both ways: on the closed list */
#define DV_ST_ACT    0x80 /* this segment has packets: on the act list */

struct dv_link {
	uint32_t prev;
	uint32_t next;
};

enum { DV_LINK_SEEN = 0, DV_LINK_ACT = 1 };

/*
 * A flow is one cache line in `recs` and three small entries in arrays
 * beside it, each at the flow's position. The line is everything a packet
 * of an IPv4 flow reads or writes unless the flow moves in a list or a rare
 * case comes up (a deadline, a close, a counter carry): at a million flows,
 * one cache miss for the record. An IPv4 key fits in it (v4 and tail); an
 * IPv6 key, or one with a VNI, needs its addresses from `addrs` as well.
 * The list links are in `links` (four flows a line, written when a flow
 * moves) and the serial, read when a row is written, in `serials`: 120
 * bytes a flow, with 8 of the index 128.
 *
 * A side's packet count is pkts[side] plus, above bit 32, the top byte of
 * bytes[side] (40 bits: 1.1 trillion packets), and its byte count the 56
 * bits under it (dv_flow_count.h). A segment that would pass either ends
 * there, as if its active timeout had passed (dv_flow_carry).
 */
struct dv_flow_rec {
	uint64_t v4;		  /* IPv4: the key's addresses, 4 bytes each; IPv6: 0 */
	struct dv_flow_tail tail; /* the key's last word */
	uint64_t last_ns;	  /* last packet of the flow (max) */
	uint64_t first_ns;	  /* first packet of this segment (min), if DV_ST_ACT */
	uint64_t bytes[2];	  /* this segment, per side: bytes, and packets >> 32 on top */
	uint32_t pkts[2];	  /* this segment, per side: the low 32 bits of the packets */
	uint32_t segment;
	uint8_t tcp_flags[2];
	uint8_t state; /* DV_ST_* */
	uint8_t epoch; /* coarse LRU: low bits of the time slot of the last move */
} __rte_cache_aligned;

_Static_assert(sizeof(struct dv_flow_rec) == 64,
	       "a flow record is one cache line, the packet path's fields");

/* A flow's key addresses; for IPv4, the address in bytes 0-3 of each and
 * the VNI, with one, in bytes 4-7 (dv_flow_key_add_vni). */
struct dv_flow_addr {
	uint8_t addr[2][16];
};

/* A flow's links on its seen list and on the act list; a free position's
 * link[DV_LINK_SEEN].next is the next free one (t->free_head). */
struct dv_flow_links {
	struct dv_link link[2];
};

/*
 * One cache line of the index: 12 entries, each a 12-bit signature (0: the
 * entry is free) and a 28-bit record position (DV_FLOW_MAX_CAPACITY), the
 * position's top 4 bits above the signature in sig[e] and its low 24 in
 * pos[e], so that the signatures are compared 12 at once.
 */
struct dv_flow_bucket {
	uint16_t sig[DV_BUCKET_ENTRIES];   /* signature | position >> 24 << 12 */
	uint8_t pos[DV_BUCKET_ENTRIES][3]; /* position & 0xffffff, little endian */
	uint32_t overflow; /* flows whose home is this bucket or an earlier one, placed later */
} __rte_cache_aligned;

_Static_assert(sizeof(struct dv_flow_bucket) == 64, "a bucket is one cache line");

struct dv_flow_list {
	uint32_t head;
	uint32_t tail;
};

/*
 * The flow-context store: the server name, DNS question and response code
 * of flows that have them, so that a record of a flow without them does
 * not grow. A flow finds its slot through a small open-addressed index
 * keyed by its record position: the home entry (the position modulo the
 * index, dv_ctx_home) and the DV_CTX_PROBE - 1 after it, 8 bytes each, so a probe reads one or
 * two cache lines; a flow finding all of them taken keeps no context
 * (counted). A slot is one cache line: the values, and the texts when
 * both together take at most DV_CTX_INLINE bytes (99.7 % of bench.pcap's
 * 77,008 contexts; a slot of two 256-byte texts, as before, made the store
 * 34 MB at the default table and 19 MB of bench.pcap's 74 MB resident).
 * Longer texts go to a long slot (struct dv_flow_ctx_long), one for every
 * DV_CTX_LONG_DIV slots; a flow finding none free keeps only what it has
 * (counted with the full store). Slots of both kinds are handed out
 * densely: a freed slot is taken again first, then the lowest never used,
 * so the store's pages are touched only as far as the most flows with
 * context at once (slots placed by hash touched, with the lazy memory of
 * --read zeroed, every page of the store).
 */
#define DV_CTX_PROBE	8
#define DV_CTX_INLINE	56 /* bytes of text a slot holds itself */
#define DV_CTX_LONG_DIV 16
#define DV_CTX_LONG_MIN 8

struct dv_flow_ctx_ent {
	uint32_t key;  /* record position + 1 of the entry's flow, 0 free */
	uint32_t slot; /* its slot in the store */
};

struct dv_flow_ctx_slot {
	uint8_t has; /* DV_EXPORT_CTX_* */
	uint8_t rcode;
	uint8_t sn_len; /* < DV_CTX_NAME_MAX */
	uint8_t q_len;
	uint32_t long_slot;	  /* 0: the texts are in text; else 1 + their long slot */
	char text[DV_CTX_INLINE]; /* the server name, then the question: no NULs */
};

_Static_assert(sizeof(struct dv_flow_ctx_slot) == 64 && DV_CTX_NAME_MAX - 1 <= UINT8_MAX,
	       "a context slot is one cache line; a text's length fits its byte");

struct dv_flow_ctx_long {
	char sn[DV_CTX_NAME_MAX - 1];
	char q[DV_CTX_NAME_MAX - 1];
};

/* Slots 0 .. size - 1 of an array handed out densely: a freed one first
 * (free, a stack of n_free), then the lowest never used. */
struct dv_slot_pool {
	uint32_t *free;
	uint32_t n_free;
	uint32_t never; /* slots [never, size) never used yet */
	uint32_t size;
};

struct dv_flow_table {
	struct dv_flow_rec *recs;	/* capacity records */
	struct dv_flow_addr *addrs;	/* capacity, beside recs: their addresses */
	struct dv_flow_links *links;	/* capacity, beside recs: their list links */
	uint64_t *serials;		/* capacity, beside recs: the flows' serials, DV_SERIAL_* */
	struct dv_flow_tun *tun;	/* capacity, beside recs; NULL without tunnels */
	struct dv_flow_ctx_ent *ctx_ix; /* ctx_slots: the store's index */
	struct dv_flow_ctx_slot *ctx;	/* ctx_slots; NULL without flow context */
	uint32_t ctx_slots;		/* a power of two */
	struct dv_slot_pool ctx_pool;	/* of ctx (size ctx_slots) */
	struct dv_flow_ctx_long *ctx_long; /* for the longer texts */
	struct dv_slot_pool ctx_long_pool; /* of ctx_long */
	struct dv_flow_bucket *buckets;	   /* the index */
	uint32_t free_head;		   /* released positions (fresh - count of them), linked */
	uint32_t fresh;			   /* positions below were handed out at least once */
	uint8_t lazy;			   /* the arrays are anonymous mappings (lazy_memory) */
	uint8_t ending;			   /* dv_flow_table_ending(): index and store left stale */
	uint32_t n_buckets;
	struct dv_frag_cache *frag;
	uint32_t capacity;
	uint32_t count;
	uint64_t now_ns;
	uint64_t idle_ns; /* DV_FLOW_NEVER when disabled */
	uint64_t active_ns;
	uint64_t close_ns;
	struct dv_flow_list lru;
	struct dv_flow_list closed;
	struct dv_flow_list act;
	uint64_t id_key[2];	     /* random: flow ids are made from serials under it */
	struct dv_hash_key hash_key; /* random: the secret of dv_flow_hash_words() */
	uint64_t serial;	     /* the next flow's serial */
	struct dv_flow_stats stats;
	uint8_t worker;
	uint8_t vni_mask;     /* DV_PKT_T_VNI when the table keeps tunnels, else 0 */
	uint8_t coarse;	      /* lists may lag by one slot (see dv_flow_touch) */
	uint8_t lru_shift;    /* slot of the lru list: 2^lru_shift ns */
	uint8_t closed_shift; /* slot of the closed list */
	/* dv_flow_table_prefault()'s, written by another thread than the
	 * worker's: how far it has mapped each lazy array, in bytes. */
	struct {
		size_t index;
		uint32_t index_tries; /* MADV_COLLAPSE of the index's next 2 MB */
		size_t ctx_index;
		size_t recs;
		size_t links;
		size_t serials;
		size_t ctx;
		uint8_t off; /* the kernel cannot: map nothing more */
	} pf __rte_cache_aligned;
};

/* dv_flow_table_prefault(): bytes mapped per call at most, how many flows
 * ahead of those handed out (their records, links and serials: 5.5 MB; the
 * addresses, which only flows that are not plain IPv4 write, are left to
 * the transparent huge pages), and how far ahead of the context slots in
 * use. */
#define DV_PREFAULT_STEP  (2u << 20)
#define DV_PREFAULT_FLOWS 65536
#define DV_PREFAULT_AHEAD (2u << 20)
/* Nothing is mapped ahead until the worker has handed out this many
 * records: a capture of few flows costs only the pages they touch. */
#define DV_PREFAULT_AFTER 4096
/* An index larger than DV_INDEX_HUGE_BYTES (1M flows: 8 MB) starts on 4 KB
 * pages and is gathered into huge pages (dv_flow_prefault_index) from
 * DV_PREFAULT_INDEX_AFTER records on: a 4 KB page for each flow until then,
 * of the 8192 of a 4M-flow index. A 2 MB range whose pages the worker is
 * faulting in is tried again on the next calls, DV_COLLAPSE_TRIES times. */
#define DV_INDEX_HUGE_BYTES	(8u << 20)
#define DV_PREFAULT_INDEX_AFTER 512
#define DV_HUGE_PAGE		(2u << 20)
#define DV_COLLAPSE_TRIES	64
/* Linux 6.1's synchronous collapse into huge pages (<linux/mman.h>; glibc
 * 2.36's <sys/mman.h> lacks it). An older kernel says EINVAL: the index
 * is then mapped in on 4 KB pages. */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* The index is in huge pages from the start (not larger than
 * DV_INDEX_HUGE_BYTES), else it starts on 4 KB pages. */
static inline int dv_index_small(const struct dv_flow_table *t)
{
	return (size_t)t->n_buckets * sizeof(struct dv_flow_bucket) <= DV_INDEX_HUGE_BYTES;
}

/* ---- lists ---- */

static void dv_list_push_tail(struct dv_flow_table *t, struct dv_flow_list *l, int w, uint32_t i)
{
	struct dv_link *n = &t->links[i].link[w];

	n->prev = l->tail;
	n->next = DV_FLOW_NIL;
	if (l->tail != DV_FLOW_NIL)
		t->links[l->tail].link[w].next = i;
	else
		l->head = i;
	l->tail = i;
}

static void dv_list_unlink(struct dv_flow_table *t, struct dv_flow_list *l, int w, uint32_t i)
{
	struct dv_link *n = &t->links[i].link[w];

	if (n->prev != DV_FLOW_NIL)
		t->links[n->prev].link[w].next = n->next;
	else
		l->head = n->next;
	if (n->next != DV_FLOW_NIL)
		t->links[n->next].link[w].prev = n->prev;
	else
		l->tail = n->prev;
}

static struct dv_flow_list *dv_seen_list(struct dv_flow_table *t, const struct dv_flow_rec *r)
{
	return (r->state & DV_ST_CLOSED) ? &t->closed : &t->lru;
}

/* ---- small helpers ---- */

static inline uint64_t dv_add_sat(uint64_t a, uint64_t b)
{
	return a > DV_FLOW_NEVER - b ? DV_FLOW_NEVER : a + b;
}

static inline int dv_seg_empty(const struct dv_flow_rec *r)
{
	return !(r->state & DV_ST_ACT);
}

static inline uint64_t dv_rec_pkts(const struct dv_flow_rec *r, unsigned int side)
{
	return dv_count_packets(r->bytes[side], r->pkts[side]);
}

static inline uint64_t dv_rec_bytes(const struct dv_flow_rec *r, unsigned int side)
{
	return dv_count_bytes(r->bytes[side]);
}

/* murmur3's fmix64: a bijection of 64-bit words that spreads every bit. */
static inline uint64_t dv_fmix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/*
 * A flow's id, a version 4 UUID, made from its serial under the table's
 * random key. u, a bijection of the serial, fills 8 of the 16 bytes, so two
 * flows of one table never share an id; the other 8 (less the 6 version
 * and variant bits) come from a second mix. Made when a row is written, so
 * the record keeps 8 bytes instead of 16.
 */
static void dv_flow_id(const struct dv_flow_table *t, uint64_t serial, uint8_t out[16])
{
	uint64_t u = dv_fmix64(serial ^ t->id_key[0]);
	uint64_t v = dv_fmix64(serial + t->id_key[1]);

	memcpy(out, &u, 6);
	out[6] = (uint8_t)(0x40 | (v & 0x0f)); /* version 4 */
	out[7] = (uint8_t)(v >> 8);
	out[8] = (uint8_t)(0x80 | ((v >> 16) & 0x3f)); /* RFC 4122 variant */
	out[9] = (uint8_t)(v >> 24);
	out[10] = (uint8_t)(u >> 48);
	out[11] = (uint8_t)(u >> 56);
	out[12] = (uint8_t)(v >> 32);
	out[13] = (uint8_t)(v >> 40);
	out[14] = (uint8_t)(v >> 48);
	out[15] = (uint8_t)(v >> 56);
}

/* ---- the index ---- */

/* Where a key lives: its home bucket and its 12-bit signature (never 0). */
struct dv_flow_hash {
	uint32_t bucket;
	uint16_t sig;
};

/* An IPv4 key's v4 word from its five words (see dv_flow_key_make): both
 * addresses, 4 bytes each; 0 for any other key. */
static inline uint64_t dv_flow_words_v4(const uint64_t w[5], uint8_t family)
{
	return family == 4 ? w[0] | w[2] << 32 : 0;
}

/*
 * The hash of a key given as its five words (see dv_flow_key_make) and its
 * VNI, keyed with the table's secret (see dv_hash.h): an IPv4 key without
 * a VNI is hashed as two words, its v4 word and its tail; any other as all
 * five and the VNI. The bucket comes
 * from the high half, the signature from bits 16-31. Two keys with the same
 * hash cost a key comparison, nothing more.
 */
static inline struct dv_flow_hash dv_flow_hash_of(const struct dv_flow_table *t, uint64_t x)
{
	struct dv_flow_hash h;

	h.bucket = (uint32_t)(((x >> 32) * t->n_buckets) >> 32); /* in [0, n_buckets) */
	h.sig = (uint16_t)((x >> 16) & DV_SIG_MASK);
	if (h.sig == 0)
		h.sig = 1;
	return h;
}

/* The hash of a key without a VNI, given as its five words. */
static inline struct dv_flow_hash dv_flow_hash_words(const struct dv_flow_table *t,
						     const uint64_t w[5], uint8_t family)
{
	uint64_t x = family == 4 ? dv_hash2(dv_flow_words_v4(w, family), w[4], &t->hash_key)
				 : dv_hash5(w, &t->hash_key);

	return dv_flow_hash_of(t, x);
}

/* The hash of a key with a VNI: its five words and the VNI. */
static inline struct dv_flow_hash dv_flow_hash_words_vni(const struct dv_flow_table *t,
							 const uint64_t w[5], uint64_t vni)
{
	return dv_flow_hash_of(t, dv_hash6(w, vni, &t->hash_key));
}

static inline uint32_t dv_bucket_next(const struct dv_flow_table *t, uint32_t b)
{
	return b + 1 == t->n_buckets ? 0 : b + 1;
}

/* Bit e set for each entry e of the bucket whose signature equals sig
 * (dv_sig_match: dv_flow_sse2.h or dv_flow_scalar.h). */
static inline uint32_t dv_bucket_match(const struct dv_flow_bucket *bk, uint16_t sig)
{
	return dv_sig_match(bk->sig, sig);
}

/* The record position of entry e: its low 24 bits in one load of 4 bytes
 * (entry 11's fourth is the overflow count's first, in the same line). */
static inline uint32_t dv_bucket_pos(const struct dv_flow_bucket *bk, uint32_t e)
{
	uint32_t low;

	memcpy(&low, bk->pos[e], sizeof(low));
	return (uint32_t)(bk->sig[e] >> DV_SIG_BITS) << 24 | (rte_le_to_cpu_32(low) & 0xffffff);
}

static inline void dv_bucket_set(struct dv_flow_bucket *bk, uint32_t e, uint16_t sig, uint32_t i)
{
	bk->sig[e] = (uint16_t)(sig | (i >> 24) << DV_SIG_BITS);
	bk->pos[e][0] = (uint8_t)i;
	bk->pos[e][1] = (uint8_t)(i >> 8);
	bk->pos[e][2] = (uint8_t)(i >> 16);
}

/*
 * The walk every search of the index takes, written once (as
 * rte_cuckoo_hash's FOR_EACH_BUCKET): the entries whose signature is
 * h.sig, in the home bucket first, then in the next buckets (wrapping) for
 * as long as the bucket just searched says flows passed it (overflow). A
 * flow placed past its home bucket passed every bucket before its own, so
 * the walk meets every flow that can have this hash. A flow is placed
 * less than a full round from its home, so the walk ends at the latest
 * when it would come back to the home bucket: in a small full table every
 * bucket can say flows passed it, and a key that is not there would
 * otherwise be looked for for ever (a 128-flow table hung so, 1 run in 6
 * of bench.pcap with --active-timeout 2s, test_small_full_table_lookups).
 *
 * dv_index_seek() is its step: from bucket *b, whose matching entries not
 * yet visited are m, on to the first bucket of the walk that has some.
 * Returns them (bit e: entry e of bucket *b), or 0 when the walk is over.
 */
static __rte_always_inline uint32_t dv_index_seek(const struct dv_flow_table *t,
						  struct dv_flow_hash h, uint32_t *b, uint32_t m)
{
	while (m == 0 && t->buckets[*b].overflow != 0) {
		*b = dv_bucket_next(t, *b);
		if (unlikely(*b == h.bucket))
			return 0;
		m = dv_bucket_match(&t->buckets[*b], h.sig);
	}
	return m;
}

/*
 * Each entry of the walk for hash h, in order: bucket b, entry
 * __builtin_ctz(m) (b and m are the caller's uint32_t variables). The body
 * may leave with break (m is then non-zero, the entry it stopped at) or
 * return; after the whole walk m is 0.
 */
#define DV_INDEX_FOR_EACH(t, h, b, m)                                                              \
	for ((b) = (h).bucket, (m) = dv_bucket_match(&(t)->buckets[b], (h).sig);                   \
	     ((m) = dv_index_seek(t, h, &(b), m)) != 0; (m) &= m - 1)

_Static_assert(offsetof(struct dv_pkt, dport) - offsetof(struct dv_pkt, sport) == 2 &&
		   offsetof(struct dv_pkt, vlan) - offsetof(struct dv_pkt, sport) == 4 &&
		   offsetof(struct dv_pkt, proto) - offsetof(struct dv_pkt, sport) == 6 &&
		   offsetof(struct dv_pkt, family) - offsetof(struct dv_pkt, sport) == 7,
	       "a packet's sport..family are laid out as the key's last 8 bytes");

/*
 * Build the canonical key of a packet, as five words in w (what the hash
 * reads, still in registers) and in k; returns the sender's side (1 when
 * its (address, port) is the greater). Any fixed order of endpoints makes
 * both directions one key, and nothing outside the table sees it, so the
 * addresses are compared as the machine's own 64-bit words (no byte swaps).
 * The key's last word is the packet's sport..family, with the ports
 * swapped for side 1 and DV_KEY_VNI added to the family when the packet's
 * VNI is part of the key (dv_flow_key_add_vni). Every byte of the key is written, because keys are
 * hashed and compared as bytes; each word is stored whole, so that loading
 * it again is forwarded from the store.
 */
static inline uint64_t dv_flow_key_tail(const struct dv_pkt *p, unsigned int side)
{
	uint64_t tail, ports;

	memcpy(&tail, &p->sport, 8);
	ports = (uint32_t)tail;
	ports = side ? (ports >> 16 | ports << 16) & 0xffffffffu : ports;
	return (tail & ~0xffffffffULL) | ports;
}

static inline unsigned int dv_flow_key_make(const struct dv_pkt *p, struct dv_flow_key *k,
					    uint64_t w[5])
{
	uint64_t s[2], d[2];
	unsigned int side;

	memcpy(s, p->src, 16);
	memcpy(d, p->dst, 16);
	side = s[0] != d[0] ? s[0] > d[0] : s[1] != d[1] ? s[1] > d[1] : p->sport > p->dport;
	w[0] = side ? d[0] : s[0];
	w[1] = side ? d[1] : s[1];
	w[2] = side ? s[0] : d[0];
	w[3] = side ? s[1] : d[1];
	w[4] = dv_flow_key_tail(p, side);
	memcpy(k, w, 5 * sizeof(w[0]));
	return side;
}

/*
 * dv_flow_key_make for an IPv4 packet, with fewer comparisons: an IPv4
 * address is the first 4 bytes of its 16, the rest zero, so comparing the
 * 4 bytes as a word orders endpoints as dv_flow_key_make does.
 */
static inline unsigned int dv_flow_key_make_v4(const struct dv_pkt *p, struct dv_flow_key *k,
					       uint64_t w[5])
{
	uint32_t s, d;
	unsigned int side;

	memcpy(&s, p->src, 4);
	memcpy(&d, p->dst, 4);
	side = s != d ? s > d : p->sport > p->dport;
	w[0] = side ? d : s;
	w[1] = 0;
	w[2] = side ? s : d;
	w[3] = 0;
	w[4] = dv_flow_key_tail(p, side);
	memcpy(k, w, 5 * sizeof(w[0]));
	return side;
}

/* Make key k (and its words w) one with packet p's VNI: the family gets
 * DV_KEY_VNI, which also keeps it off the IPv4 key's short path. */
static inline void dv_flow_key_add_vni(const struct dv_pkt *p, struct dv_flow_key *k, uint64_t w[5])
{
	w[4] |= (uint64_t)DV_KEY_VNI << 56;
	k->tail.family |= DV_KEY_VNI;
	k->vni = p->vni;
	/* An IPv4 address leaves 12 bytes of its 16 free: the VNI goes in bytes
	 * 4 to 7 of both, so that the addresses in line 1 decide the match
	 * without the tunnel entry (dv_flow_rec_is); rows get them cleared. */
	if (p->family == 4) {
		memcpy(k->addr[0] + 4, &p->vni, sizeof(p->vni));
		memcpy(k->addr[1] + 4, &p->vni, sizeof(p->vni));
		memcpy(&w[0], k->addr[0], 8);
		memcpy(&w[2], k->addr[1], 8);
	}
}

/* Key k's VNI: k->vni is set only for a key that has one. */
static inline uint64_t dv_flow_key_vni(const struct dv_flow_key *k)
{
	return (k->tail.family & DV_KEY_VNI) ? k->vni : 0;
}

/* A record's v4 word for key k (see dv_flow_words_v4). */
static inline uint64_t dv_flow_key_v4(const struct dv_flow_key *k)
{
	uint64_t w[6];

	memcpy(w, k, sizeof(w));
	return dv_flow_words_v4(w, k->tail.family);
}

static inline uint64_t dv_flow_tail_word(const struct dv_flow_tail *tail)
{
	uint64_t w;

	memcpy(&w, tail, sizeof(w));
	return w;
}

static inline struct dv_flow_hash dv_flow_hash(const struct dv_flow_table *t,
					       const struct dv_flow_key *k)
{
	uint64_t w[6];

	memcpy(w, k, 5 * sizeof(w[0]));
	if (k->tail.family & DV_KEY_VNI)
		return dv_flow_hash_words_vni(t, w, k->vni);
	return dv_flow_hash_words(t, w, k->tail.family);
}

/*
 * Is key k (whose v4 word is v4) the key of record r? The record decides
 * for IPv4 and for any mismatch of ports, VLAN, protocol or family; an IPv6
 * key or one with a VNI also compares the addresses (t->addrs), and the
 * VNI. A free record matches nothing.
 */
static inline int dv_flow_rec_is(const struct dv_flow_table *t, const struct dv_flow_rec *r,
				 const struct dv_flow_key *k, uint64_t v4)
{
	uint64_t x[4], y[4];

	if (((r->v4 ^ v4) | (dv_flow_tail_word(&r->tail) ^ dv_flow_tail_word(&k->tail))) != 0)
		return 0;
	if (k->tail.family == 4)
		return 1;
	memcpy(x, &t->addrs[r - t->recs], sizeof(x));
	memcpy(y, k->addr, sizeof(y));
	if (((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) != 0)
		return 0;
	/* An IPv4 key's VNI is in its addresses (dv_flow_key_add_vni); an IPv6
	 * key's only in the tunnel entry. */
	if (!(k->tail.family & DV_KEY_VNI) || (k->tail.family & DV_KEY_FAMILY) == 4)
		return 1;
	return t->tun[r - t->recs].vni == k->vni;
}

/* Record i's key addresses: a plain IPv4 key's from its v4 word (its
 * entry in t->addrs is never written), any other's from t->addrs. */
static inline void dv_flow_rec_addrs(const struct dv_flow_table *t, uint32_t i, uint8_t addr[2][16])
{
	const struct dv_flow_rec *r = &t->recs[i];

	if (r->tail.family == 4) {
		memset(addr, 0, 2 * 16);
		memcpy(addr[0], &r->v4, 4);
		memcpy(addr[1], (const uint8_t *)&r->v4 + 4, 4);
	} else {
		memcpy(addr, &t->addrs[i], 2 * 16);
	}
}

/* Record i's key, rebuilt from the record, its addresses and its VNI. */
static inline void dv_flow_rec_key(const struct dv_flow_table *t, uint32_t i, struct dv_flow_key *k)
{
	const struct dv_flow_rec *r = &t->recs[i];

	dv_flow_rec_addrs(t, i, k->addr);
	k->tail = r->tail;
	k->vni = (r->tail.family & DV_KEY_VNI) ? t->tun[i].vni : 0;
}

static inline struct dv_flow_hash dv_flow_rec_hash(const struct dv_flow_table *t, uint32_t i)
{
	struct dv_flow_key k;

	dv_flow_rec_key(t, i, &k);
	return dv_flow_hash(t, &k);
}

/* The position of the live flow with key k, or DV_FLOW_NIL. */
static uint32_t dv_flow_lookup(const struct dv_flow_table *t, const struct dv_flow_key *k,
			       struct dv_flow_hash h)
{
	uint64_t v4 = dv_flow_key_v4(k);
	uint32_t b, m;

	DV_INDEX_FOR_EACH (t, h, b, m) {
		uint32_t i = dv_bucket_pos(&t->buckets[b], (uint32_t)__builtin_ctz(m));

		if (dv_flow_rec_is(t, &t->recs[i], k, v4))
			return i;
	}
	return DV_FLOW_NIL;
}

/* Enter record position i for a key known to be absent; the table has fewer
 * than `capacity` flows, so some bucket has a free entry. */
static void dv_flow_index_add(struct dv_flow_table *t, struct dv_flow_hash h, uint32_t i)
{
	uint32_t b = h.bucket;

	for (;;) {
		struct dv_flow_bucket *bk = &t->buckets[b];
		uint32_t free_entries = dv_bucket_match(bk, 0);

		if (free_entries != 0) {
			uint32_t e = (uint32_t)__builtin_ctz(free_entries);

			dv_bucket_set(bk, e, h.sig, i);
			return;
		}
		bk->overflow++;
		b = dv_bucket_next(t, b);
	}
}

/* Take record position i, whose key hashes to h, out of the index. */
static void dv_flow_index_del(struct dv_flow_table *t, struct dv_flow_hash h, uint32_t i)
{
	uint32_t b, m;

	DV_INDEX_FOR_EACH (t, h, b, m)
		if (dv_bucket_pos(&t->buckets[b], (uint32_t)__builtin_ctz(m)) == i)
			break;
	if (unlikely(m == 0))
		return; /* not indexed: never, for a live flow (dv_flow_table_verify) */
	t->buckets[b].sig[__builtin_ctz(m)] = 0;
	/* It was placed past the buckets before its own: they count it no more. */
	for (uint32_t p = h.bucket; p != b; p = dv_bucket_next(t, p))
		t->buckets[p].overflow--;
}

/* ---- flow context ---- */

/* The position itself, modulo the index: positions are handed out densely
 * (the lowest free first), so flows made together, and ended together,
 * have neighbouring entries (one cache line for eight), and live positions
 * spread evenly over the index. A hash of the position spread them at
 * random: a cache miss for every flow with context, at its first context
 * and again at export, and more windows found full: flows-heavy.pcap kept
 * context for 289,837 flows, 327,675 this way, of 1,050,000. */
static inline uint32_t dv_ctx_home(const struct dv_flow_table *t, uint32_t pos)
{
	return pos & (t->ctx_slots - 1);
}

/* Take a slot of pool p into *slot: 1, or 0 when every one is in use. */
static inline int dv_pool_take(struct dv_slot_pool *p, uint32_t *slot)
{
	if (p->n_free > 0)
		*slot = p->free[--p->n_free];
	else if (p->never < p->size)
		*slot = p->never++;
	else
		return 0;
	return 1;
}

static inline void dv_pool_give(struct dv_slot_pool *p, uint32_t slot)
{
	p->free[p->n_free++] = slot;
}

static inline int dv_pool_full(const struct dv_slot_pool *p)
{
	return p->n_free == 0 && p->never == p->size;
}

/* Long slots of a store of n slots. */
static inline uint32_t dv_ctx_long_slots(uint32_t n)
{
	return RTE_MAX(n / DV_CTX_LONG_DIV, (uint32_t)DV_CTX_LONG_MIN);
}

/* A packet with context for the flow at record cand: its index entries
 * will be read when the packet is accounted (a stage-2 prefetch). */
static __rte_always_inline void dv_ctx_prefetch(const struct dv_flow_table *t,
						const struct dv_pkt *p, uint32_t cand)
{
	if (unlikely(p->tun & DV_PKT_T_CTX) && cand != DV_FLOW_NIL && t->ctx_ix != NULL)
		rte_prefetch0(&t->ctx_ix[dv_ctx_home(t, cand)]);
}

/* Flow i's slot, or NULL; `make` (flow i has none yet): a free one is
 * taken. A full store has none to give: no probe then (flows-heavy.pcap:
 * 1.2M contexts found it full). */
static struct dv_flow_ctx_slot *dv_ctx_slot(struct dv_flow_table *t, uint32_t i, int make)
{
	uint32_t h = dv_ctx_home(t, i), free_at = UINT32_MAX, slot = 0;

	if (make && dv_pool_full(&t->ctx_pool))
		return NULL;

	for (uint32_t k = 0; k < DV_CTX_PROBE; k++) {
		uint32_t at = (h + k) & (t->ctx_slots - 1);

		if (t->ctx_ix[at].key == i + 1)
			return &t->ctx[t->ctx_ix[at].slot];
		if (t->ctx_ix[at].key == 0 && free_at == UINT32_MAX)
			free_at = at;
	}
	if (!make || free_at == UINT32_MAX)
		return NULL;
	/* A slot is free (above), and the index holds as many entries as the
	 * store slots. */
	(void)dv_pool_take(&t->ctx_pool, &slot);
	t->ctx_ix[free_at].key = i + 1;
	t->ctx_ix[free_at].slot = slot;
	memset(&t->ctx[slot], 0, offsetof(struct dv_flow_ctx_slot, text));
	return &t->ctx[slot];
}

/* Flow i ends: its slot is free again. */
static void dv_ctx_release(struct dv_flow_table *t, uint32_t i)
{
	uint32_t h = dv_ctx_home(t, i);

	for (uint32_t k = 0; k < DV_CTX_PROBE; k++) {
		struct dv_flow_ctx_ent *e = &t->ctx_ix[(h + k) & (t->ctx_slots - 1)];

		if (e->key == i + 1) {
			uint32_t l = t->ctx[e->slot].long_slot;

			if (l != 0)
				dv_pool_give(&t->ctx_long_pool, l - 1);
			e->key = 0;
			dv_pool_give(&t->ctx_pool, e->slot);
			return;
		}
	}
}

/* Does flow i already have what c would give it? */
static inline int dv_ctx_known(uint8_t has, const struct dv_pkt_ctx *c)
{
	if (c->kind == DV_PCTX_SERVER_NAME)
		return (has & DV_EXPORT_CTX_SN) != 0;
	return (!(c->flags & DV_PCTX_F_NAME) || (has & DV_EXPORT_CTX_QUERY)) &&
	       (!(c->flags & DV_PCTX_F_RESPONSE) || (has & DV_EXPORT_CTX_RCODE));
}

/* Where slot x's server name and question are. */
static inline const char *dv_ctx_sn(const struct dv_flow_table *t, const struct dv_flow_ctx_slot *x)
{
	return x->long_slot ? t->ctx_long[x->long_slot - 1].sn : x->text;
}

static inline const char *dv_ctx_q(const struct dv_flow_table *t, const struct dv_flow_ctx_slot *x)
{
	return x->long_slot ? t->ctx_long[x->long_slot - 1].q : x->text + x->sn_len;
}

/* Give slot x a long slot, its texts moved there: 1, or 0 when every long
 * slot is taken (counted; x keeps what it has). */
static int dv_ctx_lengthen(struct dv_flow_table *t, struct dv_flow_ctx_slot *x)
{
	struct dv_flow_ctx_long *l;
	uint32_t slot;

	if (!dv_pool_take(&t->ctx_long_pool, &slot)) {
		t->stats.ctx_full++;
		return 0;
	}
	l = &t->ctx_long[slot];
	memcpy(l->sn, x->text, x->sn_len);
	memcpy(l->q, x->text + x->sn_len, x->q_len);
	x->long_slot = slot + 1;
	return 1;
}

/* Store len bytes of s as slot x's question (query) or server name, which
 * it does not have yet: 1, or 0 when there is no room for it (counted). */
static int dv_ctx_put(struct dv_flow_table *t, struct dv_flow_ctx_slot *x, int query, const char *s,
		      uint32_t len)
{
	char *to;

	if (x->long_slot == 0 && x->sn_len + x->q_len + len > DV_CTX_INLINE &&
	    !dv_ctx_lengthen(t, x))
		return 0;
	if (x->long_slot != 0) {
		to = query ? t->ctx_long[x->long_slot - 1].q : t->ctx_long[x->long_slot - 1].sn;
	} else if (query) {
		to = x->text + x->sn_len;
	} else { /* the name goes first: the question moves behind it */
		memmove(x->text + len, x->text, x->q_len);
		to = x->text;
	}
	memcpy(to, s, len);
	return 1;
}

/* Keep what packet context c says of flow i: the first of each value. */
static void dv_flow_keep_ctx(struct dv_flow_table *t, uint32_t i, const struct dv_pkt_ctx *c)
{
	uint64_t *serial = &t->serials[i];
	struct dv_flow_ctx_slot *x;
	uint32_t len = c->len < DV_CTX_NAME_MAX - 1 ? c->len : DV_CTX_NAME_MAX - 1;

	if (t->ctx == NULL)
		return;
	x = dv_ctx_slot(t, i, !(*serial & DV_SERIAL_CTX));
	if (x == NULL) {
		t->stats.ctx_full++;
		return;
	}
	if (!(*serial & DV_SERIAL_CTX)) {
		*serial |= DV_SERIAL_CTX;
		t->stats.ctx_flows++;
	}
	if (dv_ctx_known(x->has, c))
		return;
	if (c->kind == DV_PCTX_SERVER_NAME && !(x->has & DV_EXPORT_CTX_SN)) {
		if (dv_ctx_put(t, x, 0, c->text, len)) {
			x->sn_len = (uint8_t)len;
			x->has |= DV_EXPORT_CTX_SN;
		}
		return;
	}
	if ((c->flags & DV_PCTX_F_NAME) && !(x->has & DV_EXPORT_CTX_QUERY) &&
	    dv_ctx_put(t, x, 1, c->text, len)) {
		x->q_len = (uint8_t)len;
		x->has |= DV_EXPORT_CTX_QUERY;
	}
	if ((c->flags & DV_PCTX_F_RESPONSE) && !(x->has & DV_EXPORT_CTX_RCODE)) {
		x->rcode = c->rcode;
		x->has |= DV_EXPORT_CTX_RCODE;
	}
}

/* Slot x's server name and question into text, each NUL-terminated. */
static void dv_ctx_texts(const struct dv_flow_table *t, const struct dv_flow_ctx_slot *x,
			 char *text)
{
	memcpy(text, dv_ctx_sn(t, x), x->sn_len);
	text[x->sn_len] = '\0';
	memcpy(text + x->sn_len + 1, dv_ctx_q(t, x), x->q_len);
	text[x->sn_len + 1 + x->q_len] = '\0';
}

/* Put flow i's context behind its record, just appended to out. */
static void dv_flow_emit_ctx(struct dv_flow_table *t, uint32_t i, struct dv_export_rec *e,
			     struct dv_export_buf *out)
{
	const struct dv_flow_ctx_slot *x = dv_ctx_slot(t, i, 0);
	struct dv_export_ctx *c;
	uint32_t bytes, n_el;

	if (x == NULL || x->has == 0)
		return;
	if (x->sn_len + 1u + x->q_len + 1u <= sizeof(e->ctx_inline.text) && e->n_kinds == 0 &&
	    e->outer_family == 0 && !(e->flags & DV_EXPORT_F_VNI)) {
		struct dv_export_ctx_inline *y = &e->ctx_inline;

		y->has = x->has;
		y->rcode = x->rcode;
		y->sn_len = x->sn_len;
		y->q_len = x->q_len;
		dv_ctx_texts(t, x, y->text);
		e->flags |= DV_EXPORT_F_CTX_INLINE;
		return;
	}
	bytes = (uint32_t)offsetof(struct dv_export_ctx, text) + x->sn_len + 1u + x->q_len + 1u;
	n_el = (bytes + (uint32_t)sizeof(*e) - 1) / (uint32_t)sizeof(*e);
	if (out->cap - out->n < n_el) {
		t->stats.ctx_lost++;
		return;
	}
	c = (struct dv_export_ctx *)(void *)&out->recs[out->n];
	c->n_el = (uint8_t)n_el;
	c->has = x->has;
	c->rcode = x->rcode;
	c->pad = 0;
	c->sn_len = x->sn_len;
	c->q_len = x->q_len;
	dv_ctx_texts(t, x, c->text);
	out->n += n_el;
	e->flags |= DV_EXPORT_F_CTX;
}

/* ---- export ---- */

/* A tunnelled flow's tunnel columns (struct dv_flow_tun). */
static void dv_flow_emit_tun(const struct dv_flow_rec *r, const struct dv_flow_tun *tun,
			     struct dv_export_rec *e)
{
	if (r->tail.family & DV_KEY_VNI) {
		e->flags |= DV_EXPORT_F_VNI;
		e->vni = tun->vni;
	}
	if (tun->n_kinds == 0)
		return;
	e->n_kinds = tun->n_kinds;
	memcpy(e->kinds, tun->kinds, sizeof(e->kinds));
	e->outer_family = tun->outer_family;
	memcpy(e->outer_src, tun->outer[0], 16);
	memcpy(e->outer_dst, tun->outer[1], 16);
}

/* Append the current segment as a row; an empty segment makes no row. */
static void dv_flow_emit(struct dv_flow_table *t, const struct dv_flow_rec *r,
			 enum dv_end_reason reason, struct dv_export_buf *out)
{
	unsigned int s = (r->state & DV_ST_INIT1) ? 1 : 0, d = s ^ 1;
	uint32_t i = (uint32_t)(r - t->recs);
	uint64_t serial;
	struct dv_export_rec *e;
	uint8_t addr[2][16];

	if (dv_seg_empty(r))
		return;
	e = &out->recs[out->n++];
	memset(e, 0, sizeof(*e));
	serial = t->serials[i];
	dv_flow_id(t, serial & ~DV_SERIAL_FLAGS, e->id);
	dv_flow_rec_addrs(t, i, addr);
	memcpy(e->src_addr, addr[s], 16);
	memcpy(e->dst_addr, addr[d], 16);
	if ((r->tail.family & DV_KEY_FAMILY) == 4) { /* the rest may hold the VNI */
		memset(e->src_addr + 4, 0, 12);
		memset(e->dst_addr + 4, 0, 12);
	}
	e->first_ns = r->first_ns;
	e->last_ns = r->last_ns;
	e->src_bytes = dv_rec_bytes(r, s);
	e->dst_bytes = dv_rec_bytes(r, d);
	e->src_packets = dv_rec_pkts(r, s);
	e->dst_packets = dv_rec_pkts(r, d);
	e->segment = r->segment;
	e->src_port = r->tail.port[s];
	e->dst_port = r->tail.port[d];
	e->family = r->tail.family & DV_KEY_FAMILY;
	e->proto = r->tail.proto;
	if (serial & DV_SERIAL_NOPORTS)
		e->flags |= DV_EXPORT_F_NOPORTS;
	if (serial & DV_SERIAL_TUN)
		dv_flow_emit_tun(r, &t->tun[i], e);
	if (r->tail.vlan & DV_KEY_VLAN) {
		e->flags |= DV_EXPORT_F_VLAN;
		e->vlan_id = r->tail.vlan & 0x0fff;
	}
	if (r->tail.proto == DV_IPPROTO_TCP) {
		e->flags |= DV_EXPORT_F_TCP;
		e->src_tcp_flags = r->tcp_flags[s];
		e->dst_tcp_flags = r->tcp_flags[d];
	} else if (r->state & DV_ST_ICMP) {
		e->flags |= DV_EXPORT_F_ICMP;
		e->icmp_type = r->tcp_flags[0];
		e->icmp_code = r->tcp_flags[1];
	}
	e->status = (r->state & (DV_ST_SEEN(0) | DV_ST_SEEN(1))) == (DV_ST_SEEN(0) | DV_ST_SEEN(1))
			? DV_STATUS_ESTABLISHED
			: DV_STATUS_INIT;
	e->end_reason = (uint8_t)reason;
	e->worker = t->worker;
	if (unlikely(serial & DV_SERIAL_CTX))
		dv_flow_emit_ctx(t, i, e, out);
	t->stats.exported++;
	if (reason == DV_END_EVICTED)
		t->stats.evicted++;
}

/* Drop a flow from lists, hash and count (its row, if any, is already out). */
static void dv_flow_remove(struct dv_flow_table *t, uint32_t i)
{
	struct dv_flow_rec *r = &t->recs[i];

	dv_list_unlink(t, dv_seen_list(t, r), DV_LINK_SEEN, i);
	/* The last flush (dv_flow_table_ending) leaves the act list, the index
	 * and the context store as they are: nothing reads them again, and
	 * each would cost a cache miss per flow. */
	if (likely(!t->ending)) {
		if (!dv_seg_empty(r))
			dv_list_unlink(t, &t->act, DV_LINK_ACT, i);
		dv_flow_index_del(t, dv_flow_rec_hash(t, i), i);
		if (unlikely(t->ctx != NULL && (t->serials[i] & DV_SERIAL_CTX)))
			dv_ctx_release(t, i);
	}
	r->state = 0;
	memset(&r->tail, 0, sizeof(r->tail)); /* family 0: no key matches it */
	/* On the free list, through the seen link it no longer needs. */
	t->links[i].link[DV_LINK_SEEN].next = t->free_head;
	t->free_head = i;
	t->count--;
}

/* Start the next segment of a flow: same id, fresh counters and flags. */
static void dv_flow_next_segment(struct dv_flow_table *t, uint32_t i)
{
	struct dv_flow_rec *r = &t->recs[i];

	if (!dv_seg_empty(r))
		dv_list_unlink(t, &t->act, DV_LINK_ACT, i);
	r->state &= (uint8_t)~DV_ST_ACT;
	r->bytes[0] = r->bytes[1] = 0;
	r->pkts[0] = r->pkts[1] = 0;
	if (r->tail.proto == DV_IPPROTO_TCP) /* an ICMP flow's type and code stay */
		r->tcp_flags[0] = r->tcp_flags[1] = 0;
	r->segment++;
}

/* The deadline that ends the flow (idle, or tcp_close once closed). */
static inline uint64_t dv_flow_end_deadline(const struct dv_flow_table *t,
					    const struct dv_flow_rec *r)
{
	return dv_add_sat(r->last_ns, (r->state & DV_ST_CLOSED) ? t->close_ns : t->idle_ns);
}

/*
 * Which deadline, if any, has passed at now: the earliest of them, ending
 * the flow on a tie. Returns DV_END_MAX when none has.
 */
static enum dv_end_reason dv_flow_due(const struct dv_flow_table *t, const struct dv_flow_rec *r,
				      uint64_t now)
{
	uint64_t end = dv_flow_end_deadline(t, r);
	uint64_t act = dv_seg_empty(r) ? DV_FLOW_NEVER : dv_add_sat(r->first_ns, t->active_ns);

	if (end <= now && end <= act)
		return (r->state & DV_ST_CLOSED) ? DV_END_TCP_CLOSE : DV_END_IDLE;
	if (act <= now)
		return DV_END_ACTIVE;
	return DV_END_MAX;
}

/*
 * Do what expiry would have done to flow i by now. Exports at most one row.
 * Returns 1 if the flow is still in the table, 0 if it ended.
 */
static int dv_flow_advance(struct dv_flow_table *t, uint32_t i, uint64_t now,
			   struct dv_export_buf *out)
{
	struct dv_flow_rec *r = &t->recs[i];
	enum dv_end_reason why = dv_flow_due(t, r, now);

	if (likely(why == DV_END_MAX))
		return 1;
	dv_flow_emit(t, r, why, out);
	if (why != DV_END_ACTIVE) {
		dv_flow_remove(t, i);
		return 0;
	}
	dv_flow_next_segment(t, i);
	/* The new segment is empty; if the flow also went idle, it ends
	 * without a row, as it would had expiry run in between. */
	if (dv_flow_end_deadline(t, r) <= now) {
		dv_flow_remove(t, i);
		return 0;
	}
	return 1;
}

/*
 * Table full: the least recently seen flow (head of lru or closed, the older)
 * leaves. If one of its deadlines has passed it leaves for that reason, else
 * as evicted.
 */
static void dv_flow_make_room(struct dv_flow_table *t, struct dv_export_buf *out)
{
	uint32_t a = t->lru.head, b = t->closed.head, i;
	enum dv_end_reason why;

	if (a == DV_FLOW_NIL && b == DV_FLOW_NIL)
		return;
	if (a == DV_FLOW_NIL || (b != DV_FLOW_NIL && t->recs[b].last_ns < t->recs[a].last_ns))
		i = b;
	else
		i = a;
	why = dv_flow_due(t, &t->recs[i], t->now_ns);
	dv_flow_emit(t, &t->recs[i], why == DV_END_MAX ? DV_END_EVICTED : why, out);
	dv_flow_remove(t, i);
}

/* ---- packet path ---- */

/*
 * The coarse-LRU time slot of `now` for flow i on a seen list. Each flow's
 * slots are shifted by a phase of its own (from its position), so that the
 * flows' moves spread evenly over time: with one phase for all, the first
 * packet of every flow after a slot boundary would move it, a burst of two
 * cache misses per flow (a million flows: a fraction of a second of stalls
 * every slot, when a NIC's queue could overflow).
 */
static inline uint8_t dv_flow_epoch(const struct dv_flow_table *t, int closed, uint32_t i)
{
	uint8_t shift = closed ? t->closed_shift : t->lru_shift;
	/* The top `shift` bits of a golden-ratio product of i (none for a
	 * shift of 0), without a branch: shift <= 62. */
	uint64_t phase = ((uint64_t)i * 0x9e3779b97f4a7c15ULL >> 1) >> (63 - shift);

	return (uint8_t)((t->now_ns + phase) >> shift);
}

/*
 * Last-seen bookkeeping: the flow moves to the tail of its seen list.
 *
 * The move writes the links of two neighbouring flows, which at a million
 * flows are cache misses on every packet. With a coarse table a flow moves at most once
 * per time slot (timeout / lru_slack_div, rounded down to a power of two, in
 * the flow's own phase): the list is ordered by the time of each flow's last
 * move, and a flow's last packet is less than one slot after its last move.
 * So a flow behind a head that is not due yet is held back by less than one
 * slot, and eviction takes a flow seen less than one slot after the least
 * recently seen one.
 */
static void dv_flow_move(struct dv_flow_table *t, struct dv_flow_list *l, uint32_t i)
{
	if (l->tail != i) {
		dv_list_unlink(t, l, DV_LINK_SEEN, i);
		dv_list_push_tail(t, l, DV_LINK_SEEN, i);
	}
}

/* `closed`: whether flow i is on the closed list (a constant where the
 * caller knows it). */
static __rte_always_inline void dv_flow_touch(struct dv_flow_table *t, uint32_t i, uint64_t ts,
					      int closed)
{
	struct dv_flow_rec *r = &t->recs[i];
	uint8_t ep = dv_flow_epoch(t, closed, i);

	if (ts > r->last_ns)
		r->last_ns = ts;
	if (t->coarse && r->epoch == ep)
		return;
	r->epoch = ep;
	dv_flow_move(t, closed ? &t->closed : &t->lru, i);
}

/*
 * The packet word of side `side` of flow i has just wrapped to 0 with the
 * packet being counted: carry (dv_flow_count.h), or, when its packets or
 * bytes would pass what the record holds, end the segment before this
 * packet, as its active timeout would, and count the packet in the next.
 * A packet that gets here has exported nothing yet (a flow it ended,
 * evicted or advanced has fresh counters), so it still exports at most
 * one row.
 */
static __rte_noinline __rte_cold void dv_flow_carry(struct dv_flow_table *t, uint32_t i,
						    unsigned int side, struct dv_export_buf *out)
{
	struct dv_flow_rec *r = &t->recs[i];

	if (!dv_count_carry(&r->bytes[side]))
		return;
	r->pkts[side] = UINT32_MAX; /* the segment without this packet */
	dv_flow_emit(t, r, DV_END_ACTIVE, out);
	dv_flow_next_segment(t, i);
	r->pkts[side] = 1;
}

/* Count one packet from `side` into flow i, which is closed or not as
 * `closed` says. */
static __rte_always_inline void dv_flow_apply_as(struct dv_flow_table *t, uint32_t i,
						 unsigned int side, const struct dv_pkt *p,
						 int closed, struct dv_export_buf *out)
{
	struct dv_flow_rec *r = &t->recs[i];

	if (unlikely(++r->pkts[side] == 0))
		dv_flow_carry(t, i, side, out);
	if (dv_seg_empty(r)) {
		r->first_ns = p->ts_ns;
		r->state |= DV_ST_ACT;
		dv_list_push_tail(t, &t->act, DV_LINK_ACT, i);
	} else if (p->ts_ns < r->first_ns) {
		r->first_ns = p->ts_ns;
	}
	dv_flow_touch(t, i, p->ts_ns, closed);
	r->bytes[side] += p->wire_len;
	r->state |= DV_ST_SEEN(side);
	if (r->tail.proto != DV_IPPROTO_TCP)
		return;
	r->tcp_flags[side] |= p->tcp_flags;
	if (p->tcp_flags & DV_TCP_FIN)
		r->state |= DV_ST_FIN(side);
	if (!(r->state & DV_ST_CLOSED) &&
	    ((p->tcp_flags & DV_TCP_RST) ||
	     (r->state & (DV_ST_FIN(0) | DV_ST_FIN(1))) == (DV_ST_FIN(0) | DV_ST_FIN(1)))) {
		dv_list_unlink(t, &t->lru, DV_LINK_SEEN, i);
		r->state |= DV_ST_CLOSED;
		r->epoch = dv_flow_epoch(t, 1, i);
		dv_list_push_tail(t, &t->closed, DV_LINK_SEEN, i);
	}
}

/* Count one packet from `side` into flow i: the rare cases' way. */
static void dv_flow_apply(struct dv_flow_table *t, uint32_t i, unsigned int side,
			  const struct dv_pkt *p, struct dv_export_buf *out)
{
	dv_flow_apply_as(t, i, side, p, (t->recs[i].state & DV_ST_CLOSED) != 0, out);
}

/* Keep a new tunnelled flow's VNI and what its first packet said of its tunnels. */
static void dv_flow_keep_tun(struct dv_flow_tun *tun, const struct dv_flow_key *k,
			     const struct dv_pkt_tun *ptun)
{
	tun->vni = (uint32_t)dv_flow_key_vni(k);
	tun->n_kinds = ptun->n_kinds;
	memcpy(tun->kinds, ptun->kinds, sizeof(tun->kinds));
	tun->outer_family = ptun->outer_family;
	memcpy(tun->outer[0], ptun->outer_src, 16);
	memcpy(tun->outer[1], ptun->outer_dst, 16);
}

/* An ICMP flow's first packet's type and code (DV_ST_ICMP). */
static inline void dv_flow_keep_icmp(struct dv_flow_rec *r, const struct dv_pkt *p,
				     const struct dv_pkt_tun *ptun)
{
	uint32_t icmp = dv_pkt_icmp(p, ptun);

	if (icmp & DV_PKT_ICMP_SEEN) {
		r->state |= DV_ST_ICMP;
		r->tcp_flags[0] = (uint8_t)(icmp >> 8);
		r->tcp_flags[1] = (uint8_t)icmp;
	}
}

/* A new flow for a packet with no live flow; returns its position. */
static uint32_t dv_flow_create(struct dv_flow_table *t, const struct dv_flow_key *k,
			       struct dv_flow_hash h, unsigned int side, const struct dv_pkt *p,
			       const struct dv_pkt_tun *ptun, struct dv_export_buf *out)
{
	struct dv_flow_rec *r;
	unsigned int init = side;
	uint64_t serial;
	uint32_t pos;

	if (t->count >= t->capacity) {
		t->stats.table_full++;
		dv_flow_make_room(t, out);
	}
	/* Released positions first (the last released), then the next never
	 * used one: flows created one after the other get neighbouring
	 * records, and a record's page is first written when a flow needs it. */
	if (t->fresh > t->count) {
		pos = t->free_head;
		t->free_head = t->links[pos].link[DV_LINK_SEEN].next;
	} else {
		pos = t->fresh++;
	}
	dv_flow_index_add(t, h, pos);
	r = &t->recs[pos];
	memset(r, 0, sizeof(*r));
	r->v4 = dv_flow_key_v4(k);
	r->tail = k->tail;
	if (k->tail.family != 4) /* a plain IPv4 key's are in v4 (dv_flow_rec_addrs) */
		memcpy(&t->addrs[pos], k->addr, sizeof(t->addrs[pos]));
	/* The receiver of a leading SYN+ACK is the client whose SYN we missed. */
	if (k->tail.proto == DV_IPPROTO_TCP &&
	    (p->tcp_flags & (DV_TCP_SYN | DV_TCP_ACK)) == (DV_TCP_SYN | DV_TCP_ACK))
		init ^= 1;
	r->state = DV_ST_LIVE | (init ? DV_ST_INIT1 : 0);
	dv_flow_keep_icmp(r, p, ptun);
	r->last_ns = p->ts_ns;
	serial = t->serial++;
	if (p->frag == DV_FRAG_LATER && p->sport == 0 && p->dport == 0)
		serial |= DV_SERIAL_NOPORTS;
	r->epoch = dv_flow_epoch(t, 0, pos);
	if (unlikely(ptun != NULL && (p->tun & DV_PKT_T_TUNNEL) && t->tun != NULL)) {
		dv_flow_keep_tun(&t->tun[pos], k, ptun);
		serial |= DV_SERIAL_TUN;
	}
	t->serials[pos] = serial;
	dv_list_push_tail(t, &t->lru, DV_LINK_SEEN, pos);
	t->count++;
	t->stats.created++;
	return pos;
}

/*
 * True when live flow r is open and no deadline of it has passed at now:
 * the check every packet makes, as two subtractions. It implies
 * dv_flow_due() == DV_END_MAX (now is the table clock, never behind a
 * flow's times; a timeout of "never" is UINT64_MAX, which no difference
 * reaches), so a packet for which it holds may skip dv_flow_revisit(). A
 * closed flow always takes dv_flow_revisit() (a SYN may start a new
 * connection).
 */
static inline int dv_flow_quiet(const struct dv_flow_table *t, const struct dv_flow_rec *r,
				uint64_t now)
{
	uint8_t st = r->state;

	return !(st & DV_ST_CLOSED) && now - r->last_ns < t->idle_ns &&
	       (!(st & DV_ST_ACT) || now - r->first_ns < t->active_ns);
}

/*
 * The rare cases of a packet for a live flow: a deadline has passed, or the
 * flow is closed (a SYN then starts a new connection on the same ports).
 * Exports what is due; returns i if the flow lives on, DV_FLOW_NIL if it
 * ended and the packet needs a new one.
 */
static uint32_t dv_flow_revisit(struct dv_flow_table *t, uint32_t i, const struct dv_pkt *p,
				struct dv_export_buf *out)
{
	struct dv_flow_rec *r = &t->recs[i];

	if (!dv_flow_advance(t, i, t->now_ns, out))
		return DV_FLOW_NIL;
	if ((r->state & DV_ST_CLOSED) && (p->tcp_flags & (DV_TCP_SYN | DV_TCP_ACK)) == DV_TCP_SYN) {
		dv_flow_emit(t, r, DV_END_TCP_CLOSE, out);
		dv_flow_remove(t, i);
		return DV_FLOW_NIL;
	}
	return i;
}

/*
 * Account one packet whose key and hash are known; `cand` is the record the
 * signature pass picked for it (or NIL), which earlier packets of the burst
 * may since have freed or reused.
 */
static __rte_always_inline void
dv_flow_account(struct dv_flow_table *t, const struct dv_pkt *p, const struct dv_pkt_tun *tun,
		const struct dv_pkt_ctx *ctx, uint32_t x, const struct dv_flow_key *k, uint64_t v4,
		struct dv_flow_hash h, unsigned int side, uint32_t cand, struct dv_export_buf *out)
{
	uint32_t i = cand;

	if (p->ts_ns > t->now_ns)
		t->now_ns = p->ts_ns;
	if (unlikely(i == DV_FLOW_NIL || !dv_flow_rec_is(t, &t->recs[i], k, v4)))
		i = dv_flow_lookup(t, k, h);
	if (likely(i != DV_FLOW_NIL) && likely(dv_flow_quiet(t, &t->recs[i], t->now_ns))) {
		dv_flow_apply_as(t, i, side, p, 0, out); /* the common case: open, quiet */
	} else {
		if (i != DV_FLOW_NIL)
			i = dv_flow_revisit(t, i, p, out);
		if (i == DV_FLOW_NIL)
			i = dv_flow_create(t, k, h, side, p, tun ? &tun[x] : NULL, out);
		dv_flow_apply(t, i, side, p, out);
	}
	/* (ctx is NULL in the plain build: no test there.) */
	if (ctx != NULL && unlikely(p->tun & DV_PKT_T_CTX))
		dv_flow_keep_ctx(t, i, &ctx[x]);
}

/* Later fragments get their ports from the first one before the key is made. */
static inline void dv_flow_frag(struct dv_flow_table *t, struct dv_pkt *p)
{
	if (likely(p->frag == DV_FRAG_NONE))
		return;
	if (p->frag == DV_FRAG_FIRST) {
		dv_frag_remember(t->frag, p);
		t->stats.frag_first++;
	} else if (dv_frag_fill(t->frag, p)) {
		t->stats.frag_hit++;
	} else {
		t->stats.frag_miss++;
	}
}

/* Stage 1's end for a key with a VNI (dv_flow_key_add_vni), out of the
 * packet path's code. */
static __rte_noinline __rte_cold void dv_stage_hash_vni(struct dv_flow_table *t,
							const struct dv_pkt *p,
							struct dv_flow_key *k, uint64_t *v4,
							struct dv_flow_hash *h)
{
	uint64_t w[5];

	memcpy(w, k, sizeof(w));
	dv_flow_key_add_vni(p, k, w);
	*v4 = 0;
	*h = dv_flow_hash_words_vni(t, w, k->vni);
	rte_prefetch0(&t->buckets[h->bucket]);
}

/* Pipeline stage 1 for packet i: key, side, v4 word, hash; prefetch the
 * bucket. */
static __rte_always_inline void dv_stage_hash(struct dv_flow_table *t, struct dv_pkt *p,
					      struct dv_flow_key *k, uint64_t *v4,
					      struct dv_flow_hash *h, uint8_t *side,
					      const int tunnels)
{
	uint64_t w[5];
	uint8_t family;

	dv_flow_frag(t, p);
	family = p->family;
	*side = (uint8_t)(likely(family == 4) ? dv_flow_key_make_v4(p, k, w)
					      : dv_flow_key_make(p, k, w));
	if (tunnels && unlikely(p->tun & t->vni_mask)) {
		dv_stage_hash_vni(t, p, k, v4, h);
		return;
	}
	*v4 = dv_flow_words_v4(w, family);
	*h = dv_flow_hash_words(t, w, family);
	rte_prefetch0(&t->buckets[h->bucket]);
}

/* Stage 2: match signatures (following overflow, so that a flow placed
 * past its full home bucket has its record prefetched too); prefetch the
 * first candidate's record, and its addresses for an IPv6 key. */
static __rte_always_inline uint32_t dv_stage_match(const struct dv_flow_table *t,
						   const struct dv_flow_key *k,
						   struct dv_flow_hash h)
{
	uint32_t b = h.bucket, cand;
	uint32_t m = dv_index_seek(t, h, &b, dv_bucket_match(&t->buckets[b], h.sig));

	if (m == 0)
		return DV_FLOW_NIL;
	cand = dv_bucket_pos(&t->buckets[b], (uint32_t)__builtin_ctz(m));
	rte_prefetch0(&t->recs[cand]);
	if (k->tail.family != 4)
		rte_prefetch0(&t->addrs[cand]);
	return cand;
}

/*
 * One chunk as a three-stage software pipeline, so that the cache misses of
 * its packets overlap: stage 1 makes packet i's key and hash and prefetches
 * its bucket; stage 2, DV_FLOW_AHEAD_BUCKET packets later, matches
 * signatures and prefetches the candidate record; stage 3, another
 * DV_FLOW_AHEAD_RECORD later, accounts the packet. Packets are accounted in
 * order. The distances keep a bounded number of misses in flight: issuing a
 * whole burst's prefetches at once overflows the core's miss buffers, and
 * prefetches then stall. Chunks of at least DV_FLOW_AHEAD packets run the
 * stages in straight loops (fill, steady state, drain) without per-packet
 * tests of which stages apply.
 */
#define DV_FLOW_AHEAD (DV_FLOW_AHEAD_BUCKET + DV_FLOW_AHEAD_RECORD)

static __rte_always_inline void dv_flow_update_chunk(struct dv_flow_table *t, struct dv_pkt *pkts,
						     const struct dv_pkt_tun *tun,
						     const struct dv_pkt_ctx *ctx, uint32_t n,
						     struct dv_export_buf *out, const int tunnels)
{
	struct dv_flow_key keys[DV_FLOW_BURST];
	uint64_t v4[DV_FLOW_BURST];
	struct dv_flow_hash h[DV_FLOW_BURST];
	uint32_t cand[DV_FLOW_BURST];
	uint8_t side[DV_FLOW_BURST];
	uint32_t i;

#define S1(x) dv_stage_hash(t, &pkts[x], &keys[x], &v4[x], &h[x], &side[x], tunnels)
#define S2(x)                                                                                      \
	do {                                                                                       \
		cand[x] = dv_stage_match(t, &keys[x], h[x]);                                       \
		if (tunnels && ctx != NULL)                                                        \
			dv_ctx_prefetch(t, &pkts[x], cand[x]);                                     \
	} while (0)
#define S3(x)                                                                                      \
	dv_flow_account(t, &pkts[x], tunnels ? tun : NULL, tunnels ? ctx : NULL, x, &keys[x],      \
			v4[x], h[x], side[x], cand[x], out)
	if (n < DV_FLOW_AHEAD) {
		for (i = 0; i < n; i++)
			S1(i);
		for (i = 0; i < n; i++)
			S2(i);
		for (i = 0; i < n; i++)
			S3(i);
		return;
	}
	for (i = 0; i < DV_FLOW_AHEAD_BUCKET; i++)
		S1(i);
	for (; i < DV_FLOW_AHEAD; i++) {
		S1(i);
		S2(i - DV_FLOW_AHEAD_BUCKET);
	}
	for (; i < n; i++) {
		S1(i);
		S2(i - DV_FLOW_AHEAD_BUCKET);
		S3(i - DV_FLOW_AHEAD);
	}
	for (; i < n + DV_FLOW_AHEAD_BUCKET; i++) {
		S2(i - DV_FLOW_AHEAD_BUCKET);
		S3(i - DV_FLOW_AHEAD);
	}
	for (; i < n + DV_FLOW_AHEAD; i++)
		S3(i - DV_FLOW_AHEAD);
#undef S1
#undef S2
#undef S3
}

/*
 * The chunk's two builds: for a burst without tunnelled packets or flow
 * context (the one plain traffic takes, with no test for a VNI, a tunnel
 * side or a context), and for one with some.
 */
static __rte_noinline void dv_flow_update_plain(struct dv_flow_table *t, struct dv_pkt *pkts,
						uint32_t n, struct dv_export_buf *out)
{
	dv_flow_update_chunk(t, pkts, NULL, NULL, n, out, 0);
}

static __rte_noinline void dv_flow_update_tunnels(struct dv_flow_table *t, struct dv_pkt *pkts,
						  const struct dv_pkt_tun *tun,
						  const struct dv_pkt_ctx *ctx, uint32_t n,
						  struct dv_export_buf *out)
{
	dv_flow_update_chunk(t, pkts, tun, ctx, n, out, 1);
}

void dv_flow_table_update_burst_ctx(struct dv_flow_table *t, struct dv_pkt *pkts,
				    const struct dv_pkt_tun *tun, const struct dv_pkt_ctx *ctx,
				    uint32_t n, struct dv_export_buf *out)
{
	for (uint32_t done = 0; done < n;) {
		uint32_t m = RTE_MIN(n - done, (uint32_t)DV_FLOW_BURST);

		if (tun == NULL && ctx == NULL)
			dv_flow_update_plain(t, pkts + done, m, out);
		else
			dv_flow_update_tunnels(t, pkts + done, tun ? tun + done : NULL,
					       ctx ? ctx + done : NULL, m, out);
		done += m;
	}
}

void dv_flow_table_update_burst(struct dv_flow_table *t, struct dv_pkt *pkts,
				const struct dv_pkt_tun *tun, uint32_t n, struct dv_export_buf *out)
{
	dv_flow_table_update_burst_ctx(t, pkts, tun, NULL, n, out);
}

/* ---- expiry and flush ---- */

/*
 * The head i of a seen list is about to leave: fetch what the flows behind
 * it will touch when they leave in turn, so that their cache misses overlap
 * with i's work instead of following it. The next flow j (its record was
 * fetched one head ago): its index bucket, its neighbours on the act list,
 * which its removal writes, and its addresses if it has them apart; the
 * flow after j: its record, links and serial.
 */
static __rte_always_inline void dv_expire_prefetch(const struct dv_flow_table *t, uint32_t i)
{
	uint32_t j = t->links[i].link[DV_LINK_SEEN].next, k;
	const struct dv_link *act;

	if (j == DV_FLOW_NIL)
		return;
	k = t->links[j].link[DV_LINK_SEEN].next;
	if (k != DV_FLOW_NIL) {
		rte_prefetch0(&t->recs[k]);
		rte_prefetch0(&t->links[k]);
		rte_prefetch0(&t->serials[k]);
	}
	if (t->recs[j].tail.family != 4)
		rte_prefetch0(&t->addrs[j]);
	/* Its context's index entry, read when its row is emitted: a cache
	 * miss on most of them otherwise, the flow having been idle for a
	 * timeout (flows-heavy.pcap: dv_ctx_slot 3.6 % of its samples). */
	if (t->serials[j] & DV_SERIAL_CTX)
		rte_prefetch0(&t->ctx_ix[dv_ctx_home(t, j)]);
	if (t->ending)
		return;
	rte_prefetch0(&t->buckets[dv_flow_rec_hash(t, j).bucket]);
	if (!dv_seg_empty(&t->recs[j])) {
		act = &t->links[j].link[DV_LINK_ACT];
		if (act->prev != DV_FLOW_NIL)
			rte_prefetch0(&t->links[act->prev]);
		if (act->next != DV_FLOW_NIL)
			rte_prefetch0(&t->links[act->next]);
	}
}

/* Pop heads of one list while their deadline has passed. */
static uint32_t dv_flow_expire_list(struct dv_flow_table *t, struct dv_flow_list *l, uint64_t now,
				    uint32_t limit, struct dv_export_buf *out)
{
	uint32_t k = 0; /* records: a record may take more elements (its context) */

	while (k < limit && l->head != DV_FLOW_NIL) {
		uint32_t i = l->head, before = out->n;

		if (dv_flow_due(t, &t->recs[i], now) == DV_END_MAX)
			break;
		dv_expire_prefetch(t, i);
		dv_flow_advance(t, i, now, out);
		k += out->n != before;
	}
	return k;
}

uint32_t dv_flow_table_expire(struct dv_flow_table *t, uint64_t now_ns, uint32_t budget,
			      struct dv_export_buf *out)
{
	uint32_t limit = RTE_MIN(budget, dv_export_buf_room(out)), n = 0;

	n += dv_flow_expire_list(t, &t->closed, now_ns, limit - n, out);
	n += dv_flow_expire_list(t, &t->lru, now_ns, limit - n, out);
	n += dv_flow_expire_list(t, &t->act, now_ns, limit - n, out);
	return n;
}

void dv_flow_table_ending(struct dv_flow_table *t)
{
	t->ending = 1;
}

uint32_t dv_flow_table_flush(struct dv_flow_table *t, enum dv_end_reason reason,
			     struct dv_export_buf *out)
{
	uint32_t k = 0;

	while (dv_export_buf_room(out) > 0) {
		uint32_t i = t->lru.head != DV_FLOW_NIL ? t->lru.head : t->closed.head,
			 before = out->n;

		if (i == DV_FLOW_NIL)
			break;
		dv_expire_prefetch(t, i);
		/* A deadline that passed before the end wins over the end. */
		if (dv_flow_due(t, &t->recs[i], t->now_ns) != DV_END_MAX) {
			dv_flow_advance(t, i, t->now_ns, out);
		} else {
			dv_flow_emit(t, &t->recs[i], reason, out);
			dv_flow_remove(t, i);
		}
		k += out->n != before;
	}
	return k;
}

/* ---- life cycle ---- */

/* log2 of the largest power of two <= timeout / div (a coarse-LRU slot). An
 * 8-bit slot number wraps after 256 slots, far beyond the timeout, by when
 * the flow has expired. */
static uint8_t dv_flow_slot_shift(uint64_t timeout, uint32_t div)
{
	uint64_t slot = timeout == DV_FLOW_NEVER ? (1ULL << 40) : timeout / div;
	uint8_t shift = 0;

	while (shift < 62 && (2ULL << shift) <= slot)
		shift++;
	return shift;
}

/* Buckets for a capacity: one per DV_BUCKET_FLOWS flows, 12 entries each,
 * so a full table fills 2/3 of them. A full million-flow table had 1.8 %
 * of its flows outside their home bucket (bench_engine); the 10-entry
 * buckets of 16-bit signatures before, at half load, 0.5 %, for 4.8 more
 * bytes per flow. */
static uint32_t dv_flow_n_buckets(uint32_t capacity)
{
	return (capacity + DV_BUCKET_FLOWS - 1) / DV_BUCKET_FLOWS;
}

/* Zeroed memory for one of the table's arrays. Live (not lazy): DPDK memory,
 * every page touched: DPDK may hand out fresh memory unwritten (it knows it
 * is zero), and without hugepages (--no-huge) the kernel would then fault
 * pages in, and zero them, on the packet path. Lazy (--read): an anonymous
 * mapping, zero pages until a flow writes one, so start-up costs the same
 * for any capacity. `huge`: transparent huge pages, where the system offers
 * them, take one fault per 2 MB instead of one per 4 KB, for an array that
 * flows touch everywhere (the index: a few thousand flows touch every 4 KB
 * page; --read of 10K flows into the default table 0.13 s -> 0.09 s) or
 * from its start on (the records and the context slots, handed out densely:
 * at most 2 MB more resident each; flows-heavy.pcap, 1.05M flows, had 4 KB
 * faults in 3 % of its samples on the worker). Not for the tunnel entries,
 * which only tunnelled flows touch, wherever their records are. huge < 0:
 * 4 KB pages even where the system gives every mapping huge pages
 * ("always"), until dv_flow_prefault_index() says otherwise. */
static void *dv_flow_alloc(const struct dv_flow_table *t, const char *what, size_t bytes,
			   int socket_id, int huge)
{
	void *p;

	if (t->lazy) {
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		if (huge != 0) /* advice: fine without */
			(void)madvise(p, bytes, huge > 0 ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
		return p;
	}
	p = rte_malloc_socket(what, bytes, RTE_CACHE_LINE_SIZE, socket_id);
	if (p != NULL)
		memset(p, 0, bytes);
	return p;
}

static void dv_flow_release(const struct dv_flow_table *t, void *p, size_t bytes)
{
	if (!t->lazy)
		rte_free(p);
	else if (p != NULL)
		munmap(p, bytes);
}

/* Pool p of n slots, all free (p->free NULL without memory for it). */
static void dv_pool_alloc(const struct dv_flow_table *t, struct dv_slot_pool *p, uint32_t n,
			  int socket_id)
{
	p->size = n;
	p->free = dv_flow_alloc(t, "dv_flow_slot_pool", (size_t)n * sizeof(*p->free), socket_id, 0);
}

/* The flow-context store of at least n slots (t->ctx_slots and what goes
 * with it): 0, or -1 when some part of it could not be had. */
static int dv_flow_alloc_ctx(struct dv_flow_table *t, uint32_t n, int socket_id)
{
	uint32_t n_long;

	t->ctx_slots = (uint32_t)rte_align32pow2(RTE_MAX(n, (uint32_t)DV_CTX_PROBE));
	n_long = dv_ctx_long_slots(t->ctx_slots);
	t->ctx_ix = dv_flow_alloc(t, "dv_flow_ctx_index", (size_t)t->ctx_slots * sizeof(*t->ctx_ix),
				  socket_id, 1);
	t->ctx =
	    dv_flow_alloc(t, "dv_flow_ctx", (size_t)t->ctx_slots * sizeof(*t->ctx), socket_id, 1);
	t->ctx_long = dv_flow_alloc(t, "dv_flow_ctx_long", (size_t)n_long * sizeof(*t->ctx_long),
				    socket_id, 0);
	dv_pool_alloc(t, &t->ctx_pool, t->ctx_slots, socket_id);
	dv_pool_alloc(t, &t->ctx_long_pool, n_long, socket_id);
	return t->ctx == NULL || t->ctx_ix == NULL || t->ctx_long == NULL ||
		       t->ctx_pool.free == NULL || t->ctx_long_pool.free == NULL
		   ? -1
		   : 0;
}

struct dv_flow_table *dv_flow_table_create(const struct dv_flow_config *cfg, char *err,
					   size_t errlen)
{
	struct dv_flow_table *t;
	size_t rec_bytes, index_bytes;
	struct dv_rand rand;

	if (cfg == NULL || cfg->name == NULL || cfg->name[0] == '\0') {
		snprintf(err, errlen, "flow table: a name is required");
		return NULL;
	}
	if (cfg->capacity == 0 || cfg->capacity > DV_FLOW_MAX_CAPACITY) {
		snprintf(err, errlen, "flow table %s: capacity %u is out of range (1..%u)",
			 cfg->name, cfg->capacity, DV_FLOW_MAX_CAPACITY);
		return NULL;
	}

	t = rte_zmalloc_socket("dv_flow_table", sizeof(*t), RTE_CACHE_LINE_SIZE, cfg->socket_id);
	if (t == NULL) {
		snprintf(err, errlen, "flow table %s: out of DPDK memory", cfg->name);
		return NULL;
	}
	t->n_buckets = dv_flow_n_buckets(cfg->capacity);
	t->capacity = cfg->capacity;
	t->lazy = cfg->lazy_memory != 0;
	rec_bytes = (size_t)cfg->capacity * sizeof(*t->recs);
	index_bytes = (size_t)t->n_buckets * sizeof(*t->buckets);
	/* Zeroed: every signature 0 (free), every overflow count 0. */
	t->recs = dv_flow_alloc(t, "dv_flow_recs", rec_bytes, cfg->socket_id, 1);
	/* The first flows' buckets are spread over all of the index. Up to
	 * DV_INDEX_HUGE_BYTES (the default table's), huge pages from the start
	 * cost little more than the 4 KB pages the flows would take. A larger
	 * index starts on 4 KB pages, so that the first flows do not touch all
	 * of it (32 MB at 4M flows), and dv_flow_table_prefault() gathers it
	 * into huge pages once the flows are many. */
	t->buckets = dv_flow_alloc(t, "dv_flow_index", index_bytes, cfg->socket_id,
				   dv_index_small(t) ? 1 : -1);
	t->addrs = dv_flow_alloc(t, "dv_flow_addrs", (size_t)cfg->capacity * sizeof(*t->addrs),
				 cfg->socket_id, 1);
	t->links = dv_flow_alloc(t, "dv_flow_links", (size_t)cfg->capacity * sizeof(*t->links),
				 cfg->socket_id, 1);
	t->serials = dv_flow_alloc(t, "dv_flow_serials",
				   (size_t)cfg->capacity * sizeof(*t->serials), cfg->socket_id, 1);
	if (cfg->tunnels)
		t->tun = dv_flow_alloc(t, "dv_flow_tun", (size_t)cfg->capacity * sizeof(*t->tun),
				       cfg->socket_id, 0);
	if ((cfg->ctx_slots > 0 && dv_flow_alloc_ctx(t, cfg->ctx_slots, cfg->socket_id) < 0) ||
	    t->recs == NULL || t->buckets == NULL || t->addrs == NULL || t->links == NULL ||
	    t->serials == NULL || (cfg->tunnels && t->tun == NULL)) {
		snprintf(err, errlen, "flow table %s: out of DPDK memory for %u flows (%zu MB)",
			 cfg->name, cfg->capacity,
			 ((size_t)cfg->capacity * dv_flow_bytes_per_flow(cfg->tunnels)) >> 20);
		goto fail;
	}
	dv_rand_seed(&rand, cfg->seed[0], cfg->seed[1]);
	t->id_key[0] = dv_rand_next(&rand);
	t->id_key[1] = dv_rand_next(&rand);
	for (size_t i = 0; i < RTE_DIM(t->hash_key.k); i++)
		t->hash_key.k[i] = dv_rand_next(&rand);
	t->frag =
	    dv_frag_cache_create(cfg->frag_capacity, &t->hash_key, cfg->socket_id, err, errlen);
	if (t->frag == NULL)
		goto fail;

	t->idle_ns = cfg->idle_timeout_ns ? cfg->idle_timeout_ns : DV_FLOW_NEVER;
	t->active_ns = cfg->active_timeout_ns ? cfg->active_timeout_ns : DV_FLOW_NEVER;
	t->close_ns = cfg->tcp_close_timeout_ns ? cfg->tcp_close_timeout_ns : DV_FLOW_NEVER;
	t->lru.head = t->lru.tail = DV_FLOW_NIL;
	t->closed.head = t->closed.tail = DV_FLOW_NIL;
	t->act.head = t->act.tail = DV_FLOW_NIL;
	t->free_head = DV_FLOW_NIL;
	t->worker = cfg->worker;
	t->vni_mask = cfg->tunnels ? DV_PKT_T_VNI : 0;
	if (cfg->lru_slack_div > 0) {
		t->coarse = 1;
		t->lru_shift = dv_flow_slot_shift(t->idle_ns, cfg->lru_slack_div);
		t->closed_shift = dv_flow_slot_shift(t->close_ns, cfg->lru_slack_div);
	}
	return t;
fail:
	dv_flow_table_free(t);
	return NULL;
}

void dv_flow_table_free(struct dv_flow_table *t)
{
	if (t == NULL)
		return;
	dv_frag_cache_free(t->frag);
	dv_flow_release(t, t->ctx_ix, (size_t)t->ctx_slots * sizeof(*t->ctx_ix));
	dv_flow_release(t, t->ctx_pool.free, (size_t)t->ctx_pool.size * sizeof(uint32_t));
	dv_flow_release(t, t->ctx, (size_t)t->ctx_slots * sizeof(*t->ctx));
	dv_flow_release(t, t->ctx_long, (size_t)t->ctx_long_pool.size * sizeof(*t->ctx_long));
	dv_flow_release(t, t->ctx_long_pool.free, (size_t)t->ctx_long_pool.size * sizeof(uint32_t));
	dv_flow_release(t, t->serials, (size_t)t->capacity * sizeof(*t->serials));
	dv_flow_release(t, t->links, (size_t)t->capacity * sizeof(*t->links));
	dv_flow_release(t, t->addrs, (size_t)t->capacity * sizeof(*t->addrs));
	dv_flow_release(t, t->tun, (size_t)t->capacity * sizeof(*t->tun));
	dv_flow_release(t, t->buckets, (size_t)t->n_buckets * sizeof(*t->buckets));
	dv_flow_release(t, t->recs, (size_t)t->capacity * sizeof(*t->recs));
	rte_free(t);
}

uint32_t dv_flow_table_count(const struct dv_flow_table *t)
{
	return t->count;
}

void dv_flow_table_advance(struct dv_flow_table *t, uint64_t now_ns)
{
	if (now_ns > t->now_ns)
		t->now_ns = now_ns;
}

uint64_t dv_flow_table_now(const struct dv_flow_table *t)
{
	return t->now_ns;
}

const struct dv_flow_stats *dv_flow_table_stats(const struct dv_flow_table *t)
{
	return &t->stats;
}

int dv_flow_table_verify(const struct dv_flow_table *t, uint32_t *displaced, char *err,
			 size_t errlen)
{
	uint32_t *want = calloc(t->n_buckets, sizeof(*want));
	uint8_t *seen = calloc(t->capacity, 1);
	uint32_t live = 0, moved = 0, entries = 0;
	int rc = -1;

	if (want == NULL || seen == NULL) {
		snprintf(err, errlen, "verify: out of memory");
		goto out;
	}
	if (t->ending) {
		snprintf(err, errlen, "verify: the table is ending (its index is stale)");
		goto out;
	}
	for (uint32_t b = 0; b < t->n_buckets; b++) {
		const struct dv_flow_bucket *bk = &t->buckets[b];

		for (uint32_t e = 0; e < DV_BUCKET_ENTRIES; e++) {
			uint32_t i = dv_bucket_pos(bk, e), sig = bk->sig[e] & DV_SIG_MASK;
			struct dv_flow_key key;
			struct dv_flow_hash h;

			if (sig == 0)
				continue;
			if (i >= t->capacity || seen[i] || !(t->recs[i].state & DV_ST_LIVE)) {
				snprintf(err, errlen,
					 "bucket %u entry %u: position %u is out of range, "
					 "indexed twice or not a live flow",
					 b, e, i);
				goto out;
			}
			seen[i] = 1;
			entries++;
			dv_flow_rec_key(t, i, &key);
			if (t->recs[i].v4 != dv_flow_key_v4(&key)) {
				snprintf(
				    err, errlen,
				    "position %u: its record and addresses hold different keys", i);
				goto out;
			}
			h = dv_flow_hash(t, &key);
			if (h.sig != sig) {
				snprintf(err, errlen, "bucket %u entry %u: signature %u, key's %u",
					 b, e, sig, h.sig);
				goto out;
			}
			if (dv_flow_lookup(t, &key, h) != i) {
				snprintf(err, errlen, "position %u: lookup of its key fails", i);
				goto out;
			}
			moved += h.bucket != b;
			for (uint32_t k = h.bucket; k != b; k = dv_bucket_next(t, k))
				want[k]++;
		}
	}
	for (uint32_t i = 0; i < t->capacity; i++)
		live += (t->recs[i].state & DV_ST_LIVE) != 0 && i < t->fresh;
	if (live != t->count || entries != t->count) {
		snprintf(err, errlen, "%u live records, %u index entries, count %u", live, entries,
			 t->count);
		goto out;
	}
	for (uint32_t f = 0, i = t->free_head; f < t->fresh - t->count + 1; f++) {
		if (f == t->fresh - t->count) {
			if (i != DV_FLOW_NIL) {
				snprintf(err, errlen, "the free list is longer than %u",
					 t->fresh - t->count);
				goto out;
			}
			break;
		}
		if (i >= t->fresh || seen[i]) {
			snprintf(err, errlen,
				 "free position %u is out of range, live or free twice", i);
			goto out;
		}
		seen[i] = 1;
		i = t->links[i].link[DV_LINK_SEEN].next;
	}
	for (uint32_t b = 0; b < t->n_buckets; b++) {
		if (t->buckets[b].overflow != want[b]) {
			snprintf(err, errlen, "bucket %u: overflow %u, flows past it %u", b,
				 t->buckets[b].overflow, want[b]);
			goto out;
		}
	}
	if (displaced != NULL)
		*displaced = moved;
	rc = 0;
out:
	free(want);
	free(seen);
	return rc;
}

/* Map in [*done, want) of a lazy array, at most DV_PREFAULT_STEP bytes of
 * it: 1 if it mapped something. A kernel that cannot (before Linux 5.14, or
 * out of memory) turns prefaulting off: the worker faults the pages in. */
static int dv_flow_prefault_array(struct dv_flow_table *t, void *base, size_t *done, size_t want)
{
	size_t to = RTE_ALIGN_CEIL(RTE_MIN(want, *done + DV_PREFAULT_STEP), (size_t)4096);

	if (base == NULL || *done >= to)
		return 0;
	if (madvise((char *)base + *done, to - *done, MADV_POPULATE_WRITE) != 0) {
		t->pf.off = errno != EINTR;
		return 0;
	}
	*done = to;
	return 1;
}

/* The index mapped in a step further. One that started on 4 KB pages (not
 * dv_index_small): its next 2 MB (to the next 2 MB boundary of the address space)
 * made one huge page: the kernel gathers the 4 KB pages the flows touched
 * into it and zeroes the rest (a worker touching the range meanwhile waits
 * for it). MADV_COLLAPSE needs a page in the range to start from. Where it
 * fails (a kernel before 6.1, or one that cannot now), the range is mapped
 * in on 4 KB pages instead. 1 if it did something. */
static int dv_flow_prefault_index(struct dv_flow_table *t)
{
	uintptr_t base = (uintptr_t)t->buckets;
	size_t bytes = (size_t)t->n_buckets * sizeof(*t->buckets), done = t->pf.index, to;
	char *p = (char *)t->buckets + done;

	if (dv_index_small(t))
		return dv_flow_prefault_array(t, t->buckets, &t->pf.index, bytes);
	if (done >= bytes)
		return 0;
	if (done == 0) /* allowed again (MADV_COLLAPSE refuses MADV_NOHUGEPAGE) */
		(void)madvise(t->buckets, bytes, MADV_HUGEPAGE);
	to = RTE_MIN(RTE_ALIGN_FLOOR(base + done + DV_HUGE_PAGE, DV_HUGE_PAGE) - base, bytes);
	if (madvise(p, 1, MADV_POPULATE_WRITE) == 0 && madvise(p, to - done, MADV_COLLAPSE) == 0)
		goto next;
	if (errno == EAGAIN && ++t->pf.index_tries < DV_COLLAPSE_TRIES)
		return 1; /* pages in use (the worker's, just faulted in): later */
	if (madvise(p, to - done, MADV_POPULATE_WRITE) != 0) {
		t->pf.off = errno != EINTR;
		return 0;
	}
next:
	t->pf.index = to;
	t->pf.index_tries = 0;
	return 1;
}

int dv_flow_table_prefault(struct dv_flow_table *t)
{
	size_t ctx;
	uint32_t fresh, ahead;

	/* Racy reads of the worker's counters: a stale value maps less. */
	fresh = __atomic_load_n(&t->fresh, __ATOMIC_RELAXED);
	if (!t->lazy || t->pf.off)
		return 0;
	if (fresh < DV_PREFAULT_AFTER)
		return !dv_index_small(t) && fresh >= DV_PREFAULT_INDEX_AFTER &&
		       dv_flow_prefault_index(t);
	ahead = (uint32_t)RTE_MIN((uint64_t)fresh + DV_PREFAULT_FLOWS, (uint64_t)t->capacity);
	ctx = (size_t)__atomic_load_n(&t->ctx_pool.never, __ATOMIC_RELAXED) * sizeof(*t->ctx);
	ctx = RTE_MIN(ctx + DV_PREFAULT_AHEAD, (size_t)t->ctx_slots * sizeof(*t->ctx));
	return dv_flow_prefault_index(t) ||
	       dv_flow_prefault_array(t, t->recs, &t->pf.recs, (size_t)ahead * sizeof(*t->recs)) ||
	       dv_flow_prefault_array(t, t->links, &t->pf.links,
				      (size_t)ahead * sizeof(*t->links)) ||
	       dv_flow_prefault_array(t, t->serials, &t->pf.serials,
				      (size_t)ahead * sizeof(*t->serials)) ||
	       dv_flow_prefault_array(t, t->ctx_ix, &t->pf.ctx_index,
				      (size_t)t->ctx_slots * sizeof(*t->ctx_ix)) ||
	       dv_flow_prefault_array(t, t->ctx, &t->pf.ctx, ctx);
}

size_t dv_flow_bytes_per_flow(int tunnels)
{
	/*
	 * The record, its addresses, links and serial, its tunnel entry with
	 * tunnels on and its share of the index (a 64-byte bucket per
	 * DV_BUCKET_FLOWS flows: 8 bytes): 128 bytes, 176 with tunnels. The
	 * free positions are linked through their links: nothing more.
	 * Checked against the DPDK heap in tests/bench/bench_engine.c.
	 */
	return sizeof(struct dv_flow_rec) + sizeof(struct dv_flow_addr) +
	       sizeof(struct dv_flow_links) + sizeof(uint64_t) +
	       (tunnels ? sizeof(struct dv_flow_tun) : 0) +
	       sizeof(struct dv_flow_bucket) / DV_BUCKET_FLOWS;
}

size_t dv_flow_ctx_bytes(uint32_t ctx_slots)
{
	uint32_t n = ctx_slots ? rte_align32pow2(RTE_MAX(ctx_slots, (uint32_t)DV_CTX_PROBE)) : 0;

	return (size_t)n * (sizeof(struct dv_flow_ctx_slot) + sizeof(struct dv_flow_ctx_ent) +
			    sizeof(uint32_t)) +
	       (n ? (size_t)dv_ctx_long_slots(n) *
			(sizeof(struct dv_flow_ctx_long) + sizeof(uint32_t))
		  : 0);
}
